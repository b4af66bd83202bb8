/* SPDX-License-Identifier: Apache-2.0 */
/* auth htpasswd.c and apikey.c: every supported hash (made here with
 * crypt_rn and fixed salts), refused lines with their line numbers,
 * repeated users, Basic credentials, and API key lookup. */
#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "auth/auth.h"
#include "tap.h"

#include "base/banned.h"

static struct gw_str
S(const char *s) {
    return gw_str_from(s);

}

static char *
hash_with(const char *password, const char *setting)

{
    struct crypt_data *cd = gw_xcalloc(1, sizeof(*cd));
    const char *h = crypt_rn(password, setting, cd, (int)sizeof(*cd));
    GW_ASSERT(h && h[0] != '*');
    char *s = gw_xstrdup(h);
    free(cd);
    return s;
}

static char *
sha_hash(const char *password)
{
    uint8_t md[20];
    unsigned n = 0;
    GW_ASSERT(EVP_Digest(password, strlen(password), md, &n, EVP_sha1(), NULL) == 1);
    uint8_t b64[32];
    GW_ASSERT(EVP_EncodeBlock(b64, md, 20) == 28);
    return gw_xasprintf("{SHA}%s", (char *)b64);
}

static bool
has_diag(const struct gw_diags *d, unsigned line, const char *needle)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->v[i].pos.line == line && strstr(d->v[i].message, needle))
            return true;
    return false;
}

static void
htpasswd(void)
{
    char *b2y = hash_with("pw-bcrypt", "$2y$05$abcdefghijklmnopqrstuu");
    char *b2b = hash_with("pw-2b", "$2b$04$abcdefghijklmnopqrstuu");
    char *b2a = hash_with("pw-2a", "$2a$04$abcdefghijklmnopqrstuu");
    char *s5 = hash_with("pw-sha256", "$5$saltsalt");
    char *s5r = hash_with("pw-rounds", "$5$rounds=2000$saltsalt");
    char *s6 = hash_with("pw-sha512", "$6$saltsalt");
    char *sha = sha_hash("pw-sha1");
    char *file = gw_xasprintf("# users\n"           /* 1 */
                              "\n"                  /* 2 */
                              "bob:%s\n"            /* 3 */
                              "carol:%s\r\n"        /* 4 */
                              "dave:%s\n"           /* 5 */
                              "erin:%s\n"           /* 6 */
                              "frank:%s\n"          /* 7 */
                              "grace:%s\n"          /* 8 */
                              "heidi:%s\n"          /* 9 */
                              "plain:secret\n"      /* 10 */
                              "md5:$apr1$abc$def\n" /* 11 */
                              "nocolon\n"           /* 12 */
                              ":$2y$05$x\n"         /* 13 */
                              "short:$2y$05$abc\n"  /* 14 */
                              "bob:%s\n"            /* 15 */
                              "des:abJnggxhB/yWI\n" /* 16 */
                              "   # indented comment\n"
                              "bad6:$6$salt$tooshort", /* 18, no final newline */
                              b2y, b2b, b2a, s5, s5r, s6, sha, s6);
    struct gw_diags d;
    gw_diags_init(&d);
    struct gw_auth_htpasswd *h = NULL;
    is_int(gw_auth_htpasswd_parse(file, strlen(file), "users", &h, &d), 0, "htpasswd parses");
    is_int(h ? (long long)gw_auth_htpasswd_count(h) : -1, 7, "seven users kept");
    is_int((long long)d.warnings, 8, "eight lines refused");
    ok(has_diag(&d, 10, "unsupported hash"), "line 10: plain text");
    ok(has_diag(&d, 11, "$apr1$"), "line 11: MD5 apr1");
    ok(has_diag(&d, 12, "no ':'"), "line 12: no colon");
    ok(has_diag(&d, 13, "empty user"), "line 13: empty user");
    ok(has_diag(&d, 14, "malformed bcrypt"), "line 14: short bcrypt");
    ok(has_diag(&d, 15, "already on line 3"), "line 15: bob again");
    ok(has_diag(&d, 16, "unsupported hash"), "line 16: crypt DES");
    ok(has_diag(&d, 18, "SHA-512-crypt"), "line 18: malformed $6$");
    for (size_t i = 0; i < d.n; i++) {
        struct gw_buf b;
        gw_buf_init(&b, 4096);
        gw_diag_format(&d.v[i], &b);
        diag("%s", b.p);
        gw_buf_release(&b);
    }

    static const struct {
        const char *user, *pw;
        bool want;
    } cases[] = {
        {"bob", "pw-bcrypt", true},   {"bob", "pw-bcrypT", false},  {"carol", "pw-2b", true},
        {"dave", "pw-2a", true},      {"erin", "pw-sha256", true},  {"erin", "pw-sha25", false},
        {"frank", "pw-rounds", true}, {"grace", "pw-sha512", true}, {"grace", "", false},
        {"heidi", "pw-sha1", true},   {"heidi", "pw-sha2", false},  {"nobody", "pw-bcrypt", false},
        {"Bob", "pw-bcrypt", false},  {"plain", "secret", false},   {"bo", "pw-bcrypt", false},
    };

    for (size_t i = 0; i < GW_ARRAY_LEN(cases); i++)
        is_int(h && gw_auth_htpasswd_verify(h, S(cases[i].user), S(cases[i].pw)), cases[i].want,
               "%s / %s", cases[i].user, cases[i].pw);
    ok(!gw_auth_htpasswd_verify(h, S("bob"), (struct gw_str){"pw-bcrypt\0x", 11}),
       "a NUL inside the password never matches");
    gw_auth_htpasswd_free(h);
    gw_diags_release(&d);

    /* Work factors that would stall a worker are refused at parse time. */
    char *slow = gw_xasprintf("x:$2y$18$%.53s\ny:$6$rounds=2000000$salt$%.86s\n"
                              "z:$5$rounds=999$salt$%.43s\n",
                              b2y + 7, s6 + 12, s5 + 12);
    gw_diags_init(&d);
    h = NULL;
    is_int(gw_auth_htpasswd_parse(slow, strlen(slow), NULL, &h, &d), 0, "slow hashes parse");
    ok(h && gw_auth_htpasswd_count(h) == 0 && d.warnings == 3,
       "bcrypt cost 18, 2000000 rounds, 999 rounds: refused");
    gw_auth_htpasswd_free(h);
    gw_diags_release(&d);
    free(slow);

    gw_diags_init(&d);
    h = NULL;
    is_int(gw_auth_htpasswd_parse("", 0, NULL, &h, &d), 0, "an empty file");
    ok(h && gw_auth_htpasswd_count(h) == 0 && d.n == 0, "no users, no diagnostics");
    ok(h && !gw_auth_htpasswd_verify(h, S("a"), S("b")), "nobody verifies");
    gw_auth_htpasswd_free(h);
    char *big = gw_xcalloc(GW_AUTH_HTPASSWD_MAX_BYTES + 2, 1);
    memset(big, '#', GW_AUTH_HTPASSWD_MAX_BYTES + 1);
    is_int(gw_auth_htpasswd_parse(big, GW_AUTH_HTPASSWD_MAX_BYTES + 1, NULL, &h, &d), GW_ELIMIT,
           "over the size limit");
    ok(h == NULL && d.errors == 1, "... an error, no set");
    free(big);
    gw_diags_release(&d);
    free(file);
    free(b2y);
    free(b2b);
    free(b2a);
    free(s5);
    free(s5r);
    free(s6);
    free(sha);
}

static void
basic(void)
{
    char buf[64];
    struct gw_str u, p;
    /* "alice:open sesame" */
    is_int(gw_auth_basic_parse(S("Basic YWxpY2U6b3BlbiBzZXNhbWU="), buf, sizeof(buf), &u, &p), 0,
           "Basic credentials");
    ok(gw_str_eq_cstr(u, "alice") && gw_str_eq_cstr(p, "open sesame"), "user and password");
    is_int(gw_auth_basic_parse(S("basic   YWxpY2U6b3BlbiBzZXNhbWU=  "), buf, sizeof(buf), &u, &p),
           0, "case-insensitive scheme, extra spaces");
    /* "a:b:c" -> password "b:c" */
    is_int(gw_auth_basic_parse(S("Basic YTpiOmM="), buf, sizeof(buf), &u, &p), 0, "a:b:c");
    ok(gw_str_eq_cstr(u, "a") && gw_str_eq_cstr(p, "b:c"), "the first ':' splits");
    /* "a:" -> empty password */
    is_int(gw_auth_basic_parse(S("Basic YTo="), buf, sizeof(buf), &u, &p), 0, "empty password");
    ok(p.len == 0, "... is empty");

    static const struct {
        const char *v;
        int want;
        const char *what;
    } bad[] = {
        {"Basic", GW_EINVAL, "no credentials"},
        {"Basic ", GW_EINVAL, "empty credentials"},
        {"Bearer YTpi", GW_EINVAL, "another scheme"},
        {"BasicYTpi", GW_EINVAL, "no space"},
        {"Basic YTpi=", GW_EINVAL, "padding where none belongs"},
        {"Basic YTo", GW_EINVAL, "padding missing"},
        {"Basic YWJj", GW_EINVAL, "no ':' (abc)"},
        {"Basic OmI=", GW_EINVAL, "empty user (:b)"},
        {"Basic YQlhOmI=", GW_EINVAL, "a TAB in the user"},
        {"Basic YTpiAGM=", GW_EINVAL, "a NUL in the password"},
        {"Basic YT!i", GW_EINVAL, "not base64"},
        {"Basic YT-_", GW_EINVAL, "base64url is not base64"},
        {"Basic YTp=", GW_EINVAL, "non-canonical spare bits"},
        {"Basic YTpi YTpi", GW_EINVAL, "two tokens"},
    };

    for (size_t i = 0; i < GW_ARRAY_LEN(bad); i++)
        is_int(gw_auth_basic_parse(S(bad[i].v), buf, sizeof(buf), &u, &p), bad[i].want, "%s",
               bad[i].what);
    is_int(gw_auth_basic_parse(S("Basic YWxpY2U6b3BlbiBzZXNhbWU="), buf, 8, &u, &p), GW_ELIMIT,
           "buffer too small");
    char *huge = gw_xcalloc(GW_AUTH_BASIC_MAX_BYTES + 8, 1);
    memcpy(huge, "Basic ", 6);
    memset(huge + 6, 'Y', GW_AUTH_BASIC_MAX_BYTES);
    char *big = gw_xmalloc(GW_AUTH_BASIC_MAX_BYTES);
    is_int(gw_auth_basic_parse(S(huge), big, GW_AUTH_BASIC_MAX_BYTES, &u, &p), GW_ELIMIT,
           "an over-long value");
    free(big);
    free(huge);
}

static void
apikeys(void)
{
    struct gw_auth_apikeys *k = gw_auth_apikeys_new();
    is_int(gw_auth_apikeys_add(k, "client-a", S("key-aaaa")), 0, "add a");
    is_int(gw_auth_apikeys_add(k, "client-b", S("key-bbbb")), 0, "add b");
    is_int(gw_auth_apikeys_add(k, "client-c", S("key-aaaa")), GW_EEXISTS, "a key names one client");
    is_int(gw_auth_apikeys_add(k, "client-d", S("")), GW_EINVAL, "an empty key");
    is_int((long long)gw_auth_apikeys_count(k), 2, "two keys");
    is_str(gw_auth_apikeys_lookup(k, S("key-aaaa")), "client-a", "key a -> client-a");
    is_str(gw_auth_apikeys_lookup(k, S("key-bbbb")), "client-b", "key b -> client-b");
    is_str(gw_auth_apikeys_lookup(k, S("key-bbb")), NULL, "a prefix is no key");
    is_str(gw_auth_apikeys_lookup(k, S("key-bbbbb")), NULL, "nor a longer key");
    is_str(gw_auth_apikeys_lookup(k, S("")), NULL, "nor the empty string");
    gw_auth_apikeys_free(k);
    k = gw_auth_apikeys_new();
    is_str(gw_auth_apikeys_lookup(k, S("x")), NULL, "an empty set");
    gw_auth_apikeys_free(k);
}

int
main(void)
{
    htpasswd();
    basic();
    apikeys();
    return done_testing();
}
