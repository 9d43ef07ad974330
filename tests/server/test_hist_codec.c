/*
** test_hist_codec.c — the history group body (hist_codec.h) against the
** plain list of changes it packs: random groups round-trip exactly
** (field, value incl. NULL, vv, hlc, in order; decoding from any entry),
** and damaged bodies (truncated, bytes flipped, trailing bytes, unknown
** ids, out-of-range counters) are refused with a reason, never misread
** into a crash.  No SQLite: the dictionary is an array here.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hist_codec.h"

typedef struct dict {
    char *name[256];
    int64_t n;
} dict;

static int id_of(void *ud, const char *name, int64_t *id)
{
    dict *d = ud;
    for (int64_t i = 1; i <= d->n; i++)
        if (strcmp(d->name[i], name) == 0) {
            *id = i;
            return 0;
        }
    if (d->n >= 255)
        return -1;
    d->name[++d->n] = strdup(name);
    *id = d->n;
    return 0;
}

static const char *name_of(void *ud, int64_t id)
{
    dict *d = ud;
    return id >= 1 && id <= d->n ? d->name[id] : NULL;
}

static void dict_free(dict *d)
{
    for (int64_t i = 1; i <= d->n; i++)
        free(d->name[i]);
    d->n = 0;
}

static uint64_t rnd(uint64_t *st)
{
    *st ^= *st << 13;
    *st ^= *st >> 7;
    *st ^= *st << 17;
    return *st;
}

static const char *const devs[] = {"dev-a", "dev-b", "dev-c",
                                   "0b9e7f0e-4a8e-4c2b-9d55-3f2b1c0a9e11"};
static const char *const fields[] = {"name", "phone", "stage", "email",
                                     "customer", "at", "text"};

/* A random group of n changes as a device would push it: mostly the same
** vector with its own counter rising, sometimes another device's entry. */
static void make_group(uint64_t *st, fdsp_change *c, size_t n)
{
    uint64_t hlc = rnd(st) >> (rnd(st) % 64), ctr[4] = {0};
    int have[4] = {0};
    have[0] = 1;
    ctr[0] = 1 + rnd(st) % 1000;
    for (size_t i = 0; i < n; i++) {
        memset(&c[i], 0, sizeof c[i]);
        c[i].field = strdup(fields[rnd(st) % 7]);
        if (rnd(st) % 5) {
            size_t len = rnd(st) % 40;
            c[i].value = malloc(len + 1);
            for (size_t k = 0; k < len; k++)
                c[i].value[k] = (char)(' ' + rnd(st) % 90);
            c[i].value[len] = '\0';
        }
        switch (rnd(st) % 6) {
        case 0: hlc = rnd(st); break;            /* any jump, even back */
        case 1: hlc += rnd(st) % 70000; break;
        default: break;
        }
        c[i].hlc = hlc;
        if (rnd(st) % 4 == 0) {
            int d = 1 + (int)(rnd(st) % 3);
            have[d] = !have[d] || rnd(st) % 2;
            ctr[d] = 1 + rnd(st) % ((uint64_t)1 << (rnd(st) % 53));
        }
        ctr[0] += rnd(st) % 3 == 0 ? 0 : 1 + rnd(st) % 3;
        c[i].vv.e = calloc(4, sizeof *c[i].vv.e);
        /* devs[] is in strcmp order except the uuid: sort by hand. */
        int order[4] = {3, 0, 1, 2};
        for (int k = 0; k < 4; k++) {
            int d = order[k];
            if (!have[d])
                continue;
            c[i].vv.e[c[i].vv.n].device = strdup(devs[d]);
            c[i].vv.e[c[i].vv.n].counter = ctr[d];
            c[i].vv.n++;
        }
    }
}

static void assert_same(const fdsp_change *a, const fdsp_change *b)
{
    assert_string_equal(a->field, b->field);
    if (a->value)
        assert_string_equal(a->value, b->value);
    else
        assert_null(b->value);
    assert_true(a->hlc == b->hlc);
    assert_int_equal(a->vv.n, b->vv.n);
    for (size_t i = 0; i < a->vv.n; i++) {
        assert_string_equal(a->vv.e[i].device, b->vv.e[i].device);
        assert_true(a->vv.e[i].counter == b->vv.e[i].counter);
    }
}

static void test_round_trip(void **state)
{
    (void)state;
    uint64_t st = 0x9e3779b97f4a7c15ull;
    for (int round = 0; round < 2000; round++) {
        size_t n = 1 + rnd(&st) % 40;
        fdsp_change c[40], back[41];   /* n + 1 for the wrong count */
        make_group(&st, c, n);
        dict d = {{0}, 0};
        fsv_hc_enc e;
        memset(&e, 0, sizeof e);
        for (size_t i = 0; i < n; i++)
            assert_int_equal(fsv_hc_enc_add(&e, &c[i], id_of, &d), FSV_HC_OK);
        size_t from = rnd(&st) % n;
        char err[128];
        int rc = fsv_hc_decode(e.p, e.n, n, from, name_of, &d, back, err,
                               sizeof err);
        if (rc != FSV_HC_OK)
            fail_msg("round %d: %s", round, err);
        for (size_t i = from; i < n; i++) {
            assert_same(&c[i], &back[i - from]);
            fdsp_change_clear(&back[i - from]);
        }
        /* The wrong count is refused, never half-read. */
        assert_int_equal(fsv_hc_decode(e.p, e.n, n + 1, 0, name_of, &d, back,
                                       err, sizeof err), FSV_HC_INVALID);
        if (n > 1)
            assert_int_equal(fsv_hc_decode(e.p, e.n, n - 1, 0, name_of, &d,
                                           back, err, sizeof err),
                             FSV_HC_INVALID);
        /* Damage: every truncation, and flipped bytes. */
        for (size_t cut = 0; cut < e.n; cut++)
            assert_int_equal(fsv_hc_decode(e.p, cut, n, 0, name_of, &d, back,
                                           err, sizeof err), FSV_HC_INVALID);
        unsigned char *dm = malloc(e.n + 1);
        for (int k = 0; k < 20; k++) {
            memcpy(dm, e.p, e.n);
            dm[rnd(&st) % e.n] ^= (unsigned char)(1 + rnd(&st) % 255);
            rc = fsv_hc_decode(dm, e.n, n, 0, name_of, &d, back, err,
                               sizeof err);
            assert_true(rc == FSV_HC_OK || rc == FSV_HC_INVALID);
            if (rc == FSV_HC_OK)
                for (size_t i = 0; i < n; i++)
                    fdsp_change_clear(&back[i]);
            else
                assert_true(err[0] != '\0');
        }
        memcpy(dm, e.p, e.n);
        dm[e.n] = 0;
        assert_int_equal(fsv_hc_decode(dm, e.n + 1, n, 0, name_of, &d, back,
                                       err, sizeof err), FSV_HC_INVALID);
        if (!strstr(err, "bytes after"))
            fail_msg("trailing byte: %s", err);
        free(dm);
        /* A dictionary that lost a name: the body is refused. */
        int64_t keep = d.n;
        d.n = 0;
        assert_int_equal(fsv_hc_decode(e.p, e.n, n, 0, name_of, &d, back, err,
                                       sizeof err), FSV_HC_INVALID);
        assert_non_null(strstr(err, "unknown"));
        d.n = keep;
        for (size_t i = 0; i < n; i++)
            fdsp_change_clear(&c[i]);
        fsv_hc_enc_free(&e);
        dict_free(&d);
    }
}

static void test_refusals(void **state)
{
    (void)state;
    dict d = {{0}, 0};
    int64_t id;
    id_of(&d, "name", &id);
    id_of(&d, "dev-a", &id);
    fdsp_change out[2];
    char err[128];
    /* format 1, flags 0, field 1, hlc 0, vv of 1: (2, counter 0) */
    const unsigned char zero_ctr[] = {1, 0, 1, 0, 1, 2, 0};
    assert_int_equal(fsv_hc_decode(zero_ctr, sizeof zero_ctr, 1, 0, name_of,
                                   &d, out, err, sizeof err), FSV_HC_INVALID);
    assert_non_null(strstr(err, "counter"));
    const unsigned char bad_format[] = {2, 0, 1, 0, 0};
    assert_int_equal(fsv_hc_decode(bad_format, sizeof bad_format, 1, 0,
                                   name_of, &d, out, err, sizeof err),
                     FSV_HC_INVALID);
    const unsigned char first_delta[] = {1, 2, 1, 0};
    assert_int_equal(fsv_hc_decode(first_delta, sizeof first_delta, 1, 0,
                                   name_of, &d, out, err, sizeof err),
                     FSV_HC_INVALID);
    /* vv (dev-a 1, dev-a 2): devices out of order */
    const unsigned char dup[] = {1, 0, 1, 0, 2, 2, 1, 2, 2};
    assert_int_equal(fsv_hc_decode(dup, sizeof dup, 1, 0, name_of, &d, out,
                                   err, sizeof err), FSV_HC_INVALID);
    assert_non_null(strstr(err, "order"));
    /* value length past the end */
    const unsigned char longv[] = {1, 1, 1, 0, 0, 9, 'a'};
    assert_int_equal(fsv_hc_decode(longv, sizeof longv, 1, 0, name_of, &d,
                                   out, err, sizeof err), FSV_HC_INVALID);
    /* an overlong varint */
    const unsigned char over[] = {1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                  0xff, 0xff, 0xff, 0x7f, 0, 0};
    assert_int_equal(fsv_hc_decode(over, sizeof over, 1, 0, name_of, &d, out,
                                   err, sizeof err), FSV_HC_INVALID);
    /* and a good one: name = "x", empty vv */
    const unsigned char good[] = {1, 1, 1, 4, 0, 1, 'x'};
    assert_int_equal(fsv_hc_decode(good, sizeof good, 1, 0, name_of, &d, out,
                                   err, sizeof err), FSV_HC_OK);
    assert_string_equal(out[0].field, "name");
    assert_string_equal(out[0].value, "x");
    assert_true(out[0].hlc == 2);
    fdsp_change_clear(&out[0]);
    dict_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
