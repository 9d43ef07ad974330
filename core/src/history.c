/*
** history.c — a customer's timeline (数据可追溯): every change to its own
** registers and to those of its follow-ups, plans, feedback, stage changes
** and shares, as the local log holds them (local writes and changes
** received from the server alike), with the value each change replaced.
** Changes the server refused (log acked = 2) never took effect: they are
** left out, both as entries and as the value a later change replaced
** (fds_refusals lists them).
*/
#include "domain.h"

#include <string.h>

static void set_text(json_t *o, const char *k, sqlite3_stmt *st, int col)
{
    const char *v = (const char *)sqlite3_column_text(st, col);
    json_object_set_new(o, k, v ? json_string(v) : json_null());
}

/* The engine writes deleted = "0" with every edit of an existing record
** (so a delete meets concurrent edits, rule 5).  Where that changes
** nothing (the record was not deleted before) it is not news to a reader
** of the timeline; an undelete ("1" -> "0") still shows. */
static int liveness_mark(sqlite3_stmt *st)
{
    const char *field = (const char *)sqlite3_column_text(st, 5);
    const char *value = (const char *)sqlite3_column_text(st, 6);
    const char *prev = (const char *)sqlite3_column_text(st, 7);
    return field && strcmp(field, "deleted") == 0 && value &&
           strcmp(value, "0") == 0 && (!prev || strcmp(prev, "0") == 0);
}

int fds_history(fds_replica *r, const char *id, json_t **out)
{
    char full[FDSP_MAX_ID + 1];
    if (!out)
        return FDS_INVALID;
    *out = NULL;
    if (!r || !id)
        return FDS_INVALID;
    int rc = fds__resolve(r, "customer", id, full);
    if (rc == FDS_NOTFOUND && strlen(id) <= FDSP_MAX_ID) {
        /* a deleted customer's history stays answerable by its full id */
        json_t *regs = NULL;
        if (fds__read(r, "customer", id, &regs) == FDS_OK) {
            strcpy(full, id);
            rc = FDS_OK;
        }
        json_decref(regs);
    }
    if (rc != FDS_OK)
        return rc;
    sqlite3_stmt *st = fds__stmt(r, FDS__ST_D_HISTORY,
        "WITH recs(t, id) AS (SELECT 'customer', ?1 UNION "
        "  SELECT tbl, rid FROM reg WHERE tbl IN (" FDS__CHILD_TABLES ") "
        "  AND field = 'customer' AND value = ?1) "
        "SELECT l.at_ms, l.user, l.device, l.tbl, l.rid, l.field, l.value, "
        "  (SELECT p.value FROM log p WHERE p.tbl = l.tbl AND p.rid = l.rid "
        "   AND p.field = l.field AND p.lseq < l.lseq AND p.acked <> 2 "
        "   ORDER BY p.lseq DESC LIMIT 1) "
        "FROM recs JOIN log l ON l.tbl = recs.t AND l.rid = recs.id "
        "WHERE l.acked <> 2 ORDER BY l.at_ms, l.lseq");
    if (!st)
        return FDS_DB;
    json_t *arr = json_array();
    if (!arr)
        return fds__error(r, FDS_NOMEM, "out of memory");
    sqlite3_bind_text(st, 1, full, -1, SQLITE_STATIC);
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        char at[40];
        if (liveness_mark(st))
            continue;
        json_t *e = json_object();
        if (!e)
            break;
        fds_time_format(sqlite3_column_int64(st, 0), at, sizeof at);
        json_object_set_new(e, "at", json_string(at));
        set_text(e, "user", st, 1);
        set_text(e, "device", st, 2);
        set_text(e, "table", st, 3);
        set_text(e, "record", st, 4);
        set_text(e, "field", st, 5);
        set_text(e, "value", st, 6);
        set_text(e, "previous", st, 7);
        json_array_append_new(arr, e);
    }
    sqlite3_reset(st);
    if (s != SQLITE_DONE) {
        json_decref(arr);
        return s == SQLITE_ROW ? fds__error(r, FDS_NOMEM, "out of memory")
                               : fds__dberror(r, "reading history");
    }
    *out = arr;
    return FDS_OK;
}
