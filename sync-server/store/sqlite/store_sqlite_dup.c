/*
** store_sqlite_dup.c — the SQLite backend's duplicate customers (撞单,
** store.h "Duplicate customers across reps").
**
** Tables (created here, not in the versioned schema: derived, and rebuilt
** from rec when a store without them is opened):
**   dup_key(key, customer)    the normalised phone and WeChat keys of each
**                             live customer (fsv_dup_key), re-derived at
**                             commit with the office view (its flush calls
**                             fsv__sq_dup_derive for each merged customer)
**   dup_notice(user, at)      the notices given to each user, for the
**                             daily allowance (sync_ops.c)
** The owner of a match is the office view's (ov_cust.owner: the owner
** field, else the creator).  The commit path's statements (a customer's
** keys read, deleted, inserted) are prepared once and kept on the handle
** (SQ(s)->dup, not the shared slots, so this file needs no slot range);
** a customer whose keys did not change costs one indexed read.  The rest
** (a push's lookup, the dashboard's list, the fill) are prepared per call.
*/
#include "store.h"
#include "store_sqlite_int.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const dup_schema =
    "CREATE TABLE IF NOT EXISTS dup_key(key TEXT NOT NULL,"
    "  customer TEXT NOT NULL, PRIMARY KEY (key, customer)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS dup_key_cust ON dup_key(customer);"
    "CREATE TABLE IF NOT EXISTS dup_notice(user TEXT NOT NULL,"
    "  at INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS dup_notice_user ON dup_notice(user, at);";

enum { DS_KEYS, DS_DEL, DS_INS, DS__N };
static const char *const ds_sql[DS__N] = {
    [DS_KEYS] = "SELECT key FROM dup_key INDEXED BY dup_key_cust"
                " WHERE customer = ?1 ORDER BY key",
    [DS_DEL] = "DELETE FROM dup_key WHERE customer = ?1",
    [DS_INS] = "INSERT OR IGNORE INTO dup_key(key, customer) VALUES (?1, ?2)",
};

typedef struct dup_state {
    sqlite3_stmt *st[DS__N];
} dup_state;

/* The kept statement, reset; NULL with the message set. */
static sqlite3_stmt *ds(fsv_store *s, int i)
{
    dup_state *d = SQ(s)->dup;
    if (!d && !(d = SQ(s)->dup = calloc(1, sizeof *d))) {
        seterr(s, FSV_NOMEM, "out of memory");
        return NULL;
    }
    if (!d->st[i] &&
        sqlite3_prepare_v3(SQ(s)->db, ds_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                           &d->st[i], NULL) != SQLITE_OK) {
        d->st[i] = NULL;
        dberr(s, "duplicates: prepare");
        return NULL;
    }
    sqlite3_reset(d->st[i]);
    sqlite3_clear_bindings(d->st[i]);
    return d->st[i];
}

void fsv__sq_dup_free(fsv_store *s)
{
    dup_state *d = SQ(s)->dup;
    if (!d)
        return;
    for (int i = 0; i < DS__N; i++)
        sqlite3_finalize(d->st[i]);
    free(d);
    SQ(s)->dup = NULL;
}

static int prep(fsv_store *s, const char *sql, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v2(SQ(s)->db, sql, -1, st, NULL) != SQLITE_OK) {
        *st = NULL;
        return dberr(s, "duplicates: prepare");
    }
    return FSV_OK;
}

/* Write the keys of customer rid from its winning values (phone, wechat,
** deleted): nothing when they are the ones stored (most merges touch
** other fields), else the old ones go and the new ones come. */
static int put_keys(fsv_store *s, const char *rid, const char *phone,
                    const char *wechat, int deleted)
{
    char want[2][FSV_DUP_KEY_MAX];
    int n = 0;
    if (!deleted) {
        if (fsv_dup_key("phone", phone, want[n], sizeof want[n]))
            n++;
        if (fsv_dup_key("wechat", wechat, want[n], sizeof want[n]))
            n++;
        if (n == 2 && strcmp(want[0], want[1]) > 0) {   /* key order */
            char t[FSV_DUP_KEY_MAX];
            memcpy(t, want[0], sizeof t);
            memcpy(want[0], want[1], sizeof t);
            memcpy(want[1], t, sizeof t);
        }
    }
    sqlite3_stmt *st = ds(s, DS_KEYS);
    if (!st)
        return FSV_ERROR;
    bind_static(st, 1, rid);
    int have = 0, same = 1, step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0);
        same = same && have < n && k && strcmp(k, want[have]) == 0;
        have++;
    }
    sqlite3_reset(st);
    if (step != SQLITE_DONE)
        return dberr(s, "duplicates: keys");
    if (same && have == n)
        return FSV_OK;
    if (!(st = ds(s, DS_DEL)))
        return FSV_ERROR;
    bind_static(st, 1, rid);
    int rc = sqlite3_step(st) == SQLITE_DONE ? FSV_OK
                                             : dberr(s, "duplicates: keys");
    sqlite3_reset(st);
    for (int i = 0; rc == FSV_OK && i < n; i++) {
        if (!(st = ds(s, DS_INS)))
            return FSV_ERROR;
        bind_static(st, 1, want[i]);
        bind_static(st, 2, rid);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = dberr(s, "duplicates: keys");
        sqlite3_reset(st);
    }
    return rc;
}

int fsv__sq_dup_derive(fsv_store *s, const char *rid)
{
    json_t *r = NULL;
    int rc = fsv__sq_regs_values(s, "customer", rid, &r, NULL);
    if (rc == FSV_NOTFOUND) {
        /* not in the memo: the committed row's winners */
        sqlite3_stmt *st = NULL;
        if ((rc = prep(s, "SELECT json_extract(vals, '$.phone'),"
                       " json_extract(vals, '$.wechat'),"
                       " json_extract(vals, '$.deleted') FROM rec"
                       " WHERE tbl = 'customer' AND rid = ?1", &st)) != FSV_OK)
            return rc;
        bind_static(st, 1, rid);
        int step = sqlite3_step(st);
        if (step == SQLITE_ROW) {
            const char *del = (const char *)sqlite3_column_text(st, 2);
            rc = put_keys(s, rid, (const char *)sqlite3_column_text(st, 0),
                          (const char *)sqlite3_column_text(st, 1),
                          del && strcmp(del, "1") == 0);
        } else {
            rc = step == SQLITE_DONE ? put_keys(s, rid, NULL, NULL, 1)
                                     : dberr(s, "duplicates: customer");
        }
        sqlite3_finalize(st);
        return rc;
    }
    if (rc != FSV_OK)
        return rc;
    const char *del = json_string_value(json_object_get(r, "deleted"));
    rc = put_keys(s, rid, json_string_value(json_object_get(r, "phone")),
                  json_string_value(json_object_get(r, "wechat")),
                  del && strcmp(del, "1") == 0);
    json_decref(r);
    return rc;
}

int fsv__sq_dup_open(fsv_store *s)
{
    sqlite3 *db = SQ(s)->db;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE"
                           " name='dup_key'", -1, &st, NULL) != SQLITE_OK)
        return dberr(s, "duplicates: schema");
    int have = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    if (have)
        return FSV_OK;
    int rc = fsv_sqlite_begin(s);
    if (rc != FSV_OK)
        return rc;
    char *msg = NULL;
    if (sqlite3_exec(db, dup_schema, NULL, NULL, &msg) != SQLITE_OK) {
        rc = seterr(s, FSV_ERROR, "duplicates: schema: %s",
                    msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        fsv_sqlite_rollback(s);
        return rc;
    }
    /* A store made before: every customer's keys from its winners. */
    if ((rc = prep(s, "SELECT rid, json_extract(vals, '$.phone'),"
                   " json_extract(vals, '$.wechat'),"
                   " json_extract(vals, '$.deleted') FROM rec"
                   " WHERE tbl = 'customer'", &st)) != FSV_OK) {
        fsv_sqlite_rollback(s);
        return rc;
    }
    while (rc == FSV_OK && sqlite3_step(st) == SQLITE_ROW) {
        const char *del = (const char *)sqlite3_column_text(st, 3);
        rc = put_keys(s, (const char *)sqlite3_column_text(st, 0),
                      (const char *)sqlite3_column_text(st, 1),
                      (const char *)sqlite3_column_text(st, 2),
                      del && strcmp(del, "1") == 0);
    }
    sqlite3_finalize(st);
    if (rc == FSV_OK)
        return fsv_sqlite_commit(s);
    fsv_sqlite_rollback(s);
    return rc;
}

int fsv_sqlite_dup_matches(fsv_store *s, const char *key, const char *customer,
                           fsv_dup_match_fn fn, void *ud)
{
    sqlite3_stmt *st = NULL;
    int rc = prep(s, "SELECT c.rid, c.owner FROM dup_key d"
                  " JOIN ov_cust c ON c.rid = d.customer"
                  " WHERE d.key = ?1 AND d.customer <> ?2 AND c.deleted = 0"
                  " ORDER BY c.owner, c.rid", &st);
    if (rc != FSV_OK)
        return rc;
    bind_static(st, 1, key);
    bind_static(st, 2, customer ? customer : "");
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        if ((rc = fn(ud, (const char *)sqlite3_column_text(st, 0),
                     (const char *)sqlite3_column_text(st, 1))) != FSV_OK)
            break;
    sqlite3_finalize(st);
    if (rc == FSV_OK && step != SQLITE_DONE)
        return dberr(s, "duplicates: matches");
    return rc;
}

int fsv_sqlite_dup_notice(fsv_store *s, const char *user, int64_t now_ms,
                          int64_t since_ms, int64_t *given)
{
    sqlite3_stmt *st = NULL;
    *given = 0;
    int rc = prep(s, "SELECT count(*) FROM dup_notice WHERE user = ?1"
                  " AND at >= ?2", &st);
    if (rc != FSV_OK)
        return rc;
    bind_static(st, 1, user);
    sqlite3_bind_int64(st, 2, since_ms);
    if (sqlite3_step(st) == SQLITE_ROW)
        *given = sqlite3_column_int64(st, 0);
    else
        rc = dberr(s, "duplicates: notices");
    sqlite3_finalize(st);
    if (rc != FSV_OK)
        return rc;
    /* Older rows no longer count for anything. */
    if ((rc = prep(s, "DELETE FROM dup_notice WHERE user = ?1 AND at < ?2",
                   &st)) != FSV_OK)
        return rc;
    bind_static(st, 1, user);
    sqlite3_bind_int64(st, 2, since_ms);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = dberr(s, "duplicates: notices");
    sqlite3_finalize(st);
    if (rc != FSV_OK)
        return rc;
    if ((rc = prep(s, "INSERT INTO dup_notice(user, at) VALUES (?1, ?2)",
                   &st)) != FSV_OK)
        return rc;
    bind_static(st, 1, user);
    sqlite3_bind_int64(st, 2, now_ms);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = dberr(s, "duplicates: notices");
    sqlite3_finalize(st);
    return rc;
}

int fsv_sqlite_dup_list(fsv_store *s, fsv_dup_row_fn fn, void *ud)
{
    sqlite3_stmt *st = NULL;
    /* The keys live customers of two or more owners share (one GROUP BY
    ** over the key index), then their customers. */
    int rc = prep(s, "SELECT d.key, c.rid, c.owner, c.name FROM dup_key d"
                  " JOIN ov_cust c ON c.rid = d.customer AND c.deleted = 0"
                  " WHERE d.key IN (SELECT k.key FROM dup_key k"
                  "  JOIN ov_cust x ON x.rid = k.customer AND x.deleted = 0"
                  "  GROUP BY k.key HAVING count(DISTINCT x.owner) > 1)"
                  " ORDER BY d.key, c.owner, c.rid", &st);
    if (rc != FSV_OK)
        return rc;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        if ((rc = fn(ud, (const char *)sqlite3_column_text(st, 0),
                     (const char *)sqlite3_column_text(st, 1),
                     (const char *)sqlite3_column_text(st, 2),
                     (const char *)sqlite3_column_text(st, 3))) != FSV_OK)
            break;
    sqlite3_finalize(st);
    if (rc == FSV_OK && step != SQLITE_DONE)
        return dberr(s, "duplicates: list");
    return rc;
}
