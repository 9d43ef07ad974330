/*
** cmd_today.c — `today`: the rep's automatic daily list (core's fds_today):
** plans due today or overdue, birthdays in the next week, customers whose
** follow-up cycle has run out.
*/
#include <string.h>
#include <time.h>
#include "cli.h"

static void section(const cli_ctx *ctx, const char *title, size_t n)
{
    printf("%s%s%s (%zu)\n", cli_c(ctx, CLI_C_BOLD), title,
           cli_c(ctx, CLI_C_RESET), n);
}

int cli_today(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = { {"date", CLI_VALUE}, {NULL, 0} };
    cli_args a;
    json_t *out = NULL;
    char date[16] = "";
    int64_t day_ms = 0;
    int rc = cli_args_parse(ctx, argc, argv, opts, 0, 0, &a);
    if (rc) goto done;
    const char *d = cli_arg(&a, "date");
    if (d) {
        /* Any accepted time names its local calendar day. */
        if (fds_time_parse_rel(d, (int64_t)time(NULL) * 1000, &day_ms, NULL) != FDS_OK) {
            rc = cli_fail(ctx, CLI_USAGE, "invalid date \"%s\" (use YYYY-MM-DD, "
                          "YYYY/M/D, tomorrow, 明天, mon..sun or 周一..周日)", d);
            goto done;
        }
    } else {
        day_ms = (int64_t)time(NULL) * 1000;
    }
    time_t t = (time_t)(day_ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(date, sizeof date, "%Y-%m-%d", &tm);
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_isdst = -1;
    int64_t start_ms = (int64_t)mktime(&tm) * 1000;

    if ((rc = cli_open(ctx))) goto done;
    int frc = fds_today(ctx->r, date, &out);
    if (frc != FDS_OK) { rc = cli_core_fail(ctx, frc); goto done; }
    if (ctx->json) { rc = cli_json_print(out); goto done; }
    cli_scrub(out);

    json_t *plans = json_object_get(out, "plans");
    json_t *bdays = json_object_get(out, "birthdays");
    json_t *quiet = json_object_get(out, "quiet");
    size_t i;
    json_t *p;
    char tb[32], idb[16];
    printf("%s今日跟进 Today — %s%s\n\n", cli_c(ctx, CLI_C_BOLD), date,
           cli_c(ctx, CLI_C_RESET));
    section(ctx, "待办跟进 Plans due", json_array_size(plans));
    json_array_foreach(plans, i, p) {
        int64_t due = 0;
        int late = fds_time_parse(cli_str(p, "due"), &due) == FDS_OK && due < start_ms;
        /* Fixed display widths (CJK counts 2): a plan for a day has no
        ** time, a method label may be missing; columns still line up. */
        printf("  %s", late ? cli_c(ctx, CLI_C_RED) : "");
        cli_put_cell(stdout, cli_local_time(cli_str(p, "due"), tb), 16, 1);
        printf("%s  ", late ? cli_c(ctx, CLI_C_RESET) : "");
        cli_put_cell(stdout, cli_str(p, "customer_name"), 12, 1);
        fputs("  ", stdout);
        cli_put_cell(stdout, cli_method_label(cli_str(p, "method")), 14, 1);
        printf("  %s  %s%s\n", cli_short(cli_str(p, "id"), idb),
               cli_str(p, "content"), late ? "  (overdue 逾期)" : "");
    }
    printf("\n");
    section(ctx, "生日提醒 Birthdays (7 days)", json_array_size(bdays));
    json_array_foreach(bdays, i, p) {
        json_int_t days = json_integer_value(json_object_get(p, "days"));
        /* "12-04" (no year) and "1990-12-04" in one 10-column cell */
        fputs("  ", stdout);
        cli_put_cell(stdout, cli_str(p, "birthday"), 10, 1);
        fputs("  ", stdout);
        cli_put_cell(stdout, cli_str(p, "name"), 12, 1);
        char when[32];
        if (days == 0) snprintf(when, sizeof when, "today 今天");
        else snprintf(when, sizeof when, "in %lld day%s", (long long)days,
                      days == 1 ? "" : "s");
        fputs("  ", stdout);
        cli_put_cell(stdout, when, 14, 1);
        printf("  %s\n", cli_short(cli_str(p, "id"), idb));
    }
    printf("\n");
    section(ctx, "久未跟进 Gone quiet", json_array_size(quiet));
    json_array_foreach(quiet, i, p) {
        const char *last = cli_str(p, "last_followup");
        printf("  ");
        cli_put_cell(stdout, cli_str(p, "name"), 16, 1);
        printf("  %lld days quiet (cycle %lld), last follow-up %s  %s\n",
               (long long)json_integer_value(json_object_get(p, "days_quiet")),
               (long long)json_integer_value(json_object_get(p, "cycle")),
               *last ? cli_local_time(last, tb) : "never",
               cli_short(cli_str(p, "id"), idb));
    }
done:
    json_decref(out);
    cli_args_free(&a);
    return rc;
}
