// What the Node client scripts share: their settings from the environment, one JSON line per
// check (tests/system reads them), and the person's part of a code flow. A person is played by
// their session cookie: they open the authorize URL, see the consent page and press "Allow";
// the client never sees the cookie, only the code that comes back on its redirect URI.

export function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

export function check(name, ok, detail = '') {
  console.log(JSON.stringify({ check: name, ok: Boolean(ok), detail: String(detail).slice(0, 300) }));
  if (!ok) process.exit(1);
}

/** The person approves `authorizationUrl` on the consent page (or has already allowed these
 * scopes); returns the redirect back to the client. */
export async function approve(authorizationUrl, sessionCookie) {
  const url = new URL(authorizationUrl);
  const page = await fetch(url, { headers: { cookie: sessionCookie }, redirect: 'manual' });
  if ([302, 303].includes(page.status)) {
    // A confidential client's consent is remembered for the scopes already allowed.
    const location = page.headers.get('location') ?? '';
    check('consent-remembered', location !== '', location);
    return new URL(location);
  }
  const html = await page.text();
  check('consent-page', page.status === 200 && html.includes('wants to use your account'), page.status);
  const form = new URLSearchParams(url.searchParams);
  form.set('decision', 'allow');
  const answer = await fetch(new URL(url.pathname, url), {
    method: 'POST',
    headers: { cookie: sessionCookie, 'content-type': 'application/x-www-form-urlencoded' },
    body: form,
    redirect: 'manual',
  });
  const location = answer.headers.get('location') ?? '';
  check('approved', [302, 303].includes(answer.status) && location !== '', `${answer.status} ${location}`);
  return new URL(location);
}
