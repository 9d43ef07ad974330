/*
** http_auth.c — who is calling the API: a bearer device token, or the
** fs_session cookie made by POST /api/login.  Sessions live in memory only
** (a restart signs everyone out): the server keeps the SHA-256 of each
** session id, never the id itself, with the hash of the token it was made
** from and its expiry.  Every request re-checks that token in the store, so
** revoking it or disabling its user ends the session at once.
*/
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api.h"
#include "authlim.h"
#include "log.h"

#define SID_BYTES 32

struct fsv_websess {
    struct fsv_websess *next;
    unsigned char sid_hash[SHA256_DIGEST_LENGTH];
    unsigned char token_hash[FSV_TOKEN_HASH];
    int64_t expires_ms;
};

static const char cookie_attrs[] = "; HttpOnly; Secure; SameSite=Strict; Path=/";

/* The enabled user of a live token (by hash), a read: only sign-in notes
** the token's use (a write). */
static int check_hash(fsv_store *st, const unsigned char hash[FSV_TOKEN_HASH],
                      fsv_user *u)
{
    int rc = fsv_store_begin_read(st);
    if (rc == FSV_OK) {
        rc = fsv_store_api_token_check(st, hash, u);
        fsv_store_rollback(st);
    }
    return rc;
}

static int auth_hash(fsv_store *st, const unsigned char hash[FSV_TOKEN_HASH],
                     fsv_user *u)
{
    char id[FSV_TOKEN_ID_LEN + 1];
    int rc = fsv_store_begin(st);
    if (rc == FSV_OK)
        rc = fsv_store_token_auth(st, hash, u, id);
    if (rc == FSV_OK)
        rc = fsv_store_commit(st);
    else
        fsv_store_rollback(st);
    return rc;
}

static int bearer(const char *auth, unsigned char hash[FSV_TOKEN_HASH])
{
    if (strncasecmp(auth, "Bearer ", 7) != 0)
        return FSV_INVALID;
    return fsv_token_hash(auth + 7, hash);
}

/* The fs_session value in a Cookie header (h2 may join several with "; "). */
static int cookie_sid(const char *cookie, char *sid, size_t cap)
{
    const char *p = cookie;
    while (p && *p) {
        while (*p == ' ' || *p == ';')
            p++;
        const char *end = strchr(p, ';');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n > 11 && strncmp(p, "fs_session=", 11) == 0 && n - 11 < cap) {
            memcpy(sid, p + 11, n - 11);
            sid[n - 11] = '\0';
            return 0;
        }
        p = end;
    }
    return -1;
}

static void sid_hash(const char *sid, unsigned char out[SHA256_DIGEST_LENGTH])
{
    SHA256((const unsigned char *)sid, strlen(sid), out);
}

static void expire(fsv_api *api, int64_t now)
{
    struct fsv_websess **pp = &api->sessions;
    while (*pp) {
        if ((*pp)->expires_ms <= now) {
            struct fsv_websess *gone = *pp;
            *pp = gone->next;
            OPENSSL_cleanse(gone, sizeof *gone);
            free(gone);
        } else {
            pp = &(*pp)->next;
        }
    }
}

static struct fsv_websess *find_session(fsv_api *api, const char *cookie)
{
    char sid[2 * SID_BYTES + 8];
    unsigned char h[SHA256_DIGEST_LENGTH];
    if (cookie_sid(cookie, sid, sizeof sid) != 0 || strlen(sid) != 2 * SID_BYTES)
        return NULL;
    expire(api, fsv_now_ms());
    sid_hash(sid, h);
    for (struct fsv_websess *w = api->sessions; w; w = w->next)
        if (CRYPTO_memcmp(w->sid_hash, h, sizeof h) == 0)
            return w;
    return NULL;
}

int fsv_auth_headers(fsv_api *api, const char *auth, const char *cookie,
                     fsv_user *u)
{
    unsigned char hash[FSV_TOKEN_HASH];
    if (auth && auth[0]) {
        int rc = bearer(auth, hash);
        return rc == FSV_OK ? check_hash(api->srv->store, hash, u) : rc;
    }
    struct fsv_websess *w = cookie ? find_session(api, cookie) : NULL;
    if (!w)
        return FSV_NOTFOUND;
    return check_hash(api->srv->store, w->token_hash, u);
}

int fsv_auth_known(fsv_api *api, const char *auth, const char *cookie)
{
    if (auth && auth[0])
        return 1;
    return cookie && find_session(api, cookie) != NULL;
}

/* ---- Failed authentications (one limiter, authlim.h) --------------------------- */

/* Login and bearer failures count in the server's one limiter, with the
** sync WebSocket's upgrades (ws_sync.c): FSV_AUTH_FAIL_MAX failures from an
** address within FSV_AUTH_FAIL_WINDOW_S block it for FSV_AUTH_BLOCK_S. */
static void auth_failed(fsv_api *api, const char *peer, const char *what)
{
    fsv_warn("auth_refused what=%s peer=%s why=%s", what, peer,
             "unknown or revoked token");
    if (fsv_authlim_fail(api->srv->authlim, peer, fsv_now_ms()))
        fsv_warn("auth_blocked peer=%s failures=%d window_s=%d block_s=%d",
                 peer, FSV_AUTH_FAIL_MAX, FSV_AUTH_FAIL_WINDOW_S,
                 FSV_AUTH_BLOCK_S);
}

static int auth_blocked(fsv_api *api, const char *peer)
{
    return fsv_authlim_blocked(api->srv->authlim, peer, fsv_now_ms()) > 0;
}

int fsv_auth_caller(fsv_api *api, const fsv_req *q, fsv_user *u, fsv_resp *resp)
{
    /* A bearer token from an address that failed too often is not even
    ** looked at (as the sync upgrade and login). */
    if (q->auth[0] && auth_blocked(api, q->peer)) {
        fsv_resp_error(resp, 429, "too many failed authentications from %s:"
                       " wait a minute", q->peer);
        return FSV_INVALID;
    }
    int rc = fsv_auth_headers(api, q->auth, q->cookie, u);
    if (rc == FSV_OK)
        return FSV_OK;
    /* Only a token the server refused counts, not a store failure. */
    if (q->auth[0] && (rc == FSV_NOTFOUND || rc == FSV_INVALID))
        auth_failed(api, q->peer, "bearer token");
    if (q->auth[0])
        fsv_resp_error(resp, 401, "unknown or revoked token");
    else if (q->cookie[0] && strstr(q->cookie, "fs_session="))
        fsv_resp_error(resp, 401, "the session has expired or is unknown: sign in again");
    else
        fsv_resp_error(resp, 401, "sign in first: send Authorization: Bearer TOKEN or the fs_session cookie");
    return rc;
}

static json_t *me_json(const fsv_user *u)
{
    return json_pack("{s:s, s:s, s:o}", "user", u->name, "role", u->role,
                     "team", u->team[0] ? json_string(u->team) : json_null());
}

void fsv_api_me(fsv_api *api, const fsv_req *q, fsv_resp *resp)
{
    fsv_user u;
    if (fsv_auth_caller(api, q, &u, resp) == FSV_OK)
        fsv_resp_json(resp, 200, me_json(&u));
}

/* ---- Login / logout --------------------------------------------------------------- */

void fsv_api_login(fsv_api *api, const fsv_req *q, fsv_resp *resp)
{
    int64_t now = fsv_now_ms();
    if (auth_blocked(api, q->peer)) {
        fsv_resp_error(resp, 429, "too many failed sign-ins from %s: wait a minute", q->peer);
        return;
    }
    if (strncasecmp(q->ctype, "application/json", 16) != 0) {
        fsv_resp_error(resp, 415, "POST /api/login takes Content-Type: application/json");
        return;
    }
    json_error_t jerr;
    json_t *body = json_loadb(q->body ? q->body : "", q->body_len, 0, &jerr);
    json_t *tok = json_object_get(body, "token");
    if (!json_is_object(body) || !json_is_string(tok)) {
        json_decref(body);
        fsv_resp_error(resp, 400, "the body must be {\"token\": \"fs_...\"}");
        return;
    }
    unsigned char hash[FSV_TOKEN_HASH];
    fsv_user u;
    int rc = fsv_token_hash(json_string_value(tok), hash) == FSV_OK
                 ? auth_hash(api->srv->store, hash, &u) : FSV_NOTFOUND;
    json_decref(body);
    if (rc != FSV_OK) {
        if (rc == FSV_NOTFOUND) {
            auth_failed(api, q->peer, "sign-in");
            fsv_resp_error(resp, 401, "unknown or revoked token");
        } else {
            fsv_resp_error(resp, 500, "the store failed while checking the token");
        }
        return;
    }
    expire(api, now);
    size_t count = 0;
    for (struct fsv_websess *w = api->sessions; w; w = w->next)
        count++;
    if (count >= FSV_SESSION_MAX) {
        fsv_resp_error(resp, 500, "too many open sessions on this server");
        return;
    }
    unsigned char raw[SID_BYTES];
    char sid[2 * SID_BYTES + 1];
    struct fsv_websess *w = calloc(1, sizeof *w);
    if (!w || RAND_bytes(raw, sizeof raw) != 1) {
        free(w);
        fsv_resp_error(resp, 500, "cannot make a session id (random source failed)");
        return;
    }
    for (size_t i = 0; i < SID_BYTES; i++)
        snprintf(sid + 2 * i, 3, "%02x", raw[i]);
    OPENSSL_cleanse(raw, sizeof raw);
    sid_hash(sid, w->sid_hash);
    memcpy(w->token_hash, hash, sizeof hash);
    w->expires_ms = now + (int64_t)FSV_SESSION_TTL_S * 1000;
    w->next = api->sessions;
    api->sessions = w;

    char cookie[256];
    snprintf(cookie, sizeof cookie, "fs_session=%s%s; Max-Age=%d", sid,
             cookie_attrs, FSV_SESSION_TTL_S);
    OPENSSL_cleanse(sid, sizeof sid);
    fsv_resp_json(resp, 200, me_json(&u));
    fsv_resp_header(resp, "set-cookie:", cookie);
    OPENSSL_cleanse(cookie, sizeof cookie);
    fsv_info("sign-in user=%s role=%s peer=%s", u.name, u.role, q->peer);
}

void fsv_api_logout(fsv_api *api, const fsv_req *q, fsv_resp *resp)
{
    struct fsv_websess *w = find_session(api, q->cookie);
    if (w) {
        for (struct fsv_websess **pp = &api->sessions; *pp; pp = &(*pp)->next)
            if (*pp == w) {
                *pp = w->next;
                break;
            }
        OPENSSL_cleanse(w, sizeof *w);
        free(w);
    }
    resp->status = 204;
    resp->ctype = "text/plain";
    char cookie[128];
    snprintf(cookie, sizeof cookie, "fs_session=%s; Max-Age=0", cookie_attrs);
    fsv_resp_header(resp, "set-cookie:", cookie);
}

void fsv_auth_free(fsv_api *api)
{
    expire(api, INT64_MAX);
}
