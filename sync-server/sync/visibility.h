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

/* 1 if customer left a pool u could see because someone else claimed it
** (an offline claim u lost), with the claimer's name in by (may be NULL);
** 0 otherwise and on any error (then the ordinary rules apply). */
int fsv_vis_pool_lost(fsv_store *s, const fsv_user *u, const char *customer,
                      char *by, size_t bylen);

/* 1 if u sees everything (admin, or manager of team "*"). */
int fsv_vis_sees_all(const fsv_user *u);

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

/* Every question below returns FSV_OK with its answer in the out
** parameter (1 yes, 0 no), or the store's FSV_* code (answer 0). */

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

/* May u write change c?  FSV_OK with *refusal 0 (yes) or FDSP_E_FORBIDDEN
** (FDSP_E_NO_USER: an owner who is no enabled user) and a message naming
** the table, record and field in why; or the store's code.  Called
** inside the push transaction, before c is merged, so earlier changes of
** the same batch (a new customer, its owner) are already visible. */
int fsv_vis_check_write(fsv_store *s, const fsv_user *u, const fdsp_change *c,
                        int *refusal, char *why, size_t whylen);

/* The same with a per-batch cache: a customer's visibility is taken as it
** was at its first change in the batch, so a batch that reassigns a
** customer (owner, then core's deleted=0 on the same record) is not
** refused half-way by its own reassignment.  Owner, share and definition
** rules are still checked for every change.  Zero-initialise the cache;
** fsv_vis_cache_clear after the batch. */
struct fsv_vis_cache {
    struct { char customer[FDSP_MAX_ID + 1]; int vis; } *e;
    size_t n, cap;
};
int fsv_vis_check_write_cached(fsv_store *s, const fsv_user *u,
                               const fdsp_change *c, struct fsv_vis_cache *vc,
                               int *refusal, char *why, size_t whylen);
void fsv_vis_cache_clear(struct fsv_vis_cache *vc);

/* Who may see a pushed batch (the live fan-out): the batch's appended
** changes (seq != 0) reduced once to their distinct records, then to the
** customers and creators that decide who sees them, so each session costs
** one decision per distinct customer rather than store lookups per change.
** fsv_vis_set_sees_any(set, u) answers exactly as asking fsv_vis_row for
** each appended change until one is visible (a record the index does not
** know counts for nobody; an error counts as not visible).  Build and ask
** inside one read transaction.  FSV_OK, or FSV_NOMEM with *out NULL. */
typedef struct fsv_vis_set fsv_vis_set;
int fsv_vis_set_build(fsv_store *s, const fdsp_change *c, size_t n,
                      fsv_vis_set **out);
/* 1 if u may see at least one change of the set, 0 if not. */
int fsv_vis_set_sees_any(fsv_vis_set *vs, const fsv_user *u);
/* 1 if u may see change i (index into the c the set was built from), 0
** if not: fsv_vis_row's answer for that change alone (a record the index
** cannot answer for counts for nobody but a user who sees everything, as
** in their pulls).  Ask only of appended changes (seq != 0).  The live
** batches' question (sync_live.c). */
int fsv_vis_set_sees(fsv_vis_set *vs, const fsv_user *u, size_t i);

/* The same question without a set (its fallback when the set cannot be
** built): 1 if u may see at least one appended change (seq != 0) of c,
** asked change by change; a record the index does not know, or an error,
** counts as not visible.  Inside a read transaction. */
int fsv_vis_sees_any(fsv_store *s, const fsv_user *u, const fdsp_change *c,
                     size_t n);

/* The same question of the history rows in (after, head]: *sees 1 if u
** may see at least one of them (the dashboard's /live).  FSV_OK or the
** store's code.  Inside a read transaction. */
int fsv_vis_sees_history(fsv_store *s, const fsv_user *u, int64_t after,
                         int64_t head, int *sees);
void fsv_vis_set_free(fsv_vis_set *vs);

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
