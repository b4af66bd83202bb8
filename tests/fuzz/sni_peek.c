/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: gw_l4_sni_parse, the TLS passthrough ClientHello peek.
 * The input is parsed whole and then as every prefix a reader would have
 * seen while bytes trickled in: a prefix may only ask for more (or already
 * fail the same way), and it never succeeds with a different name than the
 * whole input.
 */
#include <stdint.h>
#include <string.h>

#include "l4/l4.h"

#include "base/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char sni[GW_L4_SNI_MAX + 1], part[GW_L4_SNI_MAX + 1];
    int rc = gw_l4_sni_parse(data, size, sni, sizeof(sni));
    if (rc != 0 && rc != GW_EAGAIN && rc != GW_EPARSE && rc != GW_ELIMIT)
        __builtin_trap();
    if (rc == 0 && strlen(sni) > GW_L4_SNI_MAX)
        __builtin_trap();
    /* Prefixes at a stride, so large inputs stay fast. */
    size_t step = size / 64 + 1;
    for (size_t n = 0; n < size; n += step) {
        int prc = gw_l4_sni_parse(data, n, part, sizeof(part));
        if (prc == 0 && (rc != 0 || strcmp(part, sni) != 0))
            __builtin_trap(); /* decided early, differently */
    }
    return 0;
}
