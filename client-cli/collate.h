/*
** collate.h — the order a reader expects for lists of names.
**
** Core sorts customers by UTF-8 byte order, which puts Chinese names in
** code-point order (张 U+5F20 before 李 U+674E).  A Chinese user expects
** pinyin order (李 li, 王 wang, 张 zhang, 赵 zhao), which needs a collation
** locale; core stays free of locales, so the client re-sorts here.
*/
#ifndef CLI_COLLATE_H
#define CLI_COLLATE_H

#include <jansson.h>

/* The collation locale the client sorts with, tried first.  Debian ships
** it only once generated (scripts/setup.sh does: locales + locale-gen). */
#define CLI_COLLATE_LOCALE "zh_CN.UTF-8"

/* Sort list (an array of customer objects) in place by "name" under
** CLI_COLLATE_LOCALE; when that locale is missing, under the user's
** LC_COLLATE (LC_ALL, LC_COLLATE, LANG as POSIX orders them) if it names
** a UTF-8 locale; else the list is left in core's byte order.  Equal
** names (or names the locale ranks equal) keep byte order, then id, so
** the output is the same on every run.  Nothing global changes: the
** locale is a newlocale() object freed before returning.
** Returns 0, or -1 when out of memory (list is then unchanged). */
int cli_collate_customers(json_t *list);

#endif
