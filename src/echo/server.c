/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The echo server: configuration from the environment, listeners for the
 * mode, the UDP responder, the retry simulator's counters and the request
 * log. The log lines of one loop turn are collected and written with one
 * write(2) when the turn ends: the test runner still sees each line within
 * milliseconds, and a benchmark does not pay a syscall per request.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>

#include "base/base.h"
#include "echo/internal.h"
/* Last, so its bans cannot break the system headers above. */
#include "base/banned.h"

static const char *
env(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v && *v ? v : def;
}

void
gw_echo_config_from_env(struct gw_echo_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->mode = GW_ECHO_MODE_HTTP;
    if (env("GRPC_ECHO_SERVER", NULL))
        cfg->mode = GW_ECHO_MODE_GRPC;
    else if (env("TCP_ECHO_SERVER", NULL))
        cfg->mode = GW_ECHO_MODE_TCP;
    else if (env("UDP_ECHO_SERVER", NULL))
        cfg->mode = GW_ECHO_MODE_UDP;
    cfg->pod = env("POD_NAME", "");
    cfg->ns = env("NAMESPACE", "");
    cfg->service = env("SERVICE_NAME", "");
    cfg->ingress = env("INGRESS_NAME", "");
    cfg->http_port = env("HTTP_PORT", "3000");
    cfg->h2c_port = env("H2C_PORT", "3001");
    cfg->https_port = env("HTTPS_PORT", "8443");
    cfg->tcp_port = env("TCP_PORT", "3000");
    cfg->tls_port = env("TLS_PORT", "8443");
    cfg->udp_port = env("UDP_PORT", "8080");
    cfg->tls_cert = env("TLS_SERVER_CERT", NULL);
    cfg->tls_key =
        env(cfg->mode == GW_ECHO_MODE_HTTP ? "TLS_SERVER_PRIVKEY" : "TLS_SERVER_PRIV_KEY", NULL);
    cfg->client_ca = env("TLS_CLIENT_CACERTS", NULL);
}

/* ------------------------------------------------------------------------ */
/* Request log                                                              */

static void
log_flush(void *data)
{
    struct echo_server *srv = data;
    size_t off = 0;
    srv->log_scheduled = false;
    while (off < srv->log.len) {
        ssize_t w = write(STDOUT_FILENO, srv->log.p + off, srv->log.len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break; /* stdout gone: the log is best effort */
        off += (size_t)w;
    }
    gw_buf_reset(&srv->log);
}

void
echo_log_request(struct echo_server *srv, struct gw_str target, const char *peer)
{
    if (gw_buf_appendf(&srv->log, "Echoing back request made to " GW_STR_FMT " to client (%s)\n",
                       GW_STR_ARG(target), peer) < 0) {
        log_flush(srv);
        gw_buf_appendf(&srv->log, "Echoing back request made to " GW_STR_FMT " to client (%s)\n",
                       GW_STR_ARG(target), peer);
    }
    if (!srv->log_scheduled) {
        srv->log_scheduled = true;
        gw_loop_defer(srv->loop, &srv->log_defer, log_flush, srv);
    }
}

/* ------------------------------------------------------------------------ */
/* Retry counters                                                           */

uint64_t
echo_retry_hit(struct echo_server *srv, struct gw_str uuid, uint64_t limit)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (size_t i = 0; i < uuid.len; i++)
        h = (h ^ (unsigned char)uuid.p[i]) * 1099511628211u;
    struct echo_retry **slot = &srv->retry[h % ECHO_RETRY_BUCKETS];
    struct echo_retry *r = *slot;
    while (r && !(r->len == uuid.len && !memcmp(r->uuid, uuid.p, uuid.len)))
        r = r->next;
    if (!r) {
        r = gw_xcalloc(1, sizeof(*r) + uuid.len + 1);
        memcpy(r->uuid, uuid.p, uuid.len);
        r->len = uuid.len;
        r->next = *slot;
        *slot = r;
    }
    uint64_t before = r->count;
    if (r->count < limit)
        r->count++;
    return before;
}

/* ------------------------------------------------------------------------ */
/* Listeners                                                                */

static void
on_accept(struct gw_io *io, unsigned events)
{
    struct echo_listener *l = io->data;
    (void)events;
    /* Bounded so one busy listener cannot starve the others. */
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage peer;
        socklen_t len;
        int fd = gw_sock_accept(io->fd, &peer, &len);
        if (fd == GW_EAGAIN)
            return;
        if (fd < 0) {
            if (fd == -EMFILE || fd == -ENFILE)
                gw_log_warn("echo: accept: %s", gw_strerror(fd));
            return;
        }
        echo_conn_accept(l->srv, l->kind, fd, (struct sockaddr *)&peer);
    }
}

static void
on_udp(struct gw_io *io, unsigned events)
{
    struct echo_listener *l = io->data;
    const struct gw_echo_config *cfg = l->srv->cfg;
    struct gw_buf *b = &l->srv->scratch;
    (void)events;
    for (int i = 0; i < 64; i++) {
        char data[1024];
        struct sockaddr_storage peer;
        socklen_t len = sizeof(peer);
        ssize_t n = recvfrom(io->fd, data, sizeof(data), 0, (struct sockaddr *)&peer, &len);
        if (n < 0)
            return;
        gw_buf_reset(b);
        gw_buf_append_cstr(b, "{\"request\": ");
        gw_buf_append_json_str(b, data, (size_t)n);
        gw_buf_append_cstr(b, ", \"namespace\": ");
        gw_buf_append_json_str(b, cfg->ns, strlen(cfg->ns));
        gw_buf_append_cstr(b, ", \"ingress\": ");
        gw_buf_append_json_str(b, cfg->ingress, strlen(cfg->ingress));
        gw_buf_append_cstr(b, ", \"service\": ");
        gw_buf_append_json_str(b, cfg->service, strlen(cfg->service));
        gw_buf_append_cstr(b, ", \"pod\": ");
        gw_buf_append_json_str(b, cfg->pod, strlen(cfg->pod));
        gw_buf_append_cstr(b, "}");
        sendto(io->fd, b->p, b->len, MSG_DONTWAIT, (struct sockaddr *)&peer, len);
    }
}

static int
port_of(const char *text, uint16_t *port, char **err)
{
    uint64_t v;
    if (gw_str_to_u64(gw_str_from(text), 65535, &v) < 0) {
        *err = gw_xasprintf("invalid port '%s'", text);
        return GW_EINVAL;
    }
    *port = (uint16_t)v;
    return 0;
}

static int
add_listener(struct echo_server *srv, const char *port_text, enum echo_kind kind, char **err)
{
    uint16_t port;
    int rc = port_of(port_text, &port, err);
    if (rc < 0)
        return rc;
    int type = kind == ECHO_KIND_UDP ? SOCK_DGRAM : SOCK_STREAM;
    int fd = gw_sock_listen(srv->cfg->address, port, type);
    if (fd < 0) {
        *err = gw_xasprintf("listen on %s port %u: %s", srv->cfg->address ? srv->cfg->address : "*",
                            port, gw_strerror(fd));
        return fd;
    }
    GW_ASSERT(srv->nlisteners < GW_ARRAY_LEN(srv->listeners));
    struct echo_listener *l = &srv->listeners[srv->nlisteners++];
    l->srv = srv;
    l->kind = kind;
    gw_io_init(srv->loop, &l->io, fd, kind == ECHO_KIND_UDP ? on_udp : on_accept, l);
    rc = gw_io_set(&l->io, GW_LOOP_READ);
    if (rc < 0) {
        *err = gw_xasprintf("epoll: %s", gw_strerror(rc));
        return rc;
    }
    gw_log_info("echo: listening on %s port %u (%s)", srv->cfg->address ? srv->cfg->address : "*",
                port,
                kind == ECHO_KIND_HTTP    ? "http/1.1"
                : kind == ECHO_KIND_H2C   ? "h2c"
                : kind == ECHO_KIND_HTTPS ? "https"
                : kind == ECHO_KIND_GRPC  ? "grpc"
                : kind == ECHO_KIND_GRPCS ? "grpc+tls"
                : kind == ECHO_KIND_TCP   ? "tcp"
                : kind == ECHO_KIND_TCPS  ? "tcp+tls"
                                          : "udp");
    return 0;
}

static int
setup(struct echo_server *srv, char **err)
{
    const struct gw_echo_config *cfg = srv->cfg;
    bool tls = cfg->tls_cert && *cfg->tls_cert && cfg->tls_key && *cfg->tls_key;
    int rc = 0;
    enum echo_kind tls_kind = ECHO_KIND_HTTPS;

    switch (cfg->mode) {
    case GW_ECHO_MODE_HTTP:
        if ((rc = add_listener(srv, cfg->http_port, ECHO_KIND_HTTP, err)) < 0 ||
            (rc = add_listener(srv, cfg->h2c_port, ECHO_KIND_H2C, err)) < 0)
            return rc;
        break;
    case GW_ECHO_MODE_GRPC:
        tls_kind = ECHO_KIND_GRPCS;
        if ((rc = add_listener(srv, cfg->http_port, ECHO_KIND_GRPC, err)) < 0)
            return rc;
        break;
    case GW_ECHO_MODE_TCP:
        tls_kind = ECHO_KIND_TCPS;
        if ((rc = add_listener(srv, cfg->tcp_port, ECHO_KIND_TCP, err)) < 0)
            return rc;
        break;
    case GW_ECHO_MODE_UDP:
        return add_listener(srv, cfg->udp_port, ECHO_KIND_UDP, err);
    }
    if (cfg->mode == GW_ECHO_MODE_HTTP || cfg->mode == GW_ECHO_MODE_GRPC) {
        if ((rc = echo_h2_callbacks_init(srv)) < 0) {
            *err = gw_xasprintf("nghttp2 setup failed");
            return rc;
        }
    }
    if (!tls)
        return 0;
    if ((rc = echo_tls_ctx_new(cfg, tls_kind, &srv->ssl_ctx, err)) < 0)
        return rc;
    return add_listener(srv, cfg->mode == GW_ECHO_MODE_TCP ? cfg->tls_port : cfg->https_port,
                        tls_kind, err);
}

int
gw_echo_run(const struct gw_echo_config *cfg, char **err)
{
    struct echo_server srv = {.cfg = cfg};
    char *msg = NULL;
    int rc = gw_loop_new(&srv.loop);
    if (rc < 0) {
        msg = gw_xasprintf("event loop: %s", gw_strerror(rc));
        goto out;
    }
    gw_buf_init(&srv.log, 1u << 20);
    gw_buf_init(&srv.scratch, 1u << 20);
    if ((rc = gw_loop_stop_on_signals(srv.loop)) < 0) {
        msg = gw_xasprintf("signals: %s", gw_strerror(rc));
        goto out;
    }
    if ((rc = setup(&srv, &msg)) < 0)
        goto out;
    rc = gw_loop_run(srv.loop);
    if (rc < 0)
        msg = gw_xasprintf("event loop: %s", gw_strerror(rc));
out:
    for (size_t i = 0; i < srv.nlisteners; i++)
        gw_io_close(&srv.listeners[i].io, NULL);
    for (struct echo_conn *c = srv.conns; c; c = c->next)
        echo_conn_close(c);
    /* Connections still open are dropped with the process; the loop's
     * deferred work (the last log lines) still runs in gw_loop_free. */
    if (srv.loop)
        gw_loop_free(srv.loop);
    log_flush(&srv);
    for (size_t i = 0; i < ECHO_RETRY_BUCKETS; i++) {
        while (srv.retry[i]) {
            struct echo_retry *r = srv.retry[i];
            srv.retry[i] = r->next;
            free(r);
        }
    }
    if (srv.h2_callbacks)
        nghttp2_session_callbacks_del(srv.h2_callbacks);
    if (srv.ssl_ctx)
        SSL_CTX_free(srv.ssl_ctx);
    gw_buf_release(&srv.log);
    gw_buf_release(&srv.scratch);
    if (err)
        *err = msg;
    else
        free(msg);
    return rc;
}
