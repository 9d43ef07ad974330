/*
** test_security.c — DESIGN.md rule 8 and the Security section against the
** real fieldsync-server over TLS (issue 5): per-rep visibility for pull,
** push and live fan-out; sharing, unsharing and reassignment with full
** state for the new viewer and nothing left on the old one; revoke and
** disable cutting live connections; refused pushes leaving the rest of a
** batch applied; plaintext and wrong-CA connections refused; failed logins
** rate-limited; no raw token in any server file; file modes; SQL/JSON
** injection through every text field round-tripping exactly.
*/
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <jansson.h>

#include "seclib.h"

static int has_customer(fds_replica *r, const char *id)
{
    json_t *x = NULL;
    int rc = fds_customer_get(r, id, &x);
    json_decref(x);
    return rc == FDS_OK;
}

static size_t followups_of(fds_replica *r, const char *id)
{
    json_t *sheet = NULL;
    assert_int_equal(fds_customer_sheet(r, id, &sheet), FDS_OK);
    size_t n = json_array_size(json_object_get(sheet, "followups"));
    json_decref(sheet);
    return n;
}

/* The message of the newest refusal recorded on r (malloc'd). */
static char *last_refusal(fds_replica *r)
{
    json_t *a = NULL;
    assert_int_equal(fds_refusals(r, &a), FDS_OK);
    const char *m = json_string_value(json_object_get(json_array_get(a, 0),
                                                      "message"));
    char *out = strdup(m ? m : "");
    json_decref(a);
    return out;
}

/* ---- Visibility: pull, push and live fan-out ---------------------------------- */

static void test_visibility(void **state)
{
    th_server *sp = *state;
    char alice[80], bob[80], carol[80], mona[80];
    th_init(sp);
    th_user(sp, "alice", "rep", "north", alice);
    th_user(sp, "bob", "rep", "south", bob);
    th_user(sp, "carol", "rep", "north", carol);
    th_user(sp, "mona", "manager", "north", mona);
    th_start(sp, NULL);

    fds_replica *ra = th_replica(sp, "a"), *rb = th_replica(sp, "b"),
                *rc = th_replica(sp, "c"), *rm = th_replica(sp, "m");
    assert_int_equal(th_sync(sp, ra, alice, NULL), 0);   /* learns its user */
    assert_int_equal(th_sync(sp, rb, bob, NULL), 0);
    char *ca = th_customer(ra, "Alice Co");
    char *fa = sec_followup(ra, ca, "first visit");
    char *cb = th_customer(rb, "Bob Co");
    assert_int_equal(th_sync(sp, ra, alice, NULL), 0);
    assert_int_equal(th_sync(sp, rb, bob, NULL), 0);

    /* Pull: the north manager sees alice's, not bob's (south); carol (a
    ** north rep) and bob see neither of the others'. */
    assert_int_equal(th_sync(sp, rm, mona, NULL), 0);
    assert_int_equal(th_sync(sp, rc, carol, NULL), 0);
    assert_true(has_customer(rm, ca));
    assert_int_equal(followups_of(rm, ca), 1);
    assert_false(has_customer(rm, cb));
    assert_false(has_customer(rc, ca));
    assert_false(has_customer(rb, ca));
    assert_int_equal(sec_rows_of(sp, "c", ca), 0);
    assert_int_equal(sec_rows_of(sp, "b", ca), 0);

    /* Live fan-out: watchers for mona and bob; alice's new customer reaches
    ** mona's watcher with no sync run there, and never bob's. */
    pid_t wm = th_sync_child(sp, "mw", mona, 1);
    pid_t wb = th_sync_child(sp, "bw", bob, 1);
    sec_wait_connected(sp, "mw");
    sec_wait_connected(sp, "bw");
    char *ca2 = th_customer(ra, "Alice Live");
    assert_int_equal(th_sync(sp, ra, alice, NULL), 0);
    assert_true(sec_wait_customer(sp, "mw", ca2, "Alice Live"));
    /* bob's own change arrives at bob's watcher, alice's did not. */
    char *cb2 = th_customer(rb, "Bob Live");
    assert_int_equal(th_sync(sp, rb, bob, NULL), 0);
    assert_true(sec_wait_customer(sp, "bw", cb2, "Bob Live"));
    assert_int_equal(sec_rows_of(sp, "bw", ca2), 0);
    assert_int_equal(sec_rows_of(sp, "bw", ca), 0);
    kill(wm, SIGTERM);
    kill(wb, SIGTERM);
    assert_int_equal(th_reap(sp, wm, 10000), 0);
    assert_int_equal(th_reap(sp, wb, 10000), 0);

    /* Push: bob writes alice's customer and his own in one batch (a raw
    ** client: a real replica of bob's never holds alice's records).  The
    ** first is refused naming record and field, the second applied. */
    rw_conn c;
    sec_raw_hello(sp, &c, bob, "dev-bob-raw");
    char push[2048];
    snprintf(push, sizeof push,
             "{\"type\":\"push\",\"batch\":1,\"changes\":["
             "{\"t\":\"customer\",\"r\":\"%s\",\"f\":\"phone\",\"v\":\"666\","
             "\"vv\":{\"dev-bob-raw\":1},\"h\":\"0190a1b2c3d40000\",\"d\":\"dev-bob-raw\"},"
             "{\"t\":\"customer\",\"r\":\"%s\",\"f\":\"company\",\"v\":\"Bob Ltd\","
             "\"vv\":{\"dev-bob-raw\":2},\"h\":\"0190a1b2c3d40001\",\"d\":\"dev-bob-raw\"},"
             "{\"t\":\"followup\",\"r\":\"%s\",\"f\":\"content\",\"v\":\"stolen\","
             "\"vv\":{\"dev-bob-raw\":3},\"h\":\"0190a1b2c3d40002\",\"d\":\"dev-bob-raw\"}]}",
             ca, cb, fa);
    assert_int_equal(rw_send(&c, push), 0);
    char *ack = sec_recv_type(&c, "ack");
    assert_non_null(ack);
    json_t *j = json_loads(ack, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "accepted")), 1);
    json_t *ref = json_object_get(j, "refused");
    assert_int_equal(json_array_size(ref), 2);
    const char *m0 = json_string_value(json_object_get(json_array_get(ref, 0), "message"));
    assert_int_equal(json_integer_value(json_object_get(json_array_get(ref, 0), "i")), 0);
    assert_string_equal(json_string_value(json_object_get(json_array_get(ref, 0), "code")),
                        "forbidden");
    assert_non_null(strstr(m0, ca));
    assert_non_null(strstr(m0, "phone"));
    const char *m1 = json_string_value(json_object_get(json_array_get(ref, 1), "message"));
    assert_non_null(strstr(m1, fa));
    assert_non_null(strstr(m1, "content"));
    json_decref(j);
    free(ack);
    /* Nor may bob share alice's customer with himself, directly or by a
    ** share of his own customer whose fields name hers. */
    snprintf(push, sizeof push,
             "{\"type\":\"push\",\"batch\":2,\"changes\":["
             "{\"t\":\"share\",\"r\":\"%s:bob\",\"f\":\"customer\",\"v\":\"%s\","
             "\"vv\":{\"dev-bob-raw\":4},\"h\":\"0190a1b2c3d40003\",\"d\":\"dev-bob-raw\"},"
             "{\"t\":\"share\",\"r\":\"%s:bob\",\"f\":\"customer\",\"v\":\"%s\","
             "\"vv\":{\"dev-bob-raw\":5},\"h\":\"0190a1b2c3d40004\",\"d\":\"dev-bob-raw\"}]}",
             ca, ca, cb, ca);
    assert_int_equal(rw_send(&c, push), 0);
    ack = sec_recv_type(&c, "ack");
    assert_non_null(ack);
    j = json_loads(ack, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(j, "accepted")), 0);
    assert_int_equal(json_array_size(json_object_get(j, "refused")), 2);
    json_decref(j);
    free(ack);
    rw_close(&c);
    assert_int_equal(th_sync(sp, rb, bob, NULL), 0);
    assert_false(has_customer(rb, ca));
    char *co = th_field(rb, cb, "company");
    assert_string_equal(co, "Bob Ltd");
    free(co);
    assert_int_equal(th_sync(sp, ra, alice, NULL), 0);
    char *ph = th_field(ra, ca, "phone");
    assert_string_not_equal(ph, "666");
    free(ph);

    /* Definitions: visible to all, changed by managers only (a rep's
    ** template apply is refused as a whole, a manager's accepted). */
    json_t *def = json_pack("{s:s, s:s, s:s}", "key", "budget", "label",
                            "Budget", "type", "number");
    /* A device that synced as a rep's refuses up front (issue 13): forget
    ** the role, so the write reaches the server, which must refuse it. */
    int drc = fds_fielddef_set(rc, def);
    if (drc == FDS_PERM) {
        assert_int_equal(fds_meta_set(rc, "role", ""), FDS_OK);
        drc = fds_fielddef_set(rc, def);
    }
    assert_int_equal(drc, FDS_OK);
    fds_session_stats st;
    assert_int_equal(th_sync(sp, rc, carol, &st), 0);
    assert_true(st.refused >= 1);
    char *why = last_refusal(rc);
    assert_non_null(strstr(why, "fielddef"));
    free(why);
    int64_t pending = -1;
    assert_int_equal(fds_outbox_count(rc, &pending), FDS_OK);
    assert_int_equal(pending, 0);   /* refused: dropped, recorded */
    json_t *sdef = json_pack("{s:s, s:s}", "key", "trial", "label", "Trial");
    assert_int_equal(fds_stagedef_set(rm, sdef), FDS_OK);
    assert_int_equal(th_sync(sp, rm, mona, &st), 0);
    if (st.refused) {
        why = last_refusal(rm);
        fail_msg("manager's assign refused: %s", why);
    }
    assert_int_equal(th_sync(sp, rb, bob, NULL), 0);
    json_t *stages = NULL;
    assert_int_equal(fds_stagedef_list(rb, &stages), FDS_OK);
    char *sd = json_dumps(stages, 0);
    assert_non_null(strstr(sd, "trial"));
    free(sd);
    json_decref(stages);
    json_decref(def);
    json_decref(sdef);

    free(ca); free(fa); free(cb); free(ca2); free(cb2);
    fds_replica_close(ra);
    fds_replica_close(rb);
    fds_replica_close(rc);
    fds_replica_close(rm);
}

/* ---- Sharing, unsharing, reassignment ------------------------------------------ */

static void test_share_assign(void **state)
{
    th_server *sp = *state;
    char alice[80], bob[80], carol[80], mona[80];
    th_init(sp);
    th_user(sp, "alice", "rep", "north", alice);
    th_user(sp, "bob", "rep", "south", bob);
    th_user(sp, "carol", "rep", "north", carol);
    th_user(sp, "mona", "manager", "north", mona);
    th_start(sp, NULL);

    fds_replica *ra = th_replica(sp, "a"), *rb = th_replica(sp, "b"),
                *rc = th_replica(sp, "c"), *rm = th_replica(sp, "m");
    assert_int_equal(th_sync(sp, ra, alice, NULL), 0);
    char *ca = th_customer(ra, "Shared Co");
    free(sec_followup(ra, ca, "old visit 1"));
    free(sec_followup(ra, ca, "old visit 2"));
    assert_int_equal(th_sync(sp, ra, alice, NULL), 0);
    /* carol's and bob's cursors move past those rows without them. */
    assert_int_equal(th_sync(sp, rc, carol, NULL), 0);
    assert_int_equal(th_sync(sp, rb, bob, NULL), 0);
    assert_false(has_customer(rc, ca));

    /* Shared: carol's next pull brings the full state, old follow-ups too. */
    assert_int_equal(fds_customer_share(ra, ca, "carol", 1), FDS_OK);
    assert_int_equal(th_sync(sp, ra, alice, NULL), 0);
    assert_int_equal(th_sync(sp, rc, carol, NULL), 0);
    assert_true(has_customer(rc, ca));
    assert_int_equal(followups_of(rc, ca), 2);

    /* carol (not the owner) may neither share it on nor reassign it. */
    fds_session_stats st;
    assert_int_equal(fds_customer_share(rc, ca, "bob", 1), FDS_OK);
    assert_int_equal(th_sync(sp, rc, carol, &st), 0);
    assert_true(st.refused >= 1);
    char *why = last_refusal(rc);
    assert_non_null(strstr(why, ca));
    free(why);
    assert_int_equal(th_sync(sp, rb, bob, NULL), 0);
    assert_false(has_customer(rb, ca));

    /* Unshared: carol's device keeps nothing of it. */
    assert_int_equal(fds_customer_share(ra, ca, "carol", 0), FDS_OK);
    assert_int_equal(th_sync(sp, ra, alice, NULL), 0);
    assert_int_equal(th_sync(sp, rc, carol, &st), 0);
    assert_true(st.revoked >= 1);
    assert_false(has_customer(rc, ca));
    assert_int_equal(sec_rows_of(sp, "c", ca), 0);
    /* A bystander is not even told the customer's id. */
    assert_int_equal(th_sync(sp, rb, bob, &st), 0);
    assert_int_equal(st.revoked, 0);

    /* A rep may not assign, not even her own customer. */
    assert_int_equal(fds_customer_assign(ra, ca, "bob"), FDS_OK);
    assert_int_equal(th_sync(sp, ra, alice, &st), 0);
    assert_int_equal(st.refused, 1);
    why = last_refusal(ra);
    assert_non_null(strstr(why, "owner"));
    free(why);
    assert_int_equal(th_sync(sp, rb, bob, NULL), 0);
    assert_false(has_customer(rb, ca));

    /* The north manager reassigns it to bob (south): bob's next pull brings
    ** all of it, alice's device drops all of it — while alice watches. */
    pid_t wa = th_sync_child(sp, "aw", alice, 1);
    sec_wait_connected(sp, "aw");
    assert_true(sec_wait_customer(sp, "aw", ca, "Shared Co"));
    assert_int_equal(th_sync(sp, rm, mona, NULL), 0);
    assert_true(has_customer(rm, ca));
    assert_int_equal(fds_customer_assign(rm, ca, "bob"), FDS_OK);
    assert_int_equal(th_sync(sp, rm, mona, &st), 0);
    if (st.refused) {
        why = last_refusal(rm);
        fail_msg("manager's assign refused: %s", why);
    }
    assert_int_equal(th_sync(sp, rb, bob, NULL), 0);
    assert_true(has_customer(rb, ca));
    assert_int_equal(followups_of(rb, ca), 2);
    char *owner = th_field(rb, ca, "owner");
    assert_string_equal(owner, "bob");
    free(owner);
    assert_int_equal(th_sync(sp, ra, alice, &st), 0);
    assert_true(st.revoked >= 1);
    assert_false(has_customer(ra, ca));
    assert_int_equal(sec_rows_of(sp, "a", ca), 0);
    /* The watcher got the revoke live. */
    long long deadline = th_ms() + 10000;
    while (sec_rows_of(sp, "aw", ca) != 0 && th_ms() < deadline)
        sec_sleep_ms(50);
    assert_int_equal(sec_rows_of(sp, "aw", ca), 0);
    kill(wa, SIGTERM);
    assert_int_equal(th_reap(sp, wa, 10000), 0);
    assert_int_equal(th_sync(sp, rc, carol, &st), 0);
    assert_int_equal(st.revoked, 0);

    /* The manager still sees it (bob is not in her team, but mona made the
    ** move): no — it left her team, so her device drops it too. */
    assert_int_equal(th_sync(sp, rm, mona, NULL), 0);
    assert_false(has_customer(rm, ca));
    assert_int_equal(sec_rows_of(sp, "m", ca), 0);

    free(ca);
    fds_replica_close(ra);
    fds_replica_close(rb);
    fds_replica_close(rc);
    fds_replica_close(rm);
}

/* ---- Revoke and disable cut live connections --------------------------------- */

static void test_revoke_disable_live(void **state)
{
    th_server *sp = *state;
    char alice[80], bob[80], tid[64];
    th_init(sp);
    th_user(sp, "alice", "rep", "north", alice);
    th_user(sp, "bob", "rep", "north", bob);
    th_start(sp, NULL);

    char carol[80];
    th_user(sp, "carol", "rep", "north", carol);
    pid_t wa = th_sync_child(sp, "aw", alice, 1);
    pid_t wb = th_sync_child(sp, "bw", bob, 1);
    pid_t wc = th_sync_child(sp, "cw", carol, 1);
    sec_wait_connected(sp, "aw");
    sec_wait_connected(sp, "bw");
    sec_wait_connected(sp, "cw");

    /* At once: the server looks once a second (one data_version query for
    ** all sessions, issue 10), so well within 5 s. */
    sec_token_id(sp, "alice", tid, sizeof tid);
    long long t0 = th_ms();
    assert_int_equal(th_admin(sp, NULL, 0, "token", "revoke", tid, NULL), 0);
    assert_int_equal(th_reap(sp, wa, 10000), 5);
    assert_true(th_ms() - t0 < 5000);

    t0 = th_ms();
    assert_int_equal(th_admin(sp, NULL, 0, "user", "disable", "bob", NULL), 0);
    assert_int_equal(th_reap(sp, wb, 10000), 5);
    assert_true(th_ms() - t0 < 5000);

    /* Re-checking every session after a write elsewhere closes only the
    ** revoked ones: carol's watch is still connected. */
    int status;
    assert_int_equal(waitpid(wc, &status, WNOHANG), 0);
    kill(wc, SIGTERM);
    th_reap(sp, wc, 10000);

    /* And from then on. */
    fds_replica *r = th_replica(sp, "x");
    char err[512] = "";
    assert_int_equal(th_sync_err(sp, r, alice, NULL, err, sizeof err), 5);
    assert_int_equal(th_sync_err(sp, r, bob, NULL, err, sizeof err), 5);
    fds_replica_close(r);
}

/* ---- Transport: plaintext and a foreign CA ----------------------------------- */

static void test_tls_only(void **state)
{
    th_server *sp = *state;
    th_init(sp);
    th_start(sp, NULL);

    /* Plaintext HTTP/WebSocket upgrade: never answered as HTTP. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)sp->port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char req[512];
    snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
             "Upgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
             "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: %s\r\n"
             "Authorization: Bearer %s\r\n\r\n", FDSP_SUBPROTOCOL, sp->admin);
    assert_true(write(fd, req, strlen(req)) > 0);
    char buf[256] = "";
    ssize_t n = read(fd, buf, sizeof buf - 1);
    if (n > 0)
        buf[n] = '\0';
    assert_null(strstr(buf, "HTTP/"));
    close(fd);

    /* A device pinned to another CA refuses the server: exit 4. */
    th_server *other = calloc(1, sizeof *other);
    th_init(other);
    fds_replica *r = th_replica(sp, "d");
    cli_sync_opts o;
    fds_session_stats st;
    char err[512] = "";
    memset(&o, 0, sizeof o);
    o.server = sp->url;
    o.token = sp->admin;
    o.ca_path = other->ca;
    o.timeout_secs = 10;
    assert_int_equal(cli_sync(r, &o, &st, err, sizeof err), 4);
    assert_non_null(strstr(err, "TLS"));
    /* Its own CA works. */
    assert_int_equal(th_sync(sp, r, sp->admin, NULL), 0);
    fds_replica_close(r);
    th_cleanup(other);
    free(other);
}

/* ---- Failed authentications are rate-limited per address --------------------- */

static void test_auth_rate_limit(void **state)
{
    th_server *sp = *state;
    th_init(sp);
    th_start(sp, NULL);
    char bad[80];
    snprintf(bad, sizeof bad, "fs_%064d", 7);
    for (int i = 0; i < 10; i++) {
        rw_conn c;
        assert_int_equal(rw_connect(&c, sp->port, sp->ca, 0), 0);
        assert_int_equal(rw_upgrade(&c, bad, FDSP_SUBPROTOCOL), 401);
        rw_close(&c);
    }
    /* Now even the right token is refused from this address, with 429. */
    rw_conn c;
    assert_int_equal(rw_connect(&c, sp->port, sp->ca, 0), 0);
    assert_int_equal(rw_upgrade(&c, sp->admin, FDSP_SUBPROTOCOL), 429);
    rw_close(&c);
    /* A device behind that address is told it is an auth refusal (exit 5,
    ** naming the throttle), not that the server is unreachable (4). */
    fds_replica *r = th_replica(sp, "throttled");
    char err[512];
    assert_int_equal(th_sync_err(sp, r, sp->admin, NULL, err, sizeof err), 5);
    assert_non_null(strstr(err, "429"));
    fds_replica_close(r);
    /* The server logged it and is up. */
    assert_int_equal(kill(sp->pid, 0), 0);
}

/* ---- Files: modes and no raw token anywhere ----------------------------------- */

static int file_has(const char *path, const char *needle)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    assert_non_null(buf);
    size_t got = fread(buf, 1, (size_t)len, f);
    fclose(f);
    size_t nl = strlen(needle);
    int found = 0;
    for (size_t i = 0; !found && i + nl <= got; i++)
        found = memcmp(buf + i, needle, nl) == 0;
    free(buf);
    return found;
}

static void check_dir(const char *dir, const char *const *tokens, int *files)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[600];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat stt;
        assert_int_equal(stat(path, &stt), 0);
        if (S_ISDIR(stt.st_mode)) {
            check_dir(path, tokens, files);
            continue;
        }
        if ((stt.st_mode & 0077) != 0)
            fail_msg("%s has mode %o", path, (unsigned)(stt.st_mode & 0777));
        for (int i = 0; tokens[i]; i++) {
            if (file_has(path, tokens[i]) || file_has(path, tokens[i] + 3))
                fail_msg("%s holds a raw token", path);
        }
        (*files)++;
    }
    closedir(d);
}

static void test_files(void **state)
{
    th_server *sp = *state;
    char alice[80], bob[80];
    th_init(sp);
    th_user(sp, "alice", "rep", "north", alice);
    th_user(sp, "bob", "rep", "north", bob);
    char extra[4096] = "";
    assert_int_equal(th_admin(sp, extra, sizeof extra, "token", "add", "alice",
                              "--json", NULL), 0);
    json_t *j = json_loads(extra, 0, NULL);
    assert_non_null(j);
    char alice2[80];
    snprintf(alice2, sizeof alice2, "%s", json_string_value(json_object_get(j, "token")));
    json_decref(j);
    th_start(sp, NULL);
    fds_replica *r = th_replica(sp, "a");
    free(th_customer(r, "Files Co"));
    assert_int_equal(th_sync(sp, r, alice, NULL), 0);
    fds_replica *r2 = th_replica(sp, "a2");
    assert_int_equal(th_sync(sp, r2, alice2, NULL), 0);

    /* While serving (the -wal and -shm files exist). */
    const char *const tokens[] = {sp->admin, alice, bob, alice2, NULL};
    int files = 0;
    check_dir(sp->data, tokens, &files);
    struct stat stt;
#ifdef FSV_HARNESS_ON_PG
    assert_true(files >= 4);    /* ca.pem/key, server.pem/key (the store is
                                ** the database's) */
#else
    assert_true(files >= 6);    /* db, -wal, -shm, ca.pem/key, server.pem/key */
    char wal[400];
    snprintf(wal, sizeof wal, "%s/fieldsync.db-wal", sp->data);
    assert_int_equal(stat(wal, &stt), 0);
    assert_int_equal(stt.st_mode & 0777, 0600);
#endif
    struct stat dst;
    assert_int_equal(stat(sp->data, &dst), 0);
    assert_int_equal(dst.st_mode & 0077, 0);

    /* The device replica (it holds the token) and its -wal/-shm: 0600. */
    const char *sfx[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        char p[400];
        snprintf(p, sizeof p, "%s/a.db%s", sp->dir, sfx[i]);
        if (stat(p, &stt) == 0)
            assert_int_equal(stt.st_mode & 0777, 0600);
        else
            assert_int_not_equal(i, 0);
    }
    /* Nor does the server's log name a token. */
    char logp[400];
    snprintf(logp, sizeof logp, "%s/server.log", sp->dir);
    for (int i = 0; tokens[i]; i++)
        assert_false(file_has(logp, tokens[i] + 3));
    fds_replica_close(r);
    fds_replica_close(r2);
}

/* ---- Injection through every text field -------------------------------------- */

#ifndef FDS_CLI_BIN
#error "FDS_CLI_BIN must name the fieldsync CLI binary"
#endif

static const char *const nasty[] = {
    "'); DROP TABLE history;--",
    "\"},{\"x\":\"",
    "%s%n%x%p",
    "客户跟进单 — 张三（上海）",
    "Robert'); DELETE FROM reg WHERE ('1'='1",
    "\\u0000 \\\" \\\\ </script><script>alert(1)</script>",
    NULL
};

/* Run the CLI; returns its exit code, stdout into out. */
static int cli(char *out, size_t outlen, const char *db, ...)
{
    char *argv[32];
    int n = 0;
    argv[n++] = (char *)FDS_CLI_BIN;
    argv[n++] = (char *)"--db";
    argv[n++] = (char *)db;
    va_list ap;
    va_start(ap, db);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < 31)
        argv[n++] = (char *)a;
    va_end(ap);
    argv[n] = NULL;
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(pfd[1]);
    size_t got = 0;
    ssize_t k;
    while ((k = read(pfd[0], out + got, outlen - 1 - got)) > 0)
        got += (size_t)k;
    out[got] = '\0';
    close(pfd[0]);
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_injection(void **state)
{
    th_server *sp = *state;
    char alice[80], mona[80];
    th_init(sp);
    th_user(sp, "alice", "rep", "north", alice);
    th_user(sp, "mona", "manager", "*", mona);
    th_start(sp, NULL);

    char big[16385];
    for (size_t i = 0; i < sizeof big - 1; i++)
        big[i] = "';\"{}%\\"[i % 7];
    big[sizeof big - 1] = '\0';

    /* Through the core API: every free-text field of a customer, its
    ** follow-up, feedback and stage note. */
    fds_replica *ra = th_replica(sp, "a");
    assert_int_equal(th_sync(sp, ra, alice, NULL), 0);
    const char *fields[] = {"name", "wechat", "company", "title", "notes", NULL};
    char *ids[8];
    int nv = 0;
    for (int v = 0; nasty[v]; v++, nv++) {
        json_t *in = json_object();
        for (int f = 0; fields[f]; f++)
            json_object_set_new(in, fields[f], json_string(nasty[v]));
        json_t *out = NULL;
        assert_int_equal(fds_customer_add(ra, in, &out, NULL), FDS_OK);
        ids[v] = strdup(json_string_value(json_object_get(out, "id")));
        json_decref(in);
        json_decref(out);
        free(sec_followup(ra, ids[v], nasty[v]));
        json_t *fb = json_pack("{s:s}", "content", nasty[v]);
        assert_int_equal(fds_feedback_add(ra, ids[v], fb, &out), FDS_OK);
        json_decref(fb);
        json_decref(out);
    }
    json_t *in = json_pack("{s:s, s:s}", "name", "Big", "notes", big);
    json_t *out = NULL;
    assert_int_equal(fds_customer_add(ra, in, &out, NULL), FDS_OK);
    char *bigid = strdup(json_string_value(json_object_get(out, "id")));
    json_decref(in);
    json_decref(out);

    /* Through the CLI binary, on its own replica. */
    char db[400], txt[65536];
    snprintf(db, sizeof db, "%s/cli.db", sp->dir);
    assert_int_equal(cli(txt, sizeof txt, db, "init", "--server", sp->url,
                         "--token", alice, "--ca", sp->ca, NULL), 0);
    char *cliids[8];
    for (int v = 0; nasty[v]; v++) {
        assert_int_equal(cli(txt, sizeof txt, db, "customer", "add", "--name",
                             nasty[v], "--company", nasty[v], "--title", nasty[v],
                             "--wechat", nasty[v], "--json", NULL), 0);
        json_t *o = json_loads(txt, 0, NULL);
        assert_non_null(o);
        assert_string_equal(json_string_value(json_object_get(o, "name")), nasty[v]);
        cliids[v] = strdup(json_string_value(json_object_get(o, "id")));
        json_decref(o);
        assert_int_equal(cli(txt, sizeof txt, db, "followup", "add", cliids[v],
                             "--method", "phone", "--content", nasty[v],
                             "--result", nasty[v], NULL), 0);
    }
    assert_int_equal(cli(txt, sizeof txt, db, "sync", "--json", NULL), 0);
    assert_int_equal(th_sync(sp, ra, alice, NULL), 0);

    /* A head-office manager's fresh device receives it all, byte for byte. */
    fds_replica *rm = th_replica(sp, "m");
    assert_int_equal(th_sync(sp, rm, mona, NULL), 0);
    for (int v = 0; v < nv; v++) {
        for (int f = 0; fields[f]; f++) {
            char *got = th_field(rm, ids[v], fields[f]);
            assert_string_equal(got, nasty[v]);
            free(got);
        }
        json_t *sheet = NULL;
        assert_int_equal(fds_customer_sheet(rm, ids[v], &sheet), FDS_OK);
        json_t *fu = json_array_get(json_object_get(sheet, "followups"), 0);
        assert_string_equal(json_string_value(json_object_get(fu, "content")), nasty[v]);
        json_t *fb = json_array_get(json_object_get(sheet, "feedback"), 0);
        assert_string_equal(json_string_value(json_object_get(fb, "content")), nasty[v]);
        json_decref(sheet);
        char *got = th_field(rm, cliids[v], "company");
        assert_string_equal(got, nasty[v]);
        free(got);
        assert_int_equal(fds_customer_sheet(rm, cliids[v], &sheet), FDS_OK);
        fu = json_array_get(json_object_get(sheet, "followups"), 0);
        assert_string_equal(json_string_value(json_object_get(fu, "result")), nasty[v]);
        json_decref(sheet);
        free(ids[v]);
        free(cliids[v]);
    }
    char *got = th_field(rm, bigid, "notes");
    assert_string_equal(got, big);
    free(got);
    free(bigid);

    /* Search with a hostile string is just a search. */
    assert_int_equal(cli(txt, sizeof txt, db, "customer", "list", "--search",
                         "'; DROP TABLE reg;--", "--json", NULL), 0);
    /* Nothing broke: the server's history is whole and it still serves. */
    assert_true(th_history_count(sp) > 50);
    assert_int_equal(kill(sp->pid, 0), 0);
    assert_int_equal(th_sync(sp, rm, mona, NULL), 0);
    fds_replica_close(ra);
    fds_replica_close(rm);
}

/* The replica at db forgets its user's role (meta "role"), as a device
** that has not synced yet: its writes then reach the server to be judged. */
static void forget_role(const char *db)
{
    fds_replica *r = NULL;
    char err[256];
    assert_int_equal(fds_replica_open(db, NULL, &r, err, sizeof err), FDS_OK);
    assert_int_equal(fds_meta_set(r, "role", ""), FDS_OK);
    fds_replica_close(r);
}

/* The CLI shows each refusal of the sync it ran, and --json counts them. */
static void test_cli_refusals(void **state)
{
    th_server *sp = *state;
    char alice[80];
    th_init(sp);
    th_user(sp, "alice", "rep", "north", alice);
    th_start(sp, NULL);
    char db[400], txt[65536];
    snprintf(db, sizeof db, "%s/cli.db", sp->dir);
    assert_int_equal(cli(txt, sizeof txt, db, "init", "--server", sp->url,
                         "--token", alice, "--ca", sp->ca, NULL), 0);
    /* the device knows alice is a rep: refused up front (issue 13) */
    assert_int_equal(cli(txt, sizeof txt, db, "field", "add", "budget",
                         "--label", "Budget", "--type", "number", NULL), 5);
    forget_role(db);
    assert_int_equal(cli(txt, sizeof txt, db, "field", "add", "budget",
                         "--label", "Budget", "--type", "number", NULL), 0);
    assert_int_equal(cli(txt, sizeof txt, db, "customer", "add", "--name",
                         "Mine", NULL), 0);
    assert_int_equal(cli(txt, sizeof txt, db, "sync", "--json", NULL), 0);
    json_t *j = json_loads(txt, 0, NULL);
    assert_non_null(j);
    json_int_t refused = json_integer_value(json_object_get(j, "refused"));
    assert_true(refused >= 1);
    assert_true(json_integer_value(json_object_get(j, "pushed")) >= 1);
    json_t *list = json_object_get(j, "refusals");
    assert_int_equal((json_int_t)json_array_size(list), refused);
    const char *m = json_string_value(json_object_get(json_array_get(list, 0),
                                                      "message"));
    assert_non_null(strstr(m, "fielddef"));
    json_decref(j);
    /* Dropped from the outbox: the next sync pushes and refuses nothing. */
    assert_int_equal(cli(txt, sizeof txt, db, "sync", "--json", NULL), 0);
    j = json_loads(txt, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(j, "refused")), 0);
    assert_int_equal(json_integer_value(json_object_get(j, "pushed")), 0);
    json_decref(j);
    /* Text mode: one line per refused record, named, with its fields. */
    forget_role(db);
    assert_int_equal(cli(txt, sizeof txt, db, "field", "add", "region",
                         "--label", "Region", "--type", "text", NULL), 0);
    assert_int_equal(cli(txt, sizeof txt, db, "sync", NULL), 0);
    assert_non_null(strstr(txt, "refused: field definition region ("));
    /* The CLI's replica holds the token: 0600, with its -wal/-shm. */
    const char *sfx[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        char p[420];
        struct stat stt;
        snprintf(p, sizeof p, "%s%s", db, sfx[i]);
        if (stat(p, &stt) == 0)
            assert_int_equal(stt.st_mode & 0777, 0600);
        else
            assert_int_not_equal(i, 0);
    }
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_visibility, th_test_setup, th_test_teardown),
        cmocka_unit_test_setup_teardown(test_share_assign, th_test_setup,
                                        th_test_teardown),
        cmocka_unit_test_setup_teardown(test_revoke_disable_live, th_test_setup,
                                        th_test_teardown),
        cmocka_unit_test_setup_teardown(test_tls_only, th_test_setup, th_test_teardown),
        cmocka_unit_test_setup_teardown(test_auth_rate_limit, th_test_setup,
                                        th_test_teardown),
        cmocka_unit_test_setup_teardown(test_files, th_test_setup, th_test_teardown),
        cmocka_unit_test_setup_teardown(test_injection, th_test_setup, th_test_teardown),
        cmocka_unit_test_setup_teardown(test_cli_refusals, th_test_setup,
                                        th_test_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
