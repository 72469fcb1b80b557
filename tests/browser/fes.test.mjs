// fes.test.mjs: @microsoft/fetch-event-source, the library most chat UIs
// use to POST for a stream, in Chromium, on chatstream's POST / through a
// network that cuts the answer.  Run by tests/t_browser_fes.py, which puts
// tests/lib/cutproxy.py between Chromium and lighttpd, cutting the POST's
// response a few times; the library, with its defaults, POSTs the same
// body again with Last-Event-ID after each cut.  This script reads one
// answer that way and checks what the library handed to the application;
// the Python side checks the proxy's and chatstream's logs.  Output: one
// JSON object per line (see lib.mjs).
//
// Environment (set by t_browser_fes.py):
//   CS_URL         the page that loads the library, e.g. http://127.0.0.1:PORT/fes/
//   CS_ENDPOINT    where to POST, e.g. http://127.0.0.1:PORT/chat/
//   CS_PROMPT, CS_EXPECTED (the exact answer), CS_MODEL
//   CS_PROFILE, CS_DEPS, CS_CHROMIUM, CS_DEADLINE_MS   as for chat.test.mjs
// SPDX-License-Identifier: ISC

import { SCALE, env, info, is, launch, ok, run, watchPage } from './lib.mjs';

const problems = [];
// the number n of an event id, "<stream id>.<n>" or plain "n"
const seq = (id) => Number(String(id).split('.').pop());

async function main() {
  for (const k of ['CS_URL', 'CS_ENDPOINT', 'CS_PROMPT', 'CS_EXPECTED', 'CS_PROFILE']) {
    if (!env[k]) throw new Error(k + ' is not set');
  }
  const context = await launch();
  const page = context.pages()[0] || (await context.newPage());
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  watchPage(page, 'fes');
  const posts = [];
  page.on('response', (r) => {
    if (r.request().method() === 'POST') {
      posts.push({ status: r.status(), ctype: r.headers()['content-type'] || '',
        sid: r.headers()['x-stream-id'] || '', lei: r.request().headers()['last-event-id'] || '' });
    }
  });
  await page.goto(env.CS_URL);
  await page.waitForFunction(() => document.title === 'ready', null, { timeout: 10000 * SCALE });

  // The application's side: the library's defaults (retry on any error,
  // after the server's retry: interval, with Last-Event-ID), onmessage,
  // and an abort once done came, as a chat UI does.
  const got = await page.evaluate(({ endpoint, prompt, model, limit }) => new Promise((resolve) => {
    const events = [];
    const ctrl = new AbortController();
    const timer = setTimeout(() => { ctrl.abort(); resolve({ events, why: 'time limit' }); }, limit);
    window.fetchEventSource(endpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ model, messages: [{ role: 'user', content: prompt }] }),
      signal: ctrl.signal,
      onmessage(ev) {
        events.push({ event: ev.event, id: ev.id, data: ev.data });
        if (ev.event === 'done' || ev.event === 'error') {
          clearTimeout(timer);
          ctrl.abort();
          resolve({ events, why: ev.event });
        }
      },
    }).catch((e) => { clearTimeout(timer); resolve({ events, why: 'rejected: ' + e }); });
  }), { endpoint: env.CS_ENDPOINT, prompt: env.CS_PROMPT, model: env.CS_MODEL || 'demo',
    limit: 60000 * SCALE });

  const ev = got.events;
  info('posts', posts.length);
  is(got.why, 'done', 'the library delivered event: done');
  const msgs = ev.filter((e) => e.event === '');
  const text = msgs.map((e) => { try { return JSON.parse(e.data).text; } catch (x) { return '<bad>'; } }).join('');
  is(text, env.CS_EXPECTED, 'the message events concatenate to the exact answer: every token once, in order');
  const ids = msgs.map((e) => seq(e.id));
  ok(ids.length > 0 && ids[0] === 2 && ids.every((v, i) => v === ids[0] + i),
    `the message events have ids 2..${ids[ids.length - 1]}, each once`, JSON.stringify(ids));
  is(ev.filter((e) => e.event === 'meta').length, 1, 'event: meta came once');
  const done = ev.filter((e) => e.event === 'done');
  ok(done.length === 1 && JSON.parse(done[0].data).finish_reason === 'stop',
    'event: done came once, finish_reason "stop"', JSON.stringify(done));
  ok(posts.length >= 4, `the library POSTed again after each cut (${posts.length} POSTs)`, JSON.stringify(posts));
  ok(posts.every((p) => p.status === 200 && /^text\/event-stream/.test(p.ctype)),
    'every POST was answered 200 text/event-stream', JSON.stringify(posts));
  ok(posts.slice(1).every((p) => p.lei !== ''), 'every POST after the first carried Last-Event-ID',
    JSON.stringify(posts));
  const sids = [...new Set(posts.map((p) => p.sid))];
  ok(sids.length === 1 && sids[0] !== '', 'every POST answered with the same X-Stream-Id: one stream',
    JSON.stringify(sids));
  info('stream_id', sids[0] || '');
  ok(problems.length === 0, 'no script errors in the page', ...problems);
}

await run(main, problems);
