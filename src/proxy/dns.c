/* SPDX-License-Identifier: Apache-2.0 */
/*
 * XBackend resolution: the endpoints of a backend whose IR names a host
 * (gw_ir_backend.dns_host) instead of addresses. The translator stays a
 * pure function of the store; the data plane resolves, here, on a thread
 * of its own with its own gw_loop (the "resolver"): neither a worker's
 * loop nor the control loop ever waits on DNS. c-ares does the protocol
 * (A and AAAA through ares_getaddrinfo); its sockets and timeouts are
 * driven by gw_io and gw_timer of that loop (sock_state_cb says what to
 * watch, ares_process_fd is handed the readiness, ares_timeout arms one
 * timer).
 *
 * One px_dns_name per host lives in the proxy's registry (p->dns_mu) from
 * the first snapshot that names it until the proxy is freed; a snapshot's
 * view (struct px_dns) maps each backend id to its name. A name no view
 * holds is no longer resolved. An answer is every address returned, kept
 * sorted, re-resolved when its smallest TTL runs out, that TTL held within
 * [PX_DNS_TTL_MIN_MS, PX_DNS_TTL_MAX_MS]. A failed resolution (timeout,
 * SERVFAIL, a refused or unreachable server) keeps the last answer and
 * retries with backoff; NXDOMAIN or no address empties the answer (the
 * backend answers 503) and is asked again after NEGATIVE_MS.
 *
 * Sharing: workers read a name's answer under its own mutex, and only when
 * its version moved since they last copied it (an atomic load per pick
 * otherwise); the resolver thread alone writes answers and its own fields.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/eventfd.h>

#include <ares.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy/internal.h"

#include "base/banned.h"

#define NEGATIVE_MS   5000
#define BACKOFF_MIN   1000
#define BACKOFF_MAX   30000
#define IDLE_MS       1000
#define MAX_SOCKS     16
#define MAX_ADDRS     64
#define QUERY_TIMEOUT 1000 /* per try, milliseconds */
#define QUERY_TRIES   2

struct sock {
    struct gw_io io;
    struct px_resolver *r;
    bool used;
};

struct px_resolver {
    struct gw_proxy *p;
    pthread_t thread;
    struct gw_loop *loop;
    int evfd;
    struct gw_io evio;
    struct gw_timer tick;
    struct gw_timer ares_timer;
    ares_channel ch;
    struct sock socks[MAX_SOCKS];
    atomic_bool stop;
};

/* ------------------------------------------------------------------------ */
/* Registry and views (control thread)                                       */

static struct px_dns_name *
name_get(struct gw_proxy *p, const char *host)
{
    for (struct px_dns_name *n = p->dns_names; n; n = n->next)
        if (!strcmp(n->host, host))
            return n;
    struct px_dns_name *n = gw_xcalloc(1, sizeof(*n));
    n->host = gw_xstrdup(host);
    pthread_mutex_init(&n->mu, NULL);
    n->backoff_ms = BACKOFF_MIN;
    n->next = p->dns_names;
    p->dns_names = n;
    return n;
}

static void
visit(struct gw_proxy *p, struct px_dns *d, const struct gw_ir_backend *b)
{
    if (!b || !b->dns_host || b->invalid || b->id >= d->nb || d->by_backend[b->id])
        return;
    struct px_dns_name *n = name_get(p, b->dns_host);
    n->refs++;
    d->by_backend[b->id] = n;
}

struct px_dns *
px_dns_new(struct gw_proxy *p, const struct gw_ir *ir)
{
    struct px_dns *d = NULL;
    bool any = false;
    pthread_mutex_lock(&p->dns_mu);
    for (int pass = 0; pass < 2 && (pass == 0 || any); pass++) {
        if (pass == 1) {
            d = gw_xcalloc(1, sizeof(*d) + ir->nbackend_ids * sizeof(d->by_backend[0]));
            d->nb = ir->nbackend_ids;
        }
        for (size_t i = 0; i < ir->nports; i++) {
            const struct gw_ir_port *pt = &ir->ports[i];
            for (size_t l = 0; l < pt->nlisteners; l++) {
                const struct gw_ir_listener *li = &pt->listeners[l];
                for (size_t v = 0; v < li->nvhosts; v++) {
                    const struct gw_ir_vhost *vh = &li->vhosts[v];
                    for (size_t r = 0; r < vh->nroutes; r++) {
                        const struct gw_ir_route *rt = &vh->routes[r];
                        for (size_t k = 0; k < rt->nbackends; k++) {
                            any |= rt->backends[k].dns_host != NULL;
                            if (d)
                                visit(p, d, &rt->backends[k]);
                        }
                        for (size_t f = 0; f < rt->nfilters; f++) {
                            const struct gw_ir_backend *m = rt->filters[f].mirror;
                            any |= m && m->dns_host;
                            if (d)
                                visit(p, d, m);
                        }
                    }
                }
            }
        }
    }
    pthread_mutex_unlock(&p->dns_mu);
    if (d && p->resolver) {
        uint64_t one = 1;
        ssize_t w = write(p->resolver->evfd, &one, sizeof(one));
        (void)w;
    }
    return d;
}

void
px_dns_free(struct gw_proxy *p, struct px_dns *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&p->dns_mu);
    for (uint32_t i = 0; i < d->nb; i++)
        if (d->by_backend[i])
            d->by_backend[i]->refs--;
    pthread_mutex_unlock(&p->dns_mu);
    free(d);
}

void
px_dns_registry_free(struct gw_proxy *p)
{
    while (p->dns_names) {
        struct px_dns_name *n = p->dns_names;
        p->dns_names = n->next;
        pthread_mutex_destroy(&n->mu);
        free(n->ips);
        free(n->host);
        free(n);
    }
}

/* ------------------------------------------------------------------------ */
/* Answers (resolver thread)                                                 */

static int
ip_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Makes v[0..n) (sorted) n's answer; true when it changed. */
static bool
answer_set(struct px_dns_name *n, char (*v)[PX_DNS_IP_LEN], size_t cnt)
{
    bool same = atomic_load_explicit(&n->resolved, memory_order_relaxed) && cnt == n->n &&
                (!cnt || !memcmp(v, n->ips, cnt * sizeof(*v)));
    if (same)
        return false;
    char(*copy)[PX_DNS_IP_LEN] = NULL;
    if (cnt) {
        copy = gw_xmalloc(cnt * sizeof(*copy));
        memcpy(copy, v, cnt * sizeof(*copy));
    }
    pthread_mutex_lock(&n->mu);
    char(*old)[PX_DNS_IP_LEN] = n->ips;
    n->ips = copy;
    n->n = cnt;
    atomic_fetch_add_explicit(&n->version, 1, memory_order_release);
    pthread_mutex_unlock(&n->mu);
    atomic_store_explicit(&n->resolved, true, memory_order_release);
    free(old);
    return true;
}

static void
bump(atomic_uint_fast64_t *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static void
on_answer(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
    (void)timeouts;
    struct px_dns_name *n = arg;
    struct px_resolver *r = n->resolver;
    n->busy = false;
    if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED) {
        if (res)
            ares_freeaddrinfo(res);
        return;
    }
    gw_loop_update_time(r->loop);
    uint64_t now = gw_loop_now(r->loop);
    const struct gw_proxy_opts *o = &r->p->o;
    if (status == ARES_SUCCESS && res && res->nodes) {
        char v[MAX_ADDRS][PX_DNS_IP_LEN];
        size_t cnt = 0;
        int64_t ttl = INT64_MAX;
        for (struct ares_addrinfo_node *a = res->nodes; a && cnt < MAX_ADDRS; a = a->ai_next) {
            const void *src =
                a->ai_family == AF_INET
                    ? (const void *)&((struct sockaddr_in *)(void *)a->ai_addr)->sin_addr
                    : (const void *)&((struct sockaddr_in6 *)(void *)a->ai_addr)->sin6_addr;
            if ((a->ai_family != AF_INET && a->ai_family != AF_INET6) ||
                !inet_ntop(a->ai_family, src, v[cnt], sizeof(v[cnt])))
                continue;
            if ((int64_t)a->ai_ttl * 1000 < ttl)
                ttl = (int64_t)a->ai_ttl * 1000;
            cnt++;
        }
        qsort(v, cnt, sizeof(v[0]), ip_cmp);
        size_t u = 0; /* the same address twice (A answers in two CNAME paths) */
        for (size_t i = 0; i < cnt; i++)
            if (!u || strcmp(v[u - 1], v[i]))
                memmove(v[u++], v[i], sizeof(v[0]));
        ares_freeaddrinfo(res);
        if (ttl < (int64_t)o->dns_ttl_min_ms)
            ttl = o->dns_ttl_min_ms;
        if (ttl > (int64_t)o->dns_ttl_max_ms)
            ttl = o->dns_ttl_max_ms;
        bool was_failing = n->failing;
        n->failing = false;
        n->backoff_ms = BACKOFF_MIN;
        n->due = now + (uint64_t)ttl;
        bump(&n->ok);
        if (answer_set(n, v, u) || was_failing)
            gw_log_info("proxy: dns: %s: %zu address%s, next in %" PRId64 " ms", n->host, u,
                        u == 1 ? "" : "es", ttl);
        return;
    }
    if (res)
        ares_freeaddrinfo(res);
    if (status == ARES_ENOTFOUND || status == ARES_ENODATA || status == ARES_SUCCESS) {
        bump(&n->nxdomain);
        n->due = now + NEGATIVE_MS;
        n->backoff_ms = BACKOFF_MIN;
        if (answer_set(n, NULL, 0) || !n->failing)
            gw_log_warn("proxy: dns: %s: %s: its backends answer 503 until it resolves", n->host,
                        status == ARES_ENOTFOUND ? "NXDOMAIN (no such name)" : "no address");
        n->failing = true;
        return;
    }
    bump(&n->failed);
    n->due = now + n->backoff_ms;
    if (!n->failing)
        gw_log_warn("proxy: dns: %s: %s: keeping the last answer (%zu address%s), retrying",
                    n->host, ares_strerror(status), n->n, n->n == 1 ? "" : "es");
    n->failing = true;
    n->backoff_ms = GW_MIN(n->backoff_ms * 2, BACKOFF_MAX);
}

/* ------------------------------------------------------------------------ */
/* c-ares on the loop                                                        */

static void ares_rearm(struct px_resolver *r);

static void
on_sock(struct gw_io *io, unsigned ev)
{
    struct sock *s = io->data;
    struct px_resolver *r = s->r;
    int fd = io->fd;
    ares_process_fd(r->ch, ev & (GW_LOOP_READ | GW_LOOP_ERROR) ? fd : ARES_SOCKET_BAD,
                    ev & GW_LOOP_WRITE ? fd : ARES_SOCKET_BAD);
    ares_rearm(r);
}

/* c-ares's wish for socket fd. It closes its sockets itself, right after
 * saying (0, 0): the io only stops watching (never gw_io_close). */
static void
sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
    struct px_resolver *r = data;
    struct sock *s = NULL, *free_slot = NULL;
    for (size_t i = 0; i < MAX_SOCKS && !s; i++) {
        if (r->socks[i].used && r->socks[i].io.fd == fd)
            s = &r->socks[i];
        else if (!r->socks[i].used && !free_slot)
            free_slot = &r->socks[i];
    }
    if (!readable && !writable) {
        if (s) {
            gw_io_set(&s->io, 0);
            s->used = false;
        }
        return;
    }
    if (!s) {
        if (!free_slot)
            return; /* more sockets than slots: that query times out */
        s = free_slot;
        s->used = true;
        s->r = r;
        gw_io_init(r->loop, &s->io, fd, on_sock, s);
    }
    gw_io_set(&s->io, (readable ? GW_LOOP_READ : 0u) | (writable ? GW_LOOP_WRITE : 0u));
}

static void
ares_rearm(struct px_resolver *r)
{
    struct timeval tv, *tvp = ares_timeout(r->ch, NULL, &tv);
    if (!tvp) {
        gw_timer_stop(&r->ares_timer);
        return;
    }
    gw_timer_start(&r->ares_timer,
                   (uint64_t)tvp->tv_sec * 1000 + (uint64_t)tvp->tv_usec / 1000 + 1);
}

static void
on_ares_timer(struct gw_timer *t)
{
    struct px_resolver *r = t->data;
    ares_process_fd(r->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    ares_rearm(r);
}

/* Starts the queries that are due; the tick comes back for the next. */
static void
schedule(struct px_resolver *r)
{
    struct gw_proxy *p = r->p;
    gw_loop_update_time(r->loop);
    uint64_t now = gw_loop_now(r->loop), next = now + IDLE_MS;
    struct px_dns_name *due[64];
    size_t ndue = 0;
    pthread_mutex_lock(&p->dns_mu);
    for (struct px_dns_name *n = p->dns_names; n; n = n->next) {
        if (!n->refs || n->busy)
            continue;
        if (n->due <= now && ndue < GW_ARRAY_LEN(due)) {
            n->busy = true;
            due[ndue++] = n;
        } else if (n->due < next) {
            next = n->due > now ? n->due : now + 1;
        }
    }
    pthread_mutex_unlock(&p->dns_mu);
    /* Outside the lock: names live as long as the proxy, and c-ares may
     * answer at once (from /etc/hosts, or a query that cannot be sent). */
    struct ares_addrinfo_hints hints = {.ai_family = AF_UNSPEC, .ai_flags = ARES_AI_NOSORT};
    for (size_t i = 0; i < ndue; i++) {
        due[i]->resolver = r;
        ares_getaddrinfo(r->ch, due[i]->host, NULL, &hints, on_answer, due[i]);
    }
    ares_rearm(r);
    gw_timer_start(&r->tick, ndue == GW_ARRAY_LEN(due) ? 1 : next - now);
}

static void
on_tick(struct gw_timer *t)
{
    schedule(t->data);
}

static void
on_wake(struct gw_io *io, unsigned ev)
{
    (void)ev;
    struct px_resolver *r = io->data;
    uint64_t v;
    ssize_t n = read(r->evfd, &v, sizeof(v));
    (void)n;
    if (atomic_load(&r->stop)) {
        gw_loop_stop(r->loop);
        return;
    }
    schedule(r);
}

static void *
resolver_main(void *arg)
{
    struct px_resolver *r = arg;
    schedule(r);
    gw_loop_run(r->loop);
    return NULL;
}

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

static void
lib_init(void)
{
    ares_library_init(ARES_LIB_INIT_ALL);
}

int
px_dns_start(struct gw_proxy *p)
{
    pthread_once(&lib_once, lib_init);
    struct px_resolver *r = gw_xcalloc(1, sizeof(*r));
    r->p = p;
    r->evfd = -1;
    int rc = gw_loop_new_epoll(&r->loop);
    if (rc < 0)
        goto fail;
    struct ares_options ao = {
        .sock_state_cb = sock_state,
        .sock_state_cb_data = r,
        .timeout = QUERY_TIMEOUT,
        .tries = QUERY_TRIES,
    };
    int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
    if (ares_init_options(&r->ch, &ao, mask) != ARES_SUCCESS) {
        rc = GW_ENOMEM;
        r->ch = NULL;
        goto fail;
    }
    if (p->o.dns_servers && ares_set_servers_ports_csv(r->ch, p->o.dns_servers) != ARES_SUCCESS) {
        rc = GW_EINVAL;
        goto fail;
    }
    r->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (r->evfd < 0) {
        rc = GW_ENOMEM;
        goto fail;
    }
    gw_io_init(r->loop, &r->evio, r->evfd, on_wake, r);
    gw_io_set(&r->evio, GW_LOOP_READ);
    gw_timer_init(r->loop, &r->tick, on_tick, r);
    gw_timer_init(r->loop, &r->ares_timer, on_ares_timer, r);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int prc = pthread_create(&r->thread, NULL, resolver_main, r);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (prc != 0) {
        rc = GW_ENOMEM;
        goto fail;
    }
    p->resolver = r;
    return 0;
fail:
    if (r->ch)
        ares_destroy(r->ch);
    if (r->evfd >= 0)
        gw_io_close(&r->evio, NULL);
    gw_loop_free(r->loop);
    free(r);
    return rc;
}

void
px_dns_stop(struct gw_proxy *p)
{
    struct px_resolver *r = p->resolver;
    if (!r)
        return;
    atomic_store(&r->stop, true);
    uint64_t one = 1;
    ssize_t w = write(r->evfd, &one, sizeof(one));
    (void)w;
    pthread_join(r->thread, NULL);
    /* Outstanding queries end here with ARES_EDESTRUCTION (on_answer
     * touches nothing then), and their sockets are closed by c-ares. */
    ares_destroy(r->ch);
    gw_timer_stop(&r->tick);
    gw_timer_stop(&r->ares_timer);
    for (size_t i = 0; i < MAX_SOCKS; i++)
        if (r->socks[i].used)
            gw_io_set(&r->socks[i].io, 0);
    gw_io_close(&r->evio, NULL);
    gw_loop_free(r->loop);
    free(r);
    p->resolver = NULL;
}

/* ------------------------------------------------------------------------ */
/* Metrics                                                                   */

int
px_dns_metrics_format(const struct gw_proxy *cp, struct gw_buf *out)
{
    struct gw_proxy *p = (struct gw_proxy *)cp;
    int rc = 0;
    pthread_mutex_lock(&p->dns_mu);
    if (p->dns_names)
        rc = gw_buf_append_cstr(out, "# HELP gatehouse_dns_resolutions_total XBackend hostname "
                                     "resolutions by result.\n"
                                     "# TYPE gatehouse_dns_resolutions_total counter\n");
    for (struct px_dns_name *n = p->dns_names; n && rc == 0; n = n->next) {
        rc = gw_buf_appendf(
            out,
            "gatehouse_dns_resolutions_total{hostname=\"%s\",result=\"ok\"} %" PRIu64 "\n"
            "gatehouse_dns_resolutions_total{hostname=\"%s\",result=\"nxdomain\"} "
            "%" PRIu64 "\n"
            "gatehouse_dns_resolutions_total{hostname=\"%s\",result=\"error\"} %" PRIu64 "\n",
            n->host, (uint64_t)atomic_load(&n->ok), n->host, (uint64_t)atomic_load(&n->nxdomain),
            n->host, (uint64_t)atomic_load(&n->failed));
    }
    if (p->dns_names && rc == 0)
        rc = gw_buf_append_cstr(out, "# HELP gatehouse_dns_endpoints Addresses of the last good "
                                     "answer for an XBackend hostname.\n"
                                     "# TYPE gatehouse_dns_endpoints gauge\n");
    for (struct px_dns_name *n = p->dns_names; n && rc == 0; n = n->next) {
        pthread_mutex_lock(&n->mu);
        size_t cnt = n->n;
        pthread_mutex_unlock(&n->mu);
        rc = gw_buf_appendf(out, "gatehouse_dns_endpoints{hostname=\"%s\"} %zu\n", n->host, cnt);
    }
    pthread_mutex_unlock(&p->dns_mu);
    return rc;
}
