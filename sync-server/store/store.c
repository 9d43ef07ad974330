/*
** store.c — the store interface (store.h) over its backends
** (store_backend.h): opening by URL, the rules that are the same for every
** backend (user names and roles, what a share record means), and the
** error convention (every failing call leaves a message on the handle).
*/
#include "store.h"
#include "store_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/* Every backend built in; a new one adds its table here. */
static const fsv_store_backend *const backends[] = {
    &fsv_store_sqlite,
    &fsv_store_postgres,
    &fsv_store_postgres_alias,
};
#define N_BACKENDS (sizeof backends / sizeof backends[0])

int fsv__store_setmsg(fsv_store *s, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->errmsg, sizeof s->errmsg, fmt, ap);
    va_end(ap);
    s->msg_gen++;
    return rc;
}

/* The end of every call: a failure whose backend left no message of its
** own gets "store: WHAT: <code's text>", so fsv_store_errmsg never reports
** an earlier failure. */
static int finish(fsv_store *s, unsigned gen, int rc, const char *what)
{
    if (rc != FSV_OK && s->msg_gen == gen)
        fsv__store_setmsg(s, rc, "store: %s: %s", what, fsv_errstr(rc));
    return rc;
}
#define CALL(s, what, expr)                       \
    do {                                          \
        unsigned gen_ = (s)->msg_gen;             \
        return finish((s), gen_, (expr), (what)); \
    } while (0)

/* The backend named by url's scheme, and where the rest starts. */
static int pick(const char *url, const fsv_store_backend **be,
                const char **where, char *err, size_t errlen)
{
    const char *colon = url ? strchr(url, ':') : NULL;
    size_t n = colon ? (size_t)(colon - url) : 0;
    for (size_t i = 0; colon && i < N_BACKENDS; i++) {
        if (strlen(backends[i]->scheme) == n &&
            memcmp(backends[i]->scheme, url, n) == 0) {
            *be = backends[i];
            *where = colon + 1;
            return FSV_OK;
        }
    }
    snprintf(err, errlen, "store URL \"%s\": expected sqlite:PATH or"
             " postgresql://...",
             url ? url : "");
    return FSV_INVALID;
}

int fsv_store_open(const char *url, int create, fsv_store **out, char *err,
                   size_t errlen)
{
    *out = NULL;
    const fsv_store_backend *be;
    const char *where;
    int rc = pick(url, &be, &where, err, errlen);
    if (rc != FSV_OK)
        return rc;
    if (!where[0]) {
        snprintf(err, errlen, "store URL \"%s\" names no store", url);
        return FSV_INVALID;
    }
    rc = be->open(where, create, out, err, errlen);
    if (rc == FSV_OK)
        (*out)->be = be;
    return rc;
}

int fsv_store_url_check(const char *url, char *err, size_t errlen)
{
    const fsv_store_backend *be;
    const char *where;
    int rc = pick(url, &be, &where, err, errlen);
    if (rc == FSV_OK && !where[0]) {
        snprintf(err, errlen, "store URL \"%s\" names no store", url);
        rc = FSV_INVALID;
    }
    return rc;
}

void fsv_store_close(fsv_store *s)
{
    if (s) {
        fsv_teams_free(s->teams);
        s->teams = NULL;
        s->be->close(s);
    }
}

const char *fsv_store_errmsg(const fsv_store *s)
{
    return s ? s->errmsg : "out of memory";
}

int fsv_store_backup(fsv_store *s, const char *dst, int64_t epoch,
                     int64_t *rows, char *err, size_t errlen)
{
    const fsv_store_backend *be;
    const char *where;
    int rc = pick(dst, &be, &where, err, errlen);
    if (rc == FSV_OK && be != s->be) {
        snprintf(err, errlen, "backup %s: not a %s store", dst, s->be->scheme);
        rc = FSV_INVALID;
    }
    if (rc == FSV_OK)
        rc = s->be->backup(s, where, epoch, rows, err, errlen);
    if (rc != FSV_OK)
        fsv__store_setmsg(s, rc, "%s", err);
    return rc;
}

/* ---- Backend-neutral rules --------------------------------------------- */

static int valid_role(const char *role)
{
    return strcmp(role, "rep") == 0 || strcmp(role, "manager") == 0 ||
           strcmp(role, "admin") == 0;
}

int fsv_store_user_add(fsv_store *s, const char *name, const char *role,
                       const char *team)
{
    if (!name[0] || strlen(name) > FSV_NAME_MAX || strchr(name, ':'))
        return fsv__store_setmsg(s, FSV_INVALID,
                                 "user name must be 1..%d"
                                 " bytes without ':'",
                                 FSV_NAME_MAX);
    if (!valid_role(role))
        return fsv__store_setmsg(s, FSV_INVALID,
                                 "role must be rep, manager"
                                 " or admin, not \"%s\"",
                                 role);
    if (team && strlen(team) > FSV_NAME_MAX)
        return fsv__store_setmsg(s, FSV_INVALID, "team name over %d bytes",
                                 FSV_NAME_MAX);
    unsigned gen = s->msg_gen;
    int rc = s->be->user_add(s, name, role, team ? team : "");
    /* An unknown team becomes a top-level one (scripts that name teams in
    ** `user add` only, from before teams nested, keep working). */
    if (rc == FSV_OK && team && team[0] && strcmp(team, "*") != 0 &&
        s->be->team_put) {
        rc = s->be->team_put(s, team, "");
        if (rc == FSV_EXISTS)
            rc = FSV_OK;
        fsv__store_teams_forget(s);
    }
    return finish(s, gen, rc, "add user");
}

/* A share record "CUSTOMER:USER" (table share) gives USER sight of
** CUSTOMER while it exists and its deleted field is not "1". */
int fsv_store_is_shared(fsv_store *s, const char *customer, const char *user,
                        int *shared)
{
    char rid[2 * (FDSP_MAX_ID + 1) + 2];
    *shared = 0;
    if (snprintf(rid, sizeof rid, "%s:%s", customer, user) >= (int)sizeof rid)
        return FSV_OK; /* longer than any id the protocol admits */
    int count = 0, has_deleted = 0;
    unsigned gen = s->msg_gen;
    int rc =
        s->be->field_count(s, "share", rid, "deleted", &count, &has_deleted);
    if (rc != FSV_OK || count == 0)
        return finish(s, gen, rc, "share lookup");
    if (!has_deleted) {
        *shared = 1;
        return FSV_OK;
    }
    char *v = NULL;
    rc = s->be->field_value(s, "share", rid, "deleted", &v);
    if (rc == FSV_OK || rc == FSV_NOTFOUND) {
        *shared = !(v && strcmp(v, "1") == 0);
        rc = FSV_OK;
    }
    free(v);
    return finish(s, gen, rc, "share lookup");
}

void fsv_rec_values_free(fsv_rec_value *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].rid);
        free(v[i].value);
    }
    free(v);
}

/* The users customer is shared with: the share records "CUSTOMER:USER"
** whose deleted field is not "1" (fsv_store_is_shared's rule, in one scan). */
int fsv_store_shared_users(fsv_store *s, const char *customer, char ***users,
                           size_t *n)
{
    *users = NULL;
    *n = 0;
    unsigned gen = s->msg_gen;
    size_t len = strlen(customer);
    char *prefix = malloc(len + 2);
    if (!prefix)
        return fsv__store_setmsg(s, FSV_NOMEM, "out of memory");
    memcpy(prefix, customer, len);
    memcpy(prefix + len, ":", 2);
    fsv_rec_value *v = NULL;
    size_t nv = 0, got = 0;
    int rc = s->be->prefix_values(s, "share", prefix, "deleted", &v, &nv);
    free(prefix);
    char **u = rc == FSV_OK && nv ? calloc(nv, sizeof *u) : NULL;
    if (rc == FSV_OK && nv && !u)
        rc = fsv__store_setmsg(s, FSV_NOMEM, "out of memory");
    for (size_t i = 0; rc == FSV_OK && i < nv; i++) {
        if (v[i].value && strcmp(v[i].value, "1") == 0)
            continue;
        if (!(u[got] = strdup(v[i].rid + len + 1)))
            rc = fsv__store_setmsg(s, FSV_NOMEM, "out of memory");
        else
            got++;
    }
    fsv_rec_values_free(v, nv);
    if (rc != FSV_OK) {
        for (size_t i = 0; i < got; i++)
            free(u[i]);
        free(u);
        return finish(s, gen, rc, "share list");
    }
    *users = u;
    *n = got;
    return FSV_OK;
}

/* ---- Everything else: straight to the backend -------------------------- */

int fsv_store_begin(fsv_store *s)
{
    s->tx_gen++;    /* the team map is re-checked (store_teams.c) */
    s->tx_open = 1;
    CALL(s, "begin", s->be->begin(s));
}

int fsv_store_begin_read(fsv_store *s)
{
    s->tx_gen++;    /* the team map is re-checked (store_teams.c) */
    s->tx_open = 1;
    CALL(s, "begin read", s->be->begin_read(s));
}

int fsv_store_commit(fsv_store *s)
{
    s->tx_gen++;    /* the team map is re-checked (store_teams.c) */
    s->tx_open = 0;
    CALL(s, "commit", s->be->commit(s));
}

int fsv_store_rollback(fsv_store *s)
{
    s->tx_gen++;    /* the team map is re-checked (store_teams.c) */
    s->tx_open = 0;
    CALL(s, "rollback", s->be->rollback(s));
}

int fsv_store_head(fsv_store *s, int64_t *head)
{
    CALL(s, "head", s->be->head(s, head));
}

int fsv_store_history_count(fsv_store *s, int64_t *n)
{
    CALL(s, "history count", s->be->history_count(s, n));
}

int fsv_store_merge_change(fsv_store *s, fdsp_change *c, int *outcome)
{
    CALL(s, "merge change", s->be->merge_change(s, c, outcome));
}

int fsv_store_merge_relayed(fsv_store *s, fdsp_change *c, const char *relay,
                            int *outcome)
{
    CALL(s, "merge relayed", s->be->merge_relayed(s, c, relay, outcome));
}

int fsv_store_field_count(fsv_store *s, const char *tbl, const char *rid,
                          const char *field, int *count, int *has_field)
{
    CALL(s, "field count",
         s->be->field_count(s, tbl, rid, field, count, has_field));
}

int fsv_store_field_value(fsv_store *s, const char *tbl, const char *rid,
                          const char *field, char **value)
{
    CALL(s, "field value", s->be->field_value(s, tbl, rid, field, value));
}

int fsv_store_changes_after(fsv_store *s, int64_t after, int limit,
                            const char *exclude_device, fsv_row_filter filter,
                            void *ud, fdsp_change **out, size_t *n,
                            int64_t *last, int *more)
{
    CALL(s, "changes after",
         s->be->changes_after(s, after, limit, exclude_device, filter, ud, out,
                              n, last, more));
}

int fsv_store_record_info(fsv_store *s, const char *tbl, const char *rid,
                          char **customer, char **creator)
{
    CALL(s, "record info", s->be->record_info(s, tbl, rid, customer, creator));
}

int fsv_store_user_get(fsv_store *s, const char *name, fsv_user *u)
{
    CALL(s, "user get", s->be->user_get(s, name, u));
}

/* A stored time as the lists show it: local ISO text, or null. */
static json_t *time_json(int64_t ms)
{
    if (ms == FSV_NO_TIME)
        return json_null();
    char buf[40];
    fds_time_format(ms, buf, sizeof buf);
    return json_string(buf);
}

static json_t *user_json(const void *rows, size_t i)
{
    const fsv_user_row *r = (const fsv_user_row *)rows + i;
    return json_pack("{s:s, s:s, s:s, s:b, s:o, s:I}", "user", r->user.name,
                     "role", r->user.role, "team", r->user.team, "disabled",
                     r->user.disabled, "created", time_json(r->created_ms),
                     "tokens", (json_int_t)r->tokens);
}

static json_t *token_json(const void *rows, size_t i)
{
    const fsv_token_row *r = (const fsv_token_row *)rows + i;
    return json_pack("{s:s, s:s, s:o, s:o, s:o}", "token_id", r->token_id,
                     "user", r->user, "created", time_json(r->created_ms),
                     "revoked", time_json(r->revoked_ms), "last_used",
                     time_json(r->last_used_ms));
}

/* The JSON array of n backend rows (freed here), one object each by row();
** rc is the backend's answer, passed through. */
static int list_json(fsv_store *s, int rc, void *rows, size_t n,
                     json_t *(*row)(const void *, size_t), json_t **out)
{
    json_t *arr = rc == FSV_OK ? json_array() : NULL;
    for (size_t i = 0; arr && i < n; i++) {
        json_t *o = row(rows, i);
        if (!o || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    free(rows);
    if (rc == FSV_OK && !arr)
        rc = fsv__store_setmsg(s, FSV_NOMEM, "out of memory");
    if (rc == FSV_OK)
        *out = arr;
    return rc;
}

static json_t *device_json(const void *rows, size_t i)
{
    const fsv_device_row *r = (const fsv_device_row *)rows + i;
    return json_pack("{s:s, s:s, s:I}", "device", r->device, "user", r->user,
                     "last_sync_ms", (json_int_t)r->last_sync_ms);
}

int fsv_store_api_devices(fsv_store *s, json_t **out)
{
    *out = NULL;
    unsigned gen = s->msg_gen;
    fsv_device_row *r = NULL;
    size_t n = 0;
    int rc = s->be->device_rows(s, &r, &n);
    return finish(s, gen, list_json(s, rc, r, n, device_json, out),
                  "list devices");
}

int fsv_store_user_list(fsv_store *s, json_t **out)
{
    *out = NULL;
    unsigned gen = s->msg_gen;
    fsv_user_row *r = NULL;
    size_t n = 0;
    int rc = s->be->user_rows(s, &r, &n);
    return finish(s, gen, list_json(s, rc, r, n, user_json, out), "list users");
}

int fsv_store_user_disable(fsv_store *s, const char *name)
{
    CALL(s, "user disable", s->be->user_disable(s, name));
}

int fsv_store_token_add(fsv_store *s, const char *token_id, const char *user,
                        const unsigned char hash[FSV_TOKEN_HASH])
{
    CALL(s, "token add", s->be->token_add(s, token_id, user, hash));
}

int fsv_store_token_auth(fsv_store *s, const unsigned char hash[FSV_TOKEN_HASH],
                         fsv_user *u, char *id)
{
    CALL(s, "token auth", s->be->token_auth(s, hash, u, id));
}

int fsv_store_token_list(fsv_store *s, const char *user, json_t **out)
{
    *out = NULL;
    unsigned gen = s->msg_gen;
    fsv_user u;
    int rc = s->be->user_get(s, user, &u); /* no such user: FSV_NOTFOUND */
    fsv_token_row *r = NULL;
    size_t n = 0;
    if (rc == FSV_OK)
        rc = s->be->token_rows(s, user, &r, &n);
    return finish(s, gen, list_json(s, rc, r, n, token_json, out),
                  "list tokens");
}

int fsv_store_token_revoke(fsv_store *s, const char *token_id)
{
    CALL(s, "token revoke", s->be->token_revoke(s, token_id));
}

int fsv_store_device_seen(fsv_store *s, const char *device, const char *user,
                          const char *token_id, int64_t now_ms, int64_t head)
{
    CALL(s, "device seen",
         s->be->device_seen(s, device, user, token_id, now_ms, head));
}

int fsv_store_token_live(fsv_store *s, const char *token_id, int *live)
{
    CALL(s, "token live", s->be->token_live(s, token_id, live));
}

int fsv_store_data_version(fsv_store *s, int64_t *version)
{
    CALL(s, "data version", s->be->data_version(s, version));
}

int fsv_store_notify_fd(fsv_store *s)
{
    return s->be->notify_fd ? s->be->notify_fd(s) : -1;
}

int fsv_store_notify_drain(fsv_store *s, int64_t *head)
{
    return s->be->notify_drain ? s->be->notify_drain(s, head) : 0;
}

/* Blobs: a backend without them says so by name. */
#define BLOB_CALL(s, what, entry, args)                                    \
    do {                                                                   \
        if ((s)->be->entry == NULL)                                        \
            return fsv__store_setmsg((s), FSV_ERROR, "the %s store does "  \
                                     "not keep photo attachments yet",     \
                                     (s)->be->scheme);                     \
        CALL((s), what, (s)->be->entry args);                              \
    } while (0)

int fsv_store_blob_refs_set(fsv_store *s, const char *followup,
                            const fsv_blob_ref *refs, size_t n)
{
    /* Called in every push that writes a follow-up's photos: a backend
    ** without blobs must not fail the records; its photos are refused by
    ** name when their bytes come (fsv_store_blob_followups). */
    if (s->be->blob_refs_set == NULL)
        return FSV_OK;
    BLOB_CALL(s, "blob refs", blob_refs_set, (s, followup, refs, n));
}

int fsv_store_blob_followups(fsv_store *s, const char *sha, char ***out,
                             size_t *n)
{
    BLOB_CALL(s, "blob followups", blob_followups, (s, sha, out, n));
}

int fsv_store_blob_stored(fsv_store *s, const char *sha, int64_t size,
                          const char *user, int64_t at_ms)
{
    BLOB_CALL(s, "blob stored", blob_stored, (s, sha, size, user, at_ms));
}

int fsv_store_blob_usage(fsv_store *s, const char *user, int64_t since_ms,
                         int64_t *bytes)
{
    BLOB_CALL(s, "blob usage", blob_usage, (s, user, since_ms, bytes));
}

int fsv_store_vis_event_add(fsv_store *s, int64_t seq, const char *customer,
                            const char *user, int kind)
{
    CALL(s, "vis event add", s->be->vis_event_add(s, seq, customer, user, kind));
}

int fsv_store_vis_events(fsv_store *s, int64_t after, int64_t upto,
                         char ***customers, char ***users, int **kinds,
                         size_t *n)
{
    CALL(s, "vis events",
         s->be->vis_events(s, after, upto, customers, users, kinds, n));
}

int fsv_store_customer_state(fsv_store *s, const char *customer,
                             fdsp_change **out, size_t *n)
{
    CALL(s, "customer state", s->be->customer_state(s, customer, out, n));
}

int fsv__store_new_id(char out[FSV_STORE_ID_LEN + 1])
{
    unsigned char b[16];
    size_t got = 0;
    while (got < sizeof b) {
        ssize_t k = getrandom(b + got, sizeof b - got, 0);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        got += (size_t)k;
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, FSV_STORE_ID_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
             "%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
             b[10], b[11], b[12], b[13], b[14], b[15]);
    return 0;
}

int fsv__store_identity_of(fsv_store *s, const char *id_text,
                           const char *epoch_text,
                           char id[FSV_STORE_ID_LEN + 1], int64_t *epoch)
{
    *epoch = 0;
    id[0] = '\0';
    if (!id_text || !id_text[0] || !epoch_text || !epoch_text[0])
        return fsv__store_setmsg(s, FSV_ERROR, "store: no store id or epoch"
                                 " in meta");
    snprintf(id, FSV_STORE_ID_LEN + 1, "%s", id_text);
    *epoch = strtoll(epoch_text, NULL, 10);
    return FSV_OK;
}

int fsv__store_backup_create(const char *dst, int *fd, char *err,
                             size_t errlen)
{
    *fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (*fd < 0) {
        int e = errno;
        snprintf(err, errlen, e == EEXIST
                 ? "%s already exists: refusing to overwrite it"
                 : "cannot create %s: %s", dst, strerror(e));
        return e == EEXIST ? FSV_EXISTS : FSV_ERROR;
    }
    fchmod(*fd, 0600);  /* whatever the umask */
    return FSV_OK;
}

int fsv_store_identity(fsv_store *s, char id[FSV_STORE_ID_LEN + 1],
                       int64_t *epoch)
{
    CALL(s, "identity", s->be->identity(s, id, epoch));
}

int fsv_store_device_get(fsv_store *s, const char *device, char *user,
                         int64_t *counter)
{
    CALL(s, "device get", s->be->device_get(s, device, user, counter));
}

int fsv_store_device_accept(fsv_store *s, const char *device, const char *user,
                            int64_t counter)
{
    CALL(s, "device accept", s->be->device_accept(s, device, user, counter));
}

int fsv_store_change_by_counter(fsv_store *s, const char *device, int64_t k,
                                fdsp_change *out)
{
    CALL(s, "change by counter", s->be->change_by_counter(s, device, k, out));
}

int fsv_store_api_token_check(fsv_store *s,
                              const unsigned char hash[FSV_TOKEN_HASH],
                              fsv_user *u)
{
    CALL(s, "api token check", s->be->api_token_check(s, hash, u));
}

int fsv_store_api_register(fsv_store *s, const char *tbl, const char *rid,
                           const char *field, fds_register *out)
{
    CALL(s, "api register", s->be->api_register(s, tbl, rid, field, out));
}

int fsv_store_sum_keys(fsv_store *s, fsv_sum_key **out, size_t *n)
{
    CALL(s, "sum keys", s->be->sum_keys(s, out, n));
}

int fsv_store_record_state(fsv_store *s, const char *tbl, const char *rid,
                           fdsp_change **out, size_t *n)
{
    CALL(s, "record state", s->be->record_state(s, tbl, rid, out, n));
}

/* ---- The office view ---------------------------------------------------------- */

int fsv_store_office_page(fsv_store *s, const fsv_page_query *q, char ***ids,
                          size_t *n, int64_t *total, int *more)
{
    *ids = NULL;
    *n = 0;
    *total = 0;
    *more = 0;
    if (!q->scope || q->limit < 1 || q->limit > FSV_PAGE_MAX)
        return fsv__store_setmsg(s, FSV_INVALID, "a page holds 1 to %d"
                                 " customers", FSV_PAGE_MAX);
    CALL(s, "office page", s->be->office_page(s, q, ids, n, total, more));
}

int fsv_store_office_values(fsv_store *s, const char *id, json_t **values,
                            int64_t *updated_ms, int64_t *conflicts,
                            int64_t *next_ms, int64_t *last_ms)
{
    CALL(s, "office values", s->be->office_values(s, id, values, updated_ms,
                                                  conflicts, next_ms, last_ms));
}

int fsv_store_customer_history(fsv_store *s, const char *customer,
                               int64_t asof_s, fdsp_change **out, size_t *n)
{
    CALL(s, "customer history",
         s->be->customer_history(s, customer, asof_s, out, n));
}

int fsv_store_office_customers(fsv_store *s, const fsv_scope *sc,
                               fsv_office_cust_fn fn, void *ud)
{
    CALL(s, "office customers", s->be->office_customers(s, sc, fn, ud));
}

int fsv_store_office_children(fsv_store *s, const fsv_scope *sc,
                              const char *tbl, int64_t from_ms, int64_t to_ms,
                              const char *stage_in, fsv_office_child_fn fn,
                              void *ud)
{
    CALL(s, "office children", s->be->office_children(s, sc, tbl, from_ms,
                                                      to_ms, stage_in, fn, ud));
}

int fsv_store_office_reached(fsv_store *s, const fsv_scope *sc,
                             fsv_office_count_fn fn, void *ud)
{
    CALL(s, "office reached", s->be->office_reached(s, sc, fn, ud));
}

int fsv_store_office_conflicts(fsv_store *s, const fsv_scope *sc,
                               fsv_office_conflict_fn fn, void *ud)
{
    CALL(s, "office conflicts", s->be->office_conflicts(s, sc, fn, ud));
}

/* ---- The customer pool ------------------------------------------------------- */
/* A backend without the pool's entries (NULL) has an empty pool: reads
** answer "never pooled", rules off, nothing counted; writes are refused
** naming the store, so a release pushed to it is refused by name rather
** than half-kept. */
static int no_pool(fsv_store *s)
{
    return fsv__store_setmsg(s, FSV_ERROR, "the %s store keeps no customer "
                             "pool", s->be->scheme);
}

int fsv_store_pool_rules_get(fsv_store *s, fsv_pool_rules *r)
{
    if (!s->be->pool_rules_get) {
        memset(r, 0, sizeof *r);
        return FSV_OK;
    }
    CALL(s, "pool rules", s->be->pool_rules_get(s, r));
}

int fsv_store_pool_rules_set(fsv_store *s, const fsv_pool_rules *r)
{
    if (!s->be->pool_rules_set)
        return no_pool(s);
    CALL(s, "pool rules", s->be->pool_rules_set(s, r));
}

int fsv_store_pool_get(fsv_store *s, const char *customer, fsv_pool_row *out)
{
    if (!s->be->pool_get)
        return fsv__store_setmsg(s, FSV_NOTFOUND, "customer %s was never in "
                                 "the pool", customer);
    CALL(s, "pool row", s->be->pool_get(s, customer, out));
}

int fsv_store_pool_put(fsv_store *s, const char *customer,
                       const fsv_pool_row *row)
{
    if (!s->be->pool_put)
        return no_pool(s);
    CALL(s, "pool row", s->be->pool_put(s, customer, row));
}

int fsv_store_pool_log(fsv_store *s, const char *customer, const char *user,
                       const char *kind, const char *team, int64_t at_ms)
{
    if (!s->be->pool_log)
        return no_pool(s);
    CALL(s, "pool log", s->be->pool_log(s, customer, user, kind, team, at_ms));
}

int fsv_store_pool_log_count(fsv_store *s, const char *user, const char *kind,
                             int64_t since_ms, int64_t *n)
{
    if (!s->be->pool_log_count) {
        *n = 0;
        return FSV_OK;
    }
    CALL(s, "pool log", s->be->pool_log_count(s, user, kind, since_ms, n));
}

int fsv_store_pool_owned(fsv_store *s, const char *user, int64_t *n)
{
    if (!s->be->pool_owned) {
        *n = 0;
        return FSV_OK;
    }
    CALL(s, "owned customers", s->be->pool_owned(s, user, n));
}

int fsv_store_pool_figures(fsv_store *s, int64_t since_ms, json_t **out)
{
    if (!s->be->pool_figures) {
        *out = json_array();
        return *out ? FSV_OK : fsv__store_setmsg(s, FSV_NOMEM, "out of memory");
    }
    CALL(s, "pool figures", s->be->pool_figures(s, since_ms, out));
}

/* The aggregates are optional: without them, FSV_NOTFOUND (no message:
** the caller falls back to the scans). */
int fsv_store_office_agg_customers(fsv_store *s, const fsv_scope *sc,
                                   fsv_office_agg_fn fn, void *ud)
{
    if (!s->be->office_agg_customers)
        return FSV_NOTFOUND;
    CALL(s, "office aggregates", s->be->office_agg_customers(s, sc, fn, ud));
}

int fsv_store_office_child_counts(fsv_store *s, const fsv_scope *sc,
                                  const char *tbl, const int64_t *bounds,
                                  size_t nb, fsv_office_bucket_fn fn, void *ud)
{
    if (!s->be->office_child_counts)
        return FSV_NOTFOUND;
    CALL(s, "office counts", s->be->office_child_counts(s, sc, tbl, bounds, nb,
                                                        fn, ud));
}

int fsv_store_office_customers_sel(fsv_store *s, const fsv_scope *sc,
                                   const char *stage_in, const char *mds,
                                   fsv_office_cust_fn fn, void *ud)
{
    if (!s->be->office_customers_sel)
        return FSV_NOTFOUND;
    CALL(s, "office selection", s->be->office_customers_sel(s, sc, stage_in, mds,
                                                            fn, ud));
}
