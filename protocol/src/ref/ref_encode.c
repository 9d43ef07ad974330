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

static json_t *changes_json(const fdsp_msg *m)
{
    json_t *a = json_array();
    if (a == NULL)
        return NULL;
    for (size_t i = 0; i < m->n_changes; i++) {
        json_t *c = fdsp_change_to_json(&m->changes[i]);
        if (c == NULL || json_array_append_new(a, c) != 0) {
            json_decref(a);
            return NULL;
        }
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

/* Members after "type", in the order PROTOCOL.md lists them.  -1 on OOM. */
static int build_body(json_t *o, const fdsp_msg *m)
{
    switch (m->type) {
    case FDSP_HELLO:
        return put(o, "v", json_integer(FDSP_VERSION)) ||
               put(o, "device", json_string(m->device)) ||
               put(o, "cursor", json_integer(m->cursor)) ||
               put_trust(o, m) ||
               (m->client != NULL &&
                put(o, "client", json_string(m->client))) ||
               (m->live && put(o, "live", json_true()))
               ? -1 : 0;
    case FDSP_WELCOME:
        return put(o, "v", json_integer(FDSP_VERSION)) ||
               put(o, "user", json_string(m->user)) ||
               put(o, "role", json_string(m->role)) ||
               put(o, "device", json_string(m->device)) ||
               put(o, "head", json_integer(m->head)) ||
               put_trust(o, m) ||
               (m->server_time != 0 &&
                put(o, "time", json_integer(m->server_time))) ? -1 : 0;
    case FDSP_PUSH:
        return put(o, "batch", json_integer(m->batch)) ||
               put(o, "changes", changes_json(m)) ? -1 : 0;
    case FDSP_ACK:
        return put(o, "batch", json_integer(m->batch)) ||
               put(o, "accepted", json_integer((json_int_t)m->accepted)) ||
               put(o, "refused", refused_json(m)) ||
               (m->n_stamps > 0 && put(o, "stamps", stamps_json(m)))
               ? -1 : 0;
    case FDSP_PULL:
        return put(o, "after", json_integer(m->after)) ||
               put(o, "limit", json_integer(m->limit)) ? -1 : 0;
    case FDSP_CHANGES:
        return (m->after != 0 && put(o, "after", json_integer(m->after))) ||
               put(o, "changes", changes_json(m)) ||
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
    }
    return -1;
}

int fdsp__ref_encode(const fdsp_msg *m, char **out, size_t *len)
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
    if (put(o, "type", json_string(tname)) || build_body(o, m)) {
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
