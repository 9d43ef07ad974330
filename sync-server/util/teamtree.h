/*
** teamtree.h — nested teams as a parent map, and the one question the
** rest of the server asks of it: is team A within team B (DESIGN.md rule
** 8: a manager sees the customers of their team and of every team below
** it).  Pure: no store, no I/O.  The store loads the map from its teams
** table (fsv_store_team_map); visibility.c, the office view's scope
** (store.c) and the moves (sync_moves.c) all ask fsv_teams_within, so the
** hierarchy has one definition.
**
** Names: a team is a non-empty name; "" means "no team" (within nothing,
** and nothing is within it); "*" is head office, which every team is
** within (it is never a row of the map).  A name the map does not hold is
** a top-level team of its own (a user's team string from before teams
** nested, or written by another process after the map was loaded).
*/
#ifndef FSV_TEAMTREE_H
#define FSV_TEAMTREE_H

#include <stddef.h>

typedef struct fsv_teams fsv_teams;

/* An empty map (NULL: out of memory).  Free with fsv_teams_free (NULL
** is a no-op). */
fsv_teams *fsv_teams_new(void);
void fsv_teams_free(fsv_teams *t);

/* Put name under parent ("" or NULL: top level), replacing what the map
** held for name.  No checks (a loader's call: fsv_teams_check_add says
** whether an admin's request is acceptable).  FSV_OK or FSV_NOMEM. */
int fsv_teams_put(fsv_teams *t, const char *name, const char *parent);

/* Teams in the map, and the i-th (name order) with its parent ("" for a
** top-level team).  Borrowed strings, valid until the next put or free. */
size_t fsv_teams_count(const fsv_teams *t);
const char *fsv_teams_name(const fsv_teams *t, size_t i);
const char *fsv_teams_parent_at(const fsv_teams *t, size_t i);

/* The parent of name: "" for a top-level team, NULL if the map does not
** hold name. */
const char *fsv_teams_parent(const fsv_teams *t, const char *name);

/* 1 if team a is within team b: a == b (non-empty), b is "*", or b is an
** ancestor of a.  0 otherwise (and for a or b ""); a map that somehow
** holds a cycle answers 0 past it rather than looping. */
int fsv_teams_within(const fsv_teams *t, const char *a, const char *b);

/* May `name` be added under `parent` (NULL or "": top level)?  FSV_OK;
** FSV_EXISTS if the map holds name; FSV_NOTFOUND if parent is neither ""
** nor a team of the map; FSV_INVALID if name is "*" or the link would
** make a cycle (parent is name, or within name).  why (may be NULL) gets
** a sentence naming the team. */
int fsv_teams_check_add(const fsv_teams *t, const char *name,
                        const char *parent, char *why, size_t whylen);

#endif /* FSV_TEAMTREE_H */
