/*
** pki.h — the server's private certificate authority (OpenSSL 3).
** `init` makes an EC P-256 CA (10 years) and a server certificate signed by
** it (825 days, the longest lifetime TLS clients accept) whose subjectAltName
** lists every name devices may dial.  Every file is written 0600 (the data
** directory is 0700; ca.pem is copied to devices by the administrator).
*/
#ifndef FSV_PKI_H
#define FSV_PKI_H

#include <stddef.h>

#include "errors.h"

/* Create ca.pem/ca.key and server.pem/server.key under dir.  sans: DNS
** names or IP literals (IPv4/IPv6), n_sans of them; duplicates are fine.
** Existing files are overwritten only via the caller's choice (init checks
** first).  FSV_OK, or FSV_ERROR with a message in err. */
int fsv_pki_create(const char *dir, const char *const *sans, size_t n_sans,
                   char *err, size_t errlen);

/* FSV_OK if the file at path exists and is readable by its owner only (no
** group or other permission bits), FSV_ERROR otherwise with a message in
** err. */
int fsv_pki_check_key_mode(const char *path, char *err, size_t errlen);

#endif /* FSV_PKI_H */
