/*
** internal.h — the one internal header of libfieldsync.  Everything here is
** private to core/src; names use the fds__ prefix (libuv's uv__ habit).
**
** The replica's SQLite schema (version FDS__SCHEMA_VERSION; migrations live
** in schema.c and run in place on open):
**
**   meta(key TEXT PRIMARY KEY, value TEXT)
**       device   – this replica's device id (UUID text)
**       user     – the user this replica acts for
**       counter  – last local write counter (version-vector entry)
**       hlc      – last hybrid logical clock value issued or received
**       cursor   – last server sequence applied (rule 7)
**       store, epoch – the store id and epoch of the last welcome (rule 13;
**                store "" after init moved to another server: unknown)
**       restore_store, restore_epoch – a restored store's, while the
**                re-send to it is not done (they then become store/epoch)
**       plus free settings (server, token, ca) via fds_meta_get/set.
**
**   rec(tbl TEXT, rid TEXT,    -- one row per record (schema 4)
**       vals TEXT NOT NULL,    -- {field: winning value | null}, canonical
**                              --   JSON (json_extract reads it)
**       meta BLOB NOT NULL,    -- every field's versions, packed (recpack.c)
**       conflict INTEGER,      -- how many fields are in conflict
**       cust TEXT,             -- a child record's "customer" winner
**       phone TEXT, wechat TEXT, -- a customer's winners (duplicate checks)
**       PRIMARY KEY (tbl, rid)) WITHOUT ROWID
**   index rec_by_cust ON rec(cust) WHERE cust IS NOT NULL
**   index rec_by_phone ON rec(phone) WHERE phone IS NOT NULL
**   index rec_by_wechat ON rec(wechat) WHERE wechat IS NOT NULL
**   index rec_conflict ON rec(conflict) WHERE conflict <> 0
**   view reg(tbl, rid, field, value)  -- winners per field, for the shell
**       (the library's connection shadows it with a temp view adding
**       versions and conflict: recstore.c)
**
**   log: the change log, one row per change GROUP in glog (schema 4;
**       grouplog.h has its layout), read per change through the `log`
**       virtual table (logvtab.c) with schema 3's columns:
**       (lseq,                      -- gseq << 8 | index: logged order
**        tbl, rid, field, value,    -- the change
**        vv TEXT, hlc INTEGER, device TEXT, user TEXT,
**        origin INTEGER,            -- 1 made here, 0 received
**        acked INTEGER,             -- origin=1: 1 once the server acked it,
**                                   --   2 if it refused it (the change never
**                                   --   took effect: see fds__reg_rebuild)
**        sseq INTEGER,              -- server sequence when known
**        at_ms INTEGER,             -- server time if known, else local time
**        resend INTEGER)            -- 1: to push again, the server was
**                                   --   restored (rule 13)
**
**   refusal(id INTEGER PRIMARY KEY, tbl, rid, field, value, code INTEGER,
**           message TEXT, at_ms INTEGER)
**
** Tables (the "tbl" column) and their fields (registers):
**   customer  name phone email wechat company title birthday notes owner
**             tags (JSON array text) stage cycle deleted, and custom fields
**             as "f.KEY"
**   followup  customer method at content result author deleted
**   plan      customer due method content done deleted
**   feedback  customer content at author deleted
**   stagechg  customer from to note at author
**   fielddef  (rid = KEY) label type choices (JSON array text) order deleted
**   stagedef  (rid = KEY) label label_zh order probability won lost deleted
**   share     (rid = CUSTOMER ":" USER) customer user deleted
** Every value is text or NULL; booleans are "1"/"0"; times RFC 3339 UTC.
** A record "exists" when it has at least one register and deleted != "1".
*/
#ifndef FDS_INTERNAL_H
#define FDS_INTERNAL_H

#include "fieldsync.h"
#include <sqlite3.h>
#include <stdarg.h>
#include <string.h>

#define FDS__SCHEMA_VERSION 5
#define FDS__ERRMSG_MAX 512
#define FDS__UUID_LEN 36

/* Prepared statements kept on the handle (prepared lazily, finalized on
** close).  Engine and domain code each add their own slots here. */
enum {
    FDS__ST_META_GET = 0,
    FDS__ST_META_SET,
    FDS__ST_REG_GET,
    FDS__ST_REG_PUT,
    FDS__ST_LOG_ADD,
    /* engine slots (< 32) */
    FDS__ST_SAVEPOINT,
    FDS__ST_RELEASE,
    FDS__ST_ROLLBACK_TO,
    FDS__ST_REG_READ,
    FDS__ST_REG_EXISTS,
    FDS__ST_OUTBOX_COUNT,
    FDS__ST_OUTBOX_LIST,
    FDS__ST_LOG_ACK,
    FDS__ST_PURGE_LOG,
    FDS__ST_PURGE_REG,
    FDS__ST_REFUSAL_ADD,
    FDS__ST_REFUSAL_LIST,
    FDS__ST_USER_FIX_LOG,
    FDS__ST_USER_FIX_SCAN,
    FDS__ST_LOG_GET,
    FDS__ST_PURGE_REC_LOG,
    FDS__ST_PURGE_REC_REG,
    FDS__ST_META_CLOCK,
    FDS__ST_REG_RECORD,
    FDS__ST_LOG_ACK_RANGE,
    FDS__ST_LOG_REFUSE,
    FDS__ST_LOG_FIELD,
    FDS__ST_REG_DEL,
    FDS__ST_PURGE_REFUSED,
    FDS__ST_SYNC_NORMAL,
    FDS__ST_SYNC_FULL,
    FDS__ST_REC_UPD,
    FDS__ST_ENGINE_END,         /* must stay <= 32 */
    FDS__ST_DOMAIN_FIRST = 32,  /* domain slots: 32..63 */
    FDS__ST__COUNT = 64
};

/* A growing text buffer (vv.c); oom is sticky and checked once at the end. */
typedef struct fds__buf {
    char *p;
    size_t n, cap;
    int oom;
} fds__buf;

struct fds_replica {
    sqlite3 *db;
    fds_env env;
    char device[FDS__UUID_LEN + 1];
    char *user;                 /* malloc'd, never NULL ("" if unknown) */
    uint64_t counter;           /* last local vv counter (mirrors meta) */
    uint64_t hlc;               /* last hlc (mirrors meta) */
    int tx_depth;               /* savepoint nesting depth */
    int meta_dirty;             /* counter/hlc changed since last saved */
    int clock_checked;          /* counter/hlc re-read from meta in this
                                ** outermost transaction (regstore.c) */
    int durable;                /* 1: a file at synchronous=FULL (not :memory:) */
    int sync_relaxed;           /* 1: synchronous is still NORMAL after a
                                ** relaxed commit (putting FULL back ran
                                ** out of memory); the next write fixes it */
    int64_t last_write_ms;      /* at_ms of the last local write's log row */
    sqlite3_stmt *st[FDS__ST__COUNT];
    /* BEGIN IMMEDIATE, COMMIT and ROLLBACK, prepared at open: a rollback
    ** after an out-of-memory failure must not itself need memory to be
    ** prepared, or the handle would stay inside the failed transaction
    ** (issue 18).  The savepoint slots are prepared at open too. */
    sqlite3_stmt *tx_begin, *tx_commit, *tx_rollback;
    fds__buf scratch;           /* canonical text being bound (regstore.c) */
    /* Schema 4 (regstore.c): the record being read or written, decoded,
    ** so that an action writing several fields of one record, or a pulled
    ** run of changes to one record, decodes and encodes its row once.
    ** Dirty until flushed; forgotten when any transaction level ends. */
    struct fds__rec *rec;
    int rec_hold;               /* > 0: fds__reg_save leaves the row dirty */
    fds__buf rec_vals, rec_meta;/* the row being bound (recpack.c) */
    struct fds__glog *glog;     /* change log groups, pending (grouplog.c) */
    char errmsg[FDS__ERRMSG_MAX];
    int errcode;                /* the code fds__error last recorded */
};

/* Record an error on the handle and return rc. */
int fds__error(fds_replica *r, int rc, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Record SQLite's current error on the handle; returns FDS_DB, or
** FDS_NOMEM when SQLite ran out of memory. */
int fds__dberror(fds_replica *r, const char *what);
/* The code of the error just recorded on the handle (FDS_DB if none), for
** a caller whose callee reports failure without a code (fds__stmt's NULL,
** fds__exists' -1): an SQLITE_NOMEM there must reach the app as
** FDS_NOMEM, not as FDS_DB (issue 18). */
int fds__errcode(const fds_replica *r);

/* Prepared statement for slot `slot` with SQL `sql` (prepared on first use,
** reset and bindings cleared on every call).  NULL on failure (error set). */
sqlite3_stmt *fds__stmt(fds_replica *r, int slot, const char *sql);

/* Savepoint-based transactions (nestable).  fds__end(r, rc) commits when rc
** is FDS_OK and rolls back otherwise, returning rc (or the commit error). */
int fds__begin(fds_replica *r);
int fds__end(fds_replica *r, int rc);
/* The same for what the server already holds safely: a pulled page with
** its cursor, a push's acks.  When it is the outermost transaction of a
** file replica, it commits at synchronous=NORMAL (no fsync; see
** replica.c) and puts FULL back after. */
int fds__begin_relaxed(fds_replica *r);
int fds__end_relaxed(fds_replica *r, int rc);

int64_t fds__now_ms(fds_replica *r);
/* 36-char random UUID (v4) into out[37] from env.random. */
int fds__uuid(fds_replica *r, char out[FDS__UUID_LEN + 1]);

/* Write fields of one record as local changes: `fields` is a JSON object
** {field: string | null}.  For each field: bump the device counter, extend
** the register's joined vv with it, take the next hlc, store the register
** (dominating every version, so any conflict on it is settled) and append
** the change to the log as an outbox entry.  Must run inside fds__begin. */
int fds__write(fds_replica *r, const char *tbl, const char *rid,
               const json_t *fields);
/* Rule 5: when the record already has registers and `fields` does not set
** "deleted", the same transaction also writes deleted = "0", so an edit
** concurrent with a delete conflicts on the "deleted" register (unless
** that register is already in conflict, which is left for the user).
** Brand-new records get no such extra write. */
/* fds__write when the caller knows whether the record has registers (it
** just made the id: 0; it just read the record: 1), which saves a lookup;
** -1: not known, look (that is fds__write). */
int fds__write_known(fds_replica *r, const char *tbl, const char *rid,
                     const json_t *fields, int existed);
/* Same, one field. */
int fds__write1(fds_replica *r, const char *tbl, const char *rid,
                const char *field, const char *value);

/* Current winning values of a record: *out = {field: value|null}.
** FDS_NOTFOUND (and *out NULL) if it has no registers. */
int fds__read(fds_replica *r, const char *tbl, const char *rid, json_t **out);
/* 1 if the record exists and is not deleted, 0 if not, <0 on error. */
int fds__exists(fds_replica *r, const char *tbl, const char *rid);
/* 1 if the record has any register (deleted or not), 0 if not, <0 error. */
int fds__exists_any(fds_replica *r, const char *tbl, const char *rid);

/* Apply one incoming (remote) change: merge into the register, store it,
** append to the log (origin 0) and advance the hlc.  Must run inside
** fds__begin.  *outcome is FDS_MERGE_*. */
int fds__apply(fds_replica *r, const fdsp_change *c, int *outcome);
/* The same without a savepoint of its own, for a caller whose transaction
** is rolled back whole when any change fails (a pulled batch): on error
** the replica may hold part of this change until that rollback. */
int fds__apply_in(fds_replica *r, const fdsp_change *c, int *outcome);
/* fds__apply_in for c[0..n) in order, adding the number of changes that
** merged as FDS_MERGE_CONFLICT to *conflicts: the same result as one call
** per change, but a run of changes to one record reads its registers with
** one scan, and a register that does not exist is not looked up per change
** (regstore.c). */
int fds__apply_batch(fds_replica *r, const fdsp_change *c, size_t n,
                     int64_t *conflicts);

/* Remove a record and its dependants (followups, plans, feedback, stage
** changes, shares of a customer) from the replica entirely: registers and
** log rows (the server no longer lets this device see it). */
int fds__purge_customer(fds_replica *r, const char *customer);

/* Building JSON when memory may run out (issue 18): json_object_set_new
** and json_array_append_new return -1 when out of memory, and also when
** the value given is NULL because making it (json_string, json_integer)
** failed; jansson releases the value either way.  These note the failure
** in *bad, so a builder checks once at the end and answers FDS_NOMEM
** instead of returning a record with a field silently missing. */
static inline void fds__jset(json_t *o, const char *k, json_t *v, int *bad)
{
    if (json_object_set_new(o, k, v) != 0)
        *bad = 1;
}
static inline void fds__jpush(json_t *a, json_t *v, int *bad)
{
    if (json_array_append_new(a, v) != 0)
        *bad = 1;
}

/* Parse JSON text (one array or object) into *out (a new reference) as
** json_loads(text, reject_dups ? JSON_REJECT_DUPLICATES : 0) would, but
** safe when memory runs out (jsontext.c says why jansson's is not):
** FDS_OK, FDS_NOMEM, or FDS_INVALID with err (errlen bytes, may be NULL)
** saying where and what. */
int fds__json_parse(const char *text, int reject_dups, json_t **out,
                    char *err, size_t errlen);
/* json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY [| JSON_SORT_KEYS]), the
** same bytes, but NULL when memory runs out rather than a text with a key
** missing (jsontext.c).  malloc'd. */
char *fds__json_dump(const json_t *j, int sort_keys);

/* ---- Engine helpers (error.c random.c hlc.c vv.c merge.c schema.c
** replica.c regstore.c) ------------------------------------------------- */

/* n random bytes from env.random or getrandom(2). */
int fds__random(fds_replica *r, unsigned char *buf, size_t n);

/* Create or migrate the schema of r->db in place (schema.c).  FDS_SCHEMA if
** the file was made by a newer schema. */
int fds__schema_open(fds_replica *r, int in_memory);
/* An existing file (issue 10) must already be a fieldsync replica: a
** schema version this fieldsync knows and its tables.  FDS_NOTREPLICA
** naming path and what is wrong otherwise; reads only. */
int fds__schema_check(fds_replica *r, const char *path);

/* Integer meta values ("counter", "hlc", "cursor"); get yields dflt when
** unset. */
int fds__meta_get_i64(fds_replica *r, const char *key, int64_t dflt,
                      int64_t *out);
int fds__meta_set_i64(fds_replica *r, const char *key, int64_t v);

/* Version-vector helpers: vectors are kept sorted by device, no dups. */
uint64_t fds__vv_get(const fdsp_vv *vv, const char *device); /* 0 if absent */
int fds__vv_set(fdsp_vv *vv, const char *device, uint64_t counter);
int fds__vv_leq(const fdsp_vv *a, const fdsp_vv *b);         /* a <= b */
/* Deep copy of a vector: protocol's fdsp_vv_copy (change.c) with core's
** code (its only failure given a dst is out of memory).  Release is
** protocol's fdsp_vv_clear. */
static inline int fds__vv_copy(fdsp_vv *dst, const fdsp_vv *src)
{
    return fdsp_vv_copy(dst, src) == FDSP_OK ? FDS_OK : FDS_NOMEM;
}
json_t *fds__vv_to_json(const fdsp_vv *vv);  /* {"device":counter,...} */
int fds__vv_from_json(const json_t *j, fdsp_vv *out);
char *fds__vv_dump(const fdsp_vv *vv);       /* canonical text, malloc'd */
/* The same through jansson: the reference the hand-built text must equal
** (tests compare them). */
char *fds__vv_dump_jansson(const fdsp_vv *vv);
/* The same bytes from the jansson tree written by fds__json_dump: the
** fallback the library uses (json_dumps can drop a key when memory runs
** out; the _jansson functions stay as the tests' reference). */
char *fds__vv_dump_tree(const fdsp_vv *vv);

/* Canonical JSON text built by hand (vv.c): the same bytes as
** json_dumps(..., JSON_COMPACT | JSON_SORT_KEYS) of the jansson value, at
** a fraction of the cost (no tree, no key sort, no per-value allocation).
** A buffer collects the text; oom is sticky and checked once at the end. */
void fds__buf_put_slow(fds__buf *b, const char *s, size_t n);
/* Appends n bytes (and keeps a NUL after them).  Inline when there is
** room: it runs tens of times for every register packed, logged or
** summed, mostly for a byte or a few, where a call and a library memcpy
** cost more than the copy. */
static inline void fds__buf_put(fds__buf *b, const char *s, size_t n)
{
    if (!b->oom && b->n + n < b->cap) {
        memcpy(b->p + b->n, s, n);
        b->n += n;
        b->p[b->n] = '\0';
        return;
    }
    fds__buf_put_slow(b, s, n);
}
/* A JSON string: s must be valid UTF-8 (fds__utf8_valid). */
void fds__buf_str(fds__buf *b, const char *s);
/* The same, checking in the same pass that s is valid UTF-8: 0 if it is
** not (b then holds a partial text the caller discards). */
int fds__buf_str_utf8(fds__buf *b, const char *s);
void fds__buf_i64(fds__buf *b, int64_t v);
/* {"device":counter,...}; returns 0 (and writes nothing) if vv is not
** strictly sorted with valid UTF-8 devices: the caller falls back to
** jansson, whose output is the reference. */
int fds__buf_vv(fds__buf *b, const fdsp_vv *vv);
/* Parsing canonical text without a jansson tree (vv.c): 1 parsed and *pp
** advanced, 0 not in the plain canonical shape (the caller falls back to
** jansson, which decides), -1 out of memory. */
int fds__parse_str(const char **pp, char **out);
int fds__parse_i64(const char **pp, int64_t *out);
int fds__vv_parse(const char **pp, fdsp_vv *out);
/* 1 if s[0..n) is UTF-8 that jansson accepts (no overlongs, surrogates or
** code points over U+10FFFF, no NUL), else 0. */
int fds__utf8_valid(const char *s, size_t n);

/* Deep copy of a change: protocol's fdsp_change_copy (change.c, apart
** from the codec) with core's code.  Release is fdsp_change_clear. */
static inline int fds__change_copy(fdsp_change *dst, const fdsp_change *src)
{
    return fdsp_change_copy(dst, src) == FDSP_OK ? FDS_OK : FDS_NOMEM;
}

/* Canonical text of a register (what reg.versions holds), malloc'd:
** json_dumps(fds_register_to_json(reg), JSON_COMPACT | JSON_SORT_KEYS),
** built by hand; fds__register_dump_jansson is that reference. */
char *fds__register_dump(const fds_register *reg);
/* The same text appended to b: 1 written (check b->oom), 0 only jansson
** can write it (b then holds a partial text to discard). */
int fds__register_dump_buf(fds__buf *b, const fds_register *reg);
char *fds__register_dump_jansson(const fds_register *reg);
char *fds__register_dump_tree(const fds_register *reg);

/* ---- Record rows (schema 4; recpack.c, regstore.c) ----------------------
** A record's registers in one row: see recpack.c for the encoding. */
typedef struct fds__field {
    char *name;
    fds_register reg;           /* n >= 1 */
} fds__field;
typedef struct fds__rec {
    char *tbl, *rid;            /* the cached record's key (malloc'd) */
    fds__field *f;              /* sorted by name (strcmp), like vals */
    size_t n, cap;
    int dirty;                  /* changed since read: to write back */
    int stored;                 /* its row is in the file (written back by
                                ** UPDATE, else INSERT: no upsert probe) */
} fds__rec;
/* Free every field and the key; the struct is zeroed. */
void fds__rec_clear(fds__rec *rec);
fds__field *fds__rec_find(const fds__rec *rec, const char *field);
/* Set field's register to *reg (moved: *reg is emptied). */
int fds__rec_put(fds__rec *rec, const char *field, fds_register *reg);
void fds__rec_del(fds__rec *rec, const char *field);
/* How many fields are in conflict. */
int fds__rec_conflicts(const fds__rec *rec);
/* Deep copy of a register (dst is overwritten): FDS_OK or FDS_NOMEM. */
int fds__reg_copy(fds_register *dst, const fds_register *src);
/* vals (canonical JSON) and meta (packed versions) of rec into the two
** buffers: FDS_OK, FDS_NOMEM, or FDS_INVALID for a register no row can
** hold (empty, no device, bad vector, text that is not UTF-8). */
int fds__rec_encode(const fds__rec *rec, fds__buf *vals, fds__buf *meta);
/* Decode a row into *out's fields (its key untouched): FDS_OK, FDS_NOMEM,
** or FDS_INVALID with *why saying what is damaged (fields then empty). */
int fds__rec_decode(const char *vals, size_t vlen, const unsigned char *meta,
                    size_t mlen, fds__rec *out, const char **why);
/* The same for a reader that only looks (the sums scan): the versions'
** device and user strings (vectors included) are not copied but point
** into *strs, which the caller releases with fds__rec_clear_view after
** the record; decoding checks exactly what fds__rec_decode checks. */
typedef struct fds__rec_strs {
    char **s[2];                /* devices, users */
    size_t n[2];
} fds__rec_strs;
int fds__rec_decode_view(const char *vals, size_t vlen,
                         const unsigned char *meta, size_t mlen,
                         fds__rec *out, const char **why,
                         fds__rec_strs *strs);
void fds__rec_clear_view(fds__rec *rec, fds__rec_strs *strs);
/* The same, reporting damage as FDS_DB naming tbl/rid (issue 10). */
int fds__rec_parse(fds_replica *r, const char *tbl, const char *rid,
                   const char *vals, size_t vlen, const void *meta,
                   size_t mlen, fds__rec *out);
/* Statement slots of the record row (schema 4 took over the reg row's). */
#define FDS__ST_REC_GET FDS__ST_REG_GET
#define FDS__ST_REC_PUT FDS__ST_REG_PUT
#define FDS__ST_REC_DEL FDS__ST_REG_DEL
#define FDS__ST_REC_INS FDS__ST_LOG_ADD     /* schema 5 left it free */
/* Make tbl/rid the cached record (read and decoded; no fields if it has no
** row), writing the previously cached one back first if dirty. */
int fds__rec_fetch(fds_replica *r, const char *tbl, const char *rid);
/* Write the cached record back if it is dirty (recstore.c). */
int fds__rec_flush(fds_replica *r);
/* Drop the cached record (after SQL that changed rec rows directly, and
** whenever a transaction level ends: a rollback undoes the row). */
void fds__rec_forget(fds_replica *r);
/* Registers every record row of the replica, in (tbl, rid) order, decoded:
** fn(ud, rec) with rec->tbl/rid set; stops at the first non-FDS_OK. */
int fds__rec_scan(fds_replica *r, const char *where_sql,
                  int (*fn)(void *ud, const fds__rec *rec), void *ud);
/* The SQL functions of schema 4 on r->db (regstore.c):
** fds_versions(vals, meta, field): the field's canonical register text;
** fds_conflict_fields(vals, meta): JSON array of the fields in conflict. */
int fds__rec_sql_register(sqlite3 *db);
/* The connection's temporary `reg` view (recstore.c says why). */
int fds__rec_temp_view(fds_replica *r);
/* Schema 3 -> 4 (recstore.c): every reg row into record rows. */
int fds__migrate_reg_to_rec(sqlite3 *db, char *err, size_t errlen);

/* Parse a stored register's versions text (issue 10): FDS_DB naming
** tbl/rid/field when it does not parse or is not a register a replica can
** hold (no versions, a version without device or vector). */
int fds__reg_parse(fds_replica *r, const char *tbl, const char *rid,
                   const char *field, const char *text, fds_register *out);

/* Load / store one field register from reg.  load gives n == 0 when the
** field was never written; a stored but corrupt register is FDS_DB. */
int fds__reg_load(fds_replica *r, const char *tbl, const char *rid,
                  const char *field, fds_register *out);
int fds__reg_save(fds_replica *r, const char *tbl, const char *rid,
                  const char *field, const fds_register *reg);
/* The same, moving *reg into the record (emptied, or cleared on failure)
** instead of copying it. */
int fds__reg_save_move(fds_replica *r, const char *tbl, const char *rid,
                       const char *field, fds_register *reg);

/* Rebuild register (tbl, rid, field) from the log rows this replica holds
** for it, leaving out every change the server refused (acked = 2), folded
** with fds_merge: the versions, conflict flag and canonical bytes are those
** the replica would hold had the refused changes never been made.  No
** version left: the reg row goes.  A version still in the register keeps
** the user stored there (adopt_user may have given it the server's).  Must
** run inside fds__begin. */
int fds__reg_rebuild(fds_replica *r, const char *tbl, const char *rid,
                     const char *field);

/* Remove one record (registers and log rows) from the replica; for
** table "customer" this is fds__purge_customer. */
int fds__purge_record(fds_replica *r, const char *tbl, const char *rid);

/* ---- Trust: rules 12-14 on the device (trust.c) ------------------------- */
/* Rule 12, in one transaction: a fresh random device id; the counter goes
** on from max(own, server_counter); every outbox row gets the new id, its
** vector keeps of the old id only what the server acknowledged to this
** replica and gets the new id's next counter; the registers they touched
** are rebuilt from the log; cursor 0.  r->device is the new id after. */
int fds__device_reset(fds_replica *r, uint64_t server_counter);
/* Rule 13, in one transaction: cursor 0 and every log row that took effect
** and is not in the outbox (received, or own and acknowledged) marked for
** re-send; *queued gets how many. */
int fds__server_restored(fds_replica *r, int64_t *queued);
/* Rows re-sent and answered (accepted or refused): no longer queued. */
int fds__resend_done(fds_replica *r, const int64_t *lseq, size_t n);
/* An own row marked acknowledged goes back to the outbox (a clash
** refusal: re-sent under the new id after the reset). */
int fds__unack(fds_replica *r, int64_t lseq);
/* Rule 14: the server stored log row lseq with this HLC; the row and the
** register version it made take it (register rebuilt from the log, so its
** bytes are the server's).  Must run inside fds__begin. */
int fds__apply_stamp(fds_replica *r, int64_t lseq, uint64_t hlc);

/* ---- Refusals (refusal.c) ---------------------------------------------- */
int fds__refusal_add(fds_replica *r, const fdsp_change *c, int code,
                     const char *message);


/* ---- Checksum safety net (sums.c, docs/internals/trust.md) -------------------
** What a session keeps to send `sums` once it has pushed everything and
** caught up, and to handle the server's `repair`.  session.c embeds one and
** calls the three functions below; everything else lives in sums.c. */
typedef struct fds__sums_ctl {
    int enabled;            /* fds_session_set_sums */
    int server_knows;       /* the welcome carried `store` */
    int64_t interval_ms;    /* > 0: again after this long (watch); else once */
    int caught_up;          /* a changes page with more=false was applied */
    int awaiting;           /* sums sent, repair not yet received */
    int sent;
    int64_t sent_ms;
    int64_t repaired;       /* buckets repaired this session */
    int64_t records;        /* records whose registers were dropped */
} fds__sums_ctl;

/* The bucket checksums of every register of the replica (full scan). */
int fds__sums_compute(fds_replica *r, uint64_t sums[FDSP_SUM_BUCKETS]);
/* Drop, in one transaction, the registers of every record whose key falls
** in one of the buckets (log, outbox and cursor untouched); *records is how
** many records lost their registers.  FDS_PROTO for a bucket out of range. */
int fds__sums_repair(fds_replica *r, const int *buckets, size_t n,
                     int64_t *records);
/* 1 if the session should send sums now (enabled, caught up, outbox empty,
** not sent yet, or the interval passed). */
int fds__sums_due(const fds__sums_ctl *c, fds_replica *r);
/* The sums message (*buf malloc'd); marks c as awaiting the repair. */
int fds__sums_message(fds__sums_ctl *c, fds_replica *r, char **buf,
                      size_t *len);
/* Handle a repair: drop the buckets' registers; *pull 1 if the session must
** pull (the server queued the buckets' full state). */
int fds__sums_on_repair(fds__sums_ctl *c, fds_replica *r, const fdsp_msg *m,
                        int *pull);

#endif /* FDS_INTERNAL_H */
