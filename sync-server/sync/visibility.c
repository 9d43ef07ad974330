/*
** visibility.c — the visibility questions the server asks (visibility.h):
** each loads what it needs from the store at once (store.h fsv_vis_facts)
** and asks the pure rule of vis_decide.c, so every answer has one source.
*/
#include "visibility.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fsv_vis_pool_covers(fsv_store *s, const char *pool_team,
                        const fsv_user *u)
{
    if (!pool_team || !pool_team[0] || !u->team[0])
        return 0;
    const fsv_teams *t = NULL;
    if (fsv_store_team_map(s, &t) != FSV_OK)
        t = NULL;       /* then only the equal and "*" rules */
    return fsv_visd_pool_covers(t, pool_team, u);
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
        *within = fsv_visd_within(t, team, of);
    return rc;
}

int fsv_vis_owner(fsv_store *s, const char *customer, char **owner)
{
    fsv_vis_facts f;
    *owner = NULL;
    int rc = fsv_store_vis_load_customer(s, NULL, customer, &f);
    if (rc != FSV_OK)
        return rc;
    const char *o = fsv_visd_owner(&f, customer);
    if (o && !(*owner = strdup(o)))
        rc = FSV_NOMEM;
    fsv_vis_facts_clear(&f);
    return rc;
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

/* A question of u about one customer: sees-all users need no facts;
** otherwise load what u's answer needs and ask the pure rule. */
static int ask_customer(fsv_store *s, const fsv_user *u, const char *customer,
                        int (*rule)(const fsv_vis_facts *, const fsv_user *,
                                    const char *),
                        int *answer)
{
    *answer = 0;
    if (fsv_vis_sees_all(u)) {
        *answer = 1;
        return FSV_OK;
    }
    fsv_vis_facts f;
    int rc = fsv_store_vis_load_customer(s, u, customer, &f);
    if (rc != FSV_OK)
        return rc;
    *answer = rule(&f, u, customer);
    fsv_vis_facts_clear(&f);
    return FSV_OK;
}

int fsv_vis_customer(fsv_store *s, const fsv_user *u, const char *customer,
                     int *sees)
{
    return ask_customer(s, u, customer, fsv_visd_customer, sees);
}

int fsv_vis_row(fsv_store *s, const fsv_user *u, const fsv_row *row,
                int *sees)
{
    *sees = 0;
    if (fsv_vis_sees_all(u) || fsv_visd_is_definition(row->tbl) ||
        (strcmp(row->tbl, "customer") != 0 && !row->customer)) {
        /* decided by the row alone */
        *sees = fsv_visd_row(NULL, u, row->tbl, row->rid, row->customer,
                             row->creator);
        return FSV_OK;
    }
    return fsv_vis_customer(s, u, strcmp(row->tbl, "customer") == 0
                                      ? row->rid : row->customer, sees);
}

int fsv_vis_filter_fn(void *ud, const fsv_row *row, int *include)
{
    const struct fsv_vis_filter *f = ud;
    return fsv_vis_row(f->store, f->user, row, include);
}

int fsv_vis_may_share(fsv_store *s, const fsv_user *u, const char *customer,
                      int *may)
{
    return ask_customer(s, u, customer, fsv_visd_may_share, may);
}

int fsv_vis_check_write(fsv_store *s, const fsv_user *u, const fdsp_change *c,
                        int *refusal, char *why, size_t whylen)
{
    fsv_vis_facts f;
    *refusal = 0;
    int rc = fsv_store_vis_load(s, c, 1, &f);
    if (rc != FSV_OK)
        return rc;
    *refusal = fsv_visd_check_write(&f, u, c, why, whylen);
    fsv_vis_facts_clear(&f);
    return FSV_OK;
}

/* ---- A pushed batch -------------------------------------------------------------- */

int fsv_vis_set_load(fsv_store *s, const fdsp_change *c, size_t n,
                     fsv_vis_set **out)
{
    fsv_vis_facts f;
    *out = NULL;
    int rc = fsv_store_vis_load(s, c, n, &f);
    if (rc != FSV_OK)
        return rc;
    rc = fsv_vis_set_wrap(&f, out);
    fsv_vis_facts_clear(&f);
    return rc;
}

int fsv_vis_set_merged(fsv_store *s, fsv_vis_set *vs, const fdsp_change *c)
{
    return fsv_store_vis_merged(s, fsv_vis_set_facts(vs), c);
}

int fsv_vis_set_build(fsv_store *s, const fdsp_change *c, size_t n,
                      fsv_vis_set **out)
{
    int rc = fsv_vis_set_load(s, c, n, out);
    if (rc == FSV_OK && (rc = fsv_vis_set_seal(*out, c, n)) != FSV_OK) {
        fsv_vis_set_free(*out);
        *out = NULL;
    }
    return rc;
}

/* ---- Does u see any of these changes? ------------------------------------------ */
/* One question, one definition: fsv_visd_row over the facts of the
** records as the record index has them.  A batch asks its set
** (fsv_vis_set_sees_any), the dashboard's /live the history rows in a
** range (fsv_vis_sees_history, through the same rule as a pull's). */

int fsv_vis_sees_any(fsv_store *s, const fsv_user *u, const fdsp_change *c,
                     size_t n)
{
    if (fsv_vis_sees_all(u))
        return 1;
    fsv_vis_set *vs = NULL;
    if (fsv_vis_set_build(s, c, n, &vs) != FSV_OK)
        return 0;
    int any = fsv_vis_set_sees_any(vs, u);
    fsv_vis_set_free(vs);
    return any;
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
    if (fsv_vis_sees_all(f->user) || fsv_visd_is_definition(row->tbl)) {
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
