/*
** sync_trust.h — the server's checks of DESIGN.md rules 11-15 on a sync
** session (docs/internals/trust.md): version vectors against the accepted
** counters (rule 15), re-sent duplicates and device clashes, relayed
** changes after a server restore (rule 13), and the clock bound (rule 14).
** sync_ops.c calls these; the store keeps what they decide (store.h,
** "Trust").
*/
#ifndef FSV_SYNC_TRUST_H
#define FSV_SYNC_TRUST_H

#include <stddef.h>
#include <stdint.h>

#include "server.h"

/* A change whose HLC is more than this ahead of the server's clock is
** re-stamped with the server's HLC (rule 14).  core's fieldsync.h defines
** it for the device (branch trust-device), with the same guard. */
#ifndef FDS_CLOCK_BOUND_MS
#define FDS_CLOCK_BOUND_MS (5 * 60 * 1000)
#endif

/* The device_clash refusal (rule 12). */
#define FSV_E_CLASH FDSP_E_CLASH

/* The accepted counters of one push, loaded once per device and batch and
** raised by the changes accepted earlier in it (rule 15 step 2). */
typedef struct fsv_trust_batch fsv_trust_batch;
fsv_trust_batch *fsv_trust_batch_new(void);
void fsv_trust_batch_free(fsv_trust_batch *b);

enum { FSV_TRUST_NEW = 1, FSV_TRUST_DUP = 2 };

/* Rule 15 for change c of a push on session s (inside the push's write
** transaction).  relayed: c->device is not the connection's device (a
** restore re-send): c->user must name a known user and the device, if
** bound, must be bound to that user.  Returns FSV_OK with either *refusal
** 0 and *verdict NEW (store it) or DUP (a re-sent duplicate of the history
** row (d, vv[d]): accept it without storing, *stored_hlc is that row's
** HLC), or *refusal an FDSP_E_* code with why (naming table, record, field
** and the claim), after which a device_clash also refuses every later
** change of c->device on this connection.  Any other return is the
** store's (or FSV_NOMEM's) failure. */
int fsv_trust_check(fsv_conn *s, fsv_trust_batch *b, const fdsp_change *c,
                    int relayed, int *verdict, uint64_t *stored_hlc,
                    int *refusal, char *why, size_t whylen);
/* c (NEW) was stored: its device's accepted counter becomes vv[d].
** FSV_OK. */
int fsv_trust_accepted(fsv_trust_batch *b, const fdsp_change *c);
/* Write the raised counters (before the push commits).  FSV_OK or a store
** error. */
int fsv_trust_flush(fsv_store *st, fsv_trust_batch *b);

/* Rule 14: if c's HLC is more than FDS_CLOCK_BOUND_MS ahead of now_ms,
** give it the server's next HLC (max(now << 16, last + 1)) and return 1;
** else note it in the server's HLC (never past now + the bound) and
** return 0. */
int fsv_trust_clock(fsv_server *srv, fdsp_change *c, int64_t now_ms);

/* Forget the per-connection trust state (clashed devices) on close or on
** the hello of a reset device. */
void fsv_trust_conn_clear(fsv_conn *s);

#endif /* FSV_SYNC_TRUST_H */
