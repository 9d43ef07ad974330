/*
** store_sqlite_int.h — private to the SQLite store's files (store_sqlite.c
** and store_sqlite_api.c): the connection behind an fsv_store handle.
** Nothing outside store_sqlite*.c includes this; SQL stays in the store.
*/
#ifndef FSV_STORE_SQLITE_INT_H
#define FSV_STORE_SQLITE_INT_H

#include <sqlite3.h>
#include "store.h"

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

#endif /* FSV_STORE_SQLITE_INT_H */
