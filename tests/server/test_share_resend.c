/*
** test_share_resend.c — a share or an assignment sends a customer's full
** state only to the devices that newly see it (issue 11).  A manager of
** team north, reps ra and rc in north and rb in south: ra shares her
** customers with rb.  rb's device gets every customer in full; ra's own
** device and the manager's get only the share records themselves (they
** had the history all along: a full resend to them was ~50,000 wasted
** changes for 100 customers and two reps).  Then the manager assigns one
** customer to rc: rc gets it in full, the manager (who saw it through ra)
** and rb (shared) get only the owner change.
*/
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "harness.h"

#define CUSTOMERS 12
#define FOLLOWUPS 3

static long long sync_pulled(th_server *s, fds_replica *r, const char *tok)
{
    fds_session_stats st;
    assert_int_equal(th_sync(s, r, tok, &st), 0);
    return st.pulled;
}

static long long sync_pushed(th_server *s, fds_replica *r, const char *tok,
                             long long *pulled)
{
    fds_session_stats st;
    assert_int_equal(th_sync(s, r, tok, &st), 0);
    if (pulled)
        *pulled = st.pulled;
    return st.pushed;
}

/* Customers and follow-ups of a replica: (customers, follow-ups). */
static void count(fds_replica *r, char **ids, int n, int *cust, int *fu)
{
    *cust = *fu = 0;
    for (int i = 0; i < n; i++) {
        json_t *sheet = NULL;
        if (fds_customer_sheet(r, ids[i], &sheet) != FDS_OK)
            continue;
        (*cust)++;
        *fu += (int)json_array_size(json_object_get(sheet, "followups"));
        json_decref(sheet);
    }
}

static void test_share_resends_only_to_new_viewers(void **state)
{
    th_server *s = *state;
    char mgr[80], ra[80], rb[80], rc[80];
    th_init(s);
    th_user(s, "boss", "manager", "north", mgr);
    th_user(s, "ra", "rep", "north", ra);
    th_user(s, "rb", "rep", "south", rb);
    th_user(s, "rc", "rep", "north", rc);
    th_start(s, NULL);

    fds_replica *a = th_replica(s, "ra"), *m = th_replica(s, "boss"),
                *b = th_replica(s, "rb"), *c = th_replica(s, "rc");
    /* Every device has synced once: their cursors are past 0, so a
    ** customer they come to see must be sent in full. */
    sync_pulled(s, a, ra);
    sync_pulled(s, m, mgr);
    sync_pulled(s, b, rb);
    sync_pulled(s, c, rc);

    char *ids[CUSTOMERS];
    for (int i = 0; i < CUSTOMERS; i++) {
        char name[32];
        snprintf(name, sizeof name, "客户 %02d", i);
        ids[i] = th_customer(a, name);
        for (int k = 0; k < FOLLOWUPS; k++) {
            json_t *in = json_pack("{s:s, s:s}", "method", "上门拜访",
                                   "content", "看仓库"), *out = NULL;
            assert_int_equal(fds_followup_add(a, ids[i], in, &out), FDS_OK);
            json_decref(in);
            json_decref(out);
        }
    }
    long long written = sync_pushed(s, a, ra, NULL);
    assert_int_equal(sync_pulled(s, m, mgr), written);  /* north's manager */
    assert_int_equal(sync_pulled(s, b, rb), 0);         /* south sees none */
    assert_int_equal(sync_pulled(s, c, rc), 0);

    /* ra shares every customer with rb. */
    for (int i = 0; i < CUSTOMERS; i++)
        assert_int_equal(fds_customer_share(a, ids[i], "rb", 1), FDS_OK);
    long long pulled = -1;
    long long shares = sync_pushed(s, a, ra, &pulled);
    assert_true(shares >= CUSTOMERS);
    assert_int_equal(pulled, 0);                        /* nothing back to ra */
    assert_int_equal(sync_pulled(s, a, ra), 0);         /* nor on a later sync */
    assert_int_equal(sync_pulled(s, m, mgr), shares);   /* the shares only */
    /* rb gets everything: each customer with its follow-ups, and the
    ** share records (in the full state, and again from the history). */
    assert_true(sync_pulled(s, b, rb) >= written + shares);
    int nc = 0, nf = 0;
    count(b, ids, CUSTOMERS, &nc, &nf);
    assert_int_equal(nc, CUSTOMERS);
    assert_int_equal(nf, CUSTOMERS * FOLLOWUPS);
    assert_int_equal(sync_pulled(s, c, rc), 0);         /* rc still sees none */

    /* The manager assigns customer 0 to rc (same team): rc gets it in
    ** full; the manager, who saw it through ra, gets nothing back, and rb,
    ** who has it shared, only the owner change. */
    assert_int_equal(fds_customer_assign(m, ids[0], "rc"), FDS_OK);
    long long assigned = sync_pushed(s, m, mgr, &pulled);
    assert_true(assigned >= 1);
    assert_int_equal(pulled, 0);
    assert_int_equal(sync_pulled(s, m, mgr), 0);
    assert_int_equal(sync_pulled(s, b, rb), assigned);
    long long got = sync_pulled(s, c, rc);
    assert_true(got > FOLLOWUPS);
    count(c, ids, CUSTOMERS, &nc, &nf);
    assert_int_equal(nc, 1);
    assert_int_equal(nf, FOLLOWUPS);

    for (int i = 0; i < CUSTOMERS; i++)
        free(ids[i]);
    fds_replica_close(a);
    fds_replica_close(m);
    fds_replica_close(b);
    fds_replica_close(c);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_share_resends_only_to_new_viewers,
                                        th_test_setup, th_test_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
