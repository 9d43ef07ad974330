/*
** pgcluster.h — a private PostgreSQL cluster for one test process: initdb
** in a fresh temporary folder, the server started on a unix socket in
** that folder only (listen_addresses='': no TCP port is opened), and
** stopped and removed at the end.  Free of cmocka (benchmarks may use it).
**
** PostgreSQL refuses to run as root: when the test runs as root (CI, a
** fresh clone) initdb and the server run as the `postgres` user (Debian's
** package makes it), else `nobody`, through runuser; the folder is handed
** to that user.  The binaries come from $FSV_PG_BINDIR, else the newest
** /usr/lib/postgresql/N/bin, else PATH.
**
** A watchdog child stops the cluster if the test process dies without
** calling ts_pg_stop (a crash, ctest's timeout): it waits for a pipe from
** the test to close.
*/
#ifndef FDS_TEST_PGCLUSTER_H
#define FDS_TEST_PGCLUSTER_H

#include <stddef.h>
#include <sys/types.h>

typedef struct ts_pg {
    char dir[64];       /* the temporary folder: data/, the socket, log */
    char bindir[256];   /* where initdb, pg_ctl, pg_dump are ("" = PATH) */
    char runas[32];     /* the user the server runs as ("" = ourselves) */
    pid_t watchdog;
    int started;
    unsigned next_db;   /* ts_pg_create_db's counter */
} ts_pg;

/* initdb and start.  0, or -1 with a message on stderr and nothing left
** behind. */
int ts_pg_start(ts_pg *pg);
/* Stop the server (immediate shutdown) and remove the folder.  Harmless
** on a cluster never started. */
void ts_pg_stop(ts_pg *pg);

/* A store URL for database db on this cluster (libpq's URL form, the
** socket folder as host): "postgresql:///DB?host=DIR&user=fieldsync". */
void ts_pg_url(const ts_pg *pg, const char *db, char *out, size_t cap);

/* Create a new, empty database named after tag (made unique), its name
** into name[cap].  0 or -1. */
int ts_pg_create_db(ts_pg *pg, const char *tag, char *name, size_t cap);
/* Drop it (connections to it must be closed). */
int ts_pg_drop_db(ts_pg *pg, const char *name);

/* The path of one of the cluster's programs ("pg_dump") into out. */
void ts_pg_bin(const ts_pg *pg, const char *prog, char *out, size_t cap);

#endif /* FDS_TEST_PGCLUSTER_H */
