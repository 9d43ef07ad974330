/*
** fuzz_csv.c — libFuzzer target for the CSV import reader and the text
** encoding helpers (text/csv.c).
**
** `fieldsync import` reads files a rep made by hand, in Excel or WPS, in
** UTF-8 or GB18030: any bytes must give records or a line-numbered error,
** never a crash.  Whatever the reader accepts must survive the writer that
** `export` uses: put each record's cells with fdt_csv_put and read them back
** to the same cells (export -> import loses nothing).  A GB18030 conversion
** that succeeds must produce valid UTF-8.
*/
#include "csv.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Write row with the export writer and read it back: the same cells. */
static void round_trip(const fdt_csv_row *row)
{
    /* A record of one empty cell is written as a blank line, which the
    ** reader skips by design (blank lines in hand-made files). */
    if (row->n == 1 && row->cells[0][0] == '\0')
        return;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        abort();
    for (size_t i = 0; i < row->n; i++)
        fdt_csv_put(f, row->cells[i], i == 0);
    fdt_csv_eol(f);
    fclose(f);

    fdt_csv c;
    fdt_csv_row back = {NULL, 0, 0};
    char err[256];
    fdt_csv_init(&c, buf, len);
    if (fdt_csv_next(&c, &back, err, sizeof err) != 1 || back.n != row->n)
        abort();
    for (size_t i = 0; i < row->n; i++)
        if (strcmp(back.cells[i], row->cells[i]) != 0)
            abort();
    if (fdt_csv_next(&c, &back, err, sizeof err) != 0)
        abort();
    fdt_csv_row_clear(&back);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    fdt_csv c;
    fdt_csv_row row = {NULL, 0, 0};
    char err[256];
    long last_line = 0;
    int rc;

    fdt_csv_init(&c, buf, size);
    while ((rc = fdt_csv_next(&c, &row, err, sizeof err)) == 1) {
        if (row.n == 0 || row.line <= last_line)
            abort();            /* records move forward and hold a cell */
        last_line = row.line;
        round_trip(&row);
    }
    if (rc == -1 && strncmp(err, "line ", 5) != 0)
        abort();                /* every refusal names its line */
    fdt_csv_row_clear(&row);

    char *utf8 = NULL;
    size_t n = 0;
    if (fdt_gb18030_to_utf8(buf, size, &utf8, &n) == 0) {
        if (!fdt_utf8_valid(utf8, n) || utf8[n] != '\0')
            abort();
        free(utf8);
    }
    return 0;
}
