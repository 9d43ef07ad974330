/*
** test_conflicts.c — conflicts produced by applying a concurrent change
** from another device, listed with mine/theirs, and resolved by keeping
** mine, theirs or a new value; the resolution dominates every version.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "domain.h"
#include "domtest.h"

#define START 1795858200000LL

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static json_t *conflicts(fds_replica *r)
{
    json_t *c = NULL;
    assert_int_equal(fds_conflicts(r, &c), FDS_OK);
    return c;
}

/* A customer whose phone alice set to 13800138000 while bob (concurrently,
** later HLC) set it to 13900139000. */
static fds_replica *setup(dom_env *e, char id[FDSP_MAX_ID + 1])
{
    fds_replica *r = dom_open(e, START, "alice");
    dom_add(r, "{\"name\":\"张三\",\"phone\":\"13800138000\"}", id);
    assert_int_equal(dom_remote(r, "customer", id, "phone", "13900139000",
                                "dev-bob", 1, START + 60000, "bob", 0),
                     FDS_MERGE_CONFLICT);
    return r;
}

static void listed_with_mine_and_theirs(void **state)
{
    (void)state;
    dom_env e;
    char id[FDSP_MAX_ID + 1];
    fds_replica *r = setup(&e, id);
    json_t *c = conflicts(r);
    assert_int_equal(json_array_size(c), 1);
    json_t *x = json_array_get(c, 0);
    char cid[17];
    fds__conflict_id("customer", id, "phone", cid);
    assert_string_equal(str(x, "id"), cid);
    assert_string_equal(str(x, "table"), "customer");
    assert_string_equal(str(x, "record"), id);
    assert_string_equal(str(x, "field"), "phone");
    assert_string_equal(str(x, "customer"), id);
    assert_string_equal(str(x, "customer_name"), "张三");
    json_t *mine = json_object_get(x, "mine"), *theirs = json_object_get(x, "theirs");
    /* bob's later HLC wins the register, but "mine" is still alice's */
    assert_string_equal(str(mine, "value"), "13800138000");
    assert_string_equal(str(mine, "user"), "alice");
    assert_string_equal(str(mine, "device"), fds_replica_device(r));
    assert_string_equal(str(mine, "at"), "2026-11-28T09:30:00Z");
    assert_string_equal(str(theirs, "value"), "13900139000");
    assert_string_equal(str(theirs, "user"), "bob");
    assert_string_equal(str(theirs, "device"), "dev-bob");
    assert_string_equal(str(theirs, "at"), "2026-11-28T09:31:00Z");
    json_decref(c);
    /* the customer shows the winner; list counts the conflict */
    json_t *cu = NULL;
    assert_int_equal(fds_customer_get(r, id, &cu), FDS_OK);
    assert_string_equal(str(cu, "phone"), "13900139000");
    json_decref(cu);
    fds_replica_close(r);
}

static void resolve_each_way(void **state)
{
    (void)state;
    static const struct {
        const char *keep, *value, *want;
    } cases[] = {
        {"mine", NULL, "13800138000"},
        {"theirs", NULL, "13900139000"},
        {NULL, "010-88886666", "010-88886666"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dom_env e;
        char id[FDSP_MAX_ID + 1], cid[17];
        fds_replica *r = setup(&e, id);
        fds__conflict_id("customer", id, "phone", cid);
        char prefix[5];
        snprintf(prefix, sizeof prefix, "%.4s", cid);       /* ids abbreviate */
        int64_t outbox = 0, after = 0;
        assert_int_equal(fds_outbox_count(r, &outbox), FDS_OK);
        assert_int_equal(fds_conflict_resolve(r, prefix, cases[i].keep, cases[i].value),
                         FDS_OK);
        json_t *c = conflicts(r);
        assert_int_equal(json_array_size(c), 0);
        json_decref(c);
        json_t *cu = NULL;
        assert_int_equal(fds_customer_get(r, id, &cu), FDS_OK);
        assert_string_equal(str(cu, "phone"), cases[i].want);
        json_decref(cu);
        /* the resolution is a local change waiting to be pushed */
        assert_int_equal(fds_outbox_count(r, &after), FDS_OK);
        assert_true(after > outbox);
        /* and it dominates: bob's version arriving again changes nothing */
        assert_int_equal(dom_remote(r, "customer", id, "phone", "13900139000",
                                    "dev-bob", 1, START + 60000, "bob", 0),
                         FDS_MERGE_NOOP);
        c = conflicts(r);
        assert_int_equal(json_array_size(c), 0);
        json_decref(c);
        assert_int_equal(fds_conflict_resolve(r, cid, "mine", NULL), FDS_NOTFOUND);
        fds_replica_close(r);
    }
}

static void refusals(void **state)
{
    (void)state;
    dom_env e;
    char id[FDSP_MAX_ID + 1], cid[17];
    fds_replica *r = setup(&e, id);
    fds__conflict_id("customer", id, "phone", cid);
    int64_t logs = dom_count(r, "log");
    assert_int_equal(fds_conflict_resolve(r, cid, NULL, NULL), FDS_INVALID);
    assert_int_equal(fds_conflict_resolve(r, cid, "mine", "x"), FDS_INVALID);
    assert_int_equal(fds_conflict_resolve(r, cid, "ours", NULL), FDS_INVALID);
    assert_int_equal(fds_conflict_resolve(r, cid, NULL, "not a phone"), FDS_INVALID);
    assert_non_null(strstr(fds_errmsg(r), "phone \"not a phone\""));
    assert_int_equal(fds_conflict_resolve(r, "ffffffffffffffff", "mine", NULL),
                     FDS_NOTFOUND);
    assert_int_equal(dom_count(r, "log"), logs);
    json_t *c = conflicts(r);
    assert_int_equal(json_array_size(c), 1);
    json_decref(c);
    fds_replica_close(r);
}

static void children_and_third_parties(void **state)
{
    (void)state;
    dom_env e;
    fds_replica *r = dom_open(&e, START, "alice");
    char id[FDSP_MAX_ID + 1];
    dom_add(r, "{\"name\":\"李四\"}", id);
    json_t *in = dom_json("{\"method\":\"visit\",\"content\":\"初次拜访\"}"), *f = NULL;
    assert_int_equal(fds_followup_add(r, id, in, &f), FDS_OK);
    json_decref(in);
    char fid[FDSP_MAX_ID + 1];
    snprintf(fid, sizeof fid, "%s", str(f, "id"));
    json_decref(f);
    /* bob edits the follow-up's content concurrently: the conflict names
    ** the customer it belongs to */
    assert_int_equal(dom_remote(r, "followup", fid, "content", "初次拜访，带了样品",
                                "dev-bob", 1, START - 1000, "bob", 0),
                     FDS_MERGE_CONFLICT);
    /* carol and dave (neither is us) disagree about the customer's email */
    assert_int_equal(dom_remote(r, "customer", id, "email", "li@a.cn", "dev-carol", 1,
                                START + 1000, "carol", 0), FDS_MERGE_WIN);
    assert_int_equal(dom_remote(r, "customer", id, "email", "li@b.cn", "dev-dave", 1,
                                START + 2000, "dave", 0), FDS_MERGE_CONFLICT);
    json_t *c = conflicts(r);
    assert_int_equal(json_array_size(c), 2);
    json_t *em = NULL, *fc = NULL;
    size_t i;
    json_t *x;
    json_array_foreach(c, i, x) {
        if (strcmp(str(x, "field"), "email") == 0)
            em = x;
        else
            fc = x;
    }
    assert_non_null(em);
    assert_non_null(fc);
    assert_string_equal(str(fc, "table"), "followup");
    assert_string_equal(str(fc, "customer"), id);
    assert_string_equal(str(json_object_get(fc, "mine"), "value"), "初次拜访");  /* ours */
    /* no version of ours: mine is the winner (greater HLC: dave) */
    assert_string_equal(str(json_object_get(em, "mine"), "user"), "dave");
    assert_string_equal(str(json_object_get(em, "theirs"), "user"), "carol");
    /* list counts both on the customer */
    json_t *list = NULL;
    assert_int_equal(fds_customer_list(r, NULL, &list), FDS_OK);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 0),
                                                        "conflicts")), 2);
    json_decref(list);
    /* resolving one leaves the other */
    assert_int_equal(fds_conflict_resolve(r, str(em, "id"), "theirs", NULL), FDS_OK);
    json_decref(c);
    c = conflicts(r);
    assert_int_equal(json_array_size(c), 1);
    assert_string_equal(str(json_array_get(c, 0), "field"), "content");
    json_decref(c);
    json_t *cu = NULL;
    assert_int_equal(fds_customer_get(r, id, &cu), FDS_OK);
    assert_string_equal(str(cu, "email"), "li@a.cn");
    json_decref(cu);
    fds_replica_close(r);
}

/* Ship src's local changes after *cursor to dst (as a server would relay
** them), via the change log. */
static void ship(fds_replica *src, fds_replica *dst, int64_t *cursor)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(src->db,
        "SELECT lseq, tbl, rid, field, value, vv, hlc, device, user FROM log "
        "WHERE origin = 1 AND lseq > ?1 ORDER BY lseq", -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_int64(st, 1, *cursor);
    while (sqlite3_step(st) == SQLITE_ROW) {
        fdsp_change c;
        memset(&c, 0, sizeof c);
        *cursor = sqlite3_column_int64(st, 0);
        c.table = (char *)sqlite3_column_text(st, 1);
        c.record = (char *)sqlite3_column_text(st, 2);
        c.field = (char *)sqlite3_column_text(st, 3);
        c.value = (char *)sqlite3_column_text(st, 4);
        json_t *vv = json_loads((const char *)sqlite3_column_text(st, 5), 0, NULL);
        assert_non_null(vv);
        assert_int_equal(fds__vv_from_json(vv, &c.vv), FDS_OK);
        json_decref(vv);
        c.hlc = (uint64_t)sqlite3_column_int64(st, 6);
        c.device = (char *)sqlite3_column_text(st, 7);
        c.user = (char *)sqlite3_column_text(st, 8);
        int outcome;
        assert_int_equal(fds__apply(dst, &c, &outcome), FDS_OK);
        fdsp_vv_clear(&c.vv);
    }
    sqlite3_finalize(st);
}

/* Two replicas that edit the same field concurrently show the same
** conflict under the same id, each calling its own value "mine"; one
** resolution settles it on both. */
static void replicas_agree(void **state)
{
    (void)state;
    dom_env ea, eb;
    fds_replica *a = dom_open(&ea, START, "alice");
    fds_replica *b = dom_open(&eb, START + 10, "bob");
    int64_t ab = 0, ba = 0;
    char id[FDSP_MAX_ID + 1];
    dom_add(a, "{\"name\":\"张三\",\"phone\":\"13800000000\"}", id);
    ship(a, b, &ab);
    json_t *in = dom_json("{\"phone\":\"13811111111\"}"), *out = NULL;
    assert_int_equal(fds_customer_edit(a, id, in, &out), FDS_OK);
    json_decref(out);
    json_decref(in);
    in = dom_json("{\"phone\":\"13922222222\"}");
    assert_int_equal(fds_customer_edit(b, id, in, &out), FDS_OK);
    json_decref(out);
    json_decref(in);
    ship(a, b, &ab);
    ship(b, a, &ba);
    json_t *ca = conflicts(a), *cb = conflicts(b);
    assert_int_equal(json_array_size(ca), 1);
    assert_int_equal(json_array_size(cb), 1);
    json_t *xa = json_array_get(ca, 0), *xb = json_array_get(cb, 0);
    assert_string_equal(str(xa, "id"), str(xb, "id"));
    assert_string_equal(str(json_object_get(xa, "mine"), "value"), "13811111111");
    assert_string_equal(str(json_object_get(xb, "mine"), "value"), "13922222222");
    assert_string_equal(str(json_object_get(xa, "theirs"), "user"), "bob");
    char cid[17];
    snprintf(cid, sizeof cid, "%s", str(xa, "id"));
    json_decref(ca);
    json_decref(cb);
    /* both show the same winner meanwhile */
    json_t *ga = NULL, *gb = NULL;
    assert_int_equal(fds_customer_get(a, id, &ga), FDS_OK);
    assert_int_equal(fds_customer_get(b, id, &gb), FDS_OK);
    assert_string_equal(str(ga, "phone"), str(gb, "phone"));
    json_decref(ga);
    json_decref(gb);
    /* alice keeps hers; bob receives the resolution and is settled too */
    assert_int_equal(fds_conflict_resolve(a, cid, "mine", NULL), FDS_OK);
    ship(a, b, &ab);
    ca = conflicts(a);
    cb = conflicts(b);
    assert_int_equal(json_array_size(ca), 0);
    assert_int_equal(json_array_size(cb), 0);
    json_decref(ca);
    json_decref(cb);
    assert_int_equal(fds_customer_get(b, id, &gb), FDS_OK);
    assert_string_equal(str(gb, "phone"), "13811111111");
    json_decref(gb);
    /* the resolution reached bob: his history shows alice's decision */
    json_t *h = NULL;
    assert_int_equal(fds_history(b, id, &h), FDS_OK);
    json_t *last = json_array_get(h, json_array_size(h) - 1);
    assert_string_equal(str(last, "field"), "phone");
    assert_string_equal(str(last, "user"), "alice");
    assert_string_equal(str(last, "value"), "13811111111");
    json_decref(h);
    fds_replica_close(a);
    fds_replica_close(b);
}

/* Rule 5 as a person sees it: alice deletes a customer while bob edits it;
** both replicas list the conflict on "deleted", and keeping bob's side
** brings the customer back everywhere. */
static void delete_against_edit(void **state)
{
    (void)state;
    dom_env ea, eb;
    fds_replica *a = dom_open(&ea, START, "alice");
    fds_replica *b = dom_open(&eb, START + 10, "bob");
    int64_t ab = 0, ba = 0;
    char id[FDSP_MAX_ID + 1];
    dom_add(a, "{\"name\":\"张三\"}", id);
    ship(a, b, &ab);
    assert_int_equal(fds_customer_delete(a, id), FDS_OK);
    json_t *in = dom_json("{\"company\":\"北京科技有限公司\"}"), *out = NULL;
    assert_int_equal(fds_customer_edit(b, id, in, &out), FDS_OK);
    json_decref(out);
    json_decref(in);
    ship(a, b, &ab);
    ship(b, a, &ba);
    json_t *ca = conflicts(a), *cb = conflicts(b);
    assert_int_equal(json_array_size(ca), 1);
    assert_int_equal(json_array_size(cb), 1);
    json_t *xa = json_array_get(ca, 0);
    assert_string_equal(str(xa, "field"), "deleted");
    assert_string_equal(str(xa, "id"), str(json_array_get(cb, 0), "id"));
    assert_string_equal(str(xa, "customer_name"), "张三");
    assert_string_equal(str(json_object_get(xa, "mine"), "value"), "1");
    assert_string_equal(str(json_object_get(xa, "theirs"), "value"), "0");
    assert_int_equal(fds_conflict_resolve(a, str(xa, "id"), "theirs", NULL), FDS_OK);
    json_decref(ca);
    json_decref(cb);
    ship(a, b, &ab);
    json_t *ga = NULL, *gb = NULL;
    assert_int_equal(fds_customer_get(a, id, &ga), FDS_OK);
    assert_int_equal(fds_customer_get(b, id, &gb), FDS_OK);
    assert_string_equal(str(ga, "company"), "北京科技有限公司");
    assert_true(json_equal(json_object_get(ga, "company"), json_object_get(gb, "company")));
    json_decref(ga);
    json_decref(gb);
    ca = conflicts(b);
    assert_int_equal(json_array_size(ca), 0);
    json_decref(ca);
    fds_replica_close(a);
    fds_replica_close(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(listed_with_mine_and_theirs),
        cmocka_unit_test(resolve_each_way),
        cmocka_unit_test(refusals),
        cmocka_unit_test(children_and_third_parties),
        cmocka_unit_test(replicas_agree),
        cmocka_unit_test(delete_against_edit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
