/*
** transport_lws.c — cli_sync(): carries core's sans-I/O fds_session over a
** libwebsockets TLS WebSocket client (see transport.h for the contract).
**
** One lws context per call, one connection at a time.  The session decides
** what to say; this file only moves bytes: every message fds_session_next()
** produces is queued and written in FRAME_CHUNK frames, one lws_write per
** CLIENT_WRITEABLE; received fragments are reassembled (capped at
** FDSP_MAX_FRAME) and fed whole to fds_session_feed().  Pulled pages are
** applied in manual mode (fds_session_set_manual_apply): a page that says
** "more" is held while the pull for the next one is queued, and applied by
** the service loop once the queue is written (apply_held), so the server
** prepares the next page while this device applies the last.  A 1 s timer drives
** the progress line, the answer deadline, and in --watch mode the outbox
** poll (changes made by other processes) and the stop signal.
*/
#include "cli.h"          /* _(): the messages are the rep's (po/) */
#include "transport.h"

#include <libwebsockets.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <time.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#define FRAME_CHUNK   (32 * 1024)     /* bytes per frame we send */
#define TICK_US       (250 * LWS_US_PER_MS)
#define PROGRESS_MS   1000            /* show progress after this long */
#define LOCAL_NAME    "fieldsync-client"

/* Reconnect backoff in watch mode: 1, 2, 4, 8, 16, 30 s. */
static const int backoff_s[] = {1, 2, 4, 8, 16, 30};
#define N_BACKOFF ((int)(sizeof backoff_s / sizeof backoff_s[0]))

/* Set by SIGINT/SIGTERM while a watch runs (handlers restored after). */
static volatile sig_atomic_t g_watch_stop;

static void on_stop_signal(int sig)
{
    (void)sig;
    g_watch_stop = 1;
}

struct outmsg {
    struct outmsg *next;
    size_t len, off;
    unsigned char buf[];        /* LWS_PRE headroom, then the message */
};

typedef struct conn {
    fds_replica *r;
    const cli_sync_opts *o;
    struct lws_context *ctx;
    struct lws *wsi;
    fds_session *sess;

    char host[256];
    char path[256];
    int port;
    char auth[300];             /* "Bearer TOKEN" */

    unsigned char *rx;
    size_t rx_len, rx_cap;
    int rx_discard;
    struct outmsg *oh, *ot;

    int established;            /* the current connection is up */
    int closing;                /* we are closing it on purpose */
    int done;                   /* leave the service loop */
    int code;                   /* exit code once done */
    char err[512];

    fds_session_stats total;    /* counters of finished sessions */
    int64_t outbox_start;       /* outbox size when the sync began */
    int64_t started_ms, attempt_ms, last_rx_ms;
    int progress_lines;
    int retry;                  /* index into backoff_s */
    int64_t retry_at_ms;        /* 0 = no reconnect pending */
    int64_t outbox_poll_ms;     /* next outbox look in watch mode */
    int64_t blob_retry_ms;      /* next look for photos not on the server
                                ** yet in watch mode */
    int timeout_s;
    /* Changes per push for the next session (adaptive batches, issue 10):
    ** halved after a connection ended with pushes unacknowledged, grown
    ** back by acks inside the session.  Carried across reconnects here and
    ** across one-shot runs in replica meta "push_limit" (cli_sync). */
    int push_limit;
    /* The first certificate date failure OpenSSL reported during this
    ** connection's handshake (X509_V_ERR_CERT_NOT_YET_VALID or
    ** _HAS_EXPIRED, 0 if none), with the validity of that certificate:
    ** a device clock off by years must be told as such, not as a wrong
    ** CA file (rule 14). */
    int cert_date_err;
    char cert_window[160];
    lws_sorted_usec_list_t tick;
    int64_t photos_counted;     /* blob bytes down handed to photos_spent */
} conn;

static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* Stop with an exit code and a message (the first failure wins). */
static void finish(conn *c, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static void finish(conn *c, int code, const char *fmt, ...)
{
    if (c->done)
        return;
    c->done = 1;
    c->code = code;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, sizeof c->err, fmt, ap);
        va_end(ap);
    }
    lws_cancel_service(c->ctx);
}

/* ---- URL ------------------------------------------------------------------------- */

/* "wss://HOST[:PORT][/PATH]"; HOST may be "[v6]".  Port defaults to 443. */
static int parse_url(conn *c, const char *url)
{
    const char *p;
    if (strncmp(url, "wss://", 6) != 0)
        return -1;
    p = url + 6;
    const char *host_end;
    if (*p == '[') {
        host_end = strchr(p, ']');
        if (!host_end)
            return -1;
        if ((size_t)(host_end - p - 1) >= sizeof c->host)
            return -1;
        memcpy(c->host, p + 1, (size_t)(host_end - p - 1));
        c->host[host_end - p - 1] = '\0';
        host_end++;
    } else {
        host_end = p + strcspn(p, ":/");
        if ((size_t)(host_end - p) >= sizeof c->host)
            return -1;
        memcpy(c->host, p, (size_t)(host_end - p));
        c->host[host_end - p] = '\0';
    }
    if (!c->host[0])
        return -1;
    c->port = 443;
    p = host_end;
    if (*p == ':') {
        char *end;
        long port = strtol(p + 1, &end, 10);
        if (end == p + 1 || port < 1 || port > 65535)
            return -1;
        c->port = (int)port;
        p = end;
    }
    if (*p && *p != '/')
        return -1;
    snprintf(c->path, sizeof c->path, "%s", *p ? p : "/");
    return 0;
}

/* ---- Output queue ---------------------------------------------------------------- */

static int enqueue(conn *c, const char *buf, size_t len)
{
    struct outmsg *m = malloc(sizeof *m + LWS_PRE + len);
    if (!m)
        return -1;
    m->next = NULL;
    m->len = len;
    m->off = 0;
    memcpy(m->buf + LWS_PRE, buf, len);
    if (c->ot)
        c->ot->next = m;
    else
        c->oh = m;
    c->ot = m;
    return 0;
}

static void drop_queue(conn *c)
{
    while (c->oh) {
        struct outmsg *n = c->oh->next;
        free(c->oh);
        c->oh = n;
    }
    c->ot = NULL;
    c->rx_len = 0;
    c->rx_discard = 0;
}

/* ---- Session ---------------------------------------------------------------------- */

/* The counters of every session of this run so far: those of the ended
** sessions plus the live one's. */
static fds_session_stats stats_so_far(const conn *c)
{
    fds_session_stats st = c->total, cur;
    if (!c->sess)
        return st;
    fds_session_stats_get(c->sess, &cur);
    fds_session_stats_add(&st, &cur);   /* counters, and the trust flags */
    return st;
}

/* Hand the photo bytes fetched since the last call to photos_spent
** (cli_sync_opts): blob_stats holds the ended sessions, the live session
** its own. */
static void photos_count(conn *c)
{
    if (!c->o->photos_spent || !c->o->blob_stats)
        return;
    int64_t total = c->o->blob_stats->bytes_down;
    if (c->sess) {
        fds_blob_stats b;
        fds_session_blob_stats(c->sess, &b);
        total += b.bytes_down;
    }
    if (total > c->photos_counted &&
        c->o->photos_spent(c->o->photos_arg, total - c->photos_counted) == 0)
        c->photos_counted = total;
}

static void end_session(conn *c)
{
    if (!c->sess)
        return;
    /* A link that drops in the middle of a push (one that cuts every N
    ** bytes, say) would fail the same way forever with the same batches:
    ** halve them for the next attempt, down to one change, so each attempt
    ** gets something acked.  Acks in the session doubled it back. */
    int lim = fds_session_push_limit(c->sess);
    if (fds_session_push_unacked(c->sess) > 0)
        lim = lim > 1 ? lim / 2 : 1;
    c->push_limit = lim;
    c->total = stats_so_far(c);
    if (c->o->blob_stats) {
        fds_blob_stats b;
        fds_session_blob_stats(c->sess, &b);
        c->o->blob_stats->uploaded += b.uploaded;
        c->o->blob_stats->downloaded += b.downloaded;
        c->o->blob_stats->refused += b.refused;
        c->o->blob_stats->failed += b.failed;
        c->o->blob_stats->bytes_up += b.bytes_up;
        c->o->blob_stats->bytes_down += b.bytes_down;
        c->o->blob_stats->chunks_up += b.chunks_up;
        c->o->blob_stats->left = b.left;
        c->o->blob_stats->held_back = b.held_back;
    }
    if (c->o->blob_notes) {
        const json_t *notes = fds_session_notes(c->sess);
        size_t i;
        json_t *v;
        json_array_foreach(notes, i, v)
            if (strncmp(json_string_value(v), "photo ", 6) == 0)
                json_array_append(c->o->blob_notes, v);
    }
    if (c->o->duplicates)
        json_array_extend(c->o->duplicates,
                          (json_t *)fds_session_duplicates(c->sess));
    fds_session_free(c->sess);
    c->sess = NULL;
}

/* Queue whatever the session wants to say, then see whether we are done. */
static void pump(conn *c)
{
    if (!c->sess || c->done || !c->wsi)
        return;
    for (;;) {
        char *buf = NULL;
        size_t len = 0;
        int rc = fds_session_next(c->sess, &buf, &len);
        if (rc == FDS_DONE)
            break;
        if (rc != FDS_OK) {
            free(buf);
            finish(c, 1, _("sync failed: %s"), fds_session_errmsg(c->sess));
            return;
        }
        rc = enqueue(c, buf, len);
        free(buf);
        if (rc != 0) {
            finish(c, 1, _("out of memory"));
            return;
        }
    }
    int state = fds_session_state(c->sess);
    if (state == FDS_SESSION_FAILED) {
        finish(c, 1, _("sync failed: %s"), fds_session_errmsg(c->sess));
        return;
    }
    if (state == FDS_SESSION_IDLE && !c->oh && !c->o->watch && !c->closing) {
        const char *e = fds_session_errmsg(c->sess);
        if (e && e[0]) {
            /* A non-fatal server error (e.g. a batch it could not store):
            ** the changes stay in the outbox for the next sync. */
            finish(c, 1, "%s", e);
            return;
        }
        c->closing = 1;     /* polite close from the WRITEABLE callback */
    }
    if (c->oh || c->closing)
        lws_callback_on_writable(c->wsi);
}

/* Apply a held page once everything the session gave us has been written
** (the pull for the next page is on its way).  Called from the service
** loop, between lws_service turns, not from a callback. */
static void apply_held(conn *c)
{
    if (!c->sess || c->done || !c->wsi || c->oh ||
        !fds_session_apply_pending(c->sess))
        return;
    if (fds_session_apply(c->sess) != FDS_OK) {
        finish(c, 1, _("sync failed: %s"), fds_session_errmsg(c->sess));
        return;
    }
    pump(c);
}

static void on_message(conn *c)
{
    int rc = fds_session_feed(c->sess, (const char *)c->rx, c->rx_len);
    c->rx_len = 0;
    if (rc == FDS_PERM) {
        finish(c, 5, "%s", fds_session_errmsg(c->sess));
        return;
    }
    if (rc == FDS_PROTO) {
        finish(c, 1, _("protocol error: %s"), fds_session_errmsg(c->sess));
        return;
    }
    if (rc != FDS_OK) {
        finish(c, 1, _("sync failed: %s"), fds_session_errmsg(c->sess));
        return;
    }
    pump(c);
}

/* Write the next frame of the queue head (one lws_write per call). */
static int write_next(conn *c, struct lws *wsi)
{
    struct outmsg *m = c->oh;
    if (!m) {
        if (c->closing) {
            lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
            return -1;
        }
        return 0;
    }
    size_t chunk = m->len - m->off;
    if (chunk > FRAME_CHUNK)
        chunk = FRAME_CHUNK;
    int first = m->off == 0, last = m->off + chunk == m->len;
    int flags = lws_write_ws_flags(LWS_WRITE_TEXT, first, last);
    /* Later chunks use already-sent bytes as their LWS_PRE headroom. */
    int n = lws_write(wsi, m->buf + LWS_PRE + m->off, chunk,
                      (enum lws_write_protocol)flags);
    if (n < (int)chunk)
        return -1;
    m->off += chunk;
    if (last) {
        c->oh = m->next;
        if (!c->oh)
            c->ot = NULL;
        free(m);
    }
    if (c->oh || c->closing)
        lws_callback_on_writable(wsi);
    return 0;
}

static int on_receive(conn *c, struct lws *wsi, const void *in, size_t len)
{
    int final = lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi);
    if (c->rx_discard)
        return 0;
    if (c->rx_len + len > FDSP_MAX_FRAME) {
        c->rx_discard = 1;
        finish(c, 1, _("protocol error: server message over %d bytes"),
               FDSP_MAX_FRAME);
        return -1;
    }
    if (c->rx_len + len > c->rx_cap) {
        size_t cap = c->rx_cap ? c->rx_cap : 4096;
        while (cap < c->rx_len + len)
            cap *= 2;
        unsigned char *p = realloc(c->rx, cap);
        if (!p) {
            finish(c, 1, _("out of memory"));
            return -1;
        }
        c->rx = p;
        c->rx_cap = cap;
    }
    if (len)
        memcpy(c->rx + c->rx_len, in, len);
    c->rx_len += len;
    c->last_rx_ms = now_ms();
    if (final) {
        lws_validity_confirmed(wsi);
        on_message(c);
    }
    return 0;
}

/* ---- Connecting ------------------------------------------------------------------- */

static const lws_retry_bo_t idle_policy = {
    .secs_since_valid_ping = 30,
    .secs_since_valid_hangup = 45,
};

static int connect_now(conn *c)
{
    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof ci);
    ci.context = c->ctx;
    ci.address = c->host;
    ci.port = c->port;
    ci.path = c->path;
    ci.host = c->host;
    ci.origin = c->host;
    ci.protocol = FDSP_SUBPROTOCOL;
    ci.local_protocol_name = LOCAL_NAME;
    ci.ssl_connection = LCCSCF_USE_SSL;
    ci.retry_and_idle_policy = &idle_policy;
    /* No ci.pwsi: lws would write into c->wsi behind our back.  c->wsi is
    ** only ever set here, and cleared before anything frees the wsi
    ** (lost(), the deadlines in tick_cb, WSI_DESTROY); a failure inside the
    ** call arrives as CONNECTION_ERROR with c->wsi still NULL, so it is
    ** handled (by our return value) exactly once. */
    c->attempt_ms = now_ms();
    c->retry_at_ms = 0;
    c->closing = 0;
    c->established = 0;
    c->cert_date_err = 0;
    c->cert_window[0] = '\0';
    c->wsi = NULL;
    c->wsi = lws_client_connect_via_info(&ci);
    return c->wsi ? 0 : -1;
}

/* A connection attempt failed or an established one dropped.  The caller
** has already let go of the wsi (c->wsi is NULL or about to be freed by
** lws): nothing here or after touches it. */
/* libwebsockets' own words for the common failures, for a rep who reads
** another language; without a translation (English) lws' text as it is.
** (This file is also linked into test and bench programs without the rest
** of the CLI: it uses gettext itself, nothing from i18n.c.) */
static const char *lws_words(const char *why)
{
    static const char *const words[][2] = {
        {"Unable to connect", N_("the connection could not be made (refused, or no route)")},
        {"HS: ws upgrade unauthorized", N_("unauthorized")},
    };
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcmp(why, words[i][0]) == 0) {
            const char *t = gettext(words[i][1]);
            return t != words[i][1] ? t : why;
        }
    return why;
}

static void lost(conn *c, int code, const char *why)
{
    why = lws_words(why);
    c->wsi = NULL;
    c->established = 0;
    end_session(c);
    drop_queue(c);
    if (c->done)
        return;
    /* A watch asked to stop (SIGINT/SIGTERM) whose link drops meanwhile
    ** stops cleanly, as the timer's stop does: nothing is lost (unsent
    ** changes stay in the outbox), and the signal, not the link, ended it. */
    if (c->o->watch && code == 4 && g_watch_stop) {
        finish(c, 0, NULL);
        return;
    }
    if (c->o->watch && code == 4) {
        int wait = backoff_s[c->retry < N_BACKOFF ? c->retry : N_BACKOFF - 1];
        if (c->retry < N_BACKOFF - 1)
            c->retry++;
        if (c->o->log_level >= 1) {
            fputs("fieldsync: ", stderr);
            fprintf(stderr, _("%s; reconnecting in %d s\n"), why, wait);
        }
        c->retry_at_ms = now_ms() + (int64_t)wait * 1000;
        return;
    }
    if (code == 5)
        finish(c, 5, _("token refused by the server (%s)"), why);
    else if (c->cert_date_err) {
        char now_s[40];
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(now_s, sizeof now_s, "%Y-%m-%d %H:%M UTC", &tm);
        finish(c, code, _("server unreachable: TLS handshake failed: by this "
               "device's clock (%s) the server's certificate chain %s (%s); "
               "check the device's date and time"), now_s,
               c->cert_date_err == X509_V_ERR_CERT_NOT_YET_VALID
                   ? _("is not valid yet") : _("has expired"),
               c->cert_window[0] ? c->cert_window : _("validity unknown"));
    } else if (strstr(why, "SSL") || strstr(why, "ssl") || strstr(why, "tls"))
        finish(c, code, _("server unreachable: TLS handshake failed (is the"
               " CA file the server's ca.pem, and is %s in its certificate?):"
               " %s"), c->host, why);
    else
        finish(c, code, _("server unreachable: %s"), why);
}

/* ---- Timer -------------------------------------------------------------------------- */

static void tick_cb(lws_sorted_usec_list_t *sul)
{
    conn *c = lws_container_of(sul, conn, tick);
    int64_t now = now_ms();

    if (c->done)
        return;
    if (c->o->watch && g_watch_stop) {
        if (c->wsi && c->established) {
            c->closing = 1;
            lws_callback_on_writable(c->wsi);
            /* The close completes in WRITEABLE; do not wait forever. */
            if (c->retry_at_ms == 0)
                c->retry_at_ms = now + 2000;
            else if (now >= c->retry_at_ms)
                finish(c, 0, NULL);
        } else {
            finish(c, 0, NULL);
        }
        goto rearm;
    }
    if (c->retry_at_ms && now >= c->retry_at_ms && !c->wsi) {
        if (connect_now(c) != 0)
            lost(c, 4, _("cannot start a connection"));
    }
    /* Deadlines: a connection that never comes up, a server that stops
    ** answering in the middle of a sync. */
    if (c->wsi && !c->established && now - c->attempt_ms > c->timeout_s * 1000LL) {
        /* Our deadline comes before lws' own (timeout_secs is longer, see
        ** cli_sync), so this wsi is still alive: WSI_DESTROY would have
        ** cleared c->wsi otherwise.  Let go of it first, then kill it. */
        struct lws *w = c->wsi;
        char why[400];
        c->wsi = NULL;
        lws_set_timeout(w, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        snprintf(why, sizeof why, _("no answer from %s:%d within %d s (TCP or"
                 " TLS handshake never completed)"), c->host, c->port,
                 c->timeout_s);
        lost(c, 4, why);
    } else if (c->wsi && c->established && c->sess &&
               fds_session_state(c->sess) != FDS_SESSION_IDLE &&
               now - c->last_rx_ms > c->timeout_s * 1000LL) {
        struct lws *w = c->wsi;
        c->wsi = NULL;
        lws_set_timeout(w, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        lost(c, 4, _("the server stopped answering"));
    }
    /* Watch: the photo bytes fetched so far counted as they come. */
    if (c->o->watch && c->sess && fds_session_state(c->sess) == FDS_SESSION_IDLE)
        photos_count(c);
    /* Watch: pick up changes other processes made to the replica (once a
    ** second). */
    if (c->o->watch && c->sess && c->established && now >= c->outbox_poll_ms &&
        fds_session_state(c->sess) == FDS_SESSION_IDLE) {
        c->outbox_poll_ms = now + 1000;
        int64_t n = 0;
        if (fds_outbox_count(c->r, &n) == FDS_OK && n > 0) {
            fds_session_local_changed(c->sess);
            pump(c);
        }
        /* Photos named by records that came before their bytes reached
        ** the server: asked for again every few seconds. */
        fds_blob_stats b;
        fds_session_blob_stats(c->sess, &b);
        if (b.waiting > 0 && now >= c->blob_retry_ms &&
            fds_session_state(c->sess) == FDS_SESSION_IDLE) {
            c->blob_retry_ms = now + CLI_BLOB_RETRY_MS;
            fds_session_blobs_again(c->sess);
            pump(c);
        }
        if (c->o->on_idle) {
            fds_session_stats st = stats_so_far(c);
            c->o->on_idle(c->o->on_idle_arg, &st);
        }
    }
    if (c->o->progress && !c->o->watch && now - c->started_ms >= PROGRESS_MS &&
        (now - c->started_ms) / 1000 > c->progress_lines) {
        fds_session_stats st = stats_so_far(c);
        c->progress_lines = (int)((now - c->started_ms) / 1000);
        fprintf(stderr, _("syncing: pushed %lld/%lld, pulled %lld\n"),
                (long long)st.pushed, (long long)c->outbox_start,
                (long long)st.pulled);
    }
rearm:
    if (!c->done)
        lws_sul_schedule(c->ctx, 0, &c->tick, tick_cb, TICK_US);
}

/* ---- lws callback ----------------------------------------------------------------- */

static int callback(struct lws *wsi, enum lws_callback_reasons reason,
                    void *user, void *in, size_t len)
{
    (void)user;
    struct lws_context *ctx = lws_get_context(wsi);
    conn *c = ctx ? lws_context_user(ctx) : NULL;
    if (!c)
        return 0;

    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
        unsigned char **p = (unsigned char **)in, *end = (*p) + len;
        if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION,
                                         (const unsigned char *)c->auth,
                                         (int)strlen(c->auth), p, end))
            return -1;
        return 0;
    }

    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        c->established = 1;
        c->retry = 0;
        c->last_rx_ms = now_ms();
        if (c->o->log_level >= 1) {
            fputs("fieldsync: ", stderr);
            fprintf(stderr, _("connected to %s:%d\n"), c->host, c->port);
        }
        if (fds_session_new(c->r, &c->sess) != FDS_OK) {
            finish(c, 1, _("cannot start a sync session: %s"), fds_errmsg(c->r));
            return -1;
        }
        fds_session_set_manual_apply(c->sess, 1);
        /* The checksum safety net: once per session, and in a long watch
        ** at most every CLI_SUMS_WATCH_MS (docs/internals/trust.md). */
        fds_session_set_sums(c->sess, 1, c->o->watch ? CLI_SUMS_WATCH_MS : 0);
        fds_session_set_push_limit(c->sess, c->push_limit);
        if (c->o->blob_io &&
            fds_session_set_blobs(c->sess, c->o->blob_io, c->o->blob_flags,
                                  c->o->blob_only) != FDS_OK) {
            finish(c, 1, _("cannot start a sync session: %s"), fds_errmsg(c->r));
            return -1;
        }
        if (c->o->blob_io && c->o->blob_policy) {
            fds_blob_policy p = *c->o->blob_policy;
            int64_t unsaved = c->o->blob_stats ? c->o->blob_stats->bytes_down : 0;
            if (c->o->photos_policy) {  /* the day's count as recorded now */
                c->o->photos_policy(c->o->photos_arg, &p);
                unsaved -= c->photos_counted;
            }
            p.used_today += unsaved;    /* earlier sessions of this run */
            fds_session_set_blob_policy(c->sess, &p);
        }
        pump(c);
        return 0;

    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
        char why[256];
        snprintf(why, sizeof why, "%s", in ? (const char *)in : _("connection failed"));
        int refused = in && strstr((const char *)in, "unauthorized") != NULL;
        /* 429: the server is refusing this address after repeated failed
        ** sign-ins — an authentication refusal, not an unreachable server. */
        if (wsi && lws_http_client_http_response(wsi) == 429) {
            refused = 1;
            snprintf(why, sizeof why, _("too many failed sign-ins from this "
                     "address (HTTP 429); wait a minute and check the token"));
        }
        if (c->wsi == wsi)  /* not an attempt we already abandoned */
            lost(c, refused ? 5 : 4, why);
        return 0;
    }

    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (c->done || !c->sess)
            return 0;
        return on_receive(c, wsi, in, len);

    case LWS_CALLBACK_CLIENT_WRITEABLE:
        if (c->done && !c->closing)
            return -1;
        return write_next(c, wsi);

    case LWS_CALLBACK_OPENSSL_PERFORM_SERVER_CERT_VERIFICATION: {
        /* user: the X509_STORE_CTX; len: OpenSSL's verdict so far.  Only
        ** noted, never changed: lws still refuses what OpenSSL refused. */
        X509_STORE_CTX *xs = user;
        int e = xs ? X509_STORE_CTX_get_error(xs) : 0;
        if (!len && !c->cert_date_err &&
            (e == X509_V_ERR_CERT_NOT_YET_VALID ||
             e == X509_V_ERR_CERT_HAS_EXPIRED)) {
            X509 *x = X509_STORE_CTX_get_current_cert(xs);
            struct tm a, b;
            c->cert_date_err = e;
            if (x && ASN1_TIME_to_tm(X509_get0_notBefore(x), &a) == 1 &&
                ASN1_TIME_to_tm(X509_get0_notAfter(x), &b) == 1) {
                char from[16], to[16];
                strftime(from, sizeof from, "%Y-%m-%d", &a);
                strftime(to, sizeof to, "%Y-%m-%d", &b);
                char cn[64] = "";
                X509_NAME_get_text_by_NID(X509_get_subject_name(x),
                                          NID_commonName, cn, sizeof cn);
                snprintf(c->cert_window, sizeof c->cert_window,
                         "\"%s\" is valid from %s to %s",
                         cn[0] ? cn : "?", from, to);
            }
        }
        return 0;
    }

    case LWS_CALLBACK_WSI_DESTROY:
        /* The last word on any wsi: if lws frees ours without a
        ** CONNECTION_ERROR or CLIENT_CLOSED first (its own timeout in the
        ** middle of a TLS handshake does), the pointer must not outlive it:
        ** the 1 s timer would otherwise call lws_set_timeout on freed
        ** memory (issue 10: exit 139 after a 30 s stall). */
        if (c->wsi == wsi)
            lost(c, 4, _("connection closed before it was established"));
        return 0;

    case LWS_CALLBACK_CLIENT_CLOSED:
        if (c->wsi != wsi)
            return 0;   /* an abandoned connection */
        if (c->closing && (!c->o->watch || g_watch_stop)) {
            c->wsi = NULL;
            c->established = 0;
            end_session(c);
            drop_queue(c);
            finish(c, 0, NULL);
            return 0;
        }
        lost(c, 4, _("connection lost"));
        return 0;

    default:
        break;
    }
    return 0;
}

/* rx_buffer_size FDSP_MAX_FRAME lets permessage-deflate use a 1 MiB
** inflate buffer (below). */
static const struct lws_protocols client_protocols[] = {
    {LOCAL_NAME, callback, 0, FDSP_MAX_FRAME, 0, NULL, FRAME_CHUNK},
    {NULL, NULL, 0, 0, 0, NULL, 0}};

/* permessage-deflate, offered to the server.  lws 4.1.6 corrupts a large
** compressed message over TLS when one inflate call fills its output buffer
** before using up its input (see sync-server/server.c).  A 1 MiB inflate
** buffer (rx_buf_size 20) holds any message we accept, so that never
** happens; tx_buf_size 16 (64 KiB) lets a FRAME_CHUNK frame compress in one
** step. */
static int pmd_callback(struct lws_context *ctx, const struct lws_extension *ext,
                        struct lws *wsi, enum lws_extension_callback_reasons reason,
                        void *user, void *in, size_t len)
{
    int rc = lws_extension_callback_pm_deflate(ctx, ext, wsi, reason, user,
                                               in, len);
    if (reason == LWS_EXT_CB_CLIENT_CONSTRUCT && rc == 0) {
        /* After CONSTRUCT user points at the new private state. */
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

/* No context takeover either way: each message is compressed on its own,
** so neither side keeps a deflater or inflater between messages (the
** server's memory per idle device, issue 17; docs/BENCHMARKS.md). */
static const struct lws_extension client_extensions[] = {
    {"permessage-deflate", pmd_callback,
     "permessage-deflate; client_max_window_bits; client_no_context_takeover;"
     " server_no_context_takeover"},
    {NULL, NULL, NULL}};

/* Replica meta "push_limit": changes per push the next sync starts with
** (absent: FDSP_MAX_BATCH). */
static int push_limit_load(fds_replica *r)
{
    char *v = NULL;
    int lim = FDSP_MAX_BATCH;
    if (fds_meta_get(r, "push_limit", &v) == FDS_OK && v) {
        long n = strtol(v, NULL, 10);
        if (n >= 1 && n <= FDSP_MAX_BATCH)
            lim = (int)n;
    }
    free(v);
    return lim;
}

static void push_limit_save(fds_replica *r, int lim)
{
    char v[16];
    snprintf(v, sizeof v, "%d", lim);
    /* Best effort: losing it only costs a full-size first batch. */
    (void)fds_meta_set(r, "push_limit", v);
}

int cli_sync(fds_replica *r, const cli_sync_opts *o, fds_session_stats *st,
             char *err, size_t errlen)
{
    conn *c = calloc(1, sizeof *c);
    memset(st, 0, sizeof *st);
    if (!c) {
        snprintf(err, errlen, _("out of memory"));
        return 1;
    }
    c->r = r;
    c->o = o;
    c->timeout_s = o->timeout_secs > 0 ? o->timeout_secs : 30;
    /* FIELDSYNC_TIMEOUT=SECONDS (1..3600) overrides the deadline: tests use
    ** it to see a stalled server in seconds, and a rep on a very slow link
    ** can raise it (client-cli/README.md). */
    const char *tenv = getenv("FIELDSYNC_TIMEOUT");
    if (o->timeout_secs <= 0 && tenv && *tenv) {
        char *end;
        long t = strtol(tenv, &end, 10);
        if (*end == '\0' && t >= 1 && t <= 3600)
            c->timeout_s = (int)t;
    }
    if (!o->server || parse_url(c, o->server) != 0) {
        snprintf(err, errlen, _("bad server address \"%s\" (expected"
                 " wss://HOST:PORT)"), o->server ? o->server : "");
        free(c);
        return 1;
    }
    if (!o->token || !o->token[0] ||
        snprintf(c->auth, sizeof c->auth, "Bearer %s", o->token) >=
            (int)sizeof c->auth || strpbrk(o->token, "\r\n")) {
        snprintf(err, errlen, _("missing or malformed device token"));
        free(c);
        return 1;
    }
    const char *ca = o->ca_path && o->ca_path[0] ? o->ca_path : NULL;
    if (ca && access(ca, R_OK) != 0) {
        snprintf(err, errlen, _("cannot read CA file %s"), ca);
        free(c);
        return 1;
    }

    /* lws prints to stderr by default; keep it quiet unless debugging. */
    lws_set_log_level(o->log_level >= 2 ? (LLL_ERR | LLL_WARN | LLL_NOTICE) : 0,
                      NULL);

    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = client_protocols;
    info.extensions = client_extensions;
    info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    if (ca) {
        /* Pinned CA: trust it and nothing else. */
        info.client_ssl_ca_filepath = ca;
        info.options |= LWS_SERVER_OPTION_DISABLE_OS_CA_CERTS;
    }
    info.ssl_client_options_set = SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 |
                                  SSL_OP_NO_TLSv1_1;
    /* lws' own deadline (handshake steps) comes well after ours, so our
    ** timer, which knows what to tell the rep, is the one that acts; lws'
    ** remains a backstop (WSI_DESTROY handles it). */
    info.timeout_secs = (unsigned int)c->timeout_s + 15;
    info.user = c;
    c->ctx = lws_create_context(&info);
    if (!c->ctx) {
        snprintf(err, errlen, _("cannot set up TLS (bad CA file %s?)"),
                 ca ? ca : "(system)");
        free(c);
        return 1;
    }

    struct sigaction sa, old_int, old_term;
    if (o->watch) {
        g_watch_stop = 0;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_stop_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, &old_int);
        sigaction(SIGTERM, &sa, &old_term);
    }

    c->started_ms = now_ms();
    fds_outbox_count(r, &c->outbox_start);
    /* The batch limit the last run ended with: a one-shot `sync` is its own
    ** process, so without this every run over a link that cuts would start
    ** at full batches again and never progress. */
    int saved_limit = push_limit_load(r);
    c->push_limit = saved_limit;
    lws_sul_schedule(c->ctx, 0, &c->tick, tick_cb, TICK_US);
    if (connect_now(c) != 0)
        lost(c, 4, _("cannot start a connection"));

    int n = 0;
    while (!c->done && n >= 0) {
        n = lws_service(c->ctx, 0);
        apply_held(c);
    }

    lws_sul_cancel(&c->tick);
    lws_context_destroy(c->ctx);    /* closes whatever is still open */
    end_session(c);
    photos_count(c);                /* what the last session fetched */
    drop_queue(c);
    if (o->watch) {
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
    }
    if (c->progress_lines && o->progress)
        fprintf(stderr, _("syncing: done, pushed %lld, pulled %lld\n"),
                (long long)c->total.pushed, (long long)c->total.pulled);

    if (c->push_limit != saved_limit)
        push_limit_save(r, c->push_limit);
    *st = c->total;
    int code = c->code;
    if (code != 0)
        snprintf(err, errlen, "%s", c->err[0] ? c->err : _("sync failed"));
    free(c->rx);
    free(c);
    return code;
}
