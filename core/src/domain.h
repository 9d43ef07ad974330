/*
** domain.h — helpers shared by the record ("domain") half of libfieldsync:
** customers, follow-ups, plans, stages, definitions, today, history and
** conflicts.  They sit on the storage API of internal.h (fds__write,
** fds__read, fds__stmt, …) and never touch SQLite tables except through
** prepared statements in the slots below.
**
** Kept apart from internal.h so the storage engine and the domain code can
** evolve their own declarations without editing one file concurrently; it
** is still private to core/src and uses the fds__ prefix.
*/
#ifndef FDS_DOMAIN_H
#define FDS_DOMAIN_H

#include "internal.h"

/* Statement slots 32..63 belong to the domain code.  Each slot is always
** prepared with the same SQL text (fds__stmt caches by slot).  A slot must
** not be re-entered while a caller is still stepping it: loops first
** collect ids, then load records. */
enum {
    FDS__ST_D_CHILDREN = 32,    /* children of a customer, with first lseq */
    FDS__ST_D_BY_VALUE,         /* rids of tbl whose field == value */
    FDS__ST_D_PREFIX,           /* existing rids of tbl with an id prefix */
    FDS__ST_D_CONFLICT_ROWS,    /* every register in conflict */
    FDS__ST_D_REC_TIMES,        /* first and last log time of a record */
    FDS__ST_D_LIST,             /* customer list with filters */
    FDS__ST_D_UNSYNCED,         /* customers with unacknowledged changes */
    FDS__ST_D_CONFLICT_COUNT,   /* conflicted registers per customer */
    FDS__ST_D_TABLE_RIDS,       /* every rid of a table */
    FDS__ST_D_PLANS_OPEN,       /* plans neither done nor deleted */
    FDS__ST_D_FOLLOWUP_ATS,     /* "at" of a customer's live follow-ups */
    FDS__ST_D_HISTORY,          /* a customer's timeline from the log */
    FDS__ST_D_CUSTOMER_IDS,     /* live customers */
    FDS__ST_D_NEXT_PLANS,       /* (customer, due) of open plans */
    FDS__ST_D_LAST_FOLLOWUPS,   /* (customer, at) of live follow-ups */
    FDS__ST_D_LOG_VALUE,        /* last logged value of one register */
    FDS__ST_D__END              /* must stay <= FDS__ST__COUNT */
};

/* The one SQL text of slot FDS__ST_D_CONFLICT_ROWS (used by ids.c and
** conflicts.c; a slot must always be prepared with the same text). */
#define FDS__SQL_CONFLICT_ROWS \
    "SELECT r.tbl, r.rid, j.value, fds_versions(r.vals, r.meta, j.value) " \
    "FROM rec r, json_each(fds_conflict_fields(r.vals, r.meta)) j " \
    "WHERE r.conflict <> 0 ORDER BY r.tbl, r.rid, j.value"

/* Child tables whose records carry a "customer" register. */
#define FDS__CHILD_TABLES "'followup','plan','feedback','stagechg','share'"

/* Default quiet cycle in days when a customer has none. */
#define FDS__DEFAULT_CYCLE 14
#define FDS__MAX_CYCLE 3650
#define FDS__MAX_TAGS 64

/* ---- time.c: calendar arithmetic ------------------------------------------ */
/* Days since 1970-01-01 of a proleptic Gregorian date (any sign). */
int64_t fds__days_from_civil(int y, int m, int d);
void fds__civil_from_days(int64_t days, int *y, int *m, int *d);
int fds__days_in_month(int y, int m);
/* Local calendar date of an instant. */
void fds__local_date(int64_t ms, int *y, int *m, int *d);
/* ms of local midnight starting y-m-d (m, d may overflow; normalised). */
int64_t fds__local_midnight(int y, int m, int d);
/* "YYYY-MM-DD" strictly (no time) into y, m, d; 0 ok, -1 not a date. */
int fds__parse_ymd(const char *s, int *y, int *m, int *d);

/* ---- validate.c ------------------------------------------------------------- */
/* Canonical method key (phone email visit wechat meeting other) for a key,
** its English name in any ASCII case, or a Chinese alias; NULL if none. */
const char *fds__method_canon(const char *text);
int fds__valid_email(const char *s);       /* 1 if it looks like a@b.c */
int fds__valid_phone(const char *s);       /* 1 if digits/+-() space, 3..32 */
/* 1 if "YYYY-MM-DD" (a real date) or, when allow_md, "MM-DD". */
int fds__valid_date(const char *s, int allow_md);
int fds__valid_key(const char *s);         /* [a-z][a-z0-9_]{0,31} */

/* Set an "invalid FIELD "VALUE": WHY" error (value quoted and shortened)
** and return FDS_INVALID. */
int fds__bad_value(fds_replica *r, const char *what, const char *value,
                   const char *why);

/* Text of a JSON input value: a string (trimmed of ASCII spaces), an
** integer or real (formatted), or null (*out = NULL).  Booleans, arrays and
** objects are refused naming `what`.  *out is malloc'd.  "" becomes NULL
** unless keep_empty. */
int fds__json_text(fds_replica *r, const char *what, const json_t *v,
                   int keep_empty, char **out);

/* Validate and normalise the text of one register before it is written:
** customer fields (name required, phone, email, birthday, tags as JSON
** array text, cycle, stage as a defined stage key, owner, "f.KEY" against
** its field definition), follow-up/plan/feedback/stagechg fields (method,
** times).  value may be NULL (clear), refused for required fields.
** *norm is malloc'd or NULL. */
int fds__validate_value(fds_replica *r, const char *tbl, const char *field,
                        const char *value, char **norm);

/* ---- checkin.c: a follow-up's check-in place ------------------------------- */
/* Validate "LAT,LON" (latitude -90..90, longitude -180..180, plain decimal
** degrees) into its stored form (*norm malloc'd): at most six decimals,
** trailing zeros dropped.  FDS_INVALID names which part was wrong. */
int fds__location_norm(fds_replica *r, const char *text, char **norm);
/* "location" of a follow-up's JSON from its registers: {"lat","lon",
** "address"} or JSON null (new reference; NULL when out of memory). */
json_t *fds__location_json(const json_t *regs);
/* A copy of follow-up input whose "location" may be our own output object
** ({"lat","lon","address"}): turned into the "location" text and
** "address" registers.  *out new. */
int fds__followup_input(fds_replica *r, const json_t *in, json_t **out);

/* ---- ids.c ------------------------------------------------------------------ */
/* Resolve id (full or unique prefix) of an existing record into out.
** The error names the table in user words ("customer", "plan"). */
int fds__resolve(fds_replica *r, const char *tbl, const char *id,
                 char out[FDSP_MAX_ID + 1]);
/* Conflict id: 16 hex digits of FNV-1a 64 over "tbl\0rid\0field". */
void fds__conflict_id(const char *tbl, const char *rid, const char *field,
                      char out[17]);

/* ---- pool.c (the customer pool) -------------------------------------------------- */
/* 1 if a customer's registers say it is in the pool (owner empty, pool "1"). */
int fds__in_pool(const json_t *regs);
/* today's "returning": the live customers of ids owned by this replica's
** user that go back to the pool within the warning days of the server's
** rules (pooldef/"rules"), each with "return_at" and "days_left";
** *out new array (empty without rules). */
int fds__pool_returning(fds_replica *r, const json_t *ids, int64_t today,
                        json_t **out);
/* today.c: latest "at" of the customer's live follow-ups (0 if none). */
int fds__last_followup(fds_replica *r, const char *cust, int64_t *ms);

/* ---- customer.c -------------------------------------------------------------- */
/* Customer JSON (see fieldsync.h) of an existing record id; include_deleted
** also returns deleted ones with "deleted": true. */
int fds__customer_json(fds_replica *r, const char *id, int include_deleted,
                       json_t **out);
/* JSON of a child record (followup, plan, feedback, stagechg, share) from
** its registers; NULL on OOM. */
json_t *fds__child_json(const char *tbl, const char *id, const json_t *regs);
/* A customer's JSON from its current register values (no "updated"):
** NULL when out of memory. */
json_t *fds__customer_from_regs(const char *id, const json_t *regs);
/* Live child records of a customer in table tbl, each as fds__child_json,
** in creation order (first log row).  *out new array. */
int fds__children(fds_replica *r, const char *tbl, const char *customer,
                  json_t **out);
/* at_ms of the first and the last log row of a record (log order; 0 if it
** has none): its creation and last update time. */
int fds__record_times(fds_replica *r, const char *tbl, const char *rid,
                      int64_t *first, int64_t *last);
/* "NAME (abcd1234)" for messages; writes into buf. */
int fds__customer_label(fds_replica *r, const char *id, char *buf,
                         size_t len);

/* ---- defs.c ------------------------------------------------------------------ */
/* Stage whose key, label or Chinese label is text (ASCII case-insensitive):
** *stage is a new reference to its stagedef_list object.  FDS_INVALID with
** the list of keys if none. */
int fds__stage_find(fds_replica *r, const char *text, json_t **stage);
/* Field definition of KEY (not deleted): new {"key","label","type",
** "choices"?}.  FDS_NOTFOUND if undefined. */
int fds__fielddef_get(fds_replica *r, const char *key, json_t **def);

/* ---- small JSON helpers (customer.c) ----------------------------------------- */
/* String member or NULL. */
const char *fds__jstr(const json_t *obj, const char *key);
/* ms from a stored time text (RFC 3339 or date); 0 if unparsable. */
int64_t fds__time_or_zero(const char *text);

#endif /* FDS_DOMAIN_H */
