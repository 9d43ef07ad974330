/*
** change.c — the change object and its version vector: deep copy, release,
** JSON form in both directions, and the struct checks the encoder uses.
*/
#include "proto_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Copy and release ------------------------------------------------------ */

void fdsp_vv_clear(fdsp_vv *vv)
{
    if (vv == NULL)
        return;
    for (size_t i = 0; i < vv->n; i++)
        free(vv->e[i].device);
    free(vv->e);
    vv->e = NULL;
    vv->n = 0;
}

int fdsp_vv_copy(fdsp_vv *dst, const fdsp_vv *src)
{
    if (dst == NULL)
        return FDSP_E_VALUE;
    dst->n = 0;
    dst->e = NULL;
    if (src == NULL || src->n == 0)
        return FDSP_OK;
    dst->e = calloc(src->n, sizeof *dst->e);
    if (dst->e == NULL)
        return FDSP_E_NOMEM;
    for (size_t i = 0; i < src->n; i++) {
        const char *d = src->e[i].device ? src->e[i].device : "";
        dst->e[i].device = fdsp__strndup(d, strlen(d));
        dst->e[i].counter = src->e[i].counter;
        dst->n = i + 1;
        if (dst->e[i].device == NULL) {
            fdsp_vv_clear(dst);
            return FDSP_E_NOMEM;
        }
    }
    return FDSP_OK;
}

void fdsp_change_clear(fdsp_change *c)
{
    if (c == NULL)
        return;
    free(c->table);
    free(c->record);
    free(c->field);
    free(c->value);
    fdsp_vv_clear(&c->vv);
    free(c->device);
    free(c->user);
    memset(c, 0, sizeof *c);
}

/* NULL stays NULL; anything else is duplicated (*ok cleared on OOM). */
static char *dup_or_null(const char *s, int *ok)
{
    if (s == NULL)
        return NULL;
    char *p = fdsp__strndup(s, strlen(s));
    if (p == NULL)
        *ok = 0;
    return p;
}

int fdsp_change_copy(fdsp_change *dst, const fdsp_change *src)
{
    int ok = 1;
    if (dst == NULL)
        return FDSP_E_VALUE;
    memset(dst, 0, sizeof *dst);
    if (src == NULL)
        return FDSP_OK;
    dst->table = dup_or_null(src->table, &ok);
    dst->record = dup_or_null(src->record, &ok);
    dst->field = dup_or_null(src->field, &ok);
    dst->value = dup_or_null(src->value, &ok);
    dst->device = dup_or_null(src->device, &ok);
    dst->user = dup_or_null(src->user, &ok);
    dst->hlc = src->hlc;
    dst->seq = src->seq;
    dst->server_ms = src->server_ms;
    if (ok && fdsp_vv_copy(&dst->vv, &src->vv) != FDSP_OK)
        ok = 0;
    if (!ok) {
        fdsp_change_clear(dst);
        return FDSP_E_NOMEM;
    }
    return FDSP_OK;
}

/* ---- Struct checks (encoder side) ----------------------------------------- */

int fdsp__check_vv(const fdsp_vv *vv)
{
    if (vv->n == 0)
        return FDSP_E_VALUE;
    if (vv->n > FDSP_MAX_VV)
        return FDSP_E_LIMIT;
    if (vv->e == NULL)
        return FDSP_E_VALUE;
    for (size_t i = 0; i < vv->n; i++) {
        int rc = fdsp__check_cstr(vv->e[i].device, FDSP__ID, 1);
        if (rc == FDSP_E_MISSING)
            rc = FDSP_E_VALUE;
        if (rc != FDSP_OK)
            return rc;
        if (vv->e[i].counter < 1 || vv->e[i].counter > (uint64_t)FDSP__MAX_INT)
            return FDSP_E_VALUE;
        /* n <= FDSP_MAX_VV, so the quadratic scan is bounded and small. */
        for (size_t k = 0; k < i; k++)
            if (strcmp(vv->e[k].device, vv->e[i].device) == 0)
                return FDSP_E_VALUE;
    }
    return FDSP_OK;
}

int fdsp__check_change(const fdsp_change *c, int need_seq)
{
    int rc;
    if ((rc = fdsp__check_cstr(c->table, FDSP__NAME, 1)) != FDSP_OK ||
        (rc = fdsp__check_cstr(c->record, FDSP__ID, 1)) != FDSP_OK ||
        (rc = fdsp__check_cstr(c->field, FDSP__NAME, 1)) != FDSP_OK ||
        (rc = fdsp__check_cstr(c->value, FDSP__VALUE, 0)) != FDSP_OK ||
        (rc = fdsp__check_vv(&c->vv)) != FDSP_OK ||
        (rc = fdsp__check_cstr(c->device, FDSP__ID, 1)) != FDSP_OK)
        return rc;
    /* "" means "not set": the server fills the user in from the token. */
    if (c->user != NULL && c->user[0] != '\0' &&
        (rc = fdsp__check_cstr(c->user, FDSP__ID, 1)) != FDSP_OK)
        return rc;
    if ((rc = fdsp__check_int(c->seq, need_seq ? 1 : 0, FDSP__MAX_INT,
                              FDSP_E_VALUE)) != FDSP_OK)
        return rc;
    return fdsp__check_int(c->server_ms, 0, FDSP__MAX_INT, FDSP_E_VALUE);
}

/* ---- To JSON ----------------------------------------------------------------- */

static int cmp_entry_ptr(const void *a, const void *b)
{
    const fdsp_vv_entry *x = *(const fdsp_vv_entry *const *)a;
    const fdsp_vv_entry *y = *(const fdsp_vv_entry *const *)b;
    return strcmp(x->device, y->device);
}

json_t *fdsp_vv_to_json(const fdsp_vv *vv)
{
    json_t *o = json_object();
    const fdsp_vv_entry **idx = NULL;
    if (o == NULL || vv == NULL)
        goto fail;
    if (vv->n == 0)
        return o;
    idx = malloc(vv->n * sizeof *idx);
    if (idx == NULL)
        goto fail;
    for (size_t i = 0; i < vv->n; i++) {
        if (vv->e[i].device == NULL)
            goto fail;
        idx[i] = &vv->e[i];
    }
    /* Sorted whatever order the caller built: equal vectors, equal bytes. */
    qsort(idx, vv->n, sizeof *idx, cmp_entry_ptr);
    for (size_t i = 0; i < vv->n; i++)
        if (json_object_set_new(o, idx[i]->device,
                                json_integer((json_int_t)idx[i]->counter)) != 0)
            goto fail;
    free(idx);
    return o;
fail:
    free(idx);
    json_decref(o);
    return NULL;
}

/* Set o[key] = v, stealing v; -1 if v is NULL or the set fails. */
static int put(json_t *o, const char *key, json_t *v)
{
    if (v == NULL)
        return -1;
    return json_object_set_new(o, key, v);
}

static json_t *str_or_fail(const char *s)
{
    return s == NULL ? NULL : json_string(s);
}

json_t *fdsp_change_to_json(const fdsp_change *c)
{
    char hlc[17];
    json_t *o;
    if (c == NULL || (o = json_object()) == NULL)
        return NULL;
    fdsp__hlc_format(c->hlc, hlc);
    if (put(o, "t", str_or_fail(c->table)) ||
        put(o, "r", str_or_fail(c->record)) ||
        put(o, "f", str_or_fail(c->field)) ||
        put(o, "v", c->value ? json_string(c->value) : json_null()) ||
        put(o, "vv", fdsp_vv_to_json(&c->vv)) ||
        put(o, "h", json_string(hlc)) ||
        put(o, "d", str_or_fail(c->device)) ||
        (c->user != NULL && c->user[0] != '\0' &&
         put(o, "u", json_string(c->user))) ||
        (c->seq != 0 && put(o, "s", json_integer(c->seq))) ||
        (c->server_ms != 0 && put(o, "at", json_integer(c->server_ms)))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ---- From JSON --------------------------------------------------------------- */

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const fdsp_vv_entry *)a)->device,
                  ((const fdsp_vv_entry *)b)->device);
}

int fdsp__vv_from_json(const json_t *j, const char *path, fdsp_vv *out,
                       char *err, size_t errlen)
{
    const char *key;
    size_t keylen;
    json_t *val;
    int rc = fdsp__vv_start(json_is_object(j),
                            json_is_object(j) ? json_object_size(j) : 0,
                            path, out, err, errlen);
    if (rc != FDSP_OK)
        return rc;
    json_object_keylen_foreach((json_t *)j, key, keylen, val) {
        fdsp_vv_entry *e = &out->e[out->n];
        rc = fdsp__vv_entry(key, keylen, json_is_integer(val),
                            json_is_integer(val) ? json_integer_value(val)
                                                 : 0,
                            path, &e->device, err, errlen);
        if (rc != FDSP_OK)
            goto fail;
        e->counter = (uint64_t)json_integer_value(val);
        out->n++;
    }
    qsort(out->e, out->n, sizeof *out->e, cmp_entry);
    /* A parsed object cannot repeat a key, but one built through the
    ** jansson API from other input is checked the same way. */
    rc = fdsp__vv_no_dup(out, path, err, errlen);
    if (rc != FDSP_OK)
        goto fail;
    return FDSP_OK;
fail:
    fdsp_vv_clear(out);
    return rc;
}

int fdsp_vv_from_json(const json_t *j, fdsp_vv *out, char *err, size_t errlen)
{
    if (out == NULL)
        return fdsp__fail(err, errlen, FDSP_E_VALUE, "vv", NULL, "no output");
    return fdsp__vv_from_json(j, "vv", out, err, errlen);
}

int fdsp__change_from_json(const json_t *j, const char *path, int need_seq,
                           fdsp_change *out, char *err, size_t errlen)
{
    char sub[128];
    const json_t *v;
    uint64_t hlc;
    int rc;

    memset(out, 0, sizeof *out);
    if (!json_is_object(j))
        return fdsp__fail(err, errlen, FDSP_E_TYPE, path, NULL,
                          "change must be an object");
    if ((rc = fdsp__get_str(j, path, "t", FDSP__NAME, 1, &out->table, err,
                            errlen)) ||
        (rc = fdsp__get_str(j, path, "r", FDSP__ID, 1, &out->record, err,
                            errlen)) ||
        (rc = fdsp__get_str(j, path, "f", FDSP__NAME, 1, &out->field, err,
                            errlen)))
        goto fail;

    /* "v" is required but may be null: null clears the field. */
    v = json_object_get(j, "v");
    if (v == NULL) {
        rc = fdsp__fail(err, errlen, FDSP_E_MISSING, path, "v", "required");
        goto fail;
    }
    if (!json_is_null(v) &&
        (rc = fdsp__get_str(j, path, "v", FDSP__VALUE, 1, &out->value, err,
                            errlen)))
        goto fail;

    v = json_object_get(j, "vv");
    if (v == NULL) {
        rc = fdsp__fail(err, errlen, FDSP_E_MISSING, path, "vv", "required");
        goto fail;
    }
    snprintf(sub, sizeof sub, "%s%svv", path, path[0] ? "." : "");
    if ((rc = fdsp__vv_from_json(v, sub, &out->vv, err, errlen)))
        goto fail;

    v = json_object_get(j, "h");
    if (v == NULL) {
        rc = fdsp__fail(err, errlen, FDSP_E_MISSING, path, "h", "required");
        goto fail;
    }
    if (!json_is_string(v)) {
        rc = fdsp__fail(err, errlen, FDSP_E_TYPE, path, "h",
                        "must be a string");
        goto fail;
    }
    if (!fdsp__hlc_parse(json_string_value(v), json_string_length(v), &hlc)) {
        rc = fdsp__fail(err, errlen, FDSP_E_VALUE, path, "h",
                        "must be 16 lowercase hex digits");
        goto fail;
    }
    out->hlc = hlc;

    if ((rc = fdsp__get_str(j, path, "d", FDSP__ID, 1, &out->device, err,
                            errlen)) ||
        (rc = fdsp__get_str(j, path, "u", FDSP__ID, 0, &out->user, err,
                            errlen)) ||
        (rc = fdsp__get_int(j, path, "s", need_seq, need_seq ? 1 : 0,
                            FDSP__MAX_INT, FDSP_E_VALUE, &out->seq, err,
                            errlen)) ||
        (rc = fdsp__get_int(j, path, "at", 0, 0, FDSP__MAX_INT, FDSP_E_VALUE,
                            &out->server_ms, err, errlen)))
        goto fail;
    if (out->user == NULL && (out->user = fdsp__strndup("", 0)) == NULL) {
        rc = fdsp__fail(err, errlen, FDSP_E_NOMEM, path, "u", "out of memory");
        goto fail;
    }
    return FDSP_OK;
fail:
    fdsp_change_clear(out);
    return rc;
}

int fdsp_change_from_json(const json_t *j, fdsp_change *out,
                          char *err, size_t errlen)
{
    if (out == NULL)
        return fdsp__fail(err, errlen, FDSP_E_VALUE, NULL, NULL, "no output");
    return fdsp__change_from_json(j, "", 0, out, err, errlen);
}
