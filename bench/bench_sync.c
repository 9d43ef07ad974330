/*
** bench_sync.c — sync throughput through a real fieldsync-server over TLS.
**
**   bench_sync [REPS [CUSTOMERS [FOLLOWUPS]]]      (default 10 1000 5)
**
** Starts fieldsync-server (init, one rep user per device, serve on a free
** 127.0.0.1 port; the binary is $FIELDSYNC_SERVER or ../sync-server/
** fieldsync-server next to this program), writes REPS x CUSTOMERS
** customers with FOLLOWUPS follow-ups each into one replica per rep,
** pushes all replicas concurrently (one process per device), then pulls
** everything into a fresh admin device.  In the same run it inserts the
** same rows into a bare SQLite file (WAL, synchronous=FULL, 500 rows per
** transaction, like one sync batch) and prints records/s for each and the
** ratios.  A "record" is a customer or a follow-up; each is several field
** changes on the wire.  Two more bare baselines put the ratio in context:
** one row per field change (the same rows fieldsync moves), and per field
** change a register upsert plus a history append (the least any merging
** store with a history writes).
**
** The transport is compiled in from client-cli so this program links only
** libfieldsync, libwebsockets and OpenSSL.
*/
#include "../client-cli/transport_lws.c"
#include "netutil.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#define MAX_REPS 64

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

static char server_bin[4096];
static char data_dir[512];
static char ca_path[600];

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
    while ((a = va_arg(ap, const char *)) != NULL && n < 28)
        argv[n++] = (char *)a;
    va_end(ap);
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
        execl(server_bin, server_bin, "serve", "--data", data_dir, "--listen",
              listen, "--log-level", "warn", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 500 && !ts_port_open(port); i++)
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

/* One generated customer / follow-up, shared by the device and the bare
** SQLite runs so both store the same rows. */
static void customer_fields(int rep, int i, char *name, char *phone,
                            char *company, size_t len)
{
    snprintf(name, len, "客户 %02d-%05d", rep, i);
    snprintf(phone, len, "+86 138%04d%04d", rep, i);
    snprintf(company, len, "Company %d of rep %d", i % 97, rep);
}

static void followup_content(int rep, int i, int k, char *buf, size_t len)
{
    snprintf(buf, len, "Follow-up %d with customer %d of rep %d: discussed the"
             " quote, next step a visit 下周拜访", k, i, rep);
}

static fds_replica *open_replica(const char *dir, const char *name)
{
    char path[700], err[256];
    fds_replica *r = NULL;
    snprintf(path, sizeof path, "%s/%s.db", dir, name);
    if (fds_replica_open(path, NULL, &r, err, sizeof err) != FDS_OK)
        die("open %s: %s", path, err);
    return r;
}

static void generate(fds_replica *r, int rep, int customers, int followups)
{
    char name[128], phone[128], company[128], content[256];
    if (fds_begin(r) != FDS_OK)
        die("begin: %s", fds_errmsg(r));
    for (int i = 0; i < customers; i++) {
        customer_fields(rep, i, name, phone, company, sizeof name);
        json_t *in = json_pack("{s:s, s:s, s:s}", "name", name, "phone", phone,
                               "company", company), *out = NULL;
        if (fds_customer_add(r, in, &out, NULL) != FDS_OK)
            die("customer add: %s", fds_errmsg(r));
        char id[64];
        snprintf(id, sizeof id, "%s", json_string_value(json_object_get(out, "id")));
        json_decref(in);
        json_decref(out);
        for (int k = 0; k < followups; k++) {
            followup_content(rep, i, k, content, sizeof content);
            in = json_pack("{s:s, s:s}", "method", "phone", "content", content);
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
    o.timeout_secs = 120;
    int rc = cli_sync(r, &o, st, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "bench_sync: sync failed (%d): %s\n", rc, err);
    return rc;
}

/* The same rows into a bare SQLite file, 500 per transaction. */
static double bare_sqlite(const char *dir, int reps, int customers,
                          int followups)
{
    char path[700];
    sqlite3 *db;
    snprintf(path, sizeof path, "%s/bare.db", dir);
    if (sqlite3_open(path, &db) != SQLITE_OK)
        die("sqlite open");
    sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                 "CREATE TABLE customer(id TEXT PRIMARY KEY, name TEXT, phone TEXT,"
                 " company TEXT, owner TEXT);"
                 "CREATE TABLE followup(id TEXT PRIMARY KEY, customer TEXT,"
                 " method TEXT, content TEXT, at TEXT);", NULL, NULL, NULL);
    sqlite3_stmt *ci, *fi;
    sqlite3_prepare_v2(db, "INSERT INTO customer VALUES (?1, ?2, ?3, ?4, ?5)",
                       -1, &ci, NULL);
    sqlite3_prepare_v2(db, "INSERT INTO followup VALUES (?1, ?2, 'phone', ?3,"
                       " '2026-11-28T10:00:00Z')", -1, &fi, NULL);
    char name[128], phone[128], company[128], content[256], id[64], fid[80],
        owner[32];
    long rows = 0;
    double t0 = now_s();
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    for (int rep = 0; rep < reps; rep++) {
        snprintf(owner, sizeof owner, "rep%02d", rep);
        for (int i = 0; i < customers; i++) {
            customer_fields(rep, i, name, phone, company, sizeof name);
            snprintf(id, sizeof id, "c-%02d-%06d", rep, i);
            sqlite3_bind_text(ci, 1, id, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(ci, 2, name, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(ci, 3, phone, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(ci, 4, company, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(ci, 5, owner, -1, SQLITE_TRANSIENT);
            sqlite3_step(ci);
            sqlite3_reset(ci);
            if (++rows % 500 == 0)
                sqlite3_exec(db, "COMMIT; BEGIN", NULL, NULL, NULL);
            for (int k = 0; k < followups; k++) {
                followup_content(rep, i, k, content, sizeof content);
                snprintf(fid, sizeof fid, "%s-%d", id, k);
                sqlite3_bind_text(fi, 1, fid, -1, SQLITE_TRANSIENT);
                sqlite3_bind_text(fi, 2, id, -1, SQLITE_TRANSIENT);
                sqlite3_bind_text(fi, 3, content, -1, SQLITE_TRANSIENT);
                sqlite3_step(fi);
                sqlite3_reset(fi);
                if (++rows % 500 == 0)
                    sqlite3_exec(db, "COMMIT; BEGIN", NULL, NULL, NULL);
            }
        }
    }
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    double dt = now_s() - t0;
    sqlite3_finalize(ci);
    sqlite3_finalize(fi);
    sqlite3_close(db);
    return dt;
}

/* Every field change the devices write, in order: a customer's name,
** phone, company, owner and stage; a follow-up's customer, method, content,
** at and author.  fn gets each one with its 1-based ordinal. */
typedef void (*field_fn)(void *arg, long n, const char *tbl, const char *rid,
                         const char *field, const char *value);

static long each_field(int reps, int customers, int followups, field_fn fn,
                       void *arg)
{
    char name[128], phone[128], company[128], content[256], id[64], fid[80],
        owner[32];
    long n = 0;
    for (int rep = 0; rep < reps; rep++) {
        snprintf(owner, sizeof owner, "rep%02d", rep);
        for (int i = 0; i < customers; i++) {
            customer_fields(rep, i, name, phone, company, sizeof name);
            snprintf(id, sizeof id, "c-%02d-%06d", rep, i);
            fn(arg, ++n, "customer", id, "name", name);
            fn(arg, ++n, "customer", id, "phone", phone);
            fn(arg, ++n, "customer", id, "company", company);
            fn(arg, ++n, "customer", id, "owner", owner);
            fn(arg, ++n, "customer", id, "stage", "lead");
            for (int k = 0; k < followups; k++) {
                followup_content(rep, i, k, content, sizeof content);
                snprintf(fid, sizeof fid, "%s-%d", id, k);
                fn(arg, ++n, "followup", fid, "customer", id);
                fn(arg, ++n, "followup", fid, "method", "phone");
                fn(arg, ++n, "followup", fid, "content", content);
                fn(arg, ++n, "followup", fid, "at", "2026-11-28T10:00:00Z");
                fn(arg, ++n, "followup", fid, "author", owner);
            }
        }
    }
    return n;
}

/* A bare per-field baseline: its database, and the statements run for
** each field change (the second may be NULL). */
typedef struct bare_run {
    sqlite3 *db;
    sqlite3_stmt *st[2];
} bare_run;

/* Bind (tbl, rid, field, value) as ?1..?4 and the ordinal as ?5 where the
** statement has it, run every statement, and commit every 500 changes. */
static void bare_row(void *arg, long n, const char *tbl, const char *rid,
                     const char *field, const char *value)
{
    bare_run *b = arg;
    for (int i = 0; i < 2 && b->st[i]; i++) {
        sqlite3_stmt *st = b->st[i];
        sqlite3_bind_text(st, 1, tbl, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, rid, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, field, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, value, -1, SQLITE_TRANSIENT);
        if (sqlite3_bind_parameter_count(st) >= 5)
            sqlite3_bind_int64(st, 5, n);
        if (sqlite3_step(st) != SQLITE_DONE)
            die("bare insert: %s", sqlite3_errmsg(b->db));
        sqlite3_reset(st);
    }
    if (n % 500 == 0)
        sqlite3_exec(b->db, "COMMIT; BEGIN", NULL, NULL, NULL);
}

/* Run one per-field baseline in a fresh file: schema, then each field
** change through the statements sql[0] (and sql[1] if not NULL).  Returns
** the seconds taken; *nrows is the number of field changes. */
static double bare_per_field(const char *dir, const char *file,
                             const char *schema, const char *sql0,
                             const char *sql1, int reps, int customers,
                             int followups, long *nrows)
{
    char path[700];
    bare_run b = {NULL, {NULL, NULL}};
    snprintf(path, sizeof path, "%s/%s", dir, file);
    if (sqlite3_open(path, &b.db) != SQLITE_OK ||
        sqlite3_exec(b.db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(b.db, schema, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(b.db, sql0, -1, &b.st[0], NULL) != SQLITE_OK ||
        (sql1 && sqlite3_prepare_v2(b.db, sql1, -1, &b.st[1], NULL) != SQLITE_OK))
        die("bare %s: %s", file, sqlite3_errmsg(b.db));
    double t0 = now_s();
    sqlite3_exec(b.db, "BEGIN", NULL, NULL, NULL);
    *nrows = each_field(reps, customers, followups, bare_row, &b);
    sqlite3_exec(b.db, "COMMIT", NULL, NULL, NULL);
    double dt = now_s() - t0;
    sqlite3_finalize(b.st[0]);
    sqlite3_finalize(b.st[1]);
    sqlite3_close(b.db);
    return dt;
}

/* A storage bound for a per-field model: one row per field change into a
** bare keyed table, 500 rows per transaction.  No merge, no log, no
** network: it shows what the field-level shape alone costs SQLite. */
static double bare_fields(const char *dir, int reps, int customers,
                          int followups, long *nrows)
{
    return bare_per_field(dir, "bare-fields.db",
        "CREATE TABLE chg(tbl TEXT, rid TEXT, field TEXT, value TEXT,"
        " PRIMARY KEY(tbl, rid, field)) WITHOUT ROWID;",
        "INSERT INTO chg VALUES (?1, ?2, ?3, ?4)", NULL,
        reps, customers, followups, nrows);
}

/* The floor of a store that merges per field and keeps a history, as any
** merging sync server must: per field change, one append to a history
** table keyed by sequence and one upsert of its register row (a B-tree
** lookup, then an insert or an update), 500 changes per transaction.  No
** version vectors, no visibility, no codec, no network. */
static double bare_merge(const char *dir, int reps, int customers,
                         int followups, long *nrows)
{
    return bare_per_field(dir, "bare-merge.db",
        "CREATE TABLE reg(tbl TEXT, rid TEXT, field TEXT, value TEXT,"
        " seq INTEGER, PRIMARY KEY(tbl, rid, field)) WITHOUT ROWID;"
        "CREATE TABLE hist(tbl TEXT, rid TEXT, field TEXT, value TEXT,"
        " seq INTEGER PRIMARY KEY);",
        "INSERT INTO hist VALUES (?1, ?2, ?3, ?4, ?5)",
        "INSERT INTO reg VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO UPDATE"
        " SET value = excluded.value, seq = excluded.seq",
        reps, customers, followups, nrows);
}

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

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 10;
    int customers = argc > 2 ? atoi(argv[2]) : 1000;
    int followups = argc > 3 ? atoi(argv[3]) : 5;
    if (reps < 1 || reps > MAX_REPS || customers < 1 || followups < 0)
        die("usage: bench_sync [REPS(1..%d) [CUSTOMERS [FOLLOWUPS]]]", MAX_REPS);
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
    for (int i = 0; i < reps; i++) {
        char name[32];
        snprintf(name, sizeof name, "rep%02d", i);
        if (admin(out, sizeof out, "user", "add", name, "--role", "rep",
                  "--json", NULL) != 0)
            die("user add failed");
        token_of(out, tok[i], sizeof tok[i]);
    }
    int port = ts_free_port();
    if (port < 0)
        die("no free port");
    char url[64];
    snprintf(url, sizeof url, "wss://127.0.0.1:%d", port);
    snprintf(log, sizeof log, "%s/server.log", dir);
    pid_t server = start_server(port, log);

    long records = (long)reps * customers * (1 + followups);
    printf("fieldsync sync benchmark: %d reps x %d customers x %d follow-ups"
           " = %ld records\n", reps, customers, followups, records);

    /* Local writes (not part of the sync figures). */
    double t0 = now_s();
    int64_t changes = 0;
    for (int i = 0; i < reps; i++) {
        char name[32];
        snprintf(name, sizeof name, "rep%02d", i);
        fds_replica *r = open_replica(dir, name);
        /* A rep's device has synced once (fieldsync init) and knows its
        ** user before the rep works offline: its writes carry the user, and
        ** the push measures sync, not the one-time adoption of anonymous
        ** writes (fds_replica_set_user rewriting every register). */
        if (fds_replica_set_user(r, name) != FDS_OK)
            die("set user: %s", fds_errmsg(r));
        generate(r, i, customers, followups);
        int64_t n = 0;
        fds_outbox_count(r, &n);
        changes += n;
        fds_replica_close(r);
    }
    double t_gen = now_s() - t0;
    printf("  device writes:  %8.2f s  %10.0f records/s  (%lld field changes)\n",
           t_gen, records / t_gen, (long long)changes);

    /* Push: every rep's device at once. */
    fflush(stdout);
    pid_t kids[MAX_REPS];
    t0 = now_s();
    for (int i = 0; i < reps; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            char name[32];
            snprintf(name, sizeof name, "rep%02d", i);
            fds_replica *r = open_replica(dir, name);
            fds_session_stats st;
            int rc = sync_once(r, url, tok[i], &st);
            fds_replica_close(r);
            _exit(rc);
        }
    }
    int failed = 0;
    for (int i = 0; i < reps; i++) {
        int status;
        waitpid(kids[i], &status, 0);
        failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    }
    double t_push = now_s() - t0;
    if (failed)
        die("a device failed to push (see %s)", log);

    /* Pull everything into a fresh head-office device. */
    fds_replica *hq = open_replica(dir, "hq");
    fds_session_stats st;
    t0 = now_s();
    if (sync_once(hq, url, admin_tok, &st) != 0)
        die("pull failed");
    double t_pull = now_s() - t0;
    fds_replica_close(hq);
    if (st.pulled != changes)
        die("pulled %lld changes, expected %lld", (long long)st.pulled,
            (long long)changes);

    kill(server, SIGTERM);
    waitpid(server, NULL, 0);

    double t_bare = bare_sqlite(dir, reps, customers, followups);
    long field_rows = 0;
    double t_fields = bare_fields(dir, reps, customers, followups, &field_rows);
    long merge_rows = 0;
    double t_merge = bare_merge(dir, reps, customers, followups, &merge_rows);

    double push_rps = records / t_push, pull_rps = records / t_pull;
    double bare_rps = records / t_bare;
    printf("  push (%2d devices concurrently): %8.2f s  %10.0f records/s"
           "  %10.0f changes/s\n", reps, t_push, push_rps, changes / t_push);
    printf("  pull (1 fresh device):          %8.2f s  %10.0f records/s"
           "  %10.0f changes/s\n", t_pull, pull_rps, changes / t_pull);
    printf("  bare SQLite inserts:            %8.2f s  %10.0f records/s\n",
           t_bare, bare_rps);
    printf("  bare SQLite, a row per field:   %8.2f s  %10.0f records/s"
           "  %10.0f rows/s\n", t_fields, records / t_fields,
           field_rows / t_fields);
    printf("  bare SQLite, register + history: %5.2f s  %10.0f records/s"
           "  %10.0f changes/s\n", t_merge, records / t_merge,
           merge_rows / t_merge);
    printf("  ratio push / bare SQLite records:        %.3f\n",
           push_rps / bare_rps);
    printf("  ratio pull / bare SQLite records:        %.3f\n",
           pull_rps / bare_rps);
    printf("  ratio push / bare row per field:         %.3f\n",
           (changes / t_push) / (field_rows / t_fields));
    printf("  ratio pull / bare row per field:         %.3f\n",
           (changes / t_pull) / (field_rows / t_fields));
    printf("  ratio push / bare register + history:    %.3f\n",
           (changes / t_push) / (merge_rows / t_merge));

    if (!getenv("FIELDSYNC_BENCH_KEEP"))
        nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    else
        printf("  kept %s\n", dir);
    return 0;
}
