/*
** test_office_keys.c — office.c, what the server's office view takes from
** core: fds_name_key orders names as `LC_ALL=zh_CN.UTF-8 sort` (glibc's
** pinyin collation, the CLI's order) does; fds_customer_from_values gives
** the customer object the replica gives; fds_pinyin_match is search's
** rule.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fieldsync.h"

typedef struct keyed {
    const char *name;
    unsigned char key[256];
    size_t n;
} keyed;

static int cmp(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    size_t n = x->n < y->n ? x->n : y->n;
    int d = memcmp(x->key, y->key, n);
    return d ? d : (x->n > y->n) - (x->n < y->n);
}

static void test_name_order(void **state)
{
    (void)state;
    /* `printf '%s\n' ... | LC_ALL=zh_CN.UTF-8 sort` on Debian 12 */
    const char *want[] = {"阿里", "李雷", "连城", "王芳", "张三", "张伟", "赵六",
                          "acme", "Acme 李", "beta", "Zeta"};
    size_t n = sizeof want / sizeof want[0];
    keyed k[16];
    for (size_t i = 0; i < n; i++) {
        k[i].name = want[n - 1 - i];                /* reversed */
        k[i].n = fds_name_key(k[i].name, k[i].key, sizeof k[i].key);
        assert_true(k[i].n <= sizeof k[i].key);
    }
    qsort(k, n, sizeof k[0], cmp);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(k[i].name, want[i]);
    /* The full length is returned when the buffer is short. */
    unsigned char small[4];
    assert_true(fds_name_key("张伟", small, sizeof small) > sizeof small);
    assert_true(fds_name_key(NULL, small, sizeof small) == 1);
}

static void test_customer_from_values(void **state)
{
    (void)state;
    json_t *v = json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", "张伟", "amount",
                          "480000", "expected_close", "2027-03-31", "f.seats",
                          "20", "tags", "[\"vip\"]");
    json_t *c = NULL;
    assert_int_equal(fds_customer_from_values("c1", v, &c), FDS_OK);
    assert_string_equal(json_string_value(json_object_get(c, "id")), "c1");
    assert_int_equal(json_integer_value(json_object_get(c, "amount")), 480000);
    assert_string_equal(json_string_value(json_object_get(json_object_get(c, "fields"),
                                                          "seats")), "20");
    assert_string_equal(json_string_value(json_array_get(json_object_get(c, "tags"), 0)),
                        "vip");
    json_decref(c);
    assert_int_equal(fds_customer_from_values("c1", NULL, &c), FDS_INVALID);
    json_decref(v);
    assert_true(fds_pinyin_match("张伟", "zw"));
    assert_true(fds_pinyin_match("张伟", "zhangwei"));
    assert_false(fds_pinyin_match("张伟", "lw"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_order),
        cmocka_unit_test(test_customer_from_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
