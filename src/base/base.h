/* SPDX-License-Identifier: Apache-2.0 */
/*
 * base: the small vocabulary every other module speaks. Error codes, borrowed
 * string views, bounded growable buffers, arenas, allocation that aborts on
 * OOM, structured diagnostics and logging. Nothing here does I/O except the
 * logger, and nothing here knows about HTTP or the Gateway API.
 */
#ifndef GW_BASE_H
#define GW_BASE_H

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------------ */
/* Compiler helpers                                                         */

#define GW_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define GW_NORETURN          __attribute__((noreturn))
#define GW_UNUSED            __attribute__((unused))
#define GW_LIKELY(x)         __builtin_expect(!!(x), 1)
#define GW_UNLIKELY(x)       __builtin_expect(!!(x), 0)
#define GW_ARRAY_LEN(a)      (sizeof(a) / sizeof((a)[0]))
#define GW_MIN(a, b)         ((a) < (b) ? (a) : (b))
#define GW_MAX(a, b)         ((a) > (b) ? (a) : (b))

/* Always-on invariant check (haproxy BUG_ON, redis serverAssert). */
#define GW_ASSERT(cond)                                          \
    do {                                                         \
        if (GW_UNLIKELY(!(cond)))                                \
            gw_assert_fail(#cond, __FILE__, __LINE__, __func__); \
    } while (0)

#ifdef NDEBUG
#define GW_DEBUG_ASSERT(cond) ((void)0)
#else
#define GW_DEBUG_ASSERT(cond) GW_ASSERT(cond)
#endif

GW_NORETURN void gw_assert_fail(const char *expr, const char *file, int line, const char *func);

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/*
 * Fallible functions return int: 0 (or a count of bytes consumed, for
 * parsers), or a negative GW_E* code. Negated errno values share the space;
 * project codes sit from -1000 down, far from errno.
 */
#define GW_ERROR_MAP(X)                   \
    X(PARSE, -1000, "malformed input")    \
    X(LIMIT, -1001, "limit exceeded")     \
    X(INVAL, -1002, "invalid value")      \
    X(NOTFOUND, -1003, "not found")       \
    X(EXISTS, -1004, "already exists")    \
    X(DECLINED, -1005, "declined")        \
    X(CLOSED, -1006, "connection closed") \
    X(TIMEOUT, -1007, "timed out")        \
    X(TLS, -1008, "TLS error")            \
    X(PROTO, -1009, "protocol error")

enum gw_err {
    GW_OK = 0,
    GW_EAGAIN = -EAGAIN, /* need more input / would block */
    GW_ENOMEM = -ENOMEM,

#define GW_ERR_ENUM(name, val, msg) GW_E##name = (val),
    GW_ERROR_MAP(GW_ERR_ENUM)
#undef GW_ERR_ENUM
};

/* Text for a GW_E* code or a negated errno. Never NULL; static storage. */
const char *gw_strerror(int err);

/* ------------------------------------------------------------------------ */
/* Allocation: these abort the process on OOM (input-driven growth is       */
/* bounded by explicit limits instead, so NULL never reaches callers).      */

void *gw_xmalloc(size_t n);
void *gw_xcalloc(size_t nmemb, size_t size);
void *gw_xrealloc(void *p, size_t n);
/* Grows an array of elem-sized items to hold at least want items; *cap is
 * updated. Doubling, so appends are amortised O(1). */
void *gw_xgrow(void *p, size_t *cap, size_t want, size_t elem);
char *gw_xstrdup(const char *s);
char *gw_xstrndup(const char *s, size_t n);
GW_PRINTF(1, 2) char *gw_xasprintf(const char *fmt, ...);

/* ------------------------------------------------------------------------ */
/* Borrowed string views                                                    */

/* A view into memory owned by someone else. Never NUL-terminated by rule. */
struct gw_str {
    const char *p;
    size_t len;
};

#define GW_STR(lit)   ((struct gw_str){(lit), sizeof(lit) - 1})
#define GW_STR_NULL   ((struct gw_str){NULL, 0})
#define GW_STR_FMT    "%.*s"
#define GW_STR_ARG(s) (int)(s).len, (s).p

struct gw_str gw_str_from(const char *cstr); /* cstr may be NULL */
bool gw_str_eq(struct gw_str a, struct gw_str b);
bool gw_str_eq_cstr(struct gw_str a, const char *b);
bool gw_str_caseeq(struct gw_str a, struct gw_str b); /* ASCII case-insensitive */
bool gw_str_has_prefix(struct gw_str s, struct gw_str prefix);
bool gw_str_has_suffix(struct gw_str s, struct gw_str suffix);
struct gw_str gw_str_trim(struct gw_str s); /* strips SP and HTAB both ends */

/* The value of the hexadecimal digit c (either case), or -1. */
static inline int
gw_hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* base64 (RFC 4648, base64.c). Flags: the URL alphabet (- _) instead of
 * + /, or either; padding required (a multiple of 4) or forbidden (else
 * optional, and then it must complete the last quantum); white space
 * skipped; canonical (the bits past the last byte must be zero). */
#define GW_B64_URL       0x01u
#define GW_B64_BOTH      0x02u
#define GW_B64_PAD       0x04u
#define GW_B64_NOPAD     0x08u
#define GW_B64_SPACE     0x10u
#define GW_B64_CANONICAL 0x20u
/* Decodes s into out (cap bytes): the bytes written, GW_ELIMIT if out is
 * too small, or GW_EINVAL with *bad (when bad is not NULL) the offset of
 * the offending byte (the last byte when the length or padding is wrong).
 * At most 3 * (s.len / 4) + 2 bytes are written. */
int gw_base64_decode(struct gw_str s, unsigned flags, uint8_t *out, size_t cap, size_t *bad);
/* Encodes in[0..n) into out with GW_B64_URL and GW_B64_NOPAD as the only
 * flags read: 4 * ceil(n / 3) characters, fewer without padding; no NUL.
 * Returns the number written. */
size_t gw_base64_encode(const uint8_t *in, size_t n, unsigned flags, char *out);
/* Parses a whole decimal unsigned integer (no sign, no spaces). 0 or GW_EINVAL,
 * GW_ELIMIT past max. */
int gw_str_to_u64(struct gw_str s, uint64_t max, uint64_t *out);

/* ------------------------------------------------------------------------ */
/* Bounded growable buffers (curl's dynbuf): appends past max fail.         */

struct gw_buf {
    char *p;    /* always NUL-terminated when non-NULL */
    size_t len; /* bytes used, excluding the NUL */
    size_t cap; /* bytes allocated */
    size_t max; /* hard cap on len; appends that would pass it fail */
};

void gw_buf_init(struct gw_buf *b, size_t max);
void gw_buf_release(struct gw_buf *b);
void gw_buf_reset(struct gw_buf *b); /* len = 0, keeps memory */
/* Each returns 0 or GW_ELIMIT (buffer left unchanged on failure). */
int gw_buf_append(struct gw_buf *b, const void *data, size_t n);
int gw_buf_append_str(struct gw_buf *b, struct gw_str s);
int gw_buf_append_cstr(struct gw_buf *b, const char *s);
int gw_buf_append_char(struct gw_buf *b, char c);
GW_PRINTF(2, 3) int gw_buf_appendf(struct gw_buf *b, const char *fmt, ...);
GW_PRINTF(2, 0) int gw_buf_vappendf(struct gw_buf *b, const char *fmt, va_list ap);
/* Appends s as a JSON string literal, quotes included. */
int gw_buf_append_json_str(struct gw_buf *b, const char *s, size_t n);
/* Hands the bytes to the caller (free() them); the buffer is left empty. */
char *gw_buf_steal(struct gw_buf *b);

/* ------------------------------------------------------------------------ */
/* Arenas: bump allocation, freed in one go, with cleanup callbacks.        */

struct gw_arena_chunk;
struct gw_arena_cleanup;

struct gw_arena {
    /* private */
    struct gw_arena_chunk *chunk;
    struct gw_arena_cleanup *cleanups;
    size_t chunk_size;
    size_t total; /* bytes handed out, for accounting */
};

typedef void (*gw_cleanup_fn)(void *data);

void gw_arena_init(struct gw_arena *a, size_t chunk_size); /* 0 = default 16 KiB */
/* Frees every chunk after running cleanups in reverse order of registration. */
void gw_arena_release(struct gw_arena *a);
/* Memory aligned for any type; aborts on OOM. Zeroed. */
void *gw_arena_alloc(struct gw_arena *a, size_t n);
/* The same, not zeroed: for callers that write every byte they read. */
void *gw_arena_alloc_uninit(struct gw_arena *a, size_t n);
char *gw_arena_strdup(struct gw_arena *a, const char *s);
char *gw_arena_strndup(struct gw_arena *a, const char *s, size_t n);
GW_PRINTF(2, 3) char *gw_arena_sprintf(struct gw_arena *a, const char *fmt, ...);
void *gw_arena_memdup(struct gw_arena *a, const void *p, size_t n);
void gw_arena_on_release(struct gw_arena *a, gw_cleanup_fn fn, void *data);
size_t gw_arena_total(const struct gw_arena *a);

/* ------------------------------------------------------------------------ */
/* Source positions and diagnostics                                         */

/* Where a thing came from. file is interned (lives as long as its owner's
 * arena); line and col are 1-based, 0 when unknown. */
struct gw_pos {
    const char *file;
    unsigned line;
    unsigned col;
};

enum gw_severity {
    GW_SEV_ERROR,
    GW_SEV_WARNING,
};

/*
 * One structured diagnostic: where it is, which object, which field, why.
 * Modules never print; they add these, and commands format them:
 *   file:line:col: Kind ns/name: spec.rules[0].matches[1].path.value: message
 * Every string is owned by the list.
 */
struct gw_diag {
    enum gw_severity severity;
    struct gw_pos pos;
    char *file; /* owned copy of pos.file */
    char *kind; /* may be NULL (e.g. a YAML syntax error) */
    char *ns;   /* NULL for cluster-scoped objects */
    char *name;
    char *path; /* field path, may be NULL */
    char *message;
};

struct gw_diags {
    struct gw_diag *v;
    size_t n, cap;
    size_t errors, warnings;
};

void gw_diags_init(struct gw_diags *d);
void gw_diags_release(struct gw_diags *d);
/* Adds one diagnostic. kind/ns/name/path may be NULL. */
GW_PRINTF(8, 9)
void gw_diags_add(struct gw_diags *d, enum gw_severity sev, struct gw_pos pos, const char *kind,
                  const char *ns, const char *name, const char *path, const char *fmt, ...);
/* Formats one diagnostic as a single line (no newline) into b. */
int gw_diag_format(const struct gw_diag *g, struct gw_buf *b);
/* Moves every diagnostic of src to the end of dst; src is left empty. */
void gw_diags_move(struct gw_diags *dst, struct gw_diags *src);

/* ------------------------------------------------------------------------ */
/* Clocks                                                                   */

/* CLOCK_MONOTONIC in microseconds: for durations. */
uint64_t gw_clock_mono_us(void);
/* CLOCK_REALTIME in seconds since the epoch: for timestamps. */
double gw_clock_real(void);

/* ------------------------------------------------------------------------ */
/* Logging (the one place base writes): to stderr, text or JSON lines.      */

enum gw_log_level {
    GW_LOG_DEBUG,
    GW_LOG_INFO,
    GW_LOG_WARN,
    GW_LOG_ERROR,
};

void gw_log_set_level(enum gw_log_level level);
void gw_log_set_json(bool json);
GW_PRINTF(2, 3) void gw_log(enum gw_log_level level, const char *fmt, ...);

/* One call site's rate limit for lines a peer can trigger (accept errors,
 * ...): static storage, zero-initialised, shared by every thread. */
struct gw_log_limit {
    atomic_uint_fast64_t next_ms;    /* monotonic ms before which lines are dropped */
    atomic_uint_fast64_t suppressed; /* dropped since the last line */
};
/* gw_log, at most one line per second per rl: the others are counted, and
 * the next line that goes out says how many were suppressed. Thread-safe. */
GW_PRINTF(3, 4)
void gw_log_ratelimited(struct gw_log_limit *rl, enum gw_log_level level, const char *fmt, ...);

#define gw_log_debug(...) gw_log(GW_LOG_DEBUG, __VA_ARGS__)
#define gw_log_info(...)  gw_log(GW_LOG_INFO, __VA_ARGS__)
#define gw_log_warn(...)  gw_log(GW_LOG_WARN, __VA_ARGS__)
#define gw_log_error(...) gw_log(GW_LOG_ERROR, __VA_ARGS__)

#endif /* GW_BASE_H */
