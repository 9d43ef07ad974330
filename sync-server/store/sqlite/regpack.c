/*
** regpack.c — the packed form of a record's registers (regpack.h has the
** format and why).  Hand-written both ways: this runs once per record per
** push batch, and a jansson tree per record would cost more than the
** merge it stores.
*/
#include "regpack.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RP_FORMAT 1
#define RP_MAX_COUNTER (1ULL << 53)

/* ---- A growing byte buffer ------------------------------------------------ */

typedef struct rp_buf {
    unsigned char *p;
    size_t n, cap;
    int oom;
} rp_buf;

static int buf_room(rp_buf *b, size_t more)
{
    if (b->oom)
        return 0;
    if (b->n + more <= b->cap)
        return 1;
    size_t cap = b->cap ? b->cap * 2 : 256;
    while (cap < b->n + more)
        cap *= 2;
    unsigned char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return 0;
    }
    b->p = p;
    b->cap = cap;
    return 1;
}

static void buf_put(rp_buf *b, const void *s, size_t n)
{
    if (n && buf_room(b, n)) {
        memcpy(b->p + b->n, s, n);
        b->n += n;
    }
}

static void buf_byte(rp_buf *b, unsigned char c)
{
    if (buf_room(b, 1))
        b->p[b->n++] = c;
}

static void buf_varint(rp_buf *b, uint64_t v)
{
    if (!buf_room(b, 10))
        return;
    while (v >= 0x80) {
        b->p[b->n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    b->p[b->n++] = (unsigned char)v;
}

/* A JSON string: escapes only what JSON requires (", \ and controls);
** UTF-8 passes through (values were checked when they arrived). */
static void buf_jstr(rp_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    buf_byte(b, '"');
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        buf_put(b, run, (size_t)(s - run));
        run = s + 1;
        char e[6] = {'\\', 0, 0, 0, 0, 0};
        size_t n = 2;
        switch (c) {
        case '"': e[1] = '"'; break;
        case '\\': e[1] = '\\'; break;
        case '\n': e[1] = 'n'; break;
        case '\t': e[1] = 't'; break;
        case '\r': e[1] = 'r'; break;
        case '\b': e[1] = 'b'; break;
        case '\f': e[1] = 'f'; break;
        default:
            memcpy(e + 1, "u00", 3);
            e[4] = hex[c >> 4];
            e[5] = hex[c & 15];
            n = 6;
        }
        buf_put(b, e, n);
    }
    buf_put(b, run, (size_t)(s - run));
    buf_byte(b, '"');
}

/* ---- Encode ----------------------------------------------------------------- */

int fsv_regpack_encode(const fsv_regpack_field *f, size_t n,
                       const fsv_regpack_dict *d, char **vals,
                       unsigned char **blob, size_t *blob_len, int *conflicts)
{
    rp_buf j = {NULL, 0, 0, 0}, b = {NULL, 0, 0, 0};
    int rc = FSV_RP_OK;
    *vals = NULL;
    *blob = NULL;
    *blob_len = 0;
    *conflicts = 0;
    buf_byte(&j, '{');
    buf_byte(&b, RP_FORMAT);
    buf_varint(&b, n);
    uint64_t prev = 0;
    for (size_t i = 0; rc == FSV_RP_OK && i < n; i++) {
        const fds_register *r = &f[i].reg;
        if (!f[i].name || r->n == 0 ||
            (i && strcmp(f[i - 1].name, f[i].name) >= 0)) {
            rc = FSV_RP_DAMAGED;
            break;
        }
        if (i)
            buf_byte(&j, ',');
        buf_jstr(&j, f[i].name);
        buf_byte(&j, ':');
        if (r->v[0].value)
            buf_jstr(&j, r->v[0].value);
        else
            buf_put(&j, "null", 4);
        if (fds_register_in_conflict(r))
            (*conflicts)++;
        buf_varint(&b, r->n);
        for (size_t k = 0; rc == FSV_RP_OK && k < r->n; k++) {
            const fdsp_change *v = &r->v[k];
            uint64_t dev, user;
            if (!v->device || !v->user || v->vv.n == 0) {
                rc = FSV_RP_DAMAGED;
                break;
            }
            if ((rc = d->intern(d->ud, v->device, &dev)) != FSV_RP_OK ||
                (rc = d->intern(d->ud, v->user, &user)) != FSV_RP_OK)
                break;
            buf_varint(&b, dev);
            buf_varint(&b, user);
            int64_t delta = (int64_t)(v->hlc - prev);
            buf_varint(&b, ((uint64_t)delta << 1) ^ (uint64_t)(delta >> 63));
            prev = v->hlc;
            if (k) {
                if (v->value) {
                    size_t len = strlen(v->value);
                    buf_varint(&b, (uint64_t)len + 1);
                    buf_put(&b, v->value, len);
                } else {
                    buf_varint(&b, 0);
                }
            }
            /* The common vector is the writer's own entry alone. */
            if (v->vv.n == 1 && strcmp(v->vv.e[0].device, v->device) == 0) {
                buf_varint(&b, 0);
                buf_varint(&b, v->vv.e[0].counter);
                continue;
            }
            buf_varint(&b, v->vv.n);
            for (size_t e = 0; e < v->vv.n; e++) {
                uint64_t id;
                if ((rc = d->intern(d->ud, v->vv.e[e].device, &id)) != FSV_RP_OK)
                    break;
                buf_varint(&b, id);
                buf_varint(&b, v->vv.e[e].counter);
            }
        }
    }
    buf_put(&j, "}", 2);    /* with the NUL */
    if (rc == FSV_RP_OK && (j.oom || b.oom))
        rc = FSV_RP_NOMEM;
    if (rc != FSV_RP_OK) {
        free(j.p);
        free(b.p);
        *conflicts = 0;
        return rc;
    }
    *vals = (char *)j.p;
    *blob = b.p;
    *blob_len = b.n;
    return FSV_RP_OK;
}

/* ---- Decode ----------------------------------------------------------------- */

typedef struct rp_in {
    const unsigned char *p, *end;
    char *err;
    size_t errlen;
    int rc;                 /* first failure */
} rp_in;

static int fail(rp_in *in, int rc, const char *fmt, ...)
{
    if (in->rc == FSV_RP_OK) {
        in->rc = rc;
        if (in->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(in->err, in->errlen, fmt, ap);
            va_end(ap);
        }
    }
    return 0;
}

static int get_varint(rp_in *in, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (in->p >= in->end)
            return fail(in, FSV_RP_DAMAGED, "registers end early");
        unsigned char c = *in->p++;
        if (shift == 63 && c > 1)
            return fail(in, FSV_RP_DAMAGED, "a number overflows");
        x |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *v = x;
            return 1;
        }
    }
    return fail(in, FSV_RP_DAMAGED, "a number overflows");
}

/* Valid UTF-8 of n bytes with no NUL (what the wire accepts). */
static int utf8_ok(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c == 0)
            return 0;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (n - i < len)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += len;
    }
    return 1;
}

static int put_utf8(rp_buf *b, uint32_t cp)
{
    unsigned char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (unsigned char)(0xc0 | (cp >> 6));
        u[1] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (unsigned char)(0xe0 | (cp >> 12));
        u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        u[0] = (unsigned char)(0xf0 | (cp >> 18));
        u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        u[3] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    buf_put(b, u, n);
    return !b->oom;
}

static int hex4(const char *p, uint32_t *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0'
              : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return 0;
        *v = (*v << 4) | (uint32_t)d;
    }
    return 1;
}

/* A JSON string at *pp (before end) into a malloc'd C string. */
static int get_jstr(rp_in *in, const char **pp, const char *end, char **out)
{
    const char *p = *pp;
    *out = NULL;
    if (p >= end || *p != '"')
        return fail(in, FSV_RP_DAMAGED, "values: a string expected");
    p++;
    const char *start = p;
    while (p < end && *p != '"' && *p != '\\')
        p++;
    if (p < end && *p == '"') {     /* no escapes: one copy */
        size_t n = (size_t)(p - start);
        if (!utf8_ok((const unsigned char *)start, n))
            return fail(in, FSV_RP_DAMAGED, "values: not UTF-8");
        char *s = malloc(n + 1);
        if (!s)
            return fail(in, FSV_RP_NOMEM, "out of memory");
        memcpy(s, start, n);
        s[n] = '\0';
        *out = s;
        *pp = p + 1;
        return 1;
    }
    rp_buf b = {NULL, 0, 0, 0};
    buf_put(&b, start, (size_t)(p - start));
    while (p < end && *p != '"') {
        if (*p != '\\') {
            const char *run = p;
            while (p < end && *p != '"' && *p != '\\')
                p++;
            buf_put(&b, run, (size_t)(p - run));
            continue;
        }
        if (++p >= end)
            break;
        char c = *p++;
        uint32_t cp;
        switch (c) {
        case '"': case '\\': case '/': buf_byte(&b, (unsigned char)c); break;
        case 'n': buf_byte(&b, '\n'); break;
        case 't': buf_byte(&b, '\t'); break;
        case 'r': buf_byte(&b, '\r'); break;
        case 'b': buf_byte(&b, '\b'); break;
        case 'f': buf_byte(&b, '\f'); break;
        case 'u':
            if (end - p < 4 || !hex4(p, &cp))
                goto bad;
            p += 4;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                uint32_t lo;
                if (end - p < 6 || p[0] != '\\' || p[1] != 'u' ||
                    !hex4(p + 2, &lo) || lo < 0xdc00 || lo > 0xdfff)
                    goto bad;
                p += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            } else if ((cp >= 0xdc00 && cp <= 0xdfff) || cp == 0) {
                goto bad;
            }
            put_utf8(&b, cp);
            break;
        default:
            goto bad;
        }
    }
    if (p >= end)
        goto bad;
    buf_byte(&b, 0);
    if (b.oom) {
        free(b.p);
        return fail(in, FSV_RP_NOMEM, "out of memory");
    }
    if (!utf8_ok(b.p, b.n - 1)) {
        free(b.p);
        return fail(in, FSV_RP_DAMAGED, "values: not UTF-8");
    }
    *out = (char *)b.p;
    *pp = p + 1;
    return 1;
bad:
    free(b.p);
    return fail(in, FSV_RP_DAMAGED, "values: a bad string");
}

typedef struct jpair {
    char *key, *val;
} jpair;

/* vals into pairs (keys in strict strcmp order). */
static int parse_vals(rp_in *in, const char *s, size_t len, jpair **out,
                      size_t *n)
{
    const char *p = s, *end = s + len;
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    if (p >= end || *p++ != '{')
        return fail(in, FSV_RP_DAMAGED, "values: not an object");
    while (p < end && *p != '}') {
        if (*n && *p++ != ',')
            return fail(in, FSV_RP_DAMAGED, "values: ',' expected");
        if (*n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            jpair *v = realloc(*out, nc * sizeof *v);
            if (!v)
                return fail(in, FSV_RP_NOMEM, "out of memory");
            *out = v;
            cap = nc;
        }
        jpair *x = &(*out)[*n];
        x->key = x->val = NULL;
        (*n)++;
        if (!get_jstr(in, &p, end, &x->key))
            return 0;
        if (p >= end || *p++ != ':')
            return fail(in, FSV_RP_DAMAGED, "values: ':' expected");
        if (end - p >= 4 && memcmp(p, "null", 4) == 0)
            p += 4;
        else if (!get_jstr(in, &p, end, &x->val))
            return 0;
        if (!x->key[0] || (*n > 1 && strcmp((*out)[*n - 2].key, x->key) >= 0))
            return fail(in, FSV_RP_DAMAGED, "values: field names out of order");
    }
    if (p >= end || p + 1 != end)
        return fail(in, FSV_RP_DAMAGED, "values: trailing bytes");
    return 1;
}

static void free_pairs(jpair *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].key);
        free(v[i].val);
    }
    free(v);
}

static int get_name(rp_in *in, const fsv_regpack_dict *d, char **out)
{
    uint64_t id;
    *out = NULL;
    if (!get_varint(in, &id))
        return 0;
    const char *name = id ? d->lookup(d->ud, id) : NULL;
    if (!name)
        return fail(in, FSV_RP_DAMAGED, "unknown name id %llu",
                    (unsigned long long)id);
    if (!(*out = strdup(name)))
        return fail(in, FSV_RP_NOMEM, "out of memory");
    return 1;
}

static int get_counter(rp_in *in, uint64_t *c)
{
    if (!get_varint(in, c))
        return 0;
    if (*c < 1 || *c > RP_MAX_COUNTER)
        return fail(in, FSV_RP_DAMAGED, "a counter out of range");
    return 1;
}

static int get_version(rp_in *in, const fsv_regpack_dict *d, fdsp_change *v,
                       int winner, uint64_t *prev)
{
    uint64_t z, len;
    if (!get_name(in, d, &v->device) || !get_name(in, d, &v->user) ||
        !get_varint(in, &z))
        return 0;
    int64_t delta = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
    v->hlc = *prev + (uint64_t)delta;
    *prev = v->hlc;
    if (v->hlc > (uint64_t)INT64_MAX)
        return fail(in, FSV_RP_DAMAGED, "a clock out of range");
    if (!winner) {
        if (!get_varint(in, &len))
            return 0;
        if (len) {
            len--;
            if (len > (uint64_t)(in->end - in->p))
                return fail(in, FSV_RP_DAMAGED, "registers end early");
            if (!utf8_ok(in->p, (size_t)len))
                return fail(in, FSV_RP_DAMAGED, "a value is not UTF-8");
            if (!(v->value = malloc((size_t)len + 1)))
                return fail(in, FSV_RP_NOMEM, "out of memory");
            memcpy(v->value, in->p, (size_t)len);
            v->value[len] = '\0';
            in->p += len;
        }
    }
    uint64_t nvv;
    if (!get_varint(in, &nvv))
        return 0;
    size_t n = nvv ? (size_t)nvv : 1;
    if (nvv > (uint64_t)(in->end - in->p) || n > FDSP_MAX_VV)
        return fail(in, FSV_RP_DAMAGED, "a bad version vector");
    if (!(v->vv.e = calloc(n, sizeof *v->vv.e)))
        return fail(in, FSV_RP_NOMEM, "out of memory");
    if (!nvv) {
        v->vv.n = 1;
        if (!(v->vv.e[0].device = strdup(v->device)))
            return fail(in, FSV_RP_NOMEM, "out of memory");
        return get_counter(in, &v->vv.e[0].counter);
    }
    for (size_t e = 0; e < n; e++) {
        v->vv.n = e + 1;
        if (!get_name(in, d, &v->vv.e[e].device) ||
            !get_counter(in, &v->vv.e[e].counter))
            return 0;
        if (e && strcmp(v->vv.e[e - 1].device, v->vv.e[e].device) >= 0)
            return fail(in, FSV_RP_DAMAGED, "a version vector out of order");
    }
    return 1;
}

void fsv_regpack_free(fsv_regpack_field *f, size_t n)
{
    for (size_t i = 0; f && i < n; i++) {
        free(f[i].name);
        fds_register_clear(&f[i].reg);
    }
    free(f);
}

int fsv_regpack_decode(const char *vals, size_t vals_len,
                       const unsigned char *blob, size_t blob_len,
                       const fsv_regpack_dict *d, fsv_regpack_field **out,
                       size_t *n, char *err, size_t errlen)
{
    rp_in in = {blob, blob + blob_len, err, errlen, FSV_RP_OK};
    jpair *kv = NULL;
    size_t nkv = 0, got = 0;
    fsv_regpack_field *f = NULL;
    uint64_t nf, prev = 0;
    *out = NULL;
    *n = 0;
    if (errlen)
        err[0] = '\0';
    if (!vals || !blob) {
        fail(&in, FSV_RP_DAMAGED, "registers missing");
        goto done;
    }
    if (!parse_vals(&in, vals, vals_len, &kv, &nkv))
        goto done;
    if (in.p >= in.end || *in.p++ != RP_FORMAT) {
        fail(&in, FSV_RP_DAMAGED, "registers: unknown format");
        goto done;
    }
    if (!get_varint(&in, &nf))
        goto done;
    if (nf != nkv) {
        fail(&in, FSV_RP_DAMAGED, "registers: %llu fields, values: %zu",
             (unsigned long long)nf, nkv);
        goto done;
    }
    if (nkv && !(f = calloc(nkv, sizeof *f))) {
        fail(&in, FSV_RP_NOMEM, "out of memory");
        goto done;
    }
    for (got = 0; got < nkv; got++) {
        fsv_regpack_field *x = &f[got];
        uint64_t nv;
        x->name = kv[got].key;
        kv[got].key = NULL;
        if (!get_varint(&in, &nv))
            goto done;
        if (nv == 0 || nv > (uint64_t)(in.end - in.p)) {
            fail(&in, FSV_RP_DAMAGED, "field %s: a bad version count", x->name);
            goto done;
        }
        if (!(x->reg.v = calloc((size_t)nv, sizeof *x->reg.v))) {
            fail(&in, FSV_RP_NOMEM, "out of memory");
            goto done;
        }
        for (size_t k = 0; k < nv; k++) {
            fdsp_change *v = &x->reg.v[k];
            x->reg.n = k + 1;
            if (!get_version(&in, d, v, k == 0, &prev))
                goto done;
            if (k && (x->reg.v[k - 1].hlc < v->hlc ||
                      (x->reg.v[k - 1].hlc == v->hlc &&
                       strcmp(x->reg.v[k - 1].device, v->device) < 0))) {
                fail(&in, FSV_RP_DAMAGED, "field %s: versions out of order",
                     x->name);
                goto done;
            }
        }
        x->reg.v[0].value = kv[got].val;
        kv[got].val = NULL;
    }
    if (in.p != in.end)
        fail(&in, FSV_RP_DAMAGED, "registers: trailing bytes");
done:
    free_pairs(kv, nkv);
    if (in.rc != FSV_RP_OK) {
        fsv_regpack_free(f, f ? nkv : 0);
        return in.rc;
    }
    *out = f;
    *n = nkv;
    return FSV_RP_OK;
}

int fsv_regpack_value(const char *vals, size_t vals_len, const char *field,
                      int *found, char **value)
{
    char err[8];
    rp_in in = {NULL, NULL, err, sizeof err, FSV_RP_OK};
    jpair *kv = NULL;
    size_t n = 0;
    *found = 0;
    *value = NULL;
    if (parse_vals(&in, vals, vals_len, &kv, &n)) {
        for (size_t i = 0; i < n; i++)
            if (strcmp(kv[i].key, field) == 0) {
                *found = 1;
                *value = kv[i].val;
                kv[i].val = NULL;
                break;
            }
    }
    free_pairs(kv, n);
    return in.rc;
}

/* Step over the JSON string at *pp without decoding it; *esc 1 if it has
** escapes.  0 if there is no whole string there. */
static int skip_jstr(const char **pp, const char *end, int *esc)
{
    const char *p = *pp;
    *esc = 0;
    if (p >= end || *p != '"')
        return 0;
    for (p++; p < end && *p != '"'; p++) {
        if (*p == '\\') {
            *esc = 1;
            if (++p >= end)
                return 0;
        }
    }
    if (p >= end)
        return 0;
    *pp = p + 1;
    return 1;
}

int fsv_regpack_find(const char *vals, size_t vals_len, const char *field,
                     int *found, char **value)
{
    char err[8];
    rp_in in = {NULL, NULL, err, sizeof err, FSV_RP_OK};
    const char *p = vals, *end = vals ? vals + vals_len : NULL;
    size_t flen = strlen(field);
    int esc;
    *found = 0;
    *value = NULL;
    if (!vals || p >= end || *p++ != '{')
        return FSV_RP_DAMAGED;
    for (int first = 1; p < end && *p != '}'; first = 0) {
        if (!first && *p++ != ',')
            return FSV_RP_DAMAGED;
        const char *key = p;
        if (!skip_jstr(&p, end, &esc))
            return FSV_RP_DAMAGED;
        int match;
        if (!esc) {     /* the usual case: compare in place */
            match = (size_t)(p - key - 2) == flen &&
                    memcmp(key + 1, field, flen) == 0;
        } else {
            char *k = NULL;
            if (!get_jstr(&in, &key, end, &k))
                return in.rc;
            match = strcmp(k, field) == 0;
            free(k);
        }
        if (p >= end || *p++ != ':')
            return FSV_RP_DAMAGED;
        int null = end - p >= 4 && memcmp(p, "null", 4) == 0;
        if (match) {
            *found = 1;
            if (!null && !get_jstr(&in, &p, end, value))
                return in.rc;
            return FSV_RP_OK;
        }
        if (null)
            p += 4;
        else if (!skip_jstr(&p, end, &esc))
            return FSV_RP_DAMAGED;
    }
    return p < end ? FSV_RP_OK : FSV_RP_DAMAGED;
}
