/*
** store_backends.c — the store backends under test (store_backends.h).
*/
#include "store_backends.h"
#include "pgcluster.h"
#include "store.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

/* SQLite: a file in a fresh temporary folder. */
static int sqlite_make(ts_store_place *p, const char *tag)
{
    snprintf(p->dir, sizeof p->dir, "/tmp/fsv-%s-XXXXXX", tag);
    if (!mkdtemp(p->dir))
        return -1;
    snprintf(p->path, sizeof p->path, "%s/store.db", p->dir);
    snprintf(p->url, sizeof p->url, "sqlite:%s", p->path);
    return 0;
}

static void sqlite_destroy(ts_store_place *p)
{
    char f[160];
    const char *sfx[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(f, sizeof f, "%s%s", p->path, sfx[i]);
        unlink(f);
    }
    rmdir(p->dir);
}

/* PostgreSQL: a fresh database on the process's private cluster
** (tests/support/pgcluster.c), started at the first use and stopped at
** exit.  p->dir holds the database's name. */
static ts_pg g_pg;
static int g_pg_state; /* 0 not started, 1 running, -1 failed */

static void pg_atexit(void)
{
    ts_pg_stop(&g_pg);
}

static int pg_make(ts_store_place *p, const char *tag)
{
    if (g_pg_state == 0) {
        g_pg_state = ts_pg_start(&g_pg) == 0 ? 1 : -1;
        if (g_pg_state == 1)
            atexit(pg_atexit);
    }
    if (g_pg_state != 1)
        return -1;
    p->path[0] = '\0';
    if (ts_pg_create_db(&g_pg, tag, p->dir, sizeof p->dir) != 0)
        return -1;
    ts_pg_url(&g_pg, p->dir, p->url, sizeof p->url);
    return 0;
}

static void pg_destroy(ts_store_place *p)
{
    ts_pg_drop_db(&g_pg, p->dir);
}

const ts_store_backend ts_store_backends[] = {
    {"sqlite", sqlite_make, sqlite_destroy, NULL},
    {"postgresql", pg_make, pg_destroy, NULL},
};

int ts_store_lacks(const ts_store_backend *b, const char *part)
{
    size_t n = strlen(part);
    for (const char *l = b->lacks; l && *l;) {
        const char *end = strchr(l, ',');
        size_t len = end ? (size_t)(end - l) : strlen(l);
        if (len == n && memcmp(l, part, n) == 0) {
            printf("[ SKIPPED  ] %s: the %s backend does not build %s yet\n",
                   part, b->name, part);
            return 1;
        }
        l = end ? end + 1 : l + len;
    }
    return 0;
}
const size_t ts_n_store_backends =
    sizeof ts_store_backends / sizeof ts_store_backends[0];

int ts_store_fresh(const ts_store_backend *b, ts_store_place *p,
                   const char *tag, fsv_store **out)
{
    char err[256];
    *out = NULL;
    if (b->make(p, tag) != 0)
        return -1;
    if (fsv_store_open(p->url, 1, out, err, sizeof err) != FSV_OK) {
        fprintf(stderr, "%s store at %s: %s\n", b->name, p->url, err);
        b->destroy(p);
        return -1;
    }
    return 0;
}

void ts_store_gone(const ts_store_backend *b, ts_store_place *p, fsv_store *s)
{
    fsv_store_close(s);
    b->destroy(p);
}

/* ---- The suites' shared fixture ---------------------------------------------- */

const ts_store_backend *ts_store_current = &ts_store_backends[0];
const char *ts_store_tag = "store";

int ts_store_setup(void **state)
{
    ts_store_fix *f = calloc(1, sizeof *f);
    if (!f || ts_store_fresh(ts_store_current, &f->place, ts_store_tag,
                             &f->s) != 0) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

int ts_store_teardown(void **state)
{
    ts_store_fix *f = *state;
    ts_store_gone(ts_store_current, &f->place, f->s);
    free(f);
    return 0;
}

void ts_change(fdsp_change *c, const char *tbl, const char *rid,
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

void ts_store_put(ts_store_fix *f, const char *rid, const char *field,
                  const char *value, const char *user)
{
    char dev[80];
    snprintf(dev, sizeof dev, "dev-%s", user);
    fdsp_change c;
    f->ctr++;
    ts_change(&c, "customer", rid, field, value, dev, f->ctr,
              (uint64_t)(1000 + f->ctr) << 16, user);
    int outcome = -1;
    assert_int_equal(fsv_store_begin(f->s), FSV_OK);
    assert_int_equal(fsv_store_merge_change(f->s, &c, &outcome), FSV_OK);
    assert_int_equal(fsv_store_commit(f->s), FSV_OK);
    fdsp_change_clear(&c);
}
