/*
** test_pg_serve.c — two `fieldsync-server serve` processes on one
** PostgreSQL store (issue 12).  Two reps push batches at once, each
** through its own process, while a third device (the admin) pulls in a
** loop through one of them; afterwards every replica equals the store:
** the puller holds every customer with the store's values (a pull that
** had been handed seq N+1 while N was still uncommitted would have
** stored a cursor past N and never get it), each rep holds its own.  A
** concurrent edit of one field through the two processes is one conflict
** on every replica.  A `sync --watch` device on one process gets a
** change pushed through the other without syncing again.
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

#include "harness.h"
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

/* Fan-out across processes: a `sync --watch` device on process b gets a
** change pushed through process a without syncing again (b's
** once-a-second store check sends it a notify, and it pulls). */
static void test_watch_across(void **state)
{
    th_server *a = *state;
    char db[64], url[256], alice[80];
    assert_int_equal(ts_pg_create_db(&g_pg, "watch", db, sizeof db), 0);
    ts_pg_url(&g_pg, db, url, sizeof url);
    th_init_store(a, url);
    th_user(a, "alice", "rep", "east", alice);
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
    char *id = th_customer(ra, "cross-process");
    free(id);
    long long t0 = th_ms();
    assert_int_equal(th_sync(a, ra, alice, NULL), 0);
    /* Bounded wait (not a timing assertion): it must arrive. */
    int found = 0;
    while (!found && th_ms() - t0 < 30000) {
        found = replica_has(a, "watcher", "cross-process");
        if (!found)
            usleep(50 * 1000);
    }
    print_message("arrived on the other process's watcher after %lld ms\n",
                  th_ms() - t0);
    assert_true(found);
    fds_replica_close(ra);
    th_reap(a, watch, 10);  /* kills the watcher */
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
    };
    return cmocka_run_group_tests_name("postgresql: two serve processes",
                                       tests, group_setup, group_teardown);
}
