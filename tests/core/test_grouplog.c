/*
** test_grouplog.c — the change log as one row per change group (schema 4,
** core/src/grouplog.h):
**   - the body codec against the plain per-change form: random groups
**     encode, decode to the same fdsp_change list and encode to the same
**     bytes (differential); every damaged body is refused or is exactly
**     what the encoder writes for what it decodes to;
**   - one row per local action, per-change rows through `log`;
**   - a damaged row is FDS_DB naming it;
**   - the schema-3 fixture (tests/fixtures/replica-v3.sql) migrates in
**     place: every log entry, unacked change and resend flag survives, and
**     history, sheets (created/updated times) and conflicts read as the
**     schema-3 code read them (replica-v3-log.expected.json, made by
**     make-replica-v3-log-expected.sh with that code).
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "grouplog.h"
#include "domain.h"
#include "testenv.h"

/* ---- The codec, differentially ---------------------------------------- */

static const char *const devices[] = {
    "8d066c24-073e-4a48-bb5a-070c9599a94f", "e2b0b5a8-a04b-4dac-b34b-68f69aa4850b",
    "dev", "设备-乙", "z",
};
static const char *const words[] = {
    "name", "phone", "customer", "备注", "f.合同", "deleted", "x",
};

static char *rand_text(uint64_t *rng, size_t max)
{
    size_t n = (size_t)(test_rand(rng) % (max + 1));
    char *s = malloc(n * 3 + 1), *p = s;
    for (size_t i = 0; i < n; i++) {
        if (test_rand(rng) % 5 == 0) {
            memcpy(p, "跟", 3);            /* three bytes of UTF-8 */
            p += 3;
        } else {
            *p++ = (char)(' ' + test_rand(rng) % 95);
        }
    }
    *p = '\0';
    return s;
}

static void rand_vv(uint64_t *rng, fdsp_vv *vv, const fdsp_vv *prev)
{
    vv->n = 0;
    vv->e = calloc(5, sizeof *vv->e);
    /* often the previous vector with one entry moved on (a local action) */
    int like_prev = prev && prev->n && test_rand(rng) % 3;
    for (size_t d = 0; d < 5; d++) {
        /* devices in strcmp order: the sorted vector */
        static const size_t order[] = {0, 2, 1, 4, 3};
        const char *dev = devices[order[d]];
        uint64_t ctr = 0;
        if (like_prev) {
            for (size_t k = 0; k < prev->n; k++)
                if (strcmp(prev->e[k].device, dev) == 0)
                    ctr = prev->e[k].counter;
            if (ctr && ctr < (UINT64_C(1) << 53) && test_rand(rng) % 3 == 0)
                ctr++;
        } else if (test_rand(rng) % 2) {
            ctr = test_rand(rng) % 8 == 0 ? (UINT64_C(1) << 53)
                                          : 1 + test_rand(rng) % 100000;
        }
        if (ctr) {
            vv->e[vv->n].device = strdup(dev);
            vv->e[vv->n].counter = ctr;
            vv->n++;
        }
    }
    if (vv->n == 0) {
        vv->e[0].device = strdup(devices[0]);
        vv->e[0].counter = 1;
        vv->n = 1;
    }
    for (size_t i = 1; i < vv->n; i++)
        assert_true(strcmp(vv->e[i - 1].device, vv->e[i].device) < 0);
}

static size_t rand_group(uint64_t *rng, fdsp_change **out, const char **gdev)
{
    size_t n = test_rand(rng) % 10 == 0 ? 1 + test_rand(rng) % FDS__GROUP_MAX
                                        : 1 + test_rand(rng) % 12;
    fdsp_change *c = calloc(n, sizeof *c);
    *gdev = devices[test_rand(rng) % 5];
    uint64_t hlc = test_rand(rng) % 4 ? (test_rand(rng) >> 20) : 0;
    int64_t seq = test_rand(rng) % 2 ? (int64_t)(test_rand(rng) % 100000) : 0;
    for (size_t i = 0; i < n; i++) {
        fdsp_change *x = &c[i];
        x->field = test_rand(rng) % 4 ? strdup(words[test_rand(rng) % 7])
                                      : rand_text(rng, 20);
        if (x->field[0] == '\0') {
            free(x->field);
            x->field = strdup("f");
        }
        int v = (int)(test_rand(rng) % 6);
        x->value = v == 0 ? NULL : v == 1 ? strdup("") : rand_text(rng, 60);
        x->device = strdup(test_rand(rng) % 5 ? *gdev
                                              : devices[test_rand(rng) % 5]);
        int h = (int)(test_rand(rng) % 6);
        hlc = h < 4 ? hlc + 1 : h == 4 ? hlc + test_rand(rng) % 70000
                                       : test_rand(rng) >> 2;
        x->hlc = hlc;
        int s = (int)(test_rand(rng) % 6);
        seq = s < 3 ? (seq ? seq + 1 : 0) : s == 3 ? 0
            : s == 4 ? (int64_t)(test_rand(rng) % 100000)
                     : (int64_t)(test_rand(rng) >> 2);
        x->seq = seq;
        rand_vv(rng, &x->vv, i ? &c[i - 1].vv : NULL);
    }
    *out = c;
    return n;
}

static void assert_same_change(const fdsp_change *a, const fdsp_change *b)
{
    assert_string_equal(a->field, b->field);
    if (a->value == NULL)
        assert_null(b->value);
    else
        assert_string_equal(a->value, b->value);
    assert_string_equal(a->device, b->device);
    assert_true(a->hlc == b->hlc);
    assert_true(a->seq == b->seq);
    assert_int_equal(a->vv.n, b->vv.n);
    for (size_t k = 0; k < a->vv.n; k++) {
        assert_string_equal(a->vv.e[k].device, b->vv.e[k].device);
        assert_true(a->vv.e[k].counter == b->vv.e[k].counter);
    }
}

static void test_codec_differential(void **state)
{
    (void)state;
    uint64_t rng = 0x5eed5eedULL;
    const char *env = getenv("FDS_GROUP_SEEDS");
    int rounds = env ? atoi(env) : 3000;
    size_t plain = 0, packed = 0;
    for (int round = 0; round < rounds; round++) {
        fdsp_change *c;
        const char *gdev;
        size_t n = rand_group(&rng, &c, &gdev);
        fds__buf b = {0};
        assert_int_equal(fds__group_encode(c, n, gdev, &b), FDS_OK);
        assert_false(b.oom);
        fdsp_change *d;
        size_t dn;
        assert_int_equal(fds__group_decode((unsigned char *)b.p, b.n, gdev,
                                           &d, &dn), FDS_OK);
        assert_int_equal(dn, n);
        for (size_t i = 0; i < n; i++) {
            assert_same_change(&c[i], &d[i]);
            char *vv = fds__vv_dump(&c[i].vv);
            plain += strlen(c[i].field) + (c[i].value ? strlen(c[i].value)
                                                      : 0) +
                     strlen(vv) + strlen(c[i].device) + 16;
            free(vv);
        }
        packed += b.n;
        /* the same bytes again: one encoding per change list */
        fds__buf b2 = {0};
        assert_int_equal(fds__group_encode(d, dn, gdev, &b2), FDS_OK);
        assert_int_equal(b2.n, b.n);
        assert_memory_equal(b2.p, b.p, b.n);
        free(b2.p);
        fds__group_free(d, dn);
        /* damage: a cut body is refused; a flipped byte is refused or is
        ** what the encoder writes for what it decodes to */
        size_t cut = (size_t)(test_rand(&rng) % b.n);
        assert_int_equal(fds__group_decode((unsigned char *)b.p, cut, gdev,
                                           &d, &dn), FDS_DB);
        unsigned char *m = malloc(b.n);
        memcpy(m, b.p, b.n);
        m[test_rand(&rng) % b.n] ^= (unsigned char)(1 + test_rand(&rng) % 255);
        int rc = fds__group_decode(m, b.n, gdev, &d, &dn);
        if (rc == FDS_OK) {
            fds__buf b3 = {0};
            assert_int_equal(fds__group_encode(d, dn, gdev, &b3), FDS_OK);
            assert_int_equal(b3.n, b.n);
            assert_memory_equal(b3.p, m, b.n);
            free(b3.p);
            fds__group_free(d, dn);
        } else {
            assert_int_equal(rc, FDS_DB);
        }
        free(m);
        free(b.p);
        fds__group_free(c, n);
    }
    print_message("group bodies: %zu bytes for %zu bytes of plain change "
                  "text\n", packed, plain);
}

static void test_codec_refuses(void **state)
{
    (void)state;
    fdsp_change c;
    memset(&c, 0, sizeof c);
    fdsp_vv_entry e = {(char *)"dev", 1};
    c.field = (char *)"name";
    c.value = (char *)"Ann";
    c.device = (char *)"dev";
    c.vv.n = 1;
    c.vv.e = &e;
    fds__buf b = {0};
    assert_int_equal(fds__group_encode(&c, 1, "dev", &b), FDS_OK);
    fdsp_change *d;
    size_t n;
    unsigned char *m = malloc(b.n + 1);
    /* another format byte, a trailing byte, nothing */
    memcpy(m, b.p, b.n);
    m[0] = 2;
    assert_int_equal(fds__group_decode(m, b.n, "dev", &d, &n), FDS_DB);
    memcpy(m, b.p, b.n);
    m[b.n] = 0;
    assert_int_equal(fds__group_decode(m, b.n + 1, "dev", &d, &n), FDS_DB);
    assert_int_equal(fds__group_decode(m, 0, "dev", &d, &n), FDS_DB);
    assert_int_equal(fds__group_decode(NULL, 0, "dev", &d, &n), FDS_DB);
    free(m);
    free(b.p);
    /* what a replica cannot hold is not encoded */
    memset(&b, 0, sizeof b);
    c.vv.n = 0;
    assert_int_equal(fds__group_encode(&c, 1, "dev", &b), FDS_INVALID);
    c.vv.n = 1;
    e.counter = 0;
    assert_int_equal(fds__group_encode(&c, 1, "dev", &b), FDS_INVALID);
    e.counter = 1;
    c.field = (char *)"";
    assert_int_equal(fds__group_encode(&c, 1, "dev", &b), FDS_INVALID);
    c.field = (char *)"name";
    c.value = (char *)"\xff";
    assert_int_equal(fds__group_encode(&c, 1, "dev", &b), FDS_INVALID);
    assert_int_equal(fds__group_encode(&c, 0, "dev", &b), FDS_INVALID);
    free(b.p);
}

/* ---- On a replica -------------------------------------------------------- */

static int64_t q_i64(fds_replica *r, const char *sql)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(r->db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void test_one_row_per_action(void **state)
{
    (void)state;
    test_env t;
    test_env_init(&t, 1700000000000, 7);
    t.step = 0;                         /* one action: one at_ms */
    fds_replica *r = test_open(&t);
    json_t *f = json_pack("{s:s, s:s, s:s, s:s, s:s, s:n}", "name", "王一",
                          "phone", "1", "email", "e", "company", "c",
                          "title", "t", "notes");
    assert_int_equal(fds__write(r, "customer", "c1", f), FDS_OK);
    json_decref(f);
    assert_int_equal(q_i64(r, "SELECT count(*) FROM glog"), 1);
    assert_int_equal(q_i64(r, "SELECT count(*) FROM log"), 6);
    /* an edit of an existing record: its fields and deleted = "0" */
    f = json_pack("{s:s, s:s}", "name", "王二", "phone", "2");
    assert_int_equal(fds__write(r, "customer", "c1", f), FDS_OK);
    json_decref(f);
    assert_int_equal(q_i64(r, "SELECT count(*) FROM glog"), 2);
    assert_int_equal(q_i64(r, "SELECT count(*) FROM log"), 9);
    int64_t n = 0;
    assert_int_equal(fds_outbox_count(r, &n), FDS_OK);
    assert_int_equal(n, 9);
    /* per-change rows in the order written, counters consecutive */
    assert_int_equal(q_i64(r, "SELECT count(*) FROM log a JOIN log b "
                              "ON b.lseq > a.lseq AND b.hlc <= a.hlc"), 0);
    /* a rolled-back action leaves no row */
    assert_int_equal(fds_begin(r), FDS_OK);
    assert_int_equal(fds__write1(r, "customer", "c2", "name", "x"), FDS_OK);
    assert_int_equal(fds_rollback(r), FDS_OK);
    assert_int_equal(q_i64(r, "SELECT count(*) FROM glog"), 2);
    /* acks mark changes, and the outbox index is a group summary */
    assert_int_equal(sqlite3_exec(r->db, "UPDATE log SET acked = 1 WHERE "
                                  "field = 'phone'", NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(fds_outbox_count(r, &n), FDS_OK);
    assert_int_equal(n, 7);
    assert_int_equal(q_i64(r, "SELECT count(*) FROM glog WHERE outbox = 1"),
                     2);
    assert_int_equal(sqlite3_exec(r->db, "UPDATE log SET acked = 1",
                                  NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(q_i64(r, "SELECT count(*) FROM glog WHERE outbox = 1"),
                     0);
    fds_replica_close(r);
}

/* A record's times come from its first and last change groups that took
** effect: a group whose every change the server refused does not count. */
static void test_record_times_skip_refused(void **state)
{
    (void)state;
    test_env t;
    test_env_init(&t, 1700000000000, 9);
    t.step = 0;
    fds_replica *r = test_open(&t);
    assert_int_equal(fds__write1(r, "customer", "c1", "name", "Ann"), FDS_OK);
    t.now += 60000;
    json_t *f = json_pack("{s:s, s:s}", "name", "Bo", "phone", "1");
    assert_int_equal(fds__write(r, "customer", "c1", f), FDS_OK);
    json_decref(f);
    int64_t first, last;
    assert_int_equal(fds__record_times(r, "customer", "c1", &first, &last),
                     FDS_OK);
    assert_true(last == first + 60000);
    /* one change of the later group refused: it still counts */
    assert_int_equal(sqlite3_exec(r->db, "UPDATE log SET acked = 2 WHERE "
                                  "field = 'phone'", NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(fds__record_times(r, "customer", "c1", &first, &last),
                     FDS_OK);
    assert_true(last == first + 60000);
    /* all of it refused (one with the re-send flag too): it does not */
    assert_int_equal(sqlite3_exec(r->db, "UPDATE log SET acked = 2, "
                                  "resend = (field = 'name') WHERE at_ms = "
                                  "(SELECT max(at_ms) FROM log)",
                                  NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(fds__record_times(r, "customer", "c1", &first, &last),
                     FDS_OK);
    assert_true(last == first);
    fds_replica_close(r);
}

static void test_damaged_row_named(void **state)
{
    (void)state;
    test_env t;
    test_env_init(&t, 1700000000000, 8);
    fds_replica *r = test_open(&t);
    assert_int_equal(fds__write1(r, "customer", "c1", "name", "Ann"), FDS_OK);
    int64_t g = q_i64(r, "SELECT gseq FROM glog");
    assert_int_equal(sqlite3_exec(r->db, "UPDATE glog SET body = x'0101'",
                                  NULL, NULL, NULL), SQLITE_OK);
    json_t *out = NULL;
    assert_int_equal(fds_history(r, "c1", &out), FDS_DB);
    char want[64];
    snprintf(want, sizeof want, "log row %lld is corrupt", (long long)g);
    assert_non_null(strstr(fds_errmsg(r), want));
    fds_replica_close(r);
}

/* ---- The schema-3 fixture --------------------------------------------- */

#ifndef FDS_FIXTURES
#define FDS_FIXTURES "tests/fixtures"
#endif

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

/* Every per-change row, as text, in lseq order. */
static json_t *log_rows(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db,
        "SELECT tbl, rid, field, value, vv, hlc, device, user, origin, "
        "acked, sseq, at_ms, resend FROM log ORDER BY lseq", -1, &st, NULL),
        SQLITE_OK);
    json_t *a = json_array();
    while (sqlite3_step(st) == SQLITE_ROW) {
        json_t *row = json_array();
        for (int i = 0; i < 13; i++) {
            const unsigned char *t = sqlite3_column_text(st, i);
            json_array_append_new(row, t ? json_string((const char *)t)
                                         : json_null());
        }
        json_array_append_new(a, row);
    }
    sqlite3_finalize(st);
    return a;
}

static void test_migrates_fixture(void **state)
{
    (void)state;
    setenv("TZ", "UTC", 1);
    char path[128];
    snprintf(path, sizeof path, "/tmp/fds-grouplog-%ld.db", (long)getpid());
    unlink(path);
    char *sql = slurp(FDS_FIXTURES "/replica-v3.sql");
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    free(sql);
    /* the re-send queue of a restored server, part-way (rule 13): some
    ** received changes and some acknowledged own ones */
    assert_int_equal(sqlite3_exec(db, "UPDATE log SET resend = 1 WHERE "
                                  "(origin = 0 OR acked = 1) AND lseq % 3 = 0",
                                  NULL, NULL, NULL), SQLITE_OK);
    json_t *before = log_rows(db);
    sqlite3_close(db);
    assert_true(json_array_size(before) > 0);

    fds_replica *r = NULL;
    char err[256] = "";
    assert_int_equal(fds_replica_open(path, NULL, &r, err, sizeof err), FDS_OK);
    assert_int_equal(q_i64(r, "PRAGMA user_version"), FDS__SCHEMA_VERSION);
    assert_int_equal(q_i64(r, "SELECT count(*) FROM sqlite_master WHERE "
                              "name = 'log'"), 0);
    /* every change, with its flags, in its order */
    json_t *after = log_rows(r->db);
    assert_int_equal(json_array_size(after), json_array_size(before));
    size_t i;
    json_t *row;
    json_array_foreach(before, i, row) {
        if (!json_equal(row, json_array_get(after, i))) {
            char *a = json_dumps(row, 0);
            char *b = json_dumps(json_array_get(after, i), 0);
            fail_msg("change %zu: %s became %s", i, a, b);
        }
    }
    assert_true(q_i64(r, "SELECT count(*) FROM glog") <
                (int64_t)json_array_size(before));
    int64_t n = 0;
    assert_int_equal(fds_outbox_count(r, &n), FDS_OK);
    assert_int_equal(n, q_i64(r, "SELECT count(*) FROM log WHERE origin = 1 "
                                 "AND acked = 0"));
    assert_true(n > 0);
    assert_true(q_i64(r, "SELECT count(*) FROM log WHERE resend = 1") > 0);

    /* what the schema-3 code answered from this replica */
    char *text = slurp(FDS_FIXTURES "/replica-v3-log.expected.json");
    json_t *want = json_loads(text, 0, NULL);
    free(text);
    assert_non_null(want);
    const char *id;
    json_t *w;
    json_object_foreach(json_object_get(want, "customers"), id, w) {
        json_t *h = NULL, *s = NULL;
        assert_int_equal(fds_history(r, id, &h), FDS_OK);
        if (!json_equal(h, json_object_get(w, "history")))
            fail_msg("history of %s: %s", id, json_dumps(h, JSON_SORT_KEYS));
        if (fds_customer_sheet(r, id, &s) != FDS_OK)
            s = json_null();
        if (!json_equal(s, json_object_get(w, "sheet")))
            fail_msg("sheet of %s: %s", id, json_dumps(s, JSON_SORT_KEYS));
        json_decref(h);
        json_decref(s);
    }
    json_t *c = NULL;
    assert_int_equal(fds_conflicts(r, &c), FDS_OK);
    assert_true(json_equal(c, json_object_get(want, "conflicts")));
    json_decref(c);
    json_decref(want);
    json_decref(before);
    json_decref(after);
    fds_replica_close(r);
    static const char *const side[] = {"", "-wal", "-shm"};
    for (size_t k = 0; k < 3; k++) {
        char p[160];
        snprintf(p, sizeof p, "%s%s", path, side[k]);
        unlink(p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codec_differential),
        cmocka_unit_test(test_codec_refuses),
        cmocka_unit_test(test_one_row_per_action),
        cmocka_unit_test(test_record_times_skip_refused),
        cmocka_unit_test(test_damaged_row_named),
        cmocka_unit_test(test_migrates_fixture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
