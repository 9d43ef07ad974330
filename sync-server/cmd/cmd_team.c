/*
** cmd_team.c — `fieldsync-server team add|list`: nested teams (DESIGN.md
** rule 8; the rules are store_teams.c's and teamtree.c's).
*/
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cmds.h"

static const char team_help[] =
    "usage: fieldsync-server team add NAME [--parent TEAM] --data DIR [--json]\n"
    "       fieldsync-server team list --data DIR [--json]\n"
    "\n"
    "Teams nest: a manager sees the customers of their team and of every\n"
    "team below it, never those of a team beside it; team '*' (head office)\n"
    "sees everything.  add makes a team, top-level or under an existing\n"
    "parent; an unknown parent, a cycle or a duplicate is refused by name.\n"
    "Users' teams from before teams nested are top-level teams.  Move people\n"
    "with `fieldsync-server user set NAME --team T`.  list shows each team,\n"
    "its parent and its users (--json: [{\"team\", \"parent\", \"users\"}]).\n"
    "Without --data, the folder is $FIELDSYNC_DATA.  --store URL names a store\n"
    "that is not DIR's file (postgresql://..., as `init --store`).\n";

static int print_json(json_t *j)
{
    char *t = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
    if (!t) {
        fsv_fail("out of memory");
        return FSV_EXIT_FAIL;
    }
    puts(t);
    free(t);
    return FSV_EXIT_OK;
}

/* The tree as an indented list: each team under its parent. */
static void print_tree(const json_t *arr, const char *parent, int depth)
{
    size_t i;
    const json_t *t;
    json_array_foreach(arr, i, t) {
        const char *p = json_string_value(json_object_get(t, "parent"));
        if (strcmp(p ? p : "", parent) != 0 || depth > 64)
            continue;
        const char *name = json_string_value(json_object_get(t, "team"));
        printf("%*s%s  (%lld users)\n", depth * 2, "", name,
               (long long)json_integer_value(json_object_get(t, "users")));
        print_tree(arr, name, depth + 1);
    }
}

int fsv_cmd_team(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data", required_argument, NULL, 'd'},
        {"store", required_argument, NULL, 'S'},
        {"parent", required_argument, NULL, 'p'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *store_url = NULL;
    const char *data = NULL, *parent = NULL;
    int json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd': data = optarg; break;
        case 'S': store_url = optarg; break;
        case 'p': parent = optarg; break;
        case 'j': json = 1; break;
        case 'h': fputs(team_help, stdout); return FSV_EXIT_OK;
        default: fputs(team_help, stderr); return FSV_EXIT_USAGE;
        }
    }
    char **pos = argv + optind;
    int n_pos = argc - optind;
    int add = n_pos == 2 && strcmp(pos[0], "add") == 0;
    int list = n_pos == 1 && strcmp(pos[0], "list") == 0;
    if (!add && !list) {
        fsv_fail("team: expected add NAME [--parent TEAM] or list");
        fputs(team_help, stderr);
        return FSV_EXIT_USAGE;
    }
    if (list && parent) {
        fsv_fail("team list: --parent belongs to team add");
        return FSV_EXIT_USAGE;
    }
    fsv_store *s;
    int code = fsv_open_store(data, store_url, &s);
    if (code != FSV_EXIT_OK)
        return code;
    int rc;
    if (add) {
        rc = fsv_store_team_add(s, pos[1], parent);
        if (rc != FSV_OK) {
            fsv_fail("%s", fsv_store_errmsg(s));
            /* an unknown parent is a mistake in the command, as a cycle */
            code = rc == FSV_NOTFOUND ? FSV_EXIT_USAGE : fsv_exit_for(rc);
        } else if (json) {
            json_t *o = json_pack("{s:b, s:s, s:o}", "ok", 1, "team", pos[1],
                                  "parent", parent && parent[0]
                                      ? json_string(parent) : json_null());
            code = print_json(o);
            json_decref(o);
        } else if (parent && parent[0]) {
            printf("team %s added under %s\n", pos[1], parent);
        } else {
            printf("team %s added (top level)\n", pos[1]);
        }
    } else {
        json_t *arr = NULL;
        rc = fsv_store_team_list(s, &arr);
        if (rc != FSV_OK) {
            fsv_fail("%s", fsv_store_errmsg(s));
            code = fsv_exit_for(rc);
        } else if (json) {
            code = print_json(arr);
        } else if (json_array_size(arr) == 0) {
            printf("no teams yet (fieldsync-server team add NAME)\n");
        } else {
            print_tree(arr, "", 0);
        }
        json_decref(arr);
    }
    fsv_store_close(s);
    return code;
}
