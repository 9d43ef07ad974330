/*
** activity.c — what happens on a customer: follow-ups (跟进情况), feedback,
** stage changes (销售进展) and next follow-up plans (下次跟进计划).
**
** Each is its own record pointing at the customer, so two reps logging on
** one customer never touch the same register (DESIGN rule 4).
*/
#include "domain.h"
#include "blobx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Keys a caller may pass back from our own output; never written from in. */
static int ignored(const char *k)
{
    return strcmp(k, "id") == 0 || strcmp(k, "customer") == 0 ||
           strcmp(k, "author") == 0;
}

static int allowed(const char *const *keys, const char *k)
{
    for (int i = 0; keys[i]; i++)
        if (strcmp(keys[i], k) == 0)
            return 1;
    return 0;
}

static const char *table_word(const char *tbl)
{
    return strcmp(tbl, "followup") == 0 ? "follow-up" : tbl;
}

/* Validate `in` against the table's keys into writes (which holds the
** defaults already), check the required keys, and write a new record of
** tbl for the customer in one transaction.  *out (may be NULL) gets it. */
static int add_child(fds_replica *r, const char *tbl, const char *customer,
                     const json_t *in, const char *const *keys,
                     const char *const *required, json_t *writes, json_t **out)
{
    char full[FDSP_MAX_ID + 1], id[FDS__UUID_LEN + 1];
    int rc, bad = 0;
    if (out)
        *out = NULL;
    if (!json_is_object(in))
        return fds__error(r, FDS_INVALID, "%s input must be a JSON object",
                          table_word(tbl));
    if ((rc = fds__resolve(r, "customer", customer, full)) != FDS_OK)
        return rc;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)in, k, v) {
        char *text = NULL, *norm = NULL;
        if (ignored(k))
            continue;
        if (!allowed(keys, k))
            return fds__error(r, FDS_INVALID, "unknown %s field \"%s\"",
                              table_word(tbl), k);
        rc = fds__json_text(r, k, v, 0, &text);
        if (rc == FDS_OK && text)
            rc = fds__validate_value(r, tbl, k, text, &norm);
        if (rc == FDS_OK && norm)   /* null or "" keeps the default */
            fds__jset(writes, k, json_string(norm), &bad);
        free(text);
        free(norm);
        if (rc != FDS_OK)
            return rc;
        if (bad)
            return fds__error(r, FDS_NOMEM, "out of memory");
    }
    for (int i = 0; required[i]; i++)
        if (!fds__jstr(writes, required[i]))
            return fds__error(r, FDS_INVALID, "%s: %s is required",
                              table_word(tbl), required[i]);
    fds__jset(writes, "customer", json_string(full), &bad);
    if (bad)
        return fds__error(r, FDS_NOMEM, "out of memory");
    if ((rc = fds__uuid(r, id)) != FDS_OK)
        return rc;
    if ((rc = fds__begin(r)) != FDS_OK)
        return rc;
    rc = fds__write_known(r, tbl, id, writes, 0);               /* new id */
    /* *out is made before the commit: out of memory there undoes the add
    ** (FDS_NOMEM means nothing changed). */
    if (rc == FDS_OK && out && !(*out = fds__child_json(tbl, id, writes)))
        rc = fds__error(r, FDS_NOMEM, "out of memory");
    rc = fds__end(r, rc);
    if (rc != FDS_OK && out) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

/* Defaults every authored record gets: "at" now and the replica's user. */
static json_t *authored_defaults(fds_replica *r, int with_at)
{
    json_t *w = json_object();
    char now[40];
    int bad = 0;
    if (!w)
        return NULL;
    if (with_at) {
        fds_time_format(fds__now_ms(r), now, sizeof now);
        fds__jset(w, "at", json_string(now), &bad);
    }
    if (r->user && *r->user)
        fds__jset(w, "author", json_string(r->user), &bad);
    if (bad) {
        json_decref(w);
        return NULL;
    }
    return w;
}

int fds_followup_add(fds_replica *r, const char *customer, const json_t *in,
                     json_t **out)
{
    static const char *const keys[] = {"method", "content", "result", "at",
                                       "location", "address", NULL};
    static const char *const required[] = {"method", "content", NULL};
    if (!r || !customer)
        return FDS_INVALID;
    json_t *fin = NULL;
    int rc = fds__followup_input(r, in, &fin);
    if (rc != FDS_OK)
        return rc;
    json_t *w = authored_defaults(r, 1);
    if (!w) {
        json_decref(fin);
        return fds__error(r, FDS_NOMEM, "out of memory");
    }
    /* Photos (attach.c): the array becomes the register's canonical text,
    ** each entry with its new id; the rest of the input (fin, our own copy)
    ** goes through add_child. */
    const json_t *att = json_object_get(fin, "attachments");
    if (att && !json_is_null(att)) {
        char *text = NULL;
        rc = fds__attachments_norm(r, att, &text);
        if (rc == FDS_OK && text && json_object_set_new(w, "attachments",
                                                        json_string(text)))
            rc = fds__error(r, FDS_NOMEM, "out of memory");
        free(text);
    }
    json_object_del(fin, "attachments");
    if (rc == FDS_OK)
        rc = add_child(r, "followup", customer, fin, keys, required, w, out);
    json_decref(w);
    json_decref(fin);
    return rc;
}

int fds_feedback_add(fds_replica *r, const char *customer, const json_t *in,
                     json_t **out)
{
    static const char *const keys[] = {"content", "at", NULL};
    static const char *const required[] = {"content", NULL};
    if (!r || !customer)
        return FDS_INVALID;
    json_t *w = authored_defaults(r, 1);
    if (!w)
        return fds__error(r, FDS_NOMEM, "out of memory");
    int rc = add_child(r, "feedback", customer, in, keys, required, w, out);
    json_decref(w);
    return rc;
}

int fds_plan_add(fds_replica *r, const char *customer, const json_t *in,
                 json_t **out)
{
    static const char *const keys[] = {"due", "method", "content", NULL};
    static const char *const required[] = {"due", NULL};
    if (!r || !customer)
        return FDS_INVALID;
    json_t *w = json_pack("{s:s}", "done", "0");
    if (!w)
        return fds__error(r, FDS_NOMEM, "out of memory");
    int rc = add_child(r, "plan", customer, in, keys, required, w, out);
    json_decref(w);
    return rc;
}

int fds_plan_done(fds_replica *r, const char *plan_id, json_t **out)
{
    return fds_plan_finish(r, plan_id, NULL, out);
}

int fds_plan_finish(fds_replica *r, const char *plan_id, const char *result,
                    json_t **out)
{
    char full[FDSP_MAX_ID + 1];
    json_t *regs = NULL, *w = NULL, *resj = NULL;
    char *res_text = NULL;
    int bad = 0;
    if (out)
        *out = NULL;
    if (!r || !plan_id)
        return FDS_INVALID;
    int rc = fds__resolve(r, "plan", plan_id, full);
    if (rc == FDS_OK && result) {
        if (!fds__utf8_valid(result, strlen(result)))
            rc = fds__error(r, FDS_INVALID, "the result is not valid UTF-8");
        else if (!(resj = json_string(result)))
            rc = fds__error(r, FDS_NOMEM, "out of memory");
        else
            rc = fds__json_text(r, "result", resj, 0, &res_text);
    }
    if (rc == FDS_OK)
        rc = fds__read(r, "plan", full, &regs);
    if (rc != FDS_OK)
        goto done;
    if (!(w = json_object())) {
        rc = fds__error(r, FDS_NOMEM, "out of memory");
        goto done;
    }
    /* Write only what changes: marking a done plan done again is no new
    ** version (it would conflict with a concurrent edit for nothing). */
    const char *d = fds__jstr(regs, "done");
    if (!d || strcmp(d, "1") != 0)
        fds__jset(w, "done", json_string("1"), &bad);
    const char *old = fds__jstr(regs, "result");
    if (res_text && (!old || strcmp(old, res_text) != 0))
        fds__jset(w, "result", json_string(res_text), &bad);
    if (bad) {
        rc = fds__error(r, FDS_NOMEM, "out of memory");
        goto done;
    }
    /* *out is made before the commit, so FDS_NOMEM means nothing changed. */
    rc = json_object_size(w) > 0 ? fds__begin(r) : FDS_OK;
    int in_tx = json_object_size(w) > 0 && rc == FDS_OK;
    if (in_tx)
        rc = fds__write_known(r, "plan", full, w, 1);
    if (rc == FDS_OK && json_object_update(regs, w) != 0)
        rc = fds__error(r, FDS_NOMEM, "out of memory");
    if (rc == FDS_OK && out && !(*out = fds__child_json("plan", full, regs)))
        rc = fds__error(r, FDS_NOMEM, "out of memory");
    if (in_tx)
        rc = fds__end(r, rc);
    if (rc != FDS_OK && out) {
        json_decref(*out);
        *out = NULL;
    }
done:
    json_decref(regs);
    json_decref(w);
    json_decref(resj);
    free(res_text);
    return rc;
}

/* Change the given fields of an existing child record (a follow-up or a
** plan): keys as for add; null or "" clears an optional field, a required
** one (required[]) cannot be cleared.  Only fields whose value changes are
** written, so an edit that changes nothing is no new version. */
static int edit_child(fds_replica *r, const char *tbl, const char *id,
                      const json_t *in, const char *const *keys,
                      const char *const *required, json_t **out)
{
    char full[FDSP_MAX_ID + 1];
    json_t *regs = NULL, *w = NULL;
    int bad = 0;
    if (out)
        *out = NULL;
    if (!r || !id)
        return FDS_INVALID;
    if (!json_is_object(in))
        return fds__error(r, FDS_INVALID, "%s input must be a JSON object",
                          table_word(tbl));
    int rc = fds__resolve(r, tbl, id, full);
    if (rc == FDS_OK)
        rc = fds__read(r, tbl, full, &regs);
    if (rc != FDS_OK)
        return rc;
    if (!(w = json_object())) {
        rc = fds__error(r, FDS_NOMEM, "out of memory");
        goto done;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)in, k, v) {
        char *text = NULL, *norm = NULL;
        if (ignored(k))
            continue;
        if (!allowed(keys, k)) {
            rc = fds__error(r, FDS_INVALID, "unknown %s field \"%s\"",
                            table_word(tbl), k);
            goto done;
        }
        rc = fds__json_text(r, k, v, 0, &text);
        if (rc == FDS_OK && !text && allowed(required, k))
            rc = fds__error(r, FDS_INVALID, "%s: %s cannot be cleared",
                            table_word(tbl), k);
        if (rc == FDS_OK && text)
            rc = fds__validate_value(r, tbl, k, text, &norm);
        if (rc == FDS_OK) {
            const char *old = fds__jstr(regs, k);
            if (norm && (!old || strcmp(old, norm) != 0))
                fds__jset(w, k, json_string(norm), &bad);
            else if (!norm && old)
                fds__jset(w, k, json_null(), &bad);
        }
        free(text);
        free(norm);
        if (rc == FDS_OK && bad)
            rc = fds__error(r, FDS_NOMEM, "out of memory");
        if (rc != FDS_OK)
            goto done;
    }
    /* *out is made before the commit, so FDS_NOMEM means nothing changed. */
    int in_tx = json_object_size(w) > 0;
    if (in_tx && (rc = fds__begin(r)) != FDS_OK)
        goto done;
    if (in_tx)
        rc = fds__write_known(r, tbl, full, w, 1);
    if (rc == FDS_OK) {
        json_object_foreach(w, k, v) {
            if (json_is_null(v))
                json_object_del(regs, k);
            else
                bad |= json_object_set(regs, k, v) != 0;
        }
        if (bad)
            rc = fds__error(r, FDS_NOMEM, "out of memory");
    }
    if (rc == FDS_OK && out && !(*out = fds__child_json(tbl, full, regs)))
        rc = fds__error(r, FDS_NOMEM, "out of memory");
    if (in_tx)
        rc = fds__end(r, rc);
    if (rc != FDS_OK && out) {
        json_decref(*out);
        *out = NULL;
    }
done:
    json_decref(regs);
    json_decref(w);
    return rc;
}

/* Tombstone a child record (rule 5): it leaves the sheet and the daily
** list on every replica; history keeps it. */
static int delete_child(fds_replica *r, const char *tbl, const char *id,
                        json_t **out)
{
    char full[FDSP_MAX_ID + 1];
    json_t *regs = NULL;
    if (out)
        *out = NULL;
    if (!r || !id)
        return FDS_INVALID;
    int rc = fds__resolve(r, tbl, id, full);
    if (rc == FDS_OK && out)
        rc = fds__read(r, tbl, full, &regs);
    if (rc == FDS_OK)
        rc = fds__begin(r);
    if (rc != FDS_OK) {
        json_decref(regs);
        return rc;
    }
    rc = fds__write1(r, tbl, full, "deleted", "1");
    if (rc == FDS_OK && out && !(*out = fds__child_json(tbl, full, regs)))
        rc = fds__error(r, FDS_NOMEM, "out of memory");
    rc = fds__end(r, rc);
    if (rc != FDS_OK && out) {
        json_decref(*out);
        *out = NULL;
    }
    json_decref(regs);
    return rc;
}

int fds_followup_edit(fds_replica *r, const char *id, const json_t *in,
                      json_t **out)
{
    static const char *const keys[] = {"method", "content", "result", "at",
                                       "location", "address", NULL};
    static const char *const required[] = {"method", "content", "at", NULL};
    if (!r || !id)
        return FDS_INVALID;
    json_t *fin = NULL;
    int rc = fds__followup_input(r, in, &fin);
    if (rc != FDS_OK)
        return rc;
    rc = edit_child(r, "followup", id, fin, keys, required, out);
    json_decref(fin);
    return rc;
}

int fds_followup_delete(fds_replica *r, const char *id, json_t **out)
{
    return delete_child(r, "followup", id, out);
}

int fds_plan_edit(fds_replica *r, const char *id, const json_t *in,
                  json_t **out)
{
    static const char *const keys[] = {"due", "method", "content", "result", NULL};
    static const char *const required[] = {"due", NULL};
    return edit_child(r, "plan", id, in, keys, required, out);
}

int fds_plan_delete(fds_replica *r, const char *id, json_t **out)
{
    return delete_child(r, "plan", id, out);
}

int fds_stage_set(fds_replica *r, const char *customer, const char *stage,
                  const char *note, json_t **out)
{
    char full[FDSP_MAX_ID + 1], id[FDS__UUID_LEN + 1];
    json_t *cur = NULL, *st = NULL, *w = NULL, *notej = NULL;
    char *note_text = NULL;
    int bad = 0;
    if (out)
        *out = NULL;
    if (!r || !customer || !stage)
        return FDS_INVALID;
    int rc = fds__resolve(r, "customer", customer, full);
    if (rc == FDS_OK)
        rc = fds__stage_find(r, stage, &st);
    if (rc == FDS_OK && note) {
        if (!fds__utf8_valid(note, strlen(note)))
            rc = fds__error(r, FDS_INVALID, "the note is not valid UTF-8");
        else if (!(notej = json_string(note)))
            rc = fds__error(r, FDS_NOMEM, "out of memory");
        else
            rc = fds__json_text(r, "note", notej, 0, &note_text);
    }
    if (rc == FDS_OK)
        rc = fds__read(r, "customer", full, &cur);
    if (rc != FDS_OK)
        goto done;
    const char *key = fds__jstr(st, "key");
    const char *from = fds__jstr(cur, "stage");
    if (from && strcmp(from, key) == 0) {
        /* Asking for the stage the customer is at is no change, and not an
        ** error: a script or a rep repeating a move must not fail. */
        if (out) {
            *out = json_pack("{s:s, s:s, s:s, s:b}", "customer", full, "from",
                             from, "to", key, "unchanged", 1);
            if (!*out)
                rc = fds__error(r, FDS_NOMEM, "out of memory");
        }
        goto done;
    }
    if (json_is_true(json_object_get(st, "lost")) && !note_text) {
        rc = fds__error(r, FDS_INVALID,
                        "moving to stage \"%s\" needs a note saying why the "
                        "customer was lost", key);
        goto done;
    }
    if (from && !note_text) {
        /* Undoing a won deal is as weighty as losing one: say why. */
        json_t *fst = NULL;
        int frc = fds__stage_find(r, from, &fst);
        int won = frc == FDS_OK && json_is_true(json_object_get(fst, "won"));
        json_decref(fst);
        if (frc == FDS_NOMEM) {     /* no answer, not "not won" */
            rc = frc;
            goto done;
        }
        if (won) {
            rc = fds__error(r, FDS_INVALID,
                            "moving out of stage \"%s\" needs a note saying "
                            "why the won deal is reopened", from);
            goto done;
        }
    }
    if (!(w = authored_defaults(r, 1))) {
        rc = fds__error(r, FDS_NOMEM, "out of memory");
        goto done;
    }
    fds__jset(w, "customer", json_string(full), &bad);
    if (from)
        fds__jset(w, "from", json_string(from), &bad);
    fds__jset(w, "to", json_string(key), &bad);
    if (note_text)
        fds__jset(w, "note", json_string(note_text), &bad);
    if (bad) {
        rc = fds__error(r, FDS_NOMEM, "out of memory");
        goto done;
    }
    if ((rc = fds__uuid(r, id)) != FDS_OK)
        goto done;
    if ((rc = fds__begin(r)) != FDS_OK)
        goto done;
    rc = fds__write_known(r, "stagechg", id, w, 0);             /* new id */
    if (rc == FDS_OK)
        rc = fds__write1(r, "customer", full, "stage", key);
    /* *out is made before the commit, so FDS_NOMEM means nothing changed. */
    if (rc == FDS_OK && out && !(*out = fds__child_json("stagechg", id, w)))
        rc = fds__error(r, FDS_NOMEM, "out of memory");
    rc = fds__end(r, rc);
    if (rc != FDS_OK && out) {
        json_decref(*out);
        *out = NULL;
    }
done:
    json_decref(cur);
    json_decref(st);
    json_decref(w);
    json_decref(notej);
    free(note_text);
    return rc;
}
