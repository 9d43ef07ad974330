/*
** fieldsync.h — libfieldsync, the offline-first replica a device embeds.
**
** Depends on SQLite and jansson only: no sockets, no threads, no TLS, no
** global state.  Everything hangs off an fds_replica handle; one handle is
** used by one thread at a time.
**
** Conventions (see docs/internals/core.md):
**  - Functions return an int code (FDS_OK == 0); fds_errmsg(r) has the text
**    of the last failure on that handle, naming what was wrong.
**  - json_t **out parameters receive a NEW reference (json_decref it).
**  - json_t * inputs are BORROWED (never stolen).
**  - char **out parameters are malloc'd; release with free(), or
**    fds_free() (what a binding must use: see "JSON text entry points").
**  - Every *_close and *_free function accepts NULL.
**  - Out of memory is FDS_NOMEM, never an abort, another code or a partial
**    result; the replica is then unchanged (tests/core/test_nomem.c).
**  - Each record-changing call is one SQLite transaction (a savepoint when
**    called inside fds_begin/fds_commit, so several calls can be made
**    atomic together, as `import` does).
**
** Record JSON shapes are those of the CLI's --json output (DESIGN.md):
**   customer: {"id","name","phone","email","wechat","company","title",
**              "birthday","notes","owner","tags":[..],"stage","cycle",
**              "fields":{KEY:VALUE}, "updated"} — absent fields are omitted.
**   followup: {"id","customer","method","at","content","result","author",
**              "location": {"lat","lon","address"} or null (a check-in:
**              where the follow-up was written; lat/lon null when only an
**              address was given)}
**   plan:     {"id","customer","due","method","content","done":bool}
**   feedback: {"id","customer","content","at","author"}
**   stage change: {"id","customer","from","to","note","at","author"}
** Times are RFC 3339 UTC strings ("2026-11-28T09:30:00Z"); birthday is
** "YYYY-MM-DD".
*/
#ifndef FIELDSYNC_H
#define FIELDSYNC_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "fieldsync_proto.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Error codes ----------------------------------------------------------- */
enum {
    FDS_OK = 0,
    FDS_ERROR = 1,      /* other failure */
    FDS_NOMEM,          /* out of memory: nothing changed, results NULL
                        ** (docs/EMBEDDING.md "When memory runs out") */
    FDS_INVALID,        /* invalid input (bad method/time/field, missing name) */
    FDS_NOTFOUND,       /* no such record */
    FDS_AMBIGUOUS,      /* id prefix matches several records */
    FDS_DB,             /* SQLite failure (message has SQLite's text) */
    FDS_TOOBIG,         /* a value or message over its limit */
    FDS_PROTO,          /* protocol violation by the peer */
    FDS_PERM,           /* refused by the server: auth or permission */
    FDS_DONE,           /* not an error: nothing (more) to do */
    FDS_SCHEMA,         /* replica file from a newer fieldsync */
    FDS_NOTREPLICA      /* existing file that is not a fieldsync replica */
};

FDS_API const char *fds_errstr(int rc);        /* static text for a code */

/* ---- Environment: clock and randomness (injectable for tests) ------------- */
typedef struct fds_env {
    /* Wall clock, ms since the epoch.  NULL = real time. */
    int64_t (*now_ms)(void *ud);
    /* Fill buf with n random bytes; return 0 on success.  NULL = the OS
    ** CSPRNG (getrandom(2)). */
    int (*random)(void *ud, unsigned char *buf, size_t n);
    void *ud;
} fds_env;

/* ---- Replica handle ------------------------------------------------------- */
typedef struct fds_replica fds_replica;

/* Open the replica at path; ":memory:" gives an in-memory replica.  Only a
** path that does not exist is created (mode 0600) as a new replica; an
** existing file that is empty, not an SQLite database, or one without
** fieldsync's schema fails with FDS_NOTREPLICA and is left byte-identical.
** Migrates the schema in place; a file made by a newer schema fails with
** FDS_SCHEMA.  A new replica gets a random
** device id.  env may be NULL; it is copied.  On failure *out is NULL and, if
** errbuf is non-NULL, errbuf (errlen bytes) holds the reason. */
FDS_API int fds_replica_open(const char *path, const fds_env *env,
                             fds_replica **out, char *errbuf, size_t errlen);
FDS_API void fds_replica_close(fds_replica *r);
FDS_API const char *fds_errmsg(const fds_replica *r);

FDS_API const char *fds_replica_device(const fds_replica *r); /* UUID text */
/* The user this replica acts for ("" until known: set by init/sync). */
FDS_API const char *fds_replica_user(const fds_replica *r);
FDS_API int fds_replica_set_user(fds_replica *r, const char *user);

/* Small persistent key/value settings (server URL, token, CA path, …).
** get: *out is malloc'd, NULL (rc FDS_NOTFOUND) if unset. */
FDS_API int fds_meta_get(fds_replica *r, const char *key, char **out);
FDS_API int fds_meta_set(fds_replica *r, const char *key, const char *value);

/* Group several calls into one transaction.  Nestable. */
FDS_API int fds_begin(fds_replica *r);
FDS_API int fds_commit(fds_replica *r);
FDS_API int fds_rollback(fds_replica *r);

/* Number of local changes not yet acknowledged by the server. */
FDS_API int fds_outbox_count(fds_replica *r, int64_t *n);

/* ---- Ids ------------------------------------------------------------------- */
/* Resolve a unique id prefix of a record in table (e.g. "customer", "plan",
** "conflict").  FDS_NOTFOUND if none, FDS_AMBIGUOUS if several (the message
** names the candidates).  *full is malloc'd. */
FDS_API int fds_resolve_id(fds_replica *r, const char *table,
                           const char *prefix, char **full);

/* ---- Customers -------------------------------------------------------------- */
/* in: {"name" (required), "phone","email","wechat","company","title",
**      "birthday","notes","tags":[..],"cycle":n,"owner","stage",
**      "fields":{KEY:VALUE}}.  Validates every value (email shape, date,
** custom fields against their definitions).  owner defaults to the replica
** user, stage to the first pipeline stage.  *out: the new record.
** *warnings (may be NULL): new array of strings, e.g. the phone or WeChat id
** already belonging to another customer (named). */
FDS_API int fds_customer_add(fds_replica *r, const json_t *in, json_t **out,
                             json_t **warnings);
/* Change the given fields only; null clears a field.  "fields" merges per key. */
FDS_API int fds_customer_edit(fds_replica *r, const char *id,
                              const json_t *in, json_t **out);
FDS_API int fds_customer_delete(fds_replica *r, const char *id);
FDS_API int fds_customer_get(fds_replica *r, const char *id, json_t **out);
/* The whole follow-up sheet: the customer object plus "followups" (newest
** first), "plans" (by due), "feedback" (newest first), "stages" (stage
** changes oldest first) arrays. */
FDS_API int fds_customer_sheet(fds_replica *r, const char *id, json_t **out);

typedef struct fds_query {
    const char *stage;      /* NULL = any */
    const char *owner;      /* NULL = any */
    const char *search;     /* substring of name/company/phone/email/wechat/
                            ** title/notes/tags/custom fields or of the text
                            ** (content, result) of a live follow-up,
                            ** case-insensitive for ASCII, any UTF-8 (Chinese)
                            ** text; a phone matches ignoring spaces, - and +;
                            ** letters also match the name's pinyin, full or
                            ** initials ("zw" finds 张伟); NULL = all */
    int include_deleted;
    /* Added in the second round (zero = as before). */
    const char *sort;       /* NULL or "name": by name; "next": soonest open
                            ** plan first (none last); "last": last follow-up
                            ** longest ago first (never first); "amount":
                            ** largest first (none last) */
    int activity;           /* 1: each customer also carries "next_plan" (due
                            ** of its earliest open plan) and "last_followup"
                            ** (time of its latest follow-up), or null; implied
                            ** by sort next|last */
} fds_query;
/* Array of customer objects sorted as q->sort says (ties and "name": UTF-8
** byte order of the name, then id).  Each carries "unsynced": bool and
** "conflicts": n.  An unknown sort is FDS_INVALID naming it. */
FDS_API int fds_customer_list(fds_replica *r, const fds_query *q, json_t **out);

/* Reassign / share (the server decides whether the user may). */
FDS_API int fds_customer_assign(fds_replica *r, const char *id, const char *user);
FDS_API int fds_customer_share(fds_replica *r, const char *id, const char *user,
                               int shared);

/* The customer pool (公海, DESIGN.md "Customer pool").  A customer JSON has
** "pool" (true while it is in the pool: no owner) and "pool_since".
** release: back to the pool (owner "", pool "1", pool_since now, note in
** "pool_note"); FDS_INVALID if it is there already.  claim: this replica's
** user becomes the owner of a pool customer (FDS_INVALID if it is not in
** the pool); a request the server may refuse (someone claimed it first, a
** rule), which the next sync undoes and reports.  list: the pool customers
** this replica sees, as fds_customer_list (search as there).  *out (may be
** NULL for release/claim): the customer after the write / a new array. */
FDS_API int fds_customer_release(fds_replica *r, const char *id,
                                 const char *note, json_t **out);
FDS_API int fds_pool_claim(fds_replica *r, const char *id, json_t **out);
FDS_API int fds_pool_list(fds_replica *r, const char *search, json_t **out);

/* ---- Follow-ups, feedback, stages, plans ----------------------------------- */
/* in: {"method": phone|email|visit|wechat|meeting|other, "content" (required),
**      "result", "at" (default now), "location": "LAT,LON" (decimal
**      degrees, latitude -90..90, longitude -180..180; stored with at most
**      six decimals) or the {"lat","lon","address"} object of our output,
**      "address": text}.  A bad location is FDS_INVALID naming the part
**      that was wrong.  Resets the customer's quiet cycle. */
FDS_API int fds_followup_add(fds_replica *r, const char *customer,
                             const json_t *in, json_t **out);
/* in: {"content" (required), "at"} */
FDS_API int fds_feedback_add(fds_replica *r, const char *customer,
                             const json_t *in, json_t **out);
/* Move to stage (a defined stage key).  Moving to a lost stage, or out of
** a won one, requires a non-empty note.  Records a stage change and sets
** the customer's stage.  A customer already at that stage is no change:
** FDS_OK with *out = {"customer","from","to","unchanged":true} and nothing
** written. */
FDS_API int fds_stage_set(fds_replica *r, const char *customer,
                          const char *stage, const char *note, json_t **out);
/* in: {"due" (required), "method", "content"} */
FDS_API int fds_plan_add(fds_replica *r, const char *customer,
                         const json_t *in, json_t **out);
FDS_API int fds_plan_done(fds_replica *r, const char *plan_id, json_t **out);
/* fds_plan_done with the outcome: result (may be NULL) is stored in the
** plan's "result".  Fields already as asked are not written again. */
FDS_API int fds_plan_finish(fds_replica *r, const char *plan_id,
                            const char *result, json_t **out);

/* Corrections.  id: full id or unique prefix of a live record.
** followup in: any of {"method","content","result","at","location",
** "address"} (location as for add); plan in: any of
** {"due","method","content","result"}; null or "" clears an optional field
** (method, content and at of a follow-up and due of a plan cannot be
** cleared).  Only fields whose value changes are written.  *out (may be
** NULL): the record after the edit.  delete writes the record's "deleted"
** register (a tombstone that syncs); *out (may be NULL): the record as it
** was. */
FDS_API int fds_followup_edit(fds_replica *r, const char *id,
                              const json_t *in, json_t **out);
FDS_API int fds_followup_delete(fds_replica *r, const char *id, json_t **out);
FDS_API int fds_plan_edit(fds_replica *r, const char *id, const json_t *in,
                          json_t **out);
FDS_API int fds_plan_delete(fds_replica *r, const char *id, json_t **out);

/* A record named for people, for messages about it (a sync refusal): a
** customer "NAME (COMPANY)", a child record "follow-up of NAME (COMPANY)",
** a definition "field definition KEY"; "TABLE ID8" when the replica does
** not have it.  Deleted records are named as well.  *out: free with
** fds_free. */
FDS_API int fds_record_label(fds_replica *r, const char *table, const char *id,
                             char **out);

/* Parse a stored or typed location "LAT,LON" (plain decimal degrees,
** latitude -90..90, longitude -180..180): FDS_OK or FDS_INVALID. */
FDS_API int fds_location_parse(const char *text, double *lat, double *lon);

/* ---- Definitions: custom fields, pipeline stages, templates ----------------- */
/* def: {"key","label","type": text|number|date|choice|phone|email,
**       "choices":[..] (choice only), "order"} */
FDS_API int fds_fielddef_set(fds_replica *r, const json_t *def);
FDS_API int fds_fielddef_list(fds_replica *r, json_t **out);
/* def: {"key","label","label_zh","order","probability" (0..100),
**       "won":bool,"lost":bool} */
FDS_API int fds_stagedef_set(fds_replica *r, const json_t *def);
/* Stages in order: the built-in lead, intent, proposal, quote, contract,
** won, lost, overridden/extended by stage definitions. */
FDS_API int fds_stagedef_list(fds_replica *r, json_t **out);
/* tpl: {"name","fields":[fielddef..],"stages":[stagedef..]} as shipped in
** templates/NAME.json; all in one transaction. */
FDS_API int fds_template_apply(fds_replica *r, const json_t *tpl);

/* ---- Daily list, history, conflicts ---------------------------------------- */
/* date: "YYYY-MM-DD" in local time, NULL = today.
** *out: {"plans": [plan + "customer_name", due or overdue, oldest first],
**        "birthdays": [customer + "days" within the next 7 days],
**        "quiet": [customer + "last_followup","days_quiet": cycle ran out],
**        "returning": [customer + "return_at","days_left": mine, going back
**                      to the pool within the server's warning days]} */
FDS_API int fds_today(fds_replica *r, const char *date, json_t **out);
/* Timeline of a customer (its own fields and its follow-ups, plans,
** feedback, stage changes), oldest first: [{"at","user","device","table",
** "record","field","value","previous"}]. */
FDS_API int fds_history(fds_replica *r, const char *id, json_t **out);
/* Open conflicts: [{"id","table","record","field","mine":{value,user,
** device,at},"theirs":{…}}]. */
FDS_API int fds_conflicts(fds_replica *r, json_t **out);
/* keep: "mine" | "theirs", or value != NULL to write a new value.  The
** resolving write dominates every version, settling it on every replica. */
FDS_API int fds_conflict_resolve(fds_replica *r, const char *conflict_id,
                                 const char *keep, const char *value);

/* ---- Time helpers ----------------------------------------------------------- */
/* Parse "YYYY-MM-DD", "YYYY-MM-DD HH:MM" (local time) or RFC 3339 into ms
** since the epoch.  FDS_INVALID if it is none of those. */
FDS_API int fds_time_parse(const char *text, int64_t *ms);
/* fds_time_parse plus the words people type, relative to now_ms in the
** local zone: today, tomorrow, 今天, 明天, 后天 (今日, 明日), weekday names
** (mon..sun, monday..sunday, 周一..周日, 星期一..星期日: the next one to
** come, never today), each with an optional " HH:MM"; also Excel's
** "YYYY/M/D [H:MM]".  *ms: local midnight of the day when no time is given,
** and *date_only (may be NULL) = 1 then (also for "YYYY-MM-DD"). */
FDS_API int fds_time_parse_rel(const char *text, int64_t now_ms, int64_t *ms,
                               int *date_only);
/* Format ms as RFC 3339 UTC into buf (>= 32 bytes). */
FDS_API void fds_time_format(int64_t ms, char *buf, size_t len);

/* ---- A server's office view (customers kept outside a replica) ----------- */
/* The customer object (the shape above, without "updated") from values, an
** object {FIELD: winning value text} of its registers.  *out new. */
FDS_API int fds_customer_from_values(const char *id, const json_t *values,
                                     json_t **out);
/* 1 if query (letters) spells the pinyin of a run of text's characters,
** full or initials ("zw" matches 张伟), as fds_customer_list's search. */
FDS_API int fds_pinyin_match(const char *text, const char *query);
/* A byte string whose memcmp order is the order a Chinese reader expects
** for names (ideographs by pinyin, before Latin letters; case and spaces
** second), as the CLI's zh_CN collation sorts.  Writes at most cap bytes
** to out and returns the key's full length (call again with a larger
** buffer if it is more than cap). */
FDS_API size_t fds_name_key(const char *name, unsigned char *out, size_t cap);

/* ---- Merge: pure functions, no storage (the server's stores call these) ---- */
enum { FDS_VV_EQUAL = 0, FDS_VV_LESS, FDS_VV_GREATER, FDS_VV_CONCURRENT };
FDS_API int fds_vv_compare(const fdsp_vv *a, const fdsp_vv *b);
/* out = pointwise max of a and b (out must be zeroed or cleared). */
FDS_API int fds_vv_join(const fdsp_vv *a, const fdsp_vv *b, fdsp_vv *out);

/* A field register: the maximal (mutually concurrent) versions seen.
** v[0] is the winner (greatest hlc, then greatest device id); the rest follow
** in the same order.  n == 0 means never written.  Equal sets of versions
** give byte-equal registers, whatever order they arrived in. */
typedef struct fds_register {
    size_t n;
    fdsp_change *v;         /* table/record/field/seq of each are ignored */
} fds_register;

enum { FDS_MERGE_NOOP = 0, /* c already seen or superseded */
       FDS_MERGE_WIN,      /* c dominates every version: sole value now */
       FDS_MERGE_CONFLICT  /* c concurrent with some version: both kept */ };

/* Merge change c into register s giving *out (zeroed by the caller; free
** with fds_register_clear).  *outcome is one of FDS_MERGE_*.  s is not
** modified.  Commutative, associative and idempotent over any set of
** changes. */
FDS_API int fds_merge(const fds_register *s, const fdsp_change *c,
                      fds_register *out, int *outcome);
FDS_API void fds_register_clear(fds_register *reg);
/* Joined version vector of all versions (what a new local write extends). */
FDS_API int fds_register_vv(const fds_register *reg, fdsp_vv *out);
/* Canonical JSON of a register (array of change objects, winner first) and
** back; used by every store so all replicas save identical bytes. */
FDS_API json_t *fds_register_to_json(const fds_register *reg);
FDS_API int fds_register_from_json(const json_t *j, fds_register *out);
/* The canonical text itself, as every store keeps it: the bytes of
** json_dumps(fds_register_to_json(reg), JSON_COMPACT | JSON_SORT_KEYS),
** built without a jansson tree (malloc'd; NULL only when out of memory or
** when jansson too would fail).  fds_register_parse reads any JSON text
** fds_register_from_json accepts, the canonical shape without jansson:
** FDS_OK, FDS_INVALID or FDS_NOMEM.  fds_vv_dump / fds_vv_parse do the
** same for a version vector ({"device":counter,...}, sorted keys). */
FDS_API char *fds_register_dump(const fds_register *reg);
FDS_API int fds_register_parse(const char *text, fds_register *out);
FDS_API char *fds_vv_dump(const fdsp_vv *vv);
FDS_API int fds_vv_parse(const char *text, fdsp_vv *out);
/* 1 if the register holds versions with two or more distinct values. */
FDS_API int fds_register_in_conflict(const fds_register *reg);

/* Rule 14: how far ahead of a clock a time may be.  The server re-stamps
** a pushed change more than this ahead of its clock; no replica's HLC is
** moved by a received time past its own clock plus this; the device warns
** when the server's clock and its own differ by more. */
#ifndef FDS_CLOCK_BOUND_MS
#define FDS_CLOCK_BOUND_MS (5 * 60 * 1000)
#endif

/* Hybrid logical clock: next local time given the last one and the wall
** clock; and the receive rule given a remote time: the greater of last and
** remote, plus one, or the wall clock if later, but never past now_ms +
** FDS_CLOCK_BOUND_MS (then the greater of last and that bound: a clock
** already past it stays). */
FDS_API uint64_t fds_hlc_next(uint64_t last, int64_t now_ms);
FDS_API uint64_t fds_hlc_recv(uint64_t last, uint64_t remote, int64_t now_ms);

/* ---- Attachments (photos on a follow-up) -------------------------------------
** A follow-up's "attachments" register holds [{"id","name","type","size",
** "sha256"}]: the record syncs at once like any other field, the bytes
** (a blob, named by its SHA-256) move separately (fds_session_set_blobs).
** The replica never holds the bytes: the embedder keeps them (the CLI in a
** folder next to the replica) and says whether it has them ("have").
** fds_followup_add's in may carry "attachments": [{"name","type","size",
** "sha256"}, ...] for bytes the caller already stored; each gets an id.
** Outputs of follow-ups show "attachments" as that array with "have":
** false, for the embedder to set. */
#define FDS_MAX_ATTACHMENTS 20      /* per follow-up */
#define FDS_MAX_ATTACH_NAME 255     /* bytes of a file name */
/* Every attachment of every live follow-up, as above plus "followup" and
** "customer" (the ids), without "have".  *out: a new array. */
FDS_API int fds_attachments_list(fds_replica *r, json_t **out);
/* Change a follow-up's photos: append the entries of add (may be NULL;
** as for fds_followup_add) and remove drop[0..n_drop) (ids or unique
** prefixes of this follow-up's attachments).  One write of the register
** (none if nothing changes), so history shows what was added and removed.
** *out (may be NULL): the follow-up after. */
FDS_API int fds_followup_photos(fds_replica *r, const char *id,
                                const json_t *add, const char *const *drop,
                                size_t n_drop, json_t **out);
/* One attachment by id or unique prefix (FDS_NOTFOUND, FDS_AMBIGUOUS). */
FDS_API int fds_attachment_get(fds_replica *r, const char *prefix,
                               json_t **out);

/* What the embedder does with bytes, for the session's blob transfer.
** Every callback returns 0 (or a count) on success and -1 on failure;
** sha is 64 lowercase hex digits.  Called from fds_session_next/feed. */
typedef struct fds_blob_io {
    void *ctx;
    /* Bytes held of blob sha: *complete 1 when the blob is whole here
    ** (verified), else the length of a partial download (0: none). */
    int64_t (*held)(void *ctx, const char *sha, int *complete);
    /* Read n bytes at off of the blob (partial 0) or of its partial
    ** download (partial 1) into buf: the count read, -1 on failure. */
    long (*read)(void *ctx, const char *sha, int partial, int64_t off,
                 unsigned char *buf, size_t n);
    /* Append n bytes to the partial download of sha; off is its length
    ** before them (the core only ever appends). */
    int (*append)(void *ctx, const char *sha, int64_t off,
                  const unsigned char *p, size_t n);
    /* The partial download is whole: ok 1, its SHA-256 matched (make it
    ** the blob); ok 0, it did not (drop it). */
    int (*finish)(void *ctx, const char *sha, int ok);
} fds_blob_io;

#define FDS_BLOBS_UP   1u   /* upload blobs this device has, not yet
                            ** known to be on the server */
#define FDS_BLOBS_DOWN 2u   /* fetch referenced blobs missing here */

typedef struct fds_blob_stats {
    int64_t uploaded;       /* blobs now whole on the server */
    int64_t downloaded;     /* blobs fetched whole and verified */
    int64_t refused;        /* refused by the server (named in the notes) */
    int64_t failed;         /* fetched but failed the hash check, or the
                            ** embedder's callbacks failed */
    int64_t bytes_up;       /* blob bytes sent */
    int64_t bytes_down;     /* blob bytes received */
    int64_t chunks_up;      /* blob_put messages with data */
    int64_t left;           /* blobs still to move when the session ended */
    int64_t held_back;      /* missing here, not fetched ahead of time by
                            ** the setting (fds_session_set_blob_policy) */
    int64_t waiting;        /* to fetch, but not on the server yet (the
                            ** device that took them has not sent them):
                            ** fds_session_blobs_again asks once more */
} fds_blob_stats;

/* ---- Sans-I/O sync session -------------------------------------------------
** The caller moves bytes; the session decides what to say.  Typical loop:
**     fds_session_new(r, &s);
**     connect; then repeatedly:
**        while (fds_session_next(s, &buf, &len) == FDS_OK) { send(buf); free(buf); }
**        if (fds_session_state(s) == FDS_SESSION_IDLE && !watching) break;
**        msg = receive(); rc = fds_session_feed(s, msg, len);
** The session sends hello first, then pushes the outbox in batches of up to
** FDSP_MAX_BATCH (at most `window` unacknowledged batches), then pulls after
** the stored cursor until the server reports no more; a notify starts
** another pull.  Incoming changes are merged one transaction per batch and
** the cursor advances in that same transaction, so an interrupted pull
** resumes where it stopped.  Acks remove acknowledged changes from the
** outbox; refused changes are dropped from the outbox and recorded in the
** replica (fds_refusals).
**
** Trust (DESIGN.md rules 12-14, docs/internals/trust.md): the hello carries
** the replica's counter and the store id and epoch of its last welcome.
**  - Rule 12: a welcome whose counter is above the replica's, or an ack
**    refusing a change with device_clash, makes the session stop pushing,
**    wait until nothing is in flight, and reset the replica in one
**    transaction (fresh device id, outbox re-stamped under it, cursor 0);
**    then next() gives a new hello with the new id on the same connection.
**    Clash refusals are not refusals: those changes stay in the outbox.
**  - Rule 13: a welcome with another store id or epoch than the stored
**    ones, or a head below the cursor, means the server was restored: in
**    one transaction the cursor goes to 0 and every change the replica
**    holds is queued for re-send (after the outbox), pushed with its own
**    device, user, vector and time.  A refused re-sent change is dropped
**    quietly (fds_session_notes), never recorded as a refusal.
**  - Rule 14: an ack's stamps replace the HLC of the log row and of the
**    register version; the welcome's time gives the clock skew.
** fds_session_stats says what happened. */
typedef struct fds_session fds_session;

enum { FDS_SESSION_HANDSHAKE = 0, /* hello sent, waiting for welcome */
       FDS_SESSION_SYNCING,       /* pushing or pulling */
       FDS_SESSION_IDLE,          /* outbox empty and caught up */
       FDS_SESSION_FAILED };      /* error received or protocol violation */

typedef struct fds_session_stats {
    int64_t pushed;         /* changes acknowledged by the server */
    int64_t pulled;         /* changes received and applied */
    int64_t conflicts;      /* merges that produced a conflict */
    int64_t refused;        /* pushed changes the server refused */
    int64_t revoked;        /* records dropped on the server's word */
    /* Rules 12-14 (docs/internals/trust.md): */
    int device_reset;       /* 1: this replica was restored or copied, and
                            ** now syncs under a new device id
                            ** (fds_replica_device); its unacknowledged
                            ** changes were re-stamped, none dropped */
    int server_restored;    /* 1: the server was restored from a backup;
                            ** this replica pulls from 0 again and re-sends
                            ** every change it holds */
    int64_t resent;         /* changes queued for that re-send */
    int64_t relay_dropped;  /* re-sent changes the server refused: not the
                            ** user's work here, dropped quietly (named in
                            ** fds_session_notes) */
    int clock_known;        /* 1: clock_skew_ms is set (the welcome gave the
                            ** server's time) */
    int64_t clock_skew_ms;  /* server clock minus this device's, at the
                            ** welcome; |skew| > FDS_CLOCK_BOUND_MS: warn */
    int64_t repaired;       /* checksum buckets the server repaired */
    int64_t repaired_records; /* records whose registers that dropped */
    /* Live batches (PROTOCOL.md §3 step 4): changes the server sent
    ** unprompted to this caught-up device, no pull asked for them. */
    int64_t live;           /* of pulled, those applied from live batches */
    int64_t live_skipped;   /* live batches not applied (not on top of the
                            ** cursor, or something in flight): pulled */
} fds_session_stats;

FDS_API int fds_session_new(fds_replica *r, fds_session **out);
FDS_API void fds_session_free(fds_session *s);
/* Next message to send: FDS_OK with *buf (malloc'd, free()) and *len, or
** FDS_DONE when there is nothing to send until more input arrives. */
FDS_API int fds_session_next(fds_session *s, char **buf, size_t *len);
/* Feed one complete received message.  FDS_OK, FDS_PERM (auth/permission
** error from the server), FDS_PROTO (undecodable or unexpected message; the
** transport should close) or a storage error. */
FDS_API int fds_session_feed(fds_session *s, const char *buf, size_t len);
/* Tell the session the local replica changed (e.g. in --watch mode), so
** next() pushes the new outbox. */
FDS_API void fds_session_local_changed(fds_session *s);
FDS_API int fds_session_state(const fds_session *s);
FDS_API void fds_session_stats_get(const fds_session *s, fds_session_stats *st);
/* Fold the stats of a later session of the same run into *total: counters
** add up, device_reset and server_restored stay set once set, the clock
** skew is the later one when known. */
FDS_API void fds_session_stats_add(fds_session_stats *total,
                                   const fds_session_stats *later);
/* Text of the last server error or protocol failure, "" if none. */
FDS_API const char *fds_session_errmsg(const fds_session *s);
/* What the session did that is not an error but worth a log line (a
** device reset, a server restore, a dropped re-sent change): a BORROWED
** JSON array of strings, oldest first, valid until fds_session_free. */
FDS_API const json_t *fds_session_notes(const fds_session *s);
/* Move blob bytes in this session (only with a server whose welcome said
** "blobs"; PROTOCOL.md §14): flags FDS_BLOBS_UP / FDS_BLOBS_DOWN; only
** (may be NULL) limits it to one blob (`attachment get`).  Records go
** first: a blob message is given by fds_session_next only when no record
** message is waiting, one chunk (FDSP_BLOB_CHUNK) per round trip, so a
** record change waits at most for one chunk ahead of it.  Uploads resume
** at the offset the server acknowledged; downloads at the bytes held.
** The session stays SYNCING until the blobs are moved or refused.  io is
** copied; call before the first fds_session_next. */
FDS_API int fds_session_set_blobs(fds_session *s, const fds_blob_io *io,
                                  unsigned flags, const char *only);
FDS_API void fds_session_blob_stats(const fds_session *s, fds_blob_stats *st);
/* The device's photo setting for metered links (`fieldsync photos`):
** whether blobs missing here are fetched ahead of time (auto) or only
** when opened (manual: `attachment get`, a session with only set), and a
** daily budget of bytes fetched ahead of time.  Uploads of this device's
** own photos are never held back by it. */
typedef struct fds_blob_policy {
    int manual;             /* 1: fetch only when opened */
    int64_t budget;         /* bytes a day fetched ahead of time; < 0: none */
    int64_t used_today;     /* bytes already fetched today (any way) */
} fds_blob_policy;
/* The decision, a pure function: 1 if a blob of `size` bytes, `held` of
** them already here (a resumed download costs only the rest), may be
** fetched ahead of time with `used` bytes spent today. */
FDS_API int fds_blob_prefetch_ok(const fds_blob_policy *p, int64_t used,
                                 int64_t size, int64_t held);
/* Apply p to this session's downloads ahead of time (a session with
** only set is an open: not limited).  Without it every missing blob is
** fetched.  In a long session (watch) the bytes it fetches count on top
** of p->used_today.  Call before the first fds_session_next. */
FDS_API int fds_session_set_blob_policy(fds_session *s,
                                        const fds_blob_policy *p);
/* Look again for blobs to move once the ones in hand are done: a long
** session (watch) calls it now and then while fds_blob_stats.waiting is
** not 0.  (New local changes and pulled records do it by themselves.) */
FDS_API void fds_session_blobs_again(fds_session *s);
/* Duplicate customers across reps (撞单) the server noticed in this
** session's acks: a pushed phone or WeChat that a customer owned by
** another user has too.  A BORROWED JSON array, oldest first, valid until
** fds_session_free: [{"customer": the id of this device's customer,
** "name": its name here, "field": "phone"|"wechat", "value": the value
** pushed, "owner": the other customer's owner, or null when the server
** withheld the name (its daily allowance of named notices is spent)}].
** The server tells nothing else about the other customer. */
FDS_API const json_t *fds_session_duplicates(const fds_session *s);

/* The checksum safety net (docs/internals/trust.md).  With on = 1, once the
** session has pushed everything (outbox empty) and caught up (a changes page
** said more=false), it sends `sums`, the per-bucket checksums of the
** replica's registers from a full scan, and stays SYNCING until the
** server's `repair`; for each bucket named there it drops the registers of
** that bucket's records (never the log, the outbox or the cursor) and pulls
** the full state the server queued.  Once per session, or, with
** interval_ms > 0, again when that long has passed (sync --watch).  Off by
** default. */
FDS_API void fds_session_set_sums(fds_session *s, int on, int64_t interval_ms);
/* The replica's bucket checksums (one full scan in a read transaction). */
FDS_API int fds_replica_sums(fds_replica *r, uint64_t sums[FDSP_SUM_BUCKETS]);

/* Adaptive push batches, for links that drop after a number of bytes.  A
** push carries at most the session's push limit of changes (initially
** FDSP_MAX_BATCH; still halved further if a batch would not fit in one
** frame).  Every ack doubles the limit, up to FDSP_MAX_BATCH, so a good
** link gets back to full batches quickly.  The session never lowers it
** itself: a transport whose connection ended with changes still
** unacknowledged (fds_session_push_unacked() > 0 just before
** fds_session_free) should start the next session at half of
** fds_session_push_limit(), down to 1, so a link that cuts every N bytes
** still acks something on each attempt.  set: n <= 0 or above
** FDSP_MAX_BATCH means FDSP_MAX_BATCH.  push_limit: the current limit
** (after the doublings of this session's acks).  push_unacked: changes
** pushed in this session and not yet acknowledged. */
FDS_API void fds_session_set_push_limit(fds_session *s, int n);
FDS_API int fds_session_push_limit(const fds_session *s);
FDS_API int64_t fds_session_push_unacked(const fds_session *s);

/* Pulled pages overlap the server's work with ours.  A received page of
** changes that says "more" is held, not applied, and the next
** fds_session_next() gives the pull for the page after it first, so the
** server prepares page N+1 while this device applies page N.  The held
** page is applied (cursor and changes in one transaction, as always) by:
**   - the fds_session_next() call after the one that gave that pull (a
**     caller whose send() has written the pull by then loses nothing), or
**     any call once no pull is to be given first;
**   - fds_session_feed() of the next message, before it is handled (so
**     messages take effect in the order they arrived);
**   - fds_session_apply(), the only way in manual mode.
** A held page that is never applied (session freed, link lost) is pulled
** again by the next session: the stored cursor has not moved past it, and
** after a page fails to apply the session is FAILED, so no later page is
** applied either.  A page whose first and last bytes show a compact
** changes message saying more is held undecoded (so the pull goes out
** before the decoding as well) and decoded when applied: a page that does
** not decode then fails the session with FDS_PROTO from whichever call
** applies it (fds_session_next, fds_session_feed or fds_session_apply). */
/* Manual mode (on = 1): fds_session_next() never applies the held page;
** the caller calls fds_session_apply() once what next() gave has been
** written (an event loop whose writes complete later). */
FDS_API void fds_session_set_manual_apply(fds_session *s, int on);
/* 1 if a received page is held, waiting to be applied. */
FDS_API int fds_session_apply_pending(const fds_session *s);
/* Apply the held page: FDS_OK, FDS_DONE if none is held (or the session
** has failed), else FDS_PROTO (it does not decode) or the storage error;
** the session is then FAILED. */
FDS_API int fds_session_apply(fds_session *s);

/* Refusals recorded from acks: [{"table","record","field","value","code",
** "message","at"}], newest first. */
FDS_API int fds_refusals(fds_replica *r, json_t **out);

/* ---- JSON text entry points (bindings) --------------------------------------
** The same calls with UTF-8 JSON text in place of jansson trees, so a
** binding (JNA on Android, Swift, Kotlin/Native, any FFI; docs/EMBEDDING.md)
** needs only pointers, ints and strings, and never jansson's types.
** Ownership, for these and for the whole API:
**  - const char * inputs are BORROWED: read during the call, never kept.
**  - char **out receives a NEW malloc'd NUL-terminated text, or NULL when
**    the call fails; release it with fds_free().  A binding must call
**    fds_free(), not its own runtime's free(): the library's allocator is
**    the one that made it.  fds_free() also releases every other malloc'd
**    result of the API (fds_session_next's buffer, fds_meta_get's value,
**    fds_resolve_id's id, fds_register_dump's text).
**  - const char * results (fds_errmsg, fds_errstr, fds_replica_device,
**    fds_replica_user, fds_session_errmsg) are BORROWED: valid until the
**    next call on the same handle; copy them at once.
**  - Input that is not JSON, or not the shape the json_t call takes, is
**    FDS_INVALID, and fds_errmsg(r) says where.
**  - Output is compact JSON with the object keys in the json_t call's order.
** Record shapes are those at the top of this file. */
FDS_API void fds_free(void *p);
/* fds_customer_add; *warnings (may be NULL) gets a JSON array of strings,
** "[]" when there is none. */
FDS_API int fds_customer_add_text(fds_replica *r, const char *in, char **out,
                                  char **warnings);
FDS_API int fds_customer_edit_text(fds_replica *r, const char *id,
                                   const char *in, char **out);
FDS_API int fds_customer_get_text(fds_replica *r, const char *id, char **out);
FDS_API int fds_customer_sheet_text(fds_replica *r, const char *id, char **out);
/* query: NULL (all) or {"stage","owner","search": string or null,
** "include_deleted": bool}, each optional (the fields of fds_query). */
FDS_API int fds_customer_list_text(fds_replica *r, const char *query,
                                   char **out);
FDS_API int fds_followup_add_text(fds_replica *r, const char *customer,
                                  const char *in, char **out);
FDS_API int fds_plan_add_text(fds_replica *r, const char *customer,
                              const char *in, char **out);
FDS_API int fds_today_text(fds_replica *r, const char *date, char **out);
FDS_API int fds_conflicts_text(fds_replica *r, char **out);
/* The session's counters as {"pushed","pulled","conflicts","refused",
** "revoked","device_reset","server_restored","resent","relay_dropped",
** "repaired","repaired_records","state","notes":[TEXT...],
** "duplicates":[...] (fds_session_duplicates),
** "clock_skew_ms" (only when known)}: new fields are added as keys, so a binding does not
** depend on the layout of fds_session_stats.  malloc'd (fds_free), NULL
** only when out of memory. */
FDS_API char *fds_session_stats_text(const fds_session *s);

#ifdef __cplusplus
}
#endif
#endif /* FIELDSYNC_H */
