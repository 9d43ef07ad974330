/*
** sheet_csv.h — customers as the CSV a spreadsheet opens: what
** `fieldsync export --format csv` (client-cli/cmd_export.c) and the
** server's GET /api/export.csv (sync-server/api/api_export.c) both write,
** so the two files are the same file and `fieldsync import` reads either.
**
** The format: UTF-8 with a BOM (Excel then reads UTF-8), a header of the
** standard columns (fdt_customer_cols) then one column per custom field,
** RFC 4180 quoting, CRLF.  Every data cell goes through the formula guard
** (fdt_csv_put_safe, OWASP): a cell Excel would run (= + - @, tab or CR
** first) gets a leading "'", which import takes off again, so a phone
** "+86 138 0013 8000" survives export -> import unchanged.
**
** Why here and not in core: core is what a phone embeds; a sheet for
** Excel is the two programs' business, and neither is a library the other
** can call.  Input is the JSON core's fds_customer_list gives (jansson).
*/
#ifndef FDT_SHEET_CSV_H
#define FDT_SHEET_CSV_H

#include <stdio.h>

#include <jansson.h>

/* The standard columns in export order; import reads the same names.
** NULL-terminated. */
extern const char *const fdt_customer_cols[];

/* A customer value as its cell text: strings as they are, integers,
** reals (%.15g), booleans 1/0, arrays (tags) joined by commas, anything
** else "".  malloc'd; NULL when out of memory. */
char *fdt_value_text(const json_t *v);

/* Write the whole sheet: customers (an array of customer objects) and the
** custom field definitions defs (an array of {"key", ...}, may be NULL).
** 0, or -1 when out of memory (f then holds a partial sheet). */
int fdt_csv_customers(FILE *f, const json_t *customers, const json_t *defs);

#endif /* FDT_SHEET_CSV_H */
