// cors.test.mjs: a page on another origin than chatstream's calls it from a
// real browser (fetch with a JSON body and an Authorization header, so a
// preflight first), for tests/t_browser_cors.py.  The page at CS_PAGE_ALLOWED
// is of an origin cors_origins lists: its calls succeed and it reads the
// exposed headers.  The page at CS_PAGE_OTHER is of an origin not listed:
// the browser refuses to give it the answers (fetch rejects).
//
// Environment: CS_API (chatstream's URL, ending in /), CS_PAGE_ALLOWED,
// CS_PAGE_OTHER, CS_EXPECTED (the demo's answer), and lib.mjs's.
// SPDX-License-Identifier: ISC

import { env, is, launch, ok, run } from './lib.mjs';

const API = env.CS_API;

// Runs in the page: a chat completion, a model, and a native stream's text.
async function calls(api) {
  const out = {};
  try {
    const r = await fetch(api + 'v1/chat/completions', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: 'Bearer unused' },
      body: JSON.stringify({ model: 'demo', messages: [{ role: 'user', content: 'hi' }] }),
    });
    const j = await r.json();
    out.chat = { status: r.status, text: j.choices?.[0]?.message?.content ?? null,
      requestId: r.headers.get('x-request-id'), streamId: r.headers.get('x-stream-id') };
  } catch (e) {
    out.chat = { error: String(e) };
  }
  try {
    const r = await fetch(api + 'v1/models/demo');
    out.model = { status: r.status, id: (await r.json()).id };
  } catch (e) {
    out.model = { error: String(e) };
  }
  try {
    const r = await fetch(api, { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ prompt: 'hi' }) });
    out.stream = { status: r.status, type: r.headers.get('content-type'), body: await r.text() };
  } catch (e) {
    out.stream = { error: String(e) };
  }
  return out;
}

await run(async () => {
  const context = await launch();
  const page = await context.newPage();

  await page.goto(env.CS_PAGE_ALLOWED, { waitUntil: 'load' });
  let r = await page.evaluate(calls, API);
  is(r.chat.error, undefined, 'listed origin: the chat completion call succeeds');
  is(r.chat.text, env.CS_EXPECTED, 'listed origin: the page reads the answer');
  ok(r.chat.requestId && r.chat.requestId === r.chat.streamId,
    'listed origin: x-request-id and X-Stream-Id are exposed to the page', JSON.stringify(r.chat));
  is(r.model.id, 'demo', 'listed origin: GET v1/models/demo');
  ok(!r.stream.error && r.stream.status === 200 && (r.stream.body || '').includes('event: done'),
    'listed origin: a native stream is read to its end', JSON.stringify(r.stream).slice(0, 300));

  await page.goto(env.CS_PAGE_OTHER, { waitUntil: 'load' });
  r = await page.evaluate(calls, API);
  ok(r.chat.error && /fetch/i.test(r.chat.error), 'other origin: the browser refuses the chat call',
    JSON.stringify(r.chat));
  ok(r.model.error, 'other origin: the browser refuses GET v1/models/demo', JSON.stringify(r.model));
  ok(r.stream.error, 'other origin: the browser refuses the stream', JSON.stringify(r.stream).slice(0, 300));
});
