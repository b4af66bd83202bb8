/* SPDX-License-Identifier: Apache-2.0 */
/*
 * trace: traceparent parsing (every strictness rule) and formatting,
 * tracestate bounds, the collector URL, the id generator and sampler, and
 * the OTLP JSON body of a span.
 */
#include <string.h>

#include "tap.h"
#include "trace/trace.h"

#include "base/banned.h"

#define GOOD "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static int
parse(const char *s)
{
    struct gw_trace_ctx c;
    return gw_trace_ctx_parse(&c, s, strlen(s));
}

static void
test_parse(void)
{
    struct gw_trace_ctx c;
    is_int(gw_trace_ctx_parse(&c, GOOD, strlen(GOOD)), 0, "the W3C example parses");
    ok(c.trace_id[0] == 0x4b && c.trace_id[15] == 0x36, "trace id bytes");
    ok(c.span_id[0] == 0x00 && c.span_id[7] == 0xb7, "parent id bytes");
    is_int(c.flags, 1, "sampled flag");
    char out[GW_TRACE_PARENT_LEN + 1];
    gw_trace_ctx_format(&c, out);
    is_str(out, GOOD, "formats back to the same bytes");
    is_int(parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"), 0, "flags 00");
    is_int(parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff"), 0,
           "unknown flags are accepted");
    c.flags = 0xff;
    gw_trace_ctx_format(&c, out);
    ok(memcmp(out + 53, "01", 2) == 0, "only the sampled bit is sent on");

    static const char *const bad[] = {
        "",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", /* upper case */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  /* zero trace id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  /* zero parent */
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  /* version ff */
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  /* not version 00 */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-", /* long */
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",   /* short id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", /* separator */
        "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01",
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01", /* not hex */
        " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
    };
    for (size_t i = 0; i < GW_ARRAY_LEN(bad); i++)
        is_int(parse(bad[i]), GW_EINVAL, "refused: '%s'", bad[i]);
}

static void
test_state(void)
{
    static const char *const good[] = {"congo=t61rcWkgMzE", "rojo=00f067aa0ba902b7,congo=t61",
                                       "a=1, b=2", "a=1,,b=2", "t@sys=v 1"};
    for (size_t i = 0; i < GW_ARRAY_LEN(good); i++)
        ok(gw_trace_state_is_valid(good[i], strlen(good[i])), "kept: '%s'", good[i]);
    static const char *const bad[] = {"", ",", "novalue", "=v", "k=", "a=1,b", "a=\x01"};
    for (size_t i = 0; i < GW_ARRAY_LEN(bad); i++)
        ok(!gw_trace_state_is_valid(bad[i], strlen(bad[i])), "dropped: '%s'", bad[i]);
    char big[GW_TRACE_STATE_MAX + 2];
    memset(big, 'a', sizeof(big));
    big[1] = '=';
    ok(gw_trace_state_is_valid(big, GW_TRACE_STATE_MAX), "512 bytes kept");
    ok(!gw_trace_state_is_valid(big, GW_TRACE_STATE_MAX + 1), "513 bytes dropped");
    char many[33 * 4 + 1];
    size_t n = 0;
    for (int i = 0; i < 33; i++) {
        many[n++] = (char)('a' + i % 26);
        many[n++] = '=';
        many[n++] = '1';
        many[n++] = ',';
    }
    ok(gw_trace_state_is_valid(many, 32 * 4 - 1), "32 members kept");
    ok(!gw_trace_state_is_valid(many, n - 1), "33 members dropped");
}

static void
test_endpoint(void)
{
    char h[64], path[64];
    uint16_t port;
    is_int(gw_trace_endpoint_parse("http://127.0.0.1:4318/v1/traces", h, sizeof(h), &port, path,
                                   sizeof(path)),
           0, "host:port/path");
    is_str(h, "127.0.0.1", "host");
    is_int(port, 4318, "port");
    is_str(path, "/v1/traces", "path");
    is_int(gw_trace_endpoint_parse("http://[::1]:9/x", h, sizeof(h), &port, path, sizeof(path)), 0,
           "IPv6");
    is_str(h, "::1", "v6 host");
    is_str(path, "/x", "v6 path");
    is_int(gw_trace_endpoint_parse("http://collector", h, sizeof(h), &port, path, sizeof(path)), 0,
           "host only");
    ok(port == 80 && strcmp(path, "/v1/traces") == 0, "defaults");
    static const char *const bad[] = {"https://x/v1/traces", "http://",         "http://:80/",
                                      "http://x:0/",         "http://x:65536/", "http://x:a/",
                                      "http://[::1/",        "http://x /"};
    for (size_t i = 0; i < GW_ARRAY_LEN(bad); i++)
        is_int(gw_trace_endpoint_parse(bad[i], h, sizeof(h), &port, path, sizeof(path)), GW_EINVAL,
               "refused: '%s'", bad[i]);
}

static void
test_rng(void)
{
    struct gw_trace_rng a, b;
    gw_trace_rng_seed(&a, 42);
    gw_trace_rng_seed(&b, 42);
    uint8_t x[16], y[16];
    gw_trace_rng_trace_id(&a, x);
    gw_trace_rng_trace_id(&b, y);
    ok(memcmp(x, y, 16) == 0, "same seed, same ids");
    gw_trace_rng_trace_id(&a, y);
    ok(memcmp(x, y, 16) != 0, "successive ids differ");
    gw_trace_rng_init(&a);
    unsigned hits = 0;
    uint64_t thr = gw_trace_ratio_threshold(0.25);
    for (int i = 0; i < 100000; i++)
        hits += gw_trace_rng_sample(&a, thr);
    ok(hits > 24000 && hits < 26000, "ratio 0.25 samples a quarter (%u)", hits);
    unsigned all = 0, none = 0;
    for (int i = 0; i < 1000; i++) {
        all += gw_trace_rng_sample(&a, gw_trace_ratio_threshold(1.0));
        none += gw_trace_rng_sample(&a, gw_trace_ratio_threshold(0.0));
    }
    ok(all == 1000 && none == 0, "ratio 1 always, 0 never");
}

static void
test_otlp(void)
{
    struct gw_trace_span s;
    memset(&s, 0, sizeof(s));
    struct gw_trace_ctx c;
    gw_trace_ctx_parse(&c, GOOD, strlen(GOOD));
    memcpy(s.trace_id, c.trace_id, 16);
    memcpy(s.parent_id, c.span_id, 8);
    memset(s.span_id, 0xab, 8);
    s.has_parent = true;
    s.flags = 1;
    s.start_ns = 1700000000000000000ull;
    s.end_ns = s.start_ns + 1500;
    s.status = 503;
    s.server_port = 8080;
    s.proto = 20;
    memcpy(s.method, "GET", 4);
    memcpy(s.path, "/a\"b\x80", 6);
    memcpy(s.route, "HTTPRoute ns/r", 15);
    memcpy(s.error_type, "503", 4);
    struct gw_buf b;
    gw_buf_init(&b, 1 << 20);
    is_int(gw_trace_export_format(&b, "svc", &s, 1), 0, "formats");
    ok(strstr(b.p, "\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e4736\"") != NULL, "hex trace id");
    ok(strstr(b.p, "\"spanId\":\"abababababababab\"") != NULL, "hex span id");
    ok(strstr(b.p, "\"parentSpanId\":\"00f067aa0ba902b7\"") != NULL, "parent");
    ok(strstr(b.p, "\"startTimeUnixNano\":\"1700000000000000000\"") != NULL, "string times");
    ok(strstr(b.p, "\"name\":\"GET HTTPRoute ns/r\"") != NULL, "span name");
    ok(strstr(b.p, "\"stringValue\":\"/a\\\"b\\u0080\"") != NULL, "escaped path: %s", b.p);
    ok(strstr(b.p, "{\"key\":\"http.response.status_code\",\"value\":{\"intValue\":\"503\"}}") !=
           NULL,
       "int attribute");
    ok(strstr(b.p, "\"network.protocol.version\",\"value\":{\"stringValue\":\"2\"}") != NULL, "h2");
    ok(strstr(b.p, "\"status\":{\"code\":2}") != NULL, "error status");
    ok(strstr(b.p, "user_agent.original") == NULL, "empty attributes left out");
    gw_buf_release(&b);
    gw_buf_init(&b, 64);
    is_int(gw_trace_export_format(&b, "svc", &s, 1), GW_ELIMIT, "bounded by the buffer");
    gw_buf_release(&b);
}

int
main(void)
{
    test_parse();
    test_state();
    test_endpoint();
    test_rng();
    test_otlp();
    return done_testing();
}
