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

/* Copy every reg row of a into b: byte-equal registers. */
static void copy_regs(fds_replica *a, fds_replica *b)
{
    sqlite3_stmt *rd, *wr;
    assert_int_equal(sqlite3_prepare_v2(a->db, "SELECT tbl, rid, field, value,"
        " versions, conflict FROM reg", -1, &rd, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(b->db, "INSERT INTO reg VALUES"
        " (?1, ?2, ?3, ?4, ?5, ?6)", -1, &wr, NULL), SQLITE_OK);
    while (sqlite3_step(rd) == SQLITE_ROW) {
        sqlite3_reset(wr);
        for (int i = 0; i < 6; i++)
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

    /* versions and value changed together, behind the core's back */
    exec_sql(r, "UPDATE reg SET value = '139', versions = replace(versions,"
                " '\"v\":\"138\"', '\"v\":\"139\"') WHERE tbl = 'customer'"
                " AND rid = 'c7' AND field = 'phone'");
    assert_int_equal(fds_replica_sums(r, after), FDS_OK);
    assert_int_equal(differ(before, after), 1ULL << fdsp_sum_bucket("c7"));

    /* a child: the bucket of its customer, not its own id */
    memcpy(before, after, sizeof before);
    exec_sql(r, "UPDATE reg SET versions = replace(versions, '\"visit\"',"
                " '\"call\"'), value = 'call' WHERE tbl = 'followup' AND"
                " rid = 'f9' AND field = 'content'");
    assert_int_equal(fds_replica_sums(r, after), FDS_OK);
    assert_int_equal(differ(before, after), 1ULL << fdsp_sum_bucket("c9"));

    /* only the value column: the copy disagrees with its versions */
    memcpy(before, after, sizeof before);
    exec_sql(r, "UPDATE reg SET value = 'Zed' WHERE tbl = 'customer' AND"
                " rid = 'c3' AND field = 'name'");
    assert_int_equal(fds_replica_sums(r, after), FDS_OK);
    assert_int_equal(differ(before, after), 1ULL << fdsp_sum_bucket("c3"));

    /* a record gone: its bucket */
    memcpy(before, after, sizeof before);
    exec_sql(r, "DELETE FROM reg WHERE tbl = 'followup' AND rid = 'lonely'");
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
        cmocka_unit_test(bench_scan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
