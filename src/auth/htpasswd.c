/* SPDX-License-Identifier: Apache-2.0 */
/*
 * htpasswd files and Basic credentials (RFC 7617). The crypt(3) family of
 * hashes (bcrypt, SHA-256-crypt, SHA-512-crypt) is checked through
 * libxcrypt's crypt_rn with per-call storage, so any thread may verify;
 * {SHA} (base64 of an unsalted SHA-1) through OpenSSL, kept for old files
 * only. Other formats are refused line by line at parse time: a user whose
 * hash we cannot check must fail loudly at configuration, not silently at
 * every request.
 */
#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "auth/internal.h"

#include "base/banned.h"

enum hash_kind { HASH_CRYPT, HASH_SHA1 };

struct user {
    char *name;
    size_t name_len;
    enum hash_kind kind;
    char *hash;       /* HASH_CRYPT: the crypt(3) string */
    uint8_t sha1[20]; /* HASH_SHA1 */
    unsigned line;
};

struct gw_auth_htpasswd {
    struct user *v; /* sorted by name */
    size_t n;
};

/* crypt(3)'s alphabet ("./0-9A-Za-z"). */
static bool
is_crypt64(struct gw_str s)
{
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (!(c == '.' || c == '/' || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
              (c >= 'a' && c <= 'z')))
            return false;
    }
    return true;
}

/* Work factors past these would make one request cost seconds to hours:
 * Apache's htpasswd itself stops bcrypt at 17, and 1,000,000 rounds of
 * SHA-512-crypt is already about a second. Such lines are refused. */
#define BCRYPT_MAX_COST     17
#define SHACRYPT_MAX_ROUNDS 1000000

/* "$2y$NN$" + 22 characters of salt + 31 of hash. */
static bool
is_bcrypt(struct gw_str h)
{
    if (h.len != 60 || h.p[0] != '$' || h.p[1] != '2' || h.p[3] != '$' || h.p[6] != '$')
        return false;
    if (h.p[2] != 'a' && h.p[2] != 'b' && h.p[2] != 'y')
        return false;
    if (h.p[4] < '0' || h.p[4] > '3' || h.p[5] < '0' || h.p[5] > '9')
        return false;
    int cost = (h.p[4] - '0') * 10 + (h.p[5] - '0');
    return cost >= 4 && cost <= BCRYPT_MAX_COST && is_crypt64((struct gw_str){h.p + 7, 53});
}

/* "$5$[rounds=N$]salt$hash", hash 43 (SHA-256) or 86 (SHA-512) characters,
 * salt at most 16. */
static bool
is_shacrypt(struct gw_str h, size_t hash_len)
{
    struct gw_str rest = {h.p + 3, h.len - 3};
    if (gw_str_has_prefix(rest, GW_STR("rounds="))) {
        const char *d = memchr(rest.p, '$', rest.len);
        if (!d)
            return false;
        uint64_t rounds;
        struct gw_str num = {rest.p + 7, (size_t)(d - rest.p - 7)};
        if (gw_str_to_u64(num, SHACRYPT_MAX_ROUNDS, &rounds) < 0 || rounds < 1000)
            return false;
        rest = (struct gw_str){d + 1, rest.len - (size_t)(d + 1 - rest.p)};
    }
    const char *d = memchr(rest.p, '$', rest.len);
    if (!d)
        return false;
    struct gw_str salt = {rest.p, (size_t)(d - rest.p)};
    struct gw_str hash = {d + 1, rest.len - salt.len - 1};
    return salt.len <= 16 && is_crypt64(salt) && hash.len == hash_len && is_crypt64(hash);
}

static int
cmp_users(const void *a, const void *b)
{
    const struct user *x = a, *y = b;
    size_t n = GW_MIN(x->name_len, y->name_len);
    int c = memcmp(x->name, y->name, n);
    if (c)
        return c;
    if (x->name_len != y->name_len)
        return x->name_len < y->name_len ? -1 : 1;
    return x->line < y->line ? -1 : x->line > y->line; /* first line first */
}

static void
user_release(struct user *u)
{
    free(u->name);
    free(u->hash);
}

/* Reads one "user:hash" line into u, or says why not. */
static const char *
read_line(struct gw_str line, struct user *u)
{
    const char *colon = memchr(line.p, ':', line.len);
    if (!colon)
        return "no ':' between user and hash";
    struct gw_str name = {line.p, (size_t)(colon - line.p)};
    struct gw_str hash = {colon + 1, line.len - name.len - 1};
    if (name.len == 0)
        return "empty user name";
    for (size_t i = 0; i < name.len; i++)
        if ((unsigned char)name.p[i] < 0x20 || name.p[i] == 0x7f)
            return "control character in the user name";
    if (gw_str_has_prefix(hash, GW_STR("$2y$")) || gw_str_has_prefix(hash, GW_STR("$2b$")) ||
        gw_str_has_prefix(hash, GW_STR("$2a$"))) {
        if (!is_bcrypt(hash))
            return "malformed bcrypt hash (or cost over 17)";
        u->kind = HASH_CRYPT;
    } else if (gw_str_has_prefix(hash, GW_STR("$5$"))) {
        if (!is_shacrypt(hash, 43))
            return "malformed SHA-256-crypt ($5$) hash (or rounds over 1000000)";
        u->kind = HASH_CRYPT;
    } else if (gw_str_has_prefix(hash, GW_STR("$6$"))) {
        if (!is_shacrypt(hash, 86))
            return "malformed SHA-512-crypt ($6$) hash (or rounds over 1000000)";
        u->kind = HASH_CRYPT;
    } else if (gw_str_has_prefix(hash, GW_STR("{SHA}"))) {
        uint8_t d[AUTH_B64_DECODED_MAX(28)];
        struct gw_str b = {hash.p + 5, hash.len - 5};
        if (b.len != 28 || auth_b64_decode(b, d, sizeof(d)) != 20)
            return "malformed {SHA} hash (base64 of 20 bytes expected)";
        u->kind = HASH_SHA1;
        memcpy(u->sha1, d, 20);
    } else if (gw_str_has_prefix(hash, GW_STR("$apr1$"))) {
        return "MD5 ($apr1$) hashes are not supported: use bcrypt (htpasswd -B)";
    } else {
        return "unsupported hash (plain text, crypt DES or unknown): use bcrypt "
               "(htpasswd -B)";
    }
    u->name = gw_xstrndup(name.p, name.len);
    u->name_len = name.len;
    if (u->kind == HASH_CRYPT)
        u->hash = gw_xstrndup(hash.p, hash.len);
    return NULL;
}

int
gw_auth_htpasswd_parse(const char *data, size_t len, const char *name,
                       struct gw_auth_htpasswd **out, struct gw_diags *diags)
{
    *out = NULL;
    const char *file = name ? name : "htpasswd";
    if (len > GW_AUTH_HTPASSWD_MAX_BYTES) {
        gw_diags_add(diags, GW_SEV_ERROR, (struct gw_pos){file, 0, 0}, NULL, NULL, NULL, NULL,
                     "htpasswd of %zu bytes (at most %u)", len, GW_AUTH_HTPASSWD_MAX_BYTES);
        return GW_ELIMIT;
    }
    struct gw_auth_htpasswd *h = gw_xcalloc(1, sizeof(*h));
    size_t cap = 0;
    unsigned lineno = 0;
    for (size_t at = 0; at < len;) {
        const char *nl = memchr(data + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - data) : len;
        struct gw_str line = {data + at, end - at};
        at = end + 1;
        lineno++;
        if (line.len && line.p[line.len - 1] == '\r')
            line.len--;
        struct gw_pos pos = {file, lineno, 1};
        struct gw_str t = gw_str_trim(line);
        if (t.len == 0 || t.p[0] == '#')
            continue;
        if (memchr(line.p, '\0', line.len)) {
            gw_diags_add(diags, GW_SEV_WARNING, pos, NULL, NULL, NULL, NULL,
                         "line skipped: NUL byte");
            continue;
        }
        if (h->n == GW_AUTH_HTPASSWD_MAX_USERS) {
            gw_diags_add(diags, GW_SEV_WARNING, pos, NULL, NULL, NULL, NULL,
                         "line skipped: more than %d users", GW_AUTH_HTPASSWD_MAX_USERS);
            continue;
        }
        struct user u = {.line = lineno};
        const char *why = read_line(t, &u);
        if (why) {
            gw_diags_add(diags, GW_SEV_WARNING, pos, NULL, NULL, NULL, NULL, "line skipped: %s",
                         why);
            continue;
        }
        h->v = gw_xgrow(h->v, &cap, h->n + 1, sizeof(*h->v));
        h->v[h->n++] = u;
    }
    if (h->n)
        qsort(h->v, h->n, sizeof(*h->v), cmp_users);
    /* A repeated user: the first line wins, as Apache's lookup has it. */
    size_t w = 0;
    for (size_t i = 0; i < h->n; i++) {
        if (w && h->v[w - 1].name_len == h->v[i].name_len &&
            memcmp(h->v[w - 1].name, h->v[i].name, h->v[i].name_len) == 0) {
            gw_diags_add(diags, GW_SEV_WARNING, (struct gw_pos){file, h->v[i].line, 1}, NULL, NULL,
                         NULL, NULL, "line skipped: user \"%s\" already on line %u", h->v[i].name,
                         h->v[w - 1].line);
            user_release(&h->v[i]);
            continue;
        }
        h->v[w++] = h->v[i];
    }
    h->n = w;
    *out = h;
    return 0;
}

void
gw_auth_htpasswd_free(struct gw_auth_htpasswd *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->n; i++)
        user_release(&h->v[i]);
    free(h->v);
    free(h);
}

size_t
gw_auth_htpasswd_count(const struct gw_auth_htpasswd *h)
{
    return h->n;
}

static const struct user *
find(const struct gw_auth_htpasswd *h, struct gw_str name)
{
    size_t lo = 0, hi = h->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct user *u = &h->v[mid];
        size_t n = GW_MIN(u->name_len, name.len);
        int c = memcmp(u->name, name.p, n);
        if (!c)
            c = u->name_len < name.len ? -1 : u->name_len > name.len;
        if (!c)
            return u;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static bool
check_crypt(const struct user *u, struct gw_str password)
{
    if (memchr(password.p, '\0', password.len))
        return false;
    char *phrase = gw_xstrndup(password.p, password.len);
    struct crypt_data *cd = gw_xcalloc(1, sizeof(*cd));
    bool good = false;
    const char *got = crypt_rn(phrase, u->hash, cd, (int)sizeof(*cd));
    size_t want = strlen(u->hash);
    /* crypt_rn gives NULL, or a string starting with '*' on failure. */
    if (got && got[0] != '*' && strlen(got) == want)
        good = CRYPTO_memcmp(got, u->hash, want) == 0;
    OPENSSL_cleanse(phrase, password.len);
    OPENSSL_cleanse(cd, sizeof(*cd));
    free(phrase);
    free(cd);
    return good;
}

static bool
check_sha1(const struct user *u, struct gw_str password)
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    if (EVP_Digest(password.p, password.len, md, &len, EVP_sha1(), NULL) != 1 || len != 20)
        return false;
    return CRYPTO_memcmp(md, u->sha1, 20) == 0;
}

bool
gw_auth_htpasswd_verify(const struct gw_auth_htpasswd *h, struct gw_str user,
                        struct gw_str password)
{
    if (password.len > GW_AUTH_BASIC_MAX_BYTES)
        return false;
    const struct user *u = find(h, user);
    if (!u)
        return false;
    return u->kind == HASH_SHA1 ? check_sha1(u, password) : check_crypt(u, password);
}

int
gw_auth_basic_parse(struct gw_str value, char *buf, size_t buf_len, struct gw_str *user,
                    struct gw_str *password)
{
    const struct gw_str scheme = GW_STR("Basic");
    if (value.len > GW_AUTH_BASIC_MAX_BYTES)
        return GW_ELIMIT;
    value = gw_str_trim(value);
    if (value.len <= scheme.len + 1 || value.p[scheme.len] != ' ' ||
        !gw_str_caseeq((struct gw_str){value.p, scheme.len}, scheme))
        return GW_EINVAL;
    size_t i = scheme.len;
    while (i < value.len && value.p[i] == ' ')
        i++;
    struct gw_str cred = {value.p + i, value.len - i};
    int n = auth_b64_decode(cred, (uint8_t *)buf, buf_len);
    if (n < 0)
        return n;
    const char *colon = memchr(buf, ':', (size_t)n);
    if (!colon || colon == buf)
        return GW_EINVAL;
    struct gw_str u = {buf, (size_t)(colon - buf)};
    struct gw_str p = {colon + 1, (size_t)n - u.len - 1};
    for (size_t j = 0; j < u.len; j++)
        if ((unsigned char)u.p[j] < 0x20 || u.p[j] == 0x7f)
            return GW_EINVAL;
    if (memchr(p.p, '\0', p.len))
        return GW_EINVAL;
    *user = u;
    *password = p;
    return 0;
}
