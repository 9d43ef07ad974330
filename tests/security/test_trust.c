/*
** test_trust.c — DESIGN.md rules 11-15 on the server (docs/internals/
** trust.md), over real TLS against the real fieldsync-server, with the raw
** WebSocket client sending crafted hellos and pushes:
**   rule 11  a device id bound to another user is refused (fatal forbidden)
**   rule 15  forged vv claims and a missing own entry are refused; a
**            re-sent duplicate is accepted without a new history row; a
**            reused counter is a device_clash that refuses the rest of the
**            device's changes on the connection, and the reset device's
**            second hello is accepted
**   rule 12  the welcome carries counter, store, epoch and time
**   rule 14  HLCs 700 days ahead and ffffffffffffffff are re-stamped
**   rule 13  relayed changes only in restore mode, with history.relay;
**            `backup` while serving; the schema 1 -> 2 migration
*/
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

#include "seclib.h"
#include "store.h"
#include "store_sqlite_hist.h"

#define CLOCK_BOUND_MS (5 * 60 * 1000)

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- Raw protocol helpers ---------------------------------------------------- */

/* Next message of `type` or an error, as JSON (NULL on timeout/close). */
static json_t *recv_json(rw_conn *c, const char *type)
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
        if (strstr(buf, want) || strstr(buf, "\"type\":\"error\"")) {
            json_t *j = json_loadb(buf, len, 0, NULL);
            free(buf);
            return j;
        }
        free(buf);
    }
}

static const char *jstr(json_t *j, const char *key)
{
    const char *v = json_string_value(json_object_get(j, key));
    return v ? v : "";
}

static void send_json(rw_conn *c, json_t *j)
{
    char *t = json_dumps(j, JSON_COMPACT);
    assert_non_null(t);
    assert_int_equal(rw_send(c, t), 0);
    free(t);
    json_decref(j);
}

/* Connect with token and send a hello (extra members merged in); returns
** the welcome or error. */
static json_t *hello(th_server *s, rw_conn *c, const char *token,
                     const char *dev, json_t *extra)
{
    assert_int_equal(rw_connect(c, s->port, s->ca, 0), 0);
    assert_int_equal(rw_upgrade(c, token, FDSP_SUBPROTOCOL), 101);
    json_t *h = json_pack("{s:s, s:i, s:s, s:i}", "type", "hello", "v", 1,
                          "device", dev, "cursor", 0);
    if (extra) {
        json_object_update(h, extra);
        json_decref(extra);
    }
    send_json(c, h);
    return recv_json(c, "welcome");
}

/* A second hello on an open connection. */
static json_t *hello_again(rw_conn *c, const char *dev)
{
    send_json(c, json_pack("{s:s, s:i, s:s, s:i}", "type", "hello", "v", 1,
                           "device", dev, "cursor", 0));
    return recv_json(c, "welcome");
}

/* One change as JSON; vv is taken over. */
static json_t *chg(const char *rid, const char *field, const char *value,
                   const char *dev, json_t *vv, const char *h)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:s}", "t", "customer",
                     "r", rid, "f", field, "v", value, "vv", vv, "h", h,
                     "d", dev);
}

static json_t *vv1(const char *dev, long long k)
{
    return json_pack("{s:I}", dev, (json_int_t)k);
}

/* Push the changes (array taken over) as batch; returns the ack. */
static json_t *push(rw_conn *c, int batch, json_t *changes)
{
    send_json(c, json_pack("{s:s, s:i, s:o}", "type", "push", "batch", batch,
                           "changes", changes));
    json_t *a = recv_json(c, "ack");
    assert_non_null(a);
    if (strcmp(jstr(a, "type"), "ack") != 0)
        fail_msg("push answered %s", json_dumps(a, JSON_COMPACT));
    return a;
}

static json_t *push1(rw_conn *c, int batch, json_t *change)
{
    return push(c, batch, json_pack("[o]", change));
}

static long long accepted_of(json_t *ack)
{
    return json_integer_value(json_object_get(ack, "accepted"));
}

/* The refusal of change i in an ack (NULL if it was not refused). */
static json_t *refusal(json_t *ack, size_t i)
{
    json_t *r = json_object_get(ack, "refused");
    for (size_t k = 0; k < json_array_size(r); k++) {
        json_t *e = json_array_get(r, k);
        if ((size_t)json_integer_value(json_object_get(e, "i")) == i)
            return e;
    }
    return NULL;
}

static void expect_refused(json_t *ack, size_t i, const char *code,
                           const char *text)
{
    json_t *r = refusal(ack, i);
    if (!r)
        fail_msg("change %zu was not refused: %s", i,
                 json_dumps(ack, JSON_COMPACT));
    if (strcmp(jstr(r, "code"), code) != 0 || !strstr(jstr(r, "message"), text))
        fail_msg("change %zu: expected %s \"%s\", got %s", i, code, text,
                 json_dumps(r, JSON_COMPACT));
}

/* The stamp the ack gives change i (0 if none). */
static unsigned long long stamp_of(json_t *ack, size_t i)
{
    json_t *st = json_object_get(ack, "stamps");
    for (size_t k = 0; k < json_array_size(st); k++) {
        json_t *e = json_array_get(st, k);
        if ((size_t)json_integer_value(json_object_get(e, "i")) == i)
            return strtoull(jstr(e, "h"), NULL, 16);
    }
    return 0;
}

/* ---- Store helpers (plain SQLite on the store file) -------------------------- */

#ifdef FSV_HARNESS_ON_PG
#include <libpq-fe.h>

/* Built with FSV_HARNESS_ON_PG (security_pg_trust) the server's store is
** a PostgreSQL database: these helpers' SQL runs there, history read as
** hist, user as usr, ?N as $N (the two backends' names for the same
** rows, store_pg.c). */
static PGresult *pg_q(th_server *s, const char *sql, int n,
                      const char *const *args)
{
    char t[1024];
    size_t k = 0;
    for (const char *p = sql; *p && k < sizeof t - 8;) {
        if (strncmp(p, "history", 7) == 0) {
            memcpy(t + k, "hist", 4);
            k += 4;
            p += 7;
        } else if (strncmp(p, "user ", 5) == 0 && (p == sql || p[-1] == ' ')) {
            memcpy(t + k, "usr ", 4);
            k += 4;
            p += 5;
        } else if (*p == '?') {
            t[k++] = '$';
            p++;
        } else {
            t[k++] = *p++;
        }
    }
    t[k] = '\0';
    PGconn *c = PQconnectdb(s->store);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *r = PQexecParams(c, t, n, NULL, args, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", t, PQerrorMessage(c));
    PQfinish(c);
    return r;
}

/* The number of ?N parameters sql names (the highest N). */
static int pg_nparams(const char *sql)
{
    int n = 0;
    for (const char *p = strchr(sql, '?'); p; p = strchr(p + 1, '?'))
        if (atoi(p + 1) > n)
            n = atoi(p + 1);
    return n;
}
#endif

static sqlite3 *store_db(th_server *s, const char *file)
{
    char path[400];
    snprintf(path, sizeof path, "%s/%s", s->data, file ? file : "fieldsync.db");
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL),
                     SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    /* Schema 3 keeps history as group rows: read it through the
    ** `history` virtual table, one row per change as before. */
    assert_int_equal(fsv_sqlite_history_module(db), SQLITE_OK);
    return db;
}

/* First column of the first row of sql (args bound as text), as an integer;
** -1 if no row. */
static long long q_int(th_server *s, const char *file, const char *sql, ...)
{
#ifdef FSV_HARNESS_ON_PG
    if (!file) {
        const char *args[8] = {0};
        int n = pg_nparams(sql);
        va_list pa;
        va_start(pa, sql);
        for (int i = 0; i < n && i < 8; i++)
            args[i] = va_arg(pa, const char *);
        va_end(pa);
        PGresult *r = pg_q(s, sql, n, args);
        long long v = PQntuples(r) == 0 ? -1
                      : PQgetisnull(r, 0, 0) ? -2
                      : atoll(PQgetvalue(r, 0, 0));
        PQclear(r);
        return v;
    }
#endif
    sqlite3 *db = store_db(s, file);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    va_list ap;
    va_start(ap, sql);
    int n = sqlite3_bind_parameter_count(st);
    for (int i = 1; i <= n; i++)
        sqlite3_bind_text(st, i, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
    va_end(ap);
    long long v = -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_type(st, 0) == SQLITE_NULL ? -2
                                                      : sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* The canonical versions text of a register on the server (its store
** keeps registers packed per record: read through the store). */
static char *server_register(th_server *s, const char *tbl, const char *rid,
                             const char *field)
{
    char url[420], err[256];
    if (s->store[0])
        snprintf(url, sizeof url, "%s", s->store);
    else
        snprintf(url, sizeof url, "sqlite:%s/fieldsync.db", s->data);
    fsv_store *st = NULL;
    assert_int_equal(fsv_store_open(url, 0, &st, err, sizeof err), FSV_OK);
    fds_register reg;
    char *txt = NULL;
    if (fsv_store_api_register(st, tbl, rid, field, &reg) == FSV_OK) {
        txt = fds_register_dump(&reg);
        fds_register_clear(&reg);
    }
    fsv_store_close(st);
    return txt;
}

static char *q_text(th_server *s, const char *file, const char *sql,
                    const char *arg)
{
#ifdef FSV_HARNESS_ON_PG
    if (!file) {
        const char *args[1] = {arg};
        PGresult *r = pg_q(s, sql, arg ? 1 : 0, args);
        char *v = PQntuples(r) && !PQgetisnull(r, 0, 0)
                      ? strdup(PQgetvalue(r, 0, 0)) : NULL;
        PQclear(r);
        return v;
    }
#endif
    sqlite3 *db = store_db(s, file);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    if (arg)
        sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
    char *v = NULL;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        v = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static long long hist_rows(th_server *s)
{
    return q_int(s, NULL, "SELECT count(*) FROM history");
}

/* An HLC at now + off_ms, as the 16 hex digits of the wire. */
static void hlc_hex(long long off_ms, char out[17])
{
    snprintf(out, 17, "%016llx",
             (unsigned long long)(now_ms() + off_ms) << 16);
}

/* ---- Rule 11 ------------------------------------------------------------------ */

static void test_device_bound_to_its_user(void **state)
{
    th_server *s = *state;
    char alice[80], bob[80];
    th_init(s);
    th_user(s, "alice", "rep", "north", alice);
    th_user(s, "bob", "rep", "north", bob);
    th_start(s, NULL);

    rw_conn a, b;
    json_t *w = hello(s, &a, alice, "dev-alice", NULL);
    assert_string_equal(jstr(w, "type"), "welcome");
    json_decref(w);
    char h[17];
    hlc_hex(0, h);
    json_decref(push1(&a, 1, chg("c-alice", "name", "Ann", "dev-alice",
                                 vv1("dev-alice", 1), h)));
    rw_close(&a);

    long long before = q_int(s, NULL, "SELECT count(*) FROM devices");
    /* Bob's token with alice's device id: fatal forbidden naming it. */
    json_t *e = hello(s, &b, bob, "dev-alice", NULL);
    assert_non_null(e);
    assert_string_equal(jstr(e, "type"), "error");
    assert_string_equal(jstr(e, "code"), "forbidden");
    assert_true(json_is_true(json_object_get(e, "fatal")));
    assert_non_null(strstr(jstr(e, "message"), "device dev-alice belongs to"
                                               " another user"));
    json_decref(e);
    rw_close(&b);
    /* Nothing recorded: still alice's, same rows, same token use. */
    char *u = q_text(s, NULL, "SELECT user FROM devices WHERE device=?1",
                     "dev-alice");
    assert_string_equal(u, "alice");
    free(u);
    assert_int_equal(q_int(s, NULL, "SELECT count(*) FROM devices"), before);

    /* Alice still syncs with it; bob with his own id. */
    w = hello(s, &a, alice, "dev-alice", NULL);
    assert_string_equal(jstr(w, "type"), "welcome");
    json_decref(w);
    rw_close(&a);
    w = hello(s, &b, bob, "dev-bob", NULL);
    assert_string_equal(jstr(w, "type"), "welcome");
    json_decref(w);
    rw_close(&b);
}

/* ---- Rule 15 ------------------------------------------------------------------ */

static void test_vv_claims_checked(void **state)
{
    th_server *s = *state;
    char alice[80], bob[80];
    th_init(s);
    th_user(s, "alice", "rep", "north", alice);
    th_user(s, "bob", "rep", "north", bob);
    th_start(s, NULL);
    char h[17];
    hlc_hex(0, h);

    rw_conn a, b;
    json_decref(hello(s, &a, alice, "dev-a", NULL));
    json_t *ack = push1(&a, 1, chg("c-a", "name", "Ann", "dev-a",
                                   vv1("dev-a", 1), h));
    assert_int_equal(accepted_of(ack), 1);
    json_decref(ack);

    json_decref(hello(s, &b, bob, "dev-b", NULL));
    long long rows = hist_rows(s);
    /* Bob claims to know alice's counter 2^53: refused, naming it; and a
    ** change without its own entry. */
    json_t *forged = json_pack("{s:I, s:I}", "dev-a",
                               (json_int_t)9007199254740992LL, "dev-b",
                               (json_int_t)1);
    ack = push(&b, 1, json_pack("[o, o]",
                                chg("c-b", "name", "Bo", "dev-b", forged, h),
                                chg("c-b", "phone", "1", "dev-b",
                                    vv1("dev-x", 1), h)));
    assert_int_equal(accepted_of(ack), 0);
    expect_refused(ack, 0, "bad_value", "vv claims device dev-a counter"
                   " 9007199254740992, the server has only accepted 1 from it");
    expect_refused(ack, 0, "bad_value", "customer c-b field name");
    expect_refused(ack, 1, "bad_value", "vv has no entry for its own device"
                   " dev-b");
    json_decref(ack);
    assert_int_equal(hist_rows(s), rows);
    /* A claim within what was accepted, counting earlier changes of the
    ** same batch, passes. */
    json_t *ok1 = json_pack("{s:I}", "dev-b", (json_int_t)1);
    json_t *ok2 = json_pack("{s:I, s:I}", "dev-a", (json_int_t)1, "dev-b",
                            (json_int_t)2);
    json_t *ok3 = json_pack("{s:I}", "dev-b", (json_int_t)3);
    json_t *bad = json_pack("{s:I, s:I}", "dev-b", (json_int_t)5, "dev-c",
                            (json_int_t)1);
    ack = push(&b, 2, json_pack("[o, o, o, o]",
                                chg("c-b", "name", "Bo", "dev-b", ok1, h),
                                chg("c-b", "phone", "2", "dev-b", ok2, h),
                                chg("c-b", "email", "b@x", "dev-b", ok3, h),
                                chg("c-b", "title", "t", "dev-b", bad, h)));
    assert_int_equal(accepted_of(ack), 3);
    expect_refused(ack, 3, "bad_value", "vv claims device dev-c counter 1,"
                   " the server has only accepted 0 from it");
    json_decref(ack);
    assert_int_equal(q_int(s, NULL, "SELECT counter FROM devices WHERE"
                           " device=?1", "dev-b"), 3);

    /* Alice's next real write is still accepted and stored. */
    rows = hist_rows(s);
    ack = push1(&a, 2, chg("c-a", "name", "Anna", "dev-a", vv1("dev-a", 2), h));
    assert_int_equal(accepted_of(ack), 1);
    assert_null(refusal(ack, 0));
    json_decref(ack);
    assert_int_equal(hist_rows(s), rows + 1);
    assert_int_equal(q_int(s, NULL, "SELECT dctr FROM history WHERE device=?1"
                           " ORDER BY seq DESC", "dev-a"), 2);
    rw_close(&a);
    rw_close(&b);
}

static void test_duplicate_and_clash(void **state)
{
    th_server *s = *state;
    char alice[80];
    th_init(s);
    th_user(s, "alice", "rep", "north", alice);
    th_start(s, NULL);
    char h[17];
    hlc_hex(0, h);

    rw_conn a;
    json_decref(hello(s, &a, alice, "dev-a", NULL));
    json_t *ack = push(&a, 1, json_pack("[o, o]",
        chg("c-1", "name", "One", "dev-a", vv1("dev-a", 1), h),
        chg("c-1", "phone", "111", "dev-a", vv1("dev-a", 2), h)));
    assert_int_equal(accepted_of(ack), 2);
    json_decref(ack);
    long long rows = hist_rows(s);

    /* The same changes re-sent (a lost ack): accepted, no new row. */
    ack = push(&a, 2, json_pack("[o, o]",
        chg("c-1", "name", "One", "dev-a", vv1("dev-a", 1), h),
        chg("c-1", "phone", "111", "dev-a", vv1("dev-a", 2), h)));
    assert_int_equal(accepted_of(ack), 2);
    assert_int_equal(json_array_size(json_object_get(ack, "refused")), 0);
    json_decref(ack);
    assert_int_equal(hist_rows(s), rows);

    /* Another change under a used counter (a copied replica): clash, and
    ** every later change of dev-a on this connection too. */
    ack = push(&a, 3, json_pack("[o, o]",
        chg("c-1", "name", "Other", "dev-a", vv1("dev-a", 2), h),
        chg("c-1", "email", "e@x", "dev-a", vv1("dev-a", 3), h)));
    assert_int_equal(accepted_of(ack), 0);
    expect_refused(ack, 0, "device_clash", "customer c-1 field name: device"
                   " dev-a counter 2 already names another change");
    expect_refused(ack, 1, "device_clash", "dev-a");
    json_decref(ack);
    ack = push1(&a, 4, chg("c-1", "title", "x", "dev-a", vv1("dev-a", 4), h));
    expect_refused(ack, 0, "device_clash", "dev-a");
    json_decref(ack);
    assert_int_equal(hist_rows(s), rows);
    assert_int_equal(q_int(s, NULL, "SELECT counter FROM devices WHERE"
                           " device=?1", "dev-a"), 2);

    /* The reset device's second hello (new id) on the same connection. */
    json_t *w = hello_again(&a, "dev-a2");
    assert_non_null(w);
    assert_string_equal(jstr(w, "type"), "welcome");
    assert_string_equal(jstr(w, "device"), "dev-a2");
    json_decref(w);
    json_t *vv = json_pack("{s:I, s:I}", "dev-a", (json_int_t)2, "dev-a2",
                           (json_int_t)3);
    ack = push1(&a, 5, chg("c-1", "name", "Other", "dev-a2", vv, h));
    assert_int_equal(accepted_of(ack), 1);
    json_decref(ack);
    assert_int_equal(hist_rows(s), rows + 1);
    /* A third hello is not allowed. */
    send_json(&a, json_pack("{s:s, s:i, s:s, s:i}", "type", "hello", "v", 1,
                            "device", "dev-a3", "cursor", 0));
    json_t *e = recv_json(&a, "welcome");
    assert_non_null(e);
    assert_string_equal(jstr(e, "code"), "bad_state");
    json_decref(e);
    rw_close(&a);
}

/* ---- Rule 12: the welcome ----------------------------------------------------- */

static void test_welcome_trust_members(void **state)
{
    th_server *s = *state;
    char alice[80];
    th_init(s);
    th_user(s, "alice", "rep", "north", alice);
    th_start(s, NULL);
    char h[17];
    hlc_hex(0, h);

    rw_conn a;
    json_t *w = hello(s, &a, alice, "dev-a", NULL);
    assert_int_equal(json_integer_value(json_object_get(w, "counter")), 0);
    char *id = q_text(s, NULL, "SELECT value FROM meta WHERE key='store_id'",
                      NULL);
    assert_non_null(id);
    assert_int_equal(strlen(id), 36);
    assert_string_equal(jstr(w, "store"), id);
    long long epoch = q_int(s, NULL, "SELECT value FROM meta WHERE key='epoch'");
    assert_true(epoch > 0);
    assert_int_equal(json_integer_value(json_object_get(w, "epoch")), epoch);
    long long t = json_integer_value(json_object_get(w, "time"));
    assert_true(llabs(t - now_ms()) < 10000);
    json_decref(w);
    json_decref(push(&a, 1, json_pack("[o, o, o]",
        chg("c-1", "name", "One", "dev-a", vv1("dev-a", 1), h),
        chg("c-1", "phone", "1", "dev-a", vv1("dev-a", 2), h),
        chg("c-1", "email", "e", "dev-a", vv1("dev-a", 3), h))));
    rw_close(&a);

    /* A replica restored from a backup says counter 1: the welcome says
    ** 3, and the reset device may say hello again. */
    w = hello(s, &a, alice, "dev-a", json_pack("{s:i}", "counter", 1));
    assert_int_equal(json_integer_value(json_object_get(w, "counter")), 3);
    json_decref(w);
    w = hello_again(&a, "dev-a-new");
    assert_string_equal(jstr(w, "type"), "welcome");
    assert_int_equal(json_integer_value(json_object_get(w, "counter")), 0);
    json_decref(w);
    rw_close(&a);
    /* Up to date: no second hello. */
    w = hello(s, &a, alice, "dev-a", json_pack("{s:i}", "counter", 3));
    json_decref(w);
    w = hello_again(&a, "dev-a-other");
    assert_string_equal(jstr(w, "code"), "bad_state");
    json_decref(w);
    rw_close(&a);
    free(id);
}

/* ---- Rule 14 ------------------------------------------------------------------ */

/* The h of record rid's field in a pull by a fresh device of token. */
static unsigned long long pulled_hlc(th_server *s, const char *token,
                                     const char *rid, const char *field)
{
    rw_conn c;
    json_decref(hello(s, &c, token, "dev-puller", NULL));
    send_json(&c, json_pack("{s:s, s:i, s:i}", "type", "pull", "after", 0,
                            "limit", 500));
    json_t *m = recv_json(&c, "changes");
    assert_non_null(m);
    unsigned long long h = 0;
    json_t *ch = json_object_get(m, "changes");
    for (size_t i = 0; i < json_array_size(ch); i++) {
        json_t *e = json_array_get(ch, i);
        if (strcmp(jstr(e, "r"), rid) == 0 && strcmp(jstr(e, "f"), field) == 0)
            h = strtoull(jstr(e, "h"), NULL, 16);
    }
    json_decref(m);
    rw_close(&c);
    return h;
}

static void test_clock_bound_restamps(void **state)
{
    th_server *s = *state;
    char alice[80], mona[80];
    th_init(s);
    th_user(s, "alice", "rep", "north", alice);
    th_user(s, "mona", "manager", "*", mona);
    th_start(s, NULL);
    char ok[17], ahead[17];
    hlc_hex(0, ok);
    hlc_hex(700LL * 24 * 3600 * 1000, ahead);

    rw_conn a;
    json_decref(hello(s, &a, alice, "dev-a", NULL));
    long long t0 = now_ms();
    json_t *ack = push(&a, 1, json_pack("[o, o, o]",
        chg("c-1", "name", "Ahead", "dev-a", vv1("dev-a", 1), ahead),
        chg("c-1", "phone", "Max", "dev-a", vv1("dev-a", 2), "ffffffffffffffff"),
        chg("c-1", "email", "Fine", "dev-a", vv1("dev-a", 3), ok)));
    long long t1 = now_ms();
    assert_int_equal(accepted_of(ack), 3);
    unsigned long long s0 = stamp_of(ack, 0), s1 = stamp_of(ack, 1);
    /* Both re-stamped at the server's time, the in-bound one kept. */
    assert_true(s0 >= (unsigned long long)t0 << 16);
    assert_true(s0 <= (unsigned long long)(t1 + CLOCK_BOUND_MS) << 16);
    assert_true(s1 >= (unsigned long long)t0 << 16);
    assert_true(s1 <= (unsigned long long)(t1 + CLOCK_BOUND_MS) << 16);
    assert_true(s1 != s0);
    assert_int_equal(stamp_of(ack, 2), 0);
    json_decref(ack);

    /* The history rows and the register hold the stamps. */
#ifdef FSV_HARNESS_ON_PG
    PGresult *hr = pg_q(s, "SELECT field, hlc FROM history WHERE rid='c-1'",
                        0, NULL);
    int seen = 0;
    for (int i = 0; i < PQntuples(hr); i++) {
        const char *f = PQgetvalue(hr, i, 0);
        unsigned long long v = strtoull(PQgetvalue(hr, i, 1), NULL, 10);
        if (strcmp(f, "name") == 0)
            assert_true(v == s0), seen++;
        if (strcmp(f, "phone") == 0)
            assert_true(v == s1), seen++;
    }
    PQclear(hr);
#else
    sqlite3 *db = store_db(s, NULL);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT field, hlc FROM history"
                                        " WHERE rid='c-1'", -1, &st, NULL),
                     SQLITE_OK);
    int seen = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *f = (const char *)sqlite3_column_text(st, 0);
        unsigned long long v = (unsigned long long)sqlite3_column_int64(st, 1);
        if (strcmp(f, "name") == 0)
            assert_true(v == s0), seen++;
        if (strcmp(f, "phone") == 0)
            assert_true(v == s1), seen++;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
#endif
    assert_int_equal(seen, 2);
    char *reg = server_register(s, "customer", "c-1", "phone");
    assert_non_null(reg);
    assert_null(strstr(reg, "ffffffffffffffff"));
    free(reg);

    /* What another device pulls is the re-stamped time. */
    assert_true(pulled_hlc(s, mona, "c-1", "name") == s0);
    assert_true(pulled_hlc(s, mona, "c-1", "phone") == s1);

    /* A re-send with the device's old (unstamped) time: a duplicate,
    ** answered with the stored stamp. */
    ack = push1(&a, 2, chg("c-1", "name", "Ahead", "dev-a", vv1("dev-a", 1),
                           ahead));
    assert_int_equal(accepted_of(ack), 1);
    assert_true(stamp_of(ack, 0) == s0);
    json_decref(ack);
    rw_close(&a);
}

/* ---- Rule 13: relayed changes ---------------------------------------------- */

static void test_relay_only_in_restore_mode(void **state)
{
    th_server *s = *state;
    char alice[80], bob[80];
    th_init(s);
    th_user(s, "alice", "rep", "north", alice);
    th_user(s, "bob", "rep", "north", bob);
    th_start(s, NULL);
    char h[17];
    hlc_hex(0, h);

    rw_conn a, b;
    json_decref(hello(s, &a, alice, "dev-a", NULL));
    json_decref(push1(&a, 1, chg("c-1", "name", "One", "dev-a",
                                 vv1("dev-a", 1), h)));
    rw_close(&a);

    /* alice's second device relays a change of a device the server never
    ** saw (as if the store lost it): refused outside restore mode. */
    json_t *relayed = chg("c-1", "phone", "555", "dev-old", vv1("dev-old", 7),
                          h);
    json_object_set_new(relayed, "u", json_string("alice"));
    json_decref(hello(s, &a, alice, "dev-a2", NULL));
    json_t *ack = push1(&a, 1, json_deep_copy(relayed));
    expect_refused(ack, 0, "bad_value", "made by device dev-old, not by this"
                   " connection's device");
    json_decref(ack);
    rw_close(&a);

    /* In restore mode (its cursor is past the head): accepted, keeps its
    ** d and u, and history names the relaying device. */
    json_t *w = hello(s, &a, alice, "dev-a2", json_pack("{s:i}", "cursor",
                                                        1000));
    assert_string_equal(jstr(w, "type"), "welcome");
    json_decref(w);
    json_t *unknown = chg("c-1", "email", "x", "dev-old2", vv1("dev-old2", 1),
                          h);
    json_object_set_new(unknown, "u", json_string("nobody"));
    ack = push(&a, 2, json_pack("[O, o]", relayed, unknown));
    assert_int_equal(accepted_of(ack), 1);
    assert_null(refusal(ack, 0));
    expect_refused(ack, 1, "bad_value", "user nobody");
    json_decref(ack);
    char *u = q_text(s, NULL, "SELECT user || '/' || device || '/' || relay ||"
                     " '/' || dctr FROM history WHERE rid='c-1' AND"
                     " field=?1", "phone");
    assert_string_equal(u, "alice/dev-old/dev-a2/7");
    free(u);
    u = q_text(s, NULL, "SELECT user || '/' || counter FROM devices WHERE"
               " device=?1", "dev-old");
    assert_string_equal(u, "alice/7");
    free(u);
    assert_int_equal(q_int(s, NULL, "SELECT count(*) FROM history WHERE"
                           " relay IS NOT NULL"), 1);
    /* Re-sent again: a duplicate. */
    long long rows = hist_rows(s);
    ack = push1(&a, 3, relayed);
    assert_int_equal(accepted_of(ack), 1);
    json_decref(ack);
    assert_int_equal(hist_rows(s), rows);
    rw_close(&a);

    /* bob may not relay into alice's customer, nor as alice's device. */
    json_decref(hello(s, &b, bob, "dev-b", json_pack("{s:i}", "cursor", 1000)));
    json_t *foreign = chg("c-1", "title", "t", "dev-old", vv1("dev-old", 8), h);
    json_object_set_new(foreign, "u", json_string("bob"));
    ack = push1(&b, 1, foreign);
    assert_int_equal(accepted_of(ack), 0);
    json_decref(ack);
    rw_close(&b);
}

/* ---- Rule 13: backup, restore, migration ------------------------------------ */

static void test_backup_while_serving(void **state)
{
#ifdef FSV_HARNESS_ON_PG
    /* The SQLite store file's (PostgreSQL's backup: server_pg_cmds; its
    ** schema versions: server_store_parts). */
    (void)state;
    skip();
#endif
    th_server *s = *state;
    char alice[80];
    th_init(s);
    th_user(s, "alice", "rep", "north", alice);
    th_start(s, NULL);
    char h[17];
    hlc_hex(0, h);

    rw_conn a;
    json_decref(hello(s, &a, alice, "dev-a", NULL));
    json_decref(push(&a, 1, json_pack("[o, o]",
        chg("c-1", "name", "One", "dev-a", vv1("dev-a", 1), h),
        chg("c-1", "phone", "1", "dev-a", vv1("dev-a", 2), h))));

    char out[600], file[400];
    snprintf(file, sizeof file, "%s/backup.db", s->dir);
    /* Taken while serve runs and the connection stays open. */
    assert_int_equal(th_admin(s, out, sizeof out, "backup", "--out", file,
                              "--json", NULL), 0);
    json_t *j = json_loads(out, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "history")), 2);
    json_decref(j);
    struct stat sb;
    assert_int_equal(stat(file, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    /* Refuses to overwrite. */
    assert_int_equal(th_admin(s, out, sizeof out, "backup", "--out", file,
                              NULL), 1);
    /* The server still serves: one more change after the backup. */
    json_t *ack = push1(&a, 2, chg("c-1", "email", "e", "dev-a",
                                   vv1("dev-a", 3), h));
    assert_int_equal(accepted_of(ack), 1);
    json_decref(ack);
    rw_close(&a);
    json_t *w = hello(s, &a, alice, "dev-a", NULL);
    long long old_epoch = json_integer_value(json_object_get(w, "epoch"));
    char old_store[64];
    snprintf(old_store, sizeof old_store, "%s", jstr(w, "store"));
    json_decref(w);
    rw_close(&a);

    /* Same data, same store id, a new epoch. */
    assert_int_equal(q_int(s, "../backup.db", "SELECT count(*) FROM history"),
                     2);
    assert_int_equal(q_int(s, "../backup.db", "SELECT count(*) FROM reg"
                           " WHERE rid='c-1'"), 2);
    long long new_epoch = q_int(s, "../backup.db", "SELECT value FROM meta"
                                " WHERE key='epoch'");
    assert_true(new_epoch != old_epoch);
    assert_true(new_epoch > old_epoch);
    char *bid = q_text(s, "../backup.db", "SELECT value FROM meta WHERE"
                       " key='store_id'", NULL);
    assert_string_equal(bid, old_store);
    free(bid);

    /* Restore as docs/SERVER.md says: stop, copy over, start. */
    th_stop(s, SIGTERM);
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s/fieldsync.db' && rm -f"
             " '%s/fieldsync.db-wal' '%s/fieldsync.db-shm'", file, s->data,
             s->data, s->data);
    assert_int_equal(system(cmd), 0);
    th_start(s, NULL);
    /* The device that saw 3 changes: its cursor is past the head, and its
    ** epoch is another: restore mode, so its relayed re-sends pass; its
    ** own change 3 comes back as new. */
    w = hello(s, &a, alice, "dev-a2", json_pack("{s:I, s:s, s:I}", "cursor",
                                                (json_int_t)3, "store",
                                                old_store, "epoch",
                                                (json_int_t)old_epoch));
    assert_int_equal(json_integer_value(json_object_get(w, "epoch")),
                     new_epoch);
    assert_int_equal(json_integer_value(json_object_get(w, "head")), 2);
    json_decref(w);
    json_t *again = chg("c-1", "email", "e", "dev-a", vv1("dev-a", 3), h);
    json_object_set_new(again, "u", json_string("alice"));
    ack = push1(&a, 1, again);
    assert_int_equal(accepted_of(ack), 1);
    json_decref(ack);
    assert_int_equal(hist_rows(s), 3);
    rw_close(&a);
}

/* The schema of store version 1 (main before rule 11-15), verbatim. */
static const char schema_v1[] =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);"
    "CREATE TABLE reg(tbl TEXT NOT NULL, rid TEXT NOT NULL,"
    "  field TEXT NOT NULL, value TEXT, versions TEXT NOT NULL,"
    "  conflict INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (tbl, rid, field)) WITHOUT ROWID;"
    "CREATE TABLE history(seq INTEGER PRIMARY KEY,"
    "  tbl TEXT NOT NULL, rid TEXT NOT NULL, field TEXT NOT NULL, value TEXT,"
    "  vv TEXT NOT NULL, hlc INTEGER NOT NULL, device TEXT NOT NULL,"
    "  user TEXT NOT NULL, server_ms INTEGER NOT NULL);"
    "CREATE TABLE rec(tbl TEXT NOT NULL, rid TEXT NOT NULL,"
    "  customer TEXT, creator TEXT NOT NULL,"
    "  PRIMARY KEY (tbl, rid)) WITHOUT ROWID;"
    "CREATE INDEX rec_by_customer ON rec(customer);"
    "CREATE TABLE users(name TEXT PRIMARY KEY,"
    "  role TEXT NOT NULL, team TEXT NOT NULL DEFAULT '',"
    "  disabled INTEGER NOT NULL DEFAULT 0, created_ms INTEGER NOT NULL);"
    "CREATE TABLE tokens(token_id TEXT PRIMARY KEY,"
    "  user TEXT NOT NULL REFERENCES users(name), hash BLOB NOT NULL UNIQUE,"
    "  created_ms INTEGER NOT NULL, revoked_ms INTEGER, last_used_ms INTEGER);"
    "CREATE INDEX tokens_by_user ON tokens(user);"
    "CREATE TABLE devices(device TEXT PRIMARY KEY,"
    "  user TEXT NOT NULL, token_id TEXT, last_sync_ms INTEGER,"
    "  last_head INTEGER);"
    "CREATE TABLE vis_event(seq INTEGER PRIMARY KEY,"
    "  customer TEXT NOT NULL, user TEXT NOT NULL);"
    "INSERT INTO meta(key, value) VALUES ('schema', 1);";

static void test_store_migration_1_to_2(void **state)
{
#ifdef FSV_HARNESS_ON_PG
    /* The SQLite store file's (PostgreSQL's backup: server_pg_cmds; its
    ** schema versions: server_store_parts). */
    (void)state;
    skip();
#endif
    th_server *s = *state;
    char alice[80];
    th_init(s);
    th_user(s, "alice", "rep", "north", alice);
    th_start(s, NULL);
    char h[17];
    hlc_hex(0, h);
    rw_conn a;
    json_decref(hello(s, &a, alice, "dev-a", NULL));
    json_decref(push(&a, 1, json_pack("[o, o, o]",
        chg("c-1", "name", "One", "dev-a", vv1("dev-a", 1), h),
        chg("c-1", "phone", "1", "dev-a", vv1("dev-a", 2), h),
        chg("c-1", "email", "e", "dev-a", vv1("dev-a", 5), h))));
    rw_close(&a);
    th_stop(s, SIGTERM);

    /* The same data in a schema-1 file, as main's server left it. */
    char v1[400], cur[400];
    snprintf(v1, sizeof v1, "%s/v1.db", s->dir);
    snprintf(cur, sizeof cur, "%s/fieldsync.db", s->data);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(v1, &db), SQLITE_OK);
    char *err = NULL;
    char sql[4096];
    snprintf(sql, sizeof sql,
             "%s ATTACH '%s' AS cur;"
             "INSERT INTO rec SELECT tbl, rid, customer, creator FROM cur.rec;"
             "INSERT INTO users SELECT * FROM cur.users;"
             "INSERT INTO tokens SELECT * FROM cur.tokens;"
             "INSERT INTO devices SELECT device, user, token_id, last_sync_ms,"
             " last_head FROM cur.devices;"
             "DETACH cur; PRAGMA journal_mode=WAL;", schema_v1, cur);
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("v1 store: %s", err);
    sqlite3_close(db);
    /* The history rows from the current store's `history` virtual table
    ** (its group rows, schema 3), which only its own main schema has. */
    db = store_db(s, NULL);
    snprintf(sql, sizeof sql, "ATTACH '%s' AS v1;"
             /* registers as schema 1 kept them, one row per field (each
             ** written once here: its one history row) */
             "INSERT INTO v1.reg SELECT tbl, rid, field, value,"
             " '[{\"d\":' || json_quote(device) || ',\"h\":' || hlc ||"
             " ',\"u\":' || json_quote(user) || ',\"v\":' ||"
             " json_quote(value) || ',\"vv\":' || vv || '}]', 0"
             " FROM main.history;"
             "INSERT INTO v1.history SELECT seq, tbl, rid, field, value, vv,"
             " hlc, device, user, server_ms FROM main.history; DETACH v1;", v1);
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("v1 store history: %s", err);
    sqlite3_close(db);
    snprintf(sql, sizeof sql, "mv '%s' '%s' && rm -f '%s-wal' '%s-shm'", v1,
             cur, cur, cur);
    assert_int_equal(system(sql), 0);
    assert_int_equal(q_int(s, NULL, "SELECT value FROM meta WHERE"
                           " key='schema'"), 1);

    th_start(s, NULL);
    /* Migrated in place: history kept, dctr backfilled, counter, id (and
    ** on to schema 5: registers packed per record, the history as group
    ** rows, the tables of teams, photos, the pool and duplicates). */
    assert_int_equal(q_int(s, NULL, "SELECT value FROM meta WHERE"
                           " key='schema'"), 5);
    assert_int_equal(q_int(s, NULL, "SELECT count(*) FROM reg WHERE"
                           " rid='c-1'"), 3);
    assert_int_equal(hist_rows(s), 3);
    char *d = q_text(s, NULL, "SELECT group_concat(dctr) FROM (SELECT dctr"
                     " FROM history ORDER BY seq)", NULL);
    assert_string_equal(d, "1,2,5");
    free(d);
    assert_int_equal(q_int(s, NULL, "SELECT counter FROM devices WHERE"
                           " device=?1", "dev-a"), 5);
    assert_int_equal(q_int(s, NULL, "SELECT count(*) FROM sqlite_master"
                           " WHERE name='history_by_dctr'"), 1);
    char *id = q_text(s, NULL, "SELECT value FROM meta WHERE key='store_id'",
                      NULL);
    assert_non_null(id);
    assert_int_equal(strlen(id), 36);
    free(id);
    /* And rule 15 runs on the migrated history: a re-send is a duplicate,
    ** another change under counter 2 a clash. */
    json_t *w = hello(s, &a, alice, "dev-a", NULL);
    assert_int_equal(json_integer_value(json_object_get(w, "counter")), 5);
    json_decref(w);
    json_t *ack = push1(&a, 1, chg("c-1", "phone", "1", "dev-a",
                                   vv1("dev-a", 2), h));
    assert_int_equal(accepted_of(ack), 1);
    json_decref(ack);
    assert_int_equal(hist_rows(s), 3);
    ack = push1(&a, 2, chg("c-1", "phone", "2", "dev-a", vv1("dev-a", 2), h));
    expect_refused(ack, 0, "device_clash", "counter 2");
    json_decref(ack);
    rw_close(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_device_bound_to_its_user, th_test_setup,
                                        th_test_teardown),
        cmocka_unit_test_setup_teardown(test_vv_claims_checked, th_test_setup,
                                        th_test_teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_and_clash, th_test_setup,
                                        th_test_teardown),
        cmocka_unit_test_setup_teardown(test_welcome_trust_members, th_test_setup,
                                        th_test_teardown),
        cmocka_unit_test_setup_teardown(test_clock_bound_restamps, th_test_setup,
                                        th_test_teardown),
        cmocka_unit_test_setup_teardown(test_relay_only_in_restore_mode, th_test_setup,
                                        th_test_teardown),
        cmocka_unit_test_setup_teardown(test_backup_while_serving, th_test_setup,
                                        th_test_teardown),
        cmocka_unit_test_setup_teardown(test_store_migration_1_to_2, th_test_setup,
                                        th_test_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
