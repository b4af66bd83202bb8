/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The gRPC EchoResponse of ECHO.md 3, hand-encoded: protobuf needs only
 * varints and length-delimited fields here, and proto3 leaves empty strings
 * out. Submessages are encoded into their own buffer first so their length
 * prefix is known.
 */
#include <string.h>

#include "base/base.h"
#include "echo/internal.h"
/* Last, so its bans cannot break the system headers above. */
#include "base/banned.h"

#define PB_MAX (1u << 24)

static void
put_varint(struct gw_buf *b, uint64_t v)
{
    char tmp[10];
    size_t n = 0;
    while (v >= 0x80) {
        tmp[n++] = (char)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (char)v;
    gw_buf_append(b, tmp, n);
}

/* Field of wire type 2 (length-delimited). */
static void
put_bytes(struct gw_buf *b, unsigned field, const char *p, size_t n)
{
    put_varint(b, (uint64_t)field << 3 | 2);
    put_varint(b, n);
    gw_buf_append(b, p, n);
}

static void
put_str(struct gw_buf *b, unsigned field, struct gw_str s)
{
    if (s.len)
        put_bytes(b, field, s.p, s.len);
}

static void
put_cstr(struct gw_buf *b, unsigned field, const char *s)
{
    put_str(b, field, gw_str_from(s));
}

void
echo_grpc_response(struct echo_conn *c, struct gw_str path, struct gw_str authority,
                   const struct gw_h1_header *h, size_t nh, struct gw_buf *out)
{
    const struct gw_echo_config *cfg = c->srv->cfg;
    struct gw_buf assertions, sub, item;
    gw_buf_init(&assertions, PB_MAX);
    gw_buf_init(&sub, PB_MAX);
    gw_buf_init(&item, PB_MAX);

    put_str(&assertions, 1, path); /* fully_qualified_method */
    for (size_t i = 0; i < nh; i++) {
        gw_buf_reset(&item);
        put_str(&item, 1, h[i].name);
        put_str(&item, 2, h[i].value);
        put_bytes(&assertions, 2, item.p ? item.p : "", item.len); /* headers */
    }
    put_str(&assertions, 3, authority);
    put_cstr(&sub, 1, cfg->ns);
    put_cstr(&sub, 2, cfg->ingress);
    put_cstr(&sub, 3, cfg->service);
    put_cstr(&sub, 4, cfg->pod);
    put_bytes(&assertions, 4, sub.p ? sub.p : "", sub.len); /* context */
    if (c->ssl) {
        gw_buf_reset(&sub);
        put_cstr(&sub, 1, echo_tls_version(c->ssl, false));
        put_str(&sub, 2, echo_tls_alpn(c->ssl));
        put_cstr(&sub, 3, echo_tls_sni(c->ssl));
        put_cstr(&sub, 4, echo_tls_cipher(c->ssl));
        for (int i = 0;; i++) {
            gw_buf_reset(&item);
            if (!echo_tls_peer_pem(c->ssl, i, &item))
                break;
            put_bytes(&sub, 5, item.p, item.len);
        }
        put_bytes(&assertions, 5, sub.p ? sub.p : "", sub.len); /* tls_assertions */
    }
    gw_buf_reset(&sub);
    put_bytes(&sub, 1, assertions.p ? assertions.p : "", assertions.len);
    put_bytes(&sub, 2, "", 0); /* request: the (empty) EchoRequest */

    /* gRPC length-prefixed message: uncompressed flag, 4-byte length. */
    unsigned char prefix[5] = {0, (unsigned char)(sub.len >> 24), (unsigned char)(sub.len >> 16),
                               (unsigned char)(sub.len >> 8), (unsigned char)sub.len};
    gw_buf_append(out, prefix, sizeof(prefix));
    gw_buf_append(out, sub.p, sub.len);
    gw_buf_release(&assertions);
    gw_buf_release(&sub);
    gw_buf_release(&item);
}

/* Reads one varint; false at the end of the input or on a bad one. */
static bool
get_varint(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
    *v = 0;
    for (unsigned shift = 0; *p < end && shift < 64; shift += 7) {
        unsigned char b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return true;
    }
    return false;
}

void
echo_grpc_reflection(const char *req, size_t n, struct gw_buf *out)
{
    const unsigned char *p = (const unsigned char *)req, *end = p + n;
    bool list = false;
    /* ServerReflectionRequest: only list_services (field 7) is answered. */
    while (p < end) {
        uint64_t key, v;
        if (!get_varint(&p, end, &key))
            break;
        if ((key & 7) == 0) {
            if (!get_varint(&p, end, &v))
                break;
        } else if ((key & 7) == 2) {
            if (!get_varint(&p, end, &v) || v > (uint64_t)(end - p))
                break;
            if (key >> 3 == 7)
                list = true;
            p += v;
        } else {
            break;
        }
    }
    struct gw_buf msg, sub, item;
    gw_buf_init(&msg, PB_MAX);
    gw_buf_init(&sub, PB_MAX);
    gw_buf_init(&item, PB_MAX);
    put_bytes(&msg, 2, req, n); /* original_request */
    if (list) {
        static const char *const services[] = {
            ECHO_GRPC_SERVICE,
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
        };
        for (size_t i = 0; i < GW_ARRAY_LEN(services); i++) {
            gw_buf_reset(&item);
            put_cstr(&item, 1, services[i]);
            put_bytes(&sub, 1, item.p, item.len);
        }
        put_bytes(&msg, 6, sub.p, sub.len); /* list_services_response */
    } else {
        /* No descriptors are served: say so per request (ErrorResponse). */
        put_varint(&sub, 1 << 3 | 0);
        put_varint(&sub, 12); /* UNIMPLEMENTED */
        put_cstr(&sub, 2, "only list_services is supported");
        put_bytes(&msg, 7, sub.p, sub.len);
    }
    unsigned char prefix[5] = {0, (unsigned char)(msg.len >> 24), (unsigned char)(msg.len >> 16),
                               (unsigned char)(msg.len >> 8), (unsigned char)msg.len};
    gw_buf_append(out, prefix, sizeof(prefix));
    gw_buf_append(out, msg.p, msg.len);
    gw_buf_release(&msg);
    gw_buf_release(&sub);
    gw_buf_release(&item);
}
