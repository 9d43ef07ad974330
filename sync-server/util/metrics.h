/*
** metrics.h — the server's counters and latency histograms, rendered in
** Prometheus' text exposition format (version 0.0.4) for GET /metrics
** (http/ops.c).
**
** One fsv_metrics per server, owned by fsv_server (server.c makes it and
** frees it); no globals.  Everything runs on the single service thread, so
** the counters are plain integers.  Every function accepts a NULL handle
** and then does nothing: code under test without a server (tests/server
** test_store) never needs one.
**
** What a series means is in docs/SERVER.md, "Metrics"; the names follow
** Prometheus' conventions (base units, _total for counters, _seconds).
*/
#ifndef FSV_METRICS_H
#define FSV_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct fsv_metrics fsv_metrics;

/* Counters (monotonic; labels, where any, are fixed below). */
enum fsv_counter {
    FSV_C_CONNECTS = 0,     /* sync WebSockets established */
    FSV_C_PUSHES,           /* push messages answered with an ack */
    FSV_C_PULLS,            /* pull messages answered */
    FSV_C_MERGED,           /* changes merged into the store (new history rows) */
    FSV_C_DUPLICATES,       /* pushed changes already known (re-sends) */
    FSV_C_CONFLICTS,        /* merges that made a conflict */
    FSV_C_SENT,             /* changes sent to devices by pulls */
    FSV_C_NOTIFIES,         /* live notify messages sent (fan-out) */
    FSV_C_LIVE_SENT,        /* changes sent unasked to caught-up devices */
    FSV_C_RATE_LIMITED,     /* a connection paused by the message rate limit */
    FSV_C_AUTH_FAILED,      /* refused credentials (sync, /metrics) */
    FSV_C_AUTH_BLOCKED,     /* requests refused 429: address over the limit */
    FSV_C_TLS_FAILED,       /* TLS handshakes that ended in a fatal alert */
    FSV_C_BLOB_CHUNKS_IN,   /* blob_put chunks written (sync_blobs.c) */
    FSV_C_BLOB_BYTES_IN,    /* blob bytes written from devices */
    FSV_C_BLOB_BYTES_OUT,   /* blob bytes sent to devices */
    FSV_C_BLOBS_STORED,     /* blobs made whole and verified */
    FSV_C_BLOBS_REFUSED,    /* blob uploads or fetches refused */
    FSV_C_REMOTE_NOTIFIED,  /* other processes' heads learned by a store
                            ** notification (PostgreSQL NOTIFY, sync_notify.c) */
    FSV_C__COUNT
};

/* Latency histograms (seconds). */
enum fsv_hist {
    FSV_H_PUSH = 0,         /* a push: message in to ack queued */
    FSV_H_PULL,             /* a pull: message in to changes queued */
    FSV_H_FANOUT,           /* after a push's commit, notifying every peer */
    FSV_H_STORE_WRITE,      /* a push's store transaction, BEGIN to COMMIT */
    FSV_H_STORE_READ,       /* a pull's read snapshot */
    FSV_H__COUNT
};

/* Things read at scrape time rather than counted. */
typedef struct fsv_gauges {
    int64_t devices;        /* sync connections open (after hello or not) */
    int64_t dashboards;     /* /live sockets open */
    int64_t head;           /* history head (-1: the store did not answer) */
    int store_up;           /* 1 if the store answered the scrape's read */
} fsv_gauges;

/* A new zeroed set; NULL when out of memory (metrics then stay off). */
fsv_metrics *fsv_metrics_new(void);
void fsv_metrics_free(fsv_metrics *m);

/* A monotonic clock in microseconds, for the durations below. */
int64_t fsv_metrics_now_us(void);

void fsv_metrics_add(fsv_metrics *m, enum fsv_counter c, uint64_t n);
#define fsv_metrics_inc(m, c) fsv_metrics_add((m), (c), 1)
/* One observation of us microseconds (negative counts as 0). */
void fsv_metrics_observe(fsv_metrics *m, enum fsv_hist h, int64_t us);
/* A change refused in a push ack, by its FDSP_E_* code. */
void fsv_metrics_refused(fsv_metrics *m, int fdsp_code);
/* An error message sent to a device, by its FDSP_E_* code. */
void fsv_metrics_error_sent(fsv_metrics *m, int fdsp_code);
/* An HTTP response, by status. */
void fsv_metrics_http(fsv_metrics *m, int status);

/* The whole exposition text into *out (malloc'd, NUL-terminated, length
** *len).  0, or -1 when out of memory. */
int fsv_metrics_render(const fsv_metrics *m, const fsv_gauges *g, char **out,
                       size_t *len);

#endif /* FSV_METRICS_H */
