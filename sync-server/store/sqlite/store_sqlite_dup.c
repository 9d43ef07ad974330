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
** field, else the creator).  Statements are prepared per call, not kept in
** slots: a push that sets a phone is rare next to the ones that do not,
** and this file then needs no slot range of its own.
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

static int prep(fsv_store *s, const char *sql, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v2(SQ(s)->db, sql, -1, st, NULL) != SQLITE_OK) {
        *st = NULL;
        return dberr(s, "duplicates: prepare");
    }
    return FSV_OK;
}

/* Write the keys of customer rid from its winning values (phone, wechat,
** deleted): the old ones go, the new ones come. */
static int put_keys(fsv_store *s, const char *rid, const char *phone,
                    const char *wechat, int deleted)
{
    sqlite3_stmt *st = NULL;
    int rc = prep(s, "DELETE FROM dup_key WHERE customer = ?1", &st);
    if (rc != FSV_OK)
        return rc;
    bind_static(st, 1, rid);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = dberr(s, "duplicates: keys");
    sqlite3_finalize(st);
    if (rc != FSV_OK || deleted)
        return rc;
    const char *fields[2] = {"phone", "wechat"}, *vals[2] = {phone, wechat};
    for (int i = 0; rc == FSV_OK && i < 2; i++) {
        char key[FSV_DUP_KEY_MAX];
        if (!fsv_dup_key(fields[i], vals[i], key, sizeof key))
            continue;
        if ((rc = prep(s, "INSERT OR IGNORE INTO dup_key(key, customer)"
                       " VALUES (?1, ?2)", &st)) != FSV_OK)
            return rc;
        bind_static(st, 1, key);
        bind_static(st, 2, rid);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = dberr(s, "duplicates: keys");
        sqlite3_finalize(st);
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
