/*
** test_busy.c — a push that meets a busy store is retried, not refused
** (issue 17): another process holds SQLite's write lock longer than the
** server's busy timeout (5 s), so the push's first transaction fails with
** FSV_BUSY; the server rolls back, waits a little and runs it again, and
** the device gets its ack, not `internal` "send it again later".  Nothing
** is stored twice.  The device is a core session in this process over a
** raw TLS WebSocket (rawws), so its hello is done before the lock is
** taken and only the push meets it.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "fieldsync_proto.h"
#include "harness.h"
#include "rawws.h"

/* How long the other process holds the write lock: past the server's
** busy timeout (store_sqlite.c, 5 s), within the retries' reach. */
#define HOLD_S 6

typedef struct dev {
    rw_conn c;
    fds_replica *r;
    fds_session *s;
    int errors;         /* error messages the server sent */
} dev;

static void d_open(th_server *sv, dev *d, const char *name, const char *token)
{
    memset(d, 0, sizeof *d);
    d->r = th_replica(sv, name);
    assert_int_equal(rw_connect(&d->c, sv->port, sv->ca, 0), 0);
    assert_int_equal(rw_upgrade(&d->c, token, FDSP_SUBPROTOCOL), 101);
    assert_int_equal(fds_session_new(d->r, &d->s), FDS_OK);
}

static void d_close(dev *d)
{
    rw_close(&d->c);
    fds_session_free(d->s);
    fds_replica_close(d->r);
}

/* Send what the session has to say and feed it the answers until it is
** idle (pushed and caught up). */
static void d_settle(dev *d)
{
    for (;;) {
        char *b = NULL;
        size_t n = 0;
        while (fds_session_next(d->s, &b, &n) == FDS_OK && b) {
            assert_int_equal(rw_send(&d->c, b), 0);
            free(b);
        }
        if (fds_session_state(d->s) == FDS_SESSION_IDLE)
            return;
        assert_int_equal(rw_recv(&d->c, &b, &n), 1);
        if (strstr(b, "\"type\":\"error\""))
            d->errors++;
        if (fds_session_feed(d->s, b, n) != FDS_OK)
            fail_msg("feed: %s (%.300s)", fds_session_errmsg(d->s), b);
        free(b);
    }
}

/* A child that takes the store's write lock, says so on the pipe, holds
** it HOLD_S seconds and lets go. */
static pid_t hold_lock(th_server *sv, int *ready_fd)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = th_fork(sv);
    if (pid == 0) {
        char path[400];
        sqlite3 *db = NULL;
        close(p[0]);
        snprintf(path, sizeof path, "%s/fieldsync.db", sv->data);
        if (sqlite3_open(path, &db) != SQLITE_OK ||
            sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
            _exit(1);
        if (write(p[1], "L", 1) != 1)
            _exit(2);
        sleep(HOLD_S);
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_close(db);
        _exit(0);
    }
    close(p[1]);
    *ready_fd = p[0];
    return pid;
}

static int log_has(th_server *sv, const char *what)
{
    char path[400], line[2048];
    snprintf(path, sizeof path, "%s/server.log", sv->dir);
    FILE *f = fopen(path, "r");
    int found = 0;
    while (f && !found && fgets(line, sizeof line, f))
        found = strstr(line, what) != NULL;
    if (f)
        fclose(f);
    return found;
}

static void test_push_busy_retried(void **state)
{
    th_server *sv = *state;
    char alice[80];
    th_init(sv);
    th_user(sv, "alice", "rep", "east", alice);
    th_start(sv, NULL);

    dev d;
    d_open(sv, &d, "a", alice);
    d_settle(&d);                       /* hello, caught up: no lock yet */
    char *id = th_customer(d.r, "Busy Ltd");
    long long before = th_history_count(sv);

    int ready = -1;
    pid_t holder = hold_lock(sv, &ready);
    char c = 0;
    assert_int_equal(read(ready, &c, 1), 1);    /* the lock is held */
    close(ready);

    d_settle(&d);                       /* the push: busy, retried, acked */
    assert_int_equal(th_reap(sv, holder, 30000), 0);
    fds_session_stats st;
    fds_session_stats_get(d.s, &st);
    assert_int_equal(d.errors, 0);
    assert_true(st.pushed > 0);
    assert_int_equal(st.refused, 0);
    assert_true(log_has(sv, "push_busy "));     /* it did meet the lock */
    assert_true(log_has(sv, "push_busy_retried"));
    /* Stored once: as many history rows as changes acknowledged. */
    long long after = th_history_count(sv);
    assert_int_equal(after - before, st.pushed);
    d_close(&d);

    /* A second device of alice gets the customer, once. */
    fds_replica *b = th_replica(sv, "b");
    assert_int_equal(th_sync(sv, b, alice, NULL), 0);
    char *name = th_field(b, id, "name");
    assert_string_equal(name, "Busy Ltd");
    free(name);
    assert_int_equal(th_history_count(sv), after);
    fds_replica_close(b);
    free(id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_push_busy_retried,
                                        th_test_setup, th_test_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
