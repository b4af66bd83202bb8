/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lease.c's decision, pure: create when absent, update (renew or take over)
 * when ours, free or expired by our clock, wait while another holder's
 * lease runs.
 */
#include <stdint.h>

#include "base/base.h"
#include "k8s/internal.h"
#include "tap.h"

#include "base/banned.h"

int
main(void)
{
    is_int(gw_k8s_lease_decide(false, NULL, 0, 0, 1000, "me"), GW_K8S_LEASE_CREATE,
           "absent: create");
    is_int(gw_k8s_lease_decide(true, "", 1000, 15000, 1001, "me"), GW_K8S_LEASE_UPDATE,
           "no holder: take it");
    is_int(gw_k8s_lease_decide(true, NULL, 1000, 15000, 1001, "me"), GW_K8S_LEASE_UPDATE,
           "holder absent: take it");
    is_int(gw_k8s_lease_decide(true, "me", 1000, 15000, 1001, "me"), GW_K8S_LEASE_UPDATE,
           "ours: renew");
    is_int(gw_k8s_lease_decide(true, "other", 1000, 15000, 1001, "me"), GW_K8S_LEASE_WAIT,
           "another's, just seen change: wait");
    is_int(gw_k8s_lease_decide(true, "other", 1000, 15000, 15999, "me"), GW_K8S_LEASE_WAIT,
           "another's, 1 ms before expiry: wait");
    is_int(gw_k8s_lease_decide(true, "other", 1000, 15000, 16000, "me"), GW_K8S_LEASE_UPDATE,
           "another's, expired by our clock: take over");
    is_int(gw_k8s_lease_decide(true, "other", 1000, 0, 1000, "me"), GW_K8S_LEASE_UPDATE,
           "no duration: expired at once");
    is_int(gw_k8s_lease_decide(true, "me-2", 1000, 15000, 2000, "me"), GW_K8S_LEASE_WAIT,
           "a prefix of our identity is another holder");
    return done_testing();
}
