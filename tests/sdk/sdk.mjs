// sdk.mjs: drives chatstream's OpenAI-compatible endpoints with the official
// OpenAI Node SDK (npm "openai", the version pinned in package.json) and
// prints what it got as one JSON object on stdout, for tests/t_sdk.py.
//
// Usage: node sdk.mjs BASE_URL PROMPT
//   BASE_URL  e.g. http://127.0.0.1:8080/chat/v1 (chatstream mounted at /chat/)
// Models it expects chatstream to serve: demo (fast), stall (stalls with
// heartbeats), fail (fails mid-stream), slow (paced, for the abort case),
// slower (longer than a heartbeat), slowfail (fails after a heartbeat),
// ctx (an upstream that answers 400 context_length_exceeded).
// Every call has a timeout and no retries, so the script always ends.
// SPDX-License-Identifier: ISC
import OpenAI, { APIError } from 'openai';

const [baseURL, prompt] = process.argv.slice(2);
if (!baseURL || prompt === undefined) {
  console.error('usage: node sdk.mjs BASE_URL PROMPT');
  process.exit(2);
}
const client = new OpenAI({ baseURL, apiKey: 'unused', maxRetries: 0, timeout: 20000 });
const messages = [
  { role: 'system', content: 'be brief' },
  { role: 'user', content: prompt },
];

function errInfo(e) {
  return {
    name: e?.constructor?.name ?? typeof e,
    isAPIError: e instanceof APIError,
    status: e?.status ?? null,
    message: String(e?.message ?? e),
    code: e?.code ?? null,
    type: e?.type ?? null,
    error: e?.error ?? null,
  };
}

// A streamed completion; stopAfter > 0 aborts the request after that many
// content chunks (the reader leaving mid-stream).
async function streamed(model, stopAfter = 0) {
  const out = {
    text: '', chunks: 0, contentChunks: 0, finish_reason: null, usage: null,
    ids: [], models: [], objects: [], roles: [], error: null, aborted: false,
    gaps_ms: [],
  };
  let last = Date.now();
  try {
    const stream = await client.chat.completions.create({
      model, messages, stream: true, stream_options: { include_usage: true },
    });
    for await (const chunk of stream) {
      const now = Date.now();
      out.gaps_ms.push(now - last);
      last = now;
      out.chunks++;
      if (!out.ids.includes(chunk.id)) out.ids.push(chunk.id);
      if (!out.models.includes(chunk.model)) out.models.push(chunk.model);
      if (!out.objects.includes(chunk.object)) out.objects.push(chunk.object);
      for (const c of chunk.choices ?? []) {
        if (c.delta?.role) out.roles.push(c.delta.role);
        if (typeof c.delta?.content === 'string' && c.delta.content !== '') {
          out.text += c.delta.content;
          out.contentChunks++;
        }
        if (c.finish_reason) out.finish_reason = c.finish_reason;
      }
      if (chunk.usage) out.usage = chunk.usage;
      if (stopAfter > 0 && out.contentChunks >= stopAfter) {
        stream.controller.abort();
        out.aborted = true;
        break;
      }
    }
  } catch (e) {
    out.error = errInfo(e);
  }
  return out;
}

async function whole(model) {
  try {
    const c = await client.chat.completions.create({ model, messages });
    return {
      object: c.object,
      model: c.model,
      id: c.id,
      text: c.choices?.[0]?.message?.content ?? null,
      role: c.choices?.[0]?.message?.role ?? null,
      finish_reason: c.choices?.[0]?.finish_reason ?? null,
      usage: c.usage ?? null,
      bodyError: c.error ?? null,
      hasChoices: Array.isArray(c.choices),
      requestId: c._request_id ?? null,
      systemFingerprint: c.system_fingerprint ?? null,
      error: null,
    };
  } catch (e) {
    return { error: errInfo(e) };
  }
}

async function models() {
  try {
    const ids = [];
    for await (const m of client.models.list()) ids.push({ id: m.id, object: m.object });
    return { models: ids, error: null };
  } catch (e) {
    return { error: errInfo(e) };
  }
}

async function retrieve(id) {
  try {
    const m = await client.models.retrieve(id);
    return { id: m.id, object: m.object, created: m.created, owned_by: m.owned_by,
      requestId: m._request_id ?? null, error: null };
  } catch (e) {
    return { error: errInfo(e) };
  }
}

// An upstream's 400 (model "ctx", when chatstream serves it) with the SDK's
// default retries: a BadRequestError is not retried.
async function upstream400() {
  const retrying = new OpenAI({ baseURL, apiKey: 'unused', timeout: 20000 });
  try {
    await retrying.chat.completions.create({ model: 'ctx', messages });
    return { error: null };
  } catch (e) {
    return { error: errInfo(e) };
  }
}

const result = {
  sdkVersion: (await import('openai/version')).VERSION,
  node: process.version,
  stream: await streamed('demo'),
  whole: await whole('demo'),
  unknownStream: await streamed('no-such-model'),
  unknownWhole: await whole('no-such-model'),
  heartbeat: await streamed('stall'),
  failStream: await streamed('fail'),
  failWhole: await whole('fail'),
  abort: await streamed('slow', 3),
  slowWhole: await whole('slower'),
  slowFailWhole: await whole('slowfail'),
  models: await models(),
  retrieve: await retrieve('demo'),
  retrieveUnknown: await retrieve('no-such-model'),
  upstream400: await upstream400(),
};
process.stdout.write(JSON.stringify(result) + '\n');
