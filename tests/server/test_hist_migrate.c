/*
** test_hist_migrate.c — the history's schema 2 -> 3 step
** (store_sqlite_hist.c) on tests/fixtures/store-v2.sql, a store made by
** the row-per-change build: after opening, every change reads back
** exactly as the old table had it (the `history` virtual table, a fresh
** device's paged pull, a customer's history for the sheet / as_of) and
** rule 15 finds each (device, counter) at its old seq.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store.h"
#include "store_sqlite_hist.h"
#include "fieldsync.h"

#ifndef FIXTURE
#error FIXTURE must name tests/fixtures/store-v2.sql
#endif

typedef struct rows {
    char **r;
    size_t n;
} rows;

/* Every row of sql, its columns joined by '|', in order. */
static rows all_rows(sqlite3 *db, const char *sql)
{
    rows out = {NULL, 0};
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    while (sqlite3_step(st) == SQLITE_ROW) {
        char buf[20000];
        size_t used = 0;
        for (int i = 0; i < sqlite3_column_count(st); i++) {
            const unsigned char *t = sqlite3_column_text(st, i);
            used += (size_t)snprintf(buf + used, sizeof buf - used, "%s%s",
                                     i ? "|" : "", t ? (const char *)t : "<null>");
        }
        out.r = realloc(out.r, (out.n + 1) * sizeof *out.r);
        out.r[out.n++] = strdup(buf);
    }
    sqlite3_finalize(st);
    return out;
}

static void rows_free(rows *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->r[i]);
    free(r->r);
}

static char *change_row(const fdsp_change *c)
{
    char *vv = fds_vv_dump(&c->vv), buf[20000];
    snprintf(buf, sizeof buf, "%lld|%s|%s|%s|%s|%s|%lld|%s|%s|%lld",
             (long long)c->seq, c->table, c->record, c->field,
             c->value ? c->value : "<null>", vv, (long long)c->hlc, c->device,
             c->user, (long long)c->server_ms);
    free(vv);
    return strdup(buf);
}

#define COLS "seq, tbl, rid, field, value, vv, hlc, device, user, server_ms"

static void test_migrate_fixture(void **state)
{
    (void)state;
    char dir[] = "/tmp/fsv-histmig-XXXXXX", path[200], url[220];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/store.db", dir);
    snprintf(url, sizeof url, "sqlite:%s", path);
    /* The fixture as the old build left it. */
    FILE *f = fopen(FIXTURE, "r");
    assert_non_null(f);
    static char sql[4 << 20];
    size_t len = fread(sql, 1, sizeof sql - 1, f);
    fclose(f);
    sql[len] = '\0';
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("fixture: %s", err);
    rows old = all_rows(db, "SELECT " COLS ", dctr, relay FROM history"
                        " ORDER BY seq");
    rows old_ctr = all_rows(db, "SELECT device, dctr, min(seq) FROM history"
                            " WHERE dctr IS NOT NULL GROUP BY device, dctr");
    rows custs = all_rows(db, "SELECT rid FROM rec WHERE tbl='customer'");
    /* What the sheet read: the customer's, its children's, definitions. */
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT " COLS " FROM history"
        " WHERE seq IN (SELECT seq FROM history WHERE tbl='customer' AND"
        " rid=?1 UNION ALL SELECT h.seq FROM rec r JOIN history h ON"
        " h.tbl=r.tbl AND h.rid=r.rid WHERE r.customer=?1 AND"
        " r.tbl<>'customer' UNION ALL SELECT seq FROM history WHERE tbl IN"
        " ('stagedef','fielddef')) ORDER BY seq", -1, &q, NULL), SQLITE_OK);
    rows *sheet = calloc(custs.n, sizeof *sheet);
    for (size_t i = 0; i < custs.n; i++) {
        sqlite3_reset(q);
        sqlite3_bind_text(q, 1, custs.r[i], -1, SQLITE_STATIC);
        while (sqlite3_step(q) == SQLITE_ROW) {
            char buf[20000];
            size_t used = 0;
            for (int c = 0; c < 10; c++) {
                const unsigned char *t = sqlite3_column_text(q, c);
                used += (size_t)snprintf(buf + used, sizeof buf - used, "%s%s",
                                         c ? "|" : "",
                                         t ? (const char *)t : "<null>");
            }
            sheet[i].r = realloc(sheet[i].r, (sheet[i].n + 1) * sizeof(char *));
            sheet[i].r[sheet[i].n++] = strdup(buf);
        }
    }
    sqlite3_finalize(q);
    sqlite3_close(db);
    assert_true(old.n > 50);

    /* Open: migrated in place. */
    fsv_store *s = NULL;
    char msg[256];
    if (fsv_store_open(url, 0, &s, msg, sizeof msg) != FSV_OK)
        fail_msg("open: %s", msg);
    int64_t n = 0, head = 0;
    assert_int_equal(fsv_store_history_count(s, &n), FSV_OK);
    assert_int_equal(n, (int64_t)old.n);
    assert_int_equal(fsv_store_head(s, &head), FSV_OK);

    /* A fresh device's pull, in pages of 7 (pages split groups). */
    size_t k = 0;
    int64_t after = 0;
    int more = 1;
    while (more) {
        fdsp_change *ch = NULL;
        size_t got = 0;
        int64_t last = 0;
        assert_int_equal(fsv_store_begin_read(s), FSV_OK);
        assert_int_equal(fsv_store_changes_after(s, after, 7, NULL, NULL,
                                                 NULL, &ch, &got, &last, &more),
                         FSV_OK);
        assert_int_equal(fsv_store_rollback(s), FSV_OK);
        for (size_t i = 0; i < got; i++, k++) {
            char *r = change_row(&ch[i]);
            assert_true(k < old.n);
            /* old rows carry dctr and relay after the ten columns */
            assert_int_equal(strncmp(old.r[k], r, strlen(r)), 0);
            assert_int_equal(old.r[k][strlen(r)], '|');
            free(r);
            fdsp_change_clear(&ch[i]);
        }
        free(ch);
        after = last;
    }
    assert_int_equal(k, old.n);

    /* Rule 15: each (device, counter) at its first seq. */
    for (size_t i = 0; i < old_ctr.n; i++) {
        char dev[100];
        long long ctr, seq;
        assert_int_equal(sscanf(old_ctr.r[i], "%99[^|]|%lld|%lld", dev, &ctr,
                                &seq), 3);
        fdsp_change c;
        assert_int_equal(fsv_store_change_by_counter(s, dev, ctr, &c), FSV_OK);
        assert_int_equal(c.seq, seq);
        fdsp_change_clear(&c);
    }

    /* The sheet / as_of reads. */
    for (size_t i = 0; i < custs.n; i++) {
        fdsp_change *ch = NULL;
        size_t got = 0;
        assert_int_equal(fsv_store_customer_history(s, custs.r[i], -1, &ch,
                                                    &got), FSV_OK);
        assert_int_equal(got, sheet[i].n);
        for (size_t j = 0; j < got; j++) {
            char *r = change_row(&ch[j]);
            assert_string_equal(r, sheet[i].r[j]);
            free(r);
            fdsp_change_clear(&ch[j]);
        }
        free(ch);
        rows_free(&sheet[i]);
    }
    free(sheet);
    fsv_store_close(s);

    /* The virtual table shows the old table, dctr and relay included. */
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(fsv_sqlite_history_module(db), SQLITE_OK);
    rows now = all_rows(db, "SELECT " COLS ", dctr, relay FROM history"
                        " ORDER BY seq");
    assert_int_equal(now.n, old.n);
    for (size_t i = 0; i < old.n; i++)
        assert_string_equal(now.r[i], old.r[i]);
    rows schema = all_rows(db, "SELECT value FROM meta WHERE key='schema'");
    assert_int_equal(schema.n, 1);
    assert_string_equal(schema.r[0], "5");
    rows left = all_rows(db, "SELECT name FROM sqlite_master WHERE"
                         " type='table' AND name='history'");
    assert_int_equal(left.n, 0);
    rows_free(&left);
    rows_free(&schema);
    rows_free(&now);
    sqlite3_close(db);
    rows_free(&old);
    rows_free(&old_ctr);
    rows_free(&custs);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_migrate_fixture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
