/*
** sums.c — the device side of the checksum safety net
** (docs/internals/trust.md, "The safety net").
**
** Once a session has pushed everything and caught up, the device tells the
** server a checksum per bucket of what its replica holds (`sums`); the
** server answers with the buckets whose checksums differ from what it holds
** for this user (`repair`), and queues their full state for the next pull.
** The device then drops its registers of the records in those buckets
** (never the log, never the outbox, never the cursor) and pulls.
**
** A register's checksum is fdsp_sum_register over its stored versions text
** (the canonical bytes, identical on the server); a record's key is its
** customer: a customer's own id, a child's "customer" value, else the
** record's own id; a bucket's checksum is the XOR of the checksums of the
** registers of the records whose key falls in it (fdsp_sum_bucket).
**
** The scan reads every record row from the file, not from any cache, so
** damage done behind the core's back (another program, a bad restore, a
** disk) is seen: a row that does not decode gets a marker folded into its
** bucket, so the server's checksum differs and the bucket is repaired.
** (Schema 4 keeps the winner once, in vals, so the schema-3 check that a
** value column agrees with its versions has nothing left to compare.)
**
** Cost: one pass over rec in primary-key order, decoding each row (its
** device and user strings borrowed, not copied) and rebuilding each
** register's canonical text for one FNV-1a; see docs/internals/trust.md for the figure measured on a
** 60,000-record replica.
*/
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Folded into a bucket for a record row that does not decode: no
** canonical versions text is ever these bytes. */
static const char MISMATCH[] = "\x01value-differs-from-versions";

/* One record of the scan: the XOR of its registers' checksums and its key. */
/* Its strings point into the current row or its decoded record: valid
** until the scan steps on, so a callback copies what it keeps. */
typedef struct rec_acc {
    const char *tbl;
    const char *rid;
    const char *customer;   /* its "customer" value, or NULL */
    uint64_t sum;
} rec_acc;

/* The bucket of a finished record (trust.md: its key). */
static int rec_bucket(const rec_acc *a)
{
    const char *key = strcmp(a->tbl, "customer") != 0 && a->customer
                          ? a->customer : a->rid;
    return fdsp_sum_bucket(key);
}

/* Called once per record with its bucket; return an FDS code. */
typedef int (*rec_fn)(void *ud, const rec_acc *a, int bucket);

/* Walk every record row of the replica in (tbl, rid) order, calling fn
** once per record.  Schema 4 packs a record's registers in one row: each
** is decoded and its canonical text rebuilt (the bytes the server sums);
** a row that does not decode folds a marker into its bucket instead, so
** the server's checksum differs and the bucket is repaired. */
static int scan(fds_replica *r, rec_fn fn, void *ud)
{
    sqlite3_stmt *st = NULL;
    int rc = fds__rec_flush(r);
    if (rc != FDS_OK)
        return rc;
    /* The primary key order of a WITHOUT ROWID table: no sort. */
    if (sqlite3_prepare_v2(r->db, "SELECT tbl, rid, vals, meta, cust "
                           "FROM rec ORDER BY tbl, rid", -1, &st,
                           NULL) != SQLITE_OK)
        return fds__dberror(r, "scanning registers");
    fds__buf b = {NULL, 0, 0, 0};
    int step;
    while (rc == FDS_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *tbl = (const char *)sqlite3_column_text(st, 0);
        const char *rid = (const char *)sqlite3_column_text(st, 1);
        const char *vals = (const char *)sqlite3_column_text(st, 2);
        size_t vlen = (size_t)sqlite3_column_bytes(st, 2);
        const void *meta = sqlite3_column_blob(st, 3);
        size_t mlen = (size_t)sqlite3_column_bytes(st, 3);
        const char *cust = (const char *)sqlite3_column_text(st, 4);
        if (!tbl || !rid)
            continue;   /* NOT NULL columns: only a damaged file */
        rec_acc a;
        memset(&a, 0, sizeof a);
        a.tbl = tbl;
        a.rid = rid;
        fds__rec rec;
        fds__rec_strs strs;
        const char *why = NULL;
        memset(&rec, 0, sizeof rec);
        /* Only read: the versions' strings need not be copied. */
        int drc = fds__rec_decode_view(vals, vlen, meta, mlen, &rec, &why,
                                       &strs);
        if (drc == FDS_NOMEM) {
            rc = fds__error(r, FDS_NOMEM, "out of memory");
            break;
        }
        if (drc != FDS_OK) {
            a.sum ^= fdsp_sum_register(tbl, rid, "", MISMATCH,
                                       sizeof MISMATCH - 1);
            a.customer = cust;
        }
        for (size_t i = 0; rc == FDS_OK && i < rec.n; i++) {
            const fds__field *f = &rec.f[i];
            b.n = 0;
            b.oom = 0;
            char *alt = NULL;
            const char *text = b.p;
            size_t tlen;
            if (fds__register_dump_buf(&b, &f->reg) && !b.oom) {
                text = b.p;
                tlen = b.n;
            } else if ((alt = fds__register_dump_tree(&f->reg)) != NULL) {
                text = alt;
                tlen = strlen(alt);
            } else {
                rc = fds__error(r, FDS_NOMEM, "out of memory");
                break;
            }
            a.sum ^= fdsp_sum_register(tbl, rid, f->name, text, tlen);
            free(alt);
            const char *v = f->reg.v[0].value;
            if (v && strcmp(f->name, "customer") == 0)
                a.customer = v;
        }
        if (rc == FDS_OK)
            rc = fn(ud, &a, rec_bucket(&a));
        fds__rec_clear_view(&rec, &strs);
    }
    if (rc == FDS_OK && step != SQLITE_DONE)
        rc = fds__dberror(r, "scanning registers");
    free(b.p);
    sqlite3_finalize(st);
    return rc;
}

static int add_to_bucket(void *ud, const rec_acc *a, int bucket)
{
    uint64_t *sums = ud;
    sums[bucket] ^= a->sum;
    return FDS_OK;
}

int fds__sums_compute(fds_replica *r, uint64_t sums[FDSP_SUM_BUCKETS])
{
    memset(sums, 0, FDSP_SUM_BUCKETS * sizeof *sums);
    return scan(r, add_to_bucket, sums);
}

int fds_replica_sums(fds_replica *r, uint64_t sums[FDSP_SUM_BUCKETS])
{
    /* One read transaction: a consistent snapshot of the file. */
    int rc = fds__begin(r);
    if (rc != FDS_OK)
        return rc;
    rc = fds__sums_compute(r, sums);
    return fds__end(r, rc);
}

/* ---- Repair ------------------------------------------------------------------ */

typedef struct doomed {
    const unsigned char *in;    /* in[b]: bucket b is repaired */
    char (*rec)[2][FDSP_MAX_ID + 1];
    size_t n, cap;
    int oom;
} doomed;

static int collect(void *ud, const rec_acc *a, int bucket)
{
    doomed *d = ud;
    if (!d->in[bucket])
        return FDS_OK;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 64;
        void *p = realloc(d->rec, cap * sizeof *d->rec);
        if (p == NULL) {
            d->oom = 1;
            return FDS_NOMEM;
        }
        d->rec = p;
        d->cap = cap;
    }
    snprintf(d->rec[d->n][0], sizeof d->rec[d->n][0], "%s", a->tbl);
    snprintf(d->rec[d->n][1], sizeof d->rec[d->n][1], "%s", a->rid);
    d->n++;
    return FDS_OK;
}

int fds__sums_repair(fds_replica *r, const int *buckets, size_t n,
                     int64_t *records)
{
    unsigned char in[FDSP_SUM_BUCKETS] = {0};
    *records = 0;
    for (size_t i = 0; i < n; i++) {
        if (buckets[i] < 0 || buckets[i] >= FDSP_SUM_BUCKETS)
            return fds__error(r, FDS_PROTO, "repair names bucket %d, there "
                              "are %d", buckets[i], FDSP_SUM_BUCKETS);
        in[buckets[i]] = 1;
    }
    if (n == 0)
        return FDS_OK;
    doomed d;
    memset(&d, 0, sizeof d);
    d.in = in;
    int rc = fds__begin(r);
    if (rc != FDS_OK)
        return rc;
    rc = scan(r, collect, &d);
    if (rc == FDS_NOMEM && d.oom)
        rc = fds__error(r, FDS_NOMEM, "out of memory");
    /* Only the registers: the log keeps what this replica made and saw,
    ** the outbox is empty (sums are sent only then) and stays so, and the
    ** cursor stays: the server's resend brings the full state. */
    sqlite3_stmt *del = NULL;
    if (rc == FDS_OK && d.n &&
        sqlite3_prepare_v2(r->db, "DELETE FROM rec WHERE tbl = ?1 AND "
                           "rid = ?2", -1, &del, NULL) != SQLITE_OK)
        rc = fds__dberror(r, "preparing repair");
    for (size_t i = 0; rc == FDS_OK && i < d.n; i++) {
        sqlite3_reset(del);
        sqlite3_bind_text(del, 1, d.rec[i][0], -1, SQLITE_STATIC);
        sqlite3_bind_text(del, 2, d.rec[i][1], -1, SQLITE_STATIC);
        if (sqlite3_step(del) != SQLITE_DONE)
            rc = fds__dberror(r, "dropping registers for repair");
    }
    sqlite3_finalize(del);
    free(d.rec);
    rc = fds__end(r, rc);
    if (rc == FDS_OK)
        *records = (int64_t)d.n;
    return rc;
}

/* ---- Session glue (called from session.c) ------------------------------------- */

int fds__sums_due(const fds__sums_ctl *c, fds_replica *r)
{
    if (!c->enabled || !c->server_knows || c->awaiting || !c->caught_up)
        return 0;
    if (c->sent && (c->interval_ms <= 0 ||
                    fds__now_ms(r) - c->sent_ms < c->interval_ms))
        return 0;
    int64_t outbox = 0;
    if (fds_outbox_count(r, &outbox) != FDS_OK || outbox != 0)
        return 0;       /* only once everything is pushed */
    return 1;
}

int fds__sums_message(fds__sums_ctl *c, fds_replica *r, char **buf,
                      size_t *len)
{
    uint64_t sums[FDSP_SUM_BUCKETS];
    int rc = fds_replica_sums(r, sums);
    if (rc != FDS_OK)
        return rc;
    fdsp_msg m;
    memset(&m, 0, sizeof m);
    m.type = FDSP_SUMS;
    m.sums = sums;
    m.n_sums = FDSP_SUM_BUCKETS;
    int prc = fdsp_encode(&m, buf, len);
    if (prc == FDSP_E_NOMEM)
        return fds__error(r, FDS_NOMEM, "out of memory");
    if (prc != FDSP_OK)
        return fds__error(r, FDS_ERROR, "cannot encode sums: %s",
                          fdsp_errname(prc));
    c->awaiting = 1;
    c->sent = 1;
    c->sent_ms = fds__now_ms(r);
    return FDS_OK;
}

int fds__sums_on_repair(fds__sums_ctl *c, fds_replica *r, const fdsp_msg *m,
                        int *pull)
{
    *pull = 0;
    if (!c->awaiting)
        return fds__error(r, FDS_PROTO, "unexpected repair");
    c->awaiting = 0;
    /* A rep wrote something since the sums went out (sync --watch): the
    ** server's resend was taken before that push, and our own changes
    ** never come back in a pull, so dropping now would hide the new write
    ** on this device.  Leave the buckets for the next check. */
    int64_t outbox = 0;
    int rc = fds_outbox_count(r, &outbox);
    if (rc != FDS_OK)
        return rc;
    if (outbox > 0)
        return FDS_OK;
    int64_t records = 0;
    rc = fds__sums_repair(r, m->buckets, m->n_buckets, &records);
    if (rc != FDS_OK)
        return rc;
    if (m->n_buckets > 0) {
        c->repaired += (int64_t)m->n_buckets;
        c->records += records;
        c->caught_up = 0;       /* the resend comes with the next pulls */
        *pull = 1;
    }
    return FDS_OK;
}
