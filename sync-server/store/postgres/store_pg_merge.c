/*
** store_pg_merge.c — the PostgreSQL backend's write path and its reads of
** registers and history: merge (fds_merge, the same pure function as the
** devices and the SQLite store), the record index, field counts and
** values, the pull's scan through the visibility filter, visibility
** events and a customer's full state (store.h).
**
** A record's registers live in its rec row as one jsonb object
** {FIELD: canonical register text}: a write transaction reads a record's
** row once into its memo (store_pg_memo.c), merges each change into it
** and writes the row once.
** The canonical text (fds_register_dump) is kept as a string rather than
** as nested jsonb because jsonb does not keep bytes: every replica must
** hold identical register bytes.  History is one row per change, kept
** in memory and written with the transaction's others in one statement
** (store_pg_batch.c).
*/
#include "store.h"
#include "store_pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Reading a record -------------------------------------------------------- */

typedef struct pgrec {
    int present;
    char *customer, *creator, *reg; /* malloc'd; reg: the field's register */
    int64_t nfields;
} pgrec;

static void pgrec_clear(pgrec *r)
{
    free(r->customer);
    free(r->creator);
    free(r->reg);
    memset(r, 0, sizeof *r);
}

static int rec_get(fsv_store *s, const char *tbl, const char *rid,
                   const char *field, pgrec *out)
{
    memset(out, 0, sizeof *out);
    /* A record this transaction has read: the memo has it.  In a
    ** transaction a record not yet in the memo is read into it:
    ** a push asks about each change's record (field count, visibility:
    ** the follow-up's customer, its owner) several times before and
    ** after merging it, and a pull's visibility filter asks for the
    ** customer of row after row; each ask was a round trip of its own
    ** (~9 per pushed record end to end, bench_stores). */
    pg_mrec *m = fsv__pg_memo_find(s, tbl, rid);
    if (!m && strcmp(tbl, "share") == 0 && fsv__pg_memo_share_absent(s, rid))
        return FSV_OK;      /* a pull page's shares were all read */
    /* In a read transaction only what a pull page prefetched is in the
    ** memo: another record is asked for its one field, as before (a read
    ** transaction may ask once about each of many records, and a whole
    ** row read and parsed for one field cost more than it saved). */
    if (!m && PG(s)->write_tx) {
        int mrc = fsv__pg_memo_get(s, tbl, rid, &m);
        if (mrc != FSV_OK)
            return mrc;
    }
    if (m) {
        if (!m->exists)
            return FSV_OK;
        const char *t = field ? json_string_value(json_object_get(m->regs,
                                                                  field))
                              : NULL;
        out->present = 1;
        out->customer = m->customer ? strdup(m->customer) : NULL;
        out->creator = strdup(m->creator ? m->creator : "");
        out->reg = t ? strdup(t) : NULL;
        out->nfields = (int64_t)json_object_size(m->regs);
        if ((m->customer && !out->customer) || !out->creator || (t && !out->reg)) {
            pgrec_clear(out);
            return seterr(s, FSV_NOMEM, "out of memory");
        }
        return FSV_OK;
    }
    pgp p = {0};
    p_text(&p, tbl);
    p_text(&p, rid);
    p_text(&p, field ? field : "");
    int rc;
    PGresult *r = fsv__pg_exec(s, PS_REC_GET, &p, "read record", &rc);
    if (!r)
        return rc;
    if (PQntuples(r) == 1) {
        out->present = 1;
        out->customer = col_dup(r, 0, 0);
        out->creator = col_dup(r, 0, 1);
        out->reg = col_dup(r, 0, 2);
        out->nfields = col_i64(r, 0, 3);
        if ((!PQgetisnull(r, 0, 0) && !out->customer) || !out->creator ||
            (!PQgetisnull(r, 0, 2) && !out->reg)) {
            PQclear(r);
            pgrec_clear(out);
            return seterr(s, FSV_NOMEM, "out of memory");
        }
    }
    PQclear(r);
    return FSV_OK;
}

static int parse_reg(fsv_store *s, const char *tbl, const char *rid,
                     const char *field, const char *text, fds_register *out)
{
    memset(out, 0, sizeof *out);
    if (!text)
        return FSV_OK;
    int rc = fds_register_parse(text, out);
    if (rc == FDS_NOMEM)
        return seterr(s, FSV_NOMEM, "out of memory");
    if (rc != FDS_OK)
        return seterr(s, FSV_ERROR, "store: register %s/%s/%s is damaged",
                      tbl, rid, field);
    return FSV_OK;
}

/* ---- Merge ------------------------------------------------------------------- */

/* The counter of c's own device in its vector (0 if absent). */
static int64_t own_counter(const fdsp_change *c)
{
    for (size_t i = 0; c->device && i < c->vv.n; i++)
        if (strcmp(c->vv.e[i].device, c->device) == 0)
            return (int64_t)c->vv.e[i].counter;
    return 0;
}

/* The change's history row, kept to be written with the transaction's
** others in one statement (store_pg_batch.c); its seq is ours now. */
static int hist_add(fsv_store *s, fdsp_change *c)
{
    char *vv = fds_vv_dump(&c->vv);
    if (!vv)
        return seterr(s, FSV_NOMEM, "out of memory");
    int64_t seq = PG(s)->head + 1;
    int rc = fsv__pg_hist_add(s, seq, c, vv, own_counter(c), PG(s)->relay);
    free(vv);
    if (rc == FSV_OK) {
        PG(s)->head = seq;
        c->seq = seq;
    }
    return rc;
}

int fsv_pg_merge_change(fsv_store *s, fdsp_change *c, int *outcome)
{
    c->seq = 0;
    *outcome = FDS_MERGE_NOOP;
    if (!PG(s)->write_tx)
        return seterr(s, FSV_ERROR, "store: a merge outside a write"
                      " transaction: %s/%s", c->table, c->record);
    /* The record's row, once per transaction (store_pg_memo.c). */
    pg_mrec *m = NULL;
    int rc = fsv__pg_memo_get(s, c->table, c->record, &m);
    if (rc != FSV_OK)
        return rc;
    fds_register cur, next = {0, NULL};
    rc = parse_reg(s, c->table, c->record, c->field,
                   json_string_value(json_object_get(m->regs, c->field)), &cur);
    if (rc == FSV_OK && fds_merge(&cur, c, &next, outcome) != FDS_OK)
        rc = seterr(s, FSV_NOMEM, "merge failed (out of memory)");
    int had_conflict = rc == FSV_OK && cur.n ? fds_register_in_conflict(&cur)
                                             : 0;
    fds_register_clear(&cur);
    if (rc != FSV_OK || *outcome == FDS_MERGE_NOOP) {
        fds_register_clear(&next);
        return rc;
    }
    char *text = fds_register_dump(&next);
    json_t *jt = text ? json_string(text) : NULL;
    free(text);
    if (!jt || json_object_set_new(m->regs, c->field, jt) != 0) {
        fds_register_clear(&next);
        return seterr(s, FSV_NOMEM, "out of memory");
    }
    /* rec.conflicts counts the record's registers in conflict (the
    ** office view reads only records that have some). */
    m->conflicts += fds_register_in_conflict(&next) - had_conflict;
    /* The record index: creator on first sight; the customer link is the
    ** record itself for a customer, else its "customer" register's
    ** winner (as the SQLite backend's). */
    const char *winner = next.v[0].value;
    int is_customer = strcmp(c->table, "customer") == 0;
    int sets_customer = !is_customer && strcmp(c->field, "customer") == 0;
    if (!m->exists) {
        m->exists = 1;
        if (!(m->creator = strdup(c->user ? c->user : "")))
            rc = seterr(s, FSV_NOMEM, "out of memory");
    }
    if (rc == FSV_OK && (is_customer || sets_customer)) {
        const char *cust = is_customer ? c->record : winner;
        char *dup = cust ? strdup(cust) : NULL;
        if (cust && !dup) {
            rc = seterr(s, FSV_NOMEM, "out of memory");
        } else {
            free(m->customer);
            m->customer = dup;
        }
    }
    fds_register_clear(&next);
    fsv__pg_memo_dirty(s, m);
    if (rc == FSV_OK)
        rc = hist_add(s, c);
    if (rc == FSV_OK)
        rc = fsv__pg_notes_keep(s, c);  /* office_note at commit */
    return rc;
}

int fsv_pg_merge_relayed(fsv_store *s, fdsp_change *c, const char *relay,
                         int *outcome)
{
    PG(s)->relay = relay;
    int rc = fsv_pg_merge_change(s, c, outcome);
    PG(s)->relay = NULL;
    return rc;
}

/* ---- Fields and the record index --------------------------------------------- */

int fsv_pg_field_count(fsv_store *s, const char *tbl, const char *rid,
                       const char *field, int *count, int *has_field)
{
    pgrec rec;
    *count = *has_field = 0;
    int rc = rec_get(s, tbl, rid, field, &rec);
    if (rc == FSV_OK && rec.present) {
        *count = (int)rec.nfields;
        *has_field = rec.reg != NULL;
    }
    pgrec_clear(&rec);
    return rc;
}

int fsv_pg_field_value(fsv_store *s, const char *tbl, const char *rid,
                       const char *field, char **value)
{
    *value = NULL;
    pgrec rec;
    int rc = rec_get(s, tbl, rid, field, &rec);
    if (rc != FSV_OK)
        return rc;
    if (!rec.reg) {
        pgrec_clear(&rec);
        return seterr(s, FSV_NOTFOUND, "store: field %s/%s/%s not found",
                      tbl, rid, field);
    }
    fds_register reg;
    rc = parse_reg(s, tbl, rid, field, rec.reg, &reg);
    pgrec_clear(&rec);
    if (rc != FSV_OK)
        return rc;
    if (reg.n && reg.v[0].value && !(*value = strdup(reg.v[0].value)))
        rc = seterr(s, FSV_NOMEM, "out of memory");
    fds_register_clear(&reg);
    return rc;
}

int fsv_pg_api_register(fsv_store *s, const char *tbl, const char *rid,
                        const char *field, fds_register *out)
{
    memset(out, 0, sizeof *out);
    pgrec rec;
    int rc = rec_get(s, tbl, rid, field, &rec);
    if (rc == FSV_OK && !rec.reg)
        rc = seterr(s, FSV_NOTFOUND, "store: no register %s/%s/%s", tbl, rid,
                    field);
    if (rc == FSV_OK)
        rc = parse_reg(s, tbl, rid, field, rec.reg, out);
    pgrec_clear(&rec);
    return rc;
}

int fsv_pg_record_info(fsv_store *s, const char *tbl, const char *rid,
                       char **customer, char **creator)
{
    *customer = *creator = NULL;
    pgrec rec;
    int rc = rec_get(s, tbl, rid, NULL, &rec);
    if (rc != FSV_OK)
        return rc;
    if (!rec.present) {
        pgrec_clear(&rec);
        return seterr(s, FSV_NOTFOUND, "store: record %s/%s not found", tbl,
                      rid);
    }
    *customer = rec.customer;
    *creator = rec.creator;
    rec.customer = rec.creator = NULL;
    pgrec_clear(&rec);
    return FSV_OK;
}

/* The winner of a register text (NULL for null or none), malloc'd. */
static int winner_of(fsv_store *s, const char *tbl, const char *rid,
                     const char *field, const char *text, char **out)
{
    *out = NULL;
    fds_register reg;
    int rc = parse_reg(s, tbl, rid, field, text, &reg);
    if (rc == FSV_OK && reg.n && reg.v[0].value &&
        !(*out = strdup(reg.v[0].value)))
        rc = seterr(s, FSV_NOMEM, "out of memory");
    fds_register_clear(&reg);
    return rc;
}

int fsv_pg_prefix_values(fsv_store *s, const char *tbl, const char *prefix,
                         const char *field, fsv_rec_value **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    size_t len = strlen(prefix);
    if (!len || (unsigned char)prefix[len - 1] == 0xff)
        return seterr(s, FSV_INVALID, "store: record prefix \"%s\" cannot"
                      " bound a range", prefix);
    /* The ids starting with prefix: from prefix up to (not including)
    ** prefix with its last byte raised by one (rid is COLLATE "C"). */
    char *hi = strdup(prefix);
    if (!hi)
        return seterr(s, FSV_NOMEM, "out of memory");
    hi[len - 1]++;
    pgp p = {0};
    p_text(&p, tbl);
    p_text(&p, prefix);
    p_text(&p, hi);
    p_text(&p, field);
    int rc;
    PGresult *r = fsv__pg_exec(s, PS_PREFIX, &p, "records by prefix", &rc);
    free(hi);
    if (!r)
        return rc;
    int rows = PQntuples(r);
    fsv_rec_value *v = calloc(rows ? (size_t)rows : 1, sizeof *v);
    if (!v) {
        PQclear(r);
        return seterr(s, FSV_NOMEM, "out of memory");
    }
    for (int i = 0; rc == FSV_OK && i < rows; i++) {
        const char *rid = PQgetvalue(r, i, 0);
        if (!(v[i].rid = strdup(rid)))
            rc = seterr(s, FSV_NOMEM, "out of memory");
        else if (!PQgetisnull(r, i, 1))
            rc = winner_of(s, tbl, rid, field, PQgetvalue(r, i, 1),
                           &v[i].value);
    }
    PQclear(r);
    if (rc != FSV_OK) {
        fsv_rec_values_free(v, (size_t)rows);
        return rc;
    }
    *out = v;
    *n = (size_t)rows;
    return FSV_OK;
}

/* ---- History rows -------------------------------------------------------------- */

/* Columns col.. of r's row i (tbl, rid, field, value, vv, hlc, device,
** usr) into a change (seq and server_ms set by the caller). */
static int row_change(fsv_store *s, const PGresult *r, int i, int col,
                      fdsp_change *c)
{
    memset(c, 0, sizeof *c);
    c->table = col_dup(r, i, col);
    c->record = col_dup(r, i, col + 1);
    c->field = col_dup(r, i, col + 2);
    c->value = col_dup(r, i, col + 3);
    c->hlc = strtoull(PQgetvalue(r, i, col + 5), NULL, 10);
    c->device = col_dup(r, i, col + 6);
    c->user = col_dup(r, i, col + 7);
    if (!c->table || !c->record || !c->field || !c->device || !c->user ||
        (!PQgetisnull(r, i, col + 3) && !c->value)) {
        fdsp_change_clear(c);
        return seterr(s, FSV_NOMEM, "out of memory");
    }
    int rc = fds_vv_parse(PQgetvalue(r, i, col + 4), &c->vv);
    if (rc != FDS_OK) {
        fdsp_change_clear(c);
        return rc == FDS_NOMEM ? seterr(s, FSV_NOMEM, "out of memory")
                               : seterr(s, FSV_ERROR, "store: history row"
                                        " with a damaged version vector");
    }
    return FSV_OK;
}

int fsv_pg_change_by_counter(fsv_store *s, const char *device, int64_t k,
                             fdsp_change *out)
{
    memset(out, 0, sizeof *out);
    pgp p = {0};
    p_text(&p, device);
    p_i64(&p, k);
    int rc;
    PGresult *r = fsv__pg_exec(s, PS_BY_COUNTER, &p, "change by counter", &rc);
    if (!r)
        return rc;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return seterr(s, FSV_NOTFOUND, "store: no change %lld of device %s",
                      (long long)k, device);
    }
    rc = row_change(s, r, 0, 0, out);
    if (rc == FSV_OK) {
        out->seq = col_i64(r, 0, 8);
        out->server_ms = col_i64(r, 0, 9);
    }
    PQclear(r);
    return rc;
}

/* The customers a page of the scan belongs to, read into the memo in one
** statement: the visibility filter asks for each row's customer (its
** owner, its pool), which was a round trip per row and customer. */
static int prefetch_customers(fsv_store *s, const PGresult *r, int rows)
{
    const char **ids = malloc((size_t)rows * sizeof *ids);
    if (!ids)
        return seterr(s, FSV_NOMEM, "out of memory");
    size_t n = 0;
    for (int i = 0; i < rows; i++) {
        if (strcmp(PQgetvalue(r, i, 1), "customer") == 0)
            ids[n++] = PQgetvalue(r, i, 2);
        else if (col_i64(r, i, 12) && !PQgetisnull(r, i, 10))
            ids[n++] = PQgetvalue(r, i, 10);
    }
    int rc = fsv__pg_memo_prefetch(s, "customer", ids, n);
    if (rc == FSV_OK)
        rc = fsv__pg_memo_prefetch_shares(s, ids, n);
    free(ids);
    return rc;
}

/* The pull's scan: rows after the cursor up to the head, in pages of
** CHUNK (each page fully fetched, so the filter may run its own
** statements on the connection meanwhile). */
int fsv_pg_changes_after(fsv_store *s, int64_t after, int limit,
                         const char *exclude_device, fsv_row_filter filter,
                         void *ud, fdsp_change **out, size_t *n, int64_t *last,
                         int *more)
{
    enum { CHUNK = 500 };
    int64_t head = 0;
    int rc = fsv_pg_head(s, &head);
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
    while (rc == FSV_OK && !full && pos < head && scanned < FSV_SCAN_MAX) {
        pgp p = {0};
        p_i64(&p, pos);
        p_i64(&p, CHUNK);
        p_i64(&p, head);
        PGresult *r = fsv__pg_exec(s, PS_SCAN, &p, "scan history", &rc);
        if (!r)
            break;
        int rows = PQntuples(r);
        if (filter && rows > 1)
            rc = prefetch_customers(s, r, rows);
        for (int i = 0; i < rows && rc == FSV_OK; i++) {
            int64_t seq = col_i64(r, i, 0);
            scanned++;
            int vis = !(exclude_device &&
                        strcmp(PQgetvalue(r, i, 7), exclude_device) == 0);
            if (vis && filter) {
                int known = (int)col_i64(r, i, 12);
                fsv_row row = {
                    .tbl = PQgetvalue(r, i, 1),
                    .rid = PQgetvalue(r, i, 2),
                    .field = PQgetvalue(r, i, 3),
                    .customer = known && !PQgetisnull(r, i, 10)
                                    ? PQgetvalue(r, i, 10) : NULL,
                    .creator = known ? PQgetvalue(r, i, 11) : NULL,
                };
                rc = filter(ud, &row, &vis);
                if (rc != FSV_OK)
                    break;
            }
            if (vis) {
                rc = row_change(s, r, i, 1, &arr[got]);
                if (rc != FSV_OK)
                    break;
                arr[got].seq = seq;
                arr[got].server_ms = col_i64(r, i, 9);
                got++;
            }
            pos = seq;
            if (got == (size_t)limit) {
                full = 1;
                break;
            }
            if (scanned >= FSV_SCAN_MAX)
                break;
        }
        PQclear(r);
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

/* ---- Visibility events and full state --------------------------------------------- */

int fsv_pg_vis_event_add(fsv_store *s, int64_t seq, const char *customer,
                         const char *user, int kind)
{
    pgp p = {0};
    p_i64(&p, seq);
    p_text(&p, customer);
    p_text(&p, user);
    p_i64(&p, kind);
    return fsv__pg_run(s, PS_VISEV_ADD, &p, "visibility event", NULL);
}

int fsv_pg_vis_events(fsv_store *s, int64_t after, int64_t upto,
                      char ***customers, char ***users, int **kinds, size_t *n)
{
    *customers = *users = NULL;
    *kinds = NULL;
    *n = 0;
    pgp p = {0};
    p_i64(&p, after);
    p_i64(&p, upto);
    int rc;
    PGresult *r = fsv__pg_exec(s, PS_VISEV_LIST, &p, "visibility events", &rc);
    if (!r)
        return rc;
    size_t rows = (size_t)PQntuples(r);
    char **c = calloc(rows ? rows : 1, sizeof *c);
    char **u = calloc(rows ? rows : 1, sizeof *u);
    int *k = calloc(rows ? rows : 1, sizeof *k);
    rc = c && u && k ? FSV_OK : FSV_NOMEM;
    for (size_t i = 0; rc == FSV_OK && i < rows; i++) {
        c[i] = col_dup(r, (int)i, 0);
        u[i] = col_dup(r, (int)i, 1);
        k[i] = (int)col_i64(r, (int)i, 2);
        if (!c[i] || !u[i])
            rc = FSV_NOMEM;
    }
    PQclear(r);
    if (rc != FSV_OK) {
        for (size_t i = 0; c && u && i < rows; i++) {
            free(c[i]);
            free(u[i]);
        }
        free(c);
        free(u);
        free(k);
        return seterr(s, FSV_NOMEM, "out of memory");
    }
    *customers = c;
    *users = u;
    *kinds = k;
    *n = rows;
    return FSV_OK;
}

/* Append one version to *out (grown from *cap). */
static int push_change(fsv_store *s, fdsp_change **out, size_t *n,
                       size_t *cap, fdsp_change *c)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        fdsp_change *p = realloc(*out, ncap * sizeof *p);
        if (!p)
            return seterr(s, FSV_NOMEM, "out of memory");
        *out = p;
        *cap = ncap;
    }
    (*out)[(*n)++] = *c;
    memset(c, 0, sizeof *c);
    return FSV_OK;
}

/* Every version of every register of the records in r's rows (columns
** tbl, rid, regs::text), fields in name order, appended to *out. */
static int append_versions(fsv_store *s, PGresult *r, fdsp_change **out,
                           size_t *n)
{
    size_t cap = *n;    /* realloc grows from the current count */
    int rc = FSV_OK;
    for (int i = 0; rc == FSV_OK && i < PQntuples(r); i++) {
        const char *tbl = PQgetvalue(r, i, 0), *rid = PQgetvalue(r, i, 1);
        json_error_t jerr;
        json_t *regs = json_loads(PQgetvalue(r, i, 2), 0, &jerr);
        if (!json_is_object(regs)) {
            json_decref(regs);
            return seterr(s, FSV_ERROR, "store: record %s/%s: damaged"
                          " registers", tbl, rid);
        }
        /* Field names sorted, so the order does not depend on jsonb's. */
        size_t nf = json_object_size(regs), k = 0;
        const char **names = calloc(nf ? nf : 1, sizeof *names);
        const char *key;
        json_t *val;
        if (!names) {
            json_decref(regs);
            return seterr(s, FSV_NOMEM, "out of memory");
        }
        json_object_foreach(regs, key, val) names[k++] = key;
        for (size_t a = 1; a < nf; a++)
            for (size_t b = a; b > 0 && strcmp(names[b - 1], names[b]) > 0;
                 b--) {
                const char *t = names[b];
                names[b] = names[b - 1];
                names[b - 1] = t;
            }
        for (size_t f = 0; rc == FSV_OK && f < nf; f++) {
            fds_register reg;
            const char *text = json_string_value(json_object_get(regs, names[f]));
            rc = parse_reg(s, tbl, rid, names[f], text, &reg);
            for (size_t v = 0; rc == FSV_OK && v < reg.n; v++) {
                fdsp_change c = reg.v[v];
                memset(&reg.v[v], 0, sizeof reg.v[v]);
                free(c.table);
                free(c.record);
                free(c.field);
                c.table = strdup(tbl);
                c.record = strdup(rid);
                c.field = strdup(names[f]);
                c.seq = 0;
                if (!c.table || !c.record || !c.field) {
                    fdsp_change_clear(&c);
                    rc = seterr(s, FSV_NOMEM, "out of memory");
                } else if ((rc = push_change(s, out, n, &cap, &c)) != FSV_OK) {
                    fdsp_change_clear(&c);
                }
            }
            fds_register_clear(&reg);
        }
        free(names);
        json_decref(regs);
    }
    return rc;
}

static int state_of(fsv_store *s, int slot, const pgp *p, fdsp_change **out,
                    size_t *n)
{
    int rc;
    PGresult *r = fsv__pg_exec(s, slot, p, "full state", &rc);
    if (!r)
        return rc;
    rc = append_versions(s, r, out, n);
    PQclear(r);
    return rc;
}

int fsv_pg_customer_state(fsv_store *s, const char *customer,
                          fdsp_change **out, size_t *n)
{
    pgp p = {0};
    p_text(&p, customer);
    return state_of(s, PS_CUST_REGS, &p, out, n);
}

int fsv_pg_record_state(fsv_store *s, const char *tbl, const char *rid,
                        fdsp_change **out, size_t *n)
{
    pgp p = {0};
    p_text(&p, tbl);
    p_text(&p, rid);
    return state_of(s, PS_REC_REGS, &p, out, n);
}
