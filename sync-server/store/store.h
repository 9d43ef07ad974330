/*
** store.h — the server's central store.  sync/, api/ and cmd/ use only
** this header; the backends (store/sqlite/, store/postgres/) are
** tables of these functions behind it (store_backend.h), picked by the URL
** given to fsv_store_open.  store.c holds the rules that are the same for
** every backend (names and roles, what a share record means).
**
** Contents: the authoritative field registers (read back they dump to the
** same canonical bytes as the devices', fds_register_dump; how a backend
** stores them is its own business), the history log (every
** accepted change under a global sequence number with user, device, device
** HLC time and server time), a record index (record -> customer, creator)
** that serves visibility, users, device tokens (hashes only) and devices.
**
** Errors: calls return FSV_OK (0) or one of the FSV_* codes below; after a
** failing call fsv_store_errmsg() names what was wrong (every call sets it
** on failure) and fsv_errstr() gives the code's text.
**
** Concurrency contract (what every backend guarantees, and all the
** server may assume):
**  - One handle is used by one thread.  Several handles (in one process or
**    several: `serve` and the admin commands, or several `serve` processes
**    on one database) may use one store at once, and their write
**    transactions may run at the same time.
**  - A write transaction is atomic and isolated: its merges see the
**    registers as of its own reads and either all commit or none.  Two
**    writers never lose each other's change to one register; if the
**    backend cannot serialise them it fails one with FSV_BUSY.
**  - FSV_BUSY means "nothing was done, try the whole transaction again":
**    the caller rolls back and retries (or answers busy).  No other code
**    is retryable.
**  - A read transaction sees one consistent snapshot.
**  - No gaps below the head: fsv_store_head and fsv_store_changes_after
**    never return a sequence number s while a change with a number below s
**    may still commit.  A device that stores the cursor a pull returned
**    never skips a change committed later (a backend whose sequence
**    numbers can commit out of order holds the head back to the highest
**    number below which everything committed).
**  - Inside one transaction the handle may remember what it read of a
**    record (record index entry, field names); it forgets at begin, commit
**    and rollback, so memos never outlive the transaction's snapshot.
**  - A commit that returned FSV_OK is durable (an ack sent after it
**    survives a crash and power loss).
*/
#ifndef FSV_STORE_H
#define FSV_STORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "fieldsync.h"
#include "token.h"

#include "errors.h"        /* FSV_OK, FSV_* codes, fsv_errstr */
#include "teamtree.h"      /* fsv_teams: the nested teams' parent map */

#define FSV_NAME_MAX 64         /* user, team and role names */

typedef struct fsv_user {
    char name[FSV_NAME_MAX + 1];
    char role[FSV_NAME_MAX + 1];    /* "rep" | "manager" | "admin" */
    char team[FSV_NAME_MAX + 1];    /* "" if none; "*" = every team */
    int disabled;
} fsv_user;

typedef struct fsv_store fsv_store;

/* Open the store named by url: "sqlite:PATH" (the file PATH, created 0600
** with its schema when create is set; otherwise it must exist), or
** "postgresql://..." / "postgres://..." (libpq's URL: the database must
** exist; create makes the schema in it, otherwise it must have one:
** FSV_NOTFOUND).  On failure err has the reason. */
int fsv_store_open(const char *url, int create, fsv_store **out,
                   char *err, size_t errlen);
/* FSV_OK if url names a backend built in (its scheme), else FSV_INVALID
** with the reason in err: a command's option check, before any work. */
int fsv_store_url_check(const char *url, char *err, size_t errlen);
void fsv_store_close(fsv_store *s);
const char *fsv_store_errmsg(const fsv_store *s);

/* Write transaction / read transaction (a consistent snapshot) / end.
** Not nestable.  See the concurrency contract above; any of them (and any
** call inside a write transaction) may fail with FSV_BUSY. */
int fsv_store_begin(fsv_store *s);
int fsv_store_begin_read(fsv_store *s);
int fsv_store_commit(fsv_store *s);
int fsv_store_rollback(fsv_store *s);

/* Latest history sequence number (0 if none). */
int fsv_store_head(fsv_store *s, int64_t *head);

/* ---- Registers and history ------------------------------------------------ */
/* Merge c (c->user and c->server_ms already set by the caller) into its
** field register with fds_merge and save the register.  Unless the outcome
** is FDS_MERGE_NOOP (already seen: a re-sent change), append c to the
** history under the next sequence number and set c->seq (else c->seq = 0).
** Keeps the record index: a new record gets creator c->user; a "customer"
** field of a child record sets its customer.  Must be inside a write
** transaction. */
int fsv_store_merge_change(fsv_store *s, fdsp_change *c, int *outcome);

/* Number of distinct fields stored for a record, and whether `field` is
** one of them (enforces FDSP_MAX_FIELDS). */
int fsv_store_field_count(fsv_store *s, const char *tbl, const char *rid,
                          const char *field, int *count, int *has_field);

/* Current winning value of a field: *value malloc'd (NULL if the register
** holds null).  FSV_NOTFOUND if never written. */
int fsv_store_field_value(fsv_store *s, const char *tbl, const char *rid,
                          const char *field, char **value);

/* A history row as the visibility filter sees it. */
typedef struct fsv_row {
    const char *tbl;
    const char *rid;
    const char *field;
    const char *customer;   /* from the record index; NULL if unknown */
    const char *creator;    /* user who first wrote the record */
} fsv_row;
/* FSV_OK with *include 1 (send the row) or 0 (skip it); any other code
** aborts the scan with that code. */
typedef int (*fsv_row_filter)(void *ud, const fsv_row *row, int *include);

/* Changes with seq > after, in order, skipping rows made by exclude_device
** (may be NULL) and rows the filter rejects, at most `limit` of them.
** *out is a malloc'd array of *n changes (free each with fdsp_change_clear,
** then free the array).  *last is the seq the scan reached (the cursor the
** device may store); *more is 1 if history continues past *last.  A scan
** stops after FSV_SCAN_MAX rows even if fewer than limit matched, so a
** device that may see little of a long history gets empty batches with
** more=1 rather than one long stall.  Call inside a read transaction. */
#define FSV_SCAN_MAX 20000
int fsv_store_changes_after(fsv_store *s, int64_t after, int limit,
                            const char *exclude_device, fsv_row_filter filter,
                            void *ud, fdsp_change **out, size_t *n,
                            int64_t *last, int *more);

/* Number of history rows (all, for tests and the dashboard). */
int fsv_store_history_count(fsv_store *s, int64_t *n);

/* ---- Record index (visibility) ---------------------------------------------- */
/* The customer a record belongs to (*customer malloc'd, NULL if unknown)
** and its creator (*creator malloc'd).  For a customer record, itself.
** FSV_NOTFOUND if the server has never seen the record. */
int fsv_store_record_info(fsv_store *s, const char *tbl, const char *rid,
                          char **customer, char **creator);
/* 1 in *shared if customer is shared with user: a share record
** "CUSTOMER:USER" exists and its deleted field is not "1" (store.c). */
int fsv_store_is_shared(fsv_store *s, const char *customer, const char *user,
                        int *shared);

/* The users customer is shared with: for each share record "CUSTOMER:USER"
** of it, USER, unless the record's deleted field says "1" (the users
** fsv_store_is_shared answers 1 for, in one scan).  *users is a malloc'd
** array of *n malloc'd names (free each, then the array). */
int fsv_store_shared_users(fsv_store *s, const char *customer, char ***users,
                           size_t *n);

/* ---- Users, tokens, devices --------------------------------------------------- */
int fsv_store_user_add(fsv_store *s, const char *name, const char *role,
                       const char *team);
int fsv_store_user_get(fsv_store *s, const char *name, fsv_user *u);
/* [{"user","role","team","disabled":bool,"created","tokens":n}] by name. */
int fsv_store_user_list(fsv_store *s, json_t **out);
int fsv_store_user_disable(fsv_store *s, const char *name);

int fsv_store_token_add(fsv_store *s, const char *token_id, const char *user,
                        const unsigned char hash[FSV_TOKEN_HASH]);
/* The enabled user owning the live (unrevoked) token with this hash, and its
** token id (id[FSV_TOKEN_ID_LEN + 1]).  FSV_NOTFOUND for unknown, revoked
** or disabled. */
int fsv_store_token_auth(fsv_store *s, const unsigned char hash[FSV_TOKEN_HASH],
                         fsv_user *u, char *id);
/* [{"token_id","user","created","revoked","last_used"}] */
int fsv_store_token_list(fsv_store *s, const char *user, json_t **out);
int fsv_store_token_revoke(fsv_store *s, const char *token_id);

/* Note a device's sync: user, token, server time and the sequence it has
** been sent up to (its cursor as far as the server knows). */
int fsv_store_device_seen(fsv_store *s, const char *device, const char *user,
                          const char *token_id, int64_t now_ms, int64_t head);


/* ---- Security (docs/SECURITY.md) ---------------------------------------------- */
/* 1 in *live if token_id exists, is not revoked and its user is enabled.
** Run for every connected session when fsv_store_data_version() changed,
** so a `token revoke` or `user disable` made by another process closes
** the session at once (ws_sync.c auth_tick). */
int fsv_store_token_live(fsv_store *s, const char *token_id, int *live);

/* A number that changes whenever another handle (another process:
** `token revoke`, `user disable`, `user add`, ...) has committed, and
** never for this handle's own commits.  One cheap call tells the server
** whether anything written elsewhere could have revoked a live token, so
** the per-connection checks run only then. */
int fsv_store_data_version(fsv_store *s, int64_t *version);

/* Commit notifications (PostgreSQL LISTEN/NOTIFY; -1 on SQLite).
** fsv_store_notify_fd: a descriptor that becomes readable when another
** handle may have committed, or -1 when the backend has none or its
** listening connection is down (the caller keeps its data_version tick
** and asks again later: the next call reconnects).
** fsv_store_notify_drain: read what arrived without blocking; 1 and the
** highest head announced in *head when anything did, 0 when nothing,
** -1 when the connection broke (dropped; the next fd call reconnects).
** (Not FSV_ERROR, which is 1: sync_notify.c tests < 0.) */
int fsv_store_notify_fd(fsv_store *s);
int fsv_store_notify_drain(fsv_store *s, int64_t *head);

/* Note that the change appended as `seq` may have changed who sees
** `customer`: it wrote the customer's owner (user = the owner before it) or
** a share of it (user = the user shared with).  Only that user, and the
** managers of that user's team, can have lost sight of the customer by it.
** kind says which it was (FSV_VIS_OWNER, FSV_VIS_SHARE), so a pull can tell
** who saw the customer before and send its full state only to those who
** newly see it (issue 11); events stored before kinds were kept read back
** as FSV_VIS_UNKNOWN.  Inside the push transaction. */
/* FSV_VIS_POOL: a claim took the customer out of a pool; user is the pool's
** team (whoever saw it there may lose it). */
enum { FSV_VIS_UNKNOWN = 0, FSV_VIS_OWNER = 1, FSV_VIS_SHARE = 2,
       FSV_VIS_POOL = 3 };
/* ---- Blobs (photo bytes; sync/sync_blobs.c keeps the files) ----------------
** blob_refs_set: follow-up `followup` names exactly these blobs now (its
** winning "attachments"), replacing what it named before; inside the push
** transaction.  blob_followups: the follow-ups naming blob sha (at most
** 1000; *out malloc'd strings, free each and the array).  blob_stored:
** blob sha is whole on disk, sent by user at at_ms (first sender wins).
** blob_usage: bytes of the blobs user sent since since_ms.  A backend
** without blobs (no entries): blob_refs_set does nothing (the records
** sync), the others fail naming the store. */
typedef struct fsv_blob_ref {
    char sha[FDSP_SHA256_HEX + 1];
    int64_t size;
} fsv_blob_ref;
int fsv_store_blob_refs_set(fsv_store *s, const char *followup,
                            const fsv_blob_ref *refs, size_t n);
int fsv_store_blob_followups(fsv_store *s, const char *sha, char ***out,
                             size_t *n);
int fsv_store_blob_stored(fsv_store *s, const char *sha, int64_t size,
                          const char *user, int64_t at_ms);
int fsv_store_blob_usage(fsv_store *s, const char *user, int64_t since_ms,
                         int64_t *bytes);

int fsv_store_vis_event_add(fsv_store *s, int64_t seq, const char *customer,
                            const char *user, int kind);
/* The events in (after, upto], each (customer, user, kind) once, oldest
** first: malloc'd arrays of malloc'd strings and of kinds, *n events (free
** each string, then the three arrays). */
int fsv_store_vis_events(fsv_store *s, int64_t after, int64_t upto,
                         char ***customers, char ***users, int **kinds,
                         size_t *n);
/* The full current state of a customer: every version of every register of
** the customer and of its children (records whose "customer" is it), as
** changes (seq set to 0, table/record/field filled).  Appended to *out
** (malloc'd array of *n changes, grown as needed; free each with
** fdsp_change_clear, then the array). */
int fsv_store_customer_state(fsv_store *s, const char *customer,
                             fdsp_change **out, size_t *n);

/* ---- Trust: identity and time (rules 11-15) ---------------------------------- */
/* docs/internals/trust.md.  Every call but fsv_store_backup inside a
** transaction (or in its own, as the admin calls). */
#define FSV_STORE_ID_LEN 36     /* UUID text */

/* This store's id (random UUID made at init or by the migration) and
** epoch (ms at init; a restored backup has its backup time). */
int fsv_store_identity(fsv_store *s, char id[FSV_STORE_ID_LEN + 1],
                       int64_t *epoch);

/* The user a device id is bound to (user[FSV_NAME_MAX + 1]) and the
** highest own counter the server has accepted from it.  FSV_NOTFOUND
** (user "" and counter 0) for a device never seen. */
int fsv_store_device_get(fsv_store *s, const char *device, char *user,
                         int64_t *counter);

/* Raise a device's accepted counter to at least counter, binding an
** unknown device to user (a device first seen through a relayed change). */
int fsv_store_device_accept(fsv_store *s, const char *device, const char *user,
                            int64_t counter);

/* The history row that device's own counter k names (the first, if a store
** from before rule 15 holds several): table, record, field, value, vv, hlc,
** device, user, seq into *out (free with fdsp_change_clear).  FSV_NOTFOUND
** if none. */
int fsv_store_change_by_counter(fsv_store *s, const char *device, int64_t k,
                                fdsp_change *out);

/* fsv_store_merge_change for a change relayed by another device after a
** server restore (rule 13): the history row names relay. */
int fsv_store_merge_relayed(fsv_store *s, fdsp_change *c, const char *relay,
                            int *outcome);

/* Copy the store online and consistently (one read snapshot: it works
** while serve writes) into a new store named by the URL dst, of the same
** backend ("sqlite:FILE": created 0600; FSV_EXISTS if it exists, nothing
** written), then write epoch into the copy: a restored backup is a new
** epoch (rule 13).  Not inside a transaction.  The copy's history row
** count into *rows. */
int fsv_store_backup(fsv_store *s, const char *dst, int64_t epoch,
                     int64_t *rows, char *err, size_t errlen);

/* ---- Dashboard API reads -------------------------------------------------------- */
/* Every device that has synced: [{"device","user","last_sync_ms"}] (0 if
** never), newest first.  Inside or outside a read transaction. */
int fsv_store_api_devices(fsv_store *s, json_t **out);
/* Like fsv_store_token_auth without noting the token's last use: a pure
** read, so API requests and the /live re-check never write.  FSV_OK with
** *u, FSV_NOTFOUND for unknown, revoked or disabled. */
int fsv_store_api_token_check(fsv_store *s,
                              const unsigned char hash[FSV_TOKEN_HASH],
                              fsv_user *u);
/* The register of one field as stored (every concurrent version, winner
** first).  FSV_NOTFOUND if never written.  Free with fds_register_clear. */
int fsv_store_api_register(fsv_store *s, const char *tbl, const char *rid,
                           const char *field, fds_register *out);

/* ---- Checksum safety net (docs/internals/trust.md) ------------------------------ */
/* The checksum of every customer key: ktbl "customer" and key a customer
** id (the customer and every record whose customer it is), or ktbl a
** record's table and key its id for a record with no customer
** (definitions, orphan children).  sum is the XOR of fdsp_sum_register
** over the registers under that key, kept in every merge transaction.
** *out malloc'd (free it), *n keys; keys whose sum is 0 are left out. */
typedef struct fsv_sum_key {
    char ktbl[FDSP_MAX_NAME + 1];
    char key[FDSP_MAX_ID + 1];
    uint64_t sum;
} fsv_sum_key;
int fsv_store_sum_keys(fsv_store *s, fsv_sum_key **out, size_t *n);
/* Every version of every register of one record, as changes (seq 0),
** appended to *out as fsv_store_customer_state does. */
int fsv_store_record_state(fsv_store *s, const char *tbl, const char *rid,
                           fdsp_change **out, size_t *n);

/* ---- The office view (docs/internals/server.md, "The office view") ------------ */
/* What the dashboard reads, without building a replica per user: the
** backend keeps projections of the customers and their follow-ups, plans,
** stage changes and shares current in every merge transaction (committed
** with the changes), and answers these from indexes.  Every call reads
** inside or outside a read transaction; callbacks get borrowed strings
** valid during the call, and a callback's non-FSV_OK code stops the scan
** and is returned. */

/* Whose customers: everything (all), or the customers whose effective
** owner (owner field, else creator) is user or a user of team or of a
** team below it (team non-empty; fsv_teams_within), and those shared
** with user.  visibility.c makes it from a
** user (fsv_vis_scope): the same rule as fsv_vis_customer. */
typedef struct fsv_scope {
    int all;
    const char *user;
    const char *team;       /* the team and every team below it */
    /* The dashboard's team filter (NULL or "": none): only customers
    ** whose effective owner is a user of this team or a team below it,
    ** within the scope above (a filter never widens what a user sees). */
    const char *filter_team;
    /* The customer pool: also the pool customers (no owner) of the pools
    ** this user's team sees (NULL or "": none; fsv_vis_pool_covers).
    ** Added last, so an initialiser that leaves it out means none. */
    const char *pool_team;
} fsv_scope;

#define FSV_PAGE_MAX 1000
/* One page of the visible, not deleted customers matching the filters
** (NULL or "" = any): search (substring of name, company or phone, a
** phone's digits without punctuation, the name's pinyin or initials for a
** query of letters), stage (key), owner (effective owner); sorted by sort:
** "name" (NULL: fds_name_key order, then id), "next" (soonest open plan,
** none last), "last" (latest follow-up longest ago, never first) or
** "amount" (largest first, none last), ties by name then id; after: the
** id of the last customer of the previous page (the cursor), or NULL.
** *ids: malloc'd array of *n (<= limit) malloc'd ids; *total: how many
** match in all; *more: 1 if another page follows.  FSV_INVALID for an
** unknown sort. */
typedef struct fsv_page_query {
    const fsv_scope *scope;
    const char *search, *stage, *owner, *sort, *after;
    int limit;              /* 1..FSV_PAGE_MAX */
} fsv_page_query;
int fsv_store_office_page(fsv_store *s, const fsv_page_query *q, char ***ids,
                          size_t *n, int64_t *total, int *more);

/* A customer's current register values {FIELD: value} (*values new; null
** registers left out), the time of its record's last change (ms, its hlc),
** the number of open conflicts on it and its records, its soonest open
** plan and latest live follow-up (ms, -1 if none).  FSV_NOTFOUND if no
** such customer. */
int fsv_store_office_values(fsv_store *s, const char *id, json_t **values,
                            int64_t *updated_ms, int64_t *conflicts,
                            int64_t *next_ms, int64_t *last_ms);

/* The history rows of one customer: its own, those of the records whose
** customer it is (as the record index says now) and the definitions',
** oldest first, only those whose change time (hlc) in whole seconds is
** not after asof_s (asof_s < 0: all).  *out as fsv_store_changes_after. */
int fsv_store_customer_history(fsv_store *s, const char *customer,
                               int64_t asof_s, fdsp_change **out, size_t *n);

/* A visible, not deleted customer as the figures need it. */
typedef struct fsv_office_cust {
    const char *id, *owner, *name, *stage, *close, *birthday;
    int has_amount;
    double amount;
    int64_t next_plan_ms, last_followup_ms;     /* -1 if none */
} fsv_office_cust;
typedef int (*fsv_office_cust_fn)(void *ud, const fsv_office_cust *c);
/* Every visible, not deleted customer, in no particular order. */
int fsv_store_office_customers(fsv_store *s, const fsv_scope *sc,
                               fsv_office_cust_fn fn, void *ud);

/* A live follow-up (at, text = author), plan (at = due, done) or stage
** change (at, text = to) of a visible, not deleted customer. */
typedef struct fsv_office_child {
    const char *tbl, *id, *customer, *owner, *text;
    int64_t at_ms;
    int done;
} fsv_office_child;
typedef int (*fsv_office_child_fn)(void *ud, const fsv_office_child *k);
/* The records of table tbl ("followup", "plan", "stagechg") with a time in
** [from_ms, to_ms), in no particular order; stage_in (NULL: any) keeps
** only those whose customer is in one of the comma-separated stages. */
int fsv_store_office_children(fsv_store *s, const fsv_scope *sc,
                              const char *tbl, int64_t from_ms, int64_t to_ms,
                              const char *stage_in, fsv_office_child_fn fn,
                              void *ud);

typedef int (*fsv_office_count_fn)(void *ud, const char *key, int64_t n);
/* For each stage, how many visible, not deleted customers have had it as
** their stage at some time (any value their stage field had in the
** history). */
int fsv_store_office_reached(fsv_store *s, const fsv_scope *sc,
                             fsv_office_count_fn fn, void *ud);

typedef int (*fsv_office_conflict_fn)(void *ud, const char *tbl,
                                      const char *rid, const char *field,
                                      const char *customer, const char *name);
/* Open conflicts on registers of visible, not deleted customers and their
** records, with the customer's id and name. */
int fsv_store_office_conflicts(fsv_store *s, const fsv_scope *sc,
                               fsv_office_conflict_fn fn, void *ud);

/* Aggregates (optional: a backend that keeps none answers FSV_NOTFOUND
** to all three, and the figures scan with the calls above).  Sums over
** the visible, not deleted customers, grouped by effective owner ("" for
** none), stage (NULL for none) and month ("YYYY-MM", the first 7 bytes
** of the expected close of a customer with an amount and a close of 7
** bytes or more, else ""): n customers, n_amount of them with an amount,
** amount their sum.  A group may come in several parts: add them up. */
typedef struct fsv_office_agg {
    const char *owner, *stage, *month;
    int64_t n, n_amount;
    double amount;
} fsv_office_agg;
typedef int (*fsv_office_agg_fn)(void *ud, const fsv_office_agg *g);
int fsv_store_office_agg_customers(fsv_store *s, const fsv_scope *sc,
                                   fsv_office_agg_fn fn, void *ud);
/* How many live follow-ups (text: author, "" for none) or open plans
** (text NULL) of visible, not deleted customers have a time in
** [bounds[b], bounds[b + 1]), for each bucket b < nb - 1, by the
** customer's effective owner; parts to add up, as above. */
typedef int (*fsv_office_bucket_fn)(void *ud, size_t bucket, const char *owner,
                                    const char *text, int64_t n);
int fsv_store_office_child_counts(fsv_store *s, const fsv_scope *sc,
                                  const char *tbl, const int64_t *bounds,
                                  size_t nb, fsv_office_bucket_fn fn, void *ud);
/* The visible, not deleted customers whose stage is one of stage_in
** (comma-separated; NULL: none) or whose birthday may fall on one of the
** days of mds (a JSON array of "MM-DD"; NULL: none): every such customer
** and maybe others (the caller checks). */
int fsv_store_office_customers_sel(fsv_store *s, const fsv_scope *sc,
                                   const char *stage_in, const char *mds,
                                   fsv_office_cust_fn fn, void *ud);

/* ---- Teams and moves (nested teams, DESIGN.md rule 8) ---------------------- */
/* store_teams.c.  Teams nest (teamtree.h); a user's team is a name of the
** map, "" (none) or "*" (head office).  A store whose users had teams
** before teams nested gets each of those names as a top-level team when
** it is opened. */

/* Add team name under parent (NULL or "": top level).  FSV_EXISTS (a
** duplicate), FSV_NOTFOUND (no such parent), FSV_INVALID (a cycle, "*",
** a bad name), each with a message naming the team.  Not inside a
** transaction. */
int fsv_store_team_add(fsv_store *s, const char *name, const char *parent);

/* The teams' parent map, borrowed from the handle: valid until the next
** store call on s.  Loaded once and kept while nothing changed it (this
** handle's own team writes, or another process's commit, as
** fsv_store_data_version tells). */
int fsv_store_team_map(fsv_store *s, const fsv_teams **map);

/* [{"team", "parent" (null for a top-level team), "users": n}] by name. */
int fsv_store_team_list(fsv_store *s, json_t **out);

/* A user moved to another team or role (`user set`): the user's row
** before and after, numbered by the store in the order moves commit
** (id; not a history sequence: a move writes no history, and devices
** keep which moves they have applied, fsv_store_move_done). */
typedef struct fsv_move {
    int64_t id, at_ms;
    char user[FSV_NAME_MAX + 1];
    char old_team[FSV_NAME_MAX + 1], old_role[FSV_NAME_MAX + 1];
    char new_team[FSV_NAME_MAX + 1], new_role[FSV_NAME_MAX + 1];
} fsv_move;

/* Set user name's team and/or role (NULL: keep) and record the move in
** the same transaction (*move_id its id; 0 if nothing changed, and no
** move is recorded).  team must be "", "*" or a team of the map
** (else FSV_INVALID naming it); role as fsv_store_user_add; FSV_NOTFOUND
** for no such user.  Not inside a
** transaction. */
int fsv_store_user_set(fsv_store *s, const char *name, const char *team,
                       const char *role, int64_t *move_id);

/* The moves with id > after, oldest first: *out malloc'd (free it), *n. */
int fsv_store_moves(fsv_store *s, int64_t after, fsv_move **out, size_t *n);

/* The last move whose effects device has been given (revokes sent, full
** state delivered).  A device never noted: the latest move (a device
** first seen after it pulls what it may see from the start); a device
** known when a move was made is noted at that move as not having it. */
int fsv_store_move_done(fsv_store *s, const char *device, int64_t *done);
/* Note that device has had the moves up to done (never lowers it). */
int fsv_store_move_done_set(fsv_store *s, const char *device, int64_t done);

/* The not deleted customers whose effective owner is owner: *ids a
** malloc'd array of *n malloc'd ids (free each, then the array). */
int fsv_store_owned_customers(fsv_store *s, const char *owner, char ***ids,
                              size_t *n);
/* ---- The customer pool (公海, DESIGN.md "Customer pool") ---------------------- */
/* The server's pool rules (`fieldsync-server pool set`); 0 = rule off. */
typedef struct fsv_pool_rules {
    int64_t return_days;        /* no follow-up by the owner for N days: back */
    int64_t warn_days;          /* devices warn N days ahead (today: returning) */
    int64_t cooldown_days;      /* the former owner may not reclaim for N days */
    int64_t max_claims_per_day; /* claims per rep per (server-local) day */
    int64_t max_owned;          /* customers a rep may own when claiming */
} fsv_pool_rules;
/* The rules (all 0 when never set). */
int fsv_store_pool_rules_get(fsv_store *s, fsv_pool_rules *r);
int fsv_store_pool_rules_set(fsv_store *s, const fsv_pool_rules *r);

/* What the server keeps of a customer that went through the pool: the team
** whose pool it is in (the team of the owner it was released or returned
** from; the devices cannot be trusted to say it), whether it is there now,
** since when, its owner before, and who took it out and when.  Only the
** server decides with it (visibility of pool customers, claim rules, who
** lost an offline claim race); the devices see the customer's registers. */
typedef struct fsv_pool_row {
    char team[FSV_NAME_MAX + 1];
    int in_pool;
    int64_t since_ms;
    char former[FSV_NAME_MAX + 1];      /* owner it left ("" if none) */
    char claimed_by[FSV_NAME_MAX + 1];  /* "" until claimed */
    int64_t claimed_ms;
} fsv_pool_row;
/* FSV_NOTFOUND if the customer never was in the pool. */
int fsv_store_pool_get(fsv_store *s, const char *customer, fsv_pool_row *out);
int fsv_store_pool_put(fsv_store *s, const char *customer,
                       const fsv_pool_row *row);
/* The pool's log: kind "release", "return" or "claim" of customer by user
** (the releasing owner, the owner it was returned from, the claimer) from
** or into team's pool at at_ms. */
int fsv_store_pool_log(fsv_store *s, const char *customer, const char *user,
                       const char *kind, const char *team, int64_t at_ms);
/* How many log rows of kind by user since since_ms (user NULL: anyone). */
int fsv_store_pool_log_count(fsv_store *s, const char *user, const char *kind,
                             int64_t since_ms, int64_t *n);
/* How many live customers user owns (the office view's effective owner). */
int fsv_store_pool_owned(fsv_store *s, const char *user, int64_t *n);
/* The dashboard's figures, per team: [{"team","size","returned","claimed",
** "released"}] (size: its pool customers now; the others: the log's moves
** since since_ms), by team.  *out new. */
int fsv_store_pool_figures(fsv_store *s, int64_t since_ms, json_t **out);
/* ---- Duplicate customers across reps (撞单) ------------------------------------ */
/* A customer's phone and WeChat id are kept as normalised keys (store_dup.c
** says how: digits only and no +86/86 prefix for phones, ASCII case folded
** for WeChat ids), maintained in every merge transaction like the office
** view, for two questions: does a customer another rep owns have this key
** (the push's notice, sync_ops.c), and which keys do customers of two or
** more owners share (the dashboard's list).  Backends that do not keep the
** keys report no matches (dup_matches, dup_notice) and refuse dup_list with
** FSV_INVALID. */
#define FSV_DUP_KEY_MAX 80
/* The key of field ("phone" or "wechat") holding value into out (cap >=
** FSV_DUP_KEY_MAX): "p:DIGITS" or "w:id".  1 if there is one, 0 if the
** value gives none (too short, not a phone number, another field). */
int fsv_dup_key(const char *field, const char *value, char *out, size_t cap);

/* Each live (not deleted) customer other than `customer` whose phone or
** WeChat has key, with its effective owner (owner field, else creator).
** Borrowed strings, valid during the call; a non-FSV_OK return stops. */
typedef int (*fsv_dup_match_fn)(void *ud, const char *customer,
                                const char *owner);
int fsv_store_dup_matches(fsv_store *s, const char *key, const char *customer,
                          fsv_dup_match_fn fn, void *ud);

/* Note one duplicate notice given to user at now_ms (inside the push's
** write transaction) and say how many were noted for user at or after
** since_ms before this one (*given): the daily allowance. */
int fsv_store_dup_notice(fsv_store *s, const char *user, int64_t now_ms,
                         int64_t since_ms, int64_t *given);

/* Suspected duplicates, company-wide: for each key that live customers of
** two or more owners share, every live customer with that key: key,
** customer id, owner, name.  Ordered by key, then owner, then id.  The
** caller applies visibility (api_duplicates.c, through visibility.c, so
** the rule lives in one place).  Reads inside or outside a read
** transaction. */
typedef int (*fsv_dup_row_fn)(void *ud, const char *key, const char *customer,
                              const char *owner, const char *name);
int fsv_store_dup_list(fsv_store *s, fsv_dup_row_fn fn, void *ud);

/* ---- What deciding visibility needs, loaded at once (store_vis.c) ---------- */
/* Plain data, filled by the store and read by the pure decisions of
** sync/vis_decide.h (which need no store: tests build it by hand).  Every
** array is sorted by its key (bytewise) so the decisions search it. */
typedef struct fsv_vis_rec {        /* a record a batch writes */
    char *tbl, *rid;
    int known;              /* in the record index */
    char *customer;         /* its customer (a customer: itself); NULL none */
    char *creator;          /* NULL while unknown */
    int nfields;            /* registers it holds (the field limit) */
} fsv_vis_rec;
typedef struct fsv_vis_field {      /* a field a batch writes */
    size_t rec;             /* index into recs */
    char *field;
    int has;                /* the record holds a register for it */
} fsv_vis_field;
typedef struct fsv_vis_cust {       /* a customer whose sight is asked */
    char *id;
    int known;              /* the record index knows the customer */
    char *creator;          /* NULL while unknown */
    char *owner;            /* its owner field (NULL: none) */
    int pooled;             /* its pool field is "1" */
    char *name;             /* its name field, when a pool row says someone
                            ** claimed it (a refusal names it); else NULL */
    int has_pool;           /* the pool row below exists */
    fsv_pool_row pool;
    int shares_loaded;      /* shares below were read */
    char **shares;          /* users it is shared with, sorted */
    size_t n_shares;
    int first_vis;          /* scratch of a batch's write checks: the
                            ** writer's sight at its first ask, -1 none */
} fsv_vis_cust;
typedef struct fsv_vis_who {        /* a user the rules look at */
    char name[FSV_NAME_MAX + 1];
    int known;
    char team[FSV_NAME_MAX + 1];
    int disabled;
} fsv_vis_who;
typedef struct fsv_vis_facts {
    fsv_vis_rec *recs;              /* by (tbl, rid) */
    size_t n_recs;
    fsv_vis_field *fields;          /* by (rec, field) */
    size_t n_fields;
    fsv_vis_cust *custs;            /* by id */
    size_t n_custs;
    fsv_vis_who *users;             /* by name */
    size_t n_users;
    fsv_teams *teams;               /* the team map (a copy unless borrowed) */
    int teams_borrowed;             /* teams is the handle's: use it at once */
    const fsv_user *only;           /* loaded for this user's questions only
                                    ** (fsv_store_vis_load_customer) */
    const fdsp_change *batch;       /* the batch loaded (borrowed), and */
    size_t n_batch;
    size_t *field_of;               /* change i's entry in fields */
} fsv_vis_facts;

/* Everything the visibility, limit and fan-out decisions of a pushed batch
** of n changes need, in one call, into a zeroed *f: the records and fields
** it writes (record index, field counts), the customers they belong to or
** name (owner, pool flag and row, shares), the users named as owners (team,
** disabled) and a copy of the team map.  Inside the batch's transaction.
** FSV_OK, or the store's code (then *f is cleared). */
int fsv_store_vis_load(fsv_store *s, const fdsp_change *c, size_t n,
                       fsv_vis_facts *f);
/* After change c of the loaded batch was merged: what it changed of the
** facts, from c itself where it is certain (a new record, a field's first
** register) and read again from the store where a merge decides (an owner,
** pool flag, customer link or share record written over an existing
** register).  FSV_OK or the store's code. */
int fsv_store_vis_merged(fsv_store *s, fsv_vis_facts *f, const fdsp_change *c);
/* What one question of user u about customer id needs, into a zeroed *f:
** the facts are for u only (f->only = u: nothing more when u owns it; the
** pool row only of a pool customer; of its shares only u's; the team map
** borrowed).  u NULL: the owner facts alone (record index, owner and pool
** fields).  FSV_OK or the store's code. */
int fsv_store_vis_load_customer(fsv_store *s, const fsv_user *u,
                                const char *id, fsv_vis_facts *f);
/* Free what *f holds and zero it (NULL-safe). */
void fsv_vis_facts_clear(fsv_vis_facts *f);
/* The entries of *f by key (binary search; pure), NULL if not loaded. */
fsv_vis_rec *fsv_vis_facts_rec(const fsv_vis_facts *f, const char *tbl,
                               const char *rid);
fsv_vis_field *fsv_vis_facts_field(const fsv_vis_facts *f, const char *tbl,
                                   const char *rid, const char *field);
fsv_vis_cust *fsv_vis_facts_cust(const fsv_vis_facts *f, const char *id);
const fsv_vis_who *fsv_vis_facts_user(const fsv_vis_facts *f,
                                      const char *name);
/* The field entry of change c: direct when c is one of the loaded batch's
** changes, else by search. */
fsv_vis_field *fsv_vis_facts_change_field(const fsv_vis_facts *f,
                                          const fdsp_change *c);

#endif /* FSV_STORE_H */
