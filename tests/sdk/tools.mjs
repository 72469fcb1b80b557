// tools.mjs: tool calling through chatstream's /v1 endpoint with three JS
// clients (the versions pinned in package.json), each running the whole loop
// a real application runs: the model calls a tool, the client runs it and
// sends the result back, the model answers.  Prints what each client saw as
// one JSON object on stdout, for tests/t_sdk_tools.py.
//   - the OpenAI Node SDK: chat.completions.create (call, `tool` message,
//     answer), the streaming helper's finalChatCompletion(), and runTools();
//   - LangChain JS: ChatOpenAI.bindTools(), invoke() and stream();
//   - the Vercel AI SDK's chat provider (openai.chat(id)): streamText with a
//     tool that executes, two steps;
//   - the same through the Responses API (/v1/responses): the OpenAI SDK's
//     responses.create (function_call item, function_call_output back,
//     answer) and responses.stream(), and the AI SDK's default provider
//     (openai(id)) with streamText, two steps.
//
// Usage: node tools.mjs BASE_URL PROMPT MODEL
// Every call has a timeout and no retries, so the script always ends.
// SPDX-License-Identifier: ISC
import OpenAI from 'openai';
import { jsonSchema, stepCountIs, streamText, tool } from 'ai';
import { createOpenAI } from '@ai-sdk/openai';
import { ChatOpenAI } from '@langchain/openai';
import { HumanMessage, ToolMessage } from '@langchain/core/messages';

const [baseURL, prompt, model] = process.argv.slice(2);
if (!baseURL || prompt === undefined || !model) {
  console.error('usage: node tools.mjs BASE_URL PROMPT MODEL');
  process.exit(2);
}
const TIMEOUT = 30000;
const PARAMS = {
  type: 'object', properties: { city: { type: 'string' } }, required: ['city'],
};
const TOOL = {
  type: 'function',
  function: { name: 'get_weather', description: 'The weather in a city', parameters: PARAMS },
};
// The same tool in the Responses API's shape.
const RTOOL = { type: 'function', name: 'get_weather', description: 'The weather in a city',
  parameters: PARAMS };
// What the tool returns for a city: the answer must quote it.
const weather = (city) => ({ city, temperature: 21, sky: 'clear' });

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

const openai = new OpenAI({ baseURL, apiKey: 'unused', maxRetries: 0, timeout: TIMEOUT });

// The OpenAI SDK, by hand: call, tool message, answer.
async function openaiRoundTrip() {
  const messages = [{ role: 'user', content: prompt }];
  const first = await openai.chat.completions.create({ model, messages, tools: [TOOL] });
  const m = first.choices[0].message;
  const call = m.tool_calls?.[0];
  const result = JSON.stringify(weather(JSON.parse(call.function.arguments).city));
  messages.push(m, { role: 'tool', tool_call_id: call.id, content: result });
  const second = await openai.chat.completions.create({ model, messages, tools: [TOOL] });
  return {
    finish1: first.choices[0].finish_reason, content1: m.content,
    reasoning1: m.reasoning_content ?? null,
    call: { id: call.id, type: call.type, name: call.function.name, arguments: call.function.arguments },
    result, finish2: second.choices[0].finish_reason, answer: second.choices[0].message.content,
  };
}

// The SDK's streaming helper: argument deltas as they come, the call assembled.
async function openaiStream() {
  const stream = openai.chat.completions.stream({
    model, messages: [{ role: 'user', content: prompt }], tools: [TOOL],
  });
  let deltas = 0, joined = '';
  stream.on('tool_calls.function.arguments.delta', (e) => { deltas++; joined += e.arguments_delta; });
  const done = await stream.finalChatCompletion();
  const call = done.choices[0].message.tool_calls?.[0];
  return {
    deltas, joined, finish: done.choices[0].finish_reason,
    call: call && { id: call.id, name: call.function.name, arguments: call.function.arguments },
  };
}

// runTools(): the SDK runs the whole loop itself.
async function openaiRunTools() {
  const calls = [];
  const runner = openai.chat.completions.runTools({
    model, messages: [{ role: 'user', content: prompt }],
    tools: [{
      type: 'function',
      function: {
        name: 'get_weather', parameters: PARAMS, parse: JSON.parse,
        function: (args) => { calls.push(args); return weather(args.city); },
      },
    }],
  });
  const answer = await runner.finalContent();
  return { calls, answer, requests: runner.messages.filter((m) => m.role === 'assistant').length };
}

// LangChain JS: bindTools, invoke (call), ToolMessage, invoke (answer); and stream().
async function langchain() {
  const llm = new ChatOpenAI({
    model, apiKey: 'unused', configuration: { baseURL }, maxRetries: 0, timeout: TIMEOUT,
  }).bindTools([TOOL]);
  const ai = await llm.invoke([new HumanMessage(prompt)]);
  const call = ai.tool_calls?.[0];
  const result = JSON.stringify(weather(call.args.city));
  const answer = await llm.invoke([new HumanMessage(prompt), ai,
    new ToolMessage({ content: result, tool_call_id: call.id })]);
  let acc, chunks = 0;
  for await (const c of await llm.stream([new HumanMessage(prompt)])) {
    acc = acc ? acc.concat(c) : c;
    if (c.tool_call_chunks?.length) chunks++;
  }
  const streamed = acc?.tool_calls?.[0];
  return {
    call: { id: call.id, name: call.name, args: call.args }, result, answer: answer.content,
    reasoning: ai.additional_kwargs?.reasoning_content ?? null,
    streamedReasoning: acc?.additional_kwargs?.reasoning_content ?? null,
    streamed: streamed && { id: streamed.id, name: streamed.name, args: streamed.args },
    chunks,
  };
}

// The Responses API by hand: a function_call item, its output back, the answer.
async function responsesRoundTrip() {
  const input = [{ role: 'user', content: prompt }];
  const first = await openai.responses.create({ model, input, tools: [RTOOL] });
  const call = first.output.find((it) => it.type === 'function_call');
  const result = JSON.stringify(weather(JSON.parse(call.arguments).city));
  // What the model gave goes back whole (reasoning, the call), as the docs show.
  input.push(...first.output, { type: 'function_call_output', call_id: call.call_id, output: result });
  const second = await openai.responses.create({ model, input, tools: [RTOOL] });
  return {
    status1: first.status, types1: first.output.map((it) => it.type),
    reasoning1: first.output.find((it) => it.type === 'reasoning')?.content?.[0]?.text ?? null,
    call: { call_id: call.call_id, name: call.name, arguments: call.arguments },
    result, status2: second.status, answer: second.output_text,
  };
}

// The Responses stream helper: argument deltas as they come, the call assembled.
async function responsesStream() {
  const stream = openai.responses.stream({ model, input: prompt, tools: [RTOOL] });
  let deltas = 0, joined = '';
  stream.on('response.function_call_arguments.delta', (e) => { deltas++; joined += e.delta; });
  const done = await stream.finalResponse();
  const call = done.output.find((it) => it.type === 'function_call');
  return { deltas, joined, call: call && { name: call.name, arguments: call.arguments } };
}

// The Vercel AI SDK: streamText with a tool it runs, two steps; its chat
// provider, or its default one (the Responses API) with responses set.
async function vercelRun(responses) {
  const provider = createOpenAI({ baseURL, apiKey: 'unused' });
  let failure = null;
  const r = streamText({
    model: responses ? provider(model) : provider.chat(model), prompt, maxRetries: 0,
    abortSignal: AbortSignal.timeout(TIMEOUT),
    tools: {
      get_weather: tool({
        description: 'The weather in a city', inputSchema: jsonSchema(PARAMS),
        execute: async ({ city }) => weather(city),
      }),
    },
    stopWhen: stepCountIs(2),
    onError: ({ error }) => { failure = error; },
  });
  const out = { inputDeltas: 0, input: '', calls: [], results: [], text: '', finishes: [] };
  for await (const p of r.fullStream) {
    if (p.type === 'tool-input-delta') { out.inputDeltas++; out.input += p.delta; }
    else if (p.type === 'tool-call') out.calls.push({ id: p.toolCallId, name: p.toolName, input: p.input });
    else if (p.type === 'tool-result') out.results.push(p.output);
    else if (p.type === 'text-delta') out.text += p.text;
    else if (p.type === 'finish-step') out.finishes.push(p.finishReason);
  }
  if (failure) throw failure;
  return out;
}
const vercel = () => vercelRun(false);
const vercelResponses = () => vercelRun(true);

const result = { node: process.version };
for (const [name, fn] of Object.entries({ openaiRoundTrip, openaiStream,
  openaiRunTools, langchain, vercel, responsesRoundTrip, responsesStream, vercelResponses }))
  result[name] = await attempt(fn);
process.stdout.write(JSON.stringify(result) + '\n');
