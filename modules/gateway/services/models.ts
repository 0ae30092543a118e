import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import { ProblemException } from '#app/http/problem'
import { isUuid, newId } from '#app/platform/ids'
import { sentFields } from '#app/platform/columns'
import Deployment from '#modules/gateway/models/deployment'
import GatewayModel, {
  type Strategy,
  type UnknownParamsPolicy,
} from '#modules/gateway/models/gateway_model'
import Provider from '#modules/gateway/models/provider'
import { isUniqueViolation, notFound } from '#modules/gateway/services/admin_access'

export type { Strategy, UnknownParamsPolicy }

export interface DeploymentInput {
  providerId: string
  upstreamModel: string
  weight?: number
}

export interface ModelInput {
  alias: string
  strategy?: Strategy
  unknownParams?: UnknownParamsPolicy
  inputPricePerMTok?: number
  outputPricePerMTok?: number
  currency?: string
  deployments: DeploymentInput[]
}

/** The alias as /v1 routes it: the model with its deployments (in order) and their providers. */
export type ModelView = GatewayModel

function withDeployments(trx: TransactionClientContract) {
  return GatewayModel.query({ client: trx }).preload('deployments', (deployments) =>
    deployments.preload('provider')
  )
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
  const known = await Provider.query({ client: trx })
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
  await Deployment.query({ client: trx }).where('model_id', modelId).delete()
  // One statement for the whole list, replaced as a whole.
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
    const list = await withDeployments(trx).orderBy('alias')
    return list.map((model) => model.serialize())
  },

  /** Aliases and their creation times, as /v1/models lists them. */
  async aliases(trx: TransactionClientContract) {
    const list = await GatewayModel.query({ client: trx })
      .select('alias', 'created_at')
      .orderBy('alias')
    return list.map((model) => ({ alias: model.alias, createdAt: model.createdAt }))
  },

  async find(trx: TransactionClientContract, id: string) {
    const model = isUuid(id) ? await withDeployments(trx).where('id', id).first() : null
    if (!model) throw notFound('model')
    return model
  },

  async get(trx: TransactionClientContract, id: string) {
    const model = await this.find(trx, id)
    return model.serialize()
  },

  /** The alias as /v1 sees it, with its deployments in order; null when the tenant has no such alias. */
  byAlias(trx: TransactionClientContract, alias: string): Promise<ModelView | null> {
    return withDeployments(trx).where('alias', alias).first()
  },

  async create(trx: TransactionClientContract, tenantId: string, input: ModelInput) {
    const model = new GatewayModel().merge({
      id: newId(),
      tenantId,
      alias: input.alias,
      strategy: input.strategy ?? 'priority',
      unknownParams: input.unknownParams ?? 'forward',
      inputPricePerMtok: input.inputPricePerMTok ?? 0,
      outputPricePerMtok: input.outputPricePerMTok ?? 0,
      currency: input.currency ?? 'USD',
    })
    try {
      await model.useTransaction(trx).save()
    } catch (error) {
      if (isUniqueViolation(error)) throw aliasTaken()
      throw error
    }
    await replaceDeployments(trx, tenantId, model.id, input.deployments)
    return this.get(trx, model.id)
  },

  async update(
    trx: TransactionClientContract,
    tenantId: string,
    id: string,
    input: Partial<ModelInput>
  ) {
    const model = await this.find(trx, id)
    model.merge(
      sentFields({
        alias: input.alias,
        strategy: input.strategy,
        unknownParams: input.unknownParams,
        inputPricePerMtok: input.inputPricePerMTok,
        outputPricePerMtok: input.outputPricePerMTok,
        currency: input.currency,
      })
    )
    try {
      await model.useTransaction(trx).save()
    } catch (error) {
      if (isUniqueViolation(error)) throw aliasTaken()
      throw error
    }
    if (input.deployments) await replaceDeployments(trx, tenantId, id, input.deployments)
    return this.get(trx, id)
  },

  async remove(trx: TransactionClientContract, id: string) {
    const model = await this.find(trx, id)
    await model.useTransaction(trx).delete()
  },
}
