/*
** test_two_writers.c — two handles on one replica file, as the CLI next to
** a running `sync --watch` (two processes) has them: a write through one
** handle must never reuse a device counter the other already used.  Each
** handle caches the counter; before issue 10's fix the second handle wrote
** with (and flushed back) its stale copy, and the server then acked and
** dropped the second change under the same (device, counter) as seen.
** Found by tests/faults/test_devices.c.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

static char g_dir[64];

static fds_replica *open_file(const char *path)
{
    fds_replica *r = NULL;
    char err[256];
    if (fds_replica_open(path, NULL, &r, err, sizeof err) != FDS_OK)
        fail_msg("open %s: %s", path, err);
    return r;
}

/* The own counter of the last log row written. */
static long long last_counter(fds_replica *r)
{
    sqlite3_stmt *st = NULL;
    long long n = -1;
    assert_int_equal(sqlite3_prepare_v2(r->db,
        "SELECT vv, device FROM log ORDER BY lseq DESC LIMIT 1", -1, &st,
        NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW) {
        json_t *vv = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
        n = json_integer_value(json_object_get(vv,
                (const char *)sqlite3_column_text(st, 1)));
        json_decref(vv);
    }
    sqlite3_finalize(st);
    return n;
}

static char *add(fds_replica *r, const char *name)
{
    json_t *in = json_pack("{s:s}", "name", name), *out = NULL;
    if (fds_customer_add(r, in, &out, NULL) != FDS_OK)
        fail_msg("add: %s", fds_errmsg(r));
    char *id = strdup(json_string_value(json_object_get(out, "id")));
    json_decref(in);
    json_decref(out);
    return id;
}

static void test_counter_never_reused(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/fds_two.XXXXXX");
    assert_non_null(mkdtemp(g_dir));
    char path[128];
    snprintf(path, sizeof path, "%s/r.db", g_dir);
    fds_replica *a = open_file(path);
    free(add(a, "first"));
    fds_replica *b = open_file(path);      /* the long-running one */
    long long seen = last_counter(a);
    /* a writes on; b's cached counter is now behind. */
    char *id = add(a, "second");
    long long after_a = last_counter(a);
    assert_true(after_a > seen);
    /* b writes: its change must take a counter above everything a used. */
    json_t *in = json_pack("{s:s}", "phone", "+86 138 0000 0000"), *out = NULL;
    assert_int_equal(fds_customer_edit(b, id, in, &out), FDS_OK);
    json_decref(in);
    json_decref(out);
    long long by_b = last_counter(b);
    if (by_b <= after_a)
        fail_msg("the second handle wrote counter %lld, already used by the"
                 " first (which is at %lld)", by_b, after_a);
    /* And a, in turn, continues above b's. */
    free(add(a, "third"));
    assert_true(last_counter(a) > by_b);
    free(id);
    fds_replica_close(a);
    fds_replica_close(b);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_never_reused),
    };
    return cmocka_run_group_tests_name("core_two_writers", tests, NULL, NULL);
}
