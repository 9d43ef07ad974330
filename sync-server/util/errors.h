/*
** errors.h — the server's one error convention: every function of
** sync-server/ that can fail returns FSV_OK (0) or one of these codes, and
** fsv_errstr() names a code.  Where there is more to say (which record,
** which file), the module's handle carries the message (the store's
** fsv_store_errmsg) or the caller passes an err buffer.  A refusal sent to
** a device is not an error of the call: it is an answer (an FDSP_E_* code
** in an out parameter, see fsv_vis_check_write).  Commands turn codes into
** exit codes (cmd/cmds.h).
**
** Not codes, so not FSV_*: what libwebsockets' callbacks return, and the
** per-connection handlers that run inside them (fsv_conn_*, fsv_sync_*,
** the API's request handlers) return 0 to go on or -1 to close the
** connection, as lws itself does; booleans (fsv_vis_sees_all, ...) return
** 1/0 and cannot fail.
*/
#ifndef FSV_ERRORS_H
#define FSV_ERRORS_H

enum {
    FSV_OK = 0,
    FSV_ERROR = 1, /* storage or system failure (message: details) */
    FSV_NOTFOUND,  /* no such user/token/record */
    FSV_EXISTS,    /* user already exists / store already initialised */
    FSV_NOMEM,
    FSV_INVALID, /* bad argument (e.g. unknown role) */
    FSV_BUSY     /* conflicting writer: roll back, retry the whole
                        ** transaction (the only retryable code) */
};

/* The text of an FSV_* code ("not found", ...); never NULL. */
const char *fsv_errstr(int rc);

#endif /* FSV_ERRORS_H */
