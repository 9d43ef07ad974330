/*
** server.c — libwebsockets context, TLS set-up and the service loop.
*/
#include "server.h"
#include "pool.h"

#include <arpa/inet.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <uv.h>

#include "api.h"
#include "authlim.h"
#include "log.h"
#include "metrics.h"
#include "sdnotify.h"

#define TICK_US (200 * LWS_US_PER_MS)

int64_t fsv_now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* protocols[0]'s callback: http.c's, plus the TLS events libwebsockets
** reports on a connection before any protocol is chosen (it sends
** LWS_CALLBACK_SSL_INFO to protocols[0]; ssl_info_event_mask below asks
** for alerts only).  A fatal alert, sent (no shared cipher or version, a
** malformed hello) or received (the client refused our certificate), ends
** the handshake: that is what fieldsync_tls_handshake_failures_total
** counts.  Warning alerts (close_notify) are normal closes. */
static int http_entry(struct lws *wsi, enum lws_callback_reasons reason,
                      void *user, void *in, size_t len)
{
    if (reason == LWS_CALLBACK_SSL_INFO) {
        const struct lws_ssl_info *si = in;
        struct lws_context *ctx = lws_get_context(wsi);
        fsv_server *srv = ctx ? lws_context_user(ctx) : NULL;
        SSL *ssl = lws_get_ssl(wsi);
        /* Before the peer's Finished message: still in the handshake.
        ** (After it, a fatal alert is a connection dying, not a failed
        ** handshake; OpenSSL reports e.g. decode_error when a client
        ** drops the TCP connection without close_notify.) */
        if (si && srv && ssl && (si->where & SSL_CB_ALERT) &&
            (si->ret >> 8) == SSL3_AL_FATAL &&
            SSL_get_peer_finished(ssl, NULL, 0) == 0) {
            char peer[64] = "";
            if (!lws_get_peer_simple(wsi, peer, sizeof peer) ||
                strchr(peer, ' '))
                snprintf(peer, sizeof peer, "-");
            fsv_metrics_inc(srv->metrics, FSV_C_TLS_FAILED);
            /* A TCP-only probe (a load balancer's port check) is gone
            ** before its alert: counted, but logged at debug only. */
            fsv_log(peer[0] == '-' ? FSV_LOG_DEBUG : FSV_LOG_INFO, "tls_failed peer=%s alert=%s dir=%s", peer,
                     SSL_alert_desc_string_long(si->ret),
                     (si->where & SSL_CB_READ) ? "received" : "sent");
        }
        return 0;
    }
    return fsv_http_callback(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
    /* HTTP first: plain requests (dashboard) bind to protocols[0]. */
    {"http", http_entry, sizeof(fsv_http_conn), 0, 0, NULL, 0},
    /* rx_buffer_size FDSP_MAX_FRAME: permessage-deflate sizes its
    ** inflate buffer from it (see pmd_sync_only below). */
    {FDSP_SUBPROTOCOL, fsv_sync_callback, sizeof(fsv_conn),
     FDSP_MAX_FRAME, 0, NULL, FSV_TX_CHUNK},
    {FSV_LIVE_PROTOCOL, fsv_live_callback, sizeof(fsv_live), 0, 0, NULL, 0},
    /* Not for peers: the store's LISTEN socket (sync_notify.c). */
    {FSV_NOTIFY_PROTOCOL, fsv_notify_callback, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0}};

/* permessage-deflate (RFC 7692) on the sync protocol, whenever the device
** offers it.
**
** libwebsockets 4.1.6 inflates into a buffer of 2^rx_buf_size bytes
** (default 1 KiB).  When one inflate call fills it, the unused compressed
** input stays where lws read it, and lws reads more data (over TLS, the
** next buffered record) over it before finishing: the inflater then sees
** other bytes and the connection drops with "invalid distance too far
** back" or "invalid stored block lengths" (the bug of lws PR #3014 and
** ttyd#1254).  A message we accept is at most FDSP_MAX_FRAME bytes once
** inflated, so a 1 MiB inflate buffer (rx_buf_size 20; lws caps it at the
** protocol's rx_buffer_size, hence FDSP_MAX_FRAME there) means no call
** stops with input left.  A message over the limit may still fail that
** way; it is refused with a close anyway.  tx_buf_size 16 (64 KiB) takes
** the deflate output of a whole FSV_TX_CHUNK frame plus what zlib held
** back, so each lws_write compresses in one step.
**
** Other protocols (the dashboard's /live) stay uncompressed: their
** messages are small, and over HTTP/2 lws 4.1 returns the compressed
** length from lws_write. */
static int pmd_sync_only(struct lws_context *ctx, const struct lws_extension *ext,
                         struct lws *wsi, enum lws_extension_callback_reasons reason,
                         void *user, void *in, size_t len)
{
    if (reason == LWS_EXT_CB_CONSTRUCT) {
        const struct lws_protocols *p = lws_get_protocol(wsi);
        if (!p || !p->name || strcmp(p->name, FDSP_SUBPROTOCOL) != 0)
            return -1;      /* not constructed: not negotiated */
    }
    int rc = fsv_sync_pmd(ctx, ext, wsi, reason, user, in, len);
    if (reason == LWS_EXT_CB_CONSTRUCT && rc == 0) {
        /* After CONSTRUCT user points at the new private state.  What the
        ** compression keeps while idle: fsv_sync_pmd (sync/ws_sync.c). */
        static const char *const opt[][2] = {{"rx_buf_size", "20"},
                                             {"tx_buf_size", "16"}};
        for (size_t i = 0; i < sizeof opt / sizeof opt[0]; i++) {
            struct lws_ext_option_arg oa = {opt[i][0], 0, opt[i][1], 0};
            if (lws_extension_callback_pm_deflate(ctx, ext, wsi,
                    LWS_EXT_CB_NAMED_OPTION_SET, *(void **)user, &oa, 0))
                return -1;
        }
    }
    return rc;
}

static const struct lws_extension extensions[] = {
    {"permessage-deflate", pmd_sync_only, "permessage-deflate"},
    {NULL, NULL, NULL}};

/* No lws idle timers at all (secs_since_valid_hangup 0: lws 4.1.6 then
** arms none).  lws 4.1.6 keeps every timer of every connection in one
** sorted list and inserts in O(connections); with a validity timer per
** connection, re-armed at each ping and pong, that insert was half the
** idle server's CPU at 10,000 devices (issue 17, docs/BENCHMARKS.md).
** Sync connections get their ping after FSV_IDLE_PING_S of silence and
** their hang-up after FSV_IDLE_HANGUP_S from ws_sync.c's one-second tick
** instead (idle_check); every accepted socket also has TCP keepalive
** (ka_* below), which finds a vanished peer of the dashboard's /live or an
** HTTP/2 connection without any timer of ours. */
static const lws_retry_bo_t idle_policy = {
    .secs_since_valid_ping = 0,
    .secs_since_valid_hangup = 0,
};

/* Periodic wake-up: lws_service() may otherwise sleep until the next
** network event, and the signal that set *stop may have arrived while we
** were not in poll(). */
static void tick_cb(lws_sorted_usec_list_t *sul)
{
    fsv_server *srv = lws_container_of(sul, fsv_server, tick);
    lws_sul_schedule(srv->ctx, 0, &srv->tick, tick_cb, TICK_US);
}

int fsv_server_run(const fsv_config *cfg, fsv_store *store,
                   volatile sig_atomic_t *stop, char *err, size_t errlen)
{
    fsv_server srv;
    struct lws_context_creation_info info;
    unsigned char tmp[16];

    memset(&srv, 0, sizeof srv);
    srv.store = store;
    /* Heads up to here are no one's news (fsv_live_remote). */
    if (fsv_store_head(store, &srv.remote_head) != FSV_OK)
        srv.remote_head = 0;
    srv.stop = stop;
    srv.data_dir = cfg->data_dir;
    srv.no_group_commit = cfg->no_group_commit;
    srv.metrics = fsv_metrics_new();    /* NULL: counters off, not fatal */
    srv.max_batch = cfg->max_batch > 0 && cfg->max_batch < FDSP_MAX_BATCH
                        ? cfg->max_batch : FDSP_MAX_BATCH;
    /* Failed logins per address, shared by every authenticating handler
    ** (authlim.h); NULL (out of memory) only turns the limit off. */
    srv.authlim = fsv_authlim_new();

    memset(&info, 0, sizeof info);
    info.port = cfg->port;
    info.iface = (strcmp(cfg->host, "0.0.0.0") == 0 || strcmp(cfg->host, "::") == 0)
                     ? NULL : cfg->host;
    info.protocols = protocols;
    info.extensions = extensions;
    info.vhost_name = "fieldsync";
    info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT |
                   LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE |
                   LWS_SERVER_OPTION_VALIDATE_UTF8;
    if (inet_pton(AF_INET, cfg->host, tmp) == 1)
        info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    info.ssl_cert_filepath = cfg->cert;
    info.ssl_private_key_filepath = cfg->key;
    /* TLS 1.2 or newer only (1.3 only with the modern profile), AEAD
    ** ciphers only, the server's order first (server.h, FSV_TLS_*). */
    info.ssl_options_set = SSL_OP_NO_SSLv2 | SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 |
                           SSL_OP_NO_TLSv1_1 | SSL_OP_NO_COMPRESSION |
                           SSL_OP_CIPHER_SERVER_PREFERENCE;
    if (cfg->tls_profile == FSV_TLS_MODERN)
        info.ssl_options_set |= SSL_OP_NO_TLSv1_2;
    info.ssl_cipher_list = FSV_TLS12_CIPHERS;
    info.tls1_3_plus_cipher_list = FSV_TLS13_SUITES;
    info.ssl_info_event_mask = SSL_CB_ALERT;    /* http_entry */
    info.retry_and_idle_policy = &idle_policy;
    info.ka_time = FSV_IDLE_PING_S;     /* TCP keepalive: kernel timers */
    info.ka_probes = 3;
    info.ka_interval = 5;
    info.timeout_secs = 20;     /* handshakes and HTTP transactions */
    /* lws 4.1 arms keepalive_timeout (default 5 s) on an HTTP/2 network
    ** connection at every frame it reads, and checks it once the callback
    ** returns: a request that waited on the store's lock for its whole
    ** busy timeout (5 s, SQLite) lost its connection before its answer
    ** went out (found by /healthz answering 503 over HTTP/2).  It must
    ** exceed the store's busy timeout. */
    info.keepalive_timeout = 15;
    info.user = &srv;

    /* libuv: a loop of ours ("foreign" to lws), so lws installs no signal
    ** handlers of its own (it would take SIGINT/SIGTERM/SIGSEGV/SIGHUP
    ** otherwise) and we run it one turn at a time below, like lws_service
    ** (which on an event lib runs the loop until uv_stop, and lws 4.1 does
    ** not export the loop it would make).  The plugin is
    ** libwebsockets-evlib_uv.so, package libwebsockets-evlib-uv. */
    uv_loop_t loop;
    void *foreign[1] = {&loop};
    int use_uv = cfg->event_loop == FSV_LOOP_UV;
    if (use_uv) {
        if (uv_loop_init(&loop) != 0) {
            snprintf(err, errlen, "cannot make the libuv event loop");
            return -1;
        }
        info.options |= LWS_SERVER_OPTION_LIBUV;
        info.foreign_loops = foreign;
    }

    fsv_log_route_lws();
    srv.api = fsv_api_new(&srv, cfg->web_dir);
    if (!srv.api) {
        fsv_metrics_free(srv.metrics);
        fsv_authlim_free(srv.authlim);
        snprintf(err, errlen, "out of memory");
        if (use_uv)
            uv_loop_close(&loop);
        return -1;
    }
    if (cfg->tz)
        snprintf(srv.api->tz, sizeof srv.api->tz, "%s", cfg->tz);
    srv.ctx = lws_create_context(&info);
    if (!srv.ctx) {
        fsv_api_free(srv.api);
        fsv_metrics_free(srv.metrics);
        fsv_authlim_free(srv.authlim);
        snprintf(err, errlen, "cannot start listening on %s:%d with %s / %s"
                 " (port in use, bad address or unreadable certificate%s)",
                 cfg->host, cfg->port, cfg->cert, cfg->key,
                 use_uv ? ", or libwebsockets' libuv plugin missing:"
                          " --event-loop poll" : "");
        if (use_uv) {
            uv_run(&loop, UV_RUN_NOWAIT);
            uv_loop_close(&loop);
        }
        return -1;
    }
    fsv_info("listening url=wss://%s:%d tls_profile=%s protocol=%s"
             " open_files=%ld event_loop=%s", cfg->host, cfg->port,
             cfg->tls_profile == FSV_TLS_MODERN ? "modern" : "intermediate",
             FDSP_SUBPROTOCOL, cfg->open_files, use_uv ? "uv" : "poll");
    lws_sul_schedule(srv.ctx, 0, &srv.tick, tick_cb, TICK_US);
    fsv_pool_start(&srv);
    /* systemd (Type=notify): the port listens now. */
    fsv_sd_notify("READY=1\nSTATUS=serving");

    /* One turn at a time: the tick (TICK_US) bounds each turn, so a
    ** signal that set *stop is noticed within it. */
    int n = 0;
    while (n >= 0 && !*stop)
        n = use_uv ? (uv_run(&loop, UV_RUN_ONCE), 0) : lws_service(srv.ctx, 0);

    /* Every transaction ran to completion inside its callback, so nothing
    ** is in flight here.  Say goodbye politely, within a bounded time. */
    fsv_info("shutting_down");
    fsv_sd_notify("STOPPING=1");
    srv.shutting_down = 1;
    fsv_sync_close_all(&srv);
    fsv_live_close_all(srv.api);
    int64_t deadline = fsv_now_ms() + FSV_SHUTDOWN_MS;
    while (n >= 0 && srv.conns && fsv_now_ms() < deadline)
        n = use_uv ? (uv_run(&loop, UV_RUN_ONCE), 0) : lws_service(srv.ctx, 0);
    lws_sul_cancel(&srv.tick);
    lws_sul_cancel(&srv.auth_tick);
    fsv_sync_push_stop(&srv);   /* a push not committed is not acked */
    fsv_pool_stop(&srv);
    fsv_live_stop(srv.api);
    lws_context_destroy(srv.ctx);
    if (use_uv) {
        /* lws closes its libuv handles asynchronously: run the loop until
        ** they are all closed (CLOSED callbacks included), then free it. */
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
    }
    fsv_sync_seen_flush(&srv);
    fsv_api_free(srv.api);
    fsv_authlim_free(srv.authlim);
    fsv_metrics_free(srv.metrics);
    fsv_info("stopped");
    return 0;
}
