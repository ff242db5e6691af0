/* moto.h: start and stop a moto server (AWS emulator) on a free loopback port for integration tests and benchmarks. */
#ifndef DR_MOTO_H
#define DR_MOTO_H

/* Start `python3 -m moto.server` (python3 from DR_PYTHON3, else PATH); 0 when it answers, else -1 with a reason printed. */
int moto_start(void);
/* Stop it (also registered with atexit; the server dies with this process in any case). */
void moto_stop(void);
const char *moto_url(void); /* "http://127.0.0.1:<port>" */
/* POST to a moto-api path with a text/plain body; returns the HTTP status or -1. */
int moto_post(const char *path, const char *body);

#endif
