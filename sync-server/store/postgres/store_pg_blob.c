/*
** store_pg_blob.c — the PostgreSQL backend's photo tables, as
** store_sqlite_blob.c's (who may have a blob; the bytes themselves stay
** files under serve's --data DIR/blobs whatever the store: sync_blobs.c):
**   blob_ref(sha, followup, size)  which follow-ups name which blob (the
**       winning "attachments" register of each, rewritten as it merges)
**   blob(sha, size, usr, at_ms)    blobs whole on disk: who sent them when
** Made by the schema's version 2 (store_pg.c).
*/
#include "store.h"
#include "store_pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fsv_pg_blob_refs_set(fsv_store *s, const char *followup,
                         const fsv_blob_ref *refs, size_t n)
{
    pgp p = {0};
    p_text(&p, followup);
    int rc = fsv__pg_qrun(s, "DELETE FROM blob_ref WHERE followup=$1", &p,
                          "blob references", NULL);
    for (size_t i = 0; rc == FSV_OK && i < n; i++) {
        pgp q = {0};
        p_text(&q, refs[i].sha);
        p_text(&q, followup);
        p_i64(&q, refs[i].size);
        rc = fsv__pg_qrun(s, "INSERT INTO blob_ref(sha, followup, size)"
                          " VALUES ($1, $2, $3) ON CONFLICT(sha, followup)"
                          " DO UPDATE SET size=excluded.size", &q,
                          "blob references", NULL);
    }
    return rc;
}

int fsv_pg_blob_followups(fsv_store *s, const char *sha, char ***out,
                          size_t *n)
{
    *out = NULL;
    *n = 0;
    pgp p = {0};
    p_text(&p, sha);
    int rc;
    PGresult *r = fsv__pg_q(s, "SELECT followup FROM blob_ref WHERE sha=$1"
                            " ORDER BY followup LIMIT 1000", &p,
                            "blob references", &rc);
    if (!r)
        return rc;
    size_t rows = (size_t)PQntuples(r);
    char **v = calloc(rows ? rows : 1, sizeof *v);
    rc = v ? FSV_OK : seterr(s, FSV_NOMEM, "out of memory");
    for (size_t i = 0; rc == FSV_OK && i < rows; i++)
        if (!(v[i] = strdup(PQgetvalue(r, (int)i, 0))))
            rc = seterr(s, FSV_NOMEM, "out of memory");
    PQclear(r);
    if (rc != FSV_OK) {
        for (size_t i = 0; v && i < rows; i++)
            free(v[i]);
        free(v);
        return rc;
    }
    if (rows == 0) {
        free(v);    /* as SQLite's: no array when there are none */
        v = NULL;
    }
    *out = v;
    *n = rows;
    return FSV_OK;
}

int fsv_pg_blob_stored(fsv_store *s, const char *sha, int64_t size,
                       const char *user, int64_t at_ms)
{
    pgp p = {0};
    p_text(&p, sha);
    p_i64(&p, size);
    p_text(&p, user);
    p_i64(&p, at_ms);
    return fsv__pg_qrun(s, "INSERT INTO blob(sha, size, usr, at_ms)"
                        " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING", &p,
                        "blobs", NULL);
}

int fsv_pg_blob_usage(fsv_store *s, const char *user, int64_t since_ms,
                      int64_t *bytes)
{
    *bytes = 0;
    pgp p = {0};
    p_text(&p, user);
    p_i64(&p, since_ms);
    int rc;
    PGresult *r = fsv__pg_q(s, "SELECT coalesce(sum(size), 0) FROM blob"
                            " WHERE usr=$1 AND at_ms >= $2", &p, "blobs", &rc);
    if (!r)
        return rc;
    if (PQntuples(r) == 1)
        *bytes = col_i64(r, 0, 0);
    PQclear(r);
    return FSV_OK;
}
