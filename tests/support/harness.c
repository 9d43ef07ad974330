/*
** harness.c — process and replica helpers for tests/server (harness.h).
*/
#include "harness.h"
#include "netutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "store.h"

#define MAX_ARGS 32

long long th_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Run argv (NULL-terminated) with stdout captured; returns the exit code
** (or 128+signal).  Bounded: killed after 30 s. */
static int run(char *const argv[], char *out, size_t outlen)
{
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(pfd[1]);
    size_t used = 0;
    char buf[4096];
    ssize_t n;
    while ((n = read(pfd[0], buf, sizeof buf)) > 0) {
        if (out && used + 1 < outlen) {
            size_t k = (size_t)n < outlen - used - 1 ? (size_t)n : outlen - used - 1;
            memcpy(out + used, buf, k);
            used += k;
        }
    }
    if (out && outlen)
        out[used] = '\0';
    close(pfd[0]);
    int status = 0;
    long long deadline = th_ms() + 30000;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (th_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            break;
        }
        sleep_ms(5);
    }
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

int th_admin(th_server *s, char *out, size_t outlen, ...)
{
    char *argv[MAX_ARGS];
    int n = 0;
    argv[n++] = (char *)FSV_SERVER_BIN;
    va_list ap;
    va_start(ap, outlen);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < MAX_ARGS - 6)
        argv[n++] = (char *)a;
    va_end(ap);
    argv[n++] = (char *)"--data";
    argv[n++] = s->data;
    if (s->store[0]) {
        argv[n++] = (char *)"--store";
        argv[n++] = s->store;
    }
    argv[n] = NULL;
    return run(argv, out, outlen);
}

static void json_token(const char *text, char *tok)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    assert_non_null(j);
    const char *t = json_string_value(json_object_get(j, "token"));
    assert_non_null(t);
    snprintf(tok, 80, "%s", t);
    json_decref(j);
}

#ifdef FSV_HARNESS_ON_PG
/* A suite built with FSV_HARNESS_ON_PG (and pgcluster.c) runs every
** th_init server on a fresh database of one private PostgreSQL cluster,
** started at the first th_init and stopped at exit by the process that
** started it (not by forked children). */
#include "pgcluster.h"

static ts_pg g_th_pg;
static pid_t g_th_pg_owner;

static void th_pg_stop(void)
{
    if (g_th_pg_owner == getpid())
        ts_pg_stop(&g_th_pg);
}
#endif

void th_init(th_server *s)
{
#ifdef FSV_HARNESS_ON_PG
    if (!g_th_pg_owner) {
        assert_int_equal(ts_pg_start(&g_th_pg), 0);
        g_th_pg_owner = getpid();
        atexit(th_pg_stop);
    }
    char db[64], url[256];
    assert_int_equal(ts_pg_create_db(&g_th_pg, "th", db, sizeof db), 0);
    ts_pg_url(&g_th_pg, db, url, sizeof url);
    th_init_store(s, url);
    return;
#endif
    memset(s, 0, sizeof *s);
    snprintf(s->dir, sizeof s->dir, "/tmp/fsv-test-XXXXXX");
    assert_non_null(mkdtemp(s->dir));
    snprintf(s->data, sizeof s->data, "%s/data", s->dir);
    snprintf(s->ca, sizeof s->ca, "%s/ca.pem", s->data);
    char out[4096];
    assert_int_equal(th_admin(s, out, sizeof out, "init", "--json", NULL), 0);
    json_token(out, s->admin);
}

void th_init_store(th_server *s, const char *store_url)
{
    memset(s, 0, sizeof *s);
    snprintf(s->dir, sizeof s->dir, "/tmp/fsv-test-XXXXXX");
    assert_non_null(mkdtemp(s->dir));
    snprintf(s->data, sizeof s->data, "%s/data", s->dir);
    snprintf(s->ca, sizeof s->ca, "%s/ca.pem", s->data);
    snprintf(s->store, sizeof s->store, "%s", store_url);
    char out[4096];
    assert_int_equal(th_admin(s, out, sizeof out, "init", "--json", NULL), 0);
    json_token(out, s->admin);
}

void th_user(th_server *s, const char *name, const char *role,
             const char *team, char *tok)
{
    char out[4096];
    int rc = team ? th_admin(s, out, sizeof out, "user", "add", name, "--role",
                             role, "--team", team, "--json", NULL)
                  : th_admin(s, out, sizeof out, "user", "add", name, "--role",
                             role, "--json", NULL);
    assert_int_equal(rc, 0);
    json_token(out, tok);
}

void th_start(th_server *s, ...)
{
    if (!s->port) {
        s->port = ts_free_port();
        assert_true(s->port > 0);
        snprintf(s->url, sizeof s->url, "wss://127.0.0.1:%d", s->port);
    }
    char listen[64], log[400];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", s->port);
    snprintf(log, sizeof log, "%s/server.log", s->dir);
    char *argv[MAX_ARGS];
    int n = 0;
    argv[n++] = (char *)FSV_SERVER_BIN;
    argv[n++] = (char *)"serve";
    argv[n++] = (char *)"--data";
    argv[n++] = s->data;
    argv[n++] = (char *)"--listen";
    argv[n++] = listen;
    if (s->store[0]) {
        argv[n++] = (char *)"--store";
        argv[n++] = s->store;
    }
    va_list ap;
    va_start(ap, s);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < MAX_ARGS - 1)
        argv[n++] = (char *)a;
    va_end(ap);
    argv[n] = NULL;

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Never outlive the test, whatever happens to it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 2);
            close(fd);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    s->pid = pid;
    long long deadline = th_ms() + 10000;
    while (!ts_port_open(s->port)) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            s->pid = 0;
            fail_msg("fieldsync-server serve exited early (see %s)", log);
        }
        if (th_ms() > deadline)
            fail_msg("fieldsync-server did not listen on %d", s->port);
        sleep_ms(20);
    }
}

int th_stop(th_server *s, int sig)
{
    int status = 0;
    if (!s->pid)
        return 0;
    kill(s->pid, sig);
    long long deadline = th_ms() + 10000;
    while (waitpid(s->pid, &status, WNOHANG) == 0) {
        if (th_ms() > deadline) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &status, 0);
            break;
        }
        sleep_ms(10);
    }
    s->pid = 0;
    return status;
}

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

pid_t th_fork(th_server *s)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        return 0;
    }
    for (int i = 0; i < TH_MAX_CHILDREN; i++) {
        if (s->children[i] == 0) {
            s->children[i] = pid;
            break;
        }
    }
    return pid;
}

int th_reap(th_server *s, pid_t pid, int timeout_ms)
{
    int status = 0;
    long long deadline = th_ms() + timeout_ms;
    int timed_out = 0;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (th_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            timed_out = 1;
            break;
        }
        sleep_ms(10);
    }
    for (int i = 0; i < TH_MAX_CHILDREN; i++)
        if (s->children[i] == pid)
            s->children[i] = 0;
    if (timed_out)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void th_cleanup(th_server *s)
{
    for (int i = 0; i < TH_MAX_CHILDREN; i++) {
        if (s->children[i] > 0) {
            kill(s->children[i], SIGKILL);
            waitpid(s->children[i], NULL, 0);
            s->children[i] = 0;
        }
    }
    th_stop(s, SIGKILL);
    if (s->dir[0] && !getenv("FSV_TEST_KEEP"))
        nftw(s->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

fds_replica *th_replica(th_server *s, const char *name)
{
    char path[400], err[256];
    snprintf(path, sizeof path, "%s/%s.db", s->dir, name);
    fds_replica *r = NULL;
    int rc = fds_replica_open(path, NULL, &r, err, sizeof err);
    if (rc != FDS_OK)
        fail_msg("cannot open replica %s: %s", path, err);
    return r;
}

fds_replica *th_replica_try(th_server *s, const char *name)
{
    char path[400], err[256];
    snprintf(path, sizeof path, "%s/%s.db", s->dir, name);
    fds_replica *r = NULL;
    if (fds_replica_open(path, NULL, &r, err, sizeof err) != FDS_OK)
        return NULL;
    return r;
}

int th_sync_err(th_server *s, fds_replica *r, const char *token,
                fds_session_stats *st, char *err, size_t errlen)
{
    cli_sync_opts o;
    fds_session_stats tmp;
    memset(&o, 0, sizeof o);
    o.server = s->url;
    o.token = token;
    o.ca_path = s->ca;
    o.timeout_secs = 20;
    return cli_sync(r, &o, st ? st : &tmp, err, errlen);
}

int th_sync(th_server *s, fds_replica *r, const char *token,
            fds_session_stats *st)
{
    char err[512] = "";
    int rc = th_sync_err(s, r, token, st, err, sizeof err);
    if (rc != 0)
        print_message("sync exit %d: %s\n", rc, err);
    return rc;
}

char *th_customer(fds_replica *r, const char *name)
{
    json_t *in = json_pack("{s:s}", "name", name), *out = NULL;
    int rc = fds_customer_add(r, in, &out, NULL);
    json_decref(in);
    if (rc != FDS_OK)
        fail_msg("customer add: %s", fds_errmsg(r));
    char *id = strdup(json_string_value(json_object_get(out, "id")));
    json_decref(out);
    return id;
}

char *th_field(fds_replica *r, const char *id, const char *field)
{
    json_t *c = NULL;
    if (fds_customer_get(r, id, &c) != FDS_OK)
        return strdup("");
    json_t *v = json_object_get(c, field);
    char *s = strdup(json_is_string(v) ? json_string_value(v) : "");
    json_decref(c);
    return s;
}

long long th_history_count(th_server *s)
{
    char path[400], err[256];
    if (s->store[0])
        snprintf(path, sizeof path, "%s", s->store);
    else
        snprintf(path, sizeof path, "sqlite:%s/fieldsync.db", s->data);
    fsv_store *st = NULL;
    if (fsv_store_open(path, 0, &st, err, sizeof err) != FSV_OK)
        fail_msg("open store: %s", err);
    int64_t n = -1;
    assert_int_equal(fsv_store_history_count(st, &n), FSV_OK);
    fsv_store_close(st);
    return (long long)n;
}

pid_t th_sync_child(th_server *s, const char *name, const char *token,
                    int watch)
{
    /* Create the replica here first: two processes creating one SQLite
    ** file at once race on switching it to WAL. */
    fds_replica_close(th_replica(s, name));
    pid_t pid = th_fork(s);
    if (pid == 0) {
        char path[400], err[512];
        fds_replica *r = NULL;
        snprintf(path, sizeof path, "%s/%s.db", s->dir, name);
        if (fds_replica_open(path, NULL, &r, err, sizeof err) != FDS_OK)
            _exit(99);
        cli_sync_opts o;
        fds_session_stats st;
        memset(&o, 0, sizeof o);
        o.server = s->url;
        o.token = token;
        o.ca_path = s->ca;
        o.watch = watch;
        o.timeout_secs = 20;
        int rc = cli_sync(r, &o, &st, err, sizeof err);
        if (rc != 0)
            fprintf(stderr, "sync child %s: exit %d: %s\n", name, rc, err);
        fds_replica_close(r);
        _exit(rc);
    }
    return pid;
}

int th_test_setup(void **state)
{
    th_server *s = calloc(1, sizeof *s);
    if (!s)
        return -1;
    alarm(TH_TEST_ALARM_S);
    *state = s;
    return 0;
}

int th_test_setup_started(void **state)
{
    if (th_test_setup(state) != 0)
        return -1;
    th_init(*state);
    th_start(*state, NULL);
    return 0;
}

int th_test_teardown(void **state)
{
    th_server *s = *state;
    alarm(0);
    th_cleanup(s);
    free(s);
    return 0;
}
