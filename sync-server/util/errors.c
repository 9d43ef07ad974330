/*
** errors.c — the text of the server's FSV_* codes (errors.h).
*/
#include "errors.h"

const char *fsv_errstr(int rc)
{
    switch (rc) {
    case FSV_OK: return "ok";
    case FSV_ERROR: return "storage failure";
    case FSV_NOTFOUND: return "not found";
    case FSV_EXISTS: return "already exists";
    case FSV_NOMEM: return "out of memory";
    case FSV_INVALID: return "invalid argument";
    case FSV_BUSY: return "busy (another writer): try again";
    default: return "unknown error";
    }
}
