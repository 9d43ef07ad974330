/*
** test_teams_migrate.c — a store from before teams nested (the schema-2
** fixture: users alice, bob and carol of team north, dave of south, admin
** of "*") opens with each of those team names as a top-level team, "*"
** never a team; after which `team add` can put new teams below them.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

#include "store.h"
#include "visibility.h"

#ifndef FIXTURE
#error FIXTURE must name tests/fixtures/store-v2.sql
#endif

static void test_old_teams_become_top_level(void **state)
{
    (void)state;
    char dir[] = "/tmp/fsv-teammig-XXXXXX", path[200], url[220];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/store.db", dir);
    snprintf(url, sizeof url, "sqlite:%s", path);
    FILE *f = fopen(FIXTURE, "r");
    assert_non_null(f);
    static char sql[4 << 20];
    size_t len = fread(sql, 1, sizeof sql - 1, f);
    fclose(f);
    sql[len] = '\0';
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("fixture: %s", err);
    sqlite3_close(db);

    fsv_store *s = NULL;
    char msg[256];
    if (fsv_store_open(url, 0, &s, msg, sizeof msg) != FSV_OK)
        fail_msg("open: %s", msg);
    json_t *teams = NULL;
    assert_int_equal(fsv_store_team_list(s, &teams), FSV_OK);
    assert_int_equal(json_array_size(teams), 2);
    json_t *north = json_array_get(teams, 0), *south = json_array_get(teams, 1);
    assert_string_equal(json_string_value(json_object_get(north, "team")),
                        "north");
    assert_true(json_is_null(json_object_get(north, "parent")));
    assert_int_equal(json_integer_value(json_object_get(north, "users")), 3);
    assert_string_equal(json_string_value(json_object_get(south, "team")),
                        "south");
    json_decref(teams);

    /* Nest a new team under an old one: carol (manager of north) now sees
    ** a rep of north_a, and still not one of south. */
    assert_int_equal(fsv_store_team_add(s, "north_a", "north"), FSV_OK);
    int in = 0;
    assert_int_equal(fsv_vis_team_within(s, "north_a", "north", &in), FSV_OK);
    assert_true(in);
    assert_int_equal(fsv_vis_team_within(s, "south", "north", &in), FSV_OK);
    assert_false(in);
    fsv_store_close(s);

    /* A second open changes nothing. */
    assert_int_equal(fsv_store_open(url, 0, &s, msg, sizeof msg), FSV_OK);
    assert_int_equal(fsv_store_team_list(s, &teams), FSV_OK);
    assert_int_equal(json_array_size(teams), 3);
    json_decref(teams);
    fsv_store_close(s);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_old_teams_become_top_level),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
