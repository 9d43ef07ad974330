/*
** decode.c — bytes to fdsp_msg with a hand-written, single-pass JSON reader
** (no jansson tree).
**
** The reader walks the bytes once.  Members the protocol knows (the message
** keys, the members of each change / refusal / record, the vv entries) are
** captured as "slots": a JSON kind plus the integer or a span of the string
** (into the input, or into one scratch buffer when the string had escapes).
** Everything else is checked as JSON and skipped.  Only when the whole input
** has parsed are the slots checked, in the same order as the reference
** decoder (ref/ref_decode.c, the jansson one this replaced), and copied into
** the message.  That split is what keeps every error code and error line
** equal to the reference's:
**
**   - a JSON-level error (syntax, UTF-8, duplicate key, number overflow,
**     \u0000) anywhere beats every field error, as it did when jansson
**     parsed the whole document first;
**   - among JSON-level errors the first in byte order wins, with jansson's
**     own quirks (which byte its lexer reads ahead, that a lone surrogate
**     is found only after the string's closing quote, that one NUL byte
**     right after a number or literal is skipped) reproduced below;
**   - field errors follow the reference's order of checks, not byte order.
**
** fuzz_codec_diff and tests/protocol/test_codec_diff.c hold this file to
** the reference on every input they can find.
*/
#include "proto_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Captured values ---------------------------------------------------------- */

enum { V_NONE = 0, V_NULL, V_FALSE, V_TRUE, V_INT, V_REAL, V_STR, V_ARR,
       V_OBJ };

/* One member's value.  V_STR: s[0..n); V_INT: i; V_ARR/V_OBJ: i = number
** of elements/members (the contents are captured elsewhere or skipped). */
typedef struct slot {
    const char *s;
    union {
        size_t n;
        int64_t i;
    } u;
    unsigned char kind;
} slot;

/* Message keys. */
enum { K_TYPE, K_V, K_DEVICE, K_CURSOR, K_CLIENT, K_USER, K_ROLE, K_HEAD,
       K_BATCH, K_CHANGES, K_ACCEPTED, K_REFUSED, K_AFTER, K_LIMIT, K_LAST,
       K_MORE, K_RECORDS, K_CODE, K_MESSAGE, K_FATAL, K_COUNTER, K_STORE,
       K_EPOCH, K_TIME, K_STAMPS, K_BUCKETS, K_LIVE, K_GROUPS, K_BLOBS,
       K_SHA, K_SIZE, K_OFFSET, K_DATA, K_NOTICES, K__TOP };
/* Change keys; a refusal uses R_*, a revoked record C_T and C_R. */
enum { C_T, C_R, C_F, C_V, C_VV, C_H, C_D, C_U, C_S, C_AT, C_G, C__N };
enum { R_I, R_CODE, R_MESSAGE };
/* A stamp's keys; a bucket (sums / repair) is a scalar, kept in k[0]. */
enum { S_I, S_H };
/* A notice's keys (ack "notices"). */
enum { N_I, N_KIND, N_F, N_OWNER };

/* Which array of the message an element belongs to.  A_ENTRIES holds the
** entries of every change group (PROTOCOL.md §5.1), one after the other;
** a group's elem says where its own start. */
enum { A_CHANGES, A_REFUSED, A_RECORDS, A_STAMPS, A_BUCKETS, A_ENTRIES,
       A_NOTICES, A__N };
static const size_t arr_max[A__N] = {FDSP_MAX_BATCH, FDSP_MAX_BATCH,
                                     FDSP_MAX_REVOKE, FDSP_MAX_BATCH,
                                     FDSP_SUM_BUCKETS, FDSP_MAX_BATCH,
                                     FDSP_MAX_BATCH};

/* One vv entry: device (span) and counter. */
typedef struct vvcap {
    const char *dev;
    size_t n;
    int64_t i;
    unsigned char kind;
} vvcap;

/* One element of changes / refused / records. */
typedef struct elem {
    unsigned char kind;     /* JSON kind of the element itself */
    slot k[C__N];
    size_t vv_at;           /* first of its vv entries in dctx.vv */
    size_t vv_n;            /* entries captured (<= FDSP_MAX_VV) */
    size_t ent_at;          /* a group: first of its entries in A_ENTRIES */
    size_t ent_n;           /* entries captured */
} elem;

_Static_assert(K__TOP <= 64, "keyset.known has one bit per message key");

/* ---- Duplicate keys --------------------------------------------------------------
** jansson refuses a key its object already has.  Keys the protocol knows are
** one bit each; other keys go in a short list, and an object with more of
** them than fit there spills into one hash table shared by the whole
** decode (entries tagged with the object's serial number), so a message of
** many thousands of keys stays linear. */
#define KS_SMALL 8

typedef struct keyset {
    uint64_t known;
    uint32_t n;             /* other keys seen */
    uint32_t serial;        /* 0 until spilled into the table */
    struct { const char *k; size_t n; } small[KS_SMALL];
} keyset;

typedef struct hent {
    const char *k;
    size_t n;
    uint32_t serial;        /* 0 = empty */
    uint32_t h;
} hent;

/* ---- Decoder state ---------------------------------------------------------------- */

typedef struct dctx {
    const unsigned char *b;
    size_t len;
    size_t pos;
    int rc;                 /* first JSON-level error, FDSP_OK until then */
    char *err;
    size_t errlen;
    /* decoded strings that had escapes; never more than len bytes in all */
    char *scratch;
    size_t scratch_n;
    /* captures */
    slot top[K__TOP];
    elem *el[A__N];
    size_t el_cap[A__N];
    size_t ent_used;        /* entries captured in el[A_ENTRIES] */
    size_t expanded;        /* changes before the current element of
                            ** "changes", groups counted as their size */
    vvcap *vv;
    size_t vv_n, vv_cap;
    size_t depth;           /* open objects and arrays */
    /* spilled keys */
    hent *ht;
    size_t ht_cap, ht_n;
    uint32_t serial;
    /* fdsp_decode_pooled: the message's pool for change strings */
    struct fdsp_pool **pool;
} dctx;

/* Tokens, as jansson's lexer has them. */
enum { T_ERR = -1, T_EOF = 0, T_STR = 256, T_INT, T_REAL, T_TRUE, T_FALSE,
       T_NULL };

typedef struct tok {
    int t;
    const char *s;          /* T_STR: decoded bytes */
    size_t n;
    int nul;                /* T_STR: contains \u0000 */
    int64_t i;              /* T_INT */
} tok;

/* Record the first JSON-level error; later ones are ignored (jansson keeps
** its first error text too).  Returns T_ERR for use in the lexer. */
static int jerr(dctx *c, int code, size_t at, const char *what)
{
    if (c->rc == FDSP_OK) {
        c->rc = code;
        fdsp__fail(c->err, c->errlen, code, NULL, NULL, "at byte %zu: %s",
                   at, what);
    }
    return T_ERR;
}

static int nomem(dctx *c)
{
    if (c->rc == FDSP_OK) {
        c->rc = FDSP_E_NOMEM;
        fdsp__fail(c->err, c->errlen, FDSP_E_NOMEM, NULL, NULL,
                   "out of memory");
    }
    return T_ERR;
}

/* ---- Lexer ------------------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence starting with the byte >= 0x80 at
** p[0], or 0 — jansson's utf8_check_first + utf8_check_full. */
static size_t utf8_seq(const unsigned char *p, size_t avail)
{
    unsigned c = p[0];
    size_t need;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
        need = 2; cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 3; cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 4; cp = c & 0x07;
    } else {
        return 0;
    }
    if (avail < need)
        return 0;
    for (size_t k = 1; k < need; k++) {
        unsigned cc = p[k];
        if ((cc & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (cc & 0x3f);
    }
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    if ((need == 2 && cp < 0x80) || (need == 3 && cp < 0x800) ||
        (need == 4 && cp < 0x10000))
        return 0;
    return need;
}

enum { P_EOF = -1, P_ERR = -2, P_WIDE = 0x100 };

/* The byte at i as jansson's stream reads it: P_EOF past the end; for a
** byte >= 0x80 the whole sequence is checked as it is read (P_ERR with the
** UTF-8 error recorded, or P_WIDE for a valid non-ASCII character). */
static inline int peek(dctx *c, size_t i)
{
    if (i >= c->len)
        return P_EOF;
    unsigned ch = c->b[i];
    if (ch < 0x80)
        return (int)ch;
    if (utf8_seq(c->b + i, c->len - i) == 0) {
        jerr(c, FDSP_E_UTF8, i, "invalid UTF-8");
        return P_ERR;
    }
    return P_WIDE;
}

static inline int is_digit(int ch) { return ch >= '0' && ch <= '9'; }
static inline int is_alpha(int ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}
static inline int hexval(int ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* jansson ungets the character that ends a number or a literal; a NUL
** byte put back that way is lost (its stream buffer reads NUL as "empty"),
** so one NUL right after a complete number, true, false or null is
** skipped. */
static inline size_t skip_ungot_nul(const dctx *c, size_t i)
{
    return i < c->len && c->b[i] == 0 ? i + 1 : i;
}

/* strtoll's range check on "-?digits". */
static int parse_int(const unsigned char *p, size_t n, int64_t *out)
{
    int neg = p[0] == '-';
    uint64_t v = 0, lim = neg ? (uint64_t)1 << 63 : ((uint64_t)1 << 63) - 1;
    if (n - (size_t)neg <= 18) {        /* < 10^18: cannot overflow */
        for (size_t i = (size_t)neg; i < n; i++)
            v = v * 10 + (unsigned)(p[i] - '0');
        *out = neg ? (int64_t)(0 - v) : (int64_t)v;
        return 1;
    }
    for (size_t i = neg ? 1 : 0; i < n; i++) {
        unsigned d = (unsigned)(p[i] - '0');
        if (v > (lim - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 1;
}

/* 1 if the JSON real p[0..n) overflows a double (strtod gives HUGE_VAL,
** jansson's "real number overflow").  The text is rewritten without its
** decimal point (mantissa digits, adjusted exponent) so strtod sees no
** locale-dependent character.  Rare: protocol members are integers. */
static int real_overflows(const unsigned char *p, size_t n, int *oom)
{
    char *buf = malloc(n + 32);
    size_t k = 0, i = 0;
    long long exp = 0, frac = 0;
    if (buf == NULL) {
        *oom = 1;
        return 0;
    }
    if (p[i] == '-')
        buf[k++] = (char)p[i++];
    while (i < n && is_digit(p[i]))
        buf[k++] = (char)p[i++];
    if (i < n && p[i] == '.') {
        i++;
        while (i < n && is_digit(p[i])) {
            buf[k++] = (char)p[i++];
            frac++;
        }
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        int eneg = 0;
        i++;
        if (p[i] == '+' || p[i] == '-')
            eneg = p[i++] == '-';
        while (i < n && is_digit(p[i])) {
            if (exp < 1000000000LL)
                exp = exp * 10 + (p[i] - '0');
            i++;
        }
        if (eneg)
            exp = -exp;
    }
    exp -= frac;
    if (exp > 2000000000LL)
        exp = 2000000000LL;
    if (exp < -2000000000LL)
        exp = -2000000000LL;
    snprintf(buf + k, 32, "e%lld", exp);
    double d = strtod(buf, NULL);
    free(buf);
    return d == HUGE_VAL || d == -HUGE_VAL;
}

/* Forced inline: for helpers on the hot path that gcc -O2 would call. */
#if defined(__GNUC__)
#  define HOT_INLINE static inline __attribute__((always_inline))
#else
#  define HOT_INLINE static inline
#endif

/* One or more digits at i (*ch = peek(c, *i)): 0 with *i and *ch past
** them, or T_ERR (the lexer's error, or "invalid token" here). */
HOT_INLINE int lex_digits(dctx *c, size_t *i, int *ch)
{
    if (!is_digit(*ch))
        return *ch == P_ERR ? T_ERR : jerr(c, FDSP_E_JSON, *i, "invalid token");
    do
        *ch = peek(c, ++*i);
    while (is_digit(*ch));
    return *ch == P_ERR ? T_ERR : 0;
}

static int lex_number(dctx *c, tok *t, size_t start)
{
    size_t i = start;
    int ch;
    if (c->b[i] == '-')
        i++;
    ch = peek(c, i);
    if (ch == '0') {
        ch = peek(c, ++i);
        if (is_digit(ch))
            return jerr(c, FDSP_E_JSON, i, "invalid token");
        if (ch == P_ERR)
            return T_ERR;
    } else if (lex_digits(c, &i, &ch) != 0) {
        return T_ERR;
    }
    if (ch != '.' && ch != 'e' && ch != 'E') {
        if (!parse_int(c->b + start, i - start, &t->i))
            return jerr(c, FDSP_E_VALUE, start, "integer out of range");
        c->pos = skip_ungot_nul(c, i);
        return t->t = T_INT;
    }
    if (ch == '.') {
        ch = peek(c, ++i);
        if (lex_digits(c, &i, &ch) != 0)
            return T_ERR;
    }
    if (ch == 'e' || ch == 'E') {
        ch = peek(c, ++i);
        if (ch == '+' || ch == '-')
            ch = peek(c, ++i);
        if (lex_digits(c, &i, &ch) != 0)
            return T_ERR;
    }
    int oom = 0;
    if (real_overflows(c->b + start, i - start, &oom))
        return jerr(c, FDSP_E_VALUE, start, "real number overflow");
    if (oom)
        return nomem(c);
    c->pos = skip_ungot_nul(c, i);
    return t->t = T_REAL;
}

/* Append UTF-8 of cp to o. */
static size_t put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* 1 for a byte that ends a plain run of string text: a control character,
** '"', '\\', or the first byte of a non-ASCII character. */
static const unsigned char str_stop[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

/* 1 if none of the eight bytes at p ends a plain run of string text: no
** control character, no byte >= 0x80, no '"', no '\'.  (The usual SWAR
** tests; a false alarm only sends the caller to its byte loop.) */
static inline int plain8(const unsigned char *p)
{
    uint64_t x;
    memcpy(&x, p, 8);
    return ((x & 0x8080808080808080ULL) | fdsp__ctl_quote8(x)) == 0;
}

/* A string token; c->pos is just after the opening quote.  jansson reads a
** string in two passes: the first finds the closing quote and refuses raw
** control characters, bad escapes and bad UTF-8; only then does the second
** decode \u escapes and refuse lone surrogates.  One pass here, so a
** surrogate error is held until the closing quote: an error of the first
** kind later in the same string still comes first. */
static int lex_string(dctx *c, tok *t)
{
    const unsigned char *b = c->b;
    size_t len = c->len, i = c->pos, seg = i;
    char *o = NULL;         /* decoded output, once an escape turned up */
    size_t on = 0;
    int32_t high = -1;      /* pending high surrogate */
    int bad_sur = 0, nul = 0;

    for (;;) {
        while (i + 8 <= len && plain8(b + i))
            i += 8;
        while (i < len && !str_stop[b[i]])
            i++;
        if (i >= len)
            return jerr(c, FDSP_E_JSON, i, "premature end of input");
        unsigned ch = b[i];
        if (ch >= 0x80) {
            size_t k = utf8_seq(b + i, len - i);
            if (k == 0)
                return jerr(c, FDSP_E_UTF8, i, "invalid UTF-8");
            i += k;
            continue;
        }
        if (ch < 0x20)
            return jerr(c, FDSP_E_JSON, i, "control character in string");
        /* '"' or '\': a raw run ends; a pending high surrogate must be
        ** followed by a \u escape straight away. */
        if (high >= 0 && (i != seg || ch == '"' || i + 1 >= len ||
                          b[i + 1] != 'u')) {
            bad_sur = 1;
            high = -1;
        }
        if (ch == '"')
            break;
        /* Escape: copy the raw run before it into the output. */
        if (o == NULL) {
            if (c->scratch == NULL) {
                c->scratch = malloc(c->len + 1);
                if (c->scratch == NULL)
                    return nomem(c);
            }
            o = c->scratch + c->scratch_n;
        }
        memcpy(o + on, b + seg, i - seg);
        on += i - seg;
        int e = peek(c, i + 1);
        if (e == P_ERR)
            return T_ERR;
        switch (e) {
        case '"': case '\\': case '/':
            o[on++] = (char)e; break;
        case 'b': o[on++] = '\b'; break;
        case 'f': o[on++] = '\f'; break;
        case 'n': o[on++] = '\n'; break;
        case 'r': o[on++] = '\r'; break;
        case 't': o[on++] = '\t'; break;
        case 'u': {
            int32_t v = 0;
            for (size_t k = 2; k < 6; k++) {
                int h = peek(c, i + k);
                if (h == P_ERR)
                    return T_ERR;
                h = h >= 0 && h < 0x80 ? hexval(h) : -1;
                if (h < 0)
                    return jerr(c, FDSP_E_JSON, i + k, "invalid escape");
                v = (v << 4) | h;
            }
            if (high >= 0) {
                if (v >= 0xdc00 && v <= 0xdfff) {
                    uint32_t cp = (((uint32_t)high - 0xd800) << 10) +
                                  ((uint32_t)v - 0xdc00) + 0x10000;
                    on += put_utf8(o + on, cp);
                } else {
                    bad_sur = 1;
                }
                high = -1;
            } else if (v >= 0xd800 && v <= 0xdbff) {
                high = v;
            } else if (v >= 0xdc00 && v <= 0xdfff) {
                bad_sur = 1;
            } else {
                if (v == 0)
                    nul = 1;
                on += put_utf8(o + on, (uint32_t)v);
            }
            i += 6;
            seg = i;
            continue;
        }
        default:
            return jerr(c, FDSP_E_JSON, i + 1, "invalid escape");
        }
        i += 2;
        seg = i;
    }
    if (bad_sur)
        return jerr(c, FDSP_E_JSON, i, "invalid Unicode surrogate escape");
    if (o == NULL) {
        t->s = (const char *)b + c->pos;
        t->n = i - c->pos;
    } else {
        memcpy(o + on, b + seg, i - seg);
        on += i - seg;
        t->s = o;
        t->n = on;
        c->scratch_n += on;
    }
    t->nul = nul;
    c->pos = i + 1;
    return t->t = T_STR;
}

/* jansson's lex_scan: skip whitespace, read one token. */
static int lex_scan(dctx *c, tok *t)
{
    const unsigned char *b = c->b;
    size_t i = c->pos, len = c->len;
    while (i < len && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' ||
                       b[i] == '\t'))
        i++;
    if (i >= len) {
        c->pos = i;
        return t->t = T_EOF;
    }
    unsigned ch = b[i];
    switch (ch) {
    case '{': case '}': case '[': case ']': case ':': case ',':
        c->pos = i + 1;
        return t->t = (int)ch;
    case '"':
        c->pos = i + 1;
        return lex_string(c, t);
    case '-': case '0': case '1': case '2': case '3': case '4': case '5':
    case '6': case '7': case '8': case '9':
        return lex_number(c, t, i);
    default:
        break;
    }
    if (is_alpha((int)ch)) {
        size_t j = i;
        while (j < len && is_alpha(b[j]))
            j++;
        if (peek(c, j) == P_ERR)        /* the byte after is read too */
            return T_ERR;
        size_t n = j - i;
        int tt = T_ERR;
        if (n == 4 && memcmp(b + i, "true", 4) == 0)
            tt = T_TRUE;
        else if (n == 5 && memcmp(b + i, "false", 5) == 0)
            tt = T_FALSE;
        else if (n == 4 && memcmp(b + i, "null", 4) == 0)
            tt = T_NULL;
        if (tt == T_ERR)
            return jerr(c, FDSP_E_JSON, i, "invalid token");
        c->pos = skip_ungot_nul(c, j);
        return t->t = tt;
    }
    if (ch >= 0x80 && peek(c, i) == P_ERR)
        return T_ERR;
    return jerr(c, FDSP_E_JSON, i, "invalid token");
}

/* The token, also left in t->t (T_ERR with c->rc set on error).  Most
** tokens are one structural byte after no or little whitespace: those are
** read here, inline, and only the rest go through lex_scan. */
static inline int lex(dctx *c, tok *t)
{
    size_t i = c->pos;
    if (i < c->len) {
        unsigned ch = c->b[i];
        if (ch == ' ' && i + 1 < c->len)
            ch = c->b[++i];
        if (ch == ':' || ch == ',' || ch == '{' || ch == '}' || ch == '[' ||
            ch == ']') {
            c->pos = i + 1;
            return t->t = (int)ch;
        }
        if (ch == '"') {
            c->pos = i + 1;
            return t->t = lex_string(c, t);
        }
    }
    return t->t = lex_scan(c, t);
}

/* ---- Duplicate keys ------------------------------------------------------------- */

static uint32_t key_hash(const char *k, size_t n, uint32_t serial)
{
    uint32_t h = 2166136261u ^ serial;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)k[i]) * 16777619u;
    return h;
}

/* Insert into the shared table: 1 if (serial, key) was there, 0 if added,
** -1 on OOM. */
static int ht_add(dctx *c, uint32_t serial, const char *k, size_t n)
{
    if ((c->ht_n + 1) * 2 > c->ht_cap) {
        size_t cap = c->ht_cap ? c->ht_cap * 2 : 64;
        hent *t = calloc(cap, sizeof *t);
        if (t == NULL)
            return -1;
        for (size_t i = 0; i < c->ht_cap; i++) {
            if (c->ht[i].serial == 0)
                continue;
            size_t j = c->ht[i].h & (cap - 1);
            while (t[j].serial != 0)
                j = (j + 1) & (cap - 1);
            t[j] = c->ht[i];
        }
        free(c->ht);
        c->ht = t;
        c->ht_cap = cap;
    }
    uint32_t h = key_hash(k, n, serial);
    size_t j = h & (c->ht_cap - 1);
    while (c->ht[j].serial != 0) {
        const hent *e = &c->ht[j];
        if (e->serial == serial && e->h == h && e->n == n &&
            memcmp(e->k, k, n) == 0)
            return 1;
        j = (j + 1) & (c->ht_cap - 1);
    }
    c->ht[j].k = k;
    c->ht[j].n = n;
    c->ht[j].serial = serial;
    c->ht[j].h = h;
    c->ht_n++;
    return 0;
}

/* A key the schema does not know: 1 if the object has it already, 0 if
** new, -1 on OOM. */
static int ks_add(dctx *c, keyset *ks, const char *k, size_t n)
{
    if (ks->serial == 0) {
        for (uint32_t i = 0; i < ks->n; i++)
            if (ks->small[i].n == n && memcmp(ks->small[i].k, k, n) == 0)
                return 1;
        if (ks->n < KS_SMALL) {
            ks->small[ks->n].k = k;
            ks->small[ks->n].n = n;
            ks->n++;
            return 0;
        }
        ks->serial = ++c->serial;
        for (uint32_t i = 0; i < KS_SMALL; i++)
            if (ht_add(c, ks->serial, ks->small[i].k, ks->small[i].n) < 0)
                return -1;
    }
    int r = ht_add(c, ks->serial, k, n);
    if (r == 0)
        ks->n++;
    return r;
}

/* Key check common to every object: NUL (jansson refuses it before the
** duplicate check), then duplicates.  `bit` is the schema key's bit or 0. */
static inline int key_ok(dctx *c, keyset *ks, const tok *t, size_t at,
                         uint64_t bit)
{
    if (t->nul) {
        jerr(c, FDSP_E_VALUE, at, "NUL byte in object key not supported");
        return 0;
    }
    if (bit != 0) {
        if (ks->known & bit) {
            jerr(c, FDSP_E_DUPKEY, at, "duplicate object key");
            return 0;
        }
        ks->known |= bit;
        return 1;
    }
    int r = ks_add(c, ks, t->s, t->n);
    if (r < 0) {
        nomem(c);
        return 0;
    }
    if (r > 0) {
        jerr(c, FDSP_E_DUPKEY, at, "duplicate object key");
        return 0;
    }
    return 1;
}

/* ---- Parser ---------------------------------------------------------------------
** Each parse function gets the value's first token in *t and returns 0, or
** -1 with c->rc set.
**
** Depth: the reference runs fdsp__depth_ok over the whole buffer before
** parsing, and FDSP_E_DEPTH beats every other error.  On input that parses
** that pre-scan sees exactly the real nesting, and on a prefix that parsed
** so far too; so the reader tracks the nesting itself, stops at the first
** level past FDSP_MAX_DEPTH, and runs the pre-scan only when it failed
** (fdsp_decode), where it decides between FDSP_E_DEPTH and the error found.
** That keeps the byte-by-byte pre-scan off every message that decodes. */
static inline int leave(dctx *c)
{
    c->depth--;
    return 0;
}

static int enter(dctx *c)
{
    if (++c->depth > FDSP_MAX_DEPTH) {
        jerr(c, FDSP_E_DEPTH, c->pos, "nesting deeper than FDSP_MAX_DEPTH");
        return -1;
    }
    return 0;
}

/* ---- Object and array skeletons --------------------------------------------------
** Every object parser runs the same member loop:
**
**     if ((r = obj_open(c, t, &ks)) != 0)
**         return r < 0 ? -1 : 0;              (error, or '{}')
**     do {
**         int k = obj_key(c, t, &ks, KEYS_..., ...);
**         if (k < KEY_SKIP) return -1;
**         ... parse the value starting at *t ...
**     } while ((r = obj_next(c, t)) > 0);
**     return r;
**
** The helpers are HOT_INLINE (gcc -O2 would call obj_key, +4 % decode
** instructions) and the key set is a constant at each call, so the
** classifier folds in and the hot path costs what the loops written out did. */
enum { KEY_ERR = -2, KEY_SKIP = -1 };   /* obj_key besides a schema index */
enum { KEYS_NONE = -1, KEYS_TOP = -2 }; /* key sets besides an elem array */

/* enter, a fresh key set and the first token: 1 for an empty object (depth
** left again), 0 when a member follows, -1 on error. */
HOT_INLINE int obj_open(dctx *c, tok *t, keyset *ks)
{
    if (enter(c) != 0)
        return -1;
    ks->known = 0;
    ks->n = 0;
    ks->serial = 0;
    if (lex(c, t) == '}') {
        leave(c);
        return 1;
    }
    return 0;
}

static int top_key(const char *k, size_t n);
static int elem_key(int arr, const char *k, size_t n);

/* A member's key in *t, classified by `keys` (KEYS_NONE: every key skipped;
** KEYS_TOP: the message's keys; else an A_* element array), checked for NUL
** and duplicates, then ':' and the value's first token.  Returns the schema
** index, KEY_SKIP, or KEY_ERR with c->rc set.  The key's bytes go to *key
** and *keyn when key is not NULL (they point into the buffer). */
HOT_INLINE int obj_key(dctx *c, tok *t, keyset *ks, int keys,
                          const char **key, size_t *keyn)
{
    size_t at = c->pos;
    if (t->t != T_STR)
        return t->t == T_ERR ? KEY_ERR
            : (jerr(c, FDSP_E_JSON, at, "string or '}' expected"), KEY_ERR);
    int k = KEY_SKIP;
    if (keys == KEYS_TOP)
        k = t->nul ? KEY_SKIP : top_key(t->s, t->n);
    else if (keys != KEYS_NONE)
        k = t->nul ? KEY_SKIP : elem_key(keys, t->s, t->n);
    if (!key_ok(c, ks, t, at, k >= 0 ? (uint64_t)1 << k : 0))
        return KEY_ERR;
    if (key != NULL) {
        *key = t->s;
        *keyn = t->n;
    }
    if (lex(c, t) != ':')
        return t->t == T_ERR ? KEY_ERR
            : (jerr(c, FDSP_E_JSON, c->pos, "':' expected"), KEY_ERR);
    lex(c, t);
    return k;
}

/* After a member's value: 1 if another member follows (its key in *t), 0
** at the closing '}' (depth left), -1 on error. */
HOT_INLINE int obj_next(dctx *c, tok *t)
{
    if (lex(c, t) == ',') {
        lex(c, t);
        return 1;
    }
    if (t->t != '}')
        return t->t == T_ERR ? -1
            : (jerr(c, FDSP_E_JSON, c->pos, "'}' expected"), -1);
    leave(c);
    return 0;
}

/* The array loop, the same way:
**
**     if ((r = arr_open(c, t)) != 0)
**         return r < 0 ? -1 : 0;              (error, or '[]')
**     do {
**         ... parse the element starting at *t ...
**     } while ((r = arr_next(c, t)) > 0);
**     return r;
**
** An element never starts at the end of input or a lexer error: that token
** is the "']' expected" error (or the lexer's) as where the array closes. */
static int arr_unclosed(dctx *c, const tok *t)
{
    if (t->t != T_ERR)
        jerr(c, FDSP_E_JSON, c->pos, "']' expected");
    return -1;
}

/* enter and the first token: 1 for an empty array (depth left again), 0
** when an element follows, -1 on error. */
HOT_INLINE int arr_open(dctx *c, tok *t)
{
    if (enter(c) != 0)
        return -1;
    if (lex(c, t) == ']') {
        leave(c);
        return 1;
    }
    return t->t == T_EOF || t->t == T_ERR ? arr_unclosed(c, t) : 0;
}

/* After an element: 1 if another follows (its first token in *t), 0 at the
** closing ']' (depth left), -1 on error. */
HOT_INLINE int arr_next(dctx *c, tok *t)
{
    if (lex(c, t) == ',') {
        if (lex(c, t) != T_EOF && t->t != T_ERR)
            return 1;
    } else if (t->t == ']') {
        leave(c);
        return 0;
    }
    return arr_unclosed(c, t);
}

static int parse_value(dctx *c, tok *t, slot *dst);

/* A JSON object (obj) or array whose members are checked and skipped;
** *count its size.  Off the hot path: only values the schema skips. */
static int parse_skipped(dctx *c, tok *t, int obj, int64_t *count)
{
    keyset ks;
    int64_t n = 0;
    int r = obj ? obj_open(c, t, &ks) : arr_open(c, t);
    if (r != 0) {
        *count = 0;
        return r < 0 ? -1 : 0;
    }
    do {
        if (obj && obj_key(c, t, &ks, KEYS_NONE, NULL, NULL) == KEY_ERR)
            return -1;
        if (parse_value(c, t, NULL) != 0)
            return -1;
        n++;
    } while ((r = obj ? obj_next(c, t) : arr_next(c, t)) > 0);
    *count = n;
    return r;
}

/* Any value; its kind and scalar go to dst if dst is not NULL. */
static int parse_value(dctx *c, tok *t, slot *dst)
{
    slot tmp;
    if (dst == NULL)
        dst = &tmp;
    switch (t->t) {
    case T_STR:
        if (t->nul) {
            jerr(c, FDSP_E_VALUE, c->pos, "\\u0000 is not allowed");
            return -1;
        }
        dst->kind = V_STR;
        dst->s = t->s;
        dst->u.n = t->n;
        return 0;
    case T_INT:
        dst->kind = V_INT;
        dst->u.i = t->i;
        return 0;
    case T_REAL:  dst->kind = V_REAL; return 0;
    case T_TRUE:  dst->kind = V_TRUE; return 0;
    case T_FALSE: dst->kind = V_FALSE; return 0;
    case T_NULL:  dst->kind = V_NULL; return 0;
    case '{':
        dst->kind = V_OBJ;
        return parse_skipped(c, t, 1, &dst->u.i);
    case '[':
        dst->kind = V_ARR;
        return parse_skipped(c, t, 0, &dst->u.i);
    case T_ERR:
        return -1;
    default:
        jerr(c, FDSP_E_JSON, c->pos, "unexpected token");
        return -1;
    }
}

/* Schema key lookups: index, or -1 for a key to skip. */
static int top_key(const char *k, size_t n)
{
    static const char *const names[K__TOP] = {
        "type", "v", "device", "cursor", "client", "user", "role", "head",
        "batch", "changes", "accepted", "refused", "after", "limit", "last",
        "more", "records", "code", "message", "fatal", "counter", "store",
        "epoch", "time", "stamps", "buckets", "live", "groups", "blobs",
        "sha", "size", "offset", "data", "notices"};
    for (int i = 0; i < K__TOP; i++)
        if (names[i][0] == (n ? k[0] : 0) && strlen(names[i]) == n &&
            memcmp(names[i], k, n) == 0)
            return i;
    return -1;
}

static int elem_key(int arr, const char *k, size_t n)
{
    if (arr == A_BUCKETS)
        return -1;
    if (arr == A_STAMPS) {
        if (n == 1 && k[0] == 'i')
            return S_I;
        if (n == 1 && k[0] == 'h')
            return S_H;
        return -1;
    }
    if (arr == A_NOTICES) {
        if (n == 1 && k[0] == 'i')
            return N_I;
        if (n == 1 && k[0] == 'f')
            return N_F;
        if (n == 4 && memcmp(k, "kind", 4) == 0)
            return N_KIND;
        if (n == 5 && memcmp(k, "owner", 5) == 0)
            return N_OWNER;
        return -1;
    }
    if (arr == A_REFUSED) {
        if (n == 1 && k[0] == 'i')
            return R_I;
        if (n == 4 && memcmp(k, "code", 4) == 0)
            return R_CODE;
        if (n == 7 && memcmp(k, "message", 7) == 0)
            return R_MESSAGE;
        return -1;
    }
    if (arr == A_ENTRIES) {
        /* A group entry: f, v and the steps; the rest is skipped. */
        if (n == 1) {
            switch (k[0]) {
            case 'f': return C_F;
            case 'v': return C_V;
            case 'h': return C_H;
            case 's': return C_S;
            default: return -1;
            }
        }
        if (n == 2 && k[0] == 'v' && k[1] == 'v')
            return C_VV;
        if (n == 2 && k[0] == 'a' && k[1] == 't')
            return C_AT;
        return -1;
    }
    if (n == 1) {
        switch (k[0]) {
        case 't': return C_T;
        case 'r': return C_R;
        case 'f': return arr == A_CHANGES ? C_F : -1;
        case 'v': return arr == A_CHANGES ? C_V : -1;
        case 'h': return arr == A_CHANGES ? C_H : -1;
        case 'd': return arr == A_CHANGES ? C_D : -1;
        case 'u': return arr == A_CHANGES ? C_U : -1;
        case 's': return arr == A_CHANGES ? C_S : -1;
        case 'g': return arr == A_CHANGES ? C_G : -1;
        default: return -1;
        }
    }
    if (arr == A_CHANGES && n == 2) {
        if (k[0] == 'v' && k[1] == 'v')
            return C_VV;
        if (k[0] == 'a' && k[1] == 't')
            return C_AT;
    }
    return -1;
}

/* The vv object of a change: entries captured in order (the first
** FDSP_MAX_VV; past that only the count matters). */
static int parse_vv(dctx *c, tok *t, elem *e, slot *dst)
{
    keyset ks;
    int64_t n = 0;
    int r = obj_open(c, t, &ks);
    if (r < 0)
        return -1;
    dst->kind = V_OBJ;
    e->vv_at = c->vv_n;
    e->vv_n = 0;
    dst->u.i = 0;
    if (r > 0)
        return 0;
    do {
        const char *dev;
        size_t devn;
        if (obj_key(c, t, &ks, KEYS_NONE, &dev, &devn) == KEY_ERR)
            return -1;
        slot v;
        if (parse_value(c, t, &v) != 0)
            return -1;
        if (n < FDSP_MAX_VV) {
            if (c->vv_n == c->vv_cap) {
                size_t cap = c->vv_cap ? c->vv_cap * 2 : 64;
                vvcap *p = realloc(c->vv, cap * sizeof *p);
                if (p == NULL) {
                    nomem(c);
                    return -1;
                }
                c->vv = p;
                c->vv_cap = cap;
            }
            vvcap *x = &c->vv[c->vv_n++];
            x->dev = dev;
            x->n = devn;
            x->kind = v.kind;
            x->i = v.kind == V_INT ? v.u.i : 0;
            e->vv_n++;
        }
        n++;
    } while ((r = obj_next(c, t)) > 0);
    dst->u.i = n;
    return r;
}

static int parse_entries(dctx *c, tok *t, elem *e, slot *dst);

/* An element object of changes / refused / records / a group's entries. */
static int parse_elem_object(dctx *c, tok *t, int arr, elem *e)
{
    keyset ks;
    int r = obj_open(c, t, &ks);
    if (r != 0)
        return r < 0 ? -1 : 0;
    do {
        int k = obj_key(c, t, &ks, arr, NULL, NULL);
        if (k == KEY_ERR)
            return -1;
        if (k == C_VV && (arr == A_CHANGES || arr == A_ENTRIES) &&
            t->t == '{')
            r = parse_vv(c, t, e, &e->k[C_VV]);
        else if (k == C_G && arr == A_CHANGES && t->t == '[')
            r = parse_entries(c, t, e, &e->k[C_G]);
        else
            r = parse_value(c, t, k >= 0 ? &e->k[k] : NULL);
        if (r != 0)
            return -1;
    } while ((r = obj_next(c, t)) > 0);
    return r;
}

/* A group's "g": its entries captured into A_ENTRIES while they are among
** the first FDSP_MAX_BATCH changes of the message (groups expanded); past
** that the message is refused before its entries are read, and only the
** count matters. */
static int parse_entries(dctx *c, tok *t, elem *e, slot *dst)
{
    int64_t n = 0;
    dst->kind = V_ARR;
    dst->u.i = 0;
    e->ent_at = c->ent_used;
    e->ent_n = 0;
    int r = arr_open(c, t);
    if (r != 0)
        return r < 0 ? -1 : 0;
    do {
        if (c->expanded + (size_t)n < FDSP_MAX_BATCH) {
            if (c->ent_used == c->el_cap[A_ENTRIES]) {
                size_t cap = c->el_cap[A_ENTRIES]
                    ? c->el_cap[A_ENTRIES] * 2 : 16;
                if (cap > FDSP_MAX_BATCH)
                    cap = FDSP_MAX_BATCH;
                elem *p = realloc(c->el[A_ENTRIES], cap * sizeof *p);
                if (p == NULL) {
                    nomem(c);
                    return -1;
                }
                c->el[A_ENTRIES] = p;
                c->el_cap[A_ENTRIES] = cap;
            }
            elem *x = &c->el[A_ENTRIES][c->ent_used++];
            memset(x, 0, sizeof *x);
            e->ent_n++;
            if (t->t == '{') {
                x->kind = V_OBJ;
                r = parse_elem_object(c, t, A_ENTRIES, x);
            } else {
                r = parse_value(c, t, &x->k[0]);
                x->kind = x->k[0].kind;
            }
        } else {
            r = parse_value(c, t, NULL);
        }
        if (r != 0)
            return -1;
        n++;
    } while ((r = arr_next(c, t)) > 0);
    dst->u.i = n;
    return r;
}

/* changes / refused / records: elements captured (up to the limit; past
** it only the count matters). */
static int parse_elem_array(dctx *c, tok *t, int arr, slot *dst)
{
    int64_t n = 0;
    dst->kind = V_ARR;
    dst->u.i = 0;
    int r = arr_open(c, t);
    if (r != 0)
        return r < 0 ? -1 : 0;
    do {
        if ((size_t)n < arr_max[arr]) {
            if ((size_t)n == c->el_cap[arr]) {
                size_t cap = c->el_cap[arr] ? c->el_cap[arr] * 2 : 16;
                if (cap > arr_max[arr])
                    cap = arr_max[arr];
                elem *p = realloc(c->el[arr], cap * sizeof *p);
                if (p == NULL) {
                    nomem(c);
                    return -1;
                }
                c->el[arr] = p;
                c->el_cap[arr] = cap;
            }
            elem *e = &c->el[arr][n];
            memset(e, 0, sizeof *e);
            if (t->t == '{') {
                e->kind = V_OBJ;
                r = parse_elem_object(c, t, arr, e);
            } else {
                /* A scalar element (a bucket) is kept in k[0]. */
                r = parse_value(c, t, &e->k[0]);
                e->kind = e->k[0].kind;
            }
            /* A group counts as its entries (see parse_entries). */
            if (arr == A_CHANGES)
                c->expanded += e->k[C_G].kind == V_ARR
                    ? (size_t)e->k[C_G].u.i : 1;
        } else {
            r = parse_value(c, t, NULL);
        }
        if (r != 0)
            return -1;
        n++;
    } while ((r = arr_next(c, t)) > 0);
    dst->u.i = n;
    return r;
}

/* The message object. */
static int parse_top_object(dctx *c, tok *t)
{
    keyset ks;
    int r = obj_open(c, t, &ks);
    if (r != 0)
        return r < 0 ? -1 : 0;
    do {
        int k = obj_key(c, t, &ks, KEYS_TOP, NULL, NULL);
        if (k == KEY_ERR)
            return -1;
        if (t->t == '[' && k == K_CHANGES)
            r = parse_elem_array(c, t, A_CHANGES, &c->top[k]);
        else if (t->t == '[' && k == K_REFUSED)
            r = parse_elem_array(c, t, A_REFUSED, &c->top[k]);
        else if (t->t == '[' && k == K_RECORDS)
            r = parse_elem_array(c, t, A_RECORDS, &c->top[k]);
        else if (t->t == '[' && k == K_STAMPS)
            r = parse_elem_array(c, t, A_STAMPS, &c->top[k]);
        else if (t->t == '[' && k == K_NOTICES)
            r = parse_elem_array(c, t, A_NOTICES, &c->top[k]);
        else if (t->t == '[' && k == K_BUCKETS)
            r = parse_elem_array(c, t, A_BUCKETS, &c->top[k]);
        else
            r = parse_value(c, t, k >= 0 ? &c->top[k] : NULL);
        if (r != 0)
            return -1;
    } while ((r = obj_next(c, t)) > 0);
    return r;
}

/* ---- Field checks, in the reference decoder's order -------------------------------
** These mirror read.c (fdsp__get_*), change.c (fdsp__change_from_json,
** fdsp__vv_from_json) and ref_decode.c, error lines included. */

/* For an optional key a JSON null counts as absent. */
static const slot *member(const slot *v, int required)
{
    if (v->kind == V_NONE || (!required && v->kind == V_NULL))
        return NULL;
    return v;
}

/* fdsp__check_str for a decoded string: the reader already refused bad
** UTF-8 and NUL, so TEXT and VALUE need only their length checked. */
static int check_span(const char *s, size_t n, int kind, const char **why)
{
    if ((kind == FDSP__TEXT || kind == FDSP__VALUE) &&
        n <= (kind == FDSP__TEXT ? FDSP_MAX_TEXT : FDSP_MAX_VALUE))
        return FDSP_OK;
    return fdsp__check_str(s, n, kind, why);
}

static int get_str_in(struct fdsp_pool **pool, const slot *sl,
                      const char *path, const char *key, int kind,
                      int required, char **out, char *err, size_t errlen)
{
    const slot *v = member(sl, required);
    const char *why;
    if (v == NULL)
        return required ? fdsp__fail(err, errlen, FDSP_E_MISSING, path, key,
                                     "required") : FDSP_OK;
    if (v->kind != V_STR)
        return fdsp__fail(err, errlen, FDSP_E_TYPE, path, key,
                          "must be a string");
    int rc = check_span(v->s, v->u.n, kind, &why);
    if (rc != FDSP_OK)
        return fdsp__fail(err, errlen, rc, path, key, "%s", why);
    char *copy = fdsp__pool_strndup(pool, v->s, v->u.n);
    if (copy == NULL)
        return fdsp__fail(err, errlen, FDSP_E_NOMEM, path, key,
                          "out of memory");
    *out = copy;
    return FDSP_OK;
}

static int get_str(const slot *sl, const char *path, const char *key,
                   int kind, int required, char **out, char *err,
                   size_t errlen)
{
    return get_str_in(NULL, sl, path, key, kind, required, out, err, errlen);
}

/* A change's strings: from the pool of a pooled decode (c->pool). */
#define get_cstr(sl, path, key, kind, req, out, err, errlen) \
    get_str_in(c->pool, sl, path, key, kind, req, out, err, errlen)

/* Undo a change being read: a pooled one's strings stay in the pool. */
static void change_drop(const dctx *c, fdsp_change *x)
{
    if (c->pool != NULL) {
        fdsp_vv_clear(&x->vv);
        memset(x, 0, sizeof *x);
    } else {
        fdsp_change_clear(x);
    }
}

static int get_int(const slot *sl, const char *path, const char *key,
                   int required, int64_t lo, int64_t hi, int hi_code,
                   int64_t *out, char *err, size_t errlen)
{
    const slot *v = member(sl, required);
    if (v == NULL)
        return required ? fdsp__fail(err, errlen, FDSP_E_MISSING, path, key,
                                     "required") : FDSP_OK;
    if (v->kind != V_INT)
        return fdsp__fail(err, errlen, FDSP_E_TYPE, path, key,
                          "must be an integer");
    int64_t x = v->u.i;
    if (x < lo)
        return fdsp__fail(err, errlen, FDSP_E_VALUE, path, key,
                          "must be >= %lld", (long long)lo);
    if (x > hi)
        return fdsp__fail(err, errlen, hi_code, path, key,
                          "must be <= %lld", (long long)hi);
    *out = x;
    return FDSP_OK;
}

static int get_bool(const slot *sl, const char *path, const char *key,
                    int required, int *out, char *err, size_t errlen)
{
    const slot *v = member(sl, required);
    if (v == NULL)
        return required ? fdsp__fail(err, errlen, FDSP_E_MISSING, path, key,
                                     "required") : FDSP_OK;
    if (v->kind != V_TRUE && v->kind != V_FALSE)
        return fdsp__fail(err, errlen, FDSP_E_TYPE, path, key,
                          "must be true or false");
    *out = v->kind == V_TRUE;
    return FDSP_OK;
}

static int get_array(const slot *v, const char *path, const char *key,
                     size_t lo, size_t hi, size_t *n_out, char *err,
                     size_t errlen)
{
    if (v->kind == V_NONE)
        return fdsp__fail(err, errlen, FDSP_E_MISSING, path, key, "required");
    if (v->kind != V_ARR)
        return fdsp__fail(err, errlen, FDSP_E_TYPE, path, key,
                          "must be an array");
    size_t n = (size_t)v->u.i;
    if (n > hi)
        return fdsp__fail(err, errlen, FDSP_E_LIMIT, path, key,
                          "more than %zu entries", hi);
    if (n < lo)
        return fdsp__fail(err, errlen, FDSP_E_VALUE, path, key,
                          "fewer than %zu entries", lo);
    *n_out = n;
    return FDSP_OK;
}

static int read_code(const slot *v, const char *path, int *out,
                     char *err, size_t errlen)
{
    char *name = NULL;
    int rc = get_str(v, path, "code", FDSP__NAME, 1, &name, err, errlen);
    if (rc != FDSP_OK)
        return rc;
    int code = fdsp_errcode(name);
    free(name);
    if (!fdsp__wire_code_ok(code))
        return fdsp__fail(err, errlen, FDSP_E_VALUE, path, "code",
                          "not an error code");
    *out = code;
    return FDSP_OK;
}

static int read_version(const dctx *c, int *out, char *err, size_t errlen)
{
    const slot *v = &c->top[K_V];
    if (v->kind == V_NONE)
        return fdsp__fail(err, errlen, FDSP_E_MISSING, NULL, "v", "required");
    if (v->kind != V_INT)
        return fdsp__fail(err, errlen, FDSP_E_TYPE, NULL, "v",
                          "must be an integer");
    if (v->u.i != FDSP_VERSION)
        return fdsp__fail(err, errlen, FDSP_E_VERSION, NULL, "v",
                          "version %lld is not supported (this side speaks %d)",
                          (long long)v->u.i, FDSP_VERSION);
    *out = FDSP_VERSION;
    return FDSP_OK;
}

static int read_vv(const dctx *c, const elem *e, const char *path,
                   fdsp_vv *out, char *err, size_t errlen)
{
    const slot *j = &e->k[C_VV];
    int rc = fdsp__vv_start(j->kind == V_OBJ,
                            j->kind == V_OBJ ? (size_t)j->u.i : 0,
                            path, out, err, errlen);
    if (rc != FDSP_OK)
        return rc;
    for (size_t i = 0; i < e->vv_n; i++) {
        const vvcap *x = &c->vv[e->vv_at + i];
        char *dev;
        rc = fdsp__vv_entry(x->dev, x->n, x->kind == V_INT, x->i, path, &dev,
                            err, errlen);
        if (rc != FDSP_OK)
            goto fail;
        /* Insertion into strcmp order: a vv is short. */
        size_t k = out->n;
        while (k > 0 && strcmp(out->e[k - 1].device, dev) > 0) {
            out->e[k] = out->e[k - 1];
            k--;
        }
        out->e[k].device = dev;
        out->e[k].counter = (uint64_t)x->i;
        out->n++;
    }
    /* The reader refused duplicate keys already; kept as in change.c. */
    rc = fdsp__vv_no_dup(out, path, err, errlen);
    if (rc != FDSP_OK)
        goto fail;
    return FDSP_OK;
fail:
    fdsp_vv_clear(out);
    return rc;
}

static int read_change(const dctx *c, const elem *e, const char *path,
                       int need_seq, fdsp_change *out, char *err,
                       size_t errlen)
{
    char sub[128];
    uint64_t hlc;
    int rc;
    const slot *k = e->k;

    memset(out, 0, sizeof *out);
    if (e->kind != V_OBJ)
        return fdsp__fail(err, errlen, FDSP_E_TYPE, path, NULL,
                          "change must be an object");
    if ((rc = get_cstr(&k[C_T], path, "t", FDSP__NAME, 1, &out->table, err,
                      errlen)) ||
        (rc = get_cstr(&k[C_R], path, "r", FDSP__ID, 1, &out->record, err,
                      errlen)) ||
        (rc = get_cstr(&k[C_F], path, "f", FDSP__NAME, 1, &out->field, err,
                      errlen)))
        goto fail;

    /* "v" is required but may be null: null clears the field. */
    if (k[C_V].kind == V_NONE) {
        rc = fdsp__fail(err, errlen, FDSP_E_MISSING, path, "v", "required");
        goto fail;
    }
    if (k[C_V].kind != V_NULL &&
        (rc = get_cstr(&k[C_V], path, "v", FDSP__VALUE, 1, &out->value, err,
                      errlen)))
        goto fail;

    if (k[C_VV].kind == V_NONE) {
        rc = fdsp__fail(err, errlen, FDSP_E_MISSING, path, "vv", "required");
        goto fail;
    }
    sub[0] = '\0';
    if (err != NULL && errlen > 0)
        snprintf(sub, sizeof sub, "%s%svv", path, path[0] ? "." : "");
    if ((rc = read_vv(c, e, sub, &out->vv, err, errlen)))
        goto fail;

    if (k[C_H].kind == V_NONE) {
        rc = fdsp__fail(err, errlen, FDSP_E_MISSING, path, "h", "required");
        goto fail;
    }
    if (k[C_H].kind != V_STR) {
        rc = fdsp__fail(err, errlen, FDSP_E_TYPE, path, "h",
                        "must be a string");
        goto fail;
    }
    if (!fdsp__hlc_parse(k[C_H].s, k[C_H].u.n, &hlc)) {
        rc = fdsp__fail(err, errlen, FDSP_E_VALUE, path, "h",
                        "must be 16 lowercase hex digits");
        goto fail;
    }
    out->hlc = hlc;

    if ((rc = get_cstr(&k[C_D], path, "d", FDSP__ID, 1, &out->device, err,
                      errlen)) ||
        (rc = get_cstr(&k[C_U], path, "u", FDSP__ID, 0, &out->user, err,
                      errlen)) ||
        (rc = get_int(&k[C_S], path, "s", need_seq, need_seq ? 1 : 0,
                      FDSP__MAX_INT, FDSP_E_VALUE, &out->seq, err, errlen)) ||
        (rc = get_int(&k[C_AT], path, "at", 0, 0, FDSP__MAX_INT,
                      FDSP_E_VALUE, &out->server_ms, err, errlen)))
        goto fail;
    if (out->user == NULL &&
        (out->user = fdsp__pool_strndup(c->pool, "", 0)) == NULL) {
        rc = fdsp__fail(err, errlen, FDSP_E_NOMEM, path, "u", "out of memory");
        goto fail;
    }
    return FDSP_OK;
fail:
    change_drop(c, out);
    return rc;
}

/* A group entry's "vv" delta, as ref_decode.c's vvd_from_json. */
static int read_vvd(const dctx *c, const elem *e, const char *path,
                    fdsp_vv *out, char *err, size_t errlen)
{
    const slot *j = &e->k[C_VV];
    int rc = fdsp__vvd_start(j->kind == V_OBJ,
                             j->kind == V_OBJ ? (size_t)j->u.i : 0,
                             path, out, err, errlen);
    if (rc != FDSP_OK)
        return rc;
    for (size_t i = 0; i < e->vv_n; i++) {
        const vvcap *x = &c->vv[e->vv_at + i];
        char *dev;
        rc = fdsp__vvd_entry(x->dev, x->n, x->kind == V_INT, x->i, path,
                             &dev, err, errlen);
        if (rc != FDSP_OK) {
            fdsp_vv_clear(out);
            return rc;
        }
        size_t k = out->n;
        while (k > 0 && strcmp(out->e[k - 1].device, dev) > 0) {
            out->e[k] = out->e[k - 1];
            k--;
        }
        out->e[k].device = dev;
        out->e[k].counter = (uint64_t)x->i;
        out->n++;
    }
    return FDSP_OK;
}

/* 1 if the element is a change group: an object with a non-null "g". */
static int is_group(const elem *e)
{
    return e->kind == V_OBJ && e->k[C_G].kind != V_NONE &&
           e->k[C_G].kind != V_NULL;
}

/* Entry k of a group into out (k == 0: out holds the header's vv, h, s,
** at already), after prev; as ref_decode.c's read_entry. */
static int read_entry(const dctx *c, const elem *e, const char *path,
                      size_t k, int need_seq, int64_t sstep,
                      const fdsp_change *prev, fdsp_change *out, char *err,
                      size_t errlen)
{
    static const char *const steps[] = {"vv", "h", "s", "at"};
    static const int step_keys[] = {C_VV, C_H, C_S, C_AT};
    char sub[160];
    int rc;
    if (e->kind != V_OBJ)
        return fdsp__fail(err, errlen, FDSP_E_TYPE, path, NULL,
                          "entry must be an object");
    if ((rc = get_cstr(&e->k[C_F], path, "f", FDSP__NAME, 1, &out->field, err,
                      errlen)))
        return rc;
    if (e->k[C_V].kind == V_NONE)
        return fdsp__fail(err, errlen, FDSP_E_MISSING, path, "v", "required");
    if (e->k[C_V].kind != V_NULL &&
        (rc = get_cstr(&e->k[C_V], path, "v", FDSP__VALUE, 1, &out->value,
                      err, errlen)))
        return rc;
    if (k == 0) {
        for (size_t i = 0; i < 4; i++)
            if (member(&e->k[step_keys[i]], 0) != NULL)
                return fdsp__group_first(path, steps[i], err, errlen);
        return FDSP_OK;
    }
    sub[0] = '\0';
    if (err != NULL && errlen > 0)
        if (snprintf(sub, sizeof sub, "%s.vv", path) >= (int)sizeof sub)
        sub[0] = '\0';      /* cannot happen: paths are short */
    if (member(&e->k[C_VV], 0) != NULL) {
        fdsp_vv delta;
        if ((rc = read_vvd(c, e, sub, &delta, err, errlen)))
            return rc;
        rc = fdsp__group_vv(&prev->vv, prev->device, &delta, sub, &out->vv,
                            err, errlen);
        fdsp_vv_clear(&delta);
    } else {
        rc = fdsp__group_vv(&prev->vv, prev->device, NULL, sub, &out->vv,
                            err, errlen);
    }
    if (rc != FDSP_OK)
        return rc;
    int64_t dh = 1, ds = sstep, dat = 0;
    if ((rc = get_int(&e->k[C_H], path, "h", 0, -FDSP__MAX_STEP,
                      FDSP__MAX_STEP, FDSP_E_VALUE, &dh, err, errlen)) ||
        (rc = fdsp__group_step_h(prev->hlc, dh, path, &out->hlc, err,
                                 errlen)) ||
        (rc = get_int(&e->k[C_S], path, "s", 0, -FDSP__MAX_STEP,
                      FDSP__MAX_STEP, FDSP_E_VALUE, &ds, err, errlen)) ||
        (rc = fdsp__group_step_int(prev->seq, ds, need_seq ? 1 : 0, path,
                                   "s", &out->seq, err, errlen)) ||
        (rc = get_int(&e->k[C_AT], path, "at", 0, -FDSP__MAX_STEP,
                      FDSP__MAX_STEP, FDSP_E_VALUE, &dat, err, errlen)) ||
        (rc = fdsp__group_step_int(prev->server_ms, dat, 0, path, "at",
                                   &out->server_ms, err, errlen)))
        return rc;
    return FDSP_OK;
}

/* A group into out[0..), at most room changes; *n_out how many.  On
** failure every change it wrote is cleared.  As ref_decode.c's. */
static int read_group(const dctx *c, const elem *e, const char *path,
                      int need_seq, size_t room, fdsp_change *out,
                      size_t *n_out, char *err, size_t errlen)
{
    fdsp_change h;
    char sub[160];
    const slot *k = e->k;
    size_t n = 0, done = 0;
    int rc;
    int named = err != NULL && errlen > 0;

    memset(&h, 0, sizeof h);
    if ((rc = get_cstr(&k[C_T], path, "t", FDSP__NAME, 1, &h.table, err,
                      errlen)) ||
        (rc = get_cstr(&k[C_R], path, "r", FDSP__ID, 1, &h.record, err,
                      errlen)) ||
        (rc = get_cstr(&k[C_D], path, "d", FDSP__ID, 1, &h.device, err,
                      errlen)) ||
        (rc = get_cstr(&k[C_U], path, "u", FDSP__ID, 0, &h.user, err,
                      errlen)))
        goto fail;
    if (k[C_VV].kind == V_NONE) {
        rc = fdsp__fail(err, errlen, FDSP_E_MISSING, path, "vv", "required");
        goto fail;
    }
    sub[0] = '\0';
    if (named)
        snprintf(sub, sizeof sub, "%s%svv", path, path[0] ? "." : "");
    if ((rc = read_vv(c, e, sub, &h.vv, err, errlen)))
        goto fail;
    if (k[C_H].kind == V_NONE) {
        rc = fdsp__fail(err, errlen, FDSP_E_MISSING, path, "h", "required");
        goto fail;
    }
    if (k[C_H].kind != V_STR) {
        rc = fdsp__fail(err, errlen, FDSP_E_TYPE, path, "h",
                        "must be a string");
        goto fail;
    }
    if (!fdsp__hlc_parse(k[C_H].s, k[C_H].u.n, &h.hlc)) {
        rc = fdsp__fail(err, errlen, FDSP_E_VALUE, path, "h",
                        "must be 16 lowercase hex digits");
        goto fail;
    }
    if ((rc = get_int(&k[C_S], path, "s", need_seq, need_seq ? 1 : 0,
                      FDSP__MAX_INT, FDSP_E_VALUE, &h.seq, err, errlen)) ||
        (rc = get_int(&k[C_AT], path, "at", 0, 0, FDSP__MAX_INT,
                      FDSP_E_VALUE, &h.server_ms, err, errlen)) ||
        (rc = get_array(&k[C_G], path, "g", 1, FDSP_MAX_GROUP, &n, err,
                        errlen)) ||
        (rc = fdsp__group_room(n, room, path, "g", err, errlen)))
        goto fail;
    if (h.user == NULL &&
        (h.user = fdsp__pool_strndup(c->pool, "", 0)) == NULL) {
        rc = fdsp__fail(err, errlen, FDSP_E_NOMEM, path, "u", "out of memory");
        goto fail;
    }
    int64_t sstep = fdsp__group_sstep(h.seq);
    for (size_t i = 0; i < n; i++) {
        fdsp_change *x = &out[i];
        memset(x, 0, sizeof *x);
        done = i + 1;
        if (i == 0) {
            x->hlc = h.hlc;
            x->seq = h.seq;
            x->server_ms = h.server_ms;
            if (fdsp_vv_copy(&x->vv, &h.vv) != FDSP_OK) {
                rc = fdsp__fail(err, errlen, FDSP_E_NOMEM, path, NULL,
                                "out of memory");
                goto fail;
            }
        }
        if (named)
            snprintf(sub, sizeof sub, "%s%sg[%zu]", path, path[0] ? "." : "",
                     i);
        if ((rc = read_entry(c, &c->el[A_ENTRIES][e->ent_at + i], sub, i,
                             need_seq, sstep, i > 0 ? &out[i - 1] : NULL, x,
                             err, errlen)))
            goto fail;
        if (c->pool != NULL) {
            /* one copy of the group's strings for all of its changes */
            x->table = h.table;
            x->record = h.record;
            x->device = h.device;
            x->user = h.user;
        } else if (
            (x->table = fdsp__strndup(h.table, strlen(h.table))) == NULL ||
            (x->record = fdsp__strndup(h.record, strlen(h.record))) == NULL ||
            (x->device = fdsp__strndup(h.device, strlen(h.device))) == NULL ||
            (x->user = fdsp__strndup(h.user, strlen(h.user))) == NULL) {
            rc = fdsp__fail(err, errlen, FDSP_E_NOMEM, sub, NULL,
                            "out of memory");
            goto fail;
        }
    }
    change_drop(c, &h);
    *n_out = n;
    return FDSP_OK;
fail:
    for (size_t i = 0; i < done; i++)
        change_drop(c, &out[i]);
    change_drop(c, &h);
    return rc;
}

static int read_changes(const dctx *c, fdsp_msg *m, size_t lo, int need_seq,
                        char *err, size_t errlen)
{
    char path[32];
    size_t n = 0;
    int rc = get_array(&c->top[K_CHANGES], NULL, "changes", lo,
                       FDSP_MAX_BATCH, &n, err, errlen);
    if (rc != FDSP_OK)
        return rc;
    if (n == 0)
        return FDSP_OK;
    /* Room for the changes the groups stand for, as ref_decode.c. */
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const elem *e = &c->el[A_CHANGES][i];
        total += is_group(e) && e->k[C_G].kind == V_ARR
            ? (size_t)e->k[C_G].u.i : 1;
    }
    if (total > FDSP_MAX_BATCH)
        total = FDSP_MAX_BATCH;
    m->changes = calloc(total > 0 ? total : 1, sizeof *m->changes);
    if (m->changes == NULL)
        return fdsp__fail(err, errlen, FDSP_E_NOMEM, NULL, "changes",
                          "out of memory");
    for (size_t i = 0; i < n; i++) {
        const elem *e = &c->el[A_CHANGES][i];
        size_t room = FDSP_MAX_BATCH - m->n_changes;
        /* Formatting the path costs more than checking a change: check
        ** without an error line, and only a refused change again with one
        ** (the checks are pure, so the second run refuses the same way). */
        if (is_group(e)) {
            size_t got = 0;
            rc = read_group(c, e, "", need_seq, room,
                            &m->changes[m->n_changes], &got, NULL, 0);
            if (rc != FDSP_OK) {
                /* Refused again, now with a line (or, after an allocation
                ** failed, perhaps taken this time). */
                snprintf(path, sizeof path, "changes[%zu]", i);
                rc = read_group(c, e, path, need_seq, room,
                                &m->changes[m->n_changes], &got, err,
                                errlen);
                if (rc != FDSP_OK)
                    return rc;
            }
            m->n_changes += got;
            continue;
        }
        if (room == 0) {
            snprintf(path, sizeof path, "changes[%zu]", i);
            return fdsp__group_room(1, 0, path, NULL, err, errlen);
        }
        rc = read_change(c, e, "", need_seq, &m->changes[m->n_changes],
                         NULL, 0);
        if (rc != FDSP_OK) {
            snprintf(path, sizeof path, "changes[%zu]", i);
            rc = read_change(c, e, path, need_seq, &m->changes[m->n_changes],
                             err, errlen);
            if (rc != FDSP_OK)
                return rc;
        }
        m->n_changes++;
    }
    return FDSP_OK;
}

static int read_refused(const dctx *c, fdsp_msg *m, char *err, size_t errlen)
{
    char path[32];
    size_t n = 0;
    int rc = get_array(&c->top[K_REFUSED], NULL, "refused", 0,
                       FDSP_MAX_BATCH, &n, err, errlen);
    if (rc != FDSP_OK)
        return rc;
    if (n == 0)
        return FDSP_OK;
    m->refused = calloc(n, sizeof *m->refused);
    if (m->refused == NULL)
        return fdsp__fail(err, errlen, FDSP_E_NOMEM, NULL, "refused",
                          "out of memory");
    for (size_t i = 0; i < n; i++) {
        const elem *e = &c->el[A_REFUSED][i];
        fdsp_refusal *f = &m->refused[i];
        int64_t idx = 0;
        snprintf(path, sizeof path, "refused[%zu]", i);
        m->n_refused = i + 1;
        if (e->kind != V_OBJ)
            return fdsp__fail(err, errlen, FDSP_E_TYPE, path, NULL,
                              "must be an object");
        /* An index past any possible batch is a bad value, not a limit. */
        if ((rc = get_int(&e->k[R_I], path, "i", 1, 0, FDSP_MAX_BATCH - 1,
                          FDSP_E_VALUE, &idx, err, errlen)) ||
            (rc = read_code(&e->k[R_CODE], path, &f->code, err, errlen)) ||
            (rc = get_str(&e->k[R_MESSAGE], path, "message", FDSP__TEXT, 1,
                          &f->message, err, errlen)))
            return rc;
        f->index = (size_t)idx;
    }
    return FDSP_OK;
}

static int read_records(const dctx *c, fdsp_msg *m, char *err, size_t errlen)
{
    char path[32];
    size_t n = 0;
    int rc = get_array(&c->top[K_RECORDS], NULL, "records", 1,
                       FDSP_MAX_REVOKE, &n, err, errlen);
    if (rc != FDSP_OK)
        return rc;
    m->records = calloc(n, sizeof *m->records);
    if (m->records == NULL)
        return fdsp__fail(err, errlen, FDSP_E_NOMEM, NULL, "records",
                          "out of memory");
    for (size_t i = 0; i < n; i++) {
        const elem *e = &c->el[A_RECORDS][i];
        fdsp_record_ref *ref = &m->records[i];
        snprintf(path, sizeof path, "records[%zu]", i);
        m->n_records = i + 1;
        if (e->kind != V_OBJ)
            return fdsp__fail(err, errlen, FDSP_E_TYPE, path, NULL,
                              "must be an object");
        if ((rc = get_str(&e->k[C_T], path, "t", FDSP__NAME, 1, &ref->table,
                          err, errlen)) ||
            (rc = get_str(&e->k[C_R], path, "r", FDSP__ID, 1, &ref->record,
                          err, errlen)))
            return rc;
    }
    return FDSP_OK;
}

/* The optional trust members of hello and welcome, as ref_decode.c. */
static int read_trust(const dctx *c, fdsp_msg *m, char *err, size_t errlen)
{
    const slot *o = c->top;
    int rc;
    if ((rc = get_int(&o[K_COUNTER], NULL, "counter", 0, 0, FDSP__MAX_INT,
                      FDSP_E_VALUE, &m->dev_counter, err, errlen)) ||
        (rc = get_str(&o[K_STORE], NULL, "store", FDSP__ID, 0, &m->store,
                      err, errlen)) ||
        (rc = get_int(&o[K_EPOCH], NULL, "epoch", 0, 0, FDSP__MAX_INT,
                      FDSP_E_VALUE, &m->epoch, err, errlen)))
        return rc;
    return FDSP_OK;
}

static int read_stamps(const dctx *c, fdsp_msg *m, char *err, size_t errlen)
{
    char path[32];
    size_t n = 0;
    if (member(&c->top[K_STAMPS], 0) == NULL)
        return FDSP_OK;
    int rc = get_array(&c->top[K_STAMPS], NULL, "stamps", 0, FDSP_MAX_BATCH,
                       &n, err, errlen);
    if (rc != FDSP_OK)
        return rc;
    if (n == 0)
        return FDSP_OK;
    m->stamps = calloc(n, sizeof *m->stamps);
    if (m->stamps == NULL)
        return fdsp__fail(err, errlen, FDSP_E_NOMEM, NULL, "stamps",
                          "out of memory");
    for (size_t i = 0; i < n; i++) {
        const elem *e = &c->el[A_STAMPS][i];
        fdsp_stamp *st = &m->stamps[i];
        const slot *h = &e->k[S_H];
        int64_t idx = 0;
        snprintf(path, sizeof path, "stamps[%zu]", i);
        m->n_stamps = i + 1;
        if (e->kind != V_OBJ)
            return fdsp__fail(err, errlen, FDSP_E_TYPE, path, NULL,
                              "must be an object");
        if ((rc = get_int(&e->k[S_I], path, "i", 1, 0, FDSP_MAX_BATCH - 1,
                          FDSP_E_VALUE, &idx, err, errlen)))
            return rc;
        st->index = (size_t)idx;
        if (h->kind == V_NONE)
            return fdsp__fail(err, errlen, FDSP_E_MISSING, path, "h",
                              "required");
        if (h->kind != V_STR)
            return fdsp__fail(err, errlen, FDSP_E_TYPE, path, "h",
                              "must be a string");
        if (!fdsp__hlc_parse(h->s, h->u.n, &st->hlc))
            return fdsp__fail(err, errlen, FDSP_E_VALUE, path, "h",
                              "must be 16 lowercase hex digits");
    }
    return FDSP_OK;
}

/* ack "notices", as ref_decode.c. */
static int read_notices(const dctx *c, fdsp_msg *m, char *err, size_t errlen)
{
    char path[32];
    size_t n = 0;
    if (member(&c->top[K_NOTICES], 0) == NULL)
        return FDSP_OK;
    int rc = get_array(&c->top[K_NOTICES], NULL, "notices", 0, FDSP_MAX_BATCH,
                       &n, err, errlen);
    if (rc != FDSP_OK)
        return rc;
    if (n == 0)
        return FDSP_OK;
    m->notices = calloc(n, sizeof *m->notices);
    if (m->notices == NULL)
        return fdsp__fail(err, errlen, FDSP_E_NOMEM, NULL, "notices",
                          "out of memory");
    for (size_t i = 0; i < n; i++) {
        const elem *e = &c->el[A_NOTICES][i];
        fdsp_notice *x = &m->notices[i];
        int64_t idx = 0;
        snprintf(path, sizeof path, "notices[%zu]", i);
        m->n_notices = i + 1;
        if (e->kind != V_OBJ)
            return fdsp__fail(err, errlen, FDSP_E_TYPE, path, NULL,
                              "must be an object");
        if ((rc = get_int(&e->k[N_I], path, "i", 1, 0, FDSP_MAX_BATCH - 1,
                          FDSP_E_VALUE, &idx, err, errlen)) ||
            (rc = get_str(&e->k[N_KIND], path, "kind", FDSP__NAME, 1,
                          &x->kind, err, errlen)) ||
            (rc = get_str(&e->k[N_F], path, "f", FDSP__NAME, 1, &x->field,
                          err, errlen)) ||
            (rc = get_str(&e->k[N_OWNER], path, "owner", FDSP__ID, 0,
                          &x->owner, err, errlen)))
            return rc;
        x->index = (size_t)idx;
    }
    return FDSP_OK;
}

static int read_sums(const dctx *c, fdsp_msg *m, char *err, size_t errlen)
{
    char path[32];
    size_t n = 0;
    int rc = get_array(&c->top[K_BUCKETS], NULL, "buckets", FDSP_SUM_BUCKETS,
                       FDSP_SUM_BUCKETS, &n, err, errlen);
    if (rc != FDSP_OK)
        return rc;
    m->sums = calloc(FDSP_SUM_BUCKETS, sizeof *m->sums);
    if (m->sums == NULL)
        return fdsp__fail(err, errlen, FDSP_E_NOMEM, NULL, "buckets",
                          "out of memory");
    m->n_sums = FDSP_SUM_BUCKETS;
    for (size_t i = 0; i < FDSP_SUM_BUCKETS; i++) {
        const slot *v = &c->el[A_BUCKETS][i].k[0];
        snprintf(path, sizeof path, "buckets[%zu]", i);
        if (v->kind != V_STR)
            return fdsp__fail(err, errlen, FDSP_E_TYPE, path, NULL,
                              "must be a string");
        if (!fdsp__hlc_parse(v->s, v->u.n, &m->sums[i]))
            return fdsp__fail(err, errlen, FDSP_E_VALUE, path, NULL,
                              "must be 16 lowercase hex digits");
    }
    return FDSP_OK;
}

static int read_repair(const dctx *c, fdsp_msg *m, char *err, size_t errlen)
{
    char path[32];
    size_t n = 0;
    int rc = get_array(&c->top[K_BUCKETS], NULL, "buckets", 0,
                       FDSP_SUM_BUCKETS, &n, err, errlen);
    if (rc != FDSP_OK)
        return rc;
    if (n == 0)
        return FDSP_OK;
    m->buckets = calloc(n, sizeof *m->buckets);
    if (m->buckets == NULL)
        return fdsp__fail(err, errlen, FDSP_E_NOMEM, NULL, "buckets",
                          "out of memory");
    for (size_t i = 0; i < n; i++) {
        const slot *v = &c->el[A_BUCKETS][i].k[0];
        snprintf(path, sizeof path, "buckets[%zu]", i);
        m->n_buckets = i + 1;
        if (v->kind != V_INT)
            return fdsp__fail(err, errlen, FDSP_E_TYPE, path, NULL,
                              "must be an integer");
        if (v->u.i < 0)
            return fdsp__fail(err, errlen, FDSP_E_VALUE, path, NULL,
                              "must be >= 0");
        if (v->u.i > FDSP_SUM_BUCKETS - 1)
            return fdsp__fail(err, errlen, FDSP_E_VALUE, path, NULL,
                              "must be <= %d", FDSP_SUM_BUCKETS - 1);
        m->buckets[i] = (int)v->u.i;
    }
    return FDSP_OK;
}

/* blob_put / blob_ack / blob_get / blob_data (PROTOCOL.md §14), members
** read in the order ref_decode.c reads them. */
static int read_blob(const dctx *c, fdsp_msg *m, char *err, size_t errlen)
{
    const slot *o = c->top;
    int sized = m->type == FDSP_BLOB_PUT || m->type == FDSP_BLOB_DATA;
    int coded = m->type == FDSP_BLOB_ACK || m->type == FDSP_BLOB_DATA;
    int rc;
    const slot *v = member(&o[K_SHA], 1);
    if (v == NULL)
        return fdsp__fail(err, errlen, FDSP_E_MISSING, NULL, "sha",
                          "required");
    if (v->kind != V_STR)
        return fdsp__fail(err, errlen, FDSP_E_TYPE, NULL, "sha",
                          "must be a string");
    if ((rc = fdsp__read_sha(v->s, v->u.n, &m->sha, err, errlen)))
        return rc;
    if (sized &&
        (rc = get_int(&o[K_SIZE], NULL, "size", 1, 0, FDSP_MAX_BLOB,
                      FDSP_E_LIMIT, &m->size, err, errlen)))
        return rc;
    if ((rc = get_int(&o[K_OFFSET], NULL, "offset", 1, 0, FDSP_MAX_BLOB,
                      FDSP_E_LIMIT, &m->offset, err, errlen)))
        return rc;
    if (sized) {
        v = member(&o[K_DATA], 1);
        if (v == NULL)
            return fdsp__fail(err, errlen, FDSP_E_MISSING, NULL, "data",
                              "required");
        if (v->kind != V_STR)
            return fdsp__fail(err, errlen, FDSP_E_TYPE, NULL, "data",
                              "must be a string");
        if ((rc = fdsp__read_data(v->s, v->u.n, &m->data, &m->n_data, err,
                                  errlen)))
            return rc;
    }
    if (coded && member(&o[K_CODE], 0) != NULL) {
        if ((rc = read_code(&o[K_CODE], NULL, &m->code, err, errlen)) ||
            (rc = get_str(&o[K_MESSAGE], NULL, "message", FDSP__TEXT, 1,
                          &m->message, err, errlen)))
            return rc;
    }
    return fdsp__blob_fits(m, err, errlen);
}

static int read_body(const dctx *c, fdsp_msg *m, char *err, size_t errlen)
{
    const slot *o = c->top;
    int64_t x = 0;
    int rc;
    switch (m->type) {
    case FDSP_HELLO:
        if ((rc = read_version(c, &m->version, err, errlen)) ||
            (rc = get_str(&o[K_DEVICE], NULL, "device", FDSP__ID, 1,
                          &m->device, err, errlen)) ||
            (rc = get_int(&o[K_CURSOR], NULL, "cursor", 1, 0, FDSP__MAX_INT,
                          FDSP_E_VALUE, &m->cursor, err, errlen)) ||
            (rc = read_trust(c, m, err, errlen)) ||
            (rc = get_str(&o[K_CLIENT], NULL, "client", FDSP__TEXT, 0,
                          &m->client, err, errlen)) ||
            (rc = get_bool(&o[K_LIVE], NULL, "live", 0, &m->live, err,
                           errlen)) ||
            (rc = get_bool(&o[K_GROUPS], NULL, "groups", 0, &m->groups, err,
                           errlen)) ||
            (rc = get_bool(&o[K_BLOBS], NULL, "blobs", 0, &m->blobs, err,
                           errlen)))
            return rc;
        return FDSP_OK;
    case FDSP_WELCOME:
        if ((rc = read_version(c, &m->version, err, errlen)) ||
            (rc = get_str(&o[K_USER], NULL, "user", FDSP__ID, 1, &m->user,
                          err, errlen)) ||
            (rc = get_str(&o[K_ROLE], NULL, "role", FDSP__TEXT, 1, &m->role,
                          err, errlen)) ||
            (rc = get_str(&o[K_DEVICE], NULL, "device", FDSP__ID, 1,
                          &m->device, err, errlen)) ||
            (rc = get_int(&o[K_HEAD], NULL, "head", 1, 0, FDSP__MAX_INT,
                          FDSP_E_VALUE, &m->head, err, errlen)) ||
            (rc = read_trust(c, m, err, errlen)) ||
            (rc = get_int(&o[K_TIME], NULL, "time", 0, 0, FDSP__MAX_INT,
                          FDSP_E_VALUE, &m->server_time, err, errlen)) ||
            (rc = get_bool(&o[K_GROUPS], NULL, "groups", 0, &m->groups, err,
                           errlen)) ||
            (rc = get_bool(&o[K_BLOBS], NULL, "blobs", 0, &m->blobs, err,
                           errlen)))
            return rc;
        return FDSP_OK;
    case FDSP_PUSH:
        if ((rc = get_int(&o[K_BATCH], NULL, "batch", 1, 0, FDSP__MAX_INT,
                          FDSP_E_VALUE, &m->batch, err, errlen)))
            return rc;
        return read_changes(c, m, 1, 0, err, errlen);
    case FDSP_ACK:
        if ((rc = get_int(&o[K_BATCH], NULL, "batch", 1, 0, FDSP__MAX_INT,
                          FDSP_E_VALUE, &m->batch, err, errlen)) ||
            (rc = get_int(&o[K_ACCEPTED], NULL, "accepted", 1, 0,
                          FDSP_MAX_BATCH, FDSP_E_LIMIT, &x, err, errlen)))
            return rc;
        m->accepted = (size_t)x;
        if ((rc = read_refused(c, m, err, errlen)))
            return rc;
        if ((rc = read_stamps(c, m, err, errlen)))
            return rc;
        return read_notices(c, m, err, errlen);
    case FDSP_PULL:
        if ((rc = get_int(&o[K_AFTER], NULL, "after", 1, 0, FDSP__MAX_INT,
                          FDSP_E_VALUE, &m->after, err, errlen)) ||
            (rc = get_int(&o[K_LIMIT], NULL, "limit", 1, 1, FDSP_MAX_BATCH,
                          FDSP_E_LIMIT, &x, err, errlen)))
            return rc;
        m->limit = (int)x;
        return FDSP_OK;
    case FDSP_CHANGES:
        if ((rc = get_int(&o[K_AFTER], NULL, "after", 0, 0, FDSP__MAX_INT,
                          FDSP_E_VALUE, &m->after, err, errlen)) ||
            (rc = read_changes(c, m, 0, 1, err, errlen)) ||
            (rc = get_int(&o[K_LAST], NULL, "last", 1, 0, FDSP__MAX_INT,
                          FDSP_E_VALUE, &m->last, err, errlen)) ||
            (rc = get_bool(&o[K_MORE], NULL, "more", 1, &m->more, err,
                           errlen)))
            return rc;
        return FDSP_OK;
    case FDSP_REVOKE:
        return read_records(c, m, err, errlen);
    case FDSP_NOTIFY:
        return get_int(&o[K_HEAD], NULL, "head", 1, 0, FDSP__MAX_INT,
                       FDSP_E_VALUE, &m->head, err, errlen);
    case FDSP_ERROR:
        if ((rc = read_code(&o[K_CODE], NULL, &m->code, err, errlen)) ||
            (rc = get_str(&o[K_MESSAGE], NULL, "message", FDSP__TEXT, 1,
                          &m->message, err, errlen)) ||
            (rc = get_int(&o[K_BATCH], NULL, "batch", 0, 0, FDSP__MAX_INT,
                          FDSP_E_VALUE, &m->batch, err, errlen)) ||
            (rc = get_bool(&o[K_FATAL], NULL, "fatal", 0, &m->fatal, err,
                           errlen)))
            return rc;
        return FDSP_OK;
    case FDSP_SUMS:
        return read_sums(c, m, err, errlen);
    case FDSP_REPAIR:
        return read_repair(c, m, err, errlen);
    case FDSP_BLOB_PUT:
    case FDSP_BLOB_ACK:
    case FDSP_BLOB_GET:
    case FDSP_BLOB_DATA:
        return read_blob(c, m, err, errlen);
    }
    return fdsp__fail(err, errlen, FDSP_E_UNKNOWN_TYPE, NULL, "type",
                      "unknown message type");
}

static int find_type(const dctx *c, fdsp_type *out, char *err, size_t errlen)
{
    const slot *t = &c->top[K_TYPE];
    if (t->kind == V_NONE)
        return fdsp__fail(err, errlen, FDSP_E_MISSING, NULL, "type",
                          "required");
    if (t->kind != V_STR)
        return fdsp__fail(err, errlen, FDSP_E_TYPE, NULL, "type",
                          "must be a string");
    for (int i = FDSP_HELLO; i <= FDSP_TYPE_LAST; i++) {
        const char *name = fdsp_typename(i);
        if (strlen(name) == t->u.n && memcmp(name, t->s, t->u.n) == 0) {
            *out = (fdsp_type)i;
            return FDSP_OK;
        }
    }
    return fdsp__fail(err, errlen, FDSP_E_UNKNOWN_TYPE, NULL, "type",
                      "unknown message type");
}

static void dctx_free(dctx *c)
{
    free(c->scratch);
    for (int a = 0; a < A__N; a++)
        free(c->el[a]);
    free(c->vv);
    free(c->ht);
}

static int decode(const char *buf, size_t len, fdsp_msg **out,
                  char *err, size_t errlen, int pooled)
{
    fdsp_type type = FDSP_HELLO;
    int rc;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (out == NULL)
        return fdsp__fail(err, errlen, FDSP_E_VALUE, NULL, NULL, "no output");
    *out = NULL;
    if (buf == NULL) {
        buf = "";
        len = 0;
    }
    if (len > FDSP_MAX_FRAME)
        return fdsp__fail(err, errlen, FDSP_E_TOOBIG, NULL, NULL,
                          "message of %zu bytes is over FDSP_MAX_FRAME (%d)",
                          len, FDSP_MAX_FRAME);

    dctx c;
    memset(&c, 0, sizeof c);
    c.b = (const unsigned char *)buf;
    c.len = len;
    c.rc = FDSP_OK;
    c.err = err;
    c.errlen = errlen;

    /* A scalar or array at the top is parsed like anything else (so its
    ** JSON errors win) and then refused as the wrong type. */
    tok t;
    int is_obj = lex(&c, &t) == '{';
    int r = is_obj ? parse_top_object(&c, &t) : parse_value(&c, &t, NULL);
    if (r == 0 && lex(&c, &t) != T_EOF && t.t != T_ERR)
        jerr(&c, FDSP_E_JSON, c.pos, "end of file expected");
    if (c.rc != FDSP_OK) {
        dctx_free(&c);
        /* The reference's pre-scan ran first: too deep beats all else. */
        if (!fdsp__depth_ok(buf, len, FDSP_MAX_DEPTH))
            return fdsp__fail(err, errlen, FDSP_E_DEPTH, NULL, NULL,
                              "nesting deeper than FDSP_MAX_DEPTH (%d)",
                              FDSP_MAX_DEPTH);
        return c.rc;
    }
    if (!is_obj) {
        dctx_free(&c);
        return fdsp__fail(err, errlen, FDSP_E_TYPE, NULL, NULL,
                          "message must be a JSON object");
    }
    rc = find_type(&c, &type, err, errlen);
    if (rc != FDSP_OK) {
        dctx_free(&c);
        return rc;
    }
    fdsp_msg *m = fdsp_msg_new(type);
    if (m == NULL) {
        dctx_free(&c);
        return fdsp__fail(err, errlen, FDSP_E_NOMEM, NULL, NULL,
                          "out of memory");
    }
    c.pool = pooled ? &m->pool : NULL;
    rc = read_body(&c, m, err, errlen);
    dctx_free(&c);
    if (rc != FDSP_OK) {
        fdsp_msg_free(m);
        return rc;
    }
    *out = m;
    return FDSP_OK;
}

int fdsp_decode(const char *buf, size_t len, fdsp_msg **out,
                char *err, size_t errlen)
{
    return decode(buf, len, out, err, errlen, 0);
}

int fdsp_decode_pooled(const char *buf, size_t len, fdsp_msg **out,
                       char *err, size_t errlen)
{
    return decode(buf, len, out, err, errlen, 1);
}
