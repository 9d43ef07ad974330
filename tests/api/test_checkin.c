/*
** test_checkin.c — check-ins (issue 15) and duplicate customers across
** reps (撞单, issue 14), through the real binaries over TLS: the fieldsync
** CLI on devices, fieldsync-server, and the HTTPS API.
**
**   - a check-in (location + address) written on one device reaches the
**     rep's second device and the dashboard API exactly;
**   - an invalid location is refused naming what was wrong (exit 2);
**   - GET /api/checkins lists one day's check-ins per rep in time order,
**     within the office view's visibility (a rep of another team: none);
**   - a phone added by bob that alice's customer has gives bob a notice
**     naming alice after sync (stderr and sync --json "duplicates"), and
**     GET /api/duplicates shows the pair to their manager;
**   - a hostile rep gets the owner's name and nothing else, at most
**     FSV_DUP_NOTICES_PER_DAY named notices a day, and their manager sees
**     the other team's customers only as "another rep's".
**
** Users: alice, bob (reps, east), boss (manager, east), head (manager
** "*"), mallory (rep, west), wboss (manager, west).
** Built twice: test_checkin on SQLite, and with FSV_CHECKIN_ON_PG
** test_pg_checkin on `serve --store postgresql://...` (the private
** cluster, tests/support/pgcluster.c; issue 12).
*/
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "harness.h"
#include "http_client.h"

#define NOTICES_PER_DAY 20      /* FSV_DUP_NOTICES_PER_DAY (sync_dup.h) */

typedef struct fixture {
    th_server srv;
    char tok_alice[80], tok_bob[80], tok_boss[80], tok_head[80],
        tok_mallory[80], tok_wboss[80];
    char err[8192];         /* stderr of the last cli_rc */
} fixture;

static fixture fx;

/* Run the CLI on device dev; exit code, stdout into *out (JSON or NULL),
** stderr into fx.err. */
static int cli_rc(const char *dev, json_t **out, const char *fmt, ...)
{
    char args[2048], cmd[4096], errpath[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(errpath, sizeof errpath, "%s/stderr.txt", fx.srv.dir);
    snprintf(cmd, sizeof cmd, "LANG=C LC_ALL=C '%s' --db '%s/%s.db' %s --json 2>'%s'",
             FDS_CLI_BIN, fx.srv.dir, dev, args, errpath);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    json_error_t jerr;
    json_t *j = json_loadf(p, 0, &jerr);
    int rc = pclose(p);
    FILE *e = fopen(errpath, "r");
    size_t n = e ? fread(fx.err, 1, sizeof fx.err - 1, e) : 0;
    fx.err[n] = '\0';
    if (e)
        fclose(e);
    if (out)
        *out = j;
    else
        json_decref(j);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static json_t *cli(const char *dev, const char *fmt, ...)
{
    char args[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    json_t *j = NULL;
    int rc = cli_rc(dev, &j, "%s", args);
    if (rc != 0 || !j)
        fail_msg("%s %s: exit %d: %s", dev, args, rc, fx.err);
    return j;
}

static void device(const char *dev, const char *token)
{
    json_decref(cli(dev, "init --server %s --token %s --ca '%s'", fx.srv.url,
                    token, fx.srv.ca));
}

static json_t *get_json(const char *path, const char *token, int want)
{
    char hdr[160];
    snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\n", token);
    ta_resp r = ta_request(fx.srv.port, fx.srv.ca, "GET", path, hdr, NULL);
    if (r.status != want)
        fail_msg("GET %s: %d (want %d) %s", path, r.status, want,
                 r.body ? r.body : "");
    json_t *j = json_loads(r.body, 0, NULL);
    ta_resp_free(&r);
    assert_non_null(j);
    return j;
}

static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static char *dumps(const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    assert_non_null(s);
    return s;
}

#ifdef FSV_CHECKIN_ON_PG
#include "pgcluster.h"
static ts_pg g_pg;
#endif

static int setup(void **state)
{
    (void)state;
    memset(&fx, 0, sizeof fx);
#ifdef FSV_CHECKIN_ON_PG
    char db[64], url[256];
    if (ts_pg_start(&g_pg) != 0 ||
        ts_pg_create_db(&g_pg, "checkin", db, sizeof db) != 0)
        return -1;
    ts_pg_url(&g_pg, db, url, sizeof url);
    th_init_store(&fx.srv, url);
#else
    th_init(&fx.srv);
#endif
    th_user(&fx.srv, "alice", "rep", "east", fx.tok_alice);
    th_user(&fx.srv, "bob", "rep", "east", fx.tok_bob);
    th_user(&fx.srv, "boss", "manager", "east", fx.tok_boss);
    th_user(&fx.srv, "head", "manager", "*", fx.tok_head);
    th_user(&fx.srv, "mallory", "rep", "west", fx.tok_mallory);
    th_user(&fx.srv, "wboss", "manager", "west", fx.tok_wboss);
    th_start(&fx.srv, "--tz", "UTC", NULL);
    device("alice", fx.tok_alice);
    device("alice2", fx.tok_alice);
    device("bob", fx.tok_bob);
    device("mallory", fx.tok_mallory);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_cleanup(&fx.srv);
#ifdef FSV_CHECKIN_ON_PG
    ts_pg_stop(&g_pg);
#endif
    return 0;
}

/* The location object of a follow-up: lat, lon and address exact. */
static void assert_place(const json_t *loc, double lat, double lon,
                         const char *addr)
{
    assert_true(json_is_object(loc));
    assert_true(json_is_number(json_object_get(loc, "lat")));
    assert_true(json_number_value(json_object_get(loc, "lat")) == lat);
    assert_true(json_number_value(json_object_get(loc, "lon")) == lon);
    assert_string_equal(str(loc, "address"), addr);
}

static const char *const ADDR = "上海市黄浦区人民大道200号 (市政府东门)";

static void test_checkin_round_trip(void **state)
{
    (void)state;
    json_t *c = cli("alice", "customer add --name 陈静 --company 东方贸易");
    char cid[64];
    snprintf(cid, sizeof cid, "%s", str(c, "id"));
    json_decref(c);
    /* Two check-ins on one day (the later one written first) and a
    ** follow-up with no place. */
    json_t *f = cli("alice", "followup add %s --method visit --content 上门演示"
                    " --at 2026-11-30T09:30:00Z --location 31.2304,121.4737"
                    " --address '%s'", cid, ADDR);
    assert_place(json_object_get(f, "location"), 31.2304, 121.4737, ADDR);
    json_decref(f);
    json_decref(cli("alice", "followup add %s --method visit --content 早上路过"
                    " --at 2026-11-30T08:05:00Z --location ' -33.8688 , 151.2093 '",
                    cid));
    json_decref(cli("alice", "followup add %s --method phone --content 电话"
                    " --at 2026-11-30T10:00:00Z", cid));
    json_decref(cli("alice", "sync"));
    json_decref(cli("alice2", "sync"));

    /* The second device: customer show --json. */
    json_t *sheet = cli("alice2", "customer show %s", cid);
    json_t *fus = json_object_get(sheet, "followups"), *fu;
    size_t i;
    int seen = 0;
    json_array_foreach(fus, i, fu) {
        const char *content = str(fu, "content");
        if (strcmp(content, "上门演示") == 0) {
            assert_place(json_object_get(fu, "location"), 31.2304, 121.4737, ADDR);
            seen++;
        } else if (strcmp(content, "早上路过") == 0) {
            json_t *loc = json_object_get(fu, "location");
            assert_true(json_number_value(json_object_get(loc, "lat")) == -33.8688);
            assert_true(json_number_value(json_object_get(loc, "lon")) == 151.2093);
            assert_true(json_is_null(json_object_get(loc, "address")));
            seen++;
        } else {
            assert_true(json_is_null(json_object_get(fu, "location")));
        }
    }
    assert_int_equal(seen, 2);
    json_decref(sheet);
    /* The human sheet says where and when. */
    char cmd[1024], out[8192];
    snprintf(cmd, sizeof cmd, "LANG=C '%s' --db '%s/alice2.db' customer show %s",
             FDS_CLI_BIN, fx.srv.dir, cid);
    FILE *p = popen(cmd, "r");
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    pclose(p);
    assert_non_null(strstr(out, "Checked in: 上海市黄浦区人民大道200号"));
    assert_non_null(strstr(out, "(31.2304, 121.4737)"));
    /* History shows the registers as typed, readable. */
    json_t *h = cli("alice2", "history %s", cid), *e;
    int loc_rows = 0;
    json_array_foreach(h, i, e)
        if (strcmp(str(e, "field"), "location") == 0 &&
            strcmp(str(e, "value"), "31.2304,121.4737") == 0)
            loc_rows++;
    assert_int_equal(loc_rows, 1);
    json_decref(h);

    /* The dashboard's sheet: the manager of the team. */
    char path[256];
    snprintf(path, sizeof path, "/api/customers/%s", cid);
    json_t *api = get_json(path, fx.tok_boss, 200);
    seen = 0;
    json_array_foreach(json_object_get(api, "followups"), i, fu)
        if (strcmp(str(fu, "content"), "上门演示") == 0) {
            assert_place(json_object_get(fu, "location"), 31.2304, 121.4737, ADDR);
            seen++;
        }
    assert_int_equal(seen, 1);
    json_decref(api);

    /* The day's check-ins per rep, in time order. */
    json_t *day = get_json("/api/checkins?date=2026-11-30&tz=UTC", fx.tok_boss, 200);
    assert_string_equal(str(day, "date"), "2026-11-30");
    json_t *reps = json_object_get(day, "reps");
    assert_int_equal(json_array_size(reps), 1);
    json_t *rep = json_array_get(reps, 0);
    assert_string_equal(str(rep, "user"), "alice");
    json_t *list = json_object_get(rep, "checkins");
    assert_int_equal(json_array_size(list), 2);
    json_t *first = json_array_get(list, 0), *second = json_array_get(list, 1);
    assert_string_equal(str(first, "at"), "2026-11-30T08:05:00Z");
    assert_true(json_number_value(json_object_get(first, "lat")) == -33.8688);
    assert_string_equal(str(second, "at"), "2026-11-30T09:30:00Z");
    assert_string_equal(str(second, "address"), ADDR);
    assert_true(json_number_value(json_object_get(second, "lat")) == 31.2304);
    assert_true(json_number_value(json_object_get(second, "lon")) == 121.4737);
    assert_string_equal(str(second, "customer"), cid);
    assert_string_equal(str(second, "customer_name"), "陈静");
    assert_non_null(strstr(str(second, "map"), "mlat=31.230400&mlon=121.473700"));
    json_decref(day);
    /* Another day: nothing; head office sees alice's day too. */
    day = get_json("/api/checkins?date=2026-12-01&tz=UTC", fx.tok_boss, 200);
    assert_int_equal(json_array_size(json_object_get(day, "reps")), 0);
    json_decref(day);
    day = get_json("/api/checkins?date=2026-11-30&tz=UTC&user=alice", fx.tok_head, 200);
    assert_int_equal(json_array_size(json_object_get(day, "reps")), 1);
    json_decref(day);
    /* In Shanghai (UTC+8) both check-ins are on the same day too. */
    day = get_json("/api/checkins?date=2026-11-30&tz=Asia/Shanghai", fx.tok_boss, 200);
    assert_int_equal(json_array_size(json_object_get(
        json_array_get(json_object_get(day, "reps"), 0), "checkins")), 2);
    json_decref(day);
    /* A rep of another team and the other team's manager see nothing. */
    day = get_json("/api/checkins?date=2026-11-30&tz=UTC", fx.tok_mallory, 200);
    assert_int_equal(json_array_size(json_object_get(day, "reps")), 0);
    char *s = dumps(day);
    assert_null(strstr(s, cid));
    free(s);
    json_decref(day);
    day = get_json("/api/checkins?date=2026-11-30&tz=UTC", fx.tok_wboss, 200);
    assert_int_equal(json_array_size(json_object_get(day, "reps")), 0);
    json_decref(day);
    /* A bad day is a 400 naming it. */
    json_decref(get_json("/api/checkins?date=2026-02-31", fx.tok_boss, 400));

    /* followup edit: move the check-in, then clear it. */
    json_t *fl = cli("alice", "customer show %s", cid);
    char fid[64] = "";
    json_array_foreach(json_object_get(fl, "followups"), i, fu)
        if (strcmp(str(fu, "content"), "电话") == 0)
            snprintf(fid, sizeof fid, "%s", str(fu, "id"));
    json_decref(fl);
    assert_true(fid[0]);
    /* A pause, so the edit's change time (whole seconds, as as_of reads
    ** them) is later than the follow-up's own. */
    usleep(1100 * 1000);
    f = cli("alice", "followup edit %s --location 39.9042,116.4074 --address 北京", fid);
    assert_place(json_object_get(f, "location"), 39.9042, 116.4074, "北京");
    json_decref(f);
    json_decref(cli("alice", "sync"));
    /* as_of: before the edit the follow-up had no place; now Beijing. */
    char before[40], path2[256];
    json_t *tl = get_json(path, fx.tok_boss, 200), *te;
    /* The as-of time: the location's own change time minus a second (the
    ** follow-up was made at least a second before: the pause above). */
    const char *loc_at = NULL;
    json_array_foreach(json_object_get(tl, "timeline"), i, te)
        if (strcmp(str(te, "record"), fid) == 0 && strcmp(str(te, "field"), "location") == 0)
            loc_at = str(te, "at");
    assert_non_null(loc_at);
    struct tm tmv;
    memset(&tmv, 0, sizeof tmv);
    assert_non_null(strptime(loc_at, "%Y-%m-%dT%H:%M:%SZ", &tmv));
    time_t la = timegm(&tmv) - 1;
    strftime(before, sizeof before, "%Y-%m-%dT%H:%M:%SZ", gmtime(&la));
    int fu_seen = 0;
    json_array_foreach(json_object_get(tl, "followups"), i, fu)
        if (strcmp(str(fu, "id"), fid) == 0) {
            assert_place(json_object_get(fu, "location"), 39.9042, 116.4074, "北京");
            fu_seen = 1;
        }
    assert_true(fu_seen);
    json_decref(tl);
    snprintf(path2, sizeof path2, "/api/customers/%s?as_of=%s", cid, before);
    tl = get_json(path2, fx.tok_boss, 200);
    fu_seen = 0;
    json_array_foreach(json_object_get(tl, "followups"), i, fu)
        if (strcmp(str(fu, "id"), fid) == 0) {
            assert_true(json_is_null(json_object_get(fu, "location")));
            fu_seen = 1;
        }
    json_decref(tl);
    assert_true(fu_seen);
    f = cli("alice", "followup edit %s --location '' --address ''", fid);
    assert_true(json_is_null(json_object_get(f, "location")));
    json_decref(f);
}

static void test_checkin_invalid(void **state)
{
    (void)state;
    json_t *c = cli("alice", "customer add --name 刘洋");
    char cid[64];
    snprintf(cid, sizeof cid, "%s", str(c, "id"));
    json_decref(c);
    static const struct { const char *loc, *word; } bad[] = {
        {"91,0", "latitude must be between -90 and 90"},
        {"-90.5,10", "latitude must be between -90 and 90"},
        {"0,181", "longitude must be between -180 and 180"},
        {"0,-180.01", "longitude must be between -180 and 180"},
        {"abc", "expected LAT,LON"},
        {"1,2,3", "expected LAT,LON"},
        {"north,2", "latitude is not a decimal number"},
        {"1,1e3", "longitude is not a decimal number"},
        {"nan,1", "latitude is not a decimal number"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = cli_rc("alice", NULL, "followup add %s --method visit"
                        " --content x --location '%s'", cid, bad[i].loc);
        if (rc != 2 || !strstr(fx.err, bad[i].word) ||
            !strstr(fx.err, "location"))
            fail_msg("--location %s: exit %d, stderr: %s", bad[i].loc, rc, fx.err);
    }
    /* Nothing was written. */
    json_t *sheet = cli("alice", "customer show %s", cid);
    assert_int_equal(json_array_size(json_object_get(sheet, "followups")), 0);
    json_decref(sheet);
    /* The limits themselves are valid. */
    json_decref(cli("alice", "followup add %s --method visit --content x"
                    " --location -90,180", cid));
}

/* The "duplicates" of a sync --json. */
static json_t *sync_dups(const char *dev)
{
    json_t *j = cli(dev, "sync");
    json_t *d = json_incref(json_object_get(j, "duplicates"));
    assert_true(json_is_array(d));
    json_decref(j);
    return d;
}

static void test_duplicate_notice(void **state)
{
    (void)state;
    json_t *a = cli("alice", "customer add --name 张伟 --phone '138 0013 8000'"
                    " --company 华星科技 --wechat ZhangWei88");
    char aid[64];
    snprintf(aid, sizeof aid, "%s", str(a, "id"));
    json_decref(a);
    json_t *d = sync_dups("alice");
    assert_int_equal(json_array_size(d), 0);     /* nobody else has it */
    json_decref(d);

    /* bob adds the same buyer (+86, other spacing) and syncs. */
    json_t *b = cli("bob", "customer add --name 张先生 --phone '+86 138-0013-8000'");
    char bid[64];
    snprintf(bid, sizeof bid, "%s", str(b, "id"));
    json_decref(b);
    json_t *out = NULL;
    assert_int_equal(cli_rc("bob", &out, "sync"), 0);
    d = json_object_get(out, "duplicates");
    assert_int_equal(json_array_size(d), 1);
    json_t *n = json_array_get(d, 0);
    assert_string_equal(str(n, "name"), "张先生");
    assert_string_equal(str(n, "field"), "phone");
    assert_string_equal(str(n, "value"), "+86 138-0013-8000");
    assert_string_equal(str(n, "owner"), "alice");
    /* Nothing of alice's customer but its owner's name. */
    char *s = dumps(out);
    assert_null(strstr(s, aid));
    assert_null(strstr(s, "张伟"));
    assert_null(strstr(s, "华星"));
    free(s);
    json_decref(out);
    /* The human line on stderr names the customer, the rep and the phone. */
    json_decref(cli("bob", "customer edit %s --wechat zhangwei88", bid));
    char cmd[1024], err[4096];
    snprintf(cmd, sizeof cmd, "LANG=C '%s' --db '%s/bob.db' sync 2>&1 >/dev/null",
             FDS_CLI_BIN, fx.srv.dir);
    FILE *p = popen(cmd, "r");
    size_t k = fread(err, 1, sizeof err - 1, p);
    err[k] = '\0';
    pclose(p);
    if (!strstr(err, "张先生") || !strstr(err, "alice") ||
        !strstr(err, "WeChat zhangwei88"))
        fail_msg("stderr: %s", err);
    assert_null(strstr(err, "张伟"));
    /* A re-sync says nothing new (the change was already accepted). */
    d = sync_dups("bob");
    assert_int_equal(json_array_size(d), 0);
    json_decref(d);

    /* The manager's list shows the pair; reps are refused. */
    json_t *dl = get_json("/api/duplicates", fx.tok_boss, 200), *e;
    size_t i;
    int phone = 0;
    json_array_foreach(json_object_get(dl, "duplicates"), i, e) {
        if (strcmp(str(e, "kind"), "phone") != 0)
            continue;
        assert_string_equal(str(e, "value"), "13800138000");
        json_t *cs = json_object_get(e, "customers");
        assert_int_equal(json_array_size(cs), 2);
        assert_string_equal(str(json_array_get(cs, 0), "owner"), "alice");
        assert_string_equal(str(json_array_get(cs, 0), "name"), "张伟");
        assert_string_equal(str(json_array_get(cs, 0), "id"), aid);
        assert_string_equal(str(json_array_get(cs, 1), "owner"), "bob");
        assert_string_equal(str(json_array_get(cs, 1), "name"), "张先生");
        phone++;
    }
    assert_int_equal(phone, 1);
    json_decref(dl);
    json_decref(get_json("/api/duplicates", fx.tok_bob, 403));
    json_decref(get_json("/api/duplicates", fx.tok_mallory, 403));
    /* The other team's manager sees none of it. */
    dl = get_json("/api/duplicates", fx.tok_wboss, 200);
    assert_int_equal(json_array_size(json_object_get(dl, "duplicates")), 0);
    json_decref(dl);
}

static void test_duplicate_hostile(void **state)
{
    (void)state;
    /* mallory (west) probes alice's and bob's number. */
    json_decref(cli("mallory", "customer add --name probe0 --phone 8613800138000"));
    json_t *out = NULL;
    assert_int_equal(cli_rc("mallory", &out, "sync"), 0);
    json_t *d = json_object_get(out, "duplicates");
    assert_int_equal(json_array_size(d), 2);    /* one per other owner */
    assert_string_equal(str(json_array_get(d, 0), "owner"), "alice");
    assert_string_equal(str(json_array_get(d, 1), "owner"), "bob");
    char *s = dumps(out);
    assert_null(strstr(s, "张伟"));
    assert_null(strstr(s, "张先生"));
    assert_null(strstr(s, "华星"));
    free(s);
    json_decref(out);
    /* Past the daily allowance the owner is withheld. */
    for (int k = 1; k <= 12; k++)
        json_decref(cli("mallory", "customer add --name probe%d --phone 13800138000", k));
    d = sync_dups("mallory");
    assert_int_equal(json_array_size(d), 24);
    size_t i, named = 0, withheld = 0;
    json_t *n;
    json_array_foreach(d, i, n) {
        if (json_is_null(json_object_get(n, "owner")))
            withheld++;
        else
            named++;
    }
    assert_int_equal(named, NOTICES_PER_DAY - 2);
    assert_int_equal(withheld, 24 - (NOTICES_PER_DAY - 2));
    json_decref(d);
    /* west's manager sees mallory's probes, and alice's and bob's
    ** customers only as another rep's (owner, no id or name). */
    json_t *dl = get_json("/api/duplicates", fx.tok_wboss, 200), *e;
    s = dumps(dl);
    assert_null(strstr(s, "张伟"));
    assert_null(strstr(s, "张先生"));
    free(s);
    int hidden = 0;
    json_array_foreach(json_object_get(dl, "duplicates"), i, e) {
        json_t *c;
        size_t j;
        json_array_foreach(json_object_get(e, "customers"), j, c)
            if (!json_is_true(json_object_get(c, "visible"))) {
                assert_null(json_object_get(c, "id"));
                assert_null(json_object_get(c, "name"));
                hidden++;
            }
    }
    assert_int_equal(hidden, 2);
    json_decref(dl);
    /* Head office sees every customer of the suspect. */
    dl = get_json("/api/duplicates", fx.tok_head, 200);
    json_array_foreach(json_object_get(dl, "duplicates"), i, e)
        if (strcmp(str(e, "kind"), "phone") == 0)
            assert_int_equal(json_array_size(json_object_get(e, "customers")), 15);
    json_decref(dl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checkin_round_trip),
        cmocka_unit_test(test_checkin_invalid),
        cmocka_unit_test(test_duplicate_notice),
        cmocka_unit_test(test_duplicate_hostile),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
