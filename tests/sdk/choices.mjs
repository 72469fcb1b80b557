// choices.mjs: n choices through chatstream's /v1 endpoint with the OpenAI
// Node SDK (the version pinned in package.json): the streaming helper's
// finalChatCompletion(), the raw stream read chunk by chunk, and a
// non-streamed completion.  Prints what the SDK made of each choice as one
// JSON object on stdout, for tests/t_relay_choices.py.
//
// Usage: node choices.mjs BASE_URL MODEL N
// Every call has a timeout and no retries, so the script always ends.
// SPDX-License-Identifier: ISC
import OpenAI from 'openai';

const [baseURL, model, nArg] = process.argv.slice(2);
if (!baseURL || !model || !nArg) {
  console.error('usage: node choices.mjs BASE_URL MODEL N');
  process.exit(2);
}
const n = Number(nArg);
const openai = new OpenAI({ baseURL, apiKey: 'unused', maxRetries: 0, timeout: 30000 });
const messages = [{ role: 'user', content: 'give me n answers' }];

function errText(e) {
  return `${e?.constructor?.name ?? typeof e}: ${String(e?.message ?? e)}`;
}

async function attempt(fn) {
  try {
    return await fn();
  } catch (e) {
    return { error: errText(e) };
  }
}

// A choice of a chat.completion as the tests compare it.
function choiceOf(c) {
  const m = c.message ?? {};
  return {
    index: c.index, role: m.role ?? null, content: m.content ?? null,
    reasoning_content: m.reasoning_content ?? null,
    calls: (m.tool_calls ?? []).map((t) => ({
      id: t.id, name: t.function?.name, arguments: t.function?.arguments,
    })),
    logprobs: c.logprobs?.content ?? null, finish: c.finish_reason,
  };
}

// The streaming helper assembles one message per choice.
async function helper() {
  const stream = openai.chat.completions.stream({
    model, messages, n, stream_options: { include_usage: true },
  });
  const done = await stream.finalChatCompletion();
  return { choices: done.choices.map(choiceOf), usage: done.usage ?? null };
}

// The raw stream: every chunk's choices as they come.
async function raw() {
  const stream = await openai.chat.completions.create({ model, messages, n, stream: true });
  const text = {}, order = [];
  for await (const chunk of stream) {
    for (const c of chunk.choices) {
      order.push(c.index);
      text[c.index] = (text[c.index] ?? '') + (c.delta?.content ?? '');
    }
  }
  return { text, order };
}

async function whole() {
  const r = await openai.chat.completions.create({ model, messages, n });
  return { choices: r.choices.map(choiceOf), usage: r.usage ?? null };
}

const out = {
  helper: await attempt(helper),
  raw: await attempt(raw),
  whole: await attempt(whole),
};
console.log(JSON.stringify(out));
