/*
** store_sqlite_hist.h — the one part of the history group layout that
** code outside the store may use: the read-only SQL view of it.
**
** The store keeps its history as group rows (hist, hist_name;
** docs/internals/server.md "History groups").  fsv_sqlite_history_module
** registers, on any SQLite connection, the eponymous virtual table
** `history`: one row per change with the columns the schema-2 table had
** (seq, tbl, rid, field, value, vv, hlc, device, user, server_ms, dctr,
** relay), decoded from the groups.  The server registers it on its own
** connection (the office reads use it); tests and operators' tools that
** open the file with their own connection register it to query history
** as before.  Read-only; WHERE tbl=? [AND rid=?] and seq bounds use the
** group indexes.  Returns SQLITE_OK or SQLite's code.
*/
#ifndef FSV_STORE_SQLITE_HIST_H
#define FSV_STORE_SQLITE_HIST_H

#include <sqlite3.h>

int fsv_sqlite_history_module(sqlite3 *db);

#endif /* FSV_STORE_SQLITE_HIST_H */
