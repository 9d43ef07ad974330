/*
** store_sqlite_users.c — the SQLite backend's users, tokens
** (hashes only), devices' last sync and the live token check (store.h).
*/
#include "store.h"
#include "store_sqlite_int.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Users ------------------------------------------------------------------------ */

int fsv_sqlite_user_add(fsv_store *s, const char *name, const char *role,
                       const char *team)
{
    /* store.c checked name, role and team (backend-neutral rules). */
    int mine, rc = fsv__sq_auto_begin(s, &mine);
    if (rc != FSV_OK)
        return rc;
    fsv_user u;
    rc = fsv_sqlite_user_get(s, name, &u);
    if (rc == FSV_OK) {
        rc = seterr(s, FSV_EXISTS, "user %s already exists", name);
    } else if (rc == FSV_NOTFOUND) {
        sqlite3_stmt *st = stmt(s, ST_USER_ADD);
        rc = FSV_ERROR;
        if (st) {
            bind_text(st, 1, name);
            bind_text(st, 2, role);
            bind_text(st, 3, team ? team : "");
            sqlite3_bind_int64(st, 4, now_ms());
            rc = step_done(s, st, "add user");
        }
    }
    return fsv__sq_auto_end(s, mine, rc);
}

int fsv_sqlite_user_get(fsv_store *s, const char *name, fsv_user *u)
{
    memset(u, 0, sizeof *u);
    sqlite3_stmt *st = stmt(s, ST_USER_GET);
    if (!st)
        return FSV_ERROR;
    bind_text(st, 1, name);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(st);
        return seterr(s, FSV_NOTFOUND, "no user %s", name);
    }
    if (rc != SQLITE_ROW)
        return dberr(s, "get user");
    col_copy(st, 0, u->name, sizeof u->name);
    col_copy(st, 1, u->role, sizeof u->role);
    col_copy(st, 2, u->team, sizeof u->team);
    u->disabled = sqlite3_column_int(st, 3);
    sqlite3_reset(st);
    return FSV_OK;
}

static int64_t col_time(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL
               ? FSV_NO_TIME : sqlite3_column_int64(st, i);
}

/* Step st (bound already) to the end, each row read by row(st, elem) into
** a growing array of elements of size sz: *out malloc'd, *n rows.  `what`
** names the listing in errors.  (store.c makes the JSON of the lists.) */
static int read_rows(fsv_store *s, sqlite3_stmt *st, size_t sz,
                     void (*row)(sqlite3_stmt *, void *), const char *what,
                     void **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    unsigned char *v = NULL;
    size_t got = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (got == cap) {
            size_t ncap = cap ? 2 * cap : 16;
            unsigned char *nv = realloc(v, ncap * sz);
            if (!nv) {
                sqlite3_reset(st);
                free(v);
                return seterr(s, FSV_NOMEM, "out of memory");
            }
            v = nv;
            cap = ncap;
        }
        memset(v + got * sz, 0, sz);
        row(st, v + got * sz);
        got++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        free(v);
        return dberr(s, what);
    }
    *out = v;
    *n = got;
    return FSV_OK;
}

static void user_row(sqlite3_stmt *st, void *elem)
{
    fsv_user_row *r = elem;
    col_copy(st, 0, r->user.name, sizeof r->user.name);
    col_copy(st, 1, r->user.role, sizeof r->user.role);
    col_copy(st, 2, r->user.team, sizeof r->user.team);
    r->user.disabled = sqlite3_column_int(st, 3);
    r->created_ms = col_time(st, 4);
    r->tokens = sqlite3_column_int64(st, 5);
}

int fsv_sqlite_user_rows(fsv_store *s, fsv_user_row **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = stmt(s, ST_USER_LIST);
    if (!st)
        return FSV_ERROR;
    return read_rows(s, st, sizeof **out, user_row, "list users",
                     (void **)out, n);
}

int fsv_sqlite_user_disable(fsv_store *s, const char *name)
{
    sqlite3_stmt *st = stmt(s, ST_USER_DISABLE);
    if (!st)
        return FSV_ERROR;
    bind_text(st, 1, name);
    int rc = step_done(s, st, "disable user");
    if (rc == FSV_OK && sqlite3_changes(SQ(s)->db) == 0)
        return seterr(s, FSV_NOTFOUND, "no user %s", name);
    return rc;
}

/* ---- Tokens ------------------------------------------------------------------------ */

int fsv_sqlite_token_add(fsv_store *s, const char *token_id, const char *user,
                        const unsigned char hash[FSV_TOKEN_HASH])
{
    sqlite3_stmt *st = stmt(s, ST_TOKEN_ADD);
    if (!st)
        return FSV_ERROR;
    bind_text(st, 1, token_id);
    bind_text(st, 2, user);
    sqlite3_bind_blob(st, 3, hash, FSV_TOKEN_HASH, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, now_ms());
    return step_done(s, st, "add token");
}

int fsv_sqlite_token_auth(fsv_store *s, const unsigned char hash[FSV_TOKEN_HASH],
                         fsv_user *u, char *id)
{
    memset(u, 0, sizeof *u);
    id[0] = '\0';
    sqlite3_stmt *st = stmt(s, ST_TOKEN_AUTH);
    if (!st)
        return FSV_ERROR;
    sqlite3_bind_blob(st, 1, hash, FSV_TOKEN_HASH, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(st);
        return seterr(s, FSV_NOTFOUND, "token unknown, revoked or disabled");
    }
    if (rc != SQLITE_ROW)
        return dberr(s, "token lookup");
    /* The index found the row by hash; compare the full hash in constant
    ** time anyway so equality never rests on a short-circuiting memcmp. */
    const void *stored = sqlite3_column_blob(st, 0);
    int ok = stored && sqlite3_column_bytes(st, 0) == FSV_TOKEN_HASH &&
             fsv_token_hash_equal(stored, hash);
    if (ok) {
        col_copy(st, 1, id, FSV_TOKEN_ID_LEN + 1);
        col_copy(st, 2, u->name, sizeof u->name);
        col_copy(st, 3, u->role, sizeof u->role);
        col_copy(st, 4, u->team, sizeof u->team);
    }
    sqlite3_reset(st);
    if (!ok)
        return seterr(s, FSV_NOTFOUND, "token unknown, revoked or disabled");
    st = stmt(s, ST_TOKEN_TOUCH);
    if (!st)
        return FSV_ERROR;
    bind_text(st, 1, id);
    sqlite3_bind_int64(st, 2, now_ms());
    return step_done(s, st, "token last use");
}

static void token_row(sqlite3_stmt *st, void *elem)
{
    fsv_token_row *r = elem;
    col_copy(st, 0, r->token_id, sizeof r->token_id);
    col_copy(st, 1, r->user, sizeof r->user);
    r->created_ms = col_time(st, 2);
    r->revoked_ms = col_time(st, 3);
    r->last_used_ms = col_time(st, 4);
}

int fsv_sqlite_token_rows(fsv_store *s, const char *user, fsv_token_row **out,
                          size_t *n)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = stmt(s, ST_TOKEN_LIST);
    if (!st)
        return FSV_ERROR;
    bind_text(st, 1, user);
    return read_rows(s, st, sizeof **out, token_row, "list tokens",
                     (void **)out, n);
}

int fsv_sqlite_token_revoke(fsv_store *s, const char *token_id)
{
    sqlite3_stmt *st = stmt(s, ST_TOKEN_REVOKE);
    if (!st)
        return FSV_ERROR;
    bind_text(st, 1, token_id);
    sqlite3_bind_int64(st, 2, now_ms());
    int rc = step_done(s, st, "revoke token");
    if (rc == FSV_OK && sqlite3_changes(SQ(s)->db) == 0)
        return seterr(s, FSV_NOTFOUND, "no live token %s", token_id);
    return rc;
}

int fsv_sqlite_device_seen(fsv_store *s, const char *device, const char *user,
                          const char *token_id, int64_t now, int64_t head)
{
    sqlite3_stmt *st = stmt(s, ST_DEVICE_SEEN);
    if (!st)
        return FSV_ERROR;
    bind_text(st, 1, device);
    bind_text(st, 2, user);
    bind_text(st, 3, token_id);
    sqlite3_bind_int64(st, 4, now);
    sqlite3_bind_int64(st, 5, head);
    return step_done(s, st, "device");
}

/* ---- Security: live token checks, visibility events, full state ---------------- */

int fsv_sqlite_token_live(fsv_store *s, const char *token_id, int *live)
{
    *live = 0;
    sqlite3_stmt *st = stmt(s, ST_TOKEN_LIVE);
    if (!st)
        return FSV_ERROR;
    bind_text(st, 1, token_id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *live = sqlite3_column_int(st, 0) != 0;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return dberr(s, "token check");
    return FSV_OK;
}
