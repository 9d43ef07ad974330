/*
** api_analysis.c — GET /api/analysis (docs/API.md): the funnel with
** conversion, follow-ups per rep and ISO week, overdue plans per rep, time
** from first follow-up to won, the weekday/hour of follow-ups before wins,
** upcoming birthdays, open conflicts and devices' last sync.  Weeks,
** weekdays, hours and "today" are in the server's local time zone.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "visibility.h"

#define WEEKS 12
#define BIRTHDAY_DAYS 30

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static double round_to(double x, double unit)
{
    return round(x / unit) * unit;
}

/* Index of stage key among the non-lost stages, -1 if none. */
static int pipeline_index(json_t *defs, const char *key)
{
    size_t i;
    json_t *d;
    int k = 0;
    if (!key)
        return -1;
    json_array_foreach(defs, i, d) {
        if (json_is_true(json_object_get(d, "lost")))
            continue;
        if (strcmp(json_string_value(json_object_get(d, "key")), key) == 0)
            return k;
        k++;
    }
    return -1;
}

static int furthest(fds_replica *r, json_t *defs, json_t *sheet)
{
    int best = pipeline_index(defs, json_string_value(json_object_get(sheet, "stage")));
    json_t *hist = NULL, *e;
    size_t i;
    if (fds_history(r, json_string_value(json_object_get(sheet, "id")), &hist) != FDS_OK)
        return best;
    json_array_foreach(hist, i, e) {
        const char *t = json_string_value(json_object_get(e, "table"));
        const char *f = json_string_value(json_object_get(e, "field"));
        if (!t || !f)
            continue;
        if ((strcmp(t, "customer") == 0 && strcmp(f, "stage") == 0) ||
            (strcmp(t, "stagechg") == 0 &&
             (strcmp(f, "from") == 0 || strcmp(f, "to") == 0))) {
            int k = pipeline_index(defs, json_string_value(json_object_get(e, "value")));
            if (k > best)
                best = k;
        }
    }
    json_decref(hist);
    return best;
}

static json_t *funnel(fds_replica *r, json_t *defs, json_t *sheets)
{
    size_t nd = json_array_size(defs), i, j;
    int *reached = calloc(nd + 1, sizeof *reached);
    json_t *out = json_array(), *s, *d;
    if (!reached || !out) {
        free(reached);
        json_decref(out);
        return NULL;
    }
    json_array_foreach(sheets, i, s) {
        int f = furthest(r, defs, s);
        for (int k = 0; k <= f && k < (int)nd; k++)
            reached[k]++;
    }
    int k = 0, prev = -1;
    json_array_foreach(defs, i, d) {
        const char *key = json_string_value(json_object_get(d, "key"));
        int count = 0;
        json_array_foreach(sheets, j, s) {
            const char *st = json_string_value(json_object_get(s, "stage"));
            count += st && strcmp(st, key) == 0;
        }
        json_t *row;
        if (json_is_true(json_object_get(d, "lost"))) {
            row = json_pack("{s:s, s:i, s:i, s:n}", "stage", key, "count", count,
                            "reached", count, "conversion");
        } else {
            json_t *conv = prev > 0 ? json_real(round_to((double)reached[k] / prev, 1e-4))
                                    : json_null();
            row = json_pack("{s:s, s:i, s:i, s:o}", "stage", key, "count", count,
                            "reached", reached[k], "conversion", conv);
            prev = reached[k];
            k++;
        }
        json_array_append_new(out, row);
    }
    free(reached);
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

static json_t *weekly(json_t *sheets, int64_t now_ms)
{
    time_t now = (time_t)(now_ms / 1000), start = week_start(now);
    struct tm tm;
    localtime_r(&start, &tm);
    tm.tm_mday -= 7 * (WEEKS - 1);
    tm.tm_isdst = -1;
    time_t from = mktime(&tm);
    localtime_r(&start, &tm);
    tm.tm_mday += 7;
    tm.tm_isdst = -1;
    time_t to = mktime(&tm);
    json_t *counts = json_object(), *s, *x;
    size_t i, j;
    json_array_foreach(sheets, i, s) {
        json_array_foreach(json_object_get(s, "followups"), j, x) {
            int64_t at = fsv_fig_ms(x, "at");
            const char *author = json_string_value(json_object_get(x, "author"));
            if (at < 0 || at / 1000 < from || at / 1000 >= to)
                continue;
            time_t t = (time_t)(at / 1000);
            char key[160], week[16];
            localtime_r(&t, &tm);
            strftime(week, sizeof week, "%G-W%V", &tm);
            snprintf(key, sizeof key, "%s\t%s", week, author ? author : "");
            json_t *n = json_object_get(counts, key);
            json_object_set_new(counts, key, json_integer(json_integer_value(n) + 1));
        }
    }
    size_t n = json_object_size(counts), k = 0;
    const char **keys = calloc(n ? n : 1, sizeof *keys);
    const char *key;
    json_t *v, *out = json_array();
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

/* Time of the latest stage change into a won stage, -1 if none. */
static int64_t won_at(json_t *defs, json_t *sheet)
{
    int64_t best = -1;
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(sheet, "stages"), i, x) {
        const char *to = json_string_value(json_object_get(x, "to"));
        int64_t at = fsv_fig_ms(x, "at");
        if (fsv_fig_stage_flag(defs, to, "won") && at > best)
            best = at;
    }
    return best;
}

static int cmp_ttw(const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    double dx = json_real_value(json_object_get(x, "days"));
    double dy = json_real_value(json_object_get(y, "days"));
    if (dx != dy)
        return dx < dy ? -1 : 1;
    return strcmp(json_string_value(json_object_get(x, "name")),
                  json_string_value(json_object_get(y, "name")));
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

static void wins(json_t *defs, json_t *sheets, json_t **ttw, json_t **hours)
{
    int cells[7][24];
    size_t i, j;
    json_t *s, *x;
    memset(cells, 0, sizeof cells);
    *ttw = json_array();
    json_array_foreach(sheets, i, s) {
        if (!fsv_fig_stage_flag(defs, json_string_value(json_object_get(s, "stage")), "won"))
            continue;
        int64_t won = won_at(defs, s), first = -1;
        json_array_foreach(json_object_get(s, "followups"), j, x) {
            int64_t at = fsv_fig_ms(x, "at");
            if (at < 0)
                continue;
            if (first < 0 || at < first)
                first = at;
            if (won >= 0 && at <= won) {
                time_t t = (time_t)(at / 1000);
                struct tm tm;
                localtime_r(&t, &tm);
                cells[(tm.tm_wday + 6) % 7][tm.tm_hour]++;
            }
        }
        if (won < 0 || first < 0)
            continue;
        double days = won > first ? round_to((double)(won - first) / 86400000.0, 0.1) : 0.0;
        json_array_append_new(*ttw, json_pack("{s:O, s:O, s:f}", "customer",
                                              json_object_get(s, "id"), "name",
                                              json_object_get(s, "name"), "days", days));
    }
    *ttw = sorted(*ttw, cmp_ttw);
    *hours = json_array();
    for (int d = 0; d < 7; d++)
        for (int h = 0; h < 24; h++)
            if (cells[d][h])
                json_array_append_new(*hours, json_pack("{s:i, s:i, s:i}", "weekday", d,
                                                        "hour", h, "count", cells[d][h]));
}

static int leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int cmp_bday(const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    json_int_t dx = json_integer_value(json_object_get(x, "days"));
    json_int_t dy = json_integer_value(json_object_get(y, "days"));
    if (dx != dy)
        return dx < dy ? -1 : 1;
    return strcmp(json_string_value(json_object_get(x, "name")),
                  json_string_value(json_object_get(y, "name")));
}

static json_t *birthdays(json_t *sheets, int64_t now_ms)
{
    json_t *out = json_array(), *s;
    size_t i;
    time_t now = (time_t)(now_ms / 1000);
    struct tm today;
    localtime_r(&now, &today);
    json_array_foreach(sheets, i, s) {
        const char *b = json_string_value(json_object_get(s, "birthday"));
        int y, m, d;
        if (!b || sscanf(b, "%d-%d-%d", &y, &m, &d) != 3)
            continue;
        for (int k = 0; k <= BIRTHDAY_DAYS; k++) {
            struct tm t = today;
            t.tm_mday += k;
            t.tm_hour = 12;
            t.tm_isdst = -1;
            mktime(&t);
            int bm = m, bd = d;
            if (bm == 2 && bd == 29 && !leap(t.tm_year + 1900))
                bd = 28;
            if (t.tm_mon + 1 == bm && t.tm_mday == bd) {
                json_array_append_new(out, json_pack("{s:O, s:O, s:s, s:i}", "id",
                                                     json_object_get(s, "id"), "name",
                                                     json_object_get(s, "name"),
                                                     "birthday", b, "days", k));
                break;
            }
        }
    }
    return sorted(out, cmp_bday);
}

static const char *latest_at(json_t *c)
{
    const char *a = json_string_value(json_object_get(json_object_get(c, "mine"), "at"));
    const char *b = json_string_value(json_object_get(json_object_get(c, "theirs"), "at"));
    if (!a)
        return b ? b : "";
    return b && strcmp(b, a) > 0 ? b : a;
}

static int cmp_conflict(const void *a, const void *b)
{
    return strcmp(latest_at(*(json_t *const *)b), latest_at(*(json_t *const *)a));
}

/* Every version of a conflicted register, winner first, from the store;
** core's mine/theirs pair if the store cannot say (the view wrote none of
** the versions, so "mine" is the winner). */
static json_t *versions(fsv_store *st, json_t *c)
{
    fds_register reg;
    json_t *values = json_array();
    memset(&reg, 0, sizeof reg);
    int rc = fsv_store_begin_read(st);
    if (rc == FSV_OK) {
        rc = fsv_store_api_register(st, json_string_value(json_object_get(c, "table")),
                                    json_string_value(json_object_get(c, "record")),
                                    json_string_value(json_object_get(c, "field")), &reg);
        fsv_store_rollback(st);
    }
    if (rc == FSV_OK && reg.n >= 2) {
        for (size_t i = 0; i < reg.n; i++) {
            char at[40];
            const fdsp_change *v = &reg.v[i];
            fds_time_format((int64_t)(v->hlc >> 16), at, sizeof at);
            json_array_append_new(values, json_pack(
                "{s:o, s:s, s:s, s:s}", "value", v->value ? json_string(v->value) : json_null(),
                "user", v->user ? v->user : "", "device", v->device ? v->device : "",
                "at", at));
        }
    } else {
        if (json_object_get(c, "mine"))
            json_array_append(values, json_object_get(c, "mine"));
        if (json_object_get(c, "theirs"))
            json_array_append(values, json_object_get(c, "theirs"));
    }
    fds_register_clear(&reg);
    return values;
}

/* Open conflicts, newest first. */
static json_t *conflicts(fsv_store *st, fds_replica *r)
{
    json_t *list = NULL, *out = json_array(), *c;
    size_t i;
    if (fds_conflicts(r, &list) != FDS_OK)
        return out;
    json_array_foreach(list, i, c) {
        json_t *values = versions(st, c);
        json_t *cust = json_object_get(c, "customer");
        json_t *name = json_object_get(c, "customer_name");
        json_array_append_new(out, json_pack(
            "{s:O, s:O, s:O, s:O, s:O, s:O, s:o}", "id", json_object_get(c, "id"),
            "table", json_object_get(c, "table"), "record", json_object_get(c, "record"),
            "field", json_object_get(c, "field"), "customer", cust ? cust : json_null(),
            "name", name ? name : json_null(), "values", values));
        json_object_set(json_array_get(out, json_array_size(out) - 1), "mine",
                        json_object_get(c, "mine"));
        json_object_set(json_array_get(out, json_array_size(out) - 1), "theirs",
                        json_object_get(c, "theirs"));
    }
    json_decref(list);
    out = sorted(out, cmp_conflict);
    json_array_foreach(out, i, c) {
        json_object_del(c, "mine");
        json_object_del(c, "theirs");
    }
    return out;
}

static json_t *devices(fsv_api *api, const fsv_user *u, json_t *reps)
{
    json_t *all = NULL, *out = json_array(), *d, *x;
    size_t i, j;
    if (fsv_store_api_devices(api->srv->store, &all) != FSV_OK)
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

void fsv_api_analysis(fsv_api *api, const fsv_user *u, fsv_resp *resp)
{
    fds_replica *r;
    int64_t head = 0, now = fsv_now_ms();
    json_t *defs = NULL, *sheets = NULL;
    if (fsv_view_get(api, u, &r, &head) != FSV_OK ||
        fds_stagedef_list(r, &defs) != FDS_OK ||
        fsv_fig_sheets(r, &sheets) != FSV_OK) {
        json_decref(defs);
        fsv_resp_error(resp, 500, "the store failed while building the analysis");
        return;
    }
    json_t *reps = fsv_fig_reps(api, u, sheets, now), *x;
    json_t *overdue = json_array(), *ttw, *hours;
    size_t i;
    json_array_foreach(reps, i, x)
        json_array_append_new(overdue, json_pack("{s:O, s:O}", "user", json_object_get(x, "user"),
                                                 "overdue", json_object_get(x, "overdue")));
    wins(defs, sheets, &ttw, &hours);
    json_t *out = json_pack("{s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
                            "head", (json_int_t)head,
                            "funnel", funnel(r, defs, sheets),
                            "followups_per_rep_week", weekly(sheets, now),
                            "overdue_per_rep", overdue,
                            "time_to_won", ttw, "win_hours", hours,
                            "birthdays", birthdays(sheets, now),
                            "conflicts", conflicts(api->srv->store, r),
                            "devices", devices(api, u, reps));
    json_decref(reps);
    json_decref(defs);
    json_decref(sheets);
    fsv_resp_json(resp, 200, out);
}
