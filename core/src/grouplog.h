/*
** grouplog.h — the replica's change log as change groups (schema 4,
** docs/internals/core.md "The change log: one row per change group").
**
** A group is the changes of one record written by one local action, or
** received for one record from one device and user in one applied batch,
** with one at_ms.  It is one row of `glog`:
**
**   glog(gseq INTEGER PRIMARY KEY,  -- local order of the groups
**        tbl, rid, device, user,    -- shared by the changes (device: the
**                                   --   first change's; a change made
**                                   --   under another id says so)
**        origin INTEGER,            -- 1 made here, 0 received
**        at_ms INTEGER,             -- server time if known, else local
**        n INTEGER,                 -- changes in the group (1..GROUP_MAX)
**        body BLOB,                 -- fds__group_encode(): per change
**                                   --   field, value, device, hlc, sseq, vv
**        flags BLOB,                -- n bytes, one per change: acked in
**                                   --   bits 0-1 (0, 1, 2 = refused),
**                                   --   bit 2 resend; NULL = all zero
**        outbox INTEGER,            -- 1: origin 1 with a change acked 0
**        resend INTEGER)            -- 1: a change queued for re-send
**   index glog_outbox ON glog(gseq) WHERE outbox = 1
**   index glog_resend ON glog(gseq) WHERE resend = 1
**   index glog_by_rec ON glog(tbl, rid)
**
** Every change keeps its own address, lseq = gseq << FDS__GROUP_SHIFT |
** index: in the group order first, then the order within the group, which
** is the order the changes were made or applied.  The eponymous virtual
** table `log` (logvtab.c) shows the groups as the per-change rows of
** schema 3 under those addresses, so the readers of the log (history,
** trust, session, customer times) keep their queries.
*/
#ifndef FDS_GROUPLOG_H
#define FDS_GROUPLOG_H

#include "internal.h"

#define FDS__GROUP_SHIFT 8
#define FDS__GROUP_MAX (1 << FDS__GROUP_SHIFT)    /* changes in one row */
#define FDS__GROUP_FMT 1                          /* body format byte */

/* Flags byte of one change. */
#define FDS__GF_ACKED 0x03          /* mask: 0 not acked, 1 acked, 2 refused */
#define FDS__GF_RESEND 0x04

/* SQL: the group of this glog row holds a change the server did not
** refuse (a flags byte other than 2 and 6, or no flags). */
#define FDS__GLOG_TOOK_EFFECT \
    "(flags IS NULL OR instr(flags, x'00') OR instr(flags, x'01') OR " \
    "instr(flags, x'04') OR instr(flags, x'05'))"

/* ---- Body codec (groupcodec.c): pure, no SQLite ------------------------ */

/* Encode c[0..n) (field, value, vv, hlc, device, seq of each; table,
** record and user are the row's) into b, after whatever b holds.  gdev is
** the row's device column: a change made by another device names its
** own.  FDS_INVALID if n is 0 or over FDS__GROUP_MAX, or a change is not
** one a replica can hold (empty field, vector empty or over
** FDSP_MAX_VV, a counter 0, a negative seq); b->oom on out of memory. */
int fds__group_encode(const fdsp_change *c, size_t n, const char *gdev,
                      fds__buf *b);
/* The same, trusting that every value is valid UTF-8 of at most
** FDSP_MAX_VALUE bytes when values_checked is 1 (the pending group: every
** value was checked by the write or apply that logged it, and scanning a
** follow-up's text again cost a tenth of the group's encoding). */
int fds__group_encode_checked(const fdsp_change *c, size_t n,
                              const char *gdev, fds__buf *b,
                              int values_checked);
/* Decode a body: *out gets n changes (malloc'd array; each change's
** field, value, device and vv malloc'd, table/record/user NULL; release
** with fds__group_free).  FDS_NOMEM, or FDS_DB for anything that is not
** exactly what fds__group_encode writes for valid changes (truncated,
** trailing bytes, a length or index out of range, invalid UTF-8, a vector
** that ends empty or unsorted). */
int fds__group_decode(const unsigned char *p, size_t len, const char *gdev,
                      fdsp_change **out, size_t *n);
void fds__group_free(fdsp_change *c, size_t n);

/* ---- The group log on a replica (grouplog.c) --------------------------- */

/* Per-handle state: the pending group of the action being written and
** the statements of the group log. */
typedef struct fds__glog fds__glog;

int fds__glog_open(fds_replica *r);             /* at open, after schema */
void fds__glog_close(fds_replica *r);
/* Append one change to the pending group (a new group when it is of
** another record, device, user, origin or at_ms, or full).  The change is
** copied.  The group is written by fds__glog_flush. */
int fds__glog_add(fds_replica *r, const char *tbl, const char *rid,
                  const char *field, const fdsp_change *c, int origin,
                  int64_t sseq, int64_t at_ms);
/* Write the pending group (if any) as one row.  fds__begin and fds__end
** call it, so a group never crosses a savepoint; discard drops it (the
** savepoint it was made in rolls back). */
int fds__glog_flush(fds_replica *r);
void fds__glog_discard(fds_replica *r);

/* Per-change state, addressed by lseq: set the bits of `mask` in the
** flags of each change to `val` (acks: FDS__GF_ACKED to 1 or 2; re-send
** queue: FDS__GF_RESEND), one row write per group touched.  Changes of
** lseqs that do not exist are skipped.  `only_if` >= 0: change only the
** ones whose (flags & mask) == only_if. */
int fds__glog_mark(fds_replica *r, const int64_t *lseq, size_t n, int mask,
                   int val, int only_if);
/* lseq of the first change of every row in [lo, hi] acked: as marking
** each lseq in the range. */
int fds__glog_mark_range(fds_replica *r, int64_t lo, int64_t hi, int mask,
                         int val);

/* Rule 13: every change that took effect here and is not in the outbox
** (received, or own and acknowledged) queued for re-send; *queued gets
** how many (those already queued included, as an UPDATE of them would
** count).  One row write per group that changes. */
int fds__glog_queue_resend(fds_replica *r, int64_t *queued);

/* Migration of a schema-3 log (per-change rows) into groups, in place
** (schema.c runs it inside the migration transaction). */
int fds__glog_migrate(fds_replica *r);

/* The `log` virtual table (logvtab.c), registered on every handle. */
int fds__logvtab_register(fds_replica *r);

/* Row access shared by grouplog.c and logvtab.c. */
typedef struct fds__grow {
    int64_t gseq;
    char *tbl, *rid, *device, *user;    /* malloc'd */
    int origin;
    int64_t at_ms;
    size_t n;
    fdsp_change *c;                     /* decoded body */
    unsigned char *flags;               /* n bytes, malloc'd */
} fds__grow;
/* Read and decode row gseq: FDS_NOTFOUND if there is none; FDS_DB naming
** the row if its body or flags are damaged. */
int fds__grow_load(fds_replica *r, int64_t gseq, fds__grow *g);
/* Read one row from a statement whose columns are gseq, tbl, rid, device,
** user, origin, at_ms, n, body, flags (in that order). */
int fds__grow_from_stmt(fds_replica *r, sqlite3_stmt *st, fds__grow *g);
/* Write g back (body, flags, device, summaries); g->n == 0 deletes it. */
int fds__grow_store(fds_replica *r, const fds__grow *g);
void fds__grow_clear(fds__grow *g);

#endif /* FDS_GROUPLOG_H */
