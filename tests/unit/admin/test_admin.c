/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the admin server: routing (pages, methods, query strings,
 * readiness, a failing hook), address parsing, and the server itself on a
 * real loop: keep-alive with pipelined requests, HEAD, a request with a
 * body refused, a malformed request closed.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin/admin.h"
#include "base/base.h"
#include "ir/ir.h"
#include "loop/loop.h"
#include "tap.h"

#include "base/banned.h"

static bool ready;

static bool
is_ready(void *data)
{
    (void)data;
    return ready;
}

static int
status_page(void *data, struct gw_buf *out)
{
    (void)data;
    return gw_buf_append_cstr(out, "{\"kind\": \"List\"}\n");
}

static int
failing_page(void *data, struct gw_buf *out)
{
    (void)data;
    gw_buf_append_cstr(out, "partial");
    return GW_ELIMIT;
}

static int
metrics_page(void *data, struct gw_buf *out)
{
    (void)data;
    return gw_buf_append_cstr(out, "gatehouse_up 1\n");
}

static const struct gw_admin_hooks hooks = {
    .is_ready = is_ready,
    .status = status_page,
    .config = failing_page,
    .metrics = metrics_page,
};

static int
get(const char *method, const char *target, struct gw_admin_response *res, struct gw_buf *body)
{
    gw_admin_respond(&hooks, gw_str_from(method), gw_str_from(target), res, body);
    return res->status;
}

static void
test_routing(void)
{
    struct gw_admin_response res;
    struct gw_buf body;
    gw_buf_init(&body, 1 << 20);

    is_int(get("GET", "/healthz", &res, &body), 200, "/healthz 200");
    is_str(body.p, "ok\n", "/healthz says ok");
    ready = false;
    is_int(get("GET", "/readyz", &res, &body), 503, "/readyz 503 before the first config");
    ready = true;
    is_int(get("GET", "/readyz", &res, &body), 200, "/readyz 200 once ready");
    is_int(get("GET", "/status", &res, &body), 200, "/status 200");
    is_str(res.content_type, "application/json", "/status is JSON");
    is_str(body.p, "{\"kind\": \"List\"}\n", "/status body from the hook");
    is_int(get("GET", "/status?pretty=1", &res, &body), 200, "query string ignored");
    is_int(get("GET", "/metrics", &res, &body), 200, "/metrics 200");
    ok(strstr(res.content_type, "version=0.0.4") != NULL, "Prometheus text content type");
    is_int(get("GET", "/config", &res, &body), 500, "failing hook: 500");
    ok(strstr(body.p, "limit exceeded") != NULL, "the partial page is not sent");
    is_int(get("HEAD", "/healthz", &res, &body), 200, "HEAD allowed");
    is_int(get("POST", "/healthz", &res, &body), 405, "POST refused");
    is_str(res.allow, "GET, HEAD", "with Allow");
    is_int(get("GET", "/nope", &res, &body), 404, "unknown page 404");
    is_int(get("GET", "/healthz/", &res, &body), 404, "no trailing-slash aliases");
    is_int(get("GET", "/", &res, &body), 200, "index");

    struct gw_admin_hooks none = {0};
    gw_admin_respond(&none, GW_STR("GET"), GW_STR("/status"), &res, &body);
    is_int(res.status, 404, "no status hook: 404");
    gw_admin_respond(&none, GW_STR("GET"), GW_STR("/readyz"), &res, &body);
    is_int(res.status, 503, "no readiness hook: not ready");
    gw_buf_release(&body);
}

static void
test_addr(void)
{
    char a[64];
    uint16_t p = 0;
    is_int(gw_admin_addr_parse("127.0.0.1:9901", a, sizeof(a), &p), 0, "v4:port");
    is_str(a, "127.0.0.1", "v4 address");
    is_int(p, 9901, "port");
    is_int(gw_admin_addr_parse("[::1]:80", a, sizeof(a), &p), 0, "[v6]:port");
    is_str(a, "::1", "v6 address without brackets");
    is_int(gw_admin_addr_parse(":9000", a, sizeof(a), &p), 0, ":port");
    is_str(a, "", "every address");
    is_int(gw_admin_addr_parse("::1:80", a, sizeof(a), &p), GW_EINVAL, "bare v6 refused");
    is_int(gw_admin_addr_parse("1.2.3.4", a, sizeof(a), &p), GW_EINVAL, "no port refused");
    is_int(gw_admin_addr_parse("1.2.3.4:70000", a, sizeof(a), &p), GW_EINVAL, "port too big");
    is_int(gw_admin_addr_parse("1.2.3.4:x", a, sizeof(a), &p), GW_EINVAL, "port not a number");
}

static void
on_stop(struct gw_timer *t)
{
    gw_loop_stop(t->data);
}

/* A loop can run only once (gw_loop_stop is final), so every exchange
 * connects and sends first, then the loop runs once, then each reads. */
static int
client(uint16_t port, const char *req)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || write(fd, req, strlen(req)) < 0)
        diag("client failed");
    return fd;
}

static void
run_for(struct gw_loop *loop, uint64_t ms)
{
    struct gw_timer t;
    gw_timer_init(loop, &t, on_stop, loop);
    gw_timer_start(&t, ms);
    gw_loop_run(loop);
}

/* What the server wrote (heap) and whether it closed. */
static char *
answer_of(int fd, bool *closed)
{
    struct timeval tv = {0, 100000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct gw_buf b;
    gw_buf_init(&b, 1 << 20);
    *closed = false;
    for (;;) {
        char tmp[4096];
        ssize_t r = read(fd, tmp, sizeof(tmp));
        if (r == 0)
            *closed = true;
        if (r <= 0)
            break;
        gw_buf_append(&b, tmp, (size_t)r);
    }
    close(fd);
    char *s = b.p ? gw_buf_steal(&b) : gw_xstrdup("");
    gw_buf_release(&b);
    return s;
}

static size_t
count(const char *s, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void
test_server(void)
{
    struct gw_loop *loop;
    if (gw_loop_new(&loop) < 0) {
        ok(false, "loop");
        return;
    }
    struct gw_admin *a;
    int rc = gw_admin_new(loop, "127.0.0.1", 0, &hooks, &a);
    is_int(rc, 0, "admin listens on an ephemeral port");
    if (rc < 0) {
        gw_loop_free(loop);
        return;
    }
    uint16_t port = gw_admin_port(a);
    ok(port > 0, "port known");
    bool closed;
    int fds[6];
    fds[0] = client(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                          "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
                          "HEAD /status HTTP/1.1\r\nHost: x\r\n\r\n");
    fds[1] = client(port, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    fds[2] = client(port, "GET /healthz HTTP/1.0\r\n\r\n");
    fds[3] = client(port, "POST /status HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                          "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    fds[4] = client(port, "GET /healthz HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n");
    fds[5] = client(port, "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n");
    run_for(loop, 150);

    char *r = answer_of(fds[0], &closed);
    is_int((long long)count(r, "HTTP/1.1 200 OK\r\n"), 3, "three pipelined answers");
    ok(strstr(r, "\r\n\r\nok\n") != NULL, "healthz body");
    ok(strstr(r, "gatehouse_up 1\n") != NULL, "metrics body");
    ok(strstr(r, "Content-Length: 17\r\nCache-Control: no-store\r\n\r\n") != NULL &&
           !strstr(r, "\"List\""),
       "HEAD: length of the GET, no body");
    ok(!closed, "keep-alive: still open");
    free(r);

    r = answer_of(fds[1], &closed);
    ok(strstr(r, "Connection: close\r\n") != NULL && closed, "Connection: close honoured");
    free(r);

    r = answer_of(fds[2], &closed);
    ok(strncmp(r, "HTTP/1.1 200", 12) == 0 && closed, "HTTP/1.0 answered and closed");
    free(r);

    r = answer_of(fds[3], &closed);
    ok(strncmp(r, "HTTP/1.1 413", 12) == 0 && closed && count(r, "HTTP/1.1") == 1,
       "a body is refused and the connection closed");
    free(r);

    r = answer_of(fds[4], &closed);
    ok(strncmp(r, "HTTP/1.1 400", 12) == 0 && closed, "two Host fields: 400 and close");
    free(r);

    r = answer_of(fds[5], &closed);
    ok(strncmp(r, "HTTP/1.1 200", 12) == 0, "readyz through the server");
    free(r);

    gw_admin_free(a);
    gw_loop_free(loop);
}

static void
test_ir_json(void)
{
    struct gw_buf b;
    gw_buf_init(&b, 1 << 20);
    is_int(gw_admin_ir_format_json(NULL, &b), 0, "no IR yet");
    is_str(b.p, "{\"gateways\":[],\"ports\":[]}\n", "no IR: empty lists");

    struct gw_ir *ir = gw_ir_new();
    struct gw_arena *a = &ir->arena;
    ir->nports = 1;
    ir->ports = gw_arena_alloc(a, sizeof(*ir->ports));
    struct gw_ir_port *p = &ir->ports[0];
    p->address = "127.0.0.1";
    p->port = 8080;
    p->gateway = "default/gw";
    p->nlisteners = 1;
    p->listeners = gw_arena_alloc(a, sizeof(*p->listeners));
    struct gw_ir_listener *l = &p->listeners[0];
    l->owner = "default/gw";
    l->name = "http";
    l->proto = GW_IR_HTTP;
    l->nvhosts = 1;
    l->vhosts = gw_arena_alloc(a, sizeof(*l->vhosts));
    l->vhosts[0].hostname = "*";
    l->vhosts[0].nroutes = 1;
    struct gw_ir_route *r = gw_arena_alloc(a, sizeof(*r));
    l->vhosts[0].routes = r;
    r->route = "HTTPRoute default/r\"1";
    r->path_type = GW_IR_PATH_PREFIX;
    r->path = "/";
    r->retry_attempts = -1;
    r->request_timeout_ms = r->backend_timeout_ms = -1;
    r->nbackends = 1;
    r->backends = gw_arena_alloc(a, sizeof(*r->backends));
    r->backends[0].name = "default/echo:3000";
    r->backends[0].weight = 1;
    r->backends[0].nendpoints = 1;
    r->backends[0].endpoints = gw_arena_alloc(a, sizeof(*r->backends[0].endpoints));
    r->backends[0].endpoints[0].ip = "127.0.0.11";
    r->backends[0].endpoints[0].port = 3000;
    r->nfilters = 1;
    r->filters = gw_arena_alloc(a, sizeof(*r->filters));
    r->filters[0].type = GW_IR_F_REDIRECT;
    r->filters[0].status_code = 301;
    r->filters[0].port = -1;
    gw_buf_reset(&b);
    is_int(gw_admin_ir_format_json(ir, &b), 0, "IR formatted");
    ok(strstr(b.p, "\"ports\":[{\"address\":\"127.0.0.1\",\"port\":8080,\"transport\":\"TCP\"") !=
           NULL,
       "port");
    ok(strstr(b.p, "\"route\":\"HTTPRoute default/r\\\"1\"") != NULL, "strings escaped");
    ok(strstr(b.p, "\"path\":{\"type\":\"PathPrefix\",\"value\":\"/\"}") != NULL, "path match");
    ok(strstr(b.p, "\"endpoints\":[{\"ip\":\"127.0.0.11\",\"port\":3000}]") != NULL, "endpoints");
    ok(strstr(b.p, "\"type\":\"RequestRedirect\",\"scheme\":null,\"port\":-1,"
                   "\"statusCode\":301") != NULL,
       "redirect filter");
    size_t opens = 0, closes = 0;
    for (size_t i = 0; i < b.len; i++) {
        opens += b.p[i] == '{' || b.p[i] == '[';
        closes += b.p[i] == '}' || b.p[i] == ']';
    }
    is_int((long long)opens, (long long)closes, "balanced");
    gw_ir_unref(ir);
    gw_buf_reset(&b);
    struct gw_buf small;
    gw_buf_init(&small, 16);
    is_int(gw_admin_ir_format_json(NULL, &small), GW_ELIMIT, "a full buffer is reported");
    gw_buf_release(&small);
    gw_buf_release(&b);
}

int
main(void)
{
    test_ir_json();
    test_routing();
    test_addr();
    test_server();
    return done_testing();
}
