/*
** bench_phone.c — the phone's limits (issue 16): what a day's sync and a
** first sync of a team's records cost the device, and a first sync done in
** short pieces that stop and resume.
**
**   bench_phone [-n RECORDS] [-p PIECE_MS] [-d DAY_CHANGES]
**               (default -n 60000 -p 2000 -d 200)
**
** Starts the real fieldsync-server (tests/support/harness.c), fills it from a
** team device (RECORDS records: one customer per 5 follow-ups), then runs
** the phone's side through core's sans-I/O session, over a plain blocking
** TLS WebSocket client (tests/support/rawws.c) so every byte of every
** message is counted here:
**   1. first sync of a fresh replica, in one piece, in a fresh process of
**      its own (this program exec'd with -F), so its memory is its own;
**   2. a day: the phone logs follow-ups and edits, the team does too,
**      about DAY_CHANGES field changes in all, then one sync;
**   3. first sync of another fresh replica in pieces of about PIECE_MS of
**      work each: after each piece the session is freed and the connection
**      closed, as when iOS ends a background task; the next piece opens a
**      new connection and session.  It must complete, with every record.
** Figures per record: message bytes each way, and the same bytes deflated
** as permessage-deflate would (one zlib stream per direction, a sync
** flush per message: context takeover, the default the CLI offers and the
** server accepts); replica size; peak memory (SQLite's own high-water mark and
** the peak RSS (VmHWM) of a fresh process doing only the first sync).
**
** Instructions: under valgrind --tool=callgrind --instr-atstart=no
** --collect-atstart=no, only the two syncs are instrumented and in them only
** the core's calls (fds_session_new/next/feed) are collected, and a dump
** is made after each ("first-sync", "day-sync"): see docs/BENCHMARKS.md.
** Without valgrind those macros do nothing.
**
** It is a cmocka program only so the harness's checks work; ctest does not
** run it.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <malloc.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <valgrind/callgrind.h>
#include <zlib.h>

#include "harness.h"
#include "rawws.h"

static int n_records = 60000, piece_ms = 2000, day_changes = 200;
static char self_path[4096];    /* this program, for the -F child (not
                                ** /proc/self/exe: under valgrind that is
                                ** valgrind's own launcher) */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Bytes one way: raw message bytes and their permessage-deflate size. */
typedef struct dir_count {
    long long msgs, raw, deflated;
    z_stream z;
} dir_count;

static void dir_init(dir_count *d)
{
    memset(d, 0, sizeof *d);
    /* raw deflate, 15-bit window: permessage-deflate's default */
    assert_int_equal(deflateInit2(&d->z, 6, Z_DEFLATED, -15, 8,
                                  Z_DEFAULT_STRATEGY), Z_OK);
}

static void dir_add(dir_count *d, const char *buf, size_t len)
{
    unsigned char out[65536];
    d->msgs++;
    d->raw += (long long)len;
    d->z.next_in = (unsigned char *)buf;
    d->z.avail_in = (unsigned)len;
    do {
        d->z.next_out = out;
        d->z.avail_out = sizeof out;
        deflate(&d->z, Z_SYNC_FLUSH);
        d->deflated += (long long)(sizeof out - d->z.avail_out);
    } while (d->z.avail_out == 0);
    d->deflated -= 4;       /* RFC 7692: the 00 00 ff ff tail is not sent */
}

static void dir_end(dir_count *d)
{
    deflateEnd(&d->z);
}

typedef struct run {
    dir_count up, down;
    fds_session_stats st;
    double ms;              /* wall time of the whole sync */
    double max_step_ms;     /* longest single feed (one page applied) */
    int state;
} run;

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &res) != 2)
            res = 0;
        fclose(f);
    }
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Peak RSS of this process image: VmHWM, which exec resets (getrusage's
** ru_maxrss does not: it keeps the forking parent's peak). */
static long hwm_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}

/* One connection and one session; stops when idle, or (budget_ms > 0)
** after the first step that ends past budget_ms of work.  Returns the
** session's state at the end. */
static int sync_piece(th_server *s, fds_replica *r, const char *token,
                      run *out, double budget_ms)
{
    rw_conn c;
    assert_int_equal(rw_connect(&c, s->port, s->ca, 0), 0);
    assert_int_equal(rw_upgrade(&c, token, FDSP_SUBPROTOCOL), 101);
    fds_session *ss = NULL;
    double t0 = now_ms();
    CALLGRIND_TOGGLE_COLLECT;
    assert_int_equal(fds_session_new(r, &ss), FDS_OK);
    CALLGRIND_TOGGLE_COLLECT;
    int state;
    for (;;) {
        char *buf;
        size_t len;
        int rc;
        for (;;) {
            CALLGRIND_TOGGLE_COLLECT;
            rc = fds_session_next(ss, &buf, &len);
            CALLGRIND_TOGGLE_COLLECT;
            if (rc != FDS_OK)
                break;
            dir_add(&out->up, buf, len);
            assert_int_equal(rw_send(&c, buf), 0);
            free(buf);
        }
        assert_int_equal(rc, FDS_DONE);
        state = fds_session_state(ss);
        if (state == FDS_SESSION_IDLE || state == FDS_SESSION_FAILED)
            break;
        if (budget_ms > 0 && now_ms() - t0 >= budget_ms)
            break;
        int op = rw_recv(&c, &buf, &len);
        assert_int_equal(op, 1);
        dir_add(&out->down, buf, len);
        double f0 = now_ms();
        CALLGRIND_TOGGLE_COLLECT;
        rc = fds_session_feed(ss, buf, len);
        CALLGRIND_TOGGLE_COLLECT;
        double step = now_ms() - f0;
        if (step > out->max_step_ms)
            out->max_step_ms = step;
        free(buf);
        if (rc != FDS_OK)
            fprintf(stderr, "feed: %s\n", fds_session_errmsg(ss));
        assert_int_equal(rc, FDS_OK);
    }
    fds_session_stats st;
    fds_session_stats_get(ss, &st);
    out->st.pushed += st.pushed;
    out->st.pulled += st.pulled;
    out->ms += now_ms() - t0;
    fds_session_free(ss);
    rw_close(&c);
    out->state = state;
    return state;
}

static long long file_bytes(const char *path)
{
    struct stat sb;
    long long n = 0;
    char p[700];
    const char *sfx[] = { "", "-wal", NULL };
    for (int i = 0; sfx[i]; i++) {
        snprintf(p, sizeof p, "%s%s", path, sfx[i]);
        if (stat(p, &sb) == 0)
            n += (long long)sb.st_size;
    }
    return n;
}

static void replica_breakdown(const char *path, long long records);

static void print_run(const char *what, const run *x, long long records)
{
    printf("%-22s %7lld records %8.0f ms  up %6lld msgs %10lld B (%6.1f B/rec, deflated %6.1f)"
           "  down %6lld msgs %11lld B (%6.1f B/rec, deflated %6.1f)  longest apply %.1f ms\n",
           what, records, x->ms, x->up.msgs, x->up.raw, (double)x->up.raw / records,
           (double)x->up.deflated / records, x->down.msgs, x->down.raw,
           (double)x->down.raw / records, (double)x->down.deflated / records,
           x->max_step_ms);
}

static long long count_records(fds_replica *r)
{
    json_t *list = NULL;
    fds_query q = { 0 };
    assert_int_equal(fds_customer_list(r, &q, &list), FDS_OK);
    long long n = 0;
    size_t i;
    json_t *c;
    json_array_foreach(list, i, c) {
        json_t *sheet = NULL;
        assert_int_equal(fds_customer_sheet(r, json_string_value(json_object_get(c, "id")),
                                            &sheet), FDS_OK);
        n += 1 + (long long)json_array_size(json_object_get(sheet, "followups"));
        json_decref(sheet);
    }
    json_decref(list);
    return n;
}

static void followup(fds_replica *r, const char *cid, int i)
{
    char text[160];
    snprintf(text, sizeof text, "第%d次回访：客户询问报价，约下周再谈 (follow-up %d)", i, i);
    json_t *in = json_pack("{ssss}", "method", "phone", "content", text);
    assert_int_equal(fds_followup_add(r, cid, in, NULL), FDS_OK);
    json_decref(in);
}

static void phone_limits(void **state)
{
    th_server *s = *state;
    th_init(s);
    th_start(s, NULL);

    /* The team's records, written by one device and pushed. */
    int customers = n_records / 6 > 0 ? n_records / 6 : 1;
    fds_replica *team = th_replica(s, "team");
    char **ids = calloc((size_t)customers, sizeof *ids);
    assert_non_null(ids);
    double t0 = now_ms();
    assert_int_equal(fds_begin(team), FDS_OK);
    for (int i = 0; i < customers; i++) {
        char name[64], phone[32];
        snprintf(name, sizeof name, "客户 %05d 上海贸易有限公司", i);
        snprintf(phone, sizeof phone, "+86 138 %04d %04d", i / 10000, i % 10000);
        json_t *in = json_pack("{ssssss}", "name", name, "phone", phone,
                               "company", "上海贸易有限公司"), *out = NULL;
        assert_int_equal(fds_customer_add(team, in, &out, NULL), FDS_OK);
        ids[i] = strdup(json_string_value(json_object_get(out, "id")));
        json_decref(in);
        json_decref(out);
        for (int k = 0; k < 5; k++)
            followup(team, ids[i], k);
        if (i % 500 == 499) {
            assert_int_equal(fds_commit(team), FDS_OK);
            assert_int_equal(fds_begin(team), FDS_OK);
        }
    }
    assert_int_equal(fds_commit(team), FDS_OK);
    assert_int_equal(th_sync(s, team, s->admin, NULL), 0);
    long long records = (long long)customers * 6;
    printf("machine: seeded %lld records (%d customers x (1 + 5 follow-ups)) in %.1f s\n",
           records, customers, (now_ms() - t0) / 1e3);

    /* 1. First sync, one piece. */
    char path[600];
    snprintf(path, sizeof path, "%s/phone.db", s->dir);
    /* In a child process, so its peak RSS is the first sync's alone (not
    ** the team device's writes above); it hands its figures back. */
    run first;
    memset(&first, 0, sizeof first);
    long long mem[3] = { 0, 0, 0 };     /* RSS before, peak RSS, SQLite peak */
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t kid = th_fork(s);
    if (kid == 0) {
        /* A fresh process (exec), so its RSS is the first sync's alone. */
        char port[16], fd[16];
        snprintf(port, sizeof port, "%d", s->port);
        snprintf(fd, sizeof fd, "%d", pfd[1]);
        close(pfd[0]);
        execl(self_path, "bench_phone", "-F", path, port, s->ca,
              s->admin, fd, (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    assert_int_equal(read(pfd[0], &first, sizeof first), (ssize_t)sizeof first);
    assert_int_equal(read(pfd[0], mem, sizeof mem), (ssize_t)sizeof mem);
    close(pfd[0]);
    assert_int_equal(th_reap(s, kid, 3600000), 0);
    long long replica_bytes = file_bytes(path);     /* closed: WAL folded in */
    replica_breakdown(path, records);
    fds_replica *ph = th_replica(s, "phone");
    assert_int_equal(count_records(ph), records);
    print_run("first sync", &first, records);
    printf("first sync: %lld changes pulled, replica %lld bytes = %.0f B/record; "
           "SQLite memory high-water %.1f MiB; process RSS %.1f MiB before the "
           "sync, peak %.1f MiB\n",
           (long long)first.st.pulled, replica_bytes,
           (double)replica_bytes / records, (double)mem[2] / 1048576.0,
           mem[0] / 1024.0, mem[1] / 1024.0);

    /* 2. A day: the phone logs follow-ups and edits; the team too. */
    int per_side = day_changes / 2;
    int fu = per_side * 3 / 4 / 5 > 0 ? per_side * 3 / 4 / 5 : 1; /* 5 changes each */
    int day_records = 0;
    for (int i = 0; i < fu; i++) {
        followup(ph, ids[i], 100 + i);
        followup(team, ids[customers - 1 - i], 200 + i);
        day_records += 2;
    }
    int edits = (per_side - fu * 5) / 2 > 0 ? (per_side - fu * 5) / 2 : 1; /* 2 each */
    for (int i = 0; i < edits; i++) {
        json_t *e = json_pack("{ss}", "notes", "预算已批准 budget approved");
        assert_int_equal(fds_customer_edit(ph, ids[fu + i], e, NULL), FDS_OK);
        assert_int_equal(fds_customer_edit(team, ids[customers - 1 - fu - i], e, NULL), FDS_OK);
        json_decref(e);
        day_records += 2;
    }
    assert_int_equal(th_sync(s, team, s->admin, NULL), 0);
    run day;
    memset(&day, 0, sizeof day);
    dir_init(&day.up);
    dir_init(&day.down);
    CALLGRIND_START_INSTRUMENTATION;
    assert_int_equal(sync_piece(s, ph, s->admin, &day, 0), FDS_SESSION_IDLE);
    CALLGRIND_DUMP_STATS_AT("day-sync");
    CALLGRIND_STOP_INSTRUMENTATION;
    print_run("day sync", &day, day_records);
    printf("day sync: %d records touched (%d follow-ups, %d edits each side), "
           "%lld changes pushed, %lld pulled\n", day_records, fu, edits,
           (long long)day.st.pushed, (long long)day.st.pulled);
    dir_end(&day.up);
    dir_end(&day.down);

    /* 3. First sync in pieces of about piece_ms of work. */
    fds_replica *p2 = th_replica(s, "pieces");
    run all;
    memset(&all, 0, sizeof all);
    dir_init(&all.up);
    dir_init(&all.down);
    int pieces = 0;
    double longest = 0;
    for (;;) {
        run one;
        memset(&one, 0, sizeof one);
        one.up = all.up;
        one.down = all.down;
        int st = sync_piece(s, p2, s->admin, &one, piece_ms);
        all.up = one.up;
        all.down = one.down;
        all.st.pulled += one.st.pulled;
        all.ms += one.ms;
        if (one.max_step_ms > all.max_step_ms)
            all.max_step_ms = one.max_step_ms;
        if (one.ms > longest)
            longest = one.ms;
        pieces++;
        assert_true(pieces < 10000);
        if (st == FDS_SESSION_IDLE)
            break;
        assert_int_not_equal(st, FDS_SESSION_FAILED);
    }
    assert_int_equal(count_records(p2), records + 2 * fu);   /* + the day's follow-ups */
    printf("pieces of %d ms: %d pieces, longest %.0f ms, total %.0f ms (one piece: %.0f ms); "
           "%lld changes pulled (one piece: %lld, so %lld pulled twice); every record there\n",
           piece_ms, pieces, longest, all.ms, first.ms, (long long)all.st.pulled,
           (long long)(first.st.pulled + day.st.pushed + day.st.pulled),
           (long long)(all.st.pulled - first.st.pulled - day.st.pushed - day.st.pulled));
    dir_end(&all.up);
    dir_end(&all.down);

    for (int i = 0; i < customers; i++)
        free(ids[i]);
    free(ids);
    fds_replica_close(ph);
    fds_replica_close(p2);
    fds_replica_close(team);
}

/* -F REPLICA PORT CA TOKEN FD: the first sync alone, in this fresh
** process; the figures go to FD as binary (run, then mem[3]). */
static const char *f_args[5];
static int f_fd = -1;

static void first_sync_child(void **state)
{
    (void)state;
    th_server s;
    memset(&s, 0, sizeof s);
    s.port = atoi(f_args[1]);
    snprintf(s.ca, sizeof s.ca, "%s", f_args[2]);
    run first;
    memset(&first, 0, sizeof first);
    long long mem[3] = { 0, 0, 0 };     /* RSS before, peak RSS, SQLite peak */
    fds_replica *ph = NULL;
    char err[256];
    assert_int_equal(fds_replica_open(f_args[0], NULL, &ph, err, sizeof err), FDS_OK);
    dir_init(&first.up);
    dir_init(&first.down);
    sqlite3_memory_highwater(1);
    mem[0] = rss_kib();
    CALLGRIND_START_INSTRUMENTATION;
    int st = sync_piece(&s, ph, f_args[3], &first, 0);
    mem[1] = hwm_kib();
    mem[2] = sqlite3_memory_highwater(0);
    struct mallinfo2 mi = mallinfo2();
    fprintf(stderr, "first-sync child: heap in use %.1f MiB, heap arena %.1f MiB, mmapped %.1f MiB, RSS now %.1f MiB\n",
            mi.uordblks / 1048576.0, mi.arena / 1048576.0, mi.hblkhd / 1048576.0, rss_kib() / 1024.0);
    CALLGRIND_DUMP_STATS_AT("first-sync");
    fds_replica_close(ph);
    dir_end(&first.up);
    dir_end(&first.down);
    assert_int_equal(st, FDS_SESSION_IDLE);
    assert_int_equal(write(f_fd, &first, sizeof first), (ssize_t)sizeof first);
    assert_int_equal(write(f_fd, mem, sizeof mem), (ssize_t)sizeof mem);
}

/* Where the replica's bytes are: pages per table and index (dbstat). */
static void replica_breakdown(const char *path, long long records)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT name, SUM(pgsize), SUM(payload) FROM dbstat "
                               "GROUP BY name ORDER BY 2 DESC", -1, &st, NULL) != SQLITE_OK) {
        printf("replica breakdown: dbstat not available (%s)\n", sqlite3_errmsg(db));
        sqlite3_close(db);
        return;
    }
    printf("replica breakdown (table/index: bytes per record, of which payload):");
    while (sqlite3_step(st) == SQLITE_ROW)
        printf(" %s %.0f (%.0f)", (const char *)sqlite3_column_text(st, 0),
               (double)sqlite3_column_int64(st, 1) / records,
               (double)sqlite3_column_int64(st, 2) / records);
    printf("\n");
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static int setup(void **state)
{
    th_server *s = calloc(1, sizeof *s);
    *state = s;
    return s ? 0 : -1;
}

static int teardown(void **state)
{
    th_cleanup(*state);
    free(*state);
    return 0;
}

int main(int argc, char **argv)
{
    int opt;
    if (!realpath(argv[0], self_path))
        snprintf(self_path, sizeof self_path, "%s", argv[0]);
    while ((opt = getopt(argc, argv, "n:p:d:F")) != -1) {
        switch (opt) {
        case 'F':
            if (argc - optind != 5)
                return 2;
            for (int i = 0; i < 5; i++)
                f_args[i] = argv[optind + i];
            f_fd = atoi(argv[optind + 4]);
            {
                const struct CMUnitTest child[] = { cmocka_unit_test(first_sync_child) };
                return cmocka_run_group_tests(child, NULL, NULL);
            }
        case 'n': n_records = atoi(optarg); break;
        case 'p': piece_ms = atoi(optarg); break;
        case 'd': day_changes = atoi(optarg); break;
        default:
            fprintf(stderr, "usage: bench_phone [-n RECORDS] [-p PIECE_MS] [-d DAY_CHANGES]\n");
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(phone_limits, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
