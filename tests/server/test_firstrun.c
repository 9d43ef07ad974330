/*
** test_firstrun.c — a new office's first run (issue 13), through the real
** fieldsync-server binary and scripts/serve.sh:
**  - the admin commands (and serve) take their data folder from
**    $FIELDSYNC_DATA when --data is not given, and say so when neither is;
**  - `user list` lines up Chinese names and teams by display width;
**  - a port in use is one sentence on stderr and a non-zero exit;
**  - serve.sh prints the connect line and dashboard URL with the port
**    FIELDSYNC_LISTEN names (not 8443), the admin token, where the
**    `fieldsync` command is and how a browser trusts ca.pem, then serves.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <wchar.h>

#include "netutil.h"

typedef struct run {
    int code;           /* exit status, or 128 + signal */
    char out[16384], err[16384];
} run;

static char g_dir[256], g_data[300];

/* Read whatever fd has into buf (cap bytes, NUL-terminated); 0 at EOF. */
static int drain(int fd, char *buf, size_t cap, size_t *len)
{
    char tmp[4096];
    ssize_t k = read(fd, tmp, sizeof tmp);
    if (k <= 0)
        return 0;
    size_t n = (size_t)k;
    if (*len + n >= cap)
        n = cap - 1 - *len;
    memcpy(buf + *len, tmp, n);
    *len += n;
    buf[*len] = '\0';
    return 1;
}

/* Run argv with env (NULL-terminated "K=V" list) to completion. */
static void run_env(run *r, char *const env[], char *const argv[])
{
    int po[2], pe[2];
    memset(r, 0, sizeof *r);
    assert_int_equal(pipe(po), 0);
    assert_int_equal(pipe(pe), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(po[1], 1);
        dup2(pe[1], 2);
        close(po[0]); close(pe[0]); close(po[1]); close(pe[1]);
        execve(argv[0], argv, env);
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    size_t ol = 0, el = 0;
    int oo = 1, eo = 1;
    while (oo || eo) {
        struct pollfd p[2] = {{oo ? po[0] : -1, POLLIN, 0},
                              {eo ? pe[0] : -1, POLLIN, 0}};
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            break;
        if (oo && p[0].revents)
            oo = drain(po[0], r->out, sizeof r->out, &ol);
        if (eo && p[1].revents)
            eo = drain(pe[0], r->err, sizeof r->err, &el);
    }
    close(po[0]);
    close(pe[0]);
    int st;
    waitpid(pid, &st, 0);
    r->code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The environment of every run: a fixed PATH, a UTF-8 locale, and
** FIELDSYNC_DATA when data is non-NULL. */
static char **env_with(const char *data, char *buf, size_t cap)
{
    static char *env[4];
    size_t n = 0;
    env[n++] = "PATH=/usr/bin:/bin";
    env[n++] = "LANG=C.UTF-8";
    if (data) {
        int k = snprintf(buf, cap, "FIELDSYNC_DATA=%s", data);
        assert_true(k > 0 && (size_t)k < cap);
        env[n++] = buf;
    }
    env[n] = NULL;
    return env;
}

static int lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/fds-firstrun-XXXXXX");
    if (!mkdtemp(g_dir))
        return -1;
    snprintf(g_data, sizeof g_data, "%s/data", g_dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* `init` and the admin commands with FIELDSYNC_DATA and no --data. */
static void init_by_env(void)
{
    char eb[400];
    run r;
    run_env(&r, env_with(g_data, eb, sizeof eb),
            (char *const[]){FSV_SERVER_BIN, "init", "--json", NULL});
    if (r.code != 0)
        fail_msg("init with FIELDSYNC_DATA: exit %d: %s", r.code, r.err);
    struct stat st;
    char db[400];
    snprintf(db, sizeof db, "%s/fieldsync.db", g_data);
    assert_int_equal(stat(db, &st), 0);
}

static void test_data_from_environment(void **state)
{
    (void)state;
    char eb[400];
    run r;
    init_by_env();
    run_env(&r, env_with(g_data, eb, sizeof eb),
            (char *const[]){FSV_SERVER_BIN, "user", "add", "wangfang", "--role",
                            "rep", "--team", "east", NULL});
    if (r.code != 0)
        fail_msg("user add with FIELDSYNC_DATA: exit %d: %s", r.code, r.err);
    assert_non_null(strstr(r.out, "fs_"));
    run_env(&r, env_with(g_data, eb, sizeof eb),
            (char *const[]){FSV_SERVER_BIN, "user", "list", "--json", NULL});
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "\"wangfang\""));
    run_env(&r, env_with(g_data, eb, sizeof eb),
            (char *const[]){FSV_SERVER_BIN, "token", "list", "wangfang", NULL});
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "tk_"));
    /* --data wins over the variable. */
    char other[400];
    snprintf(other, sizeof other, "%s/nowhere", g_dir);
    run_env(&r, env_with(other, eb, sizeof eb),
            (char *const[]){FSV_SERVER_BIN, "user", "list", "--data", g_data,
                            NULL});
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "wangfang"));
    /* Neither: a usage error that names both ways. */
    run_env(&r, env_with(NULL, eb, sizeof eb),
            (char *const[]){FSV_SERVER_BIN, "user", "list", NULL});
    assert_int_equal(r.code, 2);
    assert_int_equal(lines(r.err), 1);
    assert_non_null(strstr(r.err, "--data"));
    assert_non_null(strstr(r.err, "FIELDSYNC_DATA"));
}

/* The display columns (CJK 2) where the cells of one line start: cells
** are separated by two or more spaces.  Returns the number of cells (at
** most 5 recorded). */
static size_t field_cols(const char *line, size_t cols[5])
{
    size_t n = 0, col = 0, k;
    int spaces = 2;     /* a cell starts the line */
    mbstate_t mb;
    wchar_t wc;
    memset(&mb, 0, sizeof mb);
    const char *end = strchr(line, '\n');
    size_t left = end ? (size_t)(end - line) : strlen(line);
    for (const char *p = line; left > 0; p += k, left -= k) {
        k = mbrtowc(&wc, p, left, &mb);
        if (k == 0 || k >= (size_t)-2)
            break;
        if (wc == L' ') {
            spaces++;
        } else {
            if (spaces >= 2 && n < 5)
                cols[n] = col;
            if (spaces >= 2)
                n++;
            spaces = 0;
        }
        col += (size_t)wcwidth(wc);
    }
    return n;
}

static void test_user_list_aligns_cjk(void **state)
{
    (void)state;
    char eb[400];
    run r;
    init_by_env();
    static const char *const users[][3] = {
        {"张伟", "rep", "华东销售部"},
        {"bob", "rep", "east"},
        {"欧阳娜娜", "manager", "华南"},
    };
    for (size_t i = 0; i < 3; i++) {
        run_env(&r, env_with(g_data, eb, sizeof eb),
                (char *const[]){FSV_SERVER_BIN, "user", "add",
                                (char *)users[i][0], "--role",
                                (char *)users[i][1], "--team",
                                (char *)users[i][2], NULL});
        assert_int_equal(r.code, 0);
    }
    run_env(&r, env_with(g_data, eb, sizeof eb),
            (char *const[]){FSV_SERVER_BIN, "user", "list", NULL});
    assert_int_equal(r.code, 0);
    /* Every row's five cells start at the header's display columns. */
    size_t head[5], cols[5];
    const char *line = r.out;
    assert_int_equal(field_cols(line, head), 5);
    int rows = 0;
    while ((line = strchr(line, '\n')) != NULL && *++line) {
        if (field_cols(line, cols) != 5 || memcmp(cols, head, sizeof cols))
            fail_msg("row %d is out of line:\n%s", rows + 1, r.out);
        rows++;
    }
    assert_int_equal(rows, 4);  /* admin and the three above */
    assert_non_null(strstr(r.out, "欧阳娜娜"));
}

/* A listening socket on 127.0.0.1; its port into *port. */
static int listen_any(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 4), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static void test_port_in_use_is_one_sentence(void **state)
{
    (void)state;
    char eb[400], listen_arg[64], port_text[16];
    run r;
    init_by_env();
    int port, fd = listen_any(&port);
    snprintf(listen_arg, sizeof listen_arg, "127.0.0.1:%d", port);
    snprintf(port_text, sizeof port_text, ":%d", port);
    run_env(&r, env_with(g_data, eb, sizeof eb),
            (char *const[]){FSV_SERVER_BIN, "serve", "--listen", listen_arg,
                            NULL});
    close(fd);
    assert_int_not_equal(r.code, 0);
    if (lines(r.err) != 1)
        fail_msg("want one line, got:\n%s", r.err);
    assert_non_null(strstr(r.err, "fieldsync-server: "));
    assert_non_null(strstr(r.err, "in use"));
    assert_non_null(strstr(r.err, port_text));
    assert_non_null(strstr(r.err, "--listen"));
    assert_null(strstr(r.err, "lws"));
}

static void test_serve_sh_says_the_real_port(void **state)
{
    (void)state;
    int port = ts_free_port();
    assert_true(port > 0);
    char e_data[400], e_listen[80], e_bin[600], e_san[40], logp[300];
    snprintf(e_data, sizeof e_data, "FIELDSYNC_DATA=%s", g_data);
    snprintf(e_listen, sizeof e_listen, "FIELDSYNC_LISTEN=127.0.0.1:%d", port);
    snprintf(e_bin, sizeof e_bin, "FIELDSYNC_SERVER_BIN=%s", FSV_SERVER_BIN);
    snprintf(e_san, sizeof e_san, "FIELDSYNC_SAN=127.0.0.1");
    snprintf(logp, sizeof logp, "%s/serve.log", g_dir);
    char *const env[] = {"PATH=/usr/bin:/bin", "LANG=C.UTF-8", e_data,
                         e_listen, e_bin, e_san, NULL};
    int po[2];
    assert_int_equal(pipe(po), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int lf = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(po[1], 1);
        dup2(lf, 2);
        close(po[0]);
        close(po[1]);
        execve("/bin/bash", (char *const[]){"bash", FDS_SERVE_SH, NULL}, env);
        _exit(127);
    }
    close(po[1]);
    /* Read until the script hands over to the server ("serving on"); the
    ** poll bound only keeps a broken script from hanging the test. */
    static char out[16384];
    size_t ol = 0;
    int open_ = 1;
    while (open_ && !strstr(out, "serving on")) {
        struct pollfd p = {po[0], POLLIN, 0};
        if (poll(&p, 1, 120000) <= 0)
            break;
        open_ = drain(po[0], out, sizeof out, &ol);
    }
    for (int i = 0; i < 400 && !ts_port_open(port); i++)
        usleep(50000);
    int listening = ts_port_open(port);
    kill(pid, SIGTERM);
    int st;
    waitpid(pid, &st, 0);
    close(po[0]);
    if (!strstr(out, "serving on"))
        fail_msg("serve.sh did not start serving:\n%s", out);
    assert_true(listening);

    char want[80];
    snprintf(want, sizeof want, "wss://127.0.0.1:%d ", port);
    if (!strstr(out, want))
        fail_msg("no connect line with %s:\n%s", want, out);
    snprintf(want, sizeof want, "https://127.0.0.1:%d/", port);
    if (!strstr(out, want))
        fail_msg("no dashboard URL %s:\n%s", want, out);
    /* ":8443" as a port: the random admin token may hold the digits
    ** 8443 (one run in a thousand did). */
    if (port != 8443 && strstr(out, ":8443"))
        fail_msg("still says 8443:\n%s", out);
    /* the admin token, once, and in the connect line */
    const char *tok = strstr(out, "admin token");
    assert_non_null(tok);
    tok = strstr(tok, "fs_");
    assert_non_null(tok);
    char token[80];
    snprintf(token, sizeof token, "--token %.67s ", tok);
    if (!strstr(out, token))
        fail_msg("the connect line does not carry the token:\n%s", out);
    /* where `fieldsync` is (an existing file), and how to trust ca.pem */
    const char *dev = strstr(out, "device command:");
    assert_non_null(dev);
    char path[512];
    assert_int_equal(sscanf(dev, "device command: %511s", path), 1);
    struct stat sb;
    if (stat(path, &sb) != 0 || !(sb.st_mode & S_IXUSR))
        fail_msg("device command %s is not an executable:\n%s", path, out);
    assert_non_null(strstr(out, "ca.pem"));
    assert_non_null(strstr(out, "Authorities"));
    assert_non_null(strstr(out, "Firefox"));
}

int main(void)
{
    setlocale(LC_CTYPE, "C.UTF-8");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_data_from_environment, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_user_list_aligns_cjk, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_port_in_use_is_one_sentence, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_serve_sh_says_the_real_port, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
