/*
** seclib.h — helpers shared by the tests/security executables, on top of
** the shared harness (tests/support: harness.h, rawws.h).
*/
#ifndef SEC_SECLIB_H
#define SEC_SECLIB_H

#include <stddef.h>
#include <sys/types.h>

#include "harness.h"
#include "rawws.h"

void sec_sleep_ms(int ms);

/* cli_sync of replica file dir/NAME.db in a child (watch or not); the
** child's exit code is cli_sync's (99 if the replica would not open). */
/* Wait (bounded, 10 s) until replica NAME has its user (a watcher is
** connected); fails the test otherwise. */
void sec_wait_connected(th_server *s, const char *name);
/* Wait (bounded, 10 s) until replica NAME holds customer id with field
** `name` equal to want; returns 1 if it did. */
int sec_wait_customer(th_server *s, const char *name, const char *id,
                      const char *want);

/* Rows of the replica file's reg and log tables that belong to customer
** id (the customer itself and records whose "customer" register names it),
** read with plain SQLite. */
long long sec_rows_of(th_server *s, const char *name, const char *id);

/* The token id of the first token of user (from `token list --json`). */
void sec_token_id(th_server *s, const char *user, char *id, size_t len);

/* Upgrade a raw client with token; 101 expected.  Then hello as device
** dev and read the welcome.  Fails the test on any other outcome. */
void sec_raw_hello(th_server *s, rw_conn *c, const char *token,
                   const char *dev);
/* Next text message containing "\"type\":\"TYPE\"" (skipping others);
** malloc'd, or NULL on timeout/close. */
char *sec_recv_type(rw_conn *c, const char *type);

/* A new customer with an owner-less name over the core API, id malloc'd. */
char *sec_followup(fds_replica *r, const char *customer, const char *text);

#endif /* SEC_SECLIB_H */
