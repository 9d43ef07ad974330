/*
** store_pg_memo.c — the PostgreSQL backend's record memo: what one write
** transaction has read and merged of each record (its rec row: index
** entry, registers, conflict count), so a pushed record of eight fields
** costs one row read and one row write instead of eight of each (as the
** SQLite backend's txrec).  The memo's rows are written by
** fsv__pg_memo_flush: at commit, and before any statement that reads rec
** rows other than through the memo (fsv__pg_exec knows which).  A write
** transaction holds the sequencer, so no other writer changes a row under
** it; a read transaction's snapshot does not move, so its memo (reads
** only, never dirty) holds for the transaction too.  Cleared at begin,
** begin_read, commit and rollback.
*/
#include "store.h"
#include "store_pg_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MEMO_MAX 4096   /* records kept before the memo is written and dropped */

typedef struct pgmemo {
    pg_mrec *v;
    size_t n, cap;
    size_t last;        /* the last hit: a record's fields come in a row */
    int dirty;          /* some entry is dirty */
    /* Customers whose share records ("CUSTOMER:USER") are all in the memo
    ** (memo_prefetch_shares): a share of theirs not in it does not exist. */
    char **full;
    size_t nfull, capfull;
    /* (tbl, rid) -> index + 1 into v, open addressing; hcap a power of
    ** two at least twice n (memo_find is asked many times per change). */
    uint32_t *hix;
    size_t hcap;
} pgmemo;

static size_t key_hash(const char *tbl, const char *rid)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)tbl; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    h = (h ^ 0xff) * 1099511628211ULL;
    for (const unsigned char *p = (const unsigned char *)rid; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return (size_t)(h ^ (h >> 29));
}

static void hix_put(pgmemo *mm, size_t i)
{
    size_t mask = mm->hcap - 1;
    size_t h = key_hash(mm->v[i].tbl, mm->v[i].rid) & mask;
    while (mm->hix[h])
        h = (h + 1) & mask;
    mm->hix[h] = (uint32_t)(i + 1);
}

/* Index entry mm->n (just filled) before counting it; -1 out of memory
** (the entry is then not kept). */
static int memo_index(pgmemo *mm)
{
    if ((mm->n + 1) * 2 > mm->hcap) {
        size_t cap = mm->hcap ? mm->hcap * 2 : 256;
        while ((mm->n + 1) * 2 > cap)
            cap *= 2;
        uint32_t *x = calloc(cap, sizeof *x);
        if (!x)
            return -1;
        free(mm->hix);
        mm->hix = x;
        mm->hcap = cap;
        for (size_t i = 0; i < mm->n; i++)
            hix_put(mm, i);
    }
    hix_put(mm, mm->n);
    return 0;
}

static pgmemo *memo(fsv_store *s)
{
    if (!PG(s)->memo)
        PG(s)->memo = calloc(1, sizeof(pgmemo));
    return PG(s)->memo;
}

static void mrec_free(pg_mrec *m)
{
    free(m->tbl);
    free(m->rid);
    free(m->customer);
    free(m->creator);
    json_decref(m->regs);
    memset(m, 0, sizeof *m);
}

void fsv__pg_memo_clear(fsv_store *s)
{
    pgmemo *mm = PG(s)->memo;
    if (!mm)
        return;
    for (size_t i = 0; i < mm->n; i++)
        mrec_free(&mm->v[i]);
    mm->n = mm->last = 0;
    mm->dirty = 0;
    if (mm->hix)
        memset(mm->hix, 0, mm->hcap * sizeof *mm->hix);
    for (size_t i = 0; i < mm->nfull; i++)
        free(mm->full[i]);
    mm->nfull = 0;
}

void fsv__pg_memo_free(fsv_store *s)
{
    fsv__pg_memo_clear(s);
    if (PG(s)->memo) {
        free(((pgmemo *)PG(s)->memo)->v);
        free(((pgmemo *)PG(s)->memo)->full);
        free(((pgmemo *)PG(s)->memo)->hix);
    }
    free(PG(s)->memo);
    PG(s)->memo = NULL;
}

pg_mrec *fsv__pg_memo_find(fsv_store *s, const char *tbl, const char *rid)
{
    pgmemo *mm = PG(s)->memo;
    /* A read transaction keeps a memo too: its snapshot is fixed
    ** (REPEATABLE READ), so a record read once holds for the whole
    ** transaction, and a pull's visibility filter asks about the same
    ** customers row after row.  Outside a transaction: no memo. */
    if (!mm || !PG(s)->in_tx)
        return NULL;
    if (mm->last < mm->n && strcmp(mm->v[mm->last].rid, rid) == 0 &&
        strcmp(mm->v[mm->last].tbl, tbl) == 0)
        return &mm->v[mm->last];
    if (!mm->hcap)
        return NULL;
    size_t mask = mm->hcap - 1;
    for (size_t h = key_hash(tbl, rid) & mask; mm->hix[h]; h = (h + 1) & mask) {
        size_t k = mm->hix[h] - 1;
        if (strcmp(mm->v[k].rid, rid) == 0 && strcmp(mm->v[k].tbl, tbl) == 0) {
            mm->last = k;
            return &mm->v[k];
        }
    }
    return NULL;
}

int fsv__pg_memo_flush(fsv_store *s)
{
    /* The history rows first (store_pg_batch.c): whoever needs the rec
    ** rows written needs the history written too. */
    int rc = fsv__pg_hist_flush(s);
    pgmemo *mm = PG(s)->memo;
    if (rc != FSV_OK || !mm || !mm->dirty)
        return rc;
    /* Every dirty row in one statement: the columns as arrays. */
    enum { C_TBL, C_RID, C_CUST, C_CREATOR, C_REGS, C_CONFL, C__N };
    pg_arr col[C__N];
    memset(col, 0, sizeof col);
    for (size_t i = 0; rc == FSV_OK && i < mm->n; i++) {
        pg_mrec *m = &mm->v[i];
        if (!m->dirty)
            continue;
        char *regs = json_dumps(m->regs, JSON_COMPACT);
        if (!regs || fsv__pg_arr_add(&col[C_TBL], m->tbl) ||
            fsv__pg_arr_add(&col[C_RID], m->rid) ||
            fsv__pg_arr_add(&col[C_CUST], m->customer) ||
            fsv__pg_arr_add(&col[C_CREATOR], m->creator ? m->creator : "") ||
            fsv__pg_arr_add(&col[C_REGS], regs) ||
            fsv__pg_arr_i64(&col[C_CONFL], m->conflicts))
            rc = seterr(s, FSV_NOMEM, "out of memory");
        free(regs);
    }
    pgp p = {0};
    for (int c = 0; rc == FSV_OK && c < C__N; c++) {
        const char *t = fsv__pg_arr_text(&col[c]);
        if (!t)
            rc = seterr(s, FSV_NOMEM, "out of memory");
        else
            p_text(&p, t);
    }
    if (rc == FSV_OK)
        rc = fsv__pg_run(s, PS_REC_PUTS, &p, "save records", NULL);
    for (int c = 0; c < C__N; c++)
        fsv__pg_arr_free(&col[c]);
    if (rc != FSV_OK)
        return rc;
    for (size_t i = 0; i < mm->n; i++)
        mm->v[i].dirty = 0;
    mm->dirty = 0;
    return FSV_OK;
}

int fsv__pg_memo_get(fsv_store *s, const char *tbl, const char *rid,
                     pg_mrec **out)
{
    *out = fsv__pg_memo_find(s, tbl, rid);
    if (*out)
        return FSV_OK;
    pgmemo *mm = memo(s);
    if (!mm)
        return seterr(s, FSV_NOMEM, "out of memory");
    if (mm->n >= MEMO_MAX) {
        int rc = fsv__pg_memo_flush(s);
        if (rc != FSV_OK)
            return rc;
        fsv__pg_memo_clear(s);
    }
    if (mm->n == mm->cap) {
        size_t cap = mm->cap ? mm->cap * 2 : 64;
        pg_mrec *v = realloc(mm->v, cap * sizeof *v);
        if (!v)
            return seterr(s, FSV_NOMEM, "out of memory");
        mm->v = v;
        mm->cap = cap;
    }
    pgp p = {0};
    p_text(&p, tbl);
    p_text(&p, rid);
    int rc;
    PGresult *r = fsv__pg_exec(s, PS_REC_ROW, &p, "read record", &rc);
    if (!r)
        return rc;
    pg_mrec *m = &mm->v[mm->n];
    memset(m, 0, sizeof *m);
    m->tbl = strdup(tbl);
    m->rid = strdup(rid);
    if (PQntuples(r) == 1) {
        json_error_t jerr;
        m->exists = 1;
        m->customer = col_dup(r, 0, 0);
        m->creator = col_dup(r, 0, 1);
        m->regs = json_loads(PQgetvalue(r, 0, 2), 0, &jerr);
        m->conflicts = (int)col_i64(r, 0, 3);
        if (!json_is_object(m->regs)) {
            PQclear(r);
            mrec_free(m);
            return seterr(s, FSV_ERROR, "store: record %s/%s: damaged"
                          " registers", tbl, rid);
        }
    } else {
        m->regs = json_object();
    }
    PQclear(r);
    if (!m->tbl || !m->rid || !m->regs || (m->exists && !m->creator)) {
        mrec_free(m);
        return seterr(s, FSV_NOMEM, "out of memory");
    }
    if (memo_index(mm) != 0) {
        mrec_free(m);
        return seterr(s, FSV_NOMEM, "out of memory");
    }
    mm->last = mm->n++;
    *out = m;
    return FSV_OK;
}

void fsv__pg_memo_dirty(fsv_store *s, pg_mrec *m)
{
    m->dirty = 1;
    ((pgmemo *)PG(s)->memo)->dirty = 1;
}

/* Read the records tbl/rids[0..n) not yet in the memo into it, in one
** statement (a pull's page: the customers its rows' visibility asks
** about, store_pg_merge.c).  Only in a transaction, and only while the
** memo has room; a record not found is remembered as absent, as
** memo_get does. */
int fsv__pg_memo_prefetch(fsv_store *s, const char *tbl,
                          const char *const *rids, size_t n)
{
    pgmemo *mm = memo(s);
    if (!PG(s)->in_tx || !n)
        return FSV_OK;
    if (!mm)
        return seterr(s, FSV_NOMEM, "out of memory");
    const char **want = malloc(n * sizeof *want);
    if (!want)
        return seterr(s, FSV_NOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int seen = fsv__pg_memo_find(s, tbl, rids[i]) != NULL;
        for (size_t j = 0; !seen && j < k; j++)
            seen = strcmp(want[j], rids[i]) == 0;
        if (!seen)
            want[k++] = rids[i];
    }
    if (k < 2 || mm->n + k > MEMO_MAX) {    /* one: memo_get will do */
        free(want);
        return FSV_OK;
    }
    if (mm->n + k > mm->cap) {
        size_t cap = mm->cap ? mm->cap : 64;
        while (cap < mm->n + k)
            cap *= 2;
        pg_mrec *v = realloc(mm->v, cap * sizeof *v);
        if (!v) {
            free(want);
            return seterr(s, FSV_NOMEM, "out of memory");
        }
        mm->v = v;
        mm->cap = cap;
    }
    pg_arr a = {0};
    int rc = FSV_OK;
    for (size_t i = 0; rc == FSV_OK && i < k; i++)
        if (fsv__pg_arr_add(&a, want[i]) != 0)
            rc = seterr(s, FSV_NOMEM, "out of memory");
    const char *lit = rc == FSV_OK ? fsv__pg_arr_text(&a) : NULL;
    PGresult *r = NULL;
    if (rc == FSV_OK && !lit)
        rc = seterr(s, FSV_NOMEM, "out of memory");
    if (rc == FSV_OK) {
        pgp p = {0};
        p_text(&p, tbl);
        p_text(&p, lit);
        r = fsv__pg_exec(s, PS_REC_ROWS, &p, "read records", &rc);
    }
    fsv__pg_arr_free(&a);
    /* Each wanted record: its row if one came back, else absent. */
    for (size_t i = 0; r && rc == FSV_OK && i < k; i++) {
        int row = -1;
        for (int j = 0; j < PQntuples(r) && row < 0; j++)
            if (strcmp(PQgetvalue(r, j, 0), want[i]) == 0)
                row = j;
        pg_mrec *m = &mm->v[mm->n];
        memset(m, 0, sizeof *m);
        m->tbl = strdup(tbl);
        m->rid = strdup(want[i]);
        if (row >= 0) {
            json_error_t jerr;
            m->exists = 1;
            m->customer = col_dup(r, row, 1);
            m->creator = col_dup(r, row, 2);
            m->regs = json_loads(PQgetvalue(r, row, 3), 0, &jerr);
            m->conflicts = (int)col_i64(r, row, 4);
        } else {
            m->regs = json_object();
        }
        if (!m->tbl || !m->rid || !json_is_object(m->regs) ||
            (m->exists && !m->creator)) {
            mrec_free(m);
            rc = seterr(s, FSV_ERROR, "store: record %s/%s: damaged"
                        " registers or out of memory", tbl, want[i]);
            break;
        }
        if (memo_index(mm) != 0) {
            mrec_free(m);
            rc = seterr(s, FSV_NOMEM, "out of memory");
            break;
        }
        mm->n++;
    }
    PQclear(r);
    free(want);
    return rc;
}

static int full_has(const pgmemo *mm, const char *cust, size_t len)
{
    for (size_t i = 0; i < mm->nfull; i++)
        if (strlen(mm->full[i]) == len && memcmp(mm->full[i], cust, len) == 0)
            return 1;
    return 0;
}

int fsv__pg_memo_share_absent(fsv_store *s, const char *rid)
{
    pgmemo *mm = PG(s)->memo;
    const char *colon = strchr(rid, ':');
    if (!mm || !PG(s)->in_tx || !colon || !mm->nfull)
        return 0;
    return full_has(mm, rid, (size_t)(colon - rid)) &&
           !fsv__pg_memo_find(s, "share", rid);
}

/* Every share record of the customers ids[0..n) into the memo, in one
** statement (a range of the primary key per customer), and the customers
** marked complete: the visibility filter asks "is CUSTOMER shared with
** USER" row after row, and the answer is nearly always no. */
int fsv__pg_memo_prefetch_shares(fsv_store *s, const char *const *ids,
                                 size_t n)
{
    pgmemo *mm = memo(s);
    if (!PG(s)->in_tx || !n)
        return FSV_OK;
    if (!mm)
        return seterr(s, FSV_NOMEM, "out of memory");
    const char **want = malloc(n * sizeof *want);
    if (!want)
        return seterr(s, FSV_NOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (strchr(ids[i], ':'))
            continue;       /* not a customer id a share could name */
        int seen = full_has(mm, ids[i], strlen(ids[i]));
        for (size_t j = 0; !seen && j < k; j++)
            seen = strcmp(want[j], ids[i]) == 0;
        if (!seen)
            want[k++] = ids[i];
    }
    if (!k || mm->n + k > MEMO_MAX / 2) {
        free(want);
        return FSV_OK;
    }
    pg_arr a = {0};
    int rc = FSV_OK;
    for (size_t i = 0; rc == FSV_OK && i < k; i++)
        if (fsv__pg_arr_add(&a, want[i]) != 0)
            rc = seterr(s, FSV_NOMEM, "out of memory");
    const char *lit = rc == FSV_OK ? fsv__pg_arr_text(&a) : NULL;
    PGresult *r = NULL;
    if (rc == FSV_OK && !lit)
        rc = seterr(s, FSV_NOMEM, "out of memory");
    if (rc == FSV_OK) {
        pgp p = {0};
        p_text(&p, lit);
        r = fsv__pg_exec(s, PS_SHARE_ROWS, &p, "read shares", &rc);
    }
    fsv__pg_arr_free(&a);
    int rows = r ? PQntuples(r) : 0;
    if (rc == FSV_OK && mm->n + (size_t)rows > MEMO_MAX) {
        PQclear(r);         /* too many to keep: ask one by one */
        free(want);
        return FSV_OK;
    }
    if (rc == FSV_OK && mm->n + (size_t)rows > mm->cap) {
        size_t cap = mm->cap ? mm->cap : 64;
        while (cap < mm->n + (size_t)rows)
            cap *= 2;
        pg_mrec *v = realloc(mm->v, cap * sizeof *v);
        if (!v)
            rc = seterr(s, FSV_NOMEM, "out of memory");
        else {
            mm->v = v;
            mm->cap = cap;
        }
    }
    for (int j = 0; rc == FSV_OK && j < rows; j++) {
        const char *rid = PQgetvalue(r, j, 0);
        if (fsv__pg_memo_find(s, "share", rid))
            continue;       /* this transaction's own, newer */
        pg_mrec *m = &mm->v[mm->n];
        memset(m, 0, sizeof *m);
        json_error_t jerr;
        m->tbl = strdup("share");
        m->rid = strdup(rid);
        m->exists = 1;
        m->customer = col_dup(r, j, 1);
        m->creator = col_dup(r, j, 2);
        m->regs = json_loads(PQgetvalue(r, j, 3), 0, &jerr);
        m->conflicts = (int)col_i64(r, j, 4);
        if (!m->tbl || !m->rid || !json_is_object(m->regs) || !m->creator) {
            mrec_free(m);
            rc = seterr(s, FSV_ERROR, "store: record share/%s: damaged"
                        " registers or out of memory", rid);
            break;
        }
        if (memo_index(mm) != 0) {
            mrec_free(m);
            rc = seterr(s, FSV_NOMEM, "out of memory");
            break;
        }
        mm->n++;
    }
    PQclear(r);
    if (rc == FSV_OK && mm->nfull + k > mm->capfull) {
        size_t cap = mm->capfull ? mm->capfull : 64;
        while (cap < mm->nfull + k)
            cap *= 2;
        char **f = realloc(mm->full, cap * sizeof *f);
        if (!f)
            rc = seterr(s, FSV_NOMEM, "out of memory");
        else {
            mm->full = f;
            mm->capfull = cap;
        }
    }
    for (size_t i = 0; rc == FSV_OK && i < k; i++) {
        if (!(mm->full[mm->nfull] = strdup(want[i])))
            rc = seterr(s, FSV_NOMEM, "out of memory");
        else
            mm->nfull++;
    }
    free(want);
    return rc;
}
