/*
** api_export.c — GET /api/export.csv: the visible customers as
** `fieldsync export --format csv` writes them (client-cli/cmd_export.c):
** UTF-8 with a BOM, the standard columns then one per custom field,
** RFC 4180 quoting, CRLF.  Re-implemented here (the CLI is not a library).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

static const char *const std_cols[] = {
    "id", "name", "phone", "email", "wechat", "company", "title", "birthday",
    "notes", "owner", "tags", "stage", "cycle", NULL};

/* A value as its cell text (as cli_value_text). */
static void put_text(FILE *f, const json_t *v, int first);

static void put_cell(FILE *f, const char *s, int first)
{
    size_t n = strlen(s);
    int quote = strpbrk(s, ",\"\r\n") != NULL ||
                (n > 0 && (s[0] == ' ' || s[n - 1] == ' '));
    if (!first)
        fputc(',', f);
    if (!quote) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void put_text(FILE *f, const json_t *v, int first)
{
    char buf[64];
    if (json_is_string(v)) {
        put_cell(f, json_string_value(v), first);
    } else if (json_is_integer(v)) {
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
        put_cell(f, buf, first);
    } else if (json_is_real(v)) {
        snprintf(buf, sizeof buf, "%.15g", json_real_value(v));
        put_cell(f, buf, first);
    } else if (json_is_boolean(v)) {
        put_cell(f, json_is_true(v) ? "1" : "0", first);
    } else if (json_is_array(v)) {
        char *s = NULL;
        size_t len = 0, i;
        FILE *m = open_memstream(&s, &len);
        json_t *e;
        if (!m) {
            put_cell(f, "", first);
            return;
        }
        json_array_foreach(v, i, e) {
            if (i)
                fputc(',', m);
            if (json_string_value(e))
                fputs(json_string_value(e), m);
        }
        fclose(m);
        put_cell(f, s ? s : "", first);
        free(s);
    } else {
        put_cell(f, "", first);
    }
}

void fsv_api_export(fsv_api *api, const fsv_user *u, fsv_resp *resp)
{
    json_t *list = NULL, *defs = NULL, *sdefs = NULL, *c, *d;
    size_t i, j;
    /* From the store's office view, page by page (no per-user replica). */
    if (fsv_office_list_all(api, u, &list) != FSV_OK ||
        fsv_view_defs(api, &sdefs, &defs) != FSV_OK) {
        json_decref(list);
        fsv_resp_error(resp, 500, "the store failed while exporting");
        return;
    }
    json_decref(sdefs);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        json_decref(list);
        json_decref(defs);
        fsv_resp_error(resp, 500, "out of memory while exporting");
        return;
    }
    fputs("\xef\xbb\xbf", f);
    for (i = 0; std_cols[i]; i++)
        put_cell(f, std_cols[i], i == 0);
    json_array_foreach(defs, j, d)
        put_cell(f, json_string_value(json_object_get(d, "key")), 0);
    fputs("\r\n", f);
    json_array_foreach(list, j, c) {
        for (i = 0; std_cols[i]; i++)
            put_text(f, json_object_get(c, std_cols[i]), i == 0);
        size_t k;
        json_array_foreach(defs, k, d)
            put_text(f, json_object_get(json_object_get(c, "fields"),
                                        json_string_value(json_object_get(d, "key"))), 0);
        fputs("\r\n", f);
    }
    fclose(f);
    json_decref(list);
    json_decref(defs);
    fsv_resp_clear(resp);
    resp->status = 200;
    resp->ctype = "text/csv; charset=utf-8";
    resp->body = buf;
    resp->len = len;
    fsv_resp_header(resp, "content-disposition:",
                    "attachment; filename=\"fieldsync-export.csv\"");
}
