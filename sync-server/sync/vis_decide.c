/*
** vis_decide.c — the visibility and write rules as pure functions over
** loaded facts (vis_decide.h; the rules are stated in visibility.h).
*/
#include "vis_decide.h"
#include "visibility.h"     /* FSV_POOL_RULES_TABLE */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fsv_vis_sees_all(const fsv_user *u)
{
    return strcmp(u->role, "admin") == 0 ||
           (strcmp(u->role, "manager") == 0 && strcmp(u->team, "*") == 0);
}

int fsv_visd_is_definition(const char *tbl)
{
    return strcmp(tbl, "fielddef") == 0 || strcmp(tbl, "stagedef") == 0 ||
           strcmp(tbl, FSV_POOL_RULES_TABLE) == 0;
}

int fsv_visd_within(const fsv_teams *t, const char *team, const char *of)
{
    if (!team || !team[0] || !of || !of[0])
        return 0;
    if (strcmp(team, of) == 0 || strcmp(of, "*") == 0)
        return 1;
    return t ? fsv_teams_within(t, team, of) : 0;
}

/* Pools follow the team tree: a rep sees the pool of their team and of
** every team above it (the pool of a team is visible to the teams below),
** a manager also the pools of the teams below their own. */
int fsv_visd_pool_covers(const fsv_teams *t, const char *pool_team,
                         const fsv_user *u)
{
    if (!pool_team || !pool_team[0] || !u->team[0])
        return 0;
    if (fsv_visd_within(t, u->team, pool_team))
        return 1;
    return strcmp(u->role, "manager") == 0 &&
           fsv_visd_within(t, pool_team, u->team);
}

/* The effective owner of c (fsv_visd_owner). */
static const char *owner_of(const fsv_vis_cust *c)
{
    if (!c || !c->known)
        return NULL;
    if (c->owner && c->owner[0])
        return c->owner;
    /* Owner empty: a pool customer (pool "1") has nobody; otherwise the
    ** creator, as before the pool. */
    return c->pooled ? "" : c->creator;
}

const char *fsv_visd_owner(const fsv_vis_facts *f, const char *id)
{
    return owner_of(fsv_vis_facts_cust(f, id));
}

/* Is the user named owner in u's team or a team below it (u a manager)? */
static int manages(const fsv_vis_facts *f, const fsv_user *u,
                   const char *owner)
{
    if (strcmp(u->role, "manager") != 0 || !u->team[0])
        return 0;
    const fsv_vis_who *o = fsv_vis_facts_user(f, owner);
    return o && o->known && fsv_visd_within(f->teams, o->team, u->team);
}

static int shared_with(const fsv_vis_cust *c, const char *user)
{
    size_t lo = 0, hi = c->n_shares;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int d = strcmp(c->shares[mid], user);
        if (d == 0)
            return 1;
        if (d < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* Does u (who does not see everything) see customer c? */
static int cust_sees(const fsv_vis_facts *f, const fsv_user *u,
                     const fsv_vis_cust *c)
{
    const char *owner = owner_of(c);
    if (owner && !owner[0]) {
        /* A pool customer: every user of its pool's team. */
        if (c->has_pool && fsv_visd_pool_covers(f->teams, c->pool.team, u))
            return 1;
    } else if (owner && (strcmp(owner, u->name) == 0 || manages(f, u, owner))) {
        return 1;   /* theirs, or their team's (teams nest) */
    }
    return shared_with(c, u->name);
}

int fsv_visd_customer(const fsv_vis_facts *f, const fsv_user *u,
                      const char *id)
{
    if (fsv_vis_sees_all(u))
        return 1;
    const fsv_vis_cust *c = fsv_vis_facts_cust(f, id);
    return c ? cust_sees(f, u, c) : 0;
}

int fsv_visd_row(const fsv_vis_facts *f, const fsv_user *u, const char *tbl,
                 const char *rid, const char *customer, const char *creator)
{
    if (fsv_vis_sees_all(u) || fsv_visd_is_definition(tbl))
        return 1;
    if (strcmp(tbl, "customer") == 0)
        return fsv_visd_customer(f, u, rid);
    if (!customer)  /* a child whose customer is unknown: its creator's */
        return creator && strcmp(creator, u->name) == 0;
    return fsv_visd_customer(f, u, customer);
}

/* Its owner, a manager of the owner's team or of a team above it, a
** head-office manager and an admin. */
int fsv_visd_may_share(const fsv_vis_facts *f, const fsv_user *u,
                       const char *id)
{
    if (fsv_vis_sees_all(u))
        return 1;
    const char *owner = fsv_visd_owner(f, id);
    return owner && (strcmp(owner, u->name) == 0 || manages(f, u, owner));
}

int fsv_visd_pool_lost(const fsv_vis_facts *f, const fsv_user *u,
                       const char *id, char *by, size_t bylen)
{
    if (by && bylen)
        by[0] = '\0';
    const fsv_vis_cust *c = fsv_vis_facts_cust(f, id);
    if (!c || !c->has_pool || c->pool.in_pool || !c->pool.claimed_by[0] ||
        strcmp(c->pool.claimed_by, u->name) == 0 ||
        !fsv_visd_pool_covers(f->teams, c->pool.team, u))
        return 0;
    if (by && bylen)
        snprintf(by, bylen, "%s", c->pool.claimed_by);
    return 1;
}

/* ---- May u write this change? ------------------------------------------------- */

static int forbid(char *why, size_t whylen, const fdsp_change *c,
                  const char *reason)
{
    snprintf(why, whylen, "forbidden: %s %s field %s: %s", c->table, c->record,
             c->field, reason);
    return FDSP_E_FORBIDDEN;
}

/* u's sight of customer id as first asked in this batch.  if_unknown: the
** answer for a customer the server does not know (-1: ask anyway). */
static int first_sight(fsv_vis_facts *f, const fsv_user *u, const char *id,
                       int if_unknown)
{
    fsv_vis_cust *c = fsv_vis_facts_cust(f, id);
    if (c && c->first_vis >= 0)
        return c->first_vis;
    int vis = if_unknown >= 0 && (!c || !c->known)
                  ? if_unknown : fsv_visd_customer(f, u, id);
    if (c)
        c->first_vis = vis;
    return vis;
}

/* A share record is "CUSTOMER:USER"; its customer and user fields must say
** the same, and only who may share the customer may write it. */
static int check_share(const fsv_vis_facts *f, const fsv_user *u,
                       const fdsp_change *c, char *why, size_t whylen)
{
    const char *colon = strchr(c->record, ':');
    if (!colon || colon == c->record || !colon[1])
        return forbid(why, whylen, c, "a share record is named CUSTOMER:USER");
    char customer[FDSP_MAX_ID + 1];
    size_t clen = (size_t)(colon - c->record);
    if (clen > FDSP_MAX_ID)
        clen = FDSP_MAX_ID;
    memcpy(customer, c->record, clen);
    customer[clen] = '\0';
    if (strcmp(c->field, "customer") == 0 &&
        (!c->value || strcmp(c->value, customer) != 0))
        return forbid(why, whylen, c,
                      "the customer must match the share's name");
    if (strcmp(c->field, "user") == 0 &&
        (!c->value || strcmp(c->value, colon + 1) != 0))
        return forbid(why, whylen, c, "the user must match the share's name");
    if (fsv_visd_may_share(f, u, customer))
        return 0;
    return forbid(why, whylen, c, "only the customer's owner, a manager of"
                  " the owner's team or an admin may share or unshare it");
}

/* Owner writes: managers and admins assign (to anyone, on customers they
** see); a rep may only name themselves on a customer that is theirs or new. */
static int check_owner(const fsv_vis_facts *f, const fsv_user *u,
                       const fdsp_change *c, int known, char *why,
                       size_t whylen)
{
    if (strcmp(u->role, "rep") != 0)
        return 0;
    int self = !c->value || !c->value[0] || strcmp(c->value, u->name) == 0;
    if (!known)
        return self ? 0 : forbid(why, whylen, c, "only a manager may assign a"
                                 " customer to another user");
    const char *owner = fsv_visd_owner(f, c->record);
    int mine = owner && strcmp(owner, u->name) == 0;
    int pooled = owner && !owner[0];
    if (mine && self && c->value && c->value[0])
        return 0;   /* re-stating the current owner changes nothing */
    if (mine && c->value && !c->value[0])
        return 0;   /* a release to the pool (sync_ops.c notes it) */
    if (pooled && self)
        return 0;   /* a claim: the pool's rules are sync/pool.c's */
    return forbid(why, whylen, c, "only a manager may reassign a customer");
}

/* A customer's new owner must be a user who can sign in: the server knows
** every user, a device does not, so a mistyped or disabled name would be
** accepted and the customer would vanish from everyone but head office.
** Re-stating the current owner (a re-sent change, an owner disabled
** since) and the writer naming themselves change nothing and pass. */
static int check_owner_exists(const fsv_vis_facts *f, const fsv_user *u,
                              const fdsp_change *c, char *why, size_t whylen)
{
    if (!c->value || !c->value[0] || strcmp(c->value, u->name) == 0)
        return 0;   /* back to the pool, or the writer themselves */
    const fsv_vis_who *o = fsv_vis_facts_user(f, c->value);
    if (o && o->known && !o->disabled)
        return 0;
    const char *owner = fsv_visd_owner(f, c->record);
    if (owner && strcmp(owner, c->value) == 0)
        return 0;
    snprintf(why, whylen, "unknown_user: %s %s field %s: no user named '%s'"
             " (unknown or disabled); the customer keeps its owner",
             c->table, c->record, c->field, c->value);
    return FDSP_E_NO_USER;
}

int fsv_visd_check_write(fsv_vis_facts *f, const fsv_user *u,
                         const fdsp_change *c, char *why, size_t whylen)
{
    int all = fsv_vis_sees_all(u);
    int is_rep = strcmp(u->role, "rep") == 0;
    int code;

    if (strcmp(c->table, FSV_POOL_RULES_TABLE) == 0)
        return forbid(why, whylen, c, "the pool's rules are set on the server"
                      " (fieldsync-server pool set)");
    if (fsv_visd_is_definition(c->table))
        return is_rep ? forbid(why, whylen, c, "only managers and admins"
                               " change definitions") : 0;
    if (strcmp(c->table, "share") == 0 &&
        (code = check_share(f, u, c, why, whylen)) != 0)
        return code;
    int assign = strcmp(c->table, "customer") == 0 &&
                 strcmp(c->field, "owner") == 0;
    /* "pool" only ever says "1" (a release, with owner ""): what takes a
    ** customer out of the pool is its new owner, so a device cannot turn a
    ** pool customer into its creator's by clearing the flag. */
    if (!all && strcmp(c->table, "customer") == 0 &&
        strcmp(c->field, "pool") == 0 &&
        !(c->value && strcmp(c->value, "1") == 0))
        return forbid(why, whylen, c, "a customer leaves the pool by a claim"
                      " (its owner), not by its pool flag");
    if (all)
        return assign ? check_owner_exists(f, u, c, why, whylen) : 0;

    const fsv_vis_rec *r = fsv_vis_facts_rec(f, c->table, c->record);
    int known = r && r->known;
    const char *customer = known ? r->customer : NULL;
    const char *creator = known ? r->creator : NULL;

    if (strcmp(c->table, "customer") == 0) {
        /* A new customer is the writer's own; a known one must be visible. */
        char by[FSV_NAME_MAX + 1];
        if (!first_sight(f, u, c->record, 1)) {
            if (!fsv_visd_pool_lost(f, u, c->record, by, sizeof by))
                return forbid(why, whylen, c, "customer not visible to you");
            /* An offline claim (or edit) of a pool customer someone else
            ** claimed first: say who, and the customer's name, since the
            ** device is about to lose it (revoke). */
            const fsv_vis_cust *k = fsv_vis_facts_cust(f, c->record);
            const char *name = k && k->name ? k->name : c->record;
            snprintf(why, whylen, "claimed_first: %s %s field %s: '%s' was"
                     " claimed first by %s; it has left your list", c->table,
                     c->record, c->field, name, by);
            return FDSP_E_FORBIDDEN;
        }
        if (assign && (code = check_owner(f, u, c, known, why, whylen)) != 0)
            return code;
        return assign ? check_owner_exists(f, u, c, why, whylen) : 0;
    }
    /* A child: its (current) customer must be visible, and so must the
    ** customer it is being attached to.  A rep's own record on a pool
    ** customer that someone else claimed first (an offline claim that
    ** lost, DESIGN.md "Customer pool"): the follow-up stays with the
    ** customer and reaches its new owner; the writer no longer sees it. */
    int own = !known || (creator && strcmp(creator, u->name) == 0);
    if (known && customer) {
        if (!first_sight(f, u, customer, -1) &&
            !(own && fsv_visd_pool_lost(f, u, customer, NULL, 0)))
            return forbid(why, whylen, c, "its customer is not visible to"
                          " you");
    } else if (known && (!creator || strcmp(creator, u->name) != 0)) {
        return forbid(why, whylen, c, "record belongs to another user");
    }
    if (strcmp(c->field, "customer") == 0 && c->value &&
        !first_sight(f, u, c->value, -1) &&
        !(own && fsv_visd_pool_lost(f, u, c->value, NULL, 0)))
        return forbid(why, whylen, c, "target customer not visible to you");
    return 0;
}

int fsv_visd_field_limit(const fsv_vis_facts *f, const fdsp_change *c,
                         char *why, size_t whylen)
{
    const fsv_vis_field *fl = fsv_vis_facts_change_field(f, c);
    if (!fl || fl->has || f->recs[fl->rec].nfields < FDSP_MAX_FIELDS)
        return 0;
    snprintf(why, whylen, "%s %s field %s: the record already has %d fields"
             " (limit)", c->table, c->record, c->field, FDSP_MAX_FIELDS);
    return FDSP_E_LIMIT;
}

/* ---- Fan-out sets --------------------------------------------------------------- */

struct fsv_vis_set {
    fsv_vis_facts f;
    int any;                /* a definition: everyone sees it */
    const char **creators;  /* orphan children: their creators see them */
    size_t n_creators;
    const char **custs;     /* distinct customers' ids, sorted */
    const fsv_vis_cust **cust;  /* their facts (NULL: not loaded) */
    size_t n_custs;
    /* What decides change i of the sealed batch: SLOT_NONE (not appended,
    ** or a record the index cannot answer for), SLOT_ANY (a definition), a
    ** customer k >= 0, or creator k as SLOT_CREATOR(k). */
    int *slot;
    size_t n_slot;
};

enum { SLOT_NONE = -1, SLOT_ANY = -2 };
#define SLOT_CREATOR(k) (-3 - (int)(k))

int fsv_vis_set_wrap(fsv_vis_facts *f, fsv_vis_set **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return FSV_NOMEM;
    (*out)->f = *f;
    memset(f, 0, sizeof *f);
    return FSV_OK;
}

fsv_vis_facts *fsv_vis_set_facts(fsv_vis_set *vs)
{
    return &vs->f;
}

void fsv_vis_set_free(fsv_vis_set *vs)
{
    if (!vs)
        return;
    fsv_vis_facts_clear(&vs->f);
    free(vs->creators);
    free(vs->custs);
    free(vs->cust);
    free(vs->slot);
    free(vs);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sort v and drop repeats; the count left. */
static size_t uniq(const char **v, size_t n)
{
    if (n < 2)
        return n;
    qsort(v, n, sizeof *v, cmp_str);
    size_t k = 1;
    for (size_t i = 1; i < n; i++)
        if (strcmp(v[i], v[k - 1]) != 0)
            v[k++] = v[i];
    return k;
}

static int find(const char *const *v, size_t n, const char *key)
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

int fsv_vis_set_seal(fsv_vis_set *vs, const fdsp_change *c, size_t n)
{
    free(vs->slot);
    free(vs->custs);
    free(vs->cust);
    free(vs->creators);
    vs->cust = NULL;
    vs->slot = NULL;
    vs->custs = vs->creators = NULL;
    vs->n_slot = vs->n_custs = vs->n_creators = 0;
    vs->any = 0;
    if (n && (!(vs->slot = malloc(n * sizeof *vs->slot)) ||
              !(vs->custs = malloc(n * sizeof *vs->custs)) ||
              !(vs->creators = malloc(n * sizeof *vs->creators))))
        return FSV_NOMEM;
    vs->n_slot = n;
    /* What decides each appended change: its record's index entry. */
    const char **key = n ? calloc(n, sizeof *key) : NULL;
    int *kind = n ? calloc(n, sizeof *kind) : NULL;
    if (n && (!key || !kind)) {
        free(key);
        free(kind);
        return FSV_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        vs->slot[i] = SLOT_NONE;
        if (c[i].seq == 0)
            continue;   /* not appended (re-sent or refused) */
        const fsv_vis_rec *r = fsv_vis_facts_rec(&vs->f, c[i].table,
                                                 c[i].record);
        if (!r || !r->known)
            continue;   /* counts for nobody, as the pull skips it */
        if (fsv_visd_is_definition(r->tbl)) {
            vs->any = 1;
            vs->slot[i] = SLOT_ANY;
        } else if (strcmp(r->tbl, "customer") == 0 || r->customer) {
            key[i] = strcmp(r->tbl, "customer") == 0 ? r->rid : r->customer;
            kind[i] = 1;
            vs->custs[vs->n_custs++] = key[i];
        } else if (r->creator) {
            key[i] = r->creator;
            kind[i] = 2;
            vs->creators[vs->n_creators++] = key[i];
        }
    }
    vs->n_custs = uniq(vs->custs, vs->n_custs);
    vs->n_creators = uniq(vs->creators, vs->n_creators);
    /* Each customer's facts looked up once, not per session and change. */
    if (vs->n_custs && !(vs->cust = malloc(vs->n_custs * sizeof *vs->cust))) {
        free(key);
        free(kind);
        return FSV_NOMEM;
    }
    for (size_t k = 0; k < vs->n_custs; k++)
        vs->cust[k] = fsv_vis_facts_cust(&vs->f, vs->custs[k]);
    for (size_t i = 0; i < n; i++) {
        int k;
        if (kind[i] == 1 && (k = find(vs->custs, vs->n_custs, key[i])) >= 0)
            vs->slot[i] = k;
        else if (kind[i] == 2 &&
                 (k = find(vs->creators, vs->n_creators, key[i])) >= 0)
            vs->slot[i] = SLOT_CREATOR(k);
    }
    free(key);
    free(kind);
    return FSV_OK;
}

int fsv_vis_set_sees(fsv_vis_set *vs, const fsv_user *u, size_t i)
{
    if (i >= vs->n_slot)
        return 0;
    if (fsv_vis_sees_all(u))
        return 1;       /* as its pull, which has no filter */
    int k = vs->slot[i];
    if (k == SLOT_NONE)
        return 0;
    if (k == SLOT_ANY)
        return 1;
    if (k < 0)
        return strcmp(vs->creators[-3 - k], u->name) == 0;
    return vs->cust[k] && cust_sees(&vs->f, u, vs->cust[k]);
}

int fsv_vis_set_sees_any(fsv_vis_set *vs, const fsv_user *u)
{
    if (fsv_vis_sees_all(u) || vs->any)
        return 1;
    for (size_t i = 0; i < vs->n_creators; i++)
        if (strcmp(vs->creators[i], u->name) == 0)
            return 1;
    for (size_t i = 0; i < vs->n_custs; i++)
        if (vs->cust[i] && cust_sees(&vs->f, u, vs->cust[i]))
            return 1;
    return 0;
}
