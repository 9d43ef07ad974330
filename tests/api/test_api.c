/*
** test_api.c — the HTTPS JSON API (docs/API.md) of a real fieldsync-server
** fed by real devices (the fieldsync CLI binary syncing over TLS):
** authentication (401, login cookie flags, logout), counts in
** /api/summary for a rep, a manager and an admin, the customer list and
** 403/404, "as of" returning an earlier value, the CSV export, and /live
** announcing a device's change.
**
** Data: team east = manager boss, reps alice and bob; team west = carol.
**   alice: Acme 李 (phone 111, one follow-up), Beta (moved to intent)
**   bob:   Delta (won)
**   carol: Zeta
*/
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "harness.h"
#include "http_client.h"
#include "rawws.h"

typedef struct fixture {
    th_server srv;
    char tok_alice[80], tok_bob[80], tok_boss[80], tok_carol[80];
    char acme[64], beta[64], delta[64], zeta[64];
    char between[32];           /* after phone 111, before phone 222 */
} fixture;

static fixture fx;

/* Run the fieldsync CLI on device NAME's replica; its --json output. */
static json_t *cli(const char *dev, const char *fmt, ...)
{
    char args[1024], cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "'%s' --db '%s/%s.db' %s --json", FDS_CLI_BIN,
             fx.srv.dir, dev, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    json_error_t err;
    json_t *j = json_loadf(p, 0, &err);
    int rc = pclose(p);
    if (rc != 0 || !j)
        fail_msg("%s: exit %d, %s", cmd, rc, j ? "" : err.text);
    return j;
}

static void device(const char *dev, const char *token)
{
    json_decref(cli(dev, "init --server %s --token %s --ca '%s'", fx.srv.url,
                    token, fx.srv.ca));
}

static void add_customer(const char *dev, const char *args, char *id)
{
    json_t *c = cli(dev, "customer add %s", args);
    snprintf(id, 64, "%s", json_string_value(json_object_get(c, "id")));
    json_decref(c);
}

static void sync_dev(const char *dev)
{
    json_t *j = cli(dev, "sync");
    if (json_integer_value(json_object_get(j, "refused")) != 0)
        fail_msg("%s: refused: %s", dev, json_dumps(j, JSON_COMPACT));
    json_decref(j);
}

static ta_resp get(const char *path, const char *token)
{
    char hdr[160] = "";
    if (token)
        snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\n", token);
    return ta_request(fx.srv.port, fx.srv.ca, "GET", path, hdr, NULL);
}

/* GET path as token, expect 200 and JSON. */
static json_t *get_json(const char *path, const char *token)
{
    ta_resp r = get(path, token);
    if (r.status != 200)
        fail_msg("GET %s: %d %s", path, r.status, r.body ? r.body : "");
    json_error_t err;
    json_t *j = json_loads(r.body, 0, &err);
    ta_resp_free(&r);
    assert_non_null(j);
    return j;
}

static int setup(void **state)
{
    (void)state;
    memset(&fx, 0, sizeof fx);
    th_init(&fx.srv);
    th_user(&fx.srv, "boss", "manager", "east", fx.tok_boss);
    th_user(&fx.srv, "alice", "rep", "east", fx.tok_alice);
    th_user(&fx.srv, "bob", "rep", "east", fx.tok_bob);
    th_user(&fx.srv, "carol", "rep", "west", fx.tok_carol);
    th_start(&fx.srv, NULL);
    device("alice", fx.tok_alice);
    device("bob", fx.tok_bob);
    device("carol", fx.tok_carol);

    add_customer("alice", "--name 'Acme 李' --phone 111", fx.acme);
    json_decref(cli("alice", "followup add %s --method phone --content 'first call'", fx.acme));
    add_customer("alice", "--name Beta", fx.beta);
    json_decref(cli("alice", "stage %s intent", fx.beta));
    sync_dev("alice");
    add_customer("bob", "--name Delta", fx.delta);
    json_decref(cli("bob", "stage %s won", fx.delta));
    sync_dev("bob");
    add_customer("carol", "--name Zeta", fx.zeta);
    sync_dev("carol");

    /* A time strictly between phone 111 and phone 222 (whole seconds). */
    sleep(1);
    usleep(100000);
    time_t t = time(NULL);
    strftime(fx.between, sizeof fx.between, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
    sleep(1);
    usleep(100000);
    json_decref(cli("alice", "customer edit %s --phone 222", fx.acme));
    sync_dev("alice");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_cleanup(&fx.srv);
    return 0;
}

static void test_unauthenticated(void **state)
{
    (void)state;
    char v[256];
    const char *paths[] = {"/api/summary", "/api/customers", "/api/analysis",
                           "/api/export.csv", "/api/me"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        ta_resp r = get(paths[i], NULL);
        assert_int_equal(r.status, 401);
        assert_non_null(strstr(r.body, "\"error\""));
        assert_non_null(ta_header(&r, "www-authenticate", v, sizeof v));
        assert_non_null(ta_header(&r, "content-security-policy", v, sizeof v));
        ta_resp_free(&r);
    }
    ta_resp r = get("/api/summary", "fs_0000000000000000000000000000000000000000000000000000000000000000");
    assert_int_equal(r.status, 401);
    ta_resp_free(&r);
    r = get("/api/nothing", fx.tok_alice);
    assert_int_equal(r.status, 404);
    assert_non_null(strstr(r.body, "\"error\""));
    ta_resp_free(&r);
}

static void test_login_cookie(void **state)
{
    (void)state;
    char body[160], v[512], sid[80], hdr[160];
    snprintf(body, sizeof body, "{\"token\":\"%s\"}", fx.tok_alice);
    /* No JSON content type: refused. */
    ta_resp r = ta_request(fx.srv.port, fx.srv.ca, "POST", "/api/login", NULL, body);
    assert_int_equal(r.status, 415);
    ta_resp_free(&r);
    r = ta_request(fx.srv.port, fx.srv.ca, "POST", "/api/login",
                   "Content-Type: application/json\r\n",
                   "{\"token\":\"fs_0000000000000000000000000000000000000000000000000000000000000000\"}");
    assert_int_equal(r.status, 401);
    assert_null(ta_header(&r, "set-cookie", v, sizeof v));
    ta_resp_free(&r);
    r = ta_request(fx.srv.port, fx.srv.ca, "GET", "/api/login", NULL, NULL);
    assert_int_equal(r.status, 405);
    assert_non_null(ta_header(&r, "allow", v, sizeof v));
    ta_resp_free(&r);

    r = ta_request(fx.srv.port, fx.srv.ca, "POST", "/api/login",
                   "Content-Type: application/json\r\n", body);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"user\":\"alice\""));
    assert_non_null(ta_header(&r, "set-cookie", v, sizeof v));
    assert_int_equal(strncmp(v, "fs_session=", 11), 0);
    size_t n = strcspn(v + 11, ";");
    assert_int_equal(n, 64);            /* 256 bits in hex */
    snprintf(sid, sizeof sid, "%.*s", (int)n, v + 11);
    assert_non_null(strstr(v, "; HttpOnly"));
    assert_non_null(strstr(v, "; Secure"));
    assert_non_null(strstr(v, "; SameSite=Strict"));
    assert_non_null(strstr(v, "; Path=/"));
    assert_non_null(strstr(v, "Max-Age=43200"));
    assert_null(strstr(v, fx.tok_alice));
    ta_resp_free(&r);

    snprintf(hdr, sizeof hdr, "Cookie: fs_session=%s\r\n", sid);
    r = ta_request(fx.srv.port, fx.srv.ca, "GET", "/api/me", hdr, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"role\":\"rep\""));
    ta_resp_free(&r);
    r = ta_request(fx.srv.port, fx.srv.ca, "GET", "/api/summary", hdr, NULL);
    assert_int_equal(r.status, 200);
    ta_resp_free(&r);

    r = ta_request(fx.srv.port, fx.srv.ca, "POST", "/api/logout", hdr, NULL);
    assert_int_equal(r.status, 204);
    assert_non_null(ta_header(&r, "set-cookie", v, sizeof v));
    assert_non_null(strstr(v, "Max-Age=0"));
    ta_resp_free(&r);
    r = ta_request(fx.srv.port, fx.srv.ca, "GET", "/api/me", hdr, NULL);
    assert_int_equal(r.status, 401);
    ta_resp_free(&r);
}

static json_int_t num(json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

static void test_summary_roles(void **state)
{
    (void)state;
    json_t *s = get_json("/api/summary", fx.srv.admin);
    assert_int_equal(num(s, "customers"), 4);
    assert_int_equal(num(json_object_get(s, "stages"), "lead"), 2);
    assert_int_equal(num(json_object_get(s, "stages"), "intent"), 1);
    assert_int_equal(num(json_object_get(s, "stages"), "won"), 1);
    assert_int_equal(num(json_object_get(s, "stages"), "lost"), 0);
    assert_true(num(s, "head") > 0);
    assert_int_equal(json_array_size(json_object_get(s, "stage_defs")), 7);
    assert_int_equal(json_array_size(json_object_get(s, "reps")), 3);
    json_decref(s);

    s = get_json("/api/summary", fx.tok_boss);     /* team east */
    assert_int_equal(num(s, "customers"), 3);
    json_t *reps = json_object_get(s, "reps");
    assert_int_equal(json_array_size(reps), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(reps, 0), "user")), "alice");
    assert_int_equal(num(json_array_get(reps, 0), "customers"), 2);
    assert_int_equal(num(json_array_get(reps, 0), "followups_7d"), 1);
    assert_true(json_is_string(json_object_get(json_array_get(reps, 0), "last_sync")));
    assert_string_equal(json_string_value(json_object_get(json_array_get(reps, 1), "user")), "bob");
    json_decref(s);

    s = get_json("/api/summary", fx.tok_alice);    /* a rep: own only */
    assert_int_equal(num(s, "customers"), 2);
    assert_int_equal(json_array_size(json_object_get(s, "reps")), 1);
    assert_int_equal(num(json_object_get(s, "stages"), "won"), 0);
    json_decref(s);

    s = get_json("/api/analysis", fx.tok_boss);
    json_t *funnel = json_object_get(s, "funnel");
    assert_int_equal(json_array_size(funnel), 7);
    assert_int_equal(num(json_array_get(funnel, 0), "reached"), 3);   /* lead */
    /* Only stages really passed through count (issue 13): Delta went
    ** lead -> won, so it reached neither intent nor proposal. */
    assert_int_equal(num(json_array_get(funnel, 1), "reached"), 1);   /* intent */
    assert_int_equal(num(json_array_get(funnel, 2), "reached"), 0);   /* proposal */
    assert_int_equal(num(json_array_get(funnel, 5), "reached"), 1);   /* won */
    assert_int_equal(json_array_size(json_object_get(s, "devices")), 2);
    json_decref(s);
}

static void test_customers_and_403(void **state)
{
    (void)state;
    char path[160];
    json_t *l = get_json("/api/customers", fx.tok_alice);
    assert_int_equal(json_array_size(l), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(l, 0), "name")), "Acme 李");
    assert_null(json_object_get(json_array_get(l, 0), "unsynced"));
    json_decref(l);
    /* Another owner as filter: fewer rows, never 403. */
    l = get_json("/api/customers?owner=bob", fx.tok_alice);
    assert_int_equal(json_array_size(l), 0);
    json_decref(l);
    l = get_json("/api/customers?search=%E6%9D%8E", fx.tok_boss);    /* 李 */
    assert_int_equal(json_array_size(l), 1);
    json_decref(l);
    l = get_json("/api/customers?stage=won", fx.srv.admin);
    assert_int_equal(json_array_size(l), 1);
    json_decref(l);
    ta_resp r = get("/api/customers?stage=nosuch", fx.srv.admin);
    assert_int_equal(r.status, 400);
    ta_resp_free(&r);

    snprintf(path, sizeof path, "/api/customers/%s", fx.delta);
    r = get(path, fx.tok_alice);
    assert_int_equal(r.status, 403);
    assert_non_null(strstr(r.body, "\"error\""));
    ta_resp_free(&r);
    json_t *c = get_json(path, fx.tok_bob);
    assert_string_equal(json_string_value(json_object_get(c, "stage")), "won");
    json_decref(c);
    snprintf(path, sizeof path, "/api/customers/%s", fx.zeta);
    r = get(path, fx.tok_boss);                   /* west is not boss's */
    assert_int_equal(r.status, 403);
    ta_resp_free(&r);
    r = get("/api/customers/00000000-0000-4000-8000-000000000000", fx.srv.admin);
    assert_int_equal(r.status, 404);
    ta_resp_free(&r);
}

static void test_as_of(void **state)
{
    (void)state;
    char path[200];
    snprintf(path, sizeof path, "/api/customers/%s", fx.acme);
    json_t *c = get_json(path, fx.tok_boss);
    assert_string_equal(json_string_value(json_object_get(c, "phone")), "222");
    assert_true(json_is_null(json_object_get(c, "as_of")));
    assert_int_equal(json_array_size(json_object_get(c, "followups")), 1);
    size_t now_rows = json_array_size(json_object_get(c, "timeline"));
    json_decref(c);

    snprintf(path, sizeof path, "/api/customers/%s?as_of=%s", fx.acme, fx.between);
    c = get_json(path, fx.tok_boss);
    assert_string_equal(json_string_value(json_object_get(c, "phone")), "111");
    assert_string_equal(json_string_value(json_object_get(c, "as_of")), fx.between);
    json_t *tl = json_object_get(c, "timeline"), *e;
    size_t i;
    assert_true(json_array_size(tl) > 0 && json_array_size(tl) < now_rows);
    json_array_foreach(tl, i, e)
        assert_true(!json_is_string(json_object_get(e, "value")) ||
                    strcmp(json_string_value(json_object_get(e, "value")), "222") != 0);
    json_decref(c);

    /* Before the customer existed: 404; not RFC 3339: 400. */
    snprintf(path, sizeof path, "/api/customers/%s?as_of=2001-01-01T00:00:00Z", fx.acme);
    ta_resp r = get(path, fx.tok_boss);
    assert_int_equal(r.status, 404);
    ta_resp_free(&r);
    snprintf(path, sizeof path, "/api/customers/%s?as_of=yesterday", fx.acme);
    r = get(path, fx.tok_boss);
    assert_int_equal(r.status, 400);
    ta_resp_free(&r);
}

static void test_export_csv(void **state)
{
    (void)state;
    char v[256];
    ta_resp r = get("/api/export.csv", fx.tok_boss);
    assert_int_equal(r.status, 200);
    assert_non_null(ta_header(&r, "content-type", v, sizeof v));
    assert_int_equal(strncmp(v, "text/csv", 8), 0);
    assert_non_null(ta_header(&r, "content-disposition", v, sizeof v));
    assert_memory_equal(r.body, "\xef\xbb\xbf", 3);
    const char *header = "id,name,phone,email,wechat,company,title,birthday,"
                         "notes,owner,tags,stage,cycle,amount,expected_close\r\n";
    assert_int_equal(strncmp(r.body + 3, header, strlen(header)), 0);
    int lines = 0;
    for (const char *p = r.body; (p = strstr(p, "\r\n")); p += 2)
        lines++;
    assert_int_equal(lines, 1 + 3);               /* header + team east */
    assert_non_null(strstr(r.body, "Acme 李,222,"));
    assert_null(strstr(r.body, "Zeta"));
    ta_resp_free(&r);
}

/* Two devices of alice change Beta's phone without seeing each other's
** change: one open conflict, listed with both values. */
static void test_conflicts(void **state)
{
    (void)state;
    device("alice2", fx.tok_alice);
    sync_dev("alice2");
    json_decref(cli("alice", "customer edit %s --phone 333", fx.beta));
    json_decref(cli("alice2", "customer edit %s --phone 444", fx.beta));
    sync_dev("alice");
    sync_dev("alice2");
    json_t *s = get_json("/api/summary", fx.tok_boss);
    assert_int_equal(num(s, "conflicts"), 1);
    json_decref(s);
    s = get_json("/api/analysis", fx.tok_alice);
    json_t *list = json_object_get(s, "conflicts");
    assert_int_equal(json_array_size(list), 1);
    json_t *c = json_array_get(list, 0);
    assert_string_equal(json_string_value(json_object_get(c, "customer")), fx.beta);
    assert_string_equal(json_string_value(json_object_get(c, "name")), "Beta");
    assert_string_equal(json_string_value(json_object_get(c, "field")), "phone");
    json_t *values = json_object_get(c, "values");
    assert_int_equal(json_array_size(values), 2);
    const char *a = json_string_value(json_object_get(json_array_get(values, 0), "value"));
    const char *b = json_string_value(json_object_get(json_array_get(values, 1), "value"));
    assert_true((strcmp(a, "333") == 0 && strcmp(b, "444") == 0) ||
                (strcmp(a, "444") == 0 && strcmp(b, "333") == 0));
    json_decref(s);
    s = get_json("/api/analysis", fx.tok_carol);    /* not carol's */
    assert_int_equal(json_array_size(json_object_get(s, "conflicts")), 0);
    json_decref(s);
}

/* A customer given away leaves the giver's figures and enters the
** receiver's, although both users' views were built before. */
static void test_reassign(void **state)
{
    (void)state;
    char path[160];
    json_t *s = get_json("/api/summary", fx.tok_bob);
    assert_int_equal(num(s, "customers"), 1);
    json_decref(s);
    /* The manager reassigns it (from a device that first pulls it). */
    device("boss", fx.tok_boss);
    sync_dev("boss");
    json_decref(cli("boss", "customer assign %s bob", fx.beta));
    sync_dev("boss");
    s = get_json("/api/summary", fx.tok_alice);
    assert_int_equal(num(s, "customers"), 1);
    json_decref(s);
    s = get_json("/api/summary", fx.tok_bob);
    assert_int_equal(num(s, "customers"), 2);
    assert_int_equal(num(json_object_get(s, "stages"), "intent"), 1);
    json_decref(s);
    snprintf(path, sizeof path, "/api/customers/%s", fx.beta);
    ta_resp r = get(path, fx.tok_alice);
    assert_int_equal(r.status, 403);
    ta_resp_free(&r);
    json_t *c = get_json(path, fx.tok_bob);
    assert_string_equal(json_string_value(json_object_get(c, "owner")), "bob");
    assert_true(json_array_size(json_object_get(c, "timeline")) > 2);
    json_decref(c);
}

static void test_live(void **state)
{
    (void)state;
    rw_conn c;
    char *msg = NULL;
    size_t len;
    /* No credentials: refused before upgrading. */
    assert_int_equal(rw_connect(&c, fx.srv.port, fx.srv.ca, 0), 0);
    assert_int_equal(rw_upgrade(&c, NULL, "fieldsync.live"), 401);
    rw_close(&c);

    assert_int_equal(rw_connect(&c, fx.srv.port, fx.srv.ca, 0), 0);
    assert_int_equal(rw_upgrade(&c, fx.tok_boss, "fieldsync.live"), 101);
    assert_int_equal(rw_recv(&c, &msg, &len), 1);
    json_t *j = json_loads(msg, 0, NULL);
    free(msg);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "hello");
    assert_string_equal(json_string_value(json_object_get(j, "user")), "boss");
    json_int_t head = num(j, "head");
    json_decref(j);

    json_decref(cli("bob", "followup add %s --method visit --content 'after the deal'", fx.delta));
    sync_dev("bob");
    assert_int_equal(rw_recv(&c, &msg, &len), 1);
    j = json_loads(msg, 0, NULL);
    free(msg);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "changed");
    assert_true(num(j, "head") > head);
    json_decref(j);

    /* Disabling the user ends the socket with a bye (last test: boss is
    ** not used after this). */
    assert_int_equal(th_admin(&fx.srv, NULL, 0, "user", "disable", "boss", NULL), 0);
    assert_int_equal(rw_recv(&c, &msg, &len), 1);
    j = json_loads(msg, 0, NULL);
    free(msg);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "bye");
    json_decref(j);
    rw_close(&c);
    ta_resp r = get("/api/summary", fx.tok_boss);
    assert_int_equal(r.status, 401);
    ta_resp_free(&r);
}

static void test_limits(void **state)
{
    (void)state;
    /* A body over 16 KiB: 413. */
    char *big = malloc(20000);
    memset(big, 'x', 19999);
    big[19999] = '\0';
    ta_resp r = ta_request(fx.srv.port, fx.srv.ca, "POST", "/api/login",
                           "Content-Type: application/json\r\n", big);
    free(big);
    assert_int_equal(r.status, 413);
    ta_resp_free(&r);
    /* Static files: no way out of the web folder. */
    r = get("/../../etc/passwd", NULL);
    assert_true(r.status == 404 || r.status == 400 || r.status == 403);
    assert_null(strstr(r.body ? r.body : "", "root:"));
    ta_resp_free(&r);
    /* One limiter counts every failed authentication from an address:
    ** logins, bearer tokens and sync upgrades.  Three failures came
    ** before (a login in test_login_cookie, a bearer token in
    ** test_unauthenticated, the revoked token in test_live): seven more
    ** failed logins make ten, then 429 for the rest of the minute. */
    const char *bad = "{\"token\":\"fs_1111111111111111111111111111111111111111111111111111111111111111\"}";
    int saw429 = 0;
    for (int i = 0; i < 9; i++) {
        r = ta_request(fx.srv.port, fx.srv.ca, "POST", "/api/login",
                       "Content-Type: application/json\r\n", bad);
        assert_true(r.status == 401 || r.status == 429);
        if (i < 7)
            assert_int_equal(r.status, 401);
        else
            assert_int_equal(r.status, 429);
        saw429 |= r.status == 429;
        ta_resp_free(&r);
    }
    assert_true(saw429);
    /* Blocked: a bearer request is refused before its token is looked at
    ** (even a good one), and so is a device's sync upgrade. */
    r = get("/api/me", fx.tok_alice);
    assert_int_equal(r.status, 429);
    ta_resp_free(&r);
    rw_conn c;
    assert_int_equal(rw_connect(&c, fx.srv.port, fx.srv.ca, 0), 0);
    assert_int_equal(rw_upgrade(&c, fx.tok_alice, FDSP_SUBPROTOCOL), 429);
    rw_close(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unauthenticated),
        cmocka_unit_test(test_login_cookie),
        cmocka_unit_test(test_summary_roles),
        cmocka_unit_test(test_customers_and_403),
        cmocka_unit_test(test_as_of),
        cmocka_unit_test(test_export_csv),
        cmocka_unit_test(test_conflicts),
        cmocka_unit_test(test_reassign),
        cmocka_unit_test(test_live),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
