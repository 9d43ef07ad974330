/*
** visibility.c — the baseline visibility and write rules (visibility.h).
*/
#include "visibility.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_definition(const char *tbl)
{
    return strcmp(tbl, "fielddef") == 0 || strcmp(tbl, "stagedef") == 0;
}

int fsv_vis_sees_all(const fsv_user *u)
{
    return strcmp(u->role, "admin") == 0 ||
           (strcmp(u->role, "manager") == 0 && strcmp(u->team, "*") == 0);
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
    } else {
        free(val);
        *owner = creator;
    }
    return FSV_OK;
}

int fsv_vis_owner(fsv_store *s, const char *customer, char **owner)
{
    return customer_owner(s, customer, owner) == FSV_OK ? 0 : -1;
}

int fsv_vis_may_have_seen(fsv_store *s, const fsv_user *u, const char *user)
{
    if (!user || !user[0])
        return 0;
    if (strcmp(u->name, user) == 0)
        return 1;
    if (strcmp(u->role, "manager") != 0 || !u->team[0])
        return 0;
    fsv_user o;
    int rc = fsv_store_user_get(s, user, &o);
    if (rc == FSV_NOTFOUND)
        return 0;
    if (rc != FSV_OK)
        return -1;
    return strcmp(o.team, u->team) == 0;
}

int fsv_vis_customer(fsv_store *s, const fsv_user *u, const char *customer)
{
    if (fsv_vis_sees_all(u))
        return 1;
    char *owner = NULL;
    if (customer_owner(s, customer, &owner) != FSV_OK)
        return -1;
    int vis = 0;
    if (!owner) {
        vis = 0; /* unknown customer: nobody but the all-seeing */
    } else if (strcmp(owner, u->name) == 0) {
        vis = 1;
    } else if (strcmp(u->role, "manager") == 0 && u->team[0]) {
        fsv_user o;
        int rc = fsv_store_user_get(s, owner, &o);
        if (rc == FSV_OK)
            vis = strcmp(o.team, u->team) == 0;
        else if (rc != FSV_NOTFOUND)
            vis = -1;
    }
    free(owner);
    if (vis == 0) {
        int shared = 0;
        if (fsv_store_is_shared(s, customer, u->name, &shared) != FSV_OK)
            return -1;
        vis = shared;
    }
    return vis;
}

int fsv_vis_row(fsv_store *s, const fsv_user *u, const fsv_row *row)
{
    if (fsv_vis_sees_all(u) || is_definition(row->tbl))
        return 1;
    if (strcmp(row->tbl, "customer") == 0)
        return fsv_vis_customer(s, u, row->rid);
    if (!row->customer)
        return row->creator && strcmp(row->creator, u->name) == 0;
    return fsv_vis_customer(s, u, row->customer);
}

int fsv_vis_filter_fn(void *ud, const fsv_row *row)
{
    const struct fsv_vis_filter *f = ud;
    return fsv_vis_row(f->store, f->user, row);
}

static int forbid(char *why, size_t whylen, const fdsp_change *c,
                  const char *reason)
{
    snprintf(why, whylen, "forbidden: %s %s field %s: %s", c->table, c->record,
             c->field, reason);
    return FDSP_E_FORBIDDEN;
}

/* Visibility as first seen in this batch (see fsv_vis_cache in the header). */
static int vis_cached(fsv_store *s, const fsv_user *u, struct fsv_vis_cache *vc,
                      const char *customer, int if_unknown)
{
    if (vc) {
        for (size_t i = 0; i < vc->n; i++)
            if (strcmp(vc->e[i].customer, customer) == 0)
                return vc->e[i].vis;
    }
    int vis;
    if (if_unknown >= 0) {
        char *cust = NULL, *creator = NULL;
        int rc = fsv_store_record_info(s, "customer", customer, &cust, &creator);
        free(cust);
        free(creator);
        if (rc != FSV_OK && rc != FSV_NOTFOUND)
            return -1;
        vis = rc == FSV_NOTFOUND ? if_unknown : fsv_vis_customer(s, u, customer);
    } else {
        vis = fsv_vis_customer(s, u, customer);
    }
    if (vis < 0 || !vc)
        return vis;
    if (vc->n == vc->cap) {
        size_t cap = vc->cap ? vc->cap * 2 : 16;
        void *p = realloc(vc->e, cap * sizeof *vc->e);
        if (!p)
            return vis;     /* uncached is still right */
        vc->e = p;
        vc->cap = cap;
    }
    snprintf(vc->e[vc->n].customer, sizeof vc->e[vc->n].customer, "%s", customer);
    vc->e[vc->n].vis = vis;
    vc->n++;
    return vis;
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
** manager of the owner's team, a head-office manager and an admin.
** 1 yes, 0 no, <0 store error. */
int fsv_vis_may_share(fsv_store *s, const fsv_user *u, const char *customer)
{
    if (fsv_vis_sees_all(u))
        return 1;
    char *owner = NULL;
    if (customer_owner(s, customer, &owner) != FSV_OK)
        return -1;
    int ok = 0;
    if (owner && strcmp(owner, u->name) == 0) {
        ok = 1;
    } else if (owner && strcmp(u->role, "manager") == 0 && u->team[0]) {
        fsv_user o;
        int rc = fsv_store_user_get(s, owner, &o);
        if (rc == FSV_OK)
            ok = strcmp(o.team, u->team) == 0;
        else if (rc != FSV_NOTFOUND)
            ok = -1;
    }
    free(owner);
    return ok;
}

/* A share record is "CUSTOMER:USER"; its customer and user fields must say
** the same, and only who may share the customer may write it. */
static int check_share(fsv_store *s, const fsv_user *u, const fdsp_change *c,
                       char *why, size_t whylen)
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
        return forbid(why, whylen, c, "the customer must match the share's name");
    if (strcmp(c->field, "user") == 0 &&
        (!c->value || strcmp(c->value, colon + 1) != 0))
        return forbid(why, whylen, c, "the user must match the share's name");
    int ok = fsv_vis_may_share(s, u, customer);
    if (ok < 0)
        return -1;
    if (!ok)
        return forbid(why, whylen, c, "only the customer's owner, a manager of"
                      " the owner's team or an admin may share or unshare it");
    return 0;
}

/* Owner writes: managers and admins assign (to anyone, on customers they
** see); a rep may only name themselves on a customer that is theirs or new. */
static int check_owner(fsv_store *s, const fsv_user *u, const fdsp_change *c,
                       int known, char *why, size_t whylen)
{
    if (strcmp(u->role, "rep") != 0)
        return 0;
    int self = !c->value || !c->value[0] || strcmp(c->value, u->name) == 0;
    if (!known)
        return self ? 0 : forbid(why, whylen, c, "only a manager may assign"
                                 " a customer to another user");
    char *owner = NULL;
    if (customer_owner(s, c->record, &owner) != FSV_OK)
        return -1;
    int mine = owner && strcmp(owner, u->name) == 0;
    free(owner);
    if (mine && self && c->value && c->value[0])
        return 0;   /* re-stating the current owner changes nothing */
    return forbid(why, whylen, c, "only a manager may reassign a customer");
}

int fsv_vis_check_write(fsv_store *s, const fsv_user *u, const fdsp_change *c,
                        char *why, size_t whylen)
{
    return fsv_vis_check_write_cached(s, u, c, NULL, why, whylen);
}

int fsv_vis_check_write_cached(fsv_store *s, const fsv_user *u,
                               const fdsp_change *c, struct fsv_vis_cache *vc,
                               char *why, size_t whylen)
{
    int all = fsv_vis_sees_all(u);
    int is_rep = strcmp(u->role, "rep") == 0;

    if (is_definition(c->table))
        return is_rep ? forbid(why, whylen, c, "only managers and admins"
                               " change definitions") : 0;
    if (strcmp(c->table, "share") == 0) {
        int rc = check_share(s, u, c, why, whylen);
        if (rc != 0)
            return rc;
    }
    if (all)
        return 0;

    char *customer = NULL, *creator = NULL;
    int rc = fsv_store_record_info(s, c->table, c->record, &customer, &creator);
    if (rc != FSV_OK && rc != FSV_NOTFOUND)
        return -1;
    int known = rc == FSV_OK;
    int result = 0;

    if (strcmp(c->table, "customer") == 0) {
        /* A new customer is the writer's own; a known one must be visible. */
        int vis = vis_cached(s, u, vc, c->record, 1);
        if (vis < 0)
            result = -1;
        else if (!vis)
            result = forbid(why, whylen, c, "customer not visible to you");
        else if (strcmp(c->field, "owner") == 0)
            result = check_owner(s, u, c, known, why, whylen);
    } else {
        /* A child: its (current) customer must be visible, and so must the
        ** customer it is being attached to. */
        if (known && customer) {
            int vis = vis_cached(s, u, vc, customer, -1);
            if (vis < 0)
                result = -1;
            else if (!vis)
                result = forbid(why, whylen, c, "its customer is not visible"
                                " to you");
        } else if (known && strcmp(creator, u->name) != 0) {
            result = forbid(why, whylen, c, "record belongs to another user");
        }
        if (result == 0 && strcmp(c->field, "customer") == 0 && c->value) {
            int vis = vis_cached(s, u, vc, c->value, -1);
            if (vis < 0)
                result = -1;
            else if (!vis)
                result = forbid(why, whylen, c, "target customer not visible"
                                " to you");
        }
    }
    free(customer);
    free(creator);
    return result;
}
