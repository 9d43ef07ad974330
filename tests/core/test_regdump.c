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

/* fds_register_parse gives what jansson + fds_register_from_json give, for
** canonical text (fast path) and for any other JSON (fallback). */
static void assert_parse_matches(const char *text)
{
    fds_register fast = {0, NULL}, ref = {0, NULL};
    json_t *j = json_loads(text, 0, NULL);
    int rref = j ? fds_register_from_json(j, &ref) : FDS_INVALID;
    json_decref(j);
    int rfast = fds_register_parse(text, &fast);
    assert_int_equal(rfast, rref);
    if (rref == FDS_OK) {
        char *a = fds__register_dump_jansson(&fast);
        char *b = fds__register_dump_jansson(&ref);
        assert_non_null(a);
        assert_non_null(b);
        assert_string_equal(a, b);
        free(a);
        free(b);
    }
    fds_register_clear(&fast);
    fds_register_clear(&ref);
}

static void parse_round_trip(void **state)
{
    (void)state;
    fdsp_vv_entry e1[2] = {{"a", 3}, {"b", 1}}, e2[1] = {{"b", 9}};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        fdsp_change v[2];
        memset(v, 0, sizeof v);
        v[0].value = (char *)values[i]; v[0].device = "a"; v[0].user = "u\n1";
        v[0].hlc = UINT64_C(0x8000000000000001);      /* prints negative */
        v[0].vv.n = 2; v[0].vv.e = e1;
        v[1].value = "其他"; v[1].device = "b"; v[1].user = "";
        v[1].hlc = 5; v[1].vv.n = 1; v[1].vv.e = e2;
        for (size_t n = 1; n <= 2; n++) {
            fds_register reg = {n, v};
            char *text = fds__register_dump(&reg);
            assert_non_null(text);
            assert_parse_matches(text);
            fds_register back = {0, NULL};
            assert_int_equal(fds_register_parse(text, &back), FDS_OK);
            char *again = fds__register_dump(&back);
            assert_string_equal(text, again);
            free(again);
            fds_register_clear(&back);
            free(text);
        }
    }
}

static void parse_other_json(void **state)
{
    (void)state;
    const char *cases[] = {
        "[]", " [ ] ", "[{\"d\":\"a\",\"h\":1,\"u\":\"x\",\"v\":\"\\u00e9\\/\","
        "\"vv\":{\"a\":1}}]",
        "[{\"vv\":{\"a\":1},\"v\":null,\"u\":\"x\",\"h\":1,\"d\":\"a\"}]",
        "[{\"d\":\"a\",\"h\":1,\"vv\":{\"a\":1}}]",
        "[{\"d\":\"a\",\"h\":1,\"u\":\"x\",\"v\":\"\\ud83d\\ude00\",\"vv\":{\"a\":1}}]",
        "[{\"d\":\"a\",\"h\":1,\"u\":\"x\",\"v\":\"\\u0000\",\"vv\":{\"a\":1}}]",
        "[{\"d\":\"a\",\"h\":1,\"u\":\"x\",\"v\":null,\"vv\":{\"b\":1,\"a\":2}}]",
        "[{\"d\":\"a\",\"h\":1,\"u\":\"x\",\"v\":null,\"vv\":{\"a\":0}}]",
        "[{\"d\":\"a\",\"h\":1.5,\"u\":\"x\",\"v\":null,\"vv\":{\"a\":1}}]",
        "[{\"d\":\"a\",\"h\":01,\"u\":\"x\",\"v\":null,\"vv\":{\"a\":1}}]",
        "[{\"d\":\"a\",\"h\":99999999999999999999,\"u\":\"x\",\"v\":null,"
        "\"vv\":{\"a\":1}}]",
        "[{\"d\":\"a\",\"h\":1,\"u\":\"x\",\"v\":null,\"vv\":{\"a\":1}}] x",
        "[{\"d\":\"a\",\"h\":1,\"u\":\"x\",\"v\":null,\"vv\":{\"a\":1}}",
        "[{\"d\":\"a\\x\",\"h\":1,\"u\":\"x\",\"v\":null,\"vv\":{\"a\":1}}]",
        "[{\"d\":\"a\",\"h\":1,\"u\":\"x\",\"v\":\"tab\there\",\"vv\":{\"a\":1}}]",
        "[{\"d\":\"\xC3\x28\",\"h\":1,\"u\":\"x\",\"v\":null,\"vv\":{\"a\":1}}]",
        "{}", "", "[1]", "[{}]", "nul",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_parse_matches(cases[i]);
}

static void vv_parse_matches(void **state)
{
    (void)state;
    const char *cases[] = {
        "{}", "{\"a\":1}", "{\"a\":1,\"b\":9223372036854775807}", "{\"b\":1,\"a\":2}",
        "{\"a\":0}", "{\"\":1}", "{\"a\":-1}", "{\"a\":1} ", "{\"a\":\"1\"}", "[]",
        "{\"a\":1,\"a\":2}",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fdsp_vv fast = {0, NULL}, ref = {0, NULL};
        json_t *j = json_loads(cases[i], 0, NULL);
        int rref = j ? fds__vv_from_json(j, &ref) : FDS_INVALID;
        json_decref(j);
        assert_int_equal(fds_vv_parse(cases[i], &fast), rref);
        if (rref == FDS_OK) {
            char *a = fds__vv_dump_jansson(&fast), *b = fds__vv_dump_jansson(&ref);
            assert_string_equal(a, b);
            free(a);
            free(b);
        }
        fdsp_vv_clear(&fast);
        fdsp_vv_clear(&ref);
    }
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
        cmocka_unit_test(parse_round_trip),
        cmocka_unit_test(parse_other_json),
        cmocka_unit_test(vv_parse_matches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
