/*
** store_sqlite_sums.c — the server's half of the checksum safety net
** (docs/internals/trust.md, "The safety net"): a checksum per customer key,
** kept in the same transaction as every register write.
**
**   regsum(ktbl, key, sum)  -- key: a record's customer (ktbl 'customer'),
**       or, for a record with no customer (definitions, orphan children),
**       its own id with ktbl its table.  sum: the XOR of
**       fdsp_sum_register(tbl, rid, field, versions) over the registers of
**       the records under that key (as a signed 64-bit integer).
**
** Triggers keep it, so every path that writes reg or rec (a push's merge,
** a re-stamp, anything added later) updates it inside its own transaction
** with no call to remember:
**   - a register inserted / updated / deleted: its old checksum XORed out
**     of its key, the new one in (the key is read from rec, as it is at
**     that moment);
**   - a record's customer link set or moved in rec (a new child, a child
**     re-attached): the XOR of all its registers moves from the old key to
**     the new one.
** merge_change saves the register before it updates rec, so a child's
** "customer" write lands under the old key and then moves with the rest.
**
** The triggers call two SQL functions registered on every connection
** fsv_store_open makes (fsv__store_sums_open): a connection without them
** (the sqlite3 shell) cannot write reg, which is right: only the server
** writes the store.  A store made before this file existed gets the table,
** the triggers and its checksums filled in one transaction at open.
*/
#include "store.h"
#include "store_sqlite_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The store's message: "store: WHAT: <SQLite's message>", FSV_ERROR. */
static int dberr(fsv_store *s, const char *what)
{
    char m[400];
    snprintf(m, sizeof m, "store: %s: %s", what,
             sqlite3_errmsg(fsv__store_sqlite_db(s)));
    return fsv__store_sums_msg(s, FSV_ERROR, m);
}

/* fsv_sum(tbl, rid, field, versions): fdsp_sum_register as an int64. */
static void sql_sum(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const char *tbl = (const char *)sqlite3_value_text(argv[0]);
    const char *rid = (const char *)sqlite3_value_text(argv[1]);
    const char *field = (const char *)sqlite3_value_text(argv[2]);
    const char *v = (const char *)sqlite3_value_text(argv[3]);
    size_t n = v ? (size_t)sqlite3_value_bytes(argv[3]) : 0;
    sqlite3_result_int64(ctx, (sqlite3_int64)fdsp_sum_register(tbl, rid, field,
                                                               v, n));
}

/* fsv_xor_agg(x): XOR of the non-NULL x (NULL over no rows). */
static void agg_step(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    struct { uint64_t x; int any; } *a = sqlite3_aggregate_context(ctx,
                                                                   sizeof *a);
    if (!a || sqlite3_value_type(argv[0]) == SQLITE_NULL)
        return;
    a->x ^= (uint64_t)sqlite3_value_int64(argv[0]);
    a->any = 1;
}

static void agg_final(sqlite3_context *ctx)
{
    struct { uint64_t x; int any; } *a = sqlite3_aggregate_context(ctx, 0);
    if (a && a->any)
        sqlite3_result_int64(ctx, (sqlite3_int64)a->x);
    else
        sqlite3_result_null(ctx);
}

/* XOR of two int64 in SQL (SQLite has no ^): (a | b) & ~(a & b). */
#define XOR(a, b) "((" a ") | (" b ")) & ~((" a ") & (" b "))"
/* Add delta (an SQL expression) to the key (ktbl, key). */
#define UPSERT(ktbl, key, delta) \
    "INSERT INTO regsum(ktbl, key, sum) VALUES (" ktbl ", " key ", " delta ")" \
    " ON CONFLICT(ktbl, key) DO UPDATE SET sum = " \
    XOR("sum", "excluded.sum") ";"
/* The key of record (t, r) as rec says now. */
#define CUST(t, r) "(SELECT customer FROM rec WHERE tbl = " t " AND rid = " r ")"
#define KTBL(t, r) "(CASE WHEN " CUST(t, r) " IS NULL THEN " t \
                   " ELSE 'customer' END)"
#define KEY(t, r) "coalesce(" CUST(t, r) ", " r ")"
#define REGSUM(p) "fsv_sum(" p ".tbl, " p ".rid, " p ".field, " p ".versions)"
/* All of a record's registers. */
#define RECSUM(t, r) "(SELECT fsv_xor_agg(fsv_sum(tbl, rid, field, versions))" \
                     " FROM reg WHERE tbl = " t " AND rid = " r ")"

static const char *const schema_sql =
    "CREATE TABLE regsum(ktbl TEXT NOT NULL, key TEXT NOT NULL,"
    "  sum INTEGER NOT NULL, PRIMARY KEY (ktbl, key)) WITHOUT ROWID;"
    "CREATE TRIGGER regsum_reg_ins AFTER INSERT ON reg BEGIN "
    UPSERT(KTBL("new.tbl", "new.rid"), KEY("new.tbl", "new.rid"), REGSUM("new"))
    " END;"
    "CREATE TRIGGER regsum_reg_upd AFTER UPDATE ON reg BEGIN "
    UPSERT(KTBL("old.tbl", "old.rid"), KEY("old.tbl", "old.rid"), REGSUM("old"))
    UPSERT(KTBL("new.tbl", "new.rid"), KEY("new.tbl", "new.rid"), REGSUM("new"))
    " END;"
    "CREATE TRIGGER regsum_reg_del AFTER DELETE ON reg BEGIN "
    UPSERT(KTBL("old.tbl", "old.rid"), KEY("old.tbl", "old.rid"), REGSUM("old"))
    " END;"
    /* A new rec row: its registers saved so far sit under (tbl, rid). */
    "CREATE TRIGGER regsum_rec_ins AFTER INSERT ON rec"
    " WHEN new.customer IS NOT NULL AND NOT (new.tbl = 'customer' AND"
    " new.customer = new.rid) AND " RECSUM("new.tbl", "new.rid") " IS NOT NULL"
    " BEGIN "
    UPSERT("new.tbl", "new.rid", RECSUM("new.tbl", "new.rid"))
    UPSERT("'customer'", "new.customer", RECSUM("new.tbl", "new.rid"))
    " END;"
    "CREATE TRIGGER regsum_rec_upd AFTER UPDATE ON rec"
    " WHEN (old.customer IS NOT new.customer OR old.tbl <> new.tbl OR"
    " old.rid <> new.rid) AND " RECSUM("new.tbl", "new.rid") " IS NOT NULL"
    " BEGIN "
    UPSERT("CASE WHEN old.customer IS NULL THEN old.tbl ELSE 'customer' END",
           "coalesce(old.customer, old.rid)", RECSUM("new.tbl", "new.rid"))
    UPSERT("CASE WHEN new.customer IS NULL THEN new.tbl ELSE 'customer' END",
           "coalesce(new.customer, new.rid)", RECSUM("new.tbl", "new.rid"))
    " END;"
    "CREATE TRIGGER regsum_rec_del AFTER DELETE ON rec"
    " WHEN old.customer IS NOT NULL AND NOT (old.tbl = 'customer' AND"
    " old.customer = old.rid) AND " RECSUM("old.tbl", "old.rid") " IS NOT NULL"
    " BEGIN "
    UPSERT("'customer'", "old.customer", RECSUM("old.tbl", "old.rid"))
    UPSERT("old.tbl", "old.rid", RECSUM("old.tbl", "old.rid"))
    " END;"
    /* Existing stores: every register under its key, in one pass. */
    "INSERT INTO regsum(ktbl, key, sum)"
    " SELECT CASE WHEN c.customer IS NULL THEN g.tbl ELSE 'customer' END,"
    "  coalesce(c.customer, g.rid),"
    "  fsv_xor_agg(fsv_sum(g.tbl, g.rid, g.field, g.versions))"
    " FROM reg g LEFT JOIN rec c ON c.tbl = g.tbl AND c.rid = g.rid"
    " GROUP BY 1, 2;";

static int has_table(sqlite3 *db, int *has)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master WHERE "
                           "type = 'table' AND name = 'regsum'", -1, &st,
                           NULL) != SQLITE_OK)
        return -1;
    int rc = sqlite3_step(st);
    *has = rc == SQLITE_ROW && sqlite3_column_int(st, 0) > 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

int fsv__store_sums_open(fsv_store *s)
{
    sqlite3 *db = fsv__store_sqlite_db(s);
    if (sqlite3_create_function(db, "fsv_sum", 4,
                                SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
                                sql_sum, NULL, NULL) != SQLITE_OK ||
        sqlite3_create_function(db, "fsv_xor_agg", 1, SQLITE_UTF8, NULL,
                                NULL, agg_step, agg_final) != SQLITE_OK)
        return dberr(s, "checksum functions");
    int has = 0;
    if (has_table(db, &has) != 0)
        return dberr(s, "checksum table");
    if (has)
        return FSV_OK;
    /* Another process may be doing the same: decide under the write lock. */
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return dberr(s, "checksum migration");
    int rc = has_table(db, &has) == 0 ? FSV_OK
                                      : dberr(s, "checksum table");
    if (rc == FSV_OK && !has &&
        sqlite3_exec(db, schema_sql, NULL, NULL, NULL) != SQLITE_OK)
        rc = dberr(s, "checksum migration");
    if (rc == FSV_OK && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = dberr(s, "checksum migration");
    if (rc != FSV_OK)
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

int fsv_store_sum_keys(fsv_store *s, fsv_sum_key **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    sqlite3 *db = fsv__store_sqlite_db(s);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT ktbl, key, sum FROM regsum WHERE "
                           "sum <> 0", -1, &st, NULL) != SQLITE_OK)
        return dberr(s, "reading checksums");
    size_t cap = 0;
    int rc = FSV_OK, step;
    while (rc == FSV_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            size_t ncap = cap ? cap * 2 : 256;
            fsv_sum_key *p = realloc(*out, ncap * sizeof *p);
            if (!p) {
                rc = fsv__store_sums_msg(s, FSV_NOMEM, "out of memory");
                break;
            }
            *out = p;
            cap = ncap;
        }
        fsv_sum_key *k = &(*out)[*n];
        snprintf(k->ktbl, sizeof k->ktbl, "%s", sqlite3_column_text(st, 0));
        snprintf(k->key, sizeof k->key, "%s", sqlite3_column_text(st, 1));
        k->sum = (uint64_t)sqlite3_column_int64(st, 2);
        (*n)++;
    }
    if (rc == FSV_OK && step != SQLITE_DONE)
        rc = dberr(s, "reading checksums");
    sqlite3_finalize(st);
    if (rc != FSV_OK) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

int fsv_store_record_state(fsv_store *s, const char *tbl, const char *rid,
                           fdsp_change **out, size_t *n)
{
    sqlite3 *db = fsv__store_sqlite_db(s);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT field, versions FROM reg WHERE "
                           "tbl = ?1 AND rid = ?2", -1, &st, NULL) != SQLITE_OK)
        return dberr(s, "record state");
    sqlite3_bind_text(st, 1, tbl, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, rid, -1, SQLITE_STATIC);
    size_t cap = *n;    /* may be exactly full: grow before writing */
    int rc = FSV_OK, step;
    while (rc == FSV_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *field = (const char *)sqlite3_column_text(st, 0);
        fds_register reg = {0, NULL};
        if (!field || fds_register_parse((const char *)sqlite3_column_text(st, 1),
                                         &reg) != FDS_OK) {
            char m[256];
            snprintf(m, sizeof m, "store: register %s/%s/%s is corrupt", tbl,
                     rid, field ? field : "?");
            rc = fsv__store_sums_msg(s, FSV_ERROR, m);
            break;
        }
        for (size_t i = 0; rc == FSV_OK && i < reg.n; i++) {
            if (*n == cap) {
                size_t ncap = cap ? cap * 2 : 64;
                fdsp_change *p = realloc(*out, ncap * sizeof *p);
                if (!p) {
                    rc = fsv__store_sums_msg(s, FSV_NOMEM, "out of memory");
                    break;
                }
                *out = p;
                cap = ncap;
            }
            fdsp_change *c = &(*out)[*n];
            *c = reg.v[i];                  /* moved out of the register */
            memset(&reg.v[i], 0, sizeof reg.v[i]);
            free(c->table);
            free(c->record);
            free(c->field);
            c->table = strdup(tbl);
            c->record = strdup(rid);
            c->field = strdup(field);
            c->seq = 0;
            (*n)++;
            if (!c->table || !c->record || !c->field)
                rc = fsv__store_sums_msg(s, FSV_NOMEM, "out of memory");
        }
        fds_register_clear(&reg);
    }
    if (rc == FSV_OK && step != SQLITE_DONE)
        rc = dberr(s, "record state");
    sqlite3_finalize(st);
    return rc;
}
