/*
** transport.h — the device's network side: carries core's sans-I/O sync
** session (fds_session) over a libwebsockets TLS WebSocket client.
** Implemented in transport_lws.c.  The CLI's `init` and `sync` commands call
** cli_sync(); nothing else in the CLI touches the network.
*/
#ifndef CLI_TRANSPORT_H
#define CLI_TRANSPORT_H

#include <stddef.h>
#include "fieldsync.h"

/* sync --watch sends its replica checksums at most this often (a full
** scan of the registers; see docs/internals/trust.md for its cost). */
#define CLI_SUMS_WATCH_MS (15 * 60 * 1000)
/* Watch: how often photos named by records whose bytes had not reached
** the server are asked for again (the server does not say when they do). */
#define CLI_BLOB_RETRY_MS (3 * 1000)

typedef struct cli_sync_opts {
    const char *server;     /* "wss://HOST:PORT" (required) */
    const char *token;      /* device token (required) */
    const char *ca_path;    /* pinned CA PEM file, or NULL for the system store */
    int watch;              /* 1: stay connected, apply live changes, reconnect
                            ** with backoff until SIGINT/SIGTERM */
    int progress;           /* 1: print a progress line on stderr when a sync
                            ** takes more than a second */
    int log_level;          /* 0 quiet, 1 info, 2 debug (stderr) */
    int timeout_secs;       /* connect/idle deadline for one sync; 0 = 30 */
    /* Watch mode only (may be NULL): called about once a second while the
    ** session is idle, with the counters so far (summed over reconnects),
    ** so a watching rep sees what arrived and what was refused as it
    ** happens rather than at the end. */
    void (*on_idle)(void *arg, const fds_session_stats *so_far);
    void *on_idle_arg;
    /* Blob bytes (photos; fds_session_set_blobs).  blob_io NULL: records
    ** only (`sync --no-blobs`).  blob_stats (may be NULL) gets the blob
    ** counters summed over reconnects; blob_notes (may be NULL), an
    ** array, gets the session notes about photos (refusals by name). */
    const fds_blob_io *blob_io;
    unsigned blob_flags;        /* FDS_BLOBS_UP | FDS_BLOBS_DOWN */
    const char *blob_only;      /* one blob's SHA-256, or NULL */
    fds_blob_stats *blob_stats;
    json_t *blob_notes;
    /* May be NULL (fetch every missing blob): the device's setting for
    ** fetching ahead of time (`fieldsync photos`); the bytes fetched by
    ** earlier sessions of a watch count on top of its used_today (they
    ** are summed in blob_stats, which it then needs). */
    const fds_blob_policy *blob_policy;
    /* May be NULL: the day's photo bytes kept by the caller.  With them
    ** the transport does that accounting itself: photos_spent gets the
    ** bytes fetched since its last call, about once a second in a watch
    ** and once at the end (so a watch that is killed, or runs past
    ** midnight, still counts what it fetched, once), and each session
    ** starts from photos_policy read afresh (a new day starts at 0)
    ** instead of blob_policy.  photos_spent returns 0 once recorded. */
    int (*photos_spent)(void *arg, int64_t bytes);
    void (*photos_policy)(void *arg, fds_blob_policy *p);
    void *photos_arg;
    /* May be NULL: a JSON array the duplicate-customer notices of every
    ** session of the run are appended to (fds_session_duplicates). */
    json_t *duplicates;
} cli_sync_opts;

/* Run one sync (or, with watch, sync until interrupted).  Fills *st with
** the session's counters (summed over reconnects in watch mode).
** Returns a CLI exit code: 0 ok; 1 other failure; 4 server unreachable
** (connection or TLS handshake failed; local data untouched); 5 token
** refused or permission error from the server.  On non-zero, err holds one
** line naming what was wrong. */
int cli_sync(fds_replica *r, const cli_sync_opts *o, fds_session_stats *st,
             char *err, size_t errlen);

#endif /* CLI_TRANSPORT_H */
