/*
** hlc.c — wall clock and hybrid logical clock.
**
** An HLC value is (ms << 16) | logical.  It never moves backwards on one
** replica, stays close to wall time, and after receiving a remote value it
** is greater than it, so a write made after seeing another write always has
** the greater time (which is what the merge's winner rule relies on for
** causally related writes to look "newer").
*/
#include "internal.h"

#include <assert.h>
#include <stdint.h>
#include <time.h>

#define HLC_SHIFT 16

int64_t fds__now_ms(fds_replica *r)
{
    if (r && r->env.now_ms)
        return r->env.now_ms(r->env.ud);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Physical part of now, as an HLC value with logical 0.  Negative or absurd
** clocks (before the epoch, beyond 2^47 ms ~ year 6429) are clamped so the
** shift never overflows. */
static uint64_t physical(int64_t now_ms)
{
    if (now_ms < 0)
        now_ms = 0;
    if (now_ms > ((int64_t)1 << 47))
        now_ms = (int64_t)1 << 47;
    return (uint64_t)now_ms << HLC_SHIFT;
}

uint64_t fds_hlc_next(uint64_t last, int64_t now_ms)
{
    uint64_t p = physical(now_ms);
    if (last == UINT64_MAX)         /* saturated: cannot advance further */
        return last;
    uint64_t next = p > last ? p : last + 1;
    assert(next > last);
    return next;
}

/* Rule 14: a received time never carries this clock past its own wall
** clock + FDS_CLOCK_BOUND_MS.  Without the bound, one device with a clock
** a year ahead would drag every replica's HLC a year ahead for good, and
** their writes would then win every concurrent edit.  A remote time beyond
** the bound counts as the bound; a clock already past it (its own writes
** before the wall clock was set back) just stays where it is. */
uint64_t fds_hlc_recv(uint64_t last, uint64_t remote, int64_t now_ms)
{
    uint64_t p = physical(now_ms);
    int64_t cap_ms = now_ms > INT64_MAX - FDS_CLOCK_BOUND_MS
                         ? INT64_MAX : now_ms + FDS_CLOCK_BOUND_MS;
    uint64_t cap = physical(cap_ms);
    uint64_t m = last > remote ? last : remote;
    uint64_t next = m == UINT64_MAX ? m : (p > m ? p : m + 1);
    if (next > cap)
        next = last > cap ? last : cap;
    assert(next >= last && next <= (cap > last ? cap : last));
    return next;
}
