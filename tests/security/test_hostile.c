/*
** test_hostile.c — hostile clients against the real server (issue 5): raw
** TLS WebSocket connections send garbage, invalid UTF-8, oversized and
** deeply nested messages, wrong types, unknown messages, over-limit batches,
** values and field counts, and a flood of 2,000 messages, while honest
** devices sync and watch at the same time.  Each bad input is answered
** with an error and/or a close; the server stays up; the honest devices
** see every change.
*/
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "seclib.h"

static int setup(void **state)
{
    th_server *s = calloc(1, sizeof *s);
    if (!s)
        return -1;
    alarm(240);
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    th_server *s = *state;
    alarm(0);
    th_cleanup(s);
    free(s);
    return 0;
}

/* What the server did after a bad input: 'e' error message (code into
** code[32]) followed by a close, 'c' close without error, 'o' still open
** (answered nothing within the wait), or the error code of a non-fatal
** error with the connection still usable. */
typedef struct outcome {
    char code[32];      /* code of the first error message, "" if none */
    int fatal;          /* that error said fatal */
    int closed;         /* the connection ended (close frame or EOF) */
    int close_status;   /* close frame status, 0 if none */
} outcome;

static outcome read_outcome(rw_conn *c)
{
    outcome o;
    memset(&o, 0, sizeof o);
    for (;;) {
        char *buf = NULL;
        size_t len = 0;
        int op = rw_recv(c, &buf, &len);
        if (op == 1) {
            json_t *j = json_loadb(buf, len, 0, NULL);
            const char *type = json_string_value(json_object_get(j, "type"));
            if (type && strcmp(type, "error") == 0 && !o.code[0]) {
                snprintf(o.code, sizeof o.code, "%s",
                         json_string_value(json_object_get(j, "code")));
                o.fatal = json_is_true(json_object_get(j, "fatal"));
            }
            json_decref(j);
            free(buf);
            if (o.code[0] && !o.fatal)
                return o;   /* non-fatal: the connection stays */
            continue;
        }
        if (op == 8 && len >= 2)
            o.close_status = ((unsigned char)buf[0] << 8) | (unsigned char)buf[1];
        free(buf);
        o.closed = 1;
        return o;
    }
}

static void open_hello(th_server *s, rw_conn *c, const char *tok,
                       const char *dev)
{
    sec_raw_hello(s, c, tok, dev);
}

/* Send text; the server must answer an error with `code` and close. */
static void expect_fatal(th_server *s, const char *tok, int hello,
                         const char *text, size_t len, const char *code)
{
    rw_conn c;
    if (hello) {
        open_hello(s, &c, tok, "dev-hostile");
    } else {
        assert_int_equal(rw_connect(&c, s->port, s->ca, 0), 0);
        assert_int_equal(rw_upgrade(&c, tok, FDSP_SUBPROTOCOL), 101);
    }
    rw_send_frame(&c, 1, 1, text, len);
    outcome o = read_outcome(&c);
    if (code) {
        if (strcmp(o.code, code) != 0)
            fail_msg("expected error %s, got \"%s\"", code, o.code);
        assert_true(o.fatal);
    }
    assert_true(o.closed);
    rw_close(&c);
}

static char *change_json(const char *rid, const char *field, const char *value,
                         int counter)
{
    char *buf = NULL;
    json_t *ch = json_pack("{s:s, s:s, s:s, s:s, s:{s:i}, s:s, s:s}", "t",
                           "customer", "r", rid, "f", field, "v", value, "vv",
                           "dev-hostile", counter, "h", "0190a1b2c3d40000", "d",
                           "dev-hostile");
    buf = json_dumps(ch, JSON_COMPACT);
    json_decref(ch);
    return buf;
}

/* The flood: 2,000 pulls in one burst; the child reads answers for up to
** 10 s and exits 0 if it was told rate_limited (non-fatal) and still got
** answers, 1 otherwise. */
static pid_t flood_child(th_server *s, const char *tok)
{
    pid_t pid = th_fork(s);
    if (pid != 0)
        return pid;
    rw_conn c;
    if (rw_connect(&c, s->port, s->ca, 0) != 0 ||
        rw_upgrade(&c, tok, FDSP_SUBPROTOCOL) != 101)
        _exit(2);
    rw_send(&c, "{\"type\":\"hello\",\"v\":1,\"device\":\"dev-flood\",\"cursor\":0}");
    for (int i = 0; i < 2000; i++)
        if (rw_send(&c, "{\"type\":\"pull\",\"after\":0,\"limit\":1}") != 0)
            break;
    int rate = 0, answers = 0;
    long long deadline = th_ms() + 10000;
    while (th_ms() < deadline && !(rate && answers > 60)) {
        char *buf = NULL;
        size_t len = 0;
        int op = rw_recv(&c, &buf, &len);
        if (op != 1) {
            free(buf);
            break;
        }
        if (strstr(buf, "\"rate_limited\"") && !strstr(buf, "\"fatal\":true"))
            rate = 1;
        if (strstr(buf, "\"changes\""))
            answers++;
        free(buf);
    }
    rw_close(&c);
    _exit(rate && answers > 60 ? 0 : 1);
}

static void honest_round(th_server *s, fds_replica *ra, const char *alice,
                         const char *label)
{
    char *id = th_customer(ra, label);
    assert_int_equal(th_sync(s, ra, alice, NULL), 0);
    assert_true(sec_wait_customer(s, "mw", id, label));
    free(id);
}

static void test_hostile_clients(void **state)
{
    th_server *sp = *state;
    char alice[80], mona[80], eve[80];
    th_init(sp);
    th_user(sp, "alice", "rep", "north", alice);
    th_user(sp, "mona", "manager", "*", mona);
    th_user(sp, "eve", "rep", "south", eve);
    th_start(sp, NULL);

    /* Honest: mona watches, alice syncs between the attacks. */
    pid_t wm = sec_sync_child(sp, "mw", mona, 1);
    sec_wait_connected(sp, "mw");
    fds_replica *ra = th_replica(sp, "a");
    honest_round(sp, ra, alice, "before");

    pid_t fl = flood_child(sp, eve);

    /* Garbage, bad JSON, invalid UTF-8 (as a frame and inside a string). */
    static const char garbage[] = "\x01\x02 not json {{{";
    expect_fatal(sp, eve, 1, garbage, sizeof garbage - 1, "bad_json");
    static const char badutf[] = "\xff\xfe{\"type\":\"hello\"}";
    expect_fatal(sp, eve, 1, badutf, sizeof badutf - 1, NULL);
    static const char badstr[] = "{\"type\":\"pull\",\"after\":0,\"limit\":1,"
                                 "\"x\":\"\xc3\x28\"}";
    expect_fatal(sp, eve, 1, badstr, sizeof badstr - 1, NULL);
    honest_round(sp, ra, alice, "after garbage");

    /* Oversized: one byte over FDSP_MAX_FRAME, closed with 1009. */
    size_t big = FDSP_MAX_FRAME + 1;
    char *over = malloc(big);
    memset(over, ' ', big);
    over[0] = '{';
    over[big - 1] = '}';
    {
        rw_conn c;
        open_hello(sp, &c, eve, "dev-hostile");
        rw_send_frame(&c, 1, 1, over, big);
        outcome o = read_outcome(&c);
        assert_true(o.closed);
        assert_int_equal(o.close_status, 1009);
        rw_close(&c);
    }
    free(over);

    /* Deeply nested: 9 levels (one over FDSP_MAX_DEPTH) and 100,000. */
    static const char deep9[] = "{\"type\":\"pull\",\"after\":0,\"limit\":1,"
                                "\"x\":[[[[[[[[1]]]]]]]]}";
    expect_fatal(sp, eve, 1, deep9, sizeof deep9 - 1, "too_deep");
    size_t deep = 100000;
    char *nest = malloc(2 * deep + 64);
    size_t k = (size_t)sprintf(nest, "{\"type\":\"push\",\"batch\":1,\"changes\":");
    memset(nest + k, '[', deep);
    memset(nest + k + deep, ']', deep);
    k += 2 * deep;
    nest[k++] = '}';
    rw_conn dc;
    open_hello(sp, &dc, eve, "dev-hostile");
    rw_send_frame(&dc, 1, 1, nest, k);
    outcome od = read_outcome(&dc);
    assert_true(od.closed);
    assert_true(od.code[0] != '\0');
    rw_close(&dc);
    free(nest);
    honest_round(sp, ra, alice, "after nesting");

    /* Wrong types, unknown message, wrong order, binary frame. */
    static const char wrongv[] = "{\"type\":\"hello\",\"v\":\"1\",\"device\":\"d\",\"cursor\":0}";
    expect_fatal(sp, eve, 0, wrongv, sizeof wrongv - 1, "bad_type");
    static const char wrongpull[] = "{\"type\":\"pull\",\"after\":\"x\",\"limit\":1}";
    expect_fatal(sp, eve, 1, wrongpull, sizeof wrongpull - 1, "bad_type");
    static const char unknown[] = "{\"type\":\"exploit\",\"payload\":1}";
    expect_fatal(sp, eve, 1, unknown, sizeof unknown - 1, "unknown_message");
    static const char early[] = "{\"type\":\"pull\",\"after\":0,\"limit\":1}";
    expect_fatal(sp, eve, 0, early, sizeof early - 1, "bad_state");
    static const char fromsrv[] = "{\"type\":\"notify\",\"head\":1}";
    expect_fatal(sp, eve, 1, fromsrv, sizeof fromsrv - 1, "bad_state");
    {
        rw_conn c;
        open_hello(sp, &c, eve, "dev-hostile");
        rw_send_frame(&c, 2, 1, "\x00\x01\x02", 3);
        outcome o = read_outcome(&c);
        assert_true(o.closed || o.code[0]);
        rw_close(&c);
    }

    /* Limits: a batch over FDSP_MAX_BATCH, a value over FDSP_MAX_VALUE. */
    {
        size_t cap = 200 * (FDSP_MAX_BATCH + 2) + 64, n = 0;
        char *p = malloc(cap);
        n += (size_t)sprintf(p, "{\"type\":\"push\",\"batch\":1,\"changes\":[");
        for (int i = 0; i <= FDSP_MAX_BATCH; i++) {
            char *ch = change_json("r-batch", "name", "x", i + 1);
            n += (size_t)sprintf(p + n, "%s%s", i ? "," : "", ch);
            free(ch);
        }
        n += (size_t)sprintf(p + n, "]}");
        expect_fatal(sp, eve, 1, p, n, "limit");
        free(p);
        char *v = malloc(FDSP_MAX_VALUE + 2);
        memset(v, 'v', FDSP_MAX_VALUE + 1);
        v[FDSP_MAX_VALUE + 1] = '\0';
        char *ch = change_json("r-value", "name", v, 1);
        char *msg = malloc(strlen(ch) + 64);
        int mlen = sprintf(msg, "{\"type\":\"push\",\"batch\":1,\"changes\":[%s]}", ch);
        expect_fatal(sp, eve, 1, msg, (size_t)mlen, "limit");
        free(msg);
        free(ch);
        free(v);
    }
    honest_round(sp, ra, alice, "after limits");

    /* FDSP_MAX_FIELDS per record: the 65th field is refused, not the batch. */
    {
        rw_conn c;
        open_hello(sp, &c, eve, "dev-hostile");
        size_t cap = 200 * (FDSP_MAX_FIELDS + 2) + 64, n = 0;
        char *p = malloc(cap);
        n += (size_t)sprintf(p, "{\"type\":\"push\",\"batch\":7,\"changes\":[");
        for (int i = 0; i <= FDSP_MAX_FIELDS; i++) {
            char f[32];
            snprintf(f, sizeof f, "f.k%d", i);
            char *ch = change_json("r-fields", f, "x", i + 1);
            n += (size_t)sprintf(p + n, "%s%s", i ? "," : "", ch);
            free(ch);
        }
        n += (size_t)sprintf(p + n, "]}");
        assert_int_equal(rw_send_frame(&c, 1, 1, p, n), 0);
        free(p);
        char *ack = sec_recv_type(&c, "ack");
        assert_non_null(ack);
        json_t *j = json_loads(ack, 0, NULL);
        assert_int_equal(json_integer_value(json_object_get(j, "accepted")),
                         FDSP_MAX_FIELDS);
        json_t *r0 = json_array_get(json_object_get(j, "refused"), 0);
        assert_string_equal(json_string_value(json_object_get(r0, "code")), "limit");
        assert_int_equal(json_integer_value(json_object_get(r0, "i")), FDSP_MAX_FIELDS);
        assert_non_null(strstr(json_string_value(json_object_get(r0, "message")),
                               "r-fields"));
        json_decref(j);
        free(ack);
        rw_close(&c);
    }

    /* A half-sent fragmented message, then the client vanishes. */
    {
        rw_conn c;
        open_hello(sp, &c, eve, "dev-hostile");
        rw_send_frame(&c, 1, 0, "{\"type\":", 8);
        rw_close(&c);
    }

    /* The flood was slowed and told so, never failed. */
    assert_int_equal(th_reap(sp, fl, 30000), 0);
    honest_round(sp, ra, alice, "after flood");

    /* Still up; the watcher saw all of it and ends cleanly. */
    assert_int_equal(kill(sp->pid, 0), 0);
    kill(wm, SIGTERM);
    assert_int_equal(th_reap(sp, wm, 10000), 0);
    fds_replica_close(ra);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);   /* the server may hang up mid-write */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hostile_clients, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
