// fields.mjs: the official OpenAI Node SDK sending what an agent sends —
// response_format, tools and a tool round trip (an assistant's tool_calls
// with content null, then the tool message) — through chatstream, and
// printing what it sent and what it got as one JSON object, for
// tests/t_sdk_fields.py.
//
// Usage: node fields.mjs BASE_URL
// Models it expects chatstream to serve: rec (an openai backend whose
// upstream records what it receives), demo (the demo backend).
// Every call has a timeout and no retries, so the script always ends.
// SPDX-License-Identifier: ISC
import OpenAI, { APIError } from 'openai';

const [baseURL] = process.argv.slice(2);
if (!baseURL) {
  console.error('usage: node fields.mjs BASE_URL');
  process.exit(2);
}
const client = new OpenAI({ baseURL, apiKey: 'unused', maxRetries: 0, timeout: 20000 });

const question = 'What is the weather in Paris?';
const tools = [{
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'The weather in a city',
    parameters: {
      type: 'object', properties: { city: { type: 'string' } },
      required: ['city'], additionalProperties: false,
    },
    strict: true,
  },
}];
const history = [
  { role: 'developer', content: 'Use the tools.' },
  { role: 'user', content: question },
  {
    role: 'assistant', content: null,
    tool_calls: [{ id: 'call_1', type: 'function',
      function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
  },
  { role: 'tool', tool_call_id: 'call_1', content: '{"c":18,"sky":"clear"}' },
];
const responseFormat = {
  type: 'json_schema',
  json_schema: {
    name: 'weather', strict: true,
    schema: {
      type: 'object', properties: { summary: { type: 'string' } },
      required: ['summary'], additionalProperties: false,
    },
  },
};

function errInfo(e) {
  return {
    name: e?.constructor?.name ?? typeof e,
    isAPIError: e instanceof APIError,
    status: e?.status ?? null,
    message: String(e?.message ?? e),
    param: e?.param ?? null,
    code: e?.code ?? null,
  };
}

async function streamed(params) {
  const out = { text: '', finish_reason: null, error: null };
  try {
    const stream = await client.chat.completions.create({ ...params, stream: true });
    for await (const chunk of stream) {
      for (const c of chunk.choices ?? []) {
        if (typeof c.delta?.content === 'string') out.text += c.delta.content;
        if (c.finish_reason) out.finish_reason = c.finish_reason;
      }
    }
  } catch (e) {
    out.error = errInfo(e);
  }
  return out;
}

async function whole(params) {
  try {
    const c = await client.chat.completions.create(params);
    return { text: c.choices?.[0]?.message?.content ?? null,
      finish_reason: c.choices?.[0]?.finish_reason ?? null, error: null };
  } catch (e) {
    return { error: errInfo(e) };
  }
}

const agent = {
  model: 'rec', messages: history, tools, tool_choice: 'auto',
  parallel_tool_calls: false, response_format: responseFormat, seed: 7, user: 'sdk-user',
};
const jsonMode = {
  model: 'rec', messages: [{ role: 'user', content: question }],
  response_format: { type: 'json_object' }, max_completion_tokens: 64,
};
const image = {
  model: 'demo',
  messages: [{ role: 'user', content: [
    { type: 'text', text: 'What is in this picture?' },
    { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
  ] }],
};

const round = { model: 'demo', messages: history, tools };

const result = {
  sdkVersion: (await import('openai/version')).VERSION,
  sent: { agent, jsonMode },
  sentRound: round,
  agent: await streamed(agent),
  jsonMode: await whole(jsonMode),
  demoRound: await whole(round),
  demoImage: await whole(image),
};
console.log(JSON.stringify(result));
