/*
** token.h — device tokens.  A token is 256 random bits from OpenSSL's
** CSPRNG, shown once as "fs_" + 64 lowercase hex digits.  The server keeps
** only its SHA-256 hash (looked up by hash, then compared with
** CRYPTO_memcmp) and a public token id ("tk_" + 16 hex digits) used to list
** and revoke it.
*/
#ifndef FSV_TOKEN_H
#define FSV_TOKEN_H

#include "errors.h"

#include <stddef.h>

#define FSV_TOKEN_PREFIX   "fs_"
#define FSV_TOKEN_BYTES    32                       /* 256 bits */
#define FSV_TOKEN_LEN      (3 + 2 * FSV_TOKEN_BYTES) /* printed length */
#define FSV_TOKEN_HASH     32                       /* SHA-256 */
#define FSV_TOKEN_ID_LEN   (3 + 16)

/* New token text into token[FSV_TOKEN_LEN + 1], its hash into hash, and a
** new token id into id[FSV_TOKEN_ID_LEN + 1].  FSV_OK, or FSV_ERROR if the
** CSPRNG (or the digest) failed. */
int fsv_token_new(char *token, unsigned char hash[FSV_TOKEN_HASH], char *id);

/* Hash of a presented token.  FSV_OK; FSV_INVALID if it is not of the
** token shape (wrong prefix/length/characters): such a token can never
** match, and refusing it early keeps junk out of the lookup. */
int fsv_token_hash(const char *token, unsigned char hash[FSV_TOKEN_HASH]);

/* Constant-time equality of two hashes (CRYPTO_memcmp). */
int fsv_token_hash_equal(const unsigned char *a, const unsigned char *b);

#endif /* FSV_TOKEN_H */
