/*
** jsontext.c — JSON text to a jansson tree, without jansson's parser.
**
** json_loads is not safe when memory runs out (issue 18): jansson 2.14's
** lexer drops a failed allocation while saving token text (lex_save
** ignores strbuffer_append_byte's result; akheron/jansson issue #362),
** then asserts (abort) or reads past the buffer it parsed (test_nomem
** found both, and a double free).  And the failures it does report come
** back as syntax errors, so "out of memory" would reach an app as "your
** input is not JSON".  The core parses the few JSON texts it reads (the
** text API's input, stored tags, choices, registers and vectors that the
** hand-written fast paths leave to jansson) here instead: a recursive
** descent that builds the tree with jansson's constructors, which fail
** cleanly, and tells FDS_NOMEM from FDS_INVALID.
**
** It accepts what json_loads(text, flags) accepts without JSON_DECODE_ANY:
** one array or object and nothing after it, UTF-8, no \u0000, surrogates
** in pairs, nesting up to jansson's 2048, integers in json_int_t (else an
** error, as jansson), reals by strtod (overflow is an error).  With
** reject_dups a repeated object key is an error; without it the last one
** wins, as in jansson.
*/
#include "internal.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 2048                  /* jansson's JSON_PARSER_MAX_DEPTH */

typedef struct jp {
    const unsigned char *p, *start;
    int depth, reject_dups;
    int rc;                             /* first failure: FDS_INVALID/NOMEM */
    const char *why;
    const unsigned char *at;            /* where it failed */
} jp;

static json_t *fail(jp *c, int rc, const char *why)
{
    if (c->rc == FDS_OK) {
        c->rc = rc;
        c->why = why;
        c->at = c->p;
    }
    return NULL;
}

static json_t *nomem(jp *c)
{
    return fail(c, FDS_NOMEM, "out of memory");
}

static void skip_ws(jp *c)
{
    while (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')
        c->p++;
}

static int hex4(const unsigned char *p, unsigned *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char h = p[i];
        unsigned d = h >= '0' && h <= '9' ? (unsigned)(h - '0')
                   : h >= 'a' && h <= 'f' ? (unsigned)(h - 'a' + 10)
                   : h >= 'A' && h <= 'F' ? (unsigned)(h - 'A' + 10) : 16u;
        if (d == 16)
            return 0;
        *v = *v * 16 + d;
    }
    return 1;
}

static size_t put_utf8(unsigned char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* At the opening quote: the decoded string (malloc'd, NUL-terminated) and
** its length, or NULL (c->rc says why).  The text's UTF-8 was checked as a
** whole before parsing; an escape decodes to at most the bytes it took. */
static char *string(jp *c, size_t *len)
{
    const unsigned char *q = ++c->p;
    while (*q != '"') {
        if (*q < 0x20) {
            c->p = q;
            fail(c, FDS_INVALID, *q ? "control character in a string"
                                    : "unterminated string");
            return NULL;
        }
        q += *q == '\\' && q[1] ? 2 : 1;
    }
    unsigned char *out = malloc((size_t)(q - c->p) + 1), *o = out;
    if (!out) {
        nomem(c);
        return NULL;
    }
    while (*c->p != '"') {
        if (*c->p != '\\') {
            *o++ = *c->p++;
            continue;
        }
        unsigned v, lo;
        switch (c->p[1]) {
        case '"':  *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/':  *o++ = '/'; break;
        case 'b':  *o++ = '\b'; break;
        case 'f':  *o++ = '\f'; break;
        case 'n':  *o++ = '\n'; break;
        case 'r':  *o++ = '\r'; break;
        case 't':  *o++ = '\t'; break;
        case 'u':
            if (!hex4(c->p + 2, &v))
                goto bad;
            if (v == 0) {
                fail(c, FDS_INVALID, "\\u0000 is not allowed");
                free(out);
                return NULL;
            }
            if (v >= 0xDC00 && v <= 0xDFFF)
                goto bad;
            if (v >= 0xD800 && v <= 0xDBFF) {
                if (c->p[6] != '\\' || c->p[7] != 'u' || !hex4(c->p + 8, &lo) ||
                    lo < 0xDC00 || lo > 0xDFFF)
                    goto bad;
                v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
                c->p += 6;
            }
            o += put_utf8(o, v);
            c->p += 4;
            break;
        default:
            goto bad;
        }
        c->p += 2;
    }
    c->p++;
    *o = '\0';
    *len = (size_t)(o - out);
    return (char *)out;
bad:
    fail(c, FDS_INVALID, "invalid escape in a string");
    free(out);
    return NULL;
}

static int digits(jp *c)
{
    if (*c->p < '0' || *c->p > '9')
        return 0;
    while (*c->p >= '0' && *c->p <= '9')
        c->p++;
    return 1;
}

static json_t *number(jp *c)
{
    const unsigned char *s = c->p;
    int real = 0;
    if (*c->p == '-')
        c->p++;
    if (*c->p == '0')
        c->p++;
    else if (!digits(c))
        return fail(c, FDS_INVALID, "invalid token");
    if (*c->p == '.') {
        c->p++;
        real = 1;
        if (!digits(c))
            return fail(c, FDS_INVALID, "invalid number");
    }
    if (*c->p == 'e' || *c->p == 'E') {
        c->p++;
        real = 1;
        if (*c->p == '+' || *c->p == '-')
            c->p++;
        if (!digits(c))
            return fail(c, FDS_INVALID, "invalid number");
    }
    /* strtoll/strtod stop where the grammar above stopped. */
    char *end;
    errno = 0;
    if (!real) {
        long long v = strtoll((const char *)s, &end, 10);
        if (errno == ERANGE)
            return fail(c, FDS_INVALID, "too big integer");
        json_t *j = json_integer((json_int_t)v);
        return j ? j : nomem(c);
    }
    double d = strtod((const char *)s, &end);
    if (end != (const char *)c->p) {
        /* An app that set LC_NUMERIC to a decimal comma: strtod wants the
        ** locale's point (jansson's to_locale does the same). */
        char buf[512];
        size_t n = (size_t)(c->p - s);
        const char *dp = localeconv()->decimal_point;
        if (n >= sizeof buf || !dp || !dp[0] || dp[1])
            return fail(c, FDS_INVALID, "invalid number");
        memcpy(buf, s, n);
        buf[n] = '\0';
        char *dot = strchr(buf, '.');
        if (dot)
            *dot = dp[0];
        errno = 0;
        d = strtod(buf, &end);
        if (end != buf + n)
            return fail(c, FDS_INVALID, "invalid number");
    }
    if (errno == ERANGE && (d == HUGE_VAL || d == -HUGE_VAL))
        return fail(c, FDS_INVALID, "real number overflow");
    json_t *j = json_real(d);
    return j ? j : nomem(c);
}

static json_t *literal(jp *c, const char *w, json_t *v)
{
    size_t n = strlen(w);
    if (strncmp((const char *)c->p, w, n) != 0)
        return fail(c, FDS_INVALID, "invalid token");
    c->p += n;
    return v;       /* true, false, null: never allocated */
}

static json_t *value(jp *c);

static json_t *container(jp *c)
{
    int obj = *c->p == '{';
    unsigned char close = obj ? '}' : ']';
    if (++c->depth > MAX_DEPTH)
        return fail(c, FDS_INVALID, "maximum parsing depth reached");
    json_t *j = obj ? json_object() : json_array();
    if (!j)
        return nomem(c);
    c->p++;
    skip_ws(c);
    if (*c->p == close) {
        c->p++;
        c->depth--;
        return j;
    }
    for (;;) {
        char *key = NULL;
        size_t klen;
        if (obj) {
            skip_ws(c);
            if (*c->p != '"' || !(key = string(c, &klen))) {
                fail(c, FDS_INVALID, "string or '}' expected");
                goto err;
            }
            if (c->reject_dups && json_object_get(j, key)) {
                free(key);
                fail(c, FDS_INVALID, "duplicate object key");
                goto err;
            }
            skip_ws(c);
            if (*c->p != ':') {
                free(key);
                fail(c, FDS_INVALID, "':' expected");
                goto err;
            }
            c->p++;
        }
        json_t *v = value(c);
        if (!v) {
            free(key);
            goto err;
        }
        int set = obj ? json_object_set_new(j, key, v)
                      : json_array_append_new(j, v);
        free(key);
        if (set != 0) {
            nomem(c);
            goto err;
        }
        skip_ws(c);
        if (*c->p == close) {
            c->p++;
            c->depth--;
            return j;
        }
        if (*c->p != ',') {
            fail(c, FDS_INVALID, obj ? "',' or '}' expected"
                                     : "',' or ']' expected");
            goto err;
        }
        c->p++;
    }
err:
    json_decref(j);
    return NULL;
}

static json_t *value(jp *c)
{
    skip_ws(c);
    switch (*c->p) {
    case '{': case '[':
        return container(c);
    case '"': {
        size_t n;
        char *s = string(c, &n);
        if (!s)
            return NULL;
        json_t *j = json_stringn(s, n);
        free(s);
        return j ? j : nomem(c);
    }
    case 't':
        return literal(c, "true", json_true());
    case 'f':
        return literal(c, "false", json_false());
    case 'n':
        return literal(c, "null", json_null());
    case '\0':
        return fail(c, FDS_INVALID, "unexpected end of input");
    default:
        return number(c);
    }
}

int fds__json_parse(const char *text, int reject_dups, json_t **out,
                    char *err, size_t errlen)
{
    jp c = {(const unsigned char *)text, (const unsigned char *)text, 0,
            reject_dups, FDS_OK, NULL, NULL};
    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    if (!fds__utf8_valid(text, strlen(text))) {
        if (err && errlen)
            snprintf(err, errlen, "invalid UTF-8");
        return FDS_INVALID;
    }
    skip_ws(&c);
    json_t *j = NULL;
    if (*c.p != '[' && *c.p != '{')
        fail(&c, FDS_INVALID, "'[' or '{' expected");
    else if ((j = container(&c)) != NULL) {
        skip_ws(&c);
        if (*c.p != '\0') {
            json_decref(j);
            j = fail(&c, FDS_INVALID, "end of file expected");
        }
    }
    if (j) {
        *out = j;
        return FDS_OK;
    }
    if (err && errlen) {
        int line = 1, col = 1;
        for (const unsigned char *q = c.start; q < c.at; q++) {
            if (*q == '\n') {
                line++;
                col = 1;
            } else if ((*q & 0xC0) != 0x80) {
                col++;          /* characters, not bytes */
            }
        }
        snprintf(err, errlen, "line %d, column %d: %s", line, col, c.why);
    }
    return c.rc;
}

/* ---- Writing ----------------------------------------------------------------
** json_dumps is not safe either: jansson 2.14 writes an object's keys
** without checking that the write worked (do_dump ignores dump_string's
** result), so out of memory at the wrong moment gives a text with a key
** missing and no error (test_nomem saw {"phone":…,":"zhang@…"}).  This
** writer gives the bytes json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY)
** gives (keys in insertion order, or sorted with sort_keys as
** JSON_SORT_KEYS), or NULL. */

/* jansson's jsonp_dtostr at its default precision: "%.17g", a ".0" when
** that reads as an integer, the exponent without '+' or leading zeros. */
static void put_real(fds__buf *b, double v)
{
    char s[64];
    int n = snprintf(s, sizeof s - 3, "%.17g", v);
    if (n < 0 || n >= (int)sizeof s - 3) {
        b->oom = 1;             /* cannot happen for a finite double */
        return;
    }
    const char *dp = localeconv()->decimal_point;
    for (char *q = s; dp && dp[0] && !dp[1] && *q; q++)
        if (*q == dp[0])        /* a locale's decimal comma (jansson's
                                ** from_locale) */
            *q = '.';
    if (!strchr(s, '.') && !strchr(s, 'e'))
        strcat(s, ".0");
    char *e = strchr(s, 'e');
    if (e) {
        char *start = e + 1, *end = e + 2;
        if (*start == '-')
            start++;
        while (*end == '0')
            end++;
        if (end != start)
            memmove(start, end, strlen(end) + 1);
    }
    fds__buf_put(b, s, strlen(s));
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void put_value(fds__buf *b, const json_t *j, int sort_keys)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *v;
        int first = 1;
        fds__buf_put(b, "{", 1);
        if (!sort_keys || json_object_size(j) < 2) {
            json_object_foreach((json_t *)j, k, v) {
                if (!first)
                    fds__buf_put(b, ",", 1);
                first = 0;
                fds__buf_str(b, k);
                fds__buf_put(b, ":", 1);
                put_value(b, v, sort_keys);
            }
        } else {
            size_t n = json_object_size(j), i = 0;
            const char **keys = malloc(n * sizeof *keys);
            if (!keys) {
                b->oom = 1;
                return;
            }
            json_object_foreach((json_t *)j, k, v)
                keys[i++] = k;
            qsort(keys, n, sizeof *keys, cmp_keys);
            for (i = 0; i < n; i++) {
                if (i)
                    fds__buf_put(b, ",", 1);
                fds__buf_str(b, keys[i]);
                fds__buf_put(b, ":", 1);
                put_value(b, json_object_get(j, keys[i]), sort_keys);
            }
            free(keys);
        }
        fds__buf_put(b, "}", 1);
        break;
    }
    case JSON_ARRAY:
        fds__buf_put(b, "[", 1);
        for (size_t i = 0; i < json_array_size(j); i++) {
            if (i)
                fds__buf_put(b, ",", 1);
            put_value(b, json_array_get(j, i), sort_keys);
        }
        fds__buf_put(b, "]", 1);
        break;
    case JSON_STRING:
        /* Core's strings never hold a NUL (fds__json_parse refuses
        ** \u0000, values are C strings), so the C string is all of it. */
        fds__buf_str(b, json_string_value(j));
        break;
    case JSON_INTEGER:
        fds__buf_i64(b, (int64_t)json_integer_value(j));
        break;
    case JSON_REAL:
        put_real(b, json_real_value(j));
        break;
    case JSON_TRUE:
        fds__buf_put(b, "true", 4);
        break;
    case JSON_FALSE:
        fds__buf_put(b, "false", 5);
        break;
    default:
        fds__buf_put(b, "null", 4);
        break;
    }
}

char *fds__json_dump(const json_t *j, int sort_keys)
{
    fds__buf b = {NULL, 0, 0, 0};
    put_value(&b, j ? j : json_null(), sort_keys);
    if (b.oom || !b.p) {
        free(b.p);
        return NULL;
    }
    return b.p;
}
