/* SPDX-License-Identifier: Apache-2.0 */
/*
 * l4 sni.c: the ClientHello peek. Hellos are built field by field here
 * (RFC 8446 4.1.2 layout), then fed whole, byte by byte, split over records
 * at every position, and broken in each length field.
 */
#include <stdio.h>
#include <string.h>

#include "l4/l4.h"
#include "tap.h"

#include "base/banned.h"

struct b {
    uint8_t p[70000];
    size_t n;
};

static void
put(struct b *b, const void *p, size_t n)
{
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void
put8(struct b *b, unsigned v)
{
    b->p[b->n++] = (uint8_t)v;
}

static void
put16(struct b *b, unsigned v)
{
    put8(b, v >> 8);
    put8(b, v & 0xff);
}

static void
put24(struct b *b, unsigned v)
{
    put8(b, v >> 16);
    put16(b, v & 0xffff);
}

struct hello_opts {
    const char *sni;     /* NULL: no server_name */
    const char *sni2;    /* a second host_name in the same list */
    bool dup_ext;        /* server_name twice */
    bool no_exts;        /* no extensions block at all */
    size_t pad;          /* an extra padding extension of this size */
    unsigned sid_len;    /* legacy_session_id length */
    unsigned name_type2; /* type of an extra non-host name entry (0: none) */
};

static void
sni_ext(struct b *b, const struct hello_opts *o)
{
    size_t l1 = strlen(o->sni), l2 = o->sni2 ? strlen(o->sni2) : 0;
    size_t list = 3 + l1 + (o->sni2 ? 3 + l2 : 0) + (o->name_type2 ? 3 + 4 : 0);
    put16(b, 0);
    put16(b, (unsigned)list + 2);
    put16(b, (unsigned)list);
    if (o->name_type2) {
        put8(b, o->name_type2);
        put16(b, 4);
        put(b, "abcd", 4);
    }
    put8(b, 0);
    put16(b, (unsigned)l1);
    put(b, o->sni, l1);
    if (o->sni2) {
        put8(b, 0);
        put16(b, (unsigned)l2);
        put(b, o->sni2, l2);
    }
}

/* The handshake message (header included). */
static void
hello_msg(struct b *m, const struct hello_opts *o)
{
    struct b body = {.n = 0};
    put16(&body, 0x0303);
    for (int i = 0; i < 32; i++)
        put8(&body, (unsigned)i);
    put8(&body, o->sid_len);
    for (unsigned i = 0; i < o->sid_len; i++)
        put8(&body, 0xaa);
    put16(&body, 4);
    put16(&body, 0x1301);
    put16(&body, 0x1302);
    put8(&body, 1);
    put8(&body, 0);
    if (!o->no_exts) {
        struct b ex = {.n = 0};
        /* supported_versions first, so server_name is not the first one */
        put16(&ex, 43);
        put16(&ex, 3);
        put8(&ex, 2);
        put16(&ex, 0x0304);
        if (o->sni)
            sni_ext(&ex, o);
        if (o->sni && o->dup_ext)
            sni_ext(&ex, o);
        if (o->pad) {
            put16(&ex, 21);
            put16(&ex, (unsigned)o->pad);
            memset(ex.p + ex.n, 0, o->pad);
            ex.n += o->pad;
        }
        put16(&body, (unsigned)ex.n);
        put(&body, ex.p, ex.n);
    }
    m->n = 0;
    put8(m, 1);
    put24(m, (unsigned)body.n);
    put(m, body.p, body.n);
}

/* Wraps msg in records of at most rec bytes of payload. */
static void
records(struct b *out, const struct b *msg, size_t rec)
{
    out->n = 0;
    for (size_t off = 0; off < msg->n; off += rec) {
        size_t k = msg->n - off < rec ? msg->n - off : rec;
        put8(out, 22);
        put16(out, 0x0301);
        put16(out, (unsigned)k);
        put(out, msg->p + off, k);
    }
}

static int
parse(const struct b *b, char *sni)
{
    return gw_l4_sni_parse(b->p, b->n, sni, GW_L4_SNI_MAX + 1);
}

static struct b msg, rec, tmp;

static void
test_basic(void)
{
    char sni[GW_L4_SNI_MAX + 1];
    hello_msg(&msg, &(struct hello_opts){.sni = "abc.example.com", .sid_len = 32});
    records(&rec, &msg, 16384);
    is_int(parse(&rec, sni), 0, "one record: parsed");
    is_str(sni, "abc.example.com", "one record: SNI");

    hello_msg(&msg, &(struct hello_opts){.sni = "ABC.Example.COM"});
    records(&rec, &msg, 16384);
    is_int(parse(&rec, sni), 0, "upper case: parsed");
    is_str(sni, "abc.example.com", "upper case: lowered");

    hello_msg(&msg, &(struct hello_opts){.sni = NULL});
    records(&rec, &msg, 16384);
    is_int(parse(&rec, sni), 0, "no server_name: parsed");
    is_str(sni, "", "no server_name: empty SNI");

    hello_msg(&msg, &(struct hello_opts){.no_exts = true});
    records(&rec, &msg, 16384);
    is_int(parse(&rec, sni), 0, "no extensions: parsed");
    is_str(sni, "", "no extensions: empty SNI");

    hello_msg(&msg, &(struct hello_opts){.sni = "x.test", .name_type2 = 7});
    records(&rec, &msg, 16384);
    is_int(parse(&rec, sni), 0, "unknown name type skipped");
    is_str(sni, "x.test", "unknown name type: host_name still read");

    /* trailing bytes after the message (a next record) do not matter */
    hello_msg(&msg, &(struct hello_opts){.sni = "t.test"});
    records(&rec, &msg, 16384);
    put(&rec, "\x17\x03\x03\x00\x01Z", 6);
    is_int(parse(&rec, sni), 0, "bytes after the hello ignored");
}

static void
test_pieces(void)
{
    char sni[GW_L4_SNI_MAX + 1];
    hello_msg(&msg, &(struct hello_opts){.sni = "split.example.com", .pad = 300});
    records(&rec, &msg, 16384);
    bool all_again = true;
    for (size_t n = 0; n < rec.n; n++) {
        int rc = gw_l4_sni_parse(rec.p, n, sni, sizeof(sni));
        if (rc != GW_EAGAIN) {
            diag("prefix %zu: %d", n, rc);
            all_again = false;
            break;
        }
    }
    ok(all_again, "every proper prefix asks for more");

    bool all_ok = true;
    for (size_t r = 1; r <= msg.n; r += (r < 64 ? 1 : 37)) {
        records(&rec, &msg, r);
        if (parse(&rec, sni) != 0 || strcmp(sni, "split.example.com") != 0) {
            diag("records of %zu bytes: failed", r);
            all_ok = false;
            break;
        }
    }
    ok(all_ok, "hello split over records of every size");

    records(&rec, &msg, 7);
    bool pre = true;
    for (size_t n = 0; n < rec.n; n++)
        if (gw_l4_sni_parse(rec.p, n, sni, sizeof(sni)) != GW_EAGAIN)
            pre = false;
    ok(pre, "fragmented: every proper prefix asks for more");
}

static void
test_bad(void)
{
    char sni[GW_L4_SNI_MAX + 1];
    static const char http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    is_int(gw_l4_sni_parse((const uint8_t *)http, sizeof(http) - 1, sni, sizeof(sni)), GW_EPARSE,
           "HTTP is not TLS");
    is_int(gw_l4_sni_parse((const uint8_t *)"\x16\x02", 2, sni, sizeof(sni)), GW_EPARSE,
           "record major version 2");
    is_int(gw_l4_sni_parse((const uint8_t *)"\x16", 1, sni, sizeof(sni)), GW_EAGAIN,
           "one byte: more");
    is_int(gw_l4_sni_parse((const uint8_t *)"\x16\x03\x01\x00\x00", 5, sni, sizeof(sni)), GW_EPARSE,
           "empty record");

    hello_msg(&msg, &(struct hello_opts){.sni = "a.test"});
    msg.p[0] = 2; /* ServerHello */
    records(&rec, &msg, 16384);
    is_int(parse(&rec, sni), GW_EPARSE, "not a ClientHello");

    hello_msg(&msg, &(struct hello_opts){.sni = "a.test"});
    records(&rec, &msg, 10);
    rec.p[15] = 23; /* second record is application data */
    is_int(parse(&rec, sni), GW_EPARSE, "non-handshake record inside the hello");

    hello_msg(&msg, &(struct hello_opts){.sni = "a.test", .dup_ext = true});
    records(&rec, &msg, 16384);
    is_int(parse(&rec, sni), GW_EPARSE, "server_name twice");

    hello_msg(&msg, &(struct hello_opts){.sni = "a.test", .sni2 = "b.test"});
    records(&rec, &msg, 16384);
    is_int(parse(&rec, sni), GW_EPARSE, "two host names");

    hello_msg(&msg, &(struct hello_opts){.sni = ""});
    records(&rec, &msg, 16384);
    is_int(parse(&rec, sni), GW_EPARSE, "empty host name");

    hello_msg(&msg, &(struct hello_opts){.sni = "a b.test"});
    records(&rec, &msg, 16384);
    is_int(parse(&rec, sni), GW_EPARSE, "space in host name");

    char longname[300];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = 0;
    hello_msg(&msg, &(struct hello_opts){.sni = longname});
    records(&rec, &msg, 16384);
    is_int(parse(&rec, sni), GW_ELIMIT, "host name over 255 bytes");

    hello_msg(&msg, &(struct hello_opts){.sni = "big.test", .pad = 20000});
    records(&rec, &msg, 16384);
    is_int(parse(&rec, sni), GW_ELIMIT, "hello over the peek bound");
    is_int(gw_l4_sni_parse(rec.p, 9, sni, sizeof(sni)), GW_ELIMIT,
           "oversized hello refused from its header");

    hello_msg(&msg, &(struct hello_opts){.sni = "a.test", .sid_len = 33});
    records(&rec, &msg, 16384);
    is_int(parse(&rec, sni), GW_EPARSE, "session id over 32 bytes");

    /* every single-byte change of the message: no crash, and any success
     * returns a well-formed name (ASan checks the bounds) */
    hello_msg(&msg, &(struct hello_opts){.sni = "mut.example.com"});
    bool sane = true;
    for (size_t i = 0; i < msg.n; i++) {
        for (unsigned v = 0; v < 256; v += 51) {
            tmp = msg;
            tmp.p[i] = (uint8_t)(tmp.p[i] ^ (v | 1));
            records(&rec, &tmp, 16384);
            int rc = parse(&rec, sni);
            if (rc == 0 && strlen(sni) > GW_L4_SNI_MAX)
                sane = false;
            if (rc != 0 && rc != GW_EPARSE && rc != GW_EAGAIN && rc != GW_ELIMIT)
                sane = false;
        }
    }
    ok(sane, "mutations give defined results");

    /* truncating the hello's declared length cuts into fields */
    hello_msg(&msg, &(struct hello_opts){.sni = "cut.test"});
    bool cut_bad = true;
    for (size_t k = 4; k < msg.n; k++) {
        tmp = msg;
        size_t body = k - 4;
        tmp.p[1] = (uint8_t)(body >> 16);
        tmp.p[2] = (uint8_t)(body >> 8);
        tmp.p[3] = (uint8_t)body;
        tmp.n = k;
        records(&rec, &tmp, 16384);
        int rc = parse(&rec, sni);
        /* A hello cut right after compression_methods is legal (no
         * extensions); everything else is malformed. */
        if (rc != GW_EPARSE && !(rc == 0 && sni[0] == '\0'))
            cut_bad = false;
    }
    ok(cut_bad, "truncated hellos are malformed");
}

int
main(void)
{
    test_basic();
    test_pieces();
    test_bad();
    return done_testing();
}
