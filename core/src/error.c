/*
** error.c — error codes and the per-handle error message.
**
** Every failing engine or domain function records one line on the handle
** (fds__error / fds__dberror) and returns its code, so the CLI can print
** fds_errmsg() verbatim.  The library itself never prints.
*/
#include "internal.h"

#include <stdio.h>
#include <string.h>

const char *fds_errstr(int rc)
{
    switch (rc) {
    case FDS_OK:        return "ok";
    case FDS_ERROR:     return "error";
    case FDS_NOMEM:     return "out of memory";
    case FDS_INVALID:   return "invalid input";
    case FDS_NOTFOUND:  return "not found";
    case FDS_AMBIGUOUS: return "ambiguous id prefix";
    case FDS_DB:        return "database error";
    case FDS_TOOBIG:    return "too big";
    case FDS_PROTO:     return "protocol violation";
    case FDS_PERM:      return "permission refused";
    case FDS_DONE:      return "done";
    case FDS_SCHEMA:    return "replica made by a newer fieldsync";
    case FDS_NOTREPLICA: return "not a fieldsync replica";
    default:            return "unknown error";
    }
}

int fds__error(fds_replica *r, int rc, const char *fmt, ...)
{
    if (r == NULL)
        return rc;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->errmsg, sizeof r->errmsg, fmt, ap);
    va_end(ap);
    r->errcode = rc;
    return rc;
}

int fds__dberror(fds_replica *r, const char *what)
{
    if (r == NULL)
        return FDS_DB;
    const char *m = r->db ? sqlite3_errmsg(r->db) : "no database";
    /* SQLITE_NOMEM is reported as FDS_NOMEM so callers see one OOM code
    ** (the handle has extended codes on: SQLITE_IOERR_NOMEM too). */
    int ec = r->db ? sqlite3_extended_errcode(r->db) : SQLITE_NOMEM;
    if ((ec & 0xff) == SQLITE_NOMEM || ec == SQLITE_IOERR_NOMEM)
        return fds__error(r, FDS_NOMEM, "%s: out of memory", what);
    return fds__error(r, FDS_DB, "%s: %s", what, m);
}

int fds__errcode(const fds_replica *r)
{
    return r && r->errcode != FDS_OK ? r->errcode : FDS_DB;
}

const char *fds_errmsg(const fds_replica *r)
{
    if (r == NULL)
        return "no replica";
    return r->errmsg;
}
