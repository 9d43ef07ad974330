/*
** store_sqlite_history.c — the SQLite backend's history scans: the
** changes after a cursor through a visibility filter (store.h).
*/
#include "store.h"
#include "store_sqlite_int.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The filter's last answer, for the record it was asked about.  A record's
** fields are consecutive in history (pushed together), and the filter's
** answer depends only on the record (tbl, rid, and its customer and
** creator, which cannot change inside the scan's read snapshot), never on
** the field: one answer, and one record index lookup, serve the record's
** run of rows. */
typedef struct scan_verdict {
    int valid, vis;
    char tbl[FDSP_MAX_NAME + 1], rid[FDSP_MAX_ID + 1];
} scan_verdict;

static int verdict_hit(const scan_verdict *m, const char *tbl, const char *rid)
{
    return m->valid && tbl && rid && strcmp(m->rid, rid) == 0 &&
           strcmp(m->tbl, tbl) == 0;
}

static void verdict_keep(scan_verdict *m, const char *tbl, const char *rid,
                         int vis)
{
    m->valid = tbl && rid && strlen(tbl) < sizeof m->tbl &&
               strlen(rid) < sizeof m->rid;
    if (m->valid) {
        strcpy(m->tbl, tbl);
        strcpy(m->rid, rid);
        m->vis = vis;
    }
}

/* Ask the filter about a scan row: its record's customer and creator come
** from the record index (NULL when the record is not in it). */
static int filter_row(fsv_store *s, sqlite3_stmt *st, fsv_row_filter filter,
                      void *ud, int *vis)
{
    fsv_row row = {
        .tbl = (const char *)sqlite3_column_text(st, 1),
        .rid = (const char *)sqlite3_column_text(st, 2),
        .field = (const char *)sqlite3_column_text(st, 3),
    };
    char *customer = NULL, *creator = NULL;
    int rc = row.tbl && row.rid ? fsv_sqlite_record_info(s, row.tbl, row.rid,
                                                        &customer, &creator)
                                : FSV_NOTFOUND;
    if (rc != FSV_OK && rc != FSV_NOTFOUND)
        return rc;
    row.customer = customer;
    row.creator = creator;
    rc = filter(ud, &row, vis);
    free(customer);
    free(creator);
    return rc;
}

/* Fill c from a scan row (columns as in ST_SCAN). */
static int row_to_change(fsv_store *s, sqlite3_stmt *st, fdsp_change *c)
{
    memset(c, 0, sizeof *c);
    c->seq = sqlite3_column_int64(st, 0);
    c->table = col_dup(st, 1);
    c->record = col_dup(st, 2);
    c->field = col_dup(st, 3);
    c->value = col_dup(st, 4);
    c->hlc = (uint64_t)sqlite3_column_int64(st, 6);
    c->device = col_dup(st, 7);
    c->user = col_dup(st, 8);
    c->server_ms = sqlite3_column_int64(st, 9);
    if (!c->table || !c->record || !c->field || !c->device || !c->user ||
        (sqlite3_column_type(st, 4) != SQLITE_NULL && !c->value)) {
        fdsp_change_clear(c);
        return seterr(s, FSV_NOMEM, "out of memory");
    }
    int rc = fds_vv_parse((const char *)sqlite3_column_text(st, 5), &c->vv);
    if (rc == FDS_NOMEM) {
        fdsp_change_clear(c);
        return seterr(s, FSV_NOMEM, "out of memory");
    }
    if (rc != FDS_OK) {
        fdsp_change_clear(c);
        return seterr(s, FSV_ERROR, "store: history row %lld has a corrupt"
                      " version vector", (long long)sqlite3_column_int64(st, 0));
    }
    return FSV_OK;
}

/* Fill c from the history row seq (a row a filtered scan keeps). */
static int fetch_row(fsv_store *s, int64_t seq, fdsp_change *c)
{
    sqlite3_stmt *st = stmt(s, ST_HIST_ROW);
    if (!st)
        return FSV_ERROR;
    sqlite3_bind_int64(st, 1, seq);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        rc = row_to_change(s, st, c);
    else if (rc == SQLITE_DONE)
        rc = seterr(s, FSV_ERROR, "store: history row %lld vanished",
                    (long long)seq);
    else
        rc = dberr(s, "history row");
    sqlite3_reset(st);
    return rc;
}

int fsv_sqlite_changes_after(fsv_store *s, int64_t after, int limit,
                            const char *exclude_device, fsv_row_filter filter,
                            void *ud, fdsp_change **out, size_t *n,
                            int64_t *last, int *more)
{
    enum { CHUNK = 1000 };
    int64_t head;
    int rc = fsv_sqlite_head(s, &head);
    *out = NULL;
    *n = 0;
    *last = after;
    *more = 0;
    if (rc != FSV_OK)
        return rc;
    if (limit <= 0)
        limit = 1;
    fdsp_change *arr = calloc((size_t)limit, sizeof *arr);
    if (!arr)
        return seterr(s, FSV_NOMEM, "out of memory");
    size_t got = 0, scanned = 0;
    int64_t pos = after;
    int full = 0;
    scan_verdict verdict;
    verdict.valid = 0;

    while (rc == FSV_OK && !full && pos < head && scanned < FSV_SCAN_MAX) {
        sqlite3_stmt *st = stmt(s, filter ? ST_SCAN_KEYS : ST_SCAN);
        if (!st) {
            rc = FSV_ERROR;
            break;
        }
        sqlite3_bind_int64(st, 1, pos);
        sqlite3_bind_int(st, 2, CHUNK);
        int step, rows = 0;
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
            rows++;
            scanned++;
            pos = sqlite3_column_int64(st, 0);
            /* Columns 0-3 (seq, tbl, rid, field) are the same in both scans. */
            const char *dev = (const char *)sqlite3_column_text(st, filter ? 4 : 7);
            if (exclude_device && dev && strcmp(dev, exclude_device) == 0)
                goto next_row;
            if (filter) {
                /* The filter runs its own lookups on other statements;
                ** this one stays positioned on its row. */
                const char *tbl = (const char *)sqlite3_column_text(st, 1);
                const char *rid = (const char *)sqlite3_column_text(st, 2);
                int vis = 0;
                if (verdict_hit(&verdict, tbl, rid)) {
                    vis = verdict.vis;
                } else {
                    rc = filter_row(s, st, filter, ud, &vis);
                    if (rc != FSV_OK)
                        break;
                    verdict_keep(&verdict, (const char *)sqlite3_column_text(st, 1),
                              (const char *)sqlite3_column_text(st, 2), vis);
                }
                if (!vis)
                    goto next_row;
            }
            rc = filter ? fetch_row(s, pos, &arr[got])
                        : row_to_change(s, st, &arr[got]);
            if (rc != FSV_OK)
                break;
            if (++got == (size_t)limit) {
                full = 1;
                break;
            }
        next_row:
            if (scanned >= FSV_SCAN_MAX)
                break;
        }
        if (rc == FSV_OK && step != SQLITE_ROW && step != SQLITE_DONE)
            rc = dberr(s, "scan history");
        sqlite3_reset(st);
        if (rows == 0)
            break;
    }
    if (rc != FSV_OK) {
        for (size_t i = 0; i < got; i++)
            fdsp_change_clear(&arr[i]);
        free(arr);
        return rc;
    }
    if (pos >= head)
        pos = head > after ? head : after;
    *last = pos;
    *more = pos < head;
    *out = arr;
    *n = got;
    return FSV_OK;
}
