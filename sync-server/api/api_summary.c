/*
** api_summary.c — GET /api/summary and GET /api/analysis (docs/API.md):
** the figures of api_figures.c for the caller, in the zone ?tz= names
** (else serve --tz, else the server's local zone).
**
** Users of one scope share the answer: the JSON text is kept for a scope
** (every all-seeing user shares "*"; others their own), a zone and a
** state of the store (its head, and its data_version, which moves when
** another process such as `user set` committed), for the current minute
** (the figures' "now": the last 7 days, overdue, today's birthdays).  So
** twenty head-office dashboards opened after one change cost one
** computation, and any change is seen by the next request.  At most
** FIG_CACHE answers are kept, whatever the number of users.
**
** The analysis's two lists that grow with the company (birthdays of the
** window, times to won: thousands of rows for a head office of 100,000
** customers, most of a 1.5 MB answer) are cut to their first
** FIG_LIST_FIRST rows with their counts (birthdays_total,
** time_to_won_total); the whole lists are kept with the shared answer and
** paged by GET /api/analysis/birthdays and /api/analysis/time_to_won,
** with the paging contract of /api/customers (limit, an opaque after,
** Link rel="next", X-Total-Count).
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "tzone.h"
#include "visibility.h"

#define FIG_CACHE 16
#define FIG_LIST_FIRST 50
#define FIG_LIST_DEFAULT 100

/* A kept list: the whole array of the analysis (its rows are dumped only
** when a page asks for them). */
typedef struct fig_list {
    json_t *arr;
    size_t n;
} fig_list;

/* A row's sort key (days × 10: time to won has tenths; name; id). */
typedef struct fig_key {
    long long d10;
    const char *name, *id;
} fig_key;

enum { FIG_BIRTHDAYS, FIG_TTW, FIG_LISTS };
static const char *const list_name[FIG_LISTS] = {"birthdays", "time_to_won"};
static const char *const list_id[FIG_LISTS] = {"id", "customer"};

struct fsv_fig_cache {
    char key[256];
    char *json;
    size_t len;
    unsigned long used;
    fig_list lists[FIG_LISTS];  /* the analysis's whole lists */
};

static void list_free(fig_list *l)
{
    json_decref(l->arr);
    l->arr = NULL;
    l->n = 0;
}

static fig_key key_of(const json_t *row, int k)
{
    const char *name = json_string_value(json_object_get(row, "name"));
    const char *id = json_string_value(json_object_get(row, list_id[k]));
    fig_key key = {llround(json_number_value(json_object_get(row, "days")) * 10),
                   name ? name : "", id ? id : ""};
    return key;
}

static void slot_empty(struct fsv_fig_cache *c)
{
    free(c->json);
    c->json = NULL;
    for (int k = 0; k < FIG_LISTS; k++)
        list_free(&c->lists[k]);
}

/* The cache slot for key: its answer, or the least recently used slot
** (emptied) to fill. */
static struct fsv_fig_cache *slot(fsv_api *api, const char *key, int *hit)
{
    struct fsv_fig_cache *c = api->fig_cache, *lru = NULL;
    *hit = 0;
    if (!c && !(c = api->fig_cache = calloc(FIG_CACHE, sizeof *c)))
        return NULL;
    for (int i = 0; i < FIG_CACHE; i++) {
        if (c[i].json && strcmp(c[i].key, key) == 0) {
            *hit = 1;
            c[i].used = ++api->fig_clock;
            return &c[i];
        }
        if (!lru || c[i].used < lru->used)
            lru = &c[i];
    }
    slot_empty(lru);
    return lru;
}

void fsv_fig_cache_free(fsv_api *api)
{
    for (int i = 0; api->fig_cache && i < FIG_CACHE; i++)
        slot_empty(&api->fig_cache[i]);
    free(api->fig_cache);
    api->fig_cache = NULL;
}

static void answer(fsv_resp *resp, const char *json, size_t len)
{
    char *body = malloc(len + 1);
    if (!body) {
        fsv_resp_error(resp, 500, "out of memory");
        return;
    }
    memcpy(body, json, len + 1);
    fsv_resp_clear(resp);
    resp->status = 200;
    resp->ctype = "application/json; charset=utf-8";
    resp->body = body;
    resp->len = len;
}

/* The zone of a request: ?tz=, else serve --tz; 0, or -1 with a 400. */
static int request_tz(fsv_api *api, const fsv_req *q, fsv_resp *resp,
                      const char **tz)
{
    /* Other parameters are ignored, as they always were here (a script's
    ** cache-buster stays harmless); team is figures()'s. */
    const char *z = fsv_req_arg(q, "tz");
    if (z && z[0] && !fsv_tz_valid(z)) {
        fsv_resp_error(resp, 400, "tz \"%.64s\" is not a time zone this server"
                       " knows (e.g. Asia/Shanghai, UTC)", z);
        return -1;
    }
    *tz = z && z[0] ? z : api->tz;
    return 0;
}

/* The whole list name of out kept in l; in out, its first FIG_LIST_FIRST
** rows and its length in NAME_total. */
static int take_list(json_t *out, int k, fig_list *l)
{
    json_t *arr = json_object_get(out, list_name[k]), *first = json_array();
    char total[48];
    if (!first)
        return FSV_NOMEM;
    l->arr = json_incref(arr);
    l->n = json_array_size(arr);
    for (size_t i = 0; i < l->n && i < FIG_LIST_FIRST; i++)
        json_array_append(first, json_array_get(arr, i));
    json_object_set_new(out, list_name[k], first);
    snprintf(total, sizeof total, "%s_total", list_name[k]);
    json_object_set_new(out, total, json_integer((json_int_t)l->n));
    return FSV_OK;
}

/* The figures' answer for the request in a cache slot (*c, NULL if the
** key does not fit: then *out holds the answer, and lists the analysis's
** whole lists); 0, or -1 with resp set. */
static int figures_get(fsv_api *api, const fsv_user *u, const fsv_req *q,
                       fsv_resp *resp, int analysis,
                       struct fsv_fig_cache **cp, json_t **out,
                       fig_list lists[FIG_LISTS])
{
    const char *tz = NULL;
    json_t *sd = NULL, *fd = NULL;
    int64_t head = 0, dv = 0, now = fsv_now_ms();
    const char *team = NULL;
    *cp = NULL;
    *out = NULL;
    if (request_tz(api, q, resp, &tz) != 0 ||
        fsv_api_team_arg(api, q, resp, &team) != 0)
        return -1;
    int rc = fsv_store_head(api->srv->store, &head);
    if (rc == FSV_OK)
        rc = fsv_store_data_version(api->srv->store, &dv);
    char key[256];
    int hit = 0, n = snprintf(key, sizeof key, "%d|%s|%s|%s|%lld|%lld|%lld|%s|%s",
                              analysis, fsv_vis_sees_all(u) ? "*" : u->name,
                              fsv_vis_sees_all(u) ? "" : u->role,
                              fsv_vis_sees_all(u) ? "" : u->team, (long long)head,
                              (long long)dv, (long long)(now / 60000), tz ? tz : "",
                              team ? team : "");
    struct fsv_fig_cache *c = rc == FSV_OK && n > 0 && (size_t)n < sizeof key
                                  ? slot(api, key, &hit) : NULL;
    if (c && hit) {
        *cp = c;
        return 0;
    }
    if (rc == FSV_OK)
        rc = fsv_view_defs(api, &sd, &fd);
    if (rc == FSV_OK)
        rc = analysis ? fsv_fig_analysis_team(api->srv->store, u, team, sd,
                                              now, tz, head, out)
                      : fsv_fig_summary_team(api->srv->store, u, team, sd, fd,
                                             now, head, out);
    json_decref(sd);
    json_decref(fd);
    fig_list *keep = c ? c->lists : lists;
    for (int k = 0; analysis && rc == FSV_OK && k < FIG_LISTS; k++)
        rc = take_list(*out, k, &keep[k]);
    if (rc != FSV_OK) {
        json_decref(*out);
        *out = NULL;
        if (c)
            slot_empty(c);
        fsv_resp_error(resp, 500, "the store failed while building the %s",
                       analysis ? "analysis" : "summary");
        return -1;
    }
    if (c && (c->json = json_dumps(*out, JSON_COMPACT)) != NULL) {
        memcpy(c->key, key, sizeof c->key);
        c->len = strlen(c->json);
        c->used = ++api->fig_clock;
        json_decref(*out);
        *out = NULL;
        *cp = c;
        return 0;
    }
    if (c) {                    /* out of memory for the text: not kept */
        for (int k = 0; k < FIG_LISTS; k++) {
            lists[k] = c->lists[k];
            c->lists[k].arr = NULL;
            c->lists[k].n = 0;
        }
    }
    return 0;
}

static void figures(fsv_api *api, const fsv_user *u, const fsv_req *q,
                    fsv_resp *resp, int analysis)
{
    struct fsv_fig_cache *c = NULL;
    json_t *out = NULL;
    fig_list lists[FIG_LISTS];
    memset(lists, 0, sizeof lists);
    if (figures_get(api, u, q, resp, analysis, &c, &out, lists) != 0)
        return;
    if (c)
        answer(resp, c->json, c->len);
    else
        fsv_resp_json(resp, 200, out);
    for (int k = 0; k < FIG_LISTS; k++)
        list_free(&lists[k]);
}

/* ---- The analysis's lists, paged ----------------------------------------------- */

static int cmp_key(const fig_key *a, const fig_key *b)
{
    if (a->d10 != b->d10)
        return a->d10 < b->d10 ? -1 : 1;
    int c = strcmp(a->name, b->name);
    return c ? c : strcmp(a->id, b->id);
}

/* The cursor: "D.HEX.ID", D the days times ten, HEX the name's bytes in
** hex, ID the row's id (the rest: ids may hold dots). */
static int cursor_make(const fig_key *it, char *buf, size_t cap)
{
    size_t n = (size_t)snprintf(buf, cap, "%lld.", it->d10);
    for (const unsigned char *p = (const unsigned char *)it->name; *p; p++) {
        if (n + 3 >= cap)
            return -1;
        n += (size_t)snprintf(buf + n, cap - n, "%02x", *p);
    }
    int m = snprintf(buf + n, cap - n, ".%s", it->id);
    return m < 0 || (size_t)m >= cap - n ? -1 : 0;
}

static int cursor_read(const char *cur, long long *d10, char *name, size_t ncap,
                       const char **id)
{
    char *end = NULL;
    long long d = strtoll(cur, &end, 10);
    if (!end || *end != '.')
        return -1;
    *d10 = d;
    const char *p = end + 1;
    size_t n = 0;
    for (; *p && *p != '.'; p += 2) {
        unsigned v;
        if (!p[1] || n + 1 >= ncap || sscanf(p, "%2x", &v) != 1)
            return -1;
        name[n++] = (char)v;
    }
    name[n] = '\0';
    if (*p != '.')
        return -1;
    *id = p + 1;
    return 0;
}

static void link_arg(char *buf, size_t cap, const char *name, const char *v)
{
    size_t n = strlen(buf);
    if (!v || !v[0] || n + strlen(name) + 3 >= cap)
        return;
    n += (size_t)snprintf(buf + n, cap - n, "%s%s=", buf[n - 1] == '?' ? "" : "&",
                          name);
    for (const unsigned char *p = (const unsigned char *)v; *p && n + 4 < cap; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
            (*p >= '0' && *p <= '9') || strchr("-._~", *p))
            buf[n++] = (char)*p;
        else
            n += (size_t)snprintf(buf + n, cap - n, "%%%02X", *p);
    }
    buf[n < cap ? n : cap - 1] = '\0';
}

static void list_page(fsv_api *api, const fsv_user *u, const fsv_req *q,
                      fsv_resp *resp, int k)
{
    static const char *const known[] = {"limit", "after", "tz", "team", NULL};
    for (size_t i = 0; i < q->n_args; i++) {
        int ok = 0;
        for (size_t j = 0; known[j]; j++)
            ok |= strcmp(q->arg_name[i], known[j]) == 0;
        if (!ok) {
            fsv_resp_error(resp, 400, "unknown query parameter \"%s\" (limit,"
                           " after, tz, team)", q->arg_name[i]);
            return;
        }
    }
    int limit = FIG_LIST_DEFAULT;
    const char *lim = fsv_req_arg(q, "limit"), *after = fsv_req_arg(q, "after");
    if (lim && lim[0]) {
        char *end = NULL;
        long v = strtol(lim, &end, 10);
        if (!end || *end || v < 1 || v > FSV_PAGE_MAX) {
            fsv_resp_error(resp, 400, "limit \"%s\" is not a number from 1 to %d",
                           lim, FSV_PAGE_MAX);
            return;
        }
        limit = (int)v;
    }
    fig_key cur_key = {0, "", NULL};
    char name[1024];
    if (after && after[0] &&
        (strlen(after) > 2400 ||
         cursor_read(after, &cur_key.d10, name, sizeof name, &cur_key.id) != 0)) {
        fsv_resp_error(resp, 400, "after is not a cursor this server gave");
        return;
    }
    struct fsv_fig_cache *c = NULL;
    json_t *out = NULL;
    fig_list lists[FIG_LISTS];
    memset(lists, 0, sizeof lists);
    if (figures_get(api, u, q, resp, 1, &c, &out, lists) != 0)
        return;
    json_decref(out);
    const fig_list *l = c ? &c->lists[k] : &lists[k];
    /* The first row after the cursor (binary search: the list is sorted
    ** by its key). */
    cur_key.name = name;
    size_t lo = 0, hi = l->n;
    while (cur_key.id && lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        fig_key mk = key_of(json_array_get(l->arr, mid), k);
        if (cmp_key(&cur_key, &mk) >= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t end = lo + (size_t)limit < l->n ? lo + (size_t)limit : l->n;
    json_t *page = json_array();
    for (size_t i = lo; page && i < end; i++)
        json_array_append(page, json_array_get(l->arr, i));
    char num[32], cur[2600], link[3400];
    fig_key last = {0, "", ""};
    if (end > lo)
        last = key_of(json_array_get(l->arr, end - 1), k);
    int next = end < l->n && end > lo && cursor_make(&last, cur, sizeof cur) == 0;
    fsv_resp_json(resp, 200, page);
    snprintf(num, sizeof num, "%zu", l->n);
    fsv_resp_header(resp, "x-total-count:", num);
    if (next) {
        char lim_s[16];
        snprintf(link, sizeof link, "</api/analysis/%s?", list_name[k]);
        snprintf(lim_s, sizeof lim_s, "%d", limit);
        link_arg(link, sizeof link, "limit", lim_s);
        link_arg(link, sizeof link, "after", cur);
        link_arg(link, sizeof link, "tz", fsv_req_arg(q, "tz"));
        link_arg(link, sizeof link, "team", fsv_req_arg(q, "team"));
        size_t m = strlen(link);
        snprintf(link + m, sizeof link - m, ">; rel=\"next\"");
        fsv_resp_header(resp, "link:", link);
    }
    for (int j = 0; j < FIG_LISTS; j++)
        list_free(&lists[j]);
}

void fsv_api_analysis_list(fsv_api *api, const fsv_user *u, const char *which,
                           const fsv_req *q, fsv_resp *resp)
{
    for (int k = 0; k < FIG_LISTS; k++)
        if (strcmp(which, list_name[k]) == 0) {
            list_page(api, u, q, resp, k);
            return;
        }
    fsv_resp_error(resp, 404, "no such API path: /api/analysis/%s", which);
}

void fsv_api_summary(fsv_api *api, const fsv_user *u, const fsv_req *q,
                     fsv_resp *resp)
{
    figures(api, u, q, resp, 0);
}

void fsv_api_analysis(fsv_api *api, const fsv_user *u, const fsv_req *q,
                      fsv_resp *resp)
{
    figures(api, u, q, resp, 1);
}

/* The figures' text for /live (live.c): the same shared answer as GET
** /api/summary or /api/analysis with ?tz= and ?team=, so every socket of
** a scope costs one computation per commit (the cache's key holds the
** head).  The scope is the user's, whatever team names (the team only
** narrows it, as over HTTP). */
int fsv_fig_text(fsv_api *api, const fsv_user *u, const char *tz,
                 const char *team, int analysis, char **json, size_t *len)
{
    fsv_req q;
    fsv_resp resp;
    struct fsv_fig_cache *c = NULL;
    json_t *out = NULL;
    fig_list lists[FIG_LISTS];
    memset(&q, 0, sizeof q);
    memset(&resp, 0, sizeof resp);
    memset(lists, 0, sizeof lists);
    *json = NULL;
    *len = 0;
    char n_tz[] = "tz", n_team[] = "team";
    if (tz && tz[0]) {
        q.arg_name[q.n_args] = n_tz;
        q.arg_value[q.n_args++] = (char *)tz;
    }
    if (team && team[0]) {
        q.arg_name[q.n_args] = n_team;
        q.arg_value[q.n_args++] = (char *)team;
    }
    int rc = figures_get(api, u, &q, &resp, analysis, &c, &out, lists);
    if (rc == 0 && c) {
        *json = malloc(c->len + 1);
        if (*json) {
            memcpy(*json, c->json, c->len + 1);
            *len = c->len;
        }
    } else if (rc == 0 && out) {
        *json = json_dumps(out, JSON_COMPACT);
        *len = *json ? strlen(*json) : 0;
    }
    json_decref(out);
    for (int k = 0; k < FIG_LISTS; k++)
        list_free(&lists[k]);
    fsv_resp_clear(&resp);
    return *json ? 0 : -1;
}
