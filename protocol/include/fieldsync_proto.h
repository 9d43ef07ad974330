/*
** fieldsync_proto.h — the fieldsync wire protocol: message structs and their
** JSON codec.  Pure functions from bytes to structs and back: no I/O, no
** globals.  Depends on jansson only.  protocol/PROTOCOL.md is the normative
** spec; this header is its C binding.
**
** Ownership: every char* inside a decoded fdsp_msg / fdsp_change is owned by
** that struct and released by fdsp_msg_free() / fdsp_change_clear().  Buffers
** returned by fdsp_encode() are malloc'd and released with free().
*/
#ifndef FIELDSYNC_PROTO_H
#define FIELDSYNC_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef FDS_API
#  if defined(__GNUC__)
#    define FDS_API __attribute__((visibility("default")))
#  else
#    define FDS_API
#  endif
#endif

/* ---- Versioning and limits (every one enforced by fdsp_decode) ---------- */
#define FDSP_VERSION        1           /* the one version this code speaks */
#define FDSP_SUBPROTOCOL    "fieldsync.v1" /* WebSocket subprotocol name */
#define FDSP_MAX_FRAME      (1024 * 1024) /* bytes in one message */
#define FDSP_MAX_BATCH      500         /* changes in one push or changes msg */
#define FDSP_MAX_VALUE      16384       /* bytes in one field value */
#define FDSP_MAX_ID         64          /* bytes in a record/device/user id */
#define FDSP_MAX_NAME       64          /* bytes in a table or field name */
#define FDSP_MAX_VV         64          /* entries in one version vector */
#define FDSP_MAX_DEPTH      8           /* JSON nesting depth of a message */
#define FDSP_MAX_REVOKE     1000        /* records in one revoke message */
#define FDSP_MAX_TEXT       1024        /* bytes in messages/roles/client */
#define FDSP_MAX_FIELDS     64          /* distinct fields of one record (server) */
#define FDSP_RATE_PER_SEC   50          /* messages per second per connection */
#define FDSP_SUM_BUCKETS    64          /* checksum buckets in sums / repair */
/* Change groups (PROTOCOL.md §5.1): entries in one group's "g" array.  The
** expanded changes of a message stay within FDSP_MAX_BATCH as well. */
#define FDSP_MAX_GROUP      FDSP_MAX_BATCH
/* Blobs (photo attachments, PROTOCOL.md §14): bytes of data in one
** blob_put / blob_data, and the largest "size" the wire carries (servers
** set their own, smaller limits and refuse by name). */
#define FDSP_BLOB_CHUNK     65536
#define FDSP_MAX_BLOB       ((int64_t)1 << 32)
#define FDSP_SHA256_HEX     64          /* "sha": lowercase hex digits */

/* ---- Error codes (wire names in parentheses, see fdsp_errname) ---------- */
typedef enum fdsp_err {
    FDSP_OK = 0,
    FDSP_E_JSON = 1,            /* "bad_json": not parseable JSON */
    FDSP_E_UTF8,                /* "bad_utf8": invalid UTF-8 */
    FDSP_E_DUPKEY,              /* "duplicate_key" */
    FDSP_E_TOOBIG,              /* "too_big": frame over FDSP_MAX_FRAME */
    FDSP_E_DEPTH,               /* "too_deep": nesting over FDSP_MAX_DEPTH */
    FDSP_E_TYPE,                /* "bad_type": a field has the wrong JSON type */
    FDSP_E_MISSING,             /* "missing_field": a required field is absent */
    FDSP_E_UNKNOWN_TYPE,        /* "unknown_message": unknown "type" */
    FDSP_E_VERSION,             /* "unsupported_version" */
    FDSP_E_LIMIT,               /* "limit": batch/value/id/vv over its limit */
    FDSP_E_VALUE,               /* "bad_value": e.g. counter 0, negative seq */
    FDSP_E_AUTH,                /* "auth": token missing, wrong or revoked */
    FDSP_E_FORBIDDEN,           /* "forbidden": user may not make this change */
    FDSP_E_RATE,                /* "rate_limited" */
    FDSP_E_STATE,               /* "bad_state": message not valid now */
    FDSP_E_INTERNAL,            /* "internal": server-side failure */
    FDSP_E_NOMEM,               /* "no_memory" (never sent on the wire) */
    FDSP_E_CLASH,               /* "device_clash": a pushed change reuses a
                                ** device id and counter that already name
                                ** another change on the server (a restored
                                ** or copied replica).  In error and in ack
                                ** refusals. */
    FDSP_E_NO_USER,             /* "unknown_user": a change names a user
                                ** (a customer's new owner) who does not
                                ** exist or is disabled.  In ack refusals. */
    FDSP_E__COUNT
} fdsp_err;

FDS_API const char *fdsp_errname(int code);     /* "bad_json", … ; "unknown" */
FDS_API int fdsp_errcode(const char *name);     /* inverse; FDSP_E_INTERNAL if unknown */

/* ---- Version vectors ----------------------------------------------------- */
typedef struct fdsp_vv_entry {
    char *device;           /* device id, 1..FDSP_MAX_ID bytes */
    uint64_t counter;       /* >= 1, <= 2^53 */
} fdsp_vv_entry;

/* Entries are kept sorted by device (strcmp) with no duplicates: the
** decoder sorts and rejects duplicates, so equal vectors are byte-equal. */
typedef struct fdsp_vv {
    size_t n;
    fdsp_vv_entry *e;
} fdsp_vv;

/* ---- One change: one write of one field register ------------------------- */
typedef struct fdsp_change {
    char *table;            /* "customer", "followup", … 1..FDSP_MAX_NAME */
    char *record;           /* record id, 1..FDSP_MAX_ID */
    char *field;            /* field/register name, 1..FDSP_MAX_NAME */
    char *value;            /* NULL = JSON null (cleared); <= FDSP_MAX_VALUE */
    fdsp_vv vv;             /* version vector, 1..FDSP_MAX_VV entries */
    uint64_t hlc;           /* hybrid logical clock: ms<<16 | logical */
    char *device;           /* device that made the write */
    char *user;             /* user that made it (server overwrites from token) */
    int64_t seq;            /* server sequence; 0 = not yet sequenced */
    int64_t server_ms;      /* server accept time (ms since epoch); 0 if none */
} fdsp_change;

/* Deep copy / release.  fdsp_change_clear frees the members, not the struct,
** and leaves it zeroed.  Both accept NULL. */
FDS_API int  fdsp_change_copy(fdsp_change *dst, const fdsp_change *src);
FDS_API void fdsp_change_clear(fdsp_change *c);
FDS_API int  fdsp_vv_copy(fdsp_vv *dst, const fdsp_vv *src);
FDS_API void fdsp_vv_clear(fdsp_vv *vv);

/* JSON form of a change, as in PROTOCOL.md ("t","r","f","v","vv","h","d","u",
** optional "s","at").  to_json returns a new reference or NULL on OOM.
** from_json validates every field and limit; on failure returns an FDSP_E_*
** code and writes a message naming the field into err (if errlen > 0). */
FDS_API json_t *fdsp_change_to_json(const fdsp_change *c);
FDS_API int fdsp_change_from_json(const json_t *j, fdsp_change *out,
                                  char *err, size_t errlen);
FDS_API json_t *fdsp_vv_to_json(const fdsp_vv *vv);
FDS_API int fdsp_vv_from_json(const json_t *j, fdsp_vv *out,
                              char *err, size_t errlen);

/* ---- Messages ------------------------------------------------------------- */
typedef enum fdsp_type {
    FDSP_HELLO = 1, /* device -> server: first message */
    FDSP_WELCOME,   /* server -> device: answer to hello */
    FDSP_PUSH,      /* device -> server: a batch of local changes */
    FDSP_ACK,       /* server -> device: push committed (+ refusals) */
    FDSP_PULL,      /* device -> server: changes after a sequence */
    FDSP_CHANGES,   /* server -> device: a batch of sequenced changes */
    FDSP_REVOKE,    /* server -> device: drop these records */
    FDSP_NOTIFY,    /* server -> device: new changes exist up to head */
    FDSP_ERROR,     /* either way: something was refused */
    FDSP_SUMS,      /* device -> server: per-bucket checksums of its replica */
    FDSP_REPAIR,    /* server -> device: the buckets whose checksums differ */
    /* Blobs (PROTOCOL.md §14), only between peers whose hello / welcome
    ** said "blobs":true. */
    FDSP_BLOB_PUT,  /* device -> server: one chunk of a blob (or a probe) */
    FDSP_BLOB_ACK,  /* server -> device: bytes of the blob it holds, or a
                    ** refusal (code, message) */
    FDSP_BLOB_GET,  /* device -> server: send the chunk at offset */
    FDSP_BLOB_DATA  /* server -> device: one chunk, or a refusal */
} fdsp_type;
#define FDSP_TYPE_LAST FDSP_BLOB_DATA

FDS_API const char *fdsp_typename(int type);    /* "hello", …; NULL if bad */

typedef struct fdsp_refusal {
    size_t index;           /* index of the change in the push batch */
    int code;               /* FDSP_E_* */
    char *message;          /* names the record and field */
} fdsp_refusal;

/* ack: the HLC the server stored for change `index` of the push, where it
** differs from the pushed one (re-stamped); the device keeps this one. */
typedef struct fdsp_stamp {
    size_t index;           /* index of the change in the push batch */
    uint64_t hlc;           /* on the wire 16 lowercase hex digits, as "h" */
} fdsp_stamp;

/* ack: something the server wants the device's user to know about change
** `index` of the push, which it accepted all the same (PROTOCOL.md §4.4,
** "notices").  kind "duplicate" (撞单): the change set a customer's phone
** or WeChat (field "phone" / "wechat") to a value that a customer owned by
** another user has too; owner names that user, or is NULL when the server
** withheld it (the user's daily allowance of named notices is spent).
** Nothing else about the other customer is ever sent. */
typedef struct fdsp_notice {
    size_t index;           /* index of the change in the push batch */
    char *kind;             /* "duplicate"; a NAME (unknown kinds: ignore) */
    char *field;            /* the field the notice is about; a NAME */
    char *owner;            /* a user name, or NULL (absent) */
} fdsp_notice;

typedef struct fdsp_record_ref {
    char *table;
    char *record;
} fdsp_record_ref;

/* One struct for every message type; only the members listed for its type
** are meaningful, the rest stay zero/NULL. */
typedef struct fdsp_msg {
    fdsp_type type;
    /* hello: version, device, cursor, dev_counter, store, epoch, client,
    **        live, groups
    ** welcome: version, user, role, device, head, dev_counter, store,
    **          epoch, server_time, groups */
    int version;
    char *device;
    char *user;
    char *role;
    char *client;           /* free-form client name/version, optional */
    int64_t cursor;         /* hello: last server seq the device applied */
    int64_t head;           /* welcome/notify: server's latest seq */
    /* The optional trust members (docs/internals/trust.md); 0 / NULL means
    ** absent and is not written, so old peers interoperate. */
    int64_t dev_counter;    /* "counter": hello: the device's highest own
                            ** counter; welcome: the highest the server
                            ** accepted from this device id.  0..2^53 */
    char *store;            /* "store": id of the server's store (hello: the
                            ** one last welcomed by); optional ID */
    int64_t epoch;          /* "epoch": that store's epoch, 0..2^53 */
    int64_t server_time;    /* welcome "time": server clock, ms, 0..2^53 */
    int live;               /* hello "live": 1 if the device takes changes
                            ** the server sends unprompted (PROTOCOL.md §3
                            ** step 4); 0 is absent and not written */
    int groups;             /* hello / welcome "groups": 1 if the sender
                            ** reads change groups (PROTOCOL.md §5.1), so
                            ** the peer may encode with FDSP_ENC_GROUPS;
                            ** 0 is absent and not written */
    int blobs;              /* hello / welcome "blobs": 1 if the sender
                            ** moves blobs (PROTOCOL.md §14); 0 is absent */
    /* blob_put: sha, size, offset, data;  blob_ack: sha, offset, and when
    ** refused code + message;  blob_get: sha, offset;  blob_data: sha,
    ** size, offset, data, and when refused code + message.  data is the
    ** raw bytes (base64 on the wire), at most FDSP_BLOB_CHUNK. */
    char *sha;              /* 64 lowercase hex digits (SHA-256) */
    int64_t size;           /* whole blob, 0..FDSP_MAX_BLOB */
    int64_t offset;         /* 0..size */
    unsigned char *data;
    size_t n_data;
    /* push: batch, changes;  ack: batch, accepted, refused, stamps, notices;
    ** pull: after, limit;    changes: changes, last, more, after */
    int64_t batch;
    fdsp_change *changes;
    size_t n_changes;
    size_t accepted;
    fdsp_refusal *refused;
    size_t n_refused;
    fdsp_stamp *stamps;     /* ack: 0..FDSP_MAX_BATCH, omitted when none */
    size_t n_stamps;
    fdsp_notice *notices;   /* ack: 0..FDSP_MAX_BATCH, omitted when none */
    size_t n_notices;
    int64_t after;          /* pull: the device's cursor; changes: 0 (a
                            ** pull's answer, not written) or >= 1, a live
                            ** batch that applies only on top of a cursor
                            ** equal to it (PROTOCOL.md §3 step 4) */
    int limit;              /* pull: max changes wanted, 1..FDSP_MAX_BATCH */
    int64_t last;           /* changes: seq of the last change in this batch,
                            ** or the head the server looked up to */
    int more;               /* changes: 1 if more are waiting */
    /* revoke */
    fdsp_record_ref *records;
    size_t n_records;
    /* error: code, message, batch (0 if not about a push), fatal */
    int code;
    char *message;
    int fatal;              /* 1: the sender closes the stream after this */
    /* sums: exactly FDSP_SUM_BUCKETS checksums, bucket b at sums[b] */
    uint64_t *sums;
    size_t n_sums;
    /* repair: 0..FDSP_SUM_BUCKETS bucket numbers, each 0..FDSP_SUM_BUCKETS-1 */
    int *buckets;
    size_t n_buckets;
    /* fdsp_decode_pooled only: the changes' strings live here (owned by
    ** the message, released by fdsp_msg_free); NULL otherwise. */
    struct fdsp_pool *pool;
} fdsp_msg;

/* Decode one message from buf[0..len).  Refuses (with the code named) input
** over FDSP_MAX_FRAME, invalid UTF-8, bad JSON, duplicate keys, nesting over
** FDSP_MAX_DEPTH, unknown "type", a version other than FDSP_VERSION in hello
** and welcome, missing or wrongly typed fields, and any limit exceeded.
** Unknown keys are ignored (forward compatibility within a version).
** On success *out is a new message (free with fdsp_msg_free).  On failure
** *out is NULL and err (if errlen > 0) holds one line naming what was wrong.
** Never crashes and never reads outside buf, whatever the input. */
FDS_API int fdsp_decode(const char *buf, size_t len, fdsp_msg **out,
                        char *err, size_t errlen);
/* The same message, but its changes' strings (table, record, field,
** value, device, user) are carved from a few blocks the message owns, and
** the changes of one group share their table, record, device and user:
** about 35 fewer mallocs and frees per record of a pulled page.  For a
** reader that only reads the changes (a device applying a page): their
** strings must not be freed or replaced (no fdsp_change_clear on them);
** fdsp_msg_free releases everything.  Same result codes and errors. */
FDS_API int fdsp_decode_pooled(const char *buf, size_t len, fdsp_msg **out,
                               char *err, size_t errlen);

/* Encode a message as compact JSON (keys in a fixed order).  *out is
** malloc'd (free with free()), not NUL-counted in *len but NUL-terminated.
** Returns FDSP_OK, FDSP_E_NOMEM, or FDSP_E_LIMIT/FDSP_E_VALUE if the struct
** would not pass fdsp_decode.  More precisely, the code fdsp_decode would
** give the encoded form: also FDSP_E_MISSING (a required string is NULL),
** FDSP_E_VERSION (hello/welcome version != FDSP_VERSION),
** FDSP_E_UNKNOWN_TYPE, and FDSP_E_TOOBIG when the encoding would exceed
** FDSP_MAX_FRAME (e.g. many large values: split the batch and retry). */
FDS_API int fdsp_encode(const fdsp_msg *m, char **out, size_t *len);

/* Encoder options for fdsp_encode_opt. */
#define FDSP_ENC_GROUPS 1u  /* write runs of changes of one record by one
                            ** device (and user) as change groups
                            ** (PROTOCOL.md §5.1).  Only for a peer whose
                            ** hello / welcome said "groups":true. */

/* fdsp_encode with options (FDSP_ENC_*; 0 is fdsp_encode).  The decoded
** form is the same fdsp_msg either way: groups are expanded by fdsp_decode
** into the changes they stand for, in order. */
FDS_API int fdsp_encode_opt(const fdsp_msg *m, unsigned opts, char **out,
                            size_t *len);

/* A zeroed message of the given type (free with fdsp_msg_free). */
FDS_API fdsp_msg *fdsp_msg_new(fdsp_type type);
FDS_API void fdsp_msg_free(fdsp_msg *m);

/* ---- Replica checksums (the sums / repair safety net) -----------------------
** Both are pure and fixed forever: a device and a server (possibly another
** implementation, see PROTOCOL.md section 10) must compute the same values.
**
** FNV-1a 64: h = 0xcbf29ce484222325; for each byte b: h ^= b,
** h *= 0x100000001b3 (mod 2^64).
** splitmix64 finaliser: z ^= z >> 30; z *= 0xbf58476d1ce4e5b9;
** z ^= z >> 27; z *= 0x94d049bb133111eb; z ^= z >> 31 (mod 2^64).
**
** fdsp_sum_register: the checksum of one field register: splitmix64 of the
** FNV-1a 64 of the bytes  tbl 0x00 rid 0x00 field 0x00 bytes[0..len)
** (each string without its terminating NUL, then one 0 byte, so no two
** different quadruples share their input).  bytes is the stored value; a
** NULL bytes hashes as len 0.  A bucket's checksum is the XOR of the
** register checksums in it (order-free, see PROTOCOL.md).  NULL bytes
** hashes as no bytes, like ""; a caller that must tell a cleared field from
** an empty one puts that in its canonical bytes.  NULL strings hash as "".
**
** fdsp_sum_bucket: the bucket of a record key (docs/internals/trust.md: the
** record's customer id, or its own id if it has no customer): the top
** six bits of splitmix64 of the FNV-1a 64 of the key's bytes (without
** NUL), i.e. z >> 58, in 0..FDSP_SUM_BUCKETS-1.  NULL is bucket 0.  (The
** finaliser because FNV-1a's own top bits spread short ids badly.) */
FDS_API uint64_t fdsp_sum_register(const char *tbl, const char *rid,
                                   const char *field, const char *bytes,
                                   size_t len);
FDS_API int fdsp_sum_bucket(const char *key);

/* ---- SHA-256 (FIPS 180-4), for blob names --------------------------------
** Incremental: init, update any number of times, final writes 32 bytes.
** fdsp_sha256_hex writes the 64 lowercase hex digits and a NUL. */
typedef struct fdsp_sha256 {
    uint32_t h[8];
    uint64_t n;             /* bytes so far */
    unsigned char buf[64];
    size_t used;
} fdsp_sha256;
FDS_API void fdsp_sha256_init(fdsp_sha256 *c);
FDS_API void fdsp_sha256_update(fdsp_sha256 *c, const void *p, size_t n);
FDS_API void fdsp_sha256_final(fdsp_sha256 *c, unsigned char out[32]);
FDS_API void fdsp_sha256_hex(const unsigned char d[32],
                             char out[FDSP_SHA256_HEX + 1]);
/* 1 if s is exactly 64 lowercase hex digits. */
FDS_API int fdsp_sha_ok(const char *s);
/* After a snprintf that may have cut a UTF-8 sequence in two (a photo's
** file name in a message): drop the incomplete tail, so s stays valid. */
FDS_API void fdsp_utf8_trim(char *s);

#ifdef __cplusplus
}
#endif
#endif /* FIELDSYNC_PROTO_H */
