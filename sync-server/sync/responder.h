/*
** responder.h — the server's answers to a device's hello and pull, made
** without I/O (the server-side counterpart of core's sans-I/O session).
** The sync WebSocket (sync_ops.c) queues what these return; the
** dashboard's views (api/api_view.c) feed the same bytes to a replica that
** plays a device.  One code path shapes a welcome and a changes page.
*/
#ifndef FSV_RESPONDER_H
#define FSV_RESPONDER_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* The welcome to a hello from user u's device, with the head the device
** may pull up to.  Fills *w (borrowing u's and device's strings); the
** sync connection adds what only it knows (counters, store id, epoch,
** time, groups, blobs). */
void fsv_resp_welcome(fdsp_msg *w, const fsv_user *u, const char *device,
                      int64_t head);

/* One changes message answering a pull from rows[0..n) (seq order, those
** the device may see): as many as fit in one frame (FDSP_MAX_FRAME),
** halving the count until the encoding fits.  When all n fit: last and
** more as given; when fewer: more 1, and last the seq of the last row sent
** unless last_fixed (a full-state resend keeps the device's cursor).
** enc: fdsp_encode_opt's flags (FDSP_ENC_GROUPS).  FDSP_OK with *buf
** (malloc'd, *len bytes), *sent rows, *page_last and *page_more as
** encoded; or the encoder's code (nothing fits even alone). */
int fsv_resp_page(const fdsp_change *rows, size_t n, int64_t last, int more,
                  int last_fixed, unsigned enc, char **buf, size_t *len,
                  size_t *sent, int64_t *page_last, int *page_more);

/* A pull answered from a list of rows held in memory (seq order): the rows
** after pull->after, at most pull->limit (else FDSP_MAX_BATCH), as
** fsv_resp_page encodes them.  FDSP_OK or the encoder's code. */
int fsv_resp_pull_rows(const fdsp_change *rows, size_t n, const fdsp_msg *pull,
                       unsigned enc, char **buf, size_t *len);

#endif /* FSV_RESPONDER_H */
