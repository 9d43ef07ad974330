/*
** test_vv_merge.c — version vectors and the pure register merge
** (DESIGN.md rules 3, 4 and 5 at the level of one register).
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "internal.h"

/* A change built on the stack: strings are borrowed literals. */
typedef struct ch {
    fdsp_change c;
    fdsp_vv_entry e[4];
} ch;

/* mk(&x, value, device, hlc_ms, "a", 1, "b", 2, NULL) */
static fdsp_change *mk(ch *x, const char *value, const char *device,
                       uint64_t hlc_ms, ...)
{
    memset(x, 0, sizeof *x);
    x->c.table = "customer";
    x->c.record = "r1";
    x->c.field = "name";
    x->c.value = (char *)value;
    x->c.device = (char *)device;
    x->c.user = "u";
    x->c.hlc = hlc_ms << 16;
    va_list ap;
    va_start(ap, hlc_ms);
    const char *d;
    size_t n = 0;
    while ((d = va_arg(ap, const char *)) != NULL && n < 4) {
        x->e[n].device = (char *)d;
        x->e[n].counter = (uint64_t)va_arg(ap, int);
        n++;
    }
    va_end(ap);
    x->c.vv.n = n;
    x->c.vv.e = x->e;
    return &x->c;
}

/* Merge c into *reg in place; returns the outcome. */
static int merge_into(fds_register *reg, const fdsp_change *c)
{
    fds_register out = {0, NULL};
    int outcome = -1;
    assert_int_equal(fds_merge(reg, c, &out, &outcome), FDS_OK);
    fds_register_clear(reg);
    *reg = out;
    return outcome;
}

static char *dump(const fds_register *reg)
{
    char *s = fds__register_dump(reg);
    assert_non_null(s);
    return s;
}

static void test_vv_compare_join(void **state)
{
    (void)state;
    ch a, b, c, d;
    mk(&a, "x", "A", 1, "A", 1, NULL);
    mk(&b, "x", "B", 1, "A", 1, "B", 2, NULL);
    mk(&c, "x", "C", 1, "C", 1, NULL);
    mk(&d, "x", "D", 1, "B", 2, "A", 1, NULL);      /* unsorted input */
    assert_int_equal(fds_vv_compare(&a.c.vv, &a.c.vv), FDS_VV_EQUAL);
    assert_int_equal(fds_vv_compare(&a.c.vv, &b.c.vv), FDS_VV_LESS);
    assert_int_equal(fds_vv_compare(&b.c.vv, &a.c.vv), FDS_VV_GREATER);
    assert_int_equal(fds_vv_compare(&a.c.vv, &c.c.vv), FDS_VV_CONCURRENT);
    assert_int_equal(fds_vv_compare(&b.c.vv, &d.c.vv), FDS_VV_EQUAL);
    fdsp_vv empty = {0, NULL};
    assert_int_equal(fds_vv_compare(&empty, &a.c.vv), FDS_VV_LESS);
    assert_int_equal(fds_vv_compare(&empty, &empty), FDS_VV_EQUAL);

    fdsp_vv j = {0, NULL};
    assert_int_equal(fds_vv_join(&b.c.vv, &c.c.vv, &j), FDS_OK);
    assert_int_equal(j.n, 3);
    assert_string_equal(j.e[0].device, "A");   /* sorted */
    assert_string_equal(j.e[1].device, "B");
    assert_string_equal(j.e[2].device, "C");
    assert_int_equal(fds__vv_get(&j, "B"), 2);
    assert_int_equal(fds_vv_compare(&b.c.vv, &j), FDS_VV_LESS);
    assert_int_equal(fds_vv_compare(&c.c.vv, &j), FDS_VV_LESS);
    char *s = fds__vv_dump(&j);
    assert_string_equal(s, "{\"A\":1,\"B\":2,\"C\":1}");
    free(s);
    fdsp_vv_clear(&j);
}

static void test_merge_outcomes(void **state)
{
    (void)state;
    fds_register reg = {0, NULL};
    ch a1, a2, b1;
    mk(&a1, "one", "A", 100, "A", 1, NULL);
    mk(&a2, "two", "A", 200, "A", 2, NULL);
    mk(&b1, "bee", "B", 150, "B", 1, NULL);

    assert_int_equal(merge_into(&reg, &a1.c), FDS_MERGE_WIN);     /* first */
    assert_int_equal(merge_into(&reg, &a2.c), FDS_MERGE_WIN);     /* dominates */
    assert_int_equal(reg.n, 1);
    assert_string_equal(reg.v[0].value, "two");
    assert_int_equal(merge_into(&reg, &a1.c), FDS_MERGE_NOOP);    /* older */
    assert_int_equal(merge_into(&reg, &a2.c), FDS_MERGE_NOOP);    /* again */
    assert_int_equal(merge_into(&reg, &b1.c), FDS_MERGE_CONFLICT);
    assert_int_equal(reg.n, 2);
    assert_true(fds_register_in_conflict(&reg));
    /* Winner: greater hlc ("two" at 200 beats "bee" at 150). */
    assert_string_equal(reg.v[0].value, "two");
    assert_string_equal(reg.v[1].value, "bee");
    fds_register_clear(&reg);
}

static void test_winner_tie_on_hlc_uses_device(void **state)
{
    (void)state;
    ch a, b;
    mk(&a, "from-a", "A", 100, "A", 1, NULL);
    mk(&b, "from-b", "B", 100, "B", 1, NULL);
    fds_register r1 = {0, NULL}, r2 = {0, NULL};
    merge_into(&r1, &a.c);
    merge_into(&r1, &b.c);
    merge_into(&r2, &b.c);
    merge_into(&r2, &a.c);
    assert_string_equal(r1.v[0].value, "from-b");   /* greater device id */
    char *s1 = dump(&r1), *s2 = dump(&r2);
    assert_string_equal(s1, s2);
    free(s1);
    free(s2);
    fds_register_clear(&r1);
    fds_register_clear(&r2);
}

/* Concurrent identical values stay but are not a conflict to review. */
static void test_identical_values_not_conflict(void **state)
{
    (void)state;
    ch a, b;
    mk(&a, "same", "A", 100, "A", 1, NULL);
    mk(&b, "same", "B", 101, "B", 1, NULL);
    fds_register reg = {0, NULL};
    merge_into(&reg, &a.c);
    assert_int_equal(merge_into(&reg, &b.c), FDS_MERGE_CONFLICT);
    assert_int_equal(reg.n, 2);
    assert_false(fds_register_in_conflict(&reg));
    fds_register_clear(&reg);
}

static void test_idempotent(void **state)
{
    (void)state;
    ch a, b;
    mk(&a, "x", "A", 100, "A", 1, NULL);
    mk(&b, "y", "B", 100, "B", 1, NULL);
    fds_register reg = {0, NULL};
    merge_into(&reg, &a.c);
    merge_into(&reg, &b.c);
    char *s1 = dump(&reg);
    assert_int_equal(merge_into(&reg, &a.c), FDS_MERGE_NOOP);
    assert_int_equal(merge_into(&reg, &b.c), FDS_MERGE_NOOP);
    char *s2 = dump(&reg);
    assert_string_equal(s1, s2);
    free(s1);
    free(s2);
    fds_register_clear(&reg);
}

/* Every permutation of a set of changes gives byte-equal registers. */
static void test_three_way_all_orders(void **state)
{
    (void)state;
    ch x[5];
    mk(&x[0], "a1", "A", 100, "A", 1, NULL);
    mk(&x[1], "b1", "B", 120, "B", 1, NULL);
    mk(&x[2], "c1", "C", 110, "C", 1, NULL);
    mk(&x[3], "a2", "A", 130, "A", 2, "B", 1, NULL); /* A saw b1 */
    mk(&x[4], NULL, "C", 90, "C", 2, NULL);          /* C deleted/cleared */
    int perm[5] = {0, 1, 2, 3, 4};
    char *first = NULL;
    int count = 0;
    /* Heap's algorithm over 5 elements (120 orders), each delivered twice. */
    int c[5] = {0};
    int i = 0;
    for (;;) {
        fds_register reg = {0, NULL};
        for (int k = 0; k < 5; k++)
            merge_into(&reg, &x[perm[k]].c);
        for (int k = 4; k >= 0; k--)
            assert_int_equal(merge_into(&reg, &x[perm[k]].c), FDS_MERGE_NOOP);
        char *s = dump(&reg);
        if (first == NULL) {
            first = s;
            /* a2 supersedes a1 and b1; c2 supersedes c1: two versions. */
            assert_int_equal(reg.n, 2);
            assert_string_equal(reg.v[0].value, "a2");
            assert_null(reg.v[1].value);
        } else {
            assert_string_equal(first, s);
            free(s);
        }
        fds_register_clear(&reg);
        count++;
        while (i < 5 && c[i] >= i) {
            c[i] = 0;
            i++;
        }
        if (i >= 5)
            break;
        int j = (i % 2 == 0) ? 0 : c[i];
        int t = perm[j];
        perm[j] = perm[i];
        perm[i] = t;
        c[i]++;
        i = 1;
    }
    assert_int_equal(count, 120);
    free(first);
}

/* Associativity: merging registers built separately = merging everything. */
static void test_merge_register_sets(void **state)
{
    (void)state;
    ch x[3];
    mk(&x[0], "a", "A", 100, "A", 1, NULL);
    mk(&x[1], "b", "B", 101, "B", 1, NULL);
    mk(&x[2], "c", "C", 102, "C", 1, NULL);
    fds_register left = {0, NULL}, right = {0, NULL}, all = {0, NULL};
    merge_into(&left, &x[0].c);
    merge_into(&right, &x[1].c);
    merge_into(&right, &x[2].c);
    for (size_t k = 0; k < right.n; k++)
        merge_into(&left, &right.v[k]);
    for (int k = 2; k >= 0; k--)
        merge_into(&all, &x[k].c);
    char *s1 = dump(&left), *s2 = dump(&all);
    assert_string_equal(s1, s2);
    assert_int_equal(all.n, 3);
    assert_string_equal(all.v[0].value, "c");
    free(s1);
    free(s2);
    fds_register_clear(&left);
    fds_register_clear(&right);
    fds_register_clear(&all);
}

/* A write that saw both sides dominates them: the conflict is settled. */
static void test_dominating_write_settles(void **state)
{
    (void)state;
    ch a, b, r;
    mk(&a, "alpha", "A", 100, "A", 1, NULL);
    mk(&b, "beta", "B", 100, "B", 1, NULL);
    mk(&r, "resolved", "A", 90, "A", 2, "B", 1, NULL);  /* even older clock */
    fds_register reg = {0, NULL};
    merge_into(&reg, &a.c);
    merge_into(&reg, &b.c);
    assert_true(fds_register_in_conflict(&reg));
    assert_int_equal(merge_into(&reg, &r.c), FDS_MERGE_WIN);
    assert_int_equal(reg.n, 1);
    assert_false(fds_register_in_conflict(&reg));
    assert_string_equal(reg.v[0].value, "resolved");
    /* The losing side arriving late changes nothing. */
    assert_int_equal(merge_into(&reg, &b.c), FDS_MERGE_NOOP);
    fds_register_clear(&reg);

    /* fds_register_vv: what a new local write extends. */
    fds_register two = {0, NULL};
    merge_into(&two, &a.c);
    merge_into(&two, &b.c);
    fdsp_vv j = {0, NULL};
    assert_int_equal(fds_register_vv(&two, &j), FDS_OK);
    assert_int_equal(fds__vv_get(&j, "A"), 1);
    assert_int_equal(fds__vv_get(&j, "B"), 1);
    fdsp_vv_clear(&j);
    fds_register_clear(&two);
}

/* Rule 5: a delete concurrent with an edit is a conflict like any other. */
static void test_delete_vs_edit_conflict(void **state)
{
    (void)state;
    ch del, edit;
    mk(&del, "1", "A", 200, "A", 2, NULL);
    del.c.field = "deleted";
    mk(&edit, "0", "B", 150, "B", 1, NULL);
    edit.c.field = "deleted";
    fds_register reg = {0, NULL};
    merge_into(&reg, &del.c);
    assert_int_equal(merge_into(&reg, &edit.c), FDS_MERGE_CONFLICT);
    assert_true(fds_register_in_conflict(&reg));
    assert_string_equal(reg.v[0].value, "1");
    fds_register_clear(&reg);
}

static void test_json_roundtrip(void **state)
{
    (void)state;
    ch a, b;
    mk(&a, "张三", "A", 100, "A", 3, "B", 1, NULL);
    mk(&b, NULL, "B", 101, "B", 2, NULL);
    fds_register reg = {0, NULL};
    merge_into(&reg, &a.c);
    merge_into(&reg, &b.c);
    json_t *j = fds_register_to_json(&reg);
    assert_non_null(j);
    fds_register back = {0, NULL};
    assert_int_equal(fds_register_from_json(j, &back), FDS_OK);
    char *s1 = dump(&reg), *s2 = dump(&back);
    assert_string_equal(s1, s2);
    assert_non_null(strstr(s1, "\"vv\":{\"A\":3,\"B\":1}"));
    free(s1);
    free(s2);
    json_decref(j);
    fds_register_clear(&back);
    fds_register_clear(&reg);

    /* Malformed registers are refused, not trusted. */
    const char *bad[] = {"{}", "[1]", "[{\"d\":1,\"h\":1,\"vv\":{}}]",
                         "[{\"d\":\"A\",\"h\":1,\"vv\":{\"A\":0}}]",
                         "[{\"d\":\"A\",\"h\":1,\"v\":3,\"vv\":{}}]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *x = json_loads(bad[i], 0, NULL);
        assert_non_null(x);
        fds_register r = {0, NULL};
        assert_int_not_equal(fds_register_from_json(x, &r), FDS_OK);
        assert_int_equal(r.n, 0);
        json_decref(x);
    }
    fds_register_clear(NULL);
}

static void test_hlc(void **state)
{
    (void)state;
    uint64_t t = fds_hlc_next(0, 1000);
    assert_int_equal(t, (uint64_t)1000 << 16);
    uint64_t u = fds_hlc_next(t, 1000);        /* same ms: logical + 1 */
    assert_int_equal(u, t + 1);
    uint64_t v = fds_hlc_next(u, 500);         /* clock went back: still up */
    assert_true(v > u);
    uint64_t w = fds_hlc_recv(v, (uint64_t)5000 << 16, 1000);
    assert_true(w > ((uint64_t)5000 << 16));
    assert_true(fds_hlc_next(w, 1000) > w);
    assert_int_equal(fds_hlc_recv(w, 0, 9000), (uint64_t)9000 << 16);
    assert_int_equal(fds_hlc_next(0, -5), 1);
}

/* Rule 14: a received time never moves the clock past the wall clock plus
** FDS_CLOCK_BOUND_MS; within the bound the usual rule holds. */
static void test_hlc_recv_bounded(void **state)
{
    (void)state;
    const int64_t now = 1700000000000;
    const uint64_t cap = (uint64_t)(now + FDS_CLOCK_BOUND_MS) << 16;
    uint64_t last = (uint64_t)now << 16;
    /* a year ahead, or hostile: the bound, not the remote time */
    uint64_t year = (uint64_t)(now + 365LL * 86400000) << 16;
    assert_int_equal(fds_hlc_recv(last, year, now), cap);
    assert_int_equal(fds_hlc_recv(1, UINT64_MAX, 0),
                     (uint64_t)FDS_CLOCK_BOUND_MS << 16);
    /* just inside the bound: the remote time plus one */
    uint64_t near = cap - 10;
    assert_int_equal(fds_hlc_recv(last, near, now), near + 1);
    /* a clock already past the bound (its own writes before the wall
    ** clock was set back) stays where it is */
    uint64_t past = cap + 1000;
    assert_int_equal(fds_hlc_recv(past, year, now), past);
    assert_true(fds_hlc_recv(past, 0, now) >= past);
    /* and a local write after it still moves on */
    assert_true(fds_hlc_next(fds_hlc_recv(last, year, now), now) > cap);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vv_compare_join),
        cmocka_unit_test(test_hlc_recv_bounded),
        cmocka_unit_test(test_merge_outcomes),
        cmocka_unit_test(test_winner_tie_on_hlc_uses_device),
        cmocka_unit_test(test_identical_values_not_conflict),
        cmocka_unit_test(test_idempotent),
        cmocka_unit_test(test_three_way_all_orders),
        cmocka_unit_test(test_merge_register_sets),
        cmocka_unit_test(test_dominating_write_settles),
        cmocka_unit_test(test_delete_vs_edit_conflict),
        cmocka_unit_test(test_json_roundtrip),
        cmocka_unit_test(test_hlc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
