/*
** cmd_common.c — helpers shared by fieldsync-server's commands.
*/
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "cmds.h"
#include "token.h"

void fsv_fail(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "fieldsync-server: %s\n", msg);
}

int fsv_path(char *buf, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(buf, cap, "%s/%s", dir, name);
    return (n < 0 || (size_t)n >= cap) ? -1 : 0;
}

int fsv_exit_for(int store_rc)
{
    switch (store_rc) {
    case FSV_OK: return FSV_EXIT_OK;
    case FSV_NOTFOUND: return FSV_EXIT_NOTFOUND;
    case FSV_INVALID: return FSV_EXIT_USAGE;
    case FSV_EXISTS: return FSV_EXIT_FAIL;
    default: return FSV_EXIT_FAIL;
    }
}

int fsv_data_store_url(char *buf, size_t cap, const char *dir)
{
    int n = snprintf(buf, cap, "sqlite:%s/%s", dir, FSV_STORE_FILE);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

const char *fsv_data_dir(const char *opt)
{
    if (opt)
        return opt;
    const char *env = getenv("FIELDSYNC_DATA");
    return env && *env ? env : NULL;
}

int fsv_open_data_store(const char *data_dir, fsv_store **out)
{
    char url[4096], err[1024];
    data_dir = fsv_data_dir(data_dir);
    if (!data_dir) {
        fsv_fail("--data DIR is required (or set FIELDSYNC_DATA)");
        return FSV_EXIT_USAGE;
    }
    if (fsv_data_store_url(url, sizeof url, data_dir) != 0) {
        fsv_fail("--data path too long");
        return FSV_EXIT_USAGE;
    }
    int rc = fsv_store_open(url, 0, out, err, sizeof err);
    if (rc != FSV_OK) {
        fsv_fail("%s", err);
        return FSV_EXIT_FAIL;
    }
    return FSV_EXIT_OK;
}

int fsv_open_store(const char *data_dir, const char *store_url,
                   fsv_store **out)
{
    if (!store_url)
        return fsv_open_data_store(data_dir, out);
    char err[1024];
    int rc = fsv_store_open(store_url, 0, out, err, sizeof err);
    if (rc != FSV_OK) {
        fsv_fail("%s", err);
        return rc == FSV_INVALID ? FSV_EXIT_USAGE : FSV_EXIT_FAIL;
    }
    return FSV_EXIT_OK;
}

int fsv_issue_token(fsv_store *s, const char *user, const char *role,
                    int json, const char *hint_server, const char *hint_ca)
{
    char token[FSV_TOKEN_LEN + 1], id[FSV_TOKEN_ID_LEN + 1];
    unsigned char hash[FSV_TOKEN_HASH];
    if (fsv_token_new(token, hash, id) != FSV_OK) {
        fsv_fail("cannot generate a token: the random generator failed");
        return FSV_EXIT_FAIL;
    }
    int rc = fsv_store_token_add(s, id, user, hash);
    if (rc != FSV_OK) {
        OPENSSL_cleanse(token, sizeof token);
        fsv_fail("%s", fsv_store_errmsg(s));
        return fsv_exit_for(rc);
    }
    if (json) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "user", user, "role", role,
                              "token", token, "token_id", id);
        if (o && hint_server) {
            json_object_set_new(o, "server", json_string(hint_server));
            json_object_set_new(o, "ca", json_string(hint_ca));
        }
        char *txt = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
        json_decref(o);
        if (!txt) {
            OPENSSL_cleanse(token, sizeof token);
            fsv_fail("out of memory");
            return FSV_EXIT_FAIL;
        }
        puts(txt);
        OPENSSL_cleanse(txt, strlen(txt));
        free(txt);
    } else {
        printf("user:     %s (%s)\n", user, role);
        printf("token:    %s\n", token);
        printf("token id: %s\n", id);
        printf("The token is shown only this once; store it on the device now.\n");
        if (hint_server)
            printf("Connect a device:\n  fieldsync init --server %s --token %s"
                   " --ca %s\n", hint_server, token, hint_ca);
    }
    OPENSSL_cleanse(token, sizeof token);
    fflush(stdout);
    return FSV_EXIT_OK;
}

int fsv_listen_check(const char *host, int port, char *err, size_t errlen)
{
    struct addrinfo hints, *res = NULL;
    char service[16];
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(service, sizeof service, "%d", port);
    /* Not an address: libwebsockets also takes an interface name (eth0);
    ** it says itself whether it can listen there. */
    if (getaddrinfo(host && *host ? host : NULL, service, &hints, &res) != 0)
        return 0;
    int rc = 0, e = 0;
    int fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, res->ai_addr, res->ai_addrlen) != 0) {
            e = errno;
            rc = -1;
        }
        close(fd);
    }
    freeaddrinfo(res);
    if (rc == 0)
        return 0;   /* (no socket at all: let libwebsockets say why) */
    if (e == EADDRINUSE)
        snprintf(err, errlen, "cannot listen on %s:%d: the port is in use by"
                 " another program (is fieldsync-server already running?);"
                 " stop it or choose another port with --listen HOST:PORT",
                 host, port);
    else if (e == EACCES)
        snprintf(err, errlen, "cannot listen on %s:%d: ports below 1024 need"
                 " root; run as root or choose a port above 1023 with"
                 " --listen HOST:PORT", host, port);
    else if (e == EADDRNOTAVAIL)
        snprintf(err, errlen, "cannot listen on %s:%d: %s is not an address"
                 " of this machine; use one it has, or 0.0.0.0 for all",
                 host, port, host);
    else
        snprintf(err, errlen, "cannot listen on %s:%d: %s", host, port,
                 strerror(e));
    return -1;
}
