/*
** sync_moves.c — a user moved to another team or role (`fieldsync-server
** user set`, store.h "Teams and moves") reaches every device concerned in
** one step: customers a device no longer sees are revoked at once, and
** customers it now sees and did not before get their full current state
** (DESIGN.md rule 8; PROTOCOL.md §3 step 5).
**
** Who is concerned by a move of X: X's own devices (X's view changes with
** X's team and role), and the managers whose subtree gains or loses X's
** team (they see X's customers, or no longer do).  Nobody else: what a
** user sees depends only on the customer's owner's team, the user's own
** team and role, and shares, and a move changes only X's team and role.
**
** Why not visibility events (vis_event): those are keyed by the history
** sequence of the change that caused them, and a device finds the ones it
** has not applied by its cursor.  A move writes no history (it is not a
** change of any record), so a device whose cursor is already the head
** would never find it.  Moves are numbered on their own (user_move.id);
** each device's mark (dev_move.done) says which it has been given, read at
** hello and written once what a move queued has been delivered, so a
** device offline during the move gets it at its next sync, and one whose
** connection drops half-way gets it again (a revoke or a full state sent
** twice is harmless: rule 3).
**
** How a running server learns of a move made by the admin command in
** another process: as for `user disable`, the once-a-second auth tick
** (ws_sync.c) sees the store's data version change and calls
** fsv_moves_tick, which refreshes the sessions' users and applies the
** new moves to every connected device.  Revokes go out at once; the full
** state is queued for the device's next pull (as for an assign), and a
** caught-up live device (`sync --watch`) is also sent it as a live batch
** on top of its cursor (after = last = its cursor), since no notify can
** make it pull when the head has not moved.
**
** Several moves of one user not yet applied are taken together: the view
** before the first of them against the view now, so a customer lost and
** then regained is not revoked after its full state was queued.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "server.h"
#include "visibility.h"

/* A growing array of malloc'd customer ids. */
struct idlist {
    char **v;
    size_t n, cap;
};

static int idlist_add(struct idlist *l, const char *id)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        char **p = realloc(l->v, cap * sizeof *p);
        if (!p)
            return FSV_NOMEM;
        l->v = p;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(id)))
        return FSV_NOMEM;
    l->n++;
    return FSV_OK;
}

static void idlist_free(struct idlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int cmp_id(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int has_id(const struct idlist *l, const char *id)
{
    return l->n && bsearch(&id, l->v, l->n, sizeof *l->v, cmp_id) != NULL;
}

static int collect(void *ud, const fsv_office_cust *c)
{
    return idlist_add(ud, c->id);
}

/* The customers user u sees (office view: not deleted), sorted. */
static int scope_ids(fsv_store *st, const fsv_user *u, struct idlist *out)
{
    fsv_scope sc;
    fsv_vis_scope(u, &sc);
    int rc = fsv_store_office_customers(st, &sc, collect, out);
    if (rc == FSV_OK && out->n)
        qsort(out->v, out->n, sizeof *out->v, cmp_id);
    return rc;
}

/* u's own move: before = u as it was (old team and role), now = u. */
static int own_move(fsv_store *st, const fsv_user *u, const fsv_move *first,
                    struct idlist *gone, struct idlist *gained)
{
    fsv_user o = *u;
    snprintf(o.team, sizeof o.team, "%s", first->old_team);
    snprintf(o.role, sizeof o.role, "%s", first->old_role);
    struct idlist before = {0}, now = {0};
    int rc = scope_ids(st, &o, &before);
    if (rc == FSV_OK)
        rc = scope_ids(st, u, &now);
    for (size_t i = 0; rc == FSV_OK && i < before.n; i++)
        if (!has_id(&now, before.v[i]))
            rc = idlist_add(gone, before.v[i]);
    for (size_t i = 0; rc == FSV_OK && i < now.n; i++)
        if (!has_id(&before, now.v[i]))
            rc = idlist_add(gained, now.v[i]);
    idlist_free(&before);
    idlist_free(&now);
    return rc;
}

/* Another user x moved (from first->old_team): does manager u's subtree
** gain or lose x's customers?  Those u sees through a share, or still
** sees, are left alone. */
static int others_move(fsv_store *st, const fsv_user *u, const fsv_move *first,
                       struct idlist *gone, struct idlist *gained)
{
    if (fsv_vis_sees_all(u) || strcmp(u->role, "manager") != 0 || !u->team[0])
        return FSV_OK;
    fsv_user x;
    int in_old = 0, in_now = 0;
    int rc = fsv_store_user_get(st, first->user, &x);
    if (rc == FSV_NOTFOUND)
        return FSV_OK;
    if (rc == FSV_OK)
        rc = fsv_vis_team_within(st, first->old_team, u->team, &in_old);
    if (rc == FSV_OK)
        rc = fsv_vis_team_within(st, x.team, u->team, &in_now);
    if (rc != FSV_OK || in_old == in_now)
        return rc;
    char **ids = NULL;
    size_t n = 0;
    rc = fsv_store_owned_customers(st, first->user, &ids, &n);
    for (size_t i = 0; rc == FSV_OK && i < n; i++) {
        int now = 0, shared = 0;
        rc = fsv_vis_customer(st, u, ids[i], &now);
        if (rc == FSV_OK)
            rc = fsv_store_is_shared(st, ids[i], u->name, &shared);
        int before = in_old || shared;
        if (rc == FSV_OK && before && !now)
            rc = idlist_add(gone, ids[i]);
        else if (rc == FSV_OK && now && !before)
            rc = idlist_add(gained, ids[i]);
    }
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    return rc;
}

/* A live batch on top of a caught-up device's cursor: the full state it
** gained, applied at once by a `sync --watch` device (it stays queued for
** the next pull too, in case the device was busy and skipped it). */
static int send_live_state(fsv_conn *s, fdsp_change *ch, size_t n)
{
    if (!s->live || s->cursor < 1 || s->live_to != s->cursor || !n)
        return 0;
    fdsp_msg m;
    memset(&m, 0, sizeof m);
    m.type = FDSP_CHANGES;
    m.after = s->cursor;
    m.last = s->cursor;
    m.changes = ch;
    m.n_changes = n;
    char *buf = NULL;
    size_t len = 0;
    int rc = fdsp_encode_opt(&m, s->groups ? FDSP_ENC_GROUPS : 0, &buf, &len);
    if (rc != FDSP_OK || len > FDSP_MAX_FRAME) {
        free(buf);
        return 0;       /* too big for one frame: the queued pull has it */
    }
    int r = fsv_conn_enqueue(s, buf, len);
    free(buf);
    return r;
}

int fsv_moves_apply(fsv_conn *s, int live)
{
    fsv_store *st = s->srv->store;
    if (!s->hello_done || s->moves_done >= s->srv->moves_head)
        return 0;
    fsv_move *mv = NULL;
    size_t n = 0;
    struct idlist gone = {0}, gained = {0};
    int64_t head = 0;
    size_t before = s->n_resend;
    int rc = fsv_store_begin_read(st);
    if (rc == FSV_OK)
        rc = fsv_store_moves(st, s->moves_done, &mv, &n);
    if (rc == FSV_OK)
        rc = fsv_store_head(st, &head);
    /* This session's user as the store has it now (its own move). */
    for (size_t i = 0; rc == FSV_OK && i < n; i++) {
        if (strcmp(mv[i].user, s->user.name) == 0) {
            fsv_user u;
            rc = fsv_store_user_get(st, s->user.name, &u);
            if (rc == FSV_OK) {
                memcpy(s->user.role, u.role, sizeof u.role);
                memcpy(s->user.team, u.team, sizeof u.team);
            }
            break;
        }
    }
    /* One decision per moved user, from before their first pending move. */
    for (size_t i = 0; rc == FSV_OK && i < n; i++) {
        size_t j = 0;
        while (j < i && strcmp(mv[j].user, mv[i].user) != 0)
            j++;
        if (j < i)
            continue;
        if (strcmp(mv[i].user, s->user.name) == 0)
            rc = own_move(st, &s->user, &mv[i], &gone, &gained);
        else
            rc = others_move(st, &s->user, &mv[i], &gone, &gained);
    }
    for (size_t i = 0; rc == FSV_OK && i < gained.n; i++) {
        size_t k0 = s->n_resend;
        rc = fsv_store_customer_state(st, gained.v[i], &s->resend,
                                      &s->n_resend);
        for (size_t k = k0; k < s->n_resend; k++)
            s->resend[k].seq = head > 0 ? head : 1;
    }
    fsv_store_rollback(st);     /* end of the read snapshot */
    int result = 0;
    if (rc != FSV_OK) {
        fsv_err("move_failed user=%s device=%s why=%s", s->user.name,
                s->device, fsv_store_errmsg(st));
    } else {
        if (n)
            s->moves_done = mv[n - 1].id;
        fsv_info("move user=%s role=%s team=%s device=%s moves=%zu revoked=%zu"
                 " gained=%zu", s->user.name, s->user.role,
                 s->user.team[0] ? s->user.team : "-", s->device, n, gone.n,
                 gained.n);
        if (gone.n)
            result = fsv_sync_revoke(s, gone.v, gone.n);
        if (result == 0 && live && s->n_resend > before &&
            s->resend_pos == 0 && before == 0)
            result = send_live_state(s, s->resend, s->n_resend);
    }
    free(mv);
    idlist_free(&gone);
    idlist_free(&gained);
    return result;
}

int fsv_moves_save(fsv_conn *s)
{
    if (s->moves_saved >= s->moves_done || s->resend_pos < s->n_resend)
        return FSV_OK;
    fsv_store *st = s->srv->store;
    int rc = fsv_store_begin(st);
    if (rc == FSV_OK)
        rc = fsv_store_move_done_set(st, s->device, s->moves_done);
    if (rc == FSV_OK)
        rc = fsv_store_commit(st);
    if (rc != FSV_OK) {
        fsv_store_rollback(st);
        fsv_warn("move_mark_failed device=%s why=%s", s->device,
                 fsv_store_errmsg(st));
        return rc;      /* applied again at the next connection: harmless */
    }
    s->moves_saved = s->moves_done;
    return FSV_OK;
}

void fsv_moves_tick(fsv_server *srv)
{
    fsv_move *mv = NULL;
    size_t n = 0;
    if (fsv_store_moves(srv->store, srv->moves_head, &mv, &n) != FSV_OK) {
        fsv_warn("moves_check_failed why=%s", fsv_store_errmsg(srv->store));
        return;
    }
    if (n)
        srv->moves_head = mv[n - 1].id;
    free(mv);
    if (!n)
        return;
    for (fsv_conn *s = srv->conns; s; s = s->next) {
        if (!s->hello_done || s->close_after_send)
            continue;
        if (fsv_moves_apply(s, 1) != 0)
            fsv_conn_error(s, FDSP_E_INTERNAL, 0, 1, "cannot send a revoke");
    }
}

int fsv_moves_hello(fsv_conn *s, const char *device)
{
    fsv_store *st = s->srv->store;
    int64_t done = 0;
    fsv_move *mv = NULL;
    size_t n = 0;
    int rc = fsv_store_move_done(st, device, &done);
    if (rc == FSV_OK)
        rc = fsv_store_moves(st, done, &mv, &n);
    if (rc != FSV_OK)
        return rc;
    if (n && mv[n - 1].id > s->srv->moves_head)
        s->srv->moves_head = mv[n - 1].id;
    free(mv);
    s->moves_done = s->moves_saved = done;
    return FSV_OK;
}
