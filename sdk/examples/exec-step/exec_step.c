/* exec_step.c: an example third-party plugin: runs an operator-supplied command as a DR step, with a timeout and output capture. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dr/check.h>
#include <dr/plugin.h>
#include <dr/util.h>

static const dr_host_api *H;

static const dr_config_key keys[] = {
    {"failover_command", DR_KEY_LIST, 0, NULL, NULL, "argv run by failover, e.g. [\"/usr/local/bin/switch-queue\", \"us-west-2\"]"},
    {"failback_command", DR_KEY_LIST, 0, NULL, NULL, "argv run by failback"},
    {"configure_command", DR_KEY_LIST, 0, NULL, NULL, "argv run by configure"},
    {"verify_command", DR_KEY_LIST, 0, NULL, NULL,
     "argv run by verify; exit status as a Nagios plugin: 0 OK, 1 WARNING, 2 CRITICAL, other UNKNOWN"},
    {"command_timeout", DR_KEY_DURATION, 0, "5m", NULL, "the command is killed after this long (and at the hook deadline)"},
    {"output_bytes", DR_KEY_INT, 0, "400", NULL, "how much of the command's output (the end) goes into the report"},
};

static int ex_init(const dr_host_api *host, dr_error *err)
{
    (void)err;
    H = host;
    return 0;
}

static int ex_validate(dr_resource *res, dr_error *err)
{
    static const char *const lists[] = {"failover_command", "failback_command", "configure_command", "verify_command"};
    int any = 0;

    for (size_t i = 0; i < 4; i++) {
        size_t n = H->cfg_list_count(res, lists[i]);
        if (n && H->cfg_list_item(res, lists[i], 0)[0] != '/')
            return dr_error_set(err, DR_ECONFIG, "%s: the program must be an absolute path, not '%s'", lists[i],
                                H->cfg_list_item(res, lists[i], 0));
        any |= n > 0;
    }
    if (!any)
        return dr_error_set(err, DR_ECONFIG, "set at least one of failover_command, failback_command, "
                                             "configure_command, verify_command");
    if (H->cfg_int(res, "output_bytes") < 0 || H->cfg_int(res, "output_bytes") > 65536)
        return dr_error_set(err, DR_ECONFIG, "output_bytes must be 0..65536");
    return 0;
}

/* The command line as one string for reports. */
static void describe(dr_resource *res, const char *key, char *out, size_t len)
{
    size_t off = 0;

    out[0] = '\0';
    for (size_t i = 0; i < H->cfg_list_count(res, key) && off < len; i++)
        off += (size_t)snprintf(out + off, len - off, "%s%s", i ? " " : "", H->cfg_list_item(res, key, i));
}

/*
 * Run argv from config key `key`; its exit status in *status, the tail of
 * its output (stdout and stderr together) in out. Kills the command's
 * process group at the timeout, the hook deadline or a cancel.
 */
static int run_command(dr_resource *res, const char *key, int *status, char *out, size_t outlen, dr_error *err)
{
    size_t argc = H->cfg_list_count(res, key);
    char **argv = calloc(argc + 1, sizeof(char *));
    int64_t deadline = dr_mono_ms() + (int64_t)(H->cfg_float(res, "command_timeout") * 1000.0);
    size_t keep = (size_t)H->cfg_int(res, "output_bytes"), used = 0;
    int pipefd[2] = {-1, -1}, rc = 0, wst = 0;
    pid_t pid = -1;

    out[0] = '\0';
    if (keep >= outlen)
        keep = outlen - 1;
    if (!argv)
        return dr_error_set(err, DR_ENOMEM, "out of memory");
    for (size_t i = 0; i < argc; i++)
        argv[i] = (char *)H->cfg_list_item(res, key, i);
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        rc = dr_error_set(err, DR_EIO, "pipe: %s", strerror(errno));
        goto out;
    }
    pid = fork();
    if (pid < 0) {
        rc = dr_error_set(err, DR_EIO, "fork: %s", strerror(errno));
        goto out;
    }
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        setpgid(0, 0);
        if (devnull >= 0)
            dup2(devnull, STDIN_FILENO);
        dup2(pipefd[1], STDOUT_FILENO);
        dup2(pipefd[1], STDERR_FILENO);
        execv(argv[0], argv);
        dprintf(STDERR_FILENO, "cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid);
    close(pipefd[1]);
    pipefd[1] = -1;
    H->progress(res, "running %s", argv[0]);
    for (;;) {
        struct pollfd p = {pipefd[0], POLLIN, 0};
        char buf[4096];
        ssize_t n;

        if (H->should_stop(res) || dr_mono_ms() >= deadline) {
            kill(-pid, SIGTERM);
            usleep(200 * 1000);
            kill(-pid, SIGKILL);
            waitpid(pid, &wst, 0);
            pid = -1;
            rc = dr_error_set(err, H->should_stop(res) ? DR_ECANCELED : DR_ETIMEDOUT, "%s was killed: %s", argv[0],
                              H->should_stop(res) ? "the hook was stopped" : "command_timeout passed");
            goto out;
        }
        if (poll(&p, 1, 200) <= 0)
            continue;
        n = read(pipefd[0], buf, sizeof(buf));
        if (n <= 0)
            break; /* EOF: the command closed its output */
        /* keep the last `keep` bytes */
        if ((size_t)n >= keep) {
            memcpy(out, buf + (size_t)n - keep, keep);
            used = keep;
        } else {
            if (used + (size_t)n > keep) {
                size_t drop = used + (size_t)n - keep;
                memmove(out, out + drop, used - drop);
                used -= drop;
            }
            memcpy(out + used, buf, (size_t)n);
            used += (size_t)n;
        }
        out[used] = '\0';
    }
    while (waitpid(pid, &wst, 0) < 0 && errno == EINTR)
        ;
    pid = -1;
    *status = WIFEXITED(wst) ? WEXITSTATUS(wst) : 128 + (WIFSIGNALED(wst) ? WTERMSIG(wst) : 0);
    for (size_t i = 0; i < used; i++)
        if (out[i] == '\n' || out[i] == '\r')
            out[i] = ' ';
out:
    if (pid > 0) {
        kill(-pid, SIGKILL);
        waitpid(pid, &wst, 0);
    }
    if (pipefd[0] >= 0)
        close(pipefd[0]);
    if (pipefd[1] >= 0)
        close(pipefd[1]);
    free(argv);
    return rc;
}

static int action(dr_resource *res, const dr_hook_args *args, dr_error *err, const char *key)
{
    char cmd[512], output[1024];
    int status = 0, rc;

    if (H->cfg_list_count(res, key) == 0)
        return 0; /* nothing to do for this hook */
    describe(res, key, cmd, sizeof(cmd));
    if (args->dry_run) {
        H->change(res, DR_CHANGE_PLANNED, "run", cmd, "would run the command");
        return 0;
    }
    rc = run_command(res, key, &status, output, sizeof(output), err);
    if (rc == 0 && status != 0)
        rc = dr_error_set(err, DR_ESTATE, "%s exited with status %d: %s", cmd, status, output);
    H->change(res, rc == 0 ? DR_CHANGE_DONE : DR_CHANGE_FAILED, "run", cmd, rc == 0 ? output : err->message);
    return rc;
}

static int ex_configure(dr_resource *r, const dr_hook_args *a, dr_error *e) { return action(r, a, e, "configure_command"); }
static int ex_failover(dr_resource *r, const dr_hook_args *a, dr_error *e) { return action(r, a, e, "failover_command"); }
static int ex_failback(dr_resource *r, const dr_hook_args *a, dr_error *e) { return action(r, a, e, "failback_command"); }

static int ex_verify(dr_resource *res, const dr_hook_args *args, dr_error *err)
{
    static const dr_status by_exit[] = {DR_STATUS_OK, DR_STATUS_WARNING, DR_STATUS_CRITICAL};
    char cmd[512], output[1024], code[16];
    int status = 0;

    (void)args;
    if (H->cfg_list_count(res, "verify_command") == 0) {
        dr_report_state(H, res, "command", DR_STATUS_OK, "none", NULL, "no verify_command configured");
        return 0;
    }
    describe(res, "verify_command", cmd, sizeof(cmd));
    if (run_command(res, "verify_command", &status, output, sizeof(output), err) != 0) {
        dr_report_unknown(H, res, "command", "0", err);
        return 0;
    }
    snprintf(code, sizeof(code), "%d", status);
    dr_report_state(H, res, "command", status >= 0 && status <= 2 ? by_exit[status] : DR_STATUS_UNKNOWN, code, "0",
                    "%s: %s", cmd, output[0] ? output : "(no output)");
    return 0;
}

/* It calls no AWS service (it runs commands): an empty list, not NULL (which means "not declared"). */
static const char *const no_services[] = {NULL};

static const dr_plugin_descriptor descriptor = {
    DR_PLUGIN_HEADER,
    "exec",
    "1.0.0",
    "runs an operator-supplied command as a DR step (timeout, output capture, Nagios-style verify)",
    keys,
    sizeof(keys) / sizeof(keys[0]),
    NULL,
    ex_init,
    ex_validate,
    ex_configure,
    ex_verify,
    ex_failover,
    ex_failback,
    no_services,
    NULL, /* cleanup: nothing retired */
    NULL, /* prepare (ABI 1.1): none, the command runs in the commit */
    NULL, /* diagnose (ABI 1.1): nothing to diagnose */
};

DR_PLUGIN_DECLARE_ENTRY
{
    return &descriptor;
}
