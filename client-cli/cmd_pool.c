/*
** cmd_pool.c — the customer pool (公海): `customer release`, `pool list`,
** `pool claim` (core's pool.c).  Release and claim are local writes like
** every other command; the server decides at the next sync (someone else
** may have claimed the customer first; the pool's rules), and `sync`
** reports what it refused.
*/
#include <string.h>
#include "cli.h"
#include "collate.h"

int cli_customer_release(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = { {"note", CLI_VALUE}, {NULL, 0} };
    cli_args a;
    char *id = NULL;
    json_t *out = NULL;
    int rc = cli_args_parse(ctx, argc, argv, opts, 1, 1, &a);
    if (rc) goto done;
    if ((rc = cli_open(ctx)) || (rc = cli_resolve(ctx, "customer", a.pos[0], &id)))
        goto done;
    int frc = fds_customer_release(ctx->r, id, cli_arg(&a, "note"), &out);
    if (frc != FDS_OK) { rc = cli_core_fail(ctx, frc); goto done; }
    if (ctx->json) {
        rc = cli_json_print(out);
    } else {
        cli_scrub(out);
        /* TRANSLATORS: %1$s the customer's name. */
        printf(_("Released customer %1$s to the pool (the server checks this at the next sync)\n"),
               cli_str(out, "name"));
    }
done:
    free(id);
    json_decref(out);
    cli_args_free(&a);
    return rc;
}

int cli_pool_claim(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = { {NULL, 0} };
    cli_args a;
    char *id = NULL;
    json_t *out = NULL;
    int rc = cli_args_parse(ctx, argc, argv, opts, 1, 1, &a);
    if (rc) goto done;
    if ((rc = cli_open(ctx)) || (rc = cli_resolve(ctx, "customer", a.pos[0], &id)))
        goto done;
    int frc = fds_pool_claim(ctx->r, id, &out);
    if (frc != FDS_OK) { rc = cli_core_fail(ctx, frc); goto done; }
    if (ctx->json) {
        rc = cli_json_print(out);
    } else {
        cli_scrub(out);
        /* TRANSLATORS: %1$s the customer's name. */
        printf(_("Claimed customer %1$s (a request: the server decides at the next sync; if someone claimed it first, sync says so)\n"),
               cli_str(out, "name"));
    }
done:
    free(id);
    json_decref(out);
    cli_args_free(&a);
    return rc;
}

int cli_pool_list(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = { {"search", CLI_VALUE}, {NULL, 0} };
    cli_args a;
    json_t *list = NULL;
    cli_table *t = NULL;
    int rc = cli_args_parse(ctx, argc, argv, opts, 0, 0, &a);
    if (rc) goto done;
    if ((rc = cli_open(ctx))) goto done;
    int frc = fds_pool_list(ctx->r, cli_arg(&a, "search"), &list);
    if (frc != FDS_OK) { rc = cli_core_fail(ctx, frc); goto done; }
    if (cli_collate_customers(list) != 0) {
        rc = cli_fail(ctx, CLI_FAIL, _("out of memory"));
        goto done;
    }
    if (ctx->json) { rc = cli_json_print(list); goto done; }
    if (json_array_size(list) == 0) {
        fputs(_("The pool is empty.\n"), stdout);
        goto done;
    }
    cli_scrub(list);
    static const char *const hdr_id[] = {
        N_("ID"), N_("NAME"), N_("COMPANY"), N_("PHONE"), N_("STAGE"),
        N_("IN POOL SINCE") };
    const char *hdr[6];
    for (size_t k = 0; k < 6; k++) hdr[k] = _(hdr_id[k]);
    static const size_t maxw[] = { 8, 12, 12, 13, 10, 16 };
    t = cli_table_new(6, hdr, maxw);
    if (!t) { rc = cli_fail(ctx, CLI_FAIL, _("out of memory")); goto done; }
    size_t i;
    json_t *c;
    json_array_foreach(list, i, c) {
        char idb[16], sb[32];
        const char *row[6] = {
            cli_short(cli_str(c, "id"), idb), cli_str(c, "name"),
            cli_str(c, "company"), cli_str(c, "phone"), cli_str(c, "stage"),
            cli_local_time(cli_str(c, "pool_since"), sb) };
        if (cli_table_add(t, row) != 0) { rc = cli_fail(ctx, CLI_FAIL, _("out of memory")); goto done; }
    }
    cli_table_print(ctx, t, stdout);
    size_t n = json_array_size(list);
    printf(ngettext("%zu customer in the pool; claim one with: fieldsync pool claim ID\n",
                    "%zu customers in the pool; claim one with: fieldsync pool claim ID\n", n), n);
done:
    cli_table_free(t);
    json_decref(list);
    cli_args_free(&a);
    return rc;
}
