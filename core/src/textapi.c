/*
** textapi.c — the public API with JSON text in and out (fieldsync.h, "JSON
** text entry points"), for bindings that cannot or should not hold jansson
** trees: JNA on Android, Swift, Kotlin/Native, any FFI.
**
** Each entry point parses its text input, calls the json_t function of the
** same name and dumps its result.  Nothing here decides anything: a
** binding gets the same validation, errors and records as a C caller.
*/
#include "internal.h"

#include <stdlib.h>
#include <string.h>

void fds_free(void *p)
{
    free(p);
}

/* Parse text into *out (a new reference).  NULL text is allowed only when
** may_null, and gives *out = NULL. */
static int text_in(fds_replica *r, const char *what, const char *text,
                   int may_null, json_t **out)
{
    *out = NULL;
    if (text == NULL) {
        if (may_null)
            return FDS_OK;
        return fds__error(r, FDS_INVALID, "%s: JSON text is required", what);
    }
    char why[160];
    int rc = fds__json_parse(text, 1, out, why, sizeof why);
    if (rc == FDS_NOMEM)
        return fds__error(r, FDS_NOMEM, "%s: out of memory reading JSON "
                          "text", what);
    if (rc != FDS_OK)
        return fds__error(r, FDS_INVALID, "%s: not JSON (%s)", what, why);
    return FDS_OK;
}

/* Dump j (consumed) into *out; NULL j gives "null". */
static int text_out(fds_replica *r, json_t *j, char **out)
{
    *out = fds__json_dump(j, 0);    /* json_dumps can drop a key */
    json_decref(j);
    if (*out == NULL)
        return fds__error(r, FDS_NOMEM, "out of memory writing JSON text");
    return FDS_OK;
}

/* Finish a call whose json_t result is j: on success its text into *out,
** else *out stays NULL and rc (with the handle's message) is returned. */
static int finish(fds_replica *r, int rc, json_t *j, char **out)
{
    if (rc != FDS_OK) {
        json_decref(j);
        return rc;
    }
    return text_out(r, j, out);
}

int fds_customer_add_text(fds_replica *r, const char *in, char **out,
                          char **warnings)
{
    json_t *j, *res = NULL, *warn = NULL;
    *out = NULL;
    if (warnings)
        *warnings = NULL;
    int rc = text_in(r, "customer", in, 0, &j);
    if (rc != FDS_OK)
        return rc;
    rc = fds_customer_add(r, j, &res, warnings ? &warn : NULL);
    json_decref(j);
    if (rc == FDS_OK && warnings) {
        rc = text_out(r, warn ? warn : json_array(), warnings);
        warn = NULL;
    }
    json_decref(warn);
    rc = finish(r, rc, res, out);
    if (rc != FDS_OK && warnings) {
        free(*warnings);
        *warnings = NULL;
    }
    return rc;
}

int fds_customer_edit_text(fds_replica *r, const char *id, const char *in,
                           char **out)
{
    json_t *j, *res = NULL;
    *out = NULL;
    int rc = text_in(r, "customer edit", in, 0, &j);
    if (rc != FDS_OK)
        return rc;
    rc = fds_customer_edit(r, id, j, &res);
    json_decref(j);
    return finish(r, rc, res, out);
}

int fds_customer_get_text(fds_replica *r, const char *id, char **out)
{
    json_t *res = NULL;
    *out = NULL;
    int rc = fds_customer_get(r, id, &res);   /* before finish() reads res */
    return finish(r, rc, res, out);
}

int fds_customer_sheet_text(fds_replica *r, const char *id, char **out)
{
    json_t *res = NULL;
    *out = NULL;
    int rc = fds_customer_sheet(r, id, &res);   /* before finish() reads res */
    return finish(r, rc, res, out);
}

int fds_customer_list_text(fds_replica *r, const char *query, char **out)
{
    json_t *j, *res = NULL;
    *out = NULL;
    int rc = text_in(r, "customer query", query, 1, &j);
    if (rc != FDS_OK)
        return rc;
    fds_query q = { 0 };
    if (j != NULL) {
        if (!json_is_object(j)) {
            json_decref(j);
            return fds__error(r, FDS_INVALID,
                              "customer query must be a JSON object");
        }
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v) {
            const char **slot = strcmp(k, "stage") == 0  ? &q.stage
                              : strcmp(k, "owner") == 0  ? &q.owner
                              : strcmp(k, "search") == 0 ? &q.search
                              : strcmp(k, "sort") == 0   ? &q.sort : NULL;
            if (slot != NULL && (json_is_string(v) || json_is_null(v))) {
                *slot = json_string_value(v);   /* NULL for null */
            } else if (strcmp(k, "include_deleted") == 0 && json_is_boolean(v)) {
                q.include_deleted = json_is_true(v);
            } else if (strcmp(k, "activity") == 0 && json_is_boolean(v)) {
                q.activity = json_is_true(v);
            } else {
                /* the message first: k lives in j */
                rc = fds__error(r, FDS_INVALID, "customer query: \"%s\" is "
                                "not one of stage, owner, search, sort (strings), "
                                "include_deleted or activity (booleans)", k);
                json_decref(j);
                return rc;
            }
        }
    }
    rc = fds_customer_list(r, &q, &res);   /* q points into j: free it after */
    json_decref(j);
    return finish(r, rc, res, out);
}

int fds_followup_add_text(fds_replica *r, const char *customer,
                          const char *in, char **out)
{
    json_t *j, *res = NULL;
    *out = NULL;
    int rc = text_in(r, "follow-up", in, 0, &j);
    if (rc != FDS_OK)
        return rc;
    rc = fds_followup_add(r, customer, j, &res);
    json_decref(j);
    return finish(r, rc, res, out);
}

int fds_plan_add_text(fds_replica *r, const char *customer, const char *in,
                      char **out)
{
    json_t *j, *res = NULL;
    *out = NULL;
    int rc = text_in(r, "plan", in, 0, &j);
    if (rc != FDS_OK)
        return rc;
    rc = fds_plan_add(r, customer, j, &res);
    json_decref(j);
    return finish(r, rc, res, out);
}

int fds_today_text(fds_replica *r, const char *date, char **out)
{
    json_t *res = NULL;
    *out = NULL;
    int rc = fds_today(r, date, &res);   /* before finish() reads res */
    return finish(r, rc, res, out);
}

int fds_conflicts_text(fds_replica *r, char **out)
{
    json_t *res = NULL;
    *out = NULL;
    int rc = fds_conflicts(r, &res);   /* before finish() reads res */
    return finish(r, rc, res, out);
}

char *fds_session_stats_text(const fds_session *s)
{
    fds_session_stats st;
    fds_session_stats_get(s, &st);
    /* Every member of fds_session_stats by name, so a binding never
    ** depends on the struct's layout; notes (reset, restore, dropped
    ** relays) as the array fds_session_notes holds. */
    const json_t *notes = fds_session_notes(s);    /* never NULL */
    json_t *j = json_pack("{sIsIsIsIsIsbsbsIsIsIsIsIsisO}",
                          "pushed", (json_int_t)st.pushed,
                          "pulled", (json_int_t)st.pulled,
                          "conflicts", (json_int_t)st.conflicts,
                          "refused", (json_int_t)st.refused,
                          "revoked", (json_int_t)st.revoked,
                          "device_reset", st.device_reset,
                          "server_restored", st.server_restored,
                          "resent", (json_int_t)st.resent,
                          "relay_dropped", (json_int_t)st.relay_dropped,
                          "repaired", (json_int_t)st.repaired,
                          "repaired_records", (json_int_t)st.repaired_records,
                          "live", (json_int_t)st.live,
                          "state", fds_session_state(s),
                          "notes", (json_t *)notes);   /* O: a new ref */
    if (j == NULL)
        return NULL;
    if (json_object_set(j, "duplicates",
                        (json_t *)fds_session_duplicates(s)) != 0) {
        json_decref(j);
        return NULL;
    }
    if (st.clock_known &&
        json_object_set_new(j, "clock_skew_ms",
                            json_integer((json_int_t)st.clock_skew_ms)) != 0) {
        json_decref(j);
        return NULL;
    }
    char *text = fds__json_dump(j, 0);
    json_decref(j);
    return text;
}
