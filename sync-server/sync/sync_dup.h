/*
** sync_dup.h — duplicate-customer notices (撞单) in a push's ack
** (sync_dup.c; PROTOCOL.md §4 "ack", docs/SECURITY.md "Duplicate
** customers").
*/
#ifndef FSV_SYNC_DUP_H
#define FSV_SYNC_DUP_H

#include "server.h"

/* Named notices one user gets in 24 hours; past it the notice still comes,
** without the owner's name, so adding phone numbers one after another
** cannot map the company's customers to their reps. */
#define FSV_DUP_NOTICES_PER_DAY 20
#define FSV_DUP_WINDOW_MS (24LL * 3600 * 1000)

/* For each change of the push that the connection's own device made, that
** the store accepted as new (seq set), and that set a customer's phone or
** WeChat to a value a live customer owned by another user has: one notice
** per other owner.  Inside the push's write transaction (it notes the
** notices given for the daily allowance).  *out malloc'd (free with
** fsv_sync_dup_free), *n notices; FSV_OK or the store's code. */
int fsv_sync_dup_notices(fsv_conn *s, const fdsp_msg *m, int64_t now_ms,
                         fdsp_notice **out, size_t *n);
void fsv_sync_dup_free(fdsp_notice *v, size_t n);

#endif /* FSV_SYNC_DUP_H */
