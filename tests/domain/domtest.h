/*
** domtest.h — fixtures for the domain tests: an in-memory replica with an
** injected clock and deterministic randomness, row counters, and a way to
** play a change "from another device" into the replica.
*/
#ifndef FDS_DOMTEST_H
#define FDS_DOMTEST_H

#include <stdint.h>
#include "internal.h"

typedef struct dom_env {
    int64_t now;        /* fake wall clock, ms; advanced 1 ms per read */
    uint64_t rng;
    fds_env env;
} dom_env;

/* Zone used by every domain test: UTC+8 (China), no DST, no tzdata. */
#define DOM_TZ "CST-8"

/* Set TZ, the clock to start_ms (also the random seed) and open an
** in-memory replica for user
** (may be ""). */
fds_replica *dom_open(dom_env *e, int64_t start_ms, const char *user);
/* ms of a UTC instant given as RFC 3339 text (fails the test if bad). */
int64_t dom_ms(const char *rfc3339);
/* Rows in a table ("reg", "log"; may carry a WHERE clause). */
int64_t dom_count(fds_replica *r, const char *table);
/* Add a customer from JSON text; returns its id (static buffer per call
** slot: copy it if you need several). */
void dom_add(fds_replica *r, const char *json, char id[FDSP_MAX_ID + 1]);
/* Apply a change made by another device: vv = the current register's
** joined vector plus {device: counter} when `after_local`, else only
** {device: counter} (concurrent with local writes).  Returns the outcome. */
int dom_remote(fds_replica *r, const char *tbl, const char *rid,
               const char *field, const char *value, const char *device,
               uint64_t counter, int64_t ms, const char *user,
               int after_local);
/* Parse JSON text (fails the test if bad); new reference. */
json_t *dom_json(const char *text);

#endif
