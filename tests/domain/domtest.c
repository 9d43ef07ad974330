/*
** domtest.c — fixtures for the domain tests (see domtest.h).
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "domtest.h"

static int64_t fake_now(void *ud)
{
    dom_env *e = ud;
    return e->now++;
}

static int fake_random(void *ud, unsigned char *buf, size_t n)
{
    dom_env *e = ud;
    for (size_t i = 0; i < n; i++) {
        uint64_t x = e->rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        e->rng = x;
        buf[i] = (unsigned char)((x * 0x2545F4914F6CDD1DULL) >> 56);
    }
    return 0;
}

fds_replica *dom_open(dom_env *e, int64_t start_ms, const char *user)
{
    setenv("TZ", DOM_TZ, 1);
    tzset();
    memset(e, 0, sizeof *e);
    e->now = start_ms;
    /* seeded by the start time: two replicas opened at different times
    ** get different device ids */
    e->rng = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)start_ms * 0x100000001b3ULL);
    if (e->rng == 0)
        e->rng = 1;
    e->env.now_ms = fake_now;
    e->env.random = fake_random;
    e->env.ud = e;
    fds_replica *r = NULL;
    char err[256];
    int rc = fds_replica_open(":memory:", &e->env, &r, err, sizeof err);
    if (rc != FDS_OK)
        fprintf(stderr, "open: %s\n", err);
    assert_int_equal(rc, FDS_OK);
    if (user)
        assert_int_equal(fds_replica_set_user(r, user), FDS_OK);
    return r;
}

int64_t dom_ms(const char *text)
{
    int64_t ms = 0;
    assert_int_equal(fds_time_parse(text, &ms), FDS_OK);
    return ms;
}

int64_t dom_count(fds_replica *r, const char *table)
{
    char sql[256];
    sqlite3_stmt *st = NULL;
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    assert_int_equal(sqlite3_prepare_v2(r->db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

json_t *dom_json(const char *text)
{
    json_error_t err;
    json_t *j = json_loads(text, 0, &err);
    if (!j)
        fprintf(stderr, "bad test JSON: %s: %s\n", text, err.text);
    assert_non_null(j);
    return j;
}

void dom_add(fds_replica *r, const char *json, char id[FDSP_MAX_ID + 1])
{
    json_t *in = dom_json(json), *out = NULL;
    int rc = fds_customer_add(r, in, &out, NULL);
    if (rc != FDS_OK)
        fprintf(stderr, "add %s: %s\n", json, fds_errmsg(r));
    assert_int_equal(rc, FDS_OK);
    snprintf(id, FDSP_MAX_ID + 1, "%s", json_string_value(json_object_get(out, "id")));
    json_decref(in);
    json_decref(out);
}

int dom_remote(fds_replica *r, const char *tbl, const char *rid,
               const char *field, const char *value, const char *device,
               uint64_t counter, int64_t ms, const char *user,
               int after_local)
{
    fdsp_change c;
    memset(&c, 0, sizeof c);
    if (after_local) {
        fds_register reg = {0, NULL};
        assert_int_equal(fds__reg_load(r, tbl, rid, field, &reg), FDS_OK);
        assert_int_equal(fds_register_vv(&reg, &c.vv), FDS_OK);
        fds_register_clear(&reg);
    }
    assert_int_equal(fds__vv_set(&c.vv, device, counter), FDS_OK);
    c.table = (char *)tbl;
    c.record = (char *)rid;
    c.field = (char *)field;
    c.value = (char *)value;
    c.hlc = (uint64_t)ms << 16;
    c.device = (char *)device;
    c.user = (char *)user;
    int outcome = -1;
    int rc = fds__apply(r, &c, &outcome);
    if (rc != FDS_OK)
        fprintf(stderr, "apply: %s\n", fds_errmsg(r));
    assert_int_equal(rc, FDS_OK);
    fdsp_vv_clear(&c.vv);
    return outcome;
}
