/*
** customer.c — the customer record and its follow-up sheet.
**
** A customer is the set of registers (tbl "customer", rid = its id); its
** JSON is assembled from their current winning values.  Children (follow-
** ups, plans, feedback, stage changes, shares) point at it through their
** "customer" register and are found with the reg_by_value index (partial:
** field = 'customer', so queries for children repeat that term).
*/
#include "domain.h"
#include "blobx.h"
#include "grouplog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Plain text fields, in the order they appear in JSON. */
static const char *const text_fields[] = {
    "name", "phone", "email", "wechat", "company", "title", "birthday",
    "notes", "owner", "stage", NULL
};

const char *fds__jstr(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static int is_deleted(const json_t *regs)
{
    const char *d = fds__jstr(regs, "deleted");
    return d && strcmp(d, "1") == 0;
}

int fds__record_times(fds_replica *r, const char *tbl, const char *rid,
                      int64_t *first, int64_t *last)
{
    /* First and last row in log order: two seeks on glog_by_rec (whose
    ** keys end in gseq), where min/max(at_ms) would visit every row of a
    ** long-lived record.  Refused changes (acked = 2) never took effect:
    ** a change group counts when a change of it was not refused, that is
    ** its flags (grouplog.h: NULL all 0; a byte per change, acked in bits
    ** 0-1, resend bit 2) hold a byte other than 2 and 6.  at_ms is the
    ** group's, so no body is read. */
    sqlite3_stmt *st = fds__stmt(r, FDS__ST_D_REC_TIMES,
        "SELECT (SELECT at_ms FROM glog WHERE tbl = ?1 AND rid = ?2 "
        "        AND " FDS__GLOG_TOOK_EFFECT " ORDER BY gseq LIMIT 1), "
        "       (SELECT at_ms FROM glog WHERE tbl = ?1 AND rid = ?2 "
        "        AND " FDS__GLOG_TOOK_EFFECT " ORDER BY gseq DESC LIMIT 1)");
    if (!st)
        return fds__errcode(r);
    sqlite3_bind_text(st, 1, tbl, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, rid, -1, SQLITE_STATIC);
    *first = *last = 0;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *first = sqlite3_column_int64(st, 0);
        *last = sqlite3_column_int64(st, 1);
        rc = SQLITE_DONE;
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? FDS_OK : fds__dberror(r, "reading record times");
}

json_t *fds__customer_from_regs(const char *id, const json_t *regs)
{
    json_t *o = json_object();
    json_t *fields = json_object();
    if (!o || !fields) {
        json_decref(o);
        json_decref(fields);
        return NULL;
    }
    int bad = 0;
    fds__jset(o, "id", json_string(id), &bad);
    for (int i = 0; text_fields[i]; i++) {
        const char *v = fds__jstr(regs, text_fields[i]);
        if (v)
            fds__jset(o, text_fields[i], json_string(v), &bad);
    }
    const char *tags = fds__jstr(regs, "tags");
    if (tags) {
        json_t *t = NULL;
        if (fds__json_parse(tags, 0, &t, NULL, 0) == FDS_NOMEM)
            bad = 1;    /* not "not an array": the value is fine */
        if (!json_is_array(t)) {
            /* written by something that did not normalise: show as one tag */
            json_decref(t);
            t = json_pack("[s]", tags);
        }
        fds__jset(o, "tags", t, &bad);
    }
    /* The deal: amount is a number (null when unknown), expected_close a
    ** date "YYYY-MM-DD" or null; both always present so a forecast reader
    ** needs no guess. */
    const char *amount = fds__jstr(regs, "amount");
    char *aend = NULL;
    double av = amount ? strtod(amount, &aend) : 0;
    if (amount && aend != amount && *aend == '\0')
        fds__jset(o, "amount", av == (double)(json_int_t)av && av < 9e15
                                   ? json_integer((json_int_t)av)
                                   : json_real(av), &bad);
    else
        fds__jset(o, "amount", json_null(), &bad);
    const char *close = fds__jstr(regs, "expected_close");
    fds__jset(o, "expected_close", close ? json_string(close) : json_null(),
              &bad);
    const char *cycle = fds__jstr(regs, "cycle");
    long c = cycle ? strtol(cycle, NULL, 10) : 0;
    fds__jset(o, "cycle", json_integer(c > 0 ? c : FDS__DEFAULT_CYCLE), &bad);
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)regs, k, v)
        if (strncmp(k, "f.", 2) == 0 && k[2] && json_is_string(v) &&
            json_object_set(fields, k + 2, v) != 0)
            bad = 1;
    fds__jset(o, "fields", fields, &bad);
    /* The pool (公海): in it while nobody owns it and pool says "1". */
    int pooled = fds__in_pool(regs);
    const char *since = pooled ? fds__jstr(regs, "pool_since") : NULL;
    fds__jset(o, "pool", json_boolean(pooled), &bad);
    fds__jset(o, "pool_since", since ? json_string(since) : json_null(), &bad);
    if (is_deleted(regs))
        fds__jset(o, "deleted", json_true(), &bad);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* The customer's JSON from its current register values (regs). */
/* last_ms > 0: the at_ms of the record's last log row, known to the caller
** (it just wrote that row); else it is looked up. */
static int customer_json_from(fds_replica *r, const char *id,
                              const json_t *regs, int64_t last_ms, json_t **out)
{
    int rc;
    json_t *o = fds__customer_from_regs(id, regs);
    if (!o)
        return fds__error(r, FDS_NOMEM, "out of memory");
    int64_t first, last = last_ms;
    if (last <= 0 &&
        (rc = fds__record_times(r, "customer", id, &first, &last)) != FDS_OK) {
        json_decref(o);
        return rc;
    }
    if (last > 0) {
        char buf[40];
        fds_time_format(last, buf, sizeof buf);
        if (json_object_set_new(o, "updated", json_string(buf)) != 0) {
            json_decref(o);
            return fds__error(r, FDS_NOMEM, "out of memory");
        }
    }
    *out = o;
    return FDS_OK;
}

int fds__customer_json(fds_replica *r, const char *id, int include_deleted,
                       json_t **out)
{
    json_t *regs = NULL;
    *out = NULL;
    int rc = fds__read(r, "customer", id, &regs);
    if (rc == FDS_NOTFOUND || (rc == FDS_OK && !include_deleted && is_deleted(regs))) {
        json_decref(regs);
        return fds__error(r, FDS_NOTFOUND, "no customer with id \"%s\"", id);
    }
    if (rc != FDS_OK)
        return rc;
    rc = customer_json_from(r, id, regs, 0, out);
    json_decref(regs);
    return rc;
}

int fds__customer_label(fds_replica *r, const char *id, char *buf, size_t len)
{
    json_t *regs = NULL;
    const char *name = NULL;
    int rc = fds__read(r, "customer", id, &regs);
    if (rc == FDS_OK)
        name = fds__jstr(regs, "name");
    snprintf(buf, len, "%s (%.8s)", name ? name : "?", id);
    json_decref(regs);
    return rc == FDS_NOMEM ? rc : FDS_OK;  /* "?" only for a missing name */
}

json_t *fds__child_json(const char *tbl, const char *id, const json_t *regs)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    int bad = 0, fu = strcmp(tbl, "followup") == 0;
    fds__jset(o, "id", json_string(id), &bad);
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)regs, k, v) {
        if (strcmp(k, "deleted") == 0 || !json_is_string(v))
            continue;
        json_t *att;
        if (fu && (strcmp(k, "location") == 0 || strcmp(k, "address") == 0))
            continue;   /* the "location" object below */
        if (strcmp(tbl, "plan") == 0 && strcmp(k, "done") == 0)
            fds__jset(o, "done",
                      json_boolean(strcmp(json_string_value(v), "1") == 0), &bad);
        else if (strcmp(tbl, "followup") == 0 &&
                 strcmp(k, "attachments") == 0 &&
                 (att = fds__attachments_json(json_string_value(v))))
            fds__jset(o, k, att, &bad);     /* attach.c: an array */
        else if (json_object_set(o, k, v) != 0)
            bad = 1;
    }
    if (strcmp(tbl, "plan") == 0 && !json_object_get(o, "done"))
        fds__jset(o, "done", json_false(), &bad);
    if (fu)
        fds__jset(o, "location", fds__location_json(regs), &bad);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int fds__children(fds_replica *r, const char *tbl, const char *customer,
                  json_t **out)
{
    json_t *ids = json_array(), *res = json_array();
    int rc = FDS_OK;
    *out = NULL;
    if (!ids || !res) {
        rc = fds__error(r, FDS_NOMEM, "out of memory");
        goto done;
    }
    sqlite3_stmt *st = fds__stmt(r, FDS__ST_D_CHILDREN,
        "SELECT x.rid, (SELECT min(l.gseq) FROM glog l WHERE l.tbl = x.tbl "
        "AND l.rid = x.rid) AS first FROM rec x WHERE x.cust = ?2 "
        "AND x.tbl = ?1 ORDER BY first, x.rid");   /* rec_by_cust */
    if (!st) {
        rc = fds__errcode(r);
        goto done;
    }
    sqlite3_bind_text(st, 1, tbl, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, customer, -1, SQLITE_STATIC);
    int s, bad = 0;
    while ((s = sqlite3_step(st)) == SQLITE_ROW)
        fds__jpush(ids, json_string((const char *)sqlite3_column_text(st, 0)),
                   &bad);
    sqlite3_reset(st);
    if (s != SQLITE_DONE) {
        rc = fds__dberror(r, "listing a customer's records");
        goto done;
    }
    if (bad) {
        rc = fds__error(r, FDS_NOMEM, "out of memory");
        goto done;
    }
    size_t i;
    json_t *idj;
    json_array_foreach(ids, i, idj) {
        json_t *regs = NULL;
        const char *id = json_string_value(idj);
        rc = fds__read(r, tbl, id, &regs);
        if (rc == FDS_NOTFOUND) {
            rc = FDS_OK;
            continue;
        }
        if (rc != FDS_OK)
            goto done;
        if (!is_deleted(regs)) {
            json_t *c = fds__child_json(tbl, id, regs);
            if (!c || json_array_append_new(res, c)) {
                json_decref(regs);
                rc = fds__error(r, FDS_NOMEM, "out of memory");
                goto done;
            }
        }
        json_decref(regs);
    }
    *out = res;
    res = NULL;
done:
    json_decref(ids);
    json_decref(res);
    return rc;
}

/* ---- input ------------------------------------------------------------------ */

/* Keys of our own output that may come back in (export → import, show →
** edit) and carry nothing to write. */
static int output_only(const char *k)
{
    static const char *const keys[] = {
        "id", "updated", "unsynced", "conflicts", "deleted", "followups",
        "plans", "feedback", "stages", "shared", NULL
    };
    for (int i = 0; keys[i]; i++)
        if (strcmp(k, keys[i]) == 0)
            return 1;
    return 0;
}

static int is_text_field(const char *k)
{
    for (int i = 0; text_fields[i]; i++)
        if (strcmp(k, text_fields[i]) == 0)
            return 1;
    return strcmp(k, "tags") == 0 || strcmp(k, "cycle") == 0 ||
           strcmp(k, "amount") == 0 || strcmp(k, "expected_close") == 0;
}

/* Validate one input value and add it to writes as field: text|null. */
static int take(fds_replica *r, json_t *writes, const char *field,
                const char *what, const json_t *v)
{
    char *text = NULL, *norm = NULL;
    int rc;
    if (strcmp(field, "tags") == 0 && json_is_array(v)) {
        text = fds__json_dump(v, 0);
        if (!text)
            return fds__error(r, FDS_NOMEM, "out of memory");
        rc = FDS_OK;
    } else {
        rc = fds__json_text(r, what, v, 0, &text);
    }
    if (rc == FDS_OK)
        rc = fds__validate_value(r, "customer", field, text, &norm);
    if (rc == FDS_OK &&
        json_object_set_new(writes, field, norm ? json_string(norm)
                                                : json_null()) != 0)
        rc = fds__error(r, FDS_NOMEM, "out of memory");
    free(text);
    free(norm);
    return rc;
}

/* in → writes {field: text|null}, every value validated. */
static int collect(fds_replica *r, const json_t *in, json_t *writes)
{
    if (!json_is_object(in))
        return fds__error(r, FDS_INVALID, "customer input must be a JSON object");
    const char *k;
    json_t *v;
    int rc = FDS_OK;
    json_object_foreach((json_t *)in, k, v) {
        if (output_only(k))
            continue;
        if (strcmp(k, "fields") == 0) {
            if (json_is_null(v))
                continue;
            if (!json_is_object(v))
                return fds__error(r, FDS_INVALID,
                                  "fields must be an object of KEY: VALUE");
            const char *fk;
            json_t *fv;
            json_object_foreach(v, fk, fv) {
                char reg[FDSP_MAX_NAME + 8];
                if (!fds__valid_key(fk))
                    return fds__error(r, FDS_INVALID,
                                      "unknown field \"%s\": field keys are "
                                      "[a-z][a-z0-9_]{0,31}", fk);
                snprintf(reg, sizeof reg, "f.%s", fk);
                if ((rc = take(r, writes, reg, fk, fv)) != FDS_OK)
                    return rc;
            }
        } else if (is_text_field(k)) {
            if ((rc = take(r, writes, k, k, v)) != FDS_OK)
                return rc;
        } else {
            return fds__error(r, FDS_INVALID, "unknown customer field \"%s\"", k);
        }
    }
    return FDS_OK;
}

/* Warn when phone or WeChat id is already another live customer's. */
static int duplicates(fds_replica *r, const json_t *writes, const char *self,
                      json_t *warnings)
{
    static const char *const keys[] = {"phone", "wechat", NULL};
    for (int i = 0; keys[i]; i++) {
        const char *val = fds__jstr(writes, keys[i]);
        if (!val)
            continue;
        json_t *ids = json_array();
        if (!ids)
            return fds__error(r, FDS_NOMEM, "out of memory");
        sqlite3_stmt *st = fds__stmt(r, FDS__ST_D_BY_VALUE,
            "SELECT rid FROM rec WHERE phone = ?3 AND ?2 = 'phone' "
            "UNION ALL SELECT rid FROM rec WHERE wechat = ?3 "
            "AND ?2 = 'wechat' ORDER BY 1");   /* rec_by_phone, _wechat */
        if (!st) {
            json_decref(ids);
            return fds__errcode(r);
        }
        sqlite3_bind_text(st, 2, keys[i], -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, val, -1, SQLITE_STATIC);
        int s, bad = 0;
        while ((s = sqlite3_step(st)) == SQLITE_ROW)
            fds__jpush(ids, json_string((const char *)
                                        sqlite3_column_text(st, 0)), &bad);
        sqlite3_reset(st);
        if (s != SQLITE_DONE) {
            json_decref(ids);
            return fds__dberror(r, "checking duplicates");
        }
        if (bad) {
            json_decref(ids);
            return fds__error(r, FDS_NOMEM, "out of memory");
        }
        size_t j;
        json_t *idj;
        json_array_foreach(ids, j, idj) {
            const char *other = json_string_value(idj);
            if (self && strcmp(other, self) == 0)
                continue;
            int live = fds__exists(r, "customer", other);
            if (live < 0) {
                json_decref(ids);
                return fds__errcode(r);
            }
            if (live != 1)
                continue;
            char label[160], msg[FDS__ERRMSG_MAX];
            if (fds__customer_label(r, other, label, sizeof label) != FDS_OK) {
                json_decref(ids);
                return fds__errcode(r);
            }
            snprintf(msg, sizeof msg, "%s \"%s\" already belongs to %s",
                     strcmp(keys[i], "wechat") == 0 ? "WeChat id" : keys[i],
                     val, label);
            if (json_array_append_new(warnings, json_string(msg)) != 0) {
                json_decref(ids);
                return fds__error(r, FDS_NOMEM, "out of memory");
            }
        }
        json_decref(ids);
    }
    return FDS_OK;
}

int fds_customer_add(fds_replica *r, const json_t *in, json_t **out,
                     json_t **warnings)
{
    char id[FDS__UUID_LEN + 1];
    json_t *writes = json_object(), *warn = json_array();
    int rc;
    if (out)
        *out = NULL;
    if (warnings)
        *warnings = NULL;
    if (!r || !in)
        return FDS_INVALID;
    if (!writes || !warn) {
        rc = fds__error(r, FDS_NOMEM, "out of memory");
        goto done;
    }
    if ((rc = collect(r, in, writes)) != FDS_OK)
        goto done;
    if (!fds__jstr(writes, "name")) {
        rc = fds__error(r, FDS_INVALID, "name is required");
        goto done;
    }
    int bad = 0;
    if (!fds__jstr(writes, "owner") && r->user && *r->user)
        fds__jset(writes, "owner", json_string(r->user), &bad);
    if (!fds__jstr(writes, "stage")) {
        json_t *stages = NULL;
        if ((rc = fds_stagedef_list(r, &stages)) != FDS_OK)
            goto done;
        const char *first = fds__jstr(json_array_get(stages, 0), "key");
        if (first)
            fds__jset(writes, "stage", json_string(first), &bad);
        json_decref(stages);
    }
    if (bad) {
        rc = fds__error(r, FDS_NOMEM, "out of memory");
        goto done;
    }
    /* a null in the input of a new record means "absent": write nothing */
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(writes, tmp, k, v)
        if (json_is_null(v))
            json_object_del(writes, k);
    if ((rc = duplicates(r, writes, NULL, warn)) != FDS_OK)
        goto done;
    if ((rc = fds__uuid(r, id)) != FDS_OK)
        goto done;
    if ((rc = fds__begin(r)) != FDS_OK)
        goto done;
    rc = fds__write_known(r, "customer", id, writes, 0);     /* new */
    /* The record is read back inside the transaction: when that runs out
    ** of memory, the add is undone too (FDS_NOMEM means nothing changed). */
    if (rc == FDS_OK && out)
        rc = fds__customer_json(r, id, 0, out);
    rc = fds__end(r, rc);
    if (rc != FDS_OK && out) {
        json_decref(*out);
        *out = NULL;
    }
    if (rc == FDS_OK && warnings) {
        *warnings = warn;
        warn = NULL;
    }
done:
    json_decref(writes);
    json_decref(warn);
    return rc;
}

/* A stage changed by an edit is recorded like fds_stage_set does (the
** pipeline stays traceable), except that a lost stage, which needs a
** reason, must go through fds_stage_set.  *chg: the stage change record. */
static int stage_record(fds_replica *r, const char *id, const char *from,
                        const char *to, json_t **chg)
{
    json_t *st = NULL;
    char now[40];
    int rc = fds__stage_find(r, to, &st);
    if (rc != FDS_OK)
        return rc;
    int lost = json_is_true(json_object_get(st, "lost"));
    json_decref(st);
    if (lost)
        return fds__error(r, FDS_INVALID, "moving to stage \"%s\" needs a note "
                          "saying why the customer was lost: use the stage "
                          "command with --note", to);
    /* An unknown old stage is no won one; out of memory is no answer. */
    if (from && (rc = fds__stage_find(r, from, &st)) == FDS_NOMEM)
        return rc;
    if (from && rc == FDS_OK) {
        int won = json_is_true(json_object_get(st, "won"));
        json_decref(st);
        if (won)
            return fds__error(r, FDS_INVALID, "moving out of stage \"%s\" "
                              "needs a note saying why the won deal is "
                              "reopened: use the stage command with --note",
                              from);
    }
    fds_time_format(fds__now_ms(r), now, sizeof now);
    *chg = json_pack("{s:s, s:s, s:s}", "customer", id, "to", to, "at", now);
    if (!*chg)
        return fds__error(r, FDS_NOMEM, "out of memory");
    int bad = 0;
    if (from)
        fds__jset(*chg, "from", json_string(from), &bad);
    if (r->user && *r->user)
        fds__jset(*chg, "author", json_string(r->user), &bad);
    if (bad) {
        json_decref(*chg);
        *chg = NULL;
        return fds__error(r, FDS_NOMEM, "out of memory");
    }
    return FDS_OK;
}

int fds_customer_edit(fds_replica *r, const char *id, const json_t *in,
                      json_t **out)
{
    char full[FDSP_MAX_ID + 1], chg_id[FDS__UUID_LEN + 1];
    json_t *writes = NULL, *cur = NULL, *chg = NULL;
    if (out)
        *out = NULL;
    if (!r || !id || !in)
        return FDS_INVALID;
    int rc = fds__resolve(r, "customer", id, full);
    if (rc != FDS_OK)
        return rc;
    if (!(writes = json_object())) {
        rc = fds__error(r, FDS_NOMEM, "out of memory");
        goto done;
    }
    if ((rc = collect(r, in, writes)) != FDS_OK)
        goto done;
    if ((rc = fds__read(r, "customer", full, &cur)) != FDS_OK)
        goto done;
    /* write only what changes: an unchanged field must not become a new
    ** version (it would conflict with concurrent edits for nothing) */
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(writes, tmp, k, v) {
        const char *old = fds__jstr(cur, k);
        const char *nv = json_string_value(v);
        if ((!old && !nv) || (old && nv && strcmp(old, nv) == 0))
            json_object_del(writes, k);
    }
    json_t *stv = json_object_get(writes, "stage");
    if (stv && json_is_null(stv)) {
        rc = fds__error(r, FDS_INVALID, "stage cannot be cleared: move the "
                        "customer to another stage instead");
        goto done;
    }
    if (stv && (rc = stage_record(r, full, fds__jstr(cur, "stage"),
                                  json_string_value(stv), &chg)) != FDS_OK)
        goto done;
    int64_t last_ms = 0;      /* at_ms of the customer's newest log row */
    if (json_object_size(writes) > 0) {
        if ((rc = fds__begin(r)) != FDS_OK)
            goto done;
        /* cur was read: the record has registers; chg_id is new */
        rc = fds__write_known(r, "customer", full, writes, 1);
        last_ms = r->last_write_ms;     /* its rows are the newest */
        if (rc == FDS_OK && chg && (rc = fds__uuid(r, chg_id)) == FDS_OK)
            rc = fds__write_known(r, "stagechg", chg_id, chg, 0);
        rc = fds__end(r, rc);
    }
    /* The registers now hold cur overwritten by writes: a local write wins
    ** its register outright.  deleted: resolve found the customer live, and
    ** rule 5 only ever writes "0" (or leaves a conflicted register as it
    ** was), so it stays not deleted.  No need to read back what we wrote. */
    if (rc == FDS_OK && out) {
        if (json_object_update(cur, writes) != 0)
            rc = fds__error(r, FDS_NOMEM, "out of memory");
        else
            rc = customer_json_from(r, full, cur, last_ms, out);
    }
done:
    json_decref(writes);
    json_decref(cur);
    json_decref(chg);
    return rc;
}

int fds_customer_delete(fds_replica *r, const char *id)
{
    char full[FDSP_MAX_ID + 1];
    if (!r || !id)
        return FDS_INVALID;
    int rc = fds__resolve(r, "customer", id, full);
    if (rc != FDS_OK)
        return rc;
    if ((rc = fds__begin(r)) != FDS_OK)
        return rc;
    return fds__end(r, fds__write1(r, "customer", full, "deleted", "1"));
}

int fds_customer_get(fds_replica *r, const char *id, json_t **out)
{
    char full[FDSP_MAX_ID + 1];
    if (!out)
        return FDS_INVALID;
    *out = NULL;
    if (!r || !id)
        return FDS_INVALID;
    int rc = fds__resolve(r, "customer", id, full);
    if (rc != FDS_OK)
        return rc;
    return fds__customer_json(r, full, 0, out);
}

/* ---- the sheet ---------------------------------------------------------------- */

typedef struct keyed {
    json_t *item;
    int64_t t;
    size_t idx;     /* creation order: breaks ties between equal times */
} keyed;

static int cmp_asc(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

static int cmp_desc(const void *a, const void *b)
{
    return cmp_asc(b, a);
}

/* Sort arr (creation order) by the time in member `key`, in place. */
static int sort_by_time(json_t *arr, const char *key, int newest_first)
{
    size_t n = json_array_size(arr);
    if (n < 2)
        return FDS_OK;
    keyed *k = calloc(n, sizeof *k);
    if (!k)
        return FDS_NOMEM;
    for (size_t i = 0; i < n; i++) {
        k[i].item = json_incref(json_array_get(arr, i));
        k[i].t = fds__time_or_zero(fds__jstr(k[i].item, key));
        k[i].idx = i;
    }
    qsort(k, n, sizeof *k, newest_first ? cmp_desc : cmp_asc);
    json_array_clear(arr);
    int bad = 0;
    for (size_t i = 0; i < n; i++)
        fds__jpush(arr, k[i].item, &bad);
    free(k);
    return bad ? FDS_NOMEM : FDS_OK;
}

int fds_customer_sheet(fds_replica *r, const char *id, json_t **out)
{
    static const struct {
        const char *tbl, *name, *key;
        int newest_first;
    } parts[] = {
        {"followup", "followups", "at", 1},
        {"plan", "plans", "due", 0},
        {"feedback", "feedback", "at", 1},
        {"stagechg", "stages", "at", 0},
    };
    char full[FDSP_MAX_ID + 1];
    json_t *o = NULL;
    if (!out)
        return FDS_INVALID;
    *out = NULL;
    if (!r || !id)
        return FDS_INVALID;
    int rc = fds__resolve(r, "customer", id, full);
    if (rc == FDS_OK)
        rc = fds__customer_json(r, full, 0, &o);
    for (size_t i = 0; rc == FDS_OK && i < sizeof parts / sizeof parts[0]; i++) {
        json_t *arr = NULL;
        rc = fds__children(r, parts[i].tbl, full, &arr);
        if (rc == FDS_OK && sort_by_time(arr, parts[i].key, parts[i].newest_first))
            rc = fds__error(r, FDS_NOMEM, "out of memory");
        if (rc == FDS_OK) {
            if (json_object_set_new(o, parts[i].name, arr) != 0)
                rc = fds__error(r, FDS_NOMEM, "out of memory");
        } else {
            json_decref(arr);
        }
    }
    if (rc == FDS_OK) {
        json_t *shares = NULL, *users = json_array();
        int bad = users == NULL;
        rc = fds__children(r, "share", full, &shares);
        size_t i;
        json_t *s;
        json_array_foreach(shares, i, s)
            if (fds__jstr(s, "user"))
                bad |= json_array_append(users, json_object_get(s, "user")) != 0;
        if (json_array_size(users))
            bad |= json_object_set(o, "shared", users) != 0;
        json_decref(users);
        json_decref(shares);
        if (rc == FDS_OK && bad)
            rc = fds__error(r, FDS_NOMEM, "out of memory");
    }
    if (rc != FDS_OK) {
        json_decref(o);
        return rc;
    }
    *out = o;
    return FDS_OK;
}

/* ---- owner and sharing ---------------------------------------------------------- */

static int check_user(fds_replica *r, const char *user)
{
    if (!user || !*user)
        return fds__error(r, FDS_INVALID, "a user name is required");
    if (strlen(user) > FDSP_MAX_ID)
        return fds__bad_value(r, "user", user, "user names are at most 64 bytes");
    return FDS_OK;
}

int fds_customer_assign(fds_replica *r, const char *id, const char *user)
{
    char full[FDSP_MAX_ID + 1];
    json_t *cur = NULL;
    if (!r || !id)
        return FDS_INVALID;
    int rc = check_user(r, user);
    if (rc == FDS_OK)
        rc = fds__resolve(r, "customer", id, full);
    if (rc == FDS_OK)
        rc = fds__read(r, "customer", full, &cur);
    if (rc != FDS_OK)
        return rc;
    const char *owner = fds__jstr(cur, "owner");
    if (!owner || strcmp(owner, user) != 0) {
        rc = fds__begin(r);
        if (rc == FDS_OK)
            rc = fds__end(r, fds__write1(r, "customer", full, "owner", user));
    }
    json_decref(cur);
    return rc;
}

int fds_customer_share(fds_replica *r, const char *id, const char *user,
                       int shared)
{
    char full[FDSP_MAX_ID + 1];
    char rid[2 * FDSP_MAX_ID + 2];
    json_t *cur = NULL;
    if (!r || !id)
        return FDS_INVALID;
    int rc = check_user(r, user);
    if (rc == FDS_OK)
        rc = fds__resolve(r, "customer", id, full);
    if (rc != FDS_OK)
        return rc;
    snprintf(rid, sizeof rid, "%s:%s", full, user);
    if (strlen(rid) > FDSP_MAX_ID)
        return fds__bad_value(r, "user", user, "too long to share with");
    rc = fds__read(r, "share", rid, &cur);
    if (rc != FDS_OK && rc != FDS_NOTFOUND)
        return rc;
    const char *del = fds__jstr(cur, "deleted");
    int now_shared = cur && !(del && strcmp(del, "1") == 0);
    json_decref(cur);
    if (now_shared == (shared != 0))
        return FDS_OK;          /* already as asked: no new version */
    json_t *w = json_pack("{s:s, s:s, s:s}", "customer", full, "user", user,
                          "deleted", shared ? "0" : "1");
    if (!w)
        return fds__error(r, FDS_NOMEM, "out of memory");
    rc = fds__begin(r);
    if (rc == FDS_OK)
        rc = fds__end(r, fds__write(r, "share", rid, w));
    json_decref(w);
    return rc;
}

/* ---- names for messages ------------------------------------------------------- */

/* "NAME (COMPANY)" of a customer's registers, or NULL without a name. */
static char *customer_words(const json_t *regs)
{
    const char *name = fds__jstr(regs, "name"), *co = fds__jstr(regs, "company");
    char buf[FDS__ERRMSG_MAX];
    if (!name)
        return NULL;
    if (co)
        snprintf(buf, sizeof buf, "%s (%s)", name, co);
    else
        snprintf(buf, sizeof buf, "%s", name);
    return strdup(buf);
}

/* The last value the log holds for a register (the record may be gone
** from reg: a refused record is removed when its user may not see it).
** Refused changes count too: they are what the user typed. */
static json_t *logged_value(fds_replica *r, const char *tbl, const char *rid,
                            const char *field)
{
    sqlite3_stmt *st = fds__stmt(r, FDS__ST_D_LOG_VALUE,
        "SELECT value FROM log WHERE tbl = ?1 AND rid = ?2 AND field = ?3 "
        "AND value IS NOT NULL ORDER BY lseq DESC LIMIT 1");
    json_t *v = NULL;
    if (!st)
        return NULL;
    sqlite3_bind_text(st, 1, tbl, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, rid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, field, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = json_string((const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    return v;
}

/* Registers of a record, from reg or else from what the log remembers of
** the fields a label needs. */
static json_t *label_regs(fds_replica *r, const char *tbl, const char *rid)
{
    static const char *const fields[] = {"name", "company", "customer", NULL};
    json_t *regs = NULL;
    if (fds__read(r, tbl, rid, &regs) == FDS_OK)
        return regs;
    if (!(regs = json_object()))
        return NULL;
    for (int i = 0; fields[i]; i++) {
        json_t *v = logged_value(r, tbl, rid, fields[i]);
        if (v)
            json_object_set_new(regs, fields[i], v);
    }
    if (json_object_size(regs) == 0) {
        json_decref(regs);
        return NULL;
    }
    return regs;
}

int fds_record_label(fds_replica *r, const char *table, const char *id,
                     char **out)
{
    static const struct { const char *tbl, *word; } words[] = {
        {"customer", "customer"}, {"followup", "follow-up"}, {"plan", "plan"},
        {"feedback", "feedback"}, {"stagechg", "stage change"},
        {"share", "share"}, {"fielddef", "field definition"},
        {"stagedef", "stage definition"},
    };
    char buf[FDS__ERRMSG_MAX];
    const char *word = table;
    json_t *regs = NULL, *cust = NULL;
    if (!out)
        return FDS_INVALID;
    *out = NULL;
    if (!r || !table || !id)
        return FDS_INVALID;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcmp(words[i].tbl, table) == 0)
            word = words[i].word;
    /* Deleted records are named too: a refusal may be about a delete; and
    ** records the server refused may be gone: the log still names them. */
    regs = label_regs(r, table, id);
    int have = regs != NULL;
    if (strcmp(table, "customer") == 0 && have) {
        *out = customer_words(regs);
    } else if (strcmp(table, "fielddef") == 0 || strcmp(table, "stagedef") == 0) {
        snprintf(buf, sizeof buf, "%s %s", word, id);
        *out = strdup(buf);
    } else if (have && fds__jstr(regs, "customer")) {
        char *cw = NULL;
        if ((cust = label_regs(r, "customer", fds__jstr(regs, "customer"))) != NULL)
            cw = customer_words(cust);
        if (cw) {
            snprintf(buf, sizeof buf, "%s of %s", word, cw);
            *out = strdup(buf);
        }
        free(cw);
    }
    if (!*out) {
        snprintf(buf, sizeof buf, "%s %.8s", word, id);
        *out = strdup(buf);
    }
    json_decref(regs);
    json_decref(cust);
    return *out ? FDS_OK : fds__error(r, FDS_NOMEM, "out of memory");
}
