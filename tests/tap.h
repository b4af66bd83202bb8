/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A tiny TAP producer for unit tests: one binary per unit, each check one
 * "ok N - description" line, a plan at the end, exit status 1 on any
 * failure. Typed checks print what was expected and what came instead.
 */
#ifndef GW_TAP_H
#define GW_TAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

GW_PRINTF(2, 3) bool ok(bool cond, const char *fmt, ...);
GW_PRINTF(3, 4) bool is_int(long long got, long long want, const char *fmt, ...);
/* NULL-safe: NULL only equals NULL. */
GW_PRINTF(3, 4) bool is_str(const char *got, const char *want, const char *fmt, ...);
GW_PRINTF(1, 2) void diag(const char *fmt, ...);
/* Prints the plan and returns the process exit code (0 if all passed). */
int done_testing(void);

/* Reads a whole file into a NUL-terminated heap buffer; NULL on error. */
char *tap_read_file(const char *path, size_t *len);
/* The directory of test data given to the binary (env GW_TEST_DATA), or ".". */
const char *tap_data_dir(void);
/* The conformance corpus (env GW_CONFORMANCE, default ../shared/conformance
 * relative to the source root), or NULL if it is not there. */
const char *tap_conformance_dir(void);

#endif /* GW_TAP_H */
