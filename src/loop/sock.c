/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Socket helpers: listening sockets on numeric addresses (IPv4, IPv6, or a
 * dual-stack wildcard), accept4, and address formatting for logs. Numeric
 * only on purpose: a data plane never waits on a resolver.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "loop/loop.h"
/* Last, so its bans cannot break the system headers above. */
#include "base/banned.h"

static int
parse_addr(const char *addr, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
    char tmp[INET6_ADDRSTRLEN + 2];
    size_t n = strlen(addr);
    memset(ss, 0, sizeof(*ss));
    if (n >= 2 && addr[0] == '[' && addr[n - 1] == ']') {
        if (n - 2 >= sizeof(tmp))
            return GW_EINVAL;
        memcpy(tmp, addr + 1, n - 2);
        tmp[n - 2] = '\0';
        addr = tmp;
    }
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, addr, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons(port);
        *len = sizeof(*in4);
        return 0;
    }
    if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        *len = sizeof(*in6);
        return 0;
    }
    return GW_EINVAL;
}

static int
open_bound(const struct sockaddr_storage *ss, socklen_t len, int type, bool dual)
{
    int rc;
    int one = 1, zero = 0;
    int fd = socket(ss->ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
        goto fail;
    if (dual && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) < 0)
        goto fail;
    if (bind(fd, (const struct sockaddr *)ss, len) < 0)
        goto fail;
    /* Accepted connections inherit TCP_NODELAY from their listener: one
     * setsockopt here instead of one per connection. */
    if (type == SOCK_STREAM &&
        (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 || listen(fd, 1024) < 0))
        goto fail;
    return fd;
fail:
    rc = -errno;
    close(fd);
    return rc;
}

int
gw_sock_listen(const char *addr, uint16_t port, int type)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (addr && *addr) {
        int rc = parse_addr(addr, port, &ss, &len);
        if (rc < 0)
            return rc;
        return open_bound(&ss, len, type, false);
    }
    parse_addr("::", port, &ss, &len);
    int fd = open_bound(&ss, len, type, true);
    if (fd != -EAFNOSUPPORT && fd != -EADDRNOTAVAIL)
        return fd;
    parse_addr("0.0.0.0", port, &ss, &len);
    return open_bound(&ss, len, type, false);
}

int
gw_sock_accept(int listen_fd, struct sockaddr_storage *peer, socklen_t *peer_len)
{
    socklen_t dummy = sizeof(struct sockaddr_storage);
    if (peer_len)
        *peer_len = sizeof(struct sockaddr_storage);
    int fd = accept4(listen_fd, (struct sockaddr *)peer,
                     peer ? (peer_len ? peer_len : &dummy) : NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return errno == EWOULDBLOCK ? GW_EAGAIN : -errno;
    return fd;
}

bool
gw_sock_accept_is_exhausted(int err)
{
    return err == -EMFILE || err == -ENFILE || err == -ENOBUFS || err == -ENOMEM;
}

int
gw_sock_addr_format(const struct sockaddr *sa, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN];
    int n;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in4 = (const struct sockaddr_in *)(const void *)sa;
        inet_ntop(AF_INET, &in4->sin_addr, ip, sizeof(ip));
        n = snprintf(out, cap, "%s:%u", ip, ntohs(in4->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], ip, sizeof(ip));
            n = snprintf(out, cap, "%s:%u", ip, ntohs(in6->sin6_port));
        } else {
            inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
            n = snprintf(out, cap, "[%s]:%u", ip, ntohs(in6->sin6_port));
        }
    } else {
        return GW_EINVAL;
    }
    if (n < 0 || (size_t)n >= cap)
        return GW_ELIMIT;
    return n;
}

int
gw_sock_local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -errno;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return GW_EINVAL;
}

int
gw_sock_set_nodelay(int fd)
{
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
        return -errno;
    return 0;
}

int
gw_sock_set_rcvbuf(int fd, int bytes)
{
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes)) < 0)
        return -errno;
    return 0;
}

int
gw_sock_set_reset_on_close(int fd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) < 0)
        return -errno;
    return 0;
}

int
gw_sock_addr_parse(const char *ip, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)(void *)ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)(void *)ss;
    char buf[INET6_ADDRSTRLEN + 2];
    size_t n = strlen(ip);
    if (n >= 2 && ip[0] == '[' && ip[n - 1] == ']') {
        ip++;
        n -= 2;
    }
    if (n >= sizeof(buf))
        return GW_EINVAL;
    memcpy(buf, ip, n);
    buf[n] = '\0';
    if (inet_pton(AF_INET, buf, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons(port);
        *len = sizeof(*s4);
        return 0;
    }
    if (inet_pton(AF_INET6, buf, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        *len = sizeof(*s6);
        return 0;
    }
    return GW_EINVAL;
}
