/*
** schema.c — the replica's SQLite schema and its in-place migrations.
**
** The schema version lives in PRAGMA user_version (0 = empty file).  Each
** entry of `migrations` takes the file from version i to i+1 and runs in
** the same transaction as the user_version bump, so a crash mid-migration
** leaves the old version intact.  A file whose version is greater than
** FDS__SCHEMA_VERSION was written by a newer fieldsync: refuse it
** (FDS_SCHEMA) rather than guess at its meaning.
**
** Pragmas:
**  - journal_mode=WAL: readers (a CLI `list` while `sync --watch` runs) do
**    not block the writer and commits are one sequential append.
**  - synchronous=FULL: in WAL mode NORMAL may lose the last commits on
**    power loss; FULL fsyncs the WAL at every commit, so a rep's saved
**    entry, or a cursor advanced past changes we applied, is never lost.
**    Sync bookkeeping the server already holds (a pulled page with its
**    cursor, a push's acks) commits at NORMAL: fds__begin_relaxed in
**    replica.c says why that loses nothing.
**    In-memory replicas (tests) use OFF: there is nothing to sync.
**  - foreign keys: not used; the data model is registers, not relations.
*/
#include "internal.h"
#include "grouplog.h"

#include <stdio.h>

/* One step: its SQL, then (if any) a C function for what SQL cannot do
** (decoding and re-encoding rows), in the same transaction.  fn returns an
** FDS code and writes what went wrong into err. */
typedef struct migration {
    const char *sql;                                /* NULL: none */
    int (*fn)(sqlite3 *db, char *err, size_t errlen);   /* after sql */
    int (*rfn)(fds_replica *r);     /* a step needing the handle (last) */
} migration;

static int migrate_3_4(sqlite3 *db, char *err, size_t errlen);

static const migration migrations[] = {
    /* 0 -> 1: the initial schema (see internal.h). */
    {"CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);"
    "CREATE TABLE reg(tbl TEXT NOT NULL, rid TEXT NOT NULL,"
    " field TEXT NOT NULL, value TEXT, versions TEXT NOT NULL,"
    " conflict INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY(tbl, rid, field)) WITHOUT ROWID;"
    "CREATE INDEX reg_by_value ON reg(tbl, field, value);"
    "CREATE INDEX reg_conflict ON reg(conflict) WHERE conflict <> 0;"
    "CREATE TABLE log(lseq INTEGER PRIMARY KEY, tbl TEXT NOT NULL,"
    " rid TEXT NOT NULL, field TEXT NOT NULL, value TEXT,"
    " vv TEXT NOT NULL, hlc INTEGER NOT NULL, device TEXT NOT NULL,"
    " user TEXT NOT NULL DEFAULT '', origin INTEGER NOT NULL,"
    " acked INTEGER NOT NULL DEFAULT 0, sseq INTEGER NOT NULL DEFAULT 0,"
    " at_ms INTEGER NOT NULL);"
    "CREATE INDEX log_outbox ON log(lseq) WHERE origin = 1 AND acked = 0;"
    "CREATE INDEX log_by_rec ON log(tbl, rid);"
    "CREATE TABLE refusal(id INTEGER PRIMARY KEY, tbl TEXT, rid TEXT,"
    " field TEXT, value TEXT, code INTEGER, message TEXT, at_ms INTEGER);",
     NULL, NULL},
    /* 1 -> 2: reg_by_value indexed every register's value, follow-up and
    ** note text included, and that maintenance was about half of a local
    ** write's CPU cost.  Lookups by value only ever ask for a record's
    ** "customer" (children of a customer) or a customer's phone / WeChat id
    ** (duplicate warnings), so index just those.  A query uses a partial
    ** index only when its WHERE repeats the index's WHERE terms; the
    ** queries in customer.c, history.c, today.c and regstore.c do.
    ** Beware the other side of that rule: when SQLite plans a query (any
    ** but a full primary-key lookup), it compares each "column = ?N" with
    ** the "column = 'literal'" terms of partial index WHEREs, and from then
    ** on re-prepares the statement whenever ?N is re-bound (the value might
    ** make the index usable).  So no index WHERE has a "tbl = ..." term
    ** (every record lookup binds tbl), and a query that binds a field name
    ** without being a full-key lookup writes "field = +?N", still a key
    ** for the planner but never compared with an index's WHERE.
    ** tests/core/test_schema2.c checks that nothing is re-prepared. */
    {"DROP INDEX reg_by_value;"
     "CREATE INDEX reg_by_value ON reg(tbl, value) WHERE field = 'customer';"
     "CREATE INDEX reg_by_contact ON reg(field, value)"
     " WHERE field IN ('phone', 'wechat');", NULL, NULL},
    /* 2 -> 3: rule 13.  After the server was restored from a backup, every
    ** change this replica holds is pushed again; the flag says which are
    ** still to go, so an interrupted re-send goes on in the next session
    ** (the welcome that showed the restore is not seen twice).  Existing
    ** rows get 0: nothing to re-send. */
    {"ALTER TABLE log ADD COLUMN resend INTEGER NOT NULL DEFAULT 0;"
     "CREATE INDEX log_resend ON log(lseq) WHERE resend = 1;", NULL, NULL},
    /* 3 -> 4: one row per record (issue 11; recpack.c, recstore.c).  The
    ** registers of a record, one reg row per field in schema 3, become one
    ** rec row: vals (the winners, canonical JSON: json_extract reads them)
    ** and meta (every version, packed).  Extracted copies of the winners
    ** the lookups by value need, each with a partial index holding only
    ** the rows that have one: cust (a child record's customer: children of
    ** a customer, purges), phone and wechat (a customer's: duplicate
    ** warnings).  Columns rather than expression indexes: a query names
    ** the column, and "cust = ?1" implies the index's "cust IS NOT NULL"
    ** without any "column = 'literal'" term (schema 2 says why those
    ** re-prepare).  conflict counts the fields in conflict.  The reg
    ** rows are converted by fds__migrate_reg_to_rec (recstore.c), then reg
    ** is dropped and a read-only view of that name lists the winners per
    ** field, for people reading the file with the sqlite3 shell. */
    {"CREATE TABLE rec(tbl TEXT NOT NULL, rid TEXT NOT NULL,"
     " vals TEXT NOT NULL, meta BLOB NOT NULL,"
     " conflict INTEGER NOT NULL DEFAULT 0,"
     " cust TEXT, phone TEXT, wechat TEXT,"
     " PRIMARY KEY(tbl, rid)) WITHOUT ROWID;",
     migrate_3_4, NULL},
    /* 4 -> 5: the change log as one row per change group (issue 11;
    ** grouplog.c): a C step on the handle, independent of the registers. */
    {NULL, NULL, fds__glog_migrate},
};

/* After the rows are converted: indexes built once over the full table,
** not maintained row by row. */
static int migrate_3_4(sqlite3 *db, char *err, size_t errlen)
{
    int rc = fds__migrate_reg_to_rec(db, err, errlen);
    if (rc != FDS_OK)
        return rc;
    if (sqlite3_exec(db,
            "DROP TABLE reg;"
            "CREATE INDEX rec_by_cust ON rec(cust) WHERE cust IS NOT NULL;"
            "CREATE INDEX rec_by_phone ON rec(phone) WHERE phone IS NOT NULL;"
            "CREATE INDEX rec_by_wechat ON rec(wechat)"
            " WHERE wechat IS NOT NULL;"
            "CREATE INDEX rec_conflict ON rec(conflict) WHERE conflict <> 0;"
            "CREATE VIEW reg AS SELECT r.tbl AS tbl, r.rid AS rid,"
            " j.key AS field, j.value AS value FROM rec r, json_each(r.vals) j;",
            NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s", sqlite3_errmsg(db));
        return sqlite3_errcode(db) == SQLITE_NOMEM ? FDS_NOMEM : FDS_DB;
    }
    return FDS_OK;
}

#define N_MIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

_Static_assert(N_MIGRATIONS == FDS__SCHEMA_VERSION,
               "one migration per schema version");

static int exec(fds_replica *r, const char *sql, const char *what)
{
    /* Constant DDL/pragma text without parameters: nothing to bind. */
    if (sqlite3_exec(r->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return fds__dberror(r, what);
    return FDS_OK;
}

static int user_version(fds_replica *r, int *v)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(r->db, "PRAGMA user_version", -1, &st, NULL))
        return fds__dberror(r, "reading schema version");
    int rc = sqlite3_step(st);
    *v = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW)
        return fds__dberror(r, "reading schema version");
    return FDS_OK;
}

static int is_wal(fds_replica *r, int *wal)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(r->db, "PRAGMA journal_mode", -1, &st, NULL))
        return fds__dberror(r, "reading journal mode");
    int rc = sqlite3_step(st);
    const unsigned char *m = rc == SQLITE_ROW ? sqlite3_column_text(st, 0)
                                              : NULL;
    *wal = m != NULL && sqlite3_stricmp((const char *)m, "wal") == 0;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW)
        return fds__dberror(r, "reading journal mode");
    return FDS_OK;
}

int fds__schema_open(fds_replica *r, int in_memory)
{
    int v, rc;
    if ((rc = user_version(r, &v)) != FDS_OK)
        return rc;
    if (v > FDS__SCHEMA_VERSION)
        return fds__error(r, FDS_SCHEMA,
                          "replica schema version %d is newer than this "
                          "fieldsync supports (%d)", v, FDS__SCHEMA_VERSION);
    if (in_memory) {
        rc = exec(r, "PRAGMA synchronous=OFF", "setting synchronous");
    } else {
        /* WAL is persistent in the file: switch only once.  Switching needs
        ** an exclusive lock, and SQLite does not wait on a busy handler for
        ** it, so re-issuing it on every open would fail whenever another
        ** process (a running `sync --watch`) has the replica open. */
        int wal;
        rc = is_wal(r, &wal);
        if (rc == FDS_OK && !wal)
            rc = exec(r, "PRAGMA journal_mode=WAL", "enabling WAL");
        if (rc == FDS_OK)
            rc = exec(r, "PRAGMA synchronous=FULL", "setting synchronous");
    }
    if (rc != FDS_OK)
        return rc;
    if (v == FDS__SCHEMA_VERSION)
        return FDS_OK;

    if ((rc = exec(r, "BEGIN IMMEDIATE", "starting migration")) != FDS_OK)
        return rc;
    /* Re-read under the write lock: another process may have migrated. */
    if ((rc = user_version(r, &v)) != FDS_OK)
        goto fail;
    for (; v < FDS__SCHEMA_VERSION; v++) {
        char what[64], bump[64];
        snprintf(what, sizeof what, "migrating schema %d -> %d", v, v + 1);
        if (migrations[v].sql &&
            (rc = exec(r, migrations[v].sql, what)) != FDS_OK)
            goto fail;
        if (migrations[v].fn) {
            char err[FDS__ERRMSG_MAX - 64] = "";
            if ((rc = migrations[v].fn(r->db, err, sizeof err)) != FDS_OK) {
                rc = fds__error(r, rc, "%s: %s", what, err);
                goto fail;
            }
        }
        if (migrations[v].rfn && (rc = migrations[v].rfn(r)) != FDS_OK)
            goto fail;
        snprintf(bump, sizeof bump, "PRAGMA user_version=%d", v + 1);
        if ((rc = exec(r, bump, what)) != FDS_OK)
            goto fail;
    }
    if ((rc = exec(r, "COMMIT", "committing migration")) != FDS_OK)
        goto fail;
    return FDS_OK;
fail:
    sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* Issue 10: fds__schema_open would take any SQLite file with user_version 0
** for an empty replica and create the schema in it, turning another
** program's database (or a fieldsync file whose tables were dropped) into
** a "new replica".  Only a path that did not exist becomes one. */
/* Out of memory is not a verdict on the file (issue 18). */
static int check_oom(fds_replica *r)
{
    return sqlite3_errcode(r->db) == SQLITE_NOMEM;
}

int fds__schema_check(fds_replica *r, const char *path)
{
    int v, rc;
    if ((rc = user_version(r, &v)) != FDS_OK && rc == FDS_NOMEM)
        return rc;
    if (rc != FDS_OK)
        return fds__error(r, FDS_NOTREPLICA, "%s is not a fieldsync "
                          "replica: %s", path, sqlite3_errmsg(r->db));
    if (v > FDS__SCHEMA_VERSION)
        return FDS_OK;                  /* fds__schema_open says FDS_SCHEMA */
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(r->db,
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
            "AND name IN ('meta', 'log', 'glog') OR (type IN ('table', 'view') "
            "AND name = 'reg')", -1, &st, NULL) != SQLITE_OK)
        return check_oom(r) ? fds__dberror(r, "checking the schema") :
               fds__error(r, FDS_NOTREPLICA, "%s is not a fieldsync "
                          "replica: %s", path, sqlite3_errmsg(r->db));
    int n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
    if (n < 0 && check_oom(r)) {
        sqlite3_finalize(st);
        return fds__dberror(r, "checking the schema");
    }
    sqlite3_finalize(st);
    if (n < 0)
        return fds__error(r, FDS_NOTREPLICA, "%s is not a fieldsync "
                          "replica: %s", path, sqlite3_errmsg(r->db));
    if (v == 0 || n != 3)
        return fds__error(r, FDS_NOTREPLICA, "%s is an SQLite database "
                          "without fieldsync's schema (%s), not a fieldsync "
                          "replica; left untouched", path,
                          v == 0 ? "no schema version"
                                 : "its meta, reg and log tables are "
                                   "missing");
    return FDS_OK;
}
