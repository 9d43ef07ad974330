/*
** api_summary.c — GET /api/summary (docs/API.md): stage counts, the stage
** and field definitions, per-rep rows and totals over what the caller may
** see.
*/
#include <string.h>

#include "api.h"

void fsv_api_summary(fsv_api *api, const fsv_user *u, fsv_resp *resp)
{
    fds_replica *r;
    int64_t head = 0, now = fsv_now_ms();
    json_t *sdefs = NULL, *fdefs = NULL, *sheets = NULL, *conflicts = NULL;
    if (fsv_view_get(api, u, &r, &head) != FSV_OK ||
        fds_stagedef_list(r, &sdefs) != FDS_OK ||
        fds_fielddef_list(r, &fdefs) != FDS_OK ||
        fsv_fig_sheets(r, &sheets) != FSV_OK ||
        fds_conflicts(r, &conflicts) != FDS_OK) {
        json_decref(sdefs);
        json_decref(fdefs);
        json_decref(sheets);
        fsv_resp_error(resp, 500, "the store failed while building the summary");
        return;
    }
    json_t *stages = json_object();
    size_t i;
    json_t *d, *s;
    json_array_foreach(sdefs, i, d)
        json_object_set_new(stages, json_string_value(json_object_get(d, "key")),
                            json_integer(0));
    json_array_foreach(sheets, i, s) {
        const char *st = json_string_value(json_object_get(s, "stage"));
        json_t *n = st ? json_object_get(stages, st) : NULL;
        if (n)
            json_object_set_new(stages, st, json_integer(json_integer_value(n) + 1));
    }
    json_t *reps = fsv_fig_reps(api, u, sheets, now);
    json_int_t overdue = 0;
    json_array_foreach(reps, i, d)
        overdue += json_integer_value(json_object_get(d, "overdue"));
    json_t *out = json_pack("{s:I, s:o, s:o, s:o, s:o, s:I, s:I, s:I}",
                            "head", (json_int_t)head, "stages", stages,
                            "stage_defs", sdefs, "field_defs", fdefs,
                            "reps", reps ? reps : json_array(),
                            "customers", (json_int_t)json_array_size(sheets),
                            "overdue", overdue,
                            "conflicts", (json_int_t)json_array_size(conflicts));
    json_decref(sheets);
    json_decref(conflicts);
    fsv_resp_json(resp, 200, out);
}
