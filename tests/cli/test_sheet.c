/*
** test_sheet.c — issue 13 through the real `fieldsync` binary: a rep fixes
** mistakes (follow-up and plan corrections, stage rules), types the dates
** people type, records the deal's money, finds and sorts customers, and
** moves sheets through Excel safely.
**
** The helpers (run the binary, inspect the replica, fixtures) are those of
** test_cli.c, included here without its main.
*/
#define TEST_CLI_NO_MAIN
#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wunused-function"
#endif
#include "test_cli.c"

#include <time.h>

/* Run and expect exit 0; returns the result (caller frees). */
static res ok(res r)
{
    expect(r, 0);
    return r;
}

static char *json_id(const json_t *o)
{
    return strdup(jstr(o, "id"));
}

/* ---- 1. Corrections ---------------------------------------------------------- */
static void test_followup_and_plan_corrections(void **state)
{
    (void)state;
    char *id = add("刘洋", "--company", "华星科技");
    char *other = add("张伟", NULL, NULL);
    char pre[8];
    snprintf(pre, sizeof pre, "%.4s", id);

    /* the confirmation names the customer a short prefix hit */
    res r = ok(fs("followup", "add", pre, "--method", "phone", "--content", "问候"));
    assert_non_null(strstr(r.out, "Added follow-up to 刘洋 (华星科技)"));
    res_free(&r);
    r = ok(fs("--json", "followup", "add", id, "--method", "visit", "--content", "演示"));
    char *fid = json_id(r.json);
    res_free(&r);

    /* edit: only the given fields change; the sheet shows the new text */
    r = ok(fs("followup", "edit", fid, "--content", "演示新版本", "--result", "下周报价"));
    assert_non_null(strstr(r.out, "刘洋 (华星科技)"));
    res_free(&r);
    r = ok(fs("--json", "customer", "show", id));
    json_t *f = json_array_get(json_object_get(r.json, "followups"), 0);
    int found = 0;
    size_t i;
    json_array_foreach(json_object_get(r.json, "followups"), i, f)
        if (strcmp(jstr(f, "id"), fid) == 0) {
            found = 1;
            assert_string_equal(jstr(f, "content"), "演示新版本");
            assert_string_equal(jstr(f, "result"), "下周报价");
            assert_string_equal(jstr(f, "method"), "visit");
        }
    assert_true(found);
    res_free(&r);
    /* a required field cannot be cleared; nothing is written */
    snap before = snapshot();
    r = fs("followup", "edit", fid, "--content", "");
    expect_refusal(&r, 2, "content");
    res_free(&r);
    same(before, snapshot());
    /* an edit that changes nothing writes nothing */
    r = ok(fs("followup", "edit", fid, "--content", "演示新版本"));
    res_free(&r);
    same(before, snapshot());

    /* delete: gone from the sheet, its id no longer resolves */
    r = ok(fs("followup", "delete", fid));
    assert_non_null(strstr(r.out, "Deleted follow-up of 刘洋"));
    res_free(&r);
    r = ok(fs("--json", "customer", "show", id));
    assert_int_equal(json_array_size(json_object_get(r.json, "followups")), 1);
    res_free(&r);
    r = fs("followup", "delete", fid);
    expect(r, 3);
    res_free(&r);

    /* plans: edit the time, done with a result, delete */
    r = ok(fs("--json", "plan", id, "--at", "2026-12-05 10:00", "--content", "确认报价"));
    char *pid = json_id(r.json);
    res_free(&r);
    r = ok(fs("--json", "plan", "edit", pid, "--at", "2026-12-06 15:00", "--method", "电话"));
    assert_string_equal(jstr(r.json, "due"), "2026-12-06T07:00:00Z");
    assert_string_equal(jstr(r.json, "method"), "phone");
    assert_string_equal(jstr(r.json, "content"), "确认报价");
    res_free(&r);
    r = ok(fs("plan", "done", pid, "--result", "客户同意下周签约"));
    assert_non_null(strstr(r.out, "刘洋 (华星科技)"));
    assert_non_null(strstr(r.out, "客户同意下周签约"));
    res_free(&r);
    r = ok(fs("--json", "customer", "show", id));
    json_t *p = json_array_get(json_object_get(r.json, "plans"), 0);
    assert_true(json_is_true(json_object_get(p, "done")));
    assert_string_equal(jstr(p, "result"), "客户同意下周签约");
    res_free(&r);
    r = ok(fs("plan", "delete", pid));
    res_free(&r);
    r = ok(fs("--json", "customer", "show", id));
    assert_int_equal(json_array_size(json_object_get(r.json, "plans")), 0);
    res_free(&r);

    /* the wrong customer stays untouched throughout */
    r = ok(fs("--json", "customer", "show", other));
    assert_int_equal(json_array_size(json_object_get(r.json, "followups")), 0);
    res_free(&r);
    free(pid);
    free(fid);
    free(id);
    free(other);
}

static void test_stage_rules(void **state)
{
    (void)state;
    char *id = add("王芳", NULL, NULL);
    res r = ok(fs("stage", id, "won"));
    res_free(&r);
    /* already there: exit 0, nothing written */
    snap before = snapshot();
    r = ok(fs("stage", id, "won"));
    assert_non_null(strstr(r.out, "already"));
    res_free(&r);
    r = ok(fs("--json", "stage", id, "成交"));
    assert_true(json_is_true(json_object_get(r.json, "unchanged")));
    res_free(&r);
    same(before, snapshot());
    /* leaving won needs a note, as entering lost does */
    r = fs("stage", id, "contract");
    expect_refusal(&r, 2, "won");
    res_free(&r);
    same(before, snapshot());
    r = ok(fs("stage", id, "contract", "--note", "合同作废，重新谈"));
    res_free(&r);
    r = fs("stage", id, "lost");
    expect_refusal(&r, 2, "note");
    res_free(&r);
    free(id);
}

/* ---- 2. Dates ---------------------------------------------------------------- */
/* Local (Asia/Shanghai, as the children run) date n days from now. */
static void shanghai_day(int n, char out[16])
{
    time_t t = time(NULL) + (time_t)n * 86400 + 8 * 3600;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 16, "%Y-%m-%d", &tm);
}

static void test_dates_people_type(void **state)
{
    (void)state;
    char *id = add("赵磊", NULL, NULL);
    char d0[16], d1[16], d2[16];
    shanghai_day(0, d0);
    shanghai_day(1, d1);
    shanghai_day(2, d2);
    static const struct { const char *in; int plus; const char *tail; } cases[] = {
        {"today", 0, NULL}, {"今天", 0, NULL}, {"tomorrow", 1, NULL},
        {"明天", 1, NULL}, {"后天", 2, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        res r = ok(fs("--json", "plan", id, "--at", cases[i].in));
        const char *want = cases[i].plus == 0 ? d0 : cases[i].plus == 1 ? d1 : d2;
        /* a day without a time is stored as that day */
        if (strcmp(jstr(r.json, "due"), want) != 0)
            fail_msg("%s: due %s, want %s", cases[i].in, jstr(r.json, "due"), want);
        res_free(&r);
    }
    /* 明天 14:00 is 06:00Z in Shanghai */
    res r = ok(fs("--json", "plan", id, "--at", "明天 14:00"));
    char want[40];
    snprintf(want, sizeof want, "%sT06:00:00Z", d1);
    assert_string_equal(jstr(r.json, "due"), want);
    res_free(&r);
    /* weekdays: the next one to come, 1..7 days ahead, English and Chinese */
    static const char *const wd[] = { "mon", "周二", "wed", "周四", "fri", "周六",
                                      "sun", "周日", "星期一" };
    for (size_t i = 0; i < sizeof wd / sizeof wd[0]; i++) {
        r = ok(fs("--json", "plan", id, "--at", wd[i]));
        const char *due = jstr(r.json, "due");
        int hit = 0;
        for (int k = 1; k <= 7; k++) {
            char dk[16];
            shanghai_day(k, dk);
            hit |= strcmp(due, dk) == 0;
        }
        if (!hit) fail_msg("%s: due %s is not within the next 7 days", wd[i], due);
        res_free(&r);
    }
    r = ok(fs("--json", "plan", id, "--at", "fri 09:30"));
    assert_non_null(strstr(jstr(r.json, "due"), "T01:30:00Z"));
    res_free(&r);
    /* Excel's dates */
    r = ok(fs("--json", "plan", id, "--at", "2026/12/5 14:00"));
    assert_string_equal(jstr(r.json, "due"), "2026-12-05T06:00:00Z");
    res_free(&r);
    r = ok(fs("--json", "plan", id, "--at", "2026/12/5"));
    assert_string_equal(jstr(r.json, "due"), "2026-12-05");
    res_free(&r);
    r = ok(fs("--json", "followup", "add", id, "--method", "phone", "--content", "x",
              "--at", "2026/1/9 8:05"));
    assert_string_equal(jstr(r.json, "at"), "2026-01-09T00:05:00Z");
    res_free(&r);
    /* a date-only plan is shown without a time */
    r = ok(fs("plan", id, "--at", "2026-12-24"));
    assert_non_null(strstr(r.out, "2026-12-24  "));
    assert_null(strstr(r.out, "2026-12-24 00:00"));
    res_free(&r);
    r = ok(fs("customer", "show", id));
    assert_null(strstr(r.out, "00:00"));
    res_free(&r);
    /* it is due that whole day, not overdue at 00:00 */
    r = ok(fs("--json", "today", "--date", "2026-12-24"));
    size_t i;
    json_t *p;
    int seen = 0;
    json_array_foreach(json_object_get(r.json, "plans"), i, p)
        if (strcmp(jstr(p, "due"), "2026-12-24") == 0) {
            seen = 1;
            assert_false(json_is_true(json_object_get(p, "overdue")));
        }
    assert_true(seen);
    res_free(&r);
    /* a bad one names itself */
    r = fs("plan", id, "--at", "someday");
    expect_refusal(&r, 2, "someday");
    res_free(&r);
    r = fs("plan", id, "--at", "2026/13/5");
    expect_refusal(&r, 2, "2026/13/5");
    res_free(&r);
    /* birthdays without a year keep working; Excel's with a year too */
    r = ok(fs("--json", "customer", "edit", id, "--birthday", "12-04"));
    assert_string_equal(jstr(r.json, "birthday"), "12-04");
    res_free(&r);
    r = ok(fs("--json", "customer", "edit", id, "--birthday", "1990/12/4"));
    assert_string_equal(jstr(r.json, "birthday"), "1990-12-04");
    res_free(&r);
    free(id);
}

/* ---- 3. Money ---------------------------------------------------------------- */
static void test_amount_and_expected_close(void **state)
{
    (void)state;
    res r = ok(fs("--json", "customer", "add", "--name", "华星科技采购",
                  "--amount", "480,000", "--expected-close", "2027/3/31"));
    char *id = json_id(r.json);
    json_t *a = json_object_get(r.json, "amount");
    assert_true(json_is_number(a));
    assert_true(json_number_value(a) == 480000);
    assert_string_equal(jstr(r.json, "expected_close"), "2027-03-31");
    res_free(&r);
    /* unset: null, present in every customer object */
    char *b = add("无金额", NULL, NULL);
    r = ok(fs("--json", "customer", "show", b));
    assert_true(json_is_null(json_object_get(r.json, "amount")));
    assert_true(json_is_null(json_object_get(r.json, "expected_close")));
    res_free(&r);
    r = ok(fs("--json", "customer", "list"));
    assert_non_null(json_object_get(json_array_get(r.json, 0), "amount"));
    res_free(&r);
    /* edit, clear, decimals */
    r = ok(fs("--json", "customer", "edit", id, "--amount", "12.5"));
    assert_true(json_number_value(json_object_get(r.json, "amount")) == 12.5);
    res_free(&r);
    r = ok(fs("--json", "customer", "edit", id, "--amount", ""));
    assert_true(json_is_null(json_object_get(r.json, "amount")));
    res_free(&r);
    r = ok(fs("customer", "edit", id, "--amount", "98000"));
    res_free(&r);
    r = ok(fs("customer", "show", id));
    assert_non_null(strstr(r.out, "98,000"));
    assert_non_null(strstr(r.out, "2027-03-31"));
    res_free(&r);
    /* refusals name the value and write nothing */
    snap before = snapshot();
    r = fs("customer", "edit", id, "--amount", "十万");
    expect_refusal(&r, 2, "十万");
    res_free(&r);
    r = fs("customer", "edit", id, "--amount", "-5");
    expect_refusal(&r, 2, "-5");
    res_free(&r);
    r = fs("customer", "edit", id, "--expected-close", "2027-02-30");
    expect_refusal(&r, 2, "2027-02-30");
    res_free(&r);
    same(before, snapshot());
    free(id);
    free(b);
}

/* ---- 4. Finding and sorting ---------------------------------------------- */
static size_t count_search(const char *q, const char *want_name)
{
    res r = ok(fs("--json", "customer", "list", "--search", q));
    size_t n = json_array_size(r.json), i;
    json_t *c;
    int seen = want_name == NULL;
    json_array_foreach(r.json, i, c)
        seen |= want_name && strcmp(jstr(c, "name"), want_name) == 0;
    if (!seen) fail_msg("--search %s did not find %s: %s", q, want_name, r.out);
    res_free(&r);
    return n;
}

static void test_search_pinyin_company_phone_followup(void **state)
{
    (void)state;
    char *zw = add("张伟", "--phone", "+86 138-0013-8000");
    char *lw = add("李伟", "--company", "远航物流");
    char *zx = add("曾小贤", NULL, NULL);
    res r = ok(fs("followup", "add", lw, "--method", "visit", "--content",
                  "带了样机演示冷链方案"));
    res_free(&r);
    /* pinyin: initials, full, mixed, any case, polyphonic surname */
    assert_int_equal(count_search("zw", "张伟"), 1);
    assert_int_equal(count_search("zhangwei", "张伟"), 1);
    assert_int_equal(count_search("ZhangW", "张伟"), 1);
    assert_int_equal(count_search("zhang wei", "张伟"), 1);
    assert_int_equal(count_search("wei", NULL), 2);          /* 张伟 and 李伟 */
    assert_int_equal(count_search("zxx", "曾小贤"), 1);
    assert_int_equal(count_search("zengxiaoxian", "曾小贤"), 1);
    assert_int_equal(count_search("qqq", NULL), 0);
    /* company, phone however it is typed, follow-up text */
    assert_int_equal(count_search("远航", "李伟"), 1);
    assert_int_equal(count_search("13800138000", "张伟"), 1);
    assert_int_equal(count_search("138 0013 8000", "张伟"), 1);
    assert_int_equal(count_search("冷链", "李伟"), 1);
    /* a deleted follow-up no longer finds its customer */
    r = ok(fs("--json", "customer", "show", lw));
    char *fid = json_id(json_array_get(json_object_get(r.json, "followups"), 0));
    res_free(&r);
    r = ok(fs("followup", "delete", fid));
    res_free(&r);
    assert_int_equal(count_search("冷链", NULL), 0);
    free(fid);
    free(zw);
    free(lw);
    free(zx);
}

static void test_list_sort_and_columns(void **state)
{
    (void)state;
    res r = ok(fs("--json", "customer", "add", "--name", "阿明", "--amount", "5000"));
    char *a = json_id(r.json);
    res_free(&r);
    r = ok(fs("--json", "customer", "add", "--name", "宝华", "--amount", "900000"));
    char *b = json_id(r.json);
    res_free(&r);
    char *c = add("陈晨", NULL, NULL);
    /* plans: b soonest, a later, c none; follow-ups: c long ago, a recent */
    r = ok(fs("plan", b, "--at", "2030-01-02 09:00")); res_free(&r);
    r = ok(fs("plan", a, "--at", "2030-03-01")); res_free(&r);
    r = ok(fs("followup", "add", c, "--method", "phone", "--content", "x",
              "--at", "2025-01-01 10:00")); res_free(&r);
    r = ok(fs("followup", "add", a, "--method", "phone", "--content", "y",
              "--at", "2026-06-01 10:00")); res_free(&r);

    const char *want[][3] = {
        {"name", "阿明", "宝华"}, {"amount", "宝华", "阿明"},
        {"next", "宝华", "阿明"}, {"last", "宝华", "陈晨"},
    };
    for (size_t i = 0; i < 4; i++) {
        r = ok(fs("--json", "customer", "list", "--sort", want[i][0]));
        assert_int_equal(json_array_size(r.json), 3);
        if (strcmp(jstr(json_array_get(r.json, 0), "name"), want[i][1]) ||
            strcmp(jstr(json_array_get(r.json, 1), "name"), want[i][2]))
            fail_msg("--sort %s: %s", want[i][0], r.out);
        res_free(&r);
    }
    /* the JSON carries the columns */
    r = ok(fs("--json", "customer", "list", "--sort", "next"));
    json_t *first = json_array_get(r.json, 0);
    assert_string_equal(jstr(first, "next_plan"), "2030-01-02T01:00:00Z");
    assert_true(json_is_null(json_object_get(first, "last_followup")));
    assert_string_equal(jstr(json_array_get(r.json, 1), "next_plan"), "2030-03-01");
    res_free(&r);
    /* the table shows them, aligned in display columns */
    r = ok(fs("customer", "list", "--sort", "amount"));
    assert_non_null(strstr(r.out, "NEXT PLAN"));
    assert_non_null(strstr(r.out, "LAST FOLLOW-UP"));
    assert_non_null(strstr(r.out, "900,000"));
    assert_non_null(strstr(r.out, "2030-01-02 09:00"));
    assert_non_null(strstr(r.out, "2030-03-01"));
    /* every row's AMOUNT starts at the header's display column */
    char *hdr = r.out;
    char *amt = strstr(hdr, "AMOUNT");
    size_t col = (size_t)(amt - hdr);
    char *line = strchr(hdr, '\n') + 1;
    char *row = strstr(line, "宝华");
    assert_non_null(row);
    char *row_start = row;
    while (row_start > r.out && row_start[-1] != '\n') row_start--;
    char *num = strstr(row_start, "900,000");
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%.*s", (int)(num - row_start), row_start);
    size_t w = 0;
    mbstate_t mb;
    memset(&mb, 0, sizeof mb);
    const char *p = tmp;
    wchar_t wc;
    size_t k;
    while ((k = mbrtowc(&wc, p, strlen(p), &mb)) > 0 && k < (size_t)-2) {
        w += (size_t)wcwidth(wc);
        p += k;
    }
    if (w != col) fail_msg("AMOUNT at column %zu, its value at %zu:\n%s", col, w, r.out);
    res_free(&r);
    r = fs("customer", "list", "--sort", "size");
    expect_refusal(&r, 2, "size");
    res_free(&r);
    free(a);
    free(b);
    free(c);
}

/* ---- 6. Method words --------------------------------------------------------- */
static void test_method_words(void **state)
{
    (void)state;
    char *id = add("周杰", NULL, NULL);
    static const char *const words[][2] = {
        {"上门拜访", "visit"}, {"拜访", "visit"}, {"打电话", "phone"},
        {"电话沟通", "phone"}, {"微信沟通", "wechat"}, {"视频会议", "meeting"},
        {"发邮件", "email"}, {"其他", "other"}, {"Visit", "visit"},
    };
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        res r = ok(fs("--json", "followup", "add", id, "--method", words[i][0],
                      "--content", "x"));
        if (strcmp(jstr(r.json, "method"), words[i][1]) != 0)
            fail_msg("%s -> %s, want %s", words[i][0], jstr(r.json, "method"),
                     words[i][1]);
        res_free(&r);
    }
    res r = fs("followup", "add", id, "--method", "飞鸽传书", "--content", "x");
    expect_refusal(&r, 2, "飞鸽传书");
    res_free(&r);
    free(id);
}

/* ---- 5. Data safety: CSV ------------------------------------------------- */
static void test_csv_formula_injection_and_phone(void **state)
{
    (void)state;
    res r = ok(fs("--json", "customer", "add", "--name", "=cmd|' /C calc'!A0",
                  "--phone", "+86 138-0013-8000", "--notes", "@SUM(A1)",
                  "--company", "-2+3", "--title", "'=already quoted"));
    char *id = json_id(r.json);
    res_free(&r);
    r = ok(fs("followup", "add", id, "--method", "phone", "--content",
              "=HYPERLINK(\"http://evil\",\"x\")"));
    res_free(&r);
    const char *csv = path_in("c.csv"), *fcsv = path_in("f.csv");
    r = ok(fs("export", "--out", csv)); res_free(&r);
    r = ok(fs("export", "--followups", "--out", fcsv)); res_free(&r);
    /* no data cell of either file starts with a formula trigger */
    const char *files[] = { csv, fcsv };
    for (int k = 0; k < 2; k++) {
        json_t *rows = csv_rows(files[k]);
        size_t i, j;
        json_t *row, *cell;
        json_array_foreach(rows, i, row) {
            if (i == 0) continue;
            json_array_foreach(row, j, cell) {
                const char *v = json_string_value(cell);
                const char *p = v;
                while (*p == ' ') p++;
                if (strchr("=+-@\t\r", *p) && *p)
                    fail_msg("%s: cell \"%s\" would run as a formula", files[k], v);
            }
        }
        json_decref(rows);
    }
    size_t len;
    char *text = read_text(csv, &len);
    assert_non_null(strstr(text, ",'+86 138-0013-8000,"));
    assert_non_null(strstr(text, "''=already quoted"));
    free(text);
    /* and back into a fresh replica: every value exactly as typed */
    const char *b = path_in("b.db");
    r = ok(raw(NULL, "--db", b, "import", csv)); res_free(&r);
    r = ok(raw(NULL, "--db", b, "import", fcsv)); res_free(&r);
    r = ok(raw(NULL, "--db", b, "--json", "customer", "list"));
    char *nid = json_id(json_array_get(r.json, 0));
    res_free(&r);
    r = ok(raw(NULL, "--db", b, "--json", "customer", "show", nid));
    assert_string_equal(jstr(r.json, "name"), "=cmd|' /C calc'!A0");
    assert_string_equal(jstr(r.json, "phone"), "+86 138-0013-8000");
    assert_string_equal(jstr(r.json, "notes"), "@SUM(A1)");
    assert_string_equal(jstr(r.json, "company"), "-2+3");
    assert_string_equal(jstr(r.json, "title"), "'=already quoted");
    json_t *f = json_array_get(json_object_get(r.json, "followups"), 0);
    assert_string_equal(jstr(f, "content"), "=HYPERLINK(\"http://evil\",\"x\")");
    res_free(&r);
    /* a hand-made sheet: leading spaces before a formula are not trimmed
    ** away to make one; an unmarked apostrophe stays */
    write_file(path_in("h.csv"), "name,notes\r\n王五,   =1+2\r\n赵六,'hello\r\n");
    r = ok(fs("--json", "import", path_in("h.csv")));
    res_free(&r);
    r = ok(fs("--json", "customer", "list", "--search", "赵六"));
    assert_string_equal(jstr(json_array_get(r.json, 0), "notes"), "'hello");
    res_free(&r);
    r = ok(fs("export", "--out", path_in("h2.csv")));
    res_free(&r);
    text = read_text(path_in("h2.csv"), &len);
    assert_null(strstr(text, ",=1+2"));
    assert_null(strstr(text, ",   =1+2"));
    free(text);
    free(nid);
    free(id);
}

static void test_import_twice_matches(void **state)
{
    (void)state;
    char *zw = add("张伟", "--phone", "13800138000");
    char *ww = add("王伟", "--wechat", "wangwei_88");
    /* a hand-made sheet without ids: one row per existing customer (phone
    ** written another way, WeChat) and one new */
    write_file(path_in("s.csv"),
               "姓名,手机,微信,公司,金额,预计成交日期\r\n"
               "张伟,+86 138 0013 8000,,华星科技,480000,2027/3/31\r\n"
               "王伟大,,wangwei_88,远航物流,,\r\n"
               "李雷,13900000000,,,12.5,\r\n");
    res r = ok(fs("--json", "import", path_in("s.csv")));
    assert_int_equal(json_integer_value(json_object_get(r.json, "created")), 1);
    assert_int_equal(json_integer_value(json_object_get(r.json, "updated")), 2);
    json_t *m = json_object_get(r.json, "matched");
    assert_int_equal(json_array_size(m), 2);
    assert_string_equal(jstr(json_array_get(m, 0), "by"), "phone");
    assert_string_equal(jstr(json_array_get(m, 0), "id"), zw);
    assert_string_equal(jstr(json_array_get(m, 1), "by"), "wechat");
    assert_string_equal(jstr(json_array_get(m, 1), "id"), ww);
    res_free(&r);
    r = ok(fs("--json", "customer", "show", zw));
    assert_string_equal(jstr(r.json, "company"), "华星科技");
    assert_string_equal(jstr(r.json, "phone"), "13800138000");   /* not rewritten */
    assert_true(json_number_value(json_object_get(r.json, "amount")) == 480000);
    assert_string_equal(jstr(r.json, "expected_close"), "2027-03-31");
    res_free(&r);
    /* the same sheet again: nothing new, nothing written */
    snap before = snapshot();
    r = ok(fs("import", path_in("s.csv")));
    assert_non_null(strstr(r.out, "0 created"));
    assert_non_null(strstr(r.out, "matched by phone"));
    assert_non_null(strstr(r.out, "matched by wechat"));
    res_free(&r);
    same(before, snapshot());
    assert_int_equal(before.customers, 3);
    free(zw);
    free(ww);
}

static void test_followups_export_import(void **state)
{
    (void)state;
    char *a = add("刘洋", "--company", "华星科技");
    char *b = add("刘洋", "--company", "远航物流");     /* same name */
    res r = ok(fs("followup", "add", a, "--method", "visit", "--content", "演示",
                  "--at", "2026-11-20 14:05", "--result", "下周报价"));
    res_free(&r);
    r = ok(fs("followup", "add", b, "--method", "wechat", "--content", "发资料"));
    res_free(&r);
    const char *f = path_in("f.csv");
    r = ok(fs("export", "--followups", "--out", f));
    assert_non_null(strstr(r.out, "2 follow-ups"));
    res_free(&r);
    size_t len;
    char *text = read_text(f, &len);
    assert_non_null(strstr(text, "编号,客户编号,客户,公司,跟进时间,跟进方式,跟进内容,跟进结果,跟进人\r\n"));
    assert_non_null(strstr(text, "2026-11-20 14:05:00,拜访,演示,下周报价"));
    free(text);
    /* into its own replica: recognised by id, nothing changes */
    snap before = snapshot();
    r = ok(fs("--json", "import", f));
    assert_int_equal(json_integer_value(json_object_get(r.json, "unchanged")), 2);
    assert_string_equal(jstr(r.json, "records"), "followups");
    res_free(&r);
    same(before, snapshot());
    /* a team's Excel history without ids: by customer name and company,
    ** Excel's dates, method words */
    write_file(path_in("h.csv"),
               "客户,公司,跟进时间,跟进方式,跟进内容,跟进结果\r\n"
               "刘洋,远航物流,2026/11/2 9:30,上门拜访,看仓库,满意\r\n");
    r = ok(fs("--json", "import", path_in("h.csv")));
    assert_int_equal(json_integer_value(json_object_get(r.json, "created")), 1);
    res_free(&r);
    r = ok(fs("--json", "customer", "show", b));
    json_t *fu;
    size_t i;
    int seen = 0;
    json_array_foreach(json_object_get(r.json, "followups"), i, fu)
        if (strcmp(jstr(fu, "content"), "看仓库") == 0) {
            seen = 1;
            assert_string_equal(jstr(fu, "method"), "visit");
            assert_string_equal(jstr(fu, "at"), "2026-11-02T01:30:00Z");
        }
    assert_true(seen);
    res_free(&r);
    r = ok(fs("--json", "import", path_in("h.csv")));        /* twice: no copy */
    assert_int_equal(json_integer_value(json_object_get(r.json, "created")), 0);
    res_free(&r);
    /* a name that is two customers must name the company */
    write_file(path_in("x.csv"), "客户,跟进内容,跟进方式\r\n刘洋,电话,电话\r\n");
    r = fs("import", path_in("x.csv"));
    expect(r, 2);
    assert_non_null(strstr(r.err, "公司"));
    res_free(&r);
    free(a);
    free(b);
}

/* ---- 5. History after concurrent edits ------------------------------------- */
static json_t *phone_entries(const char *db, const char *id)
{
    res r = ok(raw(NULL, "--db", db, "--json", "history", id));
    json_t *out = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(r.json, i, e)
        if (strcmp(jstr(e, "field"), "phone") == 0 && strcmp(jstr(e, "table"), "customer") == 0)
            json_array_append(out, e);
    res_free(&r);
    return out;
}

static void test_history_concurrent_and_resolution(void **state)
{
    (void)state;
    const char *a = g_db, *b = path_in("b.db");
    char *id = add("历史客户", "--phone", "100");
    assert_int_equal(merge(a, b), 0);
    /* both edit the phone from 100 without knowing of the other */
    res r = ok(fs("customer", "edit", id, "--phone", "111")); res_free(&r);
    r = ok(raw(NULL, "--db", b, "customer", "edit", id, "--phone", "222")); res_free(&r);
    assert_int_equal(merge(a, b), 0);
    /* b keeps theirs (111): a resolution that keeps a value */
    r = ok(raw(NULL, "--db", b, "--json", "conflicts"));
    char cid[64];
    snprintf(cid, sizeof cid, "%s", jstr(json_array_get(r.json, 0), "id"));
    res_free(&r);
    r = ok(raw(NULL, "--db", b, "conflicts", "resolve", cid, "--keep", "theirs"));
    res_free(&r);
    assert_int_equal(merge(b, a), 0);       /* merge_tool moves one way */
    /* on both replicas, whatever order the log holds the changes in, each
    ** change replaced 100 on the replica that made it */
    const char *dbs[] = { a, b };
    for (int k = 0; k < 2; k++) {
        json_t *ph = phone_entries(dbs[k], id);
        size_t i;
        json_t *e;
        int seen111 = 0, seen222 = 0, seen_res = 0;
        json_array_foreach(ph, i, e) {
            const char *v = jstr(e, "value");
            json_t *rep = json_object_get(e, "replaced");
            if (json_array_size(rep) > 1) {
                seen_res = 1;
                assert_string_equal(v, "111");
                assert_int_equal(json_array_size(rep), 2);
                continue;
            }
            if (strcmp(v, "111") == 0 || strcmp(v, "222") == 0) {
                if (strcmp(jstr(e, "previous"), "100") != 0)
                    fail_msg("db %d: %s replaced \"%s\", want 100", k, v,
                             jstr(e, "previous"));
                /* and each is marked concurrent with the other */
                json_t *c = json_object_get(e, "concurrent");
                assert_int_equal(json_array_size(c), 1);
                assert_string_equal(json_string_value(json_array_get(c, 0)),
                                    strcmp(v, "111") == 0 ? "222" : "111");
                seen111 |= strcmp(v, "111") == 0;
                seen222 |= strcmp(v, "222") == 0;
            }
        }
        assert_true(seen111 && seen222 && seen_res);
        json_decref(ph);
    }
    /* the human view: no "111 → 111", the settled values instead */
    r = ok(raw(NULL, "--db", a, "history", id));
    assert_null(strstr(r.out, "111 → 111"));
    assert_non_null(strstr(r.out, "conflict resolved"));
    assert_non_null(strstr(r.out, "concurrent with"));
    res_free(&r);
    free(id);
}

/* ---- 5. Role known to the device ------------------------------------------ */
static void test_rep_role_refused_up_front(void **state)
{
    (void)state;
    sqlite3 *db = NULL;
    char *id = add("角色", NULL, NULL);     /* makes the replica */
    free(id);
    assert_int_equal(sqlite3_open(g_db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "INSERT OR REPLACE INTO meta(key, value) "
                                  "VALUES ('role', 'rep')", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    snap before = snapshot();
    res r = fs("template", "apply", "software");
    expect_refusal(&r, 5, "rep");
    assert_null(strstr(r.out, "Applied"));
    res_free(&r);
    r = fs("field", "add", "quota", "--label", "Quota", "--type", "number");
    expect_refusal(&r, 5, "rep");
    res_free(&r);
    same(before, snapshot());
    /* a manager's device applies it */
    assert_int_equal(sqlite3_open(g_db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "UPDATE meta SET value = 'manager' "
                                  "WHERE key = 'role'", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    r = ok(fs("template", "apply", "software"));
    assert_non_null(strstr(r.out, "Applied"));
    res_free(&r);
}

/* ---- 7. Layout ------------------------------------------------------------ */
/* Display column (CJK 2) where needle starts in the line of out holding it. */
static size_t display_col(const char *out, const char *needle)
{
    const char *at = strstr(out, needle);
    assert_non_null(at);
    const char *ls = at;
    while (ls > out && ls[-1] != '\n') ls--;
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%.*s", (int)(at - ls), ls);
    size_t w = 0, k;
    mbstate_t mb;
    wchar_t wc;
    memset(&mb, 0, sizeof mb);
    for (const char *p = tmp; (k = mbrtowc(&wc, p, strlen(p), &mb)) > 0 && k < (size_t)-2; p += k)
        w += (size_t)wcwidth(wc);
    return w;
}

static void test_today_columns_align(void **state)
{
    (void)state;
    free(add("张伟", "--birthday", "12-03"));
    free(add("Bob Smith", "--birthday", "1990-12-04"));
    free(add("欧阳娜娜", "--birthday", "12-05"));
    char *id = add("刘洋", NULL, NULL);
    res r = ok(fs("plan", id, "--at", "2026-12-01", "--method", "phone", "--content", "甲"));
    res_free(&r);
    r = ok(fs("plan", id, "--at", "2026-12-01 15:00", "--method", "visit", "--content", "乙"));
    res_free(&r);
    r = ok(fs("today", "--date", "2026-12-01"));
    size_t c1 = display_col(r.out, "张伟"), c2 = display_col(r.out, "Bob Smith"),
           c3 = display_col(r.out, "欧阳娜娜");
    if (c1 != c2 || c2 != c3) fail_msg("birthday names at %zu, %zu, %zu:\n%s", c1, c2, c3, r.out);
    size_t d1 = display_col(r.out, "in 2 days"), d2 = display_col(r.out, "in 4 days");
    if (d1 != d2) fail_msg("birthday days at %zu, %zu:\n%s", d1, d2, r.out);
    /* plans: a day without a time and a timed one line up too */
    size_t p1 = display_col(r.out, "甲"), p2 = display_col(r.out, "乙");
    if (p1 != p2) fail_msg("plan contents at %zu, %zu:\n%s", p1, p2, r.out);
    res_free(&r);
    free(id);
}

/* ---- 5/7. Sync against the real server: conflicts counted as listed,
** refusals named, "1 conflict" ---------------------------------------------- */
#ifdef SERVER_BIN
static char *server_token(const char *srv, const char *user, const char *role)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' user add %s --role %s --data '%s' --json",
             SERVER_BIN, user, role, srv);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    json_t *u = json_loadf(p, 0, NULL);
    pclose(p);
    assert_non_null(u);
    char *t = strdup(jstr(u, "token"));
    json_decref(u);
    return t;
}

static void test_sync_conflicts_and_refusals(void **state)
{
    (void)state;
    char cmd[2048], srv[700], url[64], ca[760];
    snprintf(srv, sizeof srv, "%s/srv", g_dir);
    snprintf(ca, sizeof ca, "%s/ca.pem", srv);
    snprintf(cmd, sizeof cmd, "'%s' init --data '%s' --san 127.0.0.1 >/dev/null 2>&1",
             SERVER_BIN, srv);
    assert_int_equal(system(cmd), 0);
    char *alice = server_token(srv, "alice", "manager");
    char *bob = server_token(srv, "bob", "rep");
    int port = free_port();
    char listen[64], logp[760];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    snprintf(url, sizeof url, "wss://127.0.0.1:%d", port);
    snprintf(logp, sizeof logp, "%s/server.log", g_dir);
    g_server = spawn_logged(logp, (char *const[]){ SERVER_BIN, "serve",
                            "--data", srv, "--listen", listen, NULL }, NULL);
    for (int i = 0; i < 200 && !port_open(port); i++) usleep(50000);
    assert_true(port_open(port));

    const char *a2 = path_in("a2.db"), *fresh = path_in("fresh.db");
    res r = ok(fs("init", "--server", url, "--token", alice, "--ca", ca)); res_free(&r);
    r = ok(raw(NULL, "--db", a2, "init", "--server", url, "--token", alice, "--ca", ca));
    res_free(&r);
    r = ok(fs("--json", "customer", "add", "--name", "冲突", "--company", "华星科技",
              "--phone", "100"));
    char *id = json_id(r.json);
    res_free(&r);
    r = ok(fs("sync")); res_free(&r);
    r = ok(raw(NULL, "--db", a2, "sync")); res_free(&r);
    /* one concurrent edit of one field: exactly one conflict, as listed */
    r = ok(fs("customer", "edit", id, "--phone", "111")); res_free(&r);
    r = ok(raw(NULL, "--db", a2, "customer", "edit", id, "--phone", "222")); res_free(&r);
    r = ok(fs("sync")); res_free(&r);
    r = ok(raw(NULL, "--db", a2, "--json", "sync"));
    int64_t counted = json_integer_value(json_object_get(r.json, "conflicts"));
    res_free(&r);
    r = ok(raw(NULL, "--db", a2, "--json", "conflicts"));
    size_t listed = json_array_size(r.json);
    char cid[64];
    snprintf(cid, sizeof cid, "%s", jstr(json_array_get(r.json, 0), "id"));
    res_free(&r);
    assert_int_equal(listed, 1);
    assert_int_equal(counted, (int64_t)listed);
    /* the human line says "1 conflict" */
    r = ok(raw(NULL, "--db", a2, "customer", "edit", id, "--title", "x"));
    res_free(&r);
    /* resolve it and sync it everywhere */
    r = ok(raw(NULL, "--db", a2, "conflicts", "resolve", cid, "--keep", "mine"));
    res_free(&r);
    r = ok(raw(NULL, "--db", a2, "sync")); res_free(&r);
    r = ok(fs("sync"));
    assert_non_null(strstr(r.out, " 0 conflicts"));
    res_free(&r);
    /* the new fields travel like any other: the server takes them */
    r = ok(fs("customer", "edit", id, "--amount", "480000", "--expected-close", "2027/3/31"));
    res_free(&r);
    r = ok(fs("--json", "plan", id, "--at", "2027-01-05"));
    char *pid = json_id(r.json);
    res_free(&r);
    r = ok(fs("plan", "done", pid, "--result", "签了"));
    res_free(&r);
    r = ok(fs("--json", "sync"));
    assert_int_equal(json_array_size(json_object_get(r.json, "refusals")), 0);
    res_free(&r);
    /* a fresh device pulls the whole story: nothing open, nothing counted */
    r = ok(raw(NULL, "--db", fresh, "--json", "init", "--server", url, "--token", alice,
               "--ca", ca));
    assert_int_equal(json_integer_value(json_object_get(r.json, "conflicts")), 0);
    res_free(&r);
    r = ok(raw(NULL, "--db", fresh, "--json", "customer", "show", id));
    assert_true(json_number_value(json_object_get(r.json, "amount")) == 480000);
    assert_string_equal(jstr(r.json, "expected_close"), "2027-03-31");
    json_t *pl = json_array_get(json_object_get(r.json, "plans"), 0);
    assert_string_equal(jstr(pl, "due"), "2027-01-05");
    assert_string_equal(jstr(pl, "result"), "签了");
    assert_true(json_is_true(json_object_get(pl, "done")));
    res_free(&r);
    free(pid);
    r = ok(raw(NULL, "--db", fresh, "--json", "conflicts"));
    assert_int_equal(json_array_size(r.json), 0);
    res_free(&r);

    /* bob (a rep) edits a customer he may not see: the refusal names it */
    const char *bdb = path_in("bob.db");
    r = ok(raw(NULL, "--db", bdb, "init", "--server", url, "--token", bob, "--ca", ca));
    res_free(&r);
    assert_int_equal(merge(g_db, bdb), 0);      /* a copy of alice's customer */
    r = ok(raw(NULL, "--db", bdb, "customer", "edit", id, "--title", "偷改"));
    res_free(&r);
    r = raw(NULL, "--db", bdb, "sync");
    if (!strstr(r.out, "refused: 冲突 (华星科技)"))
        fail_msg("refusal does not name the customer (exit %d):\n%s\n%s", r.code, r.out, r.err);
    char short_id[64];
    snprintf(short_id, sizeof short_id, "refused: customer %.8s", id);
    assert_null(strstr(r.out, short_id));
    res_free(&r);
    /* and "1 conflict", not "1 conflicts" */
    r = ok(fs("customer", "edit", id, "--notes", "甲"));
    res_free(&r);
    r = ok(raw(NULL, "--db", a2, "customer", "edit", id, "--notes", "乙"));
    res_free(&r);
    r = ok(fs("sync")); res_free(&r);
    r = ok(raw(NULL, "--db", a2, "sync"));
    if (!strstr(r.out, ", 1 conflict\n") && !strstr(r.out, ", 1 conflict,"))
        fail_msg("sync said: %s", r.out);
    res_free(&r);
    free(id);
    free(alice);
    free(bob);
}
#endif

int main(void)
{
    setlocale(LC_CTYPE, "C.UTF-8");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_followup_and_plan_corrections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stage_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dates_people_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_amount_and_expected_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_search_pinyin_company_phone_followup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_sort_and_columns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_method_words, setup, teardown),
        cmocka_unit_test_setup_teardown(test_csv_formula_injection_and_phone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_twice_matches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_followups_export_import, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history_concurrent_and_resolution, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rep_role_refused_up_front, setup, teardown),
        cmocka_unit_test_setup_teardown(test_today_columns_align, setup, teardown),
#ifdef SERVER_BIN
        cmocka_unit_test_setup_teardown(test_sync_conflicts_and_refusals, setup, teardown),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
