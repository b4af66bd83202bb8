/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CompressionPolicy on responses (docs/policies.md): which coding a
 * request accepts (px_zip_request, at routing), whether its response gets
 * coded and the head fields that then change (px_zip_response: Content-
 * Encoding set, Vary merged, ETag made weak; conn.c drops Content-Length and
 * frames the body as chunks or DATA), and the streaming encoders (zlib
 * gzip, brotli, zstd) that code each read of the upstream body and flush
 * it at once: no body is buffered whole, a stream holds one encoder state
 * (windows bounded below) and the output goes out through a stack buffer.
 *
 * Request bodies are never touched: a request with Content-Encoding goes
 * upstream as it came, which is what makes a compression bomb in one cost
 * nothing here.
 */
#include <brotli/encode.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "proxy/internal.h"

#include "base/banned.h"

_Static_assert((int)GW_IR_CODING_GZIP == (int)GW_H1_CODING_GZIP &&
                   (int)GW_IR_CODING_BR == (int)GW_H1_CODING_BR &&
                   (int)GW_IR_CODING_ZSTD == (int)GW_H1_CODING_ZSTD,
               "IR codings and h1 codings share their numbers");

/* Windows: 32 KiB for gzip (its maximum), 256 KiB for br and zstd: enough
 * for the ratio of on-the-fly levels, a bounded cost per stream. */
#define ZIP_BR_LGWIN    18
#define ZIP_ZSTD_WINLOG 18

/* The longest Vary and ETag values a coded response carries; longer ones
 * are left alone (the response goes as is). */
#define ZIP_FIELD_MAX 512

struct px_zip {
    int coding; /* enum gw_ir_coding */

    union {
        z_stream z;
        BrotliEncoderState *br;
        ZSTD_CCtx *zstd;
    } u;
    struct gw_ir_header set[3];
    struct gw_ir_header_mod mod;
    char vary[ZIP_FIELD_MAX];
    char etag[ZIP_FIELD_MAX];
};

static const char *const coding_names[] = {"identity", "gzip", "br", "zstd"};

int
px_zip_request(const struct gw_ir_compress *c, const struct gw_h1_request *req)
{
    if (req->method_id == GW_H1_METHOD_HEAD)
        return 0;
    struct gw_h1_accept a;
    gw_h1_accept_init(&a);
    bool any = false;
    for (size_t i = 0; i < req->nheaders; i++) {
        const struct gw_h1_header *h = &req->headers[i];
        if (gw_str_caseeq(h->name, GW_STR("range")))
            return 0; /* never for a range request */
        if (gw_str_caseeq(h->name, GW_STR("accept-encoding"))) {
            gw_h1_accept_encoding_parse(h->value, &a);
            any = true;
        }
    }
    if (!any)
        return 0;
    /* The client's weights first, the policy's order among equals; a
     * coding weighted below an identity the client lists (itself or through
     * "*") is not worth it; an unlisted identity weighs nothing here. */
    int best = 0, best_q = 0;
    for (size_t i = 0; i < c->norder; i++) {
        int q = gw_h1_accept_weight(&a, (enum gw_h1_coding)c->order[i]);
        if (q > best_q) {
            best = c->order[i];
            best_q = q;
        }
    }
    int id = a.q[GW_H1_CODING_IDENTITY] >= 0 ? a.q[GW_H1_CODING_IDENTITY] : a.q[GW_H1_CODING_ANY];
    if (best && best_q < id)
        return 0;
    return best;
}

static bool
type_matches(const struct gw_ir_compress *c, struct gw_str ct)
{
    const char *semi = memchr(ct.p, ';', ct.len);
    struct gw_str m = gw_str_trim((struct gw_str){ct.p, semi ? (size_t)(semi - ct.p) : ct.len});
    /* gRPC has its own framing and compression. */
    if (m.len >= 16 && gw_str_caseeq((struct gw_str){m.p, 16}, GW_STR("application/grpc")))
        return false;
    for (size_t i = 0; i < c->ntypes; i++) {
        struct gw_str t = gw_str_from(c->types[i]);
        if (t.len && t.p[t.len - 1] == '/') {
            if (m.len > t.len && gw_str_caseeq((struct gw_str){m.p, t.len}, t))
                return true;
        } else if (gw_str_caseeq(m, t)) {
            return true;
        }
    }
    return false;
}

/* Vary joined from every field line, with Accept-Encoding added unless it
 * (or "*") is there; false when it does not fit. */
static bool
merge_vary(struct px_zip *z, const struct gw_h1_response *res)
{
    size_t n = 0;
    bool has = false;
    for (size_t i = 0; i < res->nheaders; i++) {
        const struct gw_h1_header *h = &res->headers[i];
        if (!gw_str_caseeq(h->name, GW_STR("vary")))
            continue;
        if (gw_h1_list_has(h->value, GW_STR("accept-encoding")) ||
            gw_h1_list_has(h->value, GW_STR("*")))
            has = true;
        struct gw_str v = gw_str_trim(h->value);
        if (!v.len)
            continue;
        if (n + v.len + 2 >= sizeof(z->vary))
            return false;
        if (n) {
            memcpy(z->vary + n, ", ", 2);
            n += 2;
        }
        memcpy(z->vary + n, v.p, v.len);
        n += v.len;
    }
    if (!has) {
        static const char ae[] = "Accept-Encoding";
        if (n + sizeof(ae) + 2 >= sizeof(z->vary))
            return false;
        if (n) {
            memcpy(z->vary + n, ", ", 2);
            n += 2;
        }
        memcpy(z->vary + n, ae, sizeof(ae) - 1);
        n += sizeof(ae) - 1;
    }
    z->vary[n] = 0;
    return true;
}

/* deflate's window and hash sized to a body of known length `len` (< 0:
 * unknown): halved, with the hash, while the body fits in half the window.
 * Each step halves what deflateInit2 allocates and clears (a 64 KiB hash at
 * memLevel 8), most of the setup cost of a small response; the window still
 * holds the whole body, so the coded bytes are as small. */
static void
gzip_sizes(int64_t len, int *wbits, int *memlevel)
{
    *wbits = 15;
    *memlevel = 8;
    while (len >= 0 && *wbits > 9 && len <= (int64_t)1 << (*wbits - 1)) {
        (*wbits)--;
        if (*memlevel > 1)
            (*memlevel)--;
    }
}

static int
encoder_init(struct px_zip *z, int coding, int level, int64_t len)
{
    int wbits, memlevel;
    switch (coding) {
    case GW_IR_CODING_GZIP:
        memset(&z->u.z, 0, sizeof(z->u.z));
        gzip_sizes(len, &wbits, &memlevel);
        return deflateInit2(&z->u.z, level, Z_DEFLATED, wbits + 16, memlevel, Z_DEFAULT_STRATEGY) ==
                       Z_OK
                   ? 0
                   : GW_ENOMEM;
    case GW_IR_CODING_BR:
        z->u.br = BrotliEncoderCreateInstance(NULL, NULL, NULL);
        if (!z->u.br)
            return GW_ENOMEM;
        BrotliEncoderSetParameter(z->u.br, BROTLI_PARAM_QUALITY, (uint32_t)level);
        BrotliEncoderSetParameter(z->u.br, BROTLI_PARAM_LGWIN, ZIP_BR_LGWIN);
        if (len >= 0 && len <= INT32_MAX)
            BrotliEncoderSetParameter(z->u.br, BROTLI_PARAM_SIZE_HINT, (uint32_t)len);
        return 0;
    case GW_IR_CODING_ZSTD:
        z->u.zstd = ZSTD_createCCtx();
        if (!z->u.zstd)
            return GW_ENOMEM;
        ZSTD_CCtx_setParameter(z->u.zstd, ZSTD_c_compressionLevel, level);
        ZSTD_CCtx_setParameter(z->u.zstd, ZSTD_c_windowLog, ZIP_ZSTD_WINLOG);
        return 0;
    default:
        return GW_EINVAL;
    }
}

struct px_zip *
px_zip_response(const struct gw_ir_compress *c, int coding, const struct gw_h1_response *res)
{
    int s = res->status;
    if (s < 200 || s == 204 || s == 206 || s == 304)
        return NULL;
    if (res->body == GW_H1_BODY_NONE || res->body == GW_H1_BODY_TUNNEL)
        return NULL;
    if (res->body == GW_H1_BODY_LENGTH && res->content_length < c->min_size)
        return NULL;
    struct gw_str etag = GW_STR_NULL;
    bool typed = false;
    for (size_t i = 0; i < res->nheaders; i++) {
        const struct gw_h1_header *h = &res->headers[i];
        if (gw_str_caseeq(h->name, GW_STR("content-encoding")) ||
            gw_str_caseeq(h->name, GW_STR("content-range")))
            return NULL;
        if (gw_str_caseeq(h->name, GW_STR("cache-control")) &&
            gw_h1_list_has(h->value, GW_STR("no-transform")))
            return NULL; /* RFC 9110 §7.7 */
        if (gw_str_caseeq(h->name, GW_STR("content-type"))) {
            if (!type_matches(c, h->value))
                return NULL;
            typed = true;
        }
        if (gw_str_caseeq(h->name, GW_STR("etag")))
            etag = gw_str_trim(h->value);
    }
    if (!typed)
        return NULL;
    struct px_zip *z = gw_xcalloc(1, sizeof(*z));
    if (!merge_vary(z, res) || etag.len + 3 > sizeof(z->etag))
        goto fail;
    size_t n = 0;
    z->set[n++] = (struct gw_ir_header){"Content-Encoding", coding_names[coding & 3]};
    z->set[n++] = (struct gw_ir_header){"Vary", z->vary};
    if (etag.len) {
        /* The coded bytes differ from the identity ones: a strong validator
         * would claim otherwise (RFC 9110 §8.8.1). */
        size_t k = 0;
        if (!(etag.len >= 2 && etag.p[0] == 'W' && etag.p[1] == '/')) {
            memcpy(z->etag, "W/", 2);
            k = 2;
        }
        memcpy(z->etag + k, etag.p, etag.len);
        z->etag[k + etag.len] = 0;
        z->set[n++] = (struct gw_ir_header){"ETag", z->etag};
    }
    z->mod.set = z->set;
    z->mod.nset = n;
    z->coding = coding;
    int64_t len = res->body == GW_H1_BODY_LENGTH ? (int64_t)res->content_length : -1;
    if (encoder_init(z, coding, c->level[coding & 3], len) < 0) {
        z->coding = 0;
        goto fail;
    }
    return z;
fail:
    px_zip_free(z);
    return NULL;
}

const struct gw_ir_header_mod *
px_zip_mod(const struct px_zip *z)
{
    return &z->mod;
}

int
px_zip_write(struct px_zip *z, const char *p, size_t n, bool last, px_zip_emit_fn emit, void *ctx)
{
    char buf[16384];
    if (!n && !last)
        return 0;
    switch (z->coding) {
    case GW_IR_CODING_GZIP: {
        z_stream *s = &z->u.z;
        s->next_in = (Bytef *)(uintptr_t)p;
        s->avail_in = (uInt)n;
        int flush = last ? Z_FINISH : Z_SYNC_FLUSH;
        for (;;) {
            s->next_out = (Bytef *)buf;
            s->avail_out = sizeof(buf);
            int rc = deflate(s, flush);
            if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
                return GW_EINVAL;
            emit(ctx, buf, sizeof(buf) - s->avail_out);
            if (rc == Z_STREAM_END || (!last && s->avail_out != 0))
                return 0;
        }
    }
    case GW_IR_CODING_BR: {
        size_t in_left = n, out_left;
        const uint8_t *in = (const uint8_t *)p;
        BrotliEncoderOperation op = last ? BROTLI_OPERATION_FINISH : BROTLI_OPERATION_FLUSH;
        for (;;) {
            uint8_t *out = (uint8_t *)buf;
            out_left = sizeof(buf);
            if (!BrotliEncoderCompressStream(z->u.br, op, &in_left, &in, &out_left, &out, NULL))
                return GW_EINVAL;
            emit(ctx, buf, sizeof(buf) - out_left);
            if (!in_left && !BrotliEncoderHasMoreOutput(z->u.br) &&
                (!last || BrotliEncoderIsFinished(z->u.br)))
                return 0;
        }
    }
    case GW_IR_CODING_ZSTD: {
        ZSTD_inBuffer in = {p, n, 0};
        for (;;) {
            ZSTD_outBuffer out = {buf, sizeof(buf), 0};
            size_t left =
                ZSTD_compressStream2(z->u.zstd, &out, &in, last ? ZSTD_e_end : ZSTD_e_flush);
            if (ZSTD_isError(left))
                return GW_EINVAL;
            emit(ctx, buf, out.pos);
            if (left == 0 && in.pos == in.size)
                return 0;
        }
    }
    default:
        return GW_EINVAL;
    }
}

void
px_zip_free(struct px_zip *z)
{
    if (!z)
        return;
    switch (z->coding) {
    case GW_IR_CODING_GZIP:
        deflateEnd(&z->u.z);
        break;
    case GW_IR_CODING_BR:
        BrotliEncoderDestroyInstance(z->u.br);
        break;
    case GW_IR_CODING_ZSTD:
        ZSTD_freeCCtx(z->u.zstd);
        break;
    default:
        break;
    }
    free(z);
}
