/*
** authlim.c — per-address failed-authentication limit (authlim.h).
*/
#include "authlim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct slot {
    char addr[64];
    int64_t window_ms;      /* start of the counting window */
    int64_t blocked_until;  /* ms; 0 if not blocked */
    int64_t seen_ms;        /* last failure (for reuse when full) */
    int fails;
};

struct fsv_authlim {
    struct slot s[FSV_AUTH_SLOTS];
};

struct fsv_authlim *fsv_authlim_new(void)
{
    return calloc(1, sizeof(struct fsv_authlim));
}

void fsv_authlim_free(struct fsv_authlim *a)
{
    free(a);
}

static struct slot *find(struct fsv_authlim *a, const char *addr, int make)
{
    struct slot *oldest = &a->s[0];
    for (size_t i = 0; i < FSV_AUTH_SLOTS; i++) {
        struct slot *sl = &a->s[i];
        if (sl->addr[0] && strcmp(sl->addr, addr) == 0)
            return sl;
        if (!sl->addr[0] || (oldest->addr[0] && sl->seen_ms < oldest->seen_ms))
            oldest = sl;
    }
    if (!make)
        return NULL;
    memset(oldest, 0, sizeof *oldest);
    snprintf(oldest->addr, sizeof oldest->addr, "%s", addr);
    return oldest;
}

int64_t fsv_authlim_blocked(struct fsv_authlim *a, const char *addr,
                            int64_t now_ms)
{
    if (!a)
        return 0;
    struct slot *sl = find(a, addr, 0);
    if (!sl || sl->blocked_until <= now_ms)
        return 0;
    return (sl->blocked_until - now_ms + 999) / 1000;
}

int fsv_authlim_fail(struct fsv_authlim *a, const char *addr, int64_t now_ms)
{
    if (!a)
        return 0;
    struct slot *sl = find(a, addr, 1);
    sl->seen_ms = now_ms;
    if (now_ms - sl->window_ms >= FSV_AUTH_FAIL_WINDOW_S * 1000LL) {
        sl->window_ms = now_ms;
        sl->fails = 0;
    }
    if (++sl->fails >= FSV_AUTH_FAIL_MAX && sl->blocked_until <= now_ms) {
        sl->blocked_until = now_ms + FSV_AUTH_BLOCK_S * 1000LL;
        sl->fails = 0;
        sl->window_ms = now_ms;
        return 1;
    }
    return 0;
}
