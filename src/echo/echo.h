/* SPDX-License-Identifier: Apache-2.0 */
/*
 * echo: the echo backend of the conformance suite (../shared/conformance/
 * ECHO.md), our stand-in for upstream's echo-basic. One process, one event
 * loop, four modes picked from the environment: HTTP (HTTP/1.1, h2c and
 * HTTPS with ALPN, WebSocket), gRPC (h2c and TLS), TCP (line protocol,
 * plain and TLS) and UDP. It is the backend of every test, example and
 * benchmark, so it is event-driven with keep-alive and pipelining, and never
 * blocks: delays are timers.
 */
#ifndef GW_ECHO_H
#define GW_ECHO_H

#include "base/base.h"

enum gw_echo_mode {
    GW_ECHO_MODE_HTTP,
    GW_ECHO_MODE_GRPC,
    GW_ECHO_MODE_TCP,
    GW_ECHO_MODE_UDP,
};

/* Everything the echo needs; strings are borrowed (from the environment or
 * argv) and must outlive gw_echo_run. NULL and "" both mean unset. Ports are
 * decimal strings because the replies report them as strings. */
struct gw_echo_config {
    enum gw_echo_mode mode;
    const char *address; /* listen address; NULL: every address (:: and 0.0.0.0) */
    /* identity (ECHO.md section 1) */
    const char *pod, *ns, *service, *ingress;
    /* HTTP and gRPC modes */
    const char *http_port;  /* HTTP_PORT, default "3000" */
    const char *h2c_port;   /* H2C_PORT, default "3001" (HTTP mode only) */
    const char *https_port; /* HTTPS_PORT, default "8443" */
    /* TCP and UDP modes */
    const char *tcp_port; /* TCP_PORT, default "3000" */
    const char *tls_port; /* TLS_PORT, default "8443" */
    const char *udp_port; /* UDP_PORT, default "8080" */
    /* TLS: TLS_SERVER_CERT plus TLS_SERVER_PRIVKEY (HTTP mode) or
     * TLS_SERVER_PRIV_KEY (gRPC and TCP modes); TLS_CLIENT_CACERTS. */
    const char *tls_cert, *tls_key, *client_ca;
};

/* Fills cfg from the process environment (ECHO.md): the mode from
 * GRPC_ECHO_SERVER / TCP_ECHO_SERVER / UDP_ECHO_SERVER (first set wins, else
 * HTTP), identity, ports with their defaults and TLS files. address is left
 * NULL. Strings point into the environment. Never fails. */
void gw_echo_config_from_env(struct gw_echo_config *cfg);

/*
 * Runs the echo server described by cfg until SIGINT or SIGTERM. Writes the
 * request log lines of ECHO.md 2.5 on stdout (flushed every loop turn) and
 * its own start-up messages through gw_log. Returns 0 after a signal, or a
 * negative GW_E* / negated errno when it cannot start (bad port, address in
 * use, unreadable certificate); then *err (if not NULL) gets a static or
 * heap message the caller frees with free().
 * Not from inside a loop callback: it owns its own loop.
 */
int gw_echo_run(const struct gw_echo_config *cfg, char **err);

/* Parses a Go duration ("1.5s", "1m30s", "500ms", "-2h", "0") into
 * milliseconds (sub-millisecond parts are rounded up, negative values
 * become 0). 0 or GW_EINVAL; on error, msg (if not NULL) receives Go's
 * message text ("time: invalid duration \"x\"") in a buffer of cap bytes. */
int gw_echo_duration_parse(struct gw_str s, uint64_t *ms, char *msg, size_t cap);

#endif /* GW_ECHO_H */
