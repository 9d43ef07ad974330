/*
** store_sqlite_office_agg.c — the office view's aggregates (issue 19):
** what the dashboard's figures sum, kept by delta in the merge
** transaction by the projections' derivation (store_sqlite_office.c calls
** the fsv__sq_agg_* hooks with a row's state before and after), keyed by
** the customer's effective owner ("" when it has none: a pool customer),
** so a scope's figures are a sum over the rows of its owners:
**   ov_ag_cust(owner, stage, month, n, n_amt, cents, rem)
**       live customers per owner, stage ("" none) and month of expected
**       close ("" unless it has an amount and a close of 7+ bytes: the
**       forecast's key); n_amt of them with an amount, whose sum is
**       cents/100 + rem (whole cents add exactly; rem takes the rest)
**   ov_ag_seen(owner, stage, n)   live customers that had that stage
**   ov_ag_day(kind, day, owner, author, n)   per UTC day (ms / 86400000,
**       floored): kind 0 live follow-ups (author), 1 open plans by due
** Customers shared with a user outside the owners of the user's scope
** (few) are read one by one (the "extras").  A time range is its whole
** UTC days from ov_ag_day plus the partial days at its ends from the
** ov_child_time index.
**
** The scope rule here (OWNER_IN, EXTRA) is the one of store_scope_sql.h
** split in two (FSV_SCOPE_OWNERS, FSV_SCOPE_EXTRA), rendered for SQLite
** (tests/server/test_office.c compares the figures with a brute force
** after every random step).
**
** A store without these tables gets them at open, filled from the
** projections in one transaction (no SCHEMA_VERSION change).
*/
#include "store.h"
#include "store_scope_sql.h"
#include "store_sqlite_int.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MS 86400000LL
/* A birthday not in a plain form (YYYY-MM-DD, MM-DD, --MM-DD, which end
** with their MM-DD). */
#define BDAY_ODD                                                             \
    "birthday IS NOT NULL AND NOT (birthday GLOB"                            \
    " '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'"                          \
    " OR birthday GLOB '[0-9][0-9]-[0-9][0-9]'"                              \
    " OR birthday GLOB '--[0-9][0-9]-[0-9][0-9]')"

static const char *const agg_schema =
    "CREATE TABLE IF NOT EXISTS ov_ag_cust(owner TEXT NOT NULL,"
    "  stage TEXT NOT NULL, month TEXT NOT NULL, n INTEGER NOT NULL,"
    "  n_amt INTEGER NOT NULL, cents INTEGER NOT NULL, rem REAL NOT NULL,"
    "  PRIMARY KEY (owner, stage, month)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS ov_ag_seen(owner TEXT NOT NULL,"
    "  stage TEXT NOT NULL, n INTEGER NOT NULL,"
    "  PRIMARY KEY (owner, stage)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS ov_ag_day(kind INTEGER NOT NULL,"
    "  day INTEGER NOT NULL, owner TEXT NOT NULL, author TEXT NOT NULL,"
    "  n INTEGER NOT NULL, PRIMARY KEY (kind, day, owner, author))"
    "  WITHOUT ROWID;"
    /* The customers of some stages (won: the win timing), and those whose
    ** birthday may fall in a window: MM-DD of a plain form, and every
    ** other form (checked by the caller). */
    "CREATE INDEX IF NOT EXISTS ov_cust_stage ON ov_cust(stage);"
    "CREATE INDEX IF NOT EXISTS ov_cust_bday ON ov_cust(substr(birthday, -5));"
    "CREATE INDEX IF NOT EXISTS ov_cust_bday_odd ON ov_cust(rid) WHERE " BDAY_ODD ";";

enum {
    A_CUST, A_SEEN, A_DAY, A_SEEN_OF, A_KIDS_OF, A_CHILD_NOW, A_CUST_NOW,
    A__END
};

static const char *const a_sql[A__END] = {
    [A_CUST] = "INSERT INTO ov_ag_cust VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
               " ON CONFLICT DO UPDATE SET n=n+excluded.n,"
               " n_amt=n_amt+excluded.n_amt, cents=cents+excluded.cents,"
               " rem=rem+excluded.rem",
    [A_SEEN] = "INSERT INTO ov_ag_seen VALUES (?1, ?2, ?3)"
               " ON CONFLICT DO UPDATE SET n=n+excluded.n",
    [A_DAY] = "INSERT INTO ov_ag_day VALUES (?1, ?2, ?3, ?4, ?5)"
              " ON CONFLICT DO UPDATE SET n=n+excluded.n",
    [A_SEEN_OF] = "SELECT stage FROM ov_seen WHERE customer=?1",
    [A_KIDS_OF] = "SELECT tbl, at, txt, done, cowner, cdel FROM ov_child"
                  " INDEXED BY ov_child_cc WHERE customer=?1"
                  " AND tbl IN ('followup', 'plan') AND deleted=0"
                  " AND at IS NOT NULL",
    [A_CHILD_NOW] = "SELECT at, txt, done, deleted, cowner, cdel FROM ov_child"
                    " WHERE tbl=?1 AND rid=?2",
    [A_CUST_NOW] = "SELECT owner, deleted FROM ov_cust WHERE rid=?1",
};

typedef struct agg_state {
    int ready;
    int unused;     /* kept but not read (fsv__sq_agg_use: tests) */
    sqlite3_stmt *st[A__END];
} agg_state;

static agg_state *ast(fsv_store *s)
{
    return (agg_state *)fsv__sq_office_agg_slot(s);
}

static sqlite3_stmt *a_stmt(fsv_store *s, int k)
{
    agg_state *a = ast(s);
    if (!a->st[k] && sqlite3_prepare_v3(SQ(s)->db, a_sql[k], -1,
                                        SQLITE_PREPARE_PERSISTENT, &a->st[k],
                                        NULL) != SQLITE_OK) {
        a->st[k] = NULL;
        dberr(s, "office aggregates: prepare");
        return NULL;
    }
    return a->st[k];
}

void fsv__sq_agg_free(void *p)
{
    agg_state *a = p;
    if (!a)
        return;
    for (int i = 0; i < A__END; i++)
        sqlite3_finalize(a->st[i]);
    free(a);
}

static int ready(fsv_store *s)
{
    agg_state *a = ast(s);
    return a && a->ready;
}

/* Kept and read. */
static int usable(fsv_store *s)
{
    agg_state *a = ast(s);
    return a && a->ready && !a->unused;
}

int fsv__sq_agg_ready(fsv_store *s)
{
    return usable(s);
}

int fsv__sq_agg_use(fsv_store *s, int on)
{
    agg_state *a = ast(s);
    if (!a)
        return 0;
    int was = !a->unused;
    a->unused = !on;
    return was;
}

/* ---- Keys -------------------------------------------------------------------- */

static int64_t day_of(int64_t ms)
{
    return ms >= 0 ? ms / DAY_MS : -((-(ms + 1)) / DAY_MS) - 1;
}

/* The forecast's month key: api_figures.c's rule ("%.7s" of a close of
** 7 bytes or more, for a customer with an amount). */
static void month_of(const fsv_agg_cust *c, char out[8])
{
    out[0] = '\0';
    if (c->has_amount && c->close && strlen(c->close) >= 7)
        snprintf(out, 8, "%.7s", c->close);
}

static int cust_delta(fsv_store *s, const fsv_agg_cust *c, int sign)
{
    sqlite3_stmt *st = a_stmt(s, A_CUST);
    if (!st)
        return FSV_ERROR;
    char month[8];
    month_of(c, month);
    long long cents = 0;
    double rem = 0;
    if (c->has_amount) {
        if (fabs(c->amount) < 1e13) {
            cents = llround(c->amount * 100.0);
            rem = c->amount - (double)cents / 100.0;
        } else {
            rem = c->amount;
        }
    }
    bind_static(st, 1, c->owner ? c->owner : "");
    bind_static(st, 2, c->stage ? c->stage : "");
    bind_static(st, 3, month);
    sqlite3_bind_int(st, 4, sign);
    sqlite3_bind_int(st, 5, c->has_amount ? sign : 0);
    sqlite3_bind_int64(st, 6, sign * cents);
    sqlite3_bind_double(st, 7, sign * rem);
    return step_done(s, st, "office aggregates: customers");
}

static int seen_delta(fsv_store *s, const char *owner, const char *stage, int n)
{
    sqlite3_stmt *st = a_stmt(s, A_SEEN);
    if (!st)
        return FSV_ERROR;
    bind_static(st, 1, owner ? owner : "");
    bind_static(st, 2, stage);
    sqlite3_bind_int(st, 3, n);
    return step_done(s, st, "office aggregates: stages seen");
}

/* A child row's contribution: kind 0 a live follow-up, 1 an open plan
** with a due time, of a known live customer; -1 none. */
static int child_kind(const char *tbl, int deleted, int cdel, int done,
                      int has_at)
{
    if (deleted || cdel || !has_at)
        return -1;
    if (strcmp(tbl, "followup") == 0)
        return 0;
    if (strcmp(tbl, "plan") == 0 && !done)
        return 1;
    return -1;
}

static int day_delta(fsv_store *s, int kind, int64_t at, const char *owner,
                     const char *author, int n)
{
    sqlite3_stmt *st = a_stmt(s, A_DAY);
    if (!st)
        return FSV_ERROR;
    sqlite3_bind_int(st, 1, kind);
    sqlite3_bind_int64(st, 2, day_of(at));
    bind_static(st, 3, owner ? owner : "");
    bind_static(st, 4, kind == 0 && author ? author : "");
    sqlite3_bind_int(st, 5, n);
    return step_done(s, st, "office aggregates: days");
}

/* ---- Hooks (store_sqlite_office.c) ------------------------------------------------ */

int fsv__sq_agg_customer(fsv_store *s, const char *rid, const fsv_agg_cust *before,
                         const fsv_agg_cust *after)
{
    if (!ready(s))
        return FSV_OK;
    int was = before && !before->deleted, is = after && !after->deleted;
    int rc = FSV_OK;
    const char *bo = was && before->owner ? before->owner : "";
    const char *ao = is && after->owner ? after->owner : "";
    /* A change the sums do not see (name, phone, ...): nothing to write. */
    char bm[8], am[8];
    if (was)
        month_of(before, bm);
    if (is)
        month_of(after, am);
    int moved = !(was && is && strcmp(bo, ao) == 0 &&
                  strcmp(before->stage ? before->stage : "",
                         after->stage ? after->stage : "") == 0 &&
                  strcmp(bm, am) == 0 && before->has_amount == after->has_amount &&
                  (!after->has_amount || before->amount == after->amount));
    if (moved && was)
        rc = cust_delta(s, before, -1);
    if (moved && rc == FSV_OK && is)
        rc = cust_delta(s, after, +1);
    if (rc != FSV_OK || (was == is && strcmp(bo, ao) == 0))
        return rc;
    /* Owner or life changed: the stages it had, and its records (whose
    ** copies of owner and deletion the caller updates next). */
    sqlite3_stmt *st = a_stmt(s, A_SEEN_OF);
    if (!st)
        return FSV_ERROR;
    bind_static(st, 1, rid);
    int step;
    while (rc == FSV_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *stage = (const char *)sqlite3_column_text(st, 0);
        if (was)
            rc = seen_delta(s, bo, stage, -1);
        if (rc == FSV_OK && is)
            rc = seen_delta(s, ao, stage, +1);
    }
    sqlite3_reset(st);
    if (rc != FSV_OK)
        return rc;
    if (!(st = a_stmt(s, A_KIDS_OF)))
        return FSV_ERROR;
    bind_static(st, 1, rid);
    while (rc == FSV_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *tbl = (const char *)sqlite3_column_text(st, 0);
        int64_t at = sqlite3_column_int64(st, 1);
        const char *txt = (const char *)sqlite3_column_text(st, 2);
        int done = sqlite3_column_int(st, 3);
        const char *co = (const char *)sqlite3_column_text(st, 4);
        int cdel = sqlite3_column_int(st, 5);
        int k = child_kind(tbl, 0, cdel, done, 1);
        if (k >= 0)
            rc = day_delta(s, k, at, co, txt, -1);
        k = child_kind(tbl, 0, !is, done, 1);
        if (rc == FSV_OK && k >= 0)
            rc = day_delta(s, k, at, ao, txt, +1);
    }
    sqlite3_reset(st);
    return rc;
}

int fsv__sq_agg_child(fsv_store *s, const char *tbl, const char *rid,
                      const fsv_agg_child *before)
{
    if (!ready(s) || (strcmp(tbl, "followup") != 0 && strcmp(tbl, "plan") != 0))
        return FSV_OK;
    int rc = FSV_OK;
    if (before) {
        int k = child_kind(tbl, before->deleted, before->cdel, before->done,
                           before->has_at);
        if (k >= 0)
            rc = day_delta(s, k, before->at, before->cowner, before->txt, -1);
    }
    if (rc != FSV_OK)
        return rc;
    /* The row as the projection now has it. */
    sqlite3_stmt *row = a_stmt(s, A_CHILD_NOW);
    if (!row)
        return FSV_ERROR;
    bind_static(row, 1, tbl);
    bind_static(row, 2, rid);
    if (sqlite3_step(row) == SQLITE_ROW) {
        int k = child_kind(tbl, sqlite3_column_int(row, 3), sqlite3_column_int(row, 5),
                           sqlite3_column_int(row, 2),
                           sqlite3_column_type(row, 0) != SQLITE_NULL);
        if (k >= 0)
            rc = day_delta(s, k, sqlite3_column_int64(row, 0),
                           (const char *)sqlite3_column_text(row, 4),
                           (const char *)sqlite3_column_text(row, 1), +1);
    }
    sqlite3_reset(row);
    return rc;
}

int fsv__sq_agg_seen(fsv_store *s, const char *customer, const char *stage)
{
    if (!ready(s))
        return FSV_OK;
    sqlite3_stmt *st = a_stmt(s, A_CUST_NOW);
    if (!st)
        return FSV_ERROR;
    bind_static(st, 1, customer);
    int rc = FSV_OK;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 1) == 0) {
        char *owner = col_dup(st, 0);
        sqlite3_reset(st);
        rc = seen_delta(s, owner ? owner : "", stage, +1);
        free(owner);
        return rc;
    }
    sqlite3_reset(st);
    return rc;
}

/* ---- Open: the tables, filled from the projections ---------------------------- */

int fsv__sq_agg_open(fsv_store *s, int rebuild)
{
    sqlite3 *db = SQ(s)->db;
    agg_state *a = ast(s);
    if (!a) {
        if (!(a = calloc(1, sizeof *a)))
            return seterr(s, FSV_NOMEM, "out of memory");
        fsv__sq_office_agg_set(s, a);
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE name='ov_ag_day'",
                           -1, &st, NULL) != SQLITE_OK)
        return dberr(s, "office aggregates: schema");
    int have = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    if (have && !rebuild) {
        a->ready = 1;
        return FSV_OK;
    }
    int rc = fsv_sqlite_begin(s);
    if (rc != FSV_OK)
        return rc;
    char *msg = NULL;
    /* Projections just rebuilt: aggregates of older ones are not theirs. */
    if ((rebuild && sqlite3_exec(db, "DROP TABLE IF EXISTS ov_ag_cust;"
                                 " DROP TABLE IF EXISTS ov_ag_seen;"
                                 " DROP TABLE IF EXISTS ov_ag_day;",
                                 NULL, NULL, &msg) != SQLITE_OK) ||
        sqlite3_exec(db, agg_schema, NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(db, "INSERT INTO ov_ag_seen SELECT coalesce(c.owner, ''),"
                     " e.stage, count(*) FROM ov_seen e JOIN ov_cust c"
                     " ON c.rid = e.customer WHERE c.deleted = 0"
                     " GROUP BY 1, 2",
                     NULL, NULL, &msg) != SQLITE_OK) {
        rc = seterr(s, FSV_ERROR, "office aggregates: schema: %s",
                    msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        fsv_sqlite_rollback(s);
        return rc;
    }
    a->ready = 1;
    /* Customers and records through the same keys as the deltas. */
    if (sqlite3_prepare_v2(db, "SELECT owner, stage, amount, close FROM ov_cust"
                           " WHERE deleted = 0", -1, &st, NULL) != SQLITE_OK)
        rc = dberr(s, "office aggregates: fill");
    while (rc == FSV_OK && st && sqlite3_step(st) == SQLITE_ROW) {
        fsv_agg_cust c = {
            (const char *)sqlite3_column_text(st, 0),
            (const char *)sqlite3_column_text(st, 1),
            (const char *)sqlite3_column_text(st, 3),
            sqlite3_column_type(st, 2) != SQLITE_NULL,
            sqlite3_column_double(st, 2), 0};
        rc = cust_delta(s, &c, +1);
    }
    sqlite3_finalize(st);
    st = NULL;
    if (rc == FSV_OK &&
        sqlite3_prepare_v2(db, "SELECT tbl, at, txt, done, cowner FROM ov_child"
                           " WHERE tbl IN ('followup', 'plan') AND deleted = 0"
                           " AND cdel = 0 AND at IS NOT NULL", -1, &st,
                           NULL) != SQLITE_OK)
        rc = dberr(s, "office aggregates: fill");
    while (rc == FSV_OK && st && sqlite3_step(st) == SQLITE_ROW) {
        int k = child_kind((const char *)sqlite3_column_text(st, 0), 0, 0,
                           sqlite3_column_int(st, 3), 1);
        if (k >= 0)
            rc = day_delta(s, k, sqlite3_column_int64(st, 1),
                           (const char *)sqlite3_column_text(st, 4),
                           (const char *)sqlite3_column_text(st, 2), +1);
    }
    sqlite3_finalize(st);
    if (rc == FSV_OK)
        return fsv_sqlite_commit(s);
    a->ready = 0;
    fsv_sqlite_rollback(s);
    return rc;
}

/* ---- Queries ------------------------------------------------------------------- */

/* ?1 all, ?2 user, ?3 the user's subtree (JSON array or NULL), ?20 the
** pools the user sees, ?30 the team filter's subtree: the scope rule of
** store_scope_sql.h without its shares and pools (OWNER_IN), and the
** customers the shares and the pools add (EXTRA, over c).  Pool customers (owner "")
** are summed under "" for an unfiltered all-seeing scope only; any other
** scope reads the pool customers it sees one by one, as the shares. */
#define OWNER_IN(o) FSV_SCOPE_OWNERS(FSV_SQ, o)
#define EXTRA                                                                \
    " c.deleted = 0 AND "                                                    \
    FSV_SCOPE_EXTRA(FSV_SQ, "coalesce(c.owner, '')", "c.rid")
/* The full scope (for the selection query). */
#define SCOPE_ALL                                                            \
    "((" OWNER_IN("coalesce(c.owner, '')") ") OR (" EXTRA "))"

/* An all-seeing scope without a team filter has every customer in the
** aggregates (pool customers under ""): no extras to read. */
static int no_extras(const fsv_scope *sc)
{
    return sc->all && !(sc->filter_team && sc->filter_team[0]);
}

static int prep_scoped(fsv_store *s, const char *sql, const fsv_scope *sc,
                       sqlite3_stmt **st)
{
    if (sqlite3_prepare_v2(SQ(s)->db, sql, -1, st, NULL) != SQLITE_OK) {
        *st = NULL;
        return dberr(s, "office aggregates: prepare");
    }
    int rc = fsv__sq_bind_scope(s, *st, sc);
    if (rc != FSV_OK) {
        sqlite3_finalize(*st);
        *st = NULL;
    }
    return rc;
}

static int finish(fsv_store *s, sqlite3_stmt *st, int rc, int step, const char *what)
{
    sqlite3_finalize(st);
    if (rc == FSV_OK && step != SQLITE_DONE)
        return dberr(s, what);
    return rc;
}

int fsv_sqlite_office_agg_customers(fsv_store *s, const fsv_scope *sc,
                                    fsv_office_agg_fn fn, void *ud)
{
    if (!usable(s))
        return seterr(s, FSV_NOTFOUND, "no office aggregates");
    sqlite3_stmt *st = NULL;
    int rc = prep_scoped(s, "SELECT owner, stage, month, n, n_amt, cents, rem"
                         " FROM ov_ag_cust WHERE n <> 0 AND " OWNER_IN("owner"),
                         sc, &st);
    if (rc != FSV_OK)
        return rc;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        fsv_office_agg g;
        const char *stage = (const char *)sqlite3_column_text(st, 1);
        g.owner = (const char *)sqlite3_column_text(st, 0);
        g.stage = stage && stage[0] ? stage : NULL;
        g.month = (const char *)sqlite3_column_text(st, 2);
        g.n = sqlite3_column_int64(st, 3);
        g.n_amount = sqlite3_column_int64(st, 4);
        g.amount = (double)sqlite3_column_int64(st, 5) / 100.0 +
                   sqlite3_column_double(st, 6);
        if ((rc = fn(ud, &g)) != FSV_OK)
            break;
    }
    rc = finish(s, st, rc, step, "office aggregates: customers");
    if (rc != FSV_OK || no_extras(sc))
        return rc;
    /* The shared extras, one by one. */
    if ((rc = prep_scoped(s, "SELECT c.owner, c.stage, c.amount, c.close"
                          " FROM ov_cust c WHERE" EXTRA, sc, &st)) != FSV_OK)
        return rc;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        fsv_agg_cust c = {
            (const char *)sqlite3_column_text(st, 0),
            (const char *)sqlite3_column_text(st, 1),
            (const char *)sqlite3_column_text(st, 3),
            sqlite3_column_type(st, 2) != SQLITE_NULL,
            sqlite3_column_double(st, 2), 0};
        char month[8];
        month_of(&c, month);
        fsv_office_agg g = {c.owner ? c.owner : "", c.stage, month, 1,
                            c.has_amount, c.has_amount ? c.amount : 0};
        if ((rc = fn(ud, &g)) != FSV_OK)
            break;
    }
    return finish(s, st, rc, step, "office aggregates: shared customers");
}

int fsv__sq_agg_count(fsv_store *s, const fsv_scope *sc, const char *stage,
                      const char *owner, int64_t *total)
{
    *total = 0;
    if (!usable(s))
        return seterr(s, FSV_NOTFOUND, "no office aggregates");
    /* The owners' sums, then the extras (shares, pools) one by one. */
    static const char *const sql[2] = {
        "SELECT coalesce(sum(n), 0) FROM ov_ag_cust WHERE n <> 0"
        " AND (?7 IS NULL OR stage = ?7) AND (?8 IS NULL OR owner = ?8)"
        " AND " OWNER_IN("owner"),
        "SELECT count(*) FROM ov_cust c WHERE (?7 IS NULL OR c.stage = ?7)"
        " AND (?8 IS NULL OR c.owner = ?8) AND" EXTRA};
    for (int k = 0; k < (no_extras(sc) ? 1 : 2); k++) {
        sqlite3_stmt *st = NULL;
        int rc = prep_scoped(s, sql[k], sc, &st);
        if (rc != FSV_OK)
            return rc;
        if (stage)
            sqlite3_bind_text(st, 7, stage, -1, SQLITE_TRANSIENT);
        if (owner)
            sqlite3_bind_text(st, 8, owner, -1, SQLITE_TRANSIENT);
        int step = sqlite3_step(st);
        if (step == SQLITE_ROW)
            *total += sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        if (step != SQLITE_ROW)
            return dberr(s, "office aggregates: count");
    }
    return FSV_OK;
}

/* Raw counts of [from, to) from the time index (st: RAW_SQL, scope bound),
** bucket b. */
#define RAW_SQL                                                              \
    "SELECT coalesce(cowner, ''), coalesce(txt, ''), count(*) FROM ov_child" \
    " INDEXED BY ov_child_time WHERE tbl = ?4 AND at >= ?5 AND at < ?6"      \
    " AND deleted = 0 AND cdel = 0 AND (?7 OR done = 0)"                     \
    " AND " OWNER_IN("coalesce(cowner, '')") " GROUP BY 1, 2"
static int raw_counts(fsv_store *s, sqlite3_stmt *st, int fu, int64_t from,
                      int64_t to, size_t b, fsv_office_bucket_fn fn, void *ud)
{
    if (from >= to)
        return FSV_OK;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 5, from);
    sqlite3_bind_int64(st, 6, to);
    int step, rc = FSV_OK;
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        if ((rc = fn(ud, b, (const char *)sqlite3_column_text(st, 0),
                     fu ? (const char *)sqlite3_column_text(st, 1) : NULL,
                     sqlite3_column_int64(st, 2))) != FSV_OK)
            break;
    if (rc == FSV_OK && step != SQLITE_DONE)
        return dberr(s, "office aggregates: range");
    return rc;
}

#define MAX_BUCKETS 64

int fsv_sqlite_office_child_counts(fsv_store *s, const fsv_scope *sc,
                                   const char *tbl, const int64_t *bounds,
                                   size_t nb, fsv_office_bucket_fn fn, void *ud)
{
    if (!usable(s))
        return seterr(s, FSV_NOTFOUND, "no office aggregates");
    int kind = strcmp(tbl, "followup") == 0 ? 0 : strcmp(tbl, "plan") == 0 ? 1 : -1;
    if (kind < 0 || nb < 2 || nb > MAX_BUCKETS + 1)
        return seterr(s, FSV_INVALID, "office counts: follow-ups or plans,"
                      " 2 to %d bounds", MAX_BUCKETS + 1);
    /* Each bucket: its whole UTC days [d0, d1) from the aggregate (one
    ** query for all), the partial days at its ends from the time index. */
    int64_t d0[MAX_BUCKETS], d1[MAX_BUCKETS], dmin = INT64_MAX, dmax = INT64_MIN;
    for (size_t b = 0; b + 1 < nb; b++) {
        int64_t from = bounds[b], to = bounds[b + 1];
        d0[b] = from == INT64_MIN ? INT64_MIN
                : from > INT64_MAX - DAY_MS ? INT64_MAX
                                            : day_of(from + DAY_MS - 1);
        d1[b] = to == INT64_MAX ? INT64_MAX : day_of(to);
        if (from >= to || d0[b] >= d1[b] || d0[b] == INT64_MAX || d1[b] == INT64_MIN) {
            d0[b] = d1[b] = 0;      /* all raw */
            continue;
        }
        if (d0[b] < dmin)
            dmin = d0[b];
        if (d1[b] > dmax)
            dmax = d1[b];
    }
    sqlite3_stmt *raw = NULL, *st = NULL;
    int fu = kind == 0, step = SQLITE_DONE;
    int rc = prep_scoped(s, RAW_SQL, sc, &raw);
    if (rc != FSV_OK)
        return rc;
    bind_static(raw, 4, tbl);
    sqlite3_bind_int(raw, 7, fu);
    for (size_t b = 0; rc == FSV_OK && b + 1 < nb; b++) {
        int64_t from = bounds[b], to = bounds[b + 1];
        if (from >= to)
            continue;
        if (d0[b] >= d1[b]) {
            rc = raw_counts(s, raw, fu, from, to, b, fn, ud);
            continue;
        }
        if (d0[b] != INT64_MIN)
            rc = raw_counts(s, raw, fu, from, d0[b] * DAY_MS, b, fn, ud);
        if (rc == FSV_OK && d1[b] != INT64_MAX)
            rc = raw_counts(s, raw, fu, d1[b] * DAY_MS, to, b, fn, ud);
    }
    sqlite3_finalize(raw);
    if (rc == FSV_OK && dmin < dmax &&
        (rc = prep_scoped(s, "SELECT day, owner, author, sum(n) FROM ov_ag_day"
                          " WHERE kind = ?4 AND day >= ?5 AND day < ?6"
                          " AND n <> 0 AND " OWNER_IN("owner")
                          " GROUP BY day, owner, author HAVING sum(n) <> 0",
                          sc, &st)) == FSV_OK) {
        sqlite3_bind_int(st, 4, kind);
        sqlite3_bind_int64(st, 5, dmin);
        sqlite3_bind_int64(st, 6, dmax);
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
            int64_t day = sqlite3_column_int64(st, 0);
            for (size_t b = 0; b + 1 < nb; b++)
                if (d0[b] < d1[b] && day >= d0[b] && day < d1[b]) {
                    rc = fn(ud, b, (const char *)sqlite3_column_text(st, 1),
                            fu ? (const char *)sqlite3_column_text(st, 2) : NULL,
                            sqlite3_column_int64(st, 3));
                    break;
                }
            if (rc != FSV_OK)
                break;
        }
        rc = finish(s, st, rc, step, "office aggregates: days");
    }
    if (rc != FSV_OK || no_extras(sc))
        return rc;
    /* The shared extras' records, bucketed here. */
    if ((rc = prep_scoped(s, "SELECT c.owner, k.txt, k.at FROM ov_cust c"
                          " CROSS JOIN ov_child k INDEXED BY ov_child_cc"
                          " ON k.customer = c.rid WHERE" EXTRA
                          " AND k.tbl = ?4 AND k.at >= ?5 AND k.at < ?6"
                          " AND k.deleted = 0 AND (?7 OR k.done = 0)",
                          sc, &st)) != FSV_OK)
        return rc;
    bind_static(st, 4, tbl);
    sqlite3_bind_int64(st, 5, bounds[0]);
    sqlite3_bind_int64(st, 6, bounds[nb - 1]);
    sqlite3_bind_int(st, 7, kind == 0);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t at = sqlite3_column_int64(st, 2);
        for (size_t b = 0; b + 1 < nb; b++)
            if (at >= bounds[b] && at < bounds[b + 1]) {
                const char *o = (const char *)sqlite3_column_text(st, 0);
                const char *t = (const char *)sqlite3_column_text(st, 1);
                rc = fn(ud, b, o ? o : "", kind == 0 ? (t ? t : "") : NULL, 1);
                break;
            }
        if (rc != FSV_OK)
            break;
    }
    return finish(s, st, rc, step, "office aggregates: shared records");
}

int fsv__sq_agg_reached(fsv_store *s, const fsv_scope *sc,
                        fsv_office_count_fn fn, void *ud)
{
    sqlite3_stmt *st = NULL;
    int rc = prep_scoped(s, "SELECT stage, sum(n) FROM (SELECT stage, n"
                         " FROM ov_ag_seen WHERE n <> 0 AND " OWNER_IN("owner")
                         " UNION ALL SELECT e.stage, 1 FROM ov_cust c"
                         " JOIN ov_seen e ON e.customer = c.rid WHERE" EXTRA
                         ") GROUP BY stage HAVING sum(n) > 0", sc, &st);
    if (rc != FSV_OK)
        return rc;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        if ((rc = fn(ud, (const char *)sqlite3_column_text(st, 0),
                     sqlite3_column_int64(st, 1))) != FSV_OK)
            break;
    return finish(s, st, rc, step, "office aggregates: reached");
}

int fsv_sqlite_office_customers_sel(fsv_store *s, const fsv_scope *sc,
                                    const char *stage_in, const char *mds,
                                    fsv_office_cust_fn fn, void *ud)
{
    if (!usable(s))
        return seterr(s, FSV_NOTFOUND, "no office aggregates");
    sqlite3_stmt *st = NULL;
    /* Three index lookups: the stages, the plain birthdays' MM-DD, the
    ** other birthdays. */
    int rc = prep_scoped(s, "SELECT c.rid, c.owner, c.name, c.stage, c.amount,"
                         " c.close, c.birthday, c.next_k, c.last_k"
                         " FROM ov_cust c WHERE c.rid IN ("
                         "  SELECT rid FROM ov_cust WHERE stage IN"
                         "   (SELECT value FROM json_each(?40))"
                         "  UNION SELECT rid FROM ov_cust WHERE ?41 IS NOT NULL"
                         "   AND substr(birthday, -5) IN"
                         "   (SELECT value FROM json_each(?41))"
                         "  UNION SELECT rid FROM ov_cust WHERE ?41 IS NOT NULL"
                         "   AND " BDAY_ODD ")"
                         " AND c.deleted = 0 AND " SCOPE_ALL, sc, &st);
    if (rc != FSV_OK)
        return rc;
    char *stages = fsv__sq_csv_json(stage_in);
    bind_text(st, 40, stages ? stages : "[]");
    free(stages);
    bind_text(st, 41, mds);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        fsv_office_cust c;
        memset(&c, 0, sizeof c);
        c.id = (const char *)sqlite3_column_text(st, 0);
        c.owner = (const char *)sqlite3_column_text(st, 1);
        c.name = (const char *)sqlite3_column_text(st, 2);
        c.stage = (const char *)sqlite3_column_text(st, 3);
        c.has_amount = sqlite3_column_type(st, 4) != SQLITE_NULL;
        c.amount = sqlite3_column_double(st, 4);
        c.close = (const char *)sqlite3_column_text(st, 5);
        c.birthday = (const char *)sqlite3_column_text(st, 6);
        int64_t nk = sqlite3_column_int64(st, 7);
        c.next_plan_ms = nk == INT64_MAX ? -1 : nk;
        c.last_followup_ms = sqlite3_column_int64(st, 8);
        if ((rc = fn(ud, &c)) != FSV_OK)
            break;
    }
    return finish(s, st, rc, step, "office aggregates: selected customers");
}

/* "a,b" as the JSON array ["a","b"] (malloc'd; NULL for NULL or ""). */
char *fsv__sq_csv_json(const char *csv)
{
    if (!csv || !csv[0])
        return NULL;
    json_t *a = json_array();
    for (const char *p = csv; a && *p;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        json_array_append_new(a, json_stringn(p, n));
        p += n + (e != NULL);
    }
    char *out = a ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    return out;
}
