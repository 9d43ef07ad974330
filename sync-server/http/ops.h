/*
** ops.h — GET /healthz and GET /metrics (ops.c), routed by http.c before
** the API and the static files.
*/
#ifndef FSV_OPS_H
#define FSV_OPS_H

#include "api.h"

/* If q is /healthz or /metrics, answer it into r and return 1; else 0. */
int fsv_ops_route(fsv_api *api, const fsv_req *q, fsv_resp *r);

#endif /* FSV_OPS_H */
