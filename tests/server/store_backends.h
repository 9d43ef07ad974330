/*
** store_backends.h — the store backends the store tests run against
** (test_store.c's conformance suite, test_sums.c's store part): one row
** each.  A new backend adds its row in store_backends.c and every suite
** runs against it; nothing else in the tests changes.
*/
#ifndef FSV_TEST_STORE_BACKENDS_H
#define FSV_TEST_STORE_BACKENDS_H

#include <stddef.h>
#include <stdint.h>

/* Where one test's fresh store lives. */
typedef struct ts_store_place {
    char dir[64];       /* a temporary folder the backend may use */
    char path[128];     /* the SQLite backend's file ("" for others) */
    char url[160];      /* what fsv_store_open takes */
} ts_store_place;

typedef struct ts_store_backend {
    const char *name;
    /* Make a place for a new, not yet created store: 0 or -1. */
    int (*make)(ts_store_place *p, const char *tag);
    /* Remove it (the store is closed). */
    void (*destroy)(ts_store_place *p);
    /* The parts of store.h this backend does not build yet, comma
    ** separated ("sums,office"; NULL: none): a suite testing one of them
    ** says SKIPPED for this backend, loudly (ts_store_lacks). */
    const char *lacks;
} ts_store_backend;

/* 1 (after printing "SKIPPED: BACKEND lacks PART") if b does not build
** part yet, else 0. */
int ts_store_lacks(const ts_store_backend *b, const char *part);

extern const ts_store_backend ts_store_backends[];
extern const size_t ts_n_store_backends;

typedef struct fsv_store fsv_store;

/* A fresh store of backend b for one test: its place made (tag names the
** temporary folder) and the store created and opened into *out.  0, or -1
** with nothing left behind. */
int ts_store_fresh(const ts_store_backend *b, ts_store_place *p,
                   const char *tag, fsv_store **out);
/* Close s (may be NULL) and remove its place. */
void ts_store_gone(const ts_store_backend *b, ts_store_place *p, fsv_store *s);

/* ---- The suites' shared fixture ---------------------------------------------- */
/* One test's store: what each suite's setup makes and teardown removes. */
typedef struct ts_store_fix {
    ts_store_place place;   /* dir, path (SQLite's own tests), url */
    fsv_store *s;
    uint64_t ctr;           /* the counter of ts_store_put's changes */
} ts_store_fix;

/* The backend the running group tests (each suite's main loops over
** ts_store_backends and sets it), and the tag of its temporary folders. */
extern const ts_store_backend *ts_store_current;
extern const char *ts_store_tag;

/* cmocka setup and teardown of a ts_store_fix: a fresh store of
** ts_store_current; removed after. */
int ts_store_setup(void **state);
int ts_store_teardown(void **state);

typedef struct fdsp_change fdsp_change;
/* c = a change with a one-entry vector {device: counter}; every string
** copied (fdsp_change_clear frees them). */
void ts_change(fdsp_change *c, const char *tbl, const char *rid,
               const char *field, const char *value, const char *device,
               uint64_t counter, uint64_t hlc, const char *user);
/* Merge one customer field written by user from that user's own device
** ("dev-USER"), in its own transaction; asserts it went in. */
void ts_store_put(ts_store_fix *f, const char *rid, const char *field,
                  const char *value, const char *user);

#endif /* FSV_TEST_STORE_BACKENDS_H */
