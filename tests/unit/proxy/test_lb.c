/* SPDX-License-Identifier: Apache-2.0 */
/* proxy lb.c: endpoint table, round robin, P2C, passive ejection. */
#include <stdlib.h>
#include <string.h>

#include "proxy/internal.h"
#include "tap.h"

#include "base/banned.h"

int
main(void)
{
    struct px_ep_table t;
    px_ep_table_init(&t);
    struct px_ep *a = px_ep_table_get(&t, "10.0.0.1", 80);
    struct px_ep *b = px_ep_table_get(&t, "10.0.0.2", 80);
    struct px_ep *c = px_ep_table_get(&t, "[::1]", 8080);
    ok(a != b && a == px_ep_table_get(&t, "10.0.0.1", 80), "table finds what it added");
    ok(a->base.sa_ok && c->base.sa_ok && c->base.sa.ss_family == AF_INET6, "addresses resolved");
    for (int i = 0; i < 500; i++) {
        char ip[32];
        int n = 0;
        for (int v = i; v; v /= 10)
            n++;
        memcpy(ip, "10.1.", 5);
        ip[5] = (char)('0' + i % 10);
        ip[6] = 0;
        (void)n;
        px_ep_table_get(&t, ip, (uint16_t)(1000 + i));
    }
    ok(a == px_ep_table_get(&t, "10.0.0.1", 80), "stable across growth");

    struct px_ep *eps[3] = {a, b, c};
    uint32_t cur = 0;
    int counts[3] = {0};
    for (int i = 0; i < 300; i++)
        counts[px_lb_pick(eps, NULL, 3, GW_PROXY_LB_WRR, &cur, 0, 0)]++;
    ok(counts[0] == 100 && counts[1] == 100 && counts[2] == 100, "round robin is even");

    /* ejection: 3 consecutive failures eject b for 1000 ms */
    px_ep_report(b, true, 3, 1000, 10);
    px_ep_report(b, true, 3, 1000, 11);
    ok(b->base.ejected_until == 0, "not yet ejected");
    px_ep_report(b, true, 3, 1000, 12);
    is_int((long long)b->base.ejected_until, 1012, "ejected for eject_ms");
    memset(counts, 0, sizeof(counts));
    for (int i = 0; i < 300; i++)
        counts[px_lb_pick(eps, NULL, 3, GW_PROXY_LB_WRR, &cur, 0, 500)]++;
    ok(counts[1] == 0 && counts[0] + counts[2] == 300, "ejected endpoint skipped");
    a->base.ejected_until = c->base.ejected_until = 5000;
    memset(counts, 0, sizeof(counts));
    for (int i = 0; i < 30; i++)
        counts[px_lb_pick(eps, NULL, 3, GW_PROXY_LB_WRR, &cur, 0, 500)]++;
    ok(counts[0] && counts[1] && counts[2], "all ejected: panic mode uses every endpoint");
    a->base.ejected_until = c->base.ejected_until = 0;
    px_ep_report(b, true, 3, 1000, 2000);
    px_ep_report(b, true, 3, 1000, 2001);
    px_ep_report(b, true, 3, 1000, 2002);
    is_int((long long)b->base.ejected_until, 4002, "second ejection doubles");
    px_ep_report(b, false, 3, 1000, 5000);
    is_int(b->base.consec, 0, "success resets the count");

    /* P2C prefers the less loaded of two */
    b->base.ejected_until = 0;
    a->active = 10;
    b->active = 0;
    c->active = 10;
    int pb = 0;
    for (uint64_t r = 0; r < 200; r++) {
        uint64_t rnd = (r * 0x9e3779b97f4a7c15ull);
        if (px_lb_pick(eps, NULL, 3, GW_PROXY_LB_P2C, &cur, rnd, 6000) == 1)
            pb++;
    }
    ok(pb > 100, "p2c picks the idle endpoint most of the time (%d/200)", pb);
    is_int(px_lb_pick(eps, NULL, 0, GW_PROXY_LB_WRR, &cur, 0, 0), -1, "no endpoints");

    /* active health checks: an unhealthy endpoint is skipped like an
     * ejected one, by both policies; every one out fails open */
    struct px_hc_ep h[3];
    memset(h, 0, sizeof(h));
    struct px_hc_ep *hs[3] = {&h[0], &h[1], &h[2]};
    atomic_store(&h[0].up, true);
    atomic_store(&h[1].up, false);
    atomic_store(&h[2].up, true);
    a->active = b->active = c->active = 0;
    memset(counts, 0, sizeof(counts));
    for (int i = 0; i < 300; i++)
        counts[px_lb_pick(eps, hs, 3, GW_PROXY_LB_WRR, &cur, 0, 6000)]++;
    ok(counts[1] == 0 && counts[0] + counts[2] == 300, "unhealthy endpoint skipped (wrr)");
    pb = 0;
    for (uint64_t r = 0; r < 200; r++)
        pb += px_lb_pick(eps, hs, 3, GW_PROXY_LB_P2C, &cur, r * 0x9e3779b97f4a7c15ull, 6000) == 1;
    is_int(pb, 0, "unhealthy endpoint skipped (p2c)");
    a->base.ejected_until = 9000;
    memset(counts, 0, sizeof(counts));
    for (int i = 0; i < 30; i++)
        counts[px_lb_pick(eps, hs, 3, GW_PROXY_LB_WRR, &cur, 0, 6000)]++;
    ok(counts[2] == 30, "ejected and unhealthy both out: the one left serves");
    atomic_store(&h[2].up, false);
    memset(counts, 0, sizeof(counts));
    for (int i = 0; i < 30; i++)
        counts[px_lb_pick(eps, hs, 3, GW_PROXY_LB_WRR, &cur, 0, 6000)]++;
    ok(counts[0] && counts[1] && counts[2], "every endpoint out: panic mode uses all");
    a->base.ejected_until = 0;

    /* backend state by dense id: slots kept while the table grows */
    struct px_rr_table rr;
    px_rr_table_init(&rr);
    px_rr_table_slot(&rr, 3)->cursor = 7;
    px_rr_table_slot(&rr, 1000)->cursor = 9;
    is_int(px_rr_table_slot(&rr, 3)->cursor, 7, "rr slot kept across growth");
    is_int(px_rr_table_slot(&rr, 1000)->cursor, 9, "rr slot past the first size");
    is_int(px_rr_table_slot(&rr, 999)->cursor, 0, "new slots zeroed");
    struct px_bstate *bs = px_rr_table_slot(&rr, 5);
    bs->n = 2;
    bs->gen = 1;
    bs->eps = calloc(2, sizeof(*bs->eps));
    bs->eps[1] = b;
    ok(px_bstate_eps(bs)[1] == b, "two endpoints: the heap list");
    bs = px_rr_table_slot(&rr, 6);
    bs->n = 1;
    bs->gen = 1;
    bs->one = c;
    ok(px_bstate_eps(bs)[0] == c, "one endpoint: inline");
    px_rr_table_clear(&rr); /* frees slot 5's list */
    is_int(px_rr_table_slot(&rr, 3)->cursor, 0, "cleared");
    ok(px_rr_table_slot(&rr, 5)->eps == NULL && px_rr_table_slot(&rr, 6)->gen == 0,
       "cleared slots are empty");
    px_rr_table_release(&rr);
    px_ep_table_release(&t);
    return done_testing();
}
