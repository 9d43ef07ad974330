/*
** trust.c — the device side of DESIGN.md rules 12, 13 and 14 (see
** docs/internals/trust.md): the reset of a restored or copied replica, the
** re-send queue after a restored server, and the HLC stamps the server
** hands back.  The session (session.c) decides when; these do the work,
** each in one transaction.
**
** These statements run once per reset, restore or stamp, not per change of
** a normal sync, so they are prepared and finalized here rather than kept
** in the handle's statement slots (which are nearly all taken).
*/
#include "internal.h"
#include "grouplog.h"

#include <stdlib.h>
#include <string.h>

static int prepare(fds_replica *r, const char *sql, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v2(r->db, sql, -1, st, NULL) != SQLITE_OK) {
        *st = NULL;
        return fds__dberror(r, "preparing statement");
    }
    return FDS_OK;
}

static int run(fds_replica *r, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? FDS_OK
                                                 : fds__dberror(r, what);
}

/* Drop device's entry from vv (if any). */
static void vv_remove(fdsp_vv *vv, const char *device)
{
    for (size_t i = 0; i < vv->n; i++) {
        if (strcmp(vv->e[i].device, device) != 0)
            continue;
        free(vv->e[i].device);
        memmove(&vv->e[i], &vv->e[i + 1], (vv->n - i - 1) * sizeof vv->e[0]);
        vv->n--;
        return;
    }
}

/* The highest counter of `device` the server acknowledged to this replica:
** own rows are written in counter order, so it is the vector entry of the
** last acknowledged own row made under that id (0 if none). */
static int last_acked(fds_replica *r, const char *device, uint64_t *out)
{
    *out = 0;
    sqlite3_stmt *st;
    int rc = prepare(r, "SELECT vv FROM log WHERE origin = 1 AND acked = 1 "
                        "AND device = ?1 ORDER BY lseq DESC LIMIT 1", &st);
    if (rc != FDS_OK)
        return rc;
    sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        fdsp_vv vv;
        const char *t = (const char *)sqlite3_column_text(st, 0);
        rc = fds_vv_parse(t, &vv);
        if (rc == FDS_OK) {
            *out = fds__vv_get(&vv, device);
            fdsp_vv_clear(&vv);
        } else {
            rc = fds__error(r, rc == FDS_NOMEM ? FDS_NOMEM : FDS_DB,
                            "the vector of an acknowledged change is corrupt");
        }
    } else if (step != SQLITE_DONE) {
        rc = fds__dberror(r, "reading acknowledged changes");
    }
    sqlite3_finalize(st);
    return rc;
}

/* One outbox row to re-stamp, and the registers to rebuild after. */
typedef struct restamp {
    int64_t lseq;
    char *vv;
} restamp;

typedef struct fieldkey {
    char *tbl, *rid, *field;
} fieldkey;

/* Room for one more element in arr (n used of *cap, elsize bytes each),
** doubling from 64: the array to use from now on, or NULL when out of
** memory (arr is then still valid, and still the caller's to free). */
static void *grow(void *arr, size_t n, size_t *cap, size_t elsize)
{
    if (n < *cap)
        return arr;
    size_t ncap = *cap ? 2 * *cap : 64;
    void *p = realloc(arr, ncap * elsize);
    if (p != NULL)
        *cap = ncap;
    return p;
}

static int load_outbox_rows(fds_replica *r, restamp **rows, size_t *n)
{
    *rows = NULL;
    *n = 0;
    sqlite3_stmt *st;
    int rc = prepare(r, "SELECT lseq, vv FROM log WHERE origin = 1 AND "
                        "acked = 0 ORDER BY lseq", &st);
    if (rc != FDS_OK)
        return rc;
    size_t cap = 0;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        restamp *more = grow(*rows, *n, &cap, sizeof **rows);
        if (more == NULL) {
            rc = fds__error(r, FDS_NOMEM, "out of memory");
            break;
        }
        *rows = more;
        const char *vv = (const char *)sqlite3_column_text(st, 1);
        restamp *x = &(*rows)[*n];
        x->lseq = sqlite3_column_int64(st, 0);
        if ((x->vv = strdup(vv ? vv : "")) == NULL) {
            rc = fds__error(r, FDS_NOMEM, "out of memory");
            break;
        }
        (*n)++;
    }
    if (rc == FDS_OK && step != SQLITE_DONE)
        rc = fds__dberror(r, "reading outbox");
    sqlite3_finalize(st);
    return rc;
}

static int load_outbox_fields(fds_replica *r, fieldkey **keys, size_t *n)
{
    *keys = NULL;
    *n = 0;
    sqlite3_stmt *st;
    int rc = prepare(r, "SELECT DISTINCT tbl, rid, field FROM log WHERE "
                        "origin = 1 AND acked = 0", &st);
    if (rc != FDS_OK)
        return rc;
    size_t cap = 0;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        fieldkey *more = grow(*keys, *n, &cap, sizeof **keys);
        if (more == NULL) {
            rc = fds__error(r, FDS_NOMEM, "out of memory");
            break;
        }
        *keys = more;
        fieldkey *k = &(*keys)[(*n)++];
        k->tbl = strdup((const char *)sqlite3_column_text(st, 0));
        k->rid = strdup((const char *)sqlite3_column_text(st, 1));
        k->field = strdup((const char *)sqlite3_column_text(st, 2));
        if (!k->tbl || !k->rid || !k->field) {
            rc = fds__error(r, FDS_NOMEM, "out of memory");
            break;
        }
    }
    if (rc == FDS_OK && step != SQLITE_DONE)
        rc = fds__dberror(r, "reading outbox");
    sqlite3_finalize(st);
    return rc;
}

/* The body of fds__device_reset, inside its transaction. */
static int reset_in(fds_replica *r, uint64_t server_counter,
                    const char *old, const char *fresh)
{
    uint64_t acked;
    int rc = last_acked(r, old, &acked);
    if (rc != FDS_OK)
        return rc;
    restamp *rows = NULL;
    size_t n = 0;
    rc = load_outbox_rows(r, &rows, &n);
    uint64_t counter = r->counter > server_counter ? r->counter
                                                   : server_counter;
    sqlite3_stmt *up = NULL;
    if (rc == FDS_OK)
        rc = prepare(r, "UPDATE log SET device = ?1, vv = ?2 WHERE lseq = ?3",
                     &up);
    for (size_t i = 0; rc == FDS_OK && i < n; i++) {
        fdsp_vv vv;
        if ((rc = fds_vv_parse(rows[i].vv, &vv)) != FDS_OK) {
            rc = fds__error(r, rc == FDS_NOMEM ? FDS_NOMEM : FDS_DB,
                            "outbox row %lld is corrupt",
                            (long long)rows[i].lseq);
            break;
        }
        /* Old-id knowledge above what the server acknowledged may name
        ** writes that diverged (the other copy's, or ours the server never
        ** stored): keep only the part the server confirmed. */
        if (fds__vv_get(&vv, old) > acked) {
            if (acked == 0)
                vv_remove(&vv, old);
            else
                rc = fds__vv_set(&vv, old, acked);
        }
        if (rc == FDS_OK)
            rc = fds__vv_set(&vv, fresh, ++counter);
        char *text = rc == FDS_OK ? fds_vv_dump(&vv) : NULL;
        fdsp_vv_clear(&vv);
        if (text == NULL) {
            rc = fds__error(r, FDS_NOMEM, "out of memory");
            break;
        }
        sqlite3_reset(up);
        sqlite3_bind_text(up, 1, fresh, -1, SQLITE_STATIC);
        sqlite3_bind_text(up, 2, text, -1, SQLITE_STATIC);
        sqlite3_bind_int64(up, 3, rows[i].lseq);
        rc = run(r, up, "re-stamping a change");
        free(text);
    }
    sqlite3_finalize(up);
    for (size_t i = 0; i < n; i++)
        free(rows[i].vv);
    free(rows);
    if (rc != FDS_OK)
        return rc;

    /* Every register holding one of those versions is the fold of its log
    ** rows again (fds__reg_rebuild): the same bytes the server will hold. */
    fieldkey *keys = NULL;
    size_t nk = 0;
    rc = load_outbox_fields(r, &keys, &nk);
    for (size_t i = 0; rc == FDS_OK && i < nk; i++)
        rc = fds__reg_rebuild(r, keys[i].tbl, keys[i].rid, keys[i].field);
    for (size_t i = 0; i < nk; i++) {
        free(keys[i].tbl);
        free(keys[i].rid);
        free(keys[i].field);
    }
    free(keys);
    if (rc == FDS_OK)
        rc = fds_meta_set(r, "device", fresh);
    if (rc == FDS_OK)
        rc = fds__meta_set_i64(r, "cursor", 0);
    if (rc == FDS_OK) {
        r->counter = counter;
        r->meta_dirty = 1;
    }
    return rc;
}

int fds__device_reset(fds_replica *r, uint64_t server_counter)
{
    char old[FDS__UUID_LEN + 1], fresh[FDS__UUID_LEN + 1];
    memcpy(old, r->device, sizeof old);
    int rc = fds__uuid(r, fresh);
    if (rc != FDS_OK)
        return rc;
    if ((rc = fds__begin(r)) != FDS_OK)
        return rc;
    /* On failure everything rolls back: the old id, vectors and cursor
    ** stay (a cached counter left above the stored one is harmless). */
    rc = fds__end(r, reset_in(r, server_counter, old, fresh));
    if (rc == FDS_OK)
        memcpy(r->device, fresh, sizeof r->device);
    return rc;
}

int fds__server_restored(fds_replica *r, int64_t *queued)
{
    *queued = 0;
    int rc = fds__begin(r);
    if (rc != FDS_OK)
        return rc;
    rc = fds__meta_set_i64(r, "cursor", 0);
    /* Everything that took effect here and is not in the outbox already:
    ** received rows (origin 0) and own acknowledged ones.  Refused rows
    ** (acked = 2) never took effect.  Per change group, not an UPDATE of
    ** the log table per change (grouplog.c). */
    if (rc == FDS_OK)
        rc = fds__glog_queue_resend(r, queued);
    return fds__end(r, rc);
}

int fds__resend_done(fds_replica *r, const int64_t *lseq, size_t n)
{
    return fds__glog_mark(r, lseq, n, FDS__GF_RESEND, 0, -1);
}

int fds__unack(fds_replica *r, int64_t lseq)
{
    sqlite3_stmt *st;
    int rc = prepare(r, "UPDATE log SET acked = 0 WHERE lseq = ?1 AND "
                        "origin = 1", &st);
    if (rc == FDS_OK) {
        sqlite3_bind_int64(st, 1, lseq);
        rc = run(r, st, "keeping a change in the outbox");
    }
    sqlite3_finalize(st);
    return rc;
}

int fds__apply_stamp(fds_replica *r, int64_t lseq, uint64_t hlc)
{
    if (r->tx_depth <= 0)
        return fds__error(r, FDS_ERROR, "no open transaction");
    sqlite3_stmt *st;
    int rc = prepare(r, "SELECT tbl, rid, field, hlc FROM log "
                        "WHERE lseq = ?1", &st);
    if (rc != FDS_OK)
        return rc;
    sqlite3_bind_int64(st, 1, lseq);
    int step = sqlite3_step(st);
    char *tbl = NULL, *rid = NULL, *field = NULL;
    uint64_t had = 0;
    if (step == SQLITE_ROW) {
        tbl = strdup((const char *)sqlite3_column_text(st, 0));
        rid = strdup((const char *)sqlite3_column_text(st, 1));
        field = strdup((const char *)sqlite3_column_text(st, 2));
        had = (uint64_t)sqlite3_column_int64(st, 3);
        if (!tbl || !rid || !field)
            rc = fds__error(r, FDS_NOMEM, "out of memory");
    } else if (step != SQLITE_DONE) {
        rc = fds__dberror(r, "reading a stamped change");
    }
    sqlite3_finalize(st);
    /* A row purged meanwhile, or already holding that stamp: nothing to do. */
    if (rc == FDS_OK && tbl != NULL && had != hlc) {
        rc = prepare(r, "UPDATE log SET hlc = ?1 WHERE lseq = ?2", &st);
        if (rc == FDS_OK) {
            sqlite3_bind_int64(st, 1, (int64_t)hlc);
            sqlite3_bind_int64(st, 2, lseq);
            rc = run(r, st, "stamping a change");
            sqlite3_finalize(st);
        }
        /* The register's version gets the same stamp the server stored:
        ** rebuilt from the log, it is byte for byte the server's. */
        if (rc == FDS_OK)
            rc = fds__reg_rebuild(r, tbl, rid, field);
    }
    free(tbl);
    free(rid);
    free(field);
    return rc;
}
