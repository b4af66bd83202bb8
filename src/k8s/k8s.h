/* SPDX-License-Identifier: Apache-2.0 */
/*
 * k8s: the Kubernetes source of `gatehouse run --kubernetes`. It lists and
 * watches every kind the translator reads from an API server (client-go's
 * reflector semantics), keeps the objects decoded once each, and on every
 * change builds a fresh store and runs the same debounced translate and
 * atomic publish as the directory source. The statuses of the objects
 * gatehouse owns are written back through the status subresource by the
 * replica that holds the leader Lease; every replica serves traffic.
 *
 * Everything runs on the control thread's loop; nothing is thread-safe.
 */
#ifndef GW_K8S_H
#define GW_K8S_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "source/source.h"

struct gw_loop;
struct gw_ir;
struct gw_status_opts;

struct gw_k8s_source;

/* The API client's library as loaded now ("libcurl 7.88.1 (OpenSSL/3.0.17,
 * HTTP/2)") into out; loads it (once per process) if it was not. Returns 0,
 * or -ELIBACC with out saying why it cannot be loaded. */
int gw_k8s_client_describe(char *out, size_t cap);

struct gw_k8s_opts {
    /* Where the API server is: kubeconfig (NULL: in-cluster when
     * KUBERNETES_SERVICE_HOST is set, else $KUBECONFIG or ~/.kube/config),
     * its context (NULL: current-context), the in-cluster directory (NULL:
     * /var/run/secrets/kubernetes.io/serviceaccount). Borrowed. */
    const char *kubeconfig;
    const char *context;
    const char *incluster_dir;
    /* Namespaces watched (NULL-terminated); NULL: all. Cluster-scoped
     * kinds are always watched whole. Borrowed. */
    const char *const *namespaces;
    /* Given to gw_status_translate; borrowed. */
    const struct gw_status_opts *status;
    /* Leader election: the Lease namespace/name; NULL ns: the pod's
     * namespace (in-cluster), else "default". name NULL: "gatehouse". */
    const char *lease_ns, *lease_name;
    bool no_leader_elect; /* write status without a Lease (one replica) */
    /* The Service that fronts the gatehouse pods ("ns/name"), whose
     * addresses Gateways without spec.addresses report. NULL: none. */
    const char *service;
    /* A Service per Gateway (services.c), its pods' ports from
     * gateway_port_base (0: 20000) up, selecting the pods by pod_selector
     * ("k=v,k=v"; NULL: app.kubernetes.io/name=gatehouse). */
    bool no_gateway_services;
    uint16_t gateway_port_base;
    const char *pod_selector;
    double qps;                /* status writes per second; 0: 50 */
    int burst;                 /* 0: 100 */
    uint64_t quiet_ms, max_ms; /* debounce; 0: 20 and 200 */
};

/* Reads the configuration (kubeconfig or in-cluster files) and makes the
 * client; no request yet. 0, or a negative code with a message in *err
 * (heap, the caller frees). */
int gw_k8s_source_new(const struct gw_k8s_opts *opts, struct gw_loop *loop,
                      struct gw_k8s_source **out, char **err);
void gw_k8s_source_free(struct gw_k8s_source *s);

/* Called after each translate that produced an IR, with the new snapshot
 * (borrowed: take a reference to keep it). */
void gw_k8s_source_on_publish(struct gw_k8s_source *s, gw_source_publish_fn fn, void *data);

/* Starts discovery, the lists and watches, and the leader election. */
int gw_k8s_source_start(struct gw_k8s_source *s);

/* Every kind's first list is in and the first configuration translated. */
bool gw_k8s_source_is_synced(const struct gw_k8s_source *s);
/* The current IR (NULL before the first translate); borrowed. */
struct gw_ir *gw_k8s_source_ir(const struct gw_k8s_source *s);
/* /status: the computed statuses as a List plus "errors" (as the
 * directory source's), and "kubernetes": leader, kinds synced. */
int gw_k8s_source_status_format(const struct gw_k8s_source *s, struct gw_buf *out);
/* Prometheus text: watch events and relists per kind, API requests by
 * code, status writes, leader, age of the last event per kind. */
int gw_k8s_source_metrics_format(const struct gw_k8s_source *s, struct gw_buf *out);

/* s as a feed (source/source.h): what `gatehouse run` calls. */
void gw_k8s_source_feed(struct gw_k8s_source *s, struct gw_feed *out);

#endif /* GW_K8S_H */
