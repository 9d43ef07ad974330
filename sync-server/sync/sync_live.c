/*
** sync_live.c — the live fan-out after a push (DESIGN.md rule 10,
** PROTOCOL.md §3 step 4, issue 17).
**
** A device that said "live" in its hello and is caught up gets the new
** changes it may see at once, as a `changes` message with "after" (a live
** batch), instead of a notify and the pull that would follow it: one
** message instead of three, and no scan per device.  Everyone else (an
** old device, one not caught up, one with a full-state resend queued, or
** any device after a batch that changed who sees what) gets the notify as
** before and pulls.
**
** Caught up, exactly: s->live_to is the seq up to which the server knows
** that nothing this device may see lies after its cursor s->cursor.  A
** pull's last page (more=false) sets cursor = live_to = its last.  A
** batch whose appended changes are exactly (base, head] (nothing from
** another writer in between: its seqs are contiguous and end at the head
** read in its own transaction) moves a device with live_to == base to
** head: with a live batch of the changes it sees (after = cursor, last =
** head; the device applies it only on top of that cursor), or silently if
** it sees none of them (its next live batch then covers the skipped range,
** as a pull's `last` covers rows it may not see).  Anything else leaves
** live_to behind, so the device is sent a notify and pulls.  No change can
** be skipped: a live batch never starts from a seq the device has not got.
**
** Encoded once per visibility class and wire form (grouped for devices
** that said "groups", plain for the others): devices that see the same
** subset of the batch share one encoding; only the "after" in front
** differs, and the encoder writes "after" right after "type", so the
** message is that prefix plus the shared bytes (exactly what
** fdsp_encode_opt would write).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "server.h"
#include "visibility.h"

/* Distinct subsets of one batch that get a live batch; more are notified. */
#define LIVE_CLASSES 64

/* What every changes message starts with; a live batch inserts
** ,"after":N after it. */
static const char changes_head[] = "{\"type\":\"changes\"";
#define CHANGES_HEAD_LEN (sizeof changes_head - 1)

struct live_class {
    unsigned char *mask;    /* n bytes: 1 where the class sees change i */
    char *buf;              /* its changes message, without "after" */
    size_t len;
    size_t n_changes;
    int failed;             /* not encodable in one frame: notify instead */
    int groups;             /* encoded with change groups (its devices
                            ** said "groups" in their hello) */
};

/* Encode the changes of c selected by mask as one changes message with
** last = head, more = false, no after.  Sets k->failed if that does not
** fit in a frame (with room for the after). */
static void class_encode(struct live_class *k, const fdsp_change *c, size_t n,
                         int64_t head)
{
    fdsp_change *v = malloc(n * sizeof *v);
    if (!v) {
        k->failed = 1;
        return;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (k->mask[i])
            v[m++] = c[i];      /* shallow: borrowed, never cleared */
    fdsp_msg msg;
    memset(&msg, 0, sizeof msg);
    msg.type = FDSP_CHANGES;
    msg.changes = v;
    msg.n_changes = m;
    msg.last = head;
    int rc = fdsp_encode_opt(&msg, k->groups ? FDSP_ENC_GROUPS : 0, &k->buf,
                             &k->len);
    free(v);
    k->n_changes = m;
    if (rc != FDSP_OK || k->len + 32 > FDSP_MAX_FRAME ||
        memcmp(k->buf, changes_head, CHANGES_HEAD_LEN) != 0 ||
        k->buf[CHANGES_HEAD_LEN] != ',') {
        if (rc != FDSP_OK)
            fsv_warn("live_batch_not_encoded code=%s then=notify",
                     fdsp_errname(rc));
        k->failed = 1;
    }
}

/* The class of devices seeing exactly mask, made (and encoded) at the
** first; NULL when there are too many classes or no memory. */
static struct live_class *class_for(struct live_class *cls, size_t *n_cls,
                                    const unsigned char *mask, int groups,
                                    const fdsp_change *c, size_t n,
                                    int64_t head)
{
    for (size_t j = 0; j < *n_cls; j++)
        if (cls[j].groups == groups && memcmp(cls[j].mask, mask, n) == 0)
            return &cls[j];
    if (*n_cls == LIVE_CLASSES)
        return NULL;
    struct live_class *k = &cls[*n_cls];
    memset(k, 0, sizeof *k);
    if (!(k->mask = malloc(n)))
        return NULL;
    memcpy(k->mask, mask, n);
    k->groups = groups;
    (*n_cls)++;
    class_encode(k, c, n, head);
    return k;
}

/* Queue class k's message to s with s's cursor as its after. */
static int send_live(fsv_conn *s, const struct live_class *k, int64_t head)
{
    char pre[64];
    int np = snprintf(pre, sizeof pre, "%s,\"after\":%lld", changes_head,
                      (long long)s->cursor);
    if (np < 0 || (size_t)np >= sizeof pre)
        return -1;
    if (fsv_conn_enqueue2(s, pre, (size_t)np, k->buf + CHANGES_HEAD_LEN,
                          k->len - CHANGES_HEAD_LEN) != 0)
        return -1;
    fsv_debug("live user=%s device=%s after=%lld last=%lld changes=%zu",
              s->user.name, s->device, (long long)s->cursor, (long long)head,
              k->n_changes);
    fsv_metrics_add(s->srv->metrics, FSV_C_LIVE_SENT, (uint64_t)k->n_changes);
    s->pulled += (int64_t)k->n_changes;
    s->cursor = s->live_to = head;
    return 0;
}

static void notify(fsv_conn *s, int64_t head)
{
    if (s->out_n >= FSV_LIVE_MAX_QUEUED) {
        s->notify_owed = head;      /* sent when its queue drains */
        return;
    }
    fdsp_msg m;
    memset(&m, 0, sizeof m);
    m.type = FDSP_NOTIFY;
    m.head = head;
    if (fsv_conn_send(s, &m) == 0) {
        fsv_metrics_inc(s->srv->metrics, FSV_C_NOTIFIES);
        fsv_debug("notify user=%s device=%s head=%lld", s->user.name, s->device,
                  (long long)head);
    }
}

void fsv_live_remote(fsv_server *srv, int64_t head)
{
    if (head <= srv->remote_head)
        return;
    srv->remote_head = head;
    int n_notify = 0;
    for (fsv_conn *s = srv->conns; s; s = s->next) {
        if (!s->hello_done || s->close_after_send || s->cursor >= head)
            continue;
        notify(s, head);
        n_notify++;
    }
    if (n_notify)
        fsv_debug("remote_head head=%lld notified=%d", (long long)head,
                  n_notify);
}

/* The visibility set is built by the push before its commit, from the
** record index as that commit left it.  Another writer (another process,
** under the store's concurrency contract) may change who sees a customer
** right after; its change is then a visibility event of its own, which
** breaks every device's chain (its seq is not this batch's), so the
** devices pull and apply it.  (Devices connected to another process are
** told by that process: cross-process fan-out is the PostgreSQL backend's
** issue.) */
void fsv_live_fan_out(fsv_conn *from, const fdsp_change *c, size_t n,
                      int64_t head, int vis_changed, fsv_vis_set *set)
{
    fsv_server *srv = from->srv;
    int64_t lo = 0, hi = 0;
    /* Our own batch's head is no other process's news: the chain below
    ** sends a notify to every device whose live_to is behind its base,
    ** which covers what other processes appended under it. */
    if (head > srv->remote_head)
        srv->remote_head = head;
    size_t appended = 0;
    for (size_t i = 0; i < n; i++) {
        if (!c[i].seq)
            continue;
        if (!appended || c[i].seq < lo)
            lo = c[i].seq;
        if (c[i].seq > hi)
            hi = c[i].seq;
        appended++;
    }
    if (!appended || fsv_store_begin_read(srv->store) != FSV_OK) {
        fsv_vis_set_free(set);
        return;
    }
    int chain = !vis_changed && hi == head &&
                hi - lo + 1 == (int64_t)appended;
    int64_t base = lo - 1;
    unsigned char *mask = chain ? malloc(n) : NULL;
    struct live_class cls[LIVE_CLASSES];
    size_t n_cls = 0;
    int set_tried = set != NULL, n_live = 0, n_notify = 0, n_owed = 0;

    for (fsv_conn *s = srv->conns; s; s = s->next) {
        if (!s->hello_done || s->close_after_send)
            continue;
        if (vis_changed) {
            /* Who sees what changed (assign, share, unshare): every device
            ** pulls, and its pull brings the revoke or the full state —
            ** even the pushing device, which may have given the customer
            ** away. */
            notify(s, head);
            n_notify++;
            continue;
        }
        if (s == from) {
            /* Its own changes are in none of its pulls: a caught-up
            ** pusher stays caught up. */
            if (chain && s->live_to == base)
                s->live_to = head;
            continue;
        }
        int all = fsv_vis_sees_all(&s->user);
        if (!all && !set_tried) {
            set_tried = 1;
            if (fsv_vis_set_build(srv->store, c, n, &set) != FSV_OK)
                set = NULL;
        }
        if (!all && !set) {
            /* No set (out of memory): the change-by-change answer, and a
            ** notify; the device's chain is left behind. */
            if (fsv_vis_sees_any(srv->store, &s->user, c, n)) {
                notify(s, head);
                n_notify++;
            }
            continue;
        }
        int can_live = mask && s->live && s->live_to == base &&
                       s->cursor >= 1 && s->resend_pos == s->n_resend;
        size_t sees = 0;
        for (size_t i = 0; i < n; i++) {
            int v = c[i].seq && strcmp(c[i].device, s->device) != 0 &&
                    (all || fsv_vis_set_sees(set, &s->user, i));
            if (mask)
                mask[i] = (unsigned char)v;
            sees += (size_t)v;
            if (v && !mask)
                break;          /* only "any" is asked */
        }
        if (!sees) {
            if (can_live)
                s->live_to = head;  /* nothing for it: still caught up */
            continue;
        }
        if (s->out_n >= FSV_LIVE_MAX_QUEUED) {
            /* It does not keep up (a slow link, or more changes than the
            ** server can send one by one): nothing more is queued for it,
            ** and once its queue drains it gets one notify; its pull then
            ** brings everything since in one page.  Memory stays bounded
            ** and a backlog costs one message, not one per change. */
            s->live_to = -1;
            s->notify_owed = head;
            n_owed++;
            continue;
        }
        struct live_class *k = can_live
            ? class_for(cls, &n_cls, mask, s->groups, c, n, head) : NULL;
        if (k && !k->failed && send_live(s, k, head) == 0) {
            n_live++;
            continue;
        }
        notify(s, head);
        n_notify++;
    }
    fsv_debug("fan_out head=%lld live=%d notified=%d owed=%d classes=%zu",
              (long long)head, n_live, n_notify, n_owed, n_cls);
    for (size_t j = 0; j < n_cls; j++) {
        free(cls[j].mask);
        free(cls[j].buf);
    }
    free(mask);
    fsv_vis_set_free(set);
    fsv_store_rollback(srv->store);
}

void fsv_live_notify_all(fsv_server *srv, int64_t head)
{
    for (fsv_conn *s = srv->conns; s; s = s->next)
        if (s->hello_done && !s->close_after_send)
            notify(s, head);
}
