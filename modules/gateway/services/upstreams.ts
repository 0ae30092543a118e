import OpenAI, { APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai'
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionCreateParamsNonStreaming,
} from 'openai/resources/chat/completions'
import { Ollama, type Message as OllamaMessage } from 'ollama'
import { providerApiKey, type ProviderRow } from '#modules/gateway/services/providers'

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
    readonly retryAfterMs: number | null = null
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
}

/** Cached per provider row version, so a changed URL or key takes effect at once. */
const clients = new Map<string, { version: number; upstream: Upstream }>()

export function upstreamFor(provider: ProviderRow): Upstream {
  const version = new Date(provider.updated_at).getTime()
  const cached = clients.get(provider.id)
  if (cached && cached.version === version) return cached.upstream
  const upstream =
    provider.kind === 'ollama'
      ? new OllamaUpstream(provider)
      : new OpenAiCompatibleUpstream(provider)
  clients.set(provider.id, { version, upstream })
  return upstream
}

function translateError(error: unknown): UpstreamError {
  if (error instanceof UpstreamError) return error
  if (error instanceof APIUserAbortError) return new UpstreamError('aborted', null, false)
  if (error instanceof APIConnectionTimeoutError)
    return new UpstreamError('upstream timed out', 504, true)
  if (error instanceof APIError) {
    const status = error.status ?? null
    const retryAfter = Number(error.headers?.get?.('retry-after'))
    return new UpstreamError(
      error.message,
      status ?? 502,
      status === null || status === 429 || status >= 500,
      Number.isFinite(retryAfter) ? retryAfter * 1000 : null
    )
  }
  const name = (error as Error)?.name
  if (name === 'TimeoutError') return new UpstreamError('upstream timed out', 504, true)
  if (name === 'AbortError') return new UpstreamError('aborted', null, false)
  const status = (error as { status_code?: number }).status_code
  if (typeof status === 'number') {
    return new UpstreamError((error as Error).message, status, status === 429 || status >= 500)
  }
  return new UpstreamError(`upstream unreachable: ${(error as Error)?.message}`, 502, true)
}

class OpenAiCompatibleUpstream implements Upstream {
  #client: OpenAI

  constructor(provider: ProviderRow) {
    this.#client = new OpenAI({
      baseURL: provider.base_url,
      apiKey: providerApiKey(provider) ?? 'none',
      // Retries, fallbacks and timeouts are the router's: one attempt per call here.
      maxRetries: 0,
      timeout: provider.timeout_ms,
    })
  }

  async chat(model: string, params: ChatParams, signal: AbortSignal) {
    try {
      return await this.#client.chat.completions.create(
        { ...params, model, stream: false },
        { signal }
      )
    } catch (error) {
      throw translateError(error)
    }
  }

  async *chatStream(model: string, params: ChatParams, signal: AbortSignal) {
    let stream
    try {
      stream = await this.#client.chat.completions.create(
        { ...params, model, stream: true, stream_options: { include_usage: true } },
        { signal }
      )
    } catch (error) {
      throw translateError(error)
    }
    try {
      for await (const chunk of stream) yield chunk
    } catch (error) {
      throw translateError(error)
    }
  }

  async embed(model: string, input: string | string[], signal: AbortSignal) {
    try {
      const response = await this.#client.embeddings.create({ model, input }, { signal })
      return {
        embeddings: response.data.map((entry) => entry.embedding),
        promptTokens: response.usage?.prompt_tokens ?? 0,
      }
    } catch (error) {
      throw translateError(error)
    }
  }
}

/** Ollama's /api/chat and /api/embed, translated to OpenAI's shapes. */
class OllamaUpstream implements Upstream {
  constructor(private provider: ProviderRow) {}

  /** A client whose every request carries the caller's signal and the provider's timeout. */
  #client(signal: AbortSignal) {
    const timeout = AbortSignal.timeout(this.provider.timeout_ms)
    return new Ollama({
      host: this.provider.base_url,
      fetch: (input, init) => fetch(input, { ...init, signal: AbortSignal.any([signal, timeout]) }),
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
