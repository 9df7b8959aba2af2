// The TLS scenario: airlock, LORE and a second app (hubble) on subdomains of example.test, and
// LORE again on lore.example.other, each behind a TLS front with a certificate from a CA that
// Chromium trusts through its NSS database. The session cookie is set on example.test.

import { checkPage, env, expect, person, scenario, submit, visit } from './lib.mjs';

const AIRLOCK = env('AIRLOCK_URL');
const LORE = env('LORE_URL');
const HUBBLE = env('HUBBLE_URL');
const OTHER = env('OTHER_URL');
const ADA = { email: env('ADA_EMAIL'), password: env('ADA_PASSWORD'), name: env('ADA_NAME') };

await scenario('tls', { hostRules: env('HOST_RULES') }, async (browser, step) => {
  const ada = await person(browser, 'ada');
  const { page, context } = ada;

  await step('a sign-in started on lore.example.test lands back on it', async () => {
    await visit(page, `${LORE}/`);
    expect(page.url().startsWith(`${AIRLOCK}/login?redirect=`), `LORE sent the browser to ${page.url()}`);
    await checkPage(ada, 'tls-login');
    await page.fill('#email', ADA.email);
    await page.fill('#password', ADA.password);
    const status = await submit(page, 'button[type=submit]');
    expect(status === 200 && page.url() === `${LORE}/`, `after sign-in: ${page.url()} (${status})`);
    expect(await page.textContent('#user-name') === ADA.name, 'LORE shows the user');
    await checkPage(ada, 'tls-lore-home');
  });

  await step('the cookie is Secure, HttpOnly, SameSite=Lax on the parent domain', async () => {
    const cookies = await context.cookies(AIRLOCK);
    const session = cookies.find((c) => c.name === '__Secure-airlock_session');
    expect(session, `cookies: ${cookies.map((c) => c.name).join(', ')}`);
    expect(session.domain === '.example.test', `domain ${session.domain}`);
    expect(session.secure && session.httpOnly && session.sameSite === 'Lax' && session.path === '/',
      `attributes ${JSON.stringify({ ...session, value: '…' })}`);
  });

  await step('hubble.example.test knows you without signing in', async () => {
    const status = await visit(page, `${HUBBLE}/`);
    expect(status === 200 && page.url() === `${HUBBLE}/`, `hubble: ${page.url()} (${status})`);
    expect(await page.textContent('.brand') === 'HUBBLE', 'the second app');
    expect(await page.textContent('#user-name') === ADA.name, 'hubble shows the user');
    await checkPage(ada, 'tls-hubble-home');
  });

  await step('lore.example.other never receives the cookie', async () => {
    const jar = await context.cookies(OTHER);
    expect(!jar.some((c) => c.name.includes('airlock_session')), `the jar would send ${jar.map((c) => c.name)}`);
    await visit(page, `${OTHER}/`);
    expect(page.url().startsWith(`${AIRLOCK}/login`), `lore.example.other sent the browser to ${page.url()}`);
    ada.assertClean('lore.example.other');
  });

  await step('sign-out on hubble ends the session on LORE', async () => {
    await visit(page, `${HUBBLE}/`);
    await submit(page, '#sign-out');
    expect(page.url().startsWith(`${AIRLOCK}/login`), `after sign-out on hubble: ${page.url()}`);
    const jar = await context.cookies(AIRLOCK);
    expect(!jar.some((c) => c.name.includes('airlock_session')), 'the cookie is gone');
    await visit(page, `${LORE}/`);
    expect(page.url().startsWith(`${AIRLOCK}/login?redirect=`), `LORE after sign-out: ${page.url()}`);
    ada.assertClean('signed out');
  });
});
