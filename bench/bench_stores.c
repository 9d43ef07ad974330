/*
** bench_stores.c — issue 12's end-to-end target in one run: devices
** pushing through real `fieldsync-server serve` processes on
**   1. SQLite, one process (the default store),
**   2. PostgreSQL, one process,
**   3. PostgreSQL, two processes on one database (reps split between them),
** each a bench_sync run (the program beside this one) on the same data
** set, and the push and pull records/s of each as ratios to SQLite's.
** Target: row 3's push ratio >= 1.
**
**   bench_stores [--no-fsync] [bench_sync options, e.g. --scale 0.2]
**
** PostgreSQL is a private cluster (tests/support/pgcluster.c) on a unix
** socket, with fsync on (FSV_PG_FSYNC) so it is as durable as the SQLite
** store (synchronous=FULL); --no-fsync turns it off (the tests' setting).
** Each PostgreSQL row gets a fresh database.  The machine's load average
** is printed before and after: other work on a shared machine moves the
** figures, the ratios of one run less so.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pgcluster.h"

static char bench_sync[4096];

static void loadavg(const char *when)
{
    char b[128] = "";
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (!fgets(b, sizeof b, f))
            b[0] = '\0';
        fclose(f);
    }
    printf("load average %s: %s", when, b[0] ? b : "?\n");
}

/* Run bench_sync with args; its RESULT line's figures.  0 or -1. */
static int run(char **args, int nargs, double *push, double *pull,
               double *srv_push)
{
    char *av[64];
    int n = 0;
    av[n++] = bench_sync;
    for (int i = 0; i < nargs && n < 62; i++)
        av[n++] = args[i];
    av[n] = NULL;
    int pfd[2];
    if (pipe(pfd) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        execv(av[0], av);
        _exit(127);
    }
    close(pfd[1]);
    FILE *f = fdopen(pfd[0], "r");
    char line[1024];
    int got = 0;
    while (f && fgets(line, sizeof line, f)) {
        fputs("    ", stdout);
        fputs(line, stdout);
        if (sscanf(line, "RESULT push_rps=%lf pull_rps=%lf srv_push_us=%lf",
                   push, pull, srv_push) == 3)
            got = 1;
    }
    if (f)
        fclose(f);
    int st;
    waitpid(pid, &st, 0);
    fflush(stdout);
    return got && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    int fsync_on = 1, first = 1;
    if (argc > 1 && strcmp(argv[1], "--no-fsync") == 0) {
        fsync_on = 0;
        first = 2;
    }
    char self[3072];
    ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
    self[k > 0 ? k : 0] = '\0';
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    snprintf(bench_sync, sizeof bench_sync, "%s/bench_sync", self);
    if (fsync_on)
        setenv("FSV_PG_FSYNC", "1", 1);
    ts_pg pg;
    if (ts_pg_start(&pg) != 0)
        return 1;
    loadavg("before");
    struct { const char *name; int pg, servers; double push, pull, cpu; } rows[] = {
        {"sqlite, 1 process", 0, 1, 0, 0, 0},
        {"postgresql, 1 process", 1, 1, 0, 0, 0},
        {"postgresql, 2 processes", 1, 2, 0, 0, 0},
    };
    int rc = 0;
    size_t nrows = sizeof rows / sizeof rows[0];
    for (size_t i = 0; i < nrows && rc == 0; i++) {
        char *args[64], db[64], url[300], nsrv[8];
        int n = 0;
        for (int a = first; a < argc && n < 56; a++)
            args[n++] = argv[a];
        args[n++] = (char *)"--no-bare";
        if (rows[i].pg) {
            if (ts_pg_create_db(&pg, "stores", db, sizeof db) != 0) {
                rc = 1;
                break;
            }
            ts_pg_url(&pg, db, url, sizeof url);
            snprintf(nsrv, sizeof nsrv, "%d", rows[i].servers);
            args[n++] = (char *)"--store";
            args[n++] = url;
            args[n++] = (char *)"--servers";
            args[n++] = nsrv;
        }
        printf("%s:\n", rows[i].name);
        fflush(stdout);
        if (run(args, n, &rows[i].push, &rows[i].pull, &rows[i].cpu) != 0) {
            fprintf(stderr, "bench_stores: the %s run failed\n", rows[i].name);
            rc = 1;
        }
    }
    loadavg("after");
    if (rc == 0) {
        printf("%-26s %12s %7s %12s %7s %14s\n", "store", "push rec/s",
               "ratio", "pull rec/s", "ratio", "srv CPU-us/rec");
        for (size_t i = 0; i < nrows; i++)
            printf("%-26s %12.0f %7.2f %12.0f %7.2f %14.1f\n", rows[i].name,
                   rows[i].push, rows[i].push / rows[0].push, rows[i].pull,
                   rows[i].pull / rows[0].pull, rows[i].cpu);
        printf("PostgreSQL fsync %s\n", fsync_on ? "on" : "off");
    }
    ts_pg_stop(&pg);
    return rc;
}
