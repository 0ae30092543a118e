import type { ChatCompletion, ChatCompletionChunk } from 'openai/resources/chat/completions'
import { ProblemException } from '#app/http/problem'
import {
  chat as routedChat,
  chatStream as routedChatStream,
  embed as routedEmbed,
  responses as routedResponses,
  responsesStream as routedResponsesStream,
  listModels,
  resolveModel,
  type Caller,
  type CallTiming,
  type ResolvedModel,
} from '#modules/gateway/services/gateway'
import type { Deployment } from '#modules/gateway/services/routing'
import {
  admit,
  DEFAULT_OUTPUT_RESERVE,
  estimatePrompt,
  estimateTokens,
  finish,
  type Outcome,
} from '#modules/gateway/services/metering'
import { countersFor, quotas, type Reservation } from '#modules/gateway/services/quotas'
import { userScopeId } from '#modules/gateway/services/metering'
import type { KeyLimits } from '#modules/gateway/services/keys'
import {
  upstreamFor,
  type ChatParams,
  type ResponsesBody,
  type ResponsesEvent,
} from '#modules/gateway/services/upstreams'

export interface CallOptions {
  signal?: AbortSignal
  requestId?: string | null
  /**
   * Quota already reserved by `gateway.reserve` (e.g. when a request was
   * accepted and the call runs later in the background, maybe in another
   * process): the call uses it instead of reserving again. Passing it hands
   * it over: the call settles it (to what was used, nothing when the call
   * failed) or releases it, whether it returns or throws — the caller must
   * not release it afterwards.
   */
  ticket?: Ticket
  /**
   * Request fields neither Atrium nor OpenAI's API knows (they are in the
   * params): the alias's `unknownParams` policy forwards, drops or refuses them.
   */
  unknownParams?: string[]
}

/**
 * A reservation made ahead of a call: plain data, so it can be stored with
 * background work and used by whichever process runs the call. Pass it to
 * exactly one call (which then accounts for it), or `release` it when no call
 * will happen — never both.
 */
export interface Ticket {
  alias: string
  reservation: Reservation
}

export interface Metered<T> {
  result: T
  /** x-ratelimit-* values of the call (what /v1 sends as headers). */
  rateLimit: Record<string, string>
  /** Time spent outside upstream calls, in ms (for x-atrium-overhead-ms). */
  overheadMs: number
  /** Parameters not sent to the provider (the alias's policy, or no equivalent upstream). */
  droppedParams: string[]
}

/**
 * The alias's policy for parameters nobody here knows: `reject` refuses the
 * request before anything is reserved; `drop` removes them and says so.
 */
function applyUnknownParamsPolicy<Params extends object>(
  model: ResolvedModel,
  params: Params,
  unknown: string[] | undefined
): { params: Params; dropped: string[] } {
  if (!unknown?.length || model.view.unknownParams === 'forward') return { params, dropped: [] }
  if (model.view.unknownParams === 'reject') {
    throw new ProblemException(
      400,
      'unknown_parameter',
      `Unrecognized request argument supplied: ${unknown.join(', ')} (the model ${model.alias} accepts only OpenAI's parameters)`,
      unknown.map((field) => ({ field, rule: 'unknown', message: 'Unrecognized argument' }))
    )
  }
  const kept = { ...params } as Record<string, unknown>
  for (const field of unknown) delete kept[field]
  return { params: kept as Params, dropped: [...unknown] }
}

/** What the deployment that answered could not take, after what the policy dropped. */
function droppedFor(dropped: string[], deployment: Deployment, params: ChatParams) {
  const more = upstreamFor(deployment.provider).unsupportedParams(params)
  return more.length ? [...dropped, ...more] : dropped
}

/** What a Responses request will need: its input and instructions, and max_output_tokens. */
function responsesEstimate(body: ResponsesBody) {
  const input = typeof body.input === 'string' ? body.input : JSON.stringify(body.input ?? '')
  const instructions = typeof body.instructions === 'string' ? body.instructions : ''
  const maxOutput = typeof body.max_output_tokens === 'number' ? body.max_output_tokens : null
  return {
    promptTokens: 3 + estimateTokens(input) + estimateTokens(instructions),
    maxOutput: maxOutput ?? DEFAULT_OUTPUT_RESERVE,
  }
}

/** A Responses answer's usage in chat terms, when it has one. */
function responsesUsage(response: ResponsesBody) {
  const usage = response.usage as { input_tokens?: unknown; output_tokens?: unknown } | undefined
  if (typeof usage?.input_tokens !== 'number' || typeof usage.output_tokens !== 'number')
    return null
  return { prompt_tokens: usage.input_tokens, completion_tokens: usage.output_tokens }
}

const PROVIDER_FAILED = 'The model provider failed to answer.'

/**
 * A passed-through event as the client sees it: the alias as `model`, and a
 * failure in Atrium's words — the provider's own can name its internals.
 */
function presentedEvent(data: ResponsesBody, alias: string): ResponsesBody {
  if (data.type === 'error') return { ...data, message: PROVIDER_FAILED }
  const response = data.response as ResponsesBody | undefined
  return response ? { ...data, response: presentedResponse(response, alias) } : data
}

function presentedResponse(response: ResponsesBody, alias: string): ResponsesBody {
  const error = response.error as { code?: unknown } | null | undefined
  return {
    ...response,
    model: alias,
    ...(error ? { error: { code: error.code ?? 'upstream_error', message: PROVIDER_FAILED } } : {}),
  }
}

const statusOf = (error: unknown) => (error instanceof ProblemException ? error.problemStatus : 500)

/**
 * The gateway as every caller uses it — /v1 for API keys, other modules
 * (chat, creator) for their users: resolve the alias the caller may use,
 * reserve quotas, route with fallbacks, settle to real usage and record it.
 */
async function prepare<P extends object | null>(
  caller: Caller,
  alias: string,
  estimate: { promptTokens: number; maxOutput: number },
  request: { params: P; unknownParams?: string[]; ticket?: Ticket }
) {
  const started = performance.now()
  const { ticket } = request
  let model
  let prepared: { params: P; dropped: string[] }
  try {
    if (ticket && ticket.alias !== alias)
      throw new Error('A ticket is for the model it was made for')
    model = await resolveModel(caller, alias)
    prepared = request.params
      ? applyUnknownParamsPolicy(model, request.params, request.unknownParams)
      : { params: request.params, dropped: [] }
  } catch (error) {
    // The model went away after the ticket was made, or the request is refused: nothing will
    // be used. A ticket passed in is the gateway's from then on, on this path as on every other.
    if (ticket) await quotas.release(ticket.reservation)
    throw error
  }
  const params = prepared.params
  const dropped = prepared.dropped
  const reservation = ticket?.reservation ?? (await admit(caller, model, estimate))
  const timing: CallTiming = { upstreamMs: 0 }
  const outcome = (
    kind: Outcome['kind'],
    status: number,
    deploymentId: string | null,
    tokens: [number, number],
    requestId: string | null | undefined
  ): Outcome => ({
    kind,
    deploymentId,
    promptTokens: tokens[0],
    completionTokens: tokens[1],
    status,
    latencyMs: performance.now() - started,
    upstreamMs: timing.upstreamMs,
    ttftMs: null,
    requestId: requestId ?? null,
  })
  const overheadMs = () => Math.max(0, performance.now() - started - timing.upstreamMs)
  return { started, model, params, dropped, reservation, timing, outcome, overheadMs }
}

/** What metering needs of a prepared call (see `prepare`). */
interface CallState {
  started: number
  model: ResolvedModel
  reservation: Reservation
  outcome: (
    kind: Outcome['kind'],
    status: number,
    deploymentId: string | null,
    tokens: [number, number],
    requestId: string | null | undefined
  ) => Outcome
}

interface TokenUsage {
  prompt_tokens: number
  completion_tokens: number
}

/**
 * Passes a stream's items on and settles the reservation when the iteration
 * ends — completed, failed or abandoned by the client: to the usage the
 * stream reported, or else to the prompt's estimate and the text produced.
 */
async function* settledStream<Item>(
  caller: Caller,
  call: CallState,
  stream: {
    deploymentId: string
    signal: AbortSignal
    promptEstimate: number
    requestId: string | null | undefined
    items: AsyncIterable<Item>
    /** The text an item adds and the usage it reports, if any. */
    read: (item: Item) => { text?: string | null; usage?: TokenUsage | null }
    present?: (item: Item) => Item
  }
): AsyncGenerator<Item> {
  let reported: TokenUsage | null = null
  let produced = ''
  let ttftMs: number | null = null
  let status = 200
  try {
    for await (const item of stream.items) {
      const { text, usage } = stream.read(item)
      if (text) {
        ttftMs ??= performance.now() - call.started
        produced += text
      }
      if (usage) reported = usage
      yield stream.present ? stream.present(item) : item
    }
  } catch (error) {
    status = stream.signal.aborted ? 499 : statusOf(error)
    throw error
  } finally {
    if (stream.signal.aborted && status === 200) status = 499
    const usage = reported ?? {
      prompt_tokens: stream.promptEstimate,
      completion_tokens: estimateTokens(produced),
    }
    finish(caller, call.model, call.reservation, {
      ...call.outcome(
        'chat',
        status,
        stream.deploymentId,
        [usage.prompt_tokens, usage.completion_tokens],
        stream.requestId
      ),
      ttftMs,
    })
  }
}

/**
 * Runs one whole (not streamed) upstream call of a prepared request and
 * settles its reservation: to the usage the call reports, or to nothing when
 * it fails (the failure is recorded with its status and rethrown).
 */
async function settledCall<Result>(
  caller: Caller,
  call: CallState & { reservation: Reservation; overheadMs: () => number },
  kind: Outcome['kind'],
  requestId: string | null | undefined,
  run: () => Promise<{ result: Result; deploymentId: string; tokens: [number, number] }>
): Promise<{ result: Result; overheadMs: number }> {
  let ran: Awaited<ReturnType<typeof run>>
  try {
    ran = await run()
  } catch (error) {
    finish(
      caller,
      call.model,
      call.reservation,
      call.outcome(kind, statusOf(error), null, [0, 0], requestId)
    )
    throw error
  }
  const overheadMs = call.overheadMs()
  // Outside the try: a call that succeeded is settled once, as a success, whatever follows.
  finish(
    caller,
    call.model,
    call.reservation,
    call.outcome(kind, 200, ran.deploymentId, ran.tokens, requestId)
  )
  return { result: ran.result, overheadMs }
}

/**
 * Opens an upstream stream; when no deployment could be opened, the
 * reservation is settled as that failure (nothing used) and the error rethrown.
 */
async function openedOrSettled<Opened>(
  caller: Caller,
  call: CallState & { reservation: Reservation },
  requestId: string | null | undefined,
  open: () => Promise<Opened>
): Promise<Opened> {
  try {
    return await open()
  } catch (error) {
    finish(
      caller,
      call.model,
      call.reservation,
      call.outcome('chat', statusOf(error), null, [0, 0], requestId)
    )
    throw error
  }
}

export const gateway = {
  listModels,

  /**
   * Reserves what a chat call will need (the prompt's estimate and its
   * max_tokens, or the default reserve) on every limited counter, now: throws
   * the 429 problem when a quota is spent, or 404/403 for the model. The
   * ticket is then passed to `chatStream`, which settles it to real usage.
   */
  async reserve(caller: Caller, request: ChatParams & { model: string }): Promise<Ticket> {
    const { model: alias, ...params } = request
    const model = await resolveModel(caller, alias)
    const reservation = await admit(caller, model, {
      promptTokens: estimatePrompt(params.messages),
      maxOutput: params.max_completion_tokens ?? params.max_tokens ?? DEFAULT_OUTPUT_RESERVE,
    })
    return { alias, reservation }
  },

  /**
   * Where a user's own counters stand in this tenant (limit, used, remaining,
   * reset) for the limits given; nothing is reserved.
   */
  userQuota(caller: { tenantId: string; userId: string }, limits: KeyLimits) {
    return quotas.peek(
      countersFor([{ scope: 'user', id: userScopeId(caller), limits }], { tokens: 0, costMicro: 0 })
    )
  },

  /** Gives a ticket's reservation back whole (the call never happened). */
  release(ticket: Ticket) {
    return quotas.release(ticket.reservation)
  },

  async chat(
    caller: Caller,
    request: ChatParams & { model: string },
    options: CallOptions = {}
  ): Promise<Metered<ChatCompletion>> {
    const { model: alias, ...params } = request
    const call = await prepare(
      caller,
      alias,
      {
        promptTokens: estimatePrompt(params.messages),
        maxOutput: params.max_completion_tokens ?? params.max_tokens ?? DEFAULT_OUTPUT_RESERVE,
      },
      { params, unknownParams: options.unknownParams }
    )
    const signal = options.signal ?? new AbortController().signal
    const { result, overheadMs } = await settledCall(
      caller,
      call,
      'chat',
      options.requestId,
      async () => {
        const { completion, usage, deployment } = await routedChat(
          call.model,
          call.params,
          signal,
          call.timing
        )
        return {
          result: { completion, deployment },
          deploymentId: deployment.id,
          tokens: [usage.prompt_tokens, usage.completion_tokens],
        }
      }
    )
    return {
      result: result.completion,
      rateLimit: call.reservation.headers,
      overheadMs,
      droppedParams: droppedFor(call.dropped, result.deployment, call.params),
    }
  },

  /**
   * Opens a stream (fallbacks happen before its first chunk). The chunks are
   * OpenAI's, with `model` set to the alias; the last has `usage`. Usage is
   * settled when the iteration ends — completed, failed or abandoned — and
   * only what was produced is charged.
   */
  async chatStream(
    caller: Caller,
    request: ChatParams & { model: string },
    options: CallOptions = {}
  ): Promise<Metered<AsyncGenerator<ChatCompletionChunk>>> {
    const { model: alias, ...params } = request
    const promptEstimate = estimatePrompt(params.messages)
    const call = await prepare(
      caller,
      alias,
      {
        promptTokens: promptEstimate,
        maxOutput: params.max_completion_tokens ?? params.max_tokens ?? DEFAULT_OUTPUT_RESERVE,
      },
      { params, unknownParams: options.unknownParams, ticket: options.ticket }
    )
    const signal = options.signal ?? new AbortController().signal
    const opened = await openedOrSettled(caller, call, options.requestId, () =>
      routedChatStream(call.model, call.params, signal, call.timing)
    )
    const overheadMs = call.overheadMs()
    const { chunks, deployment } = opened
    const metered = settledStream(caller, call, {
      deploymentId: deployment.id,
      signal,
      promptEstimate,
      requestId: options.requestId,
      items: chunks,
      read: (chunk) => ({ text: chunk.choices[0]?.delta?.content, usage: chunk.usage }),
    })
    return {
      result: metered,
      rateLimit: call.reservation.headers,
      overheadMs,
      droppedParams: droppedFor(call.dropped, deployment, call.params),
    }
  },

  /**
   * Whether /v1/responses is passed through for this alias: every deployment's
   * provider has its own Responses API (`responsesApi: native`). With any that
   * does not, requests are translated for all of them, so a fallback never
   * changes what the client gets.
   */
  async speaksResponses(caller: Caller, alias: string) {
    const model = await resolveModel(caller, alias)
    return model.deployments.every((deployment) => deployment.provider.responsesApi === 'native')
  },

  /** A Responses request passed through to the provider's own /responses, metered as chat. */
  async responses(
    caller: Caller,
    request: ResponsesBody & { model: string },
    options: CallOptions = {}
  ): Promise<Metered<ResponsesBody>> {
    const { model: alias, ...body } = request
    const call = await prepare(caller, alias, responsesEstimate(body), {
      params: body,
      unknownParams: options.unknownParams,
    })
    const signal = options.signal ?? new AbortController().signal
    const { result, overheadMs } = await settledCall(
      caller,
      call,
      'chat',
      options.requestId,
      async () => {
        const { answer, deployment } = await routedResponses(
          call.model,
          call.params,
          signal,
          call.timing
        )
        const usage = responsesUsage(answer) ?? { prompt_tokens: 0, completion_tokens: 0 }
        return {
          result: presentedResponse(answer, alias),
          deploymentId: deployment.id,
          tokens: [usage.prompt_tokens, usage.completion_tokens],
        }
      }
    )
    return {
      result,
      rateLimit: call.reservation.headers,
      overheadMs,
      droppedParams: call.dropped,
    }
  },

  /**
   * The provider's own Responses stream, event by event, with `model` set to
   * the alias and failure messages in Atrium's words; settled to the usage of
   * its final event (or what was produced) when the iteration ends.
   */
  async responsesStream(
    caller: Caller,
    request: ResponsesBody & { model: string },
    options: CallOptions = {}
  ): Promise<Metered<AsyncGenerator<ResponsesEvent>>> {
    const { model: alias, ...body } = request
    const estimate = responsesEstimate(body)
    const call = await prepare(caller, alias, estimate, {
      params: body,
      unknownParams: options.unknownParams,
    })
    const signal = options.signal ?? new AbortController().signal
    const opened = await openedOrSettled(caller, call, options.requestId, () =>
      routedResponsesStream(call.model, call.params, signal, call.timing)
    )
    const overheadMs = call.overheadMs()
    const { events, deployment } = opened
    const metered = settledStream(caller, call, {
      deploymentId: deployment.id,
      signal,
      promptEstimate: estimate.promptTokens,
      requestId: options.requestId,
      items: events,
      read: ({ data }) => ({
        text:
          data.type === 'response.output_text.delta' && typeof data.delta === 'string'
            ? data.delta
            : null,
        usage: data.response ? responsesUsage(data.response as ResponsesBody) : null,
      }),
      present: ({ event, data }) => ({ event, data: presentedEvent(data, alias) }),
    })
    return {
      result: metered,
      rateLimit: call.reservation.headers,
      overheadMs,
      droppedParams: call.dropped,
    }
  },

  async embed(
    caller: Caller,
    request: { model: string; input: string | string[] },
    options: CallOptions = {}
  ): Promise<Metered<{ embeddings: number[][]; promptTokens: number }>> {
    const texts = Array.isArray(request.input) ? request.input : [request.input]
    const call = await prepare(
      caller,
      request.model,
      { promptTokens: texts.reduce((sum, text) => sum + estimateTokens(text), 0), maxOutput: 0 },
      { params: null }
    )
    const signal = options.signal ?? new AbortController().signal
    const { result, overheadMs } = await settledCall(
      caller,
      call,
      'embeddings',
      options.requestId,
      async () => {
        const routed = await routedEmbed(call.model, request.input, signal, call.timing)
        return {
          result: { embeddings: routed.embeddings, promptTokens: routed.promptTokens },
          deploymentId: routed.deployment.id,
          tokens: [routed.promptTokens, 0],
        }
      }
    )
    return { result, rateLimit: call.reservation.headers, overheadMs, droppedParams: [] }
  },
}
