/*
** store_scope_sql.h — the office view's scope rule, written once (issue 19)
** and rendered to SQL for each backend's dialect.
**
** Which customers a scope (fsv_scope, store.h) sees:
**   (OWNS(owner) OR SHARED(rid) OR POOL_SEEN(owner, rid))
**   AND (the team filter: FILTER_OWNS(owner) OR FILTER_POOL(owner, rid))
** where
**   OWNS        everything (an all-seeing scope), the user's own, or owned
**               by a user of the user's team subtree;
**   SHARED      shared with the user (ov_share);
**   POOL_SEEN   a pool customer (owner '') in the pool of a team whose pool
**               the user sees (pool_cust, store_*_pool.c);
**   FILTER_*    no team filter, or owned by a user of the filter's subtree,
**               or a pool customer of a pool in that subtree.
** The subtrees and pools arrive as bound JSON arrays made by store_teams.c
** (fsv__store_subtree_json, fsv__store_pool_teams_json), the one
** definition of "below".
**
** The aggregates (store_sqlite_office_agg.c) sum per owner, so they split
** the same rule in two: FSV_SCOPE_OWNERS (OWNS and FILTER_OWNS: a sum over
** owners) and FSV_SCOPE_EXTRA (the customers the shares and pools add,
** read one by one); FSV_SCOPE_OWNERS OR FSV_SCOPE_EXTRA is FSV_SCOPE.
** pool_cust has one row per customer (its primary key), so POOL_SEEN and
** FILTER_POOL may test it separately.
**
** A dialect D defines, as string literals or macros giving them:
**   D_ALL        the "sees everything" flag as a boolean expression
**   D_USER       the user's name
**   D_TEAMS      the JSON array of the user's subtree (NULL: none)
**   D_POOLS      the JSON array of the pools the user sees (NULL: none)
**   D_FILTER     the JSON array of the filter's subtree (NULL: none)
**   D_ELEMS(j)   a SELECT of the text elements of JSON array j
**   D_SHARE_USER the user column of ov_share
** and a query names the dialect by its prefix: FSV_SCOPE(FSV_SQ, "c.owner",
** "c.rid").  The property tests (tests/server/test_office.c, both
** backends) compare every figure and page with a brute force.
*/
#ifndef FSV_STORE_SCOPE_SQL_H
#define FSV_STORE_SCOPE_SQL_H

/* SQLite: ?1 all, ?2 user, ?3 subtree, ?20 pools, ?30 filter (bound by
** fsv__sq_bind_scope). */
#define FSV_SQ_ALL "?1"
#define FSV_SQ_USER "?2"
#define FSV_SQ_TEAMS "?3"
#define FSV_SQ_POOLS "?20"
#define FSV_SQ_FILTER "?30"
#define FSV_SQ_ELEMS(j) "SELECT value FROM json_each(" j ")"
#define FSV_SQ_SHARE_USER "user"

/* PostgreSQL: $1..$5 (store_pg_office.c's scope_params). */
#define FSV_PG_ALL "$1::boolean"
#define FSV_PG_USER "$2"
#define FSV_PG_TEAMS "$3::jsonb"
#define FSV_PG_POOLS "$4::jsonb"
#define FSV_PG_FILTER "$5::jsonb"
#define FSV_PG_ELEMS(j) "SELECT jsonb_array_elements_text(" j ")"
#define FSV_PG_SHARE_USER "usr"

/* Owned by a user of the teams of JSON array j. */
#define FSV_SCOPE_OWNED_IN(D, o, j)                                          \
    o " IN (SELECT name FROM users WHERE team IN (" D##_ELEMS(j) "))"
/* r's pool row (one per customer) is in a pool and meets cond. */
#define FSV_SCOPE_POOL_ROW(r, cond)                                          \
    r " IN (SELECT customer FROM pool_cust WHERE in_pool = 1 AND " cond ")"
/* A pool customer in a pool of the teams of JSON array j. */
#define FSV_SCOPE_POOL_IN(D, o, r, j)                                        \
    "(" o " = '' AND " FSV_SCOPE_POOL_ROW(r, "team IN (" D##_ELEMS(j) ")") ")"

#define FSV_SCOPE_OWNS(D, o)                                                 \
    "(" D##_ALL " OR " o " = " D##_USER " OR (" D##_TEAMS " IS NOT NULL"     \
    " AND " FSV_SCOPE_OWNED_IN(D, o, D##_TEAMS) "))"
#define FSV_SCOPE_SHARED(D, r)                                               \
    r " IN (SELECT customer FROM ov_share WHERE " D##_SHARE_USER " = "       \
    D##_USER ")"
#define FSV_SCOPE_POOL_SEEN(D, o, r)                                         \
    "(" D##_POOLS " IS NOT NULL AND " FSV_SCOPE_POOL_IN(D, o, r, D##_POOLS) ")"
#define FSV_SCOPE_FILTER_OWNS(D, o)                                          \
    "(" D##_FILTER " IS NULL OR " FSV_SCOPE_OWNED_IN(D, o, D##_FILTER) ")"
#define FSV_SCOPE_FILTER_POOL(D, o, r) FSV_SCOPE_POOL_IN(D, o, r, D##_FILTER)

/* The whole rule over owner expression o and customer id r. */
#define FSV_SCOPE(D, o, r)                                                   \
    "((" FSV_SCOPE_OWNS(D, o) " OR " FSV_SCOPE_SHARED(D, r) " OR "           \
    FSV_SCOPE_POOL_SEEN(D, o, r) ") AND (" FSV_SCOPE_FILTER_OWNS(D, o)       \
    " OR " FSV_SCOPE_FILTER_POOL(D, o, r) "))"

/* The owners part (a sum over owners; pool customers, owner '', count
** under '' for an unfiltered all-seeing scope only). */
#define FSV_SCOPE_OWNERS(D, o)                                               \
    "(" FSV_SCOPE_OWNS(D, o) " AND " FSV_SCOPE_FILTER_OWNS(D, o) ")"
/* The customers the shares and the pools add to the owners part (over a
** live customer: the caller tests its deletion).  The pools' part is one
** IN on the customer's id (POOL_SEEN and FILTER_POOL of one pool row), so
** the planner reads the pool's customers, not every customer. */
#define FSV_SCOPE_EXTRA(D, o, r)                                             \
    "((NOT " D##_ALL " AND " FSV_SCOPE_SHARED(D, r) " AND NOT "              \
    FSV_SCOPE_OWNS(D, o) " AND " FSV_SCOPE_FILTER_OWNS(D, o) ")"             \
    " OR (" o " = '' AND (NOT " D##_ALL " OR " D##_FILTER " IS NOT NULL)"    \
    " AND " FSV_SCOPE_POOL_ROW(r, "(" D##_ALL " OR (" D##_POOLS              \
    " IS NOT NULL AND team IN (" D##_ELEMS(D##_POOLS) ")))"                  \
    " AND (" D##_FILTER " IS NULL OR team IN (" D##_ELEMS(D##_FILTER) "))")  \
    "))"

#endif
