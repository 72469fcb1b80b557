// responses.mjs: drives chatstream's Responses API (/v1/responses) with the
// official OpenAI Node SDK (npm "openai") and the Vercel AI SDK's default
// provider (`ai` with `@ai-sdk/openai`: openai(id) speaks the Responses API),
// the versions pinned in package.json, and prints what they got as one JSON
// object on stdout, for tests/t_sdk_responses.py.
//
// Usage: node responses.mjs BASE_URL PROMPT HELD_PROMPT GATE
//   BASE_URL     e.g. http://127.0.0.1:8080/chat/v1 (chatstream mounted at /chat/)
//   HELD_PROMPT  the prompt of the held model (tests/lib/models.py's Held)
//   GATE         the file that releases it, made once the script has seen
//                the response running
// Models it expects chatstream to serve: demo (fast), slow (paced, for
// background runs), stall (stalls after a few tokens, for cancel), held.
// Every call has a timeout and no retries, so the script always ends.
// SPDX-License-Identifier: ISC
import { writeFileSync } from 'node:fs';
import OpenAI from 'openai';
import { generateText, streamText } from 'ai';
import { createOpenAI } from '@ai-sdk/openai';

const [baseURL, prompt, heldPrompt, gate] = process.argv.slice(2);
if (!baseURL || prompt === undefined || !heldPrompt || !gate) {
  console.error('usage: node responses.mjs BASE_URL PROMPT HELD_PROMPT GATE');
  process.exit(2);
}
const TIMEOUT = 20000;
const client = new OpenAI({ baseURL, apiKey: 'unused', maxRetries: 0, timeout: TIMEOUT });
const vercel = createOpenAI({ baseURL, apiKey: 'unused' });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function errInfo(e) {
  return {
    name: e?.constructor?.name ?? typeof e,
    status: e?.status ?? null,
    message: String(e?.message ?? e),
    param: e?.param ?? null,
  };
}

// Runs fn, keeping what it returns or the error it raised.
async function attempt(fn) {
  try {
    return await fn();
  } catch (e) {
    return { error: errInfo(e) };
  }
}

// The events of a Responses stream: their types, sequence_numbers, deltas,
// last object; first() runs after the first event.
async function collect(stream, first = () => {}) {
  const out = { types: [], seqs: [], deltas: [], last: null };
  for await (const ev of stream) {
    if (out.types.length === 0) first();
    out.types.push(ev.type);
    out.seqs.push(ev.sequence_number);
    if (ev.type === 'response.output_text.delta') out.deltas.push(ev.delta);
    if (ev.response) out.last = { status: ev.response.status, id: ev.response.id,
      usage: ev.response.usage ?? null, text: ev.response.output?.[0]?.content?.[0]?.text ?? null };
  }
  return out;
}

// Retrieves id until pred holds (at most 400 times); the last object.
async function until(id, pred) {
  let r = null;
  for (let i = 0; i < 400; i++) {
    r = await client.responses.retrieve(id);
    if (pred(r)) break;
    await sleep(50);
  }
  return r;
}

const summary = (r) => ({ id: r.id, object: r.object, status: r.status,
  output_text: r.output_text, usage: r.usage ?? null, request_id: r._request_id ?? null });

const result = { node: process.version };

result.streamed = await attempt(async () => collect(await client.responses.create({
  model: 'demo', input: prompt, instructions: 'be brief', stream: true,
})));

result.whole = await attempt(async () => summary(await client.responses.create({
  model: 'demo', input: [{ role: 'user', content: prompt }],
})));

// The SDK's stream helper accumulates the events into the final response.
result.helper = await attempt(async () => {
  const final = await client.responses.stream({ model: 'demo', input: prompt }).finalResponse();
  return summary(final);
});

result.background = await attempt(async () => {
  const created = await client.responses.create({ model: 'slow', input: prompt, background: true });
  const done = await until(created.id, (r) => r.status !== 'queued' && r.status !== 'in_progress');
  const all = await collect(await client.responses.retrieve(created.id, { stream: true }));
  const after = await collect(await client.responses.retrieve(created.id,
    { stream: true, starting_after: 5 }));
  return { created: summary(created), done: summary(done), all, after };
});

// Resumed while it runs (held): the replay, then, released, the live events to the end.
result.live = await attempt(async () => {
  const created = await client.responses.create({ model: 'held', input: heldPrompt,
    background: true });
  const part = await until(created.id, (r) => r.output_text.length > 0);
  const after = await collect(await client.responses.retrieve(created.id,
    { stream: true, starting_after: 3 }), () => writeFileSync(gate, ''));
  return { part: summary(part), after };
});

result.cancel = await attempt(async () => {
  const created = await client.responses.create({ model: 'stall', input: prompt, background: true });
  const part = await until(created.id, (r) => r.output_text.length > 0);
  const cancelled = await client.responses.cancel(created.id);
  const later = await client.responses.retrieve(created.id);
  return { part: summary(part), cancelled: summary(cancelled), later: summary(later) };
});

result.previous = await attempt(async () => summary(await client.responses.create({
  model: 'demo', input: prompt, previous_response_id: 'resp_none',
})));

// The Vercel AI SDK's default provider: openai(id) is the Responses API.
result.ai = await attempt(async () => {
  let failure = null;
  const pieces = [];
  const res = streamText({
    model: vercel('demo'), prompt, maxRetries: 0,
    abortSignal: AbortSignal.timeout(TIMEOUT),
    onError: ({ error }) => { failure = error; },
  });
  for await (const t of res.textStream) pieces.push(t);
  if (failure) throw failure;      // streamText reports errors here, not by throwing
  return { pieces, finishReason: await res.finishReason, usage: await res.usage };
});

result.ai_generate = await attempt(async () => {
  const res = await generateText({ model: vercel('demo'), prompt, maxRetries: 0,
    abortSignal: AbortSignal.timeout(TIMEOUT) });
  return { text: res.text, finishReason: res.finishReason, usage: res.usage };
});

process.stdout.write(JSON.stringify(result) + '\n');
