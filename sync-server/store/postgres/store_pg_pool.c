/*
** store_pg_pool.c — the PostgreSQL backend's customer pool (公海), the
** same tables as store_sqlite_pool.c (the reasoning is there):
**   pool_rules(id = 1, return_days, warn_days, cooldown_days,
**              max_claims_per_day, max_owned)   one row, 0 = rule off
**   pool_cust(customer PRIMARY KEY, team, in_pool, since_ms, former,
**             claimed_by, claimed_ms)           the server's word
**   pool_log(customer, usr, kind, team, at_ms)  release/return/claim
** Made by the schema's version 2 (store_pg.c).  Unprepared statements:
** these run once per release, claim or return, not per change.
*/
#include "store.h"
#include "store_pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fsv_pg_pool_rules_get(fsv_store *s, fsv_pool_rules *r)
{
    memset(r, 0, sizeof *r);
    int rc;
    PGresult *res = fsv__pg_q(s, "SELECT return_days, warn_days,"
                              " cooldown_days, max_claims_per_day, max_owned"
                              " FROM pool_rules WHERE id=1", NULL,
                              "pool rules", &rc);
    if (!res)
        return rc;
    if (PQntuples(res) == 1) {
        r->return_days = col_i64(res, 0, 0);
        r->warn_days = col_i64(res, 0, 1);
        r->cooldown_days = col_i64(res, 0, 2);
        r->max_claims_per_day = col_i64(res, 0, 3);
        r->max_owned = col_i64(res, 0, 4);
    }
    PQclear(res);
    return FSV_OK;
}

int fsv_pg_pool_rules_set(fsv_store *s, const fsv_pool_rules *r)
{
    pgp p = {0};
    p_i64(&p, r->return_days);
    p_i64(&p, r->warn_days);
    p_i64(&p, r->cooldown_days);
    p_i64(&p, r->max_claims_per_day);
    p_i64(&p, r->max_owned);
    return fsv__pg_qrun(s, "INSERT INTO pool_rules(id, return_days, warn_days,"
                        " cooldown_days, max_claims_per_day, max_owned)"
                        " VALUES (1, $1, $2, $3, $4, $5) ON CONFLICT(id) DO"
                        " UPDATE SET return_days=excluded.return_days,"
                        " warn_days=excluded.warn_days,"
                        " cooldown_days=excluded.cooldown_days,"
                        " max_claims_per_day=excluded.max_claims_per_day,"
                        " max_owned=excluded.max_owned", &p, "pool rules",
                        NULL);
}

int fsv_pg_pool_get(fsv_store *s, const char *customer, fsv_pool_row *out)
{
    memset(out, 0, sizeof *out);
    pgp p = {0};
    p_text(&p, customer);
    int rc;
    PGresult *r = fsv__pg_q(s, "SELECT team, in_pool, since_ms, former,"
                            " claimed_by, claimed_ms FROM pool_cust"
                            " WHERE customer=$1", &p, "pool row", &rc);
    if (!r)
        return rc;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return seterr(s, FSV_NOTFOUND, "customer %s never was in the pool",
                      customer);
    }
    col_copy(r, 0, 0, out->team, sizeof out->team);
    out->in_pool = (int)col_i64(r, 0, 1);
    out->since_ms = col_i64(r, 0, 2);
    col_copy(r, 0, 3, out->former, sizeof out->former);
    col_copy(r, 0, 4, out->claimed_by, sizeof out->claimed_by);
    out->claimed_ms = col_i64(r, 0, 5);
    PQclear(r);
    return FSV_OK;
}

int fsv_pg_pool_put(fsv_store *s, const char *customer,
                    const fsv_pool_row *row)
{
    pgp p = {0};
    p_text(&p, customer);
    p_text(&p, row->team);
    p_i64(&p, row->in_pool);
    p_i64(&p, row->since_ms);
    p_text(&p, row->former);
    p_text(&p, row->claimed_by);
    p_i64(&p, row->claimed_ms);
    return fsv__pg_qrun(s, "INSERT INTO pool_cust(customer, team, in_pool,"
                        " since_ms, former, claimed_by, claimed_ms)"
                        " VALUES ($1, $2, $3, $4, $5, $6, $7)"
                        " ON CONFLICT(customer) DO UPDATE SET"
                        " team=excluded.team, in_pool=excluded.in_pool,"
                        " since_ms=excluded.since_ms, former=excluded.former,"
                        " claimed_by=excluded.claimed_by,"
                        " claimed_ms=excluded.claimed_ms", &p, "pool row",
                        NULL);
}

int fsv_pg_pool_log(fsv_store *s, const char *customer, const char *user,
                    const char *kind, const char *team, int64_t at_ms)
{
    pgp p = {0};
    p_text(&p, customer);
    p_text(&p, user ? user : "");
    p_text(&p, kind);
    p_text(&p, team ? team : "");
    p_i64(&p, at_ms);
    return fsv__pg_qrun(s, "INSERT INTO pool_log(customer, usr, kind, team,"
                        " at_ms) VALUES ($1, $2, $3, $4, $5)", &p, "pool log",
                        NULL);
}

static int one_i64(fsv_store *s, const char *sql, const pgp *p,
                   const char *what, int64_t *n)
{
    *n = 0;
    int rc;
    PGresult *r = fsv__pg_q(s, sql, p, what, &rc);
    if (!r)
        return rc;
    if (PQntuples(r) == 1)
        *n = col_i64(r, 0, 0);
    PQclear(r);
    return FSV_OK;
}

int fsv_pg_pool_log_count(fsv_store *s, const char *user, const char *kind,
                          int64_t since_ms, int64_t *n)
{
    pgp p = {0};
    p_text(&p, user);   /* NULL: every user's */
    p_text(&p, kind);
    p_i64(&p, since_ms);
    return one_i64(s, "SELECT count(*) FROM pool_log WHERE ($1::text IS NULL"
                   " OR usr=$1) AND kind=$2 AND at_ms >= $3", &p, "pool log",
                   n);
}

int fsv_pg_pool_owned(fsv_store *s, const char *user, int64_t *n)
{
    /* The office view's effective owner as committed (ov_cust is derived
    ** at commit, as SQLite's): a batch's own claims the caller counts. */
    pgp p = {0};
    p_text(&p, user);
    return one_i64(s, "SELECT count(*) FROM ov_cust WHERE owner=$1 AND"
                   " deleted=0", &p, "owned customers", n);
}

int fsv_pg_pool_figures(fsv_store *s, int64_t since_ms, json_t **out)
{
    *out = NULL;
    pgp p = {0};
    p_i64(&p, since_ms);
    int rc;
    /* Per team: pool customers now (live, no owner) and the log's moves
    ** since since_ms; teams in byte order, as SQLite's. */
    PGresult *r = fsv__pg_q(s,
        "SELECT team, sum(size), sum(ret), sum(clm), sum(rel) FROM ("
        " SELECT p.team AS team, 1 AS size, 0 AS ret, 0 AS clm, 0 AS rel"
        "  FROM pool_cust p JOIN ov_cust c ON c.rid = p.customer"
        "  WHERE p.in_pool = 1 AND c.deleted = 0 AND c.owner = ''"
        " UNION ALL"
        " SELECT team, 0, (kind = 'return')::int, (kind = 'claim')::int,"
        "  (kind = 'release')::int FROM pool_log WHERE at_ms >= $1) u"
        " GROUP BY team ORDER BY team COLLATE \"C\"", &p, "pool figures", &rc);
    if (!r)
        return rc;
    json_t *teams = json_array();
    int bad = !teams;
    for (int i = 0; !bad && i < PQntuples(r); i++)
        bad |= json_array_append_new(teams, json_pack(
            "{s:s, s:I, s:I, s:I, s:I}", "team", PQgetvalue(r, i, 0),
            "size", (json_int_t)col_i64(r, i, 1),
            "returned", (json_int_t)col_i64(r, i, 2),
            "claimed", (json_int_t)col_i64(r, i, 3),
            "released", (json_int_t)col_i64(r, i, 4))) != 0;
    PQclear(r);
    if (bad) {
        json_decref(teams);
        return seterr(s, FSV_NOMEM, "out of memory");
    }
    *out = teams;
    return FSV_OK;
}
