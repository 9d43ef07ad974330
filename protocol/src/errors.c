/*
** errors.c — wire names of error codes and message types.
*/
#include "proto_internal.h"

#include <string.h>

static const char *const err_names[FDSP_E__COUNT] = {
    [FDSP_OK] = "ok",
    [FDSP_E_JSON] = "bad_json",
    [FDSP_E_UTF8] = "bad_utf8",
    [FDSP_E_DUPKEY] = "duplicate_key",
    [FDSP_E_TOOBIG] = "too_big",
    [FDSP_E_DEPTH] = "too_deep",
    [FDSP_E_TYPE] = "bad_type",
    [FDSP_E_MISSING] = "missing_field",
    [FDSP_E_UNKNOWN_TYPE] = "unknown_message",
    [FDSP_E_VERSION] = "unsupported_version",
    [FDSP_E_LIMIT] = "limit",
    [FDSP_E_VALUE] = "bad_value",
    [FDSP_E_AUTH] = "auth",
    [FDSP_E_FORBIDDEN] = "forbidden",
    [FDSP_E_RATE] = "rate_limited",
    [FDSP_E_STATE] = "bad_state",
    [FDSP_E_INTERNAL] = "internal",
    [FDSP_E_NOMEM] = "no_memory",
    [FDSP_E_CLASH] = "device_clash",
    [FDSP_E_NO_USER] = "unknown_user",
};

const char *fdsp_errname(int code)
{
    if (code < 0 || code >= FDSP_E__COUNT)
        return "unknown";
    return err_names[code];
}

int fdsp_errcode(const char *name)
{
    if (name != NULL)
        for (int i = 0; i < FDSP_E__COUNT; i++)
            if (strcmp(err_names[i], name) == 0)
                return i;
    return FDSP_E_INTERNAL;
}

static const char *const type_names[] = {
    [FDSP_HELLO] = "hello",     [FDSP_WELCOME] = "welcome",
    [FDSP_PUSH] = "push",       [FDSP_ACK] = "ack",
    [FDSP_PULL] = "pull",       [FDSP_CHANGES] = "changes",
    [FDSP_REVOKE] = "revoke",   [FDSP_NOTIFY] = "notify",
    [FDSP_ERROR] = "error",     [FDSP_SUMS] = "sums",
    [FDSP_REPAIR] = "repair",
    [FDSP_BLOB_PUT] = "blob_put", [FDSP_BLOB_ACK] = "blob_ack",
    [FDSP_BLOB_GET] = "blob_get", [FDSP_BLOB_DATA] = "blob_data",
};

const char *fdsp_typename(int type)
{
    if (type < FDSP_HELLO || type > FDSP_TYPE_LAST)
        return NULL;
    return type_names[type];
}
