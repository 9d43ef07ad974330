/*
** api_duplicates.c — GET /api/duplicates: suspected duplicate customers
** across reps (撞单), for managers and admins (docs/API.md).
**
** A suspect is a phone number or WeChat id (normalised: store_dup.c) that
** live customers of two or more owners share.  A caller sees a suspect
** when they may see at least one of its customers (visibility.c, the sync
** rule).  Of the customers they may see they get the id, name and owner;
** of the others only the owner's name, as the rep who added the customer
** was told: never the id or name of a customer outside their sight
** (docs/SECURITY.md, "Duplicate customers").  Reps get 403: what a rep
** learns is the notice on sync, and nothing more.
*/
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "visibility.h"

/* Suspects in one answer (the list is company-wide before visibility). */
#define FSV_DUP_LIST_MAX 1000

typedef struct dup_ctx {
    fsv_store *st;
    const fsv_user *u;
    json_t *out;            /* the suspects shown */
    json_t *cur;            /* the suspect being built, or NULL */
    char key[FSV_DUP_KEY_MAX];
    int cur_seen;           /* the caller sees one of cur's customers */
    int truncated;
} dup_ctx;

/* The suspect being built goes out if the caller sees one of its
** customers. */
static int close_cur(dup_ctx *c)
{
    int rc = FSV_OK;
    if (c->cur && c->cur_seen) {
        if (json_array_size(c->out) >= FSV_DUP_LIST_MAX)
            c->truncated = 1;
        else if (json_array_append(c->out, c->cur) != 0)
            rc = FSV_NOMEM;
    }
    json_decref(c->cur);
    c->cur = NULL;
    c->cur_seen = 0;
    return rc;
}

static int row(void *ud, const char *key, const char *customer,
               const char *owner, const char *name)
{
    dup_ctx *c = ud;
    int rc;
    if (!key || !customer)
        return FSV_OK;
    if (!c->cur || strcmp(c->key, key) != 0) {
        if ((rc = close_cur(c)) != FSV_OK)
            return rc;
        snprintf(c->key, sizeof c->key, "%s", key);
        c->cur = json_pack("{s:s, s:s, s:[]}", "kind",
                           key[0] == 'p' ? "phone" : "wechat", "value",
                           key + 2, "customers");
        if (!c->cur)
            return FSV_NOMEM;
    }
    int sees = 0;
    if ((rc = fsv_vis_customer(c->st, c->u, customer, &sees)) != FSV_OK)
        return rc;
    c->cur_seen |= sees;
    json_t *o = sees ? json_pack("{s:s, s:s?, s:s, s:b}", "id", customer,
                                 "name", name, "owner", owner ? owner : "",
                                 "visible", 1)
                     : json_pack("{s:s, s:b}", "owner", owner ? owner : "",
                                 "visible", 0);
    if (!o || json_array_append_new(json_object_get(c->cur, "customers"), o))
        return FSV_NOMEM;
    return FSV_OK;
}

void fsv_api_duplicates(fsv_api *api, const fsv_user *u, const fsv_req *q,
                        fsv_resp *resp)
{
    (void)q;
    if (strcmp(u->role, "manager") != 0 && strcmp(u->role, "admin") != 0) {
        fsv_resp_error(resp, 403, "the duplicate customers list is for"
                       " managers and admins");
        return;
    }
    fsv_store *st = api->srv->store;
    dup_ctx c;
    memset(&c, 0, sizeof c);
    c.st = st;
    c.u = u;
    c.out = json_array();
    int rc = c.out ? fsv_store_begin_read(st) : FSV_NOMEM;
    int in_tx = rc == FSV_OK;
    if (rc == FSV_OK)
        rc = fsv_store_dup_list(st, row, &c);
    if (rc == FSV_OK)
        rc = close_cur(&c);
    json_decref(c.cur);
    if (in_tx)
        fsv_store_rollback(st);    /* end of the read snapshot */
    if (rc != FSV_OK) {
        json_decref(c.out);
        fsv_resp_error(resp, 500, "the store failed while listing duplicate"
                       " customers");
        return;
    }
    fsv_resp_json(resp, 200, json_pack("{s:o, s:b}", "duplicates", c.out,
                                       "truncated", c.truncated));
}
