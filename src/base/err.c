/* SPDX-License-Identifier: Apache-2.0 */
/* Error texts and the always-on assertion. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

#include "base/banned.h"

const char *
gw_strerror(int err)
{
    switch (err) {
    case GW_OK:
        return "success";
#define GW_ERR_CASE(name, val, msg) \
    case GW_E##name:                \
        return msg;
        GW_ERROR_MAP(GW_ERR_CASE)
#undef GW_ERR_CASE
    default:
        break;
    }
    if (err < 0 && err > -4096)
        return strerror(-err);
    return "unknown error";
}

void
gw_assert_fail(const char *expr, const char *file, int line, const char *func)
{
    fprintf(stderr, "gatehouse: assertion failed: %s (%s:%d, %s)\n", expr, file, line, func);
    fflush(stderr);
    abort();
}
