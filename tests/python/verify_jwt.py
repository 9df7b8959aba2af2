"""Independent verifiers of airlock's JWTs: PyJWT (with PyJWKClient) and python-jose.

Run by tests/system/jwt.rs with the tokens to check in the environment:
  AIRLOCK_URL, ISSUER, AUDIENCE, TOKEN_RS256, TOKEN_EDDSA
Prints one JSON line per check; exits non-zero on the first failure.
"""

import base64
import hashlib
import hmac
import json
import os
import sys
import urllib.error
import urllib.request

import jwt
from jose import jwt as jose_jwt

url = os.environ["AIRLOCK_URL"]
issuer = os.environ["ISSUER"]
audience = os.environ["AUDIENCE"]
jwks_url = f"{url}/.well-known/jwks.json"


def ok(check, **details):
    print(json.dumps({"check": check, "ok": True, **details}))


def fail(check, why):
    print(json.dumps({"check": check, "ok": False, "why": why}))
    sys.exit(1)


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def airlock_status(token):
    request = urllib.request.Request(f"{url}/api/auth/session", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


# 1. PyJWT verifies both algorithms from the JWKS, selecting the key by kid.
client = jwt.PyJWKClient(jwks_url)
for name, alg in [("TOKEN_RS256", "RS256"), ("TOKEN_EDDSA", "EdDSA")]:
    token = os.environ[name]
    key = client.get_signing_key_from_jwt(token)
    claims = jwt.decode(token, key.key, algorithms=[alg], audience=audience, issuer=issuer)
    if claims.get("is_service_account") is not True or not claims["sub"].startswith("svc:"):
        fail(f"pyjwt-{alg}", f"unexpected claims {claims}")
    ok(f"pyjwt-{alg}", kid=jwt.get_unverified_header(token)["kid"], resources=claims.get("resources"))

# 2. python-jose verifies RS256 against the JWKS document.
jwks = json.load(urllib.request.urlopen(jwks_url))
rs_token = os.environ["TOKEN_RS256"]
claims = jose_jwt.decode(rs_token, jwks, algorithms=["RS256"], audience=audience, issuer=issuer)
ok("python-jose-RS256", sub=claims["sub"])

# 3. Forgeries: refused by PyJWT and by airlock.
header = jwt.get_unverified_header(rs_token)
payload_b64 = rs_token.split(".")[1]
none_token = f"{b64(json.dumps({'alg': 'none', 'kid': header['kid'], 'typ': 'JWT'}).encode())}.{payload_b64}."
rsa_key = client.get_signing_key_from_jwt(rs_token)
public_pem = rsa_key.key.public_bytes(
    encoding=__import__("cryptography.hazmat.primitives.serialization", fromlist=["Encoding"]).Encoding.PEM,
    format=__import__("cryptography.hazmat.primitives.serialization", fromlist=["PublicFormat"]).PublicFormat.SubjectPublicKeyInfo,
)
hs_header = b64(json.dumps({"alg": "HS256", "kid": header["kid"], "typ": "JWT"}).encode())
signing_input = f"{hs_header}.{payload_b64}".encode()
hs_token = f"{hs_header}.{payload_b64}.{b64(hmac.new(public_pem, signing_input, hashlib.sha256).digest())}"
parts = rs_token.split(".")
tampered_payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=="))
tampered_payload["sub"] = "svc:someone-else"
tampered = f"{parts[0]}.{b64(json.dumps(tampered_payload).encode())}.{parts[2]}"

for check, token in [("alg-none", none_token), ("hs256-with-public-key", hs_token), ("tampered", tampered)]:
    try:
        jwt.decode(token, rsa_key.key, algorithms=["RS256"], audience=audience, issuer=issuer)
        fail(f"pyjwt-refuses-{check}", "PyJWT accepted a forgery")
    except jwt.PyJWTError:
        pass
    status = airlock_status(token)
    if status != 401:
        fail(f"airlock-refuses-{check}", f"airlock answered {status}")
    ok(f"refused-{check}")

for check, kwargs in [("wrong-audience", {"audience": "not-" + audience, "issuer": issuer}),
                      ("wrong-issuer", {"audience": audience, "issuer": issuer + ".evil"})]:
    try:
        jwt.decode(rs_token, rsa_key.key, algorithms=["RS256"], **kwargs)
        fail(f"pyjwt-{check}", "PyJWT accepted a mismatch")
    except jwt.PyJWTError:
        ok(f"pyjwt-refuses-{check}")
