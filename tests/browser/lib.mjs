// The browser suite's harness: Debian's Chromium driven by playwright-core, every page watched
// for console errors, CSP violations and dialogs, checked with axe-core and screenshotted.
//
// A scenario is started by tests/system/browser.rs, which runs the real processes (airlock, the
// LORE demo, TLS fronts) and passes their addresses in the environment. The scenario asks the
// harness for outages on stdout (`@control stop-airlock`) and waits for `ok` on stdin.

import { chromium } from 'playwright-core';
import axe from 'axe-core';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';

export function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the browser suite through tests/system/browser.rs`);
  return value;
}

const SHOTS = env('BROWSER_SHOTS');
fs.mkdirSync(SHOTS, { recursive: true });

// ---- control channel to the Rust harness ------------------------------------------------------
const answers = [];
const waiting = [];
const input = readline.createInterface({ input: process.stdin });
input.on('line', (line) => (waiting.length ? waiting.shift()(line) : answers.push(line)));

/** Asks the harness to do something to the processes (stop or start airlock) and waits. */
export async function control(command) {
  process.stdout.write(`@control ${command}\n`);
  const answer = await new Promise((resolve) => (answers.length ? resolve(answers.shift()) : waiting.push(resolve)));
  if (answer !== 'ok') throw new Error(`the harness could not ${command}: ${answer}`);
}

// ---- the browser ------------------------------------------------------------------------------
function chromiumPath() {
  // The real binary, not Debian's /usr/bin/chromium wrapper script.
  for (const candidate of [process.env.CHROMIUM, '/usr/lib/chromium/chromium', '/usr/bin/chromium']) {
    if (candidate && fs.existsSync(candidate)) return candidate;
  }
  throw new Error('Chromium is missing: ./scripts/test installs Debian\'s chromium package');
}

export async function launch({ hostRules } = {}) {
  const args = [
    '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--disable-quic',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--disable-features=Translate,MediaRouter,OptimizationHints,AutofillServerCommunication',
  ];
  // Real names (airlock.example.test, ...) mapped to the loopback fronts, as DNS would.
  if (hostRules) args.push(`--host-resolver-rules=${hostRules}`);
  const browser = await chromium.launch({ executablePath: chromiumPath(), args, timeout: 60_000 });
  console.log(`chromium ${browser.version()}, playwright-core ${playwrightVersion()}, axe-core ${axe.version}`);
  return browser;
}

function playwrightVersion() {
  const pkg = new URL('./node_modules/playwright-core/package.json', import.meta.url);
  return JSON.parse(fs.readFileSync(pkg, 'utf8')).version;
}

// ---- pages, watched ---------------------------------------------------------------------------
const report = { pages: [], axe: {} };

/**
 * A person's browser: one context (its own cookie jar), pages watched for every console error,
 * CSP violation, uncaught exception and dialog. `options` go to `browser.newContext`.
 */
export async function person(browser, label, options = {}) {
  const context = await browser.newContext({ locale: 'en-GB', ...options });
  context.setDefaultTimeout(15_000);
  const problems = [];
  const documents = []; // [url, status] of every document this person loaded
  const watch = (page) => {
    page.on('console', (message) => {
      const text = message.text();
      if (message.type() === 'error' || /Content.Security.Policy/i.test(text)) {
        problems.push({ text, url: message.location()?.url ?? '' });
      }
    });
    page.on('pageerror', (error) => problems.push({ text: `uncaught: ${error.message}`, url: page.url() }));
    page.on('dialog', (dialog) => {
      problems.push({ text: `a ${dialog.type()} dialog opened: ${dialog.message()}`, url: page.url() });
      dialog.dismiss().catch(() => {});
    });
    page.on('response', (response) => {
      if (response.request().resourceType() === 'document') documents.push([response.url(), response.status()]);
    });
  };
  context.on('page', watch);
  const page = await context.newPage();
  return {
    label, context, page, problems, documents,
    /** Fails on any problem seen so far. A document's own non-2xx status is not a problem
     *  (Chromium logs "Failed to load resource" for a 401 page): the tests assert those. */
    assertClean(where) {
      const real = problems.filter(({ text, url }) => {
        const status = /Failed to load resource: the server responded with a status of (\d+)/.exec(text);
        return !(status && documents.some(([u, s]) => u === url && String(s) === status[1]));
      });
      problems.length = 0;
      if (real.length) {
        throw new Error(`${label} at ${where}: ${real.map((p) => `${p.text} (${p.url})`).join('; ')}`);
      }
    },
  };
}

/** Navigates and returns the final document's status. */
export async function visit(page, url) {
  const response = await page.goto(url, { waitUntil: 'load' });
  return response?.status();
}

/** Clicks `selector` and waits for the navigation it causes; returns the final status. */
export async function submit(page, selector) {
  const [response] = await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click(selector)]);
  return response?.status();
}

/**
 * Checks the page as it is now: no console error or CSP violation, no serious or critical
 * axe-core violation, no sideways scrolling; saves a full-page screenshot as `<name>.png`.
 */
export async function checkPage(who, name) {
  const { page } = who;
  await page.waitForLoadState('load');
  // Runtime.evaluate is not subject to the page's CSP: axe runs without weakening it.
  await page.evaluate(axe.source);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const violations = result.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help }));
  report.axe[name] = violations;
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
  report.pages.push({ name, url: page.url(), violations: violations.length });
  who.assertClean(name);
  const blocking = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  if (blocking.length) throw new Error(`${name}: axe-core: ${JSON.stringify(blocking)}`);
  if (overflow > 0) throw new Error(`${name}: the page scrolls sideways by ${overflow}px at ${page.viewportSize()?.width}px`);
  console.log(`  page ${name}: ${page.url()} · axe: ${violations.length ? JSON.stringify(violations) : 'no violations'}`);
}

export function expect(condition, message) {
  if (!condition) throw new Error(message);
}

/**
 * Launches Chromium and runs the scenario's steps in order; the first failure stops it with a
 * clear line and a screenshot of every open page (`FAILED-<title>-<n>.png`).
 */
export async function scenario(title, launchOptions, body) {
  const started = Date.now();
  let browser;
  try {
    browser = await launch(launchOptions);
    const step = async (name, fn) => {
      const t = Date.now();
      await fn();
      console.log(`ok ${name} (${Date.now() - t} ms)`);
    };
    await body(browser, step);
    fs.writeFileSync(path.join(SHOTS, `${title}.json`), JSON.stringify(report, null, 2));
    console.log(`@done ${title}: ${report.pages.length} pages checked in ${Date.now() - started} ms`);
    process.exitCode = 0;
  } catch (error) {
    console.log(`FAILED ${title}: ${error.stack ?? error}`);
    const pages = browser?.contexts().flatMap((c) => c.pages()) ?? [];
    for (const [n, page] of pages.entries()) {
      await page.screenshot({ path: path.join(SHOTS, `FAILED-${title}-${n}.png`), fullPage: true }).catch(() => {});
      console.log(`  open page ${n}: ${page.url()}`);
    }
    process.exitCode = 1;
  } finally {
    input.close();
    await browser?.close().catch(() => {});
  }
}
