/*
** rawws.c — see rawws.h.
*/
#include "rawws.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

int rw_connect(rw_conn *c, int port, const char *ca, int max_version)
{
    memset(c, 0, sizeof *c);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {10, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        return -1;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    c->ctx = ctx;
    if (!ctx || SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1)
        return -1;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_min_proto_version(ctx, 0);
    if (max_version) {
        /* Old protocol versions need the lowest security level to be
        ** offered at all by OpenSSL 3. */
        SSL_CTX_set_security_level(ctx, 0);
        SSL_CTX_set_max_proto_version(ctx, max_version);
    }
    SSL *ssl = SSL_new(ctx);
    c->ssl = ssl;
    SSL_set_fd(ssl, c->fd);
    SSL_set1_host(ssl, "127.0.0.1");
    if (SSL_connect(ssl) != 1) {
        ERR_clear_error();
        return -1;
    }
    return 0;
}

void rw_close(rw_conn *c)
{
    if (c->ssl)
        SSL_free(c->ssl);
    if (c->ctx)
        SSL_CTX_free(c->ctx);
    if (c->fd > 0)
        close(c->fd);
    memset(c, 0, sizeof *c);
}

static int write_all(rw_conn *c, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    while (len) {
        int n = SSL_write(c->ssl, p, (int)(len > 65536 ? 65536 : len));
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int read_all(rw_conn *c, void *buf, size_t len)
{
    unsigned char *p = buf;
    while (len) {
        int n = SSL_read(c->ssl, p, (int)len);
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Read an HTTP response head (and for GET the body up to len). */
static int read_head(rw_conn *c, char *buf, size_t len)
{
    size_t used = 0;
    while (used + 1 < len) {
        int n = SSL_read(c->ssl, buf + used, 1);
        if (n <= 0)
            break;
        used++;
        buf[used] = '\0';
        if (used >= 4 && memcmp(buf + used - 4, "\r\n\r\n", 4) == 0)
            break;
    }
    buf[used] = '\0';
    int status = -1;
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
        return -1;
    return status;
}

int rw_get(rw_conn *c, const char *path, char *buf, size_t len)
{
    char req[512];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
             "Connection: close\r\n\r\n", path);
    if (write_all(c, req, strlen(req)) != 0)
        return -1;
    int status = read_head(c, buf, len);
    size_t used = strlen(buf);
    int n;
    while (used + 1 < len && (n = SSL_read(c->ssl, buf + used, (int)(len - used - 1))) > 0)
        used += (size_t)n;
    buf[used] = '\0';
    return status;
}

int rw_upgrade(rw_conn *c, const char *token, const char *subprotocol)
{
    return rw_upgrade_path(c, "/", token, subprotocol);
}

int rw_upgrade_path(rw_conn *c, const char *path, const char *token,
                    const char *subprotocol)
{
    char req[1536], hdr[256] = "", proto[128] = "", resp[4096];
    if (token)
        snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\n", token);
    if (subprotocol)
        snprintf(proto, sizeof proto, "Sec-WebSocket-Protocol: %s\r\n",
                 subprotocol);
    snprintf(req, sizeof req,
             "GET %.400s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
             "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n%s%s\r\n", path,
             hdr, proto);
    if (write_all(c, req, strlen(req)) != 0)
        return -1;
    return read_head(c, resp, sizeof resp);
}

int rw_send_frame(rw_conn *c, int opcode, int fin, const void *buf, size_t len)
{
    unsigned char head[14], mask[4];
    size_t h = 0;
    head[h++] = (unsigned char)((fin ? 0x80 : 0) | (opcode & 15));
    if (len < 126) {
        head[h++] = (unsigned char)(0x80 | len);
    } else if (len < 65536) {
        head[h++] = 0x80 | 126;
        head[h++] = (unsigned char)(len >> 8);
        head[h++] = (unsigned char)len;
    } else {
        head[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            head[h++] = (unsigned char)((uint64_t)len >> (8 * i));
    }
    RAND_bytes(mask, 4);
    memcpy(head + h, mask, 4);
    h += 4;
    unsigned char *p = malloc(len ? len : 1);
    for (size_t i = 0; i < len; i++)
        p[i] = ((const unsigned char *)buf)[i] ^ mask[i & 3];
    int rc = write_all(c, head, h);
    if (rc == 0)
        rc = write_all(c, p, len);
    free(p);
    return rc;
}

int rw_send(rw_conn *c, const char *text)
{
    return rw_send_frame(c, 1, 1, text, strlen(text));
}

int rw_recv(rw_conn *c, char **out, size_t *outlen)
{
    char *msg = NULL;
    size_t used = 0;
    int msg_op = -1;
    for (;;) {
        unsigned char h[2];
        if (read_all(c, h, 2) != 0)
            break;
        int fin = h[0] & 0x80, op = h[0] & 15;
        uint64_t len = h[1] & 0x7f;
        unsigned char ext[8];
        if (len == 126) {
            if (read_all(c, ext, 2) != 0)
                break;
            len = ((uint64_t)ext[0] << 8) | ext[1];
        } else if (len == 127) {
            if (read_all(c, ext, 8) != 0)
                break;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = (len << 8) | ext[i];
        }
        char *p = malloc(len + 1);
        if (!p || (len && read_all(c, p, len) != 0)) {
            free(p);
            break;
        }
        if (op == 9) { /* ping: answer and go on */
            rw_send_frame(c, 10, 1, p, len);
            free(p);
            continue;
        }
        if (op == 10) {
            free(p);
            continue;
        }
        if (op != 0)
            msg_op = op;
        char *grown = realloc(msg, used + len + 1);
        if (!grown) {
            free(p);
            break;
        }
        msg = grown;
        memcpy(msg + used, p, len);
        used += len;
        msg[used] = '\0';
        free(p);
        if (fin || op == 8) {
            *out = msg;
            *outlen = used;
            return msg_op;
        }
    }
    free(msg);
    *out = NULL;
    *outlen = 0;
    return -1;
}
