/*
** fuzz_regpack.c — libFuzzer target for the server store's packed
** registers (sync-server/store/sqlite/regpack.c): the two columns of a
** rec row (vals, regs) are read back from a file that may be damaged, so
** any bytes must give an error, never a crash or a read past the end.
** When the bytes are accepted, encoding what was decoded and decoding
** that again must give the same registers (their canonical text, as
** fds_register_dump writes it) and re-encode to the same bytes.
**
** Input: 2 bytes (big-endian) the length of vals, vals, then regs.  The
** dictionary maps id k (1..4096) to the name "n<k>" and back.
*/
#include "regpack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int intern(void *ud, const char *name, uint64_t *id)
{
    (void)ud;
    char *end;
    if (name[0] != 'n')
        abort();        /* only decoded names come back */
    *id = strtoull(name + 1, &end, 10);
    return *end ? FSV_RP_DAMAGED : FSV_RP_OK;
}

static const char *lookup(void *ud, uint64_t id)
{
    static char names[4097][8];
    (void)ud;
    if (id < 1 || id > 4096)
        return NULL;
    snprintf(names[id], sizeof names[id], "n%u", (unsigned)id);
    return names[id];
}

static void same(const fsv_regpack_field *a, const fsv_regpack_field *b,
                 size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char *x = fds_register_dump(&a[i].reg), *y = fds_register_dump(&b[i].reg);
        if (!x || !y || strcmp(a[i].name, b[i].name) != 0 || strcmp(x, y) != 0)
            abort();
        free(x);
        free(y);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t vl = ((size_t)data[0] << 8) | data[1];
    if (vl > size - 2)
        vl = size - 2;
    /* Copies, so ASan sees any read past either column. */
    char *vals = malloc(vl ? vl : 1);
    size_t bl = size - 2 - vl;
    unsigned char *blob = malloc(bl ? bl : 1);
    if (!vals || !blob)
        abort();
    memcpy(vals, data + 2, vl);
    memcpy(blob, data + 2 + vl, bl);
    fsv_regpack_dict d = {intern, lookup, NULL};
    fsv_regpack_field *f = NULL, *g = NULL;
    size_t n = 0, m = 0;
    char err[128];
    int rc = fsv_regpack_decode(vals, vl, blob, bl, &d, &f, &n, err, sizeof err);
    if (rc == FSV_RP_OK) {
        char *v1, *v2;
        unsigned char *b1, *b2;
        size_t l1, l2;
        int c1, c2;
        if (fsv_regpack_encode(f, n, &d, &v1, &b1, &l1, &c1) != FSV_RP_OK)
            abort();
        if (fsv_regpack_decode(v1, strlen(v1), b1, l1, &d, &g, &m, err,
                               sizeof err) != FSV_RP_OK || m != n)
            abort();
        same(f, g, n);
        if (fsv_regpack_encode(g, m, &d, &v2, &b2, &l2, &c2) != FSV_RP_OK ||
            strcmp(v1, v2) != 0 || l1 != l2 || memcmp(b1, b2, l1) != 0 ||
            c1 != c2)
            abort();
        free(v1);
        free(v2);
        free(b1);
        free(b2);
        fsv_regpack_free(g, m);
        fsv_regpack_free(f, n);
    } else if (rc != FSV_RP_DAMAGED && rc != FSV_RP_NOMEM) {
        abort();
    }
    free(vals);
    free(blob);
    return 0;
}
