/*
** cmd_admin.c — `fieldsync-server user ...` and `token ...`.
*/
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "cmds.h"
#include "metrics_token.h"
#include "width.h"

static const char user_help[] =
    "usage: fieldsync-server user add NAME --role rep|manager|admin [--team T]"
    " --data DIR [--json]\n"
    "       fieldsync-server user list --data DIR [--json]\n"
    "       fieldsync-server user disable NAME --data DIR [--json]\n"
    "       fieldsync-server user set NAME [--team T] [--role R] --data DIR"
    " [--json]\n"
    "\n"
    "add prints the new user's device token once (--json: {\"user\", \"role\",\n"
    "\"token\", \"token_id\"}).  A manager sees the customers of the reps of\n"
    "their team and of every team below it (`fieldsync-server team add`);\n"
    "--team '*' makes a head-office manager who sees everything.  An unknown\n"
    "team in add becomes a top-level team.\n"
    "set moves a user to another team (one that exists, '' for none, or '*')\n"
    "and/or role, in one step, also while the server runs: devices that lose\n"
    "sight of customers by it get them revoked, devices that gain sight get\n"
    "them in full (the user's own and their managers', old and new).\n"
    "disable refuses every token of the user from now on.  Without --data,\n"
    "the folder is $FIELDSYNC_DATA.  --store URL names a store that is not\n"
    "the SQLite file under --data (postgresql://...; --data is then not needed).\n";

static const char token_help[] =
    "usage: fieldsync-server token list USER --data DIR [--json]\n"
    "       fieldsync-server token revoke TOKEN_ID --data DIR [--json]\n"
    "       fieldsync-server token add USER --data DIR [--json]\n"
    "       fieldsync-server token metrics --data DIR [--json]\n"
    "\n"
    "Tokens are stored only as SHA-256 hashes; list shows their ids and\n"
    "dates.  revoke refuses the token from the next connection on.  add issues\n"
    "another device token for an existing user (printed once).  metrics\n"
    "makes the token a Prometheus scraper sends to GET /metrics (printed once;\n"
    "it replaces the previous one, and opens nothing but the metrics).\n"
    "Without --data, the folder is $FIELDSYNC_DATA.  --store URL names a store\n"
    "that is not the SQLite file under --data (postgresql://...).\n";

struct admin_args {
    const char *data, *role, *team, *store;
    int json;
    char **pos;     /* positional words after the command word */
    int n_pos;
};

/* Parse the options shared by user/token subcommands.  Returns -1 on
** --help (printed), -2 on a usage error (printed), 0 otherwise. */
static int parse(int argc, char **argv, const char *help, struct admin_args *a)
{
    static const struct option opts[] = {
        {"data", required_argument, NULL, 'd'},
        {"role", required_argument, NULL, 'r'},
        {"team", required_argument, NULL, 't'},
        {"store", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int c;
    memset(a, 0, sizeof *a);
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd': a->data = optarg; break;
        case 'r': a->role = optarg; break;
        case 't': a->team = optarg; break;
        case 's': a->store = optarg; break;
        case 'j': a->json = 1; break;
        case 'h': fputs(help, stdout); return -1;
        default: fputs(help, stderr); return -2;
        }
    }
    a->pos = argv + optind;
    a->n_pos = argc - optind;
    return 0;
}

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

/* Print {"ok": true, key: value} or a text line. */
static int print_done(int json, const char *key, const char *value,
                      const char *text)
{
    if (!json) {
        printf("%s\n", text);
        return FSV_EXIT_OK;
    }
    json_t *o = json_pack("{s:b, s:s}", "ok", 1, key, value);
    int rc = print_json(o);
    json_decref(o);
    return rc;
}

static int usage_err(const char *help, const char *msg, const char *arg)
{
    fsv_fail(msg, arg);
    fputs(help, stderr);
    return FSV_EXIT_USAGE;
}

static int user_add(fsv_store *s, const struct admin_args *a)
{
    if (!a->role)
        return usage_err(user_help, "user add: --role is required%s", "");
    const char *name = a->pos[1];
    int rc = fsv_store_begin(s);
    if (rc == FSV_OK)
        rc = fsv_store_user_add(s, name, a->role, a->team);
    if (rc != FSV_OK) {
        fsv_fail("%s", fsv_store_errmsg(s));
        fsv_store_rollback(s);
        return fsv_exit_for(rc);
    }
    int code = fsv_issue_token(s, name, a->role, a->json, NULL, NULL);
    if (code != FSV_EXIT_OK) {
        fsv_store_rollback(s);
        return code;
    }
    if (fsv_store_commit(s) != FSV_OK) {
        fsv_fail("%s (the token above is NOT valid)", fsv_store_errmsg(s));
        return FSV_EXIT_FAIL;
    }
    return FSV_EXIT_OK;
}

/* `user set`: the move is one store transaction; the running server
** applies it to connected devices when it sees the store change (it checks
** once a second, as for `user disable`: ws_sync.c, sync_moves.c). */
static int user_set(fsv_store *s, const struct admin_args *a)
{
    const char *name = a->pos[1];
    if (!a->team && !a->role)
        return usage_err(user_help, "user set: --team or --role is"
                         " required%s", "");
    int64_t id = 0;
    int rc = fsv_store_user_set(s, name, a->team, a->role, &id);
    if (rc != FSV_OK) {
        fsv_fail("%s", fsv_store_errmsg(s));
        return fsv_exit_for(rc);
    }
    fsv_user u;
    rc = fsv_store_user_get(s, name, &u);
    if (rc != FSV_OK) {
        fsv_fail("%s", fsv_store_errmsg(s));
        return fsv_exit_for(rc);
    }
    if (a->json) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:b, s:I}", "user", u.name,
                              "role", u.role, "team", u.team, "moved", id > 0,
                              "move", (json_int_t)id);
        int code = print_json(o);
        json_decref(o);
        return code;
    }
    if (id > 0)
        printf("user %s is now %s of team %s\n", u.name, u.role,
               u.team[0] ? u.team : "(none)");
    else
        printf("user %s unchanged (%s of team %s)\n", u.name, u.role,
               u.team[0] ? u.team : "(none)");
    return FSV_EXIT_OK;
}

enum { USER_COLS = 5 };

/* The cells of one user's row (tokens as text into num). */
static void user_cells(const json_t *u, const char *cell[USER_COLS],
                       char num[24])
{
    const char *v;
    snprintf(num, 24, "%lld",
             (long long)json_integer_value(json_object_get(u, "tokens")));
    cell[0] = (v = json_string_value(json_object_get(u, "user"))) ? v : "";
    cell[1] = (v = json_string_value(json_object_get(u, "role"))) ? v : "";
    cell[2] = (v = json_string_value(json_object_get(u, "team"))) ? v : "";
    cell[3] = json_is_true(json_object_get(u, "disabled")) ? "disabled"
                                                           : "active";
    cell[4] = num;
}

static void put_row(const char *const cell[USER_COLS],
                    const size_t w[USER_COLS])
{
    for (int c = 0; c < USER_COLS; c++) {
        int last = c + 1 == USER_COLS;
        fdt_put_cell(stdout, cell[c], w[c], !last);
        fputs(last ? "\n" : "  ", stdout);
    }
}

/* The users as a table whose columns line up by display width: a CJK
** name or team takes two columns a character (text/width.h, the same
** code as the CLI's tables). */
static void print_user_table(const json_t *arr)
{
    static const char *const head[USER_COLS] = {"USER", "ROLE", "TEAM",
                                                "STATUS", "TOKENS"};
    const char *cell[USER_COLS];
    size_t w[USER_COLS], i;
    char num[24];
    const json_t *u;
    for (int c = 0; c < USER_COLS; c++)
        w[c] = fdt_width(head[c]);
    json_array_foreach(arr, i, u) {
        user_cells(u, cell, num);
        for (int c = 0; c < USER_COLS; c++)
            if (fdt_width(cell[c]) > w[c])
                w[c] = fdt_width(cell[c]);
    }
    put_row(head, w);
    json_array_foreach(arr, i, u) {
        user_cells(u, cell, num);
        put_row(cell, w);
    }
}

static int user_list(fsv_store *s, const struct admin_args *a)
{
    json_t *arr = NULL;
    int rc = fsv_store_user_list(s, &arr);
    if (rc != FSV_OK) {
        fsv_fail("%s", fsv_store_errmsg(s));
        return fsv_exit_for(rc);
    }
    int code = FSV_EXIT_OK;
    if (a->json) {
        code = print_json(arr);
    } else {
        print_user_table(arr);
    }
    json_decref(arr);
    return code;
}

int fsv_cmd_user(int argc, char **argv)
{
    struct admin_args a;
    int p = parse(argc, argv, user_help, &a);
    if (p == -1)
        return FSV_EXIT_OK;
    if (p == -2)
        return FSV_EXIT_USAGE;
    if (a.n_pos < 1)
        return usage_err(user_help, "user: add, list, set or disable?%s", "");
    const char *sub = a.pos[0];
    int need = strcmp(sub, "list") == 0 ? 1 : 2;
    if (strcmp(sub, "add") && strcmp(sub, "list") && strcmp(sub, "disable") &&
        strcmp(sub, "set"))
        return usage_err(user_help, "user: unknown subcommand \"%s\"", sub);
    if (a.n_pos != need)
        return usage_err(user_help, "user %s: wrong number of arguments", sub);
    fsv_store *s;
    int code = fsv_open_store(a.data, a.store, &s);
    if (code != FSV_EXIT_OK)
        return code;
    if (strcmp(sub, "add") == 0) {
        code = user_add(s, &a);
    } else if (strcmp(sub, "set") == 0) {
        code = user_set(s, &a);
    } else if (strcmp(sub, "list") == 0) {
        code = user_list(s, &a);
    } else {
        int rc = fsv_store_user_disable(s, a.pos[1]);
        if (rc != FSV_OK) {
            fsv_fail("%s", fsv_store_errmsg(s));
            code = fsv_exit_for(rc);
        } else {
            char text[128];
            snprintf(text, sizeof text, "user %s disabled", a.pos[1]);
            code = print_done(a.json, "disabled", a.pos[1], text);
        }
    }
    fsv_store_close(s);
    return code;
}

/* `token metrics`: the scraper's token (auth/metrics_token.h).  The data
** folder must exist (made by init), so a typo'd --data fails loudly. */
static int metrics_token(const struct admin_args *a)
{
    char tok[FSV_METRICS_TOKEN_LEN + 1], err[512];
    fsv_store *s;
    /* The folder must be a server's, its store the one --store names
    ** (the token file itself is in DIR whatever the store). */
    int code = fsv_open_store(a->data, a->store, &s);
    if (code != FSV_EXIT_OK)
        return code;
    fsv_store_close(s);
    if (fsv_metrics_token_new(a->data, tok, err, sizeof err) != FSV_OK) {
        fsv_fail("%s", err);
        return FSV_EXIT_FAIL;
    }
    if (a->json) {
        json_t *j = json_pack("{s:s,s:s}", "token", tok, "file",
                              FSV_METRICS_TOKEN_FILE);
        code = print_json(j);
        json_decref(j);
    } else {
        printf("metrics token (shown once; the server keeps only its hash in"
               " %s/%s):\n%s\n"
               "Scrape with:  Authorization: Bearer %s  (GET /metrics)\n",
               a->data, FSV_METRICS_TOKEN_FILE, tok, tok);
    }
    OPENSSL_cleanse(tok, sizeof tok);
    return code;
}

int fsv_cmd_token(int argc, char **argv)
{
    struct admin_args a;
    int p = parse(argc, argv, token_help, &a);
    if (p == -1)
        return FSV_EXIT_OK;
    if (p == -2)
        return FSV_EXIT_USAGE;
    if (a.n_pos == 1 && strcmp(a.pos[0], "metrics") == 0)
        return metrics_token(&a);
    if (a.n_pos != 2 || (strcmp(a.pos[0], "list") && strcmp(a.pos[0], "revoke") &&
                         strcmp(a.pos[0], "add")))
        return usage_err(token_help, "token: expected list USER, revoke"
                         " TOKEN_ID or add USER%s", "");
    fsv_store *s;
    int code = fsv_open_store(a.data, a.store, &s);
    if (code != FSV_EXIT_OK)
        return code;
    int rc;
    if (strcmp(a.pos[0], "list") == 0) {
        json_t *arr = NULL;
        rc = fsv_store_token_list(s, a.pos[1], &arr);
        if (rc != FSV_OK) {
            fsv_fail("%s", fsv_store_errmsg(s));
            code = fsv_exit_for(rc);
        } else if (a.json) {
            code = print_json(arr);
        } else {
            size_t i;
            json_t *t;
            printf("%-20s %-22s %-22s %s\n", "TOKEN_ID", "CREATED", "LAST USED",
                   "STATUS");
            json_array_foreach(arr, i, t) {
                json_t *rv = json_object_get(t, "revoked");
                json_t *lu = json_object_get(t, "last_used");
                printf("%-20s %-22s %-22s %s%s\n",
                       json_string_value(json_object_get(t, "token_id")),
                       json_string_value(json_object_get(t, "created")),
                       json_is_string(lu) ? json_string_value(lu) : "never",
                       json_is_string(rv) ? "revoked " : "active",
                       json_is_string(rv) ? json_string_value(rv) : "");
            }
        }
        json_decref(arr);
    } else if (strcmp(a.pos[0], "add") == 0) {
        fsv_user u;
        rc = fsv_store_user_get(s, a.pos[1], &u);
        if (rc != FSV_OK) {
            fsv_fail("%s", fsv_store_errmsg(s));
            code = fsv_exit_for(rc);
        } else {
            code = fsv_issue_token(s, u.name, u.role, a.json, NULL, NULL);
        }
    } else {
        rc = fsv_store_token_revoke(s, a.pos[1]);
        if (rc != FSV_OK) {
            fsv_fail("%s", fsv_store_errmsg(s));
            code = fsv_exit_for(rc);
        } else {
            char text[128];
            snprintf(text, sizeof text, "token %s revoked", a.pos[1]);
            code = print_done(a.json, "revoked", a.pos[1], text);
        }
    }
    fsv_store_close(s);
    return code;
}
