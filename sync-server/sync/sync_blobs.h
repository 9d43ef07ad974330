/*
** sync_blobs.h — photo bytes on the server (PROTOCOL.md §14): files under
** --data, who may have them, and the named limits.
**
**   DIR/blobs/ab/abcdef…       a whole blob, verified by its SHA-256, 0600
**   DIR/blobs/partial/abcdef…  an upload in progress (resumed at its length)
** One file per distinct SHA-256 however many follow-ups name it (dedup).
** Who may have one is the store's blob_ref table (store.h "Blobs").
*/
#ifndef FSV_SYNC_BLOBS_H
#define FSV_SYNC_BLOBS_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* The limits, each refused by name in a blob_ack (the follow-up itself
** syncs whatever its photos do). */
#define FSV_BLOB_MAX_BYTES      (20LL * 1024 * 1024)    /* one photo */
#define FSV_BLOB_MAX_FOLLOWUP   (60LL * 1024 * 1024)    /* one follow-up's */
#define FSV_BLOB_MAX_DAY        (500LL * 1024 * 1024)   /* a rep's uploads in
                                                        ** 24 hours */

/* Rewrite the blob references of follow-up `followup` from its winning
** "attachments" register (inside the push transaction). */
int fsv_blob_refs_update(fsv_store *st, const char *followup);

/* May u have blob sha: is it named by a follow-up u may see (write: the
** same rule, for uploads; a rep writes the follow-ups of the customers
** they see)?  Inside a read or write transaction.  FSV_OK with *may; when
** may, *size (the size the follow-up gives, -1 if none), *fu_total (all
** the photos of that follow-up) and name (the file name, for messages). */
int fsv_blob_access(fsv_store *st, const fsv_user *u, const char *sha,
                    int *may, int64_t *size, int64_t *fu_total, char *name,
                    size_t namelen);

/* The file of a whole blob under data_dir into buf: 0, or -1 if too long. */
int fsv_blob_path(const char *data_dir, const char *sha, char *buf,
                  size_t len);

#endif
