/*
** store_pg_users.c — the PostgreSQL backend's users, tokens (hashes
** only), devices (last sync, binding and accepted counter: rules 11 and
** 15), the store's identity (rule 13) and the live token checks (store.h).
** Every write outside a transaction runs in its own write transaction
** (fsv__pg_auto_begin), so it bumps the data version other processes
** watch (a `token revoke` closes sessions on every `serve`).
*/
#include "store.h"
#include "store_pg_int.h"
#include "token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Users ------------------------------------------------------------------ */

int fsv_pg_user_add(fsv_store *s, const char *name, const char *role,
                    const char *team)
{
    /* store.c checked name, role and team (backend-neutral rules). */
    int mine, rc = fsv__pg_auto_begin(s, &mine);
    if (rc != FSV_OK)
        return rc;
    fsv_user u;
    rc = fsv_pg_user_get(s, name, &u);
    if (rc == FSV_OK) {
        rc = seterr(s, FSV_EXISTS, "user %s already exists", name);
    } else if (rc == FSV_NOTFOUND) {
        pgp p = {0};
        p_text(&p, name);
        p_text(&p, role);
        p_text(&p, team ? team : "");
        p_i64(&p, fsv__pg_now_ms());
        rc = fsv__pg_run(s, PS_USER_ADD, &p, "add user", NULL);
    }
    return fsv__pg_auto_end(s, mine, rc);
}

int fsv_pg_user_get(fsv_store *s, const char *name, fsv_user *u)
{
    memset(u, 0, sizeof *u);
    pgp p = {0};
    p_text(&p, name);
    int rc;
    PGresult *r = fsv__pg_exec(s, PS_USER_GET, &p, "get user", &rc);
    if (!r)
        return rc;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return seterr(s, FSV_NOTFOUND, "no user %s", name);
    }
    col_copy(r, 0, 0, u->name, sizeof u->name);
    col_copy(r, 0, 1, u->role, sizeof u->role);
    col_copy(r, 0, 2, u->team, sizeof u->team);
    u->disabled = (int)col_i64(r, 0, 3);
    PQclear(r);
    return FSV_OK;
}

static int64_t col_time(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? FSV_NO_TIME : col_i64(r, row, col);
}

/* A result's rows into a malloc'd array of elements of size sz, each
** filled by row(r, i, elem). */
static int read_rows(fsv_store *s, PGresult *r, size_t sz,
                     void (*row)(const PGresult *, int, void *), void **out,
                     size_t *n)
{
    int rows = PQntuples(r);
    unsigned char *v = calloc(rows ? (size_t)rows : 1, sz);
    if (!v) {
        PQclear(r);
        return seterr(s, FSV_NOMEM, "out of memory");
    }
    for (int i = 0; i < rows; i++)
        row(r, i, v + (size_t)i * sz);
    PQclear(r);
    *out = v;
    *n = (size_t)rows;
    return FSV_OK;
}

static void user_row(const PGresult *r, int i, void *elem)
{
    fsv_user_row *u = elem;
    col_copy(r, i, 0, u->user.name, sizeof u->user.name);
    col_copy(r, i, 1, u->user.role, sizeof u->user.role);
    col_copy(r, i, 2, u->user.team, sizeof u->user.team);
    u->user.disabled = (int)col_i64(r, i, 3);
    u->created_ms = col_time(r, i, 4);
    u->tokens = col_i64(r, i, 5);
}

int fsv_pg_user_rows(fsv_store *s, fsv_user_row **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    int rc;
    PGresult *r = fsv__pg_exec(s, PS_USER_LIST, NULL, "list users", &rc);
    return r ? read_rows(s, r, sizeof **out, user_row, (void **)out, n) : rc;
}

/* One row-changing statement in the caller's or its own transaction;
** FSV_NOTFOUND (message notfound) when it changed no row. */
static int write_one(fsv_store *s, int slot, const pgp *p, const char *what,
                     const char *notfound)
{
    int mine, rc = fsv__pg_auto_begin(s, &mine);
    int64_t changed = 0;
    if (rc == FSV_OK)
        rc = fsv__pg_run(s, slot, p, what, &changed);
    if (rc == FSV_OK && changed == 0 && notfound)
        rc = seterr(s, FSV_NOTFOUND, "%s", notfound);
    return fsv__pg_auto_end(s, mine, rc);
}

int fsv_pg_user_disable(fsv_store *s, const char *name)
{
    char nf[FSV_NAME_MAX + 16];
    snprintf(nf, sizeof nf, "no user %s", name);
    pgp p = {0};
    p_text(&p, name);
    return write_one(s, PS_USER_DISABLE, &p, "disable user", nf);
}

/* ---- Tokens ------------------------------------------------------------------ */

int fsv_pg_token_add(fsv_store *s, const char *token_id, const char *user,
                     const unsigned char hash[FSV_TOKEN_HASH])
{
    pgp p = {0};
    p_text(&p, token_id);
    p_text(&p, user);
    p_bin(&p, hash, FSV_TOKEN_HASH);
    p_i64(&p, fsv__pg_now_ms());
    return write_one(s, PS_TOKEN_ADD, &p, "add token", NULL);
}

/* The token row for hash (PS_TOKEN_AUTH: hash, token_id, name, role,
** team), checked in constant time; FSV_NOTFOUND if none. */
static int token_find(fsv_store *s, const unsigned char hash[FSV_TOKEN_HASH],
                      fsv_user *u, char *id)
{
    memset(u, 0, sizeof *u);
    if (id)
        id[0] = '\0';
    pgp p = {0};
    p_bin(&p, hash, FSV_TOKEN_HASH);
    int rc;
    PGresult *r = fsv__pg_exec(s, PS_TOKEN_AUTH, &p, "token lookup", &rc);
    if (!r)
        return rc;
    int ok = 0;
    if (PQntuples(r) == 1) {
        size_t len = 0;
        unsigned char *stored =
            PQunescapeBytea((const unsigned char *)PQgetvalue(r, 0, 0), &len);
        /* The index found the row by hash; compare the full hash in
        ** constant time anyway (as the SQLite backend). */
        ok = stored && len == FSV_TOKEN_HASH &&
             fsv_token_hash_equal(stored, hash);
        PQfreemem(stored);
        if (ok) {
            if (id)
                col_copy(r, 0, 1, id, FSV_TOKEN_ID_LEN + 1);
            col_copy(r, 0, 2, u->name, sizeof u->name);
            col_copy(r, 0, 3, u->role, sizeof u->role);
            col_copy(r, 0, 4, u->team, sizeof u->team);
        }
    }
    PQclear(r);
    if (!ok)
        return seterr(s, FSV_NOTFOUND, "token unknown, revoked or disabled");
    return FSV_OK;
}

int fsv_pg_token_auth(fsv_store *s, const unsigned char hash[FSV_TOKEN_HASH],
                      fsv_user *u, char *id)
{
    int rc = token_find(s, hash, u, id);
    if (rc != FSV_OK)
        return rc;
    pgp p = {0};
    p_text(&p, id);
    p_i64(&p, fsv__pg_now_ms());
    return write_one(s, PS_TOKEN_TOUCH, &p, "token last use", NULL);
}

int fsv_pg_api_token_check(fsv_store *s,
                           const unsigned char hash[FSV_TOKEN_HASH],
                           fsv_user *u)
{
    return token_find(s, hash, u, NULL);
}

static void token_row(const PGresult *r, int i, void *elem)
{
    fsv_token_row *t = elem;
    col_copy(r, i, 0, t->token_id, sizeof t->token_id);
    col_copy(r, i, 1, t->user, sizeof t->user);
    t->created_ms = col_time(r, i, 2);
    t->revoked_ms = col_time(r, i, 3);
    t->last_used_ms = col_time(r, i, 4);
}

int fsv_pg_token_rows(fsv_store *s, const char *user, fsv_token_row **out,
                      size_t *n)
{
    *out = NULL;
    *n = 0;
    pgp p = {0};
    p_text(&p, user);
    int rc;
    PGresult *r = fsv__pg_exec(s, PS_TOKEN_LIST, &p, "list tokens", &rc);
    return r ? read_rows(s, r, sizeof **out, token_row, (void **)out, n) : rc;
}

int fsv_pg_token_revoke(fsv_store *s, const char *token_id)
{
    char nf[FSV_TOKEN_ID_LEN + 32];
    snprintf(nf, sizeof nf, "no live token %.*s", FSV_TOKEN_ID_LEN, token_id);
    pgp p = {0};
    p_text(&p, token_id);
    p_i64(&p, fsv__pg_now_ms());
    return write_one(s, PS_TOKEN_REVOKE, &p, "revoke token", nf);
}

int fsv_pg_token_live(fsv_store *s, const char *token_id, int *live)
{
    *live = 0;
    pgp p = {0};
    p_text(&p, token_id);
    int rc;
    PGresult *r = fsv__pg_exec(s, PS_TOKEN_LIVE, &p, "token check", &rc);
    if (!r)
        return rc;
    *live = PQntuples(r) == 1 && col_i64(r, 0, 0) != 0;
    PQclear(r);
    return FSV_OK;
}

/* ---- Devices (rules 11, 15) -------------------------------------------------- */

int fsv_pg_device_seen(fsv_store *s, const char *device, const char *user,
                       const char *token_id, int64_t now, int64_t head)
{
    pgp p = {0};
    p_text(&p, device);
    p_text(&p, user);
    p_text(&p, token_id);
    p_i64(&p, now);
    p_i64(&p, head);
    return write_one(s, PS_DEVICE_SEEN, &p, "device", NULL);
}

int fsv_pg_device_get(fsv_store *s, const char *device, char *user,
                      int64_t *counter)
{
    user[0] = '\0';
    *counter = 0;
    pgp p = {0};
    p_text(&p, device);
    int rc;
    PGresult *r = fsv__pg_exec(s, PS_DEVICE_GET, &p, "device", &rc);
    if (!r)
        return rc;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return seterr(s, FSV_NOTFOUND, "device %s never seen", device);
    }
    col_copy(r, 0, 0, user, FSV_NAME_MAX + 1);
    *counter = col_i64(r, 0, 1);
    PQclear(r);
    return FSV_OK;
}

int fsv_pg_device_accept(fsv_store *s, const char *device, const char *user,
                         int64_t counter)
{
    pgp p = {0};
    p_text(&p, device);
    p_text(&p, user);
    p_i64(&p, counter);
    return write_one(s, PS_DEVICE_ACCEPT, &p, "device counter", NULL);
}

static void device_row(const PGresult *r, int i, void *elem)
{
    fsv_device_row *d = elem;
    col_copy(r, i, 0, d->device, sizeof d->device);
    col_copy(r, i, 1, d->user, sizeof d->user);
    d->last_sync_ms = col_i64(r, i, 2);
}

int fsv_pg_device_rows(fsv_store *s, fsv_device_row **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    int rc;
    PGresult *r = fsv__pg_exec(s, PS_DEVICE_ROWS, NULL, "devices", &rc);
    return r ? read_rows(s, r, sizeof **out, device_row, (void **)out, n) : rc;
}

/* ---- Identity (rule 13) ---------------------------------------------------- */

static int meta_get(fsv_store *s, const char *key, char *buf, size_t cap)
{
    buf[0] = '\0';
    pgp p = {0};
    p_text(&p, key);
    int rc;
    PGresult *r = fsv__pg_exec(s, PS_META_GET, &p, "meta", &rc);
    if (!r)
        return rc;
    if (PQntuples(r) == 1)
        col_copy(r, 0, 0, buf, cap);
    PQclear(r);
    return FSV_OK;
}

int fsv_pg_identity(fsv_store *s, char id[FSV_STORE_ID_LEN + 1],
                    int64_t *epoch)
{
    char sid[FSV_STORE_ID_LEN + 1], e[32];
    int rc = meta_get(s, "store_id", sid, sizeof sid);
    if (rc == FSV_OK)
        rc = meta_get(s, "epoch", e, sizeof e);
    *epoch = 0;
    return rc == FSV_OK ? fsv__store_identity_of(s, sid, e, id, epoch) : rc;
}
