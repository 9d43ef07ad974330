/*
** pool.h — the customer pool (公海) on the server (DESIGN.md "Customer
** pool"): what a release or claim pushed by a device does, the pool's
** rules (cooldown, daily claims, holding cap), and the automatic return
** the server runs itself.
**
** The devices say release and claim with ordinary registers of the
** customer: a release writes owner "" and pool "1" (and pool_since), a
** claim writes owner = the claimer.  The server keeps, beside them, the
** team whose pool the customer is in and its former owner
** (fsv_store_pool_*), decides the rules, and writes the automatic return
** as ordinary changes by user "system" from its own device id, so
** devices learn of it by pull and live notify and history shows it.
*/
#ifndef FSV_POOL_H
#define FSV_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct fsv_server;

#define FSV_POOL_USER "system"          /* who the server's changes are by */
#define FSV_DAY_MS (24LL * 3600 * 1000)
/* How often the automatic return runs while serving (and once at start). */
#define FSV_POOL_TICK_US (60LL * 1000 * 1000)

/* The owner change c (customer.owner, already allowed by the write rules)
** as a pool move, inside the push transaction, before c is merged: a
** release (owner to "" from an owner) notes the customer in the pool of
** its owner's team; a claim (owner from the pool to a user) checks the
** rules for a user claiming for themselves (cooldown, claims per day,
** holding cap; *claims counts this batch's claims, zero it per batch) and
** takes it out of the pool.  A refusal is *code FDSP_E_FORBIDDEN with why
** naming the rule ("pool_rule: ... cooldown-days ..."), and nothing
** written.  *kind FSV_VIS_POOL and team (FSV_NAME_MAX + 1) set for a
** claim (the visibility event: who saw it in the pool may lose it), else
** *kind 0.  FSV_OK or the store's code. */
int fsv_pool_owner_change(fsv_store *st, const fsv_user *u,
                          const fdsp_change *c, int64_t now_ms, int *claims,
                          int *code, char *why, size_t whylen, int *kind,
                          char *team);

/* When customer id (stage, last follow-up last_followup_ms or -1) goes back
** to the pool under return_days: *at in ms, or -1 when it never does (won).
** The owner's clock starts at the later of the last follow-up and the time
** its owner was last set (creation, claim, assign); core's pool.c computes
** the same on the device for today's "returning". */
int fsv_pool_return_at(fsv_store *st, const char *id, const char *stage,
                       int64_t last_followup_ms, int64_t return_days,
                       int64_t *at);

/* One round of the server's own pool work in one write transaction: the
** rules published to the devices as the pooldef record when they changed,
** and every customer whose owner logged no follow-up for return_days (and
** that is not won) returned to the pool as changes by "system".  *changed
** 1 if anything was written.  FSV_OK or the store's code (rolled back). */
int fsv_pool_run(fsv_store *st, int64_t now_ms, int *changed, int *returned);

/* Start the server's pool timer: fsv_pool_run now and every
** FSV_POOL_TICK_US, telling connected devices (notify) when it wrote. */
void fsv_pool_start(struct fsv_server *srv);
void fsv_pool_stop(struct fsv_server *srv);

#endif /* FSV_POOL_H */
