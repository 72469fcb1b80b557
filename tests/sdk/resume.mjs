// resume.mjs: the OpenAI Node SDK (npm "openai", pinned in package.json)
// streaming chatstream's /v1/chat/completions, cut off mid-way, then resumed
// from GET /streams/<X-Stream-Id> with the last event id it saw, for
// tests/t_resume_openai.py.  Prints what it got as one JSON object on stdout.
//
// How a client does it with the SDK alone:
//   - the stream's id: create(...).withResponse() gives the HTTP response,
//     whose X-Stream-Id header names the stream;
//   - the last event id: the SDK hands out chunks, not SSE ids, so the
//     client's `fetch` (the SDK's `fetch` option) passes the body through a
//     small SSE reader that notes the id of each event it completes;
//   - the rest: GET <mount>/streams/<id> with Last-Event-ID, read by the
//     SDK's own Stream.fromSSEResponse(): the same chunks, then [DONE].
//
// Usage:
//   node resume.mjs cut BASE_URL PROMPT MODEL ROUNDS MOUNT...
//     ROUNDS streams POSTed to BASE_URL (e.g. http://127.0.0.1:PORT/chat/v1,
//     through a proxy that cuts them); round i resumes at MOUNT[i % n]
//     (e.g. http://127.0.0.1:PORT/chat, another chatstream process).
//   node resume.mjs read MOUNT STREAM_ID [LAST_EVENT_ID]
//     GET MOUNT/streams/STREAM_ID read by the SDK: its chunks, or its error.
// Every call has a timeout and no retries, so the script always ends.
// SPDX-License-Identifier: ISC
import OpenAI, { APIError } from 'openai';
import { Stream } from 'openai/streaming';

const TIMEOUT = 30000;

function errInfo(e) {
  if (!e) return null;
  return {
    name: e?.constructor?.name ?? typeof e,
    isAPIError: e instanceof APIError,
    message: String(e?.message ?? e),
    code: e?.code ?? null,
    type: e?.type ?? null,
  };
}

// A fetch that notes the id of every SSE event whose blank line has arrived
// (the events the SDK has been handed), in tap.lastId.
function tappingFetch(tap) {
  return async (url, init) => {
    const res = await fetch(url, init);
    if (!res.body) return res;
    const decoder = new TextDecoder();
    let line = '', pending = null;
    const scan = (text) => {
      for (const ch of text) {
        if (ch !== '\n' && ch !== '\r') {
          line += ch;
          continue;
        }
        if (line === '') {
          if (pending !== null) tap.lastId = pending;   // the event is complete
        } else if (line.startsWith('id:')) {
          pending = line.slice(3).replace(/^ /, '');
        }
        line = '';
      }
    };
    const body = res.body.pipeThrough(new TransformStream({
      transform(chunk, ctl) {
        scan(decoder.decode(chunk, { stream: true }));
        ctl.enqueue(chunk);
      },
    }));
    return new Response(body, { status: res.status, statusText: res.statusText,
      headers: res.headers });
  };
}

// Reads chunks (an async iterable of chat.completion.chunk) into out.
async function drain(chunks, out) {
  try {
    for await (const chunk of chunks) {
      out.chunks++;
      for (const c of chunk.choices ?? []) {
        if (typeof c.delta?.content === 'string') out.text += c.delta.content;
        if (c.finish_reason) out.finish_reason = c.finish_reason;
      }
      if (chunk.usage) out.usage = chunk.usage;
    }
  } catch (e) {
    out.error = errInfo(e);
  }
  return out;
}

// GET mount/streams/id (after lastId) through the SDK's own SSE reader.
async function read(client, mount, id, lastId) {
  const out = { status: null, text: '', chunks: 0, finish_reason: null, usage: null,
    error: null };
  const headers = { Accept: 'text/event-stream' };
  if (lastId) headers['Last-Event-ID'] = lastId;
  try {
    const res = await fetch(`${mount}/streams/${id}`,
      { headers, signal: AbortSignal.timeout(TIMEOUT) });
    out.status = res.status;
    if (res.status !== 200) return out;
    return await drain(Stream.fromSSEResponse(res, new AbortController(), client), out);
  } catch (e) {
    out.error = errInfo(e);
    return out;
  }
}

async function cutAndResume(baseURL, prompt, model, rounds, mounts) {
  const out = [];
  for (let i = 0; i < rounds; i++) {
    const tap = { lastId: null };
    const client = new OpenAI({ baseURL, apiKey: 'unused', maxRetries: 0, timeout: TIMEOUT,
      fetch: tappingFetch(tap) });
    const round = { streamId: null, lastId: null, mount: mounts[i % mounts.length] };
    const first = { text: '', chunks: 0, finish_reason: null, usage: null, error: null };
    try {
      const { data, response } = await client.chat.completions.create({
        model, stream: true, stream_options: { include_usage: true },
        messages: [{ role: 'user', content: prompt }],
      }).withResponse();
      round.streamId = response.headers.get('x-stream-id');
      await drain(data, first);
    } catch (e) {
      first.error = errInfo(e);
    }
    round.first = first;
    round.lastId = tap.lastId;
    round.rest = round.streamId ? await read(client, round.mount, round.streamId, tap.lastId)
      : null;
    out.push(round);
  }
  return out;
}

const [cmd, ...args] = process.argv.slice(2);
const reader = new OpenAI({ baseURL: 'http://127.0.0.1/unused', apiKey: 'unused' });
let result;
if (cmd === 'cut' && args.length >= 5) {
  const [baseURL, prompt, model, rounds, ...mounts] = args;
  result = { rounds: await cutAndResume(baseURL, prompt, model, Number(rounds), mounts) };
} else if (cmd === 'read' && args.length >= 2) {
  result = await read(reader, args[0], args[1], args[2]);
} else {
  console.error('usage: node resume.mjs cut BASE_URL PROMPT MODEL ROUNDS MOUNT... | ' +
    'read MOUNT STREAM_ID [LAST_EVENT_ID]');
  process.exit(2);
}
process.stdout.write(JSON.stringify(result) + '\n');
