/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config: the typed Gateway API model (every kind gatehouse reads, after
 * CRD defaulting) and the store that holds a consistent set of objects,
 * keyed by kind/namespace/name. Pure data: no I/O.
 *
 * (Being written: the model and the store land here.)
 */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include "base/base.h"

struct gw_store;

#endif /* GW_CONFIG_H */
