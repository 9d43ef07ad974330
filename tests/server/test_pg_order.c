/*
** test_pg_order.c — the global order on the PostgreSQL store has no gaps
** a pull could skip (store.h's concurrency contract; issue 12): two
** writer processes merge batches into one database at once, holding
** their transactions open across several merges, while a third process
** pulls in a loop from its cursor.  Every sequence number up to the head
** must reach the puller exactly once, and the store must hold every
** change.  With sequence numbers that commit out of order (a plain
** PostgreSQL sequence), the puller's cursor would pass a number whose
** transaction had not yet committed and never see it.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "pgcluster.h"
#include "store.h"

#define WRITERS 2
#define BATCHES 60
#define PER_BATCH 5

static ts_pg g_pg;
static char g_url[256];

/* One writer: BATCHES transactions of PER_BATCH merges each, a pause
** between merges so the writers' transactions overlap.  Exit 0 or 1. */
static int writer(int w)
{
    fsv_store *s = NULL;
    char err[256], dev[16];
    if (fsv_store_open(g_url, 0, &s, err, sizeof err) != FSV_OK) {
        fprintf(stderr, "writer %d: %s\n", w, err);
        return 1;
    }
    snprintf(dev, sizeof dev, "dev%d", w);
    uint64_t counter = 0;
    for (int b = 0; b < BATCHES; b++) {
        int rc;
        uint64_t base = counter;
        do {    /* FSV_BUSY: roll back and run the whole batch again */
            counter = base;
            rc = fsv_store_begin(s);
            for (int k = 0; rc == FSV_OK && k < PER_BATCH; k++) {
                char rid[32], val[16];
                snprintf(rid, sizeof rid, "w%d-b%d-k%d", w, b, k);
                snprintf(val, sizeof val, "%d", k);
                fdsp_change c;
                memset(&c, 0, sizeof c);
                c.table = (char *)"customer";
                c.record = rid;
                c.field = (char *)"name";
                c.value = val;
                c.device = dev;
                c.user = (char *)"alice";
                c.hlc = (++counter) << 16;
                c.server_ms = 1;
                fdsp_vv_entry e = {dev, counter};
                c.vv.n = 1;
                c.vv.e = &e;
                int outcome;
                rc = fsv_store_merge_change(s, &c, &outcome);
                usleep(200);
            }
            if (rc == FSV_OK)
                rc = fsv_store_commit(s);
            else
                fsv_store_rollback(s);
        } while (rc == FSV_BUSY);
        if (rc != FSV_OK) {
            fprintf(stderr, "writer %d: %s\n", w, fsv_store_errmsg(s));
            fsv_store_close(s);
            return 1;
        }
    }
    fsv_store_close(s);
    return 0;
}

static void test_no_gaps(void **state)
{
    (void)state;
    pid_t pids[WRITERS];
    for (int w = 0; w < WRITERS; w++) {
        pids[w] = fork();
        assert_true(pids[w] >= 0);
        if (pids[w] == 0)
            _exit(writer(w));
    }
    fsv_store *s = NULL;
    char err[256];
    assert_int_equal(fsv_store_open(g_url, 0, &s, err, sizeof err), FSV_OK);
    const int64_t total = WRITERS * BATCHES * PER_BATCH;
    unsigned char *seen = calloc((size_t)total + 1, 1);
    assert_non_null(seen);
    int64_t cursor = 0, got = 0;
    int running = WRITERS, pulls = 0;
    /* Pull until the writers are done and the cursor reached the head. */
    for (;;) {
        /* Writers that exited before this pull's snapshot have committed
        ** everything: only then may an empty pull end the loop. */
        int all_done = running == 0;
        int64_t head = 0, last = 0;
        fdsp_change *ch = NULL;
        size_t n = 0;
        int more = 0;
        assert_int_equal(fsv_store_begin_read(s), FSV_OK);
        assert_int_equal(fsv_store_changes_after(s, cursor, 7, NULL, NULL,
                                                 NULL, &ch, &n, &last, &more),
                         FSV_OK);
        assert_int_equal(fsv_store_head(s, &head), FSV_OK);
        assert_int_equal(fsv_store_rollback(s), FSV_OK);
        pulls++;
        for (size_t i = 0; i < n; i++) {
            /* Each number once, in order, none skipped. */
            assert_int_equal(ch[i].seq, cursor + 1);
            assert_true(ch[i].seq <= total);
            assert_int_equal(seen[ch[i].seq], 0);
            seen[ch[i].seq] = 1;
            cursor = ch[i].seq;
            got++;
            fdsp_change_clear(&ch[i]);
        }
        free(ch);
        assert_int_equal(last, cursor);
        if (all_done && !more && cursor == head)
            break;
        for (int w = 0; w < WRITERS; w++) {
            int st;
            if (pids[w] > 0 && waitpid(pids[w], &st, WNOHANG) == pids[w]) {
                assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
                pids[w] = 0;
                running--;
            }
        }
    }
    assert_int_equal(got, total);
    int64_t count = 0, head = 0;
    assert_int_equal(fsv_store_history_count(s, &count), FSV_OK);
    assert_int_equal(fsv_store_head(s, &head), FSV_OK);
    assert_int_equal(count, total);
    assert_int_equal(head, total);
    /* Every change is in its register. */
    for (int w = 0; w < WRITERS; w++)
        for (int b = 0; b < BATCHES; b++) {
            char rid[32], *v = NULL;
            snprintf(rid, sizeof rid, "w%d-b%d-k%d", w, b, PER_BATCH - 1);
            assert_int_equal(fsv_store_field_value(s, "customer", rid, "name",
                                                   &v), FSV_OK);
            free(v);
        }
    printf("pulled %lld changes in %d pulls while %d writers pushed\n",
           (long long)got, pulls, WRITERS);
    free(seen);
    fsv_store_close(s);
}

/* A writer killed with SIGKILL in the middle of a batch: nothing of it is
** stored, its sequencer lock goes with its connection, and the next
** writer's numbers follow the head with no gap. */
static void test_killed_writer(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    fsv_store *s = NULL;
    char err[256];
    assert_int_equal(fsv_store_open(g_url, 0, &s, err, sizeof err), FSV_OK);
    int64_t head0 = 0, n0 = 0;
    assert_int_equal(fsv_store_head(s, &head0), FSV_OK);
    assert_int_equal(fsv_store_history_count(s, &n0), FSV_OK);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        fsv_store *w = NULL;
        char e[256];
        if (fsv_store_open(g_url, 0, &w, e, sizeof e) != FSV_OK ||
            fsv_store_begin(w) != FSV_OK)
            _exit(1);
        for (int k = 0; k < 3; k++) {
            char rid[32];
            snprintf(rid, sizeof rid, "killed-%d", k);
            fdsp_vv_entry e1 = {(char *)"dk", (uint64_t)k + 1};
            fdsp_change c = {.table = (char *)"customer", .record = rid,
                             .field = (char *)"name", .value = (char *)"x",
                             .vv = {1, &e1}, .hlc = 1, .device = (char *)"dk",
                             .user = (char *)"alice", .server_ms = 1};
            int outcome;
            if (fsv_store_merge_change(w, &c, &outcome) != FSV_OK)
                _exit(1);
        }
        if (write(p[1], "x", 1) != 1)
            _exit(1);
        pause();    /* killed here, mid-transaction */
        _exit(0);
    }
    close(p[1]);
    char b;
    assert_int_equal(read(p[0], &b, 1), 1);
    close(p[0]);
    kill(pid, SIGKILL);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st));
    /* The next writer gets the lock and the next number. */
    fdsp_vv_entry e2 = {(char *)"dn", 1};
    fdsp_change c = {.table = (char *)"customer", .record = (char *)"after",
                     .field = (char *)"name", .value = (char *)"y",
                     .vv = {1, &e2}, .hlc = 2, .device = (char *)"dn",
                     .user = (char *)"alice", .server_ms = 1};
    int outcome;
    assert_int_equal(fsv_store_begin(s), FSV_OK);
    assert_int_equal(fsv_store_merge_change(s, &c, &outcome), FSV_OK);
    assert_int_equal(c.seq, head0 + 1);
    assert_int_equal(fsv_store_commit(s), FSV_OK);
    int64_t n1 = 0;
    assert_int_equal(fsv_store_history_count(s, &n1), FSV_OK);
    assert_int_equal(n1, n0 + 1);
    char *v = NULL;
    assert_int_equal(fsv_store_field_value(s, "customer", "killed-0", "name",
                                           &v), FSV_NOTFOUND);
    fsv_store_close(s);
}

/* A writer that cannot get the sequencer within lock_timeout gets
** FSV_BUSY (the retryable code), with nothing begun; once the holder
** commits it gets it. */
static void test_busy(void **state)
{
    (void)state;
    char url[300], err[256];
    /* lock_timeout 100 ms through libpq's options parameter. */
    snprintf(url, sizeof url, "%s&options=-c%%20lock_timeout%%3D100", g_url);
    fsv_store *a = NULL, *b = NULL;
    assert_int_equal(fsv_store_open(g_url, 0, &a, err, sizeof err), FSV_OK);
    assert_int_equal(fsv_store_open(url, 0, &b, err, sizeof err), FSV_OK);
    assert_int_equal(fsv_store_begin(a), FSV_OK);
    assert_int_equal(fsv_store_begin(b), FSV_BUSY);
    assert_non_null(strstr(fsv_store_errmsg(b), "lock"));
    assert_int_equal(fsv_store_rollback(b), FSV_OK);
    assert_int_equal(fsv_store_commit(a), FSV_OK);
    assert_int_equal(fsv_store_begin(b), FSV_OK);
    assert_int_equal(fsv_store_commit(b), FSV_OK);
    /* Each handle sees the other's commit in its data version, never its
    ** own. */
    int64_t va = 0, va2 = 0;
    assert_int_equal(fsv_store_data_version(a, &va), FSV_OK);
    assert_int_equal(fsv_store_begin(a), FSV_OK);
    assert_int_equal(fsv_store_commit(a), FSV_OK);
    assert_int_equal(fsv_store_data_version(a, &va2), FSV_OK);
    assert_int_equal(va2, va);
    assert_int_equal(fsv_store_begin(b), FSV_OK);
    assert_int_equal(fsv_store_commit(b), FSV_OK);
    assert_int_equal(fsv_store_data_version(a, &va2), FSV_OK);
    assert_true(va2 != va);
    fsv_store_close(a);
    fsv_store_close(b);
}

static PGresult *raw(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    assert_true(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK);
    return r;
}

/* A deadlock inside a write transaction (SQLSTATE 40P01) is FSV_BUSY with
** the handle's message set, and nothing of the transaction is written: a
** plain connection holds device d1's row and then asks for the
** sequencer, which the store's transaction holds while it asks for d1's
** row.  The plain connection's deadlock_timeout is long, so PostgreSQL
** finds the cycle from the store's side and aborts the store's
** statement.  The handle then works as before. */
static void test_deadlock_busy(void **state)
{
    (void)state;
    char err[256];
    fsv_store *s = NULL;
    assert_int_equal(fsv_store_open(g_url, 0, &s, err, sizeof err), FSV_OK);
    assert_int_equal(fsv_store_begin(s), FSV_OK);
    assert_int_equal(fsv_store_device_accept(s, "dl-d1", "alice", 1), FSV_OK);
    assert_int_equal(fsv_store_commit(s), FSV_OK);
    int64_t h0 = 0, n0 = 0;
    assert_int_equal(fsv_store_head(s, &h0), FSV_OK);
    assert_int_equal(fsv_store_history_count(s, &n0), FSV_OK);

    PGconn *c = PQconnectdb(g_url);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PQclear(raw(c, "SET deadlock_timeout = '60s'"));
    PQclear(raw(c, "BEGIN"));
    PQclear(raw(c, "UPDATE devices SET counter = counter WHERE device='dl-d1'"));

    assert_int_equal(fsv_store_begin(s), FSV_OK);
    fdsp_vv_entry e = {(char *)"dl-dev", 1};
    fdsp_change ch = {.table = (char *)"customer", .record = (char *)"dl-1",
                      .field = (char *)"name", .value = (char *)"x",
                      .vv = {1, &e}, .hlc = 1 << 16, .device = (char *)"dl-dev",
                      .user = (char *)"alice", .server_ms = 1};
    int outcome = 0;
    assert_int_equal(fsv_store_merge_change(s, &ch, &outcome), FSV_OK);
    /* The plain connection waits for the sequencer ... */
    assert_int_equal(PQsendQuery(c, "SELECT head FROM seqr WHERE id=1"
                                    " FOR UPDATE"), 1);
    /* ... and the store for d1's row: a cycle. */
    int rc = fsv_store_device_accept(s, "dl-d1", "alice", 2);
    assert_int_equal(rc, FSV_BUSY);
    assert_non_null(strstr(fsv_store_errmsg(s), "deadlock"));
    assert_int_equal(fsv_store_rollback(s), FSV_OK);
    /* The plain connection got the sequencer once the store let go. */
    PGresult *r;
    while ((r = PQgetResult(c)) != NULL) {
        assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
        PQclear(r);
    }
    PQclear(raw(c, "ROLLBACK"));
    PQfinish(c);
    /* Nothing half-written: no history row, no record, the same head. */
    int64_t h1 = 0, n1 = 0;
    assert_int_equal(fsv_store_head(s, &h1), FSV_OK);
    assert_int_equal(fsv_store_history_count(s, &n1), FSV_OK);
    assert_int_equal(h1, h0);
    assert_int_equal(n1, n0);
    char *v = NULL;
    assert_int_equal(fsv_store_field_value(s, "customer", "dl-1", "name", &v),
                     FSV_NOTFOUND);
    /* The retry (what the push path does on FSV_BUSY) commits. */
    assert_int_equal(fsv_store_begin(s), FSV_OK);
    assert_int_equal(fsv_store_merge_change(s, &ch, &outcome), FSV_OK);
    assert_int_equal(fsv_store_device_accept(s, "dl-d1", "alice", 2), FSV_OK);
    assert_int_equal(fsv_store_commit(s), FSV_OK);
    assert_int_equal(fsv_store_history_count(s, &n1), FSV_OK);
    assert_int_equal(n1, n0 + 1);
    assert_int_equal(fsv_store_field_value(s, "customer", "dl-1", "name", &v),
                     FSV_OK);
    assert_string_equal(v, "x");
    free(v);
    fsv_store_close(s);
}

static void merge1(fsv_store *s, const char *tbl, const char *rid,
                   const char *field, const char *value, uint64_t k)
{
    fdsp_vv_entry e = {(char *)"sh-dev", k};
    fdsp_change c = {.table = (char *)tbl, .record = (char *)rid,
                     .field = (char *)field, .value = (char *)value,
                     .vv = {1, &e}, .hlc = k << 16, .device = (char *)"sh-dev",
                     .user = (char *)"alice", .server_ms = 1};
    int outcome = 0;
    assert_int_equal(fsv_store_merge_change(s, &c, &outcome), FSV_OK);
}

struct share_probe {
    fsv_store *s;
    int rows, bob, carol, dana;
};

/* A pull's filter asking, row after row, whether the row's customer is
** shared with bob, carol and dana (as sync/visibility.c does). */
static int share_filter(void *ud, const fsv_row *row, int *include)
{
    struct share_probe *p = ud;
    *include = 1;
    if (!row->customer || strcmp(row->customer, "sh-c1") != 0)
        return FSV_OK;
    int b = 0, c = 0, d = 0;
    assert_int_equal(fsv_store_is_shared(p->s, "sh-c1", "bob", &b), FSV_OK);
    assert_int_equal(fsv_store_is_shared(p->s, "sh-c1", "carol", &c), FSV_OK);
    assert_int_equal(fsv_store_is_shared(p->s, "sh-c1", "dana", &d), FSV_OK);
    p->rows++;
    p->bob += b;
    p->carol += c;
    p->dana += d;
    return FSV_OK;
}

/* The pull reads a page's customers and their shares into the records
** memo in one statement each (store_pg_merge.c); a share it did not find
** is then known absent.  The answers must be the same as asking the
** database: shared with bob, not with carol, and not with dana, whose
** share was deleted. */
static void test_pull_shares(void **state)
{
    (void)state;
    char err[256];
    fsv_store *s = NULL;
    assert_int_equal(fsv_store_open(g_url, 0, &s, err, sizeof err), FSV_OK);
    assert_int_equal(fsv_store_begin(s), FSV_OK);
    int64_t h0 = 0;
    assert_int_equal(fsv_store_head(s, &h0), FSV_OK);
    merge1(s, "customer", "sh-c1", "name", "Acme", 1);
    merge1(s, "customer", "sh-c1", "phone", "123", 2);
    merge1(s, "followup", "sh-f1", "customer", "sh-c1", 3);
    merge1(s, "share", "sh-c1:bob", "customer", "sh-c1", 4);
    merge1(s, "share", "sh-c1:bob", "user", "bob", 5);
    merge1(s, "share", "sh-c1:dana", "customer", "sh-c1", 6);
    merge1(s, "share", "sh-c1:dana", "deleted", "1", 7);
    assert_int_equal(fsv_store_commit(s), FSV_OK);
    struct share_probe p = {s, 0, 0, 0, 0};
    fdsp_change *ch = NULL;
    size_t n = 0;
    int64_t last = 0;
    int more = 0;
    assert_int_equal(fsv_store_begin_read(s), FSV_OK);
    assert_int_equal(fsv_store_changes_after(s, h0, 100, NULL, share_filter,
                                             &p, &ch, &n, &last, &more),
                     FSV_OK);
    assert_int_equal(fsv_store_rollback(s), FSV_OK);
    for (size_t i = 0; i < n; i++)
        fdsp_change_clear(&ch[i]);
    free(ch);
    assert_true(p.rows >= 3);
    assert_int_equal(p.bob, p.rows);
    assert_int_equal(p.carol, 0);
    assert_int_equal(p.dana, 0);
    /* And outside any transaction (no memo): the same answers. */
    int b = 0, c = 0;
    assert_int_equal(fsv_store_is_shared(s, "sh-c1", "bob", &b), FSV_OK);
    assert_int_equal(fsv_store_is_shared(s, "sh-c1", "carol", &c), FSV_OK);
    assert_int_equal(b, 1);
    assert_int_equal(c, 0);
    fsv_store_close(s);
}

static int group_setup(void **state)
{
    (void)state;
    char db[64], err[256];
    fsv_store *s = NULL;
    if (ts_pg_start(&g_pg) != 0 ||
        ts_pg_create_db(&g_pg, "order", db, sizeof db) != 0)
        return -1;
    ts_pg_url(&g_pg, db, g_url, sizeof g_url);
    if (fsv_store_open(g_url, 1, &s, err, sizeof err) != FSV_OK) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    fsv_store_close(s);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    ts_pg_stop(&g_pg);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_gaps),
        cmocka_unit_test(test_killed_writer),
        cmocka_unit_test(test_busy),
        cmocka_unit_test(test_deadlock_busy),
        cmocka_unit_test(test_pull_shares),
    };
    return cmocka_run_group_tests_name("postgresql: global order", tests,
                                       group_setup, group_teardown);
}
