import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import { ProblemException } from '#app/http/problem'
import { checkOutboundUrl } from '#app/http/outbound'
import { isUuid, newId } from '#app/platform/ids'
import { sentFields } from '#app/platform/columns'
import Provider, { type ProviderKind, type ResponsesApi } from '#modules/gateway/models/provider'
import { isUniqueViolation, notFound } from '#modules/gateway/services/admin_access'

export type { ProviderKind }

export interface ProviderInput {
  name: string
  kind: ProviderKind
  baseUrl: string
  apiKey?: string | null
  timeoutMs?: number
  maxRetries?: number
  responsesApi?: ResponsesApi
}

/** Ollama has no Responses API: it is always translated. */
function checkResponsesApi(kind: ProviderKind, responsesApi: ResponsesApi | undefined) {
  if (responsesApi === 'native' && kind === 'ollama') {
    throw new ProblemException(422, 'validation_failed', 'Ollama has no Responses API.', [
      {
        field: 'responsesApi',
        rule: 'provider_kind',
        message:
          'Ollama providers translate /v1/responses; only OpenAI-compatible ones can be native',
      },
    ])
  }
}

/** A provider base URL as stored: checked like every tenant-supplied URL, without a trailing slash. */
function checkBaseUrl(value: string) {
  return checkOutboundUrl(value, { field: 'baseUrl', what: 'provider base URL' }).replace(
    /\/+$/,
    ''
  )
}

const nameTaken = () =>
  new ProblemException(
    409,
    'provider_name_taken',
    'This tenant already has a provider with that name.'
  )

export const providers = {
  async list(trx: TransactionClientContract) {
    const list = await Provider.query({ client: trx }).orderBy('name')
    return list.map((provider) => provider.serialize())
  },

  async find(trx: TransactionClientContract, id: string) {
    const provider = isUuid(id)
      ? await Provider.query({ client: trx }).where('id', id).first()
      : null
    if (!provider) throw notFound('provider')
    return provider
  },

  async create(trx: TransactionClientContract, tenantId: string, input: ProviderInput) {
    checkResponsesApi(input.kind, input.responsesApi)
    try {
      const provider = new Provider().merge({
        id: newId(),
        tenantId,
        name: input.name,
        kind: input.kind,
        baseUrl: checkBaseUrl(input.baseUrl),
        timeoutMs: input.timeoutMs ?? 60_000,
        maxRetries: input.maxRetries ?? 2,
        responsesApi: input.responsesApi ?? 'translate',
      })
      provider.apiKey = input.apiKey ?? null
      await provider.useTransaction(trx).save()
      return provider.serialize()
    } catch (error) {
      if (isUniqueViolation(error)) throw nameTaken()
      throw error
    }
  },

  async update(trx: TransactionClientContract, id: string, input: Partial<ProviderInput>) {
    const provider = await this.find(trx, id)
    const { name, timeoutMs, maxRetries, responsesApi } = input
    checkResponsesApi(provider.kind, responsesApi)
    provider.merge(sentFields({ name, timeoutMs, maxRetries, responsesApi }))
    if (input.baseUrl !== undefined) {
      const baseUrl = checkBaseUrl(input.baseUrl)
      // The stored key was given for one host; it must not follow the URL to another
      // (whoever can edit the URL could otherwise collect it). A new key may come along.
      if (new URL(baseUrl).origin !== new URL(provider.baseUrl).origin) provider.apiKey = null
      provider.baseUrl = baseUrl
    }
    // null removes the key; absent leaves it as it is.
    if (input.apiKey !== undefined) provider.apiKey = input.apiKey
    try {
      await provider.useTransaction(trx).save()
      return provider.serialize()
    } catch (error) {
      if (isUniqueViolation(error)) throw nameTaken()
      throw error
    }
  },

  async remove(trx: TransactionClientContract, id: string) {
    await this.find(trx, id)
    const inUse = await trx.from('gateway_deployments').where('provider_id', id).first()
    if (inUse) {
      throw new ProblemException(
        409,
        'provider_in_use',
        'Models still route to this provider; remove it from their deployments first.'
      )
    }
    await trx.from('gateway_providers').where('id', id).delete()
  },
}
