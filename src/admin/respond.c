/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Admin routing: which page a request names and what it answers. No I/O,
 * so the unit tests call it directly with fake hooks.
 */
#include <string.h>

#include "admin/admin.h"
#include "base/base.h"

#include "base/banned.h"

#define TEXT "text/plain; charset=utf-8"
#define JSON "application/json"
#define PROM "text/plain; version=0.0.4; charset=utf-8"

static void
text(struct gw_admin_response *res, struct gw_buf *body, int status, const char *msg)
{
    res->status = status;
    res->content_type = TEXT;
    gw_buf_reset(body);
    gw_buf_append_cstr(body, msg);
}

typedef int (*writer_fn)(void *data, struct gw_buf *out);

static void
page(const struct gw_admin_hooks *h, writer_fn fn, const char *type, struct gw_admin_response *res,
     struct gw_buf *body)
{
    if (!fn) {
        text(res, body, 404, "not found\n");
        return;
    }
    int rc = fn(h->data, body);
    if (rc < 0) {
        gw_buf_reset(body);
        res->status = 500;
        res->content_type = TEXT;
        gw_buf_appendf(body, "error: %s\n", gw_strerror(rc));
        return;
    }
    res->status = 200;
    res->content_type = type;
}

void
gw_admin_respond(const struct gw_admin_hooks *h, struct gw_str method, struct gw_str target,
                 struct gw_admin_response *res, struct gw_buf *body)
{
    memset(res, 0, sizeof(*res));
    gw_buf_reset(body);
    struct gw_str path = target;
    const char *q = memchr(target.p, '?', target.len);
    if (q)
        path.len = (size_t)(q - target.p);
    if (!gw_str_eq_cstr(method, "GET") && !gw_str_eq_cstr(method, "HEAD")) {
        text(res, body, 405, "method not allowed\n");
        res->allow = "GET, HEAD";
        return;
    }
    if (gw_str_eq_cstr(path, "/healthz")) {
        text(res, body, 200, "ok\n");
    } else if (gw_str_eq_cstr(path, "/readyz")) {
        if (h->is_ready && h->is_ready(h->data))
            text(res, body, 200, "ready\n");
        else
            text(res, body, 503, "not ready\n");
    } else if (gw_str_eq_cstr(path, "/status")) {
        page(h, h->status, JSON, res, body);
    } else if (gw_str_eq_cstr(path, "/config")) {
        page(h, h->config, JSON, res, body);
    } else if (gw_str_eq_cstr(path, "/metrics")) {
        page(h, h->metrics, PROM, res, body);
    } else if (gw_str_eq_cstr(path, "/health")) {
        page(h, h->health, JSON, res, body);
    } else if (gw_str_eq_cstr(path, "/")) {
        text(res, body, 200,
             "gatehouse admin\n"
             "  /healthz  liveness\n"
             "  /readyz   200 once the configuration is programmed\n"
             "  /status   object statuses and config errors (JSON)\n"
             "  /config   the configuration in force, as the data plane sees it (JSON)\n"
             "  /metrics  Prometheus metrics\n"
             "  /health   endpoint states of the active health checks (JSON)\n");
    } else {
        text(res, body, 404, "not found\n");
    }
}

int
gw_admin_addr_parse(const char *t, char *addr, size_t cap, uint16_t *port)
{
    const char *colon = strrchr(t, ':');
    if (!colon || cap == 0)
        return GW_EINVAL;
    const char *a = t, *ae = colon;
    if (*a == '[') {
        if (ae == a || ae[-1] != ']')
            return GW_EINVAL;
        a++;
        ae--;
    } else if (memchr(t, ':', (size_t)(colon - t))) {
        return GW_EINVAL; /* a bare IPv6 address needs brackets */
    }
    size_t alen = (size_t)(ae - a);
    if (alen + 1 > cap)
        return GW_EINVAL;
    uint64_t p;
    if (gw_str_to_u64(gw_str_from(colon + 1), 65535, &p) < 0)
        return GW_EINVAL;
    memcpy(addr, a, alen);
    addr[alen] = '\0';
    *port = (uint16_t)p;
    return 0;
}
