/*
** bench_core.c — what the replica costs a rep per action, against plain
** SQLite doing the same rows.
**
** A rep's two commonest actions are logging a follow-up and editing a
** customer field.  Through libfieldsync each is one transaction that also
** writes per-field registers (with version vectors) and appends every field
** change to the local change log; a plain app would insert or update one
** row (checking that the customer exists, through a foreign key) and, for
** an edit, read the customer back to show it, as fds_customer_edit returns
** it.  This program times both in the same run, on files in a fresh temp
** folder, with the SAME durability settings: the plain database copies the
** journal mode and synchronous level the replica's connection actually
** uses (read back from it, so the comparison follows schema.c), then both
** are measured again at synchronous=NORMAL.
**
** Rounds alternate which side goes first, so drift in a shared machine's
** disk and CPU falls on both sides alike.  The target is at most 1.5x plain
** SQLite per action (cr-sqlite publishes about 2.5x for its inserts).
**
** Usage: bench_core [-n ACTIONS_PER_ROUND] [-r ROUNDS] [-c CUSTOMERS] [-d DIR]
*/
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>
#include "fieldsync.h"
#include "internal.h"   /* the replica's sqlite3 handle, to read its pragmas */

#define BENCH_TARGET_RATIO 1.5
#define BENCH_ID_LEN 36

typedef struct bench_opts {
    int actions;            /* actions per side per round */
    int rounds;
    int customers;          /* customers the actions spread over */
    const char *dir;        /* parent of the temp folder */
} bench_opts;

/* Accumulated wall time of one side of one action. */
typedef struct bench_side {
    double secs;
    long n;
} bench_side;

/* The plain-SQLite twin of the replica: the rows a simple app would keep. */
typedef struct bench_plain {
    sqlite3 *db;
    sqlite3_stmt *add_customer;
    sqlite3_stmt *add_followup;
    sqlite3_stmt *edit_phone;
    sqlite3_stmt *get_customer;
    char (*ids)[BENCH_ID_LEN + 1];
} bench_plain;

/* The replica side. */
typedef struct bench_core {
    fds_replica *r;
    char (*ids)[BENCH_ID_LEN + 1];
} bench_core;

static void bench_fail(const char *what, const char *why)
{
    fprintf(stderr, "bench_core: %s: %s\n", what, why);
    exit(1);
}

static double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A random v4 UUID, as the replica makes for its records: the plain side
** pays for its ids too. */
static void bench_uuid(char out[BENCH_ID_LEN + 1])
{
    unsigned char b[16];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b)
        bench_fail("getrandom", strerror(errno));
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, BENCH_ID_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
             "%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
             b[10], b[11], b[12], b[13], b[14], b[15]);
}

static void bench_iso_now(char buf[32])
{
    fds_time_format((int64_t)time(NULL) * 1000, buf, 32);
}

/* ---- plain SQLite ------------------------------------------------------- */

static void plain_exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        bench_fail(sql, err ? err : sqlite3_errmsg(db));
}

static sqlite3_stmt *plain_prepare(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        bench_fail(sql, sqlite3_errmsg(db));
    return st;
}

/* Run a prepared statement with its bindings in its own transaction, as
** an app saving one action would.  If `back` is not NULL it is stepped
** through in the same transaction (reading the saved row back, as an app
** showing the result does), every column fetched. */
static void plain_step_tx(sqlite3 *db, sqlite3_stmt *st, sqlite3_stmt *back)
{
    plain_exec(db, "BEGIN IMMEDIATE");
    if (sqlite3_step(st) != SQLITE_DONE)
        bench_fail("plain step", sqlite3_errmsg(db));
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (back) {
        int rc, rows = 0;
        while ((rc = sqlite3_step(back)) == SQLITE_ROW) {
            for (int i = 0; i < sqlite3_column_count(back); i++)
                (void)sqlite3_column_text(back, i);
            rows++;
        }
        if (rc != SQLITE_DONE || rows != 1)
            bench_fail("plain read back", sqlite3_errmsg(db));
        sqlite3_reset(back);
        sqlite3_clear_bindings(back);
    }
    plain_exec(db, "COMMIT");
}

static void plain_open(bench_plain *p, const char *path, const char *journal,
                       int synchronous, int customers)
{
    char sql[128];
    memset(p, 0, sizeof *p);
    if (sqlite3_open(path, &p->db) != SQLITE_OK)
        bench_fail(path, sqlite3_errmsg(p->db));
    snprintf(sql, sizeof sql, "PRAGMA journal_mode=%s", journal);
    plain_exec(p->db, sql);
    snprintf(sql, sizeof sql, "PRAGMA synchronous=%d", synchronous);
    plain_exec(p->db, sql);
    /* A follow-up must name an existing customer (the replica refuses an
    ** unknown one too): let SQLite check the REFERENCES. */
    plain_exec(p->db, "PRAGMA foreign_keys=ON");
    plain_exec(p->db,
        "CREATE TABLE customer(id TEXT PRIMARY KEY, name TEXT NOT NULL,"
        " phone TEXT, email TEXT, wechat TEXT, company TEXT, title TEXT,"
        " owner TEXT, stage TEXT, updated TEXT);"
        "CREATE TABLE followup(id TEXT PRIMARY KEY, customer TEXT NOT NULL"
        " REFERENCES customer(id), method TEXT NOT NULL, at TEXT NOT NULL,"
        " content TEXT NOT NULL, result TEXT, author TEXT);"
        "CREATE INDEX followup_by_customer ON followup(customer, at);");
    p->add_customer = plain_prepare(p->db,
        "INSERT INTO customer(id, name, company, owner, stage, updated)"
        " VALUES (?1, ?2, ?3, 'bench', 'lead', ?4)");
    p->add_followup = plain_prepare(p->db,
        "INSERT INTO followup(id, customer, method, at, content, result,"
        " author) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'bench')");
    p->edit_phone = plain_prepare(p->db,
        "UPDATE customer SET phone = ?1, updated = ?2 WHERE id = ?3");
    p->get_customer = plain_prepare(p->db,
        "SELECT id, name, phone, email, wechat, company, title, owner, stage,"
        " updated FROM customer WHERE id = ?1");
    p->ids = calloc((size_t)customers, sizeof *p->ids);
    if (!p->ids)
        bench_fail("plain", "out of memory");
    for (int i = 0; i < customers; i++) {
        char name[64], at[32];
        bench_uuid(p->ids[i]);
        snprintf(name, sizeof name, "客户 %d", i);
        bench_iso_now(at);
        sqlite3_bind_text(p->add_customer, 1, p->ids[i], -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(p->add_customer, 2, name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(p->add_customer, 3, "华东物流", -1, SQLITE_STATIC);
        sqlite3_bind_text(p->add_customer, 4, at, -1, SQLITE_TRANSIENT);
        plain_step_tx(p->db, p->add_customer, NULL);
    }
}

static void plain_close(bench_plain *p)
{
    sqlite3_finalize(p->add_customer);
    sqlite3_finalize(p->add_followup);
    sqlite3_finalize(p->edit_phone);
    sqlite3_finalize(p->get_customer);
    sqlite3_close(p->db);
    free(p->ids);
}

static void plain_followups(bench_plain *p, int n, int customers, int seq)
{
    for (int i = 0; i < n; i++) {
        char id[BENCH_ID_LEN + 1], at[32], content[96];
        bench_uuid(id);
        bench_iso_now(at);
        snprintf(content, sizeof content, "电话回访 #%d：确认了报价，下周拜访", seq + i);
        sqlite3_bind_text(p->add_followup, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(p->add_followup, 2, p->ids[(seq + i) % customers], -1,
                          SQLITE_STATIC);
        sqlite3_bind_text(p->add_followup, 3, "phone", -1, SQLITE_STATIC);
        sqlite3_bind_text(p->add_followup, 4, at, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(p->add_followup, 5, content, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(p->add_followup, 6, "interested", -1, SQLITE_STATIC);
        plain_step_tx(p->db, p->add_followup, NULL);
    }
}

static void plain_edits(bench_plain *p, int n, int customers, int seq)
{
    for (int i = 0; i < n; i++) {
        char phone[32], at[32];
        snprintf(phone, sizeof phone, "+86 138 %04d %04d", (seq + i) / 10000,
                 (seq + i) % 10000);
        bench_iso_now(at);
        sqlite3_bind_text(p->edit_phone, 1, phone, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(p->edit_phone, 2, at, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(p->edit_phone, 3, p->ids[(seq + i) % customers], -1,
                          SQLITE_STATIC);
        /* fds_customer_edit returns the edited customer: read it back */
        sqlite3_bind_text(p->get_customer, 1, p->ids[(seq + i) % customers], -1,
                          SQLITE_STATIC);
        plain_step_tx(p->db, p->edit_phone, p->get_customer);
    }
}

/* ---- libfieldsync ------------------------------------------------------- */

static void core_check(fds_replica *r, int rc, const char *what)
{
    if (rc != FDS_OK)
        bench_fail(what, fds_errmsg(r));
}

static void core_open(bench_core *c, const char *path, int customers)
{
    char err[256] = "";
    memset(c, 0, sizeof *c);
    if (fds_replica_open(path, NULL, &c->r, err, sizeof err) != FDS_OK)
        bench_fail(path, err);
    core_check(c->r, fds_replica_set_user(c->r, "bench"), "set user");
    c->ids = calloc((size_t)customers, sizeof *c->ids);
    if (!c->ids)
        bench_fail("core", "out of memory");
    for (int i = 0; i < customers; i++) {
        char name[64];
        json_t *in, *out = NULL;
        snprintf(name, sizeof name, "客户 %d", i);
        in = json_pack("{s:s, s:s}", "name", name, "company", "华东物流");
        core_check(c->r, fds_customer_add(c->r, in, &out, NULL), "customer add");
        snprintf(c->ids[i], sizeof c->ids[i], "%s",
                 json_string_value(json_object_get(out, "id")));
        json_decref(in);
        json_decref(out);
    }
}

static void core_close(bench_core *c)
{
    fds_replica_close(c->r);
    free(c->ids);
}

static void core_followups(bench_core *c, int n, int customers, int seq)
{
    for (int i = 0; i < n; i++) {
        char content[96];
        json_t *in, *out = NULL;
        snprintf(content, sizeof content, "电话回访 #%d：确认了报价，下周拜访", seq + i);
        in = json_pack("{s:s, s:s, s:s}", "method", "phone", "content", content,
                       "result", "interested");
        core_check(c->r, fds_followup_add(c->r, c->ids[(seq + i) % customers],
                                          in, &out), "followup add");
        json_decref(in);
        json_decref(out);
    }
}

static void core_edits(bench_core *c, int n, int customers, int seq)
{
    for (int i = 0; i < n; i++) {
        char phone[32];
        json_t *in, *out = NULL;
        snprintf(phone, sizeof phone, "+86 138 %04d %04d", (seq + i) / 10000,
                 (seq + i) % 10000);
        in = json_pack("{s:s}", "phone", phone);
        core_check(c->r, fds_customer_edit(c->r, c->ids[(seq + i) % customers],
                                           in, &out), "customer edit");
        json_decref(in);
        json_decref(out);
    }
}

/* The replica connection's journal mode and synchronous level. */
static void core_pragmas(bench_core *c, char *journal, size_t jlen, int *sync)
{
    sqlite3_stmt *st;
    st = plain_prepare(c->r->db, "PRAGMA journal_mode");
    if (sqlite3_step(st) != SQLITE_ROW)
        bench_fail("PRAGMA journal_mode", sqlite3_errmsg(c->r->db));
    snprintf(journal, jlen, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    st = plain_prepare(c->r->db, "PRAGMA synchronous");
    if (sqlite3_step(st) != SQLITE_ROW)
        bench_fail("PRAGMA synchronous", sqlite3_errmsg(c->r->db));
    *sync = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
}

/* ---- the run ------------------------------------------------------------ */

static const char *sync_name(int level)
{
    static const char *names[] = { "OFF", "NORMAL", "FULL", "EXTRA" };
    return level >= 0 && level <= 3 ? names[level] : "?";
}

static void remove_db(const char *path)
{
    static const char *suffix[] = { "", "-wal", "-shm", "-journal" };
    char buf[4096];
    for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
        snprintf(buf, sizeof buf, "%s%s", path, suffix[i]);
        unlink(buf);
    }
}

static void report(const char *mode, const char *action, const bench_side *plain,
                   const bench_side *core)
{
    double tp = plain->secs / (double)plain->n, tc = core->secs / (double)core->n;
    double ratio = tc / tp;
    printf("%-22s %-14s %9.0f/s %7.1f us  %9.0f/s %7.1f us  %5.2fx  %s\n",
           mode, action, 1.0 / tp, tp * 1e6, 1.0 / tc, tc * 1e6, ratio,
           ratio <= BENCH_TARGET_RATIO ? "ok" : "over target");
}

/* Measure both actions on fresh files.  force_sync < 0: the replica keeps
** its own settings and the plain side copies them; else both are set to
** that synchronous level.  Returns the synchronous level used. */
static int run_mode(const bench_opts *o, const char *tmp, int force_sync)
{
    char core_path[4096], plain_path[4096], journal[32], mode[64];
    int sync;
    bench_core c;
    bench_plain p;
    bench_side pf = { 0, 0 }, cf = { 0, 0 }, pe = { 0, 0 }, ce = { 0, 0 };

    snprintf(core_path, sizeof core_path, "%s/replica.db", tmp);
    snprintf(plain_path, sizeof plain_path, "%s/plain.db", tmp);
    core_open(&c, core_path, o->customers);
    if (force_sync >= 0) {
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA synchronous=%d", force_sync);
        plain_exec(c.r->db, sql);
    }
    core_pragmas(&c, journal, sizeof journal, &sync);
    plain_open(&p, plain_path, journal, sync, o->customers);
    snprintf(mode, sizeof mode, "%s synchronous=%s", journal, sync_name(sync));

    for (int round = 0; round < o->rounds; round++) {
        int seq = round * o->actions;
        for (int k = 0; k < 2; k++) {
            int core_turn = (round + k) % 2;    /* alternate who goes first */
            double t0 = bench_now();
            if (core_turn)
                core_followups(&c, o->actions, o->customers, seq);
            else
                plain_followups(&p, o->actions, o->customers, seq);
            double t1 = bench_now();
            if (core_turn)
                core_edits(&c, o->actions, o->customers, seq);
            else
                plain_edits(&p, o->actions, o->customers, seq);
            double t2 = bench_now();
            bench_side *f = core_turn ? &cf : &pf, *e = core_turn ? &ce : &pe;
            f->secs += t1 - t0;
            f->n += o->actions;
            e->secs += t2 - t1;
            e->n += o->actions;
        }
    }
    report(mode, "followup add", &pf, &cf);
    report(mode, "customer edit", &pe, &ce);
    fflush(stdout);
    core_close(&c);
    plain_close(&p);
    remove_db(core_path);
    remove_db(plain_path);
    return sync;
}

static int parse_int(const char *s, const char *what)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 1 || v > 10000000)
        bench_fail(what, "expects a whole number from 1 to 10000000");
    return (int)v;
}

int main(int argc, char **argv)
{
    bench_opts o = { 250, 4, 50, NULL };
    char tmp[4096];
    int opt;

    while ((opt = getopt(argc, argv, "n:r:c:d:h")) != -1) {
        switch (opt) {
        case 'n': o.actions = parse_int(optarg, "-n"); break;
        case 'r': o.rounds = parse_int(optarg, "-r"); break;
        case 'c': o.customers = parse_int(optarg, "-c"); break;
        case 'd': o.dir = optarg; break;
        default:
            fprintf(stderr, "usage: bench_core [-n ACTIONS_PER_ROUND] [-r ROUNDS]"
                            " [-c CUSTOMERS] [-d DIR]\n");
            return opt == 'h' ? 0 : 2;
        }
    }
    if (!o.dir)
        o.dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(tmp, sizeof tmp, "%s/fieldsync-bench-XXXXXX", o.dir);
    if (!mkdtemp(tmp))
        bench_fail(tmp, strerror(errno));

    printf("bench_core: %d actions per side per round, %d rounds, %d customers,"
           " files in %s (SQLite %s)\n", o.actions, o.rounds, o.customers, tmp,
           sqlite3_libversion());
    printf("each action is one transaction; ratio = libfieldsync time / plain"
           " SQLite time per action (target <= %.1fx)\n", BENCH_TARGET_RATIO);
    printf("%-22s %-14s %21s  %21s  %6s\n", "durability", "action",
           "plain SQLite", "libfieldsync", "ratio");
    /* The replica's own settings, then the other of FULL and NORMAL (WAL
    ** with NORMAL may lose the last commits on power loss, never corrupt). */
    if (run_mode(&o, tmp, -1) == 1)
        run_mode(&o, tmp, 2);
    else
        run_mode(&o, tmp, 1);
    rmdir(tmp);
    return 0;
}
