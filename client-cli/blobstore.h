/*
** blobstore.h — the device's blob folder: attachment bytes, named by
** SHA-256, in "<replica>.blobs/" next to the replica file:
**     ab/abcdef…        a whole blob (verified), 0600
**     partial/abcdef…   a download in progress (resumed from its length)
**     tmp/              files being copied in (renamed when hashed)
** Never inside the replica: the register rows stay small, and a replica
** copied without its folder still syncs (the bytes are fetched again).
** Implements core's fds_blob_io for the sync session.
*/
#ifndef CLI_BLOBSTORE_H
#define CLI_BLOBSTORE_H

#include <stdint.h>
#include <jansson.h>
#include "fieldsync.h"

typedef struct cli_blobs {
    char dir[4096];         /* "<replica>.blobs" */
} cli_blobs;

/* The folder of the replica at db_path (not created yet).  0 or -1. */
int cli_blobs_init(cli_blobs *b, const char *db_path);
/* Copy file `path` into the store: *out = {"name","type","size","sha256"}
** for fds_followup_add's "attachments".  0, or -1 with why filled. */
int cli_blobs_add_file(cli_blobs *b, const char *path, json_t **out,
                       char *why, size_t whylen);
/* 1 if blob sha is whole here. */
int cli_blobs_have(const cli_blobs *b, const char *sha);
/* Path of the whole blob into buf. */
void cli_blobs_path(const cli_blobs *b, const char *sha, char *buf,
                    size_t len);
/* Set "have" on every attachment in j (any depth: a sheet, a list). */
void cli_blobs_mark(const cli_blobs *b, json_t *j);
/* core's callbacks over this store (ctx = b). */
void cli_blobs_io(cli_blobs *b, fds_blob_io *io);

#endif
