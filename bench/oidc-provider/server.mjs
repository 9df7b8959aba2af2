// Peer for bench/run: panva's oidc-provider (9.x) token endpoint on Node, configured like
// airlock's for the grants the benchmark drives. `node server.mjs 127.0.0.1:7091`
//
// Like-for-like with airlock, setting by setting:
// - One Node process (node:http serving `provider.callback()`), as oidc-provider is normally
//   deployed; NODE_ENV=production (bench/run sets it). Its default in-memory adapter (an LRU in
//   the process), as airlock's embedded store keeps everything in the process.
// - Two clients, both confidential with `client_secret_basic` (high-entropy secrets, as
//   airlock's): `bench-cc` with only `client_credentials` and the scope `read`; `bench-app` with
//   `authorization_code` + `refresh_token` and the redirect URI airlock's bench client has.
// - Access tokens are JWTs (RFC 9068, `typ: at+jwt`) signed RS256 with a 2048-bit RSA key made
//   at start (airlock's keys are RS256 2048-bit): `features.resourceIndicators` with
//   `getResourceServerInfo` answering `accessTokenFormat: 'jwt'` and `jwt.sign.alg: 'RS256'`,
//   for one resource server, `urn:airlock:bench` (scope `read`). `defaultResource` names it
//   when a request does not, as airlock uses its own audience when no `resource` is given;
//   `useGrantedResource` lets refreshes and code redemptions use it without sending it again.
// - `features.clientCredentials.enabled`; `features.introspection` and `features.revocation`
//   on, as airlock has both (not driven by the benchmark).
// - Refresh tokens rotate on every use (`rotateRefreshToken: true`), as airlock's do (airlock
//   additionally answers a rotated token again within a 10 s grace); a reused one revokes its
//   grant. `offline_access` on a code flow with `prompt=consent`, as oidc-provider requires.
// - Lifetimes as airlock's defaults: access and ID tokens 15 min, refresh tokens 30 days.
// - Refresh grants with `openid` answer an ID token too (RS256), as airlock's do.
// - No development interactions (`features.devInteractions.enabled: false`): the interaction
//   routes below stand in for a login and consent page, for seeding the refresh tokens only.
//   They sign in one fixed account (`findAccount` returns it) and grant what is asked.
// - PKCE: oidc-provider's default (required for public clients only); the seeding sends S256
//   to both servers all the same, as airlock requires it of every client.
// - Node 20 as Debian ships it: oidc-provider 9 warns that it wants Node 22 LTS, and runs.
import http from "node:http";
import crypto from "node:crypto";
import Provider from "oidc-provider";

const [host, port] = (process.argv[2] ?? "127.0.0.1:7091").split(":");
const issuer = `http://${host}:${port}`;
const RESOURCE = "urn:airlock:bench";
const ACCOUNT = "usr_bench";
const REDIRECT = "https://app.example.com/callback";
const CC_SECRET = process.env.OIDC_CC_SECRET ?? "bench-cc-secret-0123456789abcdef0123456789abcdef";
const APP_SECRET = process.env.OIDC_APP_SECRET ?? "bench-app-secret-0123456789abcdef0123456789abcdef";

const { privateKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: "jwk" }), kid: "bench-rs256", alg: "RS256", use: "sig" };

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: "bench-cc",
      client_secret: CC_SECRET,
      grant_types: ["client_credentials"],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: "client_secret_basic",
      scope: "read",
    },
    {
      client_id: "bench-app",
      client_secret: APP_SECRET,
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      redirect_uris: [REDIRECT],
      token_endpoint_auth_method: "client_secret_basic",
    },
  ],
  jwks: { keys: [signingKey] },
  scopes: ["openid", "offline_access", "read"],
  claims: { openid: ["sub"] },
  findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
  rotateRefreshToken: true,
  ttl: { AccessToken: 900, ClientCredentials: 900, IdToken: 900, RefreshToken: 30 * 86400 },
  cookies: { keys: ["bench-only-cookie-key-0123456789abcdef"] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => RESOURCE,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (_ctx, resource) => {
        if (resource !== RESOURCE) throw new Provider.errors.InvalidTarget();
        return {
          scope: "read",
          audience: RESOURCE,
          accessTokenTTL: 900,
          accessTokenFormat: "jwt",
          jwt: { sign: { alg: "RS256" } },
        };
      },
    },
  },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
});

// The stand-in for a login and consent page: the fixed account, everything asked granted.
async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { params } = details;
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: ACCOUNT, clientId: params.client_id });
  grant.addOIDCScope(String(params.scope ?? "openid"));
  grant.addResourceScope(RESOURCE, "read");
  const grantId = await grant.save();
  await provider.interactionFinished(
    req,
    res,
    { login: { accountId: ACCOUNT }, consent: { grantId } },
    { mergeWithLastSubmission: false },
  );
}

const callback = provider.callback();
http
  .createServer((req, res) => {
    if (req.url.startsWith("/interaction/")) {
      interaction(req, res).catch((e) => {
        res.statusCode = 500;
        res.end(String(e));
      });
      return;
    }
    callback(req, res);
  })
  .listen(Number(port), host, () => {
    console.log(`oidc-provider peer listening on ${issuer}`);
  });
