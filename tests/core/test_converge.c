/*
** test_converge.c — convergence property test and one test per sync rule.
**
** Property: 3-5 in-memory replicas, each with its own deterministic clock
** (skewed) and seeded randomness, make random writes (including deletes
** and concurrent edits of one field) to a few records, interleaved with
** partial exchanges through an in-test hub that delivers changes in random
** order, duplicates some and loses some (resent later).  After everyone has
** everything, every replica's reg table must be byte-for-byte equal, and
** each register must equal the pure merge of every change of that field
** (an oracle independent of the replicas' history).
**
** The hub also plays the server's part of rules 12-14 (trust.md): it keeps
** the highest counter accepted per device id, answers a push whose
** (device, counter) names another change with a clash, re-stamps changes
** whose HLC is more than FDS_CLOCK_BOUND_MS ahead of its clock, and tells
** a replica whose counter is below the accepted one (the welcome).  Some
** seeds restore a replica from an earlier copy of its file, clone one
** replica over another (two copies of one device id), or run one replica's
** clock an hour ahead: every replica still converges, and every change the
** hub acknowledged is in every replica (the oracle folds them all).
**
** FDS_SEED=N replays one seed; FDS_SEEDS=N sets how many seeds run
** (default 2000).  A failure names the seed, the replica and the register.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "internal.h"
#include "testenv.h"

#define MAXREP 5
#define MAXCH 256
#define MAXDEV 32
/* The hub's clock, for re-stamping (rule 14): the replicas' own clocks
** start within 5 s before it, except a skewed one. */
#define HUB_NOW_MS 1700000010000LL

/* A change as the hub carries it. */
typedef struct hub {
    fdsp_change ch[MAXCH];
    int author[MAXCH];
    size_t n;
    int64_t collected[MAXREP];         /* last lseq read from each replica */
    /* delivered[i][k]: change k reached replica i */
    unsigned char delivered[MAXREP][MAXCH];
    /* the server's part (rules 12-14) */
    char dev[MAXDEV][FDS__UUID_LEN + 1];
    uint64_t acc[MAXDEV];           /* highest counter accepted per device */
    int n_dev;
    uint64_t hlc;                   /* the hub's last re-stamp */
    int resets, restamps;
} hub;

typedef struct world {
    int n;
    test_env env[MAXREP];
    fds_replica *r[MAXREP];
    hub h;
    uint64_t rng;
    unsigned seed;
} world;

static unsigned pick(world *w, unsigned n)
{
    return (unsigned)(test_rand(&w->rng) % n);
}

static uint64_t *hub_acc(hub *h, const char *device)
{
    for (int i = 0; i < h->n_dev; i++)
        if (strcmp(h->dev[i], device) == 0)
            return &h->acc[i];
    assert_true(h->n_dev < MAXDEV);
    snprintf(h->dev[h->n_dev], sizeof h->dev[0], "%s", device);
    h->acc[h->n_dev] = 0;
    return &h->acc[h->n_dev++];
}

static int same_change(const fdsp_change *a, const fdsp_change *b)
{
    return !strcmp(a->table, b->table) && !strcmp(a->record, b->record) &&
           !strcmp(a->field, b->field) &&
           ((!a->value && !b->value) ||
            (a->value && b->value && !strcmp(a->value, b->value))) &&
           fds_vv_compare(&a->vv, &b->vv) == FDS_VV_EQUAL;
}

enum { HUB_NEW, HUB_DUP, HUB_CLASH };

/* Rule 15 step 3 as the server plays it: a change whose own counter the
** hub has passed is a duplicate when it holds the same change under that
** (device, counter), else a clash. */
static int hub_check(hub *h, const fdsp_change *c, size_t *dup)
{
    uint64_t k = fds__vv_get(&c->vv, c->device);
    if (k > *hub_acc(h, c->device))
        return HUB_NEW;
    for (size_t j = 0; j < h->n; j++)
        if (strcmp(h->ch[j].device, c->device) == 0 &&
            fds__vv_get(&h->ch[j].vv, c->device) == k) {
            *dup = j;
            return same_change(&h->ch[j], c) ? HUB_DUP : HUB_CLASH;
        }
    return HUB_CLASH;
}

static void sql_exec(fds_replica *r, const char *sql, int64_t v)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(r->db, sql, -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_int64(st, 1, v);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
}

/* Rule 12 on replica i (fds__device_reset), and what the session does
** after: cursor 0, so it gets everything again (the hub redelivers). */
static void reset_replica(world *w, int i, uint64_t server_counter)
{
    if (fds__device_reset(w->r[i], server_counter) != FDS_OK)
        fail_msg("seed %u: reset of replica %d failed: %s", w->seed, i,
                 fds_errmsg(w->r[i]));
    for (size_t k = 0; k < w->h.n; k++)
        w->h.delivered[i][k] = w->h.author[k] == i;
    w->h.resets++;
}

/* Push replica i's outbox to the hub (the server's part of rules 12-15),
** acking what the hub took. */
static void collect_once(world *w, int i, int *clashed)
{
    fds_replica *r = w->r[i];
    *clashed = 0;
    /* the welcome: counter above the replica's own */
    uint64_t acc = *hub_acc(&w->h, fds_replica_device(r));
    if (acc > r->counter)
        reset_replica(w, i, acc);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(r->db,
        "SELECT lseq, tbl, rid, field, value, vv, hlc, device, user FROM log "
        "WHERE origin = 1 AND acked = 0 ORDER BY lseq", -1, &st, NULL),
        SQLITE_OK);
    int64_t stamped[MAXCH], acked[MAXCH];
    uint64_t stamp[MAXCH];
    size_t n_st = 0, n_ack = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        assert_true(w->h.n < MAXCH);
        fdsp_change *c = &w->h.ch[w->h.n];
        memset(c, 0, sizeof *c);
        w->h.collected[i] = sqlite3_column_int64(st, 0);
        c->table = strdup((const char *)sqlite3_column_text(st, 1));
        c->record = strdup((const char *)sqlite3_column_text(st, 2));
        c->field = strdup((const char *)sqlite3_column_text(st, 3));
        if (sqlite3_column_type(st, 4) != SQLITE_NULL)
            c->value = strdup((const char *)sqlite3_column_text(st, 4));
        json_t *vv = json_loads((const char *)sqlite3_column_text(st, 5), 0, NULL);
        assert_int_equal(fds__vv_from_json(vv, &c->vv), FDS_OK);
        json_decref(vv);
        c->hlc = (uint64_t)sqlite3_column_int64(st, 6);
        c->device = strdup((const char *)sqlite3_column_text(st, 7));
        c->user = strdup((const char *)sqlite3_column_text(st, 8));
        int64_t lseq = sqlite3_column_int64(st, 0);
        size_t dup = 0;
        int verdict = hub_check(&w->h, c, &dup);
        if (verdict != HUB_NEW) {
            fdsp_change_clear(c);
            if (verdict == HUB_CLASH) {
                *clashed = 1;           /* and every later change of it */
                break;
            }
            acked[n_ack++] = lseq;
            if (w->h.ch[dup].hlc != (uint64_t)sqlite3_column_int64(st, 6)) {
                stamped[n_st] = lseq;
                stamp[n_st++] = w->h.ch[dup].hlc;
            }
            continue;
        }
        *hub_acc(&w->h, c->device) = fds__vv_get(&c->vv, c->device);
        uint64_t bound = (uint64_t)(HUB_NOW_MS + FDS_CLOCK_BOUND_MS) << 16;
        if (c->hlc > bound) {           /* rule 14: re-stamped */
            w->h.hlc = fds_hlc_next(w->h.hlc, HUB_NOW_MS);
            c->hlc = w->h.hlc;
            stamped[n_st] = lseq;
            stamp[n_st++] = c->hlc;
            w->h.restamps++;
        }
        acked[n_ack++] = lseq;
        w->h.collected[i] = lseq;
        w->h.author[w->h.n] = i;
        w->h.delivered[i][w->h.n] = 1;
        w->h.n++;
    }
    sqlite3_finalize(st);
    /* the ack: rows taken leave the outbox, stamps are kept */
    assert_int_equal(fds_begin(r), FDS_OK);
    for (size_t k = 0; k < n_ack; k++)
        sql_exec(r, "UPDATE log SET acked = 1 WHERE lseq = ?1", acked[k]);
    for (size_t k = 0; k < n_st; k++)
        if (fds__apply_stamp(r, stamped[k], stamp[k]) != FDS_OK)
            fail_msg("seed %u: stamp on replica %d failed: %s", w->seed, i,
                     fds_errmsg(r));
    assert_int_equal(fds_commit(r), FDS_OK);
}

/* Copy replica i's new local changes (its outbox) into the hub; after a
** clash the replica resets and pushes again under its new id. */
static void collect(world *w, int i)
{
    int clashed;
    collect_once(w, i, &clashed);
    if (clashed) {
        reset_replica(w, i, 0);
        collect_once(w, i, &clashed);
        if (clashed)
            fail_msg("seed %u: replica %d clashes after its reset", w->seed,
                     i);
    }
}

/* A copy of replica i's file (a backup, or a phone cloned from it). */
static void copy_file(world *w, int i, const char *path)
{
    unlink(path);
    char sql[256];
    snprintf(sql, sizeof sql, "VACUUM INTO '%s'", path);
    assert_int_equal(sqlite3_exec(w->r[i]->db, sql, NULL, NULL, NULL),
                     SQLITE_OK);
}

static fds_replica *open_file(world *w, int i, const char *path)
{
    fds_replica *r = NULL;
    char err[256] = "";
    if (fds_replica_open(path, &w->env[i].env, &r, err, sizeof err) != FDS_OK)
        fail_msg("seed %u: cannot open copy: %s", w->seed, err);
    /* a test file: no fsync per commit (thousands of seeds) */
    assert_int_equal(sqlite3_exec(r->db, "PRAGMA synchronous=OFF", NULL, NULL,
                                  NULL), SQLITE_OK);
    return r;
}

static void drop_file(const char *path)
{
    static const char *const suffix[] = {"", "-wal", "-shm"};
    for (int k = 0; k < 3; k++) {
        char p[200];
        snprintf(p, sizeof p, "%s%s", path, suffix[k]);
        unlink(p);
    }
}

static void deliver(world *w, int i, size_t k)
{
    int outcome;
    int rc = fds__apply(w->r[i], &w->h.ch[k], &outcome);
    if (rc != FDS_OK)
        fail_msg("seed %u: apply on replica %d failed: %s", w->seed, i,
                 fds_errmsg(w->r[i]));
    w->h.delivered[i][k] = 1;
}

/* One exchange round: each undelivered (replica, change) pair is delivered
** with probability pct% in shuffled order; some are delivered twice; some
** already-delivered ones are re-delivered (duplicates); a batch is applied
** inside one transaction as a session does. */
static void exchange(world *w, unsigned pct)
{
    size_t pairs[MAXREP * MAXCH][2];
    size_t np = 0;
    for (int i = 0; i < w->n; i++)
        for (size_t k = 0; k < w->h.n; k++)
            if (w->h.author[k] != i &&
                (!w->h.delivered[i][k] || pick(w, 10) == 0))
                if (pick(w, 100) < pct) {
                    pairs[np][0] = (size_t)i;
                    pairs[np][1] = k;
                    np++;
                }
    for (size_t a = np; a > 1; a--) {             /* Fisher-Yates */
        size_t b = pick(w, (unsigned)a);
        size_t t0 = pairs[a - 1][0], t1 = pairs[a - 1][1];
        pairs[a - 1][0] = pairs[b][0];
        pairs[a - 1][1] = pairs[b][1];
        pairs[b][0] = t0;
        pairs[b][1] = t1;
    }
    int batched = pick(w, 2);
    if (batched && pick(w, 2)) {
        /* As a session applies a pulled page: each replica's share in one
        ** fds__apply_batch call (runs of one record read together). */
        size_t cap = 2 * np + 1;
        fdsp_change *batch = malloc(cap * sizeof *batch);
        for (int i = 0; i < w->n; i++) {
            size_t m = 0;
            for (size_t p = 0; p < np; p++) {
                if ((int)pairs[p][0] != i)
                    continue;
                batch[m++] = w->h.ch[pairs[p][1]];
                if (pick(w, 8) == 0)
                    batch[m++] = w->h.ch[pairs[p][1]];  /* duplicate */
                w->h.delivered[i][pairs[p][1]] = 1;
            }
            int64_t conflicts = 0;
            assert_int_equal(fds_begin(w->r[i]), FDS_OK);
            if (fds__apply_batch(w->r[i], batch, m, &conflicts) != FDS_OK)
                fail_msg("seed %u: batch on replica %d failed: %s", w->seed,
                         i, fds_errmsg(w->r[i]));
            assert_int_equal(fds_commit(w->r[i]), FDS_OK);
        }
        free(batch);
        return;
    }
    for (int i = 0; batched && i < w->n; i++)
        assert_int_equal(fds_begin(w->r[i]), FDS_OK);
    for (size_t p = 0; p < np; p++) {
        deliver(w, (int)pairs[p][0], pairs[p][1]);
        if (pick(w, 8) == 0)
            deliver(w, (int)pairs[p][0], pairs[p][1]);   /* duplicate */
    }
    for (int i = 0; batched && i < w->n; i++)
        assert_int_equal(fds_commit(w->r[i]), FDS_OK);
}

static const char *const values[] = {"a", "b", "c", "张", NULL};
static const char *const fields[] = {"name", "phone", "deleted"};

static void random_write(world *w, int i)
{
    fds_replica *r = w->r[i];
    char rid[8];
    snprintf(rid, sizeof rid, "r%u", pick(w, 3));
    unsigned kind = pick(w, 10);
    if (kind == 0) {                              /* delete */
        assert_int_equal(fds__write1(r, "customer", rid, "deleted", "1"), FDS_OK);
    } else if (kind <= 2) {                       /* several fields at once */
        json_t *f = json_object();
        json_object_set_new(f, "name", json_string(values[pick(w, 4)]));
        json_object_set_new(f, "phone", values[pick(w, 5)]
                            ? json_string(values[pick(w, 4)]) : json_null());
        assert_int_equal(fds__write(r, "customer", rid, f), FDS_OK);
        json_decref(f);
    } else if (kind == 3) {                       /* a child record */
        char cid[16];
        snprintf(cid, sizeof cid, "f%u", pick(w, 2));
        assert_int_equal(fds__write1(r, "followup", cid, "customer", rid), FDS_OK);
    } else {
        const char *f = fields[pick(w, 3)];
        const char *v = strcmp(f, "deleted") == 0 ? (pick(w, 2) ? "1" : "0")
                                                   : values[pick(w, 5)];
        assert_int_equal(fds__write1(r, "customer", rid, f, v), FDS_OK);
    }
}

/* reg rows of a replica in one canonical text, plus the row names. */
static char *reg_text(fds_replica *r)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(r->db,
        "SELECT tbl, rid, field, quote(value), versions, conflict FROM reg "
        "ORDER BY tbl, rid, field", -1, &st, NULL), SQLITE_OK);
    size_t cap = 4096, len = 0;
    char *out = malloc(cap);
    out[0] = '\0';
    while (sqlite3_step(st) == SQLITE_ROW) {
        char line[4096];
        int n = snprintf(line, sizeof line, "%s/%s/%s|%s|%s|%d\n",
                         sqlite3_column_text(st, 0), sqlite3_column_text(st, 1),
                         sqlite3_column_text(st, 2), sqlite3_column_text(st, 3),
                         sqlite3_column_text(st, 4), sqlite3_column_int(st, 5));
        while (len + (size_t)n + 1 > cap)
            out = realloc(out, cap *= 2);
        memcpy(out + len, line, (size_t)n + 1);
        len += (size_t)n;
    }
    sqlite3_finalize(st);
    return out;
}

/* First differing line of two reg dumps, for the failure message. */
static void first_diff(const char *a, const char *b, char *buf, size_t len)
{
    while (*a && *a == *b) {
        const char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');
        if (!ea || !eb || ea - a != eb - b || memcmp(a, b, (size_t)(ea - a)))
            break;
        a = ea + 1;
        b = eb + 1;
    }
    const char *e = strchr(a, '|');
    snprintf(buf, len, "%.*s", e ? (int)(e - a) : 60, a);
}

/* Oracle: fold every change of each register with the pure merge, in a
** random order, and compare with replica 0's stored versions. */
static void check_oracle(world *w)
{
    for (size_t k = 0; k < w->h.n; k++) {
        const fdsp_change *c = &w->h.ch[k];
        size_t idx[MAXCH], m = 0;
        for (size_t j = 0; j < w->h.n; j++)
            if (!strcmp(w->h.ch[j].table, c->table) &&
                !strcmp(w->h.ch[j].record, c->record) &&
                !strcmp(w->h.ch[j].field, c->field))
                idx[m++] = j;
        if (idx[0] != k)
            continue;                         /* each register once */
        for (size_t a = m; a > 1; a--) {
            size_t b = pick(w, (unsigned)a), t = idx[a - 1];
            idx[a - 1] = idx[b];
            idx[b] = t;
        }
        fds_register reg = {0, NULL};
        for (size_t j = 0; j < m; j++) {
            fds_register out = {0, NULL};
            int outcome;
            assert_int_equal(fds_merge(&reg, &w->h.ch[idx[j]], &out, &outcome),
                             FDS_OK);
            fds_register_clear(&reg);
            reg = out;
        }
        fds_register stored = {0, NULL};
        assert_int_equal(fds__reg_load(w->r[0], c->table, c->record, c->field,
                                       &stored), FDS_OK);
        char *s1 = fds__register_dump(&reg), *s2 = fds__register_dump(&stored);
        if (strcmp(s1, s2) != 0)
            fail_msg("seed %u: replica 0 reg %s/%s/%s differs from the pure "
                     "merge of its changes:\n  stored %s\n  oracle %s",
                     w->seed, c->table, c->record, c->field, s2, s1);
        /* Versions kept are mutually concurrent. */
        for (size_t a = 0; a < stored.n; a++)
            for (size_t b = a + 1; b < stored.n; b++)
                assert_int_equal(fds_vv_compare(&stored.v[a].vv, &stored.v[b].vv),
                                 FDS_VV_CONCURRENT);
        free(s1);
        free(s2);
        fds_register_clear(&reg);
        fds_register_clear(&stored);
    }
}

static void world_free(world *w)
{
    for (int i = 0; i < w->n; i++)
        fds_replica_close(w->r[i]);
    for (size_t k = 0; k < w->h.n; k++)
        fdsp_change_clear(&w->h.ch[k]);
}

/* Trust events of a seed (rules 12 and 14), picked up front. */
typedef struct trust_plan {
    int backup_round, restore_round, restored;  /* -1: none */
    int clone_round, clone_from, clone_to;      /* -1: none */
    int skewed;                                 /* replica an hour ahead */
    char path[128];
    size_t saved_n;                             /* hub size at the backup */
    unsigned char saved[MAXCH];                 /* its delivered row then */
} trust_plan;

/* Replica tp->restored goes back to the backup: it lacks what it wrote
** and received after it, and what it wrote after it is, to it, another
** device's (the hub redelivers it). */
static void restore_backup(world *w, trust_plan *tp)
{
    int i = tp->restored;
    fds_replica_close(w->r[i]);
    w->r[i] = open_file(w, i, tp->path);
    for (size_t k = 0; k < w->h.n; k++) {
        if (k >= tp->saved_n && w->h.author[k] == i)
            w->h.author[k] = -1;
        w->h.delivered[i][k] = k < tp->saved_n ? tp->saved[k] : 0;
    }
}

/* Replica `to` becomes a clone of replica `from` (same device id): what it
** wrote before is, to it, another device's now. */
static void clone_replica(world *w, trust_plan *tp)
{
    int from = tp->clone_from, to = tp->clone_to;
    char path[160];
    snprintf(path, sizeof path, "%s.clone", tp->path);
    copy_file(w, from, path);
    fds_replica_close(w->r[to]);
    w->r[to] = open_file(w, to, path);
    for (size_t k = 0; k < w->h.n; k++) {
        if (w->h.author[k] == to)
            w->h.author[k] = -1;
        w->h.delivered[to][k] = w->h.author[k] == from ? 1
                                : w->h.delivered[from][k];
    }
    /* the clone's file lives on in w->r[to]: it is removed at the end */
}

/* What the trust events of all seeds did (the test checks they ran). */
typedef struct trust_count {
    int resets, restamps;
} trust_count;

static void run_seed(unsigned seed, trust_count *tc)
{
    world *w = calloc(1, sizeof *w);
    w->seed = seed;
    w->rng = (uint64_t)seed * 0x9E3779B97F4A7C15ULL + 1;
    w->n = 3 + (int)pick(w, 3);
    trust_plan tp;
    memset(&tp, 0, sizeof tp);
    /* copies live in memory where there is a tmpfs: fsyncs cost nothing */
    snprintf(tp.path, sizeof tp.path, "%s/fds-converge-%ld-%u.db",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp",
             (long)getpid(), seed);
    tp.backup_round = tp.restore_round = tp.clone_round = tp.skewed = -1;
    int rounds = 2 + (int)pick(w, 3);
    unsigned event = pick(w, 4);
    if (event == 1) {                   /* a phone restored from a backup */
        tp.backup_round = (int)pick(w, (unsigned)rounds - 1);
        tp.restore_round = tp.backup_round + 1 +
                           (int)pick(w, (unsigned)(rounds - tp.backup_round - 1));
        tp.restored = (int)pick(w, (unsigned)w->n);
    } else if (event == 2) {            /* a phone cloned over another */
        tp.clone_round = (int)pick(w, (unsigned)rounds);
        tp.clone_from = (int)pick(w, (unsigned)w->n);
        tp.clone_to = (tp.clone_from + 1 + (int)pick(w, (unsigned)w->n - 1)) %
                      w->n;
    } else if (event == 3) {            /* a clock an hour ahead */
        tp.skewed = (int)pick(w, (unsigned)w->n);
    }
    for (int i = 0; i < w->n; i++) {
        /* Skewed clocks, some running behind the others. */
        test_env_init(&w->env[i], 1700000000000 + (int64_t)pick(w, 5000) +
                      (i == tp.skewed ? 3600000 : 0),
                      seed * 31 + (unsigned)i + 1);
        w->env[i].step = (int64_t)pick(w, 3);
        w->r[i] = test_open(&w->env[i]);
        assert_int_equal(fds_replica_set_user(w->r[i], "u"), FDS_OK);
    }
    for (int round = 0; round < rounds; round++) {
        if (round == tp.restore_round)
            restore_backup(w, &tp);
        if (round == tp.clone_round)
            clone_replica(w, &tp);
        for (int i = 0; i < w->n; i++) {
            int writes = (int)pick(w, 4);
            for (int k = 0; k < writes && w->h.n + 8 < MAXCH; k++)
                random_write(w, i);
            if (round == tp.backup_round && i == tp.restored) {
                copy_file(w, i, tp.path);   /* before it syncs */
                tp.saved_n = w->h.n;
                memcpy(tp.saved, w->h.delivered[i], sizeof tp.saved);
            }
            collect(w, i);
        }
        exchange(w, 20 + pick(w, 60));         /* partial, lossy */
    }
    /* Resend everything lost until all have everything. */
    for (int i = 0; i < w->n; i++)
        collect(w, i);
    exchange(w, 100);
    for (int i = 0; i < w->n; i++)
        for (size_t k = 0; k < w->h.n; k++)
            assert_true(w->h.delivered[i][k]);

    char *ref = reg_text(w->r[0]);
    for (int i = 1; i < w->n; i++) {
        char *t = reg_text(w->r[i]);
        if (strcmp(ref, t) != 0) {
            char where[256];
            first_diff(ref, t, where, sizeof where);
            fprintf(stderr, "seed %u diverged: replica %d reg %s\n", seed, i,
                    where);
            fail_msg("seed %u diverged: replica %d reg %s", seed, i, where);
        }
        free(t);
    }
    free(ref);
    check_oracle(w);
    if (tp.skewed >= 0 && w->h.n > 0 && w->h.restamps == 0) {
        /* every change of the skewed replica was re-stamped: none of the
        ** replicas holds a time an hour ahead */
        for (size_t k = 0; k < w->h.n; k++)
            assert_true(w->h.ch[k].hlc <=
                        (uint64_t)(HUB_NOW_MS + FDS_CLOCK_BOUND_MS) << 16);
    }
    if (tc) {
        tc->resets += w->h.resets;
        tc->restamps += w->h.restamps;
    }
    world_free(w);
    drop_file(tp.path);
    char clone[160];
    snprintf(clone, sizeof clone, "%s.clone", tp.path);
    drop_file(clone);
    free(w);
}

static void test_property_converge(void **state)
{
    (void)state;
    const char *one = getenv("FDS_SEED");
    if (one && *one) {
        run_seed((unsigned)strtoul(one, NULL, 10), NULL);
        return;
    }
    const char *many = getenv("FDS_SEEDS");
    unsigned n = many && *many ? (unsigned)strtoul(many, NULL, 10) : 2000;
    trust_count tc = {0, 0};
    for (unsigned seed = 1; seed <= n; seed++)
        run_seed(seed, &tc);
    /* the restores, clones and skewed clocks did happen */
    if (n >= 100) {
        assert_true(tc.resets > (int)(n / 20));
        assert_true(tc.restamps > (int)(n / 20));
    }
    fprintf(stderr, "converge: %u seeds, %d device resets, %d re-stamps\n",
            n, tc.resets, tc.restamps);
}

/* log rows of a replica in one text (every column). */
static char *log_text(fds_replica *r)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(r->db,
        "SELECT lseq, tbl, rid, field, quote(value), vv, hlc, device, user, "
        "origin, acked, sseq, at_ms FROM log ORDER BY lseq", -1, &st, NULL),
        SQLITE_OK);
    size_t cap = 4096, len = 0;
    char *out = malloc(cap);
    out[0] = '\0';
    while (sqlite3_step(st) == SQLITE_ROW) {
        char line[4096];
        int n = 0;
        for (int k = 0; k < 13; k++)
            n += snprintf(line + n, sizeof line - (size_t)n, "%s|",
                          (const char *)sqlite3_column_text(st, k));
        n += snprintf(line + n, sizeof line - (size_t)n, "\n");
        while (len + (size_t)n + 1 > cap)
            out = realloc(out, cap *= 2);
        memcpy(out + len, line, (size_t)n + 1);
        len += (size_t)n;
    }
    sqlite3_finalize(st);
    return out;
}

/* fds__apply_batch (a pulled page) stores and logs exactly what applying
** the same changes one by one does, with runs of one record (new ones and
** existing ones), repeated fields in a run, duplicates and conflicts. */
static void test_batch_equals_one_by_one(void **state)
{
    (void)state;
    for (unsigned seed = 1; seed <= 300; seed++) {
        world *w = calloc(1, sizeof *w);
        w->seed = seed;
        w->rng = (uint64_t)seed * 0x2545F4914F6CDD1DULL + 7;
        w->n = 3;
        for (int i = 0; i < w->n; i++) {
            test_env_init(&w->env[i], 1700000000000 + (int64_t)pick(w, 5000),
                          seed * 17 + (unsigned)i + 1);
            w->r[i] = test_open(&w->env[i]);
            assert_int_equal(fds_replica_set_user(w->r[i], "u"), FDS_OK);
        }
        for (int i = 0; i < w->n; i++) {
            int writes = 2 + (int)pick(w, 10);
            for (int k = 0; k < writes && w->h.n + 8 < MAXCH; k++)
                random_write(w, i);
            collect(w, i);
        }
        /* x and y start equal (same device id and clock): some changes
        ** applied to both one by one, then the rest x as one batch and y
        ** one by one.  The rest is sorted by record in runs, as pulled. */
        test_env ex, ey;
        test_env_init(&ex, 1700000002000, seed * 17 + 99);
        test_env_init(&ey, 1700000002000, seed * 17 + 99);
        fds_replica *x = test_open(&ex), *y = test_open(&ey);
        fdsp_change *rest = malloc(2 * MAXCH * sizeof *rest);
        size_t m = 0;
        int outcome;
        for (size_t k = 0; k < w->h.n; k++) {
            if (pick(w, 3) == 0) {
                assert_int_equal(fds__apply(x, &w->h.ch[k], &outcome), FDS_OK);
                assert_int_equal(fds__apply(y, &w->h.ch[k], &outcome), FDS_OK);
            } else {
                rest[m++] = w->h.ch[k];
                if (pick(w, 6) == 0)
                    rest[m++] = w->h.ch[k];
            }
        }
        for (size_t a = 1; a < m; a++)          /* stable sort by record */
            for (size_t b = a; b > 0 && pick(w, 4) &&
                 strcmp(rest[b - 1].record, rest[b].record) > 0; b--) {
                fdsp_change t = rest[b - 1];
                rest[b - 1] = rest[b];
                rest[b] = t;
            }
        int64_t cx = 0, cy = 0;
        assert_int_equal(fds_begin(x), FDS_OK);
        assert_int_equal(fds__apply_batch(x, rest, m, &cx), FDS_OK);
        assert_int_equal(fds_commit(x), FDS_OK);
        assert_int_equal(fds_begin(y), FDS_OK);
        for (size_t k = 0; k < m; k++) {
            assert_int_equal(fds__apply_in(y, &rest[k], &outcome), FDS_OK);
            cy += outcome == FDS_MERGE_CONFLICT;
        }
        assert_int_equal(fds_commit(y), FDS_OK);
        assert_int_equal(cx, cy);
        char *rx = reg_text(x), *ry = reg_text(y);
        char *lx = log_text(x), *ly = log_text(y);
        if (strcmp(rx, ry) != 0 || strcmp(lx, ly) != 0)
            fail_msg("seed %u: batch and one-by-one differ", seed);
        free(rx);
        free(ry);
        free(lx);
        free(ly);
        free(rest);
        fds_replica_close(x);
        fds_replica_close(y);
        world_free(w);
        free(w);
    }
}

/* ---- One test per rule ------------------------------------------------------- */

typedef struct pair {
    test_env ea, eb;
    fds_replica *a, *b;
    int64_t seen_a, seen_b;
} pair;

static void pair_open(pair *p, int64_t skew)
{
    test_env_init(&p->ea, 1700000000000, 101);
    test_env_init(&p->eb, 1700000000000 + skew, 202);
    p->a = test_open(&p->ea);
    p->b = test_open(&p->eb);
    p->seen_a = p->seen_b = 0;
}

/* Deliver every new local change of `from` to `to`. */
static void ship(fds_replica *from, int64_t *seen, fds_replica *to)
{
    world *w = calloc(1, sizeof *w);
    w->n = 1;
    w->r[0] = from;
    w->h.collected[0] = *seen;
    collect(w, 0);
    *seen = w->h.collected[0];
    for (size_t k = 0; k < w->h.n; k++) {
        int outcome;
        assert_int_equal(fds__apply(to, &w->h.ch[k], &outcome), FDS_OK);
        fdsp_change_clear(&w->h.ch[k]);
    }
    free(w);
}

static void sync_pair(pair *p)
{
    ship(p->a, &p->seen_a, p->b);
    ship(p->b, &p->seen_b, p->a);
}

static int conflicts(fds_replica *r)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(r->db,
        "SELECT count(*) FROM reg WHERE conflict = 1", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return n;
}

static void assert_same(pair *p)
{
    char *x = reg_text(p->a), *y = reg_text(p->b);
    assert_string_equal(x, y);
    free(x);
    free(y);
}

static char *value(fds_replica *r, const char *tbl, const char *rid,
                   const char *field)
{
    json_t *o = NULL;
    assert_int_equal(fds__read(r, tbl, rid, &o), FDS_OK);
    const char *v = json_string_value(json_object_get(o, field));
    char *s = v ? strdup(v) : NULL;
    json_decref(o);
    return s;
}

/* Rule 3: concurrent edits of one field conflict, the same winner is
** chosen everywhere, and a later write made after both settles it. */
static void test_rule3_conflict_and_settle(void **state)
{
    (void)state;
    pair p;
    pair_open(&p, 10000);                 /* b's clock runs ahead */
    assert_int_equal(fds__write1(p.a, "customer", "c1", "name", "base"), FDS_OK);
    sync_pair(&p);
    assert_int_equal(fds__write1(p.a, "customer", "c1", "name", "from a"), FDS_OK);
    assert_int_equal(fds__write1(p.b, "customer", "c1", "name", "from b"), FDS_OK);
    sync_pair(&p);
    assert_int_equal(conflicts(p.a), 1);
    assert_int_equal(conflicts(p.b), 1);
    assert_same(&p);
    char *va = value(p.a, "customer", "c1", "name");
    assert_string_equal(va, "from b");    /* greater hlc */
    free(va);
    /* Both values, authors and devices are kept for review. */
    fds_register reg = {0, NULL};
    assert_int_equal(fds__reg_load(p.a, "customer", "c1", "name", &reg), FDS_OK);
    assert_int_equal(reg.n, 2);
    assert_string_equal(reg.v[1].value, "from a");
    assert_string_equal(reg.v[1].device, fds_replica_device(p.a));
    assert_string_equal(reg.v[0].device, fds_replica_device(p.b));
    fds_register_clear(&reg);

    /* a resolves (writes after seeing both): settled on both. */
    assert_int_equal(fds__write1(p.a, "customer", "c1", "name", "agreed"), FDS_OK);
    sync_pair(&p);
    assert_int_equal(conflicts(p.a), 0);
    assert_int_equal(conflicts(p.b), 0);
    assert_same(&p);
    char *vb = value(p.b, "customer", "c1", "name");
    assert_string_equal(vb, "agreed");    /* even against b's faster clock */
    free(vb);
    fds_replica_close(p.a);
    fds_replica_close(p.b);
}

/* Rule 3, the other half: a write made knowing the earlier one wins
** without conflict, even when its author's clock is behind. */
static void test_rule3_causal_overwrite(void **state)
{
    (void)state;
    pair p;
    pair_open(&p, -60000);                /* b's clock a minute behind */
    assert_int_equal(fds__write1(p.a, "customer", "c1", "phone", "1"), FDS_OK);
    sync_pair(&p);
    assert_int_equal(fds__write1(p.b, "customer", "c1", "phone", "2"), FDS_OK);
    sync_pair(&p);
    assert_int_equal(conflicts(p.a), 0);
    char *v = value(p.a, "customer", "c1", "phone");
    assert_string_equal(v, "2");
    free(v);
    assert_same(&p);
    fds_replica_close(p.a);
    fds_replica_close(p.b);
}

/* Rule 4: different fields of one record, and follow-ups on one customer,
** never conflict. */
static void test_rule4_fields_independent(void **state)
{
    (void)state;
    pair p;
    pair_open(&p, 0);
    json_t *f = json_pack("{s:s, s:s, s:s}", "name", "n", "phone", "p",
                          "email", "e");
    assert_int_equal(fds__write(p.a, "customer", "c1", f), FDS_OK);
    json_decref(f);
    sync_pair(&p);
    assert_int_equal(fds__write1(p.a, "customer", "c1", "phone", "a-phone"), FDS_OK);
    assert_int_equal(fds__write1(p.b, "customer", "c1", "email", "b@x"), FDS_OK);
    assert_int_equal(fds__write1(p.a, "followup", "fa", "customer", "c1"), FDS_OK);
    assert_int_equal(fds__write1(p.b, "followup", "fb", "customer", "c1"), FDS_OK);
    sync_pair(&p);
    assert_int_equal(conflicts(p.a), 0);
    assert_int_equal(conflicts(p.b), 0);
    char *ph = value(p.b, "customer", "c1", "phone");
    char *em = value(p.a, "customer", "c1", "email");
    assert_string_equal(ph, "a-phone");
    assert_string_equal(em, "b@x");
    free(ph);
    free(em);
    assert_int_equal(fds__exists(p.a, "followup", "fb"), 1);
    assert_int_equal(fds__exists(p.b, "followup", "fa"), 1);
    assert_same(&p);
    fds_replica_close(p.a);
    fds_replica_close(p.b);
}

/* Rule 5: a delete concurrent with an edit is a conflict; a delete after
** seeing the edit is not. */
static void test_rule5_delete_vs_edit(void **state)
{
    (void)state;
    pair p;
    pair_open(&p, 0);
    assert_int_equal(fds__write1(p.a, "customer", "c1", "name", "x"), FDS_OK);
    sync_pair(&p);
    assert_int_equal(fds__write1(p.a, "customer", "c1", "deleted", "1"), FDS_OK);
    assert_int_equal(fds__write1(p.b, "customer", "c1", "name", "edited"), FDS_OK);
    sync_pair(&p);
    assert_int_equal(conflicts(p.a), 1);
    assert_int_equal(conflicts(p.b), 1);
    assert_same(&p);
    fds_register reg = {0, NULL};
    assert_int_equal(fds__reg_load(p.b, "customer", "c1", "deleted", &reg), FDS_OK);
    assert_int_equal(reg.n, 2);
    assert_true(fds_register_in_conflict(&reg));
    fds_register_clear(&reg);
    /* Resolving (keep deleted) settles it everywhere. */
    assert_int_equal(fds__write1(p.b, "customer", "c1", "deleted", "1"), FDS_OK);
    sync_pair(&p);
    assert_int_equal(conflicts(p.a), 0);
    assert_int_equal(fds__exists(p.a, "customer", "c1"), 0);
    assert_same(&p);

    /* Sequential: edit seen, then delete: no conflict. */
    assert_int_equal(fds__write1(p.a, "customer", "c2", "name", "y"), FDS_OK);
    sync_pair(&p);
    assert_int_equal(fds__write1(p.b, "customer", "c2", "name", "y2"), FDS_OK);
    sync_pair(&p);
    assert_int_equal(fds__write1(p.a, "customer", "c2", "deleted", "1"), FDS_OK);
    sync_pair(&p);
    assert_int_equal(conflicts(p.a), 0);
    assert_int_equal(fds__exists(p.b, "customer", "c2"), 0);
    /* Two concurrent edits of different fields do not conflict on
    ** "deleted" (both wrote "0"). */
    assert_int_equal(fds__write1(p.a, "customer", "c3", "name", "z"), FDS_OK);
    sync_pair(&p);
    assert_int_equal(fds__write1(p.a, "customer", "c3", "name", "z1"), FDS_OK);
    assert_int_equal(fds__write1(p.b, "customer", "c3", "phone", "9"), FDS_OK);
    sync_pair(&p);
    assert_int_equal(conflicts(p.a), 0);
    assert_same(&p);
    fds_replica_close(p.a);
    fds_replica_close(p.b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rule3_conflict_and_settle),
        cmocka_unit_test(test_rule3_causal_overwrite),
        cmocka_unit_test(test_rule4_fields_independent),
        cmocka_unit_test(test_rule5_delete_vs_edit),
        cmocka_unit_test(test_property_converge),
        cmocka_unit_test(test_batch_equals_one_by_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
