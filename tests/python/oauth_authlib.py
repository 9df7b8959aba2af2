"""Authlib, unmodified, as an OAuth client of airlock: the code flow with PKCE S256 and a nonce
(the person's browser part done with their session cookie), the ID token verified against the
JWKS, userinfo, a refresh, revocation, introspection, and client credentials.

Prints one JSON line per check; exits non-zero on the first failure.
"""

import json
import os
import secrets
import sys
from urllib.parse import parse_qs, urlparse

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt

issuer = os.environ["ISSUER"]
redirect_uri = os.environ["REDIRECT_URI"]
cookie_name, cookie_value = os.environ["SESSION_COOKIE"].split("=", 1)


def check(name, ok, detail=""):
    print(json.dumps({"check": name, "ok": bool(ok), "detail": str(detail)[:300]}), flush=True)
    if not ok:
        sys.exit(1)


meta = requests.get(issuer + "/.well-known/openid-configuration", timeout=10).json()
check("discovery-issuer", meta["issuer"] == issuer, meta["issuer"])

# The code flow, as a web app would run it.
client = OAuth2Session(
    os.environ["CLIENT_ID"],
    os.environ["CLIENT_SECRET"],
    scope="openid email profile offline_access",
    redirect_uri=redirect_uri,
    code_challenge_method="S256",
    token_endpoint_auth_method="client_secret_basic",
)
verifier = secrets.token_urlsafe(48)
nonce = secrets.token_urlsafe(16)
url, state = client.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce)

# The person's browser: signed in; the consent page; "Allow".
browser = requests.Session()
browser.cookies.set(cookie_name, cookie_value)
page = browser.get(url, allow_redirects=False, timeout=10)
check("consent-page", page.status_code == 200 and "wants to use your account" in page.text, page.status_code)
form = {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}
form["decision"] = "allow"
answer = browser.post(meta["authorization_endpoint"], data=form, allow_redirects=False, timeout=10)
location = answer.headers.get("location", "")
check("redirected-back", answer.status_code in (302, 303) and location.startswith(redirect_uri), location)
back = parse_qs(urlparse(location).query)
check("iss-in-response", back.get("iss") == [issuer], back.get("iss"))

token = client.fetch_token(meta["token_endpoint"], authorization_response=location, code_verifier=verifier)
check("code-exchanged", "access_token" in token and "refresh_token" in token and "id_token" in token, list(token))

jwks = JsonWebKey.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())
claims = jwt.decode(
    token["id_token"],
    jwks,
    claims_options={"iss": {"essential": True, "value": issuer}, "aud": {"essential": True, "value": client.client_id}, "nonce": {"essential": True, "value": nonce}},
)
claims.validate()
check("id-token-verified", claims["email"] == os.environ["EMAIL"] and "auth_time" in claims, dict(claims))

userinfo = client.get(meta["userinfo_endpoint"]).json()
check("userinfo", userinfo.get("email") == os.environ["EMAIL"] and userinfo.get("sub") == claims["sub"], userinfo)

refreshed = client.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"])
check("refreshed", refreshed["refresh_token"] != token["refresh_token"], list(refreshed))

active = client.introspect_token(meta["introspection_endpoint"], token=refreshed["access_token"]).json()
check("introspected", active.get("active") is True and active.get("client_id") == client.client_id, active)

revoked = client.revoke_token(meta["revocation_endpoint"], token=refreshed["refresh_token"], token_type_hint="refresh_token")
check("revoked", revoked.status_code == 200, revoked.status_code)
after = requests.post(
    meta["token_endpoint"],
    data={"grant_type": "refresh_token", "refresh_token": refreshed["refresh_token"]},
    auth=(client.client_id, os.environ["CLIENT_SECRET"]),
    timeout=10,
)
check("revoked-refresh-refused", after.status_code == 400 and after.json()["error"] == "invalid_grant", after.text)

# Client credentials, as a script would run them.
machine = OAuth2Session(os.environ["CC_CLIENT_ID"], os.environ["CC_CLIENT_SECRET"], scope="read")
issued = machine.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
check("client-credentials", issued.get("scope") == "read" and "refresh_token" not in issued, list(issued))
