/*
** read.c — typed, limit-checked reads of members of a decoded JSON object.
** Every decoder goes through these, so each wrong type, missing key, limit
** and bad value is reported the same way, naming the field.
*/
#include "proto_internal.h"

#include <string.h>

/* Borrowed member, or NULL when absent.  For optional keys a JSON null
** counts as absent (peers that write "key":null for "not set" interoperate). */
static const json_t *member(const json_t *o, const char *key, int required)
{
    const json_t *v = json_object_get(o, key);
    if (v != NULL && !required && json_is_null(v))
        return NULL;
    return v;
}

int fdsp__get_str(const json_t *o, const char *path, const char *key,
                  int kind, int required, char **out,
                  char *err, size_t errlen)
{
    const json_t *v = member(o, key, required);
    const char *why;
    if (v == NULL)
        return required ? fdsp__fail(err, errlen, FDSP_E_MISSING, path, key,
                                     "required") : FDSP_OK;
    if (!json_is_string(v))
        return fdsp__fail(err, errlen, FDSP_E_TYPE, path, key,
                          "must be a string");
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    int rc = fdsp__check_str(s, n, kind, &why);
    if (rc != FDSP_OK)
        return fdsp__fail(err, errlen, rc, path, key, "%s", why);
    char *copy = fdsp__strndup(s, n);
    if (copy == NULL)
        return fdsp__fail(err, errlen, FDSP_E_NOMEM, path, key, "out of memory");
    *out = copy;
    return FDSP_OK;
}

int fdsp__get_int(const json_t *o, const char *path, const char *key,
                  int required, int64_t lo, int64_t hi, int hi_code,
                  int64_t *out, char *err, size_t errlen)
{
    const json_t *v = member(o, key, required);
    if (v == NULL)
        return required ? fdsp__fail(err, errlen, FDSP_E_MISSING, path, key,
                                     "required") : FDSP_OK;
    if (!json_is_integer(v))
        return fdsp__fail(err, errlen, FDSP_E_TYPE, path, key,
                          "must be an integer");
    json_int_t x = json_integer_value(v);
    if (x < lo)
        return fdsp__fail(err, errlen, FDSP_E_VALUE, path, key,
                          "must be >= %lld", (long long)lo);
    if (x > hi)
        return fdsp__fail(err, errlen, hi_code, path, key,
                          "must be <= %lld", (long long)hi);
    *out = (int64_t)x;
    return FDSP_OK;
}

int fdsp__get_bool(const json_t *o, const char *path, const char *key,
                   int required, int *out, char *err, size_t errlen)
{
    const json_t *v = member(o, key, required);
    if (v == NULL)
        return required ? fdsp__fail(err, errlen, FDSP_E_MISSING, path, key,
                                     "required") : FDSP_OK;
    if (!json_is_boolean(v))
        return fdsp__fail(err, errlen, FDSP_E_TYPE, path, key,
                          "must be true or false");
    *out = json_is_true(v) ? 1 : 0;
    return FDSP_OK;
}

int fdsp__get_array(const json_t *o, const char *path, const char *key,
                    size_t lo, size_t hi, const json_t **out,
                    char *err, size_t errlen)
{
    const json_t *v = json_object_get(o, key);
    if (v == NULL)
        return fdsp__fail(err, errlen, FDSP_E_MISSING, path, key, "required");
    if (!json_is_array(v))
        return fdsp__fail(err, errlen, FDSP_E_TYPE, path, key,
                          "must be an array");
    size_t n = json_array_size(v);
    if (n > hi)
        return fdsp__fail(err, errlen, FDSP_E_LIMIT, path, key,
                          "more than %zu entries", hi);
    if (n < lo)
        return fdsp__fail(err, errlen, FDSP_E_VALUE, path, key,
                          "fewer than %zu entries", lo);
    *out = v;
    return FDSP_OK;
}
