/*
** tzone.h — figures in a time zone (`serve --tz ZONE`, the dashboard's
** ?tz=): ISO weeks, hours of the day and birthdays are computed in the
** zone the office reads them in, not the server's.
**
** libc converts local time only through the TZ variable, so a computation
** in a zone switches TZ for its duration and restores it after.  That is
** process state: it is safe because the server runs every request on one
** thread (server.h) and nothing else reads local time meanwhile.
*/
#ifndef FSV_TZONE_H
#define FSV_TZONE_H

#define FSV_TZ_MAX 64

/* 1 if zone names a time zone this machine knows: "UTC", or an IANA name
** (letters, digits, "_", "-", "+", "/"; no "..") with a file under
** /usr/share/zoneinfo. */
int fsv_tz_valid(const char *zone);

typedef struct fsv_tz_saved {
    int active;             /* TZ was switched */
    int had;                /* TZ was set before */
    char old[256];
} fsv_tz_saved;

/* Switch local time to zone (NULL or "": leave it, the server's zone)
** until fsv_tz_leave. */
void fsv_tz_enter(const char *zone, fsv_tz_saved *sv);
void fsv_tz_leave(fsv_tz_saved *sv);

#endif /* FSV_TZONE_H */
