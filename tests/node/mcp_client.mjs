// The MCP TypeScript SDK (@modelcontextprotocol/sdk), unmodified, as an MCP client of LORE's
// /mcp: it gets the 401, finds airlock through LORE's RFC 9728 metadata, registers itself
// (RFC 7591), runs the code flow with PKCE and `resource`, and calls the `whoami` tool.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { approve, check, env } from './lib.mjs';

const MCP_URL = new URL(env('MCP_URL'));
const ISSUER = env('ISSUER');
const COOKIE = env('SESSION_COOKIE');
const REDIRECT_URI = env('REDIRECT_URI');

/** The SDK's client state, in memory, as a desktop MCP client would keep it on disk. */
class MemoryProvider {
  constructor() {
    this.client = undefined;
    this.stored = undefined;
    this.verifier = undefined;
    this.authorizationUrl = undefined;
  }
  get redirectUrl() { return REDIRECT_URI; }
  get clientMetadata() {
    return {
      client_name: 'MCP TypeScript SDK test',
      redirect_uris: [REDIRECT_URI],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }
  clientInformation() { return this.client; }
  saveClientInformation(info) { this.client = info; }
  tokens() { return this.stored; }
  saveTokens(tokens) { this.stored = tokens; }
  redirectToAuthorization(url) { this.authorizationUrl = url; }
  saveCodeVerifier(verifier) { this.verifier = verifier; }
  codeVerifier() { return this.verifier; }
}

const provider = new MemoryProvider();
const client = new Client({ name: 'airlock-system-test', version: '1.0.0' });
let refused;
try {
  await client.connect(new StreamableHTTPClientTransport(MCP_URL, { authProvider: provider }));
} catch (error) {
  refused = error;
}
check('unauthorized-first', refused instanceof UnauthorizedError, refused);
check('registered', provider.client?.client_id, JSON.stringify(provider.client));
const authorization = provider.authorizationUrl;
check('authorize-at-airlock', authorization?.href.startsWith(`${ISSUER}/oauth/authorize?`), authorization);
check('resource-is-mcp', authorization.searchParams.get('resource') === MCP_URL.href, authorization.searchParams.get('resource'));
check('pkce-s256', authorization.searchParams.get('code_challenge_method') === 'S256', authorization);

const back = await approve(authorization, COOKIE);
check('iss-in-response', back.searchParams.get('iss') === ISSUER, back);
const transport = new StreamableHTTPClientTransport(MCP_URL, { authProvider: provider });
await transport.finishAuth(back.searchParams.get('code'));
check('token', provider.stored?.access_token, Object.keys(provider.stored ?? {}));

await client.connect(transport);
const tools = await client.listTools();
check('tools-listed', tools.tools.some((tool) => tool.name === 'whoami'), JSON.stringify(tools.tools.map((t) => t.name)));
const whoami = await client.callTool({ name: 'whoami', arguments: {} });
const me = whoami.structuredContent ?? JSON.parse(whoami.content[0].text);
check('whoami', me.sub === env('USER_ID') && me.client_id === provider.client.client_id, JSON.stringify(me));
check('whoami-method', me.method === 'access_token', JSON.stringify(me));
await client.close();
