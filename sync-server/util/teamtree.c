/*
** teamtree.c — nested teams as a sorted parent map (teamtree.h).  A
** company has tens or hundreds of teams: a sorted array and binary search
** are all it needs, and the walk up from a team is bounded by the number
** of teams, so a bad map can never loop.
*/
#include "teamtree.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"

struct fsv_teams {
    char **name;        /* sorted */
    char **parent;      /* "" for a top-level team */
    size_t n, cap;
};

fsv_teams *fsv_teams_new(void)
{
    return calloc(1, sizeof(fsv_teams));
}

void fsv_teams_free(fsv_teams *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++) {
        free(t->name[i]);
        free(t->parent[i]);
    }
    free(t->name);
    free(t->parent);
    free(t);
}

/* Index of name, or -(insertion point) - 1. */
static long find(const fsv_teams *t, const char *name)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int d = strcmp(t->name[mid], name);
        if (d == 0)
            return (long)mid;
        if (d < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -(long)lo - 1;
}

int fsv_teams_put(fsv_teams *t, const char *name, const char *parent)
{
    char *p = strdup(parent ? parent : "");
    if (!p)
        return FSV_NOMEM;
    long k = find(t, name);
    if (k >= 0) {
        free(t->parent[k]);
        t->parent[k] = p;
        return FSV_OK;
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **a = realloc(t->name, cap * sizeof *a);
        if (a)
            t->name = a;
        char **b = a ? realloc(t->parent, cap * sizeof *b) : NULL;
        if (b)
            t->parent = b;
        if (!a || !b) {
            free(p);
            return FSV_NOMEM;
        }
        t->cap = cap;
    }
    char *nm = strdup(name);
    if (!nm) {
        free(p);
        return FSV_NOMEM;
    }
    size_t at = (size_t)(-k - 1);
    memmove(t->name + at + 1, t->name + at, (t->n - at) * sizeof *t->name);
    memmove(t->parent + at + 1, t->parent + at,
            (t->n - at) * sizeof *t->parent);
    t->name[at] = nm;
    t->parent[at] = p;
    t->n++;
    return FSV_OK;
}

size_t fsv_teams_count(const fsv_teams *t)
{
    return t ? t->n : 0;
}

const char *fsv_teams_name(const fsv_teams *t, size_t i)
{
    return i < t->n ? t->name[i] : NULL;
}

const char *fsv_teams_parent_at(const fsv_teams *t, size_t i)
{
    return i < t->n ? t->parent[i] : NULL;
}

const char *fsv_teams_parent(const fsv_teams *t, const char *name)
{
    if (!t)
        return NULL;
    long k = find(t, name);
    return k >= 0 ? t->parent[k] : NULL;
}

int fsv_teams_within(const fsv_teams *t, const char *a, const char *b)
{
    if (!a || !b || !a[0] || !b[0])
        return 0;
    if (strcmp(b, "*") == 0)
        return 1;
    /* Up from a, at most one step per team (a cycle ends the walk). */
    const char *cur = a;
    for (size_t step = 0; cur && cur[0]; step++) {
        if (strcmp(cur, b) == 0)
            return 1;
        if (step > fsv_teams_count(t))
            return 0;
        cur = fsv_teams_parent(t, cur);
    }
    return 0;
}

int fsv_teams_check_add(const fsv_teams *t, const char *name,
                        const char *parent, char *why, size_t whylen)
{
    char scratch[8];
    if (!why) {
        why = scratch;
        whylen = sizeof scratch;
    }
    if (!parent)
        parent = "";
    if (strcmp(name, "*") == 0 || strcmp(parent, "*") == 0) {
        snprintf(why, whylen, "team \"*\" is head office (every team is"
                 " within it); it cannot be added or named as a parent");
        return FSV_INVALID;
    }
    if (fsv_teams_parent(t, name)) {
        snprintf(why, whylen, "team %s already exists", name);
        return FSV_EXISTS;
    }
    if (parent[0] && strcmp(parent, name) == 0) {
        snprintf(why, whylen, "team %s cannot be its own parent (a cycle)",
                 name);
        return FSV_INVALID;
    }
    if (parent[0] && !fsv_teams_parent(t, parent)) {
        snprintf(why, whylen, "no team %s (the parent of %s); add it first",
                 parent, name);
        return FSV_NOTFOUND;
    }
    if (parent[0] && fsv_teams_within(t, parent, name)) {
        snprintf(why, whylen, "team %s under %s would make a cycle (%s is"
                 " within %s)", name, parent, parent, name);
        return FSV_INVALID;
    }
    return FSV_OK;
}
