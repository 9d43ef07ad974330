/*
** test_activity.c — follow-ups, plans, feedback and the stage path, and the
** order the follow-up sheet shows them in.
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

#define START 1795858200000LL       /* 2026-11-28T09:30:00Z */

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static json_t *followup(fds_replica *r, const char *cust, const char *js,
                        int want)
{
    json_t *in = dom_json(js), *out = NULL;
    int rc = fds_followup_add(r, cust, in, &out);
    if (rc != want)
        fprintf(stderr, "followup %s: %d %s\n", js, rc, fds_errmsg(r));
    assert_int_equal(rc, want);
    json_decref(in);
    return out;
}

static void followups(void **state)
{
    (void)state;
    dom_env e;
    fds_replica *r = dom_open(&e, START, "alice");
    char id[FDSP_MAX_ID + 1];
    dom_add(r, "{\"name\":\"张三\"}", id);
    json_t *f = followup(r, id, "{\"method\":\"电话\",\"content\":\"介绍产品\","
                                "\"result\":\"客户感兴趣\"}", FDS_OK);
    assert_string_equal(str(f, "method"), "phone");      /* Chinese alias */
    assert_string_equal(str(f, "content"), "介绍产品");
    assert_string_equal(str(f, "result"), "客户感兴趣");
    assert_string_equal(str(f, "author"), "alice");
    assert_string_equal(str(f, "customer"), id);
    assert_string_equal(str(f, "at"), "2026-11-28T09:30:00Z");   /* now */
    assert_int_equal(strlen(str(f, "id")), 36);
    json_decref(f);
    static const char *const aliases[][2] = {
        {"邮件", "email"}, {"拜访", "visit"}, {"面谈", "visit"}, {"微信", "wechat"},
        {"会议", "meeting"}, {"其他", "other"}, {"Meeting", "meeting"},
        {"WECHAT", "wechat"}, {"visit", "visit"},
    };
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++) {
        char js[128];
        snprintf(js, sizeof js, "{\"method\":\"%s\",\"content\":\"x\"}", aliases[i][0]);
        f = followup(r, id, js, FDS_OK);
        assert_string_equal(str(f, "method"), aliases[i][1]);
        json_decref(f);
    }
    /* a given time in local form is stored as UTC (UTC+8 here) */
    f = followup(r, id, "{\"method\":\"visit\",\"content\":\"上门拜访\","
                        "\"at\":\"2026-11-20 10:00\"}", FDS_OK);
    assert_string_equal(str(f, "at"), "2026-11-20T02:00:00Z");
    json_decref(f);
    /* refusals write nothing */
    int64_t regs = dom_count(r, "reg"), logs = dom_count(r, "log");
    followup(r, id, "{\"method\":\"fax\",\"content\":\"x\"}", FDS_INVALID);
    assert_non_null(strstr(fds_errmsg(r), "method \"fax\""));
    followup(r, id, "{\"method\":\"phone\"}", FDS_INVALID);
    assert_non_null(strstr(fds_errmsg(r), "content"));
    followup(r, id, "{\"method\":\"phone\",\"content\":\"  \"}", FDS_INVALID);
    followup(r, id, "{\"content\":\"x\"}", FDS_INVALID);
    assert_non_null(strstr(fds_errmsg(r), "method"));
    followup(r, id, "{\"method\":\"phone\",\"content\":\"x\",\"at\":\"2026-02-30\"}",
             FDS_INVALID);
    assert_non_null(strstr(fds_errmsg(r), "2026-02-30"));
    followup(r, id, "{\"method\":\"phone\",\"content\":\"x\",\"mood\":\"good\"}",
             FDS_INVALID);
    followup(r, "nosuchid", "{\"method\":\"phone\",\"content\":\"x\"}", FDS_NOTFOUND);
    assert_int_equal(dom_count(r, "reg"), regs);
    assert_int_equal(dom_count(r, "log"), logs);
    /* feedback */
    json_t *in = dom_json("{\"content\":\"希望价格再优惠\"}"), *fb = NULL;
    assert_int_equal(fds_feedback_add(r, id, in, &fb), FDS_OK);
    assert_string_equal(str(fb, "content"), "希望价格再优惠");
    assert_string_equal(str(fb, "author"), "alice");
    assert_non_null(str(fb, "at"));
    json_decref(fb);
    json_decref(in);
    in = dom_json("{\"content\":\"\"}");
    assert_int_equal(fds_feedback_add(r, id, in, &fb), FDS_INVALID);
    json_decref(in);
    fds_replica_close(r);
}

static void plans(void **state)
{
    (void)state;
    dom_env e;
    fds_replica *r = dom_open(&e, START, "alice");
    char id[FDSP_MAX_ID + 1];
    dom_add(r, "{\"name\":\"李四\"}", id);
    json_t *in = dom_json("{\"due\":\"2026-12-01 09:00\",\"method\":\"拜访\","
                          "\"content\":\"送样品\"}"), *p = NULL;
    assert_int_equal(fds_plan_add(r, id, in, &p), FDS_OK);
    assert_string_equal(str(p, "due"), "2026-12-01T01:00:00Z");
    assert_string_equal(str(p, "method"), "visit");
    assert_true(json_is_false(json_object_get(p, "done")));
    json_decref(in);
    int64_t logs = dom_count(r, "log");
    json_t *d = NULL;
    assert_int_equal(fds_plan_done(r, str(p, "id"), &d), FDS_OK);
    assert_true(json_is_true(json_object_get(d, "done")));
    assert_string_equal(str(d, "content"), "送样品");
    json_decref(d);
    int64_t after = dom_count(r, "log");
    assert_true(after > logs);
    assert_int_equal(fds_plan_done(r, str(p, "id"), &d), FDS_OK);   /* again: no-op */
    assert_int_equal(dom_count(r, "log"), after);
    json_decref(d);
    json_decref(p);
    /* due is required and must be a time; method is checked when given */
    in = dom_json("{\"content\":\"x\"}");
    assert_int_equal(fds_plan_add(r, id, in, &p), FDS_INVALID);
    assert_non_null(strstr(fds_errmsg(r), "due"));
    json_decref(in);
    in = dom_json("{\"due\":\"next week\"}");
    assert_int_equal(fds_plan_add(r, id, in, &p), FDS_INVALID);
    assert_non_null(strstr(fds_errmsg(r), "next week"));
    json_decref(in);
    in = dom_json("{\"due\":\"2026-12-01\",\"method\":\"pigeon\"}");
    assert_int_equal(fds_plan_add(r, id, in, &p), FDS_INVALID);
    json_decref(in);
    in = dom_json("{\"due\":\"2026-12-01\"}");               /* due only is fine */
    assert_int_equal(fds_plan_add(r, id, in, &p), FDS_OK);
    json_decref(p);
    json_decref(in);
    assert_int_equal(fds_plan_done(r, "nope", &d), FDS_NOTFOUND);
    fds_replica_close(r);
}

static void stage_path(void **state)
{
    (void)state;
    dom_env e;
    fds_replica *r = dom_open(&e, START, "alice");
    char id[FDSP_MAX_ID + 1];
    dom_add(r, "{\"name\":\"王五\"}", id);
    json_t *sc = NULL;
    assert_int_equal(fds_stage_set(r, id, "intent", "客户有兴趣", &sc), FDS_OK);
    assert_string_equal(str(sc, "from"), "lead");
    assert_string_equal(str(sc, "to"), "intent");
    assert_string_equal(str(sc, "note"), "客户有兴趣");
    assert_string_equal(str(sc, "author"), "alice");
    json_decref(sc);
    assert_int_equal(fds_stage_set(r, id, "方案制定", NULL, &sc), FDS_OK);  /* label_zh */
    assert_string_equal(str(sc, "to"), "proposal");
    assert_null(json_object_get(sc, "note"));
    json_decref(sc);
    assert_int_equal(fds_stage_set(r, id, "Quote", NULL, NULL), FDS_OK);   /* label */
    /* the same stage again is no change: OK, nothing written (issue 13) */
    {
        int64_t regs0 = dom_count(r, "reg"), logs0 = dom_count(r, "log");
        json_t *same = NULL;
        assert_int_equal(fds_stage_set(r, id, "quote", NULL, &same), FDS_OK);
        assert_true(json_is_true(json_object_get(same, "unchanged")));
        json_decref(same);
        assert_int_equal(dom_count(r, "reg"), regs0);
        assert_int_equal(dom_count(r, "log"), logs0);
    }
    assert_int_equal(fds_stage_set(r, id, "closing", NULL, NULL), FDS_INVALID);
    assert_non_null(strstr(fds_errmsg(r), "unknown stage \"closing\""));
    /* lost needs a note; refusal writes nothing */
    int64_t regs = dom_count(r, "reg"), logs = dom_count(r, "log");
    assert_int_equal(fds_stage_set(r, id, "lost", NULL, NULL), FDS_INVALID);
    assert_non_null(strstr(fds_errmsg(r), "note"));
    assert_int_equal(fds_stage_set(r, id, "流失", "   ", NULL), FDS_INVALID);
    assert_int_equal(dom_count(r, "reg"), regs);
    assert_int_equal(dom_count(r, "log"), logs);
    /* a stage changed by an edit is recorded too; lost still needs a note */
    json_t *in = dom_json("{\"stage\":\"contract\"}"), *c = NULL;
    assert_int_equal(fds_customer_edit(r, id, in, &c), FDS_OK);
    assert_string_equal(str(c, "stage"), "contract");
    json_decref(c);
    json_decref(in);
    in = dom_json("{\"stage\":\"lost\"}");
    assert_int_equal(fds_customer_edit(r, id, in, &c), FDS_INVALID);
    assert_non_null(strstr(fds_errmsg(r), "note"));
    json_decref(in);
    in = dom_json("{\"stage\":null}");
    assert_int_equal(fds_customer_edit(r, id, in, &c), FDS_INVALID);
    json_decref(in);
    assert_int_equal(fds_customer_sheet(r, id, &c), FDS_OK);
    json_t *chs = json_object_get(c, "stages");
    assert_int_equal(json_array_size(chs), 4);
    assert_string_equal(str(json_array_get(chs, 3), "from"), "quote");
    assert_string_equal(str(json_array_get(chs, 3), "to"), "contract");
    json_decref(c);
    assert_int_equal(fds_stage_set(r, id, "流失", "选择了竞争对手", &sc), FDS_OK);
    assert_string_equal(str(sc, "to"), "lost");
    assert_string_equal(str(sc, "from"), "contract");
    json_decref(sc);
    assert_int_equal(fds_customer_get(r, id, &c), FDS_OK);
    assert_string_equal(str(c, "stage"), "lost");
    json_decref(c);
    fds_replica_close(r);
}

static void sheet_order(void **state)
{
    (void)state;
    dom_env e;
    fds_replica *r = dom_open(&e, START, "alice");
    char id[FDSP_MAX_ID + 1], other[FDSP_MAX_ID + 1];
    dom_add(r, "{\"name\":\"张三\",\"company\":\"北京科技有限公司\"}", id);
    dom_add(r, "{\"name\":\"别人\"}", other);
    json_t *f;
    f = followup(r, id, "{\"method\":\"phone\",\"content\":\"第二\",\"at\":\"2026-11-10 10:00\"}", FDS_OK);
    json_decref(f);
    f = followup(r, id, "{\"method\":\"phone\",\"content\":\"第三\",\"at\":\"2026-11-20 10:00\"}", FDS_OK);
    json_decref(f);
    f = followup(r, id, "{\"method\":\"phone\",\"content\":\"第一\",\"at\":\"2026-11-01 10:00\"}", FDS_OK);
    json_decref(f);
    f = followup(r, id, "{\"method\":\"phone\",\"content\":\"已删\",\"at\":\"2026-11-25 10:00\"}", FDS_OK);
    assert_int_equal(fds__write1(r, "followup", str(f, "id"), "deleted", "1"), FDS_OK);
    json_decref(f);
    f = followup(r, other, "{\"method\":\"phone\",\"content\":\"别人的\"}", FDS_OK);
    json_decref(f);
    const char *dues[] = {"2026-12-05", "2026-12-01", "2026-12-03"};
    for (int i = 0; i < 3; i++) {
        char js[64];
        snprintf(js, sizeof js, "{\"due\":\"%s\",\"content\":\"%d\"}", dues[i], i);
        json_t *in = dom_json(js);
        assert_int_equal(fds_plan_add(r, id, in, NULL), FDS_OK);
        json_decref(in);
    }
    json_t *in = dom_json("{\"content\":\"旧反馈\",\"at\":\"2026-10-01\"}");
    assert_int_equal(fds_feedback_add(r, id, in, NULL), FDS_OK);
    json_decref(in);
    in = dom_json("{\"content\":\"新反馈\"}");
    assert_int_equal(fds_feedback_add(r, id, in, NULL), FDS_OK);
    json_decref(in);
    /* three stage changes within one second: creation order decides */
    assert_int_equal(fds_stage_set(r, id, "intent", NULL, NULL), FDS_OK);
    assert_int_equal(fds_stage_set(r, id, "proposal", NULL, NULL), FDS_OK);
    assert_int_equal(fds_stage_set(r, id, "quote", NULL, NULL), FDS_OK);

    json_t *s = NULL;
    assert_int_equal(fds_customer_sheet(r, id, &s), FDS_OK);
    assert_string_equal(str(s, "name"), "张三");
    assert_string_equal(str(s, "stage"), "quote");
    json_t *fu = json_object_get(s, "followups");
    assert_int_equal(json_array_size(fu), 3);            /* deleted + other's skipped */
    assert_string_equal(str(json_array_get(fu, 0), "content"), "第三");   /* newest first */
    assert_string_equal(str(json_array_get(fu, 1), "content"), "第二");
    assert_string_equal(str(json_array_get(fu, 2), "content"), "第一");
    json_t *pl = json_object_get(s, "plans");
    assert_int_equal(json_array_size(pl), 3);
    assert_string_equal(str(json_array_get(pl, 0), "content"), "1");      /* by due */
    assert_string_equal(str(json_array_get(pl, 1), "content"), "2");
    assert_string_equal(str(json_array_get(pl, 2), "content"), "0");
    json_t *fb = json_object_get(s, "feedback");
    assert_int_equal(json_array_size(fb), 2);
    assert_string_equal(str(json_array_get(fb, 0), "content"), "新反馈");
    json_t *st = json_object_get(s, "stages");
    assert_int_equal(json_array_size(st), 3);
    assert_string_equal(str(json_array_get(st, 0), "to"), "intent");      /* oldest first */
    assert_string_equal(str(json_array_get(st, 1), "to"), "proposal");
    assert_string_equal(str(json_array_get(st, 2), "to"), "quote");
    assert_string_equal(str(json_array_get(st, 2), "from"), "proposal");
    json_decref(s);
    assert_int_equal(fds_customer_sheet(r, "ffffffff", &s), FDS_NOTFOUND);
    assert_null(s);
    fds_replica_close(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(followups),
        cmocka_unit_test(plans),
        cmocka_unit_test(stage_path),
        cmocka_unit_test(sheet_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
