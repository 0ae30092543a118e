import { request, type Dispatcher } from 'undici'
import { isOutboundRefusal, outboundDispatcher, outboundFetch } from '#app/http/outbound'
import { readEvents } from '#app/http/sse'
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionCreateParamsNonStreaming,
} from 'openai/resources/chat/completions'
import {
  Ollama,
  type ChatRequest,
  type Message as OllamaMessage,
  type Tool as OllamaTool,
  type ToolCall as OllamaToolCall,
} from 'ollama'
import type Provider from '#modules/gateway/models/provider'

/** The chat request as clients send it, minus `model` and `stream` (the gateway sets those). */
export type ChatParams = Omit<ChatCompletionCreateParamsNonStreaming, 'model' | 'stream'>

export interface Usage {
  prompt_tokens: number
  completion_tokens: number
  total_tokens: number
}

/**
 * A failed upstream call. `retryable` (429, 5xx, timeouts, connection
 * errors) lets the router retry and fall back; anything else (a 400 from the
 * upstream) goes back to the client.
 */
export class UpstreamError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
    readonly retryable: boolean,
    readonly retryAfterMs: number | null = null,
    /** The transport's error code when there was no answer (ECONNREFUSED, ENOTFOUND, …). */
    readonly code: string | null = null,
    /** The status the upstream itself answered, when it answered. */
    readonly upstreamStatus: number | null = null
  ) {
    super(message)
  }
}

export interface Upstream {
  chat(model: string, params: ChatParams, signal: AbortSignal): Promise<ChatCompletion>
  /** OpenAI-shaped chunks; the last one carries `usage` when the upstream reports it. */
  chatStream(
    model: string,
    params: ChatParams,
    signal: AbortSignal
  ): AsyncIterable<ChatCompletionChunk>
  embed(
    model: string,
    input: string | string[],
    signal: AbortSignal
  ): Promise<{ embeddings: number[][]; promptTokens: number }>
  /** The model names the upstream offers (`GET /models`, Ollama's `/api/tags`). */
  listModels(signal: AbortSignal): Promise<string[]>
  /** Request parameters this upstream has no equivalent for (not sent; named to the client). */
  unsupportedParams(params: ChatParams): string[]
  /** Its own /responses (providers set to `responsesApi: native`), answered as it answers. */
  responses(model: string, body: ResponsesBody, signal: AbortSignal): Promise<ResponsesBody>
  responsesStream(
    model: string,
    body: ResponsesBody,
    signal: AbortSignal
  ): AsyncIterable<ResponsesEvent>
}

/** A Responses API request or answer as the client or provider sent it (passed through). */
export type ResponsesBody = Record<string, unknown>
export interface ResponsesEvent {
  event: string | undefined
  data: ResponsesBody
}

/**
 * Providers the operator configured in the environment (OLLAMA_HOST,
 * OPENAI_BASE_URL): their URLs are not tenant-supplied, so the address
 * policy for tenant URLs does not apply to them.
 */
export const operatorProviders = new WeakSet<Provider>()

const outboundOptionsOf = (provider: Provider) => ({
  operatorConfigured: operatorProviders.has(provider),
})

/** Cached per provider row version, so a changed URL or key takes effect at once. */
const clients = new Map<string, { version: number; upstream: Upstream }>()

export function upstreamFor(provider: Provider): Upstream {
  const version = provider.updatedAt.toMillis()
  const cached = clients.get(provider.id)
  if (cached && cached.version === version) return cached.upstream
  const upstream =
    provider.kind === 'ollama'
      ? new OllamaUpstream(provider)
      : new OpenAiCompatibleUpstream(provider)
  clients.set(provider.id, { version, upstream })
  return upstream
}

/** The address policy refused the provider's host; another deployment may still answer. */
function refused() {
  return new UpstreamError('upstream refused: destination not allowed', 502, true, null, 'REFUSED')
}

/** Ollama client errors (ResponseError carries status_code), timeouts and aborts. */
function translateError(error: unknown): UpstreamError {
  if (error instanceof UpstreamError) return error
  if (isOutboundRefusal(error)) return refused()
  const name = (error as Error)?.name
  // fetch wraps undici's errors: the silence timeouts arrive as the cause's code.
  const causeCode = (error as { cause?: { code?: string } })?.cause?.code
  if (
    name === 'TimeoutError' ||
    causeCode === 'UND_ERR_HEADERS_TIMEOUT' ||
    causeCode === 'UND_ERR_BODY_TIMEOUT'
  ) {
    return new UpstreamError('upstream timed out', 504, true)
  }
  if (name === 'AbortError') return new UpstreamError('aborted', null, false)
  const status = (error as { status_code?: number }).status_code
  if (typeof status === 'number') {
    return new UpstreamError(
      (error as Error).message,
      status,
      status === 429 || status >= 500,
      null,
      null,
      status
    )
  }
  return new UpstreamError(
    `upstream unreachable: ${(error as Error)?.message}`,
    502,
    true,
    null,
    causeCode ?? (error as { code?: string })?.code ?? null
  )
}

/*
 * Upstreams are tenant-supplied URLs: every call goes through the kernel's
 * outbound pool (address policy at connect time, no redirects), one
 * keep-alive pool per origin for the process — undici's request API, not
 * fetch or the openai SDK, on the hot path (bench:gateway showed a fifth of
 * the CPU per request going to those).
 */

/** OpenAI's chat completions and embeddings API of any compatible server. */
class OpenAiCompatibleUpstream implements Upstream {
  #base: string
  #headers: Record<string, string>

  constructor(private provider: Provider) {
    this.#base = provider.baseUrl.replace(/\/+$/, '')
    const apiKey = provider.apiKey
    this.#headers = {
      'content-type': 'application/json',
      'accept': 'application/json, text/event-stream',
      ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}),
    }
  }

  /** POSTs JSON; a non-2xx answer becomes an UpstreamError carrying its status and retry-after. */
  #post(path: string, body: unknown, signal: AbortSignal) {
    return this.#send('POST', path, body, signal)
  }

  async #send(method: 'GET' | 'POST', path: string, body: unknown, signal: AbortSignal) {
    let response: Dispatcher.ResponseData
    try {
      // The provider's timeout bounds the wait for the answer to start and every silence within
      // it, not the whole of a long stream.
      response = await request(`${this.#base}${path}`, {
        method,
        headers: this.#headers,
        body: method === 'POST' ? JSON.stringify(body) : undefined,
        signal,
        dispatcher: outboundDispatcher(this.provider.timeoutMs, outboundOptionsOf(this.provider)),
        headersTimeout: this.provider.timeoutMs,
        bodyTimeout: this.provider.timeoutMs,
      })
    } catch (error) {
      throw translateTransportError(error, signal)
    }
    if (response.statusCode >= 400) {
      const text = await response.body.text().catch(() => '')
      let message = text.slice(0, 300)
      try {
        message = JSON.parse(text)?.error?.message ?? message
      } catch {}
      const retryAfter = Number(response.headers['retry-after'])
      const status = response.statusCode
      throw new UpstreamError(
        `upstream answered ${status}: ${message}`,
        status,
        status === 429 || status >= 500,
        Number.isFinite(retryAfter) ? retryAfter * 1000 : null,
        null,
        status
      )
    }
    return { response }
  }

  async chat(model: string, params: ChatParams, signal: AbortSignal) {
    const { response } = await this.#post(
      '/chat/completions',
      { ...params, model, stream: false },
      signal
    )
    try {
      return (await response.body.json()) as ChatCompletion
    } catch (error) {
      throw translateTransportError(error, signal)
    }
  }

  async *chatStream(model: string, params: ChatParams, signal: AbortSignal) {
    const { response } = await this.#post(
      '/chat/completions',
      { ...params, model, stream: true, stream_options: { include_usage: true } },
      signal
    )
    try {
      for await (const { data } of readEvents(response.body)) {
        if (!data) continue
        if (data === '[DONE]') return
        const chunk = JSON.parse(data)
        if (chunk.error)
          throw new UpstreamError(chunk.error.message ?? 'upstream stream error', 502, true)
        yield chunk as ChatCompletionChunk
      }
    } catch (error) {
      throw translateTransportError(error, signal)
    } finally {
      // Leaving early (client gone, error): close the upstream stream too.
      response.body.destroy()
    }
  }

  /** An OpenAI-compatible server gets every parameter as sent; it refuses what it lacks. */
  unsupportedParams() {
    return []
  }

  async responses(model: string, body: ResponsesBody, signal: AbortSignal) {
    const { response } = await this.#post('/responses', { ...body, model, stream: false }, signal)
    try {
      return (await response.body.json()) as ResponsesBody
    } catch (error) {
      throw translateTransportError(error, signal)
    }
  }

  async *responsesStream(model: string, body: ResponsesBody, signal: AbortSignal) {
    const { response } = await this.#post('/responses', { ...body, model, stream: true }, signal)
    try {
      for await (const { event, data } of readEvents(response.body)) {
        if (!data || data === '[DONE]') continue
        yield { event, data: JSON.parse(data) as ResponsesBody } satisfies ResponsesEvent
      }
    } catch (error) {
      throw translateTransportError(error, signal)
    } finally {
      response.body.destroy()
    }
  }

  async listModels(signal: AbortSignal) {
    const { response } = await this.#send('GET', '/models', undefined, signal)
    try {
      const answer = (await response.body.json()) as { data?: Array<{ id?: unknown }> }
      return (answer.data ?? []).map((entry) => String(entry.id))
    } catch (error) {
      throw translateTransportError(error, signal)
    }
  }

  async embed(model: string, input: string | string[], signal: AbortSignal) {
    const { response } = await this.#post('/embeddings', { model, input }, signal)
    try {
      const answer = (await response.body.json()) as {
        data: Array<{ embedding: number[] }>
        usage?: { prompt_tokens?: number }
      }
      return {
        embeddings: answer.data.map((entry) => entry.embedding),
        promptTokens: answer.usage?.prompt_tokens ?? 0,
      }
    } catch (error) {
      throw translateTransportError(error, signal)
    }
  }
}

/** Connection failures and timeouts are retryable; the caller going away is not. */
function translateTransportError(error: unknown, signal: AbortSignal): UpstreamError {
  if (error instanceof UpstreamError) return error
  if (signal.aborted) return new UpstreamError('aborted', null, false)
  if (isOutboundRefusal(error)) return refused()
  const name = (error as Error)?.name
  const code = (error as { code?: string })?.code
  if (
    name === 'TimeoutError' ||
    name === 'AbortError' ||
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT'
  ) {
    return new UpstreamError('upstream timed out', 504, true)
  }
  return new UpstreamError(
    `upstream unreachable: ${(error as Error)?.message}`,
    502,
    true,
    null,
    code ?? null
  )
}

/** Ollama's /api/chat and /api/embed, translated to OpenAI's shapes. */
class OllamaUpstream implements Upstream {
  constructor(private provider: Provider) {}

  /**
   * A client whose every request carries the caller's signal, through the
   * outbound pool, where the provider's timeout bounds each silence (the wait
   * for the answer, then every gap between chunks) — a long answer that keeps
   * streaming is not cut.
   */
  #client(signal: AbortSignal) {
    const guardedFetch = outboundFetch(this.provider.timeoutMs, outboundOptionsOf(this.provider))
    return new Ollama({
      host: this.provider.baseUrl,
      fetch: (input, init) =>
        guardedFetch(input, {
          ...init,
          signal: init?.signal ? AbortSignal.any([signal, init.signal]) : signal,
        }),
    })
  }

  #request(params: ChatParams) {
    const sent = params as ChatParams & Record<string, unknown>
    const stop = typeof params.stop === 'string' ? [params.stop] : (params.stop ?? undefined)
    const options: Record<string, unknown> = {
      num_predict: params.max_completion_tokens ?? params.max_tokens,
      temperature: params.temperature,
      top_p: params.top_p,
      seed: params.seed,
      stop,
      presence_penalty: params.presence_penalty,
      frequency_penalty: params.frequency_penalty,
    }
    // Sampling options other servers also take (top_k, min_p, num_ctx, …) are Ollama options.
    for (const name of OLLAMA_OPTIONS) if (name in sent) options[name] = sent[name]
    for (const [name, value] of Object.entries(options)) {
      if (value === null || value === undefined) delete options[name]
    }
    const ollamaRequest: Omit<ChatRequest, 'model' | 'stream'> = {
      messages: toOllamaMessages(params.messages),
      options,
    }
    const tools = ollamaTools(params)
    if (tools) ollamaRequest.tools = tools
    const format = ollamaFormat(params.response_format)
    if (format) ollamaRequest.format = format
    const think = ollamaThink(sent.reasoning_effort)
    if (think !== undefined) ollamaRequest.think = think
    if (sent.logprobs === true) {
      ollamaRequest.logprobs = true
      if (typeof sent.top_logprobs === 'number') ollamaRequest.top_logprobs = sent.top_logprobs
    }
    return ollamaRequest
  }

  // Never called: a provider is native only when OpenAI-compatible (checked when stored).
  responses(): Promise<ResponsesBody> {
    throw new UpstreamError('Ollama has no Responses API', 400, false)
  }

  async *responsesStream(): AsyncGenerator<ResponsesEvent> {
    throw new UpstreamError('Ollama has no Responses API', 400, false)
  }

  unsupportedParams(params: ChatParams) {
    const sent = params as ChatParams & Record<string, unknown>
    return Object.keys(sent).filter((name) => {
      if (sent[name] === undefined || sent[name] === null) return false
      if (OLLAMA_MAPPED.has(name) || OLLAMA_OPTIONS.has(name)) return false
      // Ollama may call a tool or not; it cannot be told which, nor to call one at all.
      if (name === 'tool_choice') return sent.tool_choice !== 'auto' && sent.tool_choice !== 'none'
      // n is 1 (validated), response_format text is the default, a stream's usage always comes.
      if (name === 'n' || name === 'stream_options') return false
      return true
    })
  }

  async chat(model: string, params: ChatParams, signal: AbortSignal): Promise<ChatCompletion> {
    try {
      const response = await this.#client(signal).chat({
        model,
        ...this.#request(params),
        stream: false,
      })
      const promptTokens = response.prompt_eval_count ?? 0
      const completionTokens = response.eval_count ?? 0
      const toolCalls = openAiToolCalls(response.message.tool_calls)
      return {
        id: `chatcmpl-${crypto.randomUUID()}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model,
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              content: response.message.content,
              refusal: null,
              ...(toolCalls ? { tool_calls: toolCalls } : {}),
            },
            finish_reason: toolCalls ? 'tool_calls' : finishReason(response.done_reason),
            logprobs: openAiLogprobs(response.logprobs),
          },
        ],
        usage: {
          prompt_tokens: promptTokens,
          completion_tokens: completionTokens,
          total_tokens: promptTokens + completionTokens,
        },
      }
    } catch (error) {
      throw translateError(error)
    }
  }

  async *chatStream(model: string, params: ChatParams, signal: AbortSignal) {
    const id = `chatcmpl-${crypto.randomUUID()}`
    const created = Math.floor(Date.now() / 1000)
    let stream
    try {
      stream = await this.#client(signal).chat({ model, ...this.#request(params), stream: true })
    } catch (error) {
      throw translateError(error)
    }
    const chunk = (
      delta: ChatCompletionChunk.Choice.Delta,
      finish: string | null = null,
      logprobs: ChatCompletionChunk.Choice['logprobs'] = null
    ): ChatCompletionChunk => ({
      id,
      object: 'chat.completion.chunk',
      created,
      model,
      choices: [
        {
          index: 0,
          delta,
          finish_reason: finish as ChatCompletionChunk.Choice['finish_reason'],
          logprobs,
        },
      ],
    })
    let first = true
    let toolCallCount = 0
    try {
      for await (const part of stream) {
        if (part.message?.content || first) {
          const delta = first
            ? { role: 'assistant' as const, content: part.message?.content ?? '' }
            : { content: part.message.content }
          yield chunk(delta, null, openAiLogprobs(part.logprobs))
          first = false
        }
        // Ollama sends each tool call whole: one delta per call, its arguments in one fragment.
        const calls = openAiToolCalls(part.message?.tool_calls)
        for (const call of calls ?? []) {
          yield chunk({ tool_calls: [{ index: toolCallCount++, ...call }] })
        }
        if (part.done) {
          yield chunk({}, toolCallCount ? 'tool_calls' : finishReason(part.done_reason))
          const promptTokens = part.prompt_eval_count ?? 0
          const completionTokens = part.eval_count ?? 0
          yield {
            id,
            object: 'chat.completion.chunk',
            created,
            model,
            choices: [],
            usage: {
              prompt_tokens: promptTokens,
              completion_tokens: completionTokens,
              total_tokens: promptTokens + completionTokens,
            },
          } satisfies ChatCompletionChunk
        }
      }
    } catch (error) {
      throw translateError(error)
    }
  }

  async listModels(signal: AbortSignal) {
    try {
      const { models } = await this.#client(signal).list()
      return models.map((model) => model.name)
    } catch (error) {
      throw translateError(error)
    }
  }

  async embed(model: string, input: string | string[], signal: AbortSignal) {
    try {
      const response = await this.#client(signal).embed({ model, input })
      return { embeddings: response.embeddings, promptTokens: response.prompt_eval_count ?? 0 }
    } catch (error) {
      throw translateError(error)
    }
  }
}

function finishReason(reason: string | undefined): 'stop' | 'length' {
  return reason === 'length' ? 'length' : 'stop'
}

/** Ollama options a client may send as top-level parameters (vLLM and llama.cpp take them so too). */
const OLLAMA_OPTIONS = new Set([
  'top_k',
  'min_p',
  'typical_p',
  'repeat_penalty',
  'repeat_last_n',
  'num_ctx',
  'mirostat',
  'mirostat_eta',
  'mirostat_tau',
])

/** Parameters the Ollama request carries in its own terms. */
const OLLAMA_MAPPED = new Set([
  'messages',
  'max_tokens',
  'max_completion_tokens',
  'temperature',
  'top_p',
  'seed',
  'stop',
  'presence_penalty',
  'frequency_penalty',
  'tools',
  'response_format',
  'reasoning_effort',
  'logprobs',
  'top_logprobs',
])

function ollamaTools(params: ChatParams): OllamaTool[] | undefined {
  if (!params.tools?.length || params.tool_choice === 'none') return undefined
  const tools: OllamaTool[] = []
  for (const tool of params.tools) {
    if (tool.type !== 'function') continue
    tools.push({
      type: 'function',
      function: {
        name: tool.function.name,
        description: tool.function.description,
        parameters: tool.function.parameters as OllamaTool['function']['parameters'],
      },
    })
  }
  return tools.length ? tools : undefined
}

/** json_object → "json"; json_schema → the schema itself (Ollama's structured outputs). */
function ollamaFormat(format: ChatParams['response_format']): ChatRequest['format'] {
  if (!format) return undefined
  if (format.type === 'json_object') return 'json'
  if (format.type === 'json_schema') return format.json_schema.schema ?? 'json'
  return undefined
}

/** OpenAI's reasoning effort as Ollama's think: off for none/minimal, else the level. */
function ollamaThink(effort: unknown): ChatRequest['think'] {
  if (effort === 'none' || effort === 'minimal') return false
  if (effort === 'low' || effort === 'medium' || effort === 'high') return effort
  return undefined
}

/** Ollama's logprobs have OpenAI's per-token shape; OpenAI wraps them in `content`. */
function openAiLogprobs(logprobs: unknown): ChatCompletion.Choice['logprobs'] {
  if (!Array.isArray(logprobs) || !logprobs.length) return null
  return { content: logprobs, refusal: null }
}

function openAiToolCalls(calls: OllamaToolCall[] | undefined) {
  if (!calls?.length) return undefined
  return calls.map((call) => ({
    id: `call_${crypto.randomUUID().replaceAll('-', '').slice(0, 24)}`,
    type: 'function' as const,
    function: { name: call.function.name, arguments: JSON.stringify(call.function.arguments) },
  }))
}

function textOf(content: ChatParams['messages'][number]['content']) {
  if (typeof content === 'string') return content
  if (!Array.isArray(content)) return ''
  return content
    .map((part) => ('text' in part ? part.text : ''))
    .filter(Boolean)
    .join('\n')
}

/** Images as Ollama wants them: base64 without the data: prefix (remote URLs are not fetched). */
function imagesOf(content: ChatParams['messages'][number]['content']) {
  if (!Array.isArray(content)) return undefined
  const images: string[] = []
  for (const part of content) {
    if (part.type !== 'image_url') continue
    const match = /^data:[^;,]+;base64,(.*)$/s.exec(part.image_url.url)
    if (match) images.push(match[1])
  }
  return images.length ? images : undefined
}

/**
 * OpenAI messages as Ollama's: developer is system; an assistant's tool calls
 * carry parsed arguments; a tool result names its tool (Ollama matches by
 * name, OpenAI by call id).
 */
function toOllamaMessages(messages: ChatParams['messages']): OllamaMessage[] {
  const toolNames = new Map<string, string>()
  return messages.map((message) => {
    const converted: OllamaMessage = {
      role: message.role === 'developer' ? 'system' : message.role,
      content: textOf(message.content),
    }
    const images = imagesOf(message.content)
    if (images) converted.images = images
    if (message.role === 'assistant' && message.tool_calls?.length) {
      converted.tool_calls = []
      for (const call of message.tool_calls) {
        if (call.type !== 'function') continue
        toolNames.set(call.id, call.function.name)
        converted.tool_calls.push({
          function: {
            name: call.function.name,
            arguments: parseArguments(call.function.arguments),
          },
        })
      }
    }
    if (message.role === 'tool') {
      const name = toolNames.get(message.tool_call_id)
      if (name) converted.tool_name = name
    }
    return converted
  })
}

function parseArguments(text: string): Record<string, unknown> {
  try {
    const parsed = JSON.parse(text)
    return typeof parsed === 'object' && parsed !== null ? parsed : {}
  } catch {
    return {}
  }
}
