/*
** store_sqlite_office_search.c — an index for the customer list's search
** (issue 19): a page with ?search= reads the customers that may match,
** not every customer.
**
**   ov_gram(g, rid)   the grams of each customer's name, company and phone
**
** The search (store_sqlite_office.c, FILTER_SQL) matches a customer when
** its name or company (lower()) or its phone holds the text, its phone's
** digits hold a phone-like text's digits, or its name spells a pinyin
** text (fds_pinyin_match: consecutive characters, each giving a prefix of
** one of its readings).  The grams are chosen so that every match has
** one of the grams a text asks for; the search itself still tests each
** candidate with FILTER_SQL, so the index only narrows, never decides:
**   "u" + c     every character c of lower(name), lower(company),
**               lower(phone): a text's rarest character (a customer that
**               holds the text holds each of its characters);
**   "d" + ddd   every three consecutive digits of name, company and
**               phone with the phone's punctuation (" -+()") taken out: a
**               text with three digits in a row (without punctuation)
**               asks for its rarest such window;
**   "i" + x     x begins a reading of a character of the name;
**   "p" + xy    xy begins a reading of a character of the name;
**   "q" + xy    x begins a reading of a character and y one of the next:
**               a pinyin text of one letter asks "i", of two or more
**               "p" and "q" of its first two letters (its first character
**               gave one letter, or two or more).
** The readings are found by asking fds_pinyin_match itself about each
** character, so the grams follow core's tables.  Kept in the merge
** transaction with the row (derive_customer), filled at open when absent.
*/
#include "store.h"
#include "store_sqlite_int.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fieldsync.h"

/* Grams per customer, at most: a customer with more (texts of hundreds of
** characters) has the gram "*" instead of the rest, which every search
** asks for. */
#define GRAM_MAX 256

enum { GS_PUT, GS_DEL, GS_COUNT, GS_LOWER, GS__END };

static const char *const gs_sql[GS__END] = {
    [GS_PUT] = "INSERT OR IGNORE INTO ov_gram(g, rid) VALUES (?1, ?2)",
    [GS_DEL] = "DELETE FROM ov_gram WHERE g = ?1 AND rid = ?2",
    [GS_COUNT] = "SELECT count(*) FROM ov_gram WHERE g = ?1",
    [GS_LOWER] = "SELECT lower(?1), lower(?2), lower(?3)",
};

typedef struct search_state {
    int ready;
    sqlite3_stmt *st[GS__END];
} search_state;

typedef struct grams {
    char v[GRAM_MAX][16];
    size_t n;
    int over;
} grams;

static search_state *sst(fsv_store *s)
{
    return (search_state *)fsv__sq_office_search_slot(s);
}

static sqlite3_stmt *g_stmt(fsv_store *s, int k)
{
    search_state *g = sst(s);
    if (!g->st[k] && sqlite3_prepare_v3(SQ(s)->db, gs_sql[k], -1,
                                        SQLITE_PREPARE_PERSISTENT, &g->st[k],
                                        NULL) != SQLITE_OK) {
        g->st[k] = NULL;
        dberr(s, "office search: prepare");
        return NULL;
    }
    if (g->st[k]) {
        sqlite3_reset(g->st[k]);
        sqlite3_clear_bindings(g->st[k]);
    }
    return g->st[k];
}

void fsv__sq_search_free(void *p)
{
    search_state *g = p;
    if (!g)
        return;
    for (int i = 0; i < GS__END; i++)
        sqlite3_finalize(g->st[i]);
    free(g);
}

int fsv__sq_search_ready(fsv_store *s)
{
    search_state *g = sst(s);
    return g && g->ready;
}

static void gram_add(grams *gs, char kind, const char *p, size_t n)
{
    if (n + 2 > sizeof gs->v[0])
        return;
    char g[16];
    g[0] = kind;
    memcpy(g + 1, p, n);
    g[n + 1] = '\0';
    for (size_t i = 0; i < gs->n; i++)
        if (strcmp(gs->v[i], g) == 0)
            return;
    if (gs->n < GRAM_MAX - 1)
        memcpy(gs->v[gs->n++], g, n + 2);
    else if (!gs->over) {
        gs->over = 1;
        memcpy(gs->v[gs->n++], "*", 2);
    }
}

/* Bytes of the UTF-8 character at p (1 for a bad byte). */
static size_t cp_len(const unsigned char *p)
{
    size_t n = *p < 0x80 ? 1 : *p >= 0xF0 ? 4 : *p >= 0xE0 ? 3 : *p >= 0xC0 ? 2 : 1;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 1;
    return n;
}

static int punct(char c)
{
    return c && strchr(" -+()", c) != NULL;
}

/* "u" of every character and "d" of every three digits in a row (the
** phone's punctuation taken out) of t. */
static void text_grams(grams *gs, const char *t)
{
    char run[4];
    size_t nrun = 0;
    for (const unsigned char *p = (const unsigned char *)(t ? t : ""); *p;) {
        size_t n = cp_len(p);
        gram_add(gs, 'u', (const char *)p, n);
        if (*p >= '0' && *p <= '9') {
            if (nrun == 3)
                memmove(run, run + 1, --nrun);
            run[nrun++] = (char)*p;
            if (nrun == 3)
                gram_add(gs, 'd', run, 3);
        } else if (!punct((char)*p)) {
            nrun = 0;
        }
        p += n;
    }
}

/* The letters x with which a reading of character c (UTF-8, n bytes)
** begins, as a 26-bit set; ASCII letters read as themselves. */
static unsigned initials(const char *c, size_t n)
{
    if (n == 1) {
        char l = c[0];
        if (l >= 'A' && l <= 'Z')
            l = (char)(l - 'A' + 'a');
        return l >= 'a' && l <= 'z' ? 1u << (l - 'a') : 0;
    }
    char ch[8], q[2] = {0, 0};
    memcpy(ch, c, n);
    ch[n] = '\0';
    unsigned set = 0;
    for (int x = 0; x < 26; x++) {
        q[0] = (char)('a' + x);
        if (fds_pinyin_match(ch, q))
            set |= 1u << x;
    }
    return set;
}

static void pinyin_grams(grams *gs, const char *name)
{
    unsigned prev = 0;
    for (const unsigned char *p = (const unsigned char *)(name ? name : ""); *p;) {
        size_t n = cp_len(p);
        unsigned set = initials((const char *)p, n);
        char ch[8], q[3] = {0, 0, 0};
        memcpy(ch, p, n);
        ch[n] = '\0';
        for (int x = 0; x < 26; x++) {
            if (!(set & (1u << x)))
                continue;
            q[0] = (char)('a' + x);
            gram_add(gs, 'i', q, 1);
            for (int y = 0; n > 1 && y < 26; y++) {
                q[1] = (char)('a' + y);
                if (fds_pinyin_match(ch, q))
                    gram_add(gs, 'p', q, 2);
            }
            q[1] = '\0';
            for (int y = 0; y < 26; y++)
                if (prev & (1u << y)) {
                    char pair[2] = {(char)('a' + y), (char)('a' + x)};
                    gram_add(gs, 'q', pair, 2);
                }
        }
        prev = set;
        p += n;
    }
}

/* The grams of a customer (lower() of its texts by SQLite, as the search
** compares them). */
static int customer_grams(fsv_store *s, const char *name, const char *company,
                          const char *phone, grams *gs)
{
    gs->n = 0;
    gs->over = 0;
    sqlite3_stmt *st = g_stmt(s, GS_LOWER);
    if (!st)
        return FSV_ERROR;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, company, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, phone, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW)
        return dberr(s, "office search: lower");
    for (int i = 0; i < 3; i++)
        text_grams(gs, (const char *)sqlite3_column_text(st, i));
    sqlite3_reset(st);
    pinyin_grams(gs, name);
    return FSV_OK;
}

static int grams_write(fsv_store *s, int slot, const char *rid, const grams *gs)
{
    for (size_t i = 0; i < gs->n; i++) {
        sqlite3_stmt *st = g_stmt(s, slot);
        if (!st)
            return FSV_ERROR;
        sqlite3_bind_text(st, 1, gs->v[i], -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, rid, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            return dberr(s, "office search: grams");
    }
    return FSV_OK;
}

int fsv__sq_search_put(fsv_store *s, const char *rid, int had, const char *b_name,
                       const char *b_company, const char *b_phone,
                       const char *name, const char *company, const char *phone)
{
    if (!fsv__sq_search_ready(s))
        return FSV_OK;
    grams *before = malloc(sizeof *before), *after = malloc(sizeof *after),
          *gone = malloc(sizeof *gone);
    int rc = before && after && gone ? customer_grams(s, name, company, phone, after)
                                     : seterr(s, FSV_NOMEM, "out of memory");
    if (rc == FSV_OK && had)
        rc = customer_grams(s, b_name, b_company, b_phone, before);
    if (rc == FSV_OK && had) {
        /* the grams that went, then the new ones */
        gone->n = 0;
        for (size_t i = 0; i < before->n; i++) {
            int kept = 0;
            for (size_t j = 0; j < after->n && !kept; j++)
                kept = strcmp(before->v[i], after->v[j]) == 0;
            if (!kept)
                memcpy(gone->v[gone->n++], before->v[i], sizeof gone->v[0]);
        }
        rc = grams_write(s, GS_DEL, rid, gone);
    }
    if (rc == FSV_OK)
        rc = grams_write(s, GS_PUT, rid, after);
    free(before);
    free(after);
    free(gone);
    return rc;
}

int fsv__sq_search_open(fsv_store *s, int rebuild)
{
    sqlite3 *db = SQ(s)->db;
    search_state *g = sst(s);
    if (!g) {
        if (!(g = calloc(1, sizeof *g)))
            return seterr(s, FSV_NOMEM, "out of memory");
        fsv__sq_office_search_set(s, g);
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE name='ov_gram'",
                           -1, &st, NULL) != SQLITE_OK)
        return dberr(s, "office search: schema");
    int have = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    if (have && !rebuild) {
        g->ready = 1;
        return FSV_OK;
    }
    int rc = fsv_sqlite_begin(s);
    if (rc != FSV_OK)
        return rc;
    if (sqlite3_exec(db, "DROP TABLE IF EXISTS ov_gram;"
                     "CREATE TABLE ov_gram(g TEXT NOT NULL, rid TEXT NOT NULL,"
                     " PRIMARY KEY (g, rid)) WITHOUT ROWID;",
                     NULL, NULL, NULL) != SQLITE_OK) {
        rc = dberr(s, "office search: schema");
        fsv_sqlite_rollback(s);
        return rc;
    }
    g->ready = 1;
    if (sqlite3_prepare_v2(db, "SELECT rid, name, company, phone FROM ov_cust",
                           -1, &st, NULL) != SQLITE_OK)
        rc = dberr(s, "office search: fill");
    while (rc == FSV_OK && st && sqlite3_step(st) == SQLITE_ROW)
        rc = fsv__sq_search_put(s, (const char *)sqlite3_column_text(st, 0), 0,
                                NULL, NULL, NULL,
                                (const char *)sqlite3_column_text(st, 1),
                                (const char *)sqlite3_column_text(st, 2),
                                (const char *)sqlite3_column_text(st, 3));
    sqlite3_finalize(st);
    if (rc == FSV_OK)
        return fsv_sqlite_commit(s);
    g->ready = 0;
    fsv_sqlite_rollback(s);
    return rc;
}

/* The count of gram g's customers. */
static int64_t posting(fsv_store *s, const char *g)
{
    sqlite3_stmt *st = g_stmt(s, GS_COUNT);
    int64_t n = INT64_MAX;
    if (!st)
        return n;
    sqlite3_bind_text(st, 1, g, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return n;
}

int fsv__sq_search_grams(fsv_store *s, const char *search, char **json)
{
    *json = NULL;
    if (!fsv__sq_search_ready(s) || !search || !*search)
        return FSV_NOTFOUND;
    /* the text as lower() has it */
    sqlite3_stmt *st = g_stmt(s, GS_LOWER);
    if (!st)
        return FSV_ERROR;
    sqlite3_bind_text(st, 1, search, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW)
        return dberr(s, "office search: lower");
    grams *q = malloc(sizeof *q);
    json_t *a = json_array();
    if (!q || !a) {
        free(q);
        json_decref(a);
        sqlite3_reset(st);
        return seterr(s, FSV_NOMEM, "out of memory");
    }
    q->n = 0;
    q->over = 0;
    text_grams(q, (const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    /* Its rarest "d" if it has one, else its rarest "u" (a text longer
    ** than GRAM_MAX characters: "*", every customer that has it). */
    const char *best = NULL;
    int64_t best_n = INT64_MAX;
    for (int pass = 0; pass < 2 && !best; pass++)
        for (size_t i = 0; i < q->n; i++) {
            if (q->v[i][0] != (pass == 0 ? 'd' : 'u'))
                continue;
            int64_t n = posting(s, q->v[i]);
            if (!best || n < best_n) {
                best = q->v[i];
                best_n = n;
            }
        }
    if (best)
        json_array_append_new(a, json_string(best));
    json_array_append_new(a, json_string("*"));
    free(q);
    /* A pinyin text: letters, spaces and apostrophes. */
    char letters[3] = {0, 0, 0};
    size_t m = 0;
    int pinyin = 1;
    for (const char *p = search; *p && pinyin; p++) {
        char c = *p;
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c >= 'a' && c <= 'z') {
            if (m < 2)
                letters[m] = c;
            m++;
        } else if (c != ' ' && c != '\'') {
            pinyin = 0;
        }
    }
    if (pinyin && m == 1) {
        char g[3] = {'i', letters[0], 0};
        json_array_append_new(a, json_string(g));
    } else if (pinyin && m >= 2) {
        char g[4] = {'p', letters[0], letters[1], 0};
        json_array_append_new(a, json_string(g));
        g[0] = 'q';
        json_array_append_new(a, json_string(g));
    }
    *json = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return *json ? FSV_OK : seterr(s, FSV_NOMEM, "out of memory");
}
