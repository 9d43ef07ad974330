/*
** store_backends.c — the store backends under test (store_backends.h).
*/
#include "store_backends.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

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

const ts_store_backend ts_store_backends[] = {
    {"sqlite", sqlite_make, sqlite_destroy},
};
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
