/* SPDX-License-Identifier: Apache-2.0 */
/*
 * trace: the pure half of request tracing. W3C Trace Context version 00
 * (traceparent parsed strictly and formatted, tracestate checked and
 * bounded), random ids from a small per-worker PRNG seeded from getrandom,
 * parent-based head sampling, the collector URL, and the OTLP/HTTP JSON body
 * (ExportTraceServiceRequest in the protobuf JSON mapping) of a batch of
 * server spans. No I/O, no threads: the proxy's exporter owns those.
 */
#ifndef GW_TRACE_H
#define GW_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

/* "00-" 32 hex "-" 16 hex "-" 2 hex */
#define GW_TRACE_PARENT_LEN 55
/* The longest tracestate passed on (W3C: at least 512 characters). */
#define GW_TRACE_STATE_MAX 512
/* W3C: at most 32 list members. */
#define GW_TRACE_STATE_MEMBERS 32
#define GW_TRACE_FLAG_SAMPLED  0x01

struct gw_trace_ctx {
    uint8_t trace_id[16];
    uint8_t span_id[8]; /* the parent's id, in a parsed traceparent */
    uint8_t flags;
};

/* Parses a traceparent value of version 00: exactly 55 bytes, lower-case
 * hex, trace and parent ids not all zero, version not "ff". Only version
 * 00 is accepted (a later version's longer form is refused too: strict).
 * 0 or GW_EINVAL (*out unspecified). Pure; any thread. */
int gw_trace_ctx_parse(struct gw_trace_ctx *out, const char *s, size_t n);

/* Writes the traceparent value of c (version 00) in out: exactly
 * GW_TRACE_PARENT_LEN bytes, then a NUL. Pure. */
void gw_trace_ctx_format(const struct gw_trace_ctx *c, char out[GW_TRACE_PARENT_LEN + 1]);

/* A tracestate value is passed on when it is at most GW_TRACE_STATE_MAX
 * bytes of printable ASCII (0x20-0x7e), not empty, with at most
 * GW_TRACE_STATE_MEMBERS comma-separated members, each empty (after
 * optional white space) or "key=value" with a non-empty key. Pure. */
bool gw_trace_state_is_valid(const char *s, size_t n);

/* Lower-case hex of n bytes into out (2n bytes, then a NUL). Pure. */
void gw_trace_hex_format(const uint8_t *id, size_t n, char *out);

/* xoshiro256**: fast, not cryptographic; one per worker (not thread-safe). */
struct gw_trace_rng {
    uint64_t s[4];
};

/* Seeds r from getrandom(2) (a time and address mix if that fails).
 * Always succeeds. */
void gw_trace_rng_init(struct gw_trace_rng *r);
/* Seeds r from seed (tests, fuzzers): the same seed, the same ids. */
void gw_trace_rng_seed(struct gw_trace_rng *r, uint64_t seed);
uint64_t gw_trace_rng_next(struct gw_trace_rng *r);

/* A fresh trace id (not all zero) into c->trace_id. */
void gw_trace_rng_trace_id(struct gw_trace_rng *r, uint8_t id[16]);
/* A fresh span id (not all zero). */
void gw_trace_rng_span_id(struct gw_trace_rng *r, uint8_t id[8]);

/* The head sampler's threshold for a ratio in [0, 1] (clamped; NaN is 0). */
uint64_t gw_trace_ratio_threshold(double ratio);
/* True with the probability the threshold stands for. */
bool gw_trace_rng_sample(struct gw_trace_rng *r, uint64_t threshold);

/* http://host:port/path, as --otlp-endpoint takes it: host a name, an IPv4
 * literal or [IPv6]; port 1-65535 (default 80); path "/" at least (default
 * "/v1/traces"). host and path are NUL-terminated copies. 0, or GW_EINVAL
 * (not http://, a bad port, a host or path too long for the buffers, a
 * byte outside printable ASCII). Pure. */
int gw_trace_endpoint_parse(const char *url, char *host, size_t host_cap, uint16_t *port,
                            char *path, size_t path_cap);

/* A finished server span, as the proxy records it (fixed size: it is
 * copied through a bounded per-worker queue). Strings are NUL-terminated
 * copies, truncated; empty ones are left out of the export. */
struct gw_trace_span {
    uint8_t trace_id[16];
    uint8_t span_id[8];
    uint8_t parent_id[8];
    bool has_parent;
    uint8_t flags;
    bool https;
    uint8_t proto; /* 10, 11 or 20 (network.protocol.version) */
    uint16_t server_port;
    int status;                /* 0: none was sent */
    uint64_t start_ns, end_ns; /* Unix epoch nanoseconds */
    char method[16];
    char path[256];
    char host[128];
    char client[64];
    char user_agent[256];
    char route[256];
    char error_type[32];
};

/* Appends the OTLP/HTTP JSON body of n spans (one resource with
 * service.name = service, one scope "gatehouse") to out. Bytes outside
 * printable ASCII in the strings become \u00XX escapes, so the body is
 * valid JSON (and UTF-8) whatever the client sent. 0 or GW_ELIMIT (out's
 * maximum; out then holds a partial body). */
int gw_trace_export_format(struct gw_buf *out, const char *service,
                           const struct gw_trace_span *spans, size_t n);

#endif /* GW_TRACE_H */
