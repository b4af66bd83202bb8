/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proxy: the data plane. N worker threads, each one epoll loop (loop/),
 * serving every port of the current IR snapshot (ir/) with SO_REUSEPORT
 * listeners: HTTP/1.1 downstream (h1/), routing (route/), request and
 * response filters, per-worker keep-alive pools to upstream endpoints,
 * streaming bodies both ways, timeouts, retries, mirrors, Upgrade tunnels.
 *
 * Configuration changes arrive as a new IR published with
 * gw_proxy_publish(): one atomic pointer swap. Each worker notices the new
 * snapshot at its next loop turn, opens listeners for new ports and closes
 * the ones that are gone; in-flight requests finish on the snapshot they
 * started with (each request holds a gw_ir_ref), a keep-alive connection
 * takes the new snapshot at its next request, upgraded tunnels keep their
 * upstream. Nothing in a worker ever waits for the control plane.
 *
 * Threading: gw_proxy_new/start/publish/drain/free are called from the
 * control thread (the one that runs `gatehouse run`'s main loop); the
 * metrics and stats functions may be called from any thread.
 */
#ifndef GW_PROXY_H
#define GW_PROXY_H

#include "base/base.h"
#include "ir/ir.h"

struct gw_proxy;

enum gw_proxy_lb {
    GW_PROXY_LB_WRR, /* weighted round robin over endpoints (default) */
    GW_PROXY_LB_P2C, /* power of two choices, least outstanding requests */
};

enum gw_proxy_log {
    GW_PROXY_LOG_OFF, /* default */
    GW_PROXY_LOG_TEXT,
    GW_PROXY_LOG_JSON,
};

/* Knobs; gw_proxy_opts_default() fills the documented defaults. */
/* The defaults of gw_proxy_opts.dns_ttl_min_ms and dns_ttl_max_ms. */
#define GW_PROXY_DNS_TTL_MIN_MS 1000
#define GW_PROXY_DNS_TTL_MAX_MS 300000

struct gw_proxy_opts {
    unsigned workers; /* 0: number of online CPUs */
    enum gw_proxy_lb lb;
    enum gw_proxy_log access_log; /* one line per request on stdout */
    /* Timeouts, milliseconds. */
    unsigned header_timeout_ms;   /* whole request head (slowloris) */
    unsigned body_timeout_ms;     /* between two reads of a request body */
    unsigned idle_timeout_ms;     /* keep-alive idle */
    unsigned connect_timeout_ms;  /* upstream connect */
    unsigned response_timeout_ms; /* upstream response head, unless the route sets one */
    unsigned drain_timeout_ms;    /* graceful stop: most time in-flight requests get */
    /* Passive outlier ejection: this many consecutive 5xx or connect
     * failures eject an endpoint for eject_ms (doubling per repeat). 0: off. */
    unsigned eject_consecutive;
    unsigned eject_ms;
    /* Added by the engine: */
    unsigned request_read_timeout_ms;  /* whole request head+body from the
                                          client (slow drips); 0: none */
    unsigned send_timeout_ms;          /* client takes no response byte for this long */
    unsigned max_connections;          /* per worker; 0: from RLIMIT_NOFILE */
    unsigned max_endpoint_connections; /* upstream sockets per endpoint and worker (a
                                          request over it answers 503 at once); 0: none */
    unsigned pool_idle_ms;             /* idle pooled upstream connection lifetime */
    unsigned pool_max_idle;            /* idle pooled connections per endpoint and worker */
    unsigned tunnel_idle_timeout_ms;   /* upgraded (WebSocket) tunnel: no byte either way
                                          for this long closes it; 0: never */
    bool merge_slashes;                /* runs of '/' in the request path merged into one
                                          before routing, so routes and upstreams see
                                          the merged path (gw_route_path_merge_slashes);
                                          default off: forwarded as received */
    /* Redis for RateLimitPolicy limits of scope Global: a numeric host and
     * port, or a unix socket path (NULL both: no Redis, global limits are
     * not served); the AUTH password (NULL: none); how long a request
     * waits for Redis's verdict before the limit's failureMode decides
     * (0: 20 ms). One connection per worker. The strings must outlive the
     * proxy. */
    const char *redis_host;
    uint16_t redis_port;
    const char *redis_path;
    const char *redis_password;
    unsigned redis_timeout_ms;
    /* XBackend resolution (docs/external-backends.md): the DNS servers,
     * "HOST:PORT[,HOST:PORT...]" as c-ares's ares_set_servers_ports_csv
     * takes them (NULL: /etc/resolv.conf), and the floor and ceiling every
     * answer's TTL is held within (0: the defaults). The string must outlive the proxy. */
    const char *dns_servers;
    unsigned dns_ttl_min_ms;
    unsigned dns_ttl_max_ms;
    /* Tracing (docs/observability.md): the OTLP/HTTP collector,
     * "http://host:port/v1/traces" (NULL: tracing off, no header touched);
     * the head sampling ratio of new traces (0..1; a parent's flag is
     * followed); service.name (NULL: "gatehouse"); spans per batch (0: 512)
     * and the longest a span waits for its batch (0: 1000 ms). The strings
     * must outlive the proxy. */
    const char *otlp_endpoint;
    double trace_sample_ratio;
    const char *service_name;
    unsigned otlp_batch;
    unsigned otlp_interval_ms;
};

/* Defaults: workers 0 (one per CPU), WRR, no access log; header 10 s,
 * body 10 s between reads, request read 30 s in all, idle 15 s, connect
 * 5 s, response 60 s, send 10 s (16 KiB at least per 10 s), drain 10 s; ejection after 5
 * consecutive failures for 30 s (doubling per repeat, at most 16x); pools keep at most 512 idle
 * connections per endpoint and worker, for 60 s; an idle upgraded tunnel is closed after 1 h;
 * slashes not merged; at most 1,024 upstream connections per endpoint and worker. */
void gw_proxy_opts_default(struct gw_proxy_opts *o);

/* Creates the proxy (no threads yet). 0 or a negative GW_E*. */
int gw_proxy_new(const struct gw_proxy_opts *opts, struct gw_proxy **out);

/*
 * Publishes a new snapshot: the proxy takes a reference (the caller keeps
 * its own). Safe before or after gw_proxy_start. Returns at once; workers
 * switch at their next loop turn.
 */
void gw_proxy_publish(struct gw_proxy *p, struct gw_ir *ir);

/*
 * Starts the worker threads. Binding errors of the first snapshot's ports
 * are reported through gw_proxy_port_errors (a port that cannot be bound is
 * skipped and tried again, 250 ms doubling to 8 s, while it stays in the
 * snapshot; the rest serve). 0 or a negative GW_E*.
 */
int gw_proxy_start(struct gw_proxy *p);

/*
 * True once every worker serves the most recently published snapshot (all
 * its ports bound or failed). /readyz uses it.
 */
bool gw_proxy_is_current(const struct gw_proxy *p);

/*
 * A new descriptor (the caller owns it; close-on-exec, non-blocking) that
 * turns readable when the control thread has something to do: a snapshot
 * no worker pins any more waits to be freed, or every worker may now serve
 * the latest snapshot (check gw_proxy_is_current). Then call
 * gw_proxy_events_read. Once it is asked for, dead snapshots wait for
 * gw_proxy_reclaim (or gw_proxy_free); without it, the next publish frees
 * them. A negative GW_E* if the descriptor cannot be made.
 */
int gw_proxy_events_fd(struct gw_proxy *p);

/* Control thread (the one that publishes), from its loop's callback on
 * gw_proxy_events_fd: clears the descriptor's readiness. True if dead
 * snapshots wait for gw_proxy_reclaim. */
bool gw_proxy_events_read(struct gw_proxy *p);

/* Control thread: frees the snapshots nothing pins any more. Cheap when
 * there are none. */
void gw_proxy_reclaim(struct gw_proxy *p);

/* Ports of the current snapshot that could not be bound, one line each
 * ("127.0.0.2:80: Address already in use"), appended to out. */
int gw_proxy_port_errors(const struct gw_proxy *p, struct gw_buf *out);

/*
 * Graceful stop: closes the listeners, lets in-flight requests finish up to
 * opts.drain_timeout_ms, closes idle keep-alive connections, then stops and
 * joins the workers. Blocks the caller until done.
 */
void gw_proxy_drain(struct gw_proxy *p);

/* Frees everything (after gw_proxy_drain, or if never started). */
void gw_proxy_free(struct gw_proxy *p);

/*
 * Appends the data plane's metrics in Prometheus text format to out:
 * requests by gateway, listener, route and code class; upstream latency
 * histogram; active and total connections. Bounded cardinality: labels come
 * from the IR (gateway, listener, route), never from requests. Summed over
 * workers (each worker counts into its own cache-line-aligned slots, no
 * atomics on the request path beyond relaxed stores).
 */
int gw_proxy_metrics_format(const struct gw_proxy *p, struct gw_buf *out);

/*
 * Appends the active health states (HealthCheckPolicy) as JSON to out:
 * {"endpoints":[{"backend","endpoint","healthy","checks","failures",
 * "transitions","last","lastCode"}...]}, sorted by backend and endpoint;
 * "last" is the outcome of the latest check (ok, connect, timeout, status,
 * not_serving, protocol, or none before the first). Any thread. 0 or
 * GW_ELIMIT.
 */
int gw_proxy_health_format(const struct gw_proxy *p, struct gw_buf *out);

#endif /* GW_PROXY_H */
