/*
** log.c — one line per event, logfmt or JSON lines (log.h has the shape).
**
** The format string carries the field names: log.c walks it word by word,
** formats each value on its own (consuming exactly the arguments its
** conversions name, by their printf types) and writes the fields quoted or
** as JSON.  So call sites keep printf's compile-time checking, and a value
** can never break the line's shape, whatever it holds.
*/
#include "log.h"

#include <libwebsockets.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

/* Written once at start-up before the event loop, which is the only
** thread (log.h). */
static int g_level = FSV_LOG_INFO;
static int g_format = FSV_LOG_KV;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int fsv_log_parse_level(const char *name, int *level)
{
    for (int i = 0; i <= FSV_LOG_DEBUG; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *level = i;
            return 0;
        }
    }
    return -1;
}

void fsv_log_set_level(int level) { g_level = level; }
int fsv_log_get_level(void) { return g_level; }

int fsv_log_parse_format(const char *name, int *format)
{
    if (strcmp(name, "kv") == 0)
        *format = FSV_LOG_KV;
    else if (strcmp(name, "json") == 0)
        *format = FSV_LOG_JSON;
    else
        return -1;
    return 0;
}

void fsv_log_set_format(int format) { g_format = format; }

/* ---- A bounded line buffer ---------------------------------------------------- */

#define LINE_MAX_BYTES 8192     /* a longer line is cut (and says so) */
#define VALUE_MAX      2048

typedef struct line {
    char buf[LINE_MAX_BYTES];
    size_t len;
    int cut;
} line;

static void put(line *l, const char *s, size_t n)
{
    /* Keep room for the closing of the line ("}\n" or "\n"). */
    if (l->len + n + 8 > sizeof l->buf) {
        l->cut = 1;
        n = sizeof l->buf - 8 > l->len ? sizeof l->buf - 8 - l->len : 0;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void puts_(line *l, const char *s) { put(l, s, strlen(s)); }

/* ---- Formatting one value -------------------------------------------------------- */

/* Format the conversion at f (f[0] == '%') into out, taking its arguments
** from *ap by their printf types.  Returns the character after it, and
** sets *integer when it was an integer conversion. */
static const char *one_conv(const char *f, va_list *ap, char *out, size_t cap,
                            int *integer)
{
    char spec[32];
    size_t k = 0;
    int stars[2], n_star = 0;
    const char *p = f + 1;

    *integer = 0;
    out[0] = '\0';
    if (*p == '%') {
        snprintf(out, cap, "%%");
        return p + 1;
    }
    spec[k++] = '%';
    while (*p && strchr("-+ #0", *p) && k < 8)
        spec[k++] = *p++;
    if (*p == '*') {
        stars[n_star++] = va_arg(*ap, int);
        spec[k++] = *p++;
    } else {
        while (*p >= '0' && *p <= '9' && k < 16)
            spec[k++] = *p++;
    }
    if (*p == '.') {
        spec[k++] = *p++;
        if (*p == '*') {
            stars[n_star++] = va_arg(*ap, int);
            spec[k++] = *p++;
        } else {
            while (*p >= '0' && *p <= '9' && k < 24)
                spec[k++] = *p++;
        }
    }
    /* Length: hh h l ll z j t L. */
    char len1 = 0, len2 = 0;
    if (*p && strchr("hlzjtL", *p)) {
        len1 = *p;
        spec[k++] = *p++;
        if ((len1 == 'h' || len1 == 'l') && *p == len1) {
            len2 = *p;
            spec[k++] = *p++;
        }
    }
    char conv = *p;
    if (!conv)
        return p;
    spec[k++] = conv;
    spec[k] = '\0';
    p++;

#define EMIT(T)                                                               \
    do {                                                                      \
        T v_ = va_arg(*ap, T);                                                \
        if (n_star == 0)                                                      \
            snprintf(out, cap, spec, v_);                                     \
        else if (n_star == 1)                                                 \
            snprintf(out, cap, spec, stars[0], v_);                           \
        else                                                                  \
            snprintf(out, cap, spec, stars[0], stars[1], v_);                 \
    } while (0)

    switch (conv) {
    case 'd': case 'i':
        *integer = 1;
        if (len1 == 'l' && len2)      EMIT(long long);
        else if (len1 == 'l')         EMIT(long);
        else if (len1 == 'z')         EMIT(ptrdiff_t);    /* ssize_t's width */
        else if (len1 == 'j')         EMIT(intmax_t);
        else if (len1 == 't')         EMIT(ptrdiff_t);
        else                          EMIT(int);           /* hh, h promote */
        break;
    case 'u': case 'x': case 'X': case 'o':
        *integer = conv == 'u';       /* hex stays a string */
        if (len1 == 'l' && len2)      EMIT(unsigned long long);
        else if (len1 == 'l')         EMIT(unsigned long);
        else if (len1 == 'z')         EMIT(size_t);
        else if (len1 == 'j')         EMIT(uintmax_t);
        else if (len1 == 't')         EMIT(size_t);
        else                          EMIT(unsigned int);
        break;
    case 'c':
        EMIT(int);
        break;
    case 's': {
        const char *s = va_arg(*ap, const char *);
        if (!s)
            s = "(null)";
        if (n_star == 0)
            snprintf(out, cap, spec, s);
        else if (n_star == 1)
            snprintf(out, cap, spec, stars[0], s);
        else
            snprintf(out, cap, spec, stars[0], stars[1], s);
        break;
    }
    case 'p':
        EMIT(void *);
        break;
    case 'e': case 'E': case 'f': case 'F': case 'g': case 'G': case 'a':
    case 'A':
        if (len1 == 'L')
            EMIT(long double);
        else
            EMIT(double);
        break;
    default:
        /* %n and unknown conversions: nothing is consumed or written. */
        break;
    }
#undef EMIT
    return p;
}

/* Format the fmt bytes [f, end) (literal text and conversions) into out.
** *integer is 1 when they were exactly one integer conversion. */
static void format_value(const char *f, const char *end, va_list *ap,
                         char *out, size_t cap, int *integer)
{
    size_t used = 0;
    int convs = 0, literal = 0, last_int = 0;
    char piece[VALUE_MAX];
    out[0] = '\0';
    while (f < end) {
        size_t n;
        if (*f == '%') {
            f = one_conv(f, ap, piece, sizeof piece, &last_int);
            convs++;
            n = strlen(piece);
            if (piece[0] == '%' && n == 1)
                literal = 1;
        } else {
            piece[0] = *f++;
            piece[1] = '\0';
            n = 1;
            literal = 1;
        }
        if (used + n >= cap)
            n = cap - 1 - used;
        memcpy(out + used, piece, n);
        used += n;
        out[used] = '\0';
    }
    *integer = convs == 1 && !literal && last_int && out[0];
}

/* ---- Writing fields ------------------------------------------------------------------ */

/* v in double quotes with \" \\ \n \t escaped; other control bytes as
** ctl_fmt ("\\x%02x" for logfmt, "\\u%04x" for JSON). */
static void put_quoted(line *l, const char *v, const char *ctl_fmt)
{
    put(l, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            put(l, esc, 2);
        } else if (*p == '\n') {
            put(l, "\\n", 2);
        } else if (*p == '\t') {
            put(l, "\\t", 2);
        } else if (*p < ' ' || *p == 0x7f) {
            snprintf(esc, sizeof esc, ctl_fmt, *p);
            puts_(l, esc);
        } else {
            put(l, (const char *)p, 1);
        }
    }
    put(l, "\"", 1);
}

static void put_kv_value(line *l, const char *v)
{
    int quote = !v[0];
    for (const unsigned char *p = (const unsigned char *)v; *p && !quote; p++)
        if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' || *p == 0x7f)
            quote = 1;
    if (quote)
        put_quoted(l, v, "\\x%02x");
    else
        puts_(l, v);
}

static void put_json_string(line *l, const char *v)
{
    put_quoted(l, v, "\\u%04x");
}

static void field(line *l, const char *key, size_t klen, const char *v,
                  int integer)
{
    if (g_format == FSV_LOG_JSON) {
        put(l, ",\"", 2);
        put(l, key, klen);
        put(l, "\":", 2);
        if (integer)
            puts_(l, v);
        else
            put_json_string(l, v);
    } else {
        put(l, " ", 1);
        put(l, key, klen);
        put(l, "=", 1);
        put_kv_value(l, v);
    }
}

static void vlog(int level, const char *fmt, va_list ap0)
{
    struct timeval tv;
    struct tm tm;
    char stamp[48], sec[32];
    line l;
    va_list ap;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(sec, sizeof sec, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp, sizeof stamp, "%s.%03dZ", sec, (int)(tv.tv_usec / 1000));
    l.len = 0;
    l.cut = 0;

    /* The event: the first word, literal. */
    size_t elen = strcspn(fmt, " ");
    char event[64];
    int legacy = memchr(fmt, '%', elen) != NULL || memchr(fmt, '=', elen) != NULL;
    snprintf(event, sizeof event, "%.*s", legacy ? 3 : (int)(elen < 63 ? elen : 63),
             legacy ? "log" : fmt);
    if (g_format == FSV_LOG_JSON) {
        puts_(&l, "{\"ts\":\"");
        puts_(&l, stamp);
        puts_(&l, "\",\"level\":\"");
        puts_(&l, level_names[level]);
        puts_(&l, "\",\"event\":");
        put_json_string(&l, event);
    } else {
        puts_(&l, "ts=");
        puts_(&l, stamp);
        puts_(&l, " level=");
        puts_(&l, level_names[level]);
        puts_(&l, " event=");
        put_kv_value(&l, event);
    }

    va_copy(ap, ap0);
    char msg[VALUE_MAX], value[VALUE_MAX];
    size_t mlen = 0;
    msg[0] = '\0';
    const char *w = legacy ? fmt : fmt + elen;
    while (*w) {
        while (*w == ' ')
            w++;
        if (!*w)
            break;
        const char *wend = w + strcspn(w, " ");
        const char *eq = memchr(w, '=', (size_t)(wend - w));
        /* key=VALUE, the key a plain name; anything else is message text. */
        int is_field = eq && eq > w && !memchr(w, '%', (size_t)(eq - w));
        int integer = 0;
        format_value(is_field ? eq + 1 : w, wend, &ap, value, sizeof value,
                     &integer);
        if (is_field) {
            field(&l, w, (size_t)(eq - w), value, integer);
        } else {
            size_t n = strlen(value);
            if (mlen + n + 2 < sizeof msg) {
                if (mlen)
                    msg[mlen++] = ' ';
                memcpy(msg + mlen, value, n);
                mlen += n;
                msg[mlen] = '\0';
            }
        }
        w = wend;
    }
    va_end(ap);
    /* lws and legacy text end in newlines: not part of the message. */
    while (mlen && (msg[mlen - 1] == '\n' || msg[mlen - 1] == ' '))
        msg[--mlen] = '\0';
    if (mlen)
        field(&l, "msg", 3, msg, 0);
    if (l.cut)
        field(&l, "cut", 3, "1", 1);
    if (g_format == FSV_LOG_JSON)
        put(&l, "}", 1);
    l.buf[l.len++] = '\n';
    l.buf[l.len] = '\0';
    /* One write per line: concurrent writers (tests run several servers
    ** on one terminal) never interleave inside a line. */
    fputs(l.buf, stderr);
}

void fsv_log(int level, const char *fmt, ...)
{
    if (level > g_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(level, fmt, ap);
    va_end(ap);
}

static void lws_emit(int level, const char *text)
{
    int ours = level == LLL_ERR ? FSV_LOG_ERROR : FSV_LOG_WARN;
    if (ours > g_level)
        return;
    /* lws ends its lines with a newline: not part of the message. */
    size_t n = strlen(text);
    while (n && (text[n - 1] == '\n' || text[n - 1] == ' '))
        n--;
    fsv_log(ours, "lws msg=%.*s", (int)n, text);
}

void fsv_log_route_lws(void)
{
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_emit);
}
