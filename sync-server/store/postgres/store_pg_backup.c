/*
** store_pg_backup.c — fsv_store_backup for the PostgreSQL backend: a
** plain-SQL pg_dump of the store, from one snapshot, with the new epoch.
**
** The copy is a file (dst = "postgresql:FILE"): that is what a PostgreSQL
** site backs up, ships and restores (`psql -d EMPTY_DB -f FILE`).  The
** handle opens a REPEATABLE READ transaction, exports its snapshot and
** counts the history in it; pg_dump --snapshot dumps exactly that
** snapshot while writers keep committing.  The new epoch (rule 13: a
** restored store is a new epoch) is an UPDATE appended to the dump, so a
** restore carries it and the live store keeps its own.
*/
#include "store.h"
#include "store_pg_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* pg_dump of url at snapshot snap into fd; its exit code or -1. */
static int run_pg_dump(const char *url, const char *snap, int fd)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        char dbarg[4200], snaparg[128];
        snprintf(dbarg, sizeof dbarg, "--dbname=%s", url);
        snprintf(snaparg, sizeof snaparg, "--snapshot=%s", snap);
        int in = open("/dev/null", O_RDONLY);
        if (in >= 0)
            dup2(in, 0);
        dup2(fd, 1);
        char *av[] = {(char *)"pg_dump", dbarg, snaparg, (char *)"--format=plain",
                      (char *)"--no-owner", (char *)"--no-privileges", NULL};
        const char *bin = getenv("FSV_PG_DUMP");
        if (bin && bin[0])
            execv(bin, av);
        execvp("pg_dump", av);
        _exit(127);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

int fsv_pg_backup(fsv_store *s, const char *dst, int64_t epoch, int64_t *rows,
                  char *err, size_t errlen)
{
    *rows = 0;
    if (!dst[0] || strncmp(dst, "//", 2) == 0) {
        snprintf(err, errlen, "backup: a PostgreSQL store is backed up into a"
                 " file (postgresql:FILE), not into another database");
        return FSV_INVALID;
    }
    if (PG(s)->in_tx) {
        snprintf(err, errlen, "backup: not inside a transaction");
        return FSV_INVALID;
    }
    int fd = -1;
    int created = fsv__store_backup_create(dst, &fd, err, errlen);
    if (created != FSV_OK)
        return created;
    int rc = fsv__pg_sql(s, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                         "backup");
    PGresult *r = NULL;
    if (rc == FSV_OK) {
        r = PQexec(PG(s)->db, "SELECT pg_export_snapshot(),"
                   " (SELECT count(*) FROM hist), current_schema()");
        if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
            snprintf(err, errlen, "backup: %s", PQresultErrorMessage(r));
            rc = FSV_ERROR;
        }
    }
    if (rc == FSV_OK) {
        *rows = col_i64(r, 0, 1);
        int code = run_pg_dump(PG(s)->url, PQgetvalue(r, 0, 0), fd);
        if (code != 0) {
            snprintf(err, errlen, "backup: pg_dump %s (is the postgresql"
                     " client installed?)", code == 127 ? "was not found"
                     : "failed");
            rc = FSV_ERROR;
        }
    }
    if (rc == FSV_OK) {
        const char *schema = PQgetvalue(r, 0, 2);
        char *id = PQescapeIdentifier(PG(s)->db, schema, strlen(schema));
        char tail[512];
        int n = snprintf(tail, sizeof tail,
                         "\n-- fieldsync: a restored store is a new epoch"
                         " (rule 13)\nUPDATE %s.meta SET value = '%lld'"
                         " WHERE key = 'epoch';\n",
                         id ? id : "public", (long long)epoch);
        PQfreemem(id);
        if (n <= 0 || (size_t)n >= sizeof tail ||
            write_all(fd, tail, (size_t)n) != 0 || fsync(fd) != 0) {
            snprintf(err, errlen, "backup: cannot write %s: %s", dst,
                     strerror(errno));
            rc = FSV_ERROR;
        }
    }
    PQclear(r);
    PQclear(PQexec(PG(s)->db, "ROLLBACK"));
    if (close(fd) != 0 && rc == FSV_OK) {
        snprintf(err, errlen, "backup: cannot write %s: %s", dst,
                 strerror(errno));
        rc = FSV_ERROR;
    }
    if (rc != FSV_OK)
        unlink(dst);
    return rc;
}
