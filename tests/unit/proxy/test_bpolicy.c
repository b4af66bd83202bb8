/* SPDX-License-Identifier: Apache-2.0 */
/* proxy bpolicy.c: the shared endpoint table, circuit-breaker counts, and
 * the policy picks (least request, consistent hash, slow start). */
#include <stdlib.h>
#include <string.h>

#include "proxy/internal.h"
#include "tap.h"

#include "base/banned.h"

int
main(void)
{
    struct px_shtab sh;
    px_shtab_init(&sh);
    struct px_ep_table t;
    px_ep_table_init(&t);
    t.sh = &sh;
    struct px_ep *a = px_ep_table_get(&t, "10.0.0.1", 80);
    struct px_ep *b = px_ep_table_get(&t, "10.0.0.2", 80);
    struct px_ep *c = px_ep_table_get(&t, "10.0.0.3", 80);
    ok(a->sh && a->sh == px_shtab_get(&sh, "10.0.0.1", 80), "a worker's endpoint has its state");
    ok(a->sh->first_seen_ms == 0, "before the first snapshot: there at startup");
    struct px_ep_table t2;
    px_ep_table_init(&t2);
    t2.sh = &sh;
    ok(px_ep_table_get(&t2, "10.0.0.1", 80)->sh == a->sh, "another worker shares it");

    /* Circuit breaking. */
    struct gw_ir_circuit cb = {.max_requests = 2, .max_retries = 1};
    is_int(px_cb_take(a->sh, &cb, false), -1, "first request admitted");
    is_int(px_cb_take(a->sh, &cb, false), -1, "second request admitted");
    is_int(px_cb_take(a->sh, &cb, false), PX_CB_REQUESTS, "third refused: maxRequests");
    is_int((long long)atomic_load(&a->sh->requests), 2, "a refusal is not counted");
    px_cb_put(a->sh, false);
    is_int(px_cb_take(a->sh, &cb, true), -1, "a retry admitted");
    ok(px_cb_counts_retry(&cb, true), "and counted as a retry");
    px_cb_put(a->sh, false);
    is_int(px_cb_take(a->sh, &cb, true), PX_CB_RETRIES, "a second retry refused: maxRetries");
    is_int((long long)atomic_load(&a->sh->retries), 1, "retries in flight");
    px_cb_put(a->sh, true);
    struct gw_ir_circuit none = {.max_retries = 0};
    is_int(px_cb_take(a->sh, &none, true), PX_CB_RETRIES, "maxRetries 0 forbids retries");
    is_int(px_cb_take(a->sh, NULL, true), -1, "no policy: counted only");
    px_cb_put(a->sh, px_cb_counts_retry(NULL, true));
    ok(atomic_load(&a->sh->requests) == 0 && atomic_load(&a->sh->retries) == 0, "all back");

    /* Least request: the idle endpoint wins every draw it is in. */
    struct px_ep *eps[3] = {a, b, c};
    struct gw_ir_lb lr = {.type = GW_IR_LB_LEAST_REQUEST};
    struct px_lb_req q = {.lb = &lr};
    atomic_store(&a->sh->requests, 50);
    atomic_store(&b->sh->requests, 50);
    uint64_t rng = 42;
    uint32_t cur = 0;
    int counts[3] = {0};
    for (int i = 0; i < 3000; i++)
        counts[px_lb_pick_policy(eps, 3, &q, &cur, &rng, 1000)]++;
    ok(counts[2] > 1500, "least request prefers the idle endpoint (%d of 3000)", counts[2]);
    ok(counts[0] + counts[1] > 0, "two choices: not only the idle one (%d)", counts[0] + counts[1]);
    atomic_store(&a->sh->requests, 0);
    atomic_store(&b->sh->requests, 0);
    c->base.ejected_until = 5000;
    memset(counts, 0, sizeof(counts));
    for (int i = 0; i < 300; i++)
        counts[px_lb_pick_policy(eps, 3, &q, &cur, &rng, 1000)]++;
    is_int(counts[2], 0, "least request skips an ejected endpoint");
    c->base.ejected_until = 0;

    /* Consistent hash: one key, one endpoint; an ejected owner's keys go
     * to the others and come back. */
    struct gw_ir_endpoint ieps[3] = {{"10.0.0.1", 80}, {"10.0.0.2", 80}, {"10.0.0.3", 80}};
    struct gw_route_maglev mg;
    gw_route_maglev_init(&mg, ieps, 3);
    struct gw_ir_lb ch = {
        .type = GW_IR_LB_CONSISTENT_HASH, .key = GW_IR_HASH_HEADER, .name = "x-user"};
    struct gw_h1_header hs[2] = {{GW_STR("Host"), GW_STR("x")}, {GW_STR("X-User"), GW_STR("ann")}};
    uint64_t h = 0;
    ok(px_lb_key_hash(&ch, hs, 2, "1.2.3.4", &h), "the header is the key");
    ok(!px_lb_key_hash(&ch, hs, 1, "1.2.3.4", &(uint64_t){0}), "without it, none");
    px_lb_key_hash(&ch, hs, 2, "1.2.3.4", &h);
    struct px_lb_req qh = {.lb = &ch, .mg = &mg, .hashed = true, .hash = h};
    int first = px_lb_pick_policy(eps, 3, &qh, &cur, &rng, 1000);
    bool same = true;
    for (int i = 0; i < 100; i++)
        same = same && px_lb_pick_policy(eps, 3, &qh, &cur, &rng, 1000) == first;
    ok(same, "a key always reaches one endpoint");
    eps[first]->base.ejected_until = 5000;
    int other = px_lb_pick_policy(eps, 3, &qh, &cur, &rng, 1000);
    ok(other != first, "its owner ejected: another one");
    ok(px_lb_pick_policy(eps, 3, &qh, &cur, &rng, 6000) == first, "and back after");
    eps[first]->base.ejected_until = 0;
    struct gw_ir_lb ck = {
        .type = GW_IR_LB_CONSISTENT_HASH, .key = GW_IR_HASH_COOKIE, .name = "sid"};
    struct gw_h1_header hc[1] = {{GW_STR("Cookie"), GW_STR("a=1; sid=abc; b=2")}};
    uint64_t h1 = 0, h2 = 1;
    px_lb_key_hash(&ck, hc, 1, "", &h1);
    struct gw_h1_header hc2[1] = {{GW_STR("cookie"), GW_STR("sid=abc")}};
    px_lb_key_hash(&ck, hc2, 1, "", &h2);
    ok(h1 == h2, "a cookie's value is the key, wherever it is in the field");
    struct gw_ir_lb sip = {.type = GW_IR_LB_CONSISTENT_HASH, .key = GW_IR_HASH_SOURCE_IP};
    ok(px_lb_key_hash(&sip, NULL, 0, "1.2.3.4", &h1) &&
           px_lb_key_hash(&sip, NULL, 0, "1.2.3.4", &h2) && h1 == h2,
       "the source address is a key");
    gw_route_maglev_release(&mg);

    /* Slow start: an endpoint first seen now gets a small share, growing
     * with its weight over the window, and its full share after. */
    struct gw_ir_lb rr = {.type = GW_IR_LB_ROUND_ROBIN, .slow_start_ms = 1000};
    struct px_lb_req qs = {.lb = &rr};
    c->sh->first_seen_ms = 10000;
    memset(counts, 0, sizeof(counts));
    for (int i = 0; i < 3000; i++)
        counts[px_lb_pick_policy(eps, 3, &qs, &cur, &rng, 10100)]++;
    ok(counts[2] < 200, "10%% into the window: a small share (%d of 3000)", counts[2]);
    memset(counts, 0, sizeof(counts));
    for (int i = 0; i < 3000; i++)
        counts[px_lb_pick_policy(eps, 3, &qs, &cur, &rng, 10500)]++;
    ok(counts[2] > 300 && counts[2] < 900, "half way: about half its share (%d)", counts[2]);
    memset(counts, 0, sizeof(counts));
    for (int i = 0; i < 3000; i++)
        counts[px_lb_pick_policy(eps, 3, &qs, &cur, &rng, 11000)]++;
    is_int(counts[2], 1000, "after the window: its full share");

    px_ep_table_release(&t);
    px_ep_table_release(&t2);
    px_shtab_release(&sh);
    return done_testing();
}
