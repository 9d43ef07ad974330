/*
** tzone.c — switching local time to a named zone for one computation
** (tzone.h).
*/
#include "tzone.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int fsv_tz_valid(const char *zone)
{
    if (!zone || !zone[0] || strlen(zone) > FSV_TZ_MAX)
        return 0;
    if (strcmp(zone, "UTC") == 0)
        return 1;
    if (zone[0] == '/' || strstr(zone, ".."))
        return 0;
    for (const char *p = zone; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || strchr("_-+/", *p)))
            return 0;
    char path[128];
    struct stat st;
    snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", zone);
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

void fsv_tz_enter(const char *zone, fsv_tz_saved *sv)
{
    memset(sv, 0, sizeof *sv);
    if (!zone || !zone[0])
        return;
    const char *old = getenv("TZ");
    sv->had = old != NULL;
    if (old)
        snprintf(sv->old, sizeof sv->old, "%s", old);
    sv->active = 1;
    setenv("TZ", zone, 1);
    tzset();
}

void fsv_tz_leave(fsv_tz_saved *sv)
{
    if (!sv->active)
        return;
    if (sv->had)
        setenv("TZ", sv->old, 1);
    else
        unsetenv("TZ");
    tzset();
    sv->active = 0;
}
