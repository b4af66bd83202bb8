/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The proxy's lifecycle: options, the worker threads (one gw_loop each),
 * snapshot handover and listener reconciliation, graceful drain, metrics.
 *
 * Snapshot handover: gw_proxy_publish compiles the router on the calling
 * thread and swaps (ir, router) in under p->mu, then pokes every worker's
 * eventfd. A worker wakes, takes a reference on the new snapshot under the
 * same mutex (never on the request path), wraps it in a worker-local pin
 * whose count needs no atomics, and reconciles its listeners: ports still
 * present keep their socket (so a kept port never refuses a connection),
 * new ones are bound with SO_REUSEPORT, vanished ones closed. Requests pin
 * the worker-local wrapper; the shared snapshot dies with its last
 * wrapper.
 *
 * Nothing is freed on a worker: the last unref of a snapshot pushes it on
 * p->dead and pokes p->evfd; the control thread frees it in
 * gw_proxy_reclaim (its loop watches gw_proxy_events_fd and calls it a
 * little later, out of the way of the first requests on the new
 * snapshot), at the next publish, or in gw_proxy_free. The same eventfd
 * says when the last worker adopted the latest snapshot, so the control
 * loop need not poll for it.
 */
#include <sys/eventfd.h>
#include <sys/resource.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proxy/internal.h"

#include "base/banned.h"

void
gw_proxy_opts_default(struct gw_proxy_opts *o)
{
    *o = (struct gw_proxy_opts){
        .workers = 0,
        .lb = GW_PROXY_LB_WRR,
        .access_log = GW_PROXY_LOG_OFF,
        .header_timeout_ms = 10000,
        .body_timeout_ms = 10000,
        .idle_timeout_ms = 15000,
        .connect_timeout_ms = 5000,
        .response_timeout_ms = 60000,
        .drain_timeout_ms = 10000,
        .eject_consecutive = 5,
        .eject_ms = 30000,
        .request_read_timeout_ms = 30000,
        .send_timeout_ms = 10000,
        .max_connections = 0,
        .max_endpoint_connections = 1024,
        .pool_idle_ms = 60000,
        .pool_max_idle = 512,
        .tunnel_idle_timeout_ms = 3600 * 1000,
        .dns_ttl_min_ms = GW_PROXY_DNS_TTL_MIN_MS,
        .dns_ttl_max_ms = GW_PROXY_DNS_TTL_MAX_MS,
    };
}

int
gw_proxy_new(const struct gw_proxy_opts *opts, struct gw_proxy **out)
{
    int evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (evfd < 0)
        return -errno;
    struct gw_proxy *p = gw_xcalloc(1, sizeof(*p));
    p->evfd = evfd;
    atomic_init(&p->dead, NULL);
    if (opts)
        p->o = *opts;
    else
        gw_proxy_opts_default(&p->o);
    if (p->o.workers == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        p->o.workers = n > 0 ? (unsigned)n : 1;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_mutex_init(&p->hc_mu, NULL);
    pthread_mutex_init(&p->dns_mu, NULL);
    pthread_mutex_init(&p->jwks_mu, NULL);
    if (!p->o.dns_ttl_min_ms)
        p->o.dns_ttl_min_ms = GW_PROXY_DNS_TTL_MIN_MS;
    if (!p->o.dns_ttl_max_ms)
        p->o.dns_ttl_max_ms = GW_PROXY_DNS_TTL_MAX_MS;
    if (p->o.dns_ttl_max_ms < p->o.dns_ttl_min_ms)
        p->o.dns_ttl_max_ms = p->o.dns_ttl_min_ms;
    gw_buf_init(&p->port_errors, 64 * 1024);
    p->nworkers = p->o.workers;
    p->workers = gw_xcalloc(p->nworkers, sizeof(*p->workers));
    for (unsigned i = 0; i < p->nworkers; i++)
        p->workers[i].evfd = -1; /* not fd 0: gw_proxy_free before a start */
    p->metrics = aligned_alloc(64, sizeof(struct px_metrics) * p->nworkers);
    GW_ASSERT(p->metrics);
    memset(p->metrics, 0, sizeof(struct px_metrics) * p->nworkers);
    px_mstate_new(p);
    px_shtab_init(&p->shtab);
    if (p->o.otlp_endpoint && px_tracer_new(p) < 0) {
        gw_proxy_free(p);
        return GW_EINVAL;
    }
    *out = p;
    return 0;
}

static void
poke(int fd)
{
    uint64_t one = 1;
    if (fd >= 0) {
        ssize_t r = write(fd, &one, sizeof(one));
        (void)r;
    }
}

static void
wake(struct px_worker *w)
{
    poke(w->evfd);
}

void
px_snap_unref(struct px_snap *s)
{
    if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    struct gw_proxy *p = s->p;
    struct px_snap *head = atomic_load_explicit(&p->dead, memory_order_relaxed);
    do
        s->dead_next = head;
    while (!atomic_compare_exchange_weak_explicit(&p->dead, &head, s, memory_order_release,
                                                  memory_order_relaxed));
    poke(p->evfd);
}

/* Frees the dead snapshots (control thread). */
static void
reclaim(struct gw_proxy *p)
{
    struct px_snap *s = atomic_exchange_explicit(&p->dead, NULL, memory_order_acquire);
    while (s) {
        struct px_snap *next = s->dead_next;
        px_mtab_retire(s->mtab);
        px_sess_free(s->sess);
        px_rl_free(s->rl);
        px_hc_unref(s->hc);
        px_bpol_free(s->bpol);
        px_dns_free(p, s->dns);
        px_jwks_free(p, s->jwks);
        px_rb_free(s->rb);
        px_tls_free(s->tls);
        free(s->tls_errors);
        gw_router_free(s->router);
        gw_ir_unref(s->ir);
        free(s);
        s = next;
    }
}

bool
gw_proxy_events_read(struct gw_proxy *p)
{
    uint64_t v;
    ssize_t r = read(p->evfd, &v, sizeof(v));
    (void)r;
    return atomic_load_explicit(&p->dead, memory_order_relaxed) != NULL;
}

void
gw_proxy_reclaim(struct gw_proxy *p)
{
    reclaim(p);
}

int
gw_proxy_events_fd(struct gw_proxy *p)
{
    int fd = fcntl(p->evfd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    p->events_watched = true;
    return fd;
}

void
gw_proxy_publish(struct gw_proxy *p, struct gw_ir *ir)
{
    struct px_snap *s = gw_xcalloc(1, sizeof(*s));
    atomic_init(&s->refs, 1);
    s->p = p;
    s->ir = gw_ir_ref(ir);
    gw_ir_index(ir); /* dense ids: per-route counters, per-backend lb state */
    s->mtab = px_mtab_new(p, ir);
    s->sess = px_sess_new(ir);
    s->rl = px_rl_new(&p->rl_tables, ir);
    s->hc = px_hc_new(p, ir);
    px_hc_publish(p, s->hc);
    s->bpol = px_bpol_new(&p->shtab, ir);
    s->dns = px_dns_new(p, ir);
    s->jwks = px_jwks_new(p, ir);
    s->rb = px_rb_new(&p->rb_tables, ir);
    struct gw_diags diags;
    gw_diags_init(&diags);
    if (gw_router_build(ir, &diags, &s->router) < 0)
        s->router = NULL;
    for (size_t i = 0; i < diags.n; i++)
        gw_log_warn("proxy: route: %s: %s", diags.v[i].name ? diags.v[i].name : "",
                    diags.v[i].message);
    gw_diags_release(&diags);
    if (s->router) {
        /* HTTPS certificates: loaded once here, shared by the workers. */
        struct gw_buf terr;
        gw_buf_init(&terr, 64 * 1024);
        px_tls_build(ir, s->router, &s->tls, &terr);
        if (terr.len) {
            gw_log_warn("proxy: tls: %.*s", (int)terr.len, terr.p);
            s->tls_errors = gw_xasprintf("%.*s", (int)terr.len, terr.p);
        }
        gw_buf_release(&terr);
    }

    pthread_mutex_lock(&p->mu);
    struct px_snap *old = p->snap;
    s->gen = atomic_load(&p->gen) + 1;
    p->snap = s;
    atomic_store(&p->gen, s->gen);
    pthread_mutex_unlock(&p->mu);
    if (p->started)
        for (unsigned i = 0; i < p->nworkers; i++)
            wake(&p->workers[i]);
    /* After the wake: the workers switch while this thread tidies up. A
     * caller without an events fd gets the snapshots that died since the
     * previous publish freed now; one with it frees them from its loop
     * (the old snapshot may die right now, on a worker's adopt: its free
     * has no business on the publish path). */
    px_snap_unref(old);
    if (!p->events_watched)
        reclaim(p);
}

/* ------------------------------------------------------------------------ */
/* Worker-local pins                                                         */

struct px_wsnap *
px_wsnap_ref(struct px_wsnap *ws)
{
    if (ws)
        ws->refs++;
    return ws;
}

void
px_wsnap_unref(struct px_wsnap *ws)
{
    if (!ws || --ws->refs > 0)
        return;
    px_snap_unref(ws->s);
    free(ws);
}

uint64_t
px_worker_rand(struct px_worker *w)
{
    /* xorshift64*: cheap, per worker, good enough for sampling */
    uint64_t x = w->rnd;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    w->rnd = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* ------------------------------------------------------------------------ */
/* Listeners                                                                 */

/* What each listener watches: nothing while the worker is full (UDP too,
 * as before) and, for TCP, nothing while accepts back off. */
static void
listeners_watch(struct px_worker *w)
{
    for (struct px_listener *x = w->listeners; x; x = x->next) {
        bool on = !w->accept_paused && (x->udp || !w->accept_blocked);
        gw_io_set(&x->io, on ? GW_LOOP_READ : 0);
    }
}

static void
on_accept_timer(struct gw_timer *t)
{
    struct px_worker *w = t->data;
    w->accept_blocked = false;
    if (!w->draining)
        listeners_watch(w);
}

/* accept failed for want of descriptors: the connection stays queued and
 * the listener readable, so retrying now would spin (one failed accept4 and
 * one log line per turn, every core busy). Stop watching the TCP listeners
 * for 100 ms, doubling to 1 s while it lasts. */
static void
accept_backoff(struct px_worker *w, int err)
{
    static struct gw_log_limit rl;
    w->accept_backoff_ms = w->accept_backoff_ms ? GW_MIN(w->accept_backoff_ms * 2, 1000u) : 100;
    w->accept_blocked = true;
    listeners_watch(w);
    gw_timer_start(&w->accept_timer, w->accept_backoff_ms);
    gw_log_ratelimited(&rl, GW_LOG_WARN, "proxy: accept: %s: accepting again in %u ms",
                       gw_strerror(err), w->accept_backoff_ms);
}

static void
on_accept(struct gw_io *io, unsigned events)
{
    (void)events;
    struct px_listener *l = io->data;
    struct px_worker *w = l->w;
    const struct gw_ir *ir = w->snap ? w->snap->s->ir : NULL;
    if (l->udp) {
        gw_l4_udp_input(w->l4, w->snap, ir, l->address, l->port, io->fd);
        return;
    }
    for (int i = 0; i < 64; i++) {
        if (w->nconns >= w->max_conns) {
            /* Leave the rest queued in the kernel until a slot frees. */
            w->accept_paused = true;
            listeners_watch(w);
            return;
        }
        struct sockaddr_storage peer;
        socklen_t plen = sizeof(peer);
        int fd = gw_sock_accept(io->fd, &peer, &plen);
        if (fd < 0) {
            if (gw_sock_accept_is_exhausted(fd))
                accept_backoff(w, fd);
            return;
        }
        w->accept_backoff_ms = 0;
        px_edge_accept(w, l, fd, &peer);
    }
}

void
px_worker_conn_closed(struct px_worker *w)
{
    if (w->accept_paused && w->nconns < w->max_conns && !w->draining) {
        w->accept_paused = false;
        listeners_watch(w);
    }
}

static void
listener_free(struct gw_io *io)
{
    free(io->data);
}

static bool
port_is_served(const struct gw_ir_port *pt)
{
    if (gw_l4_port_is_served(pt))
        return true; /* TCP, UDP, TLS passthrough */
    if (pt->udp)
        return false;
    /* HTTP only for now; HTTPS/TLS/TCP listeners are served by their own
     * modules once they exist (hook: the proto switch below). */
    for (size_t i = 0; i < pt->nlisteners; i++)
        if (pt->listeners[i].proto == GW_IR_HTTP || pt->listeners[i].proto == GW_IR_HTTPS)
            return true;
    return false;
}

static void
reconcile(struct px_worker *w, const struct gw_ir *ir)
{
    struct gw_proxy *p = w->p;
    for (struct px_listener *l = w->listeners; l; l = l->next)
        l->keep = false;
    struct gw_buf errs;
    gw_buf_init(&errs, 64 * 1024);
    for (size_t i = 0; ir && i < ir->nports && !w->draining; i++) {
        const struct gw_ir_port *pt = &ir->ports[i];
        if (!port_is_served(pt))
            continue;
        const char *addr = pt->address ? pt->address : "";
        struct px_listener *l = w->listeners;
        while (l && !(l->port == pt->port && l->udp == pt->udp && strcmp(l->address, addr) == 0))
            l = l->next;
        if (l) {
            l->keep = true;
            l->l4 = gw_l4_port_is_served(pt);
            l->tls = px_port_is_https(pt); /* HTTP <-> HTTPS on a kept port */
            continue;
        }
        int fd = gw_sock_listen(addr, pt->port, pt->udp ? SOCK_DGRAM : SOCK_STREAM);
        if (fd < 0) {
            gw_buf_appendf(&errs, "%s:%u: %s\n", addr, pt->port, gw_strerror(fd));
            continue;
        }
        /* A UDP port has no backpressure: what arrives while the worker is
         * busy or descheduled waits in this buffer or is dropped (208 KiB by
         * default holds a few hundred small datagrams). */
        if (pt->udp)
            gw_sock_set_rcvbuf(fd, PX_UDP_RCVBUF);
        if (w->bind_backoff_ms && w->id == 0)
            gw_log_info("listener: %s:%u bound", addr, pt->port);
        l = gw_xcalloc(1, sizeof(*l));
        l->w = w;
        l->port = pt->port;
        l->tls = px_port_is_https(pt);
        l->udp = pt->udp;
        l->l4 = gw_l4_port_is_served(pt);
        snprintf(l->address, sizeof(l->address), "%s", addr);
        l->mport = px_mport_slot(p, addr, pt->port, pt->udp);
        l->keep = true;
        gw_io_init(w->loop, &l->io, fd, on_accept, l);
        gw_io_set(&l->io, w->accept_paused || (!l->udp && w->accept_blocked) ? 0 : GW_LOOP_READ);
        l->next = w->listeners;
        w->listeners = l;
    }
    struct px_listener **pp = &w->listeners;
    while (*pp) {
        struct px_listener *l = *pp;
        if (l->keep) {
            pp = &l->next;
            continue;
        }
        *pp = l->next;
        if (l->udp) /* its sessions let go of the socket with us */
            gw_l4_udp_close(w->l4, l->io.fd);
        gw_io_close(&l->io, listener_free);
    }
    if (errs.len && !w->draining) {
        /* 250 ms doubling to 8 s: soon enough for a port a previous
         * process lets go of, cheap if it never does. */
        w->bind_backoff_ms = w->bind_backoff_ms ? GW_MIN(w->bind_backoff_ms * 2, 8000u) : 250;
        gw_timer_start(&w->bind_timer, w->bind_backoff_ms);
    } else {
        w->bind_backoff_ms = 0;
        gw_timer_stop(&w->bind_timer);
    }
    if (w->id == 0) {
        pthread_mutex_lock(&p->mu);
        gw_buf_reset(&p->port_errors);
        if (errs.len)
            gw_buf_append(&p->port_errors, errs.p, errs.len);
        if (w->snap && w->snap->s->tls_errors)
            gw_buf_append_cstr(&p->port_errors, w->snap->s->tls_errors);
        pthread_mutex_unlock(&p->mu);
    }
    gw_buf_release(&errs);
}

static void
on_bind_timer(struct gw_timer *t)
{
    struct px_worker *w = t->data;
    if (w->snap && !w->draining)
        reconcile(w, w->snap->s->ir);
}

static void
adopt(struct px_worker *w)
{
    struct gw_proxy *p = w->p;
    pthread_mutex_lock(&p->mu);
    struct px_snap *s = p->snap;
    uint64_t gen = atomic_load(&p->gen);
    if (s)
        atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&p->mu);
    if (w->snap && w->snap->s == s) {
        px_snap_unref(s);
    } else if (s) {
        struct px_wsnap *ws = gw_xcalloc(1, sizeof(*ws));
        ws->s = s;
        ws->refs = 1;
        ws->w = w;
        struct px_wsnap *old = w->snap;
        w->snap = ws;
        px_wsnap_unref(old);
        px_rr_table_clear(&w->rr);
        reconcile(w, s->ir);
    }
    w->gen = gen;
    atomic_store(&w->adopted_gen, gen);
    /* The last worker to adopt gen tells the control loop. Stores and
     * loads are sequentially consistent: of two workers adopting at once,
     * at least one sees the other's store. */
    for (unsigned i = 0; i < p->nworkers; i++)
        if (atomic_load(&p->workers[i].adopted_gen) != gen)
            return;
    if (atomic_load(&p->gen) == gen)
        poke(p->evfd);
}

static void
drain_tick(struct gw_timer *t)
{
    struct px_worker *w = t->data;
    uint64_t now = gw_loop_now(w->loop);
    if ((w->nconns == 0 && gw_l4_worker_active(w->l4) == 0) || now >= w->drain_deadline) {
        struct px_dconn *d = w->conns;
        while (d) {
            struct px_dconn *next = d->next;
            px_dconn_close(d);
            d = next;
        }
        gw_loop_stop(w->loop);
        return;
    }
    gw_timer_start(t, 50);
}

static void
start_drain(struct px_worker *w)
{
    if (w->draining)
        return;
    w->draining = true;
    while (w->listeners) {
        struct px_listener *l = w->listeners;
        w->listeners = l->next;
        gw_io_close(&l->io, listener_free);
    }
    struct px_dconn *d = w->conns;
    while (d) {
        struct px_dconn *next = d->next;
        px_dconn_drain(d);
        d = next;
    }
    gw_l4_worker_drain(w->l4);
    px_edge_drain(w);
    w->drain_deadline = gw_loop_now(w->loop) + w->p->o.drain_timeout_ms;
    gw_timer_init(w->loop, &w->drain_timer, drain_tick, w);
    gw_timer_start(&w->drain_timer, 0);
}

static void
on_wake(struct gw_io *io, unsigned events)
{
    (void)events;
    struct px_worker *w = io->data;
    uint64_t v;
    ssize_t r = read(io->fd, &v, sizeof(v));
    (void)r;
    if (atomic_load(&w->p->draining_flag)) {
        start_drain(w);
        return;
    }
    if (atomic_load(&w->p->gen) != w->gen)
        adopt(w);
}

static void
close_pools(struct px_worker *w)
{
    for (size_t i = 0; i < w->eps.base.cap; i++) {
        struct px_ep *e = (struct px_ep *)(void *)w->eps.base.slots[i];
        while (e && e->idle) {
            struct px_uconn *u = e->idle;
            px_uconn_close(u);
        }
    }
    while (w->mirrors)
        px_uconn_close(w->mirrors);
    px_utls_worker_release(w);
}

static void *
worker_main(void *arg)
{
    struct px_worker *w = arg;
    gw_loop_run(w->loop);
    struct px_dconn *d = w->conns;
    while (d) {
        struct px_dconn *next = d->next;
        px_dconn_close(d);
        d = next;
    }
    px_edge_drain(w); /* connections still waiting for a PROXY header */
    while (w->listeners) {
        struct px_listener *l = w->listeners;
        w->listeners = l->next;
        gw_io_close(&l->io, listener_free);
    }
    close_pools(w);
    px_rlg_free(w->rlg); /* after the requests: none waits on it now */
    w->rlg = NULL;
    gw_l4_worker_free(w->l4); /* resets what is left; pins drop in gw_loop_free */
    w->l4 = NULL;
    gw_io_close(&w->evio, NULL);
    gw_timer_stop(&w->drain_timer);
    gw_timer_stop(&w->accept_timer);
    gw_timer_stop(&w->bind_timer);
    px_wsnap_unref(w->snap);
    w->snap = NULL;
    gw_loop_free(w->loop);
    w->loop = NULL;
    return NULL;
}

static void
l4_pin_ref(void *pin)
{
    px_wsnap_ref(pin);
}

static void
l4_pin_unref(void *pin)
{
    px_wsnap_unref(pin);
}

/* L4 connections and sessions pin the worker's snapshot wrapper, as
 * requests do. */
static struct gw_l4_worker *
l4_worker_new(struct px_worker *w, size_t budget)
{
    struct gw_l4_opts o;
    gw_l4_opts_default(&o);
    o.connect_timeout_ms = w->p->o.connect_timeout_ms;
    o.eject_consecutive = w->p->o.eject_consecutive;
    o.eject_ms = w->p->o.eject_ms;
    o.max_conns = budget > UINT_MAX ? UINT_MAX : (unsigned)budget;
    o.pin_ref = l4_pin_ref;
    o.pin_unref = l4_pin_unref;
    o.tls_ctx = px_l4_tls_ctx;
    o.counters = px_l4_counters;
    return gw_l4_worker_new(w->loop, &o);
}

/* Clients per worker, and in *fds_out the descriptors each worker may hold
 * in all (clients and upstream sockets): its share of RLIMIT_NOFILE (raised
 * to the hard limit), 128 kept for the rest of the process. */
static size_t
conn_budget(unsigned nworkers, unsigned want, size_t *fds_out)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    size_t fds = rl.rlim_cur == RLIM_INFINITY ? 1u << 20 : (size_t)rl.rlim_cur;
    *fds_out = fds > 256 ? (fds - 128) / nworkers : 48;
    /* every client may hold an upstream (and a mirror): three fds each */
    size_t per = fds > 256 ? (fds - 128) / 3 / nworkers : 16;
    if (want && want < per)
        per = want;
    return per ? per : 1;
}

int
gw_proxy_start(struct gw_proxy *p)
{
    GW_ASSERT(!p->started);
    size_t max_fds;
    size_t budget = conn_budget(p->nworkers, p->o.max_connections, &max_fds);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = 0;
    for (unsigned i = 0; i < p->nworkers; i++) {
        struct px_worker *w = &p->workers[i];
        w->p = p;
        w->id = i;
        w->evfd = -1;
        w->max_conns = budget;
        w->max_fds = GW_MAX(max_fds, budget);
        w->m = &p->metrics[i];
        w->tw = px_tracer_worker(p, i);
        w->rnd = 0x9e3779b97f4a7c15ull ^ ((uint64_t)(i + 1) * 0xbf58476d1ce4e5b9ull) ^
                 (uint64_t)time(NULL);
        px_ep_table_init(&w->eps);
        w->eps.sh = &p->shtab;
        px_rr_table_init(&w->rr);
        px_buf_init(&w->logbuf, 1 << 20);
        rc = gw_loop_new(&w->loop);
        if (rc < 0)
            break;
        w->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (w->evfd < 0) {
            rc = -errno;
            break;
        }
        gw_io_init(w->loop, &w->evio, w->evfd, on_wake, w);
        gw_io_set(&w->evio, GW_LOOP_READ);
        gw_timer_init(w->loop, &w->drain_timer, drain_tick, w);
        gw_timer_init(w->loop, &w->accept_timer, on_accept_timer, w);
        gw_timer_init(w->loop, &w->bind_timer, on_bind_timer, w);
        w->l4 = l4_worker_new(w, budget);
        if (p->o.redis_host || p->o.redis_path)
            w->rlg = px_rlg_new(w);
        /* First snapshot adopted on this thread, before the loop runs, so
         * port errors are known when start returns. */
        adopt(w);
    }
    for (unsigned i = 0; rc == 0 && i < p->nworkers; i++) {
        struct px_worker *w = &p->workers[i];
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            rc = GW_ENOMEM;
            break;
        }
        w->started = true;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc == 0)
        rc = px_hc_checker_start(p);
    if (rc == 0)
        rc = px_dns_start(p);
    if (rc == 0)
        px_jwks_start(p);
    if (rc == 0)
        rc = px_tracer_start(p);
    p->started = true;
    poke(p->evfd); /* gw_proxy_is_current may have turned true */
    /* A publish that raced with start is picked up now. */
    for (unsigned i = 0; i < p->nworkers; i++)
        wake(&p->workers[i]);
    return rc;
}

bool
gw_proxy_is_current(const struct gw_proxy *p)
{
    uint64_t gen = atomic_load(&p->gen);
    if (!p->started)
        return false;
    for (unsigned i = 0; i < p->nworkers; i++)
        if (atomic_load(&p->workers[i].adopted_gen) != gen)
            return false;
    return true;
}

int
gw_proxy_port_errors(const struct gw_proxy *p, struct gw_buf *out)
{
    struct gw_proxy *mp = (struct gw_proxy *)p;
    pthread_mutex_lock(&mp->mu);
    int rc = p->port_errors.len ? gw_buf_append(out, p->port_errors.p, p->port_errors.len) : 0;
    pthread_mutex_unlock(&mp->mu);
    return rc;
}

void
gw_proxy_drain(struct gw_proxy *p)
{
    if (!p->started)
        return;
    atomic_store(&p->draining_flag, true);
    px_hc_checker_stop(p);
    px_dns_stop(p);
    px_jwks_stop(p);
    for (unsigned i = 0; i < p->nworkers; i++)
        wake(&p->workers[i]);
    for (unsigned i = 0; i < p->nworkers; i++) {
        struct px_worker *w = &p->workers[i];
        if (w->started) {
            pthread_join(w->thread, NULL);
            w->started = false;
        }
    }
    px_tracer_stop(p); /* after the workers: their last spans go out */
}

void
gw_proxy_free(struct gw_proxy *p)
{
    if (!p)
        return;
    gw_proxy_drain(p);
    for (unsigned i = 0; i < p->nworkers; i++) {
        struct px_worker *w = &p->workers[i];
        if (w->loop) {
            /* started never ran: tear down here */
            close_pools(w);
            while (w->listeners) {
                struct px_listener *l = w->listeners;
                w->listeners = l->next;
                gw_io_close(&l->io, listener_free);
            }
            gw_io_close(&w->evio, NULL);
            px_rlg_free(w->rlg);
            gw_l4_worker_free(w->l4);
            px_wsnap_unref(w->snap);
            gw_loop_free(w->loop);
        } else if (w->evfd >= 0 && !w->p) {
            close(w->evfd);
        }
        px_ep_table_release(&w->eps);
        px_rr_table_release(&w->rr);
        px_buf_release(&w->logbuf);
        px_auth_worker_free(w->auth);
        px_dconn_cache_free(w);
        px_uh2_cache_free(w);
    }
    free(p->workers);
    px_snap_unref(p->snap);
    reclaim(p);
    px_rl_registry_free(&p->rl_tables);
    px_rb_registry_free(&p->rb_tables);
    px_hc_registry_free(p);
    px_dns_registry_free(p);
    px_jwks_registry_free(p);
    px_shtab_release(&p->shtab);
    px_mstate_free(p);
    px_tracer_free(p);
    close(p->evfd);
    free(p->metrics);
    gw_buf_release(&p->port_errors);
    pthread_mutex_destroy(&p->mu);
    pthread_mutex_destroy(&p->hc_mu);
    pthread_mutex_destroy(&p->dns_mu);
    pthread_mutex_destroy(&p->jwks_mu);
    free(p);
}
