/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for config: the store (add, get, iterate, duplicates, slices,
 * namespace labels), kinds and enums, durations, timestamps, selectors. */
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "tap.h"

#include "base/banned.h"

static struct gw_meta *
add(struct gw_store *s, enum gw_kind kind, const char *ns, const char *name, size_t size)
{
    struct gw_meta *m = gw_arena_alloc(gw_store_arena(s), size);
    m->kind = kind;
    m->ns = ns;
    m->name = gw_arena_strdup(gw_store_arena(s), name);
    m->pos = (struct gw_pos){gw_store_intern(s, "a.yaml"), 1, 1};
    return m;
}

static void
test_store(void)
{
    struct gw_store s;
    gw_store_init(&s);
    static const char *const names[] = {"b", "a", "c"};
    static const char *const nss[] = {"z", "a", "m"};
    for (size_t i = 0; i < 3; i++) {
        for (size_t j = 0; j < 3; j++) {
            struct gw_meta *m =
                add(&s, GW_KIND_HTTPROUTE, nss[i], names[j], sizeof(struct gw_httproute));
            is_int(gw_store_add(&s, m, NULL), 0, "add HTTPRoute %s/%s", nss[i], names[j]);
        }
    }
    is_int((long long)gw_store_count(&s, GW_KIND_HTTPROUTE), 9, "nine routes");
    size_t n = 0;
    const struct gw_meta *const *v = gw_store_list(&s, GW_KIND_HTTPROUTE, &n);
    bool sorted = n == 9;
    for (size_t i = 1; i < n; i++) {
        int c = strcmp(v[i - 1]->ns, v[i]->ns);
        if (c > 0 || (c == 0 && strcmp(v[i - 1]->name, v[i]->name) >= 0))
            sorted = false;
    }
    ok(sorted, "iteration is in namespace/name order");
    is_str(v[0]->ns, "a", "first namespace");
    is_str(v[0]->name, "a", "first name");

    const struct gw_meta *got = gw_store_get(&s, GW_KIND_HTTPROUTE, "m", "c");
    ok(got && strcmp(got->ns, "m") == 0 && strcmp(got->name, "c") == 0, "get by key");
    ok(!gw_store_get(&s, GW_KIND_GRPCROUTE, "m", "c"), "kind is part of the key");
    ok(!gw_store_get(&s, GW_KIND_HTTPROUTE, "m", "d"), "absent name");

    struct gw_meta *dup = add(&s, GW_KIND_HTTPROUTE, "m", "c", sizeof(struct gw_httproute));
    dup->pos.line = 7;
    const struct gw_meta *prev = NULL;
    is_int(gw_store_add(&s, dup, &prev), GW_EEXISTS, "duplicate key is EEXISTS");
    ok(prev == got, "duplicate reports the existing object");
    is_int((long long)gw_store_size(&s), 9, "duplicate not added");
    /* Each kind has its own table: the same ns/name of another kind is
     * another object, and the first lookup of a kind never added is NULL. */
    struct gw_meta *grpc = add(&s, GW_KIND_GRPCROUTE, "m", "c", sizeof(struct gw_grpcroute));
    is_int(gw_store_add(&s, grpc, NULL), 0, "same ns/name, other kind: added");
    ok(gw_store_get(&s, GW_KIND_GRPCROUTE, "m", "c") == grpc &&
           gw_store_get(&s, GW_KIND_HTTPROUTE, "m", "c") == got,
       "each kind finds its own");
    ok(!gw_store_get(&s, GW_KIND_TCPROUTE, "m", "c"), "a kind never added finds nothing");
    is_int((long long)gw_store_size(&s), 10, "size counts every kind");

    /* Cluster-scoped: namespace is not part of the key. */
    struct gw_meta *gc =
        add(&s, GW_KIND_GATEWAYCLASS, NULL, "gatehouse", sizeof(struct gw_gatewayclass));
    is_int(gw_store_add(&s, gc, NULL), 0, "add GatewayClass");
    ok(gw_store_gatewayclass(&s, "ignored", "gatehouse") != NULL, "cluster-scoped get ignores ns");

    /* Many objects: rehashing keeps everything findable. */
    for (int i = 0; i < 2000; i++) {
        char name[32];
        snprintf(name, sizeof(name), "svc-%04d", 1999 - i);
        gw_store_add(&s, add(&s, GW_KIND_SERVICE, "bulk", name, sizeof(struct gw_service)), NULL);
    }
    bool all = true;
    for (int i = 0; i < 2000; i++) {
        char name[32];
        snprintf(name, sizeof(name), "svc-%04d", i);
        all &= gw_store_service(&s, "bulk", name) != NULL;
    }
    ok(all, "2000 services all found after growth");
    gw_store_reserve(&s, GW_KIND_SERVICE, 10000);
    all = true;
    for (int i = 0; i < 2000; i++) {
        char name[32];
        snprintf(name, sizeof(name), "svc-%04d", i);
        all &= gw_store_service(&s, "bulk", name) != NULL;
    }
    ok(all, "and after a reserve");
    is_int(gw_store_add(&s, add(&s, GW_KIND_SERVICE, "bulk", "svc-0007", sizeof(struct gw_service)),
                        NULL),
           GW_EEXISTS, "duplicates still found");
    v = gw_store_list(&s, GW_KIND_SERVICE, &n);
    is_str(n ? v[0]->name : NULL, "svc-0000", "bulk list sorted");

    /* EndpointSlices by service, namespace labels. */
    static const char *const slices[][3] = {
        {"ns1", "web-b", "web"}, {"ns1", "web-a", "web"}, {"ns1", "api-a", "api"},
        {"ns2", "web-c", "web"}, {"ns0", "web-d", "web"},
    };
    for (size_t i = 0; i < GW_ARRAY_LEN(slices); i++) {
        struct gw_endpointslice *es = (struct gw_endpointslice *)(void *)add(
            &s, GW_KIND_ENDPOINTSLICE, slices[i][0], slices[i][1], sizeof(*es));
        es->service_name = slices[i][2];
        gw_store_add(&s, &es->meta, NULL);
    }
    const struct gw_endpointslice *out[4];
    is_int((long long)gw_store_service_slices(&s, "ns1", "web", out, 4), 2,
           "two slices of ns1/web");
    is_str(out[0]->meta.name, "web-a", "slices in name order");
    is_int((long long)gw_store_service_slices(&s, "ns1", "web", out, 1), 2,
           "count even when cap is short");
    is_int((long long)gw_store_service_slices(&s, "ns3", "web", out, 4), 0, "no slices");
    is_int((long long)gw_store_service_slices(&s, "ns1", "api", out, 4), 1, "one slice of ns1/api");
    is_str(out[0]->meta.name, "api-a", "the api slice");
    is_int((long long)gw_store_service_slices(&s, "ns1", "we", out, 4), 0, "no prefix match");
    struct gw_endpointslice *orphan = (struct gw_endpointslice *)(void *)add(
        &s, GW_KIND_ENDPOINTSLICE, "ns1", "orphan", sizeof(*orphan));
    is_int(gw_store_add(&s, &orphan->meta, NULL), 0, "a slice without a service name");
    is_int((long long)gw_store_count(&s, GW_KIND_ENDPOINTSLICE), 6, "listed with the others");
    is_int((long long)gw_store_service_slices(&s, "ns1", "web", out, 4), 2,
           "but belongs to no service");

    /* Many services with several slices each, added out of order: every
     * lookup finds exactly its own, in name order. */
    for (int i = 0; i < 3000; i++) {
        int k = (i * 7919) % 3000;
        char name[32], svc[32];
        snprintf(name, sizeof(name), "m-%04d-%d", k / 3, k % 3);
        snprintf(svc, sizeof(svc), "m-%04d", k / 3);
        struct gw_endpointslice *es = (struct gw_endpointslice *)(void *)add(
            &s, GW_KIND_ENDPOINTSLICE, "many", name, sizeof(*es));
        es->service_name = gw_arena_strdup(gw_store_arena(&s), svc);
        gw_store_add(&s, &es->meta, NULL);
    }
    bool each = true;
    for (int i = 0; i < 1000 && each; i++) {
        char svc[32], want[32];
        snprintf(svc, sizeof(svc), "m-%04d", i);
        const struct gw_endpointslice *got3[3];
        each = gw_store_service_slices(&s, "many", svc, got3, 3) == 3;
        for (int j = 0; j < 3 && each; j++) {
            snprintf(want, sizeof(want), "m-%04d-%d", i, j);
            each = strcmp(got3[j]->meta.name, want) == 0 && strcmp(got3[j]->meta.ns, "many") == 0;
        }
    }
    ok(each, "1000 services x 3 slices: each finds its own three, in name order");
    is_int((long long)gw_store_service_slices(&s, "many", "web", out, 4), 0,
           "namespace is part of the key");

    struct gw_namespace *nsobj =
        (struct gw_namespace *)(void *)add(&s, GW_KIND_NAMESPACE, NULL, "ns1", sizeof(*nsobj));
    struct gw_kv *kv = gw_arena_alloc(gw_store_arena(&s), sizeof(*kv));
    kv->key = "env";
    kv->value = "prod";
    nsobj->meta.labels.v = kv;
    nsobj->meta.labels.n = 1;
    gw_store_add(&s, &nsobj->meta, NULL);
    const struct gw_kv *labels = gw_store_namespace_labels(&s, "ns1", &n);
    is_str(gw_kv_get(labels, n, "env"), "prod", "namespace labels");
    ok(gw_store_namespace_labels(&s, "nope", &n) == NULL && n == 0, "unknown namespace");
    ok(gw_store_intern(&s, "a.yaml") == gw_store_intern(&s, "a.yaml"), "intern deduplicates");
    gw_store_release(&s);
}

static void
test_values(void)
{
    int64_t ms = 0;
    is_int(gw_duration_parse(GW_STR("1h2m3s4ms"), &ms), 0, "duration parses");
    is_int(ms, 3723004, "1h2m3s4ms");
    is_int(gw_duration_parse(GW_STR("0s"), &ms), 0, "0s");
    is_int(ms, 0, "0s is zero");
    is_int(gw_duration_parse(GW_STR("500ms"), &ms), 0, "500ms");
    is_int(ms, 500, "500ms value");
    is_int(gw_duration_parse(GW_STR("123456s"), &ms), GW_EINVAL, "six digits rejected");
    is_int(gw_duration_parse(GW_STR("1s1s1s1s1s"), &ms), GW_EINVAL, "five parts rejected");
    is_int(gw_duration_parse(GW_STR("1.5s"), &ms), GW_EINVAL, "fractions rejected");
    is_int(gw_duration_parse(GW_STR(""), &ms), GW_EINVAL, "empty rejected");
    is_int(gw_duration_parse(GW_STR("10"), &ms), GW_EINVAL, "unit required");

    is_int(gw_time_parse(GW_STR("1970-01-01T00:00:00Z"), &ms), 0, "epoch");
    is_int(ms, 0, "epoch is 0");
    is_int(gw_time_parse(GW_STR("2024-02-29T12:00:00.5+01:00"), &ms), 0, "offset and fraction");
    is_int(ms, 1709204400500LL, "offset applied");
    is_int(gw_time_parse(GW_STR("2024-13-01T00:00:00Z"), &ms), GW_EINVAL, "bad month");
    is_int(gw_time_parse(GW_STR("2024-01-01 00:00:00"), &ms), GW_EINVAL, "zone required");
}

static void
test_model(void)
{
    enum gw_kind k;
    is_int(gw_kind_from_name("HTTPRoute", &k), 0, "kind by name");
    is_int(k, GW_KIND_HTTPROUTE, "HTTPRoute kind");
    is_int(gw_kind_from_name("Deployment", &k), GW_ENOTFOUND, "unmodelled kind");
    ok(!gw_kind_is_namespaced(GW_KIND_GATEWAYCLASS), "GatewayClass is cluster-scoped");
    is_str(gw_kind_group(GW_KIND_ENDPOINTSLICE), "discovery.k8s.io", "EndpointSlice group");
    is_str(gw_enum_name(GW_ENUM_PATH_MATCH, GW_PATH_PREFIX), "PathPrefix", "enum spelling");
    is_str(gw_enum_name(GW_ENUM_FILTER, GW_FILTER_EXTERNAL_AUTH), "ExternalAuth",
           "filter spelling");
    is_str(gw_enum_name(GW_ENUM_FROM, GW_FROM_NONE), "None", "from None spelling");
    is_str(gw_enum_name(GW_ENUM_METHOD, 0), "", "0 spells nothing");
    is_int(gw_protocol_classify("hTtPs"), GW_PROTO_HTTPS, "protocol is case-insensitive");
    is_int(gw_protocol_classify("example.com/x"), GW_PROTO_OTHER, "custom protocol");

    struct gw_kv labels[] = {{{0}, "env", "prod"}, {{0}, "tier", "web"}};
    struct gw_kv want[] = {{{0}, "env", "prod"}};
    static const char *const vals[] = {"web", "api"};
    struct gw_label_requirement req[] = {
        {{0}, "tier", GW_SELOP_IN, {(const char **)vals, 2}},
        {{0}, "gone", GW_SELOP_DOES_NOT_EXIST, {NULL, 0}},
    };
    struct gw_label_selector sel = {{0}, {want, 1}, {req, 2}};
    ok(gw_label_selector_matches(&sel, labels, 2), "selector matches");
    req[1].op = GW_SELOP_EXISTS;
    ok(!gw_label_selector_matches(&sel, labels, 2), "Exists on an absent key fails");
    struct gw_label_selector empty = {{0}, {NULL, 0}, {NULL, 0}};
    ok(gw_label_selector_matches(&empty, NULL, 0), "empty selector matches everything");
}

int
main(void)
{
    test_store();
    test_values();
    test_model();
    return done_testing();
}
