/*
** validate.c — what a value must look like before it becomes a register.
**
** Every refusal names the field and the offending value, so the CLI can
** print it as is: `invalid email "abc": expected name@domain`.
*/
#include "domain.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Follow-up methods.  Aliases are the words a Chinese-speaking rep types
** (the article's 电话、邮件、面谈…). */
static const struct {
    const char *alias;
    const char *key;
} methods[] = {
    {"phone", "phone"},     {"email", "email"},     {"visit", "visit"},
    {"wechat", "wechat"},   {"meeting", "meeting"}, {"other", "other"},
    {"call", "phone"},      {"mail", "email"},      {"e-mail", "email"},
    {"电话", "phone"},      {"邮件", "email"},      {"电子邮件", "email"},
    {"拜访", "visit"},      {"面谈", "visit"},      {"上门", "visit"},
    {"微信", "wechat"},     {"会议", "meeting"},    {"其他", "other"},
    {"其它", "other"},
    /* the longer words reps write in a sheet's 跟进方式 column */
    {"打电话", "phone"},    {"电话沟通", "phone"},  {"电话联系", "phone"},
    {"电话回访", "phone"},  {"致电", "phone"},      {"通话", "phone"},
    {"来电", "phone"},      {"手机", "phone"},      {"phone call", "phone"},
    {"发邮件", "email"},    {"邮件沟通", "email"},  {"邮箱", "email"},
    {"上门拜访", "visit"},  {"拜访客户", "visit"},  {"客户拜访", "visit"},
    {"实地拜访", "visit"},  {"现场拜访", "visit"},  {"登门拜访", "visit"},
    {"当面", "visit"},      {"见面", "visit"},      {"面访", "visit"},
    {"上门服务", "visit"},  {"in person", "visit"}, {"on-site", "visit"},
    {"onsite", "visit"},
    {"微信沟通", "wechat"}, {"微信联系", "wechat"}, {"微信聊天", "wechat"},
    {"加微信", "wechat"},   {"企业微信", "wechat"}, {"weixin", "wechat"},
    {"开会", "meeting"},    {"会面", "meeting"},    {"视频会议", "meeting"},
    {"电话会议", "meeting"}, {"线上会议", "meeting"}, {"网络会议", "meeting"},
    {"腾讯会议", "meeting"}, {"视频", "meeting"},   {"video call", "meeting"},
    {"其他方式", "other"},  {"短信", "other"},
    /* more words from reps' sheets and the English a rep types */
    {"tel", "phone"},       {"telephone", "phone"}, {"phone-call", "phone"},
    {"拨打电话", "phone"},  {"电联", "phone"},      {"电访", "phone"},
    {"email-sent", "email"}, {"写邮件", "email"},
    {"走访", "visit"},      {"拜会", "visit"},      {"到访", "visit"},
    {"登门", "visit"},      {"面见", "visit"},      {"上门面谈", "visit"},
    {"visited", "visit"},   {"face to face", "visit"}, {"f2f", "visit"},
    {"wx", "wechat"},       {"vx", "wechat"},       {"企微", "wechat"},
    {"微信语音", "wechat"}, {"微信电话", "wechat"}, {"微信视频", "wechat"},
    {"we chat", "wechat"},
    {"meet", "meeting"},    {"视频通话", "meeting"}, {"远程会议", "meeting"},
    {"线上沟通", "meeting"}, {"zoom", "meeting"},   {"online meeting", "meeting"},
};

/* The bytes at p start a blank a rep's keyboard makes: ASCII space or tab,
** or the CJK full-width space U+3000.  Returns its length, 0 if none. */
static size_t blank_len(const char *p)
{
    if (*p == ' ' || *p == '\t')
        return 1;
    if ((unsigned char)p[0] == 0xE3 && (unsigned char)p[1] == 0x80 &&
        (unsigned char)p[2] == 0x80)
        return 3;
    return 0;
}

/* Trailing punctuation a sheet cell or a quick note ends a word with:
** 。，、！ (U+3002, U+FF0C, U+3001, U+FF01) and ASCII . , ! ; */
static size_t tail_punct_len(const char *s, size_t n)
{
    static const char *const cjk[] = {"\xE3\x80\x82", "\xEF\xBC\x8C",
                                      "\xE3\x80\x81", "\xEF\xBC\x81"};
    if (n >= 1 && strchr(".,!;", s[n - 1]))
        return 1;
    for (size_t i = 0; n >= 3 && i < sizeof cjk / sizeof cjk[0]; i++)
        if (memcmp(s + n - 3, cjk[i], 3) == 0)
            return 3;
    return 0;
}

/* text without blanks, trailing punctuation or case, into out (which holds
** at least 64 bytes); 0 if it does not fit (no method word is that long). */
static int method_squash(const char *text, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = text; *p;) {
        size_t b = blank_len(p);
        if (b) {
            p += b;
            continue;
        }
        if (n + 1 >= cap)
            return 0;
        out[n++] = (char)tolower((unsigned char)*p++);
    }
    size_t t;
    while (n && (t = tail_punct_len(out, n)) != 0)
        n -= t;
    out[n] = '\0';
    return n > 0;
}

const char *fds__method_canon(const char *text)
{
    if (!text)
        return NULL;
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (strcasecmp(text, methods[i].alias) == 0)
            return methods[i].key;
    /* "上门 拜访", " 电话 ", "拜访。", "Phone Call": the same words with the
    ** blanks and the full stop a sheet or a phone keyboard adds. */
    char want[64], have[64];
    if (!method_squash(text, want, sizeof want))
        return NULL;
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (method_squash(methods[i].alias, have, sizeof have) &&
            strcmp(want, have) == 0)
            return methods[i].key;
    return NULL;
}

int fds__valid_email(const char *s)
{
    const char *at = strchr(s, '@');
    if (!at || at == s || strchr(at + 1, '@'))
        return 0;
    for (const char *p = s; *p; p++)
        if (isspace((unsigned char)*p) || *p == ',' || *p == ';' ||
            *p == '<' || *p == '>')
            return 0;
    const char *dom = at + 1;
    const char *dot = strrchr(dom, '.');
    size_t dl = strlen(dom);
    /* a dot inside the domain, not first or last, and no empty label */
    if (!dot || dom[0] == '.' || dom[dl - 1] == '.' || strstr(dom, ".."))
        return 0;
    return strlen(s) <= 254;
}

int fds__valid_phone(const char *s)
{
    size_t n = strlen(s), nd = 0;
    if (n < 3 || n > 32)
        return 0;
    for (const char *p = s; *p; p++) {
        if (*p >= '0' && *p <= '9')
            nd++;
        else if (!strchr("+- ()", *p))
            return 0;
    }
    return nd >= 3;
}

int fds__valid_date(const char *s, int allow_md)
{
    int y, m, d;
    if (fds__parse_ymd(s, &y, &m, &d) == 0)
        return 1;
    if (allow_md && strlen(s) == 5 && isdigit((unsigned char)s[0]) &&
        isdigit((unsigned char)s[1]) && s[2] == '-' &&
        isdigit((unsigned char)s[3]) && isdigit((unsigned char)s[4])) {
        m = (s[0] - '0') * 10 + (s[1] - '0');
        d = (s[3] - '0') * 10 + (s[4] - '0');
        /* a year-less birthday may be Feb 29: check against a leap year */
        return m >= 1 && m <= 12 && d >= 1 && d <= fds__days_in_month(2000, m);
    }
    return 0;
}

int fds__valid_key(const char *s)
{
    if (!s || !(*s >= 'a' && *s <= 'z'))
        return 0;
    size_t n = 1;
    for (const char *p = s + 1; *p; p++, n++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return 0;
    return n <= 32;
}

int fds__bad_value(fds_replica *r, const char *what, const char *value,
                   const char *why)
{
    char shown[64];
    size_t n = value ? strlen(value) : 0;
    if (n < sizeof shown) {
        snprintf(shown, sizeof shown, "%s", value ? value : "");
    } else {
        /* cut on a UTF-8 character boundary and mark the cut */
        size_t cut = 48;
        while (cut > 0 && ((unsigned char)value[cut] & 0xC0) == 0x80)
            cut--;
        memcpy(shown, value, cut);
        memcpy(shown + cut, "...", 4);
    }
    return fds__error(r, FDS_INVALID, "invalid %s \"%s\": %s", what, shown, why);
}

int fds__json_text(fds_replica *r, const char *what, const json_t *v,
                   int keep_empty, char **out)
{
    char num[64];
    const char *s;
    *out = NULL;
    if (!v || json_is_null(v))
        return FDS_OK;
    if (json_is_string(v)) {
        s = json_string_value(v);
        if (strlen(s) != json_string_length(v))
            return fds__error(r, FDS_INVALID, "invalid %s: contains a NUL byte",
                              what);
    } else if (json_is_integer(v)) {
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        s = num;
    } else if (json_is_real(v)) {
        snprintf(num, sizeof num, "%.17g", json_real_value(v));
        s = num;
    } else {
        return fds__error(r, FDS_INVALID, "invalid %s: expected text", what);
    }
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' ||
                     s[n - 1] == '\r'))
        n--;
    if (n > FDSP_MAX_VALUE)
        return fds__error(r, FDS_TOOBIG, "%s is too long: %zu bytes (limit %d)",
                          what, n, FDSP_MAX_VALUE);
    if (n == 0 && !keep_empty)
        return FDS_OK;
    char *c = malloc(n + 1);
    if (!c)
        return fds__error(r, FDS_NOMEM, "out of memory");
    memcpy(c, s, n);
    c[n] = '\0';
    *out = c;
    return FDS_OK;
}

/* Tags: a JSON array of strings (or a comma-separated list) normalised to
** compact JSON array text with empties and duplicates dropped. */
static int norm_tags(fds_replica *r, const char *value, char **norm)
{
    json_t *in = NULL, *outa = json_array();
    int rc = FDS_OK, bad = 0;
    if (!outa)
        return fds__error(r, FDS_NOMEM, "out of memory");
    if (value[0] == '[') {
        if (fds__json_parse(value, 1, &in, NULL, 0) == FDS_NOMEM) {
            rc = fds__error(r, FDS_NOMEM, "out of memory");
            goto done;
        }
        if (!json_is_array(in)) {
            rc = fds__bad_value(r, "tags", value, "expected a JSON array of text");
            goto done;
        }
    } else {
        in = json_array();
        const char *p = value;
        while (in && *p) {
            const char *e = p;
            while (*e && *e != ',' && strncmp(e, "，", 3) != 0)
                e++;
            fds__jpush(in, json_stringn(p, (size_t)(e - p)), &bad);
            p = *e == ',' ? e + 1 : (*e ? e + 3 : e);
        }
    }
    size_t i;
    json_t *t;
    json_array_foreach(in, i, t) {
        char *s = NULL;
        if (!json_is_string(t)) {
            rc = fds__bad_value(r, "tags", value, "expected a list of text");
            goto done;
        }
        if ((rc = fds__json_text(r, "tag", t, 0, &s)) != FDS_OK)
            goto done;
        if (!s)
            continue;
        int dup = 0;
        size_t j;
        json_t *o;
        json_array_foreach(outa, j, o)
            dup |= strcmp(json_string_value(o), s) == 0;
        if (!dup)
            fds__jpush(outa, json_string(s), &bad);
        free(s);
    }
    if (bad || !in) {       /* a tag would be dropped */
        rc = fds__error(r, FDS_NOMEM, "out of memory");
        goto done;
    }
    if (json_array_size(outa) > FDS__MAX_TAGS) {
        rc = fds__error(r, FDS_TOOBIG, "too many tags: %zu (limit %d)",
                        json_array_size(outa), FDS__MAX_TAGS);
        goto done;
    }
    *norm = json_array_size(outa) ? fds__json_dump(outa, 0) : NULL;
    if (json_array_size(outa) && !*norm)
        rc = fds__error(r, FDS_NOMEM, "out of memory");
    else if (*norm && strlen(*norm) > FDSP_MAX_VALUE) {
        free(*norm);
        *norm = NULL;
        rc = fds__error(r, FDS_TOOBIG, "tags are too long (limit %d bytes)",
                        FDSP_MAX_VALUE);
    }
done:
    json_decref(in);
    json_decref(outa);
    return rc;
}

static int parse_number(const char *s)
{
    char *end = NULL;
    double d = strtod(s, &end);
    return end != s && *end == '\0' && isfinite(d);
}

#define TIME_FORMS "expected YYYY-MM-DD, YYYY-MM-DD HH:MM, YYYY/M/D, " \
    "RFC 3339, today, tomorrow, 明天, 后天, mon..sun or 周一..周日 " \
    "(with an optional HH:MM)"

/* A stored time: any fds_time_parse_rel form, normalised to RFC 3339 UTC.
** When day_ok and no time of day was given, the local date "YYYY-MM-DD"
** itself is stored: a plan for "that day" (docs/internals/core.md). */
static int norm_time(fds_replica *r, const char *what, const char *value,
                     int day_ok, char **norm)
{
    int64_t ms;
    int date_only = 0;
    char buf[40];
    if (fds_time_parse_rel(value, fds__now_ms(r), &ms, &date_only) != FDS_OK)
        return fds__bad_value(r, what, value, TIME_FORMS);
    if (day_ok && date_only) {
        int y, m, d;
        fds__local_date(ms, &y, &m, &d);
        snprintf(buf, sizeof buf, "%04d-%02d-%02d", y, m, d);
    } else {
        fds_time_format(ms, buf, sizeof buf);
    }
    *norm = strdup(buf);
    return *norm ? FDS_OK : fds__error(r, FDS_NOMEM, "out of memory");
}

/* A calendar date (expected close): any accepted time names its local
** day, stored "YYYY-MM-DD". */
static int norm_date(fds_replica *r, const char *what, const char *value,
                     char **norm)
{
    int64_t ms;
    int y, m, d;
    char buf[16];
    if (fds__parse_ymd(value, &y, &m, &d) == 0)
        return FDS_OK;
    if (fds_time_parse_rel(value, fds__now_ms(r), &ms, NULL) != FDS_OK)
        return fds__bad_value(r, what, value,
                              "expected a date YYYY-MM-DD (or YYYY/M/D, "
                              "today, 明天, mon..sun, 周一..周日)");
    fds__local_date(ms, &y, &m, &d);
    snprintf(buf, sizeof buf, "%04d-%02d-%02d", y, m, d);
    *norm = strdup(buf);
    return *norm ? FDS_OK : fds__error(r, FDS_NOMEM, "out of memory");
}

/* A deal amount: a finite, non-negative decimal number; thousands
** separators (50,000) and a leading currency sign (¥ ￥ $) are dropped.
** Stored as the number's shortest decimal text. */
static int norm_amount(fds_replica *r, const char *value, char **norm)
{
    char buf[64];
    size_t n = 0;
    const char *p = value;
    if (strncmp(p, "\xc2\xa5", 2) == 0)            /* ¥ */
        p += 2;
    else if (strncmp(p, "\xef\xbf\xa5", 3) == 0)  /* ￥ */
        p += 3;
    else if (*p == '$')
        p++;
    for (; *p && n < sizeof buf - 1; p++)
        if (*p != ',')
            buf[n++] = *p;
    buf[n] = '\0';
    char *end = NULL;
    double d = n ? strtod(buf, &end) : 0;
    if (!n || *p || *end || !isfinite(d) || buf[0] == '+' || buf[0] == ' ' ||
        strpbrk(buf, "xXpPnN"))
        return fds__bad_value(r, "amount", value, "expected a number (480000 or 480,000.50)");
    if (d < 0)
        return fds__bad_value(r, "amount", value, "an amount cannot be negative");
    if (d > 1e15)
        return fds__bad_value(r, "amount", value, "too large (limit 10^15)");
    snprintf(buf, sizeof buf, "%.15g", d);
    *norm = strdup(buf);
    return *norm ? FDS_OK : fds__error(r, FDS_NOMEM, "out of memory");
}

/* A custom field value against its definition. */
static int check_custom(fds_replica *r, const char *key, const char *value,
                        char **norm)
{
    json_t *def = NULL;
    char what[48];
    int rc = fds__fielddef_get(r, key, &def);
    if (rc == FDS_NOTFOUND)
        return fds__error(r, FDS_INVALID,
                          "unknown field \"%s\": define it with `field add %s`",
                          key, key);
    if (rc != FDS_OK)
        return rc;
    snprintf(what, sizeof what, "%s", key);
    const char *type = fds__jstr(def, "type");
    if (!type)
        type = "text";
    if (!value) {
        rc = FDS_OK;
    } else if (strcmp(type, "number") == 0) {
        if (!parse_number(value))
            rc = fds__bad_value(r, what, value, "expected a number");
    } else if (strcmp(type, "date") == 0) {
        int64_t ms;
        int y, m, d;
        char buf[16];
        if (fds__parse_ymd(value, &y, &m, &d) == 0) {
            rc = FDS_OK;
        } else if (fds_time_parse(value, &ms) == FDS_OK) {
            /* a time given for a date field keeps its local day */
            fds__local_date(ms, &y, &m, &d);
            snprintf(buf, sizeof buf, "%04d-%02d-%02d", y, m, d);
            *norm = strdup(buf);
            if (!*norm)
                rc = fds__error(r, FDS_NOMEM, "out of memory");
        } else {
            rc = fds__bad_value(r, what, value, "expected a date YYYY-MM-DD");
        }
    } else if (strcmp(type, "choice") == 0) {
        json_t *choices = json_object_get(def, "choices");
        size_t i;
        json_t *c;
        int found = 0;
        json_array_foreach(choices, i, c)
            found |= json_is_string(c) && strcmp(json_string_value(c), value) == 0;
        if (!found) {
            char *list = choices ? fds__json_dump(choices, 0) : NULL;
            char why[256];
            snprintf(why, sizeof why, "expected one of %s", list ? list : "[]");
            free(list);
            rc = fds__bad_value(r, what, value, why);
        }
    } else if (strcmp(type, "phone") == 0) {
        if (!fds__valid_phone(value))
            rc = fds__bad_value(r, what, value,
                                "expected 3-32 digits, spaces, +, -, ( or )");
    } else if (strcmp(type, "email") == 0) {
        if (!fds__valid_email(value))
            rc = fds__bad_value(r, what, value, "expected name@domain");
    }
    json_decref(def);
    return rc;
}

static int check_customer(fds_replica *r, const char *field, const char *value,
                          char **norm)
{
    if (strcmp(field, "name") == 0) {
        if (!value)
            return fds__error(r, FDS_INVALID, "name is required");
    } else if (strcmp(field, "phone") == 0) {
        if (value && !fds__valid_phone(value))
            return fds__bad_value(r, "phone", value,
                                  "expected 3-32 digits, spaces, +, -, ( or )");
    } else if (strcmp(field, "email") == 0) {
        if (value && !fds__valid_email(value))
            return fds__bad_value(r, "email", value, "expected name@domain");
    } else if (strcmp(field, "birthday") == 0) {
        int64_t ms;
        if (value && !fds__valid_date(value, 1) && strchr(value, '/') &&
            fds_time_parse(value, &ms) == FDS_OK)
            return norm_date(r, "birthday", value, norm);   /* Excel's 1990/12/4 */
        if (value && !fds__valid_date(value, 1))
            return fds__bad_value(r, "birthday", value,
                                  "expected a date YYYY-MM-DD or MM-DD");
    } else if (strcmp(field, "expected_close") == 0) {
        if (value)
            return norm_date(r, "expected close date", value, norm);
    } else if (strcmp(field, "amount") == 0) {
        if (value)
            return norm_amount(r, value, norm);
    } else if (strcmp(field, "tags") == 0) {
        if (value)
            return norm_tags(r, value, norm);
    } else if (strcmp(field, "cycle") == 0) {
        if (value) {
            char *end = NULL;
            long c = strtol(value, &end, 10);
            if (end == value || *end || c < 1 || c > FDS__MAX_CYCLE)
                return fds__bad_value(r, "cycle", value,
                                      "expected a number of days from 1 to 3650");
            char buf[16];
            snprintf(buf, sizeof buf, "%ld", c);
            *norm = strdup(buf);
            return *norm ? FDS_OK : fds__error(r, FDS_NOMEM, "out of memory");
        }
    } else if (strcmp(field, "stage") == 0) {
        if (value) {
            json_t *st = NULL;
            int rc = fds__stage_find(r, value, &st);
            if (rc != FDS_OK)
                return rc;
            *norm = strdup(fds__jstr(st, "key"));
            json_decref(st);
            return *norm ? FDS_OK : fds__error(r, FDS_NOMEM, "out of memory");
        }
    } else if (strcmp(field, "owner") == 0) {
        if (value && strlen(value) > FDSP_MAX_ID)
            return fds__bad_value(r, "owner", value, "user names are at most 64 bytes");
    } else if (strncmp(field, "f.", 2) == 0) {
        return check_custom(r, field + 2, value, norm);
    } else if (strcmp(field, "deleted") == 0) {
        if (value && strcmp(value, "0") && strcmp(value, "1"))
            return fds__bad_value(r, "deleted", value, "expected 0 or 1");
    } else if (strcmp(field, "wechat") && strcmp(field, "company") &&
               strcmp(field, "title") && strcmp(field, "notes")) {
        return fds__error(r, FDS_INVALID, "unknown customer field \"%s\"", field);
    }
    return FDS_OK;
}

static int check_child(fds_replica *r, const char *tbl, const char *field,
                       const char *value, char **norm)
{
    if (strcmp(field, "method") == 0) {
        const char *m = value ? fds__method_canon(value) : NULL;
        if (value && !m)
            return fds__bad_value(r, "method", value,
                                  "expected phone, email, visit, wechat, meeting "
                                  "or other, or a word for one (电话, 打电话, call; "
                                  "邮件; 上门拜访, 拜访, 上门, 面谈, 走访; 微信, wx; "
                                  "会议, 视频会议, 腾讯会议; 其他, 短信)");
        if (m) {
            *norm = strdup(m);
            return *norm ? FDS_OK : fds__error(r, FDS_NOMEM, "out of memory");
        }
    } else if (strcmp(field, "at") == 0 || strcmp(field, "due") == 0) {
        if (!value && (strcmp(field, "due") == 0))
            return fds__error(r, FDS_INVALID, "a plan needs a due time");
        if (value)
            return norm_time(r, field, value,
                             strcmp(tbl, "plan") == 0 && strcmp(field, "due") == 0,
                             norm);
    } else if (strcmp(field, "location") == 0 && strcmp(tbl, "followup") == 0) {
        if (value)
            return fds__location_norm(r, value, norm);
    } else if (strcmp(field, "content") == 0) {
        if (!value && strcmp(tbl, "plan") != 0)
            return fds__error(r, FDS_INVALID, "content is required");
    } else if (strcmp(field, "done") == 0 || strcmp(field, "deleted") == 0) {
        if (value && strcmp(value, "0") && strcmp(value, "1"))
            return fds__bad_value(r, field, value, "expected 0 or 1");
    }
    return FDS_OK;
}

int fds__validate_value(fds_replica *r, const char *tbl, const char *field,
                        const char *value, char **norm)
{
    *norm = NULL;
    if (value && strlen(value) > FDSP_MAX_VALUE)
        return fds__error(r, FDS_TOOBIG, "%s is too long: %zu bytes (limit %d)",
                          field, strlen(value), FDSP_MAX_VALUE);
    int rc;
    if (strcmp(tbl, "customer") == 0)
        rc = check_customer(r, field, value, norm);
    else if (strcmp(tbl, "followup") == 0 || strcmp(tbl, "plan") == 0 ||
             strcmp(tbl, "feedback") == 0 || strcmp(tbl, "stagechg") == 0)
        rc = check_child(r, tbl, field, value, norm);
    else
        rc = FDS_OK;
    if (rc == FDS_OK && !*norm && value) {
        *norm = strdup(value);
        if (!*norm)
            rc = fds__error(r, FDS_NOMEM, "out of memory");
    }
    if (rc != FDS_OK) {
        free(*norm);
        *norm = NULL;
    }
    return rc;
}
