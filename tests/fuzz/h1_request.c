/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: gw_h1_request_parse. Besides "no crash", it checks the
 * parser's contracts: the result never exceeds the input, every view lies
 * inside it, a prefix of the input never disagrees with the whole (feeding
 * in pieces gives the same answer), and a chunked body that follows is
 * decoded the same whole and byte by byte.
 */
#include <stdint.h>
#include <string.h>

#include "h1/h1.h"

#include "base/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_view(struct gw_str s, const char *buf, size_t len)
{
    if (s.len > 0)
        GW_ASSERT(s.p >= buf && s.p + s.len <= buf + len);
}

static int
parse(const char *buf, size_t len, struct gw_h1_request *req, struct gw_h1_header *h, size_t maxh,
      const struct gw_h1_limits *lim)
{
    req->headers = h;
    req->max_headers = maxh;
    return gw_h1_request_parse(buf, len, req, lim);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    const char *buf = (const char *)data;
    struct gw_h1_limits lim = GW_H1_LIMITS_DEFAULT;
    lim.max_request_line = 512;
    lim.max_head_bytes = 2048;
    lim.max_body = 1 << 20;
    struct gw_h1_header h[16];
    struct gw_h1_request req;
    int rc = parse(buf, size, &req, h, GW_ARRAY_LEN(h), &lim);
    GW_ASSERT(rc == GW_EAGAIN || rc == GW_EPARSE || rc == GW_ELIMIT ||
              (rc > 0 && (size_t)rc <= size));
    if (rc < 0 && rc != GW_EAGAIN)
        GW_ASSERT(req.error_status >= 400 && req.error != NULL);
    if (rc > 0) {
        GW_ASSERT(req.nheaders <= GW_ARRAY_LEN(h));
        check_view(req.method, buf, size);
        check_view(req.target, buf, size);
        check_view(req.path, buf, size);
        check_view(req.host, buf, size);
        check_view(req.authority, buf, size);
        for (size_t i = 0; i < req.nheaders; i++) {
            check_view(h[i].name, buf, size);
            check_view(h[i].value, buf, size);
            GW_ASSERT(h[i].name.len > 0);
        }
        /* the head alone parses to the same length */
        struct gw_h1_request r2;
        GW_ASSERT(parse(buf, (size_t)rc, &r2, h, GW_ARRAY_LEN(h), &lim) == rc);
        GW_ASSERT(r2.body == req.body && r2.content_length == req.content_length);
    }
    /* prefixes: EAGAIN until the same answer (sampled to stay fast) */
    size_t step = size / 64 + 1;
    for (size_t n = 0; n < size; n += step) {
        struct gw_h1_request r2;
        int rc2 = parse(buf, n, &r2, h, GW_ARRAY_LEN(h), &lim);
        if (rc2 == GW_EAGAIN)
            continue;
        GW_ASSERT(rc2 == rc && r2.error_status == req.error_status);
        break;
    }
    if (rc > 0 && req.body == GW_H1_BODY_CHUNKED) {
        const char *in = buf + rc;
        size_t len = size - (size_t)rc, used, total = 0;
        struct gw_h1_chunked c;
        struct gw_str d;
        gw_h1_chunked_init(&c, &lim);
        int crc;
        do {
            crc = gw_h1_chunked_decode(&c, in, len, &used, &d);
            GW_ASSERT(used <= len);
            check_view(d, in, len);
            total += d.len;
            in += used;
            len -= used;
        } while (crc == GW_H1_CHUNKED_MORE || crc == GW_H1_CHUNKED_TRAILER);
        GW_ASSERT(c.total == total);
    }
    return 0;
}
