/*
** cmd_export.c — `export`: customers as CSV for Excel (UTF-8 with BOM, CRLF,
** RFC 4180 quoting, one column per custom field after the standard ones) or
** as a JSON array of customer objects.
*/
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "collate.h"
#include "csv.h"

/* The standard columns, in export order (import reads the same names). */
const char *const cli_std_cols[] = {
    "id", "name", "phone", "email", "wechat", "company", "title", "birthday",
    "notes", "owner", "tags", "stage", "cycle", NULL };

char *cli_value_text(const json_t *v)
{
    char buf[64];
    if (json_is_string(v)) return strdup(json_string_value(v));
    if (json_is_integer(v)) {
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
        return strdup(buf);
    }
    if (json_is_real(v)) { snprintf(buf, sizeof buf, "%.15g", json_real_value(v)); return strdup(buf); }
    if (json_is_boolean(v)) return strdup(json_is_true(v) ? "1" : "0");
    if (json_is_array(v)) {
        size_t i, n = 1;
        json_t *e;
        json_array_foreach(v, i, e) n += (json_string_value(e) ? strlen(json_string_value(e)) : 0) + 1;
        char *s = malloc(n);
        if (!s) return NULL;
        s[0] = '\0';
        json_array_foreach(v, i, e) {
            if (i) strcat(s, ",");
            if (json_string_value(e)) strcat(s, json_string_value(e));
        }
        return s;
    }
    return strdup("");
}

static int put_value(FILE *f, const json_t *v, int first)
{
    char *s = cli_value_text(v);
    if (!s) return -1;
    cli_csv_put(f, s, first);
    free(s);
    return 0;
}

static int export_csv(FILE *f, const json_t *list, const json_t *defs)
{
    size_t i, j;
    json_t *c, *d;
    fputs("\xef\xbb\xbf", f);      /* BOM: Excel then reads UTF-8 */
    for (i = 0; cli_std_cols[i]; i++) cli_csv_put(f, cli_std_cols[i], i == 0);
    json_array_foreach(defs, j, d) cli_csv_put(f, cli_str(d, "key"), 0);
    cli_csv_eol(f);
    json_array_foreach(list, j, c) {
        for (i = 0; cli_std_cols[i]; i++)
            if (put_value(f, json_object_get(c, cli_std_cols[i]), i == 0) != 0) return -1;
        size_t k;
        json_array_foreach(defs, k, d)
            if (put_value(f, json_object_get(json_object_get(c, "fields"),
                                             cli_str(d, "key")), 0) != 0)
                return -1;
        cli_csv_eol(f);
    }
    return 0;
}

int cli_export(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = {
        {"format", CLI_VALUE}, {"out", CLI_VALUE}, {NULL, 0} };
    cli_args a;
    json_t *list = NULL, *defs = NULL;
    FILE *f = NULL;
    int rc = cli_args_parse(ctx, argc, argv, opts, 0, 0, &a);
    if (rc) goto done;
    const char *fmt = cli_arg(&a, "format"), *out = cli_arg(&a, "out");
    if (!fmt) fmt = ctx->json && !out ? "json" : "csv";
    if (strcmp(fmt, "csv") != 0 && strcmp(fmt, "json") != 0) {
        rc = cli_fail(ctx, CLI_USAGE, "invalid --format \"%s\" (csv or json)", fmt);
        goto done;
    }
    if (ctx->json && !out && strcmp(fmt, "csv") == 0) {
        rc = cli_fail(ctx, CLI_USAGE, "--json prints JSON: use --format json, or --out FILE for CSV");
        goto done;
    }
    if ((rc = cli_open(ctx))) goto done;
    fds_query q;
    memset(&q, 0, sizeof q);
    int frc = fds_customer_list(ctx->r, &q, &list);
    if (frc == FDS_OK) frc = fds_fielddef_list(ctx->r, &defs);
    if (frc != FDS_OK) { rc = cli_core_fail(ctx, frc); goto done; }
    /* The same order as `customer list` (collate.h). */
    if (cli_collate_customers(list) != 0) { rc = cli_fail(ctx, CLI_FAIL, "out of memory"); goto done; }
    size_t i;
    json_t *c;
    json_array_foreach(list, i, c) {   /* list-only marks are not data */
        json_object_del(c, "unsynced");
        json_object_del(c, "conflicts");
    }
    f = out ? fopen(out, "wb") : stdout;
    if (!f) { rc = cli_fail(ctx, CLI_FAIL, "cannot write %s", out); goto done; }
    int wrc = strcmp(fmt, "csv") == 0 ? export_csv(f, list, defs)
              : json_dumpf(list, f, JSON_INDENT(2));
    if (strcmp(fmt, "json") == 0 && wrc == 0) fputc('\n', f);
    if (out) {
        if (fclose(f) != 0) wrc = -1;
    } else if (fflush(f) != 0) {
        wrc = -1;
    }
    f = NULL;
    if (wrc != 0) { rc = cli_fail(ctx, CLI_FAIL, "cannot write %s", out ? out : "output"); goto done; }
    if (out && ctx->json) {
        json_t *o = json_pack("{s:s,s:s,s:I}", "out", out, "format", fmt,
                              "customers", (json_int_t)json_array_size(list));
        rc = o ? cli_json_print(o) : CLI_FAIL;
        json_decref(o);
    } else if (out) {
        printf("Exported %zu customer%s to %s\n", json_array_size(list),
               json_array_size(list) == 1 ? "" : "s", out);
    }
done:
    json_decref(list);
    json_decref(defs);
    cli_args_free(&a);
    return rc;
}
