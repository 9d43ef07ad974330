/* sync_notify.c - commit notifications from other serve processes.
**
** On PostgreSQL every write transaction ends with one NOTIFY (store_pg.c),
** and the store keeps a LISTEN connection (store_pg_notify.c).  Its socket
** is adopted into the lws event loop as a raw file descriptor, so a
** commit by another process wakes this one at once and the devices whose
** cursor is behind get a notify (fsv_live_remote), instead of waiting for
** the once-a-second data_version tick (ws_sync.c auth_tick), which stays
** as the fallback and re-adopts a lost connection.
**
** lws gets a dup() of the socket: it closes what it adopted (also when
** adoption fails), while libpq owns and closes the original.  SQLite has
** no descriptor (-1): nothing is adopted and the tick does everything. */
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "server.h"

void fsv_notify_watch(fsv_server *srv)
{
    if (srv->notify_wsi || !srv->ctx)
        return;
    int fd = fsv_store_notify_fd(srv->store);
    if (fd < 0)
        return;
    int mine = dup(fd);
    if (mine < 0)
        return;
    struct lws_vhost *vh = lws_get_vhost_by_name(srv->ctx, "fieldsync");
    if (!vh) {
        close(mine);
        return;
    }
    lws_sock_file_fd_type d;
    d.filefd = mine;
    /* On failure lws has closed `mine`; the next tick tries again. */
    srv->notify_wsi = lws_adopt_descriptor_vhost(vh, LWS_ADOPT_RAW_FILE_DESC, d,
                                                 FSV_NOTIFY_PROTOCOL, NULL);
    if (!srv->notify_wsi)
        fsv_warn("notify_adopt_failed");
}

int fsv_notify_callback(struct lws *wsi, enum lws_callback_reasons reason,
                        void *user, void *in, size_t len)
{
    (void)user; (void)in; (void)len;
    struct lws_context *ctx = lws_get_context(wsi);
    fsv_server *srv = ctx ? lws_context_user(ctx) : NULL;
    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return -1;      /* not a WebSocket subprotocol a peer may ask for */
    case LWS_CALLBACK_RAW_RX_FILE: {
        if (!srv || wsi != srv->notify_wsi)
            return -1;
        int64_t head = 0;
        int got = fsv_store_notify_drain(srv->store, &head);
        if (got < 0) {
            fsv_warn("notify_lost why=listen connection broke");
            return -1;  /* closed here; auth_tick re-adopts */
        }
        if (got > 0 && head > srv->remote_head) {
            fsv_metrics_inc(srv->metrics, FSV_C_REMOTE_NOTIFIED);
            fsv_live_remote(srv, head);
        }
        return 0;
    }
    case LWS_CALLBACK_RAW_CLOSE_FILE:
        if (srv && wsi == srv->notify_wsi)
            srv->notify_wsi = NULL;
        return 0;
    default:
        return 0;
    }
}
