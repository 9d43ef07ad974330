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

/* Display column (CJK counts 2) at which `needle` starts in `line`, or -1. */
static int column_of(const char *line, const char *needle)
{
    const char *p = strstr(line, needle);
    if (!p) return -1;
    char head[1024];
    size_t n = (size_t)(p - line);
    if (n >= sizeof head) return -1;
    memcpy(head, line, n);
    head[n] = '\0';
    wchar_t wbuf[1024];
    size_t wn = mbstowcs(wbuf, head, 1024);
    assert_true(wn != (size_t)-1);
    return wcswidth(wbuf, wn);
}

/* The line of text that contains needle (copied into buf). */
static const char *line_with(const char *text, const char *needle, char *buf,
                             size_t len)
{
    const char *p = strstr(text, needle);
    if (!p) fail_msg("no \"%s\" in:\n%s", needle, text);
    const char *b = p;
    while (b > text && b[-1] != '\n') b--;
    size_t n = strcspn(b, "\n");
    if (n >= len) n = len - 1;
    memcpy(buf, b, n);
    buf[n] = '\0';
    return buf;
}

/* ---- Bad arguments: Chinese message, same exit code ------------------------- */
static void test_zh_usage_errors(void **state)
{
    (void)state;
    res r = zhraw("bogus");
    expect_refusal(&r, 2, "未知命令“bogus”");
    res_free(&r);
    r = zh("customer", "add", "--bogus", "x");
    expect_refusal(&r, 2, "未知选项 --bogus");
    res_free(&r);
    r = zh("customer", "add", "--phone", "13800138000");
    expect_refusal(&r, 2, "缺少 --name");
    res_free(&r);
    r = zh("customer", "show");
    expect_refusal(&r, 2, "缺少参数");
    res_free(&r);
    /* core's detail, rebuilt in Chinese from its pieces */
    r = zh("customer", "add", "--name", "张伟", "--amount", "十万");
    expect_refusal(&r, 2, "金额“十万”无效：应为数字");
    res_free(&r);
    r = zh("template", "apply", "software");
    expect(r, 0);
    res_free(&r);
    r = zh("customer", "add", "--name", "张伟", "--set", "seats=many");
    expect_refusal(&r, 2, "用户数“many”无效：应为数字");   /* its Chinese label */
    res_free(&r);
    r = zh("customer", "add", "--name", "张伟", "--email", "abc");
    expect_refusal(&r, 2, "邮箱“abc”无效");
    res_free(&r);
    r = zh("customer", "show", "ffff");
    expect_refusal(&r, 3, "没有编号为“ffff”的客户");
    res_free(&r);
    r = zh("plan", "ffff", "--at", "某天");
    expect_refusal(&r, 2, "时间“某天”无效");
    res_free(&r);
    char *id = add("王芳", NULL, NULL);
    r = zh("stage", id, "lost");
    expect_refusal(&r, 2, "进入“流失 lost”阶段需要写明客户流失的原因");
    res_free(&r);
    /* the same refusals in English, for comparison: same codes */
    r = fs("customer", "show", "ffff");
    expect_refusal(&r, 3, "no customer with id \"ffff\"");
    res_free(&r);
    free(id);
}

/* An ambiguous id prefix names the candidates, in Chinese. */
static void test_zh_ambiguous_prefix(void **state)
{
    (void)state;
    /* 17 customers: two of them share the first hex digit of their id */
    char *ids[17];
    char pre[2] = "";
    for (int i = 0; i < 17 && !*pre; i++) {
        char name[32];
        snprintf(name, sizeof name, "客户%d", i);
        ids[i] = add(name, NULL, NULL);
        for (int j = 0; j < i && !*pre; j++)
            if (ids[j][0] == ids[i][0]) pre[0] = ids[i][0];
        if (*pre) for (int k = i + 1; k < 17; k++) ids[k] = NULL;
    }
    assert_true(*pre);
    res r = zh("customer", "show", pre);
    expect_refusal(&r, 2, "不唯一，可能是：");
    has(r.err, "客户编号“");
    res_free(&r);
    for (int i = 0; i < 17; i++) free(ids[i]);
}

/* import: the row errors in Chinese on stderr, English in --json. */
static void test_zh_import_errors(void **state)
{
    (void)state;
    write_file(path_in("a.csv"), "姓名,邮箱,电话\r\n王五,abc,13700000001\r\n赵六,,13700000002\r\n");
    res r = zh("import", path_in("a.csv"));
    expect(r, 2);
    has(r.err, "第 2 行：邮箱“abc”无效：应为 name@domain 格式");
    has(r.err, "未导入任何数据：1 行无效");
    res_free(&r);
    r = zh("--json", "import", path_in("a.csv"), "--skip-invalid");
    expect(r, 0);
    json_t *e = json_array_get(json_object_get(r.json, "errors"), 0);
    assert_string_equal(jstr(e, "error"), "invalid email \"abc\": expected name@domain");
    res_free(&r);
    r = zh("import", path_in("a.csv"), "--skip-invalid");
    expect(r, 0);
    has(r.out, "第 3 行：按电话匹配到 赵六");
    has(r.out, "已导入：新建 0，更新 0，未变 1，跳过 1");
    res_free(&r);
}

/* ---- customer add / list / show ---------------------------------------------- */
static void test_zh_customers(void **state)
{
    (void)state;
    res r = zh("customer", "add", "--name", "张伟", "--phone", "13800138000",
               "--company", "华星科技", "--amount", "480000", "--cycle", "30");
    expect(r, 0);
    has(r.out, "已添加客户 张伟");
    res_free(&r);
    r = zh("customer", "add", "--name", "Li Na", "--phone", "13900000000",
           "--company", "Acme Ltd");
    expect(r, 0);
    res_free(&r);
    r = zh("customer", "add", "--name", "赵六", "--phone", "13800138000");
    expect(r, 0);
    has(r.err, "警告：电话“13800138000”已属于客户 张伟");     /* core's warning */
    res_free(&r);

    r = zh("customer", "list");
    expect(r, 0);
    const char *hdr[] = { "编号", "姓名", "公司", "电话", "阶段", "金额", "下次计划",
                          "最近跟进", "负责人" };
    for (size_t i = 0; i < 9; i++) has(r.out, hdr[i]);
    hasnt(r.out, "COMPANY");
    has(r.out, "新线索");                 /* the stage's Chinese label */
    has(r.out, "共 3 位客户");
    has(r.out, "有未同步的修改");
    /* Chinese headers line up with the cells below them (display columns,
    ** CJK counts 2), with Chinese and Latin names mixed. */
    char h[1024], l[1024];
    line_with(r.out, "姓名", h, sizeof h);
    int c_company = column_of(h, "公司"), c_phone = column_of(h, "电话"),
        c_amount = column_of(h, "金额");
    assert_true(c_company > 0 && c_phone > c_company && c_amount > c_phone);
    assert_int_equal(column_of(line_with(r.out, "华星科技", l, sizeof l), "华星科技"), c_company);
    assert_int_equal(column_of(line_with(r.out, "Acme Ltd", l, sizeof l), "Acme Ltd"), c_company);
    assert_int_equal(column_of(line_with(r.out, "13900000000", l, sizeof l), "13900000000"), c_phone);
    assert_int_equal(column_of(line_with(r.out, "华星科技", l, sizeof l), "13800138000"), c_phone);
    assert_int_equal(column_of(line_with(r.out, "480,000", l, sizeof l), "480,000"), c_amount);
    res_free(&r);

    r = zh("--json", "customer", "list", "--search", "华星");
    expect(r, 0);
    char id[40];
    snprintf(id, sizeof id, "%s", jstr(json_array_get(r.json, 0), "id"));
    res_free(&r);
    r = zh("customer", "show", id);
    expect(r, 0);
    const char *parts[] = { "基本信息", "电话", "公司", "金额", "跟进周期", "30 天",
                            "跟进记录", "（无）", "销售进展", "[新线索 lead]",
                            "下次跟进", "没有待办的跟进计划" };
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) has(r.out, parts[i]);
    hasnt(r.out, "Basic info");
    res_free(&r);

    r = zh("customer", "edit", id, "--title", "采购总监");
    expect(r, 0);
    has(r.out, "已更新客户 张伟");
    res_free(&r);
}

/* ---- followup add, plan, stage, today ---------------------------------------- */
static void test_zh_activity_and_today(void **state)
{
    (void)state;
    char *id = add("周杰", "--company", "华星科技");
    res r = zh("customer", "edit", id, "--birthday", "1990-12-03", "--cycle", "7");
    expect(r, 0);
    res_free(&r);
    r = zh("followup", "add", id, "--method", "上门拜访", "--content", "演示了新版本",
           "--result", "约下周报价", "--at", "2026-11-01 10:00");
    expect(r, 0);
    has(r.out, "已为 周杰 (华星科技) 添加跟进记录");
    has(r.out, "2026-11-01 10:00");
    res_free(&r);
    /* the words people write, as typed (issue 11); an unknown one is
    ** refused naming the methods and their words, in Chinese */
    r = zh("followup", "add", id, "--method", "上门 拜访。", "--content", "看仓库",
           "--at", "2026-11-01 09:00");
    expect(r, 0);
    res_free(&r);
    r = zh("followup", "add", id, "--method", "传真", "--content", "x");
    expect(r, 2);      /* a refused value: exit 2 */
    has(r.err, "跟进方式“传真”无效");
    has(r.err, "上门拜访、拜访、上门");
    has(r.err, "微信、wx");
    res_free(&r);
    r = zh("followup", "add", "--help");
    expect(r, 0);
    has(r.out, "visit：上门拜访、拜访、上门、面谈、走访");
    res_free(&r);
    r = zh("plan", id, "--at", "2026-11-25 09:00", "--method", "phone",
           "--content", "确认报价");
    expect(r, 0);
    has(r.out, "已为 周杰 (华星科技) 添加跟进计划");
    res_free(&r);
    r = zh("stage", id, "intent");
    expect(r, 0);
    has(r.out, "周杰 (华星科技) 的阶段：新线索 lead → 意向确认 intent");
    res_free(&r);
    r = zh("stage", id, "intent");
    expect(r, 0);
    has(r.out, "已经处于“意向确认 intent”阶段，未做修改");
    res_free(&r);

    r = zh("today", "--date", "2026-12-01");
    expect(r, 0);
    has(r.out, "今日跟进 — 2026年12月1日 星期二");     /* Chinese date form */
    has(r.out, "待办跟进（1）");
    has(r.out, "电话");
    has(r.out, "（已逾期）");
    has(r.out, "近 7 天生日（1）");
    has(r.out, "2 天后");
    has(r.out, "久未跟进（1）");
    has(r.out, "天未跟进（周期 7 天）");
    hasnt(r.out, "overdue");
    hasnt(r.out, "Today");
    res_free(&r);
    /* the English title, for comparison */
    r = fs("today", "--date", "2026-12-01");
    expect(r, 0);
    has(r.out, "Today — 2026-12-01, Tuesday");
    has(r.out, "in 2 days");
    res_free(&r);

    r = zh("customer", "show", id);
    expect(r, 0);
    has(r.out, "拜访");
    has(r.out, "意向确认 intent");
    has(r.out, "方案制定");         /* the stage path in Chinese labels */
    res_free(&r);
    free(id);
}

/* ---- sync: not set up, and a server that is not there -------------------------- */
static void test_zh_sync_errors(void **state)
{
    (void)state;
    res r = zh("sync");
    expect_refusal(&r, 2, "尚未设置服务器");
    res_free(&r);
    r = zh("init", "--server", "http://x", "--token", "t");
    expect_refusal(&r, 2, "服务器地址“http://x”无效");
    res_free(&r);
    r = zh("init", "--server", "wss://127.0.0.1:1", "--token", "t", "--offline");
    expect(r, 0);
    has(r.out, "已保存 wss://127.0.0.1:1（离线");
    res_free(&r);
    /* port 1 on loopback: nothing listens, the connection is refused */
    const char *env[] = { "LANG=zh_CN.UTF-8", "FIELDSYNC_TIMEOUT=5", NULL };
    r = raw(env, "--db", g_db, "sync");
    expect_refusal(&r, 4, "无法连接服务器");     /* lws' reason may vary */
    res_free(&r);
}

/* ---- --json is the same document in every language ----------------------------- */
static void same_json(const char *const *args)
{
    const char *argv[16];
    size_t n = 0;
    argv[n++] = "--db";
    argv[n++] = g_db;
    argv[n++] = "--json";
    for (size_t i = 0; args[i]; i++) argv[n++] = args[i];
    argv[n] = NULL;
    res en = run_argv(NULL, argv);
    res cn = run_argv(ZH, argv);
    if (en.code != cn.code || strcmp(en.out, cn.out) != 0)
        fail_msg("--json %s differs:\nC.UTF-8 (%d):\n%s\nzh_CN.UTF-8 (%d):\n%s",
                 args[0], en.code, en.out, cn.code, cn.out);
    assert_non_null(cn.json);
    res_free(&en);
    res_free(&cn);
}

static void test_zh_json_unchanged(void **state)
{
    (void)state;
    char *id = add("张伟", "--company", "华星科技");
    res r = fs("followup", "add", id, "--method", "visit", "--content", "拜访",
               "--at", "2026-11-20 10:00");
    expect(r, 0);
    res_free(&r);
    r = fs("plan", id, "--at", "2026-12-01", "--content", "报价");
    expect(r, 0);
    res_free(&r);
    r = fs("stage", id, "intent");
    expect(r, 0);
    res_free(&r);
    r = fs("template", "apply", "software");
    expect(r, 0);
    res_free(&r);
    const char *const cmds[][6] = {
        {"customer", "list", NULL}, {"customer", "show", id, NULL},
        {"today", "--date", "2026-12-01", NULL}, {"history", id, NULL},
        {"conflicts", NULL}, {"field", "list", NULL},
        {"export", "--format", "json", NULL},
        {"customer", "show", "ffff", NULL},         /* an error: no document */
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (i + 1 < sizeof cmds / sizeof cmds[0]) same_json(cmds[i]);
    /* the error case: same exit code, empty stdout in both */
    r = fs("--json", "customer", "show", "ffff");
    res z = zh("--json", "customer", "show", "ffff");
    assert_int_equal(r.code, 3);
    assert_int_equal(z.code, 3);
    assert_string_equal(r.out, z.out);
    res_free(&r);
    res_free(&z);
    /* a write: same document but for the new ids and times */
    r = zh("--json", "customer", "add", "--name", "李四", "--amount", "1,000");
    expect(r, 0);
    assert_int_equal(json_integer_value(json_object_get(r.json, "amount")), 1000);
    assert_string_equal(jstr(r.json, "stage"), "lead");
    res_free(&r);
    free(id);
}

/* ---- How the language is chosen ------------------------------------------------- */
static void test_zh_language_choice(void **state)
{
    (void)state;
    struct { const char *env[4]; int chinese; } cases[] = {
        { { "LANG=zh_CN.UTF-8", NULL }, 1 },
        { { "LANG=C.UTF-8", "LC_MESSAGES=zh_CN.UTF-8", NULL }, 1 },
        { { "LANG=zh_CN.UTF-8", "LC_ALL=C.UTF-8", NULL }, 0 },   /* LC_ALL wins */
        { { "LANG=C.UTF-8", "LANGUAGE=zh_CN", NULL }, 1 },       /* glibc's LANGUAGE */
        { { "LANG=C", "LANGUAGE=zh_CN", NULL }, 0 },   /* "C" ignores LANGUAGE */
        { { "LANG=en_US.UTF-8", NULL }, 0 },
        /* zh_CN.UTF-8 named but not installed (no locale-gen): still Chinese */
        { { "LANG=zh_CN.UTF-8", "LOCPATH=/nonexistent", NULL }, 1 },
        /* the catalog directory override: none there, so English */
        { { "LANG=zh_CN.UTF-8", "FIELDSYNC_LOCALEDIR=/nonexistent", NULL }, 0 },
        { { "LANG=zh_CN.UTF-8", "FIELDSYNC_LOCALEDIR=" LOCALEDIR_BUILD, NULL }, 1 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        res r = raw(cases[i].env, "--help");
        expect(r, 0);
        int chinese = strstr(r.out, "用法：") != NULL;
        if (chinese != cases[i].chinese)
            fail_msg("case %zu (%s %s): %s, want %s:\n%s", i, cases[i].env[0],
                     cases[i].env[1] ? cases[i].env[1] : "",
                     chinese ? "Chinese" : "English",
                     cases[i].chinese ? "Chinese" : "English", r.out);
        res_free(&r);
    }
}

/* An installed layout: PREFIX/bin/fieldsync finds PREFIX/share/locale, as
** /usr/bin/fieldsync finds /usr/share/locale (the package), wherever the
** prefix is unpacked. */
static void test_zh_installed_layout(void **state)
{
    (void)state;
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%1$s/p/bin' '%1$s/p/share/locale/zh_CN/LC_MESSAGES' && "
             "cp '%2$s' '%1$s/p/bin/fieldsync' && "
             "cp '%3$s/zh_CN/LC_MESSAGES/fieldsync.mo' "
             "'%1$s/p/share/locale/zh_CN/LC_MESSAGES/'",
             g_dir, FIELDSYNC_BIN, LOCALEDIR_BUILD);
    assert_int_equal(system(cmd), 0);
    char bin[700];
    snprintf(bin, sizeof bin, "%s/p/bin/fieldsync", g_dir);
    const char *argv[] = { "--db", g_db, "customer", "show", "ffff", NULL };
    /* run_argv runs FIELDSYNC_BIN: run the copy by hand, stderr to a file */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(path_in("installed.err"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 2);
        char *const envp[] = { "LANG=zh_CN.UTF-8", "PATH=/usr/bin:/bin", NULL };
        const char *args[8] = { bin };
        for (size_t i = 0; argv[i]; i++) args[i + 1] = argv[i];
        execve(bin, (char *const *)args, envp);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 3);
    size_t n;
    char *err = read_text(path_in("installed.err"), &n);
    has(err, "没有编号为“ffff”的客户");
    free(err);
}

#ifdef SERVER_BIN
/* ---- A real sync in Chinese: counts, a refused token, a refusal ------------------ */
static void test_zh_sync_with_server(void **state)
{
    (void)state;
    char cmd[2048], srv[700], url[64], ca[760], token[256] = "";
    snprintf(srv, sizeof srv, "%s/srv", g_dir);
    snprintf(ca, sizeof ca, "%s/ca.pem", srv);
    snprintf(cmd, sizeof cmd, "'%s' init --data '%s' --san 127.0.0.1 >/dev/null 2>&1",
             SERVER_BIN, srv);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "'%s' user add alice --role rep --data '%s' --json",
             SERVER_BIN, srv);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    json_t *u = json_loadf(p, 0, NULL);
    pclose(p);
    assert_non_null(u);
    snprintf(token, sizeof token, "%s", jstr(u, "token"));
    json_decref(u);
    int port = free_port();
    char listen[64], logp[760];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    snprintf(url, sizeof url, "wss://127.0.0.1:%d", port);
    snprintf(logp, sizeof logp, "%s/server.log", g_dir);
    g_server = spawn_logged(logp, (char *const[]){ SERVER_BIN, "serve",
                            "--data", srv, "--listen", listen, NULL }, NULL);
    for (int i = 0; i < 200 && !port_open(port); i++) usleep(50000);
    assert_true(port_open(port));

    char *id = add("张伟", "--company", "华星科技");
    res r = zh("init", "--server", url, "--token", token, "--ca", ca);
    expect(r, 0);
    has(r.out, "已连接：");
    has(r.out, "用户 alice");
    has(r.out, "推送 ");
    has(r.out, "个冲突");
    res_free(&r);
    r = zh("customer", "edit", id, "--title", "采购经理");
    expect(r, 0);
    res_free(&r);
    r = zh("sync");
    expect(r, 0);
    has(r.out, "推送 ");
    has(r.out, "拉取 ");
    res_free(&r);

    /* A rep's field definition, written by a replica that does not know
    ** its role (meta "role" forgotten): the server refuses it, and the
    ** refusal names the record and fields in Chinese. */
    {
        sqlite3 *db = NULL;
        assert_int_equal(sqlite3_open(g_db, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, "DELETE FROM meta WHERE key = 'role'",
                                      NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
    }
    r = zh("field", "add", "quota", "--label", "Quota", "--type", "number");
    expect(r, 0);
    has(r.out, "已定义字段 quota");
    res_free(&r);
    r = zh("sync");
    expect(r, 0);
    has(r.out, "被拒绝：字段定义 quota（");
    has(r.out, "类型");
    has(r.err, "警告：");
    has(r.err, "条修改被服务器拒绝");
    res_free(&r);
    /* now it knows it is a rep's: refused at once, in Chinese */
    r = zh("field", "add", "quota2", "--label", "Quota", "--type", "number");
    expect_refusal(&r, 5, "销售不能修改自定义字段或阶段");
    res_free(&r);

    /* a wrong token: exit 5, settings not changed */
    const char *c = path_in("c.db");
    const char *env[] = { "LANG=zh_CN.UTF-8", NULL };
    r = raw(env, "--db", c, "init", "--server", url, "--token", "fs_wrong", "--ca", ca);
    expect_refusal(&r, 5, "服务器拒绝了令牌");
    has(r.err, "设置未更改");
    res_free(&r);
    free(id);
}
#endif

/* English plurals go through ngettext too. */
static void test_en_plurals(void **state)
{
    (void)state;
    char *a = add("张伟", NULL, NULL);
    res r = fs("customer", "list");
    expect(r, 0);
    has(r.out, "1 customer ");
    res_free(&r);
    char *b = add("李四", NULL, NULL);
    r = fs("customer", "list");
    expect(r, 0);
    has(r.out, "2 customers");
    res_free(&r);
    free(a);
    free(b);
}

int main(void)
{
    setlocale(LC_CTYPE, "C.UTF-8");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_zh_help, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zh_usage_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zh_ambiguous_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zh_import_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zh_customers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zh_activity_and_today, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zh_sync_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zh_json_unchanged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zh_language_choice, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zh_installed_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_en_plurals, setup, teardown),
#ifdef SERVER_BIN
        cmocka_unit_test_setup_teardown(test_zh_sync_with_server, setup, teardown),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
