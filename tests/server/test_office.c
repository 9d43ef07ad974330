/*
** test_office.c — the office view is exact: a property test over random
** histories (customers written from several devices, so with conflicts,
** reassigned, shared and unshared, deleted; follow-ups, plans and stage
** changes, some moved to another customer or deleted; some batches rolled
** back) on every store backend.  For each user of several teams and roles,
** the pages (walked with a small limit, in each sort, with searches), the
** summary and the analysis's funnel and money must equal a brute-force
** computation over the same store that uses none of the projections: the
** registers' winning values (fsv_store_field_value), the visibility rule
** (fsv_vis_customer) and the history (fsv_store_changes_after).
** test_steps checks the aggregates (store_sqlite_office_agg.c) after every
** random step of a history with nested teams, moves and several roles:
** against the brute force, and the whole summary and analysis against
** those the scans make without aggregates.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <math.h>
#include <sqlite3.h>

#include "api.h"
#include "store.h"
#include "store_backends.h"
#include "visibility.h"

#define SEEDS 12
#define N_CUST 36
#define N_CHILD 80
#define NOW_MS 1764547200000LL      /* 2025-12-01T00:00:00Z */
#define DAY 86400000LL

static const ts_store_backend *current = &ts_store_backends[0];
/* The figures' "now" (check_figures): NOW_MS, or a time inside a day for
** the random steps, so ranges start and end mid-day. */
static int64_t g_now = NOW_MS;

/* store_sqlite_office_agg.c: read the aggregates or scan (SQLite only). */
int fsv__sq_agg_use(fsv_store *s, int on);

static uint64_t rng;
static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

static const char *const users[] = {"r1", "r2", "r3", "r4", "m1", "m2"};
static const char *const names[] = {"张伟", "张三", "李雷", "王芳", "赵六", "阿里",
                                    "Acme", "beta", "Zeta 2", "zeta 10", "钱七",
                                    "Kunde", "李 四"};
static const char *const stages[] = {"lead", "intent", "proposal", "quote",
                                     "contract", "won", "lost"};

typedef struct world {
    fsv_store *s;
    uint64_t hlc;
    uint64_t ctr[16];           /* per device */
    char cust[N_CUST][40];
    char child[N_CHILD][40];
    const char *child_tbl[N_CHILD];
} world;

static void put(world *w, const char *tbl, const char *rid, const char *field,
                const char *value, int dev)
{
    fdsp_change c;
    char device[16];
    memset(&c, 0, sizeof c);
    snprintf(device, sizeof device, "dev%02d", dev);
    c.table = (char *)tbl;
    c.record = (char *)rid;
    c.field = (char *)field;
    c.value = (char *)value;
    c.device = device;
    c.user = (char *)users[dev % 6];
    c.hlc = (w->hlc += 1 << 16);
    c.server_ms = NOW_MS;
    fdsp_vv_entry e = {device, ++w->ctr[dev]};
    c.vv.n = 1;
    c.vv.e = &e;
    int outcome;
    assert_int_equal(fsv_store_merge_change(w->s, &c, &outcome), FSV_OK);
}

static void ts(int64_t ms, char *out)
{
    fds_time_format(ms, out, 40);
}

/* One random action. */
static void act(world *w)
{
    int dev = (int)rnd(12);
    const char *c = w->cust[rnd(N_CUST)];
    char v[64];
    switch (rnd(12)) {
    case 0: case 1:
        put(w, "customer", c, "stage", stages[rnd(7)], dev);
        break;
    case 2:
        put(w, "customer", c, "name", names[rnd(13)], dev);
        break;
    case 3:
        snprintf(v, sizeof v, "%u", rnd(5) * 1000 + rnd(3) * 250);
        put(w, "customer", c, "amount", rnd(5) ? v : NULL, dev);
        break;
    case 4:
        snprintf(v, sizeof v, "2026-%02u-%02u", 1 + rnd(12), 1 + rnd(28));
        put(w, "customer", c, "expected_close", v, dev);
        break;
    case 5:
        put(w, "customer", c, "owner", rnd(4) ? users[rnd(6)] : "", dev);
        break;
    case 6:
        put(w, "customer", c, "deleted", rnd(2) ? "1" : "0", dev);
        break;
    case 7: {
        if (rnd(3) == 0) {      /* birthdays, in every form */
            static const char *const bd[] = {"1990-12-03", "12-05", "--12-20",
                                             "2000-02-29", "02-28", "1990-5-3",
                                             "1985-11-30", "x", "12-31"};
            put(w, "customer", c, "birthday", bd[rnd(9)], dev);
            break;
        }
        snprintf(v, sizeof v, "%s:%s", c, users[rnd(6)]);
        put(w, "share", v, "customer", c, dev);
        put(w, "share", v, "deleted", rnd(3) ? "0" : "1", dev);
        break;
    }
    default: {
        int k = (int)rnd(N_CHILD);
        const char *t = w->child_tbl[k], *rid = w->child[k];
        char at[40];
        ts(NOW_MS - (int64_t)rnd(40) * DAY + (int64_t)rnd(86400) * 1000, at);
        if (rnd(3) == 0)
            put(w, t, rid, "customer", c, dev);
        if (strcmp(t, "followup") == 0) {
            put(w, t, rid, "at", at, dev);
            put(w, t, rid, "author", users[dev % 6], dev);
        } else if (strcmp(t, "plan") == 0) {
            put(w, t, rid, rnd(2) ? "due" : "done", rnd(2) ? at : "1", dev);
        } else {
            put(w, t, rid, "at", at, dev);
            put(w, t, rid, "to", stages[rnd(7)], dev);
        }
        if (rnd(8) == 0)
            put(w, t, rid, "deleted", "1", dev);
    }
    }
}

static void build(world *w)
{
    static const char *const kinds[] = {"followup", "plan", "stagechg"};
    for (int i = 0; i < N_CUST; i++) {
        snprintf(w->cust[i], sizeof w->cust[i], "c%08x-%02d", (unsigned)rng, i);
        rnd(2);
    }
    assert_int_equal(fsv_store_begin(w->s), FSV_OK);
    for (int i = 0; i < N_CUST; i++) {
        int dev = (int)rnd(12);
        put(w, "customer", w->cust[i], "name", names[rnd(13)], dev);
        put(w, "customer", w->cust[i], "stage", "lead", dev);
    }
    for (int i = 0; i < N_CHILD; i++) {
        w->child_tbl[i] = kinds[rnd(3)];
        snprintf(w->child[i], sizeof w->child[i], "k%08x-%02d", (unsigned)rng, i);
        put(w, w->child_tbl[i], w->child[i], "customer", w->cust[rnd(N_CUST)],
            (int)rnd(12));
    }
    assert_int_equal(fsv_store_commit(w->s), FSV_OK);
    for (int batch = 0; batch < 12; batch++) {
        assert_int_equal(fsv_store_begin(w->s), FSV_OK);
        for (int i = 0; i < 40; i++)
            act(w);
        /* Every fourth batch never commits: the projections must not
        ** keep what it wrote. */
        if (batch % 4 == 3)
            assert_int_equal(fsv_store_rollback(w->s), FSV_OK);
        else
            assert_int_equal(fsv_store_commit(w->s), FSV_OK);
    }
}

/* ---- Brute force -------------------------------------------------------------- */

typedef struct bcust {
    const char *id;
    char *name, *stage, *owner, *amount, *close;
    unsigned char key[256];
    size_t klen;
    double amt_k;
    int64_t next, last;
} bcust;

static char *val(fsv_store *s, const char *tbl, const char *rid, const char *f)
{
    char *v = NULL;
    int rc = fsv_store_field_value(s, tbl, rid, f, &v);
    assert_true(rc == FSV_OK || rc == FSV_NOTFOUND);
    return v;
}

static int64_t ms_of(const char *t, int64_t none)
{
    int64_t ms;
    return t && fds_time_parse(t, &ms) == FDS_OK ? ms : none;
}

static int cmp_key(const bcust *a, const bcust *b)
{
    size_t n = a->klen < b->klen ? a->klen : b->klen;
    int d = memcmp(a->key, b->key, n);
    if (d)
        return d;
    if (a->klen != b->klen)
        return a->klen < b->klen ? -1 : 1;
    return strcmp(a->id, b->id);
}

static const char *g_sort;
static int cmp_b(const void *pa, const void *pb)
{
    const bcust *a = pa, *b = pb;
    if (strcmp(g_sort, "amount") == 0 && a->amt_k != b->amt_k)
        return a->amt_k < b->amt_k ? -1 : 1;
    if (strcmp(g_sort, "next") == 0 && a->next != b->next)
        return a->next < b->next ? -1 : 1;
    if (strcmp(g_sort, "last") == 0 && a->last != b->last)
        return a->last < b->last ? -1 : 1;
    return cmp_key(a, b);
}

/* The visible, live customers of u, with everything the checks need. */
static size_t brute(world *w, const fsv_user *u, bcust *out)
{
    size_t n = 0;
    for (int i = 0; i < N_CUST; i++) {
        int sees = 0;
        char *del = val(w->s, "customer", w->cust[i], "deleted");
        assert_int_equal(fsv_vis_customer(w->s, u, w->cust[i], &sees), FSV_OK);
        int live = !(del && strcmp(del, "1") == 0);
        free(del);
        if (!sees || !live)
            continue;
        bcust *b = &out[n++];
        memset(b, 0, sizeof *b);
        b->id = w->cust[i];
        b->name = val(w->s, "customer", b->id, "name");
        b->stage = val(w->s, "customer", b->id, "stage");
        b->amount = val(w->s, "customer", b->id, "amount");
        b->close = val(w->s, "customer", b->id, "expected_close");
        assert_int_equal(fsv_vis_owner(w->s, b->id, &b->owner), FSV_OK);
        b->klen = fds_name_key(b->name, b->key, sizeof b->key);
        b->amt_k = b->amount ? -strtod(b->amount, NULL) : 1e300;
        b->next = INT64_MAX;
        b->last = -1;
        for (int k = 0; k < N_CHILD; k++) {
            char *cu = val(w->s, w->child_tbl[k], w->child[k], "customer");
            char *kd = val(w->s, w->child_tbl[k], w->child[k], "deleted");
            int mine = cu && strcmp(cu, b->id) == 0 && !(kd && strcmp(kd, "1") == 0);
            free(cu);
            free(kd);
            if (!mine)
                continue;
            if (strcmp(w->child_tbl[k], "plan") == 0) {
                char *due = val(w->s, "plan", w->child[k], "due");
                char *done = val(w->s, "plan", w->child[k], "done");
                int64_t d = ms_of(due, INT64_MAX);
                if (!(done && strcmp(done, "1") == 0) && d < b->next)
                    b->next = d;
                free(due);
                free(done);
            } else if (strcmp(w->child_tbl[k], "followup") == 0) {
                char *at = val(w->s, "followup", w->child[k], "at");
                int64_t a = ms_of(at, -1);
                if (a > b->last)
                    b->last = a;
                free(at);
            }
        }
    }
    return n;
}

static void brute_free(bcust *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(b[i].name);
        free(b[i].stage);
        free(b[i].owner);
        free(b[i].amount);
        free(b[i].close);
    }
}

/* The pages of a sort and search, walked 5 at a time. */
static void check_pages(world *w, const fsv_user *u, bcust *b, size_t n,
                        const char *sort, const char *search)
{
    fsv_scope sc;
    fsv_vis_scope(u, &sc);
    bcust *want = calloc(n ? n : 1, sizeof *want);
    size_t nw = 0;
    for (size_t i = 0; i < n; i++) {
        if (search) {
            char lname[64] = "";
            snprintf(lname, sizeof lname, "%s", b[i].name ? b[i].name : "");
            for (char *p = lname; *p; p++)
                if (*p >= 'A' && *p <= 'Z')
                    *p = (char)(*p - 'A' + 'a');
            int hit = strstr(lname, search) != NULL ||
                      (b[i].name && fds_pinyin_match(b[i].name, search));
            if (!hit)
                continue;
        }
        want[nw++] = b[i];
    }
    g_sort = sort;
    qsort(want, nw, sizeof *want, cmp_b);
    char after[64] = "";
    size_t got = 0;
    for (int pages = 0;; pages++) {
        assert_true(pages <= N_CUST);
        fsv_page_query q = {&sc, search, NULL, NULL, sort, after[0] ? after : NULL, 5};
        char **ids = NULL;
        size_t k = 0;
        int64_t total = 0;
        int more = 0;
        assert_int_equal(fsv_store_office_page(w->s, &q, &ids, &k, &total, &more),
                         FSV_OK);
        assert_int_equal(total, (int64_t)nw);
        for (size_t i = 0; i < k; i++) {
            assert_true(got < nw);
            if (strcmp(ids[i], want[got].id) != 0)
                fail_msg("%s sort %s search %s: #%zu is %s, brute force says %s",
                         u->name, sort, search ? search : "-", got, ids[i],
                         want[got].id);
            got++;
            snprintf(after, sizeof after, "%s", ids[i]);
            free(ids[i]);
        }
        free(ids);
        if (!more)
            break;
    }
    assert_int_equal(got, nw);
    free(want);
}

typedef struct seen {
    char cust[N_CUST][40];
    char stages[N_CUST][8];     /* bit per stage index */
} seen;

static int all_rows(void *ud, const fsv_row *row, int *include)
{
    (void)ud, (void)row;
    *include = 1;
    return FSV_OK;
}

/* For each customer, the stages its stage field ever held (history). */
static void stage_history(world *w, unsigned char bits[N_CUST])
{
    int64_t after = 0, last = 0;
    int more = 1;
    memset(bits, 0, N_CUST);
    while (more) {
        fdsp_change *ch = NULL;
        size_t n = 0;
        assert_int_equal(fsv_store_changes_after(w->s, after, 500, NULL, all_rows,
                                                 NULL, &ch, &n, &last, &more), FSV_OK);
        for (size_t i = 0; i < n; i++) {
            if (strcmp(ch[i].table, "customer") == 0 &&
                strcmp(ch[i].field, "stage") == 0 && ch[i].value)
                for (int c = 0; c < N_CUST; c++)
                    if (strcmp(w->cust[c], ch[i].record) == 0)
                        for (int s = 0; s < 7; s++)
                            if (strcmp(stages[s], ch[i].value) == 0)
                                bits[c] |= (unsigned char)(1u << s);
            fdsp_change_clear(&ch[i]);
        }
        free(ch);
        if (last <= after)
            break;
        after = last;
    }
}

static json_t *defs(void)
{
    fds_replica *r = NULL;
    char err[128];
    json_t *d = NULL;
    assert_int_equal(fds_replica_open(":memory:", NULL, &r, err, sizeof err), FDS_OK);
    assert_int_equal(fds_stagedef_list(r, &d), FDS_OK);
    fds_replica_close(r);
    return d;
}

static json_t *row_of(json_t *reps, const char *user)
{
    size_t i;
    json_t *x;
    json_array_foreach(reps, i, x)
        if (strcmp(json_string_value(json_object_get(x, "user")), user) == 0)
            return x;
    return NULL;
}

static void check_figures(world *w, const fsv_user *u, bcust *b, size_t n,
                          json_t *sdefs, const unsigned char bits[N_CUST])
{
    json_t *sum = NULL, *ana = NULL, *fdefs = json_array();
    assert_int_equal(fsv_fig_summary(w->s, u, sdefs, fdefs, g_now, 0, &sum), FSV_OK);
    assert_int_equal(fsv_fig_analysis(w->s, u, sdefs, g_now, "UTC", 0, &ana), FSV_OK);
    json_decref(fdefs);
    assert_int_equal(json_integer_value(json_object_get(sum, "customers")), (json_int_t)n);
    json_t *funnel = json_object_get(ana, "funnel");
    json_t *pipeline = json_object_get(json_object_get(ana, "money"), "pipeline");
    for (int s = 0; s < 7; s++) {
        json_int_t count = 0, reached = 0;
        double value = 0;
        for (size_t i = 0; i < n; i++) {
            count += b[i].stage && strcmp(b[i].stage, stages[s]) == 0;
            if (b[i].stage && strcmp(b[i].stage, stages[s]) == 0 && b[i].amount)
                value += strtod(b[i].amount, NULL);
            for (int c = 0; c < N_CUST; c++)
                if (strcmp(w->cust[c], b[i].id) == 0)
                    reached += (bits[c] >> s) & 1;
        }
        assert_int_equal(json_integer_value(json_object_get(json_object_get(sum, "stages"),
                                                            stages[s])), count);
        json_t *f = json_array_get(funnel, (size_t)s);
        assert_string_equal(json_string_value(json_object_get(f, "stage")), stages[s]);
        assert_int_equal(json_integer_value(json_object_get(f, "count")), count);
        if (strcmp(stages[s], "lost") != 0)
            assert_int_equal(json_integer_value(json_object_get(f, "reached")), reached);
        json_t *p = json_array_get(pipeline, (size_t)s);
        assert_true(fabs(json_number_value(json_object_get(p, "value")) - value) < 0.01);
    }
    /* Per owner: customers; follow-ups in the last 7 days and overdue
    ** plans on their customers. */
    json_t *reps = json_object_get(sum, "reps");
    for (size_t i = 0; i < n; i++) {
        json_t *row = row_of(reps, b[i].owner);
        assert_non_null(row);
    }
    size_t j;
    json_t *row;
    json_array_foreach(reps, j, row) {
        const char *user = json_string_value(json_object_get(row, "user"));
        json_int_t custs = 0, recent = 0, overdue = 0;
        for (size_t i = 0; i < n; i++) {
            if (strcmp(b[i].owner, user) != 0)
                continue;
            custs++;
            for (int k = 0; k < N_CHILD; k++) {
                char *cu = val(w->s, w->child_tbl[k], w->child[k], "customer");
                char *kd = val(w->s, w->child_tbl[k], w->child[k], "deleted");
                int mine = cu && strcmp(cu, b[i].id) == 0 && !(kd && strcmp(kd, "1") == 0);
                free(cu);
                free(kd);
                if (!mine)
                    continue;
                if (strcmp(w->child_tbl[k], "followup") == 0) {
                    char *at = val(w->s, "followup", w->child[k], "at");
                    int64_t a = ms_of(at, -1);
                    recent += a >= g_now - 7 * DAY && a <= g_now;
                    free(at);
                } else if (strcmp(w->child_tbl[k], "plan") == 0) {
                    char *due = val(w->s, "plan", w->child[k], "due");
                    char *done = val(w->s, "plan", w->child[k], "done");
                    int64_t d = ms_of(due, INT64_MAX);
                    overdue += d < g_now && !(done && strcmp(done, "1") == 0);
                    free(due);
                    free(done);
                }
            }
        }
        assert_int_equal(json_integer_value(json_object_get(row, "customers")), custs);
        assert_int_equal(json_integer_value(json_object_get(row, "followups_7d")), recent);
        assert_int_equal(json_integer_value(json_object_get(row, "overdue")), overdue);
    }
    json_decref(sum);
    json_decref(ana);
}

static void test_exact(void **state)
{
    (void)state;
    static const fsv_user who[] = {
        {"r1", "rep", "t1", 0}, {"r3", "rep", "t2", 0}, {"m1", "manager", "t1", 0},
        {"m2", "manager", "t2", 0}, {"m9", "manager", "", 0},
        {"hq", "manager", "*", 0}, {"root", "admin", "", 0},
    };
    json_t *sdefs = defs();
    for (unsigned seed = 1; seed <= SEEDS; seed++) {
        ts_store_place place;
        world w;
        char err[256];
        memset(&w, 0, sizeof w);
        rng = 0x9E3779B97F4A7C15ULL * seed;
        assert_int_equal(current->make(&place, "office"), 0);
        assert_int_equal(fsv_store_open(place.url, 1, &w.s, err, sizeof err), FSV_OK);
        for (int i = 0; i < 6; i++)
            assert_int_equal(fsv_store_user_add(w.s, users[i], i < 4 ? "rep" : "manager",
                                                i == 0 || i == 1 || i == 4 ? "t1" : "t2"),
                             FSV_OK);
        build(&w);
        /* Reopened: the projections on disk are what the next server reads. */
        fsv_store_close(w.s);
        assert_int_equal(fsv_store_open(place.url, 0, &w.s, err, sizeof err), FSV_OK);
        unsigned char bits[N_CUST];
        stage_history(&w, bits);
        for (size_t k = 0; k < sizeof who / sizeof who[0]; k++) {
            bcust b[N_CUST];
            size_t n = brute(&w, &who[k], b);
            const char *sorts[] = {"name", "amount", "next", "last"};
            for (int s = 0; s < 4; s++)
                check_pages(&w, &who[k], b, n, sorts[s], NULL);
            check_pages(&w, &who[k], b, n, "name", "zh");
            check_pages(&w, &who[k], b, n, "amount", "ze");
            check_pages(&w, &who[k], b, n, "name", "li");
            check_figures(&w, &who[k], b, n, sdefs, bits);
            brute_free(b, n);
        }
        fsv_store_close(w.s);
        current->destroy(&place);
    }
    json_decref(sdefs);
}

/* A store made before the office view gets its projections on open. */
static void test_rebuilt_on_open(void **state)
{
    (void)state;
    ts_store_place place;
    world w;
    char err[256];
    memset(&w, 0, sizeof w);
    rng = 77;
    assert_int_equal(current->make(&place, "office2"), 0);
    assert_int_equal(fsv_store_open(place.url, 1, &w.s, err, sizeof err), FSV_OK);
    build(&w);
    fsv_store_close(w.s);
    if (place.path[0]) {    /* SQLite: drop the projections as an old store */
        sqlite3 *db = NULL;
        assert_int_equal(sqlite3_open(place.path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, "DROP TABLE ov_cust; DROP TABLE ov_child;"
                                      " DROP TABLE ov_seen; DROP TABLE ov_share;",
                                      NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
    }
    assert_int_equal(fsv_store_open(place.url, 0, &w.s, err, sizeof err), FSV_OK);
    const fsv_user admin = {"root", "admin", "", 0};
    bcust b[N_CUST];
    size_t n = brute(&w, &admin, b);
    check_pages(&w, &admin, b, n, "name", NULL);
    check_pages(&w, &admin, b, n, "last", NULL);
    unsigned char bits[N_CUST];
    stage_history(&w, bits);
    json_t *sdefs = defs();
    check_figures(&w, &admin, b, n, sdefs, bits);
    json_decref(sdefs);
    brute_free(b, n);
    fsv_store_close(w.s);
    current->destroy(&place);
}

/* ---- After every random step: nested teams, moves, several roles ----------- */

/* The figures from the aggregates equal those of the scans, whole (SQLite:
** the scans are what a store without aggregates answers). */
static void same_both_ways(world *w, const fsv_user *u, const char *team,
                           json_t *sdefs, const char *tz, int step)
{
    json_t *fdefs = json_array(), *a[2] = {NULL, NULL}, *b[2] = {NULL, NULL};
    for (int agg = 1; agg >= 0; agg--) {
        fsv__sq_agg_use(w->s, agg);
        json_t **o = agg ? a : b;
        assert_int_equal(fsv_fig_summary_team(w->s, u, team, sdefs, fdefs, g_now, 0,
                                              &o[0]), FSV_OK);
        assert_int_equal(fsv_fig_analysis_team(w->s, u, team, sdefs, g_now, tz, 0,
                                               &o[1]), FSV_OK);
    }
    fsv__sq_agg_use(w->s, 1);
    for (int k = 0; k < 2; k++)
        if (!json_equal(a[k], b[k])) {
            char *x = json_dumps(a[k], JSON_SORT_KEYS | JSON_COMPACT);
            char *y = json_dumps(b[k], JSON_SORT_KEYS | JSON_COMPACT);
            fail_msg("step %d, %s team %s, %s: aggregates\n%s\nscan\n%s", step,
                     u->name, team ? team : "-", k ? "analysis" : "summary", x, y);
        }
    for (int k = 0; k < 2; k++) {
        json_decref(a[k]);
        json_decref(b[k]);
    }
    json_decref(fdefs);
}

static void test_steps(void **state)
{
    (void)state;
    /* t1 > t1a, t1b; t2.  r1..r4 reps (t1a, t1b, t2, t1), m1 manager of
    ** t1 (sees t1a and t1b), m2 of t2; the viewers add a manager of t1a,
    ** one without a team, the head office and an admin. */
    static const fsv_user who[] = {
        {"r1", "rep", "t1a", 0}, {"r3", "rep", "t2", 0},
        {"m1", "manager", "t1", 0}, {"m2", "manager", "t2", 0},
        {"ma", "manager", "t1a", 0}, {"m9", "manager", "", 0},
        {"hq", "manager", "*", 0}, {"root", "admin", "", 0},
    };
    static const char *const teams_of[] = {"t1a", "t1b", "t2", "t1", "t1", "t2"};
    static const char *const tzs[] = {"UTC", "Asia/Kolkata", "America/New_York",
                                      "Asia/Shanghai"};
    json_t *sdefs = defs();
    int is_sqlite = 0;
    for (unsigned seed = 1; seed <= 3; seed++) {
        ts_store_place place;
        world w;
        char err[256];
        memset(&w, 0, sizeof w);
        rng = 0xD1B54A32D192ED03ULL * seed;
        assert_int_equal(current->make(&place, "office3"), 0);
        is_sqlite = place.path[0] != '\0';
        assert_int_equal(fsv_store_open(place.url, 1, &w.s, err, sizeof err), FSV_OK);
        assert_int_equal(fsv_store_team_add(w.s, "t1", NULL), FSV_OK);
        assert_int_equal(fsv_store_team_add(w.s, "t1a", "t1"), FSV_OK);
        assert_int_equal(fsv_store_team_add(w.s, "t1b", "t1"), FSV_OK);
        assert_int_equal(fsv_store_team_add(w.s, "t2", NULL), FSV_OK);
        for (int i = 0; i < 6; i++)
            assert_int_equal(fsv_store_user_add(w.s, users[i], i < 4 ? "rep" : "manager",
                                                teams_of[i]), FSV_OK);
        assert_int_equal(fsv_store_user_add(w.s, "ma", "manager", "t1a"), FSV_OK);
        /* Customers and records, then one small transaction per step. */
        static const char *const kinds[] = {"followup", "plan", "stagechg"};
        for (int i = 0; i < N_CUST; i++)
            snprintf(w.cust[i], sizeof w.cust[i], "c%08x-%02d", (unsigned)rnd(1u << 30), i);
        for (int i = 0; i < N_CHILD; i++) {
            w.child_tbl[i] = kinds[rnd(3)];
            snprintf(w.child[i], sizeof w.child[i], "k%08x-%02d", (unsigned)rnd(1u << 30), i);
        }
        assert_int_equal(fsv_store_begin(w.s), FSV_OK);
        for (int i = 0; i < N_CUST; i++) {
            int dev = (int)rnd(12);
            put(&w, "customer", w.cust[i], "name", names[rnd(13)], dev);
            put(&w, "customer", w.cust[i], "stage", "lead", dev);
        }
        /* Some records name their customer before it exists. */
        for (int i = 0; i < N_CHILD; i++)
            put(&w, w.child_tbl[i], w.child[i], "customer", w.cust[rnd(N_CUST)],
                (int)rnd(12));
        assert_int_equal(fsv_store_commit(w.s), FSV_OK);
        g_now = NOW_MS + 13 * 3600000LL + 37 * 60000LL;
        for (int step = 0; step < 30; step++) {
            if (rnd(10) == 0) {     /* a move: scopes change, owners do not */
                int64_t id = 0;
                static const char *const to[] = {"t1a", "t1b", "t2", "t1", ""};
                assert_int_equal(fsv_store_user_set(w.s, users[rnd(4)], to[rnd(5)],
                                                    NULL, &id), FSV_OK);
            }
            assert_int_equal(fsv_store_begin(w.s), FSV_OK);
            for (unsigned i = 0, n = 1 + rnd(3); i < n; i++)
                act(&w);
            if (rnd(8) == 0)
                assert_int_equal(fsv_store_rollback(w.s), FSV_OK);
            else
                assert_int_equal(fsv_store_commit(w.s), FSV_OK);
            unsigned char bits[N_CUST];
            stage_history(&w, bits);
            /* Brute force for two viewers a step (in turn), both ways
            ** for every viewer, and with a team filter. */
            for (size_t k = 0; k < sizeof who / sizeof who[0]; k++) {
                if (k % 4 == (size_t)step % 4) {
                    bcust b[N_CUST];
                    size_t n = brute(&w, &who[k], b);
                    check_figures(&w, &who[k], b, n, sdefs, bits);
                    brute_free(b, n);
                }
                if (is_sqlite)
                    same_both_ways(&w, &who[k], NULL, sdefs, tzs[(step + k) % 4], step);
            }
            if (is_sqlite) {
                same_both_ways(&w, &who[2], "t1a", sdefs, "Asia/Kolkata", step);
                same_both_ways(&w, &who[6], "t1", sdefs, "UTC", step);
                same_both_ways(&w, &who[6], "t2", sdefs, "Asia/Shanghai", step);
            }
        }
        /* Reopened, and with the aggregates dropped (an older store):
        ** rebuilt at open, the same again. */
        fsv_store_close(w.s);
        if (is_sqlite) {
            sqlite3 *db = NULL;
            assert_int_equal(sqlite3_open(place.path, &db), SQLITE_OK);
            assert_int_equal(sqlite3_exec(db, "DROP TABLE ov_ag_cust; DROP TABLE ov_ag_seen;"
                                          " DROP TABLE ov_ag_day;", NULL, NULL, NULL),
                             SQLITE_OK);
            sqlite3_close(db);
        }
        assert_int_equal(fsv_store_open(place.url, 0, &w.s, err, sizeof err), FSV_OK);
        unsigned char bits[N_CUST];
        stage_history(&w, bits);
        for (size_t k = 0; k < sizeof who / sizeof who[0]; k++) {
            bcust b[N_CUST];
            size_t n = brute(&w, &who[k], b);
            check_figures(&w, &who[k], b, n, sdefs, bits);
            brute_free(b, n);
            if (is_sqlite)
                same_both_ways(&w, &who[k], NULL, sdefs, "Asia/Kolkata", 99);
        }
        g_now = NOW_MS;
        fsv_store_close(w.s);
        current->destroy(&place);
    }
    json_decref(sdefs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact),
        cmocka_unit_test(test_rebuilt_on_open),
        cmocka_unit_test(test_steps),
    };
    int failed = 0;
    for (size_t i = 0; i < ts_n_store_backends; i++) {
        current = &ts_store_backends[i];
        if (ts_store_lacks(current, "office"))
            continue;
        failed |= cmocka_run_group_tests_name(current->name, tests, NULL, NULL);
    }
    return failed;
}
