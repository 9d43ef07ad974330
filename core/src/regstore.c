/*
** regstore.c — field registers in SQLite: local writes, remote applies,
** reads, purges.
**
** Registers merge per field (fds_merge) but are stored per record: one
** rec row holds every field's register (schema 4; recpack.c encodes it,
** recstore.c reads, caches and writes it).  fds__reg_load / fds__reg_save
** work on the handle's cached record, so the fields of one action or of
** one pulled run of changes cost one row read and one row write.  The
** canonical text of a register (fds_register_to_json, compact, sorted
** keys) is still what checksums and conflicts see.  Every change that takes effect is
** also appended to the log in the same transaction: origin 1 rows not yet
** acked are the outbox; origin 0 rows are what we received.
**
** Received changes that merge as NOOP (already seen or superseded) are NOT
** logged: the log, and so the history built from it, shows what took
** effect here; the server's log is the complete record (rule 9).
*/
#include "internal.h"
#include "grouplog.h"

#include <stdlib.h>
#include <string.h>

static int check_name(fds_replica *r, const char *what, const char *s,
                      size_t max)
{
    if (s == NULL || s[0] == '\0')
        return fds__error(r, FDS_INVALID, "%s is empty", what);
    if (strlen(s) > max)
        return fds__error(r, FDS_TOOBIG, "%s is longer than %zu bytes",
                          what, max);
    return FDS_OK;
}

/* Reject what the wire codec would refuse: over-long or non-UTF-8 values. */
static int check_value(fds_replica *r, const char *field, const char *value)
{
    if (value == NULL)
        return FDS_OK;
    size_t n = strlen(value);
    if (n > FDSP_MAX_VALUE)
        return fds__error(r, FDS_TOOBIG,
                          "value of %s is %zu bytes, over the limit of %d",
                          field, n, FDSP_MAX_VALUE);
    if (!fds__utf8_valid(value, n))         /* what json_stringn refuses */
        return fds__error(r, FDS_INVALID, "value of %s is not valid UTF-8",
                          field);
    return FDS_OK;
}

/* A stored register's versions (issue 10): the text must parse and be a
** register a replica can hold: at least one version (a register row is
** only ever written with one), each naming its device and with a
** non-empty vector.  Anything else is damage done behind the core's back;
** reading it as empty would let the next write or merge overwrite it, so
** it is an error naming the register.  *out is cleared on failure. */
int fds__reg_parse(fds_replica *r, const char *tbl, const char *rid,
                   const char *field, const char *text, fds_register *out)
{
    int rc = fds_register_parse(text, out);
    if (rc == FDS_NOMEM)
        return fds__error(r, rc, "out of memory");
    if (rc != FDS_OK)
        return fds__error(r, FDS_DB, "register %s/%s/%s is corrupt: its "
                          "versions are %s", tbl, rid, field,
                          text ? "not a valid register" : "missing");
    const char *why = out->n == 0 ? "an empty list" : NULL;
    for (size_t i = 0; why == NULL && i < out->n; i++) {
        const fdsp_change *v = &out->v[i];
        if (v->device == NULL || v->device[0] == '\0')
            why = "a version without its device";
        else if (v->vv.n == 0)
            why = "a version with an empty vector";
    }
    if (why != NULL) {
        fds_register_clear(out);
        return fds__error(r, FDS_DB, "register %s/%s/%s is corrupt: its "
                          "versions are %s", tbl, rid, field, why);
    }
    return FDS_OK;
}

int fds__reg_load(fds_replica *r, const char *tbl, const char *rid,
                  const char *field, fds_register *out)
{
    out->n = 0;
    out->v = NULL;
    int rc = fds__rec_fetch(r, tbl, rid);
    if (rc != FDS_OK)
        return rc;
    const fds__field *f = fds__rec_find(r->rec, field);
    if (f && fds__reg_copy(out, &f->reg) != FDS_OK)
        return fds__error(r, FDS_NOMEM, "out of memory");
    return FDS_OK;
}

/* Bind text with its length known (saves SQLite a strlen). */
static void bind_str(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, (int)strlen(s), SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

int fds__reg_save(fds_replica *r, const char *tbl, const char *rid,
                  const char *field, const fds_register *reg)
{
    int rc = fds__rec_fetch(r, tbl, rid);
    if (rc != FDS_OK)
        return rc;
    fds_register copy = {0, NULL};
    if (reg->n == 0) {
        fds__rec_del(r->rec, field);
    } else if (fds__reg_copy(&copy, reg) != FDS_OK ||
               fds__rec_put(r->rec, field, &copy) != FDS_OK) {
        fds_register_clear(&copy);
        fds__rec_forget(r);             /* half-changed: read it again */
        return fds__error(r, FDS_NOMEM, "out of memory");
    }
    r->rec->dirty = 1;
    /* Written through unless the caller holds the row (several fields of
    ** one record in a row: it flushes once at the end). */
    return r->rec_hold > 0 ? FDS_OK : fds__rec_flush(r);
}

int fds__reg_save_move(fds_replica *r, const char *tbl, const char *rid,
                       const char *field, fds_register *reg)
{
    int rc = fds__rec_fetch(r, tbl, rid);
    if (rc != FDS_OK) {
        fds_register_clear(reg);
        return rc;
    }
    if (reg->n == 0) {
        fds__rec_del(r->rec, field);
        fds_register_clear(reg);
    } else if (fds__rec_put(r->rec, field, reg) != FDS_OK) {
        fds_register_clear(reg);
        fds__rec_forget(r);             /* as fds__reg_save */
        return fds__error(r, FDS_NOMEM, "out of memory");
    }
    r->rec->dirty = 1;
    return r->rec_hold > 0 ? FDS_OK : fds__rec_flush(r);
}

/* Append one change to the log: to the pending change group, written as
** one row when the action's savepoint ends (grouplog.c). */
static int log_add(fds_replica *r, const char *tbl, const char *rid,
                   const char *field, const fdsp_change *c, int origin,
                   int64_t sseq, int64_t at_ms)
{
    return fds__glog_add(r, tbl, rid, field, c, origin, sseq, at_ms);
}

/* The counter and hlc are cached in the handle.  Another process may have
** written this replica since the handle last looked (the CLI editing
** beside a running `sync --watch`): once per outermost transaction, before
** the first local write takes a counter, take the stored ones if they are
** ahead, so no counter is used twice (issue 10).  Read in the write's own
** transaction, which has already read (and will write) the replica, so a
** writer committing after this read makes ours fail busy instead of
** racing it. */
static int clock_refresh(fds_replica *r)
{
    int64_t v = 0;
    if (r->clock_checked)
        return FDS_OK;
    int rc = fds__meta_get_i64(r, "counter", 0, &v);
    if (rc == FDS_OK && (uint64_t)v > r->counter)
        r->counter = (uint64_t)v;
    if (rc == FDS_OK)
        rc = fds__meta_get_i64(r, "hlc", 0, &v);
    if (rc == FDS_OK && (uint64_t)v > r->hlc)
        r->hlc = (uint64_t)v;
    if (rc == FDS_OK)
        r->clock_checked = 1;
    return rc;
}

/* One local write (body of fds__write1, inside a transaction).  `cur` is
** the register as stored, when the caller has already loaded it; NULL to
** load it here.  `fresh`: the record has no register at all (checked by
** the caller in this transaction), so there is nothing to load: the new
** version's vv is just this device's next counter. */
static int write_one(fds_replica *r, const char *tbl, const char *rid,
                     const char *field, const char *value,
                     const fds_register *cur, int fresh)
{
    int rc;
    if ((rc = check_name(r, "field name", field, FDSP_MAX_NAME)) != FDS_OK ||
        (rc = check_value(r, field, value)) != FDS_OK)
        return rc;
    fdsp_change c;
    memset(&c, 0, sizeof c);
    if (cur != NULL) {
        rc = fds_register_vv(cur, &c.vv);
    } else if (!fresh) {
        fds_register reg = {0, NULL};
        if ((rc = fds__reg_load(r, tbl, rid, field, &reg)) != FDS_OK)
            return rc;
        rc = fds_register_vv(&reg, &c.vv);
        fds_register_clear(&reg);
    }
    if (rc != FDS_OK)
        return fds__error(r, rc, "out of memory");

    if ((rc = clock_refresh(r)) != FDS_OK) {
        fdsp_vv_clear(&c.vv);
        return rc;
    }
    int64_t now = fds__now_ms(r);
    uint64_t counter = r->counter + 1;
    uint64_t hlc = fds_hlc_next(r->hlc, now);
    c.value = (char *)value;            /* borrowed: never freed below */
    c.device = r->device;
    c.user = r->user;
    c.hlc = hlc;
    if (fds__vv_set(&c.vv, r->device, counter) != FDS_OK) {
        fdsp_vv_clear(&c.vv);
        return fds__error(r, FDS_NOMEM, "out of memory");
    }
    /* The new register is this one version: its vv covers every version
    ** seen, so it dominates them all (a write settles a conflict). */
    fds_register one = {1, &c};
    rc = fds__reg_save(r, tbl, rid, field, &one);
    if (rc == FDS_OK)
        rc = log_add(r, tbl, rid, field, &c, 1, 0, now);
    fdsp_vv_clear(&c.vv);
    if (rc == FDS_OK) {
        r->counter = counter;
        r->hlc = hlc;
        r->meta_dirty = 1;
        r->last_write_ms = now;
    }
    return rc;
}

/* Rule 5 needs an edit to meet a concurrent delete on one register: every
** write to an existing record that does not itself set "deleted" also
** writes deleted = "0".  Two concurrent edits both write "0" (identical
** values: not shown as a conflict); an edit concurrent with a delete gives
** "0" against "1": a conflict.  An open conflict on "deleted" is left for
** the user to resolve explicitly rather than settled by an unrelated edit.
** New records are skipped: nobody can delete what they have not seen. */
static int mark_alive(fds_replica *r, const char *tbl, const char *rid)
{
    fds_register reg = {0, NULL};
    int rc = fds__reg_load(r, tbl, rid, "deleted", &reg);
    if (rc != FDS_OK)
        return rc;
    if (!fds_register_in_conflict(&reg))
        rc = write_one(r, tbl, rid, "deleted", "0", &reg, 0);
    fds_register_clear(&reg);
    return rc;
}

static int check_record(fds_replica *r, const char *tbl, const char *rid)
{
    int rc = check_name(r, "table name", tbl, FDSP_MAX_NAME);
    if (rc == FDS_OK)
        rc = check_name(r, "record id", rid, FDSP_MAX_ID);
    return rc;
}

int fds__write1(fds_replica *r, const char *tbl, const char *rid,
                const char *field, const char *value)
{
    int rc = check_record(r, tbl, rid);
    if (rc != FDS_OK)
        return rc;
    if ((rc = fds__begin(r)) != FDS_OK)
        return rc;
    /* Inside the transaction, so nothing can add a register in between. */
    int existed = fds__exists_any(r, tbl, rid);
    if (existed < 0)
        return fds__end(r, fds__errcode(r));
    r->rec_hold++;
    rc = write_one(r, tbl, rid, field, value, NULL, !existed);
    if (rc == FDS_OK && existed && field && strcmp(field, "deleted") != 0)
        rc = mark_alive(r, tbl, rid);
    r->rec_hold--;
    if (rc == FDS_OK)
        rc = fds__rec_flush(r);
    return fds__end(r, rc);
}

int fds__write(fds_replica *r, const char *tbl, const char *rid,
               const json_t *fields)
{
    return fds__write_known(r, tbl, rid, fields, -1);
}

int fds__write_known(fds_replica *r, const char *tbl, const char *rid,
                     const json_t *fields, int existed)
{
    int rc = check_record(r, tbl, rid);
    if (rc != FDS_OK)
        return rc;
    if (!json_is_object(fields))
        return fds__error(r, FDS_INVALID, "fields must be an object");
    if ((rc = fds__begin(r)) != FDS_OK)
        return rc;
    /* Inside the transaction, so nothing can add a register in between. */
    if (existed < 0)
        existed = fds__exists_any(r, tbl, rid);
    if (existed < 0)
        return fds__end(r, fds__errcode(r));
    const char *k;
    json_t *v;
    r->rec_hold++;              /* the record's row: decoded and written once */
    json_object_foreach((json_t *)fields, k, v) {
        if (!json_is_string(v) && !json_is_null(v)) {
            rc = fds__error(r, FDS_INVALID,
                            "value of %s must be text or null", k);
            break;
        }
        rc = write_one(r, tbl, rid, k,
                       json_is_string(v) ? json_string_value(v) : NULL,
                       NULL, !existed);
        if (rc != FDS_OK)
            break;
    }
    if (rc == FDS_OK && existed && json_object_size(fields) > 0 &&
        json_object_get(fields, "deleted") == NULL)
        rc = mark_alive(r, tbl, rid);
    r->rec_hold--;
    if (rc == FDS_OK)
        rc = fds__rec_flush(r);
    return fds__end(r, rc);
}

int fds__read(fds_replica *r, const char *tbl, const char *rid, json_t **out)
{
    *out = NULL;
    int rc = fds__rec_flush(r);
    if (rc != FDS_OK)
        return rc;
    sqlite3_stmt *st = fds__stmt(r, FDS__ST_REG_READ,
        "SELECT vals FROM rec WHERE tbl = ?1 AND rid = ?2");
    if (st == NULL)
        return fds__errcode(r);
    sqlite3_bind_text(st, 1, tbl, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, rid, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(st);
        return fds__error(r, FDS_NOTFOUND, "no %s %s", tbl, rid);
    }
    if (rc != SQLITE_ROW) {
        rc = fds__dberror(r, "reading record");
        sqlite3_reset(st);
        return rc;
    }
    const char *vals = (const char *)sqlite3_column_text(st, 0);
    json_t *o = NULL;
    rc = vals ? fds__json_parse(vals, 1, &o, NULL, 0) : FDS_NOMEM;
    if (rc == FDS_NOMEM && vals == NULL &&
        sqlite3_errcode(r->db) != SQLITE_NOMEM)
        rc = FDS_INVALID;
    sqlite3_reset(st);
    if (rc == FDS_NOMEM)
        return fds__error(r, rc, "out of memory");
    if (rc != FDS_OK || !json_is_object(o) || json_object_size(o) == 0) {
        json_decref(o);
        return fds__error(r, FDS_DB, "record %s/%s is corrupt: its values "
                          "are not a JSON object", tbl, rid);
    }
    *out = o;
    return FDS_OK;
}

/* Registers of a record: *n > 0 if it has any, *deleted 1 if deleted =
** "1".  Two key lookups, not a walk over every register of the record. */
static int record_state(fds_replica *r, const char *tbl, const char *rid,
                        int *n, int *deleted)
{
    if (fds__rec_flush(r) != FDS_OK)
        return -1;
    sqlite3_stmt *st = fds__stmt(r, FDS__ST_REG_EXISTS,
        "SELECT count(*), ifnull(max(CASE WHEN json_valid(vals) THEN "
        "json_extract(vals, '$.deleted') = '1' END), 0) FROM rec "
        "WHERE tbl = ?1 AND rid = ?2");   /* damage: named by the read */
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, tbl, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, rid, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        fds__dberror(r, "checking record");
        sqlite3_reset(st);
        return -1;
    }
    *n = sqlite3_column_int(st, 0);
    *deleted = sqlite3_column_int(st, 1);
    sqlite3_reset(st);
    return 0;
}

int fds__exists(fds_replica *r, const char *tbl, const char *rid)
{
    int n, deleted;
    if (record_state(r, tbl, rid, &n, &deleted) < 0)
        return -1;
    return n > 0 && !deleted;
}

int fds__exists_any(fds_replica *r, const char *tbl, const char *rid)
{
    /* Only the write paths ask, right before writing the record: read it
    ** into the cache now, so the write does not look it up again. */
    if (fds__rec_fetch(r, tbl, rid) != FDS_OK)
        return -1;
    return r->rec->n > 0;
}

/* Valid shape of a remote change (the decoder checks this too; the server
** and tests may call fds__apply with hand-built changes). */
static int check_change(fds_replica *r, const fdsp_change *c)
{
    int rc = check_record(r, c->table, c->record);
    if (rc == FDS_OK)
        rc = check_name(r, "field name", c->field, FDSP_MAX_NAME);
    if (rc == FDS_OK)
        rc = check_name(r, "device id", c->device, FDSP_MAX_ID);
    if (rc == FDS_OK)
        rc = check_value(r, c->field, c->value);
    if (rc == FDS_OK && (c->vv.n == 0 || c->vv.n > FDSP_MAX_VV))
        rc = fds__error(r, FDS_INVALID, "change of %s/%s/%s has a bad "
                        "version vector", c->table, c->record, c->field);
    for (size_t i = 0; rc == FDS_OK && i < c->vv.n; i++)
        if (c->vv.e[i].device == NULL || c->vv.e[i].counter == 0)
            rc = fds__error(r, FDS_INVALID, "change of %s/%s/%s has a bad "
                            "version vector", c->table, c->record, c->field);
    return rc;
}

/* A sequenced copy of a version we hold carries the user the server
** recorded (it overwrites the user from the token).  Adopt it, so a write
** made before this replica knew its user converges to the same bytes. */
static int adopt_user(fds_register *reg, const fdsp_change *c)
{
    if (c->seq <= 0 || c->user == NULL)
        return 0;
    for (size_t i = 0; i < reg->n; i++) {
        fdsp_change *v = &reg->v[i];
        if (v->hlc == c->hlc && strcmp(v->device, c->device) == 0 &&
            fds_vv_compare(&v->vv, &c->vv) == FDS_VV_EQUAL &&
            strcmp(v->user, c->user) != 0) {
            char *u = strdup(c->user);
            if (u == NULL)
                return -1;
            free(v->user);
            v->user = u;
            return 1;
        }
    }
    return 0;
}

/* Merge c into *cur (the register as stored, borrowed from the record
** cache: n == 0 if there is none), store the result and log the change.
** The merge's result moves into the cache: the stored register is
** neither copied out before the merge nor copied in after it. */
static int apply_to(fds_replica *r, const fdsp_change *c,
                    const fds_register *cur, int *outcome)
{
    static const fdsp_vv none = {0, NULL};
    fds_register next = {0, NULL};
    int64_t now = fds__now_ms(r);
    int rc = FDS_OK;
    if (cur->n == 0 && !fds__vv_leq(&c->vv, &none)) {
        /* Nothing stored: the merge result is c alone (what fds_merge
        ** would build by copying it), so store a borrowed view of it. */
        fdsp_change one;
        memset(&one, 0, sizeof one);
        one.value = c->value;
        one.device = c->device ? c->device : "";
        one.user = c->user ? c->user : "";
        one.hlc = c->hlc;
        one.vv = c->vv;
        fds_register alone = {1, &one};
        *outcome = FDS_MERGE_WIN;
        rc = fds__reg_save(r, c->table, c->record, c->field, &alone);
        if (rc == FDS_OK)
            rc = log_add(r, c->table, c->record, c->field, c, 0, c->seq,
                         c->server_ms > 0 ? c->server_ms : now);
    } else {
        rc = fds_merge(cur, c, &next, outcome);
        if (rc != FDS_OK)
            return fds__error(r, rc, "merging %s/%s/%s failed", c->table,
                              c->record, c->field);
        if (*outcome != FDS_MERGE_NOOP) {
            /* cur is freed with the cached register next replaces */
            rc = fds__reg_save_move(r, c->table, c->record, c->field, &next);
            if (rc == FDS_OK)
                rc = log_add(r, c->table, c->record, c->field, c, 0, c->seq,
                             c->server_ms > 0 ? c->server_ms : now);
        } else {
            int a = adopt_user(&next, c);
            if (a < 0)
                rc = fds__error(r, FDS_NOMEM, "out of memory");
            else if (a > 0)
                rc = fds__reg_save_move(r, c->table, c->record, c->field,
                                        &next);
        }
        fds_register_clear(&next);
    }
    if (rc == FDS_OK) {
        uint64_t h = fds_hlc_recv(r->hlc, c->hlc, now);
        if (h != r->hlc) {
            r->hlc = h;
            r->meta_dirty = 1;
        }
    }
    return rc;
}

static int apply_one(fds_replica *r, const fdsp_change *c, int *outcome)
{
    int rc = check_change(r, c);
    if (rc != FDS_OK)
        return rc;
    /* The cached record (read once per run of its changes): its register
    ** is merged in place of a copy. */
    if ((rc = fds__rec_fetch(r, c->table, c->record)) != FDS_OK)
        return rc;
    static const fds_register empty = {0, NULL};
    const fds__field *f = fds__rec_find(r->rec, c->field);
    return apply_to(r, c, f ? &f->reg : &empty, outcome);
}

/* ---- A pulled batch ---------------------------------------------------------
** Changes arrive grouped by record (a record's fields are written, pushed
** and sequenced together).  The record's row is held for the run: read
** and decoded once (for a record this replica has never seen, a fresh
** pull, a single B-tree descent that finds nothing), every change merged
** into the cached registers, and the row encoded and written once when
** the next record's run starts or the batch ends. */

int fds__apply_batch(fds_replica *r, const fdsp_change *c, size_t n,
                     int64_t *conflicts)
{
    if (r->tx_depth <= 0)
        return fds__error(r, FDS_ERROR, "no open transaction");
    int rc = FDS_OK;
    r->rec_hold++;
    for (size_t i = 0; rc == FDS_OK && i < n; i++) {
        int outcome = FDS_MERGE_NOOP;
        rc = apply_one(r, &c[i], &outcome);
        *conflicts += outcome == FDS_MERGE_CONFLICT;
    }
    r->rec_hold--;
    if (rc == FDS_OK)
        rc = fds__rec_flush(r);
    else
        fds__rec_forget(r);     /* the caller rolls the batch back */
    return rc;
}

int fds__apply_in(fds_replica *r, const fdsp_change *c, int *outcome)
{
    int dummy;
    if (outcome == NULL)
        outcome = &dummy;
    *outcome = FDS_MERGE_NOOP;
    if (r->tx_depth <= 0)
        return fds__error(r, FDS_ERROR, "no open transaction");
    return apply_one(r, c, outcome);
}

int fds__apply(fds_replica *r, const fdsp_change *c, int *outcome)
{
    int dummy;
    if (outcome == NULL)
        outcome = &dummy;
    *outcome = FDS_MERGE_NOOP;
    int rc = fds__begin(r);
    if (rc != FDS_OK)
        return rc;
    return fds__end(r, apply_one(r, c, outcome));
}

/* ---- Refused changes ---------------------------------------------------------
** The log keeps every version this replica wrote or applied (only a revoke
** purges rows), and the register is the fds_merge fold of exactly those
** rows: a local write dominates the register it was made on (fold: WIN
** alone), an applied change merged as logged, and a change that merged as
** NOOP is not logged but changes nothing in the fold either.  So folding
** the rows again without the refused ones gives the register this replica
** would hold had the refused writes never been made: the same versions,
** conflict flag and canonical bytes (the merge is order-independent). */

int fds__reg_rebuild(fds_replica *r, const char *tbl, const char *rid,
                     const char *field)
{
    if (r->tx_depth <= 0)
        return fds__error(r, FDS_ERROR, "no open transaction");
    fds_register old = {0, NULL};
    int rc = fds__reg_load(r, tbl, rid, field, &old);
    if (rc != FDS_OK)
        return rc;
    sqlite3_stmt *st = fds__stmt(r, FDS__ST_LOG_FIELD,
        "SELECT value, vv, hlc, device, user FROM log "
        "WHERE tbl = ?1 AND rid = ?2 AND field = ?3 AND acked <> 2 "
        "ORDER BY lseq");
    if (st == NULL) {
        fds_register_clear(&old);
        return fds__errcode(r);
    }
    bind_str(st, 1, tbl);
    bind_str(st, 2, rid);
    bind_str(st, 3, field);
    fds_register reg = {0, NULL};
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        fdsp_change c;
        memset(&c, 0, sizeof c);
        c.value = (char *)sqlite3_column_text(st, 0);   /* borrowed */
        c.hlc = (uint64_t)sqlite3_column_int64(st, 2);
        c.device = (char *)sqlite3_column_text(st, 3);
        c.user = (char *)sqlite3_column_text(st, 4);
        const char *vv = (const char *)sqlite3_column_text(st, 1);
        if (c.device == NULL || c.user == NULL) {
            rc = fds__error(r, FDS_NOMEM, "out of memory");
            break;
        }
        if ((rc = fds_vv_parse(vv, &c.vv)) != FDS_OK) {
            rc = rc == FDS_NOMEM ? fds__error(r, rc, "out of memory")
                                 : fds__error(r, FDS_DB, "log row of "
                                              "%s/%s/%s is corrupt", tbl, rid,
                                              field);
            break;
        }
        fds_register next = {0, NULL};
        int outcome;
        rc = fds_merge(&reg, &c, &next, &outcome);
        fdsp_vv_clear(&c.vv);
        if (rc != FDS_OK) {
            rc = fds__error(r, rc, "merging %s/%s/%s failed", tbl, rid, field);
            break;
        }
        fds_register_clear(&reg);
        reg = next;
    }
    if (rc == FDS_OK && step != SQLITE_DONE)
        rc = fds__dberror(r, "reading log");
    sqlite3_reset(st);
    /* A sequenced copy may have given a version the user the server
    ** recorded (adopt_user), which its log row does not carry: keep it. */
    for (size_t i = 0; rc == FDS_OK && i < reg.n; i++) {
        fdsp_change *v = &reg.v[i];
        for (size_t j = 0; j < old.n; j++) {
            const fdsp_change *o = &old.v[j];
            if (o->hlc != v->hlc || !o->device || !v->device || !o->user ||
                strcmp(o->device, v->device) != 0 ||
                fds_vv_compare(&o->vv, &v->vv) != FDS_VV_EQUAL)
                continue;
            if (v->user == NULL || strcmp(o->user, v->user) != 0) {
                char *u = strdup(o->user);
                if (u == NULL) {
                    rc = fds__error(r, FDS_NOMEM, "out of memory");
                    break;
                }
                free(v->user);
                v->user = u;
            }
            break;
        }
    }
    fds_register_clear(&old);
    /* No version left (reg.n == 0): the field goes from the record, and
    ** a record left without fields loses its row. */
    if (rc == FDS_OK)
        rc = fds__reg_save(r, tbl, rid, field, &reg);
    fds_register_clear(&reg);
    return rc;
}

int fds__purge_customer(fds_replica *r, const char *customer)
{
    /* Dependants are the records whose "customer" register names it
    ** (followup, plan, feedback, stagechg, share and any later kind). */
    /* A dependant made only of refused writes has no register left
    ** (fds__reg_rebuild removed them) but keeps its log rows: the refusal
    ** table, small, names it by its refused "customer" change.  Its rows go
    ** first, while the registers of real dependants still tell them apart. */
    static const char *const sql[3] = {
        "DELETE FROM glog WHERE (tbl, rid) IN (SELECT f.tbl, f.rid FROM "
        "refusal f WHERE f.field = 'customer' AND f.value = ?1 AND NOT EXISTS "
        "(SELECT 1 FROM rec g WHERE g.tbl = f.tbl AND g.rid = f.rid))",
        "DELETE FROM glog WHERE (tbl = 'customer' AND rid = ?1) OR "
        "(tbl, rid) IN (SELECT tbl, rid FROM rec WHERE cust = ?1)",
        "DELETE FROM rec WHERE (tbl = 'customer' AND rid = ?1) OR "
        "cust = ?1",
    };
    static const int slot[3] = {FDS__ST_PURGE_REFUSED, FDS__ST_PURGE_LOG,
                                FDS__ST_PURGE_REG};
    int rc = fds__begin(r);
    if (rc != FDS_OK)
        return rc;
    rc = fds__rec_flush(r);     /* rows change under the cache: */
    fds__rec_forget(r);         /* read them again after */
    for (int i = 0; i < 3 && rc == FDS_OK; i++) {
        sqlite3_stmt *st = fds__stmt(r, slot[i], sql[i]);
        if (st == NULL) {
            rc = fds__errcode(r);
            break;
        }
        sqlite3_bind_text(st, 1, customer, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = fds__dberror(r, "purging customer");
        sqlite3_reset(st);
    }
    return fds__end(r, rc);
}

int fds__purge_record(fds_replica *r, const char *tbl, const char *rid)
{
    if (strcmp(tbl, "customer") == 0)
        return fds__purge_customer(r, rid);
    static const char *const sql[2] = {
        "DELETE FROM glog WHERE tbl = ?1 AND rid = ?2",
        "DELETE FROM rec WHERE tbl = ?1 AND rid = ?2",
    };
    static const int slot[2] = {FDS__ST_PURGE_REC_LOG, FDS__ST_PURGE_REC_REG};
    int rc = fds__begin(r);
    if (rc != FDS_OK)
        return rc;
    rc = fds__rec_flush(r);
    fds__rec_forget(r);
    for (int i = 0; i < 2 && rc == FDS_OK; i++) {
        sqlite3_stmt *st = fds__stmt(r, slot[i], sql[i]);
        if (st == NULL) {
            rc = fds__errcode(r);
            break;
        }
        sqlite3_bind_text(st, 1, tbl, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, rid, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = fds__dberror(r, "purging record");
        sqlite3_reset(st);
    }
    return fds__end(r, rc);
}

/* ---- User ------------------------------------------------------------------ */

typedef struct anon_scan {
    fds_replica *r;
    json_t *keys;
    int oom;
} anon_scan;

static int anon_collect(void *ud, const fds__rec *rec)
{
    anon_scan *a = ud;
    for (size_t i = 0; i < rec->n; i++) {
        const fds_register *reg = &rec->f[i].reg;
        for (size_t j = 0; j < reg->n; j++) {
            const fdsp_change *v = &reg->v[j];
            if (strcmp(v->device, a->r->device) != 0 || v->user[0] != '\0')
                continue;
            json_t *k = json_pack("[sss]", rec->tbl, rec->rid,
                                  rec->f[i].name);
            if (k == NULL || json_array_append_new(a->keys, k) != 0)
                a->oom = 1;
            break;
        }
    }
    return a->oom ? FDS_NOMEM : FDS_OK;
}

/* Writes made before the replica knew its user carry user "".  When the
** user becomes known, give those writes (this device's log rows and
** register versions) that user, as the server will record them. */
static int fix_anonymous(fds_replica *r)
{
    sqlite3_stmt *st = fds__stmt(r, FDS__ST_USER_FIX_LOG,
        "UPDATE glog SET user = ?1 WHERE origin = 1 AND user = ''");
    if (st == NULL)
        return fds__errcode(r);
    sqlite3_bind_text(st, 1, r->user, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return fds__dberror(r, "updating log user");

    /* Collect first (the scan's statement must be done before rows are
    ** written): the fields holding an anonymous version of this device.
    ** Device ids are packed in the row, so this decodes every record: it
    ** runs once in a replica's life, when its user becomes known. */
    json_t *keys = json_array();
    if (keys == NULL)
        return fds__error(r, FDS_NOMEM, "out of memory");
    anon_scan a = {r, keys, 0};
    rc = fds__rec_scan(r, NULL, anon_collect, &a);
    if (rc == FDS_OK && a.oom)
        rc = fds__error(r, FDS_NOMEM, "out of memory");
    if (rc != FDS_OK) {
        json_decref(keys);
        return rc;
    }
    rc = FDS_OK;
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k) {
        const char *t = json_string_value(json_array_get(k, 0));
        const char *id = json_string_value(json_array_get(k, 1));
        const char *f = json_string_value(json_array_get(k, 2));
        fds_register reg = {0, NULL};
        if ((rc = fds__reg_load(r, t, id, f, &reg)) != FDS_OK)
            break;
        int changed = 0;
        for (size_t j = 0; j < reg.n && rc == FDS_OK; j++) {
            fdsp_change *v = &reg.v[j];
            if (strcmp(v->device, r->device) == 0 && v->user[0] == '\0') {
                char *u = strdup(r->user);
                if (u == NULL) {
                    rc = fds__error(r, FDS_NOMEM, "out of memory");
                    break;
                }
                free(v->user);
                v->user = u;
                changed = 1;
            }
        }
        if (rc == FDS_OK && changed)
            rc = fds__reg_save(r, t, id, f, &reg);
        fds_register_clear(&reg);
        if (rc != FDS_OK)
            break;
    }
    json_decref(keys);
    return rc;
}

int fds_replica_set_user(fds_replica *r, const char *user)
{
    if (user == NULL || strlen(user) > FDSP_MAX_ID)
        return fds__error(r, FDS_INVALID, "bad user name");
    if (strcmp(user, r->user) == 0)
        return FDS_OK;
    char *u = strdup(user);
    if (u == NULL)
        return fds__error(r, FDS_NOMEM, "out of memory");
    int rc = fds__begin(r);
    if (rc != FDS_OK) {
        free(u);
        return rc;
    }
    int was_anonymous = r->user[0] == '\0';
    char *old = r->user;
    r->user = u;
    rc = fds_meta_set(r, "user", user);
    if (rc == FDS_OK && was_anonymous && user[0] != '\0')
        rc = fix_anonymous(r);
    rc = fds__end(r, rc);
    if (rc != FDS_OK) {
        r->user = old;
        free(u);
        return rc;
    }
    free(old);
    return FDS_OK;
}
