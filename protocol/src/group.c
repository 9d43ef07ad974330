/*
** group.c — change groups (PROTOCOL.md §5.1): one record's changes by one
** device written once as a header (t, r, d, u and the first change's vv,
** h, s, at) and entries (f, v and steps from the previous entry).
**
** The rules live here once: which changes an encoder may group and what
** each entry's steps are, and how a decoder applies the steps and refuses
** what breaks a limit.  decode.c and ref/ref_decode.c each read the JSON
** their own way and then call these, so both give the same changes and
** the same error lines; encode.c and ref/ref_encode.c write the same steps.
*/
#include "proto_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- Encoder side ---------------------------------------------------------- */

static int same_str(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

/* NULL and "" are both "no user" on the wire. */
static const char *user_of(const fdsp_change *c)
{
    return c->user != NULL && c->user[0] != '\0' ? c->user : NULL;
}

int fdsp__group_same(const fdsp_change *a, const fdsp_change *b)
{
    return same_str(a->table, b->table) && same_str(a->record, b->record) &&
           same_str(a->device, b->device) && same_str(user_of(a), user_of(b));
}

static const fdsp_vv_entry *vv_find(const fdsp_vv *vv, const char *dev)
{
    for (size_t i = 0; i < vv->n; i++)
        if (strcmp(vv->e[i].device, dev) == 0)
            return &vv->e[i];
    return NULL;
}

/* b - a as a step, if it fits in -2^53..2^53. */
static int step_of(uint64_t a, uint64_t b, int64_t *out)
{
    if (b >= a) {
        if (b - a > (uint64_t)FDSP__MAX_STEP)
            return 0;
        *out = (int64_t)(b - a);
    } else {
        if (a - b > (uint64_t)FDSP__MAX_STEP)
            return 0;
        *out = -(int64_t)(a - b);
    }
    return 1;
}

/* Bytes of an integer as JSON. */
static size_t int_len(int64_t v)
{
    size_t n = v < 0 ? 2 : 1;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    while (u >= 10) {
        u /= 10;
        n++;
    }
    return n;
}

/* Bytes of {"dev":ctr,...} (ids need no escapes), from entries e or from
** the parallel arrays dev and ctr. */
static size_t vv_len(const char *const *dev, const uint64_t *ctr,
                     const fdsp_vv_entry *e, size_t n)
{
    size_t len = 2 + (n > 0 ? n - 1 : 0);
    for (size_t i = 0; i < n; i++)
        len += strlen(e ? e[i].device : dev[i]) + 3 +
               int_len((int64_t)(e ? e[i].counter : ctr[i]));
    return len;
}

/* A group costs 8 bytes more than the plain form of its first change
** (,"g":[{ }] less one comma): an entry joins a group only if it saves
** more than that against its own plain form, so the grouped form is never
** longer than the plain one (the tests and fuzz targets hold the codec to
** it).  In the plain form, h is 23 bytes; 22 is counted, to be safe. */
#define ENTRY_MARGIN 10

static int entry_pays(const fdsp_change *cur, const fdsp__delta *d,
                      int64_t sstep)
{
    const char *u = user_of(cur);
    size_t plain = strlen(cur->table) + 7 + strlen(cur->record) + 7 +
                   6 + vv_len(NULL, NULL, cur->vv.e, cur->vv.n) + 22 +
                   strlen(cur->device) + 7 + (u ? strlen(u) + 7 : 0) +
                   (cur->seq ? 5 + int_len(cur->seq) : 0) +
                   (cur->server_ms ? 6 + int_len(cur->server_ms) : 0);
    size_t entry = (d->vv_default ? 0 : 6 + vv_len(d->dev, d->ctr, NULL,
                                                   d->nd)) +
                   (d->dh != 1 ? 5 + int_len(d->dh) : 0) +
                   (d->ds != sstep ? 5 + int_len(d->ds) : 0) +
                   (d->dat != 0 ? 6 + int_len(d->dat) : 0);
    return entry + ENTRY_MARGIN <= plain;
}

int fdsp__group_delta(const fdsp_change *prev, const fdsp_change *cur,
                      fdsp__delta *d)
{
    /* seq and server_ms are checked 0..2^53: their steps always fit. */
    if (!step_of(prev->hlc, cur->hlc, &d->dh))
        return 0;
    d->ds = cur->seq - prev->seq;
    d->dat = cur->server_ms - prev->server_ms;
    /* The vv delta: cur's entries that prev lacks or counts otherwise,
    ** and prev's devices cur lacks (counter 0), in device order. */
    d->nd = 0;
    for (size_t i = 0; i < cur->vv.n; i++) {
        const fdsp_vv_entry *e = &cur->vv.e[i];
        const fdsp_vv_entry *p = vv_find(&prev->vv, e->device);
        if (p != NULL && p->counter == e->counter)
            continue;
        if (d->nd == FDSP_MAX_VV)
            return 0;
        d->dev[d->nd] = e->device;
        d->ctr[d->nd++] = e->counter;
    }
    for (size_t i = 0; i < prev->vv.n; i++) {
        const fdsp_vv_entry *p = &prev->vv.e[i];
        if (vv_find(&cur->vv, p->device) != NULL)
            continue;
        if (d->nd == FDSP_MAX_VV)
            return 0;
        d->dev[d->nd] = p->device;
        d->ctr[d->nd++] = 0;
    }
    for (size_t i = 1; i < d->nd; i++) {
        const char *dv = d->dev[i];
        uint64_t c = d->ctr[i];
        size_t k = i;
        while (k > 0 && strcmp(d->dev[k - 1], dv) > 0) {
            d->dev[k] = d->dev[k - 1];
            d->ctr[k] = d->ctr[k - 1];
            k--;
        }
        d->dev[k] = dv;
        d->ctr[k] = c;
    }
    /* The usual case, one local action writing field after field: only
    ** the writer's own counter moved, by one. */
    const fdsp_vv_entry *own = vv_find(&prev->vv, cur->device);
    d->vv_default = d->nd == 1 && strcmp(d->dev[0], cur->device) == 0 &&
                    d->ctr[0] == (own != NULL ? own->counter : 0) + 1;
    return 1;
}

size_t fdsp__group_run(const fdsp_change *c, size_t n)
{
    fdsp__delta d;
    size_t k = 1;
    int64_t sstep = fdsp__group_sstep(c[0].seq);
    while (k < n && k < FDSP_MAX_GROUP && fdsp__group_same(&c[0], &c[k]) &&
           fdsp__group_delta(&c[k - 1], &c[k], &d) &&
           entry_pays(&c[k], &d, sstep))
        k++;
    return k;
}

/* ---- Decoder side ---------------------------------------------------------- */

int fdsp__vvd_start(int is_object, size_t n, const char *path, fdsp_vv *out,
                    char *err, size_t errlen)
{
    out->n = 0;
    out->e = NULL;
    if (!is_object)
        return fdsp__fail(err, errlen, FDSP_E_TYPE, path, NULL,
                          "must be an object of device: counter");
    if (n > FDSP_MAX_VV)
        return fdsp__fail(err, errlen, FDSP_E_LIMIT, path, NULL,
                          "more than FDSP_MAX_VV (%d) entries", FDSP_MAX_VV);
    if (n == 0)
        return FDSP_OK;
    out->e = calloc(n, sizeof *out->e);
    if (out->e == NULL)
        return fdsp__fail(err, errlen, FDSP_E_NOMEM, path, NULL,
                          "out of memory");
    return FDSP_OK;
}

int fdsp__vvd_entry(const char *key, size_t keylen, int counter_is_int,
                    int64_t counter, const char *path, char **dev,
                    char *err, size_t errlen)
{
    return fdsp__vv_entry_min(key, keylen, counter_is_int, counter, 0, path,
                              dev, err, errlen);
}

/* Set dev's counter in the sorted vector out (room for FDSP_MAX_VV + 1
** entries), or drop it when ctr is 0.  -1 on OOM. */
static int vv_set(fdsp_vv *out, const char *dev, uint64_t ctr)
{
    size_t k = 0;
    int c = 1;
    while (k < out->n && (c = strcmp(out->e[k].device, dev)) < 0)
        k++;
    if (k < out->n && c == 0) {
        if (ctr != 0) {
            out->e[k].counter = ctr;
        } else {
            free(out->e[k].device);
            memmove(&out->e[k], &out->e[k + 1],
                    (out->n - k - 1) * sizeof *out->e);
            out->n--;
        }
        return 0;
    }
    if (ctr == 0)
        return 0;                   /* dropping a device it lacks: no-op */
    char *d = fdsp__strndup(dev, strlen(dev));
    if (d == NULL)
        return -1;
    memmove(&out->e[k + 1], &out->e[k], (out->n - k) * sizeof *out->e);
    out->e[k].device = d;
    out->e[k].counter = ctr;
    out->n++;
    return 0;
}

int fdsp__group_vv(const fdsp_vv *prev, const char *dev, const fdsp_vv *delta,
                   const char *path, fdsp_vv *out, char *err, size_t errlen)
{
    size_t cap = prev->n + (delta != NULL ? delta->n : 1);
    out->n = 0;
    out->e = calloc(cap > 0 ? cap : 1, sizeof *out->e);
    if (out->e == NULL)
        return fdsp__fail(err, errlen, FDSP_E_NOMEM, path, NULL,
                          "out of memory");
    for (size_t i = 0; i < prev->n; i++) {
        out->e[i].counter = prev->e[i].counter;
        out->e[i].device = fdsp__strndup(prev->e[i].device,
                                         strlen(prev->e[i].device));
        if (out->e[i].device == NULL)
            goto oom;
        out->n = i + 1;
    }
    if (delta == NULL) {
        /* No "vv": the group's device wrote the next field. */
        const fdsp_vv_entry *own = vv_find(prev, dev);
        uint64_t next = (own != NULL ? own->counter : 0) + 1;
        if (next > (uint64_t)FDSP__MAX_INT) {
            fdsp_vv_clear(out);
            return fdsp__fail(err, errlen, FDSP_E_VALUE, path, NULL,
                              "counter must be <= 2^53");
        }
        if (vv_set(out, dev, next) != 0)
            goto oom;
    } else {
        for (size_t i = 0; i < delta->n; i++)
            if (vv_set(out, delta->e[i].device, delta->e[i].counter) != 0)
                goto oom;
    }
    if (out->n == 0) {
        fdsp_vv_clear(out);
        return fdsp__fail(err, errlen, FDSP_E_VALUE, path, NULL,
                          "must not be empty");
    }
    if (out->n > FDSP_MAX_VV) {
        fdsp_vv_clear(out);
        return fdsp__fail(err, errlen, FDSP_E_LIMIT, path, NULL,
                          "more than FDSP_MAX_VV (%d) entries", FDSP_MAX_VV);
    }
    return FDSP_OK;
oom:
    fdsp_vv_clear(out);
    return fdsp__fail(err, errlen, FDSP_E_NOMEM, path, NULL, "out of memory");
}

int fdsp__group_first(const char *path, const char *key, char *err,
                      size_t errlen)
{
    return fdsp__fail(err, errlen, FDSP_E_VALUE, path, key,
                      "the first entry takes the group's vv, h, s and at");
}

int fdsp__group_step_h(uint64_t prev, int64_t step, const char *path,
                       uint64_t *out, char *err, size_t errlen)
{
    if ((step < 0 && prev < (uint64_t)0 - (uint64_t)step) ||
        (step > 0 && UINT64_MAX - prev < (uint64_t)step))
        return fdsp__fail(err, errlen, FDSP_E_VALUE, path, "h",
                          "step leaves the HLC range");
    *out = prev + (uint64_t)step;
    return FDSP_OK;
}

int fdsp__group_step_int(int64_t prev, int64_t step, int64_t lo,
                         const char *path, const char *key, int64_t *out,
                         char *err, size_t errlen)
{
    /* prev and step are within +-2^53: no overflow. */
    int64_t v = prev + step;
    if (v < lo)
        return fdsp__fail(err, errlen, FDSP_E_VALUE, path, key,
                          "step gives %lld, must be >= %lld", (long long)v,
                          (long long)lo);
    if (v > FDSP__MAX_INT)
        return fdsp__fail(err, errlen, FDSP_E_VALUE, path, key,
                          "step gives %lld, must be <= 2^53", (long long)v);
    *out = v;
    return FDSP_OK;
}

int fdsp__group_room(size_t n, size_t room, const char *path,
                     const char *key, char *err, size_t errlen)
{
    if (n > room)
        return fdsp__fail(err, errlen, FDSP_E_LIMIT, path, key,
                          "the message's changes, groups expanded, number "
                          "more than FDSP_MAX_BATCH (%d)", FDSP_MAX_BATCH);
    return FDSP_OK;
}
