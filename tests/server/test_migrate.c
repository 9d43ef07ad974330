/*
** test_migrate.c — a schema-2 server store (one `reg` row per field),
** tests/fixtures/store-v2.sql made by the schema-2 server itself
** (make_store_v2.c), opened by this server: migrated in place to
** registers packed one row per record (schema 3), every register, every
** conflict and every checksum as before, and a fresh device of each user
** syncing afterwards holds exactly what a fresh device held before the
** migration (store-v2.expect: its 64 bucket checksums, which cover every
** register and version it holds).  Then the migrated store takes writes.
*/
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "harness.h"
#include "store.h"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
    p[n] = '\0';
    fclose(f);
    return p;
}

typedef struct oldreg {
    char tbl[80], rid[80], field[80];
    char *versions;
    int conflict;
} oldreg;

typedef struct oldsum {
    char ktbl[80], key[80];
    uint64_t sum;
} oldsum;

typedef struct expect {
    char user[16], token[128];
    uint64_t sums[FDSP_SUM_BUCKETS];
} expect;

static void load_expect(expect *e, size_t *n)
{
    char *txt = slurp(FSV_FIXTURES "/store-v2.expect");
    *n = 0;
    for (char *line = strtok(txt, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#')
            continue;
        expect *x = &e[(*n)++];
        int used = 0;
        assert_int_equal(sscanf(line, "%15s %127s%n", x->user, x->token,
                                &used), 2);
        char *p = line + used;
        for (int b = 0; b < FDSP_SUM_BUCKETS; b++) {
            unsigned long long v;
            int k = 0;
            assert_int_equal(sscanf(p, " %llx%n", &v, &k), 1);
            x->sums[b] = v;
            p += k;
        }
    }
    free(txt);
}

/* Put the fixture in place of the harness's fresh store and read what the
** schema-2 store holds, with plain SQL, before the new code sees it. */
static void install(th_server *s, char *db, size_t dblen, oldreg **regs,
                    size_t *nreg, oldsum **sums, size_t *nsum)
{
    snprintf(db, dblen, "%s/fieldsync.db", s->data);
    char p[700];
    unlink(db);
    snprintf(p, sizeof p, "%s-wal", db);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", db);
    unlink(p);
    char *dump = slurp(FSV_FIXTURES "/store-v2.sql");
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    char *msg = NULL;
    if (sqlite3_exec(h, dump, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("loading the fixture: %s", msg);
    free(dump);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(h, "SELECT value FROM meta WHERE"
                                        " key='schema'", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "2");
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(h, "SELECT tbl, rid, field, versions,"
                                        " conflict FROM reg", -1, &st, NULL),
                     SQLITE_OK);
    size_t cap = 256;
    *regs = calloc(cap, sizeof **regs);
    *nreg = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        assert_true(*nreg < cap);
        oldreg *r = &(*regs)[(*nreg)++];
        snprintf(r->tbl, sizeof r->tbl, "%s", sqlite3_column_text(st, 0));
        snprintf(r->rid, sizeof r->rid, "%s", sqlite3_column_text(st, 1));
        snprintf(r->field, sizeof r->field, "%s", sqlite3_column_text(st, 2));
        r->versions = strdup((const char *)sqlite3_column_text(st, 3));
        r->conflict = sqlite3_column_int(st, 4);
    }
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(h, "SELECT ktbl, key, sum FROM regsum"
                                        " WHERE sum <> 0", -1, &st, NULL),
                     SQLITE_OK);
    *sums = calloc(64, sizeof **sums);
    *nsum = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        assert_true(*nsum < 64);
        oldsum *x = &(*sums)[(*nsum)++];
        snprintf(x->ktbl, sizeof x->ktbl, "%s", sqlite3_column_text(st, 0));
        snprintf(x->key, sizeof x->key, "%s", sqlite3_column_text(st, 1));
        x->sum = (uint64_t)sqlite3_column_int64(st, 2);
    }
    sqlite3_finalize(st);
    sqlite3_close(h);
    assert_true(*nreg > 50);
    assert_true(*nsum > 3);
}

static long long count_sql(const char *db, const char *sql)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long long n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return n;
}

static void test_migrates_and_syncs(void **state)
{
    th_server *s = *state;
    th_init(s);
    char db[600], url[640];
    oldreg *regs = NULL;
    oldsum *sums = NULL;
    size_t nreg = 0, nsum = 0;
    install(s, db, sizeof db, &regs, &nreg, &sums, &nsum);

    /* Open: the migration runs, once. */
    snprintf(url, sizeof url, "sqlite:%s", db);
    fsv_store *st = NULL;
    char err[256];
    assert_int_equal(fsv_store_open(url, 0, &st, err, sizeof err), FSV_OK);
    int conflicts = 0;
    for (size_t i = 0; i < nreg; i++) {
        fds_register reg;
        if (fsv_store_api_register(st, regs[i].tbl, regs[i].rid,
                                   regs[i].field, &reg) != FSV_OK)
            fail_msg("register %s/%s/%s lost: %s", regs[i].tbl, regs[i].rid,
                     regs[i].field, fsv_store_errmsg(st));
        char *now = fds_register_dump(&reg);
        assert_non_null(now);
        if (strcmp(now, regs[i].versions) != 0)
            fail_msg("register %s/%s/%s: was %s, now %s", regs[i].tbl,
                     regs[i].rid, regs[i].field, regs[i].versions, now);
        assert_int_equal(fds_register_in_conflict(&reg), regs[i].conflict);
        conflicts += regs[i].conflict;
        free(now);
        fds_register_clear(&reg);
        /* the record has exactly its old fields */
        int count = 0, has = 0, want = 0;
        for (size_t k = 0; k < nreg; k++)
            want += strcmp(regs[k].tbl, regs[i].tbl) == 0 &&
                    strcmp(regs[k].rid, regs[i].rid) == 0;
        assert_int_equal(fsv_store_field_count(st, regs[i].tbl, regs[i].rid,
                                               regs[i].field, &count, &has),
                         FSV_OK);
        assert_int_equal(count, want);
        assert_true(has);
    }
    assert_int_equal(conflicts, 2);     /* the fixture made two */
    fsv_sum_key *keys = NULL;
    size_t nk = 0;
    assert_int_equal(fsv_store_sum_keys(st, &keys, &nk), FSV_OK);
    assert_int_equal(nk, nsum);
    for (size_t i = 0; i < nsum; i++) {
        size_t j = 0;
        while (j < nk && !(strcmp(keys[j].ktbl, sums[i].ktbl) == 0 &&
                           strcmp(keys[j].key, sums[i].key) == 0))
            j++;
        assert_true(j < nk);
        assert_true(keys[j].sum == sums[i].sum);
    }
    free(keys);
    fsv_store_close(st);

    /* 2 -> 3 (registers), 4 (history groups) and on to 5 (teams, photos,
    ** pool, duplicate keys) */
    assert_int_equal(count_sql(db, "SELECT value FROM meta WHERE key='schema'"),
                     5);
    assert_int_equal(count_sql(db, "SELECT count(*) FROM sqlite_master WHERE"
                                   " type='table' AND name='reg'"), 0);
    /* the view a person reads with the sqlite3 shell: one row per field */
    assert_int_equal(count_sql(db, "SELECT count(*) FROM reg"), (long long)nreg);
    assert_int_equal(count_sql(db, "SELECT sum(conflicts) FROM rec"), 2);
    /* A second open finds nothing to migrate. */
    assert_int_equal(fsv_store_open(url, 0, &st, err, sizeof err), FSV_OK);
    fsv_store_close(st);

    /* A fresh device of every user pulls what it pulled before. */
    expect ex[8];
    size_t nex = 0;
    load_expect(ex, &nex);
    assert_int_equal(nex, 4);
    th_start(s, NULL);
    for (size_t i = 0; i < nex; i++) {
        char name[32];
        snprintf(name, sizeof name, "after-%.20s", ex[i].user);
        fds_replica *r = th_replica(s, name);
        char e[512] = "";
        if (th_sync_err(s, r, ex[i].token, NULL, e, sizeof e) != 0)
            fail_msg("%s: sync after the migration: %s", ex[i].user, e);
        uint64_t got[FDSP_SUM_BUCKETS];
        assert_int_equal(fds_replica_sums(r, got), FDS_OK);
        for (int b = 0; b < FDSP_SUM_BUCKETS; b++)
            if (got[b] != ex[i].sums[b])
                fail_msg("%s: bucket %d differs after the migration",
                         ex[i].user, b);
        fds_replica_close(r);
    }

    /* The migrated store takes writes: alice edits a customer she had,
    ** her other fresh device pulls the edit. */
    fds_replica *a = th_replica(s, "after-alice");
    json_t *list = NULL;
    fds_query q;
    memset(&q, 0, sizeof q);
    assert_int_equal(fds_customer_list(a, &q, &list), FDS_OK);
    assert_true(json_array_size(list) >= 4);
    const char *id = json_string_value(json_object_get(json_array_get(list, 0),
                                                       "id"));
    json_t *in = json_pack("{s:s}", "notes", "after the migration"), *out = NULL;
    assert_int_equal(fds_customer_edit(a, id, in, &out), FDS_OK);
    json_decref(in);
    json_decref(out);
    assert_int_equal(th_sync(s, a, ex[0].token, NULL), 0);
    fds_replica *a2 = th_replica(s, "after-alice-2");
    assert_int_equal(th_sync(s, a2, ex[0].token, NULL), 0);
    char *v = th_field(a2, id, "notes");
    assert_string_equal(v, "after the migration");
    free(v);
    uint64_t x[FDSP_SUM_BUCKETS], y[FDSP_SUM_BUCKETS];
    assert_int_equal(fds_replica_sums(a, x), FDS_OK);
    assert_int_equal(fds_replica_sums(a2, y), FDS_OK);
    assert_memory_equal(x, y, sizeof x);
    json_decref(list);
    fds_replica_close(a);
    fds_replica_close(a2);
    th_stop(s, SIGTERM);

    for (size_t i = 0; i < nreg; i++)
        free(regs[i].versions);
    free(regs);
    free(sums);
}

/* A damaged packed row is an error naming the record, not a crash. */
static void test_damage_named(void **state)
{
    th_server *s = *state;
    th_init(s);
    char db[600], url[640];
    oldreg *regs = NULL;
    oldsum *sums = NULL;
    size_t nreg = 0, nsum = 0;
    install(s, db, sizeof db, &regs, &nreg, &sums, &nsum);
    snprintf(url, sizeof url, "sqlite:%s", db);
    fsv_store *st = NULL;
    char err[256];
    assert_int_equal(fsv_store_open(url, 0, &st, err, sizeof err), FSV_OK);
    fsv_store_close(st);
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    char sql[400];
    snprintf(sql, sizeof sql, "UPDATE rec SET regs = substr(regs, 1,"
             " length(regs) - 2) WHERE tbl='%s' AND rid='%s'", regs[0].tbl,
             regs[0].rid);
    assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
    assert_int_equal(fsv_store_open(url, 0, &st, err, sizeof err), FSV_OK);
    fds_register reg;
    assert_int_equal(fsv_store_api_register(st, regs[0].tbl, regs[0].rid,
                                            regs[0].field, &reg), FSV_ERROR);
    assert_non_null(strstr(fsv_store_errmsg(st), regs[0].rid));
    assert_non_null(strstr(fsv_store_errmsg(st), "damaged"));
    fsv_store_close(st);
    for (size_t i = 0; i < nreg; i++)
        free(regs[i].versions);
    free(regs);
    free(sums);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrates_and_syncs, th_test_setup,
                                        th_test_teardown),
        cmocka_unit_test_setup_teardown(test_damage_named, th_test_setup,
                                        th_test_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
