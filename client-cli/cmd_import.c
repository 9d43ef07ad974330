/*
** cmd_import.c — `import`: CSV in UTF-8 or GB18030 with English or Chinese
** headers, or an exported JSON file.
**
** Import is all-or-nothing: every row runs inside one fds_begin() and the
** whole batch is rolled back if any row is invalid, unless --skip-invalid
** (each core call is its own savepoint, so a refused row leaves nothing).
** Empty cells leave a field unchanged; a row whose id exists updates that
** customer, writing only the fields that differ; other rows create new
** customers (with new ids: ids are random and owned by the replica).
*/
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "cli.h"
#include "csv.h"
#include "sheet_csv.h"

#define CLI_IMPORT_MAX (64L * 1024 * 1024)  /* bytes in one import file */

/* Chinese (and other common) headers of hand-made sheets. */
static const char *const aliases[][2] = {
    {"编号", "id"}, {"姓名", "name"}, {"名字", "name"}, {"客户", "name"},
    {"客户名称", "name"}, {"客户姓名", "name"}, {"电话", "phone"},
    {"手机", "phone"}, {"手机号", "phone"}, {"联系电话", "phone"},
    {"邮箱", "email"}, {"电子邮件", "email"}, {"邮件", "email"},
    {"微信", "wechat"}, {"微信号", "wechat"}, {"公司", "company"},
    {"公司名称", "company"}, {"职位", "title"}, {"职务", "title"},
    {"生日", "birthday"}, {"备注", "notes"}, {"偏好", "notes"},
    {"负责人", "owner"}, {"标签", "tags"}, {"阶段", "stage"},
    {"销售阶段", "stage"}, {"跟进周期", "cycle"}, {"金额", "amount"},
    {"预计金额", "amount"}, {"合同金额", "amount"}, {"成交金额", "amount"},
    {"商机金额", "amount"}, {"预计成交", "expected_close"},
    {"预计成交日期", "expected_close"}, {"预计签约日期", "expected_close"},
    {"expected close", "expected_close"} };

/* ---- Import: reading and decoding ----------------------------------------- */
static int read_all(const cli_ctx *ctx, const char *path, char **buf, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) return cli_fail(ctx, CLI_NOTFOUND, _("cannot open %s"), path);
    size_t cap = 65536, n = 0;
    char *b = malloc(cap + 1);
    int rc = CLI_OK;
    while (b) {
        size_t k = fread(b + n, 1, cap - n, f);
        n += k;
        if (k == 0) break;
        if (n == cap) {
            if ((long)cap >= CLI_IMPORT_MAX) { rc = cli_fail(ctx, CLI_USAGE, _("%s is over %ld MiB"), path, CLI_IMPORT_MAX >> 20); break; }
            char *nb = realloc(b, 2 * cap + 1);
            if (!nb) { free(b); b = NULL; break; }
            b = nb;
            cap *= 2;
        }
    }
    if (!b) rc = cli_fail(ctx, CLI_FAIL, _("out of memory"));
    else if (ferror(f)) rc = cli_fail(ctx, CLI_FAIL, _("cannot read %s"), path);
    if (f != stdin) fclose(f);
    if (rc) { free(b); return rc; }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return CLI_OK;
}

/* UTF-8 (BOM dropped) as is; anything else is taken as GB18030/GBK, as
** Excel on a Chinese Windows saves "CSV". */
static int decode(const cli_ctx *ctx, const char *path, char **buf, size_t *len)
{
    if (*len >= 3 && memcmp(*buf, "\xef\xbb\xbf", 3) == 0) {
        memmove(*buf, *buf + 3, *len - 3 + 1);
        *len -= 3;
    }
    if (fdt_utf8_valid(*buf, *len)) return CLI_OK;
    char *u;
    size_t ulen;
    if (fdt_gb18030_to_utf8(*buf, *len, &u, &ulen) != 0)
        return cli_fail(ctx, CLI_USAGE, _("%s is neither UTF-8 nor GB18030 text"), path);
    free(*buf);
    *buf = u;
    *len = ulen;
    return CLI_OK;
}

/* ---- Import: one row --------------------------------------------------------- */
enum { COL_STD = 0, COL_TAGS, COL_CYCLE, COL_FIELD, COL_ID };

typedef struct column {
    int kind;
    const char *key;        /* customer field or custom field key (borrowed) */
} column;

typedef struct import_state {
    cli_ctx *ctx;
    const json_t *stages;   /* to accept stage labels (意向确认) as keys */
    int skip_invalid;
    long created, updated, unchanged, skipped;
    json_t *errors;         /* [{"line","error"}] */
    /* Matching rows to customers the replica has (importing a sheet twice
    ** must not double it): phone digits -> id, WeChat id -> id. */
    json_t *by_phone, *by_wechat;
    json_t *matched;        /* [{"line","id","name","by"}] */
    int followups;          /* --followups: the file holds follow-ups */
    int followups_seen;     /* it did (flag or header) */
} import_state;

/* The digits of a phone number, without a leading China code (+86 or
** 0086), so "+86 138-0013-8000" and "13800138000" are one number. */
static void phone_key(const char *phone, char *out, size_t len)
{
    size_t n = 0;
    for (const char *p = phone; *p && n + 1 < len; p++)
        if (*p >= '0' && *p <= '9') out[n++] = *p;
    out[n] = '\0';
    if (n == 13 && strncmp(out, "86", 2) == 0) memmove(out, out + 2, n - 1);
    else if (n == 15 && strncmp(out, "0086", 4) == 0) memmove(out, out + 4, n - 3);
}

static void index_customer(import_state *s, const json_t *c)
{
    char key[64];
    const char *id = cli_str(c, "id");
    if (*cli_str(c, "phone")) {
        phone_key(cli_str(c, "phone"), key, sizeof key);
        if (strlen(key) >= 5 && !json_object_get(s->by_phone, key))
            json_object_set_new(s->by_phone, key, json_string(id));
    }
    if (*cli_str(c, "wechat") && !json_object_get(s->by_wechat, cli_str(c, "wechat")))
        json_object_set_new(s->by_wechat, cli_str(c, "wechat"), json_string(id));
}

static int index_customers(import_state *s)
{
    fds_query q;
    json_t *list = NULL;
    memset(&q, 0, sizeof q);
    int frc = fds_customer_list(s->ctx->r, &q, &list);
    if (frc != FDS_OK) return frc;
    size_t i;
    json_t *c;
    json_array_foreach(list, i, c) index_customer(s, c);
    json_decref(list);
    return FDS_OK;
}

/* Id of the customer this row is, and how it was recognised (NULL: new). */
static const char *match_row(import_state *s, const char *id, const json_t *in,
                             const char **by)
{
    static char full[128];
    json_t *cur = NULL;
    *by = NULL;
    if (id && *id && fds_customer_get(s->ctx->r, id, &cur) == FDS_OK) {
        snprintf(full, sizeof full, "%s", cli_str(cur, "id"));
        json_decref(cur);
        *by = "id";
        return full;
    }
    const char *phone = json_string_value(json_object_get(in, "phone"));
    if (phone) {
        char key[64];
        phone_key(phone, key, sizeof key);
        const char *hit = json_string_value(json_object_get(s->by_phone, key));
        if (hit) { *by = "phone"; return hit; }
    }
    const char *wx = json_string_value(json_object_get(in, "wechat"));
    const char *hit = wx ? json_string_value(json_object_get(s->by_wechat, wx)) : NULL;
    if (hit) { *by = "wechat"; return hit; }
    return NULL;
}

/* A csv.c error (English) in the rep's language; err is rewritten. */
static const char *csv_text(char *err)
{
    char human[600];
    snprintf(err, 600, "%s", cli_core_text(err, FDS_INVALID, human, sizeof human));
    return err;
}

/* "line" (where) for people. */
static const char *where_word(const char *where)
{
    static const char *const words[] = { NC_("import", "line") };
    return strcmp(where, words[0]) == 0 ? cli_pgettext("import", words[0]) : where;
}

/* A row's error: English in --json's "errors" (machine output), the rep's
** language on stderr (translated like core's messages, by cli_core_text:
** these texts come from core, csv.c and this file). */
static void row_error(import_state *s, const char *where, long line,
                      const char *msg)
{
    char human[1024];
    json_t *e = json_pack("{s:I,s:s}", "line", (json_int_t)line, "error", msg);
    if (e) json_array_append_new(s->errors, e);
    /* TRANSLATORS: %1$s "line", %2$ld its number, %3$s what is wrong. */
    cli_fail(s->ctx, CLI_USAGE, _("%1$s %2$ld: %3$s"), where_word(where), line,
             cli_core_text_r(s->ctx->r, msg, FDS_INVALID, human, sizeof human));
}

/* Stage given as a key or a label (English or Chinese) -> key (borrowed). */
static const char *stage_key(const json_t *stages, const char *v)
{
    size_t i;
    json_t *s;
    json_array_foreach(stages, i, s)
        if (strcasecmp(cli_str(s, "key"), v) == 0 ||
            strcasecmp(cli_str(s, "label"), v) == 0 ||
            strcmp(cli_str(s, "label_zh"), v) == 0)
            return cli_str(s, "key");
    return v;
}

/* Set in[key] from text; returns 0 or writes err. */
static int set_cell(const import_state *s, json_t *in, const column *col,
                    const char *v, char *err, size_t errlen)
{
    if (col->kind == COL_TAGS) {
        json_t *t = cli_split_tags(v);
        if (!t) { snprintf(err, errlen, "tags are not valid UTF-8"); return -1; }
        json_object_set_new(in, "tags", t);
    } else if (col->kind == COL_CYCLE) {
        char *end;
        long d = strtol(v, &end, 10);
        if (*end || d < 1 || d > 3650) {
            snprintf(err, errlen, "invalid cycle \"%s\" (days, 1..3650)", v);
            return -1;
        }
        json_object_set_new(in, "cycle", json_integer(d));
    } else if (col->kind == COL_FIELD) {
        json_t *f = json_object_get(in, "fields");
        if (!f) { f = json_object(); json_object_set_new(in, "fields", f); }
        json_object_set_new(f, col->key, json_string(v));
    } else {
        if (strcmp(col->key, "stage") == 0) v = stage_key(s->stages, v);
        json_object_set_new(in, col->key, json_string(v));
    }
    return 0;
}

/* Same value as text: a CSV cell "480000" is the number 480000. */
static int same_value(const json_t *a, const json_t *b)
{
    if (json_equal(a, b)) return 1;
    if (!a || !b || json_is_array(a) || json_is_array(b)) return 0;
    char *x = fdt_value_text(a), *y = fdt_value_text(b);
    int eq = x && y && strcmp(x, y) == 0;
    free(x);
    free(y);
    return eq;
}

/* Drop from in what cur already has, so re-importing an export writes
** nothing. */
static void drop_unchanged(json_t *in, const json_t *cur)
{
    const char *k;
    json_t *v, *tmp;
    json_object_foreach_safe(in, tmp, k, v) {
        if (strcmp(k, "fields") == 0) {
            const char *fk;
            json_t *fv, *ft;
            json_t *cf = json_object_get(cur, "fields");
            json_object_foreach_safe(v, ft, fk, fv)
                if (json_equal(fv, json_object_get(cf, fk)))
                    json_object_del(v, fk);
            if (json_object_size(v) == 0) json_object_del(in, k);
        } else if (same_value(v, json_object_get(cur, k))) {
            json_object_del(in, k);
        }
    }
}

/* Apply one record: update the customer with that id, or create one. */
static int apply_row(import_state *s, const char *where, long line,
                     const char *id, json_t *in)
{
    fds_replica *r = s->ctx->r;
    json_t *cur = NULL, *out = NULL, *warn = NULL;
    int frc;
    char msg[600];
    const char *by = NULL;
    const char *hit = match_row(s, id, in, &by);
    char full[128];
    if (hit) snprintf(full, sizeof full, "%s", hit);
    id = hit ? full : NULL;
    if (id && fds_customer_get(r, id, &cur) == FDS_OK) {
        json_t *m = json_pack("{s:I,s:s,s:s,s:s}", "line", (json_int_t)line,
                              "id", id, "name", cli_str(cur, "name"), "by", by);
        if (m) json_array_append_new(s->matched, m);
        /* the same number written another way ("+86 138-..." for
        ** "138...") is not a change */
        const char *np = json_string_value(json_object_get(in, "phone"));
        if (np && *cli_str(cur, "phone")) {
            char k1[64], k2[64];
            phone_key(np, k1, sizeof k1);
            phone_key(cli_str(cur, "phone"), k2, sizeof k2);
            if (strcmp(k1, k2) == 0) json_object_del(in, "phone");
        }
        drop_unchanged(in, cur);
        /* Stage and owner have their own operations (a stage change is a
        ** dated record of the pipeline; owner is a reassignment). */
        char *stage = NULL, *owner = NULL;
        if (json_is_string(json_object_get(in, "stage")))
            stage = strdup(json_string_value(json_object_get(in, "stage")));
        if (json_is_string(json_object_get(in, "owner")))
            owner = strdup(json_string_value(json_object_get(in, "owner")));
        json_object_del(in, "stage");
        json_object_del(in, "owner");
        frc = FDS_OK;
        if (json_object_size(in) > 0) frc = fds_customer_edit(r, id, in, &out);
        if (frc == FDS_OK && stage) frc = fds_stage_set(r, id, stage, "imported", NULL);
        if (frc == FDS_OK && owner) frc = fds_customer_assign(r, id, owner);
        int changed = json_object_size(in) > 0 || stage || owner;
        free(stage);
        free(owner);
        if (frc == FDS_OK) {
            if (changed) s->updated++;
            else s->unchanged++;
        }
    } else {
        frc = fds_customer_add(r, in, &out, &warn);
        if (frc == FDS_OK) {
            s->created++;
            index_customer(s, out);     /* a later row with its phone is it */
            size_t i;
            json_t *w;
            json_array_foreach(warn, i, w)
            {
                char human[1024];
                cli_warn(s->ctx, _("%1$s %2$ld: %3$s"), where_word(where), line,
                         cli_core_text(json_string_value(w), FDS_OK, human,
                                       sizeof human));
            }
        }
    }
    if (frc != FDS_OK) {
        snprintf(msg, sizeof msg, "%s", fds_errmsg(r));
        row_error(s, where, line, msg);
    }
    json_decref(cur);
    json_decref(out);
    json_decref(warn);
    return frc == FDS_OK ? 0 : -1;
}


/* ---- Import: follow-ups (跟进记录) ------------------------------------------ */
/* Headers of a follow-up sheet besides cli_followup_cols' keys and Chinese
** headers. */
static const char *const fu_aliases[][2] = {
    {"客户名称", "customer_name"}, {"客户姓名", "customer_name"},
    {"姓名", "customer_name"}, {"name", "customer_name"},
    {"公司名称", "company"}, {"方式", "method"}, {"联系方式", "method"},
    {"时间", "at"}, {"日期", "at"}, {"跟进日期", "at"}, {"time", "at"},
    {"内容", "content"}, {"沟通内容", "content"}, {"跟进情况", "content"},
    {"结果", "result"}, {"负责人", "author"}, {"销售", "author"},
    {"customer_id", "customer"} };

static const char *fu_key(const char *h)
{
    for (int k = 0; cli_followup_cols[k][0]; k++)
        if (strcasecmp(h, cli_followup_cols[k][0]) == 0 ||
            strcmp(h, cli_followup_cols[k][1]) == 0)
            return cli_followup_cols[k][0];
    for (size_t k = 0; k < sizeof fu_aliases / sizeof fu_aliases[0]; k++)
        if (strcasecmp(h, fu_aliases[k][0]) == 0) return fu_aliases[k][1];
    return NULL;
}

/* The customer a follow-up row belongs to: its id column, else its name
** (and company, when given) among the replica's customers. */
static int fu_customer(import_state *s, const json_t *row, char *out, size_t len,
                       char *err, size_t errlen)
{
    const char *cid = cli_str(row, "customer");
    json_t *c = NULL;
    if (*cid && fds_customer_get(s->ctx->r, cid, &c) == FDS_OK) {
        snprintf(out, len, "%s", cli_str(c, "id"));
        json_decref(c);
        return 0;
    }
    const char *name = cli_str(row, "customer_name"), *co = cli_str(row, "company");
    if (!*name) {
        snprintf(err, errlen, "no customer: give the 客户 (customer_name) or "
                 "客户编号 (customer) column");
        return -1;
    }
    fds_query q;
    json_t *list = NULL;
    memset(&q, 0, sizeof q);
    q.search = name;
    if (fds_customer_list(s->ctx->r, &q, &list) != FDS_OK) {
        snprintf(err, errlen, "%s", fds_errmsg(s->ctx->r));
        return -1;
    }
    size_t i, n = 0;
    json_t *e;
    json_array_foreach(list, i, e)
        if (strcmp(cli_str(e, "name"), name) == 0 &&
            (!*co || strcmp(cli_str(e, "company"), co) == 0)) {
            if (n++ == 0) snprintf(out, len, "%s", cli_str(e, "id"));
        }
    json_decref(list);
    if (n == 1) return 0;
    if (n == 0)
        snprintf(err, errlen, "no customer named \"%s\"%s%s%s (import the customers "
                 "first)", name, *co ? " at \"" : "", co, *co ? "\"" : "");
    else
        snprintf(err, errlen, "%zu customers are named \"%s\": add the 公司 (company) "
                 "or 客户编号 (customer) column", n, name);
    return -1;
}

/* One follow-up row {key: text}: update the follow-up with its id, skip
** one the customer already has (same time and content), or add it. */
static void apply_followup(import_state *s, const char *where, long line,
                           json_t *row)
{
    s->followups_seen = 1;
    fds_replica *r = s->ctx->r;
    char cust[128], err[600], at[40];
    json_t *in = json_object(), *sheet = NULL, *out = NULL;
    int64_t before = 0, after = 0;
    int frc = FDS_OK;
    if (fu_customer(s, row, cust, sizeof cust, err, sizeof err) != 0) {
        row_error(s, where, line, err);
        goto done;
    }
    static const char *const keys[] = {"method", "content", "result", NULL};
    for (int k = 0; keys[k]; k++)
        if (*cli_str(row, keys[k]))
            json_object_set_new(in, keys[k], json_string(cli_str(row, keys[k])));
    if (*cli_str(row, "at")) {
        int64_t ms;
        if (fds_time_parse_rel(cli_str(row, "at"), (int64_t)time(NULL) * 1000, &ms,
                               NULL) != FDS_OK) {
            snprintf(err, sizeof err, "invalid time \"%s\" (use YYYY-MM-DD HH:MM "
                     "or YYYY/M/D H:MM)", cli_str(row, "at"));
            row_error(s, where, line, err);
            goto done;
        }
        fds_time_format(ms, at, sizeof at);
        json_object_set_new(in, "at", json_string(at));
    }
    fds_outbox_count(r, &before);
    const char *fid = cli_str(row, "id");
    char *full = NULL;
    if (*fid && fds_resolve_id(r, "followup", fid, &full) == FDS_OK) {
        frc = fds_followup_edit(r, full, in, &out);
        fds_free(full);
        fds_outbox_count(r, &after);
        if (frc == FDS_OK) { if (after > before) s->updated++; else s->unchanged++; }
    } else {
        /* a hand-made sheet has no ids: the same visit imported twice is
        ** recognised by its customer, time and content */
        int dup = 0;
        if (fds_customer_sheet(r, cust, &sheet) == FDS_OK && json_object_get(in, "at")) {
            size_t i;
            json_t *f;
            json_array_foreach(json_object_get(sheet, "followups"), i, f)
                dup |= strcmp(cli_str(f, "at"), cli_str(in, "at")) == 0 &&
                       strcmp(cli_str(f, "content"), cli_str(in, "content")) == 0;
        }
        if (dup) {
            s->unchanged++;
        } else {
            frc = fds_followup_add(r, cust, in, &out);
            if (frc == FDS_OK) s->created++;
        }
    }
    if (frc != FDS_OK) row_error(s, where, line, fds_errmsg(r));
done:
    json_decref(in);
    json_decref(sheet);
    json_decref(out);
}

static int import_followups_csv(import_state *s, fdt_csv *c, fdt_csv_row *hdr)
{
    const char **keys = calloc(hdr->n + 1, sizeof *keys);
    fdt_csv_row row = { NULL, 0, 0 };
    char err[600];
    int rc = CLI_OK, n;
    if (!keys) return cli_fail(s->ctx, CLI_FAIL, _("out of memory"));
    for (size_t i = 0; i < hdr->n; i++) {
        keys[i] = fu_key(hdr->cells[i]);
        if (!keys[i] && *hdr->cells[i]) {
            rc = cli_fail(s->ctx, CLI_USAGE, _("line %ld: unknown follow-up column \"%s\" "
                          "(编号 客户编号 客户 公司 跟进时间 跟进方式 跟进内容 跟进结果 跟进人)"),
                          hdr->line, hdr->cells[i]);
            goto done;
        }
    }
    while ((n = fdt_csv_next(c, &row, err, sizeof err)) == 1) {
        json_t *o = json_object();
        int any = 0;
        for (size_t i = 0; i < hdr->n && i < row.n; i++) {
            fdt_csv_unguard(row.cells[i]);
            if (!keys[i] || !*row.cells[i]) continue;
            json_object_set_new(o, keys[i], json_string(row.cells[i]));
            any = 1;
        }
        if (any) apply_followup(s, "line", row.line, o);
        json_decref(o);
    }
    if (n < 0) rc = cli_fail(s->ctx, n == -2 ? CLI_FAIL : CLI_USAGE, "%s",
                             n == -2 ? _("out of memory") : csv_text(err));
done:
    free(keys);
    fdt_csv_row_clear(&row);
    return rc;
}

/* A header row that names a follow-up's content and no customer name is a
** follow-up sheet. */
static int is_followup_header(const fdt_csv_row *hdr)
{
    int content = 0, name = 0;
    for (size_t i = 0; i < hdr->n; i++) {
        const char *k = fu_key(hdr->cells[i]);
        content |= k && strcmp(k, "content") == 0;
        name |= strcasecmp(hdr->cells[i], "name") == 0 || strcmp(hdr->cells[i], "姓名") == 0;
    }
    return content && !name;
}

/* ---- Import: CSV and JSON ------------------------------------------------------- */
static int map_header(import_state *s, const fdt_csv_row *hdr, const json_t *defs,
                      column *cols)
{
    for (size_t i = 0; i < hdr->n; i++) {
        char *h = hdr->cells[i];
        while (*h == ' ') h++;
        size_t n = strlen(h);
        while (n > 0 && h[n - 1] == ' ') h[--n] = '\0';
        const char *key = NULL;
        for (int k = 0; fdt_customer_cols[k] && !key; k++)
            if (strcasecmp(h, fdt_customer_cols[k]) == 0) key = fdt_customer_cols[k];
        for (size_t k = 0; !key && k < sizeof aliases / sizeof aliases[0]; k++)
            if (strcmp(h, aliases[k][0]) == 0) key = aliases[k][1];
        if (key) {
            cols[i].key = key;
            cols[i].kind = strcmp(key, "id") == 0 ? COL_ID
                         : strcmp(key, "tags") == 0 ? COL_TAGS
                         : strcmp(key, "cycle") == 0 ? COL_CYCLE : COL_STD;
        } else {
            size_t k;
            json_t *d;
            json_array_foreach(defs, k, d)
                if (strcmp(h, cli_str(d, "key")) == 0 ||
                    (*cli_str(d, "label") && strcasecmp(h, cli_str(d, "label")) == 0) ||
                    (*cli_str(d, "label_zh") && strcmp(h, cli_str(d, "label_zh")) == 0)) {
                    cols[i].kind = COL_FIELD;
                    cols[i].key = cli_str(d, "key");
                    break;
                }
            if (!cols[i].key)
                return cli_fail(s->ctx, CLI_USAGE, _("line %ld: unknown column \"%s\" "
                                "(not a customer field nor a defined custom field: see "
                                "fieldsync field list)"), hdr->line, h);
        }
        for (size_t j = 0; j < i; j++)
            if (cols[j].kind == cols[i].kind && strcmp(cols[j].key, cols[i].key) == 0)
                return cli_fail(s->ctx, CLI_USAGE, _("line %ld: column \"%s\" given twice"),
                                hdr->line, h);
    }
    return CLI_OK;
}

static int import_csv(import_state *s, const char *buf, size_t len,
                      const json_t *defs, int followups)
{
    fdt_csv c;
    fdt_csv_row row = { NULL, 0, 0 };
    column *cols = NULL;
    size_t ncols = 0;
    char err[600];
    int rc = CLI_OK, n;
    fdt_csv_init(&c, buf, len);
    n = fdt_csv_next(&c, &row, err, sizeof err);
    if (n <= 0) {
        rc = n == 0 ? cli_fail(s->ctx, CLI_USAGE, "%s", _("empty file: no header row"))
                    : cli_fail(s->ctx, n == -2 ? CLI_FAIL : CLI_USAGE, "%s",
                               n == -2 ? _("out of memory") : csv_text(err));
        goto done;
    }
    for (size_t i = 0; i < row.n; i++) {     /* headers: edge spaces are layout */
        char *h = row.cells[i];
        size_t b = strspn(h, " "), e = strlen(h);
        while (e > b && h[e - 1] == ' ') e--;
        memmove(h, h + b, e - b);
        h[e - b] = '\0';
    }
    if (followups || is_followup_header(&row)) {
        rc = import_followups_csv(s, &c, &row);
        goto done;
    }
    ncols = row.n;
    cols = calloc(ncols, sizeof *cols);
    if (!cols) { rc = cli_fail(s->ctx, CLI_FAIL, _("out of memory")); goto done; }
    /* cols borrow keys from static tables and defs, never from the row. */
    if ((rc = map_header(s, &row, defs, cols))) goto done;
    while ((n = fdt_csv_next(&c, &row, err, sizeof err)) == 1) {
        if (row.n > ncols) {
            int extra = 0;
            for (size_t i = ncols; i < row.n; i++) extra |= row.cells[i][0] != '\0';
            if (extra) {
                snprintf(err, sizeof err, "%zu cells but the header has %zu", row.n, ncols);
                row_error(s, "line", row.line, err);
                continue;
            }
        }
        json_t *in = json_object();
        const char *id = NULL;
        int bad = 0, any = 0;
        for (size_t i = 0; i < ncols && i < row.n && !bad; i++) {
            fdt_csv_unguard(row.cells[i]);   /* the ' export put before = + - @ */
            const char *v = row.cells[i];    /* the reader trimmed unquoted cells */
            if (!*v) continue;
            any = 1;
            if (cols[i].kind == COL_ID) { id = v; continue; }
            if (set_cell(s, in, &cols[i], v, err, sizeof err) != 0) bad = 1;
        }
        if (bad) row_error(s, "line", row.line, err);
        else if (any) apply_row(s, "line", row.line, id, in);
        json_decref(in);
    }
    if (n < 0) rc = cli_fail(s->ctx, n == -2 ? CLI_FAIL : CLI_USAGE, "%s",
                             n == -2 ? _("out of memory") : csv_text(err));
done:
    free(cols);
    fdt_csv_row_clear(&row);
    return rc;
}

static int import_json(import_state *s, const char *buf, size_t len)
{
    json_error_t jerr;
    json_t *arr = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_array(arr)) {
        json_decref(arr);
        return cli_fail(s->ctx, CLI_USAGE, _("line %d: %s"), jerr.line,
                        arr ? _("expected an array of customers") : jerr.text);
    }
    size_t i;
    json_t *c;
    char err[600];
    json_t *first = json_array_get(arr, 0);
    if (s->followups || (json_object_get(first, "content") && !json_object_get(first, "name"))) {
        json_array_foreach(arr, i, c) {
            if (!json_is_object(c)) { row_error(s, "record", (long)i + 1, "not an object"); continue; }
            json_t *o = json_object();
            for (int k = 0; cli_followup_cols[k][0]; k++) {
                json_t *v = json_object_get(c, cli_followup_cols[k][0]);
                if (json_is_string(v)) json_object_set(o, cli_followup_cols[k][0], v);
            }
            apply_followup(s, "record", (long)i + 1, o);
            json_decref(o);
        }
        json_decref(arr);
        return CLI_OK;
    }
    json_array_foreach(arr, i, c) {
        long rec = (long)i + 1;
        if (!json_is_object(c)) { row_error(s, "record", rec, "not an object"); continue; }
        json_t *in = json_object();
        int bad = 0;
        for (int k = 1; fdt_customer_cols[k] && !bad; k++) {
            json_t *v = json_object_get(c, fdt_customer_cols[k]);
            if (!v || json_is_null(v)) continue;
            column col = { COL_STD, fdt_customer_cols[k] };
            if (strcmp(fdt_customer_cols[k], "tags") == 0 && json_is_array(v)) {
                json_object_set(in, "tags", v);
                continue;
            }
            if (strcmp(fdt_customer_cols[k], "cycle") == 0 && json_is_integer(v)) {
                json_object_set(in, "cycle", v);
                continue;
            }
            col.kind = strcmp(fdt_customer_cols[k], "tags") == 0 ? COL_TAGS
                     : strcmp(fdt_customer_cols[k], "cycle") == 0 ? COL_CYCLE : COL_STD;
            char *t = fdt_value_text(v);
            if (!t || set_cell(s, in, &col, t, err, sizeof err) != 0) bad = 1;
            free(t);
        }
        json_t *f = json_object_get(c, "fields");
        if (json_object_size(f) > 0 && !bad) {
            json_t *nf = json_object();
            const char *k;
            json_t *v;
            json_object_foreach(f, k, v) {
                char *t = fdt_value_text(v);
                if (t) json_object_set_new(nf, k, json_string(t));
                free(t);
            }
            json_object_set_new(in, "fields", nf);
        }
        if (bad) row_error(s, "record", rec, err);
        else apply_row(s, "record", rec, cli_str(c, "id"), in);
        json_decref(in);
    }
    json_decref(arr);
    return CLI_OK;
}

int cli_import(cli_ctx *ctx, int argc, char **argv)
{
    static const cli_opt opts[] = { {"skip-invalid", CLI_FLAG}, {"followups", CLI_FLAG},
                                    {NULL, 0} };
    cli_args a;
    char *buf = NULL;
    size_t len = 0;
    json_t *defs = NULL, *stages = NULL;
    import_state s;
    memset(&s, 0, sizeof s);
    s.ctx = ctx;
    s.errors = json_array();
    s.by_phone = json_object();
    s.by_wechat = json_object();
    s.matched = json_array();
    int rc = cli_args_parse(ctx, argc, argv, opts, 1, 1, &a);
    if (rc) goto done;
    const char *path = a.pos[0];
    s.skip_invalid = cli_has(&a, "skip-invalid");
    s.followups = cli_has(&a, "followups");
    if ((rc = read_all(ctx, path, &buf, &len)) || (rc = decode(ctx, path, &buf, &len)))
        goto done;
    if ((rc = cli_open(ctx))) goto done;
    int frc = fds_fielddef_list(ctx->r, &defs);
    if (frc == FDS_OK) frc = fds_stagedef_list(ctx->r, &stages);
    if (frc == FDS_OK) frc = fds_begin(ctx->r);
    if (frc != FDS_OK) { rc = cli_core_fail(ctx, frc); goto done; }
    s.stages = stages;
    if ((frc = index_customers(&s)) != FDS_OK) { fds_rollback(ctx->r); rc = cli_core_fail(ctx, frc); goto done; }
    size_t lead = strspn(buf, " \t\r\n");
    rc = buf[lead] == '[' ? import_json(&s, buf, len) : import_csv(&s, buf, len, defs, s.followups);
    size_t nerr = json_array_size(s.errors);
    s.skipped = (long)nerr;
    if (rc == CLI_OK && nerr > 0 && !s.skip_invalid) {
        fds_rollback(ctx->r);
        rc = cli_fail(ctx, CLI_USAGE,
                      ngettext("nothing imported: %zu invalid row (fix it, "
                               "or pass --skip-invalid to import the others)",
                               "nothing imported: %zu invalid rows (fix them, "
                               "or pass --skip-invalid to import the others)", nerr),
                      nerr);
        goto done;
    }
    if (rc != CLI_OK) { fds_rollback(ctx->r); goto done; }
    if ((frc = fds_commit(ctx->r)) != FDS_OK) { rc = cli_core_fail(ctx, frc); goto done; }
    if (ctx->json) {
        json_t *o = json_pack("{s:s,s:I,s:I,s:I,s:I,s:O,s:O}",
                              "records", s.followups_seen ? "followups" : "customers",
                              "created", (json_int_t)s.created,
                              "updated", (json_int_t)s.updated,
                              "unchanged", (json_int_t)s.unchanged,
                              "skipped", (json_int_t)s.skipped, "errors", s.errors,
                              "matched", s.matched);
        rc = o ? cli_json_print(o) : CLI_FAIL;
        json_decref(o);
    } else {
        /* Say which existing customers rows were taken as (and by what),
        ** so a wrong match is seen. */
        size_t i, nm = json_array_size(s.matched);
        json_t *m;
        json_array_foreach(s.matched, i, m) {
            if (i == 20) { printf(_("  … and %zu more matched\n"), nm - 20); break; }
            char idb[16];
            const char *by = cli_str(m, "by");
            /* TRANSLATORS: %1$lld a line of the file, %2$s the customer's
               name, %3$s its short id, %4$s "id", "phone" or "wechat". */
            printf(_("  line %1$lld: %2$s (%3$s) matched by %4$s\n"),
                   (long long)json_integer_value(json_object_get(m, "line")),
                   cli_str(m, "name"), cli_short(cli_str(m, "id"), idb),
                   strcmp(by, "id") == 0 ? C_("matched by", "id") : cli_field_word(by));
        }
        printf(s.followups_seen
               ? _("Imported follow-ups: %ld created, %ld updated, %ld unchanged, %ld skipped\n")
               : _("Imported: %ld created, %ld updated, %ld unchanged, %ld skipped\n"),
               s.created, s.updated, s.unchanged, s.skipped);
    }
done:
    free(buf);
    json_decref(defs);
    json_decref(stages);
    json_decref(s.errors);
    json_decref(s.by_phone);
    json_decref(s.by_wechat);
    json_decref(s.matched);
    cli_args_free(&a);
    return rc;
}
