/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TCP mode (ECHO.md 4): a welcome line, then newline-terminated commands
 * PING, IS_TLS and TEST, each answered with one line; anything else gets no
 * answer. The same code serves plain and TLS connections.
 */
#include <string.h>

#include <openssl/ssl.h>

#include "base/base.h"
#include "echo/internal.h"
/* Last, so its bans cannot break the system headers above. */
#include "base/banned.h"

static void
send_str(struct echo_conn *c, const char *p, size_t n)
{
    struct iovec iov = {(void *)p, n};
    echo_conn_write(c, &iov, 1);
}

void
echo_tcp_start(struct echo_conn *c)
{
    static const char welcome[] = "Gateway API Test TCP Server\n";
    send_str(c, welcome, sizeof(welcome) - 1);
}

static const char *
curve_name(SSL *ssl)
{
    /* Go's tls.CurveID names for the groups OpenSSL may negotiate. */
    switch (SSL_get_negotiated_group(ssl)) {
    case NID_X25519:
        return "X25519";
    case NID_X448:
        return "X448";
    case NID_X9_62_prime256v1:
        return "CurveP256";
    case NID_secp384r1:
        return "CurveP384";
    case NID_secp521r1:
        return "CurveP521";
    default:
        return "";
    }
}

static void
json_kv(struct gw_buf *b, const char *key, const char *v, bool first)
{
    gw_buf_appendf(b, "%s\"%s\":", first ? "" : ",", key);
    gw_buf_append_json_str(b, v, strlen(v));
}

static void
test_json(struct echo_conn *c, struct gw_buf *b)
{
    const struct gw_echo_config *cfg = c->srv->cfg;
    gw_buf_append_char(b, '{');
    json_kv(b, "namespace", cfg->ns, true);
    json_kv(b, "ingress", cfg->ingress, false);
    json_kv(b, "service", cfg->service, false);
    json_kv(b, "pod", cfg->pod, false);
    json_kv(b, "tcpport", cfg->tcp_port, false);
    if (c->srv->ssl_ctx && cfg->tls_port && *cfg->tls_port)
        json_kv(b, "tlsport", cfg->tls_port, false);
    gw_buf_appendf(b, ",\"isTLS\":%s", c->ssl ? "true" : "false");
    if (c->ssl) {
        gw_buf_append_cstr(b, ",\"tls\":{");
        json_kv(b, "version", echo_tls_version(c->ssl, true), true);
        json_kv(b, "serverName", echo_tls_sni(c->ssl), false);
        struct gw_str alpn = echo_tls_alpn(c->ssl);
        if (alpn.len) {
            gw_buf_append_cstr(b, ",\"negotiatedProtocol\":");
            gw_buf_append_json_str(b, alpn.p, alpn.len);
        }
        const char *curve = curve_name(c->ssl);
        if (*curve)
            json_kv(b, "curves", curve, false);
        json_kv(b, "cipherSuite", echo_tls_cipher(c->ssl), false);
        gw_buf_append_char(b, '}');
    }
    gw_buf_append_cstr(b, "}\n");
}

void
echo_tcp_process(struct echo_conn *c)
{
    while (!c->closing) {
        const char *p = echo_conn_in(c);
        size_t len = echo_conn_in_len(c);
        const char *nl = memchr(p, '\n', len);
        if (!nl) {
            if (len > ECHO_TCP_LINE_MAX)
                c->in_off += len; /* a line nobody will answer: drop it */
            return;
        }
        struct gw_str line = gw_str_trim((struct gw_str){p, (size_t)(nl - p)});
        if (line.len && line.p[line.len - 1] == '\r')
            line.len--;
        c->in_off += (size_t)(nl - p) + 1;
        if (gw_str_eq_cstr(line, "PING")) {
            send_str(c, "PONG\n", 5);
        } else if (gw_str_eq_cstr(line, "IS_TLS")) {
            if (c->ssl)
                send_str(c, "true\n", 5);
            else
                send_str(c, "false\n", 6);
        } else if (gw_str_eq_cstr(line, "TEST")) {
            struct gw_buf *b = &c->srv->scratch;
            gw_buf_reset(b);
            test_json(c, b);
            send_str(c, b->p, b->len);
        }
    }
}
