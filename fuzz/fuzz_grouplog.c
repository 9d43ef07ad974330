/*
** fuzz_grouplog.c — libFuzzer target for the body of a change-group row
** of the replica's log (fds__group_decode / fds__group_encode,
** core/src/groupcodec.c).
**
** The replica reads these bytes back from its own file: damage must give
** FDS_DB (or FDS_NOMEM), never a crash or a change a replica cannot hold.
** Input: the row's device column, a NUL, then the body.  Whatever the
** decoder accepts must be exactly what the encoder writes for the changes
** it decoded to (one encoding per change list), and those changes must be
** ones the encoder accepts.
*/
#include "grouplog.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    if (nul == NULL || nul == data || nul - data > FDSP_MAX_ID)
        return 0;
    char gdev[FDSP_MAX_ID + 1];
    memcpy(gdev, data, (size_t)(nul - data));
    gdev[nul - data] = '\0';
    const unsigned char *body = nul + 1;
    size_t len = size - (size_t)(nul - data) - 1;
    fdsp_change *c = NULL;
    size_t n = 0;
    int rc = fds__group_decode(body, len, gdev, &c, &n);
    if (rc != FDS_OK) {
        if (rc != FDS_DB && rc != FDS_NOMEM)
            abort();
        if (c != NULL || n != 0)
            abort();
        return 0;
    }
    fds__buf b = {0};
    if (fds__group_encode(c, n, gdev, &b) != FDS_OK)
        abort();                        /* decoded what it cannot write */
    if (!b.oom && (b.n != len || memcmp(b.p, body, len) != 0))
        abort();                        /* not the one encoding */
    free(b.p);
    fds__group_free(c, n);
    return 0;
}
