/*
** bench_live.c — many connected devices and live changes (issue 17).
**
**   bench_live [--devices N] [--watchers M] [--rate R] [--seconds S]
**              [--idle-seconds I] [--pmd takeover|notakeover|off]
**              [--no-live] [--no-storm] [--conc C] [--storm-conc C]
**              [--server BIN] [--event-loop uv|poll] [--no-resume]
**              [--group-commit on|off]
**
** Makes a throw-away store, serves it on 127.0.0.1 and, from this one
** process (non-blocking OpenSSL over epoll, a minimal WebSocket client with
** permessage-deflate through zlib), connects N devices through the real
** protocol (upgrade with a token, hello, pulls until caught up) and keeps
** them connected:
**   - M watchers: devices of managers of team t0, who see every change of
**     the writers;
**   - W writers: devices of reps of team t0 (one per 40 changes/s, under
**     the server's per-connection rate), each editing its own customer;
**   - the rest: devices of reps of nine other teams, who see none of it.
** Then it measures: the connection setup rate (all N served: welcome and
** caught up); the server's RSS per connection from /proc (before any
** traffic, and again after the live phase); the idle server's CPU; the
** live phase (R changes/s for S seconds, one change per push, each value
** carrying the writer's send time): for every watcher and change, the time
** from the push being written to the change arriving at the watcher
** (p50/p99/max), and the server's CPU per change delivered; and a
** reconnect storm: every connection dropped at once, all reconnecting at
** once (all in flight, or --storm-conc C), time until all are served
** again.  --conc: connections being set up at once in the first phase.
**
** --no-live sends hellos without "live" (the old notify-then-pull path, for
** a baseline).  --pmd: takeover (default; what the CLI offers:
** "permessage-deflate; client_max_window_bits"), notakeover (also offers
** no context takeover both ways), off (no compression).  127.0.0.1 only;
** bounded: every phase has a deadline.  BENCH_LIVE_KEEP=1 keeps the
** temporary store and the server's log.  --event-loop and
** --group-commit are passed to serve.  A device that reconnects offers the TLS session of its last
** connection (what a phone's TLS stack does) unless --no-resume; the
** setup and storm lines count the handshakes the server resumed
** (SSL_session_reused).
*/
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <zlib.h>

#include "fieldsync_proto.h"
#include "netutil.h"
#include "procutil.h"

enum { ROLE_IDLE, ROLE_WATCH, ROLE_WRITE };
enum { ST_OFF, ST_TCP, ST_TLS, ST_UPGRADE, ST_WELCOME, ST_SYNC, ST_READY };
enum { PMD_TAKEOVER, PMD_NOTAKEOVER, PMD_OFF };

typedef struct dev {
    int idx, fd, state, role, user;
    SSL *ssl;
    SSL_SESSION *sess;          /* for resumption on reconnect */
    char device[32];
    int64_t cursor;
    int pulling, pmd;
    unsigned char *rb;          /* bytes read, not yet a frame */
    size_t rlen, rcap;
    unsigned char *msg;         /* message being reassembled */
    size_t mlen, mcap;
    int mcomp;
    z_stream *inf;              /* per connection (takeover) */
    unsigned char *wb;          /* bytes to write */
    size_t wlen, wcap;
    int wantw;
    /* writer */
    int64_t counter, batch;
    char cust[32];
    int acked;
    int64_t *sent_ns;           /* send time of batch b at b % ACK_RING */
} dev;

#define ACK_RING 4096

typedef struct bench {
    int n, m, w, port, pmd, live, conc, storm, storm_conc;
    double rate, secs, idle_secs;
    const char *bin;
    const char *evloop;     /* --event-loop for serve, NULL: its default */
    const char *group;      /* --group-commit for serve, NULL: its default */
    int resume;             /* offer the last session on reconnect */
    int64_t handshakes, resumed;
    char dir[64], data[96], ca[128];
    pid_t srv;
    SSL_CTX *ctx;
    int ep;
    dev *d;
    char (*tok)[128];           /* per user */
    int n_users;
    int inflight, served;
    int64_t refused, errors, live_batches, notifies, pulls_sent, skipped;
    /* latencies of deliveries, microseconds */
    uint32_t *lat;
    size_t n_lat, cap_lat;
    uint32_t *alat;             /* push-to-ack (the commit), microseconds */
    size_t n_alat, cap_alat;
    int64_t deliveries;
    int64_t t_phase;            /* ns: record values sent after this */
    z_stream def;               /* shared deflater (reset per message) */
    z_stream inf1;              /* shared inflater (no takeover) */
    unsigned char *zbuf;
    size_t zcap;
} bench;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (!q) {
        fprintf(stderr, "bench_live: out of memory\n");
        exit(2);
    }
    return q;
}

static void grow(unsigned char **b, size_t *cap, size_t need)
{
    if (need <= *cap)
        return;
    size_t c = *cap ? *cap : 1024;
    while (c < need)
        c *= 2;
    *b = xrealloc(*b, c);
    *cap = c;
}

/* ---- the server process ---------------------------------------------------- */

static void add_user(bench *b, int u, const char *name, const char *role,
                     const char *team)
{
    char out[4096];
    char *argv[] = {(char *)b->bin, "user", "add", (char *)name, "--role",
                    (char *)role, "--team", (char *)team, "--json", "--data",
                    b->data, NULL};
    if (ts_run_out(argv, out, sizeof out) != 0) {
        fprintf(stderr, "bench_live: user add %s failed: %s\n", name, out);
        exit(2);
    }
    char *t = strstr(out, "\"token\"");
    t = t ? strchr(t + 7, '"') : NULL;
    if (!t || sscanf(t, "\"%127[^\"]\"", b->tok[u]) != 1) {
        fprintf(stderr, "bench_live: no token in %s\n", out);
        exit(2);
    }
}

static long proc_cpu_ticks(pid_t pid)
{
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld",
                     &ut, &st) != 2)
        return -1;
    return ut + st;
}

static long proc_rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kib = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

/* ---- WebSocket output ------------------------------------------------------ */

static void flush_out(bench *b, dev *d);

/* Queue one text message, compressed when negotiated (a fresh deflate
** stream per message is a valid continuation of any stream the server's
** inflater keeps). */
static void ws_send(bench *b, dev *d, const char *text, size_t len)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t n = len;
    int rsv1 = 0;
    if (d->pmd) {
        deflateReset(&b->def);
        size_t need = len + len / 8 + 64;
        grow(&b->zbuf, &b->zcap, need);
        b->def.next_in = (unsigned char *)text;
        b->def.avail_in = (uInt)len;
        b->def.next_out = b->zbuf;
        b->def.avail_out = (uInt)b->zcap;
        if (deflate(&b->def, Z_SYNC_FLUSH) != Z_OK || b->def.avail_in) {
            fprintf(stderr, "bench_live: deflate failed\n");
            exit(2);
        }
        n = b->zcap - b->def.avail_out;
        if (n >= 4)
            n -= 4;             /* the 00 00 ff ff tail */
        p = b->zbuf;
        rsv1 = 0x40;
    }
    unsigned char h[14];
    size_t hl = 0;
    h[hl++] = (unsigned char)(0x80 | rsv1 | 1);
    if (n < 126) {
        h[hl++] = (unsigned char)(0x80 | n);
    } else if (n < 65536) {
        h[hl++] = 0x80 | 126;
        h[hl++] = (unsigned char)(n >> 8);
        h[hl++] = (unsigned char)n;
    } else {
        h[hl++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            h[hl++] = (unsigned char)((uint64_t)n >> (8 * i));
    }
    memset(h + hl, 0, 4);       /* mask key 0: XOR is the identity */
    hl += 4;
    grow(&d->wb, &d->wcap, d->wlen + hl + n);
    memcpy(d->wb + d->wlen, h, hl);
    memcpy(d->wb + d->wlen + hl, p, n);
    d->wlen += hl + n;
    flush_out(b, d);
}

static void ws_sendf(bench *b, dev *d, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0 && (size_t)n < sizeof buf)
        ws_send(b, d, buf, (size_t)n);
}

static void set_events(bench *b, dev *d, int wantw)
{
    if (d->wantw == wantw)
        return;
    d->wantw = wantw;
    struct epoll_event ev = {.events = EPOLLIN | (wantw ? EPOLLOUT : 0),
                             .data.ptr = d};
    epoll_ctl(b->ep, EPOLL_CTL_MOD, d->fd, &ev);
}

static void drop(bench *b, dev *d, const char *why);

static void flush_out(bench *b, dev *d)
{
    while (d->wlen && d->ssl) {
        int k = SSL_write(d->ssl, d->wb, (int)d->wlen);
        if (k <= 0) {
            int e = SSL_get_error(d->ssl, k);
            if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
                set_events(b, d, 1);
                return;
            }
            drop(b, d, "write failed");
            return;
        }
        memmove(d->wb, d->wb + k, d->wlen - (size_t)k);
        d->wlen -= (size_t)k;
    }
    set_events(b, d, 0);
}

static void send_pull(bench *b, dev *d)
{
    d->pulling = 1;
    b->pulls_sent++;
    ws_sendf(b, d, "{\"type\":\"pull\",\"after\":%lld,\"limit\":500}",
             (long long)d->cursor);
}

static void send_hello(bench *b, dev *d)
{
    ws_sendf(b, d, "{\"type\":\"hello\",\"v\":1,\"device\":\"%s\",\"cursor\":"
             "%lld,\"client\":\"bench_live\"%s}", d->device,
             (long long)d->cursor, b->live ? ",\"live\":true" : "");
}

/* One change of writer d: its customer's name (first) or note. */
static void send_change(bench *b, dev *d, const char *field, const char *value)
{
    d->counter++;
    d->batch++;
    if (!d->sent_ns)
        d->sent_ns = calloc(ACK_RING, sizeof *d->sent_ns);
    if (d->sent_ns)
        d->sent_ns[d->batch % ACK_RING] = now_ns();
    uint64_t hlc = ((uint64_t)wall_ms() << 16) | (uint64_t)(d->counter & 0xffff);
    ws_sendf(b, d, "{\"type\":\"push\",\"batch\":%lld,\"changes\":[{\"t\":"
             "\"customer\",\"r\":\"%s\",\"f\":\"%s\",\"v\":\"%s\",\"vv\":{\"%s\":"
             "%lld},\"h\":\"%016llx\",\"d\":\"%s\"}]}", (long long)d->batch,
             d->cust, field, value, d->device, (long long)d->counter,
             (unsigned long long)hlc, d->device);
}

/* ---- WebSocket input --------------------------------------------------------- */

static int64_t num_after(const char *s, const char *key)
{
    const char *p = strstr(s, key);
    return p ? strtoll(p + strlen(key), NULL, 10) : -1;
}

static void served(bench *b, dev *d)
{
    if (d->state != ST_READY) {
        d->state = ST_READY;
        b->served++;
        b->inflight--;
    }
}

static void record(bench *b, const char *msg)
{
    int64_t t = now_ns();
    for (const char *p = msg; (p = strstr(p, "\"v\":\"t=")) != NULL; p += 7) {
        int64_t sent = strtoll(p + 7, NULL, 10);
        if (sent < b->t_phase)
            continue;
        b->deliveries++;
        if (b->n_lat == b->cap_lat) {
            b->cap_lat = b->cap_lat ? b->cap_lat * 2 : 1 << 16;
            b->lat = xrealloc(b->lat, b->cap_lat * sizeof *b->lat);
        }
        int64_t us = (t - sent) / 1000;
        b->lat[b->n_lat++] = us < 0 ? 0 : us > UINT32_MAX ? UINT32_MAX
                                                         : (uint32_t)us;
    }
}

static void on_message(bench *b, dev *d, char *msg)
{
    if (strncmp(msg, "{\"type\":\"changes\",\"after\":", 26) == 0) {
        int64_t after = num_after(msg, "\"after\":");
        int64_t last = num_after(msg, "\"last\":");
        b->live_batches++;
        if (after == d->cursor && !d->pulling) {
            d->cursor = last;
            record(b, msg);
        } else {
            b->skipped++;
            if (!d->pulling && last > d->cursor)
                send_pull(b, d);
        }
    } else if (strncmp(msg, "{\"type\":\"changes\"", 17) == 0) {
        d->pulling = 0;
        d->cursor = num_after(msg, "\"last\":");
        record(b, msg);
        if (strstr(msg, "\"more\":true"))
            send_pull(b, d);
        else if (d->state == ST_SYNC || d->state == ST_WELCOME)
            served(b, d);
    } else if (strncmp(msg, "{\"type\":\"notify\"", 16) == 0) {
        b->notifies++;
        if (!d->pulling && num_after(msg, "\"head\":") > d->cursor)
            send_pull(b, d);
    } else if (strncmp(msg, "{\"type\":\"ack\"", 13) == 0) {
        d->acked++;
        int64_t bt = num_after(msg, "\"batch\":");
        if (d->sent_ns && bt > 0 && d->sent_ns[bt % ACK_RING] >= b->t_phase &&
            b->t_phase) {
            if (b->n_alat == b->cap_alat) {
                b->cap_alat = b->cap_alat ? b->cap_alat * 2 : 4096;
                b->alat = xrealloc(b->alat, b->cap_alat * sizeof *b->alat);
            }
            b->alat[b->n_alat++] =
                (uint32_t)((now_ns() - d->sent_ns[bt % ACK_RING]) / 1000);
        }
        if (!strstr(msg, "\"refused\":[]") && b->errors++ < 5)
            fprintf(stderr, "bench_live: refused: %.300s\n", msg);
    } else if (strncmp(msg, "{\"type\":\"welcome\"", 17) == 0) {
        d->state = ST_SYNC;
        send_pull(b, d);
    } else if (strncmp(msg, "{\"type\":\"error\"", 15) == 0) {
        if (b->errors++ < 5)
            fprintf(stderr, "bench_live: %s: %.300s\n", d->device, msg);
    }
}

static int inflate_msg(bench *b, dev *d)
{
    z_stream *z = d->inf;
    if (b->pmd == PMD_NOTAKEOVER) {
        z = &b->inf1;
        inflateReset(z);
    } else if (!z) {
        z = d->inf = calloc(1, sizeof *z);
        if (!z || inflateInit2(z, -15) != Z_OK)
            return -1;
    }
    static const unsigned char tail[4] = {0, 0, 0xff, 0xff};
    grow(&d->msg, &d->mcap, d->mlen + 4);
    memcpy(d->msg + d->mlen, tail, 4);
    size_t cap = d->mlen * 4 + 1024;
    grow(&b->zbuf, &b->zcap, cap);
    z->next_in = d->msg;
    z->avail_in = (uInt)(d->mlen + 4);
    size_t out = 0;
    for (;;) {
        z->next_out = b->zbuf + out;
        z->avail_out = (uInt)(b->zcap - out - 1);
        int rc = inflate(z, Z_SYNC_FLUSH);
        out = b->zcap - 1 - z->avail_out;
        if (rc != Z_OK && rc != Z_BUF_ERROR)
            return -1;
        if (z->avail_in == 0 && z->avail_out > 0)
            break;
        grow(&b->zbuf, &b->zcap, b->zcap * 2);
    }
    b->zbuf[out] = '\0';
    on_message(b, d, (char *)b->zbuf);
    return 0;
}

/* Parse whole frames out of d->rb. */
static void parse_frames(bench *b, dev *d)
{
    size_t off = 0;
    while (d->rlen - off >= 2 && d->ssl) {
        unsigned char *f = d->rb + off;
        int fin = f[0] & 0x80, rsv1 = f[0] & 0x40, op = f[0] & 0x0f;
        uint64_t len = f[1] & 0x7f;
        size_t hl = 2;
        if (len == 126) {
            if (d->rlen - off < 4)
                break;
            len = ((uint64_t)f[2] << 8) | f[3];
            hl = 4;
        } else if (len == 127) {
            if (d->rlen - off < 10)
                break;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = (len << 8) | f[2 + i];
            hl = 10;
        }
        if (d->rlen - off < hl + len)
            break;
        unsigned char *p = f + hl;
        off += hl + (size_t)len;
        if (op == 9) {          /* ping: pong, masked with key 0 */
            unsigned char h[6] = {0x8a, (unsigned char)(0x80 | len), 0, 0, 0, 0};
            grow(&d->wb, &d->wcap, d->wlen + 6 + len);
            memcpy(d->wb + d->wlen, h, 6);
            memcpy(d->wb + d->wlen + 6, p, (size_t)len);
            d->wlen += 6 + (size_t)len;
            flush_out(b, d);
            continue;
        }
        if (op == 8) {
            drop(b, d, "closed by the server");
            return;
        }
        if (op == 10)
            continue;
        if (op != 0) {
            d->mlen = 0;
            d->mcomp = rsv1 != 0;
        }
        grow(&d->msg, &d->mcap, d->mlen + (size_t)len + 5);
        memcpy(d->msg + d->mlen, p, (size_t)len);
        d->mlen += (size_t)len;
        if (!fin)
            continue;
        if (d->mcomp) {
            if (inflate_msg(b, d) != 0) {
                drop(b, d, "inflate failed");
                return;
            }
        } else {
            d->msg[d->mlen] = '\0';
            on_message(b, d, (char *)d->msg);
        }
    }
    if (off && d->ssl) {
        memmove(d->rb, d->rb + off, d->rlen - off);
        d->rlen -= off;
    }
}

/* ---- connection life ------------------------------------------------------------ */

static void drop(bench *b, dev *d, const char *why)
{
    if (d->state == ST_OFF)
        return;
    if (why && b->errors++ < 5)
        fprintf(stderr, "bench_live: %s: %s\n", d->device, why);
    if (d->state != ST_READY)
        b->inflight--;
    else
        b->served--;
    if (d->ssl) {
        /* The newest session: over TLS 1.3 the server's tickets arrive
        ** after the handshake, so take it at the end of the connection. */
        if (b->resume && d->state >= ST_UPGRADE) {
            SSL_SESSION *s = SSL_get1_session(d->ssl);
            if (s) {
                if (d->sess)
                    SSL_SESSION_free(d->sess);
                d->sess = s;
            }
        }
        /* Freed without a close_notify, OpenSSL would take the session out
        ** of this client's cache and mark it not resumable
        ** (ssl_clear_bad_session): a device whose network went away keeps
        ** its session, so say the shutdown happened. */
        SSL_set_shutdown(d->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
        SSL_free(d->ssl);
        d->ssl = NULL;
    }
    if (d->fd >= 0) {
        epoll_ctl(b->ep, EPOLL_CTL_DEL, d->fd, NULL);
        close(d->fd);
        d->fd = -1;
    }
    d->state = ST_OFF;
    d->rlen = d->wlen = d->mlen = 0;
    d->pulling = 0;
    d->wantw = 0;
    if (d->inf) {
        inflateEnd(d->inf);
        free(d->inf);
        d->inf = NULL;
    }
}

static void start(bench *b, dev *d)
{
    d->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(d->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)b->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = connect(d->fd, (struct sockaddr *)&a, sizeof a);
    if (rc != 0 && errno != EINPROGRESS) {
        b->refused++;
        close(d->fd);
        d->fd = -1;
        return;
    }
    d->state = ST_TCP;
    d->wantw = 1;
    b->inflight++;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = d};
    epoll_ctl(b->ep, EPOLL_CTL_ADD, d->fd, &ev);
}

static void upgrade(bench *b, dev *d)
{
    const char *ext = b->pmd == PMD_TAKEOVER
        ? "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
        : b->pmd == PMD_NOTAKEOVER
        ? "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover;"
          " client_no_context_takeover\r\n"
        : "";
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                     "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n"
                     "Sec-WebSocket-Protocol: %s\r\n%s"
                     "Authorization: Bearer %s\r\n\r\n",
                     b->port, FDSP_SUBPROTOCOL, ext, b->tok[d->user]);
    grow(&d->wb, &d->wcap, d->wlen + (size_t)n);
    memcpy(d->wb + d->wlen, req, (size_t)n);
    d->wlen += (size_t)n;
    d->state = ST_UPGRADE;
    flush_out(b, d);
}

static void on_event(bench *b, dev *d, uint32_t ev)
{
    if (d->state == ST_TCP) {
        int err = 0;
        socklen_t l = sizeof err;
        getsockopt(d->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err) {
            b->refused++;
            drop(b, d, NULL);
            return;
        }
        d->ssl = SSL_new(b->ctx);
        SSL_set_fd(d->ssl, d->fd);
        SSL_set_tlsext_host_name(d->ssl, "localhost");
        if (d->sess)
            SSL_set_session(d->ssl, d->sess);
        d->state = ST_TLS;
    }
    if (d->state == ST_TLS) {
        int k = SSL_connect(d->ssl);
        if (k != 1) {
            int e = SSL_get_error(d->ssl, k);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
                set_events(b, d, e == SSL_ERROR_WANT_WRITE);
                return;
            }
            drop(b, d, "TLS handshake failed");
            return;
        }
        b->handshakes++;
        if (SSL_session_reused(d->ssl))
            b->resumed++;
        upgrade(b, d);
        return;
    }
    if ((ev & EPOLLOUT) && d->wlen)
        flush_out(b, d);
    if (!(ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) || !d->ssl)
        return;
    for (;;) {
        grow(&d->rb, &d->rcap, d->rlen + 16384);
        int k = SSL_read(d->ssl, d->rb + d->rlen, 16384);
        if (k <= 0) {
            int e = SSL_get_error(d->ssl, k);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                break;
            drop(b, d, d->state == ST_READY ? "connection lost" : NULL);
            if (d->state == ST_OFF && b->refused >= 0)
                b->refused++;
            return;
        }
        d->rlen += (size_t)k;
        if (d->state == ST_UPGRADE) {
            d->rb[d->rlen] = '\0';
            char *end = strstr((char *)d->rb, "\r\n\r\n");
            if (!end)
                continue;
            if (strncmp((char *)d->rb, "HTTP/1.1 101", 12) != 0) {
                b->refused++;
                drop(b, d, NULL);
                return;
            }
            d->pmd = strcasestr((char *)d->rb, "permessage-deflate") != NULL;
            size_t hl = (size_t)(end + 4 - (char *)d->rb);
            memmove(d->rb, d->rb + hl, d->rlen - hl);
            d->rlen -= hl;
            d->state = ST_WELCOME;
            send_hello(b, d);
        }
        parse_frames(b, d);
        if (!d->ssl)
            return;
    }
}

/* Run the loop until done(b) or the deadline; 0 if done. */
static int loop(bench *b, int64_t deadline_ns, int (*done)(bench *),
                void (*tick)(bench *, int64_t), int64_t tick_ns)
{
    struct epoll_event evs[512];
    int64_t next_tick = now_ns();
    while (!done(b)) {
        int64_t t = now_ns();
        if (t >= deadline_ns)
            return -1;
        if (tick && t >= next_tick) {
            tick(b, t);
            next_tick += tick_ns;
            if (next_tick < t)
                next_tick = t;  /* behind: do not burst */
            continue;
        }
        int64_t wait = (tick ? next_tick : deadline_ns) - t;
        int ms = (int)(wait / 1000000);
        if (ms > 100)
            ms = 100;
        int n = epoll_wait(b->ep, evs, 512, ms);
        for (int i = 0; i < n; i++)
            on_event(b, evs[i].data.ptr, evs[i].events);
    }
    return 0;
}

/* ---- phases -------------------------------------------------------------------------- */

static int next_start;

static int all_served(bench *b)
{
    /* keep up to conc connections in flight */
    while (next_start < b->n && b->inflight < b->conc)
        start(b, &b->d[next_start++]);
    /* a refused one is retried at the end */
    if (next_start >= b->n && b->inflight == 0 && b->served < b->n) {
        for (int i = 0; i < b->n; i++)
            if (b->d[i].state == ST_OFF && b->inflight < b->conc)
                start(b, &b->d[i]);
    }
    return b->served == b->n;
}

static int connect_all(bench *b, double *secs)
{
    next_start = 0;
    int64_t t0 = now_ns();
    int rc = loop(b, t0 + 120LL * 1000000000LL, all_served, NULL, 0);
    *secs = (double)(now_ns() - t0) / 1e9;
    return rc;
}

static int writers_acked(bench *b)
{
    for (int i = 0; i < b->w; i++)
        if (b->d[i].acked < b->d[i].batch)
            return 0;
    return 1;
}

static int never(bench *b)
{
    (void)b;
    return 0;
}

static int wr_next;

static void write_tick(bench *b, int64_t t)
{
    dev *d = &b->d[wr_next++ % b->w];
    char v[40];
    snprintf(v, sizeof v, "t=%lld", (long long)t);
    if (d->state == ST_READY)
        send_change(b, d, "note", v);
}

static int expected_in;

static int all_delivered(bench *b)
{
    return b->deliveries >= expected_in;
}

static int cmp_u32(const void *a, const void *c)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)c;
    return x < y ? -1 : x > y;
}

static double pct(const uint32_t *v, size_t n, double p)
{
    if (!n)
        return 0;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i] / 1000.0;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_live [--devices N] [--watchers M] [--rate R]"
            " [--seconds S] [--idle-seconds I] [--pmd takeover|notakeover|off]"
            " [--no-live] [--no-storm] [--conc C] [--storm-conc C]"
            " [--server BIN] [--event-loop uv|poll] [--no-resume]"
            " [--group-commit on|off]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    bench B, *b = &B;
    memset(b, 0, sizeof *b);
    b->n = 1000;
    b->m = -1;
    b->rate = 100;
    b->secs = 10;
    b->idle_secs = 5;
    b->live = 1;
    b->storm = 1;
    b->conc = 256;
    b->bin = SERVER_BIN;
    b->resume = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--no-live")) { b->live = 0; continue; }
        if (!strcmp(a, "--no-storm")) { b->storm = 0; continue; }
        if (!strcmp(a, "--no-resume")) { b->resume = 0; continue; }
        if (!v)
            usage();
        i++;
        if (!strcmp(a, "--devices")) b->n = atoi(v);
        else if (!strcmp(a, "--watchers")) b->m = atoi(v);
        else if (!strcmp(a, "--rate")) b->rate = atof(v);
        else if (!strcmp(a, "--seconds")) b->secs = atof(v);
        else if (!strcmp(a, "--idle-seconds")) b->idle_secs = atof(v);
        else if (!strcmp(a, "--conc")) b->conc = atoi(v);
        else if (!strcmp(a, "--storm-conc")) b->storm_conc = atoi(v);
        else if (!strcmp(a, "--server")) b->bin = v;
        else if (!strcmp(a, "--event-loop")) b->evloop = v;
        else if (!strcmp(a, "--group-commit")) b->group = v;
        else if (!strcmp(a, "--pmd"))
            b->pmd = !strcmp(v, "off") ? PMD_OFF
                   : !strcmp(v, "notakeover") ? PMD_NOTAKEOVER : PMD_TAKEOVER;
        else usage();
    }
    if (b->rate <= 0 || b->secs <= 0 || b->n < 2 || b->n > 60000 ||
        b->secs > 600 || b->conc < 1)
        usage();
    b->w = (int)((b->rate + 39) / 40);
    if (b->m < 0)
        b->m = b->n - b->w < 1000 ? b->n - b->w : 1000;
    if (b->m + b->w > b->n)
        usage();
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)b->n + 64) {
        fprintf(stderr, "bench_live: open-file limit %llu is below %d devices;"
                " raise it (ulimit -n)\n", (unsigned long long)rl.rlim_cur, b->n);
        return 2;
    }

    /* Users: writers (reps of t0), managers of t0 (20 devices each), reps
    ** of t1..t9 (10 devices each). */
    int n_mgr = (b->m + 19) / 20, n_idle = b->n - b->m - b->w;
    int n_rep = (n_idle + 9) / 10;
    b->n_users = b->w + n_mgr + n_rep;
    b->tok = calloc((size_t)b->n_users, sizeof *b->tok);
    snprintf(b->dir, sizeof b->dir, "/tmp/bench_live.XXXXXX");
    if (!mkdtemp(b->dir))
        return 2;
    if (snprintf(b->data, sizeof b->data, "%s/data", b->dir) >=
            (int)sizeof b->data ||
        snprintf(b->ca, sizeof b->ca, "%s/ca.pem", b->data) >= (int)sizeof b->ca)
        return 2;
    char *init[] = {(char *)b->bin, "init", "--data", b->data, NULL};
    if (ts_run_out(init, NULL, 0) != 0) {
        fprintf(stderr, "bench_live: init failed\n");
        return 2;
    }
    for (int u = 0; u < b->n_users; u++) {
        char name[32], team[8];
        const char *role = "rep";
        if (u < b->w) {
            snprintf(name, sizeof name, "writer%d", u);
            snprintf(team, sizeof team, "t0");
        } else if (u < b->w + n_mgr) {
            snprintf(name, sizeof name, "mgr%d", u - b->w);
            snprintf(team, sizeof team, "t0");
            role = "manager";
        } else {
            int r = u - b->w - n_mgr;
            snprintf(name, sizeof name, "rep%d", r);
            snprintf(team, sizeof team, "t%d", 1 + r % 9);
        }
        add_user(b, u, name, role, team);
    }
    b->d = calloc((size_t)b->n, sizeof *b->d);
    for (int i = 0; i < b->n; i++) {
        dev *d = &b->d[i];
        d->idx = i;
        d->fd = -1;
        snprintf(d->device, sizeof d->device, "bench-dev-%06d", i);
        if (i < b->w) {
            d->role = ROLE_WRITE;
            d->user = i;
            snprintf(d->cust, sizeof d->cust, "bench-cust-%04d", i);
        } else if (i < b->w + b->m) {
            d->role = ROLE_WATCH;
            d->user = b->w + (i - b->w) / 20;
        } else {
            d->role = ROLE_IDLE;
            d->user = b->w + n_mgr + (i - b->w - b->m) / 10;
        }
    }

    b->port = ts_free_port();
    char listen[64], log[128];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", b->port);
    if (snprintf(log, sizeof log, "%s/serve.log", b->dir) >= (int)sizeof log)
        return 2;
    b->srv = fork();
    if (b->srv == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 2);
        char *av[16];
        int ac = 0;
        av[ac++] = (char *)b->bin;
        av[ac++] = "serve";
        av[ac++] = "--data";
        av[ac++] = b->data;
        av[ac++] = "--listen";
        av[ac++] = listen;
        if (b->evloop) {
            av[ac++] = "--event-loop";
            av[ac++] = (char *)b->evloop;
        }
        if (b->group) {
            av[ac++] = "--group-commit";
            av[ac++] = (char *)b->group;
        }
        av[ac] = NULL;
        execv(b->bin, av);
        _exit(127);
    }
    for (int i = 0; i < 100 && !ts_port_open(b->port); i++)
        usleep(50000);

    b->ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_load_verify_locations(b->ctx, b->ca, NULL);
    SSL_CTX_set_verify(b->ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_mode(b->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                     SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                     SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_session_cache_mode(b->ctx, SSL_SESS_CACHE_CLIENT);
    deflateInit2(&b->def, 1, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
    inflateInit2(&b->inf1, -15);
    b->ep = epoll_create1(0);

    long hz = sysconf(_SC_CLK_TCK);
    sleep(1);
    long rss0 = proc_rss_kib(b->srv);
    printf("bench_live: server pid %d; %d devices (%d watchers of team t0, %d"
           " writers, %d idle of 9 other teams), %s, pmd %s, %.0f changes/s for"
           " %.0f s, event loop %s\n", (int)b->srv, b->n, b->m, b->w, b->n - b->m - b->w,
           b->live ? "live batches" : "notify-then-pull (--no-live)",
           b->pmd == PMD_OFF ? "off" : b->pmd == PMD_NOTAKEOVER
           ? "no context takeover" : "context takeover", b->rate, b->secs,
           b->evloop ? b->evloop : "serve's default");

    /* 1. Connect everyone. */
    double setup_s = 0;
    long c0 = proc_cpu_ticks(b->srv);
    b->handshakes = b->resumed = 0;
    if (connect_all(b, &setup_s) != 0) {
        fprintf(stderr, "bench_live: only %d of %d served in 120 s\n",
                b->served, b->n);
        kill(b->srv, SIGTERM);
        return 1;
    }
    long c1 = proc_cpu_ticks(b->srv);
    printf("setup: %d devices served in %.2f s: %.0f connections/s (server"
           " CPU %.2f s, %.2f ms per connection)\n", b->n, setup_s,
           b->n / setup_s, (double)(c1 - c0) / hz,
           1000.0 * (double)(c1 - c0) / hz / b->n);
    printf("setup: %lld TLS handshakes, %lld resumed\n",
           (long long)b->handshakes, (long long)b->resumed);

    /* 2. Writers create their customers. */
    for (int i = 0; i < b->w; i++)
        send_change(b, &b->d[i], "name", b->d[i].cust);
    loop(b, now_ns() + 30LL * 1000000000LL, writers_acked, NULL, 0);
    loop(b, now_ns() + 2LL * 1000000000LL, never, NULL, 0);

    /* 3. Idle: RSS and CPU. */
    long rss1 = proc_rss_kib(b->srv);
    long i0 = proc_cpu_ticks(b->srv);
    loop(b, now_ns() + (int64_t)(b->idle_secs * 1e9), never, NULL, 0);
    long i1 = proc_cpu_ticks(b->srv);
    printf("idle: server RSS %ld KiB before connections, %ld KiB with %d"
           " (%.1f KiB per connection); CPU over %.0f s: %.1f%% of one core\n",
           rss0, rss1, b->n, (double)(rss1 - rss0) / b->n, b->idle_secs,
           100.0 * (double)(i1 - i0) / hz / b->idle_secs);

    /* 4. Live phase. */
    int64_t batches0 = b->live_batches, notif0 = b->notifies;
    int64_t pulls0 = b->pulls_sent;
    b->t_phase = now_ns();
    long l0 = proc_cpu_ticks(b->srv), me0 = proc_cpu_ticks(getpid());
    wr_next = 0;
    int64_t tick = (int64_t)(1e9 / b->rate);
    loop(b, b->t_phase + (int64_t)(b->secs * 1e9), never, write_tick, tick);
    int64_t changes = 0;
    for (int i = 0; i < b->w; i++)
        changes += b->d[i].batch - 1;
    expected_in = (int)(changes * b->m);
    loop(b, now_ns() + 10LL * 1000000000LL, all_delivered, NULL, 0);
    long l1 = proc_cpu_ticks(b->srv), me1 = proc_cpu_ticks(getpid());
    double cpu_s = (double)(l1 - l0) / hz;
    qsort(b->lat, b->n_lat, sizeof *b->lat, cmp_u32);
    printf("live: %lld changes, %lld of %d deliveries to %d watchers;"
           " push-to-arrival p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
           (long long)changes, (long long)b->deliveries, expected_in, b->m,
           pct(b->lat, b->n_lat, 0.5), pct(b->lat, b->n_lat, 0.99),
           b->n_lat ? b->lat[b->n_lat - 1] / 1000.0 : 0.0);
    qsort(b->alat, b->n_alat, sizeof *b->alat, cmp_u32);
    printf("live: push-to-ack (the writer's commit) p50 %.2f ms, p99 %.2f ms,"
           " max %.2f ms\n", pct(b->alat, b->n_alat, 0.5),
           pct(b->alat, b->n_alat, 0.99),
           b->n_alat ? b->alat[b->n_alat - 1] / 1000.0 : 0.0);
    printf("live: server CPU %.2f s over %.1f s (%.1f%% of one core), %.1f us"
           " per change delivered; %lld live batches, %lld notifies, %lld"
           " pulls, %lld live batches not applied\n", cpu_s, b->secs,
           100.0 * cpu_s / b->secs,
           b->deliveries ? 1e6 * cpu_s / (double)b->deliveries : 0.0,
           (long long)(b->live_batches - batches0),
           (long long)(b->notifies - notif0),
           (long long)(b->pulls_sent - pulls0), (long long)b->skipped);
    printf("live: this load generator's CPU %.2f s (%.1f%% of one core)\n",
           (double)(me1 - me0) / hz, 100.0 * (double)(me1 - me0) / hz / b->secs);
    loop(b, now_ns() + 2LL * 1000000000LL, never, NULL, 0);
    long rss2 = proc_rss_kib(b->srv);
    printf("after traffic: server RSS %ld KiB (%.1f KiB per connection)\n",
           rss2, (double)(rss2 - rss0) / b->n);

    /* 5. Reconnect storm. */
    int rc = b->served == b->n && b->deliveries >= expected_in ? 0 : 1;
    if (b->storm) {
        for (int i = 0; i < b->n; i++)
            drop(b, &b->d[i], NULL);
        b->refused = 0;
        int conc = b->conc;
        b->conc = b->storm_conc > 0 ? b->storm_conc : b->n;  /* at once */
        double storm_s = 0;
        long s0 = proc_cpu_ticks(b->srv);
        b->handshakes = b->resumed = 0;
        int src = connect_all(b, &storm_s);
        long s1 = proc_cpu_ticks(b->srv);
        int storm_conc = b->conc;
        b->conc = conc;
        printf("storm: %d of %d devices dropped and reconnecting at once,"
               " all served again in %.2f s (%d in flight at most; %lld"
               " attempts refused or failed and retried; server CPU %.2f s)\n",
               b->served, b->n, storm_s, storm_conc, (long long)b->refused,
               (double)(s1 - s0) / hz);
        printf("storm: %lld TLS handshakes, %lld resumed (sessions %s)\n",
               (long long)b->handshakes, (long long)b->resumed,
               b->resume ? "offered" : "not offered: --no-resume");
        if (src != 0)
            rc = 1;
    }
    long rss3 = proc_rss_kib(b->srv);
    printf("end: server RSS %ld KiB (%.1f KiB per connection)%s%s\n",
           rss3, (double)(rss3 - rss0) / b->n,
           getenv("BENCH_LIVE_KEEP") ? "; server log " : "",
           getenv("BENCH_LIVE_KEEP") ? log : "");
    for (int i = 0; i < b->n; i++)
        drop(b, &b->d[i], NULL);
    kill(b->srv, SIGTERM);
    waitpid(b->srv, NULL, 0);
    if (!getenv("BENCH_LIVE_KEEP")) {
        char *rm[] = {"/bin/rm", "-rf", b->dir, NULL};
        ts_run_out(rm, NULL, 0);
    }
    return rc;
}
