/*
** office.c — what a server needs to show customers it keeps outside a
** replica (fieldsync-server's office view reads its store, not a replica):
** the customer object from register values, the pinyin match of search,
** and a sort key that orders names as a Chinese reader (and the CLI, under
** the zh_CN collation) expects.
*/
#include "domain.h"
#include "pinyin.h"

#include <stdlib.h>
#include <string.h>

#define FIRST_CP 0x4E00
#define LAST_CP 0x9FFF

int fds_customer_from_values(const char *id, const json_t *values,
                             json_t **out)
{
    if (!out)
        return FDS_INVALID;
    *out = NULL;
    if (!id || !json_is_object(values))
        return FDS_INVALID;
    json_t *o = fds__customer_from_regs(id, values);
    if (!o)
        return FDS_NOMEM;
    *out = o;
    return FDS_OK;
}

int fds_pinyin_match(const char *text, const char *query)
{
    return fds__pinyin_match(text, query);
}

/* Next code point of UTF-8 *s (advances it); 0xFFFD for a bad byte. */
static unsigned next_cp(const unsigned char **s)
{
    const unsigned char *p = *s;
    unsigned c = *p;
    int n = c < 0x80 ? 0 : c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : -1;
    if (n <= 0) {
        *s = p + 1;
        return n == 0 ? c : 0xFFFD;
    }
    unsigned cp = n == 3 ? c & 0x07 : n == 2 ? c & 0x0F : c & 0x1F;
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

/* Append one byte if it fits (always counting it). */
static void put(unsigned char *out, size_t cap, size_t *n, unsigned char b)
{
    if (*n < cap)
        out[*n] = b;
    (*n)++;
}

/* The key has two levels, as glibc's zh_CN collation: first the letters
** (ideographs by their first pinyin reading, before Latin letters, which
** are folded to lower case; digits before both; spaces and punctuation
** ignored), then 0x01 and the name's own bytes (case, and which of two
** characters with one reading).  Every byte of the first level is >= 0x02
** so a shorter first level sorts first. */
size_t fds_name_key(const char *name, unsigned char *out, size_t cap)
{
    size_t n = 0;
    const unsigned char *s = (const unsigned char *)(name ? name : "");
    while (*s) {
        unsigned cp = next_cp(&s);
        unsigned first = cp >= FIRST_CP && cp <= LAST_CP
                             ? fds__pinyin_first[cp - FIRST_CP] : 0;
        if (first) {
            put(out, cap, &n, 0x04);
            for (const char *p = fds__pinyin_syllables[first]; *p; p++)
                put(out, cap, &n, (unsigned char)*p);
            put(out, cap, &n, 0x02);   /* "li" before "lian" */
        } else if (cp >= '0' && cp <= '9') {
            put(out, cap, &n, 0x03);
            put(out, cap, &n, (unsigned char)cp);
        } else if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z')) {
            put(out, cap, &n, 0x05);
            put(out, cap, &n, (unsigned char)(cp | 0x20));
        } else if (cp >= 0x80) {
            /* other scripts: after the letters, in code point order */
            put(out, cap, &n, 0x06);
            put(out, cap, &n, (unsigned char)(0x02 + (cp >> 14)));
            put(out, cap, &n, (unsigned char)(0x02 + ((cp >> 7) & 0x7F)));
            put(out, cap, &n, (unsigned char)(0x02 + (cp & 0x7F)));
        }
    }
    put(out, cap, &n, 0x01);
    for (const char *p = name ? name : ""; *p; p++)
        put(out, cap, &n, (unsigned char)*p);
    return n;
}
