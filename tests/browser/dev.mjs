// The --dev scenario: airlock and LORE on two loopback ports (plain http, host-only cookie).
// Started by tests/system/browser.rs, which creates the users below and stops and starts
// airlock on request.

import { checkPage, control, env, expect, person, scenario, submit, visit } from './lib.mjs';

const AIRLOCK = env('AIRLOCK_URL');
const LORE = env('LORE_URL');
const ADA = { email: env('ADA_EMAIL'), password: env('ADA_PASSWORD'), name: env('ADA_NAME') };
const ADMIN = { email: env('ADMIN_EMAIL'), password: env('ADMIN_PASSWORD') };
const XSS = { email: env('XSS_EMAIL'), password: env('XSS_PASSWORD'), name: env('XSS_NAME') };
const THROTTLED = env('THROTTLED_EMAIL');

async function fillSignIn(page, who, password = who.password) {
  await page.fill('#email', who.email);
  await page.fill('#password', password);
  return submit(page, 'button[type=submit]');
}

/** Signs in through LORE: LORE → airlock's login page → back on LORE. */
async function signInThroughLore(who, user) {
  const { page } = who;
  await visit(page, `${LORE}/`);
  expect(page.url().startsWith(`${AIRLOCK}/login?redirect=`), `LORE sent ${who.label} to ${page.url()}`);
  const status = await fillSignIn(page, user);
  expect(status === 200 && page.url() === `${LORE}/`, `after signing in ${who.label} is on ${page.url()} (${status})`);
}

/** A second sign-in of `user` from a non-browser client: its session cookie. */
async function sessionFromScript(user, agent) {
  const response = await fetch(`${AIRLOCK}/api/auth/sign-in`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'user-agent': agent },
    body: JSON.stringify({ email: user.email, password: user.password }),
  });
  expect(response.status === 200, `script sign-in answered ${response.status}`);
  return response.headers.get('set-cookie').split(';')[0];
}

async function sessionStatus(cookie) {
  return (await fetch(`${AIRLOCK}/api/auth/session`, { headers: { cookie } })).status;
}

async function sessionCount(page) {
  return page.locator('#sessions > li').count();
}

await scenario('dev', {}, async (browser, step) => {
  const ada = await person(browser, 'ada');
  const { page } = ada;

  await step('LORE sends a visitor to the login page, which names where they return', async () => {
    await visit(page, `${LORE}/`);
    const login = new URL(page.url());
    expect(login.origin === AIRLOCK && login.pathname === '/login', `landed on ${page.url()}`);
    expect(login.searchParams.get('redirect') === `${LORE}/`, `redirect parameter ${login.search}`);
    expect(await page.inputValue('input[name=redirect]') === `${LORE}/`, 'the form carries the redirect');
    await checkPage(ada, 'login');
  });

  await step('a wrong password keeps the typed email and says what went wrong', async () => {
    const status = await fillSignIn(page, ADA, 'not-the-password');
    expect(status === 401, `wrong password answered ${status}`);
    expect(await page.inputValue('#email') === ADA.email, 'the email was kept');
    const error = await page.textContent('#sign-in-error');
    expect(/do not match/.test(error), `error says: ${error}`);
    expect(await page.inputValue('input[name=redirect]') === `${LORE}/`, 'the redirect survives the error');
    await checkPage(ada, 'login-wrong-password');
  });

  await step('the right password lands back on LORE (CSP form-action allows the 303)', async () => {
    await page.fill('#password', ADA.password);
    const status = await submit(page, 'button[type=submit]');
    expect(status === 200 && page.url() === `${LORE}/`, `after sign-in: ${page.url()} (${status})`);
    expect(await page.textContent('#user-name') === ADA.name, 'LORE shows the user');
    expect(await page.textContent('#role') === 'viewer', 'LORE shows the role');
    expect((await page.textContent('#orgs')).includes('Acme'), 'LORE shows the orgs');
    await checkPage(ada, 'lore-home');
  });

  await step('below the role, LORE answers its 403 page in the same look', async () => {
    const status = await visit(page, `${LORE}/ops`);
    expect(status === 403, `/ops answered ${status}`);
    expect((await page.textContent('#forbidden')).includes('needs the operator role'), 'the 403 says why');
    await checkPage(ada, 'lore-forbidden');
  });

  await step('the account page shows who I am and this session, flagged', async () => {
    const status = await visit(page, `${AIRLOCK}/account`);
    expect(status === 200, `account answered ${status}`);
    expect(await page.textContent('#user-email') === ADA.email, 'account shows the email');
    expect((await page.textContent('#user-orgs')).includes('Acme'), 'account shows the orgs');
    expect(await sessionCount(page) === 1, 'one session');
    const current = page.locator('#sessions > li', { hasText: 'This browser' });
    expect(await current.count() === 1, 'the current session is flagged');
    expect((await current.textContent()).includes('HeadlessChrome/'), 'the user agent is shown as sent');
    expect((await current.textContent()).includes('IP 127.0.0.1'), 'the IP is shown');
    await checkPage(ada, 'account');
  });

  let secret;
  await step('an API token is created with scopes and an expiry, its secret shown once', async () => {
    // Only the scopes Ada holds are offered: a plain user reads.
    const offered = await page.locator('input[name=scopes]').evaluateAll((boxes) => boxes.map((b) => b.value));
    expect(JSON.stringify(offered) === '["read"]', `scopes offered to Ada: ${offered}`);
    await page.fill('#token-name', 'ci-deploy');
    await page.check('input[name=scopes][value=read]');
    await page.fill('#token-expiry', '7');
    const status = await submit(page, '#create-token button[type=submit]');
    expect(status === 200, `create answered ${status}`);
    secret = (await page.textContent('#new-token-secret')).trim();
    expect(/^alk_[A-Za-z0-9_-]{40,}$/.test(secret), `a token secret: ${secret.slice(0, 8)}…`);
    const row = page.locator('#tokens > li', { hasText: 'ci-deploy' });
    const text = await row.textContent();
    expect(text.includes('read') && text.includes('expires'), `listed: ${text}`);
    await checkPage(ada, 'account-new-token');
    const works = await fetch(`${AIRLOCK}/api/auth/session`, { headers: { authorization: `Bearer ${secret}` } });
    expect(works.status === 200, `the new token answers ${works.status}`);
    await visit(page, `${AIRLOCK}/account`);
    expect(!(await page.content()).includes(secret), 'the secret is not shown again');
    expect(await page.locator('#new-token').count() === 0, 'no new-token notice on reload');
  });

  await step('a token is revoked from the page', async () => {
    await submit(page, '#tokens > li:has-text("ci-deploy") button');
    expect((await page.textContent('.notice.ok')).includes('revoked'), 'the page says so');
    expect(await page.locator('#tokens > li', { hasText: 'ci-deploy' }).count() === 0, 'gone from the list');
    const refused = await fetch(`${AIRLOCK}/api/auth/session`, { headers: { authorization: `Bearer ${secret}` } });
    expect(refused.status === 401, `the revoked token answers ${refused.status}`);
    ada.assertClean('token revoked');
  });

  await step('one other session is revoked, then every other one', async () => {
    const laptop = await sessionFromScript(ADA, 'curl/8.5.0');
    const phone = await sessionFromScript(ADA, 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1');
    await visit(page, `${AIRLOCK}/account`);
    expect(await sessionCount(page) === 3, 'three sessions listed');
    await submit(page, '#sessions > li:has-text("curl/8.5.0") button');
    expect(await sessionCount(page) === 2, 'two sessions after the revoke');
    expect(await sessionStatus(laptop) === 401, 'the revoked session is refused');
    expect(await sessionStatus(phone) === 200, 'the other one still works');
    await checkPage(ada, 'account-session-revoked');
    await submit(page, '#revoke-others');
    expect(await sessionCount(page) === 1, 'one session after sign out everywhere else');
    expect(await sessionStatus(phone) === 401, 'the phone is signed out');
    expect((await page.textContent('#sessions')).includes('This browser'), 'this browser still is signed in');
  });

  await step('airlock down: LORE shows the degraded banner, and works again, still signed in', async () => {
    await visit(page, `${LORE}/`);
    await control('stop-airlock');
    const status = await visit(page, `${LORE}/`);
    expect(status === 502, `LORE without airlock answered ${status}`);
    expect((await page.textContent('#degraded')).includes('temporarily unavailable'), 'the banner shows');
    await checkPage(ada, 'banner');
    await control('start-airlock');
    let back = false;
    for (let i = 0; i < 40 && !back; i++) {
      await page.waitForTimeout(250);
      back = (await visit(page, `${LORE}/`)) === 200;
    }
    expect(back && page.url() === `${LORE}/`, `LORE is back at ${page.url()}`);
    expect(await page.textContent('#user-name') === ADA.name, 'still signed in');
    ada.assertClean('after the outage');
  });

  await step('sign-out on LORE ends the session for LORE and airlock', async () => {
    await submit(page, '#sign-out');
    expect(page.url().startsWith(`${AIRLOCK}/login`), `after sign-out: ${page.url()}`);
    const cookies = await ada.context.cookies(AIRLOCK);
    expect(!cookies.some((c) => c.name.includes('airlock_session')), 'the cookie is gone');
    await visit(page, `${AIRLOCK}/account`);
    expect(page.url().startsWith(`${AIRLOCK}/login`), `account after sign-out: ${page.url()}`);
    ada.assertClean('signed out');
  });

  await step('sign-out on airlock ends the session on LORE too', async () => {
    await signInThroughLore(ada, ADA);
    await visit(page, `${AIRLOCK}/account`);
    await submit(page, 'header button[type=submit]');
    expect(page.url().startsWith(`${AIRLOCK}/login`), `after sign-out: ${page.url()}`);
    await visit(page, `${LORE}/`);
    expect(page.url().startsWith(`${AIRLOCK}/login`), `LORE after sign-out: ${page.url()}`);
    ada.assertClean('signed out on airlock');
  });

  await step('a name made of markup renders as text on every page', async () => {
    const xss = await person(browser, 'xss');
    await signInThroughLore(xss, XSS);
    expect(await xss.page.textContent('#user-name') === XSS.name, 'LORE shows the name as text');
    expect(await xss.page.locator('main img').count() === 0, 'no element was made from the name');
    await checkPage(xss, 'xss-lore');
    await visit(xss.page, `${AIRLOCK}/account`);
    expect(await xss.page.textContent('#who') === XSS.name, 'account shows the name as text');
    expect(await xss.page.locator('main img').count() === 0, 'no element was made from the name');
    await checkPage(xss, 'xss-account');
    await xss.context.close();
  });

  await step('the throttle message says when to retry', async () => {
    const mallory = await person(browser, 'mallory');
    await visit(mallory.page, `${AIRLOCK}/login`);
    let status;
    for (let attempt = 0; attempt < 6 && status !== 429; attempt++) {
      status = await fillSignIn(mallory.page, { email: THROTTLED, password: `guess-${attempt}` });
    }
    expect(status === 429, `the throttle answered ${status}`);
    const error = await mallory.page.textContent('#sign-in-error');
    expect(/try again in \d+ (minutes?|seconds?)/.test(error), `the message says when: ${error}`);
    expect(await mallory.page.inputValue('#email') === THROTTLED, 'the email was kept');
    await checkPage(mallory, 'login-throttled');
    await mallory.context.close();
  });

  await step('an app asks for consent: the page names it and its host; Allow returns a code', async () => {
    const authorize = new URL(`${AIRLOCK}/oauth/authorize`);
    const params = {
      response_type: 'code', client_id: env('OAUTH_CLIENT_ID'), redirect_uri: env('OAUTH_REDIRECT'),
      scope: 'openid email', state: 'st-1', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
    };
    for (const [k, v] of Object.entries(params)) authorize.searchParams.set(k, v);
    // Signed out by now: the sign-in page first, then straight back to the request.
    await visit(page, authorize.toString());
    expect(page.url().startsWith(`${AIRLOCK}/login?redirect=`), `first the sign-in page: ${page.url()}`);
    expect(await fillSignIn(page, ADA) === 200, 'signed in');
    expect((await page.textContent('#consent-title')).includes('Wiki'), 'it names the app');
    expect((await page.textContent('#redirect-host')) === new URL(LORE).hostname, 'and where it returns');
    expect((await page.locator('#consent-scopes li').count()) === 2, 'two scopes, in words');
    await checkPage(ada, 'consent');
    // The answer posts to airlock, whose 303 goes to the app: CSP form-action must allow both.
    const status = await submit(page, '#allow');
    const back = new URL(page.url());
    expect(status === 200 && back.origin === LORE, `after Allow: ${page.url()} (${status})`);
    expect(back.searchParams.get('code') && back.searchParams.get('state') === 'st-1', `code and state: ${back.search}`);
    expect(back.searchParams.get('iss') === AIRLOCK, `iss: ${back.searchParams.get('iss')}`);
    ada.assertClean('consent-allowed');
    await visit(page, `${AIRLOCK}/account`);
    expect((await page.textContent('#apps')).includes('Wiki'), 'the account page lists the app');
    await checkPage(ada, 'account-apps');
  });

  await step('a device shows a code: Ada types it, sees the app, approves; the device gets tokens', async () => {
    const clientId = env('DEVICE_CLIENT_ID');
    const asked = await fetch(`${AIRLOCK}/oauth/device_authorization`, {
      method: 'POST', body: new URLSearchParams({ client_id: clientId, scope: 'openid email' }),
    });
    expect(asked.status === 200, `device authorization answered ${asked.status}`);
    const codes = await asked.json();
    const poll = async () => (await fetch(`${AIRLOCK}/oauth/token`, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'urn:ietf:params:oauth:grant-type:device_code', client_id: clientId, device_code: codes.device_code,
      }),
    })).json();
    expect((await poll()).error === 'authorization_pending', 'pending before Ada answers');
    // Ada, still signed in from the consent step, opens the page the device names.
    expect(await visit(page, codes.verification_uri) === 200, 'the device page opens');
    await checkPage(ada, 'device-enter');
    await page.fill('#user_code', codes.user_code.toLowerCase().replace('-', ' '));
    expect(await submit(page, '#continue') === 200, 'the code is accepted');
    expect((await page.textContent('#device-title')).includes('Living-room TV'), 'the page names the app');
    expect((await page.textContent('#device-code')) === codes.user_code, 'and the code, as the device shows it');
    expect((await page.locator('#device-scopes li').count()) === 2, 'two scopes, in words');
    await checkPage(ada, 'device');
    expect(await submit(page, '#approve') === 200, 'approved');
    expect((await page.textContent('#device-done')).includes('go back to your device'), 'a done message');
    await checkPage(ada, 'device-done');
    const tokens = await poll();
    expect(typeof tokens.access_token === 'string' && typeof tokens.id_token === 'string', `tokens: ${JSON.stringify(tokens)}`);
    expect((await poll()).error === 'invalid_grant', 'a device code is used once');
  });

  await step('an operator page for an admin', async () => {
    const admin = await person(browser, 'admin');
    await signInThroughLore(admin, ADMIN);
    expect(await visit(admin.page, `${LORE}/ops`) === 200, 'the admin may see /ops');
    expect((await admin.page.textContent('#ops')).includes('Operations'), 'the ops page shows');
    await checkPage(admin, 'lore-ops');
    await admin.context.close();
  });

  await step('on a phone the pages fit the screen', async () => {
    const phone = await person(browser, 'phone', {
      viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true,
    });
    await visit(phone.page, `${LORE}/`);
    await checkPage(phone, 'phone-login');
    await fillSignIn(phone.page, ADA);
    expect(phone.page.url() === `${LORE}/`, `phone signed in at ${phone.page.url()}`);
    await checkPage(phone, 'phone-lore-home');
    await visit(phone.page, `${AIRLOCK}/account`);
    await checkPage(phone, 'phone-account');
    await phone.context.close();
  });
});
