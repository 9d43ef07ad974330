/*
** cmd_backup.c — `fieldsync-server backup`: an online, consistent copy of
** the store (DESIGN.md, rule 13; docs/SERVER.md "Backup and restore").
*/
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <jansson.h>

#include "cmds.h"

static const char backup_help[] =
    "usage: fieldsync-server backup --data DIR --out FILE [--store URL]\n"
    "                               [--blobs-out DIR2] [--json]\n"
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
    "\n"
    "Photos are not in FILE: their bytes are files under DIR/blobs/ (named\n"
    "by SHA-256, so they never change once written).  --blobs-out DIR2\n"
    "copies every whole photo there (DIR2/ab/SHA256, only those not there\n"
    "yet, so a repeated backup is incremental); without it the command says\n"
    "where they are.  Restore: copy them back under DIR/blobs/.\n"
    "--json prints {\"out\", \"store\", \"epoch\", \"history\", \"blobs\",\n"
    "\"blob_files\", \"blob_bytes\", \"blobs_copied\"}.\n";

/* Copy one file (0600), into a temporary name renamed when complete. */
static int copy_file(const char *from, const char *to)
{
    char tmp[4400];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", to) >= (int)sizeof tmp)
        return -1;
    int in = open(from, O_RDONLY), out = -1, ok = 0;
    if (in >= 0)
        out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (out >= 0) {
        char buf[65536];
        ssize_t n;
        ok = 1;
        while ((n = read(in, buf, sizeof buf)) > 0)
            if (write(out, buf, (size_t)n) != n) {
                ok = 0;
                break;
            }
        if (n < 0 || fsync(out) != 0)
            ok = 0;
        close(out);
    }
    if (in >= 0)
        close(in);
    if (ok && rename(tmp, to) != 0)
        ok = 0;
    if (!ok)
        unlink(tmp);
    return ok ? 0 : -1;
}

/* Walk DIR/blobs/??/ (whole photos only, not partial/): count them and,
** with dst, copy those missing there.  0, or -1 with the message printed. */
static int backup_blobs(const char *data, const char *dst, int64_t *files,
                        int64_t *bytes, int64_t *copied)
{
    char root[4200], sub[4300], from[4400], to[4400];
    *files = *bytes = *copied = 0;
    if (snprintf(root, sizeof root, "%s/blobs", data) >= (int)sizeof root)
        return 0;
    DIR *d = opendir(root);
    if (!d)
        return 0;                       /* no photos yet */
    if (dst && mkdir(dst, 0700) != 0 && errno != EEXIST) {
        fsv_fail("cannot create %s: %s", dst, strerror(errno));
        closedir(d);
        return -1;
    }
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (strlen(e->d_name) != 2 || e->d_name[0] == '.')
            continue;
        if (snprintf(sub, sizeof sub, "%s/%s", root, e->d_name) >= (int)sizeof sub)
            continue;
        DIR *sd = opendir(sub);
        if (!sd)
            continue;
        if (dst) {
            if (snprintf(to, sizeof to, "%s/%s", dst, e->d_name) >= (int)sizeof to ||
                (mkdir(to, 0700) != 0 && errno != EEXIST)) {
                fsv_fail("cannot create %s: %s", to, strerror(errno));
                rc = -1;
            }
        }
        struct dirent *f;
        while (rc == 0 && (f = readdir(sd)) != NULL) {
            struct stat st;
            if (!fdsp_sha_ok(f->d_name))
                continue;
            if (snprintf(from, sizeof from, "%s/%s", sub, f->d_name) >= (int)sizeof from ||
                stat(from, &st) != 0 || !S_ISREG(st.st_mode))
                continue;
            (*files)++;
            *bytes += (int64_t)st.st_size;
            if (!dst)
                continue;
            if (snprintf(to, sizeof to, "%s/%s/%s", dst, e->d_name, f->d_name) >=
                (int)sizeof to)
                continue;
            if (stat(to, &st) == 0)
                continue;               /* content-addressed: already there */
            if (copy_file(from, to) != 0) {
                fsv_fail("cannot copy %s to %s: %s", from, to, strerror(errno));
                rc = -1;
            } else {
                (*copied)++;
            }
        }
        closedir(sd);
    }
    closedir(d);
    return rc;
}

int fsv_cmd_backup(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data", required_argument, NULL, 'd'},
        {"out", required_argument, NULL, 'o'},
        {"store", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {"blobs-out", required_argument, NULL, 'b'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *data = NULL, *out = NULL, *blobs_out = NULL, *store_url = NULL;
    int json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd': data = optarg; break;
        case 'o': out = optarg; break;
        case 's': store_url = optarg; break;
        case 'j': json = 1; break;
        case 'b': blobs_out = optarg; break;
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
    int64_t bfiles = 0, bbytes = 0, bcopied = 0;
    if (backup_blobs(data, blobs_out, &bfiles, &bbytes, &bcopied) != 0)
        return FSV_EXIT_FAIL;
    char broot[4200];
    if (snprintf(broot, sizeof broot, "%s/blobs", data) >= (int)sizeof broot)
        broot[0] = '\0';
    if (json) {
        json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:s, s:I, s:I, s:I}", "out",
                              out, "store", id, "epoch", (json_int_t)epoch,
                              "history", (json_int_t)rows, "blobs",
                              blobs_out ? blobs_out : broot, "blob_files",
                              (json_int_t)bfiles, "blob_bytes",
                              (json_int_t)bbytes, "blobs_copied",
                              (json_int_t)bcopied);
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
        if (blobs_out)
            printf("photos: %lld files (%lld bytes) in %s, %lld copied now\n",
                   (long long)bfiles, (long long)bbytes, blobs_out,
                   (long long)bcopied);
        else if (bfiles > 0)
            printf("photos are NOT in %s: %lld files (%lld bytes) under %s;"
                   " copy that folder too, or run backup with --blobs-out"
                   " DIR2\n", out, (long long)bfiles, (long long)bbytes, broot);
    }
    return FSV_EXIT_OK;
}
