/*
** test_recpack.c — the packed record row (core/src/recpack.c) against the
** plain JSON register form.
**
**  - differential: random records (random devices, UUID-shaped or not,
**    users, null and Unicode values, any 64-bit hlc, vectors up to 8
**    entries, up to 5 versions a field) encode and decode back to
**    registers whose canonical JSON (fds_register_dump, and jansson's
**    fds_register_to_json as the reference) is byte-equal to the
**    original's, and vals is json_dumps(JSON_COMPACT | JSON_SORT_KEYS) of
**    {field: winner}; encoding the decoded record gives the same bytes;
**  - damage: every truncation of a row and every single-byte change is
**    either decoded to a record that re-encodes cleanly or refused as
**    FDS_INVALID (never a crash, never half a record), and the replica's
**    message names the record (FDS_DB, issue 10).
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "internal.h"
#include "testenv.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static char *rand_device(void)
{
    static const char *const fixed[] = {"dev-a", "dev-b", "z", "设备-甲"};
    char buf[40];
    if (next() % 3 == 0)
        return strdup(fixed[next() % 4]);
    snprintf(buf, sizeof buf, "%08x-%04x-4%03x-%04x-%012llx",
             (unsigned)next(), (unsigned)(next() & 0xffff),
             (unsigned)(next() & 0xfff), (unsigned)(next() & 0xffff),
             (unsigned long long)(next() & 0xffffffffffffull));
    if (next() % 8 == 0)
        buf[3] = 'A';               /* upper case: kept as text, not packed */
    return strdup(buf);
}

static char *rand_value(void)
{
    static const char *const vals[] = {
        "", "a", "13800138000", "张伟", "line\nbreak \"quoted\" \\ tab\t",
        "\x01\x1f control", "emoji \xf0\x9f\x98\x80", "1", "0",
    };
    if (next() % 5 == 0)
        return NULL;
    return strdup(vals[next() % (sizeof vals / sizeof vals[0])]);
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const fdsp_vv_entry *)a)->device,
                  ((const fdsp_vv_entry *)b)->device);
}

static void rand_register(fds_register *reg, char **devs, size_t ndev)
{
    reg->n = 1 + next() % 5;
    reg->v = calloc(reg->n, sizeof *reg->v);
    assert_non_null(reg->v);
    for (size_t i = 0; i < reg->n; i++) {
        fdsp_change *v = &reg->v[i];
        v->device = strdup(devs[next() % ndev]);
        v->user = strdup(next() % 4 ? "alice" : (next() % 2 ? "" : "鲍勃"));
        v->value = rand_value();
        v->hlc = next() % 2 ? next() : ((uint64_t)1700000000000 << 16) +
                                       next() % 1000;
        size_t n = 1 + next() % (ndev < 8 ? ndev : 8);
        v->vv.e = calloc(n, sizeof *v->vv.e);
        assert_non_null(v->vv.e);
        /* distinct devices, sorted */
        size_t start = next() % ndev;
        for (size_t k = 0; k < n; k++) {
            v->vv.e[k].device = strdup(devs[(start + k) % ndev]);
            v->vv.e[k].counter = 1 + next() % (next() % 2 ? 100
                                                          : (1ull << 53));
        }
        v->vv.n = n;
        qsort(v->vv.e, n, sizeof *v->vv.e, cmp_entry);
    }
}

static void rand_record(fds__rec *rec)
{
    static const char *const fields[] = {
        "name", "phone", "customer", "deleted", "f.budget", "notes", "at",
        "content", "f.预算", "method",
    };
    char *devs[6];
    size_t ndev = 1 + next() % 6;
    for (size_t i = 0; i < ndev; i++)
        devs[i] = rand_device();
    /* distinct device texts (a duplicate would make a vector unsorted) */
    for (size_t i = 1; i < ndev; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(devs[i], devs[j]) == 0) {
                free(devs[i]);
                devs[i] = devs[--ndev];
                i--;
                break;
            }
    memset(rec, 0, sizeof *rec);
    size_t nf = 1 + next() % 10;
    for (size_t i = 0; i < nf; i++) {
        fds_register reg;
        rand_register(&reg, devs, ndev);
        assert_int_equal(fds__rec_put(rec, fields[next() % 10], &reg),
                         FDS_OK);
    }
    for (size_t i = 0; i < ndev; i++)
        free(devs[i]);
}

/* vals as jansson would write it. */
static char *vals_reference(const fds__rec *rec)
{
    json_t *o = json_object();
    for (size_t i = 0; i < rec->n; i++) {
        const char *w = rec->f[i].reg.v[0].value;
        json_object_set_new(o, rec->f[i].name, w ? json_string(w)
                                                 : json_null());
    }
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return s;
}

static void assert_same_record(const fds__rec *a, const fds__rec *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        assert_string_equal(a->f[i].name, b->f[i].name);
        char *x = fds__register_dump(&a->f[i].reg);
        char *y = fds__register_dump(&b->f[i].reg);
        char *z = fds__register_dump_jansson(&b->f[i].reg);
        assert_non_null(x);
        assert_non_null(y);
        assert_string_equal(x, y);
        assert_string_equal(x, z);
        free(x);
        free(y);
        free(z);
    }
}

/* The sums scan's borrowing decode: the same verdict as fds__rec_decode
** and, when it decodes, the same registers (so the same canonical text). */
static void check_view(const char *vals, size_t vlen, const unsigned char *m,
                       size_t mlen, int rc, const fds__rec *full)
{
    fds__rec view;
    fds__rec_strs strs;
    const char *why = NULL;
    memset(&view, 0, sizeof view);
    assert_int_equal(fds__rec_decode_view(vals, vlen, m, mlen, &view, &why,
                                          &strs), rc);
    if (rc == FDS_OK)
        assert_same_record(full, &view);
    else
        assert_int_equal(view.n, 0);
    fds__rec_clear_view(&view, &strs);
}

static void test_round_trip_random(void **state)
{
    (void)state;
    fds__buf vals = {0}, meta = {0}, vals2 = {0}, meta2 = {0};
    for (int iter = 0; iter < 3000; iter++) {
        fds__rec rec, back;
        rand_record(&rec);
        assert_int_equal(fds__rec_encode(&rec, &vals, &meta), FDS_OK);
        char *ref = vals_reference(&rec);
        assert_int_equal(vals.n, strlen(ref));
        assert_memory_equal(vals.p, ref, vals.n);
        free(ref);
        /* vals is NUL-terminated text when read back from SQLite */
        fds__buf_put(&vals, "", 1);
        const char *why = NULL;
        memset(&back, 0, sizeof back);
        assert_int_equal(fds__rec_decode(vals.p, vals.n - 1,
                                         (const unsigned char *)meta.p,
                                         meta.n, &back, &why), FDS_OK);
        assert_same_record(&rec, &back);
        check_view(vals.p, vals.n - 1, (const unsigned char *)meta.p, meta.n,
                   FDS_OK, &rec);
        assert_int_equal(fds__rec_encode(&back, &vals2, &meta2), FDS_OK);
        assert_int_equal(meta.n, meta2.n);
        assert_memory_equal(meta.p, meta2.p, meta.n);
        fds__rec_clear(&rec);
        fds__rec_clear(&back);
    }
    free(vals.p);
    free(meta.p);
    free(vals2.p);
    free(meta2.p);
}

/* Decoding damaged bytes: refused, or a record that re-encodes. */
static void try_decode(const char *vals, size_t vlen, const unsigned char *m,
                       size_t mlen, int *refused)
{
    fds__rec back;
    const char *why = NULL;
    memset(&back, 0, sizeof back);
    char *v = malloc(vlen + 1);
    assert_non_null(v);
    memcpy(v, vals, vlen);
    v[vlen] = '\0';
    int rc = fds__rec_decode(v, vlen, m, mlen, &back, &why);
    check_view(v, vlen, m, mlen, rc, &back);
    if (rc == FDS_OK) {
        fds__buf a = {0}, b = {0};
        assert_int_equal(fds__rec_encode(&back, &a, &b), FDS_OK);
        free(a.p);
        free(b.p);
    } else {
        assert_int_equal(rc, FDS_INVALID);
        assert_non_null(why);
        assert_int_equal(back.n, 0);
        (*refused)++;
    }
    fds__rec_clear(&back);
    free(v);
}

static void test_damage_refused(void **state)
{
    (void)state;
    fds__buf vals = {0}, meta = {0};
    int refused = 0;
    for (int iter = 0; iter < 40; iter++) {
        fds__rec rec;
        rand_record(&rec);
        assert_int_equal(fds__rec_encode(&rec, &vals, &meta), FDS_OK);
        unsigned char *m = malloc(meta.n);
        assert_non_null(m);
        for (size_t cut = 0; cut < meta.n; cut++) {
            memcpy(m, meta.p, meta.n);
            try_decode(vals.p, vals.n, m, cut, &refused);
        }
        for (size_t cut = 0; cut < vals.n; cut++)
            try_decode(vals.p, cut, (const unsigned char *)meta.p, meta.n,
                       &refused);
        for (size_t i = 0; i < meta.n; i++) {
            memcpy(m, meta.p, meta.n);
            m[i] ^= (unsigned char)(1 + next() % 255);
            try_decode(vals.p, vals.n, m, meta.n, &refused);
        }
        free(m);
        fds__rec_clear(&rec);
    }
    assert_true(refused > 1000);
    free(vals.p);
    free(meta.p);
}

/* A damaged row in a replica: FDS_DB naming the record, for reads and
** writes alike; the row is not overwritten. */
static void test_damaged_row_names_record(void **state)
{
    (void)state;
    test_env t;
    test_env_init(&t, 1700000000000, 7);
    fds_replica *r = test_open(&t);
    assert_int_equal(fds__write1(r, "customer", "c1", "name", "Ann"), FDS_OK);
    assert_int_equal(sqlite3_exec(r->db, "UPDATE rec SET meta = "
                                  "substr(meta, 1, length(meta) - 1)",
                                  NULL, NULL, NULL), SQLITE_OK);
    fds_register reg = {0, NULL};
    assert_int_equal(fds__reg_load(r, "customer", "c1", "name", &reg), FDS_DB);
    assert_non_null(strstr(fds_errmsg(r), "record customer/c1 is corrupt"));
    assert_int_equal(fds__write1(r, "customer", "c1", "phone", "1"), FDS_DB);
    assert_non_null(strstr(fds_errmsg(r), "record customer/c1 is corrupt"));
    fds_replica_close(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_random),
        cmocka_unit_test(test_damage_refused),
        cmocka_unit_test(test_damaged_row_names_record),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
