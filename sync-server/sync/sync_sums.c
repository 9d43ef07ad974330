/*
** sync_sums.c — the server side of `sums` / `repair`
** (docs/internals/trust.md, "The safety net").
**
** The device sends the checksum of each of its FDSP_SUM_BUCKETS buckets
** once it has pushed everything and caught up.  The server computes the
** same checksums over what this user may see: the XOR of the per-key
** checksums the store keeps (store_sqlite_sums.c) over the keys visible to
** the user (visibility.c decides, key by key).  For each bucket that
** differs it logs the bucket and the records (keys) in it and queues the
** full current state of every visible key in it in s->resend, which the
** next pulls send before any history (as after a share); the `repair`
** answer names the buckets so the device drops its registers of them
** first.  Keys the user may not see never enter the checksums, the log
** line for this user nor the resend, so sums reveal nothing and repair
** nothing beyond what the user sees.
*/
#include "server.h"
#include "log.h"
#include "visibility.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_definition(const char *tbl)
{
    return strcmp(tbl, "fielddef") == 0 || strcmp(tbl, "stagedef") == 0 ||
           strcmp(tbl, FSV_POOL_RULES_TABLE) == 0;    /* visibility.c's */
}

/* May u see the records under key k?  FSV_OK with *vis 1/0, or the
** store's code. */
static int key_visible(fsv_store *st, const fsv_user *u, const fsv_sum_key *k,
                       int *vis)
{
    *vis = 0;
    if (fsv_vis_sees_all(u) || is_definition(k->ktbl)) {
        *vis = 1;
        return FSV_OK;
    }
    if (strcmp(k->ktbl, "customer") == 0)
        return fsv_vis_customer(st, u, k->key, vis);
    /* A record with no customer: its creator sees it (fsv_vis_row). */
    char *customer = NULL, *creator = NULL;
    int rc = fsv_store_record_info(st, k->ktbl, k->key, &customer, &creator);
    if (rc == FSV_OK)
        *vis = creator && strcmp(creator, u->name) == 0;
    else if (rc == FSV_NOTFOUND)
        rc = FSV_OK;
    free(customer);
    free(creator);
    return rc;
}

int fsv_sums_for_user(fsv_store *st, const fsv_user *u,
                      uint64_t sums[FDSP_SUM_BUCKETS], fsv_sum_key **keys,
                      size_t *n_keys)
{
    memset(sums, 0, FDSP_SUM_BUCKETS * sizeof *sums);
    fsv_sum_key *k = NULL;
    size_t n = 0, kept = 0;
    int rc = fsv_store_sum_keys(st, &k, &n);
    for (size_t i = 0; rc == FSV_OK && i < n; i++) {
        int vis = 0;
        rc = key_visible(st, u, &k[i], &vis);
        if (rc == FSV_OK && vis) {
            sums[fdsp_sum_bucket(k[i].key)] ^= k[i].sum;
            k[kept++] = k[i];
        }
    }
    if (rc != FSV_OK || !keys) {
        free(k);
        k = NULL;
        kept = 0;
    }
    if (keys) {
        *keys = k;
        *n_keys = kept;
    }
    return rc;
}

/* Queue the full state of the visible keys of the differing buckets and
** log them: one line per bucket naming its records. */
static int queue_buckets(fsv_conn *s, const fsv_sum_key *k, size_t n,
                         const unsigned char *differs, const uint64_t *mine,
                         const uint64_t *theirs, int64_t head)
{
    fsv_store *st = s->srv->store;
    int rc = FSV_OK;
    for (int b = 0; rc == FSV_OK && b < FDSP_SUM_BUCKETS; b++) {
        if (!differs[b])
            continue;
        char list[1024];
        size_t used = 0, n_rec = 0;
        list[0] = '\0';
        size_t before = s->n_resend;
        for (size_t i = 0; rc == FSV_OK && i < n; i++) {
            if (fdsp_sum_bucket(k[i].key) != b)
                continue;
            rc = strcmp(k[i].ktbl, "customer") == 0
                     ? fsv_store_customer_state(st, k[i].key, &s->resend,
                                                &s->n_resend)
                     : fsv_store_record_state(st, k[i].ktbl, k[i].key,
                                              &s->resend, &s->n_resend);
            n_rec++;
            if (used < sizeof list - 1) {
                int w = snprintf(list + used, sizeof list - used, "%s%s/%s",
                                 used ? " " : "", k[i].ktbl, k[i].key);
                used = w < 0 ? sizeof list - 1
                             : used + (size_t)w >= sizeof list
                                   ? sizeof list - 1 : used + (size_t)w;
            }
        }
        for (size_t i = before; i < s->n_resend; i++)
            s->resend[i].seq = head > 0 ? head : 1;  /* ordering is moot */
        fsv_warn("repair user=%s device=%s bucket=%d server_sum=%016" PRIx64
                 " device_sum=%016" PRIx64 " keys=%zu changes=%zu records=%s",
                 s->user.name, s->device, b, mine[b], theirs[b], n_rec,
                 s->n_resend - before, n_rec ? list : "(none on the server)");
    }
    return rc;
}

int fsv_sync_sums(fsv_conn *s, const fdsp_msg *m)
{
    fsv_store *st = s->srv->store;
    if (m->n_sums != FDSP_SUM_BUCKETS || m->sums == NULL)
        return fsv_conn_error(s, FDSP_E_VALUE, 0, 0, "sums needs %d buckets",
                              FDSP_SUM_BUCKETS);
    int64_t t0 = fsv_now_ms(), head = 0;
    uint64_t mine[FDSP_SUM_BUCKETS];
    unsigned char differs[FDSP_SUM_BUCKETS] = {0};
    int buckets[FDSP_SUM_BUCKETS];
    size_t n_diff = 0, n_keys = 0;
    fsv_sum_key *keys = NULL;

    int rc = fsv_store_begin_read(st);
    if (rc == FSV_OK)
        rc = fsv_store_head(st, &head);
    if (rc == FSV_OK)
        rc = fsv_sums_for_user(st, &s->user, mine, &keys, &n_keys);
    for (int b = 0; rc == FSV_OK && b < FDSP_SUM_BUCKETS; b++)
        if (mine[b] != m->sums[b]) {
            differs[b] = 1;
            buckets[n_diff++] = b;
        }
    if (rc == FSV_OK && n_diff)
        rc = queue_buckets(s, keys, n_keys, differs, mine, m->sums, head);
    fsv_store_rollback(st);     /* end of the read snapshot */
    free(keys);
    if (rc != FSV_OK) {
        fsv_err("sums_failed user=%s device=%s why=%s", s->user.name, s->device,
                fsv_store_errmsg(st));
        return fsv_conn_error(s, FDSP_E_INTERNAL, 0, 0,
                              "server storage failure");
    }
    fsv_info("sums user=%s device=%s differ=%zu keys=%zu ms=%lld",
             s->user.name, s->device, n_diff, n_keys,
             (long long)(fsv_now_ms() - t0));
    fdsp_msg r;
    memset(&r, 0, sizeof r);
    r.type = FDSP_REPAIR;
    r.buckets = buckets;
    r.n_buckets = n_diff;
    return fsv_conn_send(s, &r);       /* borrows buckets */
}
