/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the watch-stream framer: events split at every byte,
 * several per feed, braces and escaped quotes inside strings, blanks and
 * missing newlines between events, the size limit, and what is not an
 * object at the top level.
 */
#include <stdlib.h>
#include <string.h>

#include "k8s/internal.h"
#include "tap.h"

#include "base/banned.h"

static const char stream[] =
    "{\"type\":\"ADDED\",\"object\":{\"kind\":\"HTTPRoute\",\"metadata\":{\"name\":\"a}\"}}}\n"
    "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"b\\\"{[\"},\"x\":[1,{}]}}\n"
    "\r\n  {\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"12\"}}}"
    "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,\"message\":\"\\\\\"}}\n";

static const char *const want[] = {
    "{\"type\":\"ADDED\",\"object\":{\"kind\":\"HTTPRoute\",\"metadata\":{\"name\":\"a}\"}}}",
    "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"b\\\"{[\"},\"x\":[1,{}]}}",
    "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"12\"}}}",
    "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,\"message\":\"\\\\\"}}",
};

/* Feeds stream in pieces of step bytes, draining after each; true if the
 * four events come out whole and in order. */
static bool
split_run(size_t step)
{
    struct gw_k8s_frame f;
    gw_k8s_frame_init(&f, 4096);
    size_t len = strlen(stream), got = 0;
    bool good = true;
    for (size_t off = 0; off < len && good; off += step) {
        size_t n = GW_MIN(step, len - off);
        if (gw_k8s_frame_feed(&f, stream + off, n) != 0)
            good = false;
        const char *p;
        size_t pn;
        while (good && gw_k8s_frame_next(&f, &p, &pn) == 1) {
            if (got >= GW_ARRAY_LEN(want) || pn != strlen(want[got]) ||
                memcmp(p, want[got], pn) != 0)
                good = false;
            got++;
        }
    }
    gw_k8s_frame_release(&f);
    return good && got == GW_ARRAY_LEN(want);
}

int
main(void)
{
    bool all = true;
    for (size_t step = 1; step <= strlen(stream); step++)
        all = all && split_run(step);
    ok(all, "every split yields the four events");

    struct gw_k8s_frame f;
    const char *p;
    size_t n;

    gw_k8s_frame_init(&f, 4096);
    is_int(gw_k8s_frame_next(&f, &p, &n), 0, "empty framer has nothing");
    is_int(gw_k8s_frame_feed(&f, "  {\"a\":", 7), 0, "partial event fed");
    is_int(gw_k8s_frame_next(&f, &p, &n), 0, "partial event is not returned");
    is_int(gw_k8s_frame_feed(&f, "1}{\"b\":2}\n{", 11), 0, "rest fed");
    ok(gw_k8s_frame_next(&f, &p, &n) == 1 && n == 7 && memcmp(p, "{\"a\":1}", 7) == 0,
       "first event");
    ok(gw_k8s_frame_next(&f, &p, &n) == 1 && n == 7 && memcmp(p, "{\"b\":2}", 7) == 0,
       "second event");
    is_int(gw_k8s_frame_next(&f, &p, &n), 0, "third still open");
    is_int(gw_k8s_frame_feed(&f, "}", 1), 0, "closed");
    ok(gw_k8s_frame_next(&f, &p, &n) == 1 && n == 2, "third event");
    is_int(gw_k8s_frame_next(&f, &p, &n), 0, "drained");
    is_int((long long)f.buf.len - (long long)f.done, 0, "nothing pending");
    gw_k8s_frame_release(&f);

    gw_k8s_frame_init(&f, 4096);
    is_int(gw_k8s_frame_feed(&f, "[1]", 3), GW_EPARSE, "a list at the top is refused");
    is_int(gw_k8s_frame_feed(&f, "{}", 2), GW_EPARSE, "the error sticks");
    is_int(gw_k8s_frame_next(&f, &p, &n), 0, "no events after an error");
    gw_k8s_frame_release(&f);

    gw_k8s_frame_init(&f, 4096);
    is_int(gw_k8s_frame_feed(&f, "{} x", 4), GW_EPARSE, "garbage after an event");
    gw_k8s_frame_release(&f);

    gw_k8s_frame_init(&f, 16);
    is_int(gw_k8s_frame_feed(&f, "{\"a\":\"0123456\"}", 15), 0, "15 bytes within 16");
    is_int(gw_k8s_frame_feed(&f, "{\"a\":\"01234567\"}", 16), 0, "16 bytes within 16");
    ok(gw_k8s_frame_next(&f, &p, &n) == 1 && n == 15, "first");
    ok(gw_k8s_frame_next(&f, &p, &n) == 1 && n == 16, "second");
    is_int(gw_k8s_frame_feed(&f, "{\"a\":\"0123", 10), 0, "start of a long one");
    is_int(gw_k8s_frame_feed(&f, "45678\"}", 7), GW_ELIMIT, "17 bytes over 16");
    gw_k8s_frame_release(&f);

    gw_k8s_frame_init(&f, 16);
    char blanks[4096];
    memset(blanks, '\n', sizeof(blanks));
    int rc = 0;
    for (int i = 0; i < 1000 && rc == 0; i++)
        rc = gw_k8s_frame_feed(&f, blanks, sizeof(blanks));
    is_int(rc, 0, "endless blank lines are fine");
    ok(f.buf.len < 2 * sizeof(blanks), "and are not kept (%zu)", f.buf.len);
    is_int(gw_k8s_frame_feed(&f, "{\"k\":\"}\\\\\"}", 11), 0, "escaped backslash");
    ok(gw_k8s_frame_next(&f, &p, &n) == 1 && n == 11, "ends after the closing brace");
    gw_k8s_frame_release(&f);

    /* A real-sized object: 200 KiB in one event, fed in 1 KiB pieces. */
    size_t big = 200 * 1024;
    char *ev = malloc(big);
    memset(ev, 'x', big);
    memcpy(ev, "{\"s\":\"", 6);
    memcpy(ev + big - 2, "\"}", 2);
    gw_k8s_frame_init(&f, 1 << 20);
    rc = 0;
    int events = 0;
    for (size_t off = 0; off < big && rc == 0; off += 1024) {
        rc = gw_k8s_frame_feed(&f, ev + off, GW_MIN(1024, big - off));
        while (rc == 0 && gw_k8s_frame_next(&f, &p, &n) == 1)
            events += n == big;
    }
    ok(rc == 0 && events == 1, "a big event comes out whole");
    gw_k8s_frame_release(&f);
    free(ev);
    return done_testing();
}
