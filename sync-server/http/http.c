/*
** http.c — the plain HTTPS side of the port (protocols[0]): reads a
** request (method, path, query, the few headers the API needs, a bounded
** POST body), routes it to the JSON API (api_*.c, http_auth.c) or to the
** dashboard's static files, and writes the response in chunks, one
** lws_write per WRITEABLE.  Every response goes through
** lws_add_http_common_headers, which adds the security headers the
** context enforces (CSP, nosniff, frame and referrer policy, HSTS).
** WebSocket upgrades never bind here: devices name the sync subprotocol,
** the dashboard names fieldsync.live, and an upgrade without one is
** refused.
*/
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "log.h"
#include "metrics.h"
#include "ops.h"

#define CHUNK     4000            /* within lws's default service buffer */
#define FILE_MAX  (16 * 1024 * 1024)

static const char builtin_page[] =
    "<!doctype html>\n"
    "<html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<title>fieldsync</title></head>\n"
    "<body><h1>fieldsync server</h1>\n"
    "<p>The sync service is running. Devices connect with "
    "<code>fieldsync init --server wss://HOST:PORT --token TOKEN --ca ca.pem</code>.</p>\n"
    "<p>The central-office dashboard is not installed in this build.</p>\n"
    "</body></html>\n";

/* ---- Responses ---------------------------------------------------------------- */

void fsv_resp_clear(fsv_resp *r)
{
    free(r->body);
    for (size_t i = 0; i < r->n_hdr; i++)
        free(r->hdr_value[i]);
    memset(r, 0, sizeof *r);
}

static void set_body(fsv_resp *r, int status, const char *ctype, char *body,
                     size_t len)
{
    free(r->body);
    r->status = status;
    r->ctype = ctype;
    r->body = body;
    r->len = len;
}

void fsv_resp_error(fsv_resp *r, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *j = json_pack("{s:s}", "error", msg);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    set_body(r, status, "application/json; charset=utf-8", s, s ? strlen(s) : 0);
    if (status == 401)
        fsv_resp_header(r, "www-authenticate:", "Bearer realm=\"fieldsync\"");
}

void fsv_resp_json(fsv_resp *r, int status, json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s) {
        fsv_resp_error(r, 500, "the server could not build the answer (out of memory or store failure)");
        return;
    }
    set_body(r, status, "application/json; charset=utf-8", s, strlen(s));
}

void fsv_resp_header(fsv_resp *r, const char *name, const char *value)
{
    if (r->n_hdr >= FSV_RESP_HDRS)
        return;
    char *v = strdup(value);
    if (!v)
        return;
    r->hdr_name[r->n_hdr] = name;
    r->hdr_value[r->n_hdr++] = v;
}

const char *fsv_req_arg(const fsv_req *q, const char *name)
{
    for (size_t i = 0; i < q->n_args; i++)
        if (strcmp(q->arg_name[i], name) == 0)
            return q->arg_value[i];
    return NULL;
}

/* ---- Static files --------------------------------------------------------------- */

static const char *type_of(const char *path)
{
    static const struct { const char *ext, *type; } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".map", "application/json"},
        {".woff2", "font/woff2"},
    };
    const char *dot = strrchr(path, '.');
    if (dot && !strchr(dot, '/'))
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (strcmp(dot, types[i].ext) == 0)
                return types[i].type;
    return "application/octet-stream";
}

static void not_found(fsv_resp *r)
{
    static const char msg[] = "not found\n";
    char *b = strdup(msg);
    set_body(r, 404, "text/plain; charset=utf-8", b, b ? sizeof msg - 1 : 0);
}

static void serve_static(fsv_api *api, const char *path, fsv_resp *r)
{
    if (!api->web_dir[0]) {
        if (strcmp(path, "/") != 0) {
            not_found(r);
            return;
        }
        char *b = strdup(builtin_page);
        set_body(r, 200, "text/html; charset=utf-8", b,
                 b ? sizeof builtin_page - 1 : 0);
        return;
    }
    /* No way out of the web folder: no "..", backslash or control bytes,
    ** and only regular files (O_NOFOLLOW refuses a symlink as the leaf). */
    if (path[0] != '/' || strstr(path, "..") || strchr(path, '\\') ||
        strstr(path, "//")) {
        not_found(r);
        return;
    }
    for (const char *c = path; *c; c++)
        if ((unsigned char)*c < 0x20) {
            not_found(r);
            return;
        }
    char full[4700];
    int n = snprintf(full, sizeof full, "%s%s%s", api->web_dir, path,
                     path[strlen(path) - 1] == '/' ? "index.html" : "");
    if (n < 0 || (size_t)n >= sizeof full) {
        not_found(r);
        return;
    }
    int fd = open(full, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
        sb.st_size > FILE_MAX) {
        if (fd >= 0)
            close(fd);
        not_found(r);
        return;
    }
    size_t len = (size_t)sb.st_size, got = 0;
    char *buf = malloc(len + 1);
    while (buf && got < len) {
        ssize_t k = read(fd, buf + got, len - got);
        if (k <= 0) {
            free(buf);
            buf = NULL;
            break;
        }
        got += (size_t)k;
    }
    close(fd);
    if (!buf) {
        fsv_resp_error(r, 500, "cannot read %s", path);
        return;
    }
    set_body(r, 200, type_of(full), buf, len);
    fsv_resp_header(r, "cache-control:", "no-cache");
}

/* ---- Routing ---------------------------------------------------------------------- */

static void route_api(fsv_api *api, fsv_http_conn *c)
{
    const fsv_req *q = &c->req;
    fsv_resp *r = &c->resp;
    const char *p = q->path;
    int is_login = strcmp(p, "/api/login") == 0;
    int is_logout = strcmp(p, "/api/logout") == 0;
    int known = is_login || is_logout || strcmp(p, "/api/me") == 0 ||
                strcmp(p, "/api/summary") == 0 ||
                strcmp(p, "/api/analysis") == 0 ||
                strcmp(p, "/api/analysis/birthdays") == 0 ||
                strcmp(p, "/api/analysis/time_to_won") == 0 ||
                strcmp(p, "/api/pool") == 0 ||
                strcmp(p, "/api/customers") == 0 ||
                (strncmp(p, "/api/customers/", 15) == 0 && p[15] &&
                 !strchr(p + 15, '/')) ||
                strcmp(p, "/api/export.csv") == 0 ||
                strcmp(p, "/api/teams") == 0 ||
                strcmp(p, "/api/checkins") == 0 ||
                strcmp(p, "/api/duplicates") == 0 ||
                (strncmp(p, "/api/blobs/", 11) == 0 && p[11] &&
                 !strchr(p + 11, '/'));
    if (!known) {
        fsv_resp_error(r, 404, "no such API path: %s", p);
        return;
    }
    int want = (is_login || is_logout) ? FSV_POST : FSV_GET;
    if (q->method != want) {
        fsv_resp_error(r, 405, "%s takes %s only", p,
                       want == FSV_POST ? "POST" : "GET");
        fsv_resp_header(r, "allow:", want == FSV_POST ? "POST" : "GET");
        return;
    }
    if (c->too_big) {
        fsv_resp_error(r, 413, "the request body is larger than %d bytes",
                       FSV_API_BODY_MAX);
        return;
    }
    if (is_login) {
        fsv_api_login(api, q, r);
        return;
    }
    if (is_logout) {
        fsv_api_logout(api, q, r);
        return;
    }
    fsv_user u;
    if (fsv_auth_caller(api, q, &u, r) != FSV_OK)
        return;
    if (strcmp(p, "/api/me") == 0)
        fsv_api_me(api, q, r);
    else if (strcmp(p, "/api/summary") == 0)
        fsv_api_summary(api, &u, q, r);
    else if (strcmp(p, "/api/analysis") == 0)
        fsv_api_analysis(api, &u, q, r);
    else if (strncmp(p, "/api/analysis/", 14) == 0)
        fsv_api_analysis_list(api, &u, p + 14, q, r);
    else if (strcmp(p, "/api/pool") == 0)
        fsv_api_pool(api, &u, q, r);
    else if (strcmp(p, "/api/customers") == 0)
        fsv_api_customers(api, &u, q, r);
    else if (strcmp(p, "/api/export.csv") == 0)
        fsv_api_export_team(api, &u, q, r);
    else if (strcmp(p, "/api/teams") == 0)
        fsv_api_teams(api, &u, q, r);
    else if (strncmp(p, "/api/blobs/", 11) == 0)
        fsv_api_blob(api, &u, p + 11, r);
    else if (strcmp(p, "/api/checkins") == 0)
        fsv_api_checkins(api, &u, q, r);
    else if (strcmp(p, "/api/duplicates") == 0)
        fsv_api_duplicates(api, &u, q, r);
    else
        fsv_api_customer(api, &u, p + 15, q, r);
    fsv_resp_header(r, "cache-control:", "no-store");
}

static void route(fsv_api *api, fsv_http_conn *c)
{
    if (fsv_ops_route(api, &c->req, &c->resp))
        return;
    if (strncmp(c->req.path, "/api/", 5) == 0 || strcmp(c->req.path, "/api") == 0) {
        route_api(api, c);
        return;
    }
    if (c->req.method != FSV_GET) {
        fsv_resp_error(&c->resp, 405, "only GET is served here");
        fsv_resp_header(&c->resp, "allow:", "GET");
        return;
    }
    serve_static(api, c->req.path, &c->resp);
}

/* ---- Reading the request --------------------------------------------------------------- */

static void req_clear(fsv_req *q)
{
    for (size_t i = 0; i < q->n_args; i++) {
        free(q->arg_name[i]);
        free(q->arg_value[i]);
    }
    memset(q, 0, sizeof *q);
}

static void hdr(struct lws *wsi, char *buf, size_t cap, enum lws_token_indexes t)
{
    buf[0] = '\0';
    if (lws_hdr_total_length(wsi, t) > 0 &&
        lws_hdr_copy(wsi, buf, (int)cap, t) < 0)
        buf[0] = '\0';
}

static int method_of(struct lws *wsi)
{
    char m[16];
    if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI))
        return FSV_GET;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI))
        return FSV_POST;
    hdr(wsi, m, sizeof m, WSI_TOKEN_HTTP_COLON_METHOD);
    if (strcmp(m, "GET") == 0)
        return FSV_GET;
    if (strcmp(m, "POST") == 0)
        return FSV_POST;
    return FSV_OTHER;
}

static void read_request(struct lws *wsi, fsv_http_conn *c, const char *uri)
{
    fsv_req *q = &c->req;
    q->method = method_of(wsi);
    /* A path too long for the buffer is answered 404, never truncated. */
    if (uri && strlen(uri) >= sizeof q->path)
        q->path[0] = '\0';
    else
        snprintf(q->path, sizeof q->path, "%s", uri ? uri : "/");
    hdr(wsi, q->auth, sizeof q->auth, WSI_TOKEN_HTTP_AUTHORIZATION);
    hdr(wsi, q->cookie, sizeof q->cookie, WSI_TOKEN_HTTP_COOKIE);
    hdr(wsi, q->ctype, sizeof q->ctype, WSI_TOKEN_HTTP_CONTENT_TYPE);
    lws_get_peer_simple(wsi, q->peer, sizeof q->peer);
    char frag[1024];
    for (int i = 0; q->n_args < FSV_API_ARGS_MAX; i++) {
        int n = lws_hdr_copy_fragment(wsi, frag, sizeof frag,
                                      WSI_TOKEN_HTTP_URI_ARGS, i);
        if (n <= 0)
            break;
        char *eq = strchr(frag, '=');
        if (eq)
            *eq = '\0';
        char *name = strdup(frag), *value = strdup(eq ? eq + 1 : "");
        if (!name || !value) {
            free(name);
            free(value);
            break;
        }
        q->arg_name[q->n_args] = name;
        q->arg_value[q->n_args++] = value;
    }
}

/* ---- Writing the response ------------------------------------------------------------------ */

static int send_headers(struct lws *wsi, fsv_http_conn *c)
{
    unsigned char buf[LWS_PRE + 4096];
    unsigned char *start = &buf[LWS_PRE], *p = start, *end = &buf[sizeof buf - 1];
    fsv_resp *r = &c->resp;
    if (!r->status)
        fsv_resp_error(r, 500, "no answer was produced");
    if (lws_add_http_common_headers(wsi, (unsigned int)r->status,
                                    r->ctype ? r->ctype : "text/plain",
                                    r->len, &p, end))
        return -1;
    /* lws's best-practice set has no HSTS; this port is TLS only. */
    static const char sts[] = "max-age=15768000; includeSubDomains";
    if (lws_add_http_header_by_name(wsi, (const unsigned char *)"strict-transport-security:",
                                    (const unsigned char *)sts, (int)sizeof sts - 1,
                                    &p, end))
        return -1;
    for (size_t i = 0; i < r->n_hdr; i++)
        if (lws_add_http_header_by_name(wsi, (const unsigned char *)r->hdr_name[i],
                                        (const unsigned char *)r->hdr_value[i],
                                        (int)strlen(r->hdr_value[i]), &p, end))
            return -1;
    if (lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    c->responding = 1;
    c->sent = 0;
    lws_callback_on_writable(wsi);
    return 0;
}

static int respond(struct lws *wsi, fsv_api *api, fsv_http_conn *c)
{
    route(api, c);
    fsv_metrics_http(api->srv->metrics, c->resp.status);
    if (c->resp.status >= 400)
        fsv_debug("http path=%s status=%d", c->req.path, c->resp.status);
    return send_headers(wsi, c);
}

static int write_body(struct lws *wsi, fsv_http_conn *c)
{
    if (!c->responding)
        return 0;
    size_t left = c->resp.len - c->sent;
    size_t n = left > CHUNK ? CHUNK : left;
    /* HTTP/2 flow control: never more than the peer's window allows; lws
    ** calls WRITEABLE again when the window opens. */
    lws_fileofs_t allow = lws_get_peer_write_allowance(wsi);
    if (allow >= 0 && (lws_fileofs_t)n > allow) {
        if (allow == 0 && left) {
            lws_callback_on_writable(wsi);
            return 0;
        }
        n = (size_t)allow;
    }
    unsigned char *buf = malloc(LWS_PRE + n + 1);
    if (!buf)
        return -1;
    if (n)
        memcpy(buf + LWS_PRE, c->resp.body + c->sent, n);
    int last = c->sent + n == c->resp.len;
    int w = lws_write(wsi, buf + LWS_PRE, n,
                      last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP);
    free(buf);
    if (w < (int)n)
        return -1;
    c->sent += n;
    if (!last) {
        lws_callback_on_writable(wsi);
        return 0;
    }
    c->responding = 0;
    fsv_resp_clear(&c->resp);
    req_clear(&c->req);
    free(c->body);
    c->body = NULL;
    c->body_len = 0;
    c->too_big = 0;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

int fsv_http_callback(struct lws *wsi, enum lws_callback_reasons reason,
                      void *user, void *in, size_t len)
{
    fsv_http_conn *c = user;
    struct lws_context *ctx = lws_get_context(wsi);
    fsv_server *srv = ctx ? lws_context_user(ctx) : NULL;

    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        /* A WebSocket upgrade that named no (known) subprotocol. */
        return -1;

    case LWS_CALLBACK_HTTP:
        if (!c || !srv || !srv->api)
            return -1;
        fsv_resp_clear(&c->resp);
        req_clear(&c->req);
        free(c->body);
        c->body = NULL;
        c->body_len = 0;
        c->too_big = 0;
        c->responding = 0;
        read_request(wsi, c, in);
        if (c->req.method == FSV_POST) {
            char cl[32];
            hdr(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH);
            if (cl[0] && strtoll(cl, NULL, 10) > 0)
                return 0;           /* answered at BODY_COMPLETION */
            if (cl[0] && strtoll(cl, NULL, 10) == 0) {
                c->req.body = "";
                return respond(wsi, srv->api, c);
            }
            /* No length: h2 or chunked; the body (maybe empty) follows. */
            return 0;
        }
        return respond(wsi, srv->api, c);

    case LWS_CALLBACK_HTTP_BODY:
        if (!c)
            return -1;
        if (!len || !in || c->responding)
            return 0;
        if (c->too_big || c->body_len + len > FSV_API_BODY_MAX) {
            c->too_big = 1;
            return 0;
        }
        {
            char *b = realloc(c->body, c->body_len + len + 1);
            if (!b)
                return -1;
            memcpy(b + c->body_len, in, len);
            c->body = b;
            c->body_len += len;
            b[c->body_len] = '\0';
        }
        return 0;

    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (!c || !srv || !srv->api || c->responding)
            return c && c->responding ? 0 : -1;
        c->req.body = c->body ? c->body : "";
        c->req.body_len = c->body_len;
        return respond(wsi, srv->api, c);

    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (!c)
            return -1;
        return write_body(wsi, c);

    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        if (c) {
            fsv_resp_clear(&c->resp);
            req_clear(&c->req);
            free(c->body);
            c->body = NULL;
            c->body_len = 0;
            c->responding = 0;
        }
        break;

    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* ---- State ---------------------------------------------------------------------------------- */

static int has_index(const char *dir)
{
    char p[4200];
    struct stat sb;
    if (!dir || !dir[0])
        return 0;
    if (snprintf(p, sizeof p, "%s/index.html", dir) >= (int)sizeof p)
        return 0;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* share/fieldsync/web beside the running binary's bin/ (the Debian
** package's /usr/bin -> /usr/share, or any prefix it was copied to), so an
** installed server finds its dashboard whatever prefix it was built for.
** "" when /proc/self/exe cannot be read. */
static void beside_exe(char *out, size_t cap)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    out[0] = '\0';
    if (n <= 0)
        return;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return;
    *slash = '\0';                             /* .../bin */
    if (snprintf(out, cap, "%s/../share/fieldsync/web", exe) >= (int)cap)
        out[0] = '\0';
}

fsv_api *fsv_api_new(fsv_server *srv, const char *web_dir)
{
    fsv_api *api = calloc(1, sizeof *api);
    if (!api)
        return NULL;
    api->srv = srv;
    char rel[4200];
    beside_exe(rel, sizeof rel);
    const char *cands[5] = {web_dir, getenv("FIELDSYNC_WEB_DIR"), rel,
#ifdef FSV_WEB_INSTALL_DIR
                            FSV_WEB_INSTALL_DIR,
#else
                            NULL,
#endif
#ifdef FSV_WEB_DIST
                            FSV_WEB_DIST
#else
                            NULL
#endif
    };
    for (int i = 0; i < 5; i++) {
        if (has_index(cands[i])) {
            snprintf(api->web_dir, sizeof api->web_dir, "%s", cands[i]);
            size_t n = strlen(api->web_dir);
            while (n > 1 && api->web_dir[n - 1] == '/')
                api->web_dir[--n] = '\0';
            break;
        }
        if (i < 2 && cands[i] && cands[i][0])
            fsv_warn("dashboard_ignored dir=%s why=%s", cands[i], "no index.html");
    }
    if (api->web_dir[0])
        fsv_info("dashboard dir=%s", api->web_dir);
    else
        fsv_info("dashboard dir=- why=%s", "not installed: / serves the built-in page");
    return api;
}

void fsv_api_free(fsv_api *api)
{
    if (!api)
        return;
    fsv_view_free_all(api);
    fsv_fig_cache_free(api);
    fsv_auth_free(api);
    free(api);
}
