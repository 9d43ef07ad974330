/*
** store_sqlite_pool.c — the SQLite backend's customer pool (公海):
** the server's rules, what it keeps of each pooled customer and the pool's
** log (store.h, "The customer pool").
**
**   pool_rules(id = 1, return_days, warn_days, cooldown_days,
**              max_claims_per_day, max_owned)   -- one row, 0 = rule off
**   pool_cust(customer PRIMARY KEY, team, in_pool, since_ms, former,
**             claimed_by, claimed_ms)           -- the server's word
**   pool_log(customer, user, kind, team, at_ms) -- release/return/claim
**
** New tables (CREATE TABLE IF NOT EXISTS at open), so no schema version
** moves.  Statements are prepared per call: these run once per release,
** claim or return and once per pool customer a pull decides, not per
** change.
*/
#include "store.h"
#include "store_sqlite_int.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fsv__sq_pool_open(fsv_store *s)
{
    sqlite3 *db = fsv__store_sqlite_db(s);
    if (sqlite3_exec(db,
        "CREATE TABLE IF NOT EXISTS pool_rules(id INTEGER PRIMARY KEY,"
        "  return_days INTEGER NOT NULL DEFAULT 0,"
        "  warn_days INTEGER NOT NULL DEFAULT 0,"
        "  cooldown_days INTEGER NOT NULL DEFAULT 0,"
        "  max_claims_per_day INTEGER NOT NULL DEFAULT 0,"
        "  max_owned INTEGER NOT NULL DEFAULT 0);"
        "CREATE TABLE IF NOT EXISTS pool_cust(customer TEXT PRIMARY KEY,"
        "  team TEXT NOT NULL, in_pool INTEGER NOT NULL, since_ms INTEGER,"
        "  former TEXT NOT NULL DEFAULT '', claimed_by TEXT NOT NULL DEFAULT '',"
        "  claimed_ms INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;"
        "CREATE TABLE IF NOT EXISTS pool_log(customer TEXT NOT NULL,"
        "  user TEXT NOT NULL, kind TEXT NOT NULL, team TEXT NOT NULL,"
        "  at_ms INTEGER NOT NULL);"
        "CREATE INDEX IF NOT EXISTS pool_log_user ON pool_log(user, kind, at_ms);"
        "CREATE INDEX IF NOT EXISTS pool_log_at ON pool_log(at_ms);",
        NULL, NULL, NULL) != SQLITE_OK)
        return dberr(s, "pool tables");
    return FSV_OK;
}

enum { XP_POOL_GET = 7 };     /* fsv__store_prepared slot */

static sqlite3_stmt *prep(fsv_store *s, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(fsv__store_sqlite_db(s), sql, -1, &st, NULL) !=
        SQLITE_OK) {
        dberr(s, "pool");
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

static void copy_col(sqlite3_stmt *st, int i, char *dst, size_t cap)
{
    const char *v = (const char *)sqlite3_column_text(st, i);
    snprintf(dst, cap, "%s", v ? v : "");
}

int fsv_sqlite_pool_rules_get(fsv_store *s, fsv_pool_rules *r)
{
    memset(r, 0, sizeof *r);
    sqlite3_stmt *st = prep(s, "SELECT return_days, warn_days, cooldown_days,"
                            " max_claims_per_day, max_owned FROM pool_rules"
                            " WHERE id = 1");
    if (!st)
        return FSV_ERROR;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        r->return_days = sqlite3_column_int64(st, 0);
        r->warn_days = sqlite3_column_int64(st, 1);
        r->cooldown_days = sqlite3_column_int64(st, 2);
        r->max_claims_per_day = sqlite3_column_int64(st, 3);
        r->max_owned = sqlite3_column_int64(st, 4);
        rc = SQLITE_DONE;
    }
    int out = rc == SQLITE_DONE ? FSV_OK : dberr(s, "pool rules");
    sqlite3_finalize(st);
    return out;
}

int fsv_sqlite_pool_rules_set(fsv_store *s, const fsv_pool_rules *r)
{
    sqlite3_stmt *st = prep(s, "INSERT OR REPLACE INTO pool_rules(id,"
                            " return_days, warn_days, cooldown_days,"
                            " max_claims_per_day, max_owned)"
                            " VALUES (1, ?1, ?2, ?3, ?4, ?5)");
    if (!st)
        return FSV_ERROR;
    sqlite3_bind_int64(st, 1, r->return_days);
    sqlite3_bind_int64(st, 2, r->warn_days);
    sqlite3_bind_int64(st, 3, r->cooldown_days);
    sqlite3_bind_int64(st, 4, r->max_claims_per_day);
    sqlite3_bind_int64(st, 5, r->max_owned);
    int rc = sqlite3_step(st) == SQLITE_DONE ? FSV_OK : dberr(s, "pool rules");
    sqlite3_finalize(st);
    return rc;
}

int fsv_sqlite_pool_get(fsv_store *s, const char *customer, fsv_pool_row *out)
{
    memset(out, 0, sizeof *out);
    /* Kept prepared (slot 7 of fsv__store_prepared's; the other store
    ** files own 0-2 and 8-30): every visibility load of a customer asks it,
    ** and preparing it each time cost more than the lookup. */
    sqlite3_stmt *st = fsv__store_prepared(s, XP_POOL_GET,
                                           "SELECT team, in_pool, since_ms,"
                                           " former, claimed_by, claimed_ms"
                                           " FROM pool_cust WHERE customer"
                                           " = ?1");
    if (!st)
        return FSV_ERROR;
    bind_static(st, 1, customer);
    int rc = sqlite3_step(st), out_rc;
    if (rc == SQLITE_ROW) {
        copy_col(st, 0, out->team, sizeof out->team);
        out->in_pool = sqlite3_column_int(st, 1);
        out->since_ms = sqlite3_column_int64(st, 2);
        copy_col(st, 3, out->former, sizeof out->former);
        copy_col(st, 4, out->claimed_by, sizeof out->claimed_by);
        out->claimed_ms = sqlite3_column_int64(st, 5);
        out_rc = FSV_OK;
    } else if (rc == SQLITE_DONE) {
        out_rc = seterr(s, FSV_NOTFOUND, "customer %s never was in the pool",
                        customer);
    } else {
        out_rc = dberr(s, "pool row");
    }
    sqlite3_reset(st);
    return out_rc;
}

int fsv_sqlite_pool_put(fsv_store *s, const char *customer,
                        const fsv_pool_row *row)
{
    sqlite3_stmt *st = prep(s, "INSERT OR REPLACE INTO pool_cust(customer,"
                            " team, in_pool, since_ms, former, claimed_by,"
                            " claimed_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    if (!st)
        return FSV_ERROR;
    bind_static(st, 1, customer);
    bind_static(st, 2, row->team);
    sqlite3_bind_int(st, 3, row->in_pool);
    sqlite3_bind_int64(st, 4, row->since_ms);
    bind_static(st, 5, row->former);
    bind_static(st, 6, row->claimed_by);
    sqlite3_bind_int64(st, 7, row->claimed_ms);
    int rc = sqlite3_step(st) == SQLITE_DONE ? FSV_OK : dberr(s, "pool row");
    sqlite3_finalize(st);
    return rc;
}

int fsv_sqlite_pool_log(fsv_store *s, const char *customer, const char *user,
                        const char *kind, const char *team, int64_t at_ms)
{
    sqlite3_stmt *st = prep(s, "INSERT INTO pool_log(customer, user, kind,"
                            " team, at_ms) VALUES (?1, ?2, ?3, ?4, ?5)");
    if (!st)
        return FSV_ERROR;
    bind_static(st, 1, customer);
    bind_static(st, 2, user ? user : "");
    bind_static(st, 3, kind);
    bind_static(st, 4, team ? team : "");
    sqlite3_bind_int64(st, 5, at_ms);
    int rc = sqlite3_step(st) == SQLITE_DONE ? FSV_OK : dberr(s, "pool log");
    sqlite3_finalize(st);
    return rc;
}

/* One integer answer of a query whose parameters were bound by the caller. */
static int one_int(fsv_store *s, sqlite3_stmt *st, int64_t *n, const char *what)
{
    *n = 0;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *n = sqlite3_column_int64(st, 0);
        rc = SQLITE_DONE;
    }
    int out = rc == SQLITE_DONE ? FSV_OK : dberr(s, what);
    sqlite3_finalize(st);
    return out;
}

int fsv_sqlite_pool_log_count(fsv_store *s, const char *user, const char *kind,
                              int64_t since_ms, int64_t *n)
{
    sqlite3_stmt *st = prep(s, "SELECT count(*) FROM pool_log WHERE"
                            " (?1 IS NULL OR user = ?1) AND kind = ?2"
                            " AND at_ms >= ?3");
    if (!st)
        return FSV_ERROR;
    if (user)
        bind_static(st, 1, user);
    bind_static(st, 2, kind);
    sqlite3_bind_int64(st, 3, since_ms);
    return one_int(s, st, n, "pool log");
}

int fsv_sqlite_pool_owned(fsv_store *s, const char *user, int64_t *n)
{
    /* The office view's effective owner, as committed before this
    ** transaction's own merges are derived (at commit): a batch's claims
    ** are counted by the caller. */
    sqlite3_stmt *st = prep(s, "SELECT count(*) FROM ov_cust WHERE owner = ?1"
                            " AND deleted = 0");
    if (!st)
        return FSV_ERROR;
    bind_static(st, 1, user);
    return one_int(s, st, n, "owned customers");
}

int fsv_sqlite_pool_figures(fsv_store *s, int64_t since_ms, json_t **out)
{
    *out = NULL;
    json_t *teams = json_array();
    /* Per team: pool customers now (live, no owner) and the log's moves
    ** since since_ms. */
    sqlite3_stmt *st = prep(s,
        "SELECT team, sum(size), sum(ret), sum(clm), sum(rel) FROM ("
        " SELECT p.team AS team, 1 AS size, 0 AS ret, 0 AS clm, 0 AS rel"
        "  FROM pool_cust p JOIN ov_cust c ON c.rid = p.customer"
        "  WHERE p.in_pool = 1 AND c.deleted = 0 AND c.owner = ''"
        " UNION ALL"
        " SELECT team, 0, kind = 'return', kind = 'claim', kind = 'release'"
        "  FROM pool_log WHERE at_ms >= ?1)"
        " GROUP BY team ORDER BY team");
    if (!teams || !st) {
        json_decref(teams);
        sqlite3_finalize(st);
        return st ? seterr(s, FSV_NOMEM, "out of memory") : FSV_ERROR;
    }
    sqlite3_bind_int64(st, 1, since_ms);
    int rc, bad = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *team = (const char *)sqlite3_column_text(st, 0);
        bad |= json_array_append_new(teams, json_pack("{s:s, s:I, s:I, s:I, s:I}",
            "team", team ? team : "",
            "size", (json_int_t)sqlite3_column_int64(st, 1),
            "returned", (json_int_t)sqlite3_column_int64(st, 2),
            "claimed", (json_int_t)sqlite3_column_int64(st, 3),
            "released", (json_int_t)sqlite3_column_int64(st, 4))) != 0;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE || bad) {
        json_decref(teams);
        return bad ? seterr(s, FSV_NOMEM, "out of memory") : dberr(s, "pool figures");
    }
    *out = teams;
    return FSV_OK;
}
