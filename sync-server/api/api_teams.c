/*
** api_teams.c — the dashboard's teams: GET /api/teams (the teams a caller
** may filter by, with their parents) and the ?team= filter that
** /api/customers, /api/summary, /api/analysis and /api/export.csv take.
** A filter only narrows: the store applies it inside the caller's scope
** (fsv_scope.filter_team), so a rep or a manager naming a team beside
** their own gets nothing they could not see anyway.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "visibility.h"

int fsv_api_team_arg(fsv_api *api, const fsv_req *q, fsv_resp *resp,
                     const char **team)
{
    *team = NULL;
    const char *t = fsv_req_arg(q, "team");
    if (!t || !t[0])
        return 0;
    if (strcmp(t, "*") == 0)
        return 0;       /* every team: no filter */
    /* In a read transaction of its own: the map is then checked against
    ** the store (a team another process just added is known). */
    fsv_store *st = api->srv->store;
    const fsv_teams *map = NULL;
    int rc = fsv_store_begin_read(st);
    if (rc == FSV_OK)
        rc = fsv_store_team_map(st, &map);
    int known = rc == FSV_OK && fsv_teams_parent(map, t) != NULL;
    fsv_store_rollback(st);
    if (rc != FSV_OK) {
        fsv_resp_error(resp, 500, "the store failed while reading the teams");
        return -1;
    }
    if (!known) {
        fsv_resp_error(resp, 400, "team \"%.64s\" is not a team of this"
                       " server", t);
        return -1;
    }
    *team = t;
    return 0;
}

void fsv_api_teams(fsv_api *api, const fsv_user *u, const fsv_req *q,
                   fsv_resp *resp)
{
    (void)q;
    fsv_store *st = api->srv->store;
    const fsv_teams *map = NULL;
    int rc = fsv_store_begin_read(st);
    if (rc == FSV_OK)
        rc = fsv_store_team_map(st, &map);
    if (rc != FSV_OK) {
        fsv_store_rollback(st);
        fsv_resp_error(resp, 500, "the store failed while reading the teams");
        return;
    }
    int all = fsv_vis_sees_all(u);
    int mgr = strcmp(u->role, "manager") == 0 && u->team[0];
    json_t *a = json_array();
    for (size_t i = 0; a && i < fsv_teams_count(map); i++) {
        const char *name = fsv_teams_name(map, i);
        const char *parent = fsv_teams_parent_at(map, i);
        if (!all && !(mgr && fsv_teams_within(map, name, u->team)))
            continue;
        json_array_append_new(a, json_pack("{s:s, s:o}", "team", name,
                                           "parent", parent[0]
                                               ? json_string(parent)
                                               : json_null()));
    }
    fsv_store_rollback(st);     /* map borrowed until here */
    json_t *o = a ? json_pack("{s:o}", "teams", a) : NULL;
    if (!o) {
        fsv_resp_error(resp, 500, "out of memory");
        return;
    }
    fsv_resp_json(resp, 200, o);
}
