/*
** recstore.c — record rows in SQLite (schema 4): the handle's record cache,
** the row's read and write, the full scan, the SQL functions over packed
** rows, and the migration from schema 3's register rows.
**
** Schema 3 kept one reg row per field: a 60,000-record replica was 245 MiB,
** the registers alone 1.3 KB a record (the winner's value twice, version
** vectors as JSON text with 36-byte device ids, a B-tree key per field).
** Merging stays per field (fds_merge on fds_register); storage is per
** record: one rec row (internal.h) holding the winners as canonical JSON
** (SQL reads them with json_extract) and the versions packed (recpack.c).
**
** The cache: fds__reg_load / fds__reg_save (regstore.c) work on the
** decoded record in r->rec.  Loading another record first writes the
** cached one back if it is dirty; fds__reg_save writes through unless the
** caller holds the row (r->rec_hold: a local action writing several
** fields, a pulled run of changes to one record), which then flushes once.
** Any transaction level ending (fds__end) flushes and forgets it (a
** rollback undoes the row), and an outermost fds__begin forgets it:
** another process may have written since a read made outside any
** transaction.
*/
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void bind_str(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, (int)strlen(s), SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

void fds__rec_forget(fds_replica *r)
{
    if (r->rec) {
        fds__rec_clear(r->rec);
        free(r->rec);
        r->rec = NULL;
    }
}

/* The winning value of field in rec, NULL if none or null. */
static const char *winner(const fds__rec *rec, const char *field)
{
    const fds__field *f = fds__rec_find(rec, field);
    return f ? f->reg.v[0].value : NULL;
}

int fds__rec_flush(fds_replica *r)
{
    fds__rec *c = r->rec;
    if (c == NULL || !c->dirty)
        return FDS_OK;
    sqlite3_stmt *st;
    int rc;
    if (c->n == 0) {
        st = fds__stmt(r, FDS__ST_REC_DEL,
                       "DELETE FROM rec WHERE tbl = ?1 AND rid = ?2");
        if (st == NULL)
            return fds__errcode(r);
        bind_str(st, 1, c->tbl);
        bind_str(st, 2, c->rid);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            return fds__dberror(r, "removing record");
        c->dirty = 0;
        c->stored = 0;
        return FDS_OK;
    }
    rc = fds__rec_encode(c, &r->rec_vals, &r->rec_meta);
    if (rc == FDS_NOMEM)
        return fds__error(r, rc, "out of memory");
    if (rc != FDS_OK)
        return fds__error(r, FDS_INVALID, "record %s/%s cannot be stored",
                          c->tbl, c->rid);
    /* The cache knows whether the row exists (it read it, or found none):
    ** an INSERT or an UPDATE, not an upsert that probes for the key first.
    ** Should the file say otherwise (a row changed by SQL behind a cache
    ** that was not forgotten), the other statement is tried once. */
    int is_customer = strcmp(c->tbl, "customer") == 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        st = c->stored
            ? fds__stmt(r, FDS__ST_REC_UPD,
                "UPDATE rec SET vals = ?3, meta = ?4, conflict = ?5, "
                "cust = ?6, phone = ?7, wechat = ?8 "
                "WHERE tbl = ?1 AND rid = ?2")
            : fds__stmt(r, FDS__ST_REC_INS,
                "INSERT INTO rec(tbl, rid, vals, meta, conflict, cust, "
                "phone, wechat) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
        if (st == NULL)
            return fds__errcode(r);
        bind_str(st, 1, c->tbl);
        bind_str(st, 2, c->rid);
        sqlite3_bind_text(st, 3, r->rec_vals.p, (int)r->rec_vals.n,
                          SQLITE_STATIC);
        sqlite3_bind_blob(st, 4, r->rec_meta.p, (int)r->rec_meta.n,
                          SQLITE_STATIC);
        sqlite3_bind_int(st, 5, fds__rec_conflicts(c));
        bind_str(st, 6, is_customer ? NULL : winner(c, "customer"));
        bind_str(st, 7, is_customer ? winner(c, "phone") : NULL);
        bind_str(st, 8, is_customer ? winner(c, "wechat") : NULL);
        rc = sqlite3_step(st);
        int missing = c->stored && rc == SQLITE_DONE &&
                      sqlite3_changes(r->db) == 0;
        int present = !c->stored && rc == SQLITE_CONSTRAINT;
        if (rc != SQLITE_DONE && !present)
            break;
        sqlite3_reset(st);
        if (!missing && !present)
            break;
        c->stored = !c->stored;
    }
    if (rc != SQLITE_DONE) {
        rc = fds__dberror(r, "saving record");
        sqlite3_reset(st);
        return rc;
    }
    c->dirty = 0;
    c->stored = 1;
    return FDS_OK;
}

int fds__rec_fetch(fds_replica *r, const char *tbl, const char *rid)
{
    fds__rec *c = r->rec;
    if (c && c->tbl && strcmp(c->tbl, tbl) == 0 && strcmp(c->rid, rid) == 0)
        return FDS_OK;
    int rc = fds__rec_flush(r);
    if (rc != FDS_OK)
        return rc;
    if (c == NULL && (c = r->rec = calloc(1, sizeof *c)) == NULL)
        return fds__error(r, FDS_NOMEM, "out of memory");
    fds__rec_clear(c);
    if ((c->tbl = strdup(tbl)) == NULL || (c->rid = strdup(rid)) == NULL) {
        fds__rec_clear(c);
        return fds__error(r, FDS_NOMEM, "out of memory");
    }
    sqlite3_stmt *st = fds__stmt(r, FDS__ST_REC_GET,
        "SELECT vals, meta FROM rec WHERE tbl = ?1 AND rid = ?2");
    if (st == NULL) {
        fds__rec_clear(c);
        return fds__errcode(r);
    }
    bind_str(st, 1, tbl);
    bind_str(st, 2, rid);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        const char *vals = (const char *)sqlite3_column_text(st, 0);
        size_t vlen = (size_t)sqlite3_column_bytes(st, 0);
        const void *meta = sqlite3_column_blob(st, 1);
        size_t mlen = (size_t)sqlite3_column_bytes(st, 1);
        if (vals == NULL && sqlite3_errcode(r->db) == SQLITE_NOMEM)
            rc = fds__error(r, FDS_NOMEM, "out of memory");
        else
            rc = fds__rec_parse(r, tbl, rid, vals, vlen, meta, mlen, c);
        c->stored = 1;
    } else if (step != SQLITE_DONE) {
        rc = fds__dberror(r, "reading record");
    }
    sqlite3_reset(st);
    if (rc != FDS_OK)
        fds__rec_clear(c);              /* not cached: read again next time */
    return rc;
}

int fds__rec_scan(fds_replica *r, const char *where_sql,
                  int (*fn)(void *ud, const fds__rec *rec), void *ud)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT tbl, rid, vals, meta FROM rec %s "
             "ORDER BY tbl, rid", where_sql ? where_sql : "");
    int rc = fds__rec_flush(r);
    if (rc != FDS_OK)
        return rc;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) != SQLITE_OK)
        return fds__dberror(r, "scanning records");
    int step;
    while (rc == FDS_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
        fds__rec rec;
        memset(&rec, 0, sizeof rec);
        rec.tbl = (char *)sqlite3_column_text(st, 0);
        rec.rid = (char *)sqlite3_column_text(st, 1);
        const char *vals = (const char *)sqlite3_column_text(st, 2);
        size_t vlen = (size_t)sqlite3_column_bytes(st, 2);
        const void *meta = sqlite3_column_blob(st, 3);
        size_t mlen = (size_t)sqlite3_column_bytes(st, 3);
        if (rec.tbl == NULL || rec.rid == NULL) {
            rc = fds__error(r, FDS_NOMEM, "out of memory");
            break;
        }
        rc = fds__rec_parse(r, rec.tbl, rec.rid, vals, vlen, meta, mlen,
                            &rec);
        if (rc == FDS_OK)
            rc = fn(ud, &rec);
        rec.tbl = rec.rid = NULL;       /* the statement's */
        fds__rec_clear(&rec);
    }
    if (rc == FDS_OK && step != SQLITE_DONE)
        rc = fds__dberror(r, "scanning records");
    sqlite3_finalize(st);
    return rc;
}

/* ---- SQL functions ------------------------------------------------------------
** For the few queries that need a field's versions or which fields are in
** conflict (conflicts.c, ids.c through FDS__SQL_CONFLICT_ROWS): decoded in
** C, on rows already narrowed by the rec_conflict index. */

static int decode_args(sqlite3_context *ctx, sqlite3_value **argv,
                       fds__rec *rec)
{
    const char *why = NULL;
    const char *vals = (const char *)sqlite3_value_text(argv[0]);
    size_t vlen = (size_t)sqlite3_value_bytes(argv[0]);
    const void *meta = sqlite3_value_blob(argv[1]);
    size_t mlen = (size_t)sqlite3_value_bytes(argv[1]);
    memset(rec, 0, sizeof *rec);
    int rc = fds__rec_decode(vals, vlen, meta, mlen, rec, &why);
    if (rc == FDS_NOMEM) {
        sqlite3_result_error_nomem(ctx);
    } else if (rc != FDS_OK) {
        char msg[160];
        snprintf(msg, sizeof msg, "a record is corrupt: %s",
                 why ? why : "it does not decode");
        sqlite3_result_error(ctx, msg, -1);
    }
    return rc;
}

static void fn_versions(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    fds__rec rec;
    const char *field = (const char *)sqlite3_value_text(argv[2]);
    if (decode_args(ctx, argv, &rec) != FDS_OK)
        return;
    const fds__field *f = field ? fds__rec_find(&rec, field) : NULL;
    if (f == NULL) {
        sqlite3_result_null(ctx);
    } else {
        char *t = fds__register_dump(&f->reg);
        if (t == NULL)
            sqlite3_result_error_nomem(ctx);
        else
            sqlite3_result_text(ctx, t, -1, free);
    }
    fds__rec_clear(&rec);
}

static void fn_conflict_fields(sqlite3_context *ctx, int argc,
                               sqlite3_value **argv)
{
    (void)argc;
    fds__rec rec;
    if (decode_args(ctx, argv, &rec) != FDS_OK)
        return;
    fds__buf b = {NULL, 0, 0, 0};
    fds__buf_put(&b, "[", 1);
    int first = 1;
    for (size_t i = 0; i < rec.n; i++) {
        if (!fds_register_in_conflict(&rec.f[i].reg))
            continue;
        if (!first)
            fds__buf_put(&b, ",", 1);
        first = 0;
        fds__buf_str(&b, rec.f[i].name);
    }
    fds__buf_put(&b, "]", 1);
    if (b.oom)
        sqlite3_result_error_nomem(ctx);
    else
        sqlite3_result_text(ctx, b.p, (int)b.n, SQLITE_TRANSIENT);
    free(b.p);
    fds__rec_clear(&rec);
}

/* 1 if field is in conflict in the row (0 if absent). */
static void fn_field_conflict(sqlite3_context *ctx, int argc,
                              sqlite3_value **argv)
{
    (void)argc;
    fds__rec rec;
    const char *field = (const char *)sqlite3_value_text(argv[2]);
    if (decode_args(ctx, argv, &rec) != FDS_OK)
        return;
    const fds__field *f = field ? fds__rec_find(&rec, field) : NULL;
    sqlite3_result_int(ctx, f && fds_register_in_conflict(&f->reg));
    fds__rec_clear(&rec);
}

int fds__rec_sql_register(sqlite3 *db)
{
    int rc = sqlite3_create_function_v2(db, "fds_versions", 3,
                                        SQLITE_UTF8 | SQLITE_DETERMINISTIC,
                                        NULL, fn_versions, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_create_function_v2(db, "fds_conflict_fields", 2,
                                        SQLITE_UTF8 | SQLITE_DETERMINISTIC,
                                        NULL, fn_conflict_fields, NULL, NULL,
                                        NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_create_function_v2(db, "fds_field_conflict", 3,
                                        SQLITE_UTF8 | SQLITE_DETERMINISTIC,
                                        NULL, fn_field_conflict, NULL, NULL,
                                        NULL);
    return rc;
}

/* The file's view `reg` (schema.c) lists each record's winners per field
** in plain SQL, so any sqlite3 shell can read it.  The library's own
** connection shadows it with a temporary view of the same name (temp is
** searched first) that also shows each register's canonical versions
** text and conflict flag, the columns of schema 3's reg table, through
** the functions above: for tests and for looking at a replica from a
** debugger.  Nothing in the library reads either view. */
int fds__rec_temp_view(fds_replica *r)
{
    if (sqlite3_exec(r->db,
            "CREATE TEMP VIEW IF NOT EXISTS reg AS SELECT r.tbl AS tbl,"
            " r.rid AS rid, j.key AS field, j.value AS value,"
            " fds_versions(r.vals, r.meta, j.key) AS versions,"
            " CASE WHEN r.conflict = 0 THEN 0"
            " ELSE fds_field_conflict(r.vals, r.meta, j.key) END AS conflict"
            " FROM main.rec r, json_each(r.vals) j", NULL, NULL, NULL)
            != SQLITE_OK)
        return fds__dberror(r, "creating the reg view");
    return FDS_OK;
}

/* ---- Schema 3 -> 4 --------------------------------------------------------------
** Runs inside the migration's transaction (schema.c), after the rec table
** exists.  Every reg row is parsed (a damaged one stops the migration,
** naming it: the file stays at schema 3, nothing is dropped) and the
** registers of each record become one row, encoded as any later write
** would encode them.  Then reg goes; a read-only view of the same name
** shows the winners per field for people with the sqlite3 shell. */

static int put_row(sqlite3_stmt *ins, fds__rec *rec, fds__buf *vals,
                   fds__buf *meta, char *err, size_t errlen)
{
    int rc = fds__rec_encode(rec, vals, meta);
    if (rc != FDS_OK) {
        snprintf(err, errlen, "record %s/%s cannot be stored", rec->tbl,
                 rec->rid);
        return rc;
    }
    int is_customer = strcmp(rec->tbl, "customer") == 0;
    sqlite3_reset(ins);
    bind_str(ins, 1, rec->tbl);
    bind_str(ins, 2, rec->rid);
    sqlite3_bind_text(ins, 3, vals->p, (int)vals->n, SQLITE_STATIC);
    sqlite3_bind_blob(ins, 4, meta->p, (int)meta->n, SQLITE_STATIC);
    sqlite3_bind_int(ins, 5, fds__rec_conflicts(rec));
    bind_str(ins, 6, is_customer ? NULL : winner(rec, "customer"));
    bind_str(ins, 7, is_customer ? winner(rec, "phone") : NULL);
    bind_str(ins, 8, is_customer ? winner(rec, "wechat") : NULL);
    if (sqlite3_step(ins) != SQLITE_DONE) {
        snprintf(err, errlen, "writing record %s/%s: %s", rec->tbl, rec->rid,
                 sqlite3_errmsg(sqlite3_db_handle(ins)));
        return FDS_DB;
    }
    return FDS_OK;
}

int fds__migrate_reg_to_rec(sqlite3 *db, char *err, size_t errlen)
{
    sqlite3_stmt *sel = NULL, *ins = NULL;
    fds__rec rec;
    fds__buf vals = {NULL, 0, 0, 0}, meta = {NULL, 0, 0, 0};
    int rc = FDS_OK, step;
    memset(&rec, 0, sizeof rec);
    if (sqlite3_prepare_v2(db, "SELECT tbl, rid, field, versions FROM reg "
                           "ORDER BY tbl, rid, field", -1, &sel, NULL) ||
        sqlite3_prepare_v2(db, "INSERT INTO rec(tbl, rid, vals, meta, "
                           "conflict, cust, phone, wechat) VALUES(?1, ?2, "
                           "?3, ?4, ?5, ?6, ?7, ?8)", -1, &ins, NULL)) {
        snprintf(err, errlen, "%s", sqlite3_errmsg(db));
        rc = sqlite3_errcode(db) == SQLITE_NOMEM ? FDS_NOMEM : FDS_DB;
        goto done;
    }
    while (rc == FDS_OK && (step = sqlite3_step(sel)) == SQLITE_ROW) {
        const char *tbl = (const char *)sqlite3_column_text(sel, 0);
        const char *rid = (const char *)sqlite3_column_text(sel, 1);
        const char *field = (const char *)sqlite3_column_text(sel, 2);
        const char *versions = (const char *)sqlite3_column_text(sel, 3);
        if (!tbl || !rid || !field) {
            snprintf(err, errlen, "a register row without its key");
            rc = FDS_DB;
            break;
        }
        if (rec.tbl && (strcmp(rec.tbl, tbl) || strcmp(rec.rid, rid))) {
            rc = put_row(ins, &rec, &vals, &meta, err, errlen);
            fds__rec_clear(&rec);
            if (rc != FDS_OK)
                break;
        }
        if (rec.tbl == NULL && (!(rec.tbl = strdup(tbl)) ||
                                !(rec.rid = strdup(rid)))) {
            rc = FDS_NOMEM;
            break;
        }
        fds_register reg = {0, NULL};
        int prc = versions ? fds_register_parse(versions, &reg) : FDS_INVALID;
        if (prc == FDS_OK && reg.n == 0)
            prc = FDS_INVALID;
        for (size_t i = 0; prc == FDS_OK && i < reg.n; i++)
            if (!reg.v[i].device || !reg.v[i].device[0] || !reg.v[i].vv.n)
                prc = FDS_INVALID;
        if (prc == FDS_OK)
            prc = fds__rec_put(&rec, field, &reg);
        fds_register_clear(&reg);
        if (prc != FDS_OK) {
            snprintf(err, errlen, "register %s/%s/%s is corrupt", tbl, rid,
                     field);
            rc = prc == FDS_NOMEM ? FDS_NOMEM : FDS_DB;
        }
    }
    if (rc == FDS_OK && step != SQLITE_DONE) {
        snprintf(err, errlen, "%s", sqlite3_errmsg(db));
        rc = sqlite3_errcode(db) == SQLITE_NOMEM ? FDS_NOMEM : FDS_DB;
    }
    if (rc == FDS_OK && rec.tbl)
        rc = put_row(ins, &rec, &vals, &meta, err, errlen);
done:
    if (rc == FDS_NOMEM)
        snprintf(err, errlen, "out of memory");
    fds__rec_clear(&rec);
    sqlite3_finalize(sel);
    sqlite3_finalize(ins);
    free(vals.p);
    free(meta.p);
    return rc;
}
