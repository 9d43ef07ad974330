/*
** store_sqlite.c — the central store on one SQLite file (store.h).
**
** Schema (version 2; store_sqlite_trust.c migrates version 1 in place):
**   meta(key PRIMARY KEY, value)                 schema version, store_id,
**                                                epoch (rule 13)
**   reg(tbl, rid, field, value, versions, conflict)  -- as the devices' reg:
**       versions = fds_register_to_json() dumped compact with sorted keys
**   history(seq INTEGER PRIMARY KEY, tbl, rid, field, value, vv, hlc,
**           device, user, server_ms, dctr, relay) -- the authoritative log;
**       dctr = vv[device], the row's own device counter; relay = the device
**       that re-sent it for another after a server restore (else NULL)
**   rec(tbl, rid, customer, creator)             -- record index (visibility)
**   users(name PRIMARY KEY, role, team, disabled, created_ms)
**   tokens(token_id PRIMARY KEY, user, hash UNIQUE, created_ms, revoked_ms,
**          last_used_ms)
**   devices(device PRIMARY KEY, user, token_id, last_sync_ms, last_head,
**           counter)  -- user: the binding of rule 11; counter: the highest
**           own counter accepted from the device (rule 15)
**   vis_event(seq PRIMARY KEY, customer, user) -- owner/share writes: who
**       may have lost sight (the previous owner, the user shared with)
** WAL journal and synchronous=FULL: a commit that returned is on disk, so an
** ack sent after it survives kill -9 and power loss.
*/
#include "store.h"
#include "store_sqlite_int.h"

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

#define SCHEMA_VERSION "2"

static const char *const schema_sql =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);"
    "CREATE TABLE IF NOT EXISTS reg(tbl TEXT NOT NULL, rid TEXT NOT NULL,"
    "  field TEXT NOT NULL, value TEXT, versions TEXT NOT NULL,"
    "  conflict INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (tbl, rid, field)) WITHOUT ROWID;"
    /* reg_by_value(tbl, field, value) indexed every value, follow-up text
    ** included, and no query reads it (records are found through rec):
    ** its upkeep was a large share of a merge.  Dropped in place. */
    "DROP INDEX IF EXISTS reg_by_value;"
    "CREATE TABLE IF NOT EXISTS history(seq INTEGER PRIMARY KEY,"
    "  tbl TEXT NOT NULL, rid TEXT NOT NULL, field TEXT NOT NULL, value TEXT,"
    "  vv TEXT NOT NULL, hlc INTEGER NOT NULL, device TEXT NOT NULL,"
    "  user TEXT NOT NULL, server_ms INTEGER NOT NULL, dctr INTEGER,"
    "  relay TEXT);"
    /* history_by_rec(tbl, rid, seq) was kept up on every append and no
    ** query reads it (history is read by seq; a record's state comes from
    ** reg): a text-keyed B-tree insert per change for nothing.  Dropped in
    ** place, as reg_by_value. */
    "DROP INDEX IF EXISTS history_by_rec;"
    "CREATE TABLE IF NOT EXISTS rec(tbl TEXT NOT NULL, rid TEXT NOT NULL,"
    "  customer TEXT, creator TEXT NOT NULL,"
    "  PRIMARY KEY (tbl, rid)) WITHOUT ROWID;"
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
    "  customer TEXT NOT NULL, user TEXT NOT NULL);"
    "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema', " SCHEMA_VERSION ");";

/* Prepared statements kept on the handle, prepared on first use. */
enum {
    ST_BEGIN_W, ST_BEGIN_R, ST_COMMIT, ST_ROLLBACK, ST_HEAD,
    ST_REG_GET, ST_REG_INS, ST_REG_UPD, ST_HIST_ADD, ST_REC_GET, ST_REC_ADD,
    ST_REC_SET_CUSTOMER, ST_FIELD_LIST, ST_FIELD_HAS, ST_SCAN, ST_SCAN_KEYS,
    ST_HIST_ROW,
    ST_PREFIX_VALUES, ST_HIST_COUNT,
    ST_USER_ADD, ST_USER_GET, ST_USER_LIST, ST_USER_DISABLE,
    ST_TOKEN_ADD, ST_TOKEN_AUTH, ST_TOKEN_TOUCH, ST_TOKEN_LIST,
    ST_TOKEN_REVOKE, ST_DEVICE_SEEN, ST_TOKEN_LIVE, ST_VISEV_ADD,
    ST_VISEV_LIST, ST_CUST_REGS, ST__COUNT
};

static const char *const stmt_sql[ST__COUNT] = {
    [ST_BEGIN_W] = "BEGIN IMMEDIATE",
    [ST_BEGIN_R] = "BEGIN",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_HEAD] = "SELECT coalesce(max(seq), 0) FROM history",
    [ST_REG_GET] = "SELECT versions FROM reg WHERE tbl=?1 AND rid=?2 AND field=?3",
    /* merge_change knows whether the register exists (it just read it, or
    ** the transaction's memo says the record has no such field), so it
    ** inserts or updates instead of an upsert's extra probe. */
    [ST_REG_INS] = "INSERT INTO reg(tbl, rid, field, value, versions, conflict)"
                   " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_REG_UPD] = "UPDATE reg SET value=?4, versions=?5, conflict=?6"
                   " WHERE tbl=?1 AND rid=?2 AND field=?3",
    [ST_HIST_ADD] = "INSERT INTO history(tbl, rid, field, value, vv, hlc, device,"
                    " user, server_ms, dctr, relay)"
                    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    [ST_REC_GET] = "SELECT customer, creator FROM rec WHERE tbl=?1 AND rid=?2",
    [ST_REC_ADD] = "INSERT OR IGNORE INTO rec(tbl, rid, customer, creator)"
                   " VALUES (?1, ?2, ?3, ?4)",
    [ST_REC_SET_CUSTOMER] = "UPDATE rec SET customer=?3 WHERE tbl=?1 AND rid=?2",
    [ST_FIELD_LIST] = "SELECT field FROM reg WHERE tbl=?1 AND rid=?2",
    [ST_FIELD_HAS] = "SELECT value FROM reg WHERE tbl=?1 AND rid=?2 AND field=?3",
    /* The record index is read per record run by the filter's caller
    ** (fsv_store_changes_after), not joined per row. */
    [ST_SCAN] = "SELECT seq, tbl, rid, field, value, vv, hlc, device, user,"
                " server_ms FROM history WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    /* A filtered scan mostly skips rows (other users' records): it reads
    ** only what deciding needs, and fetches a row it keeps by its seq. */
    [ST_SCAN_KEYS] = "SELECT seq, tbl, rid, field, device FROM history"
                     " WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    [ST_HIST_ROW] = "SELECT seq, tbl, rid, field, value, vv, hlc, device, user,"
                    " server_ms FROM history WHERE seq = ?1",
    /* Every share record of a customer: rids "CUSTOMER:..." are exactly
    ** those from "CUSTOMER:" up to (not including) "CUSTOMER;" (':' + 1). */
    [ST_PREFIX_VALUES] = "SELECT rid, field, value FROM reg WHERE tbl=?1"
                         " AND rid >= ?2 AND rid < ?3 ORDER BY rid",
    [ST_HIST_COUNT] = "SELECT count(*) FROM history",
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
    [ST_VISEV_ADD] = "INSERT OR IGNORE INTO vis_event(seq, customer, user)"
                     " VALUES (?1, ?2, ?3)",
    [ST_VISEV_LIST] = "SELECT customer, user FROM vis_event"
                      " WHERE seq > ?1 AND seq <= ?2"
                      " GROUP BY customer, user ORDER BY min(seq)",
    [ST_CUST_REGS] = "SELECT tbl, rid, field, versions FROM reg"
                     " WHERE tbl='customer' AND rid=?1"
                     " UNION ALL SELECT g.tbl, g.rid, g.field, g.versions"
                     " FROM rec r JOIN reg g ON g.tbl=r.tbl AND g.rid=r.rid"
                     " WHERE r.customer=?1 AND r.tbl<>'customer'",
};

/* txrec: what one transaction has learnt about a record (tbl, rid): its
** row in the record index and the names of its stored fields.  Inside a
** transaction the snapshot cannot change under us (a write transaction holds the write
** lock; a read one sees a fixed snapshot), and every write to reg and rec
** goes through fsv_store_merge_change, which keeps the memo up to date; so
** each record costs one index lookup and one field scan per batch instead
** of several per change.  Cleared at every begin, commit and rollback and
** after any failed merge.  A record whose strings do not fit is not
** memoised: every call then asks SQLite, as before. */
enum { REC_UNSEEN = 0, REC_ABSENT, REC_PRESENT };
typedef struct txrec {
    struct txrec *next;             /* hash chain */
    unsigned hash;
    int rec;                        /* REC_*: the rec row */
    int has_customer;               /* customer not NULL (REC_PRESENT) */
    int fields_loaded;              /* fields[] lists every stored field */
    size_t n_fields, cap_fields;
    char (*fields)[FDSP_MAX_NAME + 1];
    char tbl[FDSP_MAX_NAME + 1];
    char rid[FDSP_MAX_ID + 1];
    char customer[FDSP_MAX_ID + 1];
    char creator[FDSP_MAX_ID + 1];
} txrec;

#define TXREC_BUCKETS 1024           /* power of two */
#define TXREC_CHUNK   128            /* entries per allocation */
#define TXREC_MAX     8192           /* records memoised per transaction */

/* The SQLite handle: the generic one first, so an fsv_store * from
** store.c is an fsv_sqlite * here (as sqlite3_file in a VFS). */
typedef struct fsv_sqlite {
    fsv_store base;
    sqlite3 *db;
    void *sums;     /* store_sqlite_sums.c's per-transaction deltas */
    int in_tx;
    sqlite3_stmt *st[ST__COUNT];
    /* The memo's storage is kept from one transaction to the next (a
    ** batch would otherwise pay an allocation per record): TXREC_BUCKETS
    ** chains, and entries in chunks of TXREC_CHUNK, n_txrec of them in use. */
    txrec **buckets;
    txrec **chunks;
    size_t n_chunks, n_txrec;
    /* The relaying device of the change being merged (history.relay),
    ** NULL normally (fsv_store_merge_relayed). */
    const char *relay;
    /* Statements of the other store_sqlite*.c files (fsv__store_prepared). */
    sqlite3_stmt *xst[FSV__XST_MAX];
} fsv_sqlite;

#define SQ(s) ((fsv_sqlite *)(s))

static void txrec_clear(fsv_store *s);
static void txrec_free(fsv_store *s);

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

static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

#define seterr fsv__store_setmsg

/* SQLite's busy (another writer held the lock past the busy timeout) is
** the interface's retryable FSV_BUSY; anything else is FSV_ERROR. */
static int dberr(fsv_store *s, const char *what)
{
    int code = sqlite3_errcode(SQ(s)->db) & 0xff;
    return seterr(s, code == SQLITE_BUSY || code == SQLITE_LOCKED
                         ? FSV_BUSY : FSV_ERROR,
                  "store: %s: %s", what, sqlite3_errmsg(SQ(s)->db));
}

int fsv__store_dberr(fsv_store *s, const char *what)
{
    return dberr(s, what);
}

int fsv__store_msg(fsv_store *s, int rc, const char *text)
{
    return seterr(s, rc, "%s", text);
}

/* The statement for a slot, reset with bindings cleared. */
static sqlite3_stmt *stmt(fsv_store *s, int slot)
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

static int bind_text(sqlite3_stmt *st, int i, const char *v)
{
    return v ? sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT)
             : sqlite3_bind_null(st, i);
}

/* The store's own strings and the merge path's outlive each step: bind
** without a copy. */
static void bind_static(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/* Run a statement that returns no rows. */
static int step_done(fsv_store *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return dberr(s, what);
    return FSV_OK;
}

static char *col_dup(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? strdup((const char *)t) : NULL;
}

static void col_copy(sqlite3_stmt *st, int i, char *dst, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(dst, cap, "%s", t ? (const char *)t : "");
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
    /* Schema 1 -> 2 in place, store id and epoch (store_sqlite_trust.c). */
    if (fsv__store_trust_open(s) != FSV_OK) {
        snprintf(err, errlen, "cannot set up store %s: %s", path, s->errmsg);
        fsv_sqlite_close(s);
        return FSV_ERROR;
    }
    /* The checksum table and its triggers (store_sqlite_sums.c). */
    if (fsv__store_sums_open(s) != FSV_OK) {
        snprintf(err, errlen, "cannot set up store %s: %s", path, s->errmsg);
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
    txrec_free(s);
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
    txrec_clear(s);
    int rc = tx(s, ST_BEGIN_W, "begin");
    SQ(s)->in_tx = rc == FSV_OK;
    return rc;
}

int fsv_sqlite_begin_read(fsv_store *s)
{
    txrec_clear(s);
    int rc = tx(s, ST_BEGIN_R, "begin");
    SQ(s)->in_tx = rc == FSV_OK;
    return rc;
}

int fsv_sqlite_commit(fsv_store *s)
{
    txrec_clear(s);
    int rc = fsv__store_sums_flush(s);     /* store_sqlite_sums.c */
    if (rc == FSV_OK)
        rc = tx(s, ST_COMMIT, "commit");
    if (rc != FSV_OK) {
        /* A failed COMMIT (e.g. disk full) leaves the transaction open:
        ** roll it back so nothing is half-applied. */
        char keep[sizeof s->errmsg];
        memcpy(keep, s->errmsg, sizeof keep);
        tx(s, ST_ROLLBACK, "rollback");
        memcpy(s->errmsg, keep, sizeof keep);
    }
    SQ(s)->in_tx = 0;
    return rc;
}

int fsv_sqlite_rollback(fsv_store *s)
{
    txrec_clear(s);
    SQ(s)->in_tx = 0;
    if (sqlite3_get_autocommit(SQ(s)->db))
        return FSV_OK;
    return tx(s, ST_ROLLBACK, "rollback");
}

/* Admin calls run in their own transaction unless the caller opened one. */
static int auto_begin(fsv_store *s, int *mine)
{
    *mine = !SQ(s)->in_tx;
    return *mine ? fsv_sqlite_begin(s) : FSV_OK;
}

static int auto_end(fsv_store *s, int mine, int rc)
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
    return one_int64(s, ST_HEAD, "head", head);
}

int fsv_sqlite_history_count(fsv_store *s, int64_t *n)
{
    return one_int64(s, ST_HIST_COUNT, "history count", n);
}

/* ---- Registers and history ----------------------------------------------------- */

/* ---- The transaction's record cache (txrec; see the struct) ---------- */

static unsigned txrec_hash(const char *tbl, const char *rid)
{
    unsigned h = 2166136261u;   /* FNV-1a over "tbl\0rid" */
    for (const unsigned char *p = (const unsigned char *)tbl; *p; p++)
        h = (h ^ *p) * 16777619u;
    h *= 16777619u;
    for (const unsigned char *p = (const unsigned char *)rid; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h;
}

/* Forget every record (the storage stays for the next transaction). */
static void txrec_clear(fsv_store *s)
{
    if (SQ(s)->buckets && SQ(s)->n_txrec)
        memset(SQ(s)->buckets, 0, TXREC_BUCKETS * sizeof *SQ(s)->buckets);
    SQ(s)->n_txrec = 0;
}

/* Release the memo's storage (closing the store). */
static void txrec_free(fsv_store *s)
{
    for (size_t i = 0; i < SQ(s)->n_chunks; i++) {
        for (size_t j = 0; j < TXREC_CHUNK; j++)
            free(SQ(s)->chunks[i][j].fields);
        free(SQ(s)->chunks[i]);
    }
    free(SQ(s)->chunks);
    free(SQ(s)->buckets);
    SQ(s)->chunks = SQ(s)->buckets = NULL;
    SQ(s)->n_chunks = SQ(s)->n_txrec = 0;
}

/* The memo of (tbl, rid), created empty when missing; NULL outside a
** transaction, for strings that do not fit, at TXREC_MAX or out of memory
** (the caller then asks SQLite). */
static txrec *txrec_get(fsv_store *s, const char *tbl, const char *rid)
{
    if (!SQ(s)->in_tx || !tbl || !rid)
        return NULL;
    size_t lt = strlen(tbl), lr = strlen(rid);
    if (lt > FDSP_MAX_NAME || lr > FDSP_MAX_ID)
        return NULL;
    unsigned h = txrec_hash(tbl, rid);
    if (!SQ(s)->buckets && !(SQ(s)->buckets = calloc(TXREC_BUCKETS, sizeof *SQ(s)->buckets)))
        return NULL;
    txrec **head = &SQ(s)->buckets[h & (TXREC_BUCKETS - 1)];
    for (txrec *m = *head; m; m = m->next)
        if (m->hash == h && strcmp(m->rid, rid) == 0 && strcmp(m->tbl, tbl) == 0)
            return m;
    if (SQ(s)->n_txrec >= TXREC_MAX)
        return NULL;
    if (SQ(s)->n_txrec == SQ(s)->n_chunks * TXREC_CHUNK) {
        txrec **cv = realloc(SQ(s)->chunks, (SQ(s)->n_chunks + 1) * sizeof *cv);
        if (!cv)
            return NULL;
        SQ(s)->chunks = cv;
        if (!(cv[SQ(s)->n_chunks] = calloc(TXREC_CHUNK, sizeof **cv)))
            return NULL;
        SQ(s)->n_chunks++;
    }
    txrec *m = &SQ(s)->chunks[SQ(s)->n_txrec / TXREC_CHUNK][SQ(s)->n_txrec % TXREC_CHUNK];
    SQ(s)->n_txrec++;
    /* A reused entry keeps only its field array's storage. */
    m->next = *head;
    m->hash = h;
    m->rec = REC_UNSEEN;
    m->has_customer = m->fields_loaded = 0;
    m->n_fields = 0;
    memcpy(m->tbl, tbl, lt + 1);
    memcpy(m->rid, rid, lr + 1);
    *head = m;
    return m;
}

/* Copy a nullable string into a memo slot; 0 if it does not fit. */
static int txrec_str(char *dst, size_t cap, const char *v)
{
    size_t n = v ? strlen(v) : 0;
    if (n >= cap)
        return 0;
    memcpy(dst, v ? v : "", n + 1);
    return 1;
}

/* Fill m's record-index part from the rec table.  FSV_OK (m->rec set, or
** left REC_UNSEEN when its strings do not fit) or a store error. */
static int txrec_load_rec(fsv_store *s, txrec *m)
{
    sqlite3_stmt *st = stmt(s, ST_REC_GET);
    if (!st)
        return FSV_ERROR;
    bind_static(st, 1, m->tbl);
    bind_static(st, 2, m->rid);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        m->rec = REC_ABSENT;
    } else if (rc == SQLITE_ROW) {
        m->has_customer = sqlite3_column_type(st, 0) != SQLITE_NULL;
        if (txrec_str(m->customer, sizeof m->customer,
                     (const char *)sqlite3_column_text(st, 0)) &&
            txrec_str(m->creator, sizeof m->creator,
                     (const char *)sqlite3_column_text(st, 1)))
            m->rec = REC_PRESENT;
    } else {
        sqlite3_reset(st);
        return dberr(s, "record index");
    }
    sqlite3_reset(st);
    return FSV_OK;
}

static int txrec_has_field(const txrec *m, const char *field)
{
    for (size_t i = 0; i < m->n_fields; i++)
        if (strcmp(m->fields[i], field) == 0)
            return 1;
    return 0;
}

/* Note a field as stored; 0 if it cannot (then the memo stops vouching for
** the record's fields). */
static int txrec_add_field(txrec *m, const char *field)
{
    size_t n = strlen(field);
    if (n > FDSP_MAX_NAME)
        return 0;
    if (m->n_fields == m->cap_fields) {
        size_t cap = m->cap_fields ? m->cap_fields * 2 : 8;
        void *p = realloc(m->fields, cap * sizeof *m->fields);
        if (!p)
            return 0;
        m->fields = p;
        m->cap_fields = cap;
    }
    memcpy(m->fields[m->n_fields++], field, n + 1);
    return 1;
}

/* Fill m's list of stored fields (one scan of the record's registers). */
static int txrec_load_fields(fsv_store *s, txrec *m)
{
    sqlite3_stmt *st = stmt(s, ST_FIELD_LIST);
    if (!st)
        return FSV_ERROR;
    bind_static(st, 1, m->tbl);
    bind_static(st, 2, m->rid);
    m->n_fields = 0;
    int rc, ok = 1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *f = (const char *)sqlite3_column_text(st, 0);
        if (ok && !(f && txrec_add_field(m, f)))
            ok = 0;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return dberr(s, "field list");
    m->fields_loaded = ok;
    if (!ok)
        m->n_fields = 0;
    return FSV_OK;
}

/* ---- Registers and history ----------------------------------------------------- */

/* Load c's register into reg (empty if never written); *found 1 if it
** exists. */
static int reg_load(fsv_store *s, const fdsp_change *c, fds_register *reg,
                    int *found)
{
    reg->n = 0;
    reg->v = NULL;
    *found = 0;
    sqlite3_stmt *st = stmt(s, ST_REG_GET);
    if (!st)
        return FSV_ERROR;
    bind_static(st, 1, c->table);
    bind_static(st, 2, c->record);
    bind_static(st, 3, c->field);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(st);
        return FSV_OK;
    }
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return dberr(s, "load register");
    }
    *found = 1;
    rc = fds_register_parse((const char *)sqlite3_column_text(st, 0), reg);
    sqlite3_reset(st);
    if (rc == FDS_NOMEM)
        return seterr(s, FSV_NOMEM, "out of memory");
    if (rc != FDS_OK)
        return seterr(s, FSV_ERROR, "store: register %s/%s/%s is corrupt",
                      c->table, c->record, c->field);
    return FSV_OK;
}

static int reg_save(fsv_store *s, const fdsp_change *c, const fds_register *reg,
                    int exists)
{
    char *txt = fds_register_dump(reg);     /* canonical bytes, as replicas */
    if (!txt)
        return seterr(s, FSV_NOMEM, "out of memory");
    sqlite3_stmt *st = stmt(s, exists ? ST_REG_UPD : ST_REG_INS);
    if (!st) {
        free(txt);
        return FSV_ERROR;
    }
    bind_static(st, 1, c->table);
    bind_static(st, 2, c->record);
    bind_static(st, 3, c->field);
    bind_static(st, 4, reg->n ? reg->v[0].value : NULL);
    bind_static(st, 5, txt);
    sqlite3_bind_int(st, 6, fds_register_in_conflict(reg));
    int rc = step_done(s, st, "save register");
    free(txt);
    return rc;
}

static int hist_add(fsv_store *s, fdsp_change *c)
{
    char *vv = fds_vv_dump(&c->vv);     /* sorted keys, compact */
    if (!vv)
        return seterr(s, FSV_NOMEM, "out of memory");
    sqlite3_stmt *st = stmt(s, ST_HIST_ADD);
    if (!st) {
        free(vv);
        return FSV_ERROR;
    }
    bind_static(st, 1, c->table);
    bind_static(st, 2, c->record);
    bind_static(st, 3, c->field);
    bind_static(st, 4, c->value);
    bind_static(st, 5, vv);
    sqlite3_bind_int64(st, 6, (sqlite3_int64)c->hlc);
    bind_static(st, 7, c->device);
    bind_static(st, 8, c->user ? c->user : "");
    sqlite3_bind_int64(st, 9, c->server_ms);
    /* dctr: the row's own device counter, so a (device, counter) names one
    ** row (rule 15); NULL only for a change without its own entry, which
    ** a push never stores. */
    for (size_t i = 0; i < c->vv.n; i++)
        if (c->device && strcmp(c->vv.e[i].device, c->device) == 0)
            sqlite3_bind_int64(st, 10, (sqlite3_int64)c->vv.e[i].counter);
    bind_static(st, 11, SQ(s)->relay);
    int rc = step_done(s, st, "append history");
    free(vv);
    if (rc == FSV_OK)
        c->seq = sqlite3_last_insert_rowid(SQ(s)->db);
    return rc;
}

/* Keep the record index: creator on first sight, customer link from a
** child's "customer" register (its merged winner).  With the record's memo
** (m, its rec part known) only what changes is written: the row once, the
** customer link when it moves; without, INSERT OR IGNORE and UPDATE. */
static int rec_update(fsv_store *s, const fdsp_change *c, const fds_register *reg,
                      txrec *m)
{
    int is_customer = strcmp(c->table, "customer") == 0;
    int sets_customer = !is_customer && strcmp(c->field, "customer") == 0;
    const char *winner = reg->n ? reg->v[0].value : NULL;
    const char *creator = c->user ? c->user : "";
    sqlite3_stmt *st;
    int rc;

    if (m && m->rec == REC_ABSENT) {
        /* A new record: one insert carries its customer link too. */
        const char *cust = is_customer ? c->record : sets_customer ? winner : NULL;
        st = stmt(s, ST_REC_ADD);
        if (!st)
            return FSV_ERROR;
        bind_static(st, 1, c->table);
        bind_static(st, 2, c->record);
        bind_static(st, 3, cust);
        bind_static(st, 4, creator);
        rc = step_done(s, st, "record index");
        if (rc == FSV_OK) {
            m->has_customer = cust != NULL;
            if (txrec_str(m->customer, sizeof m->customer, cust) &&
                txrec_str(m->creator, sizeof m->creator, creator))
                m->rec = REC_PRESENT;
            else
                m->rec = REC_UNSEEN;    /* ask SQLite next time */
        }
        return rc;
    }
    if (m && m->rec == REC_PRESENT) {
        if (!sets_customer ||
            (winner ? m->has_customer && strcmp(m->customer, winner) == 0
                    : !m->has_customer))
            return FSV_OK;      /* the row already says it */
        st = stmt(s, ST_REC_SET_CUSTOMER);
        if (!st)
            return FSV_ERROR;
        bind_static(st, 1, c->table);
        bind_static(st, 2, c->record);
        bind_static(st, 3, winner);
        rc = step_done(s, st, "record index");
        if (rc == FSV_OK) {
            m->has_customer = winner != NULL;
            if (!txrec_str(m->customer, sizeof m->customer, winner))
                m->rec = REC_UNSEEN;
        }
        return rc;
    }
    st = stmt(s, ST_REC_ADD);
    if (!st)
        return FSV_ERROR;
    bind_static(st, 1, c->table);
    bind_static(st, 2, c->record);
    bind_static(st, 3, is_customer ? c->record : NULL);
    bind_static(st, 4, creator);
    rc = step_done(s, st, "record index");
    if (rc != FSV_OK || !sets_customer)
        return rc;
    st = stmt(s, ST_REC_SET_CUSTOMER);
    if (!st)
        return FSV_ERROR;
    bind_static(st, 1, c->table);
    bind_static(st, 2, c->record);
    bind_static(st, 3, winner);
    return step_done(s, st, "record index");
}

static int merge_change(fsv_store *s, fdsp_change *c, int *outcome)
{
    fds_register cur, next = {0, NULL};
    txrec *m = txrec_get(s, c->table, c->record);
    int rc = FSV_OK, found = 0;
    c->seq = 0;
    if (m && m->rec == REC_UNSEEN)
        rc = txrec_load_rec(s, m);
    if (rc != FSV_OK)
        return rc;
    if (m && m->fields_loaded && !txrec_has_field(m, c->field)) {
        cur.n = 0;      /* the memo vouches: never written */
        cur.v = NULL;
    } else {
        rc = reg_load(s, c, &cur, &found);
        if (rc != FSV_OK)
            return rc;
    }
    if (fds_merge(&cur, c, &next, outcome) != FDS_OK) {
        fds_register_clear(&cur);
        return seterr(s, FSV_NOMEM, "merge failed (out of memory)");
    }
    fds_register_clear(&cur);
    if (*outcome != FDS_MERGE_NOOP) {
        rc = reg_save(s, c, &next, found);
        if (rc == FSV_OK)
            rc = hist_add(s, c);
        if (rc == FSV_OK)
            rc = rec_update(s, c, &next, m && m->rec != REC_UNSEEN ? m : NULL);
        if (rc == FSV_OK && m && m->fields_loaded && !found &&
            !txrec_add_field(m, c->field)) {
            m->fields_loaded = 0;
            m->n_fields = 0;
        }
    }
    fds_register_clear(&next);
    return rc;
}

int fsv_sqlite_merge_change(fsv_store *s, fdsp_change *c, int *outcome)
{
    int rc = merge_change(s, c, outcome);
    if (rc != FSV_OK)
        txrec_clear(s);  /* a statement may have failed half-way */
    return rc;
}

int fsv_sqlite_merge_relayed(fsv_store *s, fdsp_change *c, const char *relay,
                            int *outcome)
{
    SQ(s)->relay = relay;
    int rc = fsv_sqlite_merge_change(s, c, outcome);
    SQ(s)->relay = NULL;
    return rc;
}

int fsv_sqlite_field_count(fsv_store *s, const char *tbl, const char *rid,
                          const char *field, int *count, int *has_field)
{
    txrec *m = txrec_get(s, tbl, rid);
    if (m && !m->fields_loaded) {
        int rc = txrec_load_fields(s, m);
        if (rc != FSV_OK)
            return rc;
    }
    if (m && m->fields_loaded) {
        *count = (int)m->n_fields;
        *has_field = txrec_has_field(m, field);
        return FSV_OK;
    }
    sqlite3_stmt *st = stmt(s, ST_FIELD_LIST);
    if (!st)
        return FSV_ERROR;
    bind_text(st, 1, tbl);
    bind_text(st, 2, rid);
    int rc, n = 0, has = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *f = (const char *)sqlite3_column_text(st, 0);
        n++;
        if (f && strcmp(f, field) == 0)
            has = 1;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return dberr(s, "field count");
    *count = n;
    *has_field = has;
    return FSV_OK;
}

int fsv_sqlite_field_value(fsv_store *s, const char *tbl, const char *rid,
                          const char *field, char **value)
{
    *value = NULL;
    sqlite3_stmt *st = stmt(s, ST_FIELD_HAS);
    if (!st)
        return FSV_ERROR;
    bind_text(st, 1, tbl);
    bind_text(st, 2, rid);
    bind_text(st, 3, field);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(st);
        return FSV_NOTFOUND;
    }
    if (rc != SQLITE_ROW)
        return dberr(s, "field value");
    if (sqlite3_column_type(st, 0) != SQLITE_NULL) {
        *value = col_dup(st, 0);
        if (!*value) {
            sqlite3_reset(st);
            return seterr(s, FSV_NOMEM, "out of memory");
        }
    }
    sqlite3_reset(st);
    return FSV_OK;
}

/* The filter's last answer, for the record it was asked about.  A record's
** fields are consecutive in history (pushed together), and the filter's
** answer depends only on the record (tbl, rid, and its customer and
** creator, which cannot change inside the scan's read snapshot), never on
** the field: one answer, and one record index lookup, serve the record's
** run of rows. */
typedef struct scan_verdict {
    int valid, vis;
    char tbl[FDSP_MAX_NAME + 1], rid[FDSP_MAX_ID + 1];
} scan_verdict;

static int verdict_hit(const scan_verdict *m, const char *tbl, const char *rid)
{
    return m->valid && tbl && rid && strcmp(m->rid, rid) == 0 &&
           strcmp(m->tbl, tbl) == 0;
}

static void verdict_keep(scan_verdict *m, const char *tbl, const char *rid,
                         int vis)
{
    m->valid = tbl && rid && strlen(tbl) < sizeof m->tbl &&
               strlen(rid) < sizeof m->rid;
    if (m->valid) {
        strcpy(m->tbl, tbl);
        strcpy(m->rid, rid);
        m->vis = vis;
    }
}

/* Ask the filter about a scan row: its record's customer and creator come
** from the record index (NULL when the record is not in it). */
static int filter_row(fsv_store *s, sqlite3_stmt *st, fsv_row_filter filter,
                      void *ud, int *vis)
{
    fsv_row row = {
        .tbl = (const char *)sqlite3_column_text(st, 1),
        .rid = (const char *)sqlite3_column_text(st, 2),
        .field = (const char *)sqlite3_column_text(st, 3),
    };
    char *customer = NULL, *creator = NULL;
    int rc = row.tbl && row.rid ? fsv_sqlite_record_info(s, row.tbl, row.rid,
                                                        &customer, &creator)
                                : FSV_NOTFOUND;
    if (rc != FSV_OK && rc != FSV_NOTFOUND)
        return rc;
    row.customer = customer;
    row.creator = creator;
    rc = filter(ud, &row, vis);
    free(customer);
    free(creator);
    return rc;
}

/* Fill c from a scan row (columns as in ST_SCAN). */
static int row_to_change(fsv_store *s, sqlite3_stmt *st, fdsp_change *c)
{
    memset(c, 0, sizeof *c);
    c->seq = sqlite3_column_int64(st, 0);
    c->table = col_dup(st, 1);
    c->record = col_dup(st, 2);
    c->field = col_dup(st, 3);
    c->value = col_dup(st, 4);
    c->hlc = (uint64_t)sqlite3_column_int64(st, 6);
    c->device = col_dup(st, 7);
    c->user = col_dup(st, 8);
    c->server_ms = sqlite3_column_int64(st, 9);
    if (!c->table || !c->record || !c->field || !c->device || !c->user ||
        (sqlite3_column_type(st, 4) != SQLITE_NULL && !c->value)) {
        fdsp_change_clear(c);
        return seterr(s, FSV_NOMEM, "out of memory");
    }
    int rc = fds_vv_parse((const char *)sqlite3_column_text(st, 5), &c->vv);
    if (rc == FDS_NOMEM) {
        fdsp_change_clear(c);
        return seterr(s, FSV_NOMEM, "out of memory");
    }
    if (rc != FDS_OK) {
        fdsp_change_clear(c);
        return seterr(s, FSV_ERROR, "store: history row %lld has a corrupt"
                      " version vector", (long long)sqlite3_column_int64(st, 0));
    }
    return FSV_OK;
}

/* Fill c from the history row seq (a row a filtered scan keeps). */
static int fetch_row(fsv_store *s, int64_t seq, fdsp_change *c)
{
    sqlite3_stmt *st = stmt(s, ST_HIST_ROW);
    if (!st)
        return FSV_ERROR;
    sqlite3_bind_int64(st, 1, seq);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        rc = row_to_change(s, st, c);
    else if (rc == SQLITE_DONE)
        rc = seterr(s, FSV_ERROR, "store: history row %lld vanished",
                    (long long)seq);
    else
        rc = dberr(s, "history row");
    sqlite3_reset(st);
    return rc;
}

int fsv_sqlite_changes_after(fsv_store *s, int64_t after, int limit,
                            const char *exclude_device, fsv_row_filter filter,
                            void *ud, fdsp_change **out, size_t *n,
                            int64_t *last, int *more)
{
    enum { CHUNK = 1000 };
    int64_t head;
    int rc = fsv_sqlite_head(s, &head);
    *out = NULL;
    *n = 0;
    *last = after;
    *more = 0;
    if (rc != FSV_OK)
        return rc;
    if (limit <= 0)
        limit = 1;
    fdsp_change *arr = calloc((size_t)limit, sizeof *arr);
    if (!arr)
        return seterr(s, FSV_NOMEM, "out of memory");
    size_t got = 0, scanned = 0;
    int64_t pos = after;
    int full = 0;
    scan_verdict verdict;
    verdict.valid = 0;

    while (rc == FSV_OK && !full && pos < head && scanned < FSV_SCAN_MAX) {
        sqlite3_stmt *st = stmt(s, filter ? ST_SCAN_KEYS : ST_SCAN);
        if (!st) {
            rc = FSV_ERROR;
            break;
        }
        sqlite3_bind_int64(st, 1, pos);
        sqlite3_bind_int(st, 2, CHUNK);
        int step, rows = 0;
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
            rows++;
            scanned++;
            pos = sqlite3_column_int64(st, 0);
            /* Columns 0-3 (seq, tbl, rid, field) are the same in both scans. */
            const char *dev = (const char *)sqlite3_column_text(st, filter ? 4 : 7);
            if (exclude_device && dev && strcmp(dev, exclude_device) == 0)
                goto next_row;
            if (filter) {
                /* The filter runs its own lookups on other statements;
                ** this one stays positioned on its row. */
                const char *tbl = (const char *)sqlite3_column_text(st, 1);
                const char *rid = (const char *)sqlite3_column_text(st, 2);
                int vis = 0;
                if (verdict_hit(&verdict, tbl, rid)) {
                    vis = verdict.vis;
                } else {
                    rc = filter_row(s, st, filter, ud, &vis);
                    if (rc != FSV_OK)
                        break;
                    verdict_keep(&verdict, (const char *)sqlite3_column_text(st, 1),
                              (const char *)sqlite3_column_text(st, 2), vis);
                }
                if (!vis)
                    goto next_row;
            }
            rc = filter ? fetch_row(s, pos, &arr[got])
                        : row_to_change(s, st, &arr[got]);
            if (rc != FSV_OK)
                break;
            if (++got == (size_t)limit) {
                full = 1;
                break;
            }
        next_row:
            if (scanned >= FSV_SCAN_MAX)
                break;
        }
        if (rc == FSV_OK && step != SQLITE_ROW && step != SQLITE_DONE)
            rc = dberr(s, "scan history");
        sqlite3_reset(st);
        if (rows == 0)
            break;
    }
    if (rc != FSV_OK) {
        for (size_t i = 0; i < got; i++)
            fdsp_change_clear(&arr[i]);
        free(arr);
        return rc;
    }
    if (pos >= head)
        pos = head > after ? head : after;
    *last = pos;
    *more = pos < head;
    *out = arr;
    *n = got;
    return FSV_OK;
}

/* ---- Record index ------------------------------------------------------------------ */

int fsv_sqlite_record_info(fsv_store *s, const char *tbl, const char *rid,
                          char **customer, char **creator)
{
    *customer = NULL;
    *creator = NULL;
    txrec *m = txrec_get(s, tbl, rid);
    if (m && m->rec == REC_UNSEEN) {
        int rc = txrec_load_rec(s, m);
        if (rc != FSV_OK)
            return rc;
    }
    if (m && m->rec == REC_ABSENT)
        return FSV_NOTFOUND;
    if (m && m->rec == REC_PRESENT) {
        *customer = m->has_customer ? strdup(m->customer) : NULL;
        *creator = strdup(m->creator);
        if ((m->has_customer && !*customer) || !*creator) {
            free(*customer);
            free(*creator);
            *customer = *creator = NULL;
            return seterr(s, FSV_NOMEM, "out of memory");
        }
        return FSV_OK;
    }
    sqlite3_stmt *st = stmt(s, ST_REC_GET);
    if (!st)
        return FSV_ERROR;
    bind_text(st, 1, tbl);
    bind_text(st, 2, rid);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(st);
        return FSV_NOTFOUND;
    }
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return dberr(s, "record index");
    }
    int has_cust = sqlite3_column_type(st, 0) != SQLITE_NULL;
    *customer = has_cust ? col_dup(st, 0) : NULL;
    *creator = col_dup(st, 1);
    sqlite3_reset(st);
    if ((has_cust && !*customer) || !*creator) {
        free(*customer);
        free(*creator);
        *customer = *creator = NULL;
        return seterr(s, FSV_NOMEM, "out of memory");
    }
    return FSV_OK;
}

int fsv_sqlite_prefix_values(fsv_store *s, const char *tbl,
                             const char *prefix, const char *field,
                             fsv_rec_value **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    size_t len = strlen(prefix);
    if (!len || (unsigned char)prefix[len - 1] == 0xff)
        return seterr(s, FSV_INVALID, "store: record prefix \"%s\" cannot"
                      " bound a range", prefix);
    /* The ids starting with prefix are exactly those from prefix up to
    ** (not including) prefix with its last byte raised by one. */
    char *hi = strdup(prefix);
    sqlite3_stmt *st = hi ? stmt(s, ST_PREFIX_VALUES) : NULL;
    if (!st) {
        free(hi);
        return hi ? FSV_ERROR : seterr(s, FSV_NOMEM, "out of memory");
    }
    hi[len - 1]++;
    bind_static(st, 1, tbl);
    bind_static(st, 2, prefix);
    bind_static(st, 3, hi);
    fsv_rec_value *v = NULL;
    size_t got = 0, cap = 0;
    int rc = FSV_OK, step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *rid = (const char *)sqlite3_column_text(st, 0);
        const char *f = (const char *)sqlite3_column_text(st, 1);
        const char *value = (const char *)sqlite3_column_text(st, 2);
        if (!rid)
            continue;
        /* A record's rows are consecutive (ORDER BY rid): a new rid starts
        ** a new element. */
        if (!got || strcmp(v[got - 1].rid, rid) != 0) {
            if (got == cap) {
                size_t ncap = cap ? cap * 2 : 8;
                fsv_rec_value *p = realloc(v, ncap * sizeof *p);
                if (!p) {
                    rc = seterr(s, FSV_NOMEM, "out of memory");
                    break;
                }
                v = p;
                cap = ncap;
            }
            v[got].value = NULL;
            if (!(v[got].rid = strdup(rid))) {
                rc = seterr(s, FSV_NOMEM, "out of memory");
                break;
            }
            got++;
        }
        if (f && strcmp(f, field) == 0 && value && !v[got - 1].value &&
            !(v[got - 1].value = strdup(value))) {
            rc = seterr(s, FSV_NOMEM, "out of memory");
            break;
        }
    }
    if (rc == FSV_OK && step != SQLITE_DONE)
        rc = dberr(s, "records by prefix");
    sqlite3_reset(st);
    free(hi);
    if (rc != FSV_OK) {
        fsv_rec_values_free(v, got);
        return rc;
    }
    *out = v;
    *n = got;
    return FSV_OK;
}

/* ---- Users ------------------------------------------------------------------------ */

int fsv_sqlite_user_add(fsv_store *s, const char *name, const char *role,
                       const char *team)
{
    /* store.c checked name, role and team (backend-neutral rules). */
    int mine, rc = auto_begin(s, &mine);
    if (rc != FSV_OK)
        return rc;
    fsv_user u;
    rc = fsv_sqlite_user_get(s, name, &u);
    if (rc == FSV_OK) {
        rc = seterr(s, FSV_EXISTS, "user %s already exists", name);
    } else if (rc == FSV_NOTFOUND) {
        sqlite3_stmt *st = stmt(s, ST_USER_ADD);
        rc = FSV_ERROR;
        if (st) {
            bind_text(st, 1, name);
            bind_text(st, 2, role);
            bind_text(st, 3, team ? team : "");
            sqlite3_bind_int64(st, 4, now_ms());
            rc = step_done(s, st, "add user");
        }
    }
    return auto_end(s, mine, rc);
}

int fsv_sqlite_user_get(fsv_store *s, const char *name, fsv_user *u)
{
    memset(u, 0, sizeof *u);
    sqlite3_stmt *st = stmt(s, ST_USER_GET);
    if (!st)
        return FSV_ERROR;
    bind_text(st, 1, name);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(st);
        return seterr(s, FSV_NOTFOUND, "no user %s", name);
    }
    if (rc != SQLITE_ROW)
        return dberr(s, "get user");
    col_copy(st, 0, u->name, sizeof u->name);
    col_copy(st, 1, u->role, sizeof u->role);
    col_copy(st, 2, u->team, sizeof u->team);
    u->disabled = sqlite3_column_int(st, 3);
    sqlite3_reset(st);
    return FSV_OK;
}

static int64_t col_time(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL
               ? FSV_NO_TIME : sqlite3_column_int64(st, i);
}

/* Step st (bound already) to the end, each row read by row(st, elem) into
** a growing array of elements of size sz: *out malloc'd, *n rows.  `what`
** names the listing in errors.  (store.c makes the JSON of the lists.) */
static int read_rows(fsv_store *s, sqlite3_stmt *st, size_t sz,
                     void (*row)(sqlite3_stmt *, void *), const char *what,
                     void **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    unsigned char *v = NULL;
    size_t got = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (got == cap) {
            size_t ncap = cap ? 2 * cap : 16;
            unsigned char *nv = realloc(v, ncap * sz);
            if (!nv) {
                sqlite3_reset(st);
                free(v);
                return seterr(s, FSV_NOMEM, "out of memory");
            }
            v = nv;
            cap = ncap;
        }
        memset(v + got * sz, 0, sz);
        row(st, v + got * sz);
        got++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        free(v);
        return dberr(s, what);
    }
    *out = v;
    *n = got;
    return FSV_OK;
}

static void user_row(sqlite3_stmt *st, void *elem)
{
    fsv_user_row *r = elem;
    col_copy(st, 0, r->user.name, sizeof r->user.name);
    col_copy(st, 1, r->user.role, sizeof r->user.role);
    col_copy(st, 2, r->user.team, sizeof r->user.team);
    r->user.disabled = sqlite3_column_int(st, 3);
    r->created_ms = col_time(st, 4);
    r->tokens = sqlite3_column_int64(st, 5);
}

int fsv_sqlite_user_rows(fsv_store *s, fsv_user_row **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = stmt(s, ST_USER_LIST);
    if (!st)
        return FSV_ERROR;
    return read_rows(s, st, sizeof **out, user_row, "list users",
                     (void **)out, n);
}

int fsv_sqlite_user_disable(fsv_store *s, const char *name)
{
    sqlite3_stmt *st = stmt(s, ST_USER_DISABLE);
    if (!st)
        return FSV_ERROR;
    bind_text(st, 1, name);
    int rc = step_done(s, st, "disable user");
    if (rc == FSV_OK && sqlite3_changes(SQ(s)->db) == 0)
        return seterr(s, FSV_NOTFOUND, "no user %s", name);
    return rc;
}

/* ---- Tokens ------------------------------------------------------------------------ */

int fsv_sqlite_token_add(fsv_store *s, const char *token_id, const char *user,
                        const unsigned char hash[FSV_TOKEN_HASH])
{
    sqlite3_stmt *st = stmt(s, ST_TOKEN_ADD);
    if (!st)
        return FSV_ERROR;
    bind_text(st, 1, token_id);
    bind_text(st, 2, user);
    sqlite3_bind_blob(st, 3, hash, FSV_TOKEN_HASH, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, now_ms());
    return step_done(s, st, "add token");
}

int fsv_sqlite_token_auth(fsv_store *s, const unsigned char hash[FSV_TOKEN_HASH],
                         fsv_user *u, char *id)
{
    memset(u, 0, sizeof *u);
    id[0] = '\0';
    sqlite3_stmt *st = stmt(s, ST_TOKEN_AUTH);
    if (!st)
        return FSV_ERROR;
    sqlite3_bind_blob(st, 1, hash, FSV_TOKEN_HASH, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(st);
        return seterr(s, FSV_NOTFOUND, "token unknown, revoked or disabled");
    }
    if (rc != SQLITE_ROW)
        return dberr(s, "token lookup");
    /* The index found the row by hash; compare the full hash in constant
    ** time anyway so equality never rests on a short-circuiting memcmp. */
    const void *stored = sqlite3_column_blob(st, 0);
    int ok = stored && sqlite3_column_bytes(st, 0) == FSV_TOKEN_HASH &&
             fsv_token_hash_equal(stored, hash);
    if (ok) {
        col_copy(st, 1, id, FSV_TOKEN_ID_LEN + 1);
        col_copy(st, 2, u->name, sizeof u->name);
        col_copy(st, 3, u->role, sizeof u->role);
        col_copy(st, 4, u->team, sizeof u->team);
    }
    sqlite3_reset(st);
    if (!ok)
        return seterr(s, FSV_NOTFOUND, "token unknown, revoked or disabled");
    st = stmt(s, ST_TOKEN_TOUCH);
    if (!st)
        return FSV_ERROR;
    bind_text(st, 1, id);
    sqlite3_bind_int64(st, 2, now_ms());
    return step_done(s, st, "token last use");
}

static void token_row(sqlite3_stmt *st, void *elem)
{
    fsv_token_row *r = elem;
    col_copy(st, 0, r->token_id, sizeof r->token_id);
    col_copy(st, 1, r->user, sizeof r->user);
    r->created_ms = col_time(st, 2);
    r->revoked_ms = col_time(st, 3);
    r->last_used_ms = col_time(st, 4);
}

int fsv_sqlite_token_rows(fsv_store *s, const char *user, fsv_token_row **out,
                          size_t *n)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = stmt(s, ST_TOKEN_LIST);
    if (!st)
        return FSV_ERROR;
    bind_text(st, 1, user);
    return read_rows(s, st, sizeof **out, token_row, "list tokens",
                     (void **)out, n);
}

int fsv_sqlite_token_revoke(fsv_store *s, const char *token_id)
{
    sqlite3_stmt *st = stmt(s, ST_TOKEN_REVOKE);
    if (!st)
        return FSV_ERROR;
    bind_text(st, 1, token_id);
    sqlite3_bind_int64(st, 2, now_ms());
    int rc = step_done(s, st, "revoke token");
    if (rc == FSV_OK && sqlite3_changes(SQ(s)->db) == 0)
        return seterr(s, FSV_NOTFOUND, "no live token %s", token_id);
    return rc;
}

int fsv_sqlite_device_seen(fsv_store *s, const char *device, const char *user,
                          const char *token_id, int64_t now, int64_t head)
{
    sqlite3_stmt *st = stmt(s, ST_DEVICE_SEEN);
    if (!st)
        return FSV_ERROR;
    bind_text(st, 1, device);
    bind_text(st, 2, user);
    bind_text(st, 3, token_id);
    sqlite3_bind_int64(st, 4, now);
    sqlite3_bind_int64(st, 5, head);
    return step_done(s, st, "device");
}

/* ---- Security: live token checks, visibility events, full state ---------------- */

int fsv_sqlite_token_live(fsv_store *s, const char *token_id, int *live)
{
    *live = 0;
    sqlite3_stmt *st = stmt(s, ST_TOKEN_LIVE);
    if (!st)
        return FSV_ERROR;
    bind_text(st, 1, token_id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *live = sqlite3_column_int(st, 0) != 0;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return dberr(s, "token check");
    return FSV_OK;
}

int fsv_sqlite_vis_event_add(fsv_store *s, int64_t seq, const char *customer,
                            const char *user)
{
    sqlite3_stmt *st = stmt(s, ST_VISEV_ADD);
    if (!st)
        return FSV_ERROR;
    sqlite3_bind_int64(st, 1, seq);
    bind_text(st, 2, customer);
    bind_text(st, 3, user ? user : "");
    return step_done(s, st, "visibility event");
}

int fsv_sqlite_vis_events(fsv_store *s, int64_t after, int64_t upto,
                         char ***customers, char ***users, size_t *n)
{
    *customers = *users = NULL;
    *n = 0;
    sqlite3_stmt *st = stmt(s, ST_VISEV_LIST);
    if (!st)
        return FSV_ERROR;
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int64(st, 2, upto);
    char **cs = NULL, **us = NULL;
    size_t got = 0, cap = 0;
    int rc, oom = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (got == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            char **p = realloc(cs, ncap * sizeof *p);
            if (p)
                cs = p;
            char **q = p ? realloc(us, ncap * sizeof *q) : NULL;
            if (q)
                us = q;
            if (!p || !q) {
                oom = 1;
                break;
            }
            cap = ncap;
        }
        cs[got] = col_dup(st, 0);
        us[got] = col_dup(st, 1);
        got++;
        if (!cs[got - 1] || !us[got - 1]) {
            oom = 1;
            break;
        }
    }
    sqlite3_reset(st);
    if (oom || rc != SQLITE_DONE) {
        for (size_t i = 0; i < got; i++) {
            free(cs[i]);
            free(us[i]);
        }
        free(cs);
        free(us);
        return oom ? seterr(s, FSV_NOMEM, "out of memory")
                   : dberr(s, "visibility events");
    }
    *customers = cs;
    *users = us;
    *n = got;
    return FSV_OK;
}

/* Append every version of one register row to *out. */
static int append_versions(fsv_store *s, sqlite3_stmt *st, fdsp_change **out,
                           size_t *n, size_t *cap)
{
    const char *tbl = (const char *)sqlite3_column_text(st, 0);
    const char *rid = (const char *)sqlite3_column_text(st, 1);
    const char *field = (const char *)sqlite3_column_text(st, 2);
    const char *txt = (const char *)sqlite3_column_text(st, 3);
    json_error_t jerr;
    json_t *j = txt ? json_loads(txt, 0, &jerr) : NULL;
    fds_register reg = {0, NULL};
    if (!tbl || !rid || !field || !j || fds_register_from_json(j, &reg) != FDS_OK) {
        json_decref(j);
        return seterr(s, FSV_ERROR, "store: register %s/%s/%s is corrupt",
                      tbl ? tbl : "?", rid ? rid : "?", field ? field : "?");
    }
    json_decref(j);
    int rc = FSV_OK;
    for (size_t i = 0; i < reg.n && rc == FSV_OK; i++) {
        if (*n == *cap) {
            size_t ncap = *cap ? *cap * 2 : 64;
            fdsp_change *p = realloc(*out, ncap * sizeof *p);
            if (!p) {
                rc = seterr(s, FSV_NOMEM, "out of memory");
                break;
            }
            *out = p;
            *cap = ncap;
        }
        /* Move the version out of the register into the array. */
        fdsp_change *c = &(*out)[*n];
        *c = reg.v[i];
        memset(&reg.v[i], 0, sizeof reg.v[i]);
        free(c->table);
        free(c->record);
        free(c->field);
        c->table = strdup(tbl);
        c->record = strdup(rid);
        c->field = strdup(field);
        c->seq = 0;
        (*n)++;
        if (!c->table || !c->record || !c->field)
            rc = seterr(s, FSV_NOMEM, "out of memory");
    }
    fds_register_clear(&reg);
    return rc;
}

int fsv_sqlite_customer_state(fsv_store *s, const char *customer,
                             fdsp_change **out, size_t *n)
{
    sqlite3_stmt *st = stmt(s, ST_CUST_REGS);
    if (!st)
        return FSV_ERROR;
    bind_text(st, 1, customer);
    size_t cap = *n; /* the array may be exactly full: grow before writing */
    int rc, res = FSV_OK;
    while (res == FSV_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
        res = append_versions(s, st, out, n, &cap);
    if (res == FSV_OK && rc != SQLITE_DONE)
        res = dberr(s, "customer state");
    sqlite3_reset(st);
    return res;
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
    .vis_events = fsv_sqlite_vis_events,
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
};
