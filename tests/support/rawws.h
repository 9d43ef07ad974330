/*
** rawws.h — a deliberately dumb blocking TLS + WebSocket client for tests:
** it sends exactly the bytes a test asks for (bad JSON, oversized or
** fragmented messages, requests without a token), which a real client
** library would refuse to produce.  Everything times out after 10 s.
*/
#ifndef TH_RAWWS_H
#define TH_RAWWS_H

#include <stddef.h>

typedef struct rw_conn {
    int fd;
    void *ctx;      /* SSL_CTX */
    void *ssl;      /* SSL */
} rw_conn;

/* TCP + TLS to 127.0.0.1:port trusting only ca; max_version 0 = any, else
** e.g. TLS1_1_VERSION.  0 on success, -1 if the connection or handshake
** failed. */
int rw_connect(rw_conn *c, int port, const char *ca, int max_version);
void rw_close(rw_conn *c);

/* GET path; returns the HTTP status, body (NUL-terminated) into buf. */
int rw_get(rw_conn *c, const char *path, char *buf, size_t len);

/* WebSocket upgrade; token/subprotocol may be NULL (header left out).
** Returns the HTTP status (101 on success), -1 if the server hung up. */
int rw_upgrade(rw_conn *c, const char *token, const char *subprotocol);
/* The same for path (with its query). */
int rw_upgrade_path(rw_conn *c, const char *path, const char *token,
                    const char *subprotocol);

/* One frame (masked, as a client must).  opcode 1 text, 0 continuation. */
int rw_send_frame(rw_conn *c, int opcode, int fin, const void *buf, size_t len);
/* A whole text message in one frame. */
int rw_send(rw_conn *c, const char *text);

/* Next whole message (continuations joined; pings answered).  Returns its
** opcode (1 text, 8 close: *buf holds the 2-byte status first) with a
** malloc'd NUL-terminated *buf, or -1 on timeout/EOF. */
int rw_recv(rw_conn *c, char **buf, size_t *len);

#endif /* TH_RAWWS_H */
