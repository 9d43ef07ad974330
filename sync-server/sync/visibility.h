/*
** visibility.h — who may see and change what (DESIGN.md rule 8, baseline).
**
**  - admin, and a manager of team "*" (head office): everything.
**  - a manager: customers owned by users of their team or of a team below
**    it (teams nest: teamtree.h), their own and those shared with them.
**  - a rep: customers they own — the "owner" field, or the user who created
**    the customer while owner is empty — and customers shared with them.
**  - a pool customer (owner empty and "pool" "1") has no owner: every user
**    of its pool's team sees it (fsv_vis_pool_covers); a rep may release
**    their own customer (owner "") and claim a pool customer (owner =
**    themselves), under the pool's rules (sync_ops.c, sync/pool.c).
**  - a customer's children (followup, plan, feedback, stagechg, share and
**    any other table carrying a "customer" field) go with their customer; a
**    child whose customer the server does not know yet is visible to its
**    creator only.
**  - fielddef and stagedef (definitions) are visible to everyone; only
**    managers and admins may write them.
**  - "owner" (customer assign) is written by managers (on customers they
**    see) and admins; a rep may only name themselves on a new customer.
**    The new owner must be an enabled user (else FDSP_E_NO_USER naming
**    it), unless it is already the owner.
**  - a share record ("CUSTOMER:USER", fields customer, user, deleted) is
**    written only by the customer's owner, a manager of the owner's team, a
**    head-office manager or an admin, and its fields must match its name.
** Who-sees-what changes (assign, share, unshare) are recorded as visibility
** events; sync_ops.c turns them into revoke messages and full-state resends
** on each device's next pull (docs/SECURITY.md).
*/
#ifndef FSV_VISIBILITY_H
#define FSV_VISIBILITY_H

#include <stddef.h>

#include "store.h"
#include "vis_decide.h"

/* The pool's rules as the devices read them: one definition record
** (table pooldef, record "rules", fields return_days, warn_days,
** cooldown_days, max_claims_per_day, max_owned) written by the server as
** user "system" (sync/pool.c); everyone sees it, no device may write it. */
#define FSV_POOL_RULES_TABLE "pooldef"
#define FSV_POOL_RULES_RECORD "rules"

/* 1 if user u sees the pool of pool_team: u's team is pool_team or a team
** below it, or u manages a team pool_team is below (DESIGN.md rule 8; the
** office view's scope asks the same through fsv__store_pool_teams_json).
** 0 on any error reading the team map. */
int fsv_vis_pool_covers(fsv_store *s, const char *pool_team,
                        const fsv_user *u);

/* The store's office-view scope of u (store.h fsv_scope; borrows u's
** strings): everything for who sees everything; else u's customers, those
** shared with u, and for a manager with a team, those of the team's users:
** the rule of fsv_vis_customer, for the office queries to apply in the
** store. */
void fsv_vis_scope(const fsv_user *u, fsv_scope *sc);

/* Is team within team `of` (fsv_teams_within over the store's team map:
** the one place the hierarchy is asked)?  FSV_OK with *within 1/0, or the
** store's code. */
int fsv_vis_team_within(fsv_store *s, const char *team, const char *of,
                        int *within);

/* Every question below loads what it needs from the store at once
** (store.h fsv_vis_facts) and asks the pure rule of vis_decide.h; each
** returns FSV_OK with its answer in the out parameter (1 yes, 0 no), or
** the store's FSV_* code (answer 0). */

/* The effective owner of a customer (owner field, else creator) into
** *owner (malloc'd; NULL if the customer is unknown). */
int fsv_vis_owner(fsv_store *s, const char *customer, char **owner);

/* Could u have seen a customer through `user` (the previous owner or the
** user it was shared with)?  u is that user, or a manager of that user's
** team.  Decides who is sent a revoke, so nobody learns the ids of
** customers they never saw. */
int fsv_vis_may_have_seen(fsv_store *s, const fsv_user *u, const char *user,
                          int *seen);

/* Whether u may see customer `customer`. */
int fsv_vis_customer(fsv_store *s, const fsv_user *u, const char *customer,
                     int *sees);

/* Whether u may see a history row (its record's customer and creator from
** the record index). */
int fsv_vis_row(fsv_store *s, const fsv_user *u, const fsv_row *row,
                int *sees);

/* An fsv_row_filter for fsv_store_changes_after: ud is a
** struct fsv_vis_filter. */
struct fsv_vis_filter {
    fsv_store *store;
    const fsv_user *user;
};
int fsv_vis_filter_fn(void *ud, const fsv_row *row, int *include);

/* Whether u may share/unshare customer (see above). */
int fsv_vis_may_share(fsv_store *s, const fsv_user *u, const char *customer,
                      int *may);

/* May u write change c (alone)?  FSV_OK with *refusal 0 (yes) or
** FDSP_E_FORBIDDEN (FDSP_E_NO_USER: an owner who is no enabled user) and a
** message naming the table, record and field in why; or the store's code.
** A push asks fsv_visd_check_write over its batch's set instead. */
int fsv_vis_check_write(fsv_store *s, const fsv_user *u, const fdsp_change *c,
                        int *refusal, char *why, size_t whylen);

/* ---- A pushed batch: loaded once, decided by vis_decide.h -------------------- */
/* The batch's facts in one store call (fsv_store_vis_load), inside its
** transaction before the first check: the write checks
** (fsv_visd_check_write) and field limits (fsv_visd_field_limit) read
** fsv_vis_set_facts(set); after each merge fsv_vis_set_merged keeps them
** current; fsv_vis_set_seal before the commit makes the fan-out set
** (sync_live.c asks fsv_vis_set_sees / _sees_any).  FSV_OK, or the store's
** code with *out NULL. */
int fsv_vis_set_load(fsv_store *s, const fdsp_change *c, size_t n,
                     fsv_vis_set **out);
int fsv_vis_set_merged(fsv_store *s, fsv_vis_set *vs, const fdsp_change *c);
/* Load and seal at once (a fan-out that got no set from its push). */
int fsv_vis_set_build(fsv_store *s, const fdsp_change *c, size_t n,
                      fsv_vis_set **out);

/* The same question without a set in hand: 1 if u may see at least one
** appended change (seq != 0) of c (a set built and asked: one answer);
** a store error counts as not visible.  Inside a read transaction. */
int fsv_vis_sees_any(fsv_store *s, const fsv_user *u, const fdsp_change *c,
                     size_t n);

/* The same question of the history rows in (after, head]: *sees 1 if u
** may see at least one of them (the dashboard's /live).  FSV_OK or the
** store's code.  Inside a read transaction. */
int fsv_vis_sees_history(fsv_store *s, const fsv_user *u, int64_t after,
                         int64_t head, int *sees);

/* fsv_vis_filter_fn with a memo of each customer's verdict, for one scan
** inside one read transaction (where no verdict can change).  Set store
** and user, zero the rest; fsv_vis_memo_filter_clear after the scan. */
struct fsv_vis_memo_slot {
    char *customer;
    int vis;
};
struct fsv_vis_memo_filter {
    fsv_store *store;
    const fsv_user *user;
    struct fsv_vis_memo_slot *e;
    size_t n, cap;
};
int fsv_vis_memo_filter_fn(void *ud, const fsv_row *row, int *include);
void fsv_vis_memo_filter_clear(struct fsv_vis_memo_filter *f);

#endif /* FSV_VISIBILITY_H */
