/*
** sync_blobs.c — blob_put and blob_get (PROTOCOL.md §14), the blob
** reference table's upkeep, and the access rule shared with the dashboard
** API (api/api_blobs.c).
**
** Upload: the device probes (a blob_put without data), the server answers
** with the bytes it holds; each chunk at exactly that offset is appended
** and synced to disk before its ack, so an acknowledged chunk is never
** sent again.  When the last byte lands the file is hashed; only a match
** becomes DIR/blobs/ab/SHA (renamed, so a reader never sees half a blob)
** and only then is the full size acknowledged.
*/
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "server.h"
#include "sync_blobs.h"
#include "visibility.h"

int fsv_blob_path(const char *data_dir, const char *sha, char *buf,
                  size_t len)
{
    int n = snprintf(buf, len, "%s/blobs/%.2s/%s", data_dir, sha, sha);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

static int partial_path(const char *data_dir, const char *sha, char *buf,
                        size_t len)
{
    int n = snprintf(buf, len, "%s/blobs/partial/%s", data_dir, sha);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

static int mkdir_in(const char *data_dir, const char *sub)
{
    char p[4200];
    int n = snprintf(p, sizeof p, "%s/blobs", data_dir);
    if (n < 0 || (size_t)n >= sizeof p)
        return -1;
    if (mkdir(p, 0700) != 0 && errno != EEXIST)
        return -1;
    n = snprintf(p, sizeof p, "%s/blobs/%s", data_dir, sub);
    if (n < 0 || (size_t)n >= sizeof p)
        return -1;
    return mkdir(p, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

/* ---- References ------------------------------------------------------------ */

int fsv_blob_refs_update(fsv_store *st, const char *followup)
{
    char *v = NULL;
    int rc = fsv_store_field_value(st, "followup", followup, "attachments", &v);
    if (rc == FSV_NOTFOUND)
        rc = FSV_OK;
    if (rc != FSV_OK)
        return rc;
    json_t *a = v ? json_loads(v, 0, NULL) : NULL;
    free(v);
    size_t n = json_is_array(a) ? json_array_size(a) : 0, k = 0;
    fsv_blob_ref *refs = n ? calloc(n, sizeof *refs) : NULL;
    if (n && !refs) {
        json_decref(a);
        return FSV_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(a, i);
        const char *sha = json_string_value(json_object_get(e, "sha256"));
        json_t *sz = json_object_get(e, "size");
        if (!sha || !fdsp_sha_ok(sha) || !json_is_integer(sz))
            continue;           /* a device's own nonsense: names nothing */
        int dup = 0;
        for (size_t j = 0; j < k && !dup; j++)
            dup = strcmp(refs[j].sha, sha) == 0;
        if (dup)
            continue;
        snprintf(refs[k].sha, sizeof refs[k].sha, "%s", sha);
        refs[k].size = json_integer_value(sz);
        k++;
    }
    json_decref(a);
    rc = fsv_store_blob_refs_set(st, followup, refs, k);
    free(refs);
    return rc;
}

/* The attachment entry for sha in a follow-up's register, and the sum of
** its photos' sizes. */
static void followup_sizes(fsv_store *st, const char *fu, const char *sha,
                           int64_t *size, int64_t *total, char *name,
                           size_t namelen)
{
    char *v = NULL;
    *size = -1;
    *total = 0;
    if (fsv_store_field_value(st, "followup", fu, "attachments", &v) != FSV_OK)
        return;
    json_t *a = v ? json_loads(v, 0, NULL) : NULL;
    free(v);
    size_t i;
    json_t *e;
    json_array_foreach(a, i, e) {
        json_t *sz = json_object_get(e, "size");
        const char *s = json_string_value(json_object_get(e, "sha256"));
        int64_t n = json_is_integer(sz) ? json_integer_value(sz) : 0;
        *total += n > 0 ? n : 0;
        if (s && strcmp(s, sha) == 0 && *size < 0) {
            *size = n;
            const char *nm = json_string_value(json_object_get(e, "name"));
            if (nm && namelen) {
                snprintf(name, namelen, "%s", nm);
                fdsp_utf8_trim(name);
            }
        }
    }
    json_decref(a);
}

int fsv_blob_access(fsv_store *st, const fsv_user *u, const char *sha,
                    int *may, int64_t *size, int64_t *fu_total, char *name,
                    size_t namelen)
{
    char **fus = NULL;
    size_t n = 0;
    *may = 0;
    *size = -1;
    *fu_total = 0;
    if (namelen)
        snprintf(name, namelen, "%.8s", sha);
    int rc = fsv_store_blob_followups(st, sha, &fus, &n);
    for (size_t i = 0; rc == FSV_OK && i < n && !*may; i++) {
        char *cust = NULL;
        int sees = 0;
        rc = fsv_store_field_value(st, "followup", fus[i], "customer", &cust);
        if (rc == FSV_NOTFOUND) {
            rc = FSV_OK;
            continue;
        }
        if (rc == FSV_OK && cust)
            rc = fsv_vis_customer(st, u, cust, &sees);
        else if (rc == FSV_OK)
            sees = fsv_vis_sees_all(u);
        free(cust);
        if (rc == FSV_OK && sees) {
            *may = 1;
            followup_sizes(st, fus[i], sha, size, fu_total, name, namelen);
        }
    }
    for (size_t i = 0; i < n; i++)
        free(fus[i]);
    free(fus);
    return rc;
}

/* ---- Messages ---------------------------------------------------------------- */

static int ack(fsv_conn *s, const char *sha, int64_t offset, int code,
               const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

static int ack(fsv_conn *s, const char *sha, int64_t offset, int code,
               const char *fmt, ...)
{
    char why[FDSP_MAX_TEXT];
    fdsp_msg m;
    memset(&m, 0, sizeof m);
    m.type = FDSP_BLOB_ACK;
    m.sha = (char *)sha;
    m.offset = offset;
    if (code) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, sizeof why, fmt, ap);
        va_end(ap);
        fdsp_utf8_trim(why);
        m.code = code;
        m.message = why;
        m.offset = 0;
        fsv_metrics_inc(s->srv->metrics, FSV_C_BLOBS_REFUSED);
        fsv_info("blob_refused user=%s device=%s sha=%.12s code=%s why=\"%s\"",
                 s->user.name, s->device, sha, fdsp_errname(code), why);
    }
    return fsv_conn_send(s, &m);
}

static int64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

/* The SHA-256 of the file at path into hex; 0 or -1. */
static int hash_file(const char *path, char hex[FDSP_SHA256_HEX + 1])
{
    unsigned char buf[65536], d[32];
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    fdsp_sha256 h;
    fdsp_sha256_init(&h);
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        fdsp_sha256_update(&h, buf, n);
    int bad = ferror(f);
    fclose(f);
    if (bad)
        return -1;
    fdsp_sha256_final(&h, d);
    fdsp_sha256_hex(d, hex);
    return 0;
}

/* May this connection upload blob sha of `size` bytes?  FSV_OK with
** *code 0, or the refusal (code and why).  Remembered per connection, so
** the chunks after the probe cost no store reads. */
static int upload_allowed(fsv_conn *s, const char *sha, int64_t size,
                          int whole, int *code, char *why, size_t whylen)
{
    fsv_store *st = s->srv->store;
    char name[128];
    int may = 0;
    int64_t named = -1, total = 0, used = 0;
    *code = 0;
    if (strcmp(s->blob_ok, sha) == 0)
        return FSV_OK;
    int rc = fsv_store_begin_read(st);
    if (rc == FSV_OK)
        rc = fsv_blob_access(st, &s->user, sha, &may, &named, &total, name,
                             sizeof name);
    if (rc == FSV_OK && may && !whole)
        rc = fsv_store_blob_usage(st, s->user.name,
                                  fsv_now_ms() - 24LL * 3600 * 1000, &used);
    fsv_store_rollback(st);
    if (rc != FSV_OK)
        return rc;
    if (!may) {
        *code = FDSP_E_FORBIDDEN;
        snprintf(why, whylen, "photo %.12s: no follow-up you may write names "
                 "it (sync the follow-up first)", sha);
    } else if (named != size) {
        *code = FDSP_E_VALUE;
        snprintf(why, whylen, "photo %s: %lld bytes sent, its follow-up says "
                 "%lld", name, (long long)size, (long long)named);
    } else if (size > FSV_BLOB_MAX_BYTES) {
        *code = FDSP_E_LIMIT;
        snprintf(why, whylen, "photo %s is %lld bytes: over "
                 "FSV_BLOB_MAX_BYTES (%lld bytes a photo)", name,
                 (long long)size, (long long)FSV_BLOB_MAX_BYTES);
    } else if (total > FSV_BLOB_MAX_FOLLOWUP) {
        *code = FDSP_E_LIMIT;
        snprintf(why, whylen, "photo %s: its follow-up's photos are %lld "
                 "bytes, over FSV_BLOB_MAX_FOLLOWUP (%lld bytes)", name,
                 (long long)total, (long long)FSV_BLOB_MAX_FOLLOWUP);
    } else if (!whole && used + size > FSV_BLOB_MAX_DAY) {
        *code = FDSP_E_LIMIT;
        snprintf(why, whylen, "photo %s: %s sent %lld bytes of photos in 24 "
                 "hours; with this one that is over FSV_BLOB_MAX_DAY (%lld "
                 "bytes)", name, s->user.name, (long long)used,
                 (long long)FSV_BLOB_MAX_DAY);
    } else {
        snprintf(s->blob_ok, sizeof s->blob_ok, "%s", sha);
    }
    return FSV_OK;
}

/* The partial file is whole: hash it, and make it the blob if it
** matches.  The ack to send: the full size, or a refusal. */
static int complete(fsv_conn *s, const fdsp_msg *m, const char *part)
{
    const char *dir = s->srv->data_dir;
    char hex[FDSP_SHA256_HEX + 1], dst[4200];
    if (hash_file(part, hex) != 0)
        return ack(s, m->sha, 0, FDSP_E_INTERNAL, "photo %.12s: cannot read "
                   "it back", m->sha);
    if (strcmp(hex, m->sha) != 0) {
        unlink(part);
        s->blob_ok[0] = '\0';
        return ack(s, m->sha, 0, FDSP_E_VALUE, "photo %.12s: the bytes sent "
                   "do not match its SHA-256 (dropped; send it again)", m->sha);
    }
    char sub[3] = {m->sha[0], m->sha[1], 0};
    if (mkdir_in(dir, sub) != 0 || fsv_blob_path(dir, m->sha, dst, sizeof dst) ||
        rename(part, dst) != 0)
        return ack(s, m->sha, 0, FDSP_E_INTERNAL, "photo %.12s: cannot store "
                   "it", m->sha);
    /* The rename is durable before the ack says so. */
    char d[4200];
    snprintf(d, sizeof d, "%s/blobs/%s", dir, sub);
    int dfd = open(d, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    fsv_store *st = s->srv->store;
    int rc = fsv_store_begin(st);
    if (rc == FSV_OK)
        rc = fsv_store_blob_stored(st, m->sha, m->size, s->user.name,
                                   fsv_now_ms());
    if (rc == FSV_OK)
        rc = fsv_store_commit(st);
    else
        fsv_store_rollback(st);
    if (rc != FSV_OK)
        fsv_err("blob_store_failed sha=%.12s why=%s", m->sha,
                fsv_store_errmsg(st));
    fsv_metrics_inc(s->srv->metrics, FSV_C_BLOBS_STORED);
    fsv_info("blob_stored user=%s device=%s sha=%.12s size=%lld", s->user.name,
             s->device, m->sha, (long long)m->size);
    return ack(s, m->sha, m->size, 0, NULL);
}

int fsv_sync_blob_put(fsv_conn *s, const fdsp_msg *m)
{
    const char *dir = s->srv->data_dir;
    char part[4200], whole[4200], why[FDSP_MAX_TEXT];
    int code = 0;
    if (!s->blobs)
        return ack(s, m->sha, 0, FDSP_E_STATE, "blob_put without \"blobs\" "
                   "in the hello");
    if (!dir || fsv_blob_path(dir, m->sha, whole, sizeof whole) ||
        partial_path(dir, m->sha, part, sizeof part))
        return ack(s, m->sha, 0, FDSP_E_INTERNAL, "this server keeps no "
                   "photos (no --data folder)");
    int64_t have = file_size(whole);
    int rc = upload_allowed(s, m->sha, m->size, have >= 0, &code, why,
                            sizeof why);
    if (rc != FSV_OK) {
        fsv_err("blob_failed user=%s sha=%.12s why=%s", s->user.name, m->sha,
                fsv_store_errmsg(s->srv->store));
        return ack(s, m->sha, 0, FDSP_E_INTERNAL, "server storage failure: %s",
                   fsv_store_errmsg(s->srv->store));
    }
    if (code)
        return ack(s, m->sha, 0, code, "%s", why);
    if (have >= 0)                      /* already whole (dedup) */
        return ack(s, m->sha, have == m->size ? m->size : 0,
                   have == m->size ? 0 : FDSP_E_VALUE,
                   "photo %.12s: the server's copy has %lld bytes", m->sha,
                   (long long)have);
    int64_t held = file_size(part);
    if (held < 0)
        held = 0;
    if (held > m->size) {               /* nonsense on disk: start over */
        unlink(part);
        held = 0;
    }
    /* A probe, or a chunk not at the end of what is held: where we are. */
    if (m->n_data == 0 || m->offset != held) {
        if (held == m->size && m->size > 0)
            return complete(s, m, part);
        if (m->size == 0 && m->offset == 0) {   /* the empty file */
            if (mkdir_in(dir, "partial") != 0)
                return ack(s, m->sha, 0, FDSP_E_INTERNAL, "cannot store photos");
            int fd = open(part, O_WRONLY | O_CREAT | O_TRUNC, 0600);
            if (fd >= 0)
                close(fd);
            return complete(s, m, part);
        }
        return ack(s, m->sha, held, 0, NULL);
    }
    if (mkdir_in(dir, "partial") != 0)
        return ack(s, m->sha, 0, FDSP_E_INTERNAL, "cannot store photos");
    int fd = open(part, O_WRONLY | O_CREAT, 0600);
    int ok = fd >= 0 &&
             pwrite(fd, m->data, m->n_data, (off_t)held) == (ssize_t)m->n_data &&
             fdatasync(fd) == 0;
    if (fd >= 0)
        close(fd);
    if (!ok) {
        fsv_err("blob_write_failed sha=%.12s why=%s", m->sha, strerror(errno));
        if (truncate(part, (off_t)held) != 0)
            unlink(part);
        return ack(s, m->sha, 0, FDSP_E_INTERNAL, "cannot store photos");
    }
    held += (int64_t)m->n_data;
    fsv_metrics_inc(s->srv->metrics, FSV_C_BLOB_CHUNKS_IN);
    fsv_metrics_add(s->srv->metrics, FSV_C_BLOB_BYTES_IN, m->n_data);
    if (held == m->size)
        return complete(s, m, part);
    return ack(s, m->sha, held, 0, NULL);
}

static int data_refused(fsv_conn *s, const char *sha, int code,
                        const char *why)
{
    fdsp_msg m;
    memset(&m, 0, sizeof m);
    m.type = FDSP_BLOB_DATA;
    m.sha = (char *)sha;
    m.code = code;
    m.message = (char *)why;
    fsv_metrics_inc(s->srv->metrics, FSV_C_BLOBS_REFUSED);
    fsv_info("blob_refused user=%s device=%s sha=%.12s code=%s why=\"%s\"",
             s->user.name, s->device, sha, fdsp_errname(code), why);
    return fsv_conn_send(s, &m);
}

int fsv_sync_blob_get(fsv_conn *s, const fdsp_msg *m)
{
    fsv_store *st = s->srv->store;
    const char *dir = s->srv->data_dir;
    char whole[4200], name[128];
    int may = 0;
    int64_t named = -1, total = 0;
    if (!s->blobs)
        return data_refused(s, m->sha, FDSP_E_STATE,
                            "blob_get without \"blobs\" in the hello");
    int rc = fsv_store_begin_read(st);
    if (rc == FSV_OK)
        rc = fsv_blob_access(st, &s->user, m->sha, &may, &named, &total, name,
                             sizeof name);
    fsv_store_rollback(st);
    if (rc != FSV_OK) {
        char why[FDSP_MAX_TEXT];
        snprintf(why, sizeof why, "server storage failure: %s",
                 fsv_store_errmsg(st));
        fdsp_utf8_trim(why);
        return data_refused(s, m->sha, FDSP_E_INTERNAL, why);
    }
    /* The same answer whether or not the blob exists: nothing is learnt
    ** about photos one may not see. */
    if (!may)
        return data_refused(s, m->sha, FDSP_E_FORBIDDEN,
                            "no follow-up you may see has this photo");
    int64_t size = dir && !fsv_blob_path(dir, m->sha, whole, sizeof whole)
                       ? file_size(whole) : -1;
    if (size < 0)
        return data_refused(s, m->sha, FDSP_E_STATE,
                            "this photo's bytes have not reached the server "
                            "yet (the device that took it has not synced "
                            "them)");
    if (m->offset > size)
        return data_refused(s, m->sha, FDSP_E_VALUE, "offset past the photo");
    size_t n = size - m->offset < FDSP_BLOB_CHUNK ? (size_t)(size - m->offset)
                                                   : FDSP_BLOB_CHUNK;
    unsigned char *buf = malloc(n ? n : 1);
    int fd = open(whole, O_RDONLY);
    ssize_t got = buf && fd >= 0 ? pread(fd, buf, n, (off_t)m->offset) : -1;
    if (fd >= 0)
        close(fd);
    if (got != (ssize_t)n) {
        free(buf);
        return data_refused(s, m->sha, FDSP_E_INTERNAL, "cannot read the photo");
    }
    fdsp_msg d;
    memset(&d, 0, sizeof d);
    d.type = FDSP_BLOB_DATA;
    d.sha = (char *)m->sha;
    d.size = size;
    d.offset = m->offset;
    d.data = buf;
    d.n_data = n;
    fsv_metrics_add(s->srv->metrics, FSV_C_BLOB_BYTES_OUT, n);
    rc = fsv_conn_send(s, &d);
    free(buf);
    return rc;
}
