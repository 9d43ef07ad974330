/*
** store_pg_sums.c — the checksum safety net on PostgreSQL
** (docs/internals/trust.md): fsv_store_sum_keys and what it sums over.
**
** The SQLite backend keeps a table of per-key sums up to date in every
** merge.  Here they are computed when asked, from the rec rows in one
** statement ordered by key: the canonical register texts are the bytes
** fdsp_sum_register hashes, so nothing needs decoding.  This costs a scan
** of rec per call (sync_sums.c asks once per sync that checks sums); a
** table kept by merge, as SQLite's, is the next step when it shows in a
** profile.
*/
#include "store.h"
#include "store_pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char keys_sql[] =
    "SELECT CASE WHEN customer IS NULL THEN tbl ELSE 'customer' END AS ktbl,"
    " coalesce(customer, rid) AS key, tbl, rid, regs::text FROM rec"
    " ORDER BY 1, 2";

/* The XOR of the register checksums of one rec row (regs text). */
static int row_sum(fsv_store *s, const char *tbl, const char *rid,
                   const char *regs_text, uint64_t *sum)
{
    json_error_t jerr;
    json_t *regs = json_loads(regs_text, 0, &jerr);
    if (!json_is_object(regs)) {
        json_decref(regs);
        return seterr(s, FSV_ERROR, "store: record %s/%s: damaged registers",
                      tbl, rid);
    }
    const char *field;
    json_t *v;
    *sum = 0;
    json_object_foreach(regs, field, v)
    {
        const char *t = json_string_value(v);
        if (t)
            *sum ^= fdsp_sum_register(tbl, rid, field, t, strlen(t));
    }
    json_decref(regs);
    return FSV_OK;
}

int fsv_pg_sum_keys(fsv_store *s, fsv_sum_key **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    int frc = fsv__pg_memo_flush(s);    /* the rows hold this tx's merges */
    if (frc != FSV_OK)
        return frc;
    PGresult *r = PQexecParams(PG(s)->db, keys_sql, 0, NULL, NULL, NULL, NULL,
                               0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        seterr(s, FSV_ERROR, "store: reading checksums: %s",
               PQresultErrorMessage(r));
        PQclear(r);
        return FSV_ERROR;
    }
    int rows = PQntuples(r), rc = FSV_OK;
    fsv_sum_key *k = calloc(rows ? (size_t)rows : 1, sizeof *k);
    size_t got = 0;
    if (!k)
        rc = seterr(s, FSV_NOMEM, "out of memory");
    for (int i = 0; rc == FSV_OK && i < rows; i++) {
        const char *ktbl = PQgetvalue(r, i, 0), *key = PQgetvalue(r, i, 1);
        uint64_t sum = 0;
        rc = row_sum(s, PQgetvalue(r, i, 2), PQgetvalue(r, i, 3),
                     PQgetvalue(r, i, 4), &sum);
        if (rc != FSV_OK)
            break;
        /* Rows of one key are consecutive (ORDER BY ktbl, key). */
        if (got && strcmp(k[got - 1].ktbl, ktbl) == 0 &&
            strcmp(k[got - 1].key, key) == 0) {
            k[got - 1].sum ^= sum;
            continue;
        }
        if (got && k[got - 1].sum == 0)
            got--;  /* keys whose sum is 0 are left out */
        snprintf(k[got].ktbl, sizeof k[got].ktbl, "%s", ktbl);
        snprintf(k[got].key, sizeof k[got].key, "%s", key);
        k[got].sum = sum;
        got++;
    }
    if (rc == FSV_OK && got && k[got - 1].sum == 0)
        got--;
    PQclear(r);
    if (rc != FSV_OK) {
        free(k);
        return rc;
    }
    *out = k;
    *n = got;
    return FSV_OK;
}
