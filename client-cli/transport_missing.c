/*
** transport_missing.c — stand-in for transport_lws.c while it does not
** exist yet (CMakeLists.txt drops this file once it does): every offline
** command works, and `sync`/`init` say plainly that no transport is built.
*/
#include <stdio.h>
#include "transport.h"

int cli_sync(fds_replica *r, const cli_sync_opts *o, fds_session_stats *st,
             char *err, size_t errlen)
{
    (void)r;
    (void)o;
    if (st) *st = (fds_session_stats){0};
    snprintf(err, errlen, "sync transport not built");
    return 1;
}
