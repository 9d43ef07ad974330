/*
** query.c — the customer list: filters, search, and the per-customer
** "unsynced" and "conflicts" markers a rep needs before going offline.
**
** Search is a substring match in SQL: instr() over UTF-8 text finds Chinese
** substrings as they are, and lower() folds ASCII only (SQLite without
** ICU), which is exactly "case-insensitive for ASCII, any UTF-8 text".
*/
#include "domain.h"
#include "pinyin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Map customer id -> value from a two-column statement (customer, n). */
static int collect_counts(fds_replica *r, sqlite3_stmt *st, json_t *map,
                          const char *what)
{
    int s, bad = 0;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        const char *cust = (const char *)sqlite3_column_text(st, 0);
        if (cust)
            fds__jset(map, cust, json_integer(sqlite3_column_int64(st, 1)),
                      &bad);
        else if (sqlite3_column_type(st, 0) != SQLITE_NULL)
            bad = 1;                    /* SQLite out of memory */
    }
    sqlite3_reset(st);
    if (s == SQLITE_DONE && bad)
        return fds__error(r, FDS_NOMEM, "out of memory");
    return s == SQLITE_DONE ? FDS_OK : fds__dberror(r, what);
}

/* Customers owning a change not yet acknowledged by the server, directly
** or through a child record. */
static int unsynced_set(fds_replica *r, json_t *map)
{
    sqlite3_stmt *st = fds__stmt(r, FDS__ST_D_UNSYNCED,
        "SELECT CASE WHEN l.tbl = 'customer' THEN l.rid ELSE "
        "(SELECT p.cust FROM rec p WHERE p.tbl = l.tbl AND p.rid = l.rid) "
        "END AS cust, count(*) "
        "FROM log l WHERE l.origin = 1 AND l.acked = 0 GROUP BY cust");
    if (!st)
        return fds__errcode(r);
    return collect_counts(r, st, map, "finding unsynced changes");
}

static int conflict_counts(fds_replica *r, json_t *map)
{
    sqlite3_stmt *st = fds__stmt(r, FDS__ST_D_CONFLICT_COUNT,
        "SELECT CASE WHEN x.tbl = 'customer' THEN x.rid ELSE x.cust END "
        "AS k, sum(x.conflict) FROM rec x WHERE x.conflict <> 0 "
        "GROUP BY k");  /* not "cust": GROUP BY would take rec's column */   /* conflict: fields in conflict; rec_conflict */
    if (!st)
        return fds__errcode(r);
    return collect_counts(r, st, map, "counting conflicts");
}

static int matching_ids(fds_replica *r, const fds_query *q, const char *stage,
                        json_t *ids)
{
    sqlite3_stmt *st = fds__stmt(r, FDS__ST_D_LIST,
        "SELECT c.rid FROM rec c WHERE c.tbl = 'customer' "
        "AND (?1 OR json_extract(c.vals, '$.deleted') IS NOT '1') "
        "AND (?2 IS NULL OR json_extract(c.vals, '$.stage') = ?2) "
        "AND (?3 IS NULL OR json_extract(c.vals, '$.owner') = ?3) "
        /* the customer's own fields: one json_each row per field */
        "AND (?4 IS NULL OR EXISTS (SELECT 1 FROM json_each(c.vals) x "
        "  WHERE (((x.key IN ('name', 'company', 'phone', "
        "  'email', 'wechat', 'title', 'notes', 'tags') "
        "  OR substr(x.key, 1, 2) = 'f.') "
        "  AND instr(lower(x.value), lower(?4)) > 0) "
        /* a phone typed with other spacing: ?5 is the query's digits */
        "  OR (?5 IS NOT NULL AND x.key = 'phone' AND instr(replace(replace(replace("
        "    replace(replace(x.value, ' ', ''), '-', ''), '+', ''), '(', ''), ')', ''), "
        "    ?5) > 0) "
        /* pinyin of the name (pinyin.c), only for a query of letters */
        "  OR (?6 AND x.key = 'name' AND fds_pinyin(x.value, ?4)))) "
        /* the text of a live follow-up of this customer */
        "  OR EXISTS (SELECT 1 FROM rec fc, json_each(fc.vals) ft "
        "    WHERE fc.cust = c.rid AND fc.tbl = 'followup' "
        "    AND ft.key IN ('content', 'result') "
        "    AND instr(lower(ft.value), lower(?4)) > 0 "
        "    AND json_extract(fc.vals, '$.deleted') IS NOT '1')) "
        "ORDER BY json_extract(c.vals, '$.name'), c.rid");
    if (!st)
        return fds__errcode(r);
    sqlite3_bind_int(st, 1, q && q->include_deleted);
    if (stage)
        sqlite3_bind_text(st, 2, stage, -1, SQLITE_STATIC);
    if (q && q->owner)
        sqlite3_bind_text(st, 3, q->owner, -1, SQLITE_STATIC);
    char digits[64];
    size_t nd = 0;
    if (q && q->search && *q->search) {
        sqlite3_bind_text(st, 4, q->search, -1, SQLITE_STATIC);
        /* digits of a query that looks like a phone number (3+ digits and
        ** only phone punctuation besides) */
        int phone_like = 1;
        for (const char *p = q->search; *p && phone_like; p++) {
            if (*p >= '0' && *p <= '9') {
                if (nd < sizeof digits - 1)
                    digits[nd++] = *p;
            } else if (!strchr(" -+()", *p)) {
                phone_like = 0;
            }
        }
        digits[nd] = '\0';
        if (phone_like && nd >= 3)
            sqlite3_bind_text(st, 5, digits, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 6, fds__pinyin_query(q->search));
    } else {
        sqlite3_bind_int(st, 6, 0);
    }
    int s, bad = 0;
    while ((s = sqlite3_step(st)) == SQLITE_ROW)
        fds__jpush(ids, json_string((const char *)sqlite3_column_text(st, 0)),
                   &bad);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);     /* ?5 must not outlive this query */
    if (s == SQLITE_DONE && bad)
        return fds__error(r, FDS_NOMEM, "out of memory");
    return s == SQLITE_DONE ? FDS_OK : fds__dberror(r, "listing customers");
}

/* map customer -> time text of its soonest open plan (plans) or of its
** latest live follow-up, compared as instants (a plan's due may be a
** date). */
static int activity_times(fds_replica *r, int plans, json_t *map)
{
    sqlite3_stmt *st = plans
        ? fds__stmt(r, FDS__ST_D_NEXT_PLANS,
            "SELECT json_extract(c.vals, '$.customer'), "
            "json_extract(c.vals, '$.due') FROM rec c WHERE c.tbl = 'plan' "
            "AND json_type(c.vals, '$.customer') IS NOT NULL "
            "AND json_type(c.vals, '$.due') IS NOT NULL "
            "AND json_extract(c.vals, '$.done') IS NOT '1' "
            "AND json_extract(c.vals, '$.deleted') IS NOT '1'")
        : fds__stmt(r, FDS__ST_D_LAST_FOLLOWUPS,
            "SELECT json_extract(c.vals, '$.customer'), "
            "json_extract(c.vals, '$.at') FROM rec c WHERE c.tbl = 'followup' "
            "AND json_type(c.vals, '$.customer') IS NOT NULL "
            "AND json_type(c.vals, '$.at') IS NOT NULL "
            "AND json_extract(c.vals, '$.deleted') IS NOT '1'");
    if (!st)
        return fds__errcode(r);
    int s, bad = 0;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        const char *cust = (const char *)sqlite3_column_text(st, 0);
        const char *t = (const char *)sqlite3_column_text(st, 1);
        if (!cust || !t) {
            /* The join's values are never NULL: out of memory. */
            bad = 1;
            continue;
        }
        int64_t ms = fds__time_or_zero(t);
        const char *cur = json_string_value(json_object_get(map, cust));
        int64_t cms = cur ? fds__time_or_zero(cur) : 0;
        if (!cur || (plans ? ms < cms : ms > cms))
            fds__jset(map, cust, json_string(t), &bad);
    }
    sqlite3_reset(st);
    if (s == SQLITE_DONE && bad)
        return fds__error(r, FDS_NOMEM, "out of memory");
    return s == SQLITE_DONE ? FDS_OK : fds__dberror(r, "reading plans and follow-ups");
}

typedef struct sort_item {
    json_t *c;
    int has;            /* the key is known */
    double key;         /* smaller first (negated where largest first) */
    size_t idx;         /* name order from SQL: breaks ties */
} sort_item;

static int cmp_item(const void *a, const void *b)
{
    const sort_item *x = a, *y = b;
    if (x->has != y->has)
        return x->has ? -1 : 1;     /* unknown keys last */
    if (x->has && x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Reorder arr (name order) by sort ("next", "last", "amount"). */
static int sort_list(fds_replica *r, json_t *arr, const char *sort)
{
    size_t n = json_array_size(arr);
    if (n < 2)
        return FDS_OK;
    sort_item *it = calloc(n, sizeof *it);
    if (!it)
        return fds__error(r, FDS_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_array_get(arr, i);
        it[i].c = json_incref(c);
        it[i].idx = i;
        if (strcmp(sort, "amount") == 0) {
            json_t *a = json_object_get(c, "amount");
            it[i].has = json_is_number(a);
            it[i].key = -json_number_value(a);
        } else if (strcmp(sort, "next") == 0) {
            const char *t = json_string_value(json_object_get(c, "next_plan"));
            it[i].has = t != NULL;
            it[i].key = t ? (double)fds__time_or_zero(t) : 0;
        } else {
            /* last follow-up longest ago first; never followed up first of
            ** all: the customers most in need of a call lead the list */
            const char *t = json_string_value(json_object_get(c, "last_followup"));
            it[i].has = 1;
            it[i].key = t ? (double)fds__time_or_zero(t) : -1e300;
        }
    }
    qsort(it, n, sizeof *it, cmp_item);
    json_array_clear(arr);
    int bad = 0;
    for (size_t i = 0; i < n; i++)
        fds__jpush(arr, it[i].c, &bad);
    free(it);
    return bad ? fds__error(r, FDS_NOMEM, "out of memory") : FDS_OK;
}

int fds_customer_list(fds_replica *r, const fds_query *q, json_t **out)
{
    json_t *ids = json_array(), *unsynced = json_object(),
           *conflicts = json_object(), *arr = json_array(), *st = NULL;
    const char *stage = NULL;
    int rc = FDS_OK, bad = 0;
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
    const char *sort = q && q->sort && *q->sort ? q->sort : "name";
    if (rc == FDS_OK && strcmp(sort, "name") && strcmp(sort, "next") &&
        strcmp(sort, "last") && strcmp(sort, "amount"))
        rc = fds__bad_value(r, "sort", sort, "expected name, next, last or amount");
    int activity = (q && q->activity) || !strcmp(sort, "next") ||
                   !strcmp(sort, "last");
    json_t *next = NULL, *last = NULL;
    if (rc == FDS_OK && activity) {
        next = json_object();
        last = json_object();
        if (!next || !last)
            rc = fds__error(r, FDS_NOMEM, "out of memory");
        if (rc == FDS_OK)
            rc = activity_times(r, 1, next);
        if (rc == FDS_OK)
            rc = activity_times(r, 0, last);
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
        fds__jset(c, "unsynced",
                            json_boolean(json_object_get(unsynced, id) != NULL), &bad);
        json_t *n = json_object_get(conflicts, id);
        fds__jset(c, "conflicts",
                            json_integer(n ? json_integer_value(n) : 0), &bad);
        if (activity) {
            json_t *np = json_object_get(next, id), *lf = json_object_get(last, id);
            fds__jset(c, "next_plan", np ? json_incref(np) : json_null(), &bad);
            fds__jset(c, "last_followup", lf ? json_incref(lf) : json_null(), &bad);
        }
        fds__jpush(arr, c, &bad);
        if (bad)
            rc = fds__error(r, FDS_NOMEM, "out of memory");
    }
    if (rc == FDS_OK && strcmp(sort, "name") != 0)
        rc = sort_list(r, arr, sort);
    json_decref(next);
    json_decref(last);
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
