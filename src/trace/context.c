/* SPDX-License-Identifier: Apache-2.0 */
/*
 * W3C Trace Context: traceparent version 00 parsed strictly and formatted,
 * tracestate checked against the bounds gatehouse passes on, and the
 * collector URL of --otlp-endpoint. A traceparent that fails any check is
 * ignored by the caller, which then starts a new trace.
 */
#include <string.h>

#include "trace/trace.h"

#include "base/banned.h"

static const char hexd[] = "0123456789abcdef";

/* Lower-case hex only: upper case is invalid in version 00. */
static int
nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* n bytes from 2n hex digits; false on a bad digit or when all are zero. */
static bool
hex_id(const char *s, uint8_t *out, size_t n)
{
    uint8_t any = 0;
    for (size_t i = 0; i < n; i++) {
        int hi = nibble(s[2 * i]), lo = nibble(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
        any |= out[i];
    }
    return any != 0;
}

int
gw_trace_ctx_parse(struct gw_trace_ctx *out, const char *s, size_t n)
{
    if (n != GW_TRACE_PARENT_LEN || s[0] != '0' || s[1] != '0' || s[2] != '-' || s[35] != '-' ||
        s[52] != '-')
        return GW_EINVAL;
    if (!hex_id(s + 3, out->trace_id, 16) || !hex_id(s + 36, out->span_id, 8))
        return GW_EINVAL;
    int hi = nibble(s[53]), lo = nibble(s[54]);
    if (hi < 0 || lo < 0)
        return GW_EINVAL;
    out->flags = (uint8_t)(hi << 4 | lo);
    return 0;
}

void
gw_trace_hex_format(const uint8_t *id, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hexd[id[i] >> 4];
        out[2 * i + 1] = hexd[id[i] & 15];
    }
    out[2 * n] = '\0';
}

void
gw_trace_ctx_format(const struct gw_trace_ctx *c, char out[GW_TRACE_PARENT_LEN + 1])
{
    out[0] = '0';
    out[1] = '0';
    out[2] = '-';
    gw_trace_hex_format(c->trace_id, 16, out + 3);
    out[35] = '-';
    gw_trace_hex_format(c->span_id, 8, out + 36);
    out[52] = '-';
    /* Only the sampled bit is ours to send on. */
    uint8_t f = c->flags & GW_TRACE_FLAG_SAMPLED;
    out[53] = hexd[f >> 4];
    out[54] = hexd[f & 15];
    out[55] = '\0';
}

static bool
is_ows(char c)
{
    return c == ' ' || c == '\t';
}

bool
gw_trace_state_is_valid(const char *s, size_t n)
{
    if (n == 0 || n > GW_TRACE_STATE_MAX)
        return false;
    unsigned members = 0;
    size_t i = 0;
    while (i <= n) {
        size_t end = i;
        while (end < n && s[end] != ',')
            end++;
        size_t a = i, b = end;
        while (a < b && is_ows(s[a]))
            a++;
        while (b > a && is_ows(s[b - 1]))
            b--;
        if (a < b) {
            if (++members > GW_TRACE_STATE_MEMBERS)
                return false;
            const char *eq = memchr(s + a, '=', b - a);
            if (!eq || eq == s + a || eq == s + b - 1)
                return false;
            for (size_t k = a; k < b; k++)
                if ((unsigned char)s[k] < 0x20 || (unsigned char)s[k] > 0x7e)
                    return false;
        }
        i = end + 1;
    }
    return members > 0;
}

static bool
copy_out(const char *s, size_t n, char *out, size_t cap)
{
    if (n + 1 > cap)
        return false;
    memcpy(out, s, n);
    out[n] = '\0';
    return true;
}

int
gw_trace_endpoint_parse(const char *url, char *host, size_t host_cap, uint16_t *port, char *path,
                        size_t path_cap)
{
    static const char scheme[] = "http://";
    size_t n = strlen(url);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] > 0x7e)
            return GW_EINVAL;
    if (n < sizeof(scheme) || memcmp(url, scheme, sizeof(scheme) - 1) != 0)
        return GW_EINVAL;
    const char *h = url + sizeof(scheme) - 1, *end = url + n;
    const char *slash = memchr(h, '/', (size_t)(end - h));
    const char *hend = slash ? slash : end;
    const char *colon = NULL;
    const char *hs = h, *he;
    if (*h == '[') {
        const char *rb = memchr(h, ']', (size_t)(hend - h));
        if (!rb || rb == h + 1)
            return GW_EINVAL;
        hs = h + 1;
        he = rb;
        if (rb + 1 < hend) {
            if (rb[1] != ':')
                return GW_EINVAL;
            colon = rb + 1;
        }
    } else {
        colon = memchr(h, ':', (size_t)(hend - h));
        he = colon ? colon : hend;
    }
    if (he == hs || !copy_out(hs, (size_t)(he - hs), host, host_cap))
        return GW_EINVAL;
    *port = 80;
    if (colon) {
        uint64_t v;
        if (gw_str_to_u64((struct gw_str){colon + 1, (size_t)(hend - colon - 1)}, 65535, &v) < 0 ||
            v == 0)
            return GW_EINVAL;
        *port = (uint16_t)v;
    }
    if (!slash || slash + 1 == end)
        return copy_out("/v1/traces", 10, path, path_cap) ? 0 : GW_EINVAL;
    return copy_out(slash, (size_t)(end - slash), path, path_cap) ? 0 : GW_EINVAL;
}
