/*
** sheet_csv.c — customers as CSV, the one writer of the CLI's export and
** the server's /api/export.csv (sheet_csv.h).
*/
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "sheet_csv.h"

const char *const fdt_customer_cols[] = {
    "id", "name", "phone", "email", "wechat", "company", "title", "birthday",
    "notes", "owner", "tags", "stage", "cycle", "amount", "expected_close",
    NULL};

char *fdt_value_text(const json_t *v)
{
    char buf[64];
    if (json_is_string(v))
        return strdup(json_string_value(v));
    if (json_is_integer(v)) {
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
        return strdup(buf);
    }
    if (json_is_real(v)) {
        snprintf(buf, sizeof buf, "%.15g", json_real_value(v));
        return strdup(buf);
    }
    if (json_is_boolean(v))
        return strdup(json_is_true(v) ? "1" : "0");
    if (json_is_array(v)) {
        size_t i, n = 1;
        json_t *e;
        json_array_foreach(v, i, e)
            n += (json_string_value(e) ? strlen(json_string_value(e)) : 0) + 1;
        char *s = malloc(n), *p = s;
        if (!s)
            return NULL;
        json_array_foreach(v, i, e) {
            const char *t = json_string_value(e);
            size_t k = t ? strlen(t) : 0;
            if (i)
                *p++ = ',';
            memcpy(p, t ? t : "", k);
            p += k;
        }
        *p = '\0';
        return s;
    }
    return strdup("");
}

/* One data cell: never a formula. */
static int put_value(FILE *f, const json_t *v, int first)
{
    char *s = fdt_value_text(v);
    if (!s)
        return -1;
    fdt_csv_put_safe(f, s, first);
    free(s);
    return 0;
}

int fdt_csv_customers(FILE *f, const json_t *customers, const json_t *defs)
{
    size_t i, j, k;
    json_t *c, *d;
    fputs("\xef\xbb\xbf", f);
    for (i = 0; fdt_customer_cols[i]; i++)
        fdt_csv_put(f, fdt_customer_cols[i], i == 0);
    /* Header cells are field keys a manager typed: guarded too. */
    json_array_foreach(defs, j, d) {
        const char *key = json_string_value(json_object_get(d, "key"));
        fdt_csv_put_safe(f, key ? key : "", 0);
    }
    fdt_csv_eol(f);
    json_array_foreach(customers, j, c) {
        for (i = 0; fdt_customer_cols[i]; i++)
            if (put_value(f, json_object_get(c, fdt_customer_cols[i]), i == 0))
                return -1;
        json_t *fields = json_object_get(c, "fields");
        json_array_foreach(defs, k, d) {
            const char *key = json_string_value(json_object_get(d, "key"));
            if (put_value(f, key ? json_object_get(fields, key) : NULL, 0))
                return -1;
        }
        fdt_csv_eol(f);
    }
    return 0;
}
