/*
** store_pg_batch.c — one round trip per batch for the write path's rows
** (issue 12, ingest speed).  A write transaction's history rows are kept
** here as merge_change makes them and written by fsv__pg_hist_flush as
** ONE prepared `INSERT ... SELECT FROM unnest($1::bigint[], ...)`, the
** columns passed as array literals; the record memo writes its rows the
** same way (store_pg_memo.c).  Before, each change was one INSERT and so
** one round trip to the server, which at 8 fields x 50 records per pushed
** batch was most of a PostgreSQL push's time.
**
** The rows are written at commit and before any statement that could
** read hist or rec (fsv__pg_memo_flush writes both, and everything that
** reads either calls it: fsv__pg_exec for the slots that read, the
** office view's q()), so reads inside the transaction see its merges as
** before.  Seqs are still handed out at merge time (the sequencer row is
** held for the whole write transaction, store_pg.c), so c->seq is set
** when merge_change returns, as sync/ relies on (visibility events).
**
** Array literals: {"a","b\"c",NULL}: every element double-quoted with "
** and \ escaped by a backslash, NULL unquoted; text of any other byte is
** taken as is (the connection is UTF-8).
*/
#include "store.h"
#include "store_pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Array literals ---------------------------------------------------------- */

static int arr_room(pg_arr *a, size_t more)
{
    if (a->n + more + 2 <= a->cap)    /* + closing brace and NUL */
        return 0;
    size_t cap = a->cap ? a->cap : 256;
    while (a->n + more + 2 > cap)
        cap *= 2;
    char *p = realloc(a->p, cap);
    if (!p)
        return -1;
    a->p = p;
    a->cap = cap;
    return 0;
}

int fsv__pg_arr_add(pg_arr *a, const char *v)
{
    size_t len = v ? strlen(v) : 0, esc = 0;
    for (size_t i = 0; i < len; i++)
        esc += v[i] == '"' || v[i] == '\\';
    if (arr_room(a, len + esc + 8) != 0)
        return -1;
    if (a->n == 0)
        a->p[a->n++] = '{';
    else
        a->p[a->n++] = ',';
    if (!v) {
        memcpy(a->p + a->n, "NULL", 4);
        a->n += 4;
    } else {
        a->p[a->n++] = '"';
        for (size_t i = 0; i < len; i++) {
            if (v[i] == '"' || v[i] == '\\')
                a->p[a->n++] = '\\';
            a->p[a->n++] = v[i];
        }
        a->p[a->n++] = '"';
    }
    a->count++;
    return 0;
}

int fsv__pg_arr_i64(pg_arr *a, int64_t v)
{
    char num[24];
    snprintf(num, sizeof num, "%lld", (long long)v);
    return fsv__pg_arr_add(a, num);
}

const char *fsv__pg_arr_text(pg_arr *a)
{
    if (arr_room(a, 1) != 0)
        return NULL;
    if (a->n == 0) {
        a->p[0] = '{';
        a->p[1] = '}';
        a->p[2] = '\0';
        return a->p;
    }
    a->p[a->n] = '}';
    a->p[a->n + 1] = '\0';
    return a->p;
}

void fsv__pg_arr_reset(pg_arr *a)
{
    a->n = 0;
    a->count = 0;
}

void fsv__pg_arr_free(pg_arr *a)
{
    free(a->p);
    memset(a, 0, sizeof *a);
}

/* ---- The transaction's history rows ------------------------------------------ */

enum { HC_SEQ, HC_TBL, HC_RID, HC_FIELD, HC_VALUE, HC_VV, HC_HLC, HC_DEVICE,
       HC_USR, HC_MS, HC_DCTR, HC_RELAY, HC__N };

typedef struct pghist {
    pg_arr col[HC__N];
    int rows;
} pghist;

#define HIST_MAX 5000   /* rows kept before they are written mid-transaction */

static pghist *hist(fsv_store *s)
{
    if (!PG(s)->hist)
        PG(s)->hist = calloc(1, sizeof(pghist));
    return PG(s)->hist;
}

void fsv__pg_hist_clear(fsv_store *s)
{
    pghist *h = PG(s)->hist;
    if (!h)
        return;
    for (int i = 0; i < HC__N; i++)
        fsv__pg_arr_reset(&h->col[i]);
    h->rows = 0;
}

void fsv__pg_hist_free(fsv_store *s)
{
    pghist *h = PG(s)->hist;
    if (!h)
        return;
    for (int i = 0; i < HC__N; i++)
        fsv__pg_arr_free(&h->col[i]);
    free(h);
    PG(s)->hist = NULL;
}

int fsv__pg_hist_add(fsv_store *s, int64_t seq, const fdsp_change *c,
                     const char *vv, int64_t dctr, const char *relay)
{
    pghist *h = hist(s);
    if (!h)
        return seterr(s, FSV_NOMEM, "out of memory");
    if (h->rows >= HIST_MAX) {
        int rc = fsv__pg_hist_flush(s);
        if (rc != FSV_OK)
            return rc;
    }
    char num[3][24];
    snprintf(num[0], sizeof num[0], "%lld", (long long)seq);
    snprintf(num[1], sizeof num[1], "%llu", (unsigned long long)c->hlc);
    snprintf(num[2], sizeof num[2], "%lld", (long long)c->server_ms);
    char dnum[24];
    snprintf(dnum, sizeof dnum, "%lld", (long long)dctr);
    const char *v[HC__N] = {
        num[0], c->table, c->record, c->field, c->value, vv, num[1],
        c->device ? c->device : "", c->user ? c->user : "", num[2],
        dctr ? dnum : NULL, relay,
    };
    /* All columns or none: a failure leaves the arrays' counts unequal
    ** only if memory ran out, and then the transaction is rolled back
    ** (hist_clear) before anything is sent. */
    for (int i = 0; i < HC__N; i++)
        if (fsv__pg_arr_add(&h->col[i], v[i]) != 0)
            return seterr(s, FSV_NOMEM, "out of memory");
    h->rows++;
    return FSV_OK;
}

int fsv__pg_hist_flush(fsv_store *s)
{
    pghist *h = PG(s)->hist;
    if (!h || h->rows == 0)
        return FSV_OK;
    pgp p = {0};
    for (int i = 0; i < HC__N; i++) {
        const char *t = fsv__pg_arr_text(&h->col[i]);
        if (!t)
            return seterr(s, FSV_NOMEM, "out of memory");
        p_text(&p, t);
    }
    int rc = fsv__pg_run(s, PS_HIST_PUT, &p, "append history", NULL);
    if (rc == FSV_OK)
        fsv__pg_hist_clear(s);
    return rc;
}

/* ---- The office view's notes, given at commit ---------------------------------- */

/* store_pg_office.c's office_note may run a statement (a customer's stage
** seen), and its statements flush the memo and the history first (they
** read rec rows): noted at each merge, they wrote a pushed batch's rows
** one record at a time.  So merge_change keeps what the note needs and
** commit gives the notes just before the office view is derived, after
** the batch's rows are written in one statement each.  Nothing reads the
** office view's tables between a merge and commit but the office view's
** own derivation, which runs after the notes. */
typedef struct pgnote {
    char *tbl, *rid, *field, *value;
} pgnote;

typedef struct pgnotes {
    pgnote *v;
    size_t n, cap;
} pgnotes;

void fsv__pg_notes_clear(fsv_store *s)
{
    pgnotes *ns = PG(s)->notes;
    if (!ns)
        return;
    for (size_t i = 0; i < ns->n; i++) {
        free(ns->v[i].tbl);
        free(ns->v[i].rid);
        free(ns->v[i].field);
        free(ns->v[i].value);
    }
    ns->n = 0;
}

void fsv__pg_notes_free(fsv_store *s)
{
    fsv__pg_notes_clear(s);
    if (PG(s)->notes)
        free(((pgnotes *)PG(s)->notes)->v);
    free(PG(s)->notes);
    PG(s)->notes = NULL;
}

int fsv__pg_notes_keep(fsv_store *s, const fdsp_change *c)
{
    if (!PG(s)->notes && !(PG(s)->notes = calloc(1, sizeof(pgnotes))))
        return seterr(s, FSV_NOMEM, "out of memory");
    pgnotes *ns = PG(s)->notes;
    if (ns->n == ns->cap) {
        size_t cap = ns->cap ? ns->cap * 2 : 256;
        pgnote *v = realloc(ns->v, cap * sizeof *v);
        if (!v)
            return seterr(s, FSV_NOMEM, "out of memory");
        ns->v = v;
        ns->cap = cap;
    }
    pgnote *nt = &ns->v[ns->n];
    nt->tbl = strdup(c->table);
    nt->rid = strdup(c->record);
    nt->field = strdup(c->field);
    nt->value = c->value ? strdup(c->value) : NULL;
    if (!nt->tbl || !nt->rid || !nt->field || (c->value && !nt->value)) {
        free(nt->tbl);
        free(nt->rid);
        free(nt->field);
        free(nt->value);
        return seterr(s, FSV_NOMEM, "out of memory");
    }
    ns->n++;
    return FSV_OK;
}

int fsv__pg_notes_give(fsv_store *s)
{
    pgnotes *ns = PG(s)->notes;
    int rc = FSV_OK;
    for (size_t i = 0; ns && rc == FSV_OK && i < ns->n; i++) {
        fdsp_change c = {.table = ns->v[i].tbl, .record = ns->v[i].rid,
                         .field = ns->v[i].field, .value = ns->v[i].value};
        rc = fsv__pg_office_note(s, &c);
    }
    fsv__pg_notes_clear(s);
    return rc;
}
