/* moto.c: start and stop a moto server (AWS emulator) on a free loopback port for integration tests and benchmarks. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "moto.h"

static pid_t moto_pid;
static char url[64];
static char logpath[128];

static int free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static size_t discard(char *p, size_t s, size_t n, void *u)
{
    (void)p, (void)u;
    return s * n;
}

static int request(const char *method, const char *path, const char *body)
{
    CURL *e = curl_easy_init();
    char full[256];
    long status = -1;
    struct curl_slist *h = NULL;

    if (!e)
        return -1;
    snprintf(full, sizeof(full), "%s%s", url, path);
    curl_easy_setopt(e, CURLOPT_URL, full);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    if (strcmp(method, "POST") == 0) {
        h = curl_slist_append(h, "Content-Type: text/plain");
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body ? body : "");
    }
    if (curl_easy_perform(e) == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    else
        status = -1;
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
    return (int)status;
}

int moto_post(const char *path, const char *body)
{
    return request("POST", path, body);
}

const char *moto_url(void)
{
    return url;
}

void moto_stop(void)
{
    if (moto_pid > 0) {
        kill(moto_pid, SIGTERM);
        for (int i = 0; i < 50; i++) {
            if (waitpid(moto_pid, NULL, WNOHANG) == moto_pid) {
                moto_pid = 0;
                return;
            }
            usleep(100000);
        }
        kill(moto_pid, SIGKILL);
        waitpid(moto_pid, NULL, 0);
        moto_pid = 0;
    }
}

int moto_start(void)
{
    const char *py = getenv("DR_PYTHON3");
    int port;
    pid_t parent = getpid();

    if (!py || !*py)
        py = "python3";
    for (int tries = 0; tries < 3; tries++) {
        char portstr[16];
        port = free_port();
        if (port <= 0)
            continue;
        snprintf(portstr, sizeof(portstr), "%d", port);
        snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
        snprintf(logpath, sizeof(logpath), "/tmp/dr-moto-%d.log", port);
        moto_pid = fork();
        if (moto_pid == 0) {
            int fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
            prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
            if (getppid() != parent)
                _exit(1);
            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
                close(fd);
            }
            execlp(py, py, "-m", "moto.server", "-H", "127.0.0.1", "-p", portstr, (char *)NULL);
            _exit(127);
        }
        if (moto_pid < 0)
            return -1;
        atexit(moto_stop);
        for (int i = 0; i < 300; i++) { /* up to 30 s on a loaded machine */
            int st;
            if (waitpid(moto_pid, &st, WNOHANG) == moto_pid) {
                moto_pid = 0;
                break;
            }
            if (request("GET", "/moto-api/", NULL) == 200) {
                unlink(logpath);
                return 0;
            }
            usleep(100000);
        }
        moto_stop();
    }
    printf("moto server did not start (python3 -m moto.server; log %s)\n", logpath);
    return -1;
}
