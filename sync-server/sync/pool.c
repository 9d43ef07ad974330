/*
** pool.c — the customer pool (公海) on the server (pool.h).
*/
#include "pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "server.h"
#include "visibility.h"

/* Start of the server-local day holding now_ms (the daily claim cap). */
static int64_t day_start_ms(int64_t now_ms)
{
    time_t t = (time_t)(now_ms / 1000);
    struct tm tm;
    if (!localtime_r(&t, &tm))
        return now_ms - now_ms % FSV_DAY_MS;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_isdst = -1;
    time_t d = mktime(&tm);
    return d == (time_t)-1 ? now_ms - now_ms % FSV_DAY_MS : (int64_t)d * 1000;
}

static void date_text(int64_t ms, char *out, size_t cap)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(out, cap, "%lld", (long long)ms);
}

static int refuse(int *code, char *why, size_t whylen, const fdsp_change *c,
                  const char *rule, const char *text)
{
    snprintf(why, whylen, "pool_rule: %s %s field %s: %s (rule %s)", c->table,
             c->record, c->field, text, rule);
    *code = FDSP_E_FORBIDDEN;
    return FSV_OK;
}

/* The team of user (""), for the pool a customer of theirs goes to. */
static int team_of(fsv_store *st, const char *user, char *team)
{
    fsv_user o;
    team[0] = '\0';
    int rc = fsv_store_user_get(st, user, &o);
    if (rc == FSV_OK)
        memcpy(team, o.team, FSV_NAME_MAX + 1);
    return rc == FSV_NOTFOUND ? FSV_OK : rc;
}

/* The rules a user claiming customer for themselves must pass. */
static int check_claim(fsv_store *st, const fsv_user *u, const fdsp_change *c,
                       const fsv_pool_row *p, int64_t now_ms, int claims,
                       int *code, char *why, size_t whylen)
{
    fsv_pool_rules r;
    int rc = fsv_store_pool_rules_get(st, &r);
    if (rc != FSV_OK)
        return rc;
    char text[256], when[40];
    if (r.cooldown_days > 0 && strcmp(p->former, u->name) == 0 &&
        now_ms - p->since_ms < r.cooldown_days * FSV_DAY_MS) {
        date_text(p->since_ms + r.cooldown_days * FSV_DAY_MS, when,
                  sizeof when);
        snprintf(text, sizeof text, "you were its owner until it went to the"
                 " pool; you may claim it again from %s", when);
        return refuse(code, why, whylen, c, "cooldown-days", text);
    }
    if (r.max_claims_per_day > 0) {
        int64_t n = 0;
        rc = fsv_store_pool_log_count(st, u->name, "claim",
                                      day_start_ms(now_ms), &n);
        if (rc != FSV_OK)
            return rc;
        if (n + claims >= r.max_claims_per_day) {
            snprintf(text, sizeof text, "you have claimed %lld customers"
                     " today, the most a day is %lld", (long long)(n + claims),
                     (long long)r.max_claims_per_day);
            return refuse(code, why, whylen, c, "max-claims-per-day", text);
        }
    }
    if (r.max_owned > 0) {
        int64_t n = 0;
        rc = fsv_store_pool_owned(st, u->name, &n);
        if (rc != FSV_OK)
            return rc;
        if (n + claims >= r.max_owned) {
            snprintf(text, sizeof text, "you own %lld customers, the most one"
                     " may hold is %lld", (long long)(n + claims),
                     (long long)r.max_owned);
            return refuse(code, why, whylen, c, "max-owned", text);
        }
    }
    return FSV_OK;
}

int fsv_pool_owner_change(fsv_store *st, const fsv_user *u,
                          const fdsp_change *c, int64_t now_ms, int *claims,
                          int *code, char *why, size_t whylen, int *kind,
                          char *team)
{
    *kind = 0;
    *code = 0;
    team[0] = '\0';
    if (strcmp(c->table, "customer") != 0 || strcmp(c->field, "owner") != 0)
        return FSV_OK;
    char *before = NULL;
    int rc = fsv_vis_owner(st, c->record, &before);
    if (rc != FSV_OK || !before)
        return rc;      /* a new customer: not a pool move */
    const char *to = c->value ? c->value : "";
    fsv_pool_row p;
    if (!to[0] && before[0]) {
        /* A release (or a manager putting it in the pool): the pool of
        ** the team of the owner it leaves. */
        memset(&p, 0, sizeof p);
        rc = team_of(st, before, p.team);
        p.in_pool = 1;
        p.since_ms = now_ms;
        snprintf(p.former, sizeof p.former, "%s", before);
        if (rc == FSV_OK)
            rc = fsv_store_pool_put(st, c->record, &p);
        if (rc == FSV_OK)
            rc = fsv_store_pool_log(st, c->record, before, "release", p.team,
                                    now_ms);
    } else if (to[0] && !before[0]) {
        /* A claim: the first one the server accepts wins; the rules bind
        ** whoever claims for themselves (a manager handing a pool customer
        ** to a rep is an assignment). */
        rc = fsv_store_pool_get(st, c->record, &p);
        if (rc == FSV_NOTFOUND) {
            memset(&p, 0, sizeof p);
            rc = FSV_OK;
        }
        if (rc == FSV_OK && strcmp(to, u->name) == 0 && !fsv_vis_sees_all(u))
            rc = check_claim(st, u, c, &p, now_ms, *claims, code, why, whylen);
        if (rc == FSV_OK && !*code) {
            p.in_pool = 0;
            snprintf(p.claimed_by, sizeof p.claimed_by, "%s", to);
            p.claimed_ms = now_ms;
            rc = fsv_store_pool_put(st, c->record, &p);
            if (rc == FSV_OK)
                rc = fsv_store_pool_log(st, c->record, to, "claim", p.team,
                                        now_ms);
            if (rc == FSV_OK) {
                (*claims)++;
                *kind = FSV_VIS_POOL;
                memcpy(team, p.team, FSV_NAME_MAX + 1);
            }
        }
    }
    free(before);
    return rc;
}

/* ---- The server's own writes ------------------------------------------------ */

/* The server's device: its own id in every version vector it writes and
** its counter, accepted like a device's (rule 15 then holds for devices
** that extend its versions). */
struct sys_writer {
    fsv_store *st;
    char device[FDSP_MAX_ID + 1];
    int64_t counter, counter0;
    uint64_t hlc;
    int64_t now_ms;
};

/* Write field of tbl/rid = value as user "system", dominating every
** version the register holds (it was decided knowing them).  *seq the
** history seq (0 if nothing appended). */
static int sys_write(struct sys_writer *w, const char *tbl, const char *rid,
                     const char *field, const char *value, int64_t *seq)
{
    fds_register reg = {0, NULL};
    fdsp_vv vv = {0, NULL};
    *seq = 0;
    int rc = fsv_store_api_register(w->st, tbl, rid, field, &reg);
    if (rc == FSV_NOTFOUND)
        rc = FSV_OK;
    if (rc != FSV_OK)
        return rc;
    uint64_t last = w->hlc;
    for (size_t i = 0; i < reg.n; i++)
        if (reg.v[i].hlc > last)
            last = reg.v[i].hlc;
    if (reg.n && fds_register_vv(&reg, &vv) != FDS_OK)
        rc = FSV_NOMEM;
    fds_register_clear(&reg);
    /* Our own entry, in device order. */
    fdsp_vv_entry *e = rc == FSV_OK ? calloc(vv.n + 1, sizeof *e) : NULL;
    char *dev = e ? strdup(w->device) : NULL;
    if (rc == FSV_OK && (!e || !dev)) {
        free(e);
        fdsp_vv_clear(&vv);
        return FSV_NOMEM;
    }
    if (rc != FSV_OK) {
        fdsp_vv_clear(&vv);
        return rc;
    }
    size_t k = 0;
    int placed = 0;
    w->counter++;
    for (size_t i = 0; i < vv.n; i++) {
        int d = strcmp(vv.e[i].device, dev);
        if (d == 0) {
            free(vv.e[i].device);
            continue;
        }
        if (d > 0 && !placed) {
            e[k].device = dev;
            e[k++].counter = (uint64_t)w->counter;
            placed = 1;
        }
        e[k++] = vv.e[i];
    }
    if (!placed) {
        e[k].device = dev;
        e[k++].counter = (uint64_t)w->counter;
    }
    free(vv.e);
    vv.e = e;
    vv.n = k;
    w->hlc = fds_hlc_next(last, w->now_ms);
    fdsp_change c;
    memset(&c, 0, sizeof c);
    c.table = (char *)tbl;
    c.record = (char *)rid;
    c.field = (char *)field;
    c.value = (char *)value;
    c.vv = vv;
    c.hlc = w->hlc;
    c.device = w->device;
    c.user = (char *)FSV_POOL_USER;
    c.server_ms = w->now_ms;
    int outcome = 0;
    rc = fsv_store_merge_change(w->st, &c, &outcome);
    *seq = c.seq;
    fdsp_vv_clear(&vv);
    return rc;
}

/* The rules as the devices read them (visibility.h FSV_POOL_RULES_*). */
static int publish_rules(struct sys_writer *w, const fsv_pool_rules *r,
                         int *changed)
{
    const struct { const char *f; int64_t v; } v[] = {
        {"return_days", r->return_days}, {"warn_days", r->warn_days},
        {"cooldown_days", r->cooldown_days},
        {"max_claims_per_day", r->max_claims_per_day},
        {"max_owned", r->max_owned},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char want[32], *have = NULL;
        snprintf(want, sizeof want, "%lld", (long long)v[i].v);
        int rc = fsv_store_field_value(w->st, FSV_POOL_RULES_TABLE,
                                       FSV_POOL_RULES_RECORD, v[i].f, &have);
        if (rc != FSV_OK && rc != FSV_NOTFOUND)
            return rc;
        /* Never set (no record, rule off): nothing to say, so a server
        ** whose pool is unused writes nothing of its own. */
        int same = have ? strcmp(have, want) == 0 : v[i].v == 0;
        free(have);
        if (same)
            continue;
        int64_t seq = 0;
        rc = sys_write(w, FSV_POOL_RULES_TABLE, FSV_POOL_RULES_RECORD, v[i].f,
                       want, &seq);
        if (rc != FSV_OK)
            return rc;
        *changed = 1;
    }
    return FSV_OK;
}

struct due_list {
    fsv_store *st;
    int64_t cutoff_ms;      /* base times before it: back to the pool */
    char **id, **owner;
    size_t n, cap;
    int rc;
};

/* Won customers never return: stage "won", or a stage defined as won. */
static int stage_won(fsv_store *st, const char *stage)
{
    if (!stage || !stage[0])
        return 0;
    if (strcmp(stage, "won") == 0)
        return 1;
    char *v = NULL;
    int won = fsv_store_field_value(st, "stagedef", stage, "won", &v) == FSV_OK &&
              v && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0);
    free(v);
    return won;
}

/* When the owner's clock started: the later of the last follow-up and the
** time the owner was last set (creation, claim, assign).  core's today.c
** computes the same on the device for "returning". */
static int owner_since(fsv_store *st, const char *id, int64_t last_followup,
                       int64_t *base)
{
    fds_register reg = {0, NULL};
    *base = last_followup;
    int rc = fsv_store_api_register(st, "customer", id, "owner", &reg);
    if (rc == FSV_NOTFOUND)
        return FSV_OK;
    if (rc != FSV_OK)
        return rc;
    if (reg.n) {
        int64_t ms = (int64_t)(reg.v[0].hlc >> 16);
        if (ms > *base)
            *base = ms;
    }
    fds_register_clear(&reg);
    return FSV_OK;
}

int fsv_pool_return_at(fsv_store *st, const char *id, const char *stage,
                       int64_t last_followup_ms, int64_t return_days,
                       int64_t *at)
{
    *at = -1;
    if (stage_won(st, stage))
        return FSV_OK;
    int64_t base = 0;
    int rc = owner_since(st, id, last_followup_ms, &base);
    if (rc == FSV_OK && base > 0)
        *at = base + return_days * FSV_DAY_MS;
    return rc;
}

static int due_cb(void *ud, const fsv_office_cust *c)
{
    struct due_list *d = ud;
    if (!c->owner || !c->owner[0] || stage_won(d->st, c->stage))
        return FSV_OK;
    if (c->last_followup_ms >= d->cutoff_ms)
        return FSV_OK;          /* followed up lately: no need to look */
    if (d->n == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 16;
        char **a = realloc(d->id, cap * sizeof *a);
        if (a)
            d->id = a;
        char **b = a ? realloc(d->owner, cap * sizeof *b) : NULL;
        if (b)
            d->owner = b;
        if (!a || !b)
            return FSV_NOMEM;
        d->cap = cap;
    }
    d->id[d->n] = strdup(c->id);
    d->owner[d->n] = strdup(c->owner);
    d->n++;
    if (!d->id[d->n - 1] || !d->owner[d->n - 1])
        return FSV_NOMEM;
    return FSV_OK;
}

static int return_one(struct sys_writer *w, const char *id, const char *owner)
{
    fsv_pool_row p;
    memset(&p, 0, sizeof p);
    int rc = team_of(w->st, owner, p.team);
    char since[40];
    date_text(w->now_ms, since, sizeof since);
    int64_t seq = 0, s2 = 0;
    if (rc == FSV_OK)
        rc = sys_write(w, "customer", id, "owner", "", &seq);
    if (rc == FSV_OK && seq)
        rc = fsv_store_vis_event_add(w->st, seq, id, owner, FSV_VIS_OWNER);
    if (rc == FSV_OK)
        rc = sys_write(w, "customer", id, "pool", "1", &s2);
    if (rc == FSV_OK)
        rc = sys_write(w, "customer", id, "pool_since", since, &s2);
    p.in_pool = 1;
    p.since_ms = w->now_ms;
    snprintf(p.former, sizeof p.former, "%s", owner);
    if (rc == FSV_OK)
        rc = fsv_store_pool_put(w->st, id, &p);
    if (rc == FSV_OK)
        rc = fsv_store_pool_log(w->st, id, owner, "return", p.team, w->now_ms);
    if (rc == FSV_OK)
        fsv_info("pool_return customer=%s owner=%s team=%s", id, owner, p.team);
    return rc;
}

int fsv_pool_run(fsv_store *st, int64_t now_ms, int *changed, int *returned)
{
    struct sys_writer w;
    struct due_list d;
    fsv_pool_rules r;
    char store_id[FSV_STORE_ID_LEN + 1], bound[FSV_NAME_MAX + 1];
    int64_t epoch = 0;
    *changed = 0;
    *returned = 0;
    memset(&w, 0, sizeof w);
    memset(&d, 0, sizeof d);
    w.st = st;
    w.now_ms = now_ms;
    int rc = fsv_store_begin(st);
    if (rc == FSV_OK)
        rc = fsv_store_pool_rules_get(st, &r);
    if (rc == FSV_OK)
        rc = fsv_store_identity(st, store_id, &epoch);
    if (rc == FSV_OK) {
        snprintf(w.device, sizeof w.device, "server-%s", store_id);
        rc = fsv_store_device_get(st, w.device, bound, &w.counter);
        if (rc == FSV_NOTFOUND)
            rc = FSV_OK;
        w.counter0 = w.counter;
    }
    if (rc == FSV_OK)
        rc = publish_rules(&w, &r, changed);
    if (rc == FSV_OK && r.return_days > 0) {
        fsv_scope all = {1, "", "", NULL, ""};
        d.st = st;
        d.cutoff_ms = now_ms - r.return_days * FSV_DAY_MS;
        rc = fsv_store_office_customers(st, &all, due_cb, &d);
        for (size_t i = 0; rc == FSV_OK && i < d.n; i++) {
            int64_t base = 0;
            rc = owner_since(st, d.id[i], -1, &base);
            if (rc == FSV_OK && base < d.cutoff_ms) {
                rc = return_one(&w, d.id[i], d.owner[i]);
                ++*returned;
                *changed = 1;
            }
        }
    }
    for (size_t i = 0; i < d.n; i++) {
        free(d.id[i]);
        free(d.owner[i]);
    }
    free(d.id);
    free(d.owner);
    if (rc == FSV_OK && w.counter != w.counter0)
        rc = fsv_store_device_accept(st, w.device, FSV_POOL_USER, w.counter);
    if (rc == FSV_OK)
        rc = fsv_store_commit(st);
    if (rc != FSV_OK) {
        fsv_store_rollback(st);
        *changed = 0;
        *returned = 0;
    }
    return rc;
}

static void pool_tick(lws_sorted_usec_list_t *sul)
{
    fsv_server *srv = lws_container_of(sul, fsv_server, pool_sul);
    int changed = 0, returned = 0;
    int rc = fsv_pool_run(srv->store, fsv_now_ms(), &changed, &returned);
    if (rc != FSV_OK) {
        fsv_warn("pool_run_failed why=%s", fsv_store_errmsg(srv->store));
    } else if (changed) {
        int64_t head = 0;
        if (fsv_store_head(srv->store, &head) == FSV_OK)
            fsv_live_notify_all(srv, head);
        if (returned)
            fsv_info("pool_returned customers=%d head=%lld", returned,
                     (long long)head);
    }
    lws_sul_schedule(srv->ctx, 0, &srv->pool_sul, pool_tick, FSV_POOL_TICK_US);
}

void fsv_pool_start(fsv_server *srv)
{
    /* At start (now, before the first device is served) and every minute. */
    lws_sul_schedule(srv->ctx, 0, &srv->pool_sul, pool_tick, 1);
}

void fsv_pool_stop(fsv_server *srv)
{
    lws_sul_cancel(&srv->pool_sul);
}
