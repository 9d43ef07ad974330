/*
** test_vis_decide.c — the visibility rules as pure functions (issue 18):
** facts built by hand, no store, no file, no socket (as core's fds_merge
** tests).  Each test names the rule of sync/visibility.h it checks.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vis_decide.h"
#include "visibility.h"

/* ---- Building facts by hand (arrays kept sorted by key) ------------------------ */

static char *dup(const char *s)
{
    return s ? strdup(s) : NULL;
}

static fsv_user user(const char *name, const char *role, const char *team)
{
    fsv_user u;
    memset(&u, 0, sizeof u);
    strcpy(u.name, name);
    strcpy(u.role, role);
    strcpy(u.team, team);
    return u;
}

/* Customers must be added in id order, users in name order, records in
** (tbl, rid) order. */
static fsv_vis_cust *add_cust(fsv_vis_facts *f, const char *id,
                              const char *creator, const char *owner)
{
    f->custs = realloc(f->custs, (f->n_custs + 1) * sizeof *f->custs);
    fsv_vis_cust *c = &f->custs[f->n_custs++];
    memset(c, 0, sizeof *c);
    c->id = dup(id);
    c->known = creator != NULL;
    c->creator = dup(creator);
    c->owner = dup(owner);
    c->first_vis = -1;
    c->shares_loaded = 1;
    return c;
}

static void share(fsv_vis_cust *c, const char *user_name)
{
    c->shares = realloc(c->shares, (c->n_shares + 1) * sizeof *c->shares);
    c->shares[c->n_shares++] = dup(user_name);
}

static void add_user(fsv_vis_facts *f, const char *name, const char *team,
                     int disabled)
{
    f->users = realloc(f->users, (f->n_users + 1) * sizeof *f->users);
    fsv_vis_who *w = &f->users[f->n_users++];
    memset(w, 0, sizeof *w);
    strcpy(w->name, name);
    strcpy(w->team, team);
    w->known = 1;
    w->disabled = disabled;
}

static void add_rec(fsv_vis_facts *f, const char *tbl, const char *rid,
                    const char *customer, const char *creator, int nfields,
                    const char *field, int has)
{
    f->recs = realloc(f->recs, (f->n_recs + 1) * sizeof *f->recs);
    fsv_vis_rec *r = &f->recs[f->n_recs++];
    memset(r, 0, sizeof *r);
    r->tbl = dup(tbl);
    r->rid = dup(rid);
    r->known = creator != NULL;
    r->customer = dup(customer);
    r->creator = dup(creator);
    r->nfields = nfields;
    f->fields = realloc(f->fields, (f->n_fields + 1) * sizeof *f->fields);
    fsv_vis_field *fl = &f->fields[f->n_fields++];
    fl->rec = f->n_recs - 1;
    fl->field = dup(field);
    fl->has = has;
}

static fdsp_change change(const char *tbl, const char *rid, const char *field,
                          const char *value)
{
    fdsp_change c;
    memset(&c, 0, sizeof c);
    c.table = (char *)tbl;
    c.record = (char *)rid;
    c.field = (char *)field;
    c.value = (char *)value;
    return c;
}

/* Teams: east > east-1; west.  Customers: c1 alice's (east-1), c2 bob's
** (west) shared with alice, c3 in east's pool, c4 claimed from east's pool
** by bob. */
static void world(fsv_vis_facts *f)
{
    memset(f, 0, sizeof *f);
    f->teams = fsv_teams_new();
    assert_non_null(f->teams);
    assert_int_equal(fsv_teams_put(f->teams, "east", ""), 0);
    assert_int_equal(fsv_teams_put(f->teams, "east-1", "east"), 0);
    assert_int_equal(fsv_teams_put(f->teams, "west", ""), 0);
    add_cust(f, "c1", "alice", "");
    fsv_vis_cust *c2 = add_cust(f, "c2", "bob", "bob");
    share(c2, "alice");
    fsv_vis_cust *c3 = add_cust(f, "c3", "carl", "");
    c3->pooled = 1;
    c3->has_pool = 1;
    strcpy(c3->pool.team, "east");
    c3->pool.in_pool = 1;
    fsv_vis_cust *c4 = add_cust(f, "c4", "carl", "bob");
    c4->has_pool = 1;
    strcpy(c4->pool.team, "east");
    strcpy(c4->pool.claimed_by, "bob");
    c4->name = dup("Four Ltd");
    add_user(f, "alice", "east-1", 0);
    add_user(f, "bob", "west", 0);
    add_user(f, "carl", "east", 0);
    add_user(f, "gone", "east", 1);
}

/* Rule 8: owner (or creator while owner is empty), team managers down the
** tree, shares, the pool's team; everything for admin and manager "*". */
static void test_customer_sight(void **state)
{
    (void)state;
    fsv_vis_facts f;
    world(&f);
    fsv_user alice = user("alice", "rep", "east-1");
    fsv_user bob = user("bob", "rep", "west");
    fsv_user mgr = user("mgr", "manager", "east");
    fsv_user wmgr = user("wmgr", "manager", "west");
    fsv_user hq = user("hq", "manager", "*");
    fsv_user dave = user("dave", "rep", "");

    assert_string_equal(fsv_visd_owner(&f, "c1"), "alice");    /* creator */
    assert_string_equal(fsv_visd_owner(&f, "c3"), "");         /* pool */
    assert_null(fsv_visd_owner(&f, "nope"));

    assert_int_equal(fsv_visd_customer(&f, &alice, "c1"), 1);  /* creator */
    assert_int_equal(fsv_visd_customer(&f, &bob, "c1"), 0);
    assert_int_equal(fsv_visd_customer(&f, &mgr, "c1"), 1);    /* team below */
    assert_int_equal(fsv_visd_customer(&f, &wmgr, "c1"), 0);
    assert_int_equal(fsv_visd_customer(&f, &alice, "c2"), 1);  /* shared */
    assert_int_equal(fsv_visd_customer(&f, &mgr, "c2"), 0);
    assert_int_equal(fsv_visd_customer(&f, &alice, "c3"), 1);  /* east pool */
    assert_int_equal(fsv_visd_customer(&f, &bob, "c3"), 0);
    assert_int_equal(fsv_visd_customer(&f, &dave, "c3"), 0);
    assert_int_equal(fsv_visd_customer(&f, &hq, "c2"), 1);
    assert_int_equal(fsv_visd_customer(&f, &dave, "nope"), 0);

    /* Rows: definitions for all, a child with no customer its creator's. */
    assert_int_equal(fsv_visd_row(&f, &dave, "stagedef", "s", NULL, "x"), 1);
    assert_int_equal(fsv_visd_row(&f, &dave, "followup", "f", NULL, "dave"), 1);
    assert_int_equal(fsv_visd_row(&f, &bob, "followup", "f", NULL, "dave"), 0);
    assert_int_equal(fsv_visd_row(&f, &bob, "followup", "f", "c2", "x"), 1);
    assert_int_equal(fsv_visd_row(&f, &bob, "followup", "f", "c1", "bob"), 0);

    /* Sharing: the owner, a manager of the owner's team, not the shared. */
    assert_int_equal(fsv_visd_may_share(&f, &bob, "c2"), 1);
    assert_int_equal(fsv_visd_may_share(&f, &alice, "c2"), 0);
    assert_int_equal(fsv_visd_may_share(&f, &wmgr, "c2"), 1);
    fsv_vis_facts_clear(&f);
}

/* A pool customer someone else claimed first: lost for the others of the
** pool's team, with who took it. */
static void test_pool_lost(void **state)
{
    (void)state;
    fsv_vis_facts f;
    world(&f);
    fsv_user alice = user("alice", "rep", "east-1");
    fsv_user bob = user("bob", "rep", "west");
    char by[FSV_NAME_MAX + 1];
    assert_int_equal(fsv_visd_pool_lost(&f, &alice, "c4", by, sizeof by), 1);
    assert_string_equal(by, "bob");
    assert_int_equal(fsv_visd_pool_lost(&f, &bob, "c4", NULL, 0), 0);
    assert_int_equal(fsv_visd_pool_lost(&f, &alice, "c3", NULL, 0), 0);

    /* Writing it says who claimed it, by the customer's name. */
    char why[256];
    fdsp_change c = change("customer", "c4", "owner", "alice");
    assert_int_equal(fsv_visd_check_write(&f, &alice, &c, why, sizeof why),
                     FDSP_E_FORBIDDEN);
    assert_non_null(strstr(why, "claimed_first"));
    assert_non_null(strstr(why, "Four Ltd"));
    assert_non_null(strstr(why, "by bob"));
    fsv_vis_facts_clear(&f);
}

/* The write rules: definitions, the pool's rules, share names, owners. */
static void test_write_rules(void **state)
{
    (void)state;
    fsv_vis_facts f;
    world(&f);
    add_rec(&f, "customer", "c1", "c1", "alice", 3, "owner", 1);
    add_rec(&f, "customer", "c2", "c2", "bob", 3, "name", 1);
    add_rec(&f, "followup", "f1", "c2", "bob", 2, "text", 1);
    fsv_user alice = user("alice", "rep", "east-1");
    fsv_user mgr = user("mgr", "manager", "east");
    fsv_user root = user("root", "admin", "");
    char why[256];
    fdsp_change c;

    c = change("stagedef", "s1", "name", "x");
    assert_int_equal(fsv_visd_check_write(&f, &alice, &c, why, sizeof why),
                     FDSP_E_FORBIDDEN);
    assert_int_equal(fsv_visd_check_write(&f, &mgr, &c, why, sizeof why), 0);
    c = change(FSV_POOL_RULES_TABLE, FSV_POOL_RULES_RECORD, "max_owned", "3");
    assert_int_equal(fsv_visd_check_write(&f, &root, &c, why, sizeof why),
                     FDSP_E_FORBIDDEN);

    /* share names: CUSTOMER:USER, fields matching, only who may share */
    c = change("share", "nocolon", "user", "x");
    assert_int_equal(fsv_visd_check_write(&f, &alice, &c, why, sizeof why),
                     FDSP_E_FORBIDDEN);
    c = change("share", "c1:bob", "user", "carl");
    assert_int_equal(fsv_visd_check_write(&f, &alice, &c, why, sizeof why),
                     FDSP_E_FORBIDDEN);
    assert_non_null(strstr(why, "must match"));
    c = change("share", "c2:carl", "user", "carl");
    assert_int_equal(fsv_visd_check_write(&f, &alice, &c, why, sizeof why),
                     FDSP_E_FORBIDDEN);         /* shared with, not owner */

    /* owners: a rep names only themselves; a manager needs a real user */
    c = change("customer", "c1", "owner", "bob");
    assert_int_equal(fsv_visd_check_write(&f, &alice, &c, why, sizeof why),
                     FDSP_E_FORBIDDEN);
    assert_int_equal(fsv_visd_check_write(&f, &mgr, &c, why, sizeof why), 0);
    c = change("customer", "c1", "owner", "gone");
    assert_int_equal(fsv_visd_check_write(&f, &mgr, &c, why, sizeof why),
                     FDSP_E_NO_USER);
    assert_non_null(strstr(why, "unknown_user"));
    c = change("customer", "c1", "owner", "");
    assert_int_equal(fsv_visd_check_write(&f, &alice, &c, why, sizeof why),
                     0);                        /* a release */
    c = change("customer", "c1", "pool", "0");
    assert_int_equal(fsv_visd_check_write(&f, &alice, &c, why, sizeof why),
                     FDSP_E_FORBIDDEN);

    /* children: the customer's sight, and a new record is the writer's */
    c = change("followup", "f1", "text", "hi");
    assert_int_equal(fsv_visd_check_write(&f, &alice, &c, why, sizeof why),
                     0);                        /* c2 is shared with her */
    c = change("followup", "new", "customer", "c3");
    assert_int_equal(fsv_visd_check_write(&f, &alice, &c, why, sizeof why),
                     0);                        /* her team's pool */
    c = change("customer", "brand-new", "name", "x");
    assert_int_equal(fsv_visd_check_write(&f, &alice, &c, why, sizeof why),
                     0);
    fsv_vis_facts_clear(&f);
}

/* A customer's sight is taken at its first ask in a batch. */
static void test_first_sight(void **state)
{
    (void)state;
    fsv_vis_facts f;
    world(&f);
    add_rec(&f, "customer", "c1", "c1", "alice", 3, "deleted", 1);
    fsv_user alice = user("alice", "rep", "east-1");
    char why[256];
    fdsp_change c = change("customer", "c1", "deleted", "0");
    assert_int_equal(fsv_visd_check_write(&f, &alice, &c, why, sizeof why), 0);
    /* the batch gave it away (an earlier merge): still hers for the batch */
    fsv_vis_cust *k = fsv_vis_facts_cust(&f, "c1");
    free(k->owner);
    k->owner = dup("bob");
    assert_int_equal(fsv_visd_customer(&f, &alice, "c1"), 0);
    assert_int_equal(fsv_visd_check_write(&f, &alice, &c, why, sizeof why), 0);
    fsv_vis_facts_clear(&f);
}

/* FDSP_MAX_FIELDS: a new field past the limit is refused, a known one not. */
static void test_field_limit(void **state)
{
    (void)state;
    fsv_vis_facts f;
    memset(&f, 0, sizeof f);
    add_rec(&f, "followup", "full", "c1", "alice", FDSP_MAX_FIELDS, "new", 0);
    add_rec(&f, "followup", "fuller", "c1", "alice", FDSP_MAX_FIELDS, "old", 1);
    char why[256];
    fdsp_change c = change("followup", "full", "new", "x");
    assert_int_equal(fsv_visd_field_limit(&f, &c, why, sizeof why),
                     FDSP_E_LIMIT);
    assert_non_null(strstr(why, "fields (limit)"));
    c = change("followup", "fuller", "old", "x");
    assert_int_equal(fsv_visd_field_limit(&f, &c, why, sizeof why), 0);
    fsv_vis_facts_clear(&f);
}

/* The fan-out set: one answer per change and for the batch. */
static void test_fan_out_set(void **state)
{
    (void)state;
    fsv_vis_facts f;
    world(&f);
    add_rec(&f, "customer", "c1", "c1", "alice", 3, "name", 1);
    add_rec(&f, "followup", "f2", "c2", "bob", 2, "text", 1);
    add_rec(&f, "followup", "orphan", NULL, "dave", 1, "text", 1);
    fdsp_change c[4] = {
        change("customer", "c1", "name", "x"),
        change("followup", "f2", "text", "y"),
        change("followup", "orphan", "text", "z"),
        change("customer", "c1", "name", "refused"),
    };
    c[0].seq = 7;
    c[1].seq = 8;
    c[2].seq = 9;       /* c[3].seq 0: refused, seen by nobody */
    fsv_vis_set *vs = NULL;
    assert_int_equal(fsv_vis_set_wrap(&f, &vs), FSV_OK);
    assert_int_equal(fsv_vis_set_seal(vs, c, 4), FSV_OK);
    fsv_user alice = user("alice", "rep", "east-1");
    fsv_user bob = user("bob", "rep", "west");
    fsv_user dave = user("dave", "rep", "");
    fsv_user erin = user("erin", "rep", "north");
    fsv_user mgr = user("mgr", "manager", "east");
    fsv_user root = user("root", "admin", "");

    assert_int_equal(fsv_vis_set_sees(vs, &alice, 0), 1);
    assert_int_equal(fsv_vis_set_sees(vs, &alice, 1), 1);   /* shared */
    assert_int_equal(fsv_vis_set_sees(vs, &alice, 2), 0);
    assert_int_equal(fsv_vis_set_sees(vs, &alice, 3), 0);
    assert_int_equal(fsv_vis_set_sees(vs, &bob, 0), 0);
    assert_int_equal(fsv_vis_set_sees(vs, &dave, 2), 1);    /* creator */
    assert_int_equal(fsv_vis_set_sees(vs, &mgr, 0), 1);
    assert_int_equal(fsv_vis_set_sees(vs, &root, 3), 1);
    assert_int_equal(fsv_vis_set_sees_any(vs, &erin), 0);
    assert_int_equal(fsv_vis_set_sees_any(vs, &bob), 1);
    assert_int_equal(fsv_vis_set_sees_any(vs, &dave), 1);
    assert_int_equal(fsv_vis_set_sees_any(vs, &mgr), 1);
    /* sees_any is the per-change answer asked of every change */
    const fsv_user *us[] = {&alice, &bob, &dave, &erin, &mgr, &root};
    for (size_t k = 0; k < sizeof us / sizeof us[0]; k++) {
        int any = 0;
        for (size_t i = 0; i < 4; i++)
            any |= fsv_vis_set_sees(vs, us[k], i);
        assert_int_equal(fsv_vis_set_sees_any(vs, us[k]), any);
    }
    fsv_vis_set_free(vs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_customer_sight),
        cmocka_unit_test(test_pool_lost),
        cmocka_unit_test(test_write_rules),
        cmocka_unit_test(test_first_sight),
        cmocka_unit_test(test_field_limit),
        cmocka_unit_test(test_fan_out_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
