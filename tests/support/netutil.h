/*
** netutil.h — loopback port helpers shared by the test harness
** (harness.c), the benchmarks (bench/) and anything else that starts a
** real fieldsync-server on 127.0.0.1.  Header-only and free of cmocka, so
** the benchmarks can use it without the test framework.
*/
#ifndef FDS_TEST_NETUTIL_H
#define FDS_TEST_NETUTIL_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A TCP port free on 127.0.0.1 just now (the kernel's pick), or -1. */
static inline int ts_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
             getsockname(fd, (struct sockaddr *)&sa, &len) == 0;
    if (fd >= 0)
        close(fd);
    return ok ? ntohs(sa.sin_port) : -1;
}

/* 1 if something accepts connections on 127.0.0.1:port. */
static inline int ts_port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

#endif /* FDS_TEST_NETUTIL_H */
