/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The signing side of the auth tests: keys generated at test time with
 * OpenSSL (no key files to vendor), their JWK and PEM forms, and compact
 * JWS tokens signed with them for every algorithm, including the ones the
 * verifier must refuse (none, HS256).
 */
#ifndef GW_TEST_AUTH_SIGN_H
#define GW_TEST_AUTH_SIGN_H

#include <stddef.h>

#include <openssl/evp.h>

/* "RSA" (2048 bits), "RSA1024", "P-256", "P-384", "P-521" or "Ed25519". */
EVP_PKEY *test_key_gen(const char *type);
/* The key's public JWK, with kid and alg when not NULL (malloc'd). */
char *test_jwk(EVP_PKEY *k, const char *kid, const char *alg);
/* The key's SubjectPublicKeyInfo PEM (malloc'd). */
char *test_pem(EVP_PKEY *k);
/* Unpadded base64url of n bytes (malloc'd). */
char *test_b64url(const void *p, size_t n);
/*
 * header.payload.signature for the JSON texts given. alg picks the
 * signature: RS*, PS*, ES* (raw r||s), EdDSA with k; "HS256" an HMAC with
 * secret (k unused); "none" an empty signature. malloc'd.
 */
char *test_jwt(EVP_PKEY *k, const char *alg, const char *header, const char *payload,
               const char *secret);

#endif
