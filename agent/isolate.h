/* isolate.h: runs one plugin call in a forked child process and relays what it reports over a framed pipe. */
#ifndef AG_ISOLATE_H
#define AG_ISOLATE_H

/*
 * The child writes frames to a pipe; the parent reads them and hands each
 * one to a callback, then reaps the child. Whatever ends the child (a
 * signal, exit(), a kill at the deadline) becomes an outcome with a message,
 * never the end of the parent.
 *
 * Frame: 1 byte type, 4 bytes payload length (host order, at most
 * ISO_MAX_FRAME), the payload: a 32-bit integer, a double, a count of
 * strings, then each string as a 32-bit length (0xffffffff: NULL) and its
 * bytes. Parent and child are the same binary, so host order is enough.
 *
 * Ownership: an iso_msg's strings point into a buffer the reader owns; they
 * are valid during the callback only.
 */

#include <stddef.h>
#include <stdint.h>

#define ISO_MAX_FRAME (1u << 20)
#define ISO_MAX_STRINGS 8

/* Frame types. */
enum {
    ISO_LOG = 'L',      /* i: level, s[0]: text, s[1]: source ("aws" for the SDK, NULL for the plugin) */
    ISO_PROGRESS = 'P', /* s[0]: text */
    ISO_CHECK = 'C',    /* i: status, s[0..4]: name, observed, threshold, unit, detail */
    ISO_CHANGE = 'X',   /* i: state, s[0..2]: action, target, detail */
    ISO_RPO = 'O',      /* d: seconds */
    ISO_BACKUP_AGE = 'A', /* d: seconds (recovery_point_age) */
    ISO_CONTROL_PLANE = 'Q', /* s[0..1]: service, region (failover_control_plane) */
    ISO_RESULT = 'R'    /* i: return value, s[0]: error message; the last frame of a call that returned */
};

typedef struct iso_msg {
    int type;
    int32_t i;
    double d;
    size_t n;
    const char *s[ISO_MAX_STRINGS];
} iso_msg;

/* How an isolated call ended. */
typedef struct iso_outcome {
    int returned;      /* the call returned and its ISO_RESULT frame arrived */
    int rc;            /* its return value (when returned) */
    char message[512]; /* its error message (when returned), else what ended the child */
    int timed_out;     /* killed past its deadline */
    int cancelled;     /* killed after the cancel request */
} iso_outcome;

/* In the child: runs the call, returns its value; err_out (512 bytes) takes its error message. */
typedef int (*iso_body_fn)(void *arg, char *err_out, size_t err_len);
/* In the parent: one frame other than ISO_RESULT. */
typedef void (*iso_frame_fn)(void *arg, const iso_msg *m);
/* In the parent: non-zero once the run is cancelled. */
typedef int (*iso_cancel_fn)(void);

/*
 * Fork, run body(body_arg) in the child, relay its frames to on_frame and
 * wait for it. At deadline_ms (dr_mono_ms; 0: none) or on cancel the child
 * gets SIGTERM, grace_ms later SIGKILL. `what` names the call in messages
 * ("verify", "init"). 0 when the child could be started (out says how it
 * ended), or a negative DR_E* code when it could not (out->message says why).
 */
int iso_call(const char *what, iso_body_fn body, void *body_arg, iso_frame_fn on_frame, void *frame_arg,
             int64_t deadline_ms, int64_t grace_ms, iso_cancel_fn cancelled, iso_outcome *out);

/* Non-zero in an isolated child (host calls there are sent to the parent). */
int iso_in_child(void);

/* In the child: send one frame; strings may be NULL. 0, or -1 once the parent is gone. */
int iso_send(int type, int32_t i, double d, size_t n, const char *const *s);

#endif
