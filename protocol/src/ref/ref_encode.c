/*
** ref_encode.c — the reference encoder: fdsp_msg to compact JSON through a
** jansson tree and json_dumpb.  This was fdsp_encode until the direct
** writer in encode.c replaced it; it is kept as the oracle the differential
** tests and fuzz_codec_diff hold encode.c to (byte-identical output), and
** is compiled into those only, never into the shipped library.  The struct
** checks (fdsp__check_msg) are shared with encode.c.
*/
#include "../proto_internal.h"

#include <stdlib.h>
#include <string.h>

/* Set o[key] = v, stealing v; -1 if v is NULL (OOM) or the set fails. */
static int put(json_t *o, const char *key, json_t *v)
{
    if (v == NULL)
        return -1;
    return json_object_set_new(o, key, v);
}

/* One entry of a group: f, v, and for k > 0 the steps from c[-1]. */
static json_t *entry_json(const fdsp_change *c, size_t k, int64_t sstep)
{
    json_t *o = json_object();
    if (o == NULL ||
        put(o, "f", json_string(c->field)) ||
        put(o, "v", c->value ? json_string(c->value) : json_null())) {
        json_decref(o);
        return NULL;
    }
    fdsp__delta d;
    if (k == 0 || !fdsp__group_delta(c - 1, c, &d))
        return o;
    if (!d.vv_default) {
        json_t *vv = json_object();
        for (size_t i = 0; vv != NULL && i < d.nd; i++)
            if (put(vv, d.dev[i], json_integer((json_int_t)d.ctr[i]))) {
                json_decref(vv);
                vv = NULL;
            }
        if (put(o, "vv", vv)) {
            json_decref(o);
            return NULL;
        }
    }
    if ((d.dh != 1 && put(o, "h", json_integer(d.dh))) ||
        (d.ds != sstep && put(o, "s", json_integer(d.ds))) ||
        (d.dat != 0 && put(o, "at", json_integer(d.dat)))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* A change group of c[0..n) (PROTOCOL.md §5.1). */
static json_t *group_json(const fdsp_change *c, size_t n)
{
    char hlc[17];
    json_t *o = json_object(), *g = json_array();
    int64_t sstep = fdsp__group_sstep(c[0].seq);
    fdsp__hlc_format(c[0].hlc, hlc);
    if (o == NULL || g == NULL ||
        put(o, "t", json_string(c[0].table)) ||
        put(o, "r", json_string(c[0].record)) ||
        put(o, "d", json_string(c[0].device)) ||
        (c[0].user != NULL && c[0].user[0] != '\0' &&
         put(o, "u", json_string(c[0].user))) ||
        put(o, "vv", fdsp_vv_to_json(&c[0].vv)) ||
        put(o, "h", json_string(hlc)) ||
        (c[0].seq != 0 && put(o, "s", json_integer(c[0].seq))) ||
        (c[0].server_ms != 0 && put(o, "at", json_integer(c[0].server_ms))))
        goto fail;
    for (size_t k = 0; k < n; k++)
        if (json_array_append_new(g, entry_json(&c[k], k, sstep)) != 0)
            goto fail;
    if (put(o, "g", g)) {
        g = NULL;
        goto fail;
    }
    return o;
fail:
    json_decref(g);
    json_decref(o);
    return NULL;
}

static json_t *changes_json(const fdsp_msg *m, unsigned opts)
{
    json_t *a = json_array();
    if (a == NULL)
        return NULL;
    for (size_t i = 0; i < m->n_changes;) {
        size_t run = (opts & FDSP_ENC_GROUPS)
            ? fdsp__group_run(&m->changes[i], m->n_changes - i) : 1;
        json_t *c = run > 1 ? group_json(&m->changes[i], run)
                            : fdsp_change_to_json(&m->changes[i]);
        if (c == NULL || json_array_append_new(a, c) != 0) {
            json_decref(a);
            return NULL;
        }
        i += run;
    }
    return a;
}

static json_t *refused_json(const fdsp_msg *m)
{
    json_t *a = json_array();
    if (a == NULL)
        return NULL;
    for (size_t i = 0; i < m->n_refused; i++) {
        const fdsp_refusal *f = &m->refused[i];
        json_t *o = json_object();
        if (o == NULL ||
            put(o, "i", json_integer((json_int_t)f->index)) ||
            put(o, "code", json_string(fdsp_errname(f->code))) ||
            put(o, "message", json_string(f->message)) ||
            json_array_append_new(a, o) != 0) {
            json_decref(o);
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *records_json(const fdsp_msg *m)
{
    json_t *a = json_array();
    if (a == NULL)
        return NULL;
    for (size_t i = 0; i < m->n_records; i++) {
        json_t *o = json_object();
        if (o == NULL ||
            put(o, "t", json_string(m->records[i].table)) ||
            put(o, "r", json_string(m->records[i].record)) ||
            json_array_append_new(a, o) != 0) {
            json_decref(o);
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *notices_json(const fdsp_msg *m)
{
    json_t *a = json_array();
    if (a == NULL)
        return NULL;
    for (size_t i = 0; i < m->n_notices; i++) {
        const fdsp_notice *x = &m->notices[i];
        json_t *o = json_object();
        if (o == NULL ||
            put(o, "i", json_integer((json_int_t)x->index)) ||
            put(o, "kind", json_string(x->kind)) ||
            put(o, "f", json_string(x->field)) ||
            (x->owner && put(o, "owner", json_string(x->owner))) ||
            json_array_append_new(a, o) != 0) {
            json_decref(o);
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *stamps_json(const fdsp_msg *m)
{
    json_t *a = json_array();
    if (a == NULL)
        return NULL;
    for (size_t i = 0; i < m->n_stamps; i++) {
        char hlc[17];
        fdsp__hlc_format(m->stamps[i].hlc, hlc);
        json_t *o = json_object();
        if (o == NULL ||
            put(o, "i", json_integer((json_int_t)m->stamps[i].index)) ||
            put(o, "h", json_string(hlc)) ||
            json_array_append_new(a, o) != 0) {
            json_decref(o);
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *sums_json(const fdsp_msg *m)
{
    json_t *a = json_array();
    if (a == NULL)
        return NULL;
    for (size_t i = 0; i < m->n_sums; i++) {
        char hex[17];
        fdsp__hlc_format(m->sums[i], hex);
        if (json_array_append_new(a, json_string(hex)) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *buckets_json(const fdsp_msg *m)
{
    json_t *a = json_array();
    if (a == NULL)
        return NULL;
    for (size_t i = 0; i < m->n_buckets; i++)
        if (json_array_append_new(a, json_integer(m->buckets[i])) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* hello / welcome: the optional counter, store, epoch.  -1 on OOM. */
static int put_trust(json_t *o, const fdsp_msg *m)
{
    return (m->dev_counter != 0 &&
            put(o, "counter", json_integer(m->dev_counter))) ||
           (m->store != NULL && put(o, "store", json_string(m->store))) ||
           (m->epoch != 0 && put(o, "epoch", json_integer(m->epoch)))
           ? -1 : 0;
}

/* A blob message's members (PROTOCOL.md §14).  -1 on OOM. */
static int blob_body(json_t *o, const fdsp_msg *m)
{
    int sized = m->type == FDSP_BLOB_PUT || m->type == FDSP_BLOB_DATA;
    if (put(o, "sha", json_string(m->sha)) ||
        (sized && put(o, "size", json_integer(m->size))) ||
        put(o, "offset", json_integer(m->offset)))
        return -1;
    if (sized) {
        size_t n = fdsp__b64_len(m->n_data);
        char *b = malloc(n + 1);
        if (b == NULL)
            return -1;
        fdsp__b64_encode(m->data, m->n_data, b);
        int rc = put(o, "data", json_stringn(b, n));
        free(b);
        if (rc)
            return -1;
    }
    if (m->code != 0 &&
        (put(o, "code", json_string(fdsp_errname(m->code))) ||
         put(o, "message", json_string(m->message))))
        return -1;
    return 0;
}

/* Members after "type", in the order PROTOCOL.md lists them.  -1 on OOM. */
static int build_body(json_t *o, const fdsp_msg *m, unsigned opts)
{
    switch (m->type) {
    case FDSP_HELLO:
        return put(o, "v", json_integer(FDSP_VERSION)) ||
               put(o, "device", json_string(m->device)) ||
               put(o, "cursor", json_integer(m->cursor)) ||
               put_trust(o, m) ||
               (m->client != NULL &&
                put(o, "client", json_string(m->client))) ||
               (m->live && put(o, "live", json_true())) ||
               (m->groups && put(o, "groups", json_true())) ||
               (m->blobs && put(o, "blobs", json_true()))
               ? -1 : 0;
    case FDSP_WELCOME:
        return put(o, "v", json_integer(FDSP_VERSION)) ||
               put(o, "user", json_string(m->user)) ||
               put(o, "role", json_string(m->role)) ||
               put(o, "device", json_string(m->device)) ||
               put(o, "head", json_integer(m->head)) ||
               put_trust(o, m) ||
               (m->server_time != 0 &&
                put(o, "time", json_integer(m->server_time))) ||
               (m->groups && put(o, "groups", json_true())) ||
               (m->blobs && put(o, "blobs", json_true())) ? -1 : 0;
    case FDSP_PUSH:
        return put(o, "batch", json_integer(m->batch)) ||
               put(o, "changes", changes_json(m, opts)) ? -1 : 0;
    case FDSP_ACK:
        return put(o, "batch", json_integer(m->batch)) ||
               put(o, "accepted", json_integer((json_int_t)m->accepted)) ||
               put(o, "refused", refused_json(m)) ||
               (m->n_stamps > 0 && put(o, "stamps", stamps_json(m))) ||
               (m->n_notices > 0 && put(o, "notices", notices_json(m)))
               ? -1 : 0;
    case FDSP_PULL:
        return put(o, "after", json_integer(m->after)) ||
               put(o, "limit", json_integer(m->limit)) ? -1 : 0;
    case FDSP_CHANGES:
        return (m->after != 0 && put(o, "after", json_integer(m->after))) ||
               put(o, "changes", changes_json(m, opts)) ||
               put(o, "last", json_integer(m->last)) ||
               put(o, "more", json_boolean(m->more)) ? -1 : 0;
    case FDSP_REVOKE:
        return put(o, "records", records_json(m)) ? -1 : 0;
    case FDSP_NOTIFY:
        return put(o, "head", json_integer(m->head)) ? -1 : 0;
    case FDSP_ERROR:
        return put(o, "code", json_string(fdsp_errname(m->code))) ||
               put(o, "message", json_string(m->message)) ||
               (m->batch != 0 && put(o, "batch", json_integer(m->batch))) ||
               (m->fatal && put(o, "fatal", json_true())) ? -1 : 0;
    case FDSP_SUMS:
        return put(o, "buckets", sums_json(m)) ? -1 : 0;
    case FDSP_REPAIR:
        return put(o, "buckets", buckets_json(m)) ? -1 : 0;
    case FDSP_BLOB_PUT:
    case FDSP_BLOB_ACK:
    case FDSP_BLOB_GET:
    case FDSP_BLOB_DATA:
        return blob_body(o, m);
    }
    return -1;
}

int fdsp__ref_encode(const fdsp_msg *m, char **out, size_t *len)
{
    return fdsp__ref_encode_opt(m, 0, out, len);
}

int fdsp__ref_encode_opt(const fdsp_msg *m, unsigned opts, char **out,
                         size_t *len)
{
    if (out != NULL)
        *out = NULL;
    if (len != NULL)
        *len = 0;
    if (m == NULL || out == NULL)
        return FDSP_E_VALUE;
    const char *tname = fdsp_typename(m->type);
    if (tname == NULL)
        return FDSP_E_UNKNOWN_TYPE;
    int rc = fdsp__check_msg(m);
    if (rc != FDSP_OK)
        return rc;

    json_t *o = json_object();
    if (o == NULL)
        return FDSP_E_NOMEM;
    if (put(o, "type", json_string(tname)) || build_body(o, m, opts)) {
        json_decref(o);
        return FDSP_E_NOMEM;
    }
    /* Insertion order is kept by jansson's dump (no JSON_SORT_KEYS). */
    const size_t flags = JSON_COMPACT;
    size_t n = json_dumpb(o, NULL, 0, flags);
    if (n == 0) {
        json_decref(o);
        return FDSP_E_NOMEM;
    }
    /* 500 changes of 16 KiB values exceed the frame: the caller splits. */
    if (n > FDSP_MAX_FRAME) {
        json_decref(o);
        return FDSP_E_TOOBIG;
    }
    char *buf = malloc(n + 1);
    if (buf == NULL) {
        json_decref(o);
        return FDSP_E_NOMEM;
    }
    if (json_dumpb(o, buf, n, flags) != n) {
        free(buf);
        json_decref(o);
        return FDSP_E_NOMEM;
    }
    json_decref(o);
    buf[n] = '\0';
    *out = buf;
    if (len != NULL)
        *len = n;
    return FDSP_OK;
}
