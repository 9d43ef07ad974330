/*
** test_teams.c — nested teams and moving people (DESIGN.md rule 8, issue
** 14), through the real fieldsync-server over TLS:
**  - teams china > east > east_sh and china > west: the manager of east
**    sees east_sh's customers but not west's, by sync and by the
**    dashboard API; a rep cannot use ?team= to see the team beside;
**  - `user set` moves a rep east_sh -> west and back while the server
**    runs: the old manager's device has the rep's customers revoked, the
**    new manager's gets them in full (follow-ups too), the rep's own
**    device keeps them; a rep made manager gains the team's customers;
**  - a `sync --watch`-style device (a core session on a raw WebSocket)
**    learns of a move with no sync of its own: a revoke, or a live batch
**    with the full state;
**  - `team add` refuses an unknown parent, a cycle and a duplicate.
** Built twice: test_server_teams on SQLite, and with FSV_TEAMS_ON_PG
** test_server_pg_teams, the same tests with `serve --store
** postgresql://...` on the private cluster (issue 12: one behaviour).
*/
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "fieldsync_proto.h"
#include "harness.h"
#include "http_client.h"
#include "rawws.h"

#ifdef FSV_TEAMS_ON_PG
#include "pgcluster.h"

static ts_pg g_pg;

/* th_init on a fresh database of the private cluster. */
static void th_init_pg(th_server *s)
{
    char db[64], url[256];
    assert_int_equal(ts_pg_create_db(&g_pg, "teams", db, sizeof db), 0);
    ts_pg_url(&g_pg, db, url, sizeof url);
    th_init_store(s, url);
}
#define th_init th_init_pg

static int group_setup(void **state)
{
    (void)state;
    return ts_pg_start(&g_pg);
}

static int group_teardown(void **state)
{
    (void)state;
    ts_pg_stop(&g_pg);
    return 0;
}
#else
#define group_setup NULL
#define group_teardown NULL
#endif

static int has_customer(fds_replica *r, const char *id)
{
    json_t *out = NULL;
    int rc = fds_customer_get(r, id, &out);
    json_decref(out);
    return rc == FDS_OK;
}

static int followups(fds_replica *r, const char *id)
{
    json_t *sheet = NULL;
    if (fds_customer_sheet(r, id, &sheet) != FDS_OK)
        return -1;
    int n = (int)json_array_size(json_object_get(sheet, "followups"));
    json_decref(sheet);
    return n;
}

static void add_followups(fds_replica *r, const char *id, int n)
{
    for (int k = 0; k < n; k++) {
        json_t *in = json_pack("{s:s, s:s}", "method", "电话",
                               "content", "回访"), *out = NULL;
        assert_int_equal(fds_followup_add(r, id, in, &out), FDS_OK);
        json_decref(in);
        json_decref(out);
    }
}

static fds_session_stats sync_stats(th_server *s, fds_replica *r,
                                    const char *tok)
{
    fds_session_stats st;
    assert_int_equal(th_sync(s, r, tok, &st), 0);
    return st;
}

static void admin_ok(th_server *s, ...)
{
    char out[2048];
    va_list ap;
    va_start(ap, s);
    const char *argv[16];
    int n = 0;
    const char *a;
    while (n < 15 && (a = va_arg(ap, const char *)) != NULL)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    int rc = th_admin(s, out, sizeof out, argv[0], argv[1], argv[2],
                      n > 3 ? argv[3] : NULL, n > 4 ? argv[4] : NULL,
                      n > 5 ? argv[5] : NULL, n > 6 ? argv[6] : NULL, NULL);
    if (rc != 0)
        fail_msg("fieldsync-server %s %s %s: exit %d", argv[0], argv[1],
                 argv[2], rc);
}

static ta_resp api_get(th_server *s, const char *tok, const char *path)
{
    char hdr[160];
    snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\n", tok);
    return ta_request(s->port, s->ca, "GET", path, hdr, NULL);
}

/* X-Total-Count of GET path (status 200 asserted). */
static long total_of(th_server *s, const char *tok, const char *path)
{
    ta_resp r = api_get(s, tok, path);
    if (r.status != 200)
        fail_msg("GET %s: %d %s", path, r.status, r.body ? r.body : "");
    char buf[32];
    const char *v = ta_header(&r, "x-total-count", buf, sizeof buf);
    long n = v ? strtol(v, NULL, 10) : -1;
    ta_resp_free(&r);
    return n;
}

static int status_of(th_server *s, const char *tok, const char *path)
{
    ta_resp r = api_get(s, tok, path);
    int st = r.status;
    ta_resp_free(&r);
    return st;
}

/* "customers" of GET /api/summary?team=... */
static long summary_customers(th_server *s, const char *tok, const char *q)
{
    char path[128];
    snprintf(path, sizeof path, "/api/summary%s", q);
    ta_resp r = api_get(s, tok, path);
    assert_int_equal(r.status, 200);
    json_t *j = json_loads(r.body, 0, NULL);
    assert_non_null(j);
    long n = (long)json_integer_value(json_object_get(j, "customers"));
    json_decref(j);
    ta_resp_free(&r);
    return n;
}

struct world {
    char boss[80], em[80], wm[80], r1[80], r2[80], r3[80];
    fds_replica *bossd, *emd, *wmd, *r1d, *r2d, *r3d;
    char *a, *b, *c;        /* r1's (east_sh), r2's and r3's (west) */
};

static void world_make(th_server *s, struct world *w)
{
    th_init(s);
    admin_ok(s, "team", "add", "china", NULL);
    admin_ok(s, "team", "add", "east", "--parent", "china", NULL);
    admin_ok(s, "team", "add", "east_sh", "--parent", "east", NULL);
    admin_ok(s, "team", "add", "west", "--parent", "china", NULL);
    th_user(s, "boss", "manager", "china", w->boss);
    th_user(s, "em", "manager", "east", w->em);
    th_user(s, "wm", "manager", "west", w->wm);
    th_user(s, "r1", "rep", "east_sh", w->r1);
    th_user(s, "r2", "rep", "west", w->r2);
    th_user(s, "r3", "rep", "west", w->r3);
    th_start(s, NULL);
    w->bossd = th_replica(s, "boss");
    w->emd = th_replica(s, "em");
    w->wmd = th_replica(s, "wm");
    w->r1d = th_replica(s, "r1");
    w->r2d = th_replica(s, "r2");
    w->r3d = th_replica(s, "r3");
    /* Every device has synced once: a customer it comes to see later
    ** must be sent in full (its history lies before the cursor). */
    sync_stats(s, w->bossd, w->boss);
    sync_stats(s, w->emd, w->em);
    sync_stats(s, w->wmd, w->wm);
    w->a = th_customer(w->r1d, "上海客户");
    add_followups(w->r1d, w->a, 2);
    w->b = th_customer(w->r2d, "成都客户");
    w->c = th_customer(w->r3d, "西安客户");
    add_followups(w->r3d, w->c, 1);
    sync_stats(s, w->r1d, w->r1);
    sync_stats(s, w->r2d, w->r2);
    sync_stats(s, w->r3d, w->r3);
}

static void world_free(struct world *w)
{
    fds_replica_close(w->bossd);
    fds_replica_close(w->emd);
    fds_replica_close(w->wmd);
    fds_replica_close(w->r1d);
    fds_replica_close(w->r2d);
    fds_replica_close(w->r3d);
    free(w->a);
    free(w->b);
    free(w->c);
}

/* The manager of east sees east_sh (below) and not west (beside); the
** manager of china sees both; by sync and by the API. */
static void test_nested_scope(void **state)
{
    th_server *s = *state;
    struct world w;
    world_make(s, &w);

    sync_stats(s, w.bossd, w.boss);
    sync_stats(s, w.emd, w.em);
    sync_stats(s, w.wmd, w.wm);
    assert_true(has_customer(w.bossd, w.a) && has_customer(w.bossd, w.b) &&
                has_customer(w.bossd, w.c));
    assert_true(has_customer(w.emd, w.a));
    assert_int_equal(followups(w.emd, w.a), 2);
    assert_false(has_customer(w.emd, w.b));
    assert_false(has_customer(w.emd, w.c));
    assert_false(has_customer(w.wmd, w.a));
    assert_true(has_customer(w.wmd, w.b) && has_customer(w.wmd, w.c));

    /* The dashboard: the same scopes, and ?team= follows the tree. */
    assert_int_equal(total_of(s, w.em, "/api/customers"), 1);
    assert_int_equal(total_of(s, w.wm, "/api/customers"), 2);
    assert_int_equal(total_of(s, w.boss, "/api/customers"), 3);
    assert_int_equal(total_of(s, w.boss, "/api/customers?team=east"), 1);
    assert_int_equal(total_of(s, w.boss, "/api/customers?team=east_sh"), 1);
    assert_int_equal(total_of(s, w.boss, "/api/customers?team=west"), 2);
    assert_int_equal(total_of(s, w.boss, "/api/customers?team=china"), 3);
    assert_int_equal(summary_customers(s, w.boss, "?team=east"), 1);
    assert_int_equal(summary_customers(s, w.boss, ""), 3);
    assert_int_equal(summary_customers(s, w.em, ""), 1);
    /* A filter never widens: east's manager naming west gets nothing. */
    assert_int_equal(total_of(s, w.em, "/api/customers?team=west"), 0);
    assert_int_equal(summary_customers(s, w.em, "?team=west"), 0);
    char path[160];
    snprintf(path, sizeof path, "/api/customers/%s", w.b);
    assert_int_not_equal(status_of(s, w.em, path), 200);
    assert_int_equal(status_of(s, w.boss, path), 200);

    /* The team list a caller may filter by. */
    ta_resp r = api_get(s, w.em, "/api/teams");
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"east_sh\""));
    assert_null(strstr(r.body, "\"west\""));
    ta_resp_free(&r);
    r = api_get(s, w.boss, "/api/teams");
    assert_non_null(strstr(r.body, "\"west\""));
    ta_resp_free(&r);
    assert_int_equal(status_of(s, w.boss, "/api/customers?team=nowhere"), 400);
    /* Managers of the teams above east_sh may share its customer: china's
    ** (two levels up) with r2 of west ... */
    assert_int_equal(fds_customer_share(w.bossd, w.a, "r2", 1), FDS_OK);
    fds_session_stats st = sync_stats(s, w.bossd, w.boss);
    assert_int_equal(st.refused, 0);
    sync_stats(s, w.r2d, w.r2);
    assert_true(has_customer(w.r2d, w.a));
    /* ... and east's (one level up) with r3. */
    assert_int_equal(fds_customer_share(w.emd, w.a, "r3", 1), FDS_OK);
    st = sync_stats(s, w.emd, w.em);
    assert_int_equal(st.refused, 0);
    sync_stats(s, w.r3d, w.r3);
    assert_true(has_customer(w.r3d, w.a));
    /* A team added while the server runs is known to it at once. */
    admin_ok(s, "team", "add", "nowhere", "--parent", "west", NULL);
    assert_int_equal(total_of(s, w.boss, "/api/customers?team=nowhere"), 0);
    world_free(&w);
}

/* A hostile rep: ?team= of the team beside (or above) shows nothing that
** is not theirs, on every office path. */
static void test_hostile_rep_api(void **state)
{
    th_server *s = *state;
    struct world w;
    world_make(s, &w);
    assert_int_equal(total_of(s, w.r1, "/api/customers"), 1);
    assert_int_equal(total_of(s, w.r1, "/api/customers?team=west"), 0);
    assert_int_equal(total_of(s, w.r1, "/api/customers?team=china"), 1);
    assert_int_equal(summary_customers(s, w.r1, "?team=west"), 0);
    assert_int_equal(summary_customers(s, w.r1, "?team=china"), 1);
    ta_resp r = api_get(s, w.r1, "/api/export.csv?team=west");
    assert_int_equal(r.status, 200);
    assert_null(strstr(r.body, "成都客户"));
    assert_null(strstr(r.body, "西安客户"));
    ta_resp_free(&r);
    r = api_get(s, w.r1, "/api/analysis?team=china");
    assert_int_equal(r.status, 200);
    assert_null(strstr(r.body, "r2"));
    assert_null(strstr(r.body, "r3"));
    ta_resp_free(&r);
    r = api_get(s, w.r1, "/api/teams");
    assert_int_equal(r.status, 200);
    assert_null(strstr(r.body, "\"west\""));
    ta_resp_free(&r);
    char path[160];
    snprintf(path, sizeof path, "/api/customers/%s", w.c);
    assert_int_not_equal(status_of(s, w.r1, path), 200);
    world_free(&w);
}

/* `user set` moves r1 east_sh -> west and back while the server runs. */
static void test_move_both_ways(void **state)
{
    th_server *s = *state;
    struct world w;
    world_make(s, &w);
    sync_stats(s, w.bossd, w.boss);
    sync_stats(s, w.emd, w.em);
    sync_stats(s, w.wmd, w.wm);
    assert_true(has_customer(w.emd, w.a));
    assert_false(has_customer(w.wmd, w.a));

    admin_ok(s, "user", "set", "r1", "--team", "west", NULL);
    fds_session_stats st = sync_stats(s, w.emd, w.em);
    assert_true(st.revoked >= 1);
    assert_false(has_customer(w.emd, w.a));     /* east lost it */
    st = sync_stats(s, w.wmd, w.wm);
    assert_true(has_customer(w.wmd, w.a));      /* west got it in full */
    assert_int_equal(followups(w.wmd, w.a), 2);
    assert_int_equal(st.revoked, 0);
    st = sync_stats(s, w.r1d, w.r1);            /* the rep keeps their own */
    assert_int_equal(st.revoked, 0);
    assert_true(has_customer(w.r1d, w.a));
    st = sync_stats(s, w.bossd, w.boss);        /* china saw it all along */
    assert_int_equal(st.revoked, 0);
    assert_true(has_customer(w.bossd, w.a));
    assert_int_equal(total_of(s, w.em, "/api/customers"), 0);
    assert_int_equal(total_of(s, w.wm, "/api/customers"), 3);
    /* A second sync changes nothing more. */
    st = sync_stats(s, w.emd, w.em);
    assert_int_equal(st.revoked, 0);
    assert_int_equal(st.pulled, 0);

    /* The rep adds a follow-up in west; then moves back to east_sh. */
    add_followups(w.r1d, w.a, 1);
    sync_stats(s, w.r1d, w.r1);
    admin_ok(s, "user", "set", "r1", "--team", "east_sh", NULL);
    st = sync_stats(s, w.wmd, w.wm);
    assert_true(st.revoked >= 1);
    assert_false(has_customer(w.wmd, w.a));
    assert_true(has_customer(w.wmd, w.b));      /* its own team's stay */
    st = sync_stats(s, w.emd, w.em);
    assert_true(has_customer(w.emd, w.a));      /* back, in full */
    assert_int_equal(followups(w.emd, w.a), 3);

    /* A role change: rep r2 of west made manager gains r3's customer. */
    assert_false(has_customer(w.r2d, w.c));
    admin_ok(s, "user", "set", "r2", "--role", "manager", NULL);
    st = sync_stats(s, w.r2d, w.r2);
    assert_true(has_customer(w.r2d, w.c));
    assert_int_equal(followups(w.r2d, w.c), 1);
    assert_true(has_customer(w.r2d, w.b));
    assert_false(has_customer(w.r2d, w.a));
    /* ... and back to rep loses it again. */
    admin_ok(s, "user", "set", "r2", "--role", "rep", NULL);
    st = sync_stats(s, w.r2d, w.r2);
    assert_true(st.revoked >= 1);
    assert_false(has_customer(w.r2d, w.c));
    assert_true(has_customer(w.r2d, w.b));
    world_free(&w);
}

/* ---- Watching devices: a core session on a raw WebSocket ---------------- */

typedef struct watcher {
    rw_conn c;
    fds_replica *r;
    fds_session *s;
} watcher;

static void w_open(th_server *sv, watcher *w, const char *name,
                   const char *token)
{
    memset(w, 0, sizeof *w);
    w->r = th_replica(sv, name);
    assert_int_equal(rw_connect(&w->c, sv->port, sv->ca, 0), 0);
    assert_int_equal(rw_upgrade(&w->c, token, FDSP_SUBPROTOCOL), 101);
    assert_int_equal(fds_session_new(w->r, &w->s), FDS_OK);
}

static void w_close(watcher *w)
{
    rw_close(&w->c);
    fds_session_free(w->s);
    fds_replica_close(w->r);
}

static void w_pump(watcher *w)
{
    char *b = NULL;
    size_t n = 0;
    while (fds_session_next(w->s, &b, &n) == FDS_OK && b) {
        assert_int_equal(rw_send(&w->c, b), 0);
        free(b);
    }
}

static void w_recv(watcher *w)
{
    char *b = NULL;
    size_t n = 0;
    assert_int_equal(rw_recv(&w->c, &b, &n), 1);
    if (fds_session_feed(w->s, b, n) != FDS_OK)
        fail_msg("feed: %s (%.300s)", fds_session_errmsg(w->s), b);
    free(b);
}

static void w_settle(watcher *w)
{
    for (;;) {
        w_pump(w);
        if (fds_session_state(w->s) == FDS_SESSION_IDLE)
            return;
        w_recv(w);
    }
}

/* Messages until has_customer(id) is want (each rw_recv is bounded: a
** move the server never sends fails the test). */
static void w_until(watcher *w, const char *id, int want)
{
    for (int i = 0; i < 50 && has_customer(w->r, id) != want; i++) {
        w_recv(w);
        w_pump(w);
    }
    assert_int_equal(has_customer(w->r, id), want);
}

static void test_move_reaches_watchers(void **state)
{
    th_server *s = *state;
    struct world w;
    world_make(s, &w);
    watcher we, ww;
    w_open(s, &we, "em-watch", w.em);
    w_settle(&we);
    w_open(s, &ww, "wm-watch", w.wm);
    w_settle(&ww);
    assert_true(has_customer(we.r, w.a));
    assert_false(has_customer(ww.r, w.a));

    admin_ok(s, "user", "set", "r1", "--team", "west", NULL);
    w_until(&we, w.a, 0);               /* revoked, no sync of its own */
    w_until(&ww, w.a, 1);               /* the full state, live */
    assert_int_equal(followups(ww.r, w.a), 2);
    w_close(&we);
    w_close(&ww);
    world_free(&w);
}

/* `team add`: unknown parent and cycle are usage errors (2), a duplicate
** a failure (1), each named. */
static void test_team_add_errors(void **state)
{
    th_server *s = *state;
    char out[2048];
    th_init(s);
    assert_int_equal(th_admin(s, out, sizeof out, "team", "add", "china",
                              NULL), 0);
    assert_int_equal(th_admin(s, out, sizeof out, "team", "add", "east",
                              "--parent", "nowhere", NULL), 2);
    assert_int_equal(th_admin(s, out, sizeof out, "team", "add", "east",
                              "--parent", "east", NULL), 2);
    assert_int_equal(th_admin(s, out, sizeof out, "team", "add", "china",
                              NULL), 1);
    assert_int_equal(th_admin(s, out, sizeof out, "team", "add", "*",
                              NULL), 2);
    assert_int_equal(th_admin(s, out, sizeof out, "team", "add", "east",
                              "--parent", "china", "--json", NULL), 0);
    /* An unknown team in user add still works: a top-level team. */
    char tok[80];
    th_user(s, "old", "rep", "legacy", tok);
    assert_int_equal(th_admin(s, out, sizeof out, "team", "list", "--json",
                              NULL), 0);
    json_t *j = json_loads(out, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_array_size(j), 3);
    size_t i;
    json_t *t;
    int seen = 0;
    json_array_foreach(j, i, t) {
        const char *name = json_string_value(json_object_get(t, "team"));
        if (strcmp(name, "east") == 0) {
            assert_string_equal(json_string_value(json_object_get(t,
                                "parent")), "china");
            seen++;
        } else if (strcmp(name, "legacy") == 0) {
            assert_true(json_is_null(json_object_get(t, "parent")));
            assert_int_equal(json_integer_value(json_object_get(t, "users")),
                             1);
            seen++;
        }
    }
    assert_int_equal(seen, 2);
    json_decref(j);
    /* user set: unknown team (2), unknown user (3). */
    assert_int_equal(th_admin(s, out, sizeof out, "user", "set", "old",
                              "--team", "nowhere", NULL), 2);
    assert_int_equal(th_admin(s, out, sizeof out, "user", "set", "nobody",
                              "--team", "east", NULL), 3);
    assert_int_equal(th_admin(s, out, sizeof out, "user", "set", "old",
                              "--team", "east", "--json", NULL), 0);
    j = json_loads(out, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "team")), "east");
    assert_true(json_is_true(json_object_get(j, "moved")));
    json_decref(j);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_team_add_errors, th_test_setup,
                                        th_test_teardown),
        cmocka_unit_test_setup_teardown(test_nested_scope, th_test_setup,
                                        th_test_teardown),
        cmocka_unit_test_setup_teardown(test_hostile_rep_api, th_test_setup,
                                        th_test_teardown),
        cmocka_unit_test_setup_teardown(test_move_both_ways, th_test_setup,
                                        th_test_teardown),
        cmocka_unit_test_setup_teardown(test_move_reaches_watchers,
                                        th_test_setup, th_test_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
