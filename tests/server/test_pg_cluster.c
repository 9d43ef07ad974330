/*
** test_pg_cluster.c — the tests' private PostgreSQL cluster
** (tests/support/pgcluster.c): it starts (as a non-root user when run as
** root), listens on its unix socket only (no TCP), makes and drops
** databases, and is gone after stop.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "pgcluster.h"

static void test_cluster(void **state)
{
    (void)state;
    ts_pg pg;
    char db[64], url[256], dir[64];
    assert_int_equal(ts_pg_start(&pg), 0);
    snprintf(dir, sizeof dir, "%s", pg.dir);
    assert_int_equal(ts_pg_create_db(&pg, "cluster", db, sizeof db), 0);
    ts_pg_url(&pg, db, url, sizeof url);
    PGconn *c = PQconnectdb(url);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *r = PQexec(c, "SHOW listen_addresses");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(r, 0, 0), "");  /* no TCP */
    PQclear(r);
    r = PQexec(c, "SELECT current_database()");
    assert_string_equal(PQgetvalue(r, 0, 0), db);
    PQclear(r);
    PQfinish(c);
    assert_int_equal(ts_pg_drop_db(&pg, db), 0);
    ts_pg_stop(&pg);
    struct stat st;
    assert_int_not_equal(stat(dir, &st), 0);    /* removed */
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_cluster)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
