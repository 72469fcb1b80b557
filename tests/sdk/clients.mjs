// clients.mjs: streams one chat completion from chatstream's /v1 endpoint
// through each of three JS clients (the OpenAI Node SDK, the Vercel AI SDK's
// chat-completions provider, LangChain JS's ChatOpenAI), the versions pinned
// in package.json, and prints the text each got as one JSON object on stdout,
// for tests/t_sdk_clients.py.
//
// Usage: node clients.mjs BASE_URL PROMPT MODEL...
//   BASE_URL  e.g. http://127.0.0.1:8080/chat/v1 (chatstream mounted at /chat/)
// Every call has a timeout and no retries, so the script always ends.
// SPDX-License-Identifier: ISC
import OpenAI from 'openai';
import { streamText } from 'ai';
import { createOpenAI } from '@ai-sdk/openai';
import { ChatOpenAI } from '@langchain/openai';

const [baseURL, prompt, ...models] = process.argv.slice(2);
if (!baseURL || prompt === undefined || models.length === 0) {
  console.error('usage: node clients.mjs BASE_URL PROMPT MODEL...');
  process.exit(2);
}
const TIMEOUT = 30000;

function errText(e) {
  return `${e?.constructor?.name ?? typeof e}: ${String(e?.message ?? e)}`;
}

// What one client made of a stream: its text, the pieces it came in, an error.
async function collect(pieces) {
  const out = { text: '', pieces: 0, error: null };
  try {
    for await (const p of pieces()) {
      if (typeof p === 'string' && p !== '') {
        out.text += p;
        out.pieces++;
      }
    }
  } catch (e) {
    out.error = errText(e);
  }
  return out;
}

const openai = new OpenAI({ baseURL, apiKey: 'unused', maxRetries: 0, timeout: TIMEOUT });
const vercel = createOpenAI({ baseURL, apiKey: 'unused' });

const clients = {
  // The official SDK: chunk.choices[0].delta.content.
  openai: (model) => async function* () {
    const stream = await openai.chat.completions.create({
      model, stream: true, messages: [{ role: 'user', content: prompt }],
    });
    for await (const chunk of stream) yield chunk.choices[0]?.delta?.content;
  },
  // The Vercel AI SDK through its chat-completions provider: textStream.
  ai: (model) => async function* () {
    let failure = null;
    const result = streamText({
      model: vercel.chat(model), prompt, maxRetries: 0,
      abortSignal: AbortSignal.timeout(TIMEOUT),
      onError: ({ error }) => { failure = error; },
    });
    for await (const t of result.textStream) yield t;
    if (failure) throw failure;     // streamText reports errors here, not by throwing
  },
  // LangChain JS: ChatOpenAI.stream(), one AIMessageChunk per token.
  langchain: (model) => async function* () {
    const llm = new ChatOpenAI({
      model, apiKey: 'unused', configuration: { baseURL }, maxRetries: 0, timeout: TIMEOUT,
    });
    for await (const chunk of await llm.stream([['user', prompt]])) yield chunk.content;
  },
};

const result = { node: process.version };
for (const [name, make] of Object.entries(clients)) {
  result[name] = {};
  for (const model of models) result[name][model] = await collect(make(model));
}
process.stdout.write(JSON.stringify(result) + '\n');
