/*
** pgcluster.c — a private PostgreSQL cluster for a test (pgcluster.h).
*/
#include "pgcluster.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* The newest /usr/lib/postgresql/N/bin holding initdb (Debian keeps the
** server binaries off PATH), else "" (PATH). */
static void find_bindir(char *out, size_t cap)
{
    const char *env = getenv("FSV_PG_BINDIR");
    out[0] = '\0';
    if (env && env[0]) {
        snprintf(out, cap, "%s", env);
        return;
    }
    DIR *d = opendir("/usr/lib/postgresql");
    if (!d)
        return;
    int best = -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long v = strtol(e->d_name, &end, 10);
        char p[300];
        if (end == e->d_name || *end || v <= best)
            continue;
        snprintf(p, sizeof p, "/usr/lib/postgresql/%ld/bin/initdb", v);
        if (access(p, X_OK) == 0) {
            best = (int)v;
            /* the name is all digits: the number says it */
            snprintf(out, cap, "/usr/lib/postgresql/%ld/bin", v);
        }
    }
    closedir(d);
}

void ts_pg_bin(const ts_pg *pg, const char *prog, char *out, size_t cap)
{
    if (pg->bindir[0])
        snprintf(out, cap, "%s/%s", pg->bindir, prog);
    else
        snprintf(out, cap, "%s", prog);
}

/* Run argv (as pg->runas when set), stdin from /dev/null, stdout and
** stderr appended to log.  Its exit code, or -1. */
static int run(const ts_pg *pg, char *const argv[], const char *log)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        int out = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (in >= 0)
            dup2(in, 0);
        if (out >= 0) {
            dup2(out, 1);
            dup2(out, 2);
        }
        if (pg->runas[0]) {
            char *av[32];
            int n = 0;
            av[n++] = (char *)"runuser";
            av[n++] = (char *)"-u";
            av[n++] = (char *)pg->runas;
            av[n++] = (char *)"--";
            for (int i = 0; argv[i] && n < 31; i++)
                av[n++] = argv[i];
            av[n] = NULL;
            execvp("runuser", av);
        } else {
            execvp(argv[0], argv);
        }
        _exit(127);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void print_log(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[512];
    if (!f)
        return;
    while (fgets(line, sizeof line, f))
        fprintf(stderr, "  %s", line);
    fclose(f);
}

/* pg_ctl stop (immediate: the data is thrown away) and rm -rf. */
static void stop_and_remove(const ts_pg *pg)
{
    char ctl[300], data[100], log[100];
    ts_pg_bin(pg, "pg_ctl", ctl, sizeof ctl);
    snprintf(data, sizeof data, "%s/data", pg->dir);
    snprintf(log, sizeof log, "%s/ctl.log", pg->dir);
    if (pg->started) {
        char *av[] = {ctl, (char *)"-D", data, (char *)"-m", (char *)"immediate",
                      (char *)"-w", (char *)"stop", NULL};
        run(pg, av, log);
    }
    char *rm[] = {(char *)"rm", (char *)"-rf", (char *)pg->dir, NULL};
    ts_pg runner = *pg;
    runner.runas[0] = '\0';
    run(&runner, rm, "/dev/null");
}

/* The watchdog: blocks until the write end closes (ts_pg_stop, or the
** test process died), then stops the cluster. */
static pid_t start_watchdog(const ts_pg *pg, int *wfd)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        setsid(); /* outlives a kill of the test's process group */
        signal(SIGINT, SIG_IGN);
        signal(SIGTERM, SIG_IGN);
        close(p[1]);
        char b;
        while (read(p[0], &b, 1) != 0 && errno == EINTR) {
        }
        stop_and_remove(pg);
        _exit(0);
    }
    close(p[0]);
    *wfd = p[1];
    return pid;
}

static int g_wfd = -1; /* the watchdog's pipe (one cluster per process) */

int ts_pg_start(ts_pg *pg)
{
    memset(pg, 0, sizeof *pg);
    find_bindir(pg->bindir, sizeof pg->bindir);
    snprintf(pg->dir, sizeof pg->dir, "/tmp/fsv-pg-XXXXXX");
    if (!mkdtemp(pg->dir)) {
        fprintf(stderr, "pgcluster: mkdtemp: %s\n", strerror(errno));
        return -1;
    }
    if (geteuid() == 0) {
        const char *who = getpwnam("postgres") ? "postgres" : "nobody";
        struct passwd *pw = getpwnam(who);
        if (!pw || chown(pg->dir, pw->pw_uid, pw->pw_gid) != 0) {
            fprintf(stderr, "pgcluster: no user to run PostgreSQL as\n");
            rmdir(pg->dir);
            return -1;
        }
        snprintf(pg->runas, sizeof pg->runas, "%s", who);
    }
    char initdb[300], ctl[300], data[100], log[100], srvlog[100], opts[200];
    ts_pg_bin(pg, "initdb", initdb, sizeof initdb);
    ts_pg_bin(pg, "pg_ctl", ctl, sizeof ctl);
    snprintf(data, sizeof data, "%s/data", pg->dir);
    snprintf(log, sizeof log, "%s/initdb.log", pg->dir);
    snprintf(srvlog, sizeof srvlog, "%s/server.log", pg->dir);
    /* Tests throw the data away: no fsync.  The socket in our folder only.
    ** FSV_PG_FSYNC=1 (bench_stores, to compare with the SQLite store's
    ** synchronous=FULL): PostgreSQL's durable defaults. */
    snprintf(opts, sizeof opts,
             "-k %s -c listen_addresses='' %s -c max_connections=60",
             pg->dir, getenv("FSV_PG_FSYNC") ? ""
                      : "-c fsync=off -c full_page_writes=off");
    char *av_init[] = {initdb, (char *)"-D", data, (char *)"-U",
                       (char *)"fieldsync", (char *)"-A", (char *)"trust",
                       (char *)"-E", (char *)"UTF8", (char *)"--locale=C.UTF-8",
                       (char *)"--no-sync", NULL};
    if (run(pg, av_init, log) != 0) {
        fprintf(stderr, "pgcluster: initdb failed:\n");
        print_log(log);
        stop_and_remove(pg);
        return -1;
    }
    int wfd = -1;
    pg->started = 1; /* from here the watchdog stops it */
    pg->watchdog = start_watchdog(pg, &wfd);
    if (pg->watchdog < 0) {
        stop_and_remove(pg);
        return -1;
    }
    g_wfd = wfd;
    char *av_start[] = {ctl, (char *)"-D", data, (char *)"-l", srvlog,
                        (char *)"-o", opts, (char *)"-w", (char *)"start",
                        NULL};
    if (run(pg, av_start, log) != 0) {
        fprintf(stderr, "pgcluster: pg_ctl start failed:\n");
        print_log(log);
        print_log(srvlog);
        ts_pg_stop(pg);
        return -1;
    }
    return 0;
}

void ts_pg_stop(ts_pg *pg)
{
    if (pg->watchdog <= 0)
        return;
    if (g_wfd >= 0) {
        close(g_wfd);
        g_wfd = -1;
    }
    int st;
    while (waitpid(pg->watchdog, &st, 0) < 0 && errno == EINTR) {
    }
    pg->watchdog = 0;
    pg->started = 0;
}

void ts_pg_url(const ts_pg *pg, const char *db, char *out, size_t cap)
{
    snprintf(out, cap, "postgresql:///%s?host=%s&user=fieldsync", db, pg->dir);
}

static int admin_exec(ts_pg *pg, const char *sql)
{
    char conninfo[200];
    snprintf(conninfo, sizeof conninfo, "host=%s user=fieldsync dbname=postgres",
             pg->dir);
    PGconn *c = PQconnectdb(conninfo);
    int rc = -1;
    if (PQstatus(c) == CONNECTION_OK) {
        PGresult *r = PQexec(c, sql);
        rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
        if (rc != 0)
            fprintf(stderr, "pgcluster: %s: %s", sql, PQerrorMessage(c));
        PQclear(r);
    } else {
        fprintf(stderr, "pgcluster: connect: %s", PQerrorMessage(c));
    }
    PQfinish(c);
    return rc;
}

int ts_pg_create_db(ts_pg *pg, const char *tag, char *name, size_t cap)
{
    char sql[200];
    snprintf(name, cap, "fsv_%.24s_%u", tag, ++pg->next_db);
    for (char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
            *p = '_';
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    return admin_exec(pg, sql);
}

int ts_pg_drop_db(ts_pg *pg, const char *name)
{
    char sql[200];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
    return admin_exec(pg, sql);
}
