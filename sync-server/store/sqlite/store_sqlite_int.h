/*
** store_sqlite_int.h — private to the SQLite backend's files (everything
** in store/sqlite/): the connection behind an fsv_store handle and the
** backend's entries (store_backend.h's table, fsv_store_sqlite, is at the
** end of store_sqlite.c).  Nothing outside store/sqlite/ includes this.
*/
#ifndef FSV_STORE_SQLITE_INT_H
#define FSV_STORE_SQLITE_INT_H

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include "store.h"
#include "store_backend.h"
#include "regpack.h"

sqlite3 *fsv__store_sqlite_db(fsv_store *s);

/* store_sqlite_sums.c: the checksum table (docs/internals/trust.md, the
** safety net).  sums_open registers its SQL functions on the connection
** and, on a store without the table, creates it with its triggers and
** fills it; run by fsv_store_open.  sums_msg sets the store's message to
** text and returns rc. */
int fsv__store_sums_open(fsv_store *s);
int fsv__store_sums_msg(fsv_store *s, int rc, const char *text);
/* The deltas the triggers noted in the open write transaction, written to
** the table: fsv_store_commit calls it just before COMMIT. */
int fsv__store_sums_flush(fsv_store *s);
/* Where the handle keeps store_sqlite_sums.c's state (owned by SQLite). */
void **fsv__store_sums_slot(fsv_store *s);
/* Prepared statements of the store files other than store_sqlite.c, kept on
** the handle in slots 0..FSV__XST_MAX-1 (each file owns a range: see its
** enum).  Returns the statement reset with bindings cleared, or NULL with
** the store's message set. */
#define FSV__XST_MAX 32
sqlite3_stmt *fsv__store_prepared(fsv_store *s, int slot, const char *sql);
/* Set the store's message: "store: WHAT: <SQLite's message>", returning
** FSV_ERROR; or text itself, returning rc. */
int fsv__store_dberr(fsv_store *s, const char *what);
int fsv__store_msg(fsv_store *s, int rc, const char *text);

/* store_sqlite_trust.c: run by fsv_store_open after the schema: migrates a
** schema-1 store to 2 in place and makes the store id and epoch if
** missing. */
int fsv__store_trust_open(fsv_store *s);

/* store_sqlite_office.c: the office view's projections.  office_open
** registers its SQL functions and makes (and on a store without them,
** fills) its tables, run by fsv_store_open; office_note notes a merged
** change (inside merge_change, after its history row); office_flush
** re-derives the noted records (fsv_store_commit, before COMMIT);
** office_clear forgets them (begin, rollback); office_free at close. */
/* Bind a scope's parameters (store_sqlite_office.c): ?1 all, ?2 user, ?3
** the manager's subtree, ?20 the pools the user sees, ?30 the team
** filter's subtree, as JSON arrays (NULL: none).  Shared by the office
** view's queries and its aggregates (store_sqlite_office_agg.c). */
int fsv__sq_bind_scope(fsv_store *s, sqlite3_stmt *st, const fsv_scope *sc);
int fsv__sq_office_functions(fsv_store *s);
int fsv__sq_office_open(fsv_store *s);
int fsv__sq_office_note(fsv_store *s, const fdsp_change *c);
int fsv__sq_office_flush(fsv_store *s);
void fsv__sq_office_clear(fsv_store *s);
void fsv__sq_office_free(fsv_store *s);
/* store_sqlite_office_agg.c: the office view's aggregates, kept by delta
** from the projections' derivation.  A customer's or a record's state as
** the aggregates read it (before: as the projection had it, NULL if it
** had no row); agg_customer runs after the customer's row is written and
** before its records' copies of owner and deletion are; agg_child after
** the record's row is written; agg_seen for a stage the customer had
** never had.  agg_slot/agg_set: the aggregates' state, kept in the
** office state (store_sqlite_office.c frees it with fsv__sq_agg_free). */
typedef struct fsv_agg_cust {
    const char *owner, *stage, *close;
    int has_amount;
    double amount;
    int deleted;
} fsv_agg_cust;
typedef struct fsv_agg_child {
    const char *txt, *cowner;
    int64_t at;
    int has_at, done, deleted, cdel;
} fsv_agg_child;
/* rebuild: the projections were just made; drop any aggregates first. */
int fsv__sq_agg_open(fsv_store *s, int rebuild);
int fsv__sq_agg_ready(fsv_store *s);
/* The search's index (store_sqlite_office_search.c): made or filled at
** open; a customer's grams kept by derive_customer; the grams a search
** asks for as a JSON array (FSV_NOTFOUND: no index, scan). */
void *fsv__sq_office_search_slot(fsv_store *s);
void fsv__sq_office_search_set(fsv_store *s, void *search);
void fsv__sq_search_free(void *search);
int fsv__sq_search_ready(fsv_store *s);
int fsv__sq_search_open(fsv_store *s, int rebuild);
int fsv__sq_search_put(fsv_store *s, const char *rid, int had, const char *b_name,
                       const char *b_company, const char *b_phone,
                       const char *name, const char *company, const char *phone);
int fsv__sq_search_grams(fsv_store *s, const char *search, char **json);
/* The live customers of sc with stage (NULL: any) and owner (NULL: any)
** from the aggregates (a page's total without a search); FSV_NOTFOUND
** when the store keeps none. */
int fsv__sq_agg_count(fsv_store *s, const fsv_scope *sc, const char *stage,
                      const char *owner, int64_t *total);
/* Read the aggregates (on) or answer as a store without them (still
** keeping them): the previous setting.  For the exactness test. */
int fsv__sq_agg_use(fsv_store *s, int on);
/* "a,b" as the JSON array ["a","b"] (malloc'd; NULL for NULL or ""). */
char *fsv__sq_csv_json(const char *csv);
void fsv__sq_agg_free(void *agg);
void *fsv__sq_office_agg_slot(fsv_store *s);
void fsv__sq_office_agg_set(fsv_store *s, void *agg);
int fsv__sq_agg_customer(fsv_store *s, const char *rid, const fsv_agg_cust *before,
                         const fsv_agg_cust *after);
int fsv__sq_agg_child(fsv_store *s, const char *tbl, const char *rid,
                      const fsv_agg_child *before);
int fsv__sq_agg_seen(fsv_store *s, const char *customer, const char *stage);
int fsv__sq_agg_reached(fsv_store *s, const fsv_scope *sc,
                        fsv_office_count_fn fn, void *ud);

/* store_sqlite_hist.c: the history as group rows (schema 3).  hist_open
** migrates a row-per-change history in place (run by fsv_store_open);
** hist_note gives a merged change the next seq (c->seq) and adds it to
** the transaction's pending group; hist_flush writes that group (commit,
** and every history read on this connection); hist_clear forgets it
** (begin, rollback: rolled_back also drops the name cache); hist_group
** decodes the group row in st's columns col.. (seq, n, tbl, rid, dev,
** user, server_ms, body) into out (room for FSV__HIST_MAX_ENTRIES), its
** entries with seq > after, *n of them; hist_id looks a device or field
** name up (*id 0: never stored); hist_by_counter is
** fsv_store_change_by_counter. */
#define FSV__HIST_MAX_ENTRIES 512
int fsv__sq_hist_open(fsv_store *s);
int fsv__sq_hist_note(fsv_store *s, fdsp_change *c);
int fsv__sq_hist_flush(fsv_store *s);
void fsv__sq_hist_clear(fsv_store *s, int rolled_back);
void fsv__sq_hist_free(fsv_store *s);
int fsv__sq_hist_group(fsv_store *s, sqlite3_stmt *st, int col, int64_t after,
                       fdsp_change *out, size_t *n);
int fsv__sq_hist_id(fsv_store *s, const char *name, int64_t *id);
/* The field of a group body's first entry (NULL if damaged), for the
** pull filter's row (fsv_row.field). */
const char *fsv__sq_hist_first_field(fsv_store *s, const unsigned char *body,
                                     size_t len);
int fsv__sq_hist_by_counter(fsv_store *s, const char *device, int64_t k,
                            fdsp_change *out);

/* ---- The handle ------------------------------------------------------------ */

/* Prepared statements kept on the handle, prepared on first use. */
enum {
    ST_BEGIN_W, ST_BEGIN_R, ST_COMMIT, ST_ROLLBACK, ST_HEAD,
    ST_REG_GET, ST_REG_INS, ST_REG_UPD, ST_HIST_ADD, ST_REC_GET, ST_REC_ADD,
    ST_REC_SET_CUSTOMER, ST_FIELD_LIST, ST_FIELD_HAS, ST_SCAN, ST_SCAN_KEYS,
    ST_HIST_ROW,
    ST_PREFIX_VALUES, ST_HIST_COUNT,
    ST_USER_ADD, ST_USER_GET, ST_USER_LIST, ST_USER_DISABLE,
    ST_TOKEN_ADD, ST_TOKEN_AUTH, ST_TOKEN_TOUCH, ST_TOKEN_LIST,
    ST_TOKEN_REVOKE, ST_DEVICE_SEEN, ST_TOKEN_LIVE, ST_VISEV_ADD,
    ST_VISEV_LIST, ST_CUST_REGS, ST__COUNT
};

/* txrec: what one transaction has learnt about a record (tbl, rid): its
** rec row, which holds the record index (customer, creator) and all its
** registers packed (regpack.h).  Inside a transaction the snapshot cannot
** change under us (a write transaction holds the write lock; a read one
** sees a fixed snapshot), and every write to rec goes through
** fsv_store_merge_change, which merges into the memo: the row is read once
** per transaction and written once, by fsv__sq_regs_flush (at commit,
** before a query that reads rec's registers, or when the memo is full).
** Cleared at every begin, commit and rollback and after any failed merge. */
enum { REC_UNSEEN = 0, REC_ABSENT, REC_PRESENT };
typedef struct txrec {
    struct txrec *next;             /* hash chain */
    unsigned hash;
    int rec;                        /* REC_*: the rec row (UNSEEN: not read) */
    int has_customer;               /* customer not NULL (REC_PRESENT) */
    int regs;                       /* f[] holds the registers (else only
                                    ** the index part was read) */
    int dirty;                      /* registers or customer changed */
    int is_new;                     /* no rec row yet: flush inserts it */
    size_t nf, capf;                /* the registers, by field name */
    fsv_regpack_field *f;
    uint64_t *fsum;                 /* per field: its checksum when fsum_ok */
    unsigned char *fsum_ok;
    uint64_t sum;                   /* XOR of the fields' checksums */
    /* The row's vals text when only the index part was read (a read
    ** transaction): a one-field read (field_value) scans it instead of
    ** decoding every register.  vals_len 0: the column was NULL. */
    int vals_ok;
    size_t vals_len, vals_cap;
    char *vals;
    char tbl[FDSP_MAX_NAME + 1];
    char rid[FDSP_MAX_ID + 1];
    char customer[FDSP_MAX_ID + 1];
    char creator[FDSP_MAX_ID + 1];
} txrec;

#define TXREC_BUCKETS 1024           /* power of two */
#define TXREC_CHUNK   128            /* entries per allocation */
#define TXREC_MAX     8192           /* records memoised per transaction */

/* The SQLite handle: the generic one first, so an fsv_store * from
** store.c is an fsv_sqlite * here (as sqlite3_file in a VFS). */
typedef struct fsv_sqlite {
    fsv_store base;
    sqlite3 *db;
    void *sums;     /* store_sqlite_sums.c's per-transaction deltas */
    void *office;   /* store_sqlite_office.c's records noted this transaction */
    void *dict;     /* store_sqlite_regs.c's name dictionary (regdict) */
    size_t n_dirty; /* txrec entries with dirty set */
    int write_tx;   /* in_tx is a write transaction (txrec reads registers
                    ** with the index; a read one only when asked) */
    void *hist;     /* store_sqlite_hist.c's pending group and name cache */
    void *dup;      /* store_sqlite_dup.c's statements (its own, not slots) */
    int in_tx;
    sqlite3_stmt *st[ST__COUNT];
    /* The memo's storage is kept from one transaction to the next (a
    ** batch would otherwise pay an allocation per record): TXREC_BUCKETS
    ** chains, and entries in chunks of TXREC_CHUNK, n_txrec of them in use. */
    txrec **buckets;
    txrec **chunks;
    size_t n_chunks, n_txrec;
    /* The relaying device of the change being merged (history.relay),
    ** NULL normally (fsv_store_merge_relayed). */
    const char *relay;
    /* Statements of the other store_sqlite*.c files (fsv__store_prepared). */
    sqlite3_stmt *xst[FSV__XST_MAX];
} fsv_sqlite;

#define SQ(s) ((fsv_sqlite *)(s))

/* ---- Shared by the backend's files (store_sqlite.c defines the rest) ---- */

#define seterr fsv__store_setmsg

static inline int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* The statement for a slot (ST_*), reset with bindings cleared; NULL with
** the message set. */
sqlite3_stmt *fsv__sq_stmt(fsv_store *s, int slot);
/* Run a statement that returns no rows. */
int fsv__sq_step_done(fsv_store *s, sqlite3_stmt *st, const char *what);
/* Admin calls run in their own transaction unless the caller opened one. */
int fsv__sq_auto_begin(fsv_store *s, int *mine);
int fsv__sq_auto_end(fsv_store *s, int mine, int rc);
/* The transaction's record cache (store_sqlite_merge.c): forget it (at
** every begin, commit, rollback) / release its storage (close). */
void fsv__sq_txrec_clear(fsv_store *s);
void fsv__sq_txrec_free(fsv_store *s);
/* The versions of the registers of st's current row (columns tbl, rid,
** vals, regs of rec) appended to *out as changes (seq 0), the array grown
** from *cap as needed (store_sqlite_regs.c). */
int fsv__sq_append_versions(fsv_store *s, sqlite3_stmt *st,
                            fdsp_change **out, size_t *n, size_t *cap);

/* store_sqlite_regs.c: registers packed one row per record.  regs_open
** (fsv_store_open, after trust_open) migrates a store with a `reg` table
** (schema 2) in place; regs_flush writes the memo's dirty records (keeps
** the memo; before commit and before SQL that reads rec's registers);
** regs_decode decodes columns vals, regs of a rec row (error naming the
** record); dict_clear forgets the dictionary cache (rollback), dict_free
** releases it (close). */
int fsv__sq_regs_open(fsv_store *s);
int fsv__sq_regs_flush(fsv_store *s);
int fsv__sq_regs_decode(fsv_store *s, const char *tbl, const char *rid,
                        sqlite3_stmt *st, int col_vals,
                        fsv_regpack_field **out, size_t *n);
void fsv__sq_dict_clear(fsv_store *s);
/* The winners of (tbl, rid) as {field: value} (nulls left out) and its
** creator (if creator is not NULL), from this transaction's memo:
** FSV_NOTFOUND when the memo does not hold the record's registers (then
** read rec).  The office view derives a merged record from it at commit
** without reading the row back (store_sqlite_merge.c). */
int fsv__sq_regs_values(fsv_store *s, const char *tbl, const char *rid,
                        json_t **out, char **creator);
/* The dictionary as regpack.h's callbacks (errors set the message). */
void fsv__sq_dict_of(fsv_store *s, fsv_regpack_dict *d);
void fsv__sq_dict_free(fsv_store *s);
/* The checksum of one register (fdsp_sum_register over its canonical
** text); 0 with the message set when out of memory (*ok 0). */
uint64_t fsv__sq_reg_sum(fsv_store *s, const char *tbl, const char *rid,
                         const char *field, const fds_register *reg, int *ok);
/* store_sqlite_sums.c: note delta for the key (ktbl, key) in the open
** transaction (written by fsv__store_sums_flush). */
int fsv__store_sums_note(fsv_store *s, const char *ktbl, const char *key,
                         uint64_t delta);

static inline sqlite3_stmt *stmt(fsv_store *s, int slot)
{
    return fsv__sq_stmt(s, slot);
}

static inline int dberr(fsv_store *s, const char *what)
{
    return fsv__store_dberr(s, what);
}

static inline int step_done(fsv_store *s, sqlite3_stmt *st, const char *what)
{
    return fsv__sq_step_done(s, st, what);
}

static inline int bind_text(sqlite3_stmt *st, int i, const char *v)
{
    return v ? sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT)
             : sqlite3_bind_null(st, i);
}

/* The store's own strings and the merge path's outlive each step: bind
** without a copy. */
static inline void bind_static(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static inline char *col_dup(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? strdup((const char *)t) : NULL;
}

static inline void col_copy(sqlite3_stmt *st, int i, char *dst, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(dst, cap, "%s", t ? (const char *)t : "");
}

/* The backend's entries: each has the contract of the store.h function of
** the same name (fsv_store_X -> fsv_sqlite_X). */
int fsv_sqlite_open(const char *path, int create, fsv_store **out, char *err,
                    size_t errlen);
void fsv_sqlite_close(fsv_store *s);
int fsv_sqlite_backup(fsv_store *s, const char *dst, int64_t epoch,
                      int64_t *rows, char *err, size_t errlen);
int fsv_sqlite_begin(fsv_store *s);
int fsv_sqlite_begin_read(fsv_store *s);
int fsv_sqlite_commit(fsv_store *s);
int fsv_sqlite_rollback(fsv_store *s);
int fsv_sqlite_head(fsv_store *s, int64_t *head);
int fsv_sqlite_history_count(fsv_store *s, int64_t *n);
int fsv_sqlite_merge_change(fsv_store *s, fdsp_change *c, int *outcome);
int fsv_sqlite_merge_relayed(fsv_store *s, fdsp_change *c, const char *relay,
                             int *outcome);
int fsv_sqlite_field_count(fsv_store *s, const char *tbl, const char *rid,
                           const char *field, int *count, int *has_field);
int fsv_sqlite_field_value(fsv_store *s, const char *tbl, const char *rid,
                           const char *field, char **value);
int fsv_sqlite_changes_after(fsv_store *s, int64_t after, int limit,
                             const char *exclude_device, fsv_row_filter filter,
                             void *ud, fdsp_change **out, size_t *n,
                             int64_t *last, int *more);
/* The memo's record index entry of (tbl, rid) when the transaction has
** one (it may hold merges not yet written to rec): 1 with *known and the
** strings (the memo's; valid until the memo changes), else 0 (the rec
** row says it).  No lookup, no allocation. */
int fsv__sq_txrec_index(fsv_store *s, const char *tbl, const char *rid,
                        int *known, const char **customer,
                        const char **creator);
int fsv_sqlite_record_info(fsv_store *s, const char *tbl, const char *rid,
                           char **customer, char **creator);
int fsv_sqlite_prefix_values(fsv_store *s, const char *tbl, const char *prefix,
                             const char *field, fsv_rec_value **out, size_t *n);
int fsv_sqlite_user_add(fsv_store *s, const char *name, const char *role,
                        const char *team);
int fsv_sqlite_user_get(fsv_store *s, const char *name, fsv_user *u);
int fsv_sqlite_user_rows(fsv_store *s, fsv_user_row **out, size_t *n);
int fsv_sqlite_user_disable(fsv_store *s, const char *name);
int fsv_sqlite_token_add(fsv_store *s, const char *token_id, const char *user,
                         const unsigned char hash[FSV_TOKEN_HASH]);
int fsv_sqlite_token_auth(fsv_store *s,
                          const unsigned char hash[FSV_TOKEN_HASH], fsv_user *u,
                          char *id);
int fsv_sqlite_token_rows(fsv_store *s, const char *user, fsv_token_row **out,
                          size_t *n);
int fsv_sqlite_token_revoke(fsv_store *s, const char *token_id);
int fsv_sqlite_device_seen(fsv_store *s, const char *device, const char *user,
                           const char *token_id, int64_t now_ms, int64_t head);
int fsv_sqlite_token_live(fsv_store *s, const char *token_id, int *live);
int fsv_sqlite_data_version(fsv_store *s, int64_t *version);
int fsv_sqlite_vis_event_add(fsv_store *s, int64_t seq, const char *customer,
                             const char *user, int kind);
int fsv_sqlite_vis_events(fsv_store *s, int64_t after, int64_t upto,
                          char ***customers, char ***users, int **kinds,
                          size_t *n);
/* Adds vis_event.kind to a store made before it (store_sqlite_vis.c). */
int fsv__sq_vis_open(fsv_store *s);
/* store_sqlite_teams.c: nested teams and moves (its tables, made and the
** users' old team names migrated by teams_open at every open). */
int fsv__sq_teams_open(fsv_store *s);
int fsv_sqlite_teams_load(fsv_store *s, fsv_teams **out);
int fsv_sqlite_team_put(fsv_store *s, const char *name, const char *parent);
int fsv_sqlite_user_set(fsv_store *s, const char *name, const char *team,
                        const char *role, int64_t *move_id);
int fsv_sqlite_moves(fsv_store *s, int64_t after, fsv_move **out, size_t *n);
int fsv_sqlite_move_done(fsv_store *s, const char *device, int64_t *done);
int fsv_sqlite_move_done_set(fsv_store *s, const char *device, int64_t done);
int fsv_sqlite_owned_customers(fsv_store *s, const char *owner, char ***ids,
                               size_t *n);
/* Blobs (store_sqlite_blob.c): the tables, and the entries. */
int fsv__sq_blob_open(fsv_store *s);
int fsv_sqlite_blob_refs_set(fsv_store *s, const char *followup,
                             const fsv_blob_ref *refs, size_t n);
int fsv_sqlite_blob_followups(fsv_store *s, const char *sha, char ***out,
                              size_t *n);
int fsv_sqlite_blob_stored(fsv_store *s, const char *sha, int64_t size,
                           const char *user, int64_t at_ms);
int fsv_sqlite_blob_usage(fsv_store *s, const char *user, int64_t since_ms,
                          int64_t *bytes);
/* store_sqlite_pool.c: the pool's tables (made if missing, run by
** fsv_store_open) and the backend's pool entries (store.h). */
int fsv__sq_pool_open(fsv_store *s);
int fsv_sqlite_pool_rules_get(fsv_store *s, fsv_pool_rules *r);
int fsv_sqlite_pool_rules_set(fsv_store *s, const fsv_pool_rules *r);
int fsv_sqlite_pool_get(fsv_store *s, const char *customer, fsv_pool_row *out);
int fsv_sqlite_pool_put(fsv_store *s, const char *customer,
                        const fsv_pool_row *row);
int fsv_sqlite_pool_log(fsv_store *s, const char *customer, const char *user,
                        const char *kind, const char *team, int64_t at_ms);
int fsv_sqlite_pool_log_count(fsv_store *s, const char *user, const char *kind,
                              int64_t since_ms, int64_t *n);
int fsv_sqlite_pool_owned(fsv_store *s, const char *user, int64_t *n);
int fsv_sqlite_pool_figures(fsv_store *s, int64_t since_ms, json_t **out);
int fsv_sqlite_customer_state(fsv_store *s, const char *customer,
                              fdsp_change **out, size_t *n);
int fsv_sqlite_identity(fsv_store *s, char id[FSV_STORE_ID_LEN + 1],
                        int64_t *epoch);
int fsv_sqlite_device_get(fsv_store *s, const char *device, char *user,
                          int64_t *counter);
int fsv_sqlite_device_accept(fsv_store *s, const char *device, const char *user,
                             int64_t counter);
int fsv_sqlite_change_by_counter(fsv_store *s, const char *device, int64_t k,
                                 fdsp_change *out);
int fsv_sqlite_device_rows(fsv_store *s, fsv_device_row **out, size_t *n);
int fsv_sqlite_api_token_check(fsv_store *s,
                               const unsigned char hash[FSV_TOKEN_HASH],
                               fsv_user *u);
int fsv_sqlite_api_register(fsv_store *s, const char *tbl, const char *rid,
                            const char *field, fds_register *out);
int fsv_sqlite_sum_keys(fsv_store *s, fsv_sum_key **out, size_t *n);
int fsv_sqlite_record_state(fsv_store *s, const char *tbl, const char *rid,
                            fdsp_change **out, size_t *n);

int fsv_sqlite_office_page(fsv_store *s, const fsv_page_query *q, char ***ids,
                           size_t *n, int64_t *total, int *more);
int fsv_sqlite_office_values(fsv_store *s, const char *id, json_t **values,
                             int64_t *updated_ms, int64_t *conflicts,
                             int64_t *next_ms, int64_t *last_ms);
int fsv_sqlite_customer_history(fsv_store *s, const char *customer,
                                int64_t asof_s, fdsp_change **out, size_t *n);
int fsv_sqlite_office_customers(fsv_store *s, const fsv_scope *sc,
                                fsv_office_cust_fn fn, void *ud);
int fsv_sqlite_office_children(fsv_store *s, const fsv_scope *sc,
                               const char *tbl, int64_t from_ms, int64_t to_ms,
                               const char *stage_in, fsv_office_child_fn fn,
                               void *ud);
int fsv_sqlite_office_reached(fsv_store *s, const fsv_scope *sc,
                              fsv_office_count_fn fn, void *ud);
/* store_sqlite_dup.c: duplicate customers (store.h).  open: its tables,
** filled from the customers on a store that did not have them; derive:
** the keys of one customer again (the office view's flush calls it for
** every customer record merged in the transaction). */
int fsv__sq_dup_open(fsv_store *s);
int fsv__sq_dup_derive(fsv_store *s, const char *rid);
void fsv__sq_dup_free(fsv_store *s);
int fsv_sqlite_dup_matches(fsv_store *s, const char *key, const char *customer,
                           fsv_dup_match_fn fn, void *ud);
int fsv_sqlite_dup_notice(fsv_store *s, const char *user, int64_t now_ms,
                          int64_t since_ms, int64_t *given);
int fsv_sqlite_dup_list(fsv_store *s, fsv_dup_row_fn fn, void *ud);
int fsv_sqlite_office_conflicts(fsv_store *s, const fsv_scope *sc,
                                fsv_office_conflict_fn fn, void *ud);
int fsv_sqlite_office_agg_customers(fsv_store *s, const fsv_scope *sc,
                                    fsv_office_agg_fn fn, void *ud);
int fsv_sqlite_office_child_counts(fsv_store *s, const fsv_scope *sc,
                                   const char *tbl, const int64_t *bounds,
                                   size_t nb, fsv_office_bucket_fn fn, void *ud);
int fsv_sqlite_office_customers_sel(fsv_store *s, const fsv_scope *sc,
                                    const char *stage_in, const char *mds,
                                    fsv_office_cust_fn fn, void *ud);

#endif /* FSV_STORE_SQLITE_INT_H */
