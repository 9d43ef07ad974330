/*
** test_jvm.c — libfieldsync embedded the way an Android app embeds it:
** tests/jvm/src/PhoneSync.java calls the library through JNA and carries
** the sans-I/O session over java.net.http's WebSocket client (the server's
** CA pinned, subprotocol fieldsync.v1, Authorization: Bearer), against the
** real fieldsync-server over TLS on 127.0.0.1.  A second device on the
** CLI's transport (cli_sync, client-cli/transport_lws.c) must then see what
** the phone wrote, and the phone what that device wrote.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* Run PhoneSync with the server's URL, token and CA, plus mode args
** (NULL-terminated); its stdout parsed as JSON (NULL if it failed). */
static json_t *phone(th_server *s, const char *replica, const char *token, ...)
{
    char db[600], classpath[2048];
    snprintf(db, sizeof db, "%s/%s.db", s->dir, replica);
    snprintf(classpath, sizeof classpath, "%s:%s", JNA_JAR, JVM_CLASSES);
    char *argv[24];
    int n = 0;
    argv[n++] = (char *)JAVA_BIN;
    argv[n++] = (char *)"-Xshare:auto";
    argv[n++] = (char *)"-cp";
    argv[n++] = classpath;
    argv[n++] = (char *)"PhoneSync";
    argv[n++] = (char *)FDS_LIB;
    argv[n++] = db;
    argv[n++] = s->url;
    argv[n++] = (char *)token;
    argv[n++] = s->ca;
    va_list ap;
    va_start(ap, token);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < 22)
        argv[n++] = (char *)a;
    va_end(ap);
    argv[n] = NULL;

    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = th_fork(s);
    if (pid == 0) {
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        execv(JAVA_BIN, argv);
        _exit(127);
    }
    close(pfd[1]);
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    for (;;) {
        struct pollfd p = { .fd = pfd[0], .events = POLLIN };
        int pr = poll(&p, 1, 120000);
        assert_true(pr > 0);                /* a JVM silent for 2 min: hung */
        if (len + 4096 > cap) {
            cap *= 2;
            out = realloc(out, cap);
            assert_non_null(out);
        }
        ssize_t k = read(pfd[0], out + len, cap - len - 1);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        len += (size_t)k;
    }
    close(pfd[0]);
    out[len] = '\0';
    int code = th_reap(s, pid, 60000);
    if (code != 0) {
        fprintf(stderr, "PhoneSync exited %d; stdout: %s\n", code, out);
        free(out);
        return NULL;
    }
    json_error_t e;
    json_t *j = json_loads(out, 0, &e);
    if (!j)
        fprintf(stderr, "PhoneSync printed no JSON (%s): %s\n", e.text, out);
    free(out);
    return j;
}

static const char *str(const json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    assert_non_null(v);
    return v;
}

static int64_t stat_of(const json_t *res, const char *k)
{
    return json_integer_value(json_object_get(json_object_get(res, "stats"), k));
}

/* The content of every follow-up of the sheet, joined by "|". */
static void contents(const json_t *sheet, char *buf, size_t len)
{
    size_t i, used = 0;
    json_t *f;
    buf[0] = '\0';
    json_array_foreach(json_object_get(sheet, "followups"), i, f)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? "|" : "",
                                 str(f, "content"));
}

static void phone_and_cli_device_see_each_other(void **state)
{
    th_server *s = *state;
    char ana[80];
    th_init(s);
    th_user(s, "ana", "rep", "north", ana);
    th_start(s, NULL);

    /* The phone: a customer and a follow-up, then its first sync. */
    json_t *w = phone(s, "phone", ana, "write", "王芳 (phone)", "Called: wants a quote", NULL);
    assert_non_null(w);
    char cid[64];
    snprintf(cid, sizeof cid, "%s", str(json_object_get(w, "customer"), "id"));
    assert_string_equal(str(json_object_get(w, "followup"), "customer"), cid);
    assert_true(stat_of(w, "pushed") >= 6);       /* the server acked them */
    assert_int_equal(stat_of(w, "refused"), 0);
    assert_int_equal(stat_of(w, "state"), 2);     /* FDS_SESSION_IDLE */
    json_decref(w);

    /* A CLI device of the same rep sees both records. */
    fds_replica *cli = th_replica(s, "cli");
    assert_int_equal(th_sync(s, cli, ana, NULL), 0);
    json_t *sheet = NULL;
    assert_int_equal(fds_customer_sheet(cli, cid, &sheet), FDS_OK);
    assert_string_equal(str(sheet, "name"), "王芳 (phone)");
    char buf[512];
    contents(sheet, buf, sizeof buf);
    assert_string_equal(buf, "Called: wants a quote");
    json_decref(sheet);

    /* The CLI device writes: a follow-up on the phone's customer and a
    ** customer of its own. */
    json_t *in = json_pack("{ssss}", "method", "visit", "content", "Visited: signed");
    assert_int_equal(fds_followup_add(cli, cid, in, NULL), FDS_OK);
    json_decref(in);
    char *other = th_customer(cli, "李雷 (cli)");
    assert_int_equal(th_sync(s, cli, ana, NULL), 0);

    /* The phone syncs again and sees both. */
    json_t *rd = phone(s, "phone", ana, "read", NULL);
    assert_non_null(rd);
    assert_true(stat_of(rd, "pulled") >= 1);
    json_t *list = json_object_get(rd, "customers");
    assert_int_equal(json_array_size(list), 2);
    int seen_mine = 0, seen_other = 0;
    size_t i;
    json_t *c;
    json_array_foreach(list, i, c) {
        if (strcmp(str(c, "id"), cid) == 0) {
            contents(c, buf, sizeof buf);       /* newest first */
            assert_string_equal(buf, "Visited: signed|Called: wants a quote");
            seen_mine = 1;
        } else {
            assert_string_equal(str(c, "id"), other);
            assert_string_equal(str(c, "name"), "李雷 (cli)");
            seen_other = 1;
        }
    }
    assert_true(seen_mine && seen_other);
    json_decref(rd);
    free(other);
    fds_replica_close(cli);
}

/* A token the server does not know: the phone's loop must end with the
** server's refusal, not hang or claim success. */
static void phone_with_a_bad_token_fails(void **state)
{
    th_server *s = *state;
    th_init(s);
    th_start(s, NULL);
    json_t *w = phone(s, "phone", "fs_not_a_token", "write", "X", "Y", NULL);
    assert_null(w);
}

static int setup(void **state)
{
    th_server *s = calloc(1, sizeof *s);
    *state = s;
    return s ? 0 : -1;
}

static int teardown(void **state)
{
    th_cleanup(*state);
    free(*state);
    return 0;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(phone_and_cli_device_see_each_other, setup, teardown),
        cmocka_unit_test_setup_teardown(phone_with_a_bad_token_fails, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
