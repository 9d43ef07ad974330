/*
** testenv.c — deterministic clock and randomness for core tests.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <cmocka.h>

#include "testenv.h"

uint64_t test_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static int64_t fake_now(void *ud)
{
    test_env *t = ud;
    int64_t v = t->now;
    t->now += t->step;
    return v;
}

static int fake_random(void *ud, unsigned char *buf, size_t n)
{
    test_env *t = ud;
    for (size_t i = 0; i < n; i++)
        buf[i] = (unsigned char)(test_rand(&t->rng) >> 56);
    return 0;
}

void test_env_init(test_env *t, int64_t start_ms, uint64_t seed)
{
    t->now = start_ms;
    t->step = 1;
    t->rng = seed ? seed * 0x9E3779B97F4A7C15ULL : 88172645463325252ULL;
    if (t->rng == 0)
        t->rng = 1;
    t->env.now_ms = fake_now;
    t->env.random = fake_random;
    t->env.ud = t;
}

fds_replica *test_open(test_env *t)
{
    fds_replica *r = NULL;
    char err[256];
    int rc = fds_replica_open(":memory:", &t->env, &r, err, sizeof err);
    if (rc != FDS_OK)
        fprintf(stderr, "open: %s\n", err);
    assert_int_equal(rc, FDS_OK);
    return r;
}
