/*
** bench_store.c — the store's write and pull throughput on each backend,
** through store.h (no network): W writer processes each merge B batches
** of R records x F fields (one transaction per batch, as a push), then
** one reader pulls the whole history in pages of 500 (changes_after).
** SQLite: a file in /tmp; PostgreSQL: a private cluster
** (tests/support/pgcluster.c, fsync off: it measures the store's own
** work, not the disk).  Prints changes per second and the ratio to
** SQLite with one writer, in the same run.
**
**   bench_store [BATCHES]      (default 40; R = 50, F = 8)
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pgcluster.h"
#include "store.h"

#define R 50
#define F 8

static double now_s(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static int writer(const char *url, int w, int batches)
{
    fsv_store *s = NULL;
    char err[256], dev[16];
    if (fsv_store_open(url, 0, &s, err, sizeof err) != FSV_OK) {
        fprintf(stderr, "writer: %s\n", err);
        return 1;
    }
    snprintf(dev, sizeof dev, "dev%d", w);
    uint64_t counter = 0;
    static const char *const fields[F] = {"name", "phone", "company", "title",
                                          "email", "wechat", "stage", "notes"};
    for (int b = 0; b < batches; b++) {
        int rc;
        uint64_t base = counter;
        do {
            counter = base;
            rc = fsv_store_begin(s);
            for (int r = 0; rc == FSV_OK && r < R; r++) {
                char rid[48];
                snprintf(rid, sizeof rid, "w%d-b%d-r%d", w, b, r);
                for (int f = 0; rc == FSV_OK && f < F; f++) {
                    fdsp_vv_entry e = {dev, ++counter};
                    fdsp_change c = {.table = (char *)"customer", .record = rid,
                                     .field = (char *)fields[f],
                                     .value = (char *)"some value 客户",
                                     .vv = {1, &e}, .hlc = counter << 16,
                                     .device = dev, .user = (char *)"alice",
                                     .server_ms = 1};
                    int outcome;
                    rc = fsv_store_merge_change(s, &c, &outcome);
                }
            }
            rc = rc == FSV_OK ? fsv_store_commit(s) : (fsv_store_rollback(s), rc);
        } while (rc == FSV_BUSY);
        if (rc != FSV_OK) {
            fprintf(stderr, "writer: %s\n", fsv_store_errmsg(s));
            return 1;
        }
    }
    fsv_store_close(s);
    return 0;
}

/* W writers at once; write and pull rates (changes/s). */
static int run(const char *url, int writers, int batches, double *wrate,
               double *prate)
{
    char err[256];
    fsv_store *s = NULL;
    if (fsv_store_open(url, 1, &s, err, sizeof err) != FSV_OK) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    double t0 = now_s();
    pid_t pids[8];
    for (int w = 0; w < writers; w++)
        if ((pids[w] = fork()) == 0)
            _exit(writer(url, w, batches));
    int ok = 1;
    for (int w = 0; w < writers; w++) {
        int st;
        waitpid(pids[w], &st, 0);
        ok = ok && WIFEXITED(st) && WEXITSTATUS(st) == 0;
    }
    double t1 = now_s();
    int64_t total = (int64_t)writers * batches * R * F, cursor = 0, got = 0;
    int more = 1;
    while (ok && more) {
        fdsp_change *ch = NULL;
        size_t n = 0;
        int64_t last = 0;
        if (fsv_store_begin_read(s) != FSV_OK ||
            fsv_store_changes_after(s, cursor, 500, NULL, NULL, NULL, &ch, &n,
                                    &last, &more) != FSV_OK) {
            ok = 0;
            break;
        }
        fsv_store_rollback(s);
        for (size_t i = 0; i < n; i++)
            fdsp_change_clear(&ch[i]);
        free(ch);
        got += (int64_t)n;
        cursor = last;
    }
    double t2 = now_s();
    fsv_store_close(s);
    if (!ok || got != total) {
        fprintf(stderr, "bench_store: %s: pulled %lld of %lld\n", url,
                (long long)got, (long long)total);
        return -1;
    }
    *wrate = (double)total / (t1 - t0);
    *prate = (double)total / (t2 - t1);
    return 0;
}

int main(int argc, char **argv)
{
    int batches = argc > 1 ? atoi(argv[1]) : 40;
    ts_pg pg;
    if (ts_pg_start(&pg) != 0)
        return 1;
    char dir[] = "/tmp/fsv-bench-store-XXXXXX";
    if (!mkdtemp(dir)) {
        ts_pg_stop(&pg);
        return 1;
    }
    struct { const char *name; int writers; int pg; } runs[] = {
        {"sqlite, 1 writer", 1, 0}, {"sqlite, 2 writers", 2, 0},
        {"postgresql, 1 writer", 1, 1}, {"postgresql, 2 writers", 2, 1},
    };
    double base_w = 0, base_p = 0;
    int rc = 0;
    printf("%d batches of %d records x %d fields per writer\n", batches, R, F);
    printf("%-24s %14s %8s %14s %8s\n", "store", "write ch/s", "ratio",
           "pull ch/s", "ratio");
    /* FSV_BENCH_PG_ONLY=1: the PostgreSQL rows only (profiling). */
    int pg_only = getenv("FSV_BENCH_PG_ONLY") != NULL;
    if (pg_only)
        fprintf(stderr, "cluster: %s\n", pg.dir);
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        char url[300], db[64];
        if (pg_only && !runs[i].pg)
            continue;
        if (runs[i].pg) {
            if (ts_pg_create_db(&pg, "bench", db, sizeof db) != 0) {
                rc = 1;
                break;
            }
            ts_pg_url(&pg, db, url, sizeof url);
        } else {
            snprintf(url, sizeof url, "sqlite:%s/s%zu.db", dir, i);
        }
        double wr = 0, pr = 0;
        if (run(url, runs[i].writers, batches, &wr, &pr) != 0) {
            rc = 1;
            break;
        }
        if (base_w == 0) {
            base_w = wr;
            base_p = pr;
        }
        printf("%-24s %14.0f %8.2f %14.0f %8.2f\n", runs[i].name, wr,
               wr / base_w, pr, pr / base_p);
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        rc = 1;
    ts_pg_stop(&pg);
    return rc;
}
