/* dns.h: a minimal DNS stub client (one question over UDP) that the route53 plugin uses to confirm a resolver's answer. */
#ifndef R53_DNS_H
#define R53_DNS_H

/*
 * Ownership: every argument is borrowed for the call; the answer is written
 * into the caller's buffer. Nothing is allocated that outlives the call.
 */

#include <stddef.h>

#include "dr/error.h"

/*
 * Ask `server` ("192.0.2.53", "192.0.2.53:5353", "[2001:db8::53]:53" or
 * "2001:db8::53"; numeric addresses only, so no system resolver is involved)
 * for `name` of `type` ("CNAME", "A" or "AAAA") with recursion desired.
 * Waits at most timeout_ms. On success writes the answers of that type,
 * lower-cased, without a trailing dot and separated by ',' into `answer`
 * ("" when the name has no such record) and returns 0; else a negative
 * DR_E* code with err filled (DR_ETIMEDOUT when no reply came, DR_EAWS never).
 */
int r53_dns_query(const char *server, const char *name, const char *type, int timeout_ms, char *answer,
                  size_t answer_len, dr_error *err);

/* Parse "host[:port]" / "[v6]:port" into a numeric address and port; 0 or DR_EINVAL. For config validation. */
int r53_dns_parse_server(const char *server, char *host, size_t host_len, int *port);

#endif /* R53_DNS_H */
