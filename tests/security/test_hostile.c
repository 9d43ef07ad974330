/*
** test_hostile.c — hostile clients against the real server (issue 5): raw
** TLS WebSocket connections send garbage, invalid UTF-8, oversized and
** deeply nested messages, wrong types, unknown messages, over-limit batches,
** values and field counts, and a flood of 2,000 messages, while honest
** devices sync and watch at the same time.  One test per rule, each with
** the exact error code (or close status) the server must answer; they
** share one server, and after each one an honest device's change still
** reaches an honest manager's watching device.
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

/* The shared world: a server, alice (rep) syncing honestly, mona
** (manager) watching with `sync --watch`, eve (rep of another team)
** attacking. */
typedef struct world {
    th_server s;
    char alice[80], mona[80], eve[80];
    pid_t watcher;
    fds_replica *ra;
    int round;
} world;

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
    if (strcmp(o.code, code) != 0)
        fail_msg("expected error %s, got \"%s\"", code, o.code);
    assert_true(o.fatal);
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

/* After every attack: an honest change still goes through and is seen
** live by the watching manager; the server process is still up. */
static void honest_round(world *w)
{
    char label[32];
    snprintf(label, sizeof label, "honest %d", ++w->round);
    char *id = th_customer(w->ra, label);
    assert_int_equal(th_sync(&w->s, w->ra, w->alice, NULL), 0);
    assert_true(sec_wait_customer(&w->s, "mw", id, label));
    free(id);
    assert_int_equal(kill(w->s.pid, 0), 0);
}

/* Open a helloed connection as eve, send one text frame (op 1) or other
** opcode, and return what the server did. */
static outcome send_one(world *w, int op, const char *text, size_t len)
{
    rw_conn c;
    open_hello(&w->s, &c, w->eve, "dev-hostile");
    rw_send_frame(&c, op, 1, text, len);
    outcome o = read_outcome(&c);
    rw_close(&c);
    return o;
}


static int group_setup(void **state)
{
    world *w = calloc(1, sizeof *w);
    if (!w)
        return -1;
    alarm(280);
    th_init(&w->s);
    th_user(&w->s, "alice", "rep", "north", w->alice);
    th_user(&w->s, "mona", "manager", "*", w->mona);
    th_user(&w->s, "eve", "rep", "south", w->eve);
    th_start(&w->s, NULL);
    w->watcher = th_sync_child(&w->s, "mw", w->mona, 1);
    sec_wait_connected(&w->s, "mw");
    w->ra = th_replica(&w->s, "a");
    *state = w;
    return 0;
}

static int group_teardown(void **state)
{
    world *w = *state;
    /* The watcher saw everything and ends cleanly on SIGTERM. */
    int rc = 0;
    if (w->watcher > 0) {
        kill(w->watcher, SIGTERM);
        rc = th_reap(&w->s, w->watcher, 10000);
    }
    fds_replica_close(w->ra);
    alarm(0);
    th_cleanup(&w->s);
    free(w);
    return rc == 0 ? 0 : -1;
}

static void test_honest_baseline(void **state)
{
    honest_round(*state);
}

/* Not JSON at all: bad_json, fatal. */
static void test_garbage_is_bad_json(void **state)
{
    world *w = *state;
    static const char garbage[] = "\x01\x02 not json {{{";
    expect_fatal(&w->s, w->eve, 1, garbage, sizeof garbage - 1, "bad_json");
    honest_round(w);
}

/* A text frame that is not UTF-8, whole or inside a JSON string: closed by
** the WebSocket layer with 1007 (RFC 6455 "invalid frame payload data")
** before any parser sees it. */
static void test_invalid_utf8_closes_1007(void **state)
{
    world *w = *state;
    static const char badutf[] = "\xff\xfe{\"type\":\"hello\"}";
    outcome o = send_one(w, 1, badutf, sizeof badutf - 1);
    assert_true(o.closed);
    assert_int_equal(o.close_status, 1007);
    static const char badstr[] = "{\"type\":\"pull\",\"after\":0,\"limit\":1,"
                                 "\"x\":\"\xc3\x28\"}";
    o = send_one(w, 1, badstr, sizeof badstr - 1);
    assert_true(o.closed);
    assert_int_equal(o.close_status, 1007);
    honest_round(w);
}

/* One byte over FDSP_MAX_FRAME: closed with 1009 (message too big). */
static void test_oversized_closes_1009(void **state)
{
    world *w = *state;
    size_t big = FDSP_MAX_FRAME + 1;
    char *over = malloc(big);
    assert_non_null(over);
    memset(over, ' ', big);
    over[0] = '{';
    over[big - 1] = '}';
    outcome o = send_one(w, 1, over, big);
    free(over);
    assert_true(o.closed);
    assert_int_equal(o.close_status, 1009);
    honest_round(w);
}

/* Nesting one level over FDSP_MAX_DEPTH, and 100,000 levels (a parser
** that recursed would overflow its stack): too_deep, fatal. */
static void test_deep_nesting_is_too_deep(void **state)
{
    world *w = *state;
    static const char deep9[] = "{\"type\":\"pull\",\"after\":0,\"limit\":1,"
                                "\"x\":[[[[[[[[1]]]]]]]]}";
    expect_fatal(&w->s, w->eve, 1, deep9, sizeof deep9 - 1, "too_deep");
    size_t deep = 100000;
    char *nest = malloc(2 * deep + 64);
    assert_non_null(nest);
    size_t k = (size_t)sprintf(nest, "{\"type\":\"push\",\"batch\":1,\"changes\":");
    memset(nest + k, '[', deep);
    memset(nest + k + deep, ']', deep);
    k += 2 * deep;
    nest[k++] = '}';
    expect_fatal(&w->s, w->eve, 1, nest, k, "too_deep");
    free(nest);
    honest_round(w);
}

/* A member of the wrong JSON type: bad_type, before and after hello. */
static void test_wrong_type_is_bad_type(void **state)
{
    world *w = *state;
    static const char wrongv[] = "{\"type\":\"hello\",\"v\":\"1\",\"device\":\"d\",\"cursor\":0}";
    expect_fatal(&w->s, w->eve, 0, wrongv, sizeof wrongv - 1, "bad_type");
    static const char wrongpull[] = "{\"type\":\"pull\",\"after\":\"x\",\"limit\":1}";
    expect_fatal(&w->s, w->eve, 1, wrongpull, sizeof wrongpull - 1, "bad_type");
    honest_round(w);
}

/* A message type the protocol does not have: unknown_message. */
static void test_unknown_message(void **state)
{
    world *w = *state;
    static const char unknown[] = "{\"type\":\"exploit\",\"payload\":1}";
    expect_fatal(&w->s, w->eve, 1, unknown, sizeof unknown - 1, "unknown_message");
    honest_round(w);
}

/* A valid message at the wrong moment (pull before hello) or in the wrong
** direction (a server's notify sent by a client): bad_state. */
static void test_wrong_order_is_bad_state(void **state)
{
    world *w = *state;
    static const char early[] = "{\"type\":\"pull\",\"after\":0,\"limit\":1}";
    expect_fatal(&w->s, w->eve, 0, early, sizeof early - 1, "bad_state");
    static const char fromsrv[] = "{\"type\":\"notify\",\"head\":1}";
    expect_fatal(&w->s, w->eve, 1, fromsrv, sizeof fromsrv - 1, "bad_state");
    honest_round(w);
}

/* The protocol is text only: a binary frame is not a message (bad_json,
** fatal, closed with 1008 "policy violation"). */
static void test_binary_frame_refused(void **state)
{
    world *w = *state;
    outcome o = send_one(w, 2, "\x00\x01\x02", 3);
    assert_string_equal(o.code, "bad_json");
    assert_true(o.fatal);
    assert_true(o.closed);
    assert_int_equal(o.close_status, 1008);
    honest_round(w);
}

/* A batch over FDSP_MAX_BATCH changes and a value over FDSP_MAX_VALUE
** bytes: limit, fatal (the whole message is refused unread). */
static void test_batch_and_value_limits(void **state)
{
    world *w = *state;
    size_t cap = 200 * (FDSP_MAX_BATCH + 2) + 64, n = 0;
    char *p = malloc(cap);
    assert_non_null(p);
    n += (size_t)sprintf(p, "{\"type\":\"push\",\"batch\":1,\"changes\":[");
    for (int i = 0; i <= FDSP_MAX_BATCH; i++) {
        char *ch = change_json("r-batch", "name", "x", i + 1);
        n += (size_t)sprintf(p + n, "%s%s", i ? "," : "", ch);
        free(ch);
    }
    n += (size_t)sprintf(p + n, "]}");
    expect_fatal(&w->s, w->eve, 1, p, n, "limit");
    free(p);
    char *v = malloc(FDSP_MAX_VALUE + 2);
    assert_non_null(v);
    memset(v, 'v', FDSP_MAX_VALUE + 1);
    v[FDSP_MAX_VALUE + 1] = '\0';
    char *ch = change_json("r-value", "name", v, 1);
    char *msg = malloc(strlen(ch) + 64);
    int mlen = sprintf(msg, "{\"type\":\"push\",\"batch\":1,\"changes\":[%s]}", ch);
    expect_fatal(&w->s, w->eve, 1, msg, (size_t)mlen, "limit");
    free(msg);
    free(ch);
    free(v);
    honest_round(w);
}

/* FDSP_MAX_FIELDS per record: the 65th field is refused (limit, naming the
** record), not the batch: the first 64 are accepted. */
static void test_field_count_limit(void **state)
{
    world *w = *state;
    rw_conn c;
    open_hello(&w->s, &c, w->eve, "dev-hostile");
    size_t cap = 200 * (FDSP_MAX_FIELDS + 2) + 64, n = 0;
    char *p = malloc(cap);
    assert_non_null(p);
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
    json_t *refused = json_object_get(j, "refused");
    assert_int_equal(json_array_size(refused), 1);
    json_t *r0 = json_array_get(refused, 0);
    assert_string_equal(json_string_value(json_object_get(r0, "code")), "limit");
    assert_int_equal(json_integer_value(json_object_get(r0, "i")), FDSP_MAX_FIELDS);
    assert_non_null(strstr(json_string_value(json_object_get(r0, "message")),
                           "r-fields"));
    json_decref(j);
    free(ack);
    rw_close(&c);
    honest_round(w);
}

/* Half of a fragmented message, then the client vanishes: nothing of it
** is applied and the server carries on. */
static void test_half_fragment_then_gone(void **state)
{
    world *w = *state;
    rw_conn c;
    open_hello(&w->s, &c, w->eve, "dev-hostile");
    rw_send_frame(&c, 1, 0, "{\"type\":", 8);
    rw_close(&c);
    honest_round(w);
}

/* 2,000 pulls in one burst: slowed with a non-fatal rate_limited, still
** answered, never cut; honest devices unaffected meanwhile. */
static void test_flood_rate_limited(void **state)
{
    world *w = *state;
    pid_t fl = flood_child(&w->s, w->eve);
    honest_round(w);
    assert_int_equal(th_reap(&w->s, fl, 30000), 0);
    honest_round(w);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);   /* the server may hang up mid-write */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_honest_baseline),
        cmocka_unit_test(test_garbage_is_bad_json),
        cmocka_unit_test(test_invalid_utf8_closes_1007),
        cmocka_unit_test(test_oversized_closes_1009),
        cmocka_unit_test(test_deep_nesting_is_too_deep),
        cmocka_unit_test(test_wrong_type_is_bad_type),
        cmocka_unit_test(test_unknown_message),
        cmocka_unit_test(test_wrong_order_is_bad_state),
        cmocka_unit_test(test_binary_frame_refused),
        cmocka_unit_test(test_batch_and_value_limits),
        cmocka_unit_test(test_field_count_limit),
        cmocka_unit_test(test_half_fragment_then_gone),
        cmocka_unit_test(test_flood_rate_limited),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
