/*
** test_pg_serve.c — two `fieldsync-server serve` processes on one
** PostgreSQL store (issue 12).  Two reps push batches at once, each
** through its own process, while a third device (the admin) pulls in a
** loop through one of them; afterwards every replica equals the store:
** the puller holds every customer with the store's values (a pull that
** had been handed seq N+1 while N was still uncommitted would have
** stored a cursor past N and never get it), each rep holds its own.  A
** concurrent edit of one field through the two processes is one conflict
** on every replica.  A `sync --watch` device on one process gets
** changes pushed through the other without syncing again, by the
** store's NOTIFY.  `kill -9` of a process mid-push loses nothing acked,
** doubles nothing, and the other process keeps serving.
*/
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "harness.h"
#include "http_client.h"
#include "pgcluster.h"
#include "store.h"

#define ROUNDS 8
#define PER_ROUND 4

static ts_pg g_pg;

/* A rep's device in a th_fork child: ROUNDS times, add PER_ROUND
** customers and sync through server s.  Exit 0, or 10 + sync's code. */
static int rep_child(th_server *s, const char *name, const char *token)
{
    fds_replica *r = th_replica_try(s, name);
    if (!r)
        return 99;
    for (int round = 0; round < ROUNDS; round++) {
        for (int k = 0; k < PER_ROUND; k++) {
            char nm[64];
            snprintf(nm, sizeof nm, "%s-%d-%d", name, round, k);
            json_t *in = json_pack("{s:s}", "name", nm), *out = NULL;
            int rc = fds_customer_add(r, in, &out, NULL);
            json_decref(in);
            json_decref(out);
            if (rc != FDS_OK)
                return 98;
        }
        char err[512] = "";
        int rc = th_sync_err(s, r, token, NULL, err, sizeof err);
        if (rc != 0) {
            fprintf(stderr, "%s: sync %d: %s\n", name, rc, err);
            return 10 + rc;
        }
    }
    fds_replica_close(r);
    return 0;
}

/* Every customer of r has the store's name; their number into *n. */
static void assert_equals_store(fds_replica *r, fsv_store *st, size_t *n)
{
    fds_query q;
    memset(&q, 0, sizeof q);
    json_t *list = NULL;
    assert_int_equal(fds_customer_list(r, &q, &list), FDS_OK);
    size_t i;
    json_t *c;
    json_array_foreach(list, i, c) {
        const char *id = json_string_value(json_object_get(c, "id"));
        const char *name = json_string_value(json_object_get(c, "name"));
        char *v = NULL;
        assert_int_equal(fsv_store_field_value(st, "customer", id, "name", &v),
                         FSV_OK);
        assert_string_equal(v, name);
        free(v);
    }
    *n = json_array_size(list);
    json_decref(list);
}

static void test_two_servers(void **state)
{
    th_server *a = *state;
    char db[64], url[256], alice[80], bob[80];
    assert_int_equal(ts_pg_create_db(&g_pg, "serve", db, sizeof db), 0);
    ts_pg_url(&g_pg, db, url, sizeof url);
    th_init_store(a, url);
    th_user(a, "alice", "rep", "east", alice);
    th_user(a, "bob", "rep", "east", bob);
    th_start(a, NULL);
    /* The second process: same certificates and store, its own port. */
    th_server b = *a;
    b.port = 0;
    b.pid = 0;
    memset(b.children, 0, sizeof b.children);
    th_start(&b, NULL);

    pid_t wa = th_fork(a);
    if (wa == 0)
        _exit(rep_child(a, "alice", alice));
    pid_t wb = th_fork(a);
    if (wb == 0)
        _exit(rep_child(&b, "bob", bob));

    /* The office device pulls through b while both push. */
    fds_replica *office = th_replica(a, "office");
    int running = 2, pulls = 0, sa = -1, sb = -1;
    while (running) {
        int done_before = 0, st;
        if (sa < 0 && waitpid(wa, &st, WNOHANG) == wa) {
            sa = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
            done_before++;
        }
        if (sb < 0 && waitpid(wb, &st, WNOHANG) == wb) {
            sb = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
            done_before++;
        }
        running -= done_before;
        assert_int_equal(th_sync(&b, office, a->admin, NULL), 0);
        pulls++;
    }
    th_reap(a, wa, 10);     /* forget them (already reaped) */
    th_reap(a, wb, 10);
    assert_int_equal(sa, 0);
    assert_int_equal(sb, 0);
    /* One more pull, after both had finished before it began. */
    assert_int_equal(th_sync(&b, office, a->admin, NULL), 0);

    char err[256];
    fsv_store *st = NULL;
    assert_int_equal(fsv_store_open(url, 0, &st, err, sizeof err), FSV_OK);
    size_t n_office = 0, n_alice = 0, n_bob = 0;
    assert_equals_store(office, st, &n_office);
    assert_int_equal(n_office, 2 * ROUNDS * PER_ROUND);
    fds_replica *ra = th_replica(a, "alice"), *rb = th_replica(a, "bob");
    assert_int_equal(th_sync(a, ra, alice, NULL), 0);
    assert_int_equal(th_sync(&b, rb, bob, NULL), 0);
    assert_equals_store(ra, st, &n_alice);
    assert_equals_store(rb, st, &n_bob);
    assert_int_equal(n_alice, ROUNDS * PER_ROUND);  /* reps: their own */
    assert_int_equal(n_bob, ROUNDS * PER_ROUND);
    print_message("%d pulls while two processes took %d pushes\n", pulls,
                  2 * ROUNDS);

    /* A concurrent edit through the two processes: one conflict on
    ** every replica.  The admin's second device edits alice's first
    ** customer's phone through b while alice edits it through a. */
    fds_query q;
    memset(&q, 0, sizeof q);
    json_t *list = NULL;
    assert_int_equal(fds_customer_list(ra, &q, &list), FDS_OK);
    const char *id = json_string_value(json_object_get(json_array_get(list, 0),
                                                       "id"));
    char *cid = strdup(id);
    json_decref(list);
    fds_replica *o2 = th_replica(a, "office2");
    assert_int_equal(th_sync(&b, o2, a->admin, NULL), 0);
    json_t *e1 = json_pack("{s:s}", "phone", "111"), *e2 = json_pack("{s:s}",
                                                                     "phone",
                                                                     "222");
    assert_int_equal(fds_customer_edit(ra, cid, e1, NULL), FDS_OK);
    assert_int_equal(fds_customer_edit(o2, cid, e2, NULL), FDS_OK);
    json_decref(e1);
    json_decref(e2);
    assert_int_equal(th_sync(a, ra, alice, NULL), 0);
    assert_int_equal(th_sync(&b, o2, a->admin, NULL), 0);
    assert_int_equal(th_sync(a, ra, alice, NULL), 0);
    assert_int_equal(th_sync(&b, office, a->admin, NULL), 0);
    fds_replica *reps[] = {ra, o2, office};
    char *phone0 = NULL;
    for (int i = 0; i < 3; i++) {
        json_t *cf = NULL;
        assert_int_equal(fds_conflicts(reps[i], &cf), FDS_OK);
        assert_int_equal(json_array_size(cf), 1);
        json_decref(cf);
        char *ph = th_field(reps[i], cid, "phone");
        if (!phone0)
            phone0 = ph;
        else {
            assert_string_equal(ph, phone0);    /* the same winner */
            free(ph);
        }
    }
    char *v = NULL;
    assert_int_equal(fsv_store_field_value(st, "customer", cid, "phone", &v),
                     FSV_OK);
    assert_string_equal(v, phone0);
    free(v);
    free(phone0);
    free(cid);
    fsv_store_close(st);
    fds_replica_close(ra);
    fds_replica_close(rb);
    fds_replica_close(o2);
    fds_replica_close(office);
    th_stop(&b, SIGTERM);
}

/* 1 if replica file dir/NAME.db holds a customer named name. */
static int replica_has(th_server *s, const char *file, const char *name)
{
    fds_replica *r = th_replica_try(s, file);
    if (!r)
        return 0;
    fds_query q;
    memset(&q, 0, sizeof q);
    q.search = name;
    json_t *list = NULL;
    int found = fds_customer_list(r, &q, &list) == FDS_OK &&
                json_array_size(list) > 0;
    json_decref(list);
    fds_replica_close(r);
    return found;
}

/* A metrics token (the servers share --data, so both accept it). */
static void metrics_token(th_server *s, char *tok, size_t cap)
{
    char out[1024];
    assert_int_equal(th_admin(s, out, sizeof out, "token", "metrics", "--json",
                              NULL), 0);
    json_t *j = json_loads(out, 0, NULL);
    assert_non_null(j);
    snprintf(tok, cap, "%s", json_string_value(json_object_get(j, "token")));
    json_decref(j);
}

/* The counter `name` from s's GET /metrics. */
static double metric(th_server *s, const char *tok, const char *name)
{
    char hdr[200], k[128];
    snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\n", tok);
    ta_resp r = ta_request(s->port, s->ca, "GET", "/metrics", hdr, NULL);
    assert_int_equal(r.status, 200);
    snprintf(k, sizeof k, "\n%s ", name);
    const char *p = strstr(r.body, k);
    assert_non_null(p);
    double v = strtod(p + strlen(k), NULL);
    ta_resp_free(&r);
    return v;
}

static int cmp_ll(const void *x, const void *y)
{
    long long a = *(const long long *)x, b = *(const long long *)y;
    return (a > b) - (a < b);
}

#define WATCH_CHANGES 20

/* Fan-out across processes: a `sync --watch` device on process b gets
** changes pushed through process a without syncing again.  Each commit
** NOTIFYs; b's LISTEN socket is in its event loop, so b sends the
** watcher a notify at once rather than at its once-a-second store check.
** The assertion is on the path taken (b's counter of heads learned by a
** notification), not on time; the times are printed (docs/BENCHMARKS.md). */
static void test_watch_across(void **state)
{
    th_server *a = *state;
    char db[64], url[256], alice[80], mtok[80];
    assert_int_equal(ts_pg_create_db(&g_pg, "watch", db, sizeof db), 0);
    ts_pg_url(&g_pg, db, url, sizeof url);
    th_init_store(a, url);
    th_user(a, "alice", "rep", "east", alice);
    metrics_token(a, mtok, sizeof mtok);
    th_start(a, NULL);
    th_server b = *a;
    b.port = 0;
    b.pid = 0;
    memset(b.children, 0, sizeof b.children);
    th_start(&b, NULL);
    /* The watcher's first sync, then it waits on b. */
    fds_replica *w = th_replica(a, "watcher");
    assert_int_equal(th_sync(&b, w, a->admin, NULL), 0);
    fds_replica_close(w);
    pid_t watch = th_sync_child(&b, "watcher", a->admin, 1);
    fds_replica *ra = th_replica(a, "alice");
    double before = metric(&b, mtok, "fieldsync_remote_heads_notified_total");
    long long ms[WATCH_CHANGES];
    for (int i = 0; i < WATCH_CHANGES; i++) {
        char name[64];
        snprintf(name, sizeof name, "cross-process-%d", i);
        char *id = th_customer(ra, name);
        free(id);
        long long t0 = th_ms();
        assert_int_equal(th_sync(a, ra, alice, NULL), 0);
        /* Bounded wait (not a timing assertion): it must arrive. */
        int found = 0;
        while (!found && th_ms() - t0 < 30000) {
            found = replica_has(a, "watcher", name);
            if (!found)
                usleep(5 * 1000);
        }
        assert_true(found);
        ms[i] = th_ms() - t0;
    }
    qsort(ms, WATCH_CHANGES, sizeof ms[0], cmp_ll);
    print_message("push through a to the watcher on b: median %lld ms, "
                  "min %lld, max %lld over %d changes\n",
                  ms[WATCH_CHANGES / 2], ms[0], ms[WATCH_CHANGES - 1],
                  WATCH_CHANGES);
    double learned = metric(&b, mtok, "fieldsync_remote_heads_notified_total") -
                     before;
    print_message("b learned %.0f heads by NOTIFY\n", learned);
    /* Every change was its own commit, waited for before the next: b
    ** learned (nearly) each by a notification.  Its once-a-second tick
    ** may get one first, hence not == WATCH_CHANGES. */
    assert_true(learned >= WATCH_CHANGES / 2);
    fds_replica_close(ra);
    th_reap(a, watch, 10);  /* kills the watcher */
    th_stop(&b, SIGTERM);
}

/* The number of backends of db whose last statement was the store's
** LISTEN (the serve processes' notification connections); with kill
** set, those are terminated first (pg_terminate_backend) and 0 returned. */
static int listeners(const char *url, const char *db, int kill)
{
    PGconn *c = PQconnectdb(url);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    const char *v[] = {db};
    PGresult *r = PQexecParams(c, kill
        ? "SELECT count(pg_terminate_backend(pid)) * 0 FROM pg_stat_activity"
          " WHERE datname=$1 AND query='LISTEN fieldsync'"
          " AND pid <> pg_backend_pid()"
        : "SELECT count(*) FROM pg_stat_activity WHERE datname=$1"
          " AND query='LISTEN fieldsync' AND pid <> pg_backend_pid()",
        1, NULL, v, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    int n = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(c);
    return n;
}

/* The LISTEN connection lost (its backend terminated, as a PostgreSQL
** restart or a network cut would): the process notices (its socket in
** the event loop reads EOF), its once-a-second tick connects and LISTENs
** again, and commits through the other process still reach a watching
** device on it by notification, not only by the tick. */
static void test_watch_relisten(void **state)
{
    th_server *a = *state;
    char db[64], url[256], alice[80], mtok[80];
    assert_int_equal(ts_pg_create_db(&g_pg, "relisten", db, sizeof db), 0);
    ts_pg_url(&g_pg, db, url, sizeof url);
    th_init_store(a, url);
    th_user(a, "alice", "rep", "east", alice);
    metrics_token(a, mtok, sizeof mtok);
    th_start(a, NULL);
    th_server b = *a;
    b.port = 0;
    b.pid = 0;
    memset(b.children, 0, sizeof b.children);
    th_start(&b, NULL);
    fds_replica *w = th_replica(a, "watcher");
    assert_int_equal(th_sync(&b, w, a->admin, NULL), 0);
    fds_replica_close(w);
    pid_t watch = th_sync_child(&b, "watcher", a->admin, 1);
    /* b listens once it serves the watcher (a may too). */
    long long t0 = th_ms();
    while (listeners(url, db, 0) < 1 && th_ms() - t0 < 30000)
        usleep(20 * 1000);
    int n = listeners(url, db, 0);
    assert_true(n >= 1);
    /* Cut every LISTEN connection; they come back (the tick). */
    listeners(url, db, 1);
    t0 = th_ms();
    while (listeners(url, db, 0) < n && th_ms() - t0 < 30000)
        usleep(20 * 1000);
    assert_true(listeners(url, db, 0) >= n);
    fds_replica *ra = th_replica(a, "alice");
    double before = metric(&b, mtok, "fieldsync_remote_heads_notified_total");
    for (int i = 0; i < WATCH_CHANGES / 2; i++) {
        char name[64];
        snprintf(name, sizeof name, "after-relisten-%d", i);
        free(th_customer(ra, name));
        assert_int_equal(th_sync(a, ra, alice, NULL), 0);
        long long t1 = th_ms();
        int found = 0;
        while (!found && th_ms() - t1 < 30000) {
            found = replica_has(a, "watcher", name);
            if (!found)
                usleep(5 * 1000);
        }
        assert_true(found);
    }
    double learned = metric(&b, mtok, "fieldsync_remote_heads_notified_total") -
                     before;
    print_message("after the LISTEN connections were cut, b learned %.0f of"
                  " %d heads by NOTIFY\n", learned, WATCH_CHANGES / 2);
    /* By notification again (the tick alone would leave this at 0). */
    assert_true(learned >= WATCH_CHANGES / 4);
    fds_replica_close(ra);
    th_reap(a, watch, 10);
    th_stop(&b, SIGTERM);
}

#define BIG_PUSH 3000

/* `kill -9` of process a while a rep pushes a large batch through it:
** nothing acked is lost, nothing is doubled, and process b keeps serving
** (a device on b syncs; the rep's retry through b completes the push). */
static void test_kill_mid_push(void **state)
{
    th_server *a = *state;
    char db[64], url[256], alice[80], err[256];
    assert_int_equal(ts_pg_create_db(&g_pg, "kill", db, sizeof db), 0);
    ts_pg_url(&g_pg, db, url, sizeof url);
    th_init_store(a, url);
    th_user(a, "alice", "rep", "east", alice);
    th_start(a, "--max-batch", "100", NULL);
    th_server b = *a;
    b.port = 0;
    b.pid = 0;
    memset(b.children, 0, sizeof b.children);
    th_start(&b, "--max-batch", "100", NULL);
    fsv_store *st = NULL;
    assert_int_equal(fsv_store_open(url, 0, &st, err, sizeof err), FSV_OK);
    /* The history rows one customer add makes (a clean push through b). */
    fds_replica *ra = th_replica(a, "alice");
    int64_t h0 = 0, h1 = 0, h2 = 0;
    assert_int_equal(th_sync(&b, ra, alice, NULL), 0);
    assert_int_equal(fsv_store_history_count(st, &h0), FSV_OK);
    free(th_customer(ra, "probe"));
    assert_int_equal(th_sync(&b, ra, alice, NULL), 0);
    assert_int_equal(fsv_store_history_count(st, &h1), FSV_OK);
    print_message("one customer add: %lld history rows\n", (long long)(h1 - h0));
    assert_true(h1 > h0);
    for (int i = 0; i < BIG_PUSH; i++) {
        char name[64];
        snprintf(name, sizeof name, "big-%d", i);
        free(th_customer(ra, name));
    }
    fds_replica_close(ra);
    int64_t head0 = 0, head = 0;
    assert_int_equal(fsv_store_head(st, &head0), FSV_OK);
    pid_t rep = th_sync_child(a, "alice", alice, 0);
    /* Kill a once some batches committed and before all did. */
    long long t0 = th_ms();
    while (th_ms() - t0 < 60000) {
        assert_int_equal(fsv_store_head(st, &head), FSV_OK);
        if (head > head0)
            break;
        usleep(1000);
    }
    th_stop(a, SIGKILL);
    assert_int_equal(fsv_store_head(st, &head), FSV_OK);
    print_message("killed a after %lld of %lld history rows\n",
                  (long long)(head - head0), (long long)((h1 - h0) * BIG_PUSH));
    int rc = th_reap(a, rep, 30000);
    print_message("the rep's sync through a ended with %d\n", rc);
    /* b keeps serving: the admin's device syncs through it. */
    fds_replica *office = th_replica(a, "office");
    assert_int_equal(th_sync(&b, office, a->admin, NULL), 0);
    /* The rep retries through b. */
    ra = th_replica(a, "alice");
    assert_int_equal(th_sync(&b, ra, alice, NULL), 0);
    assert_int_equal(th_sync(&b, office, a->admin, NULL), 0);
    size_t n_rep = 0, n_office = 0;
    assert_equals_store(ra, st, &n_rep);
    assert_equals_store(office, st, &n_office);
    assert_int_equal(n_rep, BIG_PUSH + 1);
    assert_int_equal(n_office, BIG_PUSH + 1);
    /* Nothing doubled: exactly the history rows of BIG_PUSH adds. */
    assert_int_equal(fsv_store_history_count(st, &h2), FSV_OK);
    print_message("the big push: %lld history rows\n", (long long)(h2 - h1));
    assert_int_equal(h2 - h1, (h1 - h0) * BIG_PUSH);
    fds_query q;
    memset(&q, 0, sizeof q);
    json_t *list = NULL;
    assert_int_equal(fds_customer_list(office, &q, &list), FDS_OK);
    for (int i = 0; i < BIG_PUSH; i++) {
        char name[64];
        snprintf(name, sizeof name, "big-%d", i);
        int seen = 0;
        size_t k;
        json_t *c;
        json_array_foreach(list, k, c)
            seen += strcmp(json_string_value(json_object_get(c, "name")),
                           name) == 0;
        assert_int_equal(seen, 1);
    }
    json_decref(list);
    fsv_store_close(st);
    fds_replica_close(ra);
    fds_replica_close(office);
    th_stop(&b, SIGTERM);
}

static int group_setup(void **state)
{
    (void)state;
    return ts_pg_start(&g_pg);
}

static int group_teardown(void **state)
{
    (void)state;
    ts_pg_stop(&g_pg);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_two_servers, th_test_setup,
                                        th_test_teardown),
        cmocka_unit_test_setup_teardown(test_watch_across, th_test_setup,
                                        th_test_teardown),
        cmocka_unit_test_setup_teardown(test_kill_mid_push, th_test_setup,
                                        th_test_teardown),
        cmocka_unit_test_setup_teardown(test_watch_relisten, th_test_setup,
                                        th_test_teardown),
    };
    return cmocka_run_group_tests_name("postgresql: two serve processes",
                                       tests, group_setup, group_teardown);
}
