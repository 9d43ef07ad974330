/*
** cmd_activity.c — what happens with a customer: follow-ups, feedback,
** stage moves and planned follow-ups.
*/
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "blobstore.h"

/* Set key to the UTF-8 option value (if given). */
static int put_text(const cli_ctx *ctx, json_t *in, const char *key,
                    const char *opt, const char *v)
{
    if (!v) return CLI_OK;
    if (json_object_set_new(in, key, json_string(v)) != 0)
        return cli_fail(ctx, CLI_USAGE, _("--%s is not valid UTF-8 text"), opt);
    return CLI_OK;
}

/* Set key to the canonical form of a user-typed time (if given); a plan's
** due (day_ok) keeps a date without a time as that day. */
static int put_time(const cli_ctx *ctx, json_t *in, const char *key,
                    const char *what, const char *v, int day_ok)
{
    char t[40];
    if (!v) return CLI_OK;
    int rc = cli_parse_when(ctx, what, v, day_ok, t);
    if (rc) return rc;
    json_object_set_new(in, key, json_string(t));
    return CLI_OK;
}

typedef int (*add_fn)(fds_replica *, const char *, const json_t *, json_t **);

/* Common tail: resolve the customer, call core, print the new record with
** fmt: a translated "Added ... to %1$s  %2$s  %3$s\n" (customer, time,
** short id). */
static int add_for_customer(cli_ctx *ctx, const char *prefix, add_fn fn,
                            const json_t *in, const char *fmt)
{
    char *id = NULL, tb[32], idb[16];
    json_t *out = NULL;
    int rc = cli_open(ctx);
    if (rc || (rc = cli_resolve(ctx, "customer", prefix, &id))) goto done;
    int frc = fn(ctx->r, id, in, &out);
    if (frc != FDS_OK) { rc = cli_core_fail(ctx, frc); goto done; }
    if (ctx->json) {
        cli_blobs bs;
        char dbp[4096];
        if (cli_db_path(ctx, dbp, sizeof dbp) == 0 &&
            cli_blobs_init(&bs, dbp) == 0)
            cli_blobs_mark(&bs, out);
        rc = cli_json_print(out);
        goto done;
    }
    cli_scrub(out);
    const char *at = cli_str(out, "at");
    if (!*at) at = cli_str(out, "due");
    char who[400];
    /* Name the customer: a short prefix that hit the wrong one shows. */
    printf(fmt, cli_customer_phrase(ctx, id, who, sizeof who),
           cli_local_time(at, tb), cli_short(cli_str(out, "id"), idb));
done:
    free(id);
    json_decref(out);
    return rc;
}

/* --photo FILE...: each file copied into the blob folder (by SHA-256)
** and named in "attachments"; the bytes sync later, apart from the
** record (blobstore.h). */
int cli_put_photos(cli_ctx *ctx, const cli_args *a, json_t *in)
{
    char dbp[4096], why[4400];
    cli_blobs bs;
    json_t *arr = json_array();
    if (!arr) return cli_fail(ctx, CLI_FAIL, _("out of memory"));
    if (cli_db_path(ctx, dbp, sizeof dbp) != 0 || cli_blobs_init(&bs, dbp) != 0) {
        json_decref(arr);
        return cli_fail(ctx, CLI_USAGE, _("no replica path: pass --db PATH or set FIELDSYNC_DB"));
    }
    const char *f;
    for (size_t i = 0; (f = cli_arg_multi(a, "photo", i)); i++) {
        json_t *one = NULL;
        if (cli_blobs_add_file(&bs, f, &one, why, sizeof why) != 0) {
            json_decref(arr);
            return cli_fail(ctx, CLI_USAGE, _("--photo %s"), why);
        }
        json_array_append_new(arr, one);
    }
    json_object_set_new(in, "attachments", arr);
    return CLI_OK;
}

int cli_followup_add(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = {
        {"method", CLI_VALUE}, {"content", CLI_VALUE}, {"result", CLI_VALUE},
        {"at", CLI_VALUE}, {"photo", CLI_MULTI}, {"location", CLI_VALUE},
        {"address", CLI_VALUE}, {NULL, 0} };
    cli_args a;
    json_t *in = json_object();
    int rc = cli_args_parse(ctx, argc, argv, opts, 1, 1, &a);
    if (rc) goto done;
    if (cli_arg_multi(&a, "photo", 0) &&
        (rc = cli_put_photos(ctx, &a, in)))
        goto done;
    if (!cli_arg(&a, "method")) { rc = cli_fail(ctx, CLI_USAGE, _("missing --method (phone, email, visit, wechat, meeting or other)")); goto done; }
    if (!cli_arg(&a, "content")) { rc = cli_fail(ctx, CLI_USAGE, _("missing --content TEXT")); goto done; }
    if ((rc = put_text(ctx, in, "method", "method", cli_arg(&a, "method"))) ||
        (rc = put_text(ctx, in, "content", "content", cli_arg(&a, "content"))) ||
        (rc = put_text(ctx, in, "result", "result", cli_arg(&a, "result"))) ||
        (rc = put_time(ctx, in, "at", "time", cli_arg(&a, "at"), 0)) ||
        (rc = put_text(ctx, in, "location", "location", cli_arg(&a, "location"))) ||
        (rc = put_text(ctx, in, "address", "address", cli_arg(&a, "address"))))
        goto done;
    /* TRANSLATORS: %1$s the customer ("张伟 (华星科技)"), %2$s the time,
       %3$s the new follow-up's short id. */
    rc = add_for_customer(ctx, a.pos[0], fds_followup_add, in,
                          _("Added follow-up to %1$s  %2$s  %3$s\n"));
done:
    json_decref(in);
    cli_args_free(&a);
    return rc;
}

int cli_feedback_add(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = {
        {"content", CLI_VALUE}, {"at", CLI_VALUE}, {NULL, 0} };
    cli_args a;
    json_t *in = json_object();
    int rc = cli_args_parse(ctx, argc, argv, opts, 1, 1, &a);
    if (rc) goto done;
    if (!cli_arg(&a, "content")) { rc = cli_fail(ctx, CLI_USAGE, _("missing --content TEXT")); goto done; }
    if ((rc = put_text(ctx, in, "content", "content", cli_arg(&a, "content"))) ||
        (rc = put_time(ctx, in, "at", "time", cli_arg(&a, "at"), 0)))
        goto done;
    rc = add_for_customer(ctx, a.pos[0], fds_feedback_add, in,
                          _("Added feedback to %1$s  %2$s  %3$s\n"));
done:
    json_decref(in);
    cli_args_free(&a);
    return rc;
}

int cli_plan(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = {
        {"at", CLI_VALUE}, {"method", CLI_VALUE}, {"content", CLI_VALUE},
        {NULL, 0} };
    cli_args a;
    json_t *in = json_object();
    int rc = cli_args_parse(ctx, argc, argv, opts, 1, 1, &a);
    if (rc) goto done;
    if (!cli_arg(&a, "at")) { rc = cli_fail(ctx, CLI_USAGE, _("missing --at TIME")); goto done; }
    if ((rc = put_time(ctx, in, "due", "time", cli_arg(&a, "at"), 1)) ||
        (rc = put_text(ctx, in, "method", "method", cli_arg(&a, "method"))) ||
        (rc = put_text(ctx, in, "content", "content", cli_arg(&a, "content"))))
        goto done;
    rc = add_for_customer(ctx, a.pos[0], fds_plan_add, in,
                          _("Added plan to %1$s  %2$s  %3$s\n"));
done:
    json_decref(in);
    cli_args_free(&a);
    return rc;
}

int cli_plan_done(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = { {"result", CLI_VALUE}, {NULL, 0} };
    cli_args a;
    char *id = NULL, tb[32], who[400];
    json_t *out = NULL;
    int rc = cli_args_parse(ctx, argc, argv, opts, 1, 1, &a);
    if (rc) goto done;
    const char *result = cli_arg(&a, "result");
    if (result && !cli_utf8_ok(result)) {
        rc = cli_fail(ctx, CLI_USAGE, _("--%s is not valid UTF-8 text"), "result");
        goto done;
    }
    if ((rc = cli_open(ctx)) || (rc = cli_resolve(ctx, "plan", a.pos[0], &id)))
        goto done;
    int frc = fds_plan_finish(ctx->r, id, result, &out);
    if (frc != FDS_OK) { rc = cli_core_fail(ctx, frc); goto done; }
    if (ctx->json) {
        rc = cli_json_print(out);
    } else {
        cli_scrub(out);
        printf(_("Done: %s"),
               cli_customer_phrase(ctx, cli_str(out, "customer"), who, sizeof who));
        printf("  %s  %s%s%s\n",
               cli_local_time(cli_str(out, "due"), tb), cli_str(out, "content"),
               *cli_str(out, "result") ? "  → " : "", cli_str(out, "result"));
    }
done:
    free(id);
    json_decref(out);
    cli_args_free(&a);
    return rc;
}

typedef int (*edit_fn)(fds_replica *, const char *, const json_t *, json_t **);
typedef int (*del_fn)(fds_replica *, const char *, json_t **);

/* Common tail of the corrections: resolve, call core, say what changed on
** which customer's sheet with fmt, a translated "Updated ... of %1$s  %2$s
** %3$s  %4$s\n" (customer, time, content, short id). */
static int correct(cli_ctx *ctx, const char *tbl, const char *prefix,
                   edit_fn edit, del_fn del, const json_t *in, const char *fmt)
{
    char *id = NULL, tb[32], idb[16], who[400];
    json_t *out = NULL;
    int rc = cli_open(ctx);
    if (rc || (rc = cli_resolve(ctx, tbl, prefix, &id))) goto done;
    int frc = edit ? edit(ctx->r, id, in, &out) : del(ctx->r, id, &out);
    if (frc != FDS_OK) { rc = cli_core_fail(ctx, frc); goto done; }
    if (ctx->json) {
        if (!edit) {
            json_t *o = json_pack("{s:s,s:b}", "id", id, "deleted", 1);
            rc = o ? cli_json_print(o) : CLI_FAIL;
            json_decref(o);
        } else {
            rc = cli_json_print(out);
        }
        goto done;
    }
    cli_scrub(out);
    const char *at = cli_str(out, "at");
    if (!*at) at = cli_str(out, "due");
    printf(fmt, cli_customer_phrase(ctx, cli_str(out, "customer"), who, sizeof who),
           cli_local_time(at, tb), cli_str(out, "content"),
           cli_short(id, idb));
done:
    free(id);
    json_decref(out);
    return rc;
}

/* On an edit an empty value clears an optional field (JSON null). */
static int put_edit_text(const cli_ctx *ctx, json_t *in, const char *key,
                         const char *v)
{
    if (v && !*v) { json_object_set_new(in, key, json_null()); return CLI_OK; }
    return put_text(ctx, in, key, key, v);
}

int cli_followup_edit(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = {
        {"method", CLI_VALUE}, {"content", CLI_VALUE}, {"result", CLI_VALUE},
        {"at", CLI_VALUE}, {"photo", CLI_MULTI}, {"drop-photo", CLI_MULTI},
        {"location", CLI_VALUE}, {"address", CLI_VALUE},
        {NULL, 0} };
    cli_args a;
    json_t *in = json_object();
    int rc = cli_args_parse(ctx, argc, argv, opts, 1, 1, &a);
    if (rc) goto done;
    if (cli_arg_multi(&a, "photo", 0) || cli_arg_multi(&a, "drop-photo", 0)) {
        /* Photos first, as their own change of the "attachments" register. */
        json_t *ph = json_object();
        const char *drop[FDS_MAX_ATTACHMENTS + 1];
        size_t nd = 0;
        const char *d;
        for (size_t i = 0; (d = cli_arg_multi(&a, "drop-photo", i)) && nd <= FDS_MAX_ATTACHMENTS; i++)
            drop[nd++] = d;
        char *fid = NULL;
        if (cli_arg_multi(&a, "photo", 0) && (rc = cli_put_photos(ctx, &a, ph))) {
            json_decref(ph);
            goto done;
        }
        if (!(rc = cli_open(ctx)) && !(rc = cli_resolve(ctx, "followup", a.pos[0], &fid))) {
            json_t *o = NULL;
            int frc = fds_followup_photos(ctx->r, fid, json_object_get(ph, "attachments"),
                                          drop, nd, &o);
            if (frc != FDS_OK) rc = cli_core_fail(ctx, frc);
            else if (json_object_size(in) == 0 && !cli_arg(&a, "method") &&
                     !cli_arg(&a, "content") && !cli_arg(&a, "result") && !cli_arg(&a, "at") &&
                     !cli_arg(&a, "location") && !cli_arg(&a, "address")) {
                if (ctx->json) {
                    cli_blobs bs;
                    char dbp[4096];
                    if (cli_db_path(ctx, dbp, sizeof dbp) == 0 && cli_blobs_init(&bs, dbp) == 0)
                        cli_blobs_mark(&bs, o);
                    rc = cli_json_print(o);
                } else {
                    printf(_("Photos of follow-up %.8s: %zu\n"), fid,
                           json_array_size(json_object_get(o, "attachments")));
                }
                json_decref(o);
                free(fid);
                json_decref(ph);
                goto done;
            }
            json_decref(o);
        }
        free(fid);
        json_decref(ph);
        if (rc) goto done;
    }
    if ((rc = put_edit_text(ctx, in, "location", cli_arg(&a, "location"))) ||
        (rc = put_edit_text(ctx, in, "address", cli_arg(&a, "address"))) ||
        (rc = put_edit_text(ctx, in, "method", cli_arg(&a, "method"))) ||
        (rc = put_edit_text(ctx, in, "content", cli_arg(&a, "content"))) ||
        (rc = put_edit_text(ctx, in, "result", cli_arg(&a, "result"))) ||
        (rc = put_time(ctx, in, "at", "time", cli_arg(&a, "at"), 0)))
        goto done;
    if (json_object_size(in) == 0) {
        rc = cli_fail(ctx, CLI_USAGE, _("nothing to change (give --method, --content, --result, --at, --location or --address)"));
        goto done;
    }
    /* TRANSLATORS: %1$s the customer, %2$s the time, %3$s the content,
       %4$s the short id. */
    rc = correct(ctx, "followup", a.pos[0], fds_followup_edit, NULL, in,
                 _("Updated follow-up of %1$s  %2$s  %3$s  %4$s\n"));
done:
    json_decref(in);
    cli_args_free(&a);
    return rc;
}

int cli_followup_delete(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = { {NULL, 0} };
    cli_args a;
    int rc = cli_args_parse(ctx, argc, argv, opts, 1, 1, &a);
    if (!rc) rc = correct(ctx, "followup", a.pos[0], NULL, fds_followup_delete, NULL,
                          _("Deleted follow-up of %1$s  %2$s  %3$s  %4$s\n"));
    cli_args_free(&a);
    return rc;
}

int cli_plan_edit(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = {
        {"at", CLI_VALUE}, {"method", CLI_VALUE}, {"content", CLI_VALUE},
        {NULL, 0} };
    cli_args a;
    json_t *in = json_object();
    int rc = cli_args_parse(ctx, argc, argv, opts, 1, 1, &a);
    if (rc) goto done;
    if ((rc = put_time(ctx, in, "due", "time", cli_arg(&a, "at"), 1)) ||
        (rc = put_edit_text(ctx, in, "method", cli_arg(&a, "method"))) ||
        (rc = put_edit_text(ctx, in, "content", cli_arg(&a, "content"))))
        goto done;
    if (json_object_size(in) == 0) {
        rc = cli_fail(ctx, CLI_USAGE, _("nothing to change (give --at, --method or --content)"));
        goto done;
    }
    rc = correct(ctx, "plan", a.pos[0], fds_plan_edit, NULL, in,
                 _("Updated plan of %1$s  %2$s  %3$s  %4$s\n"));
done:
    json_decref(in);
    cli_args_free(&a);
    return rc;
}

int cli_plan_delete(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = { {NULL, 0} };
    cli_args a;
    int rc = cli_args_parse(ctx, argc, argv, opts, 1, 1, &a);
    if (!rc) rc = correct(ctx, "plan", a.pos[0], NULL, fds_plan_delete, NULL,
                          _("Deleted plan of %1$s  %2$s  %3$s  %4$s\n"));
    cli_args_free(&a);
    return rc;
}

int cli_stage(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = { {"note", CLI_VALUE}, {NULL, 0} };
    cli_args a;
    char *id = NULL;
    json_t *out = NULL;
    int rc = cli_args_parse(ctx, argc, argv, opts, 2, 2, &a);
    if (rc) goto done;
    const char *note = cli_arg(&a, "note");
    if (note && !cli_utf8_ok(note)) {
        rc = cli_fail(ctx, CLI_USAGE, _("--%s is not valid UTF-8 text"), "note");
        goto done;
    }
    if ((rc = cli_open(ctx)) || (rc = cli_resolve(ctx, "customer", a.pos[0], &id)))
        goto done;
    int frc = fds_stage_set(ctx->r, id, a.pos[1], note, &out);
    if (frc != FDS_OK) { rc = cli_core_fail(ctx, frc); goto done; }
    if (ctx->json) {
        rc = cli_json_print(out);
    } else {
        char who[400], from[96], to[96];
        json_t *stages = NULL;
        if (fds_stagedef_list(ctx->r, &stages) != FDS_OK) stages = NULL;
        cli_scrub(out);
        cli_scrub(stages);
        cli_customer_phrase(ctx, id, who, sizeof who);
        /* Stage keys; in Chinese with their labels (意向确认 intent). */
        cli_stage_label(stages, cli_str(out, "from"), from, sizeof from);
        cli_stage_label(stages, cli_str(out, "to"), to, sizeof to);
        json_decref(stages);
        if (json_is_true(json_object_get(out, "unchanged")))
            /* TRANSLATORS: %1$s the customer, %2$s the stage. */
            printf(_("%1$s is already at stage %2$s: nothing changed\n"), who, to);
        else if (*from)
            /* TRANSLATORS: %1$s the customer, %2$s the old stage, %3$s the new. */
            printf(_("Stage of %1$s: %2$s → %3$s\n"), who, from, to);
        else
            printf(_("Stage of %1$s: %2$s\n"), who, to);
    }
done:
    free(id);
    json_decref(out);
    cli_args_free(&a);
    return rc;
}
