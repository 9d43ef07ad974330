/*
** cmd_defs.c — flexibility: custom field definitions (`field add/list`) and
** business templates (`template apply NAME`).
*/
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"

int cli_field_add(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = {
        {"label", CLI_VALUE}, {"label-zh", CLI_VALUE}, {"type", CLI_VALUE},
        {"choices", CLI_VALUE}, {NULL, 0} };
    static const char *const types[] = {
        "text", "number", "date", "choice", "phone", "email", NULL };
    cli_args a;
    json_t *def = NULL, *defs = NULL;
    int rc = cli_args_parse(ctx, argc, argv, opts, 1, 1, &a);
    if (rc) goto done;
    const char *key = a.pos[0], *type = cli_arg(&a, "type");
    const char *label = cli_arg(&a, "label"), *zh = cli_arg(&a, "label-zh");
    const char *choices = cli_arg(&a, "choices");
    if (!label || !*label) { rc = cli_fail(ctx, CLI_USAGE, _("missing --label L")); goto done; }
    if (!type) { rc = cli_fail(ctx, CLI_USAGE, _("missing --type (text, number, date, choice, phone or email)")); goto done; }
    int known = 0;
    for (int i = 0; types[i]; i++) known |= strcmp(types[i], type) == 0;
    if (!known) {
        rc = cli_fail(ctx, CLI_USAGE, _("invalid field type \"%s\" (text, number, date, choice, phone or email)"), type);
        goto done;
    }
    if ((strcmp(type, "choice") == 0) != (choices != NULL)) {
        rc = cli_fail(ctx, CLI_USAGE, "%s", strcmp(type, "choice") == 0
                      ? _("a choice field needs --choices a,b")
                      : _("--choices is only for --type choice"));
        goto done;
    }
    if (!cli_utf8_ok(key) || !cli_utf8_ok(label) || (zh && !cli_utf8_ok(zh))) {
        rc = cli_fail(ctx, CLI_USAGE, _("key and labels must be UTF-8 text"));
        goto done;
    }
    def = json_pack("{s:s,s:s,s:s}", "key", key, "label", label, "type", type);
    if (!def) { rc = cli_fail(ctx, CLI_FAIL, _("out of memory")); goto done; }
    if (zh) json_object_set_new(def, "label_zh", json_string(zh));
    if (choices) {
        json_t *c = cli_split_tags(choices);
        if (!c || json_array_size(c) == 0) {
            json_decref(c);
            rc = cli_fail(ctx, CLI_USAGE, _("invalid --choices \"%s\" (use a,b,c)"), choices);
            goto done;
        }
        json_object_set_new(def, "choices", c);
    }
    if ((rc = cli_open(ctx))) goto done;
    int frc = fds_fielddef_set(ctx->r, def);
    if (frc != FDS_OK) { rc = cli_core_fail(ctx, frc); goto done; }
    if (ctx->json) {
        /* Print the stored definition (core may add "order"). */
        json_t *d, *found = def;
        size_t i;
        if (fds_fielddef_list(ctx->r, &defs) == FDS_OK)
            json_array_foreach(defs, i, d)
                if (strcmp(cli_str(d, "key"), key) == 0) found = d;
        rc = cli_json_print(found);
    } else {
        /* TRANSLATORS: %1$s the field's key, %2$s its type. */
        printf(_("Field %1$s (%2$s) defined; set it with --set %1$s=VALUE\n"), key, type);
    }
done:
    json_decref(def);
    json_decref(defs);
    cli_args_free(&a);
    return rc;
}

int cli_field_list(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = { {NULL, 0} };
    cli_args a;
    json_t *defs = NULL;
    cli_table *t = NULL;
    int rc = cli_args_parse(ctx, argc, argv, opts, 0, 0, &a);
    if (rc) goto done;
    if ((rc = cli_open(ctx))) goto done;
    int frc = fds_fielddef_list(ctx->r, &defs);
    if (frc != FDS_OK) { rc = cli_core_fail(ctx, frc); goto done; }
    if (ctx->json) { rc = cli_json_print(defs); goto done; }
    cli_scrub(defs);
    if (json_array_size(defs) == 0) {
        fputs(_("No custom fields (add one with `fieldsync field add`).\n"), stdout);
        goto done;
    }
    /* LABEL is the English label, 中文标签 the Chinese one (label_zh). */
    const char *hdr[] = { _("KEY"), _("LABEL"), _("CHINESE LABEL"), _("TYPE"),
                          _("CHOICES") };
    static const size_t maxw[] = { 20, 20, 16, 8, 30 };
    t = cli_table_new(5, hdr, maxw);
    if (!t) { rc = cli_fail(ctx, CLI_FAIL, _("out of memory")); goto done; }
    size_t i, j;
    json_t *d, *c;
    json_array_foreach(defs, i, d) {
        char ch[512] = "";
        size_t n = 0;
        json_array_foreach(json_object_get(d, "choices"), j, c) {
            int k = snprintf(ch + n, sizeof ch - n, "%s%s", j ? "," : "",
                             json_string_value(c) ? json_string_value(c) : "");
            if (k < 0 || (size_t)k >= sizeof ch - n) break;
            n += (size_t)k;
        }
        const char *row[5] = { cli_str(d, "key"), cli_str(d, "label"),
                               cli_str(d, "label_zh"), cli_str(d, "type"), ch };
        if (cli_table_add(t, row) != 0) { rc = cli_fail(ctx, CLI_FAIL, _("out of memory")); goto done; }
    }
    cli_table_print(ctx, t, stdout);
done:
    cli_table_free(t);
    json_decref(defs);
    cli_args_free(&a);
    return rc;
}

/* templates/NAME.json from $FIELDSYNC_TEMPLATES, share/fieldsync/templates
** beside the binary's bin/ (a package installs under /usr whatever prefix
** the build had), the installed data dir, then the source tree; path
** filled in on success. */
static int find_template(const char *name, char *path, size_t len)
{
    char rel[4096] = "", exe[3800];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    char *slash = k > 0 ? (exe[k] = '\0', strrchr(exe, '/')) : NULL;
    if (slash) {
        *slash = '\0';
        snprintf(rel, sizeof rel, "%s/../share/fieldsync/templates", exe);
    }
    const char *dirs[4] = { getenv("FIELDSYNC_TEMPLATES"), rel,
                            CLI_TEMPLATES_INSTALLED, CLI_TEMPLATES_SOURCE };
    for (int i = 0; i < 4; i++) {
        if (!dirs[i] || !*dirs[i]) continue;
        int n = snprintf(path, len, "%s/%s.json", dirs[i], name);
        if (n > 0 && (size_t)n < len && access(path, R_OK) == 0) return 0;
    }
    return -1;
}

int cli_template_apply(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = { {NULL, 0} };
    cli_args a;
    json_t *tpl = NULL;
    char path[4096];
    int rc = cli_args_parse(ctx, argc, argv, opts, 1, 1, &a);
    if (rc) goto done;
    const char *name = a.pos[0];
    /* A plain name only: never a path that walks out of the directory. */
    size_t n = strlen(name);
    if (n == 0 || n > 64 || strspn(name, "abcdefghijklmnopqrstuvwxyz"
                                    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != n) {
        rc = cli_fail(ctx, CLI_USAGE, _("invalid template name \"%s\" (e.g. software, logistics, design)"), name);
        goto done;
    }
    if (find_template(name, path, sizeof path) != 0) {
        rc = cli_fail(ctx, CLI_NOTFOUND, _("no template \"%s\" (looked in $FIELDSYNC_TEMPLATES, %s, %s)"),
                      name, CLI_TEMPLATES_INSTALLED, CLI_TEMPLATES_SOURCE);
        goto done;
    }
    json_error_t jerr;
    tpl = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!tpl) {
        rc = cli_fail(ctx, CLI_FAIL, _("template %s: line %d: %s"), path, jerr.line, jerr.text);
        goto done;
    }
    if ((rc = cli_open(ctx))) goto done;
    int frc = fds_template_apply(ctx->r, tpl);
    if (frc != FDS_OK) { rc = cli_core_fail(ctx, frc); goto done; }
    size_t nf = json_array_size(json_object_get(tpl, "fields"));
    size_t ns = json_array_size(json_object_get(tpl, "stages"));
    if (ctx->json) {
        json_t *o = json_pack("{s:s,s:I,s:I}", "template", name,
                              "fields", (json_int_t)nf, "stages", (json_int_t)ns);
        rc = o ? cli_json_print(o) : CLI_FAIL;
        json_decref(o);
    } else {
        char fields[64], stages[64];
        snprintf(fields, sizeof fields, ngettext("%zu field", "%zu fields", nf), nf);
        snprintf(stages, sizeof stages, ngettext("%zu stage", "%zu stages", ns), ns);
        /* TRANSLATORS: %1$s the template, %2$s "3 fields", %3$s "2 stages". */
        printf(_("Applied template %1$s: %2$s, %3$s\n"), name, fields, stages);
    }
done:
    json_decref(tpl);
    cli_args_free(&a);
    return rc;
}
