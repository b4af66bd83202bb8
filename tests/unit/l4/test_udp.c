/* SPDX-License-Identifier: Apache-2.0 */
/*
 * l4 udp.c: a UDP listener closed by the proxy and bound again on the same
 * address and port (a reload that removes it, then one that adds it back,
 * within a sweep period) gets every fresh client's datagram: the reply
 * socket the old listener's sessions kept must leave the port's
 * SO_REUSEPORT group when the proxy closes the listener, not at the next
 * sweep.
 */
#include <netinet/in.h>
#include <sys/socket.h>

#include <string.h>
#include <unistd.h>

#include "l4/internal.h"
#include "tap.h"

#include "base/banned.h"

#define CLIENTS 32

static int
client_send(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_storage sa;
    socklen_t len;
    if (fd < 0 || gw_sock_addr_parse("127.0.0.1", port, &sa, &len) != 0)
        return -1;
    ssize_t n = sendto(fd, "ping", 4, 0, (const struct sockaddr *)&sa, len);
    return n == 4 ? fd : -1;
}

/* Datagrams queued on fd now (it is non-blocking). */
static int
drain(int fd)
{
    char buf[64];
    int n = 0;
    while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
        n++;
    return n;
}

static void
test_readded_listener(void)
{
    struct gw_loop *loop = NULL;
    ok(gw_loop_new(&loop) == 0, "loop");
    struct gw_l4_worker *w = gw_l4_worker_new(loop, NULL);

    int backend = gw_sock_listen("127.0.0.1", 0, SOCK_DGRAM);
    ok(backend >= 0, "backend socket");
    struct gw_ir_endpoint ep = {.ip = "127.0.0.1", .port = (uint16_t)gw_sock_local_port(backend)};
    struct gw_ir_backend be = {
        .name = "e2e/udp:53", .weight = 1, .endpoints = &ep, .nendpoints = 1};
    struct gw_ir_l4 route = {.route = "UDPRoute e2e/udp", .backends = &be, .nbackends = 1};
    struct gw_ir_listener lis = {.name = "udp", .proto = GW_IR_UDP, .l4 = &route, .nl4 = 1};

    int a = gw_sock_listen("127.0.0.1", 0, SOCK_DGRAM);
    ok(a >= 0, "listener bound");
    uint16_t port = (uint16_t)gw_sock_local_port(a);
    struct gw_ir_port pt = {
        .address = "127.0.0.1", .port = port, .udp = true, .listeners = &lis, .nlisteners = 1};
    struct gw_ir ir = {.ports = &pt, .nports = 1};

    int c = client_send(port);
    gw_l4_udp_input(w, NULL, &ir, "127.0.0.1", port, a);
    ok(gw_l4_worker_active(w) == 1, "a session on the first listener");
    ok(drain(backend) == 1, "its datagram reached the backend");

    /* The listener goes, and comes back before any sweep runs. */
    gw_l4_udp_close(w, a);
    close(a);
    int b = gw_sock_listen("127.0.0.1", port, SOCK_DGRAM);
    ok(b >= 0, "listener bound again");
    int fresh[CLIENTS];
    for (int i = 0; i < CLIENTS; i++)
        fresh[i] = client_send(port);
    int got = drain(b);
    is_int(got, CLIENTS, "every fresh client's datagram reaches the new listener");

    for (int i = 0; i < CLIENTS; i++)
        if (fresh[i] >= 0)
            close(fresh[i]);
    close(c);
    close(b);
    close(backend);
    gw_l4_worker_free(w);
    gw_loop_free(loop);
}

/* A backend that went away and came back on the same port: the first
 * datagram after its return reaches it, though the session's socket still
 * holds the refusal of the one sent while it was gone. */
static void
test_backend_back(void)
{
    struct gw_loop *loop = NULL;
    ok(gw_loop_new(&loop) == 0, "loop");
    struct gw_l4_worker *w = gw_l4_worker_new(loop, NULL);
    int backend = gw_sock_listen("127.0.0.1", 0, SOCK_DGRAM);
    uint16_t bport = (uint16_t)gw_sock_local_port(backend);
    struct gw_ir_endpoint ep = {.ip = "127.0.0.1", .port = bport};
    struct gw_ir_backend be = {
        .name = "e2e/udp:53", .weight = 1, .endpoints = &ep, .nendpoints = 1};
    struct gw_ir_l4 route = {.route = "UDPRoute e2e/udp", .backends = &be, .nbackends = 1};
    struct gw_ir_listener lis = {.name = "udp", .proto = GW_IR_UDP, .l4 = &route, .nl4 = 1};
    int a = gw_sock_listen("127.0.0.1", 0, SOCK_DGRAM);
    uint16_t port = (uint16_t)gw_sock_local_port(a);
    struct gw_ir_port pt = {
        .address = "127.0.0.1", .port = port, .udp = true, .listeners = &lis, .nlisteners = 1};
    struct gw_ir ir = {.ports = &pt, .nports = 1};

    int c = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_storage sa;
    socklen_t len;
    gw_sock_addr_parse("127.0.0.1", port, &sa, &len);
    connect(c, (const struct sockaddr *)&sa, len);
    send(c, "one", 3, 0);
    gw_l4_udp_input(w, NULL, &ir, "127.0.0.1", port, a);
    ok(drain(backend) == 1, "first datagram through");
    close(backend); /* gone: the next datagram is refused (ICMP) */
    send(c, "two", 3, 0);
    gw_l4_udp_input(w, NULL, &ir, "127.0.0.1", port, a);
    backend = gw_sock_listen("127.0.0.1", bport, SOCK_DGRAM); /* back */
    ok(backend >= 0, "backend back on its port");
    send(c, "three", 5, 0);
    gw_l4_udp_input(w, NULL, &ir, "127.0.0.1", port, a);
    is_int(drain(backend), 1, "the first datagram after its return reaches it");
    close(c);
    close(a);
    close(backend);
    gw_l4_worker_free(w);
    gw_loop_free(loop);
}

int
main(void)
{
    test_readded_listener();
    test_backend_back();
    return done_testing();
}
