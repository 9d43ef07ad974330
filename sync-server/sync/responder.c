/*
** responder.c — a welcome and a changes page, made without I/O
** (responder.h).
*/
#include "responder.h"

#include <stdlib.h>
#include <string.h>

void fsv_resp_welcome(fdsp_msg *w, const fsv_user *u, const char *device,
                      int64_t head)
{
    memset(w, 0, sizeof *w);
    w->type = FDSP_WELCOME;
    w->version = FDSP_VERSION;
    w->user = (char *)u->name;
    w->role = (char *)u->role;
    w->device = (char *)device;
    w->head = head;
}

int fsv_resp_page(const fdsp_change *rows, size_t n, int64_t last, int more,
                  int last_fixed, unsigned enc, char **buf, size_t *len,
                  size_t *sent, int64_t *page_last, int *page_more)
{
    fdsp_msg r;
    memset(&r, 0, sizeof r);
    r.type = FDSP_CHANGES;
    r.changes = n ? (fdsp_change *)rows : NULL;
    size_t take = n;
    *buf = NULL;
    *len = 0;
    *sent = 0;
    for (;;) {
        r.n_changes = take;
        r.last = take < n && !last_fixed ? rows[take - 1].seq : last;
        r.more = take < n ? 1 : more;
        int rc = fdsp_encode_opt(&r, enc, buf, len);
        if (rc == FDSP_OK && *len <= FDSP_MAX_FRAME)
            break;
        free(*buf);
        *buf = NULL;
        *len = 0;
        if (rc == FDSP_OK)
            rc = FDSP_E_TOOBIG;
        if ((rc != FDSP_E_LIMIT && rc != FDSP_E_TOOBIG) || take <= 1)
            return rc;
        take /= 2;
    }
    *sent = take;
    *page_last = r.last;
    *page_more = r.more;
    return FDSP_OK;
}

int fsv_resp_pull_rows(const fdsp_change *rows, size_t n, const fdsp_msg *pull,
                       unsigned enc, char **buf, size_t *len)
{
    size_t limit = pull->limit > 0 ? (size_t)pull->limit : FDSP_MAX_BATCH;
    size_t i = 0;
    while (i < n && rows[i].seq <= pull->after)
        i++;
    size_t k = n - i < limit ? n - i : limit;
    size_t sent = 0;
    int64_t last = 0;
    int more = 0;
    return fsv_resp_page(rows + i, k, k ? rows[i + k - 1].seq : pull->after,
                         i + k < n, 0, enc, buf, len, &sent, &last, &more);
}
