/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The two clocks the control plane reads outside a loop's cached time:
 * monotonic microseconds for durations, the wall clock in seconds for
 * timestamps people read (metrics, logs).
 */
#include <time.h>

#include "base/base.h"

#include "base/banned.h"

uint64_t
gw_clock_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

double
gw_clock_real(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
