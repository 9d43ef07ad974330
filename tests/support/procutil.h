/*
** procutil.h — running a command and reading its standard output, for the
** benchmarks (bench/) that start `fieldsync-server init/user add` without
** the test framework.  Header-only and free of cmocka, like netutil.h.
*/
#ifndef FDS_TEST_PROCUTIL_H
#define FDS_TEST_PROCUTIL_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* Run argv (argv[0] a path), its stdout into out[outlen] (NUL-terminated;
** out may be NULL); the rest of its output is read and dropped, or the
** child would die of SIGPIPE.  Returns its exit code, -1 if it did not
** exit normally or could not be started. */
static inline int ts_run_out(char *const argv[], char *out, size_t outlen)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(p[1]);
    size_t used = 0;
    ssize_t k;
    char sink[4096];
    for (;;) {
        int keep = out && used + 1 < outlen;
        k = read(p[0], keep ? out + used : sink,
                 keep ? outlen - used - 1 : sizeof sink);
        if (k <= 0)
            break;
        if (keep)
            used += (size_t)k;
    }
    if (out)
        out[used] = '\0';
    close(p[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#endif /* FDS_TEST_PROCUTIL_H */
