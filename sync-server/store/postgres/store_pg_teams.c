/*
** store_pg_teams.c — the PostgreSQL backend's nested teams and moves
** (store.h, "Teams and moves"; the rules are store_teams.c's, the
** reasoning about moves store_sqlite_teams.c's):
**   teams(name PRIMARY KEY, parent)   parent '' for a top-level team
**   user_move(id bigserial, usr, old_team, old_role, new_team, new_role,
**             at_ms)                  `user set`
**   dev_move(device PRIMARY KEY, done)   the last move a device was given
** Made by the schema's version 2 (store_pg.c), which also makes each
** users.team of a version-1 store a top-level team.  Move ids come from a
** sequence, which a rolled-back move leaves a gap in; they only need to
** grow in commit order, and they do: every move is written under the
** sequencer lock (fsv__pg_auto_begin), so moves commit one after another.
** Writes go through a write transaction (the caller's or their own) so
** the data version moves and other processes' team maps notice.
*/
#include "store.h"
#include "store_pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fsv_pg_teams_load(fsv_store *s, fsv_teams **out)
{
    *out = NULL;
    int rc;
    PGresult *r = fsv__pg_q(s, "SELECT name, parent FROM teams", NULL,
                            "teams", &rc);
    if (!r)
        return rc;
    fsv_teams *t = fsv_teams_new();
    if (!t)
        rc = seterr(s, FSV_NOMEM, "out of memory");
    for (int i = 0; rc == FSV_OK && i < PQntuples(r); i++)
        if (fsv_teams_put(t, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1)) !=
            FSV_OK)
            rc = seterr(s, FSV_NOMEM, "out of memory");
    PQclear(r);
    if (rc != FSV_OK) {
        fsv_teams_free(t);
        return rc;
    }
    *out = t;
    return FSV_OK;
}

int fsv_pg_team_put(fsv_store *s, const char *name, const char *parent)
{
    int mine, rc = fsv__pg_auto_begin(s, &mine);
    if (rc != FSV_OK)
        return rc;
    pgp p = {0};
    p_text(&p, name);
    p_text(&p, parent ? parent : "");
    int64_t changed = 0;
    /* ON CONFLICT, not a unique violation: that would abort the caller's
    ** transaction (user_add puts a team that may exist). */
    rc = fsv__pg_qrun(s, "INSERT INTO teams(name, parent) VALUES ($1, $2)"
                      " ON CONFLICT DO NOTHING", &p, "add team", &changed);
    if (rc == FSV_OK && changed == 0)
        rc = seterr(s, FSV_EXISTS, "team %s already exists", name);
    if (mine && rc == FSV_EXISTS) {
        fsv__pg_auto_end(s, mine, FSV_OK);  /* nothing written */
        return FSV_EXISTS;
    }
    return fsv__pg_auto_end(s, mine, rc);
}

int fsv_pg_user_set(fsv_store *s, const char *name, const char *team,
                    const char *role, int64_t *move_id)
{
    *move_id = 0;
    int mine, rc = fsv__pg_auto_begin(s, &mine);
    if (rc != FSV_OK)
        return rc;
    fsv_user u;
    rc = fsv_pg_user_get(s, name, &u);
    const char *nt = team ? team : u.team, *nr = role ? role : u.role;
    if (rc == FSV_OK && (strcmp(nt, u.team) != 0 || strcmp(nr, u.role) != 0)) {
        pgp p = {0};
        p_text(&p, name);
        p_text(&p, nt);
        p_text(&p, nr);
        rc = fsv__pg_qrun(s, "UPDATE users SET team=$2, role=$3 WHERE name=$1",
                          &p, "set user", NULL);
        /* Every device known now and not marked yet has not had this move
        ** (a device first seen later starts past it: store.h). */
        if (rc == FSV_OK)
            rc = fsv__pg_qrun(s, "INSERT INTO dev_move(device, done)"
                              " SELECT device, (SELECT coalesce(max(id), 0)"
                              " FROM user_move) FROM devices"
                              " ON CONFLICT DO NOTHING", NULL, "mark devices",
                              NULL);
        pgp m = {0};
        p_text(&m, name);
        p_text(&m, u.team);
        p_text(&m, u.role);
        p_text(&m, nt);
        p_text(&m, nr);
        p_i64(&m, fsv__pg_now_ms());
        PGresult *r = rc == FSV_OK
            ? fsv__pg_q(s, "INSERT INTO user_move(usr, old_team, old_role,"
                        " new_team, new_role, at_ms) VALUES ($1, $2, $3, $4,"
                        " $5, $6) RETURNING id", &m, "record move", &rc)
            : NULL;
        if (r && PQntuples(r) == 1)
            *move_id = col_i64(r, 0, 0);
        PQclear(r);
    }
    return fsv__pg_auto_end(s, mine, rc);
}

int fsv_pg_moves(fsv_store *s, int64_t after, fsv_move **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    pgp p = {0};
    p_i64(&p, after);
    int rc;
    PGresult *r = fsv__pg_q(s, "SELECT id, at_ms, usr, old_team, old_role,"
                            " new_team, new_role FROM user_move WHERE id > $1"
                            " ORDER BY id", &p, "moves", &rc);
    if (!r)
        return rc;
    size_t rows = (size_t)PQntuples(r);
    fsv_move *v = calloc(rows ? rows : 1, sizeof *v);
    if (!v) {
        PQclear(r);
        return seterr(s, FSV_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < rows; i++) {
        int row = (int)i;
        fsv_move *m = &v[i];
        m->id = col_i64(r, row, 0);
        m->at_ms = col_i64(r, row, 1);
        col_copy(r, row, 2, m->user, sizeof m->user);
        col_copy(r, row, 3, m->old_team, sizeof m->old_team);
        col_copy(r, row, 4, m->old_role, sizeof m->old_role);
        col_copy(r, row, 5, m->new_team, sizeof m->new_team);
        col_copy(r, row, 6, m->new_role, sizeof m->new_role);
    }
    PQclear(r);
    *out = v;
    *n = rows;
    return FSV_OK;
}

int fsv_pg_move_done(fsv_store *s, const char *device, int64_t *done)
{
    *done = 0;
    pgp p = {0};
    p_text(&p, device);
    int rc;
    PGresult *r = fsv__pg_q(s, "SELECT coalesce((SELECT done FROM dev_move"
                            " WHERE device=$1), (SELECT coalesce(max(id), 0)"
                            " FROM user_move))", &p, "move mark", &rc);
    if (!r)
        return rc;
    if (PQntuples(r) == 1)
        *done = col_i64(r, 0, 0);
    PQclear(r);
    return FSV_OK;
}

int fsv_pg_move_done_set(fsv_store *s, const char *device, int64_t done)
{
    pgp p = {0};
    p_text(&p, device);
    p_i64(&p, done);
    return fsv__pg_qrun(s, "INSERT INTO dev_move(device, done) VALUES ($1, $2)"
                        " ON CONFLICT(device) DO UPDATE SET"
                        " done=greatest(dev_move.done, excluded.done)", &p,
                        "move mark", NULL);
}

/* The ids of one text column of r, malloc'd (strings and array). */
static int id_list(fsv_store *s, PGresult *r, char ***ids, size_t *n)
{
    size_t rows = (size_t)PQntuples(r);
    char **v = calloc(rows ? rows : 1, sizeof *v);
    int rc = v ? FSV_OK : seterr(s, FSV_NOMEM, "out of memory");
    for (size_t i = 0; rc == FSV_OK && i < rows; i++)
        if (!(v[i] = strdup(PQgetvalue(r, (int)i, 0))))
            rc = seterr(s, FSV_NOMEM, "out of memory");
    PQclear(r);
    if (rc != FSV_OK) {
        for (size_t i = 0; v && i < rows; i++)
            free(v[i]);
        free(v);
        return rc;
    }
    *ids = v;
    *n = rows;
    return FSV_OK;
}

int fsv_pg_owned_customers(fsv_store *s, const char *owner, char ***ids,
                           size_t *n)
{
    *ids = NULL;
    *n = 0;
    /* ov_cust holds a transaction's merges only after its commit; the
    ** callers ask outside a write transaction (as SQLite's). */
    pgp p = {0};
    p_text(&p, owner);
    int rc;
    PGresult *r = fsv__pg_q(s, "SELECT rid FROM ov_cust WHERE owner=$1 AND"
                            " deleted=0 ORDER BY rid", &p, "owned customers",
                            &rc);
    if (!r)
        return rc;
    return id_list(s, r, ids, n);
}
