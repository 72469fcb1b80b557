// chat.test.mjs: drives the chat page (www/) in Debian's headless Chromium
// with playwright-core.  Run by tests/t_browser.py, which starts chatstream
// and lighttpd and checks chatstream's log; this script only talks to the
// browser.  It prints one JSON object per line on stdout (see lib.mjs):
// test points, data for the Python side, and on failure the browser's trail.
//
// Environment (all set by t_browser.py):
//   CS_URL         the page, e.g. http://127.0.0.1:PORT/
//   CS_PROMPT      the prompt for the full stream
//   CS_EXPECTED    demo_text(CS_PROMPT): the exact answer
//   CS_MODEL       paced demo model (the whole answer takes a few seconds)
//   CS_SLOW_MODEL  a much slower model, for Stop
//   CS_FAIL_MODEL  a model that sends event: error after a few tokens
//   CS_THINK_MODEL a model that streams CS_REASONING as event: reasoning first
//   CS_CALL_MODEL  a model that says CS_CALL_TEXT and calls tools: CS_CALLS,
//                  one "name(arguments)" a line
//   CS_PLAIN       (optional) the mount of a chatstream without resumable
//                  streams (journal = off), e.g. /plain/: the page's fetch()
//                  fallback is driven through ?endpoint=CS_PLAIN
//   CS_PROFILE     a fresh, empty Chromium user-data-dir
//   CS_ARTIFACTS   directory for the screenshots
//   CS_DEPS        directory holding node_modules/playwright-core (default: this one)
//   CS_CHROMIUM    the browser (default /usr/bin/chromium)
//   CS_DEADLINE_MS overall time limit (default 60000)
// SPDX-License-Identifier: ISC

import fs from 'node:fs';
import path from 'node:path';
import { SCALE, env, is, info, launch, net, ok, openChatPage, readSamples, recordAnswer, run, sleep, until,
  watchPage } from './lib.mjs';

const URL_ = env.CS_URL;
const PROMPT = env.CS_PROMPT;
const EXPECTED = env.CS_EXPECTED;
const MODEL = env.CS_MODEL || 'demo';
const SLOW = env.CS_SLOW_MODEL || 'slow';
const FAIL = env.CS_FAIL_MODEL || 'broken';
const THINK = env.CS_THINK_MODEL || '';
const REASONING = env.CS_REASONING || '';
const CALLER = env.CS_CALL_MODEL || '';
const ARTIFACTS = env.CS_ARTIFACTS;
const PLAIN = env.CS_PLAIN || '';

const problems = [];       // script errors and console errors in the page

async function shot(page, name) {
  if (!ARTIFACTS) return;
  const file = path.join(ARTIFACTS, name);
  await page.screenshot({ path: file, fullPage: false });
  info('screenshot', file);
}

// What the last exchange on the page shows.
const lastTurn = (page) => page.evaluate(() => {
  const turns = document.querySelectorAll('#transcript .turn');
  const t = turns[turns.length - 1];
  const st = document.getElementById('state');
  if (!t) return { turns: 0, state: st.dataset.state, stateText: st.textContent };
  const a = t.querySelector('.answer');
  const err = t.querySelector('.error');
  return {
    turns: turns.length,
    state: st.dataset.state,
    stateText: st.textContent,
    turnState: t.dataset.state,
    text: a.textContent,
    innerText: a.innerText,
    prompt: t.querySelector('.user .bubble').textContent,
    who: t.querySelector('.bot .who').textContent,
    stats: t.querySelector('.stats').textContent,
    error: err.hidden ? '' : err.textContent,
    streamId: t.dataset.streamId || '',
    send: document.getElementById('send').disabled,
    stop: document.getElementById('stop').disabled,
  };
});

const FINAL = new Set(['done', 'stopped', 'error']);

const since = (t0) => net.filter((x) => x.t >= t0);
const pathOf = (u) => new URL(u).pathname;
const brief = (xs) => JSON.stringify(xs.map((x) => [x.method, pathOf(x.url), x.type, x.status]));

// ---------------------------------------------------------------------------

async function endpointChecks(ctx) {
  // Without v1/models (an older chatstream, or a front server that does not
  // route it), the picker falls back to GET health's models.
  const p = await ctx.newPage();
  watchPage(p, 'endpoints');
  const seen = [];
  p.on('request', (r) => seen.push(r.url()));
  await p.route('**/chat/v1/models', (r) => r.fulfill({ status: 404, contentType: 'application/json',
    body: '{"error":{"type":"not_found","message":"no such route"}}' }));
  await p.goto(URL_);
  await p.waitForSelector('html[data-models]', { state: 'attached', timeout: 10000 * SCALE });
  const models = await p.$$eval('#model option', (os) => os.map((o) => o.value));
  ok([MODEL, SLOW, FAIL].every((m) => models.includes(m)) && (await p.$eval('#model', (s) => s.value)) === MODEL,
    'without v1/models the picker is filled from health (default selected)', JSON.stringify(models));

  // ?endpoint= may only point within this site; anything else is ignored, visibly.
  await p.unroute('**/chat/v1/models');
  await p.goto(URL_ + '?endpoint=' + encodeURIComponent('http://example.invalid/chat/'));
  await p.waitForSelector('html[data-models]', { state: 'attached', timeout: 10000 * SCALE });
  const note = await p.textContent('.notice').catch(() => null);
  ok(note && /Ignored \?endpoint=/.test(note) && !seen.some((u) => new URL(u).hostname === 'example.invalid'),
    '?endpoint= to another origin is ignored, with a notice', JSON.stringify(note));
  await p.goto(URL_ + '?endpoint=' + encodeURIComponent('/chat'));
  await p.waitForSelector('html[data-models]', { state: 'attached', timeout: 10000 * SCALE });
  const foot = await p.textContent('#server-info');
  ok(/Endpoint \/chat\/$/.test(foot) && (await p.$$('.notice')).length === 0,
    '?endpoint=/chat (same origin) is used, with a "/" added', JSON.stringify(foot));
  await p.close();
}

async function parserChecks(page) {
  // The page's SSE parser on tricky inputs, fed whole, one character at a
  // time, and split in two at every position: always the same result.
  const cases = [
    ['LF, CRLF and CR line ends', 'data: a\n\ndata: b\r\n\r\ndata: c\r\rdata: d\r\n\n',
      [['message', 'a', ''], ['message', 'b', ''], ['message', 'c', ''], ['message', 'd', '']]],
    ['multi-line data joined with LF', 'data: one\ndata:two\r\ndata\rdata:  three\n\n',
      [['message', 'one\ntwo\n\n three', '']]],
    ['comments and unknown fields are not events', ': ping\n:\nfoo: bar\nretry: 1x\ndata: x\n\n',
      [['message', 'x', '']]],
    ['event type, id persists, NUL id ignored',
      'event: meta\nid: 1\ndata: {}\n\ndata: t\n\nid: 2\u0000\nevent: done\ndata: z\n\n',
      [['meta', '{}', '1'], ['message', 't', '1'], ['done', 'z', '1']]],
    ['no data: nothing dispatched, type reset', 'event: x\nid: 5\n\ndata: y\n\n',
      [['message', 'y', '5']]],
    ['an unterminated event at the end is dropped', 'data: kept\n\ndata: lost\n',
      [['message', 'kept', '']]],
    ['non-ASCII text', 'data: {"text":"na\u00efve \u65e5\u672c \ud83c\udf89"}\n\n',
      [['message', '{"text":"na\u00efve \u65e5\u672c \ud83c\udf89"}', '']]],
  ];
  const results = await page.evaluate((cases) => {
    const P = window.chatstream.SSEParser;
    function run(chunks) {
      const out = [];
      const retries = [];
      const comments = [];
      const p = new P({
        onEvent: (e) => out.push([e.type, e.data, e.lastEventId]),
        onRetry: (ms) => retries.push(ms),
        onComment: (c) => comments.push(c),
      });
      chunks.forEach((c) => p.feed(c));
      p.end();
      return JSON.stringify([out, retries, comments]);
    }
    return cases.map(([name, input, want]) => {
      const whole = run([input]);
      const bad = [];
      if (JSON.stringify(JSON.parse(whole)[0]) !== JSON.stringify(want)) bad.push('whole: ' + whole);
      const chars = run(Array.from(input));
      if (chars !== whole) bad.push('char by char: ' + chars);
      for (let i = 1; i < input.length; i++) {
        const two = run([input.slice(0, i), input.slice(i)]);
        if (two !== whole) { bad.push('split at ' + i + ': ' + two); break; }
      }
      return [name, bad];
    });
  }, cases);
  for (const [name, bad] of results) ok(bad.length === 0, 'SSE parser: ' + name, ...bad);

  // retry: digits only; comment text kept verbatim
  const extra = await page.evaluate(() => {
    const r = []; const c = [];
    const p = new window.chatstream.SSEParser({ onRetry: (ms) => r.push(ms), onComment: (t) => c.push(t) });
    p.feed('retry: 12a\nretry: 3000\n: ping\n\n');
    return { r, c };
  });
  ok(JSON.stringify(extra) === '{"r":[3000],"c":[" ping"]}', 'SSE parser: retry only when all digits; comments verbatim',
    JSON.stringify(extra));

  // TextDecoder + parser with UTF-8 characters split across network chunks
  const utf8 = await page.evaluate(() => {
    const bytes = new TextEncoder().encode('data: {"text":"caf\u00e9 \u65e5\u672c\u8a9e \ud83c\udf89\ud83d\ude80"}\r\n\r\n');
    const out = [];
    const p = new window.chatstream.SSEParser({ onEvent: (e) => out.push(e.data) });
    const d = new TextDecoder('utf-8');
    for (let i = 0; i < bytes.length; i++) p.feed(d.decode(bytes.subarray(i, i + 1), { stream: true }));
    p.feed(d.decode());
    return out;
  });
  is(JSON.stringify(utf8), JSON.stringify(['{"text":"caf\u00e9 \u65e5\u672c\u8a9e \ud83c\udf89\ud83d\ude80"}']),
    'SSE parser + TextDecoder: UTF-8 split byte by byte');
}

async function accessibility(page) {
  ok(await page.getByRole('textbox', { name: 'Prompt' }).count() === 1, 'a11y: the prompt textarea is labelled "Prompt"');
  ok(await page.getByRole('button', { name: 'Send' }).count() === 1, 'a11y: a "Send" button');
  ok(await page.getByRole('button', { name: 'Stop' }).count() === 1, 'a11y: a "Stop" button');
  ok(await page.getByRole('combobox', { name: 'Model' }).count() === 1, 'a11y: the model picker is labelled "Model"');
  ok(await page.getByLabel('Max tokens').count() === 1, 'a11y: the max tokens field is labelled');
  const live = await page.evaluate(() => {
    const t = document.getElementById('transcript');
    const s = document.getElementById('state');
    return { live: t.getAttribute('aria-live'), role: t.getAttribute('role'), status: s.getAttribute('role'),
      lang: document.documentElement.lang, viewport: !!document.querySelector('meta[name=viewport]') };
  });
  ok(live.live === 'polite' && live.role === 'log', 'a11y: the answers are in an aria-live="polite" log region', JSON.stringify(live));
  ok(live.status === 'status', 'a11y: the state is a role="status" region', JSON.stringify(live));
  ok(live.lang === 'en' && live.viewport, 'page has lang and a viewport meta', JSON.stringify(live));

  // Keyboard: Tab from the prompt reaches Send, with a visible focus ring.
  await page.focus('#prompt');
  await page.keyboard.press('Tab');
  const focus = await page.evaluate(() => {
    const a = document.activeElement;
    const cs = getComputedStyle(a);
    return { id: a.id, outline: cs.outlineStyle, width: cs.outlineWidth, fv: a.matches(':focus-visible') };
  });
  ok(focus.id === 'send' && focus.fv && focus.outline !== 'none' && parseFloat(focus.width) >= 2,
    'keyboard: Tab from the prompt focuses Send, with a visible focus outline', JSON.stringify(focus));

  // Shift+Enter is a new line, not a send.
  await page.focus('#prompt');
  await page.keyboard.type('line one');
  await page.keyboard.press('Shift+Enter');
  await page.keyboard.type('line two');
  const v = await page.evaluate(() => ({ v: document.getElementById('prompt').value,
    turns: document.querySelectorAll('#transcript .turn').length }));
  ok(v.v === 'line one\nline two' && v.turns === 0, 'keyboard: Shift+Enter adds a line and sends nothing', JSON.stringify(v));
  await page.fill('#prompt', '');
}

// The model's reasoning (event: reasoning): folded above its answer, and kept on a reload.
async function reasoning(page) {
  if (!THINK) return;
  const why = () => page.evaluate(() => {
    const ts = document.querySelectorAll('#transcript .turn');
    const t = ts[ts.length - 1];
    const d = t && t.querySelector('details.why');
    return d ? { hidden: d.hidden, open: d.open, text: d.querySelector('.why-text').textContent,
      answer: t.querySelector('.answer').textContent } : null;
  });
  await page.selectOption('#model', THINK);
  await page.fill('#prompt', PROMPT);
  await page.keyboard.press('Enter');
  const fin = await until(async () => {
    const s = await lastTurn(page);
    return FINAL.has(s.state) ? s : null;
  }, 20000, 50);
  is(fin && fin.state, 'done', 'reasoning model: the answer ends as "done"');
  const w = await why();
  is(w && w.text, REASONING, 'reasoning model: the reasoning is shown, exactly');
  ok(w && !w.hidden && !w.open, 'reasoning model: folded (a <details> to open) above the answer', JSON.stringify(w));
  is(w && w.answer, EXPECTED, 'reasoning model: the answer is apart from it');
  await page.reload();
  await page.waitForSelector('#transcript .turn');
  const r = await why();
  is(r && r.text, REASONING, 'reasoning model: the reasoning is kept on a reload');
  await page.selectOption('#model', MODEL);
}

// The tools a model calls (event: tool_call): below its answer, one a line.
async function toolCalls(page) {
  if (!CALLER) return;
  await page.selectOption('#model', CALLER);
  await page.fill('#prompt', PROMPT);
  await page.keyboard.press('Enter');
  const fin = await until(async () => {
    const s = await lastTurn(page);
    return FINAL.has(s.state) ? s : null;
  }, 20000, 50);
  is(fin && fin.state, 'done', 'tool calls: the answer ends as "done"');
  const c = await page.evaluate(() => {
    const ts = document.querySelectorAll('#transcript .turn');
    const p = ts[ts.length - 1].querySelector('pre.calls');
    return p ? { hidden: p.hidden, text: p.textContent } : null;
  });
  is(c && c.text, env.CS_CALLS, 'tool calls: each call shown as name(arguments), exactly');
  ok(c && !c.hidden, 'tool calls: visible below the answer', JSON.stringify(c));
  is(fin && fin.text, env.CS_CALL_TEXT, 'tool calls: the answer\'s text apart from them');
  ok(/tool_calls$/.test(fin && fin.stats), 'tool calls: the stats say tool_calls', JSON.stringify(fin && fin.stats));
  await page.selectOption('#model', MODEL);
}

async function fullStream(page) {
  await page.selectOption('#model', MODEL);
  await recordAnswer(page);
  await page.focus('#prompt');
  await page.keyboard.type(PROMPT);
  const tNet = Date.now();
  await page.keyboard.press('Enter');                 // Enter sends
  const t0 = Date.now();

  // Mid-stream: some text, but not all of it, while the state says streaming.
  const mid = await until(async () => {
    const s = await lastTurn(page);
    return s.state === 'streaming' && s.text.length > 0 && s.text.length < EXPECTED.length / 2 ? s : null;
  }, 15000, 20);
  ok(mid, 'partial text is visible while the state is "streaming"');
  if (mid) {
    ok(EXPECTED.startsWith(mid.text), 'the partial text is the start of the answer', JSON.stringify(mid.text));
    is(mid.stateText, 'Streaming\u2026', 'the state reads "Streaming…"');
    ok(mid.send === true && mid.stop === false, 'while streaming, Send is disabled and Stop enabled', JSON.stringify(mid));
    await shot(page, 'chat-streaming.png');
  }

  const fin = await until(async () => {
    const s = await lastTurn(page);
    return FINAL.has(s.state) ? s : null;
  }, 20000, 50);
  const s = fin || (await lastTurn(page));
  info('stream_ms', Date.now() - t0);
  is(s.state, 'done', 'the state ends as "done"');
  is(s.stateText, 'Done', 'the state reads "Done"');
  is(s.text, EXPECTED, 'the answer (textContent) is exactly the demo\'s answer');
  is(s.innerText, EXPECTED, 'the answer as rendered (innerText) is exactly the demo\'s answer');
  is(s.prompt, PROMPT, 'the prompt is shown as sent');
  is(s.who, MODEL, 'the answer is labelled with the model from event: meta');
  ok(/^first token \d+ ms · [\d.]+ (ms|s) · \d+ tokens$/.test(s.stats), 'ttft, duration and usage are shown',
    JSON.stringify(s.stats));
  is(s.error, '', 'no error is shown');
  ok(s.send === false && s.stop === true, 'after the stream, Send is enabled and Stop disabled', JSON.stringify(s));
  info('done_stream_id', s.streamId);

  // The flow on the wire: POST -> 202 {"id","url"}, then the browser's own
  // EventSource on that url, once (no reconnects here), and nothing after done.
  await sleep(1000);
  const reqs = since(tNet).filter((x) => pathOf(x.url).startsWith('/chat/') && !/\/(health|v1\/models)$/.test(x.url));
  const post = reqs.find((x) => x.method === 'POST');
  const es = reqs.filter((x) => x.type === 'eventsource');
  ok(post && post.status === 202, 'the POST is answered 202 Accepted', brief(reqs));
  ok(es.length === 1 && pathOf(es[0].url) === '/chat/streams/' + s.streamId && es[0].method === 'GET'
    && es[0].status === 200 && /^text\/event-stream/.test(es[0].ctype),
    'the answer is read by one EventSource GET of /chat/streams/<id> (200 text/event-stream)', brief(reqs));
  ok(reqs.length === 2, 'no other request: after done the browser does not reconnect', brief(reqs));

  const samples = await readSamples(page);
  const streaming = samples.filter((x) => x.state === 'streaming' && x.text.length > 0);
  const lens = [...new Set(streaming.map((x) => x.text.length))];
  const growing = lens.every((n, i) => i === 0 || n > lens[i - 1]);
  ok(lens.length >= 5 && growing && lens[0] < EXPECTED.length,
    'the answer grew step by step while streaming (' + lens.length + ' sizes)', JSON.stringify(lens));
  info('streaming_span_ms', Math.round(streaming.length ? streaming[streaming.length - 1].t - streaming[0].t : 0));
  const states = samples.map((x) => x.state).filter((x, i, a) => i === 0 || x !== a[i - 1]);
  ok(JSON.stringify(states) === '["connecting","streaming","done"]', 'states: connecting, streaming, done',
    JSON.stringify(states));
  ok(samples.every((x) => EXPECTED.startsWith(x.text)), 'every sampled text is a prefix of the answer');
  await shot(page, 'chat-done.png');
}

async function stopStream(page) {
  await page.selectOption('#model', SLOW);
  await page.fill('#prompt', 'Please stop me');
  const tNet = Date.now();
  await page.getByRole('button', { name: 'Send' }).click();
  const mid = await until(async () => {
    const s = await lastTurn(page);
    return s.state === 'streaming' && s.text.split(' ').length >= 3 ? s : null;
  }, 15000, 25);
  ok(mid, 'slow model: a few tokens arrived');
  await page.getByRole('button', { name: 'Stop' }).click();
  const tStop = Date.now();
  const fin = await until(async () => {
    const s = await lastTurn(page);
    return FINAL.has(s.state) ? s : null;
  }, 5000, 20);
  const s = fin || (await lastTurn(page));
  is(s.state, 'stopped', 'Stop: the state shows "stopped"');
  info('stop_ms', Date.now() - tStop);
  ok(s.text.length > 0 && 'You said: Please stop me'.length + 300 > s.text.length && !s.stats.startsWith('first token'),
    'Stop: the partial answer stays, without a done summary', JSON.stringify(s));
  ok(/^Stopped after \d+ tokens?\.$/.test(s.stats), 'Stop: says how many tokens came', JSON.stringify(s.stats));
  ok(s.send === false && s.stop === true, 'Stop: Send is enabled again, Stop disabled');
  await sleep(700);
  const later = await lastTurn(page);
  is(later.text, s.text, 'Stop: no text arrives after Stop');
  info('stopped_stream_id', s.streamId);
  const reqs = since(tNet).filter((x) => pathOf(x.url).startsWith('/chat/streams/'));
  const del = reqs.filter((x) => x.method === 'DELETE');
  ok(del.length === 1 && pathOf(del[0].url) === '/chat/streams/' + s.streamId && del[0].status === 202,
    'Stop: one DELETE of /chat/streams/<id>, answered 202', brief(reqs));
  ok(reqs.filter((x) => x.type === 'eventsource').length === 1,
    'Stop: the EventSource did not reconnect', brief(reqs));
}

// Stop while the POST is still on its way: chatstream has answered 202, but
// the page sees the answer only after Stop.  The page then DELETEs the
// stream at once (else chatstream would wait `grace` for a first reader),
// opens no EventSource and shows "stopped".
async function stopEarly(page) {
  await page.selectOption('#model', SLOW);
  let release;
  const held = new Promise((r) => { release = r; });
  const pattern = (u) => u.pathname === '/chat/';
  await page.route(pattern, async (route) => {
    if (route.request().method() !== 'POST') return route.continue();
    const resp = await route.fetch();    // chatstream's 202 ...
    await held;                          // ... reaches the page after Stop
    return route.fulfill({ response: resp });
  });
  const tNet = Date.now();
  await page.fill('#prompt', 'Stop me before I start');
  await page.press('#prompt', 'Enter');
  const con = await until(async () => (await lastTurn(page)).state === 'connecting', 5000);
  ok(con, 'early Stop: the page is connecting (its POST held back)');
  await sleep(300);
  await page.getByRole('button', { name: 'Stop' }).click();
  release();
  let s = await until(async () => { const x = await lastTurn(page); return FINAL.has(x.state) ? x : null; }, 5000, 20);
  s = s || (await lastTurn(page));
  await page.unroute(pattern);
  is(s.state, 'stopped', 'early Stop: the state shows "stopped"');
  is(s.text, '', 'early Stop: no text');
  await sleep(300);
  const reqs = since(tNet).filter((x) => pathOf(x.url).startsWith('/chat/streams/'));
  ok(reqs.length === 1 && reqs[0].method === 'DELETE' && pathOf(reqs[0].url) === '/chat/streams/' + s.streamId
    && reqs[0].status === 202, 'early Stop: once the 202 came, the page DELETEd its stream and opened no EventSource',
  brief(reqs));
  info('early_stopped_stream_id', s.streamId);
}

// A chatstream without resumable streams (journal = off) answers the POST
// with 200 text/event-stream instead of 202: the page reads it with fetch()
// as before, and Stop aborts that request.
async function fallback(ctx) {
  if (!PLAIN) return;
  const p = await ctx.newPage();
  watchPage(p, 'fallback');
  const tNet = Date.now();
  await p.goto(URL_ + '?endpoint=' + encodeURIComponent(PLAIN));
  await p.waitForSelector('html[data-models]', { state: 'attached', timeout: 10000 * SCALE });
  await p.selectOption('#model', MODEL);
  await p.fill('#prompt', PROMPT);
  await p.press('#prompt', 'Enter');
  let s = await until(async () => { const x = await lastTurn(p); return FINAL.has(x.state) ? x : null; }, 20000, 50);
  s = s || (await lastTurn(p));
  is(s.state, 'done', 'fallback (200 event stream): the state ends as "done"');
  is(s.text, EXPECTED, 'fallback: the answer is exactly the demo\'s answer');
  const reqs = since(tNet).filter((x) => pathOf(x.url).startsWith(PLAIN) && x.method === 'POST');
  ok(reqs.length === 1 && reqs[0].status === 200 && /^text\/event-stream/.test(reqs[0].ctype)
    && since(tNet).every((x) => x.type !== 'eventsource'),
    'fallback: the POST answered 200 text/event-stream was read with fetch(), no EventSource', brief(since(tNet)));
  info('fallback_stream_id', s.streamId);

  await p.selectOption('#model', SLOW);
  await p.fill('#prompt', 'Please stop me');
  await p.press('#prompt', 'Enter');
  const mid = await until(async () => {
    const x = await lastTurn(p);
    return x.state === 'streaming' && x.text.split(' ').length >= 3 ? x : null;
  }, 15000, 25);
  ok(mid, 'fallback: slow model streams');
  const tStop = Date.now();
  await p.getByRole('button', { name: 'Stop' }).click();
  s = await until(async () => { const x = await lastTurn(p); return FINAL.has(x.state) ? x : null; }, 5000, 20);
  s = s || (await lastTurn(p));
  is(s.state, 'stopped', 'fallback: Stop shows "stopped"');
  info('fallback_stop_ms', Date.now() - tStop);
  ok(/^Stopped after \d+ tokens?\.$/.test(s.stats),
    'fallback: Stop ended the stream and says how many tokens came', JSON.stringify(s.stats));
  ok(since(tStop).every((x) => x.method !== 'DELETE'), 'fallback: Stop aborts the request (no DELETE)',
    brief(since(tStop)));
  info('fallback_stopped_stream_id', s.streamId);
  await p.close();
}

async function markup(page) {
  // Model output is text, never markup; max_tokens cuts the answer.
  const dialogs = [];
  page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  const prompt = '<b>bold</b> <img src=x onerror=alert(1)> &amp;';
  await page.selectOption('#model', MODEL);
  await page.fill('#max-tokens', '6');
  await page.fill('#prompt', prompt);
  await page.press('#prompt', 'Enter');
  let s = await until(async () => { const x = await lastTurn(page); return FINAL.has(x.state) ? x : null; }, 10000);
  s = s || (await lastTurn(page));
  await page.fill('#max-tokens', '');
  is(s.text, 'You said: <b>bold</b> <img src=x onerror=alert(1)>', 'markup in the answer shows as text');
  const kids = await page.evaluate(() => {
    const turns = document.querySelectorAll('#transcript .turn');
    const t = turns[turns.length - 1];
    return t.querySelector('.answer').children.length + t.querySelector('.user .bubble').children.length;
  });
  ok(kids === 0 && dialogs.length === 0, 'no element was made from the prompt or the answer', JSON.stringify(dialogs));
  ok(s.state === 'done' && /· cut at max tokens$/.test(s.stats), 'max_tokens: done, "cut at max tokens"', JSON.stringify(s.stats));
}

async function errors(page) {
  // An HTTP error with a JSON body: max_tokens out of range (400 invalid_request).
  await page.selectOption('#model', MODEL);
  await page.fill('#max-tokens', '0');
  await page.fill('#prompt', 'bad request');
  await page.press('#prompt', 'Enter');
  let s = await until(async () => { const x = await lastTurn(page); return FINAL.has(x.state) ? x : null; }, 10000);
  s = s || (await lastTurn(page));
  is(s.state, 'error', 'HTTP 400: the state shows "error"');
  ok(/^HTTP 400 · invalid_request: \S/.test(s.error), 'HTTP 400: the JSON error body is shown', JSON.stringify(s.error));
  await page.fill('#max-tokens', '');

  // event: error mid-stream
  await page.selectOption('#model', FAIL);
  await page.fill('#prompt', 'fail please');
  await page.press('#prompt', 'Enter');
  s = await until(async () => { const x = await lastTurn(page); return FINAL.has(x.state) ? x : null; }, 10000);
  s = s || (await lastTurn(page));
  is(s.state, 'error', 'event: error: the state shows "error"');
  ok(/^backend_error/.test(s.error), 'event: error: its type and message are shown', JSON.stringify(s.error));
  ok(s.text.length > 0 && EXPECTED.length > 0, 'event: error: the tokens before it stay visible', JSON.stringify(s.text));
  await shot(page, 'chat-error.png');
}

async function phone(page) {
  await page.setViewportSize({ width: 390, height: 760 });
  await sleep(100);
  const m = await page.evaluate(() => ({ sw: document.documentElement.scrollWidth, w: innerWidth,
    font: parseFloat(getComputedStyle(document.getElementById('prompt')).fontSize),
    btn: document.getElementById('send').getBoundingClientRect().height }));
  ok(m.sw <= m.w, 'phone (390 px): nothing overflows sideways', JSON.stringify(m));
  ok(m.font >= 16 && m.btn >= 40, 'phone: 16 px prompt text and touch-sized buttons', JSON.stringify(m));
  await page.evaluate(() => window.scrollTo(0, 0));
  await shot(page, 'chat-phone.png');
  await page.emulateMedia({ colorScheme: 'dark' });
  await shot(page, 'chat-phone-dark.png');
  await page.emulateMedia({ colorScheme: 'light' });
}

// ---------------------------------------------------------------------------

async function main() {
  for (const [k, v] of Object.entries({ CS_URL: URL_, CS_PROMPT: PROMPT, CS_EXPECTED: EXPECTED, CS_PROFILE: env.CS_PROFILE })) {
    if (!v) throw new Error(k + ' is not set');
  }
  if (ARTIFACTS) fs.mkdirSync(ARTIFACTS, { recursive: true });
  const context = await launch();
  info('browser', context.browser() ? context.browser().version() : 'chromium');
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(10000);
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  page.on('console', (m) => {
    // HTTP errors the test provokes on purpose show up as "Failed to load resource"
    if (m.type() === 'error' && !/^Failed to load resource: the server responded with a status of/.test(m.text())) {
      problems.push('console: ' + m.text());
    }
  });
  watchPage(page, 'page1');

  if (!(await openChatPage(page, URL_, 'the page loads through the front server'))) return;
  const models = await page.$$eval('#model option', (os) => os.map((o) => o.value));
  ok([MODEL, SLOW, FAIL].every((m) => models.includes(m)), 'the model picker lists the server\'s models', JSON.stringify(models));
  const selected = await page.$eval('#model', (s) => s.value);
  is(selected, MODEL, 'the picker starts on the default model');
  const info_ = await page.textContent('#server-info');
  ok(/^chatstream \S+ · Endpoint \/chat\/$/.test(info_), 'the footer shows the server version and endpoint', JSON.stringify(info_));

  await shot(page, 'chat-empty.png');
  await endpointChecks(context);
  await parserChecks(page);
  await accessibility(page);
  await fullStream(page);
  await reasoning(page);
  await toolCalls(page);
  await stopStream(page);
  await stopEarly(page);
  await markup(page);
  await errors(page);
  await fallback(context);
  await phone(page);

  const origin = new URL(URL_).origin;
  const foreign = net.map((x) => x.url).filter((u) => !u.startsWith(origin + '/') && !u.startsWith('data:'));
  ok(foreign.length === 0, 'the page loads nothing from elsewhere', ...foreign);
  ok(problems.length === 0, 'no script errors or CSP violations in the page', ...problems);
}

await run(main, problems);
