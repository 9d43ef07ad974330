/*
** refusal.c — changes the server refused (rule 8), kept for the user.
**
** A refused change is dropped from the outbox (re-sending would be refused
** again) and recorded here with the server's message, so `fieldsync sync`
** can say what was not accepted and why.  Its log row is marked refused
** (acked = 2) and the register it was written to is rebuilt without it in
** the same transaction (session.c on_ack, fds__reg_rebuild): the replica
** does not keep a value the server never took.
*/
#include "internal.h"

#include <stdio.h>

int fds__refusal_add(fds_replica *r, const fdsp_change *c, int code,
                     const char *message)
{
    sqlite3_stmt *st = fds__stmt(r, FDS__ST_REFUSAL_ADD,
        "INSERT INTO refusal(tbl, rid, field, value, code, message, at_ms) "
        "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    if (st == NULL)
        return fds__errcode(r);
    sqlite3_bind_text(st, 1, c->table, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, c->record, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, c->field, -1, SQLITE_STATIC);
    if (c->value)
        sqlite3_bind_text(st, 4, c->value, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 4);
    sqlite3_bind_int(st, 5, code);
    sqlite3_bind_text(st, 6, message ? message : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, fds__now_ms(r));
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? FDS_OK : fds__dberror(r, "recording refusal");
}

int fds_refusals(fds_replica *r, json_t **out)
{
    *out = NULL;
    sqlite3_stmt *st = fds__stmt(r, FDS__ST_REFUSAL_LIST,
        "SELECT tbl, rid, field, value, code, message, at_ms FROM refusal "
        "ORDER BY id DESC");
    if (st == NULL)
        return fds__errcode(r);
    json_t *a = json_array();
    int rc;
    while (a && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        char at[40];
        fds_time_format(sqlite3_column_int64(st, 6), at, sizeof at);
        const char *v = (const char *)sqlite3_column_text(st, 3);
        json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:i, s:s, s:s}",
            "table", (const char *)sqlite3_column_text(st, 0),
            "record", (const char *)sqlite3_column_text(st, 1),
            "field", (const char *)sqlite3_column_text(st, 2),
            "value", v ? json_string(v) : json_null(),
            "code", sqlite3_column_int(st, 4),
            "message", (const char *)sqlite3_column_text(st, 5),
            "at", at);
        if (o == NULL || json_array_append_new(a, o)) {
            json_decref(a);
            a = NULL;
        }
    }
    sqlite3_reset(st);
    if (a == NULL)
        return fds__error(r, FDS_NOMEM, "out of memory");
    if (rc != SQLITE_DONE) {
        json_decref(a);
        return fds__dberror(r, "listing refusals");
    }
    *out = a;
    return FDS_OK;
}
