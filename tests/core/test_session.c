/*
** test_session.c — the sans-I/O session against a tiny in-test server
** built from the pure merge and a sequence log (not the real server):
** push/ack, resend after a lost ack, batched and resumable pulls, notify,
** revoke, refusals, handshake, and hostile input.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "internal.h"
#include "testenv.h"

/* ---- The in-test server ----------------------------------------------------- */

typedef struct sreg {
    char key[200];
    fds_register reg;
} sreg;

typedef struct srv {
    fdsp_change log[4096];          /* sequenced changes, seq = index + 1 */
    size_t n_log;
    sreg regs[2048];
    size_t n_regs;
    int page;                       /* changes per pull answer */
    const char *user;
    const char *refuse_table;       /* changes to it are refused */
    const char *refuse_value;       /* changes setting it are refused */
    int drop_acks;                  /* commit pushes but lose the acks */
    char *out[16];                  /* replies waiting for the device */
    size_t out_len[16];
    int n_out;
    int64_t pulls;                  /* pull requests seen */
    int64_t last_pull_after;
    /* Trust (rules 12-14), played as docs/internals/trust.md says the real
    ** server does when `trust` is set: */
    int trust;
    char dev[8][40];                /* accepted[]: highest counter per device */
    uint64_t acc[8];
    int n_dev;
    char clash_dev[40];             /* refused from here on (this connection) */
    const char *store;              /* welcome store id and epoch */
    int64_t epoch;
    int64_t time;                   /* welcome time (0: not sent) */
    uint64_t restamp_above;         /* hlc above this is re-stamped (0: never) */
    uint64_t stamp;                 /* the last re-stamp given */
    int hellos;                     /* hellos seen */
    char last_hello_dev[40];
    int64_t last_hello_counter;
    char last_hello_store[40];
    int64_t last_hello_epoch;
} srv;

static void srv_free(srv *s)
{
    for (size_t i = 0; i < s->n_log; i++)
        fdsp_change_clear(&s->log[i]);
    for (size_t i = 0; i < s->n_regs; i++)
        fds_register_clear(&s->regs[i].reg);
    for (int i = 0; i < s->n_out; i++)
        free(s->out[i]);
    free(s);
}

static srv *srv_new(void)
{
    srv *s = calloc(1, sizeof *s);
    s->page = FDSP_MAX_BATCH;
    s->user = "alice";
    return s;
}

static void srv_send(srv *s, const fdsp_msg *m)
{
    char *buf;
    size_t len;
    assert_int_equal(fdsp_encode(m, &buf, &len), FDSP_OK);
    assert_true(s->n_out < 16);
    s->out[s->n_out] = buf;
    s->out_len[s->n_out] = len;
    s->n_out++;
}

static fds_register *srv_reg(srv *s, const fdsp_change *c)
{
    char key[200];
    snprintf(key, sizeof key, "%s/%s/%s", c->table, c->record, c->field);
    for (size_t i = 0; i < s->n_regs; i++)
        if (strcmp(s->regs[i].key, key) == 0)
            return &s->regs[i].reg;
    assert_true(s->n_regs < 2048);
    snprintf(s->regs[s->n_regs].key, sizeof s->regs[0].key, "%s", key);
    return &s->regs[s->n_regs++].reg;
}

/* Merge and sequence one change (the user comes from the "token"). */
static void srv_accept(srv *s, const fdsp_change *pushed)
{
    assert_true(s->n_log < 4096);
    fdsp_change *l = &s->log[s->n_log];
    assert_int_equal(fds__change_copy(l, pushed), FDS_OK);
    free(l->user);
    l->user = strdup(s->user);
    fds_register *reg = srv_reg(s, l);
    fds_register out = {0, NULL};
    int outcome;
    assert_int_equal(fds_merge(reg, l, &out, &outcome), FDS_OK);
    fds_register_clear(reg);
    *reg = out;
    if (outcome == FDS_MERGE_NOOP) {
        fdsp_change_clear(l);
        return;
    }
    l->seq = (int64_t)++s->n_log;
    l->server_ms = 1700000000000 + l->seq;
}

static void srv_changes(srv *s, int64_t after, int limit)
{
    fdsp_msg m;
    memset(&m, 0, sizeof m);
    m.type = FDSP_CHANGES;
    size_t from = (size_t)after, n = s->n_log > from ? s->n_log - from : 0;
    size_t max = (size_t)(limit < s->page ? limit : s->page);
    if (n > max)
        n = max;
    m.changes = n ? &s->log[from] : NULL;
    m.n_changes = n;
    m.last = n ? s->log[from + n - 1].seq : (int64_t)s->n_log;
    m.more = from + n < s->n_log;
    srv_send(s, &m);
}

static uint64_t *srv_acc(srv *s, const char *device)
{
    for (int i = 0; i < s->n_dev; i++)
        if (strcmp(s->dev[i], device) == 0)
            return &s->acc[i];
    assert_true(s->n_dev < 8);
    snprintf(s->dev[s->n_dev], sizeof s->dev[0], "%s", device);
    s->acc[s->n_dev] = 0;
    return &s->acc[s->n_dev++];
}

static int same_change(const fdsp_change *a, const fdsp_change *b)
{
    return !strcmp(a->table, b->table) && !strcmp(a->record, b->record) &&
           !strcmp(a->field, b->field) &&
           ((!a->value && !b->value) ||
            (a->value && b->value && !strcmp(a->value, b->value))) &&
           fds_vv_compare(&a->vv, &b->vv) == FDS_VV_EQUAL;
}

/* Rule 15 step 3 and rule 14 for pushed change c (index i): 1 if it was
** handled here (refused as a clash, or a duplicate already held), 0 if it
** is new (accepted[] moved; c->hlc re-stamped if too far ahead). */
static int srv_trust(srv *s, fdsp_change *c, size_t i, fdsp_refusal *ref,
                     size_t *nref, fdsp_stamp *stamps, size_t *nst)
{
    uint64_t k = fds__vv_get(&c->vv, c->device), *acc = srv_acc(s, c->device);
    if (s->clash_dev[0] && strcmp(s->clash_dev, c->device) == 0)
        goto clash;
    if (k <= *acc) {
        for (size_t j = 0; j < s->n_log; j++) {
            const fdsp_change *l = &s->log[j];
            if (strcmp(l->device, c->device) != 0 ||
                fds__vv_get(&l->vv, l->device) != k)
                continue;
            if (!same_change(l, c))
                goto clash;
            if (l->hlc != c->hlc) {
                stamps[*nst].index = i;
                stamps[(*nst)++].hlc = l->hlc;
            }
            return 1;                   /* a re-sent duplicate */
        }
        goto clash;
    }
    *acc = k;
    if (s->restamp_above && c->hlc > s->restamp_above) {
        s->stamp = s->stamp ? s->stamp + 1 : s->restamp_above - 1000;
        c->hlc = s->stamp;
        stamps[*nst].index = i;
        stamps[(*nst)++].hlc = c->hlc;
    }
    return 0;
clash:
    snprintf(s->clash_dev, sizeof s->clash_dev, "%s", c->device);
    ref[*nref].index = i;
    ref[*nref].code = FDSP_E_CLASH;
    ref[*nref].message = "device clash";
    (*nref)++;
    return 1;
}

static void srv_handle(srv *s, const char *buf, size_t len)
{
    fdsp_msg *in = NULL;
    assert_int_equal(fdsp_decode(buf, len, &in, NULL, 0), FDSP_OK);
    fdsp_msg m;
    memset(&m, 0, sizeof m);
    switch (in->type) {
    case FDSP_HELLO:
        m.type = FDSP_WELCOME;
        m.version = FDSP_VERSION;
        m.user = (char *)s->user;
        m.role = "rep";
        m.device = in->device;
        m.head = (int64_t)s->n_log;
        s->hellos++;
        s->clash_dev[0] = '\0';
        snprintf(s->last_hello_dev, sizeof s->last_hello_dev, "%s",
                 in->device);
        s->last_hello_counter = in->dev_counter;
        snprintf(s->last_hello_store, sizeof s->last_hello_store, "%s",
                 in->store ? in->store : "");
        s->last_hello_epoch = in->epoch;
        if (s->trust) {
            m.dev_counter = (int64_t)*srv_acc(s, in->device);
            m.store = (char *)s->store;
            m.epoch = s->epoch;
            m.server_time = s->time;
        }
        srv_send(s, &m);
        break;
    case FDSP_PUSH: {
        fdsp_refusal ref[FDSP_MAX_BATCH];
        fdsp_stamp stamps[FDSP_MAX_BATCH];
        size_t nref = 0, nst = 0;
        for (size_t i = 0; i < in->n_changes; i++) {
            if (s->trust && srv_trust(s, &in->changes[i], i, ref, &nref,
                                      stamps, &nst))
                continue;
            if ((s->refuse_table &&
                 strcmp(in->changes[i].table, s->refuse_table) == 0) ||
                (s->refuse_value && in->changes[i].value &&
                 strcmp(in->changes[i].value, s->refuse_value) == 0)) {
                ref[nref].index = i;
                ref[nref].code = FDSP_E_FORBIDDEN;
                ref[nref].message = "you may not change that record";
                nref++;
                continue;
            }
            srv_accept(s, &in->changes[i]);
        }
        if (!s->drop_acks) {
            m.type = FDSP_ACK;
            m.batch = in->batch;
            m.accepted = in->n_changes - nref;
            m.refused = nref ? ref : NULL;
            m.n_refused = nref;
            m.stamps = nst ? stamps : NULL;
            m.n_stamps = nst;
            srv_send(s, &m);
        }
        break;
    }
    case FDSP_PULL:
        s->pulls++;
        s->last_pull_after = in->after;
        srv_changes(s, in->after, in->limit);
        break;
    default:
        fail_msg("server got unexpected %s", fdsp_typename(in->type));
    }
    fdsp_msg_free(in);
}

/* Exchange messages until both sides are quiet; max_replies < 0 = no
** limit, else stop after feeding that many replies (an interruption). */
static void pump(fds_session *ss, srv *s, int max_replies)
{
    int fed = 0;
    for (int round = 0; round < 10000; round++) {
        char *buf;
        size_t len;
        int sent = 0;
        while (fds_session_next(ss, &buf, &len) == FDS_OK) {
            srv_handle(s, buf, len);
            free(buf);
            sent = 1;
        }
        if (s->n_out == 0 && !sent)
            return;
        while (s->n_out > 0) {
            if (max_replies >= 0 && fed >= max_replies)
                return;
            char *r = s->out[0];
            size_t rl = s->out_len[0];
            memmove(&s->out[0], &s->out[1], (size_t)(s->n_out - 1) * sizeof s->out[0]);
            memmove(&s->out_len[0], &s->out_len[1], (size_t)(s->n_out - 1) * sizeof s->out_len[0]);
            s->n_out--;
            int rc = fds_session_feed(ss, r, rl);
            free(r);
            fed++;
            assert_int_equal(rc, FDS_OK);
        }
    }
    fail_msg("session did not settle");
}

static void drop_replies(srv *s)
{
    for (int i = 0; i < s->n_out; i++)
        free(s->out[i]);
    s->n_out = 0;
}

/* Full sync of one replica in a fresh session. */
static fds_session_stats sync_once(fds_replica *r, srv *s)
{
    fds_session *ss = NULL;
    assert_int_equal(fds_session_new(r, &ss), FDS_OK);
    pump(ss, s, -1);
    assert_int_equal(fds_session_state(ss), FDS_SESSION_IDLE);
    fds_session_stats st;
    fds_session_stats_get(ss, &st);
    fds_session_free(ss);
    return st;
}

static int64_t outbox(fds_replica *r)
{
    int64_t n = -1;
    assert_int_equal(fds_outbox_count(r, &n), FDS_OK);
    return n;
}

/* The field of the record on r is the string want. */
static void assert_value(fds_replica *r, const char *tbl, const char *rid,
                         const char *field, const char *want)
{
    json_t *o = NULL;
    assert_int_equal(fds__read(r, tbl, rid, &o), FDS_OK);
    const char *v = json_string_value(json_object_get(o, field));
    assert_non_null(v);
    assert_string_equal(v, want);
    json_decref(o);
}

/* ---- Tests ------------------------------------------------------------------- */

static void test_handshake_push_ack(void **state)
{
    (void)state;
    test_env t;
    test_env_init(&t, 1700000000000, 11);
    fds_replica *a = test_open(&t);
    srv *s = srv_new();
    json_t *f = json_pack("{s:s, s:s}", "name", "A", "phone", "1");
    assert_int_equal(fds__write(a, "customer", "c1", f), FDS_OK);
    json_decref(f);
    assert_int_equal(outbox(a), 2);

    fds_session *ss;
    assert_int_equal(fds_session_new(a, &ss), FDS_OK);
    assert_int_equal(fds_session_state(ss), FDS_SESSION_HANDSHAKE);
    char *buf;
    size_t len;
    assert_int_equal(fds_session_next(ss, &buf, &len), FDS_OK);
    assert_non_null(strstr(buf, "\"hello\""));
    assert_non_null(strstr(buf, fds_replica_device(a)));
    /* Nothing more until the welcome arrives. */
    char *b2;
    assert_int_equal(fds_session_next(ss, &b2, &len), FDS_DONE);
    srv_handle(s, buf, strlen(buf));
    free(buf);
    pump(ss, s, -1);
    assert_int_equal(fds_session_state(ss), FDS_SESSION_IDLE);
    assert_string_equal(fds_replica_user(a), "alice");
    char *role = NULL;
    assert_int_equal(fds_meta_get(a, "role", &role), FDS_OK);
    assert_string_equal(role, "rep");
    free(role);
    assert_int_equal(outbox(a), 0);
    assert_int_equal(s->n_log, 2);
    fds_session_stats st;
    fds_session_stats_get(ss, &st);
    assert_int_equal(st.pushed, 2);
    assert_int_equal(st.pulled, 2);         /* own changes come back: no-ops */
    assert_int_equal(st.conflicts, 0);
    assert_string_equal(fds_session_errmsg(ss), "");
    fds_session_free(ss);
    /* The cursor persisted. */
    int64_t cur;
    assert_int_equal(fds__meta_get_i64(a, "cursor", 0, &cur), FDS_OK);
    assert_int_equal(cur, 2);
    fds_replica_close(a);
    srv_free(s);
}

static int64_t count_of(fds_replica *r, const char *sql)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(r->db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* A received change from another device, applied as a pull would. */
/* A server that refuses the value "bad", holding c1.name = "A" from a new
** replica *a. */
static srv *refusing_server(test_env *t, uint64_t seed, fds_replica **a)
{
    test_env_init(t, 1700000000000, seed);
    *a = test_open(t);
    srv *s = srv_new();
    s->refuse_value = "bad";
    assert_int_equal(fds__write1(*a, "customer", "c1", "name", "A"), FDS_OK);
    sync_once(*a, s);
    return s;
}

static void receive(fds_replica *r, const char *rid, uint64_t counter)
{
    fdsp_change c;
    memset(&c, 0, sizeof c);
    c.table = (char *)"customer";
    c.record = (char *)rid;
    c.field = (char *)"name";
    c.value = (char *)"from b";
    c.device = (char *)"bbbbbbbb-0000-4000-8000-000000000000";
    c.user = (char *)"bob";
    c.hlc = (uint64_t)1700000000000 << 16 | counter;
    assert_int_equal(fds__vv_set(&c.vv, c.device, counter), FDS_OK);
    int outcome;
    assert_int_equal(fds__apply(r, &c, &outcome), FDS_OK);
    fdsp_vv_clear(&c.vv);
}

/* An ack marks exactly the pushed rows, whether their lseqs run on (one
** range statement) or are interleaved with received rows; an outbox row
** whose vv text is not in the plain canonical form is pushed as
** fds_vv_parse reads it. */
static void test_ack_runs_and_vv_forms(void **state)
{
    (void)state;
    test_env t;
    test_env_init(&t, 1700000000000, 31);
    fds_replica *a = test_open(&t);
    srv *s = srv_new();
    json_t *f = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "name", "A",
                          "phone", "1", "email", "e", "company", "c",
                          "title", "t", "notes", "n");
    assert_int_equal(fds__write(a, "customer", "c1", f), FDS_OK);  /* 1-6 */
    json_decref(f);
    receive(a, "x1", 1);                                            /* 7 */
    receive(a, "x2", 1);                                            /* 8 */
    assert_int_equal(fds__write1(a, "customer", "c2", "name", "B"), FDS_OK);
    receive(a, "x3", 1);                                            /* 10 */
    assert_int_equal(fds__write1(a, "customer", "c3", "name", "C"), FDS_OK);
    receive(a, "x4", 1);                                            /* 12 */
    f = json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", "D", "phone", "2",
                  "email", "f", "company", "d", "title", "u");
    assert_int_equal(fds__write(a, "customer", "c4", f), FDS_OK);  /* 13-17 */
    json_decref(f);
    assert_int_equal(count_of(a, "SELECT count(*) FROM log"), 17);
    assert_int_equal(outbox(a), 13);
    /* lseq 9: escapes and spaces, which only jansson reads */
    char sql[256];
    /* (schema 4: lseq is a change's address in its group, not its row
    ** number; the 9th change is the one of record c2) */
    snprintf(sql, sizeof sql, "UPDATE log SET vv = '{ \"%.8s\\u002d%s\" : 9 }' "
             "WHERE rid = 'c2'", fds_replica_device(a),
             fds_replica_device(a) + 9);
    assert_int_equal(sqlite3_exec(a->db, sql, NULL, NULL, NULL), SQLITE_OK);

    fds_session_stats st = sync_once(a, s);
    assert_int_equal(st.pushed, 13);
    assert_int_equal(outbox(a), 0);
    assert_int_equal(count_of(a, "SELECT count(*) FROM log WHERE origin = 1 "
                                 "AND acked = 1"), 13);
    assert_int_equal(count_of(a, "SELECT count(*) FROM log WHERE origin = 0 "
                                 "AND acked <> 0"), 0);
    int found = 0;
    for (size_t i = 0; i < s->n_log; i++) {
        const fdsp_change *c = &s->log[i];
        if (strcmp(c->record, "c2") != 0)
            continue;
        found = 1;
        assert_int_equal(c->vv.n, 1);
        assert_string_equal(c->vv.e[0].device, fds_replica_device(a));
        assert_int_equal(c->vv.e[0].counter, 9);
    }
    assert_true(found);
    fds_replica_close(a);
    srv_free(s);
}

/* Rule 6: a change stays in the outbox until acked; resending is harmless. */
static void test_lost_ack_resend(void **state)
{
    (void)state;
    test_env t;
    test_env_init(&t, 1700000000000, 12);
    fds_replica *a = test_open(&t);
    srv *s = srv_new();
    assert_int_equal(fds__write1(a, "customer", "c1", "name", "A"), FDS_OK);
    s->drop_acks = 1;
    fds_session *ss;
    assert_int_equal(fds_session_new(a, &ss), FDS_OK);
    pump(ss, s, -1);
    assert_int_equal(fds_session_state(ss), FDS_SESSION_SYNCING);
    fds_session_free(ss);                   /* connection lost */
    assert_int_equal(s->n_log, 1);          /* committed on the server */
    assert_int_equal(outbox(a), 1);         /* but not acknowledged */

    s->drop_acks = 0;
    fds_session_stats st = sync_once(a, s);
    assert_int_equal(st.pushed, 1);
    assert_int_equal(outbox(a), 0);
    assert_int_equal(s->n_log, 1);          /* the resend was a no-op */
    fds_replica_close(a);
    srv_free(s);
}

/* ---- Pipelined pulls ---------------------------------------------------------- */

/* Give the session's next message to the server; its type name. */
static const char *give(fds_session *ss, srv *s)
{
    char *buf;
    size_t len;
    assert_int_equal(fds_session_next(ss, &buf, &len), FDS_OK);
    fdsp_msg *m = NULL;
    assert_int_equal(fdsp_decode(buf, len, &m, NULL, 0), FDSP_OK);
    const char *type = fdsp_typename(m->type);
    fdsp_msg_free(m);
    srv_handle(s, buf, len);
    free(buf);
    return type;
}

/* Feed the oldest reply; the feed's result. */
static int take(fds_session *ss, srv *s)
{
    assert_true(s->n_out > 0);
    char *r = s->out[0];
    size_t rl = s->out_len[0];
    memmove(&s->out[0], &s->out[1], (size_t)(s->n_out - 1) * sizeof s->out[0]);
    memmove(&s->out_len[0], &s->out_len[1],
            (size_t)(s->n_out - 1) * sizeof s->out_len[0]);
    s->n_out--;
    int rc = fds_session_feed(ss, r, rl);
    free(r);
    return rc;
}

static int64_t cursor_of(fds_replica *r)
{
    int64_t cur = -1;
    assert_int_equal(fds__meta_get_i64(r, "cursor", 0, &cur), FDS_OK);
    return cur;
}

/* customers c0..c9 written on a and pushed to a server that pages by 3. */
static srv *ten_on_server(fds_replica *a)
{
    srv *s = srv_new();
    s->page = 3;
    for (int i = 0; i < 10; i++) {
        char rid[16];
        snprintf(rid, sizeof rid, "c%d", i);
        assert_int_equal(fds__write1(a, "customer", rid, "name", rid), FDS_OK);
    }
    sync_once(a, s);
    return s;
}

/* Of c0..c9, exactly the first n exist on b. */
static void assert_all_exist(fds_replica *b, int n)
{
    for (int i = 0; i < 10; i++) {
        char rid[16];
        snprintf(rid, sizeof rid, "c%d", i);
        assert_int_equal(fds__exists(b, "customer", rid), i < n);
    }
}

/* The pipelined-pull fixture: a server with 10 changes from a in pages of
** 3, and a fresh replica b in a session ss that has had its welcome. */
typedef struct paged {
    test_env t;
    fds_replica *a, *b;
    fds_session *ss;        /* NULL once paged_drop ended it */
    srv *s;
} paged;

static void paged_open(paged *p, uint64_t seed)
{
    test_env_init(&p->t, 1700000000000, seed);
    p->a = test_open(&p->t);
    p->b = test_open(&p->t);
    p->s = ten_on_server(p->a);
    p->s->pulls = 0;
    assert_int_equal(fds_session_new(p->b, &p->ss), FDS_OK);
    assert_string_equal(give(p->ss, p->s), "hello");
    assert_int_equal(take(p->ss, p->s), FDS_OK);
}

/* The link is gone: the session ends and the replies in flight with it. */
static void paged_drop(paged *p)
{
    fds_session_free(p->ss);
    p->ss = NULL;
    drop_replies(p->s);
}

/* A new session brings b up to date: `pulled` changes, all 10 there. */
static void paged_resync(paged *p, int64_t pulled)
{
    fds_session_stats st = sync_once(p->b, p->s);
    assert_int_equal(st.pulled, pulled);
    assert_all_exist(p->b, 10);
}

static void paged_close(paged *p)
{
    fds_session_free(p->ss);
    fds_replica_close(p->a);
    fds_replica_close(p->b);
    srv_free(p->s);
}

/* The pull for page N+1 goes out before page N is applied; the stored
** cursor moves only when a page is applied. */
static void test_pull_pipelined(void **state)
{
    (void)state;
    paged p;
    paged_open(&p, 31);
    assert_string_equal(give(p.ss, p.s), "pull");
    assert_int_equal(p.s->last_pull_after, 0);
    assert_int_equal(take(p.ss, p.s), FDS_OK);          /* page 1: held */
    assert_int_equal(fds_session_apply_pending(p.ss), 1);
    assert_int_equal(cursor_of(p.b), 0);
    assert_string_equal(give(p.ss, p.s), "pull");       /* for page 2 */
    assert_int_equal(p.s->last_pull_after, 3);
    assert_int_equal(cursor_of(p.b), 0);              /* not yet applied */
    assert_all_exist(p.b, 0);
    char *buf;
    size_t len;
    assert_int_equal(fds_session_next(p.ss, &buf, &len), FDS_DONE); /* applies */
    assert_int_equal(fds_session_apply_pending(p.ss), 0);
    assert_int_equal(cursor_of(p.b), 3);
    assert_all_exist(p.b, 3);
    assert_int_equal(fds_session_state(p.ss), FDS_SESSION_SYNCING);
    pump(p.ss, p.s, -1);
    assert_int_equal(fds_session_state(p.ss), FDS_SESSION_IDLE);
    assert_int_equal(cursor_of(p.b), 10);
    assert_all_exist(p.b, 10);
    assert_int_equal(p.s->pulls, 4);                  /* 3 + 3 + 3 + 1 */
    fds_session_stats st;
    fds_session_stats_get(p.ss, &st);
    assert_int_equal(st.pulled, 10);
    paged_close(&p);
}

/* Manual mode: only fds_session_apply applies (or the next feed, first);
** the session is not idle while a page is held. */
static void test_pull_manual_apply(void **state)
{
    (void)state;
    paged p;
    paged_open(&p, 32);
    fds_session_set_manual_apply(p.ss, 1);
    char *buf;
    size_t len;
    assert_int_equal(fds_session_apply(p.ss), FDS_DONE);  /* nothing held */
    assert_string_equal(give(p.ss, p.s), "pull");
    assert_int_equal(take(p.ss, p.s), FDS_OK);              /* page 1 */
    assert_string_equal(give(p.ss, p.s), "pull");           /* after 3 */
    assert_int_equal(fds_session_next(p.ss, &buf, &len), FDS_DONE);
    assert_int_equal(cursor_of(p.b), 0);
    assert_int_equal(fds_session_apply(p.ss), FDS_OK);
    assert_int_equal(cursor_of(p.b), 3);
    assert_int_equal(take(p.ss, p.s), FDS_OK);              /* page 2: held */
    assert_string_equal(give(p.ss, p.s), "pull");           /* after 6 */
    assert_int_equal(p.s->last_pull_after, 6);
    assert_int_equal(cursor_of(p.b), 3);
    assert_int_equal(take(p.ss, p.s), FDS_OK);      /* page 3: page 2 first */
    assert_int_equal(cursor_of(p.b), 6);
    assert_string_equal(give(p.ss, p.s), "pull");           /* after 9 */
    assert_int_equal(fds_session_apply(p.ss), FDS_OK);
    assert_int_equal(cursor_of(p.b), 9);
    assert_int_equal(take(p.ss, p.s), FDS_OK);              /* last page */
    assert_int_equal(fds_session_next(p.ss, &buf, &len), FDS_DONE);
    assert_int_equal(fds_session_state(p.ss), FDS_SESSION_SYNCING);
    assert_int_equal(fds_session_apply_pending(p.ss), 1);
    assert_int_equal(fds_session_apply(p.ss), FDS_OK);
    assert_int_equal(fds_session_next(p.ss, &buf, &len), FDS_DONE);
    assert_int_equal(fds_session_state(p.ss), FDS_SESSION_IDLE);
    assert_int_equal(cursor_of(p.b), 10);
    assert_all_exist(p.b, 10);
    assert_int_equal(p.s->n_out, 0);
    paged_close(&p);
}

/* A held page lost with the session is pulled again by the next one. */
static void test_pull_held_page_lost(void **state)
{
    (void)state;
    paged p;
    paged_open(&p, 33);
    assert_string_equal(give(p.ss, p.s), "pull");
    assert_int_equal(take(p.ss, p.s), FDS_OK);              /* page 1: held */
    assert_string_equal(give(p.ss, p.s), "pull");           /* after 3 */
    paged_drop(&p);                                     /* link gone */
    assert_int_equal(cursor_of(p.b), 0);
    assert_all_exist(p.b, 0);
    p.s->pulls = 0;
    paged_resync(&p, 10);
    assert_int_equal(p.s->pulls, 4);
    paged_close(&p);
}

/* A page that fails to apply fails the session: the page after it, already
** asked for, is not applied, and the next session resumes from the stored
** cursor. */
static void test_pull_failed_apply(void **state)
{
    (void)state;
    paged p;
    paged_open(&p, 34);
    assert_int_equal(sqlite3_exec(p.b->db, "CREATE TEMP TRIGGER boom BEFORE "
        "INSERT ON main.rec WHEN NEW.rid = 'c4' BEGIN SELECT RAISE(ABORT, "
        "'boom'); END", NULL, NULL, NULL), SQLITE_OK);
    char *buf;
    size_t len;
    assert_string_equal(give(p.ss, p.s), "pull");
    assert_int_equal(take(p.ss, p.s), FDS_OK);              /* page 1 */
    assert_string_equal(give(p.ss, p.s), "pull");           /* after 3 */
    assert_int_equal(fds_session_next(p.ss, &buf, &len), FDS_DONE);
    assert_int_equal(cursor_of(p.b), 3);
    assert_int_equal(take(p.ss, p.s), FDS_OK);              /* page 2: c3-c5 */
    assert_string_equal(give(p.ss, p.s), "pull");           /* after 6 */
    assert_int_equal(fds_session_next(p.ss, &buf, &len), FDS_DB);
    assert_int_equal(fds_session_state(p.ss), FDS_SESSION_FAILED);
    assert_int_equal(take(p.ss, p.s), FDS_PROTO);           /* page 3 refused */
    assert_int_equal(fds_session_apply(p.ss), FDS_DONE);
    assert_int_equal(cursor_of(p.b), 3);
    assert_all_exist(p.b, 3);
    paged_drop(&p);
    assert_int_equal(sqlite3_exec(p.b->db, "DROP TRIGGER boom", NULL, NULL,
                                  NULL), SQLITE_OK);
    paged_resync(&p, 7);
    paged_close(&p);
}

/* A page read ahead (its pull after already out) that does not decode
** fails the session when it is to be applied: nothing of it, nor of the
** page after it, is applied. */
static void test_pull_read_ahead_bad(void **state)
{
    (void)state;
    paged p;
    paged_open(&p, 36);
    assert_string_equal(give(p.ss, p.s), "pull");
    drop_replies(p.s);
    static const char bad[] =
        "{\"type\":\"changes\",\"changes\":[{\"bogus\":1}],\"last\":3,"
        "\"more\":true}";
    assert_int_equal(fds_session_feed(p.ss, bad, sizeof bad - 1), FDS_OK);
    assert_string_equal(give(p.ss, p.s), "pull");           /* after 3 */
    assert_int_equal(p.s->last_pull_after, 3);
    char *buf;
    size_t len;
    assert_int_equal(fds_session_next(p.ss, &buf, &len), FDS_PROTO);
    assert_int_equal(fds_session_state(p.ss), FDS_SESSION_FAILED);
    assert_non_null(strstr(fds_session_errmsg(p.ss), "undecodable"));
    assert_int_equal(take(p.ss, p.s), FDS_PROTO);           /* page 2 refused */
    assert_int_equal(cursor_of(p.b), 0);
    assert_all_exist(p.b, 0);
    paged_drop(&p);
    paged_resync(&p, 10);
    paged_close(&p);
}

/* A message arriving while a page is held takes effect after that page:
** a revoke of a record in it leaves nothing behind. */
static void test_pull_held_then_revoke(void **state)
{
    (void)state;
    paged p;
    paged_open(&p, 35);
    assert_string_equal(give(p.ss, p.s), "pull");
    assert_int_equal(take(p.ss, p.s), FDS_OK);              /* page 1: held */
    fdsp_record_ref rec = {"customer", "c1"};
    fdsp_msg m;
    memset(&m, 0, sizeof m);
    m.type = FDSP_REVOKE;
    m.records = &rec;
    m.n_records = 1;
    srv_send(p.s, &m);
    assert_int_equal(take(p.ss, p.s), FDS_OK);              /* the revoke */
    assert_int_equal(cursor_of(p.b), 3);
    assert_int_equal(fds__exists(p.b, "customer", "c0"), 1);
    assert_int_equal(fds__exists_any(p.b, "customer", "c1"), 0);
    pump(p.ss, p.s, -1);
    assert_int_equal(fds_session_state(p.ss), FDS_SESSION_IDLE);
    assert_int_equal(fds__exists_any(p.b, "customer", "c1"), 0);
    assert_int_equal(fds__exists(p.b, "customer", "c9"), 1);
    paged_close(&p);
}

/* Rule 7: pulls come in batches and an interrupted pull resumes. */
static void test_pull_batches_resume(void **state)
{
    (void)state;
    test_env t;
    test_env_init(&t, 1700000000000, 13);
    fds_replica *a = test_open(&t), *b = test_open(&t);
    srv *s = ten_on_server(a);
    assert_int_equal(s->n_log, 10);

    /* B: handshake + first page only, then the link drops. */
    fds_session *ss;
    assert_int_equal(fds_session_new(b, &ss), FDS_OK);
    pump(ss, s, 2);                         /* welcome, first changes */
    drop_replies(s);
    fds_session_free(ss);
    int64_t cur;
    assert_int_equal(fds__meta_get_i64(b, "cursor", 0, &cur), FDS_OK);
    assert_int_equal(cur, 3);
    assert_int_equal(fds__exists(b, "customer", "c2"), 1);
    assert_int_equal(fds__exists(b, "customer", "c3"), 0);

    s->pulls = 0;
    fds_session_stats st = sync_once(b, s);
    assert_int_equal(st.pulled, 7);         /* resumed after 3 */
    assert_int_equal(s->pulls, 3);          /* 3 + 3 + 1 */
    assert_all_exist(b, 10);
    /* Received changes are logged with their server sequence. */
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(b->db, "SELECT count(*), max(sseq) "
                     "FROM log WHERE origin = 0", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), 10);
    assert_int_equal(sqlite3_column_int(q, 1), 10);
    sqlite3_finalize(q);
    fds_replica_close(a);
    fds_replica_close(b);
    srv_free(s);
}

/* Statements that set synchronous=NORMAL on a connection (trace hook). */
static int count_normal(unsigned type, void *ud, void *p, void *x)
{
    (void)type;
    (void)p;
    if (strstr((const char *)x, "synchronous=NORMAL"))
        ++*(int *)ud;
    return 0;
}

static int sync_level(fds_replica *r)
{
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(r->db, "PRAGMA synchronous", -1, &q,
                                        NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    int v = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    return v;
}

/* A file replica commits a pulled page and a push's acks without an fsync
** (synchronous=NORMAL: the server holds both), and a rep's own writes at
** FULL: the level is FULL again after every sync transaction. */
static void test_sync_commits_relaxed(void **state)
{
    (void)state;
    test_env t;
    test_env_init(&t, 1700000000000, 29);
    char dir[] = "/tmp/fds-relaxed-XXXXXX", pa[64], pb[64], err[256];
    assert_non_null(mkdtemp(dir));
    snprintf(pa, sizeof pa, "%s/a.db", dir);
    snprintf(pb, sizeof pb, "%s/b.db", dir);
    fds_replica *a, *b;
    assert_int_equal(fds_replica_open(pa, &t.env, &a, err, sizeof err), FDS_OK);
    assert_int_equal(fds_replica_open(pb, &t.env, &b, err, sizeof err), FDS_OK);
    int na = 0, nb = 0;
    sqlite3_trace_v2(a->db, SQLITE_TRACE_STMT, count_normal, &na);
    sqlite3_trace_v2(b->db, SQLITE_TRACE_STMT, count_normal, &nb);
    assert_int_equal(sync_level(a), 2);

    assert_int_equal(fds__write1(a, "customer", "c1", "name", "x"), FDS_OK);
    assert_int_equal(na, 0);                /* a rep's write: FULL */
    srv *s = srv_new();
    sync_once(a, s);                        /* push, ack */
    assert_true(na >= 1);
    assert_int_equal(sync_level(a), 2);
    sync_once(b, s);                        /* pull a page */
    assert_true(nb >= 1);
    assert_int_equal(sync_level(b), 2);
    assert_int_equal(fds__exists(b, "customer", "c1"), 1);
    na = 0;
    assert_int_equal(fds__write1(a, "customer", "c1", "name", "y"), FDS_OK);
    assert_int_equal(na, 0);

    fds_replica_close(a);
    fds_replica_close(b);
    srv_free(s);
    unlink(pa);
    unlink(pb);
    char side[80];
    const char *suffix[] = {"-wal", "-shm"};
    for (int i = 0; i < 2; i++) {
        snprintf(side, sizeof side, "%s%s", pa, suffix[i]);
        unlink(side);
        snprintf(side, sizeof side, "%s%s", pb, suffix[i]);
        unlink(side);
    }
    rmdir(dir);
}

/* Live: a notify beyond the cursor starts a pull on an idle session. */
static void test_notify_triggers_pull(void **state)
{
    (void)state;
    test_env t;
    test_env_init(&t, 1700000000000, 14);
    fds_replica *a = test_open(&t), *b = test_open(&t);
    srv *s = srv_new();
    fds_session *sb;
    assert_int_equal(fds_session_new(b, &sb), FDS_OK);
    pump(sb, s, -1);
    assert_int_equal(fds_session_state(sb), FDS_SESSION_IDLE);
    char *buf;
    size_t len;
    assert_int_equal(fds_session_next(sb, &buf, &len), FDS_DONE);

    assert_int_equal(fds__write1(a, "customer", "c1", "name", "from A"), FDS_OK);
    sync_once(a, s);

    /* A notify that is not news changes nothing. */
    fdsp_msg m;
    memset(&m, 0, sizeof m);
    m.type = FDSP_NOTIFY;
    m.head = 0;
    srv_send(s, &m);
    pump(sb, s, -1);
    assert_int_equal(fds__exists(b, "customer", "c1"), 0);

    m.head = (int64_t)s->n_log;
    srv_send(s, &m);
    pump(sb, s, -1);
    assert_int_equal(fds_session_state(sb), FDS_SESSION_IDLE);
    assert_value(b, "customer", "c1", "name", "from A");

    /* Local change in watch mode: pushed without a new session. */
    assert_int_equal(fds__write1(b, "customer", "c1", "phone", "9"), FDS_OK);
    fds_session_local_changed(sb);
    pump(sb, s, -1);
    assert_int_equal(outbox(b), 0);
    fds_session_stats st;
    fds_session_stats_get(sb, &st);
    assert_int_equal(st.pushed, 2);         /* phone + deleted="0" */
    fds_session_free(sb);
    fds_replica_close(a);
    fds_replica_close(b);
    srv_free(s);
}

/* A notify that reaches a session before its welcome (the server's
** fan-out racing a hello said again on the same connection, rule 12) is
** dropped: the pull after the welcome brings what it announced. */
static void test_notify_before_welcome(void **state)
{
    (void)state;
    test_env t;
    test_env_init(&t, 1700000000000, 15);
    fds_replica *a = test_open(&t), *b = test_open(&t);
    srv *s = srv_new();
    assert_int_equal(fds__write1(a, "customer", "c1", "name", "from A"), FDS_OK);
    sync_once(a, s);
    fds_session *sb;
    assert_int_equal(fds_session_new(b, &sb), FDS_OK);
    char *buf;
    size_t len;
    assert_int_equal(fds_session_next(sb, &buf, &len), FDS_OK);   /* hello */
    fdsp_msg m;
    memset(&m, 0, sizeof m);
    m.type = FDSP_NOTIFY;
    m.head = (int64_t)s->n_log;
    char *nb = NULL;
    size_t nl = 0;
    assert_int_equal(fdsp_encode(&m, &nb, &nl), FDSP_OK);
    assert_int_equal(fds_session_feed(sb, nb, nl), FDS_OK);
    free(nb);
    assert_int_equal(fds_session_state(sb), FDS_SESSION_HANDSHAKE);
    srv_handle(s, buf, strlen(buf));
    free(buf);
    pump(sb, s, -1);
    assert_int_equal(fds_session_state(sb), FDS_SESSION_IDLE);
    assert_value(b, "customer", "c1", "name", "from A");
    fds_session_free(sb);
    fds_replica_close(a);
    fds_replica_close(b);
    srv_free(s);
}

static void test_revoke_purges(void **state)
{
    (void)state;
    test_env t;
    test_env_init(&t, 1700000000000, 15);
    fds_replica *b = test_open(&t);
    srv *s = srv_new();
    assert_int_equal(fds__write1(b, "customer", "c1", "name", "gone"), FDS_OK);
    assert_int_equal(fds__write1(b, "followup", "f1", "customer", "c1"), FDS_OK);
    assert_int_equal(fds__write1(b, "customer", "c2", "name", "stays"), FDS_OK);
    fds_session *sb;
    assert_int_equal(fds_session_new(b, &sb), FDS_OK);
    pump(sb, s, -1);
    fdsp_record_ref rec = {"customer", "c1"};
    fdsp_msg m;
    memset(&m, 0, sizeof m);
    m.type = FDSP_REVOKE;
    m.records = &rec;
    m.n_records = 1;
    srv_send(s, &m);
    pump(sb, s, -1);
    assert_int_equal(fds__exists(b, "customer", "c1"), 0);
    assert_int_equal(fds__exists(b, "followup", "f1"), 0);
    assert_int_equal(fds__exists(b, "customer", "c2"), 1);
    fds_session_stats st;
    fds_session_stats_get(sb, &st);
    assert_int_equal(st.revoked, 1);
    fds_session_free(sb);

    /* A dependant made only of refused writes has no register left, but
    ** its log rows still name the customer: a revoke removes them too. */
    s->refuse_table = "share";
    assert_int_equal(fds__write1(b, "share", "c2:x", "customer", "c2"), FDS_OK);
    assert_int_equal(fds__write1(b, "followup", "f2", "customer", "c2"), FDS_OK);
    sync_once(b, s);
    assert_int_equal(fds__exists_any(b, "share", "c2:x"), 0);
    assert_int_equal(count_of(b, "SELECT count(*) FROM log WHERE tbl = "
                                 "'share'"), 1);
    assert_int_equal(fds_session_new(b, &sb), FDS_OK);
    pump(sb, s, -1);
    rec.record = "c2";
    srv_send(s, &m);
    pump(sb, s, -1);
    fds_session_free(sb);
    assert_int_equal(fds__exists(b, "customer", "c2"), 0);
    assert_int_equal(count_of(b, "SELECT count(*) FROM log WHERE value = 'c2' "
                                 "OR rid = 'c2'"), 0);
    assert_int_equal(count_of(b, "SELECT count(*) FROM reg WHERE value = 'c2' "
                                 "OR rid = 'c2'"), 0);
    fds_replica_close(b);
    srv_free(s);
}

/* Rule 8: a refused change is dropped from the outbox and recorded; the
** rest of the batch is unaffected. */
static void test_refusal_recorded(void **state)
{
    (void)state;
    test_env t;
    test_env_init(&t, 1700000000000, 16);
    fds_replica *a = test_open(&t);
    srv *s = srv_new();
    s->refuse_table = "secret";
    assert_int_equal(fds__write1(a, "customer", "c1", "name", "ok"), FDS_OK);
    assert_int_equal(fds__write1(a, "secret", "s1", "name", "no"), FDS_OK);
    assert_int_equal(fds__write1(a, "customer", "c2", "name", "ok2"), FDS_OK);
    fds_session_stats st = sync_once(a, s);
    assert_int_equal(st.pushed, 2);
    assert_int_equal(st.refused, 1);
    assert_int_equal(outbox(a), 0);
    assert_int_equal(s->n_log, 2);
    json_t *list = NULL;
    assert_int_equal(fds_refusals(a, &list), FDS_OK);
    assert_int_equal(json_array_size(list), 1);
    json_t *r0 = json_array_get(list, 0);
    assert_string_equal(json_string_value(json_object_get(r0, "table")), "secret");
    assert_string_equal(json_string_value(json_object_get(r0, "record")), "s1");
    assert_string_equal(json_string_value(json_object_get(r0, "value")), "no");
    assert_int_equal(json_integer_value(json_object_get(r0, "code")),
                     FDSP_E_FORBIDDEN);
    assert_non_null(strstr(json_string_value(json_object_get(r0, "message")),
                           "may not"));
    json_decref(list);
    fds_replica_close(a);
    srv_free(s);
}

/* The stored register text ("" when there is no reg row) and flag. */
static char *reg_versions(fds_replica *r, const char *tbl, const char *rid,
                          const char *field, int *conflict)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(r->db,
        "SELECT versions, conflict FROM reg WHERE tbl = ?1 AND rid = ?2 "
        "AND field = ?3", -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_text(st, 1, tbl, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, rid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, field, -1, SQLITE_STATIC);
    char *out;
    if (sqlite3_step(st) == SQLITE_ROW) {
        out = strdup((const char *)sqlite3_column_text(st, 0));
        if (conflict)
            *conflict = sqlite3_column_int(st, 1);
    } else {
        out = strdup("");
        if (conflict)
            *conflict = -1;
    }
    sqlite3_finalize(st);
    return out;
}

/* The fake server's register text for tbl/rid/field ("" if none). */
static char *srv_versions(srv *s, const char *tbl, const char *rid,
                          const char *field)
{
    char key[200];
    snprintf(key, sizeof key, "%s/%s/%s", tbl, rid, field);
    for (size_t i = 0; i < s->n_regs; i++)
        if (strcmp(s->regs[i].key, key) == 0)
            return fds__register_dump(&s->regs[i].reg);
    return strdup("");
}

static void assert_same_as_server(fds_replica *r, srv *s, const char *tbl,
                                  const char *rid, const char *field)
{
    char *mine = reg_versions(r, tbl, rid, field, NULL);
    char *theirs = srv_versions(s, tbl, rid, field);
    assert_string_equal(mine, theirs);
    free(mine);
    free(theirs);
}

/* Does the history of customer rid mention value v? */
static int history_has(fds_replica *r, const char *rid, const char *v)
{
    json_t *h = NULL;
    assert_int_equal(fds_history(r, rid, &h), FDS_OK);
    int found = 0;
    size_t i;
    json_t *e;
    json_array_foreach(h, i, e) {
        const char *x = json_string_value(json_object_get(e, "value"));
        const char *p = json_string_value(json_object_get(e, "previous"));
        found |= (x && strcmp(x, v) == 0) || (p && strcmp(p, v) == 0);
    }
    json_decref(h);
    return found;
}

static size_t n_conflicts(fds_replica *r)
{
    json_t *c = NULL;
    assert_int_equal(fds_conflicts(r, &c), FDS_OK);
    size_t n = json_array_size(c);
    json_decref(c);
    return n;
}

/* A refused change leaves the register as it was before it: the same
** versions and bytes as the server's, whether one or several writes of
** the field were refused in a batch; a record made only of refused writes
** disappears; the refused value does not show in the history. */
static void test_refusal_rebuilds_register(void **state)
{
    (void)state;
    test_env t;
    test_env_init(&t, 1700000000000, 21);
    fds_replica *a = test_open(&t);
    srv *s = srv_new();
    s->refuse_value = "bad";
    s->refuse_table = "secret";
    json_t *f = json_pack("{s:s, s:s}", "name", "A", "phone", "1");
    assert_int_equal(fds__write(a, "customer", "c1", f), FDS_OK);
    json_decref(f);
    sync_once(a, s);
    int conflict;
    char *before = reg_versions(a, "customer", "c1", "name", &conflict);
    assert_int_equal(conflict, 0);
    assert_same_as_server(a, s, "customer", "c1", "name");

    /* One refused write. */
    assert_int_equal(fds__write1(a, "customer", "c1", "name", "bad"), FDS_OK);
    assert_value(a, "customer", "c1", "name", "bad");
    fds_session_stats st = sync_once(a, s);
    assert_int_equal(st.refused, 1);
    char *after = reg_versions(a, "customer", "c1", "name", &conflict);
    assert_string_equal(after, before);
    assert_int_equal(conflict, 0);
    free(after);
    assert_same_as_server(a, s, "customer", "c1", "name");
    assert_same_as_server(a, s, "customer", "c1", "deleted");
    assert_false(history_has(a, "c1", "bad"));
    assert_true(history_has(a, "c1", "A"));
    assert_int_equal(count_of(a, "SELECT count(*) FROM log WHERE origin = 1 "
                                 "AND acked = 2"), 1);

    /* Several refused writes of one field in one batch. */
    assert_int_equal(fds__write1(a, "customer", "c1", "name", "bad"), FDS_OK);
    assert_int_equal(fds__write1(a, "customer", "c1", "name", "bad"), FDS_OK);
    assert_int_equal(fds__write1(a, "customer", "c1", "phone", "bad"), FDS_OK);
    st = sync_once(a, s);
    assert_int_equal(st.refused, 3);
    after = reg_versions(a, "customer", "c1", "name", &conflict);
    assert_string_equal(after, before);
    free(after);
    assert_value(a, "customer", "c1", "phone", "1");
    assert_same_as_server(a, s, "customer", "c1", "name");
    assert_same_as_server(a, s, "customer", "c1", "phone");
    assert_false(history_has(a, "c1", "bad"));

    /* A record made only of refused writes disappears. */
    f = json_pack("{s:s, s:s}", "name", "S", "phone", "2");
    assert_int_equal(fds__write(a, "secret", "s1", f), FDS_OK);
    json_decref(f);
    assert_int_equal(fds__exists_any(a, "secret", "s1"), 1);
    st = sync_once(a, s);
    assert_int_equal(st.refused, 2);
    assert_int_equal(fds__exists_any(a, "secret", "s1"), 0);
    assert_int_equal(count_of(a, "SELECT count(*) FROM reg WHERE tbl = "
                                 "'secret'"), 0);
    json_t *list = NULL;
    assert_int_equal(fds_refusals(a, &list), FDS_OK);
    assert_int_equal(json_array_size(list), 6);
    json_decref(list);
    /* Nothing comes back on a later sync. */
    sync_once(a, s);
    after = reg_versions(a, "customer", "c1", "name", NULL);
    assert_string_equal(after, before);
    free(after);
    assert_int_equal(fds__exists_any(a, "secret", "s1"), 0);
    free(before);
    fds_replica_close(a);
    srv_free(s);
}

/* A local write made on top of a refused one before the refusal arrived
** stays (it is still to be pushed and judged on its own): the register is
** that write alone, and once it is accepted, equal to the server's. */
static void test_refusal_under_pending_write(void **state)
{
    (void)state;
    test_env t;
    fds_replica *a;
    srv *s = refusing_server(&t, 22, &a);
    assert_int_equal(fds__write1(a, "customer", "c1", "name", "bad"), FDS_OK);

    fds_session *ss;
    assert_int_equal(fds_session_new(a, &ss), FDS_OK);
    char *buf;
    size_t len;
    /* hello -> welcome */
    assert_int_equal(fds_session_next(ss, &buf, &len), FDS_OK);
    srv_handle(s, buf, len);
    free(buf);
    assert_int_equal(s->n_out, 1);
    assert_int_equal(fds_session_feed(ss, s->out[0], s->out_len[0]), FDS_OK);
    drop_replies(s);
    /* push of "bad" (and deleted = "0"); the ack is held back */
    assert_int_equal(fds_session_next(ss, &buf, &len), FDS_OK);
    assert_non_null(strstr(buf, "\"push\""));
    srv_handle(s, buf, len);
    free(buf);
    assert_int_equal(s->n_out, 1);
    /* meanwhile the user writes again */
    assert_int_equal(fds__write1(a, "customer", "c1", "name", "good"), FDS_OK);
    assert_int_equal(outbox(a), 4);
    pump(ss, s, 1);                     /* the ack: "bad" refused */
    assert_value(a, "customer", "c1", "name", "good");
    assert_int_equal(outbox(a), 2);     /* "good" and its deleted = "0" */
    fds_register reg = {0, NULL};
    assert_int_equal(fds__reg_load(a, "customer", "c1", "name", &reg), FDS_OK);
    assert_int_equal(reg.n, 1);
    fds_register_clear(&reg);
    pump(ss, s, -1);
    fds_session_free(ss);
    sync_once(a, s);
    assert_int_equal(outbox(a), 0);
    assert_same_as_server(a, s, "customer", "c1", "name");
    assert_same_as_server(a, s, "customer", "c1", "deleted");
    assert_false(history_has(a, "c1", "bad"));
    assert_true(history_has(a, "c1", "good"));
    fds_replica_close(a);
    srv_free(s);
}

/* A refused write that had settled a conflict: the conflict comes back as
** it was; a refused write in conflict with a received one: the conflict
** goes. */
static void test_refusal_and_conflicts(void **state)
{
    (void)state;
    test_env t;
    fds_replica *a;
    srv *s = refusing_server(&t, 23, &a);
    receive(a, "c1", 1);                /* concurrent with "A" */
    int conflict;
    char *before = reg_versions(a, "customer", "c1", "name", &conflict);
    assert_int_equal(conflict, 1);
    assert_int_equal(n_conflicts(a), 1);
    /* settle it with a write the server refuses */
    assert_int_equal(fds__write1(a, "customer", "c1", "name", "bad"), FDS_OK);
    assert_int_equal(n_conflicts(a), 0);
    fds_session_stats st = sync_once(a, s);
    assert_int_equal(st.refused, 1);
    char *after = reg_versions(a, "customer", "c1", "name", &conflict);
    assert_string_equal(after, before);
    assert_int_equal(conflict, 1);
    assert_int_equal(n_conflicts(a), 1);
    free(after);
    free(before);

    /* c2: a refused write, then a concurrent received one: both held until
    ** the refusal, then the received one alone. */
    assert_int_equal(fds__write1(a, "customer", "c2", "name", "bad"), FDS_OK);
    receive(a, "c2", 2);
    char *with = reg_versions(a, "customer", "c2", "name", &conflict);
    assert_int_equal(conflict, 1);
    free(with);
    st = sync_once(a, s);
    assert_int_equal(st.refused, 1);
    assert_value(a, "customer", "c2", "name", "from b");
    fds_register reg = {0, NULL};
    assert_int_equal(fds__reg_load(a, "customer", "c2", "name", &reg), FDS_OK);
    assert_int_equal(reg.n, 1);
    assert_string_equal(reg.v[0].user, "bob");
    fds_register_clear(&reg);
    assert_int_equal(n_conflicts(a), 1);   /* c1 only */
    fds_replica_close(a);
    srv_free(s);
}

/* More than one batch, window of several in flight. */
static void test_many_batches(void **state)
{
    (void)state;
    test_env t;
    test_env_init(&t, 1700000000000, 17);
    fds_replica *a = test_open(&t);
    srv *s = srv_new();
    assert_int_equal(fds_begin(a), FDS_OK);
    for (int i = 0; i < 1203; i++) {
        char rid[16];
        snprintf(rid, sizeof rid, "c%d", i);
        assert_int_equal(fds__write1(a, "customer", rid, "name", "n"), FDS_OK);
    }
    assert_int_equal(fds_commit(a), FDS_OK);
    fds_session *ss;
    assert_int_equal(fds_session_new(a, &ss), FDS_OK);
    char *buf;
    size_t len;
    assert_int_equal(fds_session_next(ss, &buf, &len), FDS_OK);
    srv_handle(s, buf, len);
    free(buf);
    assert_int_equal(fds_session_feed(ss, s->out[0], s->out_len[0]), FDS_OK);
    drop_replies(s);
    /* Three pushes go out before any ack (500 + 500 + 203). */
    int pushes = 0;
    while (fds_session_next(ss, &buf, &len) == FDS_OK) {
        assert_non_null(strstr(buf, "\"push\""));
        srv_handle(s, buf, len);
        free(buf);
        pushes++;
    }
    assert_int_equal(pushes, 3);
    assert_int_equal(s->n_out, 3);
    pump(ss, s, -1);
    assert_int_equal(outbox(a), 0);
    fds_session_stats st;
    fds_session_stats_get(ss, &st);
    assert_int_equal(st.pushed, 1203);
    fds_session_free(ss);
    fds_replica_close(a);
    srv_free(s);
}

/* 300 changes of ~16 KiB each are ~5 MB: over FDSP_MAX_FRAME as one batch,
** so the session must split the push into frames that fit, and every
** change must still arrive exactly once. */
static void test_big_values_split(void **state)
{
    (void)state;
    test_env t;
    test_env_init(&t, 1700000000000, 19);
    fds_replica *a = test_open(&t);
    srv *s = srv_new();
    s->page = 40;          /* this in-test server does not split its pages */
    char *big = malloc(FDSP_MAX_VALUE + 1);
    assert_non_null(big);
    memset(big, 'x', FDSP_MAX_VALUE);
    big[FDSP_MAX_VALUE] = 0;
    assert_int_equal(fds_begin(a), FDS_OK);
    for (int i = 0; i < 300; i++) {
        char rid[16];
        snprintf(rid, sizeof rid, "c%d", i);
        assert_int_equal(fds__write1(a, "customer", rid, "notes", big), FDS_OK);
    }
    assert_int_equal(fds_commit(a), FDS_OK);
    free(big);
    fds_session *ss;
    assert_int_equal(fds_session_new(a, &ss), FDS_OK);
    char *buf;
    size_t len;
    assert_int_equal(fds_session_next(ss, &buf, &len), FDS_OK);   /* hello */
    srv_handle(s, buf, len);
    free(buf);
    assert_int_equal(fds_session_feed(ss, s->out[0], s->out_len[0]), FDS_OK);
    drop_replies(s);
    int pushes = 0;
    while (fds_session_next(ss, &buf, &len) == FDS_OK) {
        assert_true(len <= FDSP_MAX_FRAME);
        srv_handle(s, buf, len);
        free(buf);
        pushes++;
    }
    assert_true(pushes >= 2);
    pump(ss, s, -1);
    assert_int_equal(fds_session_state(ss), FDS_SESSION_IDLE);
    assert_int_equal(outbox(a), 0);
    fds_session_stats st;
    fds_session_stats_get(ss, &st);
    assert_int_equal(st.pushed, 300);
    fds_session_free(ss);
    fds_replica_close(a);
    srv_free(s);
}

static void test_auth_error(void **state)
{
    (void)state;
    test_env t;
    test_env_init(&t, 1700000000000, 18);
    fds_replica *a = test_open(&t);
    fds_session *ss;
    assert_int_equal(fds_session_new(a, &ss), FDS_OK);
    char *buf;
    size_t len;
    assert_int_equal(fds_session_next(ss, &buf, &len), FDS_OK);
    free(buf);
    fdsp_msg m;
    memset(&m, 0, sizeof m);
    m.type = FDSP_ERROR;
    m.code = FDSP_E_AUTH;
    m.message = "token revoked";
    m.fatal = 1;
    assert_int_equal(fdsp_encode(&m, &buf, &len), FDSP_OK);
    assert_int_equal(fds_session_feed(ss, buf, len), FDS_PERM);
    free(buf);
    assert_int_equal(fds_session_state(ss), FDS_SESSION_FAILED);
    assert_non_null(strstr(fds_session_errmsg(ss), "token revoked"));
    assert_int_equal(fds_session_next(ss, &buf, &len), FDS_DONE);
    fds_session_free(ss);
    fds_replica_close(a);
}

static void feed_msg(fds_session *ss, const fdsp_msg *m, int want)
{
    char *buf;
    size_t len;
    assert_int_equal(fdsp_encode(m, &buf, &len), FDSP_OK);
    assert_int_equal(fds_session_feed(ss, buf, len), want);
    free(buf);
}

/* A non-fatal error about a push leaves its rows in the outbox for the
** next session; a fatal one ends the session. */
static void test_server_errors(void **state)
{
    (void)state;
    test_env t;
    test_env_init(&t, 1700000000000, 20);
    fds_replica *a = test_open(&t);
    srv *s = srv_new();
    assert_int_equal(fds__write1(a, "customer", "c1", "name", "x"), FDS_OK);
    fds_session *ss;
    assert_int_equal(fds_session_new(a, &ss), FDS_OK);
    char *buf;
    size_t len;
    assert_int_equal(fds_session_next(ss, &buf, &len), FDS_OK);   /* hello */
    srv_handle(s, buf, len);
    free(buf);
    assert_int_equal(fds_session_feed(ss, s->out[0], s->out_len[0]), FDS_OK);
    drop_replies(s);
    assert_int_equal(fds_session_next(ss, &buf, &len), FDS_OK);   /* push 1 */
    free(buf);
    fdsp_msg m;
    memset(&m, 0, sizeof m);
    m.type = FDSP_ERROR;
    m.code = FDSP_E_RATE;
    m.message = "slow down";
    m.batch = 1;
    feed_msg(ss, &m, FDS_OK);
    assert_non_null(strstr(fds_session_errmsg(ss), "slow down"));
    /* Not resent in this session; the session pulls and goes idle. */
    assert_int_equal(fds_session_next(ss, &buf, &len), FDS_OK);
    assert_non_null(strstr(buf, "\"pull\""));
    srv_handle(s, buf, len);
    free(buf);
    pump(ss, s, -1);
    assert_int_equal(fds_session_state(ss), FDS_SESSION_IDLE);
    assert_int_equal(outbox(a), 1);
    assert_int_equal(fds_session_next(ss, &buf, &len), FDS_DONE);
    /* Watch mode pokes the session: the row is retried and acked. */
    fds_session_local_changed(ss);
    pump(ss, s, -1);
    assert_int_equal(outbox(a), 0);
    assert_int_equal(fds__write1(a, "customer", "c1", "phone", "1"), FDS_OK);
    /* Non-fatal forbidden without a batch is not a session failure. */
    m.code = FDSP_E_FORBIDDEN;
    m.batch = 0;
    feed_msg(ss, &m, FDS_OK);
    /* Fatal internal error: the session fails, not with FDS_PERM. */
    m.code = FDSP_E_INTERNAL;
    m.message = "disk full";
    m.fatal = 1;
    feed_msg(ss, &m, FDS_ERROR);
    assert_int_equal(fds_session_state(ss), FDS_SESSION_FAILED);
    assert_non_null(strstr(fds_session_errmsg(ss), "disk full"));
    fds_session_free(ss);
    /* The next session delivers the row. */
    sync_once(a, s);
    assert_int_equal(outbox(a), 0);
    fds_replica_close(a);
    srv_free(s);
}

/* A non-fatal rate_limited naming no batch is advisory (the server paused
** reading, PROTOCOL.md §1): a pull in flight is still answered and must
** still be accepted, and the sync ends without an error. */
static void test_rate_limited_advisory(void **state)
{
    (void)state;
    test_env t;
    test_env_init(&t, 1700000000000, 21);
    fds_replica *a = test_open(&t), *b = test_open(&t);
    srv *s = srv_new();
    s->page = 3;
    for (int i = 0; i < 10; i++) {
        char rid[16];
        snprintf(rid, sizeof rid, "c%d", i);
        assert_int_equal(fds__write1(a, "customer", rid, "name", rid), FDS_OK);
    }
    sync_once(a, s);
    fds_session *ss;
    assert_int_equal(fds_session_new(b, &ss), FDS_OK);
    pump(ss, s, 2);             /* welcome, first page; next pull in flight */
    assert_true(s->n_out > 0);  /* its answer is waiting */
    fdsp_msg m;
    memset(&m, 0, sizeof m);
    m.type = FDSP_ERROR;
    m.code = FDSP_E_RATE;
    m.message = "more than 50 messages per second";
    feed_msg(ss, &m, FDS_OK);
    assert_string_equal(fds_session_errmsg(ss), "");
    pump(ss, s, -1);
    assert_int_equal(fds_session_state(ss), FDS_SESSION_IDLE);
    assert_string_equal(fds_session_errmsg(ss), "");
    for (int i = 0; i < 10; i++) {
        char rid[16];
        snprintf(rid, sizeof rid, "c%d", i);
        assert_int_equal(fds__exists(b, "customer", rid), 1);
    }
    fds_session_free(ss);
    fds_replica_close(a);
    fds_replica_close(b);
    srv_free(s);
}

/* Hostile or out-of-state input: FDS_PROTO, never a crash or a change. */
static void test_protocol_violations(void **state)
{
    (void)state;
    test_env t;
    test_env_init(&t, 1700000000000, 19);
    fds_replica *a = test_open(&t);
    const char *bad[] = {
        "", "not json", "{}", "[1,2]", "{\"type\":\"nope\"}",
        "{\"type\":\"ack\",\"batch\":1,\"accepted\":0,\"refused\":[]}",
        "{\"type\":\"changes\",\"changes\":[],\"last\":0,\"more\":false}",
        "{\"type\":\"hello\",\"v\":1,\"device\":\"x\",\"cursor\":0}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fds_session *ss;
        assert_int_equal(fds_session_new(a, &ss), FDS_OK);
        char *buf;
        size_t len;
        assert_int_equal(fds_session_next(ss, &buf, &len), FDS_OK);
        free(buf);
        assert_int_equal(fds_session_feed(ss, bad[i], strlen(bad[i])), FDS_PROTO);
        assert_int_equal(fds_session_state(ss), FDS_SESSION_FAILED);
        assert_true(fds_session_errmsg(ss)[0] != '\0');
        assert_int_equal(fds_session_feed(ss, bad[i], strlen(bad[i])), FDS_PROTO);
        fds_session_free(ss);
    }
    /* After the handshake: acks for batches never sent, unrequested changes,
    ** refusal indexes beyond the batch. */
    srv *s = srv_new();
    assert_int_equal(fds__write1(a, "customer", "c1", "name", "x"), FDS_OK);
    const char *late[] = {
        "{\"type\":\"ack\",\"batch\":99,\"accepted\":1,\"refused\":[]}",
        "{\"type\":\"changes\",\"changes\":[],\"last\":5,\"more\":false}",
        ("{\"type\":\"ack\",\"batch\":1,\"accepted\":0,\"refused\":"
         "[{\"i\":7,\"code\":\"forbidden\",\"message\":\"m\"}]}"),
    };
    for (size_t i = 0; i < sizeof late / sizeof late[0]; i++) {
        fds_session *ss;
        assert_int_equal(fds_session_new(a, &ss), FDS_OK);
        char *buf;
        size_t len;
        assert_int_equal(fds_session_next(ss, &buf, &len), FDS_OK);
        srv_handle(s, buf, len);
        free(buf);
        assert_int_equal(fds_session_feed(ss, s->out[0], s->out_len[0]), FDS_OK);
        drop_replies(s);
        assert_int_equal(fds_session_next(ss, &buf, &len), FDS_OK); /* push */
        free(buf);
        assert_int_equal(fds_session_feed(ss, late[i], strlen(late[i])), FDS_PROTO);
        assert_int_equal(fds_session_state(ss), FDS_SESSION_FAILED);
        fds_session_free(ss);
    }
    assert_int_equal(outbox(a), 1);         /* nothing was acked */
    fds_replica_close(a);
    srv_free(s);
}

/* ---- Property: random writes, interrupted sessions, lost acks ------------- */

static char *reg_text(fds_replica *r)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(r->db,
        "SELECT tbl || '/' || rid || '/' || field, versions, conflict FROM reg "
        "ORDER BY tbl, rid, field", -1, &st, NULL), SQLITE_OK);
    size_t cap = 1 << 14, len = 0;
    char *out = malloc(cap);
    out[0] = '\0';
    while (sqlite3_step(st) == SQLITE_ROW) {
        char line[2048];
        int n = snprintf(line, sizeof line, "%s|%s|%d\n",
                         sqlite3_column_text(st, 0), sqlite3_column_text(st, 1),
                         sqlite3_column_int(st, 2));
        while (len + (size_t)n + 1 > cap)
            out = realloc(out, cap *= 2);
        memcpy(out + len, line, (size_t)n + 1);
        len += (size_t)n;
    }
    sqlite3_finalize(st);
    return out;
}

/* The server's registers in the same text form. */
static char *srv_text(srv *s)
{
    size_t cap = 1 << 14, len = 0;
    char *out = malloc(cap);
    out[0] = '\0';
    /* Sort keys like SQLite's ORDER BY tbl, rid, field (byte order of the
    ** joined key matches because no name contains '/' below '/'). */
    size_t idx[2048];
    for (size_t i = 0; i < s->n_regs; i++)
        idx[i] = i;
    for (size_t i = 1; i < s->n_regs; i++)
        for (size_t j = i; j > 0 && strcmp(s->regs[idx[j - 1]].key,
                                           s->regs[idx[j]].key) > 0; j--) {
            size_t t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
    for (size_t i = 0; i < s->n_regs; i++) {
        const sreg *g = &s->regs[idx[i]];
        char *v = fds__register_dump(&g->reg);
        char line[2048];
        int n = snprintf(line, sizeof line, "%s|%s|%d\n", g->key, v,
                         fds_register_in_conflict(&g->reg));
        free(v);
        while (len + (size_t)n + 1 > cap)
            out = realloc(out, cap *= 2);
        memcpy(out + len, line, (size_t)n + 1);
        len += (size_t)n;
    }
    return out;
}

static void random_writes(fds_replica *r, uint64_t *rng)
{
    static const char *const vals[] = {"x", "y", "z", NULL};
    static const char *const flds[] = {"name", "phone", "deleted"};
    int n = (int)(test_rand(rng) % 4);
    for (int i = 0; i < n; i++) {
        char rid[8];
        snprintf(rid, sizeof rid, "c%d", (int)(test_rand(rng) % 3));
        const char *f = flds[test_rand(rng) % 3];
        const char *v = strcmp(f, "deleted") == 0
            ? (test_rand(rng) % 2 ? "1" : "0") : vals[test_rand(rng) % 4];
        assert_int_equal(fds__write1(r, "customer", rid, f, v), FDS_OK);
    }
}

static void run_session_seed(unsigned seed)
{
    uint64_t rng = (uint64_t)seed * 0x9E3779B97F4A7C15ULL + 7;
    test_env env[3];
    fds_replica *r[3];
    srv *s = srv_new();
    s->page = 1 + (int)(test_rand(&rng) % 4);
    if (seed % 2 == 0)
        s->refuse_value = "z";          /* refused writes must not stay */
    for (int i = 0; i < 3; i++) {
        test_env_init(&env[i], 1700000000000 + (int64_t)(test_rand(&rng) % 3000),
                      seed * 7 + (unsigned)i);
        r[i] = test_open(&env[i]);
    }
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < 3; i++)
            random_writes(r[i], &rng);
        for (int k = 0; k < 3; k++) {
            int i = (int)(test_rand(&rng) % 3);
            fds_session *ss;
            assert_int_equal(fds_session_new(r[i], &ss), FDS_OK);
            s->drop_acks = test_rand(&rng) % 4 == 0;
            int cut = (int)(test_rand(&rng) % 8) - 1;   /* -1: no cut */
            pump(ss, s, cut);
            drop_replies(s);                            /* link gone */
            s->drop_acks = 0;
            fds_session_free(ss);
        }
    }
    /* Everyone pushes, then everyone pulls. */
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < 3; i++)
            sync_once(r[i], s);
    char *want = srv_text(s);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(outbox(r[i]), 0);
        char *got = reg_text(r[i]);
        if (strcmp(want, got) != 0) {
            fprintf(stderr, "seed %u: replica %d differs from the server\n"
                    "server:\n%s\nreplica:\n%s", seed, i, want, got);
            fail_msg("session seed %u diverged on replica %d", seed, i);
        }
        free(got);
        fds_replica_close(r[i]);
    }
    free(want);
    srv_free(s);
}

/* Replicas syncing through interrupted sessions, lost acks and paged
** pulls end equal to the server, byte for byte (FDS_SEED=N replays). */
static void test_session_property(void **state)
{
    (void)state;
    const char *one = getenv("FDS_SEED");
    if (one && *one) {
        run_session_seed((unsigned)strtoul(one, NULL, 10));
        return;
    }
    for (unsigned seed = 1; seed <= 200; seed++)
        run_session_seed(seed);
}


/* ---- Trust: rules 12-14 ------------------------------------------------------ */

static srv *trust_server(const char *store, int64_t epoch)
{
    srv *s = srv_new();
    s->trust = 1;
    s->store = store;
    s->epoch = epoch;
    return s;
}

/* A copy of replica r's file, as a backup or a cloned phone holds it,
** opened as a replica of its own (path is removed first). */
static fds_replica *copy_of(fds_replica *r, test_env *t, const char *path)
{
    unlink(path);
    char sql[256];
    snprintf(sql, sizeof sql, "VACUUM INTO '%s'", path);
    assert_int_equal(sqlite3_exec(r->db, sql, NULL, NULL, NULL), SQLITE_OK);
    fds_replica *c = NULL;
    char err[256] = "";
    assert_int_equal(fds_replica_open(path, &t->env, &c, err, sizeof err),
                     FDS_OK);
    return c;
}

static void drop_file(const char *path)
{
    static const char *const suffix[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        char p[160];
        snprintf(p, sizeof p, "%s%s", path, suffix[i]);
        unlink(p);
    }
}

static char *text_of(fds_replica *r, const char *sql)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(r->db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    char *v = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return v;
}

/* Give the session's next message to the server (it must have one). */
static void next_to(fds_session *ss, srv *s, char **keep)
{
    char *buf;
    size_t len;
    assert_int_equal(fds_session_next(ss, &buf, &len), FDS_OK);
    srv_handle(s, buf, len);
    if (keep)
        *keep = buf;
    else
        free(buf);
}

static void feed_one(fds_session *ss, srv *s)
{
    assert_true(s->n_out > 0);
    char *r = s->out[0];
    size_t rl = s->out_len[0];
    memmove(&s->out[0], &s->out[1], (size_t)(s->n_out - 1) * sizeof s->out[0]);
    memmove(&s->out_len[0], &s->out_len[1],
            (size_t)(s->n_out - 1) * sizeof s->out_len[0]);
    s->n_out--;
    assert_int_equal(fds_session_feed(ss, r, rl), FDS_OK);
    free(r);
}

static int notes_mention(const fds_session *ss, const char *what)
{
    size_t i;
    json_t *n;
    json_array_foreach(fds_session_notes(ss), i, n)
        if (strstr(json_string_value(n), what))
            return 1;
    return 0;
}

/* Rule 12: a phone restored from a backup made before it synced more.  The
** welcome's counter is above its own: the session resets the replica (new
** id, outbox re-stamped, cursor 0), says hello again under the new id on
** the same connection, and gets back what the phone synced after the
** backup.  Nothing is lost. */
static void test_trust_restored_device_resets(void **state)
{
    (void)state;
    test_env t;
    test_env_init(&t, 1700000000000, 41);
    fds_replica *a = test_open(&t);
    srv *s = trust_server("store-1", 7);
    assert_int_equal(fds__write1(a, "customer", "c1", "name", "A"), FDS_OK);
    sync_once(a, s);
    char path[128];
    snprintf(path, sizeof path, "/tmp/fds-trust-%ld.db", (long)getpid());
    fds_replica *b = copy_of(a, &t, path);          /* the backup */
    json_t *f = json_pack("{s:s}", "phone", "1");
    assert_int_equal(fds__write(a, "customer", "c1", f), FDS_OK);
    json_decref(f);
    assert_int_equal(fds__write1(a, "customer", "c2", "name", "B"), FDS_OK);
    sync_once(a, s);
    uint64_t server_ctr = *srv_acc(s, fds_replica_device(a));
    assert_true(server_ctr >= 3);
    char old[64];
    snprintf(old, sizeof old, "%s", fds_replica_device(a));
    fds_replica_close(a);                           /* the phone is lost */

    /* The restored phone writes before it syncs. */
    assert_string_equal(fds_replica_device(b), old);
    assert_int_equal(fds__write1(b, "customer", "c3", "name", "C"), FDS_OK);
    assert_true(b->counter < server_ctr);
    int64_t before = s->hellos;
    fds_session *ss;
    assert_int_equal(fds_session_new(b, &ss), FDS_OK);
    next_to(ss, s, NULL);                           /* hello */
    assert_int_equal(s->last_hello_counter, (int64_t)b->counter);
    assert_string_equal(s->last_hello_store, "store-1");
    assert_int_equal(s->last_hello_epoch, 7);
    feed_one(ss, s);                                /* welcome: counter above */
    char *hello = NULL;
    next_to(ss, s, &hello);                         /* hello again */
    assert_non_null(strstr(hello, "\"hello\""));
    free(hello);
    assert_int_equal(s->hellos, before + 2);
    assert_string_not_equal(fds_replica_device(b), old);
    assert_string_equal(s->last_hello_dev, fds_replica_device(b));
    /* the store it last synced with is still shown after the reset */
    assert_string_equal(s->last_hello_store, "store-1");
    /* re-stamped: new id, old-id knowledge cut to what was acked (1), the
    ** new id's counter going on from the server's */
    char want[200], *vv = text_of(b, "SELECT vv || device FROM log WHERE "
                                     "origin = 1 AND acked = 0");
    const char *lo = strcmp(old, fds_replica_device(b)) < 0 ? old
                                                            : fds_replica_device(b);
    const char *hi = lo == old ? fds_replica_device(b) : old;
    snprintf(want, sizeof want, "{\"%s\":%llu,\"%s\":%llu}%s", lo,
             lo == old ? 1ULL : (unsigned long long)server_ctr + 1, hi,
             hi == old ? 1ULL : (unsigned long long)server_ctr + 1,
             fds_replica_device(b));
    assert_string_equal(vv, want);
    free(vv);
    int64_t cur = -1;
    assert_int_equal(fds__meta_get_i64(b, "cursor", 0, &cur), FDS_OK);
    assert_int_equal(cur, 0);
    assert_int_equal((int64_t)b->counter, (int64_t)server_ctr + 1);

    pump(ss, s, -1);
    assert_int_equal(fds_session_state(ss), FDS_SESSION_IDLE);
    fds_session_stats st;
    fds_session_stats_get(ss, &st);
    assert_int_equal(st.device_reset, 1);
    assert_int_equal(st.server_restored, 0);
    assert_int_equal(st.refused, 0);
    assert_true(notes_mention(ss, "device reset"));
    fds_session_free(ss);
    assert_int_equal(outbox(b), 0);
    /* what the lost phone synced after the backup came back */
    assert_value(b, "customer", "c1", "phone", "1");
    assert_value(b, "customer", "c2", "name", "B");
    assert_value(b, "customer", "c3", "name", "C");
    assert_same_as_server(b, s, "customer", "c3", "name");
    assert_same_as_server(b, s, "customer", "c1", "phone");
    fds_replica_close(b);
    drop_file(path);
    srv_free(s);
}

/* Rule 12: two copies of one replica both write; the second to push gets
** device_clash on its first batch and every later one.  It pushes no more,
** resets only once all its batches are answered, keeps every clashed
** change (no refusal, no undo) and pushes them under its new id. */
static void test_trust_clash_waits_for_acks(void **state)
{
    (void)state;
    test_env t;
    test_env_init(&t, 1700000000000, 42);
    fds_replica *a = test_open(&t);
    srv *s = trust_server("store-1", 1);
    assert_int_equal(fds__write1(a, "customer", "c0", "name", "X"), FDS_OK);
    sync_once(a, s);
    char path[128];
    snprintf(path, sizeof path, "/tmp/fds-clash-%ld.db", (long)getpid());
    fds_replica *b = copy_of(a, &t, path);          /* a cloned phone */
    assert_int_equal(fds__write1(a, "customer", "c1", "name", "fromA"), FDS_OK);
    sync_once(a, s);
    char old[64];
    snprintf(old, sizeof old, "%s", fds_replica_device(b));
    assert_int_equal(fds_begin(b), FDS_OK);
    for (int i = 0; i < 600; i++) {
        char rid[16];
        snprintf(rid, sizeof rid, "k%d", i);
        assert_int_equal(fds__write1(b, "customer", rid, "name", "fromB"),
                         FDS_OK);
    }
    assert_int_equal(fds_commit(b), FDS_OK);

    fds_session *ss;
    assert_int_equal(fds_session_new(b, &ss), FDS_OK);
    next_to(ss, s, NULL);                           /* hello */
    feed_one(ss, s);                                /* welcome: no reset */
    next_to(ss, s, NULL);                           /* push 1 (500) */
    next_to(ss, s, NULL);                           /* push 2 (100) */
    char *buf;
    size_t len;
    assert_int_equal(fds_session_next(ss, &buf, &len), FDS_DONE);
    feed_one(ss, s);                                /* ack 1: all clash */
    /* batch 2 still in flight: nothing is sent, nothing reset yet */
    assert_int_equal(fds_session_next(ss, &buf, &len), FDS_DONE);
    assert_string_equal(fds_replica_device(b), old);
    feed_one(ss, s);                                /* ack 2: all clash */
    assert_int_equal(fds_session_next(ss, &buf, &len), FDS_OK);
    assert_non_null(strstr(buf, "\"hello\""));
    assert_string_not_equal(fds_replica_device(b), old);
    assert_non_null(strstr(buf, fds_replica_device(b)));
    srv_handle(s, buf, len);
    free(buf);
    assert_int_equal(outbox(b), 600);               /* all kept */
    pump(ss, s, -1);
    assert_int_equal(fds_session_state(ss), FDS_SESSION_IDLE);
    fds_session_stats st;
    fds_session_stats_get(ss, &st);
    assert_int_equal(st.device_reset, 1);
    assert_int_equal(st.refused, 0);
    assert_int_equal(st.pushed, 600);
    fds_session_free(ss);
    assert_int_equal(outbox(b), 0);
    json_t *list = NULL;
    assert_int_equal(fds_refusals(b, &list), FDS_OK);
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);
    /* both copies' writes survive */
    assert_value(b, "customer", "c1", "name", "fromA");
    assert_value(b, "customer", "k599", "name", "fromB");
    assert_same_as_server(b, s, "customer", "k0", "name");
    size_t mine = 0;
    for (size_t i = 0; i < s->n_log; i++)
        mine += strcmp(s->log[i].device, fds_replica_device(b)) == 0;
    assert_int_equal(mine, 600);
    fds_replica_close(b);
    fds_replica_close(a);
    drop_file(path);
    srv_free(s);
}

/* Rule 14: a device whose clock runs an hour ahead.  The server re-stamps
** its changes; the ack's stamps give the log row and the register the
** server's bytes; the welcome's time gives the skew to warn about. */
static void test_trust_stamps_and_skew(void **state)
{
    (void)state;
    const int64_t server_now = 1700000000000;
    test_env t;
    test_env_init(&t, server_now + 3600000, 43);
    fds_replica *a = test_open(&t);
    srv *s = trust_server("store-1", 1);
    s->time = server_now;
    s->restamp_above = (uint64_t)(server_now + FDS_CLOCK_BOUND_MS) << 16;
    json_t *f = json_pack("{s:s, s:s}", "name", "A", "phone", "1");
    assert_int_equal(fds__write(a, "customer", "c1", f), FDS_OK);
    json_decref(f);
    fds_session_stats st = sync_once(a, s);
    assert_int_equal(st.pushed, 2);
    assert_int_equal(st.clock_known, 1);
    assert_true(st.clock_skew_ms <= -3600000 &&
                st.clock_skew_ms > -3600000 - 1000);
    /* the rows keep the server's stamps */
    assert_int_equal(count_of(a, "SELECT count(*) FROM log WHERE origin = 1 "
                                 "AND hlc >= (1700000300000 << 16)"), 0);
    assert_same_as_server(a, s, "customer", "c1", "name");
    assert_same_as_server(a, s, "customer", "c1", "phone");
    /* a later edit on top still wins everywhere (vectors decide) */
    assert_int_equal(fds__write1(a, "customer", "c1", "name", "A2"), FDS_OK);
    sync_once(a, s);
    assert_same_as_server(a, s, "customer", "c1", "name");
    assert_value(a, "customer", "c1", "name", "A2");
    fds_replica_close(a);
    srv_free(s);
}

/* Rule 14: a pulled change a year ahead does not drag this replica's HLC
** past its clock + FDS_CLOCK_BOUND_MS. */
static void test_trust_hlc_bound_on_pull(void **state)
{
    (void)state;
    test_env t;
    test_env_init(&t, 1700000000000, 44);
    fds_replica *a = test_open(&t);
    srv *s = srv_new();
    fdsp_change c;
    memset(&c, 0, sizeof c);
    c.table = (char *)"customer";
    c.record = (char *)"c9";
    c.field = (char *)"name";
    c.value = (char *)"future";
    c.device = (char *)"bbbbbbbb-0000-4000-8000-000000000000";
    c.user = (char *)"bob";
    c.hlc = (uint64_t)(1700000000000 + 365LL * 86400000) << 16;
    assert_int_equal(fds__vv_set(&c.vv, c.device, 1), FDS_OK);
    srv_accept(s, &c);
    fdsp_vv_clear(&c.vv);
    sync_once(a, s);
    assert_value(a, "customer", "c9", "name", "future");
    assert_true(a->hlc <= (uint64_t)(t.now + FDS_CLOCK_BOUND_MS) << 16);
    int64_t h = 0;
    assert_int_equal(fds__meta_get_i64(a, "hlc", 0, &h), FDS_OK);
    assert_true((uint64_t)h <= (uint64_t)(t.now + FDS_CLOCK_BOUND_MS) << 16);
    fds_replica_close(a);
    srv_free(s);
}

/* Rule 13: the server is restored from a backup that has none of this
** replica's changes.  The new epoch shows it: cursor 0, and every change
** the replica holds (its own acknowledged ones and those it received) is
** pushed again with its own device, user, vector and time; a refused
** relayed change is dropped quietly (no refusal, no undo). */
static void test_trust_server_restored(void **state)
{
    (void)state;
    test_env t;
    test_env_init(&t, 1700000000000, 45);
    fds_replica *a = test_open(&t), *o = test_open(&t);
    srv *s1 = trust_server("store-1", 1);
    s1->user = "bob";
    assert_int_equal(fds__write1(o, "customer", "c2", "name", "B"), FDS_OK);
    assert_int_equal(fds__write1(o, "secret", "s1", "name", "x"), FDS_OK);
    sync_once(o, s1);
    s1->user = "alice";
    assert_int_equal(fds__write1(a, "customer", "c1", "name", "A"), FDS_OK);
    sync_once(a, s1);
    assert_value(a, "customer", "c2", "name", "B");
    assert_int_equal(s1->n_log, 3);

    srv *s2 = trust_server("store-1", 2);           /* restored: lost all */
    s2->refuse_table = "secret";
    assert_int_equal(fds__write1(a, "customer", "c3", "name", "new"), FDS_OK);
    fds_session *ss;
    assert_int_equal(fds_session_new(a, &ss), FDS_OK);
    pump(ss, s2, -1);
    assert_int_equal(fds_session_state(ss), FDS_SESSION_IDLE);
    assert_string_equal(s2->last_hello_store, "store-1");
    assert_int_equal(s2->last_hello_epoch, 1);
    fds_session_stats st;
    fds_session_stats_get(ss, &st);
    assert_int_equal(st.server_restored, 1);
    assert_int_equal(st.device_reset, 0);
    assert_int_equal(st.resent, 3);
    assert_int_equal(st.relay_dropped, 1);
    assert_int_equal(st.refused, 0);
    assert_true(notes_mention(ss, "server restored"));
    assert_true(notes_mention(ss, "dropped"));
    fds_session_free(ss);
    /* everything in the order this replica logged it (rule 15 needs own
    ** counters in order, and what a vector names first) */
    assert_int_equal(s2->n_log, 3);
    assert_string_equal(s2->log[0].record, "c1");
    assert_string_equal(s2->log[2].record, "c3");
    for (size_t i = 0; i < s1->n_log; i++) {
        const fdsp_change *was = &s1->log[i];
        int found = strcmp(was->table, "secret") == 0;
        for (size_t j = 0; j < s2->n_log && !found; j++) {
            const fdsp_change *now = &s2->log[j];
            found = same_change(was, now) && was->hlc == now->hlc &&
                    strcmp(was->device, now->device) == 0;
        }
        assert_true(found);
    }
    /* dropped quietly: nothing recorded, nothing undone */
    json_t *list = NULL;
    assert_int_equal(fds_refusals(a, &list), FDS_OK);
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);
    assert_value(a, "secret", "s1", "name", "x");
    assert_int_equal(count_of(a, "SELECT count(*) FROM log WHERE resend = 1"), 0);
    int64_t cur = -1;
    assert_int_equal(fds__meta_get_i64(a, "cursor", 0, &cur), FDS_OK);
    assert_int_equal(cur, (int64_t)s2->n_log);
    /* the new epoch is stored: the next sync is a normal one */
    fds_session_stats again = sync_once(a, s2);
    assert_int_equal(again.server_restored, 0);

    /* Same store and epoch, but a head below the cursor: restored too. */
    srv *s3 = trust_server("store-1", 2);
    st = sync_once(a, s3);
    assert_int_equal(st.server_restored, 1);
    assert_int_equal(s3->n_log, 4);       /* s3 takes "secret" */
    fds_replica_close(a);
    fds_replica_close(o);
    srv_free(s1);
    srv_free(s2);
    srv_free(s3);
}

/* Rule 13: a re-send cut short goes on in the next session, although that
** welcome no longer shows a restore. */
static void test_trust_resend_resumes(void **state)
{
    (void)state;
    test_env t;
    test_env_init(&t, 1700000000000, 46);
    fds_replica *a = test_open(&t);
    srv *s1 = trust_server("store-1", 1);
    assert_int_equal(fds_begin(a), FDS_OK);
    for (int i = 0; i < 700; i++) {
        char rid[16];
        snprintf(rid, sizeof rid, "k%d", i);
        assert_int_equal(fds__write1(a, "customer", rid, "name", "v"), FDS_OK);
    }
    assert_int_equal(fds_commit(a), FDS_OK);
    sync_once(a, s1);
    srv *s2 = trust_server("store-1", 2);
    fds_session *ss;
    assert_int_equal(fds_session_new(a, &ss), FDS_OK);
    next_to(ss, s2, NULL);                          /* hello */
    feed_one(ss, s2);                               /* welcome: restored */
    next_to(ss, s2, NULL);                          /* re-send 1 (500) */
    next_to(ss, s2, NULL);                          /* re-send 2 (200) */
    feed_one(ss, s2);                               /* ack 1 only */
    fds_session_free(ss);                           /* link lost */
    drop_replies(s2);
    assert_int_equal(count_of(a, "SELECT count(*) FROM log WHERE resend = 1"),
                     200);
    /* The next hello still shows the old epoch, so the server knows the
    ** re-send (relayed changes included) goes on; nothing is queued twice. */
    fds_session_stats st = sync_once(a, s2);
    assert_int_equal(s2->last_hello_epoch, 1);
    assert_int_equal(st.server_restored, 1);
    assert_int_equal(st.resent, 0);
    assert_int_equal(count_of(a, "SELECT count(*) FROM log WHERE resend = 1"),
                     0);
    assert_int_equal(s2->n_log, 700);
    /* done: the restored store's epoch is the one shown from now on */
    st = sync_once(a, s2);
    assert_int_equal(s2->last_hello_epoch, 2);
    assert_int_equal(st.server_restored, 0);
    fds_replica_close(a);
    srv_free(s1);
    srv_free(s2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_push_ack),
        cmocka_unit_test(test_lost_ack_resend),
        cmocka_unit_test(test_ack_runs_and_vv_forms),
        cmocka_unit_test(test_pull_batches_resume),
        cmocka_unit_test(test_sync_commits_relaxed),
        cmocka_unit_test(test_pull_pipelined),
        cmocka_unit_test(test_pull_manual_apply),
        cmocka_unit_test(test_pull_held_page_lost),
        cmocka_unit_test(test_pull_failed_apply),
        cmocka_unit_test(test_pull_held_then_revoke),
        cmocka_unit_test(test_pull_read_ahead_bad),
        cmocka_unit_test(test_notify_triggers_pull),
        cmocka_unit_test(test_notify_before_welcome),
        cmocka_unit_test(test_revoke_purges),
        cmocka_unit_test(test_refusal_recorded),
        cmocka_unit_test(test_refusal_rebuilds_register),
        cmocka_unit_test(test_refusal_under_pending_write),
        cmocka_unit_test(test_refusal_and_conflicts),
        cmocka_unit_test(test_many_batches),
        cmocka_unit_test(test_big_values_split),
        cmocka_unit_test(test_auth_error),
        cmocka_unit_test(test_server_errors),
        cmocka_unit_test(test_rate_limited_advisory),
        cmocka_unit_test(test_protocol_violations),
        cmocka_unit_test(test_session_property),
        cmocka_unit_test(test_trust_restored_device_resets),
        cmocka_unit_test(test_trust_clash_waits_for_acks),
        cmocka_unit_test(test_trust_stamps_and_skew),
        cmocka_unit_test(test_trust_hlc_bound_on_pull),
        cmocka_unit_test(test_trust_server_restored),
        cmocka_unit_test(test_trust_resend_resumes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
