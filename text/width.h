/*
** width.h — how wide UTF-8 text is on a terminal: CJK characters take two
** columns, so a table of Chinese names lines up only when cells are padded
** by display width, not by bytes.  Both programs print such tables (the
** CLI's lists, fieldsync-server's `user list`).
**
** wcwidth() answers only under a UTF-8 LC_CTYPE: the program calls
** setlocale(LC_CTYPE, "C.UTF-8") (or "") before printing.  No state.
*/
#ifndef FDT_WIDTH_H
#define FDT_WIDTH_H

#include <stddef.h>
#include <stdio.h>

/* Display width of UTF-8 text s (CJK counts 2; invalid bytes and
** characters wcwidth does not know count 1, so nothing is lost). */
size_t fdt_width(const char *s);

/* Print s padded (pad != 0) or truncated with an ellipsis to exactly w
** columns; newlines and tabs in s print as spaces. */
void fdt_put_cell(FILE *f, const char *s, size_t w, int pad);

#endif /* FDT_WIDTH_H */
