/*
** ids.c — record ids typed by people: any unique prefix of a full id.
**
** Records live in reg (one row per field), so the candidates of a prefix are
** the distinct rids of that table in the key range [prefix, prefix+1) that
** are not deleted.  Conflicts have no rows of their own; their ids are a
** hash of (table, record, field), the same on every replica.
*/
#include "domain.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CANDIDATES 6

void fds__conflict_id(const char *tbl, const char *rid, const char *field,
                      char out[17])
{
    uint64_t h = 0xcbf29ce484222325ULL;          /* FNV-1a 64 offset basis */
    const char *parts[3] = {tbl, rid, field};
    for (int i = 0; i < 3; i++) {
        const unsigned char *p = (const unsigned char *)parts[i];
        /* each part with its terminating NUL, so ("ab","c") != ("a","bc") */
        do {
            h ^= *p;
            h *= 0x100000001b3ULL;
        } while (*p++);
    }
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

static const char *table_word(const char *tbl)
{
    if (strcmp(tbl, "followup") == 0)
        return "follow-up";
    if (strcmp(tbl, "stagechg") == 0)
        return "stage change";
    return tbl;
}

/* Candidates among conflicts: ids computed from every conflicted register. */
static int conflict_candidates(fds_replica *r, const char *prefix, json_t *out)
{
    sqlite3_stmt *st = fds__stmt(r, FDS__ST_D_CONFLICT_ROWS,
                                 FDS__SQL_CONFLICT_ROWS);
    if (!st)
        return fds__errcode(r);
    size_t n = strlen(prefix);
    int rc, bad = 0;
    while (!bad && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        char id[17];
        const char *t = (const char *)sqlite3_column_text(st, 0),
                   *rid = (const char *)sqlite3_column_text(st, 1),
                   *f = (const char *)sqlite3_column_text(st, 2);
        if (!t || !rid || !f) {         /* SQLite out of memory */
            bad = 1;
            break;
        }
        fds__conflict_id(t, rid, f, id);
        if (strncasecmp(id, prefix, n) == 0 && json_array_size(out) < MAX_CANDIDATES)
            fds__jpush(out, json_string(id), &bad);
    }
    sqlite3_reset(st);
    /* A candidate lost to out of memory must not read as "no such id". */
    if (bad)
        return fds__error(r, FDS_NOMEM, "out of memory");
    return rc == SQLITE_DONE ? FDS_OK : fds__dberror(r, "listing conflicts");
}

static int record_candidates(fds_replica *r, const char *tbl,
                             const char *prefix, json_t *out)
{
    sqlite3_stmt *st = fds__stmt(r, FDS__ST_D_PREFIX,
        "SELECT x.rid FROM rec x WHERE x.tbl = ?1 AND x.rid >= ?2 "
        "AND x.rid < ?3 AND json_extract(x.vals, '$.deleted') IS NOT '1' "
        "ORDER BY x.rid LIMIT 6");
    if (!st)
        return fds__errcode(r);
    /* Upper bound: the prefix with its last byte incremented.  0xFF never
    ** occurs in UTF-8, so the increment cannot overflow for valid text. */
    size_t n = strlen(prefix);
    char *hi = malloc(n + 1);
    if (!hi)
        return fds__error(r, FDS_NOMEM, "out of memory");
    memcpy(hi, prefix, n + 1);
    hi[n - 1] = (char)((unsigned char)hi[n - 1] + 1);
    sqlite3_bind_text(st, 1, tbl, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, prefix, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, hi, (int)n, SQLITE_STATIC);
    int rc, bad = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        fds__jpush(out, json_string((const char *)sqlite3_column_text(st, 0)),
                   &bad);
    sqlite3_reset(st);
    free(hi);
    if (bad)
        return fds__error(r, FDS_NOMEM, "out of memory");
    return rc == SQLITE_DONE ? FDS_OK : fds__dberror(r, "resolving an id");
}

static int candidates(fds_replica *r, const char *tbl, const char *prefix,
                      json_t *out)
{
    if (strcmp(tbl, "conflict") == 0)
        return conflict_candidates(r, prefix, out);
    return record_candidates(r, tbl, prefix, out);
}

static int resolve(fds_replica *r, const char *tbl, const char *prefix,
                   char out[FDSP_MAX_ID + 1])
{
    if (!r || !tbl || !prefix)
        return FDS_INVALID;
    if (!*prefix)
        return fds__error(r, FDS_INVALID, "empty %s id", table_word(tbl));
    if (strlen(prefix) > FDSP_MAX_ID)
        return fds__error(r, FDS_NOTFOUND, "no %s with id \"%.64s...\"",
                          table_word(tbl), prefix);
    /* A full id (what scripts and the CLI's own output pass) that names a
    ** live record resolves to itself: the candidate scan would list it
    ** first and pick it as the exact match, whatever else shares the
    ** prefix.  One lookup of the record instead of the DISTINCT scan with
    ** a deleted check per register; anything else takes the scan. */
    if (strlen(prefix) == FDS__UUID_LEN && strcmp(tbl, "conflict") != 0) {
        int live = fds__exists(r, tbl, prefix);
        if (live < 0)
            return fds__errcode(r);
        if (live) {
            memcpy(out, prefix, FDS__UUID_LEN + 1);
            return FDS_OK;
        }
    }
    json_t *c = json_array();
    if (!c)
        return fds__error(r, FDS_NOMEM, "out of memory");
    int rc = candidates(r, tbl, prefix, c);
    if (rc == FDS_OK && json_array_size(c) == 0) {
        /* ids are lower-case hex: forgive a prefix typed in upper case */
        char low[FDSP_MAX_ID + 1];
        size_t i;
        int changed = 0;
        for (i = 0; prefix[i]; i++) {
            low[i] = (char)tolower((unsigned char)prefix[i]);
            changed |= low[i] != prefix[i];
        }
        low[i] = '\0';
        if (changed)
            rc = candidates(r, tbl, low, c);
    }
    if (rc != FDS_OK)
        goto done;
    size_t n = json_array_size(c);
    if (n == 0) {
        rc = fds__error(r, FDS_NOTFOUND, "no %s with id \"%s\"",
                        table_word(tbl), prefix);
        goto done;
    }
    const char *pick = NULL;
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(json_string_value(json_array_get(c, i)), prefix) == 0)
            pick = json_string_value(json_array_get(c, i));
    if (!pick && n == 1)
        pick = json_string_value(json_array_get(c, 0));
    if (pick) {
        snprintf(out, FDSP_MAX_ID + 1, "%s", pick);
        rc = FDS_OK;
        goto done;
    }
    /* Ambiguous: name every candidate (with the customer's name, which is
    ** what the person will recognise). */
    char list[FDS__ERRMSG_MAX - 96];
    size_t used = 0;
    list[0] = '\0';
    for (size_t i = 0; i < n && i < MAX_CANDIDATES - 1; i++) {
        const char *id = json_string_value(json_array_get(c, i));
        char label[160];
        if (strcmp(tbl, "customer") == 0) {
            if ((rc = fds__customer_label(r, id, label, sizeof label)) != FDS_OK)
                goto done;
        } else
            snprintf(label, sizeof label, "%s", id);
        int w = snprintf(list + used, sizeof list - used, "%s%s",
                         i ? ", " : "", label);
        if (w < 0 || (size_t)w >= sizeof list - used)
            break;
        used += (size_t)w;
    }
    rc = fds__error(r, FDS_AMBIGUOUS, "%s id \"%s\" is ambiguous: %s%s",
                    table_word(tbl), prefix, list,
                    n >= MAX_CANDIDATES ? ", ..." : "");
done:
    json_decref(c);
    return rc;
}

int fds__resolve(fds_replica *r, const char *tbl, const char *id,
                 char out[FDSP_MAX_ID + 1])
{
    return resolve(r, tbl, id, out);
}

int fds_resolve_id(fds_replica *r, const char *table, const char *prefix,
                   char **full)
{
    char id[FDSP_MAX_ID + 1];
    if (!full)
        return FDS_INVALID;
    *full = NULL;
    int rc = resolve(r, table, prefix, id);
    if (rc != FDS_OK)
        return rc;
    *full = strdup(id);
    return *full ? FDS_OK : fds__error(r, FDS_NOMEM, "out of memory");
}
