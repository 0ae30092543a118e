import { belongsTo, column, computed } from '@adonisjs/lucid/orm'
import type { BelongsTo } from '@adonisjs/lucid/types/relations'
import type { DateTime } from 'luxon'
import { internal } from '#app/platform/columns'
import { GatewayDeploymentSchema } from '#database/schema'
import Provider from '#modules/gateway/models/provider'

/** Where a model alias may be served: one provider's upstream model, with a weight and a place in line. */
export default class Deployment extends GatewayDeploymentSchema {
  static table = 'gateway_deployments'

  @column(internal)
  declare tenantId: string
  @column(internal)
  declare modelId: string
  @column(internal)
  declare position: number
  @column.dateTime({ autoCreate: true, ...internal })
  declare createdAt: DateTime
  @column.dateTime({ autoCreate: true, autoUpdate: true, ...internal })
  declare updatedAt: DateTime

  @belongsTo(() => Provider, { serializeAs: null })
  declare provider: BelongsTo<typeof Provider>

  /** Shown with the deployment so a list of models reads without a second call. */
  @computed()
  get providerName(): string | undefined {
    return this.provider?.name
  }
}
