/* store_pg_notify.c - the LISTEN side of commit fan-out (issue 12).
**
** Every write transaction ends with one `NOTIFY fieldsync, '<head>'`
** (store_pg.c fsv_pg_commit).  A serve process keeps a second libpq
** connection that only LISTENs, so a commit by another process wakes it
** at once instead of at its next once-a-second data_version check.  The
** connection is separate because the main one is busy inside
** transactions and a notification is only read between queries.  It is
** made on first use and dropped when it breaks; the next
** fsv_pg_notify_fd call reconnects, and meanwhile the server's
** once-a-second tick still finds every commit. */
#include "store_pg_int.h"

#include <stdlib.h>

void fsv__pg_notify_free(fsv_store *s)
{
    if (PG(s)->listen)
        PQfinish(PG(s)->listen);
    PG(s)->listen = NULL;
}

int fsv_pg_notify_fd(fsv_store *s)
{
    fsv_pg *p = PG(s);
    /* Asked again for the socket: the caller lost the last one (its event
    ** loop saw it hang up).  libpq's status says OK until it has read the
    ** end of a connection whose backend was terminated, so read first:
    ** a dead connection is dropped and a new one LISTENs (else the same
    ** dead socket would be handed out again and again).  Notifications
    ** this read finds stay queued for notify_drain. */
    if (p->listen && (!PQconsumeInput(p->listen) ||
                      PQstatus(p->listen) != CONNECTION_OK))
        fsv__pg_notify_free(s);
    if (!p->listen) {
        PGconn *c = PQconnectdb(p->url);
        if (PQstatus(c) != CONNECTION_OK) {
            PQfinish(c);
            return -1;
        }
        PGresult *r = PQexec(c, "LISTEN fieldsync");
        int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        if (!ok || PQsetnonblocking(c, 1) != 0) {
            PQfinish(c);
            return -1;
        }
        p->listen = c;
    }
    return PQsocket(p->listen);
}

int fsv_pg_notify_drain(fsv_store *s, int64_t *head)
{
    fsv_pg *p = PG(s);
    int got = 0;
    if (!p->listen)
        return 0;
    if (!PQconsumeInput(p->listen) || PQstatus(p->listen) != CONNECTION_OK) {
        fsv__pg_notify_free(s);
        return -1;      /* not FSV_ERROR: that is 1, "something arrived" */
    }
    /* Our own commits come back too: the main connection's backend
    ** already fanned them out in this process (sync_live.c). */
    int self = PQbackendPID(p->db);
    PGnotify *n;
    while ((n = PQnotifies(p->listen)) != NULL) {
        if (n->be_pid == self) {
            PQfreemem(n);
            continue;
        }
        int64_t h = n->extra ? strtoll(n->extra, NULL, 10) : 0;
        if (!got || h > *head)
            *head = h;
        got = 1;
        PQfreemem(n);
    }
    return got;
}
