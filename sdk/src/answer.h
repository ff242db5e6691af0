/* answer.h: SDK-internal shape and size rules of a successful (2xx) answer, per protocol and operation. */
#ifndef DRS_ANSWER_H
#define DRS_ANSWER_H

/*
 * Ownership: drs_answer_check() hands the parsed document to the caller in
 * *doc (dr_doc_free); the response is borrowed.
 */

#include <stddef.h>

#include "dr/aws.h"
#include "http.h"

/* The largest answer `op` of `service` can return, in bytes (the body of one call is refused beyond it). */
size_t drs_answer_limit(const char *service, const char *op, const char *method);

/*
 * Check a 2xx answer against the shape its operation returns and parse it:
 * 0 with *doc (NULL for an answer without a document: HEAD, an object's
 * content, an empty body the operation may send), or DR_EPARSE with err
 * saying what the answer was instead (an HTML page, an empty body, another
 * root element, a JSON value that is not an object, a missing member).
 */
int drs_answer_check(const char *service, const char *op, dr_aws_protocol proto, const char *method,
                     const drs_http_resp *rs, dr_doc **doc, dr_error *err);

#endif /* DRS_ANSWER_H */
