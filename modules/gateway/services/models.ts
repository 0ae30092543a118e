import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import { ProblemException } from '#app/http/problem'
import { isUuid, newId } from '#app/platform/ids'
import { isUniqueViolation, notFound } from '#modules/gateway/services/admin_access'

export type Strategy = 'priority' | 'weighted'

export interface DeploymentInput {
  providerId: string
  upstreamModel: string
  weight?: number
}

export interface ModelInput {
  alias: string
  strategy?: Strategy
  inputPricePerMTok?: number
  outputPricePerMTok?: number
  currency?: string
  deployments: DeploymentInput[]
}

interface ModelRow {
  id: string
  alias: string
  strategy: Strategy
  input_price_per_mtok: string | number
  output_price_per_mtok: string | number
  currency: string
  created_at: Date
  updated_at: Date
}

interface DeploymentRow {
  id: string
  model_id: string
  provider_id: string
  provider_name: string
  upstream_model: string
  weight: number
  position: number
}

export type ModelView = ReturnType<typeof presentModel>

function presentModel(row: ModelRow, deployments: DeploymentRow[]) {
  return {
    id: row.id,
    alias: row.alias,
    strategy: row.strategy,
    pricing: {
      inputPerMTok: Number(row.input_price_per_mtok),
      outputPerMTok: Number(row.output_price_per_mtok),
      currency: row.currency,
    },
    deployments: deployments
      .filter((deployment) => deployment.model_id === row.id)
      .sort((a, b) => a.position - b.position)
      .map((deployment) => ({
        id: deployment.id,
        providerId: deployment.provider_id,
        providerName: deployment.provider_name,
        upstreamModel: deployment.upstream_model,
        weight: deployment.weight,
      })),
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
  }
}

function deploymentsOf(
  trx: TransactionClientContract,
  modelIds: string[]
): Promise<DeploymentRow[]> {
  return trx
    .from('gateway_deployments as d')
    .join('gateway_providers as p', 'p.id', 'd.provider_id')
    .whereIn('d.model_id', modelIds)
    .select('d.*', 'p.name as provider_name')
}

const aliasTaken = () =>
  new ProblemException(409, 'model_alias_taken', 'This tenant already has a model with that alias.')

async function replaceDeployments(
  trx: TransactionClientContract,
  tenantId: string,
  modelId: string,
  deployments: DeploymentInput[]
) {
  const providerIds = [...new Set(deployments.map((deployment) => deployment.providerId))]
  const known = await trx
    .from('gateway_providers')
    .whereIn('id', providerIds.filter(isUuid))
    .select('id')
  const unknown = providerIds.filter((id) => !known.some((row) => row.id === id))
  if (unknown.length) {
    throw new ProblemException(
      422,
      'validation_failed',
      'A deployment names an unknown provider.',
      [
        {
          field: 'deployments',
          rule: 'provider',
          message: `Unknown provider: ${unknown.join(', ')}`,
        },
      ]
    )
  }
  await trx.from('gateway_deployments').where('model_id', modelId).delete()
  await trx.table('gateway_deployments').multiInsert(
    deployments.map((deployment, position) => ({
      id: newId(),
      tenant_id: tenantId,
      model_id: modelId,
      provider_id: deployment.providerId,
      upstream_model: deployment.upstreamModel,
      weight: deployment.weight ?? 1,
      position,
    }))
  )
}

export const models = {
  async list(trx: TransactionClientContract) {
    const rows: ModelRow[] = await trx.from('gateway_models').orderBy('alias')
    const deployments = rows.length
      ? await deploymentsOf(
          trx,
          rows.map((row) => row.id)
        )
      : []
    return rows.map((row) => presentModel(row, deployments))
  },

  async get(trx: TransactionClientContract, id: string) {
    const row: ModelRow | null = isUuid(id)
      ? await trx.from('gateway_models').where('id', id).first()
      : null
    if (!row) throw notFound('model')
    return presentModel(row, await deploymentsOf(trx, [row.id]))
  },

  /** The alias as /v1 sees it, with its deployments in order; null when the tenant has no such alias. */
  async byAlias(trx: TransactionClientContract, alias: string) {
    const row: ModelRow | null = await trx.from('gateway_models').where('alias', alias).first()
    if (!row) return null
    return presentModel(row, await deploymentsOf(trx, [row.id]))
  },

  async create(trx: TransactionClientContract, tenantId: string, input: ModelInput) {
    const id = newId()
    try {
      await trx.table('gateway_models').insert({
        id,
        tenant_id: tenantId,
        alias: input.alias,
        strategy: input.strategy ?? 'priority',
        input_price_per_mtok: input.inputPricePerMTok ?? 0,
        output_price_per_mtok: input.outputPricePerMTok ?? 0,
        currency: input.currency ?? 'USD',
      })
    } catch (error) {
      if (isUniqueViolation(error)) throw aliasTaken()
      throw error
    }
    await replaceDeployments(trx, tenantId, id, input.deployments)
    return this.get(trx, id)
  },

  async update(
    trx: TransactionClientContract,
    tenantId: string,
    id: string,
    input: Partial<ModelInput>
  ) {
    await this.get(trx, id)
    const changes: Record<string, unknown> = { updated_at: trx.raw('now()') }
    if (input.alias !== undefined) changes.alias = input.alias
    if (input.strategy !== undefined) changes.strategy = input.strategy
    if (input.inputPricePerMTok !== undefined)
      changes.input_price_per_mtok = input.inputPricePerMTok
    if (input.outputPricePerMTok !== undefined)
      changes.output_price_per_mtok = input.outputPricePerMTok
    if (input.currency !== undefined) changes.currency = input.currency
    try {
      await trx.from('gateway_models').where('id', id).update(changes)
    } catch (error) {
      if (isUniqueViolation(error)) throw aliasTaken()
      throw error
    }
    if (input.deployments) await replaceDeployments(trx, tenantId, id, input.deployments)
    return this.get(trx, id)
  },

  async remove(trx: TransactionClientContract, id: string) {
    await this.get(trx, id)
    await trx.from('gateway_models').where('id', id).delete()
  },
}
