/*
** store_teams.c — nested teams and moving people (store.h, "Teams and
** moves"): the rules every backend shares (names, parents, cycles: the
** pure teamtree.c; which teams a user may be set to), the handle's cached
** team map, and the subtree a backend matches users' teams against.
*/
#include "store.h"
#include "store_backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Every entry here needs the backend's: one from before teams nested (or
** a backend that has not added them yet) answers with a clear message. */
#define NEED(s, entry)                                                     \
    do {                                                                   \
        if (!(s)->be->entry)                                               \
            return fsv__store_setmsg((s), FSV_INVALID, "store: the %s"     \
                                     " backend has no nested teams yet",   \
                                     (s)->be->scheme);                     \
    } while (0)

/* The message a failing backend call left, or one from its code. */
static int done(fsv_store *s, unsigned gen, int rc, const char *what)
{
    if (rc != FSV_OK && s->msg_gen == gen)
        fsv__store_setmsg(s, rc, "store: %s: %s", what, fsv_errstr(rc));
    return rc;
}

/* Outside a transaction, another process's `team add` is noticed within
** this long (the running server's moves and closes run on a 1 s tick). */
#define FSV_TEAMS_RECHECK_MS 50

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void fsv__store_teams_forget(fsv_store *s)
{
    s->teams_ok = 0;
}

int fsv_store_team_map(fsv_store *s, const fsv_teams **map)
{
    *map = NULL;
    if (!s->be->teams_load) {
        /* A backend without nested teams: an empty map, so every team is
        ** top-level and "within" means the same team (or "*"). */
        if (!s->teams && !(s->teams = fsv_teams_new()))
            return fsv__store_setmsg(s, FSV_NOMEM, "out of memory");
        *map = s->teams;
        return FSV_OK;
    }
    unsigned gen = s->msg_gen;
    /* One data-version question per transaction (and per call outside
    ** one): within a transaction's snapshot nothing else can change it. */
    int64_t now = mono_ms();
    if (s->teams_ok && (s->tx_open ? s->teams_gen != s->tx_gen
                        : now - s->teams_checked_ms >= FSV_TEAMS_RECHECK_MS)) {
        int64_t dv = 0;
        if (s->be->data_version(s, &dv) != FSV_OK || dv != s->teams_dv)
            s->teams_ok = 0;
        s->teams_gen = s->tx_gen;
        s->teams_checked_ms = now;
    }
    if (!s->teams_ok) {
        int64_t dv = 0;
        fsv_teams *t = NULL;
        int rc = s->be->data_version(s, &dv);
        if (rc == FSV_OK)
            rc = s->be->teams_load(s, &t);
        if (rc != FSV_OK)
            return done(s, gen, rc, "teams");
        fsv_teams_free(s->teams);
        s->teams = t;
        s->teams_dv = dv;
        s->teams_gen = s->tx_gen;
        s->teams_checked_ms = now;
        s->teams_ok = 1;
    }
    *map = s->teams;
    return FSV_OK;
}

/* A team name: 1..FSV_NAME_MAX bytes, no control characters, no ','
** (the dashboard's lists) and no ':' (share record ids). */
static int valid_team(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > FSV_NAME_MAX)
        return 0;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p < 0x20 || *p == 0x7f || *p == ',' || *p == ':')
            return 0;
    return 1;
}

int fsv_store_team_add(fsv_store *s, const char *name, const char *parent)
{
    NEED(s, team_put);
    if (!parent)
        parent = "";
    if (!valid_team(name))
        return fsv__store_setmsg(s, FSV_INVALID, "team name \"%s\": 1..%d"
                                 " bytes, without ',', ':' or control"
                                 " characters", name, FSV_NAME_MAX);
    unsigned gen = s->msg_gen;
    /* Checked and written in one write transaction: another process's
    ** `team add` cannot slip a cycle in between. */
    int rc = fsv_store_begin(s);
    fsv_teams *t = NULL;
    if (rc == FSV_OK)
        rc = s->be->teams_load(s, &t);
    if (rc == FSV_OK) {
        char why[256];
        rc = fsv_teams_check_add(t, name, parent, why, sizeof why);
        if (rc != FSV_OK)
            fsv__store_setmsg(s, rc, "%s", why);
    }
    fsv_teams_free(t);
    if (rc == FSV_OK)
        rc = s->be->team_put(s, name, parent);
    if (rc == FSV_OK)
        rc = fsv_store_commit(s);
    else
        fsv_store_rollback(s);
    fsv__store_teams_forget(s);
    return done(s, gen, rc, "team add");
}

int fsv_store_team_list(fsv_store *s, json_t **out)
{
    *out = NULL;
    const fsv_teams *t = NULL;
    int rc = fsv_store_team_map(s, &t);
    if (rc != FSV_OK)
        return rc;
    json_t *users = NULL;
    rc = fsv_store_user_list(s, &users);
    if (rc != FSV_OK)
        return rc;
    json_t *a = json_array();
    for (size_t i = 0; a && i < fsv_teams_count(t); i++) {
        const char *name = fsv_teams_name(t, i);
        const char *parent = fsv_teams_parent_at(t, i);
        json_int_t n = 0;
        size_t k;
        json_t *u;
        json_array_foreach(users, k, u) {
            const char *ut = json_string_value(json_object_get(u, "team"));
            n += ut && strcmp(ut, name) == 0;
        }
        json_t *o = json_pack("{s:s, s:o, s:I}", "team", name, "parent",
                              parent[0] ? json_string(parent) : json_null(),
                              "users", n);
        if (!o || json_array_append_new(a, o) != 0) {
            json_decref(a);
            a = NULL;
        }
    }
    json_decref(users);
    if (!a)
        return fsv__store_setmsg(s, FSV_NOMEM, "out of memory");
    *out = a;
    return FSV_OK;
}

int fsv_store_user_set(fsv_store *s, const char *name, const char *team,
                       const char *role, int64_t *move_id)
{
    *move_id = 0;
    NEED(s, user_set);
    if (role && strcmp(role, "rep") != 0 && strcmp(role, "manager") != 0 &&
        strcmp(role, "admin") != 0)
        return fsv__store_setmsg(s, FSV_INVALID, "role must be rep, manager"
                                 " or admin, not \"%s\"", role);
    unsigned gen = s->msg_gen;
    int rc = fsv_store_begin(s);
    fsv_teams *t = NULL;
    if (rc == FSV_OK && team && team[0] && strcmp(team, "*") != 0) {
        rc = s->be->teams_load(s, &t);
        if (rc == FSV_OK && !fsv_teams_parent(t, team))
            rc = fsv__store_setmsg(s, FSV_INVALID, "no team %s (add it"
                                   " with `team add %s`)", team, team);
    }
    fsv_teams_free(t);
    if (rc == FSV_OK)
        rc = s->be->user_set(s, name, team, role, move_id);
    if (rc == FSV_OK)
        rc = fsv_store_commit(s);
    else
        fsv_store_rollback(s);
    return done(s, gen, rc, "user set");
}

int fsv_store_moves(fsv_store *s, int64_t after, fsv_move **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!s->be->moves)
        return FSV_OK;      /* no moves without the tables */
    unsigned gen = s->msg_gen;
    return done(s, gen, s->be->moves(s, after, out, n), "moves");
}

int fsv_store_move_done(fsv_store *s, const char *device, int64_t *out)
{
    *out = 0;
    if (!s->be->move_done)
        return FSV_OK;
    unsigned gen = s->msg_gen;
    return done(s, gen, s->be->move_done(s, device, out), "move mark");
}

int fsv_store_move_done_set(fsv_store *s, const char *device, int64_t d)
{
    if (!s->be->move_done_set)
        return FSV_OK;
    unsigned gen = s->msg_gen;
    return done(s, gen, s->be->move_done_set(s, device, d), "move mark");
}

int fsv_store_owned_customers(fsv_store *s, const char *owner, char ***ids,
                              size_t *n)
{
    *ids = NULL;
    *n = 0;
    NEED(s, owned_customers);
    unsigned gen = s->msg_gen;
    return done(s, gen, s->be->owned_customers(s, owner, ids, n),
                "owned customers");
}

/* The JSON array of team and of the teams of the map related to it: with
** down those within it (its subtree), with up those it is within (its
** ancestors).  The team itself even when the map does not hold it (a name
** from before teams nested is a top-level team of its own).  *json NULL
** for no team. */
static int teams_json(fsv_store *s, const char *team, int down, int up,
                      char **json)
{
    *json = NULL;
    if (!team || !team[0])
        return FSV_OK;
    const fsv_teams *t = NULL;
    int rc = fsv_store_team_map(s, &t);
    if (rc != FSV_OK)
        return rc;
    json_t *a = json_array();
    if (a && json_array_append_new(a, json_string(team)) != 0) {
        json_decref(a);
        a = NULL;
    }
    for (size_t i = 0; a && i < fsv_teams_count(t); i++) {
        const char *nm = fsv_teams_name(t, i);
        if (strcmp(nm, team) != 0 &&
            ((down && fsv_teams_within(t, nm, team)) ||
             (up && fsv_teams_within(t, team, nm))) &&
            json_array_append_new(a, json_string(nm)) != 0) {
            json_decref(a);
            a = NULL;
        }
    }
    *json = a ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    if (!*json)
        return fsv__store_setmsg(s, FSV_NOMEM, "out of memory");
    return FSV_OK;
}

int fsv__store_subtree_json(fsv_store *s, const char *team, char **json)
{
    return teams_json(s, team, 1, 0, json);
}

int fsv__store_pool_teams_json(fsv_store *s, const char *team, int manager,
                               char **json)
{
    /* DESIGN.md: a pool customer is visible to every rep of its team and
    ** of the teams below it; a manager also sees the pools of the teams
    ** below their own (they are customers of their subtree).  So the
    ** pools of the team, of every team it is within, and, for a manager,
    ** of every team within it (fsv_vis_pool_covers asks the same). */
    return teams_json(s, team, manager, 1, json);
}
