/*
** logvtab.c — `log`: the change groups of `glog` seen as one row per
** change, with the columns of schema 3's log table (lseq, tbl, rid,
** field, value, vv, hlc, device, user, origin, acked, sseq, at_ms,
** resend), as an eponymous virtual table registered on every handle.
**
** Why: history, as_of, field history, customer times, trust and the
** push machinery read the log per change, and their queries (and the
** rules they implement) stay exactly as they were; only storage changed.
** lseq is the change's address, gseq << FDS__GROUP_SHIFT | index, so
** lseq order is the order the changes were logged.
**
** Plans: a constraint on lseq becomes one on gseq (a point lookup or a
** range), tbl = and rid = use glog_by_rec, origin = 1 AND acked = 0 the
** outbox index and resend = 1 the re-send index.  No constraint is
** marked as handled: SQLite checks each one again per change, so a plan
** may read a few changes too many but never misses one.
**
** Writes: UPDATE sets a change's own parts (field, value, vv, hlc, device,
** sseq, acked, resend) by rewriting its row; tbl, rid, user, origin and
** at_ms are the row's and change for the whole group (the only such
** updates run over whole groups: a user learnt, a record renamed by a
** test).  DELETE removes one change.  INSERT is refused: changes come in
** through fds__write and fds__apply.  The library's hot paths (acks,
** purges) write glog directly.
*/
#include "grouplog.h"

#include <stdlib.h>
#include <string.h>

enum { C_LSEQ, C_TBL, C_RID, C_FIELD, C_VALUE, C_VV, C_HLC, C_DEVICE, C_USER,
       C_ORIGIN, C_ACKED, C_SSEQ, C_AT, C_RESEND, C__N };

/* idxNum bits, in the order their values come in argv */
enum { P_EQ = 1, P_LO = 2, P_HI = 4, P_TBL = 8, P_RID = 16, P_ORIGIN = 32,
       P_ACKED = 64, P_RESEND = 128, P__N = 8,
       P_DESC = 256 };                  /* not a constraint: lseq order down */

typedef struct lvtab {
    sqlite3_vtab base;
    fds_replica *r;
    sqlite3_stmt *cache[512];       /* by where-shape; a cursor borrows */
} lvtab;

typedef struct lcur {
    sqlite3_vtab_cursor base;
    sqlite3_stmt *st;
    int shape;
    fds__grow g;
    size_t i;
    int eof;
    int desc;                       /* changes in lseq order down */
    fds__buf vv;
} lcur;

static int lv_connect(sqlite3 *db, void *aux, int argc,
                      const char *const *argv, sqlite3_vtab **out, char **err)
{
    (void)argc;
    (void)argv;
    (void)err;
    int rc = sqlite3_declare_vtab(db,
        "CREATE TABLE x(lseq INTEGER, tbl TEXT, rid TEXT, field TEXT, "
        "value TEXT, vv TEXT, hlc INTEGER, device TEXT, user TEXT, "
        "origin INTEGER, acked INTEGER, sseq INTEGER, at_ms INTEGER, "
        "resend INTEGER)");
    if (rc != SQLITE_OK)
        return rc;
    lvtab *v = sqlite3_malloc(sizeof *v);
    if (v == NULL)
        return SQLITE_NOMEM;
    memset(v, 0, sizeof *v);
    v->r = aux;
    *out = &v->base;
    return SQLITE_OK;
}

static int lv_disconnect(sqlite3_vtab *vt)
{
    lvtab *v = (lvtab *)vt;
    for (int i = 0; i < 512; i++)
        sqlite3_finalize(v->cache[i]);
    sqlite3_free(v);
    return SQLITE_OK;
}

static int lv_best(sqlite3_vtab *vt, sqlite3_index_info *ix)
{
    (void)vt;
    int which[P__N];
    int bits = 0;
    for (int k = 0; k < P__N; k++)
        which[k] = -1;
    for (int i = 0; i < ix->nConstraint; i++) {
        const struct sqlite3_index_constraint *c = &ix->aConstraint[i];
        if (!c->usable)
            continue;
        int b = 0;
        int eq = c->op == SQLITE_INDEX_CONSTRAINT_EQ;
        switch (c->iColumn) {
        case -1:
        case C_LSEQ:
            b = eq ? P_EQ
              : (c->op == SQLITE_INDEX_CONSTRAINT_GT ||
                 c->op == SQLITE_INDEX_CONSTRAINT_GE) ? P_LO
              : (c->op == SQLITE_INDEX_CONSTRAINT_LT ||
                 c->op == SQLITE_INDEX_CONSTRAINT_LE) ? P_HI : 0;
            break;
        case C_TBL:    b = eq ? P_TBL : 0; break;
        case C_RID:    b = eq ? P_RID : 0; break;
        case C_ORIGIN: b = eq ? P_ORIGIN : 0; break;
        case C_ACKED:  b = eq ? P_ACKED : 0; break;
        case C_RESEND: b = eq ? P_RESEND : 0; break;
        default: break;
        }
        if (b == 0 || (bits & b))
            continue;
        bits |= b;
        for (int k = 0; k < P__N; k++)
            if (b == 1 << k)
                which[k] = i;
    }
    int argi = 1;
    for (int k = 0; k < P__N; k++)
        if (which[k] >= 0)
            ix->aConstraintUsage[which[k]].argvIndex = argi++;
    ix->idxNum = bits;
    double cost = 1e6;
    if (bits & P_EQ)
        cost = 1;
    else if ((bits & P_TBL) && (bits & P_RID))
        cost = 20;
    else if ((bits & P_RESEND) || ((bits & P_ORIGIN) && (bits & P_ACKED)))
        cost = 200;
    else if (bits & P_TBL)
        cost = 2000;
    else if (bits & (P_LO | P_HI))
        cost = 20000;
    ix->estimatedCost = cost;
    /* every plan reads glog in gseq order but tbl = alone (rid order),
    ** up or down: "the last change of a register before this one"
    ** (history's previous value, a record's last time) stops at once */
    if (ix->nOrderBy == 1 &&
        (ix->aOrderBy[0].iColumn == C_LSEQ || ix->aOrderBy[0].iColumn == -1) &&
        !((bits & P_TBL) && !(bits & P_RID))) {
        ix->orderByConsumed = 1;
        if (ix->aOrderBy[0].desc)
            ix->idxNum |= P_DESC;
    }
    return SQLITE_OK;
}

static int lv_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out)
{
    (void)vt;
    lcur *c = sqlite3_malloc(sizeof *c);
    if (c == NULL)
        return SQLITE_NOMEM;
    memset(c, 0, sizeof *c);
    c->eof = 1;
    *out = &c->base;
    return SQLITE_OK;
}

static void release(lcur *c)
{
    lvtab *v = (lvtab *)c->base.pVtab;
    if (c->st != NULL) {
        sqlite3_reset(c->st);
        if (v->cache[c->shape] == NULL)
            v->cache[c->shape] = c->st;
        else
            sqlite3_finalize(c->st);
        c->st = NULL;
    }
    fds__grow_clear(&c->g);
}

static int lv_close(sqlite3_vtab_cursor *cur)
{
    lcur *c = (lcur *)cur;
    release(c);
    free(c->vv.p);
    sqlite3_free(c);
    return SQLITE_OK;
}

/* The replica's error as the virtual table's. */
static int vt_error(sqlite3_vtab *vt, fds_replica *r, int rc)
{
    sqlite3_free(vt->zErrMsg);
    vt->zErrMsg = sqlite3_mprintf("%s", r->errmsg);
    return rc == FDS_NOMEM ? SQLITE_NOMEM : SQLITE_CORRUPT;
}

/* Step to the next row with changes (c->eof at the end). */
static int next_row(lcur *c)
{
    lvtab *v = (lvtab *)c->base.pVtab;
    fds__grow_clear(&c->g);
    c->i = 0;
    for (;;) {
        int step = sqlite3_step(c->st);
        if (step == SQLITE_DONE) {
            c->eof = 1;
            return SQLITE_OK;
        }
        if (step != SQLITE_ROW)
            return step;
        int rc = fds__grow_from_stmt(v->r, c->st, &c->g);
        if (rc != FDS_OK)
            return vt_error(&v->base, v->r, rc);
        if (c->g.n > 0) {
            c->i = c->desc ? c->g.n - 1 : 0;
            return SQLITE_OK;
        }
    }
}

static int lv_filter(sqlite3_vtab_cursor *cur, int idxNum, const char *idxStr,
                     int argc, sqlite3_value **argv)
{
    (void)idxStr;
    lcur *c = (lcur *)cur;
    lvtab *v = (lvtab *)cur->pVtab;
    release(c);
    c->eof = 1;
    int rc = fds__glog_flush(v->r);
    if (rc != FDS_OK)
        return vt_error(&v->base, v->r, rc);
    sqlite3_value *val[P__N] = {0};
    int a = 0;
    for (int k = 0; k < P__N; k++)
        if (idxNum & (1 << k))
            val[k] = a < argc ? argv[a++] : NULL;
    /* What each constraint becomes; a NULL on an equality matches nothing */
    int shape = 0;
    int64_t key[3] = {0, 0, 0};
    for (int k = 0; k < 3; k++) {
        if (val[k] == NULL)
            continue;
        int t = sqlite3_value_type(val[k]);
        if (t == SQLITE_NULL)
            return SQLITE_OK;           /* lseq = / > / < NULL: nothing */
        if (t != SQLITE_INTEGER)
            continue;                   /* SQLite compares it itself */
        int64_t x = sqlite3_value_int64(val[k]);
        key[k] = x < 0 ? (k == 2 ? -1 : 0) : x >> FDS__GROUP_SHIFT;
        shape |= 1 << k;
    }
    if (val[3] && sqlite3_value_type(val[3]) == SQLITE_NULL)
        return SQLITE_OK;
    if (val[4] && sqlite3_value_type(val[4]) == SQLITE_NULL)
        return SQLITE_OK;
    if (val[3])
        shape |= P_TBL;
    if (val[4])
        shape |= P_RID;
    if (val[5] && val[6] && sqlite3_value_type(val[5]) == SQLITE_INTEGER &&
        sqlite3_value_type(val[6]) == SQLITE_INTEGER &&
        sqlite3_value_int64(val[5]) == 1 && sqlite3_value_int64(val[6]) == 0)
        shape |= P_ACKED;               /* the outbox index */
    else if (val[5] && sqlite3_value_type(val[5]) == SQLITE_INTEGER)
        shape |= P_ORIGIN;
    if (val[7] && sqlite3_value_type(val[7]) == SQLITE_INTEGER &&
        sqlite3_value_int64(val[7]) == 1)
        shape |= P_RESEND;
    c->desc = (idxNum & P_DESC) != 0;
    if (c->desc)
        shape |= P_DESC;
    c->shape = shape;
    c->st = v->cache[shape];
    v->cache[shape] = NULL;
    if (c->st == NULL) {
        char sql[512];
        size_t n = (size_t)snprintf(sql, sizeof sql,
            "SELECT gseq, tbl, rid, device, user, origin, at_ms, n, body, "
            "flags FROM glog WHERE 1");
        static const char *const term[P__N] = {
            " AND gseq = ?1", " AND gseq >= ?2", " AND gseq <= ?3",
            " AND tbl = ?4", " AND rid = ?5", " AND origin = ?6",
            " AND outbox = 1", " AND resend = 1"};
        for (int k = 0; k < P__N; k++)
            if (shape & (1 << k)) {
                size_t tl = strlen(term[k]);
                memcpy(sql + n, term[k], tl + 1);
                n += tl;
            }
        if (shape & P_DESC)
            memcpy(sql + n, " ORDER BY gseq DESC",
                   sizeof " ORDER BY gseq DESC");
        else
            memcpy(sql + n, " ORDER BY gseq", sizeof " ORDER BY gseq");
        if (sqlite3_prepare_v3(v->r->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
                               &c->st, NULL) != SQLITE_OK) {
            c->st = NULL;
            return vt_error(&v->base, v->r,
                            fds__dberror(v->r, "reading the log"));
        }
    }
    for (int k = 0; k < 3; k++)
        if (shape & (1 << k))
            sqlite3_bind_int64(c->st, k + 1, key[k]);
    if (shape & P_TBL)
        sqlite3_bind_value(c->st, 4, val[3]);
    if (shape & P_RID)
        sqlite3_bind_value(c->st, 5, val[4]);
    if (shape & P_ORIGIN)
        sqlite3_bind_value(c->st, 6, val[5]);
    c->eof = 0;
    return next_row(c);
}

static int lv_next(sqlite3_vtab_cursor *cur)
{
    lcur *c = (lcur *)cur;
    if (c->desc ? c->i-- > 0 : ++c->i < c->g.n)
        return SQLITE_OK;
    return next_row(c);
}

static int lv_eof(sqlite3_vtab_cursor *cur)
{
    return ((lcur *)cur)->eof;
}

static int64_t lseq_of(const lcur *c)
{
    return c->g.gseq << FDS__GROUP_SHIFT | (int64_t)c->i;
}

static int lv_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
    lcur *c = (lcur *)cur;
    if (sqlite3_vtab_nochange(ctx))
        return SQLITE_OK;               /* an UPDATE that keeps it */
    const fdsp_change *x = &c->g.c[c->i];
    unsigned char f = c->g.flags[c->i];
    switch (col) {
    case C_LSEQ:   sqlite3_result_int64(ctx, lseq_of(c)); break;
    case C_TBL:    sqlite3_result_text(ctx, c->g.tbl, -1, SQLITE_TRANSIENT); break;
    case C_RID:    sqlite3_result_text(ctx, c->g.rid, -1, SQLITE_TRANSIENT); break;
    case C_FIELD:  sqlite3_result_text(ctx, x->field, -1, SQLITE_TRANSIENT); break;
    case C_VALUE:
        if (x->value)
            sqlite3_result_text(ctx, x->value, -1, SQLITE_TRANSIENT);
        else
            sqlite3_result_null(ctx);
        break;
    case C_VV: {
        fds__buf *b = &c->vv;
        b->n = 0;
        b->oom = 0;
        if (fds__buf_vv(b, &x->vv) && !b->oom && b->p) {
            sqlite3_result_text(ctx, b->p, (int)b->n, SQLITE_TRANSIENT);
        } else {
            char *t = fds__vv_dump_tree(&x->vv);
            if (t == NULL)
                return SQLITE_NOMEM;
            sqlite3_result_text(ctx, t, -1, SQLITE_TRANSIENT);
            free(t);
        }
        break;
    }
    case C_HLC:    sqlite3_result_int64(ctx, (int64_t)x->hlc); break;
    case C_DEVICE: sqlite3_result_text(ctx, x->device, -1, SQLITE_TRANSIENT); break;
    case C_USER:   sqlite3_result_text(ctx, c->g.user, -1, SQLITE_TRANSIENT); break;
    case C_ORIGIN: sqlite3_result_int(ctx, c->g.origin); break;
    case C_ACKED:  sqlite3_result_int(ctx, f & FDS__GF_ACKED); break;
    case C_SSEQ:   sqlite3_result_int64(ctx, x->seq); break;
    case C_AT:     sqlite3_result_int64(ctx, c->g.at_ms); break;
    case C_RESEND: sqlite3_result_int(ctx, (f & FDS__GF_RESEND) != 0); break;
    default:       sqlite3_result_null(ctx); break;
    }
    return SQLITE_OK;
}

static int lv_rowid(sqlite3_vtab_cursor *cur, sqlite_int64 *out)
{
    *out = lseq_of((lcur *)cur);
    return SQLITE_OK;
}

/* A text column's new value into *dst (malloc'd); 0 out of memory. */
static int set_text(char **dst, sqlite3_value *v, int nullable)
{
    if (sqlite3_value_type(v) == SQLITE_NULL && nullable) {
        free(*dst);
        *dst = NULL;
        return 1;
    }
    const unsigned char *t = sqlite3_value_text(v);
    char *s = strdup(t ? (const char *)t : "");
    if (s == NULL)
        return 0;
    free(*dst);
    *dst = s;
    return 1;
}

static int lv_update(sqlite3_vtab *vt, int argc, sqlite3_value **argv,
                     sqlite_int64 *rowid)
{
    (void)rowid;
    lvtab *v = (lvtab *)vt;
    fds_replica *r = v->r;
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
        sqlite3_free(vt->zErrMsg);
        vt->zErrMsg = sqlite3_mprintf("the log takes changes only from "
                                      "fds__write and fds__apply");
        return SQLITE_ERROR;
    }
    int64_t lseq = sqlite3_value_int64(argv[0]);
    int64_t gseq = lseq >> FDS__GROUP_SHIFT;
    size_t k = (size_t)(lseq & (FDS__GROUP_MAX - 1));
    int body = 0;
    for (int col = C_TBL; argc > 1 && col < C__N; col++)
        if (col != C_ACKED && col != C_RESEND &&
            !sqlite3_value_nochange(argv[2 + col]))
            body = 1;
    if (argc > 1 && !body) {
        /* flags only: no body to decode */
        int rc = FDS_OK;
        if (!sqlite3_value_nochange(argv[2 + C_ACKED]))
            rc = fds__glog_mark(r, &lseq, 1, FDS__GF_ACKED,
                                sqlite3_value_int(argv[2 + C_ACKED]), -1);
        if (rc == FDS_OK && !sqlite3_value_nochange(argv[2 + C_RESEND]))
            rc = fds__glog_mark(r, &lseq, 1, FDS__GF_RESEND,
                                sqlite3_value_int(argv[2 + C_RESEND])
                                    ? FDS__GF_RESEND : 0, -1);
        return rc == FDS_OK ? SQLITE_OK : vt_error(vt, r, rc);
    }
    fds__grow g;
    int rc = fds__grow_load(r, gseq, &g);
    if (rc == FDS_NOTFOUND)
        return SQLITE_OK;
    if (rc != FDS_OK)
        return vt_error(vt, r, rc);
    if (k >= g.n) {
        fds__grow_clear(&g);
        return SQLITE_OK;
    }
    int ok = 1;
    if (argc == 1) {
        fdsp_change_clear(&g.c[k]);
        memmove(&g.c[k], &g.c[k + 1], (g.n - k - 1) * sizeof g.c[0]);
        memmove(&g.flags[k], &g.flags[k + 1], g.n - k - 1);
        g.n--;
    } else {
        fdsp_change *x = &g.c[k];
        sqlite3_value **nv = argv + 2;
#define CHANGED(col) (!sqlite3_value_nochange(nv[col]))
        if (CHANGED(C_TBL)) ok &= set_text(&g.tbl, nv[C_TBL], 0);
        if (CHANGED(C_RID)) ok &= set_text(&g.rid, nv[C_RID], 0);
        if (CHANGED(C_USER)) ok &= set_text(&g.user, nv[C_USER], 0);
        if (CHANGED(C_FIELD)) ok &= set_text(&x->field, nv[C_FIELD], 0);
        if (CHANGED(C_VALUE)) ok &= set_text(&x->value, nv[C_VALUE], 1);
        if (CHANGED(C_DEVICE)) ok &= set_text(&x->device, nv[C_DEVICE], 0);
        if (CHANGED(C_ORIGIN)) g.origin = sqlite3_value_int(nv[C_ORIGIN]);
        if (CHANGED(C_AT)) g.at_ms = sqlite3_value_int64(nv[C_AT]);
        if (CHANGED(C_HLC)) x->hlc = (uint64_t)sqlite3_value_int64(nv[C_HLC]);
        if (CHANGED(C_SSEQ)) x->seq = sqlite3_value_int64(nv[C_SSEQ]);
        if (CHANGED(C_ACKED))
            g.flags[k] = (unsigned char)((g.flags[k] & ~FDS__GF_ACKED) |
                (sqlite3_value_int(nv[C_ACKED]) & FDS__GF_ACKED));
        if (CHANGED(C_RESEND))
            g.flags[k] = (unsigned char)((g.flags[k] & ~FDS__GF_RESEND) |
                (sqlite3_value_int(nv[C_RESEND]) ? FDS__GF_RESEND : 0));
        if (ok && CHANGED(C_VV)) {
            fdsp_vv nvv;
            int prc = fds_vv_parse((const char *)sqlite3_value_text(nv[C_VV]),
                                   &nvv);
            if (prc == FDS_OK) {
                fdsp_vv_clear(&x->vv);
                x->vv = nvv;
            } else if (prc == FDS_NOMEM) {
                ok = 0;
            } else {
                fds__grow_clear(&g);
                sqlite3_free(vt->zErrMsg);
                vt->zErrMsg = sqlite3_mprintf("not a version vector");
                return SQLITE_CONSTRAINT;
            }
        }
#undef CHANGED
    }
    if (!ok) {
        fds__grow_clear(&g);
        return SQLITE_NOMEM;
    }
    rc = fds__grow_store(r, &g);
    fds__grow_clear(&g);
    return rc == FDS_OK ? SQLITE_OK : vt_error(vt, r, rc);
}

static const sqlite3_module log_module = {
    .iVersion = 0,
    .xCreate = NULL,                    /* eponymous only */
    .xConnect = lv_connect,
    .xBestIndex = lv_best,
    .xDisconnect = lv_disconnect,
    .xDestroy = lv_disconnect,
    .xOpen = lv_open,
    .xClose = lv_close,
    .xFilter = lv_filter,
    .xNext = lv_next,
    .xEof = lv_eof,
    .xColumn = lv_column,
    .xRowid = lv_rowid,
    .xUpdate = lv_update,
};

int fds__logvtab_register(fds_replica *r)
{
    if (sqlite3_create_module_v2(r->db, "log", &log_module, r, NULL)
            != SQLITE_OK)
        return fds__dberror(r, "registering the log table");
    return FDS_OK;
}
