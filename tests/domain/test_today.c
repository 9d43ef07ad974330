/*
** test_today.c — the daily list on chosen dates: plans due today and
** overdue, birthdays in the coming week (year wrap, Feb 29), customers gone
** quiet after their cycle and reset by a follow-up.  Local zone UTC+8.
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

#define START 1795858200000LL       /* 2026-11-28T09:30:00Z = 17:30 local */

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static json_t *today(fds_replica *r, const char *date)
{
    json_t *t = NULL;
    int rc = fds_today(r, date, &t);
    if (rc != FDS_OK)
        fprintf(stderr, "today %s: %s\n", date ? date : "(now)", fds_errmsg(r));
    assert_int_equal(rc, FDS_OK);
    return t;
}

static void plan(fds_replica *r, const char *cust, const char *due,
                 const char *content, char *id_out)
{
    char js[256];
    snprintf(js, sizeof js, "{\"due\":\"%s\",\"content\":\"%s\"}", due, content);
    json_t *in = dom_json(js), *out = NULL;
    assert_int_equal(fds_plan_add(r, cust, in, &out), FDS_OK);
    if (id_out)
        strcpy(id_out, str(out, "id"));
    json_decref(out);
    json_decref(in);
}

/* Index of the entry named `name` (customer_name for plans) or -1. */
static int find(const json_t *arr, const char *key, const char *val)
{
    size_t i;
    json_t *x;
    json_array_foreach(arr, i, x)
        if (str(x, key) && strcmp(str(x, key), val) == 0)
            return (int)i;
    return -1;
}

static void due_and_overdue(void **state)
{
    (void)state;
    dom_env e;
    fds_replica *r = dom_open(&e, START, "alice");
    char a[FDSP_MAX_ID + 1], gone[FDSP_MAX_ID + 1], done_id[FDSP_MAX_ID + 1];
    dom_add(r, "{\"name\":\"张三\"}", a);
    dom_add(r, "{\"name\":\"已删除\"}", gone);
    plan(r, a, "2026-12-10 15:00", "today", NULL);
    plan(r, a, "2026-12-08 09:00", "overdue", NULL);
    plan(r, a, "2026-12-10T15:59:00Z", "last minute", NULL);   /* 23:59 local */
    plan(r, a, "2026-12-10T16:00:00Z", "tomorrow 0:00", NULL); /* 12-11 local */
    plan(r, a, "2026-12-11 08:00", "tomorrow", NULL);
    plan(r, a, "2026-12-05", "done already", done_id);
    assert_int_equal(fds_plan_done(r, done_id, NULL), FDS_OK);
    plan(r, gone, "2026-12-09", "deleted customer", NULL);
    assert_int_equal(fds_customer_delete(r, gone), FDS_OK);

    json_t *t = today(r, "2026-12-10");
    json_t *p = json_object_get(t, "plans");
    assert_int_equal(json_array_size(p), 3);
    assert_string_equal(str(json_array_get(p, 0), "content"), "overdue");  /* oldest first */
    assert_true(json_is_true(json_object_get(json_array_get(p, 0), "overdue")));
    assert_string_equal(str(json_array_get(p, 1), "content"), "today");
    assert_true(json_is_false(json_object_get(json_array_get(p, 1), "overdue")));
    assert_string_equal(str(json_array_get(p, 2), "content"), "last minute");
    assert_string_equal(str(json_array_get(p, 0), "customer_name"), "张三");
    assert_true(json_is_false(json_object_get(json_array_get(p, 0), "done")));
    json_decref(t);
    /* a day earlier: only the overdue one is due (and not yet overdue) */
    t = today(r, "2026-12-08");
    p = json_object_get(t, "plans");
    assert_int_equal(json_array_size(p), 1);
    assert_true(json_is_false(json_object_get(json_array_get(p, 0), "overdue")));
    json_decref(t);
    /* no date: today from the clock (2026-12-10 local) */
    e.now = dom_ms("2026-12-10T02:00:00Z");
    t = today(r, NULL);
    assert_int_equal(json_array_size(json_object_get(t, "plans")), 3);
    json_decref(t);
    assert_int_equal(fds_today(r, "2026-13-01", &t), FDS_INVALID);
    assert_null(t);
    fds_replica_close(r);
}

static void birthdays(void **state)
{
    (void)state;
    dom_env e;
    fds_replica *r = dom_open(&e, START, "alice");
    char id[FDSP_MAX_ID + 1];
    dom_add(r, "{\"name\":\"新年\",\"birthday\":\"1990-01-02\"}", id);
    dom_add(r, "{\"name\":\"今天\",\"birthday\":\"12-30\"}", id);
    dom_add(r, "{\"name\":\"七天后\",\"birthday\":\"01-06\"}", id);
    dom_add(r, "{\"name\":\"昨天\",\"birthday\":\"1985-12-29\"}", id);
    dom_add(r, "{\"name\":\"闰日\",\"birthday\":\"2000-02-29\"}", id);
    dom_add(r, "{\"name\":\"无生日\"}", id);
    json_t *t = today(r, "2026-12-30");
    json_t *b = json_object_get(t, "birthdays");
    assert_int_equal(json_array_size(b), 2);
    assert_string_equal(str(json_array_get(b, 0), "name"), "今天");   /* soonest first */
    assert_int_equal(json_integer_value(json_object_get(json_array_get(b, 0), "days")), 0);
    assert_string_equal(str(json_array_get(b, 1), "name"), "新年");   /* across the year */
    assert_int_equal(json_integer_value(json_object_get(json_array_get(b, 1), "days")), 3);
    json_decref(t);
    t = today(r, "2026-12-31");                  /* 01-06 is now 6 days away */
    assert_true(find(json_object_get(t, "birthdays"), "name", "七天后") >= 0);
    json_decref(t);
    /* Feb 29 falls on Feb 28 in a common year, on Feb 29 in a leap year */
    t = today(r, "2027-02-25");
    b = json_object_get(t, "birthdays");
    int i = find(b, "name", "闰日");
    assert_true(i >= 0);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(b, (size_t)i),
                                                        "days")), 3);
    json_decref(t);
    t = today(r, "2028-02-27");
    b = json_object_get(t, "birthdays");
    i = find(b, "name", "闰日");
    assert_true(i >= 0);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(b, (size_t)i),
                                                        "days")), 2);
    json_decref(t);
    t = today(r, "2027-03-01");                  /* just missed it */
    assert_int_equal(find(json_object_get(t, "birthdays"), "name", "闰日"), -1);
    json_decref(t);
    fds_replica_close(r);
}

static json_t *quiet_entry(fds_replica *r, const char *date, const char *name)
{
    json_t *t = today(r, date);
    json_t *q = json_object_get(t, "quiet");
    int i = find(q, "name", name);
    json_t *x = i >= 0 ? json_incref(json_array_get(q, (size_t)i)) : NULL;
    json_decref(t);
    return x;
}

static void quiet_customers(void **state)
{
    (void)state;
    dom_env e;
    fds_replica *r = dom_open(&e, START, "alice");       /* created 11-28 local */
    char a[FDSP_MAX_ID + 1], fast[FDSP_MAX_ID + 1], won[FDSP_MAX_ID + 1];
    dom_add(r, "{\"name\":\"张三\"}", a);
    dom_add(r, "{\"name\":\"急客户\",\"cycle\":3}", fast);
    dom_add(r, "{\"name\":\"成交客户\"}", won);
    assert_int_equal(fds_stage_set(r, won, "won", NULL, NULL), FDS_OK);

    json_t *x = quiet_entry(r, "2026-12-11", "张三");     /* 13 days: not yet */
    assert_null(x);
    x = quiet_entry(r, "2026-12-12", "张三");             /* 14 days: quiet */
    assert_non_null(x);
    assert_int_equal(json_integer_value(json_object_get(x, "days_quiet")), 14);
    assert_true(json_is_null(json_object_get(x, "last_followup")));
    json_decref(x);
    x = quiet_entry(r, "2026-12-01", "急客户");           /* cycle 3 */
    assert_non_null(x);
    json_decref(x);
    x = quiet_entry(r, "2026-11-30", "急客户");
    assert_null(x);
    x = quiet_entry(r, "2027-06-01", "成交客户");         /* won: never quiet */
    assert_null(x);
    /* longest silence first (equal here: then by name) */
    json_t *t = today(r, "2026-12-20");
    json_t *q = json_object_get(t, "quiet");
    assert_int_equal(json_array_size(q), 2);
    assert_string_equal(str(json_array_get(q, 0), "name"), "张三");
    json_decref(t);

    /* a follow-up (back-dated) resets the cycle from its time */
    json_t *in = dom_json("{\"method\":\"phone\",\"content\":\"回访\","
                          "\"at\":\"2026-12-05 10:00\"}");
    assert_int_equal(fds_followup_add(r, a, in, NULL), FDS_OK);
    json_decref(in);
    x = quiet_entry(r, "2026-12-12", "张三");
    assert_null(x);
    x = quiet_entry(r, "2026-12-19", "张三");
    assert_non_null(x);
    assert_string_equal(str(x, "last_followup"), "2026-12-05T02:00:00Z");
    assert_int_equal(json_integer_value(json_object_get(x, "days_quiet")), 14);
    json_decref(x);
    /* one logged "now" (12-18 local) resets it again */
    e.now = dom_ms("2026-12-18T01:00:00Z");
    in = dom_json("{\"method\":\"wechat\",\"content\":\"发资料\"}");
    assert_int_equal(fds_followup_add(r, a, in, NULL), FDS_OK);
    json_decref(in);
    x = quiet_entry(r, "2026-12-19", "张三");
    assert_null(x);
    /* a longer cycle set on the customer moves the date out */
    in = dom_json("{\"cycle\":30}");
    json_t *out = NULL;
    assert_int_equal(fds_customer_edit(r, a, in, &out), FDS_OK);
    assert_int_equal(json_integer_value(json_object_get(out, "cycle")), 30);
    json_decref(out);
    json_decref(in);
    x = quiet_entry(r, "2027-01-10", "张三");             /* 23 days */
    assert_null(x);
    x = quiet_entry(r, "2027-01-17", "张三");             /* 30 days */
    assert_non_null(x);
    json_decref(x);
    fds_replica_close(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(due_and_overdue),
        cmocka_unit_test(birthdays),
        cmocka_unit_test(quiet_customers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
