/*
** test_groups.c — change groups on the wire against the real server
** (PROTOCOL.md §5.1): the welcome says the server reads groups; a peer
** whose hello said "groups" gets pull pages and live batches grouped, an
** old peer that did not gets them plain (the same changes); a grouped push
** is taken like the plain one; and devices syncing through cli_sync()
** (groups on both ways) converge as before.  The peers are raw TLS
** WebSocket clients (rawws), so every byte they get is seen here.
*/
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "fieldsync_proto.h"
#include "harness.h"
#include "rawws.h"

/* Next text message (malloc'd), failing the test on close or timeout. */
static char *next_msg(rw_conn *c, size_t *len)
{
    char *buf = NULL;
    int op = rw_recv(c, &buf, len);
    if (op != 1)
        fail_msg("expected a text message, got opcode %d", op);
    return buf;
}

/* Connect as the admin with device dev; hello with or without "groups"
** (and "live"); the welcome must say the server reads groups. */
static void peer_open(th_server *s, rw_conn *c, const char *dev, int groups)
{
    char hello[256];
    size_t len;
    assert_int_equal(rw_connect(c, s->port, s->ca, 0), 0);
    assert_int_equal(rw_upgrade(c, s->admin, FDSP_SUBPROTOCOL), 101);
    snprintf(hello, sizeof hello, "{\"type\":\"hello\",\"v\":1,\"device\":"
             "\"%s\",\"cursor\":0,\"live\":true%s}", dev,
             groups ? ",\"groups\":true" : "");
    assert_int_equal(rw_send(c, hello), 0);
    char *w = next_msg(c, &len);
    fdsp_msg *m = NULL;
    assert_int_equal(fdsp_decode(w, len, &m, NULL, 0), FDSP_OK);
    assert_int_equal(m->type, FDSP_WELCOME);
    assert_true(m->groups);
    fdsp_msg_free(m);
    free(w);
}

/* Pull everything after `after` in one page; returns the raw message. */
static char *pull_all(rw_conn *c, int64_t after, size_t *len)
{
    char req[96];
    snprintf(req, sizeof req, "{\"type\":\"pull\",\"after\":%lld,"
             "\"limit\":500}", (long long)after);
    assert_int_equal(rw_send(c, req), 0);
    char *b = next_msg(c, len);
    assert_non_null(strstr(b, "\"type\":\"changes\""));
    assert_non_null(strstr(b, "\"more\":false"));
    return b;
}

/* The plain canonical form of a received message (decoded, encoded). */
static char *canonical(const char *b, size_t len, size_t *n_changes)
{
    fdsp_msg *m = NULL;
    char err[256], *out = NULL;
    size_t n;
    if (fdsp_decode(b, len, &m, err, sizeof err) != FDSP_OK)
        fail_msg("undecodable: %s", err);
    /* A live batch's "after" is the peer's own cursor; the rest must be
    ** equal. */
    m->after = 0;
    *n_changes = m->n_changes;
    assert_int_equal(fdsp_encode(m, &out, &n), FDSP_OK);
    fdsp_msg_free(m);
    return out;
}

static void edit(fds_replica *r, const char *id, const char *field,
                 const char *value)
{
    json_t *in = json_pack("{s:s}", field, value), *out = NULL;
    int rc = fds_customer_edit(r, id, in, &out);
    json_decref(in);
    json_decref(out);
    if (rc != FDS_OK)
        fail_msg("edit %s: %s", field, fds_errmsg(r));
}

static const char *const fields[] = {"name", "phone", "email", "wechat",
                                     "company", "title", "birthday", "notes"};

static void test_old_and_new_peers(void **state)
{
    th_server *sp = *state;
    char alice[80];
    th_init(sp);
    th_user(sp, "alice", "rep", "north", alice);
    th_start(sp, NULL);

    /* A device writes a customer of nine fields (its owner among them)
    ** and syncs; another device of the same rep gets it all. */
    fds_replica *a1 = th_replica(sp, "a1"), *a2 = th_replica(sp, "a2");
    json_t *in = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
                           "name", "王小明", "phone", "13800000000",
                           "email", "wxm@example.com", "wechat", "wxm88",
                           "company", "上海物流", "title", "经理",
                           "birthday", "1980-01-02", "notes", "met at a fair");
    json_t *out = NULL;
    assert_int_equal(fds_customer_add(a1, in, &out, NULL), FDS_OK);
    char *id = strdup(json_string_value(json_object_get(out, "id")));
    json_decref(in);
    json_decref(out);
    assert_int_equal(th_sync(sp, a1, alice, NULL), 0);
    assert_int_equal(th_sync(sp, a2, alice, NULL), 0);
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        char *a = th_field(a1, id, fields[i]), *b = th_field(a2, id, fields[i]);
        assert_true(a[0] != '\0');
        assert_string_equal(a, b);
        free(a);
        free(b);
    }

    /* An old peer gets the page plain, a new one grouped: the same
    ** changes, in well under half the bytes. */
    rw_conn old, neu;
    peer_open(sp, &old, "dev-old", 0);
    peer_open(sp, &neu, "dev-new", 1);
    size_t lo, ln, co, cn, no, nn;
    char *po = pull_all(&old, 0, &lo), *pn = pull_all(&neu, 0, &ln);
    assert_null(strstr(po, "\"g\":"));
    assert_non_null(strstr(pn, "\"g\":["));
    char *ko = canonical(po, lo, &no), *kn = canonical(pn, ln, &nn);
    assert_true(no >= 9);
    assert_int_equal(no, nn);
    co = strlen(ko);
    cn = strlen(kn);
    assert_int_equal(co, cn);
    assert_memory_equal(ko, kn, co);
    assert_true(ln * 2 <= lo);
    free(po);
    free(pn);
    free(ko);
    free(kn);
    int64_t head = 0;
    {
        fdsp_msg *m = NULL;
        char *b;
        size_t l;
        /* Both are caught up now; find the head through an empty pull. */
        b = pull_all(&old, 0, &l);
        assert_int_equal(fdsp_decode(b, l, &m, NULL, 0), FDSP_OK);
        head = m->last;
        fdsp_msg_free(m);
        free(b);
        b = pull_all(&neu, head, &l);
        free(b);
        b = pull_all(&old, head, &l);
        free(b);
    }

    /* A live batch: the device edits three fields; the new peer gets them
    ** grouped, the old one plain. */
    edit(a1, id, "phone", "13900000000");
    edit(a1, id, "email", "x@example.com");
    edit(a1, id, "title", "总经理");
    assert_int_equal(th_sync(sp, a1, alice, NULL), 0);
    char *bo = next_msg(&old, &lo), *bn = next_msg(&neu, &ln);
    assert_non_null(strstr(bo, "\"after\":"));
    assert_non_null(strstr(bn, "\"after\":"));
    assert_null(strstr(bo, "\"g\":"));
    assert_non_null(strstr(bn, "\"g\":["));
    ko = canonical(bo, lo, &no);
    kn = canonical(bn, ln, &nn);
    assert_true(no >= 3);           /* each edit may write more than its field */
    assert_int_equal(nn, no);
    assert_string_equal(ko, kn);
    free(bo);
    free(bn);
    free(ko);
    free(kn);

    /* A grouped push from a peer is taken change by change: the old peer
    ** pulls the two plain changes it stands for. */
    const char *push =
        "{\"type\":\"push\",\"batch\":1,\"changes\":[{\"t\":\"customer\","
        "\"r\":\"c-g\",\"d\":\"dev-new\",\"vv\":{\"dev-new\":1},"
        "\"h\":\"0190a1b2c3d40000\",\"g\":[{\"f\":\"name\",\"v\":\"Grouped\"},"
        "{\"f\":\"owner\",\"v\":\"admin\"}]}]}";
    assert_int_equal(rw_send(&neu, push), 0);
    char *ack = NULL;
    for (;;) {                      /* its own live batch may come first */
        ack = next_msg(&neu, &ln);
        if (strstr(ack, "\"type\":\"ack\""))
            break;
        free(ack);
    }
    fdsp_msg *m = NULL;
    assert_int_equal(fdsp_decode(ack, ln, &m, NULL, 0), FDSP_OK);
    assert_int_equal(m->accepted, 2);
    assert_int_equal(m->n_refused, 0);
    fdsp_msg_free(m);
    free(ack);
    bo = next_msg(&old, &lo);       /* the live batch of the push */
    assert_int_equal(fdsp_decode(bo, lo, &m, NULL, 0), FDSP_OK);
    assert_int_equal(m->n_changes, 2);
    assert_string_equal(m->changes[0].record, "c-g");
    assert_string_equal(m->changes[1].field, "owner");
    assert_int_equal(m->changes[1].vv.n, 1);
    assert_string_equal(m->changes[1].vv.e[0].device, "dev-new");
    assert_int_equal(m->changes[1].vv.e[0].counter, 2);
    assert_int_equal(m->changes[1].hlc, 0x0190a1b2c3d40001ULL);
    assert_string_equal(m->changes[1].user, "admin");
    fdsp_msg_free(m);
    free(bo);
    rw_close(&old);
    rw_close(&neu);

    /* And the devices still converge, groups on both ways. */
    assert_int_equal(th_sync(sp, a2, alice, NULL), 0);
    char *t = th_field(a2, id, "title");
    assert_string_equal(t, "总经理");
    free(t);
    free(id);
    fds_replica_close(a1);
    fds_replica_close(a2);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_old_and_new_peers, th_test_setup,
                                        th_test_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
