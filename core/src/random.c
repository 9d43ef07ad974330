/*
** random.c — randomness and UUIDs.
**
** Ids come from env.random when a test injects one (deterministic
** property tests), else from the OS CSPRNG via getrandom(2): record and
** device ids must be unguessable and never collide (DESIGN.md rule 1).
*/
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <sys/random.h>

/* Fill buf from getrandom(2), retrying short reads and EINTR. */
static int os_random(unsigned char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = getrandom(buf + got, n - got, 0);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        got += (size_t)k;
    }
    return 0;
}

int fds__random(fds_replica *r, unsigned char *buf, size_t n)
{
    int rc = r->env.random ? r->env.random(r->env.ud, buf, n)
                           : os_random(buf, n);
    if (rc != 0)
        return fds__error(r, FDS_ERROR, "random source failed");
    return FDS_OK;
}

int fds__uuid(fds_replica *r, char out[FDS__UUID_LEN + 1])
{
    unsigned char b[16];
    int rc = fds__random(r, b, sizeof b);
    if (rc != FDS_OK)
        return rc;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(out, FDS__UUID_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
             "%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
             b[10], b[11], b[12], b[13], b[14], b[15]);
    return FDS_OK;
}
