/*
** test_group.c — group commit under kill -9 (issue 17).  Several devices
** push at once (one after another on the wire, unanswered, so their pushes
** reach the server in one event-loop turn and are merged in one
** transaction); half of them read their acks; then the server dies with
** SIGKILL.  After a restart:
**   - every change a device had acknowledged before the kill is in the
**     server's history (nothing acked was lost);
** and after every device reconnected and re-sent what was not acked:
**   - every change of every device is there exactly once (a push committed
**     but not acked before the kill is recognised when it comes again:
**     nothing is doubled).
** The devices are core sessions in this process over raw TLS WebSockets
** (rawws).  Bounded: ROUNDS rounds, every wait bounded by the harness's
** alarm.
*/
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "fieldsync_proto.h"
#include "harness.h"
#include "internal.h"       /* the replica's SQLite handle: its log table */
#include "rawws.h"
#include "store.h"
#include "store_sqlite_hist.h"

#define N_DEV 6
#define ROUNDS 3

typedef struct dev {
    char name[16];
    const char *token;
    rw_conn c;
    fds_replica *r;
    fds_session *s;
    int up;
} dev;

static void d_connect(th_server *sv, dev *d)
{
    assert_int_equal(rw_connect(&d->c, sv->port, sv->ca, 0), 0);
    assert_int_equal(rw_upgrade(&d->c, d->token, FDSP_SUBPROTOCOL), 101);
    assert_int_equal(fds_session_new(d->r, &d->s), FDS_OK);
    d->up = 1;
}

static void d_disconnect(dev *d)
{
    if (!d->up)
        return;
    rw_close(&d->c);
    fds_session_free(d->s);
    d->s = NULL;
    d->up = 0;
}

static void d_pump(dev *d)
{
    char *b = NULL;
    size_t n = 0;
    while (fds_session_next(d->s, &b, &n) == FDS_OK && b) {
        assert_int_equal(rw_send(&d->c, b), 0);
        free(b);
    }
}

static void d_settle(dev *d)
{
    for (;;) {
        d_pump(d);
        if (fds_session_state(d->s) == FDS_SESSION_IDLE)
            return;
        char *b = NULL;
        size_t n = 0;
        assert_int_equal(rw_recv(&d->c, &b, &n), 1);
        if (fds_session_feed(d->s, b, n) != FDS_OK)
            fail_msg("%s: feed: %s (%.300s)", d->name,
                     fds_session_errmsg(d->s), b);
        free(b);
    }
}

static sqlite3 *open_store(th_server *sv)
{
    char path[400];
    sqlite3 *db = NULL;
    snprintf(path, sizeof path, "%s/fieldsync.db", sv->data);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        fail_msg("open %s: %s", path, sqlite3_errmsg(db));
    sqlite3_busy_timeout(db, 5000);
    /* History is group rows: its `history` virtual table reads them one
    ** row per change (store_sqlite). */
    if (fsv_sqlite_history_module(db) != SQLITE_OK)
        fail_msg("history module: %s", sqlite3_errmsg(db));
    return db;
}

/* For each own change of d's replica (acked only, or all): how many times
** the server's history holds it; fails if any is not exactly once when
** want_once, or missing when not.  Returns the number of changes seen. */
static long check_changes(th_server *sv, dev *d, int acked_only, int want_once)
{
    sqlite3 *st = open_store(sv);
    sqlite3_stmt *q, *h;
    assert_int_equal(sqlite3_prepare_v2(d->r->db,
        acked_only ? "SELECT device, tbl, rid, field, vv FROM log"
                     " WHERE origin = 1 AND acked = 1"
                   : "SELECT device, tbl, rid, field, vv FROM log"
                     " WHERE origin = 1", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(st,
        "SELECT count(*) FROM history WHERE device = ?1 AND tbl = ?2"
        " AND rid = ?3 AND field = ?4 AND vv = ?5", -1, &h, NULL), SQLITE_OK);
    long n = 0;
    while (sqlite3_step(q) == SQLITE_ROW) {
        for (int j = 0; j < 5; j++)
            sqlite3_bind_text(h, j + 1, (const char *)sqlite3_column_text(q, j),
                              -1, SQLITE_TRANSIENT);
        assert_int_equal(sqlite3_step(h), SQLITE_ROW);
        int k = sqlite3_column_int(h, 0);
        sqlite3_reset(h);
        if (k < 1 || (want_once && k != 1))
            fail_msg("%s: change %s %s %s vv %s is %d times in the server's"
                     " history (%s)", d->name, sqlite3_column_text(q, 1),
                     sqlite3_column_text(q, 2), sqlite3_column_text(q, 3),
                     sqlite3_column_text(q, 4), k,
                     acked_only ? "acknowledged before the kill" : "in the end");
        n++;
    }
    sqlite3_finalize(q);
    sqlite3_finalize(h);
    sqlite3_close(st);
    return n;
}

static void test_group_commit_kill9(void **state)
{
    th_server *sv = *state;
    static char tok[3][80];
    th_init(sv);
    th_user(sv, "r0", "rep", "east", tok[0]);
    th_user(sv, "r1", "rep", "east", tok[1]);
    th_user(sv, "r2", "rep", "west", tok[2]);
    th_start(sv, "--group-commit", "on", NULL);

    dev d[N_DEV];
    memset(d, 0, sizeof d);
    for (int i = 0; i < N_DEV; i++) {
        snprintf(d[i].name, sizeof d[i].name, "dev%d", i);
        d[i].token = tok[i % 3];
        d[i].r = th_replica(sv, d[i].name);
        d_connect(sv, &d[i]);
        d_settle(&d[i]);
    }
    for (int round = 0; round < ROUNDS; round++) {
        /* Every device has new work; all pushes go out unanswered. */
        for (int i = 0; i < N_DEV; i++) {
            char name[600];
            for (int k = 0; k < 3; k++) {
                snprintf(name, sizeof name, "R%d %s %d", round, d[i].name, k);
                free(th_customer(d[i].r, name));
            }
        }
        for (int i = 0; i < N_DEV; i++)
            d_pump(&d[i]);
        /* Half of them get their answers (acks, and whatever they pull). */
        for (int i = 0; i < N_DEV / 2; i++)
            d_settle(&d[i]);
        assert_int_equal(th_stop(sv, SIGKILL) != 0, 1);
        for (int i = 0; i < N_DEV; i++)
            d_disconnect(&d[i]);
        th_start(sv, "--group-commit", "on", NULL);
        /* What was acked survived the kill. */
        for (int i = 0; i < N_DEV; i++)
            check_changes(sv, &d[i], 1, 1);
        /* Everyone comes back and sends what was not acked. */
        for (int i = 0; i < N_DEV; i++) {
            d_connect(sv, &d[i]);
            d_settle(&d[i]);
        }
        long total = 0;
        for (int i = 0; i < N_DEV; i++)
            total += check_changes(sv, &d[i], 0, 1);
        assert_true(total >= (long)(round + 1) * N_DEV * 3);
    }
    for (int i = 0; i < N_DEV; i++) {
        d_disconnect(&d[i]);
        fds_replica_close(d[i].r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_group_commit_kill9,
                                        th_test_setup, th_test_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
