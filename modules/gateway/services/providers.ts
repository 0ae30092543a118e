import encryption from '@adonisjs/core/services/encryption'
import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import { ProblemException } from '#app/http/problem'
import { checkOutboundUrl } from '#app/http/outbound'
import { isUuid, newId } from '#app/platform/ids'
import { isUniqueViolation, notFound } from '#modules/gateway/services/admin_access'

export type ProviderKind = 'ollama' | 'openai-compatible'

export interface ProviderRow {
  id: string
  tenant_id: string
  name: string
  kind: ProviderKind
  base_url: string
  api_key_encrypted: string | null
  timeout_ms: number
  max_retries: number
  created_at: Date
  updated_at: Date
}

export interface ProviderInput {
  name: string
  kind: ProviderKind
  baseUrl: string
  apiKey?: string | null
  timeoutMs?: number
  maxRetries?: number
}

const PURPOSE = 'gateway.provider_api_key'

/** Never the key itself: whether one is set is all a client learns. */
export function presentProvider(row: ProviderRow) {
  return {
    id: row.id,
    name: row.name,
    kind: row.kind,
    baseUrl: row.base_url,
    hasApiKey: Boolean(row.api_key_encrypted),
    timeoutMs: row.timeout_ms,
    maxRetries: row.max_retries,
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
  }
}

export function providerApiKey(row: Pick<ProviderRow, 'api_key_encrypted'>) {
  if (!row.api_key_encrypted) return null
  return encryption.decrypt<string>(row.api_key_encrypted, PURPOSE)
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
    const rows: ProviderRow[] = await trx.from('gateway_providers').orderBy('name')
    return rows.map(presentProvider)
  },

  async find(trx: TransactionClientContract, id: string): Promise<ProviderRow> {
    const row = isUuid(id) ? await trx.from('gateway_providers').where('id', id).first() : null
    if (!row) throw notFound('provider')
    return row
  },

  async create(trx: TransactionClientContract, tenantId: string, input: ProviderInput) {
    try {
      const [row] = await trx
        .table('gateway_providers')
        .insert({
          id: newId(),
          tenant_id: tenantId,
          name: input.name,
          kind: input.kind,
          base_url: checkBaseUrl(input.baseUrl),
          api_key_encrypted: input.apiKey
            ? encryption.encrypt(input.apiKey, undefined, PURPOSE)
            : null,
          timeout_ms: input.timeoutMs ?? 60_000,
          max_retries: input.maxRetries ?? 2,
        })
        .returning('*')
      return presentProvider(row)
    } catch (error) {
      if (isUniqueViolation(error)) throw nameTaken()
      throw error
    }
  },

  async update(trx: TransactionClientContract, id: string, input: Partial<ProviderInput>) {
    const current = await this.find(trx, id)
    const changes: Record<string, unknown> = { updated_at: trx.raw('now()') }
    if (input.name !== undefined) changes.name = input.name
    if (input.baseUrl !== undefined) {
      changes.base_url = checkBaseUrl(input.baseUrl)
      // The stored key was given for one host; it must not follow the URL to another
      // (whoever can edit the URL could otherwise collect it). A new key may come along.
      if (new URL(changes.base_url as string).origin !== new URL(current.base_url).origin) {
        changes.api_key_encrypted = null
      }
    }
    if (input.timeoutMs !== undefined) changes.timeout_ms = input.timeoutMs
    if (input.maxRetries !== undefined) changes.max_retries = input.maxRetries
    // null removes the key; absent leaves it as it is.
    if (input.apiKey !== undefined) {
      changes.api_key_encrypted = input.apiKey
        ? encryption.encrypt(input.apiKey, undefined, PURPOSE)
        : null
    }
    try {
      const [row] = await trx
        .from('gateway_providers')
        .where('id', id)
        .update(changes)
        .returning('*')
      return presentProvider(row)
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
