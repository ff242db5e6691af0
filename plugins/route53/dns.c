/* dns.c: a minimal DNS stub client (RFC 1035, one question over UDP, CNAME/A/AAAA answers) to confirm a resolver's answer. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dns.h"
#include "dr/util.h"

#define DNS_MAX_MSG 4096
#define DNS_CLASS_IN 1

static int type_code(const char *type)
{
    if (strcmp(type, "A") == 0)
        return 1;
    if (strcmp(type, "CNAME") == 0)
        return 5;
    if (strcmp(type, "AAAA") == 0)
        return 28;
    return -1;
}

int r53_dns_parse_server(const char *server, char *host, size_t host_len, int *port)
{
    const char *colon;
    unsigned char addr[16];
    size_t hl;
    char *end;
    long p = 53;

    if (!server || !*server)
        return DR_EINVAL;
    if (server[0] == '[') {
        const char *close = strchr(server, ']');
        if (!close)
            return DR_EINVAL;
        hl = (size_t)(close - server - 1);
        if (close[1] == ':')
            colon = close + 1;
        else if (close[1] == '\0')
            colon = NULL;
        else
            return DR_EINVAL;
        server++;
    } else {
        colon = strchr(server, ':');
        if (colon && strchr(colon + 1, ':')) { /* a bare IPv6 address: no port */
            colon = NULL;
        }
        hl = colon ? (size_t)(colon - server) : strlen(server);
    }
    if (hl == 0 || hl >= host_len)
        return DR_EINVAL;
    memcpy(host, server, hl);
    host[hl] = '\0';
    if (colon) {
        errno = 0;
        p = strtol(colon + 1, &end, 10);
        if (errno || *end || end == colon + 1 || p < 1 || p > 65535)
            return DR_EINVAL;
    }
    if (inet_pton(AF_INET, host, addr) != 1 && inet_pton(AF_INET6, host, addr) != 1)
        return DR_EINVAL;
    *port = (int)p;
    return 0;
}

/* Append the labels of `name` to the message; 0 or DR_EINVAL. */
static int put_qname(unsigned char *msg, size_t cap, size_t *off, const char *name)
{
    const char *p = name;

    while (*p) {
        const char *dot = strchr(p, '.');
        size_t l = dot ? (size_t)(dot - p) : strlen(p);
        if (l == 0 || l > 63 || *off + 1 + l >= cap)
            return DR_EINVAL;
        msg[(*off)++] = (unsigned char)l;
        memcpy(msg + *off, p, l);
        *off += l;
        p += l;
        if (*p == '.')
            p++;
    }
    if (*off + 1 > cap)
        return DR_EINVAL;
    msg[(*off)++] = 0;
    return 0;
}

/*
 * Read the (possibly compressed) name at *off into out (lower-case, dotted,
 * no trailing dot) and move *off past it in the message. 0 or DR_EPARSE.
 */
static int read_name(const unsigned char *msg, size_t len, size_t *off, char *out, size_t outlen)
{
    size_t pos = *off, o = 0;
    int jumped = 0, hops = 0;

    if (outlen == 0)
        return DR_EPARSE;
    out[0] = '\0';
    for (;;) {
        unsigned l;
        if (pos >= len)
            return DR_EPARSE;
        l = msg[pos];
        if ((l & 0xC0) == 0xC0) {
            if (pos + 1 >= len || ++hops > 32)
                return DR_EPARSE;
            if (!jumped)
                *off = pos + 2;
            jumped = 1;
            pos = ((l & 0x3Fu) << 8) | msg[pos + 1];
            continue;
        }
        if (l & 0xC0)
            return DR_EPARSE;
        pos++;
        if (l == 0)
            break;
        if (pos + l > len || o + l + 2 > outlen)
            return DR_EPARSE;
        if (o > 0)
            out[o++] = '.';
        for (unsigned i = 0; i < l; i++)
            out[o++] = (char)tolower(msg[pos + i]);
        out[o] = '\0';
        pos += l;
    }
    if (!jumped)
        *off = pos;
    return 0;
}

static uint16_t get16(const unsigned char *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

/* Parse a reply to our question: 0 with the answers of `qtype` in answer, 1 when it is not our reply, or < 0. */
static int parse_reply(const unsigned char *msg, size_t len, uint16_t id, int qtype, char *answer, size_t answer_len,
                       dr_error *err)
{
    size_t off = 12, alen = 0;
    unsigned qd, an, rcode;
    char name[256];

    if (len < 12 || get16(msg) != id || !(msg[2] & 0x80))
        return 1;
    rcode = msg[3] & 0x0F;
    qd = get16(msg + 4);
    an = get16(msg + 6);
    answer[0] = '\0';
    if (rcode == 3) /* NXDOMAIN: the name has no records at all */
        return 0;
    if (rcode != 0)
        return dr_error_set(err, DR_ENETWORK, "the resolver answered with DNS error code %u", rcode);
    for (unsigned i = 0; i < qd; i++) {
        if (read_name(msg, len, &off, name, sizeof(name)) != 0 || off + 4 > len)
            return dr_error_set(err, DR_EPARSE, "malformed DNS reply (question)");
        off += 4;
    }
    for (unsigned i = 0; i < an; i++) {
        unsigned type, rdlen;
        char value[256];
        size_t vl;

        if (read_name(msg, len, &off, name, sizeof(name)) != 0 || off + 10 > len)
            return dr_error_set(err, DR_EPARSE, "malformed DNS reply (answer %u)", i + 1);
        type = get16(msg + off);
        rdlen = get16(msg + off + 8);
        off += 10;
        if (off + rdlen > len)
            return dr_error_set(err, DR_EPARSE, "malformed DNS reply (answer %u data)", i + 1);
        value[0] = '\0';
        if ((int)type == qtype && type == 5) {
            size_t r = off;
            if (read_name(msg, len, &r, value, sizeof(value)) != 0)
                return dr_error_set(err, DR_EPARSE, "malformed DNS reply (CNAME data)");
        } else if ((int)type == qtype && type == 1 && rdlen == 4) {
            inet_ntop(AF_INET, msg + off, value, sizeof(value));
        } else if ((int)type == qtype && type == 28 && rdlen == 16) {
            inet_ntop(AF_INET6, msg + off, value, sizeof(value));
        }
        off += rdlen;
        vl = strlen(value);
        if (vl == 0)
            continue;
        if (alen + vl + 2 > answer_len)
            return dr_error_set(err, DR_EPARSE, "DNS answer too long");
        if (alen > 0)
            answer[alen++] = ',';
        memcpy(answer + alen, value, vl + 1);
        alen += vl;
    }
    return 0;
}

int r53_dns_query(const char *server, const char *name, const char *type, int timeout_ms, char *answer,
                  size_t answer_len, dr_error *err)
{
    unsigned char msg[DNS_MAX_MSG];
    char host[64], qname[256];
    struct sockaddr_storage ss;
    socklen_t sl;
    size_t off = 12, nl;
    uint16_t id = 0;
    int qtype = type_code(type), port, fd = -1, rc;
    int64_t deadline = dr_mono_ms() + (timeout_ms > 0 ? timeout_ms : 1);

    if (qtype < 0)
        return dr_error_set(err, DR_EINVAL, "DNS query type %s is not supported", type);
    if (r53_dns_parse_server(server, host, sizeof(host), &port) != 0)
        return dr_error_set(err, DR_EINVAL, "resolver '%s' is not a numeric address with an optional port", server);
    nl = strlen(name);
    if (nl == 0 || nl >= sizeof(qname))
        return dr_error_set(err, DR_EINVAL, "bad DNS name '%s'", name);
    memcpy(qname, name, nl + 1);
    if (qname[nl - 1] == '.')
        qname[nl - 1] = '\0';

    memset(&ss, 0, sizeof(ss));
    if (inet_pton(AF_INET, host, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
        ((struct sockaddr_in *)&ss)->sin_family = AF_INET;
        ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
        sl = sizeof(struct sockaddr_in);
    } else {
        inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)&ss)->sin6_addr);
        ((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
        ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
        sl = sizeof(struct sockaddr_in6);
    }

    /* An unpredictable id makes a spoofed reply harder to slip in. */
    if (getrandom(&id, sizeof(id), 0) != (ssize_t)sizeof(id))
        id = (uint16_t)(dr_mono_ms() ^ getpid());
    memset(msg, 0, 12);
    msg[0] = (unsigned char)(id >> 8);
    msg[1] = (unsigned char)id;
    msg[2] = 0x01; /* RD */
    msg[5] = 1;    /* QDCOUNT */
    if (put_qname(msg, sizeof(msg) - 4, &off, qname) != 0)
        return dr_error_set(err, DR_EINVAL, "bad DNS name '%s'", name);
    msg[off++] = (unsigned char)(qtype >> 8);
    msg[off++] = (unsigned char)qtype;
    msg[off++] = 0;
    msg[off++] = DNS_CLASS_IN;

    fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rc = dr_error_set(err, DR_ENETWORK, "DNS socket: %s", strerror(errno));
        goto out;
    }
    /* connect() so that only the resolver's replies reach us. */
    if (connect(fd, (struct sockaddr *)&ss, sl) != 0 || send(fd, msg, off, 0) != (ssize_t)off) {
        rc = dr_error_set(err, DR_ENETWORK, "DNS query to %s: %s", server, strerror(errno));
        goto out;
    }
    for (;;) {
        struct pollfd pfd = {fd, POLLIN, 0};
        int64_t left = deadline - dr_mono_ms();
        ssize_t n;

        if (left <= 0) {
            rc = dr_error_set(err, DR_ETIMEDOUT, "no DNS reply from %s within %d ms", server, timeout_ms);
            goto out;
        }
        rc = poll(&pfd, 1, (int)left);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            continue; /* the deadline check above ends the loop */
        n = recv(fd, msg, sizeof(msg), 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = dr_error_set(err, DR_ENETWORK, "DNS reply from %s: %s", server, strerror(errno));
            goto out;
        }
        rc = parse_reply(msg, (size_t)n, id, qtype, answer, answer_len, err);
        if (rc != 1)
            goto out;
    }
out:
    if (fd >= 0)
        close(fd);
    return rc;
}
