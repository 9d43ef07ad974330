/*
** live.c — GET /live, the dashboard's push channel (WebSocket subprotocol
** fieldsync.live, docs/API.md).  The upgrade is authenticated like the API
** (bearer or the fs_session cookie) and must come from the same origin.
** While sockets are open, a 250 ms timer compares the store's head with the
** last one announced; when it moved, each socket whose user may see at
** least one of the new rows (the sync visibility filter) is sent
** {"type":"changed","head":N}.  Commits in between are coalesced; nothing is
** lost, since the next check covers every row after the last announced
** head.  This works the same whether the change came from a device's push
** or any other writer, and needs no hook in the sync path.
**
** A dashboard opens /live?figures=1[&tz=ZONE][&team=TEAM]: then each
** "changed" also carries "summary" and "analysis", the very texts GET
** /api/summary and /api/analysis answer with that tz and team (the
** analysis's lists cut as there), so the page redraws without a request.
** They come from api_summary.c's answers shared per scope: one computation
** per commit per (scope, team, zone), whatever the number of sockets.  The
** scope is always the socket's user's; a team only narrows it.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "log.h"
#include "visibility.h"

static void tick(lws_sorted_usec_list_t *sul);

static int send_text(struct lws *wsi, json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s)
        return -1;
    size_t n = strlen(s);
    unsigned char *buf = malloc(LWS_PRE + n);
    if (!buf) {
        free(s);
        return -1;
    }
    memcpy(buf + LWS_PRE, s, n);
    free(s);
    int w = lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_TEXT);
    free(buf);
    return w < (int)n ? -1 : 0;
}

/* 1 if u may see a history row after `after` up to `head`
** (fsv_vis_sees_history); when unsure (a store error), 1: the page
** refetches. */
static int sees_new(fsv_store *st, const fsv_user *u, int64_t after, int64_t head)
{
    if (fsv_vis_sees_all(u))
        return 1;
    if (fsv_store_begin_read(st) != FSV_OK)
        return 1;
    int sees = 0;
    if (fsv_vis_sees_history(st, u, after, head, &sees) != FSV_OK)
        sees = 1;
    fsv_store_rollback(st);
    return sees;
}

static void schedule(fsv_api *api)
{
    if (!api->live_timer) {
        api->live_timer = 1;
        lws_sul_schedule(api->srv->ctx, 0, &api->live_sul, tick,
                         FSV_LIVE_MS * LWS_US_PER_MS);
    }
}

static void tick(lws_sorted_usec_list_t *sul)
{
    fsv_api *api = lws_container_of(sul, fsv_api, live_sul);
    int64_t head = 0;
    api->live_timer = 0;
    if (!api->live)
        return;                     /* rescheduled by the next socket */
    /* Once a second: a revoked token, a disabled user, a signed-out or
    ** expired session ends the socket with a bye.  Login sessions live in
    ** memory and are checked every time; the store (tokens, users) only
    ** when another process committed since the last look (PRAGMA
    ** data_version, as for sync sessions in ws_sync.c): an idle dashboard
    ** costs no query per socket per second. */
    if (++api->live_ticks % 4 == 0) {
        int64_t dv = 0;
        int changed = api->live_recheck ||
                      fsv_store_data_version(api->srv->store, &dv) != FSV_OK ||
                      dv != api->live_dv;
        api->live_dv = dv;
        api->live_recheck = 0;
        for (fsv_live *l = api->live; l; l = l->next) {
            fsv_user u;
            if (!l->bye_pending &&
                (changed ? fsv_auth_headers(api, l->auth, l->cookie, &u) != FSV_OK
                         : !fsv_auth_known(api, l->auth, l->cookie))) {
                l->bye_pending = 1;
                snprintf(l->bye, sizeof l->bye, "session expired or token revoked");
                lws_callback_on_writable(l->wsi);
            }
        }
    }
    if (fsv_store_head(api->srv->store, &head) == FSV_OK && head > api->live_head) {
        for (fsv_live *l = api->live; l; l = l->next)
            if (sees_new(api->srv->store, &l->user, api->live_head, head)) {
                l->want_head = head;
                lws_callback_on_writable(l->wsi);
            }
        api->live_head = head;
    }
    schedule(api);
}

/* Origin (if sent) must name the Host the request was sent to. */
static int same_origin(struct lws *wsi)
{
    char origin[256], host[256];
    if (lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) <= 0)
        return 1;
    if (lws_hdr_copy(wsi, origin, sizeof origin, WSI_TOKEN_ORIGIN) < 0)
        return 0;
    host[0] = '\0';
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HOST) > 0)
        lws_hdr_copy(wsi, host, sizeof host, WSI_TOKEN_HOST);
    else if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_COLON_AUTHORITY) > 0)
        lws_hdr_copy(wsi, host, sizeof host, WSI_TOKEN_HTTP_COLON_AUTHORITY);
    const char *o = strstr(origin, "://");
    return o && host[0] && strcasecmp(o + 3, host) == 0;
}

/* ?figures=, ?tz=, ?team= of the upgrade's URL into l; 0, or -1 with
** why (a zone or a team this server does not know). */
static int read_args(fsv_api *api, struct lws *wsi, fsv_live *l, const char **why)
{
    char frag[256];
    int too_long = 0;
    for (int i = 0; i < 16; i++) {
        int n = lws_hdr_copy_fragment(wsi, frag, sizeof frag,
                                      WSI_TOKEN_HTTP_URI_ARGS, i);
        if (n <= 0)
            break;
        char *eq = strchr(frag, '=');
        const char *v = eq ? eq + 1 : "";
        if (eq)
            *eq = '\0';
        if (strcmp(frag, "figures") == 0)
            l->figures = strcmp(v, "0") != 0;
        else if (strcmp(frag, "tz") == 0)
            too_long |= snprintf(l->tz, sizeof l->tz, "%s", v) >= (int)sizeof l->tz;
        else if (strcmp(frag, "team") == 0)
            too_long |= snprintf(l->team, sizeof l->team, "%s", v) >=
                        (int)sizeof l->team;
    }
    if (too_long) {
        *why = "tz or team too long";
        return -1;
    }
    /* As GET /api/summary would refuse them: ask it once now. */
    char *json = NULL;
    size_t len = 0;
    if (l->figures && (l->tz[0] || l->team[0]) &&
        fsv_fig_text(api, &l->user, l->tz, l->team, 0, &json, &len) != 0) {
        *why = "tz or team unknown";
        return -1;
    }
    free(json);
    return 0;
}

/* {"type":"changed","head":N[,"summary":…,"analysis":…]}. */
static int send_changed(fsv_api *api, struct lws *wsi, fsv_live *l)
{
    char *sum = NULL, *ana = NULL, head[96];
    size_t ls = 0, la = 0;
    snprintf(head, sizeof head, "{\"type\":\"changed\",\"head\":%lld",
             (long long)l->sent_head);
    if (l->figures &&
        (fsv_fig_text(api, &l->user, l->tz, l->team, 0, &sum, &ls) != 0 ||
         fsv_fig_text(api, &l->user, l->tz, l->team, 1, &ana, &la) != 0)) {
        free(sum);
        free(ana);
        sum = ana = NULL;           /* the page fetches them */
        ls = la = 0;
    }
    size_t lh = strlen(head), n = lh + (sum ? ls + la + 32 : 0) + 2;
    unsigned char *buf = malloc(LWS_PRE + n);
    if (!buf) {
        free(sum);
        free(ana);
        return -1;
    }
    char *p = (char *)buf + LWS_PRE;
    memcpy(p, head, lh);
    size_t m = lh;
    if (sum) {
        memcpy(p + m, ",\"summary\":", 11);
        m += 11;
        memcpy(p + m, sum, ls);
        m += ls;
        memcpy(p + m, ",\"analysis\":", 12);
        m += 12;
        memcpy(p + m, ana, la);
        m += la;
    }
    p[m++] = '}';
    free(sum);
    free(ana);
    int w = lws_write(wsi, (unsigned char *)p, m, LWS_WRITE_TEXT);
    free(buf);
    return w < (int)m ? -1 : 0;
}

static void unlink_live(fsv_live *l)
{
    if (!l->linked)
        return;
    for (fsv_live **pp = &l->api->live; *pp; pp = &(*pp)->next)
        if (*pp == l) {
            *pp = l->next;
            break;
        }
    l->linked = 0;
}

int fsv_live_callback(struct lws *wsi, enum lws_callback_reasons reason,
                      void *user, void *in, size_t len)
{
    fsv_live *l = user;
    struct lws_context *ctx = lws_get_context(wsi);
    fsv_server *srv = ctx ? lws_context_user(ctx) : NULL;
    fsv_api *api = srv ? srv->api : NULL;
    char peer[64];
    (void)in;
    (void)len;

    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        if (!l || !api || srv->shutting_down)
            return -1;
        memset(l, 0, sizeof *l);
        lws_get_peer_simple(wsi, peer, sizeof peer);
        if (!same_origin(wsi)) {
            fsv_warn("live_refused peer=%s why=cross-origin", peer);
            lws_return_http_status(wsi, HTTP_STATUS_FORBIDDEN, "cross-origin");
            return -1;
        }
        if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION) > 0 &&
            lws_hdr_copy(wsi, l->auth, sizeof l->auth, WSI_TOKEN_HTTP_AUTHORIZATION) < 0)
            l->auth[0] = '\0';
        if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_COOKIE) > 0 &&
            lws_hdr_copy(wsi, l->cookie, sizeof l->cookie, WSI_TOKEN_HTTP_COOKIE) < 0)
            l->cookie[0] = '\0';
        if (fsv_auth_headers(api, l->auth, l->cookie, &l->user) != FSV_OK) {
            fsv_warn("live_refused peer=%s why=not-signed-in", peer);
            lws_return_http_status(wsi, HTTP_STATUS_UNAUTHORIZED, "sign in first");
            return -1;
        }
        {
            const char *why = NULL;
            if (read_args(api, wsi, l, &why) != 0) {
                fsv_warn("live_refused peer=%s why=%s", peer, why);
                lws_return_http_status(wsi, HTTP_STATUS_BAD_REQUEST, why);
                return -1;
            }
        }
        return 0;

    case LWS_CALLBACK_ESTABLISHED:
        if (!l || !api)
            return -1;
        l->wsi = wsi;
        l->api = api;
        l->hello_pending = 1;
        if (!api->live)
            fsv_store_head(api->srv->store, &api->live_head);
        l->next = api->live;
        api->live = l;
        api->live_recheck = 1;
        l->linked = 1;
        schedule(api);
        lws_callback_on_writable(wsi);
        fsv_info("live_connect user=%s http=%s", l->user.name,
                 lws_get_network_wsi(wsi) != wsi ? "2" : "1.1");
        return 0;

    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (!l || !l->linked)
            return 0;
        if (l->bye_pending) {
            send_text(wsi, json_pack("{s:s, s:s}", "type", "bye", "reason", l->bye));
            lws_close_reason(wsi, LWS_CLOSE_STATUS_GOINGAWAY, NULL, 0);
            return -1;
        }
        if (l->hello_pending) {
            int64_t head = 0;
            fsv_store_head(api->srv->store, &head);
            l->hello_pending = 0;
            l->sent_head = head;
            if (send_text(wsi, json_pack("{s:s, s:I, s:s}", "type", "hello", "head",
                                         (json_int_t)head, "user", l->user.name)))
                return -1;
            if (l->want_head > l->sent_head)
                lws_callback_on_writable(wsi);
            return 0;
        }
        if (l->want_head > l->sent_head) {
            l->sent_head = l->want_head;
            return send_changed(api, wsi, l);
        }
        return 0;

    case LWS_CALLBACK_RECEIVE:
        return 0;                   /* the client has nothing to say */

    case LWS_CALLBACK_CLOSED:
        if (l) {
            unlink_live(l);
            fsv_info("live_disconnect user=%s", l->user.name);
        }
        return 0;

    default:
        break;
    }
    return 0;
}

void fsv_live_close_all(fsv_api *api)
{
    if (!api)
        return;
    for (fsv_live *l = api->live; l; l = l->next) {
        l->bye_pending = 1;
        snprintf(l->bye, sizeof l->bye, "server shutting down");
        lws_callback_on_writable(l->wsi);
    }
}

void fsv_live_stop(fsv_api *api)
{
    if (api && api->live_timer) {
        lws_sul_cancel(&api->live_sul);
        api->live_timer = 0;
    }
}
