/*
** vv.c — version vectors: compare, join, and their canonical JSON.
**
** A vector maps device id -> counter (counter >= 1; absent = 0).  Vectors
** built here are kept sorted by device (strcmp) without duplicates, the same
** invariant fdsp_decode establishes, so equal vectors print equal bytes.
** compare/join do not rely on the order of their inputs (at most
** FDSP_MAX_VV entries each, so the quadratic lookup is cheap and robust
** against hand-built vectors).
*/
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t fds__vv_get(const fdsp_vv *vv, const char *device)
{
    for (size_t i = 0; vv && i < vv->n; i++)
        if (vv->e[i].device && strcmp(vv->e[i].device, device) == 0)
            return vv->e[i].counter;
    return 0;
}

int fds__vv_set(fdsp_vv *vv, const char *device, uint64_t counter)
{
    size_t i = 0;
    while (i < vv->n && strcmp(vv->e[i].device, device) < 0)
        i++;
    if (i < vv->n && strcmp(vv->e[i].device, device) == 0) {
        vv->e[i].counter = counter;
        return FDS_OK;
    }
    char *d = strdup(device);
    fdsp_vv_entry *e = realloc(vv->e, (vv->n + 1) * sizeof *e);
    if (d == NULL || e == NULL) {
        free(d);
        if (e)
            vv->e = e;
        return FDS_NOMEM;
    }
    vv->e = e;
    memmove(&e[i + 1], &e[i], (vv->n - i) * sizeof *e);
    e[i].device = d;
    e[i].counter = counter;
    vv->n++;
    return FDS_OK;
}

/* 1 if every entry of a is <= the matching entry of b. */
static int leq(const fdsp_vv *a, const fdsp_vv *b)
{
    for (size_t i = 0; a && i < a->n; i++)
        if (a->e[i].device == NULL ||
            a->e[i].counter > fds__vv_get(b, a->e[i].device))
            return 0;
    return 1;
}

int fds__vv_leq(const fdsp_vv *a, const fdsp_vv *b)
{
    return leq(a, b);
}

int fds_vv_compare(const fdsp_vv *a, const fdsp_vv *b)
{
    int ab = leq(a, b), ba = leq(b, a);
    if (ab && ba)
        return FDS_VV_EQUAL;
    if (ab)
        return FDS_VV_LESS;
    if (ba)
        return FDS_VV_GREATER;
    return FDS_VV_CONCURRENT;
}

int fds_vv_join(const fdsp_vv *a, const fdsp_vv *b, fdsp_vv *out)
{
    fdsp_vv t = {0, NULL};
    const fdsp_vv *in[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; in[k] && i < in[k]->n; i++) {
            const fdsp_vv_entry *e = &in[k]->e[i];
            if (e->device == NULL)
                continue;
            if (fds__vv_get(&t, e->device) >= e->counter)
                continue;
            if (fds__vv_set(&t, e->device, e->counter) != FDS_OK) {
                fdsp_vv_clear(&t);
                return FDS_NOMEM;
            }
        }
    }
    fdsp_vv_clear(out);
    *out = t;
    return FDS_OK;
}

json_t *fds__vv_to_json(const fdsp_vv *vv)
{
    json_t *o = json_object();
    for (size_t i = 0; o && vv && i < vv->n; i++) {
        if (json_object_set_new(o, vv->e[i].device,
                                json_integer((json_int_t)vv->e[i].counter))) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

int fds__vv_from_json(const json_t *j, fdsp_vv *out)
{
    out->n = 0;
    out->e = NULL;
    if (!json_is_object(j) || json_object_size(j) > FDSP_MAX_VV)
        return FDS_INVALID;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)j, k, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 ||
            k[0] == '\0' || strlen(k) > FDSP_MAX_ID) {
            fdsp_vv_clear(out);
            return FDS_INVALID;
        }
        if (fds__vv_set(out, k, (uint64_t)json_integer_value(v)) != FDS_OK) {
            fdsp_vv_clear(out);
            return FDS_NOMEM;
        }
    }
    return FDS_OK;
}

/* ---- Hand-built canonical JSON ------------------------------------------- */

void fds__buf_put_slow(fds__buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

/* jansson's dump_string without JSON_ENSURE_ASCII / JSON_ESCAPE_SLASH:
** only '"', '\\' and control characters are escaped, the rest is copied. */
void fds__buf_str(fds__buf *b, const char *s)
{
    fds__buf_put(b, "\"", 1);
    const char *run = s;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch >= 0x20 && ch != '"' && ch != '\\')
            continue;
        fds__buf_put(b, run, (size_t)(s - run));
        char esc[8];
        switch (ch) {
        case '"':  fds__buf_put(b, "\\\"", 2); break;
        case '\\': fds__buf_put(b, "\\\\", 2); break;
        case '\b': fds__buf_put(b, "\\b", 2); break;
        case '\f': fds__buf_put(b, "\\f", 2); break;
        case '\n': fds__buf_put(b, "\\n", 2); break;
        case '\r': fds__buf_put(b, "\\r", 2); break;
        case '\t': fds__buf_put(b, "\\t", 2); break;
        default:
            snprintf(esc, sizeof esc, "\\u%04X", (unsigned)ch);
            fds__buf_put(b, esc, 6);
            break;
        }
        run = s + 1;
    }
    fds__buf_put(b, run, (size_t)(s - run));
    fds__buf_put(b, "\"", 1);
}

/* ---- Eight bytes at a time ------------------------------------------------
** Most strings here are plain ASCII (device ids, users, field names, most
** values), and these checks run on every one of them for every record
** written, packed, logged and summed.  Testing a word of eight bytes at
** once skips such runs; any word that is not plainly clean is left to the
** byte-wise code below, so the result is exactly the byte-wise one. */
#define ONES  0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

static uint64_t load8(const unsigned char *s)
{
    uint64_t w;
    memcpy(&w, s, sizeof w);
    return w;
}

/* All eight bytes in 0x01..0x7F. With no high bit set, w - ONES borrows
** (setting a high bit) exactly where a byte is 0. */
static int ascii8(uint64_t w)
{
    return ((w | (w - ONES)) & HIGHS) == 0;
}

/* Nonzero iff some byte of w is 0 (exact as a yes/no). */
static uint64_t zero8(uint64_t w)
{
    return (w - ONES) & ~w & HIGHS;
}

/* All eight bytes in 0x20..0x7F and none '"' or '\\': copied as they are
** by a JSON string writer. */
static int plain8(uint64_t w)
{
    if (w & HIGHS)
        return 0;
    /* bytes < 0x20: with no high bit set, w - 0x20.. borrows there */
    if (((w - ONES * 0x20) & ~w & HIGHS) != 0)
        return 0;
    return !zero8(w ^ (ONES * '"')) && !zero8(w ^ (ONES * '\\'));
}

/* Length of the valid UTF-8 sequence at s (lead byte >= 0x80), 0 if it is
** not one: the checks of fds__utf8_valid.  s is NUL-terminated, and NUL is
** never a continuation byte, so nothing is read past the end. */
static size_t utf8_seq(const unsigned char *s)
{
    unsigned c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0xC2)
        return 0;
    else if (c <= 0xDF)
        len = 2, cp = c & 0x1F;
    else if (c <= 0xEF)
        len = 3, cp = c & 0x0F;
    else if (c <= 0xF4)
        len = 4, cp = c & 0x07;
    else
        return 0;
    for (size_t k = 1; k < len; k++) {
        unsigned u = s[k];
        if (u < 0x80 || u > 0xBF)
            return 0;
        cp = (cp << 6) | (u & 0x3F);
    }
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) ||
        (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000))
        return 0;
    return len;
}

int fds__buf_str_utf8(fds__buf *b, const char *str)
{
    const unsigned char *s = (const unsigned char *)str, *run = s;
    const unsigned char *end = s + strlen(str);
    fds__buf_put(b, "\"", 1);
    for (;;) {
        while (end - s >= 8 && plain8(load8(s)))
            s += 8;
        unsigned ch = *s;
        if (ch >= 0x20 && ch < 0x80 && ch != '"' && ch != '\\') {
            s++;
            continue;
        }
        if (ch == 0)
            break;
        if (ch >= 0x80) {
            size_t len = utf8_seq(s);
            if (len == 0)
                return 0;
            s += len;
            continue;
        }
        fds__buf_put(b, (const char *)run, (size_t)(s - run));
        char esc[8];
        switch (ch) {
        case '"':  fds__buf_put(b, "\\\"", 2); break;
        case '\\': fds__buf_put(b, "\\\\", 2); break;
        case '\b': fds__buf_put(b, "\\b", 2); break;
        case '\f': fds__buf_put(b, "\\f", 2); break;
        case '\n': fds__buf_put(b, "\\n", 2); break;
        case '\r': fds__buf_put(b, "\\r", 2); break;
        case '\t': fds__buf_put(b, "\\t", 2); break;
        default:
            snprintf(esc, sizeof esc, "\\u%04X", ch);
            fds__buf_put(b, esc, 6);
            break;
        }
        run = ++s;
    }
    fds__buf_put(b, (const char *)run, (size_t)(s - run));
    fds__buf_put(b, "\"", 1);
    return 1;
}

void fds__buf_i64(fds__buf *b, int64_t v)
{
    char tmp[24];
    char *e = tmp + sizeof tmp, *p = e;
    /* Two digits a step: an hlc has 15-16 of them, printed in every
    ** register's canonical text (packing, logging, the sums scan). */
    static const char pairs[] =
        "0001020304050607080910111213141516171819"
        "2021222324252627282930313233343536373839"
        "4041424344454647484950515253545556575859"
        "6061626364656667686970717273747576777879"
        "8081828384858687888990919293949596979899";
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    while (u >= 100) {
        unsigned d = (unsigned)(u % 100) * 2;
        u /= 100;
        *--p = pairs[d + 1];
        *--p = pairs[d];
    }
    if (u >= 10) {
        *--p = pairs[u * 2 + 1];
        *--p = pairs[u * 2];
    } else {
        *--p = (char)('0' + u);
    }
    if (v < 0)
        *--p = '-';
    fds__buf_put(b, p, (size_t)(e - p));
}

int fds__buf_vv(fds__buf *b, const fdsp_vv *vv)
{
    /* One pass that checks while it writes; on failure the text written
    ** so far is taken back, so the caller sees nothing written. */
    size_t start = b->n;
    fds__buf_put(b, "{", 1);
    for (size_t i = 0; i < vv->n; i++) {
        const char *d = vv->e[i].device;
        if (d == NULL || (i > 0 && strcmp(vv->e[i - 1].device, d) >= 0))
            goto undo;
        if (i > 0)
            fds__buf_put(b, ",", 1);
        if (!fds__buf_str_utf8(b, d))
            goto undo;
        fds__buf_put(b, ":", 1);
        fds__buf_i64(b, (int64_t)vv->e[i].counter);  /* json_int_t, as jansson */
    }
    fds__buf_put(b, "}", 1);
    return 1;
undo:
    b->n = start;
    if (b->p)
        b->p[start] = '\0';
    return 0;
}

/* The checks of jansson's utf8_check_first / utf8_check_full. */
int fds__utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        if (n - i >= 8 && ascii8(load8(s + i))) {
            i += 8;
            continue;
        }
        unsigned c = s[i];
        size_t len;
        uint32_t cp;
        if (c == 0)
            return 0;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c < 0xC2)
            return 0;                       /* continuation or overlong */
        else if (c <= 0xDF)
            len = 2, cp = c & 0x1F;
        else if (c <= 0xEF)
            len = 3, cp = c & 0x0F;
        else if (c <= 0xF4)
            len = 4, cp = c & 0x07;
        else
            return 0;
        if (i + len > n)
            return 0;
        for (size_t k = 1; k < len; k++) {
            unsigned u = s[i + k];
            if (u < 0x80 || u > 0xBF)
                return 0;
            cp = (cp << 6) | (u & 0x3F);
        }
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) ||
            (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000))
            return 0;
        i += len;
    }
    return 1;
}

/* ---- Parsing the canonical text ------------------------------------------ */

/* A JSON string at *pp (which must start with '"') into a malloc'd *out.
** 1 on success, 0 if the text is anything but what jansson would accept
** plainly (the caller falls back to jansson), -1 out of memory. */
int fds__parse_str(const char **pp, char **out)
{
    const char *p = *pp;
    *out = NULL;
    if (*p != '"')
        return 0;
    p++;
    const char *q = p;
    size_t n = 0;
    int esc = 0;
    for (; *q != '"'; q++, n++) {
        unsigned char ch = (unsigned char)*q;
        if (ch < 0x20)
            return 0;               /* raw control character or end of text */
        if (ch == '\\') {
            esc = 1;
            q++;
            if (*q == 'u') {
                for (int k = 1; k <= 4; k++)
                    if (!q[k])
                        return 0;
                q += 4;
                n += 2;             /* a BMP code point is at most 3 bytes */
            } else if (*q == '\0') {
                return 0;
            }
        }
    }
    char *d = malloc(n + 1);
    if (d == NULL)
        return -1;
    size_t k = 0;
    if (!esc) {
        memcpy(d, p, n);
        k = n;
    } else {
        for (const char *r = p; r < q; r++) {
            if (*r != '\\') {
                d[k++] = *r;
                continue;
            }
            r++;
            switch (*r) {
            case '"': d[k++] = '"'; break;
            case '\\': d[k++] = '\\'; break;
            case '/': d[k++] = '/'; break;
            case 'b': d[k++] = '\b'; break;
            case 'f': d[k++] = '\f'; break;
            case 'n': d[k++] = '\n'; break;
            case 'r': d[k++] = '\r'; break;
            case 't': d[k++] = '\t'; break;
            case 'u': {
                unsigned cp = 0;
                for (int i = 1; i <= 4; i++) {
                    char h = r[i];
                    cp <<= 4;
                    if (h >= '0' && h <= '9') cp |= (unsigned)(h - '0');
                    else if (h >= 'a' && h <= 'f') cp |= (unsigned)(h - 'a' + 10);
                    else if (h >= 'A' && h <= 'F') cp |= (unsigned)(h - 'A' + 10);
                    else goto fallback;
                }
                r += 4;
                /* NUL and surrogates (pairs included): jansson decides */
                if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF))
                    goto fallback;
                if (cp < 0x80) {
                    d[k++] = (char)cp;
                } else if (cp < 0x800) {
                    d[k++] = (char)(0xC0 | (cp >> 6));
                    d[k++] = (char)(0x80 | (cp & 0x3F));
                } else {
                    d[k++] = (char)(0xE0 | (cp >> 12));
                    d[k++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                    d[k++] = (char)(0x80 | (cp & 0x3F));
                }
                break;
            }
            default:
                goto fallback;
            }
        }
    }
    d[k] = '\0';
    if (!fds__utf8_valid(d, k))
        goto fallback;
    *out = d;
    *pp = q + 1;
    return 1;
fallback:
    free(d);
    return 0;
}

/* A JSON integer (json_int_t range, no leading zeros, no fraction). */
int fds__parse_i64(const char **pp, int64_t *out)
{
    const char *p = *pp;
    int neg = *p == '-';
    if (neg)
        p++;
    if (*p < '0' || *p > '9' || (*p == '0' && p[1] >= '0' && p[1] <= '9'))
        return 0;
    uint64_t v = 0;
    int digits = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (++digits > 19)
            return 0;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (*p == '.' || *p == 'e' || *p == 'E')
        return 0;
    if (v > (uint64_t)INT64_MAX + (uint64_t)neg)
        return 0;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    *pp = p;
    return 1;
}

int fds__vv_parse(const char **pp, fdsp_vv *out)
{
    const char *p = *pp;
    out->n = 0;
    out->e = NULL;
    if (*p++ != '{')
        return 0;
    size_t cap = 0;
    int rc = 1;
    while (*p != '}') {
        if (out->n > 0 && *p++ != ',') {
            rc = 0;
            break;
        }
        char *dev = NULL;
        int64_t ctr;
        int s = fds__parse_str(&p, &dev);
        if (s <= 0) {
            rc = s;
            break;
        }
        /* what fds__vv_from_json would refuse or reorder: jansson decides */
        if (*p++ != ':' || !fds__parse_i64(&p, &ctr) || ctr < 1 ||
            dev[0] == '\0' || strlen(dev) > FDSP_MAX_ID ||
            out->n >= FDSP_MAX_VV ||
            (out->n > 0 && strcmp(out->e[out->n - 1].device, dev) >= 0)) {
            free(dev);
            rc = 0;
            break;
        }
        if (out->n == cap) {
            size_t ncap = cap ? cap * 2 : 4;
            fdsp_vv_entry *e = realloc(out->e, ncap * sizeof *e);
            if (e == NULL) {
                free(dev);
                rc = -1;
                break;
            }
            out->e = e;
            cap = ncap;
        }
        out->e[out->n].device = dev;
        out->e[out->n].counter = (uint64_t)ctr;
        out->n++;
    }
    if (rc != 1) {
        fdsp_vv_clear(out);
        return rc;
    }
    *pp = p + 1;
    return 1;
}

int fds_vv_parse(const char *text, fdsp_vv *out)
{
    const char *p = text;
    out->n = 0;
    out->e = NULL;
    if (text == NULL)
        return FDS_INVALID;
    int fast = fds__vv_parse(&p, out);
    if (fast == 1 && *p == '\0')
        return FDS_OK;
    fdsp_vv_clear(out);
    if (fast < 0)
        return FDS_NOMEM;
    json_t *j = NULL;
    int rc = fds__json_parse(text, 0, &j, NULL, 0);
    if (rc == FDS_OK)
        rc = fds__vv_from_json(j, out);
    json_decref(j);
    return rc;
}

char *fds_vv_dump(const fdsp_vv *vv)
{
    return fds__vv_dump(vv);
}

char *fds__vv_dump(const fdsp_vv *vv)
{
    fds__buf b = {NULL, 0, 0, 0};
    if (fds__buf_vv(&b, vv)) {
        if (b.oom) {
            free(b.p);
            return NULL;
        }
        return b.p;
    }
    free(b.p);
    return fds__vv_dump_tree(vv);
}

char *fds__vv_dump_tree(const fdsp_vv *vv)
{
    json_t *j = fds__vv_to_json(vv);
    if (j == NULL)
        return NULL;
    char *s = fds__json_dump(j, 1);
    json_decref(j);
    return s;
}

char *fds__vv_dump_jansson(const fdsp_vv *vv)
{
    json_t *j = fds__vv_to_json(vv);
    if (j == NULL)
        return NULL;
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    return s;
}
