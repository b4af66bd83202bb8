/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the k8s backoff: doubling from base to the cap, the jitter
 * share on top, Retry-After as a floor (and its own cap), reset.
 */
#include "k8s/internal.h"
#include "tap.h"

#include "base/banned.h"

int
main(void)
{
    struct gw_k8s_backoff b;
    gw_k8s_backoff_init(&b, 500, 30000);
    ok(b.jitter == 1.0, "jitter defaults to 1.0");
    b.jitter = 0.0;
    is_int((long long)gw_k8s_backoff_next(&b, 0.5, -1), 500, "first delay is base");
    is_int((long long)gw_k8s_backoff_next(&b, 0.5, -1), 1000, "then doubles");
    is_int((long long)gw_k8s_backoff_next(&b, 0.5, -1), 2000, "and again");
    for (int i = 0; i < 20; i++)
        gw_k8s_backoff_next(&b, 0.5, -1);
    is_int((long long)gw_k8s_backoff_next(&b, 0.5, -1), 30000, "capped at max");
    is_int((long long)b.cur_ms, 30000, "cur stays at max");

    gw_k8s_backoff_reset(&b);
    is_int((long long)gw_k8s_backoff_next(&b, 0.9, -1), 500, "reset: base again");

    gw_k8s_backoff_init(&b, 500, 30000);
    is_int((long long)gw_k8s_backoff_next(&b, 0.0, -1), 500, "jitter 1, rand 0: cur");
    is_int((long long)gw_k8s_backoff_next(&b, 0.5, -1), 1500, "jitter 1, rand .5: 1.5 cur");
    uint64_t d = gw_k8s_backoff_next(&b, 0.999, -1);
    ok(d >= 2000 && d < 4000, "jitter stays under 2 cur (%llu)", (unsigned long long)d);
    for (int i = 0; i < 20; i++)
        gw_k8s_backoff_next(&b, 0.0, -1);
    d = gw_k8s_backoff_next(&b, 0.999, -1);
    ok(d >= 30000 && d < 60000, "at the cap the jitter still spreads (%llu)",
       (unsigned long long)d);
    is_int((long long)gw_k8s_backoff_next(&b, 1.5, -1), 30000, "rand out of range is 0");
    is_int((long long)gw_k8s_backoff_next(&b, -0.5, -1), 30000, "negative rand is 0");

    gw_k8s_backoff_init(&b, 500, 30000);
    is_int((long long)gw_k8s_backoff_next(&b, 0.0, 7), 7000, "Retry-After is a floor");
    is_int((long long)gw_k8s_backoff_next(&b, 0.0, 0), 1000, "Retry-After 0 ignored");
    is_int((long long)gw_k8s_backoff_next(&b, 0.0, 1), 2000,
           "a smaller Retry-After changes nothing");
    is_int((long long)gw_k8s_backoff_next(&b, 0.0, 1000000), 600000,
           "Retry-After is capped at 10 min");

    gw_k8s_backoff_init(&b, 0, 0);
    ok(b.base_ms >= 1 && b.max_ms >= b.base_ms, "zero base and max are sane");
    is_int((long long)gw_k8s_backoff_next(&b, 0.0, -1), (long long)b.base_ms, "and usable");
    return done_testing();
}
