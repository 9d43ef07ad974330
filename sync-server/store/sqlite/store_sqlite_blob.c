/*
** store_sqlite_blob.c — the SQLite store's blob tables (sync/sync_blobs.c
** holds the bytes as files under --data; these say who may have them).
**
**   blob_ref(sha, followup, size)  which follow-ups name which blob: the
**       winning "attachments" register of each follow-up, rewritten as it
**       merges.  A device may fetch a blob only through a follow-up it may
**       see (visibility.c), and upload one only for a follow-up it may
**       write.
**   blob(sha, size, user, at_ms)   blobs whole on disk: who sent them when
**       (the per-rep daily limit counts these).
** Made by CREATE TABLE IF NOT EXISTS when the store opens (no schema
** version of their own: the lead bumps SCHEMA_VERSION at merge).
*/
#include "store.h"
#include "store_sqlite_int.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fsv__sq_blob_open(fsv_store *s)
{
    if (sqlite3_exec(SQ(s)->db,
            "CREATE TABLE IF NOT EXISTS blob_ref(sha TEXT NOT NULL,"
            " followup TEXT NOT NULL, size INTEGER NOT NULL,"
            " PRIMARY KEY(sha, followup)) WITHOUT ROWID;"
            "CREATE INDEX IF NOT EXISTS blob_ref_by_followup"
            " ON blob_ref(followup);"
            "CREATE TABLE IF NOT EXISTS blob(sha TEXT PRIMARY KEY,"
            " size INTEGER NOT NULL, user TEXT NOT NULL,"
            " at_ms INTEGER NOT NULL) WITHOUT ROWID;"
            "CREATE INDEX IF NOT EXISTS blob_by_user ON blob(user, at_ms);",
            NULL, NULL, NULL) != SQLITE_OK)
        return dberr(s, "blob tables");
    return FSV_OK;
}

static sqlite3_stmt *prep(fsv_store *s, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v3(SQ(s)->db, sql, -1, 0, &st, NULL) != SQLITE_OK) {
        dberr(s, "blob tables");
        return NULL;
    }
    return st;
}

int fsv_sqlite_blob_refs_set(fsv_store *s, const char *followup,
                             const fsv_blob_ref *refs, size_t n)
{
    sqlite3_stmt *del = prep(s, "DELETE FROM blob_ref WHERE followup = ?1");
    if (!del)
        return FSV_ERROR;
    sqlite3_bind_text(del, 1, followup, -1, SQLITE_STATIC);
    int rc = sqlite3_step(del) == SQLITE_DONE ? FSV_OK
                                              : dberr(s, "blob references");
    sqlite3_finalize(del);
    if (rc != FSV_OK || n == 0)
        return rc;
    sqlite3_stmt *ins = prep(s, "INSERT OR REPLACE INTO blob_ref(sha,"
                                " followup, size) VALUES(?1, ?2, ?3)");
    if (!ins)
        return FSV_ERROR;
    for (size_t i = 0; rc == FSV_OK && i < n; i++) {
        sqlite3_bind_text(ins, 1, refs[i].sha, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 2, followup, -1, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 3, refs[i].size);
        if (sqlite3_step(ins) != SQLITE_DONE)
            rc = dberr(s, "blob references");
        sqlite3_reset(ins);
    }
    sqlite3_finalize(ins);
    return rc;
}

int fsv_sqlite_blob_followups(fsv_store *s, const char *sha, char ***out,
                              size_t *n)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = prep(s, "SELECT followup FROM blob_ref WHERE sha = ?1"
                               " ORDER BY followup LIMIT 1000");
    if (!st)
        return FSV_ERROR;
    sqlite3_bind_text(st, 1, sha, -1, SQLITE_STATIC);
    int rc = FSV_OK, r;
    size_t cap = 0;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 4;
            char **p = realloc(*out, cap * sizeof *p);
            if (!p) {
                rc = FSV_NOMEM;
                break;
            }
            *out = p;
        }
        if (!((*out)[*n] = strdup((const char *)sqlite3_column_text(st, 0)))) {
            rc = FSV_NOMEM;
            break;
        }
        (*n)++;
    }
    if (rc == FSV_OK && r != SQLITE_DONE)
        rc = dberr(s, "blob references");
    sqlite3_finalize(st);
    if (rc != FSV_OK) {
        for (size_t i = 0; i < *n; i++)
            free((*out)[i]);
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

int fsv_sqlite_blob_stored(fsv_store *s, const char *sha, int64_t size,
                           const char *user, int64_t at_ms)
{
    sqlite3_stmt *st = prep(s, "INSERT OR IGNORE INTO blob(sha, size, user,"
                               " at_ms) VALUES(?1, ?2, ?3, ?4)");
    if (!st)
        return FSV_ERROR;
    sqlite3_bind_text(st, 1, sha, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, size);
    sqlite3_bind_text(st, 3, user, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, at_ms);
    int rc = sqlite3_step(st) == SQLITE_DONE ? FSV_OK : dberr(s, "blobs");
    sqlite3_finalize(st);
    return rc;
}

int fsv_sqlite_blob_usage(fsv_store *s, const char *user, int64_t since_ms,
                          int64_t *bytes)
{
    *bytes = 0;
    sqlite3_stmt *st = prep(s, "SELECT coalesce(sum(size), 0) FROM blob"
                               " WHERE user = ?1 AND at_ms >= ?2");
    if (!st)
        return FSV_ERROR;
    sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, since_ms);
    int rc = FSV_OK;
    if (sqlite3_step(st) == SQLITE_ROW)
        *bytes = sqlite3_column_int64(st, 0);
    else
        rc = dberr(s, "blobs");
    sqlite3_finalize(st);
    return rc;
}
