/*
** blobx.c — moving blob bytes in a sync session (PROTOCOL.md §14).
**
** The queue is built once per session from the replica's attachments:
** blobs whole here that the server is not known to hold (meta
** "blob_up:SHA" says it is) go up, blobs referenced but missing go down.
** One request is outstanding at a time (stop and wait, one chunk per
** round trip): a record message never queues behind more than one chunk.
**
** Upload: a probe (blob_put with no data at offset 0) asks the server how
** much it holds; chunks follow from there, each acknowledged with the
** server's new length, so a cut costs at most the chunk in flight.  The
** server checks the SHA-256 when the last byte lands and only then acks
** the full size.  Download: blob_get from the bytes held, appending each
** blob_data; the core hashes what it appends (and, on a resume, what was
** held) and the blob becomes whole only if the hash matches.
*/
#include "domain.h"
#include "blobx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct bitem {
    char sha[FDSP_SHA256_HEX + 1];
    int64_t size;
    int up;
    char name[64];          /* for notes: the first file name seen */
} bitem;

struct fds__blobx {
    fds_replica *r;
    fds_blob_io io;
    unsigned flags;
    char only[FDSP_SHA256_HEX + 1];
    json_t *notes;
    int peer;               /* the welcome said "blobs" */
    int built;
    bitem *q;
    size_t n, at;
    int waiting;            /* a request is out */
    int started;            /* the current item has begun */
    int64_t off;            /* up: server's length; down: bytes held */
    fdsp_sha256 h;          /* down: hash of the bytes held so far */
    unsigned char *buf;     /* FDSP_BLOB_CHUNK */
    fds_blob_stats st;
    int has_pol;            /* fds__blobx_policy was given */
    fds_blob_policy pol;
    int stale;              /* new records may name new blobs: rebuild
                            ** the queue once it is drained */
    char (*done)[FDSP_SHA256_HEX + 1];  /* refused or failed this session:
                                        ** not tried again on a rebuild */
    size_t n_done;
    char (*later)[FDSP_SHA256_HEX + 1]; /* not on the server yet: tried
                                        ** again on a rebuild, told once */
    size_t n_later;
};

int fds_blob_prefetch_ok(const fds_blob_policy *p, int64_t used,
                         int64_t size, int64_t held)
{
    if (!p)
        return 1;
    if (p->manual)
        return 0;
    if (p->budget < 0)
        return 1;
    int64_t cost = size - (held > 0 && held < size ? held : 0);
    if (cost < 0 || used < 0)
        return 0;
    return used <= p->budget && cost <= p->budget - used;
}

void fds__blobx_policy(fds__blobx *x, const fds_blob_policy *p)
{
    if (!x || !p)
        return;
    x->pol = *p;
    x->has_pol = 1;
}

/* Index of sha in the "not on the server yet" list, or -1. */
static long later_at(const fds__blobx *x, const char *sha)
{
    for (size_t i = 0; i < x->n_later; i++)
        if (strcmp(x->later[i], sha) == 0)
            return (long)i;
    return -1;
}

static void later_drop(fds__blobx *x, const char *sha)
{
    long i = later_at(x, sha);
    if (i < 0)
        return;
    memmove(&x->later[i], &x->later[i + 1],
            (x->n_later - (size_t)i - 1) * sizeof *x->later);
    x->n_later--;
}

static int was_done(const fds__blobx *x, const char *sha)
{
    for (size_t i = 0; i < x->n_done; i++)
        if (strcmp(x->done[i], sha) == 0)
            return 1;
    return 0;
}

/* Remember a blob refused or failed in this session (best effort: without
** memory it is only tried again on the next rebuild). */
static void mark_done(fds__blobx *x, const char *sha)
{
    void *p = realloc(x->done, (x->n_done + 1) * sizeof *x->done);
    if (!p)
        return;
    x->done = p;
    snprintf(x->done[x->n_done++], FDSP_SHA256_HEX + 1, "%s", sha);
}

static void xnote(fds__blobx *x, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void xnote(fds__blobx *x, const char *fmt, ...)
{
    char b[FDS__ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, sizeof b, fmt, ap);
    va_end(ap);
    fdsp_utf8_trim(b);
    if (x->notes)
        json_array_append_new(x->notes, json_string(b));
}

int fds__blobx_new(fds_replica *r, const fds_blob_io *io, unsigned flags,
                   const char *only, json_t *notes, fds__blobx **out)
{
    *out = NULL;
    if (!io || !io->held || !io->read || !io->append || !io->finish)
        return fds__error(r, FDS_INVALID, "blob io needs every callback");
    if (only && !fdsp_sha_ok(only))
        return fds__error(r, FDS_INVALID, "not a SHA-256: %s", only);
    fds__blobx *x = calloc(1, sizeof *x);
    if (!x || !(x->buf = malloc(FDSP_BLOB_CHUNK))) {
        free(x);
        return fds__error(r, FDS_NOMEM, "out of memory");
    }
    x->r = r;
    x->io = *io;
    x->flags = flags;
    if (only)
        snprintf(x->only, sizeof x->only, "%s", only);
    x->notes = notes;
    *out = x;
    return FDS_OK;
}

void fds__blobx_free(fds__blobx *x)
{
    if (!x)
        return;
    free(x->q);
    free(x->buf);
    free(x->done);
    free(x->later);
    free(x);
}

void fds__blobx_peer(fds__blobx *x, int blobs)
{
    x->peer = blobs;
}

static int known_up(fds__blobx *x, const char *sha)
{
    char key[16 + FDSP_SHA256_HEX], *v = NULL;
    snprintf(key, sizeof key, "blob_up:%s", sha);
    int rc = fds_meta_get(x->r, key, &v);
    free(v);
    return rc == FDS_OK;
}

static int mark_up(fds__blobx *x, const char *sha)
{
    char key[16 + FDSP_SHA256_HEX];
    snprintf(key, sizeof key, "blob_up:%s", sha);
    return fds_meta_set(x->r, key, "1");
}

/* The queue: each distinct blob once, uploads first (the server learns of
** this device's photos before it fetches others'). */
static int build(fds__blobx *x)
{
    json_t *all = NULL;
    int rc = fds_attachments_list(x->r, &all);
    if (rc != FDS_OK)
        return rc;
    size_t n = json_array_size(all), i;
    x->q = calloc(n ? n : 1, sizeof *x->q);
    if (!x->q) {
        json_decref(all);
        return fds__error(x->r, FDS_NOMEM, "out of memory");
    }
    /* Fetching ahead of time spends the day's budget: today's bytes so
    ** far, this session's, and what is queued before each candidate. */
    int limit = x->has_pol && !x->only[0];
    int64_t planned = x->pol.used_today + x->st.bytes_down;
    for (int pass = 1; pass >= 0; pass--) {
        json_t *e;
        json_array_foreach(all, i, e) {
            const char *sha = fds__jstr(e, "sha256");
            json_t *sz = json_object_get(e, "size");
            if (!sha || !fdsp_sha_ok(sha) || !json_is_integer(sz))
                continue;
            if (x->only[0] && strcmp(sha, x->only) != 0)
                continue;
            int dup = 0;
            for (size_t k = 0; k < x->n && !dup; k++)
                dup = strcmp(x->q[k].sha, sha) == 0;
            if (dup)
                continue;
            if (was_done(x, sha))
                continue;
            int complete = 0;
            int64_t held = x->io.held(x->io.ctx, sha, &complete);
            int up = complete && (x->flags & FDS_BLOBS_UP) &&
                     !known_up(x, sha);
            int down = !complete && (x->flags & FDS_BLOBS_DOWN);
            if ((pass == 1 && !up) || (pass == 0 && !down))
                continue;
            if (!up && limit) {
                int64_t size = json_integer_value(sz);
                if (!fds_blob_prefetch_ok(&x->pol, planned, size, held)) {
                    x->st.held_back++;
                    continue;
                }
                planned += size - (held > 0 && held < size ? held : 0);
            }
            bitem *it = &x->q[x->n++];
            snprintf(it->sha, sizeof it->sha, "%s", sha);
            it->size = json_integer_value(sz);
            it->up = up;
            snprintf(it->name, sizeof it->name, "%s",
                     fds__jstr(e, "name") ? fds__jstr(e, "name") : sha);
            fdsp_utf8_trim(it->name);
        }
    }
    json_decref(all);
    x->built = 1;
    return FDS_OK;
}

int fds__blobx_busy(const fds__blobx *x)
{
    return x && x->peer && (!x->built || x->at < x->n || x->stale);
}

/* New local changes or pulled records (watch mode): look for new blobs
** once the queue in hand is drained (a transfer is never cut short). */
void fds__blobx_rescan(fds__blobx *x)
{
    if (x && x->built)
        x->stale = 1;
}

static void rebuild_if_stale(fds__blobx *x)
{
    if (!x->stale || x->at < x->n || x->waiting)
        return;
    free(x->q);
    x->q = NULL;
    x->n = x->at = 0;
    x->built = 0;
    x->stale = 0;
    x->st.held_back = 0;            /* counted again by the new queue */
}

static void advance(fds__blobx *x)
{
    x->at++;
    x->started = 0;
    x->waiting = 0;
    x->off = 0;
}

static int emit(fds__blobx *x, fdsp_msg *m, char **buf, size_t *len)
{
    int rc = fdsp_encode(m, buf, len);
    if (rc == FDSP_E_NOMEM)
        return fds__error(x->r, FDS_NOMEM, "out of memory");
    if (rc != FDSP_OK)
        return fds__error(x->r, FDS_ERROR, "cannot encode %s: %s",
                          fdsp_typename(m->type), fdsp_errname(rc));
    x->waiting = 1;
    return FDS_OK;
}

/* A resumed download: hash the bytes already held. */
static int hash_held(fds__blobx *x, bitem *it)
{
    int complete = 0;
    int64_t held = x->io.held(x->io.ctx, it->sha, &complete);
    fdsp_sha256_init(&x->h);
    if (held < 0 || held > it->size)
        held = 0;       /* nonsense: start over (finish(0) drops it) */
    for (int64_t at = 0; at < held;) {
        size_t k = held - at < FDSP_BLOB_CHUNK ? (size_t)(held - at)
                                               : FDSP_BLOB_CHUNK;
        long got = x->io.read(x->io.ctx, it->sha, 1, at, x->buf, k);
        if (got != (long)k) {
            x->io.finish(x->io.ctx, it->sha, 0);
            fdsp_sha256_init(&x->h);
            held = 0;
            break;
        }
        fdsp_sha256_update(&x->h, x->buf, k);
        at += (int64_t)k;
    }
    x->off = held;
    return FDS_OK;
}

int fds__blobx_next(fds__blobx *x, char **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    if (!x || !x->peer || x->waiting)
        return FDS_DONE;
    rebuild_if_stale(x);
    if (!x->built) {
        int rc = build(x);
        if (rc != FDS_OK)
            return rc;
    }
    while (x->at < x->n) {
        bitem *it = &x->q[x->at];
        fdsp_msg m;
        memset(&m, 0, sizeof m);
        m.sha = it->sha;
        if (it->up) {
            m.type = FDSP_BLOB_PUT;
            m.size = it->size;
            if (!x->started) {          /* the probe: where are we? */
                x->started = 1;
                m.offset = 0;
                return emit(x, &m, buf, len);
            }
            size_t k = it->size - x->off < FDSP_BLOB_CHUNK
                           ? (size_t)(it->size - x->off) : FDSP_BLOB_CHUNK;
            long got = x->io.read(x->io.ctx, it->sha, 0, x->off, x->buf, k);
            if (got != (long)k) {
                xnote(x, "photo %s: cannot read its bytes here", it->name);
                x->st.failed++;
                mark_done(x, it->sha);
                advance(x);
                continue;
            }
            m.offset = x->off;
            m.data = x->buf;
            m.n_data = k;
            int rc = emit(x, &m, buf, len);
            if (rc == FDS_OK) {
                x->st.bytes_up += (int64_t)k;
                x->st.chunks_up++;
            }
            return rc;
        }
        if (!x->started) {
            x->started = 1;
            hash_held(x, it);
        }
        m.type = FDSP_BLOB_GET;
        m.offset = x->off;
        return emit(x, &m, buf, len);
    }
    return FDS_DONE;
}

static int on_ack(fds__blobx *x, bitem *it, const fdsp_msg *m)
{
    if (m->code != 0) {
        xnote(x, "photo %s was refused by the server (%s): %s", it->name,
              fdsp_errname(m->code), m->message);
        x->st.refused++;
        mark_done(x, it->sha);
        advance(x);
        return FDS_OK;
    }
    if (m->offset == it->size) {        /* whole and verified there */
        int rc = mark_up(x, it->sha);
        if (rc != FDS_OK)
            return rc;
        x->st.uploaded++;
        advance(x);
        return FDS_OK;
    }
    if (m->offset > it->size)
        return fds__error(x->r, FDS_PROTO, "blob_ack past the blob's size");
    x->off = m->offset;
    x->waiting = 0;
    return FDS_OK;
}

/* 1 if a follow-up on this device still names blob sha.  A download
** refused as forbidden after its follow-up was revoked in this session
** (a reassignment, a move, a claim by someone else) is no news to the
** user: the photo left with the record. */
static int still_named(fds__blobx *x, const char *sha)
{
    json_t *all = NULL;
    if (fds_attachments_list(x->r, &all) != FDS_OK)
        return 1;                       /* unsure: say it */
    size_t i;
    json_t *e;
    int named = 0;
    json_array_foreach(all, i, e) {
        const char *h = fds__jstr(e, "sha256");
        if (h && strcmp(h, sha) == 0) {
            named = 1;
            break;
        }
    }
    json_decref(all);
    return named;
}

static int on_data(fds__blobx *x, bitem *it, const fdsp_msg *m)
{
    if (m->code == FDSP_E_STATE && !x->only[0]) {
        /* Not on the server yet (the record came first, as it should):
        ** asked again on the next rebuild (fds__blobx_rescan), and told
        ** once per session. */
        if (later_at(x, it->sha) < 0) {
            xnote(x, "photo %s could not be fetched (%s): %s", it->name,
                  fdsp_errname(m->code), m->message);
            x->st.refused++;
            void *p = realloc(x->later, (x->n_later + 1) * sizeof *x->later);
            if (p) {
                x->later = p;
                snprintf(x->later[x->n_later++], FDSP_SHA256_HEX + 1, "%s",
                         it->sha);
            } else {
                mark_done(x, it->sha);
            }
        }
        advance(x);
        return FDS_OK;
    }
    if (m->code != 0) {
        if (m->code != FDSP_E_FORBIDDEN || still_named(x, it->sha)) {
            xnote(x, "photo %s could not be fetched (%s): %s", it->name,
                  fdsp_errname(m->code), m->message);
            x->st.refused++;
        }
        mark_done(x, it->sha);
        advance(x);
        return FDS_OK;
    }
    if (m->offset != x->off || m->size != it->size ||
        (m->n_data == 0 && x->off < it->size))
        return fds__error(x->r, FDS_PROTO,
                          "blob_data at %lld, expected %lld of %lld bytes",
                          (long long)m->offset, (long long)x->off,
                          (long long)it->size);
    if (m->n_data > 0 &&
        x->io.append(x->io.ctx, it->sha, x->off, m->data, m->n_data) != 0) {
        xnote(x, "photo %s: cannot store its bytes here", it->name);
        x->st.failed++;
        mark_done(x, it->sha);
        advance(x);
        return FDS_OK;
    }
    fdsp_sha256_update(&x->h, m->data, m->n_data);
    x->off += (int64_t)m->n_data;
    x->st.bytes_down += (int64_t)m->n_data;
    x->waiting = 0;
    if (x->off < it->size)
        return FDS_OK;
    unsigned char d[32];
    char hex[FDSP_SHA256_HEX + 1];
    fdsp_sha256_final(&x->h, d);
    fdsp_sha256_hex(d, hex);
    int ok = strcmp(hex, it->sha) == 0;
    if (x->io.finish(x->io.ctx, it->sha, ok) != 0 || !ok) {
        xnote(x, "photo %s: the bytes fetched do not match its SHA-256; "
              "dropped, fetched again next time", it->name);
        x->st.failed++;
        mark_done(x, it->sha);
    } else {
        x->st.downloaded++;
        later_drop(x, it->sha);
        /* Whole here and on the server: nothing to upload. */
        int rc = mark_up(x, it->sha);
        if (rc != FDS_OK)
            return rc;
    }
    advance(x);
    return FDS_OK;
}

int fds__blobx_feed(fds__blobx *x, const fdsp_msg *m, char *err,
                    size_t errlen)
{
    if (!x || !x->waiting || x->at >= x->n ||
        strcmp(m->sha, x->q[x->at].sha) != 0 ||
        (m->type == FDSP_BLOB_ACK) != (x->q[x->at].up != 0)) {
        snprintf(err, errlen, "unexpected %s", fdsp_typename(m->type));
        return FDS_PROTO;
    }
    bitem *it = &x->q[x->at];
    int rc = m->type == FDSP_BLOB_ACK ? on_ack(x, it, m) : on_data(x, it, m);
    if (rc != FDS_OK)
        snprintf(err, errlen, "%s", fds_errmsg(x->r));
    return rc;
}

void fds__blobx_stats(const fds__blobx *x, fds_blob_stats *st)
{
    memset(st, 0, sizeof *st);
    if (!x)
        return;
    *st = x->st;
    st->left = (int64_t)(x->n - x->at);
    st->waiting = (int64_t)x->n_later;
}
