/*
** flib.c — see flib.h.
*/
#include "flib.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define MAX_ARGS 40

static char **make_env(const char *const *extra)
{
    static const char *const base[] = {"PATH=/usr/bin:/bin", "TZ=UTC",
                                       "LANG=C.UTF-8", NULL};
    char **env = calloc(40, sizeof *env);
    size_t n = 0;
    for (size_t i = 0; base[i]; i++)
        env[n++] = strdup(base[i]);
    for (size_t i = 0; extra && extra[i] && n < 30; i++)
        env[n++] = strdup(extra[i]);
    const char *pass[] = {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS",
                          "HOME", NULL};
    for (size_t i = 0; pass[i]; i++) {
        const char *v = getenv(pass[i]);
        size_t kl = strlen(pass[i]);
        for (size_t j = 0; v && extra && extra[j]; j++)
            if (strncmp(extra[j], pass[i], kl) == 0 && extra[j][kl] == '=')
                v = NULL;           /* the caller's value wins */
        if (v && n < 38) {
            char *e = malloc(strlen(pass[i]) + strlen(v) + 2);
            sprintf(e, "%s=%s", pass[i], v);
            env[n++] = e;
        }
    }
    env[n] = NULL;
    return env;
}

static void free_env(char **env)
{
    for (size_t i = 0; env[i]; i++)
        free(env[i]);
    free(env);
}

static size_t collect_args(const char **argv, const char *db, va_list ap)
{
    size_t n = 0;
    argv[n++] = FIELDSYNC_BIN;
    argv[n++] = "--db";
    argv[n++] = db;
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < MAX_ARGS - 1)
        argv[n++] = a;
    argv[n] = NULL;
    return n;
}

static void take(int fd, char *buf, size_t *used, int *open)
{
    char tmp[4096];
    ssize_t k = read(fd, tmp, sizeof tmp);
    if (k <= 0) {
        *open = 0;
        return;
    }
    size_t room = FL_OUT - 1 - *used;
    size_t c = (size_t)k < room ? (size_t)k : room;
    memcpy(buf + *used, tmp, c);
    *used += c;
    buf[*used] = '\0';
}

void fl_run(fl_res *r, const char *db, const char *const *env, int timeout_ms,
            ...)
{
    const char *argv[MAX_ARGS];
    va_list ap;
    va_start(ap, timeout_ms);
    collect_args(argv, db, ap);
    va_end(ap);
    memset(r, 0, sizeof *r);
    int po[2], pe[2];
    assert_int_equal(pipe(po), 0);
    assert_int_equal(pipe(pe), 0);
    char **e = make_env(env);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(po[1], 1);
        dup2(pe[1], 2);
        close(po[0]); close(po[1]); close(pe[0]); close(pe[1]);
        execve(argv[0], (char *const *)argv, e);
        _exit(127);
    }
    free_env(e);
    close(po[1]);
    close(pe[1]);
    size_t uo = 0, ue = 0;
    int oo = 1, eo = 1, status = 0, killed = 0;
    long long deadline = th_ms() + timeout_ms;
    while (oo || eo) {
        struct pollfd pf[2] = {{oo ? po[0] : -1, POLLIN, 0},
                               {eo ? pe[0] : -1, POLLIN, 0}};
        long long left = deadline - th_ms();
        if (left <= 0 && !killed) {
            kill(pid, SIGKILL);
            killed = 1;
        }
        poll(pf, 2, left > 0 ? (int)(left < 200 ? left : 200) : 200);
        if (pf[0].revents)
            take(po[0], r->out, &uo, &oo);
        if (pf[1].revents)
            take(pe[0], r->err, &ue, &eo);
    }
    close(po[0]);
    close(pe[0]);
    waitpid(pid, &status, 0);
    r->code = WIFEXITED(status) ? WEXITSTATUS(status)
                                : 128 + WTERMSIG(status);
}

pid_t fl_spawn(th_server *s, const char *db, const char *const *env,
               const char *errfile, ...)
{
    const char *argv[MAX_ARGS];
    va_list ap;
    va_start(ap, errfile);
    collect_args(argv, db, ap);
    va_end(ap);
    char **e = make_env(env);
    pid_t pid = th_fork(s);
    if (pid == 0) {
        int fd = open(errfile ? errfile : "/dev/null",
                      O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execve(argv[0], (char *const *)argv, e);
        _exit(127);
    }
    free_env(e);
    return pid;
}

int fl_proxy(th_server *s, pid_t *pid, ...)
{
    const char *argv[MAX_ARGS];
    char to[16];
    size_t n = 0;
    snprintf(to, sizeof to, "%d", s->port);
    argv[n++] = FAULT_PROXY_BIN;
    argv[n++] = "--to";
    argv[n++] = to;
    va_list ap;
    va_start(ap, pid);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < MAX_ARGS - 1)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    *pid = th_fork(s);
    if (*pid == 0) {
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(pfd[1]);
    char buf[32] = "";
    size_t used = 0;
    while (used < sizeof buf - 1 && !strchr(buf, '\n')) {
        ssize_t k = read(pfd[0], buf + used, sizeof buf - 1 - used);
        if (k <= 0)
            break;
        used += (size_t)k;
        buf[used] = '\0';
    }
    close(pfd[0]);
    int port = atoi(buf);
    if (port <= 0)
        fail_msg("fault_proxy did not start");
    return port;
}

int fl_listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    assert_true(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 16), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

char *fl_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return strdup("");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    size_t k = fread(b, 1, (size_t)n, f);
    b[k] = '\0';
    fclose(f);
    return b;
}
