/*
** log.h — the server's stderr log: one line per event, in a stable shape
** that journalctl and log shippers read without patterns.
**
** A call names the event and its fields in the format string itself:
**
**     fsv_info("push user=%s device=%s batch=%lld ms=%lld", ...);
**
** The first word is the event (lowercase, no '='); every following
** space-separated word is `key=VALUE`, where VALUE is printf text (usually
** one conversion).  The format string is never free prose: spaces only
** separate fields, so a value with spaces (an error message) goes through
** a conversion (`why=%s`), and log.c quotes it.  A word without '=' is
** collected into a `msg` field.
**
** Two output shapes, chosen once by `serve --log-format`:
**   kv (default, logfmt):
**     ts=2026-11-28T15:40:54.721Z level=info event=push user=alice batch=1
**     (a value with a space, '"', '=', '\' or a control byte, or an empty
**     one, is double-quoted with \" \\ \n \t \xHH escapes);
**   json (one object a line):
**     {"ts":"2026-11-28T15:40:54.721Z","level":"info","event":"push",
**      "user":"alice","batch":1}
**     (a value that is exactly one %d/%i/%u-type conversion is a JSON
**     number, everything else a string).
**
** Never log a secret: device tokens, the metrics token, session cookies
** and request bodies never reach this log; a token is named by its public
** id (tk_...).  tests/server/test_logs.c greps a whole run's log for them.
**
** The level and the shape are process-wide (set once by `serve` before
** the event loop starts); the server is a single thread, so no locking is
** needed.  They are the server's only globals besides the signal flag.
*/
#ifndef FSV_LOG_H
#define FSV_LOG_H

enum { FSV_LOG_ERROR = 0, FSV_LOG_WARN, FSV_LOG_INFO, FSV_LOG_DEBUG };
enum { FSV_LOG_KV = 0, FSV_LOG_JSON = 1 };

/* Parse "error" | "warn" | "info" | "debug"; returns 0 and sets *level, or
** -1 if the name is unknown. */
int fsv_log_parse_level(const char *name, int *level);
void fsv_log_set_level(int level);
int fsv_log_get_level(void);
/* Parse "kv" | "json"; 0 and *format, or -1. */
int fsv_log_parse_format(const char *name, int *format);
void fsv_log_set_format(int format);
/* Route libwebsockets' own messages (warn and error only) into this log,
** as event=lws with the text in msg. */
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
