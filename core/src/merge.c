/*
** merge.c — the register merge: pure functions, no storage.
**
** A field register is the set of maximal versions of that field seen so
** far: every pair of versions in it is concurrent (neither vector <= the
** other).  Merging change c:
**   - c.vv <= join(all versions' vv): c was already seen or superseded ->
**     NOOP.  Sound because a device's counter only grows and every write's
**     vector includes all the author had seen of that field, so anything
**     that covers c's own entry has seen c.
**   - otherwise drop every version whose vv <= c.vv, add c; WIN if c is
**     alone, else CONFLICT (both kept).
** The result is the set of maximal elements of everything delivered, which
** does not depend on delivery order or repetition: merge is commutative,
** associative and idempotent.  Versions are sorted by a total order
** (winner first: greater hlc, then greater device id; then vv bytes, value
** and user only to break ties that valid histories never produce), so equal
** sets give byte-equal canonical JSON (fds_register_to_json dumped with
** JSON_COMPACT | JSON_SORT_KEYS).
*/
#include "internal.h"

#include <stdlib.h>
#include <string.h>

/* NULL stays NULL; anything else is duplicated (*oom set on failure). */
static char *dup_or_null(const char *s, int *oom)
{
    if (s == NULL)
        return NULL;
    char *d = strdup(s);
    if (d == NULL)
        *oom = 1;
    return d;
}

/* Copy only what a register keeps of a version: value, vv, hlc, device,
** user.  table/record/field/seq/server_ms are not part of the register, so
** replicas that received the same change by different routes store equal
** bytes. */
static int version_copy(fdsp_change *dst, const fdsp_change *src)
{
    int oom = 0;
    memset(dst, 0, sizeof *dst);
    dst->value = dup_or_null(src->value, &oom);
    dst->device = dup_or_null(src->device ? src->device : "", &oom);
    dst->user = dup_or_null(src->user ? src->user : "", &oom);
    dst->hlc = src->hlc;
    if (!oom && fds__vv_copy(&dst->vv, &src->vv) != FDS_OK)
        oom = 1;
    if (oom) {
        fdsp_change_clear(dst);
        return FDS_NOMEM;
    }
    return FDS_OK;
}

static int strcmp_null(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return (a != NULL) - (b != NULL);
    return strcmp(a, b);
}

/* Lexicographic order of two sorted vectors (tie-breaker only). */
static int vv_order(const fdsp_vv *a, const fdsp_vv *b)
{
    for (size_t i = 0; i < a->n && i < b->n; i++) {
        int c = strcmp(a->e[i].device, b->e[i].device);
        if (c)
            return c;
        if (a->e[i].counter != b->e[i].counter)
            return a->e[i].counter < b->e[i].counter ? -1 : 1;
    }
    return (a->n > b->n) - (a->n < b->n);
}

/* qsort order: winner first. */
static int version_order(const void *pa, const void *pb)
{
    const fdsp_change *a = pa, *b = pb;
    if (a->hlc != b->hlc)
        return a->hlc > b->hlc ? -1 : 1;
    int c = strcmp_null(a->device, b->device);
    if (c)
        return -c;
    c = vv_order(&a->vv, &b->vv);
    if (c)
        return c;
    c = strcmp_null(a->value, b->value);
    if (c)
        return c;
    return strcmp_null(a->user, b->user);
}

void fds_register_clear(fds_register *reg)
{
    if (reg == NULL)
        return;
    for (size_t i = 0; i < reg->n; i++)
        fdsp_change_clear(&reg->v[i]);
    free(reg->v);
    reg->v = NULL;
    reg->n = 0;
}

int fds_register_vv(const fds_register *reg, fdsp_vv *out)
{
    fdsp_vv acc = {0, NULL};
    for (size_t i = 0; reg && i < reg->n; i++) {
        fdsp_vv t = {0, NULL};
        if (fds_vv_join(&acc, &reg->v[i].vv, &t) != FDS_OK) {
            fdsp_vv_clear(&acc);
            return FDS_NOMEM;
        }
        fdsp_vv_clear(&acc);
        acc = t;
    }
    fdsp_vv_clear(out);
    *out = acc;
    return FDS_OK;
}

int fds_merge(const fds_register *s, const fdsp_change *c,
              fds_register *out, int *outcome)
{
    static const fds_register empty = {0, NULL};
    if (s == NULL)
        s = &empty;
    if (c == NULL || out == NULL || outcome == NULL || c->device == NULL)
        return FDS_INVALID;
    out->n = 0;
    out->v = NULL;

    fdsp_vv seen = {0, NULL};
    if (fds_register_vv(s, &seen) != FDS_OK)
        return FDS_NOMEM;
    int noop = fds__vv_leq(&c->vv, &seen);
    fdsp_vv_clear(&seen);

    out->v = calloc(s->n + 1, sizeof *out->v);
    if (out->v == NULL)
        return FDS_NOMEM;
    for (size_t i = 0; i < s->n; i++) {
        if (!noop && fds__vv_leq(&s->v[i].vv, &c->vv))
            continue;               /* superseded by c */
        if (version_copy(&out->v[out->n], &s->v[i]) != FDS_OK)
            goto oom;
        out->n++;
    }
    if (noop) {
        *outcome = FDS_MERGE_NOOP;
    } else {
        if (version_copy(&out->v[out->n], c) != FDS_OK)
            goto oom;
        out->n++;
        *outcome = out->n == 1 ? FDS_MERGE_WIN : FDS_MERGE_CONFLICT;
    }
    qsort(out->v, out->n, sizeof *out->v, version_order);
    return FDS_OK;
oom:
    fds_register_clear(out);
    return FDS_NOMEM;
}

int fds_register_in_conflict(const fds_register *reg)
{
    for (size_t i = 1; reg && i < reg->n; i++)
        if (strcmp_null(reg->v[0].value, reg->v[i].value) != 0)
            return 1;
    return 0;
}

json_t *fds_register_to_json(const fds_register *reg)
{
    json_t *a = json_array();
    for (size_t i = 0; a && reg && i < reg->n; i++) {
        const fdsp_change *v = &reg->v[i];
        /* Made first and checked: "o?" would turn a value or vector that
        ** could not be made (out of memory) into a silent null.  A value
        ** that is not UTF-8 is null by definition (what jansson makes of
        ** it; test_regdump's fallbacks). */
        json_t *val = v->value && fds__utf8_valid(v->value, strlen(v->value))
                      ? json_string(v->value) : json_null();
        json_t *vv = fds__vv_to_json(&v->vv);
        json_t *o = val && vv ? json_pack("{s:s, s:I, s:s, s:o, s:o}",
                                          "d", v->device ? v->device : "",
                                          "h", (json_int_t)v->hlc,
                                          "u", v->user ? v->user : "",
                                          "v", val, "vv", vv)
                              : NULL;
        if (!val || !vv) {
            json_decref(val);
            json_decref(vv);
        }
        if (o == NULL || json_array_append_new(a, o) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

int fds_register_from_json(const json_t *j, fds_register *out)
{
    out->n = 0;
    out->v = NULL;
    if (!json_is_array(j))
        return FDS_INVALID;
    size_t n = json_array_size(j);
    if (n == 0)
        return FDS_OK;
    out->v = calloc(n, sizeof *out->v);
    if (out->v == NULL)
        return FDS_NOMEM;
    int rc = FDS_OK;
    for (size_t i = 0; i < n && rc == FDS_OK; i++) {
        json_t *o = json_array_get(j, i);
        json_t *d = json_object_get(o, "d"), *h = json_object_get(o, "h");
        json_t *u = json_object_get(o, "u"), *v = json_object_get(o, "v");
        json_t *vv = json_object_get(o, "vv");
        if (!json_is_string(d) || !json_is_integer(h) ||
            (u && !json_is_string(u)) || (v && !json_is_string(v) && !json_is_null(v))) {
            rc = FDS_INVALID;
            break;
        }
        fdsp_change *c = &out->v[out->n++];
        c->device = strdup(json_string_value(d));
        c->user = strdup(u ? json_string_value(u) : "");
        c->value = json_is_string(v) ? strdup(json_string_value(v)) : NULL;
        c->hlc = (uint64_t)json_integer_value(h);
        if (!c->device || !c->user || (json_is_string(v) && !c->value))
            rc = FDS_NOMEM;
        else
            rc = fds__vv_from_json(vv, &c->vv);
    }
    if (rc != FDS_OK) {
        fds_register_clear(out);
        return rc;
    }
    qsort(out->v, out->n, sizeof *out->v, version_order);
    return FDS_OK;
}

/* The canonical text as fds__register_dump writes it, parsed without a
** jansson tree: 1 ok, 0 not in that exact shape (fall back), -1 no memory. */
static int parse_fast(const char *text, fds_register *out)
{
    const char *p = text;
    size_t cap = 0;
    int rc = 1;
    out->n = 0;
    out->v = NULL;
    if (*p++ != '[')
        return 0;
    while (*p != ']') {
        if (out->n > 0 && *p++ != ',') {
            rc = 0;
            break;
        }
        if (out->n == cap) {
            size_t ncap = cap ? cap * 2 : 2;
            fdsp_change *v = realloc(out->v, ncap * sizeof *v);
            if (v == NULL) {
                rc = -1;
                break;
            }
            out->v = v;
            cap = ncap;
        }
        fdsp_change *c = &out->v[out->n];
        memset(c, 0, sizeof *c);
        out->n++;
        int64_t h;
        if (strncmp(p, "{\"d\":", 5) != 0) { rc = 0; break; }
        p += 5;
        if ((rc = fds__parse_str(&p, &c->device)) != 1) break;
        if (strncmp(p, ",\"h\":", 5) != 0) { rc = 0; break; }
        p += 5;
        if (!fds__parse_i64(&p, &h)) { rc = 0; break; }
        c->hlc = (uint64_t)h;
        if (strncmp(p, ",\"u\":", 5) != 0) { rc = 0; break; }
        p += 5;
        if ((rc = fds__parse_str(&p, &c->user)) != 1) break;
        if (strncmp(p, ",\"v\":", 5) != 0) { rc = 0; break; }
        p += 5;
        if (strncmp(p, "null", 4) == 0)
            p += 4;
        else if ((rc = fds__parse_str(&p, &c->value)) != 1)
            break;
        if (strncmp(p, ",\"vv\":", 6) != 0) { rc = 0; break; }
        p += 6;
        if ((rc = fds__vv_parse(&p, &c->vv)) != 1) break;
        if (*p++ != '}') { rc = 0; break; }
    }
    if (rc == 1 && p[1] != '\0')
        rc = 0;
    if (rc != 1) {
        fds_register_clear(out);
        return rc;
    }
    if (out->n == 0) {
        free(out->v);
        out->v = NULL;
    } else if (out->n > 1) {
        qsort(out->v, out->n, sizeof *out->v, version_order);
    }
    return 1;
}

int fds_register_parse(const char *text, fds_register *out)
{
    out->n = 0;
    out->v = NULL;
    if (text == NULL)
        return FDS_INVALID;
    int fast = parse_fast(text, out);
    if (fast == 1)
        return FDS_OK;
    if (fast < 0)
        return FDS_NOMEM;
    json_t *j = NULL;
    int rc = fds__json_parse(text, 0, &j, NULL, 0);
    if (rc == FDS_OK)
        rc = fds_register_from_json(j, out);
    json_decref(j);
    return rc;
}

char *fds_register_dump(const fds_register *reg)
{
    return fds__register_dump(reg);
}

/* Keys in sorted order: d, h, u, v, vv.  Anything the hand encoder cannot
** vouch for (a string that is not valid UTF-8, an unsorted vector) takes
** the jansson path, whose output is the definition. */
int fds__register_dump_buf(fds__buf *b, const fds_register *reg)
{
    fds__buf_put(b, "[", 1);
    for (size_t i = 0; reg && i < reg->n; i++) {
        const fdsp_change *v = &reg->v[i];
        fds__buf_put(b, i ? ",{\"d\":" : "{\"d\":", i ? 6 : 5);
        if (!fds__buf_str_utf8(b, v->device ? v->device : ""))
            return 0;
        fds__buf_put(b, ",\"h\":", 5);
        fds__buf_i64(b, (int64_t)v->hlc);
        fds__buf_put(b, ",\"u\":", 5);
        if (!fds__buf_str_utf8(b, v->user ? v->user : ""))
            return 0;
        fds__buf_put(b, ",\"v\":", 5);
        if (v->value) {
            if (!fds__buf_str_utf8(b, v->value))
                return 0;
        } else {
            fds__buf_put(b, "null", 4);
        }
        fds__buf_put(b, ",\"vv\":", 6);
        if (!fds__buf_vv(b, &v->vv))
            return 0;
        fds__buf_put(b, "}", 1);
    }
    fds__buf_put(b, "]", 1);
    return 1;
}

char *fds__register_dump(const fds_register *reg)
{
    fds__buf b = {NULL, 0, 0, 0};
    if (fds__register_dump_buf(&b, reg)) {
        if (!b.oom)
            return b.p;
        free(b.p);
        return NULL;
    }
    free(b.p);
    return fds__register_dump_tree(reg);
}

char *fds__register_dump_tree(const fds_register *reg)
{
    json_t *j = fds_register_to_json(reg);
    if (j == NULL)
        return NULL;
    char *s = fds__json_dump(j, 1);
    json_decref(j);
    return s;
}

char *fds__register_dump_jansson(const fds_register *reg)
{
    json_t *j = fds_register_to_json(reg);
    if (j == NULL)
        return NULL;
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    return s;
}
