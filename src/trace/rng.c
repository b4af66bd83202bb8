/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Trace and span ids, and the head sampler's coin: xoshiro256** (Blackman
 * and Vigna's public-domain generator, written from its description), one
 * state per worker, seeded through splitmix64 from getrandom(2). Ids need
 * to be unique and unguessable enough to not collide, not secret.
 */
#include <sys/random.h>

#include <string.h>
#include <time.h>

#include "trace/trace.h"

#include "base/banned.h"

static uint64_t
splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void
gw_trace_rng_seed(struct gw_trace_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix(&seed);
}

void
gw_trace_rng_init(struct gw_trace_rng *r)
{
    uint64_t seed;
    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed)) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)(uintptr_t)r;
    }
    gw_trace_rng_seed(r, seed);
}

static inline uint64_t
rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t
gw_trace_rng_next(struct gw_trace_rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

static void
fill(struct gw_trace_rng *r, uint8_t *id, size_t n)
{
    for (;;) {
        uint8_t any = 0;
        for (size_t i = 0; i < n; i += 8) {
            uint64_t v = gw_trace_rng_next(r);
            memcpy(id + i, &v, 8);
        }
        for (size_t i = 0; i < n; i++)
            any |= id[i];
        if (any) /* all zero is invalid; 2^-64 odds, but cheap to rule out */
            return;
    }
}

void
gw_trace_rng_trace_id(struct gw_trace_rng *r, uint8_t id[16])
{
    fill(r, id, 16);
}

void
gw_trace_rng_span_id(struct gw_trace_rng *r, uint8_t id[8])
{
    fill(r, id, 8);
}

uint64_t
gw_trace_ratio_threshold(double ratio)
{
    if (!(ratio > 0))
        return 0;
    if (ratio >= 1)
        return 1ull << 53;
    return (uint64_t)(ratio * 9007199254740992.0); /* 2^53 */
}

bool
gw_trace_rng_sample(struct gw_trace_rng *r, uint64_t threshold)
{
    return (gw_trace_rng_next(r) >> 11) < threshold;
}
