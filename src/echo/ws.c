/* SPDX-License-Identifier: Apache-2.0 */
/*
 * WebSocket echo (RFC 6455) after the /ws upgrade: frames are parsed in
 * place from the input buffer, client masking is required and removed,
 * fragmented messages are reassembled (bounded), and every complete text or
 * binary message goes back as one unmasked frame of the same type. Pings
 * are answered with pongs, a close is answered with a close carrying the
 * same status code, then the connection ends.
 */
#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "base/base.h"
#include "echo/internal.h"
/* Last, so its bans cannot break the system headers above. */
#include "base/banned.h"

enum {
    OP_CONT = 0x0,
    OP_TEXT = 0x1,
    OP_BINARY = 0x2,
    OP_CLOSE = 0x8,
    OP_PING = 0x9,
    OP_PONG = 0xa,
};

void
echo_ws_accept_key(struct gw_str key, char out[29])
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char digest[SHA_DIGEST_LENGTH];
    char buf[256];
    size_t n = GW_MIN(key.len, sizeof(buf) - sizeof(guid));
    memcpy(buf, key.p, n);
    memcpy(buf + n, guid, sizeof(guid) - 1);
    EVP_Digest(buf, n + sizeof(guid) - 1, digest, NULL, EVP_sha1(), NULL);
    EVP_EncodeBlock((unsigned char *)out, digest, SHA_DIGEST_LENGTH); /* 28 chars + NUL */
}

static void
send_frame(struct echo_conn *c, int op, const char *p, size_t n)
{
    unsigned char h[10];
    size_t hl = 2;
    h[0] = (unsigned char)(0x80 | op);
    if (n < 126) {
        h[1] = (unsigned char)n;
    } else if (n <= 0xffff) {
        h[1] = 126;
        h[2] = (unsigned char)(n >> 8);
        h[3] = (unsigned char)n;
        hl = 4;
    } else {
        h[1] = 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
        hl = 10;
    }
    struct iovec iov[2] = {{h, hl}, {(void *)p, n}};
    echo_conn_write(c, iov, n ? 2 : 1);
}

static void
fail(struct echo_conn *c, unsigned code)
{
    char body[2] = {(char)(code >> 8), (char)(code & 0xff)};
    send_frame(c, OP_CLOSE, body, 2);
    c->close_after_write = true;
}

void
echo_ws_process(struct echo_conn *c)
{
    while (!c->closing && !c->close_after_write) {
        if (c->out.len - c->out_off >= ECHO_OUT_HIGH)
            return;
        unsigned char *p = (unsigned char *)c->in.p + c->in_off;
        size_t len = echo_conn_in_len(c);
        if (len < 2)
            return;
        bool fin = p[0] & 0x80;
        int op = p[0] & 0x0f;
        bool masked = p[1] & 0x80;
        uint64_t n = p[1] & 0x7f;
        size_t hl = 2;
        if (n == 126) {
            if (len < 4)
                return;
            n = (uint64_t)p[2] << 8 | p[3];
            hl = 4;
        } else if (n == 127) {
            if (len < 10)
                return;
            n = 0;
            for (int i = 0; i < 8; i++)
                n = n << 8 | p[2 + i];
            hl = 10;
        }
        if ((p[0] & 0x70) || !masked) {
            fail(c, 1002); /* reserved bits without extensions, or unmasked */
            return;
        }
        bool control = op & 0x8;
        if ((control && (!fin || n > 125)) || (op > OP_BINARY && !control) || op > OP_PONG) {
            fail(c, 1002);
            return;
        }
        if (n > ECHO_WS_FRAME_MAX) {
            fail(c, 1009);
            return;
        }
        if (len < hl + 4 + n)
            return; /* wait for the whole frame: bounded by ECHO_WS_MSG_MAX */
        unsigned char *mask = p + hl;
        char *data = (char *)p + hl + 4;
        for (uint64_t i = 0; i < n; i++)
            data[i] = (char)(data[i] ^ mask[i & 3]);
        c->in_off += hl + 4 + (size_t)n;

        switch (op) {
        case OP_PING:
            send_frame(c, OP_PONG, data, (size_t)n);
            break;
        case OP_PONG:
            break;
        case OP_CLOSE:
            /* Echo the status code back (none if none was sent). */
            send_frame(c, OP_CLOSE, data, n >= 2 ? 2 : 0);
            c->close_after_write = true;
            return;
        case OP_CONT:
            if (!c->wsop) {
                fail(c, 1002);
                return;
            }
            if (gw_buf_append(&c->wsmsg, data, (size_t)n) < 0) {
                fail(c, 1009);
                return;
            }
            if (fin) {
                send_frame(c, c->wsop, c->wsmsg.p, c->wsmsg.len);
                gw_buf_reset(&c->wsmsg);
                c->wsop = 0;
            }
            break;
        default: /* text or binary */
            if (c->wsop) {
                fail(c, 1002); /* a new message inside a fragmented one */
                return;
            }
            if (fin) {
                send_frame(c, op, data, (size_t)n);
            } else {
                c->wsop = op;
                gw_buf_reset(&c->wsmsg);
                if (gw_buf_append(&c->wsmsg, data, (size_t)n) < 0) {
                    fail(c, 1009);
                    return;
                }
            }
            break;
        }
    }
}
