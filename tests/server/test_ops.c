/*
** test_ops.c — the operator's endpoints on the real server (http/ops.c):
** GET /metrics in Prometheus' text format, scraped before and after
** devices sync (the counters and histograms move by what happened), only
** with the scraper's own token; GET /healthz, 200 while the store takes
** a write lock and 503 while another process holds it; systemd's
** readiness messages (sd_notify).
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
#include <openssl/ssl.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include "harness.h"
#include "http_client.h"
#include "rawws.h"

static int setup(void **state)
{
    th_server *s = calloc(1, sizeof *s);
    if (!s)
        return -1;
    alarm(150);
    th_init(s);
    th_start(s, NULL);
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    th_server *s = *state;
    alarm(0);
    th_cleanup(s);
    free(s);
    return 0;
}

/* `token metrics --json`: the scraper's token into tok[80]. */
static void metrics_token(th_server *s, char *tok)
{
    char out[1024];
    assert_int_equal(th_admin(s, out, sizeof out, "token", "metrics", "--json",
                              NULL), 0);
    json_t *j = json_loads(out, 0, NULL);
    assert_non_null(j);
    const char *t = json_string_value(json_object_get(j, "token"));
    assert_non_null(t);
    assert_int_equal(strncmp(t, "fsm_", 4), 0);
    snprintf(tok, 80, "%s", t);
    json_decref(j);
}

/* GET /metrics with "Authorization: Bearer tok" (no header if tok NULL). */
static ta_resp scrape_as(th_server *s, const char *tok)
{
    char hdr[200] = "";
    if (tok)
        snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\n", tok);
    return ta_request(s->port, s->ca, "GET", "/metrics", tok ? hdr : NULL, NULL);
}

/* A scrape that must succeed; the body (malloc'd). */
static char *scrape(th_server *s, const char *tok)
{
    ta_resp r = scrape_as(s, tok);
    assert_int_equal(r.status, 200);
    char ct[128];
    assert_non_null(ta_header(&r, "content-type", ct, sizeof ct));
    assert_non_null(strstr(ct, "text/plain; version=0.0.4"));
    char *body = strdup(r.body);
    ta_resp_free(&r);
    return body;
}

/* The value of the series whose line starts with `series ` (name plus
** labels exactly as printed); fails if absent. */
static double value(const char *text, const char *series)
{
    size_t k = strlen(series);
    for (const char *p = text; p && *p;) {
        if (strncmp(p, series, k) == 0 && p[k] == ' ')
            return strtod(p + k + 1, NULL);
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    fail_msg("no series %s in the scrape", series);
    return 0;
}

/* Every line is a comment or "name{labels} value": the text format. */
static void check_format(const char *text)
{
    int lines = 0;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        assert_non_null(nl);    /* the format ends every line with \n */
        if (*p != '#') {
            const char *sp = memchr(p, ' ', (size_t)(nl - p));
            assert_non_null(sp);
            assert_true(p[0] == '_' || (p[0] >= 'a' && p[0] <= 'z'));
            char *end;
            strtod(sp + 1, &end);
            assert_ptr_equal(end, nl);
            lines++;
        }
        p = nl + 1;
    }
    assert_true(lines > 50);
}

#define DIFF(series) (value(after, series) - value(before, series))

static void test_metrics(void **state)
{
    th_server *s = *state;
    char tok[80], bob[80];
    metrics_token(s, tok);
    th_user(s, "bob", "rep", "east", bob);

    /* Refused: no token, a wrong one, a device token (the admin's). */
    ta_resp r = scrape_as(s, NULL);
    assert_int_equal(r.status, 401);
    assert_null(strstr(r.body, "fieldsync_"));
    ta_resp_free(&r);
    r = scrape_as(s, "fsm_0000000000000000000000000000000000000000000000000000000000000000");
    assert_int_equal(r.status, 401);
    ta_resp_free(&r);
    r = scrape_as(s, s->admin);
    assert_int_equal(r.status, 401);
    ta_resp_free(&r);

    char *before = scrape(s, tok);
    check_format(before);
    assert_int_equal((int)value(before, "fieldsync_up"), 1);
    assert_true(value(before, "fieldsync_auth_failures_total") >= 3);

    /* Two admin devices: a customer, then a concurrent edit of its name
    ** (a conflict); bob's device writes a field definition (a rep may
    ** not: refused with forbidden); a TLS client offering only CBC. */
    fds_replica *a = th_replica(s, "a"), *b = th_replica(s, "b");
    fds_replica *rb = th_replica(s, "bob");
    char *id = th_customer(a, "华星科技");
    free(th_customer(a, "客户乙"));
    assert_int_equal(th_sync(s, a, s->admin, NULL), 0);
    assert_int_equal(th_sync(s, b, s->admin, NULL), 0);
    json_t *e1 = json_pack("{s:s}", "name", "华星科技（上海）");
    json_t *e2 = json_pack("{s:s}", "name", "华星科技有限公司");
    assert_int_equal(fds_customer_edit(a, id, e1, NULL), FDS_OK);
    assert_int_equal(fds_customer_edit(b, id, e2, NULL), FDS_OK);
    json_decref(e1);
    json_decref(e2);
    assert_int_equal(th_sync(s, a, s->admin, NULL), 0);
    assert_int_equal(th_sync(s, b, s->admin, NULL), 0);
    assert_int_equal(th_sync(s, rb, bob, NULL), 0);
    json_t *def = json_pack("{s:s,s:s,s:s}", "key", "budget", "label",
                            "Budget", "type", "number");
    assert_int_equal(fds_meta_set(rb, "role", ""), FDS_OK);
    assert_int_equal(fds_fielddef_set(rb, def), FDS_OK);
    json_decref(def);
    fds_session_stats st;
    assert_int_equal(th_sync(s, rb, bob, &st), 0);
    assert_true(st.refused >= 1);
    rw_conn c, live;
    assert_int_equal(rw_connect(&c, s->port, s->ca, 0), 0);
    assert_int_equal(rw_upgrade(&c, s->admin, FDSP_SUBPROTOCOL), 101);
    /* A dashboard's /live socket, open while scraping. */
    assert_int_equal(rw_connect(&live, s->port, s->ca, 0), 0);
    assert_int_equal(rw_upgrade(&live, s->admin, "fieldsync.live"), 101);
    char *hello = NULL;
    size_t hello_len = 0;
    assert_int_equal(rw_recv(&live, &hello, &hello_len), 1);   /* linked */
    free(hello);

    char *after = scrape(s, tok);
    check_format(after);
    assert_true(DIFF("fieldsync_sync_connections_total") >= 6);
    assert_true(DIFF("fieldsync_pushes_total") >= 3);
    assert_true(DIFF("fieldsync_pulls_total") >= 6);
    /* 2 customers' fields, then 2 edits; each name edit is a new row. */
    assert_true(DIFF("fieldsync_changes_merged_total") >= 4);
    assert_true(DIFF("fieldsync_conflicts_total") >= 1);
    assert_true(DIFF("fieldsync_changes_sent_total") >= 2);
    assert_true(DIFF("fieldsync_refused_changes_total{code=\"forbidden\"}") >= 1);
    assert_true(DIFF("fieldsync_push_duration_seconds_count") >= 3);
    assert_true(DIFF("fieldsync_push_duration_seconds_bucket{le=\"+Inf\"}") >= 3);
    assert_true(DIFF("fieldsync_pull_duration_seconds_count") >= 6);
    assert_true(DIFF("fieldsync_store_write_transaction_seconds_count") >= 3);
    assert_true(DIFF("fieldsync_store_read_transaction_seconds_count") >= 6);
    assert_true(DIFF("fieldsync_fanout_duration_seconds_count") >= 1);
    assert_true(value(after, "fieldsync_push_duration_seconds_sum") > 0);
    /* The open raw connection counts; the head is the store's. */
    assert_true(value(after, "fieldsync_connected_devices") >= 1);
    assert_int_equal((int)value(after, "fieldsync_connected_dashboards"), 1);
    assert_int_equal((int)value(before, "fieldsync_connected_dashboards"), 0);
    assert_int_equal((long long)value(after, "fieldsync_history_head"),
                     th_history_count(s));
    rw_close(&c);
    rw_close(&live);
    free(before);
    free(after);

    /* A handshake the profile refuses is a TLS failure. */
    before = scrape(s, tok);
    assert_int_equal(rw_connect(&c, s->port, s->ca, TLS1_1_VERSION), -1);
    rw_close(&c);
    after = scrape(s, tok);
    assert_true(DIFF("fieldsync_tls_handshake_failures_total") >= 1);
    free(before);
    free(after);

    /* A new token replaces the old one, without a restart. */
    char tok2[80];
    metrics_token(s, tok2);
    r = scrape_as(s, tok);
    assert_int_equal(r.status, 401);
    ta_resp_free(&r);
    free(scrape(s, tok2));

    free(id);
    fds_replica_close(a);
    fds_replica_close(b);
    fds_replica_close(rb);
}

/* Before any `token metrics`, /metrics refuses everyone. */
static void test_metrics_off(void **state)
{
    th_server *s = *state;
    ta_resp r = scrape_as(s, s->admin);
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(r.body, "token metrics"));
    ta_resp_free(&r);
}

static void test_healthz(void **state)
{
    th_server *s = *state;
    ta_resp r = ta_request(s->port, s->ca, "GET", "/healthz", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"status\":\"ok\""));
    ta_resp_free(&r);
    r = ta_request(s->port, s->ca, "POST", "/healthz", NULL, "");
    assert_int_equal(r.status, 405);
    ta_resp_free(&r);

    /* Another process holds the store's write lock: no push could be
    ** taken, so the server is not healthy (after the store's 5 s busy
    ** timeout).  Released, it is again. */
    char path[400];
    snprintf(path, sizeof path, "%s/fieldsync.db", s->data);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL),
                     SQLITE_OK);
    r = ta_request(s->port, s->ca, "GET", "/healthz", NULL, NULL);
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.body, "\"status\":\"unavailable\""));
    ta_resp_free(&r);
    assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    r = ta_request(s->port, s->ca, "GET", "/healthz", NULL, NULL);
    assert_int_equal(r.status, 200);
    ta_resp_free(&r);
}

/* One datagram from the NOTIFY_SOCKET we bound (10 s at most). */
static void expect_notify(int fd, const char *want)
{
    char buf[256];
    ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
    assert_true(n > 0);
    buf[n] = '\0';
    if (!strstr(buf, want))
        fail_msg("sd_notify sent \"%s\", expected %s", buf, want);
}

/* systemd's Type=notify (packaging/fieldsync-server.service): READY=1
** once the port listens, STOPPING=1 when SIGTERM starts the close. */
static void test_sd_notify(void **state)
{
    th_server *s = calloc(1, sizeof *s);
    assert_non_null(s);
    *state = s;
    alarm(60);
    th_init(s);
    char path[400];
    snprintf(path, sizeof path, "%s/notify.sock", s->dir);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    assert_true(strlen(path) < sizeof a.sun_path);
    memcpy(a.sun_path, path, strlen(path) + 1);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setenv("NOTIFY_SOCKET", path, 1);   /* the server inherits it */
    th_start(s, NULL);
    unsetenv("NOTIFY_SOCKET");
    expect_notify(fd, "READY=1");
    ta_resp r = ta_request(s->port, s->ca, "GET", "/healthz", NULL, NULL);
    assert_int_equal(r.status, 200);    /* ready meant serving */
    ta_resp_free(&r);
    kill(s->pid, SIGTERM);
    expect_notify(fd, "STOPPING=1");
    close(fd);
}

static int teardown_only(void **state)
{
    return *state ? teardown(state) : 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_metrics_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_healthz, setup, teardown),
        cmocka_unit_test_teardown(test_sd_notify, teardown_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
