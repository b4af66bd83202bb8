/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `gatehouse run -f DIR` (the standalone gateway) and `gatehouse run
 * --kubernetes`. The control thread runs one loop with the configuration
 * source behind one interface (struct gw_feed: the directory's inotify,
 * SIGHUP and debounce, or the API server's lists and watches), the admin
 * server and the stop signals; the proxy's workers serve every programmed
 * listener. Each reload publishes a new IR to the proxy in one atomic swap.
 * SIGTERM or SIGINT drains: the listeners close, in-flight requests get up
 * to the drain deadline, and the process exits 0.
 *
 * Start-up order matters: the admin port is bound first (a taken port fails
 * before any work), the stop and SIGHUP signals are blocked before the
 * workers start (threads inherit the mask), and the watch is in place
 * before the first scan (no change is lost in between).
 */
#include <arpa/inet.h>
#include <sys/socket.h>

#include <getopt.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin/admin.h"
#include "base/base.h"
#include "cmd/cmd.h"
#include "config/config.h"
#include "ir/ir.h"
#include "k8s/k8s.h"
#include "loop/loop.h"
#include "proxy/proxy.h"
#include "source/source.h"
#include "status/status.h"
#include "trace/trace.h"

#include "base/banned.h"

/* The proxy's events fd says when a publish is programmed; the timer is
 * only a safety net. */
#define PROGRAMMED_POLL_MS 100
/* Dead snapshots are freed this long after the event that reports them:
 * not while the workers serve their first requests on the new one. */
#define RECLAIM_DELAY_MS 20

struct run {
    struct gw_loop *loop;
    struct gw_feed feed; /* the configuration source, files or Kubernetes */
    bool has_feed;
    struct gw_proxy *proxy;
    struct gw_admin *admin;
    bool started;         /* the proxy's workers run */
    bool published;       /* the first configuration went to the proxy */
    bool programmed;      /* ... and every worker serves the latest one */
    bool pending;         /* the latest publish is not known programmed yet */
    uint64_t publish_ms;  /* loop time of the latest publish */
    double start_time;    /* process start, seconds since the epoch */
    struct gw_timer poll; /* until the latest publish is programmed */
    struct gw_io pev;     /* gw_proxy_events_fd */
    bool pev_open;
    struct gw_timer reclaim; /* frees dead snapshots */
};

static void
run_usage(FILE *f)
{
    fprintf(f, "usage: gatehouse run -f DIR [options]\n"
               "       gatehouse run --kubernetes [--kubeconfig PATH] [options]\n"
               "\n"
               "Serves the Gateway API objects under DIR (every *.yaml, *.yml and *.json,\n"
               "recursively) and reloads when a file changes or on SIGHUP. A file that no\n"
               "longer parses keeps its last good version in force; an invalid object is\n"
               "left out alone. SIGTERM or SIGINT drains in-flight requests and exits.\n"
               "\n"
               "With --kubernetes, lists and watches the objects of an API server instead,\n"
               "and writes the statuses of the objects it owns back (the replica holding\n"
               "the leader Lease does; every replica serves traffic).\n"
               "\n"
               "  -f, --filename DIR         the manifest directory (or one file's directory)\n"
               "      --address-pool CIDR    addresses for Gateways without spec.addresses\n"
               "      --workers N            data-plane threads (default: one per CPU)\n"
               "      --admin ADDR:PORT      admin server (default 127.0.0.1:9901): /healthz,\n"
               "                             /readyz, /status, /config, /metrics, /health\n"
               "      --log-format FORMAT    text (default) or json\n"
               "      --access-log FORMAT    off (default), text or json, on stdout\n"
               "      --controller-name NAME the GatewayClass controllerName to own\n"
               "                             (default " GW_CONTROLLER_NAME ")\n"
               "      --io BACKEND           the data plane's socket I/O: uring (default;\n"
               "                             io_uring, or epoll where the kernel refuses it)\n"
               "                             or epoll; default from $GATEHOUSE_IO\n"
               "      --tunnel-idle-timeout D  close an upgraded (WebSocket) tunnel after D\n"
               "                             with no byte either way (default 1h; 0s: never)\n"
               "      --max-endpoint-connections N  upstream connections each worker may\n"
               "                             open to one endpoint; a request over it\n"
               "                             answers 503 at once (default 1024; 0: none)\n"
               "      --merge-slashes        merge each run of '/' in a request path into one,\n"
               "                             before routing: routes and upstreams see the\n"
               "                             merged path (default: forwarded as sent)\n"
               "      --header-timeout D     a request head (an HTTP/2 stream: its head or\n"
               "                             the start of its body) must arrive within D\n"
               "                             (default 10s)\n"
               "      --idle-timeout D       close a keep-alive connection idle for D; an\n"
               "                             HTTP/2 one whose streams made no progress for\n"
               "                             D, whatever PINGs it sends (default 15s)\n"
               "      --redis HOST:PORT|PATH Redis for RateLimitPolicy limits of scope Global\n"
               "                             (a host name is resolved once, at start; a\n"
               "                             path is a unix socket). Without it, a policy\n"
               "                             with a Global limit is not Accepted (Invalid)\n"
               "      --redis-password-file F  AUTH with the password in F\n"
               "      --redis-timeout D      how long a request waits for Redis's verdict\n"
               "                             before the limit's failureMode decides\n"
               "                             (default 20ms)\n"
               "      --dns-server A[,A...]  DNS servers (IP or IP:PORT, [IPv6]:PORT) that\n"
               "                             resolve XBackend hostnames (default: the\n"
               "                             nameservers of /etc/resolv.conf)\n"
               "      --dns-min-ttl D        re-resolve an XBackend hostname no sooner than D\n"
               "                             after an answer, whatever its TTL (default 1s)\n"
               "      --dns-max-ttl D        and no later than D (default 5m)\n"
               "  -h, --help                 this text\n"
               "\n");
    fprintf(f, "Tracing (W3C Trace Context, OTLP/HTTP JSON; off without an endpoint):\n"
               "      --otlp-endpoint URL    the collector, http://HOST[:PORT][/PATH]\n"
               "                             (default path /v1/traces; no https)\n"
               "      --trace-sample-ratio R the share of new traces sampled, 0..1 (default\n"
               "                             0); a request's sampled parent is followed\n"
               "      --service-name NAME    service.name of the spans (default gatehouse)\n"
               "      --otlp-batch N         spans per export batch, 1..1024 (default 512)\n"
               "      --otlp-interval D      the longest a span waits for its batch\n"
               "                             (default 1s)\n"
               "\n");
    /* Two literals: one would pass the 4095 bytes C11 promises. */
    fprintf(f, "Kubernetes mode:\n"
               "      --kubernetes           watch an API server instead of a directory\n"
               "      --kubeconfig PATH      kubeconfig (default: in-cluster configuration in\n"
               "                             a pod, else $KUBECONFIG or ~/.kube/config)\n"
               "      --context NAME         kubeconfig context (default: current-context)\n"
               "      --service-account-dir DIR  in-cluster token, ca.crt and namespace\n"
               "                             (default /var/run/secrets/kubernetes.io/"
               "serviceaccount)\n"
               "      --watch-namespaces A,B only these namespaces (default: all)\n"
               "      --lease-namespace NS   the leader Lease's namespace (default: the pod's,\n"
               "                             else default)\n"
               "      --lease-name NAME      the leader Lease (default gatehouse)\n"
               "      --no-leader-elect      write status without a Lease (one replica only)\n"
               "      --gateway-service NS/NAME  the Service fronting the gatehouse pods:\n"
               "                             Gateways without spec.addresses report its\n"
               "                             addresses\n"
               "      --no-gateway-services  generate no Service per Gateway (by default each\n"
               "                             Gateway of ours gets one, owned by it, which\n"
               "                             gives it its address and maps its listener ports)\n"
               "      --gateway-port-base N  the pods' ports for Gateways that share the\n"
               "                             wildcard address, from N up (default 20000)\n"
               "      --gateway-pod-selector K=V[,K=V]  the gatehouse pods' labels, which the\n"
               "                             generated Services select (default\n"
               "                             app.kubernetes.io/name=gatehouse)\n"
               "      --status-qps Q         status writes per second (default 50)\n"
               "      --status-burst N       status write burst (default 100)\n"
               "\n"
               "Environment: GATEHOUSE_URING_BUFS=N, the 4 KiB receive buffers each io_uring\n"
               "worker shares among its connections (a power of two, default 512); with\n"
               "none free, a connection reads by readiness into its own memory.\n");
}

/* ------------------------------------------------------------------------ */
/* Glue between the source, the proxy and the admin server                  */

/* Logs the latest publish as programmed once every worker serves it. */
static void
check_programmed(struct run *r)
{
    if (!r->pending || !gw_proxy_is_current(r->proxy))
        return;
    r->pending = false;
    gw_timer_stop(&r->poll);
    bool first = !r->programmed;
    r->programmed = true;
    struct gw_buf errs;
    gw_buf_init(&errs, 64 * 1024);
    gw_proxy_port_errors(r->proxy, &errs);
    for (char *line = errs.p, *nl; line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        if (*line)
            gw_log_error("listener: %s", line);
    }
    gw_buf_release(&errs);
    gw_log_info("%s programmed in %llu ms", first ? "configuration" : "new configuration",
                (unsigned long long)(gw_loop_now(r->loop) - r->publish_ms));
    if (first)
        gw_log_info("ready: %.3f s after start", gw_clock_real() - r->start_time);
}

static void
on_poll(struct gw_timer *t)
{
    struct run *r = t->data;
    check_programmed(r);
    if (r->pending)
        gw_timer_start(&r->poll, PROGRAMMED_POLL_MS);
}

static void
on_reclaim(struct gw_timer *t)
{
    struct run *r = t->data;
    gw_proxy_reclaim(r->proxy);
}

/* A worker adopted a snapshot or dropped the last pin of one. */
static void
on_proxy_event(struct gw_io *io, unsigned events)
{
    (void)events;
    struct run *r = io->data;
    if (gw_proxy_events_read(r->proxy) && !gw_timer_is_active(&r->reclaim))
        gw_timer_start(&r->reclaim, RECLAIM_DELAY_MS);
    check_programmed(r);
}

static void
on_publish(void *data, struct gw_ir *ir)
{
    struct run *r = data;
    r->pending = true;
    gw_proxy_publish(r->proxy, ir);
    r->published = true;
    gw_loop_update_time(r->loop);
    r->publish_ms = gw_loop_now(r->loop);
    gw_timer_start(&r->poll, PROGRAMMED_POLL_MS);
}

static bool
hook_ready(void *data)
{
    struct run *r = data;
    return r->published && gw_proxy_is_current(r->proxy) && r->feed.is_synced(r->feed.self);
}

static int
hook_status(void *data, struct gw_buf *out)
{
    struct run *r = data;
    return r->feed.status_format(r->feed.self, out);
}

static int
hook_config(void *data, struct gw_buf *out)
{
    struct run *r = data;
    return gw_admin_ir_format_json(r->feed.ir(r->feed.self), out);
}

static int
hook_metrics(void *data, struct gw_buf *out)
{
    struct run *r = data;
    int rc = gw_buf_appendf(out,
                            "# HELP gatehouse_build_info Version of the running binary.\n"
                            "# TYPE gatehouse_build_info gauge\n"
                            "gatehouse_build_info{version=\"%s\"} 1\n"
                            "# HELP gatehouse_start_time_seconds When the process started.\n"
                            "# TYPE gatehouse_start_time_seconds gauge\n"
                            "gatehouse_start_time_seconds %.3f\n"
                            "# HELP gatehouse_ready Whether the latest configuration is "
                            "programmed on every worker.\n"
                            "# TYPE gatehouse_ready gauge\n"
                            "gatehouse_ready %d\n",
                            GW_VERSION, r->start_time, hook_ready(r) ? 1 : 0);
    if (rc == 0)
        rc = r->feed.metrics_format(r->feed.self, out);
    if (rc == 0)
        rc = gw_proxy_metrics_format(r->proxy, out);
    return rc;
}

static int
hook_health(void *data, struct gw_buf *out)
{
    struct run *r = data;
    return gw_proxy_health_format(r->proxy, out);
}

/* ------------------------------------------------------------------------ */
/* The command                                                              */

/* Long options without a short one. */
enum { OPT_DNS_SERVER = 256, OPT_DNS_MIN_TTL, OPT_DNS_MAX_TTL };

enum {
    OPT_OTLP_ENDPOINT = 300,
    OPT_TRACE_RATIO,
    OPT_SERVICE_NAME,
    OPT_OTLP_BATCH,
    OPT_OTLP_INTERVAL
};

/* --dns-server: comma-separated IP, IP:PORT or [IPv6]:PORT (what
 * ares_set_servers_ports_csv takes), checked here for a clear message. */
static bool
dns_servers_ok(const char *v)
{
    char item[80];
    while (*v) {
        size_t n = strcspn(v, ",");
        if (n == 0 || n >= sizeof(item))
            return false;
        memcpy(item, v, n);
        item[n] = '\0';
        v += n + (v[n] == ',');
        char *host = item, *port = NULL;
        if (*host == '[') {
            char *end = strchr(host, ']');
            if (!end || (end[1] && end[1] != ':'))
                return false;
            *end = '\0';
            host++;
            port = end[1] ? end + 2 : NULL;
        } else if (strchr(host, ':') == strrchr(host, ':') && strchr(host, ':')) {
            port = strchr(host, ':');
            *port++ = '\0';
        }
        unsigned char buf[16];
        if (inet_pton(AF_INET, host, buf) != 1 && inet_pton(AF_INET6, host, buf) != 1)
            return false;
        if (port) {
            char *end;
            unsigned long p = strtoul(port, &end, 10);
            if (!*port || *end || p < 1 || p > 65535)
                return false;
        }
    }
    return true;
}

/* --redis: a unix socket path (starts with '/'), or HOST:PORT ([v6]:PORT)
 * resolved here, once: the workers connect to a numeric address and never
 * wait for DNS. host (cap bytes) receives it. */
static int
redis_addr_parse(const char *v, char *host, size_t cap, struct gw_proxy_opts *o)
{
    if (v[0] == '/') {
        o->redis_path = v;
        o->redis_host = NULL;
        return 0;
    }
    const char *colon = strrchr(v, ':');
    uint64_t port;
    if (!colon || colon == v || gw_str_to_u64(gw_str_from(colon + 1), 65535, &port) < 0 ||
        port == 0)
        return GW_EINVAL;
    char name[256];
    const char *h = v;
    size_t n = (size_t)(colon - v);
    if (n >= 2 && v[0] == '[' && v[n - 1] == ']') {
        h++;
        n -= 2;
    }
    if (n == 0 || n >= sizeof(name))
        return GW_EINVAL;
    memcpy(name, h, n);
    name[n] = '\0';
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(name, NULL, &hints, &ai) != 0 || !ai)
        return GW_EINVAL;
    int rc =
        getnameinfo(ai->ai_addr, ai->ai_addrlen, host, (socklen_t)cap, NULL, 0, NI_NUMERICHOST);
    freeaddrinfo(ai);
    if (rc != 0)
        return GW_EINVAL;
    o->redis_host = host;
    o->redis_port = (uint16_t)port;
    o->redis_path = NULL;
    return 0;
}

/* A secret file's first line (heap), or NULL. */
static char *
read_secret(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    return buf[0] ? gw_xstrdup(buf) : NULL;
}

static int
parse_format(const char *what, const char *v, bool off_ok, int *out)
{
    if (!strcmp(v, "text"))
        *out = 1;
    else if (!strcmp(v, "json"))
        *out = 2;
    else if (off_ok && !strcmp(v, "off"))
        *out = 0;
    else {
        fprintf(stderr, "gatehouse run: %s must be %s, not '%s'\n", what,
                off_ok ? "json, text or off" : "json or text", v);
        return -1;
    }
    return 0;
}

int
gw_cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"filename", required_argument, NULL, 'f'},
        {"address-pool", required_argument, NULL, 'p'},
        {"workers", required_argument, NULL, 'w'},
        {"admin", required_argument, NULL, 'a'},
        {"log-format", required_argument, NULL, 'l'},
        {"access-log", required_argument, NULL, 'L'},
        {"controller-name", required_argument, NULL, 'c'},
        {"io", required_argument, NULL, 'i'},
        {"kubernetes", no_argument, NULL, 'K'},
        {"kubeconfig", required_argument, NULL, 'k'},
        {"context", required_argument, NULL, 'C'},
        {"service-account-dir", required_argument, NULL, 'S'},
        {"watch-namespaces", required_argument, NULL, 'n'},
        {"lease-namespace", required_argument, NULL, 'N'},
        {"lease-name", required_argument, NULL, 'E'},
        {"no-leader-elect", no_argument, NULL, 'X'},
        {"gateway-service", required_argument, NULL, 'G'},
        {"status-qps", required_argument, NULL, 'Q'},
        {"status-burst", required_argument, NULL, 'B'},
        {"no-gateway-services", no_argument, NULL, 'V'},
        {"gateway-port-base", required_argument, NULL, 'P'},
        {"gateway-pod-selector", required_argument, NULL, 'Z'},
        {"tunnel-idle-timeout", required_argument, NULL, 'T'},
        {"merge-slashes", no_argument, NULL, 'M'},
        {"max-endpoint-connections", required_argument, NULL, 'U'},
        {"header-timeout", required_argument, NULL, 'H'},
        {"idle-timeout", required_argument, NULL, 'I'},
        {"redis", required_argument, NULL, 'R'},
        {"redis-password-file", required_argument, NULL, 'W'},
        {"redis-timeout", required_argument, NULL, 'O'},
        {"dns-server", required_argument, NULL, OPT_DNS_SERVER},
        {"dns-min-ttl", required_argument, NULL, OPT_DNS_MIN_TTL},
        {"dns-max-ttl", required_argument, NULL, OPT_DNS_MAX_TTL},
        {"otlp-endpoint", required_argument, NULL, OPT_OTLP_ENDPOINT},
        {"trace-sample-ratio", required_argument, NULL, OPT_TRACE_RATIO},
        {"service-name", required_argument, NULL, OPT_SERVICE_NAME},
        {"otlp-batch", required_argument, NULL, OPT_OTLP_BATCH},
        {"otlp-interval", required_argument, NULL, OPT_OTLP_INTERVAL},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    char redis_host[64];
    const char *redis_pw_file = NULL;
    char *redis_password = NULL;
    struct run r = {.start_time = gw_clock_real()};
    const char *dir = NULL, *admin_text = "127.0.0.1:9901";
    struct gw_status_opts sopts = {0};
    struct gw_proxy_opts popts;
    gw_proxy_opts_default(&popts);
    int log_format = 1, access = 0, c;
    uint64_t workers = 0;
    const char *io = getenv("GATEHOUSE_IO");
    bool kube = false;
    struct gw_k8s_opts kopts = {0};
    const char *nsarg = NULL;
    char *nslist = NULL;
    const char **namespaces = NULL;
    optind = 1;
    while ((c = getopt_long(argc, argv, "f:h", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            dir = optarg;
            break;
        case 'p':
            sopts.address_pool = optarg;
            break;
        case 'w':
            if (gw_str_to_u64(gw_str_from(optarg), 1024, &workers) < 0 || workers == 0) {
                fprintf(stderr, "gatehouse run: --workers must be 1..1024, not '%s'\n", optarg);
                return 2;
            }
            break;
        case 'a':
            admin_text = optarg;
            break;
        case 'l':
            if (parse_format("--log-format", optarg, false, &log_format) < 0)
                return 2;
            break;
        case 'L':
            if (parse_format("--access-log", optarg, true, &access) < 0)
                return 2;
            break;
        case 'c':
            sopts.controller_name = optarg;
            break;
        case 'i':
            io = optarg;
            break;
        case 'K':
            kube = true;
            break;
        case 'k':
            kopts.kubeconfig = optarg;
            break;
        case 'C':
            kopts.context = optarg;
            break;
        case 'S':
            kopts.incluster_dir = optarg;
            break;
        case 'n':
            nsarg = optarg;
            break;
        case 'N':
            kopts.lease_ns = optarg;
            break;
        case 'E':
            kopts.lease_name = optarg;
            break;
        case 'X':
            kopts.no_leader_elect = true;
            break;
        case 'G':
            kopts.service = optarg;
            break;
        case 'Q': {
            char *end;
            kopts.qps = strtod(optarg, &end);
            if (*end || !(kopts.qps > 0 && kopts.qps <= 100000)) {
                fprintf(stderr,
                        "gatehouse run: --status-qps must be a number in (0, 100000], "
                        "not '%s'\n",
                        optarg);
                return 2;
            }
            break;
        }
        case 'B': {
            uint64_t b;
            if (gw_str_to_u64(gw_str_from(optarg), 100000, &b) < 0 || b == 0) {
                fprintf(stderr, "gatehouse run: --status-burst must be 1..100000, not '%s'\n",
                        optarg);
                return 2;
            }
            kopts.burst = (int)b;
            break;
        }
        case 'V':
            kopts.no_gateway_services = true;
            break;
        case 'P': {
            uint64_t v;
            if (gw_str_to_u64(gw_str_from(optarg), 65000, &v) < 0 || v < 1024) {
                fprintf(stderr,
                        "gatehouse run: --gateway-port-base must be 1024..65000, not "
                        "'%s'\n",
                        optarg);
                return 2;
            }
            kopts.gateway_port_base = (uint16_t)v;
            break;
        }
        case 'Z':
            kopts.pod_selector = optarg;
            break;
        case 'T': {
            int64_t ms;
            if (gw_duration_parse(gw_str_from(optarg), &ms) < 0 || ms > UINT32_MAX) {
                fprintf(stderr,
                        "gatehouse run: --tunnel-idle-timeout must be a duration (1h, 30s, "
                        "500ms...), not '%s'\n",
                        optarg);
                return 2;
            }
            popts.tunnel_idle_timeout_ms = (unsigned)ms;
            break;
        }
        case 'H':
        case 'I': {
            int64_t ms;
            if (gw_duration_parse(gw_str_from(optarg), &ms) < 0 || ms < 1 || ms > UINT32_MAX) {
                fprintf(stderr,
                        "gatehouse run: --%s must be a positive duration (10s, 500ms...), not "
                        "'%s'\n",
                        c == 'H' ? "header-timeout" : "idle-timeout", optarg);
                return 2;
            }
            if (c == 'H')
                popts.header_timeout_ms = (unsigned)ms;
            else
                popts.idle_timeout_ms = (unsigned)ms;
            break;
        }
        case 'M':
            popts.merge_slashes = true;
            break;
        case 'U': {
            uint64_t v;
            if (gw_str_to_u64(gw_str_from(optarg), UINT32_MAX, &v) < 0) {
                fprintf(stderr,
                        "gatehouse run: --max-endpoint-connections must be a number, not "
                        "'%s'\n",
                        optarg);
                return 2;
            }
            popts.max_endpoint_connections = (unsigned)v;
            break;
        }
        case 'R':
            if (redis_addr_parse(optarg, redis_host, sizeof(redis_host), &popts) < 0) {
                fprintf(stderr,
                        "gatehouse run: --redis must be HOST:PORT (a resolvable host) or a "
                        "socket path, not '%s'\n",
                        optarg);
                return 2;
            }
            sopts.global_ratelimits = true;
            break;
        case 'W':
            redis_pw_file = optarg;
            break;
        case 'O': {
            int64_t ms;
            if (gw_duration_parse(gw_str_from(optarg), &ms) < 0 || ms < 1 || ms > 60000) {
                fprintf(stderr,
                        "gatehouse run: --redis-timeout must be a duration in 1ms..60s, not "
                        "'%s'\n",
                        optarg);
                return 2;
            }
            popts.redis_timeout_ms = (unsigned)ms;
            break;
        }
        case OPT_DNS_SERVER:
            if (!dns_servers_ok(optarg)) {
                fprintf(stderr,
                        "gatehouse run: --dns-server must be IP, IP:PORT or [IPv6]:PORT "
                        "(comma-separated), not '%s'\n",
                        optarg);
                return 2;
            }
            popts.dns_servers = optarg;
            break;
        case OPT_DNS_MIN_TTL:
        case OPT_DNS_MAX_TTL: {
            int64_t ms;
            if (gw_duration_parse(gw_str_from(optarg), &ms) < 0 || ms < 100 || ms > 86400000) {
                fprintf(stderr, "gatehouse run: --%s must be a duration in 100ms..24h, not '%s'\n",
                        c == OPT_DNS_MIN_TTL ? "dns-min-ttl" : "dns-max-ttl", optarg);
                return 2;
            }
            if (c == OPT_DNS_MIN_TTL)
                popts.dns_ttl_min_ms = (unsigned)ms;
            else
                popts.dns_ttl_max_ms = (unsigned)ms;
            break;
        }
        case OPT_OTLP_ENDPOINT: {
            char h[256], path[256];
            uint16_t port;
            if (gw_trace_endpoint_parse(optarg, h, sizeof(h), &port, path, sizeof(path)) < 0) {
                fprintf(stderr,
                        "gatehouse run: --otlp-endpoint must be http://HOST[:PORT][/PATH], not "
                        "'%s'\n",
                        optarg);
                return 2;
            }
            popts.otlp_endpoint = optarg;
            break;
        }
        case OPT_TRACE_RATIO: {
            char *end = NULL;
            double v = strtod(optarg, &end);
            if (!end || *end || end == optarg || !(v >= 0 && v <= 1)) {
                fprintf(stderr,
                        "gatehouse run: --trace-sample-ratio must be a number in 0..1, not "
                        "'%s'\n",
                        optarg);
                return 2;
            }
            popts.trace_sample_ratio = v;
            break;
        }
        case OPT_SERVICE_NAME:
            popts.service_name = optarg;
            break;
        case OPT_OTLP_BATCH: {
            uint64_t v;
            if (gw_str_to_u64(gw_str_from(optarg), 1024, &v) < 0 || v == 0) {
                fprintf(stderr,
                        "gatehouse run: --otlp-batch must be a number in 1..1024, not '%s'\n",
                        optarg);
                return 2;
            }
            popts.otlp_batch = (unsigned)v;
            break;
        }
        case OPT_OTLP_INTERVAL: {
            int64_t ms;
            if (gw_duration_parse(gw_str_from(optarg), &ms) < 0 || ms < 10 || ms > 60000) {
                fprintf(stderr,
                        "gatehouse run: --otlp-interval must be a duration in 10ms..60s, not "
                        "'%s'\n",
                        optarg);
                return 2;
            }
            popts.otlp_interval_ms = (unsigned)ms;
            break;
        }
        case 'h':
            run_usage(stdout);
            return 0;
        default:
            run_usage(stderr);
            return 2;
        }
    }
    if ((!dir == !kube) || optind != argc) {
        if (dir && kube)
            fprintf(stderr, "gatehouse run: -f and --kubernetes are exclusive\n");
        run_usage(stderr);
        return 2;
    }
    if (!kube && (kopts.kubeconfig || kopts.context || kopts.incluster_dir || nsarg ||
                  kopts.lease_ns || kopts.lease_name || kopts.no_leader_elect || kopts.service ||
                  kopts.qps > 0 || kopts.burst || kopts.no_gateway_services ||
                  kopts.gateway_port_base || kopts.pod_selector)) {
        fprintf(stderr, "gatehouse run: the Kubernetes options need --kubernetes\n");
        return 2;
    }
    char admin_addr[64];
    uint16_t admin_port;
    if (gw_admin_addr_parse(admin_text, admin_addr, sizeof(admin_addr), &admin_port) < 0) {
        fprintf(stderr, "gatehouse run: --admin must be ADDR:PORT, not '%s'\n", admin_text);
        return 2;
    }
    bool uring = true;
    if (io && *io && strcmp(io, "uring") != 0) {
        if (strcmp(io, "epoll") != 0) {
            fprintf(stderr, "gatehouse run: --io must be uring or epoll, not '%s'\n", io);
            return 2;
        }
        uring = false;
    }
    const char *bufs = getenv("GATEHOUSE_URING_BUFS");
    if (bufs && *bufs) {
        uint64_t n;
        if (gw_str_to_u64(gw_str_from(bufs), 32768, &n) < 0 ||
            gw_loop_uring_set_buffers((unsigned)n) < 0) {
            fprintf(stderr,
                    "gatehouse run: GATEHOUSE_URING_BUFS must be a power of two in 16..32768, "
                    "not '%s'\n",
                    bufs);
            return 2;
        }
    }
    if (nsarg) {
        nslist = gw_xstrdup(nsarg);
        /* "a,b" -> {"a", "b", NULL}, empty entries dropped */
        size_t n = 1;
        for (const char *p = nslist; *p; p++)
            n += *p == ',';
        namespaces = gw_xcalloc(n + 1, sizeof(*namespaces));
        size_t k = 0;
        for (char *p = nslist, *comma; p; p = comma ? comma + 1 : NULL) {
            comma = strchr(p, ',');
            if (comma)
                *comma = '\0';
            if (*p)
                namespaces[k++] = p;
        }
        if (k == 0) {
            fprintf(stderr, "gatehouse run: --watch-namespaces names no namespace\n");
            free(namespaces);
            free(nslist);
            return 2;
        }
        kopts.namespaces = namespaces;
    }
    if (redis_pw_file) {
        if (!(popts.redis_host || popts.redis_path) ||
            !(redis_password = read_secret(redis_pw_file))) {
            fprintf(stderr, "gatehouse run: --redis-password-file: %s '%s'\n",
                    popts.redis_host || popts.redis_path ? "cannot read" : "needs --redis, for",
                    redis_pw_file);
            free(namespaces);
            free(nslist);
            return 2;
        }
        popts.redis_password = redis_password;
    }
    gw_log_set_json(log_format == 2);
    popts.workers = (unsigned)workers;
    popts.access_log = access == 2   ? GW_PROXY_LOG_JSON
                       : access == 1 ? GW_PROXY_LOG_TEXT
                                     : GW_PROXY_LOG_OFF;

    int status = 1, rc;
    if ((rc = gw_loop_new(&r.loop)) < 0) {
        gw_log_error("event loop: %s", gw_strerror(rc));
        free(namespaces);
        free(nslist);
        free(redis_password);
        return 1;
    }
    gw_timer_init(r.loop, &r.poll, on_poll, &r);
    gw_timer_init(r.loop, &r.reclaim, on_reclaim, &r);
    if (uring) {
        /* The workers' loops (made by the proxy from here on); this one,
         * the control plane's, stays on epoll. */
        int pr = gw_loop_uring_probe();
        if (pr < 0)
            gw_log_warn("io_uring unavailable (%s): the data plane uses epoll", gw_strerror(pr));
        else
            gw_loop_backend_set_default(GW_LOOP_URING);
        if (pr == 0)
            gw_log_info("data plane I/O: io_uring");
    }
    if ((rc = gw_loop_stop_on_signals(r.loop)) < 0) {
        gw_log_error("signals: %s", gw_strerror(rc));
        goto out;
    }
    static const struct gw_admin_hooks hooks_tmpl = {
        .is_ready = hook_ready,
        .status = hook_status,
        .config = hook_config,
        .metrics = hook_metrics,
        .health = hook_health,
    };
    struct gw_admin_hooks hooks = hooks_tmpl;
    hooks.data = &r;
    if ((rc = gw_admin_new(r.loop, admin_addr, admin_port, &hooks, &r.admin)) < 0) {
        gw_log_error("admin: listen on %s: %s", admin_text, gw_strerror(rc));
        goto out;
    }
    if ((rc = gw_proxy_new(&popts, &r.proxy)) < 0) {
        gw_log_error("proxy: %s", gw_strerror(rc));
        goto out;
    }
    if ((rc = gw_proxy_events_fd(r.proxy)) < 0) {
        gw_log_error("proxy: %s", gw_strerror(rc));
        goto out;
    }
    gw_io_init(r.loop, &r.pev, rc, on_proxy_event, &r);
    gw_io_set(&r.pev, GW_LOOP_READ);
    r.pev_open = true;
    if (kube) {
        struct gw_k8s_source *ks = NULL;
        char *err = NULL;
        kopts.status = &sopts;
        if ((rc = gw_k8s_source_new(&kopts, r.loop, &ks, &err)) < 0) {
            gw_log_error("kubernetes: %s", err ? err : gw_strerror(rc));
            free(err);
            goto out;
        }
        gw_k8s_source_feed(ks, &r.feed);
    } else {
        struct gw_source *fs = NULL;
        struct gw_source_opts srcopts = {.dir = dir, .status = &sopts};
        if ((rc = gw_source_new(&srcopts, &fs)) < 0) {
            gw_log_error("source: %s", gw_strerror(rc));
            goto out;
        }
        gw_source_feed(fs, &r.feed);
    }
    r.has_feed = true;
    r.feed.on_publish(r.feed.self, on_publish, &r);
    /* A directory is loaded here (and must translate); the API server's
     * objects come later, on the loop: the workers start without a
     * configuration and /readyz waits for the first one. */
    if ((rc = r.feed.start(r.feed.self, r.loop)) < 0)
        goto out;
    if ((rc = gw_proxy_start(r.proxy)) < 0) {
        gw_log_error("proxy: start: %s", gw_strerror(rc));
        goto out;
    }
    r.started = true;
    gw_log_info("gatehouse run: serving %s; admin on http://%s%s%s:%u",
                dir ? dir : "the Kubernetes API", strchr(admin_addr, ':') ? "[" : "",
                *admin_addr ? admin_addr : "0.0.0.0", strchr(admin_addr, ':') ? "]" : "",
                gw_admin_port(r.admin));
    if ((rc = gw_loop_run(r.loop)) < 0) {
        gw_log_error("event loop: %s", gw_strerror(rc));
        goto out;
    }
    gw_log_info("stopping: draining in-flight requests (up to %u ms)", popts.drain_timeout_ms);
    status = 0;
out:
    gw_timer_stop(&r.poll);
    gw_timer_stop(&r.reclaim);
    if (r.pev_open)
        gw_io_close(&r.pev, NULL);
    /* The admin server goes first: nothing answers /readyz during the drain. */
    gw_admin_free(r.admin);
    if (r.started)
        gw_proxy_drain(r.proxy);
    if (r.proxy)
        gw_proxy_free(r.proxy);
    if (r.has_feed)
        r.feed.free(r.feed.self);
    gw_loop_free(r.loop);
    free(namespaces);
    free(nslist);
    free(redis_password);
    if (status == 0)
        gw_log_info("stopped");
    return status;
}
