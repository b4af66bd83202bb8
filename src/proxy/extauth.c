/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ExtAuthPolicy: each request of a covered route is first put to an
 * authorization service over HTTP/1.1. The request is parked (its head
 * stays unconsumed in d->in, as for a global rate limit) while the call
 * runs on the worker's loop, on an upstream connection of upstream.c
 * (the endpoint pools, BackendTLSPolicy and connection limits are the
 * backends'); the answer resumes it through px_dconn_ea_resume. The check
 * is the request's method, pathPrefix + path and query, Host, the
 * headersToAuth, X-Forwarded-For and -Proto, and with includeBody the body
 * (a Content-Length body of at most maxBytes, waited for first). A 2xx
 * lets the request through with headersFromAuth copied from the answer;
 * any other answer goes back to the client (status, end-to-end fields,
 * body up to PX_EA_MAX_RESPONSE). No answer within the timeout, or a
 * failed connection or unreadable answer, decides by failureMode.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/internal.h"

#include "base/banned.h"

#define PX_EA_MAX_RESPONSE (64 * 1024) /* head and body of an answer */
#define PX_EA_MAX_EPS      64          /* endpoints a pick looks at */

struct px_ea_call {
    struct px_worker *w;
    struct px_dconn *d;
    const struct gw_ir_extauth *e;
    struct px_uconn *u;
    struct gw_timer timer;
    bool sent;       /* the check went into u->out */
    size_t body_off; /* includeBody: where the body starts in d->in */
    size_t body_len; /* its length (0: none) */
    enum gw_h1_method method;
    struct gw_buf head; /* the check's head, kept until the body is in */
};

static inline void
add(atomic_uint_fast64_t *c)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

static void
call_free(struct px_ea_call *c)
{
    gw_timer_stop(&c->timer);
    if (c->u) {
        c->u->ea = NULL;
        px_uconn_close(c->u);
        c->u = NULL;
    }
    gw_buf_release(&c->head);
    free(c);
}

/* Ends the call with v: d goes on (or is answered) from the loop. */
static void
finish(struct px_ea_call *c, struct px_ea_verdict *v)
{
    struct px_dconn *d = c->d;
    d->ea_call = NULL;
    call_free(c);
    px_dconn_ea_resume(d, v);
}

static void
fail(struct px_ea_call *c, bool timeout)
{
    struct px_metrics *m = c->w->m;
    add(timeout ? &m->ea_timeout : &m->ea_error);
    struct px_ea_verdict v = {.outcome = c->e->fail_open ? PX_EA_ALLOW : PX_EA_FAIL};
    if (c->e->fail_open)
        add(&m->ea_fail_open);
    finish(c, &v);
}

static void
on_timer(struct gw_timer *t)
{
    fail(t->data, true);
}

static bool
listed(const char **v, size_t n, struct gw_str name)
{
    for (size_t i = 0; i < n; i++)
        if (gw_str_caseeq(name, gw_str_from(v[i])))
            return true;
    return false;
}

/* The whole answer is in u->in: the verdict, its bytes copied into out
 * (they outlive the connection). 1 done, 0 more to read, -1 unusable. */
static int
answer(struct px_ea_call *c, bool eof, struct gw_buf *out, struct px_ea_verdict *v, bool *reuse)
{
    struct px_uconn *u = c->u;
    const char *p = px_buf_data(&u->in);
    size_t len = px_buf_avail(&u->in);
    struct gw_h1_response res = {.headers = c->w->hbuf, .max_headers = PX_MAX_HEADERS};
    int n = gw_h1_response_parse(p, len, &res, NULL, c->method);
    if (n == GW_EAGAIN)
        return eof ? -1 : 0;
    if (n < 0 || res.status < 200 || res.body == GW_H1_BODY_CHUNKED ||
        res.body == GW_H1_BODY_TUNNEL)
        return -1; /* 1xx (Expect is never sent) and chunked answers are not taken */
    size_t blen = 0;
    if (res.body == GW_H1_BODY_LENGTH) {
        if (res.content_length > PX_EA_MAX_RESPONSE - (size_t)n)
            return -1;
        blen = (size_t)res.content_length;
        if (len - (size_t)n < blen)
            return eof ? -1 : 0;
    } else if (res.body == GW_H1_BODY_CLOSE) {
        if (!eof)
            return 0;
        blen = len - (size_t)n;
    }
    *reuse = res.keep_alive && res.body != GW_H1_BODY_CLOSE && len == (size_t)n + blen;
    bool ok = res.status >= 200 && res.status < 300;
    v->outcome = ok ? PX_EA_ALLOW : PX_EA_DENY;
    v->status = res.status;
    /* out: [fields as "Name: value\r\n" lines][body] */
    for (size_t i = 0; i < res.nheaders; i++) {
        const struct gw_h1_header *h = &res.headers[i];
        if (ok ? !listed(c->e->from_auth, c->e->nfrom_auth, h->name)
               : (px_field_class(h->name) & (PX_FIELD_HOP | PX_FIELD_LENGTH | PX_FIELD_TRAILER)) ||
                     gw_str_caseeq(h->name, GW_STR("date")) ||
                     gw_str_caseeq(h->name, GW_STR("server")))
            continue;
        if (gw_buf_append(out, h->name.p, h->name.len) < 0 || gw_buf_append_cstr(out, ": ") < 0 ||
            gw_buf_append(out, h->value.p, h->value.len) < 0 || gw_buf_append_cstr(out, "\r\n") < 0)
            return -1;
    }
    size_t flen = out->len;
    if (!ok && blen && gw_buf_append(out, p + n, blen) < 0)
        return -1;
    v->fields = (struct gw_str){out->p, flen};
    v->body = (struct gw_str){out->p + flen, out->len - flen};
    return 1;
}

/* Events on the call's connection (upstream.c hands them over). */
void
px_ea_io(struct px_uconn *u, unsigned events)
{
    struct px_ea_call *c = u->ea;
    if (events & GW_LOOP_WRITE) {
        if (px_uconn_flush(u) < 0) {
            fail(c, false);
            return;
        }
    }
    if (events & (GW_LOOP_READ | GW_LOOP_ERROR)) {
        bool eof = false;
        for (;;) {
            if (px_buf_reserve(&u->in, PX_READ_CHUNK) == 0)
                break;
            ssize_t n = px_uconn_recv(u, u->in.p + u->in.len, u->in.cap - u->in.len);
            if (n > 0) {
                u->in.len += (size_t)n;
                continue;
            }
            if (n == 0) {
                eof = true;
                break;
            }
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN) {
                fail(c, false);
                return;
            }
            break;
        }
        if (px_buf_avail(&u->in)) {
            struct gw_buf out;
            gw_buf_init(&out, PX_EA_MAX_RESPONSE + 4096);
            struct px_ea_verdict v = {0};
            bool reuse = false;
            int r = answer(c, eof, &out, &v, &reuse);
            if (r < 0) {
                gw_buf_release(&out);
                fail(c, false);
                return;
            }
            if (r == 1) {
                add(v.outcome == PX_EA_ALLOW ? &c->w->m->ea_allowed : &c->w->m->ea_denied);
                px_buf_consume(&u->in, px_buf_avail(&u->in));
                c->u = NULL;
                u->ea = NULL;
                px_uconn_release(u, reuse && !eof && !px_buf_avail(&u->out));
                struct px_dconn *d = c->d;
                d->ea_call = NULL;
                call_free(c);
                px_dconn_ea_resume(d, &v);
                gw_buf_release(&out);
                return;
            }
            gw_buf_release(&out);
        } else if (eof) {
            fail(c, false);
            return;
        }
    }
    px_uconn_update(u);
}

void
px_ea_failed(struct px_uconn *u)
{
    struct px_ea_call *c = u->ea;
    fail(c, false);
}

void
px_ea_detach(struct px_uconn *u)
{
    if (u->ea)
        u->ea->u = NULL;
    u->ea = NULL;
}

/* The body is in (or there is none): the check goes out. */
static void
send_check(struct px_ea_call *c)
{
    struct px_uconn *u = c->u;
    c->sent = true;
    if (px_buf_append(&u->out, c->head.p, c->head.len) < 0 ||
        (c->body_len &&
         px_buf_append(&u->out, px_buf_data(&c->d->in) + c->body_off, c->body_len) < 0)) {
        fail(c, false);
        return;
    }
    if (u->state == PX_U_ACTIVE && px_uconn_flush(u) < 0) {
        fail(c, false);
        return;
    }
    px_uconn_update(u);
}

static int
head_format(struct px_ea_call *c, const struct px_dconn *d, const struct gw_h1_request *req)
{
    const struct gw_ir_extauth *e = c->e;
    struct gw_buf *b = &c->head;
    int rc = 0;
    rc |= gw_buf_append(b, req->method.p, req->method.len);
    rc |= gw_buf_append_cstr(b, " ");
    rc |= gw_buf_append_cstr(b, e->path_prefix);
    rc |= gw_buf_append(b, req->path.p, req->path.len);
    rc |= gw_buf_append_cstr(b, " HTTP/1.1\r\nHost: ");
    rc |= gw_buf_append(b, req->authority.p, req->authority.len);
    rc |= gw_buf_appendf(b, "\r\nX-Forwarded-For: %s\r\nX-Forwarded-Proto: %s\r\n", d->client_ip,
                         d->tls ? "https" : "http");
    for (size_t i = 0; i < req->nheaders; i++) {
        const struct gw_h1_header *h = &req->headers[i];
        if (!listed(e->to_auth, e->nto_auth, h->name) ||
            (px_field_class(h->name) & (PX_FIELD_HOP | PX_FIELD_LENGTH | PX_FIELD_HOST)) ||
            px_wire_is_unsafe(h->name) || px_wire_is_unsafe(h->value))
            continue;
        rc |= gw_buf_append(b, h->name.p, h->name.len);
        rc |= gw_buf_append_cstr(b, ": ");
        rc |= gw_buf_append(b, h->value.p, h->value.len);
        rc |= gw_buf_append_cstr(b, "\r\n");
    }
    rc |= gw_buf_appendf(b, "Content-Length: %zu\r\n\r\n", c->body_len);
    if (px_wire_is_unsafe((struct gw_str){e->path_prefix, strlen(e->path_prefix)}) ||
        px_wire_is_unsafe(req->path) || px_wire_is_unsafe(req->authority))
        return GW_EINVAL;
    return rc < 0 ? GW_ELIMIT : 0;
}

/* A connection to one of e's endpoints, or NULL. */
static struct px_uconn *
connect_to(struct px_dconn *d, const struct gw_ir_extauth *e)
{
    struct px_worker *w = d->w;
    const struct gw_ir_backend *b = e->backend;
    size_t n = GW_MIN(b->nendpoints, (size_t)PX_EA_MAX_EPS);
    struct px_ep *eps[PX_EA_MAX_EPS];
    for (size_t i = 0; i < n; i++)
        eps[i] = px_ep_table_get(&w->eps, b->endpoints[i].ip, b->endpoints[i].port);
    int i = px_lb_pick(eps, NULL, n, GW_PROXY_LB_WRR, &w->ea_cursor, px_worker_rand(w),
                       gw_loop_now(w->loop));
    if (i < 0)
        return NULL;
    struct px_utls_cfg *tcfg =
        b->tls ? px_utls_cfg_get(w, d->snap->s->gen, b->tls, NULL, false) : NULL;
    w->cb_max_conns = 0;
    struct px_uconn *u = px_uconn_pool_take(eps[i], tcfg, false);
    if (u) {
        px_utls_cfg_unref(tcfg);
    } else {
        u = px_uconn_connect(w, eps[i], tcfg, false);
        if (!u) {
            px_utls_cfg_unref(tcfg);
            return NULL;
        }
        snprintf(u->backend, sizeof(u->backend), "%s", b->name ? b->name : "-");
    }
    u->d = NULL;
    u->got_bytes = false;
    u->read_paused = false;
    return u;
}

int
px_ea_start(struct px_dconn *d, const struct gw_h1_request *req, size_t head_len,
            const struct gw_ir_extauth *e, struct px_ea_verdict *v)
{
    struct px_worker *w = d->w;
    *v = (struct px_ea_verdict){.outcome = PX_EA_FAIL};
    if (e->invalid) {
        v->outcome = PX_EA_INVALID;
        return 0;
    }
    size_t body_len = 0;
    if (e->max_body && req->body == GW_H1_BODY_LENGTH) {
        /* The body must fit in what the client connection reads ahead
         * while the request is parked. */
        if (req->content_length > e->max_body ||
            (!d->stream && head_len + req->content_length > PX_HIGH)) {
            v->outcome = PX_EA_TOO_LARGE;
            return 0;
        }
        body_len = (size_t)req->content_length;
    }
    struct px_ea_call *c = gw_xcalloc(1, sizeof(*c));
    c->w = w;
    c->d = d;
    c->e = e;
    c->method = req->method_id;
    c->body_off = d->stream ? 0 : head_len;
    c->body_len = body_len;
    gw_buf_init(&c->head, 80 * 1024);
    gw_timer_init(w->loop, &c->timer, on_timer, c);
    int rc = head_format(c, d, req);
    if (rc < 0) {
        call_free(c);
        add(&w->m->ea_error);
        if (e->fail_open) {
            add(&w->m->ea_fail_open);
            v->outcome = PX_EA_ALLOW;
        }
        return 0;
    }
    c->u = connect_to(d, e);
    if (!c->u) {
        call_free(c);
        add(&w->m->ea_error);
        if (e->fail_open) {
            add(&w->m->ea_fail_open);
            v->outcome = PX_EA_ALLOW;
        }
        return 0;
    }
    c->u->ea = c;
    c->u->method = c->method;
    d->ea_call = c;
    gw_timer_start(&c->timer, e->timeout_ms);
    if (px_buf_avail(&d->in) >= c->body_off + c->body_len)
        send_check(c);
    else
        px_uconn_update(c->u);
    return 1;
}

void
px_ea_input(struct px_dconn *d)
{
    struct px_ea_call *c = d->ea_call;
    if (c && !c->sent && px_buf_avail(&d->in) >= c->body_off + c->body_len)
        send_check(c);
}

void
px_ea_cancel(struct px_dconn *d)
{
    struct px_ea_call *c = d->ea_call;
    if (!c)
        return;
    d->ea_call = NULL;
    call_free(c);
}
