/*
** test_textapi.c — the JSON text entry points (fieldsync.h) that bindings
** use: the same records and errors as the json_t calls, text that is not
** JSON or not the right shape refused with a message saying where, no
** result left behind on failure, and stats as JSON keys.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "fieldsync.h"
#include "testenv.h"

static json_t *parsed(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    assert_non_null(j);
    return j;
}

static void records_round_trip(void **state)
{
    (void)state;
    test_env t;
    test_env_init(&t, 1795858200000LL, 7);
    fds_replica *r = test_open(&t);
    char *out = NULL, *warn = NULL;
    assert_int_equal(fds_customer_add_text(r, "{\"name\":\"王芳\",\"phone\":\"138 0000 1111\"}",
                                           &out, &warn), FDS_OK);
    assert_string_equal(warn, "[]");
    json_t *c = parsed(out);
    char id[64];
    strcpy(id, json_string_value(json_object_get(c, "id")));
    assert_string_equal(json_string_value(json_object_get(c, "name")), "王芳");
    json_decref(c);
    fds_free(out);
    fds_free(warn);

    /* A second customer with the same phone: a warning naming the first. */
    assert_int_equal(fds_customer_add_text(r, "{\"name\":\"李雷\",\"phone\":\"138 0000 1111\"}",
                                           &out, &warn), FDS_OK);
    json_t *w = parsed(warn);
    assert_int_equal(json_array_size(w), 1);
    assert_non_null(strstr(json_string_value(json_array_get(w, 0)), "王芳"));
    json_decref(w);
    fds_free(out);
    fds_free(warn);

    assert_int_equal(fds_followup_add_text(r, id, "{\"method\":\"visit\",\"content\":\"签约\"}",
                                           &out), FDS_OK);
    fds_free(out);
    assert_int_equal(fds_customer_sheet_text(r, id, &out), FDS_OK);
    json_t *sheet = parsed(out);
    json_t *f = json_array_get(json_object_get(sheet, "followups"), 0);
    assert_string_equal(json_string_value(json_object_get(f, "content")), "签约");
    json_decref(sheet);
    fds_free(out);

    assert_int_equal(fds_customer_list_text(r, NULL, &out), FDS_OK);
    json_t *all = parsed(out);
    assert_int_equal(json_array_size(all), 2);
    json_decref(all);
    fds_free(out);
    assert_int_equal(fds_customer_list_text(r, "{\"search\":\"王\",\"stage\":null}", &out),
                     FDS_OK);
    json_t *some = parsed(out);
    assert_int_equal(json_array_size(some), 1);
    json_decref(some);
    fds_free(out);

    assert_int_equal(fds_customer_edit_text(r, id, "{\"email\":\"wf@example.com\"}", &out),
                     FDS_OK);
    fds_free(out);
    assert_int_equal(fds_customer_get_text(r, id, &out), FDS_OK);
    assert_non_null(strstr(out, "\"email\":\"wf@example.com\""));
    fds_free(out);
    assert_int_equal(fds_today_text(r, "2026-11-28", &out), FDS_OK);
    assert_non_null(strstr(out, "\"plans\":"));
    fds_free(out);
    assert_int_equal(fds_conflicts_text(r, &out), FDS_OK);
    assert_string_equal(out, "[]");
    fds_free(out);
    fds_replica_close(r);
}

static void refusals(void **state)
{
    (void)state;
    test_env t;
    test_env_init(&t, 1795858200000LL, 7);
    fds_replica *r = test_open(&t);
    char *out = (char *)"untouched", *warn = (char *)"untouched";

    assert_int_equal(fds_customer_add_text(r, "{\"name\":", &out, &warn), FDS_INVALID);
    assert_null(out);
    assert_null(warn);
    assert_non_null(strstr(fds_errmsg(r), "not JSON (line 1"));
    assert_int_equal(fds_customer_add_text(r, NULL, &out, NULL), FDS_INVALID);
    assert_non_null(strstr(fds_errmsg(r), "required"));
    /* the json_t call's own validation, its message passed through */
    assert_int_equal(fds_customer_add_text(r, "{\"phone\":\"138 0000 1111\"}", &out, &warn), FDS_INVALID);
    assert_null(out);
    assert_null(warn);
    assert_non_null(strstr(fds_errmsg(r), "name is required"));
    assert_int_equal(fds_customer_add_text(r, "[1]", &out, NULL), FDS_INVALID);
    assert_int_equal(fds_customer_get_text(r, "nope", &out), FDS_NOTFOUND);
    assert_null(out);
    assert_int_equal(fds_followup_add_text(r, "nope", "{\"content\":\"x\"}", &out),
                     FDS_NOTFOUND);
    assert_int_equal(fds_customer_list_text(r, "{\"colour\":\"red\"}", &out), FDS_INVALID);
    assert_non_null(strstr(fds_errmsg(r), "\"colour\""));
    assert_int_equal(fds_customer_list_text(r, "{\"stage\":3}", &out), FDS_INVALID);
    assert_int_equal(fds_customer_list_text(r, "\"lead\"", &out), FDS_INVALID);
    assert_null(out);
    fds_replica_close(r);
}

static void session_stats_as_keys(void **state)
{
    (void)state;
    test_env t;
    test_env_init(&t, 1795858200000LL, 7);
    fds_replica *r = test_open(&t);
    fds_session *s = NULL;
    assert_int_equal(fds_session_new(r, &s), FDS_OK);
    char *text = fds_session_stats_text(s);
    assert_non_null(text);
    json_t *j = parsed(text);
    const char *keys[] = { "pushed", "pulled", "conflicts", "refused", "revoked", NULL };
    for (int i = 0; keys[i]; i++)
        assert_true(json_is_integer(json_object_get(j, keys[i])));
    assert_int_equal(json_integer_value(json_object_get(j, "state")),
                     fds_session_state(s));
    json_decref(j);
    fds_free(text);
    fds_free(NULL);
    fds_session_free(s);
    fds_replica_close(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(records_round_trip),
        cmocka_unit_test(refusals),
        cmocka_unit_test(session_stats_as_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
