/*
** pool.c — the customer pool (公海) on the device: release, claim, the
** pool's list and the "returning" warning of `today` (DESIGN.md
** "Customer pool").
**
** Everything is ordinary registers of the customer, so nothing here needs
** a schema change or a protocol message:
**  - release writes owner "" and pool "1" (and pool_since, pool_note);
**  - a claim writes owner = this replica's user, nothing else: it is a
**    request the server may refuse (another rep was first, a rule); the
**    refusal undoes it here and the server's revoke removes the customer;
**  - the server's rules arrive as the definition record pooldef/"rules"
**    (written by the server as user "system" whenever `fieldsync-server
**    pool set` changes them), so an offline device still knows them.
** A customer is in the pool while its owner is empty and pool is "1"
** (the server's rule, sync-server/sync/visibility.c).
*/
#include "domain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MS (24LL * 3600 * 1000)

int fds__in_pool(const json_t *regs)
{
    const char *owner = fds__jstr(regs, "owner");
    const char *pool = fds__jstr(regs, "pool");
    return (!owner || !owner[0]) && pool && strcmp(pool, "1") == 0;
}

int fds_customer_release(fds_replica *r, const char *id, const char *note,
                         json_t **out)
{
    char full[FDSP_MAX_ID + 1], since[40];
    json_t *cur = NULL, *w = NULL;
    if (out)
        *out = NULL;
    if (!r || !id)
        return FDS_INVALID;
    int rc = fds__resolve(r, "customer", id, full);
    if (rc == FDS_OK)
        rc = fds__read(r, "customer", full, &cur);
    if (rc != FDS_OK)
        return rc;
    if (fds__in_pool(cur)) {
        json_decref(cur);
        return fds__error(r, FDS_INVALID, "customer %s is already in the pool",
                          full);
    }
    json_decref(cur);
    if (note && strlen(note) > FDSP_MAX_VALUE)
        return fds__bad_value(r, "note", note, "too long");
    fds_time_format(fds__now_ms(r), since, sizeof since);
    w = json_pack("{s:s, s:s, s:s}", "owner", "", "pool", "1", "pool_since",
                  since);
    if (w && note && *note && json_object_set_new(w, "pool_note",
                                                  json_string(note)) != 0) {
        json_decref(w);
        w = NULL;
    }
    if (!w)
        return fds__error(r, FDS_NOMEM, "out of memory");
    rc = fds__begin(r);
    if (rc == FDS_OK)
        rc = fds__end(r, fds__write(r, "customer", full, w));
    json_decref(w);
    if (rc == FDS_OK && out)
        rc = fds__customer_json(r, full, 0, out);
    return rc;
}

int fds_pool_claim(fds_replica *r, const char *id, json_t **out)
{
    char full[FDSP_MAX_ID + 1];
    json_t *cur = NULL;
    if (out)
        *out = NULL;
    if (!r || !id)
        return FDS_INVALID;
    if (!r->user || !*r->user)
        return fds__error(r, FDS_INVALID, "this replica has no user yet:"
                          " sync once before claiming");
    int rc = fds__resolve(r, "customer", id, full);
    if (rc == FDS_OK)
        rc = fds__read(r, "customer", full, &cur);
    if (rc != FDS_OK)
        return rc;
    int pooled = fds__in_pool(cur);
    json_decref(cur);
    if (!pooled)
        return fds__error(r, FDS_INVALID, "customer %s is not in the pool",
                          full);
    rc = fds__begin(r);
    if (rc == FDS_OK)
        rc = fds__end(r, fds__write1(r, "customer", full, "owner", r->user));
    if (rc == FDS_OK && out)
        rc = fds__customer_json(r, full, 0, out);
    return rc;
}

int fds_pool_list(fds_replica *r, const char *search, json_t **out)
{
    json_t *all = NULL, *list = NULL;
    if (!out)
        return FDS_INVALID;
    *out = NULL;
    if (!r)
        return FDS_INVALID;
    fds_query q;
    memset(&q, 0, sizeof q);
    q.search = search;
    int rc = fds_customer_list(r, &q, &all);
    if (rc != FDS_OK)
        return rc;
    if (!(list = json_array())) {
        json_decref(all);
        return fds__error(r, FDS_NOMEM, "out of memory");
    }
    size_t i;
    json_t *c;
    json_array_foreach(all, i, c)
        if (json_is_true(json_object_get(c, "pool")) &&
            json_array_append(list, c) != 0) {
            json_decref(all);
            json_decref(list);
            return fds__error(r, FDS_NOMEM, "out of memory");
        }
    json_decref(all);
    *out = list;
    return FDS_OK;
}

/* A rule of the pooldef record as a number (0: off or unknown). */
static int64_t rule(const json_t *regs, const char *key)
{
    const char *v = fds__jstr(regs, key);
    long long n = v ? strtoll(v, NULL, 10) : 0;
    return n > 0 ? (int64_t)n : 0;
}

/* Stage keys that are won: those never return. */
static int won_stages(fds_replica *r, json_t *set)
{
    json_t *list = NULL;
    int rc = fds_stagedef_list(r, &list);
    if (rc != FDS_OK)
        return rc;
    size_t i;
    json_t *s;
    int bad = 0;
    json_array_foreach(list, i, s)
        if (json_is_true(json_object_get(s, "won")))
            fds__jset(set, fds__jstr(s, "key"), json_true(), &bad);
    json_decref(list);
    return bad ? fds__error(r, FDS_NOMEM, "out of memory") : FDS_OK;
}

/* When the owner's clock started: the time the owner register was last
** written (creation, claim, assign), as the server reads it (its winning
** version's HLC time; sync-server/sync/pool.c owner_since). */
static int owner_set_ms(fds_replica *r, const char *id, int64_t *ms)
{
    fds_register reg = {0, NULL};
    *ms = 0;
    int rc = fds__reg_load(r, "customer", id, "owner", &reg);
    if (rc != FDS_OK)
        return rc;
    if (reg.n)
        *ms = (int64_t)(reg.v[0].hlc >> 16);
    fds_register_clear(&reg);
    return FDS_OK;
}

int fds__pool_returning(fds_replica *r, const json_t *ids, int64_t today,
                        json_t **out)
{
    json_t *rules = NULL, *won = NULL, *list = NULL;
    *out = NULL;
    int rc = fds__read(r, "pooldef", "rules", &rules);
    if (rc == FDS_NOTFOUND)
        rc = FDS_OK;
    if (rc != FDS_OK)
        return rc;
    int64_t ret = rule(rules, "return_days"), warn = rule(rules, "warn_days");
    json_decref(rules);
    if (!(list = json_array()) || !(won = json_object())) {
        json_decref(list);
        return fds__error(r, FDS_NOMEM, "out of memory");
    }
    if (ret == 0 || !r->user || !*r->user) {
        json_decref(won);
        *out = list;
        return FDS_OK;
    }
    rc = won_stages(r, won);
    size_t i;
    json_t *idj;
    int bad = 0;
    json_array_foreach(ids, i, idj) {
        if (rc != FDS_OK)
            break;
        const char *id = json_string_value(idj);
        json_t *c = NULL;
        if ((rc = fds__customer_json(r, id, 0, &c)) != FDS_OK) {
            if (rc == FDS_NOTFOUND)
                rc = FDS_OK;
            continue;
        }
        const char *owner = fds__jstr(c, "owner"), *stage = fds__jstr(c, "stage");
        if (!owner || strcmp(owner, r->user) != 0 ||
            (stage && json_object_get(won, stage))) {
            json_decref(c);
            continue;
        }
        int64_t last = 0, set = 0;
        rc = fds__last_followup(r, id, &last);
        if (rc == FDS_OK)
            rc = owner_set_ms(r, id, &set);
        if (rc != FDS_OK) {
            json_decref(c);
            break;
        }
        int64_t base = last > set ? last : set;
        if (base == 0) {
            json_decref(c);
            continue;
        }
        int64_t at = base + ret * DAY_MS;
        int y, m, d;
        fds__local_date(at, &y, &m, &d);
        int64_t left = fds__days_from_civil(y, m, d) - today;
        if (left > warn) {
            json_decref(c);
            continue;
        }
        char buf[40];
        fds_time_format(at, buf, sizeof buf);
        fds__jset(c, "return_at", json_string(buf), &bad);
        fds__jset(c, "days_left", json_integer(left > 0 ? left : 0), &bad);
        fds__jpush(list, c, &bad);
        if (bad) {
            rc = fds__error(r, FDS_NOMEM, "out of memory");
            break;
        }
    }
    json_decref(won);
    if (rc != FDS_OK) {
        json_decref(list);
        return rc;
    }
    *out = list;
    return FDS_OK;
}
