/*
** bench_apply.c — what a pulled record costs the device, and what the
** replica's registers take on disk, against a plain SQLite table.
**
** A fresh device applying a team's records (issue 11's peak-shaped set:
** customers with 9 fields, 5 follow-ups each with 6 fields) through the
** path a pulled page takes: fds__apply_batch over pages of 500 changes,
** each page one relaxed transaction (fds__begin_relaxed, as session.c
** does).  No network and no server: the process CPU time of the applies
** alone (CLOCK_PROCESS_CPUTIME_ID), per record and per field change.
**
** Then the file: its size, and per table/index (dbstat) so the registers
** (schema 4: rec and its indexes; schema 3: reg and its indexes) can be
** told from the change log; against a plain SQLite file of the same
** records, one row per record with its fields as columns (what an app
** without sync would keep).
**
** Then (-u) a second round as a day's sync brings it: another device
** rewrites every field of every record (its vector knows the first
** device's change, so each merges as a win over a stored register), timed
** the same way: the apply of an update to a record the replica holds.
**
** Usage: bench_apply [-c CUSTOMERS] [-f FOLLOWUPS_PER_CUSTOMER] [-d DIR] [-u]
**   defaults: -c 10000 -f 5 (60,000 records, 390,000 field changes)
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>
#include "fieldsync.h"
#include "internal.h"

#define PAGE 500

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void uuid_of(char out[37], const char *kind, long i)
{
    /* stable, UUID-shaped ids (as the core makes them) */
    unsigned long h = 1469598103934665603ul;
    for (const char *p = kind; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ul;
    snprintf(out, 37, "%08lx-%04lx-4%03lx-8%03lx-%012lx",
             (h >> 32) & 0xffffffff, (unsigned long)(i >> 16) & 0xffff,
             (unsigned long)i & 0xfff, (h >> 8) & 0xfff,
             ((unsigned long)i * 2654435761ul) & 0xffffffffffff);
}

typedef struct gen {
    fdsp_change *c;
    size_t n, cap;
    uint64_t counter, hlc;
    const char *device;
    fdsp_vv_entry *vve;     /* one entry per change */
} gen;

static void add(gen *g, const char *tbl, const char *rid, const char *field,
                const char *value)
{
    if (g->n == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 1024;
        g->c = realloc(g->c, g->cap * sizeof *g->c);
        g->vve = realloc(g->vve, g->cap * sizeof *g->vve);
        if (!g->c || !g->vve)
            abort();
    }
    fdsp_change *c = &g->c[g->n];
    memset(c, 0, sizeof *c);
    c->table = strdup(tbl);
    c->record = strdup(rid);
    c->field = strdup(field);
    c->value = value ? strdup(value) : NULL;
    c->device = (char *)g->device;
    c->user = "alice";
    c->hlc = ++g->hlc;
    g->vve[g->n].device = (char *)g->device;
    g->vve[g->n].counter = ++g->counter;
    c->vv.n = 1;
    c->seq = (int64_t)g->n + 1;
    c->server_ms = 1764000000000;
    g->n++;
}

static int64_t pragma(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void breakdown(sqlite3 *db, long records)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT name, sum(pgsize) FROM dbstat "
                           "GROUP BY name ORDER BY 2 DESC", -1, &st,
                           NULL) != SQLITE_OK) {
        printf("  (no dbstat: %s)\n", sqlite3_errmsg(db));
        return;
    }
    printf("  per table/index, bytes per record:");
    while (sqlite3_step(st) == SQLITE_ROW) {
        int64_t b = sqlite3_column_int64(st, 1);
        if (b * 10 >= records)
            printf(" %s %.0f", sqlite3_column_text(st, 0),
                   (double)b / (double)records);
    }
    printf("\n");
    sqlite3_finalize(st);
}

int main(int argc, char **argv)
{
    long customers = 10000, per = 5;
    const char *dir = "/tmp";
    int opt, updates = 0;
    while ((opt = getopt(argc, argv, "c:f:d:u")) != -1) {
        if (opt == 'u')
            updates = 1;
        else if (opt == 'c')
            customers = atol(optarg);
        else if (opt == 'f')
            per = atol(optarg);
        else if (opt == 'd')
            dir = optarg;
        else {
            fprintf(stderr, "usage: %s [-c N] [-f N] [-d DIR] [-u]\n",
                    argv[0]);
            return 2;
        }
    }
    char path[512], plain[512];
    snprintf(path, sizeof path, "%s/bench-apply-%ld.db", dir, (long)getpid());
    snprintf(plain, sizeof plain, "%s/bench-apply-plain-%ld.db", dir,
             (long)getpid());

    gen g;
    memset(&g, 0, sizeof g);
    char dev[37];
    uuid_of(dev, "device", 1);
    g.device = dev;
    g.hlc = (uint64_t)1764000000000 << 16;
    long records = 0;
    for (long i = 0; i < customers; i++) {
        char cid[37], v[160];
        uuid_of(cid, "customer", i);
        snprintf(v, sizeof v, "客户%ld", i);
        add(&g, "customer", cid, "name", v);
        snprintf(v, sizeof v, "1380013%04ld", i % 10000);
        add(&g, "customer", cid, "phone", v);
        snprintf(v, sizeof v, "华星科技%ld有限公司", i % 300);
        add(&g, "customer", cid, "company", v);
        snprintf(v, sizeof v, "c%ld@example.cn", i);
        add(&g, "customer", cid, "email", v);
        snprintf(v, sizeof v, "wx_c%ld", i);
        add(&g, "customer", cid, "wechat", v);
        add(&g, "customer", cid, "title", "采购经理");
        add(&g, "customer", cid, "notes", "年底有预算，关注交付周期和售后。");
        add(&g, "customer", cid, "stage", "lead");
        add(&g, "customer", cid, "owner", "alice");
        records++;
        for (long k = 0; k < per; k++) {
            char fid[37];
            uuid_of(fid, "followup", i * per + k);
            add(&g, "followup", fid, "customer", cid);
            add(&g, "followup", fid, "method", k % 2 ? "phone" : "visit");
            add(&g, "followup", fid, "at", "2026-11-20T09:30:00Z");
            snprintf(v, sizeof v, "第%ld次跟进：介绍方案，对方要求报价。", k + 1);
            add(&g, "followup", fid, "content", v);
            add(&g, "followup", fid, "result", "待报价");
            add(&g, "followup", fid, "author", "alice");
            records++;
        }
    }
    for (size_t i = 0; i < g.n; i++)
        g.c[i].vv.e = &g.vve[i];

    fds_replica *r = NULL;
    char err[256];
    if (fds_replica_open(path, NULL, &r, err, sizeof err) != FDS_OK) {
        fprintf(stderr, "open: %s\n", err);
        return 1;
    }
    double t0 = cpu_now();
    for (size_t i = 0; i < g.n; i += PAGE) {
        size_t n = g.n - i < PAGE ? g.n - i : PAGE;
        int64_t conflicts = 0;
        int rc = fds__begin_relaxed(r);
        if (rc == FDS_OK)
            rc = fds__apply_batch(r, &g.c[i], n, &conflicts);
        rc = fds__end_relaxed(r, rc);
        if (rc != FDS_OK) {
            fprintf(stderr, "apply: %s\n", fds_errmsg(r));
            return 1;
        }
    }
    double cpu = cpu_now() - t0;
    double ucpu = 0;
    if (updates) {
        /* device 2 rewrites every field knowing device 1's change */
        char dev2[37];
        uuid_of(dev2, "device", 2);
        const char *lo = strcmp(dev, dev2) < 0 ? dev : dev2;
        const char *hi = lo == dev ? dev2 : dev;
        fdsp_change *u = calloc(g.n, sizeof *u);
        fdsp_vv_entry *ue = calloc(2 * g.n, sizeof *ue);
        char **uv = calloc(g.n, sizeof *uv);
        if (!u || !ue || !uv)
            abort();
        for (size_t i = 0; i < g.n; i++) {
            u[i] = g.c[i];
            size_t vl = g.c[i].value ? strlen(g.c[i].value) : 0;
            if ((uv[i] = malloc(vl + 2)) == NULL)
                abort();
            memcpy(uv[i], g.c[i].value ? g.c[i].value : "", vl);
            memcpy(uv[i] + vl, "+", 2);
            u[i].value = uv[i];
            u[i].device = dev2;
            u[i].hlc = ++g.hlc;
            u[i].seq = (int64_t)(g.n + i) + 1;
            fdsp_vv_entry *e = &ue[2 * i];
            e[0].device = (char *)lo;
            e[1].device = (char *)hi;
            e[lo == dev ? 0 : 1].counter = g.vve[i].counter;
            e[lo == dev ? 1 : 0].counter = i + 1;
            u[i].vv.n = 2;
            u[i].vv.e = e;
        }
        double u0 = cpu_now();
        for (size_t i = 0; i < g.n; i += PAGE) {
            size_t n = g.n - i < PAGE ? g.n - i : PAGE;
            int64_t conflicts = 0;
            int rc = fds__begin_relaxed(r);
            if (rc == FDS_OK)
                rc = fds__apply_batch(r, &u[i], n, &conflicts);
            rc = fds__end_relaxed(r, rc);
            if (rc != FDS_OK || conflicts != 0) {
                fprintf(stderr, "update: %s\n", fds_errmsg(r));
                return 1;
            }
        }
        ucpu = cpu_now() - u0;
        for (size_t i = 0; i < g.n; i++)
            free(uv[i]);
        free(uv);
        free(ue);
        free(u);
    }
    sqlite3_exec(r->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
    int64_t size = pragma(r->db, "PRAGMA page_count") *
                   pragma(r->db, "PRAGMA page_size");
    printf("bench_apply: %ld records (%ld customers x (1 + %ld follow-ups)), "
           "%zu field changes, pages of %d, schema %lld, SQLite %s\n",
           records, customers, per, g.n, PAGE,
           (long long)pragma(r->db, "PRAGMA user_version"), sqlite3_libversion());
    printf("apply: %.0f ms CPU = %.1f us per record, %.2f us per field "
           "change\n", cpu * 1e3, cpu * 1e6 / (double)records,
           cpu * 1e6 / (double)g.n);
    if (updates)
        printf("update (another device rewrites every field): %.0f ms CPU = "
               "%.1f us per record, %.2f us per field change\n", ucpu * 1e3,
               ucpu * 1e6 / (double)records, ucpu * 1e6 / (double)g.n);
    printf("replica: %lld bytes = %.0f B per record\n", (long long)size,
           (double)size / (double)records);
    breakdown(r->db, records);
    fds_replica_close(r);

    /* the plain twin */
    sqlite3 *db = NULL;
    unlink(plain);
    sqlite3_open(plain, &db);
    sqlite3_exec(db, "PRAGMA journal_mode=WAL; BEGIN;"
                 "CREATE TABLE customer(id TEXT PRIMARY KEY, name, phone, "
                 "company, email, wechat, title, notes, stage, owner);"
                 "CREATE TABLE followup(id TEXT PRIMARY KEY, customer, method,"
                 " at, content, result, author);"
                 "CREATE INDEX followup_by_customer ON followup(customer);",
                 NULL, NULL, NULL);
    sqlite3_stmt *ic = NULL, *iff = NULL;
    sqlite3_prepare_v2(db, "INSERT INTO customer VALUES(?1,?2,?3,?4,?5,?6,"
                       "?7,?8,?9,?10)", -1, &ic, NULL);
    sqlite3_prepare_v2(db, "INSERT INTO followup VALUES(?1,?2,?3,?4,?5,?6,"
                       "?7)", -1, &iff, NULL);
    for (size_t i = 0; i < g.n;) {
        int is_c = strcmp(g.c[i].table, "customer") == 0;
        size_t nf = is_c ? 9 : 6;
        sqlite3_stmt *st = is_c ? ic : iff;
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, g.c[i].record, -1, SQLITE_STATIC);
        for (size_t k = 0; k < nf; k++)
            sqlite3_bind_text(st, (int)k + 2, g.c[i + k].value, -1,
                              SQLITE_STATIC);
        sqlite3_step(st);
        i += nf;
    }
    sqlite3_finalize(ic);
    sqlite3_finalize(iff);
    sqlite3_exec(db, "COMMIT; PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL,
                 NULL);
    int64_t psize = pragma(db, "PRAGMA page_count") *
                    pragma(db, "PRAGMA page_size");
    printf("plain SQLite table of the same records: %lld bytes = %.0f B per "
           "record; replica / plain = %.2fx\n", (long long)psize,
           (double)psize / (double)records, (double)size / (double)psize);
    sqlite3_close(db);
    unlink(plain);
    char side[560];
    snprintf(side, sizeof side, "%s-wal", plain);
    unlink(side);
    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", plain);
    unlink(side);
    return 0;
}
