/*
** test_pullrate.c — the rate limit counts what a client sends, not the
** pages it asked for (issue 11): a fresh device pulling far more than
** FDSP_RATE_PER_SEC pages is never paused, while a flood of empty pulls
** or pulls of one change at a time still is; a client that asks for full
** pages faster than it reads them gets every answer, in order (the server
** stops reading it while its answers wait, instead of queueing them).
** The server runs with --max-batch 10, so a few hundred customers make
** many pages.
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

#include "harness.h"
#include "http_client.h"
#include "rawws.h"

#define PAGE 10
#define CUSTOMERS 600   /* 2 changes each (name, owner): 120 pages of PAGE */

typedef struct world {
    th_server s;
    char rep[80], metrics[80];
    long long changes;  /* on the server after the rep's push */
} world;

static int setup(void **state)
{
    world *w = calloc(1, sizeof *w);
    if (!w)
        return -1;
    *state = w;
    alarm(200);
    th_init(&w->s);
    th_user(&w->s, "ra", "rep", NULL, w->rep);
    char out[1024];
    assert_int_equal(th_admin(&w->s, out, sizeof out, "token", "metrics",
                              "--json", NULL), 0);
    json_t *j = json_loads(out, 0, NULL);
    assert_non_null(j);
    snprintf(w->metrics, sizeof w->metrics, "%s",
             json_string_value(json_object_get(j, "token")));
    json_decref(j);
    th_start(&w->s, "--max-batch", "10", NULL);
    /* One rep's customers, pushed once. */
    fds_replica *r = th_replica(&w->s, "ra");
    assert_int_equal(fds_begin(r), FDS_OK);
    for (int i = 0; i < CUSTOMERS; i++) {
        char name[32];
        snprintf(name, sizeof name, "客户 %03d", i);
        free(th_customer(r, name));
    }
    assert_int_equal(fds_commit(r), FDS_OK);
    fds_session_stats st;
    assert_int_equal(th_sync(&w->s, r, w->rep, &st), 0);
    fds_replica_close(r);
    w->changes = th_history_count(&w->s);
    print_message("%lld changes pushed (%lld acknowledged)\n", w->changes,
                  (long long)st.pushed);
    return 0;
}

static int teardown(void **state)
{
    world *w = *state;
    alarm(0);
    th_cleanup(&w->s);
    free(w);
    return 0;
}

/* fieldsync_rate_limited_total from GET /metrics. */
static double rate_limited(world *w)
{
    char hdr[200];
    snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\n", w->metrics);
    ta_resp r = ta_request(w->s.port, w->s.ca, "GET", "/metrics", hdr, NULL);
    assert_int_equal(r.status, 200);
    const char *k = "\nfieldsync_rate_limited_total ";
    const char *p = strstr(r.body, k);
    assert_non_null(p);
    double v = strtod(p + strlen(k), NULL);
    ta_resp_free(&r);
    return v;
}

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

static void open_hello(world *w, rw_conn *c, const char *device)
{
    assert_int_equal(rw_connect(c, w->s.port, w->s.ca, 0), 0);
    assert_int_equal(rw_upgrade(c, w->s.admin, FDSP_SUBPROTOCOL), 101);
    char msg[256];
    snprintf(msg, sizeof msg, "{\"type\":\"hello\",\"v\":%d,\"device\":"
             "\"%s\",\"cursor\":0}", FDSP_VERSION, device);
    assert_int_equal(rw_send(c, msg), 0);
    json_t *j = next_json(c);
    assert_string_equal(type_of(j), "welcome");
    json_decref(j);
}

/* A fresh device pulls ~100 pages in one sync: all of it, unpaused. */
static void test_fresh_pull_not_paused(void **state)
{
    world *w = *state;
    double before = rate_limited(w);
    fds_replica *hq = th_replica(&w->s, "hq");
    fds_session_stats st;
    long long t0 = th_ms();
    assert_int_equal(th_sync(&w->s, hq, w->s.admin, &st), 0);
    long long ms = th_ms() - t0;
    assert_int_equal(st.pulled, w->changes);
    assert_true(w->changes / PAGE > 2 * FDSP_RATE_PER_SEC);
    print_message("pulled %lld changes in %lld pages, %lld ms\n",
                  (long long)st.pulled, (long long)(st.pulled / PAGE), ms);
    assert_true(rate_limited(w) == before);
    fds_replica_close(hq);
}

/* Full pages asked for back to back, faster than they are read: every
** one answered, in order, with no rate_limited. */
static void test_pipelined_full_pages(void **state)
{
    world *w = *state;
    double before = rate_limited(w);
    rw_conn c;
    open_hello(w, &c, "dev-pipe");
    enum { N = 3 * FDSP_RATE_PER_SEC };
    for (int i = 0; i < N; i++) {
        char msg[96];
        snprintf(msg, sizeof msg, "{\"type\":\"pull\",\"after\":%d,\"limit\":500}", i);
        assert_int_equal(rw_send(&c, msg), 0);
    }
    for (int i = 0; i < N; i++) {
        json_t *m = next_json(&c);
        assert_string_equal(type_of(m), "changes");
        json_t *ch = json_object_get(m, "changes");
        assert_int_equal(json_array_size(ch), PAGE);
        /* page i starts right after seq i */
        assert_int_equal(json_integer_value(json_object_get(
                             json_array_get(ch, 0), "s")), i + 1);
        json_decref(m);
    }
    rw_close(&c);
    assert_true(rate_limited(w) == before);
}

/* Cheap requests are still limited: empty pulls past the head, then
** pulls of one change each. */
static void test_cheap_pulls_limited(void **state)
{
    world *w = *state;
    static const char *const floods[] = {
        "{\"type\":\"pull\",\"after\":99999999,\"limit\":500}",
        "{\"type\":\"pull\",\"after\":0,\"limit\":1}",
    };
    for (size_t f = 0; f < sizeof floods / sizeof floods[0]; f++) {
        double before = rate_limited(w);
        rw_conn c;
        char dev[32];
        snprintf(dev, sizeof dev, "dev-flood-%zu", f);
        open_hello(w, &c, dev);
        enum { N = 3 * FDSP_RATE_PER_SEC };
        for (int i = 0; i < N; i++)
            assert_int_equal(rw_send(&c, floods[f]), 0);
        int warned = 0;
        for (int i = 0; i < N; i++) {
            json_t *m = next_json(&c);
            if (strcmp(type_of(m), "error") == 0) {
                assert_string_equal(json_string_value(json_object_get(m, "code")),
                                    "rate_limited");
                assert_false(json_is_true(json_object_get(m, "fatal")));
                warned = 1;
                i--;
            } else {
                assert_string_equal(type_of(m), "changes");
            }
            json_decref(m);
        }
        rw_close(&c);
        assert_true(warned);
        assert_true(rate_limited(w) > before);
    }
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fresh_pull_not_paused),
        cmocka_unit_test(test_pipelined_full_pages),
        cmocka_unit_test(test_cheap_pulls_limited),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
