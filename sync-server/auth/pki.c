/*
** pki.c — private CA and server certificate generation with OpenSSL 3.
*/
#include "pki.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CA_DAYS     3650
#define SERVER_DAYS 825

static int fail(char *err, size_t errlen, const char *what)
{
    unsigned long e = ERR_get_error();
    char ossl[256] = "";
    if (e)
        ERR_error_string_n(e, ossl, sizeof ossl);
    snprintf(err, errlen, "%s%s%s", what, ossl[0] ? ": " : "", ossl);
    ERR_clear_error();
    return FSV_ERROR;
}

static EVP_PKEY *new_key(void)
{
    return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

/* Random positive 159-bit serial, as RFC 5280 allows up to 20 octets. */
static int set_serial(X509 *x)
{
    unsigned char buf[20];
    if (RAND_bytes(buf, sizeof buf) != 1)
        return FSV_ERROR;
    buf[0] &= 0x7f;
    BIGNUM *bn = BN_bin2bn(buf, sizeof buf, NULL);
    if (!bn)
        return FSV_ERROR;
    ASN1_INTEGER *ai = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
    BN_free(bn);
    return ai ? FSV_OK : FSV_ERROR;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ex)
        return FSV_ERROR;
    int ok = X509_add_ext(cert, ex, -1);
    X509_EXTENSION_free(ex);
    return ok == 1 ? FSV_OK : FSV_ERROR;
}

static X509 *new_cert(EVP_PKEY *key, const char *cn, long days)
{
    X509 *x = X509_new();
    if (!x)
        return NULL;
    X509_NAME *name = X509_get_subject_name(x);
    if (X509_set_version(x, 2) != 1 || set_serial(x) != FSV_OK ||
        !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
        /* notBefore is back-dated an hour (clock skew): the whole span
        ** stays `days`.  Apple's platforms refuse a TLS server certificate
        ** valid for more than 825 days (SERVER_DAYS), and testssl.sh rates
        ** 825 days and an hour a finding. */
        !X509_gmtime_adj(X509_getm_notAfter(x), days * 24L * 3600L - 3600) ||
        X509_set_pubkey(x, key) != 1 ||
        X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                   (const unsigned char *)"fieldsync", -1, -1,
                                   0) != 1 ||
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                   (const unsigned char *)cn, -1, -1, 0) != 1) {
        X509_free(x);
        return NULL;
    }
    return x;
}

/* Append "DNS:name" or "IP:addr" to the SAN list in buf. */
static int san_append(char *buf, size_t cap, const char *name)
{
    unsigned char tmp[16];
    const char *kind = "DNS";
    if (!name[0] || strpbrk(name, ",\n\r") != NULL)
        return FSV_ERROR;
    if (inet_pton(AF_INET, name, tmp) == 1 || inet_pton(AF_INET6, name, tmp) == 1)
        kind = "IP";
    size_t used = strlen(buf);
    int n = snprintf(buf + used, cap - used, "%s%s:%s", used ? "," : "", kind,
                     name);
    return (n < 0 || (size_t)n >= cap - used) ? FSV_INVALID : FSV_OK;
}

/* Write a PEM file with the given mode, replacing any existing one. */
static int write_pem(const char *dir, const char *file, mode_t mode,
                     EVP_PKEY *key, X509 *cert, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return FSV_ERROR;
    }
    fchmod(fd, mode); /* umask must not widen or narrow what we chose */
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return FSV_ERROR;
    }
    int ok = key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL)
                 : PEM_write_X509(f, cert);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0)
        ok = 0;
    if (fclose(f) != 0)
        ok = 0;
    if (ok != 1) {
        snprintf(err, errlen, "cannot write %s", path);
        return FSV_ERROR;
    }
    return FSV_OK;
}

int fsv_pki_create(const char *dir, const char *const *sans, size_t n_sans,
                   char *err, size_t errlen)
{
    EVP_PKEY *ca_key = NULL, *srv_key = NULL;
    X509 *ca = NULL, *srv = NULL;
    int rc = FSV_ERROR;
    char san[4096] = "";

    ca_key = new_key();
    srv_key = new_key();
    if (!ca_key || !srv_key) {
        fail(err, errlen, "cannot generate EC P-256 keys");
        goto out;
    }

    /* The CA: self-signed, may sign certificates and nothing else. */
    ca = new_cert(ca_key, "fieldsync private CA", CA_DAYS);
    if (!ca || X509_set_issuer_name(ca, X509_get_subject_name(ca)) != 1 ||
        add_ext(ca, ca, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
        add_ext(ca, ca, NID_key_usage, "critical,keyCertSign,cRLSign") ||
        add_ext(ca, ca, NID_subject_key_identifier, "hash") ||
        X509_sign(ca, ca_key, EVP_sha256()) <= 0) {
        fail(err, errlen, "cannot build the CA certificate");
        goto out;
    }

    for (size_t i = 0; i < n_sans; i++) {
        if (san_append(san, sizeof san, sans[i]) != FSV_OK) {
            snprintf(err, errlen, "bad or too many subject names (at \"%s\")",
                     sans[i]);
            goto out;
        }
    }
    srv = new_cert(srv_key, n_sans ? sans[0] : "fieldsync-server", SERVER_DAYS);
    if (!srv || X509_set_issuer_name(srv, X509_get_subject_name(ca)) != 1 ||
        add_ext(srv, ca, NID_basic_constraints, "critical,CA:FALSE") ||
        add_ext(srv, ca, NID_key_usage, "critical,digitalSignature,keyAgreement") ||
        add_ext(srv, ca, NID_ext_key_usage, "serverAuth") ||
        add_ext(srv, ca, NID_subject_key_identifier, "hash") ||
        add_ext(srv, ca, NID_authority_key_identifier, "keyid:always") ||
        (san[0] && add_ext(srv, ca, NID_subject_alt_name, san)) ||
        X509_sign(srv, ca_key, EVP_sha256()) <= 0) {
        fail(err, errlen, "cannot build the server certificate");
        goto out;
    }

    if (write_pem(dir, "ca.key", 0600, ca_key, NULL, err, errlen) ||
        write_pem(dir, "ca.pem", 0600, NULL, ca, err, errlen) ||
        write_pem(dir, "server.key", 0600, srv_key, NULL, err, errlen) ||
        write_pem(dir, "server.pem", 0600, NULL, srv, err, errlen))
        goto out;
    rc = FSV_OK;
out:
    X509_free(ca);
    X509_free(srv);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(srv_key);
    return rc;
}

int fsv_pki_check_key_mode(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "cannot read private key %s: %s", path,
                 strerror(errno));
        return FSV_ERROR;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        snprintf(err, errlen,
                 "private key %s is accessible by group or others (mode %03o);"
                 " run: chmod 600 %s", path, (unsigned)(st.st_mode & 0777), path);
        return FSV_ERROR;
    }
    return FSV_OK;
}
