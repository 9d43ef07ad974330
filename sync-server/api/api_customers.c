/*
** api_customers.c — GET /api/customers (pages: limit, after, sort, search,
** stage, owner; docs/API.md) from the store's office view, and
** GET /api/customers/ID[?as_of=TIME]: the sheet with its timeline, built
** by core in a replica of that customer's history rows only (all of them,
** or those at or before the time).
*/
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "visibility.h"

#define PAGE_DEFAULT 100

static int stage_defined(fsv_api *api, const char *key)
{
    json_t *sd = NULL, *fd = NULL, *d;
    size_t i;
    int found = 0;
    if (fsv_view_defs(api, &sd, &fd) != FSV_OK)
        return -1;
    json_array_foreach(sd, i, d)
        found |= strcmp(json_string_value(json_object_get(d, "key")), key) == 0;
    json_decref(sd);
    json_decref(fd);
    return found;
}

static const char *arg(const fsv_req *q, const char *name)
{
    const char *v = fsv_req_arg(q, name);
    return v && v[0] ? v : NULL;
}

/* Append "&name=value" (value percent-encoded) to a link. */
static void link_arg(char *buf, size_t cap, const char *name, const char *v)
{
    size_t n = strlen(buf);
    if (!v || n + strlen(name) + 3 >= cap)
        return;
    n += (size_t)snprintf(buf + n, cap - n, "&%s=", name);
    for (const unsigned char *p = (const unsigned char *)v; *p && n + 4 < cap; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
            (*p >= '0' && *p <= '9') || strchr("-._~", *p))
            buf[n++] = (char)*p;
        else
            n += (size_t)snprintf(buf + n, cap - n, "%%%02X", *p);
    }
    buf[n < cap ? n : cap - 1] = '\0';
}

/* The list's customer object: core's shape from the register values, plus
** updated, conflicts, next_plan and last_followup. */
static json_t *customer_obj(fsv_store *st, const char *id)
{
    json_t *values = NULL, *c = NULL;
    int64_t updated, conflicts, next, last;
    if (fsv_store_office_values(st, id, &values, &updated, &conflicts, &next,
                                &last) != FSV_OK)
        return NULL;
    if (fds_customer_from_values(id, values, &c) == FDS_OK) {
        char at[40];
        if (updated > 0) {
            fds_time_format(updated, at, sizeof at);
            json_object_set_new(c, "updated", json_string(at));
        }
        json_object_set_new(c, "conflicts", json_integer(conflicts));
        fds_time_format(next, at, sizeof at);
        json_object_set_new(c, "next_plan", next >= 0 ? json_string(at) : json_null());
        fds_time_format(last, at, sizeof at);
        json_object_set_new(c, "last_followup", last >= 0 ? json_string(at) : json_null());
    }
    json_decref(values);
    return c;
}

int fsv_office_list_all(fsv_api *api, const fsv_user *u, json_t **out)
{
    return fsv_office_list_team(api, u, NULL, out);
}

int fsv_office_list_team(fsv_api *api, const fsv_user *u, const char *team,
                         json_t **out)
{
    fsv_store *st = api->srv->store;
    fsv_scope scope;
    fsv_page_query pq;
    char after[FDSP_MAX_ID + 1] = "";
    json_t *list = json_array();
    *out = NULL;
    fsv_vis_scope(u, &scope);
    scope.filter_team = team;
    memset(&pq, 0, sizeof pq);
    pq.scope = &scope;
    pq.limit = FSV_PAGE_MAX;
    int rc = list ? fsv_store_begin_read(st) : FSV_NOMEM, more = 1;
    if (rc != FSV_OK) {
        json_decref(list);
        return rc;
    }
    while (rc == FSV_OK && more) {
        char **ids = NULL;
        size_t n = 0;
        int64_t total;
        pq.after = after[0] ? after : NULL;
        rc = fsv_store_office_page(st, &pq, &ids, &n, &total, &more);
        for (size_t i = 0; i < n; i++) {
            json_t *c = rc == FSV_OK ? customer_obj(st, ids[i]) : NULL;
            if (!c && rc == FSV_OK)
                rc = FSV_ERROR;
            else if (c)
                json_array_append_new(list, c);
            if (i + 1 == n)
                snprintf(after, sizeof after, "%s", ids[i]);
            free(ids[i]);
        }
        free(ids);
        if (!n)
            more = 0;
    }
    fsv_store_rollback(st);
    if (rc != FSV_OK) {
        json_decref(list);
        return rc;
    }
    *out = list;
    return FSV_OK;
}

void fsv_api_customers(fsv_api *api, const fsv_user *u, const fsv_req *q,
                       fsv_resp *resp)
{
    static const char *const known[] = {"search", "stage", "owner", "limit",
                                        "after", "sort", "team", NULL};
    fsv_store *st = api->srv->store;
    for (size_t i = 0; i < q->n_args; i++) {
        int ok = 0;
        for (size_t k = 0; known[k]; k++)
            ok |= strcmp(q->arg_name[i], known[k]) == 0;
        if (!ok) {
            fsv_resp_error(resp, 400, "unknown query parameter \"%s\" (search,"
                           " stage, owner, limit, after, sort, team)",
                           q->arg_name[i]);
            return;
        }
    }
    fsv_scope scope;
    fsv_vis_scope(u, &scope);
    /* ?team=T: the customers of T and the teams below it, within what u
    ** sees (a filter never widens a scope: api_teams.c). */
    if (fsv_api_team_arg(api, q, resp, &scope.filter_team) != 0)
        return;
    fsv_page_query pq;
    memset(&pq, 0, sizeof pq);
    pq.scope = &scope;
    pq.search = arg(q, "search");
    pq.stage = arg(q, "stage");
    pq.owner = arg(q, "owner");
    pq.sort = arg(q, "sort");
    pq.after = arg(q, "after");
    pq.limit = PAGE_DEFAULT;
    const char *lim = arg(q, "limit");
    if (lim) {
        char *end = NULL;
        long n = strtol(lim, &end, 10);
        if (!end || *end || n < 1 || n > FSV_PAGE_MAX) {
            fsv_resp_error(resp, 400, "limit \"%s\" is not a number from 1 to %d",
                           lim, FSV_PAGE_MAX);
            return;
        }
        pq.limit = (int)n;
    }
    if (pq.sort && strcmp(pq.sort, "name") && strcmp(pq.sort, "next") &&
        strcmp(pq.sort, "last") && strcmp(pq.sort, "amount")) {
        fsv_resp_error(resp, 400, "sort \"%s\" is not one of name, next, last,"
                       " amount", pq.sort);
        return;
    }
    if (pq.after && strlen(pq.after) > FDSP_MAX_ID) {
        fsv_resp_error(resp, 400, "after is not a cursor this server gave");
        return;
    }
    if (pq.stage) {
        int def = stage_defined(api, pq.stage);
        if (def < 0) {
            fsv_resp_error(resp, 500, "the store failed while reading the stages");
            return;
        }
        if (!def) {
            fsv_resp_error(resp, 400, "stage \"%s\" is not defined", pq.stage);
            return;
        }
    }
    char **ids = NULL;
    size_t n = 0;
    int64_t total = 0;
    int more = 0;
    json_t *list = json_array();
    int rc = fsv_store_begin_read(st);
    if (rc == FSV_OK) {
        rc = fsv_store_office_page(st, &pq, &ids, &n, &total, &more);
        for (size_t i = 0; rc == FSV_OK && i < n; i++) {
            json_t *c = customer_obj(st, ids[i]);
            if (!c)
                rc = FSV_ERROR;
            else
                json_array_append_new(list, c);
        }
        fsv_store_rollback(st);
    }
    if (rc != FSV_OK || !list) {
        for (size_t i = 0; i < n; i++)
            free(ids[i]);
        free(ids);
        json_decref(list);
        fsv_resp_error(resp, 500, "the store failed while listing customers");
        return;
    }
    char num[32];
    snprintf(num, sizeof num, "%lld", (long long)total);
    if (more && n) {
        char link[1600] = "</api/customers?";
        size_t base = strlen(link);
        char lim_s[16];
        snprintf(lim_s, sizeof lim_s, "%d", pq.limit);
        link_arg(link, sizeof link, "limit", lim_s);
        link_arg(link, sizeof link, "after", ids[n - 1]);
        link_arg(link, sizeof link, "sort", pq.sort);
        link_arg(link, sizeof link, "search", pq.search);
        link_arg(link, sizeof link, "stage", pq.stage);
        link_arg(link, sizeof link, "owner", pq.owner);
        link_arg(link, sizeof link, "team", scope.filter_team);
        memmove(link + base, link + base + 1, strlen(link + base + 1) + 1);
        size_t l = strlen(link);
        snprintf(link + l, sizeof link - l, ">; rel=\"next\"");
        fsv_resp_json(resp, 200, list);
        fsv_resp_header(resp, "link:", link);
    } else {
        fsv_resp_json(resp, 200, list);
    }
    fsv_resp_header(resp, "x-total-count:", num);
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
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
    int64_t asof = -1;
    if (asof_text && asof_text[0] && parse_asof(asof_text, &asof) != 0) {
        fsv_resp_error(resp, 400, "as_of \"%s\" is not an RFC 3339 time "
                       "(e.g. 2026-11-28T15:45:22Z)", asof_text);
        return;
    }
    if (check_access(api, u, id, resp) != 0)
        return;
    fds_replica *r = NULL;
    int rc = fsv_view_sheet(api, u, id, asof, &r);
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
    fds_replica_close(r);
}
