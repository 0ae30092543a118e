import vine from '@vinejs/vine'
import { ProblemException } from '#app/http/problem'

/** Largest max_tokens accepted; above it the request is refused rather than reserved. */
export const MAX_OUTPUT_TOKENS = 131_072

const CHAT_FIELDS = new Set([
  'model',
  'messages',
  'max_tokens',
  'max_completion_tokens',
  'temperature',
  'top_p',
  'n',
  'stream',
  'stream_options',
  'stop',
  'seed',
  'user',
  'presence_penalty',
  'frequency_penalty',
  'response_format',
  'tools',
  'tool_choice',
  'parallel_tool_calls',
  'logit_bias',
  'metadata',
])
const EMBEDDING_FIELDS = new Set(['model', 'input', 'encoding_format', 'user', 'dimensions'])

/** What chat and legacy completions share: sampling, stop sequences, streaming, n (always 1). */
const samplingFields = () => ({
  temperature: vine.number().range([0, 2]).nullable().optional(),
  top_p: vine.number().range([0, 1]).nullable().optional(),
  n: vine.number().withoutDecimals().range([1, 1]).nullable().optional(),
  stream: vine.boolean({ strict: true }).nullable().optional(),
  stream_options: vine
    .object({ include_usage: vine.boolean({ strict: true }).optional() })
    .nullable()
    .optional(),
  stop: vine
    .unionOfTypes([
      vine.string().maxLength(200),
      vine.array(vine.string().maxLength(200)).maxLength(4),
    ])
    .nullable()
    .optional(),
  seed: vine.number().withoutDecimals().nullable().optional(),
  user: vine.string().maxLength(256).optional(),
  presence_penalty: vine.number().range([-2, 2]).nullable().optional(),
  frequency_penalty: vine.number().range([-2, 2]).nullable().optional(),
})

const contentPart = vine.object({ type: vine.string() }).allowUnknownProperties()

export const chatCompletionValidator = vine.compile(
  vine.object({
    model: vine.string().minLength(1).maxLength(120),
    messages: vine
      .array(
        vine
          .object({
            role: vine.enum(['system', 'developer', 'user', 'assistant', 'tool']),
            content: vine
              .unionOfTypes([vine.string(), vine.array(contentPart)])
              .nullable()
              .optional(),
            name: vine.string().maxLength(64).optional(),
            tool_call_id: vine.string().maxLength(200).optional(),
            tool_calls: vine.array(vine.object({}).allowUnknownProperties()).optional(),
          })
          .allowUnknownProperties()
      )
      .minLength(1)
      .maxLength(2000),
    max_tokens: vine.number().withoutDecimals().range([1, MAX_OUTPUT_TOKENS]).nullable().optional(),
    max_completion_tokens: vine
      .number()
      .withoutDecimals()
      .range([1, MAX_OUTPUT_TOKENS])
      .nullable()
      .optional(),
    ...samplingFields(),
    response_format: vine.object({ type: vine.string() }).allowUnknownProperties().optional(),
    tools: vine.array(vine.object({ type: vine.string() }).allowUnknownProperties()).optional(),
    tool_choice: vine.any().optional(),
    parallel_tool_calls: vine.boolean({ strict: true }).optional(),
    logit_bias: vine.record(vine.number().range([-100, 100])).optional(),
    metadata: vine.record(vine.string().maxLength(512)).optional(),
  })
)

export const embeddingsValidator = vine.compile(
  vine.object({
    model: vine.string().minLength(1).maxLength(120),
    input: vine.unionOfTypes([
      vine.string().minLength(1),
      vine.array(vine.string().minLength(1)).minLength(1).maxLength(2048),
    ]),
    encoding_format: vine.enum(['float', 'base64']).optional(),
    user: vine.string().maxLength(256).optional(),
    dimensions: vine.number().withoutDecimals().min(1).optional(),
  })
)

/**
 * Chat parameters of OpenAI's published API that Atrium does not read itself:
 * accepted and forwarded (Ollama maps what it has an equivalent for and drops
 * the rest, naming them in x-atrium-dropped-params).
 */
export const OPENAI_CHAT_EXTRAS = new Set([
  'logprobs',
  'top_logprobs',
  'store',
  'reasoning_effort',
  'service_tier',
  'prompt_cache_key',
  'prompt_cache_retention',
  'safety_identifier',
  'verbosity',
  'modalities',
  'prediction',
  'audio',
  'functions',
  'function_call',
  'web_search_options',
])

export interface SortedFields {
  /** Fields neither Atrium nor OpenAI's API knows: the alias's `unknownParams` policy decides. */
  unknown: string[]
  /** Everything Atrium does not validate itself, as the client sent it, to forward. */
  extras: Record<string, unknown>
}

/** Lower case without separators: maxTokens, max-tokens and MAX_TOKENS are all max_tokens. */
const squash = (name: string) => name.toLowerCase().replace(/[_\-\s]/g, '')

/** Edit distance, stopping early once it is over `limit`. */
function editDistance(a: string, b: string, limit: number) {
  if (Math.abs(a.length - b.length) > limit) return limit + 1
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    let best = i
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
      best = Math.min(best, current[j])
    }
    if (best > limit) return limit + 1
    previous = current
  }
  return previous[b.length]
}

/**
 * A field that is almost one Atrium reads is a typo, not a new parameter:
 * forwarding `max_token` would silently ignore the limit the client meant.
 * Short names are compared only without case and separators (top_k is a real
 * parameter one letter away from top_p).
 */
function typoOf(field: string, known: Set<string>) {
  for (const name of known) {
    if (squash(name) === squash(field)) return name
    if (field.length >= 7 && editDistance(field, name, 2) <= 2) return name
  }
  return null
}

function requireObject(body: unknown): asserts body is Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ProblemException(400, 'invalid_request', 'The request body must be a JSON object.')
  }
}

function unknownParameter(fields: Array<{ field: string; hint: string | null }>) {
  const names = fields.map(({ field, hint }) => (hint ? `${field} (did you mean ${hint}?)` : field))
  return new ProblemException(
    400,
    'unknown_parameter',
    `Unrecognized request argument supplied: ${names.join(', ')}`,
    fields.map(({ field, hint }) => ({
      field,
      rule: 'unknown',
      message: hint ? `Unrecognized argument; did you mean ${hint}?` : 'Unrecognized argument',
    }))
  )
}

/**
 * Sorts a request's fields: those Atrium reads are validated by the caller;
 * a near miss of one of them is refused here (400, with the likely name);
 * OpenAI's other parameters and unknown ones are returned to forward.
 */
export function sortFields(
  body: unknown,
  read: Set<string>,
  published: Set<string> = new Set()
): SortedFields {
  requireObject(body)
  const typos: Array<{ field: string; hint: string | null }> = []
  const unknown: string[] = []
  const extras: Record<string, unknown> = {}
  for (const field of Object.keys(body)) {
    if (read.has(field)) continue
    if (published.has(field)) {
      extras[field] = body[field]
      continue
    }
    const hint = typoOf(field, read)
    if (hint) {
      typos.push({ field, hint })
      continue
    }
    unknown.push(field)
    extras[field] = body[field]
  }
  if (typos.length) throw unknownParameter(typos)
  return { unknown, extras }
}

export const sortChatFields = (body: unknown) => sortFields(body, CHAT_FIELDS, OPENAI_CHAT_EXTRAS)

/** Embeddings have no parameters worth forwarding blindly: unknown ones are refused, as OpenAI does. */
export function refuseUnknownEmbeddingFields(body: unknown) {
  const { unknown } = sortFields(body, EMBEDDING_FIELDS)
  if (unknown.length) throw unknownParameter(unknown.map((field) => ({ field, hint: null })))
}

/** /v1/responses fields Atrium reads or answers for itself. */
const RESPONSES_FIELDS = new Set([
  'model',
  'input',
  'instructions',
  'max_output_tokens',
  'temperature',
  'top_p',
  'tools',
  'tool_choice',
  'parallel_tool_calls',
  'stream',
  'stream_options',
  'store',
  'previous_response_id',
  'metadata',
  'text',
  'reasoning',
  'user',
  'top_logprobs',
  'truncation',
  'include',
  'background',
  'conversation',
  'prompt',
  'max_tool_calls',
])
/** Responses parameters forwarded to the chat upstream under the same name. */
const RESPONSES_EXTRAS = new Set([
  'service_tier',
  'safety_identifier',
  'prompt_cache_key',
  'prompt_cache_retention',
])

export const sortResponsesFields = (body: unknown) =>
  sortFields(body, RESPONSES_FIELDS, RESPONSES_EXTRAS)

export const responsesValidator = vine.compile(
  vine.object({
    model: vine.string().minLength(1).maxLength(120),
    input: vine.unionOfTypes([
      vine.string(),
      vine.array(vine.object({}).allowUnknownProperties()).minLength(1).maxLength(2000),
    ]),
    instructions: vine.string().nullable().optional(),
    max_output_tokens: vine
      .number()
      .withoutDecimals()
      .range([1, MAX_OUTPUT_TOKENS])
      .nullable()
      .optional(),
    temperature: vine.number().range([0, 2]).nullable().optional(),
    top_p: vine.number().range([0, 1]).nullable().optional(),
    tools: vine.array(vine.object({ type: vine.string() }).allowUnknownProperties()).optional(),
    tool_choice: vine.any().optional(),
    parallel_tool_calls: vine.boolean({ strict: true }).nullable().optional(),
    stream: vine.boolean({ strict: true }).nullable().optional(),
    stream_options: vine.object({}).allowUnknownProperties().nullable().optional(),
    store: vine.boolean({ strict: true }).nullable().optional(),
    previous_response_id: vine.string().maxLength(200).nullable().optional(),
    metadata: vine.record(vine.string().maxLength(512)).nullable().optional(),
    text: vine
      .object({
        format: vine.object({ type: vine.string() }).allowUnknownProperties().optional(),
        verbosity: vine.string().maxLength(20).nullable().optional(),
      })
      .nullable()
      .optional(),
    reasoning: vine
      .object({
        effort: vine.string().maxLength(20).nullable().optional(),
        summary: vine.string().maxLength(20).nullable().optional(),
      })
      .allowUnknownProperties()
      .nullable()
      .optional(),
    user: vine.string().maxLength(256).optional(),
    top_logprobs: vine.number().withoutDecimals().range([0, 20]).nullable().optional(),
    truncation: vine.enum(['auto', 'disabled']).nullable().optional(),
    include: vine.array(vine.string().maxLength(100)).nullable().optional(),
    background: vine.boolean({ strict: true }).nullable().optional(),
    conversation: vine.any().optional(),
    prompt: vine.any().optional(),
    max_tool_calls: vine.number().withoutDecimals().min(1).nullable().optional(),
  })
)

const COMPLETIONS_FIELDS = new Set([
  'model',
  'prompt',
  'max_tokens',
  'temperature',
  'top_p',
  'n',
  'stream',
  'stream_options',
  'stop',
  'seed',
  'user',
  'presence_penalty',
  'frequency_penalty',
  'logit_bias',
  'echo',
  'suffix',
  'best_of',
  'logprobs',
])

export const sortCompletionsFields = (body: unknown) => sortFields(body, COMPLETIONS_FIELDS)

export const completionsValidator = vine.compile(
  vine.object({
    model: vine.string().minLength(1).maxLength(120),
    // One prompt per request (n and best_of are 1): a list must hold exactly one string.
    prompt: vine.unionOfTypes([vine.string(), vine.array(vine.string()).minLength(1).maxLength(1)]),
    max_tokens: vine.number().withoutDecimals().range([1, MAX_OUTPUT_TOKENS]).nullable().optional(),
    ...samplingFields(),
    best_of: vine.number().withoutDecimals().range([1, 1]).nullable().optional(),
    logit_bias: vine
      .record(vine.number().range([-100, 100]))
      .nullable()
      .optional(),
    echo: vine.boolean({ strict: true }).nullable().optional(),
    suffix: vine.string().nullable().optional(),
    logprobs: vine.number().withoutDecimals().range([0, 5]).nullable().optional(),
  })
)
