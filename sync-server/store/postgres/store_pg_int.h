/*
** store_pg_int.h — private to the PostgreSQL backend's files (everything
** in store/postgres/): the connection behind an fsv_store handle, the
** statement helpers and the backend's entries (the table,
** fsv_store_postgres, is at the end of store_pg.c).
*/
#ifndef FSV_STORE_PG_INT_H
#define FSV_STORE_PG_INT_H

#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "store_backend.h"

/* Prepared statements, prepared on a connection at first use (PQprepare
** under the name "sN"); their SQL is in store_pg.c's table. */
enum {
    PS_HEAD, PS_HIST_COUNT, PS_SEQ_LOCK, PS_SEQ_BUMP, PS_DV,
    PS_META_GET,
    PS_USER_ADD, PS_USER_GET, PS_USER_LIST, PS_USER_DISABLE,
    PS_TOKEN_ADD, PS_TOKEN_AUTH, PS_TOKEN_TOUCH, PS_TOKEN_LIST,
    PS_TOKEN_REVOKE, PS_TOKEN_LIVE,
    PS_DEVICE_SEEN, PS_DEVICE_GET, PS_DEVICE_ACCEPT, PS_DEVICE_ROWS,
    PS_REC_GET, PS_HIST_ADD, PS_SCAN,
    PS_PREFIX, PS_BY_COUNTER, PS_VISEV_ADD, PS_VISEV_LIST,
    PS_CUST_REGS, PS_REC_REGS, PS_REC_ROW,
    PS_HIST_PUT, PS_REC_PUTS, PS_REC_ROWS, PS_SHARE_ROWS,
    PS__COUNT
};

/* Parameters of one statement, as text (binary for bytea). */
#define PGP_MAX 12
typedef struct pgp {
    int n;
    const char *v[PGP_MAX];
    int len[PGP_MAX];
    int fmt[PGP_MAX];
    char num[PGP_MAX][24];
} pgp;

static inline void p_text(pgp *p, const char *v)
{
    p->v[p->n] = v;
    p->len[p->n] = 0;
    p->fmt[p->n] = 0;
    p->n++;
}

static inline void p_i64(pgp *p, int64_t v)
{
    snprintf(p->num[p->n], sizeof p->num[p->n], "%lld", (long long)v);
    p_text(p, p->num[p->n]);
}

static inline void p_bin(pgp *p, const void *v, int len)
{
    p->v[p->n] = v;
    p->len[p->n] = len;
    p->fmt[p->n] = 1;
    p->n++;
}

/* The PostgreSQL handle: the generic one first (store_backend.h). */
typedef struct fsv_pg {
    fsv_store base;
    PGconn *db;
    char *url;          /* the store's URL (pg_dump connects with it) */
    unsigned char prepared[PS__COUNT];
    int in_tx, write_tx;
    int64_t head;       /* write tx: the sequencer's head, with ours */
    /* data_version: seen = the counter as last read or bumped by us;
    ** ver = what fsv_store_data_version answers (moves only when another
    ** handle committed). */
    int64_t dv_seen, dv_ver;
    const char *relay;  /* merge_relayed's relay, NULL normally */
    void *office;       /* store_pg_office.c's records noted this transaction */
    void *memo;         /* store_pg_memo.c's records of this write transaction */
    void *hist;         /* store_pg_batch.c's history rows not yet written */
    void *notes;        /* store_pg_batch.c's office notes, given at commit */
    PGconn *listen;     /* store_pg_notify.c: LISTEN fieldsync, NULL until asked */
} fsv_pg;

#define PG(s) ((fsv_pg *)(s))
#define seterr fsv__store_setmsg

/* Run prepared statement slot with p (NULL: none).  The result (caller
** PQclears) when it succeeded, else NULL with the message set and *rc
** the code: FSV_BUSY for a serialization failure, deadlock or lock
** timeout (the whole transaction may be retried), FSV_EXISTS for a
** unique violation, FSV_ERROR otherwise.  what names it in the message. */
PGresult *fsv__pg_exec(fsv_store *s, int slot, const pgp *p, const char *what,
                       int *rc);
/* The same for a statement that returns no rows: FSV_OK or the code;
** *changed the rows it changed (may be NULL). */
int fsv__pg_run(fsv_store *s, int slot, const pgp *p, const char *what,
                int64_t *changed);
/* Unprepared SQL with parameters (PQexecParams), for the rare calls
** (admin commands, pool moves, photos, duplicate keys): the result or
** NULL with *rc and the message as fsv__pg_exec.  It does not flush the
** memo: none of these statements reads rec. */
PGresult *fsv__pg_q(fsv_store *s, const char *sql, const pgp *p,
                    const char *what, int *rc);
int fsv__pg_qrun(fsv_store *s, const char *sql, const pgp *p,
                 const char *what, int64_t *changed);
/* SQL text run once (no parameters): FSV_OK or the code. */
int fsv__pg_sql(fsv_store *s, const char *sql, const char *what);
/* Admin calls run in their own write transaction unless one is open. */
int fsv__pg_auto_begin(fsv_store *s, int *mine);
int fsv__pg_auto_end(fsv_store *s, int mine, int rc);

static inline int64_t col_i64(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0
                                    : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static inline void col_copy(const PGresult *r, int row, int col, char *dst,
                            size_t cap)
{
    snprintf(dst, cap, "%s", PQgetisnull(r, row, col) ? ""
                                                      : PQgetvalue(r, row, col));
}

static inline char *col_dup(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : strdup(PQgetvalue(r, row, col));
}

int64_t fsv__pg_now_ms(void);

/* The backend's entries (fsv_store_X -> fsv_pg_X). */
int fsv_pg_open(const char *where, int create, fsv_store **out, char *err,
                size_t errlen);
void fsv_pg_close(fsv_store *s);
int fsv_pg_backup(fsv_store *s, const char *dst, int64_t epoch, int64_t *rows,
                  char *err, size_t errlen);
int fsv_pg_begin(fsv_store *s);
int fsv_pg_begin_read(fsv_store *s);
int fsv_pg_commit(fsv_store *s);
int fsv_pg_rollback(fsv_store *s);
int fsv_pg_head(fsv_store *s, int64_t *head);
int fsv_pg_history_count(fsv_store *s, int64_t *n);
/* store_pg_merge.c: registers, merge, history and its scans. */
int fsv_pg_merge_change(fsv_store *s, fdsp_change *c, int *outcome);
int fsv_pg_merge_relayed(fsv_store *s, fdsp_change *c, const char *relay,
                         int *outcome);
int fsv_pg_field_count(fsv_store *s, const char *tbl, const char *rid,
                       const char *field, int *count, int *has_field);
int fsv_pg_field_value(fsv_store *s, const char *tbl, const char *rid,
                       const char *field, char **value);
int fsv_pg_changes_after(fsv_store *s, int64_t after, int limit,
                         const char *exclude_device, fsv_row_filter filter,
                         void *ud, fdsp_change **out, size_t *n, int64_t *last,
                         int *more);
int fsv_pg_record_info(fsv_store *s, const char *tbl, const char *rid,
                       char **customer, char **creator);
int fsv_pg_prefix_values(fsv_store *s, const char *tbl, const char *prefix,
                         const char *field, fsv_rec_value **out, size_t *n);
int fsv_pg_api_register(fsv_store *s, const char *tbl, const char *rid,
                        const char *field, fds_register *out);
int fsv_pg_change_by_counter(fsv_store *s, const char *device, int64_t k,
                             fdsp_change *out);
int fsv_pg_vis_event_add(fsv_store *s, int64_t seq, const char *customer,
                         const char *user, int kind);
int fsv_pg_vis_events(fsv_store *s, int64_t after, int64_t upto,
                      char ***customers, char ***users, int **kinds, size_t *n);
int fsv_pg_customer_state(fsv_store *s, const char *customer,
                          fdsp_change **out, size_t *n);
int fsv_pg_record_state(fsv_store *s, const char *tbl, const char *rid,
                        fdsp_change **out, size_t *n);
/* store_pg_memo.c: the write transaction's records (see the file).
** memo_get reads (tbl, rid) into the memo on first use (exists 0: no
** such record yet); memo_find only looks; memo_dirty marks an entry
** changed; memo_flush writes the changed ones (commit, and before SQL
** that reads rec rows); memo_clear forgets (begin, commit, rollback). */
typedef struct pg_mrec {
    char *tbl, *rid;
    int exists;         /* a record (in rec, or made by this transaction) */
    char *customer, *creator;
    json_t *regs;       /* {FIELD: canonical register text} */
    int conflicts;      /* registers in conflict */
    int dirty;
} pg_mrec;
int fsv__pg_memo_get(fsv_store *s, const char *tbl, const char *rid,
                     pg_mrec **out);
pg_mrec *fsv__pg_memo_find(fsv_store *s, const char *tbl, const char *rid);
void fsv__pg_memo_dirty(fsv_store *s, pg_mrec *m);
/* Read many records of tbl into the memo in one statement (in a
** transaction only; those already there are left alone). */
int fsv__pg_memo_prefetch(fsv_store *s, const char *tbl,
                          const char *const *rids, size_t n);
/* Every share record of the customers ids into the memo, the customers
** marked complete; share_absent: 1 when rid ("CUSTOMER:USER") is a share
** of a complete customer that the memo does not hold (so none exists). */
int fsv__pg_memo_prefetch_shares(fsv_store *s, const char *const *ids,
                                 size_t n);
int fsv__pg_memo_share_absent(fsv_store *s, const char *rid);
int fsv__pg_memo_flush(fsv_store *s);
void fsv__pg_memo_clear(fsv_store *s);
void fsv__pg_memo_free(fsv_store *s);
/* store_pg_batch.c: array literals for unnest() (one round trip for many
** rows) and the write transaction's history rows.  arr_add appends a
** text element (NULL: SQL NULL), arr_text closes the literal (valid until
** the next add); -1/NULL when out of memory.  hist_add keeps one row
** (seq handed out by the caller), hist_flush writes the kept rows in one
** statement (fsv__pg_memo_flush calls it, so whatever flushes the memo
** before reading also sees the history), hist_clear forgets them. */
typedef struct pg_arr {
    char *p;
    size_t n, cap;
    int count;
} pg_arr;
int fsv__pg_arr_add(pg_arr *a, const char *v);
int fsv__pg_arr_i64(pg_arr *a, int64_t v);
const char *fsv__pg_arr_text(pg_arr *a);
void fsv__pg_arr_reset(pg_arr *a);
void fsv__pg_arr_free(pg_arr *a);
int fsv__pg_hist_add(fsv_store *s, int64_t seq, const fdsp_change *c,
                     const char *vv, int64_t dctr, const char *relay);
int fsv__pg_hist_flush(fsv_store *s);
void fsv__pg_hist_clear(fsv_store *s);
void fsv__pg_hist_free(fsv_store *s);
/* The office view's notes of the transaction's merges, kept by
** merge_change and given (fsv__pg_office_note) at commit after the rows
** are written: notes_keep, notes_give, notes_clear (begin, rollback),
** notes_free (close). */
int fsv__pg_notes_keep(fsv_store *s, const fdsp_change *c);
int fsv__pg_notes_give(fsv_store *s);
void fsv__pg_notes_clear(fsv_store *s);
void fsv__pg_notes_free(fsv_store *s);
/* store_pg_office.c: the office view.  office_note notes a merged change
** (merge_change, after its history row); office_flush derives the noted
** records' projections (commit, before COMMIT); office_clear forgets
** them (begin, rollback); office_free at close. */
int fsv__pg_office_note(fsv_store *s, const fdsp_change *c);
int fsv__pg_office_flush(fsv_store *s);
void fsv__pg_office_clear(fsv_store *s);
void fsv__pg_office_free(fsv_store *s);
int fsv_pg_office_page(fsv_store *s, const fsv_page_query *q, char ***ids,
                       size_t *n, int64_t *total, int *more);
int fsv_pg_office_values(fsv_store *s, const char *id, json_t **values,
                         int64_t *updated_ms, int64_t *conflicts,
                         int64_t *next_ms, int64_t *last_ms);
int fsv_pg_customer_history(fsv_store *s, const char *customer,
                            int64_t asof_s, fdsp_change **out, size_t *n);
int fsv_pg_office_customers(fsv_store *s, const fsv_scope *sc,
                            fsv_office_cust_fn fn, void *ud);
int fsv_pg_office_children(fsv_store *s, const fsv_scope *sc, const char *tbl,
                           int64_t from_ms, int64_t to_ms, const char *stage_in,
                           fsv_office_child_fn fn, void *ud);
int fsv_pg_office_reached(fsv_store *s, const fsv_scope *sc,
                          fsv_office_count_fn fn, void *ud);
int fsv_pg_office_conflicts(fsv_store *s, const fsv_scope *sc,
                            fsv_office_conflict_fn fn, void *ud);
/* store_pg_teams.c: nested teams, moves, owned customers. */
int fsv_pg_teams_load(fsv_store *s, fsv_teams **out);
int fsv_pg_team_put(fsv_store *s, const char *name, const char *parent);
int fsv_pg_user_set(fsv_store *s, const char *name, const char *team,
                    const char *role, int64_t *move_id);
int fsv_pg_moves(fsv_store *s, int64_t after, fsv_move **out, size_t *n);
int fsv_pg_move_done(fsv_store *s, const char *device, int64_t *done);
int fsv_pg_move_done_set(fsv_store *s, const char *device, int64_t done);
int fsv_pg_owned_customers(fsv_store *s, const char *owner, char ***ids,
                           size_t *n);
/* store_pg_pool.c: the customer pool. */
int fsv_pg_pool_rules_get(fsv_store *s, fsv_pool_rules *r);
int fsv_pg_pool_rules_set(fsv_store *s, const fsv_pool_rules *r);
int fsv_pg_pool_get(fsv_store *s, const char *customer, fsv_pool_row *out);
int fsv_pg_pool_put(fsv_store *s, const char *customer,
                    const fsv_pool_row *row);
int fsv_pg_pool_log(fsv_store *s, const char *customer, const char *user,
                    const char *kind, const char *team, int64_t at_ms);
int fsv_pg_pool_log_count(fsv_store *s, const char *user, const char *kind,
                          int64_t since_ms, int64_t *n);
int fsv_pg_pool_owned(fsv_store *s, const char *user, int64_t *n);
int fsv_pg_pool_figures(fsv_store *s, int64_t since_ms, json_t **out);
/* store_pg_blob.c: which follow-ups name which photos, who sent them. */
int fsv_pg_blob_refs_set(fsv_store *s, const char *followup,
                         const fsv_blob_ref *refs, size_t n);
int fsv_pg_blob_followups(fsv_store *s, const char *sha, char ***out,
                          size_t *n);
int fsv_pg_blob_stored(fsv_store *s, const char *sha, int64_t size,
                       const char *user, int64_t at_ms);
int fsv_pg_blob_usage(fsv_store *s, const char *user, int64_t since_ms,
                      int64_t *bytes);
/* store_pg_dup.c: duplicate customers.  dup_want: a customer's keys
** from its winning values (0..2 into want); PG_DUP_CTE(C, K1, K2): the
** WITH clause that makes customer C's keys exactly K1, K2 (text
** parameters, NULL: none), writing nothing when they are already so,
** put before the office view's ov_cust upsert (one round trip); dup_put
** runs it alone; dup_fill derives every customer's (the migration to
** version 2). */
#define PG_DUP_CTE(c, k1, k2)                                               \
    "WITH dk_gone AS (DELETE FROM dup_key WHERE customer=" c                \
    " AND key IS DISTINCT FROM " k1 "::text"                                \
    " AND key IS DISTINCT FROM " k2 "::text),"                              \
    " dk_new AS (INSERT INTO dup_key(key, customer)"                        \
    " SELECT k, " c " FROM unnest(ARRAY[" k1 "::text, " k2 "::text]) k"     \
    " WHERE k IS NOT NULL ON CONFLICT DO NOTHING)"
int fsv__pg_dup_want(const char *phone, const char *wechat, int deleted,
                     char want[2][FSV_DUP_KEY_MAX]);
int fsv__pg_dup_put(fsv_store *s, const char *rid, const char *phone,
                    const char *wechat, int deleted);
int fsv__pg_dup_fill(fsv_store *s);
int fsv_pg_dup_matches(fsv_store *s, const char *key, const char *customer,
                       fsv_dup_match_fn fn, void *ud);
int fsv_pg_dup_notice(fsv_store *s, const char *user, int64_t now_ms,
                      int64_t since_ms, int64_t *given);
int fsv_pg_dup_list(fsv_store *s, fsv_dup_row_fn fn, void *ud);
/* store_pg_sums.c: the checksum keys, computed when asked. */
int fsv_pg_sum_keys(fsv_store *s, fsv_sum_key **out, size_t *n);
/* store_pg_users.c: users, tokens, devices, identity (rules 11-15). */
int fsv_pg_user_add(fsv_store *s, const char *name, const char *role,
                    const char *team);
int fsv_pg_user_get(fsv_store *s, const char *name, fsv_user *u);
int fsv_pg_user_rows(fsv_store *s, fsv_user_row **out, size_t *n);
int fsv_pg_user_disable(fsv_store *s, const char *name);
int fsv_pg_token_add(fsv_store *s, const char *token_id, const char *user,
                     const unsigned char hash[FSV_TOKEN_HASH]);
int fsv_pg_token_auth(fsv_store *s, const unsigned char hash[FSV_TOKEN_HASH],
                      fsv_user *u, char *id);
int fsv_pg_token_rows(fsv_store *s, const char *user, fsv_token_row **out,
                      size_t *n);
int fsv_pg_token_revoke(fsv_store *s, const char *token_id);
int fsv_pg_device_seen(fsv_store *s, const char *device, const char *user,
                       const char *token_id, int64_t now_ms, int64_t head);
int fsv_pg_token_live(fsv_store *s, const char *token_id, int *live);
int fsv_pg_data_version(fsv_store *s, int64_t *version);
/* store_pg_notify.c: the LISTEN connection (store.h fsv_store_notify_*). */
int fsv_pg_notify_fd(fsv_store *s);
int fsv_pg_notify_drain(fsv_store *s, int64_t *head);
void fsv__pg_notify_free(fsv_store *s);
int fsv_pg_identity(fsv_store *s, char id[FSV_STORE_ID_LEN + 1],
                    int64_t *epoch);
int fsv_pg_device_get(fsv_store *s, const char *device, char *user,
                      int64_t *counter);
int fsv_pg_device_accept(fsv_store *s, const char *device, const char *user,
                         int64_t counter);
int fsv_pg_device_rows(fsv_store *s, fsv_device_row **out, size_t *n);
int fsv_pg_api_token_check(fsv_store *s,
                           const unsigned char hash[FSV_TOKEN_HASH],
                           fsv_user *u);

#endif /* FSV_STORE_PG_INT_H */
