// session.test.mjs: the chat page as a conversation that survives a reload,
// in Chromium.  Run by tests/t_browser_session.py (chatstream with the
// shipped configuration behind lighttpd); this script drives the page and
// reports the streams it saw, the Python side checks chatstream's log.
//   - a second question carries the first exchange in "messages";
//   - a reload in the middle of an answer shows the conversation again and
//     ends with the exact answer, each token once;
//   - a tab closed in the middle of an answer (its stream id goes to the
//     Python side, which checks that the model stopped);
//   - the same with sessionStorage refusing writes, where the page cannot
//     continue after a reload and so stops the stream as it goes.
// Output: one JSON object per line (see lib.mjs).
//
// Environment (set by t_browser_session.py):
//   CS_URL, CS_PROFILE, CS_DEPS, CS_CHROMIUM, CS_DEADLINE_MS, CS_ARTIFACTS  as for chat.test.mjs
//   CS_MODEL, CS_SLOW_MODEL   the shipped demo model; a slower one
//   CS_CASES       JSON {"q1", "a1", "q2", "a2", "q3", "a3", "long", "long2"}:
//                  prompts and their exact answers
// SPDX-License-Identifier: ISC

import path from 'node:path';
import { SCALE, env, info, is, launch, ok, openChatPage, readSamples, recordAnswer, run, until,
  watchPage } from './lib.mjs';

const problems = [];
const C = JSON.parse(env.CS_CASES || '{}');
const MODEL = env.CS_MODEL || 'demo';
const SLOW = env.CS_SLOW_MODEL || 'slow';
const FINAL = new Set(['done', 'stopped', 'error']);
// the number n of an event id, "<stream id>.<n>" or plain "n"
const seq = (id) => Number(String(id).split('.').pop());

// Runs in every page before its scripts: each message event any
// EventSource dispatches is logged, with the EventSource's url, into the
// tab's sessionStorage, so the log outlives a reload.
function logEventSource() {
  const Orig = window.EventSource;
  window.EventSource = class extends Orig {
    constructor(url, init) {
      super(url, init);
      this.addEventListener('message', (e) => {
        const log = JSON.parse(sessionStorage.getItem('test:es') || '[]');
        log.push({ url: String(url), id: e.lastEventId, data: e.data });
        sessionStorage.setItem('test:es', JSON.stringify(log));
      });
    }
  };
}

const turns = (page) => page.evaluate(() => [...document.querySelectorAll('#transcript .turn')].map((t) => ({
  prompt: t.querySelector('.user .bubble').textContent,
  text: t.querySelector('.answer').textContent,
  state: t.dataset.state,
  streamId: t.dataset.streamId || '',
  error: t.querySelector('.error').hidden ? '' : t.querySelector('.error').textContent,
})));
const last = async (page) => (await turns(page)).pop() || {};
const pageState = (page) => page.evaluate(() => document.getElementById('state').dataset.state);

async function ask(page, model, prompt) {
  await page.selectOption('#model', model);
  await page.fill('#prompt', prompt);
  await page.press('#prompt', 'Enter');
}

async function finished(page, ms = 20000) {
  await until(async () => FINAL.has(await pageState(page)), ms, 25);
  return last(page);
}

/** Starts a long answer in a new tab and closes the tab in its middle; returns the stream id. */
async function closeMidAnswer(context, prompt, what, prepare) {
  const p = await context.newPage();
  watchPage(p, what);
  p.on('pageerror', (e) => problems.push(what + ': page error: ' + e.message));
  if (prepare) await prepare(p);
  if (!(await openChatPage(p, env.CS_URL, what + ': the page loads'))) return '';
  await ask(p, SLOW, prompt);
  const mid = await until(async () => {
    const t = await last(p);
    return t.state === 'streaming' && t.streamId && t.text.split(' ').length >= 3 ? t : null;
  }, 20000, 25);
  ok(mid, what + ': the answer is streaming');
  const now = await last(p);
  info(what + '_shown_tokens', now.text.split(/\s+/).filter(Boolean).length);
  await p.close({ runBeforeUnload: true });
  return mid ? mid.streamId : '';
}

async function main() {
  for (const k of ['CS_URL', 'CS_PROFILE', 'CS_CASES']) {
    if (!env[k]) throw new Error(k + ' is not set');
  }
  const context = await launch();
  await context.addInitScript(logEventSource);

  // --- tabs closed in the middle of an answer (first: the Python side waits for the model to stop)
  info('closed_stream_id', await closeMidAnswer(context, C.long, 'closed'));
  info('nostore_stream_id', await closeMidAnswer(context, C.long2, 'nostore', (p) => p.addInitScript(() => {
    const set = Storage.prototype.setItem;
    Storage.prototype.setItem = function (k, v) {
      if (String(k).startsWith('test:')) return set.call(this, k, v);
      throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
    };
  })));

  // --- a conversation
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(10000 * SCALE);
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  watchPage(page, 'page1');
  const bodies = [];
  page.on('request', (r) => {
    if (r.method() === 'POST' && new URL(r.url()).pathname === '/chat/') bodies.push(r.postData());
  });
  if (!(await openChatPage(page, env.CS_URL, 'the page loads'))) return;
  await ask(page, MODEL, C.q1);
  let t = await finished(page);
  is(t.text, C.a1, 'first question: the exact answer');
  await ask(page, MODEL, C.q2);
  t = await finished(page);
  is(t.text, C.a2, 'second question: the exact answer (to the last question)');
  const sent = bodies.map((b) => { try { return JSON.parse(b); } catch (e) { return null; } });
  is(JSON.stringify(sent[0] && sent[0].messages), JSON.stringify([{ role: 'user', content: C.q1 }]),
    'the first POST sends the question as messages');
  is(JSON.stringify(sent[1] && sent[1].messages), JSON.stringify([{ role: 'user', content: C.q1 },
    { role: 'assistant', content: C.a1 }, { role: 'user', content: C.q2 }]),
  'the second POST carries the first exchange in messages, then the new question');
  ok(sent.every((b) => b && !('prompt' in b) && b.model === MODEL), 'no "prompt" field; the model picked is sent',
    JSON.stringify(sent));

  // --- a reload in the middle of an answer
  await ask(page, SLOW, C.q3);
  const before = await until(async () => {
    const x = await last(page);
    return x.state === 'streaming' && x.streamId && x.text.split(' ').length >= 4 ? x : null;
  }, 20000, 25);
  ok(before, 'third question: the answer is streaming');
  info('reload_stream_id', before ? before.streamId : '');
  await page.reload({ waitUntil: 'load' });
  await recordAnswer(page);
  const back = await turns(page);
  is(JSON.stringify(back.map((x) => x.prompt)), JSON.stringify([C.q1, C.q2, C.q3]),
    'after the reload: the conversation is back, every question');
  is(JSON.stringify(back.slice(0, 2).map((x) => [x.text, x.state])), JSON.stringify([[C.a1, 'done'], [C.a2, 'done']]),
    'after the reload: the earlier answers are back, done');
  const cont = back[2] || { text: '' };
  ok(before && cont.text.startsWith(before.text) && C.a3.startsWith(cont.text),
    'after the reload: the running answer shows its text so far (at least what showed before)',
    JSON.stringify(before && before.text), JSON.stringify(cont.text));
  t = await finished(page, 40000);
  is(t.state, 'done', 'the reloaded answer ends in state "done"');
  is(t.text, C.a3, 'the reloaded answer is exact: every token once, in order');
  is(t.error, '', 'no error is shown');
  const samples = await readSamples(page);
  ok(samples.every((x) => C.a3.startsWith(x.text)), 'every text the page showed after the reload was a prefix of the answer');
  const log = await page.evaluate(() => JSON.parse(sessionStorage.getItem('test:es') || '[]'));
  const mine = log.filter((e) => before && e.url.includes('/streams/' + before.streamId));
  const urls = [...new Set(mine.map((e) => e.url))];
  ok(urls.length >= 2 && /[?&]last_event_id=[^&]+$/.test(urls[urls.length - 1]),
    'the reloaded page reopened the stream with ?last_event_id=', JSON.stringify(urls));
  const text = mine.map((e) => { try { return JSON.parse(e.data).text; } catch (x) { return '<bad>'; } }).join('');
  is(text, C.a3, 'the message events of both pages concatenate to the answer: each token once');
  const ids = mine.map((e) => seq(e.id));
  ok(ids.length > 0 && ids.every((v, i) => v === ids[0] + i), 'their ids follow each other, none twice',
    JSON.stringify(ids));
  if (env.CS_ARTIFACTS) {
    const f = path.join(env.CS_ARTIFACTS, 'chat-reloaded.png');
    await page.screenshot({ path: f });
    info('screenshot', f);
  }

  // --- New chat forgets
  await page.getByRole('button', { name: 'New chat' }).click();
  await page.reload({ waitUntil: 'load' });
  is((await turns(page)).length, 0, 'New chat empties the conversation, also for a reload');
  ok(problems.length === 0, 'no script errors in the pages', ...problems);
}

await run(main, problems);
