/*
** test_codec_diff.c — the direct codec (protocol/src/decode.c, encode.c)
** against the jansson reference it replaced (protocol/src/ref/).
**
**   same code     both decoders give the same FDSP_E_* code for the input;
**                 a refusal found in the fields (not in the JSON itself)
**                 has the same error line, word for word
**   same bytes    a decoded message encodes to the same bytes with both
**                 encoders, and decodes again to the same
**   data cases    every tests/protocol/valid/ and invalid/ case
**   edge cases    escapes, surrogates, numbers, NUL bytes, duplicate keys
**                 at any depth, depth and batch and value limits exactly
**   structs       awkward strings and invalid structs through both encoders
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "fieldsync_proto.h"
#include "proto_internal.h"
#include "cases.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* JSON-level refusals carry jansson's or the reader's own wording, which
** differ; both start like this.  Every other error line must be equal. */
#define PARSE_PREFIX "at byte "

static int starts_with(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

/* Both encoders on m: same code, same bytes.  Returns the bytes (or NULL
** if refused); caller frees. */
static char *encode_both(const fdsp_msg *m, size_t *n_out, int *rc_out)
{
    char *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    int ra = fdsp_encode(m, &a, &na);
    int rb = fdsp__ref_encode(m, &b, &nb);
    if (ra != rb)
        fail_msg("encode: direct %s, reference %s", fdsp_errname(ra),
                 fdsp_errname(rb));
    if (ra == FDSP_OK) {
        if (na != nb || memcmp(a, b, na) != 0)
            fail_msg("encode bytes differ:\n direct    %.*s\n reference %.*s",
                     (int)na, a, (int)nb, b);
        assert_int_equal(a[na], '\0');
    } else {
        assert_null(a);
        assert_null(b);
    }
    free(b);
    *n_out = na;
    *rc_out = ra;
    return a;
}

static void assert_same_bytes(const char *a, size_t na, const char *b,
                              size_t nb)
{
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na);
}

/* The grouped form of m (FDSP_ENC_GROUPS, PROTOCOL.md §5.1): both encoders
** give the same bytes, no longer than plain (n_plain), and both decoders
** read them back to the message whose plain form is plain[0..n_plain). */
static void groups_both(const fdsp_msg *m, const char *plain, size_t n_plain)
{
    char *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    int ra = fdsp_encode_opt(m, FDSP_ENC_GROUPS, &a, &na);
    int rb = fdsp__ref_encode_opt(m, FDSP_ENC_GROUPS, &b, &nb);
    assert_int_equal(ra, FDSP_OK);
    assert_int_equal(rb, FDSP_OK);
    if (na != nb || memcmp(a, b, na) != 0)
        fail_msg("grouped bytes differ:\n direct    %.*s\n reference %.*s",
                 (int)na, a, (int)nb, b);
    assert_true(na <= n_plain);
    fdsp_msg *d1 = NULL, *d2 = NULL;
    char e[256];
    if (fdsp_decode(a, na, &d1, e, sizeof e) != FDSP_OK)
        fail_msg("grouped form refused: %s: %.*s", e, (int)na, a);
    assert_int_equal(fdsp__ref_decode(a, na, &d2, e, sizeof e), FDSP_OK);
    size_t n1, n2;
    int rc1, rc2;
    char *p1 = encode_both(d1, &n1, &rc1);
    char *p2 = encode_both(d2, &n2, &rc2);
    assert_same_bytes(p1, n1, plain, n_plain);
    assert_same_bytes(p2, n2, plain, n_plain);
    /* and the pooled decoder (a device's pulled pages) reads the same */
    fdsp_msg *d3 = NULL;
    if (fdsp_decode_pooled(a, na, &d3, e, sizeof e) != FDSP_OK)
        fail_msg("grouped form refused pooled: %s: %.*s", e, (int)na, a);
    size_t n3;
    int rc3;
    char *p3 = encode_both(d3, &n3, &rc3);
    assert_same_bytes(p3, n3, plain, n_plain);
    free(p3);
    fdsp_msg_free(d3);
    free(p1);
    free(p2);
    fdsp_msg_free(d1);
    fdsp_msg_free(d2);
    free(a);
    free(b);
}

/* The whole differential check for one input; returns the code. */
static int diff_n(const char *buf, size_t len)
{
    fdsp_msg *m1 = NULL, *m2 = NULL;
    char e1[256], e2[256];
    int r1 = fdsp_decode(buf, len, &m1, e1, sizeof e1);
    int r2 = fdsp__ref_decode(buf, len, &m2, e2, sizeof e2);
    if (r1 != r2)
        fail_msg("decode: direct %s (%s), reference %s (%s) for: %.300s",
                 fdsp_errname(r1), e1, fdsp_errname(r2), e2,
                 buf ? buf : "(null)");
    /* The pooled decoder: the same code and line, the same message. */
    {
        fdsp_msg *mp = NULL;
        char ep[256];
        int rp = fdsp_decode_pooled(buf, len, &mp, ep, sizeof ep);
        if (rp != r1 || (r1 != FDSP_OK && strcmp(ep, e1) != 0))
            fail_msg("pooled decode: %s (%s), direct %s (%s) for: %.300s",
                     fdsp_errname(rp), ep, fdsp_errname(r1), e1,
                     buf ? buf : "(null)");
        if (rp == FDSP_OK) {
            size_t np, nd;
            int rcp, rcd;
            char *bp = encode_both(mp, &np, &rcp);
            char *bd = encode_both(m1, &nd, &rcd);
            assert_int_equal(rcp, rcd);
            assert_same_bytes(bp, np, bd, nd);
            free(bp);
            free(bd);
        } else {
            assert_null(mp);
        }
        fdsp_msg_free(mp);
    }
    if (r1 != FDSP_OK) {
        assert_null(m1);
        assert_true(strlen(e1) > 0);
        if (starts_with(e2, PARSE_PREFIX)) {
            if (!starts_with(e1, PARSE_PREFIX))
                fail_msg("error line \"%s\" vs reference \"%s\"", e1, e2);
        } else if (strcmp(e1, e2) != 0) {
            fail_msg("error line \"%s\" vs reference \"%s\"", e1, e2);
        }
        return r1;
    }
    size_t n1, n2;
    int rc1, rc2;
    char *b1 = encode_both(m1, &n1, &rc1);
    char *b2 = encode_both(m2, &n2, &rc2);
    assert_int_equal(rc1, FDSP_OK);
    assert_int_equal(rc2, FDSP_OK);
    assert_same_bytes(b1, n1, b2, n2);
    /* The canonical form decodes again, the same way, to the same bytes. */
    fdsp_msg *m3 = NULL, *m4 = NULL;
    assert_int_equal(fdsp_decode(b1, n1, &m3, e1, sizeof e1), FDSP_OK);
    assert_int_equal(fdsp__ref_decode(b1, n1, &m4, e2, sizeof e2), FDSP_OK);
    size_t n3, n4;
    char *b3 = encode_both(m3, &n3, &rc1);
    char *b4 = encode_both(m4, &n4, &rc2);
    assert_same_bytes(b3, n3, b1, n1);
    assert_same_bytes(b4, n4, b1, n1);
    groups_both(m1, b1, n1);
    free(b1);
    free(b2);
    free(b3);
    free(b4);
    fdsp_msg_free(m1);
    fdsp_msg_free(m2);
    fdsp_msg_free(m3);
    fdsp_msg_free(m4);
    return FDSP_OK;
}

static int diff(const char *s)
{
    return diff_n(s, strlen(s));
}

/* diff, and the code must be `want`. */
static void expect(const char *s, int want)
{
    int rc = diff(s);
    if (rc != want)
        fail_msg("expected %s, got %s for: %.300s", fdsp_errname(want),
                 fdsp_errname(rc), s);
}

static void expect_n(const char *s, size_t n, int want)
{
    int rc = diff_n(s, n);
    if (rc != want)
        fail_msg("expected %s, got %s for: %.*s", fdsp_errname(want),
                 fdsp_errname(rc), (int)(n < 300 ? n : 300), s ? s : "");
}

static char *rep(char c, size_t n)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* printf into a new buffer. */
static char *vfmt(const char *f, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, f, ap);
    assert_true(n >= 0);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    vsnprintf(s, (size_t)n + 1, f, again);
    va_end(again);
    return s;
}

/* diff of printf(f, ...); its code. */
__attribute__((format(printf, 1, 2)))
static int diff_fmt(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    char *s = vfmt(f, ap);
    va_end(ap);
    int rc = diff(s);
    free(s);
    return rc;
}

/* expect of printf(f, ...). */
__attribute__((format(printf, 2, 3)))
static void expect_fmt(int want, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    char *s = vfmt(f, ap);
    va_end(ap);
    expect(s, want);
    free(s);
}

#define CHG(v) "{\"t\":\"customer\",\"r\":\"r1\",\"f\":\"name\",\"v\":" v \
               ",\"vv\":{\"a\":1},\"h\":\"0190a1b2c3d40000\",\"d\":\"a\"}"
#define PUSH(v) "{\"type\":\"push\",\"batch\":1,\"changes\":[" CHG(v) "]}"
#define NOTIFY(x) "{\"type\":\"notify\",\"head\":1,\"x\":" x "}"

/* ---- data cases ------------------------------------------------------------ */

static void diff_case(const char *sub, const char *name, const char *buf,
                      size_t len, void *ud)
{
    (void)sub;
    (void)name;
    (void)ud;
    diff_n(buf, len);
}

static void test_data_cases(void **state)
{
    (void)state;
    assert_true(tcase_each("valid", diff_case, NULL) >= 10);
    assert_true(tcase_each("invalid", diff_case, NULL) >= 10);
}

/* ---- strings ----------------------------------------------------------------- */

static void test_strings(void **state)
{
    (void)state;
    /* Every simple escape, and \u escapes of every width. */
    expect(PUSH("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\""), FDSP_OK);
    expect(PUSH("\"\\u0041\\u00e9\\u00E9\\u4e2d\\uFFFF\\u0001\\u001f\\u007f\""),
           FDSP_OK);
    /* Surrogate pairs: good, reversed, lone, split by other text. */
    expect(PUSH("\"\\ud83d\\ude00\""), FDSP_OK);
    expect(PUSH("\"x\\uD83D\\uDE00y\""), FDSP_OK);
    expect(PUSH("\"\\ude00\\ud83d\""), FDSP_E_JSON);
    expect(PUSH("\"\\ud83d\""), FDSP_E_JSON);
    expect(PUSH("\"\\ud83dx\""), FDSP_E_JSON);
    expect(PUSH("\"\\ud83d\\n\""), FDSP_E_JSON);
    expect(PUSH("\"\\ud83d\\ud83d\""), FDSP_E_JSON);
    expect(PUSH("\"\\ud83d\\u0041\""), FDSP_E_JSON);
    expect(PUSH("\"\\ude00\""), FDSP_E_JSON);
    expect(PUSH("\"\\ud83d\xc3\xa9\""), FDSP_E_JSON);
    /* A lone surrogate is found after the closing quote: bad UTF-8 later
    ** in the same string comes first; later in the message it does not. */
    expect(PUSH("\"\\ud83d \xff\""), FDSP_E_UTF8);
    expect("{\"type\":\"notify\",\"x\":\"\\ud800\",\"y\":\"\xff\"}", FDSP_E_JSON);
    /* \u0000 is a bad value, unless the string is otherwise bad JSON. */
    expect(PUSH("\"\\u0000\""), FDSP_E_VALUE);
    expect(PUSH("\"\\u0000\\ud800\""), FDSP_E_JSON);
    expect(NOTIFY("{\"k\\u0000\":1}"), FDSP_E_VALUE);
    expect(NOTIFY("{\"k\\u0000\":1,\"k\\u0000\":1}"), FDSP_E_VALUE);
    expect(NOTIFY("[\"\\u0000\"]"), FDSP_E_VALUE);
    /* Bad escapes, truncations, raw controls. */
    expect(PUSH("\"\\x\""), FDSP_E_JSON);
    expect(PUSH("\"\\u12\""), FDSP_E_JSON);
    expect(PUSH("\"\\u12g4\""), FDSP_E_JSON);
    expect(PUSH("\"\\u12\xff\""), FDSP_E_UTF8);
    expect(PUSH("\"\\\xff\""), FDSP_E_UTF8);
    expect(PUSH("\"\\\xc3\xa9\""), FDSP_E_JSON);
    expect(PUSH("\"\t\""), FDSP_E_JSON);
    expect(PUSH("\"\x7f\""), FDSP_OK);
    expect("{\"type\":\"notify\",\"head\":1,\"x\":\"abc", FDSP_E_JSON);
    expect("{\"type\":\"notify\",\"head\":1,\"x\":\"abc\\", FDSP_E_JSON);
    expect("{\"type\":\"notify\",\"head\":1,\"x\":\"abc\\u00", FDSP_E_JSON);
    expect("{\"type\":\"notify\",\"head\":1,\"x\":\"\xe4\xb8", FDSP_E_UTF8);
    /* Escaped keys are the same keys. */
    expect("{\"typ\\u0065\":\"notify\",\"head\":1}", FDSP_OK);
    expect("{\"type\":\"notify\",\"h\\u0065ad\":1,\"head\":2}", FDSP_E_DUPKEY);
    expect("{\"type\":\"noti\\u0066y\",\"head\":1}", FDSP_OK);
    /* UTF-8: every kind of bad sequence, in keys and outside strings. */
    const char *const bad[] = {"\x80", "\xbf", "\xc0\x80", "\xc1\xbf",
                               "\xc3", "\xe0\x80\x80", "\xe0\x9f\xbf",
                               "\xed\xa0\x80", "\xed\xbf\xbf", "\xf0\x80\x80\x80",
                               "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xff",
                               "\xe4\xb8", "\xe4\x41\x41"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expect_fmt(FDSP_E_UTF8, PUSH("\"%s\""), bad[i]);
        expect_fmt(FDSP_E_UTF8, "{\"type\":\"notify\",\"head\":1,\"%s\":1}",
                   bad[i]);
        expect_fmt(FDSP_E_UTF8, "{\"type\":\"notify\",\"head\":1}%s", bad[i]);
        expect_fmt(FDSP_E_UTF8, "{\"type\":\"notify\",\"head\":1%s}", bad[i]);
        expect_fmt(FDSP_E_UTF8, "{\"type\":\"notify\",\"head\":tru%s}",
                   bad[i]);
    }
    const char *const good[] = {"\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80",
                                "\xed\x9f\xbf", "\xee\x80\x80", "\xef\xbf\xbf",
                                "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        expect_fmt(FDSP_OK, PUSH("\"%s\""), good[i]);
        /* A valid character where a token belongs is bad JSON. */
        expect_fmt(FDSP_E_JSON, "{\"type\":\"notify\",\"head\":1%s}",
                   good[i]);
    }
}

/* ---- numbers ------------------------------------------------------------------ */

static void test_numbers(void **state)
{
    (void)state;
    const struct { const char *v; int code; } cases[] = {
        {"0", FDSP_OK}, {"-0", FDSP_OK}, {"1", FDSP_OK},
        {"9007199254740992", FDSP_OK}, {"9007199254740993", FDSP_E_VALUE},
        {"9223372036854775807", FDSP_E_VALUE},
        {"9223372036854775808", FDSP_E_VALUE},
        {"-9223372036854775808", FDSP_E_VALUE},
        {"-9223372036854775809", FDSP_E_VALUE},
        {"99999999999999999999999999", FDSP_E_VALUE},
        {"1.0", FDSP_E_TYPE}, {"1e3", FDSP_E_TYPE}, {"1E3", FDSP_E_TYPE},
        {"1e+3", FDSP_E_TYPE}, {"1e-3", FDSP_E_TYPE}, {"-0.0", FDSP_E_TYPE},
        {"1e308", FDSP_E_TYPE}, {"1e309", FDSP_E_VALUE},
        {"-1e309", FDSP_E_VALUE}, {"1e-400", FDSP_E_TYPE},
        {"179769313486231570000e288", FDSP_E_TYPE},
        {"179769313486231581e291", FDSP_E_VALUE},
        {"0.000001e314", FDSP_E_TYPE}, {"0.000001e315", FDSP_E_VALUE},
        {"1e99999999999999999999", FDSP_E_VALUE},
        {"0e99999999999999999999", FDSP_E_TYPE},
        {"01", FDSP_E_JSON}, {"-", FDSP_E_JSON}, {"-a", FDSP_E_JSON},
        {"+1", FDSP_E_JSON}, {"1.", FDSP_E_JSON}, {"1.e3", FDSP_E_JSON},
        {".5", FDSP_E_JSON}, {"1e", FDSP_E_JSON}, {"1e+", FDSP_E_JSON},
        {"--1", FDSP_E_JSON}, {"1x", FDSP_E_JSON}, {"0x10", FDSP_E_JSON},
        {"1 2", FDSP_E_JSON}, {"Infinity", FDSP_E_JSON}, {"NaN", FDSP_E_JSON},
        {"true", FDSP_E_TYPE}, {"nul", FDSP_E_JSON}, {"nulls", FDSP_E_JSON},
        {"True", FDSP_E_JSON},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        expect_fmt(cases[i].code, "{\"type\":\"notify\",\"head\":%s}",
                   cases[i].v);
        /* Inside an ignored member every number is fine but overflow. */
        diff_fmt(NOTIFY("[%s]"), cases[i].v);
    }
    /* An overflowing number is found while it is read: before the syntax
    ** error it sits in. */
    expect(NOTIFY("1 99999999999999999999"), FDSP_E_VALUE);
    expect("{\"type\":\"notify\",\"head\":1,99999999999999999999:1}",
           FDSP_E_VALUE);
    expect("{\"type\":\"notify\",\"head\":1,1e999:1}", FDSP_E_VALUE);
    /* One NUL byte right after a number or literal is skipped (jansson);
    ** anywhere else it is bad JSON. */
    expect_n("{\"type\":\"notify\",\"head\":1\0}", 27, FDSP_OK);
    expect_n("{\"type\":\"notify\",\"head\":1\0\0}", 28, FDSP_E_JSON);
    expect_n("{\"type\":\"notify\",\"head\":1,\"x\":true\0}", 36, FDSP_OK);
    expect_n("{\"type\":\"notify\",\"head\":1,\"x\":1.5\0}", 35, FDSP_OK);
    expect_n("{\"type\":\"notify\",\"head\":1 \0}", 28, FDSP_E_JSON);
    expect_n("{\"type\":\"notify\",\"head\":1}\0", 27, FDSP_E_JSON);
    expect_n("1\0", 2, FDSP_E_TYPE);
    expect_n("\0", 1, FDSP_E_JSON);
    /* Top-level scalars parse first: their JSON errors come first. */
    expect("99999999999999999999", FDSP_E_VALUE);
    expect("\"\\u0000\"", FDSP_E_VALUE);
    expect("\"\\ud800\"", FDSP_E_JSON);
    expect("[1,]", FDSP_E_JSON);
    expect("[1,2] ", FDSP_E_TYPE);
}

/* ---- structure --------------------------------------------------------------- */

static void test_structure(void **state)
{
    (void)state;
    const char *const cases[] = {
        "", " ", "{", "}", "{}", "[", "]", "[]", "{\"type\"}", "{\"type\":}",
        "{\"type\":\"notify\",}", "{\"type\":\"notify\" \"head\":1}",
        "{\"type\":\"notify\",\"head\":1,}", "{,\"type\":\"notify\"}",
        "{\"type\":\"notify\";\"head\":1}", "{\"type\"::\"notify\"}",
        "{\"type\":\"notify\",\"head\":1]", "[{\"type\":\"notify\"}}",
        NOTIFY("[1 2]"), NOTIFY("[1,,2]"), NOTIFY("[,]"), NOTIFY("{1:2}"),
        NOTIFY("{\"a\" 1}"), NOTIFY("{\"a\":1 \"b\":2}"), NOTIFY("[}"),
        NOTIFY("{]"), NOTIFY("[[]]"), NOTIFY("{\"a\":{}}"), NOTIFY("\"\""),
        NOTIFY("null"), NOTIFY("[true,false,null,1,-1.5e-3,\"s\",{},[]]"),
        "\t\r\n {\"type\" : \"notify\" , \"head\" : 1 } \r\n\t",
        "{\"type\":\"notify\",\"head\":1}\v", "\xef\xbb\xbf{\"type\":\"notify\",\"head\":1}",
        "{\"type\":\"notify\",\"head\":1}{", "{\"type\":\"notify\",\"head\":1}]",
        "{\"type\":\"notify\",\"head\":1}\"x",
        "{\"type\":\"notify\",\"head\":1}\"\xff",
        "{\"type\":\"notify\",\"head\":1,\"x\":\"a\"\xff}",
        "{\"type\":\"notify\",\"head\":1,\"x\":\"a\"\"\xff\"}",
        "{\"type\":\"notify\",\"head\":1,\"x\" \"\xff\"}",
        "{\"type\":\"notify\",\"head\":1,\"x\" x\xff}",
        "{\"type\":\"notify\",\"head\":1,\"x\":-\xff}",
        "{\"type\":\"notify\",\"head\":1,\"x\":1.\xff}",
        "{\"type\":\"notify\",\"head\":1,\"x\":1e\xff}",
        "{\"type\":\"notify\",\"head\":1,\"x\":01\xff}",
        "{\"type\":\"notify\",\"head\":1,\"x\":\xff}",
        "{\"type\":\"notify\",\"head\":1,\"x\":@\xff}",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        diff(cases[i]);
    expect_n(NULL, 0, FDSP_E_JSON);
}

/* Duplicate keys at every depth, also in members nobody reads. */
static void test_duplicates(void **state)
{
    (void)state;
    expect(NOTIFY("{\"a\":1,\"a\":2}"), FDSP_E_DUPKEY);
    expect(NOTIFY("[{\"a\":[{\"b\":1,\"b\":1}]}]"), FDSP_E_DUPKEY);
    expect(NOTIFY("{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6,\"g\":7,"
                  "\"h\":8,\"i\":9,\"j\":10,\"a\":11}"), FDSP_E_DUPKEY);
    expect(NOTIFY("{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6,\"g\":7,"
                  "\"h\":8,\"i\":9,\"j\":10,\"k\":11}"), FDSP_OK);
    /* A duplicate before a syntax error wins; after one it does not. */
    expect(NOTIFY("{\"a\":1,\"a\":2 x}"), FDSP_E_DUPKEY);
    expect(NOTIFY("{\"a\":1 x,\"a\":2}"), FDSP_E_JSON);
    expect("{\"type\":\"push\",\"batch\":1,\"changes\":[{\"t\":\"c\",\"t\":\"c\"}]}",
           FDSP_E_DUPKEY);
    expect("{\"type\":\"push\",\"batch\":1,\"changes\":[{\"vv\":{\"a\":1,\"a\":1}}]}",
           FDSP_E_DUPKEY);
    expect("{\"type\":\"revoke\",\"records\":[{\"t\":\"c\",\"r\":\"r\",\"x\":1,"
           "\"x\":1}]}", FDSP_E_DUPKEY);
    /* Thousands of distinct keys (the hash table), and one repeated. */
    size_t n = 5000;
    char *big = malloc(n * 16 + 64);
    assert_non_null(big);
    size_t k = (size_t)sprintf(big, "{\"type\":\"notify\",\"head\":1");
    for (size_t i = 0; i < n; i++)
        k += (size_t)sprintf(big + k, ",\"k%zu\":%zu", i, i);
    strcpy(big + k, "}");
    expect(big, FDSP_OK);
    strcpy(big + k, ",\"k4321\":0}");
    expect(big, FDSP_E_DUPKEY);
    /* The same in a vv: too many entries, but the duplicate comes first. */
    k = (size_t)sprintf(big, "{\"type\":\"push\",\"batch\":1,\"changes\":[{\"vv\":{");
    for (size_t i = 0; i < 200; i++)
        k += (size_t)sprintf(big + k, "%s\"d%zu\":1", i ? "," : "", i);
    strcpy(big + k, "}}]}");
    expect(big, FDSP_E_MISSING);
    strcpy(big + k, ",\"d7\":1}}]}");
    expect(big, FDSP_E_DUPKEY);
    free(big);
}

/* ---- limits exactly ------------------------------------------------------------- */

static void test_limits(void **state)
{
    (void)state;
    /* Depth: the message is level 1; 8 levels pass, 9 do not. */
    expect(NOTIFY("[[[[[[[1]]]]]]]"), FDSP_OK);
    expect(NOTIFY("[[[[[[[[1]]]]]]]]"), FDSP_E_DEPTH);
    expect(NOTIFY("[{\"a\":[{\"b\":[{\"c\":[1]}]}]}]"), FDSP_OK);
    expect("{\"type\":\"push\",\"batch\":1,\"changes\":[{\"t\":\"c\",\"r\":\"r\","
           "\"f\":\"f\",\"v\":null,\"vv\":{\"a\":1},\"h\":\"0190a1b2c3d40000\","
           "\"d\":\"a\",\"x\":[[[[1]]]]}]}", FDSP_OK);
    /* A value of exactly FDSP_MAX_VALUE bytes, and one more; escaped, the
    ** limit counts decoded bytes. */
    for (size_t n = FDSP_MAX_VALUE; n <= FDSP_MAX_VALUE + 1; n++) {
        char *v = rep('v', n);
        expect_fmt(n > FDSP_MAX_VALUE ? FDSP_E_LIMIT : FDSP_OK, PUSH("\"%s\""),
                   v);
        free(v);
        size_t m = n / 2;
        char *u = malloc(m * 6 + (n - 2 * m) * 6 + 1);
        assert_non_null(u);
        size_t k = 0;
        for (size_t i = 0; i < m; i++)      /* \u00e9: 2 bytes each */
            k += (size_t)sprintf(u + k, "\\u00e9");
        if (n % 2)
            k += (size_t)sprintf(u + k, "\\n");
        expect_fmt(n > FDSP_MAX_VALUE ? FDSP_E_LIMIT : FDSP_OK, PUSH("\"%s\""),
                   u);
        free(u);
    }
    /* A batch of exactly FDSP_MAX_BATCH changes, and one more. */
    for (size_t n = FDSP_MAX_BATCH; n <= FDSP_MAX_BATCH + 1; n++) {
        size_t one = strlen(CHG("\"x\"")) + 1;
        char *s = malloc(n * one + 64);
        assert_non_null(s);
        size_t k = (size_t)sprintf(s, "{\"type\":\"push\",\"batch\":1,\"changes\":[");
        for (size_t i = 0; i < n; i++)
            k += (size_t)sprintf(s + k, "%s" CHG("\"x\""), i ? "," : "");
        strcpy(s + k, "]}");
        expect(s, n > FDSP_MAX_BATCH ? FDSP_E_LIMIT : FDSP_OK);
        free(s);
    }
    /* Frame size exactly. */
    const char *msg = "{\"type\":\"notify\",\"head\":1}";
    char *buf = rep(' ', FDSP_MAX_FRAME + 1);
    memcpy(buf, msg, strlen(msg));
    expect_n(buf, FDSP_MAX_FRAME, FDSP_OK);
    expect_n(buf, FDSP_MAX_FRAME + 1, FDSP_E_TOOBIG);
    free(buf);
}

/* ---- field errors: order and wording ----------------------------------------- */

static void test_field_errors(void **state)
{
    (void)state;
    const char *const cases[] = {
        /* message checks before change checks, changes in index order,
        ** fields in the reference's order whatever their byte order */
        "{\"changes\":[{}],\"type\":\"push\"}",
        "{\"type\":\"push\",\"changes\":[1],\"batch\":-1}",
        "{\"type\":\"push\",\"batch\":1,\"changes\":[{\"d\":1,\"t\":\"A\"}]}",
        "{\"type\":\"push\",\"batch\":1,\"changes\":[" CHG("1") "," CHG("\"x\"") "]}",
        "{\"type\":\"push\",\"batch\":1,\"changes\":[" CHG("\"x\"") ",{\"h\":1}]}",
        "{\"type\":\"push\",\"batch\":1,\"changes\":[{\"t\":\"c\",\"r\":\"r\","
        "\"f\":\"f\",\"v\":null,\"vv\":{\"a\":0,\"B\":\"x\"},\"h\":\"0\",\"d\":\"a\"}]}",
        "{\"type\":\"push\",\"batch\":1,\"changes\":[{\"t\":\"c\",\"r\":\"r\","
        "\"f\":\"f\",\"v\":null,\"vv\":{\"a b\":1},\"h\":\"0\",\"d\":\"a\"}]}",
        "{\"type\":\"push\",\"batch\":1,\"changes\":[{\"t\":\"c\",\"r\":\"r\","
        "\"f\":\"f\",\"v\":null,\"vv\":[],\"h\":\"0\",\"d\":\"a\"}]}",
        "{\"type\":\"push\",\"batch\":1,\"changes\":[{\"t\":\"c\",\"r\":\"r\","
        "\"f\":\"f\",\"v\":null,\"vv\":{},\"h\":\"0\",\"d\":\"a\"}]}",
        "{\"type\":\"push\",\"batch\":1,\"changes\":[{\"t\":\"c\",\"r\":\"r\","
        "\"f\":\"f\",\"v\":null,\"vv\":{\"a\":1},\"h\":\"0190a1b2c3d40000\","
        "\"d\":\"a\",\"u\":null,\"s\":null,\"at\":null}]}",
        "{\"type\":\"changes\",\"changes\":[{\"t\":\"c\",\"r\":\"r\","
        "\"f\":\"f\",\"v\":null,\"vv\":{\"a\":1},\"h\":\"0190a1b2c3d40000\","
        "\"d\":\"a\",\"s\":null}],\"last\":1,\"more\":true}",
        "{\"type\":\"changes\",\"more\":1,\"last\":-1,\"changes\":{}}",
        "{\"type\":\"ack\",\"refused\":[{\"message\":1}],\"accepted\":0,\"batch\":1}",
        "{\"type\":\"ack\",\"refused\":[{\"i\":1,\"code\":\"ok\",\"message\":1}],"
        "\"accepted\":0,\"batch\":1}",
        "{\"type\":\"ack\",\"refused\":[{\"i\":1,\"code\":\"brand_new\","
        "\"message\":\"m\"}],\"accepted\":0,\"batch\":1}",
        "{\"type\":\"revoke\",\"records\":[{\"r\":\"a b\",\"t\":\"T\"}]}",
        "{\"type\":\"revoke\",\"records\":[{\"t\":\"t\",\"r\":\"r\"},2]}",
        "{\"type\":\"error\",\"fatal\":1,\"batch\":1.5,\"message\":\"m\","
        "\"code\":\"auth\"}",
        "{\"type\":\"error\",\"fatal\":null,\"batch\":null,\"message\":\"m\","
        "\"code\":\"auth\"}",
        "{\"type\":\"hello\",\"device\":\"d\",\"cursor\":0,\"v\":1.0}",
        "{\"type\":\"hello\",\"device\":\"d\",\"cursor\":0,\"v\":-0}",
        "{\"type\":\"hello\",\"device\":\"d\",\"cursor\":0,\"v\":1,\"client\":null}",
        "{\"type\":\"hello\",\"device\":\"d\",\"cursor\":0,\"v\":1,\"client\":\"\"}",
        "{\"type\":\"welcome\",\"v\":1,\"user\":\"u\",\"role\":\"\","
        "\"device\":\"d\",\"head\":0}",
        "{\"type\":\"pull\",\"limit\":0,\"after\":-1}",
        "{\"type\":null}", "{\"type\":\"NOTIFY\"}", "{\"head\":1}",
        "{\"type\":\"notify\",\"head\":\"1\"}",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        diff(cases[i]);
}

/* ---- ack notices (duplicate customers, 撞单) ------------------------------------- */

static void test_notice_inputs(void **state)
{
    (void)state;
#define ACK "{\"type\":\"ack\",\"batch\":1,\"accepted\":1,\"refused\":[]"
    const char *const ok[] = {
        ACK ",\"notices\":[{\"i\":0,\"kind\":\"duplicate\",\"f\":\"phone\","
        "\"owner\":\"wangfang\"}]}",
        ACK ",\"notices\":[{\"owner\":\"a\",\"f\":\"wechat\",\"kind\":\"dup\","
        "\"i\":499,\"z\":[{}]}]}",
        ACK ",\"notices\":[{\"i\":0,\"kind\":\"duplicate\",\"f\":\"phone\"}]}",
        ACK ",\"notices\":null}",
        ACK ",\"notices\":[{\"i\":0,\"kind\":\"d\",\"f\":\"p\",\"owner\":null}]}",   /* owner null: withheld, as absent */
        ACK ",\"notices\":[]}",
        ACK ",\"stamps\":[{\"i\":0,\"h\":\"0000000000000000\"}],\"notices\":"
        "[{\"i\":0,\"kind\":\"k\",\"f\":\"f\"},{\"i\":0,\"kind\":\"k\",\"f\":\"g\"}]}",
        /* not an ack: ignored as any unknown key */
        "{\"type\":\"pull\",\"after\":0,\"limit\":1,\"notices\":[1,2]}",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        expect(ok[i], FDSP_OK);
    const char *const bad[] = {
        ACK ",\"notices\":{}}", ACK ",\"notices\":1}", ACK ",\"notices\":[1]}",
        ACK ",\"notices\":[null]}", ACK ",\"notices\":[{}]}",
        ACK ",\"notices\":[{\"i\":500,\"kind\":\"d\",\"f\":\"p\"}]}",
        ACK ",\"notices\":[{\"i\":-1,\"kind\":\"d\",\"f\":\"p\"}]}",
        ACK ",\"notices\":[{\"i\":0,\"f\":\"p\"}]}",
        ACK ",\"notices\":[{\"i\":0,\"kind\":\"d\"}]}",
        ACK ",\"notices\":[{\"i\":0,\"kind\":1,\"f\":\"p\"}]}",
        ACK ",\"notices\":[{\"i\":0,\"kind\":\"D\",\"f\":\"p\"}]}",
        ACK ",\"notices\":[{\"i\":0,\"kind\":\"d\",\"f\":\"\"}]}",
        ACK ",\"notices\":[{\"i\":0,\"kind\":\"d\",\"f\":\"p\",\"owner\":\"\"}]}",
        ACK ",\"notices\":[{\"i\":0,\"kind\":\"d\",\"f\":\"p\",\"owner\":7}]}",
        ACK ",\"notices\":[{\"i\":0,\"kind\":\"d\",\"f\":\"p\",\"f\":\"q\"}]}",
        ACK ",\"notices\":[{\"i\":0,\"kind\":\"d\",\"f\":\"p\"}],\"notices\":[]}",
        ACK ",\"notices\":[{\"i\":0,\"kind\":\"d\",\"f\":\"p\",\"owner\":\"a b\"}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (diff(bad[i]) == FDSP_OK)
            fail_msg("accepted: %s", bad[i]);
#undef ACK
}

/* ---- trust additions (hello/welcome members, stamps, sums, repair) --------------- */

/* A sums message of n entries, entry `bad` (if < n) replaced by badval. */
static char *sums_msg(size_t n, size_t bad, const char *badval)
{
    char *s = malloc(64 + n * 24 + strlen(badval));
    assert_non_null(s);
    size_t o = (size_t)sprintf(s, "{\"type\":\"sums\",\"buckets\":[");
    for (size_t i = 0; i < n; i++)
        o += (size_t)sprintf(s + o, "%s%s", i ? "," : "",
                             i == bad ? badval : "\"0123456789abcdef\"");
    strcpy(s + o, "]}");
    return s;
}

static void test_trust_inputs(void **state)
{
    (void)state;
#define HELLO "{\"type\":\"hello\",\"v\":1,\"device\":\"d\",\"cursor\":0"
#define WELCOME "{\"type\":\"welcome\",\"v\":1,\"user\":\"u\",\"role\":\"r\"," \
                "\"device\":\"d\",\"head\":0"
#define ACK "{\"type\":\"ack\",\"batch\":1,\"accepted\":1,\"refused\":[]"
    const char *const ok[] = {
        HELLO ",\"counter\":1,\"store\":\"s\",\"epoch\":1}",
        HELLO ",\"epoch\":9007199254740992,\"store\":\"s\",\"counter\":0}",
        HELLO ",\"counter\":null,\"store\":null,\"epoch\":null,\"time\":[1]}",
        WELCOME ",\"time\":5,\"epoch\":4,\"store\":\"~\",\"counter\":3}",
        WELCOME ",\"time\":0,\"stamps\":{},\"buckets\":7}",
        ACK ",\"stamps\":[{\"h\":\"ffffffffffffffff\",\"i\":499}]}",
        ACK ",\"stamps\":null}",
        ACK ",\"stamps\":[]}",
        ACK ",\"stamps\":[{\"i\":0,\"h\":\"0000000000000000\",\"z\":[{}]}]}",
        "{\"type\":\"ack\",\"stamps\":[{\"i\":3,\"h\":\"0000000000000001\"}],"
        "\"batch\":2,\"accepted\":0,\"refused\":[{\"i\":0,\"code\":"
        "\"device_clash\",\"message\":\"m\"}]}",
        "{\"type\":\"error\",\"code\":\"device_clash\",\"message\":\"\"}",
        "{\"type\":\"repair\",\"buckets\":[]}",
        "{\"type\":\"repair\",\"buckets\":[63,0,5,5],\"stamps\":1}",
        "{\"buckets\":[1],\"type\":\"repair\"}",
        "{\"type\":\"repair\",\"buckets\":[-0]}",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        expect(ok[i], FDSP_OK);
    const char *const bad[] = {
        HELLO ",\"counter\":-1}", HELLO ",\"counter\":\"1\"}",
        HELLO ",\"counter\":1e2}", HELLO ",\"counter\":9007199254740993}",
        HELLO ",\"store\":\"\"}", HELLO ",\"store\":\"a\\\"b\"}",
        HELLO ",\"store\":1}", HELLO ",\"store\":\"\\u00e9\"}",
        HELLO ",\"epoch\":-1}", HELLO ",\"epoch\":false}",
        HELLO ",\"epoch\":-1,\"store\":1,\"counter\":\"x\",\"client\":3}",
        HELLO ",\"client\":3,\"epoch\":-1}",
        HELLO ",\"counter\":1,\"counter\":2}",
        WELCOME ",\"time\":-1}", WELCOME ",\"time\":\"1\"}",
        WELCOME ",\"time\":1,\"epoch\":-1}", WELCOME ",\"head\":-1,\"time\":-1}",
        ACK ",\"stamps\":{}}", ACK ",\"stamps\":1}", ACK ",\"stamps\":[1]}",
        ACK ",\"stamps\":[null]}", ACK ",\"stamps\":[{}]}",
        ACK ",\"stamps\":[{\"i\":500,\"h\":\"0000000000000000\"}]}",
        ACK ",\"stamps\":[{\"i\":-1,\"h\":\"0000000000000000\"}]}",
        ACK ",\"stamps\":[{\"i\":1.5,\"h\":\"0000000000000000\"}]}",
        ACK ",\"stamps\":[{\"i\":0}]}", ACK ",\"stamps\":[{\"i\":0,\"h\":0}]}",
        ACK ",\"stamps\":[{\"i\":0,\"h\":\"0000000000000000\"},{\"h\":\"x\"}]}",
        ACK ",\"stamps\":[{\"i\":0,\"h\":\"000000000000000A\"}]}",
        ACK ",\"stamps\":[{\"i\":0,\"h\":\"00000000000000000\"}]}",
        ACK ",\"stamps\":[{\"i\":0,\"h\":\"0\",\"h\":\"1\"}]}",
        "{\"type\":\"ack\",\"batch\":1,\"accepted\":1,\"refused\":[1],"
        "\"stamps\":[1]}",
        "{\"type\":\"ack\",\"batch\":1,\"accepted\":1,\"refused\":[],"
        "\"stamps\":[{\"i\":0,\"h\":\"0000000000000000\"}],\"stamps\":[]}",
        "{\"type\":\"sums\"}", "{\"type\":\"sums\",\"buckets\":null}",
        "{\"type\":\"sums\",\"buckets\":[]}", "{\"type\":\"sums\",\"buckets\":\"\"}",
        "{\"type\":\"repair\"}", "{\"type\":\"repair\",\"buckets\":null}",
        "{\"type\":\"repair\",\"buckets\":[64]}",
        "{\"type\":\"repair\",\"buckets\":[-1]}",
        "{\"type\":\"repair\",\"buckets\":[1,\"2\"]}",
        "{\"type\":\"repair\",\"buckets\":[1.0]}",
        "{\"type\":\"repair\",\"buckets\":[{\"a\":1}]}",
        "{\"type\":\"repair\",\"buckets\":[[]]}",
        "{\"type\":\"repair\",\"buckets\":[true]}",
        "{\"type\":\"repair\",\"buckets\":[99999999999999999999]}",
        "{\"type\":\"repair\",\"buckets\":[1,]}",
        "{\"type\":\"repair\",\"buckets\":[{\"a\":1,\"a\":2}]}",
        "{\"type\":\"repair\",\"buckets\":[\"\\u0000\"]}",
        "{\"type\":\"SUMS\",\"buckets\":[]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (diff(bad[i]) == FDSP_OK)
            fail_msg("accepted: %s", bad[i]);
#undef HELLO
#undef WELCOME
#undef ACK
    /* sums: 63, 64, 65 entries; each wrong element kind at each end. */
    char *s;
    for (size_t n = 62; n <= 66; n++) {
        s = sums_msg(n, 99, "");
        expect(s, n == 64 ? FDSP_OK : n < 64 ? FDSP_E_VALUE : FDSP_E_LIMIT);
        free(s);
    }
    const char *const elems[] = {"1", "null", "true", "[]", "{}", "\"\"",
                                 "\"0123456789ABCDEF\"", "\"0123456789abcde\"",
                                 "\"0123456789abcdef0\"", "\"0x23456789abcdef\"",
                                 "{\"a\":[1,2]}", "1.5", "\"\\u0030123456789abcdef\""};
    const size_t at[] = {0, 31, 63};
    for (size_t e = 0; e < sizeof elems / sizeof elems[0]; e++)
        for (size_t k = 0; k < 3; k++) {
            s = sums_msg(64, at[k], elems[e]);
            diff(s);
            free(s);
        }
    /* repair: 64 and 65 entries. */
    for (int n = 64; n <= 65; n++) {
        char buf[512];
        size_t o = (size_t)sprintf(buf, "{\"type\":\"repair\",\"buckets\":[");
        for (int i = 0; i < n; i++)
            o += (size_t)sprintf(buf + o, "%s%d", i ? "," : "", i % 64);
        strcpy(buf + o, "]}");
        expect(buf, n == 64 ? FDSP_OK : FDSP_E_LIMIT);
    }
    /* stamps: 500 and 501 entries. */
    for (size_t n = FDSP_MAX_BATCH; n <= FDSP_MAX_BATCH + 1; n++) {
        char *b = malloc(128 + n * 40);
        assert_non_null(b);
        size_t o = (size_t)sprintf(b, "{\"type\":\"ack\",\"batch\":1,"
                                      "\"accepted\":0,\"refused\":[],\"stamps\":[");
        for (size_t i = 0; i < n; i++)
            o += (size_t)sprintf(b + o, "%s{\"i\":%zu,\"h\":\"00000000000000%02zx\"}",
                                 i ? "," : "", i % FDSP_MAX_BATCH, i % 256);
        strcpy(b + o, "]}");
        expect(b, n > FDSP_MAX_BATCH ? FDSP_E_LIMIT : FDSP_OK);
        free(b);
    }
}

static void test_trust_structs(void **state)
{
    (void)state;
    size_t n;
    int rc;
    fdsp_msg *m = fdsp_msg_new(FDSP_WELCOME);
    m->user = strdup("u");
    m->role = strdup("r");
    m->device = strdup("d");
    m->dev_counter = 9007199254740992LL;
    m->store = strdup("store-1");
    m->epoch = 1;
    m->server_time = 1717000000000;
    free(encode_both(m, &n, &rc));
    assert_int_equal(rc, FDSP_OK);
    m->type = FDSP_HELLO;           /* time is not a hello member */
    free(encode_both(m, &n, &rc));
    assert_int_equal(rc, FDSP_OK);
    m->epoch = -1;
    free(encode_both(m, &n, &rc));
    assert_int_equal(rc, FDSP_E_VALUE);
    m->epoch = 0;
    free(m->store);
    m->store = strdup("");
    free(encode_both(m, &n, &rc));
    assert_int_equal(rc, FDSP_E_VALUE);
    fdsp_msg_free(m);

    m = fdsp_msg_new(FDSP_ACK);
    m->n_stamps = 3;
    m->stamps = calloc(3, sizeof *m->stamps);
    m->stamps[0].hlc = UINT64_MAX;
    m->stamps[1].index = 499;
    m->stamps[2].index = 7;
    m->stamps[2].hlc = 0x0190a1b2c3d40000ULL;
    free(encode_both(m, &n, &rc));
    assert_int_equal(rc, FDSP_OK);
    m->stamps[1].index = 500;
    free(encode_both(m, &n, &rc));
    assert_int_equal(rc, FDSP_E_VALUE);
    fdsp_msg_free(m);

    m = fdsp_msg_new(FDSP_SUMS);
    m->n_sums = FDSP_SUM_BUCKETS;
    m->sums = calloc(FDSP_SUM_BUCKETS + 1, sizeof *m->sums);
    for (size_t i = 0; i <= FDSP_SUM_BUCKETS; i++)
        m->sums[i] = ~(uint64_t)0 / (i + 1);
    free(encode_both(m, &n, &rc));
    assert_int_equal(rc, FDSP_OK);
    m->n_sums = FDSP_SUM_BUCKETS + 1;
    free(encode_both(m, &n, &rc));
    assert_int_equal(rc, FDSP_E_LIMIT);
    m->n_sums = FDSP_SUM_BUCKETS - 1;
    free(encode_both(m, &n, &rc));
    assert_int_equal(rc, FDSP_E_VALUE);
    fdsp_msg_free(m);

    m = fdsp_msg_new(FDSP_REPAIR);
    free(encode_both(m, &n, &rc));
    assert_int_equal(rc, FDSP_OK);
    m->n_buckets = 2;
    m->buckets = calloc(2, sizeof *m->buckets);
    m->buckets[0] = 63;
    free(encode_both(m, &n, &rc));
    assert_int_equal(rc, FDSP_OK);
    m->buckets[1] = 64;
    free(encode_both(m, &n, &rc));
    assert_int_equal(rc, FDSP_E_VALUE);
    fdsp_msg_free(m);
}

/* ---- the encoders on structs ------------------------------------------------------ */

static void test_encode_structs(void **state)
{
    (void)state;
    /* Every control character, '/', DEL, quotes, non-ASCII. */
    char awkward[200];
    size_t k = 0;
    for (int c = 1; c < 0x20; c++)
        awkward[k++] = (char)c;
    strcpy(awkward + k, "/\x7f\"\\ \xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80");

    fdsp_msg *m = fdsp_msg_new(FDSP_PUSH);
    m->batch = 9007199254740992LL;
    m->n_changes = 2;
    m->changes = calloc(2, sizeof *m->changes);
    for (int i = 0; i < 2; i++) {
        fdsp_change *c = &m->changes[i];
        c->table = strdup("customer");
        c->record = strdup("r/1");
        c->field = strdup("f.x_1");
        c->value = i ? strdup(awkward) : NULL;
        c->device = strdup("dev");
        c->user = strdup(i ? "bob" : "");
        c->hlc = i ? UINT64_MAX : 0;
        c->seq = i ? 9007199254740992LL : 0;
        c->server_ms = i;
        c->vv.n = 3;
        c->vv.e = calloc(3, sizeof *c->vv.e);
        c->vv.e[0].device = strdup("zz");
        c->vv.e[1].device = strdup("Aa");
        c->vv.e[2].device = strdup("a~");
        c->vv.e[0].counter = 1;
        c->vv.e[1].counter = 9007199254740992ULL;
        c->vv.e[2].counter = 42;
    }
    size_t n;
    int rc;
    free(encode_both(m, &n, &rc));
    assert_int_equal(rc, FDSP_OK);
    m->type = FDSP_CHANGES;          /* change 0 has no seq */
    free(encode_both(m, &n, &rc));
    assert_int_equal(rc, FDSP_E_VALUE);
    m->changes[0].seq = 1;
    m->more = 7;
    free(encode_both(m, &n, &rc));
    assert_int_equal(rc, FDSP_OK);
    m->changes[1].vv.e[2].counter = 0;
    free(encode_both(m, &n, &rc));
    assert_int_equal(rc, FDSP_E_VALUE);
    fdsp_msg_free(m);

    m = fdsp_msg_new(FDSP_ERROR);
    m->code = FDSP_E_FORBIDDEN;
    m->message = strdup(awkward);
    m->fatal = 3;
    m->batch = 5;
    free(encode_both(m, &n, &rc));
    assert_int_equal(rc, FDSP_OK);
    fdsp_msg_free(m);

    m = fdsp_msg_new(FDSP_HELLO);
    m->device = strdup("d");
    m->client = strdup("");
    free(encode_both(m, &n, &rc));
    assert_int_equal(rc, FDSP_OK);
    fdsp_msg_free(m);

    m = fdsp_msg_new(FDSP_ACK);
    m->accepted = 3;
    m->n_refused = 2;
    m->refused = calloc(2, sizeof *m->refused);
    m->refused[0].index = 499;
    m->refused[0].code = FDSP_E_INTERNAL;
    m->refused[0].message = strdup(awkward);
    m->refused[1].code = FDSP_E_JSON;
    m->refused[1].message = strdup("");
    free(encode_both(m, &n, &rc));
    assert_int_equal(rc, FDSP_OK);
    fdsp_msg_free(m);

    /* Too big for a frame: both refuse it the same way. */
    m = fdsp_msg_new(FDSP_PUSH);
    m->n_changes = FDSP_MAX_BATCH;
    m->changes = calloc(FDSP_MAX_BATCH, sizeof *m->changes);
    for (size_t i = 0; i < FDSP_MAX_BATCH; i++) {
        fdsp_change *c = &m->changes[i];
        c->table = strdup("t");
        c->record = strdup("r");
        c->field = strdup("f");
        c->value = rep('\n', 1100);     /* 2200 bytes escaped */
        c->device = strdup("d");
        c->vv.n = 1;
        c->vv.e = calloc(1, sizeof *c->vv.e);
        c->vv.e[0].device = strdup("d");
        c->vv.e[0].counter = 1;
    }
    free(encode_both(m, &n, &rc));
    assert_int_equal(rc, FDSP_E_TOOBIG);
    m->n_changes = 400;
    free(encode_both(m, &n, &rc));
    assert_int_equal(rc, FDSP_OK);
    m->n_changes = FDSP_MAX_BATCH;
    fdsp_msg_free(m);
}

/* An encoding of exactly FDSP_MAX_FRAME bytes is sent; one byte more is
** too big.  Values are grown one byte at a time to hit the edge. */
static void test_encode_frame_edge(void **state)
{
    (void)state;
    const size_t n_chg = 66;
    fdsp_msg *m = fdsp_msg_new(FDSP_PUSH);
    m->batch = 1;
    m->n_changes = n_chg;
    m->changes = calloc(n_chg, sizeof *m->changes);
    size_t len[66];
    for (size_t i = 0; i < n_chg; i++) {
        fdsp_change *c = &m->changes[i];
        c->table = strdup("t");
        c->record = strdup("r");
        c->field = strdup("f");
        len[i] = 15000;
        c->value = rep('x', FDSP_MAX_VALUE);
        c->value[len[i]] = '\0';
        c->device = strdup("d");
        c->vv.n = 1;
        c->vv.e = calloc(1, sizeof *c->vv.e);
        c->vv.e[0].device = strdup("d");
        c->vv.e[0].counter = 1;
    }
    size_t n;
    int rc;
    char *b = encode_both(m, &n, &rc);
    assert_int_equal(rc, FDSP_OK);
    free(b);
    /* Grow the values until the text is exactly one frame. */
    size_t need = FDSP_MAX_FRAME - n, i = 0;
    while (need > 0) {
        size_t add = FDSP_MAX_VALUE - len[i];
        if (add > need)
            add = need;
        memset(m->changes[i].value + len[i], 'y', add);
        len[i] += add;
        m->changes[i].value[len[i]] = '\0';
        need -= add;
        i++;
    }
    b = encode_both(m, &n, &rc);
    assert_int_equal(rc, FDSP_OK);
    assert_int_equal(n, FDSP_MAX_FRAME);
    expect_n(b, n, FDSP_OK);
    free(b);
    /* One byte more: a quote, which is escaped (two bytes), less one 'y'. */
    m->changes[0].value[0] = '"';
    m->changes[0].value[len[0] - 1] = '\0';
    b = encode_both(m, &n, &rc);
    assert_int_equal(rc, FDSP_OK);
    assert_int_equal(n, FDSP_MAX_FRAME);
    free(b);
    m->changes[0].value[len[0] - 1] = 'y';
    b = encode_both(m, &n, &rc);
    assert_int_equal(rc, FDSP_E_TOOBIG);
    assert_null(b);
    fdsp_msg_free(m);
}

/* ---- live additions (hello "live", a live changes batch's "after") -------------- */

static void test_live_inputs(void **state)
{
    (void)state;
#define HELLO "{\"type\":\"hello\",\"v\":1,\"device\":\"d\",\"cursor\":0"
#define CHANGES_TAIL "\"changes\":[],\"last\":9,\"more\":false}"
    const char *const ok[] = {
        HELLO ",\"live\":true}", HELLO ",\"live\":false}", HELLO ",\"live\":null}",
        "{\"type\":\"changes\",\"after\":7," CHANGES_TAIL,
        "{\"type\":\"changes\",\"after\":0," CHANGES_TAIL,
        "{\"type\":\"changes\",\"after\":null," CHANGES_TAIL,
        "{\"type\":\"changes\"," CHANGES_TAIL,
        "{\"type\":\"changes\",\"last\":9,\"more\":false,\"changes\":[],"
        "\"after\":9007199254740992}",
        "{\"type\":\"pull\",\"after\":3,\"limit\":1,\"live\":true}",
        "{\"type\":\"notify\",\"head\":3,\"after\":\"x\",\"live\":1}",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        expect(ok[i], FDSP_OK);
    const char *const bad[] = {
        HELLO ",\"live\":1}", HELLO ",\"live\":\"true\"}", HELLO ",\"live\":[]}",
        HELLO ",\"live\":true,\"live\":true}",
        HELLO ",\"live\":1,\"counter\":-1}",
        "{\"type\":\"changes\",\"after\":-1," CHANGES_TAIL,
        "{\"type\":\"changes\",\"after\":1.5," CHANGES_TAIL,
        "{\"type\":\"changes\",\"after\":\"1\"," CHANGES_TAIL,
        "{\"type\":\"changes\",\"after\":9007199254740993," CHANGES_TAIL,
        "{\"type\":\"changes\",\"after\":-1,\"changes\":{},\"last\":-1}",
        "{\"type\":\"changes\",\"changes\":[1],\"after\":true,\"more\":false}",
        "{\"type\":\"changes\",\"after\":1,\"after\":2," CHANGES_TAIL,
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (diff(bad[i]) == FDSP_OK)
            fail_msg("accepted: %s", bad[i]);
#undef HELLO
#undef CHANGES_TAIL
}

/* Both encoders write "after" right after "type" and "live" last, and
** omit them when 0. */
static void test_live_structs(void **state)
{
    (void)state;
    size_t n;
    int rc;
    fdsp_msg *m = fdsp_msg_new(FDSP_HELLO);
    m->device = strdup("d");
    m->live = 1;
    char *b = encode_both(m, &n, &rc);
    assert_int_equal(rc, FDSP_OK);
    assert_string_equal(b, "{\"type\":\"hello\",\"v\":1,\"device\":\"d\","
                           "\"cursor\":0,\"live\":true}");
    free(b);
    fdsp_msg_free(m);
    m = fdsp_msg_new(FDSP_CHANGES);
    m->after = 41;
    m->last = 42;
    b = encode_both(m, &n, &rc);
    assert_int_equal(rc, FDSP_OK);
    assert_string_equal(b, "{\"type\":\"changes\",\"after\":41,\"changes\":[],"
                           "\"last\":42,\"more\":false}");
    free(b);
    m->after = -1;
    free(encode_both(m, &n, &rc));
    assert_int_equal(rc, FDSP_E_VALUE);
    fdsp_msg_free(m);
}

/* ---- change groups (PROTOCOL.md §5.1) ----------------------------------------- */

#define GHDR "\"t\":\"customer\",\"r\":\"r1\",\"d\":\"a\",\"vv\":{\"a\":1}," \
             "\"h\":\"0190a1b2c3d40000\""
#define E0 "{\"f\":\"name\",\"v\":\"x\"}"
#define GPUSH(entries) "{\"type\":\"push\",\"batch\":1,\"changes\":[{" GHDR \
                       ",\"g\":[" E0 entries "]}]}"
#define GCHG(hdr, entries) "{\"type\":\"changes\",\"changes\":[{" GHDR hdr \
                           ",\"g\":[" E0 entries "]}],\"last\":9," \
                           "\"more\":false}"

/* The error line of the direct decoder for s (which diff holds equal to
** the reference's) contains want. */
static void expect_line(const char *s, int code, const char *want)
{
    fdsp_msg *m = NULL;
    char e[256];
    expect(s, code);
    assert_int_equal(fdsp_decode(s, strlen(s), &m, e, sizeof e), code);
    if (strstr(e, want) == NULL)
        fail_msg("error line \"%s\" lacks \"%s\"", e, want);
}

/* A push of one group: the header vv given, then n entries "{}" each
** (default steps) after the first. */
static char *group_of(size_t n, const char *vv, const char *d)
{
    size_t cap = 256 + strlen(vv) + n * 32;
    char *s = malloc(cap);
    assert_non_null(s);
    int k = snprintf(s, cap, "{\"type\":\"push\",\"batch\":1,\"changes\":[{"
                     "\"t\":\"customer\",\"r\":\"r1\",\"d\":\"%s\",\"vv\":%s,"
                     "\"h\":\"0190a1b2c3d40000\",\"g\":[", d, vv);
    for (size_t i = 0; i < n; i++)
        k += snprintf(s + k, cap - (size_t)k, "%s{\"f\":\"f%zu\",\"v\":null}",
                      i ? "," : "", i % 60);
    snprintf(s + k, cap - (size_t)k, "]}]}");
    return s;
}

/* A vv object of n devices d0..d(n-1), counter c each. */
static char *vv_of(size_t n, const char *c)
{
    size_t cap = 16 + n * 40;
    char *s = malloc(cap);
    assert_non_null(s);
    int k = snprintf(s, cap, "{");
    for (size_t i = 0; i < n; i++)
        k += snprintf(s + k, cap - (size_t)k, "%s\"d%zu\":%s", i ? "," : "",
                      i, c);
    snprintf(s + k, cap - (size_t)k, "}");
    return s;
}

static void test_group_inputs(void **state)
{
    (void)state;
    /* The shapes, and a group decodes to the changes it stands for. */
    expect(GPUSH(""), FDSP_OK);
    expect(GPUSH(",{\"f\":\"phone\",\"v\":null}"), FDSP_OK);
    expect(GPUSH(",{\"f\":\"phone\",\"v\":\"1\",\"vv\":{\"a\":0,\"b\":2}}"),
           FDSP_OK);
    expect(GPUSH(",{\"f\":\"phone\",\"v\":\"1\",\"vv\":{}}"), FDSP_OK);
    expect(GPUSH(",{\"f\":\"phone\",\"v\":\"1\",\"vv\":{\"zz\":0}}"), FDSP_OK);
    expect(GPUSH(",{\"f\":\"phone\",\"v\":\"1\",\"vv\":null,\"h\":null}"),
           FDSP_OK);
    expect(GPUSH(",{\"f\":\"phone\",\"v\":\"1\",\"h\":-1,\"at\":7,\"x\":[1]}"),
           FDSP_OK);
    expect(GCHG(",\"u\":\"al\",\"s\":5,\"at\":100",
                ",{\"f\":\"phone\",\"v\":\"1\"},{\"f\":\"a\",\"v\":\"2\","
                "\"s\":0,\"at\":-100}"), FDSP_OK);
    /* Plain and grouped changes mixed in one array. */
    expect("{\"type\":\"push\",\"batch\":1,\"changes\":[" CHG("\"p\"") ",{"
           GHDR ",\"g\":[" E0 "]}," CHG("\"q\"") "]}", FDSP_OK);
    fdsp_msg *m = NULL;
    const char *mixed = "{\"type\":\"push\",\"batch\":1,\"changes\":["
        CHG("\"p\"") ",{" GHDR ",\"u\":\"al\",\"g\":[" E0
        ",{\"f\":\"phone\",\"v\":null,\"h\":3}]}," CHG("\"q\"") "]}";
    assert_int_equal(fdsp_decode(mixed, strlen(mixed), &m, NULL, 0), FDSP_OK);
    assert_int_equal(m->n_changes, 4);
    assert_string_equal(m->changes[1].field, "name");
    assert_string_equal(m->changes[1].user, "al");
    assert_string_equal(m->changes[2].field, "phone");
    assert_null(m->changes[2].value);
    assert_string_equal(m->changes[2].record, "r1");
    assert_string_equal(m->changes[2].device, "a");
    assert_int_equal(m->changes[2].vv.n, 1);
    assert_int_equal(m->changes[2].vv.e[0].counter, 2);
    assert_int_equal(m->changes[2].hlc, 0x0190a1b2c3d40003ULL);
    assert_string_equal(m->changes[3].value, "q");
    fdsp_msg_free(m);

    /* The group's own members, as a change's. */
    expect("{\"type\":\"push\",\"batch\":1,\"changes\":[{\"t\":\"customer\","
           "\"r\":\"r1\",\"vv\":{\"a\":1},\"h\":\"0190a1b2c3d40000\",\"g\":["
           E0 "]}]}", FDSP_E_MISSING);
    expect_line("{\"type\":\"push\",\"batch\":1,\"changes\":[{\"t\":\"customer\","
                "\"r\":\"r1\",\"d\":\"a\",\"h\":\"0190a1b2c3d40000\",\"g\":["
                E0 "]}]}", FDSP_E_MISSING, "changes[0].vv: required");
    expect("{\"type\":\"push\",\"batch\":1,\"changes\":[{\"t\":\"customer\","
           "\"r\":\"r1\",\"d\":\"a\",\"vv\":{\"a\":1},\"g\":[" E0 "]}]}",
           FDSP_E_MISSING);
    expect("{\"type\":\"push\",\"batch\":1,\"changes\":[{" GHDR ",\"u\":\"\","
           "\"g\":[" E0 "]}]}", FDSP_E_VALUE);
    expect("{\"type\":\"changes\",\"changes\":[{" GHDR ",\"g\":[" E0 "]}],"
           "\"last\":9,\"more\":false}", FDSP_E_MISSING);
    expect("{\"type\":\"changes\",\"changes\":[{" GHDR ",\"s\":0,\"g\":[" E0
           "]}],\"last\":9,\"more\":false}", FDSP_E_VALUE);
    /* "g": an array of 1..FDSP_MAX_GROUP entry objects; null is absent
    ** (a plain change, here without "f"). */
    expect("{\"type\":\"push\",\"batch\":1,\"changes\":[{" GHDR ",\"g\":[]}]}",
           FDSP_E_VALUE);
    expect("{\"type\":\"push\",\"batch\":1,\"changes\":[{" GHDR ",\"g\":5}]}",
           FDSP_E_TYPE);
    expect("{\"type\":\"push\",\"batch\":1,\"changes\":[{" GHDR ",\"g\":{}}]}",
           FDSP_E_TYPE);
    expect_line("{\"type\":\"push\",\"batch\":1,\"changes\":[{" GHDR
                ",\"g\":null}]}", FDSP_E_MISSING, "changes[0].f: required");
    expect_line("{\"type\":\"push\",\"batch\":1,\"changes\":[{" GHDR
                ",\"g\":[" E0 ",1]}]}", FDSP_E_TYPE,
                "changes[0].g[1]: entry must be an object");
    expect(GPUSH(",{\"v\":\"1\"}"), FDSP_E_MISSING);
    expect(GPUSH(",{\"f\":\"phone\"}"), FDSP_E_MISSING);
    expect(GPUSH(",{\"f\":\"Phone\",\"v\":\"1\"}"), FDSP_E_VALUE);
    expect(GPUSH(",{\"f\":\"phone\",\"v\":1}"), FDSP_E_TYPE);
    expect(GPUSH(",{\"f\":\"phone\",\"v\":\"1\",\"f\":\"x\"}"), FDSP_E_DUPKEY);
    /* The first entry takes the header's vv, h, s and at. */
    expect_line("{\"type\":\"push\",\"batch\":1,\"changes\":[{" GHDR ",\"g\":["
                "{\"f\":\"name\",\"v\":\"x\",\"h\":1}]}]}", FDSP_E_VALUE,
                "changes[0].g[0].h: the first entry takes");
    expect("{\"type\":\"push\",\"batch\":1,\"changes\":[{" GHDR ",\"g\":["
           "{\"f\":\"name\",\"v\":\"x\",\"vv\":{}}]}]}", FDSP_E_VALUE);
    expect("{\"type\":\"push\",\"batch\":1,\"changes\":[{" GHDR ",\"g\":["
           "{\"f\":\"name\",\"v\":\"x\",\"at\":null,\"s\":null}]}]}", FDSP_OK);
    /* Steps: the vv delta. */
    expect(GPUSH(",{\"f\":\"p\",\"v\":\"1\",\"vv\":5}"), FDSP_E_TYPE);
    expect(GPUSH(",{\"f\":\"p\",\"v\":\"1\",\"vv\":{\"b\":\"2\"}}"),
           FDSP_E_TYPE);
    expect(GPUSH(",{\"f\":\"p\",\"v\":\"1\",\"vv\":{\"b\":-1}}"), FDSP_E_VALUE);
    expect(GPUSH(",{\"f\":\"p\",\"v\":\"1\",\"vv\":{\"b c\":1}}"),
           FDSP_E_VALUE);
    expect(GPUSH(",{\"f\":\"p\",\"v\":\"1\",\"vv\":{\"b\":9007199254740993}}"),
           FDSP_E_VALUE);
    expect(GPUSH(",{\"f\":\"p\",\"v\":\"1\",\"vv\":{\"b\":9007199254740992}}"),
           FDSP_OK);
    expect_line(GPUSH(",{\"f\":\"p\",\"v\":\"1\",\"vv\":{\"a\":0}}"),
                FDSP_E_VALUE, "changes[0].g[1].vv: must not be empty");
    expect(GPUSH(",{\"f\":\"p\",\"v\":\"1\",\"vv\":{\"b\":1,\"b\":2}}"),
           FDSP_E_DUPKEY);
    /* A delta of FDSP_MAX_VV entries, and one more; a vector that grows to
    ** FDSP_MAX_VV entries by the default step, and one past it. */
    char *vv = vv_of(FDSP_MAX_VV, "1"), *s1;
    s1 = malloc(strlen(vv) + 512);
    sprintf(s1, GPUSH(",{\"f\":\"p\",\"v\":\"1\",\"vv\":%s}"), vv);
    expect_line(s1, FDSP_E_LIMIT, "changes[0].g[1].vv: more than FDSP_MAX_VV");
    free(vv);
    vv = vv_of(FDSP_MAX_VV - 1, "1");
    sprintf(s1, GPUSH(",{\"f\":\"p\",\"v\":\"1\",\"vv\":%s}"), vv);
    expect(s1, FDSP_OK);                    /* 63 + "a": 64 */
    free(s1);
    s1 = group_of(2, vv, "a");
    expect(s1, FDSP_OK);
    free(s1);
    s1 = group_of(2, vv, "d0");
    expect(s1, FDSP_OK);
    free(vv);
    free(s1);
    vv = vv_of(FDSP_MAX_VV, "1");
    s1 = group_of(2, vv, "d0");
    expect(s1, FDSP_OK);                    /* d0 is in it: stays 64 */
    free(s1);
    s1 = group_of(2, vv, "a");
    expect_line(s1, FDSP_E_LIMIT, "changes[0].g[1].vv: more than FDSP_MAX_VV");
    free(s1);
    free(vv);
    /* The default step past the largest counter. */
    s1 = group_of(2, "{\"a\":9007199254740991}", "a");
    expect(s1, FDSP_OK);
    free(s1);
    s1 = group_of(3, "{\"a\":9007199254740991}", "a");
    expect_line(s1, FDSP_E_VALUE, "changes[0].g[2].vv: counter must be <= 2^53");
    free(s1);
    /* Steps: h, s, at: integers in -2^53..2^53 that keep the value in its
    ** range. */
    expect(GPUSH(",{\"f\":\"p\",\"v\":\"1\",\"h\":1.5}"), FDSP_E_TYPE);
    expect(GPUSH(",{\"f\":\"p\",\"v\":\"1\",\"h\":\"1\"}"), FDSP_E_TYPE);
    expect(GPUSH(",{\"f\":\"p\",\"v\":\"1\",\"h\":9007199254740992}"),
           FDSP_OK);
    expect(GPUSH(",{\"f\":\"p\",\"v\":\"1\",\"h\":9007199254740993}"),
           FDSP_E_VALUE);
    expect(GPUSH(",{\"f\":\"p\",\"v\":\"1\",\"h\":-9007199254740993}"),
           FDSP_E_VALUE);
#define LOWH(step) "{\"type\":\"push\",\"batch\":1,\"changes\":[{" \
    "\"t\":\"customer\",\"r\":\"r1\",\"d\":\"a\",\"vv\":{\"a\":1}," \
    "\"h\":\"0000000000000005\",\"g\":[" E0 ",{\"f\":\"p\",\"v\":null," \
    "\"h\":" step "}]}]}"
    expect(LOWH("-5"), FDSP_OK);            /* to HLC 0 */
    expect_line(LOWH("-6"), FDSP_E_VALUE,
                "changes[0].g[1].h: step leaves the HLC range");
    expect("{\"type\":\"push\",\"batch\":1,\"changes\":[{\"t\":\"customer\","
           "\"r\":\"r1\",\"d\":\"a\",\"vv\":{\"a\":1},\"h\":\"fffffffffffffffe\","
           "\"g\":[" E0 ",{\"f\":\"p\",\"v\":null}]}]}", FDSP_OK);
    expect("{\"type\":\"push\",\"batch\":1,\"changes\":[{\"t\":\"customer\","
           "\"r\":\"r1\",\"d\":\"a\",\"vv\":{\"a\":1},\"h\":\"ffffffffffffffff\","
           "\"g\":[" E0 ",{\"f\":\"p\",\"v\":null}]}]}", FDSP_E_VALUE);
    expect(GCHG(",\"s\":5", ",{\"f\":\"p\",\"v\":\"1\",\"s\":-4}"), FDSP_OK);
    expect_line(GCHG(",\"s\":5", ",{\"f\":\"p\",\"v\":\"1\",\"s\":-5}"),
                FDSP_E_VALUE, "changes[0].g[1].s: step gives 0, must be >= 1");
    expect(GCHG(",\"s\":9007199254740991", ",{\"f\":\"p\",\"v\":\"1\"}"),
           FDSP_OK);
    expect(GCHG(",\"s\":9007199254740992", ",{\"f\":\"p\",\"v\":\"1\"}"),
           FDSP_E_VALUE);
    expect(GPUSH(",{\"f\":\"p\",\"v\":\"1\",\"s\":-1}"), FDSP_E_VALUE);
    expect(GPUSH(",{\"f\":\"p\",\"v\":\"1\",\"s\":3}"), FDSP_OK);
    expect(GPUSH(",{\"f\":\"p\",\"v\":\"1\",\"at\":-1}"), FDSP_E_VALUE);
    expect(GCHG(",\"s\":5,\"at\":9007199254740992",
                ",{\"f\":\"p\",\"v\":\"1\",\"at\":1}"), FDSP_E_VALUE);
    /* Expanded, a message holds at most FDSP_MAX_BATCH changes: a group of
    ** FDSP_MAX_GROUP, and one more; groups and plain changes together. */
    s1 = group_of(FDSP_MAX_GROUP, "{\"a\":1}", "a");
    expect(s1, FDSP_OK);
    free(s1);
    s1 = group_of(FDSP_MAX_GROUP + 1, "{\"a\":1}", "a");
    expect_line(s1, FDSP_E_LIMIT, "changes[0].g: more than 500 entries");
    free(s1);
    size_t cap = 64 * 1024, k;
    char *big = malloc(cap);
    const char *one = "{\"f\":\"p\",\"v\":null}";
    for (int extra = 0; extra < 2; extra++) {
        /* groups of 300 and 200 (+ extra) */
        k = (size_t)snprintf(big, cap, "{\"type\":\"push\",\"batch\":1,"
                             "\"changes\":[{" GHDR ",\"g\":[");
        for (int i = 0; i < 300; i++)
            k += (size_t)snprintf(big + k, cap - k, "%s%s", i ? "," : "", one);
        k += (size_t)snprintf(big + k, cap - k, "]},{" GHDR ",\"g\":[");
        for (int i = 0; i < 200 + extra; i++)
            k += (size_t)snprintf(big + k, cap - k, "%s%s", i ? "," : "", one);
        snprintf(big + k, cap - k, "]}]}");
        if (extra)
            expect_line(big, FDSP_E_LIMIT, "changes[1].g: the message's "
                        "changes, groups expanded, number more than "
                        "FDSP_MAX_BATCH");
        else
            expect(big, FDSP_OK);
        /* a group of 500 - 1 + extra, then a plain change */
        k = (size_t)snprintf(big, cap, "{\"type\":\"push\",\"batch\":1,"
                             "\"changes\":[{" GHDR ",\"g\":[");
        for (int i = 0; i < 499 + extra; i++)
            k += (size_t)snprintf(big + k, cap - k, "%s%s", i ? "," : "", one);
        snprintf(big + k, cap - k, "]}," CHG("\"x\"") "]}");
        if (extra)
            expect_line(big, FDSP_E_LIMIT, "changes[1]: the message's changes");
        else
            expect(big, FDSP_OK);
        /* a plain change, then a group of 500 - 1 + extra, then a broken
        ** change (never read when the group is over) */
        k = (size_t)snprintf(big, cap, "{\"type\":\"changes\",\"changes\":["
                             "{\"t\":\"c\",\"r\":\"r\",\"f\":\"f\",\"v\":null,"
                             "\"vv\":{\"a\":1},\"h\":\"0190a1b2c3d40000\","
                             "\"d\":\"a\",\"s\":1},{" GHDR ",\"s\":2,\"g\":[");
        for (int i = 0; i < 499 + extra; i++)
            k += (size_t)snprintf(big + k, cap - k, "%s%s", i ? "," : "", one);
        snprintf(big + k, cap - k, "]}%s],\"last\":9,\"more\":false}",
                 extra ? ",5" : "");
        expect(big, extra ? FDSP_E_LIMIT : FDSP_OK);
    }
    free(big);
    /* A value at FDSP_MAX_VALUE and past it, in an entry. */
    char *val = rep('x', FDSP_MAX_VALUE + 1);
    s1 = malloc(FDSP_MAX_VALUE + 512);
    sprintf(s1, GPUSH(",{\"f\":\"p\",\"v\":\"%s\"}"), val);
    expect_line(s1, FDSP_E_LIMIT, "changes[0].g[1].v: value longer than");
    val[FDSP_MAX_VALUE] = '\0';
    sprintf(s1, GPUSH(",{\"f\":\"p\",\"v\":\"%s\"}"), val);
    expect(s1, FDSP_OK);
    free(s1);
    free(val);
    /* Nesting: the deepest a group goes (a delta at level 7) is fine. */
    expect(GPUSH(",{\"f\":\"p\",\"v\":\"1\",\"vv\":{\"b\":1},\"x\":[{}]}"),
           FDSP_OK);
    expect(GPUSH(",{\"f\":\"p\",\"v\":\"1\",\"x\":[[[[]]]]}"), FDSP_E_DEPTH);
    /* hello / welcome "groups": a boolean, null is absent. */
    expect("{\"type\":\"hello\",\"v\":1,\"device\":\"d\",\"cursor\":0,"
           "\"groups\":true}", FDSP_OK);
    expect("{\"type\":\"hello\",\"v\":1,\"device\":\"d\",\"cursor\":0,"
           "\"groups\":null}", FDSP_OK);
    expect("{\"type\":\"hello\",\"v\":1,\"device\":\"d\",\"cursor\":0,"
           "\"groups\":1}", FDSP_E_TYPE);
    expect("{\"type\":\"welcome\",\"v\":1,\"user\":\"u\",\"role\":\"rep\","
           "\"device\":\"d\",\"head\":0,\"groups\":false}", FDSP_OK);
    expect("{\"type\":\"welcome\",\"v\":1,\"user\":\"u\",\"role\":\"rep\","
           "\"device\":\"d\",\"head\":0,\"groups\":\"yes\"}", FDSP_E_TYPE);
}

/* Random runs of changes through both encoders, plain and grouped: the
** grouped form is the same changes (diff_n's groups_both) whatever the
** steps (large HLC jumps, vectors that drop and add devices, users that
** differ, seqs out of order). */
static uint64_t xs(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static void test_group_structs(void **state)
{
    (void)state;
    static const char *const devs[] = {"a", "b", "c", "7d3c2a10-5b4e-4f7a"};
    static const char *const recs[] = {"r1", "r2"};
    static const char *const users[] = {"", "alice", "bob"};
    uint64_t x = 88172645463325252ULL;
    for (int round = 0; round < 400; round++) {
        fdsp_change ch[40];
        size_t n = 1 + xs(&x) % 40;
        int seq = (int)(xs(&x) % 2);
        uint64_t hlc = xs(&x) % 3 == 0 ? xs(&x) : 0x0190a1b2c3d40000ULL;
        int64_t s = 1 + (int64_t)(xs(&x) % 1000);
        uint64_t own = 1;
        for (size_t i = 0; i < n; i++) {
            fdsp_change *c = &ch[i];
            memset(c, 0, sizeof *c);
            int mode = (int)(xs(&x) % 8);   /* 0..4: the usual next field */
            c->table = mode == 7 ? "followup" : "customer";
            c->record = (char *)recs[mode == 6];
            c->field = mode == 5 ? "name" : "phone";
            c->value = mode == 4 ? NULL : "v";
            c->device = (char *)devs[mode == 3 ? xs(&x) % 4 : 0];
            c->user = (char *)users[mode == 2 ? xs(&x) % 3 : 1];
            hlc += mode == 1 ? xs(&x) : 1;
            c->hlc = hlc;
            s += mode == 1 ? -(int64_t)(xs(&x) % 3) : 1;
            if (s < 1)
                s = 1;
            c->seq = seq ? s : 0;
            c->server_ms = seq ? 1700000000000 + (mode == 2 ? i : 0) : 0;
            fdsp_vv_entry *e = calloc(4, sizeof *e);
            size_t nv = 0;
            own += mode == 0 ? 2 : 1;
            e[nv].device = "a";
            e[nv++].counter = own;
            if (mode >= 3)
                for (size_t d = 1; d < 4; d++)
                    if (xs(&x) % 2) {
                        e[nv].device = (char *)devs[d];
                        e[nv++].counter = 1 + xs(&x) % 5;
                    }
            c->vv.e = e;
            c->vv.n = nv;
        }
        fdsp_msg m;
        memset(&m, 0, sizeof m);
        m.type = seq ? FDSP_CHANGES : FDSP_PUSH;
        m.batch = 1;
        m.changes = ch;
        m.n_changes = n;
        m.last = 1;
        size_t len;
        int rc;
        char *b = encode_both(&m, &len, &rc);
        assert_int_equal(rc, FDSP_OK);
        assert_int_equal(diff_n(b, len), FDSP_OK);
        free(b);
        for (size_t i = 0; i < n; i++)
            free(ch[i].vv.e);
    }
    /* Where a group would not pay (a vector that drops 63 long device
    ** ids, steps back to no seq and no time), the change stays plain: the
    ** grouped form is never longer (diff_n's groups_both checks it). */
    static char ids[FDSP_MAX_VV][FDSP_MAX_ID + 1];
    fdsp_vv_entry big[FDSP_MAX_VV], one = {"a", 2};
    for (size_t i = 0; i < FDSP_MAX_VV; i++) {
        snprintf(ids[i], sizeof ids[i], "%064zu", i);
        big[i].device = ids[i];
        big[i].counter = 9007199254740992ULL;
    }
    big[FDSP_MAX_VV - 1].device = "a";     /* a delta of 64 entries */
    big[FDSP_MAX_VV - 1].counter = 1;
    fdsp_change two[2];
    memset(two, 0, sizeof two);
    for (int i = 0; i < 2; i++) {
        two[i].table = "t";
        two[i].record = "r";
        two[i].field = "f";
        two[i].device = "a";
        two[i].user = "";
        two[i].hlc = (uint64_t)i;
    }
    two[0].vv.e = big;
    two[0].vv.n = FDSP_MAX_VV;
    two[0].seq = 9007199254740992LL;
    two[0].server_ms = 9007199254740992LL;
    two[1].vv.e = &one;
    two[1].vv.n = 1;
    fdsp_msg m2;
    memset(&m2, 0, sizeof m2);
    m2.type = FDSP_PUSH;
    m2.batch = 1;
    m2.changes = two;
    m2.n_changes = 2;
    size_t len;
    int rc;
    char *b = encode_both(&m2, &len, &rc);
    assert_int_equal(rc, FDSP_OK);
    assert_int_equal(diff_n(b, len), FDSP_OK);
    free(b);
    char *g = NULL;
    assert_int_equal(fdsp_encode_opt(&m2, FDSP_ENC_GROUPS, &g, &len),
                     FDSP_OK);
    assert_null(strstr(g, "\"g\":"));
    free(g);
    /* The same two with the usual steps do form a group. */
    two[0].vv.e = &one;
    two[0].vv.n = 1;
    one.counter = 1;
    fdsp_vv_entry next = {"a", 2};
    two[1].vv.e = &next;
    two[0].hlc = 5;
    two[1].hlc = 6;
    two[0].seq = two[0].server_ms = 0;
    assert_int_equal(fdsp_encode_opt(&m2, FDSP_ENC_GROUPS, &g, &len),
                     FDSP_OK);
    assert_non_null(strstr(g, "\"g\":"));
    free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_data_cases),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_structure),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_field_errors),
        cmocka_unit_test(test_encode_structs),
        cmocka_unit_test(test_encode_frame_edge),
        cmocka_unit_test(test_trust_inputs),
        cmocka_unit_test(test_notice_inputs),
        cmocka_unit_test(test_trust_structs),
        cmocka_unit_test(test_live_inputs),
        cmocka_unit_test(test_live_structs),
        cmocka_unit_test(test_group_inputs),
        cmocka_unit_test(test_group_structs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
