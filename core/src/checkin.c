/*
** checkin.c — a follow-up's check-in place (拜访签到): where the rep was
** when the follow-up was written (DESIGN.md, "Customer pool (公海) and
** attachments").
**
** Stored as two ordinary registers of the follow-up record, so history,
** as_of, conflicts and sync treat them like any other field:
**   location  "LAT,LON" in decimal degrees, normalised to at most six
**             decimals (about 0.1 m) with trailing zeros dropped:
**             "31.2304,121.4737".  One register, not two, so a
**             concurrent edit can never pair one device's latitude with
**             another device's longitude.
**   address   free text ("上海市黄浦区人民大道200号").
** The JSON shape (fieldsync.h) is "location": {"lat","lon","address"}
** (lat/lon null when only an address was given) or null.
*/
#include "domain.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One number of "LAT,LON": optional spaces, a plain decimal (digits, one
** point, a sign; no exponent, hex, inf or nan), optional spaces. */
static int parse_deg(const char *s, size_t n, double *out)
{
    char buf[48];
    while (n && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n == 0 || n >= sizeof buf)
        return -1;
    int digits = 0, points = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9')
            digits++;
        else if (c == '.')
            points++;
        else if (!((c == '-' || c == '+') && i == 0))
            return -1;
    }
    if (!digits || points > 1)
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *end = NULL;
    double v = strtod(buf, &end);
    if (!end || *end || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

int fds_location_parse(const char *text, double *lat, double *lon)
{
    if (!text || !lat || !lon)
        return FDS_INVALID;
    const char *comma = strchr(text, ',');
    if (!comma || strchr(comma + 1, ','))
        return FDS_INVALID;
    if (parse_deg(text, (size_t)(comma - text), lat) != 0 ||
        parse_deg(comma + 1, strlen(comma + 1), lon) != 0)
        return FDS_INVALID;
    if (*lat < -90 || *lat > 90 || *lon < -180 || *lon > 180)
        return FDS_INVALID;
    return FDS_OK;
}

/* "%.6f" without trailing zeros (and without "-0"). */
static void fmt_deg(double v, char *buf, size_t len)
{
    if (fabs(v) < 5e-7)
        v = 0;
    snprintf(buf, len, "%.6f", v);
    char *dot = strchr(buf, '.');
    if (dot) {
        char *e = buf + strlen(buf) - 1;
        while (e > dot && *e == '0')
            *e-- = '\0';
        if (e == dot)
            *e = '\0';
    }
}

int fds__location_norm(fds_replica *r, const char *text, char **norm)
{
    double lat, lon;
    *norm = NULL;
    const char *comma = strchr(text, ',');
    if (!comma || strchr(comma + 1, ','))
        return fds__bad_value(r, "location", text,
                              "expected LAT,LON in decimal degrees, e.g. "
                              "31.2304,121.4737");
    if (parse_deg(text, (size_t)(comma - text), &lat) != 0)
        return fds__bad_value(r, "location", text,
                              "the latitude is not a decimal number");
    if (parse_deg(comma + 1, strlen(comma + 1), &lon) != 0)
        return fds__bad_value(r, "location", text,
                              "the longitude is not a decimal number");
    if (lat < -90 || lat > 90)
        return fds__bad_value(r, "location", text,
                              "the latitude must be between -90 and 90");
    if (lon < -180 || lon > 180)
        return fds__bad_value(r, "location", text,
                              "the longitude must be between -180 and 180");
    char a[40], b[40], out[96];
    fmt_deg(lat, a, sizeof a);
    fmt_deg(lon, b, sizeof b);
    snprintf(out, sizeof out, "%s,%s", a, b);
    if (!(*norm = strdup(out)))
        return fds__error(r, FDS_NOMEM, "out of memory");
    return FDS_OK;
}

json_t *fds__location_json(const json_t *regs)
{
    const char *loc = fds__jstr(regs, "location");
    const char *addr = fds__jstr(regs, "address");
    double lat, lon;
    int have = loc && fds_location_parse(loc, &lat, &lon) == FDS_OK;
    if (!have && !addr)
        return json_null();
    json_t *o = json_object();
    int bad = !o;
    if (o) {
        fds__jset(o, "lat", have ? json_real(lat) : json_null(), &bad);
        fds__jset(o, "lon", have ? json_real(lon) : json_null(), &bad);
        fds__jset(o, "address", addr ? json_string(addr) : json_null(), &bad);
    }
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int fds__followup_input(fds_replica *r, const json_t *in, json_t **out)
{
    *out = NULL;
    if (!json_is_object(in))
        return fds__error(r, FDS_INVALID, "follow-up input must be a JSON object");
    /* Member by member: jansson's json_copy drops a member silently when
    ** memory runs out, which would read as "method is required". */
    json_t *c = json_object();
    const char *k;
    json_t *v;
    int oom = !c;
    json_object_foreach((json_t *)in, k, v) {
        if (oom || json_object_set(c, k, v) != 0) {
            oom = 1;
            break;
        }
    }
    if (oom) {
        json_decref(c);
        return fds__error(r, FDS_NOMEM, "out of memory");
    }
    json_t *loc = json_object_get(c, "location");
    if (json_is_object(loc)) {
        /* Our own output coming back (show -> edit, export -> import). */
        json_t *la = json_object_get(loc, "lat"), *lo = json_object_get(loc, "lon");
        json_t *ad = json_object_get(loc, "address");
        int bad = 0;
        json_incref(ad);
        if (json_is_number(la) && json_is_number(lo)) {
            char a[40], b[40], text[96];
            snprintf(a, sizeof a, "%.9g", json_number_value(la));
            snprintf(b, sizeof b, "%.9g", json_number_value(lo));
            snprintf(text, sizeof text, "%s,%s", a, b);
            fds__jset(c, "location", json_string(text), &bad);
        } else if ((!la || json_is_null(la)) && (!lo || json_is_null(lo))) {
            fds__jset(c, "location", json_null(), &bad);
        } else {
            json_decref(ad);
            json_decref(c);
            return fds__error(r, FDS_INVALID, "invalid location: lat and lon "
                              "must both be numbers, or both null");
        }
        if (ad && !json_object_get(c, "address"))
            fds__jset(c, "address", ad, &bad);
        else
            json_decref(ad);
        if (bad) {
            json_decref(c);
            return fds__error(r, FDS_NOMEM, "out of memory");
        }
    }
    *out = c;
    return FDS_OK;
}
