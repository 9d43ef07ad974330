/*
** token.c — device token generation and hashing (OpenSSL).
*/
#include "token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>

static void hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int sha256(const void *data, size_t len, unsigned char out[FSV_TOKEN_HASH])
{
    unsigned int n = 0;
    if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1 ||
        n != FSV_TOKEN_HASH)
        return FSV_ERROR;
    return FSV_OK;
}

int fsv_token_new(char *token, unsigned char hash[FSV_TOKEN_HASH], char *id)
{
    unsigned char raw[FSV_TOKEN_BYTES], rid[8];

    if (RAND_bytes(raw, sizeof raw) != 1 || RAND_bytes(rid, sizeof rid) != 1)
        return FSV_ERROR;
    memcpy(token, FSV_TOKEN_PREFIX, 3);
    hex(raw, sizeof raw, token + 3);
    memcpy(id, "tk_", 3);
    hex(rid, sizeof rid, id + 3);
    OPENSSL_cleanse(raw, sizeof raw);
    return sha256(token, FSV_TOKEN_LEN, hash);
}

int fsv_token_hash(const char *token, unsigned char hash[FSV_TOKEN_HASH])
{
    if (!token || strlen(token) != FSV_TOKEN_LEN ||
        strncmp(token, FSV_TOKEN_PREFIX, 3) != 0)
        return FSV_INVALID;
    for (size_t i = 3; i < FSV_TOKEN_LEN; i++) {
        char c = token[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return FSV_INVALID;
    }
    return sha256(token, FSV_TOKEN_LEN, hash);
}

int fsv_token_hash_equal(const unsigned char *a, const unsigned char *b)
{
    return CRYPTO_memcmp(a, b, FSV_TOKEN_HASH) == 0;
}
