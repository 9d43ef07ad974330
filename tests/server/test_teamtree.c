/*
** test_teamtree.c — the one "is team A within team B" question
** (sync-server/util/teamtree.c), with no store: nesting, siblings, head
** office, unknown names, and what `team add` may and may not do.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "errors.h"
#include "teamtree.h"

static fsv_teams *china(void)
{
    fsv_teams *t = fsv_teams_new();
    assert_non_null(t);
    /* put in no particular order: the map keeps them sorted */
    assert_int_equal(fsv_teams_put(t, "east_sh", "east"), FSV_OK);
    assert_int_equal(fsv_teams_put(t, "china", ""), FSV_OK);
    assert_int_equal(fsv_teams_put(t, "west", "china"), FSV_OK);
    assert_int_equal(fsv_teams_put(t, "east", "china"), FSV_OK);
    assert_int_equal(fsv_teams_put(t, "east_hz", "east"), FSV_OK);
    assert_int_equal(fsv_teams_put(t, "export", NULL), FSV_OK);
    return t;
}

static void test_within(void **state)
{
    (void)state;
    fsv_teams *t = china();
    assert_int_equal(fsv_teams_count(t), 6);
    assert_string_equal(fsv_teams_name(t, 0), "china");
    /* itself, below, two below */
    assert_true(fsv_teams_within(t, "east", "east"));
    assert_true(fsv_teams_within(t, "east_sh", "east"));
    assert_true(fsv_teams_within(t, "east_sh", "china"));
    /* not above, not beside, not a cousin, not another tree */
    assert_false(fsv_teams_within(t, "east", "east_sh"));
    assert_false(fsv_teams_within(t, "west", "east"));
    assert_false(fsv_teams_within(t, "east_sh", "east_hz"));
    assert_false(fsv_teams_within(t, "east_sh", "west"));
    assert_false(fsv_teams_within(t, "east", "export"));
    /* head office holds every team; "" is no team */
    assert_true(fsv_teams_within(t, "east_sh", "*"));
    assert_false(fsv_teams_within(t, "", "east"));
    assert_false(fsv_teams_within(t, "east", ""));
    assert_false(fsv_teams_within(t, "", ""));
    /* a name the map does not hold is a top-level team of its own */
    assert_true(fsv_teams_within(t, "legacy", "legacy"));
    assert_false(fsv_teams_within(t, "legacy", "china"));
    assert_string_equal(fsv_teams_parent(t, "east_sh"), "east");
    assert_string_equal(fsv_teams_parent(t, "china"), "");
    assert_null(fsv_teams_parent(t, "legacy"));
    fsv_teams_free(t);
}

static void test_check_add(void **state)
{
    (void)state;
    fsv_teams *t = china();
    char why[256];
    assert_int_equal(fsv_teams_check_add(t, "east_nj", "east", why,
                                         sizeof why), FSV_OK);
    assert_int_equal(fsv_teams_check_add(t, "north", NULL, why, sizeof why),
                     FSV_OK);
    assert_int_equal(fsv_teams_check_add(t, "east", "china", why, sizeof why),
                     FSV_EXISTS);
    assert_non_null(strstr(why, "east"));
    assert_int_equal(fsv_teams_check_add(t, "x", "nowhere", why, sizeof why),
                     FSV_NOTFOUND);
    assert_non_null(strstr(why, "nowhere"));
    assert_int_equal(fsv_teams_check_add(t, "x", "x", why, sizeof why),
                     FSV_INVALID);
    assert_non_null(strstr(why, "cycle"));
    assert_int_equal(fsv_teams_check_add(t, "*", NULL, why, sizeof why),
                     FSV_INVALID);
    assert_int_equal(fsv_teams_check_add(t, "y", "*", NULL, 0), FSV_INVALID);
    fsv_teams_free(t);
}

/* A map that holds a cycle (written by hand into a store) ends the walk
** instead of looping. */
static void test_cycle_bounded(void **state)
{
    (void)state;
    fsv_teams *t = fsv_teams_new();
    assert_int_equal(fsv_teams_put(t, "a", "b"), FSV_OK);
    assert_int_equal(fsv_teams_put(t, "b", "a"), FSV_OK);
    assert_true(fsv_teams_within(t, "a", "b"));
    assert_false(fsv_teams_within(t, "a", "c"));
    char why[128];
    assert_int_equal(fsv_teams_check_add(t, "c", "a", why, sizeof why),
                     FSV_OK);
    fsv_teams_free(t);
    fsv_teams_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_within),
        cmocka_unit_test(test_check_add),
        cmocka_unit_test(test_cycle_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
