/*
** store_dup.c — the backend-neutral half of duplicate customers across
** reps (撞单, store.h "Duplicate customers"): how a phone number or a
** WeChat id becomes the key two customers are compared by, and the
** calls that go through the backend table.
*/
#include "store.h"
#include "store_backend.h"

#include <stdio.h>
#include <string.h>

/* Phones: digits only (spaces, dashes, brackets, dots and the "+" drop
** out), so "138 0013 8000", "138-0013-8000" and "+86 138 0013 8000" are one
** number.  A China country prefix is dropped when it is written as one
** ("+86", "0086") or when the digits are 86 followed by a mobile number
** (13 digits starting 861): a rep types a customer's number both ways.
** Fewer than FSV_DUP_MIN_DIGITS digits left is no key (an extension, a
** typo, "110"): it would match too much.  WeChat ids: trimmed of spaces,
** ASCII letters folded to lower case (WeChat ids are not case-sensitive);
** fewer than FSV_DUP_MIN_WECHAT bytes is no key. */
#define FSV_DUP_MIN_DIGITS 6
#define FSV_DUP_MIN_WECHAT 3

int fsv_dup_key(const char *field, const char *value, char *out, size_t cap)
{
    if (!field || !value || cap < FSV_DUP_KEY_MAX)
        return 0;
    size_t n = 0;
    if (strcmp(field, "phone") == 0) {
        const char *p = value;
        while (*p == ' ' || *p == '\t')
            p++;
        int prefixed = 0;
        if (p[0] == '+' && p[1] == '8' && p[2] == '6') {
            p += 3;
            prefixed = 1;
        } else if (strncmp(p, "0086", 4) == 0) {
            p += 4;
            prefixed = 1;
        }
        char digits[FSV_DUP_KEY_MAX];
        size_t nd = 0;
        for (; *p; p++) {
            if (*p >= '0' && *p <= '9') {
                if (nd + 1 >= sizeof digits - 2)
                    return 0;   /* not a phone number: no key */
                digits[nd++] = *p;
            } else if (!strchr(" -+().\t", *p)) {
                return 0;       /* letters: not a number we can compare */
            }
        }
        digits[nd] = '\0';
        const char *d = digits;
        if (!prefixed && nd == 13 && d[0] == '8' && d[1] == '6' && d[2] == '1')
            d += 2;
        if (strlen(d) < FSV_DUP_MIN_DIGITS)
            return 0;
        n = (size_t)snprintf(out, cap, "p:%s", d);
    } else if (strcmp(field, "wechat") == 0) {
        const char *p = value, *e = value + strlen(value);
        while (*p == ' ' || *p == '\t')
            p++;
        while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if ((size_t)(e - p) < FSV_DUP_MIN_WECHAT ||
            (size_t)(e - p) + 3 > cap)
            return 0;
        out[n++] = 'w';
        out[n++] = ':';
        for (; p < e; p++)
            out[n++] = (*p >= 'A' && *p <= 'Z') ? (char)(*p - 'A' + 'a') : *p;
        out[n] = '\0';
    } else {
        return 0;
    }
    return n > 0 && n < cap;
}

int fsv_store_dup_matches(fsv_store *s, const char *key, const char *customer,
                          fsv_dup_match_fn fn, void *ud)
{
    if (!s->be->dup_matches)
        return FSV_OK;  /* a backend without the index knows of none */
    unsigned gen = s->msg_gen;
    int rc = s->be->dup_matches(s, key, customer, fn, ud);
    if (rc != FSV_OK && s->msg_gen == gen)
        fsv__store_setmsg(s, rc, "store: duplicate lookup: %s", fsv_errstr(rc));
    return rc;
}

int fsv_store_dup_notice(fsv_store *s, const char *user, int64_t now_ms,
                         int64_t since_ms, int64_t *given)
{
    *given = 0;
    if (!s->be->dup_notice)
        return FSV_OK;
    unsigned gen = s->msg_gen;
    int rc = s->be->dup_notice(s, user, now_ms, since_ms, given);
    if (rc != FSV_OK && s->msg_gen == gen)
        fsv__store_setmsg(s, rc, "store: duplicate notice: %s", fsv_errstr(rc));
    return rc;
}

int fsv_store_dup_list(fsv_store *s, fsv_dup_row_fn fn, void *ud)
{
    if (!s->be->dup_list)
        return fsv__store_setmsg(s, FSV_INVALID, "store: the %s store does not"
                                 " keep duplicate customers", s->be->scheme);
    unsigned gen = s->msg_gen;
    int rc = s->be->dup_list(s, fn, ud);
    if (rc != FSV_OK && s->msg_gen == gen)
        fsv__store_setmsg(s, rc, "store: duplicates: %s", fsv_errstr(rc));
    return rc;
}
