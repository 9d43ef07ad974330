/*
** fuzz_recpack.c — libFuzzer target for the packed record row of schema 4
** (fds__rec_decode / fds__rec_encode, core/src/recpack.c).
**
** A replica reads its rec rows back from its own file: damaged bytes must
** be refused (FDS_INVALID, no partial record), never crash.  Input: two
** bytes (little-endian) giving the length of vals, vals, then meta.
** Whatever decodes must encode again, and decoding that encoding must give
** the same registers (canonical JSON byte-equal) and encode to the same
** bytes: a fixpoint, as every replica must store equal registers alike.
*/
#include "internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same(const fds__rec *a, const fds__rec *b)
{
    if (a->n != b->n)
        abort();
    for (size_t i = 0; i < a->n; i++) {
        if (strcmp(a->f[i].name, b->f[i].name) != 0)
            abort();
        char *x = fds__register_dump(&a->f[i].reg);
        char *y = fds__register_dump(&b->f[i].reg);
        if (x == NULL || y == NULL || strcmp(x, y) != 0)
            abort();
        free(x);
        free(y);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t vlen = (size_t)data[0] | (size_t)data[1] << 8;
    data += 2;
    size -= 2;
    if (vlen > size)
        vlen = size;
    char *vals = malloc(vlen + 1);
    if (vals == NULL)
        return 0;
    memcpy(vals, data, vlen);
    vals[vlen] = '\0';              /* SQLite's text is NUL-terminated */
    fds__rec rec, back;
    const char *why = NULL;
    memset(&rec, 0, sizeof rec);
    memset(&back, 0, sizeof back);
    int rc = fds__rec_decode(vals, vlen, data + vlen, size - vlen, &rec, &why);
    if (rc == FDS_INVALID && (why == NULL || rec.n != 0))
        abort();
    if (rc == FDS_OK) {
        fds__buf v1 = {0}, m1 = {0}, v2 = {0}, m2 = {0};
        if (fds__rec_encode(&rec, &v1, &m1) != FDS_OK)
            abort();
        fds__buf_put(&v1, "", 1);
        if (fds__rec_decode(v1.p, v1.n - 1, (const unsigned char *)m1.p,
                            m1.n, &back, &why) != FDS_OK)
            abort();
        same(&rec, &back);
        if (fds__rec_encode(&back, &v2, &m2) != FDS_OK ||
            v2.n != v1.n - 1 || memcmp(v1.p, v2.p, v2.n) != 0 ||
            m2.n != m1.n || memcmp(m1.p, m2.p, m1.n) != 0)
            abort();
        free(v1.p);
        free(m1.p);
        free(v2.p);
        free(m2.p);
    }
    fds__rec_clear(&rec);
    fds__rec_clear(&back);
    free(vals);
    return 0;
}
