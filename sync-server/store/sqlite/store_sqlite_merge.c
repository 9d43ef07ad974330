/*
** store_sqlite_merge.c — the SQLite backend's write path: the
** transaction's record cache (txrec), registers, merge (fds_merge), the
** history row of each merged change, the record index, field counts and
** values (store.h).
**
** A record's registers live packed in its rec row (regpack.h,
** store_sqlite_regs.c).  A merge reads the row into the transaction's
** memo once, merges each change into the field's register in memory, and
** leaves the row to be written once by fsv__sq_regs_flush: a pushed
** record of nine fields costs one row read (none when new) and one row
** write instead of nine register rows.  Merge itself is per field as
** before (fds_merge).  The checksum deltas (store_sqlite_sums.c) are
** noted here, at merge time, as the triggers did: the field's old and
** new checksums under the record's key as it is now, and the whole
** record's when its customer link moves.
*/
#include "store.h"
#include "store_sqlite_int.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- The transaction's record cache (txrec; see the struct) ---------- */

static unsigned txrec_hash(const char *tbl, const char *rid)
{
    unsigned h = 2166136261u;   /* FNV-1a over "tbl\0rid" */
    for (const unsigned char *p = (const unsigned char *)tbl; *p; p++)
        h = (h ^ *p) * 16777619u;
    h *= 16777619u;
    for (const unsigned char *p = (const unsigned char *)rid; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h;
}

static void txrec_drop_regs(txrec *m)
{
    for (size_t i = 0; i < m->nf; i++) {
        free(m->f[i].name);
        fds_register_clear(&m->f[i].reg);
    }
    m->nf = 0;
}

/* Forget every record (the storage stays for the next transaction). */
void fsv__sq_txrec_clear(fsv_store *s)
{
    if (SQ(s)->buckets && SQ(s)->n_txrec)
        memset(SQ(s)->buckets, 0, TXREC_BUCKETS * sizeof *SQ(s)->buckets);
    for (size_t i = 0; i < SQ(s)->n_txrec; i++)
        txrec_drop_regs(&SQ(s)->chunks[i / TXREC_CHUNK][i % TXREC_CHUNK]);
    SQ(s)->n_txrec = 0;
    SQ(s)->n_dirty = 0;
}

/* Release the memo's storage (closing the store). */
void fsv__sq_txrec_free(fsv_store *s)
{
    fsv__sq_txrec_clear(s);
    for (size_t i = 0; i < SQ(s)->n_chunks; i++) {
        for (size_t j = 0; j < TXREC_CHUNK; j++) {
            free(SQ(s)->chunks[i][j].f);
            free(SQ(s)->chunks[i][j].fsum);
            free(SQ(s)->chunks[i][j].fsum_ok);
            free(SQ(s)->chunks[i][j].vals);
        }
        free(SQ(s)->chunks[i]);
    }
    free(SQ(s)->chunks);
    free(SQ(s)->buckets);
    SQ(s)->chunks = SQ(s)->buckets = NULL;
    SQ(s)->n_chunks = SQ(s)->n_txrec = 0;
}

/* The memo of (tbl, rid), created empty when missing; NULL outside a
** transaction, for strings that do not fit, at TXREC_MAX or out of memory
** (see txrec_need). */
static txrec *txrec_get(fsv_store *s, const char *tbl, const char *rid)
{
    if (!SQ(s)->in_tx || !tbl || !rid)
        return NULL;
    size_t lt = strlen(tbl), lr = strlen(rid);
    if (lt > FDSP_MAX_NAME || lr > FDSP_MAX_ID)
        return NULL;
    unsigned h = txrec_hash(tbl, rid);
    if (!SQ(s)->buckets && !(SQ(s)->buckets = calloc(TXREC_BUCKETS, sizeof *SQ(s)->buckets)))
        return NULL;
    txrec **head = &SQ(s)->buckets[h & (TXREC_BUCKETS - 1)];
    for (txrec *m = *head; m; m = m->next)
        if (m->hash == h && strcmp(m->rid, rid) == 0 && strcmp(m->tbl, tbl) == 0)
            return m;
    if (SQ(s)->n_txrec >= TXREC_MAX)
        return NULL;
    if (SQ(s)->n_txrec == SQ(s)->n_chunks * TXREC_CHUNK) {
        txrec **cv = realloc(SQ(s)->chunks, (SQ(s)->n_chunks + 1) * sizeof *cv);
        if (!cv)
            return NULL;
        SQ(s)->chunks = cv;
        if (!(cv[SQ(s)->n_chunks] = calloc(TXREC_CHUNK, sizeof **cv)))
            return NULL;
        SQ(s)->n_chunks++;
    }
    txrec *m = &SQ(s)->chunks[SQ(s)->n_txrec / TXREC_CHUNK][SQ(s)->n_txrec % TXREC_CHUNK];
    SQ(s)->n_txrec++;
    /* A reused entry keeps only its arrays' storage. */
    m->next = *head;
    m->hash = h;
    m->rec = REC_UNSEEN;
    m->has_customer = m->dirty = m->is_new = m->regs = m->vals_ok = 0;
    m->nf = 0;
    m->sum = 0;
    memcpy(m->tbl, tbl, lt + 1);
    memcpy(m->rid, rid, lr + 1);
    m->customer[0] = m->creator[0] = '\0';
    *head = m;
    return m;
}

/* Copy a nullable string into a memo slot; 0 if it does not fit. */
static int txrec_str(char *dst, size_t cap, const char *v)
{
    size_t n = v ? strlen(v) : 0;
    if (n >= cap)
        return 0;
    memcpy(dst, v ? v : "", n + 1);
    return 1;
}

/* Read m's rec row: the record index and, when regs, its registers (a
** pull's filter asks only for the index, for many records). */
static int txrec_load(fsv_store *s, txrec *m, int regs)
{
    sqlite3_stmt *st = stmt(s, ST_REG_GET);
    if (!st)
        return FSV_ERROR;
    bind_static(st, 1, m->tbl);
    bind_static(st, 2, m->rid);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(st);
        m->rec = REC_ABSENT;
        m->regs = 1;
        return FSV_OK;
    }
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return dberr(s, "load record");
    }
    if (m->rec == REC_PRESENT) {
        m->sum = (uint64_t)sqlite3_column_int64(st, 4);
        goto decode;    /* the index part is known: only the registers */
    }
    m->has_customer = sqlite3_column_type(st, 0) != SQLITE_NULL;
    if (!txrec_str(m->customer, sizeof m->customer,
                   (const char *)sqlite3_column_text(st, 0)) ||
        !txrec_str(m->creator, sizeof m->creator,
                   (const char *)sqlite3_column_text(st, 1))) {
        sqlite3_reset(st);
        return seterr(s, FSV_ERROR, "store: record %s/%s: its index entry"
                      " is damaged (an id too long)", m->tbl, m->rid);
    }
    m->sum = (uint64_t)sqlite3_column_int64(st, 4);
    m->rec = REC_PRESENT;
    if (!regs) {
        /* Keep the winners' text for field_value (the storage stays). */
        const char *v = (const char *)sqlite3_column_text(st, 2);
        size_t vl = v ? (size_t)sqlite3_column_bytes(st, 2) : 0;
        if (vl > m->vals_cap) {
            char *nv = realloc(m->vals, vl);
            if (nv) {
                m->vals = nv;
                m->vals_cap = vl;
            }
        }
        if (vl <= m->vals_cap) {
            if (vl)
                memcpy(m->vals, v, vl);
            m->vals_len = vl;
            m->vals_ok = 1;
        }
        sqlite3_reset(st);
        return FSV_OK;
    }
decode:;
    fsv_regpack_field *f = NULL;
    size_t n = 0;
    rc = FSV_OK;
    if (sqlite3_column_type(st, 2) != SQLITE_NULL)
        rc = fsv__sq_regs_decode(s, m->tbl, m->rid, st, 2, &f, &n);
    sqlite3_reset(st);
    if (rc != FSV_OK)
        return rc;
    if (n > m->capf) {
        fsv_regpack_field *nfv = realloc(m->f, n * sizeof *nfv);
        uint64_t *ns = nfv ? realloc(m->fsum, n * sizeof *ns) : NULL;
        unsigned char *no = ns ? realloc(m->fsum_ok, n) : NULL;
        if (nfv)
            m->f = nfv;
        if (ns)
            m->fsum = ns;
        if (!no) {
            fsv_regpack_free(f, n);
            return seterr(s, FSV_NOMEM, "out of memory");
        }
        m->fsum_ok = no;
        m->capf = n;
    }
    if (n)
        memcpy(m->f, f, n * sizeof *f);
    memset(m->fsum_ok, 0, n);
    free(f);        /* the names and registers moved into m */
    m->nf = n;
    m->regs = 1;
    return FSV_OK;
}

/* The memo of (tbl, rid), read (with its registers when regs, or in a
** write transaction); when the memo is full its dirty records are written
** and it starts over. */
static int txrec_need(fsv_store *s, const char *tbl, const char *rid,
                      int regs, txrec **out)
{
    *out = NULL;
    if (!SQ(s)->in_tx)
        return FSV_OK;
    txrec *m = txrec_get(s, tbl, rid);
    if (!m && SQ(s)->n_txrec >= TXREC_MAX) {
        int rc = fsv__sq_regs_flush(s);
        if (rc != FSV_OK)
            return rc;
        fsv__sq_txrec_clear(s);
        m = txrec_get(s, tbl, rid);
    }
    if (!m)
        return FSV_OK;      /* the caller asks SQLite */
    regs = regs || SQ(s)->write_tx;
    if (m->rec == REC_UNSEEN || (regs && !m->regs)) {
        int rc = txrec_load(s, m, regs);
        if (rc != FSV_OK)
            return rc;
    }
    *out = m;
    return FSV_OK;
}

/* Index of field in m (binary search); -1 with *at the insertion point. */
static long txrec_find(const txrec *m, const char *field, size_t *at)
{
    size_t lo = 0, hi = m->nf;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(m->f[mid].name, field);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *at = lo;
    return -1;
}

/* Make room for a field at position at (its name copied, register empty). */
static int txrec_insert(fsv_store *s, txrec *m, size_t at, const char *field)
{
    if (m->nf == m->capf) {
        size_t cap = m->capf ? m->capf * 2 : 8;
        fsv_regpack_field *f = realloc(m->f, cap * sizeof *f);
        if (f)
            m->f = f;
        uint64_t *su = f ? realloc(m->fsum, cap * sizeof *su) : NULL;
        if (su)
            m->fsum = su;
        unsigned char *ok = su ? realloc(m->fsum_ok, cap) : NULL;
        if (!ok)
            return seterr(s, FSV_NOMEM, "out of memory");
        m->fsum_ok = ok;
        m->capf = cap;
    }
    char *name = strdup(field);
    if (!name)
        return seterr(s, FSV_NOMEM, "out of memory");
    size_t tail = m->nf - at;
    memmove(&m->f[at + 1], &m->f[at], tail * sizeof *m->f);
    memmove(&m->fsum[at + 1], &m->fsum[at], tail * sizeof *m->fsum);
    memmove(&m->fsum_ok[at + 1], &m->fsum_ok[at], tail);
    m->f[at].name = name;
    m->f[at].reg.n = 0;
    m->f[at].reg.v = NULL;
    m->fsum[at] = 0;
    m->fsum_ok[at] = 1;     /* an empty register adds nothing */
    m->nf++;
    return FSV_OK;
}

/* ---- Registers and history ----------------------------------------------------- */

/* The key whose checksum holds m's registers: its customer, else itself. */
static void rec_key(const txrec *m, const char **ktbl, const char **key)
{
    if (m->rec == REC_PRESENT && m->has_customer) {
        *ktbl = "customer";
        *key = m->customer;
    } else {
        *ktbl = m->tbl;
        *key = m->rid;
    }
}

/* Keep the record index in the memo: creator on first sight, customer link
** from a child's "customer" register (its merged winner).  When the key
** of the record's checksum moves, the record's whole checksum moves. */
static int rec_update(fsv_store *s, const fdsp_change *c, txrec *m,
                      const char *winner)
{
    int is_customer = strcmp(c->table, "customer") == 0;
    int sets_customer = !is_customer && strcmp(c->field, "customer") == 0;
    const char *okt, *ok, *nkt, *nk;
    char oldkey[FDSP_MAX_ID + 1], oldktbl[FDSP_MAX_NAME + 1];
    int absent = m->rec == REC_ABSENT;
    if (!absent && !(sets_customer &&
                     !(winner ? m->has_customer && strcmp(m->customer, winner) == 0
                              : !m->has_customer)))
        return FSV_OK;      /* most merges: the index stays (no key copies) */
    rec_key(m, &okt, &ok);
    snprintf(oldktbl, sizeof oldktbl, "%s", okt);
    snprintf(oldkey, sizeof oldkey, "%s", ok);
    if (absent) {
        const char *cust = is_customer ? c->record : sets_customer ? winner : NULL;
        if (!txrec_str(m->creator, sizeof m->creator, c->user ? c->user : "") ||
            !txrec_str(m->customer, sizeof m->customer, cust))
            return seterr(s, FSV_INVALID, "store: record %s/%s: an id too"
                          " long", c->table, c->record);
        m->has_customer = cust != NULL;
        m->rec = REC_PRESENT;
        m->is_new = 1;
    } else {    /* the customer link moves */
        if (!txrec_str(m->customer, sizeof m->customer, winner))
            return seterr(s, FSV_INVALID, "store: record %s/%s: customer id"
                          " too long", c->table, c->record);
        m->has_customer = winner != NULL;
    }
    rec_key(m, &nkt, &nk);
    if (m->sum == 0 || (strcmp(oldktbl, nkt) == 0 && strcmp(oldkey, nk) == 0))
        return FSV_OK;
    int rc = fsv__store_sums_note(s, oldktbl, oldkey, m->sum);
    return rc == FSV_OK ? fsv__store_sums_note(s, nkt, nk, m->sum) : rc;
}

static int merge_change(fsv_store *s, fdsp_change *c, int *outcome)
{
    fds_register next = {0, NULL};
    txrec *m = NULL;
    c->seq = 0;
    int rc = txrec_need(s, c->table, c->record, 1, &m);
    if (rc != FSV_OK)
        return rc;
    if (!m)
        return seterr(s, FSV_ERROR, "store: a merge outside a transaction"
                      " (or an id too long): %s/%s", c->table, c->record);
    size_t at = 0;
    long i = txrec_find(m, c->field, &at);
    static const fds_register none = {0, NULL};
    const fds_register *cur = i >= 0 ? &m->f[i].reg : &none;
    if (fds_merge(cur, c, &next, outcome) != FDS_OK)
        return seterr(s, FSV_NOMEM, "merge failed (out of memory)");
    if (*outcome == FDS_MERGE_NOOP) {
        fds_register_clear(&next);
        return FSV_OK;
    }
    /* The checksum delta, under the record's key as it is now. */
    int ok = 1;
    uint64_t old = 0;
    if (i >= 0 && m->fsum_ok[i])
        old = m->fsum[i];
    else if (i >= 0)
        old = fsv__sq_reg_sum(s, c->table, c->record, c->field, cur, &ok);
    uint64_t now = ok ? fsv__sq_reg_sum(s, c->table, c->record, c->field,
                                        &next, &ok) : 0;
    if (!ok) {
        fds_register_clear(&next);
        return FSV_NOMEM;
    }
    if (i < 0) {
        if ((rc = txrec_insert(s, m, at, c->field)) != FSV_OK) {
            fds_register_clear(&next);
            return rc;
        }
        i = (long)at;
    }
    fds_register_clear(&m->f[i].reg);
    m->f[i].reg = next;
    m->fsum[i] = now;
    m->fsum_ok[i] = 1;
    m->sum ^= old ^ now;
    if (!m->dirty) {
        m->dirty = 1;
        SQ(s)->n_dirty++;
    }
    const char *ktbl, *key;
    rec_key(m, &ktbl, &key);
    rc = (old ^ now) ? fsv__store_sums_note(s, ktbl, key, old ^ now) : FSV_OK;
    if (rc == FSV_OK)
        rc = fsv__sq_hist_note(s, c);  /* store_sqlite_hist.c */
    if (rc == FSV_OK)
        rc = rec_update(s, c, m, m->f[i].reg.v[0].value);
    if (rc == FSV_OK)
        rc = fsv__sq_office_note(s, c);  /* store_sqlite_office.c */
    return rc;
}

int fsv_sqlite_merge_change(fsv_store *s, fdsp_change *c, int *outcome)
{
    int rc = merge_change(s, c, outcome);
    if (rc != FSV_OK)
        fsv__sq_txrec_clear(s);  /* a statement may have failed half-way */
    return rc;
}

int fsv_sqlite_merge_relayed(fsv_store *s, fdsp_change *c, const char *relay,
                            int *outcome)
{
    SQ(s)->relay = relay;
    int rc = fsv_sqlite_merge_change(s, c, outcome);
    SQ(s)->relay = NULL;
    return rc;
}

int fsv_sqlite_field_count(fsv_store *s, const char *tbl, const char *rid,
                          const char *field, int *count, int *has_field)
{
    txrec *m = NULL;
    int rc = txrec_need(s, tbl, rid, 1, &m);
    if (rc != FSV_OK)
        return rc;
    if (m) {
        size_t at;
        *count = (int)m->nf;
        *has_field = txrec_find(m, field, &at) >= 0;
        return FSV_OK;
    }
    sqlite3_stmt *st = stmt(s, ST_FIELD_LIST);
    if (!st)
        return FSV_ERROR;
    bind_text(st, 1, tbl);
    bind_text(st, 2, rid);
    int n = 0, has = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *f = (const char *)sqlite3_column_text(st, 0);
        n++;
        if (f && strcmp(f, field) == 0)
            has = 1;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return dberr(s, "field count");
    *count = n;
    *has_field = has;
    return FSV_OK;
}

int fsv_sqlite_field_value(fsv_store *s, const char *tbl, const char *rid,
                          const char *field, char **value)
{
    *value = NULL;
    txrec *m = NULL;
    int rc = txrec_need(s, tbl, rid, 0, &m);
    if (rc != FSV_OK)
        return rc;
    if (m && !m->regs && m->vals_ok) {
        /* Only the index part was read: the winner from vals. */
        int found = 0;
        if (!m->vals_len)
            return FSV_NOTFOUND;
        rc = fsv_regpack_find(m->vals, m->vals_len, field, &found, value);
        if (rc == FSV_RP_NOMEM)
            return seterr(s, FSV_NOMEM, "out of memory");
        if (rc == FSV_RP_OK)
            return found ? FSV_OK : FSV_NOTFOUND;
        /* damaged: the full decode below says what is wrong */
    }
    if (m && !m->regs && (rc = txrec_need(s, tbl, rid, 1, &m)) != FSV_OK)
        return rc;
    if (m) {
        size_t at;
        long i = txrec_find(m, field, &at);
        if (i < 0)
            return FSV_NOTFOUND;
        const char *v = m->f[i].reg.v[0].value;
        if (v && !(*value = strdup(v)))
            return seterr(s, FSV_NOMEM, "out of memory");
        return FSV_OK;
    }
    sqlite3_stmt *st = stmt(s, ST_FIELD_HAS);
    if (!st)
        return FSV_ERROR;
    bind_text(st, 1, tbl);
    bind_text(st, 2, rid);
    bind_text(st, 3, field);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(st);
        return FSV_NOTFOUND;
    }
    if (rc != SQLITE_ROW)
        return dberr(s, "field value");
    if (sqlite3_column_type(st, 0) != SQLITE_NULL) {
        *value = col_dup(st, 0);
        if (!*value) {
            sqlite3_reset(st);
            return seterr(s, FSV_NOMEM, "out of memory");
        }
    }
    sqlite3_reset(st);
    return FSV_OK;
}

/* ---- Record index ------------------------------------------------------------------ */

int fsv__sq_txrec_index(fsv_store *s, const char *tbl, const char *rid,
                        int *known, const char **customer,
                        const char **creator)
{
    if (!SQ(s)->in_tx || !SQ(s)->buckets || !tbl || !rid)
        return 0;
    unsigned h = txrec_hash(tbl, rid);
    for (txrec *m = SQ(s)->buckets[h & (TXREC_BUCKETS - 1)]; m; m = m->next)
        if (m->hash == h && strcmp(m->rid, rid) == 0 &&
            strcmp(m->tbl, tbl) == 0) {
            if (m->rec == REC_UNSEEN)
                return 0;
            *known = m->rec == REC_PRESENT;
            *customer = *known && m->has_customer ? m->customer : NULL;
            *creator = *known ? m->creator : NULL;
            return 1;
        }
    return 0;
}

int fsv_sqlite_record_info(fsv_store *s, const char *tbl, const char *rid,
                          char **customer, char **creator)
{
    *customer = NULL;
    *creator = NULL;
    txrec *m = NULL;
    int rc = txrec_need(s, tbl, rid, 0, &m);
    if (rc != FSV_OK)
        return rc;
    if (m && m->rec == REC_ABSENT)
        return FSV_NOTFOUND;
    if (m) {
        *customer = m->has_customer ? strdup(m->customer) : NULL;
        *creator = strdup(m->creator);
        if ((m->has_customer && !*customer) || !*creator) {
            free(*customer);
            free(*creator);
            *customer = *creator = NULL;
            return seterr(s, FSV_NOMEM, "out of memory");
        }
        return FSV_OK;
    }
    sqlite3_stmt *st = stmt(s, ST_REC_GET);
    if (!st)
        return FSV_ERROR;
    bind_text(st, 1, tbl);
    bind_text(st, 2, rid);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(st);
        return FSV_NOTFOUND;
    }
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return dberr(s, "record index");
    }
    int has_cust = sqlite3_column_type(st, 0) != SQLITE_NULL;
    *customer = has_cust ? col_dup(st, 0) : NULL;
    *creator = col_dup(st, 1);
    sqlite3_reset(st);
    if ((has_cust && !*customer) || !*creator) {
        free(*customer);
        free(*creator);
        *customer = *creator = NULL;
        return seterr(s, FSV_NOMEM, "out of memory");
    }
    return FSV_OK;
}

/* ---- The office view's reads ------------------------------------------------------ */

/* The memo of (tbl, rid) if this transaction has it; never reads. */
static txrec *txrec_lookup(fsv_store *s, const char *tbl, const char *rid)
{
    if (!SQ(s)->in_tx || !SQ(s)->buckets || !SQ(s)->n_txrec)
        return NULL;
    unsigned h = txrec_hash(tbl, rid);
    for (txrec *m = SQ(s)->buckets[h & (TXREC_BUCKETS - 1)]; m; m = m->next)
        if (m->hash == h && strcmp(m->rid, rid) == 0 && strcmp(m->tbl, tbl) == 0)
            return m;
    return NULL;
}

int fsv__sq_regs_values(fsv_store *s, const char *tbl, const char *rid,
                        json_t **out, char **creator)
{
    *out = NULL;
    if (creator)
        *creator = NULL;
    txrec *m = txrec_lookup(s, tbl, rid);
    if (!m || m->rec != REC_PRESENT || !m->regs)
        return FSV_NOTFOUND;
    json_t *o = json_object();
    if (!o)
        return seterr(s, FSV_NOMEM, "out of memory");
    for (size_t i = 0; i < m->nf; i++) {
        const char *v = m->f[i].reg.v[0].value;
        /* values were checked as UTF-8 when they arrived */
        if (v && json_object_set_new_nocheck(o, m->f[i].name,
                                             json_string_nocheck(v)) != 0) {
            json_decref(o);
            return seterr(s, FSV_NOMEM, "out of memory");
        }
    }
    if (creator && !(*creator = strdup(m->creator))) {
        json_decref(o);
        return seterr(s, FSV_NOMEM, "out of memory");
    }
    *out = o;
    return FSV_OK;
}

/* ---- Writing the memo's records -------------------------------------------------- */

static int txrec_write(fsv_store *s, txrec *m)
{
    char *vals = NULL;
    unsigned char *blob = NULL;
    size_t len = 0;
    int conflicts = 0;
    fsv_regpack_dict d;
    fsv__sq_dict_of(s, &d);
    int rc = fsv_regpack_encode(m->f, m->nf, &d, &vals, &blob, &len, &conflicts);
    if (rc == FSV_RP_NOMEM)
        return seterr(s, FSV_NOMEM, "out of memory");
    if (rc == FSV_RP_DICT)
        return FSV_ERROR;       /* the dictionary set the message */
    if (rc != FSV_RP_OK)
        return seterr(s, FSV_ERROR, "store: record %s/%s: cannot pack its"
                      " registers", m->tbl, m->rid);
    sqlite3_stmt *st = stmt(s, m->is_new ? ST_REG_INS : ST_REG_UPD);
    if (!st) {
        free(vals);
        free(blob);
        return FSV_ERROR;
    }
    bind_static(st, 1, m->tbl);
    bind_static(st, 2, m->rid);
    bind_static(st, 3, m->has_customer ? m->customer : NULL);
    bind_static(st, 4, m->creator);
    sqlite3_bind_text(st, 5, vals, -1, free);
    sqlite3_bind_blob(st, 6, blob, (int)len, free);
    sqlite3_bind_int(st, 7, conflicts);
    sqlite3_bind_int64(st, 8, (sqlite3_int64)m->sum);
    rc = step_done(s, st, "save record");
    if (rc == FSV_OK) {
        m->dirty = m->is_new = 0;
        SQ(s)->n_dirty--;
    }
    return rc;
}

int fsv__sq_regs_flush(fsv_store *s)
{
    int rc = FSV_OK;
    for (size_t i = 0; rc == FSV_OK && SQ(s)->n_dirty && i < SQ(s)->n_txrec; i++) {
        txrec *m = &SQ(s)->chunks[i / TXREC_CHUNK][i % TXREC_CHUNK];
        if (m->dirty)
            rc = txrec_write(s, m);
    }
    return rc;
}
