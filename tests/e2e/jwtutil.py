# SPDX-License-Identifier: Apache-2.0
"""Keys, JWK Sets and signed JWTs for the authentication policy tests
(JWTPolicy), made with python3-cryptography: RS256, ES256 and EdDSA
signers, and the forgeries a verifier must refuse (alg none, HS256 keyed
with the RSA public key)."""
import base64
import hashlib
import hmac
import json
import time

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def _int(n, size=None):
    size = size or (n.bit_length() + 7) // 8
    return b64u(n.to_bytes(size, "big"))


class Signer:
    """One private key, its JWK (public) and tokens signed with it."""

    def __init__(self, kind, kid):
        self.kind, self.kid = kind, kid
        if kind == "RS256":
            self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pub = self.key.public_key().public_numbers()
            self.jwk = {"kty": "RSA", "n": _int(pub.n), "e": _int(pub.e)}
        elif kind == "ES256":
            self.key = ec.generate_private_key(ec.SECP256R1())
            pub = self.key.public_key().public_numbers()
            self.jwk = {"kty": "EC", "crv": "P-256", "x": _int(pub.x, 32), "y": _int(pub.y, 32)}
        else:
            self.key = ed25519.Ed25519PrivateKey.generate()
            raw = self.key.public_key().public_bytes(serialization.Encoding.Raw,
                                                     serialization.PublicFormat.Raw)
            self.jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64u(raw)}
        self.jwk["kid"] = kid
        self.alg = kind

    def public_pem(self):
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def sign(self, data):
        if self.kind == "RS256":
            return self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        if self.kind == "ES256":
            r, s = decode_dss_signature(self.key.sign(data, ec.ECDSA(hashes.SHA256())))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return self.key.sign(data)

    def token(self, claims=None, kid=None, alg=None, **over):
        now = int(time.time())
        c = {"iss": "https://issuer.test", "aud": "api", "sub": "alice",
             "iat": now, "exp": now + 600}
        c.update(claims or {})
        c.update(over)
        c = {k: v for k, v in c.items() if v is not None}
        hdr = {"alg": alg or self.alg, "typ": "JWT", "kid": kid or self.kid}
        si = f"{b64u(json.dumps(hdr).encode())}.{b64u(json.dumps(c).encode())}"
        return f"{si}.{b64u(self.sign(si.encode()))}"


def jwks(*signers):
    return json.dumps({"keys": [s.jwk for s in signers]})


def unsigned(claims, kid="rsa1"):
    """alg none: no signature at all."""
    hdr = {"alg": "none", "typ": "JWT", "kid": kid}
    return f"{b64u(json.dumps(hdr).encode())}.{b64u(json.dumps(claims).encode())}."


def hs256_with_public_key(signer, claims):
    """The key-confusion forgery: HS256, the HMAC key being the RSA public
    key's PEM (what a verifier that trusts the token's alg would use)."""
    hdr = {"alg": "HS256", "typ": "JWT", "kid": signer.kid}
    si = f"{b64u(json.dumps(hdr).encode())}.{b64u(json.dumps(claims).encode())}"
    mac = hmac.new(signer.public_pem(), si.encode(), hashlib.sha256).digest()
    return f"{si}.{b64u(mac)}"


def claims(**over):
    now = int(time.time())
    c = {"iss": "https://issuer.test", "aud": "api", "sub": "mallory", "exp": now + 600}
    c.update(over)
    return c
