/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Session persistence (GEP-1619): the token that brings a client back to
 * its endpoint, and the per-snapshot keys and endpoint tags it is checked
 * against. Stateless: nothing is remembered per session, so any worker, a
 * reloaded snapshot or another replica serving the same configuration
 * finds the endpoint from the token alone.
 *
 * Token (37 bytes, 50 characters of unpadded base64url, a valid cookie
 * value and header value):
 *   [0]      version (1)
 *   [1..8]   endpoint tag: HMAC-SHA256(K, backend name NUL ip NUL port as
 *            2 bytes big-endian), first 8 bytes; names the endpoint
 *            without showing its address
 *   [9..14]  session start, ms since the epoch, 48 bits big-endian
 *   [15..20] last use, the same
 *   [21..36] HMAC-SHA256(K, bytes 0..20), first 16 bytes
 * K, the rule's key, is HMAC-SHA256("gatehouse session persistence v1",
 * the IR's key_id: kind, namespace, name, uid and rule index), so every
 * worker, reload and replica of one configuration derives the same key,
 * rules never share one (a token of another rule fails its check), and a
 * Kubernetes route's uid, which its clients do not see, keeps tokens from
 * being minted outside. A token that fails the check, has expired, or
 * whose tag names no endpoint of the rule's backends is ignored: the
 * request is balanced as usual and gets a new token. A client can thus
 * never steer a request anywhere but to an endpoint of the rule.
 */
/* The SHA-256 context API, deprecated by OpenSSL 3 in favour of EVP, is
 * what lets a rule's HMAC inner and outer states be computed once and
 * copied as plain structs: a token then costs two SHA-256 blocks (a few
 * thousand instructions) where HMAC() spends over 20,000 fetching the
 * digest and allocating its contexts on every call. OpenSSL 3.x keeps it. */
#define OPENSSL_API_COMPAT 10101

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "proxy/internal.h"

#include "base/banned.h"

#define TOKEN_BYTES 37
#define BODY_BYTES  21
#define MAC_BYTES   16
_Static_assert((TOKEN_BYTES / 3) * 4 + 2 == PX_SESSION_TOKEN_LEN, "token length");

/* A token minted by a replica whose clock runs ahead is still good. */
#define CLOCK_SKEW_MS 60000

static const char master[] = "gatehouse session persistence v1";

/* HMAC-SHA256 with the key's pads already hashed (RFC 2104). */
struct px_skey {
    SHA256_CTX inner, outer;
};

struct px_skey *
px_skey_new(const char *key_id)
{
    uint8_t k[32], pad[64];
    unsigned len = sizeof(k);
    if (!HMAC(EVP_sha256(), master, (int)sizeof(master) - 1, (const uint8_t *)key_id,
              strlen(key_id), k, &len))
        GW_ASSERT(!"HMAC-SHA256 failed");
    struct px_skey *key = gw_xcalloc(1, sizeof(*key));
    memset(pad, 0x36, sizeof(pad));
    for (size_t i = 0; i < sizeof(k); i++)
        pad[i] ^= k[i];
    SHA256_Init(&key->inner);
    SHA256_Update(&key->inner, pad, sizeof(pad));
    memset(pad, 0x5c, sizeof(pad));
    for (size_t i = 0; i < sizeof(k); i++)
        pad[i] ^= k[i];
    SHA256_Init(&key->outer);
    SHA256_Update(&key->outer, pad, sizeof(pad));
    OPENSSL_cleanse(k, sizeof(k));
    OPENSSL_cleanse(pad, sizeof(pad));
    return key;
}

void
px_skey_free(struct px_skey *key)
{
    if (!key)
        return;
    OPENSSL_cleanse(key, sizeof(*key));
    free(key);
}

static void
hmac(const struct px_skey *key, const void *p, size_t n, uint8_t out[32])
{
    SHA256_CTX c = key->inner;
    SHA256_Update(&c, p, n);
    SHA256_Final(out, &c);
    c = key->outer;
    SHA256_Update(&c, out, 32);
    SHA256_Final(out, &c);
}

uint64_t
px_session_tag(const struct px_skey *key, const char *backend, const char *ip, uint16_t port)
{
    uint8_t buf[512], md[32];
    size_t bl = strlen(backend), il = strlen(ip), n = 0;
    bl = GW_MIN(bl, sizeof(buf) - 64 - 2);
    il = GW_MIN(il, (size_t)60);
    memcpy(buf, backend, bl);
    n = bl;
    buf[n++] = 0;
    memcpy(buf + n, ip, il);
    n += il;
    buf[n++] = 0;
    buf[n++] = (uint8_t)(port >> 8);
    buf[n++] = (uint8_t)port;
    hmac(key, buf, n, md);
    uint64_t t = 0;
    for (int i = 0; i < 8; i++)
        t = t << 8 | md[i];
    return t;
}

static void
put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t
get_be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

void
px_session_token_format(const struct px_skey *key, const struct px_session_token *tok,
                        char out[PX_SESSION_TOKEN_LEN])
{
    uint8_t t[TOKEN_BYTES + 2], md[32];
    t[0] = 1;
    put_be(t + 1, tok->tag, 8);
    put_be(t + 9, tok->created_ms, 6);
    put_be(t + 15, tok->used_ms, 6);
    hmac(key, t, BODY_BYTES, md);
    memcpy(t + BODY_BYTES, md, MAC_BYTES);
    size_t o = gw_base64_encode(t, TOKEN_BYTES, GW_B64_URL | GW_B64_NOPAD, out);
    GW_ASSERT(o == PX_SESSION_TOKEN_LEN);
}

int
px_session_token_parse(const struct px_skey *key, struct gw_str s, struct px_session_token *tok)
{
    if (s.len != PX_SESSION_TOKEN_LEN)
        return GW_EINVAL;
    uint8_t t[TOKEN_BYTES + 2], md[32];
    int o = gw_base64_decode(s, GW_B64_URL | GW_B64_NOPAD | GW_B64_CANONICAL, t, sizeof(t), NULL);
    if (o != TOKEN_BYTES || t[0] != 1)
        return GW_EINVAL;
    hmac(key, t, BODY_BYTES, md);
    if (CRYPTO_memcmp(md, t + BODY_BYTES, MAC_BYTES) != 0)
        return GW_EINVAL;
    tok->tag = get_be(t + 1, 8);
    tok->created_ms = get_be(t + 9, 6);
    tok->used_ms = get_be(t + 15, 6);
    if (tok->used_ms < tok->created_ms)
        return GW_EINVAL;
    return 0;
}

bool
px_session_token_is_live(const struct gw_ir_session *s, const struct px_session_token *tok,
                         uint64_t now)
{
    if (tok->used_ms > now + CLOCK_SKEW_MS)
        return false;
    if (s->absolute_ms > 0 && now >= tok->created_ms + (uint64_t)s->absolute_ms)
        return false;
    if (s->idle_ms > 0 && now >= tok->used_ms + (uint64_t)s->idle_ms)
        return false;
    return true;
}

uint64_t
px_session_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

bool
px_session_cookie_next(struct gw_str v, struct gw_str name, size_t *pos, struct gw_str *val)
{
    size_t i = *pos;
    while (i < v.len) {
        while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t' || v.p[i] == ';'))
            i++;
        size_t start = i;
        while (i < v.len && v.p[i] != ';')
            i++;
        struct gw_str pair = {v.p + start, i - start};
        while (pair.len && (pair.p[pair.len - 1] == ' ' || pair.p[pair.len - 1] == '\t'))
            pair.len--;
        const char *eq = pair.len ? memchr(pair.p, '=', pair.len) : NULL;
        if (!eq)
            continue;
        struct gw_str n = {pair.p, (size_t)(eq - pair.p)};
        while (n.len && (n.p[n.len - 1] == ' ' || n.p[n.len - 1] == '\t'))
            n.len--;
        if (n.len != name.len || memcmp(n.p, name.p, n.len) != 0)
            continue;
        struct gw_str x = {eq + 1, (size_t)(pair.p + pair.len - (eq + 1))};
        while (x.len && (x.p[0] == ' ' || x.p[0] == '\t')) {
            x.p++;
            x.len--;
        }
        if (x.len >= 2 && x.p[0] == '"' && x.p[x.len - 1] == '"') {
            x.p++;
            x.len -= 2;
        }
        *val = x;
        *pos = i;
        return true;
    }
    *pos = v.len;
    return false;
}

/* The field name, ASCII case ignored. */
static bool
name_is(struct gw_str a, const char *b, size_t n)
{
    return a.len == n && strncasecmp(a.p, b, n) == 0;
}

/* Candidate tokens checked per request at most: each costs an HMAC, and a
 * request could carry a hundred cookies of the name. */
#define MAX_CANDIDATES 4

bool
px_session_request_token(const struct gw_ir_session *s, const struct px_skey *key,
                         const struct gw_h1_header *h, size_t nh, uint64_t now,
                         struct px_session_token *tok)
{
    struct gw_str name = gw_str_from(s->name);
    unsigned tried = 0;
    for (size_t i = 0; i < nh && tried < MAX_CANDIDATES; i++) {
        if (s->type == GW_IR_SESSION_HEADER) {
            if (!name_is(h[i].name, name.p, name.len))
                continue;
            tried++;
            if (px_session_token_parse(key, h[i].value, tok) == 0 &&
                px_session_token_is_live(s, tok, now))
                return true;
            continue;
        }
        if (!name_is(h[i].name, "cookie", 6))
            continue;
        /* The browser sends the most specific Path first; a cookie of the
         * same name from another rule fails the check and the next is
         * tried. */
        size_t pos = 0;
        struct gw_str v;
        while (tried < MAX_CANDIDATES && px_session_cookie_next(h[i].value, name, &pos, &v)) {
            tried++;
            if (px_session_token_parse(key, v, tok) == 0 && px_session_token_is_live(s, tok, now))
                return true;
        }
    }
    return false;
}

int
px_session_field_format(const struct gw_ir_session *s, const char token[PX_SESSION_TOKEN_LEN],
                        uint64_t created, uint64_t now, bool secure, struct px_buf *out)
{
    int rc = 0;
    if (s->type == GW_IR_SESSION_HEADER) {
        rc |= px_buf_append_lit(out, s->name);
        rc |= px_buf_append(out, ": ", 2);
        rc |= px_buf_append(out, token, PX_SESSION_TOKEN_LEN);
        rc |= px_buf_append(out, "\r\n", 2);
        return rc ? GW_ELIMIT : 0;
    }
    rc |= px_buf_append_lit(out, "Set-Cookie: ");
    rc |= px_buf_append_lit(out, s->name);
    rc |= px_buf_append(out, "=", 1);
    rc |= px_buf_append(out, token, PX_SESSION_TOKEN_LEN);
    rc |= px_buf_append_lit(out, "; Path=");
    rc |= px_buf_append_lit(out, s->path);
    if (s->permanent && s->absolute_ms > 0) {
        /* What is left of the session, rounded up to a second. */
        uint64_t end = created + (uint64_t)s->absolute_ms;
        uint64_t left = end > now ? end - now : 0;
        rc |= px_buf_append_lit(out, "; Max-Age=");
        rc |= px_buf_append_u64(out, (left + 999) / 1000);
    }
    rc |= px_buf_append_lit(out, "; HttpOnly; SameSite=Lax");
    if (secure)
        rc |= px_buf_append_lit(out, "; Secure");
    rc |= px_buf_append(out, "\r\n", 2);
    return rc ? GW_ELIMIT : 0;
}

/* ------------------------------------------------------------------------ */
/* Per snapshot                                                              */

static void
route_tags(struct px_sess *ss, const struct gw_ir_route *rt)
{
    const struct gw_ir_session *s = rt->session;
    if (!ss->keys[s->id])
        ss->keys[s->id] = px_skey_new(s->key_id);
    for (size_t b = 0; b < rt->nbackends; b++) {
        const struct gw_ir_backend *be = &rt->backends[b];
        if (ss->tags[be->id] || be->invalid || !be->nendpoints)
            continue;
        uint64_t *v = gw_xmalloc(be->nendpoints * sizeof(*v));
        for (size_t i = 0; i < be->nendpoints; i++)
            v[i] = px_session_tag(ss->keys[s->id], be->name ? be->name : "", be->endpoints[i].ip,
                                  be->endpoints[i].port);
        ss->tags[be->id] = v;
    }
}

struct px_sess *
px_sess_new(const struct gw_ir *ir)
{
    GW_ASSERT(ir->indexed);
    if (!ir->nsession_ids)
        return NULL;
    struct px_sess *ss = gw_xcalloc(1, sizeof(*ss));
    ss->nkeys = ir->nsession_ids;
    ss->keys = gw_xcalloc(ss->nkeys, sizeof(*ss->keys));
    ss->ntags = ir->nbackend_ids;
    ss->tags = gw_xcalloc(ss->ntags + 1, sizeof(*ss->tags));
    for (size_t p = 0; p < ir->nports; p++) {
        const struct gw_ir_port *pt = &ir->ports[p];
        for (size_t l = 0; l < pt->nlisteners; l++) {
            const struct gw_ir_listener *li = &pt->listeners[l];
            for (size_t v = 0; v < li->nvhosts; v++)
                for (size_t r = 0; r < li->vhosts[v].nroutes; r++)
                    if (li->vhosts[v].routes[r].session)
                        route_tags(ss, &li->vhosts[v].routes[r]);
        }
    }
    return ss;
}

void
px_sess_free(struct px_sess *ss)
{
    if (!ss)
        return;
    for (size_t i = 0; i < ss->ntags; i++)
        free(ss->tags[i]);
    free(ss->tags);
    for (size_t i = 0; i < ss->nkeys; i++)
        px_skey_free(ss->keys[i]);
    free(ss->keys);
    free(ss);
}

int
px_sess_find(const struct px_sess *ss, const struct gw_ir_route *r, uint64_t tag, size_t *endpoint)
{
    for (size_t b = 0; b < r->nbackends; b++) {
        const struct gw_ir_backend *be = &r->backends[b];
        const uint64_t *v = be->id < ss->ntags ? ss->tags[be->id] : NULL;
        if (!v)
            continue;
        for (size_t i = 0; i < be->nendpoints; i++)
            if (v[i] == tag) {
                *endpoint = i;
                return (int)b;
            }
    }
    return -1;
}

uint64_t
px_sess_tag_of(const struct px_sess *ss, const struct gw_ir_backend *be, size_t endpoint)
{
    const uint64_t *v = be->id < ss->ntags ? ss->tags[be->id] : NULL;
    return v && endpoint < be->nendpoints ? v[endpoint] : 0;
}
