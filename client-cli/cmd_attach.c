/*
** cmd_attach.c — `attachment get`: a follow-up's photo out to a file,
** fetched from the server first when its bytes are not on this device
** (a sync session limited to that one blob, records included: they are
** cheap and keep the rule "records first").
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "blobstore.h"
#include "transport.h"

static char *meta_or_null(fds_replica *r, const char *key)
{
    char *v = NULL;
    if (fds_meta_get(r, key, &v) != FDS_OK) return NULL;
    if (v && !*v) { free(v); v = NULL; }
    return v;
}

/* Fetch blob sha.  An exit code; the notes say why it was refused. */
static int fetch(cli_ctx *ctx, cli_blobs *bs, const char *sha, const char *name)
{
    char *server = meta_or_null(ctx->r, "server");
    char *token = meta_or_null(ctx->r, "token");
    char *ca = meta_or_null(ctx->r, "ca");
    char err[512] = "";
    int rc;
    if (!server || !token) {
        rc = cli_fail(ctx, CLI_FAIL, _("%s is not on this device and there is no "
                                       "server: run fieldsync init"), name);
        goto done;
    }
    cli_sync_opts so;
    fds_session_stats st;
    fds_blob_io io;
    fds_blob_stats bst;
    json_t *notes = json_array();
    memset(&so, 0, sizeof so);
    memset(&st, 0, sizeof st);
    memset(&bst, 0, sizeof bst);
    cli_blobs_io(bs, &io);
    so.server = server;
    so.token = token;
    so.ca_path = ca;
    so.blob_io = &io;
    so.blob_flags = FDS_BLOBS_DOWN;
    so.blob_only = sha;
    so.blob_stats = &bst;
    so.blob_notes = notes;
    rc = cli_sync(ctx->r, &so, &st, err, sizeof err);
    cli_photos_spent(ctx->r, bst.bytes_down);   /* an open counts today too */
    if (rc != CLI_OK) {
        rc = cli_fail(ctx, rc, "%s", *err ? err : _("sync failed"));
    } else if (!cli_blobs_have(bs, sha)) {
        const char *why = json_array_size(notes)
            ? json_string_value(json_array_get(notes, json_array_size(notes) - 1))
            : NULL;
        /* Not visible to this user: a permission refusal (exit 5). */
        int code = why && strstr(why, "(forbidden)") ? CLI_REFUSED : CLI_FAIL;
        rc = cli_fail(ctx, code, "%s", why ? why
                      : _("the server does not have this photo's bytes yet"));
    }
    json_decref(notes);
done:
    free(server);
    free(token);
    free(ca);
    return rc;
}

static int copy_out(cli_ctx *ctx, const char *from, const char *to)
{
    FILE *in = fopen(from, "rb");
    if (!in) return cli_fail(ctx, CLI_FAIL, "%s: %s", from, strerror(errno));
    FILE *out = strcmp(to, "-") == 0 ? stdout : fopen(to, "wb");
    if (!out) {
        int e = errno;
        fclose(in);
        return cli_fail(ctx, CLI_FAIL, "%s: %s", to, strerror(e));
    }
    char buf[65536];
    size_t n;
    int bad = 0;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n) { bad = 1; break; }
    fclose(in);
    if (out != stdout ? fclose(out) != 0 : fflush(out) != 0) bad = 1;
    return bad ? cli_fail(ctx, CLI_FAIL, _("cannot write %s"), to) : CLI_OK;
}

int cli_attachment_get(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = { {"out", CLI_VALUE}, {NULL, 0} };
    cli_args a;
    json_t *att = NULL;
    char dbp[4096], path[4200];
    cli_blobs bs;
    int rc = cli_args_parse(ctx, argc, argv, opts, 1, 1, &a);
    if (rc) goto done;
    const char *out = cli_arg(&a, "out");
    if (!out) { rc = cli_fail(ctx, CLI_USAGE, _("missing --out FILE")); goto done; }
    if ((rc = cli_open(ctx))) goto done;
    if (cli_db_path(ctx, dbp, sizeof dbp) != 0 || cli_blobs_init(&bs, dbp) != 0) {
        rc = cli_fail(ctx, CLI_USAGE, _("no replica path: pass --db PATH or set FIELDSYNC_DB"));
        goto done;
    }
    int frc = fds_attachment_get(ctx->r, a.pos[0], &att);
    if (frc != FDS_OK) { rc = cli_core_fail(ctx, frc); goto done; }
    const char *sha = cli_str(att, "sha256");
    int fetched = 0;
    if (!cli_blobs_have(&bs, sha)) {
        if ((rc = fetch(ctx, &bs, sha, cli_str(att, "name")))) goto done;
        fetched = 1;
    }
    cli_blobs_path(&bs, sha, path, sizeof path);
    if ((rc = copy_out(ctx, path, out))) goto done;
    if (ctx->json) {
        json_object_set_new(att, "have", json_true());
        json_object_set_new(att, "fetched", json_boolean(fetched));
        json_object_set_new(att, "out", json_string(out));
        rc = strcmp(out, "-") == 0 ? CLI_OK : cli_json_print(att);
    } else if (strcmp(out, "-") != 0) {
        printf(_("Wrote %s (%lld bytes) to %s\n"), cli_str(att, "name"),
               (long long)json_integer_value(json_object_get(att, "size")), out);
    }
done:
    json_decref(att);
    cli_args_free(&a);
    return rc;
}
