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
** The scan reads every register row from the file, not from any cache, so
** damage done behind the core's back (another program, a bad restore, a
** disk) is seen.  The `value` column is a copy of the winning version's
** value; a row where the two disagree gets a marker folded into its
** bucket, so the server's checksum differs and the bucket is repaired.
**
** Cost: one pass over reg in primary-key order with one FNV-1a over each
** versions text; see docs/internals/trust.md for the figure measured on a
** 60,000-record replica.
*/
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Folded into a bucket for a register whose value column disagrees with
** its versions: no canonical versions text is ever these bytes. */
static const char MISMATCH[] = "\x01value-differs-from-versions";

/* Step over a JSON string at *pp (no copy): 1 and *pp past it, with
** *esc 1 if it holds a backslash escape; 0 if *pp is no string. */
static int skip_str(const char **pp, int *esc)
{
    const char *p = *pp;
    if (*p++ != '"')
        return 0;
    *esc = 0;
    for (; *p != '"'; p++) {
        if (*p == '\0')
            return 0;
        if (*p == '\\') {
            *esc = 1;
            if (*++p == '\0')
                return 0;
        }
    }
    *pp = p + 1;
    return 1;
}

/* 1 if the first version's value in a canonical versions text is `value`
** (NULL: null), 0 if it differs, -1 if the text is not in the canonical
** shape (then the caller parses it in full).  Allocates only for a value
** with escapes: this runs once per register of the replica. */
static int winner_is(const char *text, const char *value)
{
    const char *p = text;
    int64_t h;
    int esc;
    if (strncmp(p, "[{\"d\":", 6) != 0)
        return -1;
    p += 6;
    if (!skip_str(&p, &esc) || strncmp(p, ",\"h\":", 5) != 0)
        return -1;
    p += 5;
    if (!fds__parse_i64(&p, &h) || strncmp(p, ",\"u\":", 5) != 0)
        return -1;
    p += 5;
    if (!skip_str(&p, &esc) || strncmp(p, ",\"v\":", 5) != 0)
        return -1;
    p += 5;
    if (strncmp(p, "null", 4) == 0)
        return value == NULL;
    const char *q = p;
    if (!skip_str(&q, &esc))
        return -1;
    if (value == NULL)
        return 0;
    if (!esc) {
        size_t n = (size_t)(q - p) - 2;
        return strlen(value) == n && memcmp(p + 1, value, n) == 0;
    }
    char *s = NULL;
    if (fds__parse_str(&p, &s) != 1)
        return -1;
    int same = strcmp(s, value) == 0;
    free(s);
    return same;
}

/* 1 if the register row's value column is its winner's value. */
static int value_consistent(const char *versions, const char *value)
{
    int w = winner_is(versions, value);
    if (w >= 0)
        return w;
    fds_register reg = {0, NULL};
    if (fds_register_parse(versions, &reg) != FDS_OK || reg.n == 0) {
        fds_register_clear(&reg);
        return 0;
    }
    const char *v = reg.v[0].value;
    int same = (v == NULL && value == NULL) ||
               (v != NULL && value != NULL && strcmp(v, value) == 0);
    fds_register_clear(&reg);
    return same;
}

/* One record of the scan: the XOR of its registers' checksums and its key. */
typedef struct rec_acc {
    char tbl[FDSP_MAX_NAME + 1];
    char rid[FDSP_MAX_ID + 1];
    char *customer;         /* its "customer" value, malloc'd, or NULL */
    uint64_t sum;
    int open;
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

/* Walk every register of the replica in (tbl, rid, field) order, calling
** fn once per record. */
static int scan(fds_replica *r, rec_fn fn, void *ud)
{
    sqlite3_stmt *st = NULL;
    /* The primary key order of a WITHOUT ROWID table: no sort. */
    if (sqlite3_prepare_v2(r->db, "SELECT tbl, rid, field, versions, value "
                           "FROM reg ORDER BY tbl, rid, field", -1, &st,
                           NULL) != SQLITE_OK)
        return fds__dberror(r, "scanning registers");
    rec_acc a;
    memset(&a, 0, sizeof a);
    int rc = FDS_OK, step;
    while (rc == FDS_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *tbl = (const char *)sqlite3_column_text(st, 0);
        const char *rid = (const char *)sqlite3_column_text(st, 1);
        const char *field = (const char *)sqlite3_column_text(st, 2);
        const char *versions = (const char *)sqlite3_column_text(st, 3);
        int vlen = sqlite3_column_bytes(st, 3);
        const char *value = (const char *)sqlite3_column_text(st, 4);
        if (!tbl || !rid || !field)
            continue;   /* NOT NULL columns: only a damaged file */
        if (a.open && (strcmp(a.tbl, tbl) != 0 || strcmp(a.rid, rid) != 0)) {
            rc = fn(ud, &a, rec_bucket(&a));
            free(a.customer);
            memset(&a, 0, sizeof a);
            if (rc != FDS_OK)
                break;
        }
        if (!a.open) {
            snprintf(a.tbl, sizeof a.tbl, "%s", tbl);
            snprintf(a.rid, sizeof a.rid, "%s", rid);
            a.open = 1;
        }
        a.sum ^= fdsp_sum_register(tbl, rid, field, versions,
                                   versions ? (size_t)vlen : 0);
        if (!versions || !value_consistent(versions, value))
            a.sum ^= fdsp_sum_register(tbl, rid, field, MISMATCH,
                                       sizeof MISMATCH - 1);
        if (strcmp(field, "customer") == 0 && value) {
            free(a.customer);
            if ((a.customer = strdup(value)) == NULL)
                rc = fds__error(r, FDS_NOMEM, "out of memory");
        }
    }
    if (rc == FDS_OK && step != SQLITE_DONE)
        rc = fds__dberror(r, "scanning registers");
    if (rc == FDS_OK && a.open)
        rc = fn(ud, &a, rec_bucket(&a));
    free(a.customer);
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
        sqlite3_prepare_v2(r->db, "DELETE FROM reg WHERE tbl = ?1 AND "
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
