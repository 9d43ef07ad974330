/*
** test_wire.c — the server's edges as seen on the wire by a raw client
** (rawws.c): TLS 1.2 minimum, HTTP 404, token refusal with 401, protocol
** violations answered with a named error and a close, the frame size cap
** (close 1009), refusal of changes claiming another device, and the rate
** limit slowing rather than failing a chatty client.
*/
#include <openssl/ssl.h>
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

#include "harness.h"
#include "rawws.h"

/* Connected and upgraded with the admin token. */
static void open_ws(th_server *s, rw_conn *c)
{
    assert_int_equal(rw_connect(c, s->port, s->ca, 0), 0);
    assert_int_equal(rw_upgrade(c, s->admin, FDSP_SUBPROTOCOL), 101);
}

/* Next message as JSON (fails the test on close/timeout). */
static json_t *next_json(rw_conn *c)
{
    char *buf = NULL;
    size_t len = 0;
    int op = rw_recv(c, &buf, &len);
    if (op != 1)
        fail_msg("expected a text message, got opcode %d", op);
    json_t *j = json_loadb(buf, len, 0, NULL);
    free(buf);
    assert_non_null(j);
    return j;
}

static const char *type_of(json_t *j)
{
    return json_string_value(json_object_get(j, "type"));
}

/* The server closed: returns the close status (or 0 for a bare EOF). */
static int close_status(rw_conn *c)
{
    char *buf = NULL;
    size_t len = 0;
    int op;
    while ((op = rw_recv(c, &buf, &len)) == 1)
        free(buf);
    int status = 0;
    if (op == 8 && len >= 2)
        status = ((unsigned char)buf[0] << 8) | (unsigned char)buf[1];
    free(buf);
    return status;
}

static void hello(rw_conn *c, const char *device)
{
    char msg[256];
    snprintf(msg, sizeof msg, "{\"type\":\"hello\",\"v\":%d,\"device\":"
             "\"%s\",\"cursor\":0}", FDSP_VERSION, device);
    assert_int_equal(rw_send(c, msg), 0);
    json_t *w = next_json(c);
    assert_string_equal(type_of(w), "welcome");
    assert_string_equal(json_string_value(json_object_get(w, "user")), "admin");
    assert_string_equal(json_string_value(json_object_get(w, "role")), "admin");
    json_decref(w);
}

static void test_tls_and_http(void **state)
{
    th_server *s = *state;
    rw_conn c;
    char buf[4096];
    /* TLS 1.1 is refused. */
    assert_int_equal(rw_connect(&c, s->port, s->ca, TLS1_1_VERSION), -1);
    rw_close(&c);
    /* The page at / and 404 elsewhere. */
    assert_int_equal(rw_connect(&c, s->port, s->ca, 0), 0);
    assert_int_equal(rw_get(&c, "/", buf, sizeof buf), 200);
    assert_non_null(strstr(buf, "fieldsync"));
    rw_close(&c);
    assert_int_equal(rw_connect(&c, s->port, s->ca, 0), 0);
    assert_int_equal(rw_get(&c, "/no/such/page", buf, sizeof buf), 404);
    rw_close(&c);
}

static void test_upgrade_refusals(void **state)
{
    th_server *s = *state;
    rw_conn c;
    char bogus[80];
    snprintf(bogus, sizeof bogus, "fs_%064d", 7);
    const char *tokens[] = {NULL, "nonsense", bogus};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(rw_connect(&c, s->port, s->ca, 0), 0);
        assert_int_equal(rw_upgrade(&c, tokens[i], FDSP_SUBPROTOCOL), 401);
        rw_close(&c);
    }
    /* A valid token without the sync subprotocol is not a sync session. */
    assert_int_equal(rw_connect(&c, s->port, s->ca, 0), 0);
    assert_true(rw_upgrade(&c, s->admin, NULL) != 101);
    rw_close(&c);
}

static void test_violations(void **state)
{
    th_server *s = *state;
    rw_conn c;
    /* Not JSON. */
    open_ws(s, &c);
    assert_int_equal(rw_send(&c, "{\"type\": "), 0);
    json_t *e = next_json(&c);
    assert_string_equal(type_of(e), "error");
    assert_true(json_is_true(json_object_get(e, "fatal")));
    json_decref(e);
    assert_int_equal(close_status(&c), 1008);
    rw_close(&c);
    /* A pull before hello. */
    open_ws(s, &c);
    assert_int_equal(rw_send(&c, "{\"type\":\"pull\",\"after\":0,\"limit\":10}"), 0);
    e = next_json(&c);
    assert_string_equal(type_of(e), "error");
    assert_string_equal(json_string_value(json_object_get(e, "code")),
                        "bad_state");
    json_decref(e);
    rw_close(&c);
}

static void test_too_big(void **state)
{
    th_server *s = *state;
    rw_conn c;
    open_ws(s, &c);
    hello(&c, "dev-big");
    /* 1.5 MiB in 64 KiB fragments: over FDSP_MAX_FRAME. */
    size_t chunk = 64 * 1024, total = 3 * FDSP_MAX_FRAME / 2;
    char *blob = malloc(chunk);
    memset(blob, 'x', chunk);
    blob[0] = '"';
    int sent_ok = 1;
    for (size_t off = 0; off < total && sent_ok; off += chunk)
        sent_ok = rw_send_frame(&c, off ? 0 : 1, off + chunk >= total, blob,
                                chunk) == 0;
    free(blob);
    json_t *e = next_json(&c);
    assert_string_equal(type_of(e), "error");
    assert_string_equal(json_string_value(json_object_get(e, "code")),
                        "too_big");
    json_decref(e);
    assert_int_equal(close_status(&c), 1009);
    rw_close(&c);
}

static void test_foreign_device_refused(void **state)
{
    th_server *s = *state;
    rw_conn c;
    open_ws(s, &c);
    hello(&c, "dev-a");
    const char *push =
        "{\"type\":\"push\",\"batch\":1,\"changes\":["
        "{\"t\":\"customer\",\"r\":\"c-1\",\"f\":\"name\",\"v\":\"Mine\","
        "\"vv\":{\"dev-a\":1},\"h\":\"0000000000010000\",\"d\":\"dev-a\",\"u\":\"x\"},"
        "{\"t\":\"customer\",\"r\":\"c-1\",\"f\":\"phone\",\"v\":\"1\","
        "\"vv\":{\"dev-b\":1},\"h\":\"0000000000010001\",\"d\":\"dev-b\",\"u\":\"x\"}]}";
    assert_int_equal(rw_send(&c, push), 0);
    json_t *a = next_json(&c);
    assert_string_equal(type_of(a), "ack");
    assert_int_equal(json_integer_value(json_object_get(a, "accepted")), 1);
    json_t *ref = json_object_get(a, "refused");
    assert_int_equal(json_array_size(ref), 1);
    json_t *r0 = json_array_get(ref, 0);
    assert_int_equal(json_integer_value(json_object_get(r0, "i")), 1);
    assert_non_null(strstr(json_string_value(json_object_get(r0, "message")),
                           "phone"));
    json_decref(a);
    /* The accepted change carries the token's user, not the claimed one. */
    assert_int_equal(rw_send(&c, "{\"type\":\"pull\",\"after\":0,\"limit\":10}"), 0);
    json_t *ch = next_json(&c);
    assert_string_equal(type_of(ch), "changes");
    /* Own device's changes are not sent back. */
    assert_int_equal(json_array_size(json_object_get(ch, "changes")), 0);
    assert_int_equal(json_integer_value(json_object_get(ch, "last")), 1);
    json_decref(ch);
    rw_close(&c);

    open_ws(s, &c);
    hello(&c, "dev-c");
    assert_int_equal(rw_send(&c, "{\"type\":\"pull\",\"after\":0,\"limit\":10}"), 0);
    ch = next_json(&c);
    json_t *list = json_object_get(ch, "changes");
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(list, 0), "u")), "admin");
    json_decref(ch);
    rw_close(&c);
}

static void test_rate_limit_slows(void **state)
{
    th_server *s = *state;
    rw_conn c;
    open_ws(s, &c);
    hello(&c, "dev-chatty");
    enum { N = 3 * FDSP_RATE_PER_SEC };
    for (int i = 0; i < N; i++)
        assert_int_equal(rw_send(&c, "{\"type\":\"pull\",\"after\":0,\"limit\":1}"), 0);
    /* Every request is answered (none dropped), just paced; the server
    ** says so once with a non-fatal rate_limited (PROTOCOL.md §1 Rate). */
    int warned = 0;
    for (int i = 0; i < N; i++) {
        json_t *m = next_json(&c);
        if (strcmp(type_of(m), "error") == 0) {
            assert_string_equal(json_string_value(json_object_get(m, "code")),
                                "rate_limited");
            assert_false(json_is_true(json_object_get(m, "fatal")));
            assert_false(warned);
            warned = 1;
            i--;
        } else {
            assert_string_equal(type_of(m), "changes");
        }
        json_decref(m);
    }
    assert_true(warned);
    rw_close(&c);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_tls_and_http, th_test_setup_started,
                                        th_test_teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_refusals, th_test_setup_started,
                                        th_test_teardown),
        cmocka_unit_test_setup_teardown(test_violations, th_test_setup_started,
                                        th_test_teardown),
        cmocka_unit_test_setup_teardown(test_too_big, th_test_setup_started,
                                        th_test_teardown),
        cmocka_unit_test_setup_teardown(test_foreign_device_refused, th_test_setup_started,
                                        th_test_teardown),
        cmocka_unit_test_setup_teardown(test_rate_limit_slows, th_test_setup_started,
                                        th_test_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
