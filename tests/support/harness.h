/*
** harness.h — runs the real fieldsync-server for tests/server: a temporary
** --data directory, `init`, `user add`, `serve` on a free 127.0.0.1 port,
** and device replicas beside it that sync through cli_sync().  Every
** process started here is reaped by th_server_stop/th_cleanup.
*/
#ifndef TH_HARNESS_H
#define TH_HARNESS_H

#include <sys/types.h>

#include "fieldsync.h"
#include "transport.h"

#define TH_MAX_CHILDREN 8

typedef struct th_server {
    char dir[256];          /* temporary directory (removed by th_cleanup) */
    char data[300];         /* dir/data: the server's --data */
    char ca[340];           /* data/ca.pem */
    char url[64];           /* wss://127.0.0.1:PORT */
    char admin[80];         /* admin's device token */
    int port;
    pid_t pid;              /* serve process, 0 if not running */
    pid_t children[TH_MAX_CHILDREN];    /* th_fork children not yet reaped */
    char store[256];        /* --store URL for every command ("": the
                            ** SQLite store under data) */
} th_server;

/* fork() a child that dies with the test process; tracked so th_cleanup
** kills it if the test fails first.  The child must not use cmocka
** assertions and must leave with _exit(). */
pid_t th_fork(th_server *s);
/* Wait (bounded) for a th_fork child; its exit code, -1 if killed. */
int th_reap(th_server *s, pid_t pid, int timeout_ms);

/* mkdtemp + `fieldsync-server init --json`; fails the test on error. */
void th_init(th_server *s);
/* th_init with the store elsewhere: `init --store URL` (a PostgreSQL
** database, tests/support/pgcluster.h); every later command and serve
** get --store URL too. */
void th_init_store(th_server *s, const char *store_url);
/* `user add NAME --role ROLE [--team T] --json`; token into tok[80]. */
void th_user(th_server *s, const char *name, const char *role,
             const char *team, char *tok);
/* Start `serve` (extra args may be NULL-terminated list, e.g.
** "--max-batch", "10", NULL) on s->port (a free port picked on first
** start) and wait until it accepts connections. */
void th_start(th_server *s, ...);
/* Send sig (SIGTERM or SIGKILL) and reap; returns the wait status. */
int th_stop(th_server *s, int sig);
/* Stop if running and remove the directory. */
void th_cleanup(th_server *s);

/* Run a fieldsync-server command with --data appended; returns the exit
** code and, if out is non-NULL, up to outlen bytes of stdout. */
int th_admin(th_server *s, char *out, size_t outlen, ...);

/* Open (creating) replica dir/NAME.db. */
fds_replica *th_replica(th_server *s, const char *name);
/* Same, but NULL instead of failing (the file may be busy being created
** by another process). */
fds_replica *th_replica_try(th_server *s, const char *name);
/* One sync of r with token (CA pinned); returns cli_sync's exit code. */
int th_sync(th_server *s, fds_replica *r, const char *token,
            fds_session_stats *st);
/* Same with an error text buffer. */
int th_sync_err(th_server *s, fds_replica *r, const char *token,
                fds_session_stats *st, char *err, size_t errlen);

/* Add a customer {"name": name} and return its id (malloc'd). */
char *th_customer(fds_replica *r, const char *name);
/* Current value of a customer field ("" if absent), malloc'd. */
char *th_field(fds_replica *r, const char *id, const char *field);
/* Number of history rows in the server's store (opened read-only-ish). */
long long th_history_count(th_server *s);
/* ms since some fixed point. */
long long th_ms(void);

/* Run one sync (watch: `sync --watch`) of replica file dir/NAME.db in a
** th_fork child; returns its pid.  The child's exit code is cli_sync's (99
** if the replica would not open); a failure is told on stderr. */
pid_t th_sync_child(th_server *s, const char *name, const char *token,
                    int watch);

/* cmocka setup/teardown for tests that start their own server: a fresh
** th_server in *state, every test bounded by an alarm of TH_TEST_ALARM_S
** seconds, and whatever the test started stopped even when an assertion
** failed half-way.  th_test_setup_started also inits and starts a server
** with no users beyond the admin. */
#define TH_TEST_ALARM_S 240
int th_test_setup(void **state);
int th_test_setup_started(void **state);
int th_test_teardown(void **state);

#endif /* TH_HARNESS_H */
