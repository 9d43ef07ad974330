/*
** cli.h — the one internal header of the `fieldsync` command-line client.
**
** The client is a thin shell over libfieldsync: each cmd_*.c file parses
** its options (args.c), calls core, and prints either a human view
** (out.c: tables, colour, local times) or one JSON document.  Every command
** returns a process exit code:
**     0 ok, 1 other failure, 2 usage or invalid input, 3 not found,
**     4 server unreachable, 5 authentication or permission refused.
** Errors go to stderr as one line: "fieldsync: <command>: <what was wrong>".
*/
#ifndef CLI_H
#define CLI_H

#include <stdio.h>
#include <stddef.h>
#include <jansson.h>
#include <libintl.h>
#include "fieldsync.h"

/* ---- Language (i18n.c, po/) ------------------------------------------------ */
/* Messages, help and headers go through GNU gettext, domain "fieldsync":
** _() for a string used where it is written, N_() to mark one in a static
** table (translated with _() where it is printed), ngettext() for counts.
** JSON output never goes through them.  English is the msgid. */
#define CLI_DOMAIN "fieldsync"
#define _(s) gettext(s)
#define N_(s) (s)
/* With a context, for words whose translation depends on where they
** stand ("email" the method 邮件, "email" the field 邮箱): C_() translates
** in place, NC_() marks a static entry translated by cli_pgettext(). */
#define C_(c, s) cli_pgettext(c, s)
#define NC_(c, s) (s)
const char *cli_pgettext(const char *context, const char *msgid);
/* setlocale (messages from the user's environment, UTF-8 characters,
** C numbers), bindtextdomain (catalogs next to the binary) and
** textdomain; called first in main(). */
void cli_i18n_init(void);
/* 1 when the active catalog shows the Chinese labels of stages and custom
** fields (label_zh), 0 for the English ones. */
int cli_zh_labels(void);
/* A core error for people in the active language: core's detail message
** (fds_errmsg) when it is English or has no translation pattern, else its
** translation; buf holds the result.  rc FDS_OK: a warning's text. */
const char *cli_core_text(const char *detail, int rc, char *buf, size_t len);
/* The same, naming custom fields by their labels from replica r. */
const char *cli_core_text_r(fds_replica *r, const char *detail, int rc,
                            char *buf, size_t len);
/* 1 when a catalog other than English is in use. */
int cli_catalog_active(void);
/* core's name of a record (fds_record_label: "follow-up of 张伟 (华星科技)")
** in the rep's language; writes buf. */
const char *cli_record_text(const char *label, char *buf, size_t len);
/* The word for a table in messages ("customer" -> 客户). */
const char *cli_table_word(const char *table);
/* A field's name for people: a custom field ("f.KEY" or "KEY") by its
** label from replica r in the rep's language, else cli_field_word. */
const char *cli_field_text(fds_replica *r, const char *field, char *buf,
                           size_t len);
/* A field's name in messages ("amount" -> 金额); the key when unknown. */
const char *cli_field_word(const char *field);

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2, CLI_NOTFOUND = 3,
       CLI_UNREACHABLE = 4, CLI_REFUSED = 5 };

/* State of one invocation.  Lives on main()'s stack. */
typedef struct cli_ctx {
    const char *db_path;    /* --db, or NULL for $FIELDSYNC_DB / default */
    int json;               /* --json: one JSON document on stdout */
    const char *cmd;        /* command words for messages ("customer add") */
    fds_replica *r;         /* opened by cli_open() */
    int color;              /* ANSI colour on stdout */
} cli_ctx;

/* ---- Options (args.c) ------------------------------------------------------ */
enum { CLI_FLAG = 0,        /* --name */
       CLI_VALUE,           /* --name VALUE or --name=VALUE; last one wins */
       CLI_MULTI };         /* repeatable --name VALUE */

typedef struct cli_opt {
    const char *name;       /* without the leading "--" */
    int kind;               /* CLI_FLAG / CLI_VALUE / CLI_MULTI */
} cli_opt;

#define CLI_MAX_OPTS 24

typedef struct cli_args {
    const cli_opt *opts;    /* borrowed spec, terminated by {NULL, 0} */
    int count[CLI_MAX_OPTS];            /* times each option was given */
    const char *val[CLI_MAX_OPTS];      /* last value of each option */
    const char **multi;     /* (opt index, value) pairs in order, malloc'd */
    size_t nmulti;
    const char **pos;       /* positional arguments, malloc'd */
    int npos;
} cli_args;

/* Parse argv[0..argc) against opts.  --db, --json and --help are always
** understood (--db/--json update ctx).  "--" ends options.  Requires
** min_pos..max_pos positional arguments.  Returns CLI_OK or CLI_USAGE
** (message printed).  Release with cli_args_free. */
int cli_args_parse(cli_ctx *ctx, int argc, char **argv, const cli_opt *opts,
                   int min_pos, int max_pos, cli_args *a);
void cli_args_free(cli_args *a);
/* Last value of option `name`, or NULL if absent. */
const char *cli_arg(const cli_args *a, const char *name);
int cli_has(const cli_args *a, const char *name);
/* The i-th value of a repeatable option (NULL after the last). */
const char *cli_arg_multi(const cli_args *a, const char *name, size_t i);

/* ---- Replica (replica.c) ---------------------------------------------------- */
/* Where the replica lives: --db, $FIELDSYNC_DB, $XDG_DATA_HOME/fieldsync/
** replica.db, ~/.local/share/fieldsync/replica.db.  Writes into buf. */
int cli_db_path(const cli_ctx *ctx, char *buf, size_t len);
/* Open ctx->r (creating missing directories 0700, the file 0600).
** Returns an exit code, message printed on failure. */
int cli_open(cli_ctx *ctx);
void cli_close(cli_ctx *ctx);
/* Resolve a record id prefix in table; on failure prints and returns the
** exit code (3 none, 2 ambiguous). */
int cli_resolve(cli_ctx *ctx, const char *table, const char *prefix,
                char **full);

/* ---- Errors and output (out.c) --------------------------------------------- */
int cli_fail(const cli_ctx *ctx, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Print core's message for rc and return the mapped exit code. */
int cli_core_fail(const cli_ctx *ctx, int rc);
int cli_code_of(int rc);    /* FDS_* -> exit code */
void cli_warn(const cli_ctx *ctx, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* One JSON document on stdout (indented, UTF-8 kept readable). */
int cli_json_print(const json_t *j);

/* Before a human view: blank out control characters in every string of j
** (data typed on other devices must not drive this terminal with escape
** sequences).  JSON output is left exact. */
void cli_scrub(json_t *j);
/* Display width of UTF-8 text (CJK counts 2). */
size_t cli_width(const char *s);
/* Print s padded or truncated (with an ellipsis) to exactly w columns. */
void cli_put_cell(FILE *f, const char *s, size_t w, int pad);
/* ANSI escape for a style when colour is on, "" otherwise. */
enum { CLI_C_RESET = 0, CLI_C_BOLD, CLI_C_DIM, CLI_C_RED, CLI_C_GREEN,
       CLI_C_YELLOW, CLI_C_CYAN };
const char *cli_c(const cli_ctx *ctx, int style);

/* Aligned table: add rows of ncols strings (copied), then print. */
typedef struct cli_table cli_table;
cli_table *cli_table_new(size_t ncols, const char *const *headers,
                         const size_t *maxw);
int cli_table_add(cli_table *t, const char *const *cells);
void cli_table_print(const cli_ctx *ctx, cli_table *t, FILE *f);
void cli_table_free(cli_table *t);

/* RFC 3339 (or any fds_time_parse text) -> local "YYYY-MM-DD HH:MM"; the
** input itself if it cannot be parsed. */
const char *cli_local_time(const char *text, char buf[32]);
/* The daily list's title for a local day, in the rep's language ("Today —
** 2026-12-01, Tuesday"; 今日跟进 — 2026年12月1日 星期二); writes buf. */
struct tm;
const char *cli_long_date(const struct tm *tm, char *buf, size_t len);
/* Parse a user time into canonical RFC 3339 UTC; CLI_USAGE if invalid. */
int cli_parse_time(const cli_ctx *ctx, const char *what, const char *text,
                   char out[40]);
/* cli_parse_time with the words of fds_time_parse_rel (明天 14:00, fri);
** when day_ok and no time of day was given, out is the local date
** "YYYY-MM-DD" (a plan for that day). */
int cli_parse_when(const cli_ctx *ctx, const char *what, const char *text,
                   int day_ok, char out[40]);
/* "NAME (COMPANY)" (or "NAME") of customer id, for confirmations that
** show which customer a short prefix hit; writes into buf. */
const char *cli_customer_phrase(const cli_ctx *ctx, const char *id, char *buf,
                                size_t len);
/* A customer's amount for people: "480,000" ("" when null). */
const char *cli_amount_text(const json_t *v, char *buf, size_t len);
/* 1 if s is valid UTF-8 (what core and JSON accept). */
int cli_utf8_ok(const char *s);
/* JSON string member or "" (never NULL). */
const char *cli_str(const json_t *obj, const char *key);
/* First 8 characters of an id, for human views. */
const char *cli_short(const char *id, char buf[16]);

/* ---- Export/import shared (cmd_export.c) ---------------------------------- */
/* The customer columns and cell text are text/sheet_csv.h's
** (fdt_customer_cols, fdt_value_text): the server's export writes the same. */
/* Follow-up columns {key, Chinese header}, {NULL, NULL}-terminated. */
extern const char *const cli_followup_cols[][2];

/* ---- Commands --------------------------------------------------------------- */
typedef int (*cli_cmd_fn)(cli_ctx *ctx, int argc, char **argv);

int cli_customer_add(cli_ctx *ctx, int argc, char **argv);
int cli_customer_list(cli_ctx *ctx, int argc, char **argv);
int cli_customer_show(cli_ctx *ctx, int argc, char **argv);
int cli_customer_edit(cli_ctx *ctx, int argc, char **argv);
int cli_customer_delete(cli_ctx *ctx, int argc, char **argv);
int cli_customer_assign(cli_ctx *ctx, int argc, char **argv);
/* cmd_pool.c: the customer pool (公海). */
int cli_customer_release(cli_ctx *ctx, int argc, char **argv);
int cli_pool_list(cli_ctx *ctx, int argc, char **argv);
int cli_pool_claim(cli_ctx *ctx, int argc, char **argv);
int cli_customer_share(cli_ctx *ctx, int argc, char **argv);
int cli_customer_unshare(cli_ctx *ctx, int argc, char **argv);
int cli_followup_add(cli_ctx *ctx, int argc, char **argv);
/* Photos (cmd_activity.c, cmd_attach.c; blobstore.h): --photo FILE...
** into in's "attachments"; `attachment get`. */
int cli_put_photos(cli_ctx *ctx, const cli_args *a, json_t *in);
int cli_attachment_get(cli_ctx *ctx, int argc, char **argv);
/* `photos` (cmd_photos.c): the device's setting for fetching photos on
** metered links, read as the core's policy (today's bytes included), and
** the bytes fetched added to today's. */
int cli_photos(cli_ctx *ctx, int argc, char **argv);
int cli_photos_policy(fds_replica *r, fds_blob_policy *p);
int cli_photos_spent(fds_replica *r, int64_t bytes);
int cli_feedback_add(cli_ctx *ctx, int argc, char **argv);
int cli_stage(cli_ctx *ctx, int argc, char **argv);
int cli_plan(cli_ctx *ctx, int argc, char **argv);
int cli_plan_done(cli_ctx *ctx, int argc, char **argv);
int cli_plan_edit(cli_ctx *ctx, int argc, char **argv);
int cli_plan_delete(cli_ctx *ctx, int argc, char **argv);
int cli_followup_edit(cli_ctx *ctx, int argc, char **argv);
int cli_followup_delete(cli_ctx *ctx, int argc, char **argv);
int cli_today(cli_ctx *ctx, int argc, char **argv);
int cli_history(cli_ctx *ctx, int argc, char **argv);
int cli_conflicts(cli_ctx *ctx, int argc, char **argv);
int cli_conflicts_resolve(cli_ctx *ctx, int argc, char **argv);
int cli_export(cli_ctx *ctx, int argc, char **argv);
int cli_import(cli_ctx *ctx, int argc, char **argv);
int cli_field_add(cli_ctx *ctx, int argc, char **argv);
int cli_field_list(cli_ctx *ctx, int argc, char **argv);
int cli_template_apply(cli_ctx *ctx, int argc, char **argv);
int cli_init(cli_ctx *ctx, int argc, char **argv);
int cli_sync_cmd(cli_ctx *ctx, int argc, char **argv);

/* Tags "a,b" (also ，；、) -> new JSON array of trimmed strings; NULL if
** not UTF-8. */
json_t *cli_split_tags(const char *text);
/* A follow-up method key for people, in the rep's language ("phone";
** 电话 in Chinese); the key itself if unknown. */
const char *cli_method_label(const char *method);
/* The Chinese word of a method key, whatever the language (the follow-up
** export's 跟进方式 column is data, not interface). */
const char *cli_method_zh(const char *method);
/* Human label of a stage key from the stage definitions ("意向确认 intent"). */
const char *cli_stage_label(const json_t *stages, const char *key,
                            char *buf, size_t len);

#endif /* CLI_H */
