/* SPDX-License-Identifier: Apache-2.0 */
/*
 * echo internals: the server (listeners, TLS context, retry counters, the
 * request log), connections (transport, buffers, deferred close) and the
 * protocol handlers that share them. One connection runs exactly one
 * protocol at a time (proto) and may switch once: h1 -> h2 (h2c upgrade) or
 * h1 -> ws (WebSocket upgrade).
 */
#ifndef GW_ECHO_INTERNAL_H
#define GW_ECHO_INTERNAL_H

#include <sys/socket.h>
#include <sys/uio.h>

#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>

#include "base/base.h"
#include "echo/echo.h"
#include "h1/h1.h"
#include "loop/loop.h"

#define ECHO_MAX_HEADERS   128
#define ECHO_IN_MAX        (4u << 20)  /* input held at once per connection */
#define ECHO_IN_HIGH       ECHO_IN_MAX /* stop reading above this much unprocessed */
#define ECHO_OUT_MAX       (64u << 20)
#define ECHO_OUT_HIGH      (256u << 10) /* stop processing input above this */
#define ECHO_WS_MSG_MAX    (16u << 20)  /* a reassembled message */
#define ECHO_WS_FRAME_MAX  (1u << 20)   /* one frame, held whole in the input */
#define ECHO_RETRY_BUCKETS 256
#define ECHO_TCP_LINE_MAX  4096
#define ECHO_GRPC_SERVICE  "gateway_api_conformance.echo_basic.grpcecho.GrpcEcho"

enum echo_kind {
    ECHO_KIND_HTTP,  /* HTTP/1.1 */
    ECHO_KIND_H2C,   /* h2 prior knowledge or HTTP/1.1 Upgrade: h2c */
    ECHO_KIND_HTTPS, /* TLS, ALPN h2 or http/1.1 */
    ECHO_KIND_GRPC,  /* h2c prior knowledge, gRPC */
    ECHO_KIND_GRPCS, /* TLS, h2, gRPC */
    ECHO_KIND_TCP,   /* line protocol */
    ECHO_KIND_TCPS,  /* TLS, line protocol */
    ECHO_KIND_UDP,
};

enum echo_proto {
    ECHO_PROTO_HANDSHAKE, /* TLS handshake in progress */
    ECHO_PROTO_SNIFF,     /* h2c port: prior-knowledge preface or HTTP/1.1? */
    ECHO_PROTO_H1,
    ECHO_PROTO_H2,
    ECHO_PROTO_WS,
    ECHO_PROTO_TCP,
};

struct echo_retry {
    struct echo_retry *next;
    uint64_t count;
    size_t len;
    char uuid[];
};

struct echo_listener {
    struct gw_io io;
    struct echo_server *srv;
    enum echo_kind kind;
};

struct echo_server {
    const struct gw_echo_config *cfg;
    struct gw_loop *loop;
    SSL_CTX *ssl_ctx;
    struct echo_listener listeners[4];
    size_t nlisteners;
    nghttp2_session_callbacks *h2_callbacks;
    struct echo_retry *retry[ECHO_RETRY_BUCKETS];
    /* request log: lines of one loop turn written with one write(2) */
    struct gw_buf log;
    struct gw_defer log_defer;
    bool log_scheduled;
    /* scratch for replies, reused: everything is built and sent in one go */
    struct gw_buf scratch;
    struct echo_conn *conns; /* every open connection, closed at shutdown */
};

/* One request, whatever the protocol. Views into the connection's input or
 * into a stream's arena; valid during echo_http_handle only. */
struct echo_req {
    struct gw_str method;
    struct gw_str target; /* raw request-URI (h2: :path) */
    struct gw_str path;   /* path[?query] to route on (origin form) */
    struct gw_str host;   /* Host / :authority */
    const char *proto;    /* "HTTP/1.1", "HTTP/2.0" */
    const struct gw_h1_header *h;
    size_t nh;      /* Host excluded (h1); pseudo-headers excluded (h2) */
    bool websocket; /* h1: a valid WebSocket upgrade request */
};

enum echo_action {
    ECHO_ACT_SEND,      /* send status + headers + body (after delay_ms) */
    ECHO_ACT_RESET,     /* abort the connection with a RST (after delay_ms) */
    ECHO_ACT_WEBSOCKET, /* accept the WebSocket upgrade */
};

struct echo_resp {
    enum echo_action action;
    int status;
    const char *content_type; /* NULL: no Content-Type */
    bool nosniff;
    struct gw_h1_header h[32]; /* X-Echo-Set-Header results, in the arena */
    size_t nh;
    uint64_t delay_ms;
};

struct echo_h2_stream;

struct echo_conn {
    struct gw_io io;
    struct echo_conn *prev, *next;
    struct echo_server *srv;
    enum echo_kind kind;
    enum echo_proto proto;
    char peer[64];
    SSL *ssl;
    bool ssl_want_write; /* the last SSL_read asked for writability */
    bool read_eof;
    bool close_after_write;
    bool reset;   /* close with SO_LINGER 0 (retry simulator) */
    bool blocked; /* h1: a delayed reply is pending; parse nothing more */
    bool closing;
    struct gw_buf in;
    size_t in_off; /* consumed prefix of in */
    struct gw_buf out;
    size_t out_off; /* sent prefix of out */

    /* per request (h1) */
    struct gw_arena arena;
    struct gw_timer timer;
    struct gw_h1_header hdrs[ECHO_MAX_HEADERS];
    enum gw_h1_body body_kind;
    uint64_t body_left;
    struct gw_h1_chunked chunked;
    struct gw_buf pending; /* a delayed h1 reply, ready to send */
    enum echo_action pending_action;

    /* h2 */
    nghttp2_session *h2;
    struct echo_h2_stream *streams;

    /* ws: the message being reassembled */
    struct gw_buf wsmsg;
    int wsop;
};

/* server.c */
void echo_log_request(struct echo_server *srv, struct gw_str target, const char *peer);
/* The retry counter for uuid after this request: returns the count before
 * incrementing, and increments it when it is below limit. */
uint64_t echo_retry_hit(struct echo_server *srv, struct gw_str uuid, uint64_t limit);

/* conn.c */
void echo_conn_accept(struct echo_server *srv, enum echo_kind kind, int fd,
                      const struct sockaddr *peer);
/* Queues bytes for the peer: straight to the socket with writev when nothing
 * is queued (plain sockets), the rest into out. */
void echo_conn_write(struct echo_conn *c, const struct iovec *iov, int n);
void echo_conn_close(struct echo_conn *c);
/* Flushes output, re-runs input processing if it was blocked, and sets the
 * epoll interest. For use after a timer fired. */
void echo_conn_kick(struct echo_conn *c);

/* Unconsumed input. */
static inline const char *
echo_conn_in(const struct echo_conn *c)
{
    return c->in.p + c->in_off;
}

static inline size_t
echo_conn_in_len(const struct echo_conn *c)
{
    return c->in.len - c->in_off;
}

/* tls.c */
int echo_tls_ctx_new(const struct gw_echo_config *cfg, enum echo_kind kind, SSL_CTX **out,
                     char **err);
/* Appends the "tls" member of the HTTP echo JSON (with a leading comma). */
void echo_tls_json(SSL *ssl, struct gw_buf *b);
/* "TLSv1.3" (HTTP style) or "TLS 1.3" (TCP style). */
const char *echo_tls_version(SSL *ssl, bool spaced);
const char *echo_tls_cipher(SSL *ssl);
const char *echo_tls_sni(SSL *ssl);
struct gw_str echo_tls_alpn(SSL *ssl);
/* PEM of the i-th certificate the client presented (leaf first) into b;
 * false when there is none. */
bool echo_tls_peer_pem(SSL *ssl, int i, struct gw_buf *b);

/* http.c: protocol-independent HTTP echo */
/* Decides the reply to req. The JSON or text body goes into body, response
 * headers into resp (strings in arena). Logs the request line. */
void echo_http_handle(struct echo_conn *c, struct gw_arena *arena, const struct echo_req *req,
                      struct echo_resp *resp, struct gw_buf *body);
/* Value of query parameter name in target (percent-decoded into arena);
 * false when absent. */
bool echo_query_get(struct gw_str target, const char *name, struct gw_arena *arena,
                    struct gw_str *out);

/* http1.c */
void echo_h1_process(struct echo_conn *c);
void echo_h1_release(struct echo_conn *c);

/* http2.c */
int echo_h2_callbacks_init(struct echo_server *srv);
/* Starts HTTP/2 on c. With upgrade (an h1 h2c request), settings is the
 * decoded HTTP2-Settings payload and stream 1 is answered from upgrade. */
int echo_h2_start(struct echo_conn *c, const struct echo_req *upgrade, const uint8_t *settings,
                  size_t settings_len);
void echo_h2_process(struct echo_conn *c);
void echo_h2_release(struct echo_conn *c);

/* grpc.c */
/* Appends one length-prefixed gRPC message holding the EchoResponse for a
 * call of method (full path) with these request headers (pseudo-headers
 * included) to out. */
void echo_grpc_response(struct echo_conn *c, struct gw_str path, struct gw_str authority,
                        const struct gw_h1_header *h, size_t nh, struct gw_buf *out);

/* Appends the length-prefixed ServerReflectionResponse to one request
 * message (without its 5-byte prefix): list_services is answered with our
 * service and the reflection services, anything else with an error. */
void echo_grpc_reflection(const char *req, size_t n, struct gw_buf *out);

/* ws.c */
/* Sec-WebSocket-Accept for key into out (28 chars + NUL). */
void echo_ws_accept_key(struct gw_str key, char out[29]);
void echo_ws_process(struct echo_conn *c);

/* tcp.c */
void echo_tcp_start(struct echo_conn *c);
void echo_tcp_process(struct echo_conn *c);

#endif /* GW_ECHO_INTERNAL_H */
