/*
** store_sqlite_api.c — the SQLite queries behind the dashboard API
** (declared at the end of store.h).  Kept apart from store_sqlite.c so the
** API's reads never touch the sync path's prepared statements.
**
** The connection comes from store_sqlite.c through store_sqlite_int.h.
** Statements here are prepared per call (the dashboard's reads are rare
** next to sync traffic).
*/
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "store.h"
#include "store_sqlite_int.h"

static sqlite3 *db_of(fsv_store *s)
{
    return fsv__store_sqlite_db(s);
}

int fsv_sqlite_device_rows(fsv_store *s, fsv_device_row **out, size_t *n)
{
    static const char sql[] =
        "SELECT device, user, COALESCE(last_sync_ms, 0) FROM devices"
        " ORDER BY COALESCE(last_sync_ms, 0) DESC, device";
    sqlite3_stmt *st = NULL;
    *out = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(db_of(s), sql, -1, &st, NULL) != SQLITE_OK)
        return fsv__store_dberr(s, "list devices");
    fsv_device_row *v = NULL;
    size_t got = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (got == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            fsv_device_row *p = realloc(v, ncap * sizeof *p);
            if (!p) {
                rc = SQLITE_NOMEM;
                break;
            }
            v = p;
            cap = ncap;
        }
        const char *dev = (const char *)sqlite3_column_text(st, 0);
        const char *user = (const char *)sqlite3_column_text(st, 1);
        fsv_device_row *r = &v[got++];
        snprintf(r->device, sizeof r->device, "%s", dev ? dev : "");
        snprintf(r->user, sizeof r->user, "%s", user ? user : "");
        r->last_sync_ms = sqlite3_column_int64(st, 2);
    }
    if (rc != SQLITE_DONE) {
        free(v);
        rc = rc == SQLITE_NOMEM ? fsv__store_msg(s, FSV_NOMEM, "out of memory")
                                : fsv__store_dberr(s, "list devices");
        sqlite3_finalize(st);
        return rc;
    }
    sqlite3_finalize(st);
    *out = v;
    *n = got;
    return FSV_OK;
}

int fsv_sqlite_api_token_check(fsv_store *s, const unsigned char hash[FSV_TOKEN_HASH],
                              fsv_user *u)
{
    static const char sql[] =
        "SELECT t.hash, u.name, u.role, u.team FROM tokens t"
        " JOIN users u ON u.name = t.user"
        " WHERE t.hash = ?1 AND t.revoked_ms IS NULL AND u.disabled = 0";
    sqlite3_stmt *st = NULL;
    memset(u, 0, sizeof *u);
    if (sqlite3_prepare_v2(db_of(s), sql, -1, &st, NULL) != SQLITE_OK)
        return fsv__store_dberr(s, "token check");
    sqlite3_bind_blob(st, 1, hash, FSV_TOKEN_HASH, SQLITE_STATIC);
    int rc = sqlite3_step(st), out = FSV_NOTFOUND;
    if (rc == SQLITE_ROW) {
        /* Found by the hash index; equality is still decided in constant
        ** time, as the sync path does. */
        const void *stored = sqlite3_column_blob(st, 0);
        if (stored && sqlite3_column_bytes(st, 0) == FSV_TOKEN_HASH &&
            fsv_token_hash_equal(stored, hash)) {
            const char *f[3];
            for (int i = 0; i < 3; i++)
                f[i] = (const char *)sqlite3_column_text(st, i + 1);
            snprintf(u->name, sizeof u->name, "%s", f[0] ? f[0] : "");
            snprintf(u->role, sizeof u->role, "%s", f[1] ? f[1] : "");
            snprintf(u->team, sizeof u->team, "%s", f[2] ? f[2] : "");
            out = FSV_OK;
        }
    } else if (rc != SQLITE_DONE) {
        out = fsv__store_dberr(s, "token check");
    }
    sqlite3_finalize(st);
    if (out == FSV_NOTFOUND)
        fsv__store_msg(s, out, "token unknown, revoked or disabled");
    return out;
}

int fsv_sqlite_api_register(fsv_store *s, const char *tbl, const char *rid,
                           const char *field, fds_register *out)
{
    static const char sql[] =
        "SELECT vals, regs FROM rec WHERE tbl = ?1 AND rid = ?2";
    sqlite3_stmt *st = NULL;
    memset(out, 0, sizeof *out);
    int ret = fsv__sq_regs_flush(s);
    if (ret != FSV_OK)
        return ret;
    if (sqlite3_prepare_v2(db_of(s), sql, -1, &st, NULL) != SQLITE_OK)
        return fsv__store_dberr(s, "register");
    sqlite3_bind_text(st, 1, tbl, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, rid, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    ret = FSV_NOTFOUND;
    if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
        fsv_regpack_field *f = NULL;
        size_t n = 0;
        ret = fsv__sq_regs_decode(s, tbl, rid, st, 0, &f, &n);
        if (ret == FSV_OK) {
            ret = FSV_NOTFOUND;
            for (size_t i = 0; i < n; i++)
                if (strcmp(f[i].name, field) == 0) {
                    *out = f[i].reg;
                    f[i].reg.n = 0;
                    f[i].reg.v = NULL;
                    ret = FSV_OK;
                }
            fsv_regpack_free(f, n);
        }
    } else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        ret = fsv__store_dberr(s, "register");
    }
    if (ret == FSV_NOTFOUND)
        fsv__store_setmsg(s, ret, "store: no register %s/%s/%s", tbl, rid,
                          field);
    sqlite3_finalize(st);
    return ret;
}

/* Prepared per call like the rest of this file: once a second at most. */
int fsv_sqlite_data_version(fsv_store *s, int64_t *version)
{
    sqlite3_stmt *st = NULL;
    *version = 0;
    if (sqlite3_prepare_v2(db_of(s), "PRAGMA data_version", -1, &st,
                           NULL) != SQLITE_OK)
        return fsv__store_dberr(s, "data version");
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *version = sqlite3_column_int64(st, 0);
    else
        rc = fsv__store_dberr(s, "data version");
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? FSV_OK : rc;
}
