/*
** test_customer.c — customers: add/edit/delete/get with Chinese text,
** validation that refuses without writing, duplicate warnings, list and
** search, unsynced/conflict markers, assign and share.
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

#define START 1795858200000LL

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static void define_fields(fds_replica *r)
{
    json_t *d = dom_json("{\"key\":\"budget\",\"label\":\"Budget\",\"type\":\"number\"}");
    assert_int_equal(fds_fielddef_set(r, d), FDS_OK);
    json_decref(d);
    d = dom_json("{\"key\":\"level\",\"label\":\"Level\",\"type\":\"choice\","
                 "\"choices\":[\"A\",\"B\",\"重点\"]}");
    assert_int_equal(fds_fielddef_set(r, d), FDS_OK);
    json_decref(d);
    d = dom_json("{\"key\":\"visit_day\",\"label\":\"Visit\",\"type\":\"date\"}");
    assert_int_equal(fds_fielddef_set(r, d), FDS_OK);
    json_decref(d);
}

static void add_and_get_chinese(void **state)
{
    (void)state;
    dom_env e;
    fds_replica *r = dom_open(&e, START, "alice");
    json_t *in = dom_json(
        "{\"name\":\"  张三  \",\"company\":\"北京科技有限公司\","
        "\"phone\":\"+86 138-0013-8000\",\"email\":\"zhang@example.cn\","
        "\"wechat\":\"zhangsan88\",\"title\":\"采购经理\",\"birthday\":\"1985-03-12\","
        "\"notes\":\"喜欢喝茶\",\"tags\":[\"VIP\",\"北京\",\"VIP\"]}");
    json_t *out = NULL, *warn = NULL;
    assert_int_equal(fds_customer_add(r, in, &out, &warn), FDS_OK);
    assert_int_equal(json_array_size(warn), 0);
    assert_string_equal(str(out, "name"), "张三");          /* trimmed */
    assert_string_equal(str(out, "company"), "北京科技有限公司");
    assert_string_equal(str(out, "phone"), "+86 138-0013-8000");
    assert_string_equal(str(out, "title"), "采购经理");
    assert_string_equal(str(out, "birthday"), "1985-03-12");
    assert_string_equal(str(out, "owner"), "alice");        /* default owner */
    assert_string_equal(str(out, "stage"), "lead");         /* first stage */
    assert_int_equal(json_integer_value(json_object_get(out, "cycle")), 14);
    json_t *tags = json_object_get(out, "tags");
    assert_int_equal(json_array_size(tags), 2);             /* duplicate dropped */
    assert_string_equal(json_string_value(json_array_get(tags, 1)), "北京");
    assert_true(json_is_object(json_object_get(out, "fields")));
    assert_null(json_object_get(out, "deleted"));
    assert_non_null(str(out, "updated"));
    const char *id = str(out, "id");
    assert_int_equal(strlen(id), 36);
    json_t *got = NULL;
    assert_int_equal(fds_customer_get(r, id, &got), FDS_OK);
    assert_true(json_equal(got, out));
    json_decref(got);
    /* absent fields are omitted, not null */
    json_t *in2 = dom_json("{\"name\":\"王五\"}"), *o2 = NULL;
    assert_int_equal(fds_customer_add(r, in2, &o2, NULL), FDS_OK);
    assert_null(json_object_get(o2, "phone"));
    assert_null(json_object_get(o2, "tags"));
    json_decref(o2);
    json_decref(in2);
    /* a replica without a user yet writes no owner */
    fds_replica *anon = dom_open(&e, START, NULL);
    in2 = dom_json("{\"name\":\"赵六\"}");
    assert_int_equal(fds_customer_add(anon, in2, &o2, NULL), FDS_OK);
    assert_null(json_object_get(o2, "owner"));
    json_decref(o2);
    json_decref(in2);
    fds_replica_close(anon);
    json_decref(in);
    json_decref(out);
    json_decref(warn);
    fds_replica_close(r);
}

static void edit_and_delete(void **state)
{
    (void)state;
    dom_env e;
    fds_replica *r = dom_open(&e, START, "alice");
    define_fields(r);
    char id[FDSP_MAX_ID + 1];
    dom_add(r, "{\"name\":\"张三\",\"phone\":\"13800138000\",\"company\":\"北京科技\","
               "\"fields\":{\"budget\":\"1000\",\"level\":\"A\"}}", id);
    /* changes other than the engine's deleted="0" liveness marks */
    const char *edits = "log WHERE field <> 'deleted'";
    int64_t logs = dom_count(r, edits);
    json_t *in = dom_json("{\"company\":\"上海贸易有限公司\",\"phone\":null,"
                          "\"fields\":{\"level\":\"重点\",\"budget\":null,"
                          "\"visit_day\":\"2026-12-01\"}}");
    json_t *out = NULL;
    assert_int_equal(fds_customer_edit(r, id, in, &out), FDS_OK);
    assert_string_equal(str(out, "company"), "上海贸易有限公司");
    assert_null(json_object_get(out, "phone"));              /* cleared */
    assert_string_equal(str(out, "name"), "张三");           /* untouched */
    json_t *f = json_object_get(out, "fields");
    assert_string_equal(str(f, "level"), "重点");
    assert_string_equal(str(f, "visit_day"), "2026-12-01");
    assert_null(json_object_get(f, "budget"));
    assert_int_equal(dom_count(r, edits), logs + 5);
    json_decref(out);
    /* the same edit again changes nothing and logs nothing */
    logs = dom_count(r, "log");
    assert_int_equal(fds_customer_edit(r, id, in, &out), FDS_OK);
    assert_int_equal(dom_count(r, "log"), logs);
    json_decref(out);
    json_decref(in);
    /* name cannot be cleared */
    in = dom_json("{\"name\":\"   \"}");
    assert_int_equal(fds_customer_edit(r, id, in, &out), FDS_INVALID);
    assert_non_null(strstr(fds_errmsg(r), "name"));
    assert_null(out);
    json_decref(in);
    /* delete: gone from get and list, kept as a tombstone */
    assert_int_equal(fds_customer_delete(r, id), FDS_OK);
    assert_int_equal(fds_customer_get(r, id, &out), FDS_NOTFOUND);
    assert_int_equal(fds_customer_delete(r, id), FDS_NOTFOUND);
    json_t *list = NULL;
    assert_int_equal(fds_customer_list(r, NULL, &list), FDS_OK);
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);
    fds_query q = {0};
    q.include_deleted = 1;
    assert_int_equal(fds_customer_list(r, &q, &list), FDS_OK);
    assert_int_equal(json_array_size(list), 1);
    assert_true(json_is_true(json_object_get(json_array_get(list, 0), "deleted")));
    json_decref(list);
    in = dom_json("{\"name\":\"x\"}");
    assert_int_equal(fds_customer_edit(r, id, in, &out), FDS_NOTFOUND);
    json_decref(in);
    fds_replica_close(r);
}

/* Each bad input is refused with FDS_INVALID (or TOOBIG), a message that
** names the field and value, and not one row written. */
static void refusals_write_nothing(void **state)
{
    (void)state;
    dom_env e;
    fds_replica *r = dom_open(&e, START, "alice");
    define_fields(r);
    char big[FDSP_MAX_VALUE + 40];
    snprintf(big, sizeof big, "{\"name\":\"%0*d\"}", FDSP_MAX_VALUE + 1, 7);
    const struct {
        const char *json;
        int rc;
        const char *msg;
    } cases[] = {
        {"{\"name\":\"张三\",\"email\":\"abc\"}", FDS_INVALID,
         "invalid email \"abc\": expected name@domain"},
        {"{\"name\":\"张三\",\"email\":\"a@b\"}", FDS_INVALID, "email \"a@b\""},
        {"{\"name\":\"张三\",\"email\":\"a b@c.com\"}", FDS_INVALID, "email"},
        {"{\"name\":\"张三\",\"phone\":\"12ab\"}", FDS_INVALID, "phone \"12ab\""},
        {"{\"name\":\"张三\",\"phone\":\"12\"}", FDS_INVALID, "phone \"12\""},
        {"{\"name\":\"张三\",\"birthday\":\"1985-02-30\"}", FDS_INVALID,
         "birthday \"1985-02-30\""},
        {"{\"name\":\"张三\",\"birthday\":\"13-01\"}", FDS_INVALID, "birthday"},
        {"{\"phone\":\"13800138000\"}", FDS_INVALID, "name is required"},
        {"{\"name\":\"\"}", FDS_INVALID, "name is required"},
        {"{\"name\":\"张三\",\"fields\":{\"color\":\"red\"}}", FDS_INVALID,
         "unknown field \"color\""},
        {"{\"name\":\"张三\",\"fields\":{\"budget\":\"很多\"}}", FDS_INVALID,
         "budget \"很多\": expected a number"},
        {"{\"name\":\"张三\",\"fields\":{\"level\":\"C\"}}", FDS_INVALID,
         "level \"C\""},
        {"{\"name\":\"张三\",\"fields\":{\"visit_day\":\"明天\"}}", FDS_INVALID,
         "visit_day"},
        {"{\"name\":\"张三\",\"fields\":{\"Bad-Key\":\"1\"}}", FDS_INVALID, "Bad-Key"},
        {"{\"name\":\"张三\",\"colour\":\"red\"}", FDS_INVALID, "colour"},
        {"{\"name\":\"张三\",\"stage\":\"nowhere\"}", FDS_INVALID,
         "unknown stage \"nowhere\""},
        {"{\"name\":\"张三\",\"cycle\":0}", FDS_INVALID, "cycle"},
        {"{\"name\":\"张三\",\"company\":[\"x\"]}", FDS_INVALID, "company"},
        {"[1,2]", FDS_INVALID, "object"},
        {big, FDS_TOOBIG, "name"},
    };
    int64_t regs = dom_count(r, "reg"), logs = dom_count(r, "log");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *in = dom_json(cases[i].json), *out = NULL, *warn = NULL;
        int rc = fds_customer_add(r, in, &out, &warn);
        if (rc != cases[i].rc || !strstr(fds_errmsg(r), cases[i].msg))
            fprintf(stderr, "case %zu: rc %d msg %s\n", i, rc, fds_errmsg(r));
        assert_int_equal(rc, cases[i].rc);
        assert_non_null(strstr(fds_errmsg(r), cases[i].msg));
        assert_null(out);
        assert_null(warn);
        assert_int_equal(dom_count(r, "reg"), regs);
        assert_int_equal(dom_count(r, "log"), logs);
        json_decref(in);
    }
    /* and on edit: an invalid value among valid ones writes none of them */
    char id[FDSP_MAX_ID + 1];
    dom_add(r, "{\"name\":\"张三\"}", id);
    regs = dom_count(r, "reg");
    logs = dom_count(r, "log");
    json_t *in = dom_json("{\"company\":\"新公司\",\"email\":\"not-an-email\"}");
    json_t *out = NULL;
    assert_int_equal(fds_customer_edit(r, id, in, &out), FDS_INVALID);
    assert_non_null(strstr(fds_errmsg(r), "not-an-email"));
    assert_int_equal(dom_count(r, "reg"), regs);
    assert_int_equal(dom_count(r, "log"), logs);
    json_decref(in);
    /* accepted forms: MM-DD birthday, choice in Chinese, number as JSON */
    dom_add(r, "{\"name\":\"李四\",\"birthday\":\"02-29\",\"email\":\"li.si@mail.example.com\","
               "\"phone\":\"(010) 6552-1234\",\"fields\":{\"level\":\"重点\",\"budget\":2.5e3}}",
            id);
    assert_int_equal(fds_customer_get(r, id, &out), FDS_OK);
    assert_string_equal(str(json_object_get(out, "fields"), "budget"), "2500");
    json_decref(out);
    fds_replica_close(r);
}

static void duplicate_warnings(void **state)
{
    (void)state;
    dom_env e;
    fds_replica *r = dom_open(&e, START, "alice");
    char a[FDSP_MAX_ID + 1], gone[FDSP_MAX_ID + 1];
    dom_add(r, "{\"name\":\"张三\",\"phone\":\"13800138000\",\"wechat\":\"zs88\"}", a);
    dom_add(r, "{\"name\":\"已删除\",\"phone\":\"13900000000\"}", gone);
    assert_int_equal(fds_customer_delete(r, gone), FDS_OK);
    json_t *in = dom_json("{\"name\":\"张三丰\",\"phone\":\"13800138000\","
                          "\"wechat\":\"zs88\"}");
    json_t *out = NULL, *warn = NULL;
    assert_int_equal(fds_customer_add(r, in, &out, &warn), FDS_OK);  /* warns only */
    assert_int_equal(json_array_size(warn), 2);
    char shortid[9];
    snprintf(shortid, sizeof shortid, "%.8s", a);
    const char *w0 = json_string_value(json_array_get(warn, 0));
    const char *w1 = json_string_value(json_array_get(warn, 1));
    assert_non_null(strstr(w0, "phone \"13800138000\""));
    assert_non_null(strstr(w0, "张三"));
    assert_non_null(strstr(w0, shortid));
    assert_non_null(strstr(w1, "WeChat"));
    assert_non_null(strstr(w1, shortid));
    json_decref(out);
    json_decref(warn);
    json_decref(in);
    /* a deleted customer's number is free again */
    in = dom_json("{\"name\":\"新客户\",\"phone\":\"13900000000\"}");
    assert_int_equal(fds_customer_add(r, in, &out, &warn), FDS_OK);
    assert_int_equal(json_array_size(warn), 0);
    json_decref(out);
    json_decref(warn);
    json_decref(in);
    fds_replica_close(r);
}

static size_t count_search(fds_replica *r, const char *text, const char *first)
{
    fds_query q = {0};
    q.search = text;
    json_t *list = NULL;
    assert_int_equal(fds_customer_list(r, &q, &list), FDS_OK);
    size_t n = json_array_size(list);
    if (first && n)
        assert_string_equal(str(json_array_get(list, 0), "name"), first);
    json_decref(list);
    return n;
}

static void list_and_search(void **state)
{
    (void)state;
    dom_env e;
    fds_replica *r = dom_open(&e, START, "alice");
    define_fields(r);
    char zs[FDSP_MAX_ID + 1], ls[FDSP_MAX_ID + 1], wm[FDSP_MAX_ID + 1];
    dom_add(r, "{\"name\":\"张三\",\"company\":\"北京科技有限公司\",\"tags\":[\"VIP\"],"
               "\"phone\":\"13800138000\"}", zs);
    dom_add(r, "{\"name\":\"李四\",\"company\":\"上海物流\",\"notes\":\"喜欢喝茶\","
               "\"owner\":\"bob\",\"fields\":{\"level\":\"重点\"}}", ls);
    dom_add(r, "{\"name\":\"Wang Mei\",\"email\":\"Wang.Mei@Example.com\","
               "\"title\":\"CTO\"}", wm);
    /* sorted by name, UTF-8 byte order: Latin before CJK */
    json_t *list = NULL;
    assert_int_equal(fds_customer_list(r, NULL, &list), FDS_OK);
    assert_int_equal(json_array_size(list), 3);
    assert_string_equal(str(json_array_get(list, 0), "name"), "Wang Mei");
    assert_true(strcmp(str(json_array_get(list, 1), "name"),
                       str(json_array_get(list, 2), "name")) < 0);
    json_decref(list);
    assert_int_equal(count_search(r, "科技", "张三"), 1);        /* company, CJK */
    assert_int_equal(count_search(r, "张", "张三"), 1);          /* name, 1 char */
    assert_int_equal(count_search(r, "喝茶", "李四"), 1);        /* notes */
    assert_int_equal(count_search(r, "vip", "张三"), 1);         /* tags, ASCII case */
    assert_int_equal(count_search(r, "重点", "李四"), 1);        /* custom field */
    assert_int_equal(count_search(r, "example.COM", "Wang Mei"), 1);
    assert_int_equal(count_search(r, "cto", "Wang Mei"), 1);     /* title */
    assert_int_equal(count_search(r, "0013", "张三"), 1);        /* phone */
    assert_int_equal(count_search(r, "%", NULL), 0);             /* no LIKE magic */
    assert_int_equal(count_search(r, "不存在", NULL), 0);
    assert_int_equal(count_search(r, "", NULL), 3);
    /* owner and stage filters; stage by key or Chinese label */
    fds_query q = {0};
    q.owner = "bob";
    assert_int_equal(fds_customer_list(r, &q, &list), FDS_OK);
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(str(json_array_get(list, 0), "id"), ls);
    json_decref(list);
    assert_int_equal(fds_stage_set(r, zs, "报价", NULL, NULL), FDS_OK);
    q.owner = NULL;
    q.stage = "quote";
    assert_int_equal(fds_customer_list(r, &q, &list), FDS_OK);
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(str(json_array_get(list, 0), "id"), zs);
    json_decref(list);
    q.stage = "报价";
    assert_int_equal(fds_customer_list(r, &q, &list), FDS_OK);
    assert_int_equal(json_array_size(list), 1);
    json_decref(list);
    q.stage = "bogus";
    assert_int_equal(fds_customer_list(r, &q, &list), FDS_INVALID);
    fds_replica_close(r);
}

static void unsynced_and_conflict_markers(void **state)
{
    (void)state;
    dom_env e;
    fds_replica *r = dom_open(&e, START, "alice");
    char a[FDSP_MAX_ID + 1], b[FDSP_MAX_ID + 1];
    dom_add(r, "{\"name\":\"A客户\"}", a);
    dom_add(r, "{\"name\":\"B客户\"}", b);
    json_t *list = NULL;
    assert_int_equal(fds_customer_list(r, NULL, &list), FDS_OK);
    assert_true(json_is_true(json_object_get(json_array_get(list, 0), "unsynced")));
    assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 0),
                                                        "conflicts")), 0);
    json_decref(list);
    /* the server acknowledged everything */
    assert_int_equal(sqlite3_exec(r->db, "UPDATE log SET acked = 1", NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(fds_customer_list(r, NULL, &list), FDS_OK);
    assert_true(json_is_false(json_object_get(json_array_get(list, 0), "unsynced")));
    assert_true(json_is_false(json_object_get(json_array_get(list, 1), "unsynced")));
    json_decref(list);
    /* a follow-up on B makes B (only) unsynced again */
    json_t *in = dom_json("{\"method\":\"电话\",\"content\":\"确认需求\"}");
    assert_int_equal(fds_followup_add(r, b, in, NULL), FDS_OK);
    json_decref(in);
    /* and a concurrent remote edit of A's name conflicts */
    dom_remote(r, "customer", a, "name", "A公司", "dev-other", 1,
               START + 60000, "bob", 0);
    assert_int_equal(fds_customer_list(r, NULL, &list), FDS_OK);
    json_t *first = json_array_get(list, 0), *second = json_array_get(list, 1);
    if (strcmp(str(first, "id"), a) != 0) {
        json_t *t = first;
        first = second;
        second = t;
    }
    assert_true(json_is_false(json_object_get(first, "unsynced")));
    assert_int_equal(json_integer_value(json_object_get(first, "conflicts")), 1);
    assert_true(json_is_true(json_object_get(second, "unsynced")));
    assert_int_equal(json_integer_value(json_object_get(second, "conflicts")), 0);
    json_decref(list);
    fds_replica_close(r);
}

static void assign_and_share(void **state)
{
    (void)state;
    dom_env e;
    fds_replica *r = dom_open(&e, START, "alice");
    char id[FDSP_MAX_ID + 1];
    dom_add(r, "{\"name\":\"张三\"}", id);
    assert_int_equal(fds_customer_assign(r, id, "bob"), FDS_OK);
    json_t *c = NULL;
    assert_int_equal(fds_customer_get(r, id, &c), FDS_OK);
    assert_string_equal(str(c, "owner"), "bob");
    json_decref(c);
    assert_int_equal(fds_customer_assign(r, id, ""), FDS_INVALID);
    assert_int_equal(fds_customer_share(r, id, "carol", 1), FDS_OK);
    json_t *regs = NULL;
    char rid[128];
    snprintf(rid, sizeof rid, "%s:carol", id);
    assert_int_equal(fds__read(r, "share", rid, &regs), FDS_OK);
    assert_string_equal(str(regs, "customer"), id);
    assert_string_equal(str(regs, "user"), "carol");
    assert_string_equal(str(regs, "deleted"), "0");
    json_decref(regs);
    assert_int_equal(fds_customer_sheet(r, id, &c), FDS_OK);
    json_t *shared = json_object_get(c, "shared");
    assert_int_equal(json_array_size(shared), 1);
    assert_string_equal(json_string_value(json_array_get(shared, 0)), "carol");
    json_decref(c);
    int64_t logs = dom_count(r, "log");
    assert_int_equal(fds_customer_share(r, id, "carol", 1), FDS_OK);   /* no-op */
    assert_int_equal(dom_count(r, "log"), logs);
    assert_int_equal(fds_customer_share(r, id, "carol", 0), FDS_OK);
    assert_int_equal(fds__read(r, "share", rid, &regs), FDS_OK);
    assert_string_equal(str(regs, "deleted"), "1");
    json_decref(regs);
    assert_int_equal(fds_customer_sheet(r, id, &c), FDS_OK);
    assert_null(json_object_get(c, "shared"));
    json_decref(c);
    fds_replica_close(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(add_and_get_chinese),
        cmocka_unit_test(edit_and_delete),
        cmocka_unit_test(refusals_write_nothing),
        cmocka_unit_test(duplicate_warnings),
        cmocka_unit_test(list_and_search),
        cmocka_unit_test(unsynced_and_conflict_markers),
        cmocka_unit_test(assign_and_share),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
