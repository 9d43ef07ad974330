/*
** store_pg.c — the central store on a PostgreSQL database (store.h), for
** several server processes sharing one database: the connection, the
** schema and its versions, the prepared statements, transactions and
** the global order, and the backend table.  The rest of the backend:
** store_pg_merge.c (registers, merge, history, pulls, visibility reads),
** store_pg_users.c (users, tokens, devices, identity), store_pg_backup.c
** (pg_dump), store_pg_sums.c (checksums), store_pg_office.c (the
** office view).
**
** Schema (PostgreSQL backend version 2; `meta.schema`, migrations below in
** `migrations[]`, each run once in order under an advisory lock, as the
** SQLite backend's are):
**   meta(key, value)       schema version, store_id, epoch (rule 13)
**   seqr(id = 1, head, dv) the sequencer: the last history seq handed out
**                          and a counter every write commit bumps
**                          (fsv_store_data_version)
**   hist(seq, tbl, rid, field, value, vv, hlc, device, usr, server_ms,
**        dctr, relay)      the history, one row per accepted change
**   rec(tbl, rid, customer, creator, regs jsonb)  the record index and the
**                          record's registers in one row: regs is
**                          {FIELD: canonical register text} (fds_register_dump)
**   users, tokens(hash bytea), devices, vis_event  as the SQLite backend's
**   ov_*                   the office view (store_pg_office.c)
** Version 2 adds the tables of nested teams and moves (store_pg_teams.c),
** the customer pool (store_pg_pool.c), photos (store_pg_blob.c) and
** duplicate keys (store_pg_dup.c); a version-1 store is upgraded at open.
** Text keys are COLLATE "C" so order and ranges are bytewise, as SQLite's.
**
** The global order (store.h: no gaps below the head).  Sequence numbers
** come from one sequencer row, locked for the whole write transaction:
** fsv_store_begin takes `SELECT ... FROM seqr FOR UPDATE` first, a merge
** hands out head+1, head+2, ..., and commit writes the new head in the
** same row before COMMIT.  So writers that append history commit one
** after another in seq order, and any snapshot a pull reads sees a
** prefix of the history: a pull is never handed seq N+1 while N may still
** commit.  The alternative (reading only below the oldest running
** writer's snapshot, the xmin horizon) lets writers overlap, but needs a
** reader to compute the horizon from pg_snapshot_xmin and a per-row xid,
** and a stalled writer holds every pull back; the sequencer is simple,
** obviously right, and has the same shape as the SQLite backend's single
** writer (BEGIN IMMEDIATE), which sync/ already assumes.  Its cost:
** write transactions of all processes are serialised (the work outside
** them, TLS, decoding, visibility, fan-out, is not); a later change may
** take the lock only at the first merge to let the pre-merge reads
** overlap.  Because the lock is the first statement and is held to the
** end, merges never deadlock with each other, and READ COMMITTED sees
** every earlier commit.  A lock not granted within lock_timeout, a
** deadlock or a serialization failure is FSV_BUSY (begin itself retries
** the lock once more first: nothing has been done then).  lock_timeout
** is 5 s unless the URL sets it (options=-c%20lock_timeout%3D...).
*/
#include "store.h"
#include "store_pg_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>

#define PG_SCHEMA_VERSION 2
#define PG_BEGIN_TRIES 2          /* begin's attempts at the sequencer lock */

/* Version 1: the whole schema.  Each later version appends one entry. */
static const char *const migrations[] = {
    /* -> 1 */
    "CREATE TABLE IF NOT EXISTS seqr(id int PRIMARY KEY CHECK (id = 1),"
    "  head bigint NOT NULL, dv bigint NOT NULL);"
    "INSERT INTO seqr VALUES (1, 0, 0) ON CONFLICT DO NOTHING;"
    "CREATE TABLE IF NOT EXISTS hist(seq bigint PRIMARY KEY,"
    "  tbl text COLLATE \"C\" NOT NULL, rid text COLLATE \"C\" NOT NULL,"
    "  field text NOT NULL, value text, vv text NOT NULL, hlc bigint NOT NULL,"
    "  device text COLLATE \"C\" NOT NULL, usr text NOT NULL,"
    "  server_ms bigint NOT NULL, dctr bigint, relay text);"
    "CREATE INDEX IF NOT EXISTS hist_rec ON hist(tbl, rid);"
    "CREATE INDEX IF NOT EXISTS hist_dctr ON hist(device, dctr);"
    "CREATE TABLE IF NOT EXISTS rec(tbl text COLLATE \"C\" NOT NULL,"
    "  rid text COLLATE \"C\" NOT NULL, customer text COLLATE \"C\","
    "  creator text NOT NULL, regs jsonb NOT NULL DEFAULT '{}',"
    "  conflicts int NOT NULL DEFAULT 0, PRIMARY KEY (tbl, rid));"
    "CREATE INDEX IF NOT EXISTS rec_customer ON rec(customer);"
    "CREATE TABLE IF NOT EXISTS users(name text COLLATE \"C\" PRIMARY KEY,"
    "  role text NOT NULL, team text NOT NULL DEFAULT '',"
    "  disabled int NOT NULL DEFAULT 0, created_ms bigint NOT NULL);"
    "CREATE TABLE IF NOT EXISTS tokens(token_id text COLLATE \"C\" PRIMARY KEY,"
    "  usr text NOT NULL REFERENCES users(name), hash bytea NOT NULL UNIQUE,"
    "  created_ms bigint NOT NULL, revoked_ms bigint, last_used_ms bigint);"
    "CREATE INDEX IF NOT EXISTS tokens_by_user ON tokens(usr);"
    "CREATE TABLE IF NOT EXISTS devices(device text COLLATE \"C\" PRIMARY KEY,"
    "  usr text NOT NULL, token_id text, last_sync_ms bigint,"
    "  last_head bigint, counter bigint NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS vis_event(seq bigint PRIMARY KEY,"
    "  customer text NOT NULL, usr text NOT NULL, kind int NOT NULL DEFAULT 0);"
    /* The office view's projections (store_pg_office.c). */
    "CREATE TABLE IF NOT EXISTS ov_cust(rid text COLLATE \"C\" PRIMARY KEY,"
    "  owner text NOT NULL, name text, skey bytea NOT NULL, stage text,"
    "  amount double precision, close text, birthday text, company text,"
    "  phone text, deleted int NOT NULL DEFAULT 0, next_k bigint NOT NULL,"
    "  last_k bigint NOT NULL, amt_k double precision NOT NULL);"
    "CREATE INDEX IF NOT EXISTS ov_cust_name ON ov_cust(skey, rid);"
    "CREATE INDEX IF NOT EXISTS ov_cust_owner ON ov_cust(owner);"
    "CREATE TABLE IF NOT EXISTS ov_child(tbl text COLLATE \"C\" NOT NULL,"
    "  rid text COLLATE \"C\" NOT NULL, customer text COLLATE \"C\","
    "  at bigint, txt text, done int NOT NULL DEFAULT 0,"
    "  deleted int NOT NULL DEFAULT 0, PRIMARY KEY (tbl, rid));"
    "CREATE INDEX IF NOT EXISTS ov_child_cust ON ov_child(customer, tbl, at);"
    "CREATE INDEX IF NOT EXISTS ov_child_time ON ov_child(tbl, at);"
    "CREATE TABLE IF NOT EXISTS ov_seen(customer text COLLATE \"C\" NOT NULL,"
    "  stage text NOT NULL, PRIMARY KEY (customer, stage));"
    "CREATE TABLE IF NOT EXISTS ov_share(usr text NOT NULL,"
    "  customer text COLLATE \"C\" NOT NULL, PRIMARY KEY (usr, customer));",
    /* -> 2: nested teams and moves (store_pg_teams.c), the customer pool
    ** (store_pg_pool.c), photos (store_pg_blob.c), duplicate keys
    ** (store_pg_dup.c; migrate() fills them from rec). */
    "CREATE TABLE IF NOT EXISTS teams(name text COLLATE \"C\" PRIMARY KEY,"
    "  parent text NOT NULL DEFAULT '');"
    "CREATE TABLE IF NOT EXISTS user_move(id bigserial PRIMARY KEY,"
    "  usr text NOT NULL, old_team text NOT NULL, old_role text NOT NULL,"
    "  new_team text NOT NULL, new_role text NOT NULL, at_ms bigint NOT NULL);"
    "CREATE TABLE IF NOT EXISTS dev_move(device text COLLATE \"C\" PRIMARY KEY,"
    "  done bigint NOT NULL);"
    /* Users' teams from before teams nested: top-level teams. */
    "INSERT INTO teams(name, parent) SELECT DISTINCT team, '' FROM users"
    "  WHERE team NOT IN ('', '*') ON CONFLICT DO NOTHING;"
    "CREATE TABLE IF NOT EXISTS pool_rules(id int PRIMARY KEY CHECK (id = 1),"
    "  return_days bigint NOT NULL DEFAULT 0,"
    "  warn_days bigint NOT NULL DEFAULT 0,"
    "  cooldown_days bigint NOT NULL DEFAULT 0,"
    "  max_claims_per_day bigint NOT NULL DEFAULT 0,"
    "  max_owned bigint NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS pool_cust(customer text COLLATE \"C\""
    "  PRIMARY KEY, team text NOT NULL, in_pool int NOT NULL, since_ms bigint,"
    "  former text NOT NULL DEFAULT '', claimed_by text NOT NULL DEFAULT '',"
    "  claimed_ms bigint NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS pool_cust_team ON pool_cust(team)"
    "  WHERE in_pool = 1;"
    "CREATE TABLE IF NOT EXISTS pool_log(customer text NOT NULL,"
    "  usr text NOT NULL, kind text NOT NULL, team text NOT NULL,"
    "  at_ms bigint NOT NULL);"
    "CREATE INDEX IF NOT EXISTS pool_log_user ON pool_log(usr, kind, at_ms);"
    "CREATE INDEX IF NOT EXISTS pool_log_at ON pool_log(at_ms);"
    "CREATE TABLE IF NOT EXISTS blob_ref(sha text COLLATE \"C\" NOT NULL,"
    "  followup text COLLATE \"C\" NOT NULL, size bigint NOT NULL,"
    "  PRIMARY KEY (sha, followup));"
    "CREATE INDEX IF NOT EXISTS blob_ref_by_followup ON blob_ref(followup);"
    "CREATE TABLE IF NOT EXISTS blob(sha text COLLATE \"C\" PRIMARY KEY,"
    "  size bigint NOT NULL, usr text NOT NULL, at_ms bigint NOT NULL);"
    "CREATE INDEX IF NOT EXISTS blob_by_user ON blob(usr, at_ms);"
    "CREATE TABLE IF NOT EXISTS dup_key(key text COLLATE \"C\" NOT NULL,"
    "  customer text COLLATE \"C\" NOT NULL, PRIMARY KEY (key, customer));"
    "CREATE INDEX IF NOT EXISTS dup_key_cust ON dup_key(customer);"
    "CREATE TABLE IF NOT EXISTS dup_notice(usr text NOT NULL,"
    "  at bigint NOT NULL);"
    "CREATE INDEX IF NOT EXISTS dup_notice_user ON dup_notice(usr, at);",
};
#define N_MIGRATIONS (int)(sizeof migrations / sizeof migrations[0])

static const char *const ps_sql[PS__COUNT] = {
    [PS_HEAD] = "SELECT head FROM seqr WHERE id=1",
    [PS_HIST_COUNT] = "SELECT count(*) FROM hist",
    [PS_SEQ_LOCK] = "SELECT head, dv FROM seqr WHERE id=1 FOR UPDATE",
    [PS_SEQ_BUMP] = "UPDATE seqr SET head=$1, dv=dv+1 WHERE id=1 RETURNING dv",
    [PS_DV] = "SELECT dv FROM seqr WHERE id=1",
    [PS_META_GET] = "SELECT value FROM meta WHERE key=$1",
    [PS_USER_ADD] = "INSERT INTO users(name, role, team, created_ms)"
                    " VALUES ($1, $2, $3, $4)",
    [PS_USER_GET] = "SELECT name, role, team, disabled FROM users WHERE name=$1",
    [PS_USER_LIST] = "SELECT u.name, u.role, u.team, u.disabled, u.created_ms,"
                     " (SELECT count(*) FROM tokens t WHERE t.usr=u.name"
                     "  AND t.revoked_ms IS NULL) FROM users u ORDER BY u.name",
    [PS_USER_DISABLE] = "UPDATE users SET disabled=1 WHERE name=$1",
    [PS_TOKEN_ADD] = "INSERT INTO tokens(token_id, usr, hash, created_ms)"
                     " VALUES ($1, $2, $3, $4)",
    [PS_TOKEN_AUTH] = "SELECT t.hash, t.token_id, u.name, u.role, u.team"
                      " FROM tokens t JOIN users u ON u.name=t.usr"
                      " WHERE t.hash=$1 AND t.revoked_ms IS NULL"
                      " AND u.disabled=0",
    [PS_TOKEN_TOUCH] = "UPDATE tokens SET last_used_ms=$2 WHERE token_id=$1",
    [PS_TOKEN_LIST] = "SELECT token_id, usr, created_ms, revoked_ms,"
                      " last_used_ms FROM tokens WHERE usr=$1"
                      " ORDER BY created_ms, token_id",
    [PS_TOKEN_REVOKE] = "UPDATE tokens SET revoked_ms=$2 WHERE token_id=$1"
                        " AND revoked_ms IS NULL",
    [PS_TOKEN_LIVE] = "SELECT (t.revoked_ms IS NULL AND u.disabled=0)::int"
                      " FROM tokens t JOIN users u ON u.name=t.usr"
                      " WHERE t.token_id=$1",
    /* The user is the device's binding (rule 11): never rewritten here. */
    [PS_DEVICE_SEEN] = "INSERT INTO devices(device, usr, token_id,"
                       " last_sync_ms, last_head) VALUES ($1, $2, $3, $4, $5)"
                       " ON CONFLICT(device) DO UPDATE SET"
                       " token_id=excluded.token_id,"
                       " last_sync_ms=excluded.last_sync_ms,"
                       " last_head=excluded.last_head",
    [PS_DEVICE_GET] = "SELECT usr, counter FROM devices WHERE device=$1",
    [PS_DEVICE_ACCEPT] = "INSERT INTO devices(device, usr, counter)"
                         " VALUES ($1, $2, $3) ON CONFLICT(device) DO UPDATE"
                         " SET counter=greatest(devices.counter,"
                         " excluded.counter)",
    [PS_DEVICE_ROWS] = "SELECT device, usr, coalesce(last_sync_ms, 0)"
                       " FROM devices ORDER BY coalesce(last_sync_ms, 0) DESC,"
                       " device",
    [PS_REC_GET] = "SELECT customer, creator, regs->>$3,"
                   " (SELECT count(*) FROM jsonb_object_keys(regs))"
                   " FROM rec WHERE tbl=$1 AND rid=$2",
    [PS_HIST_ADD] = "INSERT INTO hist(seq, tbl, rid, field, value, vv, hlc,"
                    " device, usr, server_ms, dctr, relay)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,"
                    " $12)",
    [PS_SCAN] = "SELECT h.seq, h.tbl, h.rid, h.field, h.value, h.vv, h.hlc,"
                " h.device, h.usr, h.server_ms, r.customer, r.creator,"
                " (r.tbl IS NOT NULL)::int"
                " FROM hist h LEFT JOIN rec r ON r.tbl=h.tbl AND r.rid=h.rid"
                " WHERE h.seq > $1 AND h.seq <= $3 ORDER BY h.seq LIMIT $2",
    [PS_PREFIX] = "SELECT rid, regs->>$4 FROM rec WHERE tbl=$1"
                  " AND rid >= $2 AND rid < $3 ORDER BY rid",
    [PS_BY_COUNTER] = "SELECT tbl, rid, field, value, vv, hlc, device, usr,"
                      " seq, server_ms FROM hist WHERE device=$1 AND dctr=$2"
                      " ORDER BY seq LIMIT 1",
    [PS_VISEV_ADD] = "INSERT INTO vis_event(seq, customer, usr, kind)"
                     " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    [PS_VISEV_LIST] = "SELECT customer, usr, kind FROM vis_event"
                      " WHERE seq > $1 AND seq <= $2"
                      " GROUP BY customer, usr, kind ORDER BY min(seq)",
    [PS_CUST_REGS] = "SELECT tbl, rid, regs::text FROM rec"
                     " WHERE tbl='customer' AND rid=$1"
                     " UNION ALL SELECT tbl, rid, regs::text FROM rec"
                     " WHERE customer=$1 AND tbl<>'customer'",
    [PS_REC_REGS] = "SELECT tbl, rid, regs::text FROM rec"
                    " WHERE tbl=$1 AND rid=$2",
    [PS_REC_ROW] = "SELECT customer, creator, regs::text, conflicts FROM rec"
                   " WHERE tbl=$1 AND rid=$2",
    /* A write transaction's rows in one statement each (store_pg_batch.c):
    ** the columns as arrays, unnested side by side. */
    [PS_HIST_PUT] = "INSERT INTO hist(seq, tbl, rid, field, value, vv, hlc,"
                    " device, usr, server_ms, dctr, relay)"
                    " SELECT * FROM unnest($1::bigint[], $2::text[],"
                    " $3::text[], $4::text[], $5::text[], $6::text[],"
                    " $7::bigint[], $8::text[], $9::text[], $10::bigint[],"
                    " $11::bigint[], $12::text[])",
    [PS_REC_ROWS] = "SELECT rid, customer, creator, regs::text, conflicts"
                    " FROM rec WHERE tbl=$1 AND rid = ANY($2::text[])",
    [PS_SHARE_ROWS] = "SELECT r.rid, r.customer, r.creator, r.regs::text,"
                      " r.conflicts FROM unnest($1::text[]) AS c(id)"
                      " JOIN rec r ON r.tbl='share' AND r.rid >= c.id || ':'"
                      " AND r.rid < c.id || ';'",
    [PS_REC_PUTS] = "INSERT INTO rec(tbl, rid, customer, creator, regs,"
                    " conflicts) SELECT t, r, c, k, g::jsonb, n FROM"
                    " unnest($1::text[], $2::text[], $3::text[], $4::text[],"
                    " $5::text[], $6::int[]) AS u(t, r, c, k, g, n)"
                    " ON CONFLICT (tbl, rid) DO UPDATE SET"
                    " customer=excluded.customer, regs=excluded.regs,"
                    " conflicts=excluded.conflicts",
};

int64_t fsv__pg_now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* The interface's code for a failed statement: the retryable ones are
** FSV_BUSY (store.h: roll back, run the whole transaction again). */
static int code_of(const PGresult *r)
{
    const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (!st)
        return FSV_ERROR;
    if (strcmp(st, "40001") == 0 ||     /* serialization_failure */
        strcmp(st, "40P01") == 0 ||     /* deadlock_detected */
        strcmp(st, "55P03") == 0)       /* lock_not_available (lock_timeout) */
        return FSV_BUSY;
    if (strcmp(st, "23505") == 0)       /* unique_violation */
        return FSV_EXISTS;
    return FSV_ERROR;
}

static int fail(fsv_store *s, PGresult *r, const char *what)
{
    int rc = code_of(r);
    const char *msg = r ? PQresultErrorMessage(r) : "";
    if (!msg || !msg[0])
        msg = PQerrorMessage(PG(s)->db);
    size_t len = strlen(msg);
    while (len && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
        len--;
    seterr(s, rc, "store: %s: %.*s", what, (int)len, msg);
    PQclear(r);
    return rc;
}

static int prepare(fsv_store *s, int slot)
{
    if (PG(s)->prepared[slot])
        return FSV_OK;
    char name[16];
    snprintf(name, sizeof name, "s%d", slot);
    PGresult *r = PQprepare(PG(s)->db, name, ps_sql[slot], 0, NULL);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        return fail(s, r, "prepare");
    PQclear(r);
    PG(s)->prepared[slot] = 1;
    return FSV_OK;
}

PGresult *fsv__pg_exec(fsv_store *s, int slot, const pgp *p, const char *what,
                       int *rc)
{
    /* Statements that read rec rows see the memo's merges written. */
    if (slot == PS_PREFIX || slot == PS_CUST_REGS || slot == PS_REC_REGS ||
        slot == PS_SCAN || slot == PS_BY_COUNTER || slot == PS_HIST_COUNT) {
        *rc = fsv__pg_memo_flush(s);
        if (*rc != FSV_OK)
            return NULL;
    }
    *rc = prepare(s, slot);
    if (*rc != FSV_OK)
        return NULL;
    char name[16];
    snprintf(name, sizeof name, "s%d", slot);
    PGresult *r = PQexecPrepared(PG(s)->db, name, p ? p->n : 0,
                                 p ? p->v : NULL, p ? p->len : NULL,
                                 p ? p->fmt : NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        *rc = fail(s, r, what);
        return NULL;
    }
    *rc = FSV_OK;
    return r;
}

int fsv__pg_run(fsv_store *s, int slot, const pgp *p, const char *what,
                int64_t *changed)
{
    int rc;
    PGresult *r = fsv__pg_exec(s, slot, p, what, &rc);
    if (!r)
        return rc;
    if (changed)
        *changed = strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return FSV_OK;
}

PGresult *fsv__pg_q(fsv_store *s, const char *sql, const pgp *p,
                    const char *what, int *rc)
{
    PGresult *r = PQexecParams(PG(s)->db, sql, p ? p->n : 0, NULL,
                               p ? p->v : NULL, p ? p->len : NULL,
                               p ? p->fmt : NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        *rc = fail(s, r, what);
        return NULL;
    }
    *rc = FSV_OK;
    return r;
}

int fsv__pg_qrun(fsv_store *s, const char *sql, const pgp *p,
                 const char *what, int64_t *changed)
{
    int rc;
    PGresult *r = fsv__pg_q(s, sql, p, what, &rc);
    if (!r)
        return rc;
    if (changed)
        *changed = strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return FSV_OK;
}

int fsv__pg_sql(fsv_store *s, const char *sql, const char *what)
{
    PGresult *r = PQexec(PG(s)->db, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        return fail(s, r, what);
    PQclear(r);
    return FSV_OK;
}

/* ---- Open: connection, schema, identity ------------------------------------ */

static void quiet(void *arg, const char *msg)
{
    (void)arg;      /* NOTICEs ("relation exists, skipping") are not ours */
    (void)msg;
}

/* The schema version stored (0: no meta table, or no row). */
static int schema_version(fsv_store *s, int *v)
{
    *v = 0;
    /* Two statements: a query naming meta fails to plan without it. */
    PGresult *r = PQexec(PG(s)->db, "SELECT to_regclass('meta') IS NOT NULL");
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return fail(s, r, "schema version");
    int has = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (!has)
        return FSV_OK;
    r = PQexec(PG(s)->db, "SELECT coalesce((SELECT value::int FROM meta"
               " WHERE key='schema'), 0)");
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return fail(s, r, "schema version");
    *v = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    return FSV_OK;
}

/* Make or upgrade the schema, in one transaction under an advisory lock
** so two processes opening one new database do not race. */
static int migrate(fsv_store *s)
{
    int v = 0, rc = fsv__pg_sql(s, "BEGIN", "begin");
    if (rc == FSV_OK)
        rc = fsv__pg_sql(s, "SELECT pg_advisory_xact_lock(7239561001)",
                         "schema lock");
    if (rc == FSV_OK)
        rc = fsv__pg_sql(s, "CREATE TABLE IF NOT EXISTS meta("
                         "key text PRIMARY KEY, value text NOT NULL)", "schema");
    if (rc == FSV_OK)
        rc = schema_version(s, &v);
    if (rc == FSV_OK && v > PG_SCHEMA_VERSION)
        rc = seterr(s, FSV_ERROR, "store schema %d is newer than this server's"
                    " (%d): upgrade fieldsync-server", v, PG_SCHEMA_VERSION);
    for (int i = v; rc == FSV_OK && i < N_MIGRATIONS; i++) {
        rc = fsv__pg_sql(s, migrations[i], "migrate schema");
        /* -> 2: the duplicate keys of the customers already kept. */
        if (rc == FSV_OK && i + 1 == 2)
            rc = fsv__pg_dup_fill(s);
    }
    if (rc == FSV_OK && v < PG_SCHEMA_VERSION) {
        char uuid[FSV_STORE_ID_LEN + 1], sql[256];
        if (fsv__store_new_id(uuid) != 0)
            rc = seterr(s, FSV_ERROR, "store: the random source failed");
        if (rc == FSV_OK) {
            /* Store id and epoch (rule 13) are made once, with the schema. */
            snprintf(sql, sizeof sql,
                     "INSERT INTO meta VALUES ('store_id', '%s'),"
                     " ('epoch', '%lld') ON CONFLICT DO NOTHING",
                     uuid, (long long)fsv__pg_now_ms());
            rc = fsv__pg_sql(s, sql, "store id");
        }
        if (rc == FSV_OK) {
            snprintf(sql, sizeof sql,
                     "INSERT INTO meta VALUES ('schema', '%d') ON CONFLICT"
                     " (key) DO UPDATE SET value=excluded.value",
                     PG_SCHEMA_VERSION);
            rc = fsv__pg_sql(s, sql, "schema version");
        }
    }
    if (rc == FSV_OK)
        return fsv__pg_sql(s, "COMMIT", "commit schema");
    char keep[sizeof s->errmsg];
    memcpy(keep, s->errmsg, sizeof keep);
    PQclear(PQexec(PG(s)->db, "ROLLBACK"));
    memcpy(s->errmsg, keep, sizeof keep);
    return rc;
}

int fsv_pg_open(const char *where, int create, fsv_store **out, char *err,
                size_t errlen)
{
    *out = NULL;
    fsv_store *s = calloc(1, sizeof(fsv_pg));
    size_t n = strlen(where) + sizeof "postgresql:";
    char *url = malloc(n);
    if (!s || !url) {
        free(s);
        free(url);
        snprintf(err, errlen, "out of memory");
        return FSV_NOMEM;
    }
    /* libpq takes the whole URL (postgresql://[user@]host/db?param=...). */
    snprintf(url, n, "postgresql:%s", where);
    PG(s)->db = PQconnectdb(url);
    PG(s)->url = url;
    if (PQstatus(PG(s)->db) != CONNECTION_OK) {
        snprintf(err, errlen, "cannot connect to the PostgreSQL store: %s",
                 PG(s)->db ? PQerrorMessage(PG(s)->db) : "out of memory");
        size_t l = strlen(err);
        while (l && err[l - 1] == '\n')
            err[--l] = '\0';
        fsv_pg_close(s);
        return FSV_ERROR;
    }
    PQsetNoticeProcessor(PG(s)->db, quiet, NULL);
    /* A writer waiting for the sequencer longer than this is told busy;
    ** UTC and UTF-8 whatever the server's defaults. */
    int rc = fsv__pg_sql(s, "SET TIME ZONE 'UTC'; SET client_encoding ="
                         " 'UTF8'", "connection setup");
    /* Unless the URL set one (options=-c lock_timeout=...), 5 s, as the
    ** SQLite backend's busy timeout: serve's event loop waits that long
    ** at most per attempt. */
    PGresult *lt = rc == FSV_OK ? PQexec(PG(s)->db, "SHOW lock_timeout") : NULL;
    if (lt && PQresultStatus(lt) == PGRES_TUPLES_OK &&
        strcmp(PQgetvalue(lt, 0, 0), "0") == 0)
        rc = fsv__pg_sql(s, "SET lock_timeout = '5s'", "connection setup");
    PQclear(lt);
    int v = 0;
    if (rc == FSV_OK && !create) {
        rc = schema_version(s, &v);
        if (rc == FSV_OK && v == 0) {
            snprintf(err, errlen, "the PostgreSQL database has no fieldsync"
                     " store (run `fieldsync-server init --store URL` first)");
            fsv_pg_close(s);
            return FSV_NOTFOUND;
        }
    }
    if (rc == FSV_OK && (create || v < PG_SCHEMA_VERSION))
        rc = migrate(s);
    if (rc == FSV_OK)
        rc = fsv_pg_data_version(s, &PG(s)->dv_seen);
    if (rc != FSV_OK) {
        snprintf(err, errlen, "cannot set up the PostgreSQL store: %s",
                 s->errmsg);
        fsv_pg_close(s);
        return rc;
    }
    PG(s)->dv_ver = 0;
    *out = s;
    return FSV_OK;
}

void fsv_pg_close(fsv_store *s)
{
    if (!s)
        return;
    fsv__pg_office_free(s);
    fsv__pg_memo_free(s);
    fsv__pg_hist_free(s);
    fsv__pg_notes_free(s);
    fsv__pg_notify_free(s);
    PQfinish(PG(s)->db);
    free(PG(s)->url);
    free(s);
}

/* ---- Transactions --------------------------------------------------------- */

static void quiet_rollback(fsv_store *s)
{
    PQclear(PQexec(PG(s)->db, "ROLLBACK"));
}

int fsv_pg_begin(fsv_store *s)
{
    fsv__pg_office_clear(s);
    fsv__pg_memo_clear(s);
    fsv__pg_hist_clear(s);
    fsv__pg_notes_clear(s);
    int rc = FSV_BUSY;
    for (int i = 0; i < PG_BEGIN_TRIES && rc == FSV_BUSY; i++) {
        rc = fsv__pg_sql(s, "BEGIN ISOLATION LEVEL READ COMMITTED", "begin");
        PGresult *r = rc == FSV_OK
                          ? fsv__pg_exec(s, PS_SEQ_LOCK, NULL, "sequencer", &rc)
                          : NULL;
        if (r && PQntuples(r) != 1) {
            rc = seterr(s, FSV_ERROR, "store: the sequencer row is missing");
        } else if (r) {
            PG(s)->head = col_i64(r, 0, 0);
        }
        PQclear(r);
        if (rc != FSV_OK)
            quiet_rollback(s);
    }
    PG(s)->in_tx = PG(s)->write_tx = rc == FSV_OK;
    return rc;
}

int fsv_pg_begin_read(fsv_store *s)
{
    /* One snapshot for every statement of the read transaction; its
    ** records memo starts empty (store_pg_memo.c). */
    fsv__pg_memo_clear(s);
    int rc = fsv__pg_sql(s, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                         "begin");
    PG(s)->in_tx = rc == FSV_OK;
    PG(s)->write_tx = 0;
    return rc;
}

int fsv_pg_commit(fsv_store *s)
{
    int rc = FSV_OK;
    /* The merged records, then the office view's projections of them. */
    if (PG(s)->write_tx)
        rc = fsv__pg_memo_flush(s);
    if (rc == FSV_OK && PG(s)->write_tx)
        rc = fsv__pg_notes_give(s);
    if (rc == FSV_OK && PG(s)->write_tx)
        rc = fsv__pg_office_flush(s);
    if (rc == FSV_OK && PG(s)->write_tx) {
        /* The new head and the data version, in the row we hold. */
        pgp p = {0};
        p_i64(&p, PG(s)->head);
        PGresult *r = fsv__pg_exec(s, PS_SEQ_BUMP, &p, "sequencer", &rc);
        if (r && PQntuples(r) == 1) {
            int64_t dv = col_i64(r, 0, 0);
            /* Another handle committed since we last looked. */
            if (dv != PG(s)->dv_seen + 1)
                PG(s)->dv_ver++;
            PG(s)->dv_seen = dv;
        }
        PQclear(r);
    }
    /* One NOTIFY per committed write transaction, not per change: it is
    ** delivered at COMMIT (and dropped on rollback), the payload is the
    ** new head, and the other serve processes' LISTEN connections wake
    ** at once (store_pg_notify.c). */
    if (rc == FSV_OK && PG(s)->write_tx) {
        char sql[64];
        snprintf(sql, sizeof sql, "NOTIFY fieldsync, '%lld'",
                 (long long)PG(s)->head);
        rc = fsv__pg_sql(s, sql, "notify");
    }
    if (rc == FSV_OK)
        rc = fsv__pg_sql(s, "COMMIT", "commit");
    if (rc != FSV_OK) {
        char keep[sizeof s->errmsg];
        memcpy(keep, s->errmsg, sizeof keep);
        quiet_rollback(s);
        memcpy(s->errmsg, keep, sizeof keep);
    }
    fsv__pg_memo_clear(s);
    fsv__pg_hist_clear(s);
    fsv__pg_notes_clear(s);
    PG(s)->in_tx = PG(s)->write_tx = 0;
    return rc;
}

int fsv_pg_rollback(fsv_store *s)
{
    fsv__pg_office_clear(s);
    fsv__pg_memo_clear(s);
    fsv__pg_hist_clear(s);
    fsv__pg_notes_clear(s);
    int was = PG(s)->in_tx;
    PG(s)->in_tx = PG(s)->write_tx = 0;
    if (!was && PQtransactionStatus(PG(s)->db) == PQTRANS_IDLE)
        return FSV_OK;
    return fsv__pg_sql(s, "ROLLBACK", "rollback");
}

int fsv__pg_auto_begin(fsv_store *s, int *mine)
{
    *mine = !PG(s)->in_tx;
    return *mine ? fsv_pg_begin(s) : FSV_OK;
}

int fsv__pg_auto_end(fsv_store *s, int mine, int rc)
{
    if (!mine)
        return rc;
    if (rc == FSV_OK)
        return fsv_pg_commit(s);
    char keep[sizeof s->errmsg];
    memcpy(keep, s->errmsg, sizeof keep);
    fsv_pg_rollback(s);
    memcpy(s->errmsg, keep, sizeof keep);
    return rc;
}

static int one_i64(fsv_store *s, int slot, const char *what, int64_t *out)
{
    int rc;
    PGresult *r = fsv__pg_exec(s, slot, NULL, what, &rc);
    if (!r)
        return rc;
    *out = PQntuples(r) ? col_i64(r, 0, 0) : 0;
    PQclear(r);
    return FSV_OK;
}

int fsv_pg_head(fsv_store *s, int64_t *head)
{
    if (PG(s)->write_tx) {
        *head = PG(s)->head;    /* ours, with this transaction's changes */
        return FSV_OK;
    }
    /* The sequencer row's head: everything at or below it committed (the
    ** row is written in the transaction that appended them). */
    return one_i64(s, PS_HEAD, "head", head);
}

int fsv_pg_history_count(fsv_store *s, int64_t *n)
{
    return one_i64(s, PS_HIST_COUNT, "history count", n);
}

int fsv_pg_data_version(fsv_store *s, int64_t *version)
{
    int64_t dv = 0;
    int rc = one_i64(s, PS_DV, "data version", &dv);
    if (rc != FSV_OK)
        return rc;
    if (dv != PG(s)->dv_seen) {
        PG(s)->dv_seen = dv;
        PG(s)->dv_ver++;
    }
    *version = PG(s)->dv_ver;
    return FSV_OK;
}

/* ---- The backend table (store_backend.h) -------------------------------- */

#define PG_ENTRIES                                   \
    .open = fsv_pg_open,                             \
    .close = fsv_pg_close,                           \
    .backup = fsv_pg_backup,                         \
    .begin = fsv_pg_begin,                           \
    .begin_read = fsv_pg_begin_read,                 \
    .commit = fsv_pg_commit,                         \
    .rollback = fsv_pg_rollback,                     \
    .head = fsv_pg_head,                             \
    .history_count = fsv_pg_history_count,           \
    .merge_change = fsv_pg_merge_change,             \
    .merge_relayed = fsv_pg_merge_relayed,           \
    .field_count = fsv_pg_field_count,               \
    .field_value = fsv_pg_field_value,               \
    .changes_after = fsv_pg_changes_after,           \
    .record_info = fsv_pg_record_info,               \
    .prefix_values = fsv_pg_prefix_values,           \
    .user_add = fsv_pg_user_add,                     \
    .user_get = fsv_pg_user_get,                     \
    .user_rows = fsv_pg_user_rows,                   \
    .user_disable = fsv_pg_user_disable,             \
    .token_add = fsv_pg_token_add,                   \
    .token_auth = fsv_pg_token_auth,                 \
    .token_rows = fsv_pg_token_rows,                 \
    .token_revoke = fsv_pg_token_revoke,             \
    .device_seen = fsv_pg_device_seen,               \
    .token_live = fsv_pg_token_live,                 \
    .data_version = fsv_pg_data_version,             \
    .notify_fd = fsv_pg_notify_fd,                   \
    .notify_drain = fsv_pg_notify_drain,             \
    .vis_event_add = fsv_pg_vis_event_add,           \
    .vis_events = fsv_pg_vis_events,                 \
    .customer_state = fsv_pg_customer_state,         \
    .identity = fsv_pg_identity,                     \
    .device_get = fsv_pg_device_get,                 \
    .device_accept = fsv_pg_device_accept,           \
    .change_by_counter = fsv_pg_change_by_counter,   \
    .device_rows = fsv_pg_device_rows,               \
    .api_token_check = fsv_pg_api_token_check,       \
    .api_register = fsv_pg_api_register,             \
    .sum_keys = fsv_pg_sum_keys,                         \
    .record_state = fsv_pg_record_state,             \
    .office_page = fsv_pg_office_page,                   \
    .office_values = fsv_pg_office_values,               \
    .customer_history = fsv_pg_customer_history,         \
    .office_customers = fsv_pg_office_customers,         \
    .office_children = fsv_pg_office_children,           \
    .office_reached = fsv_pg_office_reached,             \
    .office_conflicts = fsv_pg_office_conflicts,         \
    .teams_load = fsv_pg_teams_load,                     \
    .team_put = fsv_pg_team_put,                         \
    .user_set = fsv_pg_user_set,                         \
    .moves = fsv_pg_moves,                               \
    .move_done = fsv_pg_move_done,                       \
    .move_done_set = fsv_pg_move_done_set,               \
    .owned_customers = fsv_pg_owned_customers,           \
    .blob_refs_set = fsv_pg_blob_refs_set,               \
    .blob_followups = fsv_pg_blob_followups,             \
    .blob_stored = fsv_pg_blob_stored,                   \
    .blob_usage = fsv_pg_blob_usage,                     \
    .pool_rules_get = fsv_pg_pool_rules_get,             \
    .pool_rules_set = fsv_pg_pool_rules_set,             \
    .pool_get = fsv_pg_pool_get,                         \
    .pool_put = fsv_pg_pool_put,                         \
    .pool_log = fsv_pg_pool_log,                         \
    .pool_log_count = fsv_pg_pool_log_count,             \
    .pool_owned = fsv_pg_pool_owned,                     \
    .pool_figures = fsv_pg_pool_figures,                 \
    .dup_matches = fsv_pg_dup_matches,                   \
    .dup_notice = fsv_pg_dup_notice,                     \
    .dup_list = fsv_pg_dup_list

/* Both schemes libpq accepts name this backend. */
const fsv_store_backend fsv_store_postgres = {.scheme = "postgresql",
                                              PG_ENTRIES};
const fsv_store_backend fsv_store_postgres_alias = {.scheme = "postgres",
                                                    PG_ENTRIES};
