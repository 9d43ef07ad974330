/*
** defs.c — the configurable parts of the follow-up sheet: custom field
** definitions, the sales pipeline's stages, and templates that set both for
** a kind of business (the article's software, logistics and design cases).
**
** Definitions are ordinary records (tables fielddef and stagedef, rid = the
** key), so they sync and merge like everything else.  The built-in stages
** are not stored: stagedef records override or extend them, and a stagedef
** with deleted = "1" hides one.
*/
#include "domain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LABEL 200

static const struct {
    const char *key, *label, *label_zh;
    int order, probability, won, lost;
} builtin_stages[] = {
    {"lead", "Lead", "新线索", 10, 10, 0, 0},
    {"intent", "Intent confirmed", "意向确认", 20, 25, 0, 0},
    {"proposal", "Proposal", "方案制定", 30, 50, 0, 0},
    {"quote", "Quote", "报价", 40, 70, 0, 0},
    {"contract", "Contract", "合同签署", 50, 90, 0, 0},
    {"won", "Won", "成交", 60, 100, 1, 0},
    {"lost", "Lost", "流失", 70, 0, 0, 1},
};

static int builtin_index(const char *key)
{
    for (size_t i = 0; i < sizeof builtin_stages / sizeof builtin_stages[0]; i++)
        if (strcmp(builtin_stages[i].key, key) == 0)
            return (int)i;
    return -1;
}

/* Every rid of a table (deleted ones included), in rid order. */
static int table_rids(fds_replica *r, const char *tbl, json_t **out)
{
    json_t *ids = json_array();
    if (!ids)
        return fds__error(r, FDS_NOMEM, "out of memory");
    sqlite3_stmt *st = fds__stmt(r, FDS__ST_D_TABLE_RIDS,
        "SELECT rid FROM rec WHERE tbl = ?1 ORDER BY rid");
    if (!st) {
        json_decref(ids);
        return fds__errcode(r);
    }
    sqlite3_bind_text(st, 1, tbl, -1, SQLITE_STATIC);
    int s, bad = 0;
    while ((s = sqlite3_step(st)) == SQLITE_ROW)
        fds__jpush(ids, json_string((const char *)sqlite3_column_text(st, 0)),
                   &bad);
    sqlite3_reset(st);
    if (s != SQLITE_DONE) {
        json_decref(ids);
        return fds__dberror(r, "listing definitions");
    }
    if (bad) {
        json_decref(ids);
        return fds__error(r, FDS_NOMEM, "out of memory");
    }
    *out = ids;
    return FDS_OK;
}

static long int_of(const char *s, long dflt)
{
    char *end = NULL;
    if (!s)
        return dflt;
    long v = strtol(s, &end, 10);
    return end != s && *end == '\0' ? v : dflt;
}

static int flag_of(const char *s)
{
    return s && strcmp(s, "1") == 0;
}

static int cmp_order(const void *a, const void *b)
{
    const json_t *x = *(const json_t *const *)a, *y = *(const json_t *const *)b;
    json_int_t ox = json_integer_value(json_object_get(x, "order"));
    json_int_t oy = json_integer_value(json_object_get(y, "order"));
    if (ox != oy)
        return ox < oy ? -1 : 1;
    return strcmp(fds__jstr(x, "key"), fds__jstr(y, "key"));
}

/* Sort an array of definition objects by "order", then "key". */
static int sort_defs(json_t *arr)
{
    size_t n = json_array_size(arr);
    if (n < 2)
        return FDS_OK;
    json_t **v = calloc(n, sizeof *v);
    if (!v)
        return FDS_NOMEM;
    for (size_t i = 0; i < n; i++)
        v[i] = json_incref(json_array_get(arr, i));
    qsort(v, n, sizeof *v, cmp_order);
    json_array_clear(arr);
    int bad = 0;
    for (size_t i = 0; i < n; i++)
        fds__jpush(arr, v[i], &bad);
    free(v);
    return bad ? FDS_NOMEM : FDS_OK;
}

/* ---- stages -------------------------------------------------------------------- */

int fds_stagedef_list(fds_replica *r, json_t **out)
{
    json_t *map = json_object(), *ids = NULL, *arr = NULL;
    int rc;
    if (!out)
        return FDS_INVALID;
    *out = NULL;
    if (!map)
        return fds__error(r, FDS_NOMEM, "out of memory");
    int bad = 0;
    for (size_t i = 0; i < sizeof builtin_stages / sizeof builtin_stages[0]; i++)
        fds__jset(map, builtin_stages[i].key,
            json_pack("{s:s, s:s, s:s, s:i, s:i, s:b, s:b}",
                      "key", builtin_stages[i].key,
                      "label", builtin_stages[i].label,
                      "label_zh", builtin_stages[i].label_zh,
                      "order", builtin_stages[i].order,
                      "probability", builtin_stages[i].probability,
                      "won", builtin_stages[i].won,
                      "lost", builtin_stages[i].lost), &bad);
    if ((rc = table_rids(r, "stagedef", &ids)) != FDS_OK)
        goto done;
    size_t i;
    json_t *idj;
    json_array_foreach(ids, i, idj) {
        const char *key = json_string_value(idj);
        json_t *regs = NULL;
        rc = fds__read(r, "stagedef", key, &regs);
        if (rc == FDS_NOTFOUND)
            continue;
        if (rc != FDS_OK)
            goto done;
        rc = FDS_OK;
        if (flag_of(fds__jstr(regs, "deleted"))) {
            json_object_del(map, key);
            json_decref(regs);
            continue;
        }
        json_t *s = json_object_get(map, key);
        if (!s) {
            s = json_pack("{s:s, s:s, s:i, s:i, s:b, s:b}", "key", key,
                          "label", key, "order", 1000, "probability", 0,
                          "won", 0, "lost", 0);
            fds__jset(map, key, s, &bad);
            if (bad) {
                json_decref(regs);
                rc = fds__error(r, FDS_NOMEM, "out of memory");
                goto done;
            }
        }
        const char *v;
        if ((v = fds__jstr(regs, "label")))
            fds__jset(s, "label", json_string(v), &bad);
        if ((v = fds__jstr(regs, "label_zh")))
            fds__jset(s, "label_zh", json_string(v), &bad);
        if ((v = fds__jstr(regs, "order")))
            fds__jset(s, "order", json_integer(int_of(v, 1000)), &bad);
        if ((v = fds__jstr(regs, "probability")))
            fds__jset(s, "probability", json_integer(int_of(v, 0)), &bad);
        if ((v = fds__jstr(regs, "won")))
            fds__jset(s, "won", json_boolean(flag_of(v)), &bad);
        if ((v = fds__jstr(regs, "lost")))
            fds__jset(s, "lost", json_boolean(flag_of(v)), &bad);
        json_decref(regs);
    }
    if (!(arr = json_array())) {
        rc = fds__error(r, FDS_NOMEM, "out of memory");
        goto done;
    }
    const char *k;
    json_t *s;
    json_object_foreach(map, k, s) {
        /* every stage has both labels, so a Chinese UI never shows a blank */
        if (!fds__jstr(s, "label_zh"))
            bad |= json_object_set(s, "label_zh", json_object_get(s, "label")) != 0;
        bad |= json_array_append(arr, s) != 0;
    }
    if (bad || sort_defs(arr)) {
        rc = fds__error(r, FDS_NOMEM, "out of memory");
        goto done;
    }
    *out = arr;
    arr = NULL;
done:
    json_decref(map);
    json_decref(ids);
    json_decref(arr);
    return rc;
}

int fds__stage_find(fds_replica *r, const char *text, json_t **stage)
{
    json_t *list = NULL;
    *stage = NULL;
    int rc = fds_stagedef_list(r, &list);
    if (rc != FDS_OK)
        return rc;
    size_t i;
    json_t *s;
    json_array_foreach(list, i, s)
        if (strcmp(fds__jstr(s, "key"), text) == 0)
            *stage = s;
    if (!*stage)
        json_array_foreach(list, i, s) {
            const char *l = fds__jstr(s, "label"), *z = fds__jstr(s, "label_zh");
            /* strcasecmp folds ASCII only and compares other bytes as they
            ** are, which is right for Chinese labels */
            if ((l && strcasecmp(l, text) == 0) || (z && strcmp(z, text) == 0) ||
                strcasecmp(fds__jstr(s, "key"), text) == 0) {
                *stage = s;
                break;
            }
        }
    if (*stage) {
        json_incref(*stage);
        json_decref(list);
        return FDS_OK;
    }
    char keys[256];
    size_t used = 0;
    keys[0] = '\0';
    json_array_foreach(list, i, s) {
        int w = snprintf(keys + used, sizeof keys - used, "%s%s",
                         i ? ", " : "", fds__jstr(s, "key"));
        if (w < 0 || (size_t)w >= sizeof keys - used)
            break;
        used += (size_t)w;
    }
    json_decref(list);
    return fds__error(r, FDS_INVALID, "unknown stage \"%.64s\": expected one of %s",
                      text, keys[0] ? keys : "(no stages defined)");
}

/* Integer from a JSON number or numeric string, within [lo, hi].  In
** long long, not long: on 32-bit ARM a long is 32 bits, and 4294967306
** (2^32 + 10) cast to long passed as 10 there while 64-bit devices
** refused it. */
static int take_int(fds_replica *r, const char *what, const json_t *v,
                    long long lo, long long hi, char out[24])
{
    long long x;
    if (json_is_integer(v)) {
        x = (long long)json_integer_value(v);
    } else if (json_is_string(v)) {
        char *end = NULL;
        x = strtoll(json_string_value(v), &end, 10);
        if (end == json_string_value(v) || *end)
            return fds__bad_value(r, what, json_string_value(v),
                                  "expected a whole number");
    } else {
        return fds__error(r, FDS_INVALID, "invalid %s: expected a whole number",
                          what);
    }
    if (x < lo || x > hi) {
        char shown[24];
        snprintf(shown, sizeof shown, "%lld", x);
        char why[64];
        snprintf(why, sizeof why, "expected %lld to %lld", lo, hi);
        return fds__bad_value(r, what, shown, why);
    }
    snprintf(out, 24, "%lld", x);
    return FDS_OK;
}

static int take_bool(fds_replica *r, const char *what, const json_t *v,
                     const char **out)
{
    if (json_is_boolean(v)) {
        *out = json_is_true(v) ? "1" : "0";
        return FDS_OK;
    }
    const char *s = json_string_value(v);
    if (s && (strcmp(s, "1") == 0 || strcmp(s, "true") == 0)) {
        *out = "1";
        return FDS_OK;
    }
    if (s && (strcmp(s, "0") == 0 || strcmp(s, "false") == 0)) {
        *out = "0";
        return FDS_OK;
    }
    return fds__error(r, FDS_INVALID, "invalid %s: expected true or false", what);
}

static int take_label(fds_replica *r, const char *what, const json_t *v,
                      json_t *w, const char *field)
{
    char *t = NULL;
    int rc = fds__json_text(r, what, v, 0, &t);
    if (rc != FDS_OK)
        return rc;
    if (t && strlen(t) > MAX_LABEL) {
        rc = fds__bad_value(r, what, t, "labels are at most 200 bytes");
    } else if (json_object_set_new(w, field, t ? json_string(t)
                                               : json_null()) != 0) {
        rc = fds__error(r, FDS_NOMEM, "out of memory");
    }
    free(t);
    return rc;
}

/* Drop writes equal to what is stored, then write the rest (if any). */
static int write_changes(fds_replica *r, const char *tbl, const char *key,
                         json_t *w)
{
    json_t *cur = NULL;
    int rc = fds__read(r, tbl, key, &cur);
    if (rc != FDS_OK && rc != FDS_NOTFOUND)
        return rc;
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(w, tmp, k, v) {
        const char *old = fds__jstr(cur, k), *nv = json_string_value(v);
        if ((!old && !nv) || (old && nv && strcmp(old, nv) == 0))
            json_object_del(w, k);
    }
    json_decref(cur);
    if (json_object_size(w) == 0)
        return FDS_OK;
    if ((rc = fds__begin(r)) != FDS_OK)
        return rc;
    return fds__end(r, fds__write(r, tbl, key, w));
}

/* The server refuses a rep's definitions (fields, stages, templates); a
** device that synced knows its user's role (meta "role", written from the
** server's welcome) and refuses up front rather than write changes that
** the next sync rolls back one refusal line at a time.  A device that
** never synced does not know, and lets the server decide. */
static int may_define(fds_replica *r, const char *what)
{
    char *role = NULL;
    if (fds_meta_get(r, "role", &role) != FDS_OK)
        return FDS_OK;
    int rep = role && strcmp(role, "rep") == 0;
    free(role);
    if (rep)
        return fds__error(r, FDS_PERM, "%s: a rep cannot change custom fields or "
                          "stages (the server refuses it); ask a manager or an "
                          "admin", what);
    return FDS_OK;
}

int fds_stagedef_set(fds_replica *r, const json_t *def)
{
    if (!r)
        return FDS_INVALID;
    int prc = may_define(r, "stage definition");
    if (prc != FDS_OK)
        return prc;
    if (!json_is_object(def))
        return fds__error(r, FDS_INVALID, "a stage definition must be an object");
    const char *key = fds__jstr(def, "key");
    if (!key || !fds__valid_key(key))
        return fds__bad_value(r, "stage key", key ? key : "",
                              "expected [a-z][a-z0-9_]{0,31}");
    json_t *w = json_object(), *list = NULL;
    if (!w)
        return fds__error(r, FDS_NOMEM, "out of memory");
    int rc = FDS_OK, bad = 0;
    const char *k;
    json_t *v;
    char num[24];
    const char *flag;
    json_object_foreach((json_t *)def, k, v) {
        if (strcmp(k, "key") == 0)
            continue;
        if (strcmp(k, "label") == 0 || strcmp(k, "label_zh") == 0) {
            rc = take_label(r, k, v, w, k);
        } else if (strcmp(k, "order") == 0) {
            if ((rc = take_int(r, "stage order", v, -100000, 100000, num)) == FDS_OK)
                fds__jset(w, "order", json_string(num), &bad);
        } else if (strcmp(k, "probability") == 0) {
            if ((rc = take_int(r, "probability", v, 0, 100, num)) == FDS_OK)
                fds__jset(w, "probability", json_string(num), &bad);
        } else if (strcmp(k, "won") == 0 || strcmp(k, "lost") == 0 ||
                   strcmp(k, "deleted") == 0) {
            if ((rc = take_bool(r, k, v, &flag)) == FDS_OK)
                fds__jset(w, k, json_string(flag), &bad);
        } else {
            rc = fds__error(r, FDS_INVALID, "unknown stage definition key \"%s\"", k);
        }
        if (rc != FDS_OK)
            goto done;
    }
    if ((rc = fds_stagedef_list(r, &list)) != FDS_OK)
        goto done;
    json_t *cur = NULL;
    json_int_t maxorder = 0;
    size_t i;
    json_t *s;
    json_array_foreach(list, i, s) {
        if (strcmp(fds__jstr(s, "key"), key) == 0)
            cur = s;
        if (json_integer_value(json_object_get(s, "order")) > maxorder)
            maxorder = json_integer_value(json_object_get(s, "order"));
    }
    const char *del = fds__jstr(w, "deleted");
    if (!del || strcmp(del, "1") != 0) {
        json_t *stored = NULL;
        if ((rc = fds__read(r, "stagedef", key, &stored)) != FDS_OK &&
            rc != FDS_NOTFOUND)
            goto done;
        rc = FDS_OK;
        int fresh = builtin_index(key) < 0;
        int has_label = fds__jstr(stored, "label") != NULL;
        int has_order = fds__jstr(stored, "order") != NULL;
        json_decref(stored);
        if (fresh) {
            /* a new stage: give it what the list needs to show it */
            if (!fds__jstr(w, "label") && !has_label)
                fds__jset(w, "label", json_string(key), &bad);
            if (!fds__jstr(w, "order") && !has_order) {
                snprintf(num, sizeof num, "%lld", (long long)maxorder + 10);
                fds__jset(w, "order", json_string(num), &bad);
            }
        }
        if (!del && !cur)           /* defining it again revives it */
            fds__jset(w, "deleted", json_string("0"), &bad);
        const char *wo = fds__jstr(w, "won"), *lo = fds__jstr(w, "lost");
        int won = wo ? flag_of(wo) : cur && json_is_true(json_object_get(cur, "won"));
        int lost = lo ? flag_of(lo) : cur && json_is_true(json_object_get(cur, "lost"));
        if (won && lost) {
            rc = fds__error(r, FDS_INVALID,
                            "stage \"%s\" cannot be both won and lost", key);
            goto done;
        }
    }
    /* A field that did not make it into w would be silently not written. */
    rc = bad ? fds__error(r, FDS_NOMEM, "out of memory") : write_changes(r, "stagedef", key, w);
done:
    json_decref(w);
    json_decref(list);
    return rc;
}

/* ---- custom fields ---------------------------------------------------------------- */

static json_t *fielddef_from_regs(const char *key, const json_t *regs)
{
    const char *type = fds__jstr(regs, "type");
    json_t *o = json_pack("{s:s, s:s, s:s, s:i}", "key", key,
                          "label", fds__jstr(regs, "label") ? fds__jstr(regs, "label") : key,
                          "type", type ? type : "text",
                          "order", (int)int_of(fds__jstr(regs, "order"), 0));
    if (!o)
        return NULL;
    int bad = 0;
    if (fds__jstr(regs, "label_zh"))
        fds__jset(o, "label_zh", json_string(fds__jstr(regs, "label_zh")), &bad);
    const char *ch = fds__jstr(regs, "choices");
    if (ch) {
        json_t *c = NULL;
        /* Out of memory is not "no choices": a choice field without its
        ** choices would refuse every value. */
        if (fds__json_parse(ch, 0, &c, NULL, 0) == FDS_NOMEM)
            bad = 1;
        if (json_is_array(c))
            fds__jset(o, "choices", c, &bad);
        else
            json_decref(c);
    }
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int fds__fielddef_get(fds_replica *r, const char *key, json_t **def)
{
    json_t *regs = NULL;
    *def = NULL;
    int rc = fds__read(r, "fielddef", key, &regs);
    if (rc != FDS_OK)
        return rc;
    if (flag_of(fds__jstr(regs, "deleted"))) {
        json_decref(regs);
        return FDS_NOTFOUND;
    }
    *def = fielddef_from_regs(key, regs);
    json_decref(regs);
    return *def ? FDS_OK : fds__error(r, FDS_NOMEM, "out of memory");
}

int fds_fielddef_list(fds_replica *r, json_t **out)
{
    json_t *ids = NULL, *arr = json_array();
    if (!out)
        return FDS_INVALID;
    *out = NULL;
    if (!arr)
        return fds__error(r, FDS_NOMEM, "out of memory");
    int rc = table_rids(r, "fielddef", &ids);
    size_t i;
    json_t *idj;
    json_array_foreach(ids, i, idj) {
        json_t *d = NULL;
        rc = fds__fielddef_get(r, json_string_value(idj), &d);
        if (rc == FDS_NOTFOUND) {
            rc = FDS_OK;
            continue;
        }
        if (rc != FDS_OK)
            break;
        if (json_array_append_new(arr, d) != 0) {
            rc = fds__error(r, FDS_NOMEM, "out of memory");
            break;
        }
    }
    if (rc == FDS_OK && sort_defs(arr))
        rc = fds__error(r, FDS_NOMEM, "out of memory");
    json_decref(ids);
    if (rc != FDS_OK) {
        json_decref(arr);
        return rc;
    }
    *out = arr;
    return FDS_OK;
}

/* Choices: a JSON array of distinct non-empty strings or "a,b,c". */
static int take_choices(fds_replica *r, const json_t *v, json_t *w)
{
    json_t *arr = json_array();
    int rc = FDS_OK;
    if (!arr)
        return fds__error(r, FDS_NOMEM, "out of memory");
    int bad = 0;
    if (json_is_string(v)) {
        const char *p = json_string_value(v);
        while (*p) {
            const char *e = strchr(p, ',');
            size_t n = e ? (size_t)(e - p) : strlen(p);
            fds__jpush(arr, json_stringn(p, n), &bad);
            p += n + (e ? 1 : 0);
        }
        v = arr;
    } else if (!json_is_array(v)) {
        json_decref(arr);
        return fds__error(r, FDS_INVALID, "invalid choices: expected a list of text");
    }
    json_t *clean = json_array();
    if (!clean)
        bad = 1;
    size_t i;
    json_t *c;
    json_array_foreach(v, i, c) {
        if (bad)
            break;
        char *t = NULL;
        if ((rc = fds__json_text(r, "choice", c, 0, &t)) != FDS_OK)
            break;
        if (!t)
            continue;
        size_t j;
        json_t *o;
        int dup = 0;
        json_array_foreach(clean, j, o)
            dup |= strcmp(json_string_value(o), t) == 0;
        if (!dup)
            fds__jpush(clean, json_string(t), &bad);
        free(t);
    }
    if (rc == FDS_OK && bad)
        rc = fds__error(r, FDS_NOMEM, "out of memory");
    if (rc == FDS_OK && json_array_size(clean) == 0)
        rc = fds__error(r, FDS_INVALID, "a choice field needs at least one choice");
    if (rc == FDS_OK) {
        char *text = fds__json_dump(clean, 0);
        if (!text)
            rc = fds__error(r, FDS_NOMEM, "out of memory");
        else if (strlen(text) > FDSP_MAX_VALUE)
            rc = fds__error(r, FDS_TOOBIG, "choices are too long (limit %d bytes)",
                            FDSP_MAX_VALUE);
        else if (json_object_set_new(w, "choices", json_string(text)) != 0)
            rc = fds__error(r, FDS_NOMEM, "out of memory");
        free(text);
    }
    json_decref(clean);
    json_decref(arr);
    return rc;
}

int fds_fielddef_set(fds_replica *r, const json_t *def)
{
    static const char *const types[] = {"text", "number", "date", "choice",
                                        "phone", "email", NULL};
    if (!r)
        return FDS_INVALID;
    int prc = may_define(r, "field definition");
    if (prc != FDS_OK)
        return prc;
    if (!json_is_object(def))
        return fds__error(r, FDS_INVALID, "a field definition must be an object");
    const char *key = fds__jstr(def, "key");
    if (!key || !fds__valid_key(key))
        return fds__bad_value(r, "field key", key ? key : "",
                              "expected [a-z][a-z0-9_]{0,31}");
    json_t *w = json_object(), *cur = NULL;
    if (!w)
        return fds__error(r, FDS_NOMEM, "out of memory");
    int rc = FDS_OK, bad = 0;
    const char *k;
    json_t *v;
    char num[24];
    const char *flag;
    json_object_foreach((json_t *)def, k, v) {
        if (strcmp(k, "key") == 0)
            continue;
        if (strcmp(k, "label") == 0 || strcmp(k, "label_zh") == 0) {
            rc = take_label(r, k, v, w, k);
        } else if (strcmp(k, "type") == 0) {
            const char *t = json_string_value(v);
            int ok = 0;
            for (int i = 0; t && types[i]; i++)
                ok |= strcmp(types[i], t) == 0;
            if (!ok)
                rc = fds__bad_value(r, "field type", t ? t : "",
                                    "expected text, number, date, choice, phone "
                                    "or email");
            else
                fds__jset(w, "type", json_string(t), &bad);
        } else if (strcmp(k, "choices") == 0) {
            if (!json_is_null(v))
                rc = take_choices(r, v, w);
        } else if (strcmp(k, "order") == 0) {
            if ((rc = take_int(r, "field order", v, -100000, 100000, num)) == FDS_OK)
                fds__jset(w, "order", json_string(num), &bad);
        } else if (strcmp(k, "deleted") == 0) {
            if ((rc = take_bool(r, k, v, &flag)) == FDS_OK)
                fds__jset(w, k, json_string(flag), &bad);
        } else {
            rc = fds__error(r, FDS_INVALID, "unknown field definition key \"%s\"", k);
        }
        if (rc != FDS_OK)
            goto done;
    }
    rc = fds__read(r, "fielddef", key, &cur);
    if (rc != FDS_OK && rc != FDS_NOTFOUND)
        goto done;
    rc = FDS_OK;
    const char *del = fds__jstr(w, "deleted");
    if (!del || strcmp(del, "1") != 0) {
        const char *type = fds__jstr(w, "type");
        if (!type)
            type = fds__jstr(cur, "type");
        if (!type) {
            type = "text";
            fds__jset(w, "type", json_string(type), &bad);
        }
        if (strcmp(type, "choice") == 0 && !fds__jstr(w, "choices") &&
            !fds__jstr(cur, "choices")) {
            rc = fds__error(r, FDS_INVALID,
                            "field \"%s\" is a choice: give its choices", key);
            goto done;
        }
        if (!fds__jstr(w, "label") && !fds__jstr(cur, "label"))
            fds__jset(w, "label", json_string(key), &bad);
        if (!del && flag_of(fds__jstr(cur, "deleted")))
            fds__jset(w, "deleted", json_string("0"), &bad);
    }
    rc = bad ? fds__error(r, FDS_NOMEM, "out of memory") : write_changes(r, "fielddef", key, w);
done:
    json_decref(w);
    json_decref(cur);
    return rc;
}

/* ---- templates ---------------------------------------------------------------------- */

/* Prefix the handle's current error with where in the template it came. */
static int in_template(fds_replica *r, int rc, const char *name,
                       const char *part, size_t i)
{
    char msg[FDS__ERRMSG_MAX];
    snprintf(msg, sizeof msg, "%s", fds_errmsg(r));
    return fds__error(r, rc, "template \"%s\", %s %zu: %s", name, part, i + 1, msg);
}

int fds_template_apply(fds_replica *r, const json_t *tpl)
{
    if (!r)
        return FDS_INVALID;
    int prc = may_define(r, "template");
    if (prc != FDS_OK)
        return prc;
    if (!json_is_object(tpl))
        return fds__error(r, FDS_INVALID, "a template must be a JSON object");
    const char *name = fds__jstr(tpl, "name");
    if (!name || !*name)
        return fds__error(r, FDS_INVALID, "a template needs a \"name\"");
    const json_t *fields = json_object_get(tpl, "fields");
    const json_t *stages = json_object_get(tpl, "stages");
    if ((fields && !json_is_array(fields)) || (stages && !json_is_array(stages)))
        return fds__error(r, FDS_INVALID,
                          "template \"%s\": fields and stages must be arrays", name);
    int rc = fds__begin(r);
    if (rc != FDS_OK)
        return rc;
    size_t i;
    json_t *d;
    json_array_foreach(fields, i, d) {
        if ((rc = fds_fielddef_set(r, d)) != FDS_OK) {
            rc = in_template(r, rc, name, "field", i);
            break;
        }
    }
    if (rc == FDS_OK)
        json_array_foreach(stages, i, d) {
            if ((rc = fds_stagedef_set(r, d)) != FDS_OK) {
                rc = in_template(r, rc, name, "stage", i);
                break;
            }
        }
    return fds__end(r, rc);
}
