/*
** http_client.h — one HTTPS/1.1 request to the test server over the raw
** TLS connection of tests/support/rawws.c (CA pinned, 10 s timeouts).
*/
#ifndef TA_HTTP_CLIENT_H
#define TA_HTTP_CLIENT_H

#include <stddef.h>

typedef struct ta_resp {
    int status;             /* -1 if the exchange failed */
    char *headers;          /* raw header block, lowercased names */
    char *body;             /* NUL-terminated (may hold NULs before) */
    size_t len;
} ta_resp;

/* method, path, extra header lines ("Name: value\r\n"..., may be NULL),
** body (may be NULL). */
ta_resp ta_request(int port, const char *ca, const char *method,
                   const char *path, const char *headers, const char *body);
void ta_resp_free(ta_resp *r);
/* Value of header `name` (lowercase, no colon) into buf; NULL if absent. */
const char *ta_header(const ta_resp *r, const char *name, char *buf, size_t cap);

#endif /* TA_HTTP_CLIENT_H */
