/*
** test_regpack.c — the server store's packed registers (regpack.c)
** against the plain reference form, fds_register's canonical JSON
** (fds_register_dump): records of random registers made by fds_merge
** (several devices, concurrent writes, nulls, escapes, Chinese text)
** encode and decode to registers whose canonical text is byte-equal to
** the original's, the vals column is the JSON object of the winners, and
** damaged bytes (every truncation, every single-byte change) are errors
** or decode to registers that re-encode to a fixpoint, never a crash.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "regpack.h"

/* A dictionary in memory: names[id - 1]. */
typedef struct tdict {
    char *names[256];
    size_t n;
} tdict;

static int t_intern(void *ud, const char *name, uint64_t *id)
{
    tdict *d = ud;
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->names[i], name) == 0) {
            *id = i + 1;
            return FSV_RP_OK;
        }
    if (d->n == 256)
        return FSV_RP_DICT;
    d->names[d->n++] = strdup(name);
    *id = d->n;
    return FSV_RP_OK;
}

static const char *t_lookup(void *ud, uint64_t id)
{
    tdict *d = ud;
    return id >= 1 && id <= d->n ? d->names[id - 1] : NULL;
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static const char *const values[] = {
    "Ann", "张伟", "+86 138 0000 0000", "a \"quoted\" value", "back\\slash",
    "two\nlines\ttab", "\x01 control", "", "emoji \xf0\x9f\x98\x80", "/slash/",
};
static const char *const devices[] = {
    "8634a33e-20d7-4350-8ca9-b3fad9c59400", "e58c1afa-bd90-4e8c-b192",
    "d3", "\xe8\xae\xbe\xe5\xa4\x87",
};
static const char *const users[] = {"alice", "bob", "root", "\xe7\x8e\x8b"};
static const char *const fields[] = {
    "name", "phone", "company", "customer", "notes", "a", "z\"q", "字段",
};

/* A record of random registers, fields in strcmp order. */
static size_t make_record(fsv_regpack_field *f)
{
    size_t nf = 0;
    const char *sorted[8];
    for (size_t i = 0; i < 8; i++)
        sorted[i] = fields[i];
    for (size_t i = 0; i < 8; i++)
        for (size_t j = i + 1; j < 8; j++)
            if (strcmp(sorted[j], sorted[i]) < 0) {
                const char *t = sorted[i];
                sorted[i] = sorted[j];
                sorted[j] = t;
            }
    for (size_t i = 0; i < 8; i++) {
        if (rnd(3) == 0)
            continue;
        fds_register reg = {0, NULL};
        uint64_t ctr[4] = {0, 0, 0, 0};
        int writes = 1 + (int)rnd(5);
        for (int w = 0; w < writes; w++) {
            int d = (int)rnd(4);
            fdsp_change c;
            memset(&c, 0, sizeof c);
            c.device = (char *)devices[d];
            c.user = (char *)users[rnd(4)];
            c.value = rnd(6) == 0 ? NULL : (char *)values[rnd(10)];
            c.hlc = ((uint64_t)(1700000000000ULL + rnd(100000)) << 16) | rnd(4);
            ctr[d] += 1 + rnd(3);
            /* Sometimes the writer saw others' counters, sometimes not:
            ** both dominating and concurrent versions arise. */
            fdsp_vv_entry e[4];
            size_t ne = 0;
            int seen = (int)rnd(2);
            for (int k = 0; k < 4; k++)
                if (k == d || (seen && ctr[k])) {
                    e[ne].device = (char *)devices[k];
                    e[ne].counter = ctr[k] ? ctr[k] : 1;
                    ne++;
                }
            /* sorted by device (strcmp) */
            for (size_t a = 0; a < ne; a++)
                for (size_t b = a + 1; b < ne; b++)
                    if (strcmp(e[b].device, e[a].device) < 0) {
                        fdsp_vv_entry t = e[a];
                        e[a] = e[b];
                        e[b] = t;
                    }
            c.vv.n = ne;
            c.vv.e = e;
            fds_register next = {0, NULL};
            int outcome;
            assert_int_equal(fds_merge(&reg, &c, &next, &outcome), FDS_OK);
            fds_register_clear(&reg);
            reg = next;
        }
        f[nf].name = strdup(sorted[i]);
        f[nf].reg = reg;
        nf++;
    }
    return nf;
}

static void assert_same(const fsv_regpack_field *a, const fsv_regpack_field *b,
                        size_t n)
{
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(a[i].name, b[i].name);
        char *x = fds_register_dump(&a[i].reg), *y = fds_register_dump(&b[i].reg);
        assert_non_null(x);
        assert_non_null(y);
        assert_string_equal(x, y);
        free(x);
        free(y);
    }
}

static void test_round_trip(void **state)
{
    (void)state;
    tdict td = {{0}, 0};
    fsv_regpack_dict d = {t_intern, t_lookup, &td};
    int conflicts_seen = 0;
    for (int round = 0; round < 2000; round++) {
        fsv_regpack_field f[8];
        size_t n = make_record(f);
        char *vals;
        unsigned char *blob;
        size_t len;
        int conflicts;
        assert_int_equal(fsv_regpack_encode(f, n, &d, &vals, &blob, &len,
                                            &conflicts), FSV_RP_OK);
        /* vals: the winners as a JSON object any JSON reader takes */
        json_error_t je;
        json_t *j = json_loads(vals, 0, &je);
        assert_non_null(j);
        assert_int_equal(json_object_size(j), n);
        int want_conflicts = 0;
        for (size_t i = 0; i < n; i++) {
            json_t *v = json_object_get(j, f[i].name);
            assert_non_null(v);
            if (f[i].reg.v[0].value)
                assert_string_equal(json_string_value(v), f[i].reg.v[0].value);
            else
                assert_true(json_is_null(v));
            want_conflicts += fds_register_in_conflict(&f[i].reg);
            int found;
            char *one;
            assert_int_equal(fsv_regpack_value(vals, strlen(vals), f[i].name,
                                               &found, &one), FSV_RP_OK);
            assert_true(found);
            if (f[i].reg.v[0].value)
                assert_string_equal(one, f[i].reg.v[0].value);
            else
                assert_null(one);
            free(one);
            /* the in-place scan agrees with the full parse */
            assert_int_equal(fsv_regpack_find(vals, strlen(vals), f[i].name,
                                              &found, &one), FSV_RP_OK);
            assert_true(found);
            if (f[i].reg.v[0].value)
                assert_string_equal(one, f[i].reg.v[0].value);
            else
                assert_null(one);
            free(one);
        }
        {
            int found = 1;
            char *one = NULL;
            assert_int_equal(fsv_regpack_find(vals, strlen(vals), "no such",
                                              &found, &one), FSV_RP_OK);
            assert_false(found);
            assert_null(one);
        }
        json_decref(j);
        assert_int_equal(conflicts, want_conflicts);
        conflicts_seen += conflicts;
        fsv_regpack_field *g = NULL;
        size_t m = 0;
        char err[128];
        assert_int_equal(fsv_regpack_decode(vals, strlen(vals), blob, len, &d,
                                            &g, &m, err, sizeof err),
                         FSV_RP_OK);
        assert_int_equal(m, n);
        assert_same(f, g, n);
        fsv_regpack_free(g, m);
        for (size_t i = 0; i < n; i++) {
            free(f[i].name);
            fds_register_clear(&f[i].reg);
        }
        free(vals);
        free(blob);
    }
    assert_true(conflicts_seen > 100);  /* the generator makes conflicts */
    for (size_t i = 0; i < td.n; i++)
        free(td.names[i]);
}

/* Decode damaged bytes: an error with a message, or registers that
** re-encode to bytes that decode to the same registers. */
static void check_damaged(const fsv_regpack_dict *d, const char *vals, size_t vl,
                          const unsigned char *blob, size_t bl)
{
    fsv_regpack_field *g = NULL, *h = NULL;
    size_t m = 0, k = 0;
    char err[128];
    int rc = fsv_regpack_decode(vals, vl, blob, bl, d, &g, &m, err, sizeof err);
    if (rc != FSV_RP_OK) {
        assert_int_equal(rc, FSV_RP_DAMAGED);
        assert_true(err[0] != '\0');
        return;
    }
    char *v2;
    unsigned char *b2;
    size_t l2;
    int c2;
    assert_int_equal(fsv_regpack_encode(g, m, d, &v2, &b2, &l2, &c2), FSV_RP_OK);
    assert_int_equal(fsv_regpack_decode(v2, strlen(v2), b2, l2, d, &h, &k, err,
                                        sizeof err), FSV_RP_OK);
    assert_int_equal(k, m);
    assert_same(g, h, m);
    fsv_regpack_free(g, m);
    fsv_regpack_free(h, k);
    free(v2);
    free(b2);
}

static void test_damage(void **state)
{
    (void)state;
    tdict td = {{0}, 0};
    fsv_regpack_dict d = {t_intern, t_lookup, &td};
    for (int round = 0; round < 40; round++) {
        fsv_regpack_field f[8];
        size_t n = make_record(f);
        char *vals;
        unsigned char *blob;
        size_t len;
        int conflicts;
        assert_int_equal(fsv_regpack_encode(f, n, &d, &vals, &blob, &len,
                                            &conflicts), FSV_RP_OK);
        size_t vl = strlen(vals);
        /* every truncation of either column (copied: ASan sees overreads) */
        for (size_t cut = 0; cut < len; cut++) {
            unsigned char *b = malloc(cut ? cut : 1);
            memcpy(b, blob, cut);
            check_damaged(&d, vals, vl, b, cut);
            free(b);
        }
        for (size_t cut = 0; cut < vl; cut++) {
            char *v = malloc(cut ? cut : 1);
            memcpy(v, vals, cut);
            check_damaged(&d, v, cut, blob, len);
            free(v);
        }
        /* every byte changed, a few ways */
        static const unsigned char flips[] = {0x01, 0x80, 0xff, 0x7f};
        for (size_t i = 0; i < len; i++)
            for (size_t k = 0; k < sizeof flips; k++) {
                blob[i] ^= flips[k];
                check_damaged(&d, vals, vl, blob, len);
                blob[i] ^= flips[k];
            }
        for (size_t i = 0; i < vl; i++)
            for (size_t k = 0; k < sizeof flips; k++) {
                vals[i] ^= (char)flips[k];
                check_damaged(&d, vals, vl, blob, len);
                vals[i] ^= (char)flips[k];
            }
        for (size_t i = 0; i < n; i++) {
            free(f[i].name);
            fds_register_clear(&f[i].reg);
        }
        free(vals);
        free(blob);
    }
    /* an unknown id and an unknown format are named */
    char err[128];
    fsv_regpack_field *g = NULL;
    size_t m = 0;
    static const unsigned char unknown[] = {1, 1, 1, 99, 1, 0, 0, 1};
    assert_int_equal(fsv_regpack_decode("{\"a\":\"x\"}", 9, unknown,
                                        sizeof unknown, &d, &g, &m, err,
                                        sizeof err), FSV_RP_DAMAGED);
    assert_non_null(strstr(err, "unknown name id 99"));
    static const unsigned char fmt[] = {7, 0};
    assert_int_equal(fsv_regpack_decode("{}", 2, fmt, sizeof fmt, &d, &g, &m,
                                        err, sizeof err), FSV_RP_DAMAGED);
    assert_non_null(strstr(err, "format"));
    for (size_t i = 0; i < td.n; i++)
        free(td.names[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_damage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
