/*
** fuzz_hist.c — libFuzzer target for the server's history group body
** (sync-server/store/sqlite/hist_codec.c).
**
** The store reads these bytes back from its own file: a damaged body
** must be refused with a reason, never read out of bounds.  The first
** input byte is the entry count (1..64), the second the entry to start
** from; the rest is the body.  Whatever decodes must re-encode, and that
** decode (from the given entry) to the same changes.
*/
#include "hist_codec.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A fixed dictionary: ids 1..8. */
static const char *const names[] = {NULL, "name", "phone", "dev-a",
                                    "dev-b", "stage", "0", "dev-c", ""};

static const char *name_of(void *ud, int64_t id)
{
    (void)ud;
    return id >= 1 && id <= 8 ? names[id] : NULL;
}

static int id_of(void *ud, const char *name, int64_t *id)
{
    (void)ud;
    for (int64_t i = 1; i <= 8; i++)
        if (strcmp(names[i], name) == 0) {
            *id = i;
            return 0;
        }
    return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t n = 1 + data[0] % 64, from = data[1] % n;
    const unsigned char *b = data + 2;
    size_t len = size - 2;
    fdsp_change out[64];
    char err[160];
    int rc = fsv_hc_decode(b, len, n, 0, name_of, NULL, out, err, sizeof err);
    if (rc == FSV_HC_NOMEM)
        return 0;
    if (rc != FSV_HC_OK) {
        if (err[0] == '\0')
            abort();        /* a refusal names its reason */
        return 0;
    }
    fsv_hc_enc e;
    memset(&e, 0, sizeof e);
    for (size_t i = 0; i < n; i++)
        if (fsv_hc_enc_add(&e, &out[i], id_of, NULL) != FSV_HC_OK)
            abort();
    /* Not byte-equal in general (a vector in full where deltas would do,
    ** a varint with padding both decode): equal changes are the test. */
    fdsp_change again[64];
    if (fsv_hc_decode(e.p, e.n, n, from, name_of, NULL, again, err,
                      sizeof err) != FSV_HC_OK)
        abort();
    for (size_t i = from; i < n; i++) {
        const fdsp_change *a = &out[i], *c = &again[i - from];
        if (strcmp(a->field, c->field) != 0 || a->hlc != c->hlc ||
            (!a->value) != (!c->value) ||
            (a->value && strcmp(a->value, c->value) != 0) ||
            a->vv.n != c->vv.n)
            abort();
        for (size_t k = 0; k < a->vv.n; k++)
            if (strcmp(a->vv.e[k].device, c->vv.e[k].device) != 0 ||
                a->vv.e[k].counter != c->vv.e[k].counter)
                abort();
        fdsp_change_clear(&again[i - from]);
    }
    for (size_t i = 0; i < n; i++)
        fdsp_change_clear(&out[i]);
    fsv_hc_enc_free(&e);
    return 0;
}
