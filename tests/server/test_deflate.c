/*
** test_deflate.c — permessage-deflate (RFC 7692) on the sync protocol of
** the real server over TLS.
**
**  - negotiation: the 101 answer names permessage-deflate when the client
**    offers it, and no extension when it does not, nor on the dashboard's
**    /live socket;
**  - a raw client compressing with zlib itself (an implementation other
**    than libwebsockets) pushes two batches of about 1 MiB each, one of
**    varied text and one of values that compress about a thousand to one,
**    in 32 KiB fragments, and a second device pulls them back compressed
**    by the server, byte for byte;
**  - the same round trip through cli_sync() (transport_lws.c, which offers
**    the extension): one device pushes, a fresh one pulls, every value
**    arrives intact.
** libwebsockets 4.1.6 corrupted such large compressed messages over TLS
** until the inflate buffer was sized for a whole message (server.c).
*/
#include <openssl/ssl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>
#include <jansson.h>

#include "harness.h"
#include "rawws.h"

#define CHUNK (32 * 1024)       /* bytes of plain text per sent fragment */
#define OFFER "permessage-deflate; client_max_window_bits"

/* ---- Raw TLS I/O ------------------------------------------------------------ */

static void ssl_write_all(rw_conn *c, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    while (len) {
        int n = SSL_write(c->ssl, p, (int)(len > 65536 ? 65536 : len));
        assert_true(n > 0);
        p += n;
        len -= (size_t)n;
    }
}

static void ssl_read_all(rw_conn *c, void *buf, size_t len)
{
    unsigned char *p = buf;
    while (len) {
        int n = SSL_read(c->ssl, p, (int)len);
        assert_true(n > 0);
        p += n;
        len -= (size_t)n;
    }
}

/* Upgrade to subprotocol proto with token, offering ext (NULL: no
** Sec-WebSocket-Extensions header).  Returns the status; the response head
** goes to head. */
static int upgrade(rw_conn *c, const char *token, const char *proto,
                   const char *ext, char *head, size_t len)
{
    char req[1024], exthdr[256] = "";
    if (ext)
        snprintf(exthdr, sizeof exthdr, "Sec-WebSocket-Extensions: %s\r\n", ext);
    snprintf(req, sizeof req,
             "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
             "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
             "Authorization: Bearer %s\r\nSec-WebSocket-Protocol: %s\r\n%s\r\n",
             token, proto, exthdr);
    ssl_write_all(c, req, strlen(req));
    size_t used = 0;
    while (used + 1 < len) {
        if (SSL_read(c->ssl, head + used, 1) != 1)
            break;
        used++;
        if (used >= 4 && memcmp(head + used - 4, "\r\n\r\n", 4) == 0)
            break;
    }
    head[used] = '\0';
    int status = -1;
    if (sscanf(head, "HTTP/1.1 %d", &status) != 1)
        return -1;
    return status;
}

/* Value of header name in head ("" if absent). */
static void header(const char *head, const char *name, char *out, size_t len)
{
    out[0] = '\0';
    size_t nl = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, name, nl) == 0 && p[2 + nl] == ':') {
            const char *v = p + 3 + nl;
            while (*v == ' ')
                v++;
            size_t n = strcspn(v, "\r");
            if (n >= len)
                n = len - 1;
            memcpy(out, v, n);
            out[n] = '\0';
            return;
        }
    }
}

/* ---- A compressing raw client ---------------------------------------------------- */

typedef struct pmd_conn {
    rw_conn c;
    z_stream tx, rx;            /* context takeover: one stream each way */
} pmd_conn;

/* Connect offering offer; the server's Sec-WebSocket-Extensions answer
** goes to ext[256]. */
static void pmd_open_offer(th_server *s, pmd_conn *p, const char *offer,
                           char *ext)
{
    char head[4096];
    memset(p, 0, sizeof *p);
    assert_int_equal(rw_connect(&p->c, s->port, s->ca, 0), 0);
    assert_int_equal(upgrade(&p->c, s->admin, FDSP_SUBPROTOCOL, offer, head,
                                     sizeof head), 101);
    header(head, "Sec-WebSocket-Extensions", ext, 256);
    assert_non_null(strstr(ext, "permessage-deflate"));
    /* We deflate with a 2^15 window: the server must not have asked for a
    ** smaller one. */
    const char *w = strstr(ext, "client_max_window_bits=");
    if (w)
        assert_int_equal(atoi(w + strlen("client_max_window_bits=")), 15);
    assert_int_equal(deflateInit2(&p->tx, 6, Z_DEFLATED, -15, 8,
                                  Z_DEFAULT_STRATEGY), Z_OK);
    assert_int_equal(inflateInit2(&p->rx, -15), Z_OK);
}

static void pmd_open(th_server *s, pmd_conn *p)
{
    char ext[256];
    pmd_open_offer(s, p, OFFER, ext);
}

static void pmd_close(pmd_conn *p)
{
    deflateEnd(&p->tx);
    inflateEnd(&p->rx);
    rw_close(&p->c);
}

/* One masked frame. */
static void send_frame(rw_conn *c, int fin, int rsv1, int opcode,
                       const unsigned char *buf, size_t len)
{
    unsigned char *f = malloc(14 + len);
    assert_non_null(f);
    size_t h = 0;
    f[h++] = (unsigned char)((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode);
    if (len < 126) {
        f[h++] = (unsigned char)(0x80 | len);
    } else if (len < 65536) {
        f[h++] = 0x80 | 126;
        f[h++] = (unsigned char)(len >> 8);
        f[h++] = (unsigned char)len;
    } else {
        f[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            f[h++] = (unsigned char)((uint64_t)len >> (8 * i));
    }
    static const unsigned char mask[4] = {0x5a, 0x17, 0xc3, 0x88};
    memcpy(f + h, mask, 4);
    h += 4;
    for (size_t i = 0; i < len; i++)
        f[h + i] = buf[i] ^ mask[i & 3];
    ssl_write_all(c, f, h + len);
    free(f);
}

/* Send msg compressed, CHUNK bytes of it per fragment: the first fragment
** carries RSV1, the last ends with a sync flush whose 00 00 ff ff tail is
** dropped (RFC 7692 §7.2.1). */
static void pmd_send(pmd_conn *p, const char *msg, size_t len)
{
    size_t cap = 2 * CHUNK + 64;
    unsigned char *out = malloc(cap);
    assert_non_null(out);
    for (size_t off = 0; off < len || off == 0;) {
        size_t n = len - off > CHUNK ? CHUNK : len - off;
        int last = off + n == len;
        p->tx.next_in = (unsigned char *)(uintptr_t)(msg + off);
        p->tx.avail_in = (uInt)n;
        size_t used = 0;
        do {
            if (cap - used < 1024) {
                cap *= 2;
                out = realloc(out, cap);
                assert_non_null(out);
            }
            p->tx.next_out = out + used;
            p->tx.avail_out = (uInt)(cap - used);
            assert_true(deflate(&p->tx, last ? Z_SYNC_FLUSH : Z_NO_FLUSH) != Z_STREAM_ERROR);
            used = cap - p->tx.avail_out;
        } while (p->tx.avail_in || p->tx.avail_out == 0);
        if (last) {
            assert_true(used >= 4);
            assert_memory_equal(out + used - 4, "\x00\x00\xff\xff", 4);
            used -= 4;
        }
        send_frame(&p->c, last, off == 0, off == 0 ? 1 : 0, out, used);
        off += n;
        if (last)
            break;
    }
    free(out);
}

static void pmd_send_json(pmd_conn *p, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    assert_non_null(s);
    assert_true(strlen(s) <= FDSP_MAX_FRAME);
    pmd_send(p, s, strlen(s));
    free(s);
}

/* Next text message, inflated; *compressed tells whether the server set
** RSV1.  Returns a new JSON value. */
static json_t *pmd_recv(pmd_conn *p, int *compressed)
{
    unsigned char *msg = NULL;
    size_t mlen = 0;
    int first = 1, fin = 0;
    *compressed = 0;
    while (!fin) {
        unsigned char h[8];
        ssl_read_all(&p->c, h, 2);
        int b0 = h[0];
        fin = b0 & 0x80;
        int opcode = b0 & 0x0f;
        uint64_t len = h[1] & 0x7f;
        assert_int_equal(h[1] & 0x80, 0);       /* servers do not mask */
        if (len == 126) {
            ssl_read_all(&p->c, h, 2);
            len = ((uint64_t)h[0] << 8) | h[1];
        } else if (len == 127) {
            ssl_read_all(&p->c, h, 8);
            len = 0;
            for (int i = 0; i < 8; i++)
                len = (len << 8) | h[i];
        }
        assert_true(len <= 2 * FDSP_MAX_FRAME);
        unsigned char *pl = malloc(len + 1);
        assert_non_null(pl);
        ssl_read_all(&p->c, pl, (size_t)len);
        if (opcode >= 8) {          /* control frames between fragments */
            assert_int_not_equal(opcode, 8);    /* no close expected */
            if (opcode == 9)
                send_frame(&p->c, 1, 0, 10, pl, (size_t)len);
            free(pl);
            fin = 0;
            continue;
        }
        if (first) {
            assert_int_equal(opcode, 1);
            *compressed = (b0 & 0x40) != 0;
            first = 0;
        }
        msg = realloc(msg, mlen + len + 4);
        assert_non_null(msg);
        memcpy(msg + mlen, pl, (size_t)len);
        mlen += (size_t)len;
        free(pl);
    }
    if (!*compressed)
        return json_loadb((const char *)msg, mlen, 0, NULL);
    memcpy(msg + mlen, "\x00\x00\xff\xff", 4);
    mlen += 4;
    size_t cap = 4 * mlen + 65536, used = 0;
    unsigned char *out = malloc(cap);
    assert_non_null(out);
    p->rx.next_in = msg;
    p->rx.avail_in = (uInt)mlen;
    while (p->rx.avail_in) {
        if (cap - used < 65536) {
            cap *= 2;
            out = realloc(out, cap);
            assert_non_null(out);
        }
        p->rx.next_out = out + used;
        p->rx.avail_out = (uInt)(cap - used);
        int rc = inflate(&p->rx, Z_SYNC_FLUSH);
        assert_true(rc == Z_OK || rc == Z_BUF_ERROR);
        used = cap - p->rx.avail_out;
    }
    free(msg);
    json_t *j = json_loadb((const char *)out, used, 0, NULL);
    free(out);
    return j;
}

static const char *type_of(json_t *j)
{
    return json_string_value(json_object_get(j, "type"));
}

static void pmd_hello(pmd_conn *p, const char *device)
{
    int z = 0;
    pmd_send_json(p, json_pack("{s:s, s:i, s:s, s:i}", "type", "hello", "v",
                               FDSP_VERSION, "device", device, "cursor", 0));
    json_t *w = pmd_recv(p, &z);
    assert_non_null(w);
    assert_true(z);
    assert_string_equal(type_of(w), "welcome");
    json_decref(w);
}

/* ---- Data ------------------------------------------------------------------------ */

/* Deterministic prose of len bytes (xorshift over a word list, one of them
** multi-byte UTF-8): text that compresses the way real notes do, about 3
** to 1. */
static char *prose(uint32_t seed, size_t len)
{
    static const char *const words[] = {
        "customer", "called", "about", "the", "renewal", "quote", "visit",
        "Tuesday", "pricing", "warehouse", "Shanghai", "delivery", "asked",
        "for", "samples", "budget", "approved", "next", "quarter", "follow",
        "up", "with", "manager", "contract", "signed", "pending", "invoice",
        "\xe4\xb8\x8a\xe6\xb5\xb7\xe5\xae\xa2\xe6\x88\xb7"};   /* UTF-8 */
    uint32_t x = seed * 2654435761u + 1;
    char *s = malloc(len + 1);
    assert_non_null(s);
    size_t n = 0;
    for (;;) {
        char w[64];
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        int k = snprintf(w, sizeof w, "%s %u ",
                         words[x % (sizeof words / sizeof words[0])],
                         (unsigned)(x >> 20));
        if (n + (size_t)k >= len)
            break;
        memcpy(s + n, w, (size_t)k);
        n += (size_t)k;
    }
    /* Whole words only, then dots: the CLI trims trailing blanks. */
    memset(s + n, '.', len - n);
    s[len] = '\0';
    return s;
}

/* A value that deflates about a thousand to one: one letter repeated,
** after a distinct prefix. */
static char *repeated(int i, size_t len)
{
    char *s = malloc(len + 1);
    assert_non_null(s);
    int k = snprintf(s, len + 1, "value %d: ", i);
    memset(s + k, 'a' + i % 26, len - (size_t)k);
    s[len] = '\0';
    return s;
}

/* ---- Tests -------------------------------------------------------------------------- */

static void test_negotiation(void **state)
{
    th_server *s = *state;
    rw_conn c;
    char head[4096], ext[256];
    /* Offered: accepted, named in the 101 answer. */
    assert_int_equal(rw_connect(&c, s->port, s->ca, 0), 0);
    assert_int_equal(upgrade(&c, s->admin, FDSP_SUBPROTOCOL, OFFER, head,
                             sizeof head), 101);
    header(head, "Sec-WebSocket-Extensions", ext, sizeof ext);
    assert_non_null(strstr(ext, "permessage-deflate"));
    rw_close(&c);
    /* Not offered: plain frames, no extension named. */
    assert_int_equal(rw_connect(&c, s->port, s->ca, 0), 0);
    assert_int_equal(upgrade(&c, s->admin, FDSP_SUBPROTOCOL, NULL, head,
                             sizeof head), 101);
    header(head, "Sec-WebSocket-Extensions", ext, sizeof ext);
    assert_string_equal(ext, "");
    rw_close(&c);
    /* The dashboard's /live socket stays uncompressed even when offered
    ** (small messages, and possibly HTTP/2, see server.c). */
    assert_int_equal(rw_connect(&c, s->port, s->ca, 0), 0);
    assert_int_equal(upgrade(&c, s->admin, "fieldsync.live", OFFER, head,
                             sizeof head), 101);
    header(head, "Sec-WebSocket-Extensions", ext, sizeof ext);
    assert_string_equal(ext, "");
    rw_close(&c);
}

/* Push n changes of customer records PREFIX-i, field notes, value vals[i];
** expect all accepted. */
static void push_batch(pmd_conn *p, int batch, const char *device,
                       const char *prefix, char **vals, int n, int *clock)
{
    json_t *ch = json_array();
    for (int i = 0; i < n; i++) {
        char rid[64], hlc[17];
        snprintf(rid, sizeof rid, "%s-%04d", prefix, i);
        ++*clock;
        snprintf(hlc, sizeof hlc, "%016x", 0x10000 + *clock);
        json_array_append_new(ch, json_pack("{s:s, s:s, s:s, s:s, s:{s:i},"
                                            " s:s, s:s, s:s}",
            "t", "customer", "r", rid, "f", "notes", "v", vals[i],
            "vv", device, *clock, "h", hlc, "d", device, "u", "admin"));
    }
    pmd_send_json(p, json_pack("{s:s, s:i, s:o}", "type", "push", "batch",
                               batch, "changes", ch));
    int z = 0;
    json_t *a = pmd_recv(p, &z);
    assert_non_null(a);
    assert_true(z);
    assert_string_equal(type_of(a), "ack");
    assert_int_equal(json_integer_value(json_object_get(a, "accepted")), n);
    assert_int_equal(json_array_size(json_object_get(a, "refused")), 0);
    json_decref(a);
}

static void test_raw_large_messages(void **state)
{
    th_server *s = *state;
    enum { N_PROSE = 270, PROSE_LEN = 3500, N_REP = 62, REP_LEN = 16000 };
    char *prose_v[N_PROSE], *rep_v[N_REP];
    for (int i = 0; i < N_PROSE; i++)
        prose_v[i] = prose((uint32_t)i + 1, PROSE_LEN);
    for (int i = 0; i < N_REP; i++)
        rep_v[i] = repeated(i, REP_LEN);

    pmd_conn a;
    int clock = 0;
    pmd_open(s, &a);
    pmd_hello(&a, "dev-pusher");
    /* About 1 MiB each once encoded: varied text, then near-constant. */
    push_batch(&a, 1, "dev-pusher", "p", prose_v, N_PROSE, &clock);
    push_batch(&a, 2, "dev-pusher", "q", rep_v, N_REP, &clock);
    pmd_close(&a);

    /* Another device pulls everything back, compressed by the server. */
    pmd_conn b;
    pmd_open(s, &b);
    pmd_hello(&b, "dev-puller");
    int got_p = 0, got_q = 0, more = 1, compressed = 0;
    json_int_t after = 0;
    while (more) {
        pmd_send_json(&b, json_pack("{s:s, s:I, s:i}", "type", "pull", "after",
                                    after, "limit", FDSP_MAX_BATCH));
        json_t *m = pmd_recv(&b, &compressed);
        assert_non_null(m);
        assert_true(compressed);
        assert_string_equal(type_of(m), "changes");
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(m, "changes"), i, c) {
            const char *rid = json_string_value(json_object_get(c, "r"));
            const char *v = json_string_value(json_object_get(c, "v"));
            assert_non_null(rid);
            assert_non_null(v);
            int k = atoi(rid + 2);
            if (rid[0] == 'p') {
                assert_true(k >= 0 && k < N_PROSE);
                assert_string_equal(v, prose_v[k]);
                got_p++;
            } else {
                assert_true(rid[0] == 'q' && k >= 0 && k < N_REP);
                assert_string_equal(v, rep_v[k]);
                got_q++;
            }
        }
        after = json_integer_value(json_object_get(m, "last"));
        more = json_is_true(json_object_get(m, "more"));
        json_decref(m);
    }
    assert_int_equal(got_p, N_PROSE);
    assert_int_equal(got_q, N_REP);
    pmd_close(&b);
    for (int i = 0; i < N_PROSE; i++)
        free(prose_v[i]);
    for (int i = 0; i < N_REP; i++)
        free(rep_v[i]);
}

/* Issue 17: the server frees its deflater after every message, and its
** inflater too when the device promised client_no_context_takeover.  A
** device that asks only for server_no_context_takeover and keeps its own
** deflater's context (each message refers back to the one before) must
** still be understood; one that resets both ways per message, too. */
static void test_context_takeover(void **state)
{
    th_server *s = *state;
    static const char *const offers[] = {
        "permessage-deflate; server_no_context_takeover",
        "permessage-deflate; client_max_window_bits; "
        "client_no_context_takeover; server_no_context_takeover"};
    for (int k = 0; k < 2; k++) {
        pmd_conn a;
        char ext[256], dev[32];
        pmd_open_offer(s, &a, offers[k], ext);
        assert_non_null(strstr(ext, "server_no_context_takeover"));
        snprintf(dev, sizeof dev, "dev-takeover-%d", k);
        pmd_hello(&a, dev);
        for (int round = 0; round < 4; round++) {
            if (k == 1) {       /* promised: every message on its own */
                deflateReset(&a.tx);
                inflateReset(&a.rx);
            }
            /* The same long text each round: with context takeover the
            ** deflater encodes it as a reference to the round before. */
            char *v = prose(7, 3000);
            json_t *ch = json_pack(
                "{s:s, s:s, s:s, s:s, s:{s:i}, s:s, s:s}", "t", "customer",
                "r", "takeover-cust", "f", "note", "v", v, "vv", dev,
                round + 1, "h", "0190a1b2c3d40000", "d", dev);
            free(v);
            int z = 0;
            pmd_send_json(&a, json_pack("{s:s, s:i, s:[o]}", "type", "push",
                                        "batch", round + 1, "changes", ch));
            json_t *ack = pmd_recv(&a, &z);
            assert_non_null(ack);
            assert_true(z);
            assert_string_equal(type_of(ack), "ack");
            assert_int_equal(json_integer_value(json_object_get(ack, "batch")),
                             round + 1);
            json_decref(ack);
        }
        pmd_close(&a);
    }
}

/* The product's own client (cli_sync offers permessage-deflate). */
static void test_cli_round_trip(void **state)
{
    th_server *s = *state;
    enum { N = 600 };
    char *ids[N], *notes[N];
    fds_replica *r = th_replica(s, "deflate-a");
    assert_int_equal(fds_begin(r), FDS_OK);
    for (int i = 0; i < N; i++) {
        char name[64];
        snprintf(name, sizeof name, "Deflate %04d", i);
        notes[i] = i % 5 == 4 ? repeated(i, 8000) : prose((uint32_t)i + 7, 2500);
        json_t *in = json_pack("{s:s, s:s}", "name", name, "notes", notes[i]);
        json_t *out = NULL;
        assert_int_equal(fds_customer_add(r, in, &out, NULL), FDS_OK);
        ids[i] = strdup(json_string_value(json_object_get(out, "id")));
        json_decref(in);
        json_decref(out);
    }
    assert_int_equal(fds_commit(r), FDS_OK);
    assert_int_equal(th_sync(s, r, s->admin, NULL), 0);
    int64_t left = -1;
    assert_int_equal(fds_outbox_count(r, &left), FDS_OK);
    assert_int_equal(left, 0);
    fds_replica_close(r);

    fds_replica *r2 = th_replica(s, "deflate-b");
    fds_session_stats st;
    assert_int_equal(th_sync(s, r2, s->admin, &st), 0);
    assert_true(st.pulled >= N);
    for (int i = 0; i < N; i++) {
        char *v = th_field(r2, ids[i], "notes");
        assert_string_equal(v, notes[i]);
        free(v);
        free(ids[i]);
        free(notes[i]);
    }
    fds_replica_close(r2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_negotiation, th_test_setup_started,
                                        th_test_teardown),
        cmocka_unit_test_setup_teardown(test_raw_large_messages, th_test_setup_started,
                                        th_test_teardown),
        cmocka_unit_test_setup_teardown(test_context_takeover, th_test_setup_started,
                                        th_test_teardown),
        cmocka_unit_test_setup_teardown(test_cli_round_trip, th_test_setup_started,
                                        th_test_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
