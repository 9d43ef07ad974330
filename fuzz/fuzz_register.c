/*
** fuzz_register.c — libFuzzer target for the stored form of a register
** (fds_register_from_json / fds_register_to_json, core/src/merge.c).
**
** A replica reads these bytes back from its own database, and the server
** from its store: a corrupted file must give an error, not a crash.  When
** the JSON is accepted, to_json -> from_json -> to_json must be a fixpoint
** (all replicas store identical bytes for equal registers).
**
** The stores read that text back with the hand-written fds_register_parse
** / fds_vv_parse (no jansson tree), so those decoders are fuzzed here too,
** differentially: whatever they accept must dump (fds_register_dump /
** fds_vv_dump) to exactly the bytes jansson makes of the same value, and
** whatever the jansson path accepts they must accept as well.
*/
#include "fieldsync.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *dump(const fds_register *reg)
{
    json_t *j = fds_register_to_json(reg);
    if (j == NULL)
        abort();
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (s == NULL)
        abort();
    return s;
}

/* The canonical bytes of reg by way of a jansson tree. */
static char *dump_sorted(const fds_register *reg)
{
    json_t *j = fds_register_to_json(reg);
    if (j == NULL)
        abort();
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    if (s == NULL)
        abort();
    return s;
}

/* fds_register_parse and fds_vv_parse on the raw text. */
static void fuzz_parsers(const char *text, int jansson_ok)
{
    fds_register reg;
    memset(&reg, 0, sizeof reg);
    int rc = fds_register_parse(text, &reg);
    if (jansson_ok && rc != FDS_OK && rc != FDS_NOMEM)
        abort();
    if (rc == FDS_OK) {
        char *a = fds_register_dump(&reg);
        char *b = dump_sorted(&reg);
        if (a == NULL || strcmp(a, b) != 0)
            abort();
        free(a);
        free(b);
    }
    fds_register_clear(&reg);

    fdsp_vv vv;
    memset(&vv, 0, sizeof vv);
    if (fds_vv_parse(text, &vv) == FDS_OK) {
        char *a = fds_vv_dump(&vv);
        json_t *j = fdsp_vv_to_json(&vv);
        char *b = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        if (a == NULL || b == NULL || strcmp(a, b) != 0)
            abort();
        free(a);
        free(b);
        json_decref(j);
    }
    fdsp_vv_clear(&vv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    int jansson_ok = 0;
    json_error_t e;
    json_t *j = memchr(data, 0, size) ? NULL
              : json_loadb((const char *)data, size, JSON_DECODE_ANY, &e);
    if (j == NULL) {
        fuzz_parsers(text, 0);
        free(text);
        return 0;
    }
    fds_register reg, reg2;
    memset(&reg, 0, sizeof reg);
    memset(&reg2, 0, sizeof reg2);
    if (fds_register_from_json(j, &reg) == FDS_OK) {
        jansson_ok = 1;
        char *s1 = dump(&reg);
        json_t *back = json_loads(s1, 0, &e);
        if (back == NULL || fds_register_from_json(back, &reg2) != FDS_OK)
            abort();
        char *s2 = dump(&reg2);
        if (strcmp(s1, s2) != 0)
            abort();
        (void)fds_register_in_conflict(&reg2);
        fdsp_vv vv;
        memset(&vv, 0, sizeof vv);
        if (fds_register_vv(&reg2, &vv) == FDS_OK)
            fdsp_vv_clear(&vv);
        free(s1);
        free(s2);
        json_decref(back);
        fds_register_clear(&reg2);
    }
    fds_register_clear(&reg);
    json_decref(j);
    fuzz_parsers(text, jansson_ok);
    free(text);
    return 0;
}
