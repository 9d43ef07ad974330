/*
** merge_tool.c — test helper: deliver replica A's own changes to replica B
** without a server, the way a sync would (through core's merge, fds__apply).
**
**     merge_tool A.db B.db
**
** Reads every change A made itself (log rows with origin = 1, in local
** order) and applies each to B in one transaction.  Because merge is
** idempotent, running it twice is harmless.  Exit 0 on success, 1 on error
** (message on stderr).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

static char *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? strdup((const char *)t) : NULL;
}

int main(int argc, char **argv)
{
    fds_replica *a = NULL, *b = NULL;
    char err[256];
    if (argc != 3) {
        fprintf(stderr, "usage: merge_tool FROM.db TO.db\n");
        return 1;
    }
    if (fds_replica_open(argv[1], NULL, &a, err, sizeof err) != FDS_OK ||
        fds_replica_open(argv[2], NULL, &b, err, sizeof err) != FDS_OK) {
        fprintf(stderr, "merge_tool: %s\n", err);
        fds_replica_close(a);
        return 1;
    }
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(a->db,
        "SELECT tbl, rid, field, value, vv, hlc, device, user FROM log "
        "WHERE origin = 1 ORDER BY lseq", -1, &st, NULL) == SQLITE_OK
        ? FDS_OK : FDS_DB;
    int began = rc == FDS_OK && (rc = fds__begin(b)) == FDS_OK;
    long n = 0;
    while (rc == FDS_OK && sqlite3_step(st) == SQLITE_ROW) {
        fdsp_change c;
        memset(&c, 0, sizeof c);
        c.table = col_text(st, 0);
        c.record = col_text(st, 1);
        c.field = col_text(st, 2);
        c.value = col_text(st, 3);
        c.hlc = (uint64_t)sqlite3_column_int64(st, 5);
        c.device = col_text(st, 6);
        c.user = col_text(st, 7);
        json_t *vv = json_loads((const char *)sqlite3_column_text(st, 4), 0, NULL);
        rc = vv ? fds__vv_from_json(vv, &c.vv) : FDS_INVALID;
        json_decref(vv);
        int outcome;
        if (rc == FDS_OK) rc = fds__apply(b, &c, &outcome);
        fdsp_change_clear(&c);
        n++;
    }
    sqlite3_finalize(st);
    if (began) rc = fds__end(b, rc);
    if (rc != FDS_OK)
        fprintf(stderr, "merge_tool: %s\n", fds_errmsg(b));
    else
        printf("applied %ld changes\n", n);
    fds_replica_close(a);
    fds_replica_close(b);
    return rc == FDS_OK ? 0 : 1;
}
