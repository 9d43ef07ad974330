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
** The merge keeps it (store_sqlite_merge.c): a merged register's old
** checksum XORed out of its key and the new one in (the key as the
** record's memo has it at that moment), and a record's whole checksum
** (rec.sum) moved when its customer link is set or moves.  Schema 2 kept
** it with SQL triggers on reg and rec, one trigger program per register
** write; with registers packed one row per record (store_sqlite_regs.c)
** the merge has both registers in hand, and the migration drops them.
**
** Deltas are not written to regsum as they come: an upsert per merged
** change nearly doubled a merge's cost (measured: 12 -> 21 us).  They go
** through fsv__store_sums_note into a per-key map in memory;
** fsv_store_commit calls fsv__store_sums_flush just before COMMIT, one
** upsert per key the transaction touched (a batch of 500 changes on 100
** customers: 100 upserts).  A rollback clears the map (rollback hook).  A
** commit with deltas not flushed (a path that commits some other way) is
** refused by the commit hook, so the table never silently drifts from
** the registers: that path fails loudly instead.
**
** A store made before this table existed gets it filled at open from
** rec.sum, in one transaction.
*/
#include "store.h"
#include "store_sqlite_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* dberr (store_sqlite_int.h): "store: WHAT: <SQLite's message>". */

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

/* The deltas of the open transaction, by key (open addressing). */
typedef struct acc_entry {
    char ktbl[FDSP_MAX_NAME + 1];
    char key[FDSP_MAX_ID + 1];
    uint64_t delta;
    int used;
} acc_entry;

typedef struct sums_acc {
    acc_entry *e;
    size_t n, cap;          /* cap a power of two, or 0 */
    int oom;                /* a delta was lost: the commit is refused */
} sums_acc;

static size_t acc_hash(const char *a, const char *b)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *a; a++)
        h = (h ^ (unsigned char)*a) * 1099511628211ULL;
    h = (h ^ 0xff) * 1099511628211ULL;
    for (; *b; b++)
        h = (h ^ (unsigned char)*b) * 1099511628211ULL;
    return (size_t)h;
}

static acc_entry *acc_slot(acc_entry *e, size_t cap, const char *ktbl,
                           const char *key)
{
    size_t i = acc_hash(ktbl, key) & (cap - 1);
    while (e[i].used && (strcmp(e[i].ktbl, ktbl) != 0 ||
                         strcmp(e[i].key, key) != 0))
        i = (i + 1) & (cap - 1);
    return &e[i];
}

static int acc_add(sums_acc *a, const char *ktbl, const char *key,
                   uint64_t delta)
{
    if (strlen(ktbl) > FDSP_MAX_NAME || strlen(key) > FDSP_MAX_ID)
        return -1;
    if (2 * (a->n + 1) > a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 256;
        acc_entry *e = calloc(cap, sizeof *e);
        if (!e)
            return -1;
        for (size_t i = 0; i < a->cap; i++)
            if (a->e[i].used)
                *acc_slot(e, cap, a->e[i].ktbl, a->e[i].key) = a->e[i];
        free(a->e);
        a->e = e;
        a->cap = cap;
    }
    acc_entry *x = acc_slot(a->e, a->cap, ktbl, key);
    if (!x->used) {
        memcpy(x->ktbl, ktbl, strlen(ktbl) + 1);
        memcpy(x->key, key, strlen(key) + 1);
        x->used = 1;
        x->delta = 0;
        a->n++;
    }
    x->delta ^= delta;
    return 0;
}

static void acc_clear(sums_acc *a)
{
    if (a->n)
        memset(a->e, 0, a->cap * sizeof *a->e);
    a->n = 0;
    a->oom = 0;
}

static void acc_free(void *p)
{
    sums_acc *a = p;
    if (a) {
        free(a->e);
        free(a);
    }
}

/* fsv_sum_add(ktbl, key, delta): note delta for the key (NULL delta: no
** registers, nothing to note).  Returns NULL. */
static void sql_sum_add(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    sums_acc *a = sqlite3_user_data(ctx);
    const char *ktbl = (const char *)sqlite3_value_text(argv[0]);
    const char *key = (const char *)sqlite3_value_text(argv[1]);
    if (sqlite3_value_type(argv[2]) == SQLITE_NULL)
        return;
    if (!ktbl || !key ||
        acc_add(a, ktbl, key, (uint64_t)sqlite3_value_int64(argv[2])) != 0) {
        a->oom = 1;
        sqlite3_result_error(ctx, "checksum: cannot note a register", -1);
    }
}

static int on_commit(void *p)
{
    sums_acc *a = p;
    return a->n != 0 || a->oom;     /* non-zero: the commit becomes a rollback */
}

static void on_rollback(void *p)
{
    acc_clear(p);
}

/* fsv_xor(a, b): a XOR b (SQLite has no ^ operator). */
static void sql_xor(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    sqlite3_result_int64(ctx, sqlite3_value_int64(argv[0]) ^
                              sqlite3_value_int64(argv[1]));
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

static const char *const schema_sql =
    "CREATE TABLE regsum(ktbl TEXT NOT NULL, key TEXT NOT NULL,"
    "  sum INTEGER NOT NULL, PRIMARY KEY (ktbl, key)) WITHOUT ROWID;"
    /* Existing stores: every record under its key, in one pass. */
    "INSERT INTO regsum(ktbl, key, sum)"
    " SELECT CASE WHEN customer IS NULL THEN tbl ELSE 'customer' END,"
    "  coalesce(customer, rid), fsv_xor_agg(sum)"
    " FROM rec GROUP BY 1, 2 HAVING fsv_xor_agg(sum) <> 0;";

int fsv__store_sums_note(fsv_store *s, const char *ktbl, const char *key,
                         uint64_t delta)
{
    sums_acc *a = *fsv__store_sums_slot(s);
    if (!a)
        return FSV_OK;      /* no checksum table on this handle yet */
    if (acc_add(a, ktbl, key, delta) != 0) {
        a->oom = 1;
        return fsv__store_sums_msg(s, FSV_NOMEM, "store: checksum: out of"
                                   " memory");
    }
    return FSV_OK;
}

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
    sums_acc *a = calloc(1, sizeof *a);
    if (!a)
        return fsv__store_sums_msg(s, FSV_NOMEM, "out of memory");
    /* SQLite owns a from here: acc_free runs when the connection closes
    ** (and at once if registering fails). */
    if (sqlite3_create_function_v2(db, "fsv_sum_add", 3, SQLITE_UTF8, a,
                                   sql_sum_add, NULL, NULL, acc_free)
        != SQLITE_OK)
        return dberr(s, "checksum functions");
    *fsv__store_sums_slot(s) = a;
    sqlite3_commit_hook(db, on_commit, a);
    sqlite3_rollback_hook(db, on_rollback, a);
    if (sqlite3_create_function(db, "fsv_sum", 4,
                                SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
                                sql_sum, NULL, NULL) != SQLITE_OK ||
        sqlite3_create_function(db, "fsv_xor", 2,
                                SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
                                sql_xor, NULL, NULL) != SQLITE_OK ||
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

int fsv__store_sums_flush(fsv_store *s)
{
    sums_acc *a = *fsv__store_sums_slot(s);
    if (!a || (a->n == 0 && !a->oom))
        return FSV_OK;
    if (a->oom)
        return fsv__store_sums_msg(s, FSV_NOMEM, "store: checksum: out of "
                                   "memory");
    sqlite3 *db = fsv__store_sqlite_db(s);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v3(db, "INSERT INTO regsum(ktbl, key, sum) VALUES"
                           " (?1, ?2, ?3) ON CONFLICT(ktbl, key) DO UPDATE"
                           " SET sum = fsv_xor(sum, excluded.sum)", -1,
                           0, &st, NULL) != SQLITE_OK)
        return dberr(s, "checksum flush");
    int rc = FSV_OK;
    for (size_t i = 0; rc == FSV_OK && i < a->cap; i++) {
        const acc_entry *e = &a->e[i];
        if (!e->used || e->delta == 0)
            continue;
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, e->ktbl, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, e->key, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)e->delta);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = dberr(s, "checksum flush");
    }
    sqlite3_finalize(st);
    if (rc == FSV_OK)
        acc_clear(a);
    return rc;
}

int fsv_sqlite_sum_keys(fsv_store *s, fsv_sum_key **out, size_t *n)
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

int fsv_sqlite_record_state(fsv_store *s, const char *tbl, const char *rid,
                           fdsp_change **out, size_t *n)
{
    sqlite3 *db = fsv__store_sqlite_db(s);
    sqlite3_stmt *st = NULL;
    int rc = fsv__sq_regs_flush(s);    /* this transaction's merges */
    if (rc != FSV_OK)
        return rc;
    if (sqlite3_prepare_v2(db, "SELECT tbl, rid, vals, regs FROM rec"
                           " WHERE tbl = ?1 AND rid = ?2", -1, &st,
                           NULL) != SQLITE_OK)
        return dberr(s, "record state");
    sqlite3_bind_text(st, 1, tbl, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, rid, -1, SQLITE_STATIC);
    size_t cap = *n;    /* may be exactly full: grow before writing */
    int step;
    while (rc == FSV_OK && (step = sqlite3_step(st)) == SQLITE_ROW)
        rc = fsv__sq_append_versions(s, st, out, n, &cap);
    if (rc == FSV_OK && step != SQLITE_DONE)
        rc = dberr(s, "record state");
    sqlite3_finalize(st);
    return rc;
}
