// resume.test.mjs: the chat page's EventSource flow over a network that
// keeps breaking.  Run by tests/t_browser_resume.py, which puts a cutting
// proxy (tests/lib/cutproxy.py) between Chromium and lighttpd: every
// connection to /chat/streams/ is cut after a few hundred bytes, so the
// browser's own EventSource reconnects (Last-Event-ID) several times during
// one answer.  This script sends one prompt and checks what the page and
// the browser's EventSource saw; the Python side checks the proxy's and
// chatstream's logs.  Output: one JSON object per line (see lib.mjs).
//
// Environment (set by t_browser_resume.py):
//   CS_URL, CS_PROMPT, CS_EXPECTED, CS_MODEL, CS_PROFILE, CS_ARTIFACTS,
//   CS_DEPS, CS_CHROMIUM, CS_DEADLINE_MS   as for chat.test.mjs
//   CS_QUIET_MS   how long to watch after done for a reconnect (default 3000)
//   CS_REJECTS    how many reconnects the proxy answers 503 (default 0)
// SPDX-License-Identifier: ISC

import fs from 'node:fs';
import path from 'node:path';
import { env, info, is, launch, ok, openChatPage, readSamples, recordAnswer, run, sleep, until,
  watchPage } from './lib.mjs';

const URL_ = env.CS_URL;
const PROMPT = env.CS_PROMPT;
const EXPECTED = env.CS_EXPECTED;
const MODEL = env.CS_MODEL || 'demo';
const ARTIFACTS = env.CS_ARTIFACTS;
const QUIET_MS = Number(env.CS_QUIET_MS || 3000);
const REJECTS = Number(env.CS_REJECTS || 0);

const problems = [];

// Runs in the page before its scripts: every EventSource the page makes is
// watched (its events, errors with readyState, and close()), without
// changing what it does.
function watchEventSource() {
  const Orig = window.EventSource;
  window.__esLog = [];
  window.__esCount = 0;
  class Watched extends Orig {
    constructor(url, init) {
      super(url, init);
      const n = ++window.__esCount;
      const log = (kind) => (e) => window.__esLog.push({
        es: n, t: performance.now(), wall: Date.now(), kind, id: e.lastEventId === undefined ? null : e.lastEventId,
        data: typeof e.data === 'string' ? e.data : null, rs: this.readyState,
      });
      for (const k of ['open', 'meta', 'message', 'done', 'error']) this.addEventListener(k, log(k));
      const close = this.close.bind(this);
      this.close = () => {
        window.__esLog.push({ es: n, t: performance.now(), wall: Date.now(), kind: 'close', rs: this.readyState });
        close();
      };
    }
  }
  window.EventSource = Watched;
}

async function main() {
  const need = { CS_URL: URL_, CS_PROMPT: PROMPT, CS_EXPECTED: EXPECTED, CS_PROFILE: env.CS_PROFILE };
  for (const [k, v] of Object.entries(need)) {
    if (!v) throw new Error(k + ' is not set');
  }
  if (ARTIFACTS) fs.mkdirSync(ARTIFACTS, { recursive: true });
  const context = await launch();
  await context.addInitScript(watchEventSource);
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(10000);
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  page.on('console', (m) => {
    // the cuts show up as network errors of the EventSource; anything else is a problem
    if (m.type() === 'error' && !/net::ERR_|Failed to load resource/.test(m.text())) problems.push('console: ' + m.text());
  });

  watchPage(page, 'page1');

  if (!(await openChatPage(page, URL_, 'the page loads through the cutting proxy'))) return;
  if (!(await page.$eval('#model', (s) => s.disabled))) await page.selectOption('#model', MODEL);
  await recordAnswer(page);
  await page.fill('#prompt', PROMPT);
  await page.press('#prompt', 'Enter');

  // a picture of the page while the browser is reconnecting (best effort)
  const state = () => page.evaluate(() => document.getElementById('state').dataset.state);
  const rec = await until(async () => (await state()) === 'reconnecting', 20000, 10);
  if (rec && ARTIFACTS) {
    const f = path.join(ARTIFACTS, 'chat-reconnecting.png');
    await page.screenshot({ path: f });
    info('screenshot', f);
  }

  const fin = await until(async () => {
    const st = await state();
    return ['done', 'error', 'stopped'].includes(st) ? st : null;
  }, 40000, 20);
  const doneAt = Date.now();
  info('done_at', doneAt);
  is(fin, 'done', 'the page ends in state "done" despite the cuts');
  const turn = await page.evaluate(() => {
    const t = document.querySelector('#transcript .turn:last-child');
    const err = t.querySelector('.error');
    return { text: t.querySelector('.answer').textContent, id: t.dataset.streamId || '',
      stats: t.querySelector('.stats').textContent, error: err.hidden ? '' : err.textContent };
  });
  info('stream_id', turn.id);
  is(turn.text, EXPECTED, 'the final text is exactly the answer: every token once, in order');
  is(turn.error, '', 'no error is shown');
  ok(/^first token \d+ ms · [\d.]+ (ms|s) · \d+ tokens$/.test(turn.stats), 'the done summary is shown',
    JSON.stringify(turn.stats));
  if (ARTIFACTS) {
    const f = path.join(ARTIFACTS, 'chat-resume.png');
    await page.screenshot({ path: f });
    info('screenshot', f);
  }

  // watch for a reconnect after done
  await sleep(QUIET_MS);
  const log = await page.evaluate(() => window.__esLog);
  const count = await page.evaluate(() => window.__esCount);
  const samples = await readSamples(page);

  const states = samples.map((x) => x.state).filter((x, i, a) => i === 0 || x !== a[i - 1]);
  info('states', states.join(','));
  const nRec = states.filter((x) => x === 'reconnecting').length;
  ok(nRec >= 1, `the page showed "reconnecting" (${nRec} times)`, JSON.stringify(states));
  ok(samples.some((x) => x.state === 'reconnecting' && x.stateText === 'Reconnecting\u2026'),
    'the state reads "Reconnecting…" while the browser retries');
  ok(samples.every((x) => EXPECTED.startsWith(x.text)),
    'every text the page showed was a prefix of the answer (no duplicate, no gap)');
  is(states[states.length - 1], 'done', 'the last state is done');

  const opens = log.filter((e) => e.kind === 'open').length;
  const errs = log.filter((e) => e.kind === 'error' && e.data === null);
  info('opens', opens);
  ok(opens >= 3 && errs.length >= 2,
    `the browser's EventSource reconnected several times (${opens} opens, ${errs.length} connection errors)`);
  const closedErrs = errs.filter((e) => e.rs === 2);
  is(closedErrs.length, REJECTS,
    'the browser gave up (CLOSED) only on the 503; after each cut it was CONNECTING (retrying)');
  is(count, 1 + REJECTS, 'the page opened a new EventSource only after the browser gave up');
  const closed = new Set(log.filter((e) => e.kind === 'close').map((e) => e.es));
  ok(closed.size === count, 'the page closed every EventSource it made (those it gave up on, and the last on done)',
    JSON.stringify([...closed]));
  const msgs = log.filter((e) => e.kind === 'message');
  // ids are <stream id>.<n>: the numbers n
  const seq = (id) => Number(String(id).split('.').pop());
  const ids = msgs.map((e) => seq(e.id));
  const consecutive = ids.every((v, i) => v === ids[0] + i);
  ok(ids.length > 0 && ids[0] === 2 && consecutive,
    `the browser's message events have ids 2..${ids[ids.length - 1]}, each once`, JSON.stringify(ids));
  const text = msgs.map((e) => { try { return JSON.parse(e.data).text; } catch (x) { return '<bad>'; } }).join('');
  is(text, EXPECTED, 'the message events the browser dispatched concatenate to the answer');
  is(log.filter((e) => e.kind === 'meta').length, 1, 'event: meta was dispatched once');
  const dones = log.filter((e) => e.kind === 'done');
  is(dones.length, 1, 'event: done was dispatched once');
  ok(dones.length === 1 && seq(dones[0].id) === ids[ids.length - 1] + 1, 'done has the id after the last token');
  const iDone = log.findIndex((e) => e.kind === 'done');
  const after = log.slice(iDone + 1).filter((e) => e.es === count);
  ok(after.length >= 1 && after[0].kind === 'close', 'the page closed the EventSource on done', JSON.stringify(after));
  ok(after.every((e) => e.kind === 'close'), `nothing happened on the EventSource in the ${QUIET_MS} ms after done`,
    JSON.stringify(after));
  ok(problems.length === 0, 'no script errors in the page', ...problems);
}

await run(main, problems);
