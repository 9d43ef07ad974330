/*
** test_store.c — the server's SQLite store and the visibility baseline,
** without a network: merge + history (rules 3, 6), changes_after with its
** cursor, device exclusion and filter (rule 7), tokens (hash only,
** revoke, disable) and who may see/write what (rule 8 baseline).
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "store.h"
#include "token.h"
#include "visibility.h"

typedef struct fixture {
    char dir[64];
    char path[128];
    fsv_store *s;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/fsv-store-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof f->path, "%s/store.db", f->dir);
    char err[256];
    if (fsv_store_open(f->path, 1, &f->s, err, sizeof err) != FSV_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char p[160];
    fsv_store_close(f->s);
    const char *sfx[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", f->path, sfx[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

/* A change with a one-entry vector {device: counter}. */
static void mk(fdsp_change *c, const char *tbl, const char *rid,
               const char *field, const char *value, const char *device,
               uint64_t counter, uint64_t hlc, const char *user)
{
    memset(c, 0, sizeof *c);
    c->table = strdup(tbl);
    c->record = strdup(rid);
    c->field = strdup(field);
    c->value = value ? strdup(value) : NULL;
    c->device = strdup(device);
    c->user = strdup(user);
    c->hlc = hlc;
    c->server_ms = 1000;
    c->vv.n = 1;
    c->vv.e = calloc(1, sizeof *c->vv.e);
    c->vv.e[0].device = strdup(device);
    c->vv.e[0].counter = counter;
}

static int merge(fsv_store *s, const char *tbl, const char *rid,
                 const char *field, const char *value, const char *device,
                 uint64_t counter, uint64_t hlc, const char *user,
                 int64_t *seq)
{
    fdsp_change c;
    int outcome = -1;
    mk(&c, tbl, rid, field, value, device, counter, hlc, user);
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
    mk(&c, "customer", "c9", "name", "X", "d1", 1, 5, "alice");
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

static int only_c2(void *ud, const fsv_row *row)
{
    (void)ud;
    return strcmp(row->rid, "c2") == 0 ||
           (row->customer && strcmp(row->customer, "c2") == 0);
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
    assert_int_equal(fsv_token_hash("fs_xyz", h2), -1);
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
    assert_int_equal(fsv_vis_customer(f->s, &alice, "c1"), 1);
    assert_int_equal(fsv_vis_customer(f->s, &bob, "c1"), 0);
    assert_int_equal(fsv_vis_customer(f->s, &mona, "c1"), 1);
    assert_int_equal(fsv_vis_customer(f->s, &hq, "c1"), 1);
    assert_int_equal(fsv_vis_customer(f->s, &root, "c1"), 1);
    fsv_row frow = {"followup", "f1", "content", "c1", "alice"};
    assert_int_equal(fsv_vis_row(f->s, &bob, &frow), 0);
    assert_int_equal(fsv_vis_row(f->s, &alice, &frow), 1);
    fsv_row def = {"fielddef", "budget", "label", NULL, "hq"};
    assert_int_equal(fsv_vis_row(f->s, &bob, &def), 1);

    /* Writes. */
    char why[256];
    fdsp_change c;
    mk(&c, "customer", "c1", "phone", "1", "db", 1, 9, "bob");
    assert_int_equal(fsv_vis_check_write(f->s, &bob, &c, why, sizeof why),
                     FDSP_E_FORBIDDEN);
    assert_non_null(strstr(why, "c1"));
    assert_non_null(strstr(why, "phone"));
    assert_int_equal(fsv_vis_check_write(f->s, &alice, &c, why, sizeof why), 0);
    fdsp_change_clear(&c);
    /* bob attaching his follow-up to alice's customer. */
    mk(&c, "followup", "f2", "customer", "c1", "db", 2, 9, "bob");
    assert_int_equal(fsv_vis_check_write(f->s, &bob, &c, why, sizeof why),
                     FDSP_E_FORBIDDEN);
    fdsp_change_clear(&c);
    /* Definitions: managers yes, reps no. */
    mk(&c, "fielddef", "budget", "label", "B", "db", 3, 9, "bob");
    assert_int_equal(fsv_vis_check_write(f->s, &bob, &c, why, sizeof why),
                     FDSP_E_FORBIDDEN);
    assert_int_equal(fsv_vis_check_write(f->s, &mona, &c, why, sizeof why), 0);
    fdsp_change_clear(&c);

    /* Share c1 with bob: he sees it and may edit, not reassign it. */
    merge(f->s, "share", "c1:bob", "customer", "c1", "da", 4, 4, "alice", NULL);
    merge(f->s, "share", "c1:bob", "user", "bob", "da", 5, 5, "alice", NULL);
    assert_int_equal(fsv_vis_customer(f->s, &bob, "c1"), 1);
    mk(&c, "customer", "c1", "owner", "bob", "db", 4, 9, "bob");
    assert_int_equal(fsv_vis_check_write(f->s, &bob, &c, why, sizeof why),
                     FDSP_E_FORBIDDEN);
    assert_non_null(strstr(why, "owner"));
    /* Nor may alice, the owner (a rep): assigning is a manager's job. */
    assert_int_equal(fsv_vis_check_write(f->s, &alice, &c, why, sizeof why),
                     FDSP_E_FORBIDDEN);
    assert_int_equal(fsv_vis_check_write(f->s, &mona, &c, why, sizeof why), 0);
    fdsp_change_clear(&c);
    merge(f->s, "share", "c1:bob", "deleted", "1", "da", 6, 6, "alice", NULL);
    assert_int_equal(fsv_vis_customer(f->s, &bob, "c1"), 0);

    /* Reassigned to bob (south): bob sees it, alice and mona no longer. */
    merge(f->s, "customer", "c1", "owner", "bob", "da", 7, 7, "alice", NULL);
    assert_int_equal(fsv_vis_customer(f->s, &bob, "c1"), 1);
    assert_int_equal(fsv_vis_customer(f->s, &alice, "c1"), 0);
    assert_int_equal(fsv_vis_customer(f->s, &mona, "c1"), 0);
    assert_int_equal(fsv_vis_customer(f->s, &hq, "c1"), 1);

    /* A brand-new customer is the writer's own. */
    mk(&c, "customer", "new", "name", "N", "db", 5, 9, "bob");
    assert_int_equal(fsv_vis_check_write(f->s, &bob, &c, why, sizeof why), 0);
    fdsp_change_clear(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_merge_history, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_changes_after, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_visibility_rules, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
