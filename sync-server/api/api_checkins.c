/*
** api_checkins.c — GET /api/checkins?date=YYYY-MM-DD[&tz=ZONE][&user=NAME]:
** the check-ins (follow-ups with a location or an address) of one day,
** per rep (the follow-up's author) in time order (docs/API.md).
**
** Visibility is the office view's: the follow-ups of the customers the
** caller may see (fsv_vis_scope), so a rep of another team sees none of
** them.  The day is the office's (?tz=, else serve --tz, else the
** server's zone).  Cost: the day's follow-ups in scope from the office
** view's time index, then two registers of each one (the day of one
** team, not the company's history).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "tzone.h"
#include "visibility.h"

/* At most this many follow-ups of one day are looked at (a named limit: a
** day of a whole company's check-ins still answers in one response). */
#define FSV_CHECKINS_MAX 5000

typedef struct ck_row {
    char *id, *customer, *author;
    int64_t at_ms;
} ck_row;

typedef struct ck_list {
    ck_row *v;
    size_t n, cap;
    const char *only;       /* ?user= or NULL */
    int truncated;
} ck_list;

static int collect(void *ud, const fsv_office_child *k)
{
    ck_list *l = ud;
    const char *author = k->text ? k->text : "";
    if (l->only && strcmp(l->only, author) != 0)
        return FSV_OK;
    if (l->n == FSV_CHECKINS_MAX) {
        l->truncated = 1;
        return FSV_OK;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        ck_row *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return FSV_NOMEM;
        l->v = v;
        l->cap = cap;
    }
    ck_row *r = &l->v[l->n];
    r->id = strdup(k->id ? k->id : "");
    r->customer = strdup(k->customer ? k->customer : "");
    r->author = strdup(author);
    r->at_ms = k->at_ms;
    if (!r->id || !r->customer || !r->author) {
        free(r->id);
        free(r->customer);
        free(r->author);
        return FSV_NOMEM;
    }
    l->n++;
    return FSV_OK;
}

/* By author, then time, then id: each rep's day in order. */
static int cmp_row(const void *a, const void *b)
{
    const ck_row *x = a, *y = b;
    int d = strcmp(x->author, y->author);
    if (d)
        return d;
    if (x->at_ms != y->at_ms)
        return x->at_ms < y->at_ms ? -1 : 1;
    return strcmp(x->id, y->id);
}

/* The winning value of one register (*out malloc'd, NULL when unset). */
static int reg_value(fsv_store *st, const char *tbl, const char *rid,
                     const char *field, char **out)
{
    fds_register reg;
    memset(&reg, 0, sizeof reg);
    *out = NULL;
    int rc = fsv_store_api_register(st, tbl, rid, field, &reg);
    if (rc == FSV_NOTFOUND)
        return FSV_OK;
    if (rc != FSV_OK)
        return rc;
    if (reg.n && reg.v[0].value && !(*out = strdup(reg.v[0].value)))
        rc = FSV_NOMEM;
    fds_register_clear(&reg);
    return rc;
}

/* [from, to) of the local day date ("YYYY-MM-DD", or NULL: today) in the
** current zone; -1 if date is not a date.  Writes the day into day[32]. */
static int day_range(const char *date, int64_t now_ms, int64_t *from,
                     int64_t *to, char day[32])
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (date) {
        int y, m, d;
        char tail;
        if (strlen(date) != 10 ||
            sscanf(date, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 ||
            y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1 || d > 31)
            return -1;
        tm.tm_year = y - 1900;
        tm.tm_mon = m - 1;
        tm.tm_mday = d;
    } else {
        time_t now = (time_t)(now_ms / 1000);
        if (!localtime_r(&now, &tm))
            return -1;
        tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    }
    tm.tm_isdst = -1;
    struct tm start = tm, end = tm;
    time_t a = mktime(&start);
    if (a == (time_t)-1 || start.tm_mday != tm.tm_mday)
        return -1;      /* 2026-02-31 and the like */
    end.tm_mday += 1;
    end.tm_isdst = -1;
    time_t b = mktime(&end);
    if (b == (time_t)-1)
        return -1;
    *from = (int64_t)a * 1000;
    *to = (int64_t)b * 1000;
    snprintf(day, 32, "%04d-%02d-%02d", start.tm_year + 1900,
             start.tm_mon + 1, start.tm_mday);
    return 0;
}

/* One check-in object, or NULL when the follow-up has no place (then
** *skip = 1). */
static int checkin_obj(fsv_store *st, const ck_row *r, json_t **out)
{
    char *loc = NULL, *addr = NULL, *name = NULL, *method = NULL, *content = NULL;
    *out = NULL;
    int rc = reg_value(st, "followup", r->id, "location", &loc);
    if (rc == FSV_OK)
        rc = reg_value(st, "followup", r->id, "address", &addr);
    if (rc != FSV_OK || (!loc && !addr))
        goto done;
    if ((rc = reg_value(st, "followup", r->id, "method", &method)) != FSV_OK ||
        (rc = reg_value(st, "followup", r->id, "content", &content)) != FSV_OK ||
        (rc = reg_value(st, "customer", r->customer, "name", &name)) != FSV_OK)
        goto done;
    double lat = 0, lon = 0;
    int have = loc && fds_location_parse(loc, &lat, &lon) == FDS_OK;
    char at[40], map[160];
    fds_time_format(r->at_ms, at, sizeof at);
    /* A link for people to open (nothing is fetched here or by the page):
    ** the coordinates as the device gave them (WGS-84, as GPS reports). */
    snprintf(map, sizeof map, "https://www.openstreetmap.org/?mlat=%.6f&mlon=%.6f"
             "#map=17/%.6f/%.6f", lat, lon, lat, lon);
    json_t *o = json_object();
    if (!o) {
        rc = FSV_NOMEM;
        goto done;
    }
    json_object_set_new(o, "id", json_string(r->id));
    json_object_set_new(o, "at", json_string(at));
    json_object_set_new(o, "customer", json_string(r->customer));
    json_object_set_new(o, "customer_name", name ? json_string(name) : json_null());
    json_object_set_new(o, "method", method ? json_string(method) : json_null());
    json_object_set_new(o, "content", content ? json_string(content) : json_null());
    json_object_set_new(o, "lat", have ? json_real(lat) : json_null());
    json_object_set_new(o, "lon", have ? json_real(lon) : json_null());
    json_object_set_new(o, "address", addr ? json_string(addr) : json_null());
    json_object_set_new(o, "map", have ? json_string(map) : json_null());
    *out = o;
done:
    free(loc);
    free(addr);
    free(name);
    free(method);
    free(content);
    return rc;
}

void fsv_api_checkins(fsv_api *api, const fsv_user *u, const fsv_req *q,
                      fsv_resp *resp)
{
    fsv_store *st = api->srv->store;
    const char *z = fsv_req_arg(q, "tz"), *date = fsv_req_arg(q, "date");
    const char *only = fsv_req_arg(q, "user");
    if (z && z[0] && !fsv_tz_valid(z)) {
        fsv_resp_error(resp, 400, "tz \"%.64s\" is not a time zone this server"
                       " knows (e.g. Asia/Shanghai, UTC)", z);
        return;
    }
    const char *tz = z && z[0] ? z : api->tz;
    int64_t from = 0, to = 0;
    char day[32];
    fsv_tz_saved sv;
    fsv_tz_enter(tz, &sv);
    int bad = day_range(date && date[0] ? date : NULL, fsv_now_ms(), &from, &to, day);
    fsv_tz_leave(&sv);
    if (bad) {
        fsv_resp_error(resp, 400, "date \"%.40s\" is not a day (YYYY-MM-DD)",
                       date ? date : "");
        return;
    }
    fsv_scope sc;
    fsv_vis_scope(u, &sc);
    ck_list l = {NULL, 0, 0, only && only[0] ? only : NULL, 0};
    json_t *reps = json_array(), *cur = NULL;
    int rc = reps ? fsv_store_begin_read(st) : FSV_NOMEM;
    int in_tx = rc == FSV_OK;
    if (rc == FSV_OK)
        rc = fsv_store_office_children(st, &sc, "followup", from, to, NULL,
                                       collect, &l);
    if (rc == FSV_OK && l.n > 1)
        qsort(l.v, l.n, sizeof *l.v, cmp_row);
    const char *author = NULL;
    for (size_t i = 0; rc == FSV_OK && i < l.n; i++) {
        json_t *o = NULL;
        if ((rc = checkin_obj(st, &l.v[i], &o)) != FSV_OK || !o)
            continue;
        if (!author || strcmp(author, l.v[i].author) != 0) {
            author = l.v[i].author;
            cur = json_array();
            json_t *rep = json_pack("{s:s, s:o}", "user", author, "checkins", cur);
            if (!cur || !rep || json_array_append_new(reps, rep) != 0) {
                json_decref(o);
                rc = FSV_NOMEM;
                break;
            }
        }
        if (json_array_append_new(cur, o) != 0)
            rc = FSV_NOMEM;
    }
    if (in_tx)
        fsv_store_rollback(st);    /* end of the read snapshot */
    for (size_t i = 0; i < l.n; i++) {
        free(l.v[i].id);
        free(l.v[i].customer);
        free(l.v[i].author);
    }
    free(l.v);
    if (rc != FSV_OK) {
        json_decref(reps);
        fsv_resp_error(resp, 500, "the store failed while listing check-ins");
        return;
    }
    json_t *out = json_pack("{s:s, s:s, s:o, s:b}", "date", day, "tz",
                            tz && tz[0] ? tz : "", "reps", reps, "truncated",
                            l.truncated);
    fsv_resp_json(resp, 200, out);
}
