/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for base: strings, buffers, arenas, diagnostics, errors. */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "tap.h"

#include "base/banned.h"

static void
test_str(void)
{
    struct gw_str s = GW_STR("  Hello\t");
    ok(gw_str_eq_cstr(gw_str_trim(s), "Hello"), "trim strips spaces and tabs");
    ok(gw_str_caseeq(GW_STR("Content-Length"), GW_STR("content-length")), "caseeq");
    ok(!gw_str_caseeq(GW_STR("abc"), GW_STR("abcd")), "caseeq length differs");
    ok(gw_str_has_prefix(GW_STR("/foo/bar"), GW_STR("/foo")), "has_prefix");
    ok(!gw_str_has_prefix(GW_STR("/fo"), GW_STR("/foo")), "has_prefix shorter");
    ok(gw_str_has_suffix(GW_STR("a.example.com"), GW_STR(".example.com")), "has_suffix");
    ok(gw_str_eq(gw_str_from(NULL), GW_STR_NULL), "from(NULL) is empty");

    uint64_t v = 0;
    is_int(gw_str_to_u64(GW_STR("18446744073709551615"), UINT64_MAX, &v), 0, "u64 max parses");
    ok(v == UINT64_MAX, "u64 max value");
    is_int(gw_str_to_u64(GW_STR("18446744073709551616"), UINT64_MAX, &v), GW_ELIMIT,
           "u64 overflow is ELIMIT");
    is_int(gw_str_to_u64(GW_STR("65536"), 65535, &v), GW_ELIMIT, "past max is ELIMIT");
    is_int(gw_str_to_u64(GW_STR("12a"), 100, &v), GW_EINVAL, "non-digit is EINVAL");
    is_int(gw_str_to_u64(GW_STR("-1"), 100, &v), GW_EINVAL, "sign is EINVAL");
    is_int(gw_str_to_u64(GW_STR(""), 100, &v), GW_EINVAL, "empty is EINVAL");
}

static void
test_buf(void)
{
    struct gw_buf b;
    gw_buf_init(&b, 8);
    is_int(gw_buf_append_cstr(&b, "abcd"), 0, "append within max");
    is_int(gw_buf_appendf(&b, "%d", 1234), 0, "appendf up to max");
    is_str(b.p, "abcd1234", "contents");
    is_int(gw_buf_append_char(&b, 'x'), GW_ELIMIT, "append past max fails");
    is_str(b.p, "abcd1234", "failed append leaves buffer unchanged");
    gw_buf_reset(&b);
    is_int((long long)b.len, 0, "reset empties");
    gw_buf_release(&b);

    gw_buf_init(&b, 1024);
    gw_buf_append_json_str(&b, "a\"b\\c\n\x01", 7);
    is_str(b.p, "\"a\\\"b\\\\c\\n\\u0001\"", "json string escaping");
    char *s = gw_buf_steal(&b);
    ok(b.p == NULL && b.len == 0, "steal empties");
    free(s);
}

static int cleanup_order[3];
static int cleanup_count;

static void
record_cleanup(void *data)
{
    cleanup_order[cleanup_count++] = *(int *)data;
}

static void
test_arena(void)
{
    struct gw_arena a;
    gw_arena_init(&a, 256);
    char *p = gw_arena_alloc(&a, 10);
    ok(((uintptr_t)p & 15) == 0, "allocation is 16-aligned");
    ok(p[0] == 0 && p[9] == 0, "allocation is zeroed");
    char *big = gw_arena_alloc(&a, 4096);
    ok(big != NULL, "big allocation gets its own chunk");
    memset(big, 'x', 4096);
    char *after = gw_arena_alloc(&a, 16);
    ok(after != NULL && after != big, "small allocation after a big one");
    is_str(gw_arena_sprintf(&a, "%s-%d", "gw", 7), "gw-7", "arena sprintf");
    is_str(gw_arena_strndup(&a, "abcdef", 3), "abc", "arena strndup");
    static int one = 1, two = 2, three = 3;
    gw_arena_on_release(&a, record_cleanup, &one);
    gw_arena_on_release(&a, record_cleanup, &two);
    gw_arena_on_release(&a, record_cleanup, &three);
    gw_arena_release(&a);
    ok(cleanup_count == 3 && cleanup_order[0] == 3 && cleanup_order[2] == 1,
       "cleanups run in reverse order");
}

/* sprintf formats into the chunk's free tail when the text fits, and
 * again into a new chunk (or a chunk of its own) when it does not. */
static void
test_arena_sprintf(void)
{
    struct gw_arena a;
    gw_arena_init(&a, 256);
    char want[1024];
    bool good = true;
    for (size_t n = 0; n < sizeof(want) - 1 && good; n += 7) {
        memset(want, 'a' + (int)(n % 26), n);
        want[n] = '\0';
        char *p = gw_arena_sprintf(&a, "%s", want);
        good = ((uintptr_t)p & 15) == 0 && strcmp(p, want) == 0;
        /* the next allocation never overlaps the string */
        char *q = gw_arena_alloc(&a, 40);
        good = good && (q >= p + n + 1 || q + 40 <= p) && strcmp(p, want) == 0;
    }
    ok(good, "arena sprintf of 0..1 KiB, fitting or not, next allocation after it");
    char *e = gw_arena_sprintf(&a, "%s", "");
    ok(e && *e == '\0', "arena sprintf of nothing");
    char *u = gw_arena_alloc_uninit(&a, 33);
    memset(u, 'z', 33);
    ok(((uintptr_t)u & 15) == 0, "uninit allocation is 16-aligned");
    char *m = gw_arena_memdup(&a, "abc", 3);
    ok(memcmp(m, "abc", 3) == 0, "arena memdup");
    gw_arena_release(&a);

    struct gw_arena b;
    gw_arena_init(&b, 0);
    is_str(gw_arena_sprintf(&b, "%d/%s", 42, "x"), "42/x", "arena sprintf on an empty arena");
    gw_arena_release(&b);
}

static void
test_diags(void)
{
    struct gw_diags d;
    gw_diags_init(&d);
    struct gw_pos pos = {"routes.yaml", 12, 7};
    gw_diags_add(&d, GW_SEV_ERROR, pos, "HTTPRoute", "default", "web",
                 "spec.rules[0].matches[1].path.value", "must start with '/'");
    gw_diags_add(&d, GW_SEV_WARNING, (struct gw_pos){"x.yaml", 1, 1}, NULL, NULL, NULL, NULL,
                 "unknown kind %s skipped", "Foo");
    is_int((long long)d.errors, 1, "one error");
    is_int((long long)d.warnings, 1, "one warning");
    struct gw_buf b;
    gw_buf_init(&b, 4096);
    gw_diag_format(&d.v[0], &b);
    is_str(b.p,
           "routes.yaml:12:7: HTTPRoute default/web: spec.rules[0].matches[1].path.value: must "
           "start with '/'",
           "diagnostic format");
    gw_buf_reset(&b);
    gw_diag_format(&d.v[1], &b);
    is_str(b.p, "x.yaml:1:1: warning: unknown kind Foo skipped", "warning format");
    gw_buf_release(&b);

    struct gw_diags d2;
    gw_diags_init(&d2);
    gw_diags_move(&d2, &d);
    is_int((long long)d2.n, 2, "move carries all");
    is_int((long long)d.n, 0, "move empties source");
    gw_diags_release(&d2);
    gw_diags_release(&d);
}

static void
test_errors(void)
{
    is_str(gw_strerror(GW_ELIMIT), "limit exceeded", "project error text");
    is_str(gw_strerror(-ENOENT), "No such file or directory", "errno text");
    is_str(gw_strerror(0), "success", "zero is success");
}

int
main(void)
{
    test_str();
    test_buf();
    test_arena();
    test_arena_sprintf();
    test_diags();
    test_errors();
    return done_testing();
}
