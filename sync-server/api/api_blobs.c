/*
** api_blobs.c — GET /api/blobs/SHA256: a photo's bytes for the dashboard,
** under the sync rule (sync_blobs.c fsv_blob_access): the caller must be
** able to see a follow-up that names it.  Not visible and not there give
** the same 404, so nothing is learnt about photos one may not see.
** Thumbnails are made in the browser (web/app.js); the server never
** decodes an image.
*/
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "log.h"
#include "sync_blobs.h"

/* A media type by magic number, from a fixed set (the response holds a
** static string); anything else is served as bytes to download. */
static const char *sniff(const unsigned char *h, size_t n)
{
    if (n >= 3 && h[0] == 0xff && h[1] == 0xd8 && h[2] == 0xff)
        return "image/jpeg";
    if (n >= 8 && memcmp(h, "\x89PNG\r\n\x1a\n", 8) == 0)
        return "image/png";
    if (n >= 6 && (memcmp(h, "GIF87a", 6) == 0 || memcmp(h, "GIF89a", 6) == 0))
        return "image/gif";
    if (n >= 12 && memcmp(h, "RIFF", 4) == 0 && memcmp(h + 8, "WEBP", 4) == 0)
        return "image/webp";
    return "application/octet-stream";
}

void fsv_api_blob(fsv_api *api, const fsv_user *u, const char *sha,
                  fsv_resp *resp)
{
    fsv_store *st = api->srv->store;
    const char *dir = api->srv->data_dir;
    char path[4200], name[128];
    int may = 0;
    int64_t size = -1, total = 0;
    if (!fdsp_sha_ok(sha)) {
        fsv_resp_error(resp, 400, "a photo is named by its SHA-256 (64 "
                       "lowercase hex digits)");
        return;
    }
    int rc = fsv_store_begin_read(st);
    if (rc == FSV_OK)
        rc = fsv_blob_access(st, u, sha, &may, &size, &total, name,
                             sizeof name);
    fsv_store_rollback(st);
    if (rc != FSV_OK) {
        fsv_resp_error(resp, 500, "server storage failure");
        return;
    }
    struct stat sb;
    if (!may || !dir || fsv_blob_path(dir, sha, path, sizeof path) != 0 ||
        stat(path, &sb) != 0) {
        fsv_resp_error(resp, 404, may ? "this photo has not reached the "
                       "server yet" : "no such photo");
        return;
    }
    size_t n = (size_t)sb.st_size;
    char *buf = malloc(n ? n : 1);
    int fd = open(path, O_RDONLY);
    size_t got = 0;
    while (buf && fd >= 0 && got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    if (fd >= 0)
        close(fd);
    if (!buf || got != n) {
        free(buf);
        fsv_resp_error(resp, 500, "cannot read the photo");
        return;
    }
    resp->status = 200;
    resp->ctype = sniff((const unsigned char *)buf, n);
    resp->body = buf;
    resp->len = n;
    /* Content-addressed: the bytes of this URL never change. */
    fsv_resp_header(resp, "etag:", sha);
}
