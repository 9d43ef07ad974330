/*
** test_blobx.c — the session's blob transfer (core/src/blobx.c, PROTOCOL.md
** §11) sans I/O, against an in-test server and in-memory blob stores:
** upload and "known on the server" after, download verified by SHA-256
** (a corrupted byte is dropped, not kept), an upload cut after some chunks
** resumed at the server's length without resending, records before
** chunks, an old server (no "blobs" in its welcome) moving nothing, and
** the attachments register (ids, limits, photos added and removed).
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "internal.h"
#include "testenv.h"

/* ---- In-memory blob stores -------------------------------------------------- */

typedef struct mblob {
    char sha[65];
    unsigned char *p;
    size_t n;
    int whole;
} mblob;

typedef struct mstore {
    mblob b[8];
    int n;
    int finished_bad;       /* finish(ok = 0) calls */
} mstore;

static mblob *find(mstore *m, const char *sha, int make)
{
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->b[i].sha, sha) == 0)
            return &m->b[i];
    if (!make)
        return NULL;
    mblob *b = &m->b[m->n++];
    memset(b, 0, sizeof *b);
    snprintf(b->sha, sizeof b->sha, "%s", sha);
    return b;
}

static void put_whole(mstore *m, const char *sha, const unsigned char *p,
                      size_t n)
{
    mblob *b = find(m, sha, 1);
    b->p = malloc(n);
    memcpy(b->p, p, n);
    b->n = n;
    b->whole = 1;
}

static void mstore_free(mstore *m)
{
    for (int i = 0; i < m->n; i++)
        free(m->b[i].p);
    memset(m, 0, sizeof *m);
}

static int64_t io_held(void *ctx, const char *sha, int *complete)
{
    mblob *b = find(ctx, sha, 0);
    *complete = b && b->whole;
    return b ? (int64_t)b->n : 0;
}

static long io_read(void *ctx, const char *sha, int partial, int64_t off,
                    unsigned char *buf, size_t n)
{
    mblob *b = find(ctx, sha, 0);
    if (!b || b->whole == partial || (size_t)off + n > b->n)
        return -1;
    memcpy(buf, b->p + off, n);
    return (long)n;
}

static int io_append(void *ctx, const char *sha, int64_t off,
                     const unsigned char *p, size_t n)
{
    mblob *b = find(ctx, sha, 1);
    assert_false(b->whole);
    assert_int_equal((size_t)off, b->n);
    b->p = realloc(b->p, b->n + n);
    memcpy(b->p + b->n, p, n);
    b->n += n;
    return 0;
}

static int io_finish(void *ctx, const char *sha, int ok)
{
    mstore *m = ctx;
    mblob *b = find(m, sha, 0);
    assert_non_null(b);
    if (ok) {
        b->whole = 1;
    } else {
        m->finished_bad++;
        free(b->p);
        b->p = NULL;
        b->n = 0;
    }
    return 0;
}

static fds_blob_io io_of(mstore *m)
{
    fds_blob_io io = {m, io_held, io_read, io_append, io_finish};
    return io;
}

/* ---- The in-test server ------------------------------------------------------- */

typedef struct srv {
    mstore blobs;           /* whole ones and partial uploads */
    int blobs_on;           /* welcome says "blobs" */
    int corrupt;            /* flip a byte of the next blob_data */
    int64_t chunks_in, bytes_in;
    char *out[64];
    size_t out_len[64];
    int n_out;
    char order[64][12];     /* types the device sent, in order */
    int n_order;
    int keep;               /* a pause, not a cut: replies stay queued */
} srv;

static void send_m(srv *s, const fdsp_msg *m)
{
    char *buf;
    size_t len;
    assert_int_equal(fdsp_encode(m, &buf, &len), FDSP_OK);
    assert_true(s->n_out < 64);
    s->out[s->n_out] = buf;
    s->out_len[s->n_out++] = len;
}

static void sha_hex(const unsigned char *p, size_t n, char hex[65])
{
    fdsp_sha256 c;
    unsigned char d[32];
    fdsp_sha256_init(&c);
    fdsp_sha256_update(&c, p, n);
    fdsp_sha256_final(&c, d);
    fdsp_sha256_hex(d, hex);
}

static void handle(srv *s, const char *buf, size_t len)
{
    fdsp_msg *in = NULL;
    assert_int_equal(fdsp_decode(buf, len, &in, NULL, 0), FDSP_OK);
    if (s->n_order < 64)
        snprintf(s->order[s->n_order++], 12, "%s", fdsp_typename(in->type));
    fdsp_msg m;
    memset(&m, 0, sizeof m);
    switch (in->type) {
    case FDSP_HELLO:
        m.type = FDSP_WELCOME;
        m.version = FDSP_VERSION;
        m.user = "rep1";
        m.role = "rep";
        m.device = in->device;
        m.blobs = s->blobs_on && in->blobs;
        send_m(s, &m);
        break;
    case FDSP_PUSH:
        m.type = FDSP_ACK;
        m.batch = in->batch;
        m.accepted = in->n_changes;
        send_m(s, &m);
        break;
    case FDSP_PULL:
        m.type = FDSP_CHANGES;
        m.last = 0;
        send_m(s, &m);
        break;
    case FDSP_BLOB_PUT: {
        mblob *b = find(&s->blobs, in->sha, 1);
        m.type = FDSP_BLOB_ACK;
        m.sha = in->sha;
        if (!b->whole && in->n_data > 0 && (size_t)in->offset == b->n) {
            b->p = realloc(b->p, b->n + in->n_data);
            memcpy(b->p + b->n, in->data, in->n_data);
            b->n += in->n_data;
            s->chunks_in++;
            s->bytes_in += (int64_t)in->n_data;
            if ((int64_t)b->n == in->size) {
                char hex[65];
                sha_hex(b->p, b->n, hex);
                assert_string_equal(hex, in->sha);
                b->whole = 1;
            }
        }
        m.offset = (int64_t)b->n;
        send_m(s, &m);
        break;
    }
    case FDSP_BLOB_GET: {
        mblob *b = find(&s->blobs, in->sha, 0);
        m.type = FDSP_BLOB_DATA;
        m.sha = in->sha;
        if (!b || !b->whole) {
            m.code = FDSP_E_STATE;
            m.message = "not uploaded yet";
        } else {
            size_t k = b->n - (size_t)in->offset;
            if (k > FDSP_BLOB_CHUNK)
                k = FDSP_BLOB_CHUNK;
            m.size = (int64_t)b->n;
            m.offset = in->offset;
            m.data = malloc(k ? k : 1);
            memcpy(m.data, b->p + in->offset, k);
            m.n_data = k;
            if (s->corrupt && k > 0) {
                m.data[0] ^= 1;
                s->corrupt = 0;
            }
        }
        send_m(s, &m);
        free(m.data);
        break;
    }
    default:
        fail_msg("server got %s", fdsp_typename(in->type));
    }
    fdsp_msg_free(in);
}

/* Exchange until quiet; stop after max_replies fed (a cut) when >= 0. */
static void pump(fds_session *ss, srv *s, int max_replies)
{
    int fed = 0;
    for (int round = 0; round < 100000; round++) {
        char *buf;
        size_t len;
        int sent = 0;
        while (fds_session_next(ss, &buf, &len) == FDS_OK) {
            handle(s, buf, len);
            free(buf);
            sent = 1;
        }
        if (s->n_out == 0 && !sent)
            return;
        while (s->n_out > 0) {
            if (max_replies >= 0 && fed >= max_replies) {
                if (s->keep)
                    return;
                for (int i = 0; i < s->n_out; i++)
                    free(s->out[i]);
                s->n_out = 0;
                return;
            }
            char *r = s->out[0];
            size_t rl = s->out_len[0];
            memmove(&s->out[0], &s->out[1], (size_t)(s->n_out - 1) * sizeof s->out[0]);
            memmove(&s->out_len[0], &s->out_len[1], (size_t)(s->n_out - 1) * sizeof s->out_len[0]);
            s->n_out--;
            assert_int_equal(fds_session_feed(ss, r, rl), FDS_OK);
            free(r);
            fed++;
        }
    }
    fail_msg("session did not settle");
}

static fds_blob_stats sync_blobs(fds_replica *r, srv *s, mstore *dev,
                                 int max_replies)
{
    fds_session *ss = NULL;
    fds_blob_io io = io_of(dev);
    assert_int_equal(fds_session_new(r, &ss), FDS_OK);
    assert_int_equal(fds_session_set_blobs(ss, &io, FDS_BLOBS_UP | FDS_BLOBS_DOWN,
                                           NULL), FDS_OK);
    s->n_order = 0;
    pump(ss, s, max_replies);
    if (max_replies < 0)
        assert_int_equal(fds_session_state(ss), FDS_SESSION_IDLE);
    fds_blob_stats st;
    fds_session_blob_stats(ss, &st);
    fds_session_free(ss);
    return st;
}

/* A customer with a follow-up naming n bytes (made here) as a photo. */
static unsigned char *photo_followup(fds_replica *r, mstore *dev, size_t n,
                                     int have, char sha[65], char fid[64])
{
    unsigned char *p = malloc(n);
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(i * 31 + i / 977);
    sha_hex(p, n, sha);
    if (have)
        put_whole(dev, sha, p, n);
    json_t *c = NULL, *f = NULL;
    json_t *cin = json_pack("{s:s}", "name", "张伟");
    assert_int_equal(fds_customer_add(r, cin, &c, NULL), FDS_OK);
    json_t *fin = json_pack("{s:s,s:s,s:[{s:s,s:s,s:I,s:s}]}", "method",
                            "visit", "content", "门店", "attachments", "name",
                            "shop.jpg", "type", "image/jpeg", "size",
                            (json_int_t)n, "sha256", sha);
    assert_int_equal(fds_followup_add(r, json_string_value(json_object_get(c, "id")),
                                      fin, &f), FDS_OK);
    snprintf(fid, 64, "%s", json_string_value(json_object_get(f, "id")));
    json_decref(cin);
    json_decref(fin);
    json_decref(c);
    json_decref(f);
    return p;
}

/* As sync_blobs, with the device's setting (pol) and only (may be NULL). */
static fds_blob_stats sync_pol(fds_replica *r, srv *s, mstore *dev,
                               const fds_blob_policy *pol, const char *only)
{
    fds_session *ss = NULL;
    fds_blob_io io = io_of(dev);
    assert_int_equal(fds_session_new(r, &ss), FDS_OK);
    assert_int_equal(fds_session_set_blobs(ss, &io, FDS_BLOBS_UP | FDS_BLOBS_DOWN,
                                           only), FDS_OK);
    assert_int_equal(fds_session_set_blob_policy(ss, pol), FDS_OK);
    pump(ss, s, -1);
    assert_int_equal(fds_session_state(ss), FDS_SESSION_IDLE);
    fds_blob_stats st;
    fds_session_blob_stats(ss, &st);
    fds_session_free(ss);
    return st;
}

/* ---- Tests --------------------------------------------------------------------- */

/* The decision is a pure function of the setting, the bytes used today,
** the photo's size and what of it is already here. */
static void test_prefetch_decision(void **state)
{
    (void)state;
    fds_blob_policy none = {0, -1, 0}, manual = {1, -1, 0};
    fds_blob_policy budget = {0, 1000, 0};
    assert_true(fds_blob_prefetch_ok(NULL, 0, 1 << 20, 0));
    assert_true(fds_blob_prefetch_ok(&none, 1LL << 40, 1 << 20, 0));
    assert_false(fds_blob_prefetch_ok(&manual, 0, 1, 0));
    assert_false(fds_blob_prefetch_ok(&manual, 0, 0, 0));
    assert_true(fds_blob_prefetch_ok(&budget, 0, 1000, 0));      /* exactly */
    assert_false(fds_blob_prefetch_ok(&budget, 0, 1001, 0));
    assert_true(fds_blob_prefetch_ok(&budget, 600, 400, 0));
    assert_false(fds_blob_prefetch_ok(&budget, 601, 400, 0));
    /* a resumed download costs only the rest */
    assert_true(fds_blob_prefetch_ok(&budget, 600, 900, 500));
    assert_false(fds_blob_prefetch_ok(&budget, 600, 900, 499));
    /* over budget already (an `attachment get` spent it): nothing */
    assert_false(fds_blob_prefetch_ok(&budget, 1500, 0, 0) &&
                 fds_blob_prefetch_ok(&budget, 1500, 1, 0));
    fds_blob_policy zero = {0, 0, 0};
    assert_false(fds_blob_prefetch_ok(&zero, 0, 1, 0));
}

/* A photo whose record came before its bytes reached the server: told
** once, counted as waiting, asked again by fds_session_blobs_again in the
** same (watch) session, and fetched once the server has it. */
static void test_not_yet_then_again(void **state)
{
    (void)state;
    test_env tb;
    test_env_init(&tb, 1700000000000, 31);
    fds_replica *b = test_open(&tb);
    srv s;
    memset(&s, 0, sizeof s);
    s.blobs_on = 1;
    mstore db;
    memset(&db, 0, sizeof db);
    char sha[65], fid[64];
    size_t n = FDSP_BLOB_CHUNK + 10;
    unsigned char *p = photo_followup(b, &db, n, 0, sha, fid);
    fds_session *ss = NULL;
    fds_blob_io io = io_of(&db);
    assert_int_equal(fds_session_new(b, &ss), FDS_OK);
    assert_int_equal(fds_session_set_blobs(ss, &io, FDS_BLOBS_UP | FDS_BLOBS_DOWN,
                                           NULL), FDS_OK);
    pump(ss, &s, -1);
    fds_blob_stats st;
    fds_session_blob_stats(ss, &st);
    assert_int_equal(st.waiting, 1);
    assert_int_equal(st.refused, 1);
    assert_int_equal(json_array_size(fds_session_notes(ss)), 1);
    /* Asked again while still missing there: no second note. */
    fds_session_blobs_again(ss);
    pump(ss, &s, -1);
    fds_session_blob_stats(ss, &st);
    assert_int_equal(st.waiting, 1);
    assert_int_equal(st.refused, 1);
    assert_int_equal(json_array_size(fds_session_notes(ss)), 1);
    /* The bytes reach the server: the next ask fetches them. */
    put_whole(&s.blobs, sha, p, n);
    fds_session_blobs_again(ss);
    pump(ss, &s, -1);
    assert_int_equal(fds_session_state(ss), FDS_SESSION_IDLE);
    fds_session_blob_stats(ss, &st);
    assert_int_equal(st.waiting, 0);
    assert_int_equal(st.downloaded, 1);
    assert_true(find(&db, sha, 0)->whole);
    fds_session_free(ss);
    free(p);
    mstore_free(&db);
    mstore_free(&s.blobs);
    fds_replica_close(b);
}

/* The setting in a session: photos that fit the day's budget are fetched
** ahead of time, the rest held back (counted); manual fetches none; an
** open (only) is not limited; and uploads never wait for it. */
static void test_policy_in_session(void **state)
{
    (void)state;
    test_env ta, tb;
    test_env_init(&ta, 1700000000000, 21);
    test_env_init(&tb, 1700000000000, 22);
    fds_replica *a = test_open(&ta), *b = test_open(&tb);
    srv s;
    memset(&s, 0, sizeof s);
    s.blobs_on = 1;
    mstore da, db;
    memset(&da, 0, sizeof da);
    memset(&db, 0, sizeof db);
    size_t n1 = 2 * FDSP_BLOB_CHUNK, n2 = 3 * FDSP_BLOB_CHUNK;
    char sha1[65], sha2[65], fid[64];
    /* A, on manual with a zero budget, still sends its own photos. */
    fds_blob_policy amanual = {1, 0, 0};
    free(photo_followup(a, &da, n1, 1, sha1, fid));
    free(photo_followup(a, &da, n2, 1, sha2, fid));
    fds_blob_stats st = sync_pol(a, &s, &da, &amanual, NULL);
    assert_int_equal(st.uploaded, 2);
    assert_int_equal(st.held_back, 0);
    /* B names both without bytes. */
    free(photo_followup(b, &db, n1, 0, sha1, fid));
    free(photo_followup(b, &db, n2, 0, sha2, fid));
    fds_blob_policy bmanual = {1, -1, 0};
    st = sync_pol(b, &s, &db, &bmanual, NULL);
    assert_int_equal(st.downloaded, 0);
    assert_int_equal(st.held_back, 2);
    assert_int_equal(st.bytes_down, 0);
    /* A budget with room for the first only (used today counts). */
    fds_blob_policy bud = {0, (int64_t)(n1 + 100), 100};
    st = sync_pol(b, &s, &db, &bud, NULL);
    assert_int_equal(st.downloaded, 1);
    assert_int_equal(st.held_back, 1);
    assert_int_equal(st.bytes_down, (int64_t)n1);
    assert_non_null(find(&db, sha1, 0));
    assert_null(find(&db, sha2, 0));
    /* Opened: fetched whatever the setting. */
    st = sync_pol(b, &s, &db, &bmanual, sha2);
    assert_int_equal(st.downloaded, 1);
    assert_int_equal(st.held_back, 0);
    assert_true(find(&db, sha2, 0)->whole);
    mstore_free(&da);
    mstore_free(&db);
    mstore_free(&s.blobs);
    fds_replica_close(a);
    fds_replica_close(b);
}

static void test_upload_then_download_verified(void **state)
{
    (void)state;
    test_env ta, tb;
    test_env_init(&ta, 1700000000000, 11);
    test_env_init(&tb, 1700000000000, 12);
    fds_replica *a = test_open(&ta), *b = test_open(&tb);
    srv s;
    memset(&s, 0, sizeof s);
    s.blobs_on = 1;
    mstore da, db;
    memset(&da, 0, sizeof da);
    memset(&db, 0, sizeof db);
    char sha[65], fid[64];
    size_t n = 3 * FDSP_BLOB_CHUNK + 1000;
    unsigned char *p = photo_followup(a, &da, n, 1, sha, fid);
    fds_blob_stats st = sync_blobs(a, &s, &da, -1);
    assert_int_equal(st.uploaded, 1);
    assert_int_equal(st.chunks_up, 4);
    assert_int_equal(st.bytes_up, (int64_t)n);
    /* Records go first: the push precedes the first blob_put. */
    int push_at = -1, put_at = -1;
    for (int i = 0; i < s.n_order; i++) {
        if (push_at < 0 && strcmp(s.order[i], "push") == 0) push_at = i;
        if (put_at < 0 && strcmp(s.order[i], "blob_put") == 0) put_at = i;
    }
    assert_true(push_at >= 0 && put_at > push_at);
    /* Known to be on the server: the next sync sends no probe. */
    st = sync_blobs(a, &s, &da, -1);
    assert_int_equal(st.uploaded, 0);
    for (int i = 0; i < s.n_order; i++)
        assert_string_not_equal(s.order[i], "blob_put");
    /* B names the same photo without its bytes: a corrupted chunk fails
    ** the hash and is dropped; the next sync fetches it whole. */
    char sha2[65], fid2[64];
    free(photo_followup(b, &db, n, 0, sha2, fid2));
    assert_string_equal(sha, sha2);
    s.corrupt = 1;
    st = sync_blobs(b, &s, &db, -1);
    assert_int_equal(st.downloaded, 0);
    assert_int_equal(st.failed, 1);
    assert_int_equal(db.finished_bad, 1);
    st = sync_blobs(b, &s, &db, -1);
    assert_int_equal(st.downloaded, 1);
    mblob *got = find(&db, sha, 0);
    assert_non_null(got);
    assert_true(got->whole);
    assert_int_equal(got->n, n);
    assert_memory_equal(got->p, p, n);
    free(p);
    mstore_free(&da);
    mstore_free(&db);
    mstore_free(&s.blobs);
    fds_replica_close(a);
    fds_replica_close(b);
}

static void test_cut_upload_resumes(void **state)
{
    (void)state;
    test_env t;
    test_env_init(&t, 1700000000000, 21);
    fds_replica *a = test_open(&t);
    srv s;
    memset(&s, 0, sizeof s);
    s.blobs_on = 1;
    mstore da;
    memset(&da, 0, sizeof da);
    char sha[65], fid[64];
    size_t n = 10 * FDSP_BLOB_CHUNK;
    free(photo_followup(a, &da, n, 1, sha, fid));
    /* Cut after a few replies (welcome, ack, changes, probe's ack, chunk
    ** acks): some chunks are in, their acks partly lost. */
    fds_blob_stats st = sync_blobs(a, &s, &da, 7);
    assert_int_equal(st.uploaded, 0);
    int64_t in_before = s.bytes_in;
    assert_true(in_before > 0 && in_before < (int64_t)n);
    st = sync_blobs(a, &s, &da, -1);
    assert_int_equal(st.uploaded, 1);
    /* The second session sent exactly what the server lacked. */
    assert_int_equal(st.bytes_up, (int64_t)n - in_before);
    assert_int_equal(s.bytes_in, (int64_t)n);
    assert_int_equal(s.chunks_in, 10);
    mstore_free(&da);
    mstore_free(&s.blobs);
    fds_replica_close(a);
}

static void test_local_change_goes_before_chunks(void **state)
{
    (void)state;
    test_env t;
    test_env_init(&t, 1700000000000, 31);
    fds_replica *a = test_open(&t);
    srv s;
    memset(&s, 0, sizeof s);
    s.blobs_on = 1;
    mstore da;
    memset(&da, 0, sizeof da);
    char sha[65], fid[64];
    free(photo_followup(a, &da, 6 * FDSP_BLOB_CHUNK, 1, sha, fid));
    fds_session *ss = NULL;
    fds_blob_io io = io_of(&da);
    assert_int_equal(fds_session_new(a, &ss), FDS_OK);
    assert_int_equal(fds_session_set_blobs(ss, &io, FDS_BLOBS_UP, NULL), FDS_OK);
    s.keep = 1;
    pump(ss, &s, 6);            /* records done, the upload under way */
    s.keep = 0;
    assert_true(s.bytes_in > 0);
    /* A new record while chunks are moving: it goes out before the next
    ** chunk. */
    json_t *c = NULL, *cin = json_pack("{s:s}", "name", "后来");
    assert_int_equal(fds_customer_add(a, cin, &c, NULL), FDS_OK);
    json_decref(cin);
    json_decref(c);
    fds_session_local_changed(ss);
    s.n_order = 0;
    pump(ss, &s, -1);
    assert_true(s.n_order > 1);
    assert_string_equal(s.order[0], "push");
    fds_blob_stats st;
    fds_session_blob_stats(ss, &st);
    assert_int_equal(st.uploaded, 1);
    fds_session_free(ss);
    mstore_free(&da);
    mstore_free(&s.blobs);
    fds_replica_close(a);
}

static void test_old_server_moves_nothing(void **state)
{
    (void)state;
    test_env t;
    test_env_init(&t, 1700000000000, 41);
    fds_replica *a = test_open(&t);
    srv s;
    memset(&s, 0, sizeof s);
    s.blobs_on = 0;
    mstore da;
    memset(&da, 0, sizeof da);
    char sha[65], fid[64];
    free(photo_followup(a, &da, 1000, 1, sha, fid));
    fds_blob_stats st = sync_blobs(a, &s, &da, -1);
    assert_int_equal(st.uploaded + st.refused + st.chunks_up, 0);
    for (int i = 0; i < s.n_order; i++)
        assert_string_not_equal(s.order[i], "blob_put");
    mstore_free(&da);
    mstore_free(&s.blobs);
    fds_replica_close(a);
}

static void test_attachments_register(void **state)
{
    (void)state;
    test_env t;
    test_env_init(&t, 1700000000000, 51);
    fds_replica *a = test_open(&t);
    mstore da;
    memset(&da, 0, sizeof da);
    char sha[65], fid[64];
    free(photo_followup(a, &da, 1000, 1, sha, fid));
    json_t *all = NULL;
    assert_int_equal(fds_attachments_list(a, &all), FDS_OK);
    assert_int_equal(json_array_size(all), 1);
    const char *aid = json_string_value(json_object_get(json_array_get(all, 0), "id"));
    assert_int_equal(strlen(aid), 36);
    char prefix[9];
    snprintf(prefix, sizeof prefix, "%.8s", aid);
    json_t *one = NULL;
    assert_int_equal(fds_attachment_get(a, prefix, &one), FDS_OK);
    assert_string_equal(json_string_value(json_object_get(one, "sha256")), sha);
    assert_string_equal(json_string_value(json_object_get(one, "followup")), fid);
    json_decref(one);
    assert_int_equal(fds_attachment_get(a, "zzzz", &one), FDS_NOTFOUND);
    /* Add a second photo, drop the first: one change each in history. */
    json_t *add = json_pack("[{s:s,s:I,s:s}]", "name", "b.png", "size",
                            (json_int_t)5, "sha256",
                            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
    json_t *o = NULL;
    assert_int_equal(fds_followup_photos(a, fid, add, NULL, 0, &o), FDS_OK);
    assert_int_equal(json_array_size(json_object_get(o, "attachments")), 2);
    json_decref(o);
    const char *drop[] = {prefix};
    assert_int_equal(fds_followup_photos(a, fid, NULL, drop, 1, &o), FDS_OK);
    json_t *left = json_object_get(o, "attachments");
    assert_int_equal(json_array_size(left), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(left, 0), "name")),
                        "b.png");
    assert_true(json_is_false(json_object_get(json_array_get(left, 0), "have")));
    json_decref(o);
    /* Dropping it again: not found, nothing written. */
    assert_int_equal(fds_followup_photos(a, fid, NULL, drop, 1, NULL), FDS_NOTFOUND);
    /* Bad entries and too many are refused. */
    json_t *bad = json_pack("[{s:s,s:I,s:s}]", "name", "x", "size", (json_int_t)1,
                            "sha256", "ABC");
    assert_int_equal(fds_followup_photos(a, fid, bad, NULL, 0, NULL), FDS_INVALID);
    json_decref(bad);
    json_t *many = json_array();
    for (int i = 0; i < FDS_MAX_ATTACHMENTS; i++)
        json_array_append_new(many, json_pack("{s:s,s:I,s:s}", "name", "p.jpg",
                              "size", (json_int_t)1, "sha256", sha));
    assert_int_equal(fds_followup_photos(a, fid, many, NULL, 0, NULL), FDS_TOOBIG);
    json_decref(many);
    json_decref(add);
    json_decref(all);
    mstore_free(&da);
    fds_replica_close(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_upload_then_download_verified),
        cmocka_unit_test(test_cut_upload_resumes),
        cmocka_unit_test(test_local_change_goes_before_chunks),
        cmocka_unit_test(test_old_server_moves_nothing),
        cmocka_unit_test(test_attachments_register),
        cmocka_unit_test(test_prefetch_decision),
        cmocka_unit_test(test_policy_in_session),
        cmocka_unit_test(test_not_yet_then_again),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
