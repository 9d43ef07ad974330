/*
** test_tls.c — the TLS profiles (server.h FSV_TLS_*) as a scanner sees
** them on the real server: Mozilla's intermediate profile by default (TLS
** 1.2 and 1.3 only, AEAD ciphers only in 1.2) and `--tls-profile modern`
** (TLS 1.3 only).
**
** Two independent views:
**   - sslscan (Debian's package, scripts/setup.sh) enumerates every
**     protocol and cipher the server accepts; any CBC (non-AEAD) cipher or
**     protocol older than TLS 1.2 fails the test.  sslscan rather than
**     testssl.sh: a full testssl.sh run takes minutes per profile (see
**     docs/SERVER.md, TLS), sslscan under a second, and both enumerate the
**     same handshakes.
**   - our own OpenSSL probes: one handshake per obsolete cipher the issue
**     named (ECDHE-ECDSA-AES256-SHA and friends) and per old protocol, at
**     security level 0 so the client side is never what refuses; and a
**     control handshake that must succeed, so a broken probe cannot pass.
*/
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

static int teardown(void **state)
{
    th_server *s = *state;
    alarm(0);
    if (s) {
        th_cleanup(s);
        free(s);
    }
    return 0;
}

static th_server *start(const char *profile)
{
    th_server *s = calloc(1, sizeof *s);
    assert_non_null(s);
    alarm(120);
    th_init(s);
    if (profile)
        th_start(s, "--tls-profile", profile, NULL);
    else
        th_start(s, NULL);
    return s;
}

/* One TLS handshake with 127.0.0.1:port limited to versions [minv, maxv]
** and, when non-NULL, the TLS 1.2 cipher list c12 / TLS 1.3 suites c13.
** 1 if the handshake completed, 0 if it failed.  Security level 0: the
** client offers anything, so only the server can say no. */
static int probe(int port, int minv, int maxv, const char *c12, const char *c13)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(ctx);
    SSL_CTX_set_security_level(ctx, 0);
    assert_int_equal(SSL_CTX_set_min_proto_version(ctx, minv), 1);
    assert_int_equal(SSL_CTX_set_max_proto_version(ctx, maxv), 1);
    if (c12)
        assert_int_equal(SSL_CTX_set_cipher_list(ctx, c12), 1);
    if (c13)
        assert_int_equal(SSL_CTX_set_ciphersuites(ctx, c13), 1);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    SSL *ssl = SSL_new(ctx);
    assert_non_null(ssl);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, "localhost");
    int ok = SSL_connect(ssl) == 1;
    ERR_clear_error();
    SSL_free(ssl);
    close(fd);
    SSL_CTX_free(ctx);
    return ok;
}

/* sslscan's report for the server; malloc'd. */
static char *sslscan(int port)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "sslscan --no-colour 127.0.0.1:%d 2>&1", port);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    size_t n;
    while ((n = fread(out + len, 1, cap - 1 - len, p)) > 0)
        len += n;
    out[len] = '\0';
    int rc = pclose(p);
    if (rc != 0 || !strstr(out, "Supported Server Cipher"))
        fail_msg("sslscan failed (exit %d; it is installed by"
                 " scripts/setup.sh):\n%s", rc, out);
    return out;
}

/* Is cipher name an AEAD cipher (GCM, ChaCha20-Poly1305 or CCM)? */
static int aead(const char *name)
{
    return strstr(name, "GCM") || strstr(name, "CHACHA20") ||
           strstr(name, "CCM");
}

/* Walk sslscan's report: fail on any protocol below TLS 1.2 enabled or any
** accepted non-AEAD cipher; count the accepted ciphers per version. */
static void check_scan(const char *out, int *n12, int *n13)
{
    static const char *const old[] = {"SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1"};
    *n12 = *n13 = 0;
    for (const char *line = out; line && *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        char buf[512];
        snprintf(buf, sizeof buf, "%.*s", (int)(len < 511 ? len : 511), line);
        for (size_t i = 0; i < sizeof old / sizeof old[0]; i++) {
            size_t k = strlen(old[i]);
            if (strncmp(buf, old[i], k) == 0 && buf[k] == ' ' &&
                strstr(buf, "enabled"))
                fail_msg("obsolete protocol offered: %s", buf);
        }
        char kind[16], proto[16], bits[16], unit[16], name[128];
        if (sscanf(buf, "%15s %15s %15s %15s %127s", kind, proto, bits, unit,
                   name) == 5 &&
            (strcmp(kind, "Accepted") == 0 || strcmp(kind, "Preferred") == 0)) {
            if (strcmp(proto, "TLSv1.2") == 0)
                (*n12)++;
            else if (strcmp(proto, "TLSv1.3") == 0)
                (*n13)++;
            else
                fail_msg("cipher offered over an obsolete protocol: %s", buf);
            if (!aead(name))
                fail_msg("non-AEAD (CBC) cipher offered: %s", buf);
        }
        line = nl ? nl + 1 : NULL;
    }
}

/* The obsolete ciphers the issue found offered, and more of their kind. */
static const char *const cbc[] = {
    "ECDHE-ECDSA-AES256-SHA",    "ECDHE-ECDSA-AES128-SHA",
    "ECDHE-ECDSA-AES256-SHA384", "ECDHE-ECDSA-AES128-SHA256",
    "ECDHE-RSA-AES128-SHA",      "AES128-SHA",
    "AES256-SHA256",             "AES128-GCM-SHA256",   /* no forward secrecy */
    "ECDHE-ECDSA-CAMELLIA256-SHA384",
};

static void test_intermediate(void **state)
{
    th_server *s = *state = start(NULL);
    int n12, n13;
    char *out = sslscan(s->port);
    check_scan(out, &n12, &n13);
    free(out);
    assert_true(n12 >= 2);      /* AES-GCM and ChaCha20 over 1.2 */
    assert_int_equal(n13, 3);   /* the three TLS 1.3 suites */

    /* Control: an AEAD suite over 1.2, and 1.3, complete. */
    assert_int_equal(probe(s->port, TLS1_2_VERSION, TLS1_2_VERSION,
                           "ECDHE-ECDSA-AES128-GCM-SHA256", NULL), 1);
    assert_int_equal(probe(s->port, TLS1_2_VERSION, TLS1_2_VERSION,
                           "ECDHE-ECDSA-CHACHA20-POLY1305", NULL), 1);
    assert_int_equal(probe(s->port, TLS1_3_VERSION, TLS1_3_VERSION, NULL,
                           "TLS_CHACHA20_POLY1305_SHA256"), 1);
    for (size_t i = 0; i < sizeof cbc / sizeof cbc[0]; i++)
        if (probe(s->port, TLS1_2_VERSION, TLS1_2_VERSION, cbc[i], NULL))
            fail_msg("the server accepted %s over TLS 1.2", cbc[i]);
    /* Older protocols, with the ciphers they could use. */
    assert_int_equal(probe(s->port, TLS1_VERSION, TLS1_VERSION,
                           "ALL:@SECLEVEL=0", NULL), 0);
    assert_int_equal(probe(s->port, TLS1_1_VERSION, TLS1_1_VERSION,
                           "ALL:@SECLEVEL=0", NULL), 0);
}

static void test_modern(void **state)
{
    th_server *s = *state = start("modern");
    int n12, n13;
    char *out = sslscan(s->port);
    check_scan(out, &n12, &n13);
    free(out);
    assert_int_equal(n12, 0);
    assert_int_equal(n13, 3);
    assert_int_equal(probe(s->port, TLS1_2_VERSION, TLS1_2_VERSION,
                           "ECDHE-ECDSA-AES128-GCM-SHA256", NULL), 0);
    assert_int_equal(probe(s->port, TLS1_3_VERSION, TLS1_3_VERSION, NULL,
                           NULL), 1);
    /* A device syncs over it (libwebsockets' client speaks 1.3). */
    fds_replica *r = th_replica(s, "dev");
    free(th_customer(r, "客户甲"));
    assert_int_equal(th_sync(s, r, s->admin, NULL), 0);
    assert_int_equal(th_history_count(s) > 0, 1);
    fds_replica_close(r);
}

static void test_bad_profile(void **state)
{
    th_server *s = calloc(1, sizeof *s);
    assert_non_null(s);
    *state = s;
    th_init(s);
    char out[256];
    assert_int_equal(th_admin(s, out, sizeof out, "serve", "--tls-profile",
                              "old", NULL), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_intermediate, teardown),
        cmocka_unit_test_teardown(test_modern, teardown),
        cmocka_unit_test_teardown(test_bad_profile, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
