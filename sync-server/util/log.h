/*
** log.h — the server's stderr log: one line per event, prefixed with the
** UTC time and the level.  The level is process-wide (set once by `serve`
** from --log-level before the event loop starts); the server is a single
** thread, so no locking is needed.
*/
#ifndef FSV_LOG_H
#define FSV_LOG_H

enum { FSV_LOG_ERROR = 0, FSV_LOG_WARN, FSV_LOG_INFO, FSV_LOG_DEBUG };

/* Parse "error" | "warn" | "info" | "debug"; returns 0 and sets *level, or
** -1 if the name is unknown. */
int fsv_log_parse_level(const char *name, int *level);
void fsv_log_set_level(int level);
int fsv_log_get_level(void);
/* Route libwebsockets' own messages (warn and error only) into this log. */
void fsv_log_route_lws(void);

void fsv_log(int level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#define fsv_err(...)   fsv_log(FSV_LOG_ERROR, __VA_ARGS__)
#define fsv_warn(...)  fsv_log(FSV_LOG_WARN, __VA_ARGS__)
#define fsv_info(...)  fsv_log(FSV_LOG_INFO, __VA_ARGS__)
#define fsv_debug(...) fsv_log(FSV_LOG_DEBUG, __VA_ARGS__)

#endif /* FSV_LOG_H */
