/*
** today.c — the automatic daily follow-up list: plans due or overdue,
** birthdays in the coming week, and customers gone quiet (no follow-up for
** longer than their cycle).
**
** Days are local calendar days (the rep's day), counted with civil-day
** arithmetic so daylight-saving shifts never make a day 23 or 25 hours.
*/
#include "domain.h"

#include <stdlib.h>
#include <string.h>

#define BIRTHDAY_WINDOW 7

typedef struct entry {
    json_t *item;
    int64_t key;
    const char *name;   /* tie-break, borrowed from item */
} entry;

static int cmp_entry(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    int c = strcmp(x->name ? x->name : "", y->name ? y->name : "");
    if (c)
        return c;
    return strcmp(json_string_value(json_object_get(x->item, "id")),
                  json_string_value(json_object_get(y->item, "id")));
}

/* Sort items by key (then name, then id) into a new array. */
static json_t *sorted(entry *e, size_t n)
{
    json_t *arr = json_array();
    if (!arr)
        return NULL;
    if (n > 1)
        qsort(e, n, sizeof *e, cmp_entry);
    int bad = 0;
    for (size_t i = 0; i < n; i++)
        bad |= json_array_append(arr, e[i].item) != 0;
    if (bad) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}

static void free_entries(entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++)
        json_decref(e[i].item);
    free(e);
}

static int grow(entry **e, size_t n, size_t *cap)
{
    if (n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 16;
    entry *ne = realloc(*e, nc * sizeof *ne);
    if (!ne)
        return -1;
    *e = ne;
    *cap = nc;
    return 0;
}

static int is_live(const json_t *regs)
{
    const char *d = fds__jstr(regs, "deleted");
    return !(d && strcmp(d, "1") == 0);
}

/* Open plans due before day_end, oldest first. */
static int due_plans(fds_replica *r, int64_t day_start, int64_t day_end,
                     json_t **out)
{
    json_t *cands = json_array();
    entry *e = NULL;
    size_t n = 0, cap = 0;
    int rc = FDS_OK;
    if (!cands)
        return fds__error(r, FDS_NOMEM, "out of memory");
    sqlite3_stmt *st = fds__stmt(r, FDS__ST_D_PLANS_OPEN,
        "SELECT p.rid, json_extract(p.vals, '$.due') FROM rec p "
        "WHERE p.tbl = 'plan' AND json_type(p.vals, '$.due') IS NOT NULL "
        "AND json_extract(p.vals, '$.done') IS NOT '1' "
        "AND json_extract(p.vals, '$.deleted') IS NOT '1'");
    if (!st) {
        json_decref(cands);
        return fds__errcode(r);
    }
    int s, bad = 0;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        const char *dt = (const char *)sqlite3_column_text(st, 1);
        if (!dt && sqlite3_column_type(st, 1) != SQLITE_NULL)
            bad = 1;            /* out of memory, not "no due time" */
        int64_t due = fds__time_or_zero(dt);
        if (due < day_end)
            fds__jpush(cands, json_string((const char *)
                                          sqlite3_column_text(st, 0)), &bad);
    }
    sqlite3_reset(st);
    if (s != SQLITE_DONE) {
        json_decref(cands);
        return fds__dberror(r, "listing plans");
    }
    if (bad) {
        json_decref(cands);
        return fds__error(r, FDS_NOMEM, "out of memory");
    }
    size_t i;
    json_t *idj;
    json_array_foreach(cands, i, idj) {
        json_t *plan = NULL, *cust = NULL;
        const char *id = json_string_value(idj);
        if ((rc = fds__read(r, "plan", id, &plan)) != FDS_OK)
            break;
        const char *cid = fds__jstr(plan, "customer");
        int crc = cid ? fds__read(r, "customer", cid, &cust) : FDS_NOTFOUND;
        if (crc != FDS_OK || !is_live(cust)) {
            /* a plan on a deleted (or not yet received) customer is moot */
            json_decref(plan);
            json_decref(cust);
            if (crc != FDS_OK && crc != FDS_NOTFOUND) {
                rc = crc;
                break;
            }
            continue;
        }
        json_t *item = fds__child_json("plan", id, plan);
        int64_t due = fds__time_or_zero(fds__jstr(plan, "due"));
        if (item) {
            const char *name = fds__jstr(cust, "name");
            fds__jset(item, "customer_name", json_string(name ? name : ""), &bad);
            fds__jset(item, "overdue", json_boolean(due < day_start), &bad);
        }
        json_decref(plan);
        json_decref(cust);
        if (!item || bad || grow(&e, n, &cap)) {
            json_decref(item);
            rc = fds__error(r, FDS_NOMEM, "out of memory");
            break;
        }
        e[n].item = item;
        e[n].key = due;
        e[n].name = NULL;
        n++;
    }
    json_decref(cands);
    if (rc == FDS_OK && !(*out = sorted(e, n)))
        rc = fds__error(r, FDS_NOMEM, "out of memory");
    free_entries(e, n);
    return rc;
}

/* Days from today to the next occurrence of a birthday, or -1 if the text
** is not one.  Feb 29 falls on Feb 28 in common years. */
static int64_t birthday_in(const char *b, int y, int64_t today)
{
    int m, d, by;
    if (!b)
        return -1;
    if (strlen(b) == 5 && fds__valid_date(b, 1)) {
        m = (b[0] - '0') * 10 + (b[1] - '0');
        d = (b[3] - '0') * 10 + (b[4] - '0');
    } else if (fds__parse_ymd(b, &by, &m, &d) != 0) {
        return -1;
    }
    for (int yy = y; yy <= y + 1; yy++) {
        int dd = d > fds__days_in_month(yy, m) ? fds__days_in_month(yy, m) : d;
        int64_t occ = fds__days_from_civil(yy, m, dd);
        if (occ >= today)
            return occ - today;
    }
    return -1;
}

/* Latest "at" of the customer's live follow-ups (0 if none). */
int fds__last_followup(fds_replica *r, const char *cust, int64_t *ms)
{
    sqlite3_stmt *st = fds__stmt(r, FDS__ST_D_FOLLOWUP_ATS,
        "SELECT json_extract(c.vals, '$.at') FROM rec c WHERE c.cust = ?1 "
        "AND c.tbl = 'followup' AND json_type(c.vals, '$.at') IS NOT NULL "
        "AND json_extract(c.vals, '$.deleted') IS NOT '1'");
    if (!st)
        return fds__errcode(r);
    sqlite3_bind_text(st, 1, cust, -1, SQLITE_STATIC);
    *ms = 0;
    int s, bad = 0;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        const char *at = (const char *)sqlite3_column_text(st, 0);
        if (!at)
            bad = 1;            /* joined on a value: out of memory */
        int64_t t = fds__time_or_zero(at);
        if (t > *ms)
            *ms = t;
    }
    sqlite3_reset(st);
    if (s == SQLITE_DONE && bad)
        return fds__error(r, FDS_NOMEM, "out of memory");
    return s == SQLITE_DONE ? FDS_OK : fds__dberror(r, "reading follow-ups");
}

static int live_customers(fds_replica *r, json_t *ids)
{
    sqlite3_stmt *st = fds__stmt(r, FDS__ST_D_CUSTOMER_IDS,
        "SELECT c.rid FROM rec c WHERE c.tbl = 'customer' "
        "AND json_extract(c.vals, '$.deleted') IS NOT '1' ORDER BY c.rid");
    if (!st)
        return fds__errcode(r);
    int s, bad = 0;
    while ((s = sqlite3_step(st)) == SQLITE_ROW)
        fds__jpush(ids, json_string((const char *)sqlite3_column_text(st, 0)),
                   &bad);
    sqlite3_reset(st);
    if (s == SQLITE_DONE && bad)
        return fds__error(r, FDS_NOMEM, "out of memory");
    return s == SQLITE_DONE ? FDS_OK : fds__dberror(r, "listing customers");
}

/* Stages that end the pipeline (won or lost): no one waits on those. */
static int closed_stages(fds_replica *r, json_t *set)
{
    json_t *list = NULL;
    int rc = fds_stagedef_list(r, &list);
    if (rc != FDS_OK)
        return rc;
    size_t i;
    json_t *s;
    int bad = 0;
    json_array_foreach(list, i, s)
        if (json_is_true(json_object_get(s, "won")) ||
            json_is_true(json_object_get(s, "lost")))
            fds__jset(set, fds__jstr(s, "key"), json_true(), &bad);
    json_decref(list);
    return bad ? fds__error(r, FDS_NOMEM, "out of memory") : FDS_OK;
}

static int birthdays_and_quiet(fds_replica *r, int y, int64_t today,
                               json_t **births, json_t **quiet,
                               json_t **returning)
{
    json_t *ids = json_array(), *closed = json_object();
    entry *be = NULL, *qe = NULL;
    size_t bn = 0, bcap = 0, qn = 0, qcap = 0;
    int rc = FDS_OK, bad = 0;
    if (!ids || !closed)
        rc = fds__error(r, FDS_NOMEM, "out of memory");
    if (rc == FDS_OK)
        rc = live_customers(r, ids);
    if (rc == FDS_OK)
        rc = closed_stages(r, closed);
    size_t i;
    json_t *idj;
    json_array_foreach(ids, i, idj) {
        json_t *c = NULL;
        const char *id = json_string_value(idj);
        if (rc != FDS_OK)
            break;
        if ((rc = fds__customer_json(r, id, 0, &c)) != FDS_OK) {
            if (rc == FDS_NOTFOUND)
                rc = FDS_OK;
            continue;
        }
        int64_t days = birthday_in(fds__jstr(c, "birthday"), y, today);
        if (days >= 0 && days < BIRTHDAY_WINDOW) {
            json_t *b = json_deep_copy(c);
            if (!b || grow(&be, bn, &bcap)) {
                json_decref(b);
                json_decref(c);
                rc = fds__error(r, FDS_NOMEM, "out of memory");
                break;
            }
            fds__jset(b, "days", json_integer(days), &bad);
            be[bn].item = b;
            be[bn].key = days;
            be[bn].name = fds__jstr(b, "name");
            bn++;
            if (bad) {
                json_decref(c);
                rc = fds__error(r, FDS_NOMEM, "out of memory");
                break;
            }
        }
        const char *stage = fds__jstr(c, "stage");
        if (stage && json_object_get(closed, stage)) {
            json_decref(c);
            continue;
        }
        int64_t last = 0, first = 0, updated = 0;
        if ((rc = fds__last_followup(r, id, &last)) == FDS_OK)
            rc = fds__record_times(r, "customer", id, &first, &updated);
        int64_t base = last ? last : first;
        if (rc != FDS_OK || base == 0) {
            json_decref(c);
            if (rc != FDS_OK)
                break;
            continue;
        }
        int by, bm, bd;
        fds__local_date(base, &by, &bm, &bd);
        int64_t quiet_days = today - fds__days_from_civil(by, bm, bd);
        json_int_t cycle = json_integer_value(json_object_get(c, "cycle"));
        if (quiet_days >= cycle) {
            char buf[40];
            if (grow(&qe, qn, &qcap)) {
                json_decref(c);
                rc = fds__error(r, FDS_NOMEM, "out of memory");
                break;
            }
            if (last) {
                fds_time_format(last, buf, sizeof buf);
                fds__jset(c, "last_followup", json_string(buf), &bad);
            } else {
                fds__jset(c, "last_followup", json_null(), &bad);
            }
            fds__jset(c, "days_quiet", json_integer(quiet_days), &bad);
            qe[qn].item = c;
            qe[qn].key = -quiet_days;       /* longest silence first */
            qe[qn].name = fds__jstr(c, "name");
            qn++;
            if (bad) {
                rc = fds__error(r, FDS_NOMEM, "out of memory");
                break;
            }
            continue;
        }
        json_decref(c);
    }
    if (rc == FDS_OK)
        rc = fds__pool_returning(r, ids, today, returning);
    if (rc == FDS_OK) {
        *births = sorted(be, bn);
        *quiet = sorted(qe, qn);
        if (!*births || !*quiet)
            rc = fds__error(r, FDS_NOMEM, "out of memory");
    }
    free_entries(be, bn);
    free_entries(qe, qn);
    json_decref(ids);
    json_decref(closed);
    return rc;
}

int fds_today(fds_replica *r, const char *date, json_t **out)
{
    int y, m, d;
    json_t *plans = NULL, *births = NULL, *quiet = NULL, *returning = NULL;
    if (!out)
        return FDS_INVALID;
    *out = NULL;
    if (!r)
        return FDS_INVALID;
    if (!date) {
        fds__local_date(fds__now_ms(r), &y, &m, &d);
    } else if (fds__parse_ymd(date, &y, &m, &d) != 0) {
        int64_t ms;
        if (fds_time_parse(date, &ms) != FDS_OK)
            return fds__bad_value(r, "date", date, "expected YYYY-MM-DD");
        fds__local_date(ms, &y, &m, &d);
    }
    int64_t day_start = fds__local_midnight(y, m, d);
    int64_t day_end = fds__local_midnight(y, m, d + 1);
    int64_t today = fds__days_from_civil(y, m, d);
    int rc = due_plans(r, day_start, day_end, &plans);
    if (rc == FDS_OK)
        rc = birthdays_and_quiet(r, y, today, &births, &quiet, &returning);
    if (rc == FDS_OK) {
        *out = json_pack("{s:o, s:o, s:o, s:o}", "plans", plans, "birthdays",
                         births, "quiet", quiet, "returning", returning);
        plans = births = quiet = returning = NULL; /* stolen by "o" */
        if (!*out)
            rc = fds__error(r, FDS_NOMEM, "out of memory");
    }
    json_decref(plans);
    json_decref(births);
    json_decref(quiet);
    json_decref(returning);
    return rc;
}
