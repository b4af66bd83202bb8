/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Micro benchmark: gw_h1_request_parse on a typical ~300-byte browser
 * request, in a loop. Prints ns per parse and MB/s. With an argument N it
 * runs exactly N parses and prints nothing else, for callgrind:
 *   valgrind --tool=callgrind ./bench_h1_parse 1000
 * (instructions per parse = Ir of gw_h1_request_parse inclusive / 1000).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "base/banned.h"
#include "h1/h1.h"

static const char request[] =
    "GET /wiki/Hypertext_Transfer_Protocol?action=view HTTP/1.1\r\n"
    "Host: en.wikipedia.org\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n"
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
    "Accept-Language: en-US,en;q=0.5\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Connection: keep-alive\r\n"
    "Cookie: session=8f14e45fceea167a5a36dedd4bea2543\r\n"
    "\r\n";

static double
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int
main(int argc, char **argv)
{
    struct gw_h1_header headers[64];
    struct gw_h1_request req = {.headers = headers, .max_headers = GW_ARRAY_LEN(headers)};
    const size_t len = sizeof(request) - 1;
    long fixed = argc > 1 ? strtol(argv[1], NULL, 10) : 0;
    long iters = fixed > 0 ? fixed : 1000000;
    volatile size_t sink = 0;

    if (gw_h1_request_parse(request, len, &req, NULL) != (int)len) {
        fprintf(stderr, "bench: request did not parse: %s\n", req.error);
        return 1;
    }
    double best = 1e18;
    for (int round = 0; round < (fixed > 0 ? 1 : 5); round++) {
        double t0 = now_ns();
        for (long i = 0; i < iters; i++) {
            req.headers = headers;
            req.max_headers = GW_ARRAY_LEN(headers);
            sink += (size_t)gw_h1_request_parse(request, len, &req, NULL);
        }
        double ns = (now_ns() - t0) / (double)iters;
        if (ns < best)
            best = ns;
    }
    if (fixed == 0)
        printf("h1 request parse: %zu bytes, %zu headers: %.1f ns/op, %.0f MB/s\n", len,
               req.nheaders, best, (double)len / best * 1e3);
    return sink == 0;
}
