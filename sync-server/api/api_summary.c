/*
** api_summary.c — GET /api/summary and GET /api/analysis (docs/API.md):
** the figures of api_figures.c for the caller, in the zone ?tz= names
** (else serve --tz, else the server's local zone).
*/
#include <string.h>

#include "api.h"
#include "tzone.h"

/* The zone of a request: ?tz=, else serve --tz; 0, or -1 with a 400. */
static int request_tz(fsv_api *api, const fsv_req *q, fsv_resp *resp,
                      const char **tz)
{
    /* Other parameters are ignored, as they always were here (a script's
    ** cache-buster stays harmless). */
    const char *z = fsv_req_arg(q, "tz");
    if (z && z[0] && !fsv_tz_valid(z)) {
        fsv_resp_error(resp, 400, "tz \"%.64s\" is not a time zone this server"
                       " knows (e.g. Asia/Shanghai, UTC)", z);
        return -1;
    }
    *tz = z && z[0] ? z : api->tz;
    return 0;
}

static void figures(fsv_api *api, const fsv_user *u, const fsv_req *q,
                    fsv_resp *resp, int analysis)
{
    const char *tz = NULL;
    json_t *sd = NULL, *fd = NULL, *out = NULL;
    int64_t head = 0;
    if (request_tz(api, q, resp, &tz) != 0)
        return;
    int rc = fsv_view_defs(api, &sd, &fd);
    if (rc == FSV_OK)
        rc = fsv_store_head(api->srv->store, &head);
    if (rc == FSV_OK)
        rc = analysis ? fsv_fig_analysis(api->srv->store, u, sd, fsv_now_ms(), tz,
                                         head, &out)
                      : fsv_fig_summary(api->srv->store, u, sd, fd, fsv_now_ms(),
                                        head, &out);
    json_decref(sd);
    json_decref(fd);
    if (rc != FSV_OK) {
        fsv_resp_error(resp, 500, "the store failed while building the %s",
                       analysis ? "analysis" : "summary");
        return;
    }
    fsv_resp_json(resp, 200, out);
}

void fsv_api_summary(fsv_api *api, const fsv_user *u, const fsv_req *q,
                     fsv_resp *resp)
{
    figures(api, u, q, resp, 0);
}

void fsv_api_analysis(fsv_api *api, const fsv_user *u, const fsv_req *q,
                      fsv_resp *resp)
{
    figures(api, u, q, resp, 1);
}
