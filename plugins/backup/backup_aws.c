/* backup_aws.c: the backup plugin's AWS Backup calls (rest-json, paged lists, reads made ahead), recovery points and jobs. */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup.h"

/* ======================================================================== */
/* AWS Backup calls (rest-json)                                             */
/* ======================================================================== */

/*
 * Answers of GET calls read ahead by verify, all at once (bk_prefetch), for
 * the hook's own thread: bk_call() takes a kept answer instead of calling
 * (each once). Set and cleared by bk_verify around its checks.
 */
#define BK_PRE_MAX 24

typedef struct bk_pre_entry {
    dr_aws *c;
    const char *op;
    char *path, *query;
    int rc, taken;
    dr_error err;
    dr_doc *doc;
} bk_pre_entry;

typedef struct bk_pre {
    size_t n;
    bk_pre_entry e[BK_PRE_MAX];
} bk_pre;

static _Thread_local bk_pre *tl_pre;

static bk_pre_entry *pre_find(dr_aws *c, const char *op, const char *path, const char *query)
{
    for (size_t i = 0; tl_pre && i < tl_pre->n; i++) {
        bk_pre_entry *e = &tl_pre->e[i];
        if (!e->taken && e->c == c && strcmp(e->op, op) == 0 && strcmp(e->path, path) == 0 &&
            strcmp(e->query, query ? query : "") == 0)
            return e;
    }
    return NULL;
}

int bk_call(dr_aws *c, const char *op, const char *method, const char *path, const char *query, const char *body,
            dr_doc **out, dr_error *err)
{
    dr_aws_request req;
    dr_doc *doc = NULL;
    bk_pre_entry *pre;
    int rc;

    if (!body && strcmp(method, "GET") == 0 && (pre = pre_find(c, op, path, query)) != NULL) {
        pre->taken = 1;
        if (pre->rc != 0) {
            *err = pre->err;
            return pre->rc;
        }
        if (out)
            *out = pre->doc;
        else
            dr_doc_free(pre->doc);
        pre->doc = NULL;
        return 0;
    }
    dr_aws_request_init(&req, sizeof(req), "backup", DR_AWS_REST_JSON, op, method, path, query);
    req.body = body;
    rc = dr_aws_rest(c, &req, &doc, err);
    if (out)
        *out = doc;
    else
        dr_doc_free(doc);
    return rc;
}

/* "/backup-vaults/<name><suffix>", "/backup/plans/<id><suffix>" ... */
static char *path_of(const char *prefix, const char *label, const char *mid, const char *label2, const char *suffix)
{
    dr_buf b = DR_BUF_INIT;

    dr_buf_puts(&b, prefix);
    dr_buf_uri_encode(&b, label, 0);
    if (mid)
        dr_buf_puts(&b, mid);
    if (label2)
        dr_buf_uri_encode(&b, label2, 0);
    if (suffix)
        dr_buf_puts(&b, suffix);
    return dr_buf_steal(&b);
}

/* Add "&name=value" (URI-encoded) to a query string. */
void bk_query_add(dr_buf *q, const char *name, const char *value)
{
    if (!value)
        return;
    if (q->len)
        dr_buf_puts(q, "&");
    dr_buf_puts(q, name);
    dr_buf_puts(q, "=");
    dr_buf_uri_encode(q, value, 0);
}

void bk_query_add_time(dr_buf *q, const char *name, double epoch)
{
    char t[40];

    bk_iso(epoch, t, sizeof(t));
    bk_query_add(q, name, t);
}

/* GET every page of a list operation (NextToken paging). */
int bk_list_all(dr_aws *c, const char *op, const char *path, const char *query, page_fn fn, void *arg,
                dr_error *err)
{
    char *token = NULL;
    int rc = 0;

    for (int page = 0; page < MAX_PAGES; page++) {
        dr_buf q = DR_BUF_INIT;
        dr_doc *doc = NULL;
        const char *next;

        dr_buf_puts(&q, query ? query : "");
        bk_query_add(&q, "nextToken", token);
        if (q.failed) {
            dr_buf_free(&q);
            rc = dr_error_set(err, DR_ENOMEM, "out of memory");
            goto out;
        }
        rc = bk_call(c, op, "GET", path, dr_buf_str(&q), NULL, &doc, err);
        dr_buf_free(&q);
        if (rc != 0)
            goto out;
        rc = fn(doc ? dr_doc_root(doc) : NULL, arg, err);
        next = doc ? dr_node_str(dr_doc_root(doc), "NextToken") : NULL;
        free(token);
        token = next && *next ? strdup(next) : NULL;
        dr_doc_free(doc);
        if (rc != 0 || !token)
            break;
    }
out:
    free(token);
    return rc < 0 ? rc : 0;
}

/* --- vaults --- */

struct vault_listed_arg {
    const char *name;
    int found;
};

static int vault_listed_page(const dr_node *root, void *arg, dr_error *err)
{
    struct vault_listed_arg *v = arg;

    (void)err;
    for (const dr_node *n = dr_node_first(dr_node_get(root, "BackupVaultList")); n; n = dr_node_next(n))
        if (bk_same_text(dr_node_str(n, "BackupVaultName"), v->name)) {
            v->found = 1;
            return 1;
        }
    return 0;
}

/*
 * AWS answers DescribeBackupVault of a vault that does not exist with 403 AccessDeniedException, as it does when
 * the caller may not read it. ListBackupVaults tells the two apart: a vault it does not list does not exist.
 * Returns DR_ENOTFOUND (err set) when the vault is not listed, else leaves the denial as it was.
 */
static int confirm_denied_vault(dr_aws *c, const char *vault, dr_error *err)
{
    struct vault_listed_arg v = {vault, 0};
    dr_error lerr;
    int rc;

    dr_error_clear(&lerr);
    rc = bk_list_all(c, "ListBackupVaults", "/backup-vaults/", NULL, vault_listed_page, &v, &lerr);
    if (rc != 0 || v.found)
        return err->code; /* cannot list, or the vault is there and really denied */
    return dr_error_set(err, DR_ENOTFOUND, "backup vault %s does not exist (not in ListBackupVaults)", vault);
}

int bk_describe_vault(dr_aws *c, const char *vault, dr_doc **out, dr_error *err)
{
    char *path = path_of("/backup-vaults/", vault, NULL, NULL, NULL);
    int rc;

    if (!path)
        return dr_error_set(err, DR_ENOMEM, "out of memory");
    rc = bk_call(c, "DescribeBackupVault", "GET", path, NULL, NULL, out, err);
    free(path);
    if (rc == DR_EDENIED)
        rc = confirm_denied_vault(c, vault, err);
    return rc;
}

int bk_create_vault(dr_aws *c, const char *vault, const char *kms_key, dr_error *err)
{
    char *path = path_of("/backup-vaults/", vault, NULL, NULL, NULL);
    dr_buf body = DR_BUF_INIT;
    char uuid[40];
    int rc;

    dr_uuid4(uuid);
    dr_buf_puts(&body, "{\"CreatorRequestId\":");
    dr_buf_json_str(&body, uuid);
    if (kms_key) {
        dr_buf_puts(&body, ",\"EncryptionKeyArn\":");
        dr_buf_json_str(&body, kms_key);
    }
    dr_buf_puts(&body, "}");
    if (!path || body.failed)
        rc = dr_error_set(err, DR_ENOMEM, "out of memory");
    else
        rc = bk_call(c, "CreateBackupVault", "PUT", path, NULL, dr_buf_str(&body), NULL, err);
    free(path);
    dr_buf_free(&body);
    return rc;
}

int bk_put_vault_lock(dr_aws *c, const bk_conf *k, const char *vault, dr_error *err)
{
    char *path = path_of("/backup-vaults/", vault, NULL, NULL, "/vault-lock");
    dr_buf body = DR_BUF_INIT;
    int rc;

    dr_buf_printf(&body, "{\"MinRetentionDays\":%lld", (long long)k->lock_min);
    if (k->lock_max)
        dr_buf_printf(&body, ",\"MaxRetentionDays\":%lld", (long long)k->lock_max);
    if (strcmp(k->lock, "compliance") == 0)
        dr_buf_printf(&body, ",\"ChangeableForDays\":%lld", (long long)k->lock_changeable);
    dr_buf_puts(&body, "}");
    if (!path || body.failed)
        rc = dr_error_set(err, DR_ENOMEM, "out of memory");
    else
        rc = bk_call(c, "PutBackupVaultLockConfiguration", "PUT", path, NULL, dr_buf_str(&body), NULL, err);
    free(path);
    dr_buf_free(&body);
    return rc;
}

/* --- plans --- */

/* Finds, page by page, the id of the item of `list_key` whose `name_key` is `name` (deleted ones skipped). */
struct find_named_arg {
    const char *list_key, *name_key, *id_key;
    const char *name;
    char *id;
    size_t idlen;
    int found;
};

static int find_named_page(const dr_node *root, void *arg, dr_error *err)
{
    struct find_named_arg *a = arg;

    (void)err;
    for (const dr_node *p = dr_node_first(dr_node_get(root, a->list_key)); p; p = dr_node_next(p)) {
        const char *id = dr_node_str(p, a->id_key);
        if (bk_same_text(dr_node_str(p, a->name_key), a->name) && id && !dr_node_get(p, "DeletionDate")) {
            snprintf(a->id, a->idlen, "%s", id);
            a->found = 1;
            return 1;
        }
    }
    return 0;
}

/* The id of the (not deleted) plan named `name`: 0, DR_ENOTFOUND, or another error. */
int bk_find_plan(dr_aws *c, const char *name, char *id, size_t idlen, dr_error *err)
{
    struct find_named_arg a = {"BackupPlansList", "BackupPlanName", "BackupPlanId", name, id, idlen, 0};
    int rc = bk_list_all(c, "ListBackupPlans", "/backup/plans/", "maxResults=100", find_named_page, &a, err);

    if (rc != 0)
        return rc;
    if (!a.found)
        return dr_error_set(err, DR_ENOTFOUND, "backup plan '%s' not found", name);
    return 0;
}

int bk_get_plan(dr_aws *c, const char *id, dr_doc **out, dr_error *err)
{
    char *path = path_of("/backup/plans/", id, "/", NULL, NULL);
    int rc;

    if (!path)
        return dr_error_set(err, DR_ENOMEM, "out of memory");
    rc = bk_call(c, "GetBackupPlan", "GET", path, NULL, NULL, out, err);
    free(path);
    return rc;
}

/* {"BackupPlanName":...,"Rules":[...]} as the configuration wants it. */
static void plan_json(dr_buf *b, const bk_conf *k, const char *dr_vault_arn)
{
    dr_buf_puts(b, "{\"BackupPlanName\":");
    dr_buf_json_str(b, k->plan);
    dr_buf_puts(b, ",\"Rules\":[");
    for (size_t i = 0; i < k->n_rules; i++) {
        const bk_rule *r = &k->rules[i];
        dr_buf_puts(b, i ? ",{\"RuleName\":" : "{\"RuleName\":");
        dr_buf_json_str(b, r->name);
        dr_buf_puts(b, ",\"TargetBackupVaultName\":");
        dr_buf_json_str(b, k->vault);
        dr_buf_puts(b, ",\"ScheduleExpression\":");
        dr_buf_json_str(b, r->schedule);
        dr_buf_printf(b, ",\"Lifecycle\":{\"DeleteAfterDays\":%d}", r->keep_days);
        if (r->copy) {
            dr_buf_puts(b, ",\"CopyActions\":[{\"DestinationBackupVaultArn\":");
            dr_buf_json_str(b, dr_vault_arn);
            dr_buf_printf(b, ",\"Lifecycle\":{\"DeleteAfterDays\":%d}}]", r->copy_keep_days);
        }
        dr_buf_puts(b, "}");
    }
    dr_buf_puts(b, "]}");
}

int bk_create_plan(dr_aws *c, const bk_conf *k, const char *dr_vault_arn, char *id, size_t idlen, dr_error *err)
{
    dr_buf body = DR_BUF_INIT;
    dr_doc *doc = NULL;
    char uuid[40];
    const char *new_id;
    int rc;

    dr_uuid4(uuid);
    dr_buf_puts(&body, "{\"BackupPlan\":");
    plan_json(&body, k, dr_vault_arn);
    dr_buf_puts(&body, ",\"CreatorRequestId\":");
    dr_buf_json_str(&body, uuid);
    dr_buf_puts(&body, "}");
    if (body.failed) {
        rc = dr_error_set(err, DR_ENOMEM, "out of memory");
        goto out;
    }
    rc = bk_call(c, "CreateBackupPlan", "PUT", "/backup/plans/", NULL, dr_buf_str(&body), &doc, err);
    if (rc != 0)
        goto out;
    new_id = dr_node_str(dr_doc_root(doc), "BackupPlanId");
    if (!new_id) {
        rc = dr_error_set(err, DR_EPARSE, "backup CreateBackupPlan %s: no BackupPlanId in the answer",
                          dr_aws_region(c));
        goto out;
    }
    snprintf(id, idlen, "%s", new_id);
out:
    dr_doc_free(doc);
    dr_buf_free(&body);
    return rc;
}

int bk_update_plan(dr_aws *c, const bk_conf *k, const char *id, const char *dr_vault_arn, dr_error *err)
{
    char *path = path_of("/backup/plans/", id, NULL, NULL, NULL);
    dr_buf body = DR_BUF_INIT;
    int rc;

    dr_buf_puts(&body, "{\"BackupPlan\":");
    plan_json(&body, k, dr_vault_arn);
    dr_buf_puts(&body, "}");
    if (!path || body.failed)
        rc = dr_error_set(err, DR_ENOMEM, "out of memory");
    else
        rc = bk_call(c, "UpdateBackupPlan", "POST", path, NULL, dr_buf_str(&body), NULL, err);
    free(path);
    dr_buf_free(&body);
    return rc;
}

/* --- selections --- */

/* The selection named `name` of a plan, read whole: 0 with *out, DR_ENOTFOUND, or another error. */
int bk_read_selection(dr_aws *c, const char *plan_id, const char *name, char *id, size_t idlen, dr_doc **out,
                      dr_error *err)
{
    struct find_named_arg a = {"BackupSelectionsList", "SelectionName", "SelectionId", name, id, idlen, 0};
    char *list = path_of("/backup/plans/", plan_id, "/selections/", NULL, NULL);
    char *get = NULL;
    int rc;

    *out = NULL;
    if (!list) {
        rc = dr_error_set(err, DR_ENOMEM, "out of memory");
        goto out;
    }
    rc = bk_list_all(c, "ListBackupSelections", list, "maxResults=100", find_named_page, &a, err);
    if (rc != 0)
        goto out;
    if (!a.found) {
        rc = dr_error_set(err, DR_ENOTFOUND, "backup selection '%s' not found", name);
        goto out;
    }
    get = path_of("/backup/plans/", plan_id, "/selections/", id, NULL);
    if (!get) {
        rc = dr_error_set(err, DR_ENOMEM, "out of memory");
        goto out;
    }
    rc = bk_call(c, "GetBackupSelection", "GET", get, NULL, NULL, out, err);
out:
    free(list);
    free(get);
    return rc;
}

/* The ids of a plan's selections (up to SEL_SCAN), whatever their names. */
#define SEL_SCAN 20
struct sel_ids_arg {
    char ids[SEL_SCAN][200];
    size_t n;
};

static int sel_ids_page(const dr_node *root, void *arg, dr_error *err)
{
    struct sel_ids_arg *a = arg;

    (void)err;
    for (const dr_node *s = dr_node_first(dr_node_get(root, "BackupSelectionsList")); s; s = dr_node_next(s)) {
        const char *id = dr_node_str(s, "SelectionId");
        if (id && a->n < SEL_SCAN)
            snprintf(a->ids[a->n++], sizeof(a->ids[0]), "%s", id);
    }
    return a->n >= SEL_SCAN;
}

/* 1 when the selection document protects every configured resource ARN. */
static int sel_covers(dr_resource *res, const bk_conf *k, const dr_node *sel)
{
    const dr_node *list = dr_node_get(sel, "BackupSelection.Resources");

    if (k->n_resources == 0)
        return 0;
    for (size_t i = 0; i < k->n_resources; i++) {
        const char *want = H->cfg_list_item(res, "resources", i);
        int found = 0;
        for (const dr_node *n = dr_node_first(list); n && !found; n = dr_node_next(n))
            found = bk_same_text(dr_node_text(n), want);
        if (!found)
            return 0;
    }
    return 1;
}

int bk_read_selection_any(dr_aws *c, dr_resource *res, const bk_conf *k, const char *plan_id, char *id, size_t idlen,
                          dr_doc **out, dr_error *err)
{
    struct sel_ids_arg *a = NULL;
    char *list = NULL;
    int rc = bk_read_selection(c, plan_id, k->selection, id, idlen, out, err);

    if (rc != DR_ENOTFOUND || strcmp(k->selection, BK_DEFAULT_SELECTION) != 0 || k->n_resources == 0)
        return rc;
    a = calloc(1, sizeof(*a));
    list = path_of("/backup/plans/", plan_id, "/selections/", NULL, NULL);
    if (!a || !list) {
        rc = dr_error_set(err, DR_ENOMEM, "out of memory");
        goto out;
    }
    dr_error_clear(err);
    rc = bk_list_all(c, "ListBackupSelections", list, "maxResults=100", sel_ids_page, a, err);
    for (size_t i = 0; rc == 0 && i < a->n; i++) {
        char *get = path_of("/backup/plans/", plan_id, "/selections/", a->ids[i], NULL);
        dr_doc *doc = NULL;
        rc = get ? bk_call(c, "GetBackupSelection", "GET", get, NULL, NULL, &doc, err)
                 : dr_error_set(err, DR_ENOMEM, "out of memory");
        free(get);
        if (rc == 0 && sel_covers(res, k, dr_doc_root(doc))) {
            snprintf(id, idlen, "%s", a->ids[i]);
            H->log(res, DR_LOG_INFO, "backup selection %s (id %s) protects the configured resources: it is this "
                   "resource's selection", dr_node_str(dr_doc_root(doc), "BackupSelection.SelectionName"), a->ids[i]);
            *out = doc;
            goto out;
        }
        dr_doc_free(doc);
    }
    if (rc == 0)
        rc = dr_error_set(err, DR_ENOTFOUND, "backup selection '%s' not found, nor one protecting the configured "
                          "resources", k->selection);
out:
    free(a);
    free(list);
    return rc;
}

int bk_create_selection(dr_aws *c, dr_resource *res, const bk_conf *k, const char *plan_id, const char *role,
                        dr_error *err)
{
    char *path = path_of("/backup/plans/", plan_id, "/selections/", NULL, NULL);
    dr_buf body = DR_BUF_INIT;
    char uuid[40];
    int rc;

    dr_uuid4(uuid);
    dr_buf_puts(&body, "{\"BackupSelection\":{\"SelectionName\":");
    dr_buf_json_str(&body, k->selection);
    dr_buf_puts(&body, ",\"IamRoleArn\":");
    dr_buf_json_str(&body, role);
    dr_buf_puts(&body, ",\"Resources\":[");
    for (size_t i = 0; i < k->n_resources; i++) {
        if (i)
            dr_buf_puts(&body, ",");
        dr_buf_json_str(&body, H->cfg_list_item(res, "resources", i));
    }
    dr_buf_puts(&body, "],\"ListOfTags\":[");
    for (size_t i = 0; i < k->n_tags; i++) {
        const char *t = H->cfg_list_item(res, "selection_tags", i);
        const char *eq = strchr(t, '=');
        char key[400];
        snprintf(key, sizeof(key), "%.*s", (int)(eq - t), t);
        dr_buf_puts(&body, i ? ",{\"ConditionType\":\"STRINGEQUALS\",\"ConditionKey\":"
                             : "{\"ConditionType\":\"STRINGEQUALS\",\"ConditionKey\":");
        dr_buf_json_str(&body, key);
        dr_buf_puts(&body, ",\"ConditionValue\":");
        dr_buf_json_str(&body, eq + 1);
        dr_buf_puts(&body, "}");
    }
    dr_buf_puts(&body, "]},\"CreatorRequestId\":");
    dr_buf_json_str(&body, uuid);
    dr_buf_puts(&body, "}");
    if (!path || body.failed)
        rc = dr_error_set(err, DR_ENOMEM, "out of memory");
    else
        rc = bk_call(c, "CreateBackupSelection", "PUT", path, NULL, dr_buf_str(&body), NULL, err);
    free(path);
    dr_buf_free(&body);
    return rc;
}

int bk_delete_selection(dr_aws *c, const char *plan_id, const char *sel_id, dr_error *err)
{
    char *path = path_of("/backup/plans/", plan_id, "/selections/", sel_id, NULL);
    int rc;

    if (!path)
        return dr_error_set(err, DR_ENOMEM, "out of memory");
    rc = bk_call(c, "DeleteBackupSelection", "DELETE", path, NULL, NULL, NULL, err);
    free(path);
    return rc;
}

/* ======================================================================== */
/* Recovery points and jobs                                                 */
/* ======================================================================== */

static int restorable(const char *status)
{
    return bk_same_text(status, "COMPLETED") || bk_same_text(status, "AVAILABLE");
}

static int newest_page(const dr_node *root, void *arg, dr_error *err)
{
    bk_point *pt = arg;

    (void)err;
    for (const dr_node *r = dr_node_first(dr_node_get(root, "RecoveryPoints")); r; r = dr_node_next(r)) {
        double t;
        if (!restorable(dr_node_str(r, "Status")) || dr_node_time(r, "CreationDate", &t) != 0)
            continue;
        if (!pt->found || t > pt->created) {
            const char *rule = dr_node_str(r, "CreatedBy.BackupRuleName");
            pt->found = 1;
            pt->created = t;
            snprintf(pt->arn, sizeof(pt->arn), "%s", dr_node_str(r, "RecoveryPointArn") ? dr_node_str(r, "RecoveryPointArn") : "?");
            snprintf(pt->rule, sizeof(pt->rule), "%s", rule ? rule : "");
        }
    }
    return 0;
}

int bk_newest_point(dr_aws *c, const char *vault, const char *resource_arn, bk_point *pt, dr_error *err)
{
    char *path = path_of("/backup-vaults/", vault, "/recovery-points/", NULL, NULL);
    dr_buf q = DR_BUF_INIT;
    int rc;

    memset(pt, 0, sizeof(*pt));
    dr_buf_puts(&q, "maxResults=100");
    bk_query_add(&q, "resourceArn", resource_arn);
    if (!path || q.failed)
        rc = dr_error_set(err, DR_ENOMEM, "out of memory");
    else
        rc = bk_list_all(c, "ListRecoveryPointsByBackupVault", path, dr_buf_str(&q), newest_page, pt, err);
    if (rc == DR_EDENIED)
        rc = confirm_denied_vault(c, vault, err);
    free(path);
    dr_buf_free(&q);
    return rc;
}

struct discover_arg {
    bk_targets *t;
    const char *plan_id; /* keep only the plan's recovery points, when AWS says which plan made them */
};

static int discover_page(const dr_node *root, void *arg, dr_error *err)
{
    struct discover_arg *a = arg;

    for (const dr_node *r = dr_node_first(dr_node_get(root, "RecoveryPoints")); r; r = dr_node_next(r)) {
        const char *arn = dr_node_str(r, "ResourceArn");
        const char *by = dr_node_str(r, "CreatedBy.BackupPlanId");
        if (!arn || (a->plan_id && by && strcmp(by, a->plan_id) != 0))
            continue;
        if (bk_targets_add(a->t, arn) != 0)
            return dr_error_set(err, DR_ENOMEM, "out of memory");
    }
    return 0;
}

/*
 * What the plan protects: the configured ARNs, and with selection_tags also
 * every resource that has recovery points in `vault` (made by the plan, when
 * plan_id is known).
 */
static int protected_targets(bk_ctx *x, dr_aws *c, const char *vault, const char *plan_id, bk_targets *t,
                             dr_error *err)
{
    int rc = 0;

    for (size_t i = 0; i < x->k.n_resources; i++)
        if (bk_targets_add(t, H->cfg_list_item(x->res, "resources", i)) != 0)
            return dr_error_set(err, DR_ENOMEM, "out of memory");
    if (x->k.n_tags > 0) {
        struct discover_arg a = {t, plan_id};
        char *path = path_of("/backup-vaults/", vault, "/recovery-points/", NULL, NULL);
        dr_buf q = DR_BUF_INIT;
        dr_buf_puts(&q, "maxResults=100");
        bk_query_add(&q, "backupPlanId", plan_id);
        rc = path && !q.failed
                 ? bk_list_all(c, "ListRecoveryPointsByBackupVault", path, dr_buf_str(&q), discover_page, &a, err)
                 : dr_error_set(err, DR_ENOMEM, "out of memory");
        if (rc == DR_EDENIED)
            rc = confirm_denied_vault(c, vault, err);
        free(path);
        dr_buf_free(&q);
    }
    bk_targets_label(t);
    return rc;
}

/* The targets as seen from one region's vault (the region is only asked with selection_tags). */
int bk_targets_for(bk_ctx *x, int dr, const char *plan_id, bk_targets *t, dr_error *err)
{
    dr_aws *c = NULL;

    if (x->k.n_tags > 0 && !(c = bk_client(x, dr, err)))
        return err->code;
    return protected_targets(x, c, dr ? x->k.dr_vault : x->k.vault, plan_id, t, err);
}

static int is_target(const bk_ctx *x, const bk_targets *t, const char *arn)
{
    if (x->k.n_tags > 0)
        return 1; /* a tag selection protects whatever it finds */
    for (size_t i = 0; i < t->n; i++)
        if (bk_same_text(t->v[i].arn, arn))
            return 1;
    return 0;
}

int bk_job_page(const dr_node *root, void *arg, dr_error *err)
{
    job_scan *s = arg;

    (void)err;
    for (const dr_node *j = dr_node_first(dr_node_get(root, s->list_key)); j; j = dr_node_next(j)) {
        const char *state = dr_node_str(j, "State");
        const char *arn = dr_node_str(j, "ResourceArn");
        int bad = bk_same_text(state, "FAILED") || bk_same_text(state, "ABORTED") || bk_same_text(state, "EXPIRED");
        double t = 0;

        const char *vault = dr_node_str(j, s->vault_key);

        if (!is_target(s->x, s->t, arn) || (vault && strcmp(vault, s->vault) != 0) ||
            (dr_node_time(j, "CreationDate", &t) == 0 && t < s->since))
            continue;
        s->jobs++;
        if (!bad && !bk_same_text(state, "PARTIAL"))
            continue;
        if (bad)
            s->failed++;
        else
            s->partial++;
        if (t >= s->worst_time) {
            const char *msg = dr_node_str(j, "StatusMessage");
            char when[40];
            bk_iso(t, when, sizeof(when));
            s->worst_time = t;
            snprintf(s->worst, sizeof(s->worst), "job %s for %s %s (created %s)%s%s",
                     dr_node_str(j, s->id_key) ? dr_node_str(j, s->id_key) : "?", arn ? arn : "?", state, when,
                     msg ? ": " : "", msg ? msg : "");
        }
    }
    return 0;
}

/* ---- verify's reads at once ---- */

/* One GET read on a batch's worker (dr_aws_rest itself: bk_call() belongs to the hook's thread). */
static void pre_run(void *arg)
{
    bk_pre_entry *e = arg;
    dr_aws_request req;

    dr_aws_request_init(&req, sizeof(req), "backup", DR_AWS_REST_JSON, e->op, "GET", e->path, e->query);
    dr_error_clear(&e->err);
    e->rc = dr_aws_rest(e->c, &req, &e->doc, &e->err);
}

/* Queue a GET (path owned by the entry; query copied). */
static bk_pre_entry *pre_add(bk_pre *p, dr_aws *c, const char *op, char *path, const char *query)
{
    bk_pre_entry *e;

    if (!c || !path || p->n == BK_PRE_MAX) {
        free(path);
        return NULL;
    }
    e = &p->e[p->n];
    memset(e, 0, sizeof(*e));
    e->c = c;
    e->op = op;
    e->path = path;
    e->query = strdup(query ? query : "");
    if (!e->query) {
        free(path);
        return NULL;
    }
    p->n++;
    return e;
}

static void pre_free(bk_pre *p)
{
    for (size_t i = 0; p && i < p->n; i++) {
        free(p->e[i].path);
        free(p->e[i].query);
        dr_doc_free(p->e[i].doc);
    }
    free(p);
}

/*
 * The GET calls verify makes, made ahead, each as soon as what it needs is known: vaults, jobs and the
 * configured resources' recovery points at once; beside them the plan chain (ListBackupPlans, then the plan
 * and its selections together, then the selection as soon as the selections are listed) and the copy chain
 * (the account, then the copy jobs into the DR vault). verify then takes them.
 */
static pthread_mutex_t pre_mu = PTHREAD_MUTEX_INITIALIZER; /* pre_add from the chains at once */

static bk_pre_entry *pre_add_locked(bk_pre *p, dr_aws *c, const char *op, char *path, const char *query)
{
    bk_pre_entry *e;

    pthread_mutex_lock(&pre_mu);
    e = pre_add(p, c, op, path, query);
    pthread_mutex_unlock(&pre_mu);
    return e;
}

typedef struct bk_chain {
    bk_ctx *x;
    bk_pre *p;
    bk_pre_entry *plans, *sels;
    char plan_id[200];
} bk_chain;

static void sel_chain(void *arg)
{
    bk_chain *ch = arg;
    char sel_id[200] = "";
    struct find_named_arg a = {"BackupSelectionsList", "SelectionName", "SelectionId", ch->x->k.selection,
                               sel_id, sizeof(sel_id), 0};
    dr_error e;
    bk_pre_entry *get;

    if (!ch->sels)
        return;
    pre_run(ch->sels);
    if (ch->sels->rc != 0 || !ch->sels->doc || dr_node_str(dr_doc_root(ch->sels->doc), "NextToken"))
        return; /* verify lists every page itself */
    dr_error_clear(&e);
    find_named_page(dr_doc_root(ch->sels->doc), &a, &e);
    if (!a.found || !sel_id[0])
        return;
    get = pre_add_locked(ch->p, ch->x->p, "GetBackupSelection",
                         path_of("/backup/plans/", ch->plan_id, "/selections/", sel_id, NULL), NULL);
    if (get)
        pre_run(get);
}

static void plan_chain(void *arg)
{
    bk_chain *ch = arg;
    struct find_named_arg a = {"BackupPlansList", "BackupPlanName", "BackupPlanId", ch->x->k.plan, ch->plan_id,
                               sizeof(ch->plan_id), 0};
    bk_pre_entry *plan;
    dr_aws_task t[2];
    size_t n = 0;
    dr_error e;

    if (!ch->plans)
        return;
    pre_run(ch->plans);
    if (ch->plans->rc != 0 || !ch->plans->doc || dr_node_str(dr_doc_root(ch->plans->doc), "NextToken"))
        return;
    dr_error_clear(&e);
    find_named_page(dr_doc_root(ch->plans->doc), &a, &e);
    if (!a.found || !ch->plan_id[0])
        return;
    plan = pre_add_locked(ch->p, ch->x->p, "GetBackupPlan", path_of("/backup/plans/", ch->plan_id, "/", NULL, NULL),
                          NULL);
    ch->sels = pre_add_locked(ch->p, ch->x->p, "ListBackupSelections",
                              path_of("/backup/plans/", ch->plan_id, "/selections/", NULL, NULL), "maxResults=100");
    if (plan)
        t[n++] = (dr_aws_task){pre_run, plan};
    t[n++] = (dr_aws_task){sel_chain, ch};
    dr_aws_run_all(t, n, 0);
}

static void copy_chain(void *arg)
{
    bk_chain *ch = arg;
    bk_ctx *x = ch->x;
    dr_buf q = DR_BUF_INIT;
    bk_pre_entry *jobs;
    dr_error e;

    dr_error_clear(&e);
    if (bk_ctx_account(x, &e) != 0 || !x->k.any_copy)
        return;
    dr_buf_puts(&q, "maxResults=100");
    bk_query_add_time(&q, "createdAfter", x->now - x->k.lookback);
    bk_query_add(&q, "destinationVaultArn", x->dr_vault_arn);
    if (!q.failed && (jobs = pre_add_locked(ch->p, x->p, "ListCopyJobs", path_of("/copy-jobs/", "", NULL, NULL, NULL),
                                            dr_buf_str(&q))) != NULL)
        pre_run(jobs);
    dr_buf_free(&q);
}

static bk_pre *prefetch(bk_ctx *x)
{
    bk_pre *p = calloc(1, sizeof(*p));
    dr_buf q = DR_BUF_INIT;
    bk_chain ch;
    dr_aws_task t[BK_PRE_MAX + 2];
    size_t n = 0, simple;

    if (!p || !x->p)
        return p;
    memset(&ch, 0, sizeof(ch));
    ch.x = x;
    ch.p = p;
    pre_add(p, x->p, "DescribeBackupVault", path_of("/backup-vaults/", x->k.vault, NULL, NULL, NULL), NULL);
    if (x->k.any_copy)
        pre_add(p, x->d, "DescribeBackupVault", path_of("/backup-vaults/", x->k.dr_vault, NULL, NULL, NULL), NULL);
    dr_buf_puts(&q, "maxResults=100");
    bk_query_add_time(&q, "createdAfter", x->now - x->k.lookback);
    bk_query_add(&q, "backupVaultName", x->k.vault);
    if (!q.failed)
        pre_add(p, x->p, "ListBackupJobs", path_of("/backup-jobs/", "", NULL, NULL, NULL), dr_buf_str(&q));
    for (size_t i = 0; i < x->k.n_resources; i++) {
        const char *arn = H->cfg_list_item(x->res, "resources", i);
        for (int dr = 0; dr <= x->k.any_copy; dr++) {
            dr_buf_reset(&q);
            dr_buf_puts(&q, "maxResults=100");
            bk_query_add(&q, "resourceArn", arn);
            if (!q.failed)
                pre_add(p, dr ? x->d : x->p, "ListRecoveryPointsByBackupVault",
                        path_of("/backup-vaults/", dr ? x->k.dr_vault : x->k.vault, "/recovery-points/", NULL, NULL),
                        dr_buf_str(&q));
        }
    }
    simple = p->n;
    ch.plans = pre_add(p, x->p, "ListBackupPlans", path_of("/backup/plans/", "", NULL, NULL, NULL), "maxResults=100");
    /* the chains add entries (to the fixed array) while the simple reads run: those are taken before */
    t[n++] = (dr_aws_task){plan_chain, &ch};
    t[n++] = (dr_aws_task){copy_chain, &ch};
    for (size_t i = 0; i < simple; i++)
        t[n++] = (dr_aws_task){pre_run, &p->e[i]};
    dr_aws_run_all(t, n, 0);
    dr_buf_free(&q);
    return p;
}

void bk_prefetch(bk_ctx *x)
{
    pre_free(tl_pre);
    tl_pre = prefetch(x);
}

void bk_prefetch_end(void)
{
    pre_free(tl_pre);
    tl_pre = NULL;
}
