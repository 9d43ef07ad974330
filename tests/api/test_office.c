/*
** test_office.c — the office view's contract over HTTPS (docs/API.md): the
** paged customer list (limit, after, sort, search, Link, X-Total-Count),
** a hostile rep who must never see another rep's customer through any
** page, cursor, filter or search, and the figures of issue 13: money
** (pipeline, forecast, win rate, average deal), the time zone of win hours
** and birthdays (serve --tz, ?tz=), and a birthday without a year.
**
** Data (CSV import through the real CLI, then sync):
**   alice (rep, east): 25 customers: 阿里 李雷 王芳 张伟 赵六 Acme beta
**     Zeta and Kunde 01..17; 李雷 is shared with mallory
**   bob (rep, east): 5 customers;  mallory (rep, west): 3 customers
**   boss (manager, east), head (manager, team "*")
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
#include <math.h>
#include <jansson.h>

#include "harness.h"
#include "http_client.h"
#include "rawws.h"

typedef struct fixture {
    th_server srv;
    char tok_alice[80], tok_bob[80], tok_boss[80], tok_mallory[80],
        tok_head[80];
    json_t *alice_ids;      /* name -> id */
    json_t *mallory_ids;    /* ids mallory may see: hers + the share */
    char bday3[32], bday5[32];
} fixture;

static fixture fx;

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

static void sync_dev(const char *dev)
{
    json_t *j = cli(dev, "sync");
    if (json_integer_value(json_object_get(j, "refused")) != 0)
        fail_msg("%s: refused: %s", dev, json_dumps(j, JSON_COMPACT));
    json_decref(j);
}

/* Import a CSV (header + rows) on dev; name -> id of every customer. */
static json_t *import(const char *dev, const char *csv)
{
    char path[400];
    snprintf(path, sizeof path, "%s/%s.csv", fx.srv.dir, dev);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(csv, f);
    fclose(f);
    json_decref(cli(dev, "import '%s'", path));
    json_t *list = cli(dev, "customer list"), *c, *ids = json_object();
    size_t i;
    json_array_foreach(list, i, c)
        json_object_set(ids, json_string_value(json_object_get(c, "name")),
                        json_object_get(c, "id"));
    json_decref(list);
    return ids;
}

static const char *id_of(const char *name)
{
    const char *id = json_string_value(json_object_get(fx.alice_ids, name));
    if (!id)
        fail_msg("no customer %s", name);
    return id;
}

static ta_resp get(const char *path, const char *token)
{
    char hdr[160];
    snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\n", token);
    return ta_request(fx.srv.port, fx.srv.ca, "GET", path, hdr, NULL);
}

static json_t *get_json(const char *path, const char *token)
{
    ta_resp r = get(path, token);
    if (r.status != 200)
        fail_msg("GET %s: %d %s", path, r.status, r.body ? r.body : "");
    json_t *j = json_loads(r.body, 0, NULL);
    ta_resp_free(&r);
    assert_non_null(j);
    return j;
}

/* "MM-DD" of today + days in zone. */
static void month_day(const char *zone, int days, char *out, size_t cap,
                      int with_year)
{
    const char *old = getenv("TZ");
    char keep[128] = "";
    if (old)
        snprintf(keep, sizeof keep, "%s", old);
    setenv("TZ", zone, 1);
    tzset();
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    tm.tm_mday += days;
    tm.tm_hour = 12;
    tm.tm_isdst = -1;
    mktime(&tm);
    if (with_year)
        snprintf(out, cap, "1990-%02d-%02d", tm.tm_mon + 1, tm.tm_mday);
    else
        snprintf(out, cap, "%02d-%02d", tm.tm_mon + 1, tm.tm_mday);
    if (old)
        setenv("TZ", keep, 1);
    else
        unsetenv("TZ");
    tzset();
}

static int setup(void **state)
{
    (void)state;
    memset(&fx, 0, sizeof fx);
    th_init(&fx.srv);
    th_user(&fx.srv, "boss", "manager", "east", fx.tok_boss);
    th_user(&fx.srv, "head", "manager", "*", fx.tok_head);
    th_user(&fx.srv, "alice", "rep", "east", fx.tok_alice);
    th_user(&fx.srv, "bob", "rep", "east", fx.tok_bob);
    th_user(&fx.srv, "mallory", "rep", "west", fx.tok_mallory);
    /* The server's zone is UTC; the office reads Beijing time. */
    th_start(&fx.srv, "--tz", "UTC", NULL);
    device("alice", fx.tok_alice);
    device("bob", fx.tok_bob);
    device("mallory", fx.tok_mallory);

    month_day("Asia/Shanghai", 3, fx.bday3, sizeof fx.bday3, 0);
    month_day("Asia/Shanghai", 5, fx.bday5, sizeof fx.bday5, 1);
    char csv[4096];
    int n = snprintf(csv, sizeof csv,
        "name,phone,company,birthday,amount,expected_close,stage\n"
        "张伟,138-0013-8000,华星科技,,1000,2027-01-15,quote\n"
        "李雷,13900000001,,,5000,2027-01-20,proposal\n"
        "王芳,13900000002,,,2000,,contract\n"
        "赵六,13900000003,,,3000,,lost\n"
        "阿里,13900000004,,,,,lead\n"
        "Acme,13900000005,,,400,2027-02-03,quote\n"
        "beta,13900000006,,,,,lead\n"
        "Zeta,13900000007,,,,,lead\n"
        "Kunde 01,13900000101,,%s,,,lead\n"
        "Kunde 02,13900000102,,%s,,,lead\n", fx.bday3, fx.bday5);
    for (int i = 3; i <= 17; i++)
        n += snprintf(csv + n, sizeof csv - (size_t)n,
                      "Kunde %02d,139000001%02d,,,,,lead\n", i, i);
    fx.alice_ids = import("alice", csv);
    assert_int_equal(json_object_size(fx.alice_ids), 25);
    /* A follow-up at 14:00 Beijing (06:00 UTC), Monday 30 November 2026,
    ** then the win. */
    json_decref(cli("alice", "followup add %s --method visit --content 演示"
                    " --at 2026-11-30T06:00:00Z", id_of("王芳")));
    json_decref(cli("alice", "stage %s won", id_of("王芳")));
    json_decref(cli("alice", "customer share %s mallory", id_of("李雷")));
    sync_dev("alice");
    json_decref(import("bob", "name,phone\nB1,13700000001\nB2,13700000002\n"
                              "B3,13700000003\nB4,13700000004\nB5,13700000005\n"));
    sync_dev("bob");
    fx.mallory_ids = import("mallory", "name,phone\nM1,13600000001\n"
                                       "M2,13600000002\nM3,13600000003\n");
    sync_dev("mallory");
    json_object_set(fx.mallory_ids, "李雷", json_object_get(fx.alice_ids, "李雷"));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    json_decref(fx.alice_ids);
    json_decref(fx.mallory_ids);
    th_cleanup(&fx.srv);
    return 0;
}

/* The path of the Link: rel="next" header, or "" if none. */
static void next_link(const ta_resp *r, char *out, size_t cap)
{
    char v[2048];
    out[0] = '\0';
    if (!ta_header(r, "link", v, sizeof v))
        return;
    char *lt = strchr(v, '<'), *gt = lt ? strchr(lt, '>') : NULL;
    assert_non_null(gt);
    assert_non_null(strstr(gt, "rel=\"next\""));
    snprintf(out, cap, "%.*s", (int)(gt - lt - 1), lt + 1);
}

/* Every customer reachable from path by following Link headers, checking
** X-Total-Count on each page and the page size. */
static json_t *walk(const char *first, const char *token, int limit,
                    long *total)
{
    char path[2048], hdr[64];
    json_t *all = json_array();
    snprintf(path, sizeof path, "%s", first);
    for (int pages = 0; path[0]; pages++) {
        assert_true(pages < 200);
        ta_resp r = get(path, token);
        if (r.status != 200)
            fail_msg("GET %s: %d %s", path, r.status, r.body);
        assert_non_null(ta_header(&r, "x-total-count", hdr, sizeof hdr));
        *total = strtol(hdr, NULL, 10);
        json_t *page = json_loads(r.body, 0, NULL);
        assert_true(json_is_array(page));
        assert_true((int)json_array_size(page) <= limit);
        next_link(&r, path, sizeof path);
        if (path[0])        /* not the last page: a full one */
            assert_int_equal(json_array_size(page), limit);
        json_array_extend(all, page);
        json_decref(page);
        ta_resp_free(&r);
    }
    return all;
}

static const char *name_at(json_t *list, size_t i)
{
    return json_string_value(json_object_get(json_array_get(list, i), "name"));
}

static void test_pages(void **state)
{
    (void)state;
    long total = 0;
    json_t *all = walk("/api/customers?limit=7", fx.tok_alice, 7, &total);
    assert_int_equal(total, 25);
    assert_int_equal(json_array_size(all), 25);
    /* One page of everything says the same, in the same order, and has
    ** no Link. */
    ta_resp r = get("/api/customers?limit=1000", fx.tok_alice);
    char v[64];
    assert_int_equal(r.status, 200);
    assert_null(ta_header(&r, "link", v, sizeof v));
    json_t *one = json_loads(r.body, 0, NULL);
    ta_resp_free(&r);
    assert_true(json_equal(one, all));
    /* Pinyin order as the CLI's zh_CN collation: ideographs by pinyin,
    ** then Latin letters regardless of case. */
    const char *want[] = {"阿里", "李雷", "王芳", "张伟", "赵六", "Acme", "beta",
                          "Kunde 01"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_string_equal(name_at(all, i), want[i]);
    assert_string_equal(name_at(all, 24), "Zeta");
    json_t *c = json_array_get(all, 3);       /* 张伟 */
    assert_int_equal(json_integer_value(json_object_get(c, "amount")), 1000);
    assert_string_equal(json_string_value(json_object_get(c, "expected_close")),
                        "2027-01-15");
    assert_int_equal(json_integer_value(json_object_get(c, "conflicts")), 0);
    assert_null(json_object_get(c, "unsynced"));
    assert_true(json_is_string(json_object_get(c, "updated")));
    json_decref(one);
    json_decref(all);

    /* The default page is 100; limits outside 1..1000 and unknown sorts
    ** are 400. */
    all = get_json("/api/customers", fx.tok_head);
    assert_int_equal(json_array_size(all), 33);
    json_decref(all);
    const char *bad[] = {"/api/customers?limit=0", "/api/customers?limit=1001",
                         "/api/customers?limit=x", "/api/customers?sort=size",
                         "/api/customers?page=2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = get(bad[i], fx.tok_alice);
        assert_int_equal(r.status, 400);
        assert_non_null(strstr(r.body, "\"error\""));
        ta_resp_free(&r);
    }
}

static void test_sort_and_search(void **state)
{
    (void)state;
    long total = 0;
    json_t *all = walk("/api/customers?sort=amount&limit=2", fx.tok_alice, 2, &total);
    const char *want[] = {"李雷", "赵六", "王芳", "张伟", "Acme", "阿里"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_string_equal(name_at(all, i), want[i]);
    assert_int_equal(json_array_size(all), 25);
    json_decref(all);
    /* last: never followed up first (by name), the one follow-up last */
    all = get_json("/api/customers?sort=last&limit=1000", fx.tok_alice);
    assert_string_equal(name_at(all, 0), "阿里");
    assert_string_equal(name_at(all, 24), "王芳");
    assert_true(json_is_string(json_object_get(json_array_get(all, 24), "last_followup")));
    json_decref(all);

    struct { const char *q; const char *name; } hits[] = {
        {"zw", "张伟"}, {"lilei", "李雷"}, {"%E5%8D%8E%E6%98%9F", "张伟"},   /* 华星 */
        {"13800138000", "张伟"}, {"138-0013", "张伟"}, {"ACME", "Acme"},
    };
    for (size_t i = 0; i < sizeof hits / sizeof hits[0]; i++) {
        char path[200];
        snprintf(path, sizeof path, "/api/customers?search=%s", hits[i].q);
        json_t *l = get_json(path, fx.tok_alice);
        if (json_array_size(l) != 1)
            fail_msg("search %s: %zu rows", hits[i].q, json_array_size(l));
        assert_string_equal(name_at(l, 0), hits[i].name);
        json_decref(l);
    }
    total = 0;
    all = walk("/api/customers?search=kunde&limit=4&stage=lead", fx.tok_alice, 4, &total);
    assert_int_equal(total, 17);
    assert_int_equal(json_array_size(all), 17);
    json_decref(all);
}

/* mallory (west) tries every way to see alice's customers. */
static void test_hostile_rep(void **state)
{
    (void)state;
    char path[300];
    const char *paths[] = {
        "/api/customers?limit=1", "/api/customers?limit=1&sort=amount",
        "/api/customers?limit=1&sort=next", "/api/customers?limit=1&sort=last",
        "/api/customers?limit=1&search=1", "/api/customers?limit=1&search=z",
        "/api/customers?limit=1&owner=alice",
    };
    for (size_t k = 0; k < sizeof paths / sizeof paths[0]; k++) {
        long total = 0;
        json_t *all = walk(paths[k], fx.tok_mallory, 1, &total), *c;
        size_t i;
        assert_true(total <= 4);
        assert_int_equal((long)json_array_size(all), total);
        json_array_foreach(all, i, c) {
            const char *id = json_string_value(json_object_get(c, "id"));
            int mine = 0;
            const char *name;
            json_t *v;
            json_object_foreach(fx.mallory_ids, name, v)
                mine |= strcmp(json_string_value(v), id) == 0;
            if (!mine)
                fail_msg("%s showed mallory %s", paths[k],
                         json_string_value(json_object_get(c, "name")));
        }
        json_decref(all);
    }
    /* A cursor naming one of alice's customers gives nothing, not even
    ** where that customer sorts (an empty page, whatever the sort). */
    const char *name;
    json_t *v;
    json_object_foreach(fx.alice_ids, name, v) {
        snprintf(path, sizeof path, "/api/customers?after=%s&sort=amount",
                 json_string_value(v));
        json_t *l = get_json(path, fx.tok_mallory), *c;
        size_t i;
        json_array_foreach(l, i, c)
            assert_non_null(json_object_get(fx.mallory_ids,
                json_string_value(json_object_get(c, "name"))));
        int shared = strcmp(name, "李雷") == 0;
        if (!shared && json_array_size(l) != 0)
            fail_msg("after=%s (not hers) gave mallory %zu rows", name,
                     json_array_size(l));
        json_decref(l);
        if (shared)
            continue;
        snprintf(path, sizeof path, "/api/customers/%s", json_string_value(v));
        ta_resp r = get(path, fx.tok_mallory);
        assert_int_equal(r.status, 403);
        assert_null(strstr(r.body, name));
        ta_resp_free(&r);
    }
    /* Searches for what only alice's customers hold find nothing. */
    const char *q[] = {"zw", "zhang", "%E5%BC%A0", "13800138000", "0013",
                       "%E5%8D%8E%E6%98%9F", "Kunde", "acme"};
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
        snprintf(path, sizeof path, "/api/customers?search=%s", q[i]);
        ta_resp r = get(path, fx.tok_mallory);
        char total[32];
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, "[]");
        assert_non_null(ta_header(&r, "x-total-count", total, sizeof total));
        assert_string_equal(total, "0");
        ta_resp_free(&r);
    }
    /* The shared customer is hers to see, by page and by sheet. */
    json_t *l = get_json("/api/customers?search=lilei", fx.tok_mallory);
    assert_int_equal(json_array_size(l), 1);
    json_decref(l);
    snprintf(path, sizeof path, "/api/customers/%s", id_of("李雷"));
    json_decref(get_json(path, fx.tok_mallory));
    json_t *s = get_json("/api/summary", fx.tok_mallory);
    assert_int_equal(json_integer_value(json_object_get(s, "customers")), 4);
    json_decref(s);
    s = get_json("/api/summary", fx.tok_boss);
    assert_int_equal(json_integer_value(json_object_get(s, "customers")), 30);
    json_decref(s);
}

static json_t *find(json_t *arr, const char *key, const char *value)
{
    size_t i;
    json_t *x;
    json_array_foreach(arr, i, x) {
        const char *v = json_string_value(json_object_get(x, key));
        if (v && strcmp(v, value) == 0)
            return x;
    }
    return NULL;
}

static double prob(json_t *defs, const char *stage)
{
    return json_number_value(json_object_get(find(defs, "key", stage), "probability"));
}

static void test_money(void **state)
{
    (void)state;
    json_t *s = get_json("/api/summary", fx.tok_alice);
    json_t *defs = json_incref(json_object_get(s, "stage_defs"));
    json_decref(s);
    json_t *a = get_json("/api/analysis", fx.tok_alice);
    json_t *m = json_object_get(a, "money");
    json_t *quote = find(json_object_get(m, "pipeline"), "stage", "quote");
    assert_int_equal(json_integer_value(json_object_get(quote, "count")), 2);
    assert_int_equal(json_integer_value(json_object_get(quote, "with_amount")), 2);
    assert_true(json_number_value(json_object_get(quote, "value")) == 1400.0);
    json_t *won = find(json_object_get(m, "pipeline"), "stage", "won");
    assert_true(json_number_value(json_object_get(won, "value")) == 2000.0);
    /* Open deals by month of expected close, weighted by probability. */
    json_t *jan = find(json_object_get(m, "forecast"), "month", "2027-01");
    json_t *feb = find(json_object_get(m, "forecast"), "month", "2027-02");
    double want_jan = 1000 * prob(defs, "quote") / 100 + 5000 * prob(defs, "proposal") / 100;
    assert_true(jan && feb);
    assert_true(fabs(json_number_value(json_object_get(jan, "weighted")) - want_jan) < 0.01);
    assert_true(fabs(json_number_value(json_object_get(feb, "weighted")) -
                     400 * prob(defs, "quote") / 100) < 0.01);
    json_t *rate = find(json_object_get(m, "win_rate"), "user", "alice");
    assert_int_equal(json_integer_value(json_object_get(rate, "won")), 1);
    assert_int_equal(json_integer_value(json_object_get(rate, "lost")), 1);
    assert_true(json_number_value(json_object_get(rate, "rate")) == 0.5);
    assert_true(json_number_value(json_object_get(m, "avg_deal")) == 2000.0);
    json_decref(a);
    json_decref(defs);
}

static void test_time_zone(void **state)
{
    (void)state;
    /* serve --tz UTC: the visit is Monday 06:00. */
    json_t *a = get_json("/api/analysis", fx.tok_alice);
    json_t *h = json_array_get(json_object_get(a, "win_hours"), 0);
    assert_int_equal(json_array_size(json_object_get(a, "win_hours")), 1);
    assert_int_equal(json_integer_value(json_object_get(h, "weekday")), 0);
    assert_int_equal(json_integer_value(json_object_get(h, "hour")), 6);
    assert_string_equal(json_string_value(json_object_get(a, "tz")), "UTC");
    json_t *ttw = json_object_get(a, "time_to_won");
    assert_int_equal(json_array_size(ttw), 1);
    assert_string_equal(name_at(ttw, 0), "王芳");
    json_decref(a);
    /* ?tz=Asia/Shanghai: 14:00 the same Monday, and the birthdays of that
    ** zone's calendar, the one without a year included. */
    a = get_json("/api/analysis?tz=Asia/Shanghai", fx.tok_alice);
    h = json_array_get(json_object_get(a, "win_hours"), 0);
    assert_int_equal(json_integer_value(json_object_get(h, "weekday")), 0);
    assert_int_equal(json_integer_value(json_object_get(h, "hour")), 14);
    json_t *b = json_object_get(a, "birthdays");
    json_t *k1 = find(b, "name", "Kunde 01"), *k2 = find(b, "name", "Kunde 02");
    assert_non_null(k1);
    assert_non_null(k2);
    assert_string_equal(json_string_value(json_object_get(k1, "birthday")), fx.bday3);
    assert_int_equal(json_integer_value(json_object_get(k1, "days")), 3);
    assert_int_equal(json_integer_value(json_object_get(k2, "days")), 5);
    assert_string_equal(name_at(b, 0), "Kunde 01");
    json_decref(a);
    ta_resp r = get("/api/analysis?tz=Mars/Olympus", fx.tok_alice);
    assert_int_equal(r.status, 400);
    ta_resp_free(&r);
    r = get("/api/analysis?tz=../../etc/passwd", fx.tok_alice);
    assert_int_equal(r.status, 400);
    ta_resp_free(&r);
}

/* The analysis's lists paged (GET /api/analysis/birthdays, /time_to_won):
** page after page by the Link header, the same rows in the same order as
** the analysis gives (it cuts them only past 50), X-Total-Count equal to
** NAME_total, and the caller's scope (mallory sees none of alice's). */
static void test_analysis_lists(void **state)
{
    (void)state;
    const char *names[] = {"birthdays", "time_to_won"};
    for (int k = 0; k < 2; k++) {
        char path[200], total_key[40];
        json_t *a = get_json("/api/analysis?tz=Asia/Shanghai", fx.tok_alice);
        json_t *whole = json_object_get(a, names[k]);
        snprintf(total_key, sizeof total_key, "%s_total", names[k]);
        assert_int_equal(json_integer_value(json_object_get(a, total_key)),
                         json_array_size(whole));
        assert_true(json_array_size(whole) >= 1);
        snprintf(path, sizeof path, "/api/analysis/%s?limit=1&tz=Asia/Shanghai",
                 names[k]);
        long total = 0;
        json_t *paged = walk(path, fx.tok_alice, 1, &total);
        assert_int_equal(total, (long)json_array_size(whole));
        assert_true(json_equal(paged, whole));
        json_decref(paged);
        json_decref(a);
        /* mallory: her own (none), whatever cursor she is handed */
        snprintf(path, sizeof path, "/api/analysis/%s?tz=Asia/Shanghai", names[k]);
        paged = walk(path, fx.tok_mallory, 100, &total);
        assert_int_equal(total, 0);
        assert_int_equal(json_array_size(paged), 0);
        json_decref(paged);
    }
    const char *bad[] = {"/api/analysis/birthdays?limit=0",
                         "/api/analysis/birthdays?limit=1001",
                         "/api/analysis/birthdays?after=nonsense",
                         "/api/analysis/birthdays?page=2",
                         "/api/analysis/time_to_won?tz=Mars/Olympus"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ta_resp r = get(bad[i], fx.tok_alice);
        assert_int_equal(r.status, 400);
        ta_resp_free(&r);
    }
    ta_resp r = get("/api/analysis/nothing", fx.tok_alice);
    assert_int_equal(r.status, 404);
    ta_resp_free(&r);
}

/* A change shows in the next page and figures at once (no cache to go
** stale): a new customer, a deletion, a reassignment. */
static void test_current(void **state)
{
    (void)state;
    json_decref(cli("alice", "customer add --name 钱七 --amount 700"));
    sync_dev("alice");
    json_t *l = get_json("/api/customers?search=qianqi", fx.tok_boss);
    assert_int_equal(json_array_size(l), 1);
    json_decref(l);
    json_decref(cli("alice", "customer delete %s", id_of("Zeta")));
    sync_dev("alice");
    l = get_json("/api/customers?search=zeta", fx.tok_alice);
    assert_int_equal(json_array_size(l), 0);
    json_decref(l);
    json_t *s = get_json("/api/summary", fx.tok_alice);
    assert_int_equal(json_integer_value(json_object_get(s, "customers")), 25);
    json_decref(s);
}

/* A /live socket opened with path; its hello read. */
static void live_open(rw_conn *c, const char *path, const char *token)
{
    char *msg = NULL;
    size_t len;
    assert_int_equal(rw_connect(c, fx.srv.port, fx.srv.ca, 0), 0);
    assert_int_equal(rw_upgrade_path(c, path, token, "fieldsync.live"), 101);
    assert_int_equal(rw_recv(c, &msg, &len), 1);
    assert_non_null(strstr(msg, "\"hello\""));
    free(msg);
}

/* The next "changed" of c, parsed. */
static json_t *live_changed(rw_conn *c)
{
    char *msg = NULL;
    size_t len;
    assert_int_equal(rw_recv(c, &msg, &len), 1);
    json_t *j = json_loads(msg, 0, NULL);
    free(msg);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "changed");
    return j;
}

/* The message's summary and analysis are what GET /api/summary and
** /api/analysis answer the same user with the same query. */
static void assert_live_figures(json_t *m, const char *query, const char *token)
{
    char path[200];
    snprintf(path, sizeof path, "/api/summary%s", query);
    json_t *s = get_json(path, token);
    snprintf(path, sizeof path, "/api/analysis%s", query);
    json_t *a = get_json(path, token);
    assert_non_null(json_object_get(m, "summary"));
    assert_true(json_equal(json_object_get(m, "summary"), s));
    assert_true(json_equal(json_object_get(m, "analysis"), a));
    assert_int_equal(json_integer_value(json_object_get(s, "head")),
                     json_integer_value(json_object_get(m, "head")));
    json_decref(s);
    json_decref(a);
}

/* Issue 19: /live?figures=1 carries the scope's new figures in each
** "changed", equal to the HTTP answers; a hostile rep naming another
** team gets her own scope only, as over HTTP; without figures=1 the
** message stays bare; an unknown zone or team refuses the upgrade. */
static void test_live_figures(void **state)
{
    (void)state;
    rw_conn ca, cm, ch, cb, bad;
    live_open(&ca, "/live?figures=1&tz=Asia/Shanghai", fx.tok_alice);
    live_open(&cm, "/live?figures=1&team=east&tz=Asia/Shanghai", fx.tok_mallory);
    live_open(&ch, "/live?figures=1&team=east", fx.tok_head);
    live_open(&cb, "/live", fx.tok_alice);
    /* A follow-up on the customer alice shares with mallory: all four see it. */
    json_decref(cli("alice", "followup add %s --method call --content 'live figures'",
                    id_of("李雷")));
    sync_dev("alice");
    json_t *ma = live_changed(&ca), *mm = live_changed(&cm), *mh = live_changed(&ch),
           *mb = live_changed(&cb);
    assert_live_figures(ma, "?tz=Asia/Shanghai", fx.tok_alice);
    assert_live_figures(mm, "?team=east&tz=Asia/Shanghai", fx.tok_mallory);
    assert_live_figures(mh, "?team=east", fx.tok_head);
    assert_null(json_object_get(mb, "summary"));
    assert_null(json_object_get(mb, "analysis"));
    /* mallory's figures: at most her own customers and the share, never
    ** alice's 25 nor east's as the head office sees them. */
    json_int_t mine = (json_int_t)json_object_size(fx.mallory_ids);
    json_t *ms = json_object_get(mm, "summary");
    assert_true(json_integer_value(json_object_get(ms, "customers")) <= mine + 1);
    assert_true(json_integer_value(json_object_get(json_object_get(mh, "summary"),
                                                   "customers")) > mine + 1);
    json_t *bd = json_object_get(json_object_get(mm, "analysis"), "birthdays");
    size_t i;
    json_t *row;
    json_array_foreach(bd, i, row)
        assert_non_null(json_object_get(fx.mallory_ids, json_string_value(
                                            json_object_get(row, "name"))));
    /* The cut analysis: the lists at most their first 50 rows. */
    assert_true(json_array_size(json_object_get(json_object_get(mh, "analysis"),
                                                "birthdays")) <= 50);
    json_decref(ma);
    json_decref(mm);
    json_decref(mh);
    json_decref(mb);
    rw_close(&ca);
    rw_close(&cm);
    rw_close(&ch);
    rw_close(&cb);
    const char *refused[] = {"/live?figures=1&tz=Mars/Olympus",
                             "/live?figures=1&team=nowhere"};
    for (int k = 0; k < 2; k++) {
        assert_int_equal(rw_connect(&bad, fx.srv.port, fx.srv.ca, 0), 0);
        assert_int_equal(rw_upgrade_path(&bad, refused[k], fx.tok_alice,
                                         "fieldsync.live"), 400);
        rw_close(&bad);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pages),
        cmocka_unit_test(test_sort_and_search),
        cmocka_unit_test(test_hostile_rep),
        cmocka_unit_test(test_money),
        cmocka_unit_test(test_time_zone),
        cmocka_unit_test(test_analysis_lists),
        cmocka_unit_test(test_current),
        cmocka_unit_test(test_live_figures),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
