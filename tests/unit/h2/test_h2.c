/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the nghttp2 glue: a client and a server session on
 * gw_h2_mem exchange a request and its response in memory (every
 * allocation of both goes through gw_x*: ASan sees them freed), and field
 * names lowered.
 */
#include <string.h>

#include <nghttp2/nghttp2.h>

#include "base/base.h"
#include "h2/h2.h"
#include "tap.h"
/* Last, so its bans cannot break the system headers above. */
#include "base/banned.h"

struct seen {
    char path[64];
    int status;
    bool request_ended, response_ended;
};

static int
on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
          const uint8_t *value, size_t valuelen, uint8_t flags, void *user_data)
{
    (void)session;
    (void)frame;
    (void)flags;
    struct seen *s = user_data;
    if (namelen == 5 && !memcmp(name, ":path", 5) && valuelen < sizeof(s->path))
        memcpy(s->path, value, valuelen);
    if (namelen == 7 && !memcmp(name, ":status", 7) && valuelen == 3)
        s->status = (value[0] - '0') * 100 + (value[1] - '0') * 10 + (value[2] - '0');
    return 0;
}

static int
on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    struct seen *s = user_data;
    if (frame->hd.type != NGHTTP2_HEADERS || !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    if (nghttp2_session_check_server_session(session)) {
        s->request_ended = true;
        nghttp2_nv nv[] = {{(uint8_t *)":status", (uint8_t *)"204", 7, 3, NGHTTP2_NV_FLAG_NONE}};
        nghttp2_submit_response(session, frame->hd.stream_id, nv, 1, NULL);
    } else {
        s->response_ended = true;
    }
    return 0;
}

/* Moves what `from` has to send into `to`; the bytes moved. */
static size_t
pump(nghttp2_session *from, nghttp2_session *to)
{
    size_t total = 0;
    for (;;) {
        const uint8_t *p;
        ssize_t n = nghttp2_session_mem_send(from, &p);
        if (n <= 0)
            return total;
        ok(nghttp2_session_mem_recv(to, p, (size_t)n) == n, "peer takes %zd bytes", n);
        total += (size_t)n;
    }
}

static void
test_sessions(void)
{
    nghttp2_mem *mem = gw_h2_mem();
    ok(mem != NULL && mem == gw_h2_mem(), "one process-lifetime allocator");
    nghttp2_session_callbacks *cb;
    is_int(nghttp2_session_callbacks_new(&cb), 0, "callbacks");
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    struct seen cs = {0}, ss = {0};
    nghttp2_session *client, *server;
    is_int(nghttp2_session_client_new3(&client, cb, &cs, NULL, mem), 0, "client session");
    is_int(nghttp2_session_server_new3(&server, cb, &ss, NULL, mem), 0, "server session");
    nghttp2_session_callbacks_del(cb);
    nghttp2_submit_settings(client, NGHTTP2_FLAG_NONE, NULL, 0);
    nghttp2_submit_settings(server, NGHTTP2_FLAG_NONE, NULL, 0);
    nghttp2_nv req[] = {
        {(uint8_t *)":method", (uint8_t *)"GET", 7, 3, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)":scheme", (uint8_t *)"http", 7, 4, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)":authority", (uint8_t *)"a.test", 10, 6, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)":path", (uint8_t *)"/glue", 5, 5, NGHTTP2_NV_FLAG_NONE},
    };
    ok(nghttp2_submit_request(client, NULL, req, GW_ARRAY_LEN(req), NULL, NULL) == 1,
       "request on stream 1");
    for (int i = 0; i < 8 && pump(client, server) + pump(server, client) > 0; i++)
        ;
    ok(ss.request_ended, "server saw the request end");
    is_str(ss.path, "/glue", "its :path");
    ok(cs.response_ended, "client saw the response end");
    is_int(cs.status, 204, "its :status");
    nghttp2_session_del(client);
    nghttp2_session_del(server);
}

static void
test_name_lower(void)
{
    char out[32];
    gw_h2_name_lower(out, "Content-Type", 12);
    ok(memcmp(out, "content-type", 12) == 0, "mixed case lowered");
    gw_h2_name_lower(out, "X-AZ@[`{09_", 11);
    ok(memcmp(out, "x-az@[`{09_", 11) == 0, "only A-Z change");
    out[0] = '!';
    gw_h2_name_lower(out, "", 0);
    ok(out[0] == '!', "n = 0 writes nothing");
}

int
main(void)
{
    test_sessions();
    test_name_lower();
    return done_testing();
}
