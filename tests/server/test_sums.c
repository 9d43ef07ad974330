/*
** test_sums.c — the server's half of the checksum safety net
** (docs/internals/trust.md): the per-key checksum table follows every merge
** (new records, children attached and moved, definitions, orphans), the
** migration fills it for an existing store, a device replica holding the
** same registers has the same bucket sums as the server computes for a
** user who sees everything, and a rep's sums cover only what the rep sees.
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

#include "internal.h"           /* core: fds__apply for the device side */
#include "server.h"
#include "store.h"
#include "store_backends.h"
#include "store_sqlite_int.h"

typedef struct fixture {
    ts_store_place place;       /* dir, path (SQLite's own tests), url */
    fsv_store *s;
    fdsp_change log[64];        /* every change merged, for the device */
    size_t n_log;
} fixture;

/* The backend the running group tests (main loops over them). */
static const ts_store_backend *current = &ts_store_backends[0];

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f || ts_store_fresh(current, &f->place, "sums", &f->s) != 0) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    ts_store_gone(current, &f->place, f->s);
    for (size_t i = 0; i < f->n_log; i++)
        fdsp_change_clear(&f->log[i]);
    free(f);
    return 0;
}

/* Merge one change {device: counter} and keep it for the device. */
static void merge(fixture *f, const char *tbl, const char *rid,
                  const char *field, const char *value, const char *device,
                  uint64_t counter, const char *user)
{
    fdsp_change *c = &f->log[f->n_log++];
    ts_change(c, tbl, rid, field, value, device, counter, counter << 16, user);
    int outcome;
    assert_int_equal(fsv_store_begin(f->s), FSV_OK);
    assert_int_equal(fsv_store_merge_change(f->s, c, &outcome), FSV_OK);
    assert_int_equal(fsv_store_commit(f->s), FSV_OK);
}

/* The checksum of every key, recomputed in C from the registers packed in
** rec (decoded, dumped to their canonical text, summed). */
typedef struct keysum { char ktbl[80], key[80]; uint64_t sum; } keysum;

static size_t recompute(fsv_store *s, keysum *out, size_t cap)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(fsv__store_sqlite_db(s),
        "SELECT tbl, rid, vals, regs, customer FROM rec", -1, &st, NULL),
        SQLITE_OK);
    size_t n = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *tbl = (const char *)sqlite3_column_text(st, 0);
        const char *rid = (const char *)sqlite3_column_text(st, 1);
        const char *cus = (const char *)sqlite3_column_text(st, 4);
        const char *ktbl = cus ? "customer" : tbl, *key = cus ? cus : rid;
        fsv_regpack_field *fl = NULL;
        size_t nf = 0;
        assert_int_equal(fsv__sq_regs_decode(s, tbl, rid, st, 2, &fl, &nf),
                         FSV_OK);
        size_t i = 0;
        while (i < n && !(strcmp(out[i].ktbl, ktbl) == 0 &&
                          strcmp(out[i].key, key) == 0))
            i++;
        if (i == n) {
            assert_true(n < cap);
            snprintf(out[n].ktbl, sizeof out[n].ktbl, "%s", ktbl);
            snprintf(out[n].key, sizeof out[n].key, "%s", key);
            out[n++].sum = 0;
        }
        for (size_t k = 0; k < nf; k++) {
            char *ver = fds_register_dump(&fl[k].reg);
            assert_non_null(ver);
            out[i].sum ^= fdsp_sum_register(tbl, rid, fl[k].name, ver,
                                            strlen(ver));
            free(ver);
        }
        fsv_regpack_free(fl, nf);
    }
    sqlite3_finalize(st);
    return n;
}

/* The table the merges keep equals the recomputation. */
static void assert_table_right(fsv_store *s)
{
    /* The recomputation reads SQLite's rec rows; other backends are held
    ** to the device's sums (test_device_equals_server) instead. */
    if (strcmp(current->name, "sqlite") != 0)
        return;
    keysum want[64];
    size_t nw = recompute(s, want, 64);
    fsv_sum_key *have = NULL;
    size_t nh = 0;
    assert_int_equal(fsv_store_sum_keys(s, &have, &nh), FSV_OK);
    assert_int_equal(nh, nw);
    for (size_t i = 0; i < nw; i++) {
        size_t j = 0;
        while (j < nh && !(strcmp(have[j].ktbl, want[i].ktbl) == 0 &&
                           strcmp(have[j].key, want[i].key) == 0))
            j++;
        if (j == nh)
            fail_msg("key %s/%s missing from the checksum table", want[i].ktbl,
                     want[i].key);
        if (have[j].sum != want[i].sum)
            fail_msg("key %s/%s: table %016llx, registers %016llx",
                     want[i].ktbl, want[i].key,
                     (unsigned long long)have[j].sum,
                     (unsigned long long)want[i].sum);
    }
    free(have);
}

/* alice's c1 with follow-up f1 (content first, then attached), bob's c2,
** a definition, an orphan follow-up of alice, and f1 moved to c2 and
** back; the table is checked after every step. */
static void build(fixture *f)
{
    fsv_store_user_add(f->s, "alice", "rep", "t1");
    fsv_store_user_add(f->s, "bob", "rep", "t2");
    fsv_store_user_add(f->s, "root", "admin", "");
    merge(f, "customer", "c1", "name", "Ann", "da", 1, "alice");
    assert_table_right(f->s);
    merge(f, "customer", "c1", "phone", "138", "da", 2, "alice");
    merge(f, "followup", "f1", "content", "visit", "da", 3, "alice");
    assert_table_right(f->s);           /* an orphan for now */
    merge(f, "followup", "f1", "customer", "c1", "da", 4, "alice");
    assert_table_right(f->s);           /* moved under c1 */
    merge(f, "customer", "c2", "name", "Bo", "db", 1, "bob");
    merge(f, "followup", "f2", "customer", "c2", "db", 2, "bob");
    merge(f, "followup", "f2", "content", "call", "db", 3, "bob");
    assert_table_right(f->s);
    merge(f, "fielddef", "quota", "label", "Quota", "dr", 1, "root");
    merge(f, "followup", "lonely", "content", "x", "da", 5, "alice");
    assert_table_right(f->s);
    merge(f, "customer", "c1", "name", "Anne", "da", 6, "alice");
    assert_table_right(f->s);
}

static void test_table_follows_merges(void **state)
{
    fixture *f = *state;
    build(f);
    /* a child re-attached: its registers move with it */
    merge(f, "followup", "f2", "customer", "c1", "db", 4, "bob");
    assert_table_right(f->s);
    merge(f, "followup", "f2", "customer", "c2", "db", 5, "bob");
    assert_table_right(f->s);
}

/* A store without the table (made before it existed) gets it filled. */
static void test_migration_fills(void **state)
{
    fixture *f = *state;
    build(f);
    assert_int_equal(sqlite3_exec(fsv__store_sqlite_db(f->s),
        "DROP TABLE regsum;", NULL, NULL, NULL), SQLITE_OK);
    fsv_store_close(f->s);
    char err[256];
    assert_int_equal(fsv_store_open(f->place.url, 0, &f->s, err, sizeof err), FSV_OK);
    assert_table_right(f->s);
    merge(f, "customer", "c2", "phone", "139", "db", 6, "bob");
    assert_table_right(f->s);
}

static fds_replica *device_with(fixture *f)
{
    fds_replica *r = NULL;
    char err[256];
    assert_int_equal(fds_replica_open(":memory:", NULL, &r, err, sizeof err),
                     FDS_OK);
    for (size_t i = 0; i < f->n_log; i++) {
        int outcome;
        assert_int_equal(fds__apply(r, &f->log[i], &outcome), FDS_OK);
    }
    return r;
}

static uint64_t differ(const uint64_t *x, const uint64_t *y)
{
    uint64_t d = 0;
    for (int b = 0; b < FDSP_SUM_BUCKETS; b++)
        d |= (uint64_t)(x[b] != y[b]) << b;
    return d;
}

/* Device and server agree on the same registers; one damaged register on
** the device differs in exactly its bucket. */
static void test_device_equals_server(void **state)
{
    fixture *f = *state;
    build(f);
    fds_replica *r = device_with(f);
    fsv_user root;
    assert_int_equal(fsv_store_user_get(f->s, "root", &root), FSV_OK);
    uint64_t dev[FDSP_SUM_BUCKETS], srv[FDSP_SUM_BUCKETS];
    assert_int_equal(fds_replica_sums(r, dev), FDS_OK);
    assert_int_equal(fsv_store_begin_read(f->s), FSV_OK);
    assert_int_equal(fsv_sums_for_user(f->s, &root, srv, NULL, NULL), FSV_OK);
    fsv_store_rollback(f->s);
    assert_int_equal(differ(dev, srv), 0);
    assert_int_equal(sqlite3_exec(r->db, "UPDATE rec SET vals = replace("
        "vals, '\"call\"', '\"mail\"') WHERE rid = 'f2'", NULL, NULL, NULL),
        SQLITE_OK);     /* schema 4: the device's record row */
    assert_int_equal(fds_replica_sums(r, dev), FDS_OK);
    assert_int_equal(differ(dev, srv), 1ULL << fdsp_sum_bucket("c2"));
    fds_replica_close(r);
}

/* A rep's sums are over what the rep sees: alice's are a device's holding
** c1, its follow-up, the definition and her orphan, and bob's customer
** never enters them. */
static void test_rep_sees_own_only(void **state)
{
    fixture *f = *state;
    build(f);
    fsv_user alice;
    assert_int_equal(fsv_store_user_get(f->s, "alice", &alice), FSV_OK);
    uint64_t srv[FDSP_SUM_BUCKETS], again[FDSP_SUM_BUCKETS];
    fsv_sum_key *keys = NULL;
    size_t n = 0;
    assert_int_equal(fsv_store_begin_read(f->s), FSV_OK);
    assert_int_equal(fsv_sums_for_user(f->s, &alice, srv, &keys, &n), FSV_OK);
    fsv_store_rollback(f->s);
    assert_int_equal(n, 3);     /* customer/c1, fielddef/quota, followup/lonely */
    for (size_t i = 0; i < n; i++)
        assert_string_not_equal(keys[i].key, "c2");
    free(keys);
    /* what alice's device holds: every record but bob's */
    fds_replica *r = device_with(f);
    assert_int_equal(sqlite3_exec(r->db, "DELETE FROM rec WHERE rid IN "
        "('c2', 'f2')", NULL, NULL, NULL), SQLITE_OK);
    uint64_t dev[FDSP_SUM_BUCKETS];
    assert_int_equal(fds_replica_sums(r, dev), FDS_OK);
    assert_int_equal(differ(dev, srv), 0);
    fds_replica_close(r);
    /* bob's edits do not move alice's sums */
    merge(f, "customer", "c2", "name", "Bob's", "db", 7, "bob");
    assert_int_equal(fsv_store_begin_read(f->s), FSV_OK);
    assert_int_equal(fsv_sums_for_user(f->s, &alice, again, NULL, NULL), FSV_OK);
    fsv_store_rollback(f->s);
    assert_int_equal(differ(srv, again), 0);
}

/* A rolled-back merge leaves no delta behind; a commit that bypasses
** fsv_store_commit with deltas pending is refused, not silently wrong. */
static void test_rollback_and_stray_commit(void **state)
{
    fixture *f = *state;
    build(f);
    fdsp_change c;
    memset(&c, 0, sizeof c);
    c.table = "customer";
    c.record = "c1";
    c.field = "name";
    c.value = "Annie";
    c.device = "da";
    c.user = "alice";
    c.hlc = 99 << 16;
    assert_int_equal(fds__vv_set(&c.vv, "da", 99), FDS_OK);
    int outcome;
    assert_int_equal(fsv_store_begin(f->s), FSV_OK);
    assert_int_equal(fsv_store_merge_change(f->s, &c, &outcome), FSV_OK);
    assert_int_equal(fsv_store_rollback(f->s), FSV_OK);
    fdsp_vv_clear(&c.vv);
    assert_table_right(f->s);
    merge(f, "customer", "c1", "phone", "137", "da", 100, "alice");
    assert_table_right(f->s);
    /* A merge committed behind fsv_store_commit's back (its deltas and
    ** its record row not written) is refused. */
    sqlite3 *db = fsv__store_sqlite_db(f->s);
    c.value = "Bx";
    c.record = "c2";
    c.device = "db";
    c.user = "bob";
    c.hlc = 98 << 16;
    assert_int_equal(fds__vv_set(&c.vv, "db", 98), FDS_OK);
    assert_int_equal(fsv_store_begin(f->s), FSV_OK);
    assert_int_equal(fsv_store_merge_change(f->s, &c, &outcome), FSV_OK);
    assert_int_not_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL),
                         SQLITE_OK);
    assert_int_equal(fsv_store_rollback(f->s), FSV_OK);
    fdsp_vv_clear(&c.vv);
    assert_table_right(f->s);
    char *v = NULL;
    assert_int_equal(fsv_store_field_value(f->s, "customer", "c2", "name", &v),
                     FSV_OK);
    assert_string_equal(v, "Bo");
    free(v);
}

int main(void)
{
    /* Through store.h only: run against every backend. */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_device_equals_server, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rep_sees_own_only, setup, teardown),
    };
    /* They read or break the SQLite backend's checksum table itself. */
    const struct CMUnitTest sqlite_tests[] = {
        cmocka_unit_test_setup_teardown(test_table_follows_merges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_fills, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollback_and_stray_commit, setup, teardown),
    };
    int failed = 0;
    for (size_t i = 0; i < ts_n_store_backends; i++) {
        char name[64];
        current = &ts_store_backends[i];
        if (ts_store_lacks(current, "sums"))
            continue;
        snprintf(name, sizeof name, "sums conformance: %s", current->name);
        failed += _cmocka_run_group_tests(name, tests,
                                          sizeof tests / sizeof tests[0],
                                          NULL, NULL);
        if (strcmp(current->name, "sqlite") == 0)
            failed += cmocka_run_group_tests_name("sums: sqlite backend",
                                                  sqlite_tests, NULL, NULL);
    }
    return failed;
}
