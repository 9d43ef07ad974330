/*
** test_replica_check.c — issue 10: an existing file that is not a fieldsync
** replica is refused and left byte-identical; a corrupt register is an
** error naming it, never read as empty nor overwritten.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "internal.h"
#include "testenv.h"

static char dir[64];
static char path[128];

static int setup_dir(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/fds-check-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(path, sizeof path, "%s/replica.db", dir);
    return 0;
}

static int teardown_dir(void **state)
{
    (void)state;
    char p[160];
    const char *suffix[] = {"", "-wal", "-shm", "-journal"};
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s%s", path, suffix[i]);
        unlink(p);
    }
    rmdir(dir);
    return 0;
}

/* The whole file, malloc'd; *n its size. */
static unsigned char *slurp(const char *p, size_t *n)
{
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    unsigned char *b = malloc(1 << 20);
    assert_non_null(b);
    *n = fread(b, 1, 1 << 20, f);
    fclose(f);
    return b;
}

static void put_file(const char *p, const void *bytes, size_t n)
{
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, n, f), n);
    fclose(f);
}

/* Open must fail with FDS_NOTREPLICA, an error naming the file and
** containing want, and leave the file exactly as it was. */
static void refused_unchanged(const char *want)
{
    size_t n0, n1;
    unsigned char *before = slurp(path, &n0);
    fds_replica *r = (fds_replica *)1;
    char err[512] = "";
    assert_int_equal(fds_replica_open(path, NULL, &r, err, sizeof err),
                     FDS_NOTREPLICA);
    assert_null(r);
    assert_non_null(strstr(err, path));
    if (strstr(err, want) == NULL)
        fail_msg("error \"%s\" does not say \"%s\"", err, want);
    unsigned char *after = slurp(path, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, n0);
    char wal[160];
    snprintf(wal, sizeof wal, "%s-wal", path);
    assert_int_not_equal(access(wal, F_OK), 0);    /* no WAL was started */
    free(before);
    free(after);
}

static void test_empty_file_refused(void **state)
{
    (void)state;
    put_file(path, "", 0);
    refused_unchanged("empty file (0 bytes)");
}

static void test_text_file_refused(void **state)
{
    (void)state;
    static const char text[] = "name,phone\nAnn,+86 1\n";
    put_file(path, text, sizeof text - 1);
    refused_unchanged("not an SQLite database");
    /* shorter than the SQLite header too */
    put_file(path, "SQLite", 6);
    refused_unchanged("not an SQLite database");
}

static void exec_on_file(const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static void test_foreign_sqlite_refused(void **state)
{
    (void)state;
    /* another program's database: no user_version */
    exec_on_file("CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT);"
                 "INSERT INTO notes(body) VALUES('keep me');");
    refused_unchanged("without fieldsync's schema (no schema version)");
    /* one that happens to set a user_version but has not our tables */
    exec_on_file("PRAGMA user_version=1;");
    refused_unchanged("meta, reg and log tables are missing");
    /* an empty SQLite database (header only) */
    unlink(path);
    exec_on_file("PRAGMA page_size=4096; VACUUM;");
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_true(sb.st_size > 0);
    refused_unchanged("no schema version");
}

/* Only a path that does not exist becomes a replica; reopening it works. */
static void test_missing_path_creates(void **state)
{
    (void)state;
    fds_replica *r = NULL;
    char err[256] = "";
    assert_int_equal(fds_replica_open(path, NULL, &r, err, sizeof err), FDS_OK);
    char dev[FDSP_MAX_ID + 1];
    snprintf(dev, sizeof dev, "%s", fds_replica_device(r));
    fds_replica_close(r);
    assert_int_equal(fds_replica_open(path, NULL, &r, err, sizeof err), FDS_OK);
    assert_string_equal(fds_replica_device(r), dev);
    fds_replica_close(r);
}

/* ---- corrupt registers ---------------------------------------------------- */
/* Schema 4 keeps a record's registers packed in one rec row (recpack.c):
** the damage is done to that row, and the error names the record. */

static void set_versions(fds_replica *r, const char *assignment)
{
    char sql[256];
    snprintf(sql, sizeof sql, "UPDATE rec SET %s WHERE tbl = 'customer' "
             "AND rid = 'c1'", assignment);
    assert_int_equal(sqlite3_exec(r->db, sql, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_changes(r->db), 1);
}

static char *versions_of(fds_replica *r)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(r->db, "SELECT vals || hex(meta) "
        "FROM rec WHERE tbl = 'customer' AND rid = 'c1'", -1, &st,
        NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    char *s = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return s;
}

static void assert_names_register(fds_replica *r, int rc)
{
    assert_int_equal(rc, FDS_DB);
    const char *m = fds_errmsg(r);
    if (strstr(m, "record customer/c1 is corrupt") == NULL)
        fail_msg("message \"%s\" does not name the record", m);
}

static void test_corrupt_register_is_error(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "vals = 'not json at all'",
        "vals = '{}'",                              /* read as empty before */
        "vals = '{\"name\":\"Ann\"}'",              /* a field too few */
        "meta = X''",
        "meta = X'02'",                             /* unknown format */
        "meta = substr(meta, 1, length(meta) - 1)", /* cut short */
        "meta = meta || X'00'",                     /* trailing bytes */
        "meta = X'0100'",                           /* no device */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        test_env t;
        test_env_init(&t, 1700000000000, 7);
        fds_replica *r = test_open(&t);
        assert_int_equal(fds__write1(r, "customer", "c1", "name", "Ann"),
                         FDS_OK);
        assert_int_equal(fds__write1(r, "customer", "c1", "phone", "1"),
                         FDS_OK);
        set_versions(r, bad[i]);
        char *before = versions_of(r);
        fds_register reg = {0, NULL};
        assert_names_register(r, fds__reg_load(r, "customer", "c1", "phone",
                                               &reg));
        assert_int_equal(reg.n, 0);
        /* a local write does not overwrite it */
        assert_names_register(r, fds__write1(r, "customer", "c1", "phone",
                                             "2"));
        char *v = versions_of(r);
        assert_string_equal(v, before);
        free(v);
        /* nor does a merged change, alone or in a group */
        fdsp_change c;
        memset(&c, 0, sizeof c);
        c.table = "customer";
        c.record = "c1";
        c.field = "phone";
        c.value = "3";
        c.device = "other";
        c.user = "u";
        c.hlc = 5;
        assert_int_equal(fds__vv_set(&c.vv, "other", 9), FDS_OK);
        int outcome;
        assert_names_register(r, fds__apply(r, &c, &outcome));
        fdsp_change two[2] = {c, c};
        two[0].field = "name";
        int64_t conflicts = 0;
        assert_int_equal(fds_begin(r), FDS_OK);
        assert_names_register(r, fds__apply_batch(r, two, 2, &conflicts));
        fds_rollback(r);
        fdsp_vv_clear(&c.vv);
        v = versions_of(r);
        assert_string_equal(v, before);
        free(v);
        free(before);
        fds_replica_close(r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_empty_file_refused, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_text_file_refused, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_foreign_sqlite_refused, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_missing_path_creates, setup_dir, teardown_dir),
        cmocka_unit_test(test_corrupt_register_is_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
