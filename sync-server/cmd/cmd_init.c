/*
** cmd_init.c — `fieldsync-server init`: data directory, central store,
** private CA + server certificate, first admin user and its token.
*/
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cmds.h"
#include "pki.h"

#define MAX_SANS 32

static const char init_help[] =
    "usage: fieldsync-server init --data DIR [--san NAME]... [--store URL]"
    " [--json]\n"
    "\n"
    "Creates DIR (mode 0700) with the central store (" FSV_STORE_FILE "), a\n"
    "private certificate authority (ca.pem, ca.key) and a server certificate\n"
    "signed by it (server.pem, server.key) valid for localhost, 127.0.0.1, ::1,\n"
    "this host's name and every --san NAME (DNS name or IP address), and the\n"
    "first admin user \"admin\", whose device token is printed once.\n"
    "Refuses (exit 1) when DIR is already initialised; if some files are\n"
    "missing it recreates only those (all four certificate files together).\n"
    "--store postgresql://... makes the store's schema in that database (it\n"
    "must exist) instead of " FSV_STORE_FILE "; the certificates stay in DIR\n"
    "on each host.  Every later command then takes the same --store URL.\n";

/* mkdir -p: parents 0755 (subject to umask), the data directory 0700. */
static int mkdir_p(const char *dir)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(buf, 0700) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

static int exists(const char *dir, const char *name)
{
    char p[4096];
    struct stat st;
    return fsv_path(p, sizeof p, dir, name) == 0 && stat(p, &st) == 0;
}

int fsv_cmd_init(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data", required_argument, NULL, 'd'},
        {"san", required_argument, NULL, 's'},
        {"store", required_argument, NULL, 'S'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *data = NULL, *store_url = NULL;
    const char *sans[MAX_SANS + 5];
    size_t n_sans = 0;
    int json = 0, c;
    char host[256] = "";

    sans[n_sans++] = "localhost";
    sans[n_sans++] = "127.0.0.1";
    sans[n_sans++] = "::1";
    if (gethostname(host, sizeof host - 1) == 0 && host[0] &&
        strcmp(host, "localhost") != 0)
        sans[n_sans++] = host;
    size_t first_user_san = n_sans;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd': data = optarg; break;
        case 's':
            if (n_sans - first_user_san >= MAX_SANS) {
                fsv_fail("at most %d --san names", MAX_SANS);
                return FSV_EXIT_USAGE;
            }
            sans[n_sans++] = optarg;
            break;
        case 'S': store_url = optarg; break;
        case 'j': json = 1; break;
        case 'h': fputs(init_help, stdout); return FSV_EXIT_OK;
        default: fputs(init_help, stderr); return FSV_EXIT_USAGE;
        }
    }
    data = fsv_data_dir(data);
    if (!data || optind < argc) {
        fsv_fail(data ? "unexpected argument \"%s\"" : "--data DIR is required (or set FIELDSYNC_DATA)%s",
                 data ? argv[optind] : "");
        return FSV_EXIT_USAGE;
    }

    if (mkdir_p(data) != 0) {
        fsv_fail("cannot create %s: %s", data, strerror(errno));
        return FSV_EXIT_FAIL;
    }
    struct stat st;
    if (stat(data, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fsv_fail("%s is not a directory", data);
        return FSV_EXIT_FAIL;
    }
    chmod(data, 0700);

    /* A store elsewhere (--store) is made or repaired in place below: its
    ** admin user tells whether it was there. */
    int have_store = !store_url && exists(data, FSV_STORE_FILE);
    int have_pki = exists(data, "ca.pem") && exists(data, "ca.key") &&
                   exists(data, "server.pem") && exists(data, "server.key");
    if (have_store && have_pki) {
        fsv_fail("%s is already initialised (store and certificates exist);"
                 " nothing changed", data);
        return FSV_EXIT_FAIL;
    }

    char err[1024], path[4096];
    if (!have_pki) {
        if (fsv_pki_create(data, sans, n_sans, err, sizeof err) != FSV_OK) {
            fsv_fail("%s", err);
            return FSV_EXIT_FAIL;
        }
    }
    if (store_url) {
        if (snprintf(path, sizeof path, "%s", store_url) >= (int)sizeof path) {
            fsv_fail("--store URL too long");
            return FSV_EXIT_USAGE;
        }
    } else if (fsv_data_store_url(path, sizeof path, data) != 0) {
        fsv_fail("--data path too long");
        return FSV_EXIT_USAGE;
    }
    fsv_store *s = NULL;
    if (fsv_store_open(path, 1, &s, err, sizeof err) != FSV_OK) {
        fsv_fail("%s", err);
        return FSV_EXIT_FAIL;
    }

    char abs_data[4096], ca[4096 + 8], server[300];
    if (!realpath(data, abs_data))
        snprintf(abs_data, sizeof abs_data, "%s", data);
    snprintf(ca, sizeof ca, "%s/ca.pem", abs_data);
    snprintf(server, sizeof server, "wss://%s:%d", FSV_DEFAULT_HOST,
             FSV_DEFAULT_PORT);

    fsv_user u;
    int rc = fsv_store_user_get(s, "admin", &u);
    int code = FSV_EXIT_OK;
    if (rc == FSV_NOTFOUND) {
        if (fsv_store_begin(s) != FSV_OK ||
            fsv_store_user_add(s, "admin", "admin", "*") != FSV_OK) {
            fsv_fail("%s", fsv_store_errmsg(s));
            fsv_store_rollback(s);
            fsv_store_close(s);
            return FSV_EXIT_FAIL;
        }
        if (!json)
            printf("initialised %s\n", abs_data);
        code = fsv_issue_token(s, "admin", "admin", json, server, ca);
        if (code == FSV_EXIT_OK && fsv_store_commit(s) != FSV_OK) {
            fsv_fail("%s", fsv_store_errmsg(s));
            code = FSV_EXIT_FAIL;
        } else if (code != FSV_EXIT_OK) {
            fsv_store_rollback(s);
        }
    } else if (rc == FSV_OK && store_url && have_pki) {
        /* As with the store in DIR: nothing was missing, nothing changed
        ** (another host's init, with a DIR of its own, does repair). */
        fsv_fail("%s is already initialised (store and certificates exist);"
                 " nothing changed", data);
        code = FSV_EXIT_FAIL;
    } else if (rc == FSV_OK) {
        if (json) {
            json_t *o = json_pack("{s:s, s:s, s:b}", "data", abs_data, "ca", ca,
                                  "repaired", 1);
            char *t = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
            if (t)
                puts(t);
            free(t);
            json_decref(o);
        } else {
            printf("repaired %s: recreated the missing files; the admin user"
                   " already exists (no new token)\n", abs_data);
        }
    } else {
        fsv_fail("%s", fsv_store_errmsg(s));
        code = FSV_EXIT_FAIL;
    }
    if (code == FSV_EXIT_OK && !json) {
        printf("Start the server:\n  fieldsync-server serve --data %s%s%s\n",
               abs_data, store_url ? " --store " : "",
               store_url ? store_url : "");
        printf("Dashboard: https://%s:%d/\n", FSV_DEFAULT_HOST, FSV_DEFAULT_PORT);
        printf("(To serve other hosts, pass --listen HOST:PORT and make sure the"
               " certificate names them: --san at init.)\n");
    }
    fsv_store_close(s);
    return code;
}
