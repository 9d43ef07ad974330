/*
** fuzz_register.c — libFuzzer target for the stored form of a register
** (fds_register_from_json / fds_register_to_json, core/src/merge.c).
**
** A replica reads these bytes back from its own database, and the server
** from its store: a corrupted file must give an error, not a crash.  When
** the JSON is accepted, to_json -> from_json -> to_json must be a fixpoint
** (all replicas store identical bytes for equal registers).
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t e;
    json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY, &e);
    if (j == NULL)
        return 0;
    fds_register reg, reg2;
    memset(&reg, 0, sizeof reg);
    memset(&reg2, 0, sizeof reg2);
    if (fds_register_from_json(j, &reg) == FDS_OK) {
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
    return 0;
}
