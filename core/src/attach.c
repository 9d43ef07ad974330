/*
** attach.c — attachments (photos) of follow-ups: the "attachments"
** register and the lookups over it.  The bytes are never in the replica:
** an attachment names its blob by SHA-256, and the embedder keeps blobs
** where it likes (the CLI: a folder next to the replica).  What moves when
** is blobx.c's business.
**
** The register holds canonical JSON text, an array of
**     {"id","name","type","size","sha256"}
** in the order added.  One ordinary register: it merges, conflicts, syncs
** and shows in history and as_of like any other field, so adding or
** removing a photo is one change of it.
*/
#include "domain.h"
#include "blobx.h"

#include <stdlib.h>
#include <string.h>

static int bad_att(fds_replica *r, size_t i, const char *what)
{
    return fds__error(r, FDS_INVALID, "attachment %zu: %s", i + 1, what);
}

/* One entry checked and copied in canonical key order; an entry without
** an id (a new one) gets a fresh UUID. */
static int norm_one(fds_replica *r, size_t i, const json_t *e, json_t *outa)
{
    char id[FDS__UUID_LEN + 1];
    if (!json_is_object(e))
        return bad_att(r, i, "must be an object");
    const json_t *jid = json_object_get(e, "id");
    const json_t *name = json_object_get(e, "name");
    const json_t *type = json_object_get(e, "type");
    const json_t *size = json_object_get(e, "size");
    const json_t *sha = json_object_get(e, "sha256");
    if (!json_is_string(sha) || !fdsp_sha_ok(json_string_value(sha)))
        return bad_att(r, i, "sha256 must be 64 lowercase hex digits");
    if (!json_is_integer(size) || json_integer_value(size) < 0 ||
        json_integer_value(size) > FDSP_MAX_BLOB)
        return bad_att(r, i, "size must be a byte count");
    if (!json_is_string(name) || json_string_length(name) == 0 ||
        json_string_length(name) > FDS_MAX_ATTACH_NAME ||
        strlen(json_string_value(name)) != json_string_length(name))
        return bad_att(r, i, "name must be 1..255 bytes of text");
    if (type && !json_is_null(type) &&
        (!json_is_string(type) || json_string_length(type) > 100))
        return bad_att(r, i, "type must be a media type such as image/jpeg");
    if (jid && !json_is_null(jid)) {
        if (!json_is_string(jid) || json_string_length(jid) == 0 ||
            json_string_length(jid) > FDSP_MAX_ID)
            return bad_att(r, i, "bad id");
        snprintf(id, sizeof id, "%s", json_string_value(jid));
    } else {
        int rc = fds__uuid(r, id);
        if (rc != FDS_OK)
            return rc;
    }
    json_t *o = json_pack("{s:s,s:O,s:s,s:I,s:O}", "id", id, "name", name,
                          "type", json_is_string(type)
                                      ? json_string_value(type)
                                      : "application/octet-stream",
                          "size", (json_int_t)json_integer_value(size),
                          "sha256", sha);
    if (!o || json_array_append_new(outa, o) != 0)
        return fds__error(r, FDS_NOMEM, "out of memory");
    return FDS_OK;
}

int fds__attachments_norm(fds_replica *r, const json_t *in, char **text)
{
    *text = NULL;
    if (!json_is_array(in))
        return fds__error(r, FDS_INVALID, "attachments must be an array");
    if (json_array_size(in) > FDS_MAX_ATTACHMENTS)
        return fds__error(r, FDS_TOOBIG,
                          "%zu attachments on one follow-up: the limit "
                          "(FDS_MAX_ATTACHMENTS) is %d",
                          json_array_size(in), FDS_MAX_ATTACHMENTS);
    json_t *a = json_array();
    if (!a)
        return fds__error(r, FDS_NOMEM, "out of memory");
    int rc = FDS_OK;
    for (size_t i = 0; rc == FDS_OK && i < json_array_size(in); i++)
        rc = norm_one(r, i, json_array_get(in, i), a);
    if (rc == FDS_OK && json_array_size(a) > 0 &&
        !(*text = json_dumps(a, JSON_COMPACT | JSON_PRESERVE_ORDER)))
        rc = fds__error(r, FDS_NOMEM, "out of memory");
    json_decref(a);
    if (rc == FDS_OK && *text && strlen(*text) > FDSP_MAX_VALUE) {
        free(*text);
        *text = NULL;
        rc = fds__error(r, FDS_TOOBIG, "attachments: the list is over %d "
                        "bytes (shorter names, or fewer photos)",
                        FDSP_MAX_VALUE);
    }
    return rc;
}

json_t *fds__attachments_json(const char *text)
{
    json_t *a = text ? json_loads(text, 0, NULL) : NULL;
    if (!json_is_array(a)) {
        json_decref(a);
        return NULL;
    }
    size_t i;
    json_t *e;
    json_array_foreach(a, i, e)
        if (json_is_object(e))
            json_object_set_new(e, "have", json_false());
    return a;
}

/* Every attachment of every live follow-up, with the follow-up and its
** customer; prefix (may be NULL) keeps those whose id starts with it. */
static int scan(fds_replica *r, const char *prefix, json_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = FDS_OK, s;
    if (sqlite3_prepare_v2(r->db,
            "SELECT rid, json_extract(vals, '$.attachments'), cust FROM rec "
            "WHERE tbl = 'followup' "
            "AND json_extract(vals, '$.attachments') IS NOT NULL "
            "AND coalesce(json_extract(vals, '$.deleted'), '0') <> '1' "
            "ORDER BY rid", -1, &st, NULL) != SQLITE_OK)
        return fds__dberror(r, "listing attachments");
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        const char *fu = (const char *)sqlite3_column_text(st, 0);
        const char *txt = (const char *)sqlite3_column_text(st, 1);
        const char *cu = (const char *)sqlite3_column_text(st, 2);
        json_t *a = fds__attachments_json(txt);
        size_t i;
        json_t *e;
        json_array_foreach(a, i, e) {
            const char *id = fds__jstr(e, "id");
            if (!json_is_object(e) || !id ||
                (prefix && strncmp(id, prefix, strlen(prefix)) != 0))
                continue;
            json_object_del(e, "have");
            int bad = 0;
            fds__jset(e, "followup", json_string(fu), &bad);
            if (cu)
                fds__jset(e, "customer", json_string(cu), &bad);
            if (bad || json_array_append(out, e) != 0) {
                rc = fds__error(r, FDS_NOMEM, "out of memory");
                break;
            }
        }
        json_decref(a);
        if (rc != FDS_OK)
            break;
    }
    if (rc == FDS_OK && s != SQLITE_DONE && s != SQLITE_ROW)
        rc = fds__dberror(r, "listing attachments");
    sqlite3_finalize(st);
    return rc;
}

int fds_attachments_list(fds_replica *r, json_t **out)
{
    *out = NULL;
    if (!r)
        return FDS_INVALID;
    json_t *a = json_array();
    if (!a)
        return fds__error(r, FDS_NOMEM, "out of memory");
    int rc = scan(r, NULL, a);
    if (rc != FDS_OK) {
        json_decref(a);
        return rc;
    }
    *out = a;
    return FDS_OK;
}

int fds_attachment_get(fds_replica *r, const char *prefix, json_t **out)
{
    *out = NULL;
    if (!r || !prefix || !*prefix)
        return FDS_INVALID;
    json_t *a = json_array();
    if (!a)
        return fds__error(r, FDS_NOMEM, "out of memory");
    int rc = scan(r, prefix, a);
    /* One attachment may sit on two follow-ups (a copy): one id, one
    ** answer; different ids under the prefix are ambiguous. */
    if (rc == FDS_OK) {
        size_t n = json_array_size(a);
        const char *first = n ? fds__jstr(json_array_get(a, 0), "id") : NULL;
        for (size_t i = 1; i < n; i++)
            if (strcmp(fds__jstr(json_array_get(a, i), "id"), first) != 0) {
                rc = fds__error(r, FDS_AMBIGUOUS,
                                "attachment id %s is ambiguous", prefix);
                break;
            }
        if (rc == FDS_OK && n == 0)
            rc = fds__error(r, FDS_NOTFOUND, "no attachment %s", prefix);
        if (rc == FDS_OK)
            *out = json_incref(json_array_get(a, 0));
    }
    json_decref(a);
    return rc;
}

int fds_followup_photos(fds_replica *r, const char *id, const json_t *add,
                        const char *const *drop, size_t n_drop, json_t **out)
{
    char full[FDSP_MAX_ID + 1];
    json_t *regs = NULL, *cur = NULL, *next = NULL, *w = NULL;
    char *text = NULL;
    int rc, bad = 0;
    if (out)
        *out = NULL;
    if (!r || !id || (add && !json_is_array(add)))
        return FDS_INVALID;
    if ((rc = fds__resolve(r, "followup", id, full)) != FDS_OK ||
        (rc = fds__read(r, "followup", full, &regs)) != FDS_OK)
        return rc;
    cur = fds__attachments_json(fds__jstr(regs, "attachments"));
    if (!cur)
        cur = json_array();
    next = json_array();
    if (!cur || !next) {
        rc = fds__error(r, FDS_NOMEM, "out of memory");
        goto done;
    }
    /* Each drop names one attachment of this follow-up by a unique id
    ** prefix. */
    unsigned char *gone = calloc(json_array_size(cur) + 1, 1);
    if (!gone) {
        rc = fds__error(r, FDS_NOMEM, "out of memory");
        goto done;
    }
    for (size_t d = 0; rc == FDS_OK && d < n_drop; d++) {
        size_t hits = 0, at = 0, i;
        json_t *e;
        json_array_foreach(cur, i, e) {
            const char *aid = fds__jstr(e, "id");
            if (aid && strncmp(aid, drop[d], strlen(drop[d])) == 0) {
                hits++;
                at = i;
            }
        }
        if (hits == 0)
            rc = fds__error(r, FDS_NOTFOUND, "this follow-up has no photo %s",
                            drop[d]);
        else if (hits > 1)
            rc = fds__error(r, FDS_AMBIGUOUS, "photo id %s is ambiguous",
                            drop[d]);
        else
            gone[at] = 1;
    }
    size_t i;
    json_t *e;
    json_array_foreach(cur, i, e) {
        if (rc != FDS_OK || gone[i])
            continue;
        json_object_del(e, "have");
        bad |= json_array_append(next, e) != 0;
    }
    free(gone);
    json_array_foreach(add, i, e)
        bad |= json_array_append(next, e) != 0;
    if (rc == FDS_OK && bad)
        rc = fds__error(r, FDS_NOMEM, "out of memory");
    if (rc == FDS_OK)
        rc = fds__attachments_norm(r, next, &text);
    if (rc != FDS_OK)
        goto done;
    const char *old = fds__jstr(regs, "attachments");
    if ((!old && !text) || (old && text && strcmp(old, text) == 0)) {
        rc = FDS_OK;                    /* nothing changes: no new version */
    } else {
        if (!(w = json_object()))
            rc = fds__error(r, FDS_NOMEM, "out of memory");
        else
            fds__jset(w, "attachments", text ? json_string(text) : json_null(),
                      &bad);
        if (rc == FDS_OK && bad)
            rc = fds__error(r, FDS_NOMEM, "out of memory");
        if (rc == FDS_OK && (rc = fds__begin(r)) == FDS_OK) {
            rc = fds__write_known(r, "followup", full, w, 1);
            rc = fds__end(r, rc);
        }
        if (rc == FDS_OK) {
            if (text)
                fds__jset(regs, "attachments", json_string(text), &bad);
            else
                json_object_del(regs, "attachments");
        }
    }
    if (rc == FDS_OK && out && !(*out = fds__child_json("followup", full, regs)))
        rc = fds__error(r, FDS_NOMEM, "out of memory");
done:
    free(text);
    json_decref(regs);
    json_decref(cur);
    json_decref(next);
    json_decref(w);
    return rc;
}
