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

int fsv_vis_check_write(fsv_store *s, const fsv_user *u, const fdsp_change *c,
                        char *why, size_t whylen)
{
    int all = fsv_vis_sees_all(u);
    int is_rep = strcmp(u->role, "rep") == 0;

    if (is_definition(c->table))
        return is_rep ? forbid(why, whylen, c, "only managers and admins"
                               " change definitions") : 0;
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
        int vis = known ? fsv_vis_customer(s, u, c->record) : 1;
        if (vis < 0)
            result = -1;
        else if (!vis)
            result = forbid(why, whylen, c, "customer not visible to you");
        else if (strcmp(c->field, "owner") == 0 && is_rep && known) {
            char *owner = NULL;
            if (customer_owner(s, c->record, &owner) != FSV_OK)
                result = -1;
            else if (!owner || strcmp(owner, u->name) != 0)
                result = forbid(why, whylen, c, "only the owner or a manager"
                                " may reassign this customer");
            free(owner);
        }
    } else {
        /* A child: its (current) customer must be visible, and so must the
        ** customer it is being attached to. */
        if (known && customer) {
            int vis = fsv_vis_customer(s, u, customer);
            if (vis < 0)
                result = -1;
            else if (!vis)
                result = forbid(why, whylen, c, "its customer is not visible"
                                " to you");
        } else if (known && strcmp(creator, u->name) != 0) {
            result = forbid(why, whylen, c, "record belongs to another user");
        }
        if (result == 0 && strcmp(c->field, "customer") == 0 && c->value) {
            int vis = fsv_vis_customer(s, u, c->value);
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
