/*
** sync_trust.c — rules 11-15 on the server's sync path (sync_trust.h,
** docs/internals/trust.md).
**
** Speed: a push of 500 changes by one device names one or a few devices in
** its vectors.  Each device's accepted counter and binding is read once per
** batch into a small open-addressing table; the only per-change store work
** added is for changes at or below the accepted counter (re-sends: one
** index lookup on history(device, dctr)).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sync_trust.h"

typedef struct acc_entry {
    char device[FDSP_MAX_ID + 1];
    char user[FSV_NAME_MAX + 1];    /* binding, "" if the device is unknown */
    int64_t counter;                /* accepted, counting this batch */
    int dirty;                      /* raised in this batch */
} acc_entry;

struct fsv_trust_batch {
    acc_entry *e;
    size_t n, cap;          /* entries used / allocated */
    uint32_t *slot;         /* index + 1 into e, 0 = empty */
    size_t n_slots;         /* power of two, >= 2 * cap */
};

fsv_trust_batch *fsv_trust_batch_new(void)
{
    return calloc(1, sizeof(fsv_trust_batch));
}

void fsv_trust_batch_free(fsv_trust_batch *b)
{
    if (!b)
        return;
    free(b->e);
    free(b->slot);
    free(b);
}

static uint32_t dev_hash(const char *d)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)d; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h;
}

static int grow(fsv_trust_batch *b)
{
    size_t cap = b->cap ? b->cap * 2 : 8;
    acc_entry *e = realloc(b->e, cap * sizeof *e);
    if (!e)
        return FSV_NOMEM;
    b->e = e;
    b->cap = cap;
    size_t ns = cap * 2;
    uint32_t *slot = calloc(ns, sizeof *slot);
    if (!slot)
        return FSV_NOMEM;
    for (size_t i = 0; i < b->n; i++) {
        size_t j = dev_hash(e[i].device) & (ns - 1);
        while (slot[j])
            j = (j + 1) & (ns - 1);
        slot[j] = (uint32_t)(i + 1);
    }
    free(b->slot);
    b->slot = slot;
    b->n_slots = ns;
    return FSV_OK;
}

/* The batch's entry of device, or NULL; *jp the free slot it would take. */
static acc_entry *acc_find(fsv_trust_batch *b, const char *device, size_t *jp)
{
    *jp = 0;
    if (!b->n_slots)
        return NULL;
    size_t j = dev_hash(device) & (b->n_slots - 1);
    while (b->slot[j]) {
        acc_entry *e = &b->e[b->slot[j] - 1];
        if (strcmp(e->device, device) == 0)
            return e;
        j = (j + 1) & (b->n_slots - 1);
    }
    *jp = j;
    return NULL;
}

/* The batch's entry of device, loaded from the store on first sight.
** NULL with *rc set on a store error or out of memory. */
static acc_entry *acc_get(fsv_store *st, fsv_trust_batch *b, const char *device,
                          int *rc)
{
    *rc = FSV_OK;
    if (strlen(device) > FDSP_MAX_ID) {
        *rc = FSV_INVALID;     /* the decoder never lets this through */
        return NULL;
    }
    size_t j;
    acc_entry *found = acc_find(b, device, &j);
    if (found)
        return found;
    if (b->n == b->cap) {
        if (grow(b) != FSV_OK) {
            *rc = FSV_NOMEM;
            return NULL;
        }
        j = dev_hash(device) & (b->n_slots - 1);
        while (b->slot[j])
            j = (j + 1) & (b->n_slots - 1);
    }
    acc_entry *e = &b->e[b->n];
    memset(e, 0, sizeof *e);
    strcpy(e->device, device);
    int src = fsv_store_device_get(st, device, e->user, &e->counter);
    if (src != FSV_OK && src != FSV_NOTFOUND) {
        *rc = src;
        return NULL;
    }
    b->slot[j] = (uint32_t)(++b->n);
    return e;
}

static uint64_t own_counter(const fdsp_change *c)
{
    for (size_t i = 0; i < c->vv.n; i++)
        if (strcmp(c->vv.e[i].device, c->device) == 0)
            return c->vv.e[i].counter;
    return 0;
}

static int same_change(const fdsp_change *a, const fdsp_change *b)
{
    if (strcmp(a->table, b->table) != 0 || strcmp(a->record, b->record) != 0 ||
        strcmp(a->field, b->field) != 0)
        return 0;
    if (!a->value != !b->value || (a->value && strcmp(a->value, b->value) != 0))
        return 0;
    if (a->vv.n != b->vv.n)
        return 0;
    for (size_t i = 0; i < a->vv.n; i++)    /* both sorted by device */
        if (a->vv.e[i].counter != b->vv.e[i].counter ||
            strcmp(a->vv.e[i].device, b->vv.e[i].device) != 0)
            return 0;
    return 1;
}

static int clashed(const fsv_conn *s, const char *device)
{
    for (size_t i = 0; i < s->n_clashed; i++)
        if (strcmp(s->clashed[i], device) == 0)
            return 1;
    return 0;
}

static int clash_add(fsv_conn *s, const char *device)
{
    char **v = realloc(s->clashed, (s->n_clashed + 1) * sizeof *v);
    if (!v)
        return FSV_NOMEM;
    s->clashed = v;
    if (!(v[s->n_clashed] = strdup(device)))
        return FSV_NOMEM;
    s->n_clashed++;
    return FSV_OK;
}

void fsv_trust_conn_clear(fsv_conn *s)
{
    for (size_t i = 0; i < s->n_clashed; i++)
        free(s->clashed[i]);
    free(s->clashed);
    s->clashed = NULL;
    s->n_clashed = 0;
}

/* Refuse the change: *refusal = code (why already written); a refusal is
** an answer, so the call itself succeeded. */
static int refuse(int *refusal, int code)
{
    *refusal = code;
    return FSV_OK;
}

int fsv_trust_check(fsv_conn *s, fsv_trust_batch *b, const fdsp_change *c,
                    int relayed, int *verdict, uint64_t *stored_hlc,
                    int *refusal, char *why, size_t whylen)
{
    fsv_store *st = s->srv->store;
    int rc;
    *refusal = 0;
    *verdict = 0;
    *stored_hlc = 0;
    if (clashed(s, c->device)) {
        snprintf(why, whylen, "%s %s field %s: device %s already reused a"
                 " counter on this connection (device_clash); nothing more"
                 " of it is accepted until it resets", c->table, c->record,
                 c->field, c->device);
        return refuse(refusal, FSV_E_CLASH);
    }
    uint64_t k = own_counter(c);
    if (k == 0) {
        snprintf(why, whylen, "%s %s field %s: vv has no entry for its own"
                 " device %s", c->table, c->record, c->field, c->device);
        return refuse(refusal, FDSP_E_VALUE);
    }
    acc_entry *own = acc_get(st, b, c->device, &rc);
    if (!own)
        return rc;
    if (relayed) {
        /* Rule 13: a relayed change keeps its d and u, bounded: u must be
        ** a known user, and d (if bound) bound to u (rule 11). */
        fsv_user u;
        if (!c->user || !c->user[0] ||
            fsv_store_user_get(st, c->user, &u) != FSV_OK) {
            snprintf(why, whylen, "%s %s field %s: relayed change names"
                     " user %s, which this server does not know", c->table,
                     c->record, c->field, c->user ? c->user : "-");
            return refuse(refusal, FDSP_E_VALUE);
        }
        if (own->user[0] && strcmp(own->user, c->user) != 0) {
            snprintf(why, whylen, "%s %s field %s: relayed change says device"
                     " %s is user %s's, it belongs to another user", c->table,
                     c->record, c->field, c->device, c->user);
            return refuse(refusal, FDSP_E_FORBIDDEN);
        }
    }
    for (size_t i = 0; i < c->vv.n; i++) {
        const fdsp_vv_entry *ve = &c->vv.e[i];
        if (strcmp(ve->device, c->device) == 0)
            continue;
        acc_entry *e = acc_get(st, b, ve->device, &rc);
        if (!e)
            return rc;
        if ((int64_t)ve->counter > e->counter) {
            snprintf(why, whylen, "%s %s field %s: vv claims device %s counter"
                     " %llu, the server has only accepted %lld from it",
                     c->table, c->record, c->field, ve->device,
                     (unsigned long long)ve->counter, (long long)e->counter);
            return refuse(refusal, FDSP_E_VALUE);
        }
    }
    /* acc_get may have moved the table: look own up again. */
    own = acc_get(st, b, c->device, &rc);
    if (!own)
        return rc;
    if ((int64_t)k > own->counter) {
        *verdict = FSV_TRUST_NEW;
        return FSV_OK;
    }
    fdsp_change h;
    rc = fsv_store_change_by_counter(st, c->device, (int64_t)k, &h);
    if (rc != FSV_OK && rc != FSV_NOTFOUND)
        return rc;
    int dup = rc == FSV_OK && same_change(c, &h);
    uint64_t hlc = h.hlc;
    fdsp_change_clear(&h);
    if (dup) {
        *verdict = FSV_TRUST_DUP;
        *stored_hlc = hlc;
        return FSV_OK;
    }
    if (clash_add(s, c->device) != FSV_OK)
        return FSV_NOMEM;
    fsv_warn("device_clash user=%s device=%s counter=%llu names=%s table=%s"
             " record=%s field=%s", s->user.name, c->device,
             (unsigned long long)k, rc == FSV_OK ? "another change"
                                                  : "a change the server does"
                                                    " not have",
             c->table, c->record, c->field);
    snprintf(why, whylen, "%s %s field %s: device %s counter %llu already"
             " names another change on the server (device_clash)", c->table,
             c->record, c->field, c->device, (unsigned long long)k);
    return refuse(refusal, FSV_E_CLASH);
}

int fsv_trust_accepted(fsv_trust_batch *b, const fdsp_change *c)
{
    uint64_t k = own_counter(c);
    size_t j;
    acc_entry *e = acc_find(b, c->device, &j);
    if (!e)
        return FSV_INVALID; /* fsv_trust_check loaded it: cannot happen */
    if ((int64_t)k > e->counter) {
        e->counter = (int64_t)k;
        e->dirty = 1;
        /* A device first seen through a relayed change is bound to the
        ** user it was made by. */
        if (!e->user[0] && c->user)
            snprintf(e->user, sizeof e->user, "%s", c->user);
    }
    return FSV_OK;
}

int fsv_trust_flush(fsv_store *st, fsv_trust_batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        acc_entry *e = &b->e[i];
        if (!e->dirty)
            continue;
        int rc = fsv_store_device_accept(st, e->device, e->user, e->counter);
        if (rc != FSV_OK)
            return rc;
        e->dirty = 0;
    }
    return FSV_OK;
}

int fsv_trust_clock(fsv_server *srv, fdsp_change *c, int64_t now_ms)
{
    if (now_ms < 0)
        now_ms = 0;
    uint64_t phys = (uint64_t)now_ms << 16;
    uint64_t bound = (uint64_t)(now_ms + FDS_CLOCK_BOUND_MS) << 16 | 0xffff;
    if (c->hlc > bound) {
        uint64_t next = phys > srv->hlc ? phys : srv->hlc + 1;
        srv->hlc = next;
        c->hlc = next;
        return 1;
    }
    if (c->hlc > srv->hlc)
        srv->hlc = c->hlc;     /* <= bound: the server's clock + the bound */
    return 0;
}
