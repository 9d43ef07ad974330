/*
** recpack.c — a record's registers packed into one row (schema 4).
**
** A record row (see internal.h) holds
**   vals  the canonical JSON object {field: winning value | null}, keys
**         sorted by strcmp, compact: the bytes json_dumps(JSON_COMPACT |
**         JSON_SORT_KEYS) would give.  SQL reads it with json_extract, so
**         lists and searches stay set-based, and the winner's value is
**         kept once (the schema-3 row kept it twice: `value` and inside
**         `versions`).
**   meta  every field's versions, packed (format 1, below), in the order
**         of vals' keys.  Field names are not repeated: they are vals'.
**
** Meta, format 1 (varint = unsigned LEB128, at most 10 bytes):
**   byte    1                      the format
**   varint  ndev, then ndev devices: varint len, len bytes; len 0 means a
**           canonical lower-case UUID as 16 bytes (every device id the core
**           makes: 36 text bytes become 16)
**   varint  nuser, then nuser users: varint len, len bytes
**   per field, in vals' key order:
**     varint nver (>= 1), then per version (v[0] the winner, as stored):
**       varint device index, varint user index,
**       varint zigzag(hlc - previous hlc of the row, mod 2^64): the first
**              hlc is written whole, the next ones (one action's writes
**              take consecutive hlcs) in a byte or two,
**       varint vv size (1..FDSP_MAX_VV), per entry: varint device index,
**              varint counter (1..2^53); entries strictly sorted by device
**       for v[1..]: byte 0 (null) or 1 then varint len, len bytes: only
**              the versions that lost keep their value here; the winner's
**              is in vals.
** Device ids and users are interned per row, not per replica: a row then
** decodes alone (no table to join or cache, nothing to garbage-collect
** when devices come and go), and a typical record names one or two
** devices.  The same register always packs to the same bytes.
**
** The decoder trusts nothing: every index, length, count and string is
** checked (UTF-8, no NUL, sorted vectors, the blob consumed exactly), so
** a damaged row is an error naming the record, never a partial register
** (fuzz/fuzz_recpack.c; tests/core/test_recpack.c checks round trips
** against the register's JSON form).
*/
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#define META_FORMAT 1
#define MAX_COUNTER (((uint64_t)1) << 53)

/* ---- the record in memory ------------------------------------------------- */

void fds__rec_clear(fds__rec *rec)
{
    for (size_t i = 0; i < rec->n; i++) {
        free(rec->f[i].name);
        fds_register_clear(&rec->f[i].reg);
    }
    free(rec->f);
    free(rec->tbl);
    free(rec->rid);
    memset(rec, 0, sizeof *rec);
}

/* Index of field in rec (sorted), or where it would go (*found 0). */
static size_t locate(const fds__rec *rec, const char *field, int *found)
{
    size_t lo = 0, hi = rec->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(rec->f[mid].name, field);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

fds__field *fds__rec_find(const fds__rec *rec, const char *field)
{
    int found;
    size_t i = locate(rec, field, &found);
    return found ? &rec->f[i] : NULL;
}

static int grow(fds__rec *rec)
{
    if (rec->n < rec->cap)
        return FDS_OK;
    size_t cap = rec->cap ? rec->cap * 2 : 8;
    fds__field *f = realloc(rec->f, cap * sizeof *f);
    if (f == NULL)
        return FDS_NOMEM;
    rec->f = f;
    rec->cap = cap;
    return FDS_OK;
}

int fds__rec_put(fds__rec *rec, const char *field, fds_register *reg)
{
    int found;
    size_t i = locate(rec, field, &found);
    if (found) {
        fds_register_clear(&rec->f[i].reg);
        rec->f[i].reg = *reg;
    } else {
        char *name = strdup(field);
        if (name == NULL || grow(rec) != FDS_OK) {
            free(name);
            return FDS_NOMEM;
        }
        memmove(&rec->f[i + 1], &rec->f[i], (rec->n - i) * sizeof *rec->f);
        rec->f[i].name = name;
        rec->f[i].reg = *reg;
        rec->n++;
    }
    reg->n = 0;
    reg->v = NULL;
    return FDS_OK;
}

void fds__rec_del(fds__rec *rec, const char *field)
{
    int found;
    size_t i = locate(rec, field, &found);
    if (!found)
        return;
    free(rec->f[i].name);
    fds_register_clear(&rec->f[i].reg);
    memmove(&rec->f[i], &rec->f[i + 1], (rec->n - i - 1) * sizeof *rec->f);
    rec->n--;
}

int fds__rec_conflicts(const fds__rec *rec)
{
    int n = 0;
    for (size_t i = 0; i < rec->n; i++)
        n += fds_register_in_conflict(&rec->f[i].reg) != 0;
    return n;
}

int fds__reg_copy(fds_register *dst, const fds_register *src)
{
    dst->n = 0;
    dst->v = NULL;
    if (src->n == 0)
        return FDS_OK;
    dst->v = calloc(src->n, sizeof *dst->v);
    if (dst->v == NULL)
        return FDS_NOMEM;
    for (size_t i = 0; i < src->n; i++) {
        const fdsp_change *s = &src->v[i];
        fdsp_change *d = &dst->v[i];
        dst->n = i + 1;
        d->hlc = s->hlc;
        if ((s->value && !(d->value = strdup(s->value))) ||
            (s->device && !(d->device = strdup(s->device))) ||
            (s->user && !(d->user = strdup(s->user))) ||
            fds__vv_copy(&d->vv, &s->vv) != FDS_OK) {
            fds_register_clear(dst);
            return FDS_NOMEM;
        }
    }
    return FDS_OK;
}

/* ---- varints and interning ------------------------------------------------ */

static void put_varint(fds__buf *b, uint64_t v)
{
    char tmp[10];
    size_t n = 0;
    do {
        unsigned char c = v & 0x7f;
        v >>= 7;
        tmp[n++] = (char)(v ? c | 0x80 : c);
    } while (v);
    fds__buf_put(b, tmp, n);
}

static void put_bytes(fds__buf *b, const char *s, size_t n)
{
    put_varint(b, n);
    fds__buf_put(b, s, n);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* 1 and out[16] if s is a canonical lower-case UUID text. */
static int uuid_pack(const char *s, unsigned char out[16])
{
    if (strlen(s) != 36)
        return 0;
    size_t k = 0;
    for (size_t i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
            continue;
        }
        int hi = hexval(s[i]), lo = hexval(s[i + 1]);
        if (hi < 0 || lo < 0)
            return 0;
        out[k++] = (unsigned char)(hi << 4 | lo);
        i++;
    }
    return 1;
}

static void uuid_unpack(const unsigned char in[16], char out[37])
{
    static const char hex[] = "0123456789abcdef";
    size_t k = 0;
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[k++] = '-';
        out[k++] = hex[in[i] >> 4];
        out[k++] = hex[in[i] & 15];
    }
    out[k] = '\0';
}

typedef struct intern {
    const char **s;
    size_t n, cap;
} intern;

/* Index of s in t, added if new; -1 out of memory. */
static long intern_of(intern *t, const char *s)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->s[i], s) == 0)
            return (long)i;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 8;
        const char **p = realloc(t->s, cap * sizeof *p);
        if (p == NULL)
            return -1;
        t->s = p;
        t->cap = cap;
    }
    t->s[t->n] = s;
    return (long)t->n++;
}

/* ---- encoding -------------------------------------------------------------- */

int fds__rec_encode(const fds__rec *rec, fds__buf *vals, fds__buf *meta)
{
    intern dev = {NULL, 0, 0}, usr = {NULL, 0, 0};
    int rc = FDS_OK;
    vals->n = 0;
    vals->oom = 0;
    meta->n = 0;
    meta->oom = 0;

    /* vals, and the tables in order of first use */
    fds__buf_put(vals, "{", 1);
    for (size_t i = 0; rc == FDS_OK && i < rec->n; i++) {
        const fds__field *f = &rec->f[i];
        if (f->reg.n == 0) {
            rc = FDS_INVALID;           /* an empty register is no row */
            break;
        }
        if (i > 0)
            fds__buf_put(vals, ",", 1);
        if (!fds__buf_str_utf8(vals, f->name)) {
            rc = FDS_INVALID;
            break;
        }
        fds__buf_put(vals, ":", 1);
        const char *w = f->reg.v[0].value;
        if (w == NULL)
            fds__buf_put(vals, "null", 4);
        else if (!fds__buf_str_utf8(vals, w))
            rc = FDS_INVALID;
        for (size_t j = 0; rc == FDS_OK && j < f->reg.n; j++) {
            const fdsp_change *v = &f->reg.v[j];
            if (!v->device || !v->device[0] || v->vv.n == 0 ||
                v->vv.n > FDSP_MAX_VV) {
                rc = FDS_INVALID;
                break;
            }
            if (intern_of(&dev, v->device) < 0 ||
                intern_of(&usr, v->user ? v->user : "") < 0)
                rc = FDS_NOMEM;
            for (size_t k = 0; rc == FDS_OK && k < v->vv.n; k++) {
                const char *d = v->vv.e[k].device;
                if (!d || !d[0])
                    rc = FDS_INVALID;
                else if (intern_of(&dev, d) < 0)
                    rc = FDS_NOMEM;
            }
        }
    }
    fds__buf_put(vals, "}", 1);

    if (rc == FDS_OK) {
        char fmt = META_FORMAT;
        fds__buf_put(meta, &fmt, 1);
        put_varint(meta, dev.n);
        for (size_t i = 0; i < dev.n; i++) {
            unsigned char u[16];
            if (uuid_pack(dev.s[i], u)) {
                put_varint(meta, 0);
                fds__buf_put(meta, (const char *)u, 16);
            } else {
                put_bytes(meta, dev.s[i], strlen(dev.s[i]));
            }
        }
        put_varint(meta, usr.n);
        for (size_t i = 0; i < usr.n; i++)
            put_bytes(meta, usr.s[i], strlen(usr.s[i]));
        uint64_t prev = 0;
        for (size_t i = 0; i < rec->n; i++) {
            const fds_register *reg = &rec->f[i].reg;
            put_varint(meta, reg->n);
            for (size_t j = 0; j < reg->n; j++) {
                const fdsp_change *v = &reg->v[j];
                put_varint(meta, (uint64_t)intern_of(&dev, v->device));
                put_varint(meta, (uint64_t)intern_of(&usr,
                                                     v->user ? v->user : ""));
                int64_t d = (int64_t)(v->hlc - prev);
                put_varint(meta, ((uint64_t)d << 1) ^ (uint64_t)(d >> 63));
                prev = v->hlc;
                put_varint(meta, v->vv.n);
                for (size_t k = 0; k < v->vv.n; k++) {
                    put_varint(meta,
                               (uint64_t)intern_of(&dev, v->vv.e[k].device));
                    put_varint(meta, v->vv.e[k].counter);
                }
                if (j == 0)
                    continue;
                if (v->value == NULL) {
                    fds__buf_put(meta, "\0", 1);
                } else {
                    if (!fds__utf8_valid(v->value, strlen(v->value)))
                        rc = FDS_INVALID;
                    fds__buf_put(meta, "\1", 1);
                    put_bytes(meta, v->value, strlen(v->value));
                }
            }
        }
    }
    free(dev.s);
    free(usr.s);
    if (rc == FDS_OK && (vals->oom || meta->oom))
        rc = FDS_NOMEM;
    return rc;
}

/* ---- decoding -------------------------------------------------------------- */

typedef struct rd {
    const unsigned char *p, *end;
} rd;

static int get_varint(rd *r, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (r->p >= r->end)
            return 0;
        unsigned char c = *r->p++;
        if (shift == 63 && (c & 0x7e))
            return 0;                   /* more than 64 bits */
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            /* canonical: no trailing zero byte after the first */
            if (c == 0 && shift > 0)
                return 0;
            *out = v;
            return 1;
        }
    }
    return 0;
}

/* A length-prefixed string (malloc'd, NUL-terminated) that is UTF-8
** jansson accepts; 0 damage, -1 out of memory. */
static int get_str(rd *r, size_t max, char **out)
{
    uint64_t n;
    if (!get_varint(r, &n) || n > max || n > (uint64_t)(r->end - r->p))
        return 0;
    if (!fds__utf8_valid((const char *)r->p, (size_t)n))
        return 0;
    char *s = malloc((size_t)n + 1);
    if (s == NULL)
        return -1;
    memcpy(s, r->p, (size_t)n);
    s[n] = '\0';
    r->p += n;
    *out = s;
    return 1;
}

typedef struct table {
    char **s;
    size_t n;
} table;

static void table_free(table *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->s[i]);
    free(t->s);
}

/* ndev/nuser entries; 0 damage, -1 out of memory. */
static int get_table(rd *r, int devices, table *t)
{
    uint64_t n;
    t->s = NULL;
    t->n = 0;
    /* each entry takes at least one byte: bounds n by what is left */
    if (!get_varint(r, &n) || n > (uint64_t)(r->end - r->p))
        return 0;
    if (n == 0)
        return devices ? 0 : 1;     /* a version names at least a device */
    t->s = calloc((size_t)n, sizeof *t->s);
    if (t->s == NULL)
        return -1;
    for (uint64_t i = 0; i < n; i++) {
        if (devices && r->p < r->end && *r->p == 0) {
            r->p++;
            if (r->end - r->p < 16)
                return 0;
            if ((t->s[i] = malloc(37)) == NULL)
                return -1;
            t->n = (size_t)i + 1;
            uuid_unpack(r->p, t->s[i]);
            r->p += 16;
        } else {
            int g = get_str(r, FDSP_MAX_ID, &t->s[i]);
            if (g <= 0)
                return g;
            t->n = (size_t)i + 1;
            if (devices && t->s[i][0] == '\0')
                return 0;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(t->s[j], t->s[i]) == 0)
                return 0;               /* interned twice */
    }
    return 1;
}

static char *dup_entry(const table *t, uint64_t i, int *bad, int borrow)
{
    if (i >= t->n) {
        *bad = 1;
        return NULL;
    }
    if (borrow)
        return t->s[i];
    char *s = strdup(t->s[i]);
    if (s == NULL)
        *bad = -1;
    return s;
}

/* Parse canonical vals into rec's fields (names and winners; registers
** with one version holding only the value).  0 damage, -1 OOM. */
static int parse_vals(const char *text, size_t len, fds__rec *rec)
{
    const char *p = text;
    if (text == NULL || *p++ != '{')
        return 0;
    if (*p == '}')
        return 0;                       /* a row holds at least one field */
    for (;;) {
        char *name = NULL, *value = NULL;
        int g = fds__parse_str(&p, &name);
        if (g <= 0)
            return g;
        /* fds__parse_str returns only valid UTF-8 without NUL: no need
        ** to check the name or the value again. */
        if (name[0] == '\0' || strlen(name) > FDSP_MAX_NAME ||
            (rec->n > 0 && strcmp(rec->f[rec->n - 1].name, name) >= 0) ||
            *p++ != ':') {
            free(name);
            return 0;
        }
        if (strncmp(p, "null", 4) == 0) {
            p += 4;
        } else if ((g = fds__parse_str(&p, &value)) <= 0) {
            free(name);
            free(value);
            return g < 0 ? -1 : 0;
        }
        fdsp_change *v = calloc(1, sizeof *v);
        if (v == NULL || grow(rec) != FDS_OK) {
            free(v);
            free(name);
            free(value);
            return -1;
        }
        v->value = value;
        rec->f[rec->n].name = name;
        rec->f[rec->n].reg.n = 1;
        rec->f[rec->n].reg.v = v;
        rec->n++;
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p++ != '}')
            return 0;
        return (size_t)(p - text) == len;
    }
}

static int vv_sorted(const fdsp_vv *vv)
{
    for (size_t i = 1; i < vv->n; i++)
        if (strcmp(vv->e[i - 1].device, vv->e[i].device) >= 0)
            return 0;
    return 1;
}

/* Frees what a borrowing decode allocated: names, values, vector arrays;
** the device and user strings belong to the tables. */
static void clear_borrowed(fds__rec *rec)
{
    for (size_t i = 0; i < rec->n; i++) {
        fds_register *reg = &rec->f[i].reg;
        for (size_t j = 0; j < reg->n; j++) {
            free(reg->v[j].value);
            free(reg->v[j].vv.e);
        }
        free(reg->v);
        free(rec->f[i].name);
    }
    free(rec->f);
    free(rec->tbl);
    free(rec->rid);
    memset(rec, 0, sizeof *rec);
}

void fds__rec_clear_view(fds__rec *rec, fds__rec_strs *strs)
{
    clear_borrowed(rec);
    for (int k = 0; k < 2; k++) {
        table t = {strs->s[k], strs->n[k]};
        table_free(&t);
        strs->s[k] = NULL;
        strs->n[k] = 0;
    }
}

/* borrow: point the versions' strings into the tables (handed to *strs on
** success) instead of copying them; the checks are the same. */
static int decode(const char *vals, size_t vlen, const unsigned char *meta,
                  size_t mlen, fds__rec *out, const char **why,
                  fds__rec_strs *strs)
{
    const int borrow = strs != NULL;
    table dev = {NULL, 0}, usr = {NULL, 0};
    rd r = {meta, meta ? meta + mlen : NULL};
    int rc = FDS_OK, g;
    *why = NULL;
    out->f = NULL;
    out->n = out->cap = 0;
    out->dirty = 0;
#define DAMAGE(w) do { *why = (w); rc = FDS_INVALID; goto done; } while (0)
#define TRY(expr, w) do { g = (expr); if (g < 0) { rc = FDS_NOMEM; goto done; } \
                          if (g == 0) DAMAGE(w); } while (0)
    TRY(parse_vals(vals, vlen, out), "its values are not canonical JSON");
    if (out->n == 0)
        DAMAGE("it has no fields");
    if (meta == NULL || mlen == 0 || *r.p++ != META_FORMAT)
        DAMAGE("its versions are not in a known format");
    TRY(get_table(&r, 1, &dev), "its device table is damaged");
    TRY(get_table(&r, 0, &usr), "its user table is damaged");
    uint64_t prev = 0;
    for (size_t i = 0; i < out->n; i++) {
        fds_register *reg = &out->f[i].reg;
        uint64_t nver;
        if (!get_varint(&r, &nver) || nver == 0 ||
            nver > (uint64_t)(r.end - r.p))
            DAMAGE("a field's version count is damaged");
        fdsp_change *v = realloc(reg->v, (size_t)nver * sizeof *v);
        if (v == NULL) {
            rc = FDS_NOMEM;
            goto done;
        }
        memset(v + 1, 0, ((size_t)nver - 1) * sizeof *v);
        reg->v = v;
        reg->n = (size_t)nver;
        for (size_t j = 0; j < reg->n; j++) {
            fdsp_change *c = &reg->v[j];
            uint64_t di, ui, zz, vn;
            int bad = 0;
            if (!get_varint(&r, &di) || !get_varint(&r, &ui) ||
                !get_varint(&r, &zz) || !get_varint(&r, &vn))
                DAMAGE("a version is cut short");
            c->device = dup_entry(&dev, di, &bad, borrow);
            if (bad == 0)
                c->user = dup_entry(&usr, ui, &bad, borrow);
            if (bad < 0) {
                rc = FDS_NOMEM;
                goto done;
            }
            if (bad)
                DAMAGE("a version names a device or user it does not hold");
            uint64_t d = (zz >> 1) ^ (uint64_t)-(int64_t)(zz & 1);
            c->hlc = prev + d;
            prev = c->hlc;
            if (vn == 0 || vn > FDSP_MAX_VV || vn > (uint64_t)(r.end - r.p))
                DAMAGE("a version has a bad vector");
            c->vv.e = calloc((size_t)vn, sizeof *c->vv.e);
            if (c->vv.e == NULL) {
                rc = FDS_NOMEM;
                goto done;
            }
            for (size_t k = 0; k < vn; k++) {
                uint64_t idx, ctr;
                if (!get_varint(&r, &idx) || !get_varint(&r, &ctr) ||
                    ctr == 0 || ctr > MAX_COUNTER)
                    DAMAGE("a version has a bad vector");
                c->vv.e[k].device = dup_entry(&dev, idx, &bad, borrow);
                if (bad < 0) {
                    rc = FDS_NOMEM;
                    goto done;
                }
                if (bad)
                    DAMAGE("a version has a bad vector");
                c->vv.e[k].counter = ctr;
                c->vv.n = k + 1;
            }
            if (!vv_sorted(&c->vv))
                DAMAGE("a version has a bad vector");
            if (j == 0)
                continue;
            if (r.p >= r.end)
                DAMAGE("a version is cut short");
            unsigned char tag = *r.p++;
            if (tag == 1) {
                TRY(get_str(&r, FDSP_MAX_VALUE, &c->value),
                    "a version's value is damaged");
            } else if (tag != 0) {
                DAMAGE("a version's value is damaged");
            }
        }
    }
    if (r.p != r.end)
        DAMAGE("its versions have trailing bytes");
done:
#undef DAMAGE
#undef TRY
    if (rc != FDS_OK) {
        char *t = out->tbl, *id = out->rid;
        out->tbl = out->rid = NULL;
        if (borrow)
            clear_borrowed(out);
        else
            fds__rec_clear(out);
        out->tbl = t;
        out->rid = id;
    }
    if (borrow && rc == FDS_OK) {
        strs->s[0] = dev.s;
        strs->n[0] = dev.n;
        strs->s[1] = usr.s;
        strs->n[1] = usr.n;
    } else {
        table_free(&dev);
        table_free(&usr);
    }
    return rc;
}

int fds__rec_decode(const char *vals, size_t vlen, const unsigned char *meta,
                    size_t mlen, fds__rec *out, const char **why)
{
    return decode(vals, vlen, meta, mlen, out, why, NULL);
}

int fds__rec_decode_view(const char *vals, size_t vlen,
                         const unsigned char *meta, size_t mlen,
                         fds__rec *out, const char **why,
                         fds__rec_strs *strs)
{
    strs->s[0] = strs->s[1] = NULL;
    strs->n[0] = strs->n[1] = 0;
    return decode(vals, vlen, meta, mlen, out, why, strs);
}

int fds__rec_parse(fds_replica *r, const char *tbl, const char *rid,
                   const char *vals, size_t vlen, const void *meta,
                   size_t mlen, fds__rec *out)
{
    const char *why = NULL;
    int rc = fds__rec_decode(vals, vlen, meta, mlen, out, &why);
    if (rc == FDS_NOMEM)
        return fds__error(r, rc, "out of memory");
    if (rc != FDS_OK)
        return fds__error(r, FDS_DB, "record %s/%s is corrupt: %s", tbl, rid,
                          why ? why : "it does not decode");
    return FDS_OK;
}
