/*
** store_sqlite_trust.c — what the SQLite store keeps for DESIGN.md rules
** 11-15 (docs/internals/trust.md): the schema 1 -> 2 migration, the store's
** id and epoch, device bindings and accepted counters, the lookup of a
** history row by (device, own counter), and the online backup.
**
** Kept apart from store_sqlite.c so the sync path's core statements and
** these evolve separately; the connection and the statement slots come
** through store_sqlite_int.h.
*/
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "store.h"
#include "store_sqlite_int.h"

/* Statement slots of this file (fsv__store_prepared). */
enum {
    XT_META_GET = 0, XT_DEV_GET, XT_DEV_ACCEPT, XT__END
};

static const char *const xt_sql[XT__END] = {
    [XT_META_GET] = "SELECT value FROM meta WHERE key=?1",
    [XT_DEV_GET] = "SELECT user, counter FROM devices WHERE device=?1",
    [XT_DEV_ACCEPT] = "INSERT INTO devices(device, user, counter)"
                      " VALUES (?1, ?2, ?3) ON CONFLICT(device) DO UPDATE"
                      " SET counter=max(counter, excluded.counter)",
};

static sqlite3_stmt *xt(fsv_store *s, int slot)
{
    return fsv__store_prepared(s, slot, xt_sql[slot]);
}

static int64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* meta value of key into buf ("" if absent). */
static int meta_get(fsv_store *s, const char *key, char *buf, size_t cap)
{
    buf[0] = '\0';
    sqlite3_stmt *st = xt(s, XT_META_GET);
    if (!st)
        return FSV_ERROR;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *v = sqlite3_column_text(st, 0);
        snprintf(buf, cap, "%s", v ? (const char *)v : "");
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return fsv__store_dberr(s, "meta");
    return FSV_OK;
}

static int exec(fsv_store *s, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(fsv__store_sqlite_db(s), sql, NULL, NULL, &msg) ==
        SQLITE_OK)
        return FSV_OK;
    char what[512];
    snprintf(what, sizeof what, "store: %s", msg ? msg : "exec failed");
    sqlite3_free(msg);
    return fsv__store_msg(s, FSV_ERROR, what);
}

/* Schema 1 -> 2: history.dctr (backfilled from each row's vv: the entry of
** its own device) and history.relay, devices.counter (the highest dctr of
** each device; a device known only from history is bound to the user of
** its last row), all inside the caller's write transaction. */
static int migrate_1_to_2(fsv_store *s)
{
    sqlite3 *db = fsv__store_sqlite_db(s);
    int rc = exec(s, "ALTER TABLE history ADD COLUMN dctr INTEGER;"
                     "ALTER TABLE history ADD COLUMN relay TEXT;"
                     "ALTER TABLE devices ADD COLUMN counter INTEGER NOT NULL"
                     " DEFAULT 0;");
    if (rc != FSV_OK)
        return rc;
    sqlite3_stmt *rd = NULL, *wr = NULL;
    if (sqlite3_prepare_v2(db, "SELECT seq, device, vv FROM history", -1, &rd,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "UPDATE history SET dctr=?2 WHERE seq=?1", -1,
                           &wr, NULL) != SQLITE_OK) {
        sqlite3_finalize(rd);
        return fsv__store_dberr(s, "migrate history");
    }
    int step;
    while (rc == FSV_OK && (step = sqlite3_step(rd)) == SQLITE_ROW) {
        const char *dev = (const char *)sqlite3_column_text(rd, 1);
        fdsp_vv vv = {0, NULL};
        if (fds_vv_parse((const char *)sqlite3_column_text(rd, 2), &vv) !=
            FDS_OK) {
            fdsp_vv_clear(&vv);
            continue;   /* a corrupt vv stays without dctr (never a dup) */
        }
        for (size_t i = 0; dev && i < vv.n; i++) {
            if (strcmp(vv.e[i].device, dev) != 0)
                continue;
            sqlite3_bind_int64(wr, 1, sqlite3_column_int64(rd, 0));
            sqlite3_bind_int64(wr, 2, (sqlite3_int64)vv.e[i].counter);
            if (sqlite3_step(wr) != SQLITE_DONE)
                rc = fsv__store_dberr(s, "migrate history");
            sqlite3_reset(wr);
            break;
        }
        fdsp_vv_clear(&vv);
    }
    if (rc == FSV_OK && step != SQLITE_DONE)
        rc = fsv__store_dberr(s, "migrate history");
    sqlite3_finalize(rd);
    sqlite3_finalize(wr);
    if (rc != FSV_OK)
        return rc;
    return exec(s, "INSERT INTO devices(device, user, counter)"
                   " SELECT device, user, max(dctr) FROM history"
                   " WHERE dctr IS NOT NULL GROUP BY device"
                   " ON CONFLICT(device) DO UPDATE"
                   " SET counter=max(counter, excluded.counter);"
                   "UPDATE meta SET value='2' WHERE key='schema';");
}

int fsv__store_trust_open(fsv_store *s)
{
    char schema[32], id[64], epoch[32];
    int rc = meta_get(s, "schema", schema, sizeof schema);
    if (rc == FSV_OK)
        rc = meta_get(s, "store_id", id, sizeof id);
    if (rc == FSV_OK)
        rc = meta_get(s, "epoch", epoch, sizeof epoch);
    if (rc != FSV_OK)
        return rc;
    if (atoi(schema) > 5) {
        char what[128];
        snprintf(what, sizeof what, "store schema %s is newer than this"
                 " server's (5): upgrade fieldsync-server", schema);
        return fsv__store_msg(s, FSV_ERROR, what);
    }
    if (atoi(schema) >= 2 && id[0] && epoch[0])
        return FSV_OK;  /* the common case: nothing to write */

    /* Another process (serve and an admin command) may be opening the
    ** same store: decide again under the write lock. */
    if ((rc = exec(s, "BEGIN IMMEDIATE")) != FSV_OK)
        return rc;
    rc = meta_get(s, "schema", schema, sizeof schema);
    int v1 = rc == FSV_OK && strcmp(schema, "1") == 0;
    if (v1)
        rc = migrate_1_to_2(s);
    /* On the row-per-change table only: store_sqlite_hist.c converts it
    ** next and makes the index on the group rows (a new store has it). */
    if (rc == FSV_OK && v1)
        rc = exec(s, "CREATE INDEX IF NOT EXISTS history_by_dctr"
                     " ON history(device, dctr);");
    if (rc == FSV_OK) {
        char uuid[FSV_STORE_ID_LEN + 1], ms[32];
        if (fsv__store_new_id(uuid) != 0) {
            rc = fsv__store_msg(s, FSV_ERROR, "store: the random source"
                                " failed (store id)");
        } else {
            snprintf(ms, sizeof ms, "%lld", (long long)wall_ms());
            sqlite3_stmt *st = NULL;
            sqlite3 *db = fsv__store_sqlite_db(s);
            if (sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO meta(key, value)"
                                   " VALUES ('store_id', ?1), ('epoch', ?2)",
                                   -1, &st, NULL) != SQLITE_OK) {
                rc = fsv__store_dberr(s, "store id");
            } else {
                sqlite3_bind_text(st, 1, uuid, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 2, ms, -1, SQLITE_STATIC);
                if (sqlite3_step(st) != SQLITE_DONE)
                    rc = fsv__store_dberr(s, "store id");
            }
            sqlite3_finalize(st);
        }
    }
    if (rc == FSV_OK)
        rc = exec(s, "COMMIT");
    if (rc != FSV_OK)
        sqlite3_exec(fsv__store_sqlite_db(s), "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

int fsv_sqlite_identity(fsv_store *s, char id[FSV_STORE_ID_LEN + 1],
                       int64_t *epoch)
{
    char sid[FSV_STORE_ID_LEN + 1], ep[32];
    int rc = meta_get(s, "store_id", sid, sizeof sid);
    if (rc == FSV_OK)
        rc = meta_get(s, "epoch", ep, sizeof ep);
    *epoch = 0;
    return rc == FSV_OK ? fsv__store_identity_of(s, sid, ep, id, epoch) : rc;
}

int fsv_sqlite_device_get(fsv_store *s, const char *device, char *user,
                         int64_t *counter)
{
    user[0] = '\0';
    *counter = 0;
    sqlite3_stmt *st = xt(s, XT_DEV_GET);
    if (!st)
        return FSV_ERROR;
    sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *u = sqlite3_column_text(st, 0);
        snprintf(user, FSV_NAME_MAX + 1, "%s", u ? (const char *)u : "");
        *counter = sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return FSV_NOTFOUND;
    if (rc != SQLITE_ROW)
        return fsv__store_dberr(s, "device");
    return FSV_OK;
}

int fsv_sqlite_device_accept(fsv_store *s, const char *device, const char *user,
                            int64_t counter)
{
    sqlite3_stmt *st = xt(s, XT_DEV_ACCEPT);
    if (!st)
        return FSV_ERROR;
    sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, user, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, counter);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? FSV_OK
                             : fsv__store_dberr(s, "device counter");
}

/* The group rows cover each device's counters by range
** (store_sqlite_hist.c). */
int fsv_sqlite_change_by_counter(fsv_store *s, const char *device, int64_t k,
                                fdsp_change *out)
{
    return fsv__sq_hist_by_counter(s, device, k, out);
}

/* ---- Backup ----------------------------------------------------------------------- */

int fsv_sqlite_backup(fsv_store *s, const char *dst, int64_t epoch,
                     int64_t *rows, char *err, size_t errlen)
{
    *rows = 0;
    int fd = -1;
    int created = fsv__store_backup_create(dst, &fd, err, errlen);
    if (created != FSV_OK)
        return created;
    close(fd);

    sqlite3 *out = NULL;
    int rc = FSV_ERROR;
    if (sqlite3_open_v2(dst, &out, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s: %s", dst,
                 out ? sqlite3_errmsg(out) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(out, 5000);
    /* One step of -1 pages copies everything under one read transaction of
    ** the source: a consistent snapshot however serve writes meanwhile
    ** (WAL readers never block the writer).  Busy/locked: retry. */
    sqlite3_backup *b = sqlite3_backup_init(out, "main",
                                            fsv__store_sqlite_db(s), "main");
    if (!b) {
        snprintf(err, errlen, "backup: %s", sqlite3_errmsg(out));
        goto fail;
    }
    int step, tries = 0;
    while ((step = sqlite3_backup_step(b, -1)) == SQLITE_BUSY ||
           step == SQLITE_LOCKED) {
        if (++tries > 500)
            break;
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    sqlite3_backup_finish(b);
    if (step != SQLITE_DONE) {
        snprintf(err, errlen, "backup: %s", sqlite3_errstr(step));
        goto fail;
    }
    /* The copy is a new epoch: a store restored from it is told apart
    ** from the live one by every device (rule 13). */
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(out, "INSERT OR REPLACE INTO meta(key, value)"
                           " VALUES ('epoch', ?1)", -1, &st, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "backup epoch: %s", sqlite3_errmsg(out));
        goto fail;
    }
    char ms[32];
    snprintf(ms, sizeof ms, "%lld", (long long)epoch);
    sqlite3_bind_text(st, 1, ms, -1, SQLITE_STATIC);
    step = sqlite3_step(st);
    sqlite3_finalize(st);
    if (step != SQLITE_DONE) {
        snprintf(err, errlen, "backup epoch: %s", sqlite3_errmsg(out));
        goto fail;
    }
    if (sqlite3_prepare_v2(out, "SELECT coalesce(sum(n), 0) FROM hist", -1, &st,
                           NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        *rows = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    /* Closing the only connection checkpoints the copy's WAL into the file
    ** and removes it: FILE alone is the backup. */
    if (sqlite3_close(out) != SQLITE_OK) {
        snprintf(err, errlen, "closing %s: %s", dst, sqlite3_errmsg(out));
        out = NULL;
        goto fail;
    }
    chmod(dst, 0600);
    return FSV_OK;
fail:
    sqlite3_close(out);
    unlink(dst);
    return rc;
}
