/*
** api_view.c — replicas for the API (see api.h).  The office view reads the
** store (api_customers.c, api_summary.c, api_analysis.c); replicas remain
** only where core's own functions build the answer: one customer's sheet
** and timeline (fsv_view_sheet: that customer's rows only), the
** definitions (fsv_view_defs: one small replica shared by every user),
** and the per-user view below, which only the CSV export still uses.
**
** The per-user view is an
** in-memory libfieldsync replica that plays a device of the API user: this
** file answers its sans-I/O session in place of the network, with welcome
** and changes messages read from the store through the same visibility
** filter the sync protocol uses.  Bringing a view up to date feeds only the
** rows after its cursor.  When the rows after it reassign a customer or
** change a share (visible to the user or not), the user's visible set may
** have grown into earlier history or shrunk, so the view is rebuilt from
** the start.
*/
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "log.h"
#include "visibility.h"

#define VIEW_MAX 64                 /* cached views (one per user) */

struct fsv_view {
    struct fsv_view *next;
    fsv_user user;
    fds_replica *r;
    int64_t head;                   /* store head the view was fed up to */
};

/* Which rows a feed takes. */
typedef struct feed_opts {
    fsv_store *store;
    const fsv_user *user;
    const char *customer;           /* only this customer's rows (+ defs) */
    int64_t asof_s;                 /* only rows at or before; <0: all */
    int widened;                    /* out: owner/share rows were scanned */
    /* Instead of the store's history: these rows (seq order), served as
    ** pulls from memory. */
    fdsp_change *rows;
    size_t n_rows;
} feed_opts;

/* A pull answered from o->rows. */
static int answer_rows(feed_opts *o, const fdsp_msg *pull, char **buf,
                       size_t *len)
{
    size_t limit = pull->limit > 0 ? (size_t)pull->limit : FDSP_MAX_BATCH, i = 0;
    while (i < o->n_rows && o->rows[i].seq <= pull->after)
        i++;
    for (;;) {
        size_t k = o->n_rows - i < limit ? o->n_rows - i : limit;
        fdsp_msg m;
        memset(&m, 0, sizeof m);
        m.type = FDSP_CHANGES;
        m.changes = o->rows + i;
        m.n_changes = k;
        m.last = k ? o->rows[i + k - 1].seq : pull->after;
        m.more = i + k < o->n_rows;
        int rc = fdsp_encode(&m, buf, len);
        if (rc == FDSP_OK)
            return 0;
        if (rc != FDSP_E_TOOBIG || limit == 1)
            return -1;
        limit /= 2;
    }
}

static int row_filter(void *ud, const fsv_row *row, int *include)
{
    feed_opts *o = ud;
    *include = 0;
    /* Seen whether or not the user may see the row: a customer given away
    ** must leave the view as surely as one received must enter it. */
    if ((strcmp(row->tbl, "customer") == 0 && strcmp(row->field, "owner") == 0) ||
        strcmp(row->tbl, "share") == 0)
        o->widened = 1;
    if (o->customer) {
        int defs = strcmp(row->tbl, "stagedef") == 0 ||
                   strcmp(row->tbl, "fielddef") == 0;
        if (!defs && (!row->customer || strcmp(row->customer, o->customer) != 0))
            return FSV_OK;
    }
    struct fsv_vis_filter f = {o->store, o->user};
    return fsv_vis_filter_fn(&f, row, include);
}

/* The answer to a pull: a changes message, halving the batch until its
** encoding fits a frame. */
static int answer_pull(feed_opts *o, const fdsp_msg *pull, char **buf,
                       size_t *len)
{
    int limit = pull->limit > 0 ? pull->limit : FDSP_MAX_BATCH;
    for (;;) {
        fdsp_change *ch = NULL;
        size_t n = 0, keep = 0;
        int64_t last = pull->after;
        int more = 0;
        int rc = fsv_store_begin_read(o->store);
        if (rc == FSV_OK) {
            rc = fsv_store_changes_after(o->store, pull->after, limit, NULL,
                                         row_filter, o, &ch, &n, &last, &more);
            fsv_store_rollback(o->store);
        }
        if (rc != FSV_OK)
            return -1;
        for (size_t i = 0; i < n; i++) {
            int drop = o->asof_s >= 0 &&
                       (int64_t)((ch[i].hlc >> 16) / 1000) > o->asof_s;
            if (drop)
                fdsp_change_clear(&ch[i]);
            else if (keep++ != i)
                ch[keep - 1] = ch[i];
        }
        fdsp_msg m;
        memset(&m, 0, sizeof m);
        m.type = FDSP_CHANGES;
        m.changes = ch;
        m.n_changes = keep;
        m.last = last;
        m.more = more;
        rc = fdsp_encode(&m, buf, len);
        for (size_t i = 0; i < keep; i++)
            fdsp_change_clear(&ch[i]);
        free(ch);
        if (rc == FDSP_OK)
            return 0;
        if (rc != FDSP_E_TOOBIG || limit == 1)
            return -1;
        limit /= 2;
    }
}

/* Run r's sync session against the store until it is idle. */
static int feed(fds_replica *r, feed_opts *o)
{
    fds_session *s = NULL;
    if (fds_session_new(r, &s) != FDS_OK)
        return -1;
    int ret = -1;
    for (;;) {
        char *out = NULL, *reply = NULL;
        size_t len = 0, rlen = 0;
        int rc = fds_session_next(s, &out, &len);
        if (rc == FDS_DONE) {
            ret = fds_session_state(s) == FDS_SESSION_IDLE ? 0 : -1;
            break;
        }
        if (rc != FDS_OK)
            break;
        fdsp_msg *m = NULL;
        rc = fdsp_decode(out, len, &m, NULL, 0);
        free(out);
        if (rc != FDSP_OK)
            break;
        if (m->type == FDSP_HELLO) {
            fdsp_msg w;
            int64_t head = 0;
            memset(&w, 0, sizeof w);
            w.type = FDSP_WELCOME;
            w.version = FDSP_VERSION;
            w.user = (char *)o->user->name;
            w.role = (char *)o->user->role;
            w.device = m->device;
            if (o->rows)
                head = o->n_rows ? o->rows[o->n_rows - 1].seq : 0;
            else if (fsv_store_head(o->store, &head) != FSV_OK)
                head = 0;
            w.head = head;
            rc = fdsp_encode(&w, &reply, &rlen) == FDSP_OK ? 0 : -1;
        } else if (m->type == FDSP_PULL) {
            rc = o->rows ? answer_rows(o, m, &reply, &rlen)
                         : answer_pull(o, m, &reply, &rlen);
        } else {
            rc = -1;        /* a view never writes: nothing else is expected */
        }
        fdsp_msg_free(m);
        if (rc == 0)
            rc = fds_session_feed(s, reply, rlen) == FDS_OK ? 0 : -1;
        free(reply);
        if (rc != 0)
            break;
    }
    if (ret != 0)
        fsv_err("api view for %s: %s", o->user->name, fds_session_errmsg(s));
    fds_session_free(s);
    return ret;
}

static int open_fed(feed_opts *o, fds_replica **out)
{
    char err[256];
    *out = NULL;
    if (fds_replica_open(":memory:", NULL, out, err, sizeof err) != FDS_OK) {
        fsv_err("api view: %s", err);
        return -1;
    }
    if (feed(*out, o) != 0) {
        fds_replica_close(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

static int same_user(const fsv_user *a, const fsv_user *b)
{
    return strcmp(a->name, b->name) == 0 && strcmp(a->role, b->role) == 0 &&
           strcmp(a->team, b->team) == 0;
}

static void view_free(struct fsv_view *v)
{
    if (v) {
        fds_replica_close(v->r);
        free(v);
    }
}

int fsv_view_get(fsv_api *api, const fsv_user *u, fds_replica **r,
                 int64_t *head)
{
    fsv_store *st = api->srv->store;
    struct fsv_view **pp = &api->views, *v = NULL;
    size_t count = 0;
    *r = NULL;
    while (*pp) {
        if (strcmp((*pp)->user.name, u->name) == 0) {
            v = *pp;
            *pp = v->next;          /* unlink; relinked at the front */
            break;
        }
        pp = &(*pp)->next;
        count++;
    }
    if (v && !same_user(&v->user, u)) {     /* role or team changed */
        view_free(v);
        v = NULL;
    }
    int64_t now_head = 0;
    if (fsv_store_head(st, &now_head) != FSV_OK) {
        view_free(v);
        return FSV_ERROR;
    }
    feed_opts o = {st, u, NULL, -1, 0, NULL, 0};
    if (v && v->head != now_head) {
        if (feed(v->r, &o) != 0 || o.widened) {
            view_free(v);
            v = NULL;
        }
    }
    if (!v) {
        v = calloc(1, sizeof *v);
        o.widened = 0;
        if (!v || open_fed(&o, &v->r) != 0) {
            free(v);
            return FSV_ERROR;
        }
        v->user = *u;
    }
    v->head = now_head;
    v->next = api->views;
    api->views = v;
    if (count + 1 >= VIEW_MAX) {            /* drop the least recently used */
        struct fsv_view **q = &api->views;
        while ((*q)->next)
            q = &(*q)->next;
        if (*q != v) {
            view_free(*q);
            *q = NULL;
        }
    }
    *r = v->r;
    *head = now_head;
    return FSV_OK;
}

/* A replica fed exactly the given rows (seq order). */
static int replica_of(fsv_api *api, const fsv_user *u, fdsp_change *rows,
                      size_t n, fds_replica **r)
{
    static fdsp_change none;
    feed_opts o = {api->srv->store, u, NULL, -1, 0, n ? rows : &none, n};
    return open_fed(&o, r) == 0 ? FSV_OK : FSV_ERROR;
}

static void rows_free(fdsp_change *rows, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fdsp_change_clear(&rows[i]);
    free(rows);
}

int fsv_view_sheet(fsv_api *api, const fsv_user *u, const char *customer,
                   int64_t asof_s, fds_replica **r)
{
    fsv_store *st = api->srv->store;
    fdsp_change *rows = NULL;
    size_t n = 0;
    *r = NULL;
    int rc = fsv_store_begin_read(st);
    if (rc == FSV_OK) {
        rc = fsv_store_customer_history(st, customer, asof_s, &rows, &n);
        fsv_store_rollback(st);
    }
    if (rc != FSV_OK) {
        fsv_err("api sheet %s: %s", customer, fsv_store_errmsg(st));
        return FSV_ERROR;
    }
    rc = replica_of(api, u, rows, n, r);
    rows_free(rows, n);
    return rc;
}

int fsv_view_asof(fsv_api *api, const fsv_user *u, const char *customer,
                  int64_t asof_s, fds_replica **r)
{
    return fsv_view_sheet(api, u, customer, asof_s, r);
}

int fsv_view_defs(fsv_api *api, json_t **stage_defs, json_t **field_defs)
{
    fsv_store *st = api->srv->store;
    int64_t head = 0;
    *stage_defs = *field_defs = NULL;
    if (fsv_store_head(st, &head) != FSV_OK)
        return FSV_ERROR;
    if (!api->defs_sd || api->defs_head != head) {
        /* The definitions' rows alone: the history of a customer id no
        ** record has. */
        static const fsv_user nobody = {"office", "admin", "*", 0};
        fdsp_change *rows = NULL;
        size_t n = 0;
        fds_replica *r = NULL;
        int rc = fsv_store_begin_read(st);
        if (rc == FSV_OK) {
            rc = fsv_store_customer_history(st, "", -1, &rows, &n);
            fsv_store_rollback(st);
        }
        if (rc == FSV_OK)
            rc = replica_of(api, &nobody, rows, n, &r);
        rows_free(rows, n);
        json_t *sd = NULL, *fd = NULL;
        if (rc == FSV_OK && (fds_stagedef_list(r, &sd) != FDS_OK ||
                             fds_fielddef_list(r, &fd) != FDS_OK))
            rc = FSV_ERROR;
        fds_replica_close(r);
        if (rc != FSV_OK) {
            json_decref(sd);
            json_decref(fd);
            return FSV_ERROR;
        }
        json_decref(api->defs_sd);
        json_decref(api->defs_fd);
        api->defs_sd = sd;
        api->defs_fd = fd;
        api->defs_head = head;
    }
    *stage_defs = json_incref(api->defs_sd);
    *field_defs = json_incref(api->defs_fd);
    return FSV_OK;
}

void fsv_view_free_all(fsv_api *api)
{
    json_decref(api->defs_sd);
    json_decref(api->defs_fd);
    api->defs_sd = api->defs_fd = NULL;
    while (api->views) {
        struct fsv_view *v = api->views;
        api->views = v->next;
        view_free(v);
    }
}
