/*
** metrics_token.c — the /metrics scraper's token (metrics_token.h).
*/
#include "metrics_token.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"

#define HASH_HEX 64

static void hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

/* SHA-256 of s in hex into out[HASH_HEX + 1]; 0 or -1. */
static int hash_hex(const char *s, size_t len, char *out)
{
    unsigned char md[32];
    unsigned int n = 0;
    if (EVP_Digest(s, len, md, &n, EVP_sha256(), NULL) != 1 || n != 32)
        return -1;
    hex(md, 32, out);
    return 0;
}

static int file_path(char *buf, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(buf, cap, "%s/%s", dir, name);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

int fsv_metrics_token_new(const char *dir, char *token, char *err,
                          size_t errlen)
{
    unsigned char raw[32];
    char h[HASH_HEX + 2], path[4200], tmp[4200];
    if (file_path(path, sizeof path, dir, FSV_METRICS_TOKEN_FILE) ||
        file_path(tmp, sizeof tmp, dir, FSV_METRICS_TOKEN_FILE ".new")) {
        snprintf(err, errlen, "data folder path too long");
        return FSV_ERROR;
    }
    if (RAND_bytes(raw, sizeof raw) != 1) {
        snprintf(err, errlen, "cannot generate a token: the random generator"
                 " failed");
        return FSV_ERROR;
    }
    memcpy(token, FSV_METRICS_TOKEN_PREFIX, 4);
    hex(raw, sizeof raw, token + 4);
    OPENSSL_cleanse(raw, sizeof raw);
    if (hash_hex(token, FSV_METRICS_TOKEN_LEN, h) != 0) {
        snprintf(err, errlen, "cannot hash the token");
        return FSV_ERROR;
    }
    h[HASH_HEX] = '\n';
    h[HASH_HEX + 1] = '\0';
    /* Write beside, then rename over: a scrape never reads half a file. */
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
        return FSV_ERROR;
    }
    ssize_t w = write(fd, h, HASH_HEX + 1);
    int sync_rc = fsync(fd);
    if (close(fd) != 0 || w != HASH_HEX + 1 || sync_rc != 0 ||
        rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return FSV_ERROR;
    }
    return FSV_OK;
}

int fsv_metrics_token_check(const char *dir, const char *presented,
                            int *configured)
{
    char path[4200], want[HASH_HEX + 2], got[HASH_HEX + 1];
    *configured = 0;
    if (!dir || file_path(path, sizeof path, dir, FSV_METRICS_TOKEN_FILE))
        return 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, want, sizeof want);
    close(fd);
    if (n < HASH_HEX)
        return 0;
    want[HASH_HEX] = '\0';
    *configured = 1;
    if (!presented || strlen(presented) != FSV_METRICS_TOKEN_LEN ||
        strncmp(presented, FSV_METRICS_TOKEN_PREFIX, 4) != 0)
        return 0;
    if (hash_hex(presented, FSV_METRICS_TOKEN_LEN, got) != 0)
        return 0;
    return CRYPTO_memcmp(got, want, HASH_HEX) == 0;
}
