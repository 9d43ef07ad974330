/*
** test_transport.c — the device transport against bad links (issue 10),
** with the real `fieldsync` CLI:
**   - a server that accepts TCP and never answers: `sync` fails with exit
**     4 and says so within FIELDSYNC_TIMEOUT; `sync --watch` keeps
**     reconnecting (no crash, exit 139 before the fix);
**   - a link that cuts every 160 KB: repeated `sync` runs still push the
**     whole outbox (adaptive push batches);
**   - a device clock years off: the TLS error says the certificate is not
**     valid at the device's date, and names that date (faketime).
** FAULTS_VERBOSE=1 prints each sync run of the cutting-link test.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "flib.h"

static th_server g_s;

static int teardown(void **state)
{
    (void)state;
    th_cleanup(&g_s);
    return 0;
}

static void db_path(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s.db", g_s.dir, name);
}

/* `init --offline` of replica NAME against url with the server's CA. */
static void init_offline(const char *db, const char *url, const char *tok)
{
    fl_res r;
    fl_run(&r, db, NULL, 20000, "init", "--server", url, "--token", tok,
           "--ca", g_s.ca, "--offline", NULL);
    if (r.code != 0)
        fail_msg("init failed (%d): %s", r.code, r.err);
}

/* ---- 1. a stalled handshake ------------------------------------------------ */

static void test_stall_sync_exits_4(void **state)
{
    (void)state;
    th_init(&g_s);
    int port, lfd = fl_listener(&port);     /* the kernel accepts; no one answers */
    char url[64], db[400];
    snprintf(url, sizeof url, "wss://127.0.0.1:%d", port);
    db_path(db, sizeof db, "stall");
    init_offline(db, url, "fs_0000");
    const char *env[] = {"FIELDSYNC_TIMEOUT=2", NULL};
    fl_res r;
    long long t0 = th_ms();
    fl_run(&r, db, env, 15000, "sync", NULL);
    long long took = th_ms() - t0;
    close(lfd);
    if (r.code != 4)
        fail_msg("sync against a stalled server: exit %d (want 4), took %lld"
                 " ms, stderr: %s", r.code, took, r.err);
    assert_true(took < 10000);
    assert_non_null(strstr(r.err, "server unreachable"));
    assert_non_null(strstr(r.err, "within 2 s"));
    /* Not the CA hint: nothing is wrong with the CA. */
    assert_null(strstr(r.err, "CA file"));
}

static void test_stall_watch_reconnects(void **state)
{
    (void)state;
    th_init(&g_s);
    int port, lfd = fl_listener(&port);
    char url[64], db[400], log[400];
    snprintf(url, sizeof url, "wss://127.0.0.1:%d", port);
    db_path(db, sizeof db, "stallw");
    snprintf(log, sizeof log, "%s/watch.log", g_s.dir);
    init_offline(db, url, "fs_0000");
    const char *env[] = {"FIELDSYNC_TIMEOUT=1", NULL};
    pid_t pid = fl_spawn(&g_s, db, env, log, "sync", "--watch", NULL);
    /* Accept (and hold, never answering) every attempt for 7 s: the first
    ** at once, then after each 1 s deadline plus the 1, 2, 4 s backoff. */
    int held[64], n = 0, died = 0, status = 0;
    long long end = th_ms() + 7000;
    while (th_ms() < end && !died) {
        struct pollfd pf = {lfd, POLLIN, 0};
        if (poll(&pf, 1, 100) > 0 && n < 64) {
            int fd = accept(lfd, NULL, NULL);
            if (fd >= 0)
                held[n++] = fd;
        }
        died = waitpid(pid, &status, WNOHANG) == pid;
    }
    if (died) {
        char *l = fl_slurp(log);
        fail_msg("sync --watch died during the stall (status %d, signal %d):"
                 " %s", status, WIFSIGNALED(status) ? WTERMSIG(status) : 0, l);
    }
    kill(pid, SIGINT);
    int code = th_reap(&g_s, pid, 10000);
    for (int i = 0; i < n; i++)
        close(held[i]);
    close(lfd);
    if (n < 3)
        fail_msg("sync --watch made %d connection attempts in 7 s of stall"
                 " (want >= 3: it must give up on each and reconnect)", n);
    /* SIGINT ends a watch cleanly. */
    assert_int_equal(code, 0);
}

/* ---- 2. a link that cuts every 160 KB -------------------------------------- */

/* n customers, each with `notes` of random text that deflate cannot shrink
** much, so a full push batch is well over the link's 160 KB. */
static void make_outbox(const char *name, int n, size_t note_len)
{
    fds_replica *r = th_replica(&g_s, name);
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                             "0123456789+/";
    char *note = malloc(note_len + 1);
    unsigned long long x = 88172645463325252ULL;
    assert_int_equal(fds_begin(r), FDS_OK);
    for (int i = 0; i < n; i++) {
        for (size_t k = 0; k < note_len; k++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            note[k] = al[x & 63];
        }
        note[note_len] = '\0';
        char nm[32];
        snprintf(nm, sizeof nm, "cut customer %d", i);
        json_t *in = json_pack("{s:s,s:s}", "name", nm, "notes", note), *out = NULL;
        if (fds_customer_add(r, in, &out, NULL) != FDS_OK)
            fail_msg("customer add: %s", fds_errmsg(r));
        json_decref(in);
        json_decref(out);
    }
    assert_int_equal(fds_commit(r), FDS_OK);
    free(note);
    fds_replica_close(r);
}

static int64_t outbox_of(const char *name)
{
    fds_replica *r = th_replica(&g_s, name);
    int64_t n = -1;
    assert_int_equal(fds_outbox_count(r, &n), FDS_OK);
    fds_replica_close(r);
    return n;
}

static void test_push_over_cutting_link(void **state)
{
    (void)state;
    char tok[80], url[64], db[400];
    th_init(&g_s);
    th_user(&g_s, "ann", "admin", NULL, tok);
    th_start(&g_s, NULL);
    pid_t ppid;
    int pport = fl_proxy(&g_s, &ppid, "--mode", "cut", "--cut", "163840",
                         "--max-secs", "120", NULL);
    snprintf(url, sizeof url, "wss://127.0.0.1:%d", pport);
    make_outbox("cut", 240, 2400);
    int64_t start = outbox_of("cut");
    db_path(db, sizeof db, "cut");
    init_offline(db, url, tok);
    const char *env[] = {"FIELDSYNC_TIMEOUT=5", NULL};
    int runs = 0, code = -1;
    int64_t left = start;
    long long t0 = th_ms();
    /* A rep (or cron) running `sync` again after each failure. */
    while (runs < 60 && th_ms() - t0 < 100000) {
        fl_res r;
        long long t1 = th_ms();
        fl_run(&r, db, env, 20000, "sync", NULL);
        runs++;
        if (getenv("FAULTS_VERBOSE")) {
            char *nl = strrchr(r.err, '\n');
            if (nl) *nl = '\0';
            nl = strrchr(r.err, '\n');
            print_message("run %d: exit %d in %lld ms, outbox %lld: %s\n", runs,
                          r.code, th_ms() - t1, (long long)outbox_of("cut"),
                          nl ? nl + 1 : r.err);
        }
        code = r.code;
        left = outbox_of("cut");
        if (code == 0 && left == 0)
            break;
        if (code != 4)
            fail_msg("sync over a cutting link: exit %d: %s", code, r.err);
    }
    kill(ppid, SIGTERM);
    th_reap(&g_s, ppid, 5000);
    print_message("outbox %lld changes, pushed over a link cut every 160 KB"
                  " in %d runs, %lld ms\n", (long long)start, runs,
                  th_ms() - t0);
    if (left != 0)
        fail_msg("after %d sync runs over a link that cuts every 160 KB, %lld"
                 " of %lld changes are still unpushed (the batch never"
                 " shrinks)", runs, (long long)left, (long long)start);
    assert_int_equal(code, 0);
    /* Every change reached the server once (no history row twice). */
    assert_true(th_history_count(&g_s) >= start);
}

/* ---- 3. a device clock outside the certificate's validity ------------------ */

/* days: how far the CLI's clock is moved (libfaketime, "+Nd"). */
static void clock_case(int days, const char *want)
{
    if (!FAKETIME_LIB[0] || access(FAKETIME_LIB, R_OK) != 0) {
        print_message("libfaketime not installed (scripts/setup.sh): skipped\n");
        skip();
    }
    char offset[32];
    snprintf(offset, sizeof offset, "%+dd", days);
    char tok[80], db[400], preload[300], ft[64];
    th_init(&g_s);
    th_user(&g_s, "ann", "admin", NULL, tok);
    th_start(&g_s, NULL);
    db_path(db, sizeof db, "clock");
    init_offline(db, g_s.url, tok);
    snprintf(preload, sizeof preload, "LD_PRELOAD=%s", FAKETIME_LIB);
    snprintf(ft, sizeof ft, "FAKETIME=%s", offset);
    /* Under ASan the sanitizer runtime must come first; libfaketime
    ** preloaded ahead of it is fine for this test, so say so. */
    char asan[512];
    const char *ao = getenv("ASAN_OPTIONS");
    snprintf(asan, sizeof asan, "ASAN_OPTIONS=%s%sverify_asan_link_order=0",
             ao ? ao : "", ao && *ao ? ":" : "");
    const char *env[] = {preload, ft, "FAKETIME_DONT_FAKE_MONOTONIC=1", asan,
                         NULL};
    fl_res r;
    fl_run(&r, db, env, 20000, "sync", NULL);
    if (r.code != 4 || !strstr(r.err, want))
        fail_msg("sync with the clock at %s: exit %d, stderr: %s (want exit 4"
                 " and \"%s\")", offset, r.code, r.err, want);
    /* It names the device's date (the faked year), and does not blame the
    ** CA file. */
    assert_non_null(strstr(r.err, "device's clock ("));
    assert_null(strstr(r.err, "CA file"));
    time_t then = time(NULL) + (time_t)days * 86400;
    struct tm tm;
    gmtime_r(&then, &tm);
    char date[16];
    strftime(date, sizeof date, "%Y-%m-%d", &tm);
    if (!strstr(r.err, date))
        fail_msg("the error does not name the device's date %s: %s", date,
                 r.err);
    /* The same replica with the real clock syncs. */
    fl_run(&r, db, NULL, 20000, "sync", NULL);
    assert_int_equal(r.code, 0);
}

static void test_clock_years_ahead(void **state)
{
    (void)state;
    clock_case(30 * 365, "has expired");
}

static void test_clock_years_behind(void **state)
{
    (void)state;
    clock_case(-2 * 365, "is not valid yet");
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_stall_sync_exits_4, teardown),
        cmocka_unit_test_teardown(test_stall_watch_reconnects, teardown),
        cmocka_unit_test_teardown(test_push_over_cutting_link, teardown),
        cmocka_unit_test_teardown(test_clock_years_ahead, teardown),
        cmocka_unit_test_teardown(test_clock_years_behind, teardown),
    };
    return cmocka_run_group_tests_name("faults_transport", tests, NULL, NULL);
}
