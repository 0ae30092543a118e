import vine from '@vinejs/vine'
import { SCOPES } from '#modules/gateway/services/keys'

const providerFields = {
  name: vine.string().trim().minLength(1).maxLength(80),
  kind: vine.enum(['ollama', 'openai-compatible']),
  baseUrl: vine
    .string()
    .url({ require_tld: false, protocols: ['http', 'https'] })
    .maxLength(500),
  apiKey: vine.string().trim().minLength(1).maxLength(2000).nullable().optional(),
  timeoutMs: vine.number().withoutDecimals().range([100, 600_000]).optional(),
  maxRetries: vine.number().withoutDecimals().range([0, 10]).optional(),
  responsesApi: vine.enum(['translate', 'native']).optional(),
}

export const providerCreateValidator = vine.compile(vine.object(providerFields))
export const providerUpdateValidator = vine.compile(
  vine.object({
    name: providerFields.name.optional(),
    baseUrl: vine
      .string()
      .url({ require_tld: false, protocols: ['http', 'https'] })
      .maxLength(500)
      .optional(),
    apiKey: vine.string().trim().minLength(1).maxLength(2000).nullable().optional(),
    timeoutMs: vine.number().withoutDecimals().range([100, 600_000]).optional(),
    maxRetries: vine.number().withoutDecimals().range([0, 10]).optional(),
    responsesApi: vine.enum(['translate', 'native']).optional(),
  })
)

const deployments = vine
  .array(
    vine.object({
      providerId: vine.string().uuid(),
      upstreamModel: vine.string().trim().minLength(1).maxLength(200),
      weight: vine.number().withoutDecimals().range([0, 1000]).optional(),
    })
  )
  .minLength(1)
  .maxLength(20)

const alias = vine
  .string()
  .trim()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,119}$/)
const price = vine.number().withoutDecimals().min(0).max(1e12)

export const modelCreateValidator = vine.compile(
  vine.object({
    alias,
    strategy: vine.enum(['priority', 'weighted']).optional(),
    unknownParams: vine.enum(['forward', 'drop', 'reject']).optional(),
    inputPricePerMTok: price.optional(),
    outputPricePerMTok: price.optional(),
    currency: vine
      .string()
      .regex(/^[A-Z]{3}$/)
      .optional(),
    deployments,
  })
)
export const modelUpdateValidator = vine.compile(
  vine.object({
    alias: alias.optional(),
    strategy: vine.enum(['priority', 'weighted']).optional(),
    unknownParams: vine.enum(['forward', 'drop', 'reject']).optional(),
    inputPricePerMTok: vine.number().withoutDecimals().min(0).max(1e12).optional(),
    outputPricePerMTok: vine.number().withoutDecimals().min(0).max(1e12).optional(),
    currency: vine
      .string()
      .regex(/^[A-Z]{3}$/)
      .optional(),
    deployments: deployments.optional(),
  })
)

// Budgets are counted in millionths of a minor unit: 1e9 minor units keeps that within 2^53.
const limit = vine.number().withoutDecimals().min(1).max(1e9).nullable().optional()
const keyFields = {
  name: vine.string().trim().minLength(1).maxLength(120),
  userId: vine.string().uuid().nullable().optional(),
  scopes: vine.array(vine.enum(SCOPES)).minLength(1).distinct().optional(),
  allowedModels: vine
    .array(vine.string().trim().minLength(1).maxLength(120))
    .distinct()
    .nullable()
    .optional(),
  limits: vine
    .object({
      requestsPerMinute: limit,
      tokensPerMinute: limit,
      tokensPerDay: limit,
      monthlyBudget: limit,
    })
    .optional(),
  // Labels for the key's owner, not a data store: at most 50 flat entries.
  metadata: vine
    .record(vine.unionOfTypes([vine.string().maxLength(500), vine.number(), vine.boolean()]))
    .maxLength(50)
    .validateKeys((keys, field) => {
      const long = keys.find((key) => key.length > 64)
      if (long !== undefined) {
        field.report('Metadata names are at most 64 characters', 'metadataKey', field)
      }
    })
    .optional(),
  // ISO 8601 with a zone; whether it is in the future is checked by the keys service.
  expiresAt: vine
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/)
    .transform((value) => new Date(value))
    .nullable()
    .optional(),
}

export const keyCreateValidator = vine.compile(vine.object(keyFields))
export const keyUpdateValidator = vine.compile(
  vine.object({
    name: vine.string().trim().minLength(1).maxLength(120).optional(),
    scopes: keyFields.scopes,
    allowedModels: keyFields.allowedModels,
    limits: keyFields.limits,
    metadata: keyFields.metadata,
    expiresAt: keyFields.expiresAt,
  })
)
export const keyRotateValidator = vine.compile(
  vine.object({
    gracePeriodSeconds: vine
      .number()
      .withoutDecimals()
      .range([0, 30 * 24 * 3600])
      .optional(),
  })
)

export const limitsValidator = vine.compile(
  vine.object({
    requestsPerMinute: limit,
    tokensPerMinute: limit,
    tokensPerDay: limit,
    monthlyBudget: limit,
  })
)

const day = vine.string().regex(/^\d{4}-\d{2}-\d{2}$/)
export const usageQueryValidator = vine.compile(
  vine.object({
    groupBy: vine.enum(['key', 'model', 'day']).optional(),
    from: day.clone().optional(),
    to: day.clone().optional(),
  })
)

export const platformProvidersValidator = vine.compile(
  vine.object({ enabled: vine.boolean({ strict: true }) })
)
