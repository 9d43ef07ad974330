/*
** fuzz_input.c — libFuzzer target for what an embedding app or a rep hands
** the core as text or JSON: dates (fds_time_parse), a new customer
** (fds_customer_add), an edit (fds_customer_edit) and a template file
** (fds_template_apply, templates/NAME.json or the office's own).
**
** The first byte picks the entry point; the rest is its input.  Any input
** must give FDS_OK or an error, never a crash or a leak; whatever is
** accepted must read back (the record shows, the definitions list), and
** a parsed date must survive fds_time_format -> fds_time_parse.
*/
#include "fieldsync.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int64_t fixed_now(void *ud)
{
    (void)ud;
    return INT64_C(1717000000000);
}

static int fixed_random(void *ud, unsigned char *buf, size_t n)
{
    uint64_t *st = ud;
    for (size_t i = 0; i < n; i++) {
        *st ^= *st << 13;
        *st ^= *st >> 7;
        *st ^= *st << 17;
        buf[i] = (unsigned char)*st;
    }
    return 0;
}

/* A parsed time prints as RFC 3339 and parses back to the same second. */
static void time_round_trip(const char *text)
{
    int64_t ms = 0, back = 0;
    if (fds_time_parse(text, &ms) != FDS_OK)
        return;
    char buf[64];
    fds_time_format(ms, buf, sizeof buf);
    int64_t secs = ms / 1000 - (ms % 1000 < 0);
    /* Years 0001..9999 print as four digits, which the parser reads. */
    if (ms >= INT64_C(-62135596800000) && ms < INT64_C(253402300800000)) {
        if (fds_time_parse(buf, &back) != FDS_OK || back != secs * 1000)
            abort();
    }
}

/* The record id of out, which must show and have a history. */
static void shows(fds_replica *r, const json_t *out)
{
    const char *id = json_string_value(json_object_get(out, "id"));
    json_t *got = NULL, *hist = NULL;
    if (!id || fds_customer_get(r, id, &got) != FDS_OK ||
        fds_history(r, id, &hist) != FDS_OK)
        abort();
    json_decref(got);
    json_decref(hist);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int mode = data[0] % 4;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;

    if (mode == 0) {
        char *s = malloc(len + 1);
        if (!s)
            abort();
        memcpy(s, text, len);
        s[len] = '\0';
        time_round_trip(s);
        free(s);
        return 0;
    }

    json_t *in = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    if (!in)
        return 0;
    uint64_t seed = UINT64_C(0x9e3779b97f4a7c15);
    fds_env env = {fixed_now, fixed_random, &seed};
    fds_replica *r = NULL;
    char err[256];
    if (fds_replica_open(":memory:", &env, &r, err, sizeof err) != FDS_OK)
        abort();
    json_t *out = NULL, *warn = NULL, *list = NULL;

    if (mode == 1) {
        if (fds_customer_add(r, in, &out, &warn) == FDS_OK)
            shows(r, out);
    } else if (mode == 2) {
        if (fds_template_apply(r, in) == FDS_OK) {
            if (fds_fielddef_list(r, &list) != FDS_OK)
                abort();
            json_decref(list);
            if (fds_stagedef_list(r, &list) != FDS_OK)
                abort();
        }
    } else {
        json_t *base = json_pack("{s:s,s:s}", "name", "王小明", "phone",
                                 "13800000000");
        json_t *made = NULL;
        if (!base || fds_customer_add(r, base, &made, NULL) != FDS_OK)
            abort();
        const char *id = json_string_value(json_object_get(made, "id"));
        if (fds_customer_edit(r, id, in, &out) == FDS_OK)
            shows(r, out);
        json_decref(base);
        json_decref(made);
    }
    json_decref(out);
    json_decref(warn);
    json_decref(list);
    json_decref(in);
    fds_replica_close(r);
    return 0;
}
