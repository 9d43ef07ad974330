/*
** test_nomem.c — allocation-failure injection for libfieldsync (issue 18).
**
** fieldsync.h promises FDS_NOMEM when memory runs out, never a crash, a
** half-written replica or a silently incomplete result.  This test makes
** the Nth allocation fail, for N = 1, 2, … until an operation runs without
** reaching N, over every allocator the library's work goes through:
**   - core's and protocol's own malloc/calloc/realloc/strdup/strndup: the
**     test links the static library with -Wl,--wrap=malloc,… so every
**     call from its objects lands in __wrap_malloc below (--wrap rewrites
**     undefined references in every input object, archive members
**     included; libc, SQLite and jansson, shared libraries, are not
**     rewritten, hence the next two hooks);
**   - jansson, through json_set_alloc_funcs;
**   - SQLite, through SQLITE_CONFIG_MALLOC with methods that wrap its own,
**     installed before sqlite3_initialize.
** One counter runs across all three (curl's torture mode, SQLite's
** *fault.test), once failing the Nth allocation alone and once failing
** every allocation from the Nth on.
**
** For each N, on a real replica file:
**   - the call returns FDS_OK or FDS_NOMEM (an SQLITE_NOMEM is FDS_NOMEM,
**     not FDS_DB), and no transaction is left open;
**   - when it is not FDS_OK, the replica is unchanged: a dump of every
**     table, read through a second connection, equals the one before;
**   - when it is FDS_OK, the result is complete: the record reads back with
**     every field, a read equals the one made without injection.
** The ASan stage runs it too, so a leak on an error path or a use after
** free fails it.
*/
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "internal.h"
#include "testenv.h"

/* ---- The injector --------------------------------------------------------- */

/* Test-only state: the wrappers below have no context argument. */
static struct {
    int armed;
    int persist;        /* 1: every allocation from the Nth on fails */
    long fail_at;       /* N */
    long count;         /* allocations seen while armed */
    long hits;          /* allocations failed */
} F;

static int fault_hit(void)
{
    if (!F.armed)
        return 0;
    F.count++;
    if (F.count == F.fail_at || (F.persist && F.count > F.fail_at)) {
        F.hits++;
        return 1;
    }
    return 0;
}

static void fault_arm(long n, int persist)
{
    F.count = 0;
    F.hits = 0;
    F.fail_at = n;
    F.persist = persist;
    F.armed = 1;
}

/* Disarm; the number of allocations that failed. */
static long fault_disarm(void)
{
    F.armed = 0;
    return F.hits;
}

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

void *__wrap_malloc(size_t n)
{
    return fault_hit() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return fault_hit() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    return fault_hit() ? NULL : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
    return fault_hit() ? NULL : __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
    return fault_hit() ? NULL : __real_strndup(s, n);
}

/* jansson frees with libc's free: what __real_malloc gave. */
static void *json_fault_malloc(size_t n)
{
    return fault_hit() ? NULL : __real_malloc(n);
}

static sqlite3_mem_methods sq_orig;

static void *sq_malloc(int n)
{
    return fault_hit() ? NULL : sq_orig.xMalloc(n);
}

static void *sq_realloc(void *p, int n)
{
    return fault_hit() ? NULL : sq_orig.xRealloc(p, n);
}

static void fault_install(void)
{
    sqlite3_mem_methods m;
    assert_int_equal(sqlite3_config(SQLITE_CONFIG_GETMALLOC, &sq_orig),
                     SQLITE_OK);
    m = sq_orig;
    m.xMalloc = sq_malloc;
    m.xRealloc = sq_realloc;
    assert_int_equal(sqlite3_config(SQLITE_CONFIG_MALLOC, &m), SQLITE_OK);
    assert_int_equal(sqlite3_initialize(), SQLITE_OK);
    json_set_alloc_funcs(json_fault_malloc, free);
}

/* ---- Replica files -------------------------------------------------------- */

typedef struct fx {
    test_env t;
    char dir[64];
    char path[128];         /* the replica under test */
    char tmpl[128];         /* its state before the operation */
    fds_replica *r;
    char cust[FDS__UUID_LEN + 1];   /* a customer made by the fixture */
    char conflict[64];      /* an open conflict's id */
    json_t *ref;            /* a read made without injection */
    char *ref_text;
    json_t *in;             /* the operation's input */
    fds_session *s;         /* session steps */
    char *msg;              /* the reply to feed */
    size_t msg_len;
    int64_t outbox;         /* outbox rows before the operation */
    int refuse;             /* the ack refuses the follow-up's result */
} fx;

static void rm_replica(const char *path)
{
    static const char *sfx[] = {"", "-wal", "-shm", "-journal"};
    char p[160];
    for (size_t i = 0; i < sizeof sfx / sizeof sfx[0]; i++) {
        snprintf(p, sizeof p, "%s%s", path, sfx[i]);
        unlink(p);
    }
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    assert_int_equal(fclose(out), 0);
}

static void fx_open(fx *f)
{
    char err[256];
    int rc = fds_replica_open(f->path, &f->t.env, &f->r, err, sizeof err);
    if (rc != FDS_OK)
        fail_msg("open %s: %s", f->path, err);
}

/* Save the replica as it is now: closing checkpoints the WAL into it. */
static void fx_save(fx *f)
{
    fds_replica_close(f->r);
    f->r = NULL;
    copy_file(f->path, f->tmpl);
    fx_open(f);
}

/* Put the saved replica back (after an operation that succeeded). */
static void fx_restore(fx *f)
{
    fds_replica_close(f->r);
    f->r = NULL;
    rm_replica(f->path);
    copy_file(f->tmpl, f->path);
    fx_open(f);
}

static void fx_init(fx *f, uint64_t seed)
{
    memset(f, 0, sizeof *f);
    test_env_init(&f->t, 1764000000000, seed);
    /* Real files, on tmpfs where there is one: each attempt commits at
    ** synchronous=FULL, and thousands of fsyncs to a disk took a minute. */
    struct stat sb;
    const char *base = stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) &&
                       access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(f->dir, sizeof f->dir, "%s/fds-nomem-XXXXXX", base);
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/replica.db", f->dir);
    snprintf(f->tmpl, sizeof f->tmpl, "%s/saved.db", f->dir);
}

static void fx_free(fx *f)
{
    fds_session_free(f->s);
    fds_replica_close(f->r);
    json_decref(f->ref);
    json_decref(f->in);
    free(f->ref_text);
    free(f->msg);
    rm_replica(f->path);
    rm_replica(f->tmpl);
    rmdir(f->dir);
}

/* Every table of the replica file, as text, through a second connection
** (what a crash would leave: only committed rows). */
static char *dump(const char *path)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    size_t cap = 1 << 16, n = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    out[0] = '\0';
    sqlite3_stmt *tabs = NULL;
    assert_int_equal(sqlite3_prepare_v2(db,
        "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
        -1, &tabs, NULL), SQLITE_OK);
    while (sqlite3_step(tabs) == SQLITE_ROW) {
        char sql[200];
        snprintf(sql, sizeof sql, "SELECT * FROM \"%s\"",
                 (const char *)sqlite3_column_text(tabs, 0));
        sqlite3_stmt *st = NULL;
        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
        while (sqlite3_step(st) == SQLITE_ROW) {
            for (int i = 0; i < sqlite3_column_count(st); i++) {
                const char *v = (const char *)sqlite3_column_text(st, i);
                size_t need = n + (v ? strlen(v) : 4) + 200;
                if (need > cap) {
                    cap = need * 2;
                    out = realloc(out, cap);
                    assert_non_null(out);
                }
                n += (size_t)snprintf(out + n, cap - n, "%s%s",
                                      i ? "|" : (const char *)sqlite3_column_text(tabs, 0),
                                      v ? v : "NULL");
            }
            out[n++] = '\n';
            out[n] = '\0';
        }
        sqlite3_finalize(st);
    }
    sqlite3_finalize(tabs);
    sqlite3_close(db);
    return out;
}

/* ---- The sweep ------------------------------------------------------------ */

/* Cap on N: each operation below needs far fewer allocations; reaching it
** means the sweep is not converging (an operation that always fails). */
#define MAX_N 20000

typedef struct op {
    const char *name;
    int (*prepare)(fx *f);  /* unarmed, before each attempt (may be NULL) */
    int (*run)(fx *f);      /* the armed operation */
    void (*done)(fx *f);    /* unarmed, after each attempt (may be NULL) */
    void (*check)(fx *f);   /* after FDS_OK: the result is complete */
    int writes;             /* 1: FDS_OK changes the replica (restore it) */
} op;

/* The attempt being checked, named when a check fails (print_context),
** and the one running (on_abort). */
static char CTX[160], CTX_RUN[160];

typedef struct sweep_stats {
    long attempts, nomem, ok_with_failure;
} sweep_stats;

/* Which N to try, to keep the run to seconds under ASan: every N while
** failing one allocation; every 5th when failing all from N on (the paths
** after the first failure are those of the N before it, and what each
** failing allocation does on its own is covered by the first mode).  The
** environment can change both: FDS_NOMEM_STRIDE (one failure, default 1)
** and FDS_NOMEM_STRIDE_ALL (all from N on, default 5); both 1 tries every
** N.  Under qemu-user (the arm stage) tests/core/CMakeLists.txt sets them
** higher (8 and 32). */
static long stride(int persist)
{
    const char *e = getenv(persist ? "FDS_NOMEM_STRIDE_ALL" : "FDS_NOMEM_STRIDE");
    long v = e ? strtol(e, NULL, 10) : persist ? 5 : 1;
    return v > 0 ? v : 1;
}

static void sweep_mode(fx *f, const op *o, int persist, sweep_stats *ss)
{
    char *before = dump(f->path);
    long step = stride(persist);
    for (long n = 1;; n += step) {
        if (n > MAX_N)
            fail_msg("%s: still failing at N = %ld", o->name, n);
        if (o->prepare) {
            /* A session's handshake writes (the user, the store): the
            ** state to keep is the one after it. */
            assert_int_equal(o->prepare(f), FDS_OK);
            free(before);
            before = dump(f->path);
        }
        snprintf(CTX_RUN, sizeof CTX_RUN, "%s: N = %ld%s", o->name, n,
                 persist ? "+" : "");
        fault_arm(n, persist);
        int rc = o->run(f);
        long hits = fault_disarm();
        ss->attempts++;
        if (rc != FDS_OK && rc != FDS_NOMEM)
            fail_msg("%s: N = %ld%s: rc %d (%s): %s", o->name, n,
                     persist ? "+" : "", rc, fds_errstr(rc),
                     f->r ? fds_errmsg(f->r) : "");
        if (hits == 0 && rc != FDS_OK)
            fail_msg("%s: N = %ld: FDS_NOMEM without a failed allocation",
                     o->name, n);
        if (f->r && (f->r->tx_depth != 0 || !sqlite3_get_autocommit(f->r->db)))
            fail_msg("%s: N = %ld%s: rc %d and a transaction left open "
                     "(depth %d): %s", o->name, n, persist ? "+" : "", rc,
                     f->r->tx_depth, fds_errmsg(f->r));
        snprintf(CTX, sizeof CTX, "%s: N = %ld%s: rc %d", o->name, n,
                 persist ? "+" : "", rc);
        if (rc == FDS_OK) {
            o->check(f);
            if (o->done)
                o->done(f);
            if (hits == 0) {
                if (o->writes)
                    fx_restore(f);
                break;
            }
            ss->ok_with_failure++;  /* a failure absorbed (SQLite's benign ones) */
            if (o->writes)
                fx_restore(f);
            continue;
        }
        ss->nomem++;
        if (o->done)
            o->done(f);
        char *after = dump(f->path);
        if (strcmp(before, after) != 0)
            fail_msg("%s: N = %ld%s: FDS_NOMEM but the replica changed",
                     o->name, n, persist ? "+" : "");
        free(after);
    }
    free(before);
}

static void sweep(fx *f, const op *o)
{
    sweep_stats ss = {0, 0, 0};
    sweep_mode(f, o, 0, &ss);
    sweep_mode(f, o, 1, &ss);
    print_message("%-22s %5ld attempts, %5ld FDS_NOMEM, %3ld OK despite a "
                  "failure\n", o->name, ss.attempts, ss.nomem,
                  ss.ok_with_failure);
    CTX[0] = '\0';
}

/* ---- Fixture content ------------------------------------------------------ */

static json_t *customer_in(const char *name)
{
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, "
                          "s:[s,s], s:{s:s}}",
                          "name", name, "phone", "138 0013 8000",
                          "email", "zhang@example.com", "wechat", "zhangwei88",
                          "company", "华东物流", "title", "采购经理",
                          "birthday", "1985-06-01", "notes", "喜欢喝茶",
                          "tags", "vip", "east", "fields", "budget", "500000");
    assert_non_null(j);
    return j;
}

/* Every key of want is in got with an equal value. */
static void assert_has_all(const json_t *got, const json_t *want)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)want, k, v) {
        json_t *g = json_object_get(got, k);
        if (g == NULL || !json_equal(g, v))
            fail_msg("field %s missing or different", k);
    }
}

/* A replica with a custom field, a customer and a local write to it. */
static void fx_replica(fx *f, uint64_t seed)
{
    fx_init(f, seed);
    fx_open(f);
    assert_int_equal(fds_replica_set_user(f->r, "wangfang"), FDS_OK);
    json_t *def = json_pack("{s:s, s:s, s:s}", "key", "budget",
                            "label", "预算", "type", "text");
    assert_int_equal(fds_fielddef_set(f->r, def), FDS_OK);
    json_decref(def);
    json_t *in = customer_in("张伟"), *out = NULL;
    assert_int_equal(fds_customer_add(f->r, in, &out, NULL), FDS_OK);
    snprintf(f->cust, sizeof f->cust, "%s",
             json_string_value(json_object_get(out, "id")));
    json_decref(in);
    json_decref(out);
    json_t *fu = json_pack("{s:s, s:s, s:s}", "method", "visit",
                           "content", "看了仓库", "result", "要报价");
    assert_int_equal(fds_followup_add(f->r, f->cust, fu, NULL), FDS_OK);
    json_decref(fu);
}

/* A concurrent write of the customer's name from another device. */
static void fx_conflict(fx *f)
{
    fdsp_change c;
    memset(&c, 0, sizeof c);
    c.table = "customer";
    c.record = f->cust;
    c.field = "name";
    c.value = "张伟 (王总)";
    c.device = "ffffffff-0000-4000-8000-000000000001";
    c.user = "lihua";
    c.hlc = (uint64_t)1764000005000 << 16;
    c.seq = 1;
    fdsp_vv_entry e = {c.device, 1};
    c.vv.n = 1;
    c.vv.e = &e;
    int outcome = -1;
    assert_int_equal(fds__apply(f->r, &c, &outcome), FDS_OK);
    assert_int_equal(outcome, FDS_MERGE_CONFLICT);
    json_t *cs = NULL;
    assert_int_equal(fds_conflicts(f->r, &cs), FDS_OK);
    assert_int_equal(json_array_size(cs), 1);
    snprintf(f->conflict, sizeof f->conflict, "%s",
             json_string_value(json_object_get(json_array_get(cs, 0), "id")));
    json_decref(cs);
}

/* ---- The core's own JSON text reader and writer ---------------------------
** (jsontext.c: jansson's are not safe when memory runs out).  Unarmed:
** the same trees and bytes as jansson's. */

static void test_json_text(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "{\"name\":\"张伟\",\"tags\":[\"vip\",\"east\"],\"amount\":12.5,"
        "\"n\":-42,\"big\":1e300,\"small\":1.5e-7,\"t\":true,\"f\":false,"
        "\"z\":null,\"esc\":\"a\\\"b\\\\c\\n\\u0001\\u00e9\\ud83d\\ude00/\","
        "\"nested\":{\"b\":[],\"a\":{}},\"three\":3.0,\"int\":9007199254740993}",
        "[1,2.25,-0.0,100000000000000000000.0,[[[]]],\"x\"]",
        "  [ ]  ",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        json_error_t e;
        json_t *want = json_loads(texts[i], JSON_REJECT_DUPLICATES, &e), *got = NULL;
        assert_non_null(want);
        assert_int_equal(fds__json_parse(texts[i], 1, &got, NULL, 0), FDS_OK);
        assert_true(json_equal(got, want));
        for (int sort = 0; sort < 2; sort++) {
            char *a = json_dumps(want, JSON_COMPACT | JSON_ENCODE_ANY |
                                 (sort ? JSON_SORT_KEYS : JSON_PRESERVE_ORDER));
            char *b = fds__json_dump(want, sort);
            assert_string_equal(b, a);
            free(a);
            free(b);
        }
        json_decref(want);
        json_decref(got);
    }
    static const char *const bad[] = {
        "", "3", "\"x\"", "[1,]", "{\"a\":1,\"a\":2}", "[\"\\u0000\"]",
        "[\"\\ud800\"]", "[01]", "[1] x", "{\"a\" 1}", "[\"\x01\"]",
        "[\"\xff\"]", "[99999999999999999999]", "[1e999]", "[tru]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *got = NULL;
        char err[160];
        assert_null(json_loads(bad[i], JSON_REJECT_DUPLICATES, NULL));
        if (fds__json_parse(bad[i], 1, &got, err, sizeof err) != FDS_INVALID)
            fail_msg("accepted %s", bad[i]);
        assert_null(got);
        assert_true(strncmp(err, "line 1, column ", 15) == 0 ||
                    strcmp(err, "invalid UTF-8") == 0);
    }
}

/* ---- Opening -------------------------------------------------------------- */

/* cmocka's test teardown: name the attempt whose check failed. */
static int print_context(void **state)
{
    (void)state;
    if (CTX[0])
        print_error("last attempt: %s\n", CTX);
    CTX[0] = '\0';
    F.armed = 0;
    return 0;
}

static int run_create(fx *f)
{
    char err[256];
    int rc = fds_replica_open(f->path, &f->t.env, &f->r, err, sizeof err);
    if (rc != FDS_OK && rc != FDS_NOMEM)
        print_error("create: %s\n", err);
    return rc;
}

static void check_open(fx *f)
{
    assert_non_null(f->r);
    assert_int_equal(strlen(fds_replica_device(f->r)), FDS__UUID_LEN);
}

static void done_create(fx *f)
{
    int ok = f->r != NULL;
    fds_replica_close(f->r);
    f->r = NULL;
    /* A failed create leaves no file behind: the next open creates it
    ** again (a left-over empty file would be refused as not a replica). */
    if (!ok)
        assert_int_not_equal(access(f->path, F_OK), 0);
    rm_replica(f->path);
}

static void test_open_create(void **state)
{
    (void)state;
    fx f;
    fx_init(&f, 1);
    /* dump() needs a file: compare an empty replica-shaped one instead. */
    static const op o = {"open (create)", NULL, run_create, done_create,
                         check_open, 0};
    sweep_stats ss = {0, 0, 0};
    for (int persist = 0; persist < 2; persist++) {
        /* Each attempt makes a file and its schema (2,500 allocations):
        ** the larger stride in both modes. */
        for (long n = 1;; n += stride(1) > stride(0) ? stride(1) : stride(0)) {
            assert_true(n <= MAX_N);
            fault_arm(n, persist);
            int rc = o.run(&f);
            long hits = fault_disarm();
            ss.attempts++;
            if (rc != FDS_OK && rc != FDS_NOMEM)
                fail_msg("create: N = %ld: rc %d (%s)", n, rc, fds_errstr(rc));
            if (rc == FDS_OK)
                o.check(&f);
            else
                ss.nomem++;
            o.done(&f);
            if (hits == 0)
                break;
        }
    }
    print_message("%-22s %5ld attempts, %5ld FDS_NOMEM\n", o.name,
                  ss.attempts, ss.nomem);
    fx_free(&f);
}

static int run_open(fx *f)
{
    char err[256];
    int rc = fds_replica_open(f->path, &f->t.env, &f->r, err, sizeof err);
    if (rc != FDS_OK && rc != FDS_NOMEM)
        print_error("open: %s\n", err);
    return rc;
}

static int prep_open(fx *f)
{
    fds_replica_close(f->r);
    f->r = NULL;
    return FDS_OK;
}

static void test_open_existing(void **state)
{
    (void)state;
    fx f;
    fx_replica(&f, 2);
    fds_replica_close(f.r);
    f.r = NULL;
    static const op o = {"open (existing)", prep_open, run_open, NULL,
                         check_open, 0};
    sweep(&f, &o);
    fx_free(&f);
}

/* ---- Records -------------------------------------------------------------- */

static int run_customer_add(fx *f)
{
    json_t *out = NULL, *warn = NULL;
    int rc = fds_customer_add(f->r, f->in, &out, &warn);
    if (rc == FDS_OK) {
        assert_has_all(out, f->in);
        assert_non_null(json_object_get(out, "id"));
        /* The phone and WeChat id belong to the fixture's customer, and
        ** the warnings name it (a label read under injection too). */
        assert_int_equal(json_array_size(warn), 2);
        assert_non_null(strstr(json_string_value(json_array_get(warn, 0)),
                               "张伟"));
        assert_non_null(strstr(json_string_value(json_array_get(warn, 1)),
                               "张伟"));
        json_decref(f->ref);
        f->ref = out;
    } else {
        assert_null(out);
    }
    json_decref(warn);
    return rc;
}

static void check_customer_add(fx *f)
{
    json_t *got = NULL;
    assert_int_equal(fds_customer_get(f->r, json_string_value(
        json_object_get(f->ref, "id")), &got), FDS_OK);
    assert_has_all(got, f->in);
    json_decref(got);
}

static void test_customer_add(void **state)
{
    (void)state;
    fx f;
    fx_replica(&f, 3);
    fx_save(&f);
    f.in = customer_in("李娜");
    static const op o = {"customer add", NULL, run_customer_add, NULL,
                         check_customer_add, 1};
    sweep(&f, &o);
    fx_free(&f);
}

static int run_followup_add(fx *f)
{
    json_t *out = NULL;
    int rc = fds_followup_add(f->r, f->cust, f->in, &out);
    if (rc == FDS_OK) {
        assert_has_all(out, f->in);
        json_decref(f->ref);
        f->ref = out;
    }
    return rc;
}

/* The sheet holds the new follow-up with every field. */
static void check_child(fx *f, const char *array)
{
    json_t *sheet = NULL;
    assert_int_equal(fds_customer_sheet(f->r, f->cust, &sheet), FDS_OK);
    json_t *a = json_object_get(sheet, array), *v;
    size_t i;
    int found = 0;
    json_array_foreach(a, i, v) {
        if (json_equal(json_object_get(v, "id"), json_object_get(f->ref, "id"))) {
            assert_has_all(v, f->in);
            found = 1;
        }
    }
    assert_true(found);
    json_decref(sheet);
}

static void check_followup(fx *f)
{
    check_child(f, "followups");
}

static void test_followup_add(void **state)
{
    (void)state;
    fx f;
    fx_replica(&f, 4);
    fx_save(&f);
    f.in = json_pack("{s:s, s:s, s:s, s:s}", "method", "phone",
                     "content", "问了交货期", "result", "下周签",
                     "at", "2025-11-20T08:00:00Z");
    static const op o = {"followup add", NULL, run_followup_add, NULL,
                         check_followup, 1};
    sweep(&f, &o);
    fx_free(&f);
}

static int run_plan_add(fx *f)
{
    json_t *out = NULL;
    int rc = fds_plan_add(f->r, f->cust, f->in, &out);
    if (rc == FDS_OK) {
        assert_has_all(out, f->in);
        json_decref(f->ref);
        f->ref = out;
    }
    return rc;
}

static void check_plan(fx *f)
{
    check_child(f, "plans");
}

static void test_plan_add(void **state)
{
    (void)state;
    fx f;
    fx_replica(&f, 5);
    fx_save(&f);
    f.in = json_pack("{s:s, s:s, s:s}", "due", "2025-12-01T02:00:00Z",
                     "method", "visit", "content", "送合同");
    static const op o = {"plan add", NULL, run_plan_add, NULL, check_plan, 1};
    sweep(&f, &o);
    fx_free(&f);
}

static int run_stage(fx *f)
{
    json_t *out = NULL;
    int rc = fds_stage_set(f->r, f->cust, "quote", "报了价", &out);
    if (rc == FDS_OK) {
        assert_string_equal(json_string_value(json_object_get(out, "to")),
                            "quote");
        assert_string_equal(json_string_value(json_object_get(out, "from")),
                            "lead");
        assert_string_equal(json_string_value(json_object_get(out, "note")),
                            "报了价");
    }
    json_decref(out);
    return rc;
}

static void check_stage(fx *f)
{
    json_t *sheet = NULL;
    assert_int_equal(fds_customer_sheet(f->r, f->cust, &sheet), FDS_OK);
    assert_string_equal(json_string_value(json_object_get(sheet, "stage")),
                        "quote");
    json_t *st = json_object_get(sheet, "stages");
    assert_int_equal(json_array_size(st), 1);
    assert_string_equal(json_string_value(json_object_get(
        json_array_get(st, 0), "note")), "报了价");
    json_decref(sheet);
}

static void test_stage(void **state)
{
    (void)state;
    fx f;
    fx_replica(&f, 6);
    fx_save(&f);
    static const op o = {"stage set", NULL, run_stage, NULL, check_stage, 1};
    sweep(&f, &o);
    fx_free(&f);
}

static int run_resolve(fx *f)
{
    return fds_conflict_resolve(f->r, f->conflict, "theirs", NULL);
}

static void check_resolve(fx *f)
{
    json_t *cs = NULL, *c = NULL;
    assert_int_equal(fds_conflicts(f->r, &cs), FDS_OK);
    assert_int_equal(json_array_size(cs), 0);
    json_decref(cs);
    assert_int_equal(fds_customer_get(f->r, f->cust, &c), FDS_OK);
    assert_string_equal(json_string_value(json_object_get(c, "name")),
                        "张伟 (王总)");
    json_decref(c);
}

static void test_conflict_resolve(void **state)
{
    (void)state;
    fx f;
    fx_replica(&f, 7);
    fx_conflict(&f);
    fx_save(&f);
    static const op o = {"conflict resolve", NULL, run_resolve, NULL,
                         check_resolve, 1};
    sweep(&f, &o);
    fx_free(&f);
}

/* ---- Reads: the same answer as without injection --------------------------- */

static int run_history(fx *f)
{
    json_t *out = NULL;
    int rc = fds_history(f->r, f->cust, &out);
    if (rc == FDS_OK)
        assert_true(json_equal(out, f->ref));
    else
        assert_null(out);
    json_decref(out);
    return rc;
}

static int run_sheet(fx *f)
{
    json_t *out = NULL;
    int rc = fds_customer_sheet(f->r, f->cust, &out);
    if (rc == FDS_OK)
        assert_true(json_equal(out, f->ref));
    json_decref(out);
    return rc;
}

static int run_list(fx *f)
{
    json_t *out = NULL;
    fds_query q;
    memset(&q, 0, sizeof q);
    q.search = "zw";
    q.sort = "next";
    int rc = fds_customer_list(f->r, &q, &out);
    if (rc == FDS_OK)
        assert_true(json_equal(out, f->ref));
    json_decref(out);
    return rc;
}

static int run_today(fx *f)
{
    json_t *out = NULL;
    int rc = fds_today(f->r, "2025-12-01", &out);
    if (rc == FDS_OK)
        assert_true(json_equal(out, f->ref));
    json_decref(out);
    return rc;
}

static int run_conflicts(fx *f)
{
    json_t *out = NULL;
    int rc = fds_conflicts(f->r, &out);
    if (rc == FDS_OK)
        assert_true(json_equal(out, f->ref));
    json_decref(out);
    return rc;
}

static void check_nothing(fx *f)
{
    (void)f;
}

static void test_reads(void **state)
{
    (void)state;
    fx f;
    fx_replica(&f, 8);
    json_t *plan = json_pack("{s:s, s:s}", "due", "2025-11-30T02:00:00Z",
                             "content", "回访");
    assert_int_equal(fds_plan_add(f.r, f.cust, plan, NULL), FDS_OK);
    json_decref(plan);
    assert_int_equal(fds_stage_set(f.r, f.cust, "intent", "有意向", NULL),
                     FDS_OK);
    fx_conflict(&f);
    fx_save(&f);

    assert_int_equal(fds_history(f.r, f.cust, &f.ref), FDS_OK);
    assert_true(json_array_size(f.ref) > 10);
    op h = {"history", NULL, run_history, NULL, check_nothing, 0};
    sweep(&f, &h);
    json_decref(f.ref);

    assert_int_equal(fds_customer_sheet(f.r, f.cust, &f.ref), FDS_OK);
    op s = {"customer sheet", NULL, run_sheet, NULL, check_nothing, 0};
    sweep(&f, &s);
    json_decref(f.ref);

    fds_query q;
    memset(&q, 0, sizeof q);
    q.search = "zw";
    q.sort = "next";
    assert_int_equal(fds_customer_list(f.r, &q, &f.ref), FDS_OK);
    assert_int_equal(json_array_size(f.ref), 1);
    op l = {"customer list", NULL, run_list, NULL, check_nothing, 0};
    sweep(&f, &l);
    json_decref(f.ref);

    assert_int_equal(fds_today(f.r, "2025-12-01", &f.ref), FDS_OK);
    op t = {"today", NULL, run_today, NULL, check_nothing, 0};
    sweep(&f, &t);
    json_decref(f.ref);

    assert_int_equal(fds_conflicts(f.r, &f.ref), FDS_OK);
    op c = {"conflicts", NULL, run_conflicts, NULL, check_nothing, 0};
    sweep(&f, &c);
    json_decref(f.ref);
    f.ref = NULL;
    fx_free(&f);
}

/* ---- The text API ------------------------------------------------------------ */

static const char *CUSTOMER_TEXT =
    "{\"name\":\"赵敏\",\"phone\":\"139 1111 2222\",\"email\":\"zm@example.com\","
    "\"company\":\"设计工作室\",\"tags\":[\"new\"],\"fields\":{\"budget\":\"8万\"}}";

static int run_add_text(fx *f)
{
    char *out = NULL, *warn = NULL;
    int rc = fds_customer_add_text(f->r, CUSTOMER_TEXT, &out, &warn);
    if (rc == FDS_OK) {
        F.armed = 0;    /* the check itself must not fail */
        json_t *got = json_loads(out, 0, NULL);
        json_t *want = json_loads(CUSTOMER_TEXT, 0, NULL);
        assert_non_null(got);
        assert_has_all(got, want);
        json_decref(got);
        json_decref(want);
        assert_non_null(warn);
        assert_string_equal(warn, "[]");
        F.armed = 1;
    } else {
        assert_null(out);
    }
    fds_free(out);
    fds_free(warn);
    return rc;
}

static void check_add_text(fx *f)
{
    json_t *want = json_loads(CUSTOMER_TEXT, 0, NULL), *got = NULL;
    json_t *list = NULL;
    fds_query q;
    memset(&q, 0, sizeof q);
    q.search = "赵敏";
    assert_int_equal(fds_customer_list(f->r, &q, &list), FDS_OK);
    assert_int_equal(json_array_size(list), 1);
    assert_int_equal(fds_customer_get(f->r, json_string_value(json_object_get(
        json_array_get(list, 0), "id")), &got), FDS_OK);
    assert_has_all(got, want);
    json_decref(list);
    json_decref(got);
    json_decref(want);
}

static int run_sheet_text(fx *f)
{
    char *out = NULL;
    int rc = fds_customer_sheet_text(f->r, f->cust, &out);
    if (rc == FDS_OK)
        assert_string_equal(out, f->ref_text);
    else
        assert_null(out);
    fds_free(out);
    return rc;
}

static int run_list_text(fx *f)
{
    char *out = NULL;
    int rc = fds_customer_list_text(f->r, "{\"search\":\"zw\",\"stage\":\"lead\"}",
                                    &out);
    if (rc == FDS_OK)
        assert_string_equal(out, f->ref_text);
    else
        assert_null(out);
    fds_free(out);
    return rc;
}

static void test_text_api(void **state)
{
    (void)state;
    fx f;
    fx_replica(&f, 9);
    fx_save(&f);
    op a = {"customer add text", NULL, run_add_text, NULL, check_add_text, 1};
    sweep(&f, &a);

    assert_int_equal(fds_customer_sheet_text(f.r, f.cust, &f.ref_text), FDS_OK);
    op s = {"customer sheet text", NULL, run_sheet_text, NULL, check_nothing, 0};
    sweep(&f, &s);
    fds_free(f.ref_text);
    assert_int_equal(fds_customer_list_text(f.r,
        "{\"search\":\"zw\",\"stage\":\"lead\"}", &f.ref_text), FDS_OK);
    assert_true(strlen(f.ref_text) > 10);
    op l = {"customer list text", NULL, run_list_text, NULL, check_nothing, 0};
    sweep(&f, &l);
    fx_free(&f);
}

/* ---- The sans-I/O session ------------------------------------------------------ */

#define OTHER_DEV "ffffffff-0000-4000-8000-000000000002"
#define REMOTE_ID "eeeeeeee-0000-4000-8000-000000000001"

static void encode(fx *f, const fdsp_msg *m)
{
    free(f->msg);
    assert_int_equal(fdsp_encode(m, &f->msg, &f->msg_len), FDSP_OK);
}

static fdsp_msg *next_msg(fx *f, fdsp_type want)
{
    char *buf = NULL;
    size_t len = 0;
    assert_int_equal(fds_session_next(f->s, &buf, &len), FDS_OK);
    fdsp_msg *m = NULL;
    assert_int_equal(fdsp_decode(buf, len, &m, NULL, 0), FDSP_OK);
    free(buf);
    assert_int_equal(m->type, want);
    return m;
}

/* The welcome to the session's hello, from store `store` (NULL: an old
** server that names none) at epoch 1; encoded into f->msg. */
static void welcome_msg(fx *f, int64_t head, const char *store)
{
    fdsp_msg *hello = next_msg(f, FDSP_HELLO);
    fdsp_msg w;
    memset(&w, 0, sizeof w);
    w.type = FDSP_WELCOME;
    w.version = FDSP_VERSION;
    w.user = "wangfang";
    w.role = "rep";
    w.device = hello->device;
    w.head = head;
    w.store = (char *)store;
    w.epoch = store ? 1 : 0;
    encode(f, &w);
    fdsp_msg_free(hello);
}

static void feed_welcome(fx *f, int64_t head)
{
    welcome_msg(f, head, NULL);
    assert_int_equal(fds_session_feed(f->s, f->msg, f->msg_len), FDS_OK);
}

/* The pushed batch, acked as a whole. */
static void ack_of(fx *f, const fdsp_msg *push)
{
    fdsp_msg a;
    fdsp_refusal ref = {0, FDSP_E_FORBIDDEN, "you may not change that record"};
    memset(&a, 0, sizeof a);
    a.type = FDSP_ACK;
    a.batch = push->batch;
    a.accepted = push->n_changes;
    for (size_t i = 0; f->refuse && i < push->n_changes; i++)
        if (strcmp(push->changes[i].table, "followup") == 0 &&
            strcmp(push->changes[i].field, "result") == 0) {
            ref.index = i;
            a.refused = &ref;
            a.n_refused = 1;
            a.accepted--;
        }
    assert_true(!f->refuse || a.n_refused == 1);
    encode(f, &a);
}

/* A page of changes from another device: a new customer with several
** fields, and a concurrent write of the local customer's phone. */
static void changes_page(fx *f)
{
    static const char *fields[][2] = {
        {"name", "陈静"}, {"phone", "137 0000 1111"}, {"company", "蓝海软件"},
        {"title", "CTO"}, {"notes", "周三下午有空"}, {"stage", "intent"},
        {"owner", "wangfang"}};
    enum { NF = sizeof fields / sizeof fields[0] };
    fdsp_change c[NF + 1];
    fdsp_vv_entry e[NF + 1];
    memset(c, 0, sizeof c);
    for (size_t i = 0; i <= NF; i++) {
        c[i].table = "customer";
        c[i].record = i < NF ? REMOTE_ID : f->cust;
        c[i].field = i < NF ? (char *)fields[i][0] : "phone";
        c[i].value = i < NF ? (char *)fields[i][1] : "186 9999 0000";
        c[i].device = OTHER_DEV;
        c[i].user = "lihua";
        c[i].hlc = ((uint64_t)1764000009000 << 16) + i;
        c[i].seq = (int64_t)i + 1;
        c[i].server_ms = 1764000009000 + (int64_t)i;
        e[i].device = OTHER_DEV;
        e[i].counter = i + 1;
        c[i].vv.n = 1;
        c[i].vv.e = &e[i];
    }
    fdsp_msg m;
    memset(&m, 0, sizeof m);
    m.type = FDSP_CHANGES;
    m.changes = c;
    m.n_changes = NF + 1;
    m.last = NF + 1;
    m.more = 0;
    encode(f, &m);
}

static void drop_session(fx *f)
{
    fds_session_free(f->s);
    f->s = NULL;
}

/* Restore: the hello unarmed; the armed feed is store B's welcome. */
static int prep_restore(fx *f)
{
    assert_int_equal(fds_session_new(f->r, &f->s), FDS_OK);
    welcome_msg(f, 3, "store-b");
    return FDS_OK;
}

static void check_restore(fx *f)
{
    fds_session_stats st;
    fds_session_stats_get(f->s, &st);
    assert_int_equal(st.server_restored, 1);
    int64_t logged = -1, queued = -1, cursor = -1;
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(f->r->db, "SELECT count(*), "
        "sum(resend) FROM log", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    logged = sqlite3_column_int64(q, 0);
    queued = sqlite3_column_int64(q, 1);
    sqlite3_finalize(q);
    assert_true(logged > 10);
    assert_int_equal(st.resent, queued);
    assert_true(queued > 0);
    assert_int_equal(fds__meta_get_i64(f->r, "cursor", -1, &cursor), FDS_OK);
    assert_int_equal(cursor, 0);
    char *pend = NULL;
    assert_int_equal(fds_meta_get(f->r, "restore_store", &pend), FDS_OK);
    assert_string_equal(pend, "store-b");
    free(pend);
}

/* Push: hello and welcome unarmed, then the armed next() gives the push. */
static int prep_push(fx *f)
{
    assert_int_equal(fds_session_new(f->r, &f->s), FDS_OK);
    feed_welcome(f, 0);
    assert_int_equal(fds_outbox_count(f->r, &f->outbox), FDS_OK);
    return FDS_OK;
}

static int run_push(fx *f)
{
    char *buf = NULL;
    size_t len = 0;
    int rc = fds_session_next(f->s, &buf, &len);
    if (rc == FDS_OK) {
        fdsp_msg *m = NULL;
        F.armed = 0;    /* the check itself must not fail */
        assert_int_equal(fdsp_decode(buf, len, &m, NULL, 0), FDSP_OK);
        assert_int_equal(m->type, FDSP_PUSH);
        assert_int_equal((int64_t)m->n_changes, f->outbox);
        fdsp_msg_free(m);
        F.armed = 1;
    } else {
        assert_null(buf);
    }
    free(buf);
    return rc;
}

static void test_session_push(void **state)
{
    (void)state;
    fx f;
    fx_replica(&f, 10);
    fx_save(&f);
    static const op o = {"session push", prep_push, run_push, drop_session,
                         check_nothing, 0};
    sweep(&f, &o);
    fx_free(&f);
}

/* Ack: the push is out; the armed feed of its ack empties the outbox. */
static int prep_ack(fx *f)
{
    /* The last attempt's preparation may have acked the outbox. */
    fx_restore(f);
    prep_push(f);
    fdsp_msg *push = next_msg(f, FDSP_PUSH);
    ack_of(f, push);
    fdsp_msg_free(push);
    return FDS_OK;
}

static int run_feed(fx *f)
{
    return fds_session_feed(f->s, f->msg, f->msg_len);
}

static void check_ack(fx *f)
{
    int64_t n = -1;
    assert_int_equal(fds_outbox_count(f->r, &n), FDS_OK);
    assert_int_equal(n, 0);
    fds_session_stats st;
    fds_session_stats_get(f->s, &st);
    assert_int_equal(st.pushed, f->outbox - 1);
    assert_int_equal(st.refused, 1);
    /* The refusal is recorded whole, and the follow-up no longer holds
    ** the value the server did not take. */
    json_t *refs = NULL, *sheet = NULL;
    assert_int_equal(fds_refusals(f->r, &refs), FDS_OK);
    assert_int_equal(json_array_size(refs), 1);
    json_t *ref = json_array_get(refs, 0);
    assert_string_equal(json_string_value(json_object_get(ref, "value")),
                        "要报价");
    assert_string_equal(json_string_value(json_object_get(ref, "field")),
                        "result");
    assert_string_equal(json_string_value(json_object_get(ref, "message")),
                        "you may not change that record");
    json_decref(refs);
    assert_int_equal(fds_customer_sheet(f->r, f->cust, &sheet), FDS_OK);
    json_t *fu = json_array_get(json_object_get(sheet, "followups"), 0);
    assert_string_equal(json_string_value(json_object_get(fu, "content")),
                        "看了仓库");
    assert_null(json_object_get(fu, "result"));
    json_decref(sheet);
}

static void test_session_ack(void **state)
{
    (void)state;
    fx f;
    fx_replica(&f, 11);
    fx_save(&f);
    f.refuse = 1;
    static const op o = {"session ack (refusal)", prep_ack, run_feed,
                         drop_session, check_ack, 1};
    sweep(&f, &o);
    fx_free(&f);
}

/* Pull: pushed and acked unarmed; the armed feed applies a page (a new
** customer and a conflicting write) with the cursor. */
static int prep_pull(fx *f)
{
    prep_ack(f);
    assert_int_equal(fds_session_feed(f->s, f->msg, f->msg_len), FDS_OK);
    fdsp_msg *pull = next_msg(f, FDSP_PULL);
    assert_int_equal(pull->after, 0);
    fdsp_msg_free(pull);
    changes_page(f);
    return FDS_OK;
}

static void check_pull(fx *f)
{
    json_t *c = NULL;
    assert_int_equal(fds_customer_get(f->r, REMOTE_ID, &c), FDS_OK);
    json_t *want = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
        "name", "陈静", "phone", "137 0000 1111", "company", "蓝海软件",
        "title", "CTO", "notes", "周三下午有空", "stage", "intent",
        "owner", "wangfang");
    assert_has_all(c, want);
    json_decref(want);
    json_decref(c);
    int64_t cursor = -1;
    assert_int_equal(fds__meta_get_i64(f->r, "cursor", 0, &cursor), FDS_OK);
    assert_int_equal(cursor, 8);
    json_t *cs = NULL;
    assert_int_equal(fds_conflicts(f->r, &cs), FDS_OK);
    assert_int_equal(json_array_size(cs), 1);
    json_decref(cs);
    fds_session_stats st;
    fds_session_stats_get(f->s, &st);
    assert_int_equal(st.pulled, 8);
    assert_int_equal(st.conflicts, 1);
}

/* The page is held by the feed and applied (with the cursor, in one
** transaction) by the next call: both armed. */
static int run_pull(fx *f)
{
    int rc = fds_session_feed(f->s, f->msg, f->msg_len);
    if (rc == FDS_OK)
        rc = fds_session_apply(f->s);
    return rc;
}

static void test_session_pull(void **state)
{
    (void)state;
    fx f;
    fx_replica(&f, 12);
    fx_save(&f);
    static const op o = {"session pull (merge)", prep_pull, run_pull,
                         drop_session, check_pull, 1};
    sweep(&f, &o);
    fx_free(&f);
}

/* Rule 13: a replica that synced with store A is welcomed by store B (the
** server was restored): in one transaction the cursor goes to 0 and every
** change it holds is queued for re-send.  The sync with A is unarmed. */
static void test_session_restore(void **state)
{
    (void)state;
    fx f;
    fx_replica(&f, 14);
    assert_int_equal(fds_session_new(f.r, &f.s), FDS_OK);
    welcome_msg(&f, 0, "store-a");
    assert_int_equal(fds_session_feed(f.s, f.msg, f.msg_len), FDS_OK);
    fdsp_msg *push = next_msg(&f, FDSP_PUSH);
    ack_of(&f, push);
    fdsp_msg_free(push);
    assert_int_equal(fds_session_feed(f.s, f.msg, f.msg_len), FDS_OK);
    fdsp_msg_free(next_msg(&f, FDSP_PULL));
    changes_page(&f);
    assert_int_equal(run_pull(&f), FDS_OK);
    drop_session(&f);
    fx_save(&f);
    static const op o = {"session welcome (restore)", prep_restore,
                         run_feed, drop_session, check_restore, 1};
    sweep(&f, &o);
    fx_free(&f);
}

static int run_stats_text(fx *f)
{
    char *t = fds_session_stats_text(f->s);
    if (t == NULL)
        return FDS_NOMEM;
    F.armed = 0;
    json_t *j = json_loads(t, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "pushed")),
                     f->outbox);
    assert_non_null(json_object_get(j, "notes"));
    assert_non_null(json_object_get(j, "state"));
    json_decref(j);
    F.armed = 1;
    fds_free(t);
    return FDS_OK;
}

static int prep_stats(fx *f)
{
    prep_ack(f);
    assert_int_equal(fds_session_feed(f->s, f->msg, f->msg_len), FDS_OK);
    return FDS_OK;
}

static void test_session_stats_text(void **state)
{
    (void)state;
    fx f;
    fx_replica(&f, 13);
    fx_save(&f);
    static const op o = {"session stats text", prep_stats, run_stats_text,
                         drop_session, check_nothing, 0};
    sweep(&f, &o);
    fx_free(&f);
}

/* An abort (a library's assert) names the attempt that caused it. */
static void on_abort(int sig)
{
    static const char m[] = "aborted during: ";
    (void)!write(2, m, sizeof m - 1);
    (void)!write(2, CTX_RUN, strlen(CTX_RUN));
    (void)!write(2, "\n", 1);
    signal(sig, SIG_DFL);
    raise(sig);
}

int main(void)
{
    signal(SIGABRT, on_abort);
    fault_install();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_text),
        cmocka_unit_test_teardown(test_open_create, print_context),
        cmocka_unit_test_teardown(test_open_existing, print_context),
        cmocka_unit_test_teardown(test_customer_add, print_context),
        cmocka_unit_test_teardown(test_followup_add, print_context),
        cmocka_unit_test_teardown(test_plan_add, print_context),
        cmocka_unit_test_teardown(test_stage, print_context),
        cmocka_unit_test_teardown(test_conflict_resolve, print_context),
        cmocka_unit_test_teardown(test_reads, print_context),
        cmocka_unit_test_teardown(test_text_api, print_context),
        cmocka_unit_test_teardown(test_session_push, print_context),
        cmocka_unit_test_teardown(test_session_ack, print_context),
        cmocka_unit_test_teardown(test_session_pull, print_context),
        cmocka_unit_test_teardown(test_session_restore, print_context),
        cmocka_unit_test_teardown(test_session_stats_text, print_context),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
