/*
** metrics_token.h — the scraper's token for GET /metrics.
**
** A separate credential from every device token: a monitoring system gets
** read access to counters and nothing else, and a leaked scraper config
** never opens anyone's customers.  It is "fsm_" + 64 hex digits (256 bits
** from OpenSSL's CSPRNG), shown once by `fieldsync-server token metrics`;
** the data folder keeps only its SHA-256, in hex, in FSV_METRICS_TOKEN_FILE
** (0600).  A new one replaces the old (rotation).  The server reads the
** file at every scrape, so rotating needs no restart, and a missing file
** means /metrics refuses everyone.  A file rather than the store: the
** token is not a user, has no rows to list or revoke, and a Prometheus
** scraper is set up by whoever runs the machine, beside the data folder.
*/
#ifndef FSV_METRICS_TOKEN_H
#define FSV_METRICS_TOKEN_H

#include <stddef.h>

#define FSV_METRICS_TOKEN_FILE   "metrics-token.sha256"
#define FSV_METRICS_TOKEN_PREFIX "fsm_"
#define FSV_METRICS_TOKEN_LEN    (4 + 64)

/* Make a new token, write its hash to DIR/FSV_METRICS_TOKEN_FILE (0600,
** replacing any older one atomically) and put the token text into
** token[FSV_METRICS_TOKEN_LEN + 1].  FSV_OK, or FSV_ERROR with a message
** in err. */
int fsv_metrics_token_new(const char *dir, char *token, char *err,
                          size_t errlen);

/* Does presented (the Bearer value) match DIR's metrics token?  1 yes,
** 0 no (or no token made yet, or the file is unreadable: *configured says
** which: 1 when a hash was read). */
int fsv_metrics_token_check(const char *dir, const char *presented,
                            int *configured);

#endif /* FSV_METRICS_TOKEN_H */
