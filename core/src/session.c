/*
** session.c — the sans-I/O sync session (see the contract in fieldsync.h).
**
** State machine:
**   HANDSHAKE  next() gives hello; waits for welcome (anything else but an
**              error is a protocol violation).
**   SYNCING    push: up to WINDOW batches of outbox rows in flight, each
**              remembered with the log rows (lseq) it carried.  Once every
**              batch is acked and nothing is left to push, pull after the
**              cursor; changes are applied in one transaction together with
**              the cursor advance; more=1 pulls again.
**              Pipelined pulls: a page with more=1 is held, the pull after
**              its `last` goes out first, then the held page is applied
**              (fds_session_next after that, the next feed, or
**              fds_session_apply), so the server prepares a page while we
**              apply the one before.  The stored cursor still moves only in
**              the transaction that applied a page: a held page that is
**              lost is pulled again, and a page that fails to apply fails
**              the session, so no page after it is applied.
**   IDLE       nothing in flight and caught up.  A notify with head beyond
**              the cursor, or fds_session_local_changed(), goes back to
**              SYNCING.  A live batch (changes with "after", sent
**              unprompted) is held and applied like a page when it lies on
**              top of the cursor and nothing is in flight; otherwise it
**              only says what a notify would (on_live).
**   FAILED     fatal server error or protocol violation; every later call
**              is refused.
** Pushed rows stay in the outbox until acked, so a lost ack only means the
** next session sends them again, which the server's merge treats as a
** no-op (rule 3/6).  Input is untrusted: undecodable or out-of-state
** messages fail with FDS_PROTO and never touch the replica.
*/
#include "internal.h"
#include "blobx.h"
#include "grouplog.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WINDOW 4                    /* unacknowledged push batches */
#define CLIENT_NAME "libfieldsync/0.1"

/* The strings and vectors of a push batch live in an arena kept by the
** session: its blocks are reused batch after batch, so reading the outbox
** allocates nothing per change once the first batch has been read. */
typedef struct arena_blk {
    struct arena_blk *next;
    size_t used, cap;
    max_align_t data[];
} arena_blk;

typedef struct arena {
    arena_blk *head;                /* in use; head is being filled */
    arena_blk *spare;               /* emptied by arena_reset */
} arena;

#define ARENA_BLOCK (60 * 1024)

static void *arena_alloc(arena *a, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
    arena_blk *b = a->head;
    if (b == NULL || b->cap - b->used < n) {
        arena_blk **pp = &a->spare;
        while (*pp && (*pp)->cap < n)
            pp = &(*pp)->next;
        if ((b = *pp) != NULL) {
            *pp = b->next;
        } else {
            size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
            if ((b = malloc(sizeof *b + cap)) == NULL)
                return NULL;
            b->cap = cap;
        }
        b->used = 0;
        b->next = a->head;
        a->head = b;
    }
    void *p = (char *)b->data + b->used;
    b->used += n;
    return p;
}

static void arena_reset(arena *a)
{
    while (a->head) {
        arena_blk *b = a->head;
        a->head = b->next;
        b->used = 0;
        b->next = a->spare;
        a->spare = b;
    }
}

static void arena_free(arena *a)
{
    arena_reset(a);
    while (a->spare) {
        arena_blk *next = a->spare->next;
        free(a->spare);
        a->spare = next;
    }
}

typedef struct inflight {
    int64_t batch;
    size_t n;
    int64_t *lseq;                  /* log rows carried, in batch order */
    unsigned char *rs;              /* rule 13: rs[i] 1 if row i is a
                                    ** re-send; NULL: all outbox rows */
} inflight;

struct fds_session {
    fds_replica *r;
    int state;
    int hello_sent;
    int64_t next_batch;             /* batch id of the next push */
    inflight fl[WINDOW];
    size_t n_fl;
    int64_t pushed_upto;            /* highest lseq sent this session */
    int pulling;                    /* a pull is awaiting its changes */
    int pull_wanted;                /* pull once the push side is quiet */
    int64_t pull_after;             /* `after` of the last pull given */
    fdsp_msg *held;                 /* received page not yet applied */
    char *raw;                      /* or its bytes, not yet decoded */
    size_t raw_len;
    int64_t raw_last;               /* its `last`, read ahead (peek_more) */
    int prefetch;                   /* pull after prefetch_after to give */
    int64_t prefetch_after;
    int manual_apply;               /* only fds_session_apply applies */
    int64_t cursor;                 /* mirrors meta "cursor" */
    int64_t head;                   /* latest server seq we were told of */
    fds_session_stats stats;
    /* Trust (rules 12-14; the functions in "Trust" below). */
    int reset_wanted;               /* rule 12: reset once nothing in flight */
    uint64_t reset_counter;         /* the welcome's counter (0: a clash) */
    int resets;                     /* done on this connection (at most 1) */
    int resending;                  /* rows queued for re-send may be left */
    json_t *notes;                  /* fds_session_notes */
    json_t *dups;                   /* fds_session_duplicates */
    fds__sums_ctl sums;             /* checksum safety net (sums.c) */
    arena mem;                      /* the push batch being built */
    char errmsg[FDS__ERRMSG_MAX];
    int peer_groups;                /* the welcome said "groups": pushes
                                    ** go out as change groups */
    fds__blobx *bx;                 /* blob transfer (blobx.c), or NULL */
    int push_limit;                 /* changes per push, 1..FDSP_MAX_BATCH:
                                    ** fds_session_set_push_limit, doubled
                                    ** by each ack (see there) */
};

static int fail(fds_session *s, int rc, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Trust (rules 12-14): defined in their own section below. */
static sqlite3_stmt *resend_stmt(fds_replica *r);
static int hello_trust(fds_session *s, fdsp_msg *m, char **store);
static int reset_next(fds_session *s, char **buf, size_t *len);
static int mark_acked(fds_replica *r, const int64_t *lseq, size_t n);
static int resend_left(fds_session *s);
static int restore_finish(fds_session *s);
static int meta_store(fds_replica *r, const char *skey, const char *ekey,
                      char **store, int64_t *epoch);

static int fail(fds_session *s, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->errmsg, sizeof s->errmsg, fmt, ap);
    va_end(ap);
    s->state = FDS_SESSION_FAILED;
    return rc;
}

/* A replica error ends the session with the replica's message. */
static int fail_db(fds_session *s, int rc)
{
    return fail(s, rc, "%s", fds_errmsg(s->r));
}

int fds_session_new(fds_replica *r, fds_session **out)
{
    *out = NULL;
    fds_session *s = calloc(1, sizeof *s);
    if (s == NULL)
        return fds__error(r, FDS_NOMEM, "out of memory");
    s->r = r;
    s->state = FDS_SESSION_HANDSHAKE;
    s->next_batch = 1;
    s->push_limit = FDSP_MAX_BATCH;
    int rc = fds__meta_get_i64(r, "cursor", 0, &s->cursor);
    if (rc == FDS_OK && (s->notes = json_array()) == NULL)
        rc = fds__error(r, FDS_NOMEM, "out of memory");
    if (rc == FDS_OK && (s->dups = json_array()) == NULL)
        rc = fds__error(r, FDS_NOMEM, "out of memory");
    if (rc != FDS_OK) {
        json_decref(s->notes);
        free(s);
        return rc;
    }
    *out = s;
    return FDS_OK;
}

static void inflight_clear(inflight *f)
{
    free(f->lseq);
    free(f->rs);
    memset(f, 0, sizeof *f);
}

void fds_session_free(fds_session *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n_fl; i++)
        inflight_clear(&s->fl[i]);
    arena_free(&s->mem);
    fdsp_msg_free(s->held);             /* never applied: pulled again */
    free(s->raw);
    json_decref(s->notes);
    fds__blobx_free(s->bx);
    json_decref(s->dups);
    free(s);
}

int fds_session_state(const fds_session *s)
{
    return s->state;
}

void fds_session_stats_get(const fds_session *s, fds_session_stats *st)
{
    *st = s->stats;
    st->repaired = s->sums.repaired;
    st->repaired_records = s->sums.records;
}

void fds_session_set_sums(fds_session *s, int on, int64_t interval_ms)
{
    s->sums.enabled = on != 0;
    s->sums.interval_ms = interval_ms;
}

/* Pushed everything and caught up: the checksums, when due (sums.c). */
static int send_sums(fds_session *s, char **buf, size_t *len)
{
    if (!fds__sums_due(&s->sums, s->r))
        return FDS_DONE;
    int rc = fds__sums_message(&s->sums, s->r, buf, len);
    if (rc != FDS_OK)
        return fail_db(s, rc);
    s->state = FDS_SESSION_SYNCING;
    return FDS_OK;
}

static int on_repair(fds_session *s, const fdsp_msg *m)
{
    int pull = 0;
    int rc = fds__sums_on_repair(&s->sums, s->r, m, &pull);
    if (rc != FDS_OK)
        return rc == FDS_PROTO ? fail(s, rc, "%s", fds_errmsg(s->r))
                               : fail_db(s, rc);
    if (pull) {
        s->pull_wanted = 1;
        s->state = FDS_SESSION_SYNCING;
    }
    return FDS_OK;
}

void fds_session_stats_add(fds_session_stats *t, const fds_session_stats *l)
{
    t->pushed += l->pushed;
    t->pulled += l->pulled;
    t->conflicts += l->conflicts;
    t->refused += l->refused;
    t->revoked += l->revoked;
    t->device_reset |= l->device_reset;
    t->server_restored |= l->server_restored;
    t->resent += l->resent;
    t->relay_dropped += l->relay_dropped;
    t->repaired += l->repaired;
    t->repaired_records += l->repaired_records;
    t->live += l->live;
    t->live_skipped += l->live_skipped;
    if (l->clock_known) {
        t->clock_known = 1;
        t->clock_skew_ms = l->clock_skew_ms;
    }
}

const char *fds_session_errmsg(const fds_session *s)
{
    return s->errmsg;
}

const json_t *fds_session_notes(const fds_session *s)
{
    return s->notes;
}

static void note(fds_session *s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* A note that cannot be stored (out of memory) is lost: it is a log line,
** not state. */
static void note(fds_session *s, const char *fmt, ...)
{
    char buf[FDS__ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    json_array_append_new(s->notes, json_string(buf));
}

void fds_session_local_changed(fds_session *s)
{
    /* With nothing in flight, every unacknowledged row is eligible again:
    ** this also retries a batch the server answered with a non-fatal
    ** error (at the caller's pace, e.g. once a second in watch mode). */
    if (s->n_fl == 0) {
        s->pushed_upto = 0;
        s->resending = 1;
    }
    fds__blobx_rescan(s->bx);          /* a new photo may be there */
    if (s->state == FDS_SESSION_IDLE)
        s->state = FDS_SESSION_SYNCING;
}

/* ---- Outgoing -------------------------------------------------------------- */

static int emit(fds_session *s, const fdsp_msg *m, char **buf, size_t *len)
{
    int rc = fdsp_encode(m, buf, len);
    if (rc == FDSP_E_NOMEM)
        return fail(s, FDS_NOMEM, "out of memory");
    if (rc != FDSP_OK)
        return fail(s, FDS_ERROR, "cannot encode %s: %s",
                    fdsp_typename(m->type), fdsp_errname(rc));
    return FDS_OK;
}

static int send_hello(fds_session *s, char **buf, size_t *len)
{
    fdsp_msg m;
    memset(&m, 0, sizeof m);
    m.type = FDSP_HELLO;
    m.version = FDSP_VERSION;
    m.device = s->r->device;
    m.cursor = s->cursor;
    m.client = CLIENT_NAME;
    m.live = 1;                     /* on_live takes unprompted changes */
    m.groups = 1;                   /* the codec expands change groups */
    m.blobs = s->bx != NULL;        /* PROTOCOL.md §14 */
    char *store = NULL;
    int rc = hello_trust(s, &m, &store);
    if (rc == FDS_OK)
        rc = emit(s, &m, buf, len);
    free(store);
    if (rc == FDS_OK)
        s->hello_sent = 1;
    return rc;
}

static int send_pull(fds_session *s, int64_t after, char **buf, size_t *len)
{
    fdsp_msg m;
    memset(&m, 0, sizeof m);
    m.type = FDSP_PULL;
    m.after = after;
    m.limit = FDSP_MAX_BATCH;
    int rc = emit(s, &m, buf, len);
    if (rc == FDS_OK) {
        s->pulling = 1;
        s->pull_wanted = 0;
        s->prefetch = 0;
        s->pull_after = after;
    }
    return rc;
}

/* Apply the held page: its changes and the cursor advance in one
** transaction.  On failure the session fails, so no later page is applied
** and the next session pulls again after the stored cursor. */
static int apply_held(fds_session *s)
{
    if (s->raw) {
        /* Decoded only now (the pull after it is out): anything but the
        ** page peek_more read fails the session before it applies. */
        char *raw = s->raw;
        s->raw = NULL;
        fdsp_msg *d = NULL;
        char err[256] = "";
        int prc = fdsp_decode_pooled(raw, s->raw_len, &d, err, sizeof err);
        free(raw);
        if (prc == FDSP_E_NOMEM) {
            s->prefetch = 0;
            return fail(s, FDS_NOMEM, "out of memory decoding a message");
        }
        if (prc != FDSP_OK) {
            s->prefetch = 0;
            return fail(s, FDS_PROTO, "undecodable message (%s): %s",
                        fdsp_errname(prc), err);
        }
        if (d->type != FDSP_CHANGES || !d->more || d->last != s->raw_last ||
            d->after != 0) {
            fdsp_msg_free(d);
            s->prefetch = 0;
            return fail(s, FDS_PROTO, "changes message differs from its "
                        "read-ahead");
        }
        s->held = d;
    }
    fdsp_msg *m = s->held;
    s->held = NULL;
    int64_t conflicts = 0;
    /* The server holds the page: no fsync (fds__begin_relaxed). */
    int rc = fds__begin_relaxed(s->r), began = rc == FDS_OK;
    /* no savepoint per change: an error rolls the whole batch back */
    if (rc == FDS_OK)
        rc = fds__apply_batch(s->r, m->changes, m->n_changes, &conflicts);
    int64_t cursor = m->last > s->cursor ? m->last : s->cursor;
    if (rc == FDS_OK && cursor != s->cursor)
        rc = fds__meta_set_i64(s->r, "cursor", cursor);
    if (began)
        rc = fds__end_relaxed(s->r, rc);
    if (rc != FDS_OK) {
        fdsp_msg_free(m);
        s->prefetch = 0;
        return fail_db(s, rc);
    }
    s->cursor = cursor;
    if (!m->more)
        s->sums.caught_up = 1;
    s->stats.pulled += (int64_t)m->n_changes;
    if (m->n_changes > 0)
        fds__blobx_rescan(s->bx);       /* they may name new photos */
    if (m->after > 0)
        s->stats.live += (int64_t)m->n_changes;
    s->stats.conflicts += conflicts;
    /* more=1: the pull after it is given (or about to be) already */
    if (!m->more && !s->pulling && !s->prefetch && s->head > s->cursor)
        s->pull_wanted = 1;
    fdsp_msg_free(m);
    return FDS_OK;
}

/* Column i as an arena string; NULL for SQL NULL (*oom set on failure). */
static char *col_arena(arena *a, sqlite3_stmt *st, int i, int *oom)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    if (t == NULL) {
        if (sqlite3_column_type(st, i) != SQLITE_NULL)
            *oom = 1;
        return NULL;
    }
    size_t n = (size_t)sqlite3_column_bytes(st, i);
    char *d = arena_alloc(a, n + 1);
    if (d == NULL) {
        *oom = 1;
        return NULL;
    }
    memcpy(d, t, n + 1);
    return d;
}

/* The vv text of a log row into the arena: what fds_vv_parse gives.  The
** plain canonical form (what log_add stores: ASCII device ids without
** escapes, strictly sorted) is read in place; anything else goes through
** fds_vv_parse and is copied. */
static int vv_arena(arena *a, const char *text, fdsp_vv *out)
{
    out->n = 0;
    out->e = NULL;
    const char *p = text;
    size_t n = 0;
    int plain = text != NULL && *p++ == '{';
    /* count entries first: one arena array, no growth */
    for (const char *q = p; plain && *q && *q != '}'; q++)
        n += *q == ':';
    if (plain && (n == 0 || n > FDSP_MAX_VV))
        plain = n == 0 && p[0] == '}' && p[1] == '\0';
    if (plain && n > 0) {
        fdsp_vv_entry *e = arena_alloc(a, n * sizeof *e);
        if (e == NULL)
            return FDS_NOMEM;
        size_t k = 0;
        while (plain && k < n) {
            if ((k > 0 && *p++ != ',') || *p++ != '"') {
                plain = 0;
                break;
            }
            const char *d = p;
            while (*p > 0x20 && *p != '"' && *p != '\\' &&
                   (unsigned char)*p < 0x80)
                p++;
            size_t len = (size_t)(p - d);
            int64_t ctr;
            if (*p++ != '"' || len == 0 || len > FDSP_MAX_ID || *p++ != ':' ||
                !fds__parse_i64(&p, &ctr) || ctr < 1) {
                plain = 0;
                break;
            }
            char *dev = arena_alloc(a, len + 1);
            if (dev == NULL)
                return FDS_NOMEM;
            memcpy(dev, d, len);
            dev[len] = '\0';
            if (k > 0 && strcmp(e[k - 1].device, dev) >= 0) {
                plain = 0;
                break;
            }
            e[k].device = dev;
            e[k].counter = (uint64_t)ctr;
            k++;
        }
        if (plain && p[0] == '}' && p[1] == '\0') {
            out->n = n;
            out->e = e;
            return FDS_OK;
        }
        plain = 0;
    } else if (plain) {
        return FDS_OK;                  /* "{}" */
    }
    fdsp_vv t;
    int rc = fds_vv_parse(text, &t);
    if (rc != FDS_OK)
        return rc;
    if (t.n > 0) {
        out->e = arena_alloc(a, t.n * sizeof *out->e);
        for (size_t i = 0; out->e && i < t.n; i++) {
            size_t len = strlen(t.e[i].device);
            char *dev = arena_alloc(a, len + 1);
            if (dev == NULL) {
                out->e = NULL;
                break;
            }
            memcpy(dev, t.e[i].device, len + 1);
            out->e[i].device = dev;
            out->e[i].counter = t.e[i].counter;
        }
        rc = out->e ? FDS_OK : FDS_NOMEM;
        out->n = out->e ? t.n : 0;
    }
    fdsp_vv_clear(&t);
    return rc;
}

/* Read up to s->push_limit outbox rows after s->pushed_upto: *out and
** every string and vector in it live in s->mem until the next read.
** resend: the rows queued for re-send too, in one lseq order with the
** outbox (rule 13; resend_stmt), each with the user it was stored with and
** *rs[i] saying which rows are re-sends (malloc'd). */
static int load_outbox(fds_session *s, fdsp_change **out, int64_t **lseq,
                       size_t *n, int resend, unsigned char **rs)
{
    fds_replica *r = s->r;
    *out = NULL;
    *lseq = NULL;
    *n = 0;
    sqlite3_stmt *st = resend ? resend_stmt(r) : fds__stmt(r, FDS__ST_OUTBOX_LIST,
        "SELECT lseq, tbl, rid, field, value, vv, hlc, device FROM log "
        "WHERE origin = 1 AND acked = 0 AND lseq > ?1 ORDER BY lseq LIMIT ?2");
    if (st == NULL)
        return fds__errcode(r);
    sqlite3_bind_int64(st, 1, s->pushed_upto);
    sqlite3_bind_int(st, 2, s->push_limit);
    arena *a = &s->mem;
    arena_reset(a);
    fdsp_change *c = arena_alloc(a, FDSP_MAX_BATCH * sizeof *c);
    int64_t *ls = calloc(FDSP_MAX_BATCH, sizeof *ls);
    if (resend && (*rs = calloc(FDSP_MAX_BATCH, 1)) == NULL) {
        free(ls);
        ls = NULL;
    }
    int rc = (c && ls) ? FDS_OK : FDS_NOMEM, step;
    size_t k = 0;
    while (rc == FDS_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
        fdsp_change *x = &c[k];
        int oom = 0;
        memset(x, 0, sizeof *x);
        ls[k] = sqlite3_column_int64(st, 0);
        k++;
        x->table = col_arena(a, st, 1, &oom);
        x->record = col_arena(a, st, 2, &oom);
        x->field = col_arena(a, st, 3, &oom);
        x->value = col_arena(a, st, 4, &oom);
        x->device = col_arena(a, st, 7, &oom);
        if (resend) {
            /* a re-sent row keeps its user; an outbox row, as below */
            (*rs)[k - 1] = sqlite3_column_int(st, 9) != 0;
            x->user = (*rs)[k - 1] ? col_arena(a, st, 8, &oom) : s->r->user;
        }
        x->hlc = (uint64_t)sqlite3_column_int64(st, 6);
        if (oom || !x->table || !x->record || !x->field || !x->device ||
            (resend && !x->user)) {
            rc = FDS_NOMEM;
            break;
        }
        rc = vv_arena(a, (const char *)sqlite3_column_text(st, 5), &x->vv);
    }
    if (rc == FDS_OK && step != SQLITE_DONE)
        rc = fds__dberror(r, "reading outbox");
    else if (rc == FDS_NOMEM)
        fds__error(r, rc, "out of memory");
    else if (rc != FDS_OK)
        rc = fds__error(r, FDS_DB, "outbox row %lld is corrupt",
                        (long long)ls[k - 1]);
    if (resend)
        sqlite3_finalize(st);
    else
        sqlite3_reset(st);
    if (rc != FDS_OK || k == 0) {
        free(ls);
        if (resend) {
            free(*rs);
            *rs = NULL;
        }
        return rc;
    }
    *out = c;
    *lseq = ls;
    *n = k;
    return FDS_OK;
}

/* Push the next outbox rows (while s->resending, the rows queued for
** re-send among them, rule 13).  FDS_DONE if there are none. */
static int send_push(fds_session *s, char **buf, size_t *len)
{
    fdsp_change *c;
    int64_t *ls;
    unsigned char *rs = NULL;
    size_t n;
    int resend = s->resending;
    int rc = load_outbox(s, &c, &ls, &n, resend, &rs);
    if (rc != FDS_OK)
        return fail_db(s, rc);
    if (n == 0) {
        s->resending = 0;               /* nothing queued is left */
        return FDS_DONE;
    }
    for (size_t i = 0; !resend && i < n; i++)
        c[i].user = s->r->user;         /* borrowed; not freed below */

    fdsp_msg m;
    memset(&m, 0, sizeof m);
    m.type = FDSP_PUSH;
    m.batch = s->next_batch;
    m.changes = c;
    m.n_changes = n;
    /* Large values can push a full batch past the frame limit: halve the
    ** batch until it fits (one change always fits).
    ** The encoder refuses a frame over FDSP_MAX_FRAME with FDSP_E_TOOBIG
    ** (it never hands out a frame the peer would refuse). */
    for (;;) {
        int erc = fdsp_encode_opt(&m, s->peer_groups ? FDSP_ENC_GROUPS : 0,
                                  buf, len);
        if (erc == FDSP_OK && *len > FDSP_MAX_FRAME) {
            free(*buf);
            *buf = NULL;
            erc = FDSP_E_TOOBIG;
        }
        if (erc == FDSP_E_TOOBIG && m.n_changes > 1) {
            m.n_changes = (m.n_changes + 1) / 2;
            continue;
        }
        if (erc == FDSP_E_TOOBIG)
            rc = fail(s, FDS_TOOBIG, "change %s/%s/%s does not fit in a frame",
                      c[0].table, c[0].record, c[0].field);
        else
            rc = erc == FDSP_OK ? FDS_OK : emit(s, &m, buf, len);
        break;
    }
    size_t sent = m.n_changes;
    if (rc != FDS_OK) {
        free(ls);
        free(rs);
        return rc;
    }
    inflight *f = &s->fl[s->n_fl++];
    f->batch = s->next_batch++;
    f->n = sent;
    f->lseq = ls;
    f->rs = rs;
    s->pushed_upto = ls[sent - 1];
    s->state = FDS_SESSION_SYNCING;
    return FDS_OK;
}

/* A blob message when nothing of the records' is to send (blobx.c). */
static int blob_next(fds_session *s, char **buf, size_t *len)
{
    if (s->bx == NULL)
        return FDS_DONE;
    int rc = fds__blobx_next(s->bx, buf, len);
    if (rc != FDS_OK && rc != FDS_DONE)
        return fail(s, rc, "%s", fds_errmsg(s->r));
    return rc;
}

int fds_session_set_blobs(fds_session *s, const fds_blob_io *io,
                          unsigned flags, const char *only)
{
    if (s->hello_sent || s->bx)
        return fds__error(s->r, FDS_INVALID,
                          "blobs are set before the session starts");
    return fds__blobx_new(s->r, io, flags, only, s->notes, &s->bx);
}

int fds_session_set_blob_policy(fds_session *s, const fds_blob_policy *p)
{
    if (!s->bx || !p)
        return fds__error(s->r, FDS_INVALID,
                          "a blob policy needs fds_session_set_blobs first");
    fds__blobx_policy(s->bx, p);
    return FDS_OK;
}

void fds_session_blobs_again(fds_session *s)
{
    fds__blobx_rescan(s->bx);
    if (s->bx && s->state == FDS_SESSION_IDLE)
        s->state = FDS_SESSION_SYNCING;
}

void fds_session_blob_stats(const fds_session *s, fds_blob_stats *st)
{
    fds__blobx_stats(s->bx, st);
}

int fds_session_next(fds_session *s, char **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    switch (s->state) {
    case FDS_SESSION_FAILED:
        return FDS_DONE;
    case FDS_SESSION_HANDSHAKE:
        return s->hello_sent ? FDS_DONE : send_hello(s, buf, len);
    default:
        break;
    }
    if (s->reset_wanted)
        return reset_next(s, buf, len);
    if (s->n_fl < WINDOW) {
        int rc = send_push(s, buf, len);
        if (rc != FDS_DONE)
            return rc;
    }
    /* The pull after a held page goes out before that page is applied
    ** (pulls wait for the push side to be quiet, as always). */
    if (s->prefetch && s->n_fl == 0) {
        s->state = FDS_SESSION_SYNCING;
        return send_pull(s, s->prefetch_after, buf, len);
    }
    if ((s->held || s->raw) && !s->manual_apply) {
        int rc = apply_held(s);
        if (rc != FDS_OK)
            return rc;
    }
    if (s->n_fl > 0 || s->pulling || s->held || s->raw)
        return blob_next(s, buf, len);  /* wait for acks / changes / apply;
                                        ** a blob chunk may go meanwhile */
    if (s->pull_wanted) {
        s->state = FDS_SESSION_SYNCING;
        return send_pull(s, s->cursor, buf, len);
    }
    int src = send_sums(s, buf, len);
    if (src != FDS_DONE)
        return src;
    if (s->sums.awaiting)
        return blob_next(s, buf, len);  /* wait for the repair */
    if (fds__blobx_busy(s->bx)) {       /* records done: bytes still move */
        s->state = FDS_SESSION_SYNCING;
        return blob_next(s, buf, len);
    }
    s->state = FDS_SESSION_IDLE;
    return FDS_DONE;
}

/* ---- Trust: rules 12-14 (docs/internals/trust.md) ---------------------------
** Kept together here, apart from the push/pull machinery they hook into;
** the replica work itself is in trust.c. */

/* While re-sending (rule 13): the outbox and the rows queued for re-send,
** as load_outbox reads them plus the user each was stored with and the
** resend flag, in the order this replica logged them.  That order, not
** "the outbox first", is what the server's rule 15 needs: a device's own
** changes arrive in counter order (an acknowledged change re-sent after a
** newer one would name a counter the server has passed without holding
** it: a clash), and every change after those its vector names (a local
** write on top of a received change must not arrive before it).  Two
** partial-index scans merged in lseq order.  Prepared per batch
** (finalized by load_outbox): a re-send happens once per server restore. */
static sqlite3_stmt *resend_stmt(fds_replica *r)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(r->db,
            "SELECT lseq, tbl, rid, field, value, vv, hlc, device, user, "
            "resend FROM log WHERE origin = 1 AND acked = 0 AND lseq > ?1 "
            "UNION ALL "
            "SELECT lseq, tbl, rid, field, value, vv, hlc, device, user, "
            "resend FROM log WHERE resend = 1 AND lseq > ?1 "
            "ORDER BY 1 LIMIT ?2",
            -1, &st, NULL) != SQLITE_OK) {
        fds__dberror(r, "preparing re-send");
        return NULL;
    }
    return st;
}

/* The hello's trust members: the replica's counter, and the store id and
** epoch of its last welcome when it has them (*store is malloc'd). */
static int hello_trust(fds_session *s, fdsp_msg *m, char **store)
{
    *store = NULL;
    m->dev_counter = (int64_t)s->r->counter;
    int rc = fds_meta_get(s->r, "store", store);
    if (rc == FDS_NOTFOUND || (rc == FDS_OK && **store == '\0'))
        return FDS_OK;                  /* "" : forgotten (a new server) */
    if (rc == FDS_OK)
        rc = fds__meta_get_i64(s->r, "epoch", 0, &m->epoch);
    if (rc != FDS_OK)
        return fail_db(s, rc);
    m->store = *store;
    return FDS_OK;
}

/* Rule 12, once no push is in flight: stop pushing (next() comes here
** instead), let pulls already asked for arrive and apply, then reset the
** replica and say hello again under the new id on this connection. */
static int reset_next(fds_session *s, char **buf, size_t *len)
{
    if ((s->held || s->raw) && !s->manual_apply) {
        int rc = apply_held(s);
        if (rc != FDS_OK)
            return rc;
    }
    s->prefetch = 0;                    /* pulled from 0 again after */
    s->pull_wanted = 0;
    if (s->n_fl > 0 || s->pulling || s->held || s->raw)
        return FDS_DONE;
    char old[FDS__UUID_LEN + 1];
    memcpy(old, s->r->device, sizeof old);
    int rc = fds__device_reset(s->r, s->reset_counter);
    if (rc != FDS_OK)
        return fail_db(s, rc);
    note(s, "device reset: this replica was restored or copied (device %s "
         "%s); it now syncs as device %s", old,
         s->reset_counter ? "is behind the server's counter"
                          : "clashed with another copy",
         s->r->device);
    s->reset_wanted = 0;
    s->resets++;
    s->stats.device_reset = 1;
    s->cursor = 0;
    s->head = 0;
    s->pushed_upto = 0;
    s->pull_after = 0;
    s->state = FDS_SESSION_HANDSHAKE;
    s->hello_sent = 0;
    return send_hello(s, buf, len);
}

/* The welcome's trust members (after the user and role are stored).
** *done = 1 when a reset is due: the rest of this welcome is not used
** (the hello after the reset still shows the stored store and epoch). */
static int welcome_trust(fds_session *s, const fdsp_msg *m, int *done)
{
    fds_replica *r = s->r;
    *done = 0;
    if (m->dev_counter > 0 && (uint64_t)m->dev_counter > r->counter &&
        s->resets == 0) {
        s->reset_wanted = 1;
        s->reset_counter = (uint64_t)m->dev_counter;
        *done = 1;
        return FDS_OK;
    }
    if (m->server_time > 0) {
        s->stats.clock_known = 1;
        s->stats.clock_skew_ms = m->server_time - fds__now_ms(r);
    }
    char *store = NULL, *pend = NULL;
    int64_t epoch = 0, pend_epoch = 0;
    /* a re-send finished but not yet recorded so: record it first */
    int rc = restore_finish(s);
    if (rc != FDS_OK)
        return rc;
    rc = meta_store(r, "store", "epoch", &store, &epoch);
    if (rc == FDS_OK)
        rc = meta_store(r, "restore_store", "restore_epoch", &pend,
                        &pend_epoch);
    if (rc == FDS_OK)
        rc = resend_left(s);
    if (rc != FDS_OK) {
        free(store);
        free(pend);
        return rc;
    }
    int moved = store != NULL && m->store != NULL &&
                (strcmp(store, m->store) != 0 || epoch != m->epoch);
    int behind = s->cursor > m->head;
    /* The restore an earlier session saw, its re-send not finished: go
    ** on (the hello still showed the old store, so the server takes the
    ** relayed changes), without queueing everything again. */
    int going_on = moved && pend != NULL &&
                   strcmp(pend, m->store) == 0 && pend_epoch == m->epoch &&
                   !behind;
    int restored = (moved || behind) && !going_on;
    int64_t queued = 0;
    rc = fds__begin(r);
    int began = rc == FDS_OK;
    /* The store and epoch are kept as the hello's until the re-send is
    ** done (restore_finish): until then the server must see the restore. */
    if (rc == FDS_OK && m->store != NULL && !moved && !behind && !pend) {
        rc = fds_meta_set(r, "store", m->store);
        if (rc == FDS_OK)
            rc = fds__meta_set_i64(r, "epoch", m->epoch);
    }
    if (rc == FDS_OK && restored) {
        if (m->store != NULL) {
            rc = fds_meta_set(r, "restore_store", m->store);
            if (rc == FDS_OK)
                rc = fds__meta_set_i64(r, "restore_epoch", m->epoch);
        }
        if (rc == FDS_OK && store == NULL && m->store != NULL)
            rc = fds_meta_set(r, "store", m->store);
        if (rc == FDS_OK)
            rc = fds__server_restored(r, &queued);
    }
    if (began)
        rc = fds__end(r, rc);
    if (rc != FDS_OK) {
        free(store);
        free(pend);
        return fail_db(s, rc);
    }
    if (restored) {
        if (moved)
            note(s, "server restored: store %s epoch %lld, this replica last "
                 "synced with store %s epoch %lld; re-sending %lld changes",
                 m->store, (long long)m->epoch, store, (long long)epoch,
                 (long long)queued);
        else
            note(s, "server restored: its head %lld is behind this replica's "
                 "cursor %lld; re-sending %lld changes", (long long)m->head,
                 (long long)s->cursor, (long long)queued);
        s->stats.server_restored = 1;
        s->stats.resent += queued;
        s->cursor = 0;
        s->resending = queued > 0;
    } else if (going_on) {
        note(s, "server restored: going on with the re-send an earlier sync "
             "began");
        s->stats.server_restored = 1;
    }
    free(store);
    free(pend);
    return FDS_OK;
}

/* 1 if refusal i of an ack is a clash (rule 12): not a refusal of the
** user's work, the change is re-stamped and re-sent after the reset. */
static int is_clash(const fdsp_refusal *f)
{
    return f->code == FDSP_E_CLASH;
}

/* Rule 14: the HLCs the server stored for changes of batch f where they
** differ from what was pushed.  Inside the ack's transaction. */
static int apply_stamps(fds_session *s, const inflight *f, const fdsp_msg *m)
{
    int rc = FDS_OK;
    for (size_t i = 0; rc == FDS_OK && i < m->n_stamps; i++)
        rc = fds__apply_stamp(s->r, f->lseq[m->stamps[i].index],
                              m->stamps[i].hlc);
    return rc;
}

/* A store id and epoch from meta: *store NULL when unset or "" (a new
** server after init, or nothing pending). */
static int meta_store(fds_replica *r, const char *skey, const char *ekey,
                      char **store, int64_t *epoch)
{
    *store = NULL;
    *epoch = 0;
    int rc = fds_meta_get(r, skey, store);
    if (rc == FDS_NOTFOUND)
        return FDS_OK;
    if (rc == FDS_OK && **store == '\0') {
        free(*store);
        *store = NULL;
        return FDS_OK;
    }
    if (rc == FDS_OK)
        rc = fds__meta_get_i64(r, ekey, 0, epoch);
    return rc;
}

/* The re-send after a restore is done (nothing queued is left): the
** restored store's id and epoch become the ones the hello shows. */
static int restore_finish(fds_session *s)
{
    char *pend = NULL;
    int64_t pend_epoch = 0;
    int rc = meta_store(s->r, "restore_store", "restore_epoch", &pend,
                        &pend_epoch);
    if (rc == FDS_OK && pend != NULL)
        rc = resend_left(s);
    if (rc == FDS_OK && pend != NULL && !s->resending) {
        rc = fds__begin(s->r);
        if (rc == FDS_OK) {
            rc = fds_meta_set(s->r, "store", pend);
            if (rc == FDS_OK)
                rc = fds__meta_set_i64(s->r, "epoch", pend_epoch);
            if (rc == FDS_OK)
                rc = fds_meta_set(s->r, "restore_store", "");
            rc = fds__end(s->r, rc);
        }
        if (rc == FDS_OK)
            note(s, "server restored: every change re-sent");
    }
    free(pend);
    return rc == FDS_OK ? FDS_OK : fail_db(s, rc);
}

/* Rule 13: set s->resending when rows are queued for re-send (a restore
** seen now, or one an earlier session did not finish). */
static int resend_left(fds_session *s)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->r->db, "SELECT 1 FROM log WHERE resend = 1 "
                           "LIMIT 1", -1, &st, NULL) != SQLITE_OK)
        return fail_db(s, fds__dberror(s->r, "reading re-send queue"));
    int step = sqlite3_step(st);
    sqlite3_finalize(st);
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        return fail_db(s, fds__dberror(s->r, "reading re-send queue"));
    s->resending = step == SQLITE_ROW;
    return FDS_OK;
}


/* ---- Incoming -------------------------------------------------------------- */

static int on_welcome(fds_session *s, const fdsp_msg *m)
{
    if (s->state != FDS_SESSION_HANDSHAKE || !s->hello_sent)
        return fail(s, FDS_PROTO, "unexpected welcome");
    if (strcmp(m->device, s->r->device) != 0)
        return fail(s, FDS_PROTO, "welcome names device %s, this is %s",
                    m->device, s->r->device);
    /* One transaction around the user, the role and what the trust rules
    ** write (theirs nest in it): a welcome that fails half way (out of
    ** memory) leaves the replica as it was (issue 18). */
    /* The handle's copy of the user goes back too when that happens. */
    char *old_user = strdup(s->r->user);
    if (old_user == NULL)
        return fail(s, fds__error(s->r, FDS_NOMEM, "out of memory"),
                    "out of memory");
    int rc = fds__begin(s->r), reset = 0;
    if (rc != FDS_OK) {
        free(old_user);
        return fail_db(s, rc);
    }
    rc = fds_replica_set_user(s->r, m->user);
    if (rc == FDS_OK)
        rc = fds_meta_set(s->r, "role", m->role);
    if (rc == FDS_OK)
        rc = welcome_trust(s, m, &reset);   /* fails the session itself */
    rc = fds__end(s->r, rc);
    if (rc != FDS_OK) {
        free(s->r->user);
        s->r->user = old_user;
        return s->state == FDS_SESSION_FAILED ? rc : fail_db(s, rc);
    }
    free(old_user);
    s->peer_groups = m->groups;         /* PROTOCOL.md §5.1 */
    if (s->bx)
        fds__blobx_peer(s->bx, m->blobs);   /* an old server: no blobs */
    s->state = FDS_SESSION_SYNCING;
    if (reset)                          /* next() resets and says hello */
        return FDS_OK;
    s->head = m->head;
    s->pull_wanted = 1;                 /* always catch up once */
    return FDS_OK;
}

/* Column i, malloc'd; NULL for SQL NULL.  *oom is set when the column
** has a value that could not be had or copied (a NULL then is no value
** of the change, issue 18). */
static char *col_dup(sqlite3_stmt *st, int i, int *oom)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    char *d = t ? strdup((const char *)t) : NULL;
    if (!d && sqlite3_column_type(st, i) != SQLITE_NULL)
        *oom = 1;
    return d;
}

/* Record a refusal: the change (looked up in the log) goes into the
** refusal table and its log row is marked refused (acked = 2), so it never
** counts again (fds__reg_rebuild, history).  *key gets the change's table,
** record and field (malloc'd; left zeroed when the row was purged). */
static int record_refusal(fds_session *s, int64_t lseq, const fdsp_refusal *f,
                          fdsp_change *key)
{
    fds_replica *r = s->r;
    memset(key, 0, sizeof *key);
    sqlite3_stmt *st = fds__stmt(r, FDS__ST_LOG_GET,
        "SELECT tbl, rid, field, value FROM log WHERE lseq = ?1");
    if (st == NULL)
        return fds__errcode(r);
    sqlite3_bind_int64(st, 1, lseq);
    int step = sqlite3_step(st);
    if (step == SQLITE_DONE) {          /* purged meanwhile: nothing to say */
        sqlite3_reset(st);
        return FDS_OK;
    }
    if (step != SQLITE_ROW) {
        int rc = fds__dberror(r, "reading refused change");
        sqlite3_reset(st);
        return rc;
    }
    fdsp_change c;
    int oom = 0;
    memset(&c, 0, sizeof c);
    c.table = col_dup(st, 0, &oom);
    c.record = col_dup(st, 1, &oom);
    c.field = col_dup(st, 2, &oom);
    c.value = col_dup(st, 3, &oom);
    sqlite3_reset(st);
    int rc = (c.table && c.record && c.field && !oom)
             ? fds__refusal_add(r, &c, f->code, f->message)
             : fds__error(r, FDS_NOMEM, "out of memory");
    if (rc == FDS_OK) {
        st = fds__stmt(r, FDS__ST_LOG_REFUSE,
                       "UPDATE log SET acked = 2 WHERE lseq = ?1");
        if (st == NULL) {
            rc = fds__errcode(r);
        } else {
            sqlite3_bind_int64(st, 1, lseq);
            if (sqlite3_step(st) != SQLITE_DONE)
                rc = fds__dberror(r, "marking refused change");
            sqlite3_reset(st);
        }
    }
    if (rc == FDS_OK) {
        free(c.value);
        c.value = NULL;
        *key = c;                       /* table, record, field move out */
    } else {
        fdsp_change_clear(&c);
    }
    return rc;
}

/* A refused change must not stay in the register it was written to: once
** every refusal of the ack is marked, each register they touched is
** rebuilt from its remaining log rows (fds__reg_rebuild), once, however
** many of its changes were refused.
**
** A later local write on top of a refused one (same field, still in the
** outbox or in flight) stays: it is the user's latest intent, and the
** server judges it on its own when it arrives.  Its vector already covers
** the refused version, so the rebuilt register is that write alone, exactly
** as if the refused write had never been made; if it is refused in turn,
** its own refusal rebuilds the register again without either. */
static int rebuild_refused(fds_replica *r, fdsp_change *key, size_t n)
{
    int rc = FDS_OK;
    for (size_t i = 0; rc == FDS_OK && i < n; i++) {
        if (key[i].table == NULL)
            continue;
        size_t j = 0;
        while (j < i && !(key[j].table &&
                          strcmp(key[j].table, key[i].table) == 0 &&
                          strcmp(key[j].record, key[i].record) == 0 &&
                          strcmp(key[j].field, key[i].field) == 0))
            j++;
        if (j == i)
            rc = fds__reg_rebuild(r, key[i].table, key[i].record,
                                  key[i].field);
    }
    return rc;
}

/* Acknowledge changes: one read and one write per change group they
** belong to (grouplog.c), not an UPDATE per change. */
static int mark_acked(fds_replica *r, const int64_t *lseq, size_t n)
{
    return fds__glog_mark(r, lseq, n, FDS__GF_ACKED, 1, -1);
}

/* Trust, rule 13: the ack of a batch carrying re-sent rows (f->rs).
** Outbox rows are answered as on_ack does; re-sent rows leave the queue
** whatever the answer.  A refused re-sent row was not this user's work
** here (another device's change, or one of its own the server had taken
** before it was restored): dropped quietly with a note, never recorded as
** a refusal nor undone.  Clashes of outbox rows reset as on_ack does. */
static int ack_mixed(fds_session *s, const inflight *f, const fdsp_msg *m)
{
    int64_t *own = malloc((f->n + 1) * sizeof *own);
    int64_t *re = malloc((f->n + 1) * sizeof *re);
    fdsp_change *key = calloc(m->n_refused + 1, sizeof *key);
    unsigned char *seen = calloc(f->n + 1, 1);
    if (!own || !re || !key || !seen) {
        free(own);
        free(re);
        free(key);
        free(seen);
        return fail(s, FDS_NOMEM, "out of memory");
    }
    size_t n_own = 0, n_re = 0, refused = 0, clashed = 0, dropped = 0;
    for (size_t i = 0; i < f->n; i++) {
        if (f->rs[i])
            re[n_re++] = f->lseq[i];
        else
            own[n_own++] = f->lseq[i];
    }
    int rc = fds__begin_relaxed(s->r), began = rc == FDS_OK;
    if (rc == FDS_OK)
        rc = mark_acked(s->r, own, n_own);
    if (rc == FDS_OK)
        rc = fds__resend_done(s->r, re, n_re);
    if (rc == FDS_OK)
        rc = apply_stamps(s, f, m);
    for (size_t i = 0; rc == FDS_OK && i < m->n_refused; i++) {
        const fdsp_refusal *x = &m->refused[i];
        if (seen[x->index]++)
            continue;                   /* a peer may repeat one */
        if (f->rs[x->index]) {
            note(s, "re-sent change dropped (%s): %s", fdsp_errname(x->code),
                 x->message ? x->message : "");
            dropped++;
        } else if (is_clash(x)) {
            rc = fds__unack(s->r, f->lseq[x->index]);
            clashed++;
        } else {
            rc = record_refusal(s, f->lseq[x->index], x, &key[i]);
            refused++;
        }
    }
    if (rc == FDS_OK)
        rc = rebuild_refused(s->r, key, m->n_refused);
    for (size_t i = 0; i < m->n_refused; i++)
        fdsp_change_clear(&key[i]);
    free(own);
    free(re);
    free(key);
    free(seen);
    if (began)
        rc = fds__end_relaxed(s->r, rc);
    if (rc != FDS_OK)
        return fail_db(s, rc);
    if (clashed > 0 && !s->reset_wanted && s->resets == 0) {
        s->reset_wanted = 1;
        s->reset_counter = 0;
    }
    int resending = s->resending;
    rc = restore_finish(s);             /* the last re-sent rows answered? */
    s->resending = resending;           /* send_push finds out itself */
    if (rc != FDS_OK)
        return rc;
    s->stats.pushed += (int64_t)(f->n - refused - clashed - dropped);
    s->stats.refused += (int64_t)refused;
    s->stats.relay_dropped += (int64_t)dropped;
    return FDS_OK;
}

const json_t *fds_session_duplicates(const fds_session *s)
{
    return s->dups;
}

/* The ack's duplicate-customer notices (撞单), for fds_session_duplicates:
** the pushed change each names (its log row: customer and value), the
** customer's name here, and the other owner the server named.  A notice
** only informs: one whose change is no longer in the log is skipped;
** only running out of memory is an error. */
static int take_notices(fds_session *s, const inflight *f, const fdsp_msg *m)
{
    fds_replica *r = s->r;
    for (size_t i = 0; i < m->n_notices; i++) {
        const fdsp_notice *x = &m->notices[i];
        if (!x->kind || strcmp(x->kind, "duplicate") != 0 || x->index >= f->n)
            continue;   /* a kind this device does not know */
        sqlite3_stmt *st = fds__stmt(r, FDS__ST_LOG_GET,
            "SELECT tbl, rid, field, value FROM log WHERE lseq = ?1");
        if (st == NULL)
            return fds__errcode(r);
        sqlite3_bind_int64(st, 1, f->lseq[x->index]);
        if (sqlite3_step(st) != SQLITE_ROW) {
            sqlite3_reset(st);
            continue;
        }
        int oom = 0;
        char *tbl = col_dup(st, 0, &oom), *rid = col_dup(st, 1, &oom);
        char *field = col_dup(st, 2, &oom), *value = col_dup(st, 3, &oom);
        sqlite3_reset(st);
        json_t *regs = NULL, *o = NULL;
        if (!oom && tbl && rid && strcmp(tbl, "customer") == 0) {
            int rrc = fds__read(r, "customer", rid, &regs);
            if (rrc == FDS_NOMEM)
                oom = 1;
            const char *name = rrc == FDS_OK
                ? json_string_value(json_object_get(regs, "name")) : NULL;
            o = json_pack("{s:s, s:s?, s:s, s:s?, s:s?}", "customer", rid,
                          "name", name, "field", x->field, "value", value,
                          "owner", x->owner);
            if (!o || json_array_append_new(s->dups, o) != 0)
                oom = 1;
        }
        json_decref(regs);
        free(tbl);
        free(rid);
        free(field);
        free(value);
        if (oom)
            return fds__error(r, FDS_NOMEM, "out of memory");
    }
    return FDS_OK;
}

static int on_ack(fds_session *s, const fdsp_msg *m)
{
    if (s->state != FDS_SESSION_SYNCING && s->state != FDS_SESSION_IDLE)
        return fail(s, FDS_PROTO, "unexpected ack");
    size_t k = 0;
    while (k < s->n_fl && s->fl[k].batch != m->batch)
        k++;
    if (k == s->n_fl)
        return fail(s, FDS_PROTO, "ack for unknown batch %lld",
                    (long long)m->batch);
    inflight *f = &s->fl[k];
    for (size_t i = 0; i < m->n_refused; i++)
        if (m->refused[i].index >= f->n)
            return fail(s, FDS_PROTO, "ack of batch %lld refuses change %zu "
                        "of %zu", (long long)m->batch, m->refused[i].index,
                        f->n);
    for (size_t i = 0; i < m->n_stamps; i++)
        if (m->stamps[i].index >= f->n)
            return fail(s, FDS_PROTO, "ack of batch %lld stamps change %zu "
                        "of %zu", (long long)m->batch, m->stamps[i].index,
                        f->n);
    if (m->n_notices > 0) {
        int nrc = take_notices(s, f, m);
        if (nrc != FDS_OK)
            return fail_db(s, nrc);
    }
    if (f->rs) {                        /* a batch with re-sends */
        int arc = ack_mixed(s, f, m);
        if (arc != FDS_OK)
            return arc;
        inflight_clear(f);
        memmove(&s->fl[k], &s->fl[k + 1], (s->n_fl - k - 1) * sizeof *f);
        s->n_fl--;
        memset(&s->fl[s->n_fl], 0, sizeof *f);
        return FDS_OK;
    }
    /* Every change of the batch leaves the outbox: accepted ones are
    ** committed on the server, refused ones would be refused again. */
    fdsp_change *key = NULL;
    if (m->n_refused > 0 &&
        (key = calloc(m->n_refused, sizeof *key)) == NULL)
        return fail(s, FDS_NOMEM, "out of memory");
    /* Committed on the server: a lost ack only resends (fds__begin_relaxed). */
    int rc = fds__begin_relaxed(s->r), began = rc == FDS_OK;
    if (rc == FDS_OK)
        rc = mark_acked(s->r, f->lseq, f->n);
    if (rc == FDS_OK)
        rc = apply_stamps(s, f, m);
    size_t clashes = 0;
    for (size_t i = 0; rc == FDS_OK && i < m->n_refused; i++) {
        if (is_clash(&m->refused[i])) {
            /* rule 12: stays in the outbox, re-stamped by the reset */
            rc = fds__unack(s->r, f->lseq[m->refused[i].index]);
            clashes++;
            continue;
        }
        rc = record_refusal(s, f->lseq[m->refused[i].index], &m->refused[i],
                            &key[i]);
    }
    if (rc == FDS_OK)
        rc = rebuild_refused(s->r, key, m->n_refused);
    for (size_t i = 0; i < m->n_refused; i++)
        fdsp_change_clear(&key[i]);
    free(key);
    if (began)
        rc = fds__end_relaxed(s->r, rc);
    if (rc != FDS_OK)
        return fail_db(s, rc);
    /* Count distinct refused indexes (a peer may repeat one). */
    size_t refused = 0, clashed = 0;
    for (size_t i = 0; i < m->n_refused; i++) {
        size_t j = 0;
        while (j < i && m->refused[j].index != m->refused[i].index)
            j++;
        if (j == i && is_clash(&m->refused[i]))
            clashed++;
        else
            refused += j == i;
    }
    if (clashes > 0 && !s->reset_wanted && s->resets == 0) {
        s->reset_wanted = 1;            /* next() waits, then resets */
        s->reset_counter = 0;
    }
    s->stats.pushed += (int64_t)(f->n - refused - clashed);
    s->stats.refused += (int64_t)refused;
    /* The link carried a batch: let the next ones grow back. */
    s->push_limit = s->push_limit > FDSP_MAX_BATCH / 2 ? FDSP_MAX_BATCH
                                                       : s->push_limit * 2;
    inflight_clear(f);
    memmove(&s->fl[k], &s->fl[k + 1], (s->n_fl - k - 1) * sizeof *f);
    s->n_fl--;
    memset(&s->fl[s->n_fl], 0, sizeof *f);
    return FDS_OK;
}

/* A page of changes is held (the session takes m) until applied: see
** apply_held and the pipelining note at the top. */
static int on_changes(fds_session *s, fdsp_msg *m)
{
    if (!s->pulling || s->state != FDS_SESSION_SYNCING || s->held || s->raw)
        return fail(s, FDS_PROTO, "unexpected changes");
    /* "more" without progress would make us pull the same page forever. */
    if (m->more && m->n_changes == 0 && m->last <= s->pull_after)
        return fail(s, FDS_PROTO, "changes say more but do not advance");
    s->pulling = 0;
    s->held = m;
    if (m->more) {
        s->prefetch = 1;
        s->prefetch_after = m->last > s->pull_after ? m->last : s->pull_after;
    }
    return FDS_OK;
}

void fds_session_set_manual_apply(fds_session *s, int on)
{
    s->manual_apply = on != 0;
}

int fds_session_apply_pending(const fds_session *s)
{
    return (s->held || s->raw) && s->state != FDS_SESSION_FAILED;
}

int fds_session_apply(fds_session *s)
{
    if ((s->held == NULL && s->raw == NULL) ||
        s->state == FDS_SESSION_FAILED)
        return FDS_DONE;
    return apply_held(s);
}

static int on_revoke(fds_session *s, const fdsp_msg *m)
{
    if (s->state != FDS_SESSION_SYNCING && s->state != FDS_SESSION_IDLE)
        return fail(s, FDS_PROTO, "unexpected revoke");
    int rc = fds__begin(s->r), began = rc == FDS_OK;
    for (size_t i = 0; rc == FDS_OK && i < m->n_records; i++)
        rc = fds__purge_record(s->r, m->records[i].table,
                               m->records[i].record);
    if (began)
        rc = fds__end(s->r, rc);
    if (rc != FDS_OK)
        return fail_db(s, rc);
    s->stats.revoked += (int64_t)m->n_records;
    return FDS_OK;
}

/* A live batch (PROTOCOL.md §3 step 4): changes the server sent unprompted
** because it took this device to be caught up at `after`.  Held and then
** applied like a page (cursor = last in the same transaction) only when
** it lies exactly on top of the cursor and nothing is in flight, so the
** cursor stays exact and no change is skipped.  Otherwise it says no more
** than a notify of its `last`: a pull in flight, or the one it asks for,
** brings the same changes in order.  *taken 1 if the session keeps m. */
static int on_live(fds_session *s, fdsp_msg *m, int *taken)
{
    *taken = 0;
    if (s->state != FDS_SESSION_SYNCING && s->state != FDS_SESSION_IDLE)
        return fail(s, FDS_PROTO, "unexpected live changes");
    if (m->more || m->last < m->after)
        return fail(s, FDS_PROTO, "live changes say more or go back");
    /* s->head is left alone: a batch that is not applied asks for one
    ** pull (below), not for pulls until the cursor reaches its last. */
    if (m->after != s->cursor || s->pulling || s->held || s->raw ||
        s->prefetch || s->pull_wanted || s->n_fl > 0 || s->reset_wanted) {
        s->stats.live_skipped++;
        if (m->last > s->cursor) {
            s->pull_wanted = 1;
            s->state = FDS_SESSION_SYNCING;
        }
        return FDS_OK;
    }
    s->held = m;
    *taken = 1;
    return FDS_OK;
}

static int on_notify(fds_session *s, const fdsp_msg *m)
{
    if (s->state != FDS_SESSION_SYNCING && s->state != FDS_SESSION_IDLE)
        return fail(s, FDS_PROTO, "unexpected notify");
    if (m->head > s->head)
        s->head = m->head;
    if (m->head > s->cursor) {
        s->pull_wanted = 1;
        s->state = FDS_SESSION_SYNCING;
    }
    return FDS_OK;
}

static int on_error(fds_session *s, const fdsp_msg *m)
{
    const char *name = fdsp_errname(m->code);
    if (m->code == FDSP_E_AUTH || (m->code == FDSP_E_FORBIDDEN && m->fatal))
        return fail(s, FDS_PERM, "server refused (%s): %s", name, m->message);
    if (m->fatal)
        return fail(s, FDS_ERROR, "server error (%s): %s", name, m->message);
    /* A non-fatal rate_limited about no batch is advisory: the server
    ** only slowed its reading and still answers every message (PROTOCOL.md
    ** §1 Rate), so nothing is lost and nothing is to be retried. */
    if (m->code == FDSP_E_RATE && m->batch == 0)
        return FDS_OK;
    /* Rule 12: a whole batch answered with device_clash: its rows stay
    ** in the outbox (below) and the replica resets once nothing is in
    ** flight, as for clash refusals in an ack. */
    if (m->code == FDSP_E_CLASH && m->batch != 0 && s->resets == 0)
        s->reset_wanted = 1;
    snprintf(s->errmsg, sizeof s->errmsg, "server error (%s): %s", name,
             m->message);
    /* Not fatal: a push batch the server did not take stays in the outbox
    ** for the next session; a refused pull ends this round of pulling. */
    if (m->batch != 0) {
        for (size_t k = 0; k < s->n_fl; k++) {
            if (s->fl[k].batch != m->batch)
                continue;
            inflight_clear(&s->fl[k]);
            memmove(&s->fl[k], &s->fl[k + 1],
                    (s->n_fl - k - 1) * sizeof s->fl[k]);
            s->n_fl--;
            memset(&s->fl[s->n_fl], 0, sizeof s->fl[0]);
            break;
        }
    } else if (s->pulling) {
        s->pulling = 0;
        s->pull_wanted = 0;
        s->prefetch = 0;
    } else if (s->sums.awaiting) {
        s->sums.awaiting = 0;   /* a server without sums: no repair comes */
    }
    return FDS_OK;
}

/* 1 and *last if buf is, by its first and last bytes, a changes page
** saying more in the compact shape the server writes:
**     {"type":"changes", ... ,"last":N,"more":true}
** In valid JSON those bytes can only be the top-level members (a quote
** inside a string is escaped, so `,"last":` and `,"more":` there cannot be
** preceded by a bare comma), so this is only a shortcut: the page is still
** decoded in full, and apply_held fails the session unless the decoder
** reads the same.  0 for any other shape: the message is decoded now. */
static int peek_more(const char *buf, size_t len, int64_t *last)
{
    /* a pull's answer: a live batch has "after" first (never more) */
    static const char head[] = "{\"type\":\"changes\",\"changes\":";
    static const char key[] = ",\"last\":";
    static const char tail[] = ",\"more\":true}";
    size_t nh = sizeof head - 1, nk = sizeof key - 1, nt = sizeof tail - 1;
    if (len < nh + nk + nt + 1 || memcmp(buf, head, nh) != 0 ||
        memcmp(buf + len - nt, tail, nt) != 0)
        return 0;
    const char *end = buf + len - nt, *p = end;
    int64_t v = 0;
    while (p > buf + nh + nk && p[-1] >= '0' && p[-1] <= '9' && end - p < 18)
        p--;
    if (p == end || (end - p > 1 && *p == '0') ||
        memcmp(p - nk, key, nk) != 0)
        return 0;
    for (const char *q = p; q < end; q++)
        v = v * 10 + (*q - '0');
    *last = v;
    return 1;
}

int fds_session_feed(fds_session *s, const char *buf, size_t len)
{
    if (s->state == FDS_SESSION_FAILED)
        return FDS_PROTO;
    if (buf == NULL)
        return fail(s, FDS_PROTO, "empty message");
    /* Messages take effect in the order they arrived: a held page first. */
    if (s->held || s->raw) {
        int arc = apply_held(s);
        if (arc != FDS_OK)
            return arc;
    }
    /* A page saying more, read ahead: held undecoded, so the pull after it
    ** goes out before the decoding too (apply_held decodes and checks). */
    int64_t last;
    if (s->pulling && s->state == FDS_SESSION_SYNCING &&
        peek_more(buf, len, &last) && last > s->pull_after) {
        if ((s->raw = malloc(len)) == NULL)
            return fail(s, FDS_NOMEM, "out of memory");
        memcpy(s->raw, buf, len);
        s->raw_len = len;
        s->raw_last = last;
        s->pulling = 0;
        s->prefetch = 1;
        s->prefetch_after = last;
        return FDS_OK;
    }
    fdsp_msg *m = NULL;
    char err[256] = "";
    /* pooled: nothing here frees or replaces a change's strings */
    int prc = fdsp_decode_pooled(buf, len, &m, err, sizeof err);
    /* Not the peer's fault: the message may be fine (issue 18). */
    if (prc == FDSP_E_NOMEM)
        return fail(s, FDS_NOMEM, "out of memory decoding a message");
    if (prc != FDSP_OK)
        return fail(s, FDS_PROTO, "undecodable message (%s): %s",
                    fdsp_errname(prc), err);
    int rc;
    if (s->state == FDS_SESSION_HANDSHAKE &&
        (m->type == FDSP_NOTIFY ||
         (m->type == FDSP_CHANGES && m->after > 0))) {
        /* A notify or a live batch meant for this connection's previous
        ** hello (rule 12: the reset device says hello again on the same
        ** connection, and the server's fan-out may reach it before it
        ** reads that hello).  Both only say "there is more": the pull
        ** after the welcome brings it.  Dropped, not a protocol error
        ** that would end a `sync --watch` (faults_devices saw it). */
        rc = FDS_OK;
    } else if (s->state == FDS_SESSION_HANDSHAKE && m->type != FDSP_WELCOME &&
               m->type != FDSP_ERROR) {
        rc = fail(s, FDS_PROTO, "expected welcome, got %s",
                  fdsp_typename(m->type));
    } else {
        switch (m->type) {
        case FDSP_WELCOME:
            rc = on_welcome(s, m);
            /* PROTOCOL.md step 7: only a server whose welcome names its
            ** store knows sums (an old one would fail the connection). */
            s->sums.server_knows = rc == FDS_OK && m->store != NULL;
            break;
        case FDSP_ACK:     rc = on_ack(s, m); break;
        case FDSP_CHANGES:
            if (m->after > 0) {
                int taken = 0;
                rc = on_live(s, m, &taken);
                if (taken)
                    m = NULL;           /* held by the session */
                break;
            }
            rc = on_changes(s, m);
            if (rc == FDS_OK)
                m = NULL;               /* held by the session */
            break;
        case FDSP_REVOKE:  rc = on_revoke(s, m); break;
        case FDSP_NOTIFY:  rc = on_notify(s, m); break;
        case FDSP_ERROR:   rc = on_error(s, m); break;
        case FDSP_REPAIR:  rc = on_repair(s, m); break;
        case FDSP_BLOB_ACK:
        case FDSP_BLOB_DATA:
            rc = fds__blobx_feed(s->bx, m, err, sizeof err);
            if (rc != FDS_OK)
                rc = fail(s, rc, "%s", err);
            break;
        default:
            rc = fail(s, FDS_PROTO, "a server does not send %s",
                      fdsp_typename(m->type));
            break;
        }
    }
    fdsp_msg_free(m);
    return rc;
}

/* ---- Adaptive push batches (issue 10) --------------------------------------
** Kept apart from the rest of the session so the transport can carry the
** limit between connections; see fieldsync.h. */
void fds_session_set_push_limit(fds_session *s, int n)
{
    s->push_limit = n <= 0 || n > FDSP_MAX_BATCH ? FDSP_MAX_BATCH : n;
}

int fds_session_push_limit(const fds_session *s)
{
    return s->push_limit;
}

int64_t fds_session_push_unacked(const fds_session *s)
{
    int64_t n = 0;
    for (size_t i = 0; i < s->n_fl; i++)
        n += (int64_t)s->fl[i].n;
    return n;
}
