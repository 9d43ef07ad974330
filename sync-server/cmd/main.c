/*
** main.c — fieldsync-server: command dispatch.
*/
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "cmds.h"

static const char usage[] =
    "usage: fieldsync-server COMMAND [options]\n"
    "\n"
    "  init  --data DIR [--san NAME]...      central store, private CA + server\n"
    "                                        certificate, first admin token\n"
    "  user add NAME --role rep|manager|admin [--team T] --data DIR\n"
    "  user list --data DIR\n"
    "  user disable NAME --data DIR\n"
    "  user set NAME [--team T] [--role R] --data DIR   move a user (revoke /\n"
    "                                        full state to the devices concerned)\n"
    "  team add NAME [--parent TEAM] --data DIR   teams nest: a manager sees\n"
    "                                        their team and every team below\n"
    "  team list --data DIR\n"
    "  token list USER --data DIR\n"
    "  token revoke TOKEN_ID --data DIR\n"
    "  token metrics --data DIR             the /metrics scraper's token\n"
    "  serve --data DIR [--listen HOST:PORT] [--cert F --key F]\n"
    "        [--log-level error|warn|info|debug]\n"
    "  backup --data DIR --out FILE          online copy of the store (new epoch)\n"
    "  pool set [--return-days N] [--warn-days N] [--cooldown-days N]\n"
    "           [--max-claims-per-day N] [--max-owned N] --data DIR\n"
    "  pool show --data DIR                  the customer pool's rules\n"
    "\n"
    "Every command takes its --data DIR from $FIELDSYNC_DATA when the option\n"
    "is not given.  init, user, token, serve and backup take --store URL\n"
    "for a store that is not the SQLite file under DIR (postgresql://...).\n"
    "Admin commands accept --json.  Run\n"
    "`fieldsync-server COMMAND --help` for details.\n"
    "Exit codes: 0 ok, 1 failure, 2 usage, 3 not found.\n";

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return FSV_EXIT_USAGE;
    }
    /* A UTF-8 character type, so tables of Chinese names line up
    ** (wcwidth, text/width.h); the C locale is kept for everything else. */
    if (!setlocale(LC_CTYPE, "C.UTF-8"))
        setlocale(LC_CTYPE, "");
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
        strcmp(cmd, "help") == 0) {
        fputs(usage, stdout);
        return FSV_EXIT_OK;
    }
    if (strcmp(cmd, "init") == 0)
        return fsv_cmd_init(argc - 1, argv + 1);
    if (strcmp(cmd, "user") == 0)
        return fsv_cmd_user(argc - 1, argv + 1);
    if (strcmp(cmd, "team") == 0)
        return fsv_cmd_team(argc - 1, argv + 1);
    if (strcmp(cmd, "token") == 0)
        return fsv_cmd_token(argc - 1, argv + 1);
    if (strcmp(cmd, "backup") == 0)
        return fsv_cmd_backup(argc - 1, argv + 1);
    if (strcmp(cmd, "pool") == 0)
        return fsv_cmd_pool(argc - 1, argv + 1);
    if (strcmp(cmd, "serve") == 0)
        return fsv_cmd_serve(argc - 1, argv + 1);
    fsv_fail("unknown command \"%s\" (try --help)", cmd);
    return FSV_EXIT_USAGE;
}
