import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import type { KeyLimits } from '#modules/gateway/services/keys'
import { MICRO } from '#modules/gateway/services/quotas'
import { NO_KEY } from '#modules/gateway/services/usage'
import GatewayKey from '#modules/gateway/models/gateway_key'

export const tenantLimits = {
  async get(trx: TransactionClientContract, tenantId: string): Promise<KeyLimits> {
    const row = await trx.from('gateway_tenant_limits').where('tenant_id', tenantId).first()
    return row?.limits ?? {}
  },

  async put(trx: TransactionClientContract, tenantId: string, limits: KeyLimits) {
    await trx
      .table('gateway_tenant_limits')
      .insert({ tenant_id: tenantId, limits: JSON.stringify(limits) })
      .onConflict('tenant_id')
      .merge({ limits: JSON.stringify(limits), updated_at: trx.raw('now()') })
    return limits
  },

  /** Whether the tenant uses the platform providers (on unless turned off). */
  async platformEnabled(trx: TransactionClientContract, tenantId: string) {
    const row = await trx
      .from('gateway_tenant_limits')
      .where('tenant_id', tenantId)
      .select('platform_providers')
      .first()
    return row?.platform_providers !== false
  },

  async setPlatformEnabled(trx: TransactionClientContract, tenantId: string, enabled: boolean) {
    await trx
      .table('gateway_tenant_limits')
      .insert({ tenant_id: tenantId, platform_providers: enabled })
      .onConflict('tenant_id')
      .merge({ platform_providers: enabled, updated_at: trx.raw('now()') })
    return enabled
  },
}

export type GroupBy = 'key' | 'model' | 'day'

const GROUP_COLUMN: Record<GroupBy, string> = { key: 'key_id', model: 'model_alias', day: 'day' }

/** Usage from the daily rollups: a handful of rows per day, however many requests there were. */
export async function usageReport(
  trx: TransactionClientContract,
  options: { groupBy: GroupBy; from: string; to: string }
) {
  const column = GROUP_COLUMN[options.groupBy]
  const rows = await trx
    .from('gateway_usage_daily')
    .whereBetween('day', [options.from, options.to])
    .groupBy(column, 'currency')
    .orderBy(column)
    .select(
      trx.raw(`${column}::text AS "group"`),
      'currency',
      trx.raw('sum(requests)::bigint AS requests'),
      trx.raw('sum(errors)::bigint AS errors'),
      trx.raw('sum(prompt_tokens)::bigint AS prompt_tokens'),
      trx.raw('sum(completion_tokens)::bigint AS completion_tokens'),
      trx.raw('sum(cost_micro)::bigint AS cost_micro'),
      trx.raw('sum(latency_ms_sum)::bigint AS latency_ms_sum')
    )
  const keyNames =
    options.groupBy === 'key'
      ? await namesOfKeys(
          trx,
          rows.map((row) => row.group)
        )
      : null
  return rows.map((row) => {
    const requests = Number(row.requests)
    const group = options.groupBy === 'key' && row.group === NO_KEY ? null : (row.group as string)
    return {
      group,
      label: keyNames
        ? group === null
          ? 'Other modules (no key)'
          : (keyNames.get(group) ?? 'Deleted key')
        : group,
      requests,
      errors: Number(row.errors),
      promptTokens: Number(row.prompt_tokens),
      completionTokens: Number(row.completion_tokens),
      cost: { amount: Number(row.cost_micro) / MICRO, currency: row.currency },
      averageLatencyMs: requests ? Math.round(Number(row.latency_ms_sum) / requests) : 0,
    }
  })
}

/** Key names for a report's key ids (a dashboard shows names, not uuids). */
async function namesOfKeys(trx: TransactionClientContract, ids: string[]) {
  const keys = await GatewayKey.query({ client: trx })
    .whereIn(
      'id',
      ids.filter((id) => id !== NO_KEY)
    )
    .select('id', 'name')
  return new Map(keys.map((key) => [key.id, key.name]))
}

/**
 * What each key has spent this calendar month (UTC), per currency, from the
 * daily rollups: what its monthly budget is measured against.
 */
export async function spendThisMonth(trx: TransactionClientContract, keyIds: string[]) {
  const spend = new Map<string, Array<{ amount: number; currency: string }>>()
  if (keyIds.length === 0) return spend
  const rows = await trx
    .from('gateway_usage_daily')
    .whereIn('key_id', keyIds)
    .where('day', '>=', trx.raw(`date_trunc('month', now() AT TIME ZONE 'UTC')::date`))
    .groupBy('key_id', 'currency')
    .orderBy('currency')
    .select('key_id', 'currency', trx.raw('sum(cost_micro)::bigint AS cost_micro'))
  for (const row of rows) {
    const entries = spend.get(row.key_id) ?? []
    entries.push({ amount: Number(row.cost_micro) / MICRO, currency: row.currency })
    spend.set(row.key_id, entries)
  }
  return spend
}
