/*
** test_logs.c — the server's log (util/log.h) over a whole session of use:
** device syncs, a dashboard sign-in with its cookie, API calls, refused
** tokens, a metrics scrape.  Every line has the stable shape (logfmt by
** default, one JSON object a line with --log-format json), and no secret
** appears anywhere in it: not a device token (whole or its hex part), not
** the metrics token, not the session cookie, not a refused token.  (The
** server has no passwords: a dashboard signs in with a device token, which
** is what the login body carries.)
*/
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "harness.h"
#include "http_client.h"
#include "rawws.h"

#define MAX_SECRETS 16

typedef struct fixture {
    th_server srv;
    const char *secret[MAX_SECRETS];
    char store[MAX_SECRETS][128];
    int n;
} fixture;

static int teardown(void **state)
{
    fixture *f = *state;
    alarm(0);
    if (f) {
        th_cleanup(&f->srv);
        free(f);
    }
    return 0;
}

static void keep(fixture *f, const char *secret)
{
    assert_true(f->n < MAX_SECRETS);
    assert_true(strlen(secret) < sizeof f->store[f->n]);
    memcpy(f->store[f->n], secret, strlen(secret) + 1);
    f->secret[f->n] = f->store[f->n];
    f->n++;
}

static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

/* Everything a real deployment does in a day, once, against f's server
** (started with the given extra serve arguments). */
static void a_day(fixture *f, const char *a1, const char *a2, const char *a3,
                  const char *a4)
{
    th_server *s = &f->srv;
    char rep[80], out[1024], hdr[256], v[256];
    alarm(150);
    th_init(s);
    th_user(s, "wangfang", "rep", "east", rep);
    assert_int_equal(th_admin(s, out, sizeof out, "token", "metrics", "--json",
                              NULL), 0);
    json_t *j = json_loads(out, 0, NULL);
    assert_non_null(j);
    keep(f, json_string_value(json_object_get(j, "token")));
    json_decref(j);
    th_start(s, a1, a2, a3, a4, NULL);
    keep(f, s->admin);
    keep(f, s->admin + 3);      /* the hex alone */
    keep(f, rep);
    keep(f, rep + 3);

    /* Devices sync (the rep's twice: push, then pull the admin's work). */
    fds_replica *ra = th_replica(s, "admin"), *rr = th_replica(s, "rep");
    free(th_customer(rr, "张伟"));
    free(th_customer(ra, "华星科技"));
    assert_int_equal(th_sync(s, rr, rep, NULL), 0);
    assert_int_equal(th_sync(s, ra, s->admin, NULL), 0);
    assert_int_equal(th_sync(s, rr, rep, NULL), 0);
    fds_replica_close(ra);
    fds_replica_close(rr);

    /* A dashboard signs in with the rep's token and uses its cookie. */
    char body[200];
    snprintf(body, sizeof body, "{\"token\":\"%s\"}", rep);
    ta_resp r = ta_request(s->port, s->ca, "POST", "/api/login",
                           "Content-Type: application/json\r\n", body);
    assert_int_equal(r.status, 200);
    assert_non_null(ta_header(&r, "set-cookie", v, sizeof v));
    assert_int_equal(strncmp(v, "fs_session=", 11), 0);
    v[11 + strcspn(v + 11, ";")] = '\0';
    keep(f, v + 11);
    ta_resp_free(&r);
    snprintf(hdr, sizeof hdr, "Cookie: fs_session=%s\r\n", f->store[f->n - 1]);
    r = ta_request(s->port, s->ca, "GET", "/api/me", hdr, NULL);
    assert_int_equal(r.status, 200);
    ta_resp_free(&r);
    r = ta_request(s->port, s->ca, "GET", "/api/customers", hdr, NULL);
    assert_int_equal(r.status, 200);
    ta_resp_free(&r);
    snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\n", s->admin);
    r = ta_request(s->port, s->ca, "GET", "/api/summary", hdr, NULL);
    assert_int_equal(r.status, 200);
    ta_resp_free(&r);

    /* Refused secrets must not be logged either: a wrong login, a wrong
    ** bearer on the API and on a sync upgrade, a wrong metrics token. */
    static const char wrong[] =
        "fs_1111111111111111111111111111111111111111111111111111111111111111";
    static const char wrong_m[] =
        "fsm_2222222222222222222222222222222222222222222222222222222222222222";
    keep(f, wrong);
    keep(f, wrong_m);
    snprintf(body, sizeof body, "{\"token\":\"%s\"}", wrong);
    r = ta_request(s->port, s->ca, "POST", "/api/login",
                   "Content-Type: application/json\r\n", body);
    assert_int_equal(r.status, 401);
    ta_resp_free(&r);
    snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\n", wrong);
    r = ta_request(s->port, s->ca, "GET", "/api/summary", hdr, NULL);
    assert_int_equal(r.status, 401);
    ta_resp_free(&r);
    rw_conn c;
    assert_int_equal(rw_connect(&c, s->port, s->ca, 0), 0);
    assert_int_equal(rw_upgrade(&c, wrong, FDSP_SUBPROTOCOL), 401);
    rw_close(&c);
    snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\n", wrong_m);
    r = ta_request(s->port, s->ca, "GET", "/metrics", hdr, NULL);
    assert_int_equal(r.status, 401);
    ta_resp_free(&r);
    snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\n", f->store[0]);
    r = ta_request(s->port, s->ca, "GET", "/metrics", hdr, NULL);
    assert_int_equal(r.status, 200);
    ta_resp_free(&r);
    r = ta_request(s->port, s->ca, "POST", "/api/logout", hdr, "");
    ta_resp_free(&r);
    th_stop(s, SIGTERM);
}

static char *the_log(fixture *f)
{
    char path[400];
    snprintf(path, sizeof path, "%s/server.log", f->srv.dir);
    char *log = slurp(path);
    for (int i = 0; i < f->n; i++)
        if (strstr(log, f->secret[i]))
            fail_msg("the server's log holds a secret (%.12s...):\n%s",
                     f->secret[i], log);
    return log;
}

/* Walk a logfmt value from p; returns the character after it. */
static const char *kv_value(const char *p)
{
    if (*p != '"')
        return p + strcspn(p, " \n");
    for (p++; *p && *p != '"'; p++)
        if (*p == '\\' && p[1])
            p++;
    assert_int_equal(*p, '"');
    return p + 1;
}

static void test_kv(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    *state = f;
    a_day(f, "--log-level", "debug", NULL, NULL);
    char *log = the_log(f);
    int lines = 0, push = 0, pull = 0, signin = 0;
    for (char *ln = log; *ln;) {
        char *nl = strchr(ln, '\n');
        assert_non_null(nl);
        *nl = '\0';
        /* ts=... level=... event=... then key=value pairs, nothing else. */
        assert_int_equal(strncmp(ln, "ts=", 3), 0);
        const char *lv = strstr(ln, " level=");
        assert_non_null(lv);
        assert_true(strncmp(lv + 7, "error ", 6) == 0 ||
                    strncmp(lv + 7, "warn ", 5) == 0 ||
                    strncmp(lv + 7, "info ", 5) == 0 ||
                    strncmp(lv + 7, "debug ", 6) == 0);
        const char *ev = strstr(ln, " event=");
        assert_non_null(ev);
        push += strncmp(ev, " event=push ", 12) == 0;
        pull += strncmp(ev, " event=pull ", 12) == 0;
        signin += strncmp(ev, " event=sign-in ", 15) == 0;
        for (const char *p = ln; *p;) {
            size_t k = strcspn(p, "= ");
            if (p[k] != '=')
                fail_msg("not key=value at \"%s\" in: %s", p, ln);
            for (size_t i = 0; i < k; i++)
                assert_true(p[i] == '_' || p[i] == '-' ||
                            (p[i] >= 'a' && p[i] <= 'z') ||
                            (p[i] >= '0' && p[i] <= '9'));
            p = kv_value(p + k + 1);
            if (*p == ' ')
                p++;
            else
                assert_int_equal(*p, '\0');
        }
        lines++;
        ln = nl + 1;
    }
    assert_true(lines > 10);
    assert_true(push >= 2);
    assert_true(pull >= 3);
    assert_int_equal(signin, 1);
    free(log);
}

static void test_json(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    *state = f;
    a_day(f, "--log-format", "json", "--log-level", "debug");
    char *log = the_log(f);
    int lines = 0, push = 0;
    for (char *ln = log; *ln;) {
        char *nl = strchr(ln, '\n');
        assert_non_null(nl);
        *nl = '\0';
        json_error_t e;
        json_t *j = json_loads(ln, JSON_REJECT_DUPLICATES, &e);
        if (!j)
            fail_msg("not one JSON object (%s): %s", e.text, ln);
        assert_true(json_is_object(j));
        assert_true(json_is_string(json_object_get(j, "ts")));
        assert_true(json_is_string(json_object_get(j, "level")));
        const char *ev = json_string_value(json_object_get(j, "event"));
        assert_non_null(ev);
        if (strcmp(ev, "push") == 0) {
            push++;
            /* Counts are numbers, names strings. */
            assert_true(json_is_integer(json_object_get(j, "accepted")));
            assert_true(json_is_string(json_object_get(j, "user")));
        }
        json_decref(j);
        lines++;
        ln = nl + 1;
    }
    assert_true(lines > 10);
    assert_true(push >= 2);
    free(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_kv, teardown),
        cmocka_unit_test_teardown(test_json, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
