/*
** test_store_parts.c — nested teams and moves, the customer pool and
** photos' references in the store (store.h), on every backend of
** store_backends.c, so a backend that keeps them behaves as the others
** (issue 12): the team map, `user set` and its moves and device marks,
** owned customers, the office scope over subtrees, pools and the team
** filter; pool rows, log, rules and figures; blob references and usage.
** No network.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <libpq-fe.h>

#include "store.h"
#include "store_backends.h"

typedef ts_store_fix fixture;


/* The ids a scope sees, sorted, as "a,b,c". */
typedef struct seen {
    char *ids[32];
    size_t n;
} seen;

static int collect(void *ud, const fsv_office_cust *c)
{
    seen *v = ud;
    if (v->n < 32)
        v->ids[v->n++] = strdup(c->id);
    return FSV_OK;
}

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static const char *scope_ids(fixture *f, const fsv_scope *sc, char *buf,
                             size_t cap)
{
    seen v = {{0}, 0};
    assert_int_equal(fsv_store_office_customers(f->s, sc, collect, &v), FSV_OK);
    qsort(v.ids, v.n, sizeof v.ids[0], cmp);
    buf[0] = '\0';
    for (size_t i = 0; i < v.n; i++) {
        size_t k = strlen(buf);
        snprintf(buf + k, cap - k, "%s%s", i ? "," : "", v.ids[i]);
        free(v.ids[i]);
    }
    return buf;
}

static void test_team_map_and_moves(void **state)
{
    fixture *f = *state;
    fsv_store *s = f->s;
    assert_int_equal(fsv_store_team_add(s, "north", NULL), FSV_OK);
    assert_int_equal(fsv_store_team_add(s, "north-a", "north"), FSV_OK);
    assert_int_equal(fsv_store_team_add(s, "north", NULL), FSV_EXISTS);
    assert_int_equal(fsv_store_team_add(s, "x", "nowhere"), FSV_NOTFOUND);
    assert_int_equal(fsv_store_user_add(s, "boss", "manager", "north"), FSV_OK);
    assert_int_equal(fsv_store_user_add(s, "alice", "rep", "north-a"), FSV_OK);
    /* a team named only in `user add` becomes a top-level team */
    assert_int_equal(fsv_store_user_add(s, "carol", "rep", "south"), FSV_OK);
    const fsv_teams *t = NULL;
    assert_int_equal(fsv_store_team_map(s, &t), FSV_OK);
    assert_int_equal(fsv_teams_count(t), 3);
    assert_string_equal(fsv_teams_parent(t, "north-a"), "north");
    assert_string_equal(fsv_teams_parent(t, "south"), "");
    assert_true(fsv_teams_within(t, "north-a", "north"));
    assert_false(fsv_teams_within(t, "north", "north-a"));

    /* A device known before the move has not had it; one first seen
    ** after starts past it. */
    assert_int_equal(fsv_store_device_seen(s, "dev-alice", "alice", NULL, 5, 0),
                     FSV_OK);
    int64_t done = -1, id = 0;
    assert_int_equal(fsv_store_move_done(s, "dev-alice", &done), FSV_OK);
    assert_int_equal(done, 0);
    assert_int_equal(fsv_store_user_set(s, "alice", "south", NULL, &id), FSV_OK);
    assert_true(id > 0);
    fsv_user u;
    assert_int_equal(fsv_store_user_get(s, "alice", &u), FSV_OK);
    assert_string_equal(u.team, "south");
    assert_string_equal(u.role, "rep");
    fsv_move *mv = NULL;
    size_t n = 0;
    assert_int_equal(fsv_store_moves(s, 0, &mv, &n), FSV_OK);
    assert_int_equal(n, 1);
    assert_int_equal(mv[0].id, id);
    assert_string_equal(mv[0].user, "alice");
    assert_string_equal(mv[0].old_team, "north-a");
    assert_string_equal(mv[0].new_team, "south");
    assert_string_equal(mv[0].old_role, "rep");
    assert_string_equal(mv[0].new_role, "rep");
    free(mv);
    assert_int_equal(fsv_store_move_done(s, "dev-alice", &done), FSV_OK);
    assert_int_equal(done, 0);
    assert_int_equal(fsv_store_move_done(s, "dev-new", &done), FSV_OK);
    assert_int_equal(done, id);
    assert_int_equal(fsv_store_move_done_set(s, "dev-alice", id), FSV_OK);
    assert_int_equal(fsv_store_move_done_set(s, "dev-alice", 0), FSV_OK);
    assert_int_equal(fsv_store_move_done(s, "dev-alice", &done), FSV_OK);
    assert_int_equal(done, id);     /* never lowered */

    /* Nothing changed: no move.  A role change is one. */
    int64_t id2 = -1;
    assert_int_equal(fsv_store_user_set(s, "alice", "south", "rep", &id2), FSV_OK);
    assert_int_equal(id2, 0);
    assert_int_equal(fsv_store_user_set(s, "alice", NULL, "manager", &id2), FSV_OK);
    assert_true(id2 > id);
    assert_int_equal(fsv_store_moves(s, id, &mv, &n), FSV_OK);
    assert_int_equal(n, 1);
    assert_string_equal(mv[0].old_role, "rep");
    assert_string_equal(mv[0].new_role, "manager");
    free(mv);
    /* Unknown team or user. */
    assert_int_equal(fsv_store_user_set(s, "alice", "atlantis", NULL, &id2),
                     FSV_INVALID);
    assert_int_equal(fsv_store_user_set(s, "nobody", "south", NULL, &id2),
                     FSV_NOTFOUND);
}

static void test_owned_and_scope(void **state)
{
    fixture *f = *state;
    fsv_store *s = f->s;
    assert_int_equal(fsv_store_team_add(s, "north", NULL), FSV_OK);
    assert_int_equal(fsv_store_team_add(s, "north-a", "north"), FSV_OK);
    assert_int_equal(fsv_store_team_add(s, "south", NULL), FSV_OK);
    assert_int_equal(fsv_store_user_add(s, "boss", "manager", "north"), FSV_OK);
    assert_int_equal(fsv_store_user_add(s, "alice", "rep", "north-a"), FSV_OK);
    assert_int_equal(fsv_store_user_add(s, "bob", "rep", "north"), FSV_OK);
    assert_int_equal(fsv_store_user_add(s, "carol", "rep", "south"), FSV_OK);
    ts_store_put(f, "c-a1", "name", "A1", "alice");
    ts_store_put(f, "c-a2", "name", "A2", "alice");
    ts_store_put(f, "c-b1", "name", "B1", "bob");
    ts_store_put(f, "c-s1", "name", "S1", "carol");
    /* c-p1: a pool customer of north-a (no owner, pool "1"). */
    ts_store_put(f, "c-p1", "name", "P1", "alice");
    ts_store_put(f, "c-p1", "owner", "", "alice");
    ts_store_put(f, "c-p1", "pool", "1", "alice");
    fsv_pool_row row;
    memset(&row, 0, sizeof row);
    snprintf(row.team, sizeof row.team, "north-a");
    row.in_pool = 1;
    row.since_ms = 100;
    snprintf(row.former, sizeof row.former, "alice");
    assert_int_equal(fsv_store_pool_put(s, "c-p1", &row), FSV_OK);

    char **ids = NULL;
    size_t n = 0;
    assert_int_equal(fsv_store_owned_customers(s, "alice", &ids, &n), FSV_OK);
    assert_int_equal(n, 2);
    assert_string_equal(ids[0], "c-a1");
    assert_string_equal(ids[1], "c-a2");
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    int64_t owned = -1;
    assert_int_equal(fsv_store_pool_owned(s, "alice", &owned), FSV_OK);
    assert_int_equal(owned, 2);
    assert_int_equal(fsv_store_pool_owned(s, "", &owned), FSV_OK);
    assert_int_equal(owned, 1);     /* the pool customer has no owner */

    char buf[512];
    /* A manager of north sees north and north-a's customers and the
    ** pools of the teams within north. */
    fsv_scope boss = {0, "boss", "north", NULL, "north"};
    assert_string_equal(scope_ids(f, &boss, buf, sizeof buf),
                        "c-a1,c-a2,c-b1,c-p1");
    /* The dashboard's team filter narrows to north-a (its pool too). */
    fsv_scope boss_a = {0, "boss", "north", "north-a", "north"};
    assert_string_equal(scope_ids(f, &boss_a, buf, sizeof buf),
                        "c-a1,c-a2,c-p1");
    /* A rep of north sees its own and the pools of its team and the teams
    ** it is within: not north-a's pool. */
    fsv_scope bob = {0, "bob", NULL, NULL, "north"};
    assert_string_equal(scope_ids(f, &bob, buf, sizeof buf), "c-b1");
    /* A rep of north-a sees the pool of north-a. */
    fsv_scope alice = {0, "alice", NULL, NULL, "north-a"};
    assert_string_equal(scope_ids(f, &alice, buf, sizeof buf),
                        "c-a1,c-a2,c-p1");
    /* Everything, filtered to south. */
    fsv_scope all_s = {1, NULL, NULL, "south", NULL};
    assert_string_equal(scope_ids(f, &all_s, buf, sizeof buf), "c-s1");
    /* Claimed: out of the pool, so no longer a pool customer. */
    row.in_pool = 0;
    snprintf(row.claimed_by, sizeof row.claimed_by, "alice");
    assert_int_equal(fsv_store_pool_put(s, "c-p1", &row), FSV_OK);
    assert_string_equal(scope_ids(f, &boss_a, buf, sizeof buf), "c-a1,c-a2");
}

static void test_pool_rows_log_rules(void **state)
{
    fixture *f = *state;
    fsv_store *s = f->s;
    fsv_pool_rules r;
    assert_int_equal(fsv_store_pool_rules_get(s, &r), FSV_OK);
    assert_int_equal(r.return_days + r.warn_days + r.cooldown_days +
                     r.max_claims_per_day + r.max_owned, 0);
    fsv_pool_rules w = {30, 3, 7, 5, 100};
    assert_int_equal(fsv_store_pool_rules_set(s, &w), FSV_OK);
    w.max_owned = 50;
    assert_int_equal(fsv_store_pool_rules_set(s, &w), FSV_OK);
    assert_int_equal(fsv_store_pool_rules_get(s, &r), FSV_OK);
    assert_int_equal(r.return_days, 30);
    assert_int_equal(r.warn_days, 3);
    assert_int_equal(r.cooldown_days, 7);
    assert_int_equal(r.max_claims_per_day, 5);
    assert_int_equal(r.max_owned, 50);

    fsv_pool_row row;
    assert_int_equal(fsv_store_pool_get(s, "c1", &row), FSV_NOTFOUND);
    memset(&row, 0, sizeof row);
    snprintf(row.team, sizeof row.team, "north");
    row.in_pool = 1;
    row.since_ms = 1234;
    snprintf(row.former, sizeof row.former, "alice");
    assert_int_equal(fsv_store_pool_put(s, "c1", &row), FSV_OK);
    row.in_pool = 0;
    snprintf(row.claimed_by, sizeof row.claimed_by, "bob");
    row.claimed_ms = 2000;
    assert_int_equal(fsv_store_pool_put(s, "c1", &row), FSV_OK);
    fsv_pool_row got;
    assert_int_equal(fsv_store_pool_get(s, "c1", &got), FSV_OK);
    assert_string_equal(got.team, "north");
    assert_int_equal(got.in_pool, 0);
    assert_int_equal(got.since_ms, 1234);
    assert_string_equal(got.former, "alice");
    assert_string_equal(got.claimed_by, "bob");
    assert_int_equal(got.claimed_ms, 2000);

    /* The log, counted per user and kind since a time; in a transaction
    ** and outside one. */
    assert_int_equal(fsv_store_begin(s), FSV_OK);
    assert_int_equal(fsv_store_pool_log(s, "c1", "alice", "release", "north",
                                        1000), FSV_OK);
    assert_int_equal(fsv_store_pool_log(s, "c1", "bob", "claim", "north",
                                        2000), FSV_OK);
    assert_int_equal(fsv_store_commit(s), FSV_OK);
    assert_int_equal(fsv_store_pool_log(s, "c2", "bob", "claim", "south",
                                        3000), FSV_OK);
    assert_int_equal(fsv_store_pool_log(s, "c3", "", "return", "south", 3500),
                     FSV_OK);
    int64_t k = -1;
    assert_int_equal(fsv_store_pool_log_count(s, "bob", "claim", 0, &k), FSV_OK);
    assert_int_equal(k, 2);
    assert_int_equal(fsv_store_pool_log_count(s, "bob", "claim", 2500, &k),
                     FSV_OK);
    assert_int_equal(k, 1);
    assert_int_equal(fsv_store_pool_log_count(s, NULL, "claim", 0, &k), FSV_OK);
    assert_int_equal(k, 2);
    assert_int_equal(fsv_store_pool_log_count(s, "alice", "claim", 0, &k),
                     FSV_OK);
    assert_int_equal(k, 0);
    /* A rolled-back log row is not kept. */
    assert_int_equal(fsv_store_begin(s), FSV_OK);
    assert_int_equal(fsv_store_pool_log(s, "c9", "bob", "claim", "north", 9000),
                     FSV_OK);
    assert_int_equal(fsv_store_rollback(s), FSV_OK);
    assert_int_equal(fsv_store_pool_log_count(s, "bob", "claim", 0, &k), FSV_OK);
    assert_int_equal(k, 2);
}

static void test_pool_figures(void **state)
{
    fixture *f = *state;
    fsv_store *s = f->s;
    assert_int_equal(fsv_store_user_add(s, "alice", "rep", "north"), FSV_OK);
    /* Two pool customers of north (one deleted), one of south. */
    ts_store_put(f, "p1", "name", "P1", "alice");
    ts_store_put(f, "p1", "pool", "1", "alice");
    ts_store_put(f, "p2", "name", "P2", "alice");
    ts_store_put(f, "p2", "pool", "1", "alice");
    ts_store_put(f, "p2", "deleted", "1", "alice");
    ts_store_put(f, "p3", "name", "P3", "alice");
    ts_store_put(f, "p3", "pool", "1", "alice");
    fsv_pool_row row;
    memset(&row, 0, sizeof row);
    row.in_pool = 1;
    snprintf(row.team, sizeof row.team, "north");
    assert_int_equal(fsv_store_pool_put(s, "p1", &row), FSV_OK);
    assert_int_equal(fsv_store_pool_put(s, "p2", &row), FSV_OK);
    snprintf(row.team, sizeof row.team, "south");
    assert_int_equal(fsv_store_pool_put(s, "p3", &row), FSV_OK);
    assert_int_equal(fsv_store_pool_log(s, "p1", "alice", "release", "north",
                                        100), FSV_OK);
    assert_int_equal(fsv_store_pool_log(s, "p3", "alice", "return", "south",
                                        200), FSV_OK);
    assert_int_equal(fsv_store_pool_log(s, "p9", "bob", "claim", "Zeta", 300),
                     FSV_OK);
    assert_int_equal(fsv_store_pool_log(s, "p8", "bob", "claim", "north", 50),
                     FSV_OK);
    json_t *fig = NULL;
    assert_int_equal(fsv_store_pool_figures(s, 100, &fig), FSV_OK);
    char *txt = json_dumps(fig, JSON_COMPACT);
    /* teams in byte order ("Zeta" before "north") */
    assert_string_equal(txt,
        "[{\"team\":\"Zeta\",\"size\":0,\"returned\":0,\"claimed\":1,"
        "\"released\":0},"
        "{\"team\":\"north\",\"size\":1,\"returned\":0,\"claimed\":0,"
        "\"released\":1},"
        "{\"team\":\"south\",\"size\":1,\"returned\":1,\"claimed\":0,"
        "\"released\":0}]");
    free(txt);
    json_decref(fig);
}

static void test_blob_refs(void **state)
{
    fixture *f = *state;
    fsv_store *s = f->s;
    fsv_blob_ref refs[2];
    memset(refs, 0, sizeof refs);
    memset(refs[0].sha, 'a', FDSP_SHA256_HEX);
    memset(refs[1].sha, 'b', FDSP_SHA256_HEX);
    refs[0].size = 100;
    refs[1].size = 200;
    assert_int_equal(fsv_store_begin(s), FSV_OK);
    assert_int_equal(fsv_store_blob_refs_set(s, "fu-2", refs, 2), FSV_OK);
    assert_int_equal(fsv_store_blob_refs_set(s, "fu-1", refs, 1), FSV_OK);
    assert_int_equal(fsv_store_commit(s), FSV_OK);
    char **fus = NULL;
    size_t n = 0;
    assert_int_equal(fsv_store_blob_followups(s, refs[0].sha, &fus, &n), FSV_OK);
    assert_int_equal(n, 2);
    assert_string_equal(fus[0], "fu-1");
    assert_string_equal(fus[1], "fu-2");
    for (size_t i = 0; i < n; i++)
        free(fus[i]);
    free(fus);
    /* A follow-up's references are rewritten whole. */
    assert_int_equal(fsv_store_blob_refs_set(s, "fu-2", &refs[1], 1), FSV_OK);
    assert_int_equal(fsv_store_blob_followups(s, refs[0].sha, &fus, &n), FSV_OK);
    assert_int_equal(n, 1);
    assert_string_equal(fus[0], "fu-1");
    free(fus[0]);
    free(fus);
    assert_int_equal(fsv_store_blob_refs_set(s, "fu-1", NULL, 0), FSV_OK);
    assert_int_equal(fsv_store_blob_followups(s, refs[0].sha, &fus, &n), FSV_OK);
    assert_int_equal(n, 0);
    free(fus);
    /* Rolled back: not kept. */
    assert_int_equal(fsv_store_begin(s), FSV_OK);
    assert_int_equal(fsv_store_blob_refs_set(s, "fu-3", refs, 1), FSV_OK);
    assert_int_equal(fsv_store_rollback(s), FSV_OK);
    assert_int_equal(fsv_store_blob_followups(s, refs[0].sha, &fus, &n), FSV_OK);
    assert_int_equal(n, 0);
    free(fus);

    /* Usage: blobs stored by a user since a time, each sha once. */
    int64_t bytes = -1;
    assert_int_equal(fsv_store_blob_usage(s, "alice", 0, &bytes), FSV_OK);
    assert_int_equal(bytes, 0);
    assert_int_equal(fsv_store_blob_stored(s, refs[0].sha, 100, "alice", 1000),
                     FSV_OK);
    assert_int_equal(fsv_store_blob_stored(s, refs[0].sha, 100, "alice", 1500),
                     FSV_OK);
    assert_int_equal(fsv_store_blob_stored(s, refs[1].sha, 200, "alice", 2000),
                     FSV_OK);
    assert_int_equal(fsv_store_blob_usage(s, "alice", 0, &bytes), FSV_OK);
    assert_int_equal(bytes, 300);
    assert_int_equal(fsv_store_blob_usage(s, "alice", 1500, &bytes), FSV_OK);
    assert_int_equal(bytes, 200);
    assert_int_equal(fsv_store_blob_usage(s, "bob", 0, &bytes), FSV_OK);
    assert_int_equal(bytes, 0);
}

static int count_match(void *ud, const char *customer, const char *owner)
{
    char *t = ud;
    size_t n = strlen(t);
    snprintf(t + n, 128 - n, "%s=%s;", customer, owner);
    return FSV_OK;
}

/* PostgreSQL: a version-1 store (before teams, pool, photos and
** duplicate keys had tables) is upgraded at open; the keys of the
** customers it holds are derived, users' teams become top-level teams. */
static void test_pg_upgrade_from_1(void **state)
{
    fixture *f = *state;
    if (strcmp(ts_store_current->name, "postgresql") != 0) {
        printf("[ SKIPPED  ] the PostgreSQL schema's own versions\n");
        return;
    }
    assert_int_equal(fsv_store_user_add(f->s, "alice", "rep", "east"), FSV_OK);
    ts_store_put(f, "c1", "name", "C1", "alice");
    ts_store_put(f, "c1", "phone", "+86 138-0000-1111", "alice");
    fsv_store_close(f->s);
    f->s = NULL;
    /* Back to version 1: its tables only. */
    PGconn *db = PQconnectdb(f->place.url);
    assert_int_equal(PQstatus(db), CONNECTION_OK);
    PGresult *r = PQexec(db, "DROP TABLE teams, user_move, dev_move,"
                         " pool_rules, pool_cust, pool_log, blob_ref, blob,"
                         " dup_key, dup_notice;"
                         " UPDATE meta SET value='1' WHERE key='schema'");
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    char err[256];
    assert_int_equal(fsv_store_open(f->place.url, 0, &f->s, err, sizeof err),
                     FSV_OK);
    r = PQexec(db, "SELECT value FROM meta WHERE key='schema'");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(r, 0, 0), "2");
    PQclear(r);
    PQfinish(db);
    const fsv_teams *t = NULL;
    assert_int_equal(fsv_store_team_map(f->s, &t), FSV_OK);
    assert_string_equal(fsv_teams_parent(t, "east"), "");
    char key[FSV_DUP_KEY_MAX], text[128] = "";
    assert_int_equal(fsv_dup_key("phone", "13800001111", key, sizeof key), 1);
    assert_int_equal(fsv_store_dup_matches(f->s, key, "", count_match, text),
                     FSV_OK);
    assert_string_equal(text, "c1=alice;");
    fsv_pool_rules pr;
    assert_int_equal(fsv_store_pool_rules_get(f->s, &pr), FSV_OK);
    assert_int_equal(pr.return_days, 0);
}

int main(void)
{
    ts_store_tag = "parts";
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_team_map_and_moves, ts_store_setup, ts_store_teardown),
        cmocka_unit_test_setup_teardown(test_owned_and_scope, ts_store_setup, ts_store_teardown),
        cmocka_unit_test_setup_teardown(test_pool_rows_log_rules, ts_store_setup, ts_store_teardown),
        cmocka_unit_test_setup_teardown(test_pool_figures, ts_store_setup, ts_store_teardown),
        cmocka_unit_test_setup_teardown(test_blob_refs, ts_store_setup, ts_store_teardown),
        cmocka_unit_test_setup_teardown(test_pg_upgrade_from_1, ts_store_setup, ts_store_teardown),
    };
    int failed = 0;
    for (size_t b = 0; b < ts_n_store_backends; b++) {
        ts_store_current = &ts_store_backends[b];
        char name[64];
        snprintf(name, sizeof name, "store parts: %s", ts_store_current->name);
        failed += _cmocka_run_group_tests(name, tests,
                                          sizeof tests / sizeof tests[0],
                                          NULL, NULL);
    }
    return failed;
}
