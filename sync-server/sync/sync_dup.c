/*
** sync_dup.c — duplicate-customer notices (撞单): when a rep's push sets a
** customer's phone or WeChat to one that a customer of another rep has,
** the ack says so, naming that rep (sync_dup.h).  A notice, never a
** refusal: two reps may well both know one buyer, and the managers
** settle it on the dashboard's duplicates list (api_duplicates.c).
**
** What the pushing rep learns, and nothing more: that the value matches,
** which of their fields it was, and the other owner's user name (within
** the daily allowance).  Not the other customer's id, name, company or
** stage, nor how many customers match.
*/
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sync_dup.h"

void fsv_sync_dup_free(fdsp_notice *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].kind);
        free(v[i].field);
        free(v[i].owner);
    }
    free(v);
}

typedef struct owners {
    char **v;
    size_t n;
    const char *self;
    int nomem;
} owners;

static int add_owner(void *ud, const char *customer, const char *owner)
{
    owners *o = ud;
    (void)customer;
    if (!owner || !owner[0] || strcmp(owner, o->self) == 0)
        return FSV_OK;
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->v[i], owner) == 0)
            return FSV_OK;
    char **p = realloc(o->v, (o->n + 1) * sizeof *p);
    if (!p || !(p[o->n] = strdup(owner))) {
        if (p)
            o->v = p;
        return FSV_NOMEM;
    }
    o->v = p;
    o->n++;
    return FSV_OK;
}

static void owners_free(owners *o)
{
    for (size_t i = 0; i < o->n; i++)
        free(o->v[i]);
    free(o->v);
    o->v = NULL;
    o->n = 0;
}

int fsv_sync_dup_notices(fsv_conn *s, const fdsp_msg *m, int64_t now_ms,
                         fdsp_notice **out, size_t *n)
{
    fsv_store *st = s->srv->store;
    *out = NULL;
    *n = 0;
    int rc = FSV_OK;
    for (size_t i = 0; rc == FSV_OK && i < m->n_changes; i++) {
        const fdsp_change *c = &m->changes[i];
        char key[FSV_DUP_KEY_MAX];
        if (!c->seq || !c->value || !c->device ||
            strcmp(c->device, s->device) != 0 ||
            strcmp(c->table, "customer") != 0 ||
            (strcmp(c->field, "phone") != 0 && strcmp(c->field, "wechat") != 0) ||
            !fsv_dup_key(c->field, c->value, key, sizeof key))
            continue;
        owners o = {NULL, 0, s->user.name, 0};
        rc = fsv_store_dup_matches(st, key, c->record, add_owner, &o);
        for (size_t k = 0; rc == FSV_OK && k < o.n; k++) {
            int64_t given = 0;
            rc = fsv_store_dup_notice(st, s->user.name, now_ms,
                                      now_ms - FSV_DUP_WINDOW_MS, &given);
            if (rc != FSV_OK)
                break;
            int named = given < FSV_DUP_NOTICES_PER_DAY;
            fdsp_notice *v = realloc(*out, (*n + 1) * sizeof *v);
            if (!v) {
                rc = FSV_NOMEM;
                break;
            }
            *out = v;
            fdsp_notice *x = &v[*n];
            memset(x, 0, sizeof *x);
            (*n)++;
            x->index = i;
            x->kind = strdup("duplicate");
            x->field = strdup(c->field);
            x->owner = named ? strdup(o.v[k]) : NULL;
            if (!x->kind || !x->field || (named && !x->owner)) {
                rc = FSV_NOMEM;
                break;
            }
            fsv_info("duplicate user=%s device=%s customer=%s field=%s"
                     " owner=%s named=%d", s->user.name, s->device, c->record,
                     c->field, o.v[k], named);
        }
        owners_free(&o);
    }
    if (rc != FSV_OK) {
        fsv_sync_dup_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}
