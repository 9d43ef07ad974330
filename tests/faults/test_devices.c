/*
** test_devices.c — the permanent fault test (issue 10): several devices
** push and pull through fault_proxy, which cuts, stalls and slows their
** connections on a seeded schedule, while the test keeps editing their
** replicas; one `sync` is killed with SIGKILL in the middle; one device
** stays in `sync --watch` through it all.  Then every device syncs
** directly (no proxy) and:
**   - every replica's registers are byte-equal (value and versions) to the
**     server's: all of them for the admins (they see everything), and for
**     the rep every register of every record she holds, with every
**     customer she owns present;
**   - no history row is there twice (same device, record, field, vv);
**   - every change a device had acknowledged before the faults, and every
**     change acknowledged by the end, is in the server's history.
** Bounded: ROUNDS rounds of at most ROUND_MS each; the proxy and every
** child die with the test.  FAULT_SEED=N in the environment replays a
** schedule (the seed is printed).
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "flib.h"
#include "internal.h"       /* the replica's SQLite handle: its log table */

/* core/src/recstore.c: fds_versions() etc. on a plain connection */
int fds__rec_sql_register(sqlite3 *db);
#include "fieldsync.h"
#include "store.h"
#include "store_sqlite_hist.h"

#define ROUNDS    10
#define ROUND_MS  9000          /* a round's syncs are killed after this */
#define N_DEV     4

typedef struct dev {
    const char *name;           /* replica file NAME.db */
    const char *user;
    int watch;                  /* stays in sync --watch */
    char tok[80];
    char db[400];
    char *cust[64];             /* customers it may edit */
    int n_cust;
    pid_t pid;
} dev;

static th_server g_s;
static dev g_d[N_DEV] = {
    {"a1", "ann", 0, "", "", {0}, 0, 0},
    {"a2", "ann", 1, "", "", {0}, 0, 0},
    {"b", "bea", 0, "", "", {0}, 0, 0},
    {"r", "rita", 0, "", "", {0}, 0, 0},
};
static uint64_t g_rng;

static uint64_t rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < N_DEV; i++)
        for (int k = 0; k < g_d[i].n_cust; k++)
            free(g_d[i].cust[k]);
    th_cleanup(&g_s);
    return 0;
}

/* ---- edits ------------------------------------------------------------------- */

static void random_text(char *buf, size_t len)
{
    static const char al[] = "abcdefghijklmnopqrstuvwxyz0123456789 "
                             "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    for (size_t i = 0; i < len; i++)
        buf[i] = al[rnd() % (sizeof al - 1)];
    buf[len] = '\0';
}

/* A few edits on device d: a new customer now and then, edits of fields of
** customers it may touch (admins also edit the rep's), sometimes a large
** note so pushes cross the proxy's cut points. */
static void edit(dev *d, int n)
{
    fds_replica *r = th_replica(&g_s, d->name);
    static char big[24 * 1024 + 1];
    for (int i = 0; i < n; i++) {
        unsigned k = (unsigned)(rnd() % 10);
        json_t *in, *out = NULL;
        if (k == 0 || d->n_cust == 0) {
            char nm[64];
            snprintf(nm, sizeof nm, "%s customer %d", d->name, d->n_cust);
            in = json_pack("{s:s}", "name", nm);
            if (fds_customer_add(r, in, &out, NULL) != FDS_OK)
                fail_msg("%s: add: %s", d->name, fds_errmsg(r));
            if (d->n_cust < 64) {
                const char *id = json_string_value(json_object_get(out, "id"));
                d->cust[d->n_cust++] = strdup(id);
                /* The admins edit the rep's customers too (conflicts). */
                for (int j = 0; d->user[0] == 'r' && j < N_DEV; j++)
                    if (g_d[j].user[0] != 'r' && g_d[j].n_cust < 64)
                        g_d[j].cust[g_d[j].n_cust++] = strdup(id);
            }
        } else {
            const char *id = d->cust[rnd() % (unsigned)d->n_cust];
            size_t len = k < 3 ? 200 + rnd() % (24 * 1024 - 200) : 1 + rnd() % 40;
            random_text(big, len);
            const char *field = k < 3 ? "notes" : k < 6 ? "company" : "phone";
            if (field[0] == 'p')
                snprintf(big, sizeof big, "+86 1%010llu",
                         (unsigned long long)(rnd() % 10000000000ULL));
            in = json_pack("{s:s}", field, big);
            /* The customer may not have reached this replica yet. */
            fds_customer_edit(r, id, in, &out);
        }
        json_decref(in);
        json_decref(out);
    }
    fds_replica_close(r);
}

/* ---- replica and store reads ------------------------------------------------ */

static sqlite3 *open_ro(const char *path)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        fail_msg("open %s: %s", path, sqlite3_errmsg(db));
    sqlite3_busy_timeout(db, 5000);
    /* The server store's history is group rows since schema 3: its
    ** `history` virtual table reads them one row per change. */
    if (fsv_sqlite_history_module(db) != SQLITE_OK)
        fail_msg("history module: %s", sqlite3_errmsg(db));
    return db;
}

static void store_path(char *out, size_t n)
{
    snprintf(out, n, "%s/fieldsync.db", g_s.data);
}

/* Acked own changes of a replica: (device, tbl, rid, field, vv) rows. */
typedef struct acked {
    char **k;
    size_t n;
} acked;

/* Through the library (schema 4): the log's per-change rows are the
** `log` virtual table of a replica handle, over its change groups. */
static void acked_of(dev *d, acked *a)
{
    fds_replica *r = NULL;
    char err[256];
    if (fds_replica_open(d->db, NULL, &r, err, sizeof err) != FDS_OK)
        fail_msg("open %s: %s", d->db, err);
    sqlite3 *db = r->db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db,
        "SELECT device, tbl, rid, field, vv FROM log"
        " WHERE origin = 1 AND acked = 1", -1, &st, NULL), SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        a->k = realloc(a->k, (a->n + 1) * sizeof *a->k);
        char buf[1024];
        snprintf(buf, sizeof buf, "%s|%s|%s|%s|%s",
                 sqlite3_column_text(st, 0), sqlite3_column_text(st, 1),
                 sqlite3_column_text(st, 2), sqlite3_column_text(st, 3),
                 sqlite3_column_text(st, 4));
        a->k[a->n++] = strdup(buf);
    }
    sqlite3_finalize(st);
    fds_replica_close(r);
}

static void acked_free(acked *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->k[i]);
    free(a->k);
    memset(a, 0, sizeof *a);
}

/* Every key of a is a row of the server's history. */
static void assert_in_history(const acked *a, const char *what)
{
    char path[400];
    store_path(path, sizeof path);
    sqlite3 *db = open_ro(path);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db,
        "SELECT count(*) FROM history WHERE device = ?1 AND tbl = ?2"
        " AND rid = ?3 AND field = ?4 AND vv = ?5", -1, &st, NULL), SQLITE_OK);
    for (size_t i = 0; i < a->n; i++) {
        char *k = strdup(a->k[i]), *p[5], *save = NULL;
        p[0] = strtok_r(k, "|", &save);
        for (int j = 1; j < 5; j++)
            p[j] = strtok_r(NULL, j < 4 ? "|" : "", &save);
        for (int j = 0; j < 5; j++)
            sqlite3_bind_text(st, j + 1, p[j] ? p[j] : "", -1, SQLITE_TRANSIENT);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        int n = sqlite3_column_int(st, 0);
        sqlite3_reset(st);
        if (n < 1) {
            /* Name what the server has for that register instead. */
            sqlite3_stmt *q;
            char have[2048] = "";
            size_t used = 0;
            if (sqlite3_prepare_v2(db, "SELECT device, vv, seq FROM history"
                    " WHERE tbl = ?1 AND rid = ?2 AND field = ?3 ORDER BY seq",
                    -1, &q, NULL) == SQLITE_OK) {
                for (int j = 0; j < 3; j++)
                    sqlite3_bind_text(q, j + 1, p[j + 1], -1, SQLITE_TRANSIENT);
                while (sqlite3_step(q) == SQLITE_ROW && used < sizeof have - 200)
                    used += (size_t)snprintf(have + used, sizeof have - used,
                        " [seq %lld %.8s %s]", sqlite3_column_int64(q, 2),
                        sqlite3_column_text(q, 0), sqlite3_column_text(q, 1));
                sqlite3_finalize(q);
            }
            fail_msg("%s: acknowledged change %s is not in the server's"
                     " history; it has:%s", what, a->k[i], have);
        }
        free(k);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void assert_no_duplicate_history(void)
{
    char path[400];
    store_path(path, sizeof path);
    sqlite3 *db = open_ro(path);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db,
        "SELECT device, tbl, rid, field, vv, count(*) FROM history"
        " GROUP BY device, tbl, rid, field, vv HAVING count(*) > 1 LIMIT 1",
        -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        fail_msg("history row twice (%d times): device %s %s %s %s vv %s",
                 sqlite3_column_int(st, 5), sqlite3_column_text(st, 0),
                 sqlite3_column_text(st, 1), sqlite3_column_text(st, 2),
                 sqlite3_column_text(st, 3), sqlite3_column_text(st, 4));
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* The server's registers as rows (tbl, rid, field, value, versions) in
** table srvreg of db: the store keeps them packed one row per record, so
** they are read through the store (fsv_store_record_state) and dumped to
** their canonical text, the bytes a device keeps. */
static void server_registers(sqlite3 *db, const char *path)
{
    char url[420], err[256];
    snprintf(url, sizeof url, "sqlite:%s", path);
    fsv_store *st = NULL;
    if (fsv_store_open(url, 0, &st, err, sizeof err) != FSV_OK)
        fail_msg("open store: %s", err);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE srvreg(tbl, rid, field,"
                                  " value, versions)", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3 *sdb = open_ro(path);
    sqlite3_stmt *recs, *ins;
    assert_int_equal(sqlite3_prepare_v2(sdb, "SELECT tbl, rid FROM rec", -1,
                                        &recs, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO srvreg VALUES"
                                        " (?1, ?2, ?3, ?4, ?5)", -1, &ins,
                                        NULL), SQLITE_OK);
    while (sqlite3_step(recs) == SQLITE_ROW) {
        const char *tbl = (const char *)sqlite3_column_text(recs, 0);
        const char *rid = (const char *)sqlite3_column_text(recs, 1);
        fdsp_change *v = NULL;
        size_t n = 0;
        if (fsv_store_record_state(st, tbl, rid, &v, &n) != FSV_OK)
            fail_msg("server register of %s %s: %s", tbl, rid,
                     fsv_store_errmsg(st));
        /* A field's versions are consecutive, winner first. */
        for (size_t i = 0; i < n;) {
            size_t j = i + 1;
            while (j < n && strcmp(v[j].field, v[i].field) == 0)
                j++;
            fds_register reg = {j - i, &v[i]};
            char *txt = fds_register_dump(&reg);
            assert_non_null(txt);
            sqlite3_reset(ins);
            sqlite3_bind_text(ins, 1, tbl, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(ins, 2, rid, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(ins, 3, v[i].field, -1, SQLITE_TRANSIENT);
            if (v[i].value)
                sqlite3_bind_text(ins, 4, v[i].value, -1, SQLITE_TRANSIENT);
            else
                sqlite3_bind_null(ins, 4);
            sqlite3_bind_text(ins, 5, txt, -1, free);
            assert_int_equal(sqlite3_step(ins), SQLITE_DONE);
            i = j;
        }
        for (size_t i = 0; i < n; i++)
            fdsp_change_clear(&v[i]);
        free(v);
    }
    sqlite3_finalize(recs);
    sqlite3_finalize(ins);
    sqlite3_close(sdb);
    fsv_store_close(st);
}

/* The replica's registers against the server's.  all: the replica must
** hold every server register (an admin sees everything); otherwise every
** register of each record it holds, and every customer owned by owner. */
static void assert_registers(dev *d, int all, const char *owner)
{
    char path[400];
    store_path(path, sizeof path);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE |
                                     SQLITE_OPEN_CREATE | SQLITE_OPEN_URI,
                                     NULL), SQLITE_OK);
    server_registers(db, path);
    /* Schema 4 packs a replica's registers per record: the library's SQL
    ** functions rebuild each register's canonical text (recstore.c). */
    assert_int_equal(fds__rec_sql_register(db), SQLITE_OK);
    char att[512];
    snprintf(att, sizeof att, "ATTACH 'file:%s?mode=ro' AS dev", d->db);
    char *msg = NULL;
    if (sqlite3_exec(db, att, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("attach replica: %s", msg);
    assert_int_equal(sqlite3_exec(db, "CREATE TEMP VIEW dreg AS SELECT "
        "r.tbl AS tbl, r.rid AS rid, j.key AS field, j.value AS value, "
        "fds_versions(r.vals, r.meta, j.key) AS versions FROM dev.rec r, "
        "json_each(r.vals) j", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    /* Replica registers that differ from the server's, or that it lacks. */
    assert_int_equal(sqlite3_prepare_v2(db,
        "SELECT r.tbl, r.rid, r.field, r.value, r.versions, s.value, s.versions"
        " FROM temp.dreg r LEFT JOIN main.srvreg s USING (tbl, rid, field)"
        " WHERE s.versions IS NULL OR r.value IS NOT s.value"
        "    OR r.versions IS NOT s.versions LIMIT 1", -1, &st, NULL),
        SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        fail_msg("%s: register %s %s %s is \"%.60s\" %s on the device, \"%.60s\""
                 " %s on the server", d->name, sqlite3_column_text(st, 0),
                 sqlite3_column_text(st, 1), sqlite3_column_text(st, 2),
                 sqlite3_column_text(st, 3), sqlite3_column_text(st, 4),
                 sqlite3_column_text(st, 5), sqlite3_column_text(st, 6));
    sqlite3_finalize(st);
    /* Server registers the replica lacks: any at all for an admin; of the
    ** records it holds, or of customers the rep owns, for the rep. */
    const char *sql = all
        ? "SELECT s.tbl, s.rid, s.field FROM main.srvreg s LEFT JOIN temp.dreg r"
          " USING (tbl, rid, field) WHERE r.versions IS NULL LIMIT 1"
        : "SELECT s.tbl, s.rid, s.field FROM main.srvreg s LEFT JOIN temp.dreg r"
          " USING (tbl, rid, field) WHERE r.versions IS NULL AND ("
          "  EXISTS (SELECT 1 FROM temp.dreg m WHERE m.tbl = s.tbl"
          "          AND m.rid = s.rid)"
          "  OR (s.tbl = 'customer' AND EXISTS (SELECT 1 FROM main.srvreg o"
          "      WHERE o.tbl = 'customer' AND o.rid = s.rid"
          "      AND o.field = 'owner' AND o.value = json_quote(?1))))"
          " LIMIT 1";
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (!all)
        sqlite3_bind_text(st, 1, owner, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        fail_msg("%s: the server's register %s %s %s is missing on the device",
                 d->name, sqlite3_column_text(st, 0), sqlite3_column_text(st, 1),
                 sqlite3_column_text(st, 2));
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static long long count_of(const char *path, const char *sql)
{
    sqlite3 *db = open_ro(path);
    sqlite3_stmt *st;
    long long n = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* When a device's outbox is not empty at the end: what is stuck, as the
** group rows hold it and as the library reads it per change (a rare CI
** failure left 6 groups with outbox = 1 after clean syncs). */
static void dump_outbox(const dev *d)
{
    sqlite3 *db = open_ro(d->db);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT gseq, tbl, rid, n, hex(flags), outbox,"
                           " resend, at_ms FROM glog WHERE outbox = 1 OR"
                           " resend = 1 ORDER BY gseq", -1, &st, NULL)
        == SQLITE_OK)
        while (sqlite3_step(st) == SQLITE_ROW)
            print_message("%s: glog %lld %s/%s n=%lld flags=%s outbox=%d"
                          " resend=%d at=%lld\n", d->name,
                          (long long)sqlite3_column_int64(st, 0),
                          sqlite3_column_text(st, 1), sqlite3_column_text(st, 2),
                          (long long)sqlite3_column_int64(st, 3),
                          sqlite3_column_text(st, 4), sqlite3_column_int(st, 5),
                          sqlite3_column_int(st, 6),
                          (long long)sqlite3_column_int64(st, 7));
    sqlite3_finalize(st);
    sqlite3_close(db);
    fds_replica *r = NULL;
    char err[256] = "";
    if (fds_replica_open(d->db, NULL, &r, err, sizeof err) != FDS_OK) {
        print_message("%s: cannot open the replica: %s\n", d->name, err);
        return;
    }
    if (sqlite3_prepare_v2(r->db, "SELECT lseq, tbl, rid, field, vv, acked,"
                           " resend FROM log WHERE origin = 1 AND (acked = 0"
                           " OR resend = 1) ORDER BY lseq", -1, &st, NULL)
        == SQLITE_OK)
        while (sqlite3_step(st) == SQLITE_ROW)
            print_message("%s: change %lld %s/%s %s vv=%s acked=%d"
                          " resend=%d\n", d->name,
                          (long long)sqlite3_column_int64(st, 0),
                          sqlite3_column_text(st, 1), sqlite3_column_text(st, 2),
                          sqlite3_column_text(st, 3), sqlite3_column_text(st, 4),
                          sqlite3_column_int(st, 5), sqlite3_column_int(st, 6));
    sqlite3_finalize(st);
    int64_t n = -1;
    fds_outbox_count(r, &n);
    print_message("%s: the library counts %lld in the outbox\n", d->name,
                  (long long)n);
    fds_replica_close(r);
}

/* ---- driving the devices ------------------------------------------------------ */

static void set_server(dev *d, const char *url)
{
    fds_replica *r = th_replica(&g_s, d->name);
    assert_int_equal(fds_meta_set(r, "server", url), FDS_OK);
    fds_replica_close(r);
}

static int sync_direct(dev *d)
{
    fl_res r;
    fl_run(&r, d->db, NULL, 60000, "sync", NULL);
    if (r.code != 0)
        print_message("%s: direct sync: exit %d: %s", d->name, r.code, r.err);
    return r.code;
}

static const char *const g_env[] = {"FIELDSYNC_TIMEOUT=3", NULL};

static void test_devices_through_faults(void **state)
{
    (void)state;
    const char *seed_env = getenv("FAULT_SEED");
    unsigned long long seed = seed_env ? strtoull(seed_env, NULL, 10)
                                       : 20261202ULL;
    print_message("fault schedule seed %llu (FAULT_SEED=%llu replays it)\n",
                  seed, seed);
    g_rng = seed * 2654435761ULL + 1;
    long long t0 = th_ms();

    th_init(&g_s);
    char tok_ann[80], tok_bea[80], tok_rita[80];
    th_user(&g_s, "ann", "admin", NULL, tok_ann);
    th_user(&g_s, "bea", "admin", NULL, tok_bea);
    th_user(&g_s, "rita", "rep", "north", tok_rita);
    th_start(&g_s, NULL);
    for (int i = 0; i < N_DEV; i++) {
        dev *d = &g_d[i];
        snprintf(d->tok, sizeof d->tok, "%s", d->user[0] == 'a' ? tok_ann
                 : d->user[0] == 'b' ? tok_bea : tok_rita);
        snprintf(d->db, sizeof d->db, "%s/%s.db", g_s.dir, d->name);
        fl_res r;
        fl_run(&r, d->db, NULL, 20000, "init", "--server", g_s.url, "--token",
               d->tok, "--ca", g_s.ca, NULL);
        if (r.code != 0)
            fail_msg("%s: init: %s", d->name, r.err);
    }
    /* Before the faults: some work, synced directly and acknowledged. */
    for (int i = 0; i < N_DEV; i++)
        edit(&g_d[i], 6);
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < N_DEV; i++)
            assert_int_equal(sync_direct(&g_d[i]), 0);
    acked before[N_DEV];
    memset(before, 0, sizeof before);
    for (int i = 0; i < N_DEV; i++) {
        acked_of(&g_d[i], &before[i]);
        assert_true(before[i].n > 0);
    }

    /* The faults. */
    char seed_s[32], url[64];
    snprintf(seed_s, sizeof seed_s, "%llu", seed);
    pid_t proxy;
    int pport = fl_proxy(&g_s, &proxy, "--mode", "chaos", "--seed", seed_s,
                         "--max-secs", "120", NULL);
    snprintf(url, sizeof url, "wss://127.0.0.1:%d", pport);
    char watch_log[400];
    snprintf(watch_log, sizeof watch_log, "%s/watch.log", g_s.dir);
    for (int i = 0; i < N_DEV; i++) {
        set_server(&g_d[i], url);
        if (g_d[i].watch)
            g_d[i].pid = fl_spawn(&g_s, g_d[i].db, g_env, watch_log, "sync",
                                  "--watch", NULL);
    }
    int kill_round = 1 + (int)(rnd() % (ROUNDS - 2)), killed = 0;
    int runs = 0, fails = 0;
    for (int round = 0; round < ROUNDS; round++) {
        for (int i = 0; i < N_DEV; i++)
            if (!g_d[i].watch)
                g_d[i].pid = fl_spawn(&g_s, g_d[i].db, g_env, NULL, "sync", NULL);
        /* Edits while they sync: the watching device's own replica is
        ** written beside its running watch, as a rep's app would. */
        for (int i = 0; i < N_DEV; i++)
            if (g_d[i].watch)
                edit(&g_d[i], 3);
        if (round == kill_round) {
            struct timespec ts = {0, (long)(50 + rnd() % 400) * 1000000L};
            nanosleep(&ts, NULL);
            int victim = (int)(rnd() % N_DEV);
            while (g_d[victim].watch)
                victim = (victim + 1) % N_DEV;
            kill(g_d[victim].pid, SIGKILL);
            killed = 1;
            print_message("round %d: kill -9 of %s's sync\n", round,
                          g_d[victim].name);
        }
        for (int i = 0; i < N_DEV; i++) {
            if (g_d[i].watch)
                continue;
            int code = th_reap(&g_s, g_d[i].pid, ROUND_MS);
            runs++;
            fails += code != 0;
            if (code != 0 && code != 4 && code != -1)
                fail_msg("%s: sync through the proxy: exit %d (want 0 or 4)",
                         g_d[i].name, code);
            edit(&g_d[i], 2 + (int)(rnd() % 4));
        }
    }
    assert_true(killed);
    /* The watch survived every fault; it ends cleanly on SIGTERM. */
    for (int i = 0; i < N_DEV; i++) {
        if (!g_d[i].watch)
            continue;
        int status = 0;
        pid_t w = waitpid(g_d[i].pid, &status, WNOHANG);
        if (w != 0) {
            char *l = fl_slurp(watch_log);
            for (char *q = l; *q; q++)      /* one line in cmocka's output */
                if (*q == '\n')
                    *q = '|';
            fail_msg("%s: sync --watch died during the faults (waitpid %d,"
                     " exit %d, signal %d): %s", g_d[i].name, (int)w,
                     WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                     WIFSIGNALED(status) ? WTERMSIG(status) : 0, l);
        }
        kill(g_d[i].pid, SIGTERM);
        assert_int_equal(th_reap(&g_s, g_d[i].pid, 10000), 0);
    }
    kill(proxy, SIGTERM);
    th_reap(&g_s, proxy, 5000);
    print_message("%d syncs through the proxy, %d failed (cut, stalled or"
                  " killed), %lld ms so far\n", runs, fails, th_ms() - t0);

    /* A clean final sync of every device, directly: push all, then pull
    ** all (the second pass brings what the others pushed in the first). */
    for (int i = 0; i < N_DEV; i++)
        set_server(&g_d[i], g_s.url);
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < N_DEV; i++)
            assert_int_equal(sync_direct(&g_d[i]), 0);

    char spath[400];
    store_path(spath, sizeof spath);
    assert_no_duplicate_history();
    for (int i = 0; i < N_DEV; i++) {
        dev *d = &g_d[i];
        long long stuck = count_of(d->db, "SELECT count(*) FROM glog"
                                   " WHERE outbox = 1");
        if (stuck != 0)
            dump_outbox(d);
        assert_int_equal(stuck, 0);
        assert_int_equal(count_of(d->db, "SELECT count(*) FROM refusal"), 0);
        char what[64];
        snprintf(what, sizeof what, "%s (acked before the faults)", d->name);
        assert_in_history(&before[i], what);
        acked all;
        memset(&all, 0, sizeof all);
        acked_of(d, &all);
        snprintf(what, sizeof what, "%s (acked by the end)", d->name);
        assert_in_history(&all, what);
        acked_free(&all);
        acked_free(&before[i]);
        assert_registers(d, d->user[0] != 'r', d->user);
    }
    print_message("history %lld rows, server registers %lld; %lld ms in all\n",
                  count_of(spath, "SELECT count(*) FROM history"),
                  count_of(spath, "SELECT count(*) FROM reg"), th_ms() - t0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_devices_through_faults, teardown),
    };
    return cmocka_run_group_tests_name("faults_devices", tests, NULL, NULL);
}
