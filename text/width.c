/*
** width.c — display width of UTF-8 text and padded cells (width.h).
*/
#include <string.h>
#include <wchar.h>

#include "width.h"

/* Decode one character at s (n bytes left): its byte length and width.
** Invalid bytes count as one column each so nothing is ever lost. */
static size_t next_char(const char *s, size_t n, size_t *w)
{
    mbstate_t st;
    wchar_t wc;
    memset(&st, 0, sizeof st);
    size_t k = mbrtowc(&wc, s, n, &st);
    if (k == (size_t)-1 || k == (size_t)-2 || k == 0) { *w = 1; return 1; }
    int cw = wcwidth(wc);
    *w = cw < 0 ? 1 : (size_t)cw;
    return k;
}

size_t fdt_width(const char *s)
{
    size_t total = 0, n = strlen(s);
    while (n > 0) {
        size_t w, k = next_char(s, n, &w);
        total += w;
        s += k;
        n -= k;
    }
    return total;
}

void fdt_put_cell(FILE *f, const char *s, size_t w, int pad)
{
    size_t n = strlen(s), used = 0;
    if (fdt_width(s) <= w) {
        for (; *s; s++) fputc(*s == '\n' || *s == '\t' ? ' ' : *s, f);
        used = fdt_width(s - n);
    } else {
        /* Truncate: keep characters up to w-1 columns, then "…". */
        while (n > 0) {
            size_t cw, k = next_char(s, n, &cw);
            if (used + cw + 1 > w) break;
            for (size_t i = 0; i < k; i++)
                fputc(s[i] == '\n' || s[i] == '\t' ? ' ' : s[i], f);
            used += cw;
            s += k;
            n -= k;
        }
        if (w > 0) { fputs("\xe2\x80\xa6", f); used++; }
    }
    if (pad)
        for (; used < w; used++) fputc(' ', f);
}
