/*
** time.c — parsing and formatting of the times users type and records
** store, plus calendar arithmetic for the daily list.
**
** Stored times are RFC 3339 UTC with whole seconds ("2026-11-28T09:30:00Z")
** so that their text order is their time order.  UTC conversion is done
** with pure civil-day arithmetic (no gmtime/timegm); local time goes
** through localtime_r/mktime, i.e. the TZ of the environment.
*/
#include "domain.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* Floor division, so times before 1970 format correctly. */
static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

/* Howard Hinnant's days_from_civil: exact for the proleptic Gregorian
** calendar, no tables, no overflow for any int year. */
int64_t fds__days_from_civil(int y, int m, int d)
{
    int64_t yy = (int64_t)y - (m <= 2);
    int64_t era = floor_div(yy, 400);
    int64_t yoe = yy - era * 400;
    int64_t mp = (m + 9) % 12;
    int64_t doy = (153 * mp + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void fds__civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t dd = doy - (153 * mp + 2) / 5 + 1;
    int64_t mm = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yoe + era * 400 + (mm <= 2));
    *m = (int)mm;
    *d = (int)dd;
}

static int is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int fds__days_in_month(int y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12)
        return 0;
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* A 32-bit time_t (32-bit Android's bionic; glibc on 32-bit ARM without
** _TIME_BITS=64) ends on 2038-01-19, and mktime() then fails with -1: a
** plan due in 2040 would have been stored as 1969-12-31.  Between 1901 and
** 2099 the calendar repeats every 28 years (same weekdays, same leap
** years; 10227 days), so a local time out of time_t's range is converted
** in the year moved by whole 28-year cycles into 1902..2037, under that
** year's zone rules, and moved back by the exact number of days.  (Past
** 2099 a skipped leap day makes it a day out at most; zone rules of the
** far future are a guess anyway.)  With a 64-bit time_t no time moves. */
#define CYCLE_YEARS 28
#define CYCLE_DAYS 10227

/* Cycles to subtract from year y to bring it into time_t's range. */
static int cycles_for_year(int y)
{
    if (sizeof(time_t) >= 8)
        return 0;
    if (y > 2037)
        return (y - 2037 + CYCLE_YEARS - 1) / CYCLE_YEARS;
    if (y < 1902)
        return -((1902 - y + CYCLE_YEARS - 1) / CYCLE_YEARS);
    return 0;
}

void fds__local_date(int64_t ms, int *y, int *m, int *d)
{
    int uy, um, ud;
    fds__civil_from_days(floor_div(ms, 86400000), &uy, &um, &ud);
    int k = cycles_for_year(uy);
    int64_t secs = floor_div(ms, 1000) - (int64_t)k * CYCLE_DAYS * 86400;
    time_t t = (time_t)secs;
    struct tm tm;
    if ((int64_t)t != secs || !localtime_r(&t, &tm)) {
        *y = uy;
        *m = um;
        *d = ud;
        return;
    }
    *y = tm.tm_year + 1900 + k * CYCLE_YEARS;
    *m = tm.tm_mon + 1;
    *d = tm.tm_mday;
}

static int64_t local_ms(int y, int mo, int d, int h, int mi, int s)
{
    int k = cycles_for_year(y);
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = y - k * CYCLE_YEARS - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    tm.tm_isdst = -1;           /* let the zone rules decide */
    time_t t = mktime(&tm);
    return ((int64_t)t + (int64_t)k * CYCLE_DAYS * 86400) * 1000;
}

int64_t fds__local_midnight(int y, int m, int d)
{
    return local_ms(y, m, d, 0, 0, 0);
}

/* Exactly n decimal digits at p into *v. */
static int digits(const char *p, int n, int *v)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        x = x * 10 + (p[i] - '0');
    }
    *v = x;
    return 0;
}

static int parse_date_prefix(const char *s, int *y, int *m, int *d)
{
    if (digits(s, 4, y) || s[4] != '-' || digits(s + 5, 2, m) ||
        s[7] != '-' || digits(s + 8, 2, d))
        return -1;
    if (*m < 1 || *m > 12 || *d < 1 || *d > fds__days_in_month(*y, *m))
        return -1;
    return 0;
}

int fds__parse_ymd(const char *s, int *y, int *m, int *d)
{
    if (!s || strlen(s) != 10)
        return -1;
    return parse_date_prefix(s, y, m, d);
}

/* Accepted forms (anything else, including trailing text, is refused):
**   YYYY-MM-DD                           local midnight
**   YYYY-MM-DD HH:MM[:SS]                local time
**   YYYY-MM-DDTHH:MM[:SS]                local time (ISO 8601 without zone)
**   YYYY-MM-DD(T|t| )HH:MM[:SS[.frac]](Z|z|+HH:MM|-HH:MM)   RFC 3339 */
int fds_time_parse(const char *text, int64_t *ms)
{
    int y, mo, d, h = 0, mi = 0, s = 0, frac_ms = 0;
    if (!text || !ms)
        return FDS_INVALID;
    size_t n = strlen(text);
    if (n < 10 || parse_date_prefix(text, &y, &mo, &d))
        return FDS_INVALID;
    if (n == 10) {
        *ms = fds__local_midnight(y, mo, d);
        return FDS_OK;
    }
    const char *p = text + 10;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return FDS_INVALID;
    p++;
    if (digits(p, 2, &h) || p[2] != ':' || digits(p + 3, 2, &mi))
        return FDS_INVALID;
    p += 5;
    if (*p == ':') {
        if (digits(p + 1, 2, &s))
            return FDS_INVALID;
        p += 3;
        if (*p == '.') {
            p++;
            if (*p < '0' || *p > '9')
                return FDS_INVALID;
            int scale = 100;
            while (*p >= '0' && *p <= '9') {
                frac_ms += (*p - '0') * scale;  /* sub-ms digits truncated */
                scale /= 10;
                p++;
            }
        }
    }
    if (h > 23 || mi > 59 || s > 59)
        return FDS_INVALID;
    if (*p == '\0') {
        if (frac_ms)                        /* fractions only with a zone */
            return FDS_INVALID;
        *ms = local_ms(y, mo, d, h, mi, s);
        return FDS_OK;
    }
    int off_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        int sign = *p == '-' ? -1 : 1;
        if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) ||
            oh > 23 || om > 59)
            return FDS_INVALID;
        off_min = sign * (oh * 60 + om);
        p += 6;
    } else {
        return FDS_INVALID;
    }
    if (*p != '\0')
        return FDS_INVALID;
    int64_t secs = fds__days_from_civil(y, mo, d) * 86400 +
                   (int64_t)h * 3600 + mi * 60 + s - (int64_t)off_min * 60;
    *ms = secs * 1000 + frac_ms;
    return FDS_OK;
}

void fds_time_format(int64_t ms, char *buf, size_t len)
{
    if (!buf || len == 0)
        return;
    int64_t secs = floor_div(ms, 1000);
    int64_t days = floor_div(secs, 86400);
    int64_t rem = secs - days * 86400;
    int y, m, d;
    fds__civil_from_days(days, &y, &m, &d);
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, m, d,
             (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60));
}

int64_t fds__time_or_zero(const char *text)
{
    int64_t ms = 0;
    if (text && fds_time_parse(text, &ms) == FDS_OK)
        return ms;
    return 0;
}
