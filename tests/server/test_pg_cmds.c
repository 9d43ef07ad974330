/*
** test_pg_cmds.c — fieldsync-server's commands on a PostgreSQL store
** (issue 12): `init --data DIR --store URL` makes the schema in the
** database and the certificates in DIR; `user`/`token` take --store;
** `backup --store URL --out FILE` writes a pg_dump that psql loads into
** an empty database, which then holds the same store with the new epoch.
** (`serve --store`: test_pg_serve.c.)
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "pgcluster.h"
#include "procutil.h"
#include "store.h"

static ts_pg g_pg;

/* fieldsync-server with the words given (NULL-terminated), its stdout
** into out; the exit code. */
static int server_cmd(char *out, size_t outlen, ...)
{
    char *av[32];
    int n = 0;
    av[n++] = (char *)FSV_SERVER_BIN;
    va_list ap;
    va_start(ap, outlen);
    const char *w;
    while ((w = va_arg(ap, const char *)) != NULL && n < 31)
        av[n++] = (char *)w;
    va_end(ap);
    av[n] = NULL;
    return ts_run_out(av, out, outlen);
}

static void test_init_admin_backup(void **state)
{
    (void)state;
    char db[64], url[256], dir[] = "/tmp/fsv-pgcmd-XXXXXX", data[128];
    char out[8192], dump[160], err[256];
    assert_non_null(mkdtemp(dir));
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(dump, sizeof dump, "%s/store.sql", dir);
    assert_int_equal(ts_pg_create_db(&g_pg, "cmds", db, sizeof db), 0);
    ts_pg_url(&g_pg, db, url, sizeof url);

    /* Before init the database has no store: a clear refusal, exit 1. */
    assert_int_equal(server_cmd(out, sizeof out, "user", "list", "--store",
                                url, NULL), 1);

    assert_int_equal(server_cmd(out, sizeof out, "init", "--data", data,
                                "--store", url, "--json", NULL), 0);
    json_t *j = json_loads(out, 0, NULL);
    assert_non_null(j);
    assert_non_null(json_string_value(json_object_get(j, "token")));
    json_decref(j);
    char f[200];
    snprintf(f, sizeof f, "%s/ca.pem", data);
    assert_int_equal(access(f, R_OK), 0);           /* certs in DIR */
    snprintf(f, sizeof f, "%s/fieldsync.db", data);
    assert_int_not_equal(access(f, F_OK), 0);       /* no SQLite store */

    assert_int_equal(server_cmd(out, sizeof out, "user", "add", "bob",
                                "--role", "rep", "--team", "east", "--store",
                                url, "--json", NULL), 0);
    assert_int_equal(server_cmd(out, sizeof out, "user", "add", "bob",
                                "--role", "rep", "--store", url, NULL), 1);
    assert_int_equal(server_cmd(out, sizeof out, "user", "list", "--store",
                                url, "--json", NULL), 0);
    j = json_loads(out, 0, NULL);
    assert_int_equal(json_array_size(j), 2);        /* admin, bob */
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(j, 1), "team")), "east");
    json_decref(j);
    assert_int_equal(server_cmd(out, sizeof out, "token", "list", "bob",
                                "--store", url, "--json", NULL), 0);
    j = json_loads(out, 0, NULL);
    assert_int_equal(json_array_size(j), 1);
    const char *tid = json_string_value(json_object_get(json_array_get(j, 0),
                                                        "token_id"));
    assert_non_null(tid);
    assert_int_equal(server_cmd(out, sizeof out, "token", "revoke", tid,
                                "--store", url, NULL), 0);
    json_decref(j);

    /* serve --store with a scheme no backend has: a usage error. */
    assert_int_equal(server_cmd(out, sizeof out, "serve", "--data", data,
                                "--store", "nosuch:x", NULL), 2);

    /* Backup: a pg_dump file, 0600, loaded into an empty database. */
    char id0[FSV_STORE_ID_LEN + 1], id1[FSV_STORE_ID_LEN + 1];
    int64_t ep0 = 0, ep1 = 0;
    fsv_store *s = NULL;
    assert_int_equal(fsv_store_open(url, 0, &s, err, sizeof err), FSV_OK);
    assert_int_equal(fsv_store_identity(s, id0, &ep0), FSV_OK);
    fsv_store_close(s);
    assert_int_equal(server_cmd(out, sizeof out, "backup", "--store", url,
                                "--out", dump, "--json", NULL), 0);
    j = json_loads(out, 0, NULL);
    assert_non_null(j);
    int64_t epoch = json_integer_value(json_object_get(j, "epoch"));
    assert_true(epoch > ep0);
    json_decref(j);
    struct stat st;
    assert_int_equal(stat(dump, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* Never over an existing file. */
    assert_int_equal(server_cmd(out, sizeof out, "backup", "--store", url,
                                "--out", dump, NULL), 1);
    char db2[64], url2[256], psql[300];
    assert_int_equal(ts_pg_create_db(&g_pg, "restored", db2, sizeof db2), 0);
    ts_pg_url(&g_pg, db2, url2, sizeof url2);
    ts_pg_bin(&g_pg, "psql", psql, sizeof psql);
    char *av[] = {psql, (char *)"-q", (char *)"-v", (char *)"ON_ERROR_STOP=1",
                  (char *)"-d", url2, (char *)"-f", dump, NULL};
    assert_int_equal(ts_run_out(av, NULL, 0), 0);
    assert_int_equal(fsv_store_open(url2, 0, &s, err, sizeof err), FSV_OK);
    assert_int_equal(fsv_store_identity(s, id1, &ep1), FSV_OK);
    assert_string_equal(id1, id0);
    assert_int_equal(ep1, epoch);                   /* the new epoch */
    fsv_user u;
    assert_int_equal(fsv_store_user_get(s, "bob", &u), FSV_OK);
    assert_string_equal(u.team, "east");
    fsv_store_close(s);
    /* The live store keeps its epoch. */
    assert_int_equal(fsv_store_open(url, 0, &s, err, sizeof err), FSV_OK);
    assert_int_equal(fsv_store_identity(s, id1, &ep1), FSV_OK);
    assert_int_equal(ep1, ep0);
    fsv_store_close(s);

    char *rm[] = {(char *)"/bin/rm", (char *)"-rf", dir, NULL};
    ts_run_out(rm, NULL, 0);
}

static int group_setup(void **state)
{
    (void)state;
    return ts_pg_start(&g_pg);
}

static int group_teardown(void **state)
{
    (void)state;
    ts_pg_stop(&g_pg);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_admin_backup),
    };
    return cmocka_run_group_tests_name("postgresql: server commands", tests,
                                       group_setup, group_teardown);
}
