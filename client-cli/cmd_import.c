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
#include "cli.h"
#include "csv.h"

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
    {"销售阶段", "stage"}, {"跟进周期", "cycle"} };

/* ---- Import: reading and decoding ----------------------------------------- */
static int read_all(const cli_ctx *ctx, const char *path, char **buf, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) return cli_fail(ctx, CLI_NOTFOUND, "cannot open %s", path);
    size_t cap = 65536, n = 0;
    char *b = malloc(cap + 1);
    int rc = CLI_OK;
    while (b) {
        size_t k = fread(b + n, 1, cap - n, f);
        n += k;
        if (k == 0) break;
        if (n == cap) {
            if ((long)cap >= CLI_IMPORT_MAX) { rc = cli_fail(ctx, CLI_USAGE, "%s is over %ld MiB", path, CLI_IMPORT_MAX >> 20); break; }
            char *nb = realloc(b, 2 * cap + 1);
            if (!nb) { free(b); b = NULL; break; }
            b = nb;
            cap *= 2;
        }
    }
    if (!b) rc = cli_fail(ctx, CLI_FAIL, "out of memory");
    else if (ferror(f)) rc = cli_fail(ctx, CLI_FAIL, "cannot read %s", path);
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
    if (cli_utf8_valid(*buf, *len)) return CLI_OK;
    char *u;
    size_t ulen;
    if (cli_gb18030_to_utf8(*buf, *len, &u, &ulen) != 0)
        return cli_fail(ctx, CLI_USAGE, "%s is neither UTF-8 nor GB18030 text", path);
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
} import_state;

static void row_error(import_state *s, const char *where, long line,
                      const char *msg)
{
    json_t *e = json_pack("{s:I,s:s}", "line", (json_int_t)line, "error", msg);
    if (e) json_array_append_new(s->errors, e);
    cli_fail(s->ctx, CLI_USAGE, "%s %ld: %s", where, line, msg);
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
        } else if (json_equal(v, json_object_get(cur, k))) {
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
    if (id && *id && fds_customer_get(r, id, &cur) == FDS_OK) {
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
            size_t i;
            json_t *w;
            json_array_foreach(warn, i, w)
                cli_warn(s->ctx, "%s %ld: %s", where, line, json_string_value(w));
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

/* ---- Import: CSV and JSON ------------------------------------------------------- */
static int map_header(import_state *s, const cli_csv_row *hdr, const json_t *defs,
                      column *cols)
{
    for (size_t i = 0; i < hdr->n; i++) {
        char *h = hdr->cells[i];
        while (*h == ' ') h++;
        size_t n = strlen(h);
        while (n > 0 && h[n - 1] == ' ') h[--n] = '\0';
        const char *key = NULL;
        for (int k = 0; cli_std_cols[k] && !key; k++)
            if (strcasecmp(h, cli_std_cols[k]) == 0) key = cli_std_cols[k];
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
                return cli_fail(s->ctx, CLI_USAGE, "line %ld: unknown column \"%s\" "
                                "(not a customer field nor a defined custom field: see "
                                "fieldsync field list)", hdr->line, h);
        }
        for (size_t j = 0; j < i; j++)
            if (cols[j].kind == cols[i].kind && strcmp(cols[j].key, cols[i].key) == 0)
                return cli_fail(s->ctx, CLI_USAGE, "line %ld: column \"%s\" given twice",
                                hdr->line, h);
    }
    return CLI_OK;
}

static int import_csv(import_state *s, const char *buf, size_t len,
                      const json_t *defs)
{
    cli_csv c;
    cli_csv_row row = { NULL, 0, 0 };
    column *cols = NULL;
    size_t ncols = 0;
    char err[600];
    int rc = CLI_OK, n;
    cli_csv_init(&c, buf, len);
    n = cli_csv_next(&c, &row, err, sizeof err);
    if (n <= 0) {
        rc = n == 0 ? cli_fail(s->ctx, CLI_USAGE, "empty file: no header row")
                    : cli_fail(s->ctx, n == -2 ? CLI_FAIL : CLI_USAGE, "%s",
                               n == -2 ? "out of memory" : err);
        goto done;
    }
    ncols = row.n;
    cols = calloc(ncols, sizeof *cols);
    if (!cols) { rc = cli_fail(s->ctx, CLI_FAIL, "out of memory"); goto done; }
    /* cols borrow keys from static tables and defs, never from the row. */
    if ((rc = map_header(s, &row, defs, cols))) goto done;
    while ((n = cli_csv_next(&c, &row, err, sizeof err)) == 1) {
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
                             n == -2 ? "out of memory" : err);
done:
    free(cols);
    cli_csv_row_clear(&row);
    return rc;
}

static int import_json(import_state *s, const char *buf, size_t len)
{
    json_error_t jerr;
    json_t *arr = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_array(arr)) {
        json_decref(arr);
        return cli_fail(s->ctx, CLI_USAGE, "line %d: %s", jerr.line,
                        arr ? "expected an array of customers" : jerr.text);
    }
    size_t i;
    json_t *c;
    char err[600];
    json_array_foreach(arr, i, c) {
        long rec = (long)i + 1;
        if (!json_is_object(c)) { row_error(s, "record", rec, "not an object"); continue; }
        json_t *in = json_object();
        int bad = 0;
        for (int k = 1; cli_std_cols[k] && !bad; k++) {
            json_t *v = json_object_get(c, cli_std_cols[k]);
            if (!v || json_is_null(v)) continue;
            column col = { COL_STD, cli_std_cols[k] };
            if (strcmp(cli_std_cols[k], "tags") == 0 && json_is_array(v)) {
                json_object_set(in, "tags", v);
                continue;
            }
            if (strcmp(cli_std_cols[k], "cycle") == 0 && json_is_integer(v)) {
                json_object_set(in, "cycle", v);
                continue;
            }
            col.kind = strcmp(cli_std_cols[k], "tags") == 0 ? COL_TAGS
                     : strcmp(cli_std_cols[k], "cycle") == 0 ? COL_CYCLE : COL_STD;
            char *t = cli_value_text(v);
            if (!t || set_cell(s, in, &col, t, err, sizeof err) != 0) bad = 1;
            free(t);
        }
        json_t *f = json_object_get(c, "fields");
        if (json_object_size(f) > 0 && !bad) {
            json_t *nf = json_object();
            const char *k;
            json_t *v;
            json_object_foreach(f, k, v) {
                char *t = cli_value_text(v);
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
    static const cli_opt opts[] = { {"skip-invalid", CLI_FLAG}, {NULL, 0} };
    cli_args a;
    char *buf = NULL;
    size_t len = 0;
    json_t *defs = NULL, *stages = NULL;
    import_state s;
    memset(&s, 0, sizeof s);
    s.ctx = ctx;
    s.errors = json_array();
    int rc = cli_args_parse(ctx, argc, argv, opts, 1, 1, &a);
    if (rc) goto done;
    const char *path = a.pos[0];
    s.skip_invalid = cli_has(&a, "skip-invalid");
    if ((rc = read_all(ctx, path, &buf, &len)) || (rc = decode(ctx, path, &buf, &len)))
        goto done;
    if ((rc = cli_open(ctx))) goto done;
    int frc = fds_fielddef_list(ctx->r, &defs);
    if (frc == FDS_OK) frc = fds_stagedef_list(ctx->r, &stages);
    if (frc == FDS_OK) frc = fds_begin(ctx->r);
    if (frc != FDS_OK) { rc = cli_core_fail(ctx, frc); goto done; }
    s.stages = stages;
    size_t lead = strspn(buf, " \t\r\n");
    rc = buf[lead] == '[' ? import_json(&s, buf, len) : import_csv(&s, buf, len, defs);
    size_t nerr = json_array_size(s.errors);
    s.skipped = (long)nerr;
    if (rc == CLI_OK && nerr > 0 && !s.skip_invalid) {
        fds_rollback(ctx->r);
        rc = cli_fail(ctx, CLI_USAGE, "nothing imported: %zu invalid row%s (fix them, "
                      "or pass --skip-invalid to import the others)", nerr,
                      nerr == 1 ? "" : "s");
        goto done;
    }
    if (rc != CLI_OK) { fds_rollback(ctx->r); goto done; }
    if ((frc = fds_commit(ctx->r)) != FDS_OK) { rc = cli_core_fail(ctx, frc); goto done; }
    if (ctx->json) {
        json_t *o = json_pack("{s:I,s:I,s:I,s:I,s:O}", "created", (json_int_t)s.created,
                              "updated", (json_int_t)s.updated,
                              "unchanged", (json_int_t)s.unchanged,
                              "skipped", (json_int_t)s.skipped, "errors", s.errors);
        rc = o ? cli_json_print(o) : CLI_FAIL;
        json_decref(o);
    } else {
        printf("Imported: %ld created, %ld updated, %ld unchanged, %ld skipped\n",
               s.created, s.updated, s.unchanged, s.skipped);
    }
done:
    free(buf);
    json_decref(defs);
    json_decref(stages);
    json_decref(s.errors);
    cli_args_free(&a);
    return rc;
}
