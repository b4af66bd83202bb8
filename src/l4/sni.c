/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ClientHello peek (RFC 8446 4.1.2, RFC 6066 3): reassemble the first
 * handshake message from one or more TLS records, walk the ClientHello's
 * fixed fields to its extensions, and read the host_name of server_name.
 * Pure and bounded: nothing is allocated, every length is checked against
 * what is left before it is used, and the handshake message is limited to
 * GW_L4_HELLO_MAX bytes.
 */
#include <string.h>

#include "l4/internal.h"

#include "base/banned.h"

enum {
    REC_HEADER = 5,
    REC_HANDSHAKE = 22,
    REC_MAX = 16384 + 256, /* TLSPlaintext: 2^14 (plus slack some stacks use) */
    HS_HEADER = 4,
    HS_CLIENT_HELLO = 1,
    EXT_SERVER_NAME = 0,
    NAME_HOST = 0,
};

/* A bounds-checked reader over one contiguous byte range. */
struct rd {
    const uint8_t *p;
    size_t n;
    bool bad;
};

static const uint8_t *
take(struct rd *r, size_t k)
{
    if (r->bad || r->n < k) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *q = r->p;
    r->p += k;
    r->n -= k;
    return q;
}

static size_t
u8(struct rd *r)
{
    const uint8_t *q = take(r, 1);
    return q ? q[0] : 0;
}

static size_t
u16(struct rd *r)
{
    const uint8_t *q = take(r, 2);
    return q ? ((size_t)q[0] << 8) | q[1] : 0;
}

/* A sub-reader over the next len bytes of r (a length-prefixed vector). */
static struct rd
sub(struct rd *r, size_t len)
{
    const uint8_t *q = take(r, len);
    return (struct rd){q, q ? len : 0, q == NULL};
}

/*
 * Gathers the first handshake message's bytes from the records in p[0..n)
 * into hs (at most cap bytes). Returns the message length (header
 * included) once complete, GW_EAGAIN, GW_EPARSE or GW_ELIMIT.
 */
static int
reassemble(const uint8_t *p, size_t n, uint8_t *hs, size_t cap)
{
    size_t have = 0, want = 0;
    while (n > 0) {
        if (p[0] != REC_HANDSHAKE)
            return GW_EPARSE;
        /* legacy_record_version: 3.x; a major other than 3 is not TLS */
        if (n >= 2 && p[1] != 3)
            return GW_EPARSE;
        if (n < REC_HEADER)
            return GW_EAGAIN;
        size_t len = ((size_t)p[3] << 8) | p[4];
        if (len == 0 || len > REC_MAX)
            return GW_EPARSE;
        size_t avail = n - REC_HEADER < len ? n - REC_HEADER : len;
        const uint8_t *frag = p + REC_HEADER;
        /* Only the bytes of the first message matter; the rest of the
         * record (a later handshake message) is skipped. */
        size_t use = avail;
        if (want && use > want - have)
            use = want - have;
        if (have + use > cap)
            use = cap - have;
        memcpy(hs + have, frag, use);
        have += use;
        if (!want && have >= HS_HEADER) {
            if (hs[0] != HS_CLIENT_HELLO)
                return GW_EPARSE;
            size_t body = ((size_t)hs[1] << 16) | ((size_t)hs[2] << 8) | hs[3];
            want = HS_HEADER + body;
            if (want > cap)
                return GW_ELIMIT;
            if (have > want)
                have = want;
        }
        if (want && have >= want)
            return (int)want;
        if (avail < len)
            return GW_EAGAIN; /* the record itself is incomplete */
        p += REC_HEADER + len;
        n -= REC_HEADER + len;
    }
    return GW_EAGAIN;
}

static bool
host_char_ok(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_';
}

static int
server_name(struct rd ext, char *sni, size_t cap)
{
    struct rd list = sub(&ext, u16(&ext));
    if (ext.bad || ext.n != 0 || list.n == 0)
        return GW_EPARSE;
    bool found = false;
    while (list.n > 0) {
        size_t type = u8(&list);
        struct rd name = sub(&list, u16(&list));
        if (list.bad)
            return GW_EPARSE;
        if (type != NAME_HOST)
            continue; /* unknown name types are skipped (RFC 6066 3) */
        if (found || name.n == 0)
            return GW_EPARSE; /* one host_name at most, never empty */
        if (name.n > GW_L4_SNI_MAX || name.n + 1 > cap)
            return GW_ELIMIT;
        for (size_t i = 0; i < name.n; i++) {
            uint8_t c = name.p[i];
            if (!host_char_ok(c))
                return GW_EPARSE;
            sni[i] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
        }
        sni[name.n] = '\0';
        found = true;
    }
    return 0;
}

int
gw_l4_sni_parse(const uint8_t *p, size_t n, char *sni, size_t cap)
{
    uint8_t hs[GW_L4_HELLO_MAX];
    GW_ASSERT(cap > 0);
    sni[0] = '\0';
    int len = reassemble(p, n, hs, sizeof(hs));
    if (len == GW_EAGAIN && n >= GW_L4_HELLO_MAX)
        return GW_ELIMIT; /* record overhead pushed it past the peek bound */
    if (len < 0)
        return len;
    struct rd r = {hs + HS_HEADER, (size_t)len - HS_HEADER, false};
    if (u8(&r) != 3) /* legacy_version major */
        return GW_EPARSE;
    take(&r, 1 + 32); /* minor, random */
    size_t sid = u8(&r);
    if (sid > 32)
        return GW_EPARSE;
    take(&r, sid);
    size_t suites = u16(&r);
    if (suites < 2 || suites % 2)
        return GW_EPARSE;
    take(&r, suites);
    size_t comp = u8(&r);
    if (comp < 1)
        return GW_EPARSE;
    take(&r, comp);
    if (r.bad)
        return GW_EPARSE;
    if (r.n == 0)
        return 0; /* no extensions at all (TLS 1.0-1.2 allow it): no SNI */
    struct rd exts = sub(&r, u16(&r));
    if (r.bad || r.n != 0)
        return GW_EPARSE;
    bool seen = false;
    while (exts.n > 0) {
        size_t type = u16(&exts);
        struct rd ext = sub(&exts, u16(&exts));
        if (exts.bad)
            return GW_EPARSE;
        if (type != EXT_SERVER_NAME)
            continue;
        if (seen)
            return GW_EPARSE; /* an extension appears once at most */
        seen = true;
        int rc = server_name(ext, sni, cap);
        if (rc < 0) {
            sni[0] = '\0';
            return rc;
        }
    }
    return 0;
}
