/*
** groupcodec.c — the body of a change-group row (grouplog.h).
**
** The row holds what the changes share (table, record, device, user,
** origin, at_ms); the body holds what each change has of its own, in a
** compact binary form.  Why not JSON: most of a per-field log row was its
** version vector as text with full device UUIDs; here each device id is
** written once per row and vectors are deltas.
**
**   body    = fmt(1 byte, FDS__GROUP_FMT) nd dev*nd n entry*n
**   dev     = len(varint 1..FDSP_MAX_ID) bytes      -- the device dictionary:
**                                   sorted (strcmp), the row's device not in it
**   a device reference (devidx) is 0 for the row's device, else 1 + its
**   index in the dictionary
**   entry   = head(1 byte)
**             flen(varint 1..FDSP_MAX_NAME) field
**             [vlen(varint 0..FDSP_MAX_VALUE) value]    unless head&1 (NULL)
**             [devidx(varint)]                          if head&2
**             hlc(zigzag varint, delta from the previous change's; 0 before)
**             [sseq(zigzag varint, delta)]              if head&4
**             k(varint) (devidx(varint) counter(varint))*k   -- vv delta
**   head bits: 1 value NULL, 2 made by dictionary device devidx (else the
**   row's device), 4 sseq delta given (else the previous sseq + 1, or 0
**   while it is 0); no other bit.
**
** Deltas, because within a group they are small: a local action's changes
** take consecutive counters and HLCs (the vector of each field is its
** register's join plus this device's next counter, so the delta from the
** previous field's vector is usually that one entry), and a received
** group's changes have consecutive server sequences.  The vector delta is
** the entries that differ from the previous change's vector: (device,
** counter), counter 0 removing the entry.
**
** The decoder never trusts its input (a replica file may be damaged
** behind the core's back): every length and index is checked, text must
** be UTF-8, vectors must end non-empty with counters in 1..2^53, nothing
** may follow the last entry, and the result is exactly what the encoder
** writes back for it (fuzz/fuzz_grouplog.c checks both).
*/
#include "grouplog.h"

#include <stdlib.h>
#include <string.h>

#define MAX_DEVICES 1024            /* dictionary entries in one body */
#define MAX_COUNTER (UINT64_C(1) << 53)

/* ---- Encoding --------------------------------------------------------- */

static void put_u(fds__buf *b, uint64_t v)
{
    unsigned char t[10];
    size_t n = 0;
    do {
        unsigned char x = v & 0x7f;
        v >>= 7;
        t[n++] = v ? (unsigned char)(x | 0x80) : x;
    } while (v);
    fds__buf_put(b, (const char *)t, n);
}

static void put_s(fds__buf *b, int64_t v)
{
    /* zigzag: small magnitudes of either sign stay short */
    uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    put_u(b, u);
}

static void put_bytes(fds__buf *b, const char *s)
{
    size_t n = strlen(s);
    put_u(b, n);
    fds__buf_put(b, s, n);
}

/* Index of device d in the dictionary (added when missing). */
static size_t dict_index(const char **dict, size_t *nd, const char *d)
{
    for (size_t i = 0; i < *nd; i++)
        if (strcmp(dict[i], d) == 0)
            return i;
    dict[*nd] = d;
    return (*nd)++;
}

/* A device as the body names it: 0 the row's device, else 1 + its index
** in the dictionary. */
static uint64_t dev_ref(const char **dict, size_t *nd, const char *gdev,
                        const char *d)
{
    return strcmp(d, gdev) == 0 ? 0 : 1 + (uint64_t)dict_index(dict, nd, d);
}

static int by_strcmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int text_ok(const char *s, size_t lo, size_t hi)
{
    size_t n = s ? strlen(s) : 0;
    return s != NULL && n >= lo && n <= hi && fds__utf8_valid(s, n);
}

static int valid_change(const fdsp_change *c, int values_checked)
{
    if (!text_ok(c->field, 1, FDSP_MAX_NAME) ||
        !text_ok(c->device, 1, FDSP_MAX_ID) ||
        (c->value && !values_checked &&
         !text_ok(c->value, 0, FDSP_MAX_VALUE)))
        return 0;
    if (c->field == NULL || c->field[0] == '\0' ||
        strlen(c->field) > FDSP_MAX_NAME || c->seq < 0 ||
        c->hlc > (uint64_t)INT64_MAX || c->vv.n == 0 ||
        c->vv.n > FDSP_MAX_VV || c->device == NULL || c->device[0] == '\0' ||
        strlen(c->device) > FDSP_MAX_ID ||
        (c->value && strlen(c->value) > FDSP_MAX_VALUE))
        return 0;
    for (size_t i = 0; i < c->vv.n; i++) {
        const fdsp_vv_entry *e = &c->vv.e[i];
        if (!text_ok(e->device, 1, FDSP_MAX_ID) || e->counter == 0 ||
            e->counter > MAX_COUNTER ||
            (i > 0 && strcmp(c->vv.e[i - 1].device, e->device) >= 0))
            return 0;
    }
    return 1;
}

int fds__group_encode(const fdsp_change *c, size_t n, const char *gdev,
                      fds__buf *b)
{
    return fds__group_encode_checked(c, n, gdev, b, 0);
}

int fds__group_encode_checked(const fdsp_change *c, size_t n,
                              const char *gdev, fds__buf *b,
                              int values_checked)
{
    if (n == 0 || n > FDS__GROUP_MAX || gdev == NULL)
        return FDS_INVALID;
    size_t nd = 0, cap = 0;
    for (size_t i = 0; i < n; i++) {
        if (!valid_change(&c[i], values_checked))
            return FDS_INVALID;
        cap += c[i].vv.n + 1;
    }
    const char **dict = malloc(cap * sizeof *dict);
    if (dict == NULL) {
        b->oom = 1;
        return FDS_OK;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(c[i].device, gdev) != 0)
            dict_index(dict, &nd, c[i].device);
        for (size_t k = 0; k < c[i].vv.n; k++)
            if (strcmp(c[i].vv.e[k].device, gdev) != 0)
                dict_index(dict, &nd, c[i].vv.e[k].device);
    }
    if (nd > MAX_DEVICES) {
        free(dict);
        return FDS_INVALID;
    }
    /* sorted: one dictionary per set of devices, checkable by the decoder */
    qsort(dict, nd, sizeof *dict, by_strcmp);
    unsigned char fmt = FDS__GROUP_FMT;
    fds__buf_put(b, (const char *)&fmt, 1);
    put_u(b, nd);
    for (size_t i = 0; i < nd; i++)
        put_bytes(b, dict[i]);
    put_u(b, n);
    static const fdsp_vv none = {0, NULL};
    const fdsp_vv *prev = &none;
    uint64_t hlc = 0;
    int64_t sseq = 0;
    for (size_t i = 0; i < n; i++) {
        const fdsp_change *x = &c[i];
        int own = strcmp(x->device, gdev) == 0;
        int64_t next_seq = sseq && sseq < INT64_MAX ? sseq + 1 : 0;
        unsigned char head = (unsigned char)((x->value ? 0 : 1) |
                                             (own ? 0 : 2) |
                                             (x->seq != next_seq ? 4 : 0));
        fds__buf_put(b, (const char *)&head, 1);
        put_bytes(b, x->field);
        if (x->value)
            put_bytes(b, x->value);
        if (!own)
            put_u(b, dev_ref(dict, &nd, gdev, x->device));
        put_s(b, (int64_t)(x->hlc - hlc));
        hlc = x->hlc;
        if (head & 4)
            put_s(b, x->seq - sseq);
        sseq = x->seq;
        /* vector delta: walk both sorted vectors */
        size_t k = 0, pi = 0, ci = 0;
        while (pi < prev->n || ci < x->vv.n) {
            int cmp = pi == prev->n ? 1 : ci == x->vv.n ? -1
                    : strcmp(prev->e[pi].device, x->vv.e[ci].device);
            if (cmp < 0)
                pi++, k++;                          /* removed */
            else if (cmp > 0)
                ci++, k++;                          /* added */
            else
                k += prev->e[pi++].counter != x->vv.e[ci++].counter;
        }
        put_u(b, k);
        pi = ci = 0;
        while (pi < prev->n || ci < x->vv.n) {
            int cmp = pi == prev->n ? 1 : ci == x->vv.n ? -1
                    : strcmp(prev->e[pi].device, x->vv.e[ci].device);
            if (cmp < 0) {
                put_u(b, dev_ref(dict, &nd, gdev, prev->e[pi].device));
                put_u(b, 0);
                pi++;
            } else if (cmp > 0 ||
                       prev->e[pi].counter != x->vv.e[ci].counter) {
                put_u(b, dev_ref(dict, &nd, gdev, x->vv.e[ci].device));
                put_u(b, x->vv.e[ci].counter);
                ci++;
                pi += cmp == 0;
            } else {
                pi++;
                ci++;
            }
        }
        prev = &x->vv;
    }
    free(dict);
    return FDS_OK;
}

/* ---- Decoding --------------------------------------------------------- */

typedef struct rd {
    const unsigned char *p, *end;
    int bad;
} rd;

static uint64_t get_u(rd *d)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (d->p >= d->end) {
            d->bad = 1;
            return 0;
        }
        unsigned char x = *d->p++;
        if (shift == 63 && (x & 0x7e)) {
            d->bad = 1;                 /* beyond 64 bits */
            return 0;
        }
        v |= (uint64_t)(x & 0x7f) << shift;
        if (!(x & 0x80)) {
            if (x == 0 && shift > 0)
                d->bad = 1;             /* not the shortest form */
            return v;
        }
    }
    d->bad = 1;
    return 0;
}

static int64_t get_s(rd *d)
{
    uint64_t u = get_u(d);
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

/* A length-prefixed UTF-8 text of lo..hi bytes, malloc'd (NULL: bad, or
** *oom). */
static char *get_text(rd *d, size_t lo, size_t hi, int *oom)
{
    uint64_t n = get_u(d);
    if (d->bad || n < lo || n > hi || n > (uint64_t)(d->end - d->p)) {
        d->bad = 1;
        return NULL;
    }
    if (!fds__utf8_valid((const char *)d->p, (size_t)n)) {
        d->bad = 1;
        return NULL;
    }
    char *s = malloc((size_t)n + 1);
    if (s == NULL) {
        *oom = 1;
        return NULL;
    }
    memcpy(s, d->p, (size_t)n);
    s[n] = '\0';
    d->p += n;
    return s;
}

void fds__group_free(fdsp_change *c, size_t n)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        fdsp_change_clear(&c[i]);
    free(c);
}

/* Set (or with counter 0 remove) device's entry of a sorted vector. */
static int vv_put(fdsp_vv *vv, const char *device, uint64_t counter,
                  int *oom)
{
    size_t i = 0;
    int cmp = 1;
    while (i < vv->n && (cmp = strcmp(vv->e[i].device, device)) < 0)
        i++;
    int found = i < vv->n && cmp == 0;
    if (counter == 0) {
        if (!found)
            return 0;                   /* removing what is not there */
        free(vv->e[i].device);
        memmove(&vv->e[i], &vv->e[i + 1], (vv->n - i - 1) * sizeof *vv->e);
        vv->n--;
        return 1;
    }
    if (found) {
        if (vv->e[i].counter == counter)
            return 0;                   /* a delta that changes nothing */
        vv->e[i].counter = counter;
        return 1;
    }
    if (vv->n >= FDSP_MAX_VV)
        return 0;
    fdsp_vv_entry *e = realloc(vv->e, (vv->n + 1) * sizeof *e);
    char *dev = strdup(device);
    if (e == NULL || dev == NULL) {
        if (e)
            vv->e = e;
        free(dev);
        *oom = 1;
        return 0;
    }
    vv->e = e;
    memmove(&e[i + 1], &e[i], (vv->n - i) * sizeof *e);
    e[i].device = dev;
    e[i].counter = counter;
    vv->n++;
    return 1;
}

int fds__group_decode(const unsigned char *p, size_t len, const char *gdev,
                      fdsp_change **out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    rd d = {p, p + len, 0};
    int oom = 0;
    /* the row's device is read from the file too */
    if (p == NULL || len < 1 || *d.p++ != FDS__GROUP_FMT ||
        !text_ok(gdev, 1, FDSP_MAX_ID))
        return FDS_DB;
    uint64_t nd = get_u(&d);
    if (d.bad || nd > MAX_DEVICES || nd > (uint64_t)(d.end - d.p))
        return FDS_DB;
    char **dict = calloc((size_t)nd + 1, sizeof *dict);
    if (dict == NULL)
        return FDS_NOMEM;
    for (size_t i = 0; i < nd && !d.bad && !oom; i++) {
        dict[i] = get_text(&d, 1, FDSP_MAX_ID, &oom);
        if (dict[i] && ((i > 0 && strcmp(dict[i - 1], dict[i]) >= 0) ||
                        strcmp(dict[i], gdev) == 0))
            d.bad = 1;                  /* sorted, once each, not the row's */
    }
    uint64_t n = d.bad || oom ? 0 : get_u(&d);
    if (!oom && (d.bad || n == 0 || n > FDS__GROUP_MAX))
        d.bad = 1;
    fdsp_change *c = d.bad || oom ? NULL : calloc((size_t)n, sizeof *c);
    if (c == NULL && !d.bad)
        oom = 1;
    uint64_t hlc = 0;
    int64_t sseq = 0;
    unsigned char *used = calloc((size_t)nd + 1, 1);
    if (used == NULL)
        oom = 1;
    size_t k = 0;
    for (; k < n && !d.bad && !oom; k++) {
        fdsp_change *x = &c[k];
        if (d.p >= d.end) {
            d.bad = 1;
            break;
        }
        unsigned char head = *d.p++;
        if (head & ~7u) {
            d.bad = 1;
            break;
        }
        x->field = get_text(&d, 1, FDSP_MAX_NAME, &oom);
        if (x->field && !(head & 1))
            x->value = get_text(&d, 0, FDSP_MAX_VALUE, &oom);
        if (d.bad || oom)
            break;
        const char *dev = gdev;
        if (head & 2) {
            uint64_t di = get_u(&d);
            if (d.bad || di == 0 || di > nd) {
                d.bad = 1;
                break;
            }
            used[di - 1] = 1;
            dev = dict[di - 1];
        }
        if ((x->device = strdup(dev)) == NULL) {
            oom = 1;
            break;
        }
        hlc += (uint64_t)get_s(&d);
        if (hlc > (uint64_t)INT64_MAX)
            d.bad = 1;
        x->hlc = hlc;
        int64_t next_seq = sseq && sseq < INT64_MAX ? sseq + 1 : 0;
        if (head & 4) {
            int64_t delta = get_s(&d);
            if (d.bad || (delta > 0 && sseq > INT64_MAX - delta) ||
                sseq + delta < 0 || sseq + delta == next_seq) {
                d.bad = 1;
                break;
            }
            sseq += delta;
        } else {
            sseq = next_seq;
        }
        x->seq = sseq;
        /* the vector: the previous one with the delta applied */
        if (k > 0 && fdsp_vv_copy(&x->vv, &c[k - 1].vv) != FDSP_OK) {
            oom = 1;
            break;
        }
        uint64_t nops = get_u(&d);
        if (d.bad || nops > 2 * FDSP_MAX_VV) {
            d.bad = 1;
            break;
        }
        /* a delta names each device once, in the dictionary's order of
        ** the vector's sort: the order the encoder walks them */
        const char *last = NULL;
        for (uint64_t o = 0; o < nops && !d.bad && !oom; o++) {
            uint64_t di = get_u(&d);
            uint64_t ctr = d.bad ? 0 : get_u(&d);
            if (d.bad || di > nd || ctr > MAX_COUNTER) {
                d.bad = 1;
                break;
            }
            const char *dn = di == 0 ? gdev : dict[di - 1];
            if (last && strcmp(last, dn) >= 0) {
                d.bad = 1;
                break;
            }
            last = dn;
            if (di > 0)
                used[di - 1] = 1;
            if (!vv_put(&x->vv, dn, ctr, &oom) && !oom)
                d.bad = 1;
        }
        if (!d.bad && !oom && x->vv.n == 0)
            d.bad = 1;
    }
    if (!d.bad && !oom && d.p != d.end)
        d.bad = 1;                      /* trailing bytes */
    for (size_t i = 0; !d.bad && !oom && i < nd; i++)
        if (!used[i])
            d.bad = 1;                  /* the encoder lists only used ids */
    for (size_t i = 0; i < nd; i++)
        free(dict[i]);
    free(dict);
    free(used);
    if (d.bad || oom) {
        fds__group_free(c, c ? (size_t)n : 0);
        return oom ? FDS_NOMEM : FDS_DB;
    }
    *out = c;
    *n_out = (size_t)n;
    return FDS_OK;
}
