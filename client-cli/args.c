/*
** args.c — option parsing for one command's arguments.
**
** getopt_long would permute argv and has no notion of our global options
** appearing after the command word, so this small parser is used instead:
** it knows each command's options, always accepts --db/--json/--help, and
** reports the first problem as one line naming the option.
*/
#include <stdlib.h>
#include <string.h>
#include "cli.h"

static int find_opt(const cli_opt *opts, const char *name, size_t n)
{
    for (int i = 0; opts[i].name; i++)
        if (strlen(opts[i].name) == n && strncmp(opts[i].name, name, n) == 0)
            return i;
    return -1;
}

int cli_args_parse(cli_ctx *ctx, int argc, char **argv, const cli_opt *opts,
                   int min_pos, int max_pos, cli_args *a)
{
    memset(a, 0, sizeof *a);
    a->opts = opts;
    a->pos = calloc((size_t)argc + 1, sizeof *a->pos);
    a->multi = calloc(2 * (size_t)argc + 2, sizeof *a->multi);
    if (!a->pos || !a->multi)
        return cli_fail(ctx, CLI_FAIL, _("out of memory"));
    int only_pos = 0;
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (only_pos || s[0] != '-' || s[1] == '\0') {
            a->pos[a->npos++] = s;
            continue;
        }
        if (strcmp(s, "--") == 0) { only_pos = 1; continue; }
        if (s[1] != '-') {
            if (strcmp(s, "-h") == 0) continue;   /* handled by main */
            return cli_fail(ctx, CLI_USAGE, _("unknown option %s (see --help)"), s);
        }
        const char *name = s + 2;
        const char *eq = strchr(name, '=');
        size_t n = eq ? (size_t)(eq - name) : strlen(name);
        const char *value = eq ? eq + 1 : NULL;
        if (n == 4 && strncmp(name, "json", 4) == 0 && !eq) { ctx->json = 1; continue; }
        if (n == 4 && strncmp(name, "help", 4) == 0 && !eq) continue;
        if (n == 2 && strncmp(name, "db", 2) == 0) {
            if (!value) {
                if (i + 1 >= argc)
                    return cli_fail(ctx, CLI_USAGE, _("--db needs a PATH"));
                value = argv[++i];
            }
            ctx->db_path = value;
            continue;
        }
        int k = find_opt(opts, name, n);
        if (k < 0)
            return cli_fail(ctx, CLI_USAGE, _("unknown option --%.*s (see --help)"),
                            (int)n, name);
        if (opts[k].kind == CLI_FLAG) {
            if (eq)
                return cli_fail(ctx, CLI_USAGE, _("--%s takes no value"),
                                opts[k].name);
        } else if (!value) {
            if (i + 1 >= argc)
                return cli_fail(ctx, CLI_USAGE, _("--%s needs a value"),
                                opts[k].name);
            value = argv[++i];
        }
        a->count[k]++;
        a->val[k] = value;
        if (opts[k].kind == CLI_MULTI) {
            a->multi[2 * a->nmulti] = opts[k].name;
            a->multi[2 * a->nmulti + 1] = value;
            a->nmulti++;
        }
    }
    if (a->npos < min_pos)
        return cli_fail(ctx, CLI_USAGE, "%s",
                        min_pos - a->npos > 1 ? _("missing arguments (see --help)")
                                              : _("missing argument (see --help)"));
    if (a->npos > max_pos)
        return cli_fail(ctx, CLI_USAGE, _("unexpected argument \"%s\" (see --help)"),
                        a->pos[max_pos]);
    return CLI_OK;
}

void cli_args_free(cli_args *a)
{
    if (!a) return;
    free(a->pos);
    free(a->multi);
    a->pos = NULL;
    a->multi = NULL;
}

static int index_of(const cli_args *a, const char *name)
{
    return a->opts ? find_opt(a->opts, name, strlen(name)) : -1;
}

const char *cli_arg(const cli_args *a, const char *name)
{
    int k = index_of(a, name);
    return k < 0 ? NULL : a->val[k];
}

int cli_has(const cli_args *a, const char *name)
{
    int k = index_of(a, name);
    return k >= 0 && a->count[k] > 0;
}

const char *cli_arg_multi(const cli_args *a, const char *name, size_t i)
{
    for (size_t j = 0; j < a->nmulti; j++)
        if (strcmp(a->multi[2 * j], name) == 0 && i-- == 0)
            return a->multi[2 * j + 1];
    return NULL;
}
