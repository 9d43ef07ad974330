/*
** csv.c — RFC 4180 reader/writer, the formula guard, and the encoding
** helpers behind import (csv.h).
*/
#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>
#include "csv.h"

void fdt_csv_init(fdt_csv *c, const char *buf, size_t len)
{
    c->p = buf;
    c->end = buf + len;
    c->line = 1;
}

void fdt_csv_row_clear(fdt_csv_row *row)
{
    for (size_t i = 0; i < row->n; i++) free(row->cells[i]);
    free(row->cells);
    row->cells = NULL;
    row->n = 0;
}

/* Growable byte buffer for one cell. */
typedef struct cell { char *s; size_t n, cap; } cell;

static int cell_put(cell *b, char ch)
{
    if (b->n + 1 >= b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 64;
        char *s = realloc(b->s, cap);
        if (!s) return -1;
        b->s = s;
        b->cap = cap;
    }
    b->s[b->n++] = ch;
    b->s[b->n] = '\0';
    return 0;
}

static int row_push(fdt_csv_row *row, cell *b)
{
    char **cells = realloc(row->cells, (row->n + 1) * sizeof *cells);
    if (!cells) return -1;
    row->cells = cells;
    if (!b->s && !(b->s = strdup(""))) return -1;
    row->cells[row->n++] = b->s;
    b->s = NULL;
    b->n = b->cap = 0;
    return 0;
}

/* Consume a line end at c->p if there is one; returns 1 if consumed. */
static int eol(fdt_csv *c)
{
    if (c->p < c->end && *c->p == '\r') {
        c->p++;
        if (c->p < c->end && *c->p == '\n') c->p++;
        c->line++;
        return 1;
    }
    if (c->p < c->end && *c->p == '\n') {
        c->p++;
        c->line++;
        return 1;
    }
    return 0;
}

int fdt_csv_next(fdt_csv *c, fdt_csv_row *row, char *err, size_t errlen)
{
    fdt_csv_row_clear(row);
    while (eol(c)) {}               /* blank lines */
    if (c->p >= c->end) return 0;
    row->line = c->line;
    cell b = { NULL, 0, 0 };
    for (;;) {
        /* Spaces around a cell are layout, not data (hand-made files write
        ** "a, b"); inside quotes everything is kept. */
        const char *q = c->p;
        while (q < c->end && (*q == ' ' || *q == '\t')) q++;
        if (q < c->end && *q == '"') c->p = q;
        if (c->p < c->end && *c->p == '"') {
            long start = c->line;
            c->p++;
            for (;;) {
                if (c->p >= c->end) {
                    snprintf(err, errlen, "line %ld: unterminated quoted cell", start);
                    goto bad;
                }
                char ch = *c->p++;
                if (ch == '"') {
                    if (c->p < c->end && *c->p == '"') { c->p++; }
                    else break;
                } else if (ch == '\n' || (ch == '\r' && (c->p >= c->end || *c->p != '\n'))) {
                    c->line++;
                }
                if (ch == '\0') goto nul;
                if (cell_put(&b, ch) != 0) goto nomem;
            }
            while (c->p < c->end && (*c->p == ' ' || *c->p == '\t')) c->p++;
            if (c->p < c->end && *c->p != ',' && *c->p != '\r' && *c->p != '\n') {
                snprintf(err, errlen, "line %ld: text after a closing quote", c->line);
                goto bad;
            }
        } else {
            while (c->p < c->end && *c->p != ',' && *c->p != '\r' && *c->p != '\n') {
                if (*c->p == '"') {
                    snprintf(err, errlen, "line %ld: quote inside an unquoted cell "
                             "(quote the whole cell and double the quote)", c->line);
                    goto bad;
                }
                if (*c->p == '\0') goto nul;
                if (cell_put(&b, *c->p++) != 0) goto nomem;
            }
            size_t lead = 0;
            while (lead < b.n && (b.s[lead] == ' ' || b.s[lead] == '\t')) lead++;
            /* Spaces that hide a formula are kept: " =cmd" stays text as
            ** typed, and export marks it (fdt_csv_put_safe). */
            if (lead < b.n && strchr("=+-@", b.s[lead])) lead = 0;
            while (b.n > lead && (b.s[b.n - 1] == ' ' || b.s[b.n - 1] == '\t'))
                b.s[--b.n] = '\0';
            if (lead) { memmove(b.s, b.s + lead, b.n - lead + 1); b.n -= lead; }
        }
        if (row_push(row, &b) != 0) goto nomem;
        if (c->p < c->end && *c->p == ',') { c->p++; continue; }
        eol(c);
        return 1;
    }
nul:
    /* A cell is a C string: a NUL would silently cut it short. */
    snprintf(err, errlen, "line %ld: a NUL byte (not a text file; if it is"
             " UTF-16, save it as CSV UTF-8)", c->line);
    goto bad;
nomem:
    free(b.s);
    fdt_csv_row_clear(row);
    return -2;
bad:
    free(b.s);
    fdt_csv_row_clear(row);
    return -1;
}

void fdt_csv_put(FILE *f, const char *s, int first)
{
    if (!first) fputc(',', f);
    if (!s) s = "";
    size_t n = strlen(s);
    /* Edge spaces and tabs too: the reader trims them from unquoted cells. */
    int quote = strpbrk(s, ",\"\r\n") != NULL ||
                (n > 0 && (s[0] == ' ' || s[0] == '\t' || s[n - 1] == ' ' ||
                           s[n - 1] == '\t'));
    if (!quote) { fputs(s, f); return; }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* OWASP's CSV injection advice: a cell that starts with = + - @ (or tab
** or CR) is a formula to Excel and LibreOffice.  Such a cell, and one that
** only hides the trigger behind spaces or behind quote marks we added
** before, gets one more leading "'" (which Excel shows as a text marker
** and does not display).  The rule is a bijection, so import can take the
** mark off exactly where export put it (fdt_csv_unguard). */
static int guarded_form(const char *s, size_t quotes_needed)
{
    size_t q = 0;
    while (s[q] == '\'') q++;
    if (q < quotes_needed) return 0;
    const char *p = s + q;
    while (*p == ' ') p++;
    return *p == '=' || *p == '+' || *p == '-' || *p == '@' || *p == '\t' ||
           *p == '\r';
}

void fdt_csv_put_safe(FILE *f, const char *s, int first)
{
    if (s && guarded_form(s, 0)) {
        size_t n = strlen(s);
        char *g = malloc(n + 2);
        if (g) {
            g[0] = '\'';
            memcpy(g + 1, s, n + 1);
            fdt_csv_put(f, g, first);
            free(g);
            return;
        }
    }
    fdt_csv_put(f, s, first);
}

void fdt_csv_unguard(char *text)
{
    if (text && guarded_form(text, 1))
        memmove(text, text + 1, strlen(text));
}

void fdt_csv_eol(FILE *f)
{
    fputs("\r\n", f);
}

int fdt_utf8_valid(const char *buf, size_t len)
{
    const unsigned char *s = (const unsigned char *)buf, *e = s + len;
    while (s < e) {
        unsigned c = *s;
        size_t n;
        unsigned cp;
        if (c < 0x80) { s++; continue; }
        else if (c >= 0xc2 && c <= 0xdf) { n = 1; cp = c & 0x1f; }
        else if (c >= 0xe0 && c <= 0xef) { n = 2; cp = c & 0x0f; }
        else if (c >= 0xf0 && c <= 0xf4) { n = 3; cp = c & 0x07; }
        else return 0;
        if ((size_t)(e - s) <= n) return 0;
        for (size_t i = 1; i <= n; i++) {
            if ((s[i] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (s[i] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        s += n + 1;
    }
    return 1;
}

int fdt_gb18030_to_utf8(const char *buf, size_t len, char **out, size_t *outlen)
{
    *out = NULL;
    iconv_t cd = iconv_open("UTF-8", "GB18030");
    if (cd == (iconv_t)-1) return -1;
    /* Each GB18030 character (1, 2 or 4 bytes) becomes at most 4 UTF-8
    ** bytes, so 4x the input (plus the NUL) always suffices. */
    size_t cap = 4 * len + 1;
    char *dst = malloc(cap);
    if (!dst) { iconv_close(cd); return -1; }
    char *in = (char *)buf, *o = dst;
    size_t inleft = len, oleft = cap - 1;
    size_t r = iconv(cd, &in, &inleft, &o, &oleft);
    iconv_close(cd);
    if (r == (size_t)-1 || inleft != 0) { free(dst); return -1; }
    *o = '\0';
    *out = dst;
    *outlen = (size_t)(o - dst);
    return 0;
}
