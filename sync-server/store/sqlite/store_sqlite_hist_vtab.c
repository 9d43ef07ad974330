/*
** store_sqlite_hist_vtab.c — the `history` virtual table
** (store_sqlite_hist.h): the group rows (store_sqlite_hist.c) seen as the
** row-per-change table of schema 2, so SQL that reads history (the
** office's sheet and as_of, tests, an operator's sqlite3 session with the
** module loaded) keeps working unchanged.
**
** Eponymous and read-only.  Works on any connection: it reads hist and
** hist_name with its own statements, caching names per scan (a
** dictionary id is never reused once committed).  Constraints it uses:
** tbl = ? (and rid = ?) through history_rec, seq > / >= ? through the
** rowid (the group's last seq); SQLite re-checks every constraint, so an
** unused one only costs speed.  Rows come in seq order.
*/
#include "store_sqlite_hist.h"
#include "hist_codec.h"
#include "fieldsync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    C_SEQ, C_TBL, C_RID, C_FIELD, C_VALUE, C_VV, C_HLC, C_DEVICE, C_USER,
    C_SERVER_MS, C_DCTR, C_RELAY
};

enum { P_TBL = 1, P_RID = 2, P_SEQ = 4 };

typedef struct hvtab {
    sqlite3_vtab base;
    sqlite3 *db;
} hvtab;

typedef struct hcur {
    sqlite3_vtab_cursor base;
    sqlite3 *db;
    sqlite3_stmt *scan, *name_q;
    char **names;           /* dictionary cache, by id */
    size_t cap;
    fdsp_change *ent;       /* the current group's entries */
    size_t n, i;
    char *device, *relay;   /* the current group's */
    int eof;
} hcur;

static int x_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                     sqlite3_vtab **out, char **err)
{
    (void)aux, (void)argc, (void)argv, (void)err;
    int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(seq INTEGER, tbl TEXT,"
                                  " rid TEXT, field TEXT, value TEXT, vv TEXT,"
                                  " hlc INTEGER, device TEXT, user TEXT,"
                                  " server_ms INTEGER, dctr INTEGER,"
                                  " relay TEXT)");
    if (rc != SQLITE_OK)
        return rc;
    hvtab *v = sqlite3_malloc(sizeof *v);
    if (!v)
        return SQLITE_NOMEM;
    memset(v, 0, sizeof *v);
    v->db = db;
    *out = &v->base;
    return SQLITE_OK;
}

static int x_disconnect(sqlite3_vtab *v)
{
    sqlite3_free(v);
    return SQLITE_OK;
}

static int x_best_index(sqlite3_vtab *v, sqlite3_index_info *ix)
{
    (void)v;
    int tbl = -1, rid = -1, seq = -1;
    for (int i = 0; i < ix->nConstraint; i++) {
        const struct sqlite3_index_constraint *c = &ix->aConstraint[i];
        if (!c->usable)
            continue;
        if (c->op == SQLITE_INDEX_CONSTRAINT_EQ && c->iColumn == C_TBL)
            tbl = i;
        else if (c->op == SQLITE_INDEX_CONSTRAINT_EQ && c->iColumn == C_RID)
            rid = i;
        else if ((c->op == SQLITE_INDEX_CONSTRAINT_GT ||
                  c->op == SQLITE_INDEX_CONSTRAINT_GE) && c->iColumn == C_SEQ)
            seq = i;
    }
    int plan = 0, arg = 1;
    double cost = 1e7;
    if (tbl >= 0) {
        plan |= P_TBL;
        ix->aConstraintUsage[tbl].argvIndex = arg++;
        cost = 1e5;
        if (rid >= 0) {
            plan |= P_RID;
            ix->aConstraintUsage[rid].argvIndex = arg++;
            cost = 20;
        }
    }
    if (seq >= 0) {
        plan |= P_SEQ;
        ix->aConstraintUsage[seq].argvIndex = arg++;
        cost /= 4;
    }
    ix->idxNum = plan;
    ix->estimatedCost = cost;
    if (ix->nOrderBy == 1 && ix->aOrderBy[0].iColumn == C_SEQ &&
        !ix->aOrderBy[0].desc)
        ix->orderByConsumed = 1;
    return SQLITE_OK;
}

static void cur_group_clear(hcur *c)
{
    for (size_t i = 0; i < c->n; i++)
        fdsp_change_clear(&c->ent[i]);
    free(c->ent);
    free(c->device);
    free(c->relay);
    c->ent = NULL;
    c->device = c->relay = NULL;
    c->n = c->i = 0;
}

static void cur_names_clear(hcur *c)
{
    for (size_t i = 0; i < c->cap; i++)
        free(c->names[i]);
    free(c->names);
    c->names = NULL;
    c->cap = 0;
}

static int x_open(sqlite3_vtab *v, sqlite3_vtab_cursor **out)
{
    hcur *c = calloc(1, sizeof *c);
    if (!c)
        return SQLITE_NOMEM;
    c->db = ((hvtab *)v)->db;
    c->eof = 1;
    *out = &c->base;
    return SQLITE_OK;
}

static int x_close(sqlite3_vtab_cursor *cc)
{
    hcur *c = (hcur *)cc;
    cur_group_clear(c);
    cur_names_clear(c);
    sqlite3_finalize(c->scan);
    sqlite3_finalize(c->name_q);
    free(c);
    return SQLITE_OK;
}

static const char *name_of(void *ud, int64_t id)
{
    hcur *c = ud;
    if (id < 1 || (uint64_t)id > SIZE_MAX / 4)
        return NULL;
    if ((size_t)id < c->cap && c->names[id])
        return c->names[id];
    if (!c->name_q &&
        sqlite3_prepare_v2(c->db, "SELECT name FROM hist_name WHERE id=?1", -1,
                           &c->name_q, NULL) != SQLITE_OK)
        return NULL;
    sqlite3_reset(c->name_q);
    sqlite3_bind_int64(c->name_q, 1, id);
    if (sqlite3_step(c->name_q) != SQLITE_ROW ||
        !sqlite3_column_text(c->name_q, 0))
        return NULL;
    if ((size_t)id >= c->cap) {
        size_t cap = c->cap ? c->cap : 64;
        while (cap <= (size_t)id)
            cap *= 2;
        char **nn = realloc(c->names, cap * sizeof *nn);
        if (!nn)
            return NULL;
        memset(nn + c->cap, 0, (cap - c->cap) * sizeof *nn);
        c->names = nn;
        c->cap = cap;
    }
    c->names[id] = strdup((const char *)sqlite3_column_text(c->name_q, 0));
    return c->names[id];
}

static char *dup_col(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? strdup((const char *)t) : NULL;
}

/* Step the scan to the next group and decode it; c->eof at the end. */
static int next_group(hcur *c)
{
    cur_group_clear(c);
    for (;;) {
        int rc = sqlite3_step(c->scan);
        if (rc == SQLITE_DONE) {
            c->eof = 1;
            return SQLITE_OK;
        }
        if (rc != SQLITE_ROW)
            return rc;
        int64_t last = sqlite3_column_int64(c->scan, 0);
        int64_t n = sqlite3_column_int64(c->scan, 1);
        if (n < 1 || n > 100000)
            return SQLITE_CORRUPT;
        c->ent = calloc((size_t)n, sizeof *c->ent);
        if (!c->ent)
            return SQLITE_NOMEM;
        char why[160];
        rc = fsv_hc_decode(sqlite3_column_blob(c->scan, 7),
                           (size_t)sqlite3_column_bytes(c->scan, 7),
                           (size_t)n, 0, name_of, c, c->ent, why, sizeof why);
        const char *dev = name_of(c, sqlite3_column_int64(c->scan, 4));
        if (rc != FSV_HC_OK || !dev) {
            sqlite3_vtab *v = c->base.pVtab;
            sqlite3_free(v->zErrMsg);
            v->zErrMsg = sqlite3_mprintf("history group %lld is damaged: %s",
                                         (long long)last,
                                         rc != FSV_HC_OK ? why
                                                         : "unknown device");
            return rc == FSV_HC_NOMEM ? SQLITE_NOMEM : SQLITE_CORRUPT;
        }
        c->n = (size_t)n;
        c->device = strdup(dev);
        c->relay = dup_col(c->scan, 8);
        for (size_t i = 0; i < c->n; i++) {
            fdsp_change *e = &c->ent[i];
            e->seq = last - n + 1 + (int64_t)i;
            e->table = dup_col(c->scan, 2);
            e->record = dup_col(c->scan, 3);
            e->user = dup_col(c->scan, 5);
            e->server_ms = sqlite3_column_int64(c->scan, 6);
            if (!e->table || !e->record || !e->user)
                return SQLITE_NOMEM;
        }
        if (!c->device)
            return SQLITE_NOMEM;
        c->i = 0;
        return SQLITE_OK;
    }
}

static int x_filter(sqlite3_vtab_cursor *cc, int plan, const char *idx,
                    int argc, sqlite3_value **argv)
{
    (void)idx;
    hcur *c = (hcur *)cc;
    cur_group_clear(c);
    cur_names_clear(c);
    sqlite3_finalize(c->scan);
    c->scan = NULL;
    char sql[400];
    snprintf(sql, sizeof sql, "SELECT seq, n, tbl, rid, dev, user, server_ms,"
             " body, relay FROM hist WHERE 1%s%s%s ORDER BY seq",
             plan & P_TBL ? " AND tbl=?" : "", plan & P_RID ? " AND rid=?" : "",
             plan & P_SEQ ? " AND seq>=?" : "");
    int rc = sqlite3_prepare_v2(c->db, sql, -1, &c->scan, NULL);
    if (rc != SQLITE_OK)
        return rc;
    for (int i = 0; i < argc; i++)
        sqlite3_bind_value(c->scan, i + 1, argv[i]);
    c->eof = 0;
    return next_group(c);
}

static int x_next(sqlite3_vtab_cursor *cc)
{
    hcur *c = (hcur *)cc;
    if (++c->i < c->n)
        return SQLITE_OK;
    return next_group(c);
}

static int x_eof(sqlite3_vtab_cursor *cc)
{
    return ((hcur *)cc)->eof;
}

static void result_text(sqlite3_context *cx, const char *v)
{
    if (v)
        sqlite3_result_text(cx, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_result_null(cx);
}

static int x_column(sqlite3_vtab_cursor *cc, sqlite3_context *cx, int col)
{
    hcur *c = (hcur *)cc;
    const fdsp_change *e = &c->ent[c->i];
    switch (col) {
    case C_SEQ: sqlite3_result_int64(cx, e->seq); break;
    case C_TBL: result_text(cx, e->table); break;
    case C_RID: result_text(cx, e->record); break;
    case C_FIELD: result_text(cx, e->field); break;
    case C_VALUE: result_text(cx, e->value); break;
    case C_VV: {
        char *t = fds_vv_dump(&e->vv);
        if (!t)
            return SQLITE_NOMEM;
        sqlite3_result_text(cx, t, -1, free);
        break;
    }
    case C_HLC: sqlite3_result_int64(cx, (sqlite3_int64)e->hlc); break;
    case C_DEVICE: result_text(cx, c->device); break;
    case C_USER: result_text(cx, e->user); break;
    case C_SERVER_MS: sqlite3_result_int64(cx, e->server_ms); break;
    case C_DCTR:
        sqlite3_result_null(cx);
        for (size_t i = 0; i < e->vv.n; i++)
            if (strcmp(e->vv.e[i].device, c->device) == 0)
                sqlite3_result_int64(cx, (sqlite3_int64)e->vv.e[i].counter);
        break;
    case C_RELAY: result_text(cx, c->relay); break;
    default: sqlite3_result_null(cx); break;
    }
    return SQLITE_OK;
}

static int x_rowid(sqlite3_vtab_cursor *cc, sqlite3_int64 *rowid)
{
    hcur *c = (hcur *)cc;
    *rowid = c->ent[c->i].seq;
    return SQLITE_OK;
}

static const sqlite3_module hist_module = {
    .iVersion = 0,
    .xCreate = NULL,        /* eponymous only */
    .xConnect = x_connect,
    .xBestIndex = x_best_index,
    .xDisconnect = x_disconnect,
    .xDestroy = x_disconnect,
    .xOpen = x_open,
    .xClose = x_close,
    .xFilter = x_filter,
    .xNext = x_next,
    .xEof = x_eof,
    .xColumn = x_column,
    .xRowid = x_rowid,
};

int fsv_sqlite_history_module(sqlite3 *db)
{
    return sqlite3_create_module(db, "history", &hist_module, NULL);
}
