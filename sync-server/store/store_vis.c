/*
** store_vis.c — what deciding visibility needs, loaded at once
** (store.h, "What deciding visibility needs").  Backend-neutral: it asks
** the backend's record index, registers, users, pool rows and team map
** through the store's own calls, so every backend has it; a backend that
** can answer the whole batch in fewer queries sets its table's vis_load.
**
** The decisions themselves are pure (sync/vis_decide.c) and read only the
** fsv_vis_facts this file fills, so a pushed batch goes to the store once
** for its visibility, its field limits and its fan-out set, instead of
** once per question (owner, team, shares, pool, field count).
*/
#include "store.h"
#include "store_backend.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- Lookups (binary search over the sorted arrays) ------------------------- */

static int rec_cmp(const char *t1, const char *r1, const char *t2,
                   const char *r2)
{
    int d = strcmp(t1, t2);
    return d ? d : strcmp(r1, r2);
}

/* Index of the first element not below key (lower bound), for insertion. */
#define LOWER_BOUND(n, cmp_mid)                 \
    size_t lo = 0, hi = (n);                    \
    while (lo < hi) {                           \
        size_t mid = lo + (hi - lo) / 2;        \
        if ((cmp_mid) < 0)                      \
            lo = mid + 1;                       \
        else                                    \
            hi = mid;                           \
    }

fsv_vis_rec *fsv_vis_facts_rec(const fsv_vis_facts *f, const char *tbl,
                               const char *rid)
{
    LOWER_BOUND(f->n_recs, rec_cmp(f->recs[mid].tbl, f->recs[mid].rid, tbl,
                                   rid));
    if (lo < f->n_recs && rec_cmp(f->recs[lo].tbl, f->recs[lo].rid, tbl,
                                  rid) == 0)
        return &f->recs[lo];
    return NULL;
}

static int field_cmp(const fsv_vis_field *x, size_t rec, const char *field)
{
    if (x->rec != rec)
        return x->rec < rec ? -1 : 1;
    return strcmp(x->field, field);
}

fsv_vis_field *fsv_vis_facts_field(const fsv_vis_facts *f, const char *tbl,
                                   const char *rid, const char *field)
{
    const fsv_vis_rec *r = fsv_vis_facts_rec(f, tbl, rid);
    if (!r)
        return NULL;
    size_t rec = (size_t)(r - f->recs);
    LOWER_BOUND(f->n_fields, field_cmp(&f->fields[mid], rec, field));
    if (lo < f->n_fields && field_cmp(&f->fields[lo], rec, field) == 0)
        return &f->fields[lo];
    return NULL;
}

fsv_vis_field *fsv_vis_facts_change_field(const fsv_vis_facts *f,
                                          const fdsp_change *c)
{
    uintptr_t at = (uintptr_t)c, lo = (uintptr_t)f->batch;
    if (f->field_of && at >= lo && at < lo + f->n_batch * sizeof *c &&
        (at - lo) % sizeof *c == 0)
        return &f->fields[f->field_of[(at - lo) / sizeof *c]];
    return fsv_vis_facts_field(f, c->table, c->record, c->field);
}

fsv_vis_cust *fsv_vis_facts_cust(const fsv_vis_facts *f, const char *id)
{
    LOWER_BOUND(f->n_custs, strcmp(f->custs[mid].id, id));
    if (lo < f->n_custs && strcmp(f->custs[lo].id, id) == 0)
        return &f->custs[lo];
    return NULL;
}

const fsv_vis_who *fsv_vis_facts_user(const fsv_vis_facts *f,
                                      const char *name)
{
    LOWER_BOUND(f->n_users, strcmp(f->users[mid].name, name));
    if (lo < f->n_users && strcmp(f->users[lo].name, name) == 0)
        return &f->users[lo];
    return NULL;
}

/* ---- Freeing ----------------------------------------------------------------- */

static void cust_free(fsv_vis_cust *c)
{
    free(c->id);
    free(c->creator);
    free(c->owner);
    free(c->name);
    for (size_t i = 0; i < c->n_shares; i++)
        free(c->shares[i]);
    free(c->shares);
}

void fsv_vis_facts_clear(fsv_vis_facts *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n_recs; i++) {
        free(f->recs[i].tbl);
        free(f->recs[i].rid);
        free(f->recs[i].customer);
        free(f->recs[i].creator);
    }
    for (size_t i = 0; i < f->n_fields; i++)
        free(f->fields[i].field);
    for (size_t i = 0; i < f->n_custs; i++)
        cust_free(&f->custs[i]);
    free(f->recs);
    free(f->fields);
    free(f->custs);
    free(f->users);
    free(f->field_of);
    if (!f->teams_borrowed)
        fsv_teams_free(f->teams);
    memset(f, 0, sizeof *f);
}

/* ---- Loading ----------------------------------------------------------------- */

static int nomem(fsv_store *s)
{
    return fsv__store_setmsg(s, FSV_NOMEM, "store: visibility facts: out of"
                             " memory");
}

/* *dst = a copy of v (NULL stays NULL); 0, or -1 out of memory. */
static int dup_to(char **dst, const char *v)
{
    char *p = NULL;
    if (v && !(p = strdup(v)))
        return -1;
    free(*dst);
    *dst = p;
    return 0;
}

/* The users customer is shared with, sorted. */
static int cmp_strp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int load_shares(fsv_store *s, fsv_vis_cust *c)
{
    for (size_t i = 0; i < c->n_shares; i++)
        free(c->shares[i]);
    free(c->shares);
    c->shares = NULL;
    c->n_shares = 0;
    int rc = fsv_store_shared_users(s, c->id, &c->shares, &c->n_shares);
    if (rc == FSV_OK) {
        if (c->n_shares > 1)    /* qsort(NULL, 0) is undefined (UBSan) */
            qsort(c->shares, c->n_shares, sizeof *c->shares, cmp_strp);
        c->shares_loaded = 1;
    }
    return rc;
}

/* The effective owner as the facts hold it: NULL unknown, "" pool. */
static const char *cust_owner(const fsv_vis_cust *c)
{
    if (!c->known)
        return NULL;
    if (c->owner && c->owner[0])
        return c->owner;
    return c->pooled ? "" : c->creator;
}

/* c's owner and pool fields (c known). */
static int read_owner(fsv_store *s, fsv_vis_cust *c)
{
    char *v = NULL;
    free(c->owner);
    c->owner = NULL;
    c->pooled = 0;
    int rc = fsv_store_field_value(s, "customer", c->id, "owner", &c->owner);
    if (rc == FSV_NOTFOUND)
        rc = FSV_OK;
    if (rc == FSV_OK && !(c->owner && c->owner[0])) {
        rc = fsv_store_field_value(s, "customer", c->id, "pool", &v);
        if (rc == FSV_NOTFOUND)
            rc = FSV_OK;
        c->pooled = v && strcmp(v, "1") == 0;
        free(v);
    }
    return rc;
}

/* c's pool row, and its name when someone other than `only` claimed it
** from the pool (a refusal names it). */
static int read_pool(fsv_store *s, fsv_vis_cust *c, const fsv_user *only)
{
    free(c->name);
    c->name = NULL;
    int rc = fsv_store_pool_get(s, c->id, &c->pool);
    c->has_pool = rc == FSV_OK;
    if (rc == FSV_NOTFOUND)
        rc = FSV_OK;
    if (rc == FSV_OK && c->has_pool && c->pool.claimed_by[0] &&
        !(only && strcmp(c->pool.claimed_by, only->name) == 0)) {
        rc = fsv_store_field_value(s, "customer", c->id, "name", &c->name);
        if (rc == FSV_NOTFOUND)
            rc = FSV_OK;
    }
    return rc;
}

/* Read customer c's facts (an empty entry but for its id and first_vis).
** only: the user the facts are for (skip what cannot change that user's
** answer); owner_only: the record index and the owner and pool fields,
** nothing more. */
static int cust_fill(fsv_store *s, fsv_vis_cust *c, const fsv_user *only,
                     int owner_only)
{
    char *cust = NULL;
    int rc = fsv_store_record_info(s, "customer", c->id, &cust, &c->creator);
    free(cust);
    c->known = rc == FSV_OK;
    if (rc == FSV_NOTFOUND)
        return FSV_OK;
    if (rc == FSV_OK)
        rc = read_owner(s, c);
    if (rc != FSV_OK || owner_only)
        return rc;
    const char *owner = cust_owner(c);
    if (only && owner && strcmp(owner, only->name) == 0)
        return FSV_OK;  /* theirs: nothing else decides */
    if (!only) {
        rc = read_pool(s, c, NULL);
        return rc == FSV_OK ? load_shares(s, c) : rc;
    }
    /* One user's question: the pool row only decides a pool customer's
    ** sight, and only that user's share counts. */
    if (owner && !owner[0]) {
        rc = fsv_store_pool_get(s, c->id, &c->pool);
        c->has_pool = rc == FSV_OK;
        if (rc == FSV_NOTFOUND)
            rc = FSV_OK;
    }
    int shared = 0;
    if (rc == FSV_OK)
        rc = fsv_store_is_shared(s, c->id, only->name, &shared);
    if (rc == FSV_OK && shared) {
        if (!(c->shares = malloc(sizeof *c->shares)) ||
            !(c->shares[0] = strdup(only->name))) {
            free(c->shares);
            c->shares = NULL;
            return nomem(s);
        }
        c->n_shares = 1;
    }
    return rc;
}

/* The customer entry for id, inserted (unread) if new: *added 1. */
static int cust_slot(fsv_vis_facts *f, const char *id, fsv_vis_cust **out,
                     int *added)
{
    *added = 0;
    LOWER_BOUND(f->n_custs, strcmp(f->custs[mid].id, id));
    if (lo < f->n_custs && strcmp(f->custs[lo].id, id) == 0) {
        *out = &f->custs[lo];
        return FSV_OK;
    }
    void *p = realloc(f->custs, (f->n_custs + 1) * sizeof *f->custs);
    if (!p)
        return FSV_NOMEM;
    f->custs = p;
    memmove(&f->custs[lo + 1], &f->custs[lo],
            (f->n_custs - lo) * sizeof *f->custs);
    fsv_vis_cust *c = &f->custs[lo];
    memset(c, 0, sizeof *c);
    c->first_vis = -1;
    if (!(c->id = strdup(id))) {
        memmove(&f->custs[lo], &f->custs[lo + 1],
                (f->n_custs - lo) * sizeof *f->custs);
        return FSV_NOMEM;
    }
    f->n_custs++;
    *out = c;
    *added = 1;
    return FSV_OK;
}

/* The user entry for name, read if new.  A name no user can have (too
** long, empty) is an unknown user without asking. */
static int user_need(fsv_store *s, fsv_vis_facts *f, const char *name)
{
    if (!name || !name[0] || strlen(name) > FSV_NAME_MAX)
        return FSV_OK;
    LOWER_BOUND(f->n_users, strcmp(f->users[mid].name, name));
    if (lo < f->n_users && strcmp(f->users[lo].name, name) == 0)
        return FSV_OK;
    fsv_user u;
    int rc = fsv_store_user_get(s, name, &u);
    if (rc != FSV_OK && rc != FSV_NOTFOUND)
        return rc;
    void *p = realloc(f->users, (f->n_users + 1) * sizeof *f->users);
    if (!p)
        return nomem(s);
    f->users = p;
    memmove(&f->users[lo + 1], &f->users[lo],
            (f->n_users - lo) * sizeof *f->users);
    fsv_vis_who *w = &f->users[lo];
    memset(w, 0, sizeof *w);
    strcpy(w->name, name);
    if (rc == FSV_OK) {
        w->known = 1;
        memcpy(w->team, u.team, sizeof w->team);
        w->disabled = u.disabled;
    }
    f->n_users++;
    return FSV_OK;
}

/* The customer entry for id, read (with its owner's user) if new. */
static int cust_need(fsv_store *s, fsv_vis_facts *f, const char *id)
{
    if (!id || !id[0] || strlen(id) > FDSP_MAX_ID)
        return FSV_OK;
    fsv_vis_cust *c = NULL;
    int added = 0;
    if (cust_slot(f, id, &c, &added) != FSV_OK)
        return nomem(s);
    if (!added)
        return FSV_OK;
    int rc = cust_fill(s, c, f->only, 0);
    if (rc == FSV_OK && (!f->only || strcmp(f->only->role, "manager") == 0))
        rc = user_need(s, f, cust_owner(c));
    return rc;
}

/* The team map: the handle's, borrowed, or a copy that outlives the
** transaction (a fan-out decides after the commit). */
static int teams_load(fsv_store *s, fsv_vis_facts *f, int borrow)
{
    const fsv_teams *t = NULL;
    int rc = fsv_store_team_map(s, &t);
    if (rc != FSV_OK)
        return rc;
    if (borrow) {
        f->teams = (fsv_teams *)t;
        f->teams_borrowed = 1;
        return FSV_OK;
    }
    if (!(f->teams = fsv_teams_new()))
        return nomem(s);
    for (size_t i = 0; t && i < fsv_teams_count(t); i++)
        if (fsv_teams_put(f->teams, fsv_teams_name(t, i),
                          fsv_teams_parent_at(t, i)) != 0)
            return nomem(s);
    return FSV_OK;
}

static int cmp_change_key(const void *a, const void *b)
{
    const fdsp_change *x = *(const fdsp_change *const *)a;
    const fdsp_change *y = *(const fdsp_change *const *)b;
    int d = rec_cmp(x->table, x->record, y->table, y->record);
    return d ? d : strcmp(x->field, y->field);
}

/* The customer a share record "CUSTOMER:USER" is about, into buf. */
static const char *share_customer(const char *rid, char *buf, size_t cap)
{
    const char *colon = strchr(rid, ':');
    size_t len = colon ? (size_t)(colon - rid) : 0;
    if (!len || len >= cap)
        return NULL;
    memcpy(buf, rid, len);
    buf[len] = '\0';
    return buf;
}

static int load_batch(fsv_store *s, const fdsp_change *c, size_t n,
                      fsv_vis_facts *f)
{
    /* The distinct records and fields, sorted once: recs and fields never
    ** grow after this, so a field's rec index stays right. */
    const fdsp_change **v = n ? malloc(n * sizeof *v) : NULL;
    if (n && (!v || !(f->recs = calloc(n, sizeof *f->recs)) ||
              !(f->fields = calloc(n, sizeof *f->fields)) ||
              !(f->field_of = calloc(n, sizeof *f->field_of)))) {
        free(v);
        return nomem(s);
    }
    for (size_t i = 0; i < n; i++)
        v[i] = &c[i];
    if (n > 1)
        qsort(v, n, sizeof *v, cmp_change_key);
    int rc = FSV_OK;
    for (size_t i = 0; rc == FSV_OK && i < n; i++) {
        const fdsp_change *x = v[i];
        int new_rec = !f->n_recs ||
            rec_cmp(f->recs[f->n_recs - 1].tbl, f->recs[f->n_recs - 1].rid,
                    x->table, x->record) != 0;
        if (new_rec) {
            fsv_vis_rec *r = &f->recs[f->n_recs];
            if (!(r->tbl = strdup(x->table)) || !(r->rid = strdup(x->record))) {
                free(r->tbl);
                r->tbl = NULL;
                rc = nomem(s);
                break;
            }
            f->n_recs++;
            rc = fsv_store_record_info(s, x->table, x->record, &r->customer,
                                       &r->creator);
            r->known = rc == FSV_OK;
            if (rc == FSV_NOTFOUND)
                rc = FSV_OK;
        } else if (strcmp(f->fields[f->n_fields - 1].field, x->field) == 0) {
            f->field_of[x - c] = f->n_fields - 1;
            continue;   /* the same field again */
        }
        if (rc != FSV_OK)
            break;
        fsv_vis_rec *r = &f->recs[f->n_recs - 1];
        fsv_vis_field *fl = &f->fields[f->n_fields];
        if (!(fl->field = strdup(x->field))) {
            rc = nomem(s);
            break;
        }
        fl->rec = f->n_recs - 1;
        f->field_of[x - c] = f->n_fields;
        f->n_fields++;
        int count = 0;
        rc = fsv_store_field_count(s, x->table, x->record, x->field, &count,
                                   &fl->has);
        r->nfields = count;
    }
    free(v);
    f->batch = c;
    f->n_batch = n;
    /* The customers the rules look at, and the users named as owners. */
    for (size_t i = 0; rc == FSV_OK && i < f->n_recs; i++)
        if (f->recs[i].known && f->recs[i].customer)
            rc = cust_need(s, f, f->recs[i].customer);
    for (size_t i = 0; rc == FSV_OK && i < n; i++) {
        char buf[FDSP_MAX_ID + 1];
        if (strcmp(c[i].table, "customer") == 0) {
            rc = cust_need(s, f, c[i].record);
            if (rc == FSV_OK && strcmp(c[i].field, "owner") == 0)
                rc = user_need(s, f, c[i].value);
        } else if (strcmp(c[i].table, "share") == 0) {
            rc = cust_need(s, f, share_customer(c[i].record, buf, sizeof buf));
        }
        if (rc == FSV_OK && strcmp(c[i].table, "customer") != 0 &&
            strcmp(c[i].field, "customer") == 0)
            rc = cust_need(s, f, c[i].value);
    }
    if (rc == FSV_OK)
        rc = teams_load(s, f, 0);
    return rc;
}

int fsv_store_vis_load(fsv_store *s, const fdsp_change *c, size_t n,
                       fsv_vis_facts *f)
{
    memset(f, 0, sizeof *f);
    unsigned gen = s->msg_gen;
    int rc = s->be->vis_load ? s->be->vis_load(s, c, n, f)
                             : load_batch(s, c, n, f);
    if (rc != FSV_OK) {
        fsv_vis_facts_clear(f);
        if (s->msg_gen == gen)
            fsv__store_setmsg(s, rc, "store: visibility facts: %s",
                              fsv_errstr(rc));
    }
    return rc;
}

int fsv_store_vis_load_customer(fsv_store *s, const fsv_user *u,
                                const char *id, fsv_vis_facts *f)
{
    memset(f, 0, sizeof *f);
    f->only = u;
    int rc = FSV_OK;
    if (!u) {
        /* The owner only (fsv_vis_owner). */
        fsv_vis_cust *c = NULL;
        int added = 0;
        rc = cust_slot(f, id, &c, &added) == FSV_OK ? cust_fill(s, c, NULL, 1)
                                                    : nomem(s);
    } else {
        rc = cust_need(s, f, id);
        if (rc == FSV_OK && u->team[0])
            rc = teams_load(s, f, 1);
    }
    if (rc != FSV_OK)
        fsv_vis_facts_clear(f);
    return rc;
}

/* ---- Keeping the facts through a batch -------------------------------------- */

int fsv_store_vis_merged(fsv_store *s, fsv_vis_facts *f, const fdsp_change *c)
{
    fsv_vis_field *fl = fsv_vis_facts_change_field(f, c);
    if (!fl)
        return FSV_OK;  /* not of the loaded batch */
    fsv_vis_rec *r = &f->recs[fl->rec];
    int had = fl->has, was_new = !r->known, rc = FSV_OK;
    int is_cust = strcmp(c->table, "customer") == 0;
    int link = !is_cust && strcmp(c->field, "customer") == 0;
    if (!had) {
        /* A field's first register holds this change's value. */
        fl->has = 1;
        r->nfields++;
    }
    if (!r->known) {
        /* A new record: its writer is its creator, and its customer is
        ** itself or the customer it names. */
        r->known = 1;
        if (dup_to(&r->creator, c->user ? c->user : "") != 0 ||
            dup_to(&r->customer, is_cust ? c->record : link ? c->value : NULL))
            return nomem(s);
    } else if (link) {
        if (!had) {
            if (dup_to(&r->customer, c->value) != 0)
                return nomem(s);
        } else {
            /* The merge picked the winner: ask the index. */
            free(r->customer);
            free(r->creator);
            r->customer = r->creator = NULL;
            rc = fsv_store_record_info(s, c->table, c->record, &r->customer,
                                       &r->creator);
            r->known = rc == FSV_OK;
            if (rc == FSV_NOTFOUND)
                rc = FSV_OK;
        }
    }
    if (rc == FSV_OK && link && r->customer)
        rc = cust_need(s, f, r->customer);
    if (rc != FSV_OK)
        return rc;
    if (is_cust) {
        fsv_vis_cust *k = fsv_vis_facts_cust(f, c->record);
        if (!k)
            return FSV_OK;
        if (!k->known) {
            /* A new customer: its creator owns it until an owner is
            ** written (and a manager asks about the creator's team). */
            k->known = 1;
            if (dup_to(&k->creator, c->user ? c->user : "") != 0)
                return nomem(s);
            if ((rc = user_need(s, f, cust_owner(k))) != FSV_OK)
                return rc;
        }
        int is_owner = strcmp(c->field, "owner") == 0;
        int is_pool = strcmp(c->field, "pool") == 0;
        if (was_new && (is_owner || is_pool)) {
            /* A customer new in this batch: its first register holds the
            ** value, and no pool row can name it yet. */
            if (is_owner && dup_to(&k->owner, c->value) != 0)
                return nomem(s);
            if (is_pool)
                k->pooled = c->value && strcmp(c->value, "1") == 0;
            return user_need(s, f, cust_owner(k));
        }
        int named = strcmp(c->field, "name") == 0 && k->name;
        if (is_owner || is_pool || named) {
            /* Who owns it (and the pool row sync/pool.c wrote with it):
            ** read again, as it is after this merge; its shares did not
            ** change. */
            rc = read_owner(s, k);
            if (rc == FSV_OK)
                rc = read_pool(s, k, f->only);
            if (rc == FSV_OK)
                rc = user_need(s, f, cust_owner(k));
        }
        return rc;
    }
    if (strcmp(c->table, "share") == 0) {
        char buf[FDSP_MAX_ID + 1];
        const char *id = share_customer(c->record, buf, sizeof buf);
        fsv_vis_cust *k = id ? fsv_vis_facts_cust(f, id) : NULL;
        if (k)
            rc = load_shares(s, k);
    }
    return rc;
}
