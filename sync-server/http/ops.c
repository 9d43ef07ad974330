/*
** ops.c — the operator's endpoints on the HTTPS port: GET /healthz for
** load balancers and systemd-style probes, GET /metrics for Prometheus
** (docs/SERVER.md, "Health and metrics").
**
** /healthz needs no credentials and says only "ok" or why not, so it can
** sit behind any probe.  /metrics needs the scraper's own token
** (auth/metrics_token.h), never a device token: counters show how busy the
** company is, which is not for every passer-by.  Failed scraper tokens
** count in the server's one failed-authentication limit (authlim.h).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "authlim.h"
#include "log.h"
#include "metrics.h"
#include "metrics_token.h"

/* One read of the store: the history head.  FSV_OK or the store's code. */
static int store_head(fsv_store *st, int64_t *head)
{
    int rc = fsv_store_begin_read(st);
    if (rc == FSV_OK)
        rc = fsv_store_head(st, head);
    fsv_store_rollback(st);
    return rc;
}

/* Healthy means a push could be taken now: the store grants its write
** lock (BEGIN, which waits up to the store's busy timeout, 5 s for SQLite)
** and answers a read under it.  Nothing is written: the transaction is
** rolled back.  A read alone would pass while another process holds the
** write lock for good, and every device's push would still fail. */
static int store_writable(fsv_store *st, int64_t *head)
{
    int rc = fsv_store_begin(st);
    if (rc == FSV_OK)
        rc = fsv_store_head(st, head);
    fsv_store_rollback(st);
    return rc;
}

static void healthz(fsv_server *srv, fsv_resp *r)
{
    int64_t head = 0;
    int rc = srv->shutting_down ? FSV_ERROR : store_writable(srv->store, &head);
    json_t *j;
    if (rc == FSV_OK) {
        j = json_pack("{s:s,s:I}", "status", "ok", "head", (json_int_t)head);
        fsv_resp_json(r, 200, j);
    } else {
        const char *why = srv->shutting_down ? "shutting down"
                                             : fsv_store_errmsg(srv->store);
        fsv_warn("health status=503 why=%s", why);
        j = json_pack("{s:s,s:s}", "status", "unavailable", "error", why);
        fsv_resp_json(r, 503, j);
    }
    fsv_resp_header(r, "cache-control:", "no-store");
}

static void metrics(fsv_server *srv, const fsv_req *q, fsv_resp *r)
{
    int64_t now = fsv_now_ms();
    int64_t wait = fsv_authlim_blocked(srv->authlim, q->peer, now);
    if (wait > 0) {
        fsv_metrics_inc(srv->metrics, FSV_C_AUTH_BLOCKED);
        fsv_resp_error(r, 429, "too many failed authentications: wait %lld s",
                       (long long)wait);
        return;
    }
    const char *tok = NULL;
    if (strncasecmp(q->auth, "Bearer ", 7) == 0)
        tok = q->auth + 7;
    int configured = 0;
    if (!fsv_metrics_token_check(srv->data_dir, tok, &configured)) {
        fsv_metrics_inc(srv->metrics, FSV_C_AUTH_FAILED);
        fsv_warn("metrics_refused peer=%s why=%s", q->peer,
                 !configured ? "no metrics token made"
                 : tok       ? "wrong token" : "no bearer token");
        if (fsv_authlim_fail(srv->authlim, q->peer, now))
            fsv_warn("auth_blocked peer=%s failures=%d window_s=%d block_s=%d",
                     q->peer, FSV_AUTH_FAIL_MAX, FSV_AUTH_FAIL_WINDOW_S,
                     FSV_AUTH_BLOCK_S);
        if (configured)
            fsv_resp_error(r, 401, "a metrics token is required (Authorization:"
                           " Bearer fsm_...)");
        else
            fsv_resp_error(r, 401, "metrics are off until an admin runs"
                           " `fieldsync-server token metrics`");
        return;
    }
    fsv_gauges g = {0, 0, -1, 0};
    for (fsv_conn *s = srv->conns; s; s = s->next)
        g.devices++;
    if (srv->api)
        for (fsv_live *l = srv->api->live; l; l = l->next)
            g.dashboards++;
    g.store_up = store_head(srv->store, &g.head) == FSV_OK;
    if (!g.store_up)
        g.head = -1;
    char *text = NULL;
    size_t len = 0;
    if (fsv_metrics_render(srv->metrics, &g, &text, &len) != 0) {
        fsv_resp_error(r, 500, "out of memory");
        return;
    }
    free(r->body);
    r->status = 200;
    r->ctype = "text/plain; version=0.0.4; charset=utf-8";
    r->body = text;
    r->len = len;
    fsv_resp_header(r, "cache-control:", "no-store");
}

int fsv_ops_route(fsv_api *api, const fsv_req *q, fsv_resp *r)
{
    int is_health = strcmp(q->path, "/healthz") == 0;
    if (!is_health && strcmp(q->path, "/metrics") != 0)
        return 0;
    if (q->method != FSV_GET) {
        fsv_resp_error(r, 405, "%s takes GET only", q->path);
        fsv_resp_header(r, "allow:", "GET");
        return 1;
    }
    if (is_health)
        healthz(api->srv, r);
    else
        metrics(api->srv, q, r);
    return 1;
}
