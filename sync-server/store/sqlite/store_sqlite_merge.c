/*
** store_sqlite_merge.c — the SQLite backend's write path: the
** transaction's record cache (txrec), registers, merge (fds_merge), the
** history row of each merged change, the record index, field counts and
** values (store.h).
*/
#include "store.h"
#include "store_sqlite_int.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Registers and history ----------------------------------------------------- */

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

/* Forget every record (the storage stays for the next transaction). */
void fsv__sq_txrec_clear(fsv_store *s)
{
    if (SQ(s)->buckets && SQ(s)->n_txrec)
        memset(SQ(s)->buckets, 0, TXREC_BUCKETS * sizeof *SQ(s)->buckets);
    SQ(s)->n_txrec = 0;
}

/* Release the memo's storage (closing the store). */
void fsv__sq_txrec_free(fsv_store *s)
{
    for (size_t i = 0; i < SQ(s)->n_chunks; i++) {
        for (size_t j = 0; j < TXREC_CHUNK; j++)
            free(SQ(s)->chunks[i][j].fields);
        free(SQ(s)->chunks[i]);
    }
    free(SQ(s)->chunks);
    free(SQ(s)->buckets);
    SQ(s)->chunks = SQ(s)->buckets = NULL;
    SQ(s)->n_chunks = SQ(s)->n_txrec = 0;
}

/* The memo of (tbl, rid), created empty when missing; NULL outside a
** transaction, for strings that do not fit, at TXREC_MAX or out of memory
** (the caller then asks SQLite). */
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
    /* A reused entry keeps only its field array's storage. */
    m->next = *head;
    m->hash = h;
    m->rec = REC_UNSEEN;
    m->has_customer = m->fields_loaded = 0;
    m->n_fields = 0;
    memcpy(m->tbl, tbl, lt + 1);
    memcpy(m->rid, rid, lr + 1);
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

/* Fill m's record-index part from the rec table.  FSV_OK (m->rec set, or
** left REC_UNSEEN when its strings do not fit) or a store error. */
static int txrec_load_rec(fsv_store *s, txrec *m)
{
    sqlite3_stmt *st = stmt(s, ST_REC_GET);
    if (!st)
        return FSV_ERROR;
    bind_static(st, 1, m->tbl);
    bind_static(st, 2, m->rid);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        m->rec = REC_ABSENT;
    } else if (rc == SQLITE_ROW) {
        m->has_customer = sqlite3_column_type(st, 0) != SQLITE_NULL;
        if (txrec_str(m->customer, sizeof m->customer,
                     (const char *)sqlite3_column_text(st, 0)) &&
            txrec_str(m->creator, sizeof m->creator,
                     (const char *)sqlite3_column_text(st, 1)))
            m->rec = REC_PRESENT;
    } else {
        sqlite3_reset(st);
        return dberr(s, "record index");
    }
    sqlite3_reset(st);
    return FSV_OK;
}

static int txrec_has_field(const txrec *m, const char *field)
{
    for (size_t i = 0; i < m->n_fields; i++)
        if (strcmp(m->fields[i], field) == 0)
            return 1;
    return 0;
}

/* Note a field as stored; 0 if it cannot (then the memo stops vouching for
** the record's fields). */
static int txrec_add_field(txrec *m, const char *field)
{
    size_t n = strlen(field);
    if (n > FDSP_MAX_NAME)
        return 0;
    if (m->n_fields == m->cap_fields) {
        size_t cap = m->cap_fields ? m->cap_fields * 2 : 8;
        void *p = realloc(m->fields, cap * sizeof *m->fields);
        if (!p)
            return 0;
        m->fields = p;
        m->cap_fields = cap;
    }
    memcpy(m->fields[m->n_fields++], field, n + 1);
    return 1;
}

/* Fill m's list of stored fields (one scan of the record's registers). */
static int txrec_load_fields(fsv_store *s, txrec *m)
{
    sqlite3_stmt *st = stmt(s, ST_FIELD_LIST);
    if (!st)
        return FSV_ERROR;
    bind_static(st, 1, m->tbl);
    bind_static(st, 2, m->rid);
    m->n_fields = 0;
    int rc, ok = 1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *f = (const char *)sqlite3_column_text(st, 0);
        if (ok && !(f && txrec_add_field(m, f)))
            ok = 0;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return dberr(s, "field list");
    m->fields_loaded = ok;
    if (!ok)
        m->n_fields = 0;
    return FSV_OK;
}

/* ---- Registers and history ----------------------------------------------------- */

/* Load c's register into reg (empty if never written); *found 1 if it
** exists. */
static int reg_load(fsv_store *s, const fdsp_change *c, fds_register *reg,
                    int *found)
{
    reg->n = 0;
    reg->v = NULL;
    *found = 0;
    sqlite3_stmt *st = stmt(s, ST_REG_GET);
    if (!st)
        return FSV_ERROR;
    bind_static(st, 1, c->table);
    bind_static(st, 2, c->record);
    bind_static(st, 3, c->field);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(st);
        return FSV_OK;
    }
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return dberr(s, "load register");
    }
    *found = 1;
    rc = fds_register_parse((const char *)sqlite3_column_text(st, 0), reg);
    sqlite3_reset(st);
    if (rc == FDS_NOMEM)
        return seterr(s, FSV_NOMEM, "out of memory");
    if (rc != FDS_OK)
        return seterr(s, FSV_ERROR, "store: register %s/%s/%s is corrupt",
                      c->table, c->record, c->field);
    return FSV_OK;
}

static int reg_save(fsv_store *s, const fdsp_change *c, const fds_register *reg,
                    int exists)
{
    char *txt = fds_register_dump(reg);     /* canonical bytes, as replicas */
    if (!txt)
        return seterr(s, FSV_NOMEM, "out of memory");
    sqlite3_stmt *st = stmt(s, exists ? ST_REG_UPD : ST_REG_INS);
    if (!st) {
        free(txt);
        return FSV_ERROR;
    }
    bind_static(st, 1, c->table);
    bind_static(st, 2, c->record);
    bind_static(st, 3, c->field);
    bind_static(st, 4, reg->n ? reg->v[0].value : NULL);
    bind_static(st, 5, txt);
    sqlite3_bind_int(st, 6, fds_register_in_conflict(reg));
    int rc = step_done(s, st, "save register");
    free(txt);
    return rc;
}

/* Keep the record index: creator on first sight, customer link from a
** child's "customer" register (its merged winner).  With the record's memo
** (m, its rec part known) only what changes is written: the row once, the
** customer link when it moves; without, INSERT OR IGNORE and UPDATE. */
static int rec_update(fsv_store *s, const fdsp_change *c, const fds_register *reg,
                      txrec *m)
{
    int is_customer = strcmp(c->table, "customer") == 0;
    int sets_customer = !is_customer && strcmp(c->field, "customer") == 0;
    const char *winner = reg->n ? reg->v[0].value : NULL;
    const char *creator = c->user ? c->user : "";
    sqlite3_stmt *st;
    int rc;

    if (m && m->rec == REC_ABSENT) {
        /* A new record: one insert carries its customer link too. */
        const char *cust = is_customer ? c->record : sets_customer ? winner : NULL;
        st = stmt(s, ST_REC_ADD);
        if (!st)
            return FSV_ERROR;
        bind_static(st, 1, c->table);
        bind_static(st, 2, c->record);
        bind_static(st, 3, cust);
        bind_static(st, 4, creator);
        rc = step_done(s, st, "record index");
        if (rc == FSV_OK) {
            m->has_customer = cust != NULL;
            if (txrec_str(m->customer, sizeof m->customer, cust) &&
                txrec_str(m->creator, sizeof m->creator, creator))
                m->rec = REC_PRESENT;
            else
                m->rec = REC_UNSEEN;    /* ask SQLite next time */
        }
        return rc;
    }
    if (m && m->rec == REC_PRESENT) {
        if (!sets_customer ||
            (winner ? m->has_customer && strcmp(m->customer, winner) == 0
                    : !m->has_customer))
            return FSV_OK;      /* the row already says it */
        st = stmt(s, ST_REC_SET_CUSTOMER);
        if (!st)
            return FSV_ERROR;
        bind_static(st, 1, c->table);
        bind_static(st, 2, c->record);
        bind_static(st, 3, winner);
        rc = step_done(s, st, "record index");
        if (rc == FSV_OK) {
            m->has_customer = winner != NULL;
            if (!txrec_str(m->customer, sizeof m->customer, winner))
                m->rec = REC_UNSEEN;
        }
        return rc;
    }
    st = stmt(s, ST_REC_ADD);
    if (!st)
        return FSV_ERROR;
    bind_static(st, 1, c->table);
    bind_static(st, 2, c->record);
    bind_static(st, 3, is_customer ? c->record : NULL);
    bind_static(st, 4, creator);
    rc = step_done(s, st, "record index");
    if (rc != FSV_OK || !sets_customer)
        return rc;
    st = stmt(s, ST_REC_SET_CUSTOMER);
    if (!st)
        return FSV_ERROR;
    bind_static(st, 1, c->table);
    bind_static(st, 2, c->record);
    bind_static(st, 3, winner);
    return step_done(s, st, "record index");
}

static int merge_change(fsv_store *s, fdsp_change *c, int *outcome)
{
    fds_register cur, next = {0, NULL};
    txrec *m = txrec_get(s, c->table, c->record);
    int rc = FSV_OK, found = 0;
    c->seq = 0;
    if (m && m->rec == REC_UNSEEN)
        rc = txrec_load_rec(s, m);
    if (rc != FSV_OK)
        return rc;
    if (m && m->fields_loaded && !txrec_has_field(m, c->field)) {
        cur.n = 0;      /* the memo vouches: never written */
        cur.v = NULL;
    } else {
        rc = reg_load(s, c, &cur, &found);
        if (rc != FSV_OK)
            return rc;
    }
    if (fds_merge(&cur, c, &next, outcome) != FDS_OK) {
        fds_register_clear(&cur);
        return seterr(s, FSV_NOMEM, "merge failed (out of memory)");
    }
    fds_register_clear(&cur);
    if (*outcome != FDS_MERGE_NOOP) {
        rc = reg_save(s, c, &next, found);
        if (rc == FSV_OK)
            rc = fsv__sq_hist_note(s, c);  /* store_sqlite_hist.c */
        if (rc == FSV_OK)
            rc = rec_update(s, c, &next, m && m->rec != REC_UNSEEN ? m : NULL);
        if (rc == FSV_OK)
            rc = fsv__sq_office_note(s, c);  /* store_sqlite_office.c */
        if (rc == FSV_OK && m && m->fields_loaded && !found &&
            !txrec_add_field(m, c->field)) {
            m->fields_loaded = 0;
            m->n_fields = 0;
        }
    }
    fds_register_clear(&next);
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
    txrec *m = txrec_get(s, tbl, rid);
    if (m && !m->fields_loaded) {
        int rc = txrec_load_fields(s, m);
        if (rc != FSV_OK)
            return rc;
    }
    if (m && m->fields_loaded) {
        *count = (int)m->n_fields;
        *has_field = txrec_has_field(m, field);
        return FSV_OK;
    }
    sqlite3_stmt *st = stmt(s, ST_FIELD_LIST);
    if (!st)
        return FSV_ERROR;
    bind_text(st, 1, tbl);
    bind_text(st, 2, rid);
    int rc, n = 0, has = 0;
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
    sqlite3_stmt *st = stmt(s, ST_FIELD_HAS);
    if (!st)
        return FSV_ERROR;
    bind_text(st, 1, tbl);
    bind_text(st, 2, rid);
    bind_text(st, 3, field);
    int rc = sqlite3_step(st);
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

int fsv_sqlite_record_info(fsv_store *s, const char *tbl, const char *rid,
                          char **customer, char **creator)
{
    *customer = NULL;
    *creator = NULL;
    txrec *m = txrec_get(s, tbl, rid);
    if (m && m->rec == REC_UNSEEN) {
        int rc = txrec_load_rec(s, m);
        if (rc != FSV_OK)
            return rc;
    }
    if (m && m->rec == REC_ABSENT)
        return FSV_NOTFOUND;
    if (m && m->rec == REC_PRESENT) {
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
    int rc = sqlite3_step(st);
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
