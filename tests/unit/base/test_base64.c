/* SPDX-License-Identifier: Apache-2.0 */
/* base64.c: RFC 4648 test vectors both ways, the flags (alphabets, padding,
 * white space, canonical), the offset of a bad byte, and a full buffer. */
#include <string.h>

#include "base/base.h"
#include "tap.h"

#include "base/banned.h"

static int
dec(const char *s, unsigned flags, char *out, size_t *bad)
{
    int n = gw_base64_decode(gw_str_from(s), flags, (uint8_t *)out, 64, bad);
    if (n >= 0)
        out[n] = '\0';
    return n;
}

int
main(void)
{
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const padded[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                         "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    char out[80], enc[80];
    for (size_t i = 0; i < 7; i++) {
        size_t n = gw_base64_encode((const uint8_t *)plain[i], strlen(plain[i]), 0, enc);
        enc[n] = '\0';
        ok(!strcmp(enc, padded[i]), "encode \"%s\" = %s", plain[i], enc);
        ok(dec(padded[i], GW_B64_PAD | GW_B64_CANONICAL, out, NULL) == (int)strlen(plain[i]) &&
               !strcmp(out, plain[i]),
           "decode %s", padded[i]);
    }
    size_t n = gw_base64_encode((const uint8_t *)"fo", 2, GW_B64_URL | GW_B64_NOPAD, enc);
    ok(n == 3 && !memcmp(enc, "Zm8", 3), "no padding");
    ok(dec("Zm8", GW_B64_PAD, out, NULL) == GW_EINVAL, "padding required");
    ok(dec("Zm8=", GW_B64_NOPAD, out, NULL) == GW_EINVAL, "padding forbidden");
    ok(dec("Zm8", 0, out, NULL) == 2 && dec("Zm8=", 0, out, NULL) == 2, "padding optional");
    ok(dec("Zm8==", 0, out, NULL) == GW_EINVAL, "padding past the quantum");
    ok(dec("Z", 0, out, NULL) == GW_EINVAL, "a lone character");
    ok(dec("-_8", GW_B64_URL, out, NULL) == 2 && dec("-_8", 0, out, NULL) == GW_EINVAL,
       "the URL alphabet, not in the standard one");
    ok(dec("+/8", GW_B64_URL, out, NULL) == GW_EINVAL && dec("+/8", GW_B64_BOTH, out, NULL) == 2 &&
           dec("-_8", GW_B64_BOTH, out, NULL) == 2,
       "both alphabets");
    ok(dec("Zm 9v\n", GW_B64_SPACE, out, NULL) == 3 && dec("Zm 9v", 0, out, NULL) == GW_EINVAL,
       "white space");
    ok(dec("Zm9=", 0, out, NULL) == 2 && dec("Zm9=", GW_B64_CANONICAL, out, NULL) == GW_EINVAL,
       "canonical: the bits past the last byte");
    size_t bad = 99;
    ok(dec("Zm9v*mFy", GW_B64_PAD, out, &bad) == GW_EINVAL && bad == 4, "the bad byte's offset");
    ok(dec("Zm9=v", 0, out, &bad) == GW_EINVAL && bad == 4, "data after padding");
    uint8_t small[2];
    ok(gw_base64_decode(gw_str_from("Zm9v"), 0, small, sizeof(small), NULL) == GW_ELIMIT,
       "a full buffer");
    return done_testing();
}
