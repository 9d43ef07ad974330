/*
** seclib.c — helpers for the tests/security executables (seclib.h).
*/
#include "seclib.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

void sec_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

void sec_wait_connected(th_server *s, const char *name)
{
    long long deadline = th_ms() + 10000;
    for (;;) {
        fds_replica *probe = th_replica_try(s, name);
        int up = probe && fds_replica_user(probe)[0] != '\0';
        fds_replica_close(probe);
        if (up)
            return;
        assert_true(th_ms() < deadline);
        sec_sleep_ms(20);
    }
}

int sec_wait_customer(th_server *s, const char *name, const char *id,
                      const char *want)
{
    long long deadline = th_ms() + 10000;
    while (th_ms() < deadline) {
        fds_replica *probe = th_replica_try(s, name);
        if (probe) {
            char *v = th_field(probe, id, "name");
            int seen = strcmp(v, want) == 0;
            free(v);
            fds_replica_close(probe);
            if (seen)
                return 1;
        }
        sec_sleep_ms(50);
    }
    return 0;
}

long long sec_rows_of(th_server *s, const char *name, const char *id)
{
    static const char *const sql[2] = {
        "SELECT count(*) FROM reg WHERE rid = ?1 OR (tbl, rid) IN"
        " (SELECT tbl, rid FROM reg WHERE field = 'customer' AND value = ?1)"
        " OR value = ?1",
        /* schema 4: a change group's values are in its body; a child
        ** record's group names the customer there */
        "SELECT count(*) FROM glog WHERE rid = ?1"
        " OR instr(body, CAST(?1 AS BLOB)) > 0",
    };
    char path[400];
    snprintf(path, sizeof path, "%s/%s.db", s->dir, name);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    long long n = 0;
    for (int i = 0; i < 2; i++) {
        sqlite3_stmt *st = NULL;
        assert_int_equal(sqlite3_prepare_v2(db, sql[i], -1, &st, NULL),
                         SQLITE_OK);
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        n += sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return n;
}

void sec_token_id(th_server *s, const char *user, char *id, size_t len)
{
    char out[8192] = "";
    assert_int_equal(th_admin(s, out, sizeof out, "token", "list", user,
                              "--json", NULL), 0);
    json_t *j = json_loads(out, 0, NULL);
    assert_non_null(j);
    const char *t = json_string_value(
        json_object_get(json_array_get(j, 0), "token_id"));
    assert_non_null(t);
    snprintf(id, len, "%s", t);
    json_decref(j);
}

char *sec_recv_type(rw_conn *c, const char *type)
{
    char want[80];
    snprintf(want, sizeof want, "\"type\":\"%s\"", type);
    for (;;) {
        char *buf = NULL;
        size_t len = 0;
        int op = rw_recv(c, &buf, &len);
        if (op != 1) {
            free(buf);
            return NULL;
        }
        if (strstr(buf, want))
            return buf;
        free(buf);
    }
}

void sec_raw_hello(th_server *s, rw_conn *c, const char *token,
                   const char *dev)
{
    assert_int_equal(rw_connect(c, s->port, s->ca, 0), 0);
    assert_int_equal(rw_upgrade(c, token, FDSP_SUBPROTOCOL), 101);
    char hello[200];
    snprintf(hello, sizeof hello,
             "{\"type\":\"hello\",\"v\":1,\"device\":\"%s\",\"cursor\":0}", dev);
    assert_int_equal(rw_send(c, hello), 0);
    char *w = sec_recv_type(c, "welcome");
    assert_non_null(w);
    free(w);
}

char *sec_followup(fds_replica *r, const char *customer, const char *text)
{
    json_t *in = json_pack("{s:s, s:s}", "method", "visit", "content", text);
    json_t *out = NULL;
    assert_int_equal(fds_followup_add(r, customer, in, &out), FDS_OK);
    char *id = strdup(json_string_value(json_object_get(out, "id")));
    json_decref(in);
    json_decref(out);
    return id;
}
