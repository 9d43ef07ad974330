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
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "tzone.h"
#include "visibility.h"

#define FIG_CACHE 16

struct fsv_fig_cache {
    char key[256];
    char *json;
    size_t len;
    unsigned long used;
};

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
    free(lru->json);
    lru->json = NULL;
    return lru;
}

void fsv_fig_cache_free(fsv_api *api)
{
    for (int i = 0; api->fig_cache && i < FIG_CACHE; i++)
        free(api->fig_cache[i].json);
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

static void figures(fsv_api *api, const fsv_user *u, const fsv_req *q,
                    fsv_resp *resp, int analysis)
{
    const char *tz = NULL;
    json_t *sd = NULL, *fd = NULL, *out = NULL;
    int64_t head = 0, dv = 0, now = fsv_now_ms();
    const char *team = NULL;
    if (request_tz(api, q, resp, &tz) != 0 ||
        fsv_api_team_arg(api, q, resp, &team) != 0)
        return;
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
        answer(resp, c->json, c->len);
        return;
    }
    if (rc == FSV_OK)
        rc = fsv_view_defs(api, &sd, &fd);
    if (rc == FSV_OK)
        rc = analysis ? fsv_fig_analysis_team(api->srv->store, u, team, sd,
                                              now, tz, head, &out)
                      : fsv_fig_summary_team(api->srv->store, u, team, sd, fd,
                                             now, head, &out);
    json_decref(sd);
    json_decref(fd);
    if (rc != FSV_OK) {
        fsv_resp_error(resp, 500, "the store failed while building the %s",
                       analysis ? "analysis" : "summary");
        return;
    }
    if (c && (c->json = json_dumps(out, JSON_COMPACT)) != NULL) {
        memcpy(c->key, key, sizeof c->key);
        c->len = strlen(c->json);
        c->used = ++api->fig_clock;
        json_decref(out);
        answer(resp, c->json, c->len);
        return;
    }
    fsv_resp_json(resp, 200, out);
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
