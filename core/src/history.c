/*
** history.c — a customer's timeline (数据可追溯): every change to its own
** registers and to those of its follow-ups, plans, feedback, stage changes
** and shares, as the local log holds them (local writes and changes
** received from the server alike), with the value each change replaced.
** Changes the server refused (log acked = 2) never took effect: they are
** left out, both as entries and as the value a later change replaced
** (fds_refusals lists them).
*/
#include "domain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Column text; NULL for SQL NULL.  A text SQLite could not give (out of
** memory) sets *bad: it must not read as a null value. */
static const char *col_text(sqlite3_stmt *st, int col, int *bad)
{
    const char *v = (const char *)sqlite3_column_text(st, col);
    if (!v && sqlite3_column_type(st, col) != SQLITE_NULL)
        *bad = 1;
    return v;
}

static void set_text(json_t *o, const char *k, sqlite3_stmt *st, int col,
                     int *bad)
{
    const char *v = col_text(st, col, bad);
    fds__jset(o, k, v ? json_string(v) : json_null(), bad);
}

/* The engine writes deleted = "0" with every edit of an existing record
** (so a delete meets concurrent edits, rule 5).  Where that changes
** nothing (the record was not deleted before) it is not news to a reader
** of the timeline; an undelete ("1" -> "0") still shows. */
static int liveness_mark(sqlite3_stmt *st, int *bad)
{
    const char *field = col_text(st, 5, bad);
    const char *value = col_text(st, 6, bad);
    const char *prev = col_text(st, 7, bad);
    return field && strcmp(field, "deleted") == 0 && value &&
           strcmp(value, "0") == 0 && (!prev || strcmp(prev, "0") == 0);
}

/* One log row of the timeline while it is being assembled. */
typedef struct hrow {
    json_t *e;          /* the entry */
    fdsp_vv vv;         /* the change's version vector */
    int vv_ok;
    uint64_t hlc;
    int skip;           /* bookkeeping row, left out of the result */
    size_t first, next; /* rows of the same register: first, next (n: end) */
} hrow;

/* "previous" as the replica that made each change saw it: the local log's
** order is the order changes arrived here, and after concurrent edits the
** row before a change is often one its author never saw.  A change's
** predecessors are the changes of the same register its vector dominates;
** it replaced the latest of them (those no other predecessor dominates).
** One: "previous" is its value.  Several with different values: the change
** settled a conflict; "replaced" lists them (a resolution keeping X is
** not "X -> X") and "previous" is the one that had won (greater HLC, then
** device).  None: "previous" is null.  A change that another change of the
** register is concurrent with gets "concurrent": [their values]. */
/* Chain the rows of each register (first, next), so the comparisons
** below stay within a register: a long timeline costs n log n, not n^3. */
static int chain_registers(hrow *rows, size_t n)
{
    json_t *last = json_object();       /* register key -> last row index */
    if (!last)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char key[3 * (FDSP_MAX_ID + 8)];
        const char *t = fds__jstr(rows[i].e, "table"), *rid = fds__jstr(rows[i].e, "record"),
                   *f = fds__jstr(rows[i].e, "field");
        snprintf(key, sizeof key, "%s\x1f%s\x1f%s", t ? t : "", rid ? rid : "", f ? f : "");
        json_t *prev = json_object_get(last, key);
        rows[i].next = n;
        if (prev) {
            size_t p = (size_t)json_integer_value(prev);
            rows[p].next = i;
            rows[i].first = rows[p].first;
        } else {
            rows[i].first = i;
        }
        if (json_object_set_new(last, key, json_integer((json_int_t)i)) != 0) {
            json_decref(last);
            return -1;
        }
    }
    json_decref(last);
    return 0;
}

/* -1 when out of memory (the entries are then half done: discard them). */
static int causal_previous(hrow *rows, size_t n)
{
    if (n == 0)
        return 0;
    size_t *lat = calloc(n, sizeof *lat);
    int bad = 0;
    if (!lat || chain_registers(rows, n) != 0) {
        free(lat);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (!rows[i].vv_ok)
            continue;               /* keep the log-order value */
        json_t *e = rows[i].e, *latest = json_array(), *conc = json_array();
        size_t nl = 0;
        if (!latest || !conc) {
            json_decref(latest);
            json_decref(conc);
            bad = 1;
            break;
        }
        for (size_t j = rows[i].first; j < n; j = rows[j].next) {
            if (j == i || !rows[j].vv_ok)
                continue;
            int c = fds_vv_compare(&rows[j].vv, &rows[i].vv);
            if (c == FDS_VV_CONCURRENT) {
                bad |= json_array_append(conc, json_object_get(rows[j].e,
                                                               "value")) != 0;
            } else if (c == FDS_VV_LESS) {
                /* j precedes i: keep it unless another predecessor is later */
                int dominated = 0;
                for (size_t k = rows[i].first; k < n && !dominated; k = rows[k].next)
                    if (k != j && k != i && rows[k].vv_ok &&
                        fds_vv_compare(&rows[k].vv, &rows[i].vv) == FDS_VV_LESS &&
                        fds_vv_compare(&rows[j].vv, &rows[k].vv) == FDS_VV_LESS)
                        dominated = 1;
                if (!dominated)
                    lat[nl++] = j;
            }
        }
        /* the winner among the latest predecessors; their distinct values */
        size_t win = nl ? lat[0] : 0;
        for (size_t k = 0; k < nl; k++) {
            hrow *a = &rows[lat[k]], *b = &rows[win];
            const char *da = fds__jstr(a->e, "device"), *db = fds__jstr(b->e, "device");
            if (a->hlc > b->hlc ||
                (a->hlc == b->hlc && strcmp(da ? da : "", db ? db : "") > 0))
                win = lat[k];
            json_t *v = json_object_get(rows[lat[k]].e, "value");
            int seen = 0;
            size_t x;
            json_t *w;
            json_array_foreach(latest, x, w)
                seen |= json_equal(w, v);
            if (!seen)
                bad |= json_array_append(latest, v) != 0;
        }
        bad |= json_object_set(e, "previous", nl ? json_object_get(rows[win].e,
                                                                   "value")
                                                 : json_null()) != 0;
        if (json_array_size(latest) > 1)
            bad |= json_object_set(e, "replaced", latest) != 0;
        if (json_array_size(conc) > 0)
            bad |= json_object_set(e, "concurrent", conc) != 0;
        json_decref(latest);
        json_decref(conc);
    }
    free(lat);
    return bad ? -1 : 0;
}

int fds_history(fds_replica *r, const char *id, json_t **out)
{
    char full[FDSP_MAX_ID + 1];
    if (!out)
        return FDS_INVALID;
    *out = NULL;
    if (!r || !id)
        return FDS_INVALID;
    int rc = fds__resolve(r, "customer", id, full);
    if (rc == FDS_NOTFOUND && strlen(id) <= FDSP_MAX_ID) {
        /* a deleted customer's history stays answerable by its full id */
        json_t *regs = NULL;
        if (fds__read(r, "customer", id, &regs) == FDS_OK) {
            strcpy(full, id);
            rc = FDS_OK;
        }
        json_decref(regs);
    }
    if (rc != FDS_OK)
        return rc;
    sqlite3_stmt *st = fds__stmt(r, FDS__ST_D_HISTORY,
        "WITH recs(t, id) AS (SELECT 'customer', ?1 UNION "
        "  SELECT tbl, rid FROM rec WHERE cust = ?1 "
        "  AND tbl IN (" FDS__CHILD_TABLES ")) "
        "SELECT l.at_ms, l.user, l.device, l.tbl, l.rid, l.field, l.value, "
        "  (SELECT p.value FROM log p WHERE p.tbl = l.tbl AND p.rid = l.rid "
        "   AND p.field = l.field AND p.lseq < l.lseq AND p.acked <> 2 "
        "   ORDER BY p.lseq DESC LIMIT 1), l.vv, l.hlc "
        "FROM recs JOIN log l ON l.tbl = recs.t AND l.rid = recs.id "
        "WHERE l.acked <> 2 ORDER BY l.at_ms, l.lseq");
    if (!st)
        return fds__errcode(r);
    json_t *arr = json_array();
    hrow *rows = NULL;
    size_t n = 0, cap = 0;
    if (!arr)
        return fds__error(r, FDS_NOMEM, "out of memory");
    sqlite3_bind_text(st, 1, full, -1, SQLITE_STATIC);
    int s, bad = 0;
    while (!bad && (s = sqlite3_step(st)) == SQLITE_ROW) {
        char at[40];
        json_t *e = json_object();
        if (!e) {
            bad = 1;
            break;
        }
        if (n == cap) {
            size_t nc = cap ? 2 * cap : 32;
            hrow *nr = realloc(rows, nc * sizeof *nr);
            if (!nr) {
                json_decref(e);
                bad = 1;
                break;
            }
            rows = nr;
            cap = nc;
        }
        memset(&rows[n], 0, sizeof rows[n]);
        rows[n].e = e;
        rows[n].skip = liveness_mark(st, &bad);
        rows[n].hlc = (uint64_t)sqlite3_column_int64(st, 9);
        const char *vv = col_text(st, 8, &bad);
        int vrc = vv ? fds_vv_parse(vv, &rows[n].vv) : FDS_INVALID;
        rows[n].vv_ok = vrc == FDS_OK;
        if (vrc == FDS_NOMEM)       /* not a vector to do without */
            bad = 1;
        n++;
        fds_time_format(sqlite3_column_int64(st, 0), at, sizeof at);
        fds__jset(e, "at", json_string(at), &bad);
        set_text(e, "user", st, 1, &bad);
        set_text(e, "device", st, 2, &bad);
        set_text(e, "table", st, 3, &bad);
        set_text(e, "record", st, 4, &bad);
        set_text(e, "field", st, 5, &bad);
        set_text(e, "value", st, 6, &bad);
        set_text(e, "previous", st, 7, &bad);
    }
    sqlite3_reset(st);
    if (bad)
        s = SQLITE_ROW;             /* reported as out of memory below */
    if (s == SQLITE_DONE && causal_previous(rows, n) != 0)
        s = SQLITE_ROW;
    for (size_t i = 0; i < n; i++) {
        if (s == SQLITE_DONE && !rows[i].skip &&
            json_array_append(arr, rows[i].e) != 0)
            s = SQLITE_ROW;
        json_decref(rows[i].e);
        if (rows[i].vv_ok)
            fdsp_vv_clear(&rows[i].vv);
    }
    free(rows);
    if (s != SQLITE_DONE) {
        json_decref(arr);
        return s == SQLITE_ROW ? fds__error(r, FDS_NOMEM, "out of memory")
                               : fds__dberror(r, "reading history");
    }
    *out = arr;
    return FDS_OK;
}
