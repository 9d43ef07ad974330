/*
** cmd_activity.c — what happens with a customer: follow-ups, feedback,
** stage moves and planned follow-ups.
*/
#include <stdlib.h>
#include <string.h>
#include "cli.h"

/* Set key to the UTF-8 option value (if given). */
static int put_text(const cli_ctx *ctx, json_t *in, const char *key,
                    const char *opt, const char *v)
{
    if (!v) return CLI_OK;
    if (json_object_set_new(in, key, json_string(v)) != 0)
        return cli_fail(ctx, CLI_USAGE, "--%s is not valid UTF-8 text", opt);
    return CLI_OK;
}

/* Set key to the canonical form of a user-typed time (if given). */
static int put_time(const cli_ctx *ctx, json_t *in, const char *key,
                    const char *what, const char *v)
{
    char t[40];
    if (!v) return CLI_OK;
    int rc = cli_parse_time(ctx, what, v, t);
    if (rc) return rc;
    json_object_set_new(in, key, json_string(t));
    return CLI_OK;
}

typedef int (*add_fn)(fds_replica *, const char *, const json_t *, json_t **);

/* Common tail: resolve the customer, call core, print the new record. */
static int add_for_customer(cli_ctx *ctx, const char *prefix, add_fn fn,
                            const json_t *in, const char *what)
{
    char *id = NULL, tb[32], idb[16];
    json_t *out = NULL;
    int rc = cli_open(ctx);
    if (rc || (rc = cli_resolve(ctx, "customer", prefix, &id))) goto done;
    int frc = fn(ctx->r, id, in, &out);
    if (frc != FDS_OK) { rc = cli_core_fail(ctx, frc); goto done; }
    if (ctx->json) { rc = cli_json_print(out); goto done; }
    cli_scrub(out);
    const char *at = cli_str(out, "at");
    if (!*at) at = cli_str(out, "due");
    printf("Added %s %s  %s\n", what, cli_short(cli_str(out, "id"), idb),
           cli_local_time(at, tb));
done:
    free(id);
    json_decref(out);
    return rc;
}

int cli_followup_add(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = {
        {"method", CLI_VALUE}, {"content", CLI_VALUE}, {"result", CLI_VALUE},
        {"at", CLI_VALUE}, {NULL, 0} };
    cli_args a;
    json_t *in = json_object();
    int rc = cli_args_parse(ctx, argc, argv, opts, 1, 1, &a);
    if (rc) goto done;
    if (!cli_arg(&a, "method")) { rc = cli_fail(ctx, CLI_USAGE, "missing --method (phone, email, visit, wechat, meeting or other)"); goto done; }
    if (!cli_arg(&a, "content")) { rc = cli_fail(ctx, CLI_USAGE, "missing --content TEXT"); goto done; }
    if ((rc = put_text(ctx, in, "method", "method", cli_arg(&a, "method"))) ||
        (rc = put_text(ctx, in, "content", "content", cli_arg(&a, "content"))) ||
        (rc = put_text(ctx, in, "result", "result", cli_arg(&a, "result"))) ||
        (rc = put_time(ctx, in, "at", "time", cli_arg(&a, "at"))))
        goto done;
    rc = add_for_customer(ctx, a.pos[0], fds_followup_add, in, "follow-up");
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
    if (!cli_arg(&a, "content")) { rc = cli_fail(ctx, CLI_USAGE, "missing --content TEXT"); goto done; }
    if ((rc = put_text(ctx, in, "content", "content", cli_arg(&a, "content"))) ||
        (rc = put_time(ctx, in, "at", "time", cli_arg(&a, "at"))))
        goto done;
    rc = add_for_customer(ctx, a.pos[0], fds_feedback_add, in, "feedback");
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
    if (!cli_arg(&a, "at")) { rc = cli_fail(ctx, CLI_USAGE, "missing --at TIME"); goto done; }
    if ((rc = put_time(ctx, in, "due", "time", cli_arg(&a, "at"))) ||
        (rc = put_text(ctx, in, "method", "method", cli_arg(&a, "method"))) ||
        (rc = put_text(ctx, in, "content", "content", cli_arg(&a, "content"))))
        goto done;
    rc = add_for_customer(ctx, a.pos[0], fds_plan_add, in, "plan");
done:
    json_decref(in);
    cli_args_free(&a);
    return rc;
}

int cli_plan_done(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = { {NULL, 0} };
    cli_args a;
    char *id = NULL, tb[32];
    json_t *out = NULL;
    int rc = cli_args_parse(ctx, argc, argv, opts, 1, 1, &a);
    if (rc) goto done;
    if ((rc = cli_open(ctx)) || (rc = cli_resolve(ctx, "plan", a.pos[0], &id)))
        goto done;
    int frc = fds_plan_done(ctx->r, id, &out);
    if (frc != FDS_OK) { rc = cli_core_fail(ctx, frc); goto done; }
    if (ctx->json) {
        rc = cli_json_print(out);
    } else {
        cli_scrub(out);
        printf("Done: %s  %s\n", cli_local_time(cli_str(out, "due"), tb),
               cli_str(out, "content"));
    }
done:
    free(id);
    json_decref(out);
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
        rc = cli_fail(ctx, CLI_USAGE, "--note is not valid UTF-8 text");
        goto done;
    }
    if ((rc = cli_open(ctx)) || (rc = cli_resolve(ctx, "customer", a.pos[0], &id)))
        goto done;
    int frc = fds_stage_set(ctx->r, id, a.pos[1], note, &out);
    if (frc != FDS_OK) { rc = cli_core_fail(ctx, frc); goto done; }
    if (ctx->json) {
        rc = cli_json_print(out);
    } else {
        cli_scrub(out);
        printf("Stage: %s%s%s\n", cli_str(out, "from"),
               *cli_str(out, "from") ? " → " : "", cli_str(out, "to"));
    }
done:
    free(id);
    json_decref(out);
    cli_args_free(&a);
    return rc;
}
