/*
** api_pool.c — GET /api/pool (docs/API.md): the customer pool (公海) for
** the dashboard: per team the pool's size and the customers returned,
** claimed and released this week (the office's week, Monday first), the
** server's rules, and the customers going back to the pool soon.  Scoped
** like the rest of the API: who sees everything sees every team; anyone
** else the pools their team sees (fsv_vis_pool_covers) and the returning
** customers they see (fsv_vis_scope).
*/
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "pool.h"
#include "tzone.h"
#include "visibility.h"

#define POOL_RETURNING_MAX 200      /* returning-soon rows answered */

/* Start of the office's week (Monday 00:00 in zone tz) holding now_ms. */
static int64_t week_start_ms(const char *tz, int64_t now_ms)
{
    fsv_tz_saved sv;
    fsv_tz_enter(tz, &sv);
    time_t t = (time_t)(now_ms / 1000);
    struct tm tm;
    int64_t out = now_ms - 7 * FSV_DAY_MS;
    if (localtime_r(&t, &tm)) {
        tm.tm_mday -= (tm.tm_wday + 6) % 7;
        tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
        tm.tm_isdst = -1;
        time_t m = mktime(&tm);
        if (m != (time_t)-1)
            out = (int64_t)m * 1000;
    }
    fsv_tz_leave(&sv);
    return out;
}

struct soon {
    fsv_store *st;
    const fsv_pool_rules *rules;
    int64_t now_ms;
    json_t *list;
    int rc;
};

static int soon_cb(void *ud, const fsv_office_cust *c)
{
    struct soon *s = ud;
    if (!c->owner || !c->owner[0])
        return FSV_OK;                  /* in the pool already */
    int64_t at = -1;
    int rc = fsv_pool_return_at(s->st, c->id, c->stage, c->last_followup_ms,
                                s->rules->return_days, &at);
    if (rc != FSV_OK)
        return rc;
    if (at < 0 || at - s->now_ms > s->rules->warn_days * FSV_DAY_MS)
        return FSV_OK;
    int64_t left = at > s->now_ms ? (at - s->now_ms + FSV_DAY_MS - 1) / FSV_DAY_MS : 0;
    char when[40];
    time_t t = (time_t)(at / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm))
        when[0] = '\0';
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:I}", "id", c->id, "name",
                          c->name ? c->name : "", "owner", c->owner,
                          "return_at", when, "days_left", (json_int_t)left);
    if (!o || json_array_append_new(s->list, o) != 0)
        return FSV_NOMEM;
    return FSV_OK;
}

static int by_return(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    int d = strcmp(json_string_value(json_object_get(x, "return_at")),
                   json_string_value(json_object_get(y, "return_at")));
    return d ? d : strcmp(json_string_value(json_object_get(x, "id")),
                          json_string_value(json_object_get(y, "id")));
}

/* The soonest first, at most POOL_RETURNING_MAX. */
static json_t *sorted_soon(json_t *list)
{
    size_t n = json_array_size(list);
    json_t **v = n ? malloc(n * sizeof *v) : NULL;
    json_t *out = json_array();
    if ((n && !v) || !out) {
        free(v);
        json_decref(out);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        v[i] = json_array_get(list, i);
    if (n > 1)
        qsort(v, n, sizeof *v, by_return);
    for (size_t i = 0; i < n && i < POOL_RETURNING_MAX; i++)
        json_array_append(out, v[i]);
    free(v);
    return out;
}

void fsv_api_pool(fsv_api *api, const fsv_user *u, const fsv_req *q,
                  fsv_resp *resp)
{
    fsv_store *st = api->srv->store;
    const char *tz = fsv_req_arg(q, "tz");
    if (tz && tz[0] && !fsv_tz_valid(tz)) {
        fsv_resp_error(resp, 400, "tz \"%.64s\" is not a time zone this server"
                       " knows (e.g. Asia/Shanghai, UTC)", tz);
        return;
    }
    if (!tz || !tz[0])
        tz = api->tz;
    int64_t now = fsv_now_ms(), since = week_start_ms(tz, now);
    fsv_pool_rules rules;
    json_t *teams = NULL, *mine = json_array(), *soon = json_array();
    int all = fsv_vis_sees_all(u);
    int rc = mine && soon ? fsv_store_begin_read(st) : FSV_NOMEM;
    if (rc == FSV_OK)
        rc = fsv_store_pool_rules_get(st, &rules);
    if (rc == FSV_OK)
        rc = fsv_store_pool_figures(st, since, &teams);
    json_int_t size = 0, ret = 0, clm = 0, rel = 0;
    size_t i;
    json_t *t;
    json_array_foreach(teams, i, t) {
        if (!all && !fsv_vis_pool_covers(st, json_string_value(
                                             json_object_get(t, "team")), u))
            continue;
        size += json_integer_value(json_object_get(t, "size"));
        ret += json_integer_value(json_object_get(t, "returned"));
        clm += json_integer_value(json_object_get(t, "claimed"));
        rel += json_integer_value(json_object_get(t, "released"));
        json_array_append(mine, t);
    }
    if (rc == FSV_OK && rules.return_days > 0) {
        fsv_scope sc;
        fsv_vis_scope(u, &sc);
        struct soon s = {st, &rules, now, soon, FSV_OK};
        rc = fsv_store_office_customers(st, &sc, soon_cb, &s);
    }
    fsv_store_rollback(st);
    json_t *soonest = rc == FSV_OK ? sorted_soon(soon) : NULL;
    json_decref(teams);
    json_decref(soon);
    if (rc != FSV_OK || !soonest) {
        json_decref(mine);
        json_decref(soonest);
        fsv_resp_error(resp, 500, "the store failed while reading the pool");
        return;
    }
    char week[40];
    time_t wt = (time_t)(since / 1000);
    struct tm tm;
    if (!gmtime_r(&wt, &tm) || !strftime(week, sizeof week, "%Y-%m-%dT%H:%M:%SZ", &tm))
        week[0] = '\0';
    json_t *out = json_pack("{s:o, s:I, s:I, s:I, s:I, s:s, s:o, s:{s:I, s:I, s:I, s:I, s:I}}",
        "teams", mine, "size", size, "returned_week", ret, "claimed_week", clm,
        "released_week", rel, "week_start", week, "returning", soonest,
        "rules", "return_days", (json_int_t)rules.return_days,
        "warn_days", (json_int_t)rules.warn_days,
        "cooldown_days", (json_int_t)rules.cooldown_days,
        "max_claims_per_day", (json_int_t)rules.max_claims_per_day,
        "max_owned", (json_int_t)rules.max_owned);
    fsv_resp_json(resp, 200, out);
}
