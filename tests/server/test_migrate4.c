/*
** test_migrate4.c — a schema-3 replica (one reg row per field) migrated in
** place to schema 4 (one rec row per record) loses nothing, and syncs.
**
** tests/fixtures/replica-v3.sql is a real device's replica made by the
** schema-3 build (tests/fixtures/make-replica-v3.sh: a server and two CLI
** devices): synced records, changes received from the other device, an
** open field conflict and an open `deleted` conflict, a resolved conflict,
** and unacknowledged local changes.  The test loads it into a file, opens
** it with the library (which migrates), and checks:
**   - every register keeps its canonical versions text, winning value and
**     conflict flag byte for byte, and nothing else appears;
**   - the log, the outbox and the meta rows are untouched; both conflicts
**     are still listed;
**   - synced to a real server over TLS (a fresh one: the device sees a
**     store it does not know, so by rule 13 it re-sends everything it
**     holds), the outbox empties, and a second device of the same user
**     pulls every record with the same registers and the same conflicts.
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

#include "harness.h"
#include "internal.h"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot read %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

static void load_sql(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("loading the fixture: %s", err ? err : "?");
}

static int64_t count(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Every row of `sql` (text columns joined by '|', one line each). */
static char *rows(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    out[0] = '\0';
    while (sqlite3_step(st) == SQLITE_ROW) {
        for (int i = 0; i < sqlite3_column_count(st); i++) {
            const char *t = (const char *)sqlite3_column_text(st, i);
            size_t n = strlen(t ? t : "\\N") + 2;
            while (len + n + 1 > cap)
                assert_non_null(out = realloc(out, cap *= 2));
            len += (size_t)snprintf(out + len, cap - len, "%s%c",
                                    t ? t : "\\N",
                                    i + 1 < sqlite3_column_count(st) ? '|'
                                                                     : '\n');
        }
    }
    sqlite3_finalize(st);
    return out;
}

static void same_rows(sqlite3 *a, sqlite3 *b, const char *sql)
{
    char *x = rows(a, sql), *y = rows(b, sql);
    if (strcmp(x, y) != 0)
        fail_msg("%s differs:\n--- before\n%s--- after\n%s", sql, x, y);
    assert_true(strlen(x) > 0);
    free(x);
    free(y);
}

#define REGS "SELECT tbl, rid, field, value, versions, conflict FROM reg " \
             "ORDER BY tbl, rid, field"
/* Every change in log order; lseq itself is an address that schema 5's
** change groups renumber (gseq << 8 | index), so it is not compared. */
#define LOGS "SELECT tbl, rid, field, value, vv, hlc, device, user, origin, " \
             "acked, sseq, at_ms, resend FROM log ORDER BY lseq"
#define METAS "SELECT key, value FROM meta WHERE key NOT IN ('server', " \
              "'token', 'ca') ORDER BY key"

/* The registers of every record of a and b agree: same winners, and the
** same canonical versions text for every register. */
static void same_registers(fds_replica *a, fds_replica *b)
{
    char *x = rows(a->db, REGS), *y = rows(b->db, REGS);
    if (strcmp(x, y) != 0)
        fail_msg("registers differ:\n--- migrated\n%s--- second device\n%s",
                 x, y);
    free(x);
    free(y);
}

static void test_migrate_v3_fixture_and_sync(void **state)
{
    (void)state;
    th_server s;
    th_init(&s);
    char tok[80];
    th_user(&s, "alice", "rep", NULL, tok);
    th_start(&s, NULL);

    /* The fixture twice: as schema 3 in memory (the reference) and in
    ** the file the library migrates. */
    char *sql = slurp(FDS_FIXTURE_DIR "/replica-v3.sql");
    sqlite3 *ref = NULL;
    assert_int_equal(sqlite3_open(":memory:", &ref), SQLITE_OK);
    load_sql(ref, sql);
    assert_int_equal(count(ref, "PRAGMA user_version"), 3);
    char path[400];
    snprintf(path, sizeof path, "%s/migrated.db", s.dir);
    sqlite3 *f = NULL;
    assert_int_equal(sqlite3_open(path, &f), SQLITE_OK);
    load_sql(f, sql);
    sqlite3_close(f);
    free(sql);

    /* What the fixture holds: the test means something only if it does. */
    int64_t regs = count(ref, "SELECT count(*) FROM reg");
    int64_t outbox = count(ref, "SELECT count(*) FROM log WHERE origin = 1 "
                           "AND acked = 0");
    assert_true(regs > 50);
    assert_true(outbox > 0);
    assert_int_equal(count(ref, "SELECT count(*) FROM reg WHERE conflict = 1"
                           " AND field = 'deleted'"), 1);
    assert_int_equal(count(ref, "SELECT count(*) FROM reg WHERE conflict = 1"
                           " AND field <> 'deleted'"), 1);
    assert_true(count(ref, "SELECT count(*) FROM log WHERE origin = 0") > 0);

    char err[512] = "";
    fds_replica *r = NULL;
    if (fds_replica_open(path, NULL, &r, err, sizeof err) != FDS_OK)
        fail_msg("opening the fixture: %s", err);
    assert_int_equal(count(r->db, "PRAGMA user_version"), FDS__SCHEMA_VERSION);
    assert_int_equal(count(r->db, "SELECT count(*) FROM sqlite_master WHERE "
                           "type = 'table' AND name = 'reg'"), 0);
    /* every register, byte for byte (the connection's reg view rebuilds
    ** schema 3's columns from the packed rows) */
    same_rows(ref, r->db, REGS);
    assert_int_equal(count(r->db, "SELECT count(*) FROM reg"), regs);
    /* the file's own view, for a plain sqlite3 connection */
    same_rows(ref, r->db, "SELECT tbl, rid, field, value FROM main.reg "
              "ORDER BY tbl, rid, field");
    same_rows(ref, r->db, LOGS);
    same_rows(ref, r->db, METAS);
    int64_t n = -1;
    assert_int_equal(fds_outbox_count(r, &n), FDS_OK);
    assert_int_equal(n, outbox);
    json_t *c = NULL;
    assert_int_equal(fds_conflicts(r, &c), FDS_OK);
    assert_int_equal(json_array_size(c), 2);
    json_decref(c);
    json_t *list = NULL;
    fds_query all = {0};
    all.include_deleted = 1;
    assert_int_equal(fds_customer_list(r, &all, &list), FDS_OK);
    assert_int_equal((int64_t)json_array_size(list),
                     count(ref, "SELECT count(DISTINCT rid) FROM reg WHERE "
                            "tbl = 'customer'"));
    json_decref(list);

    /* Sync to the new server, then a second device pulls it all. */
    fds_session_stats st;
    assert_int_equal(th_sync(&s, r, tok, &st), 0);
    assert_int_equal(fds_outbox_count(r, &n), FDS_OK);
    if (n != 0) {   /* rule 13's re-send can take a second session */
        assert_int_equal(th_sync(&s, r, tok, &st), 0);
        assert_int_equal(fds_outbox_count(r, &n), FDS_OK);
    }
    assert_int_equal(n, 0);
    assert_int_equal(th_sync(&s, r, tok, &st), 0);

    fds_replica *b = th_replica(&s, "second");
    assert_int_equal(th_sync(&s, b, tok, &st), 0);
    same_registers(r, b);
    assert_int_equal(count(b->db, "SELECT count(*) FROM reg"), regs);
    assert_int_equal(fds_conflicts(b, &c), FDS_OK);
    assert_int_equal(json_array_size(c), 2);
    json_decref(c);

    fds_replica_close(b);
    fds_replica_close(r);
    sqlite3_close(ref);
    th_cleanup(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_migrate_v3_fixture_and_sync),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
