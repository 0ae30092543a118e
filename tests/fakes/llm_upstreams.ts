import type { IncomingMessage, ServerResponse } from 'node:http'
import { startHttpFake, type HttpFake } from '#tests/fakes/http_fake'

/**
 * What the next requests to a fake upstream do. Each call takes the next
 * entry of `script` (then repeats `fallback`): answer normally, fail with a
 * status, stall past the client's timeout, or break a stream after N chunks.
 */
export type Step =
  | {
      kind: 'ok'
      reply?: string
      delayMs?: number
      chunkDelayMs?: number
      /** Usage to report instead of the counted one (e.g. exactly the gateway's estimate). */
      usage?: { prompt: number; completion: number }
      /** Answer with these function calls (arguments as JSON text) instead of text. */
      toolCalls?: Array<{ name: string; arguments: string }>
      /** /v1/responses only: fail after the text, with the provider's own words in the events. */
      failAfterText?: boolean
      /**
       * /v1/chat/completions streams only: send the first chunk, then wait for
       * this before the rest, so a test can look at a reply that is certainly
       * still being written.
       */
      holdAfterFirstChunk?: Promise<unknown>
    }
  | { kind: 'status'; status: number; retryAfter?: number }
  | { kind: 'stall'; ms: number }
  | { kind: 'break_stream'; afterChunks: number; chunkDelayMs?: number }

export interface FakeUpstream extends HttpFake {
  script: Step[]
  fallback: Step
  /** Requests whose client went away before the answer was complete. */
  aborted: number
  chatCalls(): Array<Record<string, unknown>>
  /** The models its model list names. */
  models: string[]
  /** When set, the model list answers 401 to any other bearer key. */
  expectedKey: string | null
}

/** The fake's own error text: tests check it never reaches Atrium's clients. */
export const UPSTREAM_ONLY_TEXT = 'upstream-internal-detail-7f3a'

const words = (reply: string) => reply.split(/(?<= )/)
const tokenCount = (text: string) => Math.max(1, Math.ceil(text.length / 4))

function nextStep(fake: FakeUpstream): Step {
  return fake.script.shift() ?? fake.fallback
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function trackAbort(fake: FakeUpstream, response: ServerResponse) {
  response.once('close', () => {
    if (!response.writableFinished) fake.aborted++
  })
}

/** Handles the failure steps; returns the ok step when the request should be answered. */
async function failOrProceed(
  step: Step,
  response: ServerResponse,
  json: (status: number, body: unknown) => void
) {
  if (step.kind === 'status') {
    if (step.retryAfter !== undefined) response.setHeader('retry-after', String(step.retryAfter))
    json(step.status, {
      error: { message: `fake failure ${step.status}`, type: 'server_error', code: null },
    })
    return null
  }
  if (step.kind === 'stall') {
    await sleep(step.ms)
    if (!response.writableEnded) json(500, { error: { message: 'stalled', type: 'server_error' } })
    return null
  }
  return step
}

function jsonWriter(response: ServerResponse) {
  return (status: number, body: unknown) => {
    if (response.writableEnded || response.destroyed) return
    response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
  }
}

/** Speaks OpenAI's chat completions and embeddings API under /v1. */
export async function startOpenAiFake(): Promise<FakeUpstream> {
  const fake = (await startHttpFake({
    'GET /v1/models': (request, response) => {
      const json = jsonWriter(response)
      if (fake.expectedKey && request.headers.authorization !== `Bearer ${fake.expectedKey}`) {
        return json(401, {
          error: {
            message: `Incorrect API key (${UPSTREAM_ONLY_TEXT})`,
            type: 'invalid_request_error',
          },
        })
      }
      json(200, {
        object: 'list',
        data: fake.models.map((id) => ({ id, object: 'model', created: 0, owned_by: 'fake' })),
      })
    },
    'POST /v1/chat/completions': async (request, response, body) =>
      chat(fake, request, response, body),
    'POST /v1/responses': async (_request, response, body) => responses(fake, response, body),
    'POST /v1/embeddings': async (_request, response, body) => {
      const json = jsonWriter(response)
      const step = await failOrProceed(nextStep(fake), response, json)
      if (!step) return
      const input = JSON.parse(body).input
      const inputs: string[] = Array.isArray(input) ? input : [input]
      json(200, {
        object: 'list',
        model: JSON.parse(body).model,
        data: inputs.map((text, index) => ({
          object: 'embedding',
          index,
          embedding: embeddingOf(text),
        })),
        usage: {
          prompt_tokens: inputs.reduce((sum, text) => sum + tokenCount(text), 0),
          total_tokens: 0,
        },
      })
    },
  })) as FakeUpstream
  fake.script = []
  fake.fallback = { kind: 'ok' }
  fake.aborted = 0
  fake.models = ['fake-model-1', 'fake-embed-1']
  fake.expectedKey = null
  fake.chatCalls = () =>
    fake.requests
      .filter((entry) => entry.path === '/v1/chat/completions')
      .map((entry) => JSON.parse(entry.body))
  return fake
}

/** The requests an OpenAI fake's own /v1/responses received. */
export const responsesCalls = (fake: FakeUpstream) =>
  fake.requests
    .filter((entry) => entry.path === '/v1/responses')
    .map((entry) => JSON.parse(entry.body) as Record<string, unknown>)

async function chat(
  fake: FakeUpstream,
  _request: IncomingMessage,
  response: ServerResponse,
  body: string
) {
  trackAbort(fake, response)
  const json = jsonWriter(response)
  const step = nextStep(fake)
  const proceed = await failOrProceed(step, response, json)
  if (!proceed && step.kind !== 'break_stream') return
  const params = JSON.parse(body)
  const reply = (proceed?.kind === 'ok' && proceed.reply) || 'Hello from the fake upstream.'
  const reported = proceed?.kind === 'ok' ? proceed.usage : undefined
  const promptTokens = reported?.prompt ?? JSON.stringify(params.messages).length >> 2
  const completionTokens = reported?.completion ?? tokenCount(reply)
  if (proceed?.kind === 'ok' && proceed.delayMs) await sleep(proceed.delayMs)
  const base = { id: 'chatcmpl-fake', created: 1_700_000_000, model: params.model }
  const toolCalls = proceed?.kind === 'ok' ? proceed.toolCalls : undefined
  if (!params.stream) {
    json(200, {
      ...base,
      object: 'chat.completion',
      choices: [
        {
          index: 0,
          message: toolCalls
            ? {
                role: 'assistant',
                content: null,
                tool_calls: toolCalls.map((call, index) => ({
                  id: `call_fake_${index}`,
                  type: 'function',
                  function: call,
                })),
              }
            : { role: 'assistant', content: reply },
          finish_reason: toolCalls ? 'tool_calls' : 'stop',
          logprobs: null,
        },
      ],
      usage: {
        prompt_tokens: promptTokens,
        completion_tokens: completionTokens,
        total_tokens: promptTokens + completionTokens,
      },
    })
    return
  }
  response.writeHead(200, { 'content-type': 'text/event-stream' })
  const send = (payload: unknown) => response.write(`data: ${JSON.stringify(payload)}\n\n`)
  if (toolCalls) {
    streamToolCalls(send, base, toolCalls)
    return finishStream(response, send, base, params, 'tool_calls', promptTokens, completionTokens)
  }
  const parts = words(reply)
  for (const [index, part] of parts.entries()) {
    if (step.kind === 'break_stream' && index === step.afterChunks) {
      response.destroy()
      return
    }
    if (response.destroyed) return
    send({
      ...base,
      object: 'chat.completion.chunk',
      choices: [
        {
          index: 0,
          delta: index === 0 ? { role: 'assistant', content: part } : { content: part },
          finish_reason: null,
        },
      ],
      usage: null,
    })
    if (index === 0 && proceed?.kind === 'ok' && proceed.holdAfterFirstChunk) {
      await proceed.holdAfterFirstChunk
    }
    const delay =
      proceed?.kind === 'ok'
        ? proceed.chunkDelayMs
        : step.kind === 'break_stream'
          ? step.chunkDelayMs
          : 0
    if (delay) await sleep(delay)
  }
  finishStream(response, send, base, params, 'stop', promptTokens, completionTokens)
}

/** Each call: its id and name first, then its arguments in three fragments, as OpenAI streams them. */
function streamToolCalls(
  send: (payload: unknown) => void,
  base: Record<string, unknown>,
  calls: Array<{ name: string; arguments: string }>
) {
  const chunk = (delta: unknown) =>
    send({
      ...base,
      object: 'chat.completion.chunk',
      choices: [{ index: 0, delta, finish_reason: null }],
      usage: null,
    })
  chunk({ role: 'assistant', content: null })
  for (const [index, call] of calls.entries()) {
    chunk({
      tool_calls: [
        {
          index,
          id: `call_fake_${index}`,
          type: 'function',
          function: { name: call.name, arguments: '' },
        },
      ],
    })
    const third = Math.ceil(call.arguments.length / 3)
    for (let start = 0; start < call.arguments.length; start += third) {
      chunk({
        tool_calls: [
          { index, function: { arguments: call.arguments.slice(start, start + third) } },
        ],
      })
    }
  }
}

function finishStream(
  response: ServerResponse,
  send: (payload: unknown) => void,
  base: Record<string, unknown>,
  params: { stream_options?: { include_usage?: boolean } },
  finishReason: string,
  promptTokens: number,
  completionTokens: number
) {
  send({
    ...base,
    object: 'chat.completion.chunk',
    choices: [{ index: 0, delta: {}, finish_reason: finishReason }],
    usage: null,
  })
  if (params.stream_options?.include_usage) {
    send({
      ...base,
      object: 'chat.completion.chunk',
      choices: [],
      usage: {
        prompt_tokens: promptTokens,
        completion_tokens: completionTokens,
        total_tokens: promptTokens + completionTokens,
      },
    })
  }
  response.end('data: [DONE]\n\n')
}

/** OpenAI's own Responses API, for providers set to pass /v1/responses through. */
async function responses(fake: FakeUpstream, response: ServerResponse, body: string) {
  trackAbort(fake, response)
  const json = jsonWriter(response)
  const step = await failOrProceed(nextStep(fake), response, json)
  if (!step || step.kind !== 'ok') return
  const params = JSON.parse(body)
  const reply = step.reply || 'Hello from the fake Responses API.'
  const usage = {
    input_tokens: step.usage?.prompt ?? JSON.stringify(params.input).length >> 2,
    output_tokens: step.usage?.completion ?? tokenCount(reply),
    total_tokens: 0,
  }
  usage.total_tokens = usage.input_tokens + usage.output_tokens
  const message = {
    type: 'message',
    id: 'msg_upstream_1',
    status: 'completed',
    role: 'assistant',
    content: [{ type: 'output_text', text: reply, annotations: [] }],
  }
  const base = {
    id: 'resp_upstream_1',
    object: 'response',
    created_at: 1_700_000_000,
    model: params.model,
    tools: params.tools ?? [],
    store: params.store ?? true,
  }
  if (!params.stream) {
    json(200, { ...base, status: 'completed', error: null, output: [message], usage })
    return
  }
  response.writeHead(200, { 'content-type': 'text/event-stream' })
  let sequence = 0
  const send = (type: string, fields: Record<string, unknown>) =>
    response.write(
      `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: sequence++, ...fields })}\n\n`
    )
  send('response.created', { response: { ...base, status: 'in_progress', output: [] } })
  send('response.output_item.added', {
    output_index: 0,
    item: { ...message, status: 'in_progress', content: [] },
  })
  for (const part of words(reply)) {
    send('response.output_text.delta', {
      item_id: message.id,
      output_index: 0,
      content_index: 0,
      delta: part,
    })
    if (step.chunkDelayMs) await sleep(step.chunkDelayMs)
  }
  if (step.failAfterText) {
    send('error', { code: 'server_error', message: `overloaded (${UPSTREAM_ONLY_TEXT})` })
    send('response.failed', {
      response: {
        ...base,
        status: 'failed',
        error: { code: 'server_error', message: `overloaded (${UPSTREAM_ONLY_TEXT})` },
        output: [],
      },
    })
    response.end()
    return
  }
  send('response.output_text.done', { item_id: message.id, output_index: 0, text: reply })
  send('response.output_item.done', { output_index: 0, item: message })
  send('response.completed', {
    response: { ...base, status: 'completed', error: null, output: [message], usage },
  })
  response.end()
}

/** A deterministic small vector per text, so tests can tell inputs apart. */
export function embeddingOf(text: string) {
  return [text.length, text.charCodeAt(0) ?? 0, 1]
}

/** Speaks Ollama's /api/chat (JSON or NDJSON stream) and /api/embed. */
export async function startOllamaChatFake(): Promise<FakeUpstream> {
  const fake = (await startHttpFake({
    'GET /api/version': (_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"version":"0.12.0"}')
    },
    'GET /api/tags': (_request, response) => {
      const models = fake.models.map((name) => ({
        name,
        model: name,
        modified_at: '2026-01-01T00:00:00Z',
        size: 1,
        digest: 'sha256:0',
        details: {},
      }))
      response
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ models }))
    },
    'POST /api/chat': async (_request, response, body) => {
      trackAbort(fake, response)
      const json = jsonWriter(response)
      const step = nextStep(fake)
      const proceed = await failOrProceed(step, response, json)
      if (!proceed && step.kind !== 'break_stream') return
      const params = JSON.parse(body)
      const reply = (proceed?.kind === 'ok' && proceed.reply) || 'Hello from the fake Ollama.'
      const done = {
        model: params.model,
        created_at: new Date().toISOString(),
        message: { role: 'assistant', content: '' },
        done: true,
        done_reason: 'stop',
        prompt_eval_count: 12,
        eval_count: tokenCount(reply),
      }
      const toolCalls =
        proceed?.kind === 'ok' && proceed.toolCalls
          ? proceed.toolCalls.map((call) => ({
              function: { name: call.name, arguments: JSON.parse(call.arguments) },
            }))
          : undefined
      if (params.stream === false) {
        json(200, {
          ...done,
          message: toolCalls
            ? { role: 'assistant', content: '', tool_calls: toolCalls }
            : { role: 'assistant', content: reply },
        })
        return
      }
      response.writeHead(200, { 'content-type': 'application/x-ndjson' })
      if (toolCalls) {
        response.write(
          `${JSON.stringify({ model: params.model, created_at: new Date().toISOString(), message: { role: 'assistant', content: '', tool_calls: toolCalls }, done: false })}\n`
        )
        response.end(`${JSON.stringify(done)}\n`)
        return
      }
      for (const [index, part] of words(reply).entries()) {
        if (step.kind === 'break_stream' && index === step.afterChunks) {
          response.destroy()
          return
        }
        response.write(
          `${JSON.stringify({ model: params.model, created_at: new Date().toISOString(), message: { role: 'assistant', content: part }, done: false })}\n`
        )
        if (proceed?.kind === 'ok' && proceed.chunkDelayMs) await sleep(proceed.chunkDelayMs)
      }
      response.end(`${JSON.stringify(done)}\n`)
    },
    'POST /api/embed': async (_request, response, body) => {
      const json = jsonWriter(response)
      const step = await failOrProceed(nextStep(fake), response, json)
      if (!step) return
      const input = JSON.parse(body).input
      const inputs: string[] = Array.isArray(input) ? input : [input]
      json(200, {
        model: JSON.parse(body).model,
        embeddings: inputs.map(embeddingOf),
        prompt_eval_count: 7,
      })
    },
  })) as FakeUpstream
  fake.script = []
  fake.fallback = { kind: 'ok' }
  fake.aborted = 0
  fake.models = ['fake-model-1', 'fake-embed-1']
  fake.expectedKey = null
  fake.chatCalls = () =>
    fake.requests
      .filter((entry) => entry.path === '/api/chat')
      .map((entry) => JSON.parse(entry.body))
  return fake
}
