/*
** csv.h — RFC 4180 CSV reading and writing for `fieldsync export/import`
** and the server's /api/export.csv (sheet_csv.h writes whole customer
** sheets with it), plus the text-encoding helpers import needs (UTF-8
** check, GB18030 -> UTF-8).  libc and iconv only (fuzz/fuzz_csv.c).
*/
#ifndef FDT_CSV_H
#define FDT_CSV_H

#include <stdio.h>
#include <stddef.h>

/* One record: cells[0..n) are malloc'd NUL-terminated strings. */
typedef struct fdt_csv_row {
    char **cells;
    size_t n;
    long line;              /* physical line where the record starts (1-based) */
} fdt_csv_row;

/* Reader over an in-memory buffer (not copied; must outlive the reader). */
typedef struct fdt_csv {
    const char *p, *end;
    long line;
} fdt_csv;

void fdt_csv_init(fdt_csv *c, const char *buf, size_t len);
/* Next record into *row (cleared first).  Returns 1 for a record, 0 at the
** end, -1 on malformed input (err names the line), -2 out of memory.
** Records end at LF, CRLF or CR; quoted cells may hold newlines, commas and
** doubled quotes (kept verbatim); unquoted cells are trimmed of spaces and
** tabs (leading ones only when no = + - @ follows them).  Blank lines are skipped.  A NUL byte anywhere in a record is
** malformed (a cell is a C string; UTF-16 files are full of them). */
int fdt_csv_next(fdt_csv *c, fdt_csv_row *row, char *err, size_t errlen);
void fdt_csv_row_clear(fdt_csv_row *row);

/* Write one cell (quoted when it holds , " CR LF or edge spaces/tabs), preceded
** by a comma unless first; fdt_csv_eol ends the record with CRLF. */
void fdt_csv_put(FILE *f, const char *s, int first);
void fdt_csv_eol(FILE *f);
/* fdt_csv_put for data cells: a cell Excel would run as a formula (it
** starts with = + - @ tab or CR, possibly after spaces) is written with a
** leading "'" (OWASP); so is one that starts with "'"s before such a
** trigger, which keeps the mark reversible. */
void fdt_csv_put_safe(FILE *f, const char *s, int first);
/* Import's inverse: drop one leading "'" from a cell that starts with "'"s
** before a trigger (exactly the cells fdt_csv_put_safe marked).  In place. */
void fdt_csv_unguard(char *text);

/* 1 if buf[0..len) is well-formed UTF-8 (no overlongs, no surrogates). */
int fdt_utf8_valid(const char *buf, size_t len);
/* Convert GB18030 (a superset of GBK/GB2312) to UTF-8: *out malloc'd,
** NUL-terminated.  0 on success, -1 if the bytes are not GB18030. */
int fdt_gb18030_to_utf8(const char *buf, size_t len, char **out, size_t *outlen);

#endif /* FDT_CSV_H */
