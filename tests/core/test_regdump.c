/*
** test_regdump.c — the hand-built canonical JSON of registers and version
** vectors (vv.c, merge.c) is byte for byte what jansson makes of
** fds_register_to_json / fds__vv_to_json with JSON_COMPACT | JSON_SORT_KEYS.
** Replicas compare registers as bytes, so one differing escape would show
** as a false difference between replicas that agree.
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

static void assert_same_register(const fds_register *reg)
{
    char *fast = fds__register_dump(reg);
    char *ref = fds__register_dump_jansson(reg);
    assert_non_null(fast);
    assert_non_null(ref);
    assert_string_equal(fast, ref);
    free(fast);
    free(ref);
}

static void assert_same_vv(const fdsp_vv *vv)
{
    char *fast = fds__vv_dump(vv);
    char *ref = fds__vv_dump_jansson(vv);
    assert_non_null(fast);
    assert_non_null(ref);
    assert_string_equal(fast, ref);
    free(fast);
    free(ref);
}

/* Values that exercise every escape jansson makes and some it does not. */
static const char *const values[] = {
    "", "plain", "客户 张三 — 电话回访：确认了报价", "quote \" and \\ backslash",
    "slash / stays", "\b\f\n\r\t", "\x01\x02\x1f\x7f", "emoji \xF0\x9F\x98\x80",
    "tab\there", "{\"json\":[1,2]}", "\xE2\x80\xA8 line separator", NULL,
};

static void one_version_every_value(void **state)
{
    (void)state;
    fdsp_vv_entry e[2] = {{"dev-a", 1}, {"dev-b", UINT64_C(123456789012)}};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        fdsp_change c;
        memset(&c, 0, sizeof c);
        c.value = (char *)values[i];
        c.device = "dev-b";
        c.user = "用户\"x\"";
        c.hlc = UINT64_C(0x0001234567890001);
        c.vv.n = 2;
        c.vv.e = e;
        fds_register reg = {1, &c};
        assert_same_register(&reg);
        assert_same_vv(&c.vv);
    }
}

static void control_characters(void **state)
{
    (void)state;
    char v[40];
    for (int ch = 1; ch < 0x20; ch++) {
        snprintf(v, sizeof v, "a%cb%c", ch, ch);
        fdsp_vv_entry e = {"d", (uint64_t)ch};
        fdsp_change c;
        memset(&c, 0, sizeof c);
        c.value = v;
        c.device = "d";
        c.user = "";
        c.hlc = (uint64_t)ch;
        c.vv.n = 1;
        c.vv.e = &e;
        fds_register reg = {1, &c};
        assert_same_register(&reg);
    }
}

static void conflicts_and_nulls(void **state)
{
    (void)state;
    fdsp_vv_entry e1[1] = {{"a", 3}}, e2[2] = {{"a", 2}, {"b", 7}};
    fdsp_change v[3];
    memset(v, 0, sizeof v);
    v[0].value = "mine";  v[0].device = "a"; v[0].user = "u1"; v[0].hlc = 9;
    v[0].vv.n = 1; v[0].vv.e = e1;
    v[1].value = NULL;    v[1].device = "b"; v[1].user = NULL; v[1].hlc = 8;
    v[1].vv.n = 2; v[1].vv.e = e2;
    v[2].value = "third"; v[2].device = NULL; v[2].user = "u3"; v[2].hlc = 0;
    v[2].vv.n = 0; v[2].vv.e = NULL;
    for (size_t n = 0; n <= 3; n++) {
        fds_register reg = {n, n ? v : NULL};
        assert_same_register(&reg);
    }
    fdsp_vv empty = {0, NULL};
    assert_same_vv(&empty);
}

/* What the hand encoder cannot vouch for goes the jansson way: the bytes
** are still the reference's (an invalid UTF-8 value dumps as null there). */
static void fallbacks(void **state)
{
    (void)state;
    fdsp_vv_entry unsorted[2] = {{"z", 1}, {"a", 2}};
    fdsp_change c;
    memset(&c, 0, sizeof c);
    c.value = "bad \xC3\x28 utf8";
    c.device = "z";
    c.user = "u";
    c.hlc = 1;
    c.vv.n = 2;
    c.vv.e = unsorted;
    fds_register reg = {1, &c};
    assert_same_register(&reg);
    assert_same_vv(&c.vv);
    c.value = "\xED\xA0\x80";           /* a surrogate: not UTF-8 */
    assert_same_register(&reg);
    c.value = "\xC0\xAF";               /* overlong */
    assert_same_register(&reg);
}

static void utf8_check_matches_jansson(void **state)
{
    (void)state;
    const char *cases[] = {
        "abc", "\xC3\xA9", "\xE4\xB8\xAD", "\xF0\x9F\x98\x80", "\xF4\x8F\xBF\xBF",
        "\xF4\x90\x80\x80", "\xC0\x80", "\xC1\xBF", "\xE0\x9F\xBF", "\xED\xA0\x80",
        "\xF0\x8F\xBF\xBF", "\xF5\x80\x80\x80", "\x80", "\xC3", "\xE4\xB8",
        "\xFF", "ok\xC3\xA9ok",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *j = json_stringn(cases[i], strlen(cases[i]));
        assert_int_equal(fds__utf8_valid(cases[i], strlen(cases[i])), j != NULL);
        json_decref(j);
    }
}

/* Registers written through the replica (local writes, remote applies,
** conflicts) are stored as the reference bytes. */
static void stored_registers_are_canonical(void **state)
{
    (void)state;
    test_env t;
    test_env_init(&t, 1700000000000, 7);
    fds_replica *r = test_open(&t);
    json_t *f = json_pack("{s:s, s:s, s:n}", "name", "张三 \"q\"\n",
                          "phone", "+86\t1", "notes");
    assert_int_equal(fds__write(r, "customer", "c1", f), FDS_OK);
    json_decref(f);
    fdsp_vv_entry e = {"other-device", 5};
    fdsp_change c;
    memset(&c, 0, sizeof c);
    c.table = "customer";
    c.record = "c1";
    c.field = "name";
    c.value = "李四";
    c.device = "other-device";
    c.user = "bob";
    c.hlc = 1;
    c.vv.n = 1;
    c.vv.e = &e;
    int outcome;
    assert_int_equal(fds__apply(r, &c, &outcome), FDS_OK);
    assert_int_equal(outcome, FDS_MERGE_CONFLICT);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(r->db, "SELECT tbl, rid, field, "
                     "versions FROM reg", -1, &st, NULL), SQLITE_OK);
    int rows = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        fds_register reg = {0, NULL};
        assert_int_equal(fds__reg_load(r, (const char *)sqlite3_column_text(st, 0),
                                       (const char *)sqlite3_column_text(st, 1),
                                       (const char *)sqlite3_column_text(st, 2),
                                       &reg), FDS_OK);
        char *ref = fds__register_dump_jansson(&reg);
        assert_string_equal((const char *)sqlite3_column_text(st, 3), ref);
        free(ref);
        fds_register_clear(&reg);
        rows++;
    }
    sqlite3_finalize(st);
    assert_int_equal(rows, 3);
    fds_replica_close(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_version_every_value),
        cmocka_unit_test(control_characters),
        cmocka_unit_test(conflicts_and_nulls),
        cmocka_unit_test(fallbacks),
        cmocka_unit_test(utf8_check_matches_jansson),
        cmocka_unit_test(stored_registers_are_canonical),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
