/*
** blob.c — the pure helpers of blob messages (PROTOCOL.md §14): SHA-256
** (FIPS 180-4) for blob names and base64 (RFC 4648, with padding) for the
** bytes inside JSON.  Shared by both codecs and by device and server, so
** every side names and carries bytes the same way.
*/
#include "proto_internal.h"

#include <string.h>

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
    0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
    0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
    0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void block(fdsp_sha256 *c, const unsigned char *p)
{
    uint32_t w[64], a, b, d, e, f, g, h, cc;
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    a = c->h[0]; b = c->h[1]; cc = c->h[2]; d = c->h[3];
    e = c->h[4]; f = c->h[5]; g = c->h[6]; h = c->h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) +
                      ((e & f) ^ (~e & g)) + K[i] + w[i];
        uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) +
                      ((a & b) ^ (a & cc) ^ (b & cc));
        h = g; g = f; f = e; e = d + t1;
        d = cc; cc = b; b = a; a = t1 + t2;
    }
    c->h[0] += a; c->h[1] += b; c->h[2] += cc; c->h[3] += d;
    c->h[4] += e; c->h[5] += f; c->h[6] += g; c->h[7] += h;
}

void fdsp_sha256_init(fdsp_sha256 *c)
{
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372,
                                   0xa54ff53a, 0x510e527f, 0x9b05688c,
                                   0x1f83d9ab, 0x5be0cd19};
    memcpy(c->h, iv, sizeof iv);
    c->n = 0;
    c->used = 0;
}

void fdsp_sha256_update(fdsp_sha256 *c, const void *data, size_t n)
{
    const unsigned char *p = data;
    c->n += n;
    while (n > 0) {
        if (c->used == 0 && n >= 64) {
            block(c, p);
            p += 64;
            n -= 64;
            continue;
        }
        size_t k = 64 - c->used < n ? 64 - c->used : n;
        memcpy(c->buf + c->used, p, k);
        c->used += k;
        p += k;
        n -= k;
        if (c->used == 64) {
            block(c, c->buf);
            c->used = 0;
        }
    }
}

void fdsp_sha256_final(fdsp_sha256 *c, unsigned char out[32])
{
    uint64_t bits = c->n * 8;
    unsigned char pad = 0x80, zero = 0, len[8];
    fdsp_sha256_update(c, &pad, 1);
    while (c->used != 56)
        fdsp_sha256_update(c, &zero, 1);
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)(bits >> (56 - 8 * i));
    fdsp_sha256_update(c, len, 8);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (unsigned char)(c->h[i] >> 24);
        out[4 * i + 1] = (unsigned char)(c->h[i] >> 16);
        out[4 * i + 2] = (unsigned char)(c->h[i] >> 8);
        out[4 * i + 3] = (unsigned char)c->h[i];
    }
}

void fdsp_sha256_hex(const unsigned char d[32], char out[FDSP_SHA256_HEX + 1])
{
    static const char hx[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hx[d[i] >> 4];
        out[2 * i + 1] = hx[d[i] & 15];
    }
    out[FDSP_SHA256_HEX] = '\0';
}

int fdsp__sha_okn(const char *s, size_t n)
{
    if (s == NULL || n != FDSP_SHA256_HEX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

int fdsp_sha_ok(const char *s)
{
    return s != NULL && fdsp__sha_okn(s, strlen(s));
}

/* ---- base64 ---------------------------------------------------------------- */

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t fdsp__b64_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

void fdsp__b64_encode(const unsigned char *p, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? b64[v & 63] : '=';
    }
}

static int b64v(unsigned char ch)
{
    if (ch >= 'A' && ch <= 'Z') return ch - 'A';
    if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9') return ch - '0' + 52;
    if (ch == '+') return 62;
    if (ch == '/') return 63;
    return -1;
}

/* Canonical base64 only (padding required, unused bits zero), so one
** byte string has one wire form and both codecs agree on every input. */
int fdsp__b64_decode(const char *s, size_t n, unsigned char *out,
                     size_t *outn)
{
    size_t o = 0;
    if (n % 4 != 0)
        return -1;
    for (size_t i = 0; i < n; i += 4) {
        int last = i + 4 == n;
        int v[4];
        for (int k = 0; k < 4; k++) {
            unsigned char ch = (unsigned char)s[i + k];
            v[k] = ch == '=' ? -2 : b64v(ch);
            if (v[k] == -1)
                return -1;
        }
        if (v[0] < 0 || v[1] < 0)
            return -1;
        if (v[2] == -2 && v[3] != -2)
            return -1;
        if ((v[2] == -2 || v[3] == -2) && !last)
            return -1;
        uint32_t x = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12;
        out[o++] = (unsigned char)(x >> 16);
        if (v[2] == -2) {
            if (v[1] & 15)
                return -1;
            continue;
        }
        x |= (uint32_t)v[2] << 6;
        out[o++] = (unsigned char)(x >> 8);
        if (v[3] == -2) {
            if (v[2] & 3)
                return -1;
            continue;
        }
        x |= (uint32_t)v[3];
        out[o++] = (unsigned char)x;
    }
    *outn = o;
    return 0;
}

/* Shared check of a blob message's members (the encoder's rules; the
** decoders report the same codes with the member named). */
int fdsp__check_blob(const fdsp_msg *m)
{
    if (!fdsp_sha_ok(m->sha))
        return m->sha == NULL ? FDSP_E_MISSING : FDSP_E_VALUE;
    if (m->size < 0 || m->offset < 0)
        return FDSP_E_VALUE;
    if (m->size > FDSP_MAX_BLOB || m->offset > FDSP_MAX_BLOB)
        return FDSP_E_LIMIT;
    if (m->n_data > FDSP_BLOB_CHUNK)
        return FDSP_E_LIMIT;
    if (m->n_data > 0 && m->data == NULL)
        return FDSP_E_VALUE;
    if (m->code != 0) {
        if (!fdsp__wire_code_ok(m->code))
            return FDSP_E_VALUE;
        int rc = fdsp__check_cstr(m->message, FDSP__TEXT, 1);
        if (rc != FDSP_OK)
            return rc;
    }
    if (m->type == FDSP_BLOB_PUT || m->type == FDSP_BLOB_DATA) {
        if (m->offset > m->size ||
            (int64_t)m->n_data > m->size - m->offset)
            return FDSP_E_VALUE;
        if (m->type == FDSP_BLOB_PUT && m->code != 0)
            return FDSP_E_VALUE;
    } else if (m->n_data > 0 || m->size != 0) {
        return FDSP_E_VALUE;        /* ack / get carry no data or size */
    }
    if (m->type == FDSP_BLOB_GET && m->code != 0)
        return FDSP_E_VALUE;
    return FDSP_OK;
}

int fdsp__read_sha(const char *s, size_t n, char **out, char *err,
                   size_t errlen)
{
    if (!fdsp__sha_okn(s, n))
        return fdsp__fail(err, errlen, FDSP_E_VALUE, NULL, "sha",
                          "must be 64 lowercase hex digits (SHA-256)");
    if ((*out = fdsp__strndup(s, n)) == NULL)
        return fdsp__fail(err, errlen, FDSP_E_NOMEM, NULL, "sha",
                          "out of memory");
    return FDSP_OK;
}

int fdsp__read_data(const char *s, size_t n, unsigned char **out,
                    size_t *outn, char *err, size_t errlen)
{
    *out = NULL;
    *outn = 0;
    if (n > fdsp__b64_len(FDSP_BLOB_CHUNK))
        return fdsp__fail(err, errlen, FDSP_E_LIMIT, NULL, "data",
                          "more than FDSP_BLOB_CHUNK (%d) bytes",
                          FDSP_BLOB_CHUNK);
    if (n == 0)
        return FDSP_OK;
    unsigned char *p = malloc(n / 4 * 3);
    if (p == NULL)
        return fdsp__fail(err, errlen, FDSP_E_NOMEM, NULL, "data",
                          "out of memory");
    if (fdsp__b64_decode(s, n, p, outn) != 0) {
        free(p);
        *outn = 0;
        return fdsp__fail(err, errlen, FDSP_E_VALUE, NULL, "data",
                          "must be canonical base64");
    }
    if (*outn > FDSP_BLOB_CHUNK) {
        free(p);
        *outn = 0;
        return fdsp__fail(err, errlen, FDSP_E_LIMIT, NULL, "data",
                          "more than FDSP_BLOB_CHUNK (%d) bytes",
                          FDSP_BLOB_CHUNK);
    }
    *out = p;
    return FDSP_OK;
}

int fdsp__blob_fits(const fdsp_msg *m, char *err, size_t errlen)
{
    if ((m->type == FDSP_BLOB_PUT || m->type == FDSP_BLOB_DATA) &&
        (m->offset > m->size ||
         (int64_t)m->n_data > m->size - m->offset))
        return fdsp__fail(err, errlen, FDSP_E_VALUE, NULL, "data",
                          "runs past the blob's size");
    return FDSP_OK;
}

void fdsp_utf8_trim(char *s)
{
    size_t n = strlen(s), i = n;
    while (i > 0 && ((unsigned char)s[i - 1] & 0xc0) == 0x80)
        i--;                            /* back to the sequence's lead */
    if (i == 0)
        return;
    unsigned char c = (unsigned char)s[i - 1];
    size_t need = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    if (n - (i - 1) < need)
        s[i - 1] = '\0';
}
