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

/* Ask the filter about a group: its record's customer and creator come
** from the record index (NULL when the record is not in it): the
** transaction's memo when it has the record (merges not yet written),
** else the rec row the scan joined.  Columns as in ST_SCAN (tbl 2, rid 3,
** customer 8, creator 9, known 10). */
static int filter_group(fsv_store *s, sqlite3_stmt *st, const char *tbl,
                        const char *rid, const char *field,
                        fsv_row_filter filter, void *ud, int *vis)
{
    fsv_row row = {.tbl = tbl, .rid = rid, .field = field};
    int known = 0;
    const char *customer = NULL, *creator = NULL;
    /* The memo's strings are copied: the filter's own lookups may reuse
    ** its entries (a full memo is flushed and cleared).  They fit: the
    ** memo holds nothing longer.  The joined columns stay valid, the
    ** filter steps other statements. */
    char cbuf[FDSP_MAX_ID + 1], kbuf[FDSP_MAX_ID + 1];
    if (fsv__sq_txrec_index(s, tbl, rid, &known, &customer, &creator)) {
        if (customer)
            customer = memcpy(cbuf, customer, strlen(customer) + 1);
        if (creator)
            creator = memcpy(kbuf, creator, strlen(creator) + 1);
    } else {
        known = sqlite3_column_int(st, 10);
        customer = known ? (const char *)sqlite3_column_text(st, 8) : NULL;
        creator = known ? (const char *)sqlite3_column_text(st, 9) : NULL;
    }
    row.customer = customer;
    row.creator = creator;
    return filter(ud, &row, vis);
}

/* The scan reads group rows (store_sqlite_hist.c): a group whose last seq
** is past the cursor, its entries up to the cursor skipped; a page may end
** inside a group (the next call starts after the page's last seq).  The
** device and the record, hence the exclusion and the filter's verdict,
** are the group's: an excluded or invisible group is passed over without
** decoding its body.  FSV_SCAN_MAX counts changes, as before. */
int fsv_sqlite_changes_after(fsv_store *s, int64_t after, int limit,
                            const char *exclude_device, fsv_row_filter filter,
                            void *ud, fdsp_change **out, size_t *n,
                            int64_t *last, int *more)
{
    enum { CHUNK = 200 };
    int64_t head, ex_id = 0;
    int rc = fsv_sqlite_head(s, &head);     /* flushes a pending group */
    *out = NULL;
    *n = 0;
    *last = after;
    *more = 0;
    if (rc == FSV_OK && exclude_device)
        rc = fsv__sq_hist_id(s, exclude_device, &ex_id);
    if (rc != FSV_OK)
        return rc;
    if (limit <= 0)
        limit = 1;
    fdsp_change *arr = calloc((size_t)limit + FSV__HIST_MAX_ENTRIES,
                              sizeof *arr);
    if (!arr)
        return seterr(s, FSV_NOMEM, "out of memory");
    size_t got = 0, scanned = 0;
    int64_t pos = after;
    int full = 0;
    scan_verdict verdict;
    verdict.valid = 0;

    while (rc == FSV_OK && !full && pos < head && scanned < FSV_SCAN_MAX) {
        sqlite3_stmt *st = stmt(s, ST_SCAN);
        if (!st) {
            rc = FSV_ERROR;
            break;
        }
        sqlite3_bind_int64(st, 1, pos);
        sqlite3_bind_int(st, 2, CHUNK);
        int step, rows = 0;
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
            rows++;
            int64_t glast = sqlite3_column_int64(st, 0);
            int64_t gfirst = glast - sqlite3_column_int64(st, 1) + 1;
            scanned += (size_t)(glast - (pos >= gfirst ? pos : gfirst - 1));
            if (ex_id && sqlite3_column_int64(st, 4) == ex_id)
                goto next_group;
            if (filter) {
                /* The filter runs its own lookups on other statements;
                ** this one stays positioned on its row. */
                const char *tbl = (const char *)sqlite3_column_text(st, 2);
                const char *rid = (const char *)sqlite3_column_text(st, 3);
                int vis = 0;
                if (verdict_hit(&verdict, tbl, rid)) {
                    vis = verdict.vis;
                } else {
                    /* The row shown is the group's first entry (the
                    ** filter decides by record; the field is for show). */
                    const char *field = fsv__sq_hist_first_field(
                        s, sqlite3_column_blob(st, 7),
                        (size_t)sqlite3_column_bytes(st, 7));
                    rc = filter_group(s, st, tbl, rid, field, filter, ud, &vis);
                    if (rc != FSV_OK)
                        break;
                    verdict_keep(&verdict, tbl, rid, vis);
                }
                if (!vis)
                    goto next_group;
            }
            size_t k = 0;
            rc = fsv__sq_hist_group(s, st, 0, pos, &arr[got], &k);
            if (rc != FSV_OK)
                break;
            if (got + k >= (size_t)limit) {
                /* The page ends inside (or at the end of) this group. */
                for (size_t i = (size_t)limit - got; i < k; i++)
                    fdsp_change_clear(&arr[got + i]);
                got = (size_t)limit;
                pos = arr[got - 1].seq;
                full = 1;
                break;
            }
            got += k;
        next_group:
            pos = glast;
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
