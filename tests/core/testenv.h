/*
** testenv.h — deterministic clock and randomness for core tests.
*/
#ifndef FDS_TESTENV_H
#define FDS_TESTENV_H

#include <stdint.h>
#include "fieldsync.h"

typedef struct test_env {
    int64_t now;        /* current fake time, ms */
    int64_t step;       /* advanced by this on every read */
    uint64_t rng;       /* xorshift state (never 0) */
    fds_env env;        /* points back at this struct */
} test_env;

/* Set up env with a fixed start time and seed. */
void test_env_init(test_env *t, int64_t start_ms, uint64_t seed);
/* Deterministic PRNG (xorshift64*), also for test scripts. */
uint64_t test_rand(uint64_t *state);
/* Open an in-memory replica with t's env; fails the test on error. */
fds_replica *test_open(test_env *t);

#endif
