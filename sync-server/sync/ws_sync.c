/*
** ws_sync.c — the sync WebSocket protocol's transport side
** (FDSP_SUBPROTOCOL): token authentication on upgrade, message reassembly,
** the rate limit, the per-session output queue and the session list.  What
** each message means to the store is sync_ops.c.
*/
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <malloc.h>
#include <openssl/ssl.h>

#include "authlim.h"
#include "log.h"
#include "metrics.h"
#include "server.h"
#include "sync_trust.h"
#include "token.h"

#define AUTH_CHECK_US (1000 * LWS_US_PER_MS)   /* token re-check period */
#define FATAL_CLOSE_S 2     /* a peer that does not take its fatal error */
#define TRIM_EVERY_CLOSES 256   /* malloc_trim after this many closes */
#define IDLE_CHECK_TICKS 5      /* idle_check every this many auth ticks */
#define FSV_SEEN_FLUSH_MS 100   /* closed devices' last sync, batched */

/* ---- Output queue ------------------------------------------------------------ */

/* Queue one message; it is sent in FSV_TX_CHUNK frames, one lws_write per
** WRITEABLE callback.  Takes ownership of nothing: copies buf. */
int fsv_conn_enqueue(fsv_conn *s, const char *buf, size_t len)
{
    return fsv_conn_enqueue2(s, buf, len, NULL, 0);
}

int fsv_conn_enqueue2(fsv_conn *s, const char *a, size_t alen, const char *b,
                      size_t blen)
{
    size_t len = alen + blen;
    struct fsv_out *o = malloc(sizeof *o + LWS_PRE + len);
    if (!o)
        return -1;
    o->next = NULL;
    o->len = len;
    o->off = 0;
    memcpy(o->buf + LWS_PRE, a, alen);
    if (blen)
        memcpy(o->buf + LWS_PRE + alen, b, blen);
    if (s->out_tail)
        s->out_tail->next = o;
    else
        s->out_head = o;
    s->out_tail = o;
    s->out_n++;
    /* A peer that asks faster than it reads (free pull pages, say) is
    ** not read until its answers drain: its requests wait in the socket,
    ** not as pages in our memory. */
    if (s->out_n >= FSV_RX_MAX_QUEUED && !s->out_paused) {
        s->out_paused = 1;
        lws_rx_flow_control(s->wsi, 0);
    }
    lws_callback_on_writable(s->wsi);
    return 0;
}

int fsv_conn_send(fsv_conn *s, const fdsp_msg *m)
{
    char *buf = NULL;
    size_t len = 0;
    int rc = fdsp_encode(m, &buf, &len);
    if (rc != FDSP_OK) {
        fsv_err("encode_failed type=%s user=%s device=%s why=%s", fdsp_typename(m->type),
                s->user.name, s->device, fdsp_errname(rc));
        return -1;
    }
    rc = fsv_conn_enqueue(s, buf, len);
    free(buf);
    return rc;
}

/* Send an error message; fatal ones close the connection after it. */
int fsv_conn_error(fsv_conn *s, int code, int64_t batch, int fatal,
                   const char *fmt, ...)
{
    char text[FDSP_MAX_TEXT];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    fdsp_msg m;
    memset(&m, 0, sizeof m);
    m.type = FDSP_ERROR;
    m.code = code;
    m.message = text;
    m.batch = batch;
    m.fatal = fatal;
    fsv_metrics_error_sent(s->srv ? s->srv->metrics : NULL, code);
    fsv_warn("error_sent user=%s device=%s peer=%s code=%s fatal=%d why=%s",
             s->user.name,
             s->device[0] ? s->device : "-", s->peer, fdsp_errname(code), fatal,
             text);
    if (fatal) {
        s->close_after_send = 1;
        s->close_code = code == FDSP_E_TOOBIG ? LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE
                                              : LWS_CLOSE_STATUS_POLICY_VIOLATION;
    }
    /* The struct only borrows text: do not fdsp_msg_free it. */
    return fsv_conn_send(s, &m);
}

static void free_queue(fsv_conn *s)
{
    struct fsv_out *o = s->out_head;
    while (o) {
        struct fsv_out *next = o->next;
        free(o);
        o = next;
    }
    s->out_head = s->out_tail = NULL;
    s->out_n = 0;
}

/* Write the next frame of the queue head.  Returns -1 to close. */
static int write_next(fsv_conn *s)
{
    struct fsv_out *o = s->out_head;
    /* The idle ping (idle_check), between messages, one write per
    ** WRITEABLE like everything else. */
    if (s->ping_owed && (!o || o->off == 0) && !s->close_after_send) {
        /* Not empty: lws 4.1.6 does not report an empty pong
        ** (LWS_CALLBACK_RECEIVE_PONG skipped, ops-ws.c). */
        unsigned char buf[LWS_PRE + 4];
        memcpy(buf + LWS_PRE, "idle", 4);
        s->ping_owed = 0;
        s->ping_ms = fsv_now_ms();
        if (lws_write(s->wsi, buf + LWS_PRE, 4, LWS_WRITE_PING) < 4)
            return -1;
        if (o)
            lws_callback_on_writable(s->wsi);
        return 0;
    }
    if (!o) {
        if (s->close_after_send) {
            lws_close_reason(s->wsi, (enum lws_close_status)s->close_code,
                             NULL, 0);
            return -1;
        }
        return 0;
    }
    size_t chunk = o->len - o->off;
    if (chunk > FSV_TX_CHUNK)
        chunk = FSV_TX_CHUNK;
    int first = o->off == 0, last = o->off + chunk == o->len;
    int flags = lws_write_ws_flags(LWS_WRITE_TEXT, first, last);
    /* lws needs LWS_PRE writable bytes before the payload; for later
    ** chunks those bytes are already-sent message data, which we may
    ** scribble over. */
    unsigned char *p = o->buf + LWS_PRE + o->off;
    int n = lws_write(s->wsi, p, chunk, (enum lws_write_protocol)flags);
    if (n < (int)chunk)
        return -1;
    o->off += chunk;
    if (last) {
        s->out_head = o->next;
        if (!s->out_head)
            s->out_tail = NULL;
        free(o);
        s->out_n--;
        if (s->out_paused && s->out_n <= FSV_RX_MAX_QUEUED / 2) {
            s->out_paused = 0;
            if (!s->throttled && !s->push_wait)
                lws_rx_flow_control(s->wsi, 1);
        }
        /* Caught up with its queue: the notify it was owed (sync_live.c). */
        if (!s->out_head && s->notify_owed && !s->close_after_send) {
            fdsp_msg m;
            memset(&m, 0, sizeof m);
            m.type = FDSP_NOTIFY;
            m.head = s->notify_owed;
            s->notify_owed = 0;
            if (fsv_conn_send(s, &m) != 0)
                return -1;
        }
    }
    if (s->out_head || s->close_after_send)
        lws_callback_on_writable(s->wsi);
    return 0;
}

/* ---- Memory of an idle connection (issue 17) --------------------------------- */

/* permessage-deflate as libwebsockets 4.1.6 does it, and what we change.
** lws keeps a deflater (about 256 KiB once used: window, hash chains and
** pending buffer at memLevel 8) and an inflater (about 40 KiB) for the
** whole life of a connection, so an idle device that once got a message
** costs ~300 KiB.  Here:
**  - our deflater is freed after every message ("client_no_context_takeover"
**    is lws's name for that on a server; it reads the RFC's names from the
**    client's side) and made at memLevel 4: each message is compressed on
**    its own, which any peer inflates (a fresh deflate stream is a valid
**    continuation of the one it keeps).  Sync messages are small JSON
**    documents that rarely repeat each other, so little ratio is lost.
**  - our inflater is freed after every message too, but only when the
**    device said it resets its own deflater (it offered
**    client_no_context_takeover); otherwise its messages may refer back to
**    earlier ones and the inflater must stay.
**  - a device that asks for server_no_context_takeover gets it echoed
**    (our deflater resets anyway), but that name is not passed to lws,
**    which would read it as "reset the inflater" and break a device that
**    keeps its own context.
** The window stays at 15 bits: lws uses one setting for both directions,
** and our inflater must take whatever window the device deflates with. */
int fsv_sync_pmd(struct lws_context *ctx, const struct lws_extension *ext,
                 struct lws *wsi, enum lws_extension_callback_reasons reason,
                 void *user, void *in, size_t len)
{
    enum { SERVER_NO_TAKEOVER = 0, CLIENT_NO_TAKEOVER = 1 };
    if (reason == LWS_EXT_CB_OPTION_SET) {
        const struct lws_ext_option_arg *oa = in;
        if (oa->option_index == SERVER_NO_TAKEOVER)
            return 0;
        if (oa->option_index == CLIENT_NO_TAKEOVER) {
            struct lws_ext_option_arg rx = {"server_no_context_takeover", 0,
                                            NULL, 0};
            if (lws_extension_callback_pm_deflate(ctx, ext, wsi,
                    LWS_EXT_CB_NAMED_OPTION_SET, user, &rx, 0))
                return -1;
        }
    }
    int rc = lws_extension_callback_pm_deflate(ctx, ext, wsi, reason, user,
                                               in, len);
    if (reason == LWS_EXT_CB_CONSTRUCT && rc == 0) {
        static const char *const opt[][2] = {
            {"client_no_context_takeover", NULL}, {"mem_level", "4"}};
        for (size_t i = 0; i < sizeof opt / sizeof opt[0]; i++) {
            struct lws_ext_option_arg oa = {opt[i][0], 0, opt[i][1], 0};
            if (lws_extension_callback_pm_deflate(ctx, ext, wsi,
                    LWS_EXT_CB_NAMED_OPTION_SET, *(void **)user, &oa, 0))
                return -1;
        }
    }
    return rc;
}

/* ---- Session list and fan-out --------------------------------------------------- */

/* Doubly linked: a close costs O(1), not a walk of every connection (a
** reconnect storm closes thousands at once). */
static void link_session(fsv_conn *s)
{
    s->prev = NULL;
    s->next = s->srv->conns;
    if (s->next)
        s->next->prev = s;
    s->srv->conns = s;
    s->linked = 1;
}

static void unlink_session(fsv_conn *s)
{
    if (!s->linked)
        return;
    if (s->prev)
        s->prev->next = s->next;
    else
        s->srv->conns = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->next = s->prev = NULL;
    s->linked = 0;
}

/* ---- The devices' last sync --------------------------------------------------- */

/* One closed device's last sync, waiting for the next batch. */
struct fsv_seen {
    char device[FDSP_MAX_ID + 1];
    char user[FSV_NAME_MAX + 1];
    char token_id[FSV_TOKEN_ID_LEN + 1];
    int64_t ms, cursor;
};

static void seen_write(fsv_store *st, const char *device, const char *user,
                       const char *token_id, int64_t ms, int64_t cursor)
{
    int rc = fsv_store_begin(st);
    if (rc == FSV_OK)
        rc = fsv_store_device_seen(st, device, user, token_id, ms, cursor);
    if (rc == FSV_OK)
        rc = fsv_store_commit(st);
    if (rc != FSV_OK) {
        fsv_store_rollback(st);
        fsv_warn("device_seen_failed device=%s why=%s", device, fsv_store_errmsg(st));
    }
}

void fsv_sync_seen_flush(fsv_server *srv)
{
    if (srv->n_seen) {
        fsv_store *st = srv->store;
        int rc = fsv_store_begin(st);
        for (size_t i = 0; rc == FSV_OK && i < srv->n_seen; i++) {
            const struct fsv_seen *e = &srv->seen[i];
            rc = fsv_store_device_seen(st, e->device, e->user, e->token_id,
                                       e->ms, e->cursor);
        }
        if (rc == FSV_OK)
            rc = fsv_store_commit(st);
        if (rc != FSV_OK) {
            fsv_store_rollback(st);
            fsv_warn("device_seen_failed devices=%zu why=%s", srv->n_seen,
                     fsv_store_errmsg(st));
        }
        srv->n_seen = 0;
    }
    if (srv->shutting_down || srv->cap_seen > 1024) {
        free(srv->seen);
        srv->seen = NULL;
        srv->cap_seen = 0;
    }
}

static void seen_tick(lws_sorted_usec_list_t *sul)
{
    fsv_server *srv = lws_container_of(sul, fsv_server, seen_sul);
    srv->seen_timer = 0;
    fsv_sync_seen_flush(srv);
}

/* Note s's last sync: a reconnect storm closes thousands of connections
** at once, and a commit each (an fsync each) kept the one service thread
** from the new handshakes for many seconds; they go in one transaction
** per FSV_SEEN_FLUSH_MS instead. */
static void seen_note(fsv_conn *s)
{
    fsv_server *srv = s->srv;
    if (srv->n_seen == srv->cap_seen) {
        size_t cap = srv->cap_seen ? srv->cap_seen * 2 : 64;
        struct fsv_seen *p = realloc(srv->seen, cap * sizeof *p);
        if (!p) {
            seen_write(srv->store, s->device, s->user.name, s->token_id,
                       fsv_now_ms(), s->cursor);
            return;
        }
        srv->seen = p;
        srv->cap_seen = cap;
    }
    struct fsv_seen *e = &srv->seen[srv->n_seen++];
    snprintf(e->device, sizeof e->device, "%s", s->device);
    snprintf(e->user, sizeof e->user, "%s", s->user.name);
    snprintf(e->token_id, sizeof e->token_id, "%s", s->token_id);
    e->ms = fsv_now_ms();
    e->cursor = s->cursor;
    if (!srv->seen_timer && !srv->shutting_down && srv->ctx) {
        srv->seen_timer = 1;
        lws_sul_schedule(srv->ctx, 0, &srv->seen_sul, seen_tick,
                         FSV_SEEN_FLUSH_MS * LWS_US_PER_MS);
    }
}

void fsv_sync_close_all(fsv_server *srv)
{
    for (fsv_conn *s = srv->conns; s; s = s->next) {
        s->close_after_send = 1;
        s->close_code = LWS_CLOSE_STATUS_GOINGAWAY;
        lws_callback_on_writable(s->wsi);
    }
}

static int handle_message(fsv_conn *s, const char *buf, size_t len)
{
    fdsp_msg *m = NULL;
    char err[256];
    int rc = fdsp_decode(buf, len, &m, err, sizeof err);
    if (rc != FDSP_OK)
        return fsv_conn_error(s, rc, 0, 1, "%s", err);
    int result = 0;
    if (!s->hello_done && m->type != FDSP_HELLO) {
        result = fsv_conn_error(s, FDSP_E_STATE, 0, 1, "%s before hello",
                            fdsp_typename(m->type));
    } else {
        switch (m->type) {
        case FDSP_HELLO:
            /* One more hello only from a device that reset itself (after
            ** a welcome counter above its own or a device_clash). */
            result = s->hello_done && !s->rehello_ok
                         ? fsv_conn_error(s, FDSP_E_STATE, 0, 1, "second hello")
                         : fsv_sync_hello(s, m);
            break;
        case FDSP_PUSH:
            if (fsv_sync_push_defer(s, m)) {
                m = NULL;       /* the group commit's now */
                break;
            }
            result = fsv_sync_push(s, m);
            break;
        case FDSP_PULL:
            result = fsv_sync_pull(s, m);
            break;
        case FDSP_SUMS:
            result = fsv_sync_sums(s, m);
            break;
        case FDSP_BLOB_PUT:
            result = fsv_sync_blob_put(s, m);
            break;
        case FDSP_BLOB_GET:
            result = fsv_sync_blob_get(s, m);
            break;
        case FDSP_ERROR:
            fsv_warn("device_error user=%s device=%s code=%s why=%s", s->user.name, s->device,
                     fdsp_errname(m->code), m->message ? m->message : "");
            break;
        default:
            result = fsv_conn_error(s, FDSP_E_STATE, 0, 1, "a device may not send %s",
                                fdsp_typename(m->type));
        }
    }
    fdsp_msg_free(m);
    return result;
}

/* ---- Rate limit: FDSP_RATE_PER_SEC messages per connection per second --- */

static void rate_resume(lws_sorted_usec_list_t *sul)
{
    fsv_conn *s = lws_container_of(sul, fsv_conn, rate_sul);
    s->throttled = 0;
    s->rate_count = 0;
    s->rate_start_ms = fsv_now_ms();
    if (!s->out_paused && !s->push_wait)
        lws_rx_flow_control(s->wsi, 1);
}

/* Count one message; past the limit stop reading until the second is
** over and send one non-fatal rate_limited error (PROTOCOL.md §1, Rate).
** A well-behaved device is slowed, not failed; flooding costs the server
** nothing because unread data stays in the socket.  The limit is on what
** a client sends, not on the pages it asked for: a pull answered with a
** full page (fsv_sync_pull sets rate_free) is not counted, or a fresh
** device could never pull faster than 50 pages a second; an empty or
** short page, or a page of a few changes asked with a tiny limit, is. */
static void rate_count(fsv_conn *s)
{
    int64_t now = fsv_now_ms();
    if (now - s->rate_start_ms >= 1000) {
        s->rate_start_ms = now;
        s->rate_count = 0;
    }
    if (++s->rate_count >= FDSP_RATE_PER_SEC && !s->throttled) {
        s->throttled = 1;
        fsv_metrics_inc(s->srv->metrics, FSV_C_RATE_LIMITED);
        lws_rx_flow_control(s->wsi, 0);
        int64_t wait_ms = 1000 - (now - s->rate_start_ms);
        if (wait_ms < 1)
            wait_ms = 1;
        fsv_debug("rate_limited user=%s device=%s paused_ms=%lld", s->user.name, s->device,
                  (long long)wait_ms);
        /* Say so once per connection (advisory, not fatal: the messages
        ** are still all answered, later).  Repeating it every second
        ** would only add to the traffic of a flooding peer. */
        if (!s->rate_warned) {
            s->rate_warned = 1;
            fsv_conn_error(s, FDSP_E_RATE, 0, 0, "more than %d messages per"
                           " second: reading paused for %lld ms",
                           FDSP_RATE_PER_SEC, (long long)wait_ms);
        }
        lws_sul_schedule(lws_get_context(s->wsi), 0, &s->rate_sul, rate_resume,
                         wait_ms * LWS_US_PER_MS);
    }
}

/* ---- Receive path ------------------------------------------------------------------ */

static int on_receive(fsv_conn *s, const void *in, size_t len)
{
    int final = lws_is_final_fragment(s->wsi) &&
                !lws_remaining_packet_payload(s->wsi);
    if (s->rx_discard) {
        if (final)
            s->rx_discard = 0;
        return 0;
    }
    if (s->rx_len + len > FDSP_MAX_FRAME) {
        s->rx_len = 0;
        s->rx_discard = !final;
        lws_rx_flow_control(s->wsi, 0);
        return fsv_conn_error(s, FDSP_E_TOOBIG, 0, 1, "message over %d bytes",
                          FDSP_MAX_FRAME);
    }
    if (s->rx_len + len > s->rx_cap) {
        size_t cap = s->rx_cap ? s->rx_cap : 4096;
        while (cap < s->rx_len + len)
            cap *= 2;
        if (cap > FDSP_MAX_FRAME)
            cap = FDSP_MAX_FRAME;
        unsigned char *p = realloc(s->rx, cap);
        if (!p)
            return -1;
        s->rx = p;
        s->rx_cap = cap;
    }
    if (len)
        memcpy(s->rx + s->rx_len, in, len);
    s->rx_len += len;
    if (!final)
        return 0;
    size_t n = s->rx_len;
    s->rx_len = 0;
    s->rate_free = 0;
    int rc = handle_message(s, (const char *)s->rx, n);
    if (!s->rate_free)
        rate_count(s);
    /* Nothing is kept between messages: a device sends a few a minute,
    ** and an idle connection should hold no buffer (issue 17). */
    free(s->rx);
    s->rx = NULL;
    s->rx_cap = 0;
    return rc;
}

/* ---- Authentication on upgrade ---------------------------------------------------- */

/* Count a failed authentication from the session's address (and log it). */
static void auth_failed(fsv_server *srv, fsv_conn *s, const char *why)
{
    fsv_metrics_inc(srv->metrics, FSV_C_AUTH_FAILED);
    fsv_warn("auth_refused peer=%s why=%s", s->peer, why);
    if (fsv_authlim_fail(srv->authlim, s->peer, fsv_now_ms()))
        fsv_warn("auth_blocked peer=%s failures=%d window_s=%d block_s=%d",
                 s->peer, FSV_AUTH_FAIL_MAX, FSV_AUTH_FAIL_WINDOW_S,
                 FSV_AUTH_BLOCK_S);
}

/* 0 ok, 401 bad token, 429 address blocked after too many failures. */
static int authenticate(struct lws *wsi, fsv_conn *s, fsv_server *srv)
{
    char hdr[256];
    unsigned char hash[FSV_TOKEN_HASH];

    memset(s, 0, sizeof *s);
    s->wsi = wsi;
    s->srv = srv;
    lws_get_peer_simple(wsi, s->peer, sizeof s->peer);
    if (!srv->authlim)
        srv->authlim = fsv_authlim_new();   /* NULL: limiter off, not fatal */
    int64_t wait = fsv_authlim_blocked(srv->authlim, s->peer, fsv_now_ms());
    if (wait > 0) {
        fsv_metrics_inc(srv->metrics, FSV_C_AUTH_BLOCKED);
        fsv_warn("auth_refused peer=%s why=%s blocked_s=%lld", s->peer,
                 "too many failed authentications", (long long)wait);
        return 429;
    }
    int n = lws_hdr_copy(wsi, hdr, sizeof hdr, WSI_TOKEN_HTTP_AUTHORIZATION);
    const char *tok = NULL;
    if (n > 7 && strncasecmp(hdr, "Bearer ", 7) == 0)
        tok = hdr + 7;
    if (!tok || fsv_token_hash(tok, hash) != FSV_OK) {
        auth_failed(srv, s, tok ? "malformed token" : "no bearer token");
        return 401;
    }
    int rc = fsv_store_begin(srv->store);
    if (rc == FSV_OK)
        rc = fsv_store_token_auth(srv->store, hash, &s->user, s->token_id);
    if (rc == FSV_OK)
        rc = fsv_store_commit(srv->store);
    else
        fsv_store_rollback(srv->store);
    if (rc != FSV_OK) {
        auth_failed(srv, s, fsv_store_errmsg(srv->store));
        return 401;
    }
    return 0;
}

/* Is the token of s still live?  If not, tell the device and close. */
static void auth_check(fsv_conn *s)
{
    int live = 1;
    if (s->close_after_send)
        return;
    if (fsv_store_token_live(s->srv->store, s->token_id, &live) != FSV_OK) {
        fsv_warn("token_check_failed user=%s why=%s", s->user.name,
                 fsv_store_errmsg(s->srv->store));
        live = 1;   /* a storage hiccup is not a revocation: check again */
        s->srv->auth_dv = -1;
    }
    if (live)
        return;
    fsv_info("closing user=%s device=%s token=%s why=%s", s->user.name,
             s->device[0] ? s->device : "-", s->token_id,
             "token revoked or user disabled");
    fsv_conn_error(s, FDSP_E_AUTH, 0, 1, "token revoked or user disabled");
    lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, FATAL_CLOSE_S);
}

/* Once a second, for all sessions together: `token revoke` and `user
** disable` run in another process, and this is how the serving process
** learns of them and closes the connections at once (docs/SECURITY.md).
** An idle server must cost nothing per connection, so each tick asks the
** store one question, "did another process commit since the last tick?"
** (PRAGMA data_version), and checks the sessions' tokens only when it
** did.  Issue 10: a token query per connection per second cost about half
** a core at 3,000 idle devices. */
/* Our idle ping and hang-up, instead of lws' validity timers (server.c,
** idle_policy): every IDLE_CHECK_TICKS seconds one walk over the sync
** connections, a few loads each, so a connection costs nothing in between.
** Silent FSV_IDLE_PING_S (nothing received, not even a pong): one ping;
** silent FSV_IDLE_HANGUP_S: closed.  The period makes both up to
** IDLE_CHECK_TICKS seconds late. */
static void idle_check(fsv_server *srv)
{
    int64_t now = fsv_now_ms();
    for (fsv_conn *s = srv->conns; s; s = s->next) {
        int64_t silent = now - s->rx_ms;
        if (silent >= (int64_t)FSV_IDLE_HANGUP_S * 1000) {
            fsv_info("idle_hangup user=%s device=%s peer=%s silent_ms=%lld",
                     s->user.name, s->device[0] ? s->device : "-", s->peer,
                     (long long)silent);
            lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK,
                            LWS_TO_KILL_ASYNC);
        } else if (silent >= (int64_t)FSV_IDLE_PING_S * 1000 &&
                   s->ping_ms <= s->rx_ms && !s->ping_owed) {
            s->ping_owed = 1;
            lws_callback_on_writable(s->wsi);
        }
    }
}

static void auth_tick(lws_sorted_usec_list_t *sul)
{
    fsv_server *srv = lws_container_of(sul, fsv_server, auth_tick);
    int64_t dv = 0;
    srv->auth_timer = 0;
    if (!srv->conns)
        return;                     /* rescheduled by the next connection */
    if (++srv->idle_ticks >= IDLE_CHECK_TICKS) {
        srv->idle_ticks = 0;
        idle_check(srv);
    }
    fsv_notify_watch(srv);          /* a lost LISTEN connection comes back */
    if (fsv_store_data_version(srv->store, &dv) != FSV_OK) {
        fsv_warn("token_check_failed why=%s", fsv_store_errmsg(srv->store));
        dv = -1;                    /* check every session, and again next time */
    }
    if (dv == -1 || dv != srv->auth_dv) {
        srv->auth_dv = dv;
        for (fsv_conn *s = srv->conns; s; s = s->next)
            auth_check(s);
        /* `user set` from another process: the same tick (sync_moves.c) */
        fsv_moves_tick(srv);
        /* Another process may have appended history (several serve
        ** processes on one PostgreSQL store): its changes reach the
        ** devices here through a notify and their pull. */
        int64_t head = 0;
        if (dv != -1 && fsv_store_head(srv->store, &head) == FSV_OK)
            fsv_live_remote(srv, head);
    }
    srv->auth_timer = 1;
    lws_sul_schedule(srv->ctx, 0, &srv->auth_tick, auth_tick, AUTH_CHECK_US);
}

/* A session joined: make sure the timer runs.  A timer that was stopped
** (no sessions) has no baseline: its first tick checks every session, so
** a revocation committed between this session's sign-in and now is seen. */
static void auth_watch(fsv_server *srv)
{
    if (srv->auth_timer)
        return;
    srv->auth_timer = 1;
    srv->auth_dv = -1;
    fsv_notify_watch(srv);
    lws_sul_schedule(srv->ctx, 0, &srv->auth_tick, auth_tick, AUTH_CHECK_US);
}

int fsv_sync_callback(struct lws *wsi, enum lws_callback_reasons reason,
                      void *user, void *in, size_t len)
{
    fsv_conn *s = user;
    struct lws_context *ctx = lws_get_context(wsi);
    fsv_server *srv = ctx ? lws_context_user(ctx) : NULL;

    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        if (!s || !srv || srv->shutting_down)
            return -1;
        switch (authenticate(wsi, s, srv)) {
        case 0:
            break;
        case 429:
            lws_return_http_status(wsi, 429, "too many failed authentications");
            return -1;
        default:
            /* Answer 401 so the device can tell a refused token from an
            ** unreachable server, then drop the connection. */
            lws_return_http_status(wsi, HTTP_STATUS_UNAUTHORIZED,
                                   "token refused");
            return -1;
        }
        return 0;

    case LWS_CALLBACK_ESTABLISHED:
        if (!s || !srv)
            return -1;
        {
            /* OpenSSL's 16 KiB read and write buffers are freed while the
            ** connection has nothing buffered: most of the time. */
            SSL *ssl = lws_get_ssl(wsi);
            if (ssl)
                SSL_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
        }
        s->wsi = wsi;
        s->connected_ms = fsv_now_ms();
        s->rate_start_ms = s->connected_ms;
        s->rx_ms = s->connected_ms;
        link_session(s);
        auth_watch(srv);
        fsv_metrics_inc(srv->metrics, FSV_C_CONNECTS);
        fsv_info("connect user=%s role=%s token=%s peer=%s", s->user.name,
                 s->user.role, s->token_id, s->peer);
        return 0;

    case LWS_CALLBACK_RECEIVE:
        if (!s || s->close_after_send)
            return 0;
        s->rx_ms = fsv_now_ms();    /* traffic: the idle ping can wait */
        return on_receive(s, in, len);

    case LWS_CALLBACK_RECEIVE_PONG:
        if (s)
            s->rx_ms = fsv_now_ms();
        return 0;

    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (!s)
            return 0;
        return write_next(s);

    case LWS_CALLBACK_CLOSED:
        if (!s || !s->srv)
            return 0;
        lws_sul_cancel(&s->rate_sul);
        fsv_sync_push_forget(s);
        for (size_t i = s->resend_pos; i < s->n_resend; i++)
            fdsp_change_clear(&s->resend[i]);
        free(s->resend);
        s->resend = NULL;
        s->n_resend = s->resend_pos = 0;
        if (s->linked) {
            unlink_session(s);
            /* The device's last sync and how far it got, for the admin. */
            if (s->hello_done)
                seen_note(s);
            fsv_info("disconnect user=%s device=%s peer=%s pushed=%lld pulled=%lld"
                 " ms=%lld", s->user.name, s->device[0] ? s->device : "-",
                 s->peer, (long long)s->pushed, (long long)s->pulled,
                 (long long)(fsv_now_ms() - s->connected_ms));
        }
        free(s->rx);
        s->rx = NULL;
        free_queue(s);
        fsv_trust_conn_clear(s);
        /* A reconnect storm leaves the heap at the high-water mark of
        ** thousands of handshakes at once; hand the free pages back to the
        ** OS now and then (glibc only trims the top of the heap itself). */
        if (++s->srv->closes % TRIM_EVERY_CLOSES == 0)
            malloc_trim(0);
        return 0;

    default:
        break;
    }
    return 0;
}
