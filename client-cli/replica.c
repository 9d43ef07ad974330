/*
** replica.c — finding and opening the device replica, resolving id prefixes.
*/
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "cli.h"

int cli_db_path(const cli_ctx *ctx, char *buf, size_t len)
{
    const char *env;
    int n;
    if (ctx->db_path && *ctx->db_path)
        n = snprintf(buf, len, "%s", ctx->db_path);
    else if ((env = getenv("FIELDSYNC_DB")) && *env)
        n = snprintf(buf, len, "%s", env);
    else if ((env = getenv("XDG_DATA_HOME")) && *env)
        n = snprintf(buf, len, "%s/fieldsync/replica.db", env);
    else if ((env = getenv("HOME")) && *env)
        n = snprintf(buf, len, "%s/.local/share/fieldsync/replica.db", env);
    else
        return -1;
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* mkdir -p of the directory part of path; new directories are 0700 (the
** replica holds customer data and the device token). */
static int make_parents(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        int rc = mkdir(path, 0700);
        int err = errno;
        *p = '/';
        if (rc != 0 && err != EEXIST) return -1;
    }
    return 0;
}

int cli_open(cli_ctx *ctx)
{
    char path[4096], err[512] = "";
    if (ctx->r) return CLI_OK;
    if (cli_db_path(ctx, path, sizeof path) != 0)
        return cli_fail(ctx, CLI_USAGE,
                        _("no replica path: pass --db PATH or set FIELDSYNC_DB"));
    if (strcmp(path, ":memory:") != 0 && make_parents(path) != 0)
        return cli_fail(ctx, CLI_FAIL, _("cannot create the directory of %s: %s"),
                        path, strerror(errno));
    int rc = fds_replica_open(path, NULL, &ctx->r, err, sizeof err);
    if (rc != FDS_OK) {
        char why[1024];
        return cli_fail(ctx, rc == FDS_SCHEMA ? CLI_FAIL : cli_code_of(rc),
                        _("cannot open replica %s: %s"), path,
                        cli_core_text(err, rc, why, sizeof why));
    }
    if (strcmp(path, ":memory:") != 0)
        chmod(path, 0600);  /* core creates it 0600; also tighten an old file */
    return CLI_OK;
}

void cli_close(cli_ctx *ctx)
{
    fds_replica_close(ctx->r);
    ctx->r = NULL;
}

int cli_resolve(cli_ctx *ctx, const char *table, const char *prefix,
                char **full)
{
    *full = NULL;
    if (!prefix || !*prefix)
        return cli_fail(ctx, CLI_USAGE, _("empty %s id"), cli_table_word(table));
    int rc = fds_resolve_id(ctx->r, table, prefix, full);
    if (rc == FDS_NOTFOUND)
        /* TRANSLATORS: %1$s is a record kind ("customer"), %2$s the id
           prefix the rep typed. */
        return cli_fail(ctx, CLI_NOTFOUND, _("no %1$s with id \"%2$s\""),
                        cli_table_word(table), prefix);
    if (rc != FDS_OK)
        return cli_core_fail(ctx, rc);
    return CLI_OK;
}
