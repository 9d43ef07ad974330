/*
** test_pool.c — the customer pool (公海, issue 14; DESIGN.md "Customer
** pool"), through the real `fieldsync` and `fieldsync-server` binaries
** over real TLS:
**  - a release and a claim by another rep of the team: the releasing
**    owner's device loses the customer, the claimer's gains it; a rep of
**    another team neither sees nor can claim it; history has both;
**  - an offline double claim: exactly one wins, the loser is told by name
**    (stderr and `sync --json`), the customer leaves the loser's list and
**    the follow-up the loser logged reaches the winner and the team's
**    manager;
**  - the rules: the former owner's cooldown, the daily claim cap and the
**    holding cap, each a refusal naming the rule;
**  - the automatic return: `today` warns the owner ahead (the server's
**    rules reach the device), and a server run under faketime a month
**    ahead returns the customer to the pool as user "system".
**
** The helpers (run the binary, start the server) are those of test_cli.c,
** included here without its main.  Built twice: test_cli_pool on the
** SQLite store, and with FSV_POOL_ON_PG test_cli_pg_pool, every server
** command and `serve` taking --store postgresql://... (a fresh database
** of the private cluster, tests/support/pgcluster.c, per world): issue 12,
** one behaviour on both backends.
*/
#define TEST_CLI_NO_MAIN
#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wunused-function"
#endif
#include "test_cli.c"

#include <time.h>

static char g_srv[700], g_url[64], g_ca[760], g_listen[64];
static int g_port;
static char g_mei[128];     /* the east manager's token (GET /api/pool) */
/* The store: "" for the SQLite file in g_srv, else its URL; g_store_opt
** the shell words that name it (" --store 'URL'" or ""). */
static char g_store_url[300], g_store_opt[320];

#ifdef FSV_POOL_ON_PG
#include "pgcluster.h"
static ts_pg g_pg;
static int g_pg_up;

static void fresh_store(void)
{
    if (!g_pg_up) {
        assert_int_equal(ts_pg_start(&g_pg), 0);
        g_pg_up = 1;
    }
    char db[64];
    assert_int_equal(ts_pg_create_db(&g_pg, "pool", db, sizeof db), 0);
    ts_pg_url(&g_pg, db, g_store_url, sizeof g_store_url);
    snprintf(g_store_opt, sizeof g_store_opt, " --store '%s'", g_store_url);
}
#else
static void fresh_store(void)
{
    g_store_url[0] = g_store_opt[0] = '\0';
}
#endif

static char *user_token(const char *user, const char *role, const char *team)
{
    return server_user_add(g_srv, g_store_opt, user, role, team);
}

/* `fieldsync-server pool set ARGS --data g_srv` (a shell word list). */
static void pool_set(const char *args)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' pool set %s --data '%s'%s >/dev/null",
             SERVER_BIN, args, g_srv, g_store_opt);
    assert_int_equal(system(cmd), 0);
}

/* Start serve (under `faketime -f SHIFT` when shift is not NULL). */
static void serve(const char *shift)
{
    char logp[760];
    snprintf(logp, sizeof logp, "%s/server-%s.log", g_dir, shift ? "faketime" : "real");
    if (!g_port) {
        g_port = free_port();
        snprintf(g_listen, sizeof g_listen, "127.0.0.1:%d", g_port);
        snprintf(g_url, sizeof g_url, "wss://127.0.0.1:%d", g_port);
    }
    if (shift) {
        /* libfaketime preloaded into the server itself (what the faketime
        ** command does, but the pid is the server's, so stop_server stops
        ** it); lws's timers keep the real monotonic clock. */
        extern char **environ;
        char pre[600], ft[64], asan[1200];
        snprintf(pre, sizeof pre, "LD_PRELOAD=%s", FAKETIME_LIB);
        snprintf(ft, sizeof ft, "FAKETIME=%s", shift);
        /* An ASan build wants its runtime first; libfaketime only wraps
        ** the clock calls, so let it be preloaded ahead. */
        const char *ao = getenv("ASAN_OPTIONS");
        snprintf(asan, sizeof asan, "ASAN_OPTIONS=%.1000s%sverify_asan_link_order=0",
                 ao ? ao : "", ao && *ao ? ":" : "");
        size_t n = 0;
        while (environ[n]) n++;
        char **env = calloc(n + 5, sizeof *env);
        assert_non_null(env);
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (strncmp(environ[i], "LD_PRELOAD=", 11) && strncmp(environ[i], "FAKETIME", 8) &&
                strncmp(environ[i], "ASAN_OPTIONS=", 13))
                env[k++] = environ[i];
        env[k++] = pre;
        env[k++] = asan;
        env[k++] = ft;
        env[k++] = (char *)"FAKETIME_DONT_FAKE_MONOTONIC=1";
        env[k] = NULL;
        g_server = spawn_logged(logp, (char *const[]){ SERVER_BIN, "serve", "--data",
                                g_srv, "--listen", g_listen,
                                g_store_url[0] ? (char *)"--store" : NULL,
                                g_store_url, NULL }, env);
        free(env);
    } else {
        g_server = spawn_logged(logp, (char *const[]){ SERVER_BIN, "serve",
                                "--data", g_srv, "--listen", g_listen,
                                g_store_url[0] ? (char *)"--store" : NULL,
                                g_store_url, NULL }, NULL);
    }
    for (int i = 0; i < 200 && !port_open(g_port); i++) usleep(50000);
    assert_true(port_open(g_port));
}

static void stop_server(void)
{
    kill(g_server, SIGTERM);
    waitpid(g_server, NULL, 0);
    g_server = 0;
    for (int i = 0; i < 200 && port_open(g_port); i++) usleep(50000);
    assert_false(port_open(g_port));
}

/* A server with an east team (alice, bob, dan, their manager mei) and a
** west rep (carl); each user's replica initialised on g_dir/NAME.db. */
static void world(void)
{
    char cmd[2048];
    g_port = 0;
    snprintf(g_srv, sizeof g_srv, "%s/srv", g_dir);
    snprintf(g_ca, sizeof g_ca, "%s/ca.pem", g_srv);
    fresh_store();
    snprintf(cmd, sizeof cmd, "'%s' init --data '%s'%s --san 127.0.0.1 >/dev/null 2>&1",
             SERVER_BIN, g_srv, g_store_opt);
    assert_int_equal(system(cmd), 0);
    static const char *const users[][3] = {
        {"alice", "rep", "east"}, {"bob", "rep", "east"}, {"dan", "rep", "east"},
        {"mei", "manager", "east"}, {"carl", "rep", "west"} };
    char *tok[5];
    for (int i = 0; i < 5; i++)
        tok[i] = user_token(users[i][0], users[i][1], users[i][2]);
    snprintf(g_mei, sizeof g_mei, "%s", tok[3]);
    serve(NULL);
    for (int i = 0; i < 5; i++) {
        char name[32];
        snprintf(name, sizeof name, "%s.db", users[i][0]);
        res r = raw(NULL, "--db", path_in(name), "init", "--server", g_url,
                    "--token", tok[i], "--ca", g_ca);
        expect(r, 0);
        res_free(&r);
        free(tok[i]);
    }
}

static const char *db(const char *user)
{
    char name[32];
    snprintf(name, sizeof name, "%s.db", user);
    return path_in(name);
}

static void sync_ok(const char *user)
{
    res r = raw(NULL, "--db", db(user), "sync");
    expect(r, 0);
    res_free(&r);
}

/* A customer added by user (synced); its id (malloc'd). */
static char *customer_of(const char *user, const char *name)
{
    res r = raw(NULL, "--db", db(user), "--json", "customer", "add", "--name", name);
    expect(r, 0);
    char *id = strdup(jstr(r.json, "id"));
    res_free(&r);
    sync_ok(user);
    return id;
}

/* 1 if user's replica lists customer id (customer list). */
static int lists(const char *user, const char *id)
{
    res r = raw(NULL, "--db", db(user), "--json", "customer", "list");
    expect(r, 0);
    int found = 0;
    size_t i;
    json_t *c;
    json_array_foreach(r.json, i, c)
        found |= strcmp(jstr(c, "id"), id) == 0;
    res_free(&r);
    return found;
}

/* 1 if user's `pool list` has id. */
static int in_pool_list(const char *user, const char *id)
{
    res r = raw(NULL, "--db", db(user), "--json", "pool", "list");
    expect(r, 0);
    int found = 0;
    size_t i;
    json_t *c;
    json_array_foreach(r.json, i, c) {
        found |= strcmp(jstr(c, "id"), id) == 0;
        assert_true(json_is_true(json_object_get(c, "pool")));
    }
    res_free(&r);
    return found;
}

static json_t *show(const char *user, const char *id)
{
    res r = raw(NULL, "--db", db(user), "--json", "customer", "show", id);
    expect(r, 0);
    json_t *j = json_incref(r.json);
    res_free(&r);
    return j;
}

static void release(const char *user, const char *id)
{
    res r = raw(NULL, "--db", db(user), "--json", "customer", "release", id,
                "--note", "预算冻结");
    expect(r, 0);
    assert_true(json_is_true(json_object_get(r.json, "pool")));
    assert_string_equal(jstr(r.json, "owner"), "");
    res_free(&r);
    sync_ok(user);
}

static void claim(const char *user, const char *id)
{
    res r = raw(NULL, "--db", db(user), "--json", "pool", "claim", id);
    expect(r, 0);
    assert_string_equal(jstr(r.json, "owner"), user);
    assert_false(json_is_true(json_object_get(r.json, "pool")));
    res_free(&r);
}

/* user's sync --json refuses the claim of id naming rule (the message). */
static void claim_refused(const char *user, const char *id, const char *rule)
{
    claim(user, id);
    res r = raw(NULL, "--db", db(user), "--json", "sync");
    expect(r, 0);
    json_t *refs = json_object_get(r.json, "refusals");
    int named = 0;
    size_t i;
    json_t *f;
    json_array_foreach(refs, i, f)
        named |= strcmp(jstr(f, "field"), "owner") == 0 &&
                 strstr(jstr(f, "message"), rule) != NULL;
    if (!named)
        fail_msg("%s's claim was not refused by %s:\n%s\n%s", user, rule, r.out, r.err);
    res_free(&r);
    /* Undone here: still in the pool, not the user's. */
    json_t *c = show(user, id);
    assert_true(json_is_true(json_object_get(c, "pool")));
    json_decref(c);
}

/* Whether customer id's history on user's replica has an owner entry by
** `by` setting it to `value`. */
static int history_has(const char *user, const char *id, const char *by,
                       const char *field, const char *value)
{
    res r = raw(NULL, "--db", db(user), "--json", "history", id);
    expect(r, 0);
    int found = 0;
    size_t i;
    json_t *e;
    json_array_foreach(r.json, i, e)
        found |= strcmp(jstr(e, "user"), by) == 0 &&
                 strcmp(jstr(e, "field"), field) == 0 &&
                 strcmp(jstr(e, "value"), value) == 0;
    res_free(&r);
    return found;
}

/* GET path as the east manager (curl, the CA pinned). */
static json_t *api_get(const char *path)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "curl -sS --fail --cacert '%s' -H 'Authorization: Bearer %s'"
             " 'https://127.0.0.1:%d%s'", g_ca, g_mei, g_port, path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    json_t *j = json_loadf(p, 0, NULL);
    pclose(p);
    if (!j)
        fail_msg("GET %s answered no JSON", path);
    return j;
}

static json_t *api_pool(void)
{
    return api_get("/api/pool");
}

/* Whether the dashboard's customer list (the office view's scope) has id,
** for the east manager. */
static int office_lists(const char *id)
{
    json_t *j = api_get("/api/customers?limit=100");
    json_t *items = json_is_array(j) ? j : json_object_get(j, "customers");
    int found = 0;
    size_t i;
    json_t *c;
    json_array_foreach(items, i, c)
        found |= strcmp(jstr(c, "id"), id) == 0;
    json_decref(j);
    return found;
}

/* The team row of /api/pool's teams, or NULL. */
static json_t *pool_team(json_t *pool, const char *team)
{
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(pool, "teams"), i, t)
        if (strcmp(jstr(t, "team"), team) == 0)
            return t;
    return NULL;
}

static void test_release_and_claim(void **state)
{
    (void)state;
    world();
    char *id = customer_of("alice", "张伟");
    sync_ok("bob");
    sync_ok("carl");
    assert_false(lists("bob", id));             /* alice's, not bob's */

    release("alice", id);
    /* The team sees it in the pool; alice still does (her team's pool). */
    sync_ok("bob");
    assert_true(in_pool_list("bob", id));
    assert_true(in_pool_list("alice", id));
    json_t *c = show("bob", id);
    assert_true(json_is_true(json_object_get(c, "pool")));
    assert_true(json_is_string(json_object_get(c, "pool_since")));
    json_decref(c);
    /* The team's manager sees it in the dashboard's list too (the office
    ** view's scope has the team's pool). */
    assert_true(office_lists(id));
    /* Another team's rep neither sees nor can claim it. */
    sync_ok("carl");
    assert_false(in_pool_list("carl", id));
    assert_false(lists("carl", id));
    res r = raw(NULL, "--db", db("carl"), "pool", "claim", id);
    expect(r, 3);
    res_free(&r);

    claim("bob", id);
    sync_ok("bob");
    sync_ok("alice");
    assert_false(lists("alice", id));           /* revoked from alice */
    assert_true(lists("bob", id));
    c = show("bob", id);
    assert_string_equal(jstr(c, "owner"), "bob");
    assert_false(json_is_true(json_object_get(c, "pool")));
    assert_true(json_is_null(json_object_get(c, "pool_since")));
    json_decref(c);
    sync_ok("carl");
    assert_false(lists("carl", id));
    /* The dashboard: east released one and claimed one this week; the
    ** pool is empty again. */
    json_t *pool = api_pool();
    json_t *east = pool_team(pool, "east");
    assert_non_null(east);
    assert_int_equal(json_integer_value(json_object_get(east, "size")), 0);
    assert_int_equal(json_integer_value(json_object_get(east, "released")), 1);
    assert_int_equal(json_integer_value(json_object_get(east, "claimed")), 1);
    assert_int_equal(json_integer_value(json_object_get(pool, "claimed_week")), 1);
    json_decref(pool);
    /* History: the release (alice, owner "") and the claim (bob). */
    assert_true(history_has("bob", id, "alice", "owner", ""));
    assert_true(history_has("bob", id, "alice", "pool", "1"));
    assert_true(history_has("bob", id, "bob", "owner", "bob"));
    free(id);
}

/* Pools follow the team tree (DESIGN.md: a pool customer is visible to
** every rep of its team and of the teams below it, and the managers above
** see it as a customer of their subtree): east_sh under east. */
static void add_user_device(const char *user, const char *role, const char *team)
{
    char *tok = user_token(user, role, team);
    res r = raw(NULL, "--db", db(user), "init", "--server", g_url, "--token", tok,
                "--ca", g_ca);
    expect(r, 0);
    res_free(&r);
    free(tok);
}

static void test_nested_pools(void **state)
{
    (void)state;
    world();
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' team add east_sh --parent east --data '%s'%s >/dev/null",
             SERVER_BIN, g_srv, g_store_opt);
    assert_int_equal(system(cmd), 0);
    add_user_device("sam", "rep", "east_sh");
    add_user_device("tim", "rep", "east_sh");

    /* east_sh's pool: its own reps and east's manager, not east's reps. */
    char *low = customer_of("sam", "下级客户");
    json_t *sum = api_get("/api/summary");
    json_int_t before = json_integer_value(json_object_get(sum, "customers"));
    json_decref(sum);
    release("sam", low);
    /* still one of mei's customers: the figures (aggregates) keep the
    ** pool customers of her subtree, as her list does */
    sum = api_get("/api/summary");
    assert_int_equal(json_integer_value(json_object_get(sum, "customers")), before);
    json_decref(sum);
    assert_true(office_lists(low));
    sync_ok("tim");
    sync_ok("alice");
    sync_ok("mei");
    sync_ok("carl");
    assert_true(in_pool_list("tim", low));
    assert_false(in_pool_list("alice", low));
    assert_false(lists("alice", low));
    assert_true(lists("mei", low));
    assert_false(lists("carl", low));
    res r = raw(NULL, "--db", db("alice"), "pool", "claim", low);
    expect(r, 3);
    res_free(&r);

    /* east's pool: the reps of east and of east_sh below it. */
    char *high = customer_of("alice", "上级客户");
    release("alice", high);
    sync_ok("sam");
    sync_ok("bob");
    sync_ok("carl");
    assert_true(in_pool_list("sam", high));
    assert_true(in_pool_list("bob", high));
    assert_false(lists("carl", high));
    /* and a rep below may claim it: it leaves the others' pools */
    claim("sam", high);
    sync_ok("sam");
    sync_ok("bob");
    assert_true(lists("sam", high));
    assert_false(lists("bob", high));
    free(low);
    free(high);
}

static void test_offline_double_claim(void **state)
{
    (void)state;
    world();
    char *id = customer_of("bob", "李娜");
    release("bob", id);
    sync_ok("alice");
    sync_ok("dan");
    sync_ok("mei");
    /* Both claim offline; both see it as theirs; dan logs a visit. */
    claim("alice", id);
    claim("dan", id);
    res r = raw(NULL, "--db", db("dan"), "followup", "add", id, "--method", "visit",
                "--content", "dan 上门拜访");
    expect(r, 0);
    res_free(&r);
    assert_true(lists("alice", id));
    assert_true(lists("dan", id));
    assert_false(in_pool_list("dan", id));

    sync_ok("alice");                           /* first to the server */
    r = raw(NULL, "--db", db("dan"), "--json", "sync");
    expect(r, 0);
    json_t *lost = json_object_get(r.json, "claimed_first");
    if (json_array_size(lost) != 1)
        fail_msg("dan is not told who claimed first:\n%s\n%s", r.out, r.err);
    json_t *l = json_array_get(lost, 0);
    assert_string_equal(jstr(l, "customer"), id);
    assert_string_equal(jstr(l, "by"), "alice");
    assert_string_equal(jstr(l, "name"), "李娜");
    assert_non_null(strstr(r.err, "alice"));   /* said on stderr too */
    assert_non_null(strstr(r.err, "李娜"));
    res_free(&r);
    assert_false(lists("dan", id));             /* left dan's list */

    /* The winner owns it and has dan's follow-up; so does the manager. */
    sync_ok("alice");
    sync_ok("mei");
    const char *who[] = {"alice", "mei"};
    for (int k = 0; k < 2; k++) {
        json_t *c = show(who[k], id);
        assert_string_equal(jstr(c, "owner"), "alice");
        json_t *fu = json_object_get(c, "followups");
        int found = 0;
        size_t i;
        json_t *f;
        json_array_foreach(fu, i, f)
            found |= strcmp(jstr(f, "content"), "dan 上门拜访") == 0;
        if (!found)
            fail_msg("%s lacks dan's follow-up", who[k]);
        json_decref(c);
    }
    /* And dan's outbox is empty: nothing waits to be re-sent forever. */
    r = raw(NULL, "--db", db("dan"), "--json", "sync");
    expect(r, 0);
    assert_int_equal(json_integer_value(json_object_get(r.json, "pushed")), 0);
    res_free(&r);
    free(id);
}

static void test_rules(void **state)
{
    (void)state;
    world();
    pool_set("--cooldown-days 3");
    char *a1 = customer_of("alice", "王芳");
    char *a2 = customer_of("alice", "赵强");
    char *a3 = customer_of("alice", "孙丽");
    release("alice", a1);
    release("alice", a2);
    release("alice", a3);
    /* The former owner may not take it straight back. */
    claim_refused("alice", a1, "cooldown-days");
    /* One claim a day: bob's second is refused. */
    pool_set("--max-claims-per-day 1");
    sync_ok("bob");
    claim("bob", a1);
    sync_ok("bob");
    json_t *c = show("bob", a1);
    assert_string_equal(jstr(c, "owner"), "bob");
    json_decref(c);
    claim_refused("bob", a2, "max-claims-per-day");
    /* Holding cap: dan owns one customer, the cap is one. */
    pool_set("--max-claims-per-day 0 --max-owned 1");
    char *d1 = customer_of("dan", "周杰");
    sync_ok("dan");
    claim_refused("dan", a3, "max-owned");
    /* Under the cap the same claim goes through. */
    pool_set("--max-owned 5");
    claim("dan", a3);
    res r = raw(NULL, "--db", db("dan"), "--json", "sync");
    expect(r, 0);
    assert_int_equal(json_array_size(json_object_get(r.json, "refusals")), 0);
    res_free(&r);
    c = show("dan", a3);
    assert_string_equal(jstr(c, "owner"), "dan");
    json_decref(c);
    /* `pool show --json` says what was set. */
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' pool show --data '%s'%s --json", SERVER_BIN, g_srv,
             g_store_opt);
    FILE *p = popen(cmd, "r");
    json_t *rules = json_loadf(p, 0, NULL);
    pclose(p);
    assert_int_equal(json_integer_value(json_object_get(rules, "max_owned")), 5);
    assert_int_equal(json_integer_value(json_object_get(rules, "cooldown_days")), 3);
    json_decref(rules);
    free(a1);
    free(a2);
    free(a3);
    free(d1);
}

static void test_automatic_return(void **state)
{
    (void)state;
    world();
    stop_server();
    pool_set("--return-days 30 --warn-days 5");
    serve(NULL);                    /* publishes the rules at start */
    char *id = customer_of("alice", "陈晨");
    char *won = customer_of("alice", "刘洋");
    res r = raw(NULL, "--db", db("alice"), "stage", won, "won");
    expect(r, 0);
    res_free(&r);
    sync_ok("alice");
    sync_ok("bob");

    /* Today: nothing returns soon; 27 days on, both customers are 3 days
    ** from the return, but won customers never return. */
    r = raw(NULL, "--db", db("alice"), "--json", "today");
    expect(r, 0);
    assert_int_equal(json_array_size(json_object_get(r.json, "returning")), 0);
    res_free(&r);
    /* 27 days on in the zone the CLI runs in (make_env: Asia/Shanghai). */
    char later[16];
    time_t t = time(NULL) + 27 * 86400;
    setenv("TZ", "Asia/Shanghai", 1);
    tzset();
    struct tm tm;
    strftime(later, sizeof later, "%Y-%m-%d", localtime_r(&t, &tm));
    r = raw(NULL, "--db", db("alice"), "--json", "today", "--date", later);
    expect(r, 0);
    json_t *ret = json_object_get(r.json, "returning");
    if (json_array_size(ret) != 1)
        fail_msg("want one customer returning:\n%s", r.out);
    assert_string_equal(jstr(json_array_get(ret, 0), "id"), id);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(ret, 0),
                                                        "days_left")), 3);
    res_free(&r);
    r = raw(NULL, "--db", db("alice"), "today", "--date", later);
    expect(r, 0);
    assert_non_null(strstr(r.out, "陈晨"));
    res_free(&r);
    /* bob's device warns of nothing: not his. */
    r = raw(NULL, "--db", db("bob"), "--json", "today", "--date", later);
    expect(r, 0);
    assert_int_equal(json_array_size(json_object_get(r.json, "returning")), 0);
    res_free(&r);

    /* The dashboard, 27 days on: alice's customer is returning soon. */
    stop_server();
    serve("+27d");
    json_t *pool = api_pool();
    json_t *soon = json_object_get(pool, "returning");
    if (json_array_size(soon) != 1)
        fail_msg("the dashboard lists %zu customers returning soon, want 1",
                 json_array_size(soon));
    assert_string_equal(jstr(json_array_get(soon, 0), "id"), id);
    assert_string_equal(jstr(json_array_get(soon, 0), "owner"), "alice");
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(pool, "rules"), "return_days")), 30);
    json_decref(pool);

    /* A month on, the server returns it at start, as user system. */
    stop_server();
    serve("+31d");
    sync_ok("alice");
    json_t *c = show("alice", id);
    assert_true(json_is_true(json_object_get(c, "pool")));
    assert_string_equal(jstr(c, "owner"), "");
    json_decref(c);
    c = show("alice", won);
    assert_string_equal(jstr(c, "owner"), "alice");
    json_decref(c);
    assert_true(history_has("alice", id, "system", "owner", ""));
    sync_ok("bob");
    assert_true(in_pool_list("bob", id));
    assert_false(in_pool_list("bob", won));
    /* The dashboard: one customer in east's pool, returned this week. */
    pool = api_pool();
    json_t *east = pool_team(pool, "east");
    assert_non_null(east);
    assert_int_equal(json_integer_value(json_object_get(east, "size")), 1);
    assert_int_equal(json_integer_value(json_object_get(east, "returned")), 1);
    assert_int_equal(json_integer_value(json_object_get(pool, "returned_week")), 1);
    assert_int_equal(json_array_size(json_object_get(pool, "returning")), 0);
    json_decref(pool);
    /* A claim over the server's own versions is accepted (its device's
    ** counters are known to rule 15) and takes it out of the pool. */
    claim("bob", id);
    r = raw(NULL, "--db", db("bob"), "--json", "sync");
    expect(r, 0);
    if (json_array_size(json_object_get(r.json, "refusals")) != 0)
        fail_msg("bob's claim after the return was refused:\n%s", r.out);
    res_free(&r);
    sync_ok("alice");
    assert_false(lists("alice", id));
    c = show("bob", id);
    assert_string_equal(jstr(c, "owner"), "bob");
    json_decref(c);
    free(id);
    free(won);
}

/* --help of the new commands, and the server's pool rules refusing a
** bad value (exit 2) and keeping unset ones. */
static void test_help_and_usage(void **state)
{
    (void)state;
    static const char *const cmds[][2] = {
        {"customer", "release"}, {"pool", "list"}, {"pool", "claim"} };
    for (size_t i = 0; i < 3; i++) {
        res r = raw(NULL, cmds[i][0], cmds[i][1], "--help");
        expect(r, 0);
        assert_non_null(strstr(r.out, "Usage: fieldsync"));
        assert_non_null(strstr(r.out, cmds[i][1]));
        res_free(&r);
    }
    res r = raw(NULL, "--db", g_db, "pool", "claim");
    expect(r, 2);
    res_free(&r);
    char cmd[2048];
    snprintf(g_srv, sizeof g_srv, "%s/srv", g_dir);
    fresh_store();
    snprintf(cmd, sizeof cmd, "'%s' init --data '%s'%s >/dev/null 2>&1", SERVER_BIN, g_srv,
             g_store_opt);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "'%s' pool --help | grep -q return-days", SERVER_BIN);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "'%s' pool set --return-days x --data '%s' 2>/dev/null",
             SERVER_BIN, g_srv);
    assert_int_equal(WEXITSTATUS(system(cmd)), 2);
    pool_set("--return-days 30");
    pool_set("--warn-days 4");
    snprintf(cmd, sizeof cmd, "'%s' pool show --json --data '%s'%s", SERVER_BIN, g_srv,
             g_store_opt);
    FILE *p = popen(cmd, "r");
    json_t *rules = json_loadf(p, 0, NULL);
    pclose(p);
    assert_int_equal(json_integer_value(json_object_get(rules, "return_days")), 30);
    assert_int_equal(json_integer_value(json_object_get(rules, "warn_days")), 4);
    assert_int_equal(json_integer_value(json_object_get(rules, "max_owned")), 0);
    json_decref(rules);
}

int main(void)
{
    setlocale(LC_CTYPE, "C.UTF-8");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_help_and_usage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_release_and_claim, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offline_double_claim, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nested_pools, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_automatic_return, setup, teardown),
    };
#ifdef FSV_POOL_ON_PG
    int failed = cmocka_run_group_tests_name("customer pool: postgresql store",
                                             tests, NULL, NULL);
    if (g_pg_up)
        ts_pg_stop(&g_pg);
    return failed;
#else
    return cmocka_run_group_tests(tests, NULL, NULL);
#endif
}
