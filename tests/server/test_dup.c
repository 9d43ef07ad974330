/*
** test_dup.c — duplicate customers across reps (撞单) in the store
** (store.h "Duplicate customers"), for every backend of store_backends.c
** that keeps them: how phones and WeChat ids are normalised
** (fsv_dup_key), that the keys follow edits, deletes and the owner, the
** daily notice count, and the company-wide list.  No network.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store.h"
#include "store_backends.h"

typedef ts_store_fix fixture;


static void customer(fixture *f, const char *rid, const char *name,
                     const char *phone, const char *wechat, const char *user)
{
    ts_store_put(f, rid, "name", name, user);
    if (phone)
        ts_store_put(f, rid, "phone", phone, user);
    if (wechat)
        ts_store_put(f, rid, "wechat", wechat, user);
}

typedef struct matches {
    char text[512];     /* "customer=owner;" ... */
} matches;

static int collect(void *ud, const char *customer, const char *owner)
{
    matches *m = ud;
    size_t n = strlen(m->text);
    snprintf(m->text + n, sizeof m->text - n, "%s=%s;", customer, owner);
    return FSV_OK;
}

static const char *match(fixture *f, const char *field, const char *value,
                         const char *except, matches *m)
{
    char key[FSV_DUP_KEY_MAX];
    m->text[0] = '\0';
    if (!fsv_dup_key(field, value, key, sizeof key))
        return "(no key)";
    assert_int_equal(fsv_store_dup_matches(f->s, key, except, collect, m), FSV_OK);
    return m->text;
}

static void test_keys(void **state)
{
    (void)state;
    char k[FSV_DUP_KEY_MAX];
    static const struct { const char *field, *in, *key; } ok[] = {
        {"phone", "13800138000", "p:13800138000"},
        {"phone", "138 0013 8000", "p:13800138000"},
        {"phone", "138-0013-8000", "p:13800138000"},
        {"phone", "+86 138 0013 8000", "p:13800138000"},
        {"phone", "+8613800138000", "p:13800138000"},
        {"phone", "0086 13800138000", "p:13800138000"},
        {"phone", "8613800138000", "p:13800138000"},
        {"phone", "(021) 6321-1234", "p:02163211234"},
        {"phone", "+86 21 6321 1234", "p:2163211234"},
        {"phone", "860571", "p:860571"},     /* too short to be a prefix */
        {"wechat", "ZhangWei88", "w:zhangwei88"},
        {"wechat", "  zhangwei88 ", "w:zhangwei88"},
        {"wechat", "张伟_wx", "w:张伟_wx"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        if (!fsv_dup_key(ok[i].field, ok[i].in, k, sizeof k) ||
            strcmp(k, ok[i].key) != 0)
            fail_msg("%s \"%s\": want %s", ok[i].field, ok[i].in, ok[i].key);
    }
    static const struct { const char *field, *in; } none[] = {
        {"phone", "110"}, {"phone", "12345"}, {"phone", "ext. 12345678"},
        {"phone", ""}, {"wechat", "ab"}, {"wechat", "   "}, {"email", "a@b.cn"},
        {"phone", "1234567890123456789012345678901234567890123456789012345678901234567890123456789"},
    };
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++)
        if (fsv_dup_key(none[i].field, none[i].in, k, sizeof k))
            fail_msg("%s \"%s\" gave key %s", none[i].field, none[i].in, k);
    assert_int_equal(fsv_dup_key("phone", NULL, k, sizeof k), 0);
}

static void test_keys_follow_the_customer(void **state)
{
    fixture *f = *state;
    matches m;
    customer(f, "c-a", "张伟", "138 0013 8000", "ZhangWei88", "alice");
    customer(f, "c-b", "张先生", "+86 13800138000", NULL, "bob");
    /* Both match the other; a customer never matches itself. */
    assert_string_equal(match(f, "phone", "13800138000", "c-b", &m), "c-a=alice;");
    assert_string_equal(match(f, "phone", "8613800138000", "c-a", &m), "c-b=bob;");
    assert_string_equal(match(f, "phone", "13800138000", NULL, &m),
                        "c-a=alice;c-b=bob;");
    assert_string_equal(match(f, "wechat", "zhangwei88", "c-b", &m), "c-a=alice;");
    /* A new phone: the old key goes. */
    ts_store_put(f, "c-a", "phone", "13900000000", "alice");
    assert_string_equal(match(f, "phone", "13800138000", "c-b", &m), "");
    assert_string_equal(match(f, "phone", "139 0000 0000", "c-b", &m), "c-a=alice;");
    /* The owner is the office view's: reassigned, the match names carol. */
    ts_store_put(f, "c-a", "owner", "carol", "alice");
    assert_string_equal(match(f, "phone", "13900000000", NULL, &m), "c-a=carol;");
    /* A cleared WeChat and a deleted customer match nothing. */
    ts_store_put(f, "c-a", "wechat", NULL, "alice");
    assert_string_equal(match(f, "wechat", "zhangwei88", NULL, &m), "");
    ts_store_put(f, "c-b", "deleted", "1", "bob");
    assert_string_equal(match(f, "phone", "13800138000", NULL, &m), "");
    ts_store_put(f, "c-b", "deleted", "0", "bob");
    assert_string_equal(match(f, "phone", "13800138000", NULL, &m), "c-b=bob;");
}

typedef struct rows {
    char text[1024];
} rows;

static int list_row(void *ud, const char *key, const char *customer,
                    const char *owner, const char *name)
{
    rows *r = ud;
    size_t n = strlen(r->text);
    snprintf(r->text + n, sizeof r->text - n, "%s %s %s %s;", key, customer,
             owner, name ? name : "-");
    return FSV_OK;
}

static void test_list_and_notices(void **state)
{
    fixture *f = *state;
    customer(f, "c-1", "甲", "13800138000", NULL, "alice");
    customer(f, "c-2", "乙", "13800138000", NULL, "alice");   /* one owner */
    customer(f, "c-3", "丙", "13900000001", "wx-same", "alice");
    customer(f, "c-4", "丁", "+86 139 0000 0001", NULL, "bob");
    customer(f, "c-5", "戊", NULL, "WX-SAME", "carol");
    rows r = {""};
    assert_int_equal(fsv_store_dup_list(f->s, list_row, &r), FSV_OK);
    /* 13800138000 is one owner's twice: no suspect. */
    assert_string_equal(r.text, "p:13900000001 c-3 alice 丙;p:13900000001 c-4 bob 丁;"
                                "w:wx-same c-3 alice 丙;w:wx-same c-5 carol 戊;");
    /* The daily count: what was noted since a time, before this one. */
    int64_t given = -1;
    assert_int_equal(fsv_store_begin(f->s), FSV_OK);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(fsv_store_dup_notice(f->s, "mallory", 1000 + i, 0, &given), FSV_OK);
        assert_int_equal(given, i);
    }
    assert_int_equal(fsv_store_dup_notice(f->s, "bob", 1003, 0, &given), FSV_OK);
    assert_int_equal(given, 0);
    /* A later window forgets the older ones. */
    assert_int_equal(fsv_store_dup_notice(f->s, "mallory", 5000, 1002, &given), FSV_OK);
    assert_int_equal(given, 1);
    assert_int_equal(fsv_store_commit(f->s), FSV_OK);
}

int main(void)
{
    ts_store_tag = "dup";
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys),
        cmocka_unit_test_setup_teardown(test_keys_follow_the_customer, ts_store_setup, ts_store_teardown),
        cmocka_unit_test_setup_teardown(test_list_and_notices, ts_store_setup, ts_store_teardown),
    };
    /* The backends that keep duplicate keys (store_backend.h: the others
    ** leave dup_* NULL and report none): SQLite and PostgreSQL; a backend that
    ** implements them adds its name here. */
    static const char *const keeping[] = {"sqlite", "postgresql"};
    int failed = 0;
    for (size_t b = 0; b < ts_n_store_backends; b++) {
        ts_store_current = &ts_store_backends[b];
        for (size_t k = 0; k < sizeof keeping / sizeof keeping[0]; k++) {
            if (strcmp(ts_store_current->name, keeping[k]) != 0)
                continue;
            char name[64];
            snprintf(name, sizeof name, "duplicate customers: %s", ts_store_current->name);
            failed += _cmocka_run_group_tests(name, tests,
                                              sizeof tests / sizeof tests[0],
                                              NULL, NULL);
        }
    }
    return failed;
}
