/*
** store_sqlite_teams.c — the SQLite backend's nested teams and moves
** (store.h, "Teams and moves"; the rules are store_teams.c's):
**   teams(name PRIMARY KEY, parent)   parent '' for a top-level team
**   user_move(id INTEGER PRIMARY KEY AUTOINCREMENT, user, old_team,
**             old_role, new_team, new_role, at_ms)   `user set`
**   dev_move(device PRIMARY KEY, done)   the last move a device was given
** Made by fsv__sq_teams_open on every open (CREATE TABLE IF NOT EXISTS:
** the lead bumps the schema version once at merge), which also makes each
** users.team string of a store from before teams nested a top-level team.
**
** Why moves are not visibility events (vis_event): those are keyed by
** the history sequence of the change that made them, and a device finds
** them by its cursor (events after it).  A move writes no history: a
** device whose cursor is the head when the admin moves someone would
** never see an event keyed at or below it.  So moves are numbered on
** their own (user_move.id) and each device keeps, here, the last move it
** has been given (dev_move.done); sync_moves.c applies the ones after it.
** Statements are prepared per call: every call here is an admin command,
** a hello, or a move (rare), not the per-change path.
*/
#include "store.h"
#include "store_sqlite_int.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int prep(fsv_store *s, const char *sql, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v2(fsv__store_sqlite_db(s), sql, -1, st, NULL) !=
        SQLITE_OK) {
        *st = NULL;
        return dberr(s, "teams");
    }
    return FSV_OK;
}

int fsv__sq_teams_open(fsv_store *s)
{
    char *msg = NULL;
    if (sqlite3_exec(fsv__store_sqlite_db(s),
            "CREATE TABLE IF NOT EXISTS teams(name TEXT PRIMARY KEY,"
            "  parent TEXT NOT NULL DEFAULT '') WITHOUT ROWID;"
            "CREATE TABLE IF NOT EXISTS user_move("
            "  id INTEGER PRIMARY KEY AUTOINCREMENT, user TEXT NOT NULL,"
            "  old_team TEXT NOT NULL, old_role TEXT NOT NULL,"
            "  new_team TEXT NOT NULL, new_role TEXT NOT NULL,"
            "  at_ms INTEGER NOT NULL);"
            "CREATE TABLE IF NOT EXISTS dev_move(device TEXT PRIMARY KEY,"
            "  done INTEGER NOT NULL) WITHOUT ROWID;"
            /* Users' teams from before teams nested: top-level teams. */
            "INSERT OR IGNORE INTO teams(name, parent) SELECT DISTINCT team,"
            "  '' FROM users WHERE team NOT IN ('', '*');",
            NULL, NULL, &msg) != SQLITE_OK) {
        int rc = seterr(s, FSV_ERROR, "teams: schema: %s",
                        msg ? msg : "unknown error");
        sqlite3_free(msg);
        return rc;
    }
    return FSV_OK;
}

int fsv_sqlite_teams_load(fsv_store *s, fsv_teams **out)
{
    *out = NULL;
    sqlite3_stmt *st = NULL;
    int rc = prep(s, "SELECT name, parent FROM teams", &st);
    if (rc != FSV_OK)
        return rc;
    fsv_teams *t = fsv_teams_new();
    int step = SQLITE_DONE;
    while (t && rc == FSV_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *n = (const char *)sqlite3_column_text(st, 0);
        const char *p = (const char *)sqlite3_column_text(st, 1);
        if (n && fsv_teams_put(t, n, p ? p : "") != FSV_OK)
            rc = seterr(s, FSV_NOMEM, "out of memory");
    }
    if (!t)
        rc = seterr(s, FSV_NOMEM, "out of memory");
    else if (rc == FSV_OK && step != SQLITE_DONE)
        rc = dberr(s, "teams");
    sqlite3_finalize(st);
    if (rc != FSV_OK) {
        fsv_teams_free(t);
        return rc;
    }
    *out = t;
    return FSV_OK;
}

int fsv_sqlite_team_put(fsv_store *s, const char *name, const char *parent)
{
    sqlite3_stmt *st = NULL;
    int rc = prep(s, "INSERT OR IGNORE INTO teams(name, parent)"
                  " VALUES (?1, ?2)", &st);
    if (rc != FSV_OK)
        return rc;
    bind_text(st, 1, name);
    bind_text(st, 2, parent ? parent : "");
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = dberr(s, "add team");
    else if (sqlite3_changes(fsv__store_sqlite_db(s)) == 0)
        rc = seterr(s, FSV_EXISTS, "team %s already exists", name);
    sqlite3_finalize(st);
    return rc;
}

/* Run one statement with up to 7 text bindings (NULL: SQL NULL). */
static int exec7(fsv_store *s, const char *sql, const char *what,
                 const char *const v[7])
{
    sqlite3_stmt *st = NULL;
    int rc = prep(s, sql, &st);
    if (rc != FSV_OK)
        return rc;
    int np = sqlite3_bind_parameter_count(st);
    for (int i = 0; i < np && i < 7; i++)
        bind_text(st, i + 1, v[i]);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = dberr(s, what);
    sqlite3_finalize(st);
    return rc;
}

int fsv_sqlite_user_set(fsv_store *s, const char *name, const char *team,
                        const char *role, int64_t *move_id)
{
    *move_id = 0;
    int mine, rc = fsv__sq_auto_begin(s, &mine);
    if (rc != FSV_OK)
        return rc;
    fsv_user u;
    rc = fsv_sqlite_user_get(s, name, &u);
    const char *nt = team ? team : u.team, *nr = role ? role : u.role;
    if (rc == FSV_OK && (strcmp(nt, u.team) != 0 || strcmp(nr, u.role) != 0)) {
        const char *upd[7] = {name, nt, nr};
        rc = exec7(s, "UPDATE users SET team = ?2, role = ?3 WHERE name = ?1",
                   "set user", upd);
        /* Every device known now and not marked yet has not had this move
        ** (a device first seen later starts past it: store.h). */
        const char *none[7] = {0};
        if (rc == FSV_OK)
            rc = exec7(s, "INSERT OR IGNORE INTO dev_move(device, done)"
                       " SELECT device, (SELECT coalesce(max(id), 0) FROM"
                       " user_move) FROM devices", "mark devices", none);
        char at[24];
        snprintf(at, sizeof at, "%lld", (long long)now_ms());
        const char *mv[7] = {name, u.team, u.role, nt, nr, at};
        if (rc == FSV_OK)
            rc = exec7(s, "INSERT INTO user_move(user, old_team, old_role,"
                       " new_team, new_role, at_ms) VALUES (?1, ?2, ?3, ?4,"
                       " ?5, CAST(?6 AS INTEGER))", "record move", mv);
        if (rc == FSV_OK)
            *move_id = sqlite3_last_insert_rowid(fsv__store_sqlite_db(s));
    }
    return fsv__sq_auto_end(s, mine, rc);
}

int fsv_sqlite_moves(fsv_store *s, int64_t after, fsv_move **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = NULL;
    int rc = prep(s, "SELECT id, at_ms, user, old_team, old_role, new_team,"
                  " new_role FROM user_move WHERE id > ?1 ORDER BY id", &st);
    if (rc != FSV_OK)
        return rc;
    sqlite3_bind_int64(st, 1, after);
    fsv_move *v = NULL;
    size_t got = 0, cap = 0;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (got == cap) {
            size_t nc = cap ? cap * 2 : 8;
            fsv_move *p = realloc(v, nc * sizeof *p);
            if (!p) {
                rc = seterr(s, FSV_NOMEM, "out of memory");
                break;
            }
            v = p;
            cap = nc;
        }
        fsv_move *m = &v[got++];
        memset(m, 0, sizeof *m);
        m->id = sqlite3_column_int64(st, 0);
        m->at_ms = sqlite3_column_int64(st, 1);
        col_copy(st, 2, m->user, sizeof m->user);
        col_copy(st, 3, m->old_team, sizeof m->old_team);
        col_copy(st, 4, m->old_role, sizeof m->old_role);
        col_copy(st, 5, m->new_team, sizeof m->new_team);
        col_copy(st, 6, m->new_role, sizeof m->new_role);
    }
    if (rc == FSV_OK && step != SQLITE_DONE)
        rc = dberr(s, "moves");
    sqlite3_finalize(st);
    if (rc != FSV_OK) {
        free(v);
        return rc;
    }
    *out = v;
    *n = got;
    return FSV_OK;
}

int fsv_sqlite_move_done(fsv_store *s, const char *device, int64_t *done)
{
    *done = 0;
    sqlite3_stmt *st = NULL;
    int rc = prep(s, "SELECT coalesce((SELECT done FROM dev_move WHERE"
                  " device = ?1), (SELECT coalesce(max(id), 0) FROM"
                  " user_move))", &st);
    if (rc != FSV_OK)
        return rc;
    bind_text(st, 1, device);
    if (sqlite3_step(st) == SQLITE_ROW)
        *done = sqlite3_column_int64(st, 0);
    else
        rc = dberr(s, "move mark");
    sqlite3_finalize(st);
    return rc;
}

int fsv_sqlite_move_done_set(fsv_store *s, const char *device, int64_t done)
{
    sqlite3_stmt *st = NULL;
    int rc = prep(s, "INSERT INTO dev_move(device, done) VALUES (?1, ?2)"
                  " ON CONFLICT(device) DO UPDATE SET done ="
                  " max(done, excluded.done)", &st);
    if (rc != FSV_OK)
        return rc;
    bind_text(st, 1, device);
    sqlite3_bind_int64(st, 2, done);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = dberr(s, "move mark");
    sqlite3_finalize(st);
    return rc;
}

int fsv_sqlite_owned_customers(fsv_store *s, const char *owner, char ***ids,
                               size_t *n)
{
    *ids = NULL;
    *n = 0;
    /* ov_cust holds this transaction's merges only after its flush; the
    ** callers ask outside a write transaction. */
    sqlite3_stmt *st = NULL;
    int rc = prep(s, "SELECT rid FROM ov_cust WHERE owner = ?1 AND"
                  " deleted = 0 ORDER BY rid", &st);
    if (rc != FSV_OK)
        return rc;
    bind_text(st, 1, owner);
    char **v = NULL;
    size_t got = 0, cap = 0;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (got == cap) {
            size_t nc = cap ? cap * 2 : 16;
            char **p = realloc(v, nc * sizeof *p);
            if (!p) {
                rc = seterr(s, FSV_NOMEM, "out of memory");
                break;
            }
            v = p;
            cap = nc;
        }
        if (!(v[got] = col_dup(st, 0))) {
            rc = seterr(s, FSV_NOMEM, "out of memory");
            break;
        }
        got++;
    }
    if (rc == FSV_OK && step != SQLITE_DONE)
        rc = dberr(s, "owned customers");
    sqlite3_finalize(st);
    if (rc != FSV_OK) {
        for (size_t i = 0; i < got; i++)
            free(v[i]);
        free(v);
        return rc;
    }
    *ids = v;
    *n = got;
    return FSV_OK;
}
