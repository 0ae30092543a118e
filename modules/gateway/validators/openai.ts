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

/** OpenAI refuses arguments it does not know; so does Atrium, rather than silently dropping them. */
export function refuseUnknownFields(body: unknown, kind: 'chat' | 'embeddings') {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ProblemException(400, 'invalid_request', 'The request body must be a JSON object.')
  }
  const allowed = kind === 'chat' ? CHAT_FIELDS : EMBEDDING_FIELDS
  const unknown = Object.keys(body).filter((field) => !allowed.has(field))
  if (unknown.length) {
    throw new ProblemException(
      400,
      'unknown_parameter',
      `Unrecognized request argument supplied: ${unknown.join(', ')}`,
      unknown.map((field) => ({ field, rule: 'unknown', message: 'Unrecognized argument' }))
    )
  }
}
