/*
** test_schema2.c — schema 2 (partial value indexes): a schema-1 file is
** migrated in place with its data, the lookups that need an index use one,
** and the hot register lookup is not re-prepared on every call (SQLite
** re-prepares a statement whose "column = ?N" it compared with a partial
** index's "column = 'literal'" each time ?N is re-bound).
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "internal.h"

static char path[128];

static void remove_files(void)
{
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
    char p[160];
    for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
        snprintf(p, sizeof p, "%s%s", path, suffix[i]);
        unlink(p);
    }
}

static int setup(void **state)
{
    (void)state;
    snprintf(path, sizeof path, "/tmp/fds-schema2-%ld.db", (long)getpid());
    remove_files();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    remove_files();
    return 0;
}

static int64_t query_i64(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* 1 if EXPLAIN QUERY PLAN of sql (parameters unbound) mentions `index`. */
static int plan_uses(sqlite3 *db, const char *sql, const char *index)
{
    char q[1024];
    snprintf(q, sizeof q, "EXPLAIN QUERY PLAN %s", sql);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
    int found = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *d = (const char *)sqlite3_column_text(st, 3);
        if (d && strstr(d, index))
            found = 1;
    }
    sqlite3_finalize(st);
    return found;
}

/* A file as schema 1 left it, with a customer, a follow-up and a log. */
static void make_schema1_file(void)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    const char *sql =
        "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);"
        "CREATE TABLE reg(tbl TEXT NOT NULL, rid TEXT NOT NULL,"
        " field TEXT NOT NULL, value TEXT, versions TEXT NOT NULL,"
        " conflict INTEGER NOT NULL DEFAULT 0,"
        " PRIMARY KEY(tbl, rid, field)) WITHOUT ROWID;"
        "CREATE INDEX reg_by_value ON reg(tbl, field, value);"
        "CREATE INDEX reg_conflict ON reg(conflict) WHERE conflict <> 0;"
        "CREATE TABLE log(lseq INTEGER PRIMARY KEY, tbl TEXT NOT NULL,"
        " rid TEXT NOT NULL, field TEXT NOT NULL, value TEXT,"
        " vv TEXT NOT NULL, hlc INTEGER NOT NULL, device TEXT NOT NULL,"
        " user TEXT NOT NULL DEFAULT '', origin INTEGER NOT NULL,"
        " acked INTEGER NOT NULL DEFAULT 0, sseq INTEGER NOT NULL DEFAULT 0,"
        " at_ms INTEGER NOT NULL);"
        "CREATE INDEX log_outbox ON log(lseq) WHERE origin = 1 AND acked = 0;"
        "CREATE INDEX log_by_rec ON log(tbl, rid);"
        "CREATE TABLE refusal(id INTEGER PRIMARY KEY, tbl TEXT, rid TEXT,"
        " field TEXT, value TEXT, code INTEGER, message TEXT, at_ms INTEGER);"
        "INSERT INTO reg VALUES('customer', 'c1', 'name', 'Ann',"
        " '[{\"d\":\"dev\",\"h\":1,\"u\":\"\",\"v\":\"Ann\",\"vv\":{\"dev\":1}}]', 0);"
        "INSERT INTO reg VALUES('customer', 'c1', 'phone', '+86 1',"
        " '[{\"d\":\"dev\",\"h\":2,\"u\":\"\",\"v\":\"+86 1\",\"vv\":{\"dev\":2}}]', 0);"
        "INSERT INTO reg VALUES('followup', 'f1', 'customer', 'c1',"
        " '[{\"d\":\"dev\",\"h\":3,\"u\":\"\",\"v\":\"c1\",\"vv\":{\"dev\":3}}]', 0);"
        "INSERT INTO log(tbl, rid, field, value, vv, hlc, device, origin, at_ms)"
        " VALUES('customer', 'c1', 'name', 'Ann', '{\"dev\":1}', 1, 'dev', 0, 1);"
        "PRAGMA user_version=1;";
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static void test_migrates_schema1_in_place(void **state)
{
    (void)state;
    make_schema1_file();
    fds_replica *r = NULL;
    char err[256] = "";
    assert_int_equal(fds_replica_open(path, NULL, &r, err, sizeof err), FDS_OK);
    assert_int_equal(query_i64(r->db, "PRAGMA user_version"),
                     FDS__SCHEMA_VERSION);
    /* the data is still there */
    json_t *o = NULL;
    assert_int_equal(fds__read(r, "customer", "c1", &o), FDS_OK);
    assert_string_equal(json_string_value(json_object_get(o, "phone")), "+86 1");
    json_decref(o);
    /* schema 4: the partial indexes are on the record rows' extracted
    ** columns (schema.c, 3 -> 4) */
    assert_int_equal(query_i64(r->db, "SELECT count(*) FROM sqlite_master "
                               "WHERE name = 'rec_by_cust' AND "
                               "sql LIKE '%WHERE cust IS NOT NULL%'"), 1);
    assert_int_equal(query_i64(r->db, "SELECT count(*) FROM sqlite_master "
                               "WHERE name = 'rec_by_phone'"), 1);
    /* children of a customer and phone duplicates are found by index */
    assert_true(plan_uses(r->db, "SELECT rid FROM rec WHERE cust = ?2 "
                          "AND tbl = ?1", "rec_by_cust"));
    assert_true(plan_uses(r->db, "SELECT rid FROM rec WHERE phone = ?3 "
                          "AND ?2 = 'phone' UNION ALL SELECT rid FROM rec "
                          "WHERE wechat = ?3 AND ?2 = 'wechat' ORDER BY 1",
                          "rec_by_phone"));
    assert_int_equal(query_i64(r->db, "SELECT cust FROM rec WHERE "
                               "tbl = 'followup' AND rid = 'f1'"), 0);
    assert_int_equal(query_i64(r->db, "SELECT count(*) FROM reg WHERE "
                               "tbl = 'followup' AND field = 'customer' "
                               "AND value = 'c1'"), 1);
    fds_replica_close(r);
    /* a second open finds the current version and changes nothing */
    assert_int_equal(fds_replica_open(path, NULL, &r, err, sizeof err), FDS_OK);
    assert_int_equal(query_i64(r->db, "PRAGMA user_version"),
                     FDS__SCHEMA_VERSION);
    fds_replica_close(r);
}

/* A schema-2 file (as fieldsync left it before rule 13) with an unsynced
** write opens at the current schema: every change has resend 0 (nothing
** to re-send), and the unsynced write is still in the outbox.  (Schema 4
** keeps the log as change groups, so the schema-2 file is made by hand
** rather than by downgrading a current one.) */
static void test_migrates_schema2_to_3(void **state)
{
    (void)state;
    fds_replica *r = NULL;
    char err[256] = "";
    make_schema1_file();
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
        "DROP INDEX reg_by_value;"
        "CREATE INDEX reg_by_value ON reg(tbl, value) WHERE field = 'customer';"
        "CREATE INDEX reg_by_contact ON reg(field, value)"
        " WHERE field IN ('phone', 'wechat');"
        "INSERT INTO log(tbl, rid, field, value, vv, hlc, device, origin, at_ms)"
        " VALUES('customer', 'c1', 'phone', '+86 1', '{\"dev\":2}', 2, 'dev',"
        " 1, 2);"
        "PRAGMA user_version=2;", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(fds_replica_open(path, NULL, &r, err, sizeof err), FDS_OK);
    assert_int_equal(query_i64(r->db, "PRAGMA user_version"),
                     FDS__SCHEMA_VERSION);
    assert_int_equal(query_i64(r->db, "SELECT count(*) FROM log WHERE "
                               "resend = 0"), 2);
    assert_int_equal(query_i64(r->db, "SELECT count(*) FROM sqlite_master "
                               "WHERE name = 'glog_resend'"), 1);
    int64_t n = 0;
    assert_int_equal(fds_outbox_count(r, &n), FDS_OK);
    assert_int_equal(n, 1);
    fds_replica_close(r);
}

/* The register lookup and the local write path keep their prepared
** statements: no re-prepare however many different fields are bound. */
static void test_register_lookup_not_reprepared(void **state)
{
    (void)state;
    fds_replica *r = NULL;
    char err[256] = "";
    assert_int_equal(fds_replica_open(path, NULL, &r, err, sizeof err), FDS_OK);
    static const char *const fields[] = {"name", "phone", "company", "notes",
                                         "customer", "wechat"};
    for (int round = 0; round < 3; round++)
        for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
            char v[32];
            snprintf(v, sizeof v, "v%d", round);
            assert_int_equal(fds__write1(r, "customer", "c9", fields[i], v),
                             FDS_OK);
            fds_register reg = {0, NULL};
            assert_int_equal(fds__reg_load(r, "customer", "c9", fields[i], &reg),
                             FDS_OK);
            assert_int_equal(reg.n, 1);
            fds_register_clear(&reg);
        }
    for (int slot = 0; slot < FDS__ST__COUNT; slot++) {
        if (r->st[slot] == NULL)
            continue;
        if (sqlite3_stmt_status(r->st[slot], SQLITE_STMTSTATUS_REPREPARE, 0) != 0)
            fail_msg("statement re-prepared: %s", sqlite3_sql(r->st[slot]));
    }
    fds_replica_close(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrates_schema1_in_place, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_register_lookup_not_reprepared,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrates_schema2_to_3, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
