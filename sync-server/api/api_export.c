/*
** api_export.c — GET /api/export.csv: the visible customers as
** `fieldsync export --format csv` writes them, by the same writer
** (text/sheet_csv.c): UTF-8 with a BOM, the standard columns (amount and
** expected_close included) then one per custom field, RFC 4180 quoting,
** CRLF, and the formula guard on every data cell (a cell Excel would run
** gets a leading "'"; `fieldsync import` takes it off again).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "sheet_csv.h"

void fsv_api_export(fsv_api *api, const fsv_user *u, fsv_resp *resp)
{
    fsv_api_export_of(api, u, NULL, resp);
}

void fsv_api_export_team(fsv_api *api, const fsv_user *u, const fsv_req *q,
                         fsv_resp *resp)
{
    const char *team = NULL;
    if (fsv_api_team_arg(api, q, resp, &team) == 0)
        fsv_api_export_of(api, u, team, resp);
}

void fsv_api_export_of(fsv_api *api, const fsv_user *u, const char *team,
                       fsv_resp *resp)
{
    json_t *list = NULL, *defs = NULL, *sdefs = NULL;
    /* From the store's office view, page by page (no per-user replica). */
    if (fsv_office_list_team(api, u, team, &list) != FSV_OK ||
        fsv_view_defs(api, &sdefs, &defs) != FSV_OK) {
        json_decref(list);
        fsv_resp_error(resp, 500, "the store failed while exporting");
        return;
    }
    json_decref(sdefs);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        json_decref(list);
        json_decref(defs);
        fsv_resp_error(resp, 500, "out of memory while exporting");
        return;
    }
    int wrote = fdt_csv_customers(f, list, defs);
    fclose(f);
    json_decref(list);
    json_decref(defs);
    if (wrote != 0) {
        free(buf);
        fsv_resp_error(resp, 500, "out of memory while exporting");
        return;
    }
    fsv_resp_clear(resp);
    resp->status = 200;
    resp->ctype = "text/csv; charset=utf-8";
    resp->body = buf;
    resp->len = len;
    fsv_resp_header(resp, "content-disposition:",
                    "attachment; filename=\"fieldsync-export.csv\"");
}
