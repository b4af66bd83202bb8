/* SPDX-License-Identifier: Apache-2.0 */
/*
 * L4 route selection, pure: which ports l4 serves, the route of a TCP or
 * UDP port, the TLSRoute for an SNI (Gateway API hostname
 * matching), and the weighted backend choice shared with the HTTP router.
 */
#include "route/route.h"

#include <string.h>
#include <strings.h>

#include "l4/internal.h"

#include "base/banned.h"

bool
gw_l4_port_is_served(const struct gw_ir_port *pt)
{
    if (pt->udp)
        return pt->nlisteners > 0;
    if (pt->nlisteners == 0)
        return false;
    for (size_t i = 0; i < pt->nlisteners; i++) {
        const struct gw_ir_listener *l = &pt->listeners[i];
        if (l->proto == GW_IR_TCP)
            continue;
        if (l->proto == GW_IR_TLS && l->tls)
            continue;
        return false;
    }
    return true;
}

bool
gw_l4_host_matches(const char *pattern, const char *sni)
{
    if (!pattern || strcmp(pattern, "*") == 0)
        return true;
    if (!sni || !*sni)
        return false;
    if (pattern[0] == '*' && pattern[1] == '.') {
        size_t ls = strlen(sni), lp = strlen(pattern + 1); /* ".example.com" */
        /* at least one label in front of the suffix */
        return ls > lp && strcasecmp(sni + ls - lp, pattern + 1) == 0 && sni[0] != '.';
    }
    return strcasecmp(pattern, sni) == 0;
}

const struct gw_ir_l4 *
gw_l4_route_by_sni(const struct gw_ir_port *pt, const char *sni, const struct gw_ir_listener **lis)
{
    for (size_t i = 0; i < pt->nlisteners; i++) {
        const struct gw_ir_listener *l = &pt->listeners[i];
        if (l->proto != GW_IR_TLS || !l->tls)
            continue;
        if (!gw_l4_host_matches(l->hostname, sni))
            continue;
        for (size_t k = 0; k < l->nl4; k++) {
            if (gw_l4_host_matches(l->l4[k].hostname, sni)) {
                if (lis)
                    *lis = l;
                return &l->l4[k];
            }
        }
    }
    return NULL;
}

const struct gw_ir_l4 *
gw_l4_route_plain(const struct gw_ir_port *pt, const struct gw_ir_listener **lis)
{
    enum gw_ir_proto want = pt->udp ? GW_IR_UDP : GW_IR_TCP;
    const struct gw_ir_listener *first = NULL;
    for (size_t i = 0; i < pt->nlisteners; i++) {
        const struct gw_ir_listener *l = &pt->listeners[i];
        if (l->proto != want)
            continue;
        if (!first)
            first = l;
        if (l->nl4 > 0) {
            if (lis)
                *lis = l;
            return &l->l4[0];
        }
    }
    if (lis)
        *lis = first;
    return NULL;
}

const struct gw_ir_backend *
l4_backend_pick(const struct gw_ir_l4 *r, uint32_t rnd)
{
    /* The HTTP router's weighted choice, fed the L4 route's backends. */
    struct gw_ir_route tmp = {.backends = r->backends, .nbackends = r->nbackends};
    return gw_route_backend_pick(&tmp, rnd);
}

const struct gw_ir_port *
l4_port_find(const struct gw_ir *ir, const char *address, uint16_t port, bool udp)
{
    for (size_t i = 0; ir && i < ir->nports; i++) {
        const struct gw_ir_port *pt = &ir->ports[i];
        const char *a = pt->address ? pt->address : "";
        if (pt->port == port && pt->udp == udp && strcmp(a, address) == 0)
            return pt;
    }
    return NULL;
}
