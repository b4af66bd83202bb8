/* SPDX-License-Identifier: Apache-2.0 */
/*
 * admin: the admin HTTP/1.1 server of `gatehouse run` (default
 * 127.0.0.1:9901). GET (or HEAD) on:
 *   /healthz  200 "ok" while the process runs
 *   /readyz   200 once the first configuration is programmed, else 503
 *   /status   every object's status and the config errors (JSON)
 *   /config   the IR in force (JSON)
 *   /health   the active health checks' endpoint states (JSON)
 *   /metrics  Prometheus text format
 * The server only routes and frames: what each page says comes from the
 * caller's hooks, called on the loop's thread. Keep-alive and pipelining,
 * strict request parsing (h1/), bounded input, a bounded number of
 * connections and an idle timeout; requests with a body are refused.
 */
#ifndef GW_ADMIN_H
#define GW_ADMIN_H

#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"

struct gw_loop;
struct gw_ir;

/* What the pages show. Each writer appends its page to out and returns 0,
 * or a negative GW_E* (the server then answers 500). NULL hooks answer 404
 * (writers) or "not ready" (is_ready). Called on the loop's thread. */
struct gw_admin_hooks {
    void *data;
    bool (*is_ready)(void *data);
    int (*status)(void *data, struct gw_buf *out);
    int (*config)(void *data, struct gw_buf *out);
    int (*metrics)(void *data, struct gw_buf *out);
    int (*health)(void *data, struct gw_buf *out);
};

/* One answer, before framing. */
struct gw_admin_response {
    int status;
    const char *content_type; /* static */
    const char *allow;        /* Allow header for 405, else NULL */
};

/*
 * Routing, pure apart from the hooks: the answer to method (the request's
 * method token) on target (the request-target; a query string is ignored).
 * The body is appended to body (reset first). Never fails: errors become
 * 4xx/5xx answers with a short text body.
 */
void gw_admin_respond(const struct gw_admin_hooks *hooks, struct gw_str method,
                      struct gw_str target, struct gw_admin_response *res, struct gw_buf *body);

/* Splits "ADDR:PORT", "[V6]:PORT" or ":PORT" (every address) into addr
 * (NUL-terminated, brackets removed, "" for every address) and port. 0 or
 * GW_EINVAL. */
int gw_admin_addr_parse(const char *text, char *addr, size_t cap, uint16_t *port);

struct gw_admin;

/*
 * Listens on addr:port (port 0: any free port, see gw_admin_port) and
 * serves on loop. hooks is copied. 0 or a negated errno (the address is in
 * use, ...). Not from a callback of loop.
 */
int gw_admin_new(struct gw_loop *loop, const char *addr, uint16_t port,
                 const struct gw_admin_hooks *hooks, struct gw_admin **out);
/* The bound port. */
uint16_t gw_admin_port(const struct gw_admin *a);
/* Closes the listener and every connection, frees a. Not from a callback
 * of its loop; the loop must still exist (its deferred work runs at the
 * next turn or in gw_loop_free). */
void gw_admin_free(struct gw_admin *a);

/*
 * The IR as JSON (every field of ir/ir.h; PEM bytes are shown by length,
 * never their content). 0 or GW_ELIMIT.
 */
int gw_admin_ir_format_json(const struct gw_ir *ir, struct gw_buf *out);

#endif /* GW_ADMIN_H */
