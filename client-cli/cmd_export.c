/*
** cmd_export.c — `export`: customers as CSV for Excel (text/sheet_csv.c,
** the same writer as the server's /api/export.csv: UTF-8 with BOM, CRLF,
** RFC 4180 quoting, the formula guard, one column per custom field after
** the standard ones), follow-ups as CSV, or a JSON array of customers.
*/
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli.h"
#include "collate.h"
#include "csv.h"
#include "sheet_csv.h"

/* Follow-up columns: the record's key and the Chinese header a sales team's
** sheet (跟进记录) uses.  Import reads either. */
const char *const cli_followup_cols[][2] = {
    {"id", "编号"}, {"customer", "客户编号"}, {"customer_name", "客户"},
    {"company", "公司"}, {"at", "跟进时间"}, {"method", "跟进方式"},
    {"content", "跟进内容"}, {"result", "跟进结果"}, {"author", "跟进人"},
    {NULL, NULL} };

/* Every live follow-up of the customers in list (their order), newest
** first within a customer, each with customer_name and company. */
static int followup_rows(cli_ctx *ctx, const json_t *list, json_t **out)
{
    json_t *rows = json_array();
    size_t i;
    json_t *c;
    if (!rows) return FDS_NOMEM;
    json_array_foreach(list, i, c) {
        json_t *sheet = NULL;
        int frc = fds_customer_sheet(ctx->r, cli_str(c, "id"), &sheet);
        if (frc != FDS_OK) { json_decref(rows); return frc; }
        size_t j;
        json_t *fu;
        json_array_foreach(json_object_get(sheet, "followups"), j, fu) {
            json_object_set_new(fu, "customer_name", json_string(cli_str(c, "name")));
            if (*cli_str(c, "company"))
                json_object_set_new(fu, "company", json_string(cli_str(c, "company")));
            json_array_append(rows, fu);
        }
        json_decref(sheet);
    }
    *out = rows;
    return FDS_OK;
}

/* RFC 3339 -> local "YYYY-MM-DD HH:MM:SS": what Excel shows and import
** reads back to the same second. */
static const char *local_seconds(const char *text, char buf[32])
{
    int64_t ms;
    if (fds_time_parse(text, &ms) != FDS_OK) return text;
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!localtime_r(&t, &tm) || !strftime(buf, 32, "%Y-%m-%d %H:%M:%S", &tm))
        return text;
    return buf;
}

static int export_followups_csv(FILE *f, const json_t *rows)
{
    size_t i, j;
    json_t *fu;
    char tb[32];
    fputs("\xef\xbb\xbf", f);
    for (i = 0; cli_followup_cols[i][0]; i++) fdt_csv_put(f, cli_followup_cols[i][1], i == 0);
    fdt_csv_eol(f);
    json_array_foreach(rows, j, fu) {
        for (i = 0; cli_followup_cols[i][0]; i++) {
            const char *k = cli_followup_cols[i][0];
            const char *v = cli_str(fu, k);
            if (strcmp(k, "at") == 0) v = local_seconds(v, tb);  /* as Excel shows */
            else if (strcmp(k, "method") == 0 && *v) {
                fdt_csv_put_safe(f, cli_method_zh(v), i == 0);
                continue;
            }
            fdt_csv_put_safe(f, v, i == 0);
        }
        fdt_csv_eol(f);
    }
    return 0;
}

int cli_export(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = {
        {"format", CLI_VALUE}, {"out", CLI_VALUE}, {"followups", CLI_FLAG},
        {NULL, 0} };
    cli_args a;
    json_t *list = NULL, *defs = NULL;
    FILE *f = NULL;
    int rc = cli_args_parse(ctx, argc, argv, opts, 0, 0, &a);
    if (rc) goto done;
    const char *fmt = cli_arg(&a, "format"), *out = cli_arg(&a, "out");
    if (!fmt) fmt = ctx->json && !out ? "json" : "csv";
    if (strcmp(fmt, "csv") != 0 && strcmp(fmt, "json") != 0) {
        rc = cli_fail(ctx, CLI_USAGE, _("invalid --format \"%s\" (csv or json)"), fmt);
        goto done;
    }
    if (ctx->json && !out && strcmp(fmt, "csv") == 0) {
        rc = cli_fail(ctx, CLI_USAGE, "%s", _("--json prints JSON: use --format json, or --out FILE for CSV"));
        goto done;
    }
    if ((rc = cli_open(ctx))) goto done;
    fds_query q;
    memset(&q, 0, sizeof q);
    int frc = fds_customer_list(ctx->r, &q, &list);
    if (frc == FDS_OK) frc = fds_fielddef_list(ctx->r, &defs);
    if (frc != FDS_OK) { rc = cli_core_fail(ctx, frc); goto done; }
    /* The same order as `customer list` (collate.h). */
    if (cli_collate_customers(list) != 0) { rc = cli_fail(ctx, CLI_FAIL, _("out of memory")); goto done; }
    size_t i;
    json_t *c;
    json_array_foreach(list, i, c) {   /* list-only marks are not data */
        json_object_del(c, "unsynced");
        json_object_del(c, "conflicts");
    }
    int followups = cli_has(&a, "followups");
    if (followups) {
        json_t *rows = NULL;
        frc = followup_rows(ctx, list, &rows);
        if (frc != FDS_OK) { rc = cli_core_fail(ctx, frc); goto done; }
        json_decref(list);
        list = rows;
    }
    f = out ? fopen(out, "wb") : stdout;
    if (!f) { rc = cli_fail(ctx, CLI_FAIL, _("cannot write %s"), out); goto done; }
    int wrc = strcmp(fmt, "csv") == 0
              ? (followups ? export_followups_csv(f, list) : fdt_csv_customers(f, list, defs))
              : json_dumpf(list, f, JSON_INDENT(2));
    if (strcmp(fmt, "json") == 0 && wrc == 0) fputc('\n', f);
    if (out) {
        if (fclose(f) != 0) wrc = -1;
    } else if (fflush(f) != 0) {
        wrc = -1;
    }
    f = NULL;
    if (wrc != 0) { rc = cli_fail(ctx, CLI_FAIL, _("cannot write %s"), out ? out : _("output")); goto done; }
    if (out && ctx->json) {
        json_t *o = json_pack("{s:s,s:s,s:I}", "out", out, "format", fmt,
                              followups ? "followups" : "customers",
                              (json_int_t)json_array_size(list));
        rc = o ? cli_json_print(o) : CLI_FAIL;
        json_decref(o);
    } else if (out) {
        size_t n = json_array_size(list);
        /* TRANSLATORS: %1$zu how many, %2$s the file. */
        printf(followups ? ngettext("Exported %1$zu follow-up to %2$s\n",
                                    "Exported %1$zu follow-ups to %2$s\n", n)
                         : ngettext("Exported %1$zu customer to %2$s\n",
                                    "Exported %1$zu customers to %2$s\n", n), n, out);
    }
done:
    json_decref(list);
    json_decref(defs);
    cli_args_free(&a);
    return rc;
}
