/*
** blobx.h — the blob transfer of a sync session (PROTOCOL.md §14), kept
** apart from session.c's record machinery: session.c asks it for a
** message only when it has none of its own, and hands it blob_ack and
** blob_data.  Sans-I/O: bytes come and go through fds_blob_io.
*/
#ifndef FDS_BLOBX_H
#define FDS_BLOBX_H

#include "internal.h"

typedef struct fds__blobx fds__blobx;

/* attach.c: the "attachments" register. */
int fds__attachments_norm(fds_replica *r, const json_t *in, char **text);
json_t *fds__attachments_json(const char *text);

/* notes: the session's notes array (borrowed), for refusals by name. */
int fds__blobx_new(fds_replica *r, const fds_blob_io *io, unsigned flags,
                   const char *only, json_t *notes, fds__blobx **out);
void fds__blobx_free(fds__blobx *x);
/* The welcome said "blobs" (or not: then nothing moves). */
void fds__blobx_peer(fds__blobx *x, int blobs);
/* FDS_OK with a message in *buf, FDS_DONE when none now (waiting for an
** answer, or nothing left), or an error. */
int fds__blobx_next(fds__blobx *x, char **buf, size_t *len);
/* blob_ack / blob_data.  FDS_OK, or FDS_PROTO / FDS_NOMEM. */
int fds__blobx_feed(fds__blobx *x, const fdsp_msg *m, char *err,
                    size_t errlen);
/* 1 while there is blob work this session (so it does not go idle). */
int fds__blobx_busy(const fds__blobx *x);
/* New local changes (watch mode): look for new blobs once more. */
void fds__blobx_rescan(fds__blobx *x);
/* The device's setting for fetching ahead of time (fds_blob_policy). */
void fds__blobx_policy(fds__blobx *x, const fds_blob_policy *p);
void fds__blobx_stats(const fds__blobx *x, fds_blob_stats *st);

#endif
