/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Command line, sockets, worker processes and the pairing of an accepted
 * client with its upstream connection for the floor proxies (floor.h).
 * Nothing here runs per request.
 */
#include "floor.h"

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
usage(const char *name)
{
    fprintf(stderr, "usage: %s -l HOST:PORT -u HOST:PORT [-w WORKERS] [-v VARIANT]\n", name);
    exit(2);
}

int
floor_addr(const char *s, struct sockaddr_in *out)
{
    char host[64];
    const char *colon = strrchr(s, ':');
    if (colon == NULL || (size_t)(colon - s) >= sizeof host)
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port <= 0 || port > 65535)
        return -1;
    memset(out, 0, sizeof *out);
    out->sin_family = AF_INET;
    out->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, host, &out->sin_addr) == 1 ? 0 : -1;
}

void
floor_opts_parse(struct floor_opts *o, int argc, char **argv, const char *name)
{
    memset(o, 0, sizeof *o);
    o->workers = 1;
    int c;
    while ((c = getopt(argc, argv, "l:u:w:v:")) != -1) {
        switch (c) {
        case 'l':
            o->listen = optarg;
            break;
        case 'u':
            o->upstream = optarg;
            break;
        case 'w':
            o->workers = (int)strtol(optarg, NULL, 10);
            break;
        case 'v':
            o->variant = optarg;
            break;
        default:
            usage(name);
        }
    }
    if (o->listen == NULL || o->upstream == NULL || o->workers < 1 || o->workers > 64 ||
        floor_addr(o->upstream, &o->up) != 0)
        usage(name);
    signal(SIGPIPE, SIG_IGN);
}

void
floor_nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int
floor_listen(const struct floor_opts *o)
{
    struct sockaddr_in a;
    if (floor_addr(o->listen, &a) != 0) {
        fprintf(stderr, "bad listen address %s\n", o->listen);
        exit(2);
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 4096) != 0) {
        perror("listen");
        exit(1);
    }
    return fd;
}

int
floor_connect(const struct floor_opts *o)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (const struct sockaddr *)&o->up, sizeof o->up) != 0 ||
        fcntl(fd, F_SETFL, O_NONBLOCK) != 0) {
        close(fd);
        return -1;
    }
    floor_nodelay(fd);
    return fd;
}

void
floor_spawn(const struct floor_opts *o)
{
    if (o->workers == 1)
        return;
    pid_t parent = getpid();
    for (int i = 0; i < o->workers; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            exit(1);
        }
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGTERM);
            if (getppid() != parent)
                exit(1);
            return;
        }
    }
    int status;
    while (wait(&status) > 0 || errno == EINTR)
        ;
    exit(0);
}

int
floor_start(struct floor_opts *o, int argc, char **argv, const char *name)
{
    floor_opts_parse(o, argc, argv, name);
    floor_spawn(o);
    return floor_listen(o);
}

void *
floor_pair_new(const struct floor_opts *o, int cfd, size_t size, int *ufd)
{
    floor_nodelay(cfd);
    *ufd = floor_connect(o);
    if (*ufd < 0) {
        perror("upstream connect");
        close(cfd);
        return NULL;
    }
    void *p = aligned_alloc(64, (size + 63) & ~(size_t)63);
    if (p == NULL)
        abort();
    return p;
}
