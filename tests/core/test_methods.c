/*
** test_methods.c — the follow-up method words a rep writes (issue 11):
** each key's Chinese and English words, and the same words with the
** blanks and full stops a sheet cell or a phone keyboard adds, map to the
** six method keys; anything else is refused naming the keys accepted.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "fieldsync.h"
#include "testenv.h"

/* Adds a follow-up with method m; returns the stored method (static
** buffer) or NULL when refused (the message is then in fds_errmsg). */
static const char *add_with(fds_replica *r, const char *cid, const char *m)
{
    static char stored[32];
    json_t *in = json_pack("{s:s, s:s}", "method", m, "content", "x"), *out = NULL;
    int rc = fds_followup_add(r, cid, in, &out);
    json_decref(in);
    if (rc != FDS_OK)
        return NULL;
    snprintf(stored, sizeof stored, "%s",
             json_string_value(json_object_get(out, "method")));
    json_decref(out);
    return stored;
}

static void method_words(void **state)
{
    (void)state;
    test_env t;
    test_env_init(&t, 1795858200000LL, 11);
    fds_replica *r = test_open(&t);
    json_t *in = json_pack("{s:s}", "name", "刘洋"), *c = NULL;
    assert_int_equal(fds_customer_add(r, in, &c, NULL), FDS_OK);
    char cid[64];
    snprintf(cid, sizeof cid, "%s", json_string_value(json_object_get(c, "id")));
    json_decref(in);
    json_decref(c);

    static const char *const ok[][2] = {
        /* the words of the issue */
        {"上门拜访", "visit"}, {"拜访", "visit"}, {"上门", "visit"},
        {"visit", "visit"}, {"电话", "phone"}, {"打电话", "phone"},
        {"call", "phone"}, {"微信", "wechat"}, {"wechat", "wechat"},
        /* more synonyms */
        {"走访", "visit"}, {"登门拜访", "visit"}, {"面谈", "visit"},
        {"tel", "phone"}, {"Telephone", "phone"}, {"电联", "phone"},
        {"wx", "wechat"}, {"企业微信", "wechat"}, {"微信语音", "wechat"},
        {"邮件", "email"}, {"E-mail", "email"}, {"会议", "meeting"},
        {"腾讯会议", "meeting"}, {"zoom", "meeting"}, {"其他", "other"},
        {"短信", "other"},
        /* as typed: blanks, a full-width space, a full stop, case */
        {"上门 拜访", "visit"}, {" 电话 ", "phone"}, {"拜访。", "visit"},
        {"\xE3\x80\x80微信\xE3\x80\x80", "wechat"}, {"Phone Call", "phone"},
        {"phonecall", "phone"}, {"VISIT.", "visit"}, {"上门拜访！", "visit"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        const char *got = add_with(r, cid, ok[i][0]);
        if (!got)
            fail_msg("\"%s\" refused: %s", ok[i][0], fds_errmsg(r));
        if (strcmp(got, ok[i][1]) != 0)
            fail_msg("\"%s\" stored as %s, expected %s", ok[i][0], got, ok[i][1]);
    }

    /* unknown words, and words that only contain a method word */
    static const char *const bad[] = {"fax", "传真", "上门拜访客户了没", "。",
                                      "电话电话", "visitor"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (add_with(r, cid, bad[i]))
            fail_msg("\"%s\" accepted", bad[i]);
        const char *msg = fds_errmsg(r);
        /* the refusal names the keys and the Chinese words accepted */
        static const char *const named[] = {"phone", "email", "visit", "wechat",
                                            "meeting", "other", "上门拜访", "电话"};
        for (size_t k = 0; k < sizeof named / sizeof named[0]; k++)
            if (!strstr(msg, named[k]))
                fail_msg("refusal of \"%s\" does not name %s: %s", bad[i],
                         named[k], msg);
    }
    fds_replica_close(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(method_words),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
