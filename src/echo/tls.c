/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TLS for the echo: one SSL_CTX per server from PEM files, ALPN selection
 * (h2 and http/1.1 for HTTPS, h2 for gRPC), optional client certificates
 * verified only when presented (Go's VerifyClientCertIfGiven), and the
 * connection facts the replies report.
 */
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "base/base.h"
#include "echo/internal.h"
/* Last, so its bans cannot break the system headers above. */
#include "base/banned.h"

static int
select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
            unsigned inlen, void *arg)
{
    const unsigned char *mine = arg;
    (void)ssl;
    /* Server preference: the first of ours the client also offers. */
    for (const unsigned char *p = mine; *p; p += 1 + *p) {
        for (unsigned i = 0; i < inlen; i += 1u + in[i]) {
            if (in[i] == *p && i + 1u + in[i] <= inlen && !memcmp(in + i + 1, p + 1, *p)) {
                *out = in + i + 1;
                *outlen = in[i];
                return SSL_TLSEXT_ERR_OK;
            }
        }
    }
    /* No overlap: carry on without ALPN (HTTP/1.1), like Go does. */
    return SSL_TLSEXT_ERR_NOACK;
}

static int
accept_any_verified(int preverify, X509_STORE_CTX *ctx)
{
    (void)ctx;
    return preverify;
}

static char *
ssl_error_text(const char *what, const char *file)
{
    char buf[256];
    unsigned long e = ERR_get_error();
    ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    return gw_xasprintf("%s %s: %s", what, file, e ? buf : "failed");
}

int
echo_tls_ctx_new(const struct gw_echo_config *cfg, enum echo_kind kind, SSL_CTX **out, char **err)
{
    /* NUL-terminated list of length-prefixed protocol names. */
    static const unsigned char alpn_http[] = "\x02h2\x08http/1.1";
    static const unsigned char alpn_h2[] = "\x02h2";
    static const unsigned char alpn_none[] = "";
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        *err = gw_xasprintf("SSL_CTX_new failed");
        return GW_ETLS;
    }
    SSL_CTX_set_min_proto_version(ctx, kind == ECHO_KIND_TCPS ? TLS1_2_VERSION : TLS1_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1) {
        *err = ssl_error_text("certificate", cfg->tls_cert);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1) {
        *err = ssl_error_text("private key", cfg->tls_key);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        *err = ssl_error_text("key does not match certificate", cfg->tls_cert);
        goto fail;
    }
    if (kind == ECHO_KIND_HTTPS && cfg->client_ca && *cfg->client_ca) {
        if (SSL_CTX_load_verify_locations(ctx, cfg->client_ca, NULL) != 1) {
            *err = ssl_error_text("client CA", cfg->client_ca);
            goto fail;
        }
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->client_ca);
        if (names)
            SSL_CTX_set_client_CA_list(ctx, names);
        /* Ask, verify what comes, but do not insist. */
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_any_verified);
    }
    const unsigned char *alpn = kind == ECHO_KIND_HTTPS   ? alpn_http
                                : kind == ECHO_KIND_GRPCS ? alpn_h2
                                                          : alpn_none;
    if (*alpn)
        SSL_CTX_set_alpn_select_cb(ctx, select_alpn, (void *)alpn);
    *out = ctx;
    return 0;
fail:
    SSL_CTX_free(ctx);
    return GW_ETLS;
}

const char *
echo_tls_version(SSL *ssl, bool spaced)
{
    switch (SSL_version(ssl)) {
    case TLS1_3_VERSION:
        return spaced ? "TLS 1.3" : "TLSv1.3";
    case TLS1_2_VERSION:
        return spaced ? "TLS 1.2" : "TLSv1.2";
    case TLS1_1_VERSION:
        return spaced ? "TLS 1.1" : "TLSv1.1";
    case TLS1_VERSION:
        return spaced ? "TLS 1.0" : "TLSv1.0";
    default:
        return "";
    }
}

const char *
echo_tls_cipher(SSL *ssl)
{
    const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
    const char *name = c ? SSL_CIPHER_standard_name(c) : NULL;
    return name ? name : "";
}

const char *
echo_tls_sni(SSL *ssl)
{
    const char *s = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    return s ? s : "";
}

struct gw_str
echo_tls_alpn(SSL *ssl)
{
    const unsigned char *p = NULL;
    unsigned len = 0;
    SSL_get0_alpn_selected(ssl, &p, &len);
    return (struct gw_str){(const char *)p, p ? len : 0};
}

bool
echo_tls_peer_pem(SSL *ssl, int i, struct gw_buf *b)
{
    X509 *x = NULL;
    if (i == 0) {
        x = SSL_get0_peer_certificate(ssl);
    } else {
        /* On a server the chain excludes the leaf. */
        STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);
        if (chain && i - 1 < sk_X509_num(chain))
            x = sk_X509_value(chain, i - 1);
    }
    if (!x)
        return false;
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio)
        return false;
    bool ok = PEM_write_bio_X509(bio, x) == 1;
    char *data;
    long n = BIO_get_mem_data(bio, &data);
    if (ok && n > 0)
        ok = gw_buf_append(b, data, (size_t)n) == 0;
    BIO_free(bio);
    return ok;
}

void
echo_tls_json(SSL *ssl, struct gw_buf *b)
{
    const char *s;
    gw_buf_append_cstr(b, ",\n \"tls\": {\n  \"version\": ");
    s = echo_tls_version(ssl, false);
    gw_buf_append_json_str(b, s, strlen(s));
    gw_buf_append_cstr(b, ",\n  \"serverName\": ");
    s = echo_tls_sni(ssl);
    gw_buf_append_json_str(b, s, strlen(s));
    struct gw_str alpn = echo_tls_alpn(ssl);
    if (alpn.len) {
        gw_buf_append_cstr(b, ",\n  \"negotiatedProtocol\": ");
        gw_buf_append_json_str(b, alpn.p, alpn.len);
    }
    gw_buf_append_cstr(b, ",\n  \"cipherSuite\": ");
    s = echo_tls_cipher(ssl);
    gw_buf_append_json_str(b, s, strlen(s));
    struct gw_buf pem;
    gw_buf_init(&pem, 1u << 20);
    int i = 0;
    for (; echo_tls_peer_pem(ssl, i, &pem); i++) {
        gw_buf_append_cstr(b, i == 0 ? ",\n  \"peerCertificates\": [" : ", ");
        gw_buf_append_json_str(b, pem.p, pem.len);
        gw_buf_reset(&pem);
    }
    if (i > 0)
        gw_buf_append_cstr(b, "]");
    gw_buf_release(&pem);
    gw_buf_append_cstr(b, "\n }");
}
