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

/* "DIR/name" into buf; -1 if it does not fit. */
int fsv_path(char *buf, size_t cap, const char *dir, const char *name);
/* The default store URL of a data folder: "sqlite:DIR/" FSV_STORE_FILE
** into buf; -1 if it does not fit. */
int fsv_data_store_url(char *buf, size_t cap, const char *dir);
/* Open the store under data_dir (which must have been initialised); prints
** the reason and returns an exit code on failure, 0 with *out on success. */
int fsv_open_data_store(const char *data_dir, fsv_store **out);
/* One error line on stderr: "fieldsync-server: <msg>". */
void fsv_fail(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* Exit code for a store return code. */
int fsv_exit_for(int store_rc);
/* Create a token for user, store its hash, print it (text or JSON with
** role).  Returns an exit code. */
int fsv_issue_token(fsv_store *s, const char *user, const char *role,
                    int json, const char *hint_server, const char *hint_ca);

#endif /* FSV_CMDS_H */
