/*
** cmd_photos.c — `photos`: the device's setting for photo bytes on
** metered links, kept in the replica's meta, and its daily accounting.
**
**   photos_mode    "auto" (fetch missing photos ahead of time, within the
**                  budget; the default) or "manual" (only `attachment get`)
**   photos_budget  bytes a day fetched ahead of time; "" for no budget
**   photos_day     the local day photos_used counts (YYYY-MM-DD)
**   photos_used    bytes of photos fetched that day, any way
**
** The decision itself is the core's (fds_blob_prefetch_ok), a pure
** function of this setting, the bytes used today and the photo's size.
** Uploads of the rep's own photos never wait for it: only --no-blobs
** holds them back.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli.h"

#define MB (1024.0 * 1024.0)    /* as phone plans count */

static void today(char *buf, size_t len)
{
    time_t now = time(NULL);
    struct tm tmv;
    if (!localtime_r(&now, &tmv) || strftime(buf, len, "%Y-%m-%d", &tmv) == 0)
        snprintf(buf, len, "?");
}

static int64_t meta_i64(fds_replica *r, const char *key, int64_t dflt)
{
    char *v = NULL, *end = NULL;
    int64_t n = dflt;
    if (fds_meta_get(r, key, &v) == FDS_OK && v && *v) {
        errno = 0;
        long long x = strtoll(v, &end, 10);
        if (errno == 0 && end && !*end && x >= 0) n = x;
    }
    free(v);
    return n;
}

int cli_photos_policy(fds_replica *r, fds_blob_policy *p)
{
    char day[16], *v = NULL;
    memset(p, 0, sizeof *p);
    if (fds_meta_get(r, "photos_mode", &v) == FDS_OK && v)
        p->manual = strcmp(v, "manual") == 0;
    free(v);
    v = NULL;
    p->budget = meta_i64(r, "photos_budget", -1);
    today(day, sizeof day);
    /* Bytes counted on another day are not today's. */
    if (fds_meta_get(r, "photos_day", &v) == FDS_OK && v && strcmp(v, day) == 0)
        p->used_today = meta_i64(r, "photos_used", 0);
    free(v);
    return 0;
}

int cli_photos_spent(fds_replica *r, int64_t bytes)
{
    if (bytes <= 0) return 0;
    fds_blob_policy p;
    char day[16], n[32];
    cli_photos_policy(r, &p);
    today(day, sizeof day);
    snprintf(n, sizeof n, "%lld", (long long)(p.used_today + bytes));
    return fds_meta_set(r, "photos_day", day) == FDS_OK &&
           fds_meta_set(r, "photos_used", n) == FDS_OK ? 0 : -1;
}

/* "50", "0.5", "none"/"off" (no budget: -1).  0 on success. */
static int parse_budget(const char *s, int64_t *bytes)
{
    if (strcmp(s, "none") == 0 || strcmp(s, "off") == 0) {
        *bytes = -1;
        return 0;
    }
    char *end = NULL;
    errno = 0;
    double mb = strtod(s, &end);
    if (errno || end == s || *end || !(mb >= 0 && mb <= 1e7))   /* NaN fails */
        return -1;
    *bytes = (int64_t)(mb * MB + 0.5);
    return 0;
}

static void print_setting(const fds_blob_policy *p)
{
    if (p->manual)
        printf(_("Photos: manual (fetched only when opened with fieldsync "
                 "attachment get)\n"));
    else if (p->budget < 0)
        printf(_("Photos: auto (missing photos are fetched at each sync; no "
                 "daily budget)\n"));
    else
        printf(_("Photos: auto (fetched ahead of time within %.1f MB a day; "
                 "the rest when opened)\n"), p->budget / MB);
    printf(_("Fetched today: %.1f MB\n"), p->used_today / MB);
    printf(_("Your own photos are always sent (only sync --no-blobs holds "
             "them back).\n"));
}

int cli_photos(cli_ctx *ctx, int argc, char **argv)
{
    cli_args a;
    static const cli_opt opts[] = { {NULL, 0} };
    int rc = cli_args_parse(ctx, argc, argv, opts, 0, 2, &a);
    if (rc) goto done;
    const char *w = a.npos > 0 ? a.pos[0] : NULL;
    const char *mode = NULL;
    int64_t budget = 0;
    int set_budget = 0;
    if (w && (strcmp(w, "auto") == 0 || strcmp(w, "manual") == 0)) {
        if (a.npos > 1) {
            rc = cli_fail(ctx, CLI_USAGE, _("unexpected argument \"%s\""), a.pos[1]);
            goto done;
        }
        mode = w;
    } else if (w && strcmp(w, "budget") == 0) {
        if (a.npos < 2) {
            rc = cli_fail(ctx, CLI_USAGE, _("missing MB: fieldsync photos budget "
                                            "MB|none"));
            goto done;
        }
        if (parse_budget(a.pos[1], &budget) != 0) {
            rc = cli_fail(ctx, CLI_USAGE, _("invalid budget \"%s\" (megabytes a "
                                            "day, e.g. 50 or 0.5, or none)"),
                          a.pos[1]);
            goto done;
        }
        set_budget = 1;
    } else if (w) {
        rc = cli_fail(ctx, CLI_USAGE, _("unknown setting \"%s\" (use auto, manual "
                                        "or budget MB|none)"), w);
        goto done;
    }
    if ((rc = cli_open(ctx))) goto done;
    int frc = FDS_OK;
    if (mode)
        frc = fds_meta_set(ctx->r, "photos_mode", mode);
    if (set_budget) {
        char n[32] = "";
        if (budget >= 0) snprintf(n, sizeof n, "%lld", (long long)budget);
        frc = fds_meta_set(ctx->r, "photos_budget", n);
    }
    if (frc != FDS_OK) { rc = cli_core_fail(ctx, frc); goto done; }
    fds_blob_policy p;
    cli_photos_policy(ctx->r, &p);
    if (ctx->json) {
        char day[16];
        today(day, sizeof day);
        json_t *o = json_pack("{s:s,s:o,s:s,s:I,s:o}",
                              "mode", p.manual ? "manual" : "auto",
                              "budget_bytes", p.budget < 0 ? json_null()
                                  : json_integer((json_int_t)p.budget),
                              "day", day,
                              "used_today", (json_int_t)p.used_today,
                              "left_today", p.manual ? json_integer(0)
                                  : p.budget < 0 ? json_null()
                                  : json_integer((json_int_t)(p.budget > p.used_today
                                                 ? p.budget - p.used_today : 0)));
        rc = o ? cli_json_print(o) : CLI_FAIL;
        json_decref(o);
    } else {
        print_setting(&p);
    }
done:
    cli_args_free(&a);
    return rc;
}
