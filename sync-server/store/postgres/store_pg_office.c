/*
** store_pg_office.c — the PostgreSQL backend's office view (store.h, "The
** office view"): the same projections as the SQLite backend's
** (store_sqlite_office.c has the reasoning), kept in the merge
** transaction, and the queries over them.
**
**   ov_cust(rid, owner, name, skey, stage, amount, close, birthday,
**           company, phone, deleted, next_k, last_k, amt_k)
**   ov_child(tbl, rid, customer, at, txt, done, deleted)
**   ov_seen(customer, stage), ov_share(usr, customer)
**
** merge_change notes each merged record of a projected table; commit
** derives each noted record once from its rec row just before COMMIT, so
** the projections commit or roll back with the changes.  Differences from
** SQLite's: the children's copy of their customer's owner (cowner, cdel)
** is a join here; and a page's search runs in C over the scope's
** customers in sort order (name, company and phone substrings, a phone's
** digits, pinyin with fds_pinyin_match, which PostgreSQL cannot call), so
** a page costs the scope's customers, not only the page's.
*/
#include "store.h"
#include "store_pg_int.h"
#include "store_scope_sql.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OV_NONE_LAST INT64_MAX
#define SKEY_MAX 1024

/* ---- Noting merged records ----------------------------------------------- */

typedef struct ov_note {
    char *tbl, *rid;
} ov_note;

typedef struct ov_list {
    ov_note *v;
    size_t n, cap;
} ov_list;

typedef struct ov_state {
    ov_list recs;   /* records to derive */
    ov_list keys;   /* customers whose activity keys to recompute */
} ov_state;

static ov_state *state(fsv_store *s)
{
    if (!PG(s)->office)
        PG(s)->office = calloc(1, sizeof(ov_state));
    return PG(s)->office;
}

static void list_clear(ov_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].tbl);
        free(l->v[i].rid);
    }
    l->n = 0;
}

void fsv__pg_office_clear(fsv_store *s)
{
    ov_state *o = PG(s)->office;
    if (o) {
        list_clear(&o->recs);
        list_clear(&o->keys);
    }
}

void fsv__pg_office_free(fsv_store *s)
{
    fsv__pg_office_clear(s);
    ov_state *o = PG(s)->office;
    if (o) {
        free(o->recs.v);
        free(o->keys.v);
    }
    free(o);
    PG(s)->office = NULL;
}

static int list_add(fsv_store *s, ov_list *l, const char *tbl, const char *rid)
{
    if (l->n && strcmp(l->v[l->n - 1].rid, rid) == 0 &&
        strcmp(l->v[l->n - 1].tbl, tbl) == 0)
        return FSV_OK;  /* a pushed group writes one record's fields in a row */
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        ov_note *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return seterr(s, FSV_NOMEM, "out of memory");
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n].tbl = strdup(tbl);
    l->v[l->n].rid = strdup(rid);
    if (!l->v[l->n].tbl || !l->v[l->n].rid) {
        free(l->v[l->n].tbl);
        free(l->v[l->n].rid);
        return seterr(s, FSV_NOMEM, "out of memory");
    }
    l->n++;
    return FSV_OK;
}

static int projected(const char *tbl)
{
    return strcmp(tbl, "customer") == 0 || strcmp(tbl, "followup") == 0 ||
           strcmp(tbl, "plan") == 0 || strcmp(tbl, "stagechg") == 0 ||
           strcmp(tbl, "share") == 0;
}

/* A simple statement with text parameters (NULL = SQL NULL). */
static PGresult *q(fsv_store *s, const char *sql, int n, const char *const *v,
                   const char *what, int *rc)
{
    /* The rec rows must hold the transaction's merges. */
    if ((*rc = fsv__pg_memo_flush(s)) != FSV_OK)
        return NULL;
    PGresult *r = PQexecParams(PG(s)->db, sql, n, NULL, v, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        *rc = seterr(s, FSV_ERROR, "store: office: %s: %s", what,
                     PQresultErrorMessage(r));
        PQclear(r);
        return NULL;
    }
    *rc = FSV_OK;
    return r;
}

static int run(fsv_store *s, const char *sql, int n, const char *const *v,
               const char *what)
{
    int rc;
    PQclear(q(s, sql, n, v, what, &rc));
    return rc;
}

int fsv__pg_office_note(fsv_store *s, const fdsp_change *c)
{
    if (!projected(c->table))
        return FSV_OK;
    ov_state *o = state(s);
    if (!o)
        return seterr(s, FSV_NOMEM, "out of memory");
    if (strcmp(c->table, "customer") == 0 && strcmp(c->field, "stage") == 0 &&
        c->value) {
        const char *v[] = {c->record, c->value};
        int rc = run(s, "INSERT INTO ov_seen(customer, stage) VALUES ($1, $2)"
                     " ON CONFLICT DO NOTHING", 2, v, "stage seen");
        if (rc != FSV_OK)
            return rc;
    }
    return list_add(s, &o->recs, c->table, c->record);
}

/* ---- Deriving a record's projection ------------------------------------------ */

/* The record's winners {field: value} (nulls left out) and its creator;
** *out NULL when there is no such record. */
static int winners(fsv_store *s, const char *tbl, const char *rid,
                   json_t **out, char **creator)
{
    *out = NULL;
    if (creator)
        *creator = NULL;
    const char *v[] = {tbl, rid};
    int rc;
    PGresult *r = q(s, "SELECT creator, regs::text FROM rec WHERE tbl=$1"
                    " AND rid=$2", 2, v, "registers", &rc);
    if (!r)
        return rc;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return FSV_OK;
    }
    json_error_t jerr;
    json_t *regs = json_loads(PQgetvalue(r, 0, 1), 0, &jerr);
    json_t *o = json_object();
    if (creator)
        *creator = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    if (!json_is_object(regs) || !o || (creator && !*creator)) {
        json_decref(regs);
        json_decref(o);
        if (creator) {
            free(*creator);
            *creator = NULL;
        }
        return seterr(s, FSV_ERROR, "store: office: record %s/%s: damaged"
                      " registers or out of memory", tbl, rid);
    }
    const char *field;
    json_t *val;
    json_object_foreach(regs, field, val)
    {
        fds_register reg = {0, NULL};
        const char *t = json_string_value(val);
        if (t && fds_register_parse(t, &reg) == FDS_OK && reg.n &&
            reg.v[0].value)
            json_object_set_new(o, field, json_string(reg.v[0].value));
        fds_register_clear(&reg);
    }
    json_decref(regs);
    *out = o;
    return FSV_OK;
}

static const char *jv(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static const char *const keys_sql =
    "UPDATE ov_cust SET"
    " next_k=coalesce((SELECT min(at) FROM ov_child WHERE customer=$1"
    "  AND tbl='plan' AND done=0 AND deleted=0 AND at IS NOT NULL),"
    "  9223372036854775807),"
    " last_k=coalesce((SELECT max(at) FROM ov_child WHERE customer=$1"
    "  AND tbl='followup' AND deleted=0 AND at IS NOT NULL), -1)"
    " WHERE rid=$1";

static int derive_customer(fsv_store *s, const char *rid)
{
    json_t *r = NULL;
    char *creator = NULL;
    int rc = winners(s, "customer", rid, &r, &creator);
    if (rc != FSV_OK || !r)
        return rc;
    const char *owner = jv(r, "owner");
    const char *pool = jv(r, "pool");
    /* A pool customer (owner empty, pool "1") has no owner: not the
    ** creator's (visibility.c's customer_owner), as SQLite's. */
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
    char amt[64], amtk[64];
    snprintf(amt, sizeof amt, "%.17g", a);
    snprintf(amtk, sizeof amtk, "%.17g", has_amount ? -a : 1e300);
    /* The duplicate keys (store_pg_dup.c) follow the customer in the
    ** same statement ($13, $14). */
    char want[2][FSV_DUP_KEY_MAX];
    int nk = fsv__pg_dup_want(jv(r, "phone"), jv(r, "wechat"), deleted, want);
    const char *vals[14] = {rid, owner, name, NULL, jv(r, "stage"),
                            has_amount ? amt : NULL, jv(r, "expected_close"),
                            jv(r, "birthday"), jv(r, "company"),
                            jv(r, "phone"), deleted ? "1" : "0", amtk,
                            nk > 0 ? want[0] : NULL, nk > 1 ? want[1] : NULL};
    int lens[14] = {0}, fmts[14] = {0};
    vals[3] = (const char *)key;
    lens[3] = (int)kn;
    fmts[3] = 1;
    PGresult *res = PQexecParams(
        PG(s)->db,
        PG_DUP_CTE("$1", "$13", "$14")
        " INSERT INTO ov_cust(rid, owner, name, skey, stage, amount, close,"
        " birthday, company, phone, deleted, next_k, last_k, amt_k)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,"
        " coalesce((SELECT min(at) FROM ov_child WHERE customer=$1"
        "  AND tbl='plan' AND done=0 AND deleted=0 AND at IS NOT NULL),"
        "  9223372036854775807),"
        " coalesce((SELECT max(at) FROM ov_child WHERE customer=$1"
        "  AND tbl='followup' AND deleted=0 AND at IS NOT NULL), -1), $12)"
        " ON CONFLICT(rid) DO UPDATE SET owner=excluded.owner,"
        " name=excluded.name, skey=excluded.skey, stage=excluded.stage,"
        " amount=excluded.amount, close=excluded.close,"
        " birthday=excluded.birthday, company=excluded.company,"
        " phone=excluded.phone, deleted=excluded.deleted,"
        " next_k=excluded.next_k, last_k=excluded.last_k,"
        " amt_k=excluded.amt_k",
        14, NULL, vals, lens, fmts, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = seterr(s, FSV_ERROR, "store: office: customer: %s",
                    PQresultErrorMessage(res));
    PQclear(res);
    free(creator);
    json_decref(r);
    return rc;
}

static int derive_child(fsv_store *s, const char *tbl, const char *rid)
{
    json_t *r = NULL;
    int rc = winners(s, tbl, rid, &r, NULL);
    if (rc != FSV_OK || !r)
        return rc;
    ov_state *o = state(s);
    int plan = strcmp(tbl, "plan") == 0, fu = strcmp(tbl, "followup") == 0;
    const char *at = jv(r, plan ? "due" : "at");
    const char *txt = fu ? jv(r, "author") : plan ? NULL : jv(r, "to");
    const char *d = jv(r, "done"), *del = jv(r, "deleted");
    const char *cust = jv(r, "customer");
    int64_t ms;
    char msbuf[24];
    int has_at = at && fds_time_parse(at, &ms) == FDS_OK;
    if (has_at)
        snprintf(msbuf, sizeof msbuf, "%lld", (long long)ms);
    /* The customer it belonged to before: its activity keys move too. */
    const char *kv[] = {tbl, rid};
    PGresult *b = q(s, "SELECT customer FROM ov_child WHERE tbl=$1 AND rid=$2",
                    2, kv, "child", &rc);
    char *before = b && PQntuples(b) && !PQgetisnull(b, 0, 0)
                       ? strdup(PQgetvalue(b, 0, 0)) : NULL;
    PQclear(b);
    if (rc == FSV_OK) {
        const char *v[] = {tbl, rid, cust, has_at ? msbuf : NULL, txt,
                           d && strcmp(d, "1") == 0 ? "1" : "0",
                           del && strcmp(del, "1") == 0 ? "1" : "0"};
        rc = run(s, "INSERT INTO ov_child(tbl, rid, customer, at, txt, done,"
                 " deleted) VALUES ($1, $2, $3, $4, $5, $6, $7)"
                 " ON CONFLICT(tbl, rid) DO UPDATE SET"
                 " customer=excluded.customer, at=excluded.at,"
                 " txt=excluded.txt, done=excluded.done,"
                 " deleted=excluded.deleted", 7, v, "child");
    }
    if (rc == FSV_OK && cust)
        rc = list_add(s, &o->keys, "", cust);
    if (rc == FSV_OK && before && (!cust || strcmp(before, cust) != 0))
        rc = list_add(s, &o->keys, "", before);
    free(before);
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
    int rc = winners(s, "share", rid, &r, NULL);
    if (rc != FSV_OK || !r)
        return rc;
    /* store.c's rule: a share gives sight unless its deleted says "1". */
    const char *del = jv(r, "deleted");
    int gone = del && strcmp(del, "1") == 0;
    json_decref(r);
    const char *v[] = {colon + 1, customer};
    return run(s, gone ? "DELETE FROM ov_share WHERE usr=$1 AND customer=$2"
                       : "INSERT INTO ov_share(usr, customer) VALUES ($1, $2)"
                         " ON CONFLICT DO NOTHING", 2, v, "share");
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

int fsv__pg_office_flush(fsv_store *s)
{
    ov_state *o = PG(s)->office;
    if (!o || (!o->recs.n && !o->keys.n))
        return FSV_OK;
    if (o->recs.n > 1)  /* qsort(NULL, 0) is undefined */
        qsort(o->recs.v, o->recs.n, sizeof *o->recs.v, cmp_note);
    int rc = FSV_OK;
    for (size_t i = 0; rc == FSV_OK && i < o->recs.n; i++) {
        ov_note *nt = &o->recs.v[i];
        if (i && cmp_note(&o->recs.v[i - 1], nt) == 0)
            continue;
        if (strcmp(nt->tbl, "customer") == 0)
            rc = derive_customer(s, nt->rid);
        else if (strcmp(nt->tbl, "share") == 0)
            rc = derive_share(s, nt->rid);
        else
            rc = derive_child(s, nt->tbl, nt->rid);
    }
    if (o->keys.n > 1)
        qsort(o->keys.v, o->keys.n, sizeof *o->keys.v, cmp_note);
    for (size_t i = 0; rc == FSV_OK && i < o->keys.n; i++)
        if (!i || strcmp(o->keys.v[i - 1].rid, o->keys.v[i].rid) != 0) {
            const char *v[] = {o->keys.v[i].rid};
            rc = run(s, keys_sql, 1, v, "activity keys");
        }
    fsv__pg_office_clear(s);
    return rc;
}

/* ---- Queries ------------------------------------------------------------------ */

/* The scope over ov_cust a, the rule of store_scope_sql.h as SQLite's: $1 all,
** $2 user, $3 the JSON array of the team and the teams below it (NULL:
** none), $4 the JSON array of the pools the user sees (a pool customer
** has owner '' and its team in pool_cust; NULL: none), $5 the subtree of
** the dashboard's team filter (NULL: none), which keeps the owned
** customers of its teams and the pool customers of their pools.  The
** subtrees come from store_teams.c (fsv_teams_within).  A query's own
** parameters follow, from $6. */
#define SCOPE_ON(a) FSV_SCOPE(FSV_PG, a ".owner", a ".rid")
#define SCOPE_SQL SCOPE_ON("c")
#define SCOPE_N 5

/* The scope's parameters into v[0..4]; free the JSON with scope_free. */
typedef struct pg_scope {
    char *team, *pools, *filter;
} pg_scope;

static int scope_params(fsv_store *s, const fsv_scope *sc, const char **v,
                        pg_scope *ps)
{
    memset(ps, 0, sizeof *ps);
    int rc = fsv__store_subtree_json(s, sc->all ? NULL : sc->team, &ps->team);
    if (rc == FSV_OK && !sc->all)
        rc = fsv__store_pool_teams_json(s, sc->pool_team,
                                        sc->team && sc->team[0], &ps->pools);
    if (rc == FSV_OK)
        rc = fsv__store_subtree_json(s, sc->filter_team, &ps->filter);
    v[0] = sc->all ? "t" : "f";
    v[1] = sc->all || !sc->user ? "" : sc->user;
    v[2] = ps->team;
    v[3] = ps->pools;
    v[4] = ps->filter;
    return rc;
}

static void scope_free(pg_scope *ps)
{
    free(ps->team);
    free(ps->pools);
    free(ps->filter);
}

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

/* ASCII case-insensitive substring (SQLite's lower() is ASCII only). */
static int has_ci(const char *hay, const char *needle)
{
    if (!hay)
        return 0;
    size_t n = strlen(needle);
    for (const char *p = hay; *p; p++) {
        size_t i = 0;
        while (i < n && p[i]) {
            char a = p[i], b = needle[i];
            if (a >= 'A' && a <= 'Z')
                a = (char)(a - 'A' + 'a');
            if (b >= 'A' && b <= 'Z')
                b = (char)(b - 'A' + 'a');
            if (a != b)
                break;
            i++;
        }
        if (i == n)
            return 1;
    }
    return n == 0;
}

typedef struct search_q {
    const char *text;   /* NULL: no search */
    char digits[64];    /* a phone-like query's digits ("" if not) */
    int pinyin;
} search_q;

static void search_init(search_q *sq, const char *search)
{
    sq->text = search && *search ? search : NULL;
    size_t nd = 0;
    int phone_like = sq->text != NULL;
    for (const char *p = sq->text; p && *p && phone_like; p++) {
        if (*p >= '0' && *p <= '9') {
            if (nd < sizeof sq->digits - 1)
                sq->digits[nd++] = *p;
        } else if (!strchr(" -+()", *p)) {
            phone_like = 0;
        }
    }
    sq->digits[phone_like && nd >= 3 ? nd : 0] = '\0';
    int letters = 0, pinyin = sq->text != NULL;
    for (const char *p = sq->text; p && *p && pinyin; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))
            letters++;
        else if (*p != ' ' && *p != '\'')
            pinyin = 0;
    }
    sq->pinyin = pinyin && letters > 0;
}

static int search_match(const search_q *sq, const char *name,
                        const char *company, const char *phone)
{
    if (!sq->text)
        return 1;
    if (has_ci(name, sq->text) || has_ci(company, sq->text) ||
        (phone && strstr(phone, sq->text)))
        return 1;
    if (sq->digits[0] && phone) {
        char d[256];
        size_t k = 0;
        for (const char *p = phone; *p && k < sizeof d - 1; p++)
            if (!strchr(" -+()", *p))
                d[k++] = *p;
        d[k] = '\0';
        if (strstr(d, sq->digits))
            return 1;
    }
    return sq->pinyin && name && fds_pinyin_match(name, sq->text);
}

int fsv_pg_office_page(fsv_store *s, const fsv_page_query *pq, char ***ids,
                       size_t *n, int64_t *total, int *more)
{
    *ids = NULL;
    *n = 0;
    *total = 0;
    *more = 0;
    const char *col = sort_col(pq->sort);
    if (col && !*col)
        return seterr(s, FSV_INVALID, "unknown sort \"%s\" (name, next, last,"
                      " amount)", pq->sort);
    const char *k = col ? col : "skey";
    char sql[4096];
    /* Every customer of the scope matching stage and owner, in the page
    ** order, each with whether it is past the cursor ($8; the cursor is
    ** looked up within the scope, so naming a customer one may not see
    ** tells nothing about where it sorts: nothing is past it). */
    if (col)
        snprintf(sql, sizeof sql,
                 "SELECT c.rid, c.name, c.company, c.phone, ($8::text IS NULL"
                 " OR (c.%s, c.skey, c.rid) > (SELECT x.%s, x.skey, x.rid"
                 " FROM ov_cust x WHERE x.rid=$8 AND " SCOPE_ON("x") "))"
                 " FROM ov_cust c WHERE " SCOPE_SQL " AND c.deleted = 0"
                 " AND ($6::text IS NULL OR c.stage = $6)"
                 " AND ($7::text IS NULL OR c.owner = $7)"
                 " ORDER BY c.%s, c.skey, c.rid", k, k, k);
    else
        snprintf(sql, sizeof sql,
                 "SELECT c.rid, c.name, c.company, c.phone, ($8::text IS NULL"
                 " OR (c.skey, c.rid) > (SELECT x.skey, x.rid"
                 " FROM ov_cust x WHERE x.rid=$8 AND " SCOPE_ON("x") "))"
                 " FROM ov_cust c WHERE " SCOPE_SQL " AND c.deleted = 0"
                 " AND ($6::text IS NULL OR c.stage = $6)"
                 " AND ($7::text IS NULL OR c.owner = $7)"
                 " ORDER BY c.skey, c.rid");
    const char *v[SCOPE_N + 3];
    pg_scope ps;
    int rc = scope_params(s, pq->scope, v, &ps);
    v[SCOPE_N] = pq->stage && *pq->stage ? pq->stage : NULL;
    v[SCOPE_N + 1] = pq->owner && *pq->owner ? pq->owner : NULL;
    v[SCOPE_N + 2] = pq->after && *pq->after ? pq->after : NULL;
    PGresult *r = rc == FSV_OK ? q(s, sql, SCOPE_N + 3, v, "page", &rc) : NULL;
    scope_free(&ps);
    if (!r)
        return rc;
    search_q sq;
    search_init(&sq, pq->search);
    char **out = calloc((size_t)pq->limit + 1, sizeof *out);
    if (!out) {
        PQclear(r);
        return seterr(s, FSV_NOMEM, "out of memory");
    }
    size_t got = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        const char *name = PQgetisnull(r, i, 1) ? NULL : PQgetvalue(r, i, 1);
        const char *comp = PQgetisnull(r, i, 2) ? NULL : PQgetvalue(r, i, 2);
        const char *phone = PQgetisnull(r, i, 3) ? NULL : PQgetvalue(r, i, 3);
        if (!search_match(&sq, name, comp, phone))
            continue;
        (*total)++;
        if (strcmp(PQgetvalue(r, i, 4), "t") != 0)
            continue;   /* not past the cursor (NULL: a cursor not seen) */
        if (got == (size_t)pq->limit) {
            *more = 1;
            continue;
        }
        if (!(out[got] = strdup(PQgetvalue(r, i, 0)))) {
            rc = seterr(s, FSV_NOMEM, "out of memory");
            break;
        }
        got++;
    }
    PQclear(r);
    if (rc != FSV_OK) {
        for (size_t i = 0; i < got; i++)
            free(out[i]);
        free(out);
        return rc;
    }
    *ids = out;
    *n = got;
    return FSV_OK;
}

int fsv_pg_office_values(fsv_store *s, const char *id, json_t **values,
                         int64_t *updated_ms, int64_t *conflicts,
                         int64_t *next_ms, int64_t *last_ms)
{
    *values = NULL;
    *updated_ms = *conflicts = 0;
    *next_ms = *last_ms = -1;
    json_t *w = NULL;
    int rc = winners(s, "customer", id, &w, NULL);
    if (rc != FSV_OK)
        return rc;
    if (!w || json_object_size(w) == 0) {
        json_decref(w);
        return seterr(s, FSV_NOTFOUND, "no customer %s", id);
    }
    const char *v[] = {id};
    PGresult *r = q(s, "SELECT"
                    " (SELECT hlc FROM hist WHERE tbl='customer' AND rid=$1"
                    "  ORDER BY seq DESC LIMIT 1),"
                    " coalesce((SELECT conflicts FROM rec WHERE tbl='customer'"
                    "  AND rid=$1), 0) + (SELECT coalesce(sum(conflicts), 0)"
                    "  FROM rec WHERE customer=$1 AND tbl<>'customer'),"
                    " (SELECT next_k FROM ov_cust WHERE rid=$1),"
                    " (SELECT last_k FROM ov_cust WHERE rid=$1)",
                    1, v, "values", &rc);
    if (!r) {
        json_decref(w);
        return rc;
    }
    if (!PQgetisnull(r, 0, 0))
        *updated_ms = (int64_t)(strtoull(PQgetvalue(r, 0, 0), NULL, 10) >> 16);
    *conflicts = col_i64(r, 0, 1);
    if (!PQgetisnull(r, 0, 2)) {
        int64_t nk = col_i64(r, 0, 2);
        *next_ms = nk == OV_NONE_LAST ? -1 : nk;
        *last_ms = col_i64(r, 0, 3);
    }
    PQclear(r);
    *values = w;
    return FSV_OK;
}

int fsv_pg_customer_history(fsv_store *s, const char *customer,
                            int64_t asof_s, fdsp_change **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    char asof[24];
    snprintf(asof, sizeof asof, "%lld", (long long)asof_s);
    const char *v[] = {customer, asof};
    int rc;
    PGresult *r = q(s,
        "SELECT seq, tbl, rid, field, value, vv, hlc, device, usr, server_ms"
        " FROM ("
        "  SELECT * FROM hist WHERE tbl='customer' AND rid=$1"
        "  UNION ALL SELECT h.* FROM rec r JOIN hist h ON h.tbl=r.tbl"
        "   AND h.rid=r.rid WHERE r.customer=$1 AND r.tbl<>'customer'"
        "  UNION ALL SELECT * FROM hist WHERE tbl='stagedef'"
        "  UNION ALL SELECT * FROM hist WHERE tbl='fielddef') u"
        " WHERE ($2::bigint < 0 OR (hlc >> 16) / 1000 <= $2::bigint)"
        " ORDER BY seq", 2, v, "customer history", &rc);
    if (!r)
        return rc;
    size_t rows = (size_t)PQntuples(r);
    fdsp_change *c = calloc(rows ? rows : 1, sizeof *c);
    if (!c) {
        PQclear(r);
        return seterr(s, FSV_NOMEM, "out of memory");
    }
    for (size_t i = 0; rc == FSV_OK && i < rows; i++) {
        int row = (int)i;
        c[i].seq = col_i64(r, row, 0);
        c[i].table = col_dup(r, row, 1);
        c[i].record = col_dup(r, row, 2);
        c[i].field = col_dup(r, row, 3);
        c[i].value = col_dup(r, row, 4);
        c[i].hlc = strtoull(PQgetvalue(r, row, 6), NULL, 10);
        c[i].device = col_dup(r, row, 7);
        c[i].user = col_dup(r, row, 8);
        c[i].server_ms = col_i64(r, row, 9);
        if (!c[i].table || !c[i].record || !c[i].field || !c[i].device ||
            !c[i].user || fds_vv_parse(PQgetvalue(r, row, 5), &c[i].vv) != FDS_OK)
            rc = seterr(s, FSV_NOMEM, "customer history: out of memory or a"
                        " bad row");
    }
    PQclear(r);
    if (rc != FSV_OK) {
        for (size_t i = 0; i < rows; i++)
            fdsp_change_clear(&c[i]);
        free(c);
        return rc;
    }
    *out = c;
    *n = rows;
    return FSV_OK;
}

static const char *cv(const PGresult *r, int i, int col)
{
    return PQgetisnull(r, i, col) ? NULL : PQgetvalue(r, i, col);
}

int fsv_pg_office_customers(fsv_store *s, const fsv_scope *sc,
                            fsv_office_cust_fn fn, void *ud)
{
    const char *v[SCOPE_N];
    pg_scope ps;
    int rc = scope_params(s, sc, v, &ps);
    PGresult *r = rc != FSV_OK ? NULL
        : q(s, "SELECT c.rid, c.owner, c.name, c.stage, c.amount,"
            " c.close, c.birthday, c.next_k, c.last_k FROM ov_cust c"
            " WHERE " SCOPE_SQL " AND c.deleted = 0", SCOPE_N, v,
            "customers", &rc);
    scope_free(&ps);
    if (!r)
        return rc;
    for (int i = 0; rc == FSV_OK && i < PQntuples(r); i++) {
        fsv_office_cust c;
        memset(&c, 0, sizeof c);
        c.id = cv(r, i, 0);
        c.owner = cv(r, i, 1);
        c.name = cv(r, i, 2);
        c.stage = cv(r, i, 3);
        c.has_amount = !PQgetisnull(r, i, 4);
        c.amount = c.has_amount ? strtod(PQgetvalue(r, i, 4), NULL) : 0;
        c.close = cv(r, i, 5);
        c.birthday = cv(r, i, 6);
        int64_t nk = col_i64(r, i, 7);
        c.next_plan_ms = nk == OV_NONE_LAST ? -1 : nk;
        c.last_followup_ms = col_i64(r, i, 8);
        rc = fn(ud, &c);
    }
    PQclear(r);
    return rc;
}

int fsv_pg_office_children(fsv_store *s, const fsv_scope *sc, const char *tbl,
                           int64_t from_ms, int64_t to_ms, const char *stage_in,
                           fsv_office_child_fn fn, void *ud)
{
    char from[24], to[24];
    snprintf(from, sizeof from, "%lld", (long long)from_ms);
    snprintf(to, sizeof to, "%lld", (long long)to_ms);
    const char *v[SCOPE_N + 4];
    pg_scope ps;
    int rc = scope_params(s, sc, v, &ps);
    v[SCOPE_N] = tbl;
    v[SCOPE_N + 1] = from;
    v[SCOPE_N + 2] = to;
    v[SCOPE_N + 3] = stage_in;
    PGresult *r = rc != FSV_OK ? NULL
        : q(s, "SELECT k.rid, k.customer, c.owner, k.txt, k.at, k.done"
            " FROM ov_child k JOIN ov_cust c ON c.rid = k.customer"
            " WHERE k.tbl = $6 AND k.at >= $7::bigint"
            " AND k.at < $8::bigint AND k.deleted = 0"
            " AND c.deleted = 0 AND " SCOPE_SQL
            " AND ($9::text IS NULL OR position(',' || c.stage || ','"
            "  in ',' || $9 || ',') > 0)", SCOPE_N + 4, v, "children", &rc);
    scope_free(&ps);
    if (!r)
        return rc;
    for (int i = 0; rc == FSV_OK && i < PQntuples(r); i++) {
        fsv_office_child k;
        memset(&k, 0, sizeof k);
        k.tbl = tbl;
        k.id = cv(r, i, 0);
        k.customer = cv(r, i, 1);
        k.owner = cv(r, i, 2);
        k.text = cv(r, i, 3);
        k.at_ms = col_i64(r, i, 4);
        k.done = (int)col_i64(r, i, 5);
        rc = fn(ud, &k);
    }
    PQclear(r);
    return rc;
}

int fsv_pg_office_reached(fsv_store *s, const fsv_scope *sc,
                          fsv_office_count_fn fn, void *ud)
{
    const char *v[SCOPE_N];
    pg_scope ps;
    int rc = scope_params(s, sc, v, &ps);
    PGresult *r = rc != FSV_OK ? NULL
        : q(s, "SELECT e.stage, count(*) FROM ov_seen e"
            " JOIN ov_cust c ON c.rid = e.customer"
            " WHERE c.deleted = 0 AND " SCOPE_SQL
            " GROUP BY e.stage", SCOPE_N, v, "reached", &rc);
    scope_free(&ps);
    if (!r)
        return rc;
    for (int i = 0; rc == FSV_OK && i < PQntuples(r); i++)
        rc = fn(ud, PQgetvalue(r, i, 0), col_i64(r, i, 1));
    PQclear(r);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int fsv_pg_office_conflicts(fsv_store *s, const fsv_scope *sc,
                            fsv_office_conflict_fn fn, void *ud)
{
    const char *v[SCOPE_N];
    pg_scope ps;
    int rc = scope_params(s, sc, v, &ps);
    PGresult *r = rc != FSV_OK ? NULL
        : q(s, "SELECT r.tbl, r.rid, r.regs::text, c.rid, c.name"
            " FROM rec r JOIN ov_cust c ON c.rid = r.customer"
            " WHERE r.conflicts > 0 AND c.deleted = 0 AND " SCOPE_SQL
            " ORDER BY r.tbl, r.rid", SCOPE_N, v, "conflicts", &rc);
    scope_free(&ps);
    if (!r)
        return rc;
    for (int i = 0; rc == FSV_OK && i < PQntuples(r); i++) {
        const char *tbl = PQgetvalue(r, i, 0), *rid = PQgetvalue(r, i, 1);
        json_error_t jerr;
        json_t *regs = json_loads(PQgetvalue(r, i, 2), 0, &jerr);
        size_t nf = json_object_size(regs), k = 0;
        const char **names = calloc(nf ? nf : 1, sizeof *names);
        if (!json_is_object(regs) || !names) {
            json_decref(regs);
            free(names);
            rc = seterr(s, FSV_ERROR, "store: office: record %s/%s: damaged"
                        " registers", tbl, rid);
            break;
        }
        const char *f;
        json_t *val;
        json_object_foreach(regs, f, val) names[k++] = f;
        qsort(names, nf, sizeof *names, cmp_str);   /* fields in name order */
        for (size_t j = 0; rc == FSV_OK && j < nf; j++) {
            fds_register reg = {0, NULL};
            const char *t = json_string_value(json_object_get(regs, names[j]));
            if (t && fds_register_parse(t, &reg) == FDS_OK &&
                fds_register_in_conflict(&reg))
                rc = fn(ud, tbl, rid, names[j], cv(r, i, 3), cv(r, i, 4));
            fds_register_clear(&reg);
        }
        free(names);
        json_decref(regs);
    }
    PQclear(r);
    return rc;
}
