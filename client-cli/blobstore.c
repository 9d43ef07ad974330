/*
** blobstore.c — the device's blob folder (blobstore.h).
*/
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include "blobstore.h"

static int pathf(char *buf, size_t len, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#include <stdarg.h>
static int pathf(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

int cli_blobs_init(cli_blobs *b, const char *db_path)
{
    return pathf(b->dir, sizeof b->dir, "%s.blobs", db_path);
}

static int mkdirs(const cli_blobs *b, const char *sub)
{
    char p[4200];
    if (mkdir(b->dir, 0700) != 0 && errno != EEXIST)
        return -1;
    if (pathf(p, sizeof p, "%s/%s", b->dir, sub) != 0)
        return -1;
    if (mkdir(p, 0700) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

void cli_blobs_path(const cli_blobs *b, const char *sha, char *buf,
                    size_t len)
{
    if (pathf(buf, len, "%s/%.2s/%s", b->dir, sha, sha) != 0 && len)
        buf[0] = '\0';
}

static void partial_path(const cli_blobs *b, const char *sha, char *buf,
                         size_t len)
{
    if (pathf(buf, len, "%s/partial/%s", b->dir, sha) != 0 && len)
        buf[0] = '\0';
}

int cli_blobs_have(const cli_blobs *b, const char *sha)
{
    char p[4200];
    struct stat st;
    cli_blobs_path(b, sha, p, sizeof p);
    return *p && stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* The media type by the file's first bytes (no decoding: magic numbers
** only), else by its extension. */
static const char *media_type(const unsigned char *h, size_t n,
                              const char *name)
{
    if (n >= 3 && h[0] == 0xff && h[1] == 0xd8 && h[2] == 0xff)
        return "image/jpeg";
    if (n >= 8 && memcmp(h, "\x89PNG\r\n\x1a\n", 8) == 0)
        return "image/png";
    if (n >= 6 && (memcmp(h, "GIF87a", 6) == 0 || memcmp(h, "GIF89a", 6) == 0))
        return "image/gif";
    if (n >= 12 && memcmp(h, "RIFF", 4) == 0 && memcmp(h + 8, "WEBP", 4) == 0)
        return "image/webp";
    if (n >= 12 && memcmp(h + 4, "ftyphei", 7) == 0)
        return "image/heic";
    if (n >= 5 && memcmp(h, "%PDF-", 5) == 0)
        return "application/pdf";
    const char *dot = strrchr(name, '.');
    if (dot && (strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0))
        return "image/jpeg";
    if (dot && strcasecmp(dot, ".png") == 0)
        return "image/png";
    return "application/octet-stream";
}

int cli_blobs_add_file(cli_blobs *b, const char *path, json_t **out,
                       char *why, size_t whylen)
{
    char tmp[4200], dst[4200];
    unsigned char buf[65536], head[16], d[32];
    char sha[FDSP_SHA256_HEX + 1];
    size_t nhead = 0;
    int64_t size = 0;
    *out = NULL;
    FILE *in = fopen(path, "rb");
    if (!in) {
        snprintf(why, whylen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (mkdirs(b, "tmp") != 0 ||
        pathf(tmp, sizeof tmp, "%s/tmp/in.%ld", b->dir, (long)getpid()) != 0) {
        snprintf(why, whylen, "cannot create %s: %s", b->dir, strerror(errno));
        fclose(in);
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        snprintf(why, whylen, "%s: %s", tmp, strerror(errno));
        fclose(in);
        return -1;
    }
    fdsp_sha256 h;
    fdsp_sha256_init(&h);
    size_t n;
    int bad = 0;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) {
        if (nhead < sizeof head) {
            size_t k = sizeof head - nhead < n ? sizeof head - nhead : n;
            memcpy(head + nhead, buf, k);
            nhead += k;
        }
        fdsp_sha256_update(&h, buf, n);
        size += (int64_t)n;
        if (write(fd, buf, n) != (ssize_t)n) {
            bad = errno ? errno : EIO;
            break;
        }
    }
    if (ferror(in))
        bad = bad ? bad : EIO;
    fclose(in);
    if (fsync(fd) != 0 && !bad)
        bad = errno;
    close(fd);
    if (bad) {
        snprintf(why, whylen, "copying %s: %s", path, strerror(bad));
        unlink(tmp);
        return -1;
    }
    fdsp_sha256_final(&h, d);
    fdsp_sha256_hex(d, sha);
    char sub[3] = {sha[0], sha[1], 0};
    cli_blobs_path(b, sha, dst, sizeof dst);
    if (mkdirs(b, sub) != 0 || rename(tmp, dst) != 0) {
        snprintf(why, whylen, "storing %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    *out = json_pack("{s:s,s:s,s:I,s:s}", "name", base, "type",
                     media_type(head, nhead, base), "size", (json_int_t)size,
                     "sha256", sha);
    if (!*out) {
        snprintf(why, whylen, "%s: the file name is not valid UTF-8", path);
        return -1;
    }
    return 0;
}

void cli_blobs_mark(const cli_blobs *b, json_t *j)
{
    const char *k;
    json_t *v;
    size_t i;
    if (json_is_object(j)) {
        json_object_foreach(j, k, v) {
            if (strcmp(k, "attachments") == 0 && json_is_array(v)) {
                json_t *e;
                json_array_foreach(v, i, e) {
                    const char *sha = json_string_value(json_object_get(e, "sha256"));
                    if (json_is_object(e) && sha)
                        json_object_set_new(e, "have",
                                            json_boolean(cli_blobs_have(b, sha)));
                }
            } else {
                cli_blobs_mark(b, v);
            }
        }
    } else if (json_is_array(j)) {
        json_array_foreach(j, i, v)
            cli_blobs_mark(b, v);
    }
}

/* ---- core's fds_blob_io ------------------------------------------------------ */

static int64_t io_held(void *ctx, const char *sha, int *complete)
{
    cli_blobs *b = ctx;
    char p[4200];
    struct stat st;
    *complete = 0;
    cli_blobs_path(b, sha, p, sizeof p);
    if (stat(p, &st) == 0) {
        *complete = 1;
        return (int64_t)st.st_size;
    }
    partial_path(b, sha, p, sizeof p);
    return stat(p, &st) == 0 ? (int64_t)st.st_size : 0;
}

static long io_read(void *ctx, const char *sha, int partial, int64_t off,
                    unsigned char *buf, size_t n)
{
    cli_blobs *b = ctx;
    char p[4200];
    if (partial)
        partial_path(b, sha, p, sizeof p);
    else
        cli_blobs_path(b, sha, p, sizeof p);
    int fd = open(p, O_RDONLY);
    if (fd < 0)
        return -1;
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, buf + got, n - got, (off_t)off + (off_t)got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    return (long)got;
}

static int io_append(void *ctx, const char *sha, int64_t off,
                     const unsigned char *p, size_t n)
{
    cli_blobs *b = ctx;
    char path[4200];
    if (mkdirs(b, "partial") != 0)
        return -1;
    partial_path(b, sha, path, sizeof path);
    int fd = open(path, O_WRONLY | O_CREAT, 0600);
    if (fd < 0)
        return -1;
    /* Bytes past off are from a chunk whose answer never came: cut. */
    int rc = ftruncate(fd, (off_t)off) == 0 &&
             pwrite(fd, p, n, (off_t)off) == (ssize_t)n ? 0 : -1;
    close(fd);
    return rc;
}

static int io_finish(void *ctx, const char *sha, int ok)
{
    cli_blobs *b = ctx;
    char from[4200], to[4200];
    char sub[3] = {sha[0], sha[1], 0};
    partial_path(b, sha, from, sizeof from);
    if (!ok)
        return unlink(from) == 0 || errno == ENOENT ? 0 : -1;
    int fd = open(from, O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    cli_blobs_path(b, sha, to, sizeof to);
    if (mkdirs(b, sub) != 0)
        return -1;
    return rename(from, to) == 0 ? 0 : -1;
}

void cli_blobs_io(cli_blobs *b, fds_blob_io *io)
{
    memset(io, 0, sizeof *io);
    io->ctx = b;
    io->held = io_held;
    io->read = io_read;
    io->append = io_append;
    io->finish = io_finish;
}
