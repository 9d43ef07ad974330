/*
** i18n.c — the CLI's language: GNU gettext set up once in main(), and the
** translation of what core says (codes and English detail) at the edge.
**
** Which language: the user's LC_ALL / LC_MESSAGES / LANG and LANGUAGE, as
** every gettext program reads them; English (the msgids) when nothing
** matches.  Only LC_MESSAGES follows the user: LC_CTYPE stays C.UTF-8 (the
** terminal output is UTF-8 and display widths use wcwidth), LC_NUMERIC
** stays "C" (amounts are parsed and JSON is written in one form
** everywhere), and dates in human output take their form from the catalog
** (a translated strftime format and weekday names) rather than LC_TIME, so
** a Chinese catalog always comes with Chinese dates.
**
** A locale that is named but not installed (LANG=zh_CN.UTF-8 in a minimal
** container without locale-gen) makes setlocale() fail and glibc would
** fall back to English.  The language is still known, so it is passed on
** through LANGUAGE (which glibc honours for any LC_MESSAGES but "C"):
** the rep gets the Chinese messages, the machine gets no new locale.
**
** Where the catalogs are: $FIELDSYNC_LOCALEDIR (tests, unusual installs),
** else BINDIR/../share/locale next to the running binary (both the build
** tree, where po/ writes build/share/locale for build/client-cli/fieldsync,
** and any install prefix, /usr/bin -> /usr/share/locale, also when the
** package is unpacked somewhere else), else the configured install path.
*/
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"

/* The first non-empty of LC_ALL, LC_MESSAGES, LANG (POSIX precedence). */
static const char *messages_env(void)
{
    static const char *const vars[] = { "LC_ALL", "LC_MESSAGES", "LANG", NULL };
    for (size_t i = 0; vars[i]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) return v;
    }
    return NULL;
}

/* "zh_CN.UTF-8@x" -> "zh_CN" (what LANGUAGE takes). */
static void language_of(const char *locale, char *buf, size_t len)
{
    size_t n = strcspn(locale, ".@");
    if (n >= len) n = len - 1;
    memcpy(buf, locale, n);
    buf[n] = '\0';
}

static const char *locale_dir(char *buf, size_t len)
{
    const char *env = getenv("FIELDSYNC_LOCALEDIR");
    if (env && *env) return env;
    ssize_t n = readlink("/proc/self/exe", buf, len - 1);
    if (n > 0 && (size_t)n < len - 1) {
        buf[n] = '\0';
        char *slash = strrchr(buf, '/');        /* .../bin/fieldsync */
        if (slash) *slash = '\0';
        slash = strrchr(buf, '/');              /* .../bin */
        const char *tail = "/share/locale";
        if (slash && (size_t)(slash - buf) + strlen(tail) < len) {
            strcpy(slash, tail);
            if (access(buf, X_OK) == 0) return buf;
        }
    }
    return CLI_LOCALEDIR_INSTALLED;
}

void cli_i18n_init(void)
{
    /* Character handling: always UTF-8 (see above). */
    if (!setlocale(LC_CTYPE, "C.UTF-8")) setlocale(LC_CTYPE, "");
    if (!setlocale(LC_MESSAGES, "")) {
        const char *want = messages_env();
        const char *lang = getenv("LANGUAGE");
        if (want && strcmp(want, "C") != 0 && strcmp(want, "POSIX") != 0 &&
            strncmp(want, "C.", 2) != 0 && !(lang && *lang)) {
            char l[64];
            language_of(want, l, sizeof l);
            if (*l) setenv("LANGUAGE", l, 1);
        }
        setlocale(LC_MESSAGES, "C.UTF-8");
    }
    char dir[4096];
    bindtextdomain(CLI_DOMAIN, locale_dir(dir, sizeof dir));
    bind_textdomain_codeset(CLI_DOMAIN, "UTF-8");
    textdomain(CLI_DOMAIN);
}

int cli_zh_labels(void)
{
    /* TRANSLATORS: which of a stage's or custom field's two labels to
       show: "zh" shows the Chinese label (label_zh), anything else the
       English one.  Not shown to the user. */
    return strcmp(_("data-label-language:en"), "zh") == 0;
}

const char *cli_pgettext(const char *context, const char *msgid)
{
    /* gettext's own encoding of a context: "CONTEXT\004MSGID". */
    char key[256];
    int n = snprintf(key, sizeof key, "%s\004%s", context, msgid);
    if (n < 0 || (size_t)n >= sizeof key) return msgid;
    const char *t = gettext(key);
    return t == key ? msgid : t;
}

/* ---- Words ------------------------------------------------------------------- */
static const char *const table_words[][2] = {
    {"customer", NC_("record", "customer")},
    {"followup", NC_("record", "follow-up")},
    {"follow-up", NC_("record", "follow-up")},
    {"plan", NC_("record", "plan")},
    {"feedback", NC_("record", "feedback")},
    {"conflict", NC_("record", "conflict")},
    {"stagechg", NC_("record", "stage change")},
    {"stage change", NC_("record", "stage change")},
    {"fielddef", NC_("record", "field definition")},
    {"stagedef", NC_("record", "stage definition")},
    {"field definition", NC_("record", "field definition")},
    {"stage definition", NC_("record", "stage definition")},
    {"share", NC_("record", "share")},
};

const char *cli_table_word(const char *table)
{
    for (size_t i = 0; i < sizeof table_words / sizeof table_words[0]; i++)
        if (strcmp(table_words[i][0], table) == 0)
            return cli_pgettext("record", table_words[i][1]);
    return table;
}

/* Field names as core and the CLI use them in messages: the key, or the
** English words core writes. */
static const char *const field_words[][2] = {
    {"name", NC_("field", "name")}, {"phone", NC_("field", "phone")},
    {"email", NC_("field", "email")}, {"wechat", NC_("field", "wechat")},
    {"company", NC_("field", "company")}, {"title", NC_("field", "title")},
    {"birthday", NC_("field", "birthday")}, {"notes", NC_("field", "notes")},
    {"owner", NC_("field", "owner")}, {"stage", NC_("field", "stage")},
    {"cycle", NC_("field", "cycle")}, {"amount", NC_("field", "amount")},
    {"expected_close", NC_("field", "expected close")},
    {"expected-close", NC_("field", "expected close")},
    {"tags", NC_("field", "tags")}, {"tag", NC_("field", "tag")},
    {"method", NC_("field", "method")}, {"content", NC_("field", "content")},
    {"result", NC_("field", "result")}, {"note", NC_("field", "note")},
    {"at", NC_("field", "time")}, {"time", NC_("field", "time")},
    {"due", NC_("field", "due time")}, {"date", NC_("field", "date")},
    {"user", NC_("field", "user name")}, {"choices", NC_("field", "choices")},
    {"field key", NC_("field", "field key")},
    {"label", NC_("field", "label")}, {"label_zh", NC_("field", "Chinese label")},
    {"type", NC_("field", "type")}, {"deleted", NC_("field", "deleted")},
    {"customer", NC_("field", "customer")}, {"done", NC_("field", "done")},
    {"from", NC_("field", "from stage")}, {"to", NC_("field", "to stage")},
    {"WeChat id", NC_("field", "WeChat id")},
    {"stage key", NC_("field", "stage key")},
};

const char *cli_field_word(const char *field)
{
    for (size_t i = 0; i < sizeof field_words / sizeof field_words[0]; i++)
        if (strcmp(field_words[i][0], field) == 0)
            return cli_pgettext("field", field_words[i][1]);
    return field;
}

/* ---- Core's messages ----------------------------------------------------------
** Core stays free of gettext (it is also the phones' library and the
** server's, which have their own languages) and says what went wrong with
** an error code plus one English detail line naming the field and value
** (fds_errmsg).  The CLI translates at its edge, in two steps:
**
**  1. The details a rep meets in daily work (an invalid phone, amount or
**     date, a missing name, a stage that needs a note, an unknown or
**     ambiguous id...) are matched against core's English formats below
**     and rebuilt from the pieces in the rep's language, the field names
**     and reasons translated by word tables.  These formats mirror
**     core/src (validate.c, ids.c, customer.c, activity.c, defs.c); if
**     core rewords one, the match fails and step 2 applies, so the worst
**     case is a less translated message, never a wrong one
**     (tests/cli/test_zh.c pins the common ones).
**  2. Anything else: the code's text translated, then core's detail as
**     it is ("输入无效：<English detail>"), so nothing that names the
**     problem is lost.
**
** Codes alone (step 2 without the detail) would drop the field and value
** the rep needs; adding a message catalog of ids to core would put
** language concerns into the library every platform embeds.  In English
** the detail is printed exactly as core wrote it. */

/* Does s match pat, where each "%s" in pat stands for one or more
** characters?  The pieces go to cap (up to 4, each capn bytes). */
static int match(const char *pat, const char *s, char cap[][256], int k)
{
    if (!*pat) return !*s;
    if (pat[0] == '%' && pat[1] == 's') {
        if (k >= 4) return 0;
        size_t n = strlen(s);
        for (size_t i = 1; i <= n; i++) {      /* shortest piece first */
            if (match(pat + 2, s + i, cap, k + 1)) {
                size_t c = i < 255 ? i : 255;
                memcpy(cap[k], s, c);
                cap[k][c] = '\0';
                return 1;
            }
        }
        return 0;
    }
    return *pat == *s && match(pat + 1, s + 1, cap, k);
}

enum { W_NONE = 0, W_FIELD, W_TABLE, W_WHY, W_STAGE };  /* how a piece is shown */

typedef struct core_pattern {
    const char *core;       /* core's English, "%s" for each piece */
    const char *msgid;      /* the translation's msgid, positional %N$s */
    int kind[4];            /* per piece: W_* */
} core_pattern;

static const core_pattern patterns[] = {
    { "invalid %s \"%s\": %s",
      /* TRANSLATORS: %1$s a field ("amount"), %2$s the value typed,
         %3$s the reason ("expected a number"). */
      N_("invalid %1$s \"%2$s\": %3$s"), {W_FIELD, W_NONE, W_WHY} },
    { "invalid %s: %s", N_("invalid %1$s: %2$s"), {W_FIELD, W_WHY} },
    { "no %s with id \"%s\"", N_("no %1$s with id \"%2$s\""), {W_TABLE, W_NONE} },
    { "empty %s id", N_("empty %s id"), {W_TABLE} },
    { "%s id \"%s\" is ambiguous: %s",
      /* TRANSLATORS: %1$s a record kind, %2$s the id prefix typed,
         %3$s the records it matches. */
      N_("%1$s id \"%2$s\" is ambiguous: %3$s"), {W_TABLE, W_NONE, W_NONE} },
    { "name is required", N_("name is required"), {0} },
    { "content is required", N_("content is required"), {0} },
    { "a plan needs a due time", N_("a plan needs a due time"), {0} },
    { "%s: %s is required", N_("%1$s: %2$s is required"), {W_TABLE, W_FIELD} },
    { "moving to stage \"%s\" needs a note saying why the customer was lost: "
      "use the stage command with --note",
      N_("moving to stage \"%s\" needs a note saying why the customer was lost: "
         "use the stage command with --note"), {W_STAGE} },
    { "moving to stage \"%s\" needs a note saying why the customer was lost",
      N_("moving to stage \"%s\" needs a note saying why the customer was lost: "
         "use the stage command with --note"), {W_STAGE} },
    { "moving out of stage \"%s\" needs a note saying why the won deal is "
      "reopened: use the stage command with --note",
      N_("moving out of stage \"%s\" needs a note saying why the won deal is "
         "reopened: use the stage command with --note"), {W_STAGE} },
    { "moving out of stage \"%s\" needs a note saying why the won deal is reopened",
      N_("moving out of stage \"%s\" needs a note saying why the won deal is "
         "reopened: use the stage command with --note"), {W_STAGE} },
    { "unknown stage \"%s\": expected one of %s",
      N_("unknown stage \"%1$s\": expected one of %2$s"), {W_NONE, W_NONE} },
    { "stage cannot be cleared: move the customer to another stage instead",
      N_("stage cannot be cleared: move the customer to another stage instead"), {0} },
    { "unknown field \"%s\": define it with `field add %s`",
      N_("unknown field \"%1$s\": define it with `field add %2$s`"), {W_NONE, W_NONE} },
    { "%s: a rep cannot change custom fields or stages (the server refuses "
      "it); ask a manager or an admin",
      N_("%s: a rep cannot change custom fields or stages (the server refuses "
         "it); ask a manager or an admin"), {W_NONE} },
    { "%s is too long: %s bytes (limit %s)",
      N_("%1$s is too long: %2$s bytes (limit %3$s)"), {W_FIELD, W_NONE, W_NONE} },
    { "too many tags: %s (limit %s)", N_("too many tags: %1$s (limit %2$s)"),
      {W_NONE, W_NONE} },
    { "a user name is required", N_("a user name is required"), {0} },
    { "the note is not valid UTF-8", N_("the note is not valid UTF-8"), {0} },
    { "the result is not valid UTF-8", N_("the result is not valid UTF-8"), {0} },
    { "a choice field needs at least one choice",
      N_("a choice field needs at least one choice"), {0} },
    { "no open conflict with id \"%s\"", N_("no open conflict with id \"%s\""), {W_NONE} },
    { "no replica path given", N_("no replica path given"), {0} },
    /* import's row errors (cmd_import.c) and the CSV reader's (csv.c):
    ** English in --json's "errors", translated on stderr */
    { "tags are not valid UTF-8", N_("tags are not valid UTF-8"), {0} },
    { "invalid cycle \"%s\" (days, 1..3650)",
      N_("invalid cycle \"%s\" (days, 1..3650)"), {W_NONE} },
    { "no customer: give the 客户 (customer_name) or 客户编号 (customer) column",
      N_("no customer: give the 客户 (customer_name) or 客户编号 (customer) column"), {0} },
    { "no customer named \"%s\" at \"%s\" (import the customers first)",
      N_("no customer named \"%1$s\" at \"%2$s\" (import the customers first)"),
      {W_NONE, W_NONE} },
    { "no customer named \"%s\" (import the customers first)",
      N_("no customer named \"%s\" (import the customers first)"), {W_NONE} },
    { "%s customers are named \"%s\": add the 公司 (company) or 客户编号 (customer) column",
      N_("%1$s customers are named \"%2$s\": add the 公司 (company) or 客户编号 "
         "(customer) column"), {W_NONE, W_NONE} },
    { "invalid time \"%s\" (use YYYY-MM-DD HH:MM or YYYY/M/D H:MM)",
      N_("invalid time \"%s\" (use YYYY-MM-DD HH:MM or YYYY/M/D H:MM)"), {W_NONE} },
    { "%s cells but the header has %s", N_("%1$s cells but the header has %2$s"),
      {W_NONE, W_NONE} },
    { "line %s: unterminated quoted cell", N_("line %s: unterminated quoted cell"),
      {W_NONE} },
    { "line %s: text after a closing quote", N_("line %s: text after a closing quote"),
      {W_NONE} },
    { "line %s: quote inside an unquoted cell (quote the whole cell and double the quote)",
      N_("line %s: quote inside an unquoted cell (quote the whole cell and double "
         "the quote)"), {W_NONE} },
    { "line %s: a NUL byte (not a text file; if it is UTF-16, save it as CSV UTF-8)",
      N_("line %s: a NUL byte (not a text file; if it is UTF-16, save it as CSV "
         "UTF-8)"), {W_NONE} },
    /* a warning of customer add/edit (rc FDS_OK) */
    { "%s \"%s\" already belongs to %s",
      /* TRANSLATORS: %1$s "phone" or "WeChat id", %2$s the number, %3$s
         the other customer. */
      N_("%1$s \"%2$s\" already belongs to %3$s"), {W_FIELD, W_NONE, W_NONE} },
};

/* Reasons core gives for an invalid value. */
static const char *const whys[] = {
    N_("expected a number (480000 or 480,000.50)"),
    N_("an amount cannot be negative"),
    N_("too large (limit 10^15)"),
    N_("expected 3-32 digits, spaces, +, -, ( or )"),
    N_("expected name@domain"),
    N_("expected a date YYYY-MM-DD or MM-DD"),
    N_("expected a date YYYY-MM-DD (or YYYY/M/D, today, 明天, mon..sun, 周一..周日)"),
    N_("expected a date YYYY-MM-DD"),
    N_("expected a number of days from 1 to 3650"),
    N_("expected a number"),
    N_("expected phone, email, visit, wechat, meeting or other, or a word for "
       "one (电话, 打电话, call; 邮件; 上门拜访, 拜访, 上门, 面谈, 走访; 微信, wx; "
       "会议, 视频会议, 腾讯会议; 其他, 短信)"),
    N_("user names are at most 64 bytes"),
    N_("expected a whole number"),
    N_("expected true or false"),
    N_("expected text"),
    N_("contains a NUL byte"),
    N_("expected a list of text"),
    N_("expected a JSON array of text"),
    N_("expected 0 or 1"),
};

static const char *why_text(const char *why, char *buf, size_t len)
{
    static const char one_of[] = "expected one of ";
    for (size_t i = 0; i < sizeof whys / sizeof whys[0]; i++)
        if (strcmp(whys[i], why) == 0) return _(whys[i]);
    if (strncmp(why, one_of, sizeof one_of - 1) == 0) {
        /* a choice field: the choices as core lists them */
        snprintf(buf, len, _("expected one of %s"), why + sizeof one_of - 1);
        return buf;
    }
    return why;     /* anything else as core says it */
}

/* Texts of core's codes (fds_errstr's, translated). */
static const char *code_text(int rc)
{
    switch (rc) {
    case FDS_NOMEM:      return _("out of memory");
    case FDS_INVALID:    return _("invalid input");
    case FDS_NOTFOUND:   return _("not found");
    case FDS_AMBIGUOUS:  return _("ambiguous id prefix");
    case FDS_DB:         return _("database error");
    case FDS_TOOBIG:     return _("too big");
    case FDS_PROTO:      return _("protocol violation");
    case FDS_PERM:       return _("permission refused");
    case FDS_SCHEMA:     return _("replica made by a newer fieldsync");
    case FDS_NOTREPLICA: return _("not a fieldsync replica");
    default:             return _("error");
    }
}

/* gettext returns its argument itself when there is no translation. */
static int translated(const char *msgid)
{
    return gettext(msgid) != msgid;
}

int cli_catalog_active(void)
{
    return translated("invalid %1$s \"%2$s\": %3$s");
}

const char *cli_record_text(const char *label, char *buf, size_t len)
{
    /* The forms of fds_record_label (core/src/customer.c): "WORD of
    ** CUSTOMER", "WORD ID", or the customer itself. */
    static const char *const defs[] = { "field definition ", "stage definition " };
    char cap[4][256];
    snprintf(buf, len, "%s", label);
    if (!cli_catalog_active()) return buf;
    for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++)
        if (strncmp(label, defs[i], strlen(defs[i])) == 0) {
            char word[64];
            snprintf(word, sizeof word, "%.*s", (int)strlen(defs[i]) - 1, defs[i]);
            /* TRANSLATORS: a record named by its kind and key ("field
               definition budget"). */
            snprintf(buf, len, _("%1$s %2$s"), cli_table_word(word),
                     label + strlen(defs[i]));
            return buf;
        }
    memset(cap, 0, sizeof cap);
    if (match("%s of %s", label, cap, 0) && cli_table_word(cap[0]) != cap[0])
        /* TRANSLATORS: %1$s a record kind ("follow-up"), %2$s its customer. */
        snprintf(buf, len, _("%1$s of %2$s"), cli_table_word(cap[0]), cap[1]);
    return buf;
}

const char *cli_field_text(fds_replica *r, const char *field, char *buf,
                           size_t len)
{
    /* a custom field: "f.KEY" in registers, "KEY" in core's messages */
    const char *key = strncmp(field, "f.", 2) == 0 ? field + 2 : field;
    json_t *defs = NULL, *d;
    size_t i;
    const char *out = NULL;
    if (r && fds_fielddef_list(r, &defs) == FDS_OK)
        json_array_foreach(defs, i, d) {
            if (strcmp(cli_str(d, "key"), key) != 0) continue;
            const char *zh = cli_str(d, "label_zh"), *en = cli_str(d, "label");
            const char *l = cli_zh_labels() && *zh ? zh : en;
            if (*l) { snprintf(buf, len, "%s", l); out = buf; }
        }
    json_decref(defs);
    return out ? out : cli_field_word(field);
}

/* A stage key by its label in the rep's language (r may be NULL). */
static const char *stage_text(fds_replica *r, const char *key, char *buf,
                              size_t len)
{
    json_t *stages = NULL;
    if (!r || fds_stagedef_list(r, &stages) != FDS_OK) return key;
    cli_stage_label(stages, key, buf, len);
    json_decref(stages);
    return buf;
}

const char *cli_core_text(const char *detail, int rc, char *buf, size_t len)
{
    return cli_core_text_r(NULL, detail, rc, buf, len);
}

const char *cli_core_text_r(fds_replica *r, const char *detail, int rc,
                            char *buf, size_t len)
{
    /* detail may be fds_errmsg(r)'s buffer, which reading the field
    ** definitions below could overwrite: work on a copy. */
    char copy[1024];
    if (detail) {
        snprintf(copy, sizeof copy, "%s", detail);
        detail = copy;
    }
    if (!detail || !*detail) {
        snprintf(buf, len, "%s", translated(fds_errstr(rc)) ? _(fds_errstr(rc))
                                                            : code_text(rc));
        return buf;
    }
    /* English (no catalog): core's words exactly. */
    if (!translated("invalid %1$s \"%2$s\": %3$s")) {
        snprintf(buf, len, "%s", detail);
        return buf;
    }
    for (size_t i = 0; i < sizeof patterns / sizeof patterns[0]; i++) {
        char cap[4][256], why[320], fld[4][160];
        memset(cap, 0, sizeof cap);
        if (!match(patterns[i].core, detail, cap, 0)) continue;
        const char *arg[4];
        for (int k = 0; k < 4; k++) {
            switch (patterns[i].kind[k]) {
            case W_FIELD: arg[k] = cli_field_text(r, cap[k], fld[k], sizeof fld[k]); break;
            case W_STAGE: arg[k] = stage_text(r, cap[k], fld[k], sizeof fld[k]); break;
            case W_TABLE: arg[k] = cli_table_word(cap[k]); break;
            case W_WHY:   arg[k] = why_text(cap[k], why, sizeof why); break;
            default:      arg[k] = cap[k]; break;
            }
        }
        /* Every msgid takes up to 4 string pieces, by position. */
        int n = snprintf(buf, len, _(patterns[i].msgid), arg[0], arg[1],
                         arg[2], arg[3]);
        if (n >= 0) return buf;
    }
    if (rc == FDS_OK) snprintf(buf, len, "%s", detail);     /* a warning */
    else snprintf(buf, len, _("%1$s: %2$s"), code_text(rc), detail);
    return buf;
}
