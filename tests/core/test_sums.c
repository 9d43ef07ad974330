/*
** test_sums.c — the device side of the checksum safety net
** (docs/internals/trust.md): bucket sums from a full register scan, and the
** repair that drops exactly the registers of the named buckets.
**
** FDS_SUMS_BENCH=N (e.g. 60000) also times the scan on a file replica of N
** records (bench_scan; skipped otherwise).
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "internal.h"
#include "testenv.h"

static void exec_sql(fds_replica *r, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(r->db, sql, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("%s: %s", sql, err);
}

static int64_t count(fds_replica *r, const char *sql)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(r->db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* Customers c0..c(n-1), each with a follow-up f<i> attached to it, one
** field definition and one follow-up without a customer. */
static void fill(fds_replica *r, int n)
{
    char id[32], fid[32];
    for (int i = 0; i < n; i++) {
        snprintf(id, sizeof id, "c%d", i);
        snprintf(fid, sizeof fid, "f%d", i);
        assert_int_equal(fds__write1(r, "customer", id, "name", id), FDS_OK);
        assert_int_equal(fds__write1(r, "customer", id, "phone", "138"), FDS_OK);
        assert_int_equal(fds__write1(r, "followup", fid, "content", "visit"),
                         FDS_OK);
        assert_int_equal(fds__write1(r, "followup", fid, "customer", id),
                         FDS_OK);
    }
    assert_int_equal(fds__write1(r, "fielddef", "quota", "label", "Quota"),
                     FDS_OK);
    assert_int_equal(fds__write1(r, "followup", "lonely", "content", "x"),
                     FDS_OK);
}

/* Copy every record row of a into b: byte-equal registers (schema 4:
** one rec row per record). */
static void copy_regs(fds_replica *a, fds_replica *b)
{
    sqlite3_stmt *rd, *wr;
    assert_int_equal(sqlite3_prepare_v2(a->db, "SELECT tbl, rid, vals, meta,"
        " conflict, cust, phone, wechat FROM rec", -1, &rd, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(b->db, "INSERT INTO rec(tbl, rid, "
        "vals, meta, conflict, cust, phone, wechat) VALUES"
        " (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", -1, &wr, NULL), SQLITE_OK);
    while (sqlite3_step(rd) == SQLITE_ROW) {
        sqlite3_reset(wr);
        for (int i = 0; i < 8; i++)
            sqlite3_bind_value(wr, i + 1, sqlite3_column_value(rd, i));
        assert_int_equal(sqlite3_step(wr), SQLITE_DONE);
    }
    sqlite3_finalize(rd);
    sqlite3_finalize(wr);
}

/* The buckets where x and y differ, as a bit set. */
static uint64_t differ(const uint64_t *x, const uint64_t *y)
{
    uint64_t d = 0;
    for (int b = 0; b < FDSP_SUM_BUCKETS; b++)
        if (x[b] != y[b])
            d |= 1ULL << b;
    return d;
}

static void test_equal_replicas_equal_sums(void **state)
{
    (void)state;
    test_env ta, tb;
    test_env_init(&ta, 1700000000000, 1);
    test_env_init(&tb, 1700000000000, 2);
    fds_replica *a = test_open(&ta), *b = test_open(&tb);
    fill(a, 40);
    copy_regs(a, b);
    uint64_t sa[FDSP_SUM_BUCKETS], sb[FDSP_SUM_BUCKETS];
    assert_int_equal(fds_replica_sums(a, sa), FDS_OK);
    assert_int_equal(fds_replica_sums(b, sb), FDS_OK);
    assert_int_equal(differ(sa, sb), 0);
    /* not all zero: 40 customers spread over buckets */
    int nonzero = 0;
    for (int i = 0; i < FDSP_SUM_BUCKETS; i++)
        nonzero += sa[i] != 0;
    assert_true(nonzero > 10);
    /* the log, the outbox and meta play no part */
    exec_sql(b, "DELETE FROM log; UPDATE meta SET value = '7' "
                "WHERE key = 'cursor'");
    assert_int_equal(fds_replica_sums(b, sb), FDS_OK);
    assert_int_equal(differ(sa, sb), 0);
    fds_replica_close(a);
    fds_replica_close(b);
}

/* One changed register changes exactly its bucket: a customer's own, and
** for a child its customer's. */
static void test_one_register_one_bucket(void **state)
{
    (void)state;
    test_env t;
    test_env_init(&t, 1700000000000, 3);
    fds_replica *r = test_open(&t);
    fill(r, 40);
    uint64_t before[FDSP_SUM_BUCKETS], after[FDSP_SUM_BUCKETS];
    assert_int_equal(fds_replica_sums(r, before), FDS_OK);

    /* a winning value changed behind the core's back */
    exec_sql(r, "UPDATE rec SET vals = replace(vals, '\"phone\":\"138\"',"
                " '\"phone\":\"139\"') WHERE tbl = 'customer' AND rid = 'c7'");
    assert_int_equal(fds_replica_sums(r, after), FDS_OK);
    assert_int_equal(differ(before, after), 1ULL << fdsp_sum_bucket("c7"));

    /* a child: the bucket of its customer, not its own id */
    memcpy(before, after, sizeof before);
    exec_sql(r, "UPDATE rec SET vals = replace(vals, '\"visit\"',"
                " '\"call\"') WHERE tbl = 'followup' AND rid = 'f9'");
    assert_int_equal(fds_replica_sums(r, after), FDS_OK);
    assert_int_equal(differ(before, after), 1ULL << fdsp_sum_bucket("c9"));

    /* a row that no longer decodes (schema 4): its bucket */
    memcpy(before, after, sizeof before);
    exec_sql(r, "UPDATE rec SET meta = X'02' WHERE tbl = 'customer' AND"
                " rid = 'c3'");
    assert_int_equal(fds_replica_sums(r, after), FDS_OK);
    assert_int_equal(differ(before, after), 1ULL << fdsp_sum_bucket("c3"));

    /* a record gone: its bucket */
    memcpy(before, after, sizeof before);
    exec_sql(r, "DELETE FROM rec WHERE tbl = 'followup' AND rid = 'lonely'");
    assert_int_equal(fds_replica_sums(r, after), FDS_OK);
    assert_int_equal(differ(before, after), 1ULL << fdsp_sum_bucket("lonely"));
    fds_replica_close(r);
}

/* Repair drops the registers of exactly the records in the buckets, in
** one transaction, and keeps the log, the outbox and the cursor. */
static void test_repair_drops_bucket_only(void **state)
{
    (void)state;
    test_env t;
    test_env_init(&t, 1700000000000, 4);
    fds_replica *r = test_open(&t);
    fill(r, 40);
    assert_int_equal(fds_meta_set(r, "cursor", "42"), FDS_OK);
    int64_t logs = count(r, "SELECT count(*) FROM log");
    int64_t outbox = 0;
    assert_int_equal(fds_outbox_count(r, &outbox), FDS_OK);
    int b = fdsp_sum_bucket("c5");
    /* every record whose key is in bucket b */
    int64_t in_b = 0, regs_in_b = 0, regs = count(r, "SELECT count(*) FROM reg");
    for (int i = 0; i < 40; i++) {
        char id[16];
        snprintf(id, sizeof id, "c%d", i);
        if (fdsp_sum_bucket(id) == b) {
            in_b += 2;          /* the customer and its follow-up */
            regs_in_b += 3 + 3; /* two fields each, and deleted = "0" */
        }
    }
    if (fdsp_sum_bucket("quota") == b) { in_b++; regs_in_b++; }
    if (fdsp_sum_bucket("lonely") == b) { in_b++; regs_in_b++; }
    int64_t records = -1;
    assert_int_equal(fds__sums_repair(r, &b, 1, &records), FDS_OK);
    assert_int_equal(records, in_b);
    assert_int_equal(count(r, "SELECT count(*) FROM reg"), regs - regs_in_b);
    assert_int_equal(count(r, "SELECT count(*) FROM reg WHERE rid IN "
                              "('c5', 'f5')"), 0);
    assert_int_equal(count(r, "SELECT count(*) FROM log"), logs);
    int64_t ob2 = 0;
    assert_int_equal(fds_outbox_count(r, &ob2), FDS_OK);
    assert_int_equal(ob2, outbox);
    char *cur = NULL;
    assert_int_equal(fds_meta_get(r, "cursor", &cur), FDS_OK);
    assert_string_equal(cur, "42");
    free(cur);
    /* the other buckets are untouched and now bucket b is empty */
    uint64_t s[FDSP_SUM_BUCKETS];
    assert_int_equal(fds_replica_sums(r, s), FDS_OK);
    assert_int_equal(s[b], 0);
    /* a bucket out of range is a protocol error and drops nothing */
    int bad = FDSP_SUM_BUCKETS;
    assert_int_equal(fds__sums_repair(r, &bad, 1, &records), FDS_PROTO);
    assert_int_equal(count(r, "SELECT count(*) FROM reg"), regs - regs_in_b);
    fds_replica_close(r);
}

/* ---- The session: sums once caught up, repair then pull ----------------------- */

static fdsp_msg *next_msg(fds_session *ss, int want_type)
{
    char *buf = NULL;
    size_t len = 0;
    int rc = fds_session_next(ss, &buf, &len);
    if (rc != FDS_OK)
        fail_msg("next: %d (%s), wanted %s", rc, fds_session_errmsg(ss),
                 fdsp_typename(want_type));
    fdsp_msg *m = NULL;
    assert_int_equal(fdsp_decode(buf, len, &m, NULL, 0), FDSP_OK);
    free(buf);
    if ((int)m->type != want_type)
        fail_msg("session sent %s, wanted %s", fdsp_typename(m->type),
                 fdsp_typename(want_type));
    return m;
}

static void feed(fds_session *ss, const fdsp_msg *m)
{
    char *buf = NULL;
    size_t len = 0;
    assert_int_equal(fdsp_encode(m, &buf, &len), FDSP_OK);
    int rc = fds_session_feed(ss, buf, len);
    free(buf);
    if (rc != FDS_OK)
        fail_msg("feed %s: %s", fdsp_typename(m->type), fds_session_errmsg(ss));
}

static char *versions_of(fds_replica *r, const char *rid, const char *field)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(r->db, "SELECT versions FROM reg "
        "WHERE rid = ?1 AND field = ?2", -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_text(st, 1, rid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, field, -1, SQLITE_STATIC);
    char *v = strdup(sqlite3_step(st) == SQLITE_ROW
                     ? (const char *)sqlite3_column_text(st, 0) : "");
    sqlite3_finalize(st);
    return v;
}

/* hello, welcome, push, ack, pull, an empty last page: caught up. */
static void handshake_and_catch_up_as(fds_session *ss, fds_replica *r,
                                      const char *store)
{
    fdsp_msg *m = next_msg(ss, FDSP_HELLO);
    fdsp_msg w;
    memset(&w, 0, sizeof w);
    w.type = FDSP_WELCOME;
    w.version = FDSP_VERSION;
    w.user = "alice";
    w.role = "rep";
    w.device = (char *)fds_replica_device(r);
    w.store = (char *)store;    /* non-NULL: a server that knows sums */
    feed(ss, &w);
    fdsp_msg_free(m);
    int64_t ob = 0;
    assert_int_equal(fds_outbox_count(r, &ob), FDS_OK);
    if (ob > 0) {
        m = next_msg(ss, FDSP_PUSH);
        fdsp_msg a;
        memset(&a, 0, sizeof a);
        a.type = FDSP_ACK;
        a.batch = m->batch;
        a.accepted = m->n_changes;
        feed(ss, &a);
        fdsp_msg_free(m);
    }
    m = next_msg(ss, FDSP_PULL);
    fdsp_msg c;
    memset(&c, 0, sizeof c);
    c.type = FDSP_CHANGES;
    c.last = m->after;
    feed(ss, &c);
    fdsp_msg_free(m);
}

static void handshake_and_catch_up(fds_session *ss, fds_replica *r)
{
    handshake_and_catch_up_as(ss, r, "store-1");
}

static void assert_value_phone(fds_replica *r, const char *want)
{
    json_t *o = NULL;
    assert_int_equal(fds__read(r, "customer", "c1", &o), FDS_OK);
    assert_string_equal(json_string_value(json_object_get(o, "phone")), want);
    json_decref(o);
}

static void test_session_sums_and_repair(void **state)
{
    (void)state;
    test_env t;
    test_env_init(&t, 1700000000000, 5);
    fds_replica *r = test_open(&t);
    assert_int_equal(fds__write1(r, "customer", "c1", "name", "Ann"), FDS_OK);
    assert_int_equal(fds__write1(r, "customer", "c1", "phone", "138"), FDS_OK);
    assert_int_equal(fds__write1(r, "customer", "c2", "name", "Bo"), FDS_OK);
    char *name = versions_of(r, "c1", "name"), *phone = versions_of(r, "c1", "phone");
    char *del = versions_of(r, "c1", "deleted");

    fds_session *ss = NULL;
    assert_int_equal(fds_session_new(r, &ss), FDS_OK);
    fds_session_set_sums(ss, 1, 0);
    handshake_and_catch_up(ss, r);
    /* pushed everything and caught up: the sums of a full scan */
    fdsp_msg *m = next_msg(ss, FDSP_SUMS);
    uint64_t want[FDSP_SUM_BUCKETS];
    assert_int_equal(fds_replica_sums(r, want), FDS_OK);
    assert_int_equal(m->n_sums, FDSP_SUM_BUCKETS);
    assert_memory_equal(m->sums, want, sizeof want);
    fdsp_msg_free(m);
    char *buf;
    size_t len;
    assert_int_equal(fds_session_next(ss, &buf, &len), FDS_DONE);
    assert_int_equal(fds_session_state(ss), FDS_SESSION_SYNCING); /* waits */

    /* the server says c1's bucket differs */
    int64_t logs = count(r, "SELECT count(*) FROM log");
    int b = fdsp_sum_bucket("c1");
    fdsp_msg rep;
    memset(&rep, 0, sizeof rep);
    rep.type = FDSP_REPAIR;
    rep.buckets = &b;
    rep.n_buckets = 1;
    feed(ss, &rep);
    assert_int_equal(fds__exists_any(r, "customer", "c1"), 0);
    assert_int_equal(count(r, "SELECT count(*) FROM log"), logs);
    if (fdsp_sum_bucket("c2") != b)
        assert_int_equal(fds__exists_any(r, "customer", "c2"), 1);

    /* it pulls; the resend brings c1's full state back */
    m = next_msg(ss, FDSP_PULL);
    fds_register regs[3];
    const char *const texts[3] = {name, phone, del};
    fdsp_change back[3];
    for (int i = 0; i < 3; i++) {
        assert_int_equal(fds_register_parse(texts[i], &regs[i]), FDS_OK);
        assert_int_equal(regs[i].n, 1);
        back[i] = regs[i].v[0];
        back[i].table = "customer";
        back[i].record = "c1";
        back[i].field = i == 0 ? "name" : i == 1 ? "phone" : "deleted";
        back[i].seq = 1;
    }
    fdsp_msg c;
    memset(&c, 0, sizeof c);
    c.type = FDSP_CHANGES;
    c.changes = back;
    c.n_changes = 3;
    c.last = m->after;
    feed(ss, &c);
    fdsp_msg_free(m);
    for (int i = 0; i < 3; i++) {
        back[i].table = back[i].record = back[i].field = NULL;
        regs[i].v[0].table = regs[i].v[0].record = regs[i].v[0].field = NULL;
        fds_register_clear(&regs[i]);
    }
    /* once per session: idle now, no second sums */
    assert_int_equal(fds_session_next(ss, &buf, &len), FDS_DONE);
    assert_int_equal(fds_session_state(ss), FDS_SESSION_IDLE);
    char *now = versions_of(r, "c1", "phone");
    assert_string_equal(now, phone);
    free(now);
    fds_session_stats st;
    fds_session_stats_get(ss, &st);
    assert_int_equal(st.repaired, 1);
    assert_true(st.repaired_records >= 1);
    fds_session_free(ss);

    /* off by default: caught up means idle, nothing more is sent */
    assert_int_equal(fds_session_new(r, &ss), FDS_OK);
    handshake_and_catch_up(ss, r);
    assert_int_equal(fds_session_next(ss, &buf, &len), FDS_DONE);
    assert_int_equal(fds_session_state(ss), FDS_SESSION_IDLE);
    fds_session_free(ss);

    /* a write made while the repair was on its way: nothing is dropped
    ** (the server's resend predates it; our own write would not return) */
    assert_int_equal(fds_session_new(r, &ss), FDS_OK);
    fds_session_set_sums(ss, 1, 0);
    handshake_and_catch_up(ss, r);
    m = next_msg(ss, FDSP_SUMS);
    fdsp_msg_free(m);
    assert_int_equal(fds__write1(r, "customer", "c1", "phone", "139"), FDS_OK);
    feed(ss, &rep);
    assert_int_equal(fds__exists_any(r, "customer", "c1"), 1);
    assert_value_phone(r, "139");
    fds_session_free(ss);

    /* a welcome without `store` (an old server): no sums at all */
    assert_int_equal(fds_session_new(r, &ss), FDS_OK);
    fds_session_set_sums(ss, 1, 0);
    handshake_and_catch_up_as(ss, r, NULL);
    assert_int_equal(fds_session_next(ss, &buf, &len), FDS_DONE);
    assert_int_equal(fds_session_state(ss), FDS_SESSION_IDLE);
    fds_session_free(ss);

    /* a server that does not know sums answers with an error: idle */
    assert_int_equal(fds_session_new(r, &ss), FDS_OK);
    fds_session_set_sums(ss, 1, 0);
    handshake_and_catch_up(ss, r);
    m = next_msg(ss, FDSP_SUMS);
    fdsp_msg_free(m);
    fdsp_msg e;
    memset(&e, 0, sizeof e);
    e.type = FDSP_ERROR;
    e.code = FDSP_E_STATE;
    e.message = "a device may not send sums";
    feed(ss, &e);
    assert_int_equal(fds_session_next(ss, &buf, &len), FDS_DONE);
    assert_int_equal(fds_session_state(ss), FDS_SESSION_IDLE);
    fds_session_free(ss);

    /* with something still in the outbox, no sums (pushed first) */
    assert_int_equal(fds__write1(r, "customer", "c3", "name", "Cy"), FDS_OK);
    assert_int_equal(fds_session_new(r, &ss), FDS_OK);
    fds_session_set_sums(ss, 1, 0);
    m = next_msg(ss, FDSP_HELLO);
    fdsp_msg_free(m);
    fdsp_msg w;
    memset(&w, 0, sizeof w);
    w.type = FDSP_WELCOME;
    w.version = FDSP_VERSION;
    w.user = "alice";
    w.role = "rep";
    w.device = (char *)fds_replica_device(r);
    feed(ss, &w);
    m = next_msg(ss, FDSP_PUSH);       /* not sums */
    fdsp_msg_free(m);
    fds_session_free(ss);
    free(name);
    free(phone);
    free(del);
    fds_replica_close(r);
}

/* FDS_SUMS_BENCH=N: the scan's cost on a file replica of N records. */
static void bench_scan(void **state)
{
    (void)state;
    const char *env = getenv("FDS_SUMS_BENCH");
    int n = env ? atoi(env) : 0;
    if (n <= 0)
        skip();
    char path[] = "/tmp/fds-sums-bench-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    unlink(path);
    fds_replica *r = NULL;
    char err[256];
    assert_int_equal(fds_replica_open(path, NULL, &r, err, sizeof err), FDS_OK);
    assert_int_equal(fds_begin(r), FDS_OK);
    /* n records: n/2 customers of 6 fields and n/2 follow-ups of 4 */
    for (int i = 0; i < n / 2; i++) {
        char id[48], fid[48];
        snprintf(id, sizeof id, "customer-%08d-0000-0000-000000000000", i);
        snprintf(fid, sizeof fid, "followup-%08d-0000-0000-000000000000", i);
        fds__write1(r, "customer", id, "name", "某某科技有限公司 张三");
        fds__write1(r, "customer", id, "phone", "+86 138 0000 0000");
        fds__write1(r, "customer", id, "company", "Example Logistics Ltd");
        fds__write1(r, "customer", id, "stage", "intent");
        fds__write1(r, "customer", id, "owner", "alice");
        fds__write1(r, "customer", id, "notes", "prefers WeChat, calls after 5pm");
        fds__write1(r, "followup", fid, "customer", id);
        fds__write1(r, "followup", fid, "method", "visit");
        fds__write1(r, "followup", fid, "content", "discussed the quote");
        fds__write1(r, "followup", fid, "at", "1700000000000");
    }
    assert_int_equal(fds_commit(r), FDS_OK);
    int64_t regs = count(r, "SELECT count(*) FROM reg");
    uint64_t s[FDSP_SUM_BUCKETS];
    struct timespec t0, t1;
    double best = 1e9;
    for (int k = 0; k < 3; k++) {
        clock_gettime(CLOCK_MONOTONIC, &t0);
        assert_int_equal(fds_replica_sums(r, s), FDS_OK);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
        if (ms < best)
            best = ms;
    }
    printf("sums scan: %d records, %lld registers: %.1f ms (best of 3)\n", n,
           (long long)regs, best);
    fds_replica_close(r);
    char p[64];
    const char *sfx[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", path, sfx[i]);
        unlink(p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_equal_replicas_equal_sums),
        cmocka_unit_test(test_one_register_one_bucket),
        cmocka_unit_test(test_repair_drops_bucket_only),
        cmocka_unit_test(test_session_sums_and_repair),
        cmocka_unit_test(bench_scan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
