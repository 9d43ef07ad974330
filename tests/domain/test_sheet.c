/*
** test_sheet.c — the library half of issue 13: corrections through the
** API (only changed fields are written), the pinyin matcher, list sorts
** and activity columns, record labels, amount validation, the device's
** role refusing definitions.  The CLI half is tests/cli/test_sheet.c.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "domain.h"
#include "domtest.h"
#include "pinyin.h"

#define START 1795858200000LL      /* 2026-11-28T09:30:00Z */

static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static void pinyin_matcher(void **state)
{
    (void)state;
    static const struct { const char *text, *query; int want; } cases[] = {
        {"张伟", "zw", 1},        {"张伟", "zhangwei", 1}, {"张伟", "ZhangW", 1},
        {"张伟", "zhang wei", 1}, {"张伟", "wei", 1},      {"张伟", "zwei", 1},
        {"张伟", "wz", 0},        {"张伟", "zhangx", 0},   {"张伟", "zwx", 0},
        {"曾小贤", "zxx", 1},     {"曾小贤", "cxx", 1},     /* 曾 zeng / ceng */
        {"欧阳娜娜", "oynn", 1},  {"欧阳娜娜", "yangna", 1},
        {"Bob 张", "bob", 1},     {"Bob 张", "z", 1},       {"Bob 张", "bz", 0},
        {"张伟", "z1", 0},        {"张伟", "", 0},          {"", "z", 0},
        {"\xff\xfe张", "z", 1},  /* bad bytes are skipped, not read past */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (fds__pinyin_match(cases[i].text, cases[i].query) != cases[i].want)
            fail_msg("\"%s\" ~ \"%s\": want %d", cases[i].text, cases[i].query,
                     cases[i].want);
    assert_true(fds__pinyin_query("zw"));
    assert_false(fds__pinyin_query("13800"));
    assert_false(fds__pinyin_query("张"));
    assert_false(fds__pinyin_query("   "));
}

static void corrections_write_only_changes(void **state)
{
    (void)state;
    dom_env e;
    fds_replica *r = dom_open(&e, START, "alice");
    char id[FDSP_MAX_ID + 1];
    dom_add(r, "{\"name\":\"刘洋\",\"company\":\"华星科技\"}", id);
    json_t *in = dom_json("{\"method\":\"上门拜访\",\"content\":\"演示\"}"), *fu = NULL;
    assert_int_equal(fds_followup_add(r, id, in, &fu), FDS_OK);
    json_decref(in);
    assert_string_equal(str(fu, "method"), "visit");
    char fid[FDSP_MAX_ID + 1];
    snprintf(fid, sizeof fid, "%s", str(fu, "id"));
    json_decref(fu);
    int64_t logs = dom_count(r, "log");
    json_t *out = NULL;
    in = dom_json("{\"content\":\"演示\",\"method\":\"visit\"}");   /* the same */
    assert_int_equal(fds_followup_edit(r, fid, in, &out), FDS_OK);
    json_decref(in);
    json_decref(out);
    assert_int_equal(dom_count(r, "log"), logs);
    in = dom_json("{\"result\":\"下周报价\"}");
    assert_int_equal(fds_followup_edit(r, fid, in, &out), FDS_OK);
    json_decref(in);
    assert_string_equal(str(out, "result"), "下周报价");
    assert_string_equal(str(out, "content"), "演示");
    json_decref(out);
    assert_true(dom_count(r, "log") > logs);   /* result (and deleted = "0") */
    in = dom_json("{\"content\":null}");
    assert_int_equal(fds_followup_edit(r, fid, in, NULL), FDS_INVALID);
    json_decref(in);
    in = dom_json("{\"bogus\":1}");
    assert_int_equal(fds_followup_edit(r, fid, in, NULL), FDS_INVALID);
    json_decref(in);
    /* the label of a child names its customer */
    char *label = NULL;
    assert_int_equal(fds_record_label(r, "followup", fid, &label), FDS_OK);
    assert_string_equal(label, "follow-up of 刘洋 (华星科技)");
    fds_free(label);
    assert_int_equal(fds_followup_delete(r, fid, NULL), FDS_OK);
    assert_int_equal(fds_followup_delete(r, fid, NULL), FDS_NOTFOUND);
    assert_int_equal(fds_record_label(r, "customer", id, &label), FDS_OK);
    assert_string_equal(label, "刘洋 (华星科技)");
    fds_free(label);
    assert_int_equal(fds_record_label(r, "fielddef", "budget", &label), FDS_OK);
    assert_string_equal(label, "field definition budget");
    fds_free(label);

    /* plans: a day is kept as the day; finish with a result */
    in = dom_json("{\"due\":\"2026/12/5\"}");
    json_t *p = NULL;
    assert_int_equal(fds_plan_add(r, id, in, &p), FDS_OK);
    json_decref(in);
    assert_string_equal(str(p, "due"), "2026-12-05");
    char pid[FDSP_MAX_ID + 1];
    snprintf(pid, sizeof pid, "%s", str(p, "id"));
    json_decref(p);
    in = dom_json("{\"due\":\"2026-12-06 15:00\"}");
    assert_int_equal(fds_plan_edit(r, pid, in, &p), FDS_OK);
    json_decref(in);
    assert_string_equal(str(p, "due"), "2026-12-06T07:00:00Z");
    json_decref(p);
    assert_int_equal(fds_plan_finish(r, pid, "签约", &p), FDS_OK);
    assert_true(json_is_true(json_object_get(p, "done")));
    assert_string_equal(str(p, "result"), "签约");
    json_decref(p);
    logs = dom_count(r, "log");
    assert_int_equal(fds_plan_finish(r, pid, "签约", NULL), FDS_OK);   /* again */
    assert_int_equal(dom_count(r, "log"), logs);
    assert_int_equal(fds_plan_delete(r, pid, NULL), FDS_OK);
    fds_replica_close(r);
}

static void amounts_and_sorts(void **state)
{
    (void)state;
    dom_env e;
    fds_replica *r = dom_open(&e, START, "alice");
    char a[FDSP_MAX_ID + 1], b[FDSP_MAX_ID + 1], c[FDSP_MAX_ID + 1];
    dom_add(r, "{\"name\":\"阿明\",\"amount\":\"¥5,000\"}", a);
    dom_add(r, "{\"name\":\"宝华\",\"amount\":900000.5,\"expected_close\":\"2027/3/31\"}", b);
    dom_add(r, "{\"name\":\"陈晨\"}", c);
    static const char *const bad[] = {"abc", "-1", "1e999", "0x10", "nan", "1,2,3x",
                                      "1e16", " ", NULL};
    for (int i = 0; bad[i]; i++) {
        json_t *in = json_pack("{s:s}", "amount", bad[i]);
        int rc = fds_customer_edit(r, c, in, NULL);
        json_decref(in);
        if (bad[i][0] == ' ') {
            assert_int_equal(rc, FDS_OK);    /* blank: clears, as "" does */
            continue;
        }
        if (rc != FDS_INVALID) fail_msg("amount \"%s\" accepted", bad[i]);
        assert_non_null(strstr(fds_errmsg(r), "amount"));
    }
    json_t *in = dom_json("{\"due\":\"2026-12-01 10:00\"}");
    assert_int_equal(fds_plan_add(r, b, in, NULL), FDS_OK);
    json_decref(in);
    in = dom_json("{\"due\":\"2026-12-09\"}");
    assert_int_equal(fds_plan_add(r, a, in, NULL), FDS_OK);
    json_decref(in);
    in = dom_json("{\"method\":\"phone\",\"content\":\"x\",\"at\":\"2026-01-01\"}");
    assert_int_equal(fds_followup_add(r, c, in, NULL), FDS_OK);
    json_decref(in);
    static const struct { const char *sort; const char *first, *second; } want[] = {
        {"amount", "宝华", "阿明"}, {"next", "宝华", "阿明"}, {"last", "宝华", "阿明"},   /* never followed up first (then byte order), 陈晨 last */
    };
    for (size_t i = 0; i < 3; i++) {
        fds_query q;
        memset(&q, 0, sizeof q);
        q.sort = want[i].sort;
        json_t *list = NULL;
        assert_int_equal(fds_customer_list(r, &q, &list), FDS_OK);
        assert_string_equal(str(json_array_get(list, 0), "name"), want[i].first);
        assert_string_equal(str(json_array_get(list, 1), "name"), want[i].second);
        json_decref(list);
    }
    json_t *cust = NULL;
    assert_int_equal(fds_customer_get(r, b, &cust), FDS_OK);
    assert_true(json_real_value(json_object_get(cust, "amount")) == 900000.5);
    assert_string_equal(str(cust, "expected_close"), "2027-03-31");
    json_decref(cust);
    assert_int_equal(fds_customer_get(r, a, &cust), FDS_OK);
    assert_int_equal(json_integer_value(json_object_get(cust, "amount")), 5000);
    json_decref(cust);
    /* the text API takes sort and activity too */
    char *txt = NULL;
    assert_int_equal(fds_customer_list_text(r, "{\"sort\":\"next\",\"activity\":true}",
                                            &txt), FDS_OK);
    json_t *l = dom_json(txt);
    fds_free(txt);
    assert_string_equal(str(json_array_get(l, 0), "next_plan"), "2026-12-01T02:00:00Z");
    json_decref(l);
    fds_query q;
    memset(&q, 0, sizeof q);
    q.sort = "size";
    json_t *list = NULL;
    assert_int_equal(fds_customer_list(r, &q, &list), FDS_INVALID);
    fds_replica_close(r);
}

static void rep_role_refuses_definitions(void **state)
{
    (void)state;
    dom_env e;
    fds_replica *r = dom_open(&e, START, "bob");
    json_t *def = dom_json("{\"key\":\"budget\",\"label\":\"Budget\",\"type\":\"number\"}");
    json_t *tpl = dom_json("{\"name\":\"t\",\"stages\":[{\"key\":\"demo\",\"order\":24}]}");
    assert_int_equal(fds_meta_set(r, "role", "rep"), FDS_OK);
    int64_t logs = dom_count(r, "log");
    assert_int_equal(fds_fielddef_set(r, def), FDS_PERM);
    assert_non_null(strstr(fds_errmsg(r), "rep"));
    assert_int_equal(fds_template_apply(r, tpl), FDS_PERM);
    assert_int_equal(dom_count(r, "log"), logs);
    assert_int_equal(fds_meta_set(r, "role", "manager"), FDS_OK);
    assert_int_equal(fds_fielddef_set(r, def), FDS_OK);
    assert_int_equal(fds_template_apply(r, tpl), FDS_OK);
    json_decref(def);
    json_decref(tpl);
    fds_replica_close(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pinyin_matcher),
        cmocka_unit_test(corrections_write_only_changes),
        cmocka_unit_test(amounts_and_sorts),
        cmocka_unit_test(rep_role_refuses_definitions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
