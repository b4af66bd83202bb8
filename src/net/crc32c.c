/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CRC32C, the checksum of the PROXY v2 CRC32C TLV (RFC 4960 appendix B):
 * Castagnoli polynomial 0x1EDC6F41, reflected 0x82F63B78, initial value and
 * final XOR 0xFFFFFFFF. A 16-entry table, a nibble at a time: headers are a
 * few hundred bytes, so 64 bytes of table beat 1 KiB of cache footprint.
 */
#include "net/net.h"

#include "base/banned.h"

/* t[i] = i shifted through the reflected polynomial four times. */
static const uint32_t nibble[16] = {
    0x00000000, 0x105ec76f, 0x20bd8ede, 0x30e349b1, 0x417b1dbc, 0x5125dad3, 0x61c69362, 0x7198540d,
    0x82f63b78, 0x92a8fc17, 0xa24bb5a6, 0xb21572c9, 0xc38d26c4, 0xd3d3e1ab, 0xe330a81a, 0xf36e6f75,
};

uint32_t
gw_net_crc32c(uint32_t crc, const void *p, size_t n)
{
    const uint8_t *b = p;
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= b[i];
        crc = (crc >> 4) ^ nibble[crc & 0xf];
        crc = (crc >> 4) ^ nibble[crc & 0xf];
    }
    return ~crc;
}
