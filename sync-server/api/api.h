/*
** api.h — the HTTPS JSON API, the dashboard's static files and the /live
** push channel (docs/API.md).  Internal to fieldsync-server.
**
** Where the figures come from: the store's office view (store.h): pages
** of customers, figures and conflicts are indexed queries over
** projections the store keeps current in every merge transaction, within
** the caller's scope (fsv_vis_scope, the sync visibility rule).  Nothing
** is kept per user.  One customer's sheet and timeline (and "as of" a
** time) are built by core's own functions in a small replica fed only
** that customer's history rows (fsv_view_sheet); the definitions come
** from one small replica shared by every user (fsv_view_defs).  The CSV
** export pages through the same office view (fsv_office_list_all).
**
** Everything runs on the lws service thread (see server.h).
*/
#ifndef FSV_API_H
#define FSV_API_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "server.h"

#define FSV_API_BODY_MAX  (16 * 1024)   /* request bodies (413 above) */
#define FSV_API_ARGS_MAX  8             /* query parameters kept */
#define FSV_SESSION_TTL_S (12 * 3600)   /* login session lifetime */
#define FSV_SESSION_MAX   4096          /* login sessions kept at once */
#define FSV_LIVE_MS       250           /* /live head check and coalescing */
#define FSV_LIVE_PROTOCOL "fieldsync.live"

struct fsv_websess;
struct fsv_live;

/* Per-server API state (hangs off fsv_server.api). */
typedef struct fsv_api {
    fsv_server *srv;
    char web_dir[4096];             /* "" = built-in page only */
    struct fsv_websess *sessions;   /* login sessions */
    json_t *defs_sd, *defs_fd;      /* stage/field definitions (shared) */
    char tz[64];                    /* serve --tz ("" = the local zone) */
    struct fsv_fig_cache *fig_cache;    /* answers shared per scope (api_summary.c) */
    unsigned long fig_clock;
    int64_t defs_head;              /* head they were read at */
    struct fsv_live *live;          /* open /live sockets */
    lws_sorted_usec_list_t live_sul;
    int live_timer;                 /* live_sul scheduled */
    int64_t live_head;              /* head last announced */
    unsigned live_ticks;            /* credentials re-checked every 4th */
    int64_t live_dv;                /* store data_version at the last check */
    int live_recheck;               /* a socket joined: check all next time */
} fsv_api;

/* Create/free the API state; web_dir as given by --web (may be NULL). */
fsv_api *fsv_api_new(fsv_server *srv, const char *web_dir);
void fsv_api_free(fsv_api *api);

/* ---- Requests and responses (http.c) ------------------------------------- */
enum { FSV_GET = 1, FSV_POST, FSV_OTHER };

typedef struct fsv_req {
    int method;
    char path[512];
    char *arg_name[FSV_API_ARGS_MAX], *arg_value[FSV_API_ARGS_MAX];
    size_t n_args;
    char auth[256];             /* Authorization header */
    char cookie[1024];
    char ctype[128];
    char peer[64];
    const char *body;           /* POST body (NUL-terminated) */
    size_t body_len;
} fsv_req;

#define FSV_RESP_HDRS 4
typedef struct fsv_resp {
    int status;
    const char *ctype;          /* static string */
    char *body;                 /* malloc'd; NULL = empty */
    size_t len;
    const char *hdr_name[FSV_RESP_HDRS];    /* "set-cookie:" …, static */
    char *hdr_value[FSV_RESP_HDRS];         /* malloc'd */
    size_t n_hdr;
} fsv_resp;

/* One HTTP transaction (the "http" protocol's per-session data). */
typedef struct fsv_http_conn {
    fsv_req req;
    char *body;                 /* POST body being received */
    size_t body_len;
    int too_big;
    int responding;             /* headers sent, body going out */
    fsv_resp resp;
    size_t sent;
} fsv_http_conn;

/* One /live socket (the "fieldsync.live" protocol's per-session data). */
typedef struct fsv_live {
    struct fsv_live *next;
    struct lws *wsi;
    fsv_api *api;
    fsv_user user;
    int linked;
    int64_t sent_head;          /* head last told to this socket */
    int64_t want_head;          /* head to tell next (0: nothing) */
    int hello_pending;
    int bye_pending;
    char bye[64];
    char auth[256], cookie[1024];   /* the upgrade's credentials, re-checked */
    int figures;                /* ?figures=1: "changed" carries the figures */
    char tz[64], team[128];     /* their ?tz= and ?team= */
} fsv_live;

/* Query parameter (decoded), NULL if absent. */
const char *fsv_req_arg(const fsv_req *q, const char *name);

/* Fill resp: a JSON body (steals j; NULL j means 500), an error object
** {"error": msg}, a raw body (copied), an extra header (value copied). */
void fsv_resp_json(fsv_resp *r, int status, json_t *j);
void fsv_resp_error(fsv_resp *r, int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
void fsv_resp_header(fsv_resp *r, const char *name, const char *value);
void fsv_resp_clear(fsv_resp *r);

/* ---- Authentication (http_auth.c) ------------------------------------------ */
/* Who is calling: bearer token first, else the fs_session cookie.  FSV_OK
** with *u filled; else resp holds the 401 (429 for an address the limiter
** blocked) and the code is returned: FSV_NOTFOUND / FSV_INVALID for
** refused credentials, the store's code for a failure. */
int fsv_auth_caller(fsv_api *api, const fsv_req *q, fsv_user *u,
                    fsv_resp *resp);
/* Same for a /live upgrade, from the raw header values, without writing a
** response or counting failures: FSV_OK, FSV_NOTFOUND (unknown, revoked or
** no session), FSV_INVALID (not a bearer token) or the store's code. */
int fsv_auth_headers(fsv_api *api, const char *auth, const char *cookie,
                     fsv_user *u);
/* Without touching the store: 0 if the cookie no longer names a login
** session (expired or signed out), 1 otherwise (a bearer token is only
** ever refused by the store: fsv_auth_headers). */
int fsv_auth_known(fsv_api *api, const char *auth, const char *cookie);
void fsv_api_login(fsv_api *api, const fsv_req *q, fsv_resp *resp);
void fsv_api_logout(fsv_api *api, const fsv_req *q, fsv_resp *resp);
void fsv_api_me(fsv_api *api, const fsv_req *q, fsv_resp *resp);
void fsv_auth_free(fsv_api *api);

/* ---- Replicas for sheets (api_view.c) ----------------------------------------- */
/* A new replica with only customer's records (and the definitions), fed
** the customer's history rows from the store (fsv_store_customer_history):
** all of them (asof_s < 0) or those whose change time, in whole seconds,
** is not after asof_s (unix seconds).  Caller closes it.  The caller has
** checked that u may see the customer. */
int fsv_view_sheet(fsv_api *api, const fsv_user *u, const char *customer,
                   int64_t asof_s, fds_replica **r);
int fsv_view_asof(fsv_api *api, const fsv_user *u, const char *customer,
                  int64_t asof_s, fds_replica **r);
/* The stage and field definitions (fds_stagedef_list/fds_fielddef_list
** shapes), new references; read again only when the head moved. */
int fsv_view_defs(fsv_api *api, json_t **stage_defs, json_t **field_defs);
/* Release the shared definitions (server shutdown). */
void fsv_view_free_all(fsv_api *api);

/* ---- Handlers (api_*.c): fill resp for an authenticated caller ----------- */
void fsv_api_summary(fsv_api *api, const fsv_user *u, const fsv_req *q,
                     fsv_resp *resp);
void fsv_api_analysis(fsv_api *api, const fsv_user *u, const fsv_req *q,
                      fsv_resp *resp);
/* GET /api/analysis/birthdays and /api/analysis/time_to_won (which: the
** list's name): the analysis's whole list, paged as /api/customers. */
void fsv_api_analysis_list(fsv_api *api, const fsv_user *u, const char *which,
                           const fsv_req *q, fsv_resp *resp);
/* The text /api/summary (analysis 0) or /api/analysis (1) answers u with
** ?tz=tz&team=team (NULL or "": absent), shared per scope as there:
** 0 with *json (malloc'd, *len bytes), or -1 (bad tz/team, store error). */
int fsv_fig_text(fsv_api *api, const fsv_user *u, const char *tz,
                 const char *team, int analysis, char **json, size_t *len);
void fsv_api_customers(fsv_api *api, const fsv_user *u, const fsv_req *q,
                       fsv_resp *resp);
void fsv_api_customer(fsv_api *api, const fsv_user *u, const char *id,
                      const fsv_req *q, fsv_resp *resp);
void fsv_api_export(fsv_api *api, const fsv_user *u, fsv_resp *resp);
/* The same with ?team= (fsv_api_team_arg), and with the team given. */
void fsv_api_export_team(fsv_api *api, const fsv_user *u, const fsv_req *q,
                         fsv_resp *resp);
void fsv_api_export_of(fsv_api *api, const fsv_user *u, const char *team,
                       fsv_resp *resp);
/* GET /api/blobs/SHA256: a photo's bytes (api_blobs.c). */
void fsv_api_blob(fsv_api *api, const fsv_user *u, const char *sha,
                  fsv_resp *resp);
/* GET /api/pool: the customer pool's figures (api_pool.c). */
void fsv_api_pool(fsv_api *api, const fsv_user *u, const fsv_req *q,
                  fsv_resp *resp);
/* GET /api/checkins (api_checkins.c): one day's check-ins per rep. */
void fsv_api_checkins(fsv_api *api, const fsv_user *u, const fsv_req *q,
                      fsv_resp *resp);
/* GET /api/duplicates (api_duplicates.c): suspected duplicate customers
** (撞单) within the caller's scope; managers and admins only. */
void fsv_api_duplicates(fsv_api *api, const fsv_user *u, const fsv_req *q,
                        fsv_resp *resp);
/* Every customer u may see, not deleted, in the list's shape and name
** order (the export's rows), read page by page from the store in one
** snapshot.  FSV_OK with *out new, or the store's code. */
int fsv_office_list_all(fsv_api *api, const fsv_user *u, json_t **out);
/* The same for the dashboard's team filter: only the customers of team
** and the teams below it (NULL: all of them). */
int fsv_office_list_team(fsv_api *api, const fsv_user *u, const char *team,
                         json_t **out);

/* ---- Teams (api_teams.c) ---------------------------------------------------------- */
/* GET /api/teams: {"teams": [{"team", "parent"}]}, the teams u may filter
** by (everything for who sees everything; a manager's team and those
** below it; none for a rep). */
void fsv_api_teams(fsv_api *api, const fsv_user *u, const fsv_req *q,
                   fsv_resp *resp);
/* The ?team= filter of a request: *team NULL (none) or the team (a team
** the store knows, else a 400 naming it).  0, or -1 with resp filled. */
int fsv_api_team_arg(fsv_api *api, const fsv_req *q, fsv_resp *resp,
                     const char **team);

/* ---- Figures (api_figures.c) ---------------------------------------------------- */
/* GET /api/summary's and /api/analysis's objects (docs/API.md) for u from
** the store's office view, with the given definitions (fsv_view_defs),
** "now" and, for the analysis, time zone tz (NULL or "": the server's
** local zone).  FSV_OK with *out new, or the store's code. */
int fsv_fig_summary(fsv_store *st, const fsv_user *u, json_t *sdefs,
                    json_t *fdefs, int64_t now_ms, int64_t head, json_t **out);
int fsv_fig_analysis(fsv_store *st, const fsv_user *u, json_t *sdefs,
                     int64_t now_ms, const char *tz, int64_t head, json_t **out);
/* The same with the dashboard's team filter (team NULL: none; see
** fsv_scope.filter_team). */
int fsv_fig_summary_team(fsv_store *st, const fsv_user *u, const char *team,
                         json_t *sdefs, json_t *fdefs, int64_t now_ms,
                         int64_t head, json_t **out);
int fsv_fig_analysis_team(fsv_store *st, const fsv_user *u, const char *team,
                          json_t *sdefs, int64_t now_ms, const char *tz,
                          int64_t head, json_t **out);
/* Free the figures' shared answers (api_summary.c; server shutdown). */
void fsv_fig_cache_free(fsv_api *api);
/* 1 if stage key has flag ("won"/"lost") in defs. */
int fsv_fig_stage_flag(const json_t *defs, const char *key, const char *flag);

/* ---- /live (live.c) ------------------------------------------------------------- */
int fsv_live_callback(struct lws *wsi, enum lws_callback_reasons reason,
                      void *user, void *in, size_t len);
/* Shutdown: say bye on every socket / stop the head timer (before the
** context is destroyed). */
void fsv_live_close_all(fsv_api *api);
void fsv_live_stop(fsv_api *api);

#endif /* FSV_API_H */
