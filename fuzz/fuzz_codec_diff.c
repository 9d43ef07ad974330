/*
** fuzz_codec_diff.c — libFuzzer target: the direct codec (decode.c,
** encode.c) against the jansson reference it replaced (ref/).
**
** Any input: both decoders return the same code.  A refusal found in the
** fields (the reference's line does not start "at byte ") has the same
** error line word for word.  On success both encoders give identical bytes
** for each decoded message, and re-decoding those bytes with either decoder
** gives the same message again (same bytes on the next encode).  The
** grouped form (FDSP_ENC_GROUPS) of it is held to the same.
*/
#include "fieldsync_proto.h"
#include "proto_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what, const char *a, const char *b)
{
    fprintf(stderr, "fuzz_codec_diff: %s\n  direct:    %s\n  reference: %s\n",
            what, a, b);
    abort();
}

/* Both encoders on m must agree; returns the bytes (caller frees). */
static char *encode_both(const fdsp_msg *m, size_t *n)
{
    char *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    int ra = fdsp_encode(m, &a, &na);
    int rb = fdsp__ref_encode(m, &b, &nb);
    if (ra != rb)
        die("encode codes differ", fdsp_errname(ra), fdsp_errname(rb));
    if (ra != FDSP_OK)
        die("a decoded message does not encode", fdsp_errname(ra), "");
    if (na != nb || memcmp(a, b, na) != 0 || a[na] != '\0')
        die("encoded bytes differ", a, b);
    free(b);
    *n = na;
    return a;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fdsp_msg *m1 = NULL, *m2 = NULL;
    char e1[256], e2[256];
    const char *buf = (const char *)data;

    int r1 = fdsp_decode(buf, size, &m1, e1, sizeof e1);
    int r2 = fdsp__ref_decode(buf, size, &m2, e2, sizeof e2);
    if (r1 != r2) {
        char a[300], b[300];
        snprintf(a, sizeof a, "%s: %s", fdsp_errname(r1), e1);
        snprintf(b, sizeof b, "%s: %s", fdsp_errname(r2), e2);
        die("decode codes differ", a, b);
    }
    /* the pooled decoder (a device's pulled pages): same code, same line */
    fdsp_msg *mp = NULL;
    char ep[256];
    int rp = fdsp_decode_pooled(buf, size, &mp, ep, sizeof ep);
    if (rp != r1 || (r1 != FDSP_OK && strcmp(ep, e1) != 0))
        die("pooled decode differs", ep, e1);
    if (r1 != FDSP_OK) {
        if (m1 != NULL || e1[0] == '\0')
            die("refusal without a clean result", e1, e2);
        int parse1 = strncmp(e1, "at byte ", 8) == 0;
        int parse2 = strncmp(e2, "at byte ", 8) == 0;
        if (parse1 != parse2 || (!parse2 && strcmp(e1, e2) != 0))
            die("error lines differ", e1, e2);
        return 0;
    }
    size_t n1, n2, n3;
    char *b1 = encode_both(m1, &n1);
    char *b2 = encode_both(m2, &n2);
    if (n1 != n2 || memcmp(b1, b2, n1) != 0)
        die("decoded messages differ", b1, b2);
    size_t np;
    char *bp = encode_both(mp, &np);
    if (np != n1 || memcmp(bp, b1, n1) != 0)
        die("pooled decode is another message", bp, b1);
    free(bp);
    fdsp_msg_free(mp);
    fdsp_msg *m3 = NULL, *m4 = NULL;
    if (fdsp_decode(b1, n1, &m3, e1, sizeof e1) != FDSP_OK ||
        fdsp__ref_decode(b1, n1, &m4, e2, sizeof e2) != FDSP_OK)
        die("canonical form refused", e1, e2);
    char *b3 = encode_both(m3, &n3);
    if (n3 != n1 || memcmp(b3, b1, n1) != 0)
        die("canonical form is not a fixpoint", b3, b1);
    char *b4 = encode_both(m4, &n3);
    if (n3 != n1 || memcmp(b4, b1, n1) != 0)
        die("canonical form is not a fixpoint (reference)", b4, b1);
    /* The grouped form (PROTOCOL.md §5.1): the same bytes from both
    ** encoders, and either decoder reads it back to the same message. */
    char *g1 = NULL, *g2 = NULL;
    size_t ng1 = 0, ng2 = 0;
    if (fdsp_encode_opt(m1, FDSP_ENC_GROUPS, &g1, &ng1) != FDSP_OK ||
        fdsp__ref_encode_opt(m1, FDSP_ENC_GROUPS, &g2, &ng2) != FDSP_OK)
        die("grouped form not encoded", "", "");
    if (ng1 != ng2 || memcmp(g1, g2, ng1) != 0)
        die("grouped bytes differ", g1, g2);
    fdsp_msg *m5 = NULL, *m6 = NULL;
    if (fdsp_decode(g1, ng1, &m5, e1, sizeof e1) != FDSP_OK ||
        fdsp__ref_decode(g1, ng1, &m6, e2, sizeof e2) != FDSP_OK)
        die("grouped form refused", e1, e2);
    char *b5 = encode_both(m5, &n3);
    if (n3 != n1 || memcmp(b5, b1, n1) != 0)
        die("grouped form is another message", b5, b1);
    char *b6 = encode_both(m6, &n3);
    if (n3 != n1 || memcmp(b6, b1, n1) != 0)
        die("grouped form is another message (reference)", b6, b1);
    free(g1);
    free(g2);
    free(b5);
    free(b6);
    fdsp_msg_free(m5);
    fdsp_msg_free(m6);
    free(b1);
    free(b2);
    free(b3);
    free(b4);
    fdsp_msg_free(m1);
    fdsp_msg_free(m2);
    fdsp_msg_free(m3);
    fdsp_msg_free(m4);
    return 0;
}
