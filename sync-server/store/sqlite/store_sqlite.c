/*
** store_sqlite.c — the central store on one SQLite file (store.h): the
** schema, the prepared statements, open/close, transactions and the
** backend table.  The rest of the backend, by section:
** store_sqlite_merge.c (txrec, registers, merge, record index),
** store_sqlite_history.c (scans), store_sqlite_users.c (users, tokens,
** devices), store_sqlite_vis.c (shares by prefix, visibility events, full
** state), store_sqlite_trust.c (rules 11-15, backup), store_sqlite_sums.c
** (checksums), store_sqlite_api.c (dashboard reads).
**
** Schema (version 5; store_sqlite_trust.c migrates version 1 to 2 in
** place, store_sqlite_regs.c 2 to 3, store_sqlite_hist.c 3 to 4; 4 to 5
** is the tables of store_sqlite_teams.c, _blob.c, _pool.c and _dup.c,
** each made if missing at open):
**   meta(key PRIMARY KEY, value)                 schema version, store_id,
**                                                epoch (rule 13)
**   hist(seq INTEGER PRIMARY KEY, n, tbl, rid, dev, user, server_ms, dctr,
**        dctr_hi, relay, body), hist_name(id, name) -- the authoritative
**       log, one row per change group (store_sqlite_hist.c has the layout;
**       the `history` virtual table shows it one row per change as the
**       schema-2 table was: seq, tbl, rid, field, value, vv, hlc, device,
**       user, server_ms, dctr = vv[device], relay = the device that re-sent
**       it for another after a server restore)
**   rec(tbl, rid, customer, creator, vals, regs, conflicts, sum)
**       -- one row per record: the record index (visibility) and all its
**       registers packed (store_sqlite_regs.c, regpack.h)
**   regdict(id, name)  -- device and user names of the packed registers
**   users(name PRIMARY KEY, role, team, disabled, created_ms)
**   tokens(token_id PRIMARY KEY, user, hash UNIQUE, created_ms, revoked_ms,
**          last_used_ms)
**   devices(device PRIMARY KEY, user, token_id, last_sync_ms, last_head,
**           counter)  -- user: the binding of rule 11; counter: the highest
**           own counter accepted from the device (rule 15)
**   teams, user_move, dev_move -- nested teams and moves
**       (store_sqlite_teams.c)
**   vis_event(seq PRIMARY KEY, customer, user, kind) -- owner/share writes:
**       who may have lost sight (the previous owner, the user shared with)
**       and which of the two (kind 1 owner, 2 share, 0 written before kinds)
** WAL journal and synchronous=FULL: a commit that returned is on disk, so an
** ack sent after it survives kill -9 and power loss.
*/
#include "store.h"
#include "store_sqlite_int.h"
#include "store_sqlite_hist.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#define SCHEMA_VERSION "5"

static const char *const schema_sql =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);"
    /* reg_by_value(tbl, field, value) indexed every value, follow-up text
    ** included, and no query reads it (records are found through rec):
    ** its upkeep was a large share of a merge.  Dropped in place. */
    "DROP INDEX IF EXISTS reg_by_value;"
    /* The history, one row per change group (store_sqlite_hist.c): seq
    ** is the group's last seq, n its changes.  A store of schema 1 or 2
    ** still has its row-per-change table `history` until
    ** fsv__sq_hist_open converts it; the index names are then taken by
    ** that table's, and the conversion makes them on hist. */
    "CREATE TABLE IF NOT EXISTS hist(seq INTEGER PRIMARY KEY,"
    "  n INTEGER NOT NULL, tbl TEXT NOT NULL, rid TEXT NOT NULL,"
    "  dev INTEGER NOT NULL, user TEXT NOT NULL, server_ms INTEGER NOT NULL,"
    "  dctr INTEGER, dctr_hi INTEGER, relay TEXT, body BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS hist_name(id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE);"
    "CREATE INDEX IF NOT EXISTS history_rec ON hist(tbl, rid);"
    "CREATE INDEX IF NOT EXISTS history_by_dctr ON hist(dev, dctr);"
    /* history_by_rec was an index no query read; the office view's
    ** history_rec (store_sqlite_office.c) is the one a customer's sheet
    ** reads.  The old name stays dropped. */
    "DROP INDEX IF EXISTS history_by_rec;"
    /* A schema-2 store has rec without the register columns: the
    ** migration (store_sqlite_regs.c) adds them. */
    "CREATE TABLE IF NOT EXISTS rec(tbl TEXT NOT NULL, rid TEXT NOT NULL,"
    "  customer TEXT, creator TEXT NOT NULL, vals TEXT, regs BLOB,"
    "  conflicts INTEGER NOT NULL DEFAULT 0, sum INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (tbl, rid)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS regdict(id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE);"
    "CREATE INDEX IF NOT EXISTS rec_by_customer ON rec(customer);"
    "CREATE TABLE IF NOT EXISTS users(name TEXT PRIMARY KEY,"
    "  role TEXT NOT NULL, team TEXT NOT NULL DEFAULT '',"
    "  disabled INTEGER NOT NULL DEFAULT 0, created_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS tokens(token_id TEXT PRIMARY KEY,"
    "  user TEXT NOT NULL REFERENCES users(name), hash BLOB NOT NULL UNIQUE,"
    "  created_ms INTEGER NOT NULL, revoked_ms INTEGER, last_used_ms INTEGER);"
    "CREATE INDEX IF NOT EXISTS tokens_by_user ON tokens(user);"
    "CREATE TABLE IF NOT EXISTS devices(device TEXT PRIMARY KEY,"
    "  user TEXT NOT NULL, token_id TEXT, last_sync_ms INTEGER,"
    "  last_head INTEGER, counter INTEGER NOT NULL DEFAULT 0);"
    /* visibility events: a change that wrote a customer's owner or a share
    ** (security: revoke / full state on the next pull) */
    "CREATE TABLE IF NOT EXISTS vis_event(seq INTEGER PRIMARY KEY,"
    "  customer TEXT NOT NULL, user TEXT NOT NULL,"
    "  kind INTEGER NOT NULL DEFAULT 0);"
    "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema', " SCHEMA_VERSION ");";


static const char *const stmt_sql[ST__COUNT] = {
    [ST_BEGIN_W] = "BEGIN IMMEDIATE",
    [ST_BEGIN_R] = "BEGIN",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_HEAD] = "SELECT coalesce(max(seq), 0) FROM hist",
    /* A record's row: its index entry and its registers, packed
    ** (store_sqlite_merge.c reads it into the memo, writes it once). */
    [ST_REG_GET] = "SELECT customer, creator, vals, regs, sum FROM rec"
                   " WHERE tbl=?1 AND rid=?2",
    [ST_REG_INS] = "INSERT INTO rec(tbl, rid, customer, creator, vals, regs,"
                   " conflicts, sum) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [ST_REG_UPD] = "UPDATE rec SET customer=?3, creator=?4, vals=?5, regs=?6,"
                   " conflicts=?7, sum=?8 WHERE tbl=?1 AND rid=?2",
    /* Group rows are written by store_sqlite_hist.c with its own
    ** statements; the slot stays for the layout's sake. */
    [ST_HIST_ADD] = "SELECT 1",
    [ST_REC_GET] = "SELECT customer, creator FROM rec WHERE tbl=?1 AND rid=?2",
    [ST_REC_ADD] = "INSERT OR IGNORE INTO rec(tbl, rid, customer, creator)"
                   " VALUES (?1, ?2, ?3, ?4)",
    [ST_REC_SET_CUSTOMER] = "UPDATE rec SET customer=?3 WHERE tbl=?1 AND rid=?2",
    /* Outside a transaction (no memo): the winners' JSON object. */
    [ST_FIELD_LIST] = "SELECT j.key FROM rec r, json_each(r.vals) j"
                      " WHERE r.tbl=?1 AND r.rid=?2",
    [ST_FIELD_HAS] = "SELECT j.value FROM rec r, json_each(r.vals) j"
                     " WHERE r.tbl=?1 AND r.rid=?2 AND j.key=?3",
    /* The pull's scan: group rows whose last seq is past the cursor
    ** (store_sqlite_history.c); the body last, so deciding on a group
    ** reads none of it. */
    /* The record index rides along (8 customer, 9 creator, 10 known):
    ** the filter needs it for every group, and a join seek costs less
    ** than a statement of its own per group. */
    [ST_SCAN] = "SELECT h.seq, h.n, h.tbl, h.rid, h.dev, h.user, h.server_ms,"
                " h.body, r.customer, r.creator, r.tbl IS NOT NULL"
                " FROM hist h LEFT JOIN rec r ON r.tbl=h.tbl AND r.rid=h.rid"
                " WHERE h.seq > ?1 ORDER BY h.seq LIMIT ?2",
    [ST_SCAN_KEYS] = "SELECT 1",
    [ST_HIST_ROW] = "SELECT 1",
    /* Every share record of a customer: rids "CUSTOMER:..." are exactly
    ** those from "CUSTOMER:" up to (not including) "CUSTOMER;" (':' + 1). */
    [ST_PREFIX_VALUES] = "SELECT r.rid, j.key, j.value FROM rec r,"
                         " json_each(r.vals) j WHERE r.tbl=?1"
                         " AND r.rid >= ?2 AND r.rid < ?3 ORDER BY r.rid",
    [ST_HIST_COUNT] = "SELECT coalesce(sum(n), 0) FROM hist",
    [ST_USER_ADD] = "INSERT INTO users(name, role, team, created_ms)"
                    " VALUES (?1, ?2, ?3, ?4)",
    [ST_USER_GET] = "SELECT name, role, team, disabled FROM users WHERE name=?1",
    [ST_USER_LIST] = "SELECT u.name, u.role, u.team, u.disabled, u.created_ms,"
                     " (SELECT count(*) FROM tokens t WHERE t.user=u.name"
                     "  AND t.revoked_ms IS NULL) FROM users u ORDER BY u.name",
    [ST_USER_DISABLE] = "UPDATE users SET disabled=1 WHERE name=?1",
    [ST_TOKEN_ADD] = "INSERT INTO tokens(token_id, user, hash, created_ms)"
                     " VALUES (?1, ?2, ?3, ?4)",
    [ST_TOKEN_AUTH] = "SELECT t.hash, t.token_id, u.name, u.role, u.team"
                      " FROM tokens t JOIN users u ON u.name=t.user"
                      " WHERE t.hash=?1 AND t.revoked_ms IS NULL"
                      " AND u.disabled=0",
    [ST_TOKEN_TOUCH] = "UPDATE tokens SET last_used_ms=?2 WHERE token_id=?1",
    [ST_TOKEN_LIST] = "SELECT token_id, user, created_ms, revoked_ms,"
                      " last_used_ms FROM tokens WHERE user=?1"
                      " ORDER BY created_ms, token_id",
    [ST_TOKEN_REVOKE] = "UPDATE tokens SET revoked_ms=?2 WHERE token_id=?1"
                        " AND revoked_ms IS NULL",
    [ST_DEVICE_SEEN] = "INSERT INTO devices(device, user, token_id, last_sync_ms,"
                       " last_head) VALUES (?1, ?2, ?3, ?4, ?5)"
                       /* The user is the device's binding (rule 11): the
                       ** hello checked it, a sync never rewrites it. */
                       " ON CONFLICT(device) DO UPDATE SET"
                       " token_id=excluded.token_id,"
                       " last_sync_ms=excluded.last_sync_ms,"
                       " last_head=excluded.last_head",
    [ST_TOKEN_LIVE] = "SELECT t.revoked_ms IS NULL AND u.disabled=0"
                      " FROM tokens t JOIN users u ON u.name=t.user"
                      " WHERE t.token_id=?1",
    [ST_VISEV_ADD] = "INSERT OR IGNORE INTO vis_event(seq, customer, user, kind)"
                     " VALUES (?1, ?2, ?3, ?4)",
    [ST_VISEV_LIST] = "SELECT customer, user, kind FROM vis_event"
                      " WHERE seq > ?1 AND seq <= ?2"
                      " GROUP BY customer, user, kind ORDER BY min(seq)",
    [ST_CUST_REGS] = "SELECT tbl, rid, vals, regs FROM rec"
                     " WHERE tbl='customer' AND rid=?1"
                     " UNION ALL SELECT tbl, rid, vals, regs FROM rec"
                     " WHERE customer=?1 AND tbl<>'customer'",
};



sqlite3 *fsv__store_sqlite_db(fsv_store *s)
{
    return SQ(s)->db;
}

void **fsv__store_sums_slot(fsv_store *s)
{
    return &SQ(s)->sums;
}

int fsv__store_sums_msg(fsv_store *s, int rc, const char *text)
{
    return fsv__store_setmsg(s, rc, "%s", text);
}

sqlite3_stmt *fsv__store_prepared(fsv_store *s, int slot, const char *sql)
{
    if (slot < 0 || slot >= FSV__XST_MAX)
        return NULL;
    sqlite3_stmt *st = SQ(s)->xst[slot];
    if (!st) {
        if (sqlite3_prepare_v3(SQ(s)->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
                               &SQ(s)->xst[slot], NULL) != SQLITE_OK) {
            fsv__store_setmsg(s, FSV_ERROR, "store: prepare: %s",
                              sqlite3_errmsg(SQ(s)->db));
            return NULL;
        }
        return SQ(s)->xst[slot];
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

/* ---- Helpers ----------------------------------------------------------------- */

/* SQLite's busy (another writer held the lock past the busy timeout) is
** the interface's retryable FSV_BUSY; anything else is FSV_ERROR. */
int fsv__store_dberr(fsv_store *s, const char *what)
{
    int code = sqlite3_errcode(SQ(s)->db) & 0xff;
    return seterr(s, code == SQLITE_BUSY || code == SQLITE_LOCKED
                         ? FSV_BUSY : FSV_ERROR,
                  "store: %s: %s", what, sqlite3_errmsg(SQ(s)->db));
}

int fsv__store_msg(fsv_store *s, int rc, const char *text)
{
    return seterr(s, rc, "%s", text);
}

sqlite3_stmt *fsv__sq_stmt(fsv_store *s, int slot)
{
    sqlite3_stmt *st = SQ(s)->st[slot];
    if (!st) {
        if (sqlite3_prepare_v3(SQ(s)->db, stmt_sql[slot], -1,
                               SQLITE_PREPARE_PERSISTENT, &SQ(s)->st[slot],
                               NULL) != SQLITE_OK) {
            dberr(s, "prepare");
            return NULL;
        }
        return SQ(s)->st[slot];
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

int fsv__sq_step_done(fsv_store *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return dberr(s, what);
    return FSV_OK;
}

/* ---- Open / close / transactions --------------------------------------------- */

int fsv_sqlite_open(const char *path, int create, fsv_store **out,
                   char *err, size_t errlen)
{
    *out = NULL;
    fsv_store *s = calloc(1, sizeof(fsv_sqlite));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return FSV_NOMEM;
    }
    if (create) {
        /* Create the file ourselves so it is 0600 whatever the umask. */
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) {
            snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
            free(s);
            return FSV_ERROR;
        }
        fchmod(fd, 0600);
        close(fd);
    } else if (access(path, R_OK | W_OK) != 0) {
        snprintf(err, errlen, "cannot open store %s: %s (run `fieldsync-server"
                 " init --data DIR` first)", path, strerror(errno));
        free(s);
        return FSV_NOTFOUND;
    }
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &SQ(s)->db, flags, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open store %s: %s", path,
                 SQ(s)->db ? sqlite3_errmsg(SQ(s)->db) : "out of memory");
        sqlite3_close(SQ(s)->db);
        free(s);
        return FSV_ERROR;
    }
    sqlite3_busy_timeout(SQ(s)->db, 5000);
    char *msg = NULL;
    /* A 64 MiB page cache keeps the hot registers and the history tail in
    ** memory; the server is the only writer of this file.  No mmap_size:
    ** measured, it saved nothing here (the working set is in the cache)
    ** and would turn an I/O error into SIGBUS.  synchronous=FULL stays: an
    ** acked change is on disk. */
    /* The `history` view of the group rows (store_sqlite_hist.h), before
    ** anything reads it. */
    if (fsv_sqlite_history_module(SQ(s)->db) != SQLITE_OK) {
        snprintf(err, errlen, "cannot set up store %s: %s", path,
                 sqlite3_errmsg(SQ(s)->db));
        sqlite3_close(SQ(s)->db);
        free(s);
        return FSV_ERROR;
    }
    if (sqlite3_exec(SQ(s)->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                            " PRAGMA foreign_keys=ON; PRAGMA cache_size=-65536;"
                            " PRAGMA temp_store=MEMORY;", NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(SQ(s)->db, schema_sql, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "cannot set up store %s: %s", path,
                 msg ? msg : sqlite3_errmsg(SQ(s)->db));
        sqlite3_free(msg);
        sqlite3_close(SQ(s)->db);
        free(s);
        return FSV_ERROR;
    }
    /* Schema 1 -> 2 in place, store id and epoch (store_sqlite_trust.c);
    ** vis_event.kind for a store made before it (store_sqlite_vis.c);
    ** registers packed per record, 2 -> 3 (store_sqlite_regs.c); history
    ** as change groups, 3 -> 4 (store_sqlite_hist.c). */
    if (fsv__store_trust_open(s) != FSV_OK || fsv__sq_vis_open(s) != FSV_OK ||
        fsv__sq_regs_open(s) != FSV_OK || fsv__sq_hist_open(s) != FSV_OK ||
        fsv__sq_blob_open(s) != FSV_OK) {
        snprintf(err, errlen, "cannot set up store %s: %s", path, s->errmsg);
        fsv_sqlite_close(s);
        return FSV_ERROR;
    }
    /* The checksum table and its triggers (store_sqlite_sums.c), the
    ** duplicate keys (store_sqlite_dup.c: before the office view, whose
    ** fill derives them), then the office view's tables
    ** (store_sqlite_office.c). */
    if (fsv__store_sums_open(s) != FSV_OK ||
        fsv__sq_office_functions(s) != FSV_OK ||
        fsv__sq_dup_open(s) != FSV_OK || fsv__sq_office_open(s) != FSV_OK ||
        fsv__sq_teams_open(s) != FSV_OK || fsv__sq_pool_open(s) != FSV_OK) {
        snprintf(err, errlen, "cannot set up store %s: %s", path, s->errmsg);
        fsv_sqlite_close(s);
        return FSV_ERROR;
    }
    /* Schema 4 -> 5: the tables of nested teams and moves, photos, the
    ** customer pool and duplicate keys were made (and filled from what the
    ** store holds) by the open functions above, each IF NOT EXISTS; the
    ** number says so, and a server older than them refuses the file
    ** (store_sqlite_trust.c) instead of writing without keeping them. */
    if (sqlite3_exec(SQ(s)->db, "UPDATE meta SET value='" SCHEMA_VERSION "'"
                     " WHERE key='schema' AND value='4';", NULL, NULL,
                     NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot set up store %s: %s", path,
                 sqlite3_errmsg(SQ(s)->db));
        fsv_sqlite_close(s);
        return FSV_ERROR;
    }
    *out = s;
    return FSV_OK;
}

void fsv_sqlite_close(fsv_store *s)
{
    if (!s)
        return;
    fsv__sq_txrec_free(s);
    fsv__sq_office_free(s);
    fsv__sq_dup_free(s);
    fsv__sq_dict_free(s);
    fsv__sq_hist_free(s);
    for (int i = 0; i < ST__COUNT; i++)
        sqlite3_finalize(SQ(s)->st[i]);
    for (int i = 0; i < FSV__XST_MAX; i++)
        sqlite3_finalize(SQ(s)->xst[i]);
    sqlite3_close(SQ(s)->db);
    free(s);
}

static int tx(fsv_store *s, int slot, const char *what)
{
    sqlite3_stmt *st = stmt(s, slot);
    if (!st)
        return FSV_ERROR;
    return step_done(s, st, what);
}

int fsv_sqlite_begin(fsv_store *s)
{
    fsv__sq_txrec_clear(s);
    fsv__sq_hist_clear(s, 0);
    fsv__sq_office_clear(s);
    int rc = tx(s, ST_BEGIN_W, "begin");
    SQ(s)->in_tx = rc == FSV_OK;
    SQ(s)->write_tx = rc == FSV_OK;
    return rc;
}

int fsv_sqlite_begin_read(fsv_store *s)
{
    fsv__sq_txrec_clear(s);
    int rc = tx(s, ST_BEGIN_R, "begin");
    SQ(s)->in_tx = rc == FSV_OK;
    SQ(s)->write_tx = 0;
    return rc;
}

int fsv_sqlite_commit(fsv_store *s)
{
    /* The pending history group first: it is written before anything
    ** reads history (store_sqlite_hist.c). */
    int rc = fsv__sq_hist_flush(s);
    if (rc == FSV_OK)
        rc = fsv__sq_regs_flush(s);        /* store_sqlite_merge.c */
    /* The projections derive merged records from the memo, then it goes. */
    if (rc == FSV_OK)
        rc = fsv__sq_office_flush(s);      /* store_sqlite_office.c */
    fsv__sq_txrec_clear(s);
    if (rc == FSV_OK)
        rc = fsv__store_sums_flush(s);     /* store_sqlite_sums.c */
    if (rc == FSV_OK)
        rc = tx(s, ST_COMMIT, "commit");
    if (rc != FSV_OK) {
        /* A failed COMMIT (e.g. disk full) leaves the transaction open:
        ** roll it back so nothing is half-applied. */
        char keep[sizeof s->errmsg];
        memcpy(keep, s->errmsg, sizeof keep);
        fsv__sq_office_clear(s);
        tx(s, ST_ROLLBACK, "rollback");
        fsv__sq_dict_clear(s);
        memcpy(s->errmsg, keep, sizeof keep);
    }
    SQ(s)->in_tx = 0;
    return rc;
}

int fsv_sqlite_rollback(fsv_store *s)
{
    fsv__sq_txrec_clear(s);
    fsv__sq_office_clear(s);
    fsv__sq_hist_clear(s, 1);
    SQ(s)->in_tx = 0;
    if (sqlite3_get_autocommit(SQ(s)->db))
        return FSV_OK;
    fsv__sq_dict_clear(s);  /* it may hold ids this transaction made */
    return tx(s, ST_ROLLBACK, "rollback");
}

int fsv__sq_auto_begin(fsv_store *s, int *mine)
{
    *mine = !SQ(s)->in_tx;
    return *mine ? fsv_sqlite_begin(s) : FSV_OK;
}

int fsv__sq_auto_end(fsv_store *s, int mine, int rc)
{
    if (!mine)
        return rc;
    if (rc == FSV_OK)
        return fsv_sqlite_commit(s);
    fsv_sqlite_rollback(s);
    return rc;
}

/* The one integer a statement without parameters answers. */
static int one_int64(fsv_store *s, int slot, const char *what, int64_t *out)
{
    sqlite3_stmt *st = stmt(s, slot);
    if (!st)
        return FSV_ERROR;
    if (sqlite3_step(st) != SQLITE_ROW)
        return dberr(s, what);
    *out = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return FSV_OK;
}

int fsv_sqlite_head(fsv_store *s, int64_t *head)
{
    int rc = fsv__sq_hist_flush(s);     /* the pending group counts */
    return rc != FSV_OK ? rc : one_int64(s, ST_HEAD, "head", head);
}

int fsv_sqlite_history_count(fsv_store *s, int64_t *n)
{
    int rc = fsv__sq_hist_flush(s);
    return rc != FSV_OK ? rc : one_int64(s, ST_HIST_COUNT, "history count", n);
}

/* ---- The backend table (store_backend.h) ---------------------------------- */

const fsv_store_backend fsv_store_sqlite = {
    .scheme = "sqlite",
    .open = fsv_sqlite_open,
    .close = fsv_sqlite_close,
    .backup = fsv_sqlite_backup,
    .begin = fsv_sqlite_begin,
    .begin_read = fsv_sqlite_begin_read,
    .commit = fsv_sqlite_commit,
    .rollback = fsv_sqlite_rollback,
    .head = fsv_sqlite_head,
    .history_count = fsv_sqlite_history_count,
    .merge_change = fsv_sqlite_merge_change,
    .merge_relayed = fsv_sqlite_merge_relayed,
    .field_count = fsv_sqlite_field_count,
    .field_value = fsv_sqlite_field_value,
    .changes_after = fsv_sqlite_changes_after,
    .record_info = fsv_sqlite_record_info,
    .prefix_values = fsv_sqlite_prefix_values,
    .user_add = fsv_sqlite_user_add,
    .user_get = fsv_sqlite_user_get,
    .user_rows = fsv_sqlite_user_rows,
    .user_disable = fsv_sqlite_user_disable,
    .token_add = fsv_sqlite_token_add,
    .token_auth = fsv_sqlite_token_auth,
    .token_rows = fsv_sqlite_token_rows,
    .token_revoke = fsv_sqlite_token_revoke,
    .device_seen = fsv_sqlite_device_seen,
    .token_live = fsv_sqlite_token_live,
    .data_version = fsv_sqlite_data_version,
    .vis_event_add = fsv_sqlite_vis_event_add,
    .blob_refs_set = fsv_sqlite_blob_refs_set,
    .blob_followups = fsv_sqlite_blob_followups,
    .blob_stored = fsv_sqlite_blob_stored,
    .blob_usage = fsv_sqlite_blob_usage,
    .vis_events = fsv_sqlite_vis_events,
    .pool_rules_get = fsv_sqlite_pool_rules_get,
    .pool_rules_set = fsv_sqlite_pool_rules_set,
    .pool_get = fsv_sqlite_pool_get,
    .pool_put = fsv_sqlite_pool_put,
    .pool_log = fsv_sqlite_pool_log,
    .pool_log_count = fsv_sqlite_pool_log_count,
    .pool_owned = fsv_sqlite_pool_owned,
    .pool_figures = fsv_sqlite_pool_figures,
    .customer_state = fsv_sqlite_customer_state,
    .identity = fsv_sqlite_identity,
    .device_get = fsv_sqlite_device_get,
    .device_accept = fsv_sqlite_device_accept,
    .change_by_counter = fsv_sqlite_change_by_counter,
    .device_rows = fsv_sqlite_device_rows,
    .api_token_check = fsv_sqlite_api_token_check,
    .api_register = fsv_sqlite_api_register,
    .sum_keys = fsv_sqlite_sum_keys,
    .record_state = fsv_sqlite_record_state,
    .office_page = fsv_sqlite_office_page,
    .office_values = fsv_sqlite_office_values,
    .customer_history = fsv_sqlite_customer_history,
    .office_customers = fsv_sqlite_office_customers,
    .office_children = fsv_sqlite_office_children,
    .office_reached = fsv_sqlite_office_reached,
    .office_conflicts = fsv_sqlite_office_conflicts,
    .office_agg_customers = fsv_sqlite_office_agg_customers,
    .office_child_counts = fsv_sqlite_office_child_counts,
    .office_customers_sel = fsv_sqlite_office_customers_sel,
    .teams_load = fsv_sqlite_teams_load,
    .team_put = fsv_sqlite_team_put,
    .user_set = fsv_sqlite_user_set,
    .moves = fsv_sqlite_moves,
    .move_done = fsv_sqlite_move_done,
    .move_done_set = fsv_sqlite_move_done_set,
    .owned_customers = fsv_sqlite_owned_customers,
    .dup_matches = fsv_sqlite_dup_matches,
    .dup_notice = fsv_sqlite_dup_notice,
    .dup_list = fsv_sqlite_dup_list,
};
