/*
** authlim.h — failed authentications, counted per source address.
**
** After FSV_AUTH_FAIL_MAX failures from one address within
** FSV_AUTH_FAIL_WINDOW_S seconds, that address is refused (HTTP 429, before
** any token is even looked at) for FSV_AUTH_BLOCK_S seconds.  Every failure
** and every block is logged.  The table is bounded (FSV_AUTH_SLOTS
** addresses): when full, the entry seen longest ago is reused, so a flood
** of addresses costs fixed memory.  Lives on the fsv_server (one thread).
*/
#ifndef FSV_AUTHLIM_H
#define FSV_AUTHLIM_H

#include <stdint.h>

#define FSV_AUTH_FAIL_MAX      10
#define FSV_AUTH_FAIL_WINDOW_S 60
#define FSV_AUTH_BLOCK_S       60
#define FSV_AUTH_SLOTS         1024

struct fsv_authlim;

struct fsv_authlim *fsv_authlim_new(void);
void fsv_authlim_free(struct fsv_authlim *a);

/* Seconds the address is still blocked for (0 = not blocked). */
int64_t fsv_authlim_blocked(struct fsv_authlim *a, const char *addr,
                            int64_t now_ms);
/* Count one failure; returns 1 if this failure starts a block. */
int fsv_authlim_fail(struct fsv_authlim *a, const char *addr, int64_t now_ms);

#endif /* FSV_AUTHLIM_H */
