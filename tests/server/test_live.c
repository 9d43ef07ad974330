/*
** test_live.c — live batches (PROTOCOL.md §3 step 4, issue 17): a watching
** device that is caught up gets others' changes pushed to it, with no
** pull; a device that is not caught up is notified and pulls in order with
** no gap; a rep's watching device never gets another team's change that
** way.  The watchers are core sessions in this process over a raw TLS
** WebSocket (rawws), so every message they send and get is seen here; the
** writers sync through cli_sync() (th_sync).
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "fieldsync_proto.h"
#include "harness.h"
#include "rawws.h"

typedef struct watcher {
    rw_conn c;
    fds_replica *r;
    fds_session *s;
    int pulls;          /* pull messages this watcher sent */
    char *last;         /* the last message it got */
} watcher;

static void w_open(th_server *sv, watcher *w, const char *name,
                   const char *token)
{
    memset(w, 0, sizeof *w);
    w->r = th_replica(sv, name);
    assert_int_equal(rw_connect(&w->c, sv->port, sv->ca, 0), 0);
    assert_int_equal(rw_upgrade(&w->c, token, FDSP_SUBPROTOCOL), 101);
    assert_int_equal(fds_session_new(w->r, &w->s), FDS_OK);
}

static void w_close(watcher *w)
{
    rw_close(&w->c);
    fds_session_free(w->s);
    fds_replica_close(w->r);
    free(w->last);
}

/* Send whatever the session has to say. */
static void w_pump(watcher *w)
{
    char *b = NULL;
    size_t n = 0;
    while (fds_session_next(w->s, &b, &n) == FDS_OK && b) {
        if (strstr(b, "\"type\":\"pull\""))
            w->pulls++;
        assert_int_equal(rw_send(&w->c, b), 0);
        free(b);
    }
}

/* Take the next message and feed it to the session. */
static void w_recv(watcher *w)
{
    char *b = NULL;
    size_t n = 0;
    assert_int_equal(rw_recv(&w->c, &b, &n), 1);
    free(w->last);
    w->last = b;
    if (fds_session_feed(w->s, b, n) != FDS_OK)
        fail_msg("feed: %s (%.300s)", fds_session_errmsg(w->s), b);
}

/* Pump and receive until the session is idle (caught up). */
static void w_settle(watcher *w)
{
    for (;;) {
        w_pump(w);
        if (fds_session_state(w->s) == FDS_SESSION_IDLE)
            return;
        w_recv(w);
    }
}

static fds_session_stats w_stats(const watcher *w)
{
    fds_session_stats st;
    fds_session_stats_get(w->s, &st);
    return st;
}

static int is_live(const char *msg)
{
    return strncmp(msg, "{\"type\":\"changes\",\"after\":", 26) == 0;
}

static int64_t cursor_of(fds_replica *r)
{
    char *c = NULL;
    int64_t v = -1;
    if (fds_meta_get(r, "cursor", &c) == FDS_OK && c)
        v = strtoll(c, NULL, 10);
    free(c);
    return v;
}

static void edit(fds_replica *r, const char *id, const char *field,
                 const char *value)
{
    json_t *in = json_pack("{s:s}", field, value), *out = NULL;
    int rc = fds_customer_edit(r, id, in, &out);
    json_decref(in);
    json_decref(out);
    if (rc != FDS_OK)
        fail_msg("edit %s: %s", field, fds_errmsg(r));
}

static int has_customer(fds_replica *r, const char *id)
{
    json_t *out = NULL;
    int rc = fds_customer_get(r, id, &out);
    json_decref(out);
    return rc == FDS_OK;
}

/* A caught-up watcher gets a writer's change as a live batch: no notify,
** no pull; the change and the cursor are applied together. */
static void test_live_push(void **state)
{
    th_server *sp = *state;
    char mgr[80], alice[80];
    th_init(sp);
    th_user(sp, "mgr", "manager", "east", mgr);
    th_user(sp, "alice", "rep", "east", alice);
    th_start(sp, NULL);

    fds_replica *a = th_replica(sp, "a");
    char *c1 = th_customer(a, "Before");
    assert_int_equal(th_sync(sp, a, alice, NULL), 0);

    watcher w;
    w_open(sp, &w, "watcher", mgr);
    w_settle(&w);
    assert_true(has_customer(w.r, c1));
    int pulls = w.pulls;
    fds_session_stats before = w_stats(&w);
    assert_int_equal(before.live, 0);

    char *c2 = th_customer(a, "Live");
    assert_int_equal(th_sync(sp, a, alice, NULL), 0);
    w_recv(&w);
    assert_true(is_live(w.last));
    w_pump(&w);
    assert_int_equal(fds_session_state(w.s), FDS_SESSION_IDLE);
    fds_session_stats after = w_stats(&w);
    assert_true(after.live >= 1);
    assert_int_equal(after.pulled, before.pulled + after.live);
    assert_int_equal(after.live_skipped, 0);
    assert_int_equal(w.pulls, pulls);           /* no pull was sent */
    assert_true(has_customer(w.r, c2));
    assert_int_equal(cursor_of(w.r), th_history_count(sp));

    /* And again: the live batch left it caught up. */
    edit(a, c2, "phone", "13800138000");
    assert_int_equal(th_sync(sp, a, alice, NULL), 0);
    w_recv(&w);
    assert_true(is_live(w.last));
    w_pump(&w);
    assert_int_equal(w.pulls, pulls);
    char *phone = th_field(w.r, c2, "phone");
    assert_string_equal(phone, "13800138000");
    free(phone);
    assert_int_equal(cursor_of(w.r), th_history_count(sp));

    w_close(&w);
    fds_replica_close(a);
    free(c1);
    free(c2);
}

/* A device that is not caught up is notified and pulls, in order, with no
** gap; once caught up it gets live batches.  A live batch that does not
** lie on top of the device's cursor is not applied: the device pulls. */
static void test_live_not_caught_up(void **state)
{
    th_server *sp = *state;
    char mgr[80], alice[80];
    th_init(sp);
    th_user(sp, "mgr", "manager", "east", mgr);
    th_user(sp, "alice", "rep", "east", alice);
    th_start(sp, NULL);

    watcher w;
    w_open(sp, &w, "watcher", mgr);
    w_pump(&w);                 /* hello */
    w_recv(&w);                 /* welcome; its first pull is held back */
    assert_non_null(strstr(w.last, "\"type\":\"welcome\""));

    fds_replica *a = th_replica(sp, "a");
    char *c1 = th_customer(a, "One");
    assert_int_equal(th_sync(sp, a, alice, NULL), 0);
    w_recv(&w);
    assert_non_null(strstr(w.last, "\"type\":\"notify\""));
    char *c2 = th_customer(a, "Two");
    assert_int_equal(th_sync(sp, a, alice, NULL), 0);
    w_recv(&w);
    assert_non_null(strstr(w.last, "\"type\":\"notify\""));

    w_settle(&w);               /* pulls both, in order */
    fds_session_stats st = w_stats(&w);
    assert_int_equal(st.live, 0);
    assert_true(st.pulled >= 2);
    assert_true(has_customer(w.r, c1));
    assert_true(has_customer(w.r, c2));
    assert_int_equal(cursor_of(w.r), th_history_count(sp));

    char *c3 = th_customer(a, "Three");
    assert_int_equal(th_sync(sp, a, alice, NULL), 0);
    w_recv(&w);
    assert_true(is_live(w.last));
    w_pump(&w);
    assert_true(has_customer(w.r, c3));
    int64_t head = th_history_count(sp);
    assert_int_equal(cursor_of(w.r), head);

    /* A live batch that skips something (after above the cursor) is not
    ** applied; the session pulls from its cursor instead. */
    int pulls = w.pulls;
    char fake[512];
    snprintf(fake, sizeof fake, "{\"type\":\"changes\",\"after\":%lld,"
             "\"changes\":[{\"t\":\"customer\",\"r\":\"ghost\",\"f\":\"name\","
             "\"v\":\"Ghost\",\"vv\":{\"dev-x\":1},\"h\":\"0190a1b2c3d40000\","
             "\"d\":\"dev-x\",\"u\":\"alice\",\"s\":%lld}],\"last\":%lld,"
             "\"more\":false}", (long long)head + 1, (long long)head + 2,
             (long long)head + 2);
    assert_int_equal(fds_session_feed(w.s, fake, strlen(fake)), FDS_OK);
    assert_int_equal(w_stats(&w).live_skipped, 1);
    w_settle(&w);
    assert_int_equal(w.pulls, pulls + 1);
    assert_false(has_customer(w.r, "ghost"));
    assert_int_equal(cursor_of(w.r), head);

    w_close(&w);
    fds_replica_close(a);
    free(c1);
    free(c2);
    free(c3);
}

/* Hostile: a rep's watching device gets none of another team's changes by
** the live path, even from a batch that mixes both teams' customers; its
** live batch starts at its own cursor, past what it may not see. */
static void test_live_other_team(void **state)
{
    th_server *sp = *state;
    char alice[80], bob[80], boss[80];
    th_init(sp);
    th_user(sp, "alice", "rep", "east", alice);
    th_user(sp, "bob", "rep", "west", bob);
    th_user(sp, "boss", "manager", "*", boss);
    th_start(sp, NULL);

    fds_replica *a = th_replica(sp, "a"), *b = th_replica(sp, "b");
    char *ca = th_customer(a, "East Secret");
    assert_int_equal(th_sync(sp, a, alice, NULL), 0);
    char *cb = th_customer(b, "West Own");
    assert_int_equal(th_sync(sp, b, bob, NULL), 0);
    fds_replica *h = th_replica(sp, "h");
    assert_int_equal(th_sync(sp, h, boss, NULL), 0);

    watcher w;
    w_open(sp, &w, "bob-watch", bob);
    w_settle(&w);
    assert_true(has_customer(w.r, cb));
    assert_false(has_customer(w.r, ca));
    int64_t bob_cursor = cursor_of(w.r);

    /* Alice's edit: nothing for bob (the next message he gets is below). */
    edit(a, ca, "phone", "111");
    assert_int_equal(th_sync(sp, a, alice, NULL), 0);
    /* Head office edits both customers in one push. */
    edit(h, ca, "title", "secret-title");
    edit(h, cb, "title", "west-title");
    assert_int_equal(th_sync(sp, h, boss, NULL), 0);

    w_recv(&w);
    assert_true(is_live(w.last));
    char want[64];
    snprintf(want, sizeof want, "\"after\":%lld,", (long long)bob_cursor);
    assert_non_null(strstr(w.last, want));
    assert_null(strstr(w.last, ca));
    assert_null(strstr(w.last, "secret-title"));
    assert_null(strstr(w.last, "\"111\""));   /* the value, not any id or HLC holding 111 */
    assert_non_null(strstr(w.last, "west-title"));
    w_pump(&w);
    assert_false(has_customer(w.r, ca));
    char *t = th_field(w.r, cb, "title");
    assert_string_equal(t, "west-title");
    free(t);
    assert_int_equal(cursor_of(w.r), th_history_count(sp));
    assert_int_equal(w_stats(&w).live_skipped, 0);

    w_close(&w);
    fds_replica_close(a);
    fds_replica_close(b);
    fds_replica_close(h);
    free(ca);
    free(cb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_live_push, th_test_setup,
                                        th_test_teardown),
        cmocka_unit_test_setup_teardown(test_live_not_caught_up,
                                        th_test_setup, th_test_teardown),
        cmocka_unit_test_setup_teardown(test_live_other_team, th_test_setup,
                                        th_test_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
