/* fuzz_aws.c: libFuzzer target for the AWS client's parsers: JSON/XML documents, shared config files, SigV4 canonical forms, error and success answers. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "dr/doc.h"
#include "profile.h"
#include "protocol.h"
#include "sigv4.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dr_doc *d = NULL;
    dr_error err;
    char *text;

    if (size < 1)
        return 0;
    text = malloc(size);
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    switch (data[0] % 6) {
    case 0:
        if (dr_doc_parse_json(text, size - 1, &d, &err) == 0) {
            (void)dr_node_str(dr_doc_root(d), "a.0.b");
            dr_doc_free(d);
        }
        break;
    case 1:
        if (dr_doc_parse_xml(text, size - 1, &d, &err) == 0) {
            double t;
            (void)dr_node_time(dr_doc_root(d), "Expiration", &t);
            dr_doc_free(d);
        }
        break;
    case 2:
    case 3: {
        drs_profiles p = {0};
        if (drs_profiles_parse(&p, text, size - 1, data[0] % 6 == 3, &err) == 0) {
            const char *v = drs_profile_get(&p, "default", "s3");
            free(drs_subprop(v, "endpoint_url"));
        }
        drs_profiles_free(&p);
        break;
    }
    case 4: {
        dr_buf b = DR_BUF_INIT;
        drs_sigv4_canonical_query(&b, text);
        drs_sigv4_canonical_uri(&b, text, 0, 1);
        dr_buf_free(&b);
        break;
    }
    default: {
        drs_http_resp rs;
        drs_aws_err e;
        memset(&rs, 0, sizeof(rs));
        rs.status = 400;
        dr_buf_append(&rs.body, text, size - 1);
        drs_parse_error(DR_AWS_QUERY, "POST", &rs, &e);
        (void)drs_error_class(rs.status, &e);
        {
            /* the same body as a 2xx answer of each protocol */
            static const struct {
                const char *service, *op, *method;
                dr_aws_protocol proto;
            } ops[] = {{"rds", "DescribeDBClusters", "POST", DR_AWS_QUERY},
                       {"s3", "GetBucketReplication", "GET", DR_AWS_REST_XML},
                       {"route53", "GetHealthCheck", "GET", DR_AWS_REST_XML},
                       {"dynamodb", "DescribeTable", "POST", DR_AWS_JSON},
                       {"backup", "GetBackupPlan", "GET", DR_AWS_REST_JSON}};
            for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
                dr_doc *doc = NULL;
                rs.status = 200;
                if (drs_answer_check(ops[i].service, ops[i].op, ops[i].proto, ops[i].method, &rs, &doc, &err) == 0)
                    dr_doc_free(doc);
            }
        }
        drs_http_resp_free(&rs);
        break;
    }
    }
    free(text);
    return 0;
}
