/*
** test_store.c — the store conformance suite: every backend listed in
** store_backends.c runs the same tests through store/store.h, without a
** network:
** merge + history (rules 3, 6), changes_after with its cursor, device
** exclusion and filter (rule 7), tokens (hash only, revoke, disable), user
** and token lists, opening by URL, the error convention (a message on
** every failure) and who may see/write what (rule 8 baseline).  A new
** backend adds one row to store_backends.c; tests that look inside one
** backend's storage (the SQLite migration) run in that backend's own
** group.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store.h"
#include "store_backends.h"
#include "token.h"
#include "visibility.h"

typedef ts_store_fix fixture;


static int merge(fsv_store *s, const char *tbl, const char *rid,
                 const char *field, const char *value, const char *device,
                 uint64_t counter, uint64_t hlc, const char *user,
                 int64_t *seq)
{
    fdsp_change c;
    int outcome = -1;
    ts_change(&c, tbl, rid, field, value, device, counter, hlc, user);
    assert_int_equal(fsv_store_begin(s), FSV_OK);
    assert_int_equal(fsv_store_merge_change(s, &c, &outcome), FSV_OK);
    assert_int_equal(fsv_store_commit(s), FSV_OK);
    if (seq)
        *seq = c.seq;
    fdsp_change_clear(&c);
    return outcome;
}

static void add_user(fsv_store *s, const char *name, const char *role,
                     const char *team)
{
    assert_int_equal(fsv_store_user_add(s, name, role, team), FSV_OK);
}

static fsv_user user(fsv_store *s, const char *name)
{
    fsv_user u;
    assert_int_equal(fsv_store_user_get(s, name, &u), FSV_OK);
    return u;
}

/* Rule 6: accepted changes get increasing sequence numbers; a re-sent change
** is a no-op and is not logged twice; concurrent writes keep both. */
static void test_merge_history(void **state)
{
    fixture *f = *state;
    int64_t s1, s2, s3, head, n;
    assert_int_equal(merge(f->s, "customer", "c1", "name", "A", "d1", 1, 10,
                           "alice", &s1), FDS_MERGE_WIN);
    assert_int_equal(merge(f->s, "customer", "c1", "name", "A", "d1", 1, 10,
                           "alice", &s2), FDS_MERGE_NOOP);
    assert_int_equal(s2, 0);
    assert_int_equal(merge(f->s, "customer", "c1", "name", "B", "d2", 1, 20,
                           "bob", &s3), FDS_MERGE_CONFLICT);
    assert_true(s3 > s1);
    assert_int_equal(fsv_store_head(f->s, &head), FSV_OK);
    assert_int_equal(head, s3);
    assert_int_equal(fsv_store_history_count(f->s, &n), FSV_OK);
    assert_int_equal(n, 2);
    char *v = NULL;
    assert_int_equal(fsv_store_field_value(f->s, "customer", "c1", "name", &v),
                     FSV_OK);
    assert_string_equal(v, "B"); /* greater hlc wins */
    free(v);
    assert_int_equal(fsv_store_field_value(f->s, "customer", "c1", "phone", &v),
                     FSV_NOTFOUND);
    int count = 0, has = 0;
    assert_int_equal(fsv_store_field_count(f->s, "customer", "c1", "name",
                                           &count, &has), FSV_OK);
    assert_int_equal(count, 1);
    assert_int_equal(has, 1);
}

/* A rollback leaves nothing of the batch behind. */
static void test_rollback(void **state)
{
    fixture *f = *state;
    fdsp_change c;
    int outcome;
    int64_t n;
    ts_change(&c, "customer", "c9", "name", "X", "d1", 1, 5, "alice");
    assert_int_equal(fsv_store_begin(f->s), FSV_OK);
    assert_int_equal(fsv_store_merge_change(f->s, &c, &outcome), FSV_OK);
    assert_int_equal(fsv_store_rollback(f->s), FSV_OK);
    fdsp_change_clear(&c);
    assert_int_equal(fsv_store_history_count(f->s, &n), FSV_OK);
    assert_int_equal(n, 0);
    char *cust = NULL, *creator = NULL;
    assert_int_equal(fsv_store_record_info(f->s, "customer", "c9", &cust,
                                           &creator), FSV_NOTFOUND);
}

static int only_c2(void *ud, const fsv_row *row, int *include)
{
    (void)ud;
    *include = strcmp(row->rid, "c2") == 0 ||
               (row->customer && strcmp(row->customer, "c2") == 0);
    return FSV_OK;
}

/* The visibility questions' answers, asserting they did not fail. */
static int sees_customer(fsv_store *s, const fsv_user *u, const char *c)
{
    int sees = -1;
    assert_int_equal(fsv_vis_customer(s, u, c, &sees), FSV_OK);
    return sees;
}

static int sees_row(fsv_store *s, const fsv_user *u, const fsv_row *row)
{
    int sees = -1;
    assert_int_equal(fsv_vis_row(s, u, row, &sees), FSV_OK);
    return sees;
}

/* fsv_vis_check_write's refusal (0: allowed), asserting it did not fail. */
static int write_refusal(fsv_store *s, const fsv_user *u, const fdsp_change *c,
                         char *why, size_t whylen)
{
    int refusal = -1;
    assert_int_equal(fsv_vis_check_write(s, u, c, &refusal, why, whylen),
                     FSV_OK);
    return refusal;
}

static int filter_answer(fsv_row_filter fn, void *ud, const fsv_row *row)
{
    int include = -1;
    assert_int_equal(fn(ud, row, &include), FSV_OK);
    return include;
}

/* Rule 7: batches after a cursor, the puller's own device left out, a
** filter applied, and the cursor advances past what the filter hid. */
static void test_changes_after(void **state)
{
    fixture *f = *state;
    for (int i = 1; i <= 6; i++) {
        char rid[8];
        snprintf(rid, sizeof rid, "c%d", i % 3);
        merge(f->s, "customer", rid, i % 2 ? "name" : "phone", "v",
              i == 4 ? "dX" : "d1", (uint64_t)i, (uint64_t)i, "alice", NULL);
    }
    merge(f->s, "followup", "f1", "customer", "c2", "d1", 7, 7, "alice", NULL);
    fdsp_change *ch = NULL;
    size_t n = 0;
    int64_t last = 0;
    int more = 0;
    assert_int_equal(fsv_store_begin_read(f->s), FSV_OK);
    assert_int_equal(fsv_store_changes_after(f->s, 0, 3, "dX", NULL, NULL, &ch,
                                             &n, &last, &more), FSV_OK);
    assert_int_equal(n, 3);
    assert_int_equal(ch[0].seq, 1);
    assert_int_equal(last, 3);
    assert_int_equal(more, 1);
    assert_string_equal(ch[0].device, "d1");
    assert_int_equal(ch[0].vv.n, 1);
    for (size_t i = 0; i < n; i++)
        fdsp_change_clear(&ch[i]);
    free(ch);
    /* Next batch skips seq 4 (device dX). */
    assert_int_equal(fsv_store_changes_after(f->s, 3, 10, "dX", NULL, NULL, &ch,
                                             &n, &last, &more), FSV_OK);
    assert_int_equal(n, 3);
    assert_int_equal(ch[0].seq, 5);
    assert_int_equal(last, 7);
    assert_int_equal(more, 0);
    for (size_t i = 0; i < n; i++)
        fdsp_change_clear(&ch[i]);
    free(ch);
    /* A filter: only c2 and its follow-up; the cursor still reaches head. */
    assert_int_equal(fsv_store_changes_after(f->s, 0, 10, NULL, only_c2, NULL,
                                             &ch, &n, &last, &more), FSV_OK);
    assert_int_equal(n, 3); /* seq 2 (c2), 5 (c2), 7 (f1 -> c2) */
    assert_string_equal(ch[2].table, "followup");
    assert_int_equal(last, 7);
    assert_int_equal(more, 0);
    for (size_t i = 0; i < n; i++)
        fdsp_change_clear(&ch[i]);
    free(ch);
    assert_int_equal(fsv_store_rollback(f->s), FSV_OK);
}

static void test_tokens(void **state)
{
    fixture *f = *state;
    char tok[FSV_TOKEN_LEN + 1], id[FSV_TOKEN_ID_LEN + 1], id2[FSV_TOKEN_ID_LEN + 1];
    unsigned char hash[FSV_TOKEN_HASH], h2[FSV_TOKEN_HASH];
    fsv_user u;
    add_user(f->s, "alice", "rep", "north");
    assert_int_equal(fsv_store_user_add(f->s, "alice", "rep", NULL), FSV_EXISTS);
    assert_int_equal(fsv_store_user_add(f->s, "eve", "king", NULL), FSV_INVALID);
    assert_int_equal(fsv_token_new(tok, hash, id), 0);
    assert_int_equal(strlen(tok), FSV_TOKEN_LEN);
    assert_int_equal(fsv_store_token_add(f->s, id, "alice", hash), FSV_OK);
    assert_int_equal(fsv_token_hash(tok, h2), 0);
    assert_int_equal(fsv_store_token_auth(f->s, h2, &u, id2), FSV_OK);
    assert_string_equal(u.name, "alice");
    assert_string_equal(u.team, "north");
    assert_string_equal(id2, id);
    /* Not a token shape; a different token. */
    assert_int_equal(fsv_token_hash("fs_xyz", h2), FSV_INVALID);
    tok[10] = tok[10] == 'a' ? 'b' : 'a';
    assert_int_equal(fsv_token_hash(tok, h2), 0);
    assert_int_equal(fsv_store_token_auth(f->s, h2, &u, id2), FSV_NOTFOUND);
    /* Revoked: refused. */
    assert_int_equal(fsv_store_token_revoke(f->s, id), FSV_OK);
    assert_int_equal(fsv_store_token_auth(f->s, hash, &u, id2), FSV_NOTFOUND);
    assert_int_equal(fsv_store_token_revoke(f->s, id), FSV_NOTFOUND);
    /* Disabled user: refused. */
    assert_int_equal(fsv_token_new(tok, hash, id), 0);
    assert_int_equal(fsv_store_token_add(f->s, id, "alice", hash), FSV_OK);
    assert_int_equal(fsv_store_token_auth(f->s, hash, &u, id2), FSV_OK);
    assert_int_equal(fsv_store_user_disable(f->s, "alice"), FSV_OK);
    assert_int_equal(fsv_store_token_auth(f->s, hash, &u, id2), FSV_NOTFOUND);
    json_t *list = NULL;
    assert_int_equal(fsv_store_token_list(f->s, "alice", &list), FSV_OK);
    assert_int_equal(json_array_size(list), 2);
    json_decref(list);
}

static void test_visibility_rules(void **state)
{
    fixture *f = *state;
    add_user(f->s, "alice", "rep", "north");
    add_user(f->s, "bob", "rep", "south");
    add_user(f->s, "mona", "manager", "north");
    add_user(f->s, "hq", "manager", "*");
    add_user(f->s, "root", "admin", "");
    fsv_user alice = user(f->s, "alice"), bob = user(f->s, "bob");
    fsv_user mona = user(f->s, "mona"), hq = user(f->s, "hq");
    fsv_user root = user(f->s, "root");

    /* c1 created by alice with no owner field: alice's by creation. */
    merge(f->s, "customer", "c1", "name", "One", "da", 1, 1, "alice", NULL);
    merge(f->s, "followup", "f1", "content", "x", "da", 2, 2, "alice", NULL);
    merge(f->s, "followup", "f1", "customer", "c1", "da", 3, 3, "alice", NULL);
    assert_int_equal(sees_customer(f->s, &alice, "c1"), 1);
    assert_int_equal(sees_customer(f->s, &bob, "c1"), 0);
    assert_int_equal(sees_customer(f->s, &mona, "c1"), 1);
    assert_int_equal(sees_customer(f->s, &hq, "c1"), 1);
    assert_int_equal(sees_customer(f->s, &root, "c1"), 1);
    fsv_row frow = {"followup", "f1", "content", "c1", "alice"};
    assert_int_equal(sees_row(f->s, &bob, &frow), 0);
    assert_int_equal(sees_row(f->s, &alice, &frow), 1);
    fsv_row def = {"fielddef", "budget", "label", NULL, "hq"};
    assert_int_equal(sees_row(f->s, &bob, &def), 1);

    /* Writes. */
    char why[256];
    fdsp_change c;
    ts_change(&c, "customer", "c1", "phone", "1", "db", 1, 9, "bob");
    assert_int_equal(write_refusal(f->s, &bob, &c, why, sizeof why),
                     FDSP_E_FORBIDDEN);
    assert_non_null(strstr(why, "c1"));
    assert_non_null(strstr(why, "phone"));
    assert_int_equal(write_refusal(f->s, &alice, &c, why, sizeof why), 0);
    fdsp_change_clear(&c);
    /* bob attaching his follow-up to alice's customer. */
    ts_change(&c, "followup", "f2", "customer", "c1", "db", 2, 9, "bob");
    assert_int_equal(write_refusal(f->s, &bob, &c, why, sizeof why),
                     FDSP_E_FORBIDDEN);
    fdsp_change_clear(&c);
    /* Definitions: managers yes, reps no. */
    ts_change(&c, "fielddef", "budget", "label", "B", "db", 3, 9, "bob");
    assert_int_equal(write_refusal(f->s, &bob, &c, why, sizeof why),
                     FDSP_E_FORBIDDEN);
    assert_int_equal(write_refusal(f->s, &mona, &c, why, sizeof why), 0);
    fdsp_change_clear(&c);

    /* Share c1 with bob: he sees it and may edit, not reassign it. */
    merge(f->s, "share", "c1:bob", "customer", "c1", "da", 4, 4, "alice", NULL);
    merge(f->s, "share", "c1:bob", "user", "bob", "da", 5, 5, "alice", NULL);
    assert_int_equal(sees_customer(f->s, &bob, "c1"), 1);
    ts_change(&c, "customer", "c1", "owner", "bob", "db", 4, 9, "bob");
    assert_int_equal(write_refusal(f->s, &bob, &c, why, sizeof why),
                     FDSP_E_FORBIDDEN);
    assert_non_null(strstr(why, "owner"));
    /* Nor may alice, the owner (a rep): assigning is a manager's job. */
    assert_int_equal(write_refusal(f->s, &alice, &c, why, sizeof why),
                     FDSP_E_FORBIDDEN);
    assert_int_equal(write_refusal(f->s, &mona, &c, why, sizeof why), 0);
    fdsp_change_clear(&c);
    merge(f->s, "share", "c1:bob", "deleted", "1", "da", 6, 6, "alice", NULL);
    assert_int_equal(sees_customer(f->s, &bob, "c1"), 0);

    /* Reassigned to bob (south): bob sees it, alice and mona no longer. */
    merge(f->s, "customer", "c1", "owner", "bob", "da", 7, 7, "alice", NULL);
    assert_int_equal(sees_customer(f->s, &bob, "c1"), 1);
    assert_int_equal(sees_customer(f->s, &alice, "c1"), 0);
    assert_int_equal(sees_customer(f->s, &mona, "c1"), 0);
    assert_int_equal(sees_customer(f->s, &hq, "c1"), 1);

    /* A brand-new customer is the writer's own. */
    ts_change(&c, "customer", "new", "name", "N", "db", 5, 9, "bob");
    assert_int_equal(write_refusal(f->s, &bob, &c, why, sizeof why), 0);
    fdsp_change_clear(&c);
}

/* Merge one change inside the caller's transaction. */
static int merge_in(fsv_store *s, const char *tbl, const char *rid,
                    const char *field, const char *value, const char *device,
                    uint64_t counter, uint64_t hlc, const char *user,
                    int64_t *seq)
{
    fdsp_change c;
    int outcome = -1;
    ts_change(&c, tbl, rid, field, value, device, counter, hlc, user);
    assert_int_equal(fsv_store_merge_change(s, &c, &outcome), FSV_OK);
    if (seq)
        *seq = c.seq;
    fdsp_change_clear(&c);
    return outcome;
}

static void expect_fields(fsv_store *s, const char *tbl, const char *rid,
                          const char *field, int count, int has)
{
    int n = -1, h = -1;
    assert_int_equal(fsv_store_field_count(s, tbl, rid, field, &n, &h), FSV_OK);
    assert_int_equal(n, count);
    assert_int_equal(h, has);
}

static void expect_rec(fsv_store *s, const char *tbl, const char *rid,
                       int rc, const char *customer, const char *creator)
{
    char *cu = NULL, *cr = NULL;
    assert_int_equal(fsv_store_record_info(s, tbl, rid, &cu, &cr), rc);
    if (customer)
        assert_string_equal(cu, customer);
    else
        assert_null(cu);
    if (creator)
        assert_string_equal(cr, creator);
    else
        assert_null(cr);
    free(cu);
    free(cr);
}

/* The store's per-transaction record memo: field counts, the record index
** and register existence stay exact across the merges of one batch, agree
** with what a fresh transaction reads from disk, and a rollback forgets
** what the batch did. */
static void test_batch_memo(void **state)
{
    fixture *f = *state;
    int64_t seq = -1;
    assert_int_equal(fsv_store_begin(f->s), FSV_OK);
    expect_fields(f->s, "customer", "c1", "name", 0, 0);
    expect_rec(f->s, "customer", "c1", FSV_NOTFOUND, NULL, NULL);
    assert_int_equal(merge_in(f->s, "customer", "c1", "name", "A", "d1", 1, 1,
                              "alice", NULL), FDS_MERGE_WIN);
    expect_fields(f->s, "customer", "c1", "name", 1, 1);
    expect_fields(f->s, "customer", "c1", "phone", 1, 0);
    expect_rec(f->s, "customer", "c1", FSV_OK, "c1", "alice");
    /* The same change again in the same batch: a no-op, not logged. */
    assert_int_equal(merge_in(f->s, "customer", "c1", "name", "A", "d1", 1, 1,
                              "alice", &seq), FDS_MERGE_NOOP);
    assert_int_equal(seq, 0);
    assert_int_equal(merge_in(f->s, "customer", "c1", "phone", "5", "d1", 2, 2,
                              "alice", NULL), FDS_MERGE_WIN);
    expect_fields(f->s, "customer", "c1", "phone", 2, 1);
    /* A child: no customer first, then attached, then moved (the merged
    ** winner decides), a losing write leaves the link alone. */
    assert_int_equal(merge_in(f->s, "followup", "f1", "content", "x", "d1", 3, 3,
                              "alice", NULL), FDS_MERGE_WIN);
    expect_rec(f->s, "followup", "f1", FSV_OK, NULL, "alice");
    assert_int_equal(merge_in(f->s, "followup", "f1", "customer", "c1", "d1", 4,
                              4, "alice", NULL), FDS_MERGE_WIN);
    expect_rec(f->s, "followup", "f1", FSV_OK, "c1", "alice");
    merge_in(f->s, "followup", "f1", "customer", "c2", "d2", 1, 9, "bob", NULL);
    expect_rec(f->s, "followup", "f1", FSV_OK, "c2", "alice");
    merge_in(f->s, "followup", "f1", "customer", "c3", "d3", 1, 5, "carl", NULL);
    expect_rec(f->s, "followup", "f1", FSV_OK, "c2", "alice");
    /* A new child attached by its first change. */
    merge_in(f->s, "followup", "f2", "customer", "c1", "d2", 2, 10, "bob", NULL);
    expect_rec(f->s, "followup", "f2", FSV_OK, "c1", "bob");
    assert_int_equal(fsv_store_commit(f->s), FSV_OK);

    /* Outside a transaction (no memo) the disk says the same. */
    expect_fields(f->s, "customer", "c1", "name", 2, 1);
    expect_rec(f->s, "customer", "c1", FSV_OK, "c1", "alice");
    expect_rec(f->s, "followup", "f1", FSV_OK, "c2", "alice");
    expect_rec(f->s, "followup", "f2", FSV_OK, "c1", "bob");
    char *v = NULL;
    assert_int_equal(fsv_store_field_value(f->s, "followup", "f1", "customer",
                                           &v), FSV_OK);
    assert_string_equal(v, "c2");
    free(v);

    /* A known record in a new batch: updates go to the stored registers. */
    assert_int_equal(fsv_store_begin(f->s), FSV_OK);
    expect_fields(f->s, "customer", "c1", "name", 2, 1);
    assert_int_equal(merge_in(f->s, "customer", "c1", "name", "B", "d1", 5, 11,
                              "alice", NULL), FDS_MERGE_WIN);
    expect_fields(f->s, "customer", "c1", "name", 2, 1);
    assert_int_equal(merge_in(f->s, "customer", "c1", "name", "B", "d1", 5, 11,
                              "alice", NULL), FDS_MERGE_NOOP);
    /* Back to the first customer: the link moves with the winner. */
    merge_in(f->s, "followup", "f1", "customer", "c1", "d2", 3, 12, "bob", NULL);
    expect_rec(f->s, "followup", "f1", FSV_OK, "c1", "alice");
    assert_int_equal(fsv_store_commit(f->s), FSV_OK);
    assert_int_equal(fsv_store_field_value(f->s, "customer", "c1", "name", &v),
                     FSV_OK);
    assert_string_equal(v, "B");
    free(v);
    expect_rec(f->s, "followup", "f1", FSV_OK, "c1", "alice");

    /* A rolled-back batch is forgotten by the memo too. */
    assert_int_equal(fsv_store_begin(f->s), FSV_OK);
    merge_in(f->s, "customer", "c5", "name", "N", "d1", 6, 13, "alice", NULL);
    merge_in(f->s, "customer", "c1", "email", "e", "d1", 7, 14, "alice", NULL);
    expect_fields(f->s, "customer", "c1", "email", 3, 1);
    expect_rec(f->s, "customer", "c5", FSV_OK, "c5", "alice");
    assert_int_equal(fsv_store_rollback(f->s), FSV_OK);
    assert_int_equal(fsv_store_begin(f->s), FSV_OK);
    expect_rec(f->s, "customer", "c5", FSV_NOTFOUND, NULL, NULL);
    expect_fields(f->s, "customer", "c5", "name", 0, 0);
    expect_fields(f->s, "customer", "c1", "email", 2, 0);
    /* ... and the register it had created is written again, not updated. */
    merge_in(f->s, "customer", "c1", "email", "e", "d1", 7, 14, "alice", NULL);
    assert_int_equal(fsv_store_commit(f->s), FSV_OK);
    expect_fields(f->s, "customer", "c1", "email", 3, 1);
}

/* FDSP_MAX_FIELDS counts the fields a batch adds to a record, in the same
** batch and across batches. */
static void test_field_limit_count(void **state)
{
    fixture *f = *state;
    char field[16];
    assert_int_equal(fsv_store_begin(f->s), FSV_OK);
    for (int i = 0; i < FDSP_MAX_FIELDS - 1; i++) {
        snprintf(field, sizeof field, "f%d", i);
        merge_in(f->s, "customer", "big", field, "v", "d1", (uint64_t)i + 1,
                 (uint64_t)i + 1, "alice", NULL);
    }
    assert_int_equal(fsv_store_commit(f->s), FSV_OK);
    assert_int_equal(fsv_store_begin(f->s), FSV_OK);
    expect_fields(f->s, "customer", "big", "f0", FDSP_MAX_FIELDS - 1, 1);
    merge_in(f->s, "customer", "big", "last", "v", "d1", 100, 100, "alice", NULL);
    expect_fields(f->s, "customer", "big", "more", FDSP_MAX_FIELDS, 0);
    expect_fields(f->s, "customer", "big", "last", FDSP_MAX_FIELDS, 1);
    assert_int_equal(fsv_store_commit(f->s), FSV_OK);
    expect_fields(f->s, "customer", "big", "more", FDSP_MAX_FIELDS, 0);
}

static int note_field(void *ud, const fsv_row *row, int *include)
{
    assert_string_equal(row->customer, "c1");
    assert_string_equal(row->creator, "alice");
    snprintf(ud, 32, "%s", row->field);
    *include = 1;
    return FSV_OK;
}

/* A store made before history_by_rec was dropped: opening it drops the
** index in place and keeps every row; the history still reads by seq. */
static void test_migrate_history_index(void **state)
{
    fixture *f = *state;
    merge(f->s, "customer", "c1", "name", "A", "d1", 1, 1, "alice", NULL);
    fsv_store_close(f->s);
    f->s = NULL;
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->place.path, &db), SQLITE_OK);
    /* Schema 3: the history is group rows (hist). */
    assert_int_equal(sqlite3_exec(db, "CREATE INDEX history_by_rec ON"
                                  " hist(tbl, rid, seq)", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    char err[256];
    assert_int_equal(fsv_store_open(f->place.url, 0, &f->s, err, sizeof err), FSV_OK);
    assert_int_equal(sqlite3_open(f->place.path, &db), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master"
                                        " WHERE name='history_by_rec'", -1, &st,
                                        NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    int64_t n = 0, s2 = 0;
    merge(f->s, "customer", "c1", "phone", "1", "d1", 2, 2, "alice", &s2);
    assert_int_equal(fsv_store_history_count(f->s, &n), FSV_OK);
    assert_int_equal(n, 2);
    assert_int_equal(s2, 2);
    fdsp_change *ch = NULL;
    size_t got = 0;
    int64_t last = 0;
    int more = 0;
    assert_int_equal(fsv_store_begin_read(f->s), FSV_OK);
    assert_int_equal(fsv_store_changes_after(f->s, 0, 10, NULL, NULL, NULL, &ch,
                                             &got, &last, &more), FSV_OK);
    assert_int_equal(fsv_store_rollback(f->s), FSV_OK);
    assert_int_equal(got, 2);
    assert_string_equal(ch[0].field, "name");
    assert_string_equal(ch[1].field, "phone");
    for (size_t i = 0; i < got; i++)
        fdsp_change_clear(&ch[i]);
    free(ch);
    /* A filtered scan shows the filter the row's own field and its record
    ** index entry, and returns the whole rows it keeps. */
    char seen[32] = "";
    assert_int_equal(fsv_store_begin_read(f->s), FSV_OK);
    assert_int_equal(fsv_store_changes_after(f->s, 0, 10, NULL, note_field,
                                             seen, &ch, &got, &last, &more),
                     FSV_OK);
    assert_int_equal(fsv_store_rollback(f->s), FSV_OK);
    assert_string_equal(seen, "name");  /* first row of the record's run */
    assert_int_equal(got, 2);
    assert_int_equal(ch[1].seq, 2);
    assert_string_equal(ch[1].field, "phone");
    assert_string_equal(ch[1].value, "1");
    assert_string_equal(ch[1].device, "d1");
    assert_string_equal(ch[1].user, "alice");
    assert_int_equal(ch[1].vv.n, 1);
    assert_int_equal(last, 2);
    for (size_t i = 0; i < got; i++)
        fdsp_change_clear(&ch[i]);
    free(ch);
}

/* The fan-out set answers as asking fsv_vis_row change by change, and the
** pull's memo filter as fsv_vis_filter_fn row by row. */
static void test_vis_set_and_memo(void **state)
{
    fixture *f = *state;
    add_user(f->s, "alice", "rep", "north");
    add_user(f->s, "bob", "rep", "south");
    add_user(f->s, "carl", "rep", "south");
    add_user(f->s, "mona", "manager", "north");
    add_user(f->s, "sam", "manager", "south");
    add_user(f->s, "root", "admin", "");
    add_user(f->s, "dave", "rep", "north");
    fsv_user us[7] = {user(f->s, "alice"), user(f->s, "bob"),
                      user(f->s, "carl"), user(f->s, "mona"),
                      user(f->s, "sam"), user(f->s, "root"),
                      user(f->s, "dave")};

    /* c1 alice's; c2 bob's, shared with carl; f1 (c1), f2 (c2), f3 orphan
    ** of alice's; d1 a definition. */
    merge(f->s, "customer", "c1", "name", "One", "da", 1, 1, "alice", NULL);
    merge(f->s, "customer", "c2", "name", "Two", "db", 1, 2, "bob", NULL);
    merge(f->s, "share", "c2:carl", "user", "carl", "db", 2, 3, "bob", NULL);
    merge(f->s, "followup", "f1", "customer", "c1", "da", 2, 4, "alice", NULL);
    merge(f->s, "followup", "f2", "customer", "c2", "db", 3, 5, "bob", NULL);
    merge(f->s, "followup", "f3", "content", "x", "da", 3, 6, "alice", NULL);
    merge(f->s, "fielddef", "d1", "label", "L", "dm", 1, 7, "mona", NULL);
    /* c1 shared with dave (live), with bob (unshared), with carl (deleted
    ** set back to "0"); c10's share must not count for c1. */
    merge(f->s, "share", "c1:dave", "user", "dave", "da", 4, 8, "alice", NULL);
    merge(f->s, "share", "c1:bob", "user", "bob", "da", 5, 9, "alice", NULL);
    merge(f->s, "share", "c1:bob", "deleted", "1", "da", 6, 10, "alice", NULL);
    merge(f->s, "share", "c1:carl", "deleted", "0", "da", 7, 11, "alice", NULL);
    merge(f->s, "share", "c10:sam", "user", "sam", "da", 8, 12, "alice", NULL);
    /* The share list answers as the per-user lookup. */
    static const char *const custs[] = {"c1", "c2", "c10", "c9", "c"};
    for (size_t i = 0; i < sizeof custs / sizeof custs[0]; i++) {
        char **sh = NULL;
        size_t nsh = 0;
        assert_int_equal(fsv_store_shared_users(f->s, custs[i], &sh, &nsh),
                         FSV_OK);
        for (size_t k = 0; k < 7; k++) {
            int want = -1, in = 0;
            assert_int_equal(fsv_store_is_shared(f->s, custs[i], us[k].name,
                                                 &want), FSV_OK);
            for (size_t j = 0; j < nsh; j++)
                in |= strcmp(sh[j], us[k].name) == 0;
            assert_int_equal(in, want);
        }
        for (size_t j = 0; j < nsh; j++)
            free(sh[j]);
        free(sh);
    }

    static const char *const batches[][3][2] = {
        {{"customer", "c1"}, {"followup", "f1"}, {NULL, NULL}},
        {{"followup", "f2"}, {"followup", "f2"}, {"customer", "c2"}},
        {{"followup", "f3"}, {NULL, NULL}, {NULL, NULL}},
        {{"followup", "f1"}, {"fielddef", "d1"}, {NULL, NULL}},
        {{"followup", "nosuch"}, {"customer", "c2"}, {NULL, NULL}},
        {{"share", "c1:dave"}, {"followup", "f1"}, {"customer", "c1"}},
    };
    for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++) {
        fdsp_change c[3];
        memset(c, 0, sizeof c);
        size_t n = 0;
        for (size_t i = 0; i < 3 && batches[b][i][0]; i++, n++) {
            c[n].table = (char *)batches[b][i][0];
            c[n].record = (char *)batches[b][i][1];
            c[n].field = (char *)"x";
            c[n].seq = (b == 4 && i == 1) ? 0 : 1;  /* refused: not counted */
        }
        assert_int_equal(fsv_store_begin_read(f->s), FSV_OK);
        fsv_vis_set *set = NULL;
        assert_int_equal(fsv_vis_set_build(f->s, c, n, &set), FSV_OK);
        for (size_t k = 0; k < 7; k++) {
            int want = fsv_vis_sees_all(&us[k]);  /* change by change */
            for (size_t i = 0; i < n && !want; i++) {
                char *cu = NULL, *cr = NULL;
                if (!c[i].seq || fsv_store_record_info(f->s, c[i].table,
                                                       c[i].record, &cu,
                                                       &cr) != FSV_OK)
                    continue;
                fsv_row row = {c[i].table, c[i].record, c[i].field, cu, cr};
                want = sees_row(f->s, &us[k], &row);
                free(cu);
                free(cr);
            }
            assert_int_equal(fsv_vis_set_sees_any(set, &us[k]), want);
            /* The one question, asked without a set, answers the same. */
            assert_int_equal(fsv_vis_sees_any(f->s, &us[k], c, n), want);
        }
        fsv_vis_set_free(set);
        assert_int_equal(fsv_store_rollback(f->s), FSV_OK);
    }

    /* Spot checks of the rules themselves. */
    fdsp_change one;
    memset(&one, 0, sizeof one);
    one.table = (char *)"followup";
    one.record = (char *)"f2";
    one.field = (char *)"x";
    one.seq = 9;
    fsv_vis_set *set = NULL;
    assert_int_equal(fsv_store_begin_read(f->s), FSV_OK);
    assert_int_equal(fsv_vis_set_build(f->s, &one, 1, &set), FSV_OK);
    assert_int_equal(fsv_vis_set_sees_any(set, &us[0]), 0);    /* alice */
    assert_int_equal(fsv_vis_set_sees_any(set, &us[1]), 1);    /* bob */
    assert_int_equal(fsv_vis_set_sees_any(set, &us[2]), 1);    /* carl: shared */
    assert_int_equal(fsv_vis_set_sees_any(set, &us[3]), 0);    /* mona: north */
    assert_int_equal(fsv_vis_set_sees_any(set, &us[4]), 1);    /* sam: south */
    assert_int_equal(fsv_vis_set_sees_any(set, &us[5]), 1);    /* root */
    assert_int_equal(fsv_vis_set_sees_any(set, &us[6]), 0);    /* dave */
    fsv_vis_set_free(set);
    /* c1 through its shares: dave and carl yes, bob (unshared) no. */
    one.table = (char *)"customer";
    one.record = (char *)"c1";
    assert_int_equal(fsv_vis_set_build(f->s, &one, 1, &set), FSV_OK);
    assert_int_equal(fsv_vis_set_sees_any(set, &us[6]), 1);    /* dave */
    assert_int_equal(fsv_vis_set_sees_any(set, &us[2]), 1);    /* carl */
    assert_int_equal(fsv_vis_set_sees_any(set, &us[1]), 0);    /* bob */
    assert_int_equal(fsv_vis_set_sees_any(set, &us[4]), 0);    /* sam */
    fsv_vis_set_free(set);

    /* The memo filter over every row of the history, for each user, twice
    ** (the second pass from the memo). */
    fsv_row rows[] = {
        {"customer", "c1", "name", "c1", "alice"},
        {"customer", "c2", "name", "c2", "bob"},
        {"share", "c2:carl", "user", NULL, "bob"},
        {"followup", "f1", "customer", "c1", "alice"},
        {"followup", "f2", "customer", "c2", "bob"},
        {"followup", "f3", "content", NULL, "alice"},
        {"fielddef", "d1", "label", NULL, "mona"},
        {"followup", "f9", "content", "c9", "bob"},
    };
    for (size_t k = 0; k < 7; k++) {
        struct fsv_vis_filter plain = {f->s, &us[k]};
        struct fsv_vis_memo_filter mf;
        memset(&mf, 0, sizeof mf);
        mf.store = f->s;
        mf.user = &us[k];
        for (int pass = 0; pass < 2; pass++)
            for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
                assert_int_equal(
                    filter_answer(fsv_vis_memo_filter_fn, &mf, &rows[i]),
                    filter_answer(fsv_vis_filter_fn, &plain, &rows[i]));
        fsv_vis_memo_filter_clear(&mf);
    }
    assert_int_equal(fsv_store_rollback(f->s), FSV_OK);
}

/* Opening by URL: an unknown scheme is refused with a message naming it,
** a PostgreSQL URL whose server is not there fails with libpq's reason;
** nothing is opened. */
static void test_open_urls(void **state)
{
    (void)state;
    fsv_store *s = (fsv_store *)1;
    char err[256] = "";
    assert_int_equal(fsv_store_open("postgresql:///fs?host=/nonexistent-fsv",
                                    0, &s, err, sizeof err), FSV_ERROR);
    assert_null(s);
    assert_non_null(strstr(err, "PostgreSQL"));
    assert_int_equal(fsv_store_open("nosuch:x", 0, &s, err, sizeof err),
                     FSV_INVALID);
    assert_non_null(strstr(err, "nosuch:x"));
    assert_int_equal(fsv_store_open("/plain/path.db", 0, &s, err, sizeof err),
                     FSV_INVALID);
    assert_int_equal(fsv_store_open("sqlite:", 0, &s, err, sizeof err),
                     FSV_INVALID);
    assert_null(s);
}

/* Every failing call leaves its own message (never the previous
** failure's), and fsv_errstr names every code. */
static void test_error_messages(void **state)
{
    fixture *f = *state;
    char *v = (char *)"x";
    fds_register reg;
    fsv_user u;
    json_t *list = NULL;
    assert_int_equal(fsv_store_user_add(f->s, "bad:name", "rep", NULL),
                     FSV_INVALID);
    assert_non_null(strstr(fsv_store_errmsg(f->s), "user name"));
    assert_int_equal(fsv_store_field_value(f->s, "customer", "nope", "name",
                                           &v), FSV_NOTFOUND);
    assert_null(v);
    assert_null(strstr(fsv_store_errmsg(f->s), "user name"));
    assert_non_null(strstr(fsv_store_errmsg(f->s), "not found"));
    assert_int_equal(fsv_store_user_add(f->s, "bad:name", "rep", NULL),
                     FSV_INVALID);
    assert_int_equal(fsv_store_api_register(f->s, "customer", "nope", "name",
                                            &reg), FSV_NOTFOUND);
    assert_null(strstr(fsv_store_errmsg(f->s), "user name"));
    assert_non_null(strstr(fsv_store_errmsg(f->s), "nope"));
    assert_int_equal(fsv_store_user_get(f->s, "ghost", &u), FSV_NOTFOUND);
    assert_non_null(strstr(fsv_store_errmsg(f->s), "ghost"));
    assert_int_equal(fsv_store_token_list(f->s, "ghost2", &list),
                     FSV_NOTFOUND);
    assert_null(list);
    assert_non_null(strstr(fsv_store_errmsg(f->s), "ghost2"));
    unsigned char hash[FSV_TOKEN_HASH] = {0};
    assert_int_equal(fsv_store_user_add(f->s, "bad:name", "rep", NULL),
                     FSV_INVALID);
    assert_int_equal(fsv_store_api_token_check(f->s, hash, &u), FSV_NOTFOUND);
    assert_null(strstr(fsv_store_errmsg(f->s), "user name"));
    int codes[] = {FSV_OK, FSV_ERROR, FSV_NOTFOUND, FSV_EXISTS, FSV_NOMEM,
                   FSV_INVALID, FSV_BUSY};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        assert_non_null(fsv_errstr(codes[i]));
        assert_null(strstr(fsv_errstr(codes[i]), "unknown"));
    }
    assert_non_null(strstr(fsv_errstr(12345), "unknown"));
}

/* The user and token lists' JSON shapes (store.c makes them for every
** backend): keys, types, order by name, live token count, null times. */
static void test_list_shapes(void **state)
{
    fixture *f = *state;
    char tok[FSV_TOKEN_LEN + 1], id[FSV_TOKEN_ID_LEN + 1];
    unsigned char hash[FSV_TOKEN_HASH];
    add_user(f->s, "zoe", "manager", "north");
    add_user(f->s, "al", "rep", NULL);
    assert_int_equal(fsv_token_new(tok, hash, id), 0);
    assert_int_equal(fsv_store_token_add(f->s, id, "zoe", hash), FSV_OK);
    json_t *users = NULL, *toks = NULL;
    assert_int_equal(fsv_store_user_list(f->s, &users), FSV_OK);
    assert_int_equal(json_array_size(users), 2);
    json_t *al = json_array_get(users, 0), *zoe = json_array_get(users, 1);
    assert_string_equal(json_string_value(json_object_get(al, "user")), "al");
    assert_string_equal(json_string_value(json_object_get(al, "team")), "");
    assert_true(json_is_false(json_object_get(al, "disabled")));
    assert_true(json_is_string(json_object_get(al, "created")));
    assert_int_equal(json_integer_value(json_object_get(al, "tokens")), 0);
    assert_string_equal(json_string_value(json_object_get(zoe, "role")),
                        "manager");
    assert_int_equal(json_integer_value(json_object_get(zoe, "tokens")), 1);
    assert_int_equal(json_object_size(zoe), 6);
    assert_int_equal(fsv_store_token_list(f->s, "zoe", &toks), FSV_OK);
    assert_int_equal(json_array_size(toks), 1);
    json_t *t0 = json_array_get(toks, 0);
    assert_string_equal(json_string_value(json_object_get(t0, "token_id")), id);
    assert_string_equal(json_string_value(json_object_get(t0, "user")), "zoe");
    assert_true(json_is_string(json_object_get(t0, "created")));
    assert_true(json_is_null(json_object_get(t0, "revoked")));
    assert_true(json_is_null(json_object_get(t0, "last_used")));
    assert_int_equal(json_object_size(t0), 5);
    json_decref(users);
    json_decref(toks);
    /* Devices: newest sync first. */
    json_t *devs = NULL;
    assert_int_equal(fsv_store_device_seen(f->s, "dA", "zoe", id, 1000, 0),
                     FSV_OK);
    assert_int_equal(fsv_store_device_seen(f->s, "dB", "al", id, 2000, 0),
                     FSV_OK);
    assert_int_equal(fsv_store_api_devices(f->s, &devs), FSV_OK);
    assert_int_equal(json_array_size(devs), 2);
    json_t *d0 = json_array_get(devs, 0);
    assert_string_equal(json_string_value(json_object_get(d0, "device")), "dB");
    assert_string_equal(json_string_value(json_object_get(d0, "user")), "al");
    assert_int_equal(json_integer_value(json_object_get(d0, "last_sync_ms")),
                     2000);
    assert_int_equal(json_object_size(d0), 3);
    json_decref(devs);
}

/* A share record gives sight while it lives; deleted "1" ends it, any
** other deleted value does not (store.c's rule, the same on every backend). */
static void test_share_meaning(void **state)
{
    fixture *f = *state;
    int shared = -1;
    assert_int_equal(fsv_store_is_shared(f->s, "c1", "bob", &shared), FSV_OK);
    assert_int_equal(shared, 0);
    merge(f->s, "share", "c1:bob", "customer", "c1", "d1", 1, 1, "alice", NULL);
    assert_int_equal(fsv_store_is_shared(f->s, "c1", "bob", &shared), FSV_OK);
    assert_int_equal(shared, 1);
    assert_int_equal(fsv_store_is_shared(f->s, "c1", "carol", &shared), FSV_OK);
    assert_int_equal(shared, 0);
    merge(f->s, "share", "c1:bob", "deleted", "0", "d1", 2, 2, "alice", NULL);
    assert_int_equal(fsv_store_is_shared(f->s, "c1", "bob", &shared), FSV_OK);
    assert_int_equal(shared, 1);
    /* The one-scan list agrees; a customer whose id is a prefix of
    ** another's ("c1" and "c10") keeps its own shares. */
    merge(f->s, "share", "c1:carol", "customer", "c1", "d1", 4, 4, "alice", NULL);
    merge(f->s, "share", "c10:dave", "customer", "c10", "d1", 5, 5, "alice",
          NULL);
    char **users = NULL;
    size_t n = 0;
    assert_int_equal(fsv_store_shared_users(f->s, "c1", &users, &n), FSV_OK);
    assert_int_equal(n, 2);
    assert_string_equal(users[0], "bob");
    assert_string_equal(users[1], "carol");
    for (size_t i = 0; i < n; i++)
        free(users[i]);
    free(users);
    merge(f->s, "share", "c1:bob", "deleted", "1", "d1", 6, 6, "alice", NULL);
    assert_int_equal(fsv_store_is_shared(f->s, "c1", "bob", &shared), FSV_OK);
    assert_int_equal(shared, 0);
    assert_int_equal(fsv_store_shared_users(f->s, "c1", &users, &n), FSV_OK);
    assert_int_equal(n, 1);
    assert_string_equal(users[0], "carol");
    free(users[0]);
    free(users);
}

int main(void)
{
    ts_store_tag = "store";
    /* The conformance suite: the same tests on every backend. */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_urls),
        cmocka_unit_test_setup_teardown(test_error_messages, ts_store_setup, ts_store_teardown),
        cmocka_unit_test_setup_teardown(test_list_shapes, ts_store_setup, ts_store_teardown),
        cmocka_unit_test_setup_teardown(test_share_meaning, ts_store_setup, ts_store_teardown),
        cmocka_unit_test_setup_teardown(test_merge_history, ts_store_setup, ts_store_teardown),
        cmocka_unit_test_setup_teardown(test_rollback, ts_store_setup, ts_store_teardown),
        cmocka_unit_test_setup_teardown(test_changes_after, ts_store_setup, ts_store_teardown),
        cmocka_unit_test_setup_teardown(test_tokens, ts_store_setup, ts_store_teardown),
        cmocka_unit_test_setup_teardown(test_visibility_rules, ts_store_setup, ts_store_teardown),
        cmocka_unit_test_setup_teardown(test_batch_memo, ts_store_setup, ts_store_teardown),
        cmocka_unit_test_setup_teardown(test_field_limit_count, ts_store_setup, ts_store_teardown),
        cmocka_unit_test_setup_teardown(test_vis_set_and_memo, ts_store_setup, ts_store_teardown),
    };
    /* Tests that look inside the SQLite backend's file. */
    const struct CMUnitTest sqlite_tests[] = {
        cmocka_unit_test_setup_teardown(test_migrate_history_index,
                                        ts_store_setup, ts_store_teardown),
    };
    int failed = 0;
    for (size_t i = 0; i < ts_n_store_backends; i++) {
        char name[64];
        ts_store_current = &ts_store_backends[i];
        snprintf(name, sizeof name, "store conformance: %s", ts_store_current->name);
        failed += _cmocka_run_group_tests(name, tests,
                                          sizeof tests / sizeof tests[0],
                                          NULL, NULL);
        if (strcmp(ts_store_current->name, "sqlite") == 0)
            failed += cmocka_run_group_tests_name("store: sqlite backend",
                                                  sqlite_tests, NULL, NULL);
    }
    return failed;
}
