/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The process logger: one line per event on stderr, as text or as JSON.
 * Each line is built in a local buffer and written with one write(2) so
 * lines from several threads never interleave.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"

#include "base/banned.h"

static enum gw_log_level log_level = GW_LOG_INFO;
static bool log_json;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void
gw_log_set_level(enum gw_log_level level)
{
    log_level = level;
}

void
gw_log_set_json(bool json)
{
    log_json = json;
}

void
gw_log(enum gw_log_level level, const char *fmt, ...)
{
    if (level < log_level)
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char when[40];
    size_t w = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + w, sizeof(when) - w, ".%03ldZ", ts.tv_nsec / 1000000);

    struct gw_buf b;
    gw_buf_init(&b, sizeof(msg) * 2 + 128);
    if (log_json) {
        gw_buf_appendf(&b, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":", when, level_names[level]);
        gw_buf_append_json_str(&b, msg, strlen(msg));
        gw_buf_append(&b, "}\n", 2);
    } else {
        gw_buf_appendf(&b, "%s %-5s %s\n", when, level_names[level], msg);
    }
    if (b.p) {
        ssize_t GW_UNUSED n = write(STDERR_FILENO, b.p, b.len);
    }
    gw_buf_release(&b);
}

void
gw_log_ratelimited(struct gw_log_limit *rl, enum gw_log_level level, const char *fmt, ...)
{
    if (level < log_level)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    uint64_t next = atomic_load_explicit(&rl->next_ms, memory_order_relaxed);
    /* One winner per second even when several threads race here. */
    if (now < next ||
        !atomic_compare_exchange_strong_explicit(&rl->next_ms, &next, now + 1000,
                                                 memory_order_relaxed, memory_order_relaxed)) {
        atomic_fetch_add_explicit(&rl->suppressed, 1, memory_order_relaxed);
        return;
    }
    uint64_t dropped = atomic_exchange_explicit(&rl->suppressed, 0, memory_order_relaxed);
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (dropped)
        gw_log(level, "%s (%" PRIu64 " similar lines suppressed)", msg, dropped);
    else
        gw_log(level, "%s", msg);
}
