/*
** test_codec.c — the fieldsync wire codec (protocol/src).
**
**   round trips      decode(encode(x)) == x for every message type, and the
**                    bytes are stable (equal structs, equal bytes)
**   refusals         every decoder refusal code from crafted input, the
**                    generic ones (missing key, wrong JSON type, negative or
**                    oversized number) applied to every member of every type
**   limits           each named limit at its value (accepted) and one over
**   version vectors  sorted on decode and encode, duplicates refused
**   encoder checks   the encoder refuses what the decoder would refuse
**   data cases       tests/protocol/valid/ cases decode and re-encode
**                    canonically; tests/protocol/invalid/<case>--<code>.json
**                    fail with the wire error named after "--"
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "fieldsync_proto.h"
#include "cases.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define D1 "7d3c2a10-5b4e-4f7a-9c21-0e8f6b1d2a01"
#define D2 "c0ffee00-1234-4abc-8def-000000000002"
#define R1 "3f2b8c9e-1d4a-4e6b-8f0c-5a7d9e1b2c3d"
#define MAX_INT_P1 "9007199254740993"   /* 2^53 + 1 */

#define CHANGE_JSON                                                         \
    "{\"t\":\"customer\",\"r\":\"" R1 "\",\"f\":\"name\",\"v\":\"x\","     \
    "\"vv\":{\"" D1 "\":3},\"h\":\"0190a1b2c3d40000\",\"d\":\"" D1 "\"}"
#define SEQ_CHANGE_JSON                                                     \
    "{\"t\":\"customer\",\"r\":\"" R1 "\",\"f\":\"name\",\"v\":\"x\","     \
    "\"vv\":{\"" D1 "\":3},\"h\":\"0190a1b2c3d40000\",\"d\":\"" D1 "\","   \
    "\"u\":\"alice\",\"s\":9,\"at\":1717000000000}"

/* 64 bucket checksums, as in a sums message. */
#define SUM1 "\"0123456789abcdef\""
#define SUMS4 SUM1 "," SUM1 "," SUM1 "," SUM1
#define SUMS16 SUMS4 "," SUMS4 "," SUMS4 "," SUMS4
#define SUMS64 SUMS16 "," SUMS16 "," SUMS16 "," SUMS16

/* One valid message of every type; the generic tests mutate these. */
static const char *const samples[] = {
    "{\"type\":\"hello\",\"v\":1,\"device\":\"" D1 "\",\"cursor\":4,"
    "\"counter\":17,\"store\":\"st-1\",\"epoch\":2,\"client\":\"cli/1\"}",
    "{\"type\":\"welcome\",\"v\":1,\"user\":\"alice\",\"role\":\"rep\","
    "\"device\":\"" D1 "\",\"head\":12,\"counter\":5,\"store\":\"st-1\","
    "\"epoch\":2,\"time\":1717000000000}",
    "{\"type\":\"push\",\"batch\":3,\"changes\":[" CHANGE_JSON "]}",
    "{\"type\":\"ack\",\"batch\":3,\"accepted\":0,\"refused\":[{\"i\":0,"
    "\"code\":\"forbidden\",\"message\":\"no\"}],"
    "\"stamps\":[{\"i\":1,\"h\":\"0190a1b2c3d40007\"}]}",
    "{\"type\":\"pull\",\"after\":0,\"limit\":100}",
    "{\"type\":\"changes\",\"changes\":[" SEQ_CHANGE_JSON "],\"last\":9,"
    "\"more\":false}",
    "{\"type\":\"revoke\",\"records\":[{\"t\":\"customer\",\"r\":\"" R1 "\"}]}",
    "{\"type\":\"notify\",\"head\":12}",
    "{\"type\":\"error\",\"code\":\"limit\",\"message\":\"too many\","
    "\"batch\":3,\"fatal\":true}",
    "{\"type\":\"sums\",\"buckets\":[" SUMS64 "]}",
    "{\"type\":\"repair\",\"buckets\":[0,7,63]}",
};
#define N_SAMPLES (sizeof samples / sizeof samples[0])

/* Keys whose absence the decoder must refuse, per sample (NULL-ended). */
static const char *const required[N_SAMPLES][6] = {
    {"type", "v", "device", "cursor", NULL},
    {"type", "v", "user", "role", "device", "head"},
    {"type", "batch", "changes", NULL},
    {"type", "batch", "accepted", "refused", NULL},
    {"type", "after", "limit", NULL},
    {"type", "changes", "last", "more", NULL},
    {"type", "records", NULL},
    {"type", "head", NULL},
    {"type", "code", "message", NULL},
    {"type", "buckets", NULL},
    {"type", "buckets", NULL},
};
static const char *const change_required[] = {"t", "r", "f", "v", "vv", "h",
                                              "d", NULL};

/* ---- helpers ---------------------------------------------------------------- */

static char *xstrdup(const char *s)
{
    char *p = strdup(s);
    assert_non_null(p);
    return p;
}

static json_t *load(const char *s)
{
    json_error_t e;
    json_t *j = json_loads(s, 0, &e);
    if (j == NULL)
        fail_msg("test JSON does not parse: %s: %s", e.text, s);
    return j;
}

/* Decode buf and check the result code; prints the error line on mismatch.
** Returns the message on success (caller frees), NULL otherwise. */
static fdsp_msg *expect_n(const char *buf, size_t len, int code)
{
    fdsp_msg *m = (fdsp_msg *)0x1;
    char err[256];
    int rc = fdsp_decode(buf, len, &m, err, sizeof err);
    if (rc != code)
        fail_msg("expected %s, got %s (%s) for: %.200s", fdsp_errname(code),
                 fdsp_errname(rc), err, buf ? buf : "(null)");
    if (code != FDSP_OK) {
        assert_null(m);
        assert_true(strlen(err) > 0);
        return NULL;
    }
    assert_non_null(m);
    return m;
}

static void expect(const char *json, int code)
{
    fdsp_msg_free(expect_n(json, strlen(json), code));
}

/* Dump a mutated JSON value and decode it. */
static void expect_json(json_t *j, int code)
{
    char *s = json_dumps(j, JSON_COMPACT);
    assert_non_null(s);
    expect(s, code);
    free(s);
}

/* fdsp_decode of a C string, for tests that look at the error line. */
static int dec(const char *s, char *err, size_t errlen)
{
    fdsp_msg *m = NULL;
    int rc = fdsp_decode(s, strlen(s), &m, err, errlen);
    fdsp_msg_free(m);
    return rc;
}

static void assert_str_eq(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        assert_true(a == NULL && b == NULL);
    else
        assert_string_equal(a, b);
}

/* "u": NULL and "" both mean "not set". */
static const char *user_of(const fdsp_change *c)
{
    return c->user ? c->user : "";
}

static void assert_change_eq(const fdsp_change *a, const fdsp_change *b)
{
    assert_str_eq(a->table, b->table);
    assert_str_eq(a->record, b->record);
    assert_str_eq(a->field, b->field);
    assert_str_eq(a->value, b->value);
    assert_int_equal(a->vv.n, b->vv.n);
    for (size_t i = 0; i < a->vv.n; i++) {
        assert_string_equal(a->vv.e[i].device, b->vv.e[i].device);
        assert_int_equal(a->vv.e[i].counter, b->vv.e[i].counter);
    }
    assert_int_equal(a->hlc, b->hlc);
    assert_str_eq(a->device, b->device);
    assert_string_equal(user_of(a), user_of(b));
    assert_int_equal(a->seq, b->seq);
    assert_int_equal(a->server_ms, b->server_ms);
}

static void assert_msg_eq(const fdsp_msg *a, const fdsp_msg *b)
{
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->version, b->version);
    assert_str_eq(a->device, b->device);
    assert_str_eq(a->user, b->user);
    assert_str_eq(a->role, b->role);
    assert_str_eq(a->client, b->client);
    assert_int_equal(a->cursor, b->cursor);
    assert_int_equal(a->head, b->head);
    assert_int_equal(a->batch, b->batch);
    assert_int_equal(a->n_changes, b->n_changes);
    for (size_t i = 0; i < a->n_changes; i++)
        assert_change_eq(&a->changes[i], &b->changes[i]);
    assert_int_equal(a->accepted, b->accepted);
    assert_int_equal(a->n_refused, b->n_refused);
    for (size_t i = 0; i < a->n_refused; i++) {
        assert_int_equal(a->refused[i].index, b->refused[i].index);
        assert_int_equal(a->refused[i].code, b->refused[i].code);
        assert_str_eq(a->refused[i].message, b->refused[i].message);
    }
    assert_int_equal(a->after, b->after);
    assert_int_equal(a->limit, b->limit);
    assert_int_equal(a->last, b->last);
    assert_int_equal(!!a->more, !!b->more);
    assert_int_equal(a->n_records, b->n_records);
    for (size_t i = 0; i < a->n_records; i++) {
        assert_str_eq(a->records[i].table, b->records[i].table);
        assert_str_eq(a->records[i].record, b->records[i].record);
    }
    assert_int_equal(a->code, b->code);
    assert_str_eq(a->message, b->message);
    assert_int_equal(!!a->fatal, !!b->fatal);
    assert_int_equal(a->dev_counter, b->dev_counter);
    assert_int_equal(!!a->live, !!b->live);
    assert_str_eq(a->store, b->store);
    assert_int_equal(a->epoch, b->epoch);
    assert_int_equal(a->server_time, b->server_time);
    assert_int_equal(a->n_stamps, b->n_stamps);
    for (size_t i = 0; i < a->n_stamps; i++) {
        assert_int_equal(a->stamps[i].index, b->stamps[i].index);
        assert_int_equal(a->stamps[i].hlc, b->stamps[i].hlc);
    }
    assert_int_equal(a->n_notices, b->n_notices);
    for (size_t i = 0; i < a->n_notices; i++) {
        assert_int_equal(a->notices[i].index, b->notices[i].index);
        assert_str_eq(a->notices[i].kind, b->notices[i].kind);
        assert_str_eq(a->notices[i].field, b->notices[i].field);
        assert_str_eq(a->notices[i].owner, b->notices[i].owner);
    }
    assert_int_equal(a->n_sums, b->n_sums);
    for (size_t i = 0; i < a->n_sums; i++)
        assert_int_equal(a->sums[i], b->sums[i]);
    assert_int_equal(a->n_buckets, b->n_buckets);
    for (size_t i = 0; i < a->n_buckets; i++)
        assert_int_equal(a->buckets[i], b->buckets[i]);
}

/* encode -> decode gives an equal struct; encoding it again, and encoding
** the original again, give the same bytes.  Returns the bytes (free()). */
static char *roundtrip(const fdsp_msg *m)
{
    char *b1, *b2, *b3;
    size_t n1, n2, n3;
    assert_int_equal(fdsp_encode(m, &b1, &n1), FDSP_OK);
    assert_int_equal(strlen(b1), n1);
    fdsp_msg *d = expect_n(b1, n1, FDSP_OK);
    assert_msg_eq(m, d);
    assert_int_equal(fdsp_encode(d, &b2, &n2), FDSP_OK);
    assert_int_equal(fdsp_encode(m, &b3, &n3), FDSP_OK);
    assert_int_equal(n1, n2);
    assert_memory_equal(b1, b2, n1);
    assert_int_equal(n1, n3);
    assert_memory_equal(b1, b3, n1);
    fdsp_msg_free(d);
    free(b2);
    free(b3);
    return b1;
}

static void vv_set(fdsp_vv *vv, size_t n, const char *const *dev,
                   const uint64_t *ctr)
{
    vv->n = n;
    vv->e = calloc(n, sizeof *vv->e);
    assert_non_null(vv->e);
    for (size_t i = 0; i < n; i++) {
        vv->e[i].device = xstrdup(dev[i]);
        vv->e[i].counter = ctr[i];
    }
}

static void make_change(fdsp_change *c, const char *field, const char *value,
                        int64_t seq)
{
    static const char *const devs[] = {D1, D2};
    static const uint64_t ctrs[] = {3, 1};
    memset(c, 0, sizeof *c);
    c->table = xstrdup("customer");
    c->record = xstrdup(R1);
    c->field = xstrdup(field);
    c->value = value ? xstrdup(value) : NULL;
    vv_set(&c->vv, 2, devs, ctrs);
    c->hlc = UINT64_C(0x0190a1b2c3d40001);
    c->device = xstrdup(D1);
    c->user = xstrdup(seq ? "alice" : "");
    c->seq = seq;
    c->server_ms = seq ? 1717000000000 + seq : 0;
}

static fdsp_msg *make_push(size_t n)
{
    fdsp_msg *m = fdsp_msg_new(FDSP_PUSH);
    assert_non_null(m);
    m->batch = 7;
    m->changes = calloc(n, sizeof *m->changes);
    assert_non_null(m->changes);
    m->n_changes = n;
    for (size_t i = 0; i < n; i++)
        make_change(&m->changes[i], "name", i % 2 ? NULL : "王小明", 0);
    return m;
}

/* A string of n copies of c (free()). */
static char *rep(char c, size_t n)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* ---- round trips -------------------------------------------------------------- */

static void test_roundtrip_hello(void **state)
{
    (void)state;
    fdsp_msg *m = fdsp_msg_new(FDSP_HELLO);
    assert_int_equal(m->version, FDSP_VERSION);
    m->device = xstrdup(D1);
    m->cursor = 42;
    m->client = xstrdup("fieldsync-cli/0.1 客户端");
    char *b = roundtrip(m);
    /* The key order is part of the contract (byte-stable output). */
    assert_string_equal(b, "{\"type\":\"hello\",\"v\":1,\"device\":\"" D1
                           "\",\"cursor\":42,\"client\":\"fieldsync-cli/0.1 客户端\"}");
    free(b);
    free(m->client);
    m->client = NULL;       /* optional: omitted */
    b = roundtrip(m);
    assert_null(strstr(b, "client"));
    assert_null(strstr(b, "live"));
    free(b);
    m->live = 1;            /* optional: written last, only when set */
    b = roundtrip(m);
    assert_non_null(strstr(b, ",\"cursor\":42,\"live\":true}"));
    free(b);
    fdsp_msg_free(m);
}

static void test_roundtrip_welcome(void **state)
{
    (void)state;
    fdsp_msg *m = fdsp_msg_new(FDSP_WELCOME);
    m->user = xstrdup("alice");
    m->role = xstrdup("manager");
    m->device = xstrdup(D2);
    m->head = (int64_t)1 << 53;
    char *b = roundtrip(m);
    assert_string_equal(b, "{\"type\":\"welcome\",\"v\":1,\"user\":\"alice\","
                           "\"role\":\"manager\",\"device\":\"" D2 "\","
                           "\"head\":9007199254740992}");
    free(b);
    fdsp_msg_free(m);
}

static void test_roundtrip_push(void **state)
{
    (void)state;
    fdsp_msg *m = make_push(3);
    free(m->changes[2].value);
    m->changes[2].value = xstrdup("");       /* empty is not null */
    char *b = roundtrip(m);
    /* The change key order, null value, and no "u"/"s"/"at" when unset. */
    assert_non_null(strstr(b, "{\"t\":\"customer\",\"r\":\"" R1 "\",\"f\":\"name\","
                              "\"v\":null,\"vv\":{\"" D1 "\":3,\"" D2 "\":1},"
                              "\"h\":\"0190a1b2c3d40001\",\"d\":\"" D1 "\"}"));
    free(b);
    fdsp_msg_free(m);
}

static void test_roundtrip_ack(void **state)
{
    (void)state;
    fdsp_msg *m = fdsp_msg_new(FDSP_ACK);
    m->batch = 7;
    m->accepted = 2;
    char *b = roundtrip(m);
    assert_string_equal(b, "{\"type\":\"ack\",\"batch\":7,\"accepted\":2,"
                           "\"refused\":[]}");
    free(b);
    m->refused = calloc(2, sizeof *m->refused);
    m->n_refused = 2;
    m->refused[0].index = 0;
    m->refused[0].code = FDSP_E_FORBIDDEN;
    m->refused[0].message = xstrdup("customer/" R1 " owner: not yours");
    m->refused[1].index = FDSP_MAX_BATCH - 1;
    m->refused[1].code = FDSP_E_LIMIT;
    m->refused[1].message = xstrdup("");
    b = roundtrip(m);
    assert_non_null(strstr(b, "{\"i\":0,\"code\":\"forbidden\",\"message\":"));
    free(b);
    /* Duplicate-customer notices (撞单): an owner, and one withheld. */
    m->notices = calloc(2, sizeof *m->notices);
    m->n_notices = 2;
    m->notices[0].index = 1;
    m->notices[0].kind = xstrdup("duplicate");
    m->notices[0].field = xstrdup("phone");
    m->notices[0].owner = xstrdup("wangfang");
    m->notices[1].index = 1;
    m->notices[1].kind = xstrdup("duplicate");
    m->notices[1].field = xstrdup("wechat");
    b = roundtrip(m);
    assert_non_null(strstr(b, ",\"notices\":[{\"i\":1,\"kind\":\"duplicate\","
                              "\"f\":\"phone\",\"owner\":\"wangfang\"},"
                              "{\"i\":1,\"kind\":\"duplicate\",\"f\":\"wechat\"}]"));
    free(b);
    /* Refused by the encoder as the decoder would refuse them. */
    char *out = NULL;
    size_t len = 0;
    free(m->notices[1].field);
    m->notices[1].field = xstrdup("");
    assert_int_not_equal(fdsp_encode(m, &out, &len), FDSP_OK);
    assert_null(out);
    free(m->notices[1].field);
    m->notices[1].field = xstrdup("wechat");
    m->notices[1].index = FDSP_MAX_BATCH;
    assert_int_equal(fdsp_encode(m, &out, &len), FDSP_E_VALUE);
    fdsp_msg_free(m);
}

static void test_roundtrip_pull(void **state)
{
    (void)state;
    fdsp_msg *m = fdsp_msg_new(FDSP_PULL);
    m->after = 1200;
    m->limit = FDSP_MAX_BATCH;
    char *b = roundtrip(m);
    assert_string_equal(b, "{\"type\":\"pull\",\"after\":1200,\"limit\":500}");
    free(b);
    fdsp_msg_free(m);
}

static void test_roundtrip_changes(void **state)
{
    (void)state;
    fdsp_msg *m = fdsp_msg_new(FDSP_CHANGES);
    m->last = 10;
    m->more = 0;
    char *b = roundtrip(m);             /* an empty batch is valid */
    assert_string_equal(b, "{\"type\":\"changes\",\"changes\":[],\"last\":10,"
                           "\"more\":false}");
    free(b);
    m->changes = calloc(2, sizeof *m->changes);
    m->n_changes = 2;
    make_change(&m->changes[0], "stage", "quote", 11);
    make_change(&m->changes[1], "f.industry", NULL, 12);
    m->last = 14;
    m->more = 1;
    b = roundtrip(m);
    assert_non_null(strstr(b, "\"d\":\"" D1 "\",\"u\":\"alice\",\"s\":11,"
                              "\"at\":1717000000011}"));
    assert_non_null(strstr(b, "\"more\":true}"));
    free(b);
    m->after = 9;           /* a live batch: "after" right after "type" */
    m->more = 0;
    b = roundtrip(m);
    assert_int_equal(strncmp(b, "{\"type\":\"changes\",\"after\":9,"
                                "\"changes\":[", 34), 0);
    free(b);
    fdsp_msg_free(m);
}

static void test_roundtrip_revoke(void **state)
{
    (void)state;
    fdsp_msg *m = fdsp_msg_new(FDSP_REVOKE);
    m->records = calloc(2, sizeof *m->records);
    m->n_records = 2;
    m->records[0].table = xstrdup("customer");
    m->records[0].record = xstrdup(R1);
    m->records[1].table = xstrdup("share");
    m->records[1].record = xstrdup(R1 ":bob");
    char *b = roundtrip(m);
    assert_string_equal(b, "{\"type\":\"revoke\",\"records\":[{\"t\":\"customer\","
                           "\"r\":\"" R1 "\"},{\"t\":\"share\",\"r\":\"" R1
                           ":bob\"}]}");
    free(b);
    fdsp_msg_free(m);
}

static void test_roundtrip_notify(void **state)
{
    (void)state;
    fdsp_msg *m = fdsp_msg_new(FDSP_NOTIFY);
    m->head = 0;
    char *b = roundtrip(m);
    assert_string_equal(b, "{\"type\":\"notify\",\"head\":0}");
    free(b);
    fdsp_msg_free(m);
}

static void test_roundtrip_error(void **state)
{
    (void)state;
    fdsp_msg *m = fdsp_msg_new(FDSP_ERROR);
    m->code = FDSP_E_RATE;
    m->message = xstrdup("over FDSP_RATE_PER_SEC");
    char *b = roundtrip(m);
    assert_string_equal(b, "{\"type\":\"error\",\"code\":\"rate_limited\","
                           "\"message\":\"over FDSP_RATE_PER_SEC\"}");
    free(b);
    m->batch = 5;
    m->fatal = 1;
    b = roundtrip(m);
    assert_string_equal(b, "{\"type\":\"error\",\"code\":\"rate_limited\","
                           "\"message\":\"over FDSP_RATE_PER_SEC\",\"batch\":5,"
                           "\"fatal\":true}");
    free(b);
    /* Every code that may travel survives the trip by name. */
    for (int c = 1; c < FDSP_E__COUNT; c++) {
        if (c == FDSP_E_NOMEM)
            continue;
        m->code = c;
        free(roundtrip(m));
    }
    fdsp_msg_free(m);
}

/* Text with escapes, control characters, and non-BMP characters comes back
** byte for byte. */
static void test_roundtrip_awkward_text(void **state)
{
    (void)state;
    fdsp_msg *m = make_push(1);
    free(m->changes[0].value);
    m->changes[0].value = xstrdup("quote \" backslash \\ slash / tab \t nl \n "
                                  "\x01 emoji \xf0\x9f\x98\x80 中文");
    free(roundtrip(m));
    fdsp_msg_free(m);
}

/* ---- refusals ------------------------------------------------------------------- */

static void test_too_big(void **state)
{
    (void)state;
    /* Exactly FDSP_MAX_FRAME bytes (a notify padded with JSON whitespace)
    ** is accepted; one more byte is refused before parsing. */
    const char *msg = "{\"type\":\"notify\",\"head\":1}";
    char *buf = rep(' ', FDSP_MAX_FRAME + 1);
    memcpy(buf, msg, strlen(msg));
    fdsp_msg_free(expect_n(buf, FDSP_MAX_FRAME, FDSP_OK));
    expect_n(buf, FDSP_MAX_FRAME + 1, FDSP_E_TOOBIG);
    /* Refused by size even when the content is garbage. */
    memset(buf, '[', FDSP_MAX_FRAME + 1);
    expect_n(buf, FDSP_MAX_FRAME + 1, FDSP_E_TOOBIG);
    free(buf);
}

static void test_too_deep(void **state)
{
    (void)state;
    /* The message object is level 1; a push change's vv is level 4. */
    expect("{\"type\":\"notify\",\"head\":1,\"x\":[[[[[[[1]]]]]]]}", FDSP_OK);
    expect("{\"type\":\"notify\",\"head\":1,\"x\":[[[[[[[[1]]]]]]]]}",
           FDSP_E_DEPTH);
    expect("{\"type\":\"notify\",\"head\":1,\"x\":[{\"a\":[{\"b\":[{\"c\":[{}]}]}]}]}",
           FDSP_E_DEPTH);
    /* Brackets inside strings, even after an escaped quote, do not nest. */
    expect("{\"type\":\"notify\",\"head\":1,\"x\":\"\\\"[[[[[[[[[[{{{{{{\"}",
           FDSP_OK);
    /* Far beyond jansson's own limit: refused by the pre-scan, cheaply. */
    char *deep = rep('[', 100000);
    expect_n(deep, 100000, FDSP_E_DEPTH);
    free(deep);
}

static void test_bad_utf8(void **state)
{
    (void)state;
    expect("{\"type\":\"error\",\"code\":\"auth\",\"message\":\"\xff\"}",
           FDSP_E_UTF8);
    expect("{\"type\":\"error\",\"code\":\"auth\",\"message\":\"\xc3\"}",
           FDSP_E_UTF8);                       /* truncated sequence */
    expect("{\"type\":\"error\",\"code\":\"auth\",\"message\":\"\xc0\xaf\"}",
           FDSP_E_UTF8);                       /* overlong '/' */
    expect("{\"type\":\"error\",\"code\":\"auth\",\"message\":\"\xed\xa0\x80\"}",
           FDSP_E_UTF8);                       /* encoded surrogate */
    expect("{\"type\":\"error\",\"code\":\"auth\",\"message\":\"\xf4\x90\x80\x80\"}",
           FDSP_E_UTF8);                       /* above U+10FFFF */
    expect("{\"type\":\"error\",\"code\":\"auth\",\"m\xff\":1,\"message\":\"\"}",
           FDSP_E_UTF8);                       /* in a key */
}

static void test_duplicate_key(void **state)
{
    (void)state;
    expect("{\"type\":\"notify\",\"head\":1,\"head\":2}", FDSP_E_DUPKEY);
    expect("{\"type\":\"notify\",\"type\":\"notify\",\"head\":1}", FDSP_E_DUPKEY);
    /* In a version vector: two counters for one device. */
    expect("{\"type\":\"push\",\"batch\":1,\"changes\":[{\"t\":\"customer\","
           "\"r\":\"r\",\"f\":\"name\",\"v\":\"x\",\"vv\":{\"a\":1,\"b\":1,\"a\":2},"
           "\"h\":\"0190a1b2c3d40000\",\"d\":\"a\"}]}", FDSP_E_DUPKEY);
}

static void test_unknown_type_and_version(void **state)
{
    (void)state;
    expect("{\"type\":\"subscribe\"}", FDSP_E_UNKNOWN_TYPE);
    expect("{\"type\":\"\"}", FDSP_E_UNKNOWN_TYPE);
    expect("{\"type\":\"HELLO\",\"v\":1,\"device\":\"d\",\"cursor\":0}",
           FDSP_E_UNKNOWN_TYPE);
    expect("{\"type\":\"hello\",\"v\":2,\"device\":\"d\",\"cursor\":0}",
           FDSP_E_VERSION);
    /* A v2 hello may look different: the version is reported, not fields. */
    expect("{\"type\":\"hello\",\"v\":2}", FDSP_E_VERSION);
    expect("{\"type\":\"welcome\",\"v\":0,\"user\":\"u\",\"role\":\"r\","
           "\"device\":\"d\",\"head\":0}", FDSP_E_VERSION);
    expect("{\"type\":\"hello\",\"v\":\"1\",\"device\":\"d\",\"cursor\":0}",
           FDSP_E_TYPE);
    /* Other types carry no version: a "v" there is an ignored unknown key. */
    expect("{\"type\":\"notify\",\"head\":1,\"v\":99}", FDSP_OK);
}

static void test_top_level_and_syntax(void **state)
{
    (void)state;
    expect("[]", FDSP_E_TYPE);
    expect("[{\"type\":\"notify\",\"head\":1}]", FDSP_E_TYPE);
    expect("1", FDSP_E_TYPE);
    expect("\"notify\"", FDSP_E_TYPE);
    expect("null", FDSP_E_TYPE);
    expect("true", FDSP_E_TYPE);
    expect("", FDSP_E_JSON);
    expect("   ", FDSP_E_JSON);
    expect_n(NULL, 0, FDSP_E_JSON);
    expect("{\"type\":\"notify\",\"head\":1", FDSP_E_JSON);
    expect("{\"type\":\"notify\",\"head\":1} x", FDSP_E_JSON);
    expect("{\"type\":\"notify\",\"head\":1}{}", FDSP_E_JSON);
    expect("{\"type\":\"notify\",\"head\":1}\n", FDSP_OK);   /* whitespace */
    expect("{'type':'notify'}", FDSP_E_JSON);
    expect("{\"type\":\"notify\",\"head\":01}", FDSP_E_JSON);
    /* A raw NUL byte right after the message is trailing garbage. */
    expect_n("{\"type\":\"notify\",\"head\":1}\0", 28, FDSP_E_JSON);
}

static void test_nul_in_string(void **state)
{
    (void)state;
    expect("{\"type\":\"error\",\"code\":\"auth\",\"message\":\"a\\u0000b\"}",
           FDSP_E_VALUE);
    expect("{\"type\":\"error\",\"code\":\"auth\",\"message\":\"\",\"k\\u0000\":1}",
           FDSP_E_VALUE);
    /* A raw NUL byte inside a string is a control character: bad JSON. */
    expect_n("{\"type\":\"error\",\"code\":\"auth\",\"message\":\"a\0b\"}", 44,
             FDSP_E_JSON);
}

static void test_missing_fields(void **state)
{
    (void)state;
    for (size_t s = 0; s < N_SAMPLES; s++) {
        expect(samples[s], FDSP_OK);
        for (size_t k = 0; k < 6 && required[s][k]; k++) {
            json_t *j = load(samples[s]);
            assert_int_equal(json_object_del(j, required[s][k]), 0);
            expect_json(j, FDSP_E_MISSING);
            json_decref(j);
        }
    }
    /* Every required member of a change (push), and "s" in a changes msg. */
    for (size_t k = 0; change_required[k]; k++) {
        json_t *j = load(samples[2]);
        json_t *c = json_array_get(json_object_get(j, "changes"), 0);
        assert_int_equal(json_object_del(c, change_required[k]), 0);
        expect_json(j, FDSP_E_MISSING);
        json_decref(j);
    }
    json_t *j = load(samples[5]);
    json_object_del(json_array_get(json_object_get(j, "changes"), 0), "s");
    expect_json(j, FDSP_E_MISSING);
    json_decref(j);
    /* Members of refusals and revoked records. */
    const char *const ack_keys[] = {"i", "code", "message"};
    for (size_t k = 0; k < 3; k++) {
        j = load(samples[3]);
        json_object_del(json_array_get(json_object_get(j, "refused"), 0),
                        ack_keys[k]);
        expect_json(j, FDSP_E_MISSING);
        json_decref(j);
    }
    const char *const stamp_keys[] = {"i", "h"};
    for (size_t k = 0; k < 2; k++) {
        j = load(samples[3]);
        json_object_del(json_array_get(json_object_get(j, "stamps"), 0),
                        stamp_keys[k]);
        expect_json(j, FDSP_E_MISSING);
        json_decref(j);
    }
    const char *const rec_keys[] = {"t", "r"};
    for (size_t k = 0; k < 2; k++) {
        j = load(samples[6]);
        json_object_del(json_array_get(json_object_get(j, "records"), 0),
                        rec_keys[k]);
        expect_json(j, FDSP_E_MISSING);
        json_decref(j);
    }
    /* The optional members really are optional. */
    expect("{\"type\":\"hello\",\"v\":1,\"device\":\"d\",\"cursor\":0}", FDSP_OK);
    expect("{\"type\":\"error\",\"code\":\"auth\",\"message\":\"m\"}", FDSP_OK);
}

/* Replace every member of obj (inside root) in turn with a value of each
** other JSON type; the decoder must answer FDSP_E_TYPE every time. */
static void wrong_types_of(const char *sample, const char *array_key)
{
    json_t *probe = load(sample);
    json_t *obj = array_key ? json_array_get(json_object_get(probe, array_key), 0)
                            : probe;
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val) {
        json_t *cands[] = {json_integer(1), json_real(1.5), json_string("1"),
                           json_true(), json_array(), json_object()};
        for (size_t c = 0; c < sizeof cands / sizeof cands[0]; c++) {
            if (json_typeof(cands[c]) == json_typeof(val) ||
                (json_is_boolean(cands[c]) && json_is_boolean(val)))
                continue;
            json_t *j = load(sample);
            json_t *o = array_key
                ? json_array_get(json_object_get(j, array_key), 0) : j;
            json_object_set(o, key, cands[c]);
            expect_json(j, FDSP_E_TYPE);
            json_decref(j);
        }
        for (size_t c = 0; c < sizeof cands / sizeof cands[0]; c++)
            json_decref(cands[c]);
    }
    json_decref(probe);
}

static void test_wrong_types(void **state)
{
    (void)state;
    for (size_t s = 0; s < N_SAMPLES; s++)
        wrong_types_of(samples[s], NULL);
    wrong_types_of(samples[2], "changes");
    wrong_types_of(samples[5], "changes");
    wrong_types_of(samples[3], "refused");
    wrong_types_of(samples[6], "records");
    wrong_types_of(samples[3], "stamps");
    /* A required member given null is the wrong type, except "v" (clear). */
    expect("{\"type\":\"notify\",\"head\":null}", FDSP_E_TYPE);
    expect("{\"type\":\"hello\",\"v\":1,\"device\":null,\"cursor\":0}",
           FDSP_E_TYPE);
    /* Array elements of the wrong type. */
    expect("{\"type\":\"push\",\"batch\":1,\"changes\":[1]}", FDSP_E_TYPE);
    expect("{\"type\":\"revoke\",\"records\":[\"customer\"]}", FDSP_E_TYPE);
    expect("{\"type\":\"ack\",\"batch\":1,\"accepted\":0,\"refused\":[[]]}",
           FDSP_E_TYPE);
    /* A vv counter of the wrong type. */
    json_t *j = load(samples[2]);
    json_t *c = json_array_get(json_object_get(j, "changes"), 0);
    json_object_set_new(json_object_get(c, "vv"), D1, json_string("3"));
    expect_json(j, FDSP_E_TYPE);
    json_object_set_new(json_object_get(c, "vv"), D1, json_real(3.0));
    expect_json(j, FDSP_E_TYPE);
    json_decref(j);
}

/* Every integer member: -1 is a bad value; 2^53 + 1 is a bad value (or a
** limit for the counts bounded by FDSP_MAX_BATCH). */
static void numbers_of(const char *sample, const char *array_key)
{
    json_t *probe = load(sample);
    json_t *obj = array_key ? json_array_get(json_object_get(probe, array_key), 0)
                            : probe;
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val) {
        if (!json_is_integer(val) || strcmp(key, "v") == 0)
            continue;
        int big = strcmp(key, "limit") == 0 || strcmp(key, "accepted") == 0
                  ? FDSP_E_LIMIT : FDSP_E_VALUE;
        const json_int_t tries[] = {-1, ((json_int_t)1 << 53) + 1, INT64_MIN};
        const int want[] = {FDSP_E_VALUE, big, FDSP_E_VALUE};
        for (size_t t = 0; t < 3; t++) {
            json_t *j = load(sample);
            json_t *o = array_key
                ? json_array_get(json_object_get(j, array_key), 0) : j;
            json_object_set_new(o, key, json_integer(tries[t]));
            expect_json(j, want[t]);
            json_decref(j);
        }
    }
    json_decref(probe);
}

static void test_numbers(void **state)
{
    (void)state;
    for (size_t s = 0; s < N_SAMPLES; s++)
        numbers_of(samples[s], NULL);
    numbers_of(samples[5], "changes");
    numbers_of(samples[3], "refused");
    numbers_of(samples[3], "stamps");
    /* 2^53 itself is allowed; integers jansson cannot hold are bad values. */
    expect("{\"type\":\"notify\",\"head\":9007199254740992}", FDSP_OK);
    expect("{\"type\":\"notify\",\"head\":" MAX_INT_P1 "}", FDSP_E_VALUE);
    expect("{\"type\":\"notify\",\"head\":99999999999999999999}", FDSP_E_VALUE);
    expect("{\"type\":\"notify\",\"head\":-0}", FDSP_OK);
    expect("{\"type\":\"notify\",\"head\":1e3}", FDSP_E_TYPE);
    /* Counts with a floor: pull limit 0, empty push, refusal index past
    ** any batch. */
    expect("{\"type\":\"pull\",\"after\":0,\"limit\":0}", FDSP_E_VALUE);
    expect("{\"type\":\"push\",\"batch\":1,\"changes\":[]}", FDSP_E_VALUE);
    expect("{\"type\":\"ack\",\"batch\":1,\"accepted\":0,\"refused\":[{\"i\":500,"
           "\"code\":\"auth\",\"message\":\"m\"}]}", FDSP_E_VALUE);
    expect("{\"type\":\"ack\",\"batch\":1,\"accepted\":0,\"refused\":[{\"i\":499,"
           "\"code\":\"auth\",\"message\":\"m\"}]}", FDSP_OK);
}

static void set_change_member(json_t *j, const char *key, json_t *v)
{
    json_t *c = json_array_get(json_object_get(j, "changes"), 0);
    json_object_set_new(c, key, v);
}

static void test_change_values(void **state)
{
    (void)state;
    const char *const bad_hlc[] = {"0190a1b2c3d4000", "0190a1b2c3d400000",
                                   "0190A1B2C3D40000", "0190a1b2c3d4000g",
                                   "", " 190a1b2c3d40000", "0x90a1b2c3d40000"};
    for (size_t i = 0; i < sizeof bad_hlc / sizeof bad_hlc[0]; i++) {
        json_t *j = load(samples[2]);
        set_change_member(j, "h", json_string(bad_hlc[i]));
        expect_json(j, FDSP_E_VALUE);
        json_decref(j);
    }
    json_t *j = load(samples[2]);
    set_change_member(j, "h", json_string("ffffffffffffffff"));
    fdsp_msg *m = NULL;
    char *s = json_dumps(j, JSON_COMPACT);
    m = expect_n(s, strlen(s), FDSP_OK);
    assert_true(m->changes[0].hlc == UINT64_MAX);
    fdsp_msg_free(m);
    free(s);
    json_decref(j);

    /* Counters: 0, negative and over 2^53 are bad values. */
    const json_int_t bad_ctr[] = {0, -1, ((json_int_t)1 << 53) + 1};
    for (size_t i = 0; i < 3; i++) {
        j = load(samples[2]);
        json_t *c = json_array_get(json_object_get(j, "changes"), 0);
        json_object_set_new(json_object_get(c, "vv"), D2,
                            json_integer(bad_ctr[i]));
        expect_json(j, FDSP_E_VALUE);
        json_decref(j);
    }
    /* Names and ids: alphabet and emptiness. */
    const struct { const char *key; const char *val; int code; } cases[] = {
        {"t", "Customer", FDSP_E_VALUE}, {"t", "", FDSP_E_VALUE},
        {"t", "cust omer", FDSP_E_VALUE}, {"f", "f.KEY", FDSP_E_VALUE},
        {"f", "f.industry_2", FDSP_OK}, {"f", "名字", FDSP_E_VALUE},
        {"r", "", FDSP_E_VALUE}, {"r", "a b", FDSP_E_VALUE},
        {"r", "a\"b", FDSP_E_VALUE}, {"r", "a'b", FDSP_E_VALUE},
        {"r", "a\\b", FDSP_E_VALUE}, {"r", "a\tb", FDSP_E_VALUE},
        {"r", "客户", FDSP_E_VALUE}, {"r", "KEY", FDSP_OK},
        {"r", R1 ":bob@example.com", FDSP_OK}, {"d", "", FDSP_E_VALUE},
        {"u", "", FDSP_E_VALUE}, {"u", "bob", FDSP_OK},
        {"v", "", FDSP_OK}, {"s", "", FDSP_E_TYPE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        j = load(samples[2]);
        set_change_member(j, cases[i].key, json_string(cases[i].val));
        expect_json(j, cases[i].code);
        json_decref(j);
    }
    /* A vv device id follows the id rules too. */
    j = load(samples[2]);
    json_t *c = json_array_get(json_object_get(j, "changes"), 0);
    json_object_set_new(json_object_get(c, "vv"), "my phone", json_integer(1));
    expect_json(j, FDSP_E_VALUE);
    json_decref(j);
    /* "v": null clears; optional members given null read as absent. */
    j = load(samples[2]);
    set_change_member(j, "v", json_null());
    set_change_member(j, "u", json_null());
    set_change_member(j, "s", json_null());
    s = json_dumps(j, JSON_COMPACT);
    m = expect_n(s, strlen(s), FDSP_OK);
    assert_null(m->changes[0].value);
    assert_string_equal(m->changes[0].user, "");   /* absent user is "" */
    assert_int_equal(m->changes[0].seq, 0);
    fdsp_msg_free(m);
    free(s);
    json_decref(j);
    /* A sequenced change in a changes message needs s >= 1. */
    j = load(samples[5]);
    set_change_member(j, "s", json_integer(0));
    expect_json(j, FDSP_E_VALUE);
    json_decref(j);
    /* Error codes: unknown names read as "internal"; ok/no_memory never
    ** travel. */
    s = "{\"type\":\"error\",\"code\":\"brand_new\",\"message\":\"m\"}";
    m = expect_n(s, strlen(s), FDSP_OK);
    assert_int_equal(m->code, FDSP_E_INTERNAL);
    fdsp_msg_free(m);
    expect("{\"type\":\"error\",\"code\":\"ok\",\"message\":\"m\"}", FDSP_E_VALUE);
    expect("{\"type\":\"error\",\"code\":\"no_memory\",\"message\":\"m\"}",
           FDSP_E_VALUE);
    expect("{\"type\":\"error\",\"code\":\"Auth\",\"message\":\"m\"}",
           FDSP_E_VALUE);
}

/* ---- limits: at the limit accepted, one over refused ----------------------- */

static char *string_member_msg(const char *fmt, const char *val)
{
    size_t n = strlen(fmt) + strlen(val) + 1;
    char *s = malloc(n);
    assert_non_null(s);
    snprintf(s, n, fmt, val);
    return s;
}

static void limit_case(const char *fmt, char c, size_t max)
{
    char *v = rep(c, max);
    char *s = string_member_msg(fmt, v);
    expect(s, FDSP_OK);
    free(s);
    free(v);
    v = rep(c, max + 1);
    s = string_member_msg(fmt, v);
    expect(s, FDSP_E_LIMIT);
    free(s);
    free(v);
}

static void test_string_limits(void **state)
{
    (void)state;
    limit_case("{\"type\":\"hello\",\"v\":1,\"device\":\"%s\",\"cursor\":0}",
               'd', FDSP_MAX_ID);
    limit_case("{\"type\":\"revoke\",\"records\":[{\"t\":\"%s\",\"r\":\"x\"}]}",
               't', FDSP_MAX_NAME);
    limit_case("{\"type\":\"error\",\"code\":\"auth\",\"message\":\"%s\"}",
               'm', FDSP_MAX_TEXT);
    limit_case("{\"type\":\"hello\",\"v\":1,\"device\":\"d\",\"cursor\":0,"
               "\"client\":\"%s\"}", 'c', FDSP_MAX_TEXT);
    limit_case("{\"type\":\"push\",\"batch\":1,\"changes\":[{\"t\":\"customer\","
               "\"r\":\"r\",\"f\":\"notes\",\"v\":\"%s\",\"vv\":{\"a\":1},"
               "\"h\":\"0190a1b2c3d40000\",\"d\":\"a\"}]}", 'v', FDSP_MAX_VALUE);
    /* Limits count bytes, not characters: 5462 x "中" (3 bytes) > 16384. */
    size_t n = FDSP_MAX_VALUE / 3 + 1;
    char *v = malloc(n * 3 + 1);
    for (size_t i = 0; i < n; i++)
        memcpy(v + 3 * i, "中", 3);
    v[n * 3] = '\0';
    char *s = string_member_msg("{\"type\":\"push\",\"batch\":1,\"changes\":"
                                "[{\"t\":\"c\",\"r\":\"r\",\"f\":\"n\",\"v\":\"%s\","
                                "\"vv\":{\"a\":1},\"h\":\"0190a1b2c3d40000\","
                                "\"d\":\"a\"}]}", v);
    expect(s, FDSP_E_LIMIT);
    free(s);
    free(v);
}

static void test_count_limits(void **state)
{
    (void)state;
    /* vv entries */
    for (size_t n = FDSP_MAX_VV; n <= FDSP_MAX_VV + 1; n++) {
        json_t *j = load(samples[2]);
        json_t *vv = json_object();
        for (size_t i = 0; i < n; i++) {
            char dev[16];
            snprintf(dev, sizeof dev, "dev%03zu", i);
            json_object_set_new(vv, dev, json_integer((json_int_t)i + 1));
        }
        set_change_member(j, "vv", vv);
        expect_json(j, n > FDSP_MAX_VV ? FDSP_E_LIMIT : FDSP_OK);
        json_decref(j);
    }
    /* changes in push and changes messages; refusals in an ack */
    for (size_t n = FDSP_MAX_BATCH; n <= FDSP_MAX_BATCH + 1; n++) {
        int want = n > FDSP_MAX_BATCH ? FDSP_E_LIMIT : FDSP_OK;
        json_t *push = load(samples[2]);
        json_t *chg = load(samples[5]);
        json_t *ack = load(samples[3]);
        json_t *c = json_array_get(json_object_get(push, "changes"), 0);
        json_t *sc = json_array_get(json_object_get(chg, "changes"), 0);
        json_t *r = json_array_get(json_object_get(ack, "refused"), 0);
        for (size_t i = 1; i < n; i++) {
            json_array_append(json_object_get(push, "changes"), c);
            json_array_append(json_object_get(chg, "changes"), sc);
            json_array_append(json_object_get(ack, "refused"), r);
        }
        expect_json(push, want);
        expect_json(chg, want);
        expect_json(ack, want);
        json_decref(push);
        json_decref(chg);
        json_decref(ack);
    }
    /* records in a revoke */
    for (size_t n = FDSP_MAX_REVOKE; n <= FDSP_MAX_REVOKE + 1; n++) {
        json_t *j = load(samples[6]);
        json_t *rec = json_array_get(json_object_get(j, "records"), 0);
        for (size_t i = 1; i < n; i++)
            json_array_append(json_object_get(j, "records"), rec);
        expect_json(j, n > FDSP_MAX_REVOKE ? FDSP_E_LIMIT : FDSP_OK);
        json_decref(j);
    }
    expect("{\"type\":\"revoke\",\"records\":[]}", FDSP_E_VALUE);
    /* pull limit and ack accepted */
    expect("{\"type\":\"pull\",\"after\":0,\"limit\":500}", FDSP_OK);
    expect("{\"type\":\"pull\",\"after\":0,\"limit\":501}", FDSP_E_LIMIT);
    expect("{\"type\":\"ack\",\"batch\":1,\"accepted\":500,\"refused\":[]}", FDSP_OK);
    expect("{\"type\":\"ack\",\"batch\":1,\"accepted\":501,\"refused\":[]}",
           FDSP_E_LIMIT);
}

/* ---- error lines --------------------------------------------------------------- */

static void test_error_line_names_field(void **state)
{
    (void)state;
    json_t *j = load(samples[2]);
    json_t *arr = json_object_get(j, "changes");
    json_t *c = json_array_get(arr, 0);
    for (int i = 0; i < 3; i++)
        json_array_append_new(arr, json_deep_copy(c));
    json_object_set_new(json_object_get(json_array_get(arr, 3), "vv"), D1,
                        json_integer(0));
    char *s = json_dumps(j, JSON_COMPACT);
    fdsp_msg *m = NULL;
    char err[128];
    assert_int_equal(fdsp_decode(s, strlen(s), &m, err, sizeof err),
                     FDSP_E_VALUE);
    assert_string_equal(err, "changes[3].vv: counter must be >= 1");
    free(s);
    json_decref(j);

    assert_int_equal(dec("{\"type\":\"hello\",\"v\":1,\"cursor\":0}", err,
                         sizeof err), FDSP_E_MISSING);
    assert_string_equal(err, "device: required");
    assert_int_equal(dec("{\"type\":\"ack\",\"batch\":1,\"accepted\":0,"
                         "\"refused\":[{\"i\":0,\"code\":\"auth\"}]}", err,
                         sizeof err), FDSP_E_MISSING);
    assert_string_equal(err, "refused[0].message: required");
    /* A tiny buffer gets a truncated, terminated line; errlen 0 / NULL ok. */
    assert_int_equal(fdsp_decode("[]", 2, &m, err, 4), FDSP_E_TYPE);
    assert_int_equal(strlen(err), 3);
    assert_int_equal(fdsp_decode("[]", 2, &m, NULL, 0), FDSP_E_TYPE);
    assert_int_equal(fdsp_decode("[]", 2, &m, err, 0), FDSP_E_TYPE);
    /* Every error line is one line of valid UTF-8, fit for an error msg. */
    assert_int_equal(dec("{\"type\":\"error\",\"code\":\"auth\",\"message\":"
                         "\"中中中中中中\n\"}", err, 40), FDSP_E_JSON);
    assert_null(strchr(err, '\n'));
    fdsp_msg *e = fdsp_msg_new(FDSP_ERROR);
    e->code = FDSP_E_JSON;
    e->message = xstrdup(err);
    char *b;
    assert_int_equal(fdsp_encode(e, &b, NULL), FDSP_OK);
    free(b);
    fdsp_msg_free(e);
}

/* ---- version vectors ------------------------------------------------------------- */

static void test_vv_sorted(void **state)
{
    (void)state;
    const char *s = "{\"type\":\"push\",\"batch\":1,\"changes\":[{\"t\":\"plan\","
                    "\"r\":\"r\",\"f\":\"due\",\"v\":\"x\",\"vv\":{\"zeta\":1,"
                    "\"alpha\":2,\"Mid\":3,\"mid\":4},\"h\":\"0190a1b2c3d40000\","
                    "\"d\":\"zeta\"}]}";
    fdsp_msg *m = expect_n(s, strlen(s), FDSP_OK);
    const fdsp_vv *vv = &m->changes[0].vv;
    assert_int_equal(vv->n, 4);
    assert_string_equal(vv->e[0].device, "Mid");     /* strcmp order */
    assert_string_equal(vv->e[1].device, "alpha");
    assert_string_equal(vv->e[2].device, "mid");
    assert_string_equal(vv->e[3].device, "zeta");
    assert_int_equal(vv->e[1].counter, 2);
    char *b;
    assert_int_equal(fdsp_encode(m, &b, NULL), FDSP_OK);
    assert_non_null(strstr(b, "{\"Mid\":3,\"alpha\":2,\"mid\":4,\"zeta\":1}"));
    free(b);

    /* An unsorted struct still encodes sorted: equal vectors, equal bytes. */
    fdsp_vv_entry t = vv->e[0];
    vv->e[0] = vv->e[3];
    vv->e[3] = t;
    assert_int_equal(fdsp_encode(m, &b, NULL), FDSP_OK);
    assert_non_null(strstr(b, "{\"Mid\":3,\"alpha\":2,\"mid\":4,\"zeta\":1}"));
    free(b);

    /* A struct with one device twice is refused by the encoder. */
    free(vv->e[1].device);
    vv->e[1].device = xstrdup("mid");
    assert_int_equal(fdsp_encode(m, &b, NULL), FDSP_E_VALUE);
    fdsp_msg_free(m);

    /* fdsp_vv_from_json / to_json directly. */
    json_t *o = json_pack("{s:i,s:i}", "b", 2, "a", 1);
    fdsp_vv out;
    char err[128];
    assert_int_equal(fdsp_vv_from_json(o, &out, err, sizeof err), FDSP_OK);
    assert_int_equal(out.n, 2);
    assert_string_equal(out.e[0].device, "a");
    json_t *back = fdsp_vv_to_json(&out);
    char *d = json_dumps(back, JSON_COMPACT);
    assert_string_equal(d, "{\"a\":1,\"b\":2}");
    free(d);
    json_decref(back);
    fdsp_vv copy;
    assert_int_equal(fdsp_vv_copy(&copy, &out), FDSP_OK);
    assert_int_equal(copy.n, 2);
    assert_string_equal(copy.e[1].device, "b");
    assert_ptr_not_equal(copy.e[1].device, out.e[1].device);
    fdsp_vv_clear(&copy);
    fdsp_vv_clear(&out);
    assert_int_equal(out.n, 0);
    fdsp_vv_clear(NULL);
    json_decref(o);
    /* A key with an embedded NUL (possible through the jansson API). */
    o = json_object();
    json_object_setn_new(o, "a\0b", 3, json_integer(1));
    assert_int_equal(fdsp_vv_from_json(o, &out, err, sizeof err), FDSP_E_VALUE);
    json_decref(o);
    o = json_array();
    assert_int_equal(fdsp_vv_from_json(o, &out, err, sizeof err), FDSP_E_TYPE);
    assert_string_equal(err, "vv: must be an object of device: counter");
    json_decref(o);
}

/* ---- change helpers ---------------------------------------------------------------- */

static void test_change_copy_and_json(void **state)
{
    (void)state;
    fdsp_change a, b, c;
    make_change(&a, "email", "a@example.com", 5);
    assert_int_equal(fdsp_change_copy(&b, &a), FDSP_OK);
    assert_change_eq(&a, &b);
    assert_ptr_not_equal(a.table, b.table);
    json_t *j = fdsp_change_to_json(&b);
    assert_non_null(j);
    char err[128];
    assert_int_equal(fdsp_change_from_json(j, &c, err, sizeof err), FDSP_OK);
    assert_change_eq(&a, &c);
    json_decref(j);
    fdsp_change_clear(&b);
    assert_null(b.table);
    assert_int_equal(b.vv.n, 0);
    fdsp_change_clear(&c);
    fdsp_change_clear(NULL);
    /* from_json refuses like the decoder and leaves out zeroed. */
    j = load("{\"t\":\"customer\",\"r\":\"r\",\"f\":\"name\",\"v\":1}");
    assert_int_equal(fdsp_change_from_json(j, &c, err, sizeof err), FDSP_E_TYPE);
    assert_string_equal(err, "v: must be a string");
    assert_null(c.table);
    json_decref(j);
    assert_int_equal(fdsp_change_from_json(NULL, &c, err, sizeof err),
                     FDSP_E_TYPE);
    fdsp_change_clear(&a);
}

/* ---- the encoder refuses what the decoder would refuse ------------------------ */

static void expect_encode(const fdsp_msg *m, int code)
{
    char *b = (char *)0x1;
    size_t n = 7;
    assert_int_equal(fdsp_encode(m, &b, &n), code);
    if (code != FDSP_OK) {
        assert_null(b);
        assert_int_equal(n, 0);
    }
    free(b);
}

static void test_encode_checks(void **state)
{
    (void)state;
    fdsp_msg *m = make_push(1);
    expect_encode(m, FDSP_OK);
    fdsp_change *c = &m->changes[0];

    c->vv.e[0].counter = 0;
    expect_encode(m, FDSP_E_VALUE);
    c->vv.e[0].counter = ((uint64_t)1 << 53) + 1;
    expect_encode(m, FDSP_E_VALUE);
    c->vv.e[0].counter = 1;
    size_t keep = c->vv.n;
    c->vv.n = 0;
    expect_encode(m, FDSP_E_VALUE);
    c->vv.n = keep;

    char *saved = c->value;
    c->value = "\xff";
    expect_encode(m, FDSP_E_VALUE);
    c->value = rep('v', FDSP_MAX_VALUE + 1);
    expect_encode(m, FDSP_E_LIMIT);
    free(c->value);
    c->value = saved;

    saved = c->table;
    c->table = "Customer";
    expect_encode(m, FDSP_E_VALUE);
    c->table = NULL;
    expect_encode(m, FDSP_E_MISSING);
    c->table = saved;

    saved = c->user;
    c->user = "a b";
    expect_encode(m, FDSP_E_VALUE);
    c->user = NULL;                 /* unset user is fine */
    expect_encode(m, FDSP_OK);
    c->user = saved;

    c->seq = -1;
    expect_encode(m, FDSP_E_VALUE);
    c->seq = 0;
    c->server_ms = -5;
    expect_encode(m, FDSP_E_VALUE);
    c->server_ms = 0;
    m->batch = -1;
    expect_encode(m, FDSP_E_VALUE);
    m->batch = 1;
    m->n_changes = 0;
    expect_encode(m, FDSP_E_VALUE);
    m->n_changes = 1;

    /* The same change without "s" may not go in a changes message. */
    m->type = FDSP_CHANGES;
    expect_encode(m, FDSP_E_VALUE);
    c->seq = 3;
    expect_encode(m, FDSP_OK);
    fdsp_msg_free(m);

    /* Too many changes for the batch. */
    m = make_push(FDSP_MAX_BATCH + 1);
    expect_encode(m, FDSP_E_LIMIT);
    m->n_changes = FDSP_MAX_BATCH;
    expect_encode(m, FDSP_OK);
    m->n_changes = FDSP_MAX_BATCH + 1;
    fdsp_msg_free(m);

    /* 500 changes of the largest value cannot fit one frame. */
    m = make_push(FDSP_MAX_BATCH);
    for (size_t i = 0; i < m->n_changes; i++) {
        free(m->changes[i].value);
        m->changes[i].value = rep('x', FDSP_MAX_VALUE);
    }
    expect_encode(m, FDSP_E_TOOBIG);
    fdsp_msg_free(m);

    m = fdsp_msg_new(FDSP_HELLO);
    expect_encode(m, FDSP_E_MISSING);          /* no device */
    m->device = xstrdup("d");
    expect_encode(m, FDSP_OK);
    m->version = 2;
    expect_encode(m, FDSP_E_VERSION);
    m->version = FDSP_VERSION;
    m->client = rep('c', FDSP_MAX_TEXT + 1);
    expect_encode(m, FDSP_E_LIMIT);
    fdsp_msg_free(m);

    m = fdsp_msg_new(FDSP_PULL);
    expect_encode(m, FDSP_E_VALUE);            /* limit 0 */
    m->limit = FDSP_MAX_BATCH + 1;
    expect_encode(m, FDSP_E_LIMIT);
    fdsp_msg_free(m);

    m = fdsp_msg_new(FDSP_ERROR);
    m->message = xstrdup("m");
    expect_encode(m, FDSP_E_VALUE);            /* code 0 */
    m->code = FDSP_E_NOMEM;
    expect_encode(m, FDSP_E_VALUE);            /* never on the wire */
    m->code = FDSP_E__COUNT;
    expect_encode(m, FDSP_E_VALUE);
    fdsp_msg_free(m);

    m = fdsp_msg_new(FDSP_REVOKE);
    expect_encode(m, FDSP_E_VALUE);            /* no records */
    fdsp_msg_free(m);

    m = fdsp_msg_new(FDSP_ACK);
    m->accepted = FDSP_MAX_BATCH + 1;
    expect_encode(m, FDSP_E_LIMIT);
    fdsp_msg_free(m);

    fdsp_msg bad;
    memset(&bad, 0, sizeof bad);
    bad.type = (fdsp_type)99;
    expect_encode(&bad, FDSP_E_UNKNOWN_TYPE);
    expect_encode(NULL, FDSP_E_VALUE);
}

/* ---- out of memory ------------------------------------------------------------
** The test binary is linked with -Wl,--wrap=malloc,--wrap=calloc, so every
** allocation the codec itself makes passes through here; fail_after = n
** makes the (n+1)th one fail (once).  Each run must end in FDSP_OK with the
** right bytes or in FDSP_E_NOMEM, never a crash, and (under ASan) never a
** leak.  jansson's own allocations are left alone: jansson 2.14's lexer
** ignores a failed buffer growth (lex_save) and can silently drop a byte
** of a string, so failing them would test jansson, not the codec. */
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);

static long fail_after = -1;   /* test-only state: -1 = disarmed */

static int alloc_fails(void)
{
    if (fail_after < 0)
        return 0;
    if (fail_after-- == 0) {
        fail_after = -1;
        return 1;
    }
    return 0;
}

void *__wrap_malloc(size_t n)
{
    return alloc_fails() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return alloc_fails() ? NULL : __real_calloc(n, size);
}

static void test_out_of_memory(void **state)
{
    (void)state;
    for (size_t s = 0; s < N_SAMPLES; s++) {
        char *want;
        size_t want_n;
        fdsp_msg *ref = expect_n(samples[s], strlen(samples[s]), FDSP_OK);
        assert_int_equal(fdsp_encode(ref, &want, &want_n), FDSP_OK);
        int fired = 1, nomem = 0;
        for (long n = 0; fired; n++) {
            fdsp_msg *m = NULL;
            char *b = NULL;
            size_t bn = 0;
            char err[128];
            fail_after = n;
            int rc = fdsp_decode(samples[s], strlen(samples[s]), &m, err,
                                 sizeof err);
            if (rc != FDSP_OK)
                assert_null(m);         /* no half-decoded message */
            else
                rc = fdsp_encode(m, &b, &bn);
            fired = fail_after < 0;
            fail_after = -1;
            if (rc != FDSP_OK && rc != FDSP_E_NOMEM)
                fail_msg("%s: allocation %ld failing gave %s (%s)", samples[s],
                         n, fdsp_errname(rc), err);
            if (rc == FDSP_OK) {
                /* A failure may not silently change the result. */
                assert_int_equal(bn, want_n);
                assert_memory_equal(b, want, bn);
            }
            if (rc == FDSP_E_NOMEM) {
                assert_true(fired);
                assert_null(b);
                nomem++;
            }
            free(b);
            fdsp_msg_free(m);
        }
        assert_true(nomem > 0);
        free(want);
        fdsp_msg_free(ref);
    }
    /* The copy helpers report NOMEM and leave dst cleared. */
    fdsp_change a, b;
    make_change(&a, "name", "x", 1);
    for (long n = 0; n < 12; n++) {
        fail_after = n;
        int rc = fdsp_change_copy(&b, &a);
        fail_after = -1;
        if (rc == FDSP_OK)
            assert_change_eq(&a, &b);
        else {
            assert_int_equal(rc, FDSP_E_NOMEM);
            assert_null(b.table);
            assert_null(b.vv.e);
        }
        fdsp_change_clear(&b);
    }
    fdsp_change_clear(&a);
}

/* Change groups (PROTOCOL.md §5.1) under allocation failure: a group
** that fails half way leaves no half-expanded message, and one that
** decodes gives the same changes. */
static void test_group_out_of_memory(void **state)
{
    (void)state;
    static const char *const groups[] = {
        "{\"type\":\"push\",\"batch\":1,\"changes\":[" CHANGE_JSON ",{\"t\":"
        "\"customer\",\"r\":\"r1\",\"d\":\"a\",\"u\":\"al\",\"vv\":{\"a\":1,"
        "\"b\":2},\"h\":\"0190a1b2c3d40000\",\"g\":[{\"f\":\"name\",\"v\":"
        "\"x\"},{\"f\":\"p\",\"v\":null},{\"f\":\"q\",\"v\":\"1\",\"vv\":"
        "{\"b\":0,\"c\":3},\"h\":-2}]}]}",
        "{\"type\":\"changes\",\"changes\":[{\"t\":\"customer\",\"r\":\"r1\","
        "\"d\":\"a\",\"vv\":{\"a\":1},\"h\":\"0190a1b2c3d40000\",\"s\":4,"
        "\"at\":9,\"g\":[{\"f\":\"name\",\"v\":\"x\"},{\"f\":\"p\",\"v\":"
        "\"y\",\"s\":0,\"at\":1}]}],\"last\":9,\"more\":false}",
    };
    for (size_t s = 0; s < sizeof groups / sizeof groups[0]; s++) {
        char *want;
        size_t want_n;
        fdsp_msg *ref = expect_n(groups[s], strlen(groups[s]), FDSP_OK);
        assert_int_equal(fdsp_encode(ref, &want, &want_n), FDSP_OK);
        int fired = 1, nomem = 0;
        for (long n = 0; fired; n++) {
            fdsp_msg *m = NULL;
            char *b = NULL;
            size_t bn = 0;
            char err[128];
            fail_after = n;
            int rc = fdsp_decode(groups[s], strlen(groups[s]), &m, err,
                                 sizeof err);
            if (rc != FDSP_OK)
                assert_null(m);
            else
                rc = fdsp_encode_opt(m, FDSP_ENC_GROUPS, &b, &bn);
            fired = fail_after < 0;
            fail_after = -1;
            if (rc != FDSP_OK && rc != FDSP_E_NOMEM)
                fail_msg("allocation %ld failing gave %s (%s)", n,
                         fdsp_errname(rc), err);
            if (rc == FDSP_OK) {
                fdsp_msg *back = expect_n(b, bn, FDSP_OK);
                char *again;
                size_t again_n;
                assert_int_equal(fdsp_encode(back, &again, &again_n), FDSP_OK);
                if (again_n != want_n || memcmp(again, want, want_n) != 0)
                    fail_msg("allocation %ld failing changed the message:\n"
                             "%s\n%s\n(grouped %s)", n, again, want, b);
                free(again);
                fdsp_msg_free(back);
            } else {
                assert_true(fired);
                nomem++;
            }
            free(b);
            fdsp_msg_free(m);
        }
        assert_true(nomem > 0);
        free(want);
        fdsp_msg_free(ref);
    }
}

/* ---- names ----------------------------------------------------------------------- */

/* ---- trust additions (docs/internals/trust.md, "Wire additions") ------------- */

static void test_roundtrip_trust_hello_welcome(void **state)
{
    (void)state;
    fdsp_msg *m = fdsp_msg_new(FDSP_HELLO);
    m->device = xstrdup(D1);
    m->cursor = 42;
    m->dev_counter = 17;
    m->store = xstrdup("st-9");
    m->epoch = 3;
    m->client = xstrdup("cli/1");
    char *b = roundtrip(m);
    assert_string_equal(b, "{\"type\":\"hello\",\"v\":1,\"device\":\"" D1
                           "\",\"cursor\":42,\"counter\":17,\"store\":\"st-9\","
                           "\"epoch\":3,\"client\":\"cli/1\"}");
    free(b);
    /* Each one absent alone: omitted, the rest stay in order. */
    m->dev_counter = 0;
    b = roundtrip(m);
    assert_string_equal(b, "{\"type\":\"hello\",\"v\":1,\"device\":\"" D1
                           "\",\"cursor\":42,\"store\":\"st-9\",\"epoch\":3,"
                           "\"client\":\"cli/1\"}");
    free(b);
    free(m->store);
    m->store = NULL;
    m->dev_counter = (int64_t)1 << 53;
    m->epoch = 0;
    b = roundtrip(m);
    assert_string_equal(b, "{\"type\":\"hello\",\"v\":1,\"device\":\"" D1
                           "\",\"cursor\":42,\"counter\":9007199254740992,"
                           "\"client\":\"cli/1\"}");
    free(b);
    fdsp_msg_free(m);

    m = fdsp_msg_new(FDSP_WELCOME);
    m->user = xstrdup("alice");
    m->role = xstrdup("rep");
    m->device = xstrdup(D2);
    m->head = 12;
    m->dev_counter = 5;
    m->store = xstrdup("st-9");
    m->epoch = 1;
    m->server_time = 1717000000123;
    b = roundtrip(m);
    assert_string_equal(b, "{\"type\":\"welcome\",\"v\":1,\"user\":\"alice\","
                           "\"role\":\"rep\",\"device\":\"" D2 "\",\"head\":12,"
                           "\"counter\":5,\"store\":\"st-9\",\"epoch\":1,"
                           "\"time\":1717000000123}");
    free(b);
    /* A zeroed struct is the old message, byte for byte. */
    m->dev_counter = m->epoch = m->server_time = 0;
    free(m->store);
    m->store = NULL;
    b = roundtrip(m);
    assert_string_equal(b, "{\"type\":\"welcome\",\"v\":1,\"user\":\"alice\","
                           "\"role\":\"rep\",\"device\":\"" D2 "\",\"head\":12}");
    free(b);
    fdsp_msg_free(m);

    /* Old peers: absent, null and 0 all read as absent. */
    fdsp_msg *d = expect_n(samples[0], strlen(samples[0]), FDSP_OK);
    assert_int_equal(d->dev_counter, 17);
    assert_string_equal(d->store, "st-1");
    assert_int_equal(d->epoch, 2);
    fdsp_msg_free(d);
    const char *old = "{\"type\":\"hello\",\"v\":1,\"device\":\"d\",\"cursor\":0}";
    d = expect_n(old, strlen(old), FDSP_OK);
    assert_int_equal(d->dev_counter, 0);
    assert_null(d->store);
    assert_int_equal(d->epoch, 0);
    fdsp_msg_free(d);
    const char *nul = "{\"type\":\"welcome\",\"v\":1,\"user\":\"u\",\"role\":\"r\","
                      "\"device\":\"d\",\"head\":0,\"counter\":null,\"store\":null,"
                      "\"epoch\":null,\"time\":null}";
    d = expect_n(nul, strlen(nul), FDSP_OK);
    assert_int_equal(d->dev_counter, 0);
    assert_null(d->store);
    assert_int_equal(d->epoch, 0);
    assert_int_equal(d->server_time, 0);
    fdsp_msg_free(d);
    expect("{\"type\":\"welcome\",\"v\":1,\"user\":\"u\",\"role\":\"r\","
           "\"device\":\"d\",\"head\":0,\"counter\":0,\"epoch\":0,\"time\":0}",
           FDSP_OK);
}

static void test_trust_hello_welcome_refusals(void **state)
{
    (void)state;
    char err[256];
#define HELLO_PRE "{\"type\":\"hello\",\"v\":1,\"device\":\"d\",\"cursor\":0,"
#define WELCOME_PRE "{\"type\":\"welcome\",\"v\":1,\"user\":\"u\",\"role\":\"r\"," \
                    "\"device\":\"d\",\"head\":0,"
    assert_int_equal(dec(HELLO_PRE "\"counter\":\"3\"}", err, sizeof err),
                     FDSP_E_TYPE);
    assert_string_equal(err, "counter: must be an integer");
    assert_int_equal(dec(HELLO_PRE "\"counter\":-1}", err, sizeof err),
                     FDSP_E_VALUE);
    assert_string_equal(err, "counter: must be >= 0");
    expect(HELLO_PRE "\"counter\":" MAX_INT_P1 "}", FDSP_E_VALUE);
    expect(HELLO_PRE "\"counter\":1.0}", FDSP_E_TYPE);
    assert_int_equal(dec(HELLO_PRE "\"store\":7}", err, sizeof err),
                     FDSP_E_TYPE);
    assert_string_equal(err, "store: must be a string");
    expect(HELLO_PRE "\"store\":\"\"}", FDSP_E_VALUE);
    expect(HELLO_PRE "\"store\":\"a b\"}", FDSP_E_VALUE);
    char *longid = rep('s', FDSP_MAX_ID + 1);
    char *buf = malloc(strlen(longid) + 128);
    assert_non_null(buf);
    sprintf(buf, HELLO_PRE "\"store\":\"%s\"}", longid);
    expect(buf, FDSP_E_LIMIT);
    longid[FDSP_MAX_ID] = '\0';
    sprintf(buf, HELLO_PRE "\"store\":\"%s\"}", longid);
    expect(buf, FDSP_OK);
    free(buf);
    free(longid);
    expect(HELLO_PRE "\"epoch\":-5}", FDSP_E_VALUE);
    expect(HELLO_PRE "\"epoch\":true}", FDSP_E_TYPE);
    /* welcome "time" only belongs to welcome: ignored in hello. */
    expect(HELLO_PRE "\"time\":\"x\"}", FDSP_OK);
    assert_int_equal(dec(WELCOME_PRE "\"time\":-1}", err, sizeof err),
                     FDSP_E_VALUE);
    assert_string_equal(err, "time: must be >= 0");
    expect(WELCOME_PRE "\"time\":\"now\"}", FDSP_E_TYPE);
    expect(WELCOME_PRE "\"time\":" MAX_INT_P1 "}", FDSP_E_VALUE);
    expect(WELCOME_PRE "\"counter\":[]}", FDSP_E_TYPE);
    expect(WELCOME_PRE "\"store\":\"x\\\\y\"}", FDSP_E_VALUE);
    expect(WELCOME_PRE "\"epoch\":{}}", FDSP_E_TYPE);
    /* Checks run in key order: counter before store before epoch. */
    assert_int_equal(dec(WELCOME_PRE "\"epoch\":-1,\"store\":1,\"counter\":-1}",
                         err, sizeof err), FDSP_E_VALUE);
    assert_string_equal(err, "counter: must be >= 0");
    /* Duplicates of the new keys are duplicates. */
    expect(HELLO_PRE "\"epoch\":1,\"epoch\":1}", FDSP_E_DUPKEY);
#undef HELLO_PRE
#undef WELCOME_PRE

    /* The encoder refuses the same. */
    fdsp_msg *m = fdsp_msg_new(FDSP_HELLO);
    m->device = xstrdup("d");
    m->dev_counter = -1;
    expect_encode(m, FDSP_E_VALUE);
    m->dev_counter = ((int64_t)1 << 53) + 1;
    expect_encode(m, FDSP_E_VALUE);
    m->dev_counter = 0;
    m->store = xstrdup("");
    expect_encode(m, FDSP_E_VALUE);
    free(m->store);
    m->store = rep('s', FDSP_MAX_ID + 1);
    expect_encode(m, FDSP_E_LIMIT);
    free(m->store);
    m->store = NULL;
    m->epoch = -2;
    expect_encode(m, FDSP_E_VALUE);
    m->epoch = 0;
    m->server_time = -1;        /* not a hello member: not looked at */
    expect_encode(m, FDSP_OK);
    fdsp_msg_free(m);
    m = fdsp_msg_new(FDSP_WELCOME);
    m->user = xstrdup("u");
    m->role = xstrdup("r");
    m->device = xstrdup("d");
    m->server_time = -1;
    expect_encode(m, FDSP_E_VALUE);
    m->server_time = 0;
    m->store = xstrdup("bad id");
    expect_encode(m, FDSP_E_VALUE);
    fdsp_msg_free(m);
}

static void test_trust_ack_stamps(void **state)
{
    (void)state;
    char err[256];
    fdsp_msg *m = fdsp_msg_new(FDSP_ACK);
    m->batch = 4;
    m->accepted = 2;
    m->refused = calloc(1, sizeof *m->refused);
    m->n_refused = 1;
    m->refused[0].index = 2;
    m->refused[0].code = FDSP_E_CLASH;
    m->refused[0].message = xstrdup("customer/c-1 name: device d counter 9");
    m->stamps = calloc(2, sizeof *m->stamps);
    m->n_stamps = 2;
    m->stamps[0].index = 0;
    m->stamps[0].hlc = UINT64_C(0x0190a1b2c3d40009);
    m->stamps[1].index = FDSP_MAX_BATCH - 1;
    m->stamps[1].hlc = UINT64_MAX;
    char *b = roundtrip(m);
    assert_string_equal(b, "{\"type\":\"ack\",\"batch\":4,\"accepted\":2,"
                           "\"refused\":[{\"i\":2,\"code\":\"device_clash\","
                           "\"message\":\"customer/c-1 name: device d counter 9\"}],"
                           "\"stamps\":[{\"i\":0,\"h\":\"0190a1b2c3d40009\"},"
                           "{\"i\":499,\"h\":\"ffffffffffffffff\"}]}");
    free(b);
    /* No stamps: omitted (and an old ack decodes with none). */
    m->n_stamps = 0;
    b = roundtrip(m);
    assert_null(strstr(b, "stamps"));
    free(b);
    /* Encoder refusals. */
    m->n_stamps = 2;
    m->stamps[1].index = FDSP_MAX_BATCH;
    expect_encode(m, FDSP_E_VALUE);
    m->stamps[1].index = 1;
    m->n_stamps = FDSP_MAX_BATCH + 1;
    expect_encode(m, FDSP_E_LIMIT);
    free(m->stamps);
    m->stamps = NULL;
    m->n_stamps = 1;
    expect_encode(m, FDSP_E_VALUE);
    m->n_stamps = 0;
    expect_encode(m, FDSP_OK);
    fdsp_msg_free(m);

#define ACK_PRE "{\"type\":\"ack\",\"batch\":1,\"accepted\":1,\"refused\":[],"
    fdsp_msg *d = expect_n(ACK_PRE "\"stamps\":null}",
                           strlen(ACK_PRE "\"stamps\":null}"), FDSP_OK);
    assert_int_equal(d->n_stamps, 0);
    assert_null(d->stamps);
    fdsp_msg_free(d);
    expect(ACK_PRE "\"stamps\":[]}", FDSP_OK);
    expect(ACK_PRE "\"stamps\":[{\"i\":0,\"h\":\"0000000000000000\",\"x\":1}]}",
           FDSP_OK);
    assert_int_equal(dec(ACK_PRE "\"stamps\":{}}", err, sizeof err),
                     FDSP_E_TYPE);
    assert_string_equal(err, "stamps: must be an array");
    assert_int_equal(dec(ACK_PRE "\"stamps\":[1]}", err, sizeof err),
                     FDSP_E_TYPE);
    assert_string_equal(err, "stamps[0]: must be an object");
    assert_int_equal(dec(ACK_PRE "\"stamps\":[{\"i\":500,\"h\":\"0000000000000000\"}]}",
                         err, sizeof err), FDSP_E_VALUE);
    assert_string_equal(err, "stamps[0].i: must be <= 499");
    expect(ACK_PRE "\"stamps\":[{\"i\":-1,\"h\":\"0000000000000000\"}]}",
           FDSP_E_VALUE);
    assert_int_equal(dec(ACK_PRE "\"stamps\":[{\"h\":\"0000000000000000\"}]}",
                         err, sizeof err), FDSP_E_MISSING);
    assert_string_equal(err, "stamps[0].i: required");
    assert_int_equal(dec(ACK_PRE "\"stamps\":[{\"i\":0}]}", err, sizeof err),
                     FDSP_E_MISSING);
    assert_string_equal(err, "stamps[0].h: required");
    expect(ACK_PRE "\"stamps\":[{\"i\":0,\"h\":null}]}", FDSP_E_TYPE);
    expect(ACK_PRE "\"stamps\":[{\"i\":0,\"h\":12}]}", FDSP_E_TYPE);
    assert_int_equal(dec(ACK_PRE "\"stamps\":[{\"i\":0,\"h\":\"0000000000000000\"},"
                         "{\"i\":1,\"h\":\"000000000000000G\"}]}", err, sizeof err),
                     FDSP_E_VALUE);
    assert_string_equal(err, "stamps[1].h: must be 16 lowercase hex digits");
    expect(ACK_PRE "\"stamps\":[{\"i\":0,\"h\":\"ABCDEF0000000000\"}]}",
           FDSP_E_VALUE);
    expect(ACK_PRE "\"stamps\":[{\"i\":0,\"h\":\"000000000000000\"}]}",
           FDSP_E_VALUE);
    expect(ACK_PRE "\"stamps\":[{\"i\":0,\"i\":0,\"h\":\"0000000000000000\"}]}",
           FDSP_E_DUPKEY);
#undef ACK_PRE
    /* FDSP_MAX_BATCH stamps pass, one more is a limit. */
    for (size_t n = FDSP_MAX_BATCH; n <= FDSP_MAX_BATCH + 1; n++) {
        size_t cap = 128 + n * 40;
        char *s = malloc(cap);
        assert_non_null(s);
        size_t o = (size_t)sprintf(s, "{\"type\":\"ack\",\"batch\":1,"
                                      "\"accepted\":0,\"refused\":[],\"stamps\":[");
        for (size_t i = 0; i < n; i++)
            o += (size_t)sprintf(s + o, "%s{\"i\":%zu,\"h\":\"0000000000000001\"}",
                                 i ? "," : "", i % FDSP_MAX_BATCH);
        strcpy(s + o, "]}");
        expect(s, n > FDSP_MAX_BATCH ? FDSP_E_LIMIT : FDSP_OK);
        free(s);
    }
}

static void test_trust_device_clash(void **state)
{
    (void)state;
    assert_int_equal(FDSP_E_CLASH, 18);
    assert_string_equal(fdsp_errname(FDSP_E_CLASH), "device_clash");
    assert_int_equal(fdsp_errcode("device_clash"), FDSP_E_CLASH);
    fdsp_msg *m = fdsp_msg_new(FDSP_ERROR);
    m->code = FDSP_E_CLASH;
    m->message = xstrdup("device d counter 9 names another change");
    m->batch = 3;
    m->fatal = 1;
    char *b = roundtrip(m);
    assert_string_equal(b, "{\"type\":\"error\",\"code\":\"device_clash\","
                           "\"message\":\"device d counter 9 names another change\","
                           "\"batch\":3,\"fatal\":true}");
    free(b);
    fdsp_msg_free(m);
    expect("{\"type\":\"ack\",\"batch\":1,\"accepted\":0,\"refused\":[{\"i\":0,"
           "\"code\":\"device_clash\",\"message\":\"m\"}]}", FDSP_OK);
}

/* A refusal naming a user who does not exist (a manager's mistyped
** assign): its own code, so a device can say so. */
static void test_unknown_user_code(void **state)
{
    (void)state;
    assert_int_equal(FDSP_E_NO_USER, 19);
    assert_string_equal(fdsp_errname(FDSP_E_NO_USER), "unknown_user");
    assert_int_equal(fdsp_errcode("unknown_user"), FDSP_E_NO_USER);
    expect("{\"type\":\"ack\",\"batch\":1,\"accepted\":0,\"refused\":[{\"i\":0,"
           "\"code\":\"unknown_user\",\"message\":\"m\"}]}", FDSP_OK);
}

/* sums with 64 entries written by a loop; entry `bad` (if < n) replaced. */
static char *sums_json(size_t n, size_t bad, const char *badval)
{
    char *s = malloc(64 + n * 24 + strlen(badval));
    assert_non_null(s);
    size_t o = (size_t)sprintf(s, "{\"type\":\"sums\",\"buckets\":[");
    for (size_t i = 0; i < n; i++)
        o += (size_t)sprintf(s + o, "%s%s", i ? "," : "",
                             i == bad ? badval : "\"00000000000000ff\"");
    strcpy(s + o, "]}");
    return s;
}

static void test_trust_sums(void **state)
{
    (void)state;
    char err[256];
    fdsp_msg *m = fdsp_msg_new(FDSP_SUMS);
    m->sums = calloc(FDSP_SUM_BUCKETS, sizeof *m->sums);
    m->n_sums = FDSP_SUM_BUCKETS;
    for (size_t i = 0; i < FDSP_SUM_BUCKETS; i++)
        m->sums[i] = i * UINT64_C(0x0101010101010101);
    m->sums[63] = UINT64_MAX;
    char *b = roundtrip(m);
    assert_int_equal(strncmp(b, "{\"type\":\"sums\",\"buckets\":[\"0000000000000000\","
                                "\"0101010101010101\",", 64), 0);
    assert_non_null(strstr(b, ",\"ffffffffffffffff\"]}"));
    assert_int_equal(strlen(b), strlen("{\"type\":\"sums\",\"buckets\":[]}") +
                                    64 * 18 + 63);
    free(b);
    m->n_sums = 63;
    expect_encode(m, FDSP_E_VALUE);
    m->n_sums = 65;
    expect_encode(m, FDSP_E_LIMIT);
    m->n_sums = 0;
    expect_encode(m, FDSP_E_VALUE);
    free(m->sums);
    m->sums = NULL;
    m->n_sums = FDSP_SUM_BUCKETS;
    expect_encode(m, FDSP_E_VALUE);
    fdsp_msg_free(m);

    char *s = sums_json(64, 99, "");
    expect(s, FDSP_OK);
    free(s);
    s = sums_json(63, 99, "");
    assert_int_equal(dec(s, err, sizeof err), FDSP_E_VALUE);
    assert_string_equal(err, "buckets: fewer than 64 entries");
    free(s);
    s = sums_json(65, 99, "");
    assert_int_equal(dec(s, err, sizeof err), FDSP_E_LIMIT);
    assert_string_equal(err, "buckets: more than 64 entries");
    free(s);
    s = sums_json(64, 5, "\"00000000000000FF\"");
    assert_int_equal(dec(s, err, sizeof err), FDSP_E_VALUE);
    assert_string_equal(err, "buckets[5]: must be 16 lowercase hex digits");
    free(s);
    s = sums_json(64, 0, "\"0000000000000000f\"");
    expect(s, FDSP_E_VALUE);
    free(s);
    s = sums_json(64, 63, "\"\"");
    expect(s, FDSP_E_VALUE);
    free(s);
    s = sums_json(64, 63, "\"000000000000000x\"");
    expect(s, FDSP_E_VALUE);
    free(s);
    s = sums_json(64, 9, "255");
    assert_int_equal(dec(s, err, sizeof err), FDSP_E_TYPE);
    assert_string_equal(err, "buckets[9]: must be a string");
    free(s);
    s = sums_json(64, 9, "null");
    expect(s, FDSP_E_TYPE);
    free(s);
    s = sums_json(64, 9, "[\"00000000000000ff\"]");
    expect(s, FDSP_E_TYPE);
    free(s);
    expect("{\"type\":\"sums\"}", FDSP_E_MISSING);
    expect("{\"type\":\"sums\",\"buckets\":null}", FDSP_E_TYPE);
    expect("{\"type\":\"sums\",\"buckets\":{}}", FDSP_E_TYPE);
    expect("{\"type\":\"sums\",\"buckets\":[]}", FDSP_E_VALUE);
}

static void test_trust_repair(void **state)
{
    (void)state;
    char err[256];
    fdsp_msg *m = fdsp_msg_new(FDSP_REPAIR);
    char *b = roundtrip(m);                 /* all buckets equal */
    assert_string_equal(b, "{\"type\":\"repair\",\"buckets\":[]}");
    free(b);
    m->buckets = calloc(FDSP_SUM_BUCKETS, sizeof *m->buckets);
    m->n_buckets = 3;
    m->buckets[0] = 0;
    m->buckets[1] = 9;
    m->buckets[2] = FDSP_SUM_BUCKETS - 1;
    b = roundtrip(m);
    assert_string_equal(b, "{\"type\":\"repair\",\"buckets\":[0,9,63]}");
    free(b);
    m->n_buckets = FDSP_SUM_BUCKETS;
    for (int i = 0; i < FDSP_SUM_BUCKETS; i++)
        m->buckets[i] = FDSP_SUM_BUCKETS - 1 - i;
    free(roundtrip(m));
    m->buckets[7] = FDSP_SUM_BUCKETS;
    expect_encode(m, FDSP_E_VALUE);
    m->buckets[7] = -1;
    expect_encode(m, FDSP_E_VALUE);
    m->buckets[7] = 7;
    m->n_buckets = FDSP_SUM_BUCKETS + 1;
    expect_encode(m, FDSP_E_LIMIT);
    free(m->buckets);
    m->buckets = NULL;
    m->n_buckets = 1;
    expect_encode(m, FDSP_E_VALUE);
    fdsp_msg_free(m);

    assert_int_equal(dec("{\"type\":\"repair\",\"buckets\":[1,64]}", err,
                         sizeof err), FDSP_E_VALUE);
    assert_string_equal(err, "buckets[1]: must be <= 63");
    assert_int_equal(dec("{\"type\":\"repair\",\"buckets\":[-1]}", err,
                         sizeof err), FDSP_E_VALUE);
    assert_string_equal(err, "buckets[0]: must be >= 0");
    assert_int_equal(dec("{\"type\":\"repair\",\"buckets\":[\"1\"]}", err,
                         sizeof err), FDSP_E_TYPE);
    assert_string_equal(err, "buckets[0]: must be an integer");
    expect("{\"type\":\"repair\",\"buckets\":[1.0]}", FDSP_E_TYPE);
    expect("{\"type\":\"repair\",\"buckets\":[null]}", FDSP_E_TYPE);
    expect("{\"type\":\"repair\",\"buckets\":[{}]}", FDSP_E_TYPE);
    expect("{\"type\":\"repair\",\"buckets\":[" MAX_INT_P1 "]}", FDSP_E_VALUE);
    expect("{\"type\":\"repair\",\"buckets\":[99999999999999999999]}",
           FDSP_E_VALUE);
    expect("{\"type\":\"repair\"}", FDSP_E_MISSING);
    expect("{\"type\":\"repair\",\"buckets\":3}", FDSP_E_TYPE);
    /* Duplicates are in range: accepted (the server never sends them). */
    expect("{\"type\":\"repair\",\"buckets\":[4,4]}", FDSP_OK);
    /* 64 entries pass, 65 are a limit. */
    char s[512];
    size_t o = (size_t)sprintf(s, "{\"type\":\"repair\",\"buckets\":[");
    for (int i = 0; i < FDSP_SUM_BUCKETS; i++)
        o += (size_t)sprintf(s + o, "%s%d", i ? "," : "", i);
    strcpy(s + o, "]}");
    expect(s, FDSP_OK);
    strcpy(s + o, ",0]}");
    assert_int_equal(dec(s, err, sizeof err), FDSP_E_LIMIT);
    assert_string_equal(err, "buckets: more than 64 entries");
}

/* Fixed vectors: PROTOCOL.md section 10 defines the functions; these values
** were checked against an independent implementation of that text. */
static void test_trust_sum_functions(void **state)
{
    (void)state;
    assert_int_equal(fdsp_sum_register("", "", "", NULL, 0),
                     UINT64_C(0xea84b5f3461f8f55));
    assert_int_equal(fdsp_sum_register("", "", "", "", 0),
                     UINT64_C(0xea84b5f3461f8f55));
    assert_int_equal(fdsp_sum_register("customer", "c-1", "name", "Alice", 5),
                     UINT64_C(0x23bb4a4f5230991c));
    assert_int_equal(fdsp_sum_register("customer", "c-1", "name", "", 0),
                     UINT64_C(0x86ef6df5431f23a1));
    /* The framing: moving a byte across a boundary changes the sum. */
    assert_int_equal(fdsp_sum_register("customer", "c-1", "nam", "e", 1),
                     UINT64_C(0x557e7f2a072d7b7e));
    assert_int_equal(fdsp_sum_register("followup", "f-9", "note",
                                       "王小明", strlen("王小明")),
                     UINT64_C(0x93bc63a6ad569416));
    /* len counts, not NUL: bytes after a NUL are hashed. */
    assert_int_not_equal(fdsp_sum_register("t", "r", "f", "a\0b", 3),
                         fdsp_sum_register("t", "r", "f", "a", 1));
    assert_int_equal(fdsp_sum_bucket(""), 61);
    assert_int_equal(fdsp_sum_bucket("a"), 0);
    assert_int_equal(fdsp_sum_bucket("c-1"), 52);
    assert_int_equal(fdsp_sum_bucket(D1), 10);
    assert_int_equal(fdsp_sum_bucket("customer-42"), 56);
    assert_int_equal(fdsp_sum_bucket(NULL), 0);
    /* Every bucket is reachable and in range, even for sequential ids. */
    int seen[FDSP_SUM_BUCKETS] = {0};
    for (int i = 0; i < 4096; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        int bk = fdsp_sum_bucket(key);
        assert_true(bk >= 0 && bk < FDSP_SUM_BUCKETS);
        seen[bk] = 1;
    }
    for (int i = 0; i < FDSP_SUM_BUCKETS; i++)
        assert_true(seen[i]);
}

static void test_names(void **state)
{
    (void)state;
    for (int c = 0; c < FDSP_E__COUNT; c++) {
        const char *n = fdsp_errname(c);
        assert_string_not_equal(n, "unknown");
        assert_int_equal(fdsp_errcode(n), c);
    }
    assert_string_equal(fdsp_errname(FDSP_E_DEPTH), "too_deep");
    assert_string_equal(fdsp_errname(FDSP_E_VERSION), "unsupported_version");
    assert_string_equal(fdsp_errname(-1), "unknown");
    assert_string_equal(fdsp_errname(FDSP_E__COUNT), "unknown");
    assert_int_equal(fdsp_errcode("nope"), FDSP_E_INTERNAL);
    assert_int_equal(fdsp_errcode(NULL), FDSP_E_INTERNAL);
    assert_string_equal(fdsp_typename(FDSP_CHANGES), "changes");
    assert_null(fdsp_typename(0));
    assert_string_equal(fdsp_typename(FDSP_SUMS), "sums");
    assert_string_equal(fdsp_typename(FDSP_REPAIR), "repair");
    assert_string_equal(fdsp_typename(FDSP_BLOB_DATA), "blob_data");
    assert_null(fdsp_typename(FDSP_TYPE_LAST + 1));
    assert_null(fdsp_msg_new((fdsp_type)0));
    fdsp_msg_free(NULL);
}

/* ---- blobs (PROTOCOL.md §14) ------------------------------------------------------ */

static void sha_of(const void *p, size_t n, char hex[65])
{
    fdsp_sha256 c;
    unsigned char d[32];
    fdsp_sha256_init(&c);
    fdsp_sha256_update(&c, p, n);
    fdsp_sha256_final(&c, d);
    fdsp_sha256_hex(d, hex);
}

static void test_sha256_vectors(void **state)
{
    (void)state;
    char hex[65];
    sha_of("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sha_of("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *l = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha_of(l, strlen(l), hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* Fed in odd pieces: the same digest. */
    static unsigned char big[200000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (unsigned char)(i * 7 + i / 251);
    char whole[65], parts[65];
    sha_of(big, sizeof big, whole);
    fdsp_sha256 c;
    unsigned char d[32];
    fdsp_sha256_init(&c);
    for (size_t at = 0, step = 1; at < sizeof big; step = step * 3 % 1001 + 1) {
        size_t k = sizeof big - at < step ? sizeof big - at : step;
        fdsp_sha256_update(&c, big + at, k);
        at += k;
    }
    fdsp_sha256_final(&c, d);
    fdsp_sha256_hex(d, parts);
    assert_string_equal(whole, parts);
    assert_true(fdsp_sha_ok(whole));
    assert_false(fdsp_sha_ok("abc"));
    /* A name cut inside a UTF-8 sequence loses the broken tail only. */
    char cut[16];
    snprintf(cut, sizeof cut, "%s", "门店\xe7\x85");   /* 照 cut after 2 bytes */
    fdsp_utf8_trim(cut);
    assert_string_equal(cut, "门店");
    snprintf(cut, sizeof cut, "%s", "门店照");
    fdsp_utf8_trim(cut);
    assert_string_equal(cut, "门店照");
    snprintf(cut, sizeof cut, "%s", "ab");
    fdsp_utf8_trim(cut);
    assert_string_equal(cut, "ab");
}

static void test_roundtrip_blob_chunk(void **state)
{
    (void)state;
    /* A full chunk of every byte value survives both ways. */
    fdsp_msg *m = fdsp_msg_new(FDSP_BLOB_DATA);
    assert_non_null(m);
    m->n_data = FDSP_BLOB_CHUNK;
    m->data = malloc(m->n_data);
    assert_non_null(m->data);
    for (size_t i = 0; i < m->n_data; i++)
        m->data[i] = (unsigned char)(i * 131);
    m->sha = strdup("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
    m->size = 3 * FDSP_BLOB_CHUNK;
    m->offset = FDSP_BLOB_CHUNK;
    char *buf = NULL;
    size_t len = 0;
    assert_int_equal(fdsp_encode(m, &buf, &len), FDSP_OK);
    fdsp_msg *d = NULL;
    char err[256];
    assert_int_equal(fdsp_decode(buf, len, &d, err, sizeof err), FDSP_OK);
    assert_int_equal(d->n_data, m->n_data);
    assert_memory_equal(d->data, m->data, m->n_data);
    assert_int_equal(d->offset, FDSP_BLOB_CHUNK);
    assert_int_equal(d->size, 3 * FDSP_BLOB_CHUNK);
    /* One byte more than a chunk is refused by the encoder. */
    m->n_data = FDSP_BLOB_CHUNK + 1;
    unsigned char *more = realloc(m->data, m->n_data);
    assert_non_null(more);
    m->data = more;
    char *b2 = NULL;
    assert_int_equal(fdsp_encode(m, &b2, &len), FDSP_E_LIMIT);
    free(buf);
    fdsp_msg_free(d);
    fdsp_msg_free(m);
}

/* ---- data cases ------------------------------------------------------------------ */

/* A case of sub ("valid": must decode; "invalid": its file name is
** "<case>--<wire error name>.json"), and what it decodes to round-trips. */
static void run_case(const char *sub, const char *name, const char *buf,
                     size_t len, void *ud)
{
    (void)ud;
    int want = FDSP_OK;
    if (strcmp(sub, "valid") != 0) {
        const char *sep = strstr(name, "--");
        if (sep == NULL)
            fail_msg("%s: invalid case name lacks --<code>", name);
        char code[64];
        size_t n = strlen(sep + 2) - strlen(".json");
        assert_true(n < sizeof code);
        memcpy(code, sep + 2, n);
        code[n] = '\0';
        want = fdsp_errcode(code);
        if (strcmp(fdsp_errname(want), code) != 0 || want == FDSP_OK)
            fail_msg("%s: \"%s\" is not an error code name", name, code);
    }
    fdsp_msg *m = expect_n(buf, len, want);
    if (m != NULL) {
        /* Canonical form: re-encoding what was decoded is a fixpoint. */
        char *b1, *b2;
        size_t n1, n2;
        assert_int_equal(fdsp_encode(m, &b1, &n1), FDSP_OK);
        fdsp_msg *m2 = expect_n(b1, n1, FDSP_OK);
        assert_msg_eq(m, m2);
        assert_int_equal(fdsp_encode(m2, &b2, &n2), FDSP_OK);
        assert_int_equal(n1, n2);
        assert_memory_equal(b1, b2, n1);
        free(b1);
        free(b2);
        fdsp_msg_free(m2);
        fdsp_msg_free(m);
    }
}

static void test_data_valid(void **state)
{
    (void)state;
    assert_true(tcase_each("valid", run_case, NULL) >= 10);
}

static void test_data_invalid(void **state)
{
    (void)state;
    assert_true(tcase_each("invalid", run_case, NULL) >= 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_hello),
        cmocka_unit_test(test_group_out_of_memory),
        cmocka_unit_test(test_roundtrip_trust_hello_welcome),
        cmocka_unit_test(test_trust_hello_welcome_refusals),
        cmocka_unit_test(test_trust_ack_stamps),
        cmocka_unit_test(test_trust_device_clash),
        cmocka_unit_test(test_unknown_user_code),
        cmocka_unit_test(test_trust_sums),
        cmocka_unit_test(test_trust_repair),
        cmocka_unit_test(test_trust_sum_functions),
        cmocka_unit_test(test_roundtrip_welcome),
        cmocka_unit_test(test_roundtrip_push),
        cmocka_unit_test(test_roundtrip_ack),
        cmocka_unit_test(test_roundtrip_pull),
        cmocka_unit_test(test_roundtrip_changes),
        cmocka_unit_test(test_roundtrip_revoke),
        cmocka_unit_test(test_roundtrip_notify),
        cmocka_unit_test(test_roundtrip_error),
        cmocka_unit_test(test_roundtrip_awkward_text),
        cmocka_unit_test(test_too_big),
        cmocka_unit_test(test_too_deep),
        cmocka_unit_test(test_bad_utf8),
        cmocka_unit_test(test_duplicate_key),
        cmocka_unit_test(test_unknown_type_and_version),
        cmocka_unit_test(test_top_level_and_syntax),
        cmocka_unit_test(test_nul_in_string),
        cmocka_unit_test(test_missing_fields),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_change_values),
        cmocka_unit_test(test_string_limits),
        cmocka_unit_test(test_count_limits),
        cmocka_unit_test(test_error_line_names_field),
        cmocka_unit_test(test_vv_sorted),
        cmocka_unit_test(test_change_copy_and_json),
        cmocka_unit_test(test_encode_checks),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_sha256_vectors),
        cmocka_unit_test(test_roundtrip_blob_chunk),
        cmocka_unit_test(test_out_of_memory),
        cmocka_unit_test(test_data_valid),
        cmocka_unit_test(test_data_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
