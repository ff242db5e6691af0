/* protocol.c: one error model for every AWS protocol: code, message and request id, HTML and empty bodies, not-found/denied mapping. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "dr/doc.h"
#include "protocol.h"

const char *drs_request_id(const drs_http_resp *rs)
{
    const char *v = drs_http_header(rs, "x-amzn-RequestId");

    if (!v)
        v = drs_http_header(rs, "x-amz-request-id");
    return v;
}

static void copy(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

/* "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException:http://..." -> "ResourceNotFoundException" */
static void clean_code(char *dst, size_t n, const char *src)
{
    const char *hash = src ? strrchr(src, '#') : NULL;
    size_t len;

    if (!src) {
        dst[0] = '\0';
        return;
    }
    if (hash)
        src = hash + 1;
    len = strcspn(src, ":;");
    if (len >= n)
        len = n - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

static const char *skip_ws(const char *s, size_t len, size_t *left)
{
    size_t i = 0;

    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
        i++;
    *left = len - i;
    return s + i;
}

static int looks_html(const char *s, size_t n)
{
    return (n >= 5 && strncasecmp(s, "<html", 5) == 0) || (n >= 14 && strncasecmp(s, "<!doctype html", 14) == 0);
}

static void from_json(const char *body, size_t len, drs_aws_err *e)
{
    dr_doc *d = NULL;
    dr_error err;
    const dr_node *r;
    const char *v;

    if (dr_doc_parse_json(body, len, &d, &err) != 0 || dr_node_kind_of(dr_doc_root(d)) != DR_NODE_OBJECT) {
        e->body_kind = DRS_BODY_OTHER;
        dr_doc_free(d);
        return;
    }
    r = dr_doc_root(d);
    if (!e->code[0]) {
        if (!(v = dr_node_str(r, "__type")) && !(v = dr_node_str(r, "code")))
            v = dr_node_str(r, "Code");
        clean_code(e->code, sizeof(e->code), v);
    }
    if (!(v = dr_node_str(r, "message")) && !(v = dr_node_str(r, "Message")))
        v = dr_node_str(r, "errorMessage");
    copy(e->message, sizeof(e->message), v);
    if (!e->request_id[0])
        copy(e->request_id, sizeof(e->request_id), dr_node_str(r, "RequestId"));
    dr_doc_free(d);
}

static void from_xml(const char *body, size_t len, drs_aws_err *e)
{
    dr_doc *d = NULL;
    dr_error err;
    const dr_node *r, *er;
    const char *root;

    if (dr_doc_parse_xml(body, len, &d, &err) != 0) {
        e->body_kind = DRS_BODY_OTHER;
        return;
    }
    r = dr_doc_root(d);
    root = dr_node_name(r);
    if (strcmp(root, "ErrorResponse") == 0 || strcmp(root, "Response") == 0) {
        er = dr_node_get(r, "Error");
        if (!er)
            er = dr_node_get(r, "Errors.Error");
        copy(e->code, sizeof(e->code), dr_node_str(er, "Code"));
        copy(e->message, sizeof(e->message), dr_node_str(er, "Message"));
        if (!e->request_id[0]) {
            const char *id = dr_node_str(r, "RequestId");
            copy(e->request_id, sizeof(e->request_id), id ? id : dr_node_str(r, "RequestID"));
        }
    } else if (strcmp(root, "Error") == 0) {
        copy(e->code, sizeof(e->code), dr_node_str(r, "Code"));
        copy(e->message, sizeof(e->message), dr_node_str(r, "Message"));
        if (!e->request_id[0])
            copy(e->request_id, sizeof(e->request_id), dr_node_str(r, "RequestId"));
    } else if (dr_node_kind_of(r) == DR_NODE_OBJECT) {
        /* Legacy roots such as Route 53's <InvalidChangeBatch><Messages><Message>. */
        const char *m = dr_node_str(r, "Messages.Message");
        copy(e->code, sizeof(e->code), root);
        copy(e->message, sizeof(e->message), m ? m : dr_node_str(r, "Message"));
        if (!e->request_id[0])
            copy(e->request_id, sizeof(e->request_id), dr_node_str(r, "RequestId"));
    } else {
        e->body_kind = DRS_BODY_OTHER;
    }
    dr_doc_free(d);
}

void drs_parse_error(dr_aws_protocol proto, const char *method, const drs_http_resp *rs, drs_aws_err *e)
{
    size_t len;
    const char *body = skip_ws(dr_buf_str(&rs->body), rs->body.len, &len);
    const char *h;

    memset(e, 0, sizeof(*e));
    copy(e->request_id, sizeof(e->request_id), drs_request_id(rs));
    /* awsQueryCompatible services (CloudWatch) name the Query code in a header; rest-json puts it in another. */
    if ((h = drs_http_header(rs, "x-amzn-query-error")) != NULL)
        clean_code(e->code, sizeof(e->code), h);
    else if ((proto == DR_AWS_REST_JSON || proto == DR_AWS_JSON) && (h = drs_http_header(rs, "x-amzn-ErrorType")))
        clean_code(e->code, sizeof(e->code), h);
    if (len == 0) {
        /* HEAD answers and some 5xx have no body: the status is the code, as botocore reports it. */
        if (!e->code[0])
            snprintf(e->code, sizeof(e->code), "%d", rs->status);
        e->body_kind = method && strcmp(method, "HEAD") == 0 ? DRS_BODY_AWS : DRS_BODY_EMPTY;
        return;
    }
    if (looks_html(body, len)) {
        e->body_kind = DRS_BODY_HTML;
        e->code[0] = '\0';
        return;
    }
    if (body[0] == '{')
        from_json(body, len, e);
    else if (body[0] == '<')
        from_xml(body, len, e);
    else
        e->body_kind = DRS_BODY_OTHER;
    if (e->body_kind != DRS_BODY_AWS)
        e->code[0] = '\0';
    (void)proto;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

int drs_error_class(int status, const drs_aws_err *e)
{
    const char *c = e->code;

    if (e->body_kind == DRS_BODY_HTML || e->body_kind == DRS_BODY_OTHER)
        return DR_EAWS; /* not an AWS answer: a 404 page says nothing about the resource */
    if (strncmp(c, "NoSuch", 6) == 0 || ends_with(c, "NotFoundException") || ends_with(c, "NotFoundFault") ||
        ends_with(c, "NotFound") || ends_with(c, "NotFoundError") || strcmp(c, "404") == 0 || status == 404)
        return DR_ENOTFOUND;
    if (strcmp(c, "AccessDenied") == 0 || strcmp(c, "AccessDeniedException") == 0 ||
        strcmp(c, "UnauthorizedOperation") == 0 || strcmp(c, "403") == 0 || (status == 403 && !c[0]))
        return DR_EDENIED;
    return DR_EAWS;
}

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t drs_crc32(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint32_t crc = 0xffffffffu;

    pthread_once(&crc_once, crc_init);
    for (size_t i = 0; i < len; i++)
        crc = crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return crc ^ 0xffffffffu;
}
