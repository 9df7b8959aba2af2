// openid-client (panva), unmodified, as a relying party of airlock: discovery, the code flow with
// PKCE, state and nonce (RFC 9207 `iss` checked by the library), the ID token, userinfo, a
// refresh, introspection and revocation; then oauth4webapi, the stricter low-level library by the
// same author, on the same flow with its own checks (discovery, the authorization response with
// `iss`, the token response and ID token, introspection). Last, the device flow with a public
// client.
import * as client from 'openid-client';
import * as oauth from 'oauth4webapi';
import { approve, check, env } from './lib.mjs';

const ISSUER = new URL(env('ISSUER'));
const COOKIE = env('SESSION_COOKIE');
const REDIRECT_URI = env('REDIRECT_URI');
const EMAIL = env('EMAIL');

// --- openid-client ---------------------------------------------------------------------------
const config = await client.discovery(ISSUER, env('CLIENT_ID'), env('CLIENT_SECRET'), client.ClientSecretBasic(env('CLIENT_SECRET')), {
  execute: [client.allowInsecureRequests], // airlock runs on plain http loopback in the suite
});
check('oc-discovery', config.serverMetadata().issuer === ISSUER.href.replace(/\/$/, ''), config.serverMetadata().issuer);

const verifier = client.randomPKCECodeVerifier();
const state = client.randomState();
const nonce = client.randomNonce();
const url = client.buildAuthorizationUrl(config, {
  redirect_uri: REDIRECT_URI,
  scope: 'openid email profile offline_access',
  code_challenge: await client.calculatePKCECodeChallenge(verifier),
  code_challenge_method: 'S256',
  state,
  nonce,
});
const back = await approve(url, COOKIE);
const tokens = await client.authorizationCodeGrant(config, back, {
  pkceCodeVerifier: verifier,
  expectedState: state,
  expectedNonce: nonce,
  idTokenExpected: true,
});
const claims = tokens.claims();
check('oc-code-flow', tokens.access_token && tokens.refresh_token && claims?.email === EMAIL, JSON.stringify(claims));
check('oc-id-token-claims', claims.auth_time && Array.isArray(claims.amr) && claims.acr, JSON.stringify(claims));

const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
check('oc-userinfo', info.email === EMAIL, JSON.stringify(info));

const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
check('oc-refresh', refreshed.refresh_token && refreshed.refresh_token !== tokens.refresh_token, Object.keys(refreshed));

const active = await client.tokenIntrospection(config, refreshed.access_token);
check('oc-introspection', active.active === true && active.client_id === env('CLIENT_ID') && active.sub === claims.sub, JSON.stringify(active));

await client.tokenRevocation(config, refreshed.refresh_token);
let refusedAfterRevoke = false;
try {
  await client.refreshTokenGrant(config, refreshed.refresh_token);
} catch (error) {
  refusedAfterRevoke = error?.error === 'invalid_grant';
}
check('oc-revocation', refusedAfterRevoke, 'a revoked refresh token is refused');

// --- oauth4webapi ----------------------------------------------------------------------------
const insecure = { [oauth.allowInsecureRequests]: true };
const as = await oauth.processDiscoveryResponse(ISSUER, await oauth.discoveryRequest(ISSUER, { algorithm: 'oidc', ...insecure }));
check('o4w-discovery', as.authorization_response_iss_parameter_supported === true, as.issuer);
const o4wClient = { client_id: env('CLIENT_ID') };
const o4wAuth = oauth.ClientSecretBasic(env('CLIENT_SECRET'));
const o4wVerifier = oauth.generateRandomCodeVerifier();
const o4wState = oauth.generateRandomState();
const o4wNonce = oauth.generateRandomNonce();
const o4wUrl = new URL(as.authorization_endpoint);
for (const [key, value] of Object.entries({
  client_id: o4wClient.client_id,
  redirect_uri: REDIRECT_URI,
  response_type: 'code',
  scope: 'openid email',
  code_challenge: await oauth.calculatePKCECodeChallenge(o4wVerifier),
  code_challenge_method: 'S256',
  state: o4wState,
  nonce: o4wNonce,
})) o4wUrl.searchParams.set(key, value);
const o4wBack = await approve(o4wUrl, COOKIE);
// Checks `iss` against the issuer (RFC 9207) and `state`.
const params = oauth.validateAuthResponse(as, o4wClient, o4wBack, o4wState);
const response = await oauth.authorizationCodeGrantRequest(as, o4wClient, o4wAuth, params, REDIRECT_URI, o4wVerifier, insecure);
const result = await oauth.processAuthorizationCodeResponse(as, o4wClient, response, { expectedNonce: o4wNonce, requireIdToken: true });
const idClaims = oauth.getValidatedIdTokenClaims(result);
check('o4w-code-flow', result.access_token && idClaims.email === EMAIL, JSON.stringify(idClaims));
const introspected = await oauth.processIntrospectionResponse(
  as, o4wClient, await oauth.introspectionRequest(as, o4wClient, o4wAuth, result.access_token, insecure));
check('o4w-introspection', introspected.active === true, JSON.stringify(introspected));

// A forged `iss` on the authorization response is refused by the library.
const forged = new URL(o4wBack);
forged.searchParams.set('iss', 'https://evil.example');
let forgedRefused = false;
try {
  oauth.validateAuthResponse(as, o4wClient, forged, o4wState);
} catch {
  forgedRefused = true;
}
check('o4w-forged-iss-refused', forgedRefused, forged);


// --- the device flow (RFC 8628), as a CLI would run it with openid-client ------------------------
const device = await client.discovery(ISSUER, env('DEVICE_CLIENT_ID'), undefined, client.None(), {
  execute: [client.allowInsecureRequests],
});
const started = await client.initiateDeviceAuthorization(device, { scope: 'openid email' });
check('device-codes', started.user_code && started.verification_uri === `${env('ISSUER')}/device`, JSON.stringify(started));
// The person, on another screen: types the code, sees the client, approves.
const devicePage = async (form) => {
  const page = await fetch(new URL('/device', ISSUER), {
    method: 'POST',
    headers: { cookie: COOKIE, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form),
  });
  return [page.status, await page.text()];
};
const [shownStatus, shown] = await devicePage({ user_code: started.user_code });
check('device-page-names-the-client', shownStatus === 200 && shown.includes('id="approve"'), shownStatus);
const [approvedStatus] = await devicePage({ user_code: started.user_code, decision: 'approve' });
check('device-approved', approvedStatus === 200, approvedStatus);
const deviceTokens = await client.pollDeviceAuthorizationGrant(device, started);
check('device-tokens', deviceTokens.access_token && deviceTokens.claims()?.email === EMAIL, JSON.stringify(deviceTokens.claims()));
