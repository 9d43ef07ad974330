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

#endif /* FSV_STORE_SQLITE_INT_H */
