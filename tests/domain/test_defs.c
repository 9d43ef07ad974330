/*
** test_defs.c — stage and field definitions, and the shipped templates
** (templates/NAME.json, found through FDS_TEMPLATES_DIR).
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

static json_t *stages(fds_replica *r)
{
    json_t *l = NULL;
    assert_int_equal(fds_stagedef_list(r, &l), FDS_OK);
    return l;
}

/* Keys of the stage list joined by spaces. */
static void keys(const json_t *list, char *buf, size_t len)
{
    size_t used = 0, i;
    json_t *s;
    buf[0] = '\0';
    json_array_foreach(list, i, s)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? " " : "",
                                 str(s, "key"));
}

static int set_stage(fds_replica *r, const char *js)
{
    json_t *d = dom_json(js);
    int rc = fds_stagedef_set(r, d);
    json_decref(d);
    return rc;
}

static int set_field(fds_replica *r, const char *js)
{
    json_t *d = dom_json(js);
    int rc = fds_fielddef_set(r, d);
    json_decref(d);
    return rc;
}

static void builtin_stages(void **state)
{
    (void)state;
    dom_env e;
    fds_replica *r = dom_open(&e, START, "alice");
    json_t *l = stages(r);
    char buf[256];
    keys(l, buf, sizeof buf);
    assert_string_equal(buf, "lead intent proposal quote contract won lost");
    json_t *q = json_array_get(l, 3);
    assert_string_equal(str(q, "label_zh"), "报价");
    assert_int_equal(json_integer_value(json_object_get(q, "probability")), 70);
    assert_true(json_is_true(json_object_get(json_array_get(l, 5), "won")));
    assert_true(json_is_true(json_object_get(json_array_get(l, 6), "lost")));
    assert_true(json_is_false(json_object_get(q, "won")));
    assert_string_equal(str(json_array_get(l, 0), "label_zh"), "新线索");
    assert_string_equal(str(json_array_get(l, 1), "label_zh"), "意向确认");
    assert_string_equal(str(json_array_get(l, 2), "label_zh"), "方案制定");
    assert_string_equal(str(json_array_get(l, 4), "label_zh"), "合同签署");
    assert_string_equal(str(json_array_get(l, 5), "label_zh"), "成交");
    assert_string_equal(str(json_array_get(l, 6), "label_zh"), "流失");
    json_decref(l);
    assert_int_equal(dom_count(r, "reg"), 0);    /* built-ins are not stored */
    fds_replica_close(r);
}

static void stage_definitions(void **state)
{
    (void)state;
    dom_env e;
    fds_replica *r = dom_open(&e, START, "alice");
    char buf[256];
    assert_int_equal(set_stage(r, "{\"key\":\"demo\",\"label\":\"Demo\","
                                  "\"label_zh\":\"产品演示\",\"order\":25,"
                                  "\"probability\":35}"), FDS_OK);
    assert_int_equal(set_stage(r, "{\"key\":\"quote\",\"label_zh\":\"商务报价\"}"), FDS_OK);
    assert_int_equal(set_stage(r, "{\"key\":\"contract\",\"deleted\":true}"), FDS_OK);
    json_t *l = stages(r);
    keys(l, buf, sizeof buf);
    assert_string_equal(buf, "lead intent demo proposal quote won lost");
    assert_string_equal(str(json_array_get(l, 4), "label_zh"), "商务报价");
    assert_string_equal(str(json_array_get(l, 4), "label"), "Quote");   /* kept */
    json_decref(l);
    /* a customer can now move to demo, by key or Chinese label */
    char id[FDSP_MAX_ID + 1];
    dom_add(r, "{\"name\":\"张三\"}", id);
    assert_int_equal(fds_stage_set(r, id, "产品演示", NULL, NULL), FDS_OK);
    assert_int_equal(fds_stage_set(r, id, "contract", NULL, NULL), FDS_INVALID);
    /* revive the hidden stage */
    assert_int_equal(set_stage(r, "{\"key\":\"contract\"}"), FDS_OK);
    l = stages(r);
    keys(l, buf, sizeof buf);
    assert_string_equal(buf, "lead intent demo proposal quote contract won lost");
    json_decref(l);
    /* a new stage without an order goes last; its label defaults to key */
    assert_int_equal(set_stage(r, "{\"key\":\"archived\",\"lost\":true}"), FDS_OK);
    l = stages(r);
    json_t *last = json_array_get(l, json_array_size(l) - 1);
    assert_string_equal(str(last, "key"), "archived");
    assert_string_equal(str(last, "label"), "archived");
    assert_string_equal(str(last, "label_zh"), "archived");   /* never blank */
    assert_true(json_is_true(json_object_get(last, "lost")));
    json_decref(l);
    /* the first stage is where new customers start */
    assert_int_equal(set_stage(r, "{\"key\":\"cold\",\"label_zh\":\"冷线索\",\"order\":1}"),
                     FDS_OK);
    json_t *in = dom_json("{\"name\":\"新人\"}"), *c = NULL;
    assert_int_equal(fds_customer_add(r, in, &c, NULL), FDS_OK);
    assert_string_equal(str(c, "stage"), "cold");
    json_decref(c);
    json_decref(in);
    /* refusals */
    int64_t logs = dom_count(r, "log");
    assert_int_equal(set_stage(r, "{\"key\":\"Demo\"}"), FDS_INVALID);
    assert_int_equal(set_stage(r, "{\"key\":\"9x\"}"), FDS_INVALID);
    assert_int_equal(set_stage(r, "{\"label\":\"no key\"}"), FDS_INVALID);
    assert_int_equal(set_stage(r, "{\"key\":\"x\",\"probability\":150}"), FDS_INVALID);
    assert_non_null(strstr(fds_errmsg(r), "probability"));
    assert_int_equal(set_stage(r, "{\"key\":\"x\",\"won\":true,\"lost\":true}"), FDS_INVALID);
    assert_int_equal(set_stage(r, "{\"key\":\"x\",\"colour\":\"red\"}"), FDS_INVALID);
    assert_int_equal(set_stage(r, "{\"key\":\"won\",\"lost\":true}"), FDS_INVALID);
    assert_int_equal(dom_count(r, "log"), logs);
    /* setting what is already there writes nothing */
    assert_int_equal(set_stage(r, "{\"key\":\"demo\",\"order\":25}"), FDS_OK);
    assert_int_equal(dom_count(r, "log"), logs);
    fds_replica_close(r);
}

/* Orders and probabilities beyond 32 bits are refused on every device:
** on 32-bit ARM, where long is 32 bits, 4294967306 (2^32 + 10) was cut
** to 10 and accepted, so replicas disagreed on what is valid. */
static void integers_past_32_bits(void **state)
{
    (void)state;
    dom_env e;
    fds_replica *r = dom_open(&e, START, "alice");
    assert_int_equal(set_stage(r, "{\"key\":\"demo\",\"order\":4294967306}"),
                     FDS_INVALID);
    assert_int_equal(set_stage(r, "{\"key\":\"demo\",\"order\":\"4294967306\"}"),
                     FDS_INVALID);
    assert_int_equal(set_stage(r, "{\"key\":\"demo\",\"probability\":4294967346}"),
                     FDS_INVALID);
    assert_int_equal(set_field(r, "{\"key\":\"k\",\"label\":\"K\",\"type\":\"text\","
                                  "\"order\":-4294967286}"), FDS_INVALID);
    assert_int_equal(set_stage(r, "{\"key\":\"demo\",\"order\":99999}"), FDS_OK);
    fds_replica_close(r);
}

static void field_definitions(void **state)
{
    (void)state;
    dom_env e;
    fds_replica *r = dom_open(&e, START, "alice");
    assert_int_equal(set_field(r, "{\"key\":\"region\",\"label\":\"Region\","
                                  "\"label_zh\":\"区域\",\"type\":\"choice\","
                                  "\"choices\":[\"华北\",\"华东\",\"华南\"],\"order\":2}"),
                     FDS_OK);
    assert_int_equal(set_field(r, "{\"key\":\"budget\",\"label\":\"Budget\","
                                  "\"type\":\"number\",\"order\":1}"), FDS_OK);
    assert_int_equal(set_field(r, "{\"key\":\"assistant_phone\",\"label\":\"Assistant\","
                                  "\"type\":\"phone\",\"order\":3}"), FDS_OK);
    assert_int_equal(set_field(r, "{\"key\":\"billing_email\",\"type\":\"email\","
                                  "\"choices\":\"a,b\",\"order\":4}"), FDS_OK);
    json_t *l = NULL;
    assert_int_equal(fds_fielddef_list(r, &l), FDS_OK);
    assert_int_equal(json_array_size(l), 4);
    assert_string_equal(str(json_array_get(l, 0), "key"), "budget");    /* by order */
    json_t *region = json_array_get(l, 1);
    assert_string_equal(str(region, "type"), "choice");
    assert_string_equal(str(region, "label_zh"), "区域");
    assert_int_equal(json_array_size(json_object_get(region, "choices")), 3);
    assert_string_equal(str(json_array_get(l, 3), "label"), "billing_email");
    json_decref(l);
    /* values are checked against the definitions */
    static const struct {
        const char *fields;
        int rc;
    } cases[] = {
        {"{\"region\":\"华东\"}", FDS_OK},
        {"{\"region\":\"西北\"}", FDS_INVALID},
        {"{\"budget\":\"12.5\"}", FDS_OK},
        {"{\"budget\":\"12,5\"}", FDS_INVALID},
        {"{\"budget\":\"nan\"}", FDS_INVALID},
        {"{\"assistant_phone\":\"010-1234\"}", FDS_OK},
        {"{\"assistant_phone\":\"ask her\"}", FDS_INVALID},
        {"{\"billing_email\":\"pay@corp.cn\"}", FDS_OK},
        {"{\"billing_email\":\"pay\"}", FDS_INVALID},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char js[256];
        snprintf(js, sizeof js, "{\"name\":\"客户\",\"fields\":%s}", cases[i].fields);
        json_t *in = dom_json(js), *out = NULL;
        int rc = fds_customer_add(r, in, &out, NULL);
        if (rc != cases[i].rc)
            fprintf(stderr, "case %zu: %d %s\n", i, rc, fds_errmsg(r));
        assert_int_equal(rc, cases[i].rc);
        json_decref(out);
        json_decref(in);
    }
    /* refusals */
    assert_int_equal(set_field(r, "{\"key\":\"kind\",\"type\":\"choice\"}"), FDS_INVALID);
    assert_non_null(strstr(fds_errmsg(r), "choices"));
    assert_int_equal(set_field(r, "{\"key\":\"kind\",\"type\":\"colour\"}"), FDS_INVALID);
    assert_int_equal(set_field(r, "{\"key\":\"Kind\",\"type\":\"text\"}"), FDS_INVALID);
    assert_int_equal(set_field(r, "{\"key\":\"a_very_long_key_that_goes_past_32c\","
                                  "\"type\":\"text\"}"), FDS_INVALID);
    assert_int_equal(set_field(r, "{\"key\":\"kind\",\"type\":\"choice\",\"choices\":[]}"),
                     FDS_INVALID);
    /* deleting a definition makes its key unknown to new values */
    assert_int_equal(set_field(r, "{\"key\":\"budget\",\"deleted\":true}"), FDS_OK);
    assert_int_equal(fds_fielddef_list(r, &l), FDS_OK);
    assert_int_equal(json_array_size(l), 3);
    json_decref(l);
    json_t *in = dom_json("{\"name\":\"x\",\"fields\":{\"budget\":\"1\"}}"), *out = NULL;
    assert_int_equal(fds_customer_add(r, in, &out, NULL), FDS_INVALID);
    assert_non_null(strstr(fds_errmsg(r), "unknown field \"budget\""));
    json_decref(in);
    fds_replica_close(r);
}

static json_t *load_template(const char *name)
{
    char path[1024];
    json_error_t err;
    snprintf(path, sizeof path, "%s/%s.json", FDS_TEMPLATES_DIR, name);
    json_t *t = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
    if (!t)
        fprintf(stderr, "%s: %s (line %d)\n", path, err.text, err.line);
    assert_non_null(t);
    return t;
}

static int has_key(const json_t *list, const char *key)
{
    size_t i;
    json_t *s;
    json_array_foreach(list, i, s)
        if (strcmp(str(s, "key"), key) == 0)
            return 1;
    return 0;
}

static void shipped_templates(void **state)
{
    (void)state;
    static const struct {
        const char *name, *fields;
        const char *stage;          /* a stage the template adds */
        const char *bad_fields;     /* a value its definitions refuse */
    } cases[] = {
        {"software", "{\"product_interest\":\"CRM\",\"seats\":\"50\","
                     "\"trial_start\":\"2026-12-01\",\"decision_maker\":\"王总\"}",
         "trial", "{\"seats\":\"五十\"}"},
        {"logistics", "{\"route\":\"上海-成都\",\"monthly_volume\":\"120\","
                      "\"cargo_type\":\"冷链\",\"contract_end\":\"2027-03-31\"}",
         "trial_shipment", "{\"cargo_type\":\"飞机\"}"},
        {"design", "{\"project_type\":\"品牌设计\",\"budget\":\"80000\","
                   "\"style_preference\":\"简约\",\"deadline\":\"2027-01-15\"}",
         "concept", "{\"deadline\":\"下个月\"}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dom_env e;
        fds_replica *r = dom_open(&e, START, "alice");
        json_t *t = load_template(cases[i].name);
        assert_string_equal(str(t, "name"), cases[i].name);
        assert_non_null(str(t, "description"));
        int rc = fds_template_apply(r, t);
        if (rc != FDS_OK)
            fprintf(stderr, "%s: %s\n", cases[i].name, fds_errmsg(r));
        assert_int_equal(rc, FDS_OK);
        json_t *defs = NULL, *st = stages(r);
        assert_int_equal(fds_fielddef_list(r, &defs), FDS_OK);
        assert_int_equal(json_array_size(defs),
                         json_array_size(json_object_get(t, "fields")));
        size_t j;
        json_t *d;
        json_array_foreach(defs, j, d)
            assert_non_null(str(d, "label_zh"));             /* Chinese labels */
        assert_true(has_key(st, cases[i].stage));
        assert_true(has_key(st, "won") && has_key(st, "lost"));
        json_decref(defs);
        json_decref(st);
        /* applying again changes nothing */
        int64_t logs = dom_count(r, "log");
        assert_int_equal(fds_template_apply(r, t), FDS_OK);
        assert_int_equal(dom_count(r, "log"), logs);
        /* the template's fields take values, and refuse bad ones */
        char js[512];
        snprintf(js, sizeof js, "{\"name\":\"客户\",\"fields\":%s}", cases[i].fields);
        json_t *in = dom_json(js), *out = NULL;
        assert_int_equal(fds_customer_add(r, in, &out, NULL), FDS_OK);
        assert_int_equal(json_object_size(json_object_get(out, "fields")), 4);
        char cid[FDSP_MAX_ID + 1];
        snprintf(cid, sizeof cid, "%s", str(out, "id"));
        json_decref(out);
        json_decref(in);
        snprintf(js, sizeof js, "{\"name\":\"客户\",\"fields\":%s}", cases[i].bad_fields);
        in = dom_json(js);
        assert_int_equal(fds_customer_add(r, in, &out, NULL), FDS_INVALID);
        json_decref(in);
        assert_int_equal(fds_stage_set(r, cid, cases[i].stage, NULL, NULL), FDS_OK);
        json_decref(t);
        fds_replica_close(r);
    }
}

static void template_is_atomic(void **state)
{
    (void)state;
    dom_env e;
    fds_replica *r = dom_open(&e, START, "alice");
    json_t *t = dom_json("{\"name\":\"broken\",\"fields\":["
                         "{\"key\":\"good\",\"type\":\"text\"},"
                         "{\"key\":\"bad\",\"type\":\"choice\"}],"
                         "\"stages\":[{\"key\":\"x\"}]}");
    assert_int_equal(fds_template_apply(r, t), FDS_INVALID);
    assert_non_null(strstr(fds_errmsg(r), "template \"broken\", field 2"));
    assert_int_equal(dom_count(r, "reg"), 0);
    assert_int_equal(dom_count(r, "log"), 0);
    json_decref(t);
    t = dom_json("{\"fields\":[]}");
    assert_int_equal(fds_template_apply(r, t), FDS_INVALID);
    json_decref(t);
    t = dom_json("{\"name\":\"x\",\"stages\":{}}");
    assert_int_equal(fds_template_apply(r, t), FDS_INVALID);
    json_decref(t);
    fds_replica_close(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(builtin_stages),
        cmocka_unit_test(stage_definitions),
        cmocka_unit_test(field_definitions),
        cmocka_unit_test(integers_past_32_bits),
        cmocka_unit_test(shipped_templates),
        cmocka_unit_test(template_is_atomic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
