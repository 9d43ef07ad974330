/*
** bench_idle.c — what idle sync connections cost the server (issue 10).
**
**   bench_idle [N [SECONDS [SERVER_BIN]]]      (defaults 1000, 20, built)
**
** Makes a throw-away store (init, one admin user), serves it on
** 127.0.0.1, opens N sync WebSocket connections over TLS (upgrade only,
** then silent: a device with nothing to say), waits 2 s, and reports the
** server process's CPU time (utime + stime from /proc/PID/stat) over
** SECONDS, as a percentage of one core.  Stays below the server's idle
** ping (60 s), so nothing but the server's own timers runs.  Needs
** `ulimit -n` above N + 50 (the server inherits it).
*/
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include "fieldsync_proto.h"
#include "netutil.h"
#include "procutil.h"
#include "rawws.h"

static long cpu_ticks(pid_t pid)
{
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    long ut = 0, stt = 0;
    /* fields after ")": state(3) ... utime(14) stime(15) */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld",
                     &ut, &stt) != 2)
        return -1;
    return ut + stt;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 1000;
    int secs = argc > 2 ? atoi(argv[2]) : 20;
    const char *bin = argc > 3 ? argv[3] : SERVER_BIN;
    char dir[] = "/tmp/bench_idle.XXXXXX", data[64], ca[96], out[4096];
    if (!mkdtemp(dir))
        return 1;
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(ca, sizeof ca, "%s/ca.pem", data);
    char *init[] = {(char *)bin, "init", "--data", data, NULL};
    char *add[] = {(char *)bin, "user", "add", "bench", "--role", "admin",
                   "--json", "--data", data, NULL};
    if (ts_run_out(init, NULL, 0) != 0 || ts_run_out(add, out, sizeof out) != 0) {
        fprintf(stderr, "bench_idle: init/user add failed\n");
        return 1;
    }
    char *t = strstr(out, "\"token\"");
    char token[128] = "";
    if (!t || sscanf(t, "\"token\": \"%127[^\"]\"", token) != 1) {
        t = t ? strchr(t + 7, '"') : NULL;
        if (!t || sscanf(t, "\"%127[^\"]\"", token) != 1) {
            fprintf(stderr, "bench_idle: no token in %s\n", out);
            return 1;
        }
    }
    int port = ts_free_port();
    char listen[64], log[96];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    snprintf(log, sizeof log, "%s/serve.log", dir);
    pid_t srv = fork();
    if (srv == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 2);
        execl(bin, bin, "serve", "--data", data, "--listen", listen,
              (char *)NULL);
        _exit(127);
    }
    rw_conn *c = calloc((size_t)n, sizeof *c);
    struct timespec pause = {0, 200 * 1000000L};
    nanosleep(&pause, NULL);
    int up = 0;
    for (int i = 0; i < n; i++) {
        for (int tries = 0; tries < 50; tries++) {
            if (rw_connect(&c[i], port, ca, 0) == 0)
                break;
            nanosleep(&pause, NULL);
        }
        if (c[i].ssl && rw_upgrade(&c[i], token, FDSP_SUBPROTOCOL) == 101)
            up++;
    }
    sleep(2);
    long hz = sysconf(_SC_CLK_TCK);
    long a = cpu_ticks(srv);
    sleep((unsigned)secs);
    long b = cpu_ticks(srv);
    double cpu_s = (double)(b - a) / (double)hz;
    printf("bench_idle: %d of %d connections up; server CPU over %d s: %.2f s"
           " (%.1f%% of one core)\n", up, n, secs, cpu_s,
           100.0 * cpu_s / secs);
    for (int i = 0; i < n; i++)
        rw_close(&c[i]);
    kill(srv, SIGTERM);
    waitpid(srv, NULL, 0);
    char *rm[] = {"/bin/rm", "-rf", dir, NULL};
    ts_run_out(rm, NULL, 0);
    free(c);
    return up == n ? 0 : 1;
}
