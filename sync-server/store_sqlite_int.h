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
