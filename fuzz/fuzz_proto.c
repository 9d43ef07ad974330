/*
** fuzz_proto.c — libFuzzer target for the wire codec.
**
** Any input: fdsp_decode must not crash, leak or read outside the buffer.
** A refusal must come with a one-line, valid UTF-8 error (the server puts
** it in an "error" message).  An accepted message must encode, decode again
** to the same bytes on the next encode (the canonical form is a fixpoint),
** and never encode larger than a frame; its grouped form decodes to the
** same message.
*/
#include "fieldsync_proto.h"
#include "proto_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fdsp_msg *m = NULL, *m2 = NULL;
    char err[256];
    char *b1 = NULL, *b2 = NULL;
    size_t n1 = 0, n2 = 0;

    int rc = fdsp_decode((const char *)data, size, &m, err, sizeof err);
    if (rc != FDSP_OK) {
        size_t n = strlen(err);
        if (m != NULL || n == 0 || !fdsp__utf8_ok(err, n))
            abort();
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)err[i] < 0x20)
                abort();
        return 0;
    }
    if (fdsp_encode(m, &b1, &n1) != FDSP_OK || n1 > FDSP_MAX_FRAME)
        abort();
    if (fdsp_decode(b1, n1, &m2, err, sizeof err) != FDSP_OK)
        abort();
    if (fdsp_encode(m2, &b2, &n2) != FDSP_OK)
        abort();
    if (n1 != n2 || memcmp(b1, b2, n1) != 0)
        abort();
    /* The grouped form (PROTOCOL.md §5.1) is the same message, no longer
    ** than the plain one. */
    char *g = NULL;
    size_t ng = 0;
    fdsp_msg *m3 = NULL;
    if (fdsp_encode_opt(m, FDSP_ENC_GROUPS, &g, &ng) != FDSP_OK || ng > n1)
        abort();
    if (fdsp_decode(g, ng, &m3, err, sizeof err) != FDSP_OK)
        abort();
    free(b2);
    if (fdsp_encode(m3, &b2, &n2) != FDSP_OK || n1 != n2 ||
        memcmp(b1, b2, n1) != 0)
        abort();
    free(g);
    fdsp_msg_free(m3);
    free(b1);
    free(b2);
    fdsp_msg_free(m);
    fdsp_msg_free(m2);
    return 0;
}
