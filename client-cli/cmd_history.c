/*
** cmd_history.c — traceability: a customer's timeline (`history`) and the
** conflicts merge kept for a person to review (`conflicts`, `conflicts
** resolve`).
*/
#include <stdlib.h>
#include <string.h>
#include "cli.h"

/* Table and field names: words in the rep's language, the stored names
** (as in --json) in English. */
static const char *tbl_name(const char *t)
{
    return cli_catalog_active() ? cli_table_word(t) : t;
}

static const char *fld_name(const cli_ctx *ctx, const char *f, char *buf,
                            size_t len)
{
    return cli_catalog_active() ? cli_field_text(ctx->r, f, buf, len) : f;
}

/* A value for a one-line view: null shows as ∅, long text is cut. */
static void put_value(const json_t *v, size_t w)
{
    if (!json_is_string(v)) { fputs("∅", stdout); return; }
    cli_put_cell(stdout, json_string_value(v), w, 0);
}

/* A follow-up's photos (its "attachments" register, a JSON array as
** text): which were added and removed, by file name, rather than the raw
** text.  "+ shop.jpg  − old.jpg". */
static int has_id(const json_t *arr, const char *id)
{
    size_t i;
    json_t *x;
    json_array_foreach(arr, i, x)
        if (strcmp(cli_str(x, "id"), id) == 0) return 1;
    return 0;
}

static void photos_diff(const json_t *prev, const json_t *val)
{
    json_t *a = json_is_string(prev) ? json_loads(json_string_value(prev), 0, NULL) : NULL;
    json_t *b = json_is_string(val) ? json_loads(json_string_value(val), 0, NULL) : NULL;
    size_t i, n = 0;
    json_t *x;
    json_array_foreach(b, i, x)
        if (!has_id(a, cli_str(x, "id"))) {
            printf("%s+ %s", n++ ? "  " : "", cli_str(x, "name"));
        }
    json_array_foreach(a, i, x)
        if (!has_id(b, cli_str(x, "id"))) {
            printf("%s− %s", n++ ? "  " : "", cli_str(x, "name"));
        }
    if (n == 0) fputs(_("(photos unchanged)"), stdout);
    json_decref(a);
    json_decref(b);
}

int cli_history(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = { {NULL, 0} };
    cli_args a;
    char *id = NULL, tb[32], fb[160];
    json_t *out = NULL;
    int rc = cli_args_parse(ctx, argc, argv, opts, 1, 1, &a);
    if (rc) goto done;
    if ((rc = cli_open(ctx)) || (rc = cli_resolve(ctx, "customer", a.pos[0], &id)))
        goto done;
    int frc = fds_history(ctx->r, id, &out);
    if (frc != FDS_OK) { rc = cli_core_fail(ctx, frc); goto done; }
    if (ctx->json) { rc = cli_json_print(out); goto done; }
    cli_scrub(out);
    size_t i;
    json_t *e;
    json_array_foreach(out, i, e) {
        const char *user = cli_str(e, "user");
        printf("%s  %s%s%s%.8s%s  %s/%s: ", cli_local_time(cli_str(e, "at"), tb),
               cli_c(ctx, CLI_C_DIM), user, *user ? "@" : "", cli_str(e, "device"),
               cli_c(ctx, CLI_C_RESET), tbl_name(cli_str(e, "table")),
               fld_name(ctx, cli_str(e, "field"), fb, sizeof fb));
        json_t *replaced = json_object_get(e, "replaced");
        if (json_array_size(replaced) > 1) {
            /* a resolution: the values it settled, not "X → X" */
            size_t k;
            json_t *v;
            json_array_foreach(replaced, k, v) {
                if (k) fputs(" | ", stdout);
                put_value(v, 20);
            }
            fputs(" → ", stdout);
            put_value(json_object_get(e, "value"), 40);
            fputs(_("  (conflict resolved)"), stdout);
        } else if (strcmp(cli_str(e, "table"), "followup") == 0 &&
                   strcmp(cli_str(e, "field"), "attachments") == 0) {
            photos_diff(json_object_get(e, "previous"), json_object_get(e, "value"));
        } else {
            put_value(json_object_get(e, "previous"), 30);
            fputs(" → ", stdout);
            put_value(json_object_get(e, "value"), 40);
        }
        json_t *conc = json_object_get(e, "concurrent");
        if (json_array_size(conc) > 0) {
            /* written without knowing of another value: merge picked one */
            printf("  %s%s", cli_c(ctx, CLI_C_YELLOW), _("(concurrent with "));
            size_t k;
            json_t *v;
            json_array_foreach(conc, k, v) {
                if (k) fputs(", ", stdout);
                put_value(v, 20);
            }
            printf("%s%s", _(")"), cli_c(ctx, CLI_C_RESET));
        }
        fputc('\n', stdout);
    }
    if (json_array_size(out) == 0) fputs(_("No history.\n"), stdout);
done:
    free(id);
    json_decref(out);
    cli_args_free(&a);
    return rc;
}

static void side(const cli_ctx *ctx, const char *label, const json_t *s)
{
    char tb[32];
    /* 7 display columns: "theirs", 对方 */
    printf("    %s", cli_c(ctx, CLI_C_BOLD));
    cli_put_cell(stdout, label, 7, 1);
    printf("%s ", cli_c(ctx, CLI_C_RESET));
    json_t *v = json_object_get(s, "value");
    if (json_is_string(v)) cli_put_cell(stdout, json_string_value(v), 30, 1);
    else cli_put_cell(stdout, "∅", 30, 1);
    const char *user = cli_str(s, "user");
    printf("  %s%s%.8s  %s\n", user, *user ? "@" : "", cli_str(s, "device"),
           cli_local_time(cli_str(s, "at"), tb));
}

int cli_conflicts(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = { {NULL, 0} };
    cli_args a;
    json_t *out = NULL;
    int rc = cli_args_parse(ctx, argc, argv, opts, 0, 0, &a);
    if (rc) goto done;
    if ((rc = cli_open(ctx))) goto done;
    int frc = fds_conflicts(ctx->r, &out);
    if (frc != FDS_OK) { rc = cli_core_fail(ctx, frc); goto done; }
    if (ctx->json) { rc = cli_json_print(out); goto done; }
    cli_scrub(out);
    if (json_array_size(out) == 0) { fputs(_("No open conflicts.\n"), stdout); goto done; }
    size_t i;
    json_t *c;
    json_array_foreach(out, i, c) {
        char idb[16], rb[16];
        const char *tbl = cli_str(c, "table"), *rec = cli_str(c, "record");
        json_t *cust = NULL;
        if (strcmp(tbl, "customer") == 0 &&
            fds_customer_get(ctx->r, rec, &cust) != FDS_OK)
            cust = NULL;
        cli_scrub(cust);
        char fld[160], fb[160];
        snprintf(fld, sizeof fld, "%s%s%s", cli_c(ctx, CLI_C_BOLD),
                 fld_name(ctx, cli_str(c, "field"), fb, sizeof fb), cli_c(ctx, CLI_C_RESET));
        printf("%s!%s %s  %s %s%s%s  ", cli_c(ctx, CLI_C_RED),
               cli_c(ctx, CLI_C_RESET), cli_short(cli_str(c, "id"), idb),
               *tbl ? tbl_name(tbl) : C_("record", "record"), cli_short(rec, rb),
               cust ? "  " : "", cust ? cli_str(cust, "name") : "");
        printf(_("field %s\n"), fld);
        json_decref(cust);
        side(ctx, C_("conflict side", "mine"), json_object_get(c, "mine"));
        side(ctx, C_("conflict side", "theirs"), json_object_get(c, "theirs"));
    }
    fputs(_("Resolve with: fieldsync conflicts resolve ID --keep mine|theirs "
            "(or --value VALUE)\n"), stdout);
done:
    json_decref(out);
    cli_args_free(&a);
    return rc;
}

int cli_conflicts_resolve(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = {
        {"keep", CLI_VALUE}, {"value", CLI_VALUE}, {NULL, 0} };
    cli_args a;
    char *id = NULL;
    int rc = cli_args_parse(ctx, argc, argv, opts, 1, 1, &a);
    if (rc) goto done;
    const char *keep = cli_arg(&a, "keep"), *value = cli_arg(&a, "value");
    if (!!keep == !!value) {
        rc = cli_fail(ctx, CLI_USAGE, _("give exactly one of --keep mine|theirs or --value VALUE"));
        goto done;
    }
    if (keep && strcmp(keep, "mine") != 0 && strcmp(keep, "theirs") != 0) {
        rc = cli_fail(ctx, CLI_USAGE, _("invalid --keep \"%s\" (mine or theirs)"), keep);
        goto done;
    }
    if (value && !cli_utf8_ok(value)) {
        rc = cli_fail(ctx, CLI_USAGE, _("--%s is not valid UTF-8 text"), "value");
        goto done;
    }
    if ((rc = cli_open(ctx)) || (rc = cli_resolve(ctx, "conflict", a.pos[0], &id)))
        goto done;
    int frc = fds_conflict_resolve(ctx->r, id, keep, value);
    if (frc != FDS_OK) { rc = cli_core_fail(ctx, frc); goto done; }
    if (ctx->json) {
        json_t *o = json_pack("{s:s,s:b,s:s*,s:s*}", "id", id, "resolved", 1,
                              "keep", keep, "value", value);
        rc = o ? cli_json_print(o) : CLI_FAIL;
        json_decref(o);
    } else {
        /* TRANSLATORS: %1$s the conflict's id, %2$s which side was kept. */
        printf(_("Resolved conflict %1$s (%2$s); sync to settle it everywhere.\n"), id,
               keep ? C_("conflict side", keep) : _("new value"));
    }
done:
    free(id);
    cli_args_free(&a);
    return rc;
}
