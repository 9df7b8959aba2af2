#!/usr/bin/env python3
"""Refresh tokens for bench/run's refresh_token rows, each from a code flow of its own (its own
refresh-token family or grant), as a browser and a client would run it: authorize with PKCE
S256 and `prompt=consent`, the consent answered, the code redeemed with client_secret_basic.

  oauth_seed.py airlock <url> <client_id> <secret> <session-cookie> <count>
  oauth_seed.py oidc-provider <url> <client_id> <secret> - <count>

Prints one refresh token per line. Every token is fresh (never used): the benchmark's wrk
script spends each once and goes on with the token each refresh answers (rotation).
"""
import base64
import hashlib
import secrets
import sys
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urljoin, urlparse

import requests

REDIRECT = "https://app.example.com/callback"
kind, base, client_id, secret, cookie, count = sys.argv[1:7]
count = int(count)


def pkce():
    verifier = secrets.token_urlsafe(32)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def code_of(location):
    query = parse_qs(urlparse(location).query)
    if "code" not in query:
        sys.exit(f"oauth_seed: no code in the redirect {location}")
    return query["code"][0]


def flow(http):
    verifier, challenge = pkce()
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid offline_access",
        "state": secrets.token_urlsafe(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "prompt": "consent",
    }
    if kind == "airlock":
        # The consent page (prompt=consent), then its form posted back with the answer.
        page = http.get(f"{base}/oauth/authorize", params=params, allow_redirects=False)
        if page.status_code != 200 or "wants to use your account" not in page.text:
            sys.exit(f"oauth_seed: no consent page from airlock: {page.status_code} {page.text[:300]}")
        form = {k: v for k, v in params.items() if k != "prompt"} | {"decision": "allow"}
        back = http.post(f"{base}/oauth/authorize", data=form, allow_redirects=False)
        location = back.headers.get("location", "")
        token_path = "/oauth/token"
    else:
        # oidc-provider: /auth -> /interaction/<uid> (the server's stand-in login and consent)
        # -> /auth/<uid> -> the redirect URI.
        resp = http.get(f"{base}/auth", params=params, allow_redirects=False)
        for _ in range(6):
            location = resp.headers.get("location", "")
            if resp.status_code not in (302, 303) or location.startswith(REDIRECT):
                break
            resp = http.get(urljoin(base, location), allow_redirects=False)
        token_path = "/token"
    if not location.startswith(REDIRECT):
        sys.exit(f"oauth_seed: the flow did not come back to the client: {location!r}")
    redeem = {"grant_type": "authorization_code", "code": code_of(location), "redirect_uri": REDIRECT,
              "code_verifier": verifier}
    tokens = http.post(f"{base}{token_path}", data=redeem, auth=(client_id, secret))
    if tokens.status_code != 200 or "refresh_token" not in tokens.json():
        sys.exit(f"oauth_seed: the redemption gave no refresh token: {tokens.status_code} {tokens.text[:300]}")
    return tokens.json()["refresh_token"]


def batch(n):
    http = requests.Session()
    if kind == "airlock":
        http.headers["Cookie"] = cookie
    return [flow(http) for _ in range(n)]


workers = 4
sizes = [count // workers + (i < count % workers) for i in range(workers)]
with ThreadPoolExecutor(workers) as pool:
    for tokens in pool.map(batch, sizes):
        for token in tokens:
            print(token)
