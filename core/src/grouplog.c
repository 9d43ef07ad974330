/*
** grouplog.c — the change log as one row per change group (grouplog.h):
** the pending group of the action being written, per-change flags (acks,
** refusals, the re-send queue), row access for logvtab.c, and the
** migration of a schema-3 per-change log.
**
** Why a pending group on the handle: a local action (fds__write of one
** record) writes its fields one by one, each bumping the counter and
** saving its register; the log row is the same for all of them but the
** body.  So each change is collected here, and the row is written once,
** when the savepoint the action runs in ends (fds__end) or before a
** nested one begins (fds__begin): a group never spans a savepoint, so a
** rollback drops exactly the changes it undid.  A pulled batch collects
** the changes of one record from one device and user the same way and
** writes them when the record, device or user changes, or the batch's
** transaction ends.  Nothing reads the log between a change and the end
** of its action except through the `log` virtual table, which writes the
** pending group first.
**
** Why flags per change rather than pushing whole groups only: the push
** machinery (session.c) pushes, acks, refuses, stamps and re-sends single
** changes by address, halving a batch until its frame fits; a group may
** straddle two batches.  One flags byte per change keeps all of that as
** it was, at n bytes a row (NULL while all are zero), and the outbox
** index stays a partial index on one summary column.
*/
#include "grouplog.h"

#include <stdlib.h>
#include <string.h>

struct fds__glog {
    sqlite3_stmt *ins, *load, *store, *fget, *fset, *del;
    /* the pending group */
    int has;
    char *tbl, *rid, *device, *user;
    int origin;
    int64_t at_ms;
    int unchecked;      /* a value came from elsewhere than a checked write */
    size_t n;
    fdsp_change c[FDS__GROUP_MAX];  /* strings and vectors: see pend_* */
    unsigned char flags[FDS__GROUP_MAX];
    fds__buf enc;
    /* The pending changes' strings and vector entries live in two arenas
    ** reused from group to group (a pulled page used to strdup five
    ** strings and a vector per change and free them again at the flush).
    ** The arenas may move as they grow, so a change records offsets
    ** (NOSTR: none, GDEV: the group's device) and pend_fix points c[]
    ** into the arenas just before the group is encoded. */
    fds__buf sb;
    fdsp_vv_entry *ve;
    size_t *vdev;                   /* ve[i].device as an sb offset */
    size_t ven, vecap;
    struct pend_off {
        size_t field, value, device, vv;
    } off[FDS__GROUP_MAX];
};

#define NOSTR ((size_t)-1)
#define GDEV ((size_t)-2)

int fds__glog_open(fds_replica *r)
{
    if (r->glog != NULL)
        return FDS_OK;
    r->glog = calloc(1, sizeof *r->glog);
    return r->glog ? FDS_OK : fds__error(r, FDS_NOMEM, "out of memory");
}

void fds__glog_discard(fds_replica *r)
{
    fds__glog *g = r->glog;
    if (g == NULL || !g->has)
        return;
    g->sb.n = 0;                    /* the arenas are kept for the next */
    g->sb.oom = 0;
    g->ven = 0;
    free(g->tbl);
    free(g->rid);
    free(g->device);
    free(g->user);
    g->tbl = g->rid = g->device = g->user = NULL;
    g->n = 0;
    g->has = 0;
}

void fds__glog_close(fds_replica *r)
{
    fds__glog *g = r->glog;
    if (g == NULL)
        return;
    fds__glog_discard(r);
    sqlite3_finalize(g->ins);
    sqlite3_finalize(g->load);
    sqlite3_finalize(g->store);
    sqlite3_finalize(g->fget);
    sqlite3_finalize(g->fset);
    sqlite3_finalize(g->del);
    free(g->enc.p);
    free(g->sb.p);
    free(g->ve);
    free(g->vdev);
    free(g);
    r->glog = NULL;
}

/* The statement *st (prepared on first use), reset. */
static sqlite3_stmt *stmt(fds_replica *r, sqlite3_stmt **st, const char *sql)
{
    if (*st == NULL &&
        sqlite3_prepare_v3(r->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st,
                           NULL) != SQLITE_OK) {
        *st = NULL;
        fds__dberror(r, "preparing log statement");
        return NULL;
    }
    sqlite3_reset(*st);
    sqlite3_clear_bindings(*st);
    return *st;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    sqlite3_bind_text(st, i, s ? s : "", -1, SQLITE_STATIC);
}

/* outbox and resend summaries of n flags bytes; 1 if all are zero. */
static int summarize(const unsigned char *f, size_t n, int origin,
                     int *outbox, int *resend)
{
    int zero = 1;
    *outbox = *resend = 0;
    for (size_t i = 0; i < n; i++) {
        if (origin == 1 && (f[i] & FDS__GF_ACKED) == 0)
            *outbox = 1;
        if (f[i] & FDS__GF_RESEND)
            *resend = 1;
        if (f[i])
            zero = 0;
    }
    return zero;
}

static int same(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

static char *dup0(const char *s)
{
    return strdup(s ? s : "");
}

/* s copied into the string arena, as an offset (NOSTR for NULL). */
static size_t pend_str(fds__glog *g, const char *s)
{
    if (s == NULL)
        return NOSTR;
    size_t at = g->sb.n;
    fds__buf_put(&g->sb, s, strlen(s) + 1);
    return at;
}

static char *pend_at(fds__glog *g, size_t off)
{
    return off == NOSTR ? NULL : off == GDEV ? g->device : g->sb.p + off;
}

/* Point the pending changes into the arenas (they do not move until the
** next pend_add). */
static void pend_fix(fds__glog *g)
{
    for (size_t i = 0; i < g->n; i++) {
        fdsp_change *x = &g->c[i];
        const struct pend_off *o = &g->off[i];
        x->field = pend_at(g, o->field);
        x->value = pend_at(g, o->value);
        x->device = pend_at(g, o->device);
        x->vv.e = g->ve + o->vv;
        for (size_t k = 0; k < x->vv.n; k++)
            g->ve[o->vv + k].device = pend_at(g, g->vdev[o->vv + k]);
    }
}

/* Append c (copied) with its flags byte to the pending group. */
static int pend_add(fds_replica *r, const char *tbl, const char *rid,
                    const fdsp_change *c, int origin, int64_t sseq,
                    int64_t at_ms, unsigned char flags, int checked)
{
    if (r->glog == NULL && fds__glog_open(r) != FDS_OK)
        return fds__errcode(r);
    fds__glog *g = r->glog;
    const char *dev = c->device ? c->device : "";
    const char *user = c->user ? c->user : "";
    int rc;
    if (g->has && (g->n == FDS__GROUP_MAX || g->origin != origin ||
                   g->at_ms != at_ms || !same(g->tbl, tbl) ||
                   !same(g->rid, rid) || !same(g->user, user) ||
                   !same(g->device, dev)) &&
        (rc = fds__glog_flush(r)) != FDS_OK)
        return rc;
    if (!g->has) {
        g->tbl = dup0(tbl);
        g->rid = dup0(rid);
        g->device = dup0(dev);
        g->user = dup0(user);
        g->origin = origin;
        g->at_ms = at_ms;
        g->unchecked = 0;
        g->n = 0;
        g->has = 1;
        if (!g->tbl || !g->rid || !g->device || !g->user) {
            fds__glog_discard(r);
            return fds__error(r, FDS_NOMEM, "out of memory");
        }
    }
    fdsp_change *x = &g->c[g->n];
    struct pend_off *o = &g->off[g->n];
    memset(x, 0, sizeof *x);
    x->hlc = c->hlc;
    x->seq = sseq;
    x->vv.n = c->vv.n;
    o->field = pend_str(g, c->field);
    o->value = pend_str(g, c->value);
    o->device = strcmp(dev, g->device) == 0 ? GDEV : pend_str(g, dev);
    o->vv = g->ven;
    if (g->ven + c->vv.n > g->vecap) {
        size_t cap = (g->ven + c->vv.n) * 2 + 16;
        fdsp_vv_entry *ve = realloc(g->ve, cap * sizeof *ve);
        if (ve != NULL)
            g->ve = ve;
        size_t *vd = ve ? realloc(g->vdev, cap * sizeof *vd) : NULL;
        if (vd != NULL) {
            g->vdev = vd;
            g->vecap = cap;
        }
        if (ve == NULL || vd == NULL)
            g->sb.oom = 1;
    }
    for (size_t k = 0; !g->sb.oom && k < c->vv.n; k++) {
        const char *d = c->vv.e[k].device;
        g->ve[g->ven].counter = c->vv.e[k].counter;
        g->vdev[g->ven] = d && strcmp(d, g->device) == 0 ? GDEV
                                                          : pend_str(g, d);
        g->ven++;
    }
    if (c->field == NULL || g->sb.oom) {
        /* The changes before this one are whole (the arenas only grew):
        ** forget this one alone. */
        g->sb.oom = 0;
        g->ven = o->vv;
        return fds__error(r, FDS_NOMEM, "out of memory");
    }
    g->flags[g->n] = flags;
    g->unchecked |= !checked;
    g->n++;
    return FDS_OK;
}

int fds__glog_add(fds_replica *r, const char *tbl, const char *rid,
                  const char *field, const fdsp_change *c, int origin,
                  int64_t sseq, int64_t at_ms)
{
    fdsp_change x = *c;                 /* shallow: field from the caller */
    x.field = (char *)field;
    /* log_add's callers checked the value (regstore.c check_value) */
    return pend_add(r, tbl, rid, &x, origin, sseq, at_ms, 0, 1);
}

int fds__glog_flush(fds_replica *r)
{
    fds__glog *g = r->glog;
    if (g == NULL || !g->has)
        return FDS_OK;
    if (g->n == 0) {                /* its first change ran out of memory */
        fds__glog_discard(r);
        return FDS_OK;
    }
    fds__buf *b = &g->enc;
    b->n = 0;
    b->oom = 0;
    pend_fix(g);
    int rc = fds__group_encode_checked(g->c, g->n, g->device, b,
                                       !g->unchecked);
    if (rc != FDS_OK)
        return fds__error(r, FDS_INVALID, "a change of %s/%s cannot be "
                          "logged", g->tbl, g->rid);
    if (b->oom || b->p == NULL)
        return fds__error(r, FDS_NOMEM, "out of memory");
    sqlite3_stmt *st = stmt(r, &g->ins,
        "INSERT INTO glog(tbl, rid, device, user, origin, at_ms, n, body, "
        "flags, outbox, resend) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
        "?10, ?11)");
    if (st == NULL)
        return fds__errcode(r);
    int outbox, resend;
    int zero = summarize(g->flags, g->n, g->origin, &outbox, &resend);
    bind_text(st, 1, g->tbl);
    bind_text(st, 2, g->rid);
    bind_text(st, 3, g->device);
    bind_text(st, 4, g->user);
    sqlite3_bind_int(st, 5, g->origin);
    sqlite3_bind_int64(st, 6, g->at_ms);
    sqlite3_bind_int64(st, 7, (int64_t)g->n);
    sqlite3_bind_blob(st, 8, b->p, (int)b->n, SQLITE_STATIC);
    if (zero)
        sqlite3_bind_null(st, 9);
    else
        sqlite3_bind_blob(st, 9, g->flags, (int)g->n, SQLITE_STATIC);
    sqlite3_bind_int(st, 10, outbox);
    sqlite3_bind_int(st, 11, resend);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return fds__dberror(r, "appending to log");
    fds__glog_discard(r);
    return FDS_OK;
}

/* ---- Rows ----------------------------------------------------------------- */

void fds__grow_clear(fds__grow *g)
{
    free(g->tbl);
    free(g->rid);
    free(g->device);
    free(g->user);
    fds__group_free(g->c, g->n);
    free(g->flags);
    memset(g, 0, sizeof *g);
}

static char *col_dup(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? strdup((const char *)t) : NULL;
}

int fds__grow_from_stmt(fds_replica *r, sqlite3_stmt *st, fds__grow *g)
{
    memset(g, 0, sizeof *g);
    g->gseq = sqlite3_column_int64(st, 0);
    g->tbl = col_dup(st, 1);
    g->rid = col_dup(st, 2);
    g->device = col_dup(st, 3);
    g->user = col_dup(st, 4);
    g->origin = sqlite3_column_int(st, 5);
    g->at_ms = sqlite3_column_int64(st, 6);
    int64_t n = sqlite3_column_int64(st, 7);
    const unsigned char *body = sqlite3_column_blob(st, 8);
    size_t blen = (size_t)sqlite3_column_bytes(st, 8);
    if (!g->tbl || !g->rid || !g->device || !g->user ||
        (body == NULL && sqlite3_column_type(st, 8) != SQLITE_NULL)) {
        fds__grow_clear(g);
        return fds__error(r, FDS_NOMEM, "out of memory");
    }
    int rc = fds__group_decode(body, blen, g->device, &g->c, &g->n);
    if (rc == FDS_OK && (int64_t)g->n != n)
        rc = FDS_DB;
    const unsigned char *f = rc == FDS_OK ? sqlite3_column_blob(st, 9) : NULL;
    if (rc == FDS_OK && sqlite3_column_type(st, 9) != SQLITE_NULL &&
        (f == NULL || (size_t)sqlite3_column_bytes(st, 9) != g->n))
        rc = f == NULL && sqlite3_column_bytes(st, 9) > 0 ? FDS_NOMEM : FDS_DB;
    if (rc == FDS_OK && (g->flags = calloc(g->n, 1)) == NULL)
        rc = FDS_NOMEM;
    if (rc == FDS_OK && f != NULL)
        memcpy(g->flags, f, g->n);
    for (size_t i = 0; rc == FDS_OK && i < g->n; i++)
        if ((g->flags[i] & ~(FDS__GF_ACKED | FDS__GF_RESEND)) ||
            (g->flags[i] & FDS__GF_ACKED) == 3)
            rc = FDS_DB;
    if (rc != FDS_OK) {
        int64_t gseq = g->gseq;
        fds__grow_clear(g);
        return rc == FDS_NOMEM ? fds__error(r, rc, "out of memory")
            : fds__error(r, FDS_DB, "log row %lld is corrupt",
                         (long long)gseq);
    }
    return FDS_OK;
}

int fds__grow_load(fds_replica *r, int64_t gseq, fds__grow *g)
{
    memset(g, 0, sizeof *g);
    int rc = fds__glog_flush(r);
    if (rc != FDS_OK)
        return rc;
    sqlite3_stmt *st = stmt(r, &r->glog->load,
        "SELECT gseq, tbl, rid, device, user, origin, at_ms, n, body, flags "
        "FROM glog WHERE gseq = ?1");
    if (st == NULL)
        return fds__errcode(r);
    sqlite3_bind_int64(st, 1, gseq);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        rc = fds__grow_from_stmt(r, st, g);
    else if (step == SQLITE_DONE)
        rc = FDS_NOTFOUND;
    else
        rc = fds__dberror(r, "reading log");
    sqlite3_reset(st);
    return rc;
}

int fds__grow_store(fds_replica *r, const fds__grow *g)
{
    fds__glog *gl = r->glog;
    sqlite3_stmt *st;
    int rc;
    if (g->n == 0) {
        if ((st = stmt(r, &gl->del, "DELETE FROM glog WHERE gseq = ?1"))
                == NULL)
            return fds__errcode(r);
        sqlite3_bind_int64(st, 1, g->gseq);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        return rc == SQLITE_DONE ? FDS_OK : fds__dberror(r, "writing log");
    }
    /* the row's device: the first change's, so its changes name none */
    const char *gdev = g->c[0].device;
    fds__buf *b = &gl->enc;
    b->n = 0;
    b->oom = 0;
    if (fds__group_encode(g->c, g->n, gdev, b) != FDS_OK)
        return fds__error(r, FDS_INVALID, "a change of %s/%s cannot be "
                          "logged", g->tbl, g->rid);
    if (b->oom || b->p == NULL)
        return fds__error(r, FDS_NOMEM, "out of memory");
    st = stmt(r, &gl->store,
        "UPDATE glog SET tbl = ?2, rid = ?3, device = ?4, user = ?5, "
        "origin = ?6, at_ms = ?7, n = ?8, body = ?9, flags = ?10, "
        "outbox = ?11, resend = ?12 WHERE gseq = ?1");
    if (st == NULL)
        return fds__errcode(r);
    int outbox, resend;
    int zero = summarize(g->flags, g->n, g->origin, &outbox, &resend);
    sqlite3_bind_int64(st, 1, g->gseq);
    bind_text(st, 2, g->tbl);
    bind_text(st, 3, g->rid);
    bind_text(st, 4, gdev);
    bind_text(st, 5, g->user);
    sqlite3_bind_int(st, 6, g->origin);
    sqlite3_bind_int64(st, 7, g->at_ms);
    sqlite3_bind_int64(st, 8, (int64_t)g->n);
    sqlite3_bind_blob(st, 9, b->p, (int)b->n, SQLITE_STATIC);
    if (zero)
        sqlite3_bind_null(st, 10);
    else
        sqlite3_bind_blob(st, 10, g->flags, (int)g->n, SQLITE_STATIC);
    sqlite3_bind_int(st, 11, outbox);
    sqlite3_bind_int(st, 12, resend);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? FDS_OK : fds__dberror(r, "writing log");
}

/* ---- Flags ---------------------------------------------------------------- */

/* One row's flags while marking: read once, written once if changed. */
typedef struct fmark {
    int64_t gseq;                   /* -1: none loaded */
    int origin, changed;
    size_t n;
    unsigned char f[FDS__GROUP_MAX];
} fmark;

static int fmark_write(fds_replica *r, fmark *m)
{
    if (m->gseq < 0 || !m->changed)
        return FDS_OK;
    sqlite3_stmt *st = stmt(r, &r->glog->fset,
        "UPDATE glog SET flags = ?2, outbox = ?3, resend = ?4 "
        "WHERE gseq = ?1");
    if (st == NULL)
        return fds__errcode(r);
    int outbox, resend;
    int zero = summarize(m->f, m->n, m->origin, &outbox, &resend);
    sqlite3_bind_int64(st, 1, m->gseq);
    if (zero)
        sqlite3_bind_null(st, 2);
    else
        sqlite3_bind_blob(st, 2, m->f, (int)m->n, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, outbox);
    sqlite3_bind_int(st, 4, resend);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    m->changed = 0;
    return rc == SQLITE_DONE ? FDS_OK : fds__dberror(r, "marking log");
}

/* Load row gseq's flags into m (m->n 0 when there is no such row). */
static int fmark_load(fds_replica *r, fmark *m, int64_t gseq)
{
    m->gseq = gseq;
    m->n = 0;
    m->changed = 0;
    sqlite3_stmt *st = stmt(r, &r->glog->fget,
        "SELECT n, origin, flags FROM glog WHERE gseq = ?1");
    if (st == NULL)
        return fds__errcode(r);
    sqlite3_bind_int64(st, 1, gseq);
    int step = sqlite3_step(st), rc = FDS_OK;
    if (step == SQLITE_ROW) {
        int64_t n = sqlite3_column_int64(st, 0);
        const void *f = sqlite3_column_blob(st, 2);
        int fn = sqlite3_column_bytes(st, 2);
        m->origin = sqlite3_column_int(st, 1);
        if (n < 1 || n > FDS__GROUP_MAX ||
            (sqlite3_column_type(st, 2) != SQLITE_NULL && fn != n))
            rc = fds__error(r, FDS_DB, "log row %lld is corrupt",
                            (long long)gseq);
        else if (f == NULL && fn > 0)
            rc = fds__error(r, FDS_NOMEM, "out of memory");
        else {
            m->n = (size_t)n;
            if (f)
                memcpy(m->f, f, m->n);
            else
                memset(m->f, 0, m->n);
        }
    } else if (step != SQLITE_DONE) {
        rc = fds__dberror(r, "reading log");
    }
    sqlite3_reset(st);
    return rc;
}

int fds__glog_mark(fds_replica *r, const int64_t *lseq, size_t n, int mask,
                   int val, int only_if)
{
    int rc = fds__glog_flush(r);
    if (rc != FDS_OK)
        return rc;
    fmark *m = malloc(sizeof *m);
    if (m == NULL)
        return fds__error(r, FDS_NOMEM, "out of memory");
    m->gseq = -1;
    m->changed = 0;
    for (size_t i = 0; rc == FDS_OK && i < n; i++) {
        if (lseq[i] < 0)
            continue;
        int64_t gseq = lseq[i] >> FDS__GROUP_SHIFT;
        size_t k = (size_t)(lseq[i] & (FDS__GROUP_MAX - 1));
        if (gseq != m->gseq) {
            if ((rc = fmark_write(r, m)) != FDS_OK ||
                (rc = fmark_load(r, m, gseq)) != FDS_OK)
                break;
        }
        if (k >= m->n)
            continue;
        if (only_if >= 0 && (m->f[k] & mask) != only_if)
            continue;
        unsigned char nf = (unsigned char)((m->f[k] & ~mask) | (val & mask));
        if (nf != m->f[k]) {
            m->f[k] = nf;
            m->changed = 1;
        }
    }
    if (rc == FDS_OK)
        rc = fmark_write(r, m);
    free(m);
    return rc;
}

int fds__glog_mark_range(fds_replica *r, int64_t lo, int64_t hi, int mask,
                         int val)
{
    int rc = FDS_OK;
    int64_t buf[64];
    size_t k = 0;
    for (int64_t x = lo; rc == FDS_OK && x <= hi; x++) {
        buf[k++] = x;
        if (k == 64 || x == hi) {
            rc = fds__glog_mark(r, buf, k, mask, val, -1);
            k = 0;
        }
        if (x == INT64_MAX)
            break;
    }
    return rc;
}

int fds__glog_queue_resend(fds_replica *r, int64_t *queued)
{
    *queued = 0;
    int rc = fds__glog_flush(r);
    if (rc != FDS_OK)
        return rc;
    /* Read every row's flags first, then write the ones that change: no
    ** write while the scan is open. */
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(r->db, "SELECT gseq, n, origin, flags FROM glog "
                           "ORDER BY gseq", -1, &st, NULL) != SQLITE_OK)
        return fds__dberror(r, "reading log");
    fmark *rows = NULL;
    size_t n = 0, cap = 0;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            size_t nc = cap ? 2 * cap : 64;
            fmark *more = realloc(rows, nc * sizeof *rows);
            if (more == NULL) {
                rc = fds__error(r, FDS_NOMEM, "out of memory");
                break;
            }
            rows = more;
            cap = nc;
        }
        fmark *m = &rows[n];
        int64_t cnt = sqlite3_column_int64(st, 1);
        const void *f = sqlite3_column_blob(st, 3);
        int fn = sqlite3_column_bytes(st, 3);
        m->gseq = sqlite3_column_int64(st, 0);
        m->origin = sqlite3_column_int(st, 2);
        m->changed = 0;
        if (cnt < 1 || cnt > FDS__GROUP_MAX ||
            (sqlite3_column_type(st, 3) != SQLITE_NULL && fn != cnt)) {
            rc = fds__error(r, FDS_DB, "log row %lld is corrupt",
                            (long long)m->gseq);
            break;
        }
        if (f == NULL && fn > 0) {
            rc = fds__error(r, FDS_NOMEM, "out of memory");
            break;
        }
        m->n = (size_t)cnt;
        if (f)
            memcpy(m->f, f, m->n);
        else
            memset(m->f, 0, m->n);
        /* what took effect here and is not in the outbox: received
        ** changes and own acknowledged ones (refused ones never did) */
        for (size_t k = 0; k < m->n; k++) {
            int acked = m->f[k] & FDS__GF_ACKED;
            if ((m->origin == 0 || acked == 1) &&
                !(m->f[k] & FDS__GF_RESEND)) {
                m->f[k] |= FDS__GF_RESEND;
                m->changed = 1;
            }
            if (m->origin == 0 || acked == 1)
                (*queued)++;
        }
        n += m->changed;
    }
    if (rc == FDS_OK && step != SQLITE_DONE && step != SQLITE_ROW)
        rc = fds__dberror(r, "reading log");
    sqlite3_finalize(st);
    for (size_t i = 0; rc == FDS_OK && i < n; i++)
        rc = fmark_write(r, &rows[i]);
    free(rows);
    return rc;
}

/* ---- Migration from schema 3 ------------------------------------------- */

int fds__glog_migrate(fds_replica *r)
{
    static const char ddl[] =
        "CREATE TABLE glog(gseq INTEGER PRIMARY KEY, tbl TEXT NOT NULL,"
        " rid TEXT NOT NULL, device TEXT NOT NULL,"
        " user TEXT NOT NULL DEFAULT '', origin INTEGER NOT NULL,"
        " at_ms INTEGER NOT NULL, n INTEGER NOT NULL, body BLOB NOT NULL,"
        " flags BLOB, outbox INTEGER NOT NULL DEFAULT 0,"
        " resend INTEGER NOT NULL DEFAULT 0);"
        "CREATE INDEX glog_outbox ON glog(gseq) WHERE outbox = 1;"
        "CREATE INDEX glog_resend ON glog(gseq) WHERE resend = 1;"
        "CREATE INDEX glog_by_rec ON glog(tbl, rid);";
    int rc = fds__glog_open(r);
    if (rc != FDS_OK)
        return rc;
    if (sqlite3_exec(r->db, ddl, NULL, NULL, NULL) != SQLITE_OK)
        return fds__dberror(r, "creating the group log");
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(r->db,
            "SELECT lseq, tbl, rid, field, value, vv, hlc, device, user, "
            "origin, acked, sseq, at_ms, resend FROM log ORDER BY lseq", -1,
            &st, NULL) != SQLITE_OK)
        return fds__dberror(r, "reading the old log");
    int step;
    /* Consecutive rows of one record, device, user, origin and at_ms make
    ** one group (pend_add starts a new one when any differs): the rows of
    ** one action or one applied batch, in their order. */
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        fdsp_change c;
        memset(&c, 0, sizeof c);
        int64_t lseq = sqlite3_column_int64(st, 0);
        const char *tbl = (const char *)sqlite3_column_text(st, 1);
        const char *rid = (const char *)sqlite3_column_text(st, 2);
        c.field = (char *)sqlite3_column_text(st, 3);
        c.value = (char *)sqlite3_column_text(st, 4);
        const char *vv = (const char *)sqlite3_column_text(st, 5);
        c.hlc = (uint64_t)sqlite3_column_int64(st, 6);
        c.device = (char *)sqlite3_column_text(st, 7);
        c.user = (char *)sqlite3_column_text(st, 8);
        int origin = sqlite3_column_int(st, 9);
        int acked = sqlite3_column_int(st, 10);
        int64_t sseq = sqlite3_column_int64(st, 11);
        int64_t at_ms = sqlite3_column_int64(st, 12);
        int resend = sqlite3_column_int(st, 13);
        if (!tbl || !rid || !c.field || !c.device || !c.user || !vv) {
            rc = sqlite3_errcode(r->db) == SQLITE_NOMEM
                 ? fds__error(r, FDS_NOMEM, "out of memory")
                 : fds__error(r, FDS_DB, "log row %lld is corrupt",
                              (long long)lseq);
            break;
        }
        if ((rc = fds_vv_parse(vv, &c.vv)) != FDS_OK) {
            rc = rc == FDS_NOMEM ? fds__error(r, rc, "out of memory")
                 : fds__error(r, FDS_DB, "log row %lld is corrupt",
                              (long long)lseq);
            break;
        }
        unsigned char fl = (unsigned char)((acked & FDS__GF_ACKED) |
                                           (resend ? FDS__GF_RESEND : 0));
        rc = pend_add(r, tbl, rid, &c, origin, sseq, at_ms, fl, 0);
        fdsp_vv_clear(&c.vv);
        if (rc != FDS_OK)
            break;
    }
    if (rc == FDS_OK && step != SQLITE_DONE)
        rc = fds__dberror(r, "reading the old log");
    sqlite3_finalize(st);
    if (rc == FDS_OK)
        rc = fds__glog_flush(r);
    fds__glog_discard(r);
    if (rc == FDS_OK &&
        sqlite3_exec(r->db, "DROP TABLE log", NULL, NULL, NULL) != SQLITE_OK)
        rc = fds__dberror(r, "dropping the old log");
    return rc;
}
