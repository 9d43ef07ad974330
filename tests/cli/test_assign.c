/*
** test_assign.c — a manager assigning a customer to a user who does not
** exist (a typo) or is disabled (issue 13): the real `fieldsync` binaries
** sync over real TLS with a real `fieldsync-server`; the server refuses
** the owner by name (`unknown_user`), and the customer stays where it was
** on the manager's replica, the rep's and the server's (what a fresh
** admin device pulls).  A real assign to an existing user still goes
** through, so the refusal is not a blanket one.
**
** The helpers (run the binary, start the server) are those of test_cli.c,
** included here without its main.
*/
#define TEST_CLI_NO_MAIN
#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wunused-function"
#endif
#include "test_cli.c"

/* The owner of customer id on replica db, as `customer show --json` says. */
static char *owner_on(const char *db, const char *id)
{
    res r = raw(NULL, "--db", db, "--json", "customer", "show", id);
    expect(r, 0);
    char *o = strdup(jstr(r.json, "owner"));
    res_free(&r);
    return o;
}

/* The manager assigns id to `to`; the sync names the refusal and the user,
** and afterwards the manager's replica has the owner back. */
static void assign_refused(const char *boss, const char *id, const char *to,
                           const char *owner_before)
{
    res r = raw(NULL, "--db", boss, "customer", "assign", id, to);
    expect(r, 0);                       /* offline it is only a local write */
    res_free(&r);
    char *o = owner_on(boss, id);
    assert_string_equal(o, to);
    free(o);
    r = raw(NULL, "--db", boss, "--json", "sync");
    json_t *refs = json_object_get(r.json, "refusals");
    if (json_array_size(refs) != 1)
        fail_msg("want one refusal (exit %d):\n%s\n%s", r.code, r.out, r.err);
    json_t *f = json_array_get(refs, 0);
    assert_string_equal(jstr(f, "field"), "owner");
    assert_string_equal(fdsp_errname((int)json_integer_value(
                            json_object_get(f, "code"))), "unknown_user");
    if (!strstr(jstr(f, "message"), to))
        fail_msg("the refusal does not name %s: %s", to, jstr(f, "message"));
    res_free(&r);
    o = owner_on(boss, id);
    assert_string_equal(o, owner_before);
    free(o);
}

static void test_assign_to_unknown_or_disabled_user(void **state)
{
    (void)state;
    char cmd[2048], srv[700], url[64], ca[760];
    snprintf(srv, sizeof srv, "%s/srv", g_dir);
    snprintf(ca, sizeof ca, "%s/ca.pem", srv);
    snprintf(cmd, sizeof cmd, "'%s' init --data '%s' --san 127.0.0.1 >/dev/null 2>&1",
             SERVER_BIN, srv);
    assert_int_equal(system(cmd), 0);
    char *boss = server_user_add(srv, "", "boss", "manager", "east");
    char *wang = server_user_add(srv, "", "wang", "rep", "east");
    char *li = server_user_add(srv, "", "li", "rep", "east");
    char *gone = server_user_add(srv, "", "gone", "rep", "east");
    char *root = server_user_add(srv, "", "root", "admin", "east");
    snprintf(cmd, sizeof cmd, "'%s' user disable gone --data '%s' >/dev/null 2>&1",
             SERVER_BIN, srv);
    assert_int_equal(system(cmd), 0);

    int port = free_port();
    char listen[64], logp[760];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    snprintf(url, sizeof url, "wss://127.0.0.1:%d", port);
    snprintf(logp, sizeof logp, "%s/server.log", g_dir);
    g_server = spawn_logged(logp, (char *const[]){ SERVER_BIN, "serve",
                            "--data", srv, "--listen", listen, NULL }, NULL);
    for (int i = 0; i < 200 && !port_open(port); i++) usleep(50000);
    assert_true(port_open(port));

    /* wang (a rep) has a customer; his manager's device pulls it. */
    const char *bdb = path_in("boss.db"), *adb = path_in("root.db");
    res r = raw(NULL, "--db", g_db, "init", "--server", url, "--token", wang, "--ca", ca);
    expect(r, 0);
    res_free(&r);
    char *id = add("张伟", "--company", "华星科技");
    r = fs("sync");
    expect(r, 0);
    res_free(&r);
    r = raw(NULL, "--db", bdb, "init", "--server", url, "--token", boss, "--ca", ca);
    expect(r, 0);
    res_free(&r);
    char *before = owner_on(bdb, id);

    /* A typo, then a disabled rep: both refused by name. */
    assign_refused(bdb, id, "wangfnag", before);
    assign_refused(bdb, id, "gone", before);

    /* The human line names the customer and the unknown user. */
    r = raw(NULL, "--db", bdb, "customer", "assign", id, "nobody");
    expect(r, 0);
    res_free(&r);
    r = raw(NULL, "--db", bdb, "sync");
    if (!strstr(r.out, "refused: 张伟") || !strstr(r.out, "nobody"))
        fail_msg("the refusal line does not name the customer and user:\n%s\n%s",
                 r.out, r.err);
    res_free(&r);

    /* The rep still has the customer, with its owner; so does the server
    ** (a fresh admin device pulls the store's state). */
    r = fs("sync");
    expect(r, 0);
    res_free(&r);
    char *o = owner_on(g_db, id);
    assert_string_equal(o, before);
    free(o);
    r = raw(NULL, "--db", adb, "init", "--server", url, "--token", root, "--ca", ca);
    expect(r, 0);
    res_free(&r);
    o = owner_on(adb, id);
    assert_string_equal(o, before);
    free(o);

    /* A real user: accepted, and the customer moves to li. */
    r = raw(NULL, "--db", bdb, "customer", "assign", id, "li");
    expect(r, 0);
    res_free(&r);
    r = raw(NULL, "--db", bdb, "--json", "sync");
    expect(r, 0);
    assert_int_equal(json_array_size(json_object_get(r.json, "refusals")), 0);
    res_free(&r);
    r = raw(NULL, "--db", adb, "sync");
    expect(r, 0);
    res_free(&r);
    o = owner_on(adb, id);
    assert_string_equal(o, "li");
    free(o);

    free(before);
    free(id);
    free(boss);
    free(wang);
    free(li);
    free(gone);
    free(root);
}

int main(void)
{
    setlocale(LC_CTYPE, "C.UTF-8");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_assign_to_unknown_or_disabled_user,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
