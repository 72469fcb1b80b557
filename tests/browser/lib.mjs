// lib.mjs: what the browser scripts (chat.test.mjs, resume.test.mjs) share:
// the JSON-lines protocol to their Python runner, polling, the watchdog,
// Chromium's launch, opening the chat page, and a trail of what the browser
// did (requests, responses, failed requests, console messages, page errors,
// crashes) that goes into the test log when a test point fails.
//
// Protocol, one JSON object per line on stdout (tests/t_browser.py run_node):
//   {"t":"ok","ok":true|false,"name":"...","diag":["..."]}   a test point
//   {"t":"info","key":"...","value":...}                     data for the Python side
//   {"t":"diag","text":"..."}                                a line for the test log
//   {"t":"end"}                                              finished normally
//
// Environment shared by both scripts:
//   CS_DEPS        directory holding node_modules/playwright-core (default: this one)
//   CS_CHROMIUM    the browser (default /usr/bin/chromium)
//   CS_PROFILE     a fresh, empty Chromium user-data-dir
//   CS_DEADLINE_MS overall time limit (default 60000)
//
// Limits: one browser context per script; the trail keeps every event but
// prints at most TRAIL_MAX lines (the last ones) on failure.
// SPDX-License-Identifier: ISC

import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const env = process.env;
// Bounds on waiting (never assertions about speed) are stretched by
// TEST_TIME_SCALE (default 2, as in tests/lib/harness.py): until(), the deadline, the launch and page waits.
export const SCALE = Math.max(1, Number(env.TEST_TIME_SCALE) || 2);
export const DEADLINE_MS = Number(env.CS_DEADLINE_MS || 60000) * SCALE;
const T0 = Date.now();
const TRAIL_MAX = 400;

/** playwright-core's chromium, from CS_DEPS (setup.sh installs it there). */
export function loadChromium() {
  const deps = env.CS_DEPS || here;
  return createRequire(path.join(deps, 'package.json'))('playwright-core').chromium;
}

// --- the protocol ----------------------------------------------------------

let anyFailed = false;

export function emit(o) {
  process.stdout.write(JSON.stringify(o) + '\n');
}
export function ok(cond, name, ...diag) {
  if (!cond) anyFailed = true;
  emit({ t: 'ok', ok: !!cond, name, diag: cond ? [] : diag.map(String) });
  return !!cond;
}
export function is(got, want, name) {
  return ok(got === want, name, 'got:      ' + JSON.stringify(got), 'expected: ' + JSON.stringify(want));
}
export function info(key, value) {
  emit({ t: 'info', key, value });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls fn() (bounded by count and time) until it returns a truthy value;
 * returns that value, or the last falsy one once timeoutMs (scaled) has passed. */
export async function until(fn, timeoutMs, stepMs = 25) {
  const end = Date.now() + timeoutMs * SCALE;
  for (let i = 0; i < 100000; i++) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) return v;
    await sleep(stepMs);
  }
  return null;
}

// --- the trail: what the browser did, for the log of a failed run ----------

/** Every request the watched pages made, in order: {t, page, method, url,
 * type, status, ctype, req}; status stays null until the response head came. */
export const net = [];
const trail = [];

function note(label, text) {
  trail.push(`+${String(Date.now() - T0).padStart(6)} ms ${label} ${text}`);
}

/** The trail in the test log: called on failure (and by the watchdog). */
export function dumpTrail(why) {
  const skip = Math.max(0, trail.length - TRAIL_MAX);
  emit({ t: 'diag', text: `--- browser trail (${why}): ${trail.length} events`
    + (skip ? `, the first ${skip} left out` : '') + ' ---' });
  for (const line of trail.slice(skip)) emit({ t: 'diag', text: line });
}

/** Records what `page` does into `net` and the trail, under `label`. */
export function watchPage(page, label) {
  page.on('request', (r) => {
    net.push({ t: Date.now(), page: label, method: r.method(), url: r.url(), type: r.resourceType(),
      status: null, ctype: '', req: r });
    note(label, `request ${r.method()} ${r.url()} (${r.resourceType()})`);
  });
  page.on('response', (resp) => {
    const e = net.find((x) => x.req === resp.request());
    const h = resp.headers();
    if (e) { e.status = resp.status(); e.ctype = h['content-type'] || ''; }
    note(label, `response ${resp.status()} ${resp.request().method()} ${resp.url()} `
      + `[${h['content-type'] || '-'}; length ${h['content-length'] || '-'}]`);
  });
  page.on('requestfinished', (r) => note(label, `finished ${r.method()} ${r.url()}`));
  page.on('requestfailed', (r) => note(label, `FAILED ${r.method()} ${r.url()}: `
    + (r.failure() ? r.failure().errorText : '?')));
  page.on('console', (m) => note(label, `console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => note(label, `page error: ${e.message}`));
  page.on('crash', () => note(label, 'CRASHED'));
  page.on('domcontentloaded', () => note(label, 'DOMContentLoaded'));
  page.on('load', () => note(label, 'load'));
  page.on('framenavigated', (f) => { if (f === page.mainFrame()) note(label, `navigated to ${f.url()}`); });
  page.on('close', () => note(label, 'closed'));
}

// --- the browser -------------------------------------------------------------

let context = null;

/** Chromium with a persistent (fresh) profile: CS_PROFILE. */
export async function launch() {
  context = await loadChromium().launchPersistentContext(env.CS_PROFILE, {
    executablePath: env.CS_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    chromiumSandbox: false,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 960, height: 720 },
    deviceScaleFactor: 1,
    locale: 'en-US',
    timeout: 30000 * SCALE,
  });
  return context;
}

/**
 * Opens the chat page in `page` and waits until its model picker is filled
 * (GET v1/models and health answered).  Test points: the page loads (200),
 * and it arrived whole (its title, its prompt box).  A page that arrived cut
 * short runs no script and would otherwise only show up as a timeout here.
 */
export async function openChatPage(page, url, what) {
  const resp = await page.goto(url, { waitUntil: 'load' });
  is(resp && resp.status(), 200, what);
  const title = await page.title();
  const prompt = await page.locator('#prompt').count();
  if (!ok(title === 'chatstream' && prompt === 1, 'the whole page arrived (title "chatstream", a prompt box)',
    'title: ' + JSON.stringify(title), 'Content-Length: ' + (resp ? resp.headers()['content-length'] : '?'),
    'body starts: ' + JSON.stringify(resp ? (await resp.text().catch((e) => e.message)).slice(0, 200) : ''))) {
    return false;
  }
  // the two GETs take milliseconds even on a loaded machine
  await page.waitForSelector('html[data-models]', { state: 'attached', timeout: 10000 * SCALE });
  return true;
}

// --- running a script ----------------------------------------------------------

/**
 * Runs main() under a watchdog of DEADLINE_MS: an exception is a failed test
 * point (with `problems`, the script's own list of page errors); on any
 * failure the trail goes into the log; the browser is closed and {"t":"end"}
 * sent in every case but the watchdog's (which exits with status 2).
 */
export async function run(main, problems = []) {
  const watchdog = setTimeout(async () => {
    ok(false, `browser script finished within ${DEADLINE_MS} ms`);
    dumpTrail('watchdog');
    try { if (context) await context.close(); } catch (e) { /* exiting anyway */ }
    process.exit(2);
  }, DEADLINE_MS);
  try {
    await main();
  } catch (e) {
    ok(false, 'browser script: ' + (e && e.message ? e.message.split('\n')[0] : String(e)),
      String(e && e.stack), ...problems);
  } finally {
    if (anyFailed) dumpTrail('a test point failed');
    try { if (context) await context.close(); } catch (e) { /* already gone */ }
    clearTimeout(watchdog);
    emit({ t: 'end' });
  }
}

/*
 * Records, in the page, every change of the last answer's text and of the
 * state line (data-state and its text) into window.__samples; samples(page)
 * reads them back.
 */
export async function recordAnswer(page) {
  await page.evaluate(() => {
    window.__samples = [];
    const rec = () => {
      const turns = document.querySelectorAll('#transcript .turn');
      const t = turns[turns.length - 1];
      const a = t && t.querySelector('.answer');
      const st = document.getElementById('state');
      window.__samples.push({ t: performance.now(), state: st.dataset.state,
        stateText: st.textContent, text: a ? a.textContent : '' });
    };
    new MutationObserver(rec).observe(document.body,
      { subtree: true, childList: true, characterData: true, attributes: true, attributeFilter: ['data-state'] });
  });
}

export const readSamples = (page) => page.evaluate(() => window.__samples);
