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
    char bold[160];
    snprintf(bold, sizeof bold, "%s%s%s", cli_c(ctx, CLI_C_BOLD), title,
             cli_c(ctx, CLI_C_RESET));
    /* TRANSLATORS: a section of the daily list: %1$s its title, %2$zu
       how many entries it has. */
    printf(_("%1$s (%2$zu)\n"), bold, n);
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
            rc = cli_fail(ctx, CLI_USAGE, _("invalid date \"%s\" (use YYYY-MM-DD, "
                          "YYYY/M/D, tomorrow, 明天, mon..sun or 周一..周日)"), d);
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
    json_t *ret = json_object_get(out, "returning");
    size_t i;
    json_t *p;
    char tb[32], idb[16];
    char day[96];
    printf("%s%s%s\n\n", cli_c(ctx, CLI_C_BOLD), cli_long_date(&tm, day, sizeof day),
           cli_c(ctx, CLI_C_RESET));
    section(ctx, _("Plans due"), json_array_size(plans));
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
               cli_str(p, "content"), late ? _("  (overdue)") : "");
    }
    printf("\n");
    section(ctx, _("Birthdays (7 days)"), json_array_size(bdays));
    json_array_foreach(bdays, i, p) {
        json_int_t days = json_integer_value(json_object_get(p, "days"));
        /* "12-04" (no year) and "1990-12-04" in one 10-column cell */
        fputs("  ", stdout);
        cli_put_cell(stdout, cli_str(p, "birthday"), 10, 1);
        fputs("  ", stdout);
        cli_put_cell(stdout, cli_str(p, "name"), 12, 1);
        char when[32];
        if (days == 0) snprintf(when, sizeof when, "%s", _("today"));
        else snprintf(when, sizeof when, ngettext("in %lld day", "in %lld days",
                      (unsigned long)days), (long long)days);
        fputs("  ", stdout);
        cli_put_cell(stdout, when, 14, 1);
        printf("  %s\n", cli_short(cli_str(p, "id"), idb));
    }
    printf("\n");
    section(ctx, _("Gone quiet"), json_array_size(quiet));
    json_array_foreach(quiet, i, p) {
        const char *last = cli_str(p, "last_followup");
        printf("  ");
        cli_put_cell(stdout, cli_str(p, "name"), 16, 1);
        /* TRANSLATORS: %1$lld days without a follow-up, %2$lld the
           customer's follow-up cycle in days, %3$s the last follow-up's
           time (or "never"). */
        printf(_("  %1$lld days quiet (cycle %2$lld), last follow-up %3$s"),
               (long long)json_integer_value(json_object_get(p, "days_quiet")),
               (long long)json_integer_value(json_object_get(p, "cycle")),
               *last ? cli_local_time(last, tb) : _("never"));
        printf("  %s\n", cli_short(cli_str(p, "id"), idb));
    }
    if (json_array_size(ret)) {
        printf("\n");
        section(ctx, _("Going back to the pool"), json_array_size(ret));
        json_array_foreach(ret, i, p) {
            json_int_t left = json_integer_value(json_object_get(p, "days_left"));
            printf("  ");
            cli_put_cell(stdout, cli_str(p, "name"), 16, 1);
            /* TRANSLATORS: %1$s when the customer goes back to the pool
               (a local time); log a follow-up to keep it. */
            printf(_("  returns to the pool %1$s"), cli_local_time(cli_str(p, "return_at"), tb));
            if (left > 0)
                printf(ngettext(" (in %lld day)", " (in %lld days)", (unsigned long)left),
                       (long long)left);
            printf("  %s\n", cli_short(cli_str(p, "id"), idb));
        }
    }
done:
    json_decref(out);
    cli_args_free(&a);
    return rc;
}
