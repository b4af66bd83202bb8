/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Exponential backoff as client-go's reflector does it: the delay starts at
 * base, doubles per failed attempt up to max, and gets a random share on
 * top (jitter: the delay is cur * (1 + jitter * rand), jitter 1.0 unless
 * the caller changes it), so replicas that failed together do not retry together. A
 * Retry-After the server sent is a floor. Pure: the caller supplies the
 * random number (gw_k8s_rand01, whose seed alone reads the clock and the
 * pid) and the clock.
 */
#include <time.h>
#include <unistd.h>

#include "k8s/internal.h"

#include "base/banned.h"

/* A server cannot park us longer than this with Retry-After. */
#define RETRY_AFTER_MAX_S 600

void
gw_k8s_backoff_init(struct gw_k8s_backoff *b, uint64_t base_ms, uint64_t max_ms)
{
    b->base_ms = base_ms ? base_ms : 1;
    b->max_ms = max_ms < b->base_ms ? b->base_ms : max_ms;
    b->cur_ms = b->base_ms;
    b->jitter = 1.0;
}

uint64_t
gw_k8s_backoff_next(struct gw_k8s_backoff *b, double rand, int64_t retry_after_s)
{
    if (!(rand >= 0.0) || rand >= 1.0)
        rand = 0.0;
    double jitter = b->jitter > 0.0 ? (b->jitter > 1.0 ? 1.0 : b->jitter) : 0.0;
    uint64_t cur = b->cur_ms;
    uint64_t delay = cur + (uint64_t)((double)cur * jitter * rand);
    /* As client-go: the cap bounds cur, the jitter comes on top, so
     * replicas stuck at the cap still spread out (up to (1 + jitter) *
     * max). */
    b->cur_ms = cur > b->max_ms / 2 ? b->max_ms : cur * 2;
    if (retry_after_s > 0) {
        uint64_t floor_ms = (uint64_t)GW_MIN(retry_after_s, RETRY_AFTER_MAX_S) * 1000;
        if (delay < floor_ms)
            delay = floor_ms;
    }
    return delay;
}

void
gw_k8s_backoff_reset(struct gw_k8s_backoff *b)
{
    b->cur_ms = b->base_ms;
}

double
gw_k8s_rand01(uint64_t *state)
{
    /* xorshift64*: jitter only, no need for more. */
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return (double)((x * 0x2545f4914f6cdd1dull) >> 11) / 9007199254740992.0;
}

uint64_t
gw_k8s_rand_seed(const void *owner, uint64_t salt)
{
    salt ^= ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid() ^ (uint64_t)(uintptr_t)owner;
    /* Spread the bits; never 0, which xorshift would keep forever. */
    uint64_t x = (salt ^ (salt >> 31)) * 0x9e3779b97f4a7c15ull;
    return x ? x : 0x9e3779b97f4a7c15ull;
}
