/*
** http.c — the plain HTTPS side of the port (protocols[0]).  Today: a
** small page at "/" and 404 everywhere else; the dashboard and JSON API
** issue grows this file.  WebSocket upgrades never bind here: devices name
** the sync subprotocol, and an upgrade without it is refused.
*/
#include <string.h>

#include "server.h"

static const char index_page[] =
    "<!doctype html>\n"
    "<html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<title>fieldsync</title></head>\n"
    "<body><h1>fieldsync server</h1>\n"
    "<p>The sync service is running. Devices connect with "
    "<code>fieldsync init --server wss://HOST:PORT --token TOKEN --ca ca.pem</code>.</p>\n"
    "<p>The central-office dashboard is not installed in this build.</p>\n"
    "</body></html>\n";

static int finish(struct lws *wsi)
{
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

int fsv_http_callback(struct lws *wsi, enum lws_callback_reasons reason,
                      void *user, void *in, size_t len)
{
    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        /* A WebSocket upgrade that named no (known) subprotocol. */
        return -1;

    case LWS_CALLBACK_HTTP: {
        unsigned char buf[LWS_PRE + 1024];
        unsigned char *start = &buf[LWS_PRE], *p = start;
        unsigned char *end = &buf[sizeof buf - 1];
        const char *uri = in;

        if (!uri || strcmp(uri, "/") != 0) {
            if (lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL))
                return -1;
            return finish(wsi);
        }
        if (lws_add_http_common_headers(wsi, HTTP_STATUS_OK,
                                        "text/html; charset=utf-8",
                                        sizeof index_page - 1, &p, end) ||
            lws_finalize_write_http_header(wsi, start, &p, end))
            return -1;
        lws_callback_on_writable(wsi);
        return 0;
    }

    case LWS_CALLBACK_HTTP_WRITEABLE: {
        unsigned char buf[LWS_PRE + sizeof index_page];
        memcpy(buf + LWS_PRE, index_page, sizeof index_page - 1);
        if (lws_write(wsi, buf + LWS_PRE, sizeof index_page - 1,
                      LWS_WRITE_HTTP_FINAL) != (int)(sizeof index_page - 1))
            return -1;
        return finish(wsi);
    }

    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}
