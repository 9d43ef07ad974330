/*
** cmd_serve.c — `fieldsync-server serve`: checks the key, opens the store,
** installs the signal handlers and runs the event loop (server.c).
*/
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cmds.h"
#include "log.h"
#include "pki.h"
#include "server.h"
#include "tzone.h"

static const char serve_help[] =
    "usage: fieldsync-server serve --data DIR [--listen HOST:PORT]\n"
    "       [--cert FILE --key FILE] [--log-level error|warn|info|debug]\n"
    "       [--log-format kv|json] [--tz ZONE]\n"
    "       [--max-batch N] [--web DIR] [--tls-profile intermediate|modern]\n"
    "       [--event-loop uv|poll] [--group-commit on|off]\n"
    "\n"
    "Serves device sync (WebSocket subprotocol " FDSP_SUBPROTOCOL ") and the\n"
    "dashboard over TLS 1.2+ on one port.  --listen defaults to 127.0.0.1:8443\n"
    "(this machine only); use 0.0.0.0:8443 or [::]:8443 to serve the network.\n"
    "--cert/--key default to DIR/server.pem and DIR/server.key; the key must\n"
    "not be readable by group or others.  Logs go to stderr, one line per\n"
    "event (default level info: connections, pushes, pulls), as key=value\n"
    "pairs or, with --log-format json, one JSON object a line; never a token,\n"
    "cookie or request body.  SIGTERM/SIGINT stop the\n"
    "server cleanly; acknowledged changes are always on disk.\n"
    "--max-batch N caps the changes sent per pull answer (default and maximum\n"
    "500); smaller batches mean more, smaller messages on slow links.\n"
    "--web DIR serves the dashboard from DIR (default: $FIELDSYNC_WEB_DIR,\n"
    "then the installed dashboard, then the build's sync-server/web/dist).\n"
    "--tls-profile intermediate (default) offers TLS 1.2 with AEAD ciphers\n"
    "and TLS 1.3 (Mozilla's intermediate profile); modern offers TLS 1.3 only.\n"
    "--tz ZONE is the time zone of the dashboard's weeks, hours and birthdays\n"
    "(an IANA name such as Asia/Shanghai; default: this machine's zone); a\n"
    "browser may ask for another with ?tz=.\n"
    "--event-loop poll (default) uses libwebsockets' own poll() loop; uv runs\n"
    "it on libuv (epoll: the cost of a wake-up does not grow with the number\n"
    "of connections; for thousands of devices; a fatal error's close code\n"
    "may not reach the device: docs/SERVER.md).\n"
    "--group-commit on merges the pushes that arrive in one turn of the event\n"
    "loop in one transaction (one fsync for all); off (default) commits each\n"
    "push alone, at once (a lone push is answered about 1 ms sooner).\n"
    "--store postgresql://... serves from a PostgreSQL store made with\n"
    "`init --store` (the certificates stay in DIR): several serve processes\n"
    "may share one database.  Devices connected to one process learn of\n"
    "another's changes at their next sync (no live push across processes\n"
    "yet).\n";

/* The one flag the signal handler touches. */
static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* "HOST:PORT", "[V6]:PORT" or ":PORT" / "PORT". */
/* Every connection is a file descriptor: raise the soft open-file limit
** to the hard one (the kernel's ceiling for this process; more needs the
** OS settings in docs/SERVER.md).  Before the libwebsockets context, which
** sizes its descriptor table from the limit.  The limit now in force. */
static long raise_open_files(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;
    if (rl.rlim_cur < rl.rlim_max) {
        struct rlimit want = rl;
        want.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &want) == 0)
            rl = want;
    }
    return rl.rlim_cur == RLIM_INFINITY ? -1 : (long)rl.rlim_cur;
}

static int parse_listen(const char *arg, char *host, size_t cap, int *port)
{
    const char *colon;
    if (arg[0] == '[') {
        const char *close = strchr(arg, ']');
        if (!close || close[1] != ':')
            return -1;
        if ((size_t)(close - arg - 1) >= cap)
            return -1;
        memcpy(host, arg + 1, (size_t)(close - arg - 1));
        host[close - arg - 1] = '\0';
        colon = close + 1;
    } else {
        colon = strrchr(arg, ':');
        if (!colon) {
            snprintf(host, cap, "%s", FSV_DEFAULT_HOST);
            colon = arg - 1;
        } else {
            if ((size_t)(colon - arg) >= cap)
                return -1;
            memcpy(host, arg, (size_t)(colon - arg));
            host[colon - arg] = '\0';
            if (!host[0])
                snprintf(host, cap, "%s", "0.0.0.0");
        }
    }
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end || p < 1 || p > 65535)
        return -1;
    *port = (int)p;
    return 0;
}

int fsv_cmd_serve(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data", required_argument, NULL, 'd'},
        {"listen", required_argument, NULL, 'l'},
        {"cert", required_argument, NULL, 'c'},
        {"key", required_argument, NULL, 'k'},
        {"log-level", required_argument, NULL, 'L'},
        {"store", required_argument, NULL, 's'},
        {"max-batch", required_argument, NULL, 'b'},
        {"web", required_argument, NULL, 'w'},
        {"tls-profile", required_argument, NULL, 'T'},
        {"log-format", required_argument, NULL, 'F'},
        {"tz", required_argument, NULL, 'z'},
        {"event-loop", required_argument, NULL, 'E'},
        {"group-commit", required_argument, NULL, 'G'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *data = NULL, *listen = NULL, *cert = NULL, *key = NULL;
    const char *store_url = NULL;
    char err0[512];
    const char *web = NULL, *tz = NULL;
    int level = FSV_LOG_INFO, c, max_batch = FDSP_MAX_BATCH;
    int tls_profile = FSV_TLS_INTERMEDIATE, log_format = FSV_LOG_KV;
    int event_loop = FSV_LOOP_POLL, no_group = 1;
    char *end;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd': data = optarg; break;
        case 'l': listen = optarg; break;
        case 'c': cert = optarg; break;
        case 'k': key = optarg; break;
        case 'w': web = optarg; break;
        case 'F':
            if (fsv_log_parse_format(optarg, &log_format) != 0) {
                fsv_fail("--log-format must be kv or json");
                return FSV_EXIT_USAGE;
            }
            break;
        case 'T':
            if (strcmp(optarg, "intermediate") == 0)
                tls_profile = FSV_TLS_INTERMEDIATE;
            else if (strcmp(optarg, "modern") == 0)
                tls_profile = FSV_TLS_MODERN;
            else {
                fsv_fail("--tls-profile must be intermediate or modern");
                return FSV_EXIT_USAGE;
            }
            break;
        case 'z':
            if (!fsv_tz_valid(optarg)) {
                fsv_fail("--tz %s: not a time zone this machine knows (an IANA"
                         " name such as Asia/Shanghai, or UTC)", optarg);
                return FSV_EXIT_USAGE;
            }
            tz = optarg;
            break;
        case 'L':
            if (fsv_log_parse_level(optarg, &level) != 0) {
                fsv_fail("--log-level must be error, warn, info or debug");
                return FSV_EXIT_USAGE;
            }
            break;
        case 's':
            if (fsv_store_url_check(optarg, err0, sizeof err0) != FSV_OK) {
                fsv_fail("--store: %s", err0);
                return FSV_EXIT_USAGE;
            }
            store_url = optarg;
            break;
        case 'b':
            max_batch = (int)strtol(optarg, &end, 10);
            if (*end || max_batch < 1 || max_batch > FDSP_MAX_BATCH) {
                fsv_fail("--max-batch must be 1..%d", FDSP_MAX_BATCH);
                return FSV_EXIT_USAGE;
            }
            break;
        case 'E':
            if (strcmp(optarg, "uv") == 0)
                event_loop = FSV_LOOP_UV;
            else if (strcmp(optarg, "poll") == 0)
                event_loop = FSV_LOOP_POLL;
            else {
                fsv_fail("--event-loop must be uv or poll");
                return FSV_EXIT_USAGE;
            }
            break;
        case 'G':
            if (strcmp(optarg, "on") == 0 || strcmp(optarg, "off") == 0)
                no_group = strcmp(optarg, "off") == 0;
            else {
                fsv_fail("--group-commit must be on or off");
                return FSV_EXIT_USAGE;
            }
            break;
        case 'h': fputs(serve_help, stdout); return FSV_EXIT_OK;
        default: fputs(serve_help, stderr); return FSV_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fsv_fail("unexpected argument \"%s\"", argv[optind]);
        return FSV_EXIT_USAGE;
    }
    if (!(data = fsv_data_dir(data))) {
        fsv_fail("--data DIR is required (or set FIELDSYNC_DATA)");
        return FSV_EXIT_USAGE;
    }
    if ((cert == NULL) != (key == NULL)) {
        fsv_fail("--cert and --key go together");
        return FSV_EXIT_USAGE;
    }
    char host[256];
    int port = FSV_DEFAULT_PORT;
    snprintf(host, sizeof host, "%s", FSV_DEFAULT_HOST);
    if (listen && parse_listen(listen, host, sizeof host, &port) != 0) {
        fsv_fail("--listen %s: expected HOST:PORT", listen);
        return FSV_EXIT_USAGE;
    }
    char cert_path[4096], key_path[4096], err[1024];
    if (!cert) {
        if (fsv_path(cert_path, sizeof cert_path, data, "server.pem") ||
            fsv_path(key_path, sizeof key_path, data, "server.key")) {
            fsv_fail("--data path too long");
            return FSV_EXIT_USAGE;
        }
        cert = cert_path;
        key = key_path;
    }
    if (fsv_pki_check_key_mode(key, err, sizeof err) != FSV_OK) {
        fsv_fail("%s", err);
        return FSV_EXIT_FAIL;
    }

    /* A port in use is one sentence, not libwebsockets' log lines. */
    if (fsv_listen_check(host, port, err, sizeof err) != 0) {
        fsv_fail("%s", err);
        return FSV_EXIT_FAIL;
    }
    fsv_log_set_level(level);
    fsv_log_set_format(log_format);
    fsv_store *s;
    int code = fsv_open_store(data, store_url, &s);
    if (code != FSV_EXIT_OK)
        return code;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    fsv_config cfg = {host, port, cert, key, max_batch, web, tls_profile, data, tz,
                      raise_open_files(), event_loop, no_group};
    if (fsv_server_run(&cfg, s, &g_stop, err, sizeof err) != 0) {
        fsv_fail("%s", err);
        code = FSV_EXIT_FAIL;
    }
    fsv_store_close(s);
    return code;
}
