/*
** collate.c — customer lists in pinyin (or the user's UTF-8 locale) order.
**
** Each name is turned into a strxfrm_l() key once, so the sort compares
** plain byte strings and qsort() needs no locale argument or global.
*/
#include <ctype.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include "collate.h"

typedef struct entry {
    char *key;              /* strxfrm_l(name): strcmp order = locale order */
    const char *name, *id;  /* borrowed from item */
    json_t *item;           /* a reference of our own */
} entry;

static const char *field(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* "xx_YY.UTF-8", "C.utf8", "zh_CN.UTF-8@mod": the codeset is UTF-8. */
static int utf8_name(const char *name)
{
    const char *dot = strchr(name, '.');
    if (!dot) return 0;
    char cs[8];
    size_t n = 0;
    for (dot++; *dot && *dot != '@' && n < sizeof cs - 1; dot++)
        if (*dot != '-') cs[n++] = (char)tolower((unsigned char)*dot);
    cs[n] = '\0';
    return strcmp(cs, "utf8") == 0;
}

/* The user's LC_COLLATE name, by POSIX precedence; NULL when unset. */
static const char *user_collate(void)
{
    static const char *const vars[] = { "LC_ALL", "LC_COLLATE", "LANG", NULL };
    for (size_t i = 0; vars[i]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) return v;
    }
    return NULL;
}

static locale_t collate_locale(void)
{
    locale_t loc = newlocale(LC_COLLATE_MASK, CLI_COLLATE_LOCALE, (locale_t)0);
    if (loc) return loc;
    const char *user = user_collate();
    if (user && utf8_name(user))
        return newlocale(LC_COLLATE_MASK, user, (locale_t)0);
    return (locale_t)0;
}

static char *xfrm(const char *s, locale_t loc)
{
    size_t n = strxfrm_l(NULL, s, 0, loc);
    char *k = malloc(n + 1);
    if (k) strxfrm_l(k, s, n + 1, loc);
    return k;
}

static int by_key(const void *pa, const void *pb)
{
    const entry *a = pa, *b = pb;
    int c = strcmp(a->key, b->key);
    if (c == 0) c = strcmp(a->name, b->name);
    return c ? c : strcmp(a->id, b->id);
}

int cli_collate_customers(json_t *list)
{
    size_t n = json_array_size(list);
    if (n < 2) return 0;
    locale_t loc = collate_locale();
    if (!loc) return 0;         /* no UTF-8 collation: core's order stands */
    int rc = -1;
    size_t i, made = 0;
    entry *e = calloc(n, sizeof *e);
    if (!e) goto done;
    for (; made < n; made++) {
        json_t *c = json_array_get(list, made);
        e[made].name = field(c, "name");
        e[made].id = field(c, "id");
        e[made].key = xfrm(e[made].name, loc);
        if (!e[made].key) goto done;
        e[made].item = json_incref(c);
    }
    qsort(e, n, sizeof *e, by_key);
    /* Every item is held by e[], so clearing frees none of them; clearing
    ** keeps the array's storage, so putting n items back cannot fail. */
    json_array_clear(list);
    for (i = 0; i < n; i++) json_array_append(list, e[i].item);
    rc = 0;
done:
    for (i = 0; e && i < made; i++) {
        free(e[i].key);
        json_decref(e[i].item);
    }
    free(e);
    freelocale(loc);
    return rc;
}
