import { request, type Dispatcher } from 'undici'
import { isOutboundRefusal, outboundDispatcher, outboundFetch } from '#app/http/outbound'
import { readEvents } from '#app/http/sse'
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionCreateParamsNonStreaming,
} from 'openai/resources/chat/completions'
import { Ollama, type Message as OllamaMessage } from 'ollama'
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
}

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
        dispatcher: outboundDispatcher(this.provider.timeoutMs),
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
    const guardedFetch = outboundFetch(this.provider.timeoutMs)
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
    const stop = typeof params.stop === 'string' ? [params.stop] : (params.stop ?? undefined)
    const options: Record<string, unknown> = {
      num_predict: params.max_completion_tokens ?? params.max_tokens,
      temperature: params.temperature,
      top_p: params.top_p,
      seed: params.seed,
      stop,
    }
    for (const [name, value] of Object.entries(options)) {
      if (value === null || value === undefined) delete options[name]
    }
    return { messages: params.messages.map(toOllamaMessage), options }
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
      return {
        id: `chatcmpl-${crypto.randomUUID()}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model,
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: response.message.content, refusal: null },
            finish_reason: finishReason(response.done_reason),
            logprobs: null,
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
      finish: string | null = null
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
          logprobs: null,
        },
      ],
    })
    let first = true
    try {
      for await (const part of stream) {
        if (part.message?.content || first) {
          yield chunk(
            first
              ? { role: 'assistant', content: part.message?.content ?? '' }
              : { content: part.message.content }
          )
          first = false
        }
        if (part.done) {
          yield chunk({}, finishReason(part.done_reason))
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

function toOllamaMessage(message: ChatParams['messages'][number]): OllamaMessage {
  const content =
    typeof message.content === 'string'
      ? message.content
      : Array.isArray(message.content)
        ? message.content
            .map((part) => ('text' in part ? part.text : ''))
            .filter(Boolean)
            .join('\n')
        : ''
  return { role: message.role === 'developer' ? 'system' : message.role, content }
}
