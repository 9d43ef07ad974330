/*
** test_photos.c — photo attachments end to end (issue 15), with the real
** `fieldsync` CLI, the real server over TLS and real files:
**   - a photo added offline reaches a second device of the same rep byte
**     for byte; another rep who does not see the follow-up is refused the
**     bytes (sync protocol and dashboard API);
**   - a link that cuts in the middle of a 5 MiB upload: repeated syncs
**     finish it without sending again what the server acknowledged (the
**     server's own chunk and byte counters, GET /metrics), and records
**     added while the photo is pending reach the other device;
**   - a photo over FSV_BLOB_MAX_BYTES is refused by name while its
**     follow-up syncs.
** Built twice: test_faults_photos on SQLite, and with FSV_PHOTOS_ON_PG
** test_faults_pg_photos on `serve --store postgresql://...` (the private
** cluster, tests/support/pgcluster.c): the photos' tables are the
** store's, the bytes files under --data DIR/blobs on both (issue 12).
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flib.h"
#include "http_client.h"
#include "rawws.h"
#include "sync_blobs.h"

static th_server g_s;
static char g_rep1[80], g_rep2[80];

#ifdef FSV_PHOTOS_ON_PG
#include "pgcluster.h"
static ts_pg g_pg;
#endif

static int setup(void **state)
{
    (void)state;
    memset(&g_s, 0, sizeof g_s);
#ifdef FSV_PHOTOS_ON_PG
    char db[64], url[256];
    if (ts_pg_start(&g_pg) != 0 ||
        ts_pg_create_db(&g_pg, "photos", db, sizeof db) != 0)
        return -1;
    ts_pg_url(&g_pg, db, url, sizeof url);
    th_init_store(&g_s, url);
#else
    th_init(&g_s);
#endif
    th_user(&g_s, "rep1", "rep", NULL, g_rep1);
    th_user(&g_s, "rep2", "rep", NULL, g_rep2);
    th_start(&g_s, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_cleanup(&g_s);
#ifdef FSV_PHOTOS_ON_PG
    ts_pg_stop(&g_pg);
#endif
    return 0;
}

static void path_of(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", g_s.dir, name);
}

/* A file of n pseudo-random bytes (seeded: the same file every run). */
static void make_file(const char *path, size_t n, unsigned seed)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        fputc((int)(x & 0xff), f);
    }
    assert_int_equal(fclose(f), 0);
}

static int same_file(const char *a, const char *b)
{
    char *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    FILE *f = fopen(a, "rb"), *g = fopen(b, "rb");
    int same = 0;
    if (f && g) {
        fseek(f, 0, SEEK_END);
        fseek(g, 0, SEEK_END);
        nx = (size_t)ftell(f);
        ny = (size_t)ftell(g);
        rewind(f);
        rewind(g);
        x = malloc(nx + 1);
        y = malloc(ny + 1);
        same = x && y && nx == ny && fread(x, 1, nx, f) == nx &&
               fread(y, 1, ny, g) == ny && memcmp(x, y, nx) == 0;
    }
    if (f) fclose(f);
    if (g) fclose(g);
    free(x);
    free(y);
    return same;
}

/* `fieldsync --db DB ... --json` that must exit 0: its JSON (new ref). */
#define RUNJ(db, ...) runj(db, __VA_ARGS__, "--json", NULL)
static json_t *runj(const char *db, ...)
{
    const char *argv[24];
    int n = 0;
    va_list ap;
    va_start(ap, db);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < 23)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    fl_res r;
    /* fl_run is variadic: pass up to 12 words. */
    fl_run(&r, db, NULL, 120000, argv[0], n > 1 ? argv[1] : NULL,
           n > 2 ? argv[2] : NULL, n > 3 ? argv[3] : NULL,
           n > 4 ? argv[4] : NULL, n > 5 ? argv[5] : NULL,
           n > 6 ? argv[6] : NULL, n > 7 ? argv[7] : NULL,
           n > 8 ? argv[8] : NULL, n > 9 ? argv[9] : NULL,
           n > 10 ? argv[10] : NULL, n > 11 ? argv[11] : NULL, NULL);
    if (r.code != 0)
        fail_msg("fieldsync %s: exit %d: %s", argv[0], r.code, r.err);
    json_error_t je;
    json_t *j = json_loads(r.out, 0, &je);
    if (!j)
        fail_msg("fieldsync %s: not JSON (%s): %s", argv[0], je.text, r.out);
    return j;
}

static void init_dev(const char *db, const char *url, const char *tok)
{
    json_t *j = RUNJ(db, "init", "--server", url, "--token", tok, "--ca",
                     g_s.ca);
    json_decref(j);
}

static int64_t jint(const json_t *o, const char *path1, const char *path2)
{
    const json_t *v = json_object_get(o, path1);
    if (path2)
        v = json_object_get(v, path2);
    return json_integer_value(v);
}

/* A customer and a follow-up with one photo on device db; the follow-up's
** attachment (new ref). */
static json_t *followup_with_photo(const char *db, const char *name,
                                   const char *photo)
{
    json_t *c = RUNJ(db, "customer", "add", "--name", name);
    char cid[64];
    snprintf(cid, sizeof cid, "%s", json_string_value(json_object_get(c, "id")));
    json_decref(c);
    json_t *f = RUNJ(db, "followup", "add", cid, "--method", "visit",
                     "--content", "门店拍照", "--photo", photo);
    json_t *att = json_array_get(json_object_get(f, "attachments"), 0);
    assert_non_null(att);
    assert_true(json_is_true(json_object_get(att, "have")));
    json_incref(att);
    json_decref(f);
    return att;
}

/* The value of a counter in a /metrics scrape (-1 if absent). */
static long long metric(const char *name)
{
    char out[1024], hdr[200];
    assert_int_equal(th_admin(&g_s, out, sizeof out, "token", "metrics",
                              "--json", NULL), 0);
    json_t *j = json_loads(out, 0, NULL);
    assert_non_null(j);
    snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\n",
             json_string_value(json_object_get(j, "token")));
    json_decref(j);
    ta_resp r = ta_request(g_s.port, g_s.ca, "GET", "/metrics", hdr, NULL);
    assert_int_equal(r.status, 200);
    long long v = -1;
    size_t n = strlen(name);
    for (const char *p = r.body; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, name, n) == 0 && p[n] == ' ')
            v = atoll(p + n + 1);
    ta_resp_free(&r);
    return v;
}

/* ---- 1. offline photo -> second device; another rep refused --------------------- */

static void test_photo_reaches_second_device(void **state)
{
    (void)state;
    char a[400], b[400], c[400], photo[400], out[400];
    path_of(a, sizeof a, "a1.db");
    path_of(b, sizeof b, "b1.db");
    path_of(c, sizeof c, "c1.db");
    path_of(photo, sizeof photo, "shopfront.jpg");
    path_of(out, sizeof out, "fetched.jpg");
    make_file(photo, 300 * 1024, 1);
    /* Device A: set up, then offline: a follow-up with a photo. */
    init_dev(a, g_s.url, g_rep1);
    json_t *att = followup_with_photo(a, "张伟", photo);
    char id[64], sha[65];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(att, "id")));
    snprintf(sha, sizeof sha, "%s", json_string_value(json_object_get(att, "sha256")));
    assert_int_equal(jint(att, "size", NULL), 300 * 1024);
    json_decref(att);
    json_t *s = RUNJ(a, "sync");
    assert_int_equal(jint(s, "photos", "uploaded"), 1);
    assert_int_equal(jint(s, "photos", "bytes_up"), 300 * 1024);
    json_decref(s);
    /* Device B of the same rep: the record first (init syncs records),
    ** then the bytes. */
    init_dev(b, g_s.url, g_rep1);
    s = RUNJ(b, "sync");
    assert_int_equal(jint(s, "photos", "downloaded"), 1);
    json_decref(s);
    json_t *g = RUNJ(b, "attachment", "get", id, "--out", out);
    assert_true(json_is_true(json_object_get(g, "have")));
    json_decref(g);
    assert_true(same_file(photo, out));
    /* Another rep who does not see the customer: the sync protocol
    ** refuses the bytes by name... */
    init_dev(c, g_s.url, g_rep2);
    rw_conn rc;
    assert_int_equal(rw_connect(&rc, g_s.port, g_s.ca, 0), 0);
    assert_int_equal(rw_upgrade(&rc, g_rep2, FDSP_SUBPROTOCOL), 101);
    assert_int_equal(rw_send(&rc, "{\"type\":\"hello\",\"v\":1,\"device\":"
                                  "\"intruder\",\"cursor\":0,\"blobs\":true}"), 0);
    char *buf = NULL;
    size_t len = 0;
    assert_int_equal(rw_recv(&rc, &buf, &len), 1);
    assert_non_null(strstr(buf, "\"welcome\""));
    assert_non_null(strstr(buf, "\"blobs\":true"));
    free(buf);
    char get[200];
    snprintf(get, sizeof get, "{\"type\":\"blob_get\",\"sha\":\"%s\",\"offset\":0}", sha);
    assert_int_equal(rw_send(&rc, get), 0);
    for (;;) {          /* skip notify and the like */
        assert_int_equal(rw_recv(&rc, &buf, &len), 1);
        if (strstr(buf, "\"blob_data\""))
            break;
        free(buf);
    }
    fdsp_msg *m = NULL;
    char err[256];
    assert_int_equal(fdsp_decode(buf, len, &m, err, sizeof err), FDSP_OK);
    assert_int_equal(m->code, FDSP_E_FORBIDDEN);
    assert_int_equal(m->n_data, 0);
    fdsp_msg_free(m);
    free(buf);
    rw_close(&rc);
    /* ...and so does the dashboard API (the same 404 as no photo), while
    ** the rep who sees it gets the bytes. */
    char path[120], hdr[200];
    snprintf(path, sizeof path, "/api/blobs/%s", sha);
    snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\n", g_rep2);
    ta_resp r = ta_request(g_s.port, g_s.ca, "GET", path, hdr, NULL);
    assert_int_equal(r.status, 404);
    ta_resp_free(&r);
    snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\n", g_rep1);
    r = ta_request(g_s.port, g_s.ca, "GET", path, hdr, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, 300 * 1024);
    char *want = fl_slurp(photo);
    assert_memory_equal(r.body, want, 300 * 1024);
    free(want);
    ta_resp_free(&r);
    /* C's replica never got the follow-up at all. */
    json_t *list = RUNJ(c, "customer", "list");
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);
}

/* ---- 2. a cut mid-upload resumes; records are not held back ---------------------- */

static void test_cut_resumes_and_records_pass(void **state)
{
    (void)state;
    char a[400], b[400], photo[400], out[400], url[64];
    path_of(a, sizeof a, "a2.db");
    path_of(b, sizeof b, "b2.db");
    path_of(photo, sizeof photo, "contract.jpg");
    path_of(out, sizeof out, "contract-b.jpg");
    const size_t size = 5 * 1024 * 1024;        /* 80 chunks of 64 KiB */
    make_file(photo, size, 2);
    long long chunks0 = metric("fieldsync_blob_chunks_received_total");
    long long bytes0 = metric("fieldsync_blob_bytes_received_total");
    pid_t ppid;
    /* 3 MB a connection: the 5 MiB (about 7 MB of base64) needs three. */
    int pport = fl_proxy(&g_s, &ppid, "--mode", "cut", "--cut", "3000000",
                         "--max-secs", "200", NULL);
    snprintf(url, sizeof url, "wss://127.0.0.1:%d", pport);
    init_dev(a, url, g_rep1);
    json_t *att = followup_with_photo(a, "李娜", photo);
    char id[64];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(att, "id")));
    json_decref(att);
    init_dev(b, g_s.url, g_rep1);
    int runs = 0, cut = 0, done = 0, later = 0;
    while (!done && runs < 10) {
        fl_res r;
        fl_run(&r, a, NULL, 120000, "sync", "--json", NULL);
        runs++;
        if (r.code != 0) {
            cut++;
            if (!later) {
                /* While the photo is pending: a new record on A. */
                json_t *c = RUNJ(a, "customer", "add", "--name", "后来的客户");
                json_decref(c);
                later = 1;
            }
            continue;
        }
        json_t *j = json_loads(r.out, 0, NULL);
        assert_non_null(j);
        done = jint(j, "photos", "uploaded") == 1 ||
               jint(j, "photos", "refused") > 0;
        assert_int_equal(jint(j, "photos", "refused"), 0);
        json_decref(j);
    }
    assert_true(done);
    assert_true(cut >= 1);          /* the link did cut the upload */
    assert_true(later);
    /* The server wrote each chunk once: nothing acknowledged came again
    ** (a chunk cut half-way was never written, so it does not count). */
    assert_int_equal(metric("fieldsync_blob_chunks_received_total") - chunks0, 80);
    assert_int_equal(metric("fieldsync_blob_bytes_received_total") - bytes0,
                     (long long)size);
    /* The other device: the record added after the pending photo, with
    ** records only (--no-blobs), then the photo byte for byte. */
    json_t *s = RUNJ(b, "sync", "--no-blobs");
    assert_null(json_object_get(s, "photos"));
    json_decref(s);
    json_t *list = RUNJ(b, "customer", "list", "--search", "后来的客户");
    assert_int_equal(json_array_size(list), 1);
    json_decref(list);
    json_t *g = RUNJ(b, "attachment", "get", id, "--out", out);
    assert_true(json_is_true(json_object_get(g, "fetched")));
    json_decref(g);
    assert_true(same_file(photo, out));
}

/* ---- 3. over the limit: refused by name, the follow-up syncs -------------------- */

static void test_over_limit_refused_by_name(void **state)
{
    (void)state;
    char a[400], b[400], photo[400];
    path_of(a, sizeof a, "a3.db");
    path_of(b, sizeof b, "b3.db");
    path_of(photo, sizeof photo, "huge.jpg");
    make_file(photo, (size_t)FSV_BLOB_MAX_BYTES + 1, 3);
    init_dev(a, g_s.url, g_rep1);
    json_t *att = followup_with_photo(a, "王芳", photo);
    char id[64];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(att, "id")));
    json_decref(att);
    long long bytes0 = metric("fieldsync_blob_bytes_received_total");
    json_t *s = RUNJ(a, "sync");
    assert_int_equal(jint(s, "photos", "refused"), 1);
    assert_int_equal(jint(s, "photos", "uploaded"), 0);
    assert_int_equal(jint(s, "photos", "bytes_up"), 0);    /* refused up front */
    const char *note = json_string_value(
        json_array_get(json_object_get(json_object_get(s, "photos"), "notes"), 0));
    assert_non_null(note);
    assert_non_null(strstr(note, "huge.jpg"));
    assert_non_null(strstr(note, "FSV_BLOB_MAX_BYTES"));
    json_decref(s);
    assert_int_equal(metric("fieldsync_blob_bytes_received_total"), bytes0);
    /* The follow-up itself reached the other device. */
    init_dev(b, g_s.url, g_rep1);
    json_t *list = RUNJ(b, "customer", "list", "--search", "王芳");
    assert_int_equal(json_array_size(list), 1);
    char cid[64];
    snprintf(cid, sizeof cid, "%s",
             json_string_value(json_object_get(json_array_get(list, 0), "id")));
    json_decref(list);
    json_t *sheet = RUNJ(b, "customer", "show", cid);
    json_t *fa = json_array_get(json_object_get(
        json_array_get(json_object_get(sheet, "followups"), 0), "attachments"), 0);
    assert_string_equal(json_string_value(json_object_get(fa, "name")), "huge.jpg");
    assert_true(json_is_false(json_object_get(fa, "have")));
    json_decref(sheet);
    /* Asked for, it is refused: not on the server (exit 1, named). */
    fl_res r;
    char out[400];
    path_of(out, sizeof out, "huge-b.jpg");
    fl_run(&r, b, NULL, 60000, "attachment", "get", id, "--out", out, NULL);
    assert_int_equal(r.code, 1);
    assert_non_null(strstr(r.err, "huge.jpg"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_photo_reaches_second_device),
        cmocka_unit_test(test_cut_resumes_and_records_pass),
        cmocka_unit_test(test_over_limit_refused_by_name),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
