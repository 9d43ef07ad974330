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

#include <stdlib.h>
#include <string.h>

uint64_t fds__vv_get(const fdsp_vv *vv, const char *device)
{
    for (size_t i = 0; vv && i < vv->n; i++)
        if (vv->e[i].device && strcmp(vv->e[i].device, device) == 0)
            return vv->e[i].counter;
    return 0;
}

void fds__vv_clear(fdsp_vv *vv)
{
    if (vv == NULL)
        return;
    for (size_t i = 0; i < vv->n; i++)
        free(vv->e[i].device);
    free(vv->e);
    vv->e = NULL;
    vv->n = 0;
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

int fds__vv_copy(fdsp_vv *dst, const fdsp_vv *src)
{
    dst->n = 0;
    dst->e = NULL;
    if (src == NULL || src->n == 0)
        return FDS_OK;
    dst->e = calloc(src->n, sizeof *dst->e);
    if (dst->e == NULL)
        return FDS_NOMEM;
    for (size_t i = 0; i < src->n; i++) {
        dst->e[i].device = strdup(src->e[i].device ? src->e[i].device : "");
        dst->e[i].counter = src->e[i].counter;
        dst->n++;
        if (dst->e[i].device == NULL) {
            fds__vv_clear(dst);
            return FDS_NOMEM;
        }
    }
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
                fds__vv_clear(&t);
                return FDS_NOMEM;
            }
        }
    }
    fds__vv_clear(out);
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
            fds__vv_clear(out);
            return FDS_INVALID;
        }
        if (fds__vv_set(out, k, (uint64_t)json_integer_value(v)) != FDS_OK) {
            fds__vv_clear(out);
            return FDS_NOMEM;
        }
    }
    return FDS_OK;
}

char *fds__vv_dump(const fdsp_vv *vv)
{
    json_t *j = fds__vv_to_json(vv);
    if (j == NULL)
        return NULL;
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    return s;
}
