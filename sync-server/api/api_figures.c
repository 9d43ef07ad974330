/*
** api_figures.c — what summary and analysis share: the visible customers'
** sheets and the per-rep rows (docs/API.md, "summary.reps").
*/
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "visibility.h"

int64_t fsv_fig_ms(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    int64_t ms;
    if (!s || fds_time_parse(s, &ms) != FDS_OK)
        return -1;
    return ms;
}

int fsv_fig_stage_flag(const json_t *defs, const char *key, const char *flag)
{
    size_t i;
    json_t *d;
    if (!key)
        return 0;
    json_array_foreach(defs, i, d) {
        const char *k = json_string_value(json_object_get(d, "key"));
        if (k && strcmp(k, key) == 0)
            return json_is_true(json_object_get(d, flag));
    }
    return 0;
}

int fsv_fig_sheets(fds_replica *r, json_t **sheets)
{
    fds_query q;
    json_t *list = NULL;
    memset(&q, 0, sizeof q);
    *sheets = NULL;
    if (fds_customer_list(r, &q, &list) != FDS_OK)
        return FSV_ERROR;
    json_t *out = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(list, i, c) {
        json_t *sheet = NULL;
        const char *id = json_string_value(json_object_get(c, "id"));
        if (!out || !id || fds_customer_sheet(r, id, &sheet) != FDS_OK) {
            json_decref(out);
            json_decref(list);
            return FSV_ERROR;
        }
        json_object_set(sheet, "conflicts", json_object_get(c, "conflicts"));
        json_array_append_new(out, sheet);
    }
    json_decref(list);
    *sheets = out;
    return FSV_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static json_t *row_for(json_t *rows, const char *user)
{
    json_t *row = json_object_get(rows, user);
    if (!row) {
        row = json_pack("{s:s, s:i, s:i, s:i, s:n}", "user", user, "customers", 0,
                        "followups_7d", 0, "overdue", 0, "last_sync");
        json_object_set_new(rows, user, row);
    }
    return row;
}

static void add(json_t *row, const char *key, json_int_t n)
{
    json_object_set_new(row, key, json_integer(
        json_integer_value(json_object_get(row, key)) + n));
}

json_t *fsv_fig_reps(fsv_api *api, const fsv_user *u, json_t *sheets,
                     int64_t now_ms)
{
    json_t *rows = json_object(), *devices = NULL;
    size_t i, j;
    json_t *s, *x;
    if (!rows)
        return NULL;
    if (strcmp(u->role, "rep") == 0)
        row_for(rows, u->name);
    json_array_foreach(sheets, i, s) {
        const char *owner = json_string_value(json_object_get(s, "owner"));
        json_t *row = row_for(rows, owner ? owner : "");
        add(row, "customers", 1);
        json_array_foreach(json_object_get(s, "followups"), j, x) {
            int64_t at = fsv_fig_ms(x, "at");
            if (at >= 0 && at <= now_ms && now_ms - at <= 7LL * 86400000)
                add(row, "followups_7d", 1);
        }
        json_array_foreach(json_object_get(s, "plans"), j, x) {
            int64_t due = fsv_fig_ms(x, "due");
            if (!json_is_true(json_object_get(x, "done")) && due >= 0 && due < now_ms)
                add(row, "overdue", 1);
        }
    }
    if (fsv_store_api_devices(api->srv->store, &devices) == FSV_OK) {
        json_array_foreach(devices, i, x) {
            const char *user = json_string_value(json_object_get(x, "user"));
            json_int_t ms = json_integer_value(json_object_get(x, "last_sync_ms"));
            json_t *row = user ? json_object_get(rows, user) : NULL;
            if (!row || ms <= 0)
                continue;
            json_t *cur = json_object_get(row, "last_sync_ms");
            if (!cur || json_integer_value(cur) < ms)
                json_object_set_new(row, "last_sync_ms", json_integer(ms));
        }
    }
    json_decref(devices);
    /* Sorted by user name: jansson objects keep insertion order, so sort
    ** the keys. */
    size_t n = json_object_size(rows), k = 0;
    const char **keys = calloc(n ? n : 1, sizeof *keys);
    json_t *arr = json_array();
    const char *key;
    json_t *row;
    if (!keys || !arr) {
        free(keys);
        json_decref(arr);
        json_decref(rows);
        return NULL;
    }
    json_object_foreach(rows, key, row)
        keys[k++] = key;
    qsort(keys, n, sizeof *keys, cmp_str);
    for (k = 0; k < n; k++) {
        row = json_object_get(rows, keys[k]);
        json_t *ms = json_object_get(row, "last_sync_ms");
        if (ms) {
            char at[40];
            fds_time_format(json_integer_value(ms), at, sizeof at);
            json_object_set_new(row, "last_sync", json_string(at));
            json_object_del(row, "last_sync_ms");
        }
        json_array_append(arr, row);
    }
    free(keys);
    json_decref(rows);
    return arr;
}
