/*
** query.c — the customer list: filters, search, and the per-customer
** "unsynced" and "conflicts" markers a rep needs before going offline.
**
** Search is a substring match in SQL: instr() over UTF-8 text finds Chinese
** substrings as they are, and lower() folds ASCII only (SQLite without
** ICU), which is exactly "case-insensitive for ASCII, any UTF-8 text".
*/
#include "domain.h"

#include <stdio.h>
#include <string.h>

/* Map customer id -> value from a two-column statement (customer, n). */
static int collect_counts(fds_replica *r, sqlite3_stmt *st, json_t *map,
                          const char *what)
{
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        const char *cust = (const char *)sqlite3_column_text(st, 0);
        if (cust)
            json_object_set_new(map, cust,
                                json_integer(sqlite3_column_int64(st, 1)));
    }
    sqlite3_reset(st);
    return s == SQLITE_DONE ? FDS_OK : fds__dberror(r, what);
}

/* Customers owning a change not yet acknowledged by the server, directly
** or through a child record. */
static int unsynced_set(fds_replica *r, json_t *map)
{
    sqlite3_stmt *st = fds__stmt(r, FDS__ST_D_UNSYNCED,
        "SELECT CASE WHEN l.tbl = 'customer' THEN l.rid ELSE "
        "(SELECT p.value FROM reg p WHERE p.tbl = l.tbl AND p.rid = l.rid "
        "AND p.field = 'customer') END AS cust, count(*) "
        "FROM log l WHERE l.origin = 1 AND l.acked = 0 GROUP BY cust");
    if (!st)
        return FDS_DB;
    return collect_counts(r, st, map, "finding unsynced changes");
}

static int conflict_counts(fds_replica *r, json_t *map)
{
    sqlite3_stmt *st = fds__stmt(r, FDS__ST_D_CONFLICT_COUNT,
        "SELECT CASE WHEN x.tbl = 'customer' THEN x.rid ELSE "
        "(SELECT p.value FROM reg p WHERE p.tbl = x.tbl AND p.rid = x.rid "
        "AND p.field = 'customer') END AS cust, count(*) "
        "FROM reg x WHERE x.conflict = 1 GROUP BY cust");
    if (!st)
        return FDS_DB;
    return collect_counts(r, st, map, "counting conflicts");
}

static int matching_ids(fds_replica *r, const fds_query *q, const char *stage,
                        json_t *ids)
{
    sqlite3_stmt *st = fds__stmt(r, FDS__ST_D_LIST,
        "SELECT c.rid FROM (SELECT DISTINCT rid FROM reg WHERE tbl = 'customer') c "
        "WHERE (?1 OR NOT EXISTS (SELECT 1 FROM reg d WHERE d.tbl = 'customer' "
        "  AND d.rid = c.rid AND d.field = 'deleted' AND d.value = '1')) "
        "AND (?2 IS NULL OR EXISTS (SELECT 1 FROM reg s WHERE s.tbl = 'customer' "
        "  AND s.rid = c.rid AND s.field = 'stage' AND s.value = ?2)) "
        "AND (?3 IS NULL OR EXISTS (SELECT 1 FROM reg o WHERE o.tbl = 'customer' "
        "  AND o.rid = c.rid AND o.field = 'owner' AND o.value = ?3)) "
        "AND (?4 IS NULL OR EXISTS (SELECT 1 FROM reg x WHERE x.tbl = 'customer' "
        "  AND x.rid = c.rid AND (x.field IN ('name', 'company', 'phone', "
        "  'email', 'wechat', 'title', 'notes', 'tags') "
        "  OR substr(x.field, 1, 2) = 'f.') "
        "  AND instr(lower(x.value), lower(?4)) > 0)) "
        "ORDER BY (SELECT n.value FROM reg n WHERE n.tbl = 'customer' "
        "  AND n.rid = c.rid AND n.field = 'name'), c.rid");
    if (!st)
        return FDS_DB;
    sqlite3_bind_int(st, 1, q && q->include_deleted);
    if (stage)
        sqlite3_bind_text(st, 2, stage, -1, SQLITE_STATIC);
    if (q && q->owner)
        sqlite3_bind_text(st, 3, q->owner, -1, SQLITE_STATIC);
    if (q && q->search && *q->search)
        sqlite3_bind_text(st, 4, q->search, -1, SQLITE_STATIC);
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(ids, json_string((const char *)
                                               sqlite3_column_text(st, 0)));
    sqlite3_reset(st);
    return s == SQLITE_DONE ? FDS_OK : fds__dberror(r, "listing customers");
}

int fds_customer_list(fds_replica *r, const fds_query *q, json_t **out)
{
    json_t *ids = json_array(), *unsynced = json_object(),
           *conflicts = json_object(), *arr = json_array(), *st = NULL;
    const char *stage = NULL;
    int rc = FDS_OK;
    if (!out)
        return FDS_INVALID;
    *out = NULL;
    if (!r)
        rc = FDS_INVALID;
    else if (!ids || !unsynced || !conflicts || !arr)
        rc = fds__error(r, FDS_NOMEM, "out of memory");
    if (rc == FDS_OK && q && q->stage) {
        /* a stage may be named by key or label, as everywhere else */
        rc = fds__stage_find(r, q->stage, &st);
        stage = fds__jstr(st, "key");
    }
    if (rc == FDS_OK)
        rc = matching_ids(r, q, stage, ids);
    if (rc == FDS_OK)
        rc = unsynced_set(r, unsynced);
    if (rc == FDS_OK)
        rc = conflict_counts(r, conflicts);
    size_t i;
    json_t *idj;
    json_array_foreach(ids, i, idj) {
        json_t *c = NULL;
        const char *id = json_string_value(idj);
        if (rc != FDS_OK)
            break;
        rc = fds__customer_json(r, id, q && q->include_deleted, &c);
        if (rc == FDS_NOTFOUND) {       /* raced away: nothing to show */
            rc = FDS_OK;
            continue;
        }
        if (rc != FDS_OK)
            break;
        json_object_set_new(c, "unsynced",
                            json_boolean(json_object_get(unsynced, id) != NULL));
        json_t *n = json_object_get(conflicts, id);
        json_object_set_new(c, "conflicts",
                            json_integer(n ? json_integer_value(n) : 0));
        json_array_append_new(arr, c);
    }
    json_decref(ids);
    json_decref(unsynced);
    json_decref(conflicts);
    json_decref(st);
    if (rc != FDS_OK) {
        json_decref(arr);
        return rc;
    }
    *out = arr;
    return FDS_OK;
}
