/*
** out.c — everything that writes to the terminal: error lines, JSON,
** aligned tables with double-width CJK cells, colour and local times.
*/
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wchar.h>
#include "cli.h"
#include "width.h"

/* ---- Errors ------------------------------------------------------------------ */
/* One stderr line: prefix, message with control characters (newlines
** included: it must stay one line) blanked, newline. */
static void err_line(const cli_ctx *ctx, const char *kind, const char *fmt,
                     va_list ap)
{
    char msg[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);
    for (unsigned char *p = (unsigned char *)msg; *p; p++)
        if (*p < 0x20 || *p == 0x7f) *p = ' ';
    fprintf(stderr, "fieldsync: %s%s%s%s\n", ctx && ctx->cmd ? ctx->cmd : "",
            ctx && ctx->cmd ? ": " : "", kind, msg);
}

int cli_fail(const cli_ctx *ctx, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_line(ctx, "", fmt, ap);
    va_end(ap);
    return code;
}

void cli_warn(const cli_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_line(ctx, _("warning: "), fmt, ap);
    va_end(ap);
}

int cli_code_of(int rc)
{
    switch (rc) {
    case FDS_OK: return CLI_OK;
    case FDS_INVALID: case FDS_AMBIGUOUS: case FDS_TOOBIG: return CLI_USAGE;
    case FDS_NOTFOUND: return CLI_NOTFOUND;
    case FDS_PERM: return CLI_REFUSED;
    default: return CLI_FAIL;
    }
}

int cli_core_fail(const cli_ctx *ctx, int rc)
{
    char buf[2048];
    const char *m = ctx->r ? fds_errmsg(ctx->r) : NULL;
    return cli_fail(ctx, cli_code_of(rc), "%s",
                    cli_core_text_r(ctx->r, m, rc, buf, sizeof buf));
}

int cli_json_print(const json_t *j)
{
    /* No JSON_ENSURE_ASCII: Chinese stays readable UTF-8.  Reals with 15
    ** significant digits: a check-in's 31.2304 prints as typed, not as
    ** 31.230399999999999 (jansson's default 17), and reads back as the
    ** same double (coordinates keep six decimals, amounts are money). */
    if (json_dumpf(j, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY |
                   JSON_REAL_PRECISION(15)) != 0)
        return CLI_FAIL;
    fputc('\n', stdout);
    return CLI_OK;
}

const char *cli_str(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : "";
}

const char *cli_short(const char *id, char buf[16])
{
    snprintf(buf, 16, "%.8s", id ? id : "");
    return buf;
}

/* ---- Width ------------------------------------------------------------------- */
/* The CLI's names for text/width.c, which fieldsync-server's tables use
** too (one definition of how wide CJK text is). */
size_t cli_width(const char *s)
{
    return fdt_width(s);
}

void cli_put_cell(FILE *f, const char *s, size_t w, int pad)
{
    fdt_put_cell(f, s, w, pad);
}

/* ---- Colour ------------------------------------------------------------------ */
const char *cli_c(const cli_ctx *ctx, int style)
{
    static const char *const codes[] = {
        "\x1b[0m", "\x1b[1m", "\x1b[2m", "\x1b[31m", "\x1b[32m",
        "\x1b[33m", "\x1b[36m" };
    if (!ctx || !ctx->color || style < 0 || style > CLI_C_CYAN) return "";
    return codes[style];
}

/* ---- Tables ------------------------------------------------------------------ */
struct cli_table {
    size_t ncols, nrows, cap;
    char **cells;           /* row-major, (nrows + 1) * ncols; row 0 headers */
    size_t *maxw;           /* per-column cap (0 = none) */
};

cli_table *cli_table_new(size_t ncols, const char *const *headers,
                         const size_t *maxw)
{
    cli_table *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->ncols = ncols;
    t->maxw = calloc(ncols, sizeof *t->maxw);
    if (!t->maxw) { free(t); return NULL; }
    if (maxw) memcpy(t->maxw, maxw, ncols * sizeof *maxw);
    if (cli_table_add(t, headers) != 0) { cli_table_free(t); return NULL; }
    return t;
}

int cli_table_add(cli_table *t, const char *const *cells)
{
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 16;
        char **c = realloc(t->cells, cap * t->ncols * sizeof *c);
        if (!c) return -1;
        t->cells = c;
        t->cap = cap;
    }
    for (size_t i = 0; i < t->ncols; i++) {
        const char *s = cells[i] ? cells[i] : "";
        t->cells[t->nrows * t->ncols + i] = strdup(s);
        if (!t->cells[t->nrows * t->ncols + i]) return -1;
    }
    t->nrows++;
    return 0;
}

void cli_table_print(const cli_ctx *ctx, cli_table *t, FILE *f)
{
    size_t *w = calloc(t->ncols, sizeof *w);
    if (!w) return;
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t c = 0; c < t->ncols; c++) {
            size_t cw = cli_width(t->cells[r * t->ncols + c]);
            if (t->maxw[c] && cw > t->maxw[c]) cw = t->maxw[c];
            if (cw > w[c]) w[c] = cw;
        }
    for (size_t r = 0; r < t->nrows; r++) {
        if (r == 0) fputs(cli_c(ctx, CLI_C_BOLD), f);
        for (size_t c = 0; c < t->ncols; c++) {
            int last = c + 1 == t->ncols;
            cli_put_cell(f, t->cells[r * t->ncols + c], w[c], !last);
            if (!last) fputs("  ", f);
        }
        if (r == 0) fputs(cli_c(ctx, CLI_C_RESET), f);
        fputc('\n', f);
    }
    free(w);
}

void cli_table_free(cli_table *t)
{
    if (!t) return;
    for (size_t i = 0; i < t->nrows * t->ncols; i++) free(t->cells[i]);
    free(t->cells);
    free(t->maxw);
    free(t);
}

/* ---- Times ------------------------------------------------------------------- */
const char *cli_local_time(const char *text, char buf[32])
{
    int64_t ms;
    if (!text || !*text) { buf[0] = '\0'; return buf; }
    /* A plan for a day (no time of day) is shown as that day. */
    if (strlen(text) == 10 && text[4] == '-' && text[7] == '-') {
        snprintf(buf, 32, "%s", text);
        return buf;
    }
    if (fds_time_parse(text, &ms) != FDS_OK) {
        snprintf(buf, 32, "%s", text);
        return buf;
    }
    time_t t = (time_t)(ms / 1000 - (ms < 0 && ms % 1000 ? 1 : 0));
    struct tm tm;
    if (!localtime_r(&t, &tm) || strftime(buf, 32, "%Y-%m-%d %H:%M", &tm) == 0)
        snprintf(buf, 32, "%s", text);
    return buf;
}

const char *cli_long_date(const struct tm *tm, char *buf, size_t len)
{
    static const char *const wdays[] = {
        N_("Sunday"), N_("Monday"), N_("Tuesday"), N_("Wednesday"),
        N_("Thursday"), N_("Friday"), N_("Saturday") };
    char date[64];
    /* TRANSLATORS: strftime format of a date written out in a title
       (Chinese: "%Y年%-m月%-d日", 2026年12月1日). */
    if (strftime(date, sizeof date, _("%Y-%m-%d"), tm) == 0)
        snprintf(date, sizeof date, "%04d-%02d-%02d", tm->tm_year + 1900,
                 tm->tm_mon + 1, tm->tm_mday);
    int wd = tm->tm_wday >= 0 && tm->tm_wday < 7 ? tm->tm_wday : 0;
    /* TRANSLATORS: the daily list's title: %1$s the date, %2$s its
       weekday. */
    snprintf(buf, len, _("Today — %1$s, %2$s"), date, _(wdays[wd]));
    return buf;
}

int cli_parse_time(const cli_ctx *ctx, const char *what, const char *text,
                   char out[40])
{
    return cli_parse_when(ctx, what, text, 0, out);
}

int cli_parse_when(const cli_ctx *ctx, const char *what, const char *text,
                   int day_ok, char out[40])
{
    int64_t ms;
    int date_only = 0;
    if (fds_time_parse_rel(text, (int64_t)time(NULL) * 1000, &ms, &date_only) != FDS_OK)
        /* TRANSLATORS: %1$s is what was expected ("time", "date"),
           %2$s what the rep typed. */
        return cli_fail(ctx, CLI_USAGE,
                        _("invalid %1$s \"%2$s\" (use YYYY-MM-DD, \"YYYY-MM-DD HH:MM\", "
                          "YYYY/M/D, today, tomorrow, 明天, 后天, mon..sun or 周一..周日, "
                          "optionally followed by HH:MM)"), cli_field_word(what), text);
    if (day_ok && date_only) {
        time_t t = (time_t)(ms / 1000);
        struct tm tm;
        if (localtime_r(&t, &tm) && strftime(out, 40, "%Y-%m-%d", &tm) > 0)
            return CLI_OK;
    }
    fds_time_format(ms, out, 40);
    return CLI_OK;
}

const char *cli_customer_phrase(const cli_ctx *ctx, const char *id, char *buf,
                                size_t len)
{
    json_t *c = NULL;
    if (!ctx->r || fds_customer_get(ctx->r, id, &c) != FDS_OK) {
        snprintf(buf, len, _("customer %.8s"), id ? id : "");
        return buf;
    }
    cli_scrub(c);
    const char *co = cli_str(c, "company");
    if (*co) snprintf(buf, len, "%s (%s)", cli_str(c, "name"), co);
    else snprintf(buf, len, "%s", cli_str(c, "name"));
    json_decref(c);
    return buf;
}

/* ---- Labels ------------------------------------------------------------------ */
const char *cli_method_label(const char *method)
{
    /* The key is the English word; a catalog gives the Chinese one. */
    static const char *const m[] = {
        NC_("method", "phone"), NC_("method", "email"), NC_("method", "visit"),
        NC_("method", "wechat"), NC_("method", "meeting"),
        NC_("method", "other") };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        if (method && strcmp(m[i], method) == 0)
            return cli_pgettext("method", m[i]);
    return method ? method : "";
}

const char *cli_method_zh(const char *method)
{
    static const char *const m[][2] = {
        {"phone", "电话"}, {"email", "邮件"}, {"visit", "拜访"},
        {"wechat", "微信"}, {"meeting", "会议"}, {"other", "其他"} };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        if (method && strcmp(m[i][0], method) == 0) return m[i][1];
    return method ? method : "";
}

int cli_utf8_ok(const char *s)
{
    json_t *j = json_string(s);     /* jansson validates UTF-8 */
    json_decref(j);
    return j != NULL;
}

/* ---- Terminal safety ---------------------------------------------------------- */
/* Copy of s with C0 controls (but newline), DEL and C1 controls (U+0080..
** U+009F) replaced by spaces; NULL when s needs no change. */
static char *scrubbed(const char *s)
{
    int dirty = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p < 0x20 && *p != '\n') || *p == 0x7f ||
            (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
            dirty = 1;
    if (!dirty) return NULL;
    char *out = strdup(s);
    if (!out) return NULL;
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) { out[n++] = ' '; p++; }
        else if ((*p < 0x20 && *p != '\n') || *p == 0x7f) out[n++] = ' ';
        else out[n++] = (char)*p;
    }
    out[n] = '\0';
    return out;
}

void cli_scrub(json_t *j)
{
    const char *k;
    size_t i;
    json_t *v;
    if (json_is_object(j)) {
        json_object_foreach(j, k, v) {
            char *s = json_is_string(v) ? scrubbed(json_string_value(v)) : NULL;
            if (s) json_string_set(v, s);
            else cli_scrub(v);
            free(s);
        }
    } else if (json_is_array(j)) {
        json_array_foreach(j, i, v) {
            char *s = json_is_string(v) ? scrubbed(json_string_value(v)) : NULL;
            if (s) json_string_set(v, s);
            else cli_scrub(v);
            free(s);
        }
    }
}

const char *cli_amount_text(const json_t *v, char *buf, size_t len)
{
    buf[0] = '\0';
    if (json_is_integer(v)) {
        /* 480000 -> 480,000: money is read in thousands */
        char digits[32];
        snprintf(digits, sizeof digits, "%lld", (long long)json_integer_value(v));
        size_t n = strlen(digits), o = 0;
        for (size_t i = 0; i < n && o + 2 < len; i++) {
            if (i && digits[0] != '-' && (n - i) % 3 == 0) buf[o++] = ',';
            buf[o++] = digits[i];
        }
        buf[o] = '\0';
    } else if (json_is_real(v)) {
        snprintf(buf, len, "%.2f", json_real_value(v));
    }
    return buf;
}
