/*
** cmd_customer.c — customer add/list/edit/delete/assign/share/unshare.
** (`customer show`, the whole sheet, is in cmd_sheet.c.)
*/
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "collate.h"

/* Plain text options that map 1:1 onto customer fields of the same name. */
static const char *const text_fields[] = {
    "name", "phone", "email", "wechat", "company", "title", "birthday",
    "notes", "owner", "stage", NULL };

static const cli_opt add_opts[] = {
    {"name", CLI_VALUE}, {"phone", CLI_VALUE}, {"email", CLI_VALUE},
    {"wechat", CLI_VALUE}, {"company", CLI_VALUE}, {"title", CLI_VALUE},
    {"birthday", CLI_VALUE}, {"notes", CLI_VALUE}, {"owner", CLI_VALUE},
    {"stage", CLI_VALUE}, {"tags", CLI_VALUE}, {"cycle", CLI_VALUE},
    {"amount", CLI_VALUE}, {"expected-close", CLI_VALUE},
    {"set", CLI_MULTI}, {NULL, 0} };

/* `edit` takes no --owner/--stage: those have their own commands (assign,
** stage) so every stage move is recorded with its note. */
static const cli_opt edit_opts[] = {
    {"name", CLI_VALUE}, {"phone", CLI_VALUE}, {"email", CLI_VALUE},
    {"wechat", CLI_VALUE}, {"company", CLI_VALUE}, {"title", CLI_VALUE},
    {"birthday", CLI_VALUE}, {"notes", CLI_VALUE}, {"tags", CLI_VALUE},
    {"cycle", CLI_VALUE}, {"amount", CLI_VALUE}, {"expected-close", CLI_VALUE},
    {"set", CLI_MULTI}, {NULL, 0} };

static json_t *utf8_string(const cli_ctx *ctx, const char *opt, const char *v,
                           int *rc)
{
    json_t *s = json_string(v);
    if (!s) *rc = cli_fail(ctx, CLI_USAGE, _("--%s is not valid UTF-8 text"), opt);
    return s;
}

/* Tags "a,b, c" (ASCII or full-width commas/semicolons) -> ["a","b","c"]. */
json_t *cli_split_tags(const char *text)
{
    json_t *arr = json_array();
    if (!arr) return NULL;
    const char *p = text;
    while (*p) {
        size_t n = 0, skip = 0;
        while (p[n]) {
            if (p[n] == ',' || p[n] == ';') { skip = 1; break; }
            if (strncmp(p + n, "\xef\xbc\x8c", 3) == 0 ||      /* ， */
                strncmp(p + n, "\xef\xbc\x9b", 3) == 0 ||      /* ； */
                strncmp(p + n, "\xe3\x80\x81", 3) == 0) {      /* 、 */
                skip = 3;
                break;
            }
            n++;
        }
        size_t b = 0, e = n;
        while (b < e && (p[b] == ' ' || p[b] == '\t')) b++;
        while (e > b && (p[e - 1] == ' ' || p[e - 1] == '\t')) e--;
        if (e > b) {
            json_t *t = json_stringn(p + b, e - b);
            if (!t || json_array_append_new(arr, t) != 0) {
                json_decref(arr);
                return NULL;
            }
        }
        p += n + skip;
    }
    return arr;
}

/* Build core's input object from the options.  On edit an empty value
** clears the field (JSON null). */
static int customer_input(const cli_ctx *ctx, const cli_args *a, int edit,
                          json_t **out)
{
    int rc = CLI_OK;
    json_t *in = json_object(), *fields = json_object();
    if (!in || !fields) goto nomem;
    for (int i = 0; text_fields[i]; i++) {
        const char *k = text_fields[i];
        const char *v = cli_arg(a, k);
        if (!v || (edit && (strcmp(k, "owner") == 0 || strcmp(k, "stage") == 0)))
            continue;
        json_t *s = (edit && !*v) ? json_null() : utf8_string(ctx, k, v, &rc);
        if (!s) goto fail;
        json_object_set_new(in, k, s);
    }
    const char *tags = cli_arg(a, "tags");
    if (tags) {
        json_t *t = (edit && !*tags) ? json_null() : cli_split_tags(tags);
        if (!t) { rc = cli_fail(ctx, CLI_USAGE, _("--%s is not valid UTF-8 text"), "tags"); goto fail; }
        json_object_set_new(in, "tags", t);
    }
    /* The deal: core validates and names a bad value ("invalid amount"). */
    static const char *const deal[][2] = {
        {"amount", "amount"}, {"expected-close", "expected_close"} };
    for (size_t i = 0; i < 2; i++) {
        const char *v = cli_arg(a, deal[i][0]);
        if (!v) continue;
        json_t *s = !*v ? (edit ? json_null() : NULL) : utf8_string(ctx, deal[i][0], v, &rc);
        if (!s && rc) goto fail;
        if (s) json_object_set_new(in, deal[i][1], s);
    }
    const char *cycle = cli_arg(a, "cycle");
    if (cycle) {
        char *end;
        long d = strtol(cycle, &end, 10);
        if (!*cycle || *end || d < 1 || d > 3650) {
            rc = cli_fail(ctx, CLI_USAGE,
                          _("invalid cycle \"%s\" (a number of days, 1..3650)"), cycle);
            goto fail;
        }
        json_object_set_new(in, "cycle", json_integer(d));
    }
    const char *kv;
    for (size_t i = 0; (kv = cli_arg_multi(a, "set", i)); i++) {
        const char *eq = strchr(kv, '=');
        if (!eq || eq == kv) {
            rc = cli_fail(ctx, CLI_USAGE, _("invalid --set \"%s\" (use KEY=VALUE)"), kv);
            goto fail;
        }
        char key[128];
        if ((size_t)(eq - kv) >= sizeof key) {
            rc = cli_fail(ctx, CLI_USAGE, _("field key too long in --set \"%.40s…\""), kv);
            goto fail;
        }
        memcpy(key, kv, (size_t)(eq - kv));
        key[eq - kv] = '\0';
        json_t *s = (edit && !eq[1]) ? json_null() : utf8_string(ctx, "set", eq + 1, &rc);
        if (!s) goto fail;
        json_object_set_new(fields, key, s);
    }
    if (json_object_size(fields) > 0)
        json_object_set(in, "fields", fields);
    json_decref(fields);
    *out = in;
    return CLI_OK;
nomem:
    rc = cli_fail(ctx, CLI_FAIL, _("out of memory"));
fail:
    json_decref(in);
    json_decref(fields);
    *out = NULL;
    return rc;
}

/* fmt: a translated "... customer %1$s  %2$s\n" (name, id). */
static void print_brief(const cli_ctx *ctx, const char *fmt, json_t *c)
{
    char name[1024];
    cli_scrub(c);
    snprintf(name, sizeof name, "%s%s%s", cli_c(ctx, CLI_C_BOLD),
             cli_str(c, "name"), cli_c(ctx, CLI_C_RESET));
    printf(fmt, name, cli_str(c, "id"));
}

int cli_customer_add(cli_ctx *ctx, int argc, char **argv)
{
    cli_args a;
    json_t *in = NULL, *out = NULL, *warn = NULL;
    int rc = cli_args_parse(ctx, argc, argv, add_opts, 0, 0, &a);
    if (rc) goto done;
    const char *name = cli_arg(&a, "name");
    if (!name || !*name) { rc = cli_fail(ctx, CLI_USAGE, _("missing --name NAME")); goto done; }
    if ((rc = customer_input(ctx, &a, 0, &in))) goto done;
    if ((rc = cli_open(ctx))) goto done;
    int frc = fds_customer_add(ctx->r, in, &out, &warn);
    if (frc != FDS_OK) { rc = cli_core_fail(ctx, frc); goto done; }
    size_t i;
    json_t *w;
    json_array_foreach(warn, i, w)
        if (json_is_string(w)) {
            char buf[1024];
            cli_warn(ctx, "%s", cli_core_text(json_string_value(w), FDS_OK, buf,
                                              sizeof buf));
        }
    if (ctx->json) rc = cli_json_print(out);
    /* TRANSLATORS: %1$s the customer's name, %2$s its id. */
    else print_brief(ctx, _("Added customer %1$s  %2$s\n"), out);
done:
    json_decref(in);
    json_decref(out);
    json_decref(warn);
    cli_args_free(&a);
    return rc;
}

const char *cli_stage_label(const json_t *stages, const char *key,
                            char *buf, size_t len)
{
    size_t i;
    json_t *s;
    json_array_foreach(stages, i, s) {
        if (strcmp(cli_str(s, "key"), key) != 0) continue;
        /* Chinese: the label, then the key the stage command takes;
        ** English: the key, which is the English word. */
        const char *zh = cli_str(s, "label_zh");
        if (*zh && cli_zh_labels()) snprintf(buf, len, "%s %s", zh, key);
        else snprintf(buf, len, "%s", key);
        return buf;
    }
    snprintf(buf, len, "%s", key);
    return buf;
}

/* In Chinese the stage's Chinese label when it has one, else its key. */
static const char *stage_short(const json_t *stages, const char *key,
                               char *buf, size_t len)
{
    size_t i;
    json_t *s;
    snprintf(buf, len, "%s", key);
    json_array_foreach(stages, i, s)
        if (strcmp(cli_str(s, "key"), key) == 0 && *cli_str(s, "label_zh") &&
            cli_zh_labels())
            snprintf(buf, len, "%s", cli_str(s, "label_zh"));
    return buf;
}

int cli_customer_list(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = {
        {"stage", CLI_VALUE}, {"owner", CLI_VALUE}, {"search", CLI_VALUE},
        {"sort", CLI_VALUE}, {NULL, 0} };
    cli_args a;
    json_t *list = NULL, *stages = NULL;
    cli_table *t = NULL;
    int rc = cli_args_parse(ctx, argc, argv, opts, 0, 0, &a);
    if (rc) goto done;
    if ((rc = cli_open(ctx))) goto done;
    fds_query q;
    memset(&q, 0, sizeof q);
    q.stage = cli_arg(&a, "stage");
    q.owner = cli_arg(&a, "owner");
    q.search = cli_arg(&a, "search");
    q.sort = cli_arg(&a, "sort");
    q.activity = 1;
    const char *sort = q.sort ? q.sort : "name";
    int frc = fds_customer_list(ctx->r, &q, &list);
    if (frc != FDS_OK) { rc = cli_core_fail(ctx, frc); goto done; }
    /* Core gives byte order; a reader wants pinyin (collate.h).  Other
    ** sorts are core's (ties in byte order of the name). */
    if (strcmp(sort, "name") == 0 && cli_collate_customers(list) != 0) {
        rc = cli_fail(ctx, CLI_FAIL, _("out of memory"));
        goto done;
    }
    if (ctx->json) { rc = cli_json_print(list); goto done; }
    if (json_array_size(list) == 0) { fputs(_("No customers.\n"), stdout); goto done; }
    if (fds_stagedef_list(ctx->r, &stages) != FDS_OK) stages = NULL;
    cli_scrub(list);
    cli_scrub(stages);

    static const char *const hdr_id[] = {
        "", N_("ID"), N_("NAME"), N_("COMPANY"), N_("PHONE"), N_("STAGE"),
        N_("AMOUNT"), N_("NEXT PLAN"), N_("LAST FOLLOW-UP"), N_("OWNER") };
    const char *hdr[10] = { "" };
    for (size_t k = 1; k < 10; k++) hdr[k] = _(hdr_id[k]);
    /* Flags, short id, and cells cut with an ellipsis (CJK counts 2). */
    static const size_t maxw[] = { 2, 8, 12, 12, 13, 8, 11, 16, 16, 10 };
    t = cli_table_new(10, hdr, maxw);
    if (!t) { rc = cli_fail(ctx, CLI_FAIL, _("out of memory")); goto done; }
    size_t i;
    json_t *c;
    json_array_foreach(list, i, c) {
        char flags[3] = "", idb[16], stb[96], amt[48], nb[32], lb[32];
        size_t n = 0;
        if (json_is_true(json_object_get(c, "unsynced"))) flags[n++] = '*';
        if (json_integer_value(json_object_get(c, "conflicts")) > 0) flags[n++] = '!';
        flags[n] = '\0';
        const char *row[10] = {
            flags, cli_short(cli_str(c, "id"), idb), cli_str(c, "name"),
            cli_str(c, "company"), cli_str(c, "phone"),
            stage_short(stages, cli_str(c, "stage"), stb, sizeof stb),
            cli_amount_text(json_object_get(c, "amount"), amt, sizeof amt),
            cli_local_time(cli_str(c, "next_plan"), nb),
            cli_local_time(cli_str(c, "last_followup"), lb),
            cli_str(c, "owner") };
        if (cli_table_add(t, row) != 0) { rc = cli_fail(ctx, CLI_FAIL, _("out of memory")); goto done; }
    }
    cli_table_print(ctx, t, stdout);
    size_t n = json_array_size(list);
    fputs(cli_c(ctx, CLI_C_DIM), stdout);
    printf(ngettext("%zu customer", "%zu customers", n), n);
    fputs(_("   * unsynced changes   ! open conflicts"), stdout);
    printf("%s\n", cli_c(ctx, CLI_C_RESET));
done:
    cli_table_free(t);
    json_decref(list);
    json_decref(stages);
    cli_args_free(&a);
    return rc;
}

int cli_customer_edit(cli_ctx *ctx, int argc, char **argv)
{
    cli_args a;
    json_t *in = NULL, *out = NULL;
    char *id = NULL;
    int rc = cli_args_parse(ctx, argc, argv, edit_opts, 1, 1, &a);
    if (rc) goto done;
    if ((rc = customer_input(ctx, &a, 1, &in))) goto done;
    if (json_object_size(in) == 0) {
        rc = cli_fail(ctx, CLI_USAGE, _("nothing to change (give --name, --phone, ... or --set)"));
        goto done;
    }
    if ((rc = cli_open(ctx)) || (rc = cli_resolve(ctx, "customer", a.pos[0], &id)))
        goto done;
    int frc = fds_customer_edit(ctx->r, id, in, &out);
    if (frc != FDS_OK) { rc = cli_core_fail(ctx, frc); goto done; }
    if (ctx->json) rc = cli_json_print(out);
    else print_brief(ctx, _("Updated customer %1$s  %2$s\n"), out);
done:
    free(id);
    json_decref(in);
    json_decref(out);
    cli_args_free(&a);
    return rc;
}

int cli_customer_delete(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = { {NULL, 0} };
    cli_args a;
    char *id = NULL;
    json_t *old = NULL;
    int rc = cli_args_parse(ctx, argc, argv, opts, 1, 1, &a);
    if (rc) goto done;
    if ((rc = cli_open(ctx)) || (rc = cli_resolve(ctx, "customer", a.pos[0], &id)))
        goto done;
    if (fds_customer_get(ctx->r, id, &old) != FDS_OK) old = NULL;
    int frc = fds_customer_delete(ctx->r, id);
    if (frc != FDS_OK) { rc = cli_core_fail(ctx, frc); goto done; }
    if (ctx->json) {
        json_t *o = json_pack("{s:s,s:b}", "id", id, "deleted", 1);
        rc = o ? cli_json_print(o) : CLI_FAIL;
        json_decref(o);
    } else {
        cli_scrub(old);
        printf(_("Deleted customer %1$s  %2$s\n"), old ? cli_str(old, "name") : "", id);
    }
done:
    free(id);
    json_decref(old);
    cli_args_free(&a);
    return rc;
}

/* assign / share / unshare: ID USER, then print the customer. */
static int owner_change(cli_ctx *ctx, int argc, char **argv, int what)
{
    static const cli_opt opts[] = { {NULL, 0} };
    cli_args a;
    char *id = NULL;
    json_t *out = NULL;
    int rc = cli_args_parse(ctx, argc, argv, opts, 2, 2, &a);
    if (rc) goto done;
    const char *user = a.pos[1];
    if (!*user) { rc = cli_fail(ctx, CLI_USAGE, _("empty user name")); goto done; }
    if ((rc = cli_open(ctx)) || (rc = cli_resolve(ctx, "customer", a.pos[0], &id)))
        goto done;
    int frc = what == 0 ? fds_customer_assign(ctx->r, id, user)
                        : fds_customer_share(ctx->r, id, user, what == 1);
    if (frc == FDS_OK) frc = fds_customer_get(ctx->r, id, &out);
    if (frc != FDS_OK) { rc = cli_core_fail(ctx, frc); goto done; }
    if (ctx->json) {
        rc = cli_json_print(out);
    } else {
        cli_scrub(out);
        /* TRANSLATORS: %1$s the customer's name, %2$s a user name. */
        printf(what == 0 ? _("Assigned customer %1$s to %2$s (the server checks this at the next sync)\n")
               : what == 1 ? _("Shared customer %1$s to %2$s (the server checks this at the next sync)\n")
               : _("Unshared customer %1$s from %2$s (the server checks this at the next sync)\n"),
               cli_str(out, "name"), user);
    }
done:
    free(id);
    json_decref(out);
    cli_args_free(&a);
    return rc;
}

int cli_customer_assign(cli_ctx *ctx, int argc, char **argv)
{
    return owner_change(ctx, argc, argv, 0);
}

int cli_customer_share(cli_ctx *ctx, int argc, char **argv)
{
    return owner_change(ctx, argc, argv, 1);
}

int cli_customer_unshare(cli_ctx *ctx, int argc, char **argv)
{
    return owner_change(ctx, argc, argv, 2);
}
