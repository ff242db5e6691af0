/* protocol.h: SDK-internal AWS error model: codes from JSON, Query, REST-XML and S3 answers, and their mapping. */
#ifndef DRS_PROTOCOL_H
#define DRS_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#include "dr/aws.h"
#include "http.h"

enum { DRS_BODY_AWS = 0, DRS_BODY_HTML = 1, DRS_BODY_EMPTY = 2, DRS_BODY_OTHER = 3 };

typedef struct drs_aws_err {
    char code[64];
    char message[320];
    char request_id[80];
    int body_kind; /* DRS_BODY_* */
} drs_aws_err;

/* Pull code, message and request id out of an error answer. */
void drs_parse_error(dr_aws_protocol proto, const char *method, const drs_http_resp *rs, drs_aws_err *e);
/* DR_ENOTFOUND, DR_EDENIED or DR_EAWS for an AWS error answer. */
int drs_error_class(int status, const drs_aws_err *e);
/* The request id headers AWS services use. */
const char *drs_request_id(const drs_http_resp *rs);

uint32_t drs_crc32(const void *data, size_t len);

#endif /* DRS_PROTOCOL_H */
