/*
** cmd_backup.c — `fieldsync-server backup`: an online, consistent copy of
** the store (DESIGN.md, rule 13; docs/SERVER.md "Backup and restore").
*/
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <jansson.h>

#include "cmds.h"

static const char backup_help[] =
    "usage: fieldsync-server backup --data DIR --out FILE [--store URL]"
    " [--json]\n"
    "\n"
    "Copies the central store (DIR/" FSV_STORE_FILE ") into the new file FILE\n"
    "(mode 0600) with SQLite's online backup API: one consistent snapshot,\n"
    "taken while `serve` keeps running.  Refuses (exit 1) when FILE exists.\n"
    "The copy gets a new epoch (the backup time): after a restore, every\n"
    "device sees that the server went back in time and re-sends what the\n"
    "store lacks.\n"
    "\n"
    "Restore: stop the server, copy FILE over DIR/" FSV_STORE_FILE " (and\n"
    "remove DIR/" FSV_STORE_FILE "-wal and -shm if present), start it again.\n"
    "With --store postgresql://... FILE is a plain-SQL pg_dump of the store\n"
    "(one snapshot, the new epoch written at its end): restore it with\n"
    "`psql -d EMPTY_DB -f FILE` and point the servers' --store at EMPTY_DB.\n"
    "--json prints {\"out\", \"store\", \"epoch\", \"history\"}.\n";

int fsv_cmd_backup(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data", required_argument, NULL, 'd'},
        {"out", required_argument, NULL, 'o'},
        {"store", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *data = NULL, *out = NULL, *store_url = NULL;
    int json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd': data = optarg; break;
        case 'o': out = optarg; break;
        case 's': store_url = optarg; break;
        case 'j': json = 1; break;
        case 'h': fputs(backup_help, stdout); return FSV_EXIT_OK;
        default: fputs(backup_help, stderr); return FSV_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fsv_fail("unexpected argument \"%s\"", argv[optind]);
        return FSV_EXIT_USAGE;
    }
    if (!out) {
        fsv_fail("--out FILE is required");
        return FSV_EXIT_USAGE;
    }
    fsv_store *s = NULL;
    data = fsv_data_dir(data);  /* --data, else $FIELDSYNC_DATA */
    int code = fsv_open_store(data, store_url, &s);
    if (code != FSV_EXIT_OK)
        return code;
    char id[FSV_STORE_ID_LEN + 1] = "", err[1024];
    int64_t live_epoch = 0, rows = 0;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    int64_t epoch = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
    int rc = fsv_store_identity(s, id, &live_epoch);
    if (rc != FSV_OK) {
        fsv_fail("%s", fsv_store_errmsg(s));
        fsv_store_close(s);
        return FSV_EXIT_FAIL;
    }
    /* Never the live epoch, even with a clock that stands still. */
    if (epoch <= live_epoch)
        epoch = live_epoch + 1;
    char dst[4096 + 8];
    /* The copy is named in the store's own backend: a SQLite file, or
    ** for PostgreSQL a pg_dump file ("postgresql:FILE"). */
    const char *colon = store_url ? strchr(store_url, ':') : NULL;
    int slen = colon ? (int)(colon - store_url) : 6;
    if (snprintf(dst, sizeof dst, "%.*s:%s", slen,
                 colon ? store_url : "sqlite", out) >= (int)sizeof dst) {
        fsv_store_close(s);
        fsv_fail("--out path too long");
        return FSV_EXIT_USAGE;
    }
    rc = fsv_store_backup(s, dst, epoch, &rows, err, sizeof err);
    fsv_store_close(s);
    if (rc != FSV_OK) {
        fsv_fail("%s", err);
        return FSV_EXIT_FAIL;
    }
    if (json) {
        json_t *o = json_pack("{s:s, s:s, s:I, s:I}", "out", out, "store", id,
                              "epoch", (json_int_t)epoch, "history",
                              (json_int_t)rows);
        char *t = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
        if (t)
            puts(t);
        free(t);
        json_decref(o);
    } else {
        if (store_url)
            printf("backed up the store to %s (pg_dump; load it with psql into"
                   " an empty database): store %s, %lld history rows, new"
                   " epoch %lld\n", out, id, (long long)rows,
                   (long long)epoch);
        else
            printf("backed up %s/%s to %s: store %s, %lld history rows,"
                   " new epoch %lld\n", data, FSV_STORE_FILE, out, id,
                   (long long)rows, (long long)epoch);
    }
    return FSV_EXIT_OK;
}
