/*
** store_sqlite_hist.c — the authoritative history as one row per change
** group (store schema 3; docs/internals/server.md "History groups").
**
**   hist(seq INTEGER PRIMARY KEY, n, tbl, rid, dev, user, server_ms,
**        dctr, dctr_hi, relay, body)
**       one group: n changes of record (tbl, rid) by device dev (a
**       hist_name id) and user, merged consecutively in one transaction,
**       with the seqs seq-n+1 .. seq (seq is the group's LAST seq, so the
**       pulls' "seq > cursor" is a rowid range: groups with seq > cursor,
**       their entries <= cursor skipped); dctr .. dctr_hi the range of the
**       entries' own device counters (vv[device]) for rule 15's lookup;
**       body the entries (hist_codec.h)
**   hist_name(id INTEGER PRIMARY KEY, name UNIQUE)
**       the dictionary of device ids and field names the bodies use
**   history_rec ON hist(tbl, rid), history_by_dctr ON hist(dev, dctr)
**
** Every change keeps its own global seq: the wire, the cursors and
** vis_event are as before.  The merge path (store_sqlite_merge.c) hands
** each merged change to hist_note, which gives it the next seq and
** appends it to the transaction's pending group; the group row is written
** when the next change belongs to another group, before any read of the
** history on this connection, and at commit.
**
** Also here: the in-place migration from the row-per-change table, rule
** 15's lookup by (device, counter), and the `history` virtual table
** (store_sqlite_hist.h).
*/
#include "store.h"
#include "store_sqlite_int.h"
#include "store_sqlite_hist.h"
#include "hist_codec.h"
#include "fieldsync.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A group covers at most this span of its device's counters, so rule
** 15's lookup of (device, k) reads only groups whose first counter is in
** [k - HIST_CTR_SPAN, k] (history_by_dctr), however long the history. */
#define HIST_CTR_SPAN 256
/* Entries per group: bounds a body (and the memory a scan decodes at once). */
#define HIST_MAX_ENTRIES FSV__HIST_MAX_ENTRIES

enum {
    HS_INS, HS_HEAD, HS_NAME_ID, HS_NAME_OF, HS_NAME_ADD, HS_BY_CTR, HS__END
};

static const char *const hs_sql[HS__END] = {
    [HS_INS] = "INSERT INTO hist(seq, n, tbl, rid, dev, user, server_ms, dctr,"
               " dctr_hi, relay, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7,"
               " ?8, ?9, ?10, ?11)",
    [HS_HEAD] = "SELECT coalesce(max(seq), 0) FROM hist",
    [HS_NAME_ID] = "SELECT id FROM hist_name WHERE name=?1",
    [HS_NAME_OF] = "SELECT name FROM hist_name WHERE id=?1",
    [HS_NAME_ADD] = "INSERT INTO hist_name(name) VALUES (?1)",
    [HS_BY_CTR] = "SELECT seq, n, tbl, rid, dev, user, server_ms, body"
                  " FROM hist WHERE dev=?1 AND dctr BETWEEN ?2 - ?3 AND ?2"
                  " AND dctr_hi >= ?2 ORDER BY seq",
};

/* The dictionary's cache: names by id, and an open-addressing table of
** ids by name.  A pure cache (a miss asks SQLite), dropped at rollback:
** an id made by a rolled-back transaction may be reused for another
** name. */
typedef struct hdict {
    char **names;           /* by id, NULL if not cached */
    size_t cap;
    int64_t *slots;         /* ids, 0 = empty */
    size_t nslots, used;
} hdict;

typedef struct hstate {
    sqlite3_stmt *st[HS__END];
    hdict dict;
    /* The pending group (pend.count > 0): its key, seqs, counters. */
    fsv_hc_enc pend;
    int64_t first_seq, next_seq;    /* next_seq 0: ask SQLite */
    int64_t dev;
    int has_ctr;
    int64_t ctr_lo, ctr_hi;
    int64_t server_ms;
    int has_relay;
    char tbl[FDSP_MAX_NAME + 1], rid[FDSP_MAX_ID + 1];
    char device[FDSP_MAX_ID + 1], user[FDSP_MAX_ID + 1];
    char relay[FDSP_MAX_ID + 1];
} hstate;

static hstate *hs(fsv_store *s)
{
    if (!SQ(s)->hist)
        SQ(s)->hist = calloc(1, sizeof(hstate));
    return SQ(s)->hist;
}

static sqlite3_stmt *hst(fsv_store *s, int slot)
{
    hstate *h = hs(s);
    if (!h) {
        seterr(s, FSV_NOMEM, "out of memory");
        return NULL;
    }
    sqlite3_stmt *st = h->st[slot];
    if (!st) {
        if (sqlite3_prepare_v3(SQ(s)->db, hs_sql[slot], -1,
                               SQLITE_PREPARE_PERSISTENT, &h->st[slot],
                               NULL) != SQLITE_OK) {
            dberr(s, "prepare history");
            return NULL;
        }
        return h->st[slot];
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

/* ---- The dictionary ---------------------------------------------------------- */

static unsigned hash_str(const char *p)
{
    unsigned h = 2166136261u;
    while (*p)
        h = (h ^ (unsigned char)*p++) * 16777619u;
    return h;
}

static void dict_free(hdict *d)
{
    for (size_t i = 0; i < d->cap; i++)
        free(d->names[i]);
    free(d->names);
    free(d->slots);
    memset(d, 0, sizeof *d);
}

static int64_t dict_find(const hdict *d, const char *name)
{
    if (!d->nslots)
        return 0;
    for (size_t i = hash_str(name) & (d->nslots - 1);;
         i = (i + 1) & (d->nslots - 1)) {
        int64_t id = d->slots[i];
        if (!id || strcmp(d->names[id], name) == 0)
            return id;
    }
}

static void slot_put(int64_t *slots, size_t nslots, const char *name,
                     int64_t id)
{
    size_t i = hash_str(name) & (nslots - 1);
    while (slots[i])
        i = (i + 1) & (nslots - 1);
    slots[i] = id;
}

/* Cache (id, name); 0, or -1 out of memory (the cache is then as before). */
static int dict_put(hdict *d, int64_t id, const char *name)
{
    if (id < 1 || (uint64_t)id > SIZE_MAX / 4)
        return -1;
    if ((size_t)id < d->cap && d->names[id])
        return 0;
    if ((size_t)id >= d->cap) {
        size_t cap = d->cap ? d->cap : 64;
        while (cap <= (size_t)id)
            cap *= 2;
        char **nn = realloc(d->names, cap * sizeof *nn);
        if (!nn)
            return -1;
        memset(nn + d->cap, 0, (cap - d->cap) * sizeof *nn);
        d->names = nn;
        d->cap = cap;
    }
    if ((d->used + 1) * 2 > d->nslots) {
        size_t ns = d->nslots ? d->nslots * 2 : 64;
        int64_t *sl = calloc(ns, sizeof *sl);
        if (!sl)
            return -1;
        for (size_t i = 0; i < d->nslots; i++)
            if (d->slots[i])
                slot_put(sl, ns, d->names[d->slots[i]], d->slots[i]);
        free(d->slots);
        d->slots = sl;
        d->nslots = ns;
    }
    char *cp = strdup(name);
    if (!cp)
        return -1;
    d->names[id] = cp;
    slot_put(d->slots, d->nslots, cp, id);
    d->used++;
    return 0;
}

/* The id of name; create: make one if new (inside a write transaction).
** FSV_OK (*id 0 if absent and !create), or an error with the message. */
static int name_id(fsv_store *s, const char *name, int create, int64_t *id)
{
    hstate *h = hs(s);
    if (!h)
        return seterr(s, FSV_NOMEM, "out of memory");
    if ((*id = dict_find(&h->dict, name)))
        return FSV_OK;
    sqlite3_stmt *st = hst(s, HS_NAME_ID);
    if (!st)
        return FSV_ERROR;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *id = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return dberr(s, "history names");
    if (!*id && create) {
        if (!(st = hst(s, HS_NAME_ADD)))
            return FSV_ERROR;
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        if (step_done(s, st, "history names") != FSV_OK)
            return FSV_ERROR;
        *id = sqlite3_last_insert_rowid(SQ(s)->db);
    }
    if (*id && dict_put(&h->dict, *id, name) != 0)
        return seterr(s, FSV_NOMEM, "out of memory");
    return FSV_OK;
}

/* The name of id, or NULL (unknown id, or a failure: the message set). */
static const char *id_name(fsv_store *s, int64_t id)
{
    hstate *h = hs(s);
    if (!h || id < 1)
        return NULL;
    if ((uint64_t)id < h->dict.cap && h->dict.names[id])
        return h->dict.names[id];
    sqlite3_stmt *st = hst(s, HS_NAME_OF);
    if (!st)
        return NULL;
    sqlite3_bind_int64(st, 1, id);
    int ok = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) &&
             dict_put(&h->dict, id, (const char *)sqlite3_column_text(st, 0))
                 == 0;
    sqlite3_reset(st);
    return ok ? h->dict.names[id] : NULL;
}

static int enc_id(void *ud, const char *name, int64_t *id)
{
    return name_id(ud, name, 1, id) == FSV_OK ? 0 : -1;
}

static const char *dec_name(void *ud, int64_t id)
{
    return id_name(ud, id);
}

/* ---- Writing groups ------------------------------------------------------------ */

void fsv__sq_hist_clear(fsv_store *s, int rolled_back)
{
    hstate *h = SQ(s)->hist;
    if (!h)
        return;
    fsv_hc_enc_reset(&h->pend);
    h->next_seq = 0;
    if (rolled_back)
        dict_free(&h->dict);
}

void fsv__sq_hist_free(fsv_store *s)
{
    hstate *h = SQ(s)->hist;
    if (!h)
        return;
    for (int i = 0; i < HS__END; i++)
        sqlite3_finalize(h->st[i]);
    dict_free(&h->dict);
    fsv_hc_enc_free(&h->pend);
    free(h);
    SQ(s)->hist = NULL;
}

int fsv__sq_hist_flush(fsv_store *s)
{
    hstate *h = SQ(s)->hist;
    if (!h || h->pend.count == 0)
        return FSV_OK;
    sqlite3_stmt *st = hst(s, HS_INS);
    if (!st)
        return FSV_ERROR;
    int64_t n = (int64_t)h->pend.count;
    sqlite3_bind_int64(st, 1, h->first_seq + n - 1);
    sqlite3_bind_int64(st, 2, n);
    sqlite3_bind_text(st, 3, h->tbl, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, h->rid, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, h->dev);
    sqlite3_bind_text(st, 6, h->user, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, h->server_ms);
    if (h->has_ctr) {
        sqlite3_bind_int64(st, 8, h->ctr_lo);
        sqlite3_bind_int64(st, 9, h->ctr_hi);
    }
    if (h->has_relay)
        sqlite3_bind_text(st, 10, h->relay, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 11, h->pend.p, (int)h->pend.n, SQLITE_STATIC);
    int rc = step_done(s, st, "append history");
    fsv_hc_enc_reset(&h->pend);
    if (rc != FSV_OK)
        h->next_seq = 0;
    return rc;
}

static int fits(const char *v, size_t cap)
{
    return v && strlen(v) < cap;
}

/* The change's own counter: vv[device], 0 if it has none. */
static int64_t own_ctr(const fdsp_change *c)
{
    for (size_t i = 0; c->device && i < c->vv.n; i++)
        if (strcmp(c->vv.e[i].device, c->device) == 0)
            return (int64_t)c->vv.e[i].counter;
    return 0;
}

/* Append c to the pending group, starting a new group when c is not of
** it.  seq: c's seq (the migration's), or 0 for the next one (set in
** c->seq). */
static int hist_append(fsv_store *s, fdsp_change *c, const char *relay,
                       int64_t seq)
{
    hstate *h = hs(s);
    if (!h)
        return seterr(s, FSV_NOMEM, "out of memory");
    const char *user = c->user ? c->user : "";
    if (!fits(c->table, sizeof h->tbl) || !fits(c->record, sizeof h->rid) ||
        !fits(c->device, sizeof h->device) || strlen(user) >= sizeof h->user ||
        (relay && strlen(relay) >= sizeof h->relay))
        return seterr(s, FSV_ERROR, "store: a history change has a name"
                      " too long to store");
    int64_t k = own_ctr(c);
    int same = h->pend.count > 0 && h->pend.count < HIST_MAX_ENTRIES &&
               (!seq || seq == h->first_seq + (int64_t)h->pend.count) &&
               h->server_ms == c->server_ms &&
               strcmp(h->rid, c->record) == 0 &&
               strcmp(h->tbl, c->table) == 0 &&
               strcmp(h->device, c->device) == 0 &&
               strcmp(h->user, user) == 0 &&
               (relay ? h->has_relay && strcmp(h->relay, relay) == 0
                      : !h->has_relay);
    if (same && k && h->has_ctr &&
        (k > h->ctr_hi ? k : h->ctr_hi) - (k < h->ctr_lo ? k : h->ctr_lo) >
            HIST_CTR_SPAN)
        same = 0;
    int rc;
    if (!same) {
        if ((rc = fsv__sq_hist_flush(s)) != FSV_OK)
            return rc;
        if (seq) {
            h->next_seq = seq;
        } else if (!h->next_seq) {
            sqlite3_stmt *st = hst(s, HS_HEAD);
            if (!st)
                return FSV_ERROR;
            if (sqlite3_step(st) != SQLITE_ROW) {
                sqlite3_reset(st);
                return dberr(s, "history head");
            }
            h->next_seq = sqlite3_column_int64(st, 0) + 1;
            sqlite3_reset(st);
        }
        if ((rc = name_id(s, c->device, 1, &h->dev)) != FSV_OK)
            return rc;
        h->first_seq = h->next_seq;
        h->server_ms = c->server_ms;
        h->has_ctr = 0;
        h->has_relay = relay != NULL;
        strcpy(h->tbl, c->table);
        strcpy(h->rid, c->record);
        strcpy(h->device, c->device);
        strcpy(h->user, user);
        if (relay)
            strcpy(h->relay, relay);
    }
    rc = fsv_hc_enc_add(&h->pend, c, enc_id, s);
    if (rc != FSV_HC_OK) {
        if (rc == FSV_HC_NOMEM)
            return seterr(s, FSV_NOMEM, "out of memory");
        if (s->errmsg[0] == '\0')
            seterr(s, FSV_ERROR, "store: change %s/%s/%s cannot be stored in"
                   " history", c->table, c->record, c->field);
        return FSV_ERROR;
    }
    if (k) {
        if (!h->has_ctr || k < h->ctr_lo)
            h->ctr_lo = k;
        if (!h->has_ctr || k > h->ctr_hi)
            h->ctr_hi = k;
        h->has_ctr = 1;
    }
    c->seq = h->next_seq++;
    return FSV_OK;
}

int fsv__sq_hist_note(fsv_store *s, fdsp_change *c)
{
    int rc = hist_append(s, c, SQ(s)->relay, 0);
    /* Outside a transaction each statement commits by itself: so does
    ** the change's group. */
    if (rc == FSV_OK && !SQ(s)->in_tx)
        rc = fsv__sq_hist_flush(s);
    return rc;
}

/* ---- Reading groups ------------------------------------------------------------ */

int fsv__sq_hist_group(fsv_store *s, sqlite3_stmt *st, int col, int64_t after,
                       fdsp_change *out, size_t *n)
{
    int64_t last = sqlite3_column_int64(st, col);
    int64_t cnt = sqlite3_column_int64(st, col + 1);
    int64_t first = last - cnt + 1;
    *n = 0;
    if (cnt < 1 || cnt > HIST_MAX_ENTRIES)
        return seterr(s, FSV_ERROR, "store: history group %lld is damaged:"
                      " %lld entries", (long long)last, (long long)cnt);
    size_t from = after >= first ? (size_t)(after - first + 1) : 0;
    if (from >= (size_t)cnt)
        return FSV_OK;
    const char *tbl = (const char *)sqlite3_column_text(st, col + 2);
    const char *rid = (const char *)sqlite3_column_text(st, col + 3);
    const char *dev = id_name(s, sqlite3_column_int64(st, col + 4));
    const char *user = (const char *)sqlite3_column_text(st, col + 5);
    int64_t server_ms = sqlite3_column_int64(st, col + 6);
    const unsigned char *body = sqlite3_column_blob(st, col + 7);
    size_t blen = (size_t)sqlite3_column_bytes(st, col + 7);
    if (!tbl || !rid || !dev || !user)
        return seterr(s, FSV_ERROR, "store: history group %lld (seqs %lld..%lld)"
                      " is damaged: %s", (long long)last, (long long)first,
                      (long long)last, dev ? "a NULL column" : "unknown device");
    char why[160];
    int rc = fsv_hc_decode(body, blen, (size_t)cnt, from, dec_name, s, out,
                           why, sizeof why);
    if (rc == FSV_HC_NOMEM)
        return seterr(s, FSV_NOMEM, "out of memory");
    if (rc != FSV_HC_OK)
        return seterr(s, FSV_ERROR, "store: history group %lld (seqs"
                      " %lld..%lld) is damaged: %s", (long long)last,
                      (long long)first, (long long)last, why);
    size_t k = (size_t)cnt - from;
    for (size_t i = 0; i < k; i++) {
        fdsp_change *c = &out[i];
        c->seq = first + (int64_t)(from + i);
        c->server_ms = server_ms;
        c->table = strdup(tbl);
        c->record = strdup(rid);
        c->device = strdup(dev);
        c->user = strdup(user);
        if (!c->table || !c->record || !c->device || !c->user) {
            for (size_t j = 0; j < k; j++)
                fdsp_change_clear(&out[j]);
            return seterr(s, FSV_NOMEM, "out of memory");
        }
    }
    *n = k;
    return FSV_OK;
}

const char *fsv__sq_hist_first_field(fsv_store *s, const unsigned char *body,
                                     size_t len)
{
    /* format byte, flags byte, then the first entry's field id */
    uint64_t id = 0;
    for (size_t i = 2, shift = 0; i < len && shift < 63; i++, shift += 7) {
        id |= (uint64_t)(body[i] & 0x7f) << shift;
        if (!(body[i] & 0x80))
            return id <= INT64_MAX ? id_name(s, (int64_t)id) : NULL;
    }
    return NULL;
}

int fsv__sq_hist_id(fsv_store *s, const char *name, int64_t *id)
{
    return name_id(s, name, 0, id);
}

int fsv__sq_hist_by_counter(fsv_store *s, const char *device, int64_t k,
                            fdsp_change *out)
{
    memset(out, 0, sizeof *out);
    int rc = fsv__sq_hist_flush(s);
    int64_t dev = 0;
    if (rc == FSV_OK)
        rc = name_id(s, device, 0, &dev);
    if (rc != FSV_OK)
        return rc;
    if (!dev)
        return FSV_NOTFOUND;
    sqlite3_stmt *st = hst(s, HS_BY_CTR);
    if (!st)
        return FSV_ERROR;
    sqlite3_bind_int64(st, 1, dev);
    sqlite3_bind_int64(st, 2, k);
    sqlite3_bind_int64(st, 3, HIST_CTR_SPAN);
    fdsp_change *ent = calloc(HIST_MAX_ENTRIES, sizeof *ent);
    if (!ent) {
        sqlite3_reset(st);
        return seterr(s, FSV_NOMEM, "out of memory");
    }
    int step, found = 0;
    rc = FSV_OK;
    while (!found && (step = sqlite3_step(st)) == SQLITE_ROW) {
        size_t n = 0;
        if ((rc = fsv__sq_hist_group(s, st, 0, 0, ent, &n)) != FSV_OK)
            break;
        for (size_t i = 0; i < n; i++) {
            if (!found && own_ctr(&ent[i]) == k) {
                *out = ent[i];
                /* The old row carried no server time: neither does this. */
                out->server_ms = 0;
                memset(&ent[i], 0, sizeof ent[i]);
                found = 1;
            }
            fdsp_change_clear(&ent[i]);
        }
    }
    if (rc == FSV_OK && !found && step != SQLITE_DONE)
        rc = dberr(s, "history by counter");
    sqlite3_reset(st);
    free(ent);
    if (rc != FSV_OK)
        return rc;
    return found ? FSV_OK : FSV_NOTFOUND;
}

/* ---- Migration: row per change -> group rows ------------------------------------- */

static int table_exists(sqlite3 *db, const char *name, int *yes)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type='table'"
                           " AND name=?1", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *yes = rc == SQLITE_ROW;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static int exec_sql(fsv_store *s, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(SQ(s)->db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return FSV_OK;
    int rc = seterr(s, FSV_ERROR, "store: %s", msg ? msg : "exec failed");
    sqlite3_free(msg);
    return rc;
}

/* Every row of the old history table into groups, in seq order (each
** change keeps its seq), inside the caller's transaction.  A row whose
** vv does not parse stops the migration, naming the row: the transaction
** rolls back and the store stays as it was. */
static int migrate_rows(fsv_store *s)
{
    sqlite3_stmt *rd = NULL;
    if (sqlite3_prepare_v2(SQ(s)->db, "SELECT seq, tbl, rid, field, value, vv,"
                           " hlc, device, user, server_ms, relay FROM history"
                           " ORDER BY seq", -1, &rd, NULL) != SQLITE_OK)
        return dberr(s, "migrate history");
    int rc = FSV_OK, step;
    while (rc == FSV_OK && (step = sqlite3_step(rd)) == SQLITE_ROW) {
        fdsp_change c;
        memset(&c, 0, sizeof c);
        int64_t seq = sqlite3_column_int64(rd, 0);
        c.table = (char *)sqlite3_column_text(rd, 1);
        c.record = (char *)sqlite3_column_text(rd, 2);
        c.field = (char *)sqlite3_column_text(rd, 3);
        c.value = (char *)sqlite3_column_text(rd, 4);
        c.hlc = (uint64_t)sqlite3_column_int64(rd, 6);
        c.device = (char *)sqlite3_column_text(rd, 7);
        c.user = (char *)sqlite3_column_text(rd, 8);
        c.server_ms = sqlite3_column_int64(rd, 9);
        const char *relay = (const char *)sqlite3_column_text(rd, 10);
        const char *vv = (const char *)sqlite3_column_text(rd, 5);
        if (seq < 1 || !c.table || !c.record || !c.field || !c.device ||
            !vv) {
            rc = seterr(s, FSV_ERROR, "store: migrating history: row %lld"
                        " has a NULL column", (long long)seq);
            break;
        }
        int vrc = fds_vv_parse(vv, &c.vv);
        if (vrc != FDS_OK) {
            rc = vrc == FDS_NOMEM
                     ? seterr(s, FSV_NOMEM, "out of memory")
                     : seterr(s, FSV_ERROR, "store: migrating history: row"
                              " %lld has a corrupt version vector",
                              (long long)seq);
            break;
        }
        rc = hist_append(s, &c, relay, seq);
        fdsp_vv_clear(&c.vv);
    }
    if (rc == FSV_OK && step != SQLITE_DONE)
        rc = dberr(s, "migrate history");
    sqlite3_finalize(rd);
    if (rc == FSV_OK)
        rc = fsv__sq_hist_flush(s);
    fsv__sq_hist_clear(s, rc != FSV_OK);
    return rc;
}

/* Schema 3 -> 4 (after store_sqlite_regs.c's 2 -> 3): the
** row-per-change history table becomes group rows, one transaction.  Its
** own: it reads and writes only history, hist, hist_name and meta.
** Decided again under the write lock (serve and an admin command may
** open the store at once). */
#define HIST_FROM "3"
#define HIST_TO "4"
int fsv__sq_hist_open(fsv_store *s)
{
    sqlite3 *db = SQ(s)->db;
    int yes = 0;
    if (table_exists(db, "history", &yes) != 0)
        return dberr(s, "schema");
    if (!yes)
        return FSV_OK;
    int rc = exec_sql(s, "BEGIN IMMEDIATE");
    if (rc != FSV_OK)
        return rc;
    if (table_exists(db, "history", &yes) != 0)
        rc = dberr(s, "schema");
    if (rc == FSV_OK && yes) {
        rc = migrate_rows(s);
        /* The old table's indexes go with it; the names come back on the
        ** group table (history_rec: the office's record reads;
        ** history_by_dctr: rule 15). */
        if (rc == FSV_OK)
            rc = exec_sql(s, "DROP TABLE history;"
                          "CREATE INDEX IF NOT EXISTS history_rec"
                          "  ON hist(tbl, rid);"
                          "CREATE INDEX IF NOT EXISTS history_by_dctr"
                          "  ON hist(dev, dctr);"
                          "UPDATE meta SET value='" HIST_TO "' WHERE"
                          " key='schema' AND value='" HIST_FROM "';");
    }
    if (rc == FSV_OK)
        rc = exec_sql(s, "COMMIT");
    if (rc != FSV_OK) {
        char keep[sizeof s->errmsg];
        memcpy(keep, s->errmsg, sizeof keep);
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        memcpy(s->errmsg, keep, sizeof keep);
        fsv__sq_hist_clear(s, 1);
    }
    return rc;
}
