/*
** test_session_groups.c — the device side of change groups (PROTOCOL.md
** §5.1): the hello says "groups", and a push goes out grouped only to a
** server whose welcome said "groups" too; an old server (no "groups" in
** its welcome) gets every change plain.  Either way the push holds the
** same changes.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "internal.h"
#include "testenv.h"

/* Nine fields of one customer written in one action. */
static fds_replica *replica_with_customer(test_env *t)
{
    fds_replica *a = test_open(t);
    json_t *f = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
                          "name", "王小明", "phone", "13800000000",
                          "email", "wxm@example.com", "wechat", "wxm88",
                          "company", "上海物流", "title", "经理",
                          "birthday", "1980-01-02", "notes", "met at fair",
                          "stage", "lead");
    assert_int_equal(fds__write(a, "customer", "c1", f), FDS_OK);
    json_decref(f);
    return a;
}

/* Run a session up to its first push against a server whose welcome says
** groups (or not); returns the push's bytes (malloc'd). */
static char *first_push(fds_replica *a, int server_groups, char **hello_out)
{
    fds_session *ss;
    char *buf;
    size_t len;
    assert_int_equal(fds_session_new(a, &ss), FDS_OK);
    assert_int_equal(fds_session_next(ss, &buf, &len), FDS_OK);
    *hello_out = buf;
    char welcome[256];
    snprintf(welcome, sizeof welcome,
             "{\"type\":\"welcome\",\"v\":1,\"user\":\"alice\",\"role\":\"rep\","
             "\"device\":\"%s\",\"head\":0%s}", fds_replica_device(a),
             server_groups ? ",\"groups\":true" : "");
    assert_int_equal(fds_session_feed(ss, welcome, strlen(welcome)), FDS_OK);
    char *push = NULL;
    while (push == NULL && fds_session_next(ss, &buf, &len) == FDS_OK) {
        if (strstr(buf, "\"type\":\"push\"") != NULL)
            push = buf;
        else
            free(buf);
    }
    assert_non_null(push);
    fds_session_free(ss);
    return push;
}

static void test_push_grouped_only_when_welcomed(void **state)
{
    (void)state;
    test_env t;
    test_env_init(&t, 1700000000000, 5);
    fds_replica *a = replica_with_customer(&t);
    char *hello = NULL;
    char *grouped = first_push(a, 1, &hello);
    /* The hello announces that this device reads groups. */
    assert_non_null(strstr(hello, "\"groups\":true"));
    free(hello);
    char *plain = first_push(a, 0, &hello);
    free(hello);

    assert_non_null(strstr(grouped, "\"g\":["));
    assert_null(strstr(plain, "\"g\":"));
    /* The same nine changes either way, the grouped bytes far fewer. */
    fdsp_msg *g = NULL, *p = NULL;
    assert_int_equal(fdsp_decode(grouped, strlen(grouped), &g, NULL, 0),
                     FDSP_OK);
    assert_int_equal(fdsp_decode(plain, strlen(plain), &p, NULL, 0), FDSP_OK);
    assert_int_equal(g->n_changes, 9);
    assert_int_equal(p->n_changes, 9);
    char *ge, *pe;
    size_t gn, pn;
    assert_int_equal(fdsp_encode(g, &ge, &gn), FDSP_OK);
    assert_int_equal(fdsp_encode(p, &pe, &pn), FDSP_OK);
    assert_int_equal(gn, pn);
    assert_memory_equal(ge, pe, gn);
    assert_true(strlen(grouped) * 2 <= strlen(plain));
    free(ge);
    free(pe);
    fdsp_msg_free(g);
    fdsp_msg_free(p);
    free(grouped);
    free(plain);
    fds_replica_close(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_push_grouped_only_when_welcomed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
