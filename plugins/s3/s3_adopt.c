/* s3_adopt.c: what an existing estate already holds: the replication rule by its destination, the role it names, and that role's effective permissions. */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3.h"

#define MAX_POLICIES 40 /* IAM: 10 managed policies per role (20 on request); inline ones only by size */
#define MAX_PAGES 10

/* ---- the rule and the role of an existing configuration ---- */

const dr_node *s3_find_rule_by_destination(const dr_node *root, const char *partition, const char *dst)
{
    char want[320];
    const dr_node *any = NULL;

    snprintf(want, sizeof(want), "arn:%s:s3:::%s", partition, dst);
    for (const dr_node *r = dr_node_get(root, "Rule"); r; r = dr_node_next_named(r)) {
        if (!s3_streq(dr_node_str(r, "Destination.Bucket"), want) || !dr_node_str(r, "ID"))
            continue;
        if (s3_streq(dr_node_str(r, "Status"), "Enabled"))
            return r;
        if (!any)
            any = r;
    }
    return any;
}

void s3_adopt_existing(s3ctx *x, const dr_node *root)
{
    const dr_node *rule;
    const char *role = dr_node_str(root, "Role");

    if (!root)
        return;
    if (strcmp(x->rule_id, S3_DEFAULT_RULE_ID) == 0 && !s3_find_rule(root, x->rule_id) &&
        (rule = s3_find_rule_by_destination(root, x->partition, x->dr_bucket)) != NULL) {
        snprintf(x->adopted_rule, sizeof(x->adopted_rule), "%s", dr_node_str(rule, "ID"));
        x->rule_id = x->adopted_rule;
        snprintf(x->reverse_rule_id, sizeof(x->reverse_rule_id), "%s-reverse", x->rule_id);
        H->log(x->res, DR_LOG_INFO, "s3://%s: replication rule %s (to s3://%s) is this resource's rule", x->bucket,
               x->rule_id, x->dr_bucket);
    }
    if (!H->cfg_has(x->res, "replication_role") && role && *role && !s3_role_matches(x->role, role) &&
        (s3_find_rule(root, x->rule_id) != NULL)) {
        int same_reverse = x->reverse_role == x->role;
        snprintf(x->adopted_role, sizeof(x->adopted_role), "%s", role);
        x->role = x->adopted_role; /* an ARN: used as it is, its policies not rewritten */
        if (same_reverse)
            x->reverse_role = x->role;
        H->log(x->res, DR_LOG_INFO, "s3://%s: replication role %s is this resource's role", x->bucket, role);
    }
}

void s3_report_adopted(s3ctx *x)
{
    if (x->adopted_rule[0])
        dr_report_state(H, x->res, "config:rule_id", DR_STATUS_OK, x->adopted_rule, x->adopted_rule,
                        "rule_id is not set in the config: the rule of s3://%s that replicates to s3://%s, found in "
                        "the estate", x->bucket, x->dr_bucket);
    if (x->adopted_role[0])
        dr_report_state(H, x->res, "config:replication_role", DR_STATUS_OK, x->adopted_role, x->adopted_role,
                        "replication_role is not set in the config: the role of the replication configuration of "
                        "s3://%s, found in the estate", x->bucket);
}

/* ---- effective permissions ---- */

/* The JSON value v (a string or an array of strings) has an item matching `want` as an IAM pattern. */
static int value_matches(const dr_node *v, const char *want, int casefold)
{
    const int arr = dr_node_kind_of(v) == DR_NODE_ARRAY;

    for (const dr_node *i = arr ? dr_node_first(v) : v; i; i = arr ? dr_node_next(i) : NULL) {
        const char *pat = dr_node_text(i);
        if (pat && fnmatch(pat, want, casefold ? FNM_CASEFOLD : 0) == 0)
            return 1;
    }
    return 0;
}

/*
 * Whether statement st applies to action on resource: Action/NotAction and
 * Resource/NotResource with IAM wildcards (* and ?; actions case-insensitive).
 */
static int stmt_applies(const dr_node *st, const char *action, const char *resource)
{
    const dr_node *a = dr_node_get(st, "Action"), *na = dr_node_get(st, "NotAction");
    const dr_node *r = dr_node_get(st, "Resource"), *nr = dr_node_get(st, "NotResource");
    int act, res;

    act = a ? value_matches(a, action, 1) : na ? !value_matches(na, action, 1) : 0;
    res = r ? value_matches(r, resource, 0) : nr ? !value_matches(nr, resource, 0) : 0;
    return act && res;
}

/* Adds the verdicts of one policy document: *allow when an Allow applies, *deny when a Deny does. */
static void eval_doc(const dr_node *doc, const char *action, const char *resource, int *allow, int *deny)
{
    const dr_node *st = dr_node_get(doc, "Statement");
    const int arr = dr_node_kind_of(st) == DR_NODE_ARRAY;

    for (const dr_node *s = arr ? dr_node_first(st) : st; s; s = arr ? dr_node_next(s) : NULL) {
        const char *eff = dr_node_str(s, "Effect");
        if (!stmt_applies(s, action, resource))
            continue;
        if (s3_streq(eff, "Deny"))
            *deny = 1;
        else if (s3_streq(eff, "Allow") && !dr_node_get(s, "Condition"))
            *allow = 1;
    }
}

typedef struct policy_set {
    dr_doc *docs[MAX_POLICIES];
    size_t n, n_inline, n_managed;
    dr_buf names; /* "inline A, managed B" for the report */
} policy_set;

static void set_free(policy_set *p)
{
    for (size_t i = 0; i < p->n; i++)
        dr_doc_free(p->docs[i]);
    dr_buf_free(&p->names);
}

/* Parses a (URL-encoded or plain) policy document into the set. */
static int set_add(policy_set *p, const char *kind, const char *name, const char *encoded, dr_error *err)
{
    char *text;
    int rc;

    if (p->n >= MAX_POLICIES)
        return dr_error_set(err, DR_EINVAL, "the role has more than %d policies", MAX_POLICIES);
    if (!(text = s3_policy_text(encoded ? encoded : "")))
        return dr_error_set(err, DR_ENOMEM, "out of memory");
    rc = dr_doc_parse_json(text, strlen(text), &p->docs[p->n], err);
    free(text);
    if (rc != 0) {
        dr_error_prefix(err, "%s policy %s: ", kind, name);
        return rc;
    }
    p->n++;
    dr_buf_printf(&p->names, "%s%s %s", p->names.len ? ", " : "", kind, name);
    return 0;
}

/* One page of a list call: the member names (under `path`) visited, the next marker into marker ("" at the end). */
static int list_page(s3ctx *x, const char *op, const char *role, char *marker, size_t mlen, dr_doc **doc,
                     dr_error *err)
{
    dr_buf form = DR_BUF_INIT;
    char path[96];
    int rc;

    dr_aws_form_add(&form, "RoleName", s3_role_name(role));
    if (*marker)
        dr_aws_form_add(&form, "Marker", marker);
    rc = s3_iam_call(x, op, &form, doc, err);
    dr_buf_free(&form);
    if (rc != 0)
        return rc;
    snprintf(path, sizeof(path), "%sResult.Marker", op);
    {
        const char *m = dr_node_str(dr_doc_root(*doc), path);
        snprintf(path, sizeof(path), "%sResult.IsTruncated", op);
        snprintf(marker, mlen, "%s", m && dr_node_bool(dr_doc_root(*doc), path, 0) ? m : "");
    }
    return 0;
}

static int add_inline(s3ctx *x, const char *role, policy_set *p, dr_error *err)
{
    char marker[1024] = "";
    int rc = 0;

    for (int page = 0; page < MAX_PAGES && rc == 0; page++) {
        dr_doc *doc = NULL;
        rc = list_page(x, "ListRolePolicies", role, marker, sizeof(marker), &doc, err);
        for (const dr_node *m = dr_node_get(dr_doc_root(doc), "ListRolePoliciesResult.PolicyNames.member");
             rc == 0 && m; m = dr_node_next_named(m)) {
            dr_buf form = DR_BUF_INIT;
            dr_doc *pd = NULL;
            const char *name = dr_node_text(m);
            dr_aws_form_add(&form, "RoleName", s3_role_name(role));
            dr_aws_form_add(&form, "PolicyName", name ? name : "");
            rc = s3_iam_call(x, "GetRolePolicy", &form, &pd, err);
            if (rc == 0 && (rc = set_add(p, "inline", name ? name : "", dr_node_str(dr_doc_root(pd),
                                         "GetRolePolicyResult.PolicyDocument"), err)) == 0)
                p->n_inline++;
            dr_doc_free(pd);
            dr_buf_free(&form);
        }
        dr_doc_free(doc);
        if (!*marker)
            break;
    }
    return rc;
}

/* The default version of a managed policy, through GetPolicy then GetPolicyVersion. */
static int add_managed_one(s3ctx *x, const char *name, const char *arn, policy_set *p, dr_error *err)
{
    dr_buf form = DR_BUF_INIT;
    dr_doc *pol = NULL, *ver = NULL;
    const char *v;
    int rc;

    dr_aws_form_add(&form, "PolicyArn", arn);
    rc = s3_iam_call(x, "GetPolicy", &form, &pol, err);
    if (rc != 0)
        goto out;
    v = dr_node_str(dr_doc_root(pol), "GetPolicyResult.Policy.DefaultVersionId");
    dr_buf_reset(&form);
    dr_aws_form_add(&form, "PolicyArn", arn);
    dr_aws_form_add(&form, "VersionId", v ? v : "v1");
    rc = s3_iam_call(x, "GetPolicyVersion", &form, &ver, err);
    if (rc != 0)
        goto out;
    rc = set_add(p, "managed", name, dr_node_str(dr_doc_root(ver), "GetPolicyVersionResult.PolicyVersion.Document"),
                 err);
    if (rc == 0)
        p->n_managed++;
out:
    dr_doc_free(pol);
    dr_doc_free(ver);
    dr_buf_free(&form);
    return rc;
}

static int add_managed(s3ctx *x, const char *role, policy_set *p, dr_error *err)
{
    char marker[1024] = "";
    int rc = 0;

    for (int page = 0; page < MAX_PAGES && rc == 0; page++) {
        dr_doc *doc = NULL;
        rc = list_page(x, "ListAttachedRolePolicies", role, marker, sizeof(marker), &doc, err);
        for (const dr_node *m =
                 dr_node_get(dr_doc_root(doc), "ListAttachedRolePoliciesResult.AttachedPolicies.member");
             rc == 0 && m; m = dr_node_next_named(m)) {
            const char *arn = dr_node_str(m, "PolicyArn"), *name = dr_node_str(m, "PolicyName");
            if (arn)
                rc = add_managed_one(x, name ? name : arn, arn, p, err);
        }
        dr_doc_free(doc);
        if (!*marker)
            break;
    }
    return rc;
}

int s3_role_missing(s3ctx *x, const char *role, const stmt *s, size_t n, dr_buf *missing, dr_buf *sources,
                    dr_error *err)
{
    policy_set p;
    int rc;

    memset(&p, 0, sizeof(p));
    rc = add_inline(x, role, &p, err);
    if (rc == 0)
        rc = add_managed(x, role, &p, err);
    if (rc != 0)
        goto out;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < 3 && s[i].actions[k]; k++) {
            int allow = 0, deny = 0;
            for (size_t j = 0; j < p.n; j++)
                eval_doc(dr_doc_root(p.docs[j]), s[i].actions[k], s[i].resource, &allow, &deny);
            if (allow && !deny)
                continue;
            dr_buf_printf(missing, "%s%s on %s%s", missing->len ? ", " : "", s[i].actions[k], s[i].resource,
                          deny ? " (denied)" : "");
        }
    dr_buf_puts(sources, p.n ? dr_buf_str(&p.names) : "no policies");
out:
    set_free(&p);
    return rc;
}

void s3_adopt_read(s3ctx *x)
{
    dr_aws_response *cur = NULL;
    dr_error e;

    if (strcmp(x->rule_id, S3_DEFAULT_RULE_ID) != 0 && H->cfg_has(x->res, "replication_role"))
        return;
    dr_error_clear(&e);
    if (s3_get_replication(x, x->primary, x->bucket, &cur, &e) == 0 && cur)
        s3_adopt_existing(x, dr_aws_response_doc(cur));
    dr_aws_response_free(cur);
}
