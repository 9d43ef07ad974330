/*
** cmd_sync.c — `init` (point the replica at a server) and `sync`.  The
** network itself is behind cli_sync() (transport.h); the server URL, token
** and CA path live in the replica's meta table, and the replica file is
** 0600 because the token is in it.
*/
#include <limits.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"
#include "blobstore.h"
#include "transport.h"

/* Settings from the replica: malloc'd strings, NULL when unset or "". */
static char *meta(fds_replica *r, const char *key)
{
    char *v = NULL;
    if (fds_meta_get(r, key, &v) != FDS_OK) return NULL;
    if (v && !*v) { free(v); v = NULL; }
    return v;
}

static int valid_server(const char *s)
{
    if (strncmp(s, "wss://", 6) != 0) return 0;
    const char *host = s + 6;
    return *host && *host != ':' && *host != '/' && !strpbrk(host, " \t\r\n");
}

static void print_counts(const fds_session_stats *st)
{
    printf(_("pushed %lld, pulled %lld"), (long long)st->pushed,
           (long long)st->pulled);
    printf(ngettext(", %lld conflict", ", %lld conflicts",
                    (unsigned long)st->conflicts), (long long)st->conflicts);
    if (st->refused) printf(_(", %lld refused"), (long long)st->refused);
    printf("\n");
    if (st->repaired) {
        printf(ngettext("repaired: %lld checksum bucket differed from the server; ",
                        "repaired: %lld checksum buckets differed from the server; ",
                        (unsigned long)st->repaired), (long long)st->repaired);
        printf(ngettext("%lld record re-fetched\n", "%lld records re-fetched\n",
                        (unsigned long)st->repaired_records),
               (long long)st->repaired_records);
    }
}

static json_t *counts_json(const fds_session_stats *st)
{
    json_t *o = json_pack("{s:I,s:I,s:I,s:I,s:I,s:b,s:b}",
                          "pushed", (json_int_t)st->pushed,
                          "pulled", (json_int_t)st->pulled,
                          "conflicts", (json_int_t)st->conflicts,
                          "refused", (json_int_t)st->refused,
                          "repaired", (json_int_t)st->repaired,
                          "device_reset", st->device_reset != 0,
                          "server_restored", st->server_restored != 0);
    if (o && st->clock_known &&
        json_object_set_new(o, "clock_skew_ms",
                            json_integer((json_int_t)st->clock_skew_ms)) != 0) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

/* Rules 12-14 (docs/internals/trust.md): one line for each that happened
** (--json: in the document instead), and the clock warning on stderr in
** both modes.  Each is shown once per sync (watch mode: when it happens). */
static void print_trust(const cli_ctx *ctx, const fds_session_stats *st,
                        const fds_session_stats *shown)
{
    if (ctx->json) {
        /* the document says it all but the warning */
    } else if (st->device_reset && !shown->device_reset)
        printf(_("This device was restored or copied: it now syncs as device "
                 "%.8s; nothing was lost.\n"), fds_replica_device(ctx->r));
    if (!ctx->json && st->server_restored && !shown->server_restored)
        printf(ngettext("The server was restored from a backup: this device re-sent "
                        "%lld change it held.\n",
                        "The server was restored from a backup: this device re-sent "
                        "%lld changes it held.\n", (unsigned long)st->resent),
               (long long)st->resent);
    if (st->clock_known && !shown->clock_known &&
        (st->clock_skew_ms > FDS_CLOCK_BOUND_MS ||
         st->clock_skew_ms < -FDS_CLOCK_BOUND_MS)) {
        long long min = (long long)(st->clock_skew_ms < 0 ? -st->clock_skew_ms
                                                          : st->clock_skew_ms)
                        / 60000;
        if (st->clock_skew_ms > 0)
            cli_warn(ctx, _("this device's clock is %lld minutes off the server's "
                            "(behind): set the right time; changes are kept, "
                            "stamped with the server's time"), min);
        else
            cli_warn(ctx, _("this device's clock is %lld minutes off the server's "
                            "(ahead): set the right time; changes are kept, "
                            "stamped with the server's time"), min);
    }
}

/* Duplicate customers across reps (撞单) the server noticed: one line
** each on stderr, naming the rep's customer, the other rep and the value
** that matched.  That is all the server tells (docs/SECURITY.md). */
static void print_duplicates(const cli_ctx *ctx, const json_t *list)
{
    size_t i;
    json_t *d;
    json_array_foreach(list, i, d) {
        const char *name = cli_str(d, "name"), *owner = cli_str(d, "owner");
        const char *what = strcmp(cli_str(d, "field"), "wechat") == 0
                               ? _("WeChat") : C_("field", "phone");
        char idb[16];
        if (!*name)
            name = cli_short(cli_str(d, "customer"), idb);
        if (*owner)
            /* TRANSLATORS: %1$s the rep's customer, %2$s "phone" or
               "WeChat", %3$s the number or id, %4$s the other rep. */
            cli_warn(ctx, _("possible duplicate customer (撞单): %1$s's %2$s %3$s "
                            "matches a customer of %4$s"),
                     name, what, cli_str(d, "value"), owner);
        else
            cli_warn(ctx, _("possible duplicate customer (撞单): %1$s's %2$s %3$s "
                            "matches a customer of another rep (the server names "
                            "at most a few a day; ask your manager)"),
                     name, what, cli_str(d, "value"));
    }
}

/* Refusals recorded so far (0 if they cannot be read). */
static size_t refusal_count(fds_replica *r)
{
    json_t *a = NULL;
    if (fds_refusals(r, &a) != FDS_OK) return 0;
    size_t n = json_array_size(a);
    json_decref(a);
    return n;
}

/* The refusals recorded since `before` (fds_refusals lists newest first),
** oldest first, as a new array; NULL if none or unreadable. */
static json_t *new_refusals(fds_replica *r, size_t before)
{
    json_t *a = NULL;
    if (fds_refusals(r, &a) != FDS_OK) return NULL;
    size_t n = json_array_size(a);
    json_t *out = n > before ? json_array() : NULL;
    for (size_t i = n - before; out && i-- > 0; )
        json_array_append(out, json_array_get(a, i));
    json_decref(a);
    return out;
}

/* One line per record and reason the server refused in this sync, the
** record named as a person knows it ("follow-up of 张伟 (华星科技)", not
** an 8-character id), with the refused fields: a template a rep applied
** is a few lines, not one per field.  The server's message names the
** record and field too ("forbidden: customer ID field owner: why"); that
** name is dropped from it. */
static void print_refusals(fds_replica *r, const json_t *list)
{
    size_t i, n = json_array_size(list);
    for (i = 0; i < n; ) {
        json_t *o = json_array_get(list, i);
        const char *tbl = cli_str(o, "table"), *rec = cli_str(o, "record");
        const char *fld = cli_str(o, "field"), *msg = cli_str(o, "message");
        char named[256];
        snprintf(named, sizeof named, "%s %s field %s: ", tbl, rec, fld);
        const char *at = strstr(msg, named);
        char why[1024];
        snprintf(why, sizeof why, "%.*s%s", at ? (int)(at - msg) : 0, msg,
                 at ? at + strlen(named) : msg);
        /* the fields of the following refusals of this record, same reason */
        /* field names in the rep's language (English: as stored) */
        int words = cli_catalog_active();
        char fields[512];
        snprintf(fields, sizeof fields, "%s", words ? cli_field_word(fld) : fld);
        size_t j = i + 1;
        for (; j < n; j++) {
            json_t *p = json_array_get(list, j);
            if (strcmp(cli_str(p, "table"), tbl) || strcmp(cli_str(p, "record"), rec))
                break;
            char pn[256], pwhy[1024];
            const char *pm = cli_str(p, "message");
            snprintf(pn, sizeof pn, "%s %s field %s: ", tbl, rec, cli_str(p, "field"));
            const char *pa = strstr(pm, pn);
            snprintf(pwhy, sizeof pwhy, "%.*s%s", pa ? (int)(pa - pm) : 0, pm,
                     pa ? pa + strlen(pn) : pm);
            if (strcmp(pwhy, why) != 0) break;
            size_t fl = strlen(fields);
            snprintf(fields + fl, sizeof fields - fl, _(", %s"),
                     words ? cli_field_word(cli_str(p, "field")) : cli_str(p, "field"));
        }
        char *label = NULL;
        if (fds_record_label(r, tbl, rec, &label) != FDS_OK) label = NULL;
        char named_h[600];
        json_t *lj = json_string(cli_record_text(label ? label : rec, named_h,
                                                 sizeof named_h));
        cli_scrub(lj);
        /* TRANSLATORS: %1$s the record ("张伟 (华星科技)"), %2$s its
           refused fields, %3$s the server's reason (not translated). */
        printf(_("refused: %1$s (%2$s): %3$s\n"), json_string_value(lj), fields, why);
        json_decref(lj);
        fds_free(label);
        i = j;
    }
}

/* Ids of the conflicts `fieldsync conflicts` lists now: the set sync
** counts against (merge outcomes include registers no one sees and
** conflicts settled later in the same pull). */
static json_t *open_conflicts(fds_replica *r)
{
    json_t *list = NULL, *ids = json_object();
    if (!ids) return NULL;
    if (fds_conflicts(r, &list) == FDS_OK) {
        size_t i;
        json_t *c;
        json_array_foreach(list, i, c)
            json_object_set_new(ids, cli_str(c, "id"), json_true());
    }
    json_decref(list);
    return ids;
}

/* Conflicts open now that were not open in `before`; before is updated
** to the current set when update. */
static int64_t new_conflicts(fds_replica *r, json_t *before, int update)
{
    json_t *now = open_conflicts(r);
    int64_t n = 0;
    const char *k;
    json_t *v;
    json_object_foreach(now, k, v)
        if (!json_object_get(before, k)) n++;
    if (update && now) {
        json_object_clear(before);
        json_object_update(before, now);
    }
    json_decref(now);
    return n;
}

/* The pool customers someone else claimed first (an offline claim that
** lost, DESIGN.md "Customer pool"), from this sync's refusals: the server
** says "claimed_first: customer ID field F: 'NAME' was claimed first by
** USER; ...".  One {"customer","name","by"} per customer, each told on
** stderr (the customer has left this device's list by the server's
** revoke); NULL when none. */
static json_t *claimed_first(const cli_ctx *ctx, const json_t *refused)
{
    static const char tag[] = "claimed_first: ", mid[] = "' was claimed first by ";
    json_t *out = NULL;
    size_t i;
    json_t *o;
    json_array_foreach(refused, i, o) {
        const char *msg = cli_str(o, "message"), *rec = cli_str(o, "record");
        if (strncmp(msg, tag, sizeof tag - 1) != 0 ||
            strcmp(cli_str(o, "table"), "customer") != 0)
            continue;
        const char *q = strstr(msg, ": '"), *m = NULL;
        for (const char *p = q; p && (p = strstr(p, mid)) != NULL; p++)
            m = p;                      /* the last one: a name may hold it */
        if (!q || !m || m < q + 3)
            continue;
        const char *by = m + sizeof mid - 1, *end = strchr(by, ';');
        char name[512], user[128];
        snprintf(name, sizeof name, "%.*s", (int)(m - (q + 3)), q + 3);
        snprintf(user, sizeof user, "%.*s", end ? (int)(end - by) : (int)strlen(by), by);
        size_t j;
        json_t *seen;
        int dup = 0;
        json_array_foreach(out, j, seen)
            dup |= strcmp(cli_str(seen, "customer"), rec) == 0;
        if (dup)
            continue;
        if (!out && !(out = json_array()))
            return NULL;
        json_array_append_new(out, json_pack("{s:s,s:s,s:s}", "customer", rec,
                                             "name", name, "by", user));
        json_t *nj = json_string(name), *uj = json_string(user);
        cli_scrub(nj);
        cli_scrub(uj);
        /* TRANSLATORS: %1$s a customer's name, %2$s the user who claimed
           it before this device's claim reached the server. */
        cli_warn(ctx, _("%1$s was claimed first by %2$s: it has left your list"
                        " (your follow-ups on it were kept for them)"),
                 json_string_value(nj) ? json_string_value(nj) : name,
                 json_string_value(uj) ? json_string_value(uj) : user);
        json_decref(nj);
        json_decref(uj);
    }
    return out;
}

static void hints(const cli_ctx *ctx, const fds_session_stats *st)
{
    if (st->conflicts)
        fputs(_("Review conflicts with: fieldsync conflicts\n"), stdout);
    if (st->refused)
        /* Each refusal was printed above with its reason (forbidden,
        ** unknown_user, limit...): the summary must not guess one. */
        cli_warn(ctx, ngettext("%lld change was refused by the server and undone here (reasons above)",
                               "%lld changes were refused by the server and undone here (reasons above)",
                               (unsigned long)st->refused),
                 (long long)st->refused);
}

int cli_init(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = {
        {"server", CLI_VALUE}, {"token", CLI_VALUE}, {"ca", CLI_VALUE},
        {"force", CLI_FLAG}, {"offline", CLI_FLAG}, {NULL, 0} };
    cli_args a;
    char *old = NULL, *old_token = NULL, *old_ca = NULL, *old_cursor = NULL;
    char *old_store = NULL, *old_epoch = NULL;
    char ca[PATH_MAX] = "";
    json_t *refused = NULL, *dups = json_array(), *photo_notes = json_array();
    cli_blobs bs;
    fds_blob_io bio;
    fds_blob_stats bst;
    fds_blob_policy pol;
    memset(&bst, 0, sizeof bst);
    memset(&pol, 0, sizeof pol);
    int rc = cli_args_parse(ctx, argc, argv, opts, 0, 0, &a);
    if (rc) goto done;
    const char *server = cli_arg(&a, "server"), *token = cli_arg(&a, "token");
    if (!server) { rc = cli_fail(ctx, CLI_USAGE, _("missing --server wss://HOST:PORT")); goto done; }
    if (!valid_server(server)) {
        rc = cli_fail(ctx, CLI_USAGE, _("invalid server \"%s\" (use wss://HOST:PORT; TLS only)"), server);
        goto done;
    }
    if (!token || !*token || strpbrk(token, " \t\r\n")) {
        rc = cli_fail(ctx, CLI_USAGE, _("missing or invalid --token TOKEN"));
        goto done;
    }
    if (cli_arg(&a, "ca")) {
        /* Absolute, so `sync` works from any directory later. */
        if (!realpath(cli_arg(&a, "ca"), ca) || access(ca, R_OK) != 0) {
            rc = cli_fail(ctx, CLI_USAGE, _("cannot read CA file \"%s\""), cli_arg(&a, "ca"));
            goto done;
        }
    }
    if ((rc = cli_open(ctx))) goto done;
    int64_t pending = 0;
    int frc = fds_outbox_count(ctx->r, &pending);
    if (frc != FDS_OK) { rc = cli_core_fail(ctx, frc); goto done; }
    old = meta(ctx->r, "server");
    old_token = meta(ctx->r, "token");
    old_ca = meta(ctx->r, "ca");
    old_cursor = meta(ctx->r, "cursor");
    old_store = meta(ctx->r, "store");
    old_epoch = meta(ctx->r, "epoch");
    int moved = old && strcmp(old, server) != 0;
    if (moved && pending > 0 && !cli_has(&a, "force")) {
        rc = cli_fail(ctx, CLI_USAGE,
                      /* TRANSLATORS: %1$lld changes, %2$s the old server,
                         %3$s the new one. */
                      ngettext("this replica has %1$lld unsynced change for %2$s; "
                               "run fieldsync sync first, or pass --force to keep "
                               "it and push it to %3$s",
                               "this replica has %1$lld unsynced changes for %2$s; "
                               "run fieldsync sync first, or pass --force to keep "
                               "them and push them to %3$s", (unsigned long)pending),
                      (long long)pending, old, server);
        goto done;
    }
    /* A new server has its own sequence numbers: pull it from the start
    ** (the outbox is kept either way, so no typed work is lost).  It is
    ** not the old server restored (rule 13): forget the old store id, so
    ** its welcome is a first one and nothing is re-sent to it. */
    if ((moved && (frc = fds_meta_set(ctx->r, "cursor", "0")) != FDS_OK) ||
        (moved && (frc = fds_meta_set(ctx->r, "store", "")) != FDS_OK) ||
        (moved && (frc = fds_meta_set(ctx->r, "epoch", "0")) != FDS_OK) ||
        (frc = fds_meta_set(ctx->r, "server", server)) != FDS_OK ||
        (frc = fds_meta_set(ctx->r, "token", token)) != FDS_OK ||
        (frc = fds_meta_set(ctx->r, "ca", ca)) != FDS_OK) {
        rc = cli_core_fail(ctx, frc);
        goto done;
    }
    fds_session_stats st;
    memset(&st, 0, sizeof st);
    int synced = 0;
    if (!cli_has(&a, "offline")) {
        cli_sync_opts so;
        char err[512] = "";
        memset(&so, 0, sizeof so);
        so.server = server;
        so.token = token;
        so.ca_path = *ca ? ca : NULL;
        so.progress = !ctx->json;
        so.duplicates = dups;   /* customers typed before init, pushed now */
        /* Photos as `sync` moves them (within `fieldsync photos`). */
        char dbp[4096];
        if (cli_db_path(ctx, dbp, sizeof dbp) == 0 && cli_blobs_init(&bs, dbp) == 0) {
            cli_blobs_io(&bs, &bio);
            cli_photos_policy(ctx->r, &pol);
            so.blob_io = &bio;
            so.blob_flags = FDS_BLOBS_UP | FDS_BLOBS_DOWN;
            so.blob_stats = &bst;
            so.blob_notes = photo_notes;
            so.blob_policy = &pol;
        }
        size_t before = refusal_count(ctx->r);
        json_t *open0 = open_conflicts(ctx->r);
        rc = cli_sync(ctx->r, &so, &st, err, sizeof err);
        cli_photos_spent(ctx->r, bst.bytes_down);
        print_duplicates(ctx, dups);
        st.conflicts = new_conflicts(ctx->r, open0, 0);
        json_decref(open0);
        refused = new_refusals(ctx->r, before);
        if (rc == CLI_UNREACHABLE) {
            rc = cli_fail(ctx, rc, _("%s; the settings are saved: run fieldsync sync "
                                     "when the server is reachable"),
                          *err ? err : _("server unreachable"));
            goto done;
        }
        if (rc == CLI_REFUSED) {
            /* A refused token is no use: put the previous settings back. */
            fds_meta_set(ctx->r, "server", old ? old : "");
            fds_meta_set(ctx->r, "token", old_token ? old_token : "");
            fds_meta_set(ctx->r, "ca", old_ca ? old_ca : "");
            if (moved) {
                fds_meta_set(ctx->r, "cursor", old_cursor ? old_cursor : "0");
                fds_meta_set(ctx->r, "store", old_store ? old_store : "");
                fds_meta_set(ctx->r, "epoch", old_epoch ? old_epoch : "0");
            }
            rc = cli_fail(ctx, rc, _("%s (settings not changed)"),
                          *err ? err : _("refused by the server"));
            goto done;
        }
        if (rc != CLI_OK) {
            rc = cli_fail(ctx, rc, _("%s (settings saved; run fieldsync sync to retry)"),
                          *err ? err : _("first sync failed"));
            goto done;
        }
        synced = 1;
    }
    const char *user = fds_replica_user(ctx->r);
    if (ctx->json) {
        json_t *o = synced ? counts_json(&st) : json_object();
        if (o) {
            json_object_set_new(o, "server", json_string(server));
            json_object_set_new(o, "device", json_string(fds_replica_device(ctx->r)));
            json_object_set_new(o, "user", json_string(user ? user : ""));
            json_object_set_new(o, "synced", json_boolean(synced));
            if (synced)
                json_object_set_new(o, "refusals", refused ? json_incref(refused)
                                                           : json_array());
            if (synced)
                json_object_set_new(o, "duplicates", dups ? json_incref(dups)
                                                          : json_array());
            if (synced)
                json_object_set_new(o, "photos", json_pack(
                    "{s:I,s:I,s:I,s:I,s:I,s:O}",
                    "uploaded", (json_int_t)bst.uploaded,
                    "downloaded", (json_int_t)bst.downloaded,
                    "refused", (json_int_t)bst.refused,
                    "held_back", (json_int_t)bst.held_back,
                    "bytes_down", (json_int_t)bst.bytes_down,
                    "notes", photo_notes));
        }
        rc = o ? cli_json_print(o) : CLI_FAIL;
        json_decref(o);
    } else if (synced) {
        /* TRANSLATORS: %1$s the server, %2$s the user, %3$.8s the device. */
        printf(_("Initialised: %1$s as %2$s (device %3$.8s)\n"), server,
               user && *user ? user : "?", fds_replica_device(ctx->r));
        print_counts(&st);
        print_refusals(ctx->r, refused);
        if (bst.uploaded || bst.downloaded)
            printf(_("Photos: %lld sent, %lld fetched\n"), (long long)bst.uploaded,
                   (long long)bst.downloaded);
        size_t i;
        json_t *v;
        json_array_foreach(photo_notes, i, v)
            printf("%s\n", json_string_value(v));
        hints(ctx, &st);
    } else {
        printf(_("Saved %s (offline: nothing checked yet; run fieldsync sync to connect)\n"),
               server);
    }
done:
    json_decref(refused);
    json_decref(dups);
    json_decref(photo_notes);
    free(old);
    free(old_token);
    free(old_ca);
    free(old_cursor);
    free(old_store);
    free(old_epoch);
    cli_args_free(&a);
    return rc;
}

/* What a watching rep has been shown so far (human output only). */
typedef struct watch_view {
    const cli_ctx *ctx;
    fds_replica *r;
    size_t refusals_shown;      /* refusals printed (count in fds_refusals) */
    fds_session_stats shown;    /* counters as of the last line */
    fds_session_stats trust;    /* rules 12-14 lines shown */
    json_t *conflicts;          /* conflict ids open at the last line */
} watch_view;

/* sync --watch, about once a second while idle: one timestamped line when
** something moved, and each new refusal as it comes, so a rep who leaves
** the watch running sees at once what the server would not take. */
static void watch_idle(void *arg, const fds_session_stats *st)
{
    watch_view *w = arg;
    fds_session_stats d;
    memset(&d, 0, sizeof d);
    d.pushed = st->pushed - w->shown.pushed;
    d.pulled = st->pulled - w->shown.pulled;
    d.conflicts = (st->pulled != w->shown.pulled || st->conflicts != w->shown.conflicts)
                  ? new_conflicts(w->r, w->conflicts, 1) : 0;
    d.refused = st->refused - w->shown.refused;
    d.revoked = st->revoked - w->shown.revoked;
    d.repaired = st->repaired - w->shown.repaired;
    if (d.pushed || d.pulled || d.conflicts || d.refused || d.revoked ||
        d.repaired) {
        char when[16];
        time_t now = time(NULL);
        struct tm tmv;
        strftime(when, sizeof when, "%H:%M:%S", localtime_r(&now, &tmv));
        printf("%s ", when);
        printf(_("pushed %lld, pulled %lld"), (long long)d.pushed,
               (long long)d.pulled);
        if (d.conflicts)
            printf(ngettext(", %lld conflict", ", %lld conflicts",
                            (unsigned long)d.conflicts), (long long)d.conflicts);
        if (d.refused) printf(_(", %lld refused"), (long long)d.refused);
        if (d.revoked) printf(_(", %lld no longer visible"), (long long)d.revoked);
        if (d.repaired)
            printf(ngettext(", %lld checksum bucket repaired",
                            ", %lld checksum buckets repaired",
                            (unsigned long)d.repaired), (long long)d.repaired);
        printf("\n");
        w->shown = *st;
    }
    print_trust(w->ctx, st, &w->trust);
    w->trust = *st;
    json_t *fresh = new_refusals(w->r, w->refusals_shown);
    print_refusals(w->r, fresh);
    w->refusals_shown += json_array_size(fresh);
    json_decref(fresh);
    fflush(stdout);
}

/* cli_sync_opts' photo accounting, on the replica's meta (cmd_photos.c). */
static int photos_spent_cb(void *r, int64_t bytes)
{
    return cli_photos_spent(r, bytes);
}

static void photos_policy_cb(void *r, fds_blob_policy *p)
{
    cli_photos_policy(r, p);
}

int cli_sync_cmd(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = { {"watch", CLI_FLAG}, {"no-blobs", CLI_FLAG},
                                    {NULL, 0} };
    cli_args a;
    char *server = NULL, *token = NULL, *ca = NULL, err[512] = "";
    json_t *refused = NULL, *photo_notes = json_array();
    cli_blobs bs;
    fds_blob_io bio;
    fds_blob_stats bst;
    fds_blob_policy pol;
    memset(&bst, 0, sizeof bst);
    memset(&pol, 0, sizeof pol);
    int rc = cli_args_parse(ctx, argc, argv, opts, 0, 0, &a);
    if (rc) goto done;
    if ((rc = cli_open(ctx))) goto done;
    server = meta(ctx->r, "server");
    token = meta(ctx->r, "token");
    ca = meta(ctx->r, "ca");
    if (!server || !token) {
        rc = cli_fail(ctx, CLI_USAGE, _("not initialised: run fieldsync init --server "
                                        "wss://HOST:PORT --token TOKEN"));
        goto done;
    }
    cli_sync_opts so;
    fds_session_stats st;
    memset(&so, 0, sizeof so);
    memset(&st, 0, sizeof st);
    so.server = server;
    so.token = token;
    so.ca_path = ca;
    so.watch = cli_has(&a, "watch");
    so.progress = !ctx->json;
    {
        char dbp[4096];
        /* Photos after the records (blobstore.h), unless --no-blobs. */
        if (!cli_has(&a, "no-blobs") && cli_db_path(ctx, dbp, sizeof dbp) == 0 &&
            cli_blobs_init(&bs, dbp) == 0) {
            cli_blobs_io(&bs, &bio);
            cli_photos_policy(ctx->r, &pol);
            so.blob_io = &bio;
            so.blob_flags = FDS_BLOBS_UP | FDS_BLOBS_DOWN;
            so.blob_stats = &bst;
            so.blob_notes = photo_notes;
            so.blob_policy = &pol;
        }
    }
    so.duplicates = json_array();
    size_t before = refusal_count(ctx->r);
    watch_view wv;
    memset(&wv, 0, sizeof wv);
    wv.ctx = ctx;
    wv.r = ctx->r;
    wv.refusals_shown = before;
    json_t *open0 = open_conflicts(ctx->r);
    wv.conflicts = open_conflicts(ctx->r);
    if (so.watch && !ctx->json) {
        so.on_idle = watch_idle;
        so.on_idle_arg = &wv;
    }
    if (so.blob_policy) {       /* the transport counts the day's bytes */
        so.photos_spent = photos_spent_cb;
        so.photos_policy = photos_policy_cb;
        so.photos_arg = ctx->r;
    }
    rc = cli_sync(ctx->r, &so, &st, err, sizeof err);
    /* Conflicts as `fieldsync conflicts` lists them: the ones this sync
    ** opened (not merge outcomes, see open_conflicts). */
    st.conflicts = new_conflicts(ctx->r, open0, 0);
    json_decref(open0);
    json_decref(wv.conflicts);
    /* Human output lists only what the watch has not shown yet. */
    json_t *unshown = ctx->json ? NULL : new_refusals(ctx->r, wv.refusals_shown);
    refused = new_refusals(ctx->r, before);
    json_t *lost = claimed_first(ctx, refused);
    print_duplicates(ctx, so.duplicates);
    if (rc != CLI_OK) {
        json_decref(lost);
        /* What was refused before the failure still reaches the rep. */
        print_refusals(ctx->r, unshown);
        json_decref(unshown);
        json_decref(so.duplicates);
        rc = cli_fail(ctx, rc, "%s", *err ? err : _("sync failed"));
        goto done;
    }
    if (ctx->json) {
        json_t *o = counts_json(&st);
        if (o) json_object_set_new(o, "refusals",
                                   refused ? json_incref(refused) : json_array());
        if (o && so.blob_io)
            json_object_set_new(o, "photos", json_pack(
                "{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:O}",
                "uploaded", (json_int_t)bst.uploaded,
                "downloaded", (json_int_t)bst.downloaded,
                "refused", (json_int_t)bst.refused,
                "failed", (json_int_t)bst.failed,
                "bytes_up", (json_int_t)bst.bytes_up,
                "bytes_down", (json_int_t)bst.bytes_down,
                "chunks_up", (json_int_t)bst.chunks_up,
                "notes", photo_notes));
        if (o && so.blob_io)
            json_object_set_new(json_object_get(o, "photos"), "held_back",
                                json_integer((json_int_t)bst.held_back));
        if (o) json_object_set_new(o, "claimed_first",
                                   lost ? json_incref(lost) : json_array());
        if (o) json_object_set_new(o, "duplicates",
                                   so.duplicates ? json_incref(so.duplicates)
                                                 : json_array());
        rc = o ? cli_json_print(o) : CLI_FAIL;
        json_decref(o);
        print_trust(ctx, &st, &wv.trust);
    } else {
        print_counts(&st);
        print_trust(ctx, &st, &wv.trust);
        print_refusals(ctx->r, unshown);
        if (bst.uploaded || bst.downloaded)
            printf(_("Photos: %lld sent, %lld fetched\n"), (long long)bst.uploaded,
                   (long long)bst.downloaded);
        if (bst.held_back)
            printf(ngettext("%lld photo not fetched (fieldsync photos: %s); it is "
                            "fetched when opened\n",
                            "%lld photos not fetched (fieldsync photos: %s); they "
                            "are fetched when opened\n", (unsigned long)bst.held_back),
                   (long long)bst.held_back, pol.manual ? _("manual")
                                                        : _("daily budget"));
        size_t i;
        json_t *v;
        json_array_foreach(photo_notes, i, v)
            printf("%s\n", json_string_value(v));
        hints(ctx, &st);
    }
    json_decref(unshown);
    json_decref(lost);
    json_decref(so.duplicates);
done:
    json_decref(photo_notes);
    json_decref(refused);
    free(server);
    free(token);
    free(ca);
    cli_args_free(&a);
    return rc;
}
