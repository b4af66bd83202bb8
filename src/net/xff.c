/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client address in an X-Forwarded-For value. The value is read from
 * the right, one entry at a time, because only its right end was written by
 * proxies we trust: whatever lies left of the client's entry was sent by the
 * client and is never looked at. An entry is found by scanning back to the
 * previous comma at most GW_NET_XFF_ENTRY_MAX bytes, and at most
 * GW_NET_XFF_WALK_MAX entries are taken, so a hostile value (megabytes, or
 * thousands of commas) costs a few kilobytes of reading at most.
 */
#include <string.h>

#include "net/internal.h"

#include "base/banned.h"

/* The unread part of a value, consumed from the right. */
struct walk {
    const char *p;
    size_t end;     /* entries left lie in p[0..end) */
    bool exhausted; /* no entry left */
};

static void
walk_init(struct walk *w, struct gw_str xff)
{
    /* not trimmed here: spaces around an entry count towards its bound */
    w->p = xff.p;
    w->end = xff.len;
    w->exhausted = xff.len == 0;
}

/* The next entry from the right into *out: 0, GW_ENOTFOUND when none is
 * left, GW_EPARSE when it is too long, empty or not an address. */
static int
walk_next(struct walk *w, struct sockaddr_storage *out)
{
    if (w->exhausted)
        return GW_ENOTFOUND;
    size_t i = w->end;
    while (i > 0 && w->p[i - 1] != ',') {
        i--;
        if (w->end - i > GW_NET_XFF_ENTRY_MAX)
            return GW_EPARSE;
    }
    struct gw_str e = gw_str_trim((struct gw_str){w->p + i, w->end - i});
    if (i == 0)
        w->exhausted = true;
    else
        w->end = i - 1;
    return gw_net_addr_parse(e, out) < 0 ? GW_EPARSE : 0;
}

int
gw_net_xff_hop_parse(struct gw_str xff, unsigned hops, struct sockaddr_storage *out)
{
    if (hops == 0 || hops > GW_NET_XFF_WALK_MAX)
        return GW_EINVAL;
    struct walk w;
    walk_init(&w, xff);
    for (unsigned k = 0; k < hops; k++) {
        int rc = walk_next(&w, out);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int
gw_net_xff_trusted_parse(struct gw_str xff, const struct gw_net_cidr_set *trusted,
                         struct sockaddr_storage *out)
{
    struct walk w;
    walk_init(&w, xff);
    for (unsigned k = 0; k < GW_NET_XFF_WALK_MAX; k++) {
        int rc = walk_next(&w, out);
        if (rc < 0)
            return rc;
        if (w.exhausted || !gw_net_cidr_set_has(trusted, (const struct sockaddr *)out))
            return 0;
    }
    return GW_ELIMIT;
}
