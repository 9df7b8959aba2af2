"""The Python MCP SDK (`mcp`), unmodified, as an MCP client of LORE's /mcp: it gets the 401,
finds airlock through LORE's RFC 9728 metadata, registers itself (RFC 7591), runs the code flow
with PKCE and `resource` (the person's part done with their session cookie), and calls the
`whoami` tool.

Prints one JSON line per check; exits non-zero on the first failure.
"""

import asyncio
import json
import os
import sys
from urllib.parse import parse_qs, urlparse

import httpx2
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

MCP_URL = os.environ["MCP_URL"]
ISSUER = os.environ["ISSUER"]
REDIRECT_URI = os.environ["REDIRECT_URI"]
COOKIE_NAME, COOKIE_VALUE = os.environ["SESSION_COOKIE"].split("=", 1)


def check(name, ok, detail=""):
    print(json.dumps({"check": name, "ok": bool(ok), "detail": str(detail)[:300]}), flush=True)
    if not ok:
        sys.exit(1)


class MemoryStorage:
    """The SDK's TokenStorage, in memory."""

    def __init__(self):
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client

    async def set_client_info(self, client_info):
        self.client = client_info


approved: dict[str, AuthorizationCodeResult] = {}


async def person_approves(authorization_url: str) -> None:
    """The person's browser: signed in, the consent page, "Allow"; the code comes back."""
    url = urlparse(authorization_url)
    query = parse_qs(url.query)
    check("authorize-at-airlock", authorization_url.startswith(ISSUER + "/oauth/authorize?"), authorization_url)
    check("resource-is-mcp", query.get("resource") == [MCP_URL], query.get("resource"))
    async with httpx2.AsyncClient(cookies={COOKIE_NAME: COOKIE_VALUE}) as browser:
        page = await browser.get(authorization_url)
        check("consent-page", page.status_code == 200 and "wants to use your account" in page.text, page.status_code)
        form = {k: v[0] for k, v in query.items()}
        form["decision"] = "allow"
        answer = await browser.post(f"{url.scheme}://{url.netloc}{url.path}", data=form)
    location = answer.headers.get("location", "")
    check("approved", answer.status_code in (302, 303) and location.startswith(REDIRECT_URI), location)
    back = parse_qs(urlparse(location).query)
    approved["result"] = AuthorizationCodeResult(
        code=back["code"][0], state=back.get("state", [None])[0], iss=back.get("iss", [None])[0]
    )


async def code_came_back() -> AuthorizationCodeResult:
    return approved["result"]


async def main():
    storage = MemoryStorage()
    provider = OAuthClientProvider(
        server_url=MCP_URL,
        client_metadata=OAuthClientMetadata(
            client_name="Python MCP SDK test",
            redirect_uris=[REDIRECT_URI],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=storage,
        redirect_handler=person_approves,
        callback_handler=code_came_back,
    )
    http = create_mcp_http_client(auth=provider)
    async with http:
        async with Client(streamable_http_client(MCP_URL, http_client=http)) as client:
            check("registered", storage.client is not None and storage.client.client_id, storage.client)
            tools = await client.list_tools()
            names = [tool.name for tool in tools.tools]
            check("tools-listed", "whoami" in names, names)
            result = await client.call_tool("whoami", {})
            me = result.structured_content or json.loads(result.content[0].text)
            check(
                "whoami",
                me.get("sub") == os.environ["USER_ID"] and me.get("client_id") == storage.client.client_id,
                me,
            )


asyncio.run(main())
