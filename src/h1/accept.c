/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Accept-Encoding (RFC 9110 §12.5.3): the weights a request gives the
 * content codings gatehouse can produce (gzip, br, zstd), identity and
 * "*". Pure and allocation-free; CompressionPolicy picks a coding from the
 * result (src/proxy/compress.c).
 */
#include <string.h>

#include "h1/internal.h"

#include "base/banned.h"

void
gw_h1_accept_init(struct gw_h1_accept *a)
{
    for (size_t i = 0; i < GW_H1_CODING__COUNT; i++)
        a->q[i] = -1;
}

/* qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), in
 * thousandths; -1 when malformed. */
static int
qvalue(struct gw_str s)
{
    if (s.len == 0 || s.len > 5 || (s.p[0] != '0' && s.p[0] != '1'))
        return -1;
    int v = (s.p[0] - '0') * 1000;
    if (s.len == 1)
        return v;
    if (s.p[1] != '.')
        return -1;
    int scale = 100;
    for (size_t i = 2; i < s.len; i++, scale /= 10) {
        if (s.p[i] < '0' || s.p[i] > '9')
            return -1;
        v += (s.p[i] - '0') * scale;
    }
    return v > 1000 ? -1 : v;
}

static int
coding_of(struct gw_str c)
{
    if (gw_str_caseeq(c, GW_STR("gzip")) || gw_str_caseeq(c, GW_STR("x-gzip")))
        return GW_H1_CODING_GZIP;
    if (gw_str_caseeq(c, GW_STR("br")))
        return GW_H1_CODING_BR;
    if (gw_str_caseeq(c, GW_STR("zstd")))
        return GW_H1_CODING_ZSTD;
    if (gw_str_caseeq(c, GW_STR("identity")))
        return GW_H1_CODING_IDENTITY;
    if (c.len == 1 && c.p[0] == '*')
        return GW_H1_CODING_ANY;
    return -1;
}

int
gw_h1_accept_encoding_parse(struct gw_str value, struct gw_h1_accept *a)
{
    int rc = 0;
    struct gw_str rest = value, item;
    while (gw_h1_list_next(&rest, &item)) {
        const char *semi = memchr(item.p, ';', item.len);
        struct gw_str name =
            gw_str_trim((struct gw_str){item.p, semi ? (size_t)(semi - item.p) : item.len});
        int q = 1000;
        while (semi) {
            const char *end = item.p + item.len;
            const char *p = semi + 1;
            semi = memchr(p, ';', (size_t)(end - p));
            struct gw_str param =
                gw_str_trim((struct gw_str){p, (size_t)((semi ? semi : end) - p)});
            if (param.len >= 2 && (param.p[0] == 'q' || param.p[0] == 'Q') && param.p[1] == '=')
                q = qvalue((struct gw_str){param.p + 2, param.len - 2});
        }
        int c = coding_of(name);
        if (q < 0 || !gw_h1_is_token(name)) {
            rc = GW_EINVAL; /* this element is ignored, the others kept */
            continue;
        }
        if (c >= 0)
            a->q[c] = (short)q;
    }
    return rc;
}

int
gw_h1_accept_weight(const struct gw_h1_accept *a, enum gw_h1_coding c)
{
    if ((unsigned)c >= GW_H1_CODING_ANY)
        return 0;
    if (a->q[c] >= 0)
        return a->q[c];
    if (a->q[GW_H1_CODING_ANY] >= 0)
        return a->q[GW_H1_CODING_ANY];
    /* Not listed and no "*": identity stays acceptable, the rest is not. */
    return c == GW_H1_CODING_IDENTITY ? 1000 : 0;
}
