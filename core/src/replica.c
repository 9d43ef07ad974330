/*
** replica.c — the replica handle: open/close, identity, meta settings,
** prepared-statement cache and savepoint transactions.
**
** Identity (DESIGN.md rule 1): a new replica gets a random UUID v4 device
** id at first open; it never changes afterwards.  The device's version
** vector counter and last HLC value are cached on the handle and written
** back to meta once per outermost transaction (fds__end), so a user action
** writing ten fields costs two meta writes, not twenty.
*/
#include "internal.h"
#include "grouplog.h"
#include "pinyin.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(FDS__ST_ENGINE_END <= FDS__ST_DOMAIN_FIRST,
               "engine statement slots must stay below the domain range");

sqlite3_stmt *fds__stmt(fds_replica *r, int slot, const char *sql)
{
    if (slot < 0 || slot >= FDS__ST__COUNT) {
        fds__error(r, FDS_ERROR, "statement slot %d out of range", slot);
        return NULL;
    }
    sqlite3_stmt *st = r->st[slot];
    if (st == NULL) {
        if (sqlite3_prepare_v3(r->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
                               &st, NULL) != SQLITE_OK) {
            fds__dberror(r, "preparing statement");
            return NULL;
        }
        r->st[slot] = st;
    } else {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
    return st;
}

/* ---- Meta ---------------------------------------------------------------- */

int fds_meta_get(fds_replica *r, const char *key, char **out)
{
    *out = NULL;
    sqlite3_stmt *st = fds__stmt(r, FDS__ST_META_GET,
                                 "SELECT value FROM meta WHERE key = ?1");
    if (st == NULL)
        return fds__errcode(r);
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
        *out = strdup((const char *)sqlite3_column_text(st, 0));
        sqlite3_reset(st);
        return *out ? FDS_OK : fds__error(r, FDS_NOMEM, "out of memory");
    }
    sqlite3_reset(st);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        return fds__error(r, FDS_NOTFOUND, "setting '%s' is not set", key);
    return fds__dberror(r, "reading setting");
}

int fds_meta_set(fds_replica *r, const char *key, const char *value)
{
    sqlite3_stmt *st = fds__stmt(r, FDS__ST_META_SET,
        "INSERT INTO meta(key, value) VALUES(?1, ?2) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
    if (st == NULL)
        return fds__errcode(r);
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return fds__dberror(r, "saving setting");
    return FDS_OK;
}

int fds__meta_get_i64(fds_replica *r, const char *key, int64_t dflt,
                      int64_t *out)
{
    char *s = NULL;
    int rc = fds_meta_get(r, key, &s);
    if (rc == FDS_NOTFOUND) {
        *out = dflt;
        return FDS_OK;
    }
    if (rc != FDS_OK)
        return rc;
    char *end;
    long long v = strtoll(s, &end, 10);
    int bad = *s == '\0' || *end != '\0';
    free(s);
    if (bad)
        return fds__error(r, FDS_DB, "setting '%s' is not a number", key);
    *out = v;
    return FDS_OK;
}

int fds__meta_set_i64(fds_replica *r, const char *key, int64_t v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRId64, v);
    return fds_meta_set(r, key, buf);
}

/* ---- Transactions --------------------------------------------------------- */

static int step_done(fds_replica *r, sqlite3_stmt *st, const char *what)
{
    if (st == NULL)
        return fds__errcode(r);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? FDS_OK : fds__dberror(r, what);
}

/* Outermost transactions are BEGIN IMMEDIATE: they take the write lock
** first, waiting up to the busy timeout for another process (the CLI
** beside a running `sync --watch`).  A deferred one reads first, and if
** another process commits before its first write, SQLite fails that write
** at once with "database is locked" (a stale snapshot cannot be waited
** out): faults_devices saw a watch die that way while the rep edited. */
static int exec_tx(fds_replica *r, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return fds__dberror(r, what);
    return FDS_OK;
}

/* The statements every transaction needs, prepared once at open (see
** tx_begin in internal.h). */
static int prepare_tx(fds_replica *r)
{
    static const struct { int slot; const char *sql; } sp[] = {
        {FDS__ST_SAVEPOINT, "SAVEPOINT fds"},
        {FDS__ST_RELEASE, "RELEASE fds"},
        {FDS__ST_ROLLBACK_TO, "ROLLBACK TO fds"},
        {FDS__ST_SYNC_NORMAL, "PRAGMA synchronous=NORMAL"},
        {FDS__ST_SYNC_FULL, "PRAGMA synchronous=FULL"},
    };
    struct { sqlite3_stmt **st; const char *sql; } tx[] = {
        {&r->tx_begin, "BEGIN IMMEDIATE"},
        {&r->tx_commit, "COMMIT"},
        {&r->tx_rollback, "ROLLBACK"},
    };
    for (size_t i = 0; i < sizeof tx / sizeof tx[0]; i++)
        if (sqlite3_prepare_v3(r->db, tx[i].sql, -1,
                               SQLITE_PREPARE_PERSISTENT, tx[i].st,
                               NULL) != SQLITE_OK)
            return fds__dberror(r, "preparing statement");
    for (size_t i = 0; i < sizeof sp / sizeof sp[0]; i++)
        if (fds__stmt(r, sp[i].slot, sp[i].sql) == NULL)
            return fds__errcode(r);
    return FDS_OK;
}

static int set_sync(fds_replica *r, int normal);

/* immediate 0: a deferred outermost transaction, for the one that mostly
** reads (the identity at open), so opening never waits for a writer. */
static int begin_tx(fds_replica *r, int immediate)
{
    int rc = FDS_OK;
    if (r->sync_relaxed && r->tx_depth == 0) {
        if ((rc = set_sync(r, 0)) != FDS_OK)
            return rc;
        r->sync_relaxed = 0;
    }
    if (immediate && r->tx_depth == 0 && sqlite3_get_autocommit(r->db) &&
        (rc = exec_tx(r, r->tx_begin, "starting transaction")) != FDS_OK)
        return rc;
    rc = step_done(r, fds__stmt(r, FDS__ST_SAVEPOINT, "SAVEPOINT fds"),
                   "starting transaction");
    if (rc != FDS_OK && r->tx_depth == 0 && !sqlite3_get_autocommit(r->db))
        exec_tx(r, r->tx_rollback, "rolling back");
    if (rc == FDS_OK && r->tx_depth++ == 0) {
        r->clock_checked = 0;   /* another process may write in between */
        /* ...so a record read outside any transaction is read again */
        if (r->rec_hold == 0)
            fds__rec_forget(r);
    }
    return rc;
}

int fds__begin(fds_replica *r)
{
    /* the pending change group belongs to the savepoint it was made in */
    int rc = fds__glog_flush(r);
    return rc == FDS_OK ? begin_tx(r, 1) : rc;
}

/* After the outermost savepoint is released: end the BEGIN IMMEDIATE. */
static int end_outer(fds_replica *r, int rc)
{
    if (r->tx_depth != 0 || sqlite3_get_autocommit(r->db))
        return rc;
    if (rc == FDS_OK && (rc = exec_tx(r, r->tx_commit, "committing transaction"))
            == FDS_OK)
        return FDS_OK;
    char keep[FDS__ERRMSG_MAX];
    memcpy(keep, r->errmsg, sizeof keep);
    exec_tx(r, r->tx_rollback, "rolling back");
    memcpy(r->errmsg, keep, sizeof keep);
    return rc;
}

/* Persist the cached counter and hlc (uint64 stored as its int64 bits). */
static int flush_clock(fds_replica *r)
{
    if (!r->meta_dirty)
        return FDS_OK;
    /* One statement for both rows (as text, like fds__meta_set_i64).  The
    ** counter never goes down: another process (the CLI beside a running
    ** `sync --watch`) may have written past this handle's cached copy, and
    ** writing the stale copy back made its next edit reuse a counter the
    ** server had already accepted, acked and dropped as seen (issue 10,
    ** tests/faults/test_devices.c). */
    sqlite3_stmt *st = fds__stmt(r, FDS__ST_META_CLOCK,
        "INSERT INTO meta(key, value) VALUES('counter', ?1), ('hlc', ?2) "
        "ON CONFLICT(key) DO UPDATE SET value = CASE WHEN key = 'counter' "
        "AND CAST(value AS INTEGER) > CAST(excluded.value AS INTEGER) "
        "THEN value ELSE excluded.value END");
    if (st == NULL)
        return fds__errcode(r);
    char counter[32], hlc[32];
    snprintf(counter, sizeof counter, "%" PRId64, (int64_t)r->counter);
    snprintf(hlc, sizeof hlc, "%" PRId64, (int64_t)r->hlc);
    sqlite3_bind_text(st, 1, counter, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, hlc, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return fds__dberror(r, "saving clock");
    r->meta_dirty = 0;
    return FDS_OK;
}

int fds__end(fds_replica *r, int rc)
{
    if (r->tx_depth <= 0)
        return rc == FDS_OK ? fds__error(r, FDS_ERROR, "no open transaction")
                            : rc;
    /* The cached record row (recstore.c): written back if dirty, then
    ** forgotten, whether this level commits or rolls back. */
    if (rc == FDS_OK && r->rec_hold == 0)
        rc = fds__rec_flush(r);
    if (r->rec_hold == 0)
        fds__rec_forget(r);
    if (rc == FDS_OK)
        rc = fds__glog_flush(r);    /* the action's change group: one row */
    if (rc != FDS_OK)
        fds__glog_discard(r);       /* rolled back with its savepoint */
    if (rc == FDS_OK && r->tx_depth == 1)
        rc = flush_clock(r);
    if (rc == FDS_OK) {
        rc = step_done(r, fds__stmt(r, FDS__ST_RELEASE, "RELEASE fds"),
                       "committing transaction");
        if (rc == FDS_OK) {
            r->tx_depth--;
            rc = end_outer(r, FDS_OK);
            if (rc != FDS_OK)
                r->meta_dirty = 1;
            return rc;
        }
    }
    /* Roll back this savepoint, then release it so the nesting unwinds.
    ** The cached counter/hlc stay advanced: skipping values is harmless,
    ** reusing them never happens. */
    char keep[FDS__ERRMSG_MAX];
    memcpy(keep, r->errmsg, sizeof keep);
    step_done(r, fds__stmt(r, FDS__ST_ROLLBACK_TO, "ROLLBACK TO fds"),
              "rolling back");
    step_done(r, fds__stmt(r, FDS__ST_RELEASE, "RELEASE fds"),
              "rolling back");
    memcpy(r->errmsg, keep, sizeof keep);
    r->tx_depth--;
    if (r->tx_depth == 0)
        r->meta_dirty = 1;
    return end_outer(r, rc);
}

/* Sync bookkeeping need not wait for the disk.  A pulled page and the
** cursor move in one transaction, and an ack only marks outbox rows that
** the server has committed.  In WAL mode, a commit at NORMAL that power
** loss takes away goes with every later commit, never alone: the device
** then holds an older cursor and pulls again, or resends its outbox, which
** the server takes once (rule 7).  A commit at FULL after it (a rep's
** edit) makes it durable too.  What only the device holds, a rep's own
** writes, still commits at FULL.  At 500 changes a page, the fsync was a
** large part of a fresh device's pull. */
static int set_sync(fds_replica *r, int normal)
{
    return step_done(r, normal ? fds__stmt(r, FDS__ST_SYNC_NORMAL,
                                           "PRAGMA synchronous=NORMAL")
                               : fds__stmt(r, FDS__ST_SYNC_FULL,
                                           "PRAGMA synchronous=FULL"),
                     "setting synchronous");
}

int fds__begin_relaxed(fds_replica *r)
{
    if (r->durable && r->tx_depth == 0) {
        r->sync_relaxed = 0;        /* this one is relaxed on purpose */
        int rc = set_sync(r, 1);
        if (rc != FDS_OK)
            return rc;
        rc = fds__begin(r);
        if (rc != FDS_OK && set_sync(r, 0) != FDS_OK)
            r->sync_relaxed = 1;
        return rc;
    }
    return fds__begin(r);
}

int fds__end_relaxed(fds_replica *r, int rc)
{
    rc = fds__end(r, rc);
    /* Putting FULL back can fail (out of memory) after the commit: that
    ** must not report the committed page as failed.  The next outermost
    ** transaction puts it back before it writes (begin_tx). */
    if (r->durable && r->tx_depth == 0 && set_sync(r, 0) != FDS_OK)
        r->sync_relaxed = 1;
    return rc;
}

int fds_begin(fds_replica *r)
{
    return fds__begin(r);
}

int fds_commit(fds_replica *r)
{
    return fds__end(r, FDS_OK);
}

int fds_rollback(fds_replica *r)
{
    if (r->tx_depth <= 0)
        return fds__error(r, FDS_ERROR, "no open transaction");
    fds__end(r, FDS_ERROR);
    return FDS_OK;
}

/* ---- Open / close --------------------------------------------------------- */

/* Create the file with mode 0600 before SQLite touches it, so customer
** data is never readable by others, whatever the umask.  SQLite gives the
** -wal and -shm files the database file's permissions.
**
** Only a path that does not exist becomes a new replica (issue 10): an
** existing file, empty or not, is checked (check_existing, then
** fds__schema_check) and never written before it passed.  *existed tells
** the caller which case it is. */
static int create_private(const char *path, int *existed, char *err,
                          size_t errlen)
{
    *existed = 0;
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST) {
        *existed = 1;
        return FDS_OK;
    }
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return FDS_ERROR;
    }
    fchmod(fd, 0600);   /* whatever the umask */
    close(fd);
    return FDS_OK;
}

/* What can be told of an existing file without SQLite: an empty file or
** one without the SQLite header is not a replica.  Read-only: the file
** stays byte-identical. */
static int check_existing(const char *path, char *err, size_t errlen)
{
    static const char magic[16] = "SQLite format 3";   /* with its NUL */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return FDS_ERROR;
    }
    struct stat sb;
    char head[16];
    ssize_t n = 0;
    int rc = FDS_OK;
    if (fstat(fd, &sb) != 0) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        rc = FDS_ERROR;
    } else if (!S_ISREG(sb.st_mode)) {
        snprintf(err, errlen, "%s is not a regular file, not a fieldsync "
                 "replica", path);
        rc = FDS_NOTREPLICA;
    } else if (sb.st_size == 0) {
        snprintf(err, errlen, "%s is an empty file (0 bytes), not a "
                 "fieldsync replica; left untouched (remove it to start a "
                 "new replica there)", path);
        rc = FDS_NOTREPLICA;
    } else if ((n = read(fd, head, sizeof head)) != (ssize_t)sizeof head ||
               memcmp(head, magic, sizeof magic) != 0) {
        snprintf(err, errlen, "%s is not an SQLite database, not a "
                 "fieldsync replica; left untouched", path);
        rc = FDS_NOTREPLICA;
    }
    close(fd);
    return rc;
}

static int load_identity(fds_replica *r)
{
    char *s = NULL;
    int rc = fds_meta_get(r, "device", &s);
    if (rc == FDS_NOTFOUND) {
        if ((rc = fds__uuid(r, r->device)) != FDS_OK)
            return rc;
        if ((rc = fds_meta_set(r, "device", r->device)) != FDS_OK)
            return rc;
    } else if (rc != FDS_OK) {
        return rc;
    } else {
        snprintf(r->device, sizeof r->device, "%s", s);
        free(s);
    }
    s = NULL;
    rc = fds_meta_get(r, "user", &s);
    if (rc == FDS_OK) {
        free(r->user);
        r->user = s;
    } else if (rc != FDS_NOTFOUND) {
        return rc;
    }
    int64_t v = 0;
    if ((rc = fds__meta_get_i64(r, "counter", 0, &v)) != FDS_OK)
        return rc;
    r->counter = (uint64_t)v;
    if ((rc = fds__meta_get_i64(r, "hlc", 0, &v)) != FDS_OK)
        return rc;
    r->hlc = (uint64_t)v;
    return FDS_OK;
}

int fds_replica_open(const char *path, const fds_env *env,
                     fds_replica **out, char *errbuf, size_t errlen)
{
    char scratch[FDS__ERRMSG_MAX];
    if (errbuf == NULL || errlen == 0) {
        errbuf = scratch;
        errlen = sizeof scratch;
    }
    errbuf[0] = '\0';
    *out = NULL;
    if (path == NULL || path[0] == '\0') {
        snprintf(errbuf, errlen, "no replica path given");
        return FDS_INVALID;
    }
    int in_memory = strcmp(path, ":memory:") == 0;
    int existed = 0, rc;
    if (!in_memory) {
        if ((rc = create_private(path, &existed, errbuf, errlen)) != FDS_OK)
            return rc;
        if (existed && (rc = check_existing(path, errbuf, errlen)) != FDS_OK)
            return rc;
    }

    fds_replica *r = calloc(1, sizeof *r);
    if (r == NULL || (r->user = strdup("")) == NULL) {
        free(r);
        snprintf(errbuf, errlen, "out of memory");
        if (!in_memory && !existed)
            unlink(path);       /* see fail: below */
        return FDS_NOMEM;
    }
    if (env)
        r->env = *env;
    /* No SQLITE_OPEN_CREATE for a file that existed: if it vanished since,
    ** that is an error, not a new replica. */
    if (sqlite3_open_v2(path, &r->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
                        (existed ? 0 : SQLITE_OPEN_CREATE),
                        NULL) != SQLITE_OK) {
        /* A NULL db is SQLite out of memory before it had a handle. */
        int ec = r->db ? sqlite3_errcode(r->db) : SQLITE_NOMEM;
        rc = fds__error(r, ec == SQLITE_NOMEM ? FDS_NOMEM : FDS_DB,
                        "cannot open %s: %s", path,
                        r->db ? sqlite3_errmsg(r->db) : "out of memory");
        goto fail;
    }
    sqlite3_extended_result_codes(r->db, 1);
    sqlite3_busy_timeout(r->db, 5000);  /* CLI next to a running sync */
    /* customer search by pinyin (query.c) */
    int prc = fds__pinyin_register(r->db);
    if (prc != SQLITE_OK) {
        rc = fds__error(r, prc == SQLITE_NOMEM ? FDS_NOMEM : FDS_DB,
                        "cannot register the pinyin search function");
        goto fail;
    }
    /* versions and conflicts of packed record rows (recstore.c) */
    if ((prc = fds__rec_sql_register(r->db)) != SQLITE_OK) {
        rc = fds__error(r, prc == SQLITE_NOMEM ? FDS_NOMEM : FDS_DB,
                        "cannot register the record functions");
        goto fail;
    }
    /* the change log per change over its group rows (grouplog.h) */
    if ((rc = fds__glog_open(r)) != FDS_OK ||
        (rc = fds__logvtab_register(r)) != FDS_OK)
        goto fail;
    r->durable = !in_memory;
    if (existed && (rc = fds__schema_check(r, path)) != FDS_OK)
        goto fail;
    if ((rc = fds__schema_open(r, in_memory)) != FDS_OK)
        goto fail;
    if ((rc = fds__rec_temp_view(r)) != FDS_OK)
        goto fail;
    /* After the schema is made: a statement prepared before a schema
    ** change would be prepared again, allocating, at its next step. */
    if ((rc = prepare_tx(r)) != FDS_OK)
        goto fail;
    if ((rc = begin_tx(r, 0)) != FDS_OK)
        goto fail;
    rc = fds__end(r, load_identity(r));
    if (rc != FDS_OK)
        goto fail;
    *out = r;
    return FDS_OK;
fail:
    snprintf(errbuf, errlen, "%s", r->errmsg);
    fds_replica_close(r);
    /* A replica this call was creating and could not finish (out of
    ** memory, say) is removed: left behind, the empty or half-made file
    ** would be refused by the next open as not a replica (issue 18).
    ** Nothing was in it yet. */
    if (!in_memory && !existed) {
        static const char *const side[] = {"-wal", "-shm", "-journal"};
        char p[4096];
        for (size_t i = 0; i < sizeof side / sizeof side[0]; i++)
            if (snprintf(p, sizeof p, "%s%s", path, side[i]) < (int)sizeof p)
                unlink(p);
        unlink(path);
    }
    return rc;
}

void fds_replica_close(fds_replica *r)
{
    if (r == NULL)
        return;
    for (int i = 0; i < FDS__ST__COUNT; i++)
        sqlite3_finalize(r->st[i]);
    sqlite3_finalize(r->tx_begin);
    sqlite3_finalize(r->tx_commit);
    sqlite3_finalize(r->tx_rollback);
    fds__glog_close(r);
    sqlite3_close(r->db);   /* an open transaction is rolled back */
    free(r->scratch.p);
    fds__rec_forget(r);
    free(r->rec_vals.p);
    free(r->rec_meta.p);
    free(r->user);
    free(r);
}

const char *fds_replica_device(const fds_replica *r)
{
    return r->device;
}

const char *fds_replica_user(const fds_replica *r)
{
    return r->user;
}

int fds_outbox_count(fds_replica *r, int64_t *n)
{
    sqlite3_stmt *st = fds__stmt(r, FDS__ST_OUTBOX_COUNT,
        "SELECT count(*) FROM log WHERE origin = 1 AND acked = 0");
    if (st == NULL)
        return fds__errcode(r);
    int rc = sqlite3_step(st);
    *n = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? FDS_OK : fds__dberror(r, "counting outbox");
}
