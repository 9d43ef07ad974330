/*
** test_ids.c — id prefixes: unique, ambiguous, unknown, deleted, tables,
** conflict ids.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <ctype.h>
#include <string.h>
#include <cmocka.h>

#include "domain.h"
#include "domtest.h"

#define START 1795858200000LL

static void unique_prefix(void **state)
{
    (void)state;
    dom_env e;
    fds_replica *r = dom_open(&e, START, "alice");
    char id[FDSP_MAX_ID + 1];
    dom_add(r, "{\"name\":\"张三\"}", id);
    char *full = NULL;
    for (size_t n = 1; n <= strlen(id); n++) {
        char p[FDSP_MAX_ID + 1];
        memcpy(p, id, n);
        p[n] = '\0';
        assert_int_equal(fds_resolve_id(r, "customer", p, &full), FDS_OK);
        assert_string_equal(full, id);
        free(full);
        full = NULL;
    }
    /* upper case is forgiven: ids are lower-case hex */
    char up[FDSP_MAX_ID + 1];
    for (size_t i = 0; i <= 8; i++)
        up[i] = (char)(i < 8 ? toupper((unsigned char)id[i]) : 0);
    assert_int_equal(fds_resolve_id(r, "customer", up, &full), FDS_OK);
    assert_string_equal(full, id);
    free(full);
    /* the same prefix names nothing in another table */
    assert_int_equal(fds_resolve_id(r, "plan", id, &full), FDS_NOTFOUND);
    assert_null(full);
    fds_replica_close(r);
}

static void ambiguous_and_unknown(void **state)
{
    (void)state;
    dom_env e;
    fds_replica *r = dom_open(&e, START, "alice");
    char ids[17][FDSP_MAX_ID + 1];
    for (int i = 0; i < 17; i++) {
        char js[64];
        snprintf(js, sizeof js, "{\"name\":\"客户%02d\"}", i);
        dom_add(r, js, ids[i]);
    }
    /* 17 ids over 16 hex digits: two share a first character */
    int a = -1, b = -1;
    for (int i = 0; i < 17 && a < 0; i++)
        for (int j = i + 1; j < 17; j++)
            if (ids[i][0] == ids[j][0]) {
                a = i;
                b = j;
                break;
            }
    assert_true(a >= 0);
    char p[2] = {ids[a][0], 0};
    char *full = NULL;
    assert_int_equal(fds_resolve_id(r, "customer", p, &full), FDS_AMBIGUOUS);
    assert_null(full);
    const char *msg = fds_errmsg(r);
    char shortid[9];
    snprintf(shortid, sizeof shortid, "%.8s", ids[a]);
    assert_non_null(strstr(msg, shortid));          /* names the candidates */
    snprintf(shortid, sizeof shortid, "%.8s", ids[b]);
    assert_non_null(strstr(msg, shortid));
    assert_non_null(strstr(msg, "客户"));           /* with their names */
    /* a longer prefix that tells them apart resolves */
    size_t n = 0;
    while (ids[a][n] == ids[b][n])
        n++;
    char longer[FDSP_MAX_ID + 1];
    memcpy(longer, ids[a], n + 1);
    longer[n + 1] = '\0';
    assert_int_equal(fds_resolve_id(r, "customer", longer, &full), FDS_OK);
    assert_string_equal(full, ids[a]);
    free(full);
    /* unknown: NOTFOUND naming the prefix */
    assert_int_equal(fds_resolve_id(r, "customer", "zzzz", &full), FDS_NOTFOUND);
    assert_non_null(strstr(fds_errmsg(r), "zzzz"));
    assert_int_equal(fds_resolve_id(r, "customer", "", &full), FDS_INVALID);
    /* a deleted customer no longer resolves, and no longer competes */
    assert_int_equal(fds_customer_delete(r, ids[b]), FDS_OK);
    assert_int_equal(fds_resolve_id(r, "customer", ids[b], &full), FDS_NOTFOUND);
    int others = 0;
    for (int i = 0; i < 17; i++)
        others += i != a && i != b && ids[i][0] == ids[a][0];
    if (others == 0) {
        assert_int_equal(fds_resolve_id(r, "customer", p, &full), FDS_OK);
        assert_string_equal(full, ids[a]);
        free(full);
    }
    /* operations accept prefixes too */
    json_t *c = NULL;
    assert_int_equal(fds_customer_get(r, longer, &c), FDS_OK);
    assert_string_equal(json_string_value(json_object_get(c, "id")), ids[a]);
    json_decref(c);
    assert_int_equal(fds_customer_get(r, p, &c), others ? FDS_AMBIGUOUS : FDS_OK);
    json_decref(c);
    fds_replica_close(r);
}

/* A full id resolves to its record (the fast path), also when a longer id
** starts with it; once deleted it gives way to the longer one, as the
** prefix scan decides; upper case is still forgiven. */
static void full_ids(void **state)
{
    (void)state;
    dom_env e;
    fds_replica *r = dom_open(&e, START, "alice");
    char id[FDSP_MAX_ID + 1], longer[FDSP_MAX_ID + 2], up[FDSP_MAX_ID + 1];
    dom_add(r, "{\"name\":\"王五\"}", id);
    assert_int_equal(strlen(id), 36);
    snprintf(longer, sizeof longer, "%sx", id);
    assert_int_equal(fds__write1(r, "customer", longer, "name", "L"), FDS_OK);
    char *full = NULL;
    assert_int_equal(fds_resolve_id(r, "customer", id, &full), FDS_OK);
    assert_string_equal(full, id);
    free(full);
    for (size_t i = 0; i <= 36; i++)
        up[i] = (char)toupper((unsigned char)id[i]);
    assert_int_equal(fds_resolve_id(r, "customer", up, &full), FDS_OK);
    assert_string_equal(full, id);
    free(full);
    assert_int_equal(fds_resolve_id(r, "followup", id, &full), FDS_NOTFOUND);
    assert_int_equal(fds_customer_delete(r, id), FDS_OK);
    assert_int_equal(fds_resolve_id(r, "customer", id, &full), FDS_OK);
    assert_string_equal(full, longer);
    free(full);
    assert_int_equal(fds_customer_delete(r, longer), FDS_OK);
    assert_int_equal(fds_resolve_id(r, "customer", id, &full), FDS_NOTFOUND);
    fds_replica_close(r);
}

static void child_tables(void **state)
{
    (void)state;
    dom_env e;
    fds_replica *r = dom_open(&e, START, "alice");
    char id[FDSP_MAX_ID + 1];
    dom_add(r, "{\"name\":\"李四\"}", id);
    json_t *in = dom_json("{\"due\":\"2026-12-01 10:00\",\"content\":\"回访\"}");
    json_t *plan = NULL;
    assert_int_equal(fds_plan_add(r, id, in, &plan), FDS_OK);
    const char *pid = json_string_value(json_object_get(plan, "id"));
    char p6[7];
    snprintf(p6, sizeof p6, "%s", pid);
    char *full = NULL;
    assert_int_equal(fds_resolve_id(r, "plan", p6, &full), FDS_OK);
    assert_string_equal(full, pid);
    free(full);
    json_t *done = NULL;
    assert_int_equal(fds_plan_done(r, p6, &done), FDS_OK);   /* prefix */
    assert_true(json_is_true(json_object_get(done, "done")));
    json_decref(done);
    json_decref(plan);
    json_decref(in);
    fds_replica_close(r);
}

static void conflict_id_is_deterministic(void **state)
{
    (void)state;
    char a[17], b[17], c[17];
    fds__conflict_id("customer", "abc", "phone", a);
    fds__conflict_id("customer", "abc", "phone", b);
    assert_string_equal(a, b);
    assert_int_equal(strlen(a), 16);
    fds__conflict_id("customer", "ab", "cphone", c);    /* boundaries count */
    assert_string_not_equal(a, c);
    fds__conflict_id("customer", "abc", "email", c);
    assert_string_not_equal(a, c);
    /* FNV-1a 64 of "" with three NULs, fixed forever: ids must not change
    ** between versions or replicas would disagree */
    fds__conflict_id("", "", "", c);
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int i = 0; i < 3; i++) {
        h ^= 0;
        h *= 0x100000001b3ULL;
    }
    char want[17];
    snprintf(want, sizeof want, "%016llx", (unsigned long long)h);
    assert_string_equal(c, want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(unique_prefix),
        cmocka_unit_test(ambiguous_and_unknown),
        cmocka_unit_test(full_ids),
        cmocka_unit_test(child_tables),
        cmocka_unit_test(conflict_id_is_deterministic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
