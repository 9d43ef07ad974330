/*
** ref_decode.c — the reference decoder: bytes to fdsp_msg through a jansson
** tree.  This was fdsp_decode until the hand-written reader in decode.c
** replaced it; it is kept, unchanged but for its name, as the oracle the
** differential tests and the fuzz_codec_diff target hold decode.c to.  It
** is compiled into those only, never into the shipped library.
**
** Cheap structural checks (size, nesting) run before jansson parses; then
** every member is read through read.c so each refusal names its field.
*/
#include "../proto_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Error codes arrive on the wire by name.  Names this version does not know
** read as "internal" (a newer peer may add codes); "ok" and "no_memory" are
** never valid on the wire. */
static int read_code(const json_t *o, const char *path, int *out,
                     char *err, size_t errlen)
{
    char *name = NULL;
    int rc = fdsp__get_str(o, path, "code", FDSP__NAME, 1, &name, err, errlen);
    if (rc != FDSP_OK)
        return rc;
    int code = fdsp_errcode(name);
    free(name);
    if (!fdsp__wire_code_ok(code))
        return fdsp__fail(err, errlen, FDSP_E_VALUE, path, "code",
                          "not an error code");
    *out = code;
    return FDSP_OK;
}

/* "v" first: a message of another version may have other fields, and the
** peer needs to hear about the version, not about a field. */
static int read_version(const json_t *o, int *out, char *err, size_t errlen)
{
    const json_t *v = json_object_get(o, "v");
    if (v == NULL)
        return fdsp__fail(err, errlen, FDSP_E_MISSING, NULL, "v", "required");
    if (!json_is_integer(v))
        return fdsp__fail(err, errlen, FDSP_E_TYPE, NULL, "v",
                          "must be an integer");
    if (json_integer_value(v) != FDSP_VERSION)
        return fdsp__fail(err, errlen, FDSP_E_VERSION, NULL, "v",
                          "version %lld is not supported (this side speaks %d)",
                          (long long)json_integer_value(v), FDSP_VERSION);
    *out = FDSP_VERSION;
    return FDSP_OK;
}

/* A group entry's "vv" delta: like fdsp__vv_from_json, but it may be
** empty and a counter may be 0 (PROTOCOL.md §5.1). */
static int vvd_from_json(const json_t *j, const char *path, fdsp_vv *out,
                         char *err, size_t errlen)
{
    const char *key;
    size_t keylen;
    json_t *val;
    int rc = fdsp__vvd_start(json_is_object(j),
                             json_is_object(j) ? json_object_size(j) : 0,
                             path, out, err, errlen);
    if (rc != FDSP_OK)
        return rc;
    json_object_keylen_foreach((json_t *)j, key, keylen, val) {
        fdsp_vv_entry *e = &out->e[out->n];
        char *dev = NULL;
        rc = fdsp__vvd_entry(key, keylen, json_is_integer(val),
                             json_is_integer(val) ? json_integer_value(val)
                                                  : 0,
                             path, &dev, err, errlen);
        if (rc != FDSP_OK) {
            fdsp_vv_clear(out);
            return rc;
        }
        /* Kept in device order, as the group rules apply it. */
        size_t k = out->n;
        while (k > 0 && strcmp(out->e[k - 1].device, dev) > 0) {
            out->e[k] = out->e[k - 1];
            k--;
        }
        e = &out->e[k];
        e->device = dev;
        e->counter = (uint64_t)json_integer_value(val);
        out->n++;
    }
    return FDSP_OK;
}

/* 1 if j is a change group: an object with a non-null "g". */
static int is_group(const json_t *j)
{
    const json_t *g = json_is_object(j) ? json_object_get(j, "g") : NULL;
    return g != NULL && !json_is_null(g);
}

/* One entry k of a group into out, after prev (k > 0) or from the header
** hdr (k == 0: out already holds the header's members). */
static int read_entry(const json_t *j, const char *path, size_t k,
                      int need_seq, int64_t sstep, const fdsp_change *prev,
                      fdsp_change *out, char *err, size_t errlen)
{
    static const char *const steps[] = {"vv", "h", "s", "at"};
    char sub[160];
    const json_t *v;
    int rc;
    if (!json_is_object(j))
        return fdsp__fail(err, errlen, FDSP_E_TYPE, path, NULL,
                          "entry must be an object");
    if ((rc = fdsp__get_str(j, path, "f", FDSP__NAME, 1, &out->field, err,
                            errlen)))
        return rc;
    v = json_object_get(j, "v");
    if (v == NULL)
        return fdsp__fail(err, errlen, FDSP_E_MISSING, path, "v", "required");
    if (!json_is_null(v) &&
        (rc = fdsp__get_str(j, path, "v", FDSP__VALUE, 1, &out->value, err,
                            errlen)))
        return rc;
    if (k == 0) {
        for (size_t i = 0; i < 4; i++) {
            v = json_object_get(j, steps[i]);
            if (v != NULL && !json_is_null(v))
                return fdsp__group_first(path, steps[i], err, errlen);
        }
        return FDSP_OK;
    }
    if (snprintf(sub, sizeof sub, "%s.vv", path) >= (int)sizeof sub)
        sub[0] = '\0';      /* cannot happen: paths are short */
    v = json_object_get(j, "vv");
    if (v != NULL && !json_is_null(v)) {
        fdsp_vv delta;
        if ((rc = vvd_from_json(v, sub, &delta, err, errlen)))
            return rc;
        rc = fdsp__group_vv(&prev->vv, prev->device, &delta, sub, &out->vv,
                            err, errlen);
        fdsp_vv_clear(&delta);
    } else {
        rc = fdsp__group_vv(&prev->vv, prev->device, NULL, sub, &out->vv,
                            err, errlen);
    }
    if (rc != FDSP_OK)
        return rc;
    int64_t dh = 1, ds = sstep, dat = 0;
    if ((rc = fdsp__get_int(j, path, "h", 0, -FDSP__MAX_STEP, FDSP__MAX_STEP,
                            FDSP_E_VALUE, &dh, err, errlen)) ||
        (rc = fdsp__group_step_h(prev->hlc, dh, path, &out->hlc, err,
                                 errlen)) ||
        (rc = fdsp__get_int(j, path, "s", 0, -FDSP__MAX_STEP, FDSP__MAX_STEP,
                            FDSP_E_VALUE, &ds, err, errlen)) ||
        (rc = fdsp__group_step_int(prev->seq, ds, need_seq ? 1 : 0, path,
                                   "s", &out->seq, err, errlen)) ||
        (rc = fdsp__get_int(j, path, "at", 0, -FDSP__MAX_STEP,
                            FDSP__MAX_STEP, FDSP_E_VALUE, &dat, err,
                            errlen)) ||
        (rc = fdsp__group_step_int(prev->server_ms, dat, 0, path, "at",
                                   &out->server_ms, err, errlen)))
        return rc;
    return FDSP_OK;
}

static char *dup_str(const char *s)
{
    return fdsp__strndup(s, strlen(s));
}

/* A group at path into out[0..), at most room changes; *n_out how many.
** On failure every change it wrote is cleared. */
static int read_group(const json_t *j, const char *path, int need_seq,
                      size_t room, fdsp_change *out, size_t *n_out,
                      char *err, size_t errlen)
{
    fdsp_change h;
    const json_t *arr;
    char sub[160];
    size_t n = 0, done = 0;
    int rc;

    /* The header is read like a change without f and v. */
    memset(&h, 0, sizeof h);
    if ((rc = fdsp__get_str(j, path, "t", FDSP__NAME, 1, &h.table, err,
                            errlen)) ||
        (rc = fdsp__get_str(j, path, "r", FDSP__ID, 1, &h.record, err,
                            errlen)) ||
        (rc = fdsp__get_str(j, path, "d", FDSP__ID, 1, &h.device, err,
                            errlen)) ||
        (rc = fdsp__get_str(j, path, "u", FDSP__ID, 0, &h.user, err,
                            errlen)))
        goto fail;
    const json_t *v = json_object_get(j, "vv");
    if (v == NULL) {
        rc = fdsp__fail(err, errlen, FDSP_E_MISSING, path, "vv", "required");
        goto fail;
    }
    snprintf(sub, sizeof sub, "%s%svv", path, path[0] ? "." : "");
    if ((rc = fdsp__vv_from_json(v, sub, &h.vv, err, errlen)))
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
    if (!fdsp__hlc_parse(json_string_value(v), json_string_length(v),
                         &h.hlc)) {
        rc = fdsp__fail(err, errlen, FDSP_E_VALUE, path, "h",
                        "must be 16 lowercase hex digits");
        goto fail;
    }
    if ((rc = fdsp__get_int(j, path, "s", need_seq, need_seq ? 1 : 0,
                            FDSP__MAX_INT, FDSP_E_VALUE, &h.seq, err,
                            errlen)) ||
        (rc = fdsp__get_int(j, path, "at", 0, 0, FDSP__MAX_INT, FDSP_E_VALUE,
                            &h.server_ms, err, errlen)) ||
        (rc = fdsp__get_array(j, path, "g", 1, FDSP_MAX_GROUP, &arr, err,
                              errlen)))
        goto fail;
    n = json_array_size(arr);
    if ((rc = fdsp__group_room(n, room, path, "g", err, errlen)))
        goto fail;
    if (h.user == NULL && (h.user = fdsp__strndup("", 0)) == NULL) {
        rc = fdsp__fail(err, errlen, FDSP_E_NOMEM, path, "u", "out of memory");
        goto fail;
    }
    int64_t sstep = fdsp__group_sstep(h.seq);
    for (size_t k = 0; k < n; k++) {
        fdsp_change *c = &out[k];
        memset(c, 0, sizeof *c);
        done = k + 1;
        if (k == 0) {
            c->hlc = h.hlc;
            c->seq = h.seq;
            c->server_ms = h.server_ms;
            if (fdsp_vv_copy(&c->vv, &h.vv) != FDSP_OK) {
                rc = fdsp__fail(err, errlen, FDSP_E_NOMEM, path, NULL,
                                "out of memory");
                goto fail;
            }
        }
        snprintf(sub, sizeof sub, "%s%sg[%zu]", path, path[0] ? "." : "", k);
        if ((rc = read_entry(json_array_get(arr, k), sub, k, need_seq, sstep,
                             k > 0 ? &out[k - 1] : NULL, c, err, errlen)))
            goto fail;
        if ((c->table = dup_str(h.table)) == NULL ||
            (c->record = dup_str(h.record)) == NULL ||
            (c->device = dup_str(h.device)) == NULL ||
            (c->user = dup_str(h.user)) == NULL) {
            rc = fdsp__fail(err, errlen, FDSP_E_NOMEM, sub, NULL,
                            "out of memory");
            goto fail;
        }
    }
    fdsp_change_clear(&h);
    *n_out = n;
    return FDSP_OK;
fail:
    for (size_t k = 0; k < done; k++)
        fdsp_change_clear(&out[k]);
    fdsp_change_clear(&h);
    return rc;
}

static int read_changes(const json_t *o, fdsp_msg *m, size_t lo, int need_seq,
                        char *err, size_t errlen)
{
    const json_t *arr;
    char path[32];
    int rc = fdsp__get_array(o, NULL, "changes", lo, FDSP_MAX_BATCH, &arr,
                             err, errlen);
    if (rc != FDSP_OK)
        return rc;
    size_t n = json_array_size(arr);
    if (n == 0)
        return FDSP_OK;
    /* Room for the changes the groups stand for (no more than a batch:
    ** a message past that is refused before it is written). */
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *j = json_array_get(arr, i);
        const json_t *g = is_group(j) ? json_object_get(j, "g") : NULL;
        total += g != NULL && json_is_array(g) ? json_array_size(g) : 1;
    }
    if (total > FDSP_MAX_BATCH)
        total = FDSP_MAX_BATCH;
    m->changes = calloc(total > 0 ? total : 1, sizeof *m->changes);
    if (m->changes == NULL)
        return fdsp__fail(err, errlen, FDSP_E_NOMEM, NULL, "changes",
                          "out of memory");
    for (size_t i = 0; i < n; i++) {
        const json_t *j = json_array_get(arr, i);
        snprintf(path, sizeof path, "changes[%zu]", i);
        if (is_group(j)) {
            size_t got = 0;
            rc = read_group(j, path, need_seq, FDSP_MAX_BATCH - m->n_changes,
                            &m->changes[m->n_changes], &got, err, errlen);
            if (rc != FDSP_OK)
                return rc;
            m->n_changes += got;
            continue;
        }
        if ((rc = fdsp__group_room(1, FDSP_MAX_BATCH - m->n_changes, path,
                                   NULL, err, errlen)))
            return rc;
        rc = fdsp__change_from_json(j, path, need_seq,
                                    &m->changes[m->n_changes], err, errlen);
        if (rc != FDSP_OK)
            return rc;
        m->n_changes++;
    }
    return FDSP_OK;
}

static int read_refused(const json_t *o, fdsp_msg *m, char *err, size_t errlen)
{
    const json_t *arr;
    char path[32];
    int rc = fdsp__get_array(o, NULL, "refused", 0, FDSP_MAX_BATCH, &arr,
                             err, errlen);
    if (rc != FDSP_OK)
        return rc;
    size_t n = json_array_size(arr);
    if (n == 0)
        return FDSP_OK;
    m->refused = calloc(n, sizeof *m->refused);
    if (m->refused == NULL)
        return fdsp__fail(err, errlen, FDSP_E_NOMEM, NULL, "refused",
                          "out of memory");
    for (size_t i = 0; i < n; i++) {
        const json_t *r = json_array_get(arr, i);
        fdsp_refusal *f = &m->refused[i];
        int64_t idx = 0;
        snprintf(path, sizeof path, "refused[%zu]", i);
        m->n_refused = i + 1;
        if (!json_is_object(r))
            return fdsp__fail(err, errlen, FDSP_E_TYPE, path, NULL,
                              "must be an object");
        /* An index past any possible batch is a bad value, not a limit. */
        if ((rc = fdsp__get_int(r, path, "i", 1, 0, FDSP_MAX_BATCH - 1,
                                FDSP_E_VALUE, &idx, err, errlen)) ||
            (rc = read_code(r, path, &f->code, err, errlen)) ||
            (rc = fdsp__get_str(r, path, "message", FDSP__TEXT, 1,
                                &f->message, err, errlen)))
            return rc;
        f->index = (size_t)idx;
    }
    return FDSP_OK;
}

static int read_records(const json_t *o, fdsp_msg *m, char *err, size_t errlen)
{
    const json_t *arr;
    char path[32];
    int rc = fdsp__get_array(o, NULL, "records", 1, FDSP_MAX_REVOKE, &arr,
                             err, errlen);
    if (rc != FDSP_OK)
        return rc;
    size_t n = json_array_size(arr);
    m->records = calloc(n, sizeof *m->records);
    if (m->records == NULL)
        return fdsp__fail(err, errlen, FDSP_E_NOMEM, NULL, "records",
                          "out of memory");
    for (size_t i = 0; i < n; i++) {
        const json_t *r = json_array_get(arr, i);
        fdsp_record_ref *ref = &m->records[i];
        snprintf(path, sizeof path, "records[%zu]", i);
        m->n_records = i + 1;
        if (!json_is_object(r))
            return fdsp__fail(err, errlen, FDSP_E_TYPE, path, NULL,
                              "must be an object");
        if ((rc = fdsp__get_str(r, path, "t", FDSP__NAME, 1, &ref->table,
                                err, errlen)) ||
            (rc = fdsp__get_str(r, path, "r", FDSP__ID, 1, &ref->record,
                                err, errlen)))
            return rc;
    }
    return FDSP_OK;
}

/* The optional trust members of hello and welcome: counter, store, epoch.
** 0 reads as absent, as the encoder writes it. */
static int read_trust(const json_t *o, fdsp_msg *m, char *err, size_t errlen)
{
    int rc;
    if ((rc = fdsp__get_int(o, NULL, "counter", 0, 0, FDSP__MAX_INT,
                            FDSP_E_VALUE, &m->dev_counter, err, errlen)) ||
        (rc = fdsp__get_str(o, NULL, "store", FDSP__ID, 0, &m->store, err,
                            errlen)) ||
        (rc = fdsp__get_int(o, NULL, "epoch", 0, 0, FDSP__MAX_INT,
                            FDSP_E_VALUE, &m->epoch, err, errlen)))
        return rc;
    return FDSP_OK;
}

/* ack "stamps": optional (absent or null: none). */
static int read_stamps(const json_t *o, fdsp_msg *m, char *err, size_t errlen)
{
    const json_t *arr = json_object_get(o, "stamps");
    char path[32];
    if (arr == NULL || json_is_null(arr))
        return FDSP_OK;
    int rc = fdsp__get_array(o, NULL, "stamps", 0, FDSP_MAX_BATCH, &arr,
                             err, errlen);
    if (rc != FDSP_OK)
        return rc;
    size_t n = json_array_size(arr);
    if (n == 0)
        return FDSP_OK;
    m->stamps = calloc(n, sizeof *m->stamps);
    if (m->stamps == NULL)
        return fdsp__fail(err, errlen, FDSP_E_NOMEM, NULL, "stamps",
                          "out of memory");
    for (size_t i = 0; i < n; i++) {
        const json_t *r = json_array_get(arr, i);
        fdsp_stamp *st = &m->stamps[i];
        int64_t idx = 0;
        snprintf(path, sizeof path, "stamps[%zu]", i);
        m->n_stamps = i + 1;
        if (!json_is_object(r))
            return fdsp__fail(err, errlen, FDSP_E_TYPE, path, NULL,
                              "must be an object");
        if ((rc = fdsp__get_int(r, path, "i", 1, 0, FDSP_MAX_BATCH - 1,
                                FDSP_E_VALUE, &idx, err, errlen)))
            return rc;
        st->index = (size_t)idx;
        const json_t *h = json_object_get(r, "h");
        if (h == NULL)
            return fdsp__fail(err, errlen, FDSP_E_MISSING, path, "h",
                              "required");
        if (!json_is_string(h))
            return fdsp__fail(err, errlen, FDSP_E_TYPE, path, "h",
                              "must be a string");
        if (!fdsp__hlc_parse(json_string_value(h), json_string_length(h),
                             &st->hlc))
            return fdsp__fail(err, errlen, FDSP_E_VALUE, path, "h",
                              "must be 16 lowercase hex digits");
    }
    return FDSP_OK;
}

/* ack "notices": optional (absent or null: none).  Each {"i", "kind",
** "f", "owner"?}; a notice whose kind this device does not know is kept
** (the caller ignores it), so new kinds need no new version. */
static int read_notices(const json_t *o, fdsp_msg *m, char *err, size_t errlen)
{
    const json_t *arr = json_object_get(o, "notices");
    char path[32];
    if (arr == NULL || json_is_null(arr))
        return FDSP_OK;
    int rc = fdsp__get_array(o, NULL, "notices", 0, FDSP_MAX_BATCH, &arr,
                             err, errlen);
    if (rc != FDSP_OK)
        return rc;
    size_t n = json_array_size(arr);
    if (n == 0)
        return FDSP_OK;
    m->notices = calloc(n, sizeof *m->notices);
    if (m->notices == NULL)
        return fdsp__fail(err, errlen, FDSP_E_NOMEM, NULL, "notices",
                          "out of memory");
    for (size_t i = 0; i < n; i++) {
        const json_t *r = json_array_get(arr, i);
        fdsp_notice *x = &m->notices[i];
        int64_t idx = 0;
        snprintf(path, sizeof path, "notices[%zu]", i);
        m->n_notices = i + 1;
        if (!json_is_object(r))
            return fdsp__fail(err, errlen, FDSP_E_TYPE, path, NULL,
                              "must be an object");
        if ((rc = fdsp__get_int(r, path, "i", 1, 0, FDSP_MAX_BATCH - 1,
                                FDSP_E_VALUE, &idx, err, errlen)) ||
            (rc = fdsp__get_str(r, path, "kind", FDSP__NAME, 1, &x->kind,
                                err, errlen)) ||
            (rc = fdsp__get_str(r, path, "f", FDSP__NAME, 1, &x->field,
                                err, errlen)) ||
            (rc = fdsp__get_str(r, path, "owner", FDSP__ID, 0, &x->owner,
                                err, errlen)))
            return rc;
        x->index = (size_t)idx;
    }
    return FDSP_OK;
}

/* sums "buckets": exactly FDSP_SUM_BUCKETS strings of 16 lowercase hex. */
static int read_sums(const json_t *o, fdsp_msg *m, char *err, size_t errlen)
{
    const json_t *arr;
    char path[32];
    int rc = fdsp__get_array(o, NULL, "buckets", FDSP_SUM_BUCKETS,
                             FDSP_SUM_BUCKETS, &arr, err, errlen);
    if (rc != FDSP_OK)
        return rc;
    m->sums = calloc(FDSP_SUM_BUCKETS, sizeof *m->sums);
    if (m->sums == NULL)
        return fdsp__fail(err, errlen, FDSP_E_NOMEM, NULL, "buckets",
                          "out of memory");
    m->n_sums = FDSP_SUM_BUCKETS;
    for (size_t i = 0; i < FDSP_SUM_BUCKETS; i++) {
        const json_t *v = json_array_get(arr, i);
        snprintf(path, sizeof path, "buckets[%zu]", i);
        if (!json_is_string(v))
            return fdsp__fail(err, errlen, FDSP_E_TYPE, path, NULL,
                              "must be a string");
        if (!fdsp__hlc_parse(json_string_value(v), json_string_length(v),
                             &m->sums[i]))
            return fdsp__fail(err, errlen, FDSP_E_VALUE, path, NULL,
                              "must be 16 lowercase hex digits");
    }
    return FDSP_OK;
}

/* repair "buckets": 0..FDSP_SUM_BUCKETS bucket numbers. */
static int read_repair(const json_t *o, fdsp_msg *m, char *err, size_t errlen)
{
    const json_t *arr;
    char path[32];
    int rc = fdsp__get_array(o, NULL, "buckets", 0, FDSP_SUM_BUCKETS, &arr,
                             err, errlen);
    if (rc != FDSP_OK)
        return rc;
    size_t n = json_array_size(arr);
    if (n == 0)
        return FDSP_OK;
    m->buckets = calloc(n, sizeof *m->buckets);
    if (m->buckets == NULL)
        return fdsp__fail(err, errlen, FDSP_E_NOMEM, NULL, "buckets",
                          "out of memory");
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_array_get(arr, i);
        snprintf(path, sizeof path, "buckets[%zu]", i);
        m->n_buckets = i + 1;
        if (!json_is_integer(v))
            return fdsp__fail(err, errlen, FDSP_E_TYPE, path, NULL,
                              "must be an integer");
        json_int_t b = json_integer_value(v);
        if (b < 0)
            return fdsp__fail(err, errlen, FDSP_E_VALUE, path, NULL,
                              "must be >= 0");
        if (b > FDSP_SUM_BUCKETS - 1)
            return fdsp__fail(err, errlen, FDSP_E_VALUE, path, NULL,
                              "must be <= %d", FDSP_SUM_BUCKETS - 1);
        m->buckets[i] = (int)b;
    }
    return FDSP_OK;
}

/* blob_put / blob_ack / blob_get / blob_data (PROTOCOL.md §14). */
static int read_blob(const json_t *o, fdsp_msg *m, char *err, size_t errlen)
{
    int sized = m->type == FDSP_BLOB_PUT || m->type == FDSP_BLOB_DATA;
    int coded = m->type == FDSP_BLOB_ACK || m->type == FDSP_BLOB_DATA;
    int rc;
    const json_t *v = json_object_get(o, "sha");
    if (v == NULL)
        return fdsp__fail(err, errlen, FDSP_E_MISSING, NULL, "sha",
                          "required");
    if (!json_is_string(v))
        return fdsp__fail(err, errlen, FDSP_E_TYPE, NULL, "sha",
                          "must be a string");
    if ((rc = fdsp__read_sha(json_string_value(v), json_string_length(v),
                             &m->sha, err, errlen)))
        return rc;
    if (sized &&
        (rc = fdsp__get_int(o, NULL, "size", 1, 0, FDSP_MAX_BLOB,
                            FDSP_E_LIMIT, &m->size, err, errlen)))
        return rc;
    if ((rc = fdsp__get_int(o, NULL, "offset", 1, 0, FDSP_MAX_BLOB,
                            FDSP_E_LIMIT, &m->offset, err, errlen)))
        return rc;
    if (sized) {
        v = json_object_get(o, "data");
        if (v == NULL)
            return fdsp__fail(err, errlen, FDSP_E_MISSING, NULL, "data",
                              "required");
        if (!json_is_string(v))
            return fdsp__fail(err, errlen, FDSP_E_TYPE, NULL, "data",
                              "must be a string");
        if ((rc = fdsp__read_data(json_string_value(v), json_string_length(v),
                                  &m->data, &m->n_data, err, errlen)))
            return rc;
    }
    v = json_object_get(o, "code");
    if (coded && v != NULL && !json_is_null(v)) {
        if ((rc = read_code(o, NULL, &m->code, err, errlen)) ||
            (rc = fdsp__get_str(o, NULL, "message", FDSP__TEXT, 1,
                                &m->message, err, errlen)))
            return rc;
    }
    return fdsp__blob_fits(m, err, errlen);
}

static int read_body(const json_t *o, fdsp_msg *m, char *err, size_t errlen)
{
    int64_t x = 0;
    int rc;
    switch (m->type) {
    case FDSP_HELLO:
        if ((rc = read_version(o, &m->version, err, errlen)) ||
            (rc = fdsp__get_str(o, NULL, "device", FDSP__ID, 1, &m->device,
                                err, errlen)) ||
            (rc = fdsp__get_int(o, NULL, "cursor", 1, 0, FDSP__MAX_INT,
                                FDSP_E_VALUE, &m->cursor, err, errlen)) ||
            (rc = read_trust(o, m, err, errlen)) ||
            (rc = fdsp__get_str(o, NULL, "client", FDSP__TEXT, 0, &m->client,
                                err, errlen)) ||
            (rc = fdsp__get_bool(o, NULL, "live", 0, &m->live, err, errlen)) ||
            (rc = fdsp__get_bool(o, NULL, "groups", 0, &m->groups, err,
                                 errlen)) ||
            (rc = fdsp__get_bool(o, NULL, "blobs", 0, &m->blobs, err,
                                 errlen)))
            return rc;
        return FDSP_OK;
    case FDSP_WELCOME:
        if ((rc = read_version(o, &m->version, err, errlen)) ||
            (rc = fdsp__get_str(o, NULL, "user", FDSP__ID, 1, &m->user,
                                err, errlen)) ||
            (rc = fdsp__get_str(o, NULL, "role", FDSP__TEXT, 1, &m->role,
                                err, errlen)) ||
            (rc = fdsp__get_str(o, NULL, "device", FDSP__ID, 1, &m->device,
                                err, errlen)) ||
            (rc = fdsp__get_int(o, NULL, "head", 1, 0, FDSP__MAX_INT,
                                FDSP_E_VALUE, &m->head, err, errlen)) ||
            (rc = read_trust(o, m, err, errlen)) ||
            (rc = fdsp__get_int(o, NULL, "time", 0, 0, FDSP__MAX_INT,
                                FDSP_E_VALUE, &m->server_time, err, errlen)) ||
            (rc = fdsp__get_bool(o, NULL, "groups", 0, &m->groups, err,
                                 errlen)) ||
            (rc = fdsp__get_bool(o, NULL, "blobs", 0, &m->blobs, err,
                                 errlen)))
            return rc;
        return FDSP_OK;
    case FDSP_PUSH:
        if ((rc = fdsp__get_int(o, NULL, "batch", 1, 0, FDSP__MAX_INT,
                                FDSP_E_VALUE, &m->batch, err, errlen)))
            return rc;
        return read_changes(o, m, 1, 0, err, errlen);
    case FDSP_ACK:
        if ((rc = fdsp__get_int(o, NULL, "batch", 1, 0, FDSP__MAX_INT,
                                FDSP_E_VALUE, &m->batch, err, errlen)) ||
            (rc = fdsp__get_int(o, NULL, "accepted", 1, 0, FDSP_MAX_BATCH,
                                FDSP_E_LIMIT, &x, err, errlen)))
            return rc;
        m->accepted = (size_t)x;
        if ((rc = read_refused(o, m, err, errlen)))
            return rc;
        if ((rc = read_stamps(o, m, err, errlen)))
            return rc;
        return read_notices(o, m, err, errlen);
    case FDSP_PULL:
        if ((rc = fdsp__get_int(o, NULL, "after", 1, 0, FDSP__MAX_INT,
                                FDSP_E_VALUE, &m->after, err, errlen)) ||
            (rc = fdsp__get_int(o, NULL, "limit", 1, 1, FDSP_MAX_BATCH,
                                FDSP_E_LIMIT, &x, err, errlen)))
            return rc;
        m->limit = (int)x;
        return FDSP_OK;
    case FDSP_CHANGES:
        if ((rc = fdsp__get_int(o, NULL, "after", 0, 0, FDSP__MAX_INT,
                                FDSP_E_VALUE, &m->after, err, errlen)) ||
            (rc = read_changes(o, m, 0, 1, err, errlen)) ||
            (rc = fdsp__get_int(o, NULL, "last", 1, 0, FDSP__MAX_INT,
                                FDSP_E_VALUE, &m->last, err, errlen)) ||
            (rc = fdsp__get_bool(o, NULL, "more", 1, &m->more, err, errlen)))
            return rc;
        return FDSP_OK;
    case FDSP_REVOKE:
        return read_records(o, m, err, errlen);
    case FDSP_NOTIFY:
        return fdsp__get_int(o, NULL, "head", 1, 0, FDSP__MAX_INT,
                             FDSP_E_VALUE, &m->head, err, errlen);
    case FDSP_ERROR:
        if ((rc = read_code(o, NULL, &m->code, err, errlen)) ||
            (rc = fdsp__get_str(o, NULL, "message", FDSP__TEXT, 1,
                                &m->message, err, errlen)) ||
            (rc = fdsp__get_int(o, NULL, "batch", 0, 0, FDSP__MAX_INT,
                                FDSP_E_VALUE, &m->batch, err, errlen)) ||
            (rc = fdsp__get_bool(o, NULL, "fatal", 0, &m->fatal, err,
                                 errlen)))
            return rc;
        return FDSP_OK;
    case FDSP_SUMS:
        return read_sums(o, m, err, errlen);
    case FDSP_REPAIR:
        return read_repair(o, m, err, errlen);
    case FDSP_BLOB_PUT:
    case FDSP_BLOB_ACK:
    case FDSP_BLOB_GET:
    case FDSP_BLOB_DATA:
        return read_blob(o, m, err, errlen);
    }
    return fdsp__fail(err, errlen, FDSP_E_UNKNOWN_TYPE, NULL, "type",
                      "unknown message type");
}

/* jansson's parse failures, in protocol terms. */
static int parse_error_code(const json_error_t *e)
{
    switch (json_error_code(e)) {
    case json_error_invalid_utf8:      return FDSP_E_UTF8;
    case json_error_duplicate_key:     return FDSP_E_DUPKEY;
    case json_error_stack_overflow:    return FDSP_E_DEPTH;
    case json_error_out_of_memory:     return FDSP_E_NOMEM;
    case json_error_numeric_overflow:  return FDSP_E_VALUE;
    case json_error_null_character:    return FDSP_E_VALUE;  /* \u0000 */
    case json_error_null_byte_in_key:  return FDSP_E_VALUE;
    default:                           return FDSP_E_JSON;
    }
}

static int find_type(const json_t *o, fdsp_type *out, char *err, size_t errlen)
{
    const json_t *t = json_object_get(o, "type");
    if (t == NULL)
        return fdsp__fail(err, errlen, FDSP_E_MISSING, NULL, "type",
                          "required");
    if (!json_is_string(t))
        return fdsp__fail(err, errlen, FDSP_E_TYPE, NULL, "type",
                          "must be a string");
    const char *s = json_string_value(t);
    size_t n = json_string_length(t);
    for (int i = FDSP_HELLO; i <= FDSP_TYPE_LAST; i++) {
        const char *name = fdsp_typename(i);
        if (strlen(name) == n && memcmp(name, s, n) == 0) {
            *out = (fdsp_type)i;
            return FDSP_OK;
        }
    }
    return fdsp__fail(err, errlen, FDSP_E_UNKNOWN_TYPE, NULL, "type",
                      "unknown message type");
}

int fdsp__ref_decode(const char *buf, size_t len, fdsp_msg **out,
                     char *err, size_t errlen)
{
    json_error_t je;
    fdsp_type type = FDSP_HELLO;
    int rc;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (out == NULL)
        return fdsp__fail(err, errlen, FDSP_E_VALUE, NULL, NULL, "no output");
    *out = NULL;
    if (buf == NULL) {
        buf = "";
        len = 0;
    }
    if (len > FDSP_MAX_FRAME)
        return fdsp__fail(err, errlen, FDSP_E_TOOBIG, NULL, NULL,
                          "message of %zu bytes is over FDSP_MAX_FRAME (%d)",
                          len, FDSP_MAX_FRAME);
    if (!fdsp__depth_ok(buf, len, FDSP_MAX_DEPTH))
        return fdsp__fail(err, errlen, FDSP_E_DEPTH, NULL, NULL,
                          "nesting deeper than FDSP_MAX_DEPTH (%d)",
                          FDSP_MAX_DEPTH);
    /* DECODE_ANY so a scalar top level is reported like an array: the wrong
    ** type, rather than as a syntax error.  No JSON_ALLOW_NUL: "\u0000" is
    ** refused, so every decoded string is a C string. */
    memset(&je, 0, sizeof je);
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES |
                              JSON_DECODE_ANY, &je);
    if (root == NULL && je.text[0] == '\0')
        /* jansson 2.14 fails without a message (or code) only when its
        ** lexer cannot allocate its first buffer. */
        return fdsp__fail(err, errlen, FDSP_E_NOMEM, NULL, NULL,
                          "out of memory");
    if (root == NULL)
        return fdsp__fail(err, errlen, parse_error_code(&je), NULL, NULL,
                          "at byte %d: %s", je.position, je.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return fdsp__fail(err, errlen, FDSP_E_TYPE, NULL, NULL,
                          "message must be a JSON object");
    }
    rc = find_type(root, &type, err, errlen);
    if (rc != FDSP_OK) {
        json_decref(root);
        return rc;
    }
    fdsp_msg *m = fdsp_msg_new(type);
    if (m == NULL) {
        json_decref(root);
        return fdsp__fail(err, errlen, FDSP_E_NOMEM, NULL, NULL,
                          "out of memory");
    }
    rc = read_body(root, m, err, errlen);
    json_decref(root);
    if (rc != FDSP_OK) {
        fdsp_msg_free(m);
        return rc;
    }
    *out = m;
    return FDSP_OK;
}
