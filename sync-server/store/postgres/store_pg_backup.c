/*
** store_pg_backup.c — fsv_store_backup for the PostgreSQL backend.
*/
#include "store.h"
#include "store_pg_int.h"

int fsv_pg_backup(fsv_store *s, const char *dst, int64_t epoch, int64_t *rows,
                  char *err, size_t errlen)
{
    (void)s;
    (void)epoch;
    *rows = 0;
    snprintf(err, errlen, "backup to postgresql:%s: a PostgreSQL store is"
             " backed up with `fieldsync-server backup --store URL --out FILE`"
             " (pg_dump), not into another database", dst);
    return FSV_INVALID;
}
