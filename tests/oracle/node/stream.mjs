// Streams chat completions and tool calls from `switchboard sim llm` with the
// official openai client and prints, as one JSON line, what the client
// assembled. Usage: node stream.mjs BASE_URL CUT_BASE_URL (each http://HOST:PORT).
import OpenAI from 'openai';

const [base, cutBase] = process.argv.slice(2);
const model = 'gpt-4o-mini';
const client = new OpenAI({ apiKey: 'sk-oracle', baseURL: `${base}/v1`, maxRetries: 2 });
const tools = [
  {
    type: 'function',
    function: {
      name: 'transfer_to_human',
      description: 'Hand the call to a person',
      parameters: { type: 'object', properties: { reason: { type: 'string' } } },
    },
  },
];
const out = {};

// 1. Text, streamed chunk by chunk, with the usage chunk.
{
  const stream = await client.chat.completions.create({
    model,
    stream: true,
    stream_options: { include_usage: true },
    messages: [{ role: 'user', content: '¿Cuál es el horario de apertura?' }],
  });
  let text = '';
  let chunks = 0;
  let usage = null;
  let finish = null;
  let ids = new Set();
  for await (const chunk of stream) {
    chunks++;
    ids.add(chunk.id);
    if (chunk.usage) usage = chunk.usage;
    for (const choice of chunk.choices) {
      text += choice.delta?.content ?? '';
      if (choice.finish_reason) finish = choice.finish_reason;
    }
  }
  out.text = { text, chunks, usage, finish, ids: ids.size };
}

// 2. A tool call, assembled by the client's stream helper from its deltas.
const toolMessages = [{ role: 'user', content: 'Can I talk to a human?' }];
{
  const runner = client.chat.completions.stream({ model, messages: toolMessages, tools });
  let deltas = 0;
  runner.on('chunk', () => deltas++);
  const final = await runner.finalChatCompletion();
  const message = final.choices[0].message;
  out.tool = {
    finish: final.choices[0].finish_reason,
    calls: message.tool_calls,
    deltas,
  };
  toolMessages.push({ role: 'assistant', content: null, tool_calls: message.tool_calls });
  toolMessages.push({
    role: 'tool',
    tool_call_id: message.tool_calls[0].id,
    content: JSON.stringify({ ok: true }),
  });
}

// 3. The tool's result goes back; the model answers in text.
{
  const runner = client.chat.completions.stream({ model, messages: toolMessages, tools });
  const final = await runner.finalChatCompletion();
  out.after_tool = {
    text: final.choices[0].message.content,
    finish: final.choices[0].finish_reason,
  };
}

// 4. Not streamed; the server's --fail-every makes this one a 429 the client retries.
{
  const started = Date.now();
  const completion = await client.chat.completions.create({
    model,
    messages: [{ role: 'user', content: 'opening hours' }],
  });
  out.retried = {
    text: completion.choices[0].message.content,
    object: completion.object,
    ms: Date.now() - started,
  };
}

// 5. A wrong key: the client's APIError with the server's error document.
try {
  const wrong = new OpenAI({ apiKey: 'sk-wrong', baseURL: `${base}/v1`, maxRetries: 0 });
  await wrong.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] });
  out.wrong_key = { error: null };
} catch (e) {
  out.wrong_key = { error: e.constructor.name, status: e.status, code: e.code, type: e.type };
}

// 6. A stream the server cuts after a few tokens: the client must report an error.
{
  const cut = new OpenAI({ apiKey: 'none', baseURL: `${cutBase}/v1`, maxRetries: 0 });
  let text = '';
  try {
    const stream = await cut.chat.completions.create({
      model,
      stream: true,
      messages: [{ role: 'user', content: 'uno dos tres cuatro cinco' }],
    });
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    out.cut = { text, error: null };
  } catch (e) {
    out.cut = { text, error: String(e && (e.message || e)) };
  }
}

console.log(JSON.stringify(out));
