/*
** fuzz_blob.c — libFuzzer target for the blob messages (PROTOCOL.md §14)
** and their helpers.
**
** The input, whole, as a message: fdsp_decode must not crash; an
** accepted blob message must re-encode to bytes that decode to the same
** sha, size, offset, data and refusal, and the data must fit its size.
** The input as base64 text: fdsp__b64_decode either refuses it or gives
** bytes whose encoding is exactly the input (canonical form: one text
** per byte string).  The input as bytes: SHA-256 fed whole and in two
** pieces gives one digest.  Seeds: fuzz/corpus/fuzz_blob.
*/
#include "fieldsync_proto.h"
#include "proto_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_msg(const uint8_t *data, size_t size)
{
    fdsp_msg *m = NULL, *m2 = NULL;
    char err[256];
    char *b = NULL;
    size_t n = 0;
    if (fdsp_decode((const char *)data, size, &m, err, sizeof err) != FDSP_OK)
        return;
    if (m->type < FDSP_BLOB_PUT) {
        fdsp_msg_free(m);
        return;
    }
    if (!fdsp_sha_ok(m->sha) || m->n_data > FDSP_BLOB_CHUNK ||
        ((m->type == FDSP_BLOB_PUT || m->type == FDSP_BLOB_DATA) &&
         m->offset + (int64_t)m->n_data > m->size))
        abort();
    if (fdsp_encode(m, &b, &n) != FDSP_OK)
        abort();
    if (fdsp_decode(b, n, &m2, err, sizeof err) != FDSP_OK)
        abort();
    if (m2->type != m->type || strcmp(m2->sha, m->sha) != 0 ||
        m2->size != m->size || m2->offset != m->offset ||
        m2->n_data != m->n_data || m2->code != m->code ||
        (m->n_data && memcmp(m2->data, m->data, m->n_data) != 0) ||
        ((m->message == NULL) != (m2->message == NULL)) ||
        (m->message && strcmp(m->message, m2->message) != 0))
        abort();
    free(b);
    fdsp_msg_free(m);
    fdsp_msg_free(m2);
}

static void check_b64(const uint8_t *data, size_t size)
{
    if (size > 4 * 4096)
        return;
    unsigned char *out = malloc(size / 4 * 3 + 1);
    size_t n = 0;
    if (out && fdsp__b64_decode((const char *)data, size, out, &n) == 0) {
        char *again = malloc(fdsp__b64_len(n) + 1);
        if (!again)
            abort();
        fdsp__b64_encode(out, n, again);
        if (fdsp__b64_len(n) != size || memcmp(again, data, size) != 0)
            abort();
        free(again);
    }
    free(out);
}

static void check_sha(const uint8_t *data, size_t size)
{
    fdsp_sha256 a, b;
    unsigned char da[32], db[32];
    fdsp_sha256_init(&a);
    fdsp_sha256_update(&a, data, size);
    fdsp_sha256_final(&a, da);
    size_t cut = size ? data[0] % (size + 1) : 0;
    fdsp_sha256_init(&b);
    fdsp_sha256_update(&b, data, cut);
    fdsp_sha256_update(&b, data + cut, size - cut);
    fdsp_sha256_final(&b, db);
    if (memcmp(da, db, 32) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_msg(data, size);
    check_b64(data, size);
    check_sha(data, size);
    return 0;
}
