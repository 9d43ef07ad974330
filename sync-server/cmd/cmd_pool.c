/*
** cmd_pool.c — `fieldsync-server pool set|show`: the customer pool's
** rules (公海, DESIGN.md "Customer pool"), kept in the store.  A running
** server reads them at every claim and publishes them to the devices (the
** pooldef record, for `today`'s "returning") within a minute
** (sync/pool.c).
*/
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cmds.h"

static const char pool_help[] =
    "usage: fieldsync-server pool set [--return-days N] [--warn-days N]\n"
    "                              [--cooldown-days N] [--max-claims-per-day N]\n"
    "                              [--max-owned N] --data DIR [--json]\n"
    "       fieldsync-server pool show --data DIR [--json]\n"
    "\n"
    "The customer pool (公海): a customer whose owner has logged no follow-up\n"
    "for --return-days goes back to the pool of the owner's team (won\n"
    "customers never do); the owner's device warns --warn-days ahead\n"
    "(`fieldsync today`, \"returning\").  A former owner may not claim it back\n"
    "for --cooldown-days; a rep may claim at most --max-claims-per-day a day\n"
    "and may not claim while owning --max-owned customers.  0 turns a rule\n"
    "off (every rule is off until set); options not given keep their value.\n"
    "A running server applies them at once and publishes them to devices\n"
    "within a minute.  Without --data, the folder is $FIELDSYNC_DATA.\n"
    "--store URL names a store that is not DIR's file (postgresql://..., as\n"
    "`init --store`).\n";

static int num(const char *opt, const char *v, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno || end == v || *end || n < 0 || n > 100000) {
        fsv_fail("pool set: %s wants a whole number 0..100000, not \"%s\"",
                 opt, v);
        return -1;
    }
    *out = n;
    return 0;
}

static json_t *rules_json(const fsv_pool_rules *r)
{
    return json_pack("{s:I, s:I, s:I, s:I, s:I}",
                     "return_days", (json_int_t)r->return_days,
                     "warn_days", (json_int_t)r->warn_days,
                     "cooldown_days", (json_int_t)r->cooldown_days,
                     "max_claims_per_day", (json_int_t)r->max_claims_per_day,
                     "max_owned", (json_int_t)r->max_owned);
}

static void rules_text(const fsv_pool_rules *r)
{
    const struct { const char *k; int64_t v; } v[] = {
        {"return-days", r->return_days}, {"warn-days", r->warn_days},
        {"cooldown-days", r->cooldown_days},
        {"max-claims-per-day", r->max_claims_per_day},
        {"max-owned", r->max_owned},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        if (v[i].v)
            printf("%-20s %lld\n", v[i].k, (long long)v[i].v);
        else
            printf("%-20s off\n", v[i].k);
    }
}

int fsv_cmd_pool(int argc, char **argv)
{
    static const struct option opts[] = {
        {"return-days", required_argument, NULL, 'r'},
        {"warn-days", required_argument, NULL, 'w'},
        {"cooldown-days", required_argument, NULL, 'c'},
        {"max-claims-per-day", required_argument, NULL, 'm'},
        {"max-owned", required_argument, NULL, 'o'},
        {"data", required_argument, NULL, 'd'},
        {"store", required_argument, NULL, 'S'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *store_url = NULL;
    const char *data = NULL;
    const char *val[5] = {NULL, NULL, NULL, NULL, NULL};
    static const char *const names[5] = {"--return-days", "--warn-days",
        "--cooldown-days", "--max-claims-per-day", "--max-owned"};
    int json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'r': val[0] = optarg; break;
        case 'w': val[1] = optarg; break;
        case 'c': val[2] = optarg; break;
        case 'm': val[3] = optarg; break;
        case 'o': val[4] = optarg; break;
        case 'd': data = optarg; break;
        case 'S': store_url = optarg; break;
        case 'j': json = 1; break;
        case 'h': fputs(pool_help, stdout); return FSV_EXIT_OK;
        default: fputs(pool_help, stderr); return FSV_EXIT_USAGE;
        }
    }
    if (argc - optind != 1 || (strcmp(argv[optind], "set") != 0 &&
                               strcmp(argv[optind], "show") != 0)) {
        fsv_fail("pool: set or show?");
        fputs(pool_help, stderr);
        return FSV_EXIT_USAGE;
    }
    int set = strcmp(argv[optind], "set") == 0;
    int64_t v[5] = {0, 0, 0, 0, 0};
    for (int i = 0; i < 5; i++) {
        if (val[i] && !set) {
            fsv_fail("pool show takes no %s (did you mean pool set?)", names[i]);
            return FSV_EXIT_USAGE;
        }
        if (val[i] && num(names[i], val[i], &v[i]) != 0)
            return FSV_EXIT_USAGE;
    }
    fsv_store *s;
    int code = fsv_open_store(data, store_url, &s);
    if (code != FSV_EXIT_OK)
        return code;
    fsv_pool_rules r;
    int rc = fsv_store_begin(s);
    if (rc == FSV_OK)
        rc = fsv_store_pool_rules_get(s, &r);
    if (rc == FSV_OK && set) {
        int64_t *dst[5] = {&r.return_days, &r.warn_days, &r.cooldown_days,
                           &r.max_claims_per_day, &r.max_owned};
        for (int i = 0; i < 5; i++)
            if (val[i])
                *dst[i] = v[i];
        rc = fsv_store_pool_rules_set(s, &r);
    }
    if (rc == FSV_OK)
        rc = fsv_store_commit(s);
    if (rc != FSV_OK) {
        fsv_fail("%s", fsv_store_errmsg(s));
        fsv_store_rollback(s);
        fsv_store_close(s);
        return fsv_exit_for(rc);
    }
    fsv_store_close(s);
    if (json) {
        json_t *o = rules_json(&r);
        char *t = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
        json_decref(o);
        if (!t) {
            fsv_fail("out of memory");
            return FSV_EXIT_FAIL;
        }
        puts(t);
        free(t);
    } else {
        rules_text(&r);
    }
    return FSV_EXIT_OK;
}
