/*
** store_backend.h — what a store backend implements (store.h's functions,
** as a table), seen only by store.c and the backends under store/NAME/.
** Like SQLite's VFS or curl's TLS backends: a backend is a folder and one
** fsv_store_backend table; store.c picks it by the URL's scheme and calls
** through the table, so sync/, api/ and cmd/ never name a backend.
**
** A backend's handle starts with struct fsv_store (cast it to the
** backend's own type: struct fsv_sqlite { fsv_store base; ... }).  Every
** entry has the contract of the store.h function of the same name, except
** that store.c has already checked what store.h calls backend-neutral
** (names, roles, the meaning of share records; see store.c), and that a
** failing entry should set the handle's message with fsv__store_setmsg
** (store.c sets a generic one from fsv_errstr() when it did not).
*/
#ifndef FSV_STORE_BACKEND_H
#define FSV_STORE_BACKEND_H

#include "store.h"

#define FSV_STORE_MSG_MAX 512

struct fsv_store {
    const struct fsv_store_backend *be;
    unsigned msg_gen; /* bumped by every fsv__store_setmsg */
    char errmsg[FSV_STORE_MSG_MAX];
    /* store_teams.c's cache of the team map (fsv_store_team_map): valid
    ** while teams_ok and the data version is teams_dv; checked once per
    ** transaction (tx_gen, bumped by begin/commit/rollback), and outside
    ** one at most every FSV_TEAMS_RECHECK_MS (a live fan-out asks once per
    ** manager and customer: a data-version query each would cost more than
    ** the decision). */
    fsv_teams *teams;
    int teams_ok;
    int64_t teams_dv;
    unsigned tx_gen, teams_gen;
    int tx_open;    /* inside begin/begin_read .. commit/rollback */
    int64_t teams_checked_ms;   /* monotonic ms of the last check outside */
};

/* The JSON array of team and every team below it (store_teams.c), for a
** backend to match users' teams against (json_each); *json NULL when team
** is NULL or "".  Free with free(). */
int fsv__store_subtree_json(fsv_store *s, const char *team, char **json);
/* The same for the pools a user of team sees (their team, the teams it
** is within, and for a manager the teams within it); NULL for "". */
int fsv__store_pool_teams_json(fsv_store *s, const char *team, int manager,
                               char **json);
/* Identity and backup, the same for every backend (store.c); a backend
** keeps only its SQL.  A new store id: a random UUID (version 4) from the
** OS CSPRNG, as core's record ids; 0, or -1 if the random source failed. */
int fsv__store_new_id(char out[FSV_STORE_ID_LEN + 1]);
/* The identity (rule 13) from the texts a backend keeps (meta store_id and
** epoch): FSV_OK, or FSV_ERROR with the message set if either is missing. */
int fsv__store_identity_of(fsv_store *s, const char *id_text,
                           const char *epoch_text,
                           char id[FSV_STORE_ID_LEN + 1], int64_t *epoch);
/* A backup's destination: created, never over an existing file (a
** previous backup, or the live store), mode 0600.  FSV_OK with *fd open,
** else FSV_EXISTS or FSV_ERROR with err set. */
int fsv__store_backup_create(const char *dst, int *fd, char *err,
                             size_t errlen);
/* Forget the cached team map (store_teams.c), after writing teams. */
void fsv__store_teams_forget(fsv_store *s);

/* Set the handle's message (printf format) and return rc. */
int fsv__store_setmsg(fsv_store *s, int rc, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* The rows of the user and token lists; store.c makes their JSON.  A time
** never set is FSV_NO_TIME.  Arrays malloc'd, in the order store.h names
** (users by name; a user's tokens by creation, then id). */
#define FSV_NO_TIME INT64_MIN
typedef struct fsv_user_row {
    fsv_user user;
    int64_t created_ms;
    int64_t tokens; /* live (unrevoked) tokens */
} fsv_user_row;
typedef struct fsv_token_row {
    char token_id[FSV_TOKEN_ID_LEN + 1];
    char user[FSV_NAME_MAX + 1];
    int64_t created_ms, revoked_ms, last_used_ms;
} fsv_token_row;
/* Devices that synced, newest first (then by id); 0 if never. */
typedef struct fsv_device_row {
    char device[FDSP_MAX_ID + 1];
    char user[FSV_NAME_MAX + 1];
    int64_t last_sync_ms;
} fsv_device_row;

/* A record id and one field's value (prefix_values). */
typedef struct fsv_rec_value {
    char *rid;
    char *value;
} fsv_rec_value;
void fsv_rec_values_free(fsv_rec_value *v, size_t n);

typedef struct fsv_store_backend {
    const char *scheme; /* the URL scheme: "sqlite" for sqlite:PATH */
    /* where: the URL after "scheme:".  On failure err has the reason. */
    int (*open)(const char *where, int create, fsv_store **out, char *err,
                size_t errlen);
    void (*close)(fsv_store *s);
    /* dst: the destination URL after "scheme:" (same backend). */
    int (*backup)(fsv_store *s, const char *dst, int64_t epoch, int64_t *rows,
                  char *err, size_t errlen);
    int (*begin)(fsv_store *s);
    int (*begin_read)(fsv_store *s);
    int (*commit)(fsv_store *s);
    int (*rollback)(fsv_store *s);
    int (*head)(fsv_store *s, int64_t *head);
    int (*history_count)(fsv_store *s, int64_t *n);
    int (*merge_change)(fsv_store *s, fdsp_change *c, int *outcome);
    int (*merge_relayed)(fsv_store *s, fdsp_change *c, const char *relay,
                         int *outcome);
    int (*field_count)(fsv_store *s, const char *tbl, const char *rid,
                       const char *field, int *count, int *has_field);
    int (*field_value)(fsv_store *s, const char *tbl, const char *rid,
                       const char *field, char **value);
    int (*changes_after)(fsv_store *s, int64_t after, int limit,
                         const char *exclude_device, fsv_row_filter filter,
                         void *ud, fdsp_change **out, size_t *n, int64_t *last,
                         int *more);
    int (*record_info)(fsv_store *s, const char *tbl, const char *rid,
                       char **customer, char **creator);
    /* Every record of table tbl whose id starts with prefix (non-empty), in
    ** id order: its id and the value of its field `field` (NULL if it has
    ** none or it holds null).  Free with fsv_rec_values_free. */
    int (*prefix_values)(fsv_store *s, const char *tbl, const char *prefix,
                         const char *field, fsv_rec_value **out, size_t *n);
    int (*user_add)(fsv_store *s, const char *name, const char *role,
                    const char *team);
    int (*user_get)(fsv_store *s, const char *name, fsv_user *u);
    int (*user_rows)(fsv_store *s, fsv_user_row **out, size_t *n);
    int (*user_disable)(fsv_store *s, const char *name);
    int (*token_add)(fsv_store *s, const char *token_id, const char *user,
                     const unsigned char hash[FSV_TOKEN_HASH]);
    int (*token_auth)(fsv_store *s, const unsigned char hash[FSV_TOKEN_HASH],
                      fsv_user *u, char *id);
    int (*token_rows)(fsv_store *s, const char *user, fsv_token_row **out,
                      size_t *n);
    int (*token_revoke)(fsv_store *s, const char *token_id);
    int (*device_seen)(fsv_store *s, const char *device, const char *user,
                       const char *token_id, int64_t now_ms, int64_t head);
    int (*token_live)(fsv_store *s, const char *token_id, int *live);
    int (*data_version)(fsv_store *s, int64_t *version);
    /* Commit notifications from other handles (store.h); NULL: none. */
    int (*notify_fd)(fsv_store *s);
    int (*notify_drain)(fsv_store *s, int64_t *head);
    int (*vis_event_add)(fsv_store *s, int64_t seq, const char *customer,
                         const char *user, int kind);
    int (*vis_events)(fsv_store *s, int64_t after, int64_t upto,
                      char ***customers, char ***users, int **kinds,
                      size_t *n);
    int (*customer_state)(fsv_store *s, const char *customer, fdsp_change **out,
                          size_t *n);
    int (*identity)(fsv_store *s, char id[FSV_STORE_ID_LEN + 1],
                    int64_t *epoch);
    int (*device_get)(fsv_store *s, const char *device, char *user,
                      int64_t *counter);
    int (*device_accept)(fsv_store *s, const char *device, const char *user,
                         int64_t counter);
    int (*change_by_counter)(fsv_store *s, const char *device, int64_t k,
                             fdsp_change *out);
    int (*device_rows)(fsv_store *s, fsv_device_row **out, size_t *n);
    int (*api_token_check)(fsv_store *s,
                           const unsigned char hash[FSV_TOKEN_HASH],
                           fsv_user *u);
    int (*api_register)(fsv_store *s, const char *tbl, const char *rid,
                        const char *field, fds_register *out);
    int (*sum_keys)(fsv_store *s, fsv_sum_key **out, size_t *n);
    int (*record_state)(fsv_store *s, const char *tbl, const char *rid,
                        fdsp_change **out, size_t *n);
    /* The office view (store.h). */
    int (*office_page)(fsv_store *s, const fsv_page_query *q, char ***ids,
                       size_t *n, int64_t *total, int *more);
    int (*office_values)(fsv_store *s, const char *id, json_t **values,
                         int64_t *updated_ms, int64_t *conflicts,
                         int64_t *next_ms, int64_t *last_ms);
    int (*customer_history)(fsv_store *s, const char *customer,
                            int64_t asof_s, fdsp_change **out, size_t *n);
    int (*office_customers)(fsv_store *s, const fsv_scope *sc,
                            fsv_office_cust_fn fn, void *ud);
    int (*office_children)(fsv_store *s, const fsv_scope *sc, const char *tbl,
                           int64_t from_ms, int64_t to_ms,
                           const char *stage_in, fsv_office_child_fn fn,
                           void *ud);
    int (*office_reached)(fsv_store *s, const fsv_scope *sc,
                          fsv_office_count_fn fn, void *ud);
    int (*office_conflicts)(fsv_store *s, const fsv_scope *sc,
                            fsv_office_conflict_fn fn, void *ud);
    /* Optional (NULL: store.c answers FSV_NOTFOUND and the figures scan
    ** with the entries above). */
    int (*office_agg_customers)(fsv_store *s, const fsv_scope *sc,
                                fsv_office_agg_fn fn, void *ud);
    int (*office_child_counts)(fsv_store *s, const fsv_scope *sc,
                               const char *tbl, const int64_t *bounds,
                               size_t nb, fsv_office_bucket_fn fn, void *ud);
    int (*office_customers_sel)(fsv_store *s, const fsv_scope *sc,
                                const char *stage_in, const char *mds,
                                fsv_office_cust_fn fn, void *ud);
    /* Teams and moves (store.h; store_teams.c checks the rules).
    ** teams_load: every team with its parent into a new map; team_put:
    ** insert one (FSV_EXISTS if it is there); user_set: update the user's
    ** row (team/role NULL: keep) and append the move, noting every known
    ** device that has no move mark as not having it, in one transaction
    ** (the caller's, if one is open). */
    int (*teams_load)(fsv_store *s, fsv_teams **out);
    int (*team_put)(fsv_store *s, const char *name, const char *parent);
    int (*user_set)(fsv_store *s, const char *name, const char *team,
                    const char *role, int64_t *move_id);
    int (*moves)(fsv_store *s, int64_t after, fsv_move **out, size_t *n);
    int (*move_done)(fsv_store *s, const char *device, int64_t *done);
    int (*move_done_set)(fsv_store *s, const char *device, int64_t done);
    int (*owned_customers)(fsv_store *s, const char *owner, char ***ids,
                           size_t *n);
    /* Blobs (store.h "Blobs"); NULL in a backend without them, which
    ** store.c answers with FSV_ERROR naming the store. */
    int (*blob_refs_set)(fsv_store *s, const char *followup,
                         const fsv_blob_ref *refs, size_t n);
    int (*blob_followups)(fsv_store *s, const char *sha, char ***out,
                          size_t *n);
    int (*blob_stored)(fsv_store *s, const char *sha, int64_t size,
                       const char *user, int64_t at_ms);
    int (*blob_usage)(fsv_store *s, const char *user, int64_t since_ms,
                      int64_t *bytes);
    /* The customer pool (store.h). */
    int (*pool_rules_get)(fsv_store *s, fsv_pool_rules *r);
    int (*pool_rules_set)(fsv_store *s, const fsv_pool_rules *r);
    int (*pool_get)(fsv_store *s, const char *customer, fsv_pool_row *out);
    int (*pool_put)(fsv_store *s, const char *customer,
                    const fsv_pool_row *row);
    int (*pool_log)(fsv_store *s, const char *customer, const char *user,
                    const char *kind, const char *team, int64_t at_ms);
    int (*pool_log_count)(fsv_store *s, const char *user, const char *kind,
                          int64_t since_ms, int64_t *n);
    int (*pool_owned)(fsv_store *s, const char *user, int64_t *n);
    int (*pool_figures)(fsv_store *s, int64_t since_ms, json_t **out);
    /* Duplicate customers (store.h); NULL entries: the backend keeps no
    ** keys (store_dup.c answers for it). */
    int (*dup_matches)(fsv_store *s, const char *key, const char *customer,
                       fsv_dup_match_fn fn, void *ud);
    int (*dup_notice)(fsv_store *s, const char *user, int64_t now_ms,
                      int64_t since_ms, int64_t *given);
    int (*dup_list)(fsv_store *s, fsv_dup_row_fn fn, void *ud);
    /* fsv_store_vis_load in the backend's own fewer queries; NULL: store_vis.c
    ** composes it from the entries above. */
    int (*vis_load)(fsv_store *s, const fdsp_change *c, size_t n,
                    fsv_vis_facts *f);
} fsv_store_backend;

/* The backends built in (store.c lists them in one table). */
extern const fsv_store_backend fsv_store_sqlite;
/* store/postgres/: "postgresql://..." and libpq's other spelling
** "postgres://..." (the same entries). */
extern const fsv_store_backend fsv_store_postgres;
extern const fsv_store_backend fsv_store_postgres_alias;

#endif /* FSV_STORE_BACKEND_H */
