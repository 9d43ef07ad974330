/*
** sync_ops.c — what hello, push and pull do to the store (the live
** fan-out after a push is sync_live.c).  Each runs its store transaction to completion
** before returning (see the threading note in server.h); a push is acked
** only after its COMMIT returned.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "metrics.h"
#include "server.h"
#include "sync_blobs.h"
#include "pool.h"
#include "responder.h"
#include "sync_dup.h"
#include "sync_trust.h"
#include "visibility.h"

/* A reset device's second hello on the same connection: forget what the
** session knew of the old id (its clashes, queued full state, cursor). */
static void session_reset(fsv_conn *s, const char *device)
{
    fsv_info("reset user=%s device=%s new_device=%s why=%s",
             s->user.name, s->device, device, "the device reset itself");
    fsv_trust_conn_clear(s);
    for (size_t i = s->resend_pos; i < s->n_resend; i++)
        fdsp_change_clear(&s->resend[i]);
    free(s->resend);
    s->resend = NULL;
    s->n_resend = s->resend_pos = 0;
    s->vis_done = 0;
    s->cursor = 0;
    s->live_to = -1;
    s->restore = 0;
    s->rehello_ok = 0;
}

int fsv_sync_hello(fsv_conn *s, const fdsp_msg *m)
{
    fsv_store *st = s->srv->store;
    if (!m->device || !m->device[0])
        return fsv_conn_error(s, FDSP_E_MISSING, 0, 1, "hello without a device id");
    int again = s->hello_done;  /* ws_sync.c let it through: rehello_ok */
    if (again && strcmp(m->device, s->device) == 0)
        return fsv_conn_error(s, FDSP_E_STATE, 0, 1, "second hello with the"
                              " same device id %s (a reset device takes a new"
                              " one)", m->device);
    int64_t head = 0, counter = 0, epoch = 0;
    char bound[FSV_NAME_MAX + 1] = "", store_id[FSV_STORE_ID_LEN + 1] = "";
    int rc = fsv_store_begin(st);
    if (rc == FSV_OK)
        rc = fsv_store_head(st, &head);
    if (rc == FSV_OK) {
        rc = fsv_store_device_get(st, m->device, bound, &counter);
        if (rc == FSV_NOTFOUND)
            rc = FSV_OK;
    }
    if (rc == FSV_OK && bound[0] && strcmp(bound, s->user.name) != 0) {
        /* Rule 11: the device id is bound to the user of its first hello.
        ** Nothing is recorded. */
        fsv_store_rollback(st);
        fsv_warn("hello_refused user=%s device=%s peer=%s why=%s",
                 s->user.name, m->device, s->peer,
                 "the device is bound to another user");
        return fsv_conn_error(s, FDSP_E_FORBIDDEN, 0, 1,
                              "device %s belongs to another user", m->device);
    }
    if (rc == FSV_OK)
        rc = fsv_store_identity(st, store_id, &epoch);
    if (rc == FSV_OK)
        rc = fsv_store_device_seen(st, m->device, s->user.name, s->token_id,
                                   fsv_now_ms(), head);
    if (rc == FSV_OK)   /* the moves this device has had (sync_moves.c) */
        rc = fsv_moves_hello(s, m->device);
    if (rc == FSV_OK)
        rc = fsv_store_commit(st);
    if (rc != FSV_OK) {
        fsv_store_rollback(st);
        fsv_err("hello_failed user=%s why=%s", s->user.name, fsv_store_errmsg(st));
        return fsv_conn_error(s, FDSP_E_INTERNAL, 0, 1, "server storage failure");
    }
    if (again)
        session_reset(s, m->device);
    snprintf(s->device, sizeof s->device, "%s", m->device);
    s->hello_done = 1;
    s->cursor = m->cursor;
    s->live = m->live;
    s->groups = m->groups;
    s->blobs = m->blobs;
    s->live_to = -1;    /* caught up only after a complete pull */
    fsv_info("hello user=%s role=%s device=%s peer=%s cursor=%lld head=%lld"
             " client=%s", s->user.name, s->user.role, s->device, s->peer,
             (long long)m->cursor, (long long)head, m->client ? m->client : "-");
    /* Rule 13: a device that has seen more than this store holds, or
    ** another store or epoch, is talking to a restored server; its
    ** re-sends of others' changes are accepted (relayed). */
    const char *h_store = m->store;
    int64_t h_epoch = m->epoch;
    s->restore = m->cursor > head ||
                 (h_store && strcmp(h_store, store_id) != 0) ||
                 (h_epoch && h_epoch != epoch);
    if (s->restore)
        fsv_info("restore device=%s cursor=%lld head=%lld device_store=%s"
                 " device_epoch=%lld store=%s epoch=%lld", s->device,
                 (long long)m->cursor, (long long)head,
                 h_store ? h_store : "-", (long long)h_epoch, store_id,
                 (long long)epoch);
    /* Rule 12: a device behind what the server accepted from it resets
    ** and says hello once more on this connection. */
    s->rehello_ok = counter > m->dev_counter;   /* absent: 0 */
    fdsp_msg w;
    fsv_resp_welcome(&w, &s->user, s->device, head);
    w.dev_counter = counter;
    w.store = store_id[0] ? store_id : NULL;
    w.epoch = epoch;
    w.server_time = fsv_now_ms();
    w.groups = 1;       /* this server reads change groups in a push */
    w.blobs = m->blobs; /* and moves blobs, to a device that does */
    return fsv_conn_send(s, &w);
}

/* Does change c alter who sees a customer?  Writing a customer's owner
** (assign) or any field of a share record ("CUSTOMER:USER").  The customer
** goes into cust[FDSP_MAX_ID + 1]; *user is who may lose sight by it (the
** owner before the change, or the user shared with; malloc'd), *changes
** which of the two it was (FSV_VIS_OWNER, FSV_VIS_SHARE).  Call before c
** is merged (f: the batch's facts as they stand).  FSV_OK with *changes
** non-zero (yes) or 0, or FSV_NOMEM. */
static int vis_change(const fsv_vis_facts *f, const fdsp_change *c,
                      char *cust, char **user, int *changes)
{
    *user = NULL;
    *changes = 0;
    if (strcmp(c->table, "customer") == 0 && strcmp(c->field, "owner") == 0) {
        if (strlen(c->record) > FDSP_MAX_ID)
            return FSV_OK;
        strcpy(cust, c->record);
        const char *was = fsv_visd_owner(f, cust);
        if (was && !(*user = strdup(was)))
            return FSV_NOMEM;
        /* A new customer (no owner yet: all its rows lie after everyone's
        ** cursor) or an owner re-stated changes nobody's view. */
        if (!*user || (c->value && strcmp(*user, c->value) == 0)) {
            free(*user);
            *user = NULL;
            return FSV_OK;
        }
        *changes = FSV_VIS_OWNER;
        return FSV_OK;
    }
    if (strcmp(c->table, "share") != 0)
        return FSV_OK;
    const char *colon = strchr(c->record, ':');
    size_t len = colon ? (size_t)(colon - c->record) : 0;
    if (len == 0 || len > FDSP_MAX_ID)
        return FSV_OK;
    memcpy(cust, c->record, len);
    cust[len] = '\0';
    if (!(*user = strdup(colon + 1)))
        return FSV_NOMEM;
    *changes = FSV_VIS_SHARE;
    return FSV_OK;
}

/* The ack's stamps (rule 14): for change i of the push, the HLC the server
** stored and the device must keep. */
struct push_stamps {
    fdsp_stamp *v;
    size_t n;
};

static int push_stamp(struct push_stamps *ps, size_t i, uint64_t h)
{
    void *p = realloc(ps->v, (ps->n + 1) * sizeof *ps->v);
    if (!p)
        return FSV_NOMEM;
    ps->v = p;
    ps->v[ps->n].index = i;
    ps->v[ps->n].hlc = h;
    ps->n++;
    return FSV_OK;
}


/* What one attempt at a push's transaction leaves for its ack and its
** fan-out (push_tx). */
struct push_res {
    fdsp_refusal *ref;          /* refusals are rare: made at the first */
    size_t n_ref, accepted, appended, conflicts;
    struct push_stamps ps;
    fdsp_notice *notices;       /* duplicate customers (撞单) */
    size_t n_notices;
    fsv_vis_set *set;           /* who may see the batch, or NULL */
    int vis_changed;
    int64_t head;
    int64_t tx_us;              /* when the transaction began */
};

static void push_res_free(struct push_res *r)
{
    fsv_vis_set_free(r->set);
    for (size_t i = 0; i < r->n_ref; i++)
        free(r->ref[i].message);
    free(r->ref);
    free(r->ps.v);
    fsv_sync_dup_free(r->notices, r->n_notices);
    memset(r, 0, sizeof *r);
}

/* One attempt: begin, merge the batch, commit (own_tx; otherwise inside
** the caller's transaction, a group commit: neither).  On anything but
** FSV_OK the caller rolls back; what the attempt changed in m (the
** server's HLC stamps, seqs) the caller restores before another attempt
** (push_undo).  r->head is the head after this batch's own changes. */
static int push_tx(fsv_conn *s, fdsp_msg *m, int64_t t0, struct push_res *r,
                   int own_tx)
{
    fsv_store *st = s->srv->store;
    int rc = FSV_OK, vis_changed = 0;
    size_t conflicts = 0, n_ref = 0, accepted = 0, appended = 0;
    fdsp_refusal *ref = NULL;
    int pool_claims = 0;        /* claims accepted in this batch (caps) */
    /* Who sees what the batch touches, loaded once (visibility.h): the
    ** write checks, field limits and the fan-out set decide over it. */
    fsv_vis_set *set = NULL;
    /* Rules 11-15 (sync_trust.c): the batch's accepted counters, and the
    ** HLCs the device must keep (ack stamps), made at the first one. */
    fsv_trust_batch *tb = fsv_trust_batch_new();
    struct push_stamps ps = {NULL, 0};
    int64_t tx_us;

    rc = tb ? (own_tx ? fsv_store_begin(st) : FSV_OK) : FSV_NOMEM;
    tx_us = fsv_metrics_now_us();
    if (rc == FSV_OK)
        rc = fsv_vis_set_load(st, m->changes, m->n_changes, &set);
    for (size_t i = 0; rc == FSV_OK && i < m->n_changes; i++) {
        fdsp_change *c = &m->changes[i];
        char why[FDSP_MAX_TEXT];
        int code = 0, verdict = 0;
        uint64_t stored_hlc = 0;
        /* Another device's change: only a re-send after a server restore
        ** (rule 13), which keeps its d and u. */
        int relayed = !c->device || strcmp(c->device, s->device) != 0;

        if (relayed && (!c->device || !s->restore)) {
            code = FDSP_E_VALUE;
            snprintf(why, sizeof why, "%s %s field %s: made by device %s, not"
                     " by this connection's device", c->table, c->record,
                     c->field, c->device ? c->device : "-");
        }
        if (!code) {
            rc = fsv_trust_check(s, tb, c, relayed, &verdict, &stored_hlc,
                                 &code, why, sizeof why);
            if (rc != FSV_OK)
                break;
            if (code == FSV_E_CLASH)
                s->rehello_ok = 1;  /* the device resets and says hello */
        }
        if (!code && verdict == FSV_TRUST_DUP) {
            /* A re-sent duplicate: accepted, nothing appended; the device
            ** keeps the HLC the server stored (rule 14's stamp). */
            c->seq = 0;
            accepted++;
            if (stored_hlc != c->hlc && push_stamp(&ps, i, stored_hlc) != FSV_OK) {
                rc = FSV_NOMEM;
                break;
            }
            continue;
        }
        if (!code)
            code = fsv_visd_check_write(fsv_vis_set_facts(set), &s->user, c,
                                        why, sizeof why);
        if (!code)
            code = fsv_visd_field_limit(fsv_vis_set_facts(set), c, why,
                                        sizeof why);
        /* A release or claim (pool.c): the pool's rules, its team. */
        int pool_kind = 0;
        char pool_team[FSV_NAME_MAX + 1] = "";
        if (!code) {
            rc = fsv_pool_owner_change(st, &s->user, c, t0, &pool_claims,
                                       &code, why, sizeof why, &pool_kind,
                                       pool_team);
            if (rc != FSV_OK)
                break;
        }
        if (code) {
            if (!ref && !(ref = calloc(m->n_changes, sizeof *ref))) {
                rc = FSV_NOMEM;
                break;
            }
            ref[n_ref].index = i;
            ref[n_ref].code = code;
            ref[n_ref].message = strdup(why);
            if (!ref[n_ref].message) {
                rc = FSV_NOMEM;
                break;
            }
            n_ref++;
            c->seq = 0;
            continue;
        }
        /* The server's word on who and when (a relayed change keeps the
        ** user it was made by, checked by fsv_trust_check). */
        if (!relayed) {
            char *user = strdup(s->user.name);
            if (!user) {
                rc = FSV_NOMEM;
                break;
            }
            free(c->user);
            c->user = user;
        }
        c->server_ms = t0;
        if (fsv_trust_clock(s->srv, c, t0) && push_stamp(&ps, i, c->hlc) != FSV_OK) {
            rc = FSV_NOMEM;
            break;
        }
        char cust[FDSP_MAX_ID + 1], *lost = NULL;
        int vch = 0;
        rc = vis_change(fsv_vis_set_facts(set), c, cust, &lost, &vch);
        if (rc != FSV_OK)
            break;
        if (pool_kind && vch) {
            /* Out of the pool: who may lose it is whoever saw it there,
            ** the users of its team, not an owner. */
            char *team = strdup(pool_team);
            if (!team) {
                free(lost);
                rc = FSV_NOMEM;
                break;
            }
            free(lost);
            lost = team;
            vch = FSV_VIS_POOL;
        }
        int outcome = FDS_MERGE_NOOP;
        rc = relayed ? fsv_store_merge_relayed(st, c, s->device, &outcome)
                     : fsv_store_merge_change(st, c, &outcome);
        if (rc == FSV_OK && fsv_trust_accepted(tb, c) != FSV_OK)
            rc = FSV_ERROR;
        if (rc == FSV_OK)
            rc = fsv_vis_set_merged(st, set, c);
        /* Which follow-ups name which blob, as they merge (sync_blobs.c). */
        if (rc == FSV_OK && strcmp(c->table, "followup") == 0 &&
            strcmp(c->field, "attachments") == 0)
            rc = fsv_blob_refs_update(st, c->record);
        if (rc == FSV_OK && c->seq && vch) {
            rc = fsv_store_vis_event_add(st, c->seq, cust, lost, vch);
            vis_changed = 1;
        }
        free(lost);
        if (rc != FSV_OK)
            break;
        accepted++;
        if (c->seq)
            appended++;
        if (outcome == FDS_MERGE_CONFLICT)
            conflicts++;
    }
    if (rc == FSV_OK)
        rc = fsv_trust_flush(st, tb);
    /* Duplicate customers (撞单): notices in the ack, not refusals. */
    fdsp_notice *notices = NULL;
    size_t n_notices = 0;
    if (rc == FSV_OK && appended)
        rc = fsv_sync_dup_notices(s, m, t0, &notices, &n_notices);
    fsv_trust_batch_free(tb);
    /* Who may see the batch: its facts as the merges left them (see
    ** sync_live.c). */
    if (rc == FSV_OK && fsv_vis_set_seal(set, m->changes, m->n_changes) !=
                            FSV_OK) {
        fsv_vis_set_free(set);
        set = NULL;     /* the fan-out builds it */
    }
    int64_t head = 0;
    if (rc == FSV_OK)
        rc = fsv_store_head(st, &head);
    if (rc == FSV_OK && own_tx)
        rc = fsv_store_commit(st);
    r->ref = ref;
    r->n_ref = n_ref;
    r->accepted = accepted;
    r->appended = appended;
    r->conflicts = conflicts;
    r->ps = ps;
    r->notices = notices;
    r->n_notices = n_notices;
    r->set = set;
    r->vis_changed = vis_changed;
    r->head = head;
    r->tx_us = tx_us;
    return rc;
}

/* FSV_BUSY (SQLite's lock held past its busy timeout by another process,
** PostgreSQL's serialization failure or deadlock): nothing was done, so
** the whole transaction runs again, up to FSV_PUSH_BUSY_TRIES times,
** FSV_PUSH_BUSY_BACKOFF_MS, then twice that, ... apart, before the device
** is told to send it again later.  The wait is in the service thread,
** like the store's own busy wait: transactions never interleave. */
#define FSV_PUSH_BUSY_TRIES 4
#define FSV_PUSH_BUSY_BACKOFF_MS 20

/* What an attempt changes in a batch, to undo before the next. */
struct push_undo {
    uint64_t hlc;
    int64_t seq;
};

static struct push_undo *undo_take(const fdsp_msg *m)
{
    struct push_undo *u = malloc((m->n_changes ? m->n_changes : 1) * sizeof *u);
    for (size_t i = 0; u && i < m->n_changes; i++) {
        u[i].hlc = m->changes[i].hlc;
        u[i].seq = m->changes[i].seq;
    }
    return u;
}

static void undo_apply(fdsp_msg *m, const struct push_undo *u)
{
    for (size_t i = 0; i < m->n_changes; i++) {
        m->changes[i].hlc = u[i].hlc;
        m->changes[i].seq = u[i].seq;
    }
}

/* After the transaction: the ack (only after the commit) and the fan-out,
** or the `internal` error.  Takes r. */
static int push_finish(fsv_conn *s, fdsp_msg *m, int rc, struct push_res *rr,
                       int64_t t0, int64_t t0_us)
{
    fsv_store *st = s->srv->store;
    struct push_res r = *rr;
    memset(rr, 0, sizeof *rr);
    fdsp_refusal *ref = r.ref;
    size_t n_ref = r.n_ref, accepted = r.accepted, appended = r.appended;
    size_t conflicts = r.conflicts;
    int vis_changed = r.vis_changed;
    int64_t head = r.head, tx_us = r.tx_us;
    fsv_vis_set *set = r.set;
    fsv_metrics *mx = s->srv->metrics;
    if (rc == FSV_OK)
        fsv_metrics_observe(mx, FSV_H_STORE_WRITE, fsv_metrics_now_us() - tx_us);
    int result;
    if (rc != FSV_OK) {
        fsv_err("push_failed user=%s device=%s batch=%lld why=%s", s->user.name,
                s->device, (long long)m->batch, fsv_store_errmsg(st));
        fsv_store_rollback(st);
        result = fsv_conn_error(s, FDSP_E_INTERNAL, m->batch, 0,
                            "batch %lld not stored (server storage failure);"
                            " nothing of it was applied, send it again later",
                            (long long)m->batch);
    } else {
        fdsp_msg a;
        memset(&a, 0, sizeof a);
        a.type = FDSP_ACK;
        a.batch = m->batch;
        a.accepted = accepted;
        a.refused = ref;
        a.n_refused = n_ref;
        a.stamps = r.ps.v;
        a.n_stamps = r.ps.n;
        a.notices = r.notices;
        a.n_notices = r.n_notices;
        result = fsv_conn_send(s, &a);
        s->pushed += (int64_t)accepted;
        fsv_metrics_inc(mx, FSV_C_PUSHES);
        fsv_metrics_add(mx, FSV_C_MERGED, appended);
        fsv_metrics_add(mx, FSV_C_DUPLICATES, accepted - appended);
        fsv_metrics_add(mx, FSV_C_CONFLICTS, conflicts);
        for (size_t i = 0; i < n_ref; i++)
            fsv_metrics_refused(mx, ref[i].code);
        fsv_info("push user=%s device=%s batch=%lld changes=%zu accepted=%zu"
                 " new=%zu refused=%zu head=%lld ms=%lld", s->user.name,
                 s->device, (long long)m->batch, m->n_changes, accepted,
                 appended, n_ref, (long long)head,
                 (long long)(fsv_now_ms() - t0));
        fsv_metrics_observe(mx, FSV_H_PUSH, fsv_metrics_now_us() - t0_us);
        if (appended) {
            int64_t f0 = fsv_metrics_now_us();
            fsv_live_fan_out(s, m->changes, m->n_changes, head, vis_changed,
                             set);
            fsv_metrics_observe(mx, FSV_H_FANOUT, fsv_metrics_now_us() - f0);
            r.set = NULL;   /* the fan-out took it */
        }
    }
    push_res_free(&r);
    return result;
}


/* Merge one batch in one transaction; ack only after the commit. */
int fsv_sync_push(fsv_conn *s, fdsp_msg *m)
{
    fsv_store *st = s->srv->store;
    int64_t t0 = fsv_now_ms();
    int64_t t0_us = fsv_metrics_now_us();
    struct push_res r;
    memset(&r, 0, sizeof r);
    struct push_undo *undo = undo_take(m);
    int rc, attempt = 1;
    for (;; attempt++) {
        rc = push_tx(s, m, t0, &r, 1);
        if (rc != FSV_BUSY || attempt >= FSV_PUSH_BUSY_TRIES || !undo)
            break;
        long wait_ms = (long)FSV_PUSH_BUSY_BACKOFF_MS << (attempt - 1);
        fsv_warn("push_busy user=%s device=%s batch=%lld attempt=%d"
                 " retry_in_ms=%ld why=%s", s->user.name, s->device,
                 (long long)m->batch, attempt, wait_ms, fsv_store_errmsg(st));
        fsv_store_rollback(st);
        push_res_free(&r);
        undo_apply(m, undo);
        struct timespec ts = {wait_ms / 1000, (wait_ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
    }
    free(undo);
    if (rc == FSV_OK && attempt > 1)
        fsv_info("push_busy_retried user=%s device=%s batch=%lld attempts=%d",
                 s->user.name, s->device, (long long)m->batch, attempt);
    return push_finish(s, m, rc, &r, t0, t0_us);
}

/* ---- Group commit (issue 17) ------------------------------------------------ */

/* A push waits for the end of the event-loop turn it arrived in; every
** push that arrived in that turn (from different devices: a device's
** connection stops being read until its push is answered, so its own
** messages keep their order) is merged in one transaction, one commit
** and so one fsync for all, and each ack is sent after that commit.  A
** group that fails as a whole (a storage error, FSV_BUSY) is rolled back
** and each push runs again alone, with its own retries: a group never
** makes a push fail that would have succeeded alone. */
struct fsv_pushq {
    fsv_conn *s;        /* NULL: its connection closed meanwhile */
    fdsp_msg *m;
};

static void push_resume(fsv_conn *s, int result)
{
    s->push_wait = 0;
    if (result < 0) {
        /* Not inside this connection's callback: close it from the loop. */
        lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        return;
    }
    if (!s->throttled && !s->out_paused)
        lws_rx_flow_control(s->wsi, 1);
}

static void push_group_cb(lws_sorted_usec_list_t *sul)
{
    fsv_server *srv = lws_container_of(sul, fsv_server, push_sul);
    fsv_store *st = srv->store;
    struct fsv_pushq *q = srv->pq;
    size_t n = srv->n_pq, live = 0;
    srv->pq = NULL;
    srv->n_pq = srv->cap_pq = 0;
    srv->push_timer = 0;
    for (size_t i = 0; i < n; i++)
        live += q[i].s != NULL;
    int grouped = 0;
    if (live > 1) {
        struct push_res *r = calloc(n, sizeof *r);
        struct push_undo **u = calloc(n, sizeof *u);
        int64_t t0 = fsv_now_ms(), t0_us = fsv_metrics_now_us();
        int rc = r && u ? FSV_OK : FSV_NOMEM;
        for (size_t i = 0; rc == FSV_OK && i < n; i++)
            if (q[i].s && !(u[i] = undo_take(q[i].m)))
                rc = FSV_NOMEM;
        if (rc == FSV_OK)
            rc = fsv_store_begin(st);
        for (size_t i = 0; rc == FSV_OK && i < n; i++)
            if (q[i].s)
                rc = push_tx(q[i].s, q[i].m, t0, &r[i], 0);
        if (rc == FSV_OK)
            rc = fsv_store_commit(st);
        if (rc == FSV_OK) {
            grouped = 1;
            fsv_metrics_observe(srv->metrics, FSV_H_STORE_WRITE,
                                fsv_metrics_now_us() - t0_us);
            fsv_info("push_group pushes=%zu ms=%lld", live,
                     (long long)(fsv_now_ms() - t0));
            for (size_t i = 0; i < n; i++)
                if (q[i].s)
                    push_resume(q[i].s, push_finish(q[i].s, q[i].m, FSV_OK,
                                                    &r[i], t0, t0_us));
        } else {
            fsv_warn("push_group_failed pushes=%zu why=%s; each alone", live,
                     fsv_store_errmsg(st));
            fsv_store_rollback(st);
            for (size_t i = 0; i < n; i++) {
                if (r)
                    push_res_free(&r[i]);
                if (u && u[i])
                    undo_apply(q[i].m, u[i]);
            }
        }
        for (size_t i = 0; u && i < n; i++)
            free(u[i]);
        free(u);
        free(r);
    }
    for (size_t i = 0; i < n; i++) {
        if (q[i].s && !grouped)
            push_resume(q[i].s, fsv_sync_push(q[i].s, q[i].m));
        fdsp_msg_free(q[i].m);
    }
    free(q);
}

int fsv_sync_push_defer(fsv_conn *s, fdsp_msg *m)
{
    fsv_server *srv = s->srv;
    if (!srv->ctx || srv->shutting_down || srv->no_group_commit)
        return 0;
    if (srv->n_pq == srv->cap_pq) {
        size_t cap = srv->cap_pq ? srv->cap_pq * 2 : 16;
        void *p = realloc(srv->pq, cap * sizeof *srv->pq);
        if (!p)
            return 0;       /* the caller runs it now, alone */
        srv->pq = p;
        srv->cap_pq = cap;
    }
    srv->pq[srv->n_pq].s = s;
    srv->pq[srv->n_pq].m = m;
    srv->n_pq++;
    s->push_wait = 1;
    lws_rx_flow_control(s->wsi, 0);
    if (!srv->push_timer) {
        /* Due now: lws runs it after this turn's network events. */
        srv->push_timer = 1;
        lws_sul_schedule(srv->ctx, 0, &srv->push_sul, push_group_cb, 1);
    }
    return 1;
}

void fsv_sync_push_forget(fsv_conn *s)
{
    fsv_server *srv = s->srv;
    for (size_t i = 0; srv && i < srv->n_pq; i++)
        if (srv->pq[i].s == s) {
            fdsp_msg_free(srv->pq[i].m);
            srv->pq[i].m = NULL;
            srv->pq[i].s = NULL;
        }
    s->push_wait = 0;
}

void fsv_sync_push_stop(fsv_server *srv)
{
    if (srv->push_timer && srv->ctx)
        lws_sul_cancel(&srv->push_sul);
    srv->push_timer = 0;
    for (size_t i = 0; i < srv->n_pq; i++)
        fdsp_msg_free(srv->pq[i].m);
    free(srv->pq);
    srv->pq = NULL;
    srv->n_pq = srv->cap_pq = 0;
}

/* Encode a changes message of up to n changes, halving until it fits in
** FDSP_MAX_FRAME (large values), and queue it.  *sent is how many went;
** when fewer than n, last is the seq of the last one sent (if last_fixed is
** 0) and more is 1.  Returns 0, or -1 to close. */
static int send_changes(fsv_conn *s, fdsp_change *ch, size_t n, int64_t last,
                        int more, int last_fixed, size_t *sent)
{
    fdsp_msg r;     /* what went: last and more */
    memset(&r, 0, sizeof r);
    char *buf = NULL;
    size_t len = 0, take = 0;
    *sent = 0;
    int rc = fsv_resp_page(ch, n, last, more, last_fixed,
                           s->groups ? FDSP_ENC_GROUPS : 0, &buf, &len, &take,
                           &r.last, &r.more);
    if (rc != FDSP_OK) {
        fsv_err("pull_failed user=%s device=%s why=%s", s->user.name,
                s->device, fdsp_errname(rc));   /* encoding the changes */
        return fsv_conn_error(s, FDSP_E_INTERNAL, 0, 0,
                              "cannot encode changes");
    }
    int result = fsv_conn_enqueue(s, buf, len);
    free(buf);
    s->pulled += (int64_t)take;
    s->cursor = r.last;
    /* A last page: nothing after last that it may see (sync_live.c). */
    s->live_to = r.more ? -1 : r.last;
    *sent = take;
    /* Work the device asked for and got: a page with more after it, full
    ** by count or by bytes, is not charged to the rate limit (ws_sync.c);
    ** a flood of limit-1 or empty pulls still is. */
    int full = s->srv->max_batch < FSV_PULL_FREE_MIN ? s->srv->max_batch
                                                     : FSV_PULL_FREE_MIN;
    if (r.more && (take >= (size_t)full || take < n))
        s->rate_free = 1;
    return result;
}

/* Send revoke messages for the customers in ids (FDSP_MAX_REVOKE each). */
static int send_revokes(fsv_conn *s, char **ids, size_t n)
{
    for (size_t i = 0; i < n; i += FDSP_MAX_REVOKE) {
        size_t k = n - i < FDSP_MAX_REVOKE ? n - i : FDSP_MAX_REVOKE;
        fdsp_record_ref *refs = calloc(k, sizeof *refs);
        if (!refs)
            return -1;
        for (size_t j = 0; j < k; j++) {
            refs[j].table = (char *)"customer";
            refs[j].record = ids[i + j];
        }
        fdsp_msg m;
        memset(&m, 0, sizeof m);
        m.type = FDSP_REVOKE;
        m.records = refs;
        m.n_records = k;
        int rc = fsv_conn_send(s, &m);   /* borrows refs: not fdsp_msg_free */
        free(refs);
        if (rc != 0)
            return rc;
        fsv_info("revoke user=%s device=%s customers=%zu", s->user.name,
                 s->device, k);
    }
    return 0;
}

int fsv_sync_revoke(fsv_conn *s, char **ids, size_t n)
{
    return send_revokes(s, ids, n);
}

/* Did user u already see customer cust before the visibility events
** users/kinds[first..n) of it (those with ids[k] == cust) were written?
** Every change of who sees a customer is such an event, so what held
** before them is: the owner before the first owner event (its user), or
** the current owner if there was none; and u's own share as it is now,
** unless an event wrote it.  *saw 0 when in doubt (an event from before
** kinds were kept): the full state is then sent, as it always was. */
static int saw_before(fsv_store *st, const fsv_user *u, const char *cust,
                      char **ids, char **users, const int *kinds,
                      size_t first, size_t n, int *saw)
{
    const char *owner_then = NULL;
    int share_written = 0;
    *saw = 0;
    for (size_t k = first; k < n; k++) {
        if (strcmp(ids[k], cust) != 0)
            continue;
        if (kinds[k] == FSV_VIS_OWNER && !owner_then)
            owner_then = users[k];      /* events come oldest first */
        else if (kinds[k] == FSV_VIS_SHARE && strcmp(users[k], u->name) == 0)
            share_written = 1;
        else if (kinds[k] != FSV_VIS_OWNER && kinds[k] != FSV_VIS_SHARE)
            return FSV_OK;              /* unknown kind: resend */
    }
    char *owner_now = NULL;
    int rc = FSV_OK;
    if (!owner_then) {
        rc = fsv_vis_owner(st, cust, &owner_now);
        if (rc != FSV_OK || !owner_now)
            return rc;
        owner_then = owner_now;
    }
    /* fsv_vis_customer's rule as it stood then: the owner, a manager of
    ** the owner's team, or a user it is shared with. */
    if (strcmp(owner_then, u->name) == 0) {
        *saw = 1;
    } else if (strcmp(u->role, "manager") == 0 && u->team[0]) {
        fsv_user o;
        int r2 = fsv_store_user_get(st, owner_then, &o);
        if (r2 == FSV_OK)
            rc = fsv_vis_team_within(st, o.team, u->team, saw);
        else if (r2 != FSV_NOTFOUND)
            rc = r2;
    }
    if (rc == FSV_OK && !*saw && !share_written)
        rc = fsv_store_is_shared(st, cust, u->name, saw);
    free(owner_now);
    return rc;
}

/* Visibility events (assign, share, unshare) after `from` that this
** device has not been told about: customers it no longer sees are revoked
** at once; customers it sees now and did not see before the events get
** their full current state queued in s->resend (sent by the following
** pulls before any history), because their earlier history may lie before
** the device's cursor.  A device that saw the customer all along has its
** history already and gets nothing more (sharing 100 customers with one
** rep used to resend all of them to the owner and the owner's managers
** too).  A fresh device (after == 0) gets everything from the history
** scan anyway.  Inside the pull's read transaction.  Returns FSV_OK or a
** store error; *close set if the connection must close. */
static int visibility_events(fsv_conn *s, int64_t after, int *close)
{
    fsv_store *st = s->srv->store;
    int64_t head = 0, from = after > s->vis_done ? after : s->vis_done;
    *close = 0;
    int rc = fsv_store_head(st, &head);
    if (rc != FSV_OK || head <= from || fsv_vis_sees_all(&s->user)) {
        if (rc == FSV_OK && head > s->vis_done)
            s->vis_done = head;
        return rc;
    }
    char **ids = NULL, **users = NULL;
    int *kinds = NULL;
    size_t n = 0, n_gone = 0;
    char **gone = NULL;
    rc = fsv_store_vis_events(st, from, head, &ids, &users, &kinds, &n);
    if (rc == FSV_OK && n && !(gone = calloc(n, sizeof *gone)))
        rc = FSV_NOMEM;
    for (size_t i = 0; rc == FSV_OK && i < n; i++) {
        /* One decision per customer (events come in (customer, user)
        ** pairs): the first pair of each customer decides, looking at all
        ** of its pairs for the revoke. */
        size_t j = 0;
        while (j < i && strcmp(ids[j], ids[i]) != 0)
            j++;
        if (j < i)
            continue;
        int vis = 0;
        rc = fsv_vis_customer(st, &s->user, ids[i], &vis);
        if (rc != FSV_OK) {
            break;
        } else if (!vis) {
            /* Revoke only where the user may have had it, so nobody learns
            ** the ids of customers they never saw. */
            int seen = 0;
            for (size_t k = i; rc == FSV_OK && !seen && k < n; k++) {
                if (strcmp(ids[k], ids[i]) != 0)
                    continue;
                if (kinds[k] == FSV_VIS_POOL)   /* users[k]: the pool's team */
                    seen = fsv_vis_pool_covers(st, users[k], &s->user);
                else
                    rc = fsv_vis_may_have_seen(st, &s->user, users[k], &seen);
                if (rc != FSV_OK)
                    seen = 0;
            }
            if (rc == FSV_OK && seen)
                gone[n_gone++] = ids[i];
        } else if (after > 0) {
            int saw = 0;
            rc = saw_before(st, &s->user, ids[i], ids, users, kinds, i, n, &saw);
            if (rc != FSV_OK)
                break;
            if (saw)
                continue;
            size_t before = s->n_resend;
            rc = fsv_store_customer_state(st, ids[i], &s->resend, &s->n_resend);
            for (size_t k = before; k < s->n_resend; k++)
                s->resend[k].seq = head;   /* s >= 1; ordering is moot */
            if (rc == FSV_OK && s->n_resend > before)
                fsv_info("resend user=%s device=%s customer=%s changes=%zu",
                         s->user.name, s->device, ids[i], s->n_resend - before);
        }
    }
    if (rc == FSV_OK) {
        s->vis_done = head;
        if (n_gone && send_revokes(s, gone, n_gone) != 0)
            *close = 1;
    }
    free(gone);
    for (size_t i = 0; i < n; i++) {
        free(ids[i]);
        free(users[i]);
    }
    free(ids);
    free(users);
    free(kinds);
    return rc;
}

/* Send the next page of a queued full-state resend.  The cursor does not
** move (last = after) and more is set, so the device pulls again. */
static int send_resend(fsv_conn *s, int64_t after, int limit)
{
    size_t left = s->n_resend - s->resend_pos, sent = 0;
    size_t take = left < (size_t)limit ? left : (size_t)limit;
    int rc = send_changes(s, s->resend + s->resend_pos, take, after, 1, 1,
                          &sent);
    for (size_t i = 0; i < sent; i++)
        fdsp_change_clear(&s->resend[s->resend_pos + i]);
    s->resend_pos += sent;
    if (s->resend_pos == s->n_resend) {
        free(s->resend);
        s->resend = NULL;
        s->n_resend = s->resend_pos = 0;
    }
    fsv_info("pull user=%s device=%s after=%lld resent=%zu left=%zu",
             s->user.name, s->device, (long long)after, sent,
             s->n_resend - s->resend_pos);
    return rc;
}

int fsv_sync_pull(fsv_conn *s, const fdsp_msg *m)
{
    fsv_store *st = s->srv->store;
    int64_t t0 = fsv_now_ms();
    int64_t t0_us = fsv_metrics_now_us();
    int limit = m->limit > 0 && m->limit < s->srv->max_batch
                    ? m->limit : s->srv->max_batch;
    /* Each customer's verdict is looked up once per pull; a user who sees
    ** everything needs no filter (nor the record index join). */
    struct fsv_vis_memo_filter f;
    memset(&f, 0, sizeof f);
    f.store = st;
    f.user = &s->user;
    fsv_row_filter filter = fsv_vis_sees_all(&s->user) ? NULL
                                                       : fsv_vis_memo_filter_fn;
    fdsp_change *ch = NULL;
    size_t n = 0;
    int64_t last = 0;
    int more = 0, close = 0;

    if (m->after < 0)
        return fsv_conn_error(s, FDSP_E_VALUE, 0, 0, "pull after a negative seq");
    /* Users moved since (sync_moves.c): revokes now, full state queued;
    ** and the device's mark once what was queued has gone out. */
    if (fsv_moves_apply(s, 0) != 0)
        return -1;
    fsv_moves_save(s);
    if (s->resend_pos < s->n_resend)
        return send_resend(s, m->after, limit);
    int rc = fsv_store_begin_read(st);
    int64_t tx_us = fsv_metrics_now_us();
    if (rc == FSV_OK)
        rc = visibility_events(s, m->after, &close);
    if (rc == FSV_OK && !close && s->resend_pos == s->n_resend)
        rc = fsv_store_changes_after(st, m->after, limit, s->device,
                                     filter, &f, &ch, &n, &last, &more);
    fsv_store_rollback(st); /* end of the read snapshot */
    fsv_metrics_observe(s->srv->metrics, FSV_H_STORE_READ,
                        fsv_metrics_now_us() - tx_us);
    fsv_vis_memo_filter_clear(&f);
    if (rc != FSV_OK) {
        fsv_err("pull_failed user=%s device=%s why=%s", s->user.name, s->device,
                fsv_store_errmsg(st));
        return fsv_conn_error(s, FDSP_E_INTERNAL, 0, 0, "server storage failure");
    }
    if (close)
        return -1;
    if (s->resend_pos < s->n_resend)
        return send_resend(s, m->after, limit);

    size_t take = 0;
    int result = send_changes(s, ch, n, last, more, 0, &take);
    fsv_metrics_inc(s->srv->metrics, FSV_C_PULLS);
    fsv_metrics_add(s->srv->metrics, FSV_C_SENT, take);
    fsv_metrics_observe(s->srv->metrics, FSV_H_PULL, fsv_metrics_now_us() - t0_us);
    if (take || n == 0)
        fsv_info("pull user=%s device=%s after=%lld sent=%zu last=%lld more=%d"
                 " ms=%lld", s->user.name, s->device, (long long)m->after, take,
                 (long long)s->cursor, take < n ? 1 : more,
                 (long long)(fsv_now_ms() - t0));
    for (size_t i = 0; i < n; i++)
        fdsp_change_clear(&ch[i]);
    free(ch);
    return result;
}
