/*
** api_figures.c — the dashboard's figures from the store's office view
** (docs/API.md "summary", "analysis") within the caller's scope
** (fsv_vis_scope): sums of the store's aggregates (per owner, kept by
** delta in the merge transaction) and indexed queries for what is per
** customer (won customers, birthdays, conflicts); with a backend that
** keeps no aggregates, one pass over the visible customers and indexed
** scans of their follow-ups, plans and stage changes.  Nothing is kept
** per user.  Summary and analysis are built here so
** the exactness test (tests/server/test_office.c) runs them on a store
** without a server.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "tzone.h"
#include "visibility.h"

#define WEEKS 12
#define BIRTHDAY_DAYS 30
#define DAY_MS 86400000LL

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static double round_to(double x, double unit)
{
    return round(x / unit) * unit;
}

int fsv_fig_stage_flag(const json_t *defs, const char *key, const char *flag)
{
    size_t i;
    json_t *d;
    if (!key)
        return 0;
    json_array_foreach(defs, i, d) {
        const char *k = json_string_value(json_object_get(d, "key"));
        if (k && strcmp(k, key) == 0)
            return json_is_true(json_object_get(d, flag));
    }
    return 0;
}

/* "k1,k2" of the stages with flag set. */
static void stages_with(const json_t *defs, const char *flag, char *out,
                        size_t cap)
{
    size_t i, n = 0;
    json_t *d;
    out[0] = '\0';
    json_array_foreach(defs, i, d) {
        const char *k = json_string_value(json_object_get(d, "key"));
        if (k && json_is_true(json_object_get(d, flag)) && n + strlen(k) + 2 < cap)
            n += (size_t)snprintf(out + n, cap - n, "%s%s", n ? "," : "", k);
    }
}

/* ---- Per-rep rows ----------------------------------------------------------- */

static json_t *row_for(json_t *rows, const char *user)
{
    json_t *row = json_object_get(rows, user);
    if (!row) {
        row = json_pack("{s:s, s:i, s:i, s:i, s:n}", "user", user, "customers", 0,
                        "followups_7d", 0, "overdue", 0, "last_sync");
        json_object_set_new(rows, user, row);
    }
    return row;
}

static void add(json_t *row, const char *key, json_int_t n)
{
    json_object_set_new(row, key, json_integer(
        json_integer_value(json_object_get(row, key)) + n));
}

/* Sorted array of the rows of an object keyed by user. */
static json_t *by_user(json_t *rows)
{
    size_t n = json_object_size(rows), k = 0;
    const char **keys = calloc(n ? n : 1, sizeof *keys);
    json_t *arr = json_array(), *row;
    const char *key;
    if (!keys || !arr) {
        free(keys);
        json_decref(arr);
        return NULL;
    }
    json_object_foreach(rows, key, row)
        keys[k++] = key;
    qsort(keys, n, sizeof *keys, cmp_str);
    for (k = 0; k < n; k++)
        json_array_append(arr, json_object_get(rows, keys[k]));
    free(keys);
    return arr;
}

/* ---- One pass over the visible customers ------------------------------------- */

typedef struct pass {
    const json_t *sdefs;
    int64_t now_ms;
    json_t *stages;         /* key -> count */
    json_t *rows;           /* owner -> summary.reps row */
    json_int_t customers;
    /* analysis only */
    int analysis;
    json_t *names;          /* id -> name of the won customers */
    json_t *money;          /* key -> {"count","with_amount","value"} */
    json_t *forecast;       /* "YYYY-MM" -> weighted value */
    json_t *winrate;        /* owner -> {"won","lost"} */
    json_t *birthdays;
    double won_sum;
    json_int_t won_n;
    /* The next BIRTHDAY_DAYS + 1 days in the figures' zone, made once
    ** (mktime per customer and day was most of an analysis). */
    int day_m[BIRTHDAY_DAYS + 1], day_d[BIRTHDAY_DAYS + 1], day_leap[BIRTHDAY_DAYS + 1];
} pass;

static int leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Month and day of a birthday "YYYY-MM-DD", "MM-DD" or "--MM-DD" (ISO
** 8601 without a year); 0 if unreadable. */
static int birthday_md(const char *b, int *m, int *d)
{
    int y;
    char tail;
    if (!b)
        return 0;
    if (sscanf(b, "%d-%d-%d%c", &y, m, d, &tail) == 3 && y > 0)
        return *m >= 1 && *m <= 12 && *d >= 1 && *d <= 31;
    if (b[0] == '-' && b[1] == '-')
        b += 2;
    if (sscanf(b, "%2d-%2d%c", m, d, &tail) == 2)
        return *m >= 1 && *m <= 12 && *d >= 1 && *d <= 31;
    return 0;
}

/* The calendar of today and the BIRTHDAY_DAYS days after it, in the
** current zone. */
static void calendar(pass *p)
{
    time_t now = (time_t)(p->now_ms / 1000);
    struct tm today;
    localtime_r(&now, &today);
    for (int k = 0; k <= BIRTHDAY_DAYS; k++) {
        struct tm t = today;
        t.tm_mday += k;
        t.tm_hour = 12;
        t.tm_isdst = -1;
        mktime(&t);
        p->day_m[k] = t.tm_mon + 1;
        p->day_d[k] = t.tm_mday;
        p->day_leap[k] = leap(t.tm_year + 1900);
    }
}

static void birthday(pass *p, const fsv_office_cust *c)
{
    int m, d;
    if (!birthday_md(c->birthday, &m, &d))
        return;
    for (int k = 0; k <= BIRTHDAY_DAYS; k++) {
        int bd = d;
        if (m == 2 && bd == 29 && !p->day_leap[k])
            bd = 28;
        if (p->day_m[k] == m && p->day_d[k] == bd) {
            json_array_append_new(p->birthdays, json_pack(
                "{s:s, s:s?, s:s, s:i}", "id", c->id, "name", c->name,
                "birthday", c->birthday, "days", k));
            return;
        }
    }
}

static double probability(const json_t *defs, const char *key)
{
    size_t i;
    json_t *d;
    json_array_foreach(defs, i, d) {
        const char *k = json_string_value(json_object_get(d, "key"));
        if (k && key && strcmp(k, key) == 0)
            return json_number_value(json_object_get(d, "probability"));
    }
    return 0;
}

static void add_real(json_t *obj, const char *key, double v)
{
    json_object_set_new(obj, key, json_real(
        json_number_value(json_object_get(obj, key)) + v));
}

static int on_customer(void *ud, const fsv_office_cust *c)
{
    pass *p = ud;
    p->customers++;
    json_t *n = c->stage ? json_object_get(p->stages, c->stage) : NULL;
    if (n)
        json_object_set_new(p->stages, c->stage, json_integer(json_integer_value(n) + 1));
    add(row_for(p->rows, c->owner ? c->owner : ""), "customers", 1);
    if (!p->analysis)
        return FSV_OK;
    int won = fsv_fig_stage_flag(p->sdefs, c->stage, "won");
    int lost = fsv_fig_stage_flag(p->sdefs, c->stage, "lost");
    if (won)
        json_object_set_new(p->names, c->id, json_string(c->name ? c->name : ""));
    json_t *m = c->stage ? json_object_get(p->money, c->stage) : NULL;
    if (m) {
        add(m, "count", 1);
        if (c->has_amount) {
            add(m, "with_amount", 1);
            add_real(m, "value", c->amount);
        }
    }
    if (!won && !lost && c->has_amount && c->close && strlen(c->close) >= 7) {
        char month[8];
        snprintf(month, sizeof month, "%.7s", c->close);
        add_real(p->forecast, month,
                 c->amount * probability(p->sdefs, c->stage) / 100.0);
    }
    if (won || lost) {
        const char *o = c->owner ? c->owner : "";
        json_t *w = json_object_get(p->winrate, o);
        if (!w) {
            w = json_pack("{s:i, s:i}", "won", 0, "lost", 0);
            json_object_set_new(p->winrate, o, w);
        }
        add(w, won ? "won" : "lost", 1);
    }
    if (won && c->has_amount) {
        p->won_sum += c->amount;
        p->won_n++;
    }
    birthday(p, c);
    return FSV_OK;
}

/* followups_7d and overdue per owner of the customer. */
static int on_recent(void *ud, const fsv_office_child *k)
{
    add(row_for(ud, k->owner ? k->owner : ""), "followups_7d", 1);
    return FSV_OK;
}

static int on_plan(void *ud, const fsv_office_child *k)
{
    if (!k->done)
        add(row_for(ud, k->owner ? k->owner : ""), "overdue", 1);
    return FSV_OK;
}

static void last_syncs(fsv_store *st, json_t *rows)
{
    json_t *devices = NULL, *x;
    size_t i;
    if (fsv_store_api_devices(st, &devices) != FSV_OK)
        return;
    json_array_foreach(devices, i, x) {
        const char *user = json_string_value(json_object_get(x, "user"));
        json_int_t ms = json_integer_value(json_object_get(x, "last_sync_ms"));
        json_t *row = user ? json_object_get(rows, user) : NULL;
        if (!row || ms <= 0)
            continue;
        json_t *cur = json_object_get(row, "last_sync_ms");
        if (!cur || json_integer_value(cur) < ms)
            json_object_set_new(row, "last_sync_ms", json_integer(ms));
    }
    json_decref(devices);
    const char *key;
    json_t *row;
    json_object_foreach(rows, key, row) {
        json_t *ms = json_object_get(row, "last_sync_ms");
        if (ms) {
            char at[40];
            fds_time_format(json_integer_value(ms), at, sizeof at);
            json_object_set_new(row, "last_sync", json_string(at));
            json_object_del(row, "last_sync_ms");
        }
    }
}

static int count_conflict(void *ud, const char *tbl, const char *rid,
                          const char *field, const char *customer,
                          const char *name)
{
    (void)tbl, (void)rid, (void)field, (void)customer, (void)name;
    (*(json_int_t *)ud)++;
    return FSV_OK;
}

/* ---- The same from the store's aggregates ------------------------------------- */
/* A backend that keeps aggregates (store.h, fsv_store_office_agg_customers)
** answers sums per owner, stage and month, and counts of follow-ups and
** plans per owner in time buckets: the figures add those up instead of
** visiting every customer.  What is per customer (won customers' names,
** birthdays) comes from a selection of the customers concerned. */

static int on_agg(void *ud, const fsv_office_agg *g)
{
    pass *p = ud;
    p->customers += g->n;
    json_t *n = g->stage ? json_object_get(p->stages, g->stage) : NULL;
    if (n)
        json_object_set_new(p->stages, g->stage, json_integer(json_integer_value(n) + g->n));
    add(row_for(p->rows, g->owner ? g->owner : ""), "customers", g->n);
    if (!p->analysis)
        return FSV_OK;
    int won = fsv_fig_stage_flag(p->sdefs, g->stage, "won");
    int lost = fsv_fig_stage_flag(p->sdefs, g->stage, "lost");
    json_t *m = g->stage ? json_object_get(p->money, g->stage) : NULL;
    if (m) {
        add(m, "count", g->n);
        if (g->n_amount) {
            add(m, "with_amount", g->n_amount);
            add_real(m, "value", g->amount);
        }
    }
    if (!won && !lost && g->n_amount && g->month && g->month[0])
        add_real(p->forecast, g->month,
                 g->amount * probability(p->sdefs, g->stage) / 100.0);
    if (won || lost) {
        const char *o = g->owner ? g->owner : "";
        json_t *w = json_object_get(p->winrate, o);
        if (!w) {
            w = json_pack("{s:i, s:i}", "won", 0, "lost", 0);
            json_object_set_new(p->winrate, o, w);
        }
        add(w, won ? "won" : "lost", g->n);
    }
    if (won && g->n_amount) {
        p->won_sum += g->amount;
        p->won_n += g->n_amount;
    }
    return FSV_OK;
}

static int on_count(void *ud, size_t bucket, const char *owner, const char *text,
                    int64_t n)
{
    const char *const *what = ud;
    (void)bucket, (void)text;
    add(row_for((json_t *)what[0], owner ? owner : ""), what[1], n);
    return FSV_OK;
}

/* A selected customer: a won one's name, a birthday in the window. */
static int on_selected(void *ud, const fsv_office_cust *c)
{
    pass *p = ud;
    if (fsv_fig_stage_flag(p->sdefs, c->stage, "won"))
        json_object_set_new(p->names, c->id, json_string(c->name ? c->name : ""));
    birthday(p, c);
    return FSV_OK;
}

/* FSV_NOTFOUND: the store keeps no aggregates. */
static int agg_pass(fsv_store *st, const fsv_scope *sc, pass *p)
{
    int rc = fsv_store_office_agg_customers(st, sc, on_agg, p);
    if (rc != FSV_OK)
        return rc;
    const void *recent[2] = {p->rows, "followups_7d"};
    const void *overdue[2] = {p->rows, "overdue"};
    int64_t week[2] = {p->now_ms - 7 * DAY_MS, p->now_ms + 1};
    int64_t past[2] = {INT64_MIN, p->now_ms};
    /* Past the first call, the store has aggregates: no fallback. */
    rc = fsv_store_office_child_counts(st, sc, "followup", week, 2, on_count,
                                       (void *)recent);
    if (rc == FSV_OK)
        rc = fsv_store_office_child_counts(st, sc, "plan", past, 2, on_count,
                                           (void *)overdue);
    if (rc != FSV_OK || !p->analysis)
        return rc == FSV_NOTFOUND ? FSV_ERROR : rc;
    /* The days of the birthday window as "MM-DD" (a 29 February birthday
    ** is shown on the 28th in other years). */
    char won[512];
    stages_with(p->sdefs, "won", won, sizeof won);
    json_t *mds = json_array();
    for (int k = 0; mds && k <= BIRTHDAY_DAYS; k++) {
        char md[16];
        snprintf(md, sizeof md, "%02d-%02d", p->day_m[k], p->day_d[k]);
        json_array_append_new(mds, json_string(md));
        if (p->day_m[k] == 2 && p->day_d[k] == 28)
            json_array_append_new(mds, json_string("02-29"));
    }
    char *md_json = mds ? json_dumps(mds, JSON_COMPACT) : NULL;
    json_decref(mds);
    if (!md_json)
        return FSV_NOMEM;
    rc = fsv_store_office_customers_sel(st, sc, won[0] ? won : NULL, md_json,
                                        on_selected, p);
    free(md_json);
    return rc == FSV_NOTFOUND ? FSV_ERROR : rc;
}

/* The pass and the per-rep rows for summary and analysis. */
static int run_pass(fsv_store *st, const fsv_user *u, const fsv_scope *sc,
                    pass *p)
{
    size_t i;
    json_t *d;
    p->stages = json_object();
    p->rows = json_object();
    p->names = json_object();
    p->money = json_object();
    p->forecast = json_object();
    p->winrate = json_object();
    p->birthdays = json_array();
    if (!p->stages || !p->rows || !p->names || !p->money || !p->forecast ||
        !p->winrate || !p->birthdays)
        return FSV_NOMEM;
    json_array_foreach(p->sdefs, i, d) {
        const char *k = json_string_value(json_object_get(d, "key"));
        json_object_set_new(p->stages, k, json_integer(0));
        json_object_set_new(p->money, k, json_pack("{s:i, s:i, s:f}", "count", 0,
                                                   "with_amount", 0, "value", 0.0));
    }
    if (strcmp(u->role, "rep") == 0)
        row_for(p->rows, u->name);
    int rc = agg_pass(st, sc, p);
    if (rc == FSV_OK) {
        last_syncs(st, p->rows);
        return rc;
    }
    if (rc != FSV_NOTFOUND)
        return rc;
    rc = fsv_store_office_customers(st, sc, on_customer, p);
    if (rc == FSV_OK)
        rc = fsv_store_office_children(st, sc, "followup", p->now_ms - 7 * DAY_MS,
                                       p->now_ms + 1, NULL, on_recent, p->rows);
    if (rc == FSV_OK)
        rc = fsv_store_office_children(st, sc, "plan", INT64_MIN, p->now_ms, NULL,
                                       on_plan, p->rows);
    if (rc == FSV_OK)
        last_syncs(st, p->rows);
    return rc;
}

static void pass_clear(pass *p)
{
    json_decref(p->stages);
    json_decref(p->rows);
    json_decref(p->names);
    json_decref(p->money);
    json_decref(p->forecast);
    json_decref(p->winrate);
    json_decref(p->birthdays);
}

int fsv_fig_summary(fsv_store *st, const fsv_user *u, json_t *sdefs,
                    json_t *fdefs, int64_t now_ms, int64_t head, json_t **out)
{
    return fsv_fig_summary_team(st, u, NULL, sdefs, fdefs, now_ms, head, out);
}

int fsv_fig_summary_team(fsv_store *st, const fsv_user *u, const char *team,
                         json_t *sdefs, json_t *fdefs, int64_t now_ms,
                         int64_t head, json_t **out)
{
    fsv_scope sc;
    pass p;
    json_int_t conflicts = 0, overdue = 0;
    *out = NULL;
    fsv_vis_scope(u, &sc);
    sc.filter_team = team;
    memset(&p, 0, sizeof p);
    p.sdefs = sdefs;
    p.now_ms = now_ms;
    int rc = fsv_store_begin_read(st);
    if (rc == FSV_OK) {
        rc = run_pass(st, u, &sc, &p);
        if (rc == FSV_OK)
            rc = fsv_store_office_conflicts(st, &sc, count_conflict, &conflicts);
        fsv_store_rollback(st);
    }
    json_t *reps = rc == FSV_OK ? by_user(p.rows) : NULL, *x;
    size_t i;
    if (!reps) {
        pass_clear(&p);
        return rc == FSV_OK ? FSV_NOMEM : rc;
    }
    json_array_foreach(reps, i, x)
        overdue += json_integer_value(json_object_get(x, "overdue"));
    *out = json_pack("{s:I, s:O, s:O, s:O, s:o, s:I, s:I, s:I}", "head",
                     (json_int_t)head, "stages", p.stages, "stage_defs", sdefs,
                     "field_defs", fdefs, "reps", reps, "customers", p.customers,
                     "overdue", overdue, "conflicts", conflicts);
    pass_clear(&p);
    return *out ? FSV_OK : FSV_NOMEM;
}

/* ---- Analysis ------------------------------------------------------------------- */

typedef struct reach {
    json_t *counts;         /* stage -> customers that had it */
} reach;

static int on_reached(void *ud, const char *key, int64_t n)
{
    json_object_set_new(((reach *)ud)->counts, key, json_integer(n));
    return FSV_OK;
}

static json_t *funnel(const json_t *defs, json_t *stages, json_t *reached)
{
    json_t *out = json_array(), *d;
    size_t i;
    json_int_t prev = -1;
    json_array_foreach(defs, i, d) {
        const char *key = json_string_value(json_object_get(d, "key"));
        json_int_t count = json_integer_value(json_object_get(stages, key));
        json_int_t r = json_integer_value(json_object_get(reached, key));
        if (json_is_true(json_object_get(d, "lost"))) {
            json_array_append_new(out, json_pack("{s:s, s:I, s:I, s:n}", "stage",
                                                 key, "count", count, "reached",
                                                 count, "conversion"));
            continue;
        }
        json_t *conv = prev > 0 ? json_real(round_to((double)r / (double)prev, 1e-4))
                                : json_null();
        json_array_append_new(out, json_pack("{s:s, s:I, s:I, s:o}", "stage", key,
                                             "count", count, "reached", r,
                                             "conversion", conv));
        prev = r;
    }
    return out;
}

/* Local midnight of the Monday of the week containing t. */
static time_t week_start(time_t t)
{
    struct tm tm;
    localtime_r(&t, &tm);
    tm.tm_mday -= (tm.tm_wday + 6) % 7;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_isdst = -1;
    return mktime(&tm);
}

static int on_week(void *ud, const fsv_office_child *k)
{
    time_t t = (time_t)(k->at_ms / 1000);
    struct tm tm;
    char key[160], week[16];
    localtime_r(&t, &tm);
    strftime(week, sizeof week, "%G-W%V", &tm);
    snprintf(key, sizeof key, "%s\t%s", week, k->text ? k->text : "");
    json_t *n = json_object_get(ud, key);
    json_object_set_new(ud, key, json_integer(json_integer_value(n) + 1));
    return FSV_OK;
}

typedef struct week_labels {
    char label[WEEKS][16];
    json_t *counts;
} week_labels;

static int on_week_count(void *ud, size_t bucket, const char *owner,
                         const char *author, int64_t n)
{
    week_labels *w = ud;
    char key[160];
    (void)owner;
    snprintf(key, sizeof key, "%s\t%s", w->label[bucket], author ? author : "");
    json_t *c = json_object_get(w->counts, key);
    json_object_set_new(w->counts, key, json_integer(json_integer_value(c) + n));
    return FSV_OK;
}

/* The WEEKS weeks from the local Monday `from`, from the store's counts
** (FSV_NOTFOUND: it keeps none). */
static int week_counts(fsv_store *st, const fsv_scope *sc, time_t from,
                       json_t *counts)
{
    int64_t bounds[WEEKS + 1];
    week_labels w;
    w.counts = counts;
    struct tm tm;
    localtime_r(&from, &tm);
    for (int k = 0; k <= WEEKS; k++) {
        struct tm t = tm;
        t.tm_mday += 7 * k;
        t.tm_isdst = -1;
        time_t b = mktime(&t);
        bounds[k] = (int64_t)b * 1000;
        if (k < WEEKS) {
            struct tm lt;
            localtime_r(&b, &lt);
            strftime(w.label[k], sizeof w.label[k], "%G-W%V", &lt);
        }
    }
    return fsv_store_office_child_counts(st, sc, "followup", bounds, WEEKS + 1,
                                         on_week_count, &w);
}

static json_t *weekly(fsv_store *st, const fsv_scope *sc, int64_t now_ms)
{
    time_t start = week_start((time_t)(now_ms / 1000));
    struct tm tm;
    localtime_r(&start, &tm);
    tm.tm_mday -= 7 * (WEEKS - 1);
    tm.tm_isdst = -1;
    time_t from = mktime(&tm);
    localtime_r(&start, &tm);
    tm.tm_mday += 7;
    tm.tm_isdst = -1;
    time_t to = mktime(&tm);
    json_t *counts = json_object(), *out = json_array(), *v;
    int rc = week_counts(st, sc, from, counts);
    if (rc == FSV_NOTFOUND)
        rc = fsv_store_office_children(st, sc, "followup", (int64_t)from * 1000,
                                       (int64_t)to * 1000, NULL, on_week, counts);
    if (rc != FSV_OK) {
        json_decref(counts);
        json_decref(out);
        return NULL;
    }
    size_t n = json_object_size(counts), k = 0;
    const char **keys = calloc(n ? n : 1, sizeof *keys);
    const char *key;
    json_object_foreach(counts, key, v)
        if (keys)
            keys[k++] = key;
    if (keys)
        qsort(keys, k, sizeof *keys, cmp_str);
    for (size_t m = 0; keys && m < k; m++) {
        char week[16];
        const char *tab = strchr(keys[m], '\t');
        snprintf(week, sizeof week, "%.*s", (int)(tab - keys[m]), keys[m]);
        json_array_append_new(out, json_pack("{s:s, s:s, s:I}", "user", tab + 1,
                                             "week", week, "count",
                                             json_integer_value(json_object_get(counts, keys[m]))));
    }
    free(keys);
    json_decref(counts);
    return out;
}

/* Won customers: the time of the latest stage change into a won stage,
** the earliest follow-up, and the follow-ups up to the win by weekday and
** hour. */
typedef struct wins {
    const json_t *sdefs;
    json_t *won_at;         /* id -> ms */
    json_t *first;          /* id -> ms */
    int cells[7][24];
    /* The follow-ups come customer after customer: the last one's
    ** entries, not looked up again for each of its rows. */
    char last[160];
    json_t *last_first, *last_won;
} wins;

static int on_win_change(void *ud, const fsv_office_child *k)
{
    wins *w = ud;
    if (!fsv_fig_stage_flag(w->sdefs, k->text, "won"))
        return FSV_OK;
    json_t *cur = json_object_get(w->won_at, k->customer);
    if (!cur)
        json_object_set_new(w->won_at, k->customer, json_integer(k->at_ms));
    else if (json_integer_value(cur) < k->at_ms)
        json_integer_set(cur, k->at_ms);
    return FSV_OK;
}

static int on_win_followup(void *ud, const fsv_office_child *k)
{
    wins *w = ud;
    if (!k->customer)
        return FSV_OK;
    if (strcmp(w->last, k->customer) != 0) {
        snprintf(w->last, sizeof w->last, "%s", k->customer);
        w->last_first = json_object_get(w->first, k->customer);
        w->last_won = json_object_get(w->won_at, k->customer);
        if (!w->last_first) {
            w->last_first = json_integer(k->at_ms);
            json_object_set_new(w->first, k->customer, w->last_first);
        }
    }
    if (json_integer_value(w->last_first) > k->at_ms)
        json_integer_set(w->last_first, k->at_ms);
    if (w->last_won && k->at_ms <= json_integer_value(w->last_won)) {
        time_t t = (time_t)(k->at_ms / 1000);
        struct tm tm;
        localtime_r(&t, &tm);
        w->cells[(tm.tm_wday + 6) % 7][tm.tm_hour]++;
    }
    return FSV_OK;
}

/* Rows sorted by days, then name, then id ("id" or "customer"): a total
** order, which the paged lists' cursors need (api_summary.c).  The keys
** are read once (a comparator reading the JSON objects was a tenth of a
** head office's analysis). */
typedef struct dn_key {
    double days;
    const char *name, *id;
    json_t *row;
} dn_key;

static int cmp_dn(const void *a, const void *b)
{
    const dn_key *x = a, *y = b;
    if (x->days != y->days)
        return x->days < y->days ? -1 : 1;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->id, y->id);
}

static json_t *sorted_days_name(json_t *arr)
{
    size_t n = json_array_size(arr);
    dn_key *v = calloc(n ? n : 1, sizeof *v);
    json_t *out = json_array();
    if (!v || !out) {
        free(v);
        json_decref(out);
        return arr;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_array_get(arr, i);
        const char *name = json_string_value(json_object_get(x, "name"));
        const char *id = json_string_value(json_object_get(x, "id"));
        if (!id)
            id = json_string_value(json_object_get(x, "customer"));
        v[i] = (dn_key){json_number_value(json_object_get(x, "days")),
                        name ? name : "", id ? id : "", x};
    }
    qsort(v, n, sizeof *v, cmp_dn);
    for (size_t i = 0; i < n; i++)
        json_array_append(out, v[i].row);
    free(v);
    json_decref(arr);
    return out;
}

static json_t *sorted(json_t *arr, int (*cmp)(const void *, const void *))
{
    size_t n = json_array_size(arr);
    json_t **v = calloc(n ? n : 1, sizeof *v), *out = json_array();
    for (size_t i = 0; v && i < n; i++)
        v[i] = json_array_get(arr, i);
    if (v)
        qsort(v, n, sizeof *v, cmp);
    for (size_t i = 0; v && i < n; i++)
        json_array_append(out, v[i]);
    free(v);
    json_decref(arr);
    return out;
}

static int win_figures(fsv_store *st, const fsv_scope *sc, const json_t *sdefs,
                       json_t *names, json_t **ttw, json_t **hours)
{
    char won[512];
    wins w;
    memset(&w, 0, sizeof w);
    w.sdefs = sdefs;
    w.won_at = json_object();
    w.first = json_object();
    stages_with(sdefs, "won", won, sizeof won);
    int rc = FSV_OK;
    if (won[0]) {
        rc = fsv_store_office_children(st, sc, "stagechg", INT64_MIN, INT64_MAX,
                                       won, on_win_change, &w);
        if (rc == FSV_OK)
            rc = fsv_store_office_children(st, sc, "followup", INT64_MIN,
                                           INT64_MAX, won, on_win_followup, &w);
    }
    *ttw = json_array();
    const char *id;
    json_t *first;
    json_object_foreach(w.first, id, first) {
        json_t *at = json_object_get(w.won_at, id);
        if (!at)
            continue;
        int64_t f = json_integer_value(first), wms = json_integer_value(at);
        double days = wms > f ? round_to((double)(wms - f) / 86400000.0, 0.1) : 0.0;
        json_array_append_new(*ttw, json_pack("{s:s, s:O, s:f}", "customer", id,
                                              "name", json_object_get(names, id)
                                                  ? json_object_get(names, id)
                                                  : json_null(),
                                              "days", days));
    }
    *ttw = sorted_days_name(*ttw);
    *hours = json_array();
    for (int d = 0; d < 7; d++)
        for (int h = 0; h < 24; h++)
            if (w.cells[d][h])
                json_array_append_new(*hours, json_pack("{s:i, s:i, s:i}", "weekday", d,
                                                        "hour", h, "count", w.cells[d][h]));
    json_decref(w.won_at);
    json_decref(w.first);
    return rc;
}

/* Conflicts: every version of each conflicted register, newest first. */
typedef struct conf {
    fsv_store *st;
    json_t *out;
} conf;

static int on_conflict(void *ud, const char *tbl, const char *rid,
                       const char *field, const char *customer, const char *name)
{
    conf *c = ud;
    fds_register reg;
    memset(&reg, 0, sizeof reg);
    int rc = fsv_store_api_register(c->st, tbl, rid, field, &reg);
    if (rc == FSV_NOTFOUND)
        return FSV_OK;
    if (rc != FSV_OK)
        return rc;
    json_t *values = json_array();
    char latest[40] = "";
    for (size_t i = 0; i < reg.n; i++) {
        char at[40];
        const fdsp_change *v = &reg.v[i];
        fds_time_format((int64_t)(v->hlc >> 16), at, sizeof at);
        if (strcmp(at, latest) > 0)
            memcpy(latest, at, sizeof latest);
        json_array_append_new(values, json_pack(
            "{s:o, s:s, s:s, s:s}", "value", v->value ? json_string(v->value) : json_null(),
            "user", v->user ? v->user : "", "device", v->device ? v->device : "",
            "at", at));
    }
    /* The conflict's id as core names it on a replica (ids.c): FNV-1a 64
    ** over table, record and field, each with its NUL, in hex. */
    uint64_t h = 0xcbf29ce484222325ULL;
    const char *parts[3] = {tbl, rid, field};
    for (int i = 0; i < 3; i++) {
        const unsigned char *q = (const unsigned char *)parts[i];
        do {
            h ^= *q;
            h *= 0x100000001b3ULL;
        } while (*q++);
    }
    char id[17];
    snprintf(id, sizeof id, "%016llx", (unsigned long long)h);
    json_array_append_new(c->out, json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s?, s:o, s:s}", "id", id, "table", tbl,
        "record", rid, "field", field, "customer", customer, "name", name,
        "values", values, "latest", latest));
    fds_register_clear(&reg);
    return FSV_OK;
}

static int cmp_latest(const void *a, const void *b)
{
    const char *x = json_string_value(json_object_get(*(json_t *const *)a, "latest"));
    const char *y = json_string_value(json_object_get(*(json_t *const *)b, "latest"));
    return strcmp(y ? y : "", x ? x : "");
}

static json_t *devices(fsv_store *st, const fsv_user *u, json_t *reps)
{
    json_t *all = NULL, *out = json_array(), *d, *x;
    size_t i, j;
    if (fsv_store_api_devices(st, &all) != FSV_OK)
        return out;
    int sees_all = fsv_vis_sees_all(u);
    json_array_foreach(all, i, d) {
        const char *user = json_string_value(json_object_get(d, "user"));
        int ok = sees_all || strcmp(user, u->name) == 0;
        json_array_foreach(reps, j, x)
            if (!ok && strcmp(json_string_value(json_object_get(x, "user")), user) == 0)
                ok = 1;
        json_int_t ms = json_integer_value(json_object_get(d, "last_sync_ms"));
        if (!ok)
            continue;
        char at[40];
        fds_time_format(ms, at, sizeof at);
        json_array_append_new(out, json_pack("{s:O, s:s, s:o}", "device",
                                             json_object_get(d, "device"), "user", user,
                                             "last_sync", ms > 0 ? json_string(at) : json_null()));
    }
    json_decref(all);
    return out;
}

/* Issue 13's money: pipeline value per stage, weighted forecast by month
** of expected close, win rate per rep, average deal size. */
static json_t *money(const json_t *sdefs, pass *p)
{
    json_t *pipeline = json_array(), *forecast = json_array(), *d, *v;
    size_t i;
    json_array_foreach(sdefs, i, d) {
        const char *k = json_string_value(json_object_get(d, "key"));
        json_t *m = json_object_get(p->money, k);
        json_array_append_new(pipeline, json_pack(
            "{s:s, s:O, s:O, s:f, s:O}", "stage", k, "count", json_object_get(m, "count"),
            "with_amount", json_object_get(m, "with_amount"), "value",
            round_to(json_number_value(json_object_get(m, "value")), 0.01),
            "probability", json_object_get(d, "probability")
                ? json_object_get(d, "probability") : json_null()));
    }
    size_t n = json_object_size(p->forecast), k = 0;
    const char **keys = calloc(n ? n : 1, sizeof *keys), *key;
    json_object_foreach(p->forecast, key, v)
        if (keys)
            keys[k++] = key;
    if (keys)
        qsort(keys, k, sizeof *keys, cmp_str);
    for (size_t m = 0; keys && m < k; m++)
        json_array_append_new(forecast, json_pack(
            "{s:s, s:f}", "month", keys[m], "weighted",
            round_to(json_number_value(json_object_get(p->forecast, keys[m])), 0.01)));
    free(keys);
    json_t *rates = json_object();
    json_object_foreach(p->winrate, key, v) {
        json_int_t won = json_integer_value(json_object_get(v, "won"));
        json_int_t lost = json_integer_value(json_object_get(v, "lost"));
        json_object_set_new(rates, key, json_pack(
            "{s:s, s:I, s:I, s:f}", "user", key, "won", won, "lost", lost, "rate",
            won + lost ? round_to((double)won / (double)(won + lost), 1e-4) : 0.0));
    }
    json_t *per_rep = by_user(rates);
    json_decref(rates);
    return json_pack("{s:o, s:o, s:o, s:o}", "pipeline", pipeline,
                     "forecast", forecast, "win_rate", per_rep ? per_rep : json_array(),
                     "avg_deal", p->won_n ? json_real(round_to(p->won_sum / (double)p->won_n, 0.01))
                                          : json_null());
}

int fsv_fig_analysis(fsv_store *st, const fsv_user *u, json_t *sdefs,
                     int64_t now_ms, const char *tz, int64_t head, json_t **out)
{
    return fsv_fig_analysis_team(st, u, NULL, sdefs, now_ms, tz, head, out);
}

int fsv_fig_analysis_team(fsv_store *st, const fsv_user *u, const char *team,
                          json_t *sdefs, int64_t now_ms, const char *tz,
                          int64_t head, json_t **out)
{
    fsv_scope sc;
    pass p;
    reach r = {json_object()};
    conf cf = {st, json_array()};
    json_t *weeks = NULL, *ttw = NULL, *hours = NULL;
    fsv_tz_saved saved;
    *out = NULL;
    fsv_vis_scope(u, &sc);
    sc.filter_team = team;
    memset(&p, 0, sizeof p);
    p.sdefs = sdefs;
    p.now_ms = now_ms;
    p.analysis = 1;
    fsv_tz_enter(tz, &saved);
    calendar(&p);
    int rc = fsv_store_begin_read(st);
    if (rc == FSV_OK) {
        rc = run_pass(st, u, &sc, &p);
        if (rc == FSV_OK)
            rc = fsv_store_office_reached(st, &sc, on_reached, &r);
        if (rc == FSV_OK && !(weeks = weekly(st, &sc, now_ms)))
            rc = FSV_ERROR;
        if (rc == FSV_OK)
            rc = win_figures(st, &sc, sdefs, p.names, &ttw, &hours);
        if (rc == FSV_OK)
            rc = fsv_store_office_conflicts(st, &sc, on_conflict, &cf);
        fsv_store_rollback(st);
    }
    fsv_tz_leave(&saved);
    json_t *reps = rc == FSV_OK ? by_user(p.rows) : NULL, *x;
    size_t i;
    if (reps) {
        json_t *overdue = json_array();
        json_array_foreach(reps, i, x)
            json_array_append_new(overdue, json_pack("{s:O, s:O}", "user",
                                                     json_object_get(x, "user"), "overdue",
                                                     json_object_get(x, "overdue")));
        json_t *conflicts = sorted(cf.out, cmp_latest);
        cf.out = NULL;
        json_array_foreach(conflicts, i, x)
            json_object_del(x, "latest");
        *out = json_pack("{s:I, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
                         "head", (json_int_t)head, "tz", tz && tz[0] ? tz : "local",
                         "funnel", funnel(sdefs, p.stages, r.counts),
                         "followups_per_rep_week", weeks,
                         "overdue_per_rep", overdue, "time_to_won", ttw,
                         "win_hours", hours,
                         "birthdays", sorted_days_name(json_incref(p.birthdays)),
                         "conflicts", conflicts,
                         "devices", devices(st, u, reps),
                         "money", money(sdefs, &p));
        weeks = ttw = hours = NULL;
        json_decref(reps);
    }
    json_decref(weeks);
    json_decref(ttw);
    json_decref(hours);
    json_decref(cf.out);
    json_decref(r.counts);
    pass_clear(&p);
    if (rc == FSV_OK && !*out)
        rc = FSV_NOMEM;
    return rc;
}
