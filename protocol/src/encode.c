/*
** encode.c — fdsp_msg to compact JSON bytes, written straight into one
** growing buffer (no jansson tree).  The struct is checked first with the
** decoder's rules (a peer must never receive what we would refuse), then
** written with keys in one fixed order per type, so equal structs give
** equal bytes.
**
** The bytes are exactly what json_dumpb(JSON_COMPACT) of the tree the old
** encoder built gave (ref/ref_encode.c, held to it by the differential
** tests and fuzz_codec_diff): "," and ":" without spaces; in strings only
** '"', '\' and the control characters below 0x20 are escaped (\b \f \n \r
** \t by letter, the rest as \u00XX with uppercase hex); '/', DEL and every
** non-ASCII character are written as they are.
*/
#include "proto_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- Checks (shared with the reference encoder) ----------------------------- */

static int check_changes(const fdsp_msg *m, size_t lo, int need_seq)
{
    if (m->n_changes > FDSP_MAX_BATCH)
        return FDSP_E_LIMIT;
    if (m->n_changes < lo)
        return FDSP_E_VALUE;
    if (m->n_changes > 0 && m->changes == NULL)
        return FDSP_E_VALUE;
    for (size_t i = 0; i < m->n_changes; i++) {
        int rc = fdsp__check_change(&m->changes[i], need_seq);
        if (rc != FDSP_OK)
            return rc;
    }
    return FDSP_OK;
}

/* The optional trust members of hello and welcome: counter, store, epoch
** (0 / NULL: absent, not written). */
static int check_trust(const fdsp_msg *m)
{
    int rc;
    if ((rc = fdsp__check_int(m->dev_counter, 0, FDSP__MAX_INT,
                              FDSP_E_VALUE)) ||
        (rc = fdsp__check_cstr(m->store, FDSP__ID, 0)))
        return rc;
    return fdsp__check_int(m->epoch, 0, FDSP__MAX_INT, FDSP_E_VALUE);
}

int fdsp__check_msg(const fdsp_msg *m)
{
    int rc;
    switch (m->type) {
    case FDSP_HELLO:
        if (m->version != FDSP_VERSION)
            return FDSP_E_VERSION;
        if ((rc = fdsp__check_cstr(m->device, FDSP__ID, 1)) ||
            (rc = fdsp__check_int(m->cursor, 0, FDSP__MAX_INT, FDSP_E_VALUE)) ||
            (rc = check_trust(m)))
            return rc;
        return fdsp__check_cstr(m->client, FDSP__TEXT, 0);
    case FDSP_WELCOME:
        if (m->version != FDSP_VERSION)
            return FDSP_E_VERSION;
        if ((rc = fdsp__check_cstr(m->user, FDSP__ID, 1)) ||
            (rc = fdsp__check_cstr(m->role, FDSP__TEXT, 1)) ||
            (rc = fdsp__check_cstr(m->device, FDSP__ID, 1)) ||
            (rc = fdsp__check_int(m->head, 0, FDSP__MAX_INT, FDSP_E_VALUE)) ||
            (rc = check_trust(m)))
            return rc;
        return fdsp__check_int(m->server_time, 0, FDSP__MAX_INT,
                               FDSP_E_VALUE);
    case FDSP_PUSH:
        if ((rc = fdsp__check_int(m->batch, 0, FDSP__MAX_INT, FDSP_E_VALUE)))
            return rc;
        return check_changes(m, 1, 0);
    case FDSP_ACK:
        if ((rc = fdsp__check_int(m->batch, 0, FDSP__MAX_INT, FDSP_E_VALUE)))
            return rc;
        if (m->accepted > FDSP_MAX_BATCH || m->n_refused > FDSP_MAX_BATCH)
            return FDSP_E_LIMIT;
        if (m->n_refused > 0 && m->refused == NULL)
            return FDSP_E_VALUE;
        for (size_t i = 0; i < m->n_refused; i++) {
            const fdsp_refusal *f = &m->refused[i];
            if (f->index >= FDSP_MAX_BATCH || !fdsp__wire_code_ok(f->code))
                return FDSP_E_VALUE;
            if ((rc = fdsp__check_cstr(f->message, FDSP__TEXT, 1)))
                return rc;
        }
        if (m->n_stamps > FDSP_MAX_BATCH)
            return FDSP_E_LIMIT;
        if (m->n_stamps > 0 && m->stamps == NULL)
            return FDSP_E_VALUE;
        for (size_t i = 0; i < m->n_stamps; i++)
            if (m->stamps[i].index >= FDSP_MAX_BATCH)
                return FDSP_E_VALUE;
        if (m->n_notices > FDSP_MAX_BATCH)
            return FDSP_E_LIMIT;
        if (m->n_notices > 0 && m->notices == NULL)
            return FDSP_E_VALUE;
        for (size_t i = 0; i < m->n_notices; i++) {
            const fdsp_notice *x = &m->notices[i];
            if (x->index >= FDSP_MAX_BATCH)
                return FDSP_E_VALUE;
            if ((rc = fdsp__check_cstr(x->kind, FDSP__NAME, 1)) ||
                (rc = fdsp__check_cstr(x->field, FDSP__NAME, 1)) ||
                (rc = fdsp__check_cstr(x->owner, FDSP__ID, 0)))
                return rc;
        }
        return FDSP_OK;
    case FDSP_PULL:
        if ((rc = fdsp__check_int(m->after, 0, FDSP__MAX_INT, FDSP_E_VALUE)))
            return rc;
        return fdsp__check_int(m->limit, 1, FDSP_MAX_BATCH, FDSP_E_LIMIT);
    case FDSP_CHANGES:
        if ((rc = check_changes(m, 0, 1)) ||
            (rc = fdsp__check_int(m->after, 0, FDSP__MAX_INT, FDSP_E_VALUE)))
            return rc;
        return fdsp__check_int(m->last, 0, FDSP__MAX_INT, FDSP_E_VALUE);
    case FDSP_REVOKE:
        if (m->n_records > FDSP_MAX_REVOKE)
            return FDSP_E_LIMIT;
        if (m->n_records == 0 || m->records == NULL)
            return FDSP_E_VALUE;
        for (size_t i = 0; i < m->n_records; i++)
            if ((rc = fdsp__check_cstr(m->records[i].table, FDSP__NAME, 1)) ||
                (rc = fdsp__check_cstr(m->records[i].record, FDSP__ID, 1)))
                return rc;
        return FDSP_OK;
    case FDSP_NOTIFY:
        return fdsp__check_int(m->head, 0, FDSP__MAX_INT, FDSP_E_VALUE);
    case FDSP_ERROR:
        if (!fdsp__wire_code_ok(m->code))
            return FDSP_E_VALUE;
        if ((rc = fdsp__check_cstr(m->message, FDSP__TEXT, 1)))
            return rc;
        return fdsp__check_int(m->batch, 0, FDSP__MAX_INT, FDSP_E_VALUE);
    case FDSP_SUMS:
        /* Exactly one checksum per bucket: fewer is a bad value, more a
        ** limit, as the decoder's array check has it. */
        if (m->n_sums > FDSP_SUM_BUCKETS)
            return FDSP_E_LIMIT;
        if (m->n_sums < FDSP_SUM_BUCKETS || m->sums == NULL)
            return FDSP_E_VALUE;
        return FDSP_OK;
    case FDSP_REPAIR:
        if (m->n_buckets > FDSP_SUM_BUCKETS)
            return FDSP_E_LIMIT;
        if (m->n_buckets > 0 && m->buckets == NULL)
            return FDSP_E_VALUE;
        for (size_t i = 0; i < m->n_buckets; i++)
            if (m->buckets[i] < 0 || m->buckets[i] >= FDSP_SUM_BUCKETS)
                return FDSP_E_VALUE;
        return FDSP_OK;
    case FDSP_BLOB_PUT:
    case FDSP_BLOB_ACK:
    case FDSP_BLOB_GET:
    case FDSP_BLOB_DATA:
        return fdsp__check_blob(m);
    }
    return FDSP_E_UNKNOWN_TYPE;
}

/* ---- The output buffer ---------------------------------------------------------
** Appends never fail visibly: on OOM or once the text passes FDSP_MAX_FRAME
** the buffer stops growing and remembers why; fdsp_encode looks once at the
** end.  Past the frame limit nothing more is written, so a message far too
** large costs at most one frame of work. */
typedef struct wbuf {
    char *p;
    size_t n;       /* bytes written */
    size_t cap;     /* bytes allocated (one more is kept for the NUL) */
    int oom;        /* allocation failed */
    int big;        /* text longer than FDSP_MAX_FRAME */
} wbuf;

static int wgrow(wbuf *w, size_t need)
{
    if (w->oom || w->big)
        return -1;
    if (w->n + need > FDSP_MAX_FRAME) {
        w->big = 1;
        return -1;
    }
    size_t cap = w->cap ? w->cap : 256;
    while (cap < w->n + need + 1)
        cap *= 2;
    if (cap > FDSP_MAX_FRAME + 1)
        cap = FDSP_MAX_FRAME + 1;
    /* malloc first (so the tests' allocation-failure hook reaches it),
    ** realloc to grow. */
    char *p = w->p == NULL ? malloc(cap) : realloc(w->p, cap);
    if (p == NULL) {
        w->oom = 1;
        return -1;
    }
    w->p = p;
    w->cap = cap;
    return 0;
}

/* Room for need more bytes (plus the final NUL), or -1. */
static inline int wroom(wbuf *w, size_t need)
{
    if (w->n + need < w->cap)
        return 0;
    return wgrow(w, need);
}

static inline void wmem(wbuf *w, const char *s, size_t n)
{
    if (wroom(w, n) == 0) {
        memcpy(w->p + w->n, s, n);
        w->n += n;
    }
}

#define WLIT(w, lit) wmem((w), (lit), sizeof(lit) - 1)

static inline void wch(wbuf *w, char c)
{
    if (wroom(w, 1) == 0)
        w->p[w->n++] = c;
}

/* Decimal, as jansson's "%lld". */
static void wint(wbuf *w, int64_t v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        tmp[--i] = '-';
    wmem(w, tmp + i, sizeof tmp - i);
}

/* Bytes that end a run of plain string bytes: '"', '\' and controls. */
static inline int needs_escape(unsigned char c)
{
    return c < 0x20 || c == '"' || c == '\\';
}

/* 1 if none of the eight bytes at p needs an escape (SWAR; bytes >= 0x80
** pass, as they are written raw). */
static inline int plain8(const unsigned char *p)
{
    uint64_t x;
    memcpy(&x, p, 8);
    return fdsp__ctl_quote8(x) == 0;
}

/* A JSON string of s[0..n), escaped as jansson's dump_string does without
** JSON_ENSURE_ASCII / JSON_ESCAPE_SLASH.  s is valid UTF-8 (checked). */
static void wstrn(wbuf *w, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    /* Worst case every byte becomes \u00XX: reserve for the common case
    ** (no escapes) and grow again only if an escape turns up. */
    if (wroom(w, n + 2) != 0)
        return;
    w->p[w->n++] = '"';
    while (i < n) {
        size_t run = i;
        while (run + 8 <= n && plain8(p + run))
            run += 8;
        while (run < n && !needs_escape(p[run]))
            run++;
        wmem(w, s + i, run - i);
        if (run == n)
            break;
        unsigned char c = p[run];
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t k = 2;
        switch (c) {
        case '"':  esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            esc[1] = 'u'; esc[2] = '0'; esc[3] = '0';
            esc[4] = hex[c >> 4]; esc[5] = hex[c & 0xf];
            k = 6;
            break;
        }
        wmem(w, esc, k);
        i = run + 1;
    }
    wch(w, '"');
}

static inline void wstr(wbuf *w, const char *s)
{
    wstrn(w, s, strlen(s));
}

/* ---- Messages ------------------------------------------------------------------ */

/* ,"key":v for an optional integer member; nothing when v is 0. */
static void wopt_int(wbuf *w, const char *keylit, size_t keyn, int64_t v)
{
    if (v != 0) {
        wmem(w, keylit, keyn);
        wint(w, v);
    }
}
#define WOPT_INT(w, lit, v) wopt_int((w), (lit), sizeof(lit) - 1, (v))

/* The vv object, keys in strcmp order whatever order the struct has (the
** checks guarantee 1..FDSP_MAX_VV entries, distinct non-NULL devices). */
static void wvv(wbuf *w, const fdsp_vv *vv)
{
    const fdsp_vv_entry *idx[FDSP_MAX_VV];
    size_t n = vv->n;
    for (size_t i = 0; i < n; i++) {
        const fdsp_vv_entry *e = &vv->e[i];
        size_t k = i;
        while (k > 0 && strcmp(idx[k - 1]->device, e->device) > 0) {
            idx[k] = idx[k - 1];
            k--;
        }
        idx[k] = e;
    }
    wch(w, '{');
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            wch(w, ',');
        wstr(w, idx[i]->device);
        wch(w, ':');
        wint(w, (int64_t)idx[i]->counter);
    }
    wch(w, '}');
}

/* One change, as fdsp_change_to_json builds it. */
static void wchange(wbuf *w, const fdsp_change *c)
{
    char hlc[17];
    WLIT(w, "{\"t\":");
    wstr(w, c->table);
    WLIT(w, ",\"r\":");
    wstr(w, c->record);
    WLIT(w, ",\"f\":");
    wstr(w, c->field);
    WLIT(w, ",\"v\":");
    if (c->value != NULL)
        wstr(w, c->value);
    else
        WLIT(w, "null");
    WLIT(w, ",\"vv\":");
    wvv(w, &c->vv);
    fdsp__hlc_format(c->hlc, hlc);
    WLIT(w, ",\"h\":\"");
    wmem(w, hlc, 16);
    WLIT(w, "\",\"d\":");
    wstr(w, c->device);
    if (c->user != NULL && c->user[0] != '\0') {
        WLIT(w, ",\"u\":");
        wstr(w, c->user);
    }
    if (c->seq != 0) {
        WLIT(w, ",\"s\":");
        wint(w, c->seq);
    }
    if (c->server_ms != 0) {
        WLIT(w, ",\"at\":");
        wint(w, c->server_ms);
    }
    wch(w, '}');
}

/* A change group (PROTOCOL.md §5.1) of c[0..n), n >= 2, which
** fdsp__group_run found groupable. */
static void wgroup(wbuf *w, const fdsp_change *c, size_t n)
{
    char hlc[17];
    const fdsp_change *h = &c[0];
    int64_t sstep = fdsp__group_sstep(h->seq);
    WLIT(w, "{\"t\":");
    wstr(w, h->table);
    WLIT(w, ",\"r\":");
    wstr(w, h->record);
    WLIT(w, ",\"d\":");
    wstr(w, h->device);
    if (h->user != NULL && h->user[0] != '\0') {
        WLIT(w, ",\"u\":");
        wstr(w, h->user);
    }
    WLIT(w, ",\"vv\":");
    wvv(w, &h->vv);
    fdsp__hlc_format(h->hlc, hlc);
    WLIT(w, ",\"h\":\"");
    wmem(w, hlc, 16);
    wch(w, '"');
    WOPT_INT(w, ",\"s\":", h->seq);
    WOPT_INT(w, ",\"at\":", h->server_ms);
    WLIT(w, ",\"g\":[");
    for (size_t k = 0; k < n; k++) {
        if (k > 0)
            wch(w, ',');
        WLIT(w, "{\"f\":");
        wstr(w, c[k].field);
        WLIT(w, ",\"v\":");
        if (c[k].value != NULL)
            wstr(w, c[k].value);
        else
            WLIT(w, "null");
        fdsp__delta d;
        if (k > 0 && fdsp__group_delta(&c[k - 1], &c[k], &d)) {
            if (!d.vv_default) {
                WLIT(w, ",\"vv\":{");
                for (size_t i = 0; i < d.nd; i++) {
                    if (i > 0)
                        wch(w, ',');
                    wstr(w, d.dev[i]);
                    wch(w, ':');
                    wint(w, (int64_t)d.ctr[i]);
                }
                wch(w, '}');
            }
            if (d.dh != 1) {
                WLIT(w, ",\"h\":");
                wint(w, d.dh);
            }
            if (d.ds != sstep) {
                WLIT(w, ",\"s\":");
                wint(w, d.ds);
            }
            WOPT_INT(w, ",\"at\":", d.dat);
        }
        wch(w, '}');
    }
    WLIT(w, "]}");
}

static void wchanges(wbuf *w, const fdsp_msg *m, unsigned opts)
{
    wch(w, '[');
    for (size_t i = 0; i < m->n_changes;) {
        size_t run = (opts & FDSP_ENC_GROUPS)
            ? fdsp__group_run(&m->changes[i], m->n_changes - i) : 1;
        if (i > 0)
            wch(w, ',');
        if (run > 1)
            wgroup(w, &m->changes[i], run);
        else
            wchange(w, &m->changes[i]);
        i += run;
    }
    wch(w, ']');
}

/* A first guess at the size, so most messages need one allocation (the
** buffer grows if not).  No strlen: the strings are measured as written. */
static size_t estimate(const fdsp_msg *m)
{
    size_t n = 256 + m->n_changes * 320 + m->n_refused * 96 +
               m->n_records * 96 + m->n_stamps * 40 + m->n_sums * 20 +
               m->n_notices * 128 +
               m->n_buckets * 4 + m->n_data / 3 * 4 + 8;
    return n > FDSP_MAX_FRAME ? FDSP_MAX_FRAME : n;
}


/* hello / welcome: counter, store, epoch, each only when present. */
static void wtrust(wbuf *w, const fdsp_msg *m)
{
    WOPT_INT(w, ",\"counter\":", m->dev_counter);
    if (m->store != NULL) {
        WLIT(w, ",\"store\":");
        wstr(w, m->store);
    }
    WOPT_INT(w, ",\"epoch\":", m->epoch);
}

/* A blob message: sha, size (put, data), offset, data (put, data), and
** code + message when a refusal (ack, data). */
static void wblob(wbuf *w, const fdsp_msg *m)
{
    int sized = m->type == FDSP_BLOB_PUT || m->type == FDSP_BLOB_DATA;
    WLIT(w, ",\"sha\":");
    wstr(w, m->sha);
    if (sized) {
        WLIT(w, ",\"size\":");
        wint(w, m->size);
    }
    WLIT(w, ",\"offset\":");
    wint(w, m->offset);
    if (sized) {
        size_t n = fdsp__b64_len(m->n_data);
        WLIT(w, ",\"data\":\"");
        if (wroom(w, n) == 0) {
            fdsp__b64_encode(m->data, m->n_data, w->p + w->n);
            w->n += n;
        }
        wch(w, '"');
    }
    if (m->code != 0) {
        WLIT(w, ",\"code\":");
        wstr(w, fdsp_errname(m->code));
        WLIT(w, ",\"message\":");
        wstr(w, m->message);
    }
}

/* Members after "type", in the order PROTOCOL.md lists them. */
static void wbody(wbuf *w, const fdsp_msg *m, unsigned opts)
{
    switch (m->type) {
    case FDSP_HELLO:
        WLIT(w, ",\"v\":1,\"device\":");
        wstr(w, m->device);
        WLIT(w, ",\"cursor\":");
        wint(w, m->cursor);
        wtrust(w, m);
        if (m->client != NULL) {
            WLIT(w, ",\"client\":");
            wstr(w, m->client);
        }
        if (m->live)
            WLIT(w, ",\"live\":true");
        if (m->groups)
            WLIT(w, ",\"groups\":true");
        if (m->blobs)
            WLIT(w, ",\"blobs\":true");
        break;
    case FDSP_WELCOME:
        WLIT(w, ",\"v\":1,\"user\":");
        wstr(w, m->user);
        WLIT(w, ",\"role\":");
        wstr(w, m->role);
        WLIT(w, ",\"device\":");
        wstr(w, m->device);
        WLIT(w, ",\"head\":");
        wint(w, m->head);
        wtrust(w, m);
        WOPT_INT(w, ",\"time\":", m->server_time);
        if (m->groups)
            WLIT(w, ",\"groups\":true");
        if (m->blobs)
            WLIT(w, ",\"blobs\":true");
        break;
    case FDSP_PUSH:
        WLIT(w, ",\"batch\":");
        wint(w, m->batch);
        WLIT(w, ",\"changes\":");
        wchanges(w, m, opts);
        break;
    case FDSP_ACK:
        WLIT(w, ",\"batch\":");
        wint(w, m->batch);
        WLIT(w, ",\"accepted\":");
        wint(w, (int64_t)m->accepted);
        WLIT(w, ",\"refused\":[");
        for (size_t i = 0; i < m->n_refused; i++) {
            const fdsp_refusal *f = &m->refused[i];
            if (i > 0)
                wch(w, ',');
            WLIT(w, "{\"i\":");
            wint(w, (int64_t)f->index);
            WLIT(w, ",\"code\":");
            wstr(w, fdsp_errname(f->code));
            WLIT(w, ",\"message\":");
            wstr(w, f->message);
            wch(w, '}');
        }
        wch(w, ']');
        if (m->n_stamps > 0) {
            WLIT(w, ",\"stamps\":[");
            for (size_t i = 0; i < m->n_stamps; i++) {
                char hlc[17];
                if (i > 0)
                    wch(w, ',');
                WLIT(w, "{\"i\":");
                wint(w, (int64_t)m->stamps[i].index);
                fdsp__hlc_format(m->stamps[i].hlc, hlc);
                WLIT(w, ",\"h\":\"");
                wmem(w, hlc, 16);
                WLIT(w, "\"}");
            }
            wch(w, ']');
        }
        if (m->n_notices > 0) {
            WLIT(w, ",\"notices\":[");
            for (size_t i = 0; i < m->n_notices; i++) {
                const fdsp_notice *x = &m->notices[i];
                if (i > 0)
                    wch(w, ',');
                WLIT(w, "{\"i\":");
                wint(w, (int64_t)x->index);
                WLIT(w, ",\"kind\":");
                wstr(w, x->kind);
                WLIT(w, ",\"f\":");
                wstr(w, x->field);
                if (x->owner) {
                    WLIT(w, ",\"owner\":");
                    wstr(w, x->owner);
                }
                wch(w, '}');
            }
            wch(w, ']');
        }
        break;
    case FDSP_PULL:
        WLIT(w, ",\"after\":");
        wint(w, m->after);
        WLIT(w, ",\"limit\":");
        wint(w, m->limit);
        break;
    case FDSP_CHANGES:
        /* "after" first: the server writes a live batch once and puts
        ** each device's own "after" in front of the same bytes. */
        WOPT_INT(w, ",\"after\":", m->after);
        WLIT(w, ",\"changes\":");
        wchanges(w, m, opts);
        WLIT(w, ",\"last\":");
        wint(w, m->last);
        if (m->more)
            WLIT(w, ",\"more\":true");
        else
            WLIT(w, ",\"more\":false");
        break;
    case FDSP_REVOKE:
        WLIT(w, ",\"records\":[");
        for (size_t i = 0; i < m->n_records; i++) {
            if (i > 0)
                wch(w, ',');
            WLIT(w, "{\"t\":");
            wstr(w, m->records[i].table);
            WLIT(w, ",\"r\":");
            wstr(w, m->records[i].record);
            wch(w, '}');
        }
        wch(w, ']');
        break;
    case FDSP_NOTIFY:
        WLIT(w, ",\"head\":");
        wint(w, m->head);
        break;
    case FDSP_ERROR:
        WLIT(w, ",\"code\":");
        wstr(w, fdsp_errname(m->code));
        WLIT(w, ",\"message\":");
        wstr(w, m->message);
        if (m->batch != 0) {
            WLIT(w, ",\"batch\":");
            wint(w, m->batch);
        }
        if (m->fatal)
            WLIT(w, ",\"fatal\":true");
        break;
    case FDSP_SUMS:
        WLIT(w, ",\"buckets\":[");
        for (size_t i = 0; i < m->n_sums; i++) {
            char hex[17];
            if (i > 0)
                wch(w, ',');
            fdsp__hlc_format(m->sums[i], hex);
            wch(w, '"');
            wmem(w, hex, 16);
            wch(w, '"');
        }
        wch(w, ']');
        break;
    case FDSP_REPAIR:
        WLIT(w, ",\"buckets\":[");
        for (size_t i = 0; i < m->n_buckets; i++) {
            if (i > 0)
                wch(w, ',');
            wint(w, m->buckets[i]);
        }
        wch(w, ']');
        break;
    case FDSP_BLOB_PUT:
    case FDSP_BLOB_ACK:
    case FDSP_BLOB_GET:
    case FDSP_BLOB_DATA:
        wblob(w, m);
        break;
    }
}

int fdsp_encode(const fdsp_msg *m, char **out, size_t *len)
{
    return fdsp_encode_opt(m, 0, out, len);
}

int fdsp_encode_opt(const fdsp_msg *m, unsigned opts, char **out, size_t *len)
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

    wbuf w = {NULL, 0, 0, 0, 0};
    if (wgrow(&w, estimate(m)) != 0) {
        free(w.p);
        return w.big ? FDSP_E_TOOBIG : FDSP_E_NOMEM;
    }
    WLIT(&w, "{\"type\":");
    wstr(&w, tname);
    wbody(&w, m, opts);
    wch(&w, '}');
    /* 500 changes of 16 KiB values exceed the frame: the caller splits. */
    if (w.oom || w.big) {
        free(w.p);
        return w.oom ? FDSP_E_NOMEM : FDSP_E_TOOBIG;
    }
    w.p[w.n] = '\0';
    *out = w.p;
    if (len != NULL)
        *len = w.n;
    return FDSP_OK;
}
