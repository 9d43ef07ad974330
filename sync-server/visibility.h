/*
** visibility.h — who may see and change what (DESIGN.md rule 8, baseline).
**
**  - admin, and a manager of team "*" (head office): everything.
**  - a manager: customers owned by users of their team, their own and those
**    shared with them.
**  - a rep: customers they own — the "owner" field, or the user who created
**    the customer while owner is empty — and customers shared with them.
**  - a customer's children (followup, plan, feedback, stagechg, share and
**    any other table carrying a "customer" field) go with their customer; a
**    child whose customer the server does not know yet is visible to its
**    creator only.
**  - fielddef and stagedef (definitions) are visible to everyone; only
**    managers and admins may write them.
**  - a rep may change "owner" only of a customer they own (giving it away);
**    a shared customer's owner stays with its owner.
** Not done here (next issue): revoke messages when a customer is reassigned
** or unshared, and bringing a reassigned customer's history to the new
** owner on their next pull (rows before the device's cursor are not
** re-sent).
*/
#ifndef FSV_VISIBILITY_H
#define FSV_VISIBILITY_H

#include <stddef.h>

#include "store.h"

/* 1 if u sees everything (admin, or manager of team "*"). */
int fsv_vis_sees_all(const fsv_user *u);

/* 1 if u may see customer `customer`, 0 if not, <0 on store error. */
int fsv_vis_customer(fsv_store *s, const fsv_user *u, const char *customer);

/* 1 if u may see a history row (its record's customer and creator from the
** record index), 0 if not, <0 on store error. */
int fsv_vis_row(fsv_store *s, const fsv_user *u, const fsv_row *row);

/* An fsv_row_filter for fsv_store_changes_after: ud is a
** struct fsv_vis_filter. */
struct fsv_vis_filter {
    fsv_store *store;
    const fsv_user *user;
};
int fsv_vis_filter_fn(void *ud, const fsv_row *row);

/* May u write change c?  0 if yes; FDSP_E_FORBIDDEN with a message naming
** the table, record and field in why; <0 on store error.  Called inside the
** push transaction, before c is merged, so earlier changes of the same
** batch (a new customer, its owner) are already visible. */
int fsv_vis_check_write(fsv_store *s, const fsv_user *u, const fdsp_change *c,
                        char *why, size_t whylen);

#endif /* FSV_VISIBILITY_H */
