/*
** fault_proxy.c — a TCP proxy on 127.0.0.1 that forwards to a real
** fieldsync-server and misbehaves on purpose, for tests/faults.
**
**   fault_proxy --to PORT [--mode pass|stall|cut|chaos] [--cut BYTES]
**               [--seed N] [--max-secs N] [--verbose]
**
** It listens on a free port of 127.0.0.1, prints that port and a newline on
** stdout once it accepts, and serves until SIGTERM or --max-secs (default
** 120): a test that dies never leaves it behind for long.
**
** Modes, per accepted connection:
**   pass   forward both ways.
**   stall  accept and never answer (no upstream connection at all): a TLS
**          handshake that hangs.
**   cut    forward, and close both sides once BYTES (both directions
**          together) have passed: a link that drops every BYTES.
**   chaos  a seeded schedule picks, connection by connection: pass (35 %);
**          cut after 1 KB..256 KB (35 %); stall after 256 B..128 KB
**          (12 %: nothing more moves, closed after 8 s); slow (18 %: about
**          250 KB/s, chunks of 1..4 KB every 10 ms).  Byte counts are
**          spread evenly over powers of two, so the TLS handshake, small
**          messages and large pushes are all hit.  The same seed gives the same sequence of choices.
** One thread, poll(), no blocking call on a connection; each direction
** has one buffer that is refilled only once written out, so a slow side
** slows the other (like TCP).
*/
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONN 128
#define BUF      16384

enum { M_PASS, M_STALL, M_CUT, M_SLOW };

typedef struct dir {
    unsigned char buf[BUF];
    size_t len, off;
} dir;

typedef struct pconn {
    int used;
    int cfd, sfd;           /* client side, server side (-1: none) */
    int mode;
    long long limit;        /* M_CUT: close after; M_STALL: stop after */
    long long passed;       /* bytes forwarded, both directions */
    long long opened_ms, next_ms;
    dir c2s, s2c;
} pconn;

static volatile sig_atomic_t g_stop;
static pconn g_c[MAX_CONN];
static uint64_t g_rng;
static int g_verbose;

static void on_term(int sig) { (void)sig; g_stop = 1; }

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* splitmix64: a small, seedable generator (same seed, same schedule). */
static uint64_t rnd(void)
{
    uint64_t z = (g_rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static long long rnd_range(long long lo, long long hi)
{
    return lo + (long long)(rnd() % (uint64_t)(hi - lo + 1));
}

/* A byte count spread evenly over powers of two, 2^lo .. 2^hi: as many
** cuts inside the TLS handshake (a few KB) as inside a large push. */
static long long log_bytes(int lo, int hi)
{
    int b = (int)rnd_range(lo, hi - 1);
    return (1LL << b) + rnd_range(0, (1LL << b) - 1);
}

static void drop(pconn *p, const char *why)
{
    if (g_verbose)
        fprintf(stderr, "fault_proxy: close after %lld bytes (%s)\n",
                p->passed, why);
    if (p->cfd >= 0) close(p->cfd);
    if (p->sfd >= 0) close(p->sfd);
    memset(p, 0, sizeof *p);
    p->cfd = p->sfd = -1;
}

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void choose(pconn *p, int mode, long long cut)
{
    p->mode = mode;
    p->limit = cut;
    if (mode == -1) {           /* chaos */
        uint64_t r = rnd() % 100;
        if (r < 35) {
            p->mode = M_PASS;
        } else if (r < 70) {
            p->mode = M_CUT;
            p->limit = log_bytes(10, 18);
        } else if (r < 82) {
            p->mode = M_STALL;
            p->limit = log_bytes(8, 17);
        } else {
            p->mode = M_SLOW;
        }
    }
    if (g_verbose)
        fprintf(stderr, "fault_proxy: connection mode %d limit %lld\n",
                p->mode, p->limit);
}

/* Move bytes from fd `from` into d, and from d to `to`.  Returns -1 when
** the connection is over. */
static int pump_dir(pconn *p, int from, int to, dir *d, short rev, short wev,
                    long long now)
{
    if (d->len == d->off && (rev & (POLLIN | POLLHUP | POLLERR))) {
        size_t want = BUF;
        if (p->mode == M_SLOW) {
            if (now < p->next_ms)
                return 0;
            want = (size_t)rnd_range(1024, 4096);
            p->next_ms = now + 10;
        }
        if (p->mode == M_CUT && p->passed + (long long)want > p->limit)
            want = (size_t)(p->limit - p->passed);
        if (p->mode == M_STALL && p->passed + (long long)want > p->limit)
            want = (size_t)(p->limit - p->passed);
        if (want == 0)
            return p->mode == M_CUT ? -1 : 0;
        ssize_t n = recv(from, d->buf, want, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return 0;
        if (n <= 0)
            return -1;
        d->len = (size_t)n;
        d->off = 0;
        p->passed += n;
    }
    if (d->len > d->off && (wev & POLLOUT)) {
        /* Never block: a peer that stops reading (the server throttling
        ** a session) must not freeze every other connection. */
        ssize_t n = send(to, d->buf + d->off, d->len - d->off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return -1;
        if (n > 0)
            d->off += (size_t)n;
        if (d->off == d->len)
            d->len = d->off = 0;
    }
    if (p->mode == M_CUT && p->passed >= p->limit && d->len == 0)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    int to = 0, mode = M_PASS, max_secs = 120;
    long long cut = 160 * 1024;
    g_rng = 1;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--to") && v) to = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--cut") && v) cut = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--seed") && v) g_rng = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--max-secs") && v) max_secs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--verbose")) g_verbose = 1;
        else if (!strcmp(argv[i], "--mode") && v) {
            v = argv[++i];
            mode = !strcmp(v, "pass") ? M_PASS : !strcmp(v, "stall") ? M_STALL
                 : !strcmp(v, "cut") ? M_CUT : !strcmp(v, "chaos") ? -1 : -2;
            if (mode == -2) {
                fprintf(stderr, "fault_proxy: unknown mode %s\n", v);
                return 2;
            }
        } else {
            fprintf(stderr, "usage: fault_proxy --to PORT [--mode pass|stall|"
                    "cut|chaos] [--cut BYTES] [--seed N] [--max-secs N]\n");
            return 2;
        }
    }
    if (to <= 0 && mode != M_STALL) {
        fprintf(stderr, "fault_proxy: --to PORT is required\n");
        return 2;
    }
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    signal(SIGPIPE, SIG_IGN);
    for (int i = 0; i < MAX_CONN; i++)
        g_c[i].cfd = g_c[i].sfd = -1;

    int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 64) != 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &al) != 0) {
        perror("fault_proxy: listen");
        return 1;
    }
    printf("%d\n", ntohs(a.sin_port));
    fflush(stdout);

    long long end = now_ms() + (long long)max_secs * 1000;
    struct pollfd pf[1 + 2 * MAX_CONN];
    while (!g_stop && now_ms() < end) {
        int n = 0;
        pf[n++] = (struct pollfd){lfd, POLLIN, 0};
        for (int i = 0; i < MAX_CONN; i++) {
            pconn *p = &g_c[i];
            short ce = 0, se = 0;
            if (!p->used)
                continue;
            if (p->mode == M_STALL && p->passed >= p->limit) {
                ce |= POLLIN;       /* only to see the client leave */
            } else {
                if (p->c2s.len == 0) ce |= POLLIN;
                if (p->s2c.len == 0) se |= POLLIN;
            }
            if (p->s2c.len) ce |= POLLOUT;
            if (p->c2s.len) se |= POLLOUT;
            pf[n++] = (struct pollfd){p->cfd, ce, 0};
            pf[n++] = (struct pollfd){p->sfd, se, 0};
        }
        if (poll(pf, (nfds_t)n, 10) < 0 && errno != EINTR)
            break;
        long long now = now_ms();
        if (pf[0].revents & POLLIN) {
            int cfd = accept(lfd, NULL, NULL);
            int slot = -1;
            for (int i = 0; i < MAX_CONN && slot < 0; i++)
                if (!g_c[i].used) slot = i;
            if (cfd >= 0 && slot < 0) {
                close(cfd);
            } else if (cfd >= 0) {
                pconn *p = &g_c[slot];
                memset(p, 0, sizeof *p);
                p->used = 1;
                p->cfd = cfd;
                p->sfd = -1;
                p->opened_ms = now;
                choose(p, mode, cut);
                if (p->mode == M_STALL && mode == M_STALL) {
                    /* Never answer: no upstream at all, socket held open.
                    ** A dummy server fd keeps the poll layout simple. */
                    p->limit = 0;
                    p->sfd = dup(cfd);
                } else if ((p->sfd = connect_to(to)) < 0) {
                    drop(p, "upstream refused");
                }
            }
        }
        int k = 1;
        for (int i = 0; i < MAX_CONN; i++) {
            pconn *p = &g_c[i];
            if (!p->used)
                continue;
            short cre = pf[k].revents, sre = pf[k + 1].revents;
            k += 2;
            if (p->mode == M_STALL && p->passed >= p->limit) {
                /* A stall: nothing moves; chaos stalls end after 8 s, a
                ** --mode stall holds until the client gives up. */
                char junk[4096];
                if ((cre & (POLLHUP | POLLERR)) ||
                    (mode != M_STALL && now - p->opened_ms > 8000))
                    drop(p, "stall over");
                else if ((cre & POLLIN) && read(p->cfd, junk, sizeof junk) <= 0)
                    drop(p, "client left");
                continue;
            }
            if (pump_dir(p, p->cfd, p->sfd, &p->c2s, cre, sre, now) < 0 ||
                pump_dir(p, p->sfd, p->cfd, &p->s2c, sre, cre, now) < 0)
                drop(p, p->mode == M_CUT ? "cut" : "closed");
        }
    }
    for (int i = 0; i < MAX_CONN; i++)
        if (g_c[i].used)
            drop(&g_c[i], "proxy stopping");
    close(lfd);
    return 0;
}
