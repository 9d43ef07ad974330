/*
** cmd_sheet.c — `customer show`: the whole follow-up sheet (客户跟进单) in
** the article's four parts, sized for a small terminal:
**   基本信息 basic info, 跟进记录 follow-ups (newest first),
**   销售进展 sales progress (stage path and dated changes),
**   下次跟进 next follow-up plans.
** The headings and labels are in the rep's language (po/); custom field
** labels use the definition's label_zh in Chinese, its label in English.
*/
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "blobstore.h"

static void heading(const cli_ctx *ctx, const char *title)
{
    printf("\n%s── %s ──%s\n", cli_c(ctx, CLI_C_CYAN), title,
           cli_c(ctx, CLI_C_RESET));
}

/* "  label     value" with the label in lw display columns; a multi-line
** value (notes) continues under its first line. */
static void line(size_t lw, const char *label, const char *value)
{
    if (!value || !*value) return;
    fputs("  ", stdout);
    cli_put_cell(stdout, label, lw, 1);
    fputs("  ", stdout);
    for (; *value; value++) {
        fputc(*value, stdout);
        if (*value == '\n' && value[1])
            for (size_t i = 0; i < lw + 4; i++) fputc(' ', stdout);
    }
    fputc('\n', stdout);
}

/* A custom field's label in the rep's language (label_zh in Chinese). */
static const char *field_label(const json_t *d, const char *key)
{
    const char *zh = cli_str(d, "label_zh"), *en = cli_str(d, "label");
    return cli_zh_labels() && *zh ? zh : *en ? en : *zh ? zh : key;
}

static void basic_info(const cli_ctx *ctx, const json_t *c, const json_t *defs)
{
    static const char *const rows[][2] = {
        {"phone", N_("Phone")}, {"email", N_("Email")}, {"wechat", N_("WeChat")},
        {"company", N_("Company")}, {"title", N_("Title")},
        {"birthday", N_("Birthday")}, {"notes", N_("Notes")},
        {"owner", N_("Owner")} };
    static const char *const more[] = {
        N_("Amount"), N_("Expected close"), N_("Tags"), N_("Follow-up cycle") };
    /* The label column: as wide as the widest label, in whatever language
    ** (Chinese labels are short), at most 24. */
    size_t lw = 0, di;
    json_t *def;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        if (cli_width(_(rows[i][1])) > lw) lw = cli_width(_(rows[i][1]));
    for (size_t i = 0; i < sizeof more / sizeof more[0]; i++)
        if (cli_width(_(more[i])) > lw) lw = cli_width(_(more[i]));
    json_array_foreach(defs, di, def)
        if (json_object_get(json_object_get(c, "fields"), cli_str(def, "key")) &&
            cli_width(field_label(def, cli_str(def, "key"))) > lw)
            lw = cli_width(field_label(def, cli_str(def, "key")));
    if (lw > 24) lw = 24;
    heading(ctx, _("Basic info"));
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        line(lw, _(rows[i][1]), cli_str(c, rows[i][0]));
    if (json_is_true(json_object_get(c, "pool"))) {
        /* No owner: in the customer pool (公海) since pool_since. */
        char tb[32], pb[96];
        /* TRANSLATORS: %s the local time the customer went to the pool. */
        snprintf(pb, sizeof pb, _("in the customer pool since %s (fieldsync pool claim ID)"),
                 cli_local_time(cli_str(c, "pool_since"), tb));
        line(lw, _(rows[7][1]), pb);
    }
    char money[64];
    line(lw, _(more[0]), cli_amount_text(json_object_get(c, "amount"), money, sizeof money));
    line(lw, _(more[1]), cli_str(c, "expected_close"));
    json_t *tags = json_object_get(c, "tags");
    if (json_array_size(tags) > 0) {
        char buf[1024] = "";
        size_t i, n = 0;
        json_t *t;
        json_array_foreach(tags, i, t) {
            int k = snprintf(buf + n, sizeof buf - n, "%s%s", i ? ", " : "",
                             json_string_value(t) ? json_string_value(t) : "");
            if (k < 0 || (size_t)k >= sizeof buf - n) break;
            n += (size_t)k;
        }
        line(lw, _(more[2]), buf);
    }
    json_t *cycle = json_object_get(c, "cycle");
    if (json_is_integer(cycle)) {
        char buf[48];
        long long days = (long long)json_integer_value(cycle);
        snprintf(buf, sizeof buf, ngettext("%lld day", "%lld days",
                                           (unsigned long)days), days);
        line(lw, _(more[3]), buf);
    }
    const char *key;
    json_t *v;
    json_object_foreach(json_object_get(c, "fields"), key, v) {
        char label[160], val[64];
        snprintf(label, sizeof label, "%s", key);
        size_t i;
        json_t *fd;
        json_array_foreach(defs, i, fd)
            if (strcmp(cli_str(fd, "key"), key) == 0)
                snprintf(label, sizeof label, "%s", field_label(fd, key));
        const char *text = json_string_value(v);
        if (!text) {    /* numbers from a future core: show them anyway */
            if (json_is_integer(v))
                snprintf(val, sizeof val, "%lld", (long long)json_integer_value(v));
            else if (json_is_real(v)) snprintf(val, sizeof val, "%g", json_real_value(v));
            else val[0] = '\0';
            text = val;
        }
        line(lw, label, text);
    }
}

/* A check-in: where (address, then the coordinates) and when (the
** follow-up's time), one line under the follow-up. */
static void checkin_line(const json_t *loc, const char *at)
{
    char tb[32];
    if (!json_is_object(loc))
        return;
    const json_t *lat = json_object_get(loc, "lat"), *lon = json_object_get(loc, "lon");
    const char *addr = cli_str(loc, "address");
    printf("                    %s ", _("Checked in:"));
    if (*addr)
        printf("%s", addr);
    if (json_is_number(lat) && json_is_number(lon))
        printf("%s(%.15g, %.15g)", *addr ? " " : "", json_number_value(lat),
               json_number_value(lon));
    printf("  %s\n", cli_local_time(at, tb));
}

static void followups(const cli_ctx *ctx, const json_t *list)
{
    char tb[32], idb[16];
    size_t i;
    json_t *f;
    heading(ctx, _("Follow-ups"));
    if (json_array_size(list) == 0) { printf("  %s\n", _("(none)")); return; }
    json_array_foreach(list, i, f) {
        /* the short id: what `followup edit|delete` takes */
        printf("  %s  %s%s%s  %s  %s%s%s\n", cli_local_time(cli_str(f, "at"), tb),
               cli_c(ctx, CLI_C_BOLD), cli_method_label(cli_str(f, "method")),
               cli_c(ctx, CLI_C_RESET), cli_str(f, "content"),
               cli_c(ctx, CLI_C_DIM), cli_short(cli_str(f, "id"), idb),
               cli_c(ctx, CLI_C_RESET));
        if (*cli_str(f, "result"))
            printf("                    → %s\n", cli_str(f, "result"));
        checkin_line(json_object_get(f, "location"), cli_str(f, "at"));
        if (*cli_str(f, "author"))
            printf("                    %s— %s%s\n", cli_c(ctx, CLI_C_DIM),
                   cli_str(f, "author"), cli_c(ctx, CLI_C_RESET));
        size_t k;
        json_t *p;
        json_array_foreach(json_object_get(f, "attachments"), k, p) {
            /* TRANSLATORS: a photo line: file name, short attachment id,
               then whether its bytes are on this device. */
            printf("                    📷 %s  %s%s%s  %s\n", cli_str(p, "name"),
                   cli_c(ctx, CLI_C_DIM), cli_short(cli_str(p, "id"), idb),
                   cli_c(ctx, CLI_C_RESET),
                   json_is_true(json_object_get(p, "have"))
                       ? _("(on this device)")
                       : _("(not here yet: fieldsync attachment get ID --out FILE)"));
        }
    }
}

static void feedback(const cli_ctx *ctx, const json_t *list)
{
    char tb[32];
    size_t i;
    json_t *f;
    if (json_array_size(list) == 0) return;
    printf("  %s%s%s\n", cli_c(ctx, CLI_C_BOLD), _("Customer feedback"),
           cli_c(ctx, CLI_C_RESET));
    json_array_foreach(list, i, f)
        printf("  %s  %s\n", cli_local_time(cli_str(f, "at"), tb),
               cli_str(f, "content"));
}

static void progress(const cli_ctx *ctx, const json_t *c, const json_t *changes,
                     const json_t *stages)
{
    char tb[32], lb[96], lb2[96];
    size_t i;
    json_t *s;
    const char *cur = cli_str(c, "stage");
    heading(ctx, _("Sales progress"));
    /* The path: every stage in order, the current one marked. */
    fputs("  ", stdout);
    json_array_foreach(stages, i, s) {
        const char *key = cli_str(s, "key");
        int here = strcmp(key, cur) == 0;
        if (i) fputs(" → ", stdout);
        if (here) printf("%s[%s]%s", cli_c(ctx, CLI_C_GREEN),
                         cli_stage_label(stages, key, lb, sizeof lb),
                         cli_c(ctx, CLI_C_RESET));
        else if (cli_zh_labels() && *cli_str(s, "label_zh"))
            fputs(cli_str(s, "label_zh"), stdout);
        else fputs(key, stdout);
    }
    if (json_array_size(stages) == 0) fputs(cur, stdout);
    fputc('\n', stdout);
    json_array_foreach(changes, i, s) {
        const char *from = cli_str(s, "from");
        printf("  %s  %s%s%s", cli_local_time(cli_str(s, "at"), tb),
               *from ? cli_stage_label(stages, from, lb, sizeof lb) : "",
               *from ? " → " : "",
               cli_stage_label(stages, cli_str(s, "to"), lb2, sizeof lb2));
        if (*cli_str(s, "note")) printf("  %s", cli_str(s, "note"));
        if (*cli_str(s, "author"))
            printf("  %s— %s%s", cli_c(ctx, CLI_C_DIM), cli_str(s, "author"),
                   cli_c(ctx, CLI_C_RESET));
        fputc('\n', stdout);
    }
}

static void plans(const cli_ctx *ctx, const json_t *list)
{
    char tb[32], idb[16];
    size_t i, open = 0;
    json_t *p;
    heading(ctx, _("Next follow-up"));
    /* Open plans first (by due, as core orders them), then the done ones. */
    for (int pass = 0; pass < 2; pass++)
        json_array_foreach(list, i, p) {
            int done = json_is_true(json_object_get(p, "done"));
            if (done != pass) continue;
            open += !done;
            printf("  %s%s  %s  %s  %s%s%s%s  %s\n",
                   done ? cli_c(ctx, CLI_C_DIM) : "",
                   done ? "✓" : "○", cli_local_time(cli_str(p, "due"), tb),
                   cli_method_label(cli_str(p, "method")), cli_str(p, "content"),
                   *cli_str(p, "result") ? "  → " : "", cli_str(p, "result"),
                   done ? cli_c(ctx, CLI_C_RESET) : "",
                   cli_short(cli_str(p, "id"), idb));
        }
    if (open == 0)
        printf("  %s\n", _("(no open plan: `fieldsync plan ID --at TIME`)"));
}

int cli_customer_show(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = { {NULL, 0} };
    cli_args a;
    char *id = NULL;
    json_t *sheet = NULL, *stages = NULL, *defs = NULL;
    int rc = cli_args_parse(ctx, argc, argv, opts, 1, 1, &a);
    if (rc) goto done;
    if ((rc = cli_open(ctx)) || (rc = cli_resolve(ctx, "customer", a.pos[0], &id)))
        goto done;
    int frc = fds_customer_sheet(ctx->r, id, &sheet);
    if (frc != FDS_OK) { rc = cli_core_fail(ctx, frc); goto done; }
    {
        cli_blobs bs;
        char dbp[4096];
        if (cli_db_path(ctx, dbp, sizeof dbp) == 0 &&
            cli_blobs_init(&bs, dbp) == 0)
            cli_blobs_mark(&bs, sheet);     /* "have" on each photo */
    }
    if (ctx->json) { rc = cli_json_print(sheet); goto done; }
    if (fds_stagedef_list(ctx->r, &stages) != FDS_OK) stages = NULL;
    if (fds_fielddef_list(ctx->r, &defs) != FDS_OK) defs = NULL;
    cli_scrub(sheet);
    cli_scrub(stages);
    cli_scrub(defs);
    printf("%s%s%s  %s\n", cli_c(ctx, CLI_C_BOLD), cli_str(sheet, "name"),
           cli_c(ctx, CLI_C_RESET), cli_str(sheet, "id"));
    basic_info(ctx, sheet, defs);
    followups(ctx, json_object_get(sheet, "followups"));
    feedback(ctx, json_object_get(sheet, "feedback"));
    progress(ctx, sheet, json_object_get(sheet, "stages"), stages);
    plans(ctx, json_object_get(sheet, "plans"));
done:
    free(id);
    json_decref(sheet);
    json_decref(stages);
    json_decref(defs);
    cli_args_free(&a);
    return rc;
}
