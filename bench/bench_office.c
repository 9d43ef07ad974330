/*
** bench_office.c — the office view at a real company's size (issue 19).
**
**   bench_office [CUSTOMERS_PER_REP [FOLLOWUPS_PER_CUSTOMER [USERS]]]
**                                                  (defaults 1000, 5, 20)
**
** Makes a throw-away store on 127.0.0.1 only: `init`, 10 reps in 5 teams
** (t0..t4, two each), a manager of t0, a head-office manager (team "*")
** and USERS more head-office users; then writes, straight through the
** store interface as a push would (merge, history, projections in each
** transaction), 10 x CUSTOMERS_PER_REP customers (name, phone, company,
** stage, amount, expected close, birthday), FOLLOWUPS_PER_CUSTOMER
** follow-ups each over the last 120 days, and for 40% of the customers a
** stage change.  With the defaults that is 10,000 customers + 50,000
** follow-ups + 4,000 stage changes.
**
** Then it serves the store and measures, for the head office, the
** manager of t0 and one rep:
**   cold: the first request of each endpoint after the server started
**         (SQLite's page cache empty; the OS file cache is not dropped);
**   warm: the median of 15 more.
** Every request is a new TLS connection (the test client closes after
** each answer), so each figure includes a handshake; `me` (GET /api/me,
** authentication only) is that floor.  Then USERS head-office users each
** open /live and load summary, analysis and a page: the server's RSS
** (/proc/PID/status VmRSS) before and after gives the memory per office
** user; then one change is written and the time until every /live socket
** says "changed" is measured.  Bounded: every wait has a limit.
*/
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "http_client.h"
#include "netutil.h"
#include "procutil.h"
#include "rawws.h"
#include "store.h"

#define REPS 10
#define WARM 15
#define MAX_USERS 200
#define LIVE_ROUNDS 5

static char dir[] = "/tmp/bench_office.XXXXXX";
static char data[96], ca[128], dbpath[128];
static int port;
static pid_t srv;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* `user add`; the token into tok[128]. */
static int user_add(const char *name, const char *role, const char *team,
                    char *tok)
{
    char out[4096];
    char *argv[] = {SERVER_BIN, "user", "add", (char *)name, "--role", (char *)role,
                    "--team", (char *)team, "--json", "--data", data, NULL};
    if (ts_run_out(argv, out, sizeof out) != 0)
        return -1;
    char *t = strstr(out, "\"token\"");
    t = t ? strchr(t + 7, '"') : NULL;
    if (!t || sscanf(t, "\"%127[^\"]\"", tok) != 1)
        return -1;
    return 0;
}

/* ---- The store ------------------------------------------------------------- */

static uint64_t rng = 0x2545F4914F6CDD1DULL;
static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

typedef struct writer {
    fsv_store *s;
    uint64_t hlc;
    uint64_t ctr[REPS];
    size_t n;
} writer;

static int put(writer *w, const char *tbl, const char *rid, const char *field,
               const char *value, int rep)
{
    fdsp_change c;
    char device[32], user[16];  /* room for any int */
    memset(&c, 0, sizeof c);
    snprintf(device, sizeof device, "bench-dev-%d", rep);
    snprintf(user, sizeof user, "r%d", rep);
    c.table = (char *)tbl;
    c.record = (char *)rid;
    c.field = (char *)field;
    c.value = (char *)value;
    c.device = device;
    c.user = user;
    c.hlc = (w->hlc += 1 << 16);
    c.server_ms = (int64_t)(w->hlc >> 16);
    fdsp_vv_entry e = {device, ++w->ctr[rep]};
    c.vv.n = 1;
    c.vv.e = &e;
    int outcome;
    w->n++;
    return fsv_store_merge_change(w->s, &c, &outcome);
}

static const char *const family[] = {"张", "王", "李", "赵", "刘", "陈", "杨", "黄", "周", "吴",
                                     "徐", "孙", "马", "朱", "胡", "郭", "何", "林", "罗", "高"};
static const char *const given[] = {"伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋",
                                    "勇", "艳", "杰", "娟", "涛", "明", "超", "秀英", "霞", "平"};
static const char *const stages[] = {"lead", "intent", "proposal", "quote", "contract", "won", "lost"};

static int build(int per_rep, int fu_per, char first_id[64])
{
    char err[256];
    writer w;
    memset(&w, 0, sizeof w);
    w.hlc = (uint64_t)((int64_t)time(NULL) * 1000 - 200LL * 86400000) << 16;
    char url[160];
    snprintf(url, sizeof url, "sqlite:%s", dbpath);
    if (fsv_store_open(url, 0, &w.s, err, sizeof err) != FSV_OK) {
        fprintf(stderr, "bench_office: %s\n", err);
        return -1;
    }
    int64_t now = (int64_t)time(NULL) * 1000;
    double t0 = now_ms();
    int rc = FSV_OK;
    for (int rep = 0; rep < REPS && rc == FSV_OK; rep++) {
        rc = fsv_store_begin(w.s);
        for (int i = 0; i < per_rep && rc == FSV_OK; i++) {
            char id[64], v[64], at[40];
            snprintf(id, sizeof id, "c%04d%06d-0000-4000-8000-%012d", rep, i, rep * per_rep + i);
            if (rep == 0 && i == 0)
                snprintf(first_id, 64, "%s", id);
            snprintf(v, sizeof v, "%s%s%d", family[rnd(20)], given[rnd(20)], i);
            rc = put(&w, "customer", id, "name", v, rep);
            snprintf(v, sizeof v, "139%08d", rep * per_rep + i);
            if (rc == FSV_OK) rc = put(&w, "customer", id, "phone", v, rep);
            snprintf(v, sizeof v, "公司%d", rnd(500));
            if (rc == FSV_OK) rc = put(&w, "customer", id, "company", v, rep);
            if (rc == FSV_OK) rc = put(&w, "customer", id, "stage", "lead", rep);
            snprintf(v, sizeof v, "%u", 1000 * (1 + rnd(500)));
            if (rc == FSV_OK) rc = put(&w, "customer", id, "amount", v, rep);
            snprintf(v, sizeof v, "2027-%02u-%02u", 1 + rnd(12), 1 + rnd(28));
            if (rc == FSV_OK) rc = put(&w, "customer", id, "expected_close", v, rep);
            if (rnd(3))
                snprintf(v, sizeof v, "19%02u-%02u-%02u", 60 + rnd(40), 1 + rnd(12),
                         1 + rnd(28));
            else    /* a birthday without a year */
                snprintf(v, sizeof v, "%02u-%02u", 1 + rnd(12), 1 + rnd(28));
            if (rc == FSV_OK) rc = put(&w, "customer", id, "birthday", v, rep);
            for (int k = 0; k < fu_per && rc == FSV_OK; k++) {
                char fid[64];
                snprintf(fid, sizeof fid, "f%04d%06d-%04d-4000-8000-000000000000", rep, i, k);
                fds_time_format(now - (int64_t)rnd(120 * 86400) * 1000, at, sizeof at);
                rc = put(&w, "followup", fid, "customer", id, rep);
                if (rc == FSV_OK) rc = put(&w, "followup", fid, "at", at, rep);
                snprintf(v, sizeof v, "r%d", rep);
                if (rc == FSV_OK) rc = put(&w, "followup", fid, "author", v, rep);
                if (rc == FSV_OK) rc = put(&w, "followup", fid, "method", "phone", rep);
                if (rc == FSV_OK) rc = put(&w, "followup", fid, "content", "电话沟通需求，约下周拜访", rep);
            }
            if (rc == FSV_OK && rnd(10) < 4) {
                char sid[64];
                const char *to = stages[1 + rnd(6)];
                snprintf(sid, sizeof sid, "s%04d%06d-0000-4000-8000-000000000000", rep, i);
                fds_time_format(now - (int64_t)rnd(30 * 86400) * 1000, at, sizeof at);
                rc = put(&w, "customer", id, "stage", to, rep);
                if (rc == FSV_OK) rc = put(&w, "stagechg", sid, "customer", id, rep);
                if (rc == FSV_OK) rc = put(&w, "stagechg", sid, "from", "lead", rep);
                if (rc == FSV_OK) rc = put(&w, "stagechg", sid, "to", to, rep);
                if (rc == FSV_OK) rc = put(&w, "stagechg", sid, "at", at, rep);
            }
            if (rc == FSV_OK && i % 500 == 499) {
                rc = fsv_store_commit(w.s);
                if (rc == FSV_OK)
                    rc = fsv_store_begin(w.s);
            }
        }
        if (rc == FSV_OK)
            rc = fsv_store_commit(w.s);
    }
    if (rc != FSV_OK)
        fprintf(stderr, "bench_office: building the store: %s\n", fsv_store_errmsg(w.s));
    double t1 = now_ms();
    printf("store: %zu changes merged in %.1f s (%.0f changes/s, projections"
           " included)\n", w.n, (t1 - t0) / 1e3, (double)w.n / ((t1 - t0) / 1e3));
    fsv_store_close(w.s);
    return rc == FSV_OK ? 0 : -1;
}

/* ---- The figures computed in process ---------------------------------------- */
/* What a request costs once the shared answer is stale (after any change):
** summary and analysis computed on the store, no TLS, no cache; from the
** aggregates, and from the scans a store without them makes
** (fsv__sq_agg_use, store_sqlite_office_agg.c). */
int fsv__sq_agg_use(fsv_store *s, int on);

static double fig_ms(fsv_store *s, const fsv_user *u, json_t *sd, int analysis)
{
    json_t *out = NULL, *fd = json_array();
    int64_t now = (int64_t)time(NULL) * 1000;
    double t0 = now_ms();
    int rc = analysis ? fsv_fig_analysis(s, u, sd, now, "Asia/Shanghai", 0, &out)
                      : fsv_fig_summary(s, u, sd, fd, now, 0, &out);
    double t = now_ms() - t0;
    json_decref(out);
    json_decref(fd);
    return rc == FSV_OK ? t : -1;
}

static int cmp_d(const void *a, const void *b);

static void figures_in_process(void)
{
    char url[160], err[256];
    fsv_store *s = NULL;
    fds_replica *r = NULL;
    json_t *sd = NULL;
    snprintf(url, sizeof url, "sqlite:%s", dbpath);
    if (fsv_store_open(url, 0, &s, err, sizeof err) != FSV_OK ||
        fds_replica_open(":memory:", NULL, &r, err, sizeof err) != FDS_OK ||
        fds_stagedef_list(r, &sd) != FDS_OK) {
        fprintf(stderr, "bench_office: figures in process: %s\n", err);
        fsv_store_close(s);
        fds_replica_close(r);
        return;
    }
    static const fsv_user who[3] = {{"head", "manager", "*", 0},
                                    {"mgr", "manager", "t0", 0},
                                    {"r0", "rep", "t0", 0}};
    static const char *const names[3] = {"head office", "manager of t0", "rep r0"};
    printf("\n| figures computed (in process, ms, median of %d) | user | aggregates"
           " | scans |\n|---|---|---:|---:|\n", WARM);
    for (int a = 0; a < 2; a++)
        for (int k = 0; k < 3; k++) {
            double t[2][WARM];
            /* BENCH_OFFICE_NO_SCANS=1: the aggregates only (the scans of
            ** a store without them take seconds each at 600,000 records). */
            int ways = getenv("BENCH_OFFICE_NO_SCANS") ? 1 : 2;
            t[1][WARM / 2] = -1;
            for (int way = 0; way < ways; way++) {
                fsv__sq_agg_use(s, way == 0);
                for (int i = 0; i < WARM; i++)
                    t[way][i] = fig_ms(s, &who[k], sd, a);
                qsort(t[way], WARM, sizeof t[way][0], cmp_d);
            }
            fsv__sq_agg_use(s, 1);
            printf("| %s | %s | %.2f | %.2f |\n", a ? "analysis" : "summary", names[k],
                   t[0][WARM / 2], t[1][WARM / 2]);
        }
    json_decref(sd);
    fds_replica_close(r);
    fsv_store_close(s);
}

/* ---- The server ------------------------------------------------------------- */

static void serve(void)
{
    char listen[64], log[160];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    snprintf(log, sizeof log, "%s/serve.log", dir);
    srv = fork();
    if (srv == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        dup2(fd, 2);
        execl(SERVER_BIN, SERVER_BIN, "serve", "--data", data, "--listen", listen,
              "--log-level", "warn", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 100 && !ts_port_open(port); i++)
        usleep(100000);
}

static void stop(void)
{
    if (srv > 0) {
        kill(srv, SIGTERM);
        waitpid(srv, NULL, 0);
        srv = 0;
    }
}

static long rss_kib(void)
{
    char path[64], line[256];
    long kib = -1;
    snprintf(path, sizeof path, "/proc/%d/status", (int)srv);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}

/* One GET: its time in ms (-1 if not 200); the body's size into *bytes. */
static double get(const char *path, const char *tok, size_t *bytes)
{
    char hdr[200];
    snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\n", tok);
    double t0 = now_ms();
    ta_resp r = ta_request(port, ca, "GET", path, hdr, NULL);
    double t = now_ms() - t0;
    if (bytes)
        *bytes = r.len;
    int ok = r.status == 200;
    if (!ok)
        fprintf(stderr, "bench_office: GET %s: %d %.200s\n", path, r.status,
                r.body ? r.body : "");
    ta_resp_free(&r);
    return ok ? t : -1;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int per_rep = argc > 1 ? atoi(argv[1]) : 1000;
    int fu_per = argc > 2 ? atoi(argv[2]) : 5;
    int n_users = argc > 3 ? atoi(argv[3]) : 20;
    if (per_rep < 1 || fu_per < 0 || n_users < 2 || n_users > MAX_USERS) {
        fprintf(stderr, "usage: bench_office [CUSTOMERS_PER_REP [FOLLOWUPS_PER_CUSTOMER [USERS (2..%d)]]]\n",
                MAX_USERS);
        return 2;
    }
    if (!mkdtemp(dir))
        return 1;
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(ca, sizeof ca, "%s/ca.pem", data);
    snprintf(dbpath, sizeof dbpath, "%s/fieldsync.db", data);
    char *init[] = {SERVER_BIN, "init", "--data", data, NULL};
    static char tok_head[128], tok_mgr[128], tok_rep[128], tok[MAX_USERS][128], rtok[128];
    int bad = ts_run_out(init, NULL, 0) != 0;
    for (int i = 0; i < REPS && !bad; i++) {
        char name[8], team[8];
        snprintf(name, sizeof name, "r%d", i);
        snprintf(team, sizeof team, "t%d", i / 2);
        bad = user_add(name, "rep", team, i == 0 ? tok_rep : rtok) != 0;
    }
    bad = bad || user_add("mgr", "manager", "t0", tok_mgr) != 0 ||
          user_add("head", "manager", "*", tok_head) != 0;
    for (int i = 0; i < n_users && !bad; i++) {
        char name[16];
        snprintf(name, sizeof name, "office%03d", i);
        bad = user_add(name, "manager", "*", tok[i]) != 0;
    }
    char first[64] = "";
    if (bad || build(per_rep, fu_per, first) != 0) {
        fprintf(stderr, "bench_office: setting up %s failed\n", dir);
        return 1;
    }
    figures_in_process();
    if (getenv("BENCH_OFFICE_FIGURES_ONLY")) {     /* for a profiler */
        char *rm[] = {"/bin/rm", "-rf", dir, NULL};
        if (getenv("BENCH_OFFICE_KEEP"))
            printf("kept %s\n", dir);
        else
            ts_run_out(rm, NULL, 0);
        return 0;
    }
    port = ts_free_port();

    struct utsname un;
    uname(&un);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    printf("machine: %s %s, %ld cores\n", un.sysname, un.machine, cores);

    char sheet[160], asof[200], at[40];
    snprintf(sheet, sizeof sheet, "/api/customers/%s", first);
    fds_time_format(((int64_t)time(NULL) - 10 * 86400) * 1000, at, sizeof at);
    snprintf(asof, sizeof asof, "/api/customers/%s?as_of=%s", first, at);
    const char *eps[][2] = {
        {"me", "/api/me"},
        {"summary", "/api/summary"},
        {"analysis", "/api/analysis"},
        {"analysis: birthdays, a page of 100", "/api/analysis/birthdays?limit=100"},
        {"page of 50", "/api/customers?limit=50"},
        {"page of 50, sort=last", "/api/customers?limit=50&sort=last"},
        {"page of 50, search=zhang", "/api/customers?limit=50&search=zhang"},
        {"sheet + timeline", sheet},
        {"as_of", asof},
    };
    size_t n_eps = sizeof eps / sizeof eps[0];
    char roles[3][64];
    snprintf(roles[0], sizeof roles[0], "head office (%d visible)", REPS * per_rep);
    snprintf(roles[1], sizeof roles[1], "manager of t0 (%d)", 2 * per_rep);
    snprintf(roles[2], sizeof roles[2], "rep r0 (%d)", per_rep);
    const char *toks[3] = {tok_head, tok_mgr, tok_rep};
    int failed = 0;
    printf("\n| endpoint | user | cold ms | warm ms (median of %d) | bytes |\n"
           "|---|---|---:|---:|---:|\n", WARM);
    for (int r = 0; r < 3; r++) {
        serve();            /* cold: a server that has read nothing yet */
        for (size_t e = 0; e < n_eps; e++) {
            size_t bytes = 0;
            double cold = get(eps[e][1], toks[r], &bytes), warm[WARM];
            for (int k = 0; k < WARM; k++)
                warm[k] = get(eps[e][1], toks[r], NULL);
            qsort(warm, WARM, sizeof warm[0], cmp_d);
            failed |= cold < 0 || warm[0] < 0;
            printf("| %s | %s | %.1f | %.1f | %zu |\n", eps[e][0], roles[r], cold,
                   warm[WARM / 2], bytes);
        }
        stop();
    }

    /* Memory per office user, with /live open, and the live delay. */
    serve();
    long idle = rss_kib();
    static rw_conn live[MAX_USERS];
    long after_one = 0;
    for (int i = 0; i < n_users; i++) {
        if (rw_connect(&live[i], port, ca, 0) != 0 ||
            rw_upgrade(&live[i], tok[i], "fieldsync.live") != 101) {
            fprintf(stderr, "bench_office: /live for office%03d failed\n", i);
            failed = 1;
            break;
        }
        char *msg = NULL;
        size_t len;
        if (rw_recv(&live[i], &msg, &len) == 1)     /* hello */
            free(msg);
        failed |= get("/api/summary", tok[i], NULL) < 0;
        failed |= get("/api/analysis", tok[i], NULL) < 0;
        failed |= get("/api/customers?limit=50", tok[i], NULL) < 0;
        if (i == 0)
            after_one = rss_kib();
    }
    long after = rss_kib();
    printf("\nserver RSS: idle %ld KiB; after the first office user %ld KiB; after"
           " %d office users (each with /live open, summary, analysis, a page)"
           " %ld KiB: %.1f KiB per user after the first\n", idle, after_one,
           n_users, after, (double)(after - after_one) / (n_users - 1));

    /* A change written by another process: every /live socket hears it. */
    char url[160], err[256];
    fsv_store *s = NULL;
    snprintf(url, sizeof url, "sqlite:%s", dbpath);
    if (fsv_store_open(url, 0, &s, err, sizeof err) == FSV_OK) {
        writer w;
        memset(&w, 0, sizeof w);
        w.s = s;
        w.hlc = (uint64_t)((int64_t)time(NULL) * 1000) << 16;
        w.ctr[0] = 1u << 30;
        /* LIVE_ROUNDS stage changes, back and forth: the summary's and
        ** the analysis's figures move.  Each round: every /live socket
        ** hears it, then every dashboard refetches its summary and
        ** analysis, as the page does on "changed", and must get figures
        ** at the new head (one client: the fetches one after another,
        ** each with its TLS handshake). */
        /* Twice: counting the first 20 dashboards, then all of them
        ** (every socket is read each round either way). */
        int ok = 1;
        int counts[2] = {n_users < 20 ? n_users : 20, n_users};
        /* Mode 0: bare sockets, each dashboard then fetches; mode 1: the
        ** sockets reopened with ?figures=1, and a dashboard holds the new
        ** figures when its message (which carries them) is read. */
        for (int mode = 0; ok && mode < 2; mode++) {
        size_t msg_bytes = 0;
        for (int i = 0; ok && mode == 1 && i < n_users; i++) {
            char *msg = NULL;
            size_t len;
            rw_close(&live[i]);
            ok = rw_connect(&live[i], port, ca, 0) == 0 &&
                 rw_upgrade_path(&live[i], "/live?figures=1", tok[i],
                                 "fieldsync.live") == 101 &&
                 rw_recv(&live[i], &msg, &len) == 1;    /* hello */
            free(msg);
        }
        for (int pass = 0; ok && pass < (n_users > 20 ? 2 : 1); pass++) {
        int k_users = counts[pass];
        double heard[LIVE_ROUNDS], held[LIVE_ROUNDS];
        for (int round = 0; ok && round < LIVE_ROUNDS; round++) {
            double t0 = now_ms(), worst = 0;
            int64_t head = 0;
            ok = fsv_store_begin(s) == FSV_OK &&
                 put(&w, "customer", first, "stage", round % 2 ? "lost" : "won",
                     0) == FSV_OK &&
                 fsv_store_commit(s) == FSV_OK && fsv_store_head(s, &head) == FSV_OK;
            char want_head[40];
            snprintf(want_head, sizeof want_head, "\"head\":%lld", (long long)head);
            for (int i = 0; ok && i < n_users; i++) {
                char *msg = NULL;
                size_t len = 0;
                int got = rw_recv(&live[i], &msg, &len) == 1 && msg &&
                          strstr(msg, "changed");
                /* mode 1: the figures in the message, at the new head */
                const char *sum = got && mode ? strstr(msg, ",\"summary\":") : NULL;
                if (mode && (!sum || !strstr(sum, want_head)))
                    got = 0;
                if (mode && len > msg_bytes)
                    msg_bytes = len;
                free(msg);
                double t = now_ms() - t0;
                if (!got)
                    ok = 0;
                if (t > worst && i < k_users)
                    worst = t;
            }
            heard[round] = worst;
            for (int i = 0; ok && !mode && i < k_users; i++)
                for (int a = 0; ok && a < 2; a++) {
                    char hdr[200], want[40];
                    snprintf(hdr, sizeof hdr, "Authorization: Bearer %.150s\r\n", tok[i]);
                    snprintf(want, sizeof want, "\"head\":%lld", (long long)head);
                    ta_resp r = ta_request(port, ca, "GET",
                                           a ? "/api/analysis" : "/api/summary", hdr,
                                           NULL);
                    ok = r.status == 200 && r.body && strstr(r.body, want);
                    ta_resp_free(&r);
                }
            held[round] = now_ms() - t0;
        }
        if (ok) {
            qsort(heard, LIVE_ROUNDS, sizeof heard[0], cmp_d);
            qsort(held, LIVE_ROUNDS, sizeof held[0], cmp_d);
            const char *how = mode ? "/live?figures=1, figures in the message"
                                   : "bare /live, then 2 fetches each";
            printf("live (%s): a change committed by another process reached %d"
                   " /live sockets within %.0f ms (median of %d changes; max %.0f)\n",
                   how, k_users, heard[LIVE_ROUNDS / 2], LIVE_ROUNDS,
                   heard[LIVE_ROUNDS - 1]);
            printf("live (%s): %d dashboards held the updated summary and analysis"
                   " %.0f ms after the commit (median; max %.0f)\n", how, k_users,
                   held[LIVE_ROUNDS / 2], held[LIVE_ROUNDS - 1]);
        } else {
            printf("live: FAILED\n");
        }
        }
        if (ok && mode)
            printf("live: a message with the figures: %zu bytes\n", msg_bytes);
        }
        failed |= !ok;
        fsv_store_close(s);
    }
    for (int i = 0; i < n_users; i++)
        rw_close(&live[i]);
    stop();
    char *rm[] = {"/bin/rm", "-rf", dir, NULL};
    if (getenv("BENCH_OFFICE_KEEP"))    /* to look at the store afterwards */
        printf("kept %s\n", dir);
    else
        ts_run_out(rm, NULL, 0);
    return failed;
}
