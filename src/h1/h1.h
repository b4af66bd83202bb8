/* SPDX-License-Identifier: Apache-2.0 */
/*
 * h1: a sans-I/O HTTP/1.1 parser (RFC 9110, RFC 9112). It reads bytes the
 * caller already has and never performs I/O, never allocates and never
 * copies: every string it returns is a view into the caller's buffer, and
 * the caller supplies the header array (picohttpparser's shape, STYLE.md
 * 1.3). Head parsers keep no state between calls: on GW_EAGAIN the caller
 * appends more bytes and calls again with the whole buffer. The chunked
 * decoder is the one stateful piece, a small streaming state machine.
 *
 * Strictness is the point: the head parsers refuse every ambiguity a
 * smuggling attack could use (see ../shared/hostile/requests.yaml) and say
 * which status code to answer. After any request error the connection must
 * be closed (RFC 9112 §6.3): the parser never resynchronises.
 *
 * Every function here is pure computation on its arguments and may run
 * inside a loop callback.
 */
#ifndef GW_H1_H
#define GW_H1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

/* ------------------------------------------------------------------------ */
/* Limits                                                                   */

struct gw_h1_limits {
    /* Longest request line (method SP target SP version, without CRLF). A
     * longer one fails with status 414. Also bounds a response status line
     * (error_status 502). */
    size_t max_request_line;
    /* Longest head, first byte to the final CRLF included, leading empty
     * lines included. Past it: 431 (502 for a response). */
    size_t max_head_bytes;
    /* Most header fields; the effective limit is the smaller of this and the
     * caller's array (max_headers). Past it: 431. */
    size_t max_header_count;
    /* Largest Content-Length a request may declare; past it: 413. 0 means
     * no limit (the value must still fit in uint64_t). */
    uint64_t max_body;
    /* Chunked decoding: most bytes of chunk extensions on one chunk-size line
     * and most bytes in the trailer section (each field line plus CRLF). */
    size_t max_chunk_ext;
    size_t max_trailer_bytes;
    /* Empty lines (CRLF) ignored before a request line (RFC 9112 §2.2: a
     * server SHOULD ignore at least one). More than this: 400. */
    unsigned max_empty_lines;
    /* Accept '_' in request header names. It is a tchar, but CGI-style
     * backends fold '_' into '-' (X_Forwarded_For spoofing), so the strict
     * default (false) rejects it with 400. Responses always accept it. */
    bool allow_underscore_names;
};

/* The limits hostile/requests.yaml assumes: 8 KiB request line, 64 KiB head,
 * 100 fields, 1 GiB body, 4 KiB chunk extensions, 8 KiB trailers, one
 * leading empty line, no underscores. GW_H1_LIMITS_INIT is the same as an
 * initializer (usable for static storage). */
#define GW_H1_LIMITS_INIT                                                                \
    {                                                                                    \
        .max_request_line = 8192, .max_head_bytes = 65536, .max_header_count = 100,      \
        .max_body = UINT64_C(1) << 30, .max_chunk_ext = 4096, .max_trailer_bytes = 8192, \
        .max_empty_lines = 1, .allow_underscore_names = false,                           \
    }
#define GW_H1_LIMITS_DEFAULT ((struct gw_h1_limits)GW_H1_LIMITS_INIT)

/* ------------------------------------------------------------------------ */
/* Shared vocabulary                                                        */

/* One header field: views into the parsed buffer. value has OWS trimmed on
 * both ends; name is exactly as received (never empty, all tchar). */
struct gw_h1_header {
    struct gw_str name;
    struct gw_str value;
};

enum gw_h1_method {
    GW_H1_METHOD_OTHER = 0, /* a valid token that is none of the below */
    GW_H1_METHOD_GET,
    GW_H1_METHOD_HEAD,
    GW_H1_METHOD_POST,
    GW_H1_METHOD_PUT,
    GW_H1_METHOD_DELETE,
    GW_H1_METHOD_CONNECT,
    GW_H1_METHOD_OPTIONS,
    GW_H1_METHOD_TRACE,
    GW_H1_METHOD_PATCH,
};

/* RFC 9112 §3.2. */
enum gw_h1_target_form {
    GW_H1_FORM_ORIGIN,    /* /path?query */
    GW_H1_FORM_ABSOLUTE,  /* http://authority/path?query */
    GW_H1_FORM_AUTHORITY, /* host:port, CONNECT only */
    GW_H1_FORM_ASTERISK,  /* *, OPTIONS only */
};

/* How the message body is delimited (RFC 9112 §6.3). */
enum gw_h1_body {
    GW_H1_BODY_NONE,    /* no body: the next message starts right after */
    GW_H1_BODY_LENGTH,  /* exactly content_length bytes (may be 0) */
    GW_H1_BODY_CHUNKED, /* Transfer-Encoding: chunked; use gw_h1_chunked */
    GW_H1_BODY_CLOSE,   /* responses only: until the server closes */
    GW_H1_BODY_TUNNEL,  /* responses only: 101 or 2xx to CONNECT; the
                           connection becomes an opaque byte stream */
};

/* Tokens found in the Connection header field(s), as bits. */
#define GW_H1_CONN_CLOSE      (1u << 0)
#define GW_H1_CONN_KEEP_ALIVE (1u << 1)
#define GW_H1_CONN_UPGRADE    (1u << 2)
#define GW_H1_CONN_TE         (1u << 3)
#define GW_H1_CONN_OTHER      (1u << 4) /* any other token: see is_hop_by_hop */

/* ------------------------------------------------------------------------ */
/* Request head                                                             */

struct gw_h1_request {
    /* in: set by the caller before parsing, never changed by the parser */
    struct gw_h1_header *headers; /* caller-owned array */
    size_t max_headers;           /* its length */

    /* out: all views point into the buffer given to the parser */
    size_t nheaders;
    struct gw_str method;
    enum gw_h1_method method_id;
    struct gw_str target; /* the request-target, as received */
    enum gw_h1_target_form form;
    struct gw_str path; /* path[?query]: the target for origin-form, the part
                           after the authority for absolute-form ("" when it
                           has none), empty for the other forms */
    int minor_version;  /* 0 or 1: HTTP/1.0 or HTTP/1.1 */

    /* Derived from the header fields (all lookups case-insensitive). */
    struct gw_str host;      /* the one Host value ("" if absent, HTTP/1.0) */
    struct gw_str authority; /* what to route on: the target's authority in
                                absolute- and authority-form (RFC 9112
                                §3.2.2), else host */
    enum gw_h1_body body;    /* NONE, LENGTH or CHUNKED */
    uint64_t content_length; /* when body == GW_H1_BODY_LENGTH */
    bool keep_alive;         /* 1.1 unless "close"; 1.0 only with keep-alive */
    bool expect_continue;    /* Expect: 100-continue */
    unsigned connection;     /* GW_H1_CONN_* bits */
    struct gw_str upgrade;   /* Upgrade value (e.g. "websocket", "h2c"), empty
                                if absent; only meaningful with CONN_UPGRADE */
    struct gw_str te;        /* TE value, empty if absent */

    /* on error: the status to answer (400, 413, 414, 431, 501, 505) and a
     * short static reason; 0 and NULL otherwise */
    int error_status;
    const char *error;
};

/*
 * Parses one request head from buf[0..len). req->headers/max_headers must be
 * set; every other field is overwritten.
 *
 * Returns the number of bytes the head takes (leading empty lines, request
 * line, fields and the final CRLF): the body or the next pipelined request
 * starts at buf + that. GW_EAGAIN if buf holds a valid prefix of a head that
 * fits the limits: append bytes and call again with the whole buffer. Only
 * the first max_head_bytes + 1 bytes are ever looked at.
 * GW_EPARSE (syntax, framing; error_status 400/501/505) or GW_ELIMIT (a limit;
 * 413/414/431) on error, and the connection must then be closed. Errors are
 * reported as soon as the bytes prove them, even in an incomplete head.
 * lim may be NULL for GW_H1_LIMITS_DEFAULT.
 */
int gw_h1_request_parse(const char *buf, size_t len, struct gw_h1_request *req,
                        const struct gw_h1_limits *lim);

/*
 * Head parsers keep no state, so parsing again after every read costs
 * O(n^2) when a peer sends its head in many small pieces. A caller reading
 * a head in pieces may parse only when this returns true (buf[0..len) has an
 * LF followed by CRLF or LF at or after old_len - 2, so it may hold a whole
 * head) or when len passes the head limit; results stay exact, only errors
 * in an incomplete head are noticed later. old_len is the length at the
 * previous check (0 at first).
 */
bool gw_h1_head_is_ready(const char *buf, size_t len, size_t old_len);

/* ------------------------------------------------------------------------ */
/* Response head                                                            */

struct gw_h1_response {
    /* in */
    struct gw_h1_header *headers;
    size_t max_headers;

    /* out */
    size_t nheaders;
    int minor_version;
    int status;           /* 100..999 */
    struct gw_str reason; /* may be empty */
    enum gw_h1_body body;
    uint64_t content_length; /* when body == GW_H1_BODY_LENGTH */
    bool keep_alive;
    unsigned connection; /* GW_H1_CONN_* bits */
    struct gw_str upgrade;

    /* on error: 502 (what a proxy answers its client) and a short reason */
    int error_status;
    const char *error;
};

/*
 * Parses one response head, like gw_h1_request_parse. request_method is the
 * method of the request this answers: HEAD makes every response bodiless,
 * a 2xx to CONNECT is a tunnel (RFC 9112 §6.3). 1xx responses are returned
 * like any other (body NONE); the caller parses again for the final one.
 * Returns bytes consumed, GW_EAGAIN, or GW_EPARSE/GW_ELIMIT.
 */
int gw_h1_response_parse(const char *buf, size_t len, struct gw_h1_response *res,
                         const struct gw_h1_limits *lim, enum gw_h1_method request_method);

/* ------------------------------------------------------------------------ */
/* Chunked transfer coding (RFC 9112 §7.1)                                  */

struct gw_h1_chunked {
    /* out, valid after a GW_H1_CHUNKED_TRAILER return until the next call */
    struct gw_h1_header trailer;
    uint64_t total;    /* body bytes decoded so far */
    const char *error; /* short static reason after an error */

    /* private */
    int state;
    int err;
    uint64_t remaining;
    size_t digits;
    size_t ext_bytes;
    size_t trailer_bytes;
    size_t max_ext;
    size_t max_trailer;
};

/* Return values of gw_h1_chunked_decode besides GW_EAGAIN and errors. */
#define GW_H1_CHUNKED_MORE    0 /* call again with the rest of the input */
#define GW_H1_CHUNKED_DONE    1 /* last chunk and trailer section consumed */
#define GW_H1_CHUNKED_TRAILER 2 /* c->trailer holds one trailer field */

/* Prepares a decoder; lim (NULL for defaults) gives max_chunk_ext and
 * max_trailer_bytes. No resources: there is nothing to release. */
void gw_h1_chunked_init(struct gw_h1_chunked *c, const struct gw_h1_limits *lim);

/*
 * Decodes chunked bytes in[0..len). On every return *consumed says how many
 * bytes were used and *data holds zero or more body bytes (a view into in)
 * that the caller must take before calling again with in + *consumed.
 *   GW_H1_CHUNKED_MORE     progress was made; call again (a data span ends
 *                          each call so the caller can forward it).
 *   GW_H1_CHUNKED_TRAILER  one trailer field (c->trailer, views into in);
 *                          call again.
 *   GW_H1_CHUNKED_DONE     the message is over; bytes after *consumed belong
 *                          to the next message.
 *   GW_EAGAIN              need more input. Chunk framing is consumed byte by
 *                          byte, but a trailer line is only consumed whole:
 *                          the caller must present in[*consumed..len) again,
 *                          followed by new bytes (at most max_trailer_bytes
 *                          are ever held back).
 *   GW_EPARSE / GW_ELIMIT  invalid framing (c->error says why); answer 400
 *                          and close. The decoder stays failed.
 */
int gw_h1_chunked_decode(struct gw_h1_chunked *c, const char *in, size_t len, size_t *consumed,
                         struct gw_str *data);

/* Longest chunk header gw_h1_chunk_header_format writes: 16 hex digits and
 * CRLF. */
#define GW_H1_CHUNK_HEADER_MAX 18
/* What follows each chunk's data, and the last chunk with no trailers. */
#define GW_H1_CHUNK_END  "\r\n"
#define GW_H1_CHUNK_LAST "0\r\n\r\n"

/* Writes "<hex size>\r\n" (lower-case hex, no leading zeros) to out and
 * returns its length. size 0 writes the last-chunk line "0\r\n"; the caller
 * then adds trailers and the final CRLF. */
size_t gw_h1_chunk_header_format(char out[GW_H1_CHUNK_HEADER_MAX], uint64_t size);

/* ------------------------------------------------------------------------ */
/* Utilities                                                                */

/* Index of the first header at or after from whose name equals name
 * (ASCII case-insensitive), or n when there is none. Loop with from = i + 1. */
size_t gw_h1_headers_find(const struct gw_h1_header *h, size_t n, size_t from, struct gw_str name);

/* True if a proxy must not forward the field name: the fixed hop-by-hop
 * fields (Connection, Keep-Alive, Proxy-Connection, TE, Transfer-Encoding,
 * Upgrade, HTTP2-Settings) or a token listed in any Connection field of h. */
bool gw_h1_headers_is_hop_by_hop(const struct gw_h1_header *h, size_t n, struct gw_str name);

/* Canonical form of a header name, like Go's CanonicalMIMEHeaderKey: the
 * first letter and each letter after '-' upper-case, the rest lower-case
 * ("x-header-add" -> "X-Header-Add"). Writes name.len bytes to out (which
 * may equal name.p). A name with a byte that is not a tchar (or with a
 * space) is copied unchanged, as Go does. */
void gw_h1_name_canonical(struct gw_str name, char *out);

/*
 * Iterates a comma-separated list (RFC 9110 §5.6.1): sets *item to the next
 * non-empty element with OWS trimmed and advances *rest past it. Commas
 * inside quoted strings do not split. Returns false when no element is
 * left. Empty elements (",,") are skipped as the RFC requires.
 */
bool gw_h1_list_next(struct gw_str *rest, struct gw_str *item);

/* True if the list value contains token (ASCII case-insensitive). */
bool gw_h1_list_has(struct gw_str value, struct gw_str token);

/* True if every byte of s is a tchar (RFC 9110 §5.6.2) and s is not empty. */
bool gw_h1_is_token(struct gw_str s);

/* Method token to enum (case-sensitive, RFC 9110 §9.1); OTHER if unknown. */
enum gw_h1_method gw_h1_method_from(struct gw_str s);

/* The reason phrase registered for status ("Not Found"), or "" if none.
 * Static storage. */
const char *gw_h1_status_reason(int status);

/*
 * Accept-Encoding (RFC 9110 §12.5.3) as far as gatehouse produces codings.
 * q holds each coding's weight in thousandths (0..1000), -1 when the field
 * did not list it. Caller storage; no allocation.
 */
enum gw_h1_coding {
    GW_H1_CODING_IDENTITY,
    GW_H1_CODING_GZIP, /* also x-gzip */
    GW_H1_CODING_BR,
    GW_H1_CODING_ZSTD,
    GW_H1_CODING_ANY, /* "*" */
    GW_H1_CODING__COUNT
};

struct gw_h1_accept {
    short q[GW_H1_CODING__COUNT];
};

/* Sets every weight to "not listed" (a request without the field). */
void gw_h1_accept_init(struct gw_h1_accept *a);
/* Adds one Accept-Encoding field value (call once per field line). Returns
 * 0, or GW_EINVAL when an element is malformed (a bad qvalue or name): that
 * element is ignored, the others are kept. Unknown codings are ignored. Safe
 * in a loop callback. */
int gw_h1_accept_encoding_parse(struct gw_str value, struct gw_h1_accept *a);
/* The weight (0..1000) of coding c: its own, else that of "*", else 0;
 * identity is 1000 unless refused (identity;q=0, or *;q=0 without it).
 * c must not be GW_H1_CODING_ANY (0 is returned). */
int gw_h1_accept_weight(const struct gw_h1_accept *a, enum gw_h1_coding c);

#endif /* GW_H1_H */
