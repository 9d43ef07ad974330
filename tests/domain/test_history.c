/*
** test_history.c — a customer's timeline: its own fields and its children's,
** oldest first, with the value each change replaced, after local edits and
** after changes received from other devices.
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

/* Last entry for (table, field) or NULL. */
static json_t *last_entry(json_t *h, const char *table, const char *field)
{
    json_t *found = NULL;
    size_t i;
    json_t *x;
    json_array_foreach(h, i, x)
        if (strcmp(str(x, "table"), table) == 0 && strcmp(str(x, "field"), field) == 0)
            found = x;
    return found;
}

static void local_edits(void **state)
{
    (void)state;
    dom_env e;
    fds_replica *r = dom_open(&e, START, "alice");
    char id[FDSP_MAX_ID + 1], other[FDSP_MAX_ID + 1];
    dom_add(r, "{\"name\":\"张三\",\"phone\":\"13800138000\"}", id);
    dom_add(r, "{\"name\":\"别人\"}", other);
    e.now += 60000;
    json_t *in = dom_json("{\"phone\":\"13900139000\"}"), *out = NULL;
    assert_int_equal(fds_customer_edit(r, id, in, &out), FDS_OK);
    json_decref(out);
    json_decref(in);
    e.now += 60000;
    in = dom_json("{\"name\":\"张三丰\",\"phone\":null}");
    assert_int_equal(fds_customer_edit(r, id, in, &out), FDS_OK);
    json_decref(out);
    json_decref(in);
    in = dom_json("{\"method\":\"电话\",\"content\":\"约见面\"}");
    assert_int_equal(fds_followup_add(r, id, in, NULL), FDS_OK);
    assert_int_equal(fds_followup_add(r, other, in, NULL), FDS_OK);
    json_decref(in);
    assert_int_equal(fds_stage_set(r, id, "intent", NULL, NULL), FDS_OK);

    json_t *h = NULL;
    assert_int_equal(fds_history(r, id, &h), FDS_OK);
    /* oldest first: the creation comes first, with no previous value */
    json_t *first = json_array_get(h, 0);
    assert_string_equal(str(first, "table"), "customer");
    assert_string_equal(str(first, "record"), id);
    assert_string_equal(str(first, "user"), "alice");
    assert_string_equal(str(first, "device"), fds_replica_device(r));
    assert_string_equal(str(first, "at"), "2026-11-28T09:30:00Z");
    assert_true(json_is_null(json_object_get(first, "previous")));
    int64_t prev_ms = 0;
    size_t i;
    json_t *x;
    json_array_foreach(h, i, x) {
        int64_t ms = dom_ms(str(x, "at"));
        assert_true(ms >= prev_ms);
        prev_ms = ms;
        /* nothing from the other customer */
        assert_string_not_equal(str(x, "record"), other);
        if (strcmp(str(x, "table"), "followup") == 0)
            assert_string_not_equal(str(x, "value"), other);
    }
    /* the phone: set, changed, cleared — each with what it replaced */
    int phones = 0;
    const char *want[3][2] = {{"13800138000", NULL}, {"13900139000", "13800138000"},
                              {NULL, "13900139000"}};
    json_array_foreach(h, i, x) {
        if (strcmp(str(x, "field"), "phone") != 0)
            continue;
        assert_true(phones < 3);
        if (want[phones][0])
            assert_string_equal(str(x, "value"), want[phones][0]);
        else
            assert_true(json_is_null(json_object_get(x, "value")));
        if (want[phones][1])
            assert_string_equal(str(x, "previous"), want[phones][1]);
        else
            assert_true(json_is_null(json_object_get(x, "previous")));
        phones++;
    }
    assert_int_equal(phones, 3);
    json_t *name = last_entry(h, "customer", "name");
    assert_string_equal(str(name, "value"), "张三丰");
    assert_string_equal(str(name, "previous"), "张三");
    assert_string_equal(str(name, "at"), "2026-11-28T09:32:00Z");
    /* children: the follow-up and the stage change are in it */
    json_t *content = last_entry(h, "followup", "content");
    assert_non_null(content);
    assert_string_equal(str(content, "value"), "约见面");
    json_t *stage = last_entry(h, "customer", "stage");
    assert_string_equal(str(stage, "value"), "intent");
    assert_string_equal(str(stage, "previous"), "lead");
    assert_non_null(last_entry(h, "stagechg", "to"));
    /* the engine's deleted="0" marks on edits are not shown as changes */
    assert_null(last_entry(h, "customer", "deleted"));
    json_decref(h);
    /* a deleted customer's history stays answerable by its full id */
    assert_int_equal(fds_customer_delete(r, id), FDS_OK);
    assert_int_equal(fds_history(r, id, &h), FDS_OK);
    json_t *del = last_entry(h, "customer", "deleted");
    assert_non_null(del);
    assert_string_equal(str(del, "value"), "1");
    json_decref(h);
    assert_int_equal(fds_history(r, "nope", &h), FDS_NOTFOUND);
    fds_replica_close(r);
}

static void remote_changes(void **state)
{
    (void)state;
    dom_env e;
    fds_replica *r = dom_open(&e, START, "alice");
    char id[FDSP_MAX_ID + 1];
    dom_add(r, "{\"name\":\"张三\",\"company\":\"北京科技\"}", id);
    /* bob edits the company after seeing ours */
    int64_t t1 = START + 3600000;
    e.now = t1 + 5000;
    assert_int_equal(dom_remote(r, "customer", id, "company", "北京科技有限公司",
                                "dev-bob", 1, t1, "bob", 1), FDS_MERGE_WIN);
    /* and logs a follow-up from his phone: a new child record */
    const char *fu = "0f0f0f0f-0000-4000-8000-000000000001";
    assert_int_equal(dom_remote(r, "followup", fu, "customer", id, "dev-bob", 2,
                                t1 + 1000, "bob", 0), FDS_MERGE_WIN);
    assert_int_equal(dom_remote(r, "followup", fu, "content", "电话沟通报价",
                                "dev-bob", 3, t1 + 1000, "bob", 0), FDS_MERGE_WIN);
    json_t *h = NULL;
    assert_int_equal(fds_history(r, id, &h), FDS_OK);
    json_t *c = last_entry(h, "customer", "company");
    assert_string_equal(str(c, "value"), "北京科技有限公司");
    assert_string_equal(str(c, "previous"), "北京科技");
    assert_string_equal(str(c, "user"), "bob");
    assert_string_equal(str(c, "device"), "dev-bob");
    json_t *f = last_entry(h, "followup", "content");
    assert_non_null(f);
    assert_string_equal(str(f, "record"), fu);
    assert_string_equal(str(f, "user"), "bob");
    json_decref(h);
    /* and the sheet shows bob's follow-up */
    json_t *s = NULL;
    assert_int_equal(fds_customer_sheet(r, id, &s), FDS_OK);
    assert_int_equal(json_array_size(json_object_get(s, "followups")), 1);
    assert_string_equal(str(s, "company"), "北京科技有限公司");
    json_decref(s);
    fds_replica_close(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(local_edits),
        cmocka_unit_test(remote_changes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
