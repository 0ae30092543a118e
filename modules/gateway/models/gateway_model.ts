import { column, computed, hasMany } from '@adonisjs/lucid/orm'
import type { HasMany } from '@adonisjs/lucid/types/relations'
import { int8, internal } from '#app/platform/columns'
import { GatewayModelSchema } from '#database/schema'
import Deployment from '#modules/gateway/models/deployment'

export type Strategy = 'priority' | 'weighted'
/** What the alias does with request parameters neither Atrium nor OpenAI's API knows. */
export type UnknownParamsPolicy = 'forward' | 'drop' | 'reject'

/**
 * A model alias clients call on /v1, priced per million tokens, served by its
 * deployments in order (priority) or by weight. Query it with
 * `preload('deployments', (d) => d.preload('provider'))`.
 */
export default class GatewayModel extends GatewayModelSchema {
  static table = 'gateway_models'

  @column(internal)
  declare tenantId: string
  @column()
  declare strategy: Strategy
  @column()
  declare unknownParams: UnknownParamsPolicy
  @column({ ...int8, ...internal })
  declare inputPricePerMtok: number
  @column({ ...int8, ...internal })
  declare outputPricePerMtok: number
  @column(internal)
  declare currency: string

  @hasMany(() => Deployment, {
    foreignKey: 'modelId',
    onQuery: (query) => query.orderBy('position'),
  })
  declare deployments: HasMany<typeof Deployment>

  @computed()
  get pricing() {
    return {
      inputPerMTok: this.inputPricePerMtok,
      outputPerMTok: this.outputPricePerMtok,
      currency: this.currency,
    }
  }
}
