/*
** test_checkin.c — a follow-up's check-in place (core/src/checkin.c):
** "LAT,LON" validated and normalised into one register, the address into
** another, the JSON "location" object, edits that move and clear it, and
** our own output taken back as input.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "domtest.h"

static fds_replica *open_with_customer(dom_env *e, char id[FDSP_MAX_ID + 1])
{
    fds_replica *r = dom_open(e, dom_ms("2026-11-30T08:00:00Z"), "alice");
    dom_add(r, "{\"name\":\"陈静\"}", id);
    return r;
}

static char *reg(fds_replica *r, const char *fid, const char *field)
{
    json_t *regs = NULL;
    assert_int_equal(fds__read(r, "followup", fid, &regs), FDS_OK);
    const char *v = json_string_value(json_object_get(regs, field));
    char *out = v ? strdup(v) : NULL;
    json_decref(regs);
    return out;
}

static void test_normalised(void **state)
{
    (void)state;
    dom_env e;
    char cid[FDSP_MAX_ID + 1];
    fds_replica *r = open_with_customer(&e, cid);
    static const struct { const char *in, *stored; double lat, lon; } ok[] = {
        {"31.2304,121.4737", "31.2304,121.4737", 31.2304, 121.4737},
        {" 31.230400 , 121.473700 ", "31.2304,121.4737", 31.2304, 121.4737},
        {"-33.86880004,151.20930004", "-33.8688,151.2093", -33.8688, 151.2093},
        {"+0.0000001,-0", "0,0", 0, 0},
        {"90,-180", "90,-180", 90, -180},
        {"-90,180.0", "-90,180", -90, 180},
        {"1.,.5", "1,0.5", 1, 0.5},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        json_t *in = json_pack("{s:s,s:s,s:s}", "method", "visit", "content",
                               "x", "location", ok[i].in), *out = NULL;
        assert_int_equal(fds_followup_add(r, cid, in, &out), FDS_OK);
        char *st = reg(r, json_string_value(json_object_get(out, "id")), "location");
        if (!st || strcmp(st, ok[i].stored) != 0)
            fail_msg("%s stored as %s, want %s", ok[i].in, st ? st : "(null)",
                     ok[i].stored);
        json_t *loc = json_object_get(out, "location");
        assert_true(json_real_value(json_object_get(loc, "lat")) == ok[i].lat);
        assert_true(json_real_value(json_object_get(loc, "lon")) == ok[i].lon);
        assert_true(json_is_null(json_object_get(loc, "address")));
        double la, lo;
        assert_int_equal(fds_location_parse(st, &la, &lo), FDS_OK);
        free(st);
        json_decref(in);
        json_decref(out);
    }
    fds_replica_close(r);
}

static void test_refused_by_name(void **state)
{
    (void)state;
    dom_env e;
    char cid[FDSP_MAX_ID + 1];
    fds_replica *r = open_with_customer(&e, cid);
    static const struct { const char *in, *why; } bad[] = {
        {"90.000001,0", "latitude must be between -90 and 90"},
        {"0,-181", "longitude must be between -180 and 180"},
        {"1e1,0", "latitude is not a decimal number"},
        {"0x10,0", "latitude is not a decimal number"},
        {"1,inf", "longitude is not a decimal number"},
        {"1,", "longitude is not a decimal number"},
        {",1", "latitude is not a decimal number"},
        {"1;2", "expected LAT,LON"},
        {"1,2,3", "expected LAT,LON"},
        {"--1,2", "latitude is not a decimal number"},
    };
    int64_t logs = dom_count(r, "log");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *in = json_pack("{s:s,s:s,s:s}", "method", "visit", "content",
                               "x", "location", bad[i].in), *out = NULL;
        assert_int_equal(fds_followup_add(r, cid, in, &out), FDS_INVALID);
        assert_null(out);
        if (!strstr(fds_errmsg(r), bad[i].why) || !strstr(fds_errmsg(r), "location"))
            fail_msg("%s: %s", bad[i].in, fds_errmsg(r));
        json_decref(in);
    }
    assert_int_equal(dom_count(r, "log"), logs);     /* nothing written */
    fds_replica_close(r);
}

static void test_edit_and_round_trip(void **state)
{
    (void)state;
    dom_env e;
    char cid[FDSP_MAX_ID + 1];
    fds_replica *r = open_with_customer(&e, cid);
    json_t *in = dom_json("{\"method\":\"visit\",\"content\":\"x\","
                          "\"address\":\"人民大道200号\"}"), *out = NULL;
    assert_int_equal(fds_followup_add(r, cid, in, &out), FDS_OK);
    json_decref(in);
    char fid[FDSP_MAX_ID + 1];
    strcpy(fid, json_string_value(json_object_get(out, "id")));
    json_t *loc = json_object_get(out, "location");
    assert_true(json_is_null(json_object_get(loc, "lat")));
    assert_string_equal(json_string_value(json_object_get(loc, "address")),
                        "人民大道200号");
    json_decref(out);
    /* Our own output object as input (show -> edit). */
    in = dom_json("{\"location\":{\"lat\":39.9042,\"lon\":116.4074,"
                  "\"address\":\"北京\"}}");
    assert_int_equal(fds_followup_edit(r, fid, in, &out), FDS_OK);
    json_decref(in);
    loc = json_object_get(out, "location");
    assert_true(json_real_value(json_object_get(loc, "lat")) == 39.9042);
    assert_string_equal(json_string_value(json_object_get(loc, "address")), "北京");
    json_decref(out);
    char *st = reg(r, fid, "location");
    assert_string_equal(st, "39.9042,116.4074");
    free(st);
    /* An edit to the same place writes nothing new. */
    int64_t logs = dom_count(r, "log");
    in = dom_json("{\"location\":\"39.904200,116.407400\",\"address\":\"北京\"}");
    assert_int_equal(fds_followup_edit(r, fid, in, NULL), FDS_OK);
    json_decref(in);
    assert_int_equal(dom_count(r, "log"), logs);
    /* Cleared: null location. */
    in = dom_json("{\"location\":null,\"address\":\"\"}");
    assert_int_equal(fds_followup_edit(r, fid, in, &out), FDS_OK);
    json_decref(in);
    assert_true(json_is_null(json_object_get(out, "location")));
    json_decref(out);
    /* Half an object is refused. */
    in = dom_json("{\"location\":{\"lat\":1}}");
    assert_int_equal(fds_followup_edit(r, fid, in, NULL), FDS_INVALID);
    json_decref(in);
    fds_replica_close(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalised),
        cmocka_unit_test(test_refused_by_name),
        cmocka_unit_test(test_edit_and_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
