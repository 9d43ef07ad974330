/*
** store_sqlite_vis.c — the SQLite backend's reads for
** visibility: records by id prefix (shares), visibility events, a
** customer's full state (store.h).
*/
#include "store.h"
#include "store_sqlite_int.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fsv_sqlite_prefix_values(fsv_store *s, const char *tbl,
                             const char *prefix, const char *field,
                             fsv_rec_value **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    size_t len = strlen(prefix);
    if (!len || (unsigned char)prefix[len - 1] == 0xff)
        return seterr(s, FSV_INVALID, "store: record prefix \"%s\" cannot"
                      " bound a range", prefix);
    /* The ids starting with prefix are exactly those from prefix up to
    ** (not including) prefix with its last byte raised by one. */
    char *hi = strdup(prefix);
    sqlite3_stmt *st = hi ? stmt(s, ST_PREFIX_VALUES) : NULL;
    if (!st) {
        free(hi);
        return hi ? FSV_ERROR : seterr(s, FSV_NOMEM, "out of memory");
    }
    hi[len - 1]++;
    /* The rows must hold this transaction's merges. */
    int frc = fsv__sq_regs_flush(s);
    if (frc != FSV_OK) {
        free(hi);
        return frc;
    }
    st = stmt(s, ST_PREFIX_VALUES);
    if (!st) {
        free(hi);
        return FSV_ERROR;
    }
    bind_static(st, 1, tbl);
    bind_static(st, 2, prefix);
    bind_static(st, 3, hi);
    fsv_rec_value *v = NULL;
    size_t got = 0, cap = 0;
    int rc = FSV_OK, step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *rid = (const char *)sqlite3_column_text(st, 0);
        const char *f = (const char *)sqlite3_column_text(st, 1);
        const char *value = (const char *)sqlite3_column_text(st, 2);
        if (!rid)
            continue;
        /* A record's rows are consecutive (ORDER BY rid): a new rid starts
        ** a new element. */
        if (!got || strcmp(v[got - 1].rid, rid) != 0) {
            if (got == cap) {
                size_t ncap = cap ? cap * 2 : 8;
                fsv_rec_value *p = realloc(v, ncap * sizeof *p);
                if (!p) {
                    rc = seterr(s, FSV_NOMEM, "out of memory");
                    break;
                }
                v = p;
                cap = ncap;
            }
            v[got].value = NULL;
            if (!(v[got].rid = strdup(rid))) {
                rc = seterr(s, FSV_NOMEM, "out of memory");
                break;
            }
            got++;
        }
        if (f && strcmp(f, field) == 0 && value && !v[got - 1].value &&
            !(v[got - 1].value = strdup(value))) {
            rc = seterr(s, FSV_NOMEM, "out of memory");
            break;
        }
    }
    if (rc == FSV_OK && step != SQLITE_DONE)
        rc = dberr(s, "records by prefix");
    sqlite3_reset(st);
    free(hi);
    if (rc != FSV_OK) {
        fsv_rec_values_free(v, got);
        return rc;
    }
    *out = v;
    *n = got;
    return FSV_OK;
}

int fsv__sq_vis_open(fsv_store *s)
{
    /* A store made before vis_event had kinds: add the column; its old
    ** rows read as kind 0 (unknown), for which a pull resends as before.
    ** Whether the column exists is a question SQLite answers without a
    ** schema version (the other migrations keep their own). */
    sqlite3 *db = SQ(s)->db;
    sqlite3_stmt *q = NULL;
    int has = 0;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info('vis_event')"
                           " WHERE name = 'kind'", -1, &q, NULL) != SQLITE_OK)
        return dberr(s, "visibility events");
    int rc = sqlite3_step(q);
    has = rc == SQLITE_ROW;
    sqlite3_finalize(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return dberr(s, "visibility events");
    if (!has && sqlite3_exec(db, "ALTER TABLE vis_event ADD COLUMN"
                             " kind INTEGER NOT NULL DEFAULT 0", NULL, NULL,
                             NULL) != SQLITE_OK)
        return dberr(s, "visibility events");
    return FSV_OK;
}

int fsv_sqlite_vis_event_add(fsv_store *s, int64_t seq, const char *customer,
                            const char *user, int kind)
{
    sqlite3_stmt *st = stmt(s, ST_VISEV_ADD);
    if (!st)
        return FSV_ERROR;
    sqlite3_bind_int64(st, 1, seq);
    bind_text(st, 2, customer);
    bind_text(st, 3, user ? user : "");
    sqlite3_bind_int(st, 4, kind);
    return step_done(s, st, "visibility event");
}

int fsv_sqlite_vis_events(fsv_store *s, int64_t after, int64_t upto,
                         char ***customers, char ***users, int **kinds,
                         size_t *n)
{
    *customers = *users = NULL;
    if (kinds)
        *kinds = NULL;
    *n = 0;
    sqlite3_stmt *st = stmt(s, ST_VISEV_LIST);
    if (!st)
        return FSV_ERROR;
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int64(st, 2, upto);
    char **cs = NULL, **us = NULL;
    int *ks = NULL;
    size_t got = 0, cap = 0;
    int rc, oom = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (got == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            char **p = realloc(cs, ncap * sizeof *p);
            if (p)
                cs = p;
            char **q = p ? realloc(us, ncap * sizeof *q) : NULL;
            if (q)
                us = q;
            int *k = q ? realloc(ks, ncap * sizeof *k) : NULL;
            if (k)
                ks = k;
            if (!p || !q || !k) {
                oom = 1;
                break;
            }
            cap = ncap;
        }
        cs[got] = col_dup(st, 0);
        us[got] = col_dup(st, 1);
        ks[got] = sqlite3_column_int(st, 2);
        got++;
        if (!cs[got - 1] || !us[got - 1]) {
            oom = 1;
            break;
        }
    }
    sqlite3_reset(st);
    if (oom || rc != SQLITE_DONE) {
        for (size_t i = 0; i < got; i++) {
            free(cs[i]);
            free(us[i]);
        }
        free(cs);
        free(us);
        free(ks);
        return oom ? seterr(s, FSV_NOMEM, "out of memory")
                   : dberr(s, "visibility events");
    }
    *customers = cs;
    *users = us;
    if (kinds)
        *kinds = ks;
    else
        free(ks);
    *n = got;
    return FSV_OK;
}

int fsv_sqlite_customer_state(fsv_store *s, const char *customer,
                             fdsp_change **out, size_t *n)
{
    int frc = fsv__sq_regs_flush(s);    /* the rows hold this transaction's */
    if (frc != FSV_OK)
        return frc;
    sqlite3_stmt *st = stmt(s, ST_CUST_REGS);
    if (!st)
        return FSV_ERROR;
    bind_text(st, 1, customer);
    size_t cap = *n; /* the array may be exactly full: grow before writing */
    int rc, res = FSV_OK;
    while (res == FSV_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
        res = fsv__sq_append_versions(s, st, out, n, &cap);
    if (res == FSV_OK && rc != SQLITE_DONE)
        res = dberr(s, "customer state");
    sqlite3_reset(st);
    return res;
}
