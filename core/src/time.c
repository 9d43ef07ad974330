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

/* Excel's dates: "YYYY/M/D" with an optional " H:MM[:SS]" (what a sheet
** re-saved by Excel on a Chinese Windows writes).  *has_time says whether
** a time was given.  0 ok, -1 not this form. */
static int parse_excel(const char *s, int *y, int *mo, int *d, int *h,
                       int *mi, int *sec, int *has_time)
{
    int v[6] = {0, 0, 0, 0, 0, 0}, n = 0, len;
    const char *p = s;
    /* year: exactly 4 digits */
    if (digits(p, 4, &v[0]) || p[4] != '/')
        return -1;
    p += 5;
    for (n = 1; n < 3; n++) {
        for (len = 0; p[len] >= '0' && p[len] <= '9' && len < 3; len++)
            v[n] = v[n] * 10 + (p[len] - '0');
        if (len < 1 || len > 2)
            return -1;
        p += len;
        if (n == 1 && *p++ != '/')
            return -1;
    }
    *has_time = 0;
    if (*p == ' ' || *p == 'T') {
        p++;
        for (n = 3; n < 6; n++) {
            for (len = 0; p[len] >= '0' && p[len] <= '9' && len < 3; len++)
                v[n] = v[n] * 10 + (p[len] - '0');
            if (len < 1 || len > 2 || (n > 3 && len != 2))
                return -1;
            p += len;
            if (*p != ':')
                break;
            if (n == 5)
                return -1;
            p++;
        }
        if (n == 3)
            return -1;          /* an hour needs its minutes */
        *has_time = 1;
    }
    if (*p != '\0')
        return -1;
    if (v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > fds__days_in_month(v[0], v[1]) ||
        v[3] > 23 || v[4] > 59 || v[5] > 59)
        return -1;
    *y = v[0]; *mo = v[1]; *d = v[2]; *h = v[3]; *mi = v[4]; *sec = v[5];
    return 0;
}

/* Accepted forms (anything else, including trailing text, is refused):
**   YYYY/M/D [H:MM[:SS]]                 Excel's; local time
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
    int has_time;
    if (parse_excel(text, &y, &mo, &d, &h, &mi, &s, &has_time) == 0) {
        *ms = local_ms(y, mo, d, h, mi, s);
        return FDS_OK;
    }
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

/* ---- words people type for a day ------------------------------------------- */

/* Day words: offset in days from today, or a weekday (0 = Monday). */
static const struct {
    const char *word;
    int offset;         /* -1: a weekday */
    int wday;           /* 0 = Monday .. 6 = Sunday */
} day_words[] = {
    {"today", 0, 0},     {"tomorrow", 1, 0},  {"今天", 0, 0},
    {"明天", 1, 0},      {"后天", 2, 0},      {"今日", 0, 0},
    {"明日", 1, 0},
    {"mon", -1, 0}, {"tue", -1, 1}, {"wed", -1, 2}, {"thu", -1, 3},
    {"fri", -1, 4}, {"sat", -1, 5}, {"sun", -1, 6},
    {"monday", -1, 0}, {"tuesday", -1, 1}, {"wednesday", -1, 2},
    {"thursday", -1, 3}, {"friday", -1, 4}, {"saturday", -1, 5},
    {"sunday", -1, 6},
    {"周一", -1, 0}, {"周二", -1, 1}, {"周三", -1, 2}, {"周四", -1, 3},
    {"周五", -1, 4}, {"周六", -1, 5}, {"周日", -1, 6}, {"周天", -1, 6},
    {"星期一", -1, 0}, {"星期二", -1, 1}, {"星期三", -1, 2},
    {"星期四", -1, 3}, {"星期五", -1, 4}, {"星期六", -1, 5},
    {"星期日", -1, 6}, {"星期天", -1, 6},
};

/* ASCII case-insensitive compare of the n bytes at s with word. */
static int word_is(const char *s, size_t n, const char *word)
{
    if (strlen(word) != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != word[i])
            return 0;
    }
    return 1;
}

int fds_time_parse_rel(const char *text, int64_t now_ms, int64_t *ms,
                       int *date_only)
{
    int y, m, d, h = 0, mi = 0;
    if (!text || !ms)
        return FDS_INVALID;
    if (date_only)
        *date_only = 0;
    /* the absolute forms first: a date without a time is date-only */
    if (fds_time_parse(text, ms) == FDS_OK) {
        int hh, mm, ss, has_time = 1;
        if (fds__parse_ymd(text, &y, &m, &d) == 0)
            has_time = 0;
        else if (parse_excel(text, &y, &m, &d, &hh, &mm, &ss, &has_time) != 0)
            has_time = 1;
        if (date_only)
            *date_only = !has_time;
        return FDS_OK;
    }
    size_t n = strcspn(text, " ");
    int found = -1;
    for (size_t i = 0; i < sizeof day_words / sizeof day_words[0]; i++)
        if (word_is(text, n, day_words[i].word)) {
            found = (int)i;
            break;
        }
    if (found < 0)
        return FDS_INVALID;
    const char *p = text + n;
    int has_time = 0;
    if (*p == ' ') {
        while (*p == ' ')
            p++;
        /* H:MM or HH:MM */
        int len = (p[0] >= '0' && p[0] <= '9') ? ((p[1] >= '0' && p[1] <= '9') ? 2 : 1) : 0;
        if (len == 0 || digits(p, len, &h) || p[len] != ':' ||
            digits(p + len + 1, 2, &mi) || p[len + 3] != '\0' || h > 23 || mi > 59)
            return FDS_INVALID;
        has_time = 1;
    } else if (*p != '\0') {
        return FDS_INVALID;
    }
    fds__local_date(now_ms, &y, &m, &d);
    int64_t today = fds__days_from_civil(y, m, d);
    int64_t day;
    if (day_words[found].offset >= 0) {
        day = today + day_words[found].offset;
    } else {
        /* 1970-01-01 was a Thursday (3 with Monday = 0) */
        int64_t wd = ((today % 7) + 7 + 3) % 7;
        int64_t ahead = (day_words[found].wday - wd + 7) % 7;
        day = today + (ahead == 0 ? 7 : ahead);     /* the next one to come */
    }
    fds__civil_from_days(day, &y, &m, &d);
    *ms = local_ms(y, m, d, h, mi, 0);
    if (date_only)
        *date_only = !has_time;
    return FDS_OK;
}
