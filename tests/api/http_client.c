/*
** http_client.c — see http_client.h.  Sends "Connection: close" and reads
** the response up to its Content-Length.
*/
#include "http_client.h"

#include <ctype.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rawws.h"

static int send_all(SSL *ssl, const char *buf, size_t len)
{
    while (len) {
        int n = SSL_write(ssl, buf, (int)len);
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

ta_resp ta_request(int port, const char *ca, const char *method,
                   const char *path, const char *headers, const char *body)
{
    ta_resp r = {-1, NULL, NULL, 0};
    rw_conn c;
    if (rw_connect(&c, port, ca, 0) != 0) {
        rw_close(&c);
        return r;
    }
    size_t blen = body ? strlen(body) : 0;
    size_t cap = strlen(path) + (headers ? strlen(headers) : 0) + blen + 256;
    char *req = malloc(cap);
    int n = snprintf(req, cap, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                     "Connection: close\r\n%sContent-Length: %zu\r\n\r\n",
                     method, path, port, headers ? headers : "", blen);
    if (body)
        memcpy(req + n, body, blen);
    int ok = send_all(c.ssl, req, (size_t)n + blen) == 0;
    free(req);
    size_t got = 0, room = 8192;
    char *buf = malloc(room);
    long want = -1;
    char *hend = NULL;
    while (ok) {
        if (got + 4096 >= room) {
            /* hend points into buf: move it with the block */
            size_t off = hend ? (size_t)(hend - buf) : 0;
            buf = realloc(buf, room *= 2);
            if (hend)
                hend = buf + off;
        }
        int k = SSL_read(c.ssl, buf + got, 4096);
        if (k <= 0)
            break;
        got += (size_t)k;
        buf[got] = '\0';
        if (!hend && (hend = strstr(buf, "\r\n\r\n"))) {
            /* Lowercase the status line's protocol and each header name. */
            int in_name = 1;
            for (char *p = buf; p < hend; p++) {
                if (*p == '\n')
                    in_name = 1;
                else if (*p == ':' || *p == ' ')
                    in_name = 0;
                if (in_name)
                    *p = (char)tolower((unsigned char)*p);
            }
            char *cl = strstr(buf, "\r\ncontent-length:");
            want = cl ? strtol(cl + 17, NULL, 10) : -1;
        }
        if (hend && want >= 0 && got - (size_t)(hend + 4 - buf) >= (size_t)want)
            break;
    }
    rw_close(&c);
    if (!hend) {
        free(buf);
        return r;
    }
    size_t hlen = (size_t)(hend - buf);
    r.headers = malloc(hlen + 1);
    memcpy(r.headers, buf, hlen);
    r.headers[hlen] = '\0';
    r.len = got - hlen - 4;
    r.body = malloc(r.len + 1);
    memcpy(r.body, hend + 4, r.len);
    r.body[r.len] = '\0';
    sscanf(buf, "http/1.1 %d", &r.status);
    free(buf);
    return r;
}

void ta_resp_free(ta_resp *r)
{
    free(r->headers);
    free(r->body);
    memset(r, 0, sizeof *r);
}

const char *ta_header(const ta_resp *r, const char *name, char *buf, size_t cap)
{
    char key[128];
    snprintf(key, sizeof key, "\r\n%s:", name);
    const char *p = r->headers ? strstr(r->headers, key) : NULL;
    if (!p)
        return NULL;
    p += strlen(key);
    while (*p == ' ')
        p++;
    size_t n = strcspn(p, "\r\n");
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return buf;
}
