/*
** api_customers.c — GET /api/customers (search/stage/owner) and
** GET /api/customers/ID[?as_of=TIME]: the CLI's --json shapes from the
** caller's view, the sheet with its timeline, and the sheet as it stood at
** a time, rebuilt by merging only the history rows at or before it.
*/
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "visibility.h"

static int stage_defined(fds_replica *r, const char *key)
{
    json_t *defs = NULL, *d;
    size_t i;
    int found = 0;
    if (fds_stagedef_list(r, &defs) != FDS_OK)
        return -1;
    json_array_foreach(defs, i, d)
        found |= strcmp(json_string_value(json_object_get(d, "key")), key) == 0;
    json_decref(defs);
    return found;
}

void fsv_api_customers(fsv_api *api, const fsv_user *u, const fsv_req *q,
                       fsv_resp *resp)
{
    static const char *const known[] = {"search", "stage", "owner", NULL};
    fds_replica *r;
    int64_t head;
    for (size_t i = 0; i < q->n_args; i++) {
        int ok = 0;
        for (size_t k = 0; known[k]; k++)
            ok |= strcmp(q->arg_name[i], known[k]) == 0;
        if (!ok) {
            fsv_resp_error(resp, 400, "unknown query parameter \"%s\" (search, stage, owner)",
                           q->arg_name[i]);
            return;
        }
    }
    if (fsv_view_get(api, u, &r, &head) != FSV_OK) {
        fsv_resp_error(resp, 500, "the store failed while listing customers");
        return;
    }
    fds_query fq;
    memset(&fq, 0, sizeof fq);
    fq.search = fsv_req_arg(q, "search");
    fq.stage = fsv_req_arg(q, "stage");
    fq.owner = fsv_req_arg(q, "owner");
    if (fq.search && !fq.search[0])
        fq.search = NULL;
    if (fq.stage && !fq.stage[0])
        fq.stage = NULL;
    if (fq.owner && !fq.owner[0])
        fq.owner = NULL;
    if (fq.stage && stage_defined(r, fq.stage) != 1) {
        fsv_resp_error(resp, 400, "stage \"%s\" is not defined", fq.stage);
        return;
    }
    json_t *list = NULL, *c;
    size_t i;
    if (fds_customer_list(r, &fq, &list) != FDS_OK) {
        fsv_resp_error(resp, 500, "listing customers failed: %s", fds_errmsg(r));
        return;
    }
    json_array_foreach(list, i, c)
        json_object_del(c, "unsynced");     /* a device's mark, not data */
    fsv_resp_json(resp, 200, list);
}

/* RFC 3339 only (a date alone is not a time). */
static int parse_asof(const char *text, int64_t *sec)
{
    int64_t ms;
    if (strlen(text) < 20 || (text[10] != 'T' && text[10] != 't') ||
        fds_time_parse(text, &ms) != FDS_OK)
        return -1;
    *sec = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
    return 0;
}

/* 0 visible, else the status (403/404/500) is set in resp. */
static int check_access(fsv_api *api, const fsv_user *u, const char *id,
                        fsv_resp *resp)
{
    fsv_store *st = api->srv->store;
    char *customer = NULL, *creator = NULL;
    if (strlen(id) > FDSP_MAX_ID) {
        fsv_resp_error(resp, 404, "no customer %.64s...", id);
        return -1;
    }
    int rc = fsv_store_begin_read(st), vis = 0;
    if (rc == FSV_OK) {
        rc = fsv_store_record_info(st, "customer", id, &customer, &creator);
        if (rc == FSV_OK)
            rc = fsv_vis_customer(st, u, id, &vis);
        fsv_store_rollback(st);
    }
    free(customer);
    free(creator);
    if (rc == FSV_NOTFOUND) {
        fsv_resp_error(resp, 404, "no customer %s", id);
        return -1;
    }
    if (rc != FSV_OK) {
        fsv_resp_error(resp, 500, "the store failed while looking up customer %s", id);
        return -1;
    }
    if (vis == 0) {
        fsv_resp_error(resp, 403, "you may not see customer %s", id);
        return -1;
    }
    return 0;
}

void fsv_api_customer(fsv_api *api, const fsv_user *u, const char *id,
                      const fsv_req *q, fsv_resp *resp)
{
    const char *asof_text = fsv_req_arg(q, "as_of");
    int64_t asof = -1, head;
    if (asof_text && asof_text[0] && parse_asof(asof_text, &asof) != 0) {
        fsv_resp_error(resp, 400, "as_of \"%s\" is not an RFC 3339 time "
                       "(e.g. 2026-11-28T15:45:22Z)", asof_text);
        return;
    }
    if (check_access(api, u, id, resp) != 0)
        return;
    fds_replica *r = NULL, *own = NULL;
    int rc = asof >= 0 ? fsv_view_asof(api, u, id, asof, &own)
                       : fsv_view_get(api, u, &r, &head);
    if (own)
        r = own;
    if (rc != FSV_OK) {
        fsv_resp_error(resp, 500, "the store failed while building the sheet");
        return;
    }
    json_t *sheet = NULL, *timeline = NULL;
    rc = fds_customer_sheet(r, id, &sheet);
    if (rc == FDS_OK)
        rc = fds_history(r, id, &timeline);
    if (rc == FDS_NOTFOUND) {
        fsv_resp_error(resp, 404, asof >= 0 ? "customer %s did not exist at %s"
                                            : "no customer %s%s", id,
                       asof >= 0 ? asof_text : "");
    } else if (rc != FDS_OK) {
        fsv_resp_error(resp, 500, "building the sheet failed: %s", fds_errmsg(r));
    } else {
        char at[40];
        fds_time_format(asof * 1000, at, sizeof at);
        json_object_del(sheet, "unsynced");
        json_object_set_new(sheet, "timeline", timeline);
        timeline = NULL;
        json_object_set_new(sheet, "as_of", asof >= 0 ? json_string(at) : json_null());
        fsv_resp_json(resp, 200, sheet);
        sheet = NULL;
    }
    json_decref(sheet);
    json_decref(timeline);
    fds_replica_close(own);
}
