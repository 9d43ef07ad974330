/*
** check.c — the primitive rules of the wire format: string alphabets and
** lengths, UTF-8, HLC text, nesting depth, and the error line builder.
** Both directions of the codec call these, so decode and encode agree.
*/
#include "proto_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Eight bytes at a time: 1 if all of them are in 0x01..0x7f (no NUL, no
** high bit).  A zero byte gives 0xff or 0xfe in x - 0x01.., so it shows. */
static inline int ascii8(const unsigned char *p)
{
    uint64_t x;
    memcpy(&x, p, 8);
    return ((x | (x - 0x0101010101010101ULL)) & 0x8080808080808080ULL) == 0;
}

int fdsp__utf8_ok(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        while (i + 8 <= n && ascii8(p + i))
            i += 8;
        if (i >= n)
            break;
        unsigned c = p[i];
        size_t need;
        uint32_t cp, min;
        if (c == 0)
            return 0;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1; cp = c & 0x1f; min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2; cp = c & 0x0f; min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3; cp = c & 0x07; min = 0x10000;
        } else {
            return 0;               /* continuation byte, 0xc0/0xc1, >0xf4 */
        }
        if (n - i <= need)
            return 0;               /* truncated sequence */
        for (size_t k = 1; k <= need; k++) {
            unsigned cc = p[i + k];
            if ((cc & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (cc & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;               /* overlong, out of range, surrogate */
        i += need + 1;
    }
    return 1;
}

/* Bit 1: a byte an ID may hold (0x21..0x7e but " ' \).  Bit 2: a byte a
** NAME may hold ([a-z0-9_.]).  A table, so a string is checked with one
** load and one AND per byte. */
static const unsigned char str_class[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 3, 1,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 3,
    1, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 1, 1, 1, 1, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

int fdsp__check_str(const char *s, size_t n, int kind, const char **why)
{
    size_t max;
    switch (kind) {
    case FDSP__ID:    max = FDSP_MAX_ID; break;
    case FDSP__NAME:  max = FDSP_MAX_NAME; break;
    case FDSP__TEXT:  max = FDSP_MAX_TEXT; break;
    default:          max = FDSP_MAX_VALUE; break;
    }
    /* Length first: it is free, and an oversized string is a limit. */
    if (n > max) {
        *why = kind == FDSP__ID     ? "id longer than FDSP_MAX_ID bytes"
             : kind == FDSP__NAME   ? "name longer than FDSP_MAX_NAME bytes"
             : kind == FDSP__TEXT   ? "text longer than FDSP_MAX_TEXT bytes"
                                    : "value longer than FDSP_MAX_VALUE bytes";
        return FDSP_E_LIMIT;
    }
    if (kind == FDSP__ID || kind == FDSP__NAME) {
        if (n == 0) {
            *why = "must not be empty";
            return FDSP_E_VALUE;
        }
        unsigned want = kind == FDSP__ID ? 1 : 2, all = want;
        for (size_t i = 0; i < n; i++)
            all &= str_class[(unsigned char)s[i]];
        if (all == 0) {
            *why = kind == FDSP__ID
                ? "id must be printable ASCII without spaces, quotes or backslash"
                : "name must be [a-z0-9_.]";
            return FDSP_E_VALUE;
        }
        return FDSP_OK;
    }
    if (!fdsp__utf8_ok(s, n)) {
        *why = memchr(s, 0, n) ? "must not contain NUL" : "invalid UTF-8";
        return FDSP_E_VALUE;
    }
    return FDSP_OK;
}

int fdsp__check_cstr(const char *s, int kind, int required)
{
    const char *why;
    if (s == NULL)
        return required ? FDSP_E_MISSING : FDSP_OK;
    return fdsp__check_str(s, strlen(s), kind, &why);
}

int fdsp__check_int(int64_t v, int64_t lo, int64_t hi, int hi_code)
{
    if (v < lo)
        return FDSP_E_VALUE;
    if (v > hi)
        return hi_code;
    return FDSP_OK;
}

int fdsp__wire_code_ok(int code)
{
    return code > FDSP_OK && code < FDSP_E__COUNT && code != FDSP_E_NOMEM;
}

/* Make err safe to put in an "error" message: the text may have been cut
** inside a UTF-8 sequence by snprintf, or may quote jansson's view of the
** input.  Invalid bytes and control characters become '?'. */
static void sanitize(char *s)
{
    size_t n = strlen(s), i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) {
            s[i++] = '?';
            continue;
        }
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
        if (len <= n - i && fdsp__utf8_ok(s + i, len)) {
            i += len;
            continue;
        }
        s[i++] = '?';
    }
}

int fdsp__fail(char *err, size_t errlen, int code, const char *path,
               const char *key, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return code;
    int off;
    int has_path = path != NULL && path[0] != '\0';
    int has_key = key != NULL && key[0] != '\0';
    if (has_path && has_key)
        off = snprintf(err, errlen, "%s.%s: ", path, key);
    else if (has_path || has_key)
        off = snprintf(err, errlen, "%s: ", has_path ? path : key);
    else
        off = 0;
    if (off < 0)
        off = 0;
    if ((size_t)off < errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err + off, errlen - (size_t)off, fmt, ap);
        va_end(ap);
    }
    err[errlen - 1] = '\0';
    sanitize(err);
    return code;
}

void fdsp__hlc_format(uint64_t hlc, char out[17])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--) {
        out[i] = hex[hlc & 0xf];
        hlc >>= 4;
    }
    out[16] = '\0';
}

int fdsp__hlc_parse(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    if (n != 16)
        return 0;
    for (size_t i = 0; i < 16; i++) {
        char c = s[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else
            return 0;   /* uppercase too: one spelling per value */
        v = (v << 4) | d;
    }
    *out = v;
    return 1;
}

int fdsp__depth_ok(const char *buf, size_t len, size_t max)
{
    size_t depth = 0;
    int in_str = 0;
    for (size_t i = 0; i < len; i++) {
        char c = buf[i];
        if (in_str) {
            if (c == '\\')
                i++;                /* skip the escaped byte, e.g. \" */
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > max)
                return 0;
        } else if ((c == '}' || c == ']') && depth > 0) {
            depth--;
        }
    }
    return 1;
}

char *fdsp__strndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* Blocks of at least POOL_BLOCK bytes, newest first.  Strings need no
** alignment, so a block is a plain byte run after its header. */
#define POOL_BLOCK 16384

struct fdsp_pool {
    struct fdsp_pool *next;
    size_t used, cap;
    char data[];
};

char *fdsp__pool_strndup(struct fdsp_pool **pool, const char *s, size_t n)
{
    if (pool == NULL)
        return fdsp__strndup(s, n);
    struct fdsp_pool *b = *pool;
    if (b == NULL || b->cap - b->used < n + 1) {
        size_t cap = n + 1 > POOL_BLOCK ? n + 1 : POOL_BLOCK;
        struct fdsp_pool *nb = malloc(sizeof *nb + cap);
        if (nb == NULL)
            return NULL;
        nb->next = b;
        nb->used = 0;
        nb->cap = cap;
        *pool = b = nb;
    }
    char *p = b->data + b->used;
    memcpy(p, s, n);
    p[n] = '\0';
    b->used += n + 1;
    return p;
}

void fdsp__pool_free(struct fdsp_pool *pool)
{
    while (pool != NULL) {
        struct fdsp_pool *next = pool->next;
        free(pool);
        pool = next;
    }
}
