/*
** vis_decide.h — the visibility rules (visibility.h states them) as pure
** functions over the facts the store loaded at once (store.h
** fsv_vis_facts): no store, no I/O, so they are tested without a store
** (tests/server/test_vis_decide.c), as core's fds_merge is.
**
** The one answer to "does user U see this": fsv_visd_customer for a
** customer, fsv_visd_row for a record, fsv_vis_set_sees(_any) for a pushed
** batch (its fan-out), all over the same facts.  visibility.c loads the
** facts and asks these; nothing else decides.
**
** A fact the facts do not hold (a customer or user not loaded) counts as
** unknown: not visible, no such user.
*/
#ifndef FSV_VIS_DECIDE_H
#define FSV_VIS_DECIDE_H

#include <stddef.h>

#include "store.h"

/* 1 if u sees everything (admin, or manager of team "*"). */
int fsv_vis_sees_all(const fsv_user *u);
/* 1 for the definition tables everyone sees (fielddef, stagedef, pooldef). */
int fsv_visd_is_definition(const char *tbl);
/* Is team within team `of` in map t (equal, `of` "*", or below it)?
** 0 for an empty name; t may be NULL (then only equal and "*"). */
int fsv_visd_within(const fsv_teams *t, const char *team, const char *of);
/* 1 if u sees the pool of pool_team (visibility.h fsv_vis_pool_covers). */
int fsv_visd_pool_covers(const fsv_teams *t, const char *pool_team,
                         const fsv_user *u);
/* The effective owner of customer id: its owner field, else "" for a pool
** customer, else its creator; NULL if unknown (or not loaded). */
const char *fsv_visd_owner(const fsv_vis_facts *f, const char *id);
/* 1 if u sees customer id. */
int fsv_visd_customer(const fsv_vis_facts *f, const fsv_user *u,
                      const char *id);
/* 1 if u sees a record of tbl/rid whose index entry is customer/creator. */
int fsv_visd_row(const fsv_vis_facts *f, const fsv_user *u, const char *tbl,
                 const char *rid, const char *customer, const char *creator);
/* 1 if u may share/unshare customer id. */
int fsv_visd_may_share(const fsv_vis_facts *f, const fsv_user *u,
                       const char *id);
/* 1 if customer id left a pool u sees because someone else claimed it,
** with the claimer in by (may be NULL). */
int fsv_visd_pool_lost(const fsv_vis_facts *f, const fsv_user *u,
                       const char *id, char *by, size_t bylen);
/* May u write change c, as the facts stand (the earlier changes of the
** batch merged into them)?  0, or FDSP_E_FORBIDDEN / FDSP_E_NO_USER with
** a message naming the table, record and field in why.  A customer's sight
** is taken at its first ask in the batch (kept in the facts' first_vis),
** so a batch that reassigns a customer is not refused half-way. */
int fsv_visd_check_write(fsv_vis_facts *f, const fsv_user *u,
                         const fdsp_change *c, char *why, size_t whylen);
/* 0, or FDSP_E_LIMIT (message in why) if c adds a field to a record that
** has FDSP_MAX_FIELDS already. */
int fsv_visd_field_limit(const fsv_vis_facts *f, const fdsp_change *c,
                         char *why, size_t whylen);

/* ---- A pushed batch's fan-out set --------------------------------------------- */
/* The facts of a batch, and for each appended change (seq != 0) what
** decides who sees it (a definition: everyone; a customer; a creator).
** Wrap takes *f (zeroes it); seal reads the batch after its merges. */
typedef struct fsv_vis_set fsv_vis_set;
int fsv_vis_set_wrap(fsv_vis_facts *f, fsv_vis_set **out);
int fsv_vis_set_seal(fsv_vis_set *vs, const fdsp_change *c, size_t n);
fsv_vis_facts *fsv_vis_set_facts(fsv_vis_set *vs);
/* 1 if u may see at least one appended change of the set, 0 if not. */
int fsv_vis_set_sees_any(fsv_vis_set *vs, const fsv_user *u);
/* 1 if u may see appended change i (index into the sealed batch). */
int fsv_vis_set_sees(fsv_vis_set *vs, const fsv_user *u, size_t i);
void fsv_vis_set_free(fsv_vis_set *vs);

#endif /* FSV_VIS_DECIDE_H */
