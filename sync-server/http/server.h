/*
** server.h — the libwebsockets server: one TLS port carrying the HTTP
** handler (http.c: dashboard and, later, the JSON API) and the sync
** WebSocket protocol (ws_sync.c).
**
** Threading model: one thread.  libwebsockets (built with LWS_MAX_SMP 1)
** runs every callback on the service thread, and each push or pull runs its
** store transaction to completion inside its callback, so transactions
** never interleave and no locking exists anywhere.  SQLite with WAL and
** synchronous=FULL makes a push's commit durable before its ack is queued.
*/
#ifndef FSV_SERVER_H
#define FSV_SERVER_H

#include <libwebsockets.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define FSV_TX_CHUNK      (32 * 1024)   /* bytes per WebSocket frame we send */
#define FSV_IDLE_PING_S   60           /* ping after this much silence */
#define FSV_IDLE_HANGUP_S 75           /* drop a peer silent this long */
#define FSV_SHUTDOWN_MS   1000          /* polite close budget on SIGTERM */
#define FSV_LIVE_MAX_QUEUED 4           /* a device with this many messages
                                        ** unsent gets no more live batches
                                        ** or notifies, one notify when its
                                        ** queue drains (sync_live.c) */
#define FSV_PULL_FREE_MIN  100          /* a pull answered with a page of at
                                        ** least min(this, max_batch) changes
                                        ** and more after it is not counted
                                        ** by the rate limit (ws_sync.c) */
#define FSV_RX_MAX_QUEUED  8            /* stop reading a connection while
                                        ** this many answers wait unsent */

/* TLS profiles (Mozilla's server-side TLS recommendations, v5.7).
** intermediate: TLS 1.2 with AEAD ciphers only (ECDHE + AES-GCM or
** ChaCha20-Poly1305; DHE needs DH parameters the server never loads, so it
** is never offered) and TLS 1.3 with its three standard suites.
** modern: TLS 1.3 only.  Every phone and browser since 2018 speaks 1.3; a
** site with no older clients picks modern. */
enum { FSV_TLS_INTERMEDIATE = 0, FSV_TLS_MODERN = 1 };
#define FSV_TLS12_CIPHERS                                                    \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"             \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"             \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"             \
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:"                   \
    "DHE-RSA-CHACHA20-POLY1305"
#define FSV_TLS13_SUITES                                                     \
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"                         \
    "TLS_CHACHA20_POLY1305_SHA256"

/* The event loop under libwebsockets (--event-loop).  poll (the
** default): lws' own poll() over every descriptor at each wake-up.  uv:
** lws' libuv plugin on a loop of ours (epoll, O(1) per event; issue 17,
** docs/BENCHMARKS.md), but lws 4.1.6 closes a connection on an event lib
** without waiting for its last frames to leave (close.c: only the poll
** loop has LELOF_ISPOLL), so a fatal error's close frame and its status
** can be lost (tests/server/test_wire.c sees no 1008/1009): opt-in. */
enum { FSV_LOOP_POLL = 0, FSV_LOOP_UV = 1 };

typedef struct fsv_config {
    const char *host;       /* listen address ("0.0.0.0", "::", an IP) */
    int port;
    const char *cert;       /* PEM certificate (chain) */
    const char *key;        /* PEM private key, mode 0600 */
    int max_batch;          /* changes per changes message, 1..FDSP_MAX_BATCH */
    const char *web_dir;    /* --web DIR (NULL: env, installed, build dist) */
    int tls_profile;        /* FSV_TLS_INTERMEDIATE or FSV_TLS_MODERN */
    const char *data_dir;   /* --data DIR (the metrics token's hash is there) */
    const char *tz;         /* --tz ZONE for the figures (NULL: local) */
    long open_files;        /* the open-file limit serve raised itself to
                            ** (one per connection; docs/SERVER.md), for
                            ** the start line; 0 unknown */
    int event_loop;         /* FSV_LOOP_POLL (0, the default) or FSV_LOOP_UV */
    int no_group_commit;    /* each push commits alone (--group-commit off,
                            ** serve's default; 0 here: on) */
} fsv_config;

struct fsv_conn;
struct fsv_api;
struct fsv_metrics;

typedef struct fsv_server {
    struct lws_context *ctx;
    fsv_store *store;
    struct fsv_conn *conns;         /* established sync connections */
    volatile sig_atomic_t *stop;    /* set by the signal handler */
    lws_sorted_usec_list_t tick;    /* wakes the loop to notice *stop */
    int shutting_down;
    int max_batch;                  /* from fsv_config */
    struct fsv_api *api;            /* HTTP API, dashboard, /live (api.h) */
    struct fsv_authlim *authlim;    /* failed logins per address (authlim.c) */
    uint64_t hlc;                   /* the server's HLC (rule 14, sync_trust.c) */
    struct fsv_metrics *metrics;    /* counters for GET /metrics (metrics.h) */
    const char *data_dir;           /* from fsv_config (ops.c) */
    /* Token re-checks (ws_sync.c auth_tick): one timer for all sessions,
    ** running while any is connected; the store's data_version it last
    ** saw, -1 to re-check every session on the next tick. */
    lws_sorted_usec_list_t auth_tick;
    int auth_timer;
    unsigned idle_ticks;            /* auth ticks since the last idle check */
    /* Pushes waiting for the end of the loop turn: one transaction for
    ** all of them (group commit, sync_ops.c). */
    int no_group_commit;            /* from fsv_config */
    struct fsv_pushq *pq;
    size_t n_pq, cap_pq;
    lws_sorted_usec_list_t push_sul;
    int push_timer;
    int64_t auth_dv;
    /* The highest head another process's commits were seen at
    ** (fsv_live_remote, PostgreSQL's several serve processes). */
    int64_t remote_head;
    /* The store's commit notifications adopted into the loop
    ** (sync_notify.c); NULL when none (SQLite, or the connection is down). */
    struct lws *notify_wsi;
    unsigned closes;                /* sync connections closed (ws_sync.c) */
    /* Closed devices' last sync, written in one transaction per
    ** FSV_SEEN_FLUSH_MS (ws_sync.c), not one commit per close. */
    struct fsv_seen *seen;
    size_t n_seen, cap_seen;
    lws_sorted_usec_list_t seen_sul;
    int seen_timer;
    /* Moves (`user set`, sync_moves.c): the latest move id this process
    ** knows of; a session applies the moves after its moves_done. */
    int64_t moves_head;
    /* The customer pool's automatic return (sync/pool.c): every minute. */
    lws_sorted_usec_list_t pool_sul;
} fsv_server;

/* A queued outgoing message of a sync connection. */
struct fsv_out {
    struct fsv_out *next;
    size_t len, off;            /* message length, bytes already sent */
    unsigned char buf[];        /* LWS_PRE headroom + message */
};

/* One device's sync WebSocket connection (lws allocates and frees it as
** per-session data).  Named conn, not session: core's fds_session is the
** device's sans-I/O sync state, and "session" on the server means a
** dashboard login (http_auth.c). */
typedef struct fsv_conn {
    struct lws *wsi;
    fsv_server *srv;
    struct fsv_conn *next, *prev;
    int linked;                 /* in srv->conns */
    fsv_user user;              /* from the token (FILTER_PROTOCOL_CONNECTION) */
    char token_id[FSV_TOKEN_ID_LEN + 1];
    char device[FDSP_MAX_ID + 1];   /* from hello; "" before */
    char peer[64];
    int hello_done;
    unsigned char *rx;          /* message being reassembled */
    size_t rx_len, rx_cap;
    int rx_discard;             /* dropping an oversized message */
    struct fsv_out *out_head, *out_tail;
    int close_after_send;       /* close once the queue drains */
    int close_code;             /* LWS_CLOSE_STATUS_* for that close */
    int64_t rate_start_ms;      /* start of the current 1 s window */
    int rate_count;             /* messages in it */
    lws_sorted_usec_list_t rate_sul;    /* re-enables reading */
    int throttled;
    int rate_free;              /* set by the handler: this message asked
                                ** for work it got (a full pull page), so
                                ** the rate limit does not count it */
    int out_paused;             /* reading stopped: FSV_RX_MAX_QUEUED
                                ** answers unsent (back-pressure) */
    int64_t connected_ms;
    int64_t rx_ms;              /* anything last received (a pong too):
                                ** the idle ping and hang-up (ws_sync.c) */
    int64_t ping_ms;            /* our last ping, 0: none */
    int ping_owed;              /* send a ping at the next WRITEABLE */
    int push_wait;              /* a push queued for the group commit:
                                ** reading stopped until it is answered */
    int64_t pushed, pulled;     /* changes accepted / sent */
    int64_t cursor;             /* last seq this device was sent up to */
    /* Live batches (sync_live.c, PROTOCOL.md §3 step 4). */
    int live;                   /* the hello said "live": takes changes
                                ** sent unprompted */
    int groups;                 /* the hello said "groups": reads change
                                ** groups, so changes go out grouped
                                ** (PROTOCOL.md §5.1) */
    int64_t live_to;            /* caught up: nothing it may see lies in
                                ** (cursor, live_to]; -1 while not known
                                ** (before its first complete pull) */
    int out_n;                  /* messages in the output queue */
    int64_t notify_owed;        /* head to notify once the queue drains
                                ** (a device too far behind to be sent
                                ** more; 0: none) */
    /* Security (docs/SECURITY.md). */
    int rate_warned;            /* rate_limited sent (once per connection) */
    int64_t vis_done;           /* visibility events handled up to this seq */
    fdsp_change *resend;        /* full state still to send (assign/share) */
    size_t n_resend, resend_pos;
    /* Trust (rules 11-15, sync_trust.c, docs/internals/trust.md). */
    int restore;                /* the hello showed a restored server */
    int rehello_ok;             /* one more hello allowed (a device reset) */
    char **clashed;             /* devices refused with device_clash here */
    size_t n_clashed;
    /* Moves (sync_moves.c): applied up to moves_done; the device's mark in
    ** the store says moves_saved. */
    int64_t moves_done, moves_saved;
    /* Blobs (sync_blobs.c, PROTOCOL.md §14). */
    int blobs;                  /* the hello said "blobs" */
    char blob_ok[FDSP_SHA256_HEX + 1];  /* upload of this blob was allowed */
} fsv_conn;

/* Run the server until *stop becomes non-zero.  Returns 0 after a clean
** shutdown, -1 if it could not start (message in err). */
int fsv_server_run(const fsv_config *cfg, fsv_store *store,
                   volatile sig_atomic_t *stop, char *err, size_t errlen);

/* Protocol callbacks (http.c, ws_sync.c). */
int fsv_http_callback(struct lws *wsi, enum lws_callback_reasons reason,
                      void *user, void *in, size_t len);
int fsv_sync_callback(struct lws *wsi, enum lws_callback_reasons reason,
                      void *user, void *in, size_t len);
/* ws_sync.c: lws's permessage-deflate callback with what the sync
** protocol's compression keeps between messages (issue 17). */
int fsv_sync_pmd(struct lws_context *ctx, const struct lws_extension *ext,
                 struct lws *wsi, enum lws_extension_callback_reasons reason,
                 void *user, void *in, size_t len);

/* ws_sync.c: a session's output.  enqueue copies buf; send encodes m
** (which it only borrows); error sends an error message and, when fatal,
** closes the connection once it is written.  All return 0 or -1 (close). */
int fsv_conn_enqueue(fsv_conn *s, const char *buf, size_t len);
/* The same for a message given in two pieces, a then b (copied). */
int fsv_conn_enqueue2(fsv_conn *s, const char *a, size_t alen, const char *b,
                      size_t blen);
int fsv_conn_send(fsv_conn *s, const fdsp_msg *m);
int fsv_conn_error(fsv_conn *s, int code, int64_t batch, int fatal,
                   const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

/* sync_ops.c: the device's messages.  Return 0, or -1 to close. */
int fsv_sync_hello(fsv_conn *s, const fdsp_msg *m);
int fsv_sync_push(fsv_conn *s, fdsp_msg *m);   /* sets each change's user */
/* Group commit (sync_ops.c): queue the push for the end of this loop turn
** and stop reading its connection until it is answered; returns 1 when
** queued (m is then owned by the queue), 0 to run it now. */
int fsv_sync_push_defer(fsv_conn *s, fdsp_msg *m);
void fsv_sync_push_forget(fsv_conn *s);     /* its connection closed */
void fsv_sync_push_stop(fsv_server *srv);   /* shutdown: drop the queue */
int fsv_sync_pull(fsv_conn *s, const fdsp_msg *m);
/* sync_ops.c: revoke the customers ids[0..n) on s (FDSP_MAX_REVOKE a
** message).  0, or -1 to close. */
int fsv_sync_revoke(fsv_conn *s, char **ids, size_t n);

/* sync_moves.c: users moved by `user set` (store.h "Teams and moves").
** hello: read the device's mark inside the hello's transaction (FSV_OK or
** the store's code).  apply: outside any transaction, apply the moves s
** has not had (revokes at once, full state queued; live: also a live
** batch to a caught-up device); 0 or -1 to close.  save: note in the
** store that the device has had them, once the queue is delivered.
** tick: the running server's check after another process committed. */
int fsv_moves_hello(fsv_conn *s, const char *device);
int fsv_moves_apply(fsv_conn *s, int live);
int fsv_moves_save(fsv_conn *s);
void fsv_moves_tick(fsv_server *srv);

/* sync_blobs.c: blob_put and blob_get (PROTOCOL.md §14). */
int fsv_sync_blob_put(fsv_conn *s, const fdsp_msg *m);
int fsv_sync_blob_get(fsv_conn *s, const fdsp_msg *m);
/* sync_live.c: after a push from `from` committed (c: its changes, each
** appended one with its seq; head: the head after the commit): each other
** session that may see a change gets it, a caught-up live device as a live
** batch encoded once per visibility class, any other a notify.  set: who
** sees the batch, built before the commit (taken over; may be NULL). */
struct fsv_vis_set;
void fsv_live_fan_out(fsv_conn *from, const fdsp_change *c, size_t n,
                      int64_t head, int vis_changed, struct fsv_vis_set *set);

/* sync_live.c: another process (several serve processes on one
** PostgreSQL store) committed and the head is now head: every session
** whose cursor is behind it gets a notify and pulls.  Asked at once by
** the store's commit notification (sync_notify.c, PostgreSQL NOTIFY),
** and as the fallback by the once-a-second tick that watches the store's
** data version (ws_sync.c): none per device.  (Live batches stay within the process that took the push.) */
void fsv_live_remote(fsv_server *srv, int64_t head);

/* sync_notify.c: the store's commit notifications (PostgreSQL LISTEN)
** in the event loop, so another process's commit reaches devices here at
** once.  fsv_notify_watch adopts the store's descriptor when there is one
** and none is adopted (called by the once-a-second tick: a lost
** connection comes back).  fsv_notify_callback is the raw protocol's. */
#define FSV_NOTIFY_PROTOCOL "fieldsync-store-notify"
void fsv_notify_watch(fsv_server *srv);
int fsv_notify_callback(struct lws *wsi, enum lws_callback_reasons reason,
                        void *user, void *in, size_t len);

/* sync_sums.c: a device's checksums (docs/internals/trust.md, the safety
** net): answers repair and queues the differing buckets' full state in
** s->resend for the following pulls.  0, or -1 to close. */
int fsv_sync_sums(fsv_conn *s, const fdsp_msg *m);
/* Tell every connected device that the head moved to head (a notify: it
** pulls), after a write no device pushed (sync/pool.c's return). */
void fsv_live_notify_all(fsv_server *srv, int64_t head);
/* The bucket checksums of what u may see (the XOR of the visible keys'
** checksums).  With keys non-NULL, *keys (malloc'd) and *n_keys are those
** visible keys.  Inside a read transaction. */
int fsv_sums_for_user(fsv_store *st, const fsv_user *u,
                      uint64_t sums[FDSP_SUM_BUCKETS], fsv_sum_key **keys,
                      size_t *n_keys);

/* Queue a polite close (GOINGAWAY) on every session (shutdown). */
void fsv_sync_close_all(fsv_server *srv);
/* Write the closed devices' last sync still waiting (ws_sync.c); after
** lws_context_destroy, once more, to write those of the last closes. */
void fsv_sync_seen_flush(fsv_server *srv);

int64_t fsv_now_ms(void);

#endif /* FSV_SERVER_H */
