/*
** conflicts.c — concurrent edits kept for a person to review, and their
** resolution.
**
** A register in conflict holds several mutually concurrent versions (see
** fds_merge).  "mine" is the version this device wrote, if any, else the
** current winner; "theirs" the first other version with a different value.
** The conflict id hashes (table, record, field), so every replica shows the
** same id for the same conflict.  Resolving writes the chosen value as a new
** local change: its vector extends the join of all versions, so it
** dominates them and settles the conflict on every replica it reaches.
*/
#include "domain.h"

#include <stdlib.h>
#include <string.h>

static json_t *version_json(const fdsp_change *v)
{
    char at[40];
    fds_time_format((int64_t)(v->hlc >> 16), at, sizeof at);
    json_t *o = json_object();
    int bad = 0;
    if (!o)
        return NULL;
    fds__jset(o, "value", v->value ? json_string(v->value) : json_null(), &bad);
    fds__jset(o, "user", json_string(v->user ? v->user : ""), &bad);
    fds__jset(o, "device", json_string(v->device ? v->device : ""), &bad);
    fds__jset(o, "at", json_string(at), &bad);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static int same_value(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* The customer a register belongs to, and its name, for display: a
** record or customer that is not there adds nothing; out of memory is
** FDS_NOMEM, not an entry without its customer. */
static int add_customer(fds_replica *r, json_t *e, const char *tbl,
                        const char *rid)
{
    json_t *regs = NULL;
    const char *cust = rid;
    int rc = FDS_OK, bad = 0;
    if (strcmp(tbl, "customer") != 0) {
        if ((rc = fds__read(r, tbl, rid, &regs)) != FDS_OK)
            return rc == FDS_NOTFOUND ? FDS_OK : rc;
        cust = fds__jstr(regs, "customer");
    }
    if (cust) {
        json_t *c = NULL;
        fds__jset(e, "customer", json_string(cust), &bad);
        rc = fds__read(r, "customer", cust, &c);
        if (rc == FDS_OK && fds__jstr(c, "name"))
            fds__jset(e, "customer_name", json_string(fds__jstr(c, "name")),
                      &bad);
        json_decref(c);
        if (rc == FDS_NOTFOUND)
            rc = FDS_OK;
    }
    json_decref(regs);
    if (rc == FDS_OK && bad)
        rc = fds__error(r, FDS_NOMEM, "out of memory");
    return rc;
}

/* One entry from a conflicted register's row; NULL entry (rc OK) when the
** versions turn out not to disagree. */
static int entry_of(fds_replica *r, const char *tbl, const char *rid,
                    const char *field, const char *versions, json_t **out)
{
    fds_register reg;
    *out = NULL;
    int rc = fds__reg_parse(r, tbl, rid, field, versions, &reg);
    if (rc != FDS_OK)
        return rc;
    size_t mine = 0, theirs = reg.n;
    for (size_t i = 0; i < reg.n; i++)
        if (reg.v[i].device && strcmp(reg.v[i].device, r->device) == 0) {
            mine = i;
            break;
        }
    for (size_t i = 0; i < reg.n; i++)
        if (i != mine && !same_value(reg.v[i].value, reg.v[mine].value)) {
            theirs = i;
            break;
        }
    if (reg.n == 0 || theirs == reg.n) {
        fds_register_clear(&reg);
        return FDS_OK;
    }
    char id[17];
    fds__conflict_id(tbl, rid, field, id);
    json_t *e = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o}", "id", id,
                          "table", tbl, "record", rid, "field", field,
                          "mine", version_json(&reg.v[mine]),
                          "theirs", version_json(&reg.v[theirs]));
    fds_register_clear(&reg);
    if (!e)
        return fds__error(r, FDS_NOMEM, "out of memory");
    if ((rc = add_customer(r, e, tbl, rid)) != FDS_OK) {
        json_decref(e);
        return rc;
    }
    *out = e;
    return FDS_OK;
}

int fds_conflicts(fds_replica *r, json_t **out)
{
    json_t *rows = json_array(), *arr = json_array();
    int rc = FDS_OK;
    if (!out)
        return FDS_INVALID;
    *out = NULL;
    if (!r) {
        json_decref(rows);
        json_decref(arr);
        return FDS_INVALID;
    }
    if (!rows || !arr) {
        rc = fds__error(r, FDS_NOMEM, "out of memory");
        goto done;
    }
    sqlite3_stmt *st = fds__stmt(r, FDS__ST_D_CONFLICT_ROWS,
                                 FDS__SQL_CONFLICT_ROWS);
    if (!st) {
        rc = fds__errcode(r);
        goto done;
    }
    int s, bad = 0;
    /* json_pack of a NULL text (SQLite out of memory) fails too: noted. */
    while ((s = sqlite3_step(st)) == SQLITE_ROW)
        fds__jpush(rows, json_pack("[s,s,s,s]",
            (const char *)sqlite3_column_text(st, 0),
            (const char *)sqlite3_column_text(st, 1),
            (const char *)sqlite3_column_text(st, 2),
            (const char *)sqlite3_column_text(st, 3)), &bad);
    sqlite3_reset(st);
    if (s != SQLITE_DONE) {
        rc = fds__dberror(r, "listing conflicts");
        goto done;
    }
    if (bad) {
        rc = fds__error(r, FDS_NOMEM, "out of memory");
        goto done;
    }
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row) {
        json_t *e = NULL;
        if (!json_is_array(row)) {
            rc = fds__error(r, FDS_NOMEM, "out of memory");
            break;
        }
        rc = entry_of(r, json_string_value(json_array_get(row, 0)),
                      json_string_value(json_array_get(row, 1)),
                      json_string_value(json_array_get(row, 2)),
                      json_string_value(json_array_get(row, 3)), &e);
        if (rc != FDS_OK)
            break;
        if (e && json_array_append_new(arr, e) != 0) {
            rc = fds__error(r, FDS_NOMEM, "out of memory");
            break;
        }
    }
done:
    json_decref(rows);
    if (rc != FDS_OK) {
        json_decref(arr);
        return rc;
    }
    *out = arr;
    return FDS_OK;
}

int fds_conflict_resolve(fds_replica *r, const char *conflict_id,
                         const char *keep, const char *value)
{
    char full[FDSP_MAX_ID + 1];
    json_t *list = NULL, *e = NULL;
    char *norm = NULL;
    if (!r || !conflict_id)
        return FDS_INVALID;
    if ((keep && value) || (!keep && !value))
        return fds__error(r, FDS_INVALID,
                          "resolve a conflict with either keep (mine|theirs) "
                          "or a new value");
    if (keep && strcmp(keep, "mine") != 0 && strcmp(keep, "theirs") != 0)
        return fds__bad_value(r, "keep", keep, "expected mine or theirs");
    int rc = fds__resolve(r, "conflict", conflict_id, full);
    if (rc == FDS_OK)
        rc = fds_conflicts(r, &list);
    if (rc != FDS_OK)
        return rc;
    size_t i;
    json_t *c;
    json_array_foreach(list, i, c)
        if (strcmp(fds__jstr(c, "id"), full) == 0)
            e = c;
    if (!e) {
        /* the row exists but its versions agree: nothing left to choose */
        json_decref(list);
        return fds__error(r, FDS_NOTFOUND, "no open conflict with id \"%s\"", full);
    }
    const char *tbl = fds__jstr(e, "table"), *rid = fds__jstr(e, "record"),
               *field = fds__jstr(e, "field");
    if (value) {
        rc = fds__validate_value(r, tbl, field, value, &norm);
    } else {
        const char *v = fds__jstr(json_object_get(e, keep), "value");
        if (v && !(norm = strdup(v)))
            rc = fds__error(r, FDS_NOMEM, "out of memory");
    }
    if (rc == FDS_OK)
        rc = fds__begin(r);
    if (rc == FDS_OK)
        rc = fds__end(r, fds__write1(r, tbl, rid, field, norm));
    free(norm);
    json_decref(list);
    return rc;
}
