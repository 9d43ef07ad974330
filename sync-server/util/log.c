/*
** log.c — stderr logging for fieldsync-server.
*/
#include "log.h"

#include <libwebsockets.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

/* The only mutable global in the server besides the signal flag: the log
** threshold, written once at start-up before any other thread could exist
** (there are none). */
static int g_level = FSV_LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int fsv_log_parse_level(const char *name, int *level)
{
    for (int i = 0; i <= FSV_LOG_DEBUG; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *level = i;
            return 0;
        }
    }
    return -1;
}

void fsv_log_set_level(int level) { g_level = level; }
int fsv_log_get_level(void) { return g_level; }

static void vlog(int level, const char *fmt, va_list ap)
{
    struct timeval tv;
    struct tm tm;
    char stamp[32];

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    /* Build the whole line first so concurrent writers (tests run several
    ** processes on one terminal) never interleave inside a line. */
    char line[2048];
    int n = snprintf(line, sizeof line, "%s.%03dZ %s: ", stamp,
                     (int)(tv.tv_usec / 1000), level_names[level]);
    if (n < 0)
        return;
    int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    if (m < 0)
        return;
    size_t len = strlen(line);
    while (len > 0 && line[len - 1] == '\n')
        line[--len] = '\0';
    if (len + 1 < sizeof line) {
        line[len++] = '\n';
        line[len] = '\0';
    }
    fputs(line, stderr);
}

void fsv_log(int level, const char *fmt, ...)
{
    if (level > g_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(level, fmt, ap);
    va_end(ap);
}

static void lws_emit(int level, const char *line)
{
    int ours = level == LLL_ERR ? FSV_LOG_ERROR : FSV_LOG_WARN;
    if (ours <= g_level)
        fsv_log(ours, "lws: %s", line);
}

void fsv_log_route_lws(void)
{
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_emit);
}
