/*
** visibility.c — the baseline visibility and write rules (visibility.h).
*/
#include "visibility.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_definition(const char *tbl)
{
    return strcmp(tbl, "fielddef") == 0 || strcmp(tbl, "stagedef") == 0 ||
           strcmp(tbl, FSV_POOL_RULES_TABLE) == 0;
}

/* Pools follow the team tree: a rep sees the pool of their team and of
** every team above it (the pool of a team is visible to the teams below),
** a manager also the pools of the teams below their own. */
int fsv_vis_pool_covers(fsv_store *s, const char *pool_team,
                        const fsv_user *u)
{
    if (!pool_team || !pool_team[0] || !u->team[0])
        return 0;
    int w = 0;
    if (fsv_vis_team_within(s, u->team, pool_team, &w) == FSV_OK && w)
        return 1;
    if (strcmp(u->role, "manager") == 0 &&
        fsv_vis_team_within(s, pool_team, u->team, &w) == FSV_OK && w)
        return 1;
    return 0;
}

int fsv_vis_pool_lost(fsv_store *s, const fsv_user *u, const char *customer,
                      char *by, size_t bylen)
{
    fsv_pool_row p;
    if (by && bylen)
        by[0] = '\0';
    int rc = fsv_store_pool_get(s, customer, &p);
    if (rc == FSV_NOTFOUND)
        return 0;
    if (rc != FSV_OK || p.in_pool || !p.claimed_by[0] ||
        strcmp(p.claimed_by, u->name) == 0 ||
        !fsv_vis_pool_covers(s, p.team, u))
        return 0;
    if (by && bylen)
        snprintf(by, bylen, "%s", p.claimed_by);
    return 1;
}

int fsv_vis_sees_all(const fsv_user *u)
{
    return strcmp(u->role, "admin") == 0 ||
           (strcmp(u->role, "manager") == 0 && strcmp(u->team, "*") == 0);
}

void fsv_vis_scope(const fsv_user *u, fsv_scope *sc)
{
    sc->all = fsv_vis_sees_all(u);
    sc->user = u->name;
    /* cust_info_vis: a manager with a team sees its users' customers */
    sc->team = strcmp(u->role, "manager") == 0 && u->team[0] ? u->team : "";
    sc->filter_team = NULL;
    /* and everyone with a team the pool customers of the pool it covers
    ** (fsv_vis_pool_covers: their team and the teams below it) */
    sc->pool_team = u->team[0] ? u->team : "";
}

int fsv_vis_team_within(fsv_store *s, const char *team, const char *of,
                        int *within)
{
    *within = 0;
    if (!team || !team[0] || !of || !of[0])
        return FSV_OK;
    if (strcmp(team, of) == 0 || strcmp(of, "*") == 0) {
        *within = 1;    /* no map needed */
        return FSV_OK;
    }
    const fsv_teams *t = NULL;
    int rc = fsv_store_team_map(s, &t);
    if (rc == FSV_OK)
        *within = fsv_teams_within(t, team, of);
    return rc;
}

/* The effective owner of a customer: the owner field, or the creator while
** that is empty.  *owner malloc'd; NULL if the server does not know it. */
static int customer_owner(fsv_store *s, const char *customer, char **owner)
{
    char *cust = NULL, *creator = NULL, *val = NULL;
    *owner = NULL;
    int rc = fsv_store_record_info(s, "customer", customer, &cust, &creator);
    free(cust);
    if (rc == FSV_NOTFOUND)
        return FSV_OK;
    if (rc != FSV_OK)
        return rc;
    rc = fsv_store_field_value(s, "customer", customer, "owner", &val);
    if (rc != FSV_OK && rc != FSV_NOTFOUND) {
        free(creator);
        return rc;
    }
    if (val && val[0]) {
        free(creator);
        *owner = val;
        return FSV_OK;
    }
    free(val);
    val = NULL;
    /* Owner empty: a pool customer (pool "1") has nobody; otherwise the
    ** creator, as before the pool. */
    rc = fsv_store_field_value(s, "customer", customer, "pool", &val);
    if (rc != FSV_OK && rc != FSV_NOTFOUND) {
        free(creator);
        return rc;
    }
    if (val && strcmp(val, "1") == 0) {
        free(creator);
        free(val);
        *owner = strdup("");
        return *owner ? FSV_OK : FSV_NOMEM;
    }
    free(val);
    *owner = creator;
    return FSV_OK;
}

int fsv_vis_owner(fsv_store *s, const char *customer, char **owner)
{
    return customer_owner(s, customer, owner);
}

int fsv_vis_may_have_seen(fsv_store *s, const fsv_user *u, const char *user,
                          int *seen)
{
    *seen = 0;
    if (!user || !user[0])
        return FSV_OK;
    if (strcmp(u->name, user) == 0) {
        *seen = 1;
        return FSV_OK;
    }
    if (strcmp(u->role, "manager") != 0 || !u->team[0])
        return FSV_OK;
    fsv_user o;
    int rc = fsv_store_user_get(s, user, &o);
    if (rc == FSV_NOTFOUND)
        return FSV_OK;
    if (rc == FSV_OK)
        rc = fsv_vis_team_within(s, o.team, u->team, seen);
    return rc;
}

/* What deciding a customer's visibility needs, looked up once and kept:
** its effective owner and that owner's team.  fsv_vis_customer fills one
** per call; a fan-out set keeps one per customer for every session. */
typedef struct cust_info {
    const char *id;
    int owner_done, owner_rc;       /* customer_owner looked up; its result */
    char *owner;                    /* NULL: customer unknown */
    int team_done, team_rc;         /* fsv_store_user_get(owner) */
    char team[FSV_NAME_MAX + 1];
    /* Asked for many users (a fan-out set): everyone it is shared with, in
    ** one scan, instead of a share lookup per user. */
    int share_list, shares_done, shares_rc;
    char **shares;
    size_t n_shares;
    int pool_done, pool_rc;         /* fsv_store_pool_get (owner "") */
    char pool_team[FSV_NAME_MAX + 1];
} cust_info;

/* fsv_store_is_shared(ci->id, user), from the share list if ci keeps one. */
static int cust_info_shared(fsv_store *s, cust_info *ci, const char *user,
                            int *shared)
{
    if (!ci->share_list)
        return fsv_store_is_shared(s, ci->id, user, shared);
    if (!ci->shares_done) {
        ci->shares_rc = fsv_store_shared_users(s, ci->id, &ci->shares,
                                               &ci->n_shares);
        ci->shares_done = 1;
    }
    *shared = 0;
    if (ci->shares_rc != FSV_OK)
        return ci->shares_rc;
    for (size_t i = 0; i < ci->n_shares && !*shared; i++)
        *shared = strcmp(ci->shares[i], user) == 0;
    return FSV_OK;
}

/* fsv_vis_customer on a cust_info (u does not see everything): FSV_OK
** with *sees 1/0, or the store's code. */
static int cust_info_vis(fsv_store *s, cust_info *ci, const fsv_user *u,
                         int *sees)
{
    *sees = 0;
    if (!ci->owner_done) {
        ci->owner_rc = customer_owner(s, ci->id, &ci->owner);
        ci->owner_done = 1;
    }
    if (ci->owner_rc != FSV_OK)
        return ci->owner_rc;
    int vis = 0;
    if (!ci->owner) {
        vis = 0; /* unknown customer: nobody but the all-seeing */
    } else if (!ci->owner[0]) {
        /* A pool customer: every user of its pool's team. */
        if (!ci->pool_done) {
            fsv_pool_row p;
            ci->pool_rc = fsv_store_pool_get(s, ci->id, &p);
            if (ci->pool_rc == FSV_OK)
                memcpy(ci->pool_team, p.team, sizeof ci->pool_team);
            ci->pool_done = 1;
        }
        if (ci->pool_rc == FSV_OK)
            vis = fsv_vis_pool_covers(s, ci->pool_team, u);
        else if (ci->pool_rc != FSV_NOTFOUND)
            return ci->pool_rc;
    } else if (strcmp(ci->owner, u->name) == 0) {
        vis = 1;
    } else if (strcmp(u->role, "manager") == 0 && u->team[0]) {
        if (!ci->team_done) {
            fsv_user o;
            ci->team_rc = fsv_store_user_get(s, ci->owner, &o);
            if (ci->team_rc == FSV_OK)
                memcpy(ci->team, o.team, sizeof ci->team);
            ci->team_done = 1;
        }
        if (ci->team_rc == FSV_OK) {
            /* teams nest: the owner's team, or one below it */
            int rc = fsv_vis_team_within(s, ci->team, u->team, &vis);
            if (rc != FSV_OK)
                return rc;
        } else if (ci->team_rc != FSV_NOTFOUND) {
            return ci->team_rc;
        }
    }
    if (vis == 0) {
        int rc = cust_info_shared(s, ci, u->name, &vis);
        if (rc != FSV_OK)
            return rc;
    }
    *sees = vis;
    return FSV_OK;
}

int fsv_vis_customer(fsv_store *s, const fsv_user *u, const char *customer,
                     int *sees)
{
    if (fsv_vis_sees_all(u)) {
        *sees = 1;
        return FSV_OK;
    }
    cust_info ci;
    memset(&ci, 0, sizeof ci);
    ci.id = customer;
    int rc = cust_info_vis(s, &ci, u, sees);
    free(ci.owner);
    return rc;
}

int fsv_vis_row(fsv_store *s, const fsv_user *u, const fsv_row *row,
                int *sees)
{
    *sees = 0;
    if (fsv_vis_sees_all(u) || is_definition(row->tbl)) {
        *sees = 1;
        return FSV_OK;
    }
    if (strcmp(row->tbl, "customer") == 0)
        return fsv_vis_customer(s, u, row->rid, sees);
    if (!row->customer) {
        *sees = row->creator && strcmp(row->creator, u->name) == 0;
        return FSV_OK;
    }
    return fsv_vis_customer(s, u, row->customer, sees);
}

int fsv_vis_filter_fn(void *ud, const fsv_row *row, int *include)
{
    const struct fsv_vis_filter *f = ud;
    return fsv_vis_row(f->store, f->user, row, include);
}

/* Refuse c: *refusal = FDSP_E_FORBIDDEN, why names the change and the
** reason.  Returns FSV_OK (a refusal is an answer, not a failure). */
static int forbid(int *refusal, char *why, size_t whylen, const fdsp_change *c,
                  const char *reason)
{
    snprintf(why, whylen, "forbidden: %s %s field %s: %s", c->table, c->record,
             c->field, reason);
    *refusal = FDSP_E_FORBIDDEN;
    return FSV_OK;
}

/* Visibility as first seen in this batch (see fsv_vis_cache in the
** header): FSV_OK with *vis 1/0, or the store's code.  if_unknown: the
** answer for a customer the server does not know (-1: ask anyway). */
static int vis_cached(fsv_store *s, const fsv_user *u, struct fsv_vis_cache *vc,
                      const char *customer, int if_unknown, int *vis)
{
    if (vc) {
        for (size_t i = 0; i < vc->n; i++) {
            if (strcmp(vc->e[i].customer, customer) == 0) {
                *vis = vc->e[i].vis;
                return FSV_OK;
            }
        }
    }
    int rc;
    *vis = 0;
    if (if_unknown >= 0) {
        char *cust = NULL, *creator = NULL;
        rc = fsv_store_record_info(s, "customer", customer, &cust, &creator);
        free(cust);
        free(creator);
        if (rc == FSV_NOTFOUND) {
            *vis = if_unknown;
            rc = FSV_OK;
        } else if (rc == FSV_OK) {
            rc = fsv_vis_customer(s, u, customer, vis);
        }
    } else {
        rc = fsv_vis_customer(s, u, customer, vis);
    }
    if (rc != FSV_OK || !vc)
        return rc;
    if (vc->n == vc->cap) {
        size_t cap = vc->cap ? vc->cap * 2 : 16;
        void *p = realloc(vc->e, cap * sizeof *vc->e);
        if (!p)
            return FSV_OK;      /* uncached is still right */
        vc->e = p;
        vc->cap = cap;
    }
    snprintf(vc->e[vc->n].customer, sizeof vc->e[vc->n].customer, "%s", customer);
    vc->e[vc->n].vis = *vis;
    vc->n++;
    return FSV_OK;
}

void fsv_vis_cache_clear(struct fsv_vis_cache *vc)
{
    if (!vc)
        return;
    free(vc->e);
    vc->e = NULL;
    vc->n = vc->cap = 0;
}

/* May u manage who sees `customer` (share/unshare it)?  Its owner, a
** manager of the owner's team or of a team above it, a head-office
** manager and an admin. */
int fsv_vis_may_share(fsv_store *s, const fsv_user *u, const char *customer,
                      int *may)
{
    *may = 0;
    if (fsv_vis_sees_all(u)) {
        *may = 1;
        return FSV_OK;
    }
    char *owner = NULL;
    int rc = customer_owner(s, customer, &owner);
    if (rc != FSV_OK)
        return rc;
    if (owner && strcmp(owner, u->name) == 0) {
        *may = 1;
    } else if (owner && strcmp(u->role, "manager") == 0 && u->team[0]) {
        fsv_user o;
        rc = fsv_store_user_get(s, owner, &o);
        if (rc == FSV_OK)   /* the owner's team, or a team below it */
            rc = fsv_vis_team_within(s, o.team, u->team, may);
        else if (rc == FSV_NOTFOUND)
            rc = FSV_OK;
    }
    free(owner);
    return rc;
}

/* A share record is "CUSTOMER:USER"; its customer and user fields must say
** the same, and only who may share the customer may write it. */
static int check_share(fsv_store *s, const fsv_user *u, const fdsp_change *c,
                       int *refusal, char *why, size_t whylen)
{
    const char *colon = strchr(c->record, ':');
    if (!colon || colon == c->record || !colon[1])
        return forbid(refusal, why, whylen, c,
                      "a share record is named CUSTOMER:USER");
    char customer[FDSP_MAX_ID + 1];
    size_t clen = (size_t)(colon - c->record);
    if (clen > FDSP_MAX_ID)
        clen = FDSP_MAX_ID;
    memcpy(customer, c->record, clen);
    customer[clen] = '\0';
    if (strcmp(c->field, "customer") == 0 &&
        (!c->value || strcmp(c->value, customer) != 0))
        return forbid(refusal, why, whylen, c,
                      "the customer must match the share's name");
    if (strcmp(c->field, "user") == 0 &&
        (!c->value || strcmp(c->value, colon + 1) != 0))
        return forbid(refusal, why, whylen, c,
                      "the user must match the share's name");
    int ok = 0;
    int rc = fsv_vis_may_share(s, u, customer, &ok);
    if (rc != FSV_OK || ok)
        return rc;
    return forbid(refusal, why, whylen, c, "only the customer's owner, a"
                  " manager of the owner's team or an admin may share or"
                  " unshare it");
}

/* Owner writes: managers and admins assign (to anyone, on customers they
** see); a rep may only name themselves on a customer that is theirs or new. */
static int check_owner(fsv_store *s, const fsv_user *u, const fdsp_change *c,
                       int known, int *refusal, char *why, size_t whylen)
{
    if (strcmp(u->role, "rep") != 0)
        return FSV_OK;
    int self = !c->value || !c->value[0] || strcmp(c->value, u->name) == 0;
    if (!known)
        return self ? FSV_OK
                    : forbid(refusal, why, whylen, c, "only a manager may"
                             " assign a customer to another user");
    char *owner = NULL;
    int rc = customer_owner(s, c->record, &owner);
    if (rc != FSV_OK)
        return rc;
    int mine = owner && strcmp(owner, u->name) == 0;
    int pooled = owner && !owner[0];
    free(owner);
    if (mine && self && c->value && c->value[0])
        return FSV_OK;  /* re-stating the current owner changes nothing */
    if (mine && c->value && !c->value[0])
        return FSV_OK;  /* a release to the pool (sync_ops.c notes it) */
    if (pooled && self)
        return FSV_OK;  /* a claim: the pool's rules are sync_ops.c's */
    return forbid(refusal, why, whylen, c,
                  "only a manager may reassign a customer");
}

/* A customer's new owner must be a user who can sign in: the server knows
** every user, a device does not, so a mistyped or disabled name would be
** accepted and the customer would vanish from everyone but head office.
** Re-stating the current owner (a re-sent change, an owner disabled
** since) and the writer naming themselves change nothing and pass. */
static int check_owner_exists(fsv_store *s, const fsv_user *u,
                              const fdsp_change *c, int *refusal, char *why,
                              size_t whylen)
{
    if (!c->value || !c->value[0] || strcmp(c->value, u->name) == 0)
        return FSV_OK;  /* back to the pool, or the writer themselves */
    fsv_user o;
    int rc = fsv_store_user_get(s, c->value, &o);
    if (rc == FSV_OK && !o.disabled)
        return FSV_OK;
    if (rc != FSV_OK && rc != FSV_NOTFOUND)
        return rc;
    char *owner = NULL;
    rc = customer_owner(s, c->record, &owner);
    if (rc != FSV_OK)
        return rc;
    int same = owner && strcmp(owner, c->value) == 0;
    free(owner);
    if (same)
        return FSV_OK;
    snprintf(why, whylen, "unknown_user: %s %s field %s: no user named '%s'"
             " (unknown or disabled); the customer keeps its owner",
             c->table, c->record, c->field, c->value);
    *refusal = FDSP_E_NO_USER;
    return FSV_OK;
}

int fsv_vis_check_write(fsv_store *s, const fsv_user *u, const fdsp_change *c,
                        int *refusal, char *why, size_t whylen)
{
    return fsv_vis_check_write_cached(s, u, c, NULL, refusal, why, whylen);
}

int fsv_vis_check_write_cached(fsv_store *s, const fsv_user *u,
                               const fdsp_change *c, struct fsv_vis_cache *vc,
                               int *refusal, char *why, size_t whylen)
{
    int all = fsv_vis_sees_all(u);
    int is_rep = strcmp(u->role, "rep") == 0;
    *refusal = 0;

    if (strcmp(c->table, FSV_POOL_RULES_TABLE) == 0)
        return forbid(refusal, why, whylen, c, "the pool's rules are set on"
                      " the server (fieldsync-server pool set)");
    if (is_definition(c->table))
        return is_rep ? forbid(refusal, why, whylen, c, "only managers and"
                               " admins change definitions") : FSV_OK;
    if (strcmp(c->table, "share") == 0) {
        int rc = check_share(s, u, c, refusal, why, whylen);
        if (rc != FSV_OK || *refusal)
            return rc;
    }
    int assign = strcmp(c->table, "customer") == 0 &&
                 strcmp(c->field, "owner") == 0;
    /* "pool" only ever says "1" (a release, with owner ""): what takes a
    ** customer out of the pool is its new owner, so a device cannot turn a
    ** pool customer into its creator's by clearing the flag. */
    if (!all && strcmp(c->table, "customer") == 0 &&
        strcmp(c->field, "pool") == 0 && !(c->value && strcmp(c->value, "1") == 0))
        return forbid(refusal, why, whylen, c, "a customer leaves the pool"
                      " by a claim (its owner), not by its pool flag");
    if (all)
        return assign ? check_owner_exists(s, u, c, refusal, why, whylen)
                      : FSV_OK;

    char *customer = NULL, *creator = NULL;
    int rc = fsv_store_record_info(s, c->table, c->record, &customer, &creator);
    if (rc != FSV_OK && rc != FSV_NOTFOUND)
        return rc;
    int known = rc == FSV_OK;
    int vis = 0;
    rc = FSV_OK;

    if (strcmp(c->table, "customer") == 0) {
        /* A new customer is the writer's own; a known one must be visible. */
        rc = vis_cached(s, u, vc, c->record, 1, &vis);
        char by[FSV_NAME_MAX + 1];
        if (rc == FSV_OK && !vis &&
            fsv_vis_pool_lost(s, u, c->record, by, sizeof by)) {
            /* An offline claim (or edit) of a pool customer someone else
            ** claimed first: say who, and the customer's name, since the
            ** device is about to lose it (revoke). */
            char *name = NULL;
            if (fsv_store_field_value(s, "customer", c->record, "name",
                                      &name) != FSV_OK)
                name = NULL;
            snprintf(why, whylen, "claimed_first: %s %s field %s: '%s' was"
                     " claimed first by %s; it has left your list", c->table,
                     c->record, c->field, name ? name : c->record, by);
            free(name);
            *refusal = FDSP_E_FORBIDDEN;
        } else if (rc == FSV_OK && !vis)
            rc = forbid(refusal, why, whylen, c, "customer not visible to you");
        else if (rc == FSV_OK && assign)
            rc = check_owner(s, u, c, known, refusal, why, whylen);
        if (rc == FSV_OK && !*refusal && assign)
            rc = check_owner_exists(s, u, c, refusal, why, whylen);
    } else {
        /* A child: its (current) customer must be visible, and so must the
        ** customer it is being attached to. */
        /* A rep's own record on a pool customer that someone else
        ** claimed first (an offline claim that lost, DESIGN.md "Customer
        ** pool"): the follow-up stays with the customer and reaches its
        ** new owner; the writer no longer sees it. */
        int own = !known || (creator && strcmp(creator, u->name) == 0);
        if (known && customer) {
            rc = vis_cached(s, u, vc, customer, -1, &vis);
            if (rc == FSV_OK && !vis && own &&
                fsv_vis_pool_lost(s, u, customer, NULL, 0))
                vis = 1;
            if (rc == FSV_OK && !vis)
                rc = forbid(refusal, why, whylen, c, "its customer is not"
                            " visible to you");
        } else if (known && strcmp(creator, u->name) != 0) {
            rc = forbid(refusal, why, whylen, c,
                        "record belongs to another user");
        }
        if (rc == FSV_OK && !*refusal && strcmp(c->field, "customer") == 0 &&
            c->value) {
            rc = vis_cached(s, u, vc, c->value, -1, &vis);
            if (rc == FSV_OK && !vis && own &&
                fsv_vis_pool_lost(s, u, c->value, NULL, 0))
                vis = 1;
            if (rc == FSV_OK && !vis)
                rc = forbid(refusal, why, whylen, c, "target customer not"
                            " visible to you");
        }
    }
    free(customer);
    free(creator);
    return rc;
}

/* ---- Fan-out sets and the pull's customer memo ------------------------------ */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_change_rec(const void *a, const void *b)
{
    const fdsp_change *x = *(const fdsp_change *const *)a;
    const fdsp_change *y = *(const fdsp_change *const *)b;
    int d = strcmp(x->table, y->table);
    return d ? d : strcmp(x->record, y->record);
}

struct fsv_vis_set {
    fsv_store *store;
    int any;                /* a definition: everyone sees it */
    char **creators;        /* orphan children: their creators see them */
    size_t n_creators;
    cust_info *cust;        /* distinct customers, by id */
    size_t n_cust;
    /* What decides change i of the batch it was built from (the live
    ** batches' per-change question): SLOT_NONE (not appended, or a record
    ** the index cannot answer for), SLOT_ANY (a definition), a customer
    ** index k >= 0, or creator k as SLOT_CREATOR(k). */
    int *slot;
    size_t n_slot;
};

enum { SLOT_NONE = -1, SLOT_ANY = -2 };
#define SLOT_CREATOR(k) (-3 - (int)(k))

void fsv_vis_set_free(fsv_vis_set *vs)
{
    if (!vs)
        return;
    for (size_t i = 0; i < vs->n_creators; i++)
        free(vs->creators[i]);
    for (size_t i = 0; i < vs->n_cust; i++) {
        cust_info *ci = &vs->cust[i];
        free((char *)ci->id);
        free(ci->owner);
        for (size_t j = 0; j < ci->n_shares; j++)
            free(ci->shares[j]);
        free(ci->shares);
    }
    free(vs->creators);
    free(vs->cust);
    free(vs->slot);
    free(vs);
}

static int find_str(char *const *v, size_t n, const char *key)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int d = strcmp(v[mid], key);
        if (d == 0)
            return (int)mid;
        if (d < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static int find_cust(const cust_info *v, size_t n, const char *key)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int d = strcmp(v[mid].id, key);
        if (d == 0)
            return (int)mid;
        if (d < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* Sort and drop repeats of n strings (freeing the repeats); the count. */
static size_t uniq_strs(char **v, size_t n)
{
    if (n < 2)
        return n;
    qsort(v, n, sizeof *v, cmp_str);
    size_t k = 1;
    for (size_t i = 1; i < n; i++) {
        if (strcmp(v[i], v[k - 1]) == 0)
            free(v[i]);
        else
            v[k++] = v[i];
    }
    return k;
}

int fsv_vis_set_build(fsv_store *s, const fdsp_change *c, size_t n,
                      fsv_vis_set **out)
{
    *out = NULL;
    fsv_vis_set *vs = calloc(1, sizeof *vs);
    const fdsp_change **recs = n ? calloc(n, sizeof *recs) : NULL;
    char **custs = n ? calloc(n, sizeof *custs) : NULL;
    if (vs)
        vs->creators = n ? calloc(n, sizeof *vs->creators) : NULL;
    if (!vs || (n && (!recs || !custs || !vs->creators))) {
        free(recs);
        free(custs);
        fsv_vis_set_free(vs);
        return FSV_NOMEM;
    }
    vs->store = s;
    vs->n_slot = n;
    /* Per record (in recs order): 0 none, 1 definition, 2 customer,
    ** 3 creator, with a copy of its key; resolved to slots at the end. */
    int *rkind = n ? calloc(n, sizeof *rkind) : NULL;
    char **rkey = n ? calloc(n, sizeof *rkey) : NULL;
    if (n && (!(vs->slot = malloc(n * sizeof *vs->slot)) || !rkind || !rkey)) {
        free(rkind);
        free(rkey);
        free(recs);
        free(custs);
        fsv_vis_set_free(vs);
        return FSV_NOMEM;
    }
    for (size_t i = 0; i < n; i++)
        vs->slot[i] = SLOT_NONE;
    size_t n_recs = 0, n_custs = 0;
    for (size_t i = 0; i < n; i++)
        if (c[i].seq != 0)      /* appended (not re-sent or refused) */
            recs[n_recs++] = &c[i];
    qsort(recs, n_recs, sizeof *recs, cmp_change_rec);
    int rc = FSV_OK;
    for (size_t i = 0; rc == FSV_OK && i < n_recs; i++) {
        if (i && cmp_change_rec(&recs[i - 1], &recs[i]) == 0)
            continue;   /* one decision per record */
        const fdsp_change *r = recs[i];
        char *customer = NULL, *creator = NULL;
        /* As sees_any: a record the index cannot answer for counts for
        ** nobody (the row would be skipped). */
        if (fsv_store_record_info(s, r->table, r->record, &customer,
                                  &creator) != FSV_OK)
            continue;
        char *key = NULL;
        if (is_definition(r->table)) {
            vs->any = 1;
            rkind[i] = 1;
        } else if (strcmp(r->table, "customer") == 0) {
            key = strdup(r->record);
            if (key)
                custs[n_custs++] = key;
            rkind[i] = 2;
        } else if (customer) {
            custs[n_custs++] = key = customer;
            customer = NULL;
            rkind[i] = 2;
        } else {
            vs->creators[vs->n_creators++] = key = creator;
            creator = NULL;
            rkind[i] = 3;
        }
        if (key && !(rkey[i] = strdup(key)))
            rc = FSV_NOMEM;
        if (!key && rkind[i] != 1)
            rc = FSV_NOMEM;
        free(customer);
        free(creator);
    }
    n_custs = uniq_strs(custs, n_custs);
    vs->n_creators = uniq_strs(vs->creators, vs->n_creators);
    if (rc == FSV_OK && n_custs && !(vs->cust = calloc(n_custs, sizeof *vs->cust)))
        rc = FSV_NOMEM;
    for (size_t i = 0; i < n_custs; i++) {
        if (rc == FSV_OK) {
            vs->cust[vs->n_cust].id = custs[i];
            vs->cust[vs->n_cust++].share_list = 1;
        }
        else
            free(custs[i]);
    }
    free(custs);
    /* Each appended change's slot: its record's (the first of a run of
    ** equal records decided for the run). */
    int prev = SLOT_NONE;
    for (size_t i = 0; rc == FSV_OK && i < n_recs; i++) {
        int slot = SLOT_NONE;
        if (i && cmp_change_rec(&recs[i - 1], &recs[i]) == 0) {
            slot = prev;
        } else if (rkind[i] == 1) {
            slot = SLOT_ANY;
        } else if (rkind[i] == 2) {
            int k = find_cust(vs->cust, vs->n_cust, rkey[i]);
            slot = k >= 0 ? k : SLOT_NONE;
        } else if (rkind[i] == 3) {
            int k = find_str(vs->creators, vs->n_creators, rkey[i]);
            slot = k >= 0 ? SLOT_CREATOR(k) : SLOT_NONE;
        }
        vs->slot[recs[i] - c] = prev = slot;
    }
    for (size_t i = 0; i < n_recs; i++)
        free(rkey[i]);
    free(rkey);
    free(rkind);
    free(recs);
    if (rc != FSV_OK) {
        fsv_vis_set_free(vs);
        return rc;
    }
    *out = vs;
    return FSV_OK;
}

int fsv_vis_set_sees(fsv_vis_set *vs, const fsv_user *u, size_t i)
{
    if (i >= vs->n_slot)
        return 0;
    if (fsv_vis_sees_all(u))
        return 1;       /* as its pull, which has no filter */
    if (vs->slot[i] == SLOT_NONE)
        return 0;
    if (vs->slot[i] == SLOT_ANY)
        return 1;
    int k = vs->slot[i];
    if (k < 0)
        return strcmp(vs->creators[-3 - k], u->name) == 0;
    int vis = 0;
    return cust_info_vis(vs->store, &vs->cust[k], u, &vis) == FSV_OK && vis;
}

int fsv_vis_set_sees_any(fsv_vis_set *vs, const fsv_user *u)
{
    if (fsv_vis_sees_all(u) || vs->any)
        return 1;
    for (size_t i = 0; i < vs->n_creators; i++)
        if (strcmp(vs->creators[i], u->name) == 0)
            return 1;
    for (size_t i = 0; i < vs->n_cust; i++) {
        int vis = 0;
        if (cust_info_vis(vs->store, &vs->cust[i], u, &vis) == FSV_OK && vis)
            return 1;
    }
    return 0;
}

/* ---- Does u see any of these changes? ------------------------------------------ */
/* One question, one definition: u sees a change when fsv_vis_row says so
** for its record as the record index has it.  fsv_vis_sees_any asks it
** change by change, fsv_vis_set_sees_any the same from a set built once,
** fsv_vis_sees_history of the history rows in a range. */

int fsv_vis_sees_any(fsv_store *s, const fsv_user *u, const fdsp_change *c,
                     size_t n)
{
    if (fsv_vis_sees_all(u))
        return 1;
    for (size_t i = 0; i < n; i++) {
        if (c[i].seq == 0)
            continue; /* not appended (re-sent or refused) */
        char *customer = NULL, *creator = NULL;
        if (fsv_store_record_info(s, c[i].table, c[i].record, &customer,
                                  &creator) != FSV_OK)
            continue;
        fsv_row row = {c[i].table, c[i].record, c[i].field, customer, creator};
        int vis = 0;
        int rc = fsv_vis_row(s, u, &row, &vis);
        free(customer);
        free(creator);
        if (rc == FSV_OK && vis)
            return 1;
    }
    return 0;
}

int fsv_vis_sees_history(fsv_store *s, const fsv_user *u, int64_t after,
                         int64_t head, int *sees)
{
    *sees = 0;
    if (fsv_vis_sees_all(u)) {
        *sees = after < head;
        return FSV_OK;
    }
    struct fsv_vis_filter f = {s, u};
    while (after < head) {
        fdsp_change *ch = NULL;
        size_t n = 0;
        int64_t last = after;
        int more = 0;
        int rc = fsv_store_changes_after(s, after, 1, NULL, fsv_vis_filter_fn,
                                         &f, &ch, &n, &last, &more);
        if (rc != FSV_OK)
            return rc;
        for (size_t i = 0; i < n; i++)
            fdsp_change_clear(&ch[i]);
        free(ch);
        if (n > 0 && last <= head) {
            *sees = 1;
            return FSV_OK;
        }
        if (!more || last <= after)
            break;
        after = last;
    }
    return FSV_OK;
}

static unsigned str_hash(const char *v)
{
    unsigned h = 2166136261u;   /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h;
}

/* The memoised verdict slot for customer (its key NULL if empty); NULL if
** the table cannot grow. */
static struct fsv_vis_memo_slot *memo_slot(struct fsv_vis_memo_filter *f,
                                           const char *customer)
{
    if (2 * (f->n + 1) > f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 256;
        struct fsv_vis_memo_slot *e = calloc(cap, sizeof *e);
        if (!e)
            return NULL;
        for (size_t i = 0; i < f->cap; i++) {
            if (!f->e[i].customer)
                continue;
            size_t j = str_hash(f->e[i].customer) & (cap - 1);
            while (e[j].customer)
                j = (j + 1) & (cap - 1);
            e[j] = f->e[i];
        }
        free(f->e);
        f->e = e;
        f->cap = cap;
    }
    size_t j = str_hash(customer) & (f->cap - 1);
    while (f->e[j].customer && strcmp(f->e[j].customer, customer) != 0)
        j = (j + 1) & (f->cap - 1);
    return &f->e[j];
}

static int memo_customer(struct fsv_vis_memo_filter *f, const char *customer,
                         int *vis)
{
    struct fsv_vis_memo_slot *e = memo_slot(f, customer);
    if (e && e->customer) {
        *vis = e->vis;
        return FSV_OK;
    }
    int rc = fsv_vis_customer(f->store, f->user, customer, vis);
    if (rc == FSV_OK && e && (e->customer = strdup(customer)) != NULL) {
        e->vis = *vis;
        f->n++;
    }
    return rc;
}

int fsv_vis_memo_filter_fn(void *ud, const fsv_row *row, int *include)
{
    struct fsv_vis_memo_filter *f = ud;
    *include = 0;
    if (fsv_vis_sees_all(f->user) || is_definition(row->tbl)) {
        *include = 1;
        return FSV_OK;
    }
    if (strcmp(row->tbl, "customer") == 0)
        return memo_customer(f, row->rid, include);
    if (!row->customer) {
        *include = row->creator && strcmp(row->creator, f->user->name) == 0;
        return FSV_OK;
    }
    return memo_customer(f, row->customer, include);
}

void fsv_vis_memo_filter_clear(struct fsv_vis_memo_filter *f)
{
    for (size_t i = 0; i < f->cap; i++)
        free(f->e[i].customer);
    free(f->e);
    f->e = NULL;
    f->n = f->cap = 0;
}
