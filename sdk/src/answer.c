/* answer.c: what a successful answer of each operation must look like (type, root element, members) and how large it may be. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "answer.h"

#define MB (1024u * 1024u)

/* ---- sizes ---- */

/*
 * The largest answers each service's operations give, with room to spare:
 * DynamoDB pages are 1 MB of data (JSON-encoded, up to about twice that);
 * RDS Describe* pages hold at most 100 records of a few kB; Route 53 lists
 * 300 record sets of at most 4 kB text; S3 lists 1,000 keys and a bucket's
 * configuration documents (1,000 lifecycle or replication rules); Backup and
 * CloudWatch pages are below 1 MB; STS and IAM answers are a few kB (a policy
 * document at most 10 kB).
 */
static const struct {
    const char *service;
    size_t limit;
} service_limits[] = {
    {"dynamodb", 4 * MB}, {"rds", 8 * MB},     {"route53", 4 * MB}, {"s3", 4 * MB},
    {"backup", 4 * MB},   {"monitoring", 2 * MB}, {"sts", 1 * MB},  {"iam", 1 * MB},
};

#define DEFAULT_LIMIT (8 * MB)
#define OBJECT_LIMIT (8 * MB) /* S3 GetObject: the agent reads only its own small marker objects */

size_t drs_answer_limit(const char *service, const char *op, const char *method)
{
    (void)method;
    if (service && op && strcmp(service, "s3") == 0 && strcmp(op, "GetObject") == 0)
        return OBJECT_LIMIT;
    for (size_t i = 0; service && i < sizeof(service_limits) / sizeof(service_limits[0]); i++)
        if (strcmp(service_limits[i].service, service) == 0)
            return service_limits[i].limit;
    return DEFAULT_LIMIT;
}

/* ---- shapes ---- */

/* S3 answers with a document: its root element (the others are empty, or an object's content). */
static const struct {
    const char *op;
    const char *root;
} s3_roots[] = {
    {"GetBucketVersioning", "VersioningConfiguration"},
    {"GetBucketLocation", "LocationConstraint"},
    {"GetBucketReplication", "ReplicationConfiguration"},
    {"GetBucketLifecycleConfiguration", "LifecycleConfiguration"},
    {"GetBucketTagging", "Tagging"},
    {"GetObjectTagging", "Tagging"},
    {"GetBucketEncryption", "ServerSideEncryptionConfiguration"},
    {"GetBucketAcl", "AccessControlPolicy"},
    {"GetBucketNotificationConfiguration", "NotificationConfiguration"},
    {"ListObjects", "ListBucketResult"},
    {"ListObjectsV2", "ListBucketResult"},
    {"ListObjectVersions", "ListVersionsResult"},
    {"ListBuckets", "ListAllMyBucketsResult"},
    {"CopyObject", "CopyObjectResult"},
    {"CreateMultipartUpload", "InitiateMultipartUploadResult"},
    {"CompleteMultipartUpload", "CompleteMultipartUploadResult"},
};

/* S3 operations whose answer body is content, not a document. */
static int s3_raw(const char *op)
{
    return strcmp(op, "GetObject") == 0 || strcmp(op, "GetBucketPolicy") == 0;
}

/* JSON answers: a member the operation always returns (the caller reads it; an answer without it is not this operation's). */
static const struct {
    const char *service;
    const char *op;
    const char *member;
} json_members[] = {
    {"dynamodb", "DescribeTable", "Table"},
    {"dynamodb", "DescribeContinuousBackups", "ContinuousBackupsDescription"},
    {"dynamodb", "UpdateContinuousBackups", "ContinuousBackupsDescription"},
    {"dynamodb", "DescribeTimeToLive", "TimeToLiveDescription"},
    {"dynamodb", "CreateTable", "TableDescription"},
    {"dynamodb", "UpdateTable", "TableDescription"},
    {"dynamodb", "DeleteTable", "TableDescription"},
    {"dynamodb", "ListTables", "TableNames"},
    {"backup", "GetBackupPlan", "BackupPlan"},
    {"backup", "CreateBackupPlan", "BackupPlanId"},
    {"backup", "DescribeBackupVault", "BackupVaultName"},
    {"backup", "GetBackupSelection", "BackupSelection"},
};

static const char *trim(const char *b, size_t len, size_t *left)
{
    size_t i = 0;

    while (i < len && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n'))
        i++;
    *left = len - i;
    return b + i;
}

/* By the body: some services and emulators label every answer text/html, so the Content-Type alone proves nothing. */
static int looks_html(const char *s, size_t n)
{
    return (n >= 5 && strncasecmp(s, "<html", 5) == 0) || (n >= 14 && strncasecmp(s, "<!doctype html", 14) == 0);
}

static int bad(dr_error *err, const char *op, const char *what, const char *ctype)
{
    return dr_error_set(err, DR_EPARSE, "HTTP 2xx with %s%s%s%s, not a %s answer", what, ctype ? " (Content-Type " : "",
                        ctype ? ctype : "", ctype ? ")" : "", op);
}

static int parse_json_object(const char *op, const char *service, const char *body, size_t len, const char *ctype,
                             dr_doc **doc, dr_error *err)
{
    dr_error perr;

    dr_error_clear(&perr);
    if (len == 0 || body[0] != '{')
        return bad(err, op, len == 0 ? "an empty body" : "a body that is not a JSON object", ctype);
    if (dr_doc_parse_json(body, len, doc, &perr) != 0)
        return dr_error_set(err, DR_EPARSE, "HTTP 2xx with a body that does not parse as JSON (%s), not a %s answer",
                            perr.message, op);
    if (dr_node_kind_of(dr_doc_root(*doc)) != DR_NODE_OBJECT) {
        dr_doc_free(*doc);
        *doc = NULL;
        return bad(err, op, "a body that is not a JSON object", ctype);
    }
    for (size_t i = 0; service && i < sizeof(json_members) / sizeof(json_members[0]); i++)
        if (strcmp(json_members[i].service, service) == 0 && strcmp(json_members[i].op, op) == 0 &&
            !dr_node_get(dr_doc_root(*doc), json_members[i].member)) {
            dr_doc_free(*doc);
            *doc = NULL;
            return dr_error_set(err, DR_EPARSE, "HTTP 2xx with a JSON object without %s, not a %s answer",
                                json_members[i].member, op);
        }
    return 0;
}

/*
 * root: the element the answer must have at its root; NULL: any XML document.
 * alt: another root accepted for the same answer (NULL: none).
 */
static int parse_xml(const char *op, const char *root, const char *alt, const char *body, size_t len,
                     const char *ctype, dr_doc **doc, dr_error *err)
{
    dr_error perr;
    const char *name;

    dr_error_clear(&perr);
    if (len == 0)
        return bad(err, op, "an empty body", ctype);
    if (body[0] != '<')
        return bad(err, op, "a body that is not XML", ctype);
    if (dr_doc_parse_xml(body, len, doc, &perr) != 0)
        return dr_error_set(err, DR_EPARSE, "HTTP 2xx with a body that does not parse as XML (%s), not a %s answer",
                            perr.message, op);
    name = dr_node_name(dr_doc_root(*doc));
    if (root && (!name || (strcmp(name, root) != 0 && !(alt && strcmp(name, alt) == 0)))) {
        char what[200];
        snprintf(what, sizeof(what), "an XML document rooted at <%.60s> instead of <%.60s>", name ? name : "?", root);
        dr_doc_free(*doc);
        *doc = NULL;
        return bad(err, op, what, ctype);
    }
    return 0;
}

int drs_answer_check(const char *service, const char *op, dr_aws_protocol proto, const char *method,
                     const drs_http_resp *rs, dr_doc **doc, dr_error *err)
{
    const char *ctype = drs_http_header(rs, "Content-Type");
    const char *name = op && *op ? op : "request";
    size_t len;
    const char *body = trim(dr_buf_str(&rs->body), rs->body.len, &len);
    int get = method && strcmp(method, "GET") == 0;
    char root[160];

    *doc = NULL;
    if (method && strcmp(method, "HEAD") == 0)
        return 0; /* no body by definition */
    if (proto == DR_AWS_REST_XML && service && strcmp(service, "s3") == 0 && op && s3_raw(op))
        return 0; /* an object's content, whatever it is */
    if (looks_html(body, len))
        return bad(err, name, "an HTML page", ctype);
    switch (proto) {
    case DR_AWS_JSON:
        return parse_json_object(name, service, body, len, ctype, doc, err);
    case DR_AWS_REST_JSON:
        /* some writes answer with no body at all; a read always has one */
        if (len == 0 && !get)
            return 0;
        return parse_json_object(name, service, body, len, ctype, doc, err);
    case DR_AWS_QUERY: {
        int rc;
        snprintf(root, sizeof(root), "%sResponse", name);
        rc = parse_xml(name, root, NULL, body, len, ctype, doc, err);
        /* a read answers inside <OpResult> (an empty list too): without it, "nothing found" would be a guess */
        if (rc == 0 && (strncmp(name, "Describe", 8) == 0 || strncmp(name, "List", 4) == 0 ||
                        strncmp(name, "Get", 3) == 0)) {
            snprintf(root, sizeof(root), "%sResult", name);
            if (!dr_node_get(dr_doc_root(*doc), root)) {
                dr_doc_free(*doc);
                *doc = NULL;
                return dr_error_set(err, DR_EPARSE, "HTTP 2xx with <%sResponse> but no <%s>, not a %s answer", name,
                                    root, name);
            }
        }
        return rc;
    }
    case DR_AWS_REST_XML:
        if (service && strcmp(service, "s3") == 0) {
            const char *want = NULL;
            for (size_t i = 0; op && i < sizeof(s3_roots) / sizeof(s3_roots[0]); i++)
                if (strcmp(s3_roots[i].op, op) == 0)
                    want = s3_roots[i].root;
            if (!want && len == 0 && !get)
                return 0; /* PUT/DELETE/POST answers without a body */
            /*
             * S3 roots its answers at the element its model names; serializers that wrap them as
             * <OpResponse> (moto's) are parsed alike by the AWS SDKs, which read only the root's children.
             */
            snprintf(root, sizeof(root), "%sResponse", name);
            return parse_xml(name, want, want ? root : NULL, body, len, ctype, doc, err);
        }
        /* Route 53 (and other REST-XML services): <OpResponse> */
        snprintf(root, sizeof(root), "%sResponse", name);
        return parse_xml(name, op && *op ? root : NULL, NULL, body, len, ctype, doc, err);
    }
    return 0;
}
