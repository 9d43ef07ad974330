/*
** cases.h — the data cases in tests/protocol/valid/ and invalid/, read the
** same way by test_codec and test_codec_diff.
*/
#ifndef FDSP_TEST_CASES_H
#define FDSP_TEST_CASES_H

#include <stddef.h>

/* One case: its folder ("valid" / "invalid"), file name and bytes. */
typedef void (*tcase_fn)(const char *sub, const char *name, const char *buf,
                         size_t len, void *ud);

/* The whole file, NUL-terminated, *len its size; free() it. */
char *tcase_slurp(const char *path, size_t *len);

/* fn on every .json file in FDSP_TEST_DATA_DIR/sub, each named with
** print_message first; how many ran. */
int tcase_each(const char *sub, tcase_fn fn, void *ud);

#endif
