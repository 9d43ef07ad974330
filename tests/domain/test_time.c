/*
** test_time.c — fds_time_parse / fds_time_format and the calendar helpers.
** Local forms are checked in UTC+8 (DOM_TZ), where local midnight of a
** date is 16:00 UTC the day before.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "domain.h"
#include "domtest.h"

#define T0930Z 1795858200000LL      /* 2026-11-28T09:30:00Z */

static int setup_tz(void **state)
{
    (void)state;
    setenv("TZ", DOM_TZ, 1);
    tzset();
    return 0;
}

static int64_t parse(const char *s)
{
    int64_t ms = -1;
    int rc = fds_time_parse(s, &ms);
    if (rc != FDS_OK)
        fprintf(stderr, "refused: \"%s\"\n", s);
    assert_int_equal(rc, FDS_OK);
    return ms;
}

static void rfc3339_forms(void **state)
{
    (void)state;
    assert_int_equal(parse("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(parse("2000-03-01T00:00:00Z"), 951868800000LL);
    assert_int_equal(parse("2026-11-28T09:30:00Z"), T0930Z);
    assert_int_equal(parse("2026-11-28t09:30:00z"), T0930Z);
    assert_int_equal(parse("2026-11-28T09:30Z"), T0930Z);          /* no seconds */
    assert_int_equal(parse("2026-11-28T17:30:00+08:00"), T0930Z);
    assert_int_equal(parse("2026-11-28T04:00:00-05:30"), T0930Z);
    assert_int_equal(parse("2026-11-28 09:30:00Z"), T0930Z);       /* RFC 3339 §5.6 note */
    assert_int_equal(parse("2026-11-28T09:30:00.5Z"), T0930Z + 500);
    assert_int_equal(parse("2026-11-28T09:30:00.123456789Z"), T0930Z + 123);
    assert_int_equal(parse("1969-12-31T23:59:59Z"), -1000);
    assert_int_equal(parse("2024-02-29T00:00:00Z") - parse("2024-02-28T00:00:00Z"),
                     86400000LL);
}

static void local_forms(void **state)
{
    (void)state;
    /* UTC+8: local midnight of the 28th is 16:00Z on the 27th */
    assert_int_equal(parse("2026-11-28"), parse("2026-11-27T16:00:00Z"));
    assert_int_equal(parse("2026-11-28 17:30"), T0930Z);
    assert_int_equal(parse("2026-11-28 17:30:00"), T0930Z);
    assert_int_equal(parse("2026-11-28T17:30"), T0930Z);   /* ISO without zone */
    assert_int_equal(parse("2024-02-29"), parse("2024-02-28T16:00:00Z"));
}

/* Local times a 32-bit time_t cannot hold (it ends 2038-01-19): on
** 32-bit ARM they were stored as 1969-12-31 (mktime's -1).  The build
** that runs this with a 32-bit time_t is armhf (scripts/test.sh, stage
** arm). */
static void local_forms_past_2038(void **state)
{
    (void)state;
    assert_int_equal(parse("2040-06-01 09:30"), parse("2040-06-01T01:30:00Z"));
    assert_int_equal(parse("2040-02-29"), parse("2040-02-28T16:00:00Z"));
    assert_int_equal(parse("2099-12-31 23:59"), parse("2099-12-31T15:59:00Z"));
    assert_int_equal(parse("2038-01-19 11:14:08"), parse("2038-01-19T03:14:08Z"));
    assert_int_equal(parse("1900-03-01"), parse("1900-02-28T16:00:00Z"));
    int y, m, d;
    fds__local_date(parse("2040-06-01T20:00:00Z"), &y, &m, &d);  /* 04:00 +8 */
    assert_int_equal(y * 10000 + m * 100 + d, 20400602);
    fds__local_date(parse("2051-12-31T15:59:59Z"), &y, &m, &d);
    assert_int_equal(y * 10000 + m * 100 + d, 20511231);
    fds__local_date(parse("2051-12-31T16:00:00Z"), &y, &m, &d);
    assert_int_equal(y * 10000 + m * 100 + d, 20520101);
    assert_int_equal(fds__local_midnight(2045, 3, 1), parse("2045-02-28T16:00:00Z"));
    char buf[40];
    fds_time_format(parse("2040-06-01T01:30:00Z"), buf, sizeof buf);
    assert_string_equal(buf, "2040-06-01T01:30:00Z");
}

static void refusals(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "2026", "2026-13-01", "2026-00-10", "2026-02-30", "2026-02-29",
        "2026-04-31", "2026-11-00", "2026-1-5", "28/11/2026", "2026/13/5",
        "2026/2/30", "2026/11/28 9", "2026/11/28 9:5", "2026/11/28 24:00",
        "26/11/28", "2026/11/", "2026/011/28", "2026/11/28 09:30:00:00",
        "2026-11-28x", "2026-11-28 ", "2026-11-28T", "2026-11-28T9:30Z",
        "2026-11-28T25:00Z", "2026-11-28T24:00:00Z", "2026-11-28T09:60Z",
        "2026-11-28T09:30:61Z", "2026-11-28T09:30:00+8:00",
        "2026-11-28T09:30:00+08", "2026-11-28T09:30:00+24:00",
        "2026-11-28T09:30:00.Z", "2026-11-28T09:30:00ZZ",
        "2026-11-28T09:30:00Z ", "2026-11-28 09:30 ", "2026-11-28 09:30.5",
        "２０２６-11-28", "tomorrow", "-2026-11-28", NULL
    };
    for (int i = 0; bad[i]; i++) {
        int64_t ms = 42;
        int rc = fds_time_parse(bad[i], &ms);
        if (rc != FDS_INVALID)
            fprintf(stderr, "accepted: \"%s\"\n", bad[i]);
        assert_int_equal(rc, FDS_INVALID);
    }
    int64_t ms;
    assert_int_equal(fds_time_parse(NULL, &ms), FDS_INVALID);
    assert_int_equal(fds_time_parse("2026-11-28", NULL), FDS_INVALID);
}

static void formatting(void **state)
{
    (void)state;
    char buf[40];
    fds_time_format(0, buf, sizeof buf);
    assert_string_equal(buf, "1970-01-01T00:00:00Z");
    fds_time_format(-1, buf, sizeof buf);          /* floors, not truncates */
    assert_string_equal(buf, "1969-12-31T23:59:59Z");
    fds_time_format(T0930Z + 999, buf, sizeof buf);
    assert_string_equal(buf, "2026-11-28T09:30:00Z");
    fds_time_format(parse("2024-02-29T23:59:59Z"), buf, sizeof buf);
    assert_string_equal(buf, "2024-02-29T23:59:59Z");
    /* round trip over a spread of instants, whole seconds */
    for (int64_t t = -5000000000LL; t < 5000000000LL; t += 123456789LL) {
        int64_t ms = t * 1000;
        fds_time_format(ms, buf, sizeof buf);
        assert_int_equal(parse(buf), ms);
    }
    /* text order is time order (what sorting stored times relies on) */
    char a[40], b[40];
    fds_time_format(T0930Z, a, sizeof a);
    fds_time_format(T0930Z + 1000, b, sizeof b);
    assert_true(strcmp(a, b) < 0);
}

static void civil_days(void **state)
{
    (void)state;
    assert_int_equal(fds__days_from_civil(1970, 1, 1), 0);
    assert_int_equal(fds__days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(fds__days_from_civil(1969, 12, 31), -1);
    for (int64_t d = -800000; d < 800000; d += 997) {
        int y, m, dd;
        fds__civil_from_days(d, &y, &m, &dd);
        assert_int_equal(fds__days_from_civil(y, m, dd), d);
        assert_true(dd >= 1 && dd <= fds__days_in_month(y, m));
    }
    assert_int_equal(fds__days_in_month(2024, 2), 29);
    assert_int_equal(fds__days_in_month(2100, 2), 28);
    assert_int_equal(fds__days_in_month(2000, 2), 29);
    /* local helpers in UTC+8: 2026-11-27T16:00Z is the 28th locally */
    int y, m, d;
    fds__local_date(parse("2026-11-27T16:00:00Z"), &y, &m, &d);
    assert_int_equal(y * 10000 + m * 100 + d, 20261128);
    fds__local_date(parse("2026-11-27T15:59:59Z"), &y, &m, &d);
    assert_int_equal(y * 10000 + m * 100 + d, 20261127);
    /* day overflow is normalised: Dec 32 is Jan 1 */
    assert_int_equal(fds__local_midnight(2026, 12, 32), parse("2027-01-01"));
}

/* Excel's dates and the words people type (issue 13), at a fixed now:
** Thursday 2026-12-03 10:00 in UTC+8. */
static void excel_and_words(void **state)
{
    (void)state;
    setenv("TZ", DOM_TZ, 1);
    tzset();
    assert_int_equal(parse("2026/12/5"), fds__local_midnight(2026, 12, 5));
    assert_int_equal(parse("2026/12/5 14:00"), parse("2026-12-05T06:00:00Z"));
    assert_int_equal(parse("2026/1/9 8:05:30"), parse("2026-01-09T00:05:30Z"));
    int64_t now = parse("2026-12-03T02:00:00Z"), ms;
    int d0;
    static const struct { const char *in; int y, m, d, h, mi, date_only; } ok[] = {
        {"today", 2026, 12, 3, 0, 0, 1},      {"TODAY", 2026, 12, 3, 0, 0, 1},
        {"tomorrow", 2026, 12, 4, 0, 0, 1},   {"今天", 2026, 12, 3, 0, 0, 1},
        {"明天", 2026, 12, 4, 0, 0, 1},       {"后天", 2026, 12, 5, 0, 0, 1},
        {"明天 14:00", 2026, 12, 4, 14, 0, 0}, {"tomorrow 9:30", 2026, 12, 4, 9, 30, 0},
        {"fri", 2026, 12, 4, 0, 0, 1},        {"mon", 2026, 12, 7, 0, 0, 1},
        {"thu", 2026, 12, 10, 0, 0, 1},       /* the next one to come, not today */
        {"周一", 2026, 12, 7, 0, 0, 1},       {"周日 10:00", 2026, 12, 6, 10, 0, 0},
        {"星期三", 2026, 12, 9, 0, 0, 1},     {"Saturday", 2026, 12, 5, 0, 0, 1},
        {"2026-12-24", 2026, 12, 24, 0, 0, 1}, {"2026/12/24", 2026, 12, 24, 0, 0, 1},
        {"2026/12/24 8:00", 2026, 12, 24, 8, 0, 0},
        {"2026-12-24 08:00", 2026, 12, 24, 8, 0, 0},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        d0 = -1;
        if (fds_time_parse_rel(ok[i].in, now, &ms, &d0) != FDS_OK)
            fail_msg("refused \"%s\"", ok[i].in);
        int64_t want = fds__local_midnight(ok[i].y, ok[i].m, ok[i].d) +
                       ((int64_t)ok[i].h * 60 + ok[i].mi) * 60000;
        if (ms != want || d0 != ok[i].date_only)
            fail_msg("\"%s\": %lld (date_only %d), want %lld (%d)", ok[i].in,
                     (long long)ms, d0, (long long)want, ok[i].date_only);
    }
    static const char *const bad[] = {
        "yesterday", "明天14:00", "fri 25:00", "mon 9", "周八", "next mon",
        "today 9:5", "tomorrow x", "", NULL };
    for (int i = 0; bad[i]; i++)
        if (fds_time_parse_rel(bad[i], now, &ms, NULL) != FDS_INVALID)
            fail_msg("accepted \"%s\"", bad[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc3339_forms),
        cmocka_unit_test(local_forms),
        cmocka_unit_test(local_forms_past_2038),
        cmocka_unit_test(refusals),
        cmocka_unit_test(excel_and_words),
        cmocka_unit_test(formatting),
        cmocka_unit_test(civil_days),
    };
    return cmocka_run_group_tests(tests, setup_tz, NULL);
}
