/* SPDX-License-Identifier: Apache-2.0 */
/* The TAP producer of tap.h. */
#include "tap.h"

#include <sys/stat.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/banned.h"

static unsigned tests_run, tests_failed;

GW_PRINTF(2, 0) static bool vreport(bool cond, const char *fmt, va_list ap)
{
    tests_run++;
    if (!cond)
        tests_failed++;
    printf("%sok %u - ", cond ? "" : "not ", tests_run);
    /* A description may quote test input: a newline in it would end the
     * TAP line, so control characters are printed escaped. */
    char desc[512];
    vsnprintf(desc, sizeof(desc), fmt, ap);
    for (const char *c = desc; *c; c++) {
        if (*c == '\n')
            fputs("\\n", stdout);
        else if (*c == '\r')
            fputs("\\r", stdout);
        else if (*c == '\t')
            fputs("\\t", stdout);
        else if ((unsigned char)*c < 0x20 || *c == 0x7f)
            printf("\\x%02x", (unsigned char)*c);
        else
            putchar(*c);
    }
    putchar('\n');
    fflush(stdout);
    return cond;
}

bool
ok(bool cond, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    bool r = vreport(cond, fmt, ap);
    va_end(ap);
    return r;
}

bool
is_int(long long got, long long want, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    bool r = vreport(got == want, fmt, ap);
    va_end(ap);
    if (!r)
        diag("  got: %lld\n  want: %lld", got, want);
    return r;
}

bool
is_str(const char *got, const char *want, const char *fmt, ...)
{
    bool same = (!got && !want) || (got && want && !strcmp(got, want));
    va_list ap;
    va_start(ap, fmt);
    bool r = vreport(same, fmt, ap);
    va_end(ap);
    if (!r)
        diag("  got: %s%s%s\n  want: %s%s%s", got ? "\"" : "", got ? got : "NULL", got ? "\"" : "",
             want ? "\"" : "", want ? want : "NULL", want ? "\"" : "");
    return r;
}

void
diag(const char *fmt, ...)
{
    char line[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    /* Every output line of a diagnostic starts with '#'. */
    const char *p = line;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        printf("# %.*s\n", (int)n, p);
        p += n + (nl ? 1 : 0);
    }
    fflush(stdout);
}

int
done_testing(void)
{
    printf("1..%u\n", tests_run);
    if (tests_failed)
        diag("%u of %u checks failed", tests_failed, tests_run);
    return tests_failed ? 1 : 0;
}

char *
tap_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct gw_buf b;
    gw_buf_init(&b, (size_t)1 << 30);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        gw_buf_append(&b, chunk, n);
    fclose(f);
    if (len)
        *len = b.len;
    return gw_buf_steal(&b);
}

const char *
tap_data_dir(void)
{
    const char *d = getenv("GW_TEST_DATA");
    return d ? d : ".";
}

const char *
tap_conformance_dir(void)
{
    const char *d = getenv("GW_CONFORMANCE");
    struct stat st;
    if (d && stat(d, &st) == 0 && S_ISDIR(st.st_mode))
        return d;
    return NULL;
}
