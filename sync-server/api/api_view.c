/*
** api_view.c — the small replicas core builds the API's sheets in (see
** api.h).  Nothing here is kept per user: one customer's sheet and "as of"
** are a replica fed only that customer's history rows
** (fsv_store_customer_history), made for the request and closed after it;
** the definitions are one replica's lists shared by every user, read
** again when the head moves.  A replica plays a device: this file answers
** its sans-I/O session in place of the network, with the welcome and
** changes pages the sync connection sends (sync/responder.c), made from
** the rows.
*/
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "log.h"
#include "responder.h"
#include "visibility.h"

/* What a feed serves: the rows (seq order) and who the replica plays. */
typedef struct feed_opts {
    const fsv_user *user;
    fdsp_change *rows;
    size_t n_rows;
} feed_opts;

/* Run r's sync session against the rows until it is idle. */
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
        /* The server's own answers (sync/responder.h), as the sync
        ** connection sends them. */
        if (m->type == FDSP_HELLO) {
            fdsp_msg w;
            fsv_resp_welcome(&w, o->user, m->device,
                             o->n_rows ? o->rows[o->n_rows - 1].seq : 0);
            rc = fdsp_encode(&w, &reply, &rlen) == FDSP_OK ? 0 : -1;
        } else if (m->type == FDSP_PULL) {
            rc = fsv_resp_pull_rows(o->rows, o->n_rows, m, 0, &reply,
                                    &rlen) == FDSP_OK ? 0 : -1;
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
        fsv_err("api_view user=%s why=%s", o->user->name, fds_session_errmsg(s));
    fds_session_free(s);
    return ret;
}

static int open_fed(feed_opts *o, fds_replica **out)
{
    char err[256];
    *out = NULL;
    if (fds_replica_open(":memory:", NULL, out, err, sizeof err) != FDS_OK) {
        fsv_err("api_view why=%s", err);
        return -1;
    }
    if (feed(*out, o) != 0) {
        fds_replica_close(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

/* A replica fed exactly the given rows (seq order). */
static int replica_of(fsv_api *api, const fsv_user *u, fdsp_change *rows,
                      size_t n, fds_replica **r)
{
    (void)api;
    feed_opts o = {u, rows, n};
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
        fsv_err("api_sheet customer=%s why=%s", customer, fsv_store_errmsg(st));
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
}
