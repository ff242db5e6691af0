/* rds.c: the RDS Query-protocol calls of the aurora plugin (clusters, instances, global clusters), parsed by path. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aurora.h"

#define RDS_VERSION "2014-10-31"

static void copy(char *dst, size_t len, const char *src)
{
    snprintf(dst, len, "%s", src ? src : "");
}

/* One RDS call; *out is the parsed answer (may be NULL when the body is empty). */
static int rds(dr_aws *c, const char *op, dr_buf *form, dr_doc **out, dr_error *err)
{
    dr_doc *d = NULL;
    int rc;

    if (form && form->failed)
        return dr_error_set(err, DR_ENOMEM, "rds %s: out of memory", op);
    rc = dr_aws_query(c, "rds", op, RDS_VERSION, form ? dr_buf_str(form) : NULL, &d, err);
    if (rc != 0) {
        dr_doc_free(d);
        return rc;
    }
    if (out)
        *out = d;
    else
        dr_doc_free(d);
    return 0;
}

/*
 * One Describe* call filtered on `param` = `value`: 0 with *d (the caller frees it; NULL when nothing has that
 * id: not found, or the `absent_code` AWS error when not NULL), or a negative code.
 */
static int describe(dr_aws *c, const char *op, const char *param, const char *value, const char *absent_code,
                    dr_doc **d, dr_error *err)
{
    dr_buf form = DR_BUF_INIT;
    int rc;

    *d = NULL;
    dr_aws_form_add(&form, param, value);
    rc = rds(c, op, &form, d, err);
    dr_buf_free(&form);
    if (rc == DR_ENOTFOUND || (rc == DR_EAWS && absent_code && dr_error_is(err, absent_code))) {
        dr_error_clear(err);
        return 0;
    }
    return rc;
}

static void parse_cluster(const dr_node *n, au_cluster *cl)
{
    const dr_node *m;

    memset(cl, 0, sizeof(*cl));
    cl->found = 1;
    copy(cl->id, sizeof(cl->id), dr_node_str(n, "DBClusterIdentifier"));
    copy(cl->arn, sizeof(cl->arn), dr_node_str(n, "DBClusterArn"));
    copy(cl->status, sizeof(cl->status), dr_node_str(n, "Status"));
    copy(cl->engine, sizeof(cl->engine), dr_node_str(n, "Engine"));
    copy(cl->engine_version, sizeof(cl->engine_version), dr_node_str(n, "EngineVersion"));
    copy(cl->source, sizeof(cl->source), dr_node_str(n, "ReplicationSourceIdentifier"));
    copy(cl->global_id, sizeof(cl->global_id), dr_node_str(n, "GlobalClusterIdentifier"));
    copy(cl->master_user, sizeof(cl->master_user), dr_node_str(n, "MasterUsername"));
    copy(cl->endpoint, sizeof(cl->endpoint), dr_node_str(n, "Endpoint"));
    copy(cl->kms_key, sizeof(cl->kms_key), dr_node_str(n, "KmsKeyId"));
    cl->encrypted = dr_node_bool(n, "StorageEncrypted", 0);
    if (dr_node_get(n, "ServerlessV2ScalingConfiguration.MinCapacity")) {
        cl->has_scaling = 1;
        cl->min_acu = dr_node_num(n, "ServerlessV2ScalingConfiguration.MinCapacity", 0);
        cl->max_acu = dr_node_num(n, "ServerlessV2ScalingConfiguration.MaxCapacity", 0);
    }
    if (dr_node_time(n, "ClusterCreateTime", &cl->create_time) != 0)
        cl->create_time = 0;
    for (m = dr_node_first(dr_node_get(n, "DBClusterMembers")); m && cl->n_members < AU_MAX_MEMBERS;
         m = dr_node_next(m)) {
        au_member *mb = &cl->members[cl->n_members++];
        copy(mb->id, sizeof(mb->id), dr_node_str(m, "DBInstanceIdentifier"));
        mb->writer = dr_node_bool(m, "IsClusterWriter", 0);
    }
}

int au_describe_cluster(dr_aws *c, const char *id, au_cluster *out, dr_error *err)
{
    dr_doc *d = NULL;
    const dr_node *n;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = describe(c, "DescribeDBClusters", "DBClusterIdentifier", id, NULL, &d, err);
    if (rc != 0 || !d)
        return rc;
    /* The filter is exact, but be strict about what answered. */
    for (n = dr_node_first(dr_node_get(dr_doc_root(d), "DescribeDBClustersResult.DBClusters")); n;
         n = dr_node_next(n)) {
        const char *got = dr_node_str(n, "DBClusterIdentifier");
        if (got && strcasecmp(got, id) == 0) {
            parse_cluster(n, out);
            break;
        }
    }
    dr_doc_free(d);
    return 0;
}

int au_describe_instance(dr_aws *c, const char *id, au_instance *out, dr_error *err)
{
    dr_doc *d = NULL;
    const dr_node *n;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = describe(c, "DescribeDBInstances", "DBInstanceIdentifier", id, "DBInstanceNotFound", &d, err);
    if (rc != 0 || !d)
        return rc;
    for (n = dr_node_first(dr_node_get(dr_doc_root(d), "DescribeDBInstancesResult.DBInstances")); n;
         n = dr_node_next(n)) {
        const char *got = dr_node_str(n, "DBInstanceIdentifier");
        if (!got || strcasecmp(got, id) != 0)
            continue;
        out->found = 1;
        copy(out->id, sizeof(out->id), got);
        copy(out->status, sizeof(out->status), dr_node_str(n, "DBInstanceStatus"));
        copy(out->klass, sizeof(out->klass), dr_node_str(n, "DBInstanceClass"));
        copy(out->cluster, sizeof(out->cluster), dr_node_str(n, "DBClusterIdentifier"));
        break;
    }
    dr_doc_free(d);
    return 0;
}

/* The global cluster's short id from what DescribeDBClusters or the config says ("g" or "arn:...:global-cluster:g"). */
static const char *global_short(const char *s)
{
    const char *p = strstr(s, ":global-cluster:");
    return p ? p + strlen(":global-cluster:") : s;
}

int au_describe_global(dr_aws *c, const char *id, au_global *out, dr_error *err)
{
    dr_doc *d = NULL;
    const dr_node *g;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = describe(c, "DescribeGlobalClusters", "GlobalClusterIdentifier", global_short(id), NULL, &d, err);
    if (rc != 0 || !d)
        return rc;
    /*
     * GlobalClusters/GlobalClusterMember are the global clusters and
     * GlobalClusterMember/GlobalClusterMembers/GlobalClusterMember their member
     * clusters: the same tag at two depths, so walk by path. Some services
     * answer with every global cluster whatever the filter: match the id.
     */
    for (g = dr_node_first(dr_node_get(dr_doc_root(d), "DescribeGlobalClustersResult.GlobalClusters")); g;
         g = dr_node_next(g)) {
        const char *gid = dr_node_str(g, "GlobalClusterIdentifier");
        const dr_node *m;

        if (!gid || strcasecmp(gid, global_short(id)) != 0)
            continue;
        out->found = 1;
        copy(out->id, sizeof(out->id), gid);
        copy(out->arn, sizeof(out->arn), dr_node_str(g, "GlobalClusterArn"));
        copy(out->status, sizeof(out->status), dr_node_str(g, "Status"));
        copy(out->failover_status, sizeof(out->failover_status), dr_node_str(g, "FailoverState.Status"));
        copy(out->failover_to, sizeof(out->failover_to), dr_node_str(g, "FailoverState.ToDbClusterArn"));
        for (m = dr_node_first(dr_node_get(g, "GlobalClusterMembers")); m && out->n < AU_MAX_MEMBERS;
             m = dr_node_next(m)) {
            au_gmember *gm = &out->m[out->n++];
            copy(gm->arn, sizeof(gm->arn), dr_node_str(m, "DBClusterArn"));
            gm->writer = dr_node_bool(m, "IsWriter", 0);
            copy(gm->sync, sizeof(gm->sync), dr_node_str(m, "SynchronizationStatus"));
        }
        break;
    }
    dr_doc_free(d);
    return 0;
}

const au_member *au_cluster_writer(const au_cluster *cl)
{
    for (size_t i = 0; i < cl->n_members; i++)
        if (cl->members[i].writer)
            return &cl->members[i];
    return NULL;
}

const au_gmember *au_global_member(const au_global *g, const char *cluster_arn)
{
    for (size_t i = 0; i < g->n; i++)
        if (strcmp(g->m[i].arn, cluster_arn) == 0)
            return &g->m[i];
    return NULL;
}

const au_gmember *au_global_writer(const au_global *g)
{
    for (size_t i = 0; i < g->n; i++)
        if (g->m[i].writer)
            return &g->m[i];
    return NULL;
}

int au_cluster_arn(const char *any_arn, const char *region, const char *id, char *out, size_t outlen)
{
    /* arn:<partition>:rds:<region>:<account>:... */
    char part[32], acct[32];
    const char *p = any_arn, *f[5];
    int n = 0;

    if (!any_arn || strncmp(any_arn, "arn:", 4) != 0)
        return DR_EINVAL;
    f[n++] = p;
    while (*p && n < 5) {
        if (*p == ':')
            f[n++] = p + 1;
        p++;
    }
    if (n < 5)
        return DR_EINVAL;
    snprintf(part, sizeof(part), "%.*s", (int)(f[2] - f[1] - 1), f[1]);
    snprintf(acct, sizeof(acct), "%.*s", (int)(strcspn(f[4], ":")), f[4]);
    if (!acct[0])
        return DR_EINVAL;
    snprintf(out, outlen, "arn:%s:rds:%s:%s:cluster:%s", part, region, acct, id);
    return 0;
}

/* A number as RDS takes it ("0.5", "16"). */
static const char *num_str(double v, char out[32])
{
    snprintf(out, 32, "%g", v);
    return out;
}

static void add_num(dr_buf *form, const char *name, double v)
{
    char s[32];
    dr_aws_form_add(form, name, num_str(v, s));
}

static int create_cluster_form(const au_create_spec *s, int with_master, dr_buf *form)
{
    dr_aws_form_add(form, "DBClusterIdentifier", s->id);
    dr_aws_form_add(form, "Engine", AU_ENGINE);
    if (s->engine_version)
        dr_aws_form_add(form, "EngineVersion", s->engine_version);
    if (s->source_arn)
        dr_aws_form_add(form, "ReplicationSourceIdentifier", s->source_arn);
    if (s->global_id)
        dr_aws_form_add(form, "GlobalClusterIdentifier", global_short(s->global_id));
    if (s->subnet_group)
        dr_aws_form_add(form, "DBSubnetGroupName", s->subnet_group);
    for (size_t i = 0; i < s->n_sgs; i++)
        dr_aws_form_addf(form, s->sgs[i], "VpcSecurityGroupIds.VpcSecurityGroupId.%zu", i + 1);
    if (s->kms_key)
        dr_aws_form_add(form, "KmsKeyId", s->kms_key);
    if (s->encrypted)
        dr_aws_form_add(form, "StorageEncrypted", "true");
    add_num(form, "ServerlessV2ScalingConfiguration.MinCapacity", s->min_acu);
    add_num(form, "ServerlessV2ScalingConfiguration.MaxCapacity", s->max_acu);
    if (s->tag_value) {
        dr_aws_form_add(form, "Tags.Tag.1.Key", "dr-agent:role");
        dr_aws_form_add(form, "Tags.Tag.1.Value", s->tag_value);
    }
    if (with_master && s->master_user) {
        /* Only for services that insist on a master user for a replica; the
           service then keeps the password in Secrets Manager, never here. */
        dr_aws_form_add(form, "MasterUsername", s->master_user);
        dr_aws_form_add(form, "ManageMasterUserPassword", "true");
    }
    return form->failed ? DR_ENOMEM : 0;
}

int au_create_cluster(dr_aws *c, const au_create_spec *spec, au_cluster *out, dr_error *err)
{
    dr_buf form = DR_BUF_INIT;
    dr_doc *d = NULL;
    const dr_node *n;
    int rc;

    create_cluster_form(spec, 0, &form);
    rc = rds(c, "CreateDBCluster", &form, &d, err);
    dr_buf_free(&form);
    /*
     * A replica or a global secondary takes its master user from the source.
     * Some implementations (moto) still demand MasterUsername; only then send
     * it, with the password managed by the service.
     */
    if (rc == DR_EAWS && spec->master_user && dr_error_is(err, "InvalidParameterValue") &&
        strstr(err->message, "MasterUser")) {
        dr_error_clear(err);
        dr_buf_init(&form);
        create_cluster_form(spec, 1, &form);
        rc = rds(c, "CreateDBCluster", &form, &d, err);
        dr_buf_free(&form);
    }
    if (rc != 0)
        return rc;
    n = dr_node_get(dr_doc_root(d), "CreateDBClusterResult.DBCluster");
    if (out) {
        if (n)
            parse_cluster(n, out);
        else
            memset(out, 0, sizeof(*out));
    }
    dr_doc_free(d);
    return 0;
}

/* An RDS call whose answer is not needed; the form is NULL-terminated name, value pairs. */
static int rds_action(dr_aws *c, const char *op, dr_error *err, ...)
{
    dr_buf form = DR_BUF_INIT;
    const char *name;
    va_list ap;
    int rc;

    va_start(ap, err);
    while ((name = va_arg(ap, const char *)) != NULL)
        dr_aws_form_add(&form, name, va_arg(ap, const char *));
    va_end(ap);
    rc = rds(c, op, &form, NULL, err);
    dr_buf_free(&form);
    return rc;
}

int au_create_instance(dr_aws *c, const char *id, const char *cluster, const char *klass, dr_error *err)
{
    return rds_action(c, "CreateDBInstance", err, "DBInstanceIdentifier", id, "DBClusterIdentifier", cluster,
                      "DBInstanceClass", klass, "Engine", AU_ENGINE, (const char *)NULL);
}

int au_create_global(dr_aws *c, const char *global_id, const char *source_arn, dr_error *err)
{
    return rds_action(c, "CreateGlobalCluster", err, "GlobalClusterIdentifier", global_short(global_id),
                      "SourceDBClusterIdentifier", source_arn, (const char *)NULL);
}

int au_modify_scaling(dr_aws *c, const char *id, double min_acu, double max_acu, dr_error *err)
{
    char lo[32], hi[32];

    return rds_action(c, "ModifyDBCluster", err, "DBClusterIdentifier", id,
                      "ServerlessV2ScalingConfiguration.MinCapacity", num_str(min_acu, lo),
                      "ServerlessV2ScalingConfiguration.MaxCapacity", num_str(max_acu, hi), "ApplyImmediately", "true",
                      (const char *)NULL);
}

int au_rename_cluster(dr_aws *c, const char *id, const char *new_id, dr_error *err)
{
    return rds_action(c, "ModifyDBCluster", err, "DBClusterIdentifier", id, "NewDBClusterIdentifier", new_id,
                      "ApplyImmediately", "true", (const char *)NULL);
}

int au_switchover(dr_aws *c, const char *global_id, const char *target_arn, dr_error *err)
{
    return rds_action(c, "SwitchoverGlobalCluster", err, "GlobalClusterIdentifier", global_short(global_id),
                      "TargetDbClusterIdentifier", target_arn, (const char *)NULL);
}

int au_failover_global(dr_aws *c, const char *global_id, const char *target_arn, dr_error *err)
{
    return rds_action(c, "FailoverGlobalCluster", err, "GlobalClusterIdentifier", global_short(global_id),
                      "TargetDbClusterIdentifier", target_arn, "AllowDataLoss", "true", (const char *)NULL);
}

int au_remove_from_global(dr_aws *c, const char *global_id, const char *cluster_arn, dr_error *err)
{
    return rds_action(c, "RemoveFromGlobalCluster", err, "GlobalClusterIdentifier", global_short(global_id),
                      "DbClusterIdentifier", cluster_arn, (const char *)NULL);
}
