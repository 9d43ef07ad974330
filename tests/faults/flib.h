/*
** flib.h — helpers for tests/faults: run the real `fieldsync` CLI as a
** child process (environment, timeout, captured output), start
** fault_proxy in front of a th_server (tests/support/harness.h), and a
** listener that accepts TCP and never answers.
*/
#ifndef FL_FLIB_H
#define FL_FLIB_H

#include <sys/types.h>

#include "harness.h"

#define FL_OUT 16384

typedef struct fl_res {
    int code;               /* exit code, 128+signal if killed by one */
    char out[FL_OUT];       /* stdout (truncated) */
    char err[FL_OUT];       /* stderr (truncated) */
} fl_res;

/* Run `fieldsync --db DB ARGS...` (NULL-terminated) with env extras
** ("K=V", NULL-terminated list or NULL) added to a minimal environment;
** killed with SIGKILL after timeout_ms (code then 128+9). */
void fl_run(fl_res *r, const char *db, const char *const *env,
            int timeout_ms, ...);

/* Start `fieldsync --db DB ARGS...` in the background with stdout and
** stderr sent to errfile (may be NULL: /dev/null).  Tracked by s (th_fork
** rules: killed with the test). */
pid_t fl_spawn(th_server *s, const char *db, const char *const *env,
               const char *errfile, ...);

/* Start fault_proxy in front of s (--to s->port) with extra args
** (NULL-terminated); returns its port, *pid its process. */
int fl_proxy(th_server *s, pid_t *pid, ...);

/* A socket listening on a free 127.0.0.1 port; *port gets it. */
int fl_listener(int *port);

/* Read a whole small file into a malloc'd string ("" if missing). */
char *fl_slurp(const char *path);

#endif /* FL_FLIB_H */
