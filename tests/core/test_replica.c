/*
** test_replica.c — the replica handle: identity, persistence, schema,
** durability settings, local writes and their change log (rules 1 and 2).
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
    snprintf(dir, sizeof dir, "/tmp/fds-test-XXXXXX");
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

static fds_replica *open_file(const fds_env *env)
{
    fds_replica *r = NULL;
    char err[256] = "";
    int rc = fds_replica_open(path, env, &r, err, sizeof err);
    if (rc != FDS_OK)
        fprintf(stderr, "open %s: %s\n", path, err);
    assert_int_equal(rc, FDS_OK);
    return r;
}

static int64_t query_i64(fds_replica *r, const char *sql)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(r->db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static char *query_text(fds_replica *r, const char *sql)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(r->db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    const unsigned char *t = sqlite3_column_text(st, 0);
    char *s = strdup(t ? (const char *)t : "");
    sqlite3_finalize(st);
    return s;
}

static int is_uuid_v4(const char *s)
{
    if (strlen(s) != 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!strchr("0123456789abcdef", s[i])) {
            return 0;
        }
    }
    return s[14] == '4' && strchr("89ab", s[19]) != NULL;
}

/* Rule 1: random ids; the device id is made once and persists. */
static void test_identity_persists(void **state)
{
    (void)state;
    fds_replica *r = open_file(NULL);
    char device[64];
    snprintf(device, sizeof device, "%s", fds_replica_device(r));
    assert_true(is_uuid_v4(device));
    assert_string_equal(fds_replica_user(r), "");
    assert_int_equal(fds__write1(r, "customer", "c1", "name", "Alice"), FDS_OK);
    assert_int_equal(fds__write1(r, "customer", "c1", "phone", "123"), FDS_OK);
    uint64_t counter = r->counter, hlc = r->hlc;
    assert_int_equal(counter, 3);    /* name, phone, deleted="0" (rule 5) */
    assert_int_equal(fds_replica_set_user(r, "alice"), FDS_OK);
    assert_int_equal(fds_meta_set(r, "server", "wss://x:1"), FDS_OK);
    fds_replica_close(r);

    r = open_file(NULL);
    assert_string_equal(fds_replica_device(r), device);
    assert_string_equal(fds_replica_user(r), "alice");
    assert_int_equal(r->counter, counter);
    assert_int_equal(r->hlc, hlc);
    char *v = NULL;
    assert_int_equal(fds_meta_get(r, "server", &v), FDS_OK);
    assert_string_equal(v, "wss://x:1");
    free(v);
    assert_int_equal(fds_meta_get(r, "nope", &v), FDS_NOTFOUND);
    assert_null(v);
    /* The counter keeps growing after a reopen: never reused. */
    assert_int_equal(fds__write1(r, "customer", "c1", "name", "Alicia"), FDS_OK);
    assert_int_equal(r->counter, counter + 2);     /* name + deleted */
    assert_true(r->hlc > hlc);
    fds_replica_close(r);
}

static void test_distinct_ids(void **state)
{
    (void)state;
    fds_replica *a = NULL, *b = NULL;
    assert_int_equal(fds_replica_open(":memory:", NULL, &a, NULL, 0), FDS_OK);
    assert_int_equal(fds_replica_open(":memory:", NULL, &b, NULL, 0), FDS_OK);
    assert_string_not_equal(fds_replica_device(a), fds_replica_device(b));
    char u1[37], u2[37];
    assert_int_equal(fds__uuid(a, u1), FDS_OK);
    assert_int_equal(fds__uuid(a, u2), FDS_OK);
    assert_true(is_uuid_v4(u1) && is_uuid_v4(u2));
    assert_string_not_equal(u1, u2);
    fds_replica_close(a);
    fds_replica_close(b);
}

/* Data files are private (0600), WAL, synchronous=FULL, schema versioned. */
static void test_file_settings(void **state)
{
    (void)state;
    mode_t old = umask(0);      /* even with a permissive umask */
    fds_replica *r = open_file(NULL);
    umask(old);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    char *mode = query_text(r, "PRAGMA journal_mode");
    assert_string_equal(mode, "wal");
    free(mode);
    assert_int_equal(query_i64(r, "PRAGMA synchronous"), 2);   /* FULL */
    assert_int_equal(query_i64(r, "PRAGMA user_version"), FDS__SCHEMA_VERSION);
    assert_int_equal(fds__write1(r, "customer", "c1", "name", "x"), FDS_OK);
    char wal[160];
    snprintf(wal, sizeof wal, "%s-wal", path);
    assert_int_equal(stat(wal, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    fds_replica_close(r);
}

static void test_newer_schema_refused(void **state)
{
    (void)state;
    fds_replica *r = open_file(NULL);
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA user_version=%d", FDS__SCHEMA_VERSION + 1);
    assert_int_equal(sqlite3_exec(r->db, sql, NULL, NULL, NULL), SQLITE_OK);
    fds_replica_close(r);
    char err[256] = "";
    r = (fds_replica *)1;
    assert_int_equal(fds_replica_open(path, NULL, &r, err, sizeof err),
                     FDS_SCHEMA);
    assert_null(r);
    assert_non_null(strstr(err, "newer"));
}

/* A second process (a CLI command next to `sync --watch`) can open the
** replica while the first is in the middle of a write transaction. */
static void test_open_while_writing(void **state)
{
    (void)state;
    fds_replica *a = open_file(NULL);
    assert_int_equal(fds_begin(a), FDS_OK);
    assert_int_equal(fds__write1(a, "customer", "c1", "name", "x"), FDS_OK);
    fds_replica *b = open_file(NULL);
    assert_string_equal(fds_replica_device(a), fds_replica_device(b));
    assert_int_equal(fds__exists(b, "customer", "c1"), 0);  /* not committed */
    assert_int_equal(fds_commit(a), FDS_OK);
    assert_int_equal(fds__exists(b, "customer", "c1"), 1);
    fds_replica_close(b);
    fds_replica_close(a);
}

static void test_open_bad_path(void **state)
{
    (void)state;
    fds_replica *r = NULL;
    char err[256] = "";
    assert_int_not_equal(fds_replica_open("/nonexistent-dir/x/replica.db",
                                          NULL, &r, err, sizeof err), FDS_OK);
    assert_null(r);
    assert_true(err[0] != '\0');
    fds_replica_close(NULL);
}

static void test_write_read_exists(void **state)
{
    (void)state;
    test_env t;
    test_env_init(&t, 1700000000000, 1);
    fds_replica *r = test_open(&t);
    json_t *f = json_pack("{s:s, s:s, s:n}", "name", "张三", "phone", "138",
                          "email");
    assert_int_equal(fds__write(r, "customer", "c1", f), FDS_OK);
    json_decref(f);
    json_t *out = NULL;
    assert_int_equal(fds__read(r, "customer", "c1", &out), FDS_OK);
    assert_string_equal(json_string_value(json_object_get(out, "name")), "张三");
    assert_true(json_is_null(json_object_get(out, "email")));
    json_decref(out);
    assert_int_equal(fds__read(r, "customer", "zz", &out), FDS_NOTFOUND);
    assert_null(out);
    assert_int_equal(fds__exists(r, "customer", "c1"), 1);
    assert_int_equal(fds__exists(r, "customer", "zz"), 0);
    assert_int_equal(fds__write1(r, "customer", "c1", "deleted", "1"), FDS_OK);
    assert_int_equal(fds__exists(r, "customer", "c1"), 0);
    /* Refused input. */
    f = json_pack("{s:i}", "name", 3);
    assert_int_equal(fds__write(r, "customer", "c1", f), FDS_INVALID);
    json_decref(f);
    char *big = malloc(FDSP_MAX_VALUE + 2);
    memset(big, 'x', FDSP_MAX_VALUE + 1);
    big[FDSP_MAX_VALUE + 1] = '\0';
    assert_int_equal(fds__write1(r, "customer", "c1", "notes", big), FDS_TOOBIG);
    free(big);
    assert_int_equal(fds__write1(r, "customer", "c1", "notes", "\xff\xfe"),
                     FDS_INVALID);
    assert_int_equal(fds__write1(r, "customer", "", "notes", "x"), FDS_INVALID);
    fds_replica_close(r);
}

/* Rule 2: each field write bumps the counter, sets the device's vv entry,
** and logs the change in the same transaction. */
static void test_write_logs_change(void **state)
{
    (void)state;
    test_env t;
    test_env_init(&t, 1700000000000, 2);
    fds_replica *r = test_open(&t);
    const char *dev = fds_replica_device(r);
    json_t *f = json_pack("{s:s, s:s}", "name", "A", "phone", "1");
    assert_int_equal(fds__write(r, "customer", "c1", f), FDS_OK);
    json_decref(f);
    assert_int_equal(query_i64(r, "SELECT count(*) FROM log"), 2);
    int64_t n = 0;
    assert_int_equal(fds_outbox_count(r, &n), FDS_OK);
    assert_int_equal(n, 2);

    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(r->db,
        "SELECT field, value, vv, hlc, device, origin, acked FROM log "
        "ORDER BY lseq", -1, &st, NULL), SQLITE_OK);
    uint64_t last_hlc = 0;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        char want[128];
        snprintf(want, sizeof want, "{\"%s\":%d}", dev, i + 1);
        assert_string_equal((const char *)sqlite3_column_text(st, 2), want);
        uint64_t h = (uint64_t)sqlite3_column_int64(st, 3);
        assert_true(h > last_hlc);
        assert_true((h >> 16) >= 1700000000000ULL);
        last_hlc = h;
        assert_string_equal((const char *)sqlite3_column_text(st, 4), dev);
        assert_int_equal(sqlite3_column_int(st, 5), 1);
        assert_int_equal(sqlite3_column_int(st, 6), 0);
    }
    sqlite3_finalize(st);

    /* Second write of name extends the register's vv. */
    assert_int_equal(fds__write1(r, "customer", "c1", "name", "B"), FDS_OK);
    fds_register reg = {0, NULL};
    assert_int_equal(fds__reg_load(r, "customer", "c1", "name", &reg), FDS_OK);
    assert_int_equal(reg.n, 1);
    assert_int_equal(fds__vv_get(&reg.v[0].vv, dev), 3);
    assert_string_equal(reg.v[0].value, "B");
    fds_register_clear(&reg);

    /* Rolled back: neither the register nor the log row remains. */
    int64_t logs = query_i64(r, "SELECT count(*) FROM log");
    assert_int_equal(fds_begin(r), FDS_OK);
    assert_int_equal(fds__write1(r, "customer", "c2", "name", "X"), FDS_OK);
    assert_int_equal(fds__exists(r, "customer", "c2"), 1);
    assert_int_equal(fds_rollback(r), FDS_OK);
    assert_int_equal(fds__exists(r, "customer", "c2"), 0);
    assert_int_equal(query_i64(r, "SELECT count(*) FROM log"), logs);
    assert_int_equal(query_i64(r, "SELECT count(*) FROM reg WHERE rid='c2'"), 0);
    assert_int_equal(fds_rollback(r), FDS_ERROR);       /* nothing open */

    /* Nested: inner rollback keeps the outer work. */
    assert_int_equal(fds_begin(r), FDS_OK);
    assert_int_equal(fds__write1(r, "customer", "c3", "name", "Y"), FDS_OK);
    assert_int_equal(fds_begin(r), FDS_OK);
    assert_int_equal(fds__write1(r, "customer", "c4", "name", "Z"), FDS_OK);
    assert_int_equal(fds_rollback(r), FDS_OK);
    assert_int_equal(fds_commit(r), FDS_OK);
    assert_int_equal(fds__exists(r, "customer", "c3"), 1);
    assert_int_equal(fds__exists(r, "customer", "c4"), 0);
    fds_replica_close(r);
}

/* A write settles a conflict: it dominates every version it has seen. */
static void test_write_after_apply_dominates(void **state)
{
    (void)state;
    test_env t;
    test_env_init(&t, 1700000000000, 3);
    fds_replica *r = test_open(&t);
    assert_int_equal(fds__write1(r, "customer", "c1", "name", "mine"), FDS_OK);
    fdsp_change c;
    memset(&c, 0, sizeof c);
    c.table = "customer";
    c.record = "c1";
    c.field = "name";
    c.value = "theirs";
    c.device = "zzzz-other";
    c.user = "bob";
    c.hlc = (uint64_t)1700000005000 << 16;
    c.seq = 7;
    fdsp_vv_entry e = {"zzzz-other", 1};
    c.vv.n = 1;
    c.vv.e = &e;
    int outcome = -1;
    assert_int_equal(fds__apply(r, &c, &outcome), FDS_OK);
    assert_int_equal(outcome, FDS_MERGE_CONFLICT);
    assert_int_equal(query_i64(r, "SELECT conflict FROM reg WHERE field='name'"), 1);
    char *v = query_text(r, "SELECT value FROM reg WHERE field='name'");
    assert_string_equal(v, "theirs");    /* greater hlc wins */
    free(v);
    /* The hlc moved past the remote one. */
    assert_true(r->hlc > c.hlc);
    /* Received log row: origin 0 with the server sequence. */
    assert_int_equal(query_i64(r, "SELECT sseq FROM log WHERE origin=0"), 7);
    int64_t n;
    assert_int_equal(fds_outbox_count(r, &n), FDS_OK);
    assert_int_equal(n, 1);
    /* Re-applying is a no-op and is not logged again. */
    assert_int_equal(fds__apply(r, &c, &outcome), FDS_OK);
    assert_int_equal(outcome, FDS_MERGE_NOOP);
    assert_int_equal(query_i64(r, "SELECT count(*) FROM log WHERE origin=0"), 1);

    assert_int_equal(fds__write1(r, "customer", "c1", "name", "settled"), FDS_OK);
    assert_int_equal(query_i64(r, "SELECT conflict FROM reg WHERE field='name'"), 0);
    fds_register reg = {0, NULL};
    assert_int_equal(fds__reg_load(r, "customer", "c1", "name", &reg), FDS_OK);
    assert_int_equal(reg.n, 1);
    assert_int_equal(fds__vv_get(&reg.v[0].vv, "zzzz-other"), 1);
    assert_true(reg.v[0].hlc > c.hlc);
    fds_register_clear(&reg);
    fds_replica_close(r);
}

static void test_purge_customer(void **state)
{
    (void)state;
    test_env t;
    test_env_init(&t, 1700000000000, 4);
    fds_replica *r = test_open(&t);
    assert_int_equal(fds__write1(r, "customer", "c1", "name", "A"), FDS_OK);
    assert_int_equal(fds__write1(r, "customer", "c2", "name", "B"), FDS_OK);
    assert_int_equal(fds__write1(r, "followup", "f1", "customer", "c1"), FDS_OK);
    assert_int_equal(fds__write1(r, "followup", "f1", "content", "hi"), FDS_OK);
    assert_int_equal(fds__write1(r, "plan", "p1", "customer", "c1"), FDS_OK);
    assert_int_equal(fds__write1(r, "share", "c1:bob", "customer", "c1"), FDS_OK);
    assert_int_equal(fds__write1(r, "plan", "p2", "customer", "c2"), FDS_OK);
    assert_int_equal(fds__purge_customer(r, "c1"), FDS_OK);
    assert_int_equal(query_i64(r, "SELECT count(*) FROM reg"), 2);
    assert_int_equal(query_i64(r, "SELECT count(*) FROM log"), 2);
    assert_int_equal(fds__exists(r, "customer", "c2"), 1);
    assert_int_equal(fds__exists(r, "plan", "p2"), 1);
    assert_int_equal(fds__exists(r, "followup", "f1"), 0);
    fds_replica_close(r);
}

/* Writes made before the user was known take the user once it is set. */
static void test_user_adopted(void **state)
{
    (void)state;
    test_env t;
    test_env_init(&t, 1700000000000, 5);
    fds_replica *r = test_open(&t);
    assert_int_equal(fds__write1(r, "customer", "c1", "name", "A"), FDS_OK);
    assert_int_equal(fds_replica_set_user(r, "alice"), FDS_OK);
    fds_register reg = {0, NULL};
    assert_int_equal(fds__reg_load(r, "customer", "c1", "name", &reg), FDS_OK);
    assert_string_equal(reg.v[0].user, "alice");
    fds_register_clear(&reg);
    char *u = query_text(r, "SELECT user FROM log");
    assert_string_equal(u, "alice");
    free(u);
    fds_replica_close(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_identity_persists, setup_dir, teardown_dir),
        cmocka_unit_test(test_distinct_ids),
        cmocka_unit_test_setup_teardown(test_file_settings, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_open_while_writing, setup_dir, teardown_dir),
        cmocka_unit_test(test_open_bad_path),
        cmocka_unit_test(test_write_read_exists),
        cmocka_unit_test(test_write_logs_change),
        cmocka_unit_test(test_write_after_apply_dominates),
        cmocka_unit_test(test_purge_customer),
        cmocka_unit_test(test_user_adopted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
