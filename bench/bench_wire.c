/*
** bench_wire.c — bytes on the wire per record, plain changes against change
** groups (PROTOCOL.md §5.1), and the codec's CPU per record for each form.
** No network and no server: a real replica writes peer-shaped records (a
** customer with nine filled fields, follow-ups with six), its sans-I/O
** session gives the push it would send, and the same changes stamped the
** way the server stamps them (user, seq, accept time) make the pull pages.
**
**   bench_wire [CUSTOMERS [FOLLOWUPS_PER_CUSTOMER [ROUNDS]]]
**
** defaults 200, 5, 20: 1,200 records, 8,000 field changes, each page
** encoded and decoded ROUNDS times.  Bounded: a few seconds.
**
** BENCH_WIRE_DUMP=DIR also writes every page, plain and grouped, as
** DIR/<pages>-<n>.<plain|grouped>.json (to time another build's codec on
** the same bytes).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "fieldsync.h"
#include "fieldsync_proto.h"

static void die(const char *fmt, const char *a)
{
    fprintf(stderr, "bench_wire: ");
    fprintf(stderr, fmt, a);
    fprintf(stderr, "\n");
    exit(1);
}

static double cpu_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* ---- The records, written by a real replica ---------------------------------- */

static void generate(fds_replica *r, int customers, int followups)
{
    char name[64], phone[32], email[64], wechat[32], company[64], notes[128];
    char content[256], at[32];
    if (fds_begin(r) != FDS_OK)
        die("begin: %s", fds_errmsg(r));
    for (int i = 0; i < customers; i++) {
        snprintf(name, sizeof name, "客户 %05d", i);
        snprintf(phone, sizeof phone, "+86 138%08d", i);
        snprintf(email, sizeof email, "customer%d@example.com", i);
        snprintf(wechat, sizeof wechat, "wx_cust%d", i);
        snprintf(company, sizeof company, "Company %d 上海物流", i % 97);
        snprintf(notes, sizeof notes, "met at the trade fair, wants a quote "
                 "for %d units", 10 + i % 90);
        /* Eight given, and the owner the replica adds: nine fields. */
        json_t *in = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
                               "name", name, "phone", phone, "email", email,
                               "wechat", wechat, "company", company,
                               "title", "采购经理", "stage", "lead",
                               "notes", notes), *out = NULL;
        if (fds_customer_add(r, in, &out, NULL) != FDS_OK)
            die("customer add: %s", fds_errmsg(r));
        char id[64];
        snprintf(id, sizeof id, "%s",
                 json_string_value(json_object_get(out, "id")));
        json_decref(in);
        json_decref(out);
        for (int k = 0; k < followups; k++) {
            snprintf(content, sizeof content, "Follow-up %d: discussed the "
                     "quote, next step a visit 下周拜访", k);
            snprintf(at, sizeof at, "2026-03-%02dT10:%02d:00Z", 1 + k % 28,
                     i % 60);
            /* Four given, the customer and the author: six fields. */
            in = json_pack("{s:s, s:s, s:s, s:s}", "method", "phone",
                           "content", content, "at", at, "result",
                           "interested");
            if (fds_followup_add(r, id, in, &out) != FDS_OK)
                die("followup add: %s", fds_errmsg(r));
            json_decref(in);
            json_decref(out);
        }
    }
    if (fds_commit(r) != FDS_OK)
        die("commit: %s", fds_errmsg(r));
}

/* Every change the device pushes, in push order, through its session
** against a server that does not say "groups" (so the pushes are plain
** and hold exactly the device's changes). */
typedef struct chlist {
    fdsp_change *c;
    size_t n, cap;
} chlist;

static void collect(fds_replica *r, chlist *out)
{
    fds_session *s;
    char *buf, welcome[256];
    size_t len;
    if (fds_session_new(r, &s) != FDS_OK)
        die("session: %s", fds_errmsg(r));
    fds_session_set_push_limit(s, FDSP_MAX_BATCH);
    if (fds_session_next(s, &buf, &len) != FDS_OK)
        die("no hello%s", "");
    free(buf);
    snprintf(welcome, sizeof welcome,
             "{\"type\":\"welcome\",\"v\":1,\"user\":\"alice\",\"role\":\"rep\","
             "\"device\":\"%s\",\"head\":0}", fds_replica_device(r));
    if (fds_session_feed(s, welcome, strlen(welcome)) != FDS_OK)
        die("welcome: %s", fds_session_errmsg(s));
    for (int guard = 0; guard < 100000; guard++) {
        if (fds_session_next(s, &buf, &len) != FDS_OK)
            break;
        fdsp_msg *m = NULL;
        if (fdsp_decode(buf, len, &m, NULL, 0) != FDSP_OK)
            die("undecodable %s", buf);
        free(buf);
        char reply[160];
        if (m->type == FDSP_PUSH) {
            for (size_t i = 0; i < m->n_changes; i++) {
                if (out->n == out->cap) {
                    out->cap = out->cap ? out->cap * 2 : 1024;
                    out->c = realloc(out->c, out->cap * sizeof *out->c);
                    if (out->c == NULL)
                        die("out of memory%s", "");
                }
                fdsp_change_copy(&out->c[out->n++], &m->changes[i]);
            }
            snprintf(reply, sizeof reply, "{\"type\":\"ack\",\"batch\":%lld,"
                     "\"accepted\":%zu,\"refused\":[]}", (long long)m->batch,
                     m->n_changes);
        } else if (m->type == FDSP_PULL) {
            snprintf(reply, sizeof reply, "{\"type\":\"changes\",\"changes\""
                     ":[],\"last\":0,\"more\":false}");
        } else {
            die("unexpected %s", fdsp_typename(m->type));
        }
        fdsp_msg_free(m);
        if (fds_session_feed(s, reply, strlen(reply)) != FDS_OK)
            die("feed: %s", fds_session_errmsg(s));
    }
    fds_session_free(s);
}

/* ---- Pages ------------------------------------------------------------------ */

/* The changes of one table (NULL: all), as pages of FDSP_MAX_BATCH, for a
** push (pull = 0) or a pull (stamped as the server does). */
typedef struct pages {
    fdsp_msg *m;
    size_t n;
    size_t records;
    size_t changes;
} pages;

static void make_pages(const chlist *all, const char *table, int pull,
                       pages *p)
{
    fdsp_change *v = calloc(all->n ? all->n : 1, sizeof *v);
    size_t n = 0;
    const char *last_rec = NULL;
    memset(p, 0, sizeof *p);
    for (size_t i = 0; i < all->n; i++) {
        if (table && strcmp(all->c[i].table, table) != 0)
            continue;
        v[n] = all->c[i];               /* shallow: borrowed */
        if (pull) {
            v[n].user = "alice";
            v[n].seq = (int64_t)n + 1;
            v[n].server_ms = 1772000000000 + (int64_t)(n / FDSP_MAX_BATCH);
        }
        if (last_rec == NULL || strcmp(last_rec, v[n].record) != 0)
            p->records++;
        last_rec = v[n].record;
        n++;
    }
    p->changes = n;
    p->n = (n + FDSP_MAX_BATCH - 1) / FDSP_MAX_BATCH;
    p->m = calloc(p->n ? p->n : 1, sizeof *p->m);
    for (size_t k = 0; k < p->n; k++) {
        fdsp_msg *m = &p->m[k];
        m->type = pull ? FDSP_CHANGES : FDSP_PUSH;
        m->batch = (int64_t)k + 1;
        m->changes = v + k * FDSP_MAX_BATCH;
        m->n_changes = n - k * FDSP_MAX_BATCH < FDSP_MAX_BATCH
            ? n - k * FDSP_MAX_BATCH : FDSP_MAX_BATCH;
        m->last = m->changes[m->n_changes - 1].seq;
        m->more = k + 1 < p->n;
    }
}

static void free_pages(pages *p)
{
    if (p->n > 0)
        free(p->m[0].changes);
    free(p->m);
}

typedef struct result {
    double bytes_per_record;
    double enc_ns, dec_ns;          /* CPU per record */
} result;

static void dump(const char *what, size_t k, unsigned opts, const char *b,
                 size_t len)
{
    const char *dir = getenv("BENCH_WIRE_DUMP");
    char path[512];
    if (dir == NULL || dir[0] == '\0')
        return;
    snprintf(path, sizeof path, "%s/%s-%zu.%s.json", dir, what, k,
             opts ? "grouped" : "plain");
    for (char *c = path + strlen(dir); *c; c++)
        if (*c == ' ')
            *c = '_';
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(b, 1, len, f) != len || fclose(f) != 0)
        die("cannot write %s", path);
}

static result measure(const char *what, const pages *p, unsigned opts,
                      int rounds)
{
    result r = {0, 0, 0};
    char **buf = calloc(p->n ? p->n : 1, sizeof *buf);
    size_t *len = calloc(p->n ? p->n : 1, sizeof *len), total = 0;
    for (size_t k = 0; k < p->n; k++) {
        if (fdsp_encode_opt(&p->m[k], opts, &buf[k], &len[k]) != FDSP_OK)
            die("encode%s", "");
        dump(what, k, opts, buf[k], len[k]);
        total += len[k];
    }
    r.bytes_per_record = (double)total / (double)p->records;
    double t0 = cpu_ns();
    for (int i = 0; i < rounds; i++)
        for (size_t k = 0; k < p->n; k++) {
            char *b;
            size_t l;
            if (fdsp_encode_opt(&p->m[k], opts, &b, &l) != FDSP_OK)
                die("encode%s", "");
            free(b);
        }
    double t1 = cpu_ns();
    for (int i = 0; i < rounds; i++)
        for (size_t k = 0; k < p->n; k++) {
            fdsp_msg *m = NULL;
            if (fdsp_decode(buf[k], len[k], &m, NULL, 0) != FDSP_OK)
                die("decode%s", "");
            if (m->n_changes != p->m[k].n_changes)
                die("decoded another message%s", "");
            fdsp_msg_free(m);
        }
    double t2 = cpu_ns();
    double per = (double)rounds * (double)p->records;
    r.enc_ns = (t1 - t0) / per;
    r.dec_ns = (t2 - t1) / per;
    for (size_t k = 0; k < p->n; k++)
        free(buf[k]);
    free(buf);
    free(len);
    return r;
}

static void row(const char *what, const pages *p, int rounds)
{
    result a = measure(what, p, 0, rounds);
    result b = measure(what, p, FDSP_ENC_GROUPS, rounds);
    printf("%-18s %7zu %6.2f %9.0f %9.0f %6.2fx %8.2f %8.2f %8.2f %8.2f\n",
           what, p->records, (double)p->changes / (double)p->records,
           a.bytes_per_record, b.bytes_per_record,
           a.bytes_per_record / b.bytes_per_record, a.enc_ns / 1000,
           b.enc_ns / 1000, a.dec_ns / 1000, b.dec_ns / 1000);
}

int main(int argc, char **argv)
{
    int customers = argc > 1 ? atoi(argv[1]) : 200;
    int followups = argc > 2 ? atoi(argv[2]) : 5;
    int rounds = argc > 3 ? atoi(argv[3]) : 20;
    if (customers < 1 || customers > 100000 || followups < 0 ||
        followups > 100 || rounds < 1 || rounds > 10000)
        die("usage: bench_wire [CUSTOMERS [FOLLOWUPS [ROUNDS]]]%s", "");
    char dir[] = "/tmp/bench_wire.XXXXXX", path[64], err[256];
    if (!mkdtemp(dir))
        die("mkdtemp%s", "");
    snprintf(path, sizeof path, "%s/r.db", dir);
    fds_replica *r = NULL;
    if (fds_replica_open(path, NULL, &r, err, sizeof err) != FDS_OK)
        die("open: %s", err);
    /* A rep's replica: its follow-ups carry the author, its customers the
    ** owner, as on a phone that has synced once. */
    if (fds_replica_set_user(r, "alice") != FDS_OK)
        die("set user: %s", fds_errmsg(r));
    generate(r, customers, followups);
    chlist all = {NULL, 0, 0};
    collect(r, &all);
    fds_replica_close(r);
    unlink(path);
    char side[80];
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
    rmdir(dir);

    printf("bench_wire: %d customers, %d follow-ups each, %zu changes; "
           "pages of %d; CPU us per record over %d rounds\n", customers,
           followups, all.n, FDSP_MAX_BATCH, rounds);
    printf("%-18s %7s %6s %9s %9s %7s %8s %8s %8s %8s\n", "pages", "records",
           "fields", "B/rec", "B/rec", "ratio", "enc us", "enc us",
           "dec us", "dec us");
    printf("%-18s %7s %6s %9s %9s %7s %8s %8s %8s %8s\n", "", "", "",
           "plain", "grouped", "", "plain", "grouped", "plain", "grouped");
    static const char *const tables[] = {"customer", "followup", NULL};
    for (int pull = 0; pull < 2; pull++)
        for (int t = 0; t < 3; t++) {
            pages p;
            char what[40];
            make_pages(&all, tables[t], pull, &p);
            snprintf(what, sizeof what, "%s %s", pull ? "pull" : "push",
                     tables[t] ? tables[t] : "all");
            if (p.records > 0)
                row(what, &p, rounds);
            free_pages(&p);
        }
    for (size_t i = 0; i < all.n; i++)
        fdsp_change_clear(&all.c[i]);
    free(all.c);
    return 0;
}
