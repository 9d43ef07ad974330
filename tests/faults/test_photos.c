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
**     follow-up syncs; so are a follow-up's photos over
**     FSV_BLOB_MAX_FOLLOWUP and a rep's over FSV_BLOB_MAX_DAY;
**   - the device's setting (`fieldsync photos`): a daily budget fetches
**     what fits ahead of time (init too), manual fetches nothing until
**     opened, own photos are sent regardless;
**   - `sync --watch` fetches photos named by live changes and sends the
**     photos added while it runs.
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
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sqlite3.h>

#include "flib.h"
#include "http_client.h"
#include "rawws.h"
#include "sync_blobs.h"

static th_server g_s;
static char g_rep1[80], g_rep2[80], g_rep3[80], g_rep4[80], g_rep5[80];

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
    /* each later test its own rep: no photos of the others' in its sync */
    th_user(&g_s, "rep3", "rep", NULL, g_rep3);
    th_user(&g_s, "rep4", "rep", NULL, g_rep4);
    th_user(&g_s, "rep5", "rep", NULL, g_rep5);
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
    const char *argv[24] = {NULL};
    int n = 0;
    va_list ap;
    va_start(ap, db);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < 23)
        argv[n++] = a;
    assert_true(n <= 20);
    va_end(ap);
    argv[n] = NULL;
    fl_res r;
    /* fl_run is variadic: pass up to 20 words (the rest are NULL). */
    fl_run(&r, db, NULL, 120000, argv[0], argv[1], argv[2], argv[3], argv[4],
           argv[5], argv[6], argv[7], argv[8], argv[9], argv[10], argv[11],
           argv[12], argv[13], argv[14], argv[15], argv[16], argv[17],
           argv[18], argv[19], NULL);
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
    /* Device B of the same rep: init's first sync brings the record and
    ** then the bytes, as sync does. */
    s = RUNJ(b, "init", "--server", g_s.url, "--token", g_rep1, "--ca", g_s.ca);
    assert_int_equal(jint(s, "photos", "downloaded"), 1);  /* as sync does */
    json_decref(s);
    s = RUNJ(b, "sync");
    assert_int_equal(jint(s, "photos", "downloaded"), 0);
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

/* ---- 4. the per-follow-up and per-day limits, by name ------------------------- */

/* The notes of a sync's "photos" all name `limit`; their count. */
static size_t notes_naming(const json_t *s, const char *limit)
{
    const json_t *notes = json_object_get(json_object_get(s, "photos"), "notes");
    size_t i;
    json_t *v;
    json_array_foreach(notes, i, v)
        assert_non_null(strstr(json_string_value(v), limit));
    return json_array_size(notes);
}

/* The follow-up named `name` reached a fresh device of tok's rep, with n
** photos. */
static void followup_reached(const char *db, const char *tok, const char *name,
                             size_t n)
{
    init_dev(db, g_s.url, tok);
    json_t *list = RUNJ(db, "customer", "list", "--search", name);
    assert_int_equal(json_array_size(list), 1);
    char cid[64];
    snprintf(cid, sizeof cid, "%s",
             json_string_value(json_object_get(json_array_get(list, 0), "id")));
    json_decref(list);
    json_t *sheet = RUNJ(db, "customer", "show", cid);
    json_t *atts = json_object_get(
        json_array_get(json_object_get(sheet, "followups"), 0), "attachments");
    assert_int_equal(json_array_size(atts), n);
    json_decref(sheet);
}

static void test_followup_limit_by_name(void **state)
{
    (void)state;
    char a[400], b[400], ph[4][400];
    path_of(a, sizeof a, "a4.db");
    path_of(b, sizeof b, "b4.db");
    /* Four photos each under FSV_BLOB_MAX_BYTES, together over
    ** FSV_BLOB_MAX_FOLLOWUP (the follow-up names their sizes: refused at
    ** the probe, no byte sent). */
    const size_t each = (size_t)(FSV_BLOB_MAX_FOLLOWUP / 4) + 4096;
    assert_true((long long)each <= FSV_BLOB_MAX_BYTES);
    for (int i = 0; i < 4; i++) {
        char n[32];
        snprintf(n, sizeof n, "order-%d.jpg", i);
        path_of(ph[i], sizeof ph[i], n);
        make_file(ph[i], each, 40 + (unsigned)i);
    }
    init_dev(a, g_s.url, g_rep3);
    json_t *c = RUNJ(a, "customer", "add", "--name", "赵敏");
    char cid[64];
    snprintf(cid, sizeof cid, "%s", json_string_value(json_object_get(c, "id")));
    json_decref(c);
    json_t *f = RUNJ(a, "followup", "add", cid, "--method", "visit", "--content",
                     "订单", "--photo", ph[0], "--photo", ph[1], "--photo", ph[2],
                     "--photo", ph[3]);
    assert_int_equal(json_array_size(json_object_get(f, "attachments")), 4);
    json_decref(f);
    long long bytes0 = metric("fieldsync_blob_bytes_received_total");
    json_t *s = RUNJ(a, "sync");
    assert_int_equal(jint(s, "photos", "refused"), 4);
    assert_int_equal(jint(s, "photos", "uploaded"), 0);
    assert_int_equal(jint(s, "photos", "bytes_up"), 0);
    assert_int_equal(notes_naming(s, "FSV_BLOB_MAX_FOLLOWUP"), 4);
    json_decref(s);
    assert_int_equal(metric("fieldsync_blob_bytes_received_total"), bytes0);
    followup_reached(b, g_rep3, "赵敏", 4);
}

#ifndef FSV_PHOTOS_ON_PG
static void test_day_limit_by_name(void **state)
{
    (void)state;
    char a[400], b[400], photo[400], dbp[400];
    path_of(a, sizeof a, "a5.db");
    path_of(b, sizeof b, "b5.db");
    path_of(photo, sizeof photo, "day.jpg");
    const size_t size = 1024 * 1024;
    make_file(photo, size, 5);
    /* rep2's photos of the last 24 hours: crafted in the store (sending
    ** 500 MiB in a test is no better proof), leaving less than one more
    ** photo's room; rep2 sees nothing of the other tests. */
    snprintf(dbp, sizeof dbp, "%s/fieldsync.db", g_s.data);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(dbp, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    char sql[300];
    snprintf(sql, sizeof sql, "INSERT INTO blob(sha, size, user, at_ms) VALUES"
             "('%064d', %lld, 'rep2', CAST((julianday('now') - 2440587.5)"
             " * 86400000 AS INTEGER))", 0,
             (long long)(FSV_BLOB_MAX_DAY - (long long)size / 2));
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("%s", err);
    sqlite3_close(db);
    init_dev(a, g_s.url, g_rep2);
    json_t *att = followup_with_photo(a, "钱多多", photo);
    json_decref(att);
    json_t *s = RUNJ(a, "sync");
    assert_int_equal(jint(s, "photos", "refused"), 1);
    assert_int_equal(jint(s, "photos", "bytes_up"), 0);
    assert_int_equal(notes_naming(s, "FSV_BLOB_MAX_DAY"), 1);
    const char *note = json_string_value(json_array_get(
        json_object_get(json_object_get(s, "photos"), "notes"), 0));
    assert_non_null(strstr(note, "day.jpg"));
    assert_non_null(strstr(note, "rep2"));
    json_decref(s);
    /* The follow-up itself reached rep2's other device. */
    init_dev(b, g_s.url, g_rep2);
    json_t *list = RUNJ(b, "customer", "list", "--search", "钱多多");
    assert_int_equal(json_array_size(list), 1);
    json_decref(list);
}
#endif

/* ---- 5. the device's setting: budget, manual, init, own photos ---------------- */

static void blob_file(const char *db, const char *sha, char *out, size_t n)
{
    snprintf(out, n, "%s.blobs/%.2s/%s", db, sha, sha);
}

static void test_budget_and_manual(void **state)
{
    (void)state;
    char a[400], b[400], p1[400], p2[400], p3[400], p4[400], out[400];
    path_of(a, sizeof a, "a6.db");
    path_of(b, sizeof b, "b6.db");
    path_of(p1, sizeof p1, "b-one.jpg");
    path_of(p2, sizeof p2, "b-two.jpg");
    path_of(p3, sizeof p3, "b-three.jpg");
    path_of(p4, sizeof p4, "b-mine.jpg");
    path_of(out, sizeof out, "b-two-out.jpg");
    const size_t s1 = 600 * 1024, s2 = 700 * 1024;
    make_file(p1, s1, 61);
    make_file(p2, s2, 62);
    make_file(p3, 100 * 1024, 63);
    make_file(p4, 50 * 1024, 64);
    /* rep1's device A: two photos on the server. */
    init_dev(a, g_s.url, g_rep4);
    json_t *a1 = followup_with_photo(a, "预算一", p1);
    json_t *a2 = followup_with_photo(a, "预算二", p2);
    json_t *s = RUNJ(a, "sync");
    assert_int_equal(jint(s, "photos", "uploaded"), 2);
    json_decref(s);
    /* Device B on a 1 MB a day budget, set before init: init's first
    ** sync fetches one photo (either fits, not both) and holds one back. */
    s = RUNJ(b, "photos", "budget", "1");
    assert_string_equal(json_string_value(json_object_get(s, "mode")), "auto");
    assert_int_equal(jint(s, "budget_bytes", NULL), 1024 * 1024);
    assert_int_equal(jint(s, "used_today", NULL), 0);
    json_decref(s);
    s = RUNJ(b, "init", "--server", g_s.url, "--token", g_rep4, "--ca", g_s.ca);
    assert_int_equal(jint(s, "photos", "downloaded"), 1);
    assert_int_equal(jint(s, "photos", "held_back"), 1);
    int64_t got = jint(s, "photos", "bytes_down");
    assert_true(got == (int64_t)s1 || got == (int64_t)s2);
    json_decref(s);
    s = RUNJ(b, "photos");
    assert_int_equal(jint(s, "used_today", NULL), got);
    assert_int_equal(jint(s, "left_today", NULL), 1024 * 1024 - got);
    json_decref(s);
    /* The next sync: still no room; the photo waits (named in the count). */
    s = RUNJ(b, "sync");
    assert_int_equal(jint(s, "photos", "downloaded"), 0);
    assert_int_equal(jint(s, "photos", "held_back"), 1);
    json_decref(s);
    /* Opened: fetched whatever the budget, and counted. */
    json_t *held = got == (int64_t)s1 ? a2 : a1;
    const char *hp = got == (int64_t)s1 ? p2 : p1;
    json_t *g = RUNJ(b, "attachment", "get",
                     json_string_value(json_object_get(held, "id")), "--out", out);
    assert_true(json_is_true(json_object_get(g, "fetched")));
    json_decref(g);
    assert_true(same_file(hp, out));
    s = RUNJ(b, "photos");
    assert_int_equal(jint(s, "used_today", NULL), (int64_t)(s1 + s2));
    assert_int_equal(jint(s, "left_today", NULL), 0);
    json_decref(s);
    /* Manual, no budget: a new photo of A's is not fetched ahead... */
    json_decref(RUNJ(b, "photos", "budget", "none"));
    s = RUNJ(b, "photos", "manual");
    assert_string_equal(json_string_value(json_object_get(s, "mode")), "manual");
    assert_true(json_is_null(json_object_get(s, "budget_bytes")));
    json_decref(s);
    json_t *a3 = followup_with_photo(a, "预算三", p3);
    json_decref(RUNJ(a, "sync"));
    /* ...while B's own photo goes up (its budget is not an upload's). */
    json_t *mine = followup_with_photo(b, "我的照片", p4);
    s = RUNJ(b, "sync");
    assert_int_equal(jint(s, "photos", "downloaded"), 0);
    assert_int_equal(jint(s, "photos", "held_back"), 1);
    assert_int_equal(jint(s, "photos", "uploaded"), 1);
    json_decref(s);
    char f[600];
    blob_file(b, json_string_value(json_object_get(a3, "sha256")), f, sizeof f);
    assert_int_not_equal(access(f, F_OK), 0);
    /* Bad settings: usage errors (exit 2), nothing changed. */
    fl_res r;
    fl_run(&r, b, NULL, 30000, "photos", "budget", "lots", NULL);
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.err, "lots"));
    fl_run(&r, b, NULL, 30000, "photos", "sometimes", NULL);
    assert_int_equal(r.code, 2);
    s = RUNJ(b, "photos");
    assert_string_equal(json_string_value(json_object_get(s, "mode")), "manual");
    json_decref(s);
    /* Back to auto: fetched at the next sync. */
    json_decref(RUNJ(b, "photos", "auto"));
    s = RUNJ(b, "sync");
    assert_int_equal(jint(s, "photos", "downloaded"), 1);
    assert_int_equal(jint(s, "photos", "held_back"), 0);
    json_decref(s);
    assert_int_equal(access(f, F_OK), 0);
    json_decref(a1);
    json_decref(a2);
    json_decref(a3);
    json_decref(mine);
}

/* ---- 6. sync --watch moves photos both ways ------------------------------------ */

/* Wait (bounded, generous) for file path to exist; 1 if it does. */
static int wait_file(const char *path)
{
    for (int i = 0; i < 1200; i++) {
        if (access(path, F_OK) == 0)
            return 1;
        usleep(100 * 1000);
    }
    return 0;
}

static int wait_blob_on_server(const char *sha)
{
    char path[600];
    snprintf(path, sizeof path, "%s/blobs/%.2s/%s", g_s.data, sha, sha);
    return wait_file(path);
}

static void test_watch_moves_photos(void **state)
{
    (void)state;
    char a[400], b[400], p1[400], p2[400], log[400];
    path_of(a, sizeof a, "a7.db");
    path_of(b, sizeof b, "b7.db");
    path_of(p1, sizeof p1, "w-live.jpg");
    path_of(p2, sizeof p2, "w-local.jpg");
    path_of(log, sizeof log, "watch7.log");
    make_file(p1, 200 * 1024, 71);
    make_file(p2, 150 * 1024, 72);
    init_dev(a, g_s.url, g_rep5);
    init_dev(b, g_s.url, g_rep5);
    pid_t w = fl_spawn(&g_s, b, NULL, log, "sync", "--watch", NULL);
    assert_true(w > 0);
    /* A live change naming a photo: the watching device fetches it. */
    json_t *att = followup_with_photo(a, "直播一", p1);
    json_t *s = RUNJ(a, "sync");
    assert_int_equal(jint(s, "photos", "uploaded"), 1);
    json_decref(s);
    char f[600];
    blob_file(b, json_string_value(json_object_get(att, "sha256")), f, sizeof f);
    assert_true(wait_file(f));
    assert_true(same_file(p1, f));
    /* The watch counts what it fetched in the day's photo bytes while it
    ** runs (about once a second), not only when it ends. */
    int64_t used = 0;
    for (int i = 0; i < 600 && used < 200 * 1024; i++) {
        json_t *ph = RUNJ(b, "photos");
        used = jint(ph, "used_today", NULL);
        json_decref(ph);
        if (used < 200 * 1024)
            usleep(100 * 1000);
    }
    assert_int_equal(used, 200 * 1024);
    /* A photo added beside the watch: sent without another sync. */
    json_t *mine = followup_with_photo(b, "直播二", p2);
    assert_true(wait_blob_on_server(json_string_value(json_object_get(mine, "sha256"))));
    char sf[600];
    const char *sha2 = json_string_value(json_object_get(mine, "sha256"));
    snprintf(sf, sizeof sf, "%s/blobs/%.2s/%s", g_s.data, sha2, sha2);
    assert_true(same_file(p2, sf));
    /* Killed, not stopped: the bytes it fetched stay counted, once. */
    kill(w, SIGKILL);
    th_reap(&g_s, w, 30000);
    json_t *ph = RUNJ(b, "photos");
    assert_int_equal(jint(ph, "used_today", NULL), 200 * 1024);
    json_decref(ph);
    json_decref(att);
    json_decref(mine);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_photo_reaches_second_device),
        cmocka_unit_test(test_cut_resumes_and_records_pass),
        cmocka_unit_test(test_over_limit_refused_by_name),
        cmocka_unit_test(test_followup_limit_by_name),
#ifndef FSV_PHOTOS_ON_PG
        /* crafts the rep's day in the SQLite file; on PostgreSQL the
        ** day's bookkeeping (blob_usage) is server_store_parts' */
        cmocka_unit_test(test_day_limit_by_name),
#endif
        cmocka_unit_test(test_budget_and_manual),
        cmocka_unit_test(test_watch_moves_photos),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
