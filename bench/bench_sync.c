/*
** bench_sync.c — sync throughput, CPU, size and bytes through a real
** fieldsync-server over TLS, against bare SQLite in the same run.
**
**   bench_sync [--shape peer|old] [--scale F] [--reps N] [--customers N]
**              [--followups N] [--no-bare] [--keep] [--store URL]
**              [--servers N]
**   bench_sync [REPS [CUSTOMERS [FOLLOWUPS]]]      (the old positional form)
**
** The default shape is the peer-shaped set of issue 11: 10 reps x (1,000
** customers with 9 filled fields + 5,000 follow-ups with 6 fields) =
** 60,000 records, 390,000 field changes.  --shape old is the set of
** sessions 1-4 (customers with 5 fields, follow-ups with 5).  --scale F
** multiplies the customers per rep (and so the follow-ups): --scale 0.05
** is a short run for checking the scripts on a shared machine.
**
** Starts fieldsync-server (init, one rep user per device, serve on a free
** 127.0.0.1 port; the binary is $FIELDSYNC_SERVER or ../sync-server/
** fieldsync-server next to this program), writes each rep's records into
** its own replica, pushes all replicas concurrently (one process per
** device), then pulls everything into a fresh admin device, and reports:
**
**   push and pull records/s; server CPU-us per record in each (utime +
**   stime of the server process from /proc); device CPU-us per record
**   (the pushing processes' rusage; the pulling device is this process);
**   the server store and the pulled replica on disk, with their largest
**   tables (SQLite's dbstat); bytes on the wire per record, both ways,
**   counted as the TLS bytes each device's socket carried.
**
** --store URL: the server's store is URL (postgresql://...; init makes
** the schema there, every admin command and serve get --store URL), not
** the SQLite file in its data folder; the store's size is then not
** reported.  --servers N: N serve processes on one data folder and store
** (PostgreSQL only), each on its own port, rep i pushing through process
** i mod N, the pull through the first; server CPU is summed over them.
** bench_stores (bench_stores.c) runs SQLite x 1 and PostgreSQL x 1 and x 2
** in one run and prints the ratios.  The last line is a summary for it:
** "RESULT push_rps=... pull_rps=...".
**
** In the same run, unless --no-bare, two bare SQLite baselines on the same
** records (WAL, synchronous=FULL like the server, 500 records per
** transaction like one sync batch):
**   (a) record + history: per record one upsert of a row holding all its
**       fields and one appended history row: ingest records/s;
**   (b) a plain table: one row per record, its fields as columns (a
**       customer table and a follow-up table): its size on disk;
** and prints the ratios.
**
** Bytes on the wire: this program includes the CLI's transport, whose TLS
** connections libwebsockets frees with SSL_free; SSL_free is defined here
** (the executable's definition wins over libssl's for libwebsockets' call)
** to add up the socket BIO's byte counters before handing over to
** OpenSSL's.  So the count needs no change to the transport and works for
** any commit's transport (bench/compare.sh builds old commits with this
** file).
**
** Under valgrind --tool=callgrind (bench/callgrind.sh) each pushing device
** dumps its counts as "device-push" and this process its pull as
** "device-pull"; the script adds the server's and divides by records.
*/
#include "../client-cli/transport_lws.c"
#include "netutil.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <openssl/bio.h>
#include <sqlite3.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#endif
#endif
#ifndef CALLGRIND_DUMP_STATS_AT
#define CALLGRIND_DUMP_STATS_AT(x) ((void)0)
#define CALLGRIND_ZERO_STATS ((void)0)
#endif

#define MAX_REPS 64
#define MAX_FIELDS 10

/* ---- Bytes on the wire (see the header) ------------------------------------ */

static unsigned long long g_wire_in, g_wire_out;

void SSL_free(SSL *ssl)
{
    static void (*real)(SSL *);
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "SSL_free");
    if (ssl) {
        BIO *rb = SSL_get_rbio(ssl), *wb = SSL_get_wbio(ssl);
        if (rb)
            g_wire_in += BIO_number_read(rb);
        if (wb)
            g_wire_out += BIO_number_written(wb);
    }
    if (real)
        real(ssl);
}

/* ---- Helpers ----------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bench_sync: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static double tv_s(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return tv_s(ru.ru_utime) + tv_s(ru.ru_stime);
}

/* utime + stime of process pid (all its threads), seconds. */
static double proc_cpu_s(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');   /* the name may hold spaces */
    unsigned long long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                     &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static long long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

/* A database file with its WAL (after a clean close the WAL is empty). */
static long long db_size(const char *path)
{
    char wal[800];
    snprintf(wal, sizeof wal, "%s-wal", path);
    return file_size(path) + file_size(wal);
}

static double mib(long long b)
{
    return (double)b / (1024.0 * 1024.0);
}

/* The largest tables and indexes of a database (dbstat), one line. */
static void db_breakdown(const char *path)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT name, sum(pgsize) FROM dbstat GROUP BY name"
                           " ORDER BY 2 DESC LIMIT 6", -1, &st, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return;     /* SQLite built without dbstat: sizes only */
    }
    printf("      largest:");
    while (sqlite3_step(st) == SQLITE_ROW)
        printf(" %s %.1f MiB,", (const char *)sqlite3_column_text(st, 0),
               mib(sqlite3_column_int64(st, 1)));
    printf("\n");
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static char server_bin[4096];
static char data_dir[512];
static char ca_path[600];
static const char *store_url;   /* --store: NULL for the SQLite default */

/* Run the server binary with args (NULL-terminated) + --data; stdout into
** out.  Returns the exit code. */
static int admin(char *out, size_t outlen, ...)
{
    char *argv[32];
    int n = 0;
    argv[n++] = server_bin;
    va_list ap;
    va_start(ap, outlen);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < 26)
        argv[n++] = (char *)a;
    va_end(ap);
    if (store_url) {
        argv[n++] = (char *)"--store";
        argv[n++] = (char *)store_url;
    }
    argv[n++] = (char *)"--data";
    argv[n++] = data_dir;
    argv[n] = NULL;
    int pfd[2];
    if (pipe(pfd) != 0)
        die("pipe failed");
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(pfd[1]);
    size_t used = 0;
    ssize_t k;
    while ((k = read(pfd[0], out + used, outlen - used - 1)) > 0)
        used += (size_t)k;
    out[used] = '\0';
    close(pfd[0]);
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

static void token_of(const char *json, char *tok, size_t len)
{
    json_t *j = json_loads(json, 0, NULL);
    const char *t = j ? json_string_value(json_object_get(j, "token")) : NULL;
    if (!t)
        die("cannot read a token from: %s", json);
    snprintf(tok, len, "%s", t);
    json_decref(j);
}

static pid_t start_server(int port, const char *log)
{
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            dup2(fd, 2);
            close(fd);
        }
        if (store_url)
            execl(server_bin, server_bin, "serve", "--data", data_dir,
                  "--store", store_url, "--listen", listen, "--log-level",
                  "warn", (char *)NULL);
        else
            execl(server_bin, server_bin, "serve", "--data", data_dir,
                  "--listen", listen, "--log-level", "warn", (char *)NULL);
        _exit(127);
    }
    /* Under valgrind the server takes many seconds to come up. */
    for (int i = 0; i < 3000 && !ts_port_open(port); i++)
        usleep(20000);
    if (!ts_port_open(port))
        die("server did not start (see %s)", log);
    return pid;
}

static int rm_one(const char *p, const struct stat *st, int f, struct FTW *w)
{
    (void)st;
    (void)f;
    (void)w;
    return remove(p);
}

/* ---- The records ------------------------------------------------------------- */

typedef struct shape {
    int peer;           /* 1: 9-field customers, 6-field follow-ups */
    int reps, customers, followups;     /* customers per rep, follow-ups
                                        ** per customer */
} shape;

/* One record as the replicas end up holding it: every field it has (the
** ones the API fills in itself included), so the bare baselines store the
** same values. */
typedef struct rec {
    const char *tbl;
    char id[80];
    int n;
    const char *field[MAX_FIELDS];
    char value[MAX_FIELDS][192];
} rec;

static void put(rec *r, const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    r->field[r->n] = field;
    vsnprintf(r->value[r->n], sizeof r->value[r->n], fmt, ap);
    va_end(ap);
    r->n++;
}

static void customer_rec(const shape *sh, int rep, int i, rec *r)
{
    r->tbl = "customer";
    r->n = 0;
    snprintf(r->id, sizeof r->id, "c-%02d-%06d", rep, i);
    put(r, "name", "客户 %02d-%05d", rep, i);
    put(r, "phone", "+86 138%04d%04d", rep, i);
    put(r, "company", "Company %d of rep %d", i % 97, rep);
    if (sh->peer) {
        put(r, "email", "buyer%d.rep%d@example.cn", i, rep);
        put(r, "wechat", "wx_%02d_%05d", rep, i);
        put(r, "title", "%s", i % 3 ? "采购经理" : "Operations director");
        put(r, "notes", "Met at the %d trade fair; wants a quote for %d units,"
            " prefers calls after 14:00", 2020 + i % 6, 10 + i % 90);
    }
    put(r, "owner", "rep%02d", rep);
    put(r, "stage", "lead");
}

static void followup_rec(const shape *sh, int rep, int i, int k, rec *r)
{
    r->tbl = "followup";
    r->n = 0;
    snprintf(r->id, sizeof r->id, "c-%02d-%06d-%d", rep, i, k);
    put(r, "customer", "c-%02d-%06d", rep, i);
    put(r, "method", "phone");
    put(r, "content", "Follow-up %d with customer %d of rep %d: discussed the"
        " quote, next step a visit 下周拜访", k, i, rep);
    if (sh->peer)
        put(r, "result", "客户同意下周二上门演示, 需要准备报价单 v%d", k + 1);
    put(r, "at", "2026-11-28T10:00:00Z");
    put(r, "author", "rep%02d", rep);
}

/* Every record in order: fn gets each with its 1-based ordinal. */
typedef void (*rec_fn)(void *arg, long n, const rec *r);

static long each_record(const shape *sh, rec_fn fn, void *arg)
{
    rec r;
    long n = 0;
    for (int rep = 0; rep < sh->reps; rep++)
        for (int i = 0; i < sh->customers; i++) {
            customer_rec(sh, rep, i, &r);
            fn(arg, ++n, &r);
            for (int k = 0; k < sh->followups; k++) {
                followup_rec(sh, rep, i, k, &r);
                fn(arg, ++n, &r);
            }
        }
    return n;
}

/* ---- The devices ------------------------------------------------------------- */

static fds_replica *open_replica(const char *dir, const char *name)
{
    char path[700], err[256];
    fds_replica *r = NULL;
    snprintf(path, sizeof path, "%s/%s.db", dir, name);
    if (fds_replica_open(path, NULL, &r, err, sizeof err) != FDS_OK)
        die("open %s: %s", path, err);
    return r;
}

/* A rep's records through the public API: the fields a rep types (the
** API adds owner, stage, customer, at and author itself). */
static void generate(fds_replica *r, const shape *sh, int rep)
{
    static const char *const auto_fields[] = {"owner", "stage", "customer", "at",
                                              "author"};
    rec c, f;
    if (fds_begin(r) != FDS_OK)
        die("begin: %s", fds_errmsg(r));
    for (int i = 0; i < sh->customers; i++) {
        customer_rec(sh, rep, i, &c);
        json_t *in = json_object(), *out = NULL;
        for (int j = 0; j < c.n; j++) {
            int skip = 0;
            for (size_t a = 0; a < sizeof auto_fields / sizeof *auto_fields; a++)
                skip |= strcmp(c.field[j], auto_fields[a]) == 0;
            if (!skip)
                json_object_set_new(in, c.field[j], json_string(c.value[j]));
        }
        if (fds_customer_add(r, in, &out, NULL) != FDS_OK)
            die("customer add: %s", fds_errmsg(r));
        char id[64];
        snprintf(id, sizeof id, "%s", json_string_value(json_object_get(out, "id")));
        json_decref(in);
        json_decref(out);
        for (int k = 0; k < sh->followups; k++) {
            followup_rec(sh, rep, i, k, &f);
            in = json_object();
            for (int j = 0; j < f.n; j++) {
                int skip = 0;
                for (size_t a = 0; a < sizeof auto_fields / sizeof *auto_fields; a++)
                    skip |= strcmp(f.field[j], auto_fields[a]) == 0;
                if (!skip)
                    json_object_set_new(in, f.field[j], json_string(f.value[j]));
            }
            if (fds_followup_add(r, id, in, &out) != FDS_OK)
                die("followup add: %s", fds_errmsg(r));
            json_decref(in);
            json_decref(out);
        }
    }
    if (fds_commit(r) != FDS_OK)
        die("commit: %s", fds_errmsg(r));
}

static int sync_once(fds_replica *r, const char *url, const char *token,
                     fds_session_stats *st)
{
    cli_sync_opts o;
    char err[512];
    memset(&o, 0, sizeof o);
    o.server = url;
    o.token = token;
    o.ca_path = ca_path;
    o.timeout_secs = 300;
    int rc = cli_sync(r, &o, st, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "bench_sync: sync failed (%d): %s\n", rc, err);
    return rc;
}

/* ---- Bare SQLite ------------------------------------------------------------- */

typedef struct bare {
    sqlite3 *db;
    sqlite3_stmt *st[2];        /* (a): upsert, append; (b): customer, followup */
    int plain;
    char body[2048];
} bare;

static sqlite3 *bare_open(const char *dir, const char *file, char *path,
                          size_t len)
{
    sqlite3 *db;
    snprintf(path, len, "%s/%s", dir, file);
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;",
                     NULL, NULL, NULL) != SQLITE_OK)
        die("bare %s: %s", file, sqlite3_errmsg(db));
    return db;
}

/* (a): the record's fields as one JSON object (the generated values need
** no escaping), upserted by id and appended to the history. */
static void bare_record_history(void *arg, long n, const rec *r)
{
    bare *b = arg;
    size_t used = 0;
    used += (size_t)snprintf(b->body + used, sizeof b->body - used, "{");
    for (int i = 0; i < r->n && used < sizeof b->body; i++)
        used += (size_t)snprintf(b->body + used, sizeof b->body - used,
                                 "%s\"%s\":\"%s\"", i ? "," : "", r->field[i],
                                 r->value[i]);
    if (used < sizeof b->body)
        snprintf(b->body + used, sizeof b->body - used, "}");
    for (int i = 0; i < 2; i++) {
        sqlite3_stmt *st = b->st[i];
        sqlite3_bind_text(st, 1, r->tbl, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, r->id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, b->body, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) != SQLITE_DONE)
            die("bare insert: %s", sqlite3_errmsg(b->db));
        sqlite3_reset(st);
    }
    if (n % 500 == 0)
        sqlite3_exec(b->db, "COMMIT; BEGIN", NULL, NULL, NULL);
}

static double bare_a(const char *dir, const shape *sh, long *nrec)
{
    char path[700];
    bare b;
    memset(&b, 0, sizeof b);
    b.db = bare_open(dir, "bare-record-history.db", path, sizeof path);
    if (sqlite3_exec(b.db, "CREATE TABLE rec(tbl TEXT, id TEXT, body TEXT,"
                     " PRIMARY KEY(tbl, id)) WITHOUT ROWID;"
                     "CREATE TABLE hist(seq INTEGER PRIMARY KEY, tbl TEXT, id TEXT,"
                     " body TEXT);", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(b.db, "INSERT INTO rec VALUES (?1, ?2, ?3) ON CONFLICT"
                           " DO UPDATE SET body = excluded.body", -1, &b.st[0],
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(b.db, "INSERT INTO hist(tbl, id, body) VALUES (?1, ?2, ?3)",
                           -1, &b.st[1], NULL) != SQLITE_OK)
        die("bare (a): %s", sqlite3_errmsg(b.db));
    double t0 = now_s();
    sqlite3_exec(b.db, "BEGIN", NULL, NULL, NULL);
    *nrec = each_record(sh, bare_record_history, &b);
    sqlite3_exec(b.db, "COMMIT", NULL, NULL, NULL);
    double dt = now_s() - t0;
    sqlite3_finalize(b.st[0]);
    sqlite3_finalize(b.st[1]);
    sqlite3_close(b.db);
    return dt;
}

/* (b): one row per record in its table, fields as columns in rec order. */
static void bare_plain_row(void *arg, long n, const rec *r)
{
    bare *b = arg;
    sqlite3_stmt *st = b->st[strcmp(r->tbl, "customer") == 0 ? 0 : 1];
    sqlite3_bind_text(st, 1, r->id, -1, SQLITE_TRANSIENT);
    for (int i = 0; i < r->n; i++)
        sqlite3_bind_text(st, i + 2, r->value[i], -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_DONE)
        die("bare insert: %s", sqlite3_errmsg(b->db));
    sqlite3_reset(st);
    if (n % 500 == 0)
        sqlite3_exec(b->db, "COMMIT; BEGIN", NULL, NULL, NULL);
}

/* CREATE TABLE and INSERT for one record kind, from a sample record. */
static void plain_sql(const rec *r, char *create, char *insert, size_t len)
{
    size_t c = (size_t)snprintf(create, len, "CREATE TABLE %s(id TEXT PRIMARY KEY",
                                r->tbl);
    size_t i = (size_t)snprintf(insert, len, "INSERT INTO %s VALUES (?1", r->tbl);
    for (int k = 0; k < r->n && c < len && i < len; k++) {
        c += (size_t)snprintf(create + c, len - c, ", \"%s\" TEXT", r->field[k]);
        i += (size_t)snprintf(insert + i, len - i, ", ?%d", k + 2);
    }
    if (c < len)
        snprintf(create + c, len - c, ");");
    if (i < len)
        snprintf(insert + i, len - i, ")");
}

static double bare_b(const char *dir, const shape *sh, long long *size)
{
    char path[700], create[2][512], insert[2][512];
    bare b;
    memset(&b, 0, sizeof b);
    rec sample;
    customer_rec(sh, 0, 0, &sample);
    plain_sql(&sample, create[0], insert[0], sizeof create[0]);
    followup_rec(sh, 0, 0, 0, &sample);
    plain_sql(&sample, create[1], insert[1], sizeof create[1]);
    b.db = bare_open(dir, "bare-plain.db", path, sizeof path);
    for (int i = 0; i < 2; i++)
        if (sqlite3_exec(b.db, create[i], NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(b.db, insert[i], -1, &b.st[i], NULL) != SQLITE_OK)
            die("bare (b): %s", sqlite3_errmsg(b.db));
    double t0 = now_s();
    sqlite3_exec(b.db, "BEGIN", NULL, NULL, NULL);
    each_record(sh, bare_plain_row, &b);
    sqlite3_exec(b.db, "COMMIT", NULL, NULL, NULL);
    double dt = now_s() - t0;
    sqlite3_finalize(b.st[0]);
    sqlite3_finalize(b.st[1]);
    sqlite3_close(b.db);    /* checkpoints the WAL into the file */
    *size = db_size(path);
    return dt;
}

/* ---- Main ----------------------------------------------------------------------- */

static void find_server(const char *argv0)
{
    const char *env = getenv("FIELDSYNC_SERVER");
    if (env) {
        snprintf(server_bin, sizeof server_bin, "%s", env);
    } else {
        char self[3072];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n <= 0)
            snprintf(self, sizeof self, "%s", argv0);
        else
            self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash)
            *slash = '\0';
        snprintf(server_bin, sizeof server_bin, "%s/../sync-server/fieldsync-server",
                 self);
    }
    if (access(server_bin, X_OK) != 0)
        die("cannot run %s (set FIELDSYNC_SERVER)", server_bin);
}

static void usage(void)
{
    die("usage: bench_sync [--shape peer|old] [--scale F] [--reps N(1..%d)]"
        " [--customers N] [--followups N] [--no-bare] [--keep]"
        " [--store URL] [--servers N(1..8)]"
        "  |  bench_sync [REPS [CUSTOMERS [FOLLOWUPS]]]", MAX_REPS);
}

/* Shared with the pushing processes: each one's CPU is in its rusage, its
** bytes on the wire here. */
struct push_share {
    unsigned long long in[MAX_REPS], out[MAX_REPS];
};

int main(int argc, char **argv)
{
    shape sh = {1, 10, 1000, 5};
    double scale = 1.0;
    int no_bare = 0, keep = getenv("FIELDSYNC_BENCH_KEEP") != NULL, npos = 0;
    int nservers = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--shape") == 0 && v) {
            if (strcmp(v, "peer") && strcmp(v, "old"))
                usage();
            sh.peer = strcmp(v, "peer") == 0;
            i++;
        } else if (strcmp(a, "--scale") == 0 && v) {
            scale = atof(v);
            i++;
        } else if (strcmp(a, "--reps") == 0 && v) {
            sh.reps = atoi(v);
            i++;
        } else if (strcmp(a, "--customers") == 0 && v) {
            sh.customers = atoi(v);
            i++;
        } else if (strcmp(a, "--followups") == 0 && v) {
            sh.followups = atoi(v);
            i++;
        } else if (strcmp(a, "--no-bare") == 0) {
            no_bare = 1;
        } else if (strcmp(a, "--keep") == 0) {
            keep = 1;
        } else if (strcmp(a, "--store") == 0 && v) {
            store_url = v;
            i++;
        } else if (strcmp(a, "--servers") == 0 && v) {
            nservers = atoi(v);
            i++;
        } else if (a[0] >= '0' && a[0] <= '9' && npos < 3) {
            int n = atoi(a);
            if (npos == 0)
                sh.reps = n;
            else if (npos == 1)
                sh.customers = n;
            else
                sh.followups = n;
            npos++;
        } else {
            usage();
        }
    }
    sh.customers = (int)(sh.customers * scale + 0.5);
    if (sh.customers < 1)
        sh.customers = 1;
    if (sh.reps < 1 || sh.reps > MAX_REPS || sh.followups < 0 || scale <= 0 ||
        nservers < 1 || nservers > 8 || (nservers > 1 && !store_url))
        usage();
    find_server(argv[0]);
    signal(SIGPIPE, SIG_IGN);

    char dir[] = "/tmp/fieldsync-bench-XXXXXX";
    if (!mkdtemp(dir))
        die("mkdtemp failed");
    snprintf(data_dir, sizeof data_dir, "%s/data", dir);
    snprintf(ca_path, sizeof ca_path, "%s/ca.pem", data_dir);
    char out[8192], tok[MAX_REPS][80], admin_tok[80], log[600];
    if (admin(out, sizeof out, "init", "--json", NULL) != 0)
        die("init failed");
    token_of(out, admin_tok, sizeof admin_tok);
    for (int i = 0; i < sh.reps; i++) {
        char name[32];
        snprintf(name, sizeof name, "rep%02d", i);
        if (admin(out, sizeof out, "user", "add", name, "--role", "rep",
                  "--json", NULL) != 0)
            die("user add failed");
        token_of(out, tok[i], sizeof tok[i]);
    }
    /* The serve processes: one data folder (certificates), one store. */
    pid_t servers[8];
    char urls[8][64];
    for (int k = 0; k < nservers; k++) {
        int port = ts_free_port();
        if (port < 0)
            die("no free port");
        snprintf(urls[k], sizeof urls[k], "wss://127.0.0.1:%d", port);
        snprintf(log, sizeof log, "%s/server%d.log", dir, k);
        servers[k] = start_server(port, log);
    }
    pid_t server = servers[0];
    const char *url = urls[0];

    long records = (long)sh.reps * sh.customers * (1 + sh.followups);
    printf("fieldsync sync benchmark, %s shape: %d reps x (%d customers + %d"
           " follow-ups) = %ld records\n", sh.peer ? "peer" : "old", sh.reps,
           sh.customers, sh.customers * sh.followups, records);

    /* Local writes (not part of the sync figures). */
    double t0 = now_s();
    int64_t changes = 0;
    for (int i = 0; i < sh.reps; i++) {
        char name[32];
        snprintf(name, sizeof name, "rep%02d", i);
        fds_replica *r = open_replica(dir, name);
        /* A rep's device has synced once (fieldsync init) and knows its
        ** user before the rep works offline: its writes carry the user, and
        ** the push measures sync, not the one-time adoption of anonymous
        ** writes (fds_replica_set_user rewriting every register). */
        if (fds_replica_set_user(r, name) != FDS_OK)
            die("set user: %s", fds_errmsg(r));
        generate(r, &sh, i);
        int64_t n = 0;
        fds_outbox_count(r, &n);
        changes += n;
        fds_replica_close(r);
    }
    double t_gen = now_s() - t0;
    printf("  device writes:        %8.2f s  %9.0f records/s  (%lld field changes)\n",
           t_gen, records / t_gen, (long long)changes);
    fflush(stdout);

    /* Push: every rep's device at once. */
    struct push_share *share = mmap(NULL, sizeof *share, PROT_READ | PROT_WRITE,
                                    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (share == MAP_FAILED)
        die("mmap failed");
    memset(share, 0, sizeof *share);
    pid_t kids[MAX_REPS];
    /* Under bench/callgrind.sh: the server's counts start here, without
    ** its start-up (TLS keys, schema), a fixed cost a small run would
    ** spread over too few records. */
    if (getenv("FIELDSYNC_BENCH_CALLGRIND")) {
        char cmd[64];
        snprintf(cmd, sizeof cmd, "callgrind_control -z %d >/dev/null",
                 (int)server);
        if (system(cmd) != 0)
            fprintf(stderr, "bench_sync: callgrind_control -z failed\n");
    }
    double srv0 = 0;
    for (int k = 0; k < nservers; k++)
        srv0 += proc_cpu_s(servers[k]);
    t0 = now_s();
    for (int i = 0; i < sh.reps; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            CALLGRIND_ZERO_STATS;
            char name[32];
            snprintf(name, sizeof name, "rep%02d", i);
            fds_replica *r = open_replica(dir, name);
            fds_session_stats st;
            g_wire_in = g_wire_out = 0;
            const char *via = urls[i % nservers];
            int rc = sync_once(r, via, tok[i], &st);
            /* A handshake the server timed out (10 at once on a loaded
            ** machine, or under callgrind): try again, as a device would;
            ** a push is safe to repeat. */
            for (int k = 0; rc == 4 && k < 3; k++) {
                sleep(1);
                fprintf(stderr, "bench_sync: %s: trying again\n", name);
                rc = sync_once(r, via, tok[i], &st);
            }
            fds_replica_close(r);
            share->in[i] = g_wire_in;
            share->out[i] = g_wire_out;
            CALLGRIND_DUMP_STATS_AT("device-push");
            _exit(rc);
        }
    }
    int failed = 0;
    double dev_push_cpu = 0;
    for (int i = 0; i < sh.reps; i++) {
        int status;
        struct rusage ru;
        wait4(kids[i], &status, 0, &ru);
        dev_push_cpu += tv_s(ru.ru_utime) + tv_s(ru.ru_stime);
        failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    }
    double t_push = now_s() - t0;
    double srv_push_cpu = -srv0;
    for (int k = 0; k < nservers; k++)
        srv_push_cpu += proc_cpu_s(servers[k]);
    if (failed)
        die("a device failed to push (see %s)", log);
    unsigned long long push_in = 0, push_out = 0;
    for (int i = 0; i < sh.reps; i++) {
        push_in += share->in[i];
        push_out += share->out[i];
    }

    /* Pull everything into a fresh head-office device (this process). */
    char hq_path[700];
    snprintf(hq_path, sizeof hq_path, "%s/hq.db", dir);
    fds_replica *hq = open_replica(dir, "hq");
    fds_session_stats st;
    g_wire_in = g_wire_out = 0;
    srv0 = proc_cpu_s(server);
    double cpu0 = self_cpu_s();
    CALLGRIND_ZERO_STATS;
    t0 = now_s();
    if (sync_once(hq, url, admin_tok, &st) != 0)
        die("pull failed");
    fds_replica_close(hq);
    double t_pull = now_s() - t0;
    CALLGRIND_DUMP_STATS_AT("device-pull");
    double dev_pull_cpu = self_cpu_s() - cpu0;
    double srv_pull_cpu = proc_cpu_s(server) - srv0;
    unsigned long long pull_in = g_wire_in, pull_out = g_wire_out;
    if (st.pulled != changes)
        die("pulled %lld changes, expected %lld", (long long)st.pulled,
            (long long)changes);

    for (int k = 0; k < nservers; k++) {
        kill(servers[k], SIGTERM);
        waitpid(servers[k], NULL, 0);
    }
    char store_path[700];
    snprintf(store_path, sizeof store_path, "%s/fieldsync.db", data_dir);
    long long store = db_size(store_path), replica = db_size(hq_path);

    double push_rps = records / t_push, pull_rps = records / t_pull;
    printf("  push (%2d devices at once): %8.2f s  %9.0f records/s  %9.0f changes/s\n",
           sh.reps, t_push, push_rps, changes / t_push);
    printf("      server %6.1f CPU-us/record, devices %6.1f CPU-us/record;"
           " wire %6.1f bytes/record (up %.1f, down %.1f)\n",
           srv_push_cpu * 1e6 / records, dev_push_cpu * 1e6 / records,
           (double)(push_in + push_out) / records, (double)push_out / records,
           (double)push_in / records);
    printf("  pull (1 fresh device):     %8.2f s  %9.0f records/s  %9.0f changes/s\n",
           t_pull, pull_rps, changes / t_pull);
    printf("      server %6.1f CPU-us/record, device %6.1f CPU-us per applied"
           " record; wire %6.1f bytes/record (down %.1f, up %.1f)\n",
           srv_pull_cpu * 1e6 / records, dev_pull_cpu * 1e6 / records,
           (double)(pull_in + pull_out) / records, (double)pull_in / records,
           (double)pull_out / records);
    if (store_url) {
        printf("  server store: %s, %d serve process%s\n", store_url, nservers,
               nservers > 1 ? "es" : "");
    } else {
        printf("  server store:      %8.1f MiB  %7.0f bytes/record\n",
               mib(store), (double)store / records);
        db_breakdown(store_path);
    }
    printf("  replica (all records): %4.1f MiB  %7.0f bytes/record\n",
           mib(replica), (double)replica / records);
    db_breakdown(hq_path);

    if (!no_bare) {
        long nrec = 0;
        long long plain = 0;
        double t_a = bare_a(dir, &sh, &nrec);
        double t_b = bare_b(dir, &sh, &plain);
        double a_rps = nrec / t_a;
        printf("  bare SQLite (a) record + history row: %6.2f s  %9.0f records/s\n",
               t_a, a_rps);
        printf("  bare SQLite (b) plain table:          %6.2f s  %9.0f records/s"
               "  %.1f MiB  %.0f bytes/record\n", t_b, nrec / t_b, mib(plain),
               (double)plain / records);
        printf("  ratio push / (a):                %7.3f\n", push_rps / a_rps);
        printf("  ratio pull / (a):                %7.3f\n", pull_rps / a_rps);
        printf("  ratio server store / (b):        %7.2f\n", (double)store / plain);
        printf("  ratio replica / (b):             %7.2f\n", (double)replica / plain);
    }

    printf("RESULT push_rps=%.0f pull_rps=%.0f srv_push_us=%.1f"
           " srv_pull_us=%.1f\n", push_rps, pull_rps,
           srv_push_cpu * 1e6 / records, srv_pull_cpu * 1e6 / records);
    if (!keep)
        nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    else
        printf("  kept %s\n", dir);
    return 0;
}
