/*
** cmds.h — fieldsync-server's commands (one file each) and the small
** helpers they share.  Every command returns a process exit code:
** 0 ok; 1 other failure; 2 usage or invalid input; 3 not found.
*/
#ifndef FSV_CMDS_H
#define FSV_CMDS_H

#include <stddef.h>

#include "store.h"

enum { FSV_EXIT_OK = 0, FSV_EXIT_FAIL = 1, FSV_EXIT_USAGE = 2,
       FSV_EXIT_NOTFOUND = 3 };

#define FSV_STORE_FILE   "fieldsync.db"
#define FSV_DEFAULT_HOST "127.0.0.1"
#define FSV_DEFAULT_PORT 8443

int fsv_cmd_init(int argc, char **argv);
int fsv_cmd_user(int argc, char **argv);
int fsv_cmd_token(int argc, char **argv);
int fsv_cmd_serve(int argc, char **argv);
int fsv_cmd_backup(int argc, char **argv);
int fsv_cmd_team(int argc, char **argv);     /* cmd_team.c */
int fsv_cmd_pool(int argc, char **argv);     /* cmd_pool.c */

/* "DIR/name" into buf; -1 if it does not fit. */
int fsv_path(char *buf, size_t cap, const char *dir, const char *name);
/* The default store URL of a data folder: "sqlite:DIR/" FSV_STORE_FILE
** into buf; -1 if it does not fit. */
int fsv_data_store_url(char *buf, size_t cap, const char *dir);
/* The data folder: the --data option if given, else $FIELDSYNC_DATA (the
** variable scripts/serve.sh takes too), else NULL. */
const char *fsv_data_dir(const char *opt);
/* Open the store under data_dir (fsv_data_dir(data_dir): NULL means
** $FIELDSYNC_DATA; it must have been initialised); prints the reason and
** returns an exit code on failure, 0 with *out on success. */
int fsv_open_data_store(const char *data_dir, fsv_store **out);
/* Open the store an admin command names: store_url ("postgresql://...",
** "sqlite:PATH") when given, else the one under data_dir as
** fsv_open_data_store.  The store must have been initialised.  Prints the
** reason and returns an exit code on failure, 0 with *out on success. */
int fsv_open_store(const char *data_dir, const char *store_url,
                   fsv_store **out);
/* One error line on stderr: "fieldsync-server: <msg>". */
void fsv_fail(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* Can serve listen on host:port?  Binds a socket there (SO_REUSEADDR, as
** libwebsockets does) and closes it.  0 if so; -1 with one sentence in err
** naming the address and what to do (port in use, a privileged port, an
** address this machine does not have).  A host that is no address (an
** interface name) is left to libwebsockets: 0.  Asked before
** libwebsockets starts, whose own failure is several log lines. */
int fsv_listen_check(const char *host, int port, char *err, size_t errlen);
/* Exit code for a store return code. */
int fsv_exit_for(int store_rc);
/* Create a token for user, store its hash, print it (text or JSON with
** role).  Returns an exit code. */
int fsv_issue_token(fsv_store *s, const char *user, const char *role,
                    int json, const char *hint_server, const char *hint_ca);

#endif /* FSV_CMDS_H */
