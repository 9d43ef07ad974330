/*
** fuzz_session.c — libFuzzer target for the sans-I/O sync session.
**
** A fresh in-memory replica with one local customer (so there is an outbox
** to push) talks to a "server" whose messages are the fuzz input, split on
** 0x00 bytes.  After each message the session's output is drained.  Any
** sequence of messages (welcome, acks for unknown batches, changes with
** odd records, revokes, errors, garbage) must leave it without a crash, a
** leak or a sanitizer report.  Clock and randomness are fixed so crashes
** reproduce.
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

/* Deterministic bytes (xorshift) so device and record ids repeat. */
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

/* Send everything the session wants to send (discarded), bounded. */
static void drain(fds_session *s)
{
    char *buf;
    size_t len;
    for (int i = 0; i < 64 && fds_session_next(s, &buf, &len) == FDS_OK; i++)
        free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t seed = UINT64_C(0x9e3779b97f4a7c15);
    fds_env env = {fixed_now, fixed_random, &seed};
    fds_replica *r = NULL;
    fds_session *s = NULL;
    char err[256];

    if (fds_replica_open(":memory:", &env, &r, err, sizeof err) != FDS_OK)
        abort();
    json_t *in = json_pack("{s:s,s:s}", "name", "王小明", "phone", "13800000000");
    json_t *out = NULL;
    if (in == NULL || fds_customer_add(r, in, &out, NULL) != FDS_OK)
        abort();
    json_decref(in);
    json_decref(out);
    if (fds_session_new(r, &s) != FDS_OK)
        abort();
    drain(s);

    const char *p = (const char *)data, *end = p + size;
    while (p <= end) {
        const char *z = memchr(p, 0, (size_t)(end - p));
        size_t n = z ? (size_t)(z - p) : (size_t)(end - p);
        (void)fds_session_feed(s, p, n);
        drain(s);
        (void)fds_session_state(s);
        (void)fds_session_errmsg(s);
        if (z == NULL)
            break;
        p = z + 1;
    }
    fds_session_stats st;
    fds_session_stats_get(s, &st);
    fds_session_free(s);
    fds_replica_close(r);
    return 0;
}
