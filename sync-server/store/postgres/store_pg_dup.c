/*
** store_pg_dup.c — the PostgreSQL backend's duplicate customers (撞单,
** store.h "Duplicate customers across reps"), as store_sqlite_dup.c's:
**   dup_key(key, customer)  the normalised phone and WeChat keys of each
**                           live customer (fsv_dup_key), written at commit
**                           with the office view: the statement that
**                           writes a merged customer's ov_cust row
**                           rewrites its keys too (PG_DUP_CTE, one round
**                           trip), so they commit or roll back with it
**   dup_notice(usr, at)     the notices given to each user (the daily
**                           allowance, sync_ops.c)
** The owner of a match is the office view's (ov_cust.owner).  Made by the
** schema's version 2 (store_pg.c), whose migration fills the keys of the
** customers a version-1 store holds (fsv__pg_dup_fill: the normalising is
** C, fsv_dup_key, so it cannot be SQL).
*/
#include "store.h"
#include "store_pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fsv__pg_dup_want(const char *phone, const char *wechat, int deleted,
                     char want[2][FSV_DUP_KEY_MAX])
{
    int n = 0;
    if (!deleted) {
        if (fsv_dup_key("phone", phone, want[n], FSV_DUP_KEY_MAX))
            n++;
        if (fsv_dup_key("wechat", wechat, want[n], FSV_DUP_KEY_MAX))
            n++;
    }
    return n;
}

int fsv__pg_dup_put(fsv_store *s, const char *rid, const char *phone,
                    const char *wechat, int deleted)
{
    char want[2][FSV_DUP_KEY_MAX];
    int n = fsv__pg_dup_want(phone, wechat, deleted, want);
    pgp p = {0};
    p_text(&p, rid);
    p_text(&p, n > 0 ? want[0] : NULL);
    p_text(&p, n > 1 ? want[1] : NULL);
    return fsv__pg_qrun(s, PG_DUP_CTE("$1", "$2", "$3")
                        " SELECT 1", &p,
                        "duplicates: keys", NULL);
}

static const char *reg_winner(json_t *regs, const char *field,
                              fds_register *reg)
{
    const char *t = json_string_value(json_object_get(regs, field));
    if (!t || fds_register_parse(t, reg) != FDS_OK || !reg->n)
        return NULL;
    return reg->v[0].value;
}

int fsv__pg_dup_fill(fsv_store *s)
{
    int rc;
    PGresult *r = fsv__pg_q(s, "SELECT rid, regs::text FROM rec"
                            " WHERE tbl='customer'", NULL,
                            "duplicates: fill", &rc);
    if (!r)
        return rc;
    for (int i = 0; rc == FSV_OK && i < PQntuples(r); i++) {
        json_error_t jerr;
        json_t *regs = json_loads(PQgetvalue(r, i, 1), 0, &jerr);
        fds_register ph = {0, NULL}, wc = {0, NULL}, dl = {0, NULL};
        const char *del = reg_winner(regs, "deleted", &dl);
        rc = fsv__pg_dup_put(s, PQgetvalue(r, i, 0),
                             reg_winner(regs, "phone", &ph),
                             reg_winner(regs, "wechat", &wc),
                             del && strcmp(del, "1") == 0);
        fds_register_clear(&ph);
        fds_register_clear(&wc);
        fds_register_clear(&dl);
        json_decref(regs);
    }
    PQclear(r);
    return rc;
}

int fsv_pg_dup_matches(fsv_store *s, const char *key, const char *customer,
                       fsv_dup_match_fn fn, void *ud)
{
    pgp p = {0};
    p_text(&p, key);
    p_text(&p, customer ? customer : "");
    int rc;
    PGresult *r = fsv__pg_q(s, "SELECT c.rid, c.owner FROM dup_key d"
                            " JOIN ov_cust c ON c.rid = d.customer"
                            " WHERE d.key=$1 AND d.customer <> $2"
                            " AND c.deleted = 0"
                            " ORDER BY c.owner COLLATE \"C\", c.rid", &p,
                            "duplicates: matches", &rc);
    if (!r)
        return rc;
    for (int i = 0; rc == FSV_OK && i < PQntuples(r); i++)
        rc = fn(ud, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
    PQclear(r);
    return rc;
}

int fsv_pg_dup_notice(fsv_store *s, const char *user, int64_t now_ms,
                      int64_t since_ms, int64_t *given)
{
    *given = 0;
    pgp p = {0};
    p_text(&p, user);
    p_i64(&p, since_ms);
    int rc;
    PGresult *r = fsv__pg_q(s, "SELECT count(*) FROM dup_notice WHERE usr=$1"
                            " AND at >= $2", &p, "duplicates: notices", &rc);
    if (!r)
        return rc;
    *given = col_i64(r, 0, 0);
    PQclear(r);
    /* Older rows no longer count for anything. */
    rc = fsv__pg_qrun(s, "DELETE FROM dup_notice WHERE usr=$1 AND at < $2",
                      &p, "duplicates: notices", NULL);
    pgp q = {0};
    p_text(&q, user);
    p_i64(&q, now_ms);
    if (rc == FSV_OK)
        rc = fsv__pg_qrun(s, "INSERT INTO dup_notice(usr, at) VALUES ($1, $2)",
                          &q, "duplicates: notices", NULL);
    return rc;
}

int fsv_pg_dup_list(fsv_store *s, fsv_dup_row_fn fn, void *ud)
{
    int rc;
    /* The keys live customers of two or more owners share, then their
    ** customers (byte order, as SQLite's). */
    PGresult *r = fsv__pg_q(s, "SELECT d.key, c.rid, c.owner, c.name"
                            " FROM dup_key d JOIN ov_cust c"
                            " ON c.rid = d.customer AND c.deleted = 0"
                            " WHERE d.key IN (SELECT k.key FROM dup_key k"
                            "  JOIN ov_cust x ON x.rid = k.customer"
                            "  AND x.deleted = 0 GROUP BY k.key"
                            "  HAVING count(DISTINCT x.owner) > 1)"
                            " ORDER BY d.key, c.owner COLLATE \"C\", c.rid",
                            NULL, "duplicates: list", &rc);
    if (!r)
        return rc;
    for (int i = 0; rc == FSV_OK && i < PQntuples(r); i++)
        rc = fn(ud, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
                PQgetvalue(r, i, 2),
                PQgetisnull(r, i, 3) ? NULL : PQgetvalue(r, i, 3));
    PQclear(r);
    return rc;
}
