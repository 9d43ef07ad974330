/*
** store_sqlite_office.c — the SQLite backend's office view (store.h, "The
** office view"): projections of the registers that the dashboard reads,
** kept in the merge transaction, and the indexed queries over them.
**
** Tables (derived: they can always be rebuilt from rec and history,
** and are, when a store without them is opened):
**   ov_cust(rid, owner, name, skey, stage, amount, close, birthday,
**           company, phone, deleted, next_k, last_k, amt_k)
**       one row per customer; owner is the effective owner (the owner
**       field, else the creator: visibility.c's rule); skey the name's
**       fds_name_key; next_k/last_k/amt_k the sort keys of the three other
**       orders, with sentinels so every order is one ascending index
**       (FSV_OV_NONE_LAST: no open plan / no amount sorts last; -1: never
**       followed up sorts first)
**   ov_child(tbl, rid, customer, at, txt, done, deleted, cowner, cdel)
**       follow-ups (at, txt = author), plans (at = due, done) and stage
**       changes (at, txt = to); cowner and cdel copy their customer's
**       owner and deleted flag (cdel 1 while the customer is unknown), so
**       a time range of everything needs no join
**   ov_seen(customer, stage)   every value the customer's stage field
**       has had in the history (the funnel's "really passed through")
**   ov_share(user, customer)   live shares
** How they stay current: merge_change notes each merged record
** (fsv__sq_office_note); fsv_store_commit re-derives each noted record
** once from its registers just before COMMIT (fsv__sq_office_flush), so
** the projections commit or roll back with the changes they follow.
** Each derivation hands the row before and after to the aggregates
** (store_sqlite_office_agg.c), which the figures sum.
*/
#include "store.h"
#include "store_scope_sql.h"
#include "store_sqlite_int.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FSV_OV_NONE_LAST INT64_MAX
#define SKEY_MAX 1024

#define CHILD_CC_SQL                                                         \
    "CREATE INDEX IF NOT EXISTS ov_child_cc ON ov_child(customer, tbl, at,"   \
    "  deleted, done, txt);"

static const char *const office_schema =
    "CREATE TABLE IF NOT EXISTS ov_cust(rid TEXT PRIMARY KEY,"
    "  owner TEXT NOT NULL, name TEXT, skey BLOB NOT NULL, stage TEXT,"
    "  amount REAL, close TEXT, birthday TEXT, company TEXT, phone TEXT,"
    "  deleted INTEGER NOT NULL DEFAULT 0, next_k INTEGER NOT NULL,"
    "  last_k INTEGER NOT NULL, amt_k REAL NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS ov_cust_name ON ov_cust(skey, rid);"
    "CREATE INDEX IF NOT EXISTS ov_cust_next ON ov_cust(next_k, skey, rid);"
    "CREATE INDEX IF NOT EXISTS ov_cust_last ON ov_cust(last_k, skey, rid);"
    "CREATE INDEX IF NOT EXISTS ov_cust_amt ON ov_cust(amt_k, skey, rid);"
    "CREATE INDEX IF NOT EXISTS ov_cust_owner ON ov_cust(owner);"
    "CREATE TABLE IF NOT EXISTS ov_child(tbl TEXT NOT NULL, rid TEXT NOT NULL,"
    "  customer TEXT, at INTEGER, txt TEXT, done INTEGER NOT NULL DEFAULT 0,"
    "  deleted INTEGER NOT NULL DEFAULT 0, cowner TEXT,"
    "  cdel INTEGER NOT NULL DEFAULT 1, PRIMARY KEY (tbl, rid))"
    "  WITHOUT ROWID;"
    /* Covering for what is read per customer (the activity keys, the won
    ** customers' stage changes and follow-ups): no lookup of the row. */
    CHILD_CC_SQL
    /* Covering: who sees everything reads a time range without a lookup. */
    "CREATE INDEX IF NOT EXISTS ov_child_time ON ov_child(tbl, at, deleted,"
    "  cdel, customer, cowner, txt, done);"
    "CREATE TABLE IF NOT EXISTS ov_seen(customer TEXT NOT NULL,"
    "  stage TEXT NOT NULL, PRIMARY KEY (customer, stage)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS ov_share(user TEXT NOT NULL,"
    "  customer TEXT NOT NULL, PRIMARY KEY (user, customer)) WITHOUT ROWID;"
    /* A customer's sheet and as_of read its records' history groups
    ** (made with hist by store_sqlite.c's schema). */
    "CREATE INDEX IF NOT EXISTS history_rec ON hist(tbl, rid);";
/* Open conflicts: rec_conflicts (store_sqlite_regs.c). */

/* Statement slots of this file (fsv__store_prepared): 8.. */
enum {
    XO_REGS = 8, XO_CREATOR, XO_CUST_PUT, XO_CHILD_GET, XO_CHILD_PUT,
    XO_CUST_KEYS, XO_SHARE_ADD, XO_SHARE_DEL, XO_SEEN_ADD, XO_VALUES,
    XO_UPDATED, XO_CONFLICTS_OF, XO_HIST_OF, XO_KEYS_OF, XO_CHILD_OWNER,
    XO_CUST_GET, XO__END
};

/* The activity keys' min/max name ov_child_cc: left to itself (no
** ANALYZE) the planner walks ov_child_time, every plan or follow-up in
** time order until one of the customer's: a scan of the whole table per
** customer at each commit instead of the customer's own rows. */
static const char *const xo_sql[XO__END] = {
    /* The record's winners: one row of rec, its vals object. */
    [XO_REGS] = "SELECT j.key, j.value FROM rec r, json_each(r.vals) j"
                " WHERE r.tbl=?1 AND r.rid=?2",
    [XO_CREATOR] = "SELECT creator FROM rec WHERE tbl=?1 AND rid=?2",
    [XO_CUST_PUT] =
        "INSERT INTO ov_cust(rid, owner, name, skey, stage, amount, close,"
        " birthday, company, phone, deleted, next_k, last_k, amt_k)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11,"
        " coalesce((SELECT min(at) FROM ov_child INDEXED BY ov_child_cc"
        " WHERE customer=?1"
        "  AND tbl='plan' AND done=0 AND deleted=0 AND at IS NOT NULL), "
        "  9223372036854775807),"
        " coalesce((SELECT max(at) FROM ov_child INDEXED BY ov_child_cc"
        " WHERE customer=?1"
        "  AND tbl='followup' AND deleted=0 AND at IS NOT NULL), -1), ?12)"
        " ON CONFLICT(rid) DO UPDATE SET owner=excluded.owner,"
        " name=excluded.name, skey=excluded.skey, stage=excluded.stage,"
        " amount=excluded.amount, close=excluded.close,"
        " birthday=excluded.birthday, company=excluded.company,"
        " phone=excluded.phone, deleted=excluded.deleted,"
        " next_k=excluded.next_k, last_k=excluded.last_k,"
        " amt_k=excluded.amt_k",
    [XO_CHILD_GET] = "SELECT customer, at, txt, done, deleted, cowner, cdel"
                     " FROM ov_child"
                     " WHERE tbl=?1 AND rid=?2",
    [XO_CHILD_PUT] =
        "INSERT INTO ov_child(tbl, rid, customer, at, txt, done, deleted,"
        " cowner, cdel) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7,"
        " (SELECT owner FROM ov_cust WHERE rid=?3),"
        " coalesce((SELECT deleted FROM ov_cust WHERE rid=?3), 1))"
        " ON CONFLICT(tbl, rid) DO UPDATE"
        " SET customer=excluded.customer, at=excluded.at, txt=excluded.txt,"
        " done=excluded.done, deleted=excluded.deleted,"
        " cowner=excluded.cowner, cdel=excluded.cdel",
    /* A customer's owner or deletion, copied to its records. */
    [XO_CHILD_OWNER] = "UPDATE ov_child SET cowner=?2, cdel=?3"
                       " WHERE customer=?1 AND (cowner IS NOT ?2 OR cdel<>?3)",
    /* A customer whose children changed: only its two activity keys. */
    [XO_CUST_KEYS] =
        "UPDATE ov_cust SET next_k=n.nk, last_k=n.lk FROM (SELECT"
        " coalesce((SELECT min(at) FROM ov_child INDEXED BY ov_child_cc"
        " WHERE customer=?1"
        "  AND tbl='plan' AND done=0 AND deleted=0 AND at IS NOT NULL),"
        "  9223372036854775807) AS nk,"
        " coalesce((SELECT max(at) FROM ov_child INDEXED BY ov_child_cc"
        " WHERE customer=?1"
        "  AND tbl='followup' AND deleted=0 AND at IS NOT NULL), -1) AS lk) n"
        " WHERE rid=?1 AND (next_k<>n.nk OR last_k<>n.lk)",
    [XO_CUST_GET] = "SELECT owner, name, stage, amount, close, birthday,"
                    " company, phone, deleted FROM ov_cust WHERE rid=?1",
    [XO_SHARE_ADD] = "INSERT OR IGNORE INTO ov_share(user, customer)"
                     " VALUES (?1, ?2)",
    [XO_SHARE_DEL] = "DELETE FROM ov_share WHERE user=?1 AND customer=?2",
    [XO_SEEN_ADD] = "INSERT OR IGNORE INTO ov_seen(customer, stage)"
                    " VALUES (?1, ?2)",
    [XO_VALUES] = "SELECT j.key, j.value FROM rec r, json_each(r.vals) j"
                  " WHERE r.tbl='customer' AND r.rid=?1",
    [XO_UPDATED] = "SELECT hlc FROM history WHERE tbl='customer' AND rid=?1"
                   " ORDER BY seq DESC LIMIT 1",
    [XO_CONFLICTS_OF] =
        "SELECT coalesce((SELECT conflicts FROM rec WHERE tbl='customer'"
        "  AND rid=?1), 0) + (SELECT coalesce(sum(conflicts), 0) FROM rec"
        "  WHERE customer=?1 AND tbl<>'customer')",
    /* The customer's rows, its children's (as the record index has them
    ** now) and the definitions', oldest first, up to a time. */
    /* history is the group rows' virtual table (store_sqlite_hist.h):
    ** each part reads its records' groups through history_rec. */
    [XO_HIST_OF] =
        "SELECT seq, tbl, rid, field, value, vv, hlc, device, user,"
        " server_ms FROM ("
        "  SELECT * FROM history WHERE tbl='customer' AND rid=?1"
        "  UNION ALL SELECT h.* FROM rec r JOIN history h ON h.tbl=r.tbl"
        "   AND h.rid=r.rid WHERE r.customer=?1 AND r.tbl<>'customer'"
        "  UNION ALL SELECT * FROM history WHERE tbl='stagedef'"
        "  UNION ALL SELECT * FROM history WHERE tbl='fielddef')"
        " WHERE (?2 < 0 OR (hlc >> 16) / 1000 <= ?2) ORDER BY seq",
    [XO_KEYS_OF] = "SELECT next_k, last_k FROM ov_cust WHERE rid=?1",
};

_Static_assert(XO__END <= FSV__XST_MAX, "statement slots");

static sqlite3_stmt *xo(fsv_store *s, int slot)
{
    return fsv__store_prepared(s, slot, xo_sql[slot]);
}

/* ---- Noting merged records, re-deriving them at commit -------------------- */

typedef struct ov_note {
    char *tbl, *rid;
} ov_note;

typedef struct ov_state {
    ov_note *v;
    size_t n, cap;
    /* Customers whose records changed: their activity keys are
    ** recomputed once, after every record (keys[i].tbl unused). */
    ov_note *keys;
    size_t nk, capk;
    void *agg;      /* store_sqlite_office_agg.c's state */
    void *search;   /* store_sqlite_office_search.c's */
} ov_state;

static ov_state *state(fsv_store *s)
{
    return (ov_state *)SQ(s)->office;
}

static int projected(const char *tbl)
{
    return strcmp(tbl, "customer") == 0 || strcmp(tbl, "followup") == 0 ||
           strcmp(tbl, "plan") == 0 || strcmp(tbl, "stagechg") == 0 ||
           strcmp(tbl, "share") == 0;
}

static int note_add(fsv_store *s, const char *tbl, const char *rid)
{
    ov_state *o = state(s);
    if (!o)
        return FSV_OK;
    /* A pushed group writes one record's fields in a row: skip repeats of
    ** the last note (the rest are merged at flush by sorting). */
    if (o->n && strcmp(o->v[o->n - 1].rid, rid) == 0 &&
        strcmp(o->v[o->n - 1].tbl, tbl) == 0)
        return FSV_OK;
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 64;
        ov_note *v = realloc(o->v, cap * sizeof *v);
        if (!v)
            return seterr(s, FSV_NOMEM, "out of memory");
        o->v = v;
        o->cap = cap;
    }
    o->v[o->n].tbl = strdup(tbl);
    o->v[o->n].rid = strdup(rid);
    if (!o->v[o->n].tbl || !o->v[o->n].rid) {
        free(o->v[o->n].tbl);
        free(o->v[o->n].rid);
        return seterr(s, FSV_NOMEM, "out of memory");
    }
    o->n++;
    return FSV_OK;
}

/* Note customer for its keys (after the records). */
static int keys_add(fsv_store *s, const char *customer)
{
    ov_state *o = state(s);
    if (o->nk && strcmp(o->keys[o->nk - 1].rid, customer) == 0)
        return FSV_OK;
    if (o->nk == o->capk) {
        size_t cap = o->capk ? o->capk * 2 : 64;
        ov_note *v = realloc(o->keys, cap * sizeof *v);
        if (!v)
            return seterr(s, FSV_NOMEM, "out of memory");
        o->keys = v;
        o->capk = cap;
    }
    o->keys[o->nk].tbl = NULL;
    if (!(o->keys[o->nk].rid = strdup(customer)))
        return seterr(s, FSV_NOMEM, "out of memory");
    o->nk++;
    return FSV_OK;
}

void fsv__sq_office_clear(fsv_store *s)
{
    ov_state *o = state(s);
    if (!o)
        return;
    for (size_t i = 0; i < o->n; i++) {
        free(o->v[i].tbl);
        free(o->v[i].rid);
    }
    for (size_t i = 0; i < o->nk; i++)
        free(o->keys[i].rid);
    o->n = o->nk = 0;
}

void *fsv__sq_office_agg_slot(fsv_store *s)
{
    return state(s) ? state(s)->agg : NULL;
}

void fsv__sq_office_agg_set(fsv_store *s, void *agg)
{
    if (state(s))
        state(s)->agg = agg;
}

void *fsv__sq_office_search_slot(fsv_store *s)
{
    return state(s) ? state(s)->search : NULL;
}

void fsv__sq_office_search_set(fsv_store *s, void *search)
{
    if (state(s))
        state(s)->search = search;
}

void fsv__sq_office_free(fsv_store *s)
{
    fsv__sq_office_clear(s);
    if (state(s)) {
        free(state(s)->v);
        free(state(s)->keys);
        fsv__sq_agg_free(state(s)->agg);
        fsv__sq_search_free(state(s)->search);
    }
    free(state(s));
    SQ(s)->office = NULL;
}

int fsv__sq_office_note(fsv_store *s, const fdsp_change *c)
{
    if (!projected(c->table))
        return FSV_OK;
    if (strcmp(c->table, "customer") == 0 && strcmp(c->field, "stage") == 0 &&
        c->value) {
        sqlite3_stmt *st = xo(s, XO_SEEN_ADD);
        if (!st)
            return FSV_ERROR;
        bind_static(st, 1, c->record);
        bind_static(st, 2, c->value);
        int rc = step_done(s, st, "office: stage seen");
        /* A stage the customer never had: the aggregates count it. */
        if (rc == FSV_OK && sqlite3_changes(SQ(s)->db) > 0)
            rc = fsv__sq_agg_seen(s, c->record, c->value);
        if (rc != FSV_OK)
            return rc;
    }
    return note_add(s, c->table, c->record);
}

/* The record's registers as {field: winning value} (a null value is left
** out).  *found 0 if it has none. */
static int read_regs(fsv_store *s, int slot, const char *tbl, const char *rid,
                     json_t **out)
{
    *out = NULL;
    /* A record merged in this transaction: from the merge's memo. */
    if (slot == XO_REGS) {
        int mrc = fsv__sq_regs_values(s, tbl, rid, out, NULL);
        if (mrc != FSV_NOTFOUND)
            return mrc;
    }
    sqlite3_stmt *st = xo(s, slot);
    if (!st)
        return FSV_ERROR;
    json_t *o = json_object();
    if (!o)
        return seterr(s, FSV_NOMEM, "out of memory");
    int k = 1;
    if (slot == XO_REGS)
        bind_static(st, k++, tbl);
    bind_static(st, k, rid);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *f = (const char *)sqlite3_column_text(st, 0);
        const char *v = (const char *)sqlite3_column_text(st, 1);
        if (f && v)
            json_object_set_new(o, f, json_string(v));
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        json_decref(o);
        return dberr(s, "office: registers");
    }
    *out = o;
    return FSV_OK;
}

static const char *jv(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static int64_t time_or(const char *t, int64_t none)
{
    int64_t ms;
    if (!t || fds_time_parse(t, &ms) != FDS_OK)
        return none;
    return ms;
}

static int derive_customer(fsv_store *s, const char *rid)
{
    json_t *r = NULL;
    char *creator = NULL;
    sqlite3_stmt *st;
    /* A record merged in this transaction: from the merge's memo. */
    int rc = fsv__sq_regs_values(s, "customer", rid, &r, &creator);
    if (rc == FSV_NOTFOUND) {
        rc = read_regs(s, XO_REGS, "customer", rid, &r);
        if (rc != FSV_OK)
            return rc;
        if (!(st = xo(s, XO_CREATOR))) {
            json_decref(r);
            return FSV_ERROR;
        }
        bind_static(st, 1, "customer");
        bind_static(st, 2, rid);
        if (sqlite3_step(st) == SQLITE_ROW)
            creator = col_dup(st, 0);
        sqlite3_reset(st);
    } else if (rc != FSV_OK) {
        return rc;
    }
    const char *owner = jv(r, "owner");
    const char *pool = jv(r, "pool");
    /* A pool customer (owner empty, pool "1") has no owner: not the
    ** creator's (visibility.c's customer_owner). */
    if ((!owner || !owner[0]) && !(pool && strcmp(pool, "1") == 0))
        owner = creator ? creator : "";
    else if (!owner)
        owner = "";
    const char *name = jv(r, "name"), *amount = jv(r, "amount");
    unsigned char key[SKEY_MAX];
    size_t kn = fds_name_key(name, key, sizeof key);
    if (kn > sizeof key)
        kn = sizeof key;
    char *end = NULL;
    double a = amount ? strtod(amount, &end) : 0;
    int has_amount = amount && end != amount && *end == '\0' && isfinite(a);
    const char *del = jv(r, "deleted");
    int deleted = del && strcmp(del, "1") == 0;
    /* What the row says now: nothing is written when it already says it
    ** (a merge that changed a field the office does not read). */
    int same = 0, same_owner = 0, had = 0;
    /* The row as it was, for the aggregates' delta. */
    char *b_owner = NULL, *b_stage = NULL, *b_close = NULL;
    char *b_name = NULL, *b_company = NULL, *b_phone = NULL;
    int same_search = 0;
    fsv_agg_cust before = {0};
    if (!(st = xo(s, XO_CUST_GET))) {
        free(creator);
        json_decref(r);
        return FSV_ERROR;
    }
    bind_static(st, 1, rid);
    if (sqlite3_step(st) == SQLITE_ROW) {
#define SAME(i, v) (sqlite3_column_type(st, i) == SQLITE_NULL                \
                        ? (v) == NULL                                        \
                        : (v) != NULL && strcmp((const char *)sqlite3_column_text(st, i), (v)) == 0)
        same_owner = SAME(0, owner) && sqlite3_column_int(st, 8) == deleted;
        same = same_owner && SAME(1, name) && SAME(2, jv(r, "stage")) &&
               (sqlite3_column_type(st, 3) == SQLITE_NULL
                    ? !has_amount
                    : has_amount && sqlite3_column_double(st, 3) == a) &&
               SAME(4, jv(r, "expected_close")) && SAME(5, jv(r, "birthday")) &&
               SAME(6, jv(r, "company")) && SAME(7, jv(r, "phone"));
        same_search = SAME(1, name) && SAME(6, jv(r, "company")) &&
                      SAME(7, jv(r, "phone"));
#undef SAME
        if (!same) {
            had = 1;
            b_name = col_dup(st, 1);
            b_company = col_dup(st, 6);
            b_phone = col_dup(st, 7);
            b_owner = col_dup(st, 0);
            b_stage = col_dup(st, 2);
            b_close = col_dup(st, 4);
            before.has_amount = sqlite3_column_type(st, 3) != SQLITE_NULL;
            before.amount = sqlite3_column_double(st, 3);
            before.deleted = sqlite3_column_int(st, 8);
        }
    }
    sqlite3_reset(st);
    if (same) {
        free(creator);
        json_decref(r);
        return FSV_OK;
    }
    before.owner = b_owner;
    before.stage = b_stage;
    before.close = b_close;
    fsv_agg_cust after = {owner, jv(r, "stage"), jv(r, "expected_close"),
                          has_amount, has_amount ? a : 0, deleted};
    st = xo(s, XO_CUST_PUT);
    if (!st) {
        free(creator);
        free(b_name);
        free(b_company);
        free(b_phone);
        free(b_owner);
        free(b_stage);
        free(b_close);
        json_decref(r);
        return FSV_ERROR;
    }
    bind_static(st, 1, rid);
    bind_static(st, 2, owner);
    bind_static(st, 3, name);
    sqlite3_bind_blob(st, 4, key, (int)kn, SQLITE_STATIC);
    bind_static(st, 5, jv(r, "stage"));
    if (has_amount)
        sqlite3_bind_double(st, 6, a);
    bind_static(st, 7, jv(r, "expected_close"));
    bind_static(st, 8, jv(r, "birthday"));
    bind_static(st, 9, jv(r, "company"));
    bind_static(st, 10, jv(r, "phone"));
    sqlite3_bind_int(st, 11, deleted);
    sqlite3_bind_double(st, 12, has_amount ? -a : 1e300);
    rc = step_done(s, st, "office: customer");
    if (rc == FSV_OK)
        rc = fsv__sq_agg_customer(s, rid, had ? &before : NULL, &after);
    if (rc == FSV_OK && !(had && same_search))
        rc = fsv__sq_search_put(s, rid, had, b_name, b_company, b_phone, name,
                                jv(r, "company"), jv(r, "phone"));
    free(b_name);
    free(b_company);
    free(b_phone);
    free(b_owner);
    free(b_stage);
    free(b_close);
    if (rc == FSV_OK && !same_owner && (st = xo(s, XO_CHILD_OWNER)) == NULL)
        rc = FSV_ERROR;
    if (rc == FSV_OK && !same_owner) {
        bind_static(st, 1, rid);
        bind_static(st, 2, owner);
        sqlite3_bind_int(st, 3, deleted);
        rc = step_done(s, st, "office: records' owner");
    }
    free(creator);
    json_decref(r);
    return rc;
}

static int customer_keys(fsv_store *s, const char *customer)
{
    sqlite3_stmt *st = xo(s, XO_CUST_KEYS);
    if (!st)
        return FSV_ERROR;
    bind_static(st, 1, customer);
    return step_done(s, st, "office: activity keys");
}

static int derive_child(fsv_store *s, const char *tbl, const char *rid)
{
    json_t *r = NULL;
    int rc = read_regs(s, XO_REGS, tbl, rid, &r);
    if (rc != FSV_OK)
        return rc;
    int plan = strcmp(tbl, "plan") == 0, fu = strcmp(tbl, "followup") == 0;
    const char *at = jv(r, plan ? "due" : "at");
    const char *txt = fu ? jv(r, "author") : plan ? NULL : jv(r, "to");
    const char *d = jv(r, "done"), *del = jv(r, "deleted");
    const char *cust = jv(r, "customer");
    int64_t ms = time_or(at, INT64_MIN);
    int done = d && strcmp(d, "1") == 0, deleted = del && strcmp(del, "1") == 0;
    char *before = NULL, *b_txt = NULL, *b_owner = NULL;
    int same = 0, had = 0;
    fsv_agg_child was = {0};
    sqlite3_stmt *st = xo(s, XO_CHILD_GET);
    if (!st) {
        json_decref(r);
        return FSV_ERROR;
    }
    bind_static(st, 1, tbl);
    bind_static(st, 2, rid);
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *bc = (const char *)sqlite3_column_text(st, 0);
        const char *bt = (const char *)sqlite3_column_text(st, 2);
        before = bc ? strdup(bc) : NULL;
        same = (bc ? cust && strcmp(bc, cust) == 0 : !cust) &&
               (sqlite3_column_type(st, 1) == SQLITE_NULL
                    ? ms == INT64_MIN
                    : sqlite3_column_int64(st, 1) == ms) &&
               (bt ? txt && strcmp(bt, txt) == 0 : !txt) &&
               sqlite3_column_int(st, 3) == done &&
               sqlite3_column_int(st, 4) == deleted;
        if (!same) {
            had = 1;
            b_txt = col_dup(st, 2);
            b_owner = col_dup(st, 5);
            was.has_at = sqlite3_column_type(st, 1) != SQLITE_NULL;
            was.at = sqlite3_column_int64(st, 1);
            was.done = sqlite3_column_int(st, 3);
            was.deleted = sqlite3_column_int(st, 4);
            was.cdel = sqlite3_column_int(st, 6);
        }
    }
    sqlite3_reset(st);
    was.txt = b_txt;
    was.cowner = b_owner;
    if (!same) {
        if (!(st = xo(s, XO_CHILD_PUT))) {
            free(before);
            free(b_txt);
            free(b_owner);
            json_decref(r);
            return FSV_ERROR;
        }
        bind_static(st, 1, tbl);
        bind_static(st, 2, rid);
        bind_static(st, 3, cust);
        if (ms != INT64_MIN)
            sqlite3_bind_int64(st, 4, ms);
        bind_static(st, 5, txt);
        sqlite3_bind_int(st, 6, done);
        sqlite3_bind_int(st, 7, deleted);
        rc = step_done(s, st, "office: child");
        if (rc == FSV_OK)
            rc = fsv__sq_agg_child(s, tbl, rid, had ? &was : NULL);
        /* The customers' activity keys, once each, after every record. */
        if (rc == FSV_OK && cust)
            rc = keys_add(s, cust);
        if (rc == FSV_OK && before && (!cust || strcmp(before, cust) != 0))
            rc = keys_add(s, before);
    }
    free(before);
    free(b_txt);
    free(b_owner);
    json_decref(r);
    return rc;
}

static int derive_share(fsv_store *s, const char *rid)
{
    const char *colon = strchr(rid, ':');
    if (!colon || colon == rid || !colon[1])
        return FSV_OK;
    char customer[FDSP_MAX_ID + 1];
    size_t cl = (size_t)(colon - rid);
    if (cl > FDSP_MAX_ID)
        return FSV_OK;
    memcpy(customer, rid, cl);
    customer[cl] = '\0';
    json_t *r = NULL;
    int rc = read_regs(s, XO_REGS, "share", rid, &r);
    if (rc != FSV_OK)
        return rc;
    /* store.c's rule: a share record with any register gives sight unless
    ** its deleted field says "1" (a null deleted register is "not 1"; an
    ** empty record cannot exist, a merge always writes a register). */
    const char *del = jv(r, "deleted");
    sqlite3_stmt *st = xo(s, del && strcmp(del, "1") == 0 ? XO_SHARE_DEL
                                                          : XO_SHARE_ADD);
    json_decref(r);
    if (!st)
        return FSV_ERROR;
    bind_static(st, 1, colon + 1);
    bind_static(st, 2, customer);
    return step_done(s, st, "office: share");
}

static int derive(fsv_store *s, const char *tbl, const char *rid)
{
    if (strcmp(tbl, "customer") == 0) {
        int rc = derive_customer(s, rid);
        /* the duplicate keys (store_sqlite_dup.c) follow the customer */
        return rc == FSV_OK ? fsv__sq_dup_derive(s, rid) : rc;
    }
    if (strcmp(tbl, "share") == 0)
        return derive_share(s, rid);
    return derive_child(s, tbl, rid);
}

static int cmp_rid(const void *a, const void *b)
{
    return strcmp(((const ov_note *)a)->rid, ((const ov_note *)b)->rid);
}

/* Customers last: their activity keys read the children. */
static int cmp_note(const void *a, const void *b)
{
    const ov_note *x = a, *y = b;
    int cx = strcmp(x->tbl, "customer") == 0, cy = strcmp(y->tbl, "customer") == 0;
    if (cx != cy)
        return cx - cy;
    int d = strcmp(x->tbl, y->tbl);
    return d ? d : strcmp(x->rid, y->rid);
}

int fsv__sq_office_flush(fsv_store *s)
{
    ov_state *o = state(s);
    if (!o || (!o->n && !o->nk))
        return FSV_OK;
    if (o->n > 1)   /* qsort(NULL, 0) is undefined */
        qsort(o->v, o->n, sizeof *o->v, cmp_note);
    int rc = FSV_OK;
    for (size_t i = 0; rc == FSV_OK && i < o->n; i++) {
        if (i && cmp_note(&o->v[i - 1], &o->v[i]) == 0)
            continue;
        rc = derive(s, o->v[i].tbl, o->v[i].rid);
    }
    if (o->nk > 1)
        qsort(o->keys, o->nk, sizeof *o->keys, cmp_rid);
    for (size_t i = 0; rc == FSV_OK && i < o->nk; i++)
        if (!i || strcmp(o->keys[i - 1].rid, o->keys[i].rid) != 0)
            rc = customer_keys(s, o->keys[i].rid);
    fsv__sq_office_clear(s);
    return rc;
}

/* On open: the tables, and on a store that did not have them, their rows
** from the registers and the history (one transaction). */
int fsv__sq_office_open(fsv_store *s)
{
    sqlite3 *db = SQ(s)->db;
    if (!SQ(s)->office && !(SQ(s)->office = calloc(1, sizeof(ov_state))))
        return seterr(s, FSV_NOMEM, "out of memory");
    sqlite3_stmt *st = NULL;
    int have = 0;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE name='ov_cust'",
                           -1, &st, NULL) != SQLITE_OK)
        return dberr(s, "office: schema");
    have = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    if (have) {
        /* A store of before the covering index (ov_child_cust(customer,
        ** tbl, at)): it is made once, in place of the old one. */
        int cc = 0;
        if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE"
                               " name='ov_child_cc'", -1, &st, NULL) != SQLITE_OK)
            return dberr(s, "office: schema");
        cc = sqlite3_step(st) == SQLITE_ROW;
        sqlite3_finalize(st);
        if (!cc) {
            int rc = fsv_sqlite_begin(s);
            if (rc != FSV_OK)
                return rc;
            if (sqlite3_exec(db, "DROP INDEX IF EXISTS ov_child_cust;" CHILD_CC_SQL,
                             NULL, NULL, NULL) != SQLITE_OK) {
                rc = dberr(s, "office: index");
                fsv_sqlite_rollback(s);
                return rc;
            }
            if ((rc = fsv_sqlite_commit(s)) != FSV_OK)
                return rc;
        }
        int rc = fsv__sq_agg_open(s, 0);    /* store_sqlite_office_agg.c */
        return rc == FSV_OK ? fsv__sq_search_open(s, 0) : rc;
    }
    int rc = fsv_sqlite_begin(s);
    if (rc != FSV_OK)
        return rc;
    char *msg = NULL;
    if (sqlite3_exec(db, office_schema, NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(db, "INSERT OR IGNORE INTO ov_seen(customer, stage)"
                     " SELECT rid, value FROM history WHERE tbl='customer'"
                     " AND field='stage' AND value IS NOT NULL",
                     NULL, NULL, &msg) != SQLITE_OK) {
        rc = seterr(s, FSV_ERROR, "office: schema: %s",
                    msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        fsv_sqlite_rollback(s);
        return rc;
    }
    if (sqlite3_prepare_v2(db, "SELECT tbl, rid FROM rec WHERE tbl IN"
                           " ('customer', 'followup', 'plan', 'stagechg',"
                           " 'share')", -1, &st, NULL) != SQLITE_OK) {
        fsv_sqlite_rollback(s);
        return dberr(s, "office: fill");
    }
    while (rc == FSV_OK && sqlite3_step(st) == SQLITE_ROW)
        rc = note_add(s, (const char *)sqlite3_column_text(st, 0),
                      (const char *)sqlite3_column_text(st, 1));
    sqlite3_finalize(st);
    if (rc == FSV_OK && (rc = fsv_sqlite_commit(s)) == FSV_OK) {  /* flushes */
        rc = fsv__sq_agg_open(s, 1);
        return rc == FSV_OK ? fsv__sq_search_open(s, 1) : rc;
    }
    fsv__sq_office_clear(s);
    fsv_sqlite_rollback(s);
    return rc;
}

/* ---- Queries ------------------------------------------------------------------- */

/* The scope as SQL over ov_cust a (the rule: store_scope_sql.h): ?1 all, ?2 user, ?3 the JSON array of
** the team and the teams below it (NULL: none), ?20 the JSON array of the
** pools the user sees (a pool customer has owner '' and its team in
** pool_cust, store_sqlite_pool.c; NULL: none), ?30 the subtree of the
** dashboard's team filter (NULL: none), which keeps the owned customers of
** its teams and the pool customers of their pools.  The subtrees come
** from store_teams.c (fsv_teams_within), the one definition of "below". */
#define SCOPE_ON(a) FSV_SCOPE(FSV_SQ, a ".owner", a ".rid")
#define SCOPE_SQL SCOPE_ON("c")

/* 1 if sc is everything with no team filter (the unscoped fast paths). */
static int scope_everything(const fsv_scope *sc)
{
    return sc->all && !(sc->filter_team && sc->filter_team[0]);
}

int fsv__sq_bind_scope(fsv_store *s, sqlite3_stmt *st, const fsv_scope *sc)
{
    char *team = NULL, *filter = NULL, *pools = NULL;
    int rc = fsv__store_subtree_json(s, sc->all ? NULL : sc->team, &team);
    if (rc == FSV_OK && !sc->all)
        rc = fsv__store_pool_teams_json(s, sc->pool_team,
                                        sc->team && sc->team[0], &pools);
    if (rc == FSV_OK)
        rc = fsv__store_subtree_json(s, sc->filter_team, &filter);
    sqlite3_bind_int(st, 1, sc->all);
    bind_text(st, 2, sc->all || !sc->user ? "" : sc->user);
    bind_text(st, 3, team);
    bind_text(st, 20, pools);
    bind_text(st, 30, filter);
    free(team);
    free(pools);
    free(filter);
    return rc;
}

static int prep(fsv_store *s, const char *sql, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v2(SQ(s)->db, sql, -1, st, NULL) != SQLITE_OK) {
        *st = NULL;
        return dberr(s, "office: prepare");
    }
    return FSV_OK;
}

/* The sort column of each order (ascending; ties by skey, rid). */
static const char *sort_col(const char *sort)
{
    if (!sort || !*sort || strcmp(sort, "name") == 0)
        return NULL;
    if (strcmp(sort, "next") == 0)
        return "next_k";
    if (strcmp(sort, "last") == 0)
        return "last_k";
    if (strcmp(sort, "amount") == 0)
        return "amt_k";
    return "";
}

/* Search: name, company, phone (digits as typed or without punctuation),
** and the name's pinyin for a query of letters: ?4 the text, ?5 digits
** or NULL, ?6 1 for a pinyin query. */
#define FILTER_SQL                                                           \
    " AND c.deleted = 0"                                                     \
    " AND (?7 IS NULL OR c.stage = ?7) AND (?8 IS NULL OR c.owner = ?8)"     \
    " AND (?4 IS NULL OR instr(lower(c.name), lower(?4)) > 0"                \
    "  OR instr(lower(c.company), lower(?4)) > 0"                            \
    "  OR instr(c.phone, ?4) > 0"                                            \
    "  OR (?5 IS NOT NULL AND instr(replace(replace(replace(replace("         \
    "   replace(c.phone, ' ', ''), '-', ''), '+', ''), '(', ''), ')', ''),"  \
    "   ?5) > 0)"                                                            \
    "  OR (?6 AND fsv_pinyin(c.name, ?4)))"

static void bind_filters(sqlite3_stmt *st, const fsv_page_query *q,
                         char *digits, size_t dcap)
{
    const char *search = q->search && *q->search ? q->search : NULL;
    bind_text(st, 4, search);
    size_t nd = 0;
    int phone_like = search != NULL;
    for (const char *p = search; p && *p && phone_like; p++) {
        if (*p >= '0' && *p <= '9') {
            if (nd < dcap - 1)
                digits[nd++] = *p;
        } else if (!strchr(" -+()", *p)) {
            phone_like = 0;
        }
    }
    digits[nd] = '\0';
    if (phone_like && nd >= 3)
        bind_text(st, 5, digits);
    /* a pinyin query: letters, spaces and apostrophes, one letter at least */
    int letters = 0, pinyin = search != NULL;
    for (const char *p = search; p && *p && pinyin; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))
            letters++;
        else if (*p != ' ' && *p != '\'')
            pinyin = 0;
    }
    sqlite3_bind_int(st, 6, pinyin && letters > 0);
    bind_text(st, 7, q->stage && *q->stage ? q->stage : NULL);
    bind_text(st, 8, q->owner && *q->owner ? q->owner : NULL);
}

int fsv_sqlite_office_page(fsv_store *s, const fsv_page_query *q, char ***ids,
                           size_t *n, int64_t *total, int *more)
{
    *ids = NULL;
    *n = 0;
    *total = 0;
    *more = 0;
    const char *col = sort_col(q->sort);
    if (col && !*col)
        return seterr(s, FSV_INVALID, "unknown sort \"%s\" (name, next, last,"
                      " amount)", q->sort);
    char sql[3072], digits[64];
    sqlite3_stmt *st = NULL;
    /* A search reads the customers its grams name (the search's index,
    ** store_sqlite_office_search.c), each still tested by FILTER_SQL. */
    char *grams = NULL;
    int rc = FSV_NOTFOUND;
    if (q->search && *q->search)
        rc = fsv__sq_search_grams(s, q->search, &grams);
    if (rc != FSV_OK && rc != FSV_NOTFOUND)
        return rc;
    const char *cand = grams ? " AND c.rid IN (SELECT rid FROM ov_gram WHERE g IN"
                               " (SELECT value FROM json_each(?50)))" : "";
    /* The total first (same filters, no cursor): without a search, a sum
    ** of the aggregates (a count of 100,000 rows was most of a page). */
    rc = FSV_NOTFOUND;
    if (!(q->search && *q->search))
        rc = fsv__sq_agg_count(s, q->scope, q->stage && *q->stage ? q->stage : NULL,
                               q->owner && *q->owner ? q->owner : NULL, total);
    if (rc != FSV_OK && rc != FSV_NOTFOUND) {
        free(grams);
        return rc;
    }
    if (rc == FSV_NOTFOUND) {
        snprintf(sql, sizeof sql, "SELECT count(*) FROM ov_cust c WHERE "
                 SCOPE_SQL FILTER_SQL "%s", cand);
        if ((rc = prep(s, sql, &st)) != FSV_OK) {
            free(grams);
            return rc;
        }
        if ((rc = fsv__sq_bind_scope(s, st, q->scope)) != FSV_OK) {
            sqlite3_finalize(st);
            free(grams);
            return rc;
        }
        bind_filters(st, q, digits, sizeof digits);
        bind_text(st, 50, grams);
        if (sqlite3_step(st) != SQLITE_ROW) {
            sqlite3_finalize(st);
            free(grams);
            return dberr(s, "office: count");
        }
        *total = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    /* The page: keyset after the cursor customer's current sort values.
    ** The cursor is looked up within the scope: a customer the caller
    ** may not see gives an empty page, so naming one's id tells nothing
    ** about where it sorts. */
    const char *k = col ? col : "skey";
    if (col)
        snprintf(sql, sizeof sql,
                 "SELECT c.rid FROM ov_cust c WHERE " SCOPE_SQL FILTER_SQL "%s"
                 " AND (?9 IS NULL OR (c.%s, c.skey, c.rid) >"
                 " (SELECT x.%s, x.skey, x.rid FROM ov_cust x WHERE x.rid=?9"
                 " AND " SCOPE_ON("x") "))"
                 " ORDER BY c.%s, c.skey, c.rid LIMIT ?10", cand, k, k, k);
    else
        snprintf(sql, sizeof sql,
                 "SELECT c.rid FROM ov_cust c WHERE " SCOPE_SQL FILTER_SQL "%s"
                 " AND (?9 IS NULL OR (c.skey, c.rid) >"
                 " (SELECT x.skey, x.rid FROM ov_cust x WHERE x.rid=?9"
                 " AND " SCOPE_ON("x") "))"
                 " ORDER BY c.skey, c.rid LIMIT ?10", cand);
    if ((rc = prep(s, sql, &st)) != FSV_OK) {
        free(grams);
        return rc;
    }
    if ((rc = fsv__sq_bind_scope(s, st, q->scope)) != FSV_OK) {
        sqlite3_finalize(st);
        free(grams);
        return rc;
    }
    bind_text(st, 50, grams);
    free(grams);
    bind_filters(st, q, digits, sizeof digits);
    bind_text(st, 9, q->after && *q->after ? q->after : NULL);
    sqlite3_bind_int(st, 10, q->limit + 1);
    char **v = calloc((size_t)q->limit + 1, sizeof *v);
    if (!v) {
        sqlite3_finalize(st);
        return seterr(s, FSV_NOMEM, "out of memory");
    }
    size_t got = 0;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (got == (size_t)q->limit) {
            *more = 1;
            break;
        }
        if (!(v[got] = col_dup(st, 0))) {
            step = SQLITE_NOMEM;
            break;
        }
        got++;
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE) {
        rc = dberr(s, "office: page");
        for (size_t i = 0; i < got; i++)
            free(v[i]);
        free(v);
        sqlite3_finalize(st);
        return rc;
    }
    sqlite3_finalize(st);
    *ids = v;
    *n = got;
    return FSV_OK;
}

int fsv_sqlite_office_values(fsv_store *s, const char *id, json_t **values,
                             int64_t *updated_ms, int64_t *conflicts,
                             int64_t *next_ms, int64_t *last_ms)
{
    *values = NULL;
    *updated_ms = *conflicts = 0;
    *next_ms = *last_ms = -1;
    int rc = read_regs(s, XO_VALUES, "customer", id, values);
    if (rc != FSV_OK)
        return rc;
    if (json_object_size(*values) == 0) {
        json_decref(*values);
        *values = NULL;
        return seterr(s, FSV_NOTFOUND, "no customer %s", id);
    }
    sqlite3_stmt *st = xo(s, XO_UPDATED);
    if (!st)
        return FSV_ERROR;
    bind_static(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW)
        *updated_ms = (int64_t)((uint64_t)sqlite3_column_int64(st, 0) >> 16);
    sqlite3_reset(st);
    if (!(st = xo(s, XO_CONFLICTS_OF)))
        return FSV_ERROR;
    bind_static(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW)
        *conflicts = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (!(st = xo(s, XO_KEYS_OF)))
        return FSV_ERROR;
    bind_static(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW) {
        int64_t nk = sqlite3_column_int64(st, 0), lk = sqlite3_column_int64(st, 1);
        *next_ms = nk == FSV_OV_NONE_LAST ? -1 : nk;
        *last_ms = lk == -1 ? -1 : lk;
    }
    sqlite3_reset(st);
    return FSV_OK;
}

int fsv_sqlite_customer_history(fsv_store *s, const char *customer,
                                int64_t asof_s, fdsp_change **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = xo(s, XO_HIST_OF);
    if (!st)
        return FSV_ERROR;
    bind_static(st, 1, customer);
    sqlite3_bind_int64(st, 2, asof_s);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            fdsp_change *v = realloc(*out, nc * sizeof *v);
            if (!v) {
                rc = SQLITE_NOMEM;
                break;
            }
            *out = v;
            cap = nc;
        }
        fdsp_change *c = &(*out)[*n];
        memset(c, 0, sizeof *c);
        c->seq = sqlite3_column_int64(st, 0);
        c->table = col_dup(st, 1);
        c->record = col_dup(st, 2);
        c->field = col_dup(st, 3);
        c->value = col_dup(st, 4);
        const char *vv = (const char *)sqlite3_column_text(st, 5);
        c->hlc = (uint64_t)sqlite3_column_int64(st, 6);
        c->device = col_dup(st, 7);
        c->user = col_dup(st, 8);
        c->server_ms = sqlite3_column_int64(st, 9);
        (*n)++;
        if (!c->table || !c->record || !c->field || !c->device || !c->user ||
            !vv || fds_vv_parse(vv, &c->vv) != FDS_OK) {
            rc = SQLITE_NOMEM;
            break;
        }
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        for (size_t i = 0; i < *n; i++)
            fdsp_change_clear(&(*out)[i]);
        free(*out);
        *out = NULL;
        *n = 0;
        return rc == SQLITE_NOMEM ? seterr(s, FSV_NOMEM, "customer history:"
                                           " out of memory or a bad row")
                                  : dberr(s, "customer history");
    }
    return FSV_OK;
}

int fsv_sqlite_office_customers(fsv_store *s, const fsv_scope *sc,
                                fsv_office_cust_fn fn, void *ud)
{
    sqlite3_stmt *st = NULL;
    int rc = prep(s, "SELECT c.rid, c.owner, c.name, c.stage, c.amount,"
                  " c.close, c.birthday, c.next_k, c.last_k"
                  " FROM ov_cust c WHERE " SCOPE_SQL " AND c.deleted = 0", &st);
    if (rc != FSV_OK)
        return rc;
    if ((rc = fsv__sq_bind_scope(s, st, sc)) != FSV_OK) {
        sqlite3_finalize(st);
        return rc;
    }
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
        int64_t nk = sqlite3_column_int64(st, 7), lk = sqlite3_column_int64(st, 8);
        c.next_plan_ms = nk == FSV_OV_NONE_LAST ? -1 : nk;
        c.last_followup_ms = lk;
        if ((rc = fn(ud, &c)) != FSV_OK)
            break;
    }
    sqlite3_finalize(st);
    if (rc == FSV_OK && step != SQLITE_DONE)
        return dberr(s, "office: customers");
    return rc;
}

int fsv_sqlite_office_children(fsv_store *s, const fsv_scope *sc,
                               const char *tbl, int64_t from_ms, int64_t to_ms,
                               const char *stage_in, fsv_office_child_fn fn,
                               void *ud)
{
    sqlite3_stmt *st = NULL;
    /* stage_in: customers whose stage is one of a comma-separated list
    ** ("," + list + "," holds ",stage,").  Who sees everything reads the
    ** time range of the (tbl, at) index; a narrower scope or a stage
    ** filter starts from its customers and reads each one's records by
    ** the (customer, tbl) index (CROSS JOIN fixes that order), so a rep's
    ** figures cost the rep's records, not the company's. */
    /* With the aggregates' stage index (store_sqlite_office_agg.c), the
    ** stages' customers come from it. */
    const char *cond = stage_in && fsv__sq_agg_ready(s)
                           ? " k.tbl = ?4 AND k.at >= ?5 AND k.at < ?6"
                             " AND k.deleted = 0 AND c.deleted = 0 AND " SCOPE_SQL
                             " AND c.stage IN (SELECT value FROM json_each(?7))"
                           : " k.tbl = ?4 AND k.at >= ?5 AND k.at < ?6"
                             " AND k.deleted = 0 AND c.deleted = 0 AND " SCOPE_SQL
                             " AND (?7 IS NULL OR instr(',' || ?7 || ',',"
                             "  ',' || c.stage || ',') > 0)";
    char sql[2048];
    if (scope_everything(sc) && !stage_in)
        snprintf(sql, sizeof sql, "SELECT k.rid, k.customer, k.cowner, k.txt,"
                 " k.at, k.done FROM ov_child k INDEXED BY ov_child_time"
                 " WHERE k.tbl = ?4 AND k.at >= ?5 AND k.at < ?6"
                 " AND k.deleted = 0 AND k.cdel = 0");
    else
        snprintf(sql, sizeof sql, "SELECT k.rid, k.customer, c.owner, k.txt, k.at,"
                 " k.done FROM ov_cust c CROSS JOIN ov_child k"
                 " INDEXED BY ov_child_cc ON k.customer = c.rid WHERE%s", cond);
    int rc = prep(s, sql, &st);
    if (rc != FSV_OK)
        return rc;
    if (!(scope_everything(sc) && !stage_in)) {
        if ((rc = fsv__sq_bind_scope(s, st, sc)) != FSV_OK) {
            sqlite3_finalize(st);
            return rc;
        }
        if (stage_in && fsv__sq_agg_ready(s)) {
            char *j = fsv__sq_csv_json(stage_in);
            bind_text(st, 7, j ? j : "[]");
            free(j);
        } else {
            bind_text(st, 7, stage_in);
        }
    }
    bind_text(st, 4, tbl);
    sqlite3_bind_int64(st, 5, from_ms);
    sqlite3_bind_int64(st, 6, to_ms);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        fsv_office_child k;
        memset(&k, 0, sizeof k);
        k.tbl = tbl;
        k.id = (const char *)sqlite3_column_text(st, 0);
        k.customer = (const char *)sqlite3_column_text(st, 1);
        k.owner = (const char *)sqlite3_column_text(st, 2);
        k.text = (const char *)sqlite3_column_text(st, 3);
        k.at_ms = sqlite3_column_int64(st, 4);
        k.done = sqlite3_column_int(st, 5);
        if ((rc = fn(ud, &k)) != FSV_OK)
            break;
    }
    sqlite3_finalize(st);
    if (rc == FSV_OK && step != SQLITE_DONE)
        return dberr(s, "office: children");
    return rc;
}

int fsv_sqlite_office_reached(fsv_store *s, const fsv_scope *sc,
                              fsv_office_count_fn fn, void *ud)
{
    if (fsv__sq_agg_ready(s))       /* a sum over the scope's owners */
        return fsv__sq_agg_reached(s, sc, fn, ud);
    sqlite3_stmt *st = NULL;
    int rc = prep(s, "SELECT e.stage, count(*) FROM ov_seen e"
                  " JOIN ov_cust c ON c.rid = e.customer"
                  " WHERE c.deleted = 0 AND " SCOPE_SQL
                  " GROUP BY e.stage", &st);
    if (rc != FSV_OK)
        return rc;
    if ((rc = fsv__sq_bind_scope(s, st, sc)) != FSV_OK) {
        sqlite3_finalize(st);
        return rc;
    }
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        if ((rc = fn(ud, (const char *)sqlite3_column_text(st, 0),
                     sqlite3_column_int64(st, 1))) != FSV_OK)
            break;
    sqlite3_finalize(st);
    if (rc == FSV_OK && step != SQLITE_DONE)
        return dberr(s, "office: reached");
    return rc;
}

int fsv_sqlite_office_conflicts(fsv_store *s, const fsv_scope *sc,
                                fsv_office_conflict_fn fn, void *ud)
{
    sqlite3_stmt *st = NULL;
    /* The record's customer: itself, or its index entry's; visible and
    ** not deleted.  Definitions and orphans have no customer: not shown. */
    /* The records with any (rec_conflicts), then their fields in conflict
    ** from the decoded registers (fields come in name order). */
    int rc = prep(s, "SELECT r.tbl, r.rid, r.vals, r.regs, c.rid, c.name"
                  " FROM rec r JOIN ov_cust c ON c.rid = r.customer"
                  " WHERE r.conflicts > 0 AND c.deleted = 0 AND " SCOPE_SQL
                  " ORDER BY r.tbl, r.rid", &st);
    if (rc != FSV_OK)
        return rc;
    if ((rc = fsv__sq_bind_scope(s, st, sc)) != FSV_OK) {
        sqlite3_finalize(st);
        return rc;
    }
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *tbl = (const char *)sqlite3_column_text(st, 0);
        const char *rid = (const char *)sqlite3_column_text(st, 1);
        fsv_regpack_field *f = NULL;
        size_t n = 0;
        if ((rc = fsv__sq_regs_decode(s, tbl ? tbl : "?", rid ? rid : "?",
                                      st, 2, &f, &n)) != FSV_OK)
            break;
        for (size_t i = 0; rc == FSV_OK && i < n; i++)
            if (fds_register_in_conflict(&f[i].reg))
                rc = fn(ud, tbl, rid, f[i].name,
                        (const char *)sqlite3_column_text(st, 4),
                        (const char *)sqlite3_column_text(st, 5));
        fsv_regpack_free(f, n);
        if (rc != FSV_OK)
            break;
    }
    sqlite3_finalize(st);
    if (rc == FSV_OK && step != SQLITE_DONE)
        return dberr(s, "office: conflicts");
    return rc;
}

/* fsv_pinyin(text, query): fds_pinyin_match, for search. */
static void sql_pinyin(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const char *text = (const char *)sqlite3_value_text(argv[0]);
    const char *query = (const char *)sqlite3_value_text(argv[1]);
    sqlite3_result_int(ctx, text && query && fds_pinyin_match(text, query));
}

int fsv__sq_office_functions(fsv_store *s)
{
    if (sqlite3_create_function(SQ(s)->db, "fsv_pinyin", 2,
                                SQLITE_UTF8 | SQLITE_DETERMINISTIC |
                                    SQLITE_INNOCUOUS,
                                NULL, sql_pinyin, NULL, NULL) != SQLITE_OK)
        return dberr(s, "office: functions");
    return FSV_OK;
}
