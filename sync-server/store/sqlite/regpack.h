/*
** regpack.h — the server store's packed form of one record's registers
** (docs/internals/server.md, "Registers: one row per record").  Pure: no
** SQLite, no store handle; the device and user names are interned through
** the caller's dictionary.  Used by store_sqlite_regs.c, the fuzz target
** fuzz/fuzz_regpack.c and tests/server/test_regpack.c.
**
** A record is two columns of its rec row:
**   vals  TEXT  {"field":winning value or null,...}: compact JSON, keys in
**               strcmp order, so SQL reads values with json_extract /
**               json_each and the office view reads one row per record;
**   regs  BLOB  everything else of each register, fields in the same order:
**     u8 format (1), varint nfields (= the keys of vals), per field:
**       varint nversions (>= 1), per version (winner first, as fds_merge
**       orders them):
**         varint device id, varint user id        (interned, >= 1)
**         varint zigzag(hlc - previous version's hlc in this blob)
**         value, for every version but the winner (whose value is in vals):
**           varint 0 (null) or len + 1, then len bytes of UTF-8
**         version vector: varint 0, varint counter   -- {device: counter}
**                     or  varint n, n x (varint device id, varint counter)
** Decoding checks everything (a damaged row is an error naming the record,
** never a crash or a wrong register): sorted unique field names, known
** ids, versions in winner-first order, vectors sorted by device with
** counters in 1..2^53, valid UTF-8 with no NUL, no trailing bytes.
*/
#ifndef FSV_REGPACK_H
#define FSV_REGPACK_H

#include <stddef.h>
#include <stdint.h>

#include "fieldsync.h"

enum { FSV_RP_OK = 0, FSV_RP_NOMEM = -1, FSV_RP_DAMAGED = -2,
       FSV_RP_DICT = -3 };

/* The caller's name dictionary.  intern: the id (>= 1) of name, making one
** if new; FSV_RP_OK or an FSV_RP_* error.  lookup: the name of id (valid
** until the next intern), NULL if unknown. */
typedef struct fsv_regpack_dict {
    int (*intern)(void *ud, const char *name, uint64_t *id);
    const char *(*lookup)(void *ud, uint64_t id);
    void *ud;
} fsv_regpack_dict;

/* One field of a record: its name and register (versions' table, record
** and field are NULL). */
typedef struct fsv_regpack_field {
    char *name;
    fds_register reg;
} fsv_regpack_field;

/* Encode n fields (names in strcmp order, unique; every reg.n >= 1) into
** *vals (NUL-terminated, malloc'd) and *blob (*blob_len bytes, malloc'd);
** *conflicts: how many of the fields are in conflict.  FSV_RP_OK,
** FSV_RP_NOMEM, FSV_RP_DICT, or FSV_RP_DAMAGED for input that breaks the
** rules above (nothing the merge makes). */
int fsv_regpack_encode(const fsv_regpack_field *f, size_t n,
                       const fsv_regpack_dict *d, char **vals,
                       unsigned char **blob, size_t *blob_len,
                       int *conflicts);

/* Decode the two columns into *out (n fields, malloc'd; free with
** fsv_regpack_free).  FSV_RP_OK, FSV_RP_NOMEM or FSV_RP_DAMAGED with what
** is wrong in err. */
int fsv_regpack_decode(const char *vals, size_t vals_len,
                       const unsigned char *blob, size_t blob_len,
                       const fsv_regpack_dict *d, fsv_regpack_field **out,
                       size_t *n, char *err, size_t errlen);

void fsv_regpack_free(fsv_regpack_field *f, size_t n);

/* vals alone: the winning value of field (*found 0 if the record has no
** such field; *value NULL for null, else malloc'd).  FSV_RP_OK,
** FSV_RP_NOMEM or FSV_RP_DAMAGED. */
int fsv_regpack_value(const char *vals, size_t vals_len, const char *field,
                      int *found, char **value);

/* fsv_regpack_value without parsing the whole object: it reads up to
** field's pair and allocates only the value (a read that wants one
** winner, e.g. a customer's owner for visibility, for many records).
** It checks only what it reads: FSV_RP_DAMAGED when that is not well
** formed (the caller may then decode the row to say what is wrong). */
int fsv_regpack_find(const char *vals, size_t vals_len, const char *field,
                     int *found, char **value);

#endif /* FSV_REGPACK_H */
