/*
** pinyin.c — match a Latin query against the pinyin of Chinese text (see
** pinyin.h).  A small dynamic programme over (character, query position):
** no allocation, bounded by FDS__PINYIN_MAX_* so a long note costs at most
** a few hundred thousand steps.
*/
#include "pinyin.h"

#include <string.h>

#define FDS__PINYIN_MAX_QUERY 64
#define FDS__PINYIN_MAX_CHARS 256
#define FIRST_CP 0x4E00
#define LAST_CP 0x9FFF

/* Next code point of UTF-8 s (advances *s); 0xFFFD for a bad byte. */
static unsigned next_cp(const unsigned char **s)
{
    const unsigned char *p = *s;
    unsigned c = *p;
    if (c < 0x80) {
        *s = p + 1;
        return c;
    }
    int n = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
    unsigned cp = n == 3 ? c & 0x07 : n == 2 ? c & 0x0F : c & 0x1F;
    if (n == 0) {
        *s = p + 1;
        return 0xFFFD;
    }
    for (int i = 1; i <= n; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            *s = p + i;
            return 0xFFFD;
        }
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    *s = p + n + 1;
    return cp;
}

int fds__pinyin_query(const char *query)
{
    int letters = 0;
    if (!query)
        return 0;
    for (const char *p = query; *p; p++) {
        char c = *p;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
            letters++;
        else if (c != ' ' && c != '\'')
            return 0;
    }
    return letters > 0 && letters <= FDS__PINYIN_MAX_QUERY;
}

/* Readings of an ideograph into out (at most 4); returns how many. */
static int readings(unsigned cp, const char *out[4])
{
    int n = 0;
    unsigned first = fds__pinyin_first[cp - FIRST_CP];
    if (!first)
        return 0;
    out[n++] = fds__pinyin_syllables[first];
    /* binary search for the first extra entry of cp */
    unsigned lo = 0, hi = fds__pinyin_nmore;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        if (fds__pinyin_more[mid].cp < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < fds__pinyin_nmore && fds__pinyin_more[lo].cp == cp && n < 4; lo++)
        out[n++] = fds__pinyin_syllables[fds__pinyin_more[lo].syllable];
    return n;
}

int fds__pinyin_match(const char *text, const char *query)
{
    char q[FDS__PINYIN_MAX_QUERY + 1];
    int m = 0;
    if (!text || !fds__pinyin_query(query))
        return 0;
    for (const char *p = query; *p; p++) {
        char c = *p;
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c >= 'a' && c <= 'z')
            q[m++] = c;
    }
    q[m] = '\0';
    /* reach[k]: query[0..k) spelled by a run ending just before this char */
    unsigned char reach[FDS__PINYIN_MAX_QUERY + 1], next[FDS__PINYIN_MAX_QUERY + 1];
    memset(reach, 0, sizeof reach);
    const unsigned char *s = (const unsigned char *)text;
    for (int nchars = 0; *s && nchars < FDS__PINYIN_MAX_CHARS; nchars++) {
        unsigned cp = next_cp(&s);
        const char *rd[4];
        int nr = 0;
        char one[2] = {0, 0};
        if (cp >= FIRST_CP && cp <= LAST_CP) {
            nr = readings(cp, rd);
        } else if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z')) {
            one[0] = (char)(cp >= 'A' && cp <= 'Z' ? cp - 'A' + 'a' : cp);
            rd[0] = one;
            nr = 1;
        }
        reach[0] = 1;           /* a run may start at any character */
        memset(next, 0, sizeof next);
        for (int k = 0; k < m; k++) {
            if (!reach[k])
                continue;
            for (int i = 0; i < nr; i++)
                for (int l = 0; rd[i][l] && k + l < m && rd[i][l] == q[k + l]; l++) {
                    if (k + l + 1 == m)
                        return 1;
                    next[k + l + 1] = 1;
                }
        }
        memcpy(reach, next, sizeof reach);
    }
    return 0;
}

static void sql_pinyin(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const char *text = (const char *)sqlite3_value_text(argv[0]);
    const char *query = (const char *)sqlite3_value_text(argv[1]);
    /* A text SQLite could not convert is out of memory, not "no match":
    ** the search must fail, not silently miss a customer (issue 18). */
    if ((!text && sqlite3_value_type(argv[0]) != SQLITE_NULL) ||
        (!query && sqlite3_value_type(argv[1]) != SQLITE_NULL)) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    sqlite3_result_int(ctx, text && query && fds__pinyin_match(text, query));
}

int fds__pinyin_register(sqlite3 *db)
{
    return sqlite3_create_function(db, "fds_pinyin", 2,
                                   SQLITE_UTF8 | SQLITE_DETERMINISTIC |
                                   SQLITE_INNOCUOUS, NULL, sql_pinyin, NULL, NULL);
}
