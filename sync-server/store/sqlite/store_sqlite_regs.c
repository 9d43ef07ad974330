/*
** store_sqlite_regs.c — registers packed one row per record
** (docs/internals/server.md, "Registers: one row per record"): the name
** dictionary, decoding a rec row, a register's checksum, and the schema
** 2 -> 3 migration from the `reg` table (one row per field).
**
**   rec(tbl, rid, customer, creator, vals, regs, conflicts, sum)
**       vals, regs: regpack.h; conflicts: how many fields are in conflict
**       (rec_conflicts indexes the few records with any); sum: XOR of
**       fdsp_sum_register over its fields, the record's share of its key's
**       checksum (store_sqlite_sums.c), so moving a record between keys
**       needs no decoding
**   regdict(id INTEGER PRIMARY KEY, name UNIQUE)  device ids and user
**       names as small integers: a version names two (device, user) and
**       each vector entry one; a 36-byte UUID becomes one or two bytes
**   reg  a VIEW (tbl, rid, field, value) over rec's vals, for people
**       reading the file with the sqlite3 shell
** The dictionary only grows; ids are never reused, so a cached id -> name
** stays true for every transaction that committed it.  The cache is
** dropped on rollback (an id made in a rolled-back transaction may be
** given to another name later).
*/
#include "store.h"
#include "store_sqlite_int.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- The dictionary --------------------------------------------------------- */

typedef struct rdict {
    char **by_id;           /* by_id[id], NULL if not cached */
    size_t n_id;            /* entries of by_id */
    uint32_t *slot;         /* open addressing: id, 0 = empty */
    size_t cap, used;       /* cap a power of two */
} rdict;

enum { XR_DICT_ID = 28, XR_DICT_NAME, XR_DICT_ADD, XR__END };
static const char *const xr_sql[XR__END] = {
    [XR_DICT_ID] = "SELECT id FROM regdict WHERE name=?1",
    [XR_DICT_NAME] = "SELECT name FROM regdict WHERE id=?1",
    [XR_DICT_ADD] = "INSERT INTO regdict(name) VALUES (?1)",
};
_Static_assert(XR__END <= FSV__XST_MAX, "statement slots");

static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static rdict *dict(fsv_store *s)
{
    if (!SQ(s)->dict)
        SQ(s)->dict = calloc(1, sizeof(rdict));
    return SQ(s)->dict;
}

void fsv__sq_dict_clear(fsv_store *s)
{
    rdict *d = SQ(s)->dict;
    if (!d)
        return;
    for (size_t i = 0; i < d->n_id; i++)
        free(d->by_id[i]);
    free(d->by_id);
    free(d->slot);
    memset(d, 0, sizeof *d);
}

void fsv__sq_dict_free(fsv_store *s)
{
    fsv__sq_dict_clear(s);
    free(SQ(s)->dict);
    SQ(s)->dict = NULL;
}

/* Cache (id, name); 0 out of memory. */
static int dict_put(rdict *d, uint64_t id, const char *name)
{
    if (id > UINT32_MAX)
        return 0;
    if (id >= d->n_id) {
        size_t n = d->n_id ? d->n_id : 64;
        while (n <= id)
            n *= 2;
        char **v = realloc(d->by_id, n * sizeof *v);
        if (!v)
            return 0;
        memset(v + d->n_id, 0, (n - d->n_id) * sizeof *v);
        d->by_id = v;
        d->n_id = n;
    }
    if (d->by_id[id])
        return 1;
    if (2 * (d->used + 1) > d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 256;
        uint32_t *sl = calloc(cap, sizeof *sl);
        if (!sl)
            return 0;
        for (size_t i = 0; i < d->cap; i++) {
            if (!d->slot[i])
                continue;
            size_t j = name_hash(d->by_id[d->slot[i]]) & (cap - 1);
            while (sl[j])
                j = (j + 1) & (cap - 1);
            sl[j] = d->slot[i];
        }
        free(d->slot);
        d->slot = sl;
        d->cap = cap;
    }
    if (!(d->by_id[id] = strdup(name)))
        return 0;
    size_t j = name_hash(name) & (d->cap - 1);
    while (d->slot[j])
        j = (j + 1) & (d->cap - 1);
    d->slot[j] = (uint32_t)id;
    d->used++;
    return 1;
}

static int dict_intern(void *ud, const char *name, uint64_t *id)
{
    fsv_store *s = ud;
    rdict *d = dict(s);
    if (!d) {
        seterr(s, FSV_NOMEM, "out of memory");
        return FSV_RP_DICT;
    }
    if (d->cap) {
        size_t j = name_hash(name) & (d->cap - 1);
        for (; d->slot[j]; j = (j + 1) & (d->cap - 1))
            if (strcmp(d->by_id[d->slot[j]], name) == 0) {
                *id = d->slot[j];
                return FSV_RP_OK;
            }
    }
    sqlite3_stmt *st = fsv__store_prepared(s, XR_DICT_ID, xr_sql[XR_DICT_ID]);
    if (!st)
        return FSV_RP_DICT;
    bind_static(st, 1, name);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *id = (uint64_t)sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
    } else {
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) {
            dberr(s, "name dictionary");
            return FSV_RP_DICT;
        }
        st = fsv__store_prepared(s, XR_DICT_ADD, xr_sql[XR_DICT_ADD]);
        if (!st)
            return FSV_RP_DICT;
        bind_static(st, 1, name);
        if (step_done(s, st, "name dictionary") != FSV_OK)
            return FSV_RP_DICT;
        *id = (uint64_t)sqlite3_last_insert_rowid(SQ(s)->db);
    }
    if (!dict_put(d, *id, name)) {
        seterr(s, FSV_NOMEM, "out of memory");
        return FSV_RP_DICT;
    }
    return FSV_RP_OK;
}

static const char *dict_lookup(void *ud, uint64_t id)
{
    fsv_store *s = ud;
    rdict *d = dict(s);
    if (!d)
        return NULL;
    if (id < d->n_id && d->by_id[id])
        return d->by_id[id];
    if (id > INT64_MAX)
        return NULL;
    sqlite3_stmt *st = fsv__store_prepared(s, XR_DICT_NAME, xr_sql[XR_DICT_NAME]);
    if (!st)
        return NULL;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)id);
    const char *out = NULL;
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        if (name && dict_put(d, id, name))
            out = d->by_id[id];
    }
    sqlite3_reset(st);
    return out;
}

void fsv__sq_dict_of(fsv_store *s, fsv_regpack_dict *d)
{
    d->intern = dict_intern;
    d->lookup = dict_lookup;
    d->ud = s;
}

/* ---- Reading rows ------------------------------------------------------------ */

int fsv__sq_regs_decode(fsv_store *s, const char *tbl, const char *rid,
                        sqlite3_stmt *st, int col, fsv_regpack_field **out,
                        size_t *n)
{
    const char *vals = (const char *)sqlite3_column_text(st, col);
    size_t vlen = (size_t)sqlite3_column_bytes(st, col);
    const unsigned char *blob = sqlite3_column_blob(st, col + 1);
    size_t blen = (size_t)sqlite3_column_bytes(st, col + 1);
    fsv_regpack_dict d;
    char why[160];
    fsv__sq_dict_of(s, &d);
    int rc = fsv_regpack_decode(vals, vlen, blob, blen, &d, out, n, why,
                                sizeof why);
    if (rc == FSV_RP_OK)
        return FSV_OK;
    if (rc == FSV_RP_NOMEM)
        return seterr(s, FSV_NOMEM, "out of memory");
    return seterr(s, FSV_ERROR, "store: the registers of record %s/%s are"
                  " damaged: %s", tbl, rid, why);
}

int fsv__sq_append_versions(fsv_store *s, sqlite3_stmt *st,
                            fdsp_change **out, size_t *n, size_t *cap)
{
    const char *tbl = (const char *)sqlite3_column_text(st, 0);
    const char *rid = (const char *)sqlite3_column_text(st, 1);
    if (!tbl || !rid)
        return seterr(s, FSV_ERROR, "store: a record without its id");
    if (sqlite3_column_type(st, 2) == SQLITE_NULL)
        return FSV_OK;      /* no registers yet */
    fsv_regpack_field *f = NULL;
    size_t nf = 0;
    int rc = fsv__sq_regs_decode(s, tbl, rid, st, 2, &f, &nf);
    for (size_t i = 0; rc == FSV_OK && i < nf; i++) {
        fds_register *reg = &f[i].reg;
        for (size_t k = 0; k < reg->n && rc == FSV_OK; k++) {
            if (*n == *cap) {
                size_t ncap = *cap ? *cap * 2 : 64;
                fdsp_change *p = realloc(*out, ncap * sizeof *p);
                if (!p) {
                    rc = seterr(s, FSV_NOMEM, "out of memory");
                    break;
                }
                *out = p;
                *cap = ncap;
            }
            /* Move the version out of the register into the array. */
            fdsp_change *c = &(*out)[*n];
            *c = reg->v[k];
            memset(&reg->v[k], 0, sizeof reg->v[k]);
            c->table = strdup(tbl);
            c->record = strdup(rid);
            c->field = strdup(f[i].name);
            c->seq = 0;
            (*n)++;
            if (!c->table || !c->record || !c->field)
                rc = seterr(s, FSV_NOMEM, "out of memory");
        }
    }
    fsv_regpack_free(f, nf);
    return rc;
}

uint64_t fsv__sq_reg_sum(fsv_store *s, const char *tbl, const char *rid,
                         const char *field, const fds_register *reg, int *ok)
{
    *ok = 1;
    if (!reg->n)
        return 0;
    char *txt = fds_register_dump(reg);     /* the canonical bytes */
    if (!txt) {
        *ok = 0;
        seterr(s, FSV_NOMEM, "out of memory");
        return 0;
    }
    uint64_t h = fdsp_sum_register(tbl, rid, field, txt, strlen(txt));
    free(txt);
    return h;
}

/* ---- Schema 2 -> 3 ------------------------------------------------------------- */

static int exec(fsv_store *s, const char *sql, const char *what)
{
    char *msg = NULL;
    if (sqlite3_exec(SQ(s)->db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return FSV_OK;
    int rc = seterr(s, FSV_ERROR, "store: %s: %s", what,
                    msg ? msg : sqlite3_errmsg(SQ(s)->db));
    sqlite3_free(msg);
    return rc;
}

static int has_reg_table(fsv_store *s, int *has)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(SQ(s)->db, "SELECT count(*) FROM sqlite_master"
                           " WHERE type='table' AND name='reg'", -1, &st,
                           NULL) != SQLITE_OK)
        return dberr(s, "schema");
    int rc = sqlite3_step(st);
    *has = rc == SQLITE_ROW && sqlite3_column_int(st, 0) > 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? FSV_OK : dberr(s, "schema");
}

/* Write one migrated record (f[0..n) of tbl/rid, sum) into rec. */
static int put_record(fsv_store *s, sqlite3_stmt *up, sqlite3_stmt *ins,
                      const char *tbl, const char *rid,
                      fsv_regpack_field *f, size_t n, uint64_t sum)
{
    fsv_regpack_dict d;
    char *vals = NULL;
    unsigned char *blob = NULL;
    size_t len = 0;
    int conflicts = 0;
    fsv__sq_dict_of(s, &d);
    int rc = fsv_regpack_encode(f, n, &d, &vals, &blob, &len, &conflicts);
    if (rc == FSV_RP_NOMEM)
        return seterr(s, FSV_NOMEM, "out of memory");
    if (rc != FSV_RP_OK)
        return rc == FSV_RP_DICT ? FSV_ERROR
             : seterr(s, FSV_ERROR, "store: migrating record %s/%s: its"
                      " registers cannot be packed", tbl, rid);
    for (int pass = 0; pass < 2; pass++) {
        /* The record index has every record a merge wrote; a register
        ** without one (never made by this server) gets an entry. */
        sqlite3_stmt *st = pass ? ins : up;
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, tbl, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, rid, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, vals, -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 4, blob, (int)len, SQLITE_STATIC);
        sqlite3_bind_int(st, 5, conflicts);
        sqlite3_bind_int64(st, 6, (sqlite3_int64)sum);
        if (sqlite3_step(st) != SQLITE_DONE) {
            rc = dberr(s, "migrate registers");
            break;
        }
        if (sqlite3_changes(SQ(s)->db) > 0)
            break;
    }
    sqlite3_reset(up);
    sqlite3_reset(ins);
    free(vals);
    free(blob);
    return rc;
}

/* Every reg row into its record's rec row, in one pass in key order. */
static int migrate_regs(fsv_store *s)
{
    static const char *const cols =
        "ALTER TABLE rec ADD COLUMN vals TEXT;"
        "ALTER TABLE rec ADD COLUMN regs BLOB;"
        "ALTER TABLE rec ADD COLUMN conflicts INTEGER NOT NULL DEFAULT 0;"
        "ALTER TABLE rec ADD COLUMN sum INTEGER NOT NULL DEFAULT 0;";
    /* The checksum triggers of schema 2 went with reg: the sums are kept
    ** in C now (store_sqlite_merge.c), and the table's values stay right
    ** (the same registers under the same keys). */
    static const char *const drop_triggers =
        "DROP TRIGGER IF EXISTS regsum_reg_ins;"
        "DROP TRIGGER IF EXISTS regsum_reg_upd;"
        "DROP TRIGGER IF EXISTS regsum_reg_move;"
        "DROP TRIGGER IF EXISTS regsum_reg_del;"
        "DROP TRIGGER IF EXISTS regsum_rec_ins;"
        "DROP TRIGGER IF EXISTS regsum_rec_upd;"
        "DROP TRIGGER IF EXISTS regsum_rec_del;";
    int rc = exec(s, drop_triggers, "migrate registers");
    if (rc != FSV_OK)
        return rc;
    /* rec may already have the columns (a migration that stopped between
    ** statements cannot: it is one transaction; but be safe). */
    sqlite3_stmt *probe = NULL;
    int have = sqlite3_prepare_v2(SQ(s)->db, "SELECT vals FROM rec LIMIT 0",
                                  -1, &probe, NULL) == SQLITE_OK;
    sqlite3_finalize(probe);
    if (!have && (rc = exec(s, cols, "migrate registers")) != FSV_OK)
        return rc;
    sqlite3_stmt *rd = NULL, *up = NULL, *ins = NULL;
    if (sqlite3_prepare_v2(SQ(s)->db, "SELECT tbl, rid, field, versions"
                           " FROM reg ORDER BY tbl, rid, field", -1, &rd,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(SQ(s)->db, "UPDATE rec SET vals=?3, regs=?4,"
                           " conflicts=?5, sum=?6 WHERE tbl=?1 AND rid=?2",
                           -1, &up, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(SQ(s)->db, "INSERT INTO rec(tbl, rid, customer,"
                           " creator, vals, regs, conflicts, sum) VALUES"
                           " (?1, ?2, CASE WHEN ?1='customer' THEN ?2 END,"
                           " '', ?3, ?4, ?5, ?6)", -1, &ins, NULL) != SQLITE_OK) {
        rc = dberr(s, "migrate registers");
        goto out;
    }
    fsv_regpack_field *f = NULL;
    size_t n = 0, cap = 0;
    char tbl[FDSP_MAX_NAME + 1] = "", rid[FDSP_MAX_ID + 1] = "";
    uint64_t sum = 0;
    int step;
    while (rc == FSV_OK && (step = sqlite3_step(rd)) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(rd, 0);
        const char *r = (const char *)sqlite3_column_text(rd, 1);
        const char *fl = (const char *)sqlite3_column_text(rd, 2);
        const char *v = (const char *)sqlite3_column_text(rd, 3);
        if (!t || !r || !fl || !v || strlen(t) > FDSP_MAX_NAME ||
            strlen(r) > FDSP_MAX_ID) {
            rc = seterr(s, FSV_ERROR, "store: migrating registers: a damaged"
                        " row in reg (%s/%s)", t ? t : "?", r ? r : "?");
            break;
        }
        if (n && (strcmp(t, tbl) != 0 || strcmp(r, rid) != 0)) {
            rc = put_record(s, up, ins, tbl, rid, f, n, sum);
            for (size_t i = 0; i < n; i++) {
                free(f[i].name);
                fds_register_clear(&f[i].reg);
            }
            n = 0;
            sum = 0;
            if (rc != FSV_OK)
                break;
        }
        snprintf(tbl, sizeof tbl, "%s", t);
        snprintf(rid, sizeof rid, "%s", r);
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            fsv_regpack_field *p = realloc(f, nc * sizeof *p);
            if (!p) {
                rc = seterr(s, FSV_NOMEM, "out of memory");
                break;
            }
            f = p;
            cap = nc;
        }
        f[n].reg.n = 0;
        f[n].reg.v = NULL;
        if (!(f[n].name = strdup(fl))) {
            rc = seterr(s, FSV_NOMEM, "out of memory");
            break;
        }
        n++;
        int prc = fds_register_parse(v, &f[n - 1].reg);
        if (prc == FDS_NOMEM) {
            rc = seterr(s, FSV_NOMEM, "out of memory");
        } else if (prc != FDS_OK || f[n - 1].reg.n == 0) {
            rc = seterr(s, FSV_ERROR, "store: migrating registers: register"
                        " %s/%s/%s is corrupt", t, r, fl);
        } else {
            /* The stored text is the canonical one the sums were made of. */
            sum ^= fdsp_sum_register(t, r, fl, v, strlen(v));
        }
    }
    if (rc == FSV_OK && step != SQLITE_DONE)
        rc = dberr(s, "migrate registers");
    if (rc == FSV_OK && n)
        rc = put_record(s, up, ins, tbl, rid, f, n, sum);
    for (size_t i = 0; i < n; i++) {
        free(f[i].name);
        fds_register_clear(&f[i].reg);
    }
    free(f);
out:
    sqlite3_finalize(rd);
    sqlite3_finalize(up);
    sqlite3_finalize(ins);
    if (rc == FSV_OK)
        rc = exec(s, "DROP TABLE reg; UPDATE meta SET value='3' WHERE"
                     " key='schema';", "migrate registers");
    return rc;
}

int fsv__sq_regs_open(fsv_store *s)
{
    int has = 0, rc = has_reg_table(s, &has);
    if (rc != FSV_OK)
        return rc;
    if (has) {
        /* Another process may be opening the same store: decide again
        ** under the write lock.  One transaction: all or nothing. */
        if ((rc = exec(s, "BEGIN IMMEDIATE", "migrate registers")) != FSV_OK)
            return rc;
        rc = has_reg_table(s, &has);
        if (rc == FSV_OK && has)
            rc = migrate_regs(s);
        if (rc == FSV_OK)
            rc = exec(s, "COMMIT", "migrate registers");
        if (rc != FSV_OK) {
            char keep[sizeof s->errmsg];
            memcpy(keep, s->errmsg, sizeof keep);
            sqlite3_exec(SQ(s)->db, "ROLLBACK", NULL, NULL, NULL);
            memcpy(s->errmsg, keep, sizeof keep);
            fsv__sq_dict_clear(s);
            return rc;
        }
    }
    /* Open conflicts are few: a partial index finds them at once. */
    return exec(s, "CREATE INDEX IF NOT EXISTS rec_conflicts ON rec(tbl, rid)"
                   " WHERE conflicts > 0;"
                   "CREATE VIEW IF NOT EXISTS reg AS SELECT r.tbl AS tbl,"
                   " r.rid AS rid, j.key AS field, j.value AS value"
                   " FROM rec r, json_each(r.vals) j;", "schema");
}
