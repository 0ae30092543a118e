import { Settings } from 'luxon'
import type { LucidModel } from '@adonisjs/lucid/types/model'

/*
 * Column options shared by every module's Lucid models, so a model says what a
 * column is (money, JSON, internal) rather than how pg happens to return it.
 */

// The API speaks UTC ("…Z") whatever TZ the container runs in: Lucid builds
// DateTimes in Luxon's default zone and serializes them with toISO().
Settings.defaultZone = 'utc'

/**
 * jsonb: pg would send a JS array as a PostgreSQL array literal, so write JSON
 * text; reads come back parsed.
 */
export const jsonb = {
  prepare: (value: unknown) =>
    value === null || value === undefined ? value : JSON.stringify(value),
}

/**
 * bigint amounts (minor units, token counts): pg returns int8 as text; every
 * amount we store is far below 2^53, so a JSON number is exact.
 */
export const int8 = {
  consume: (value: unknown) => (value === null || value === undefined ? null : Number(value)),
}

/** Internal columns (tenant ids, hashes) never appear in a serialized model. */
export const internal = { serializeAs: null }

/**
 * The fields a PATCH actually sent: Lucid's merge() would set a field given
 * as undefined to undefined (and serialize it so), so leave those out.
 */
export function sentFields<T extends Record<string, unknown>>(input: T) {
  return Object.fromEntries(Object.entries(input).filter(([, value]) => value !== undefined)) as {
    [K in keyof T]?: Exclude<T[K], undefined>
  }
}

/**
 * A model's columns as `alias."column", …`, for a statement that must name
 * them rather than say `*` — a prepared one, whose result type may not
 * change when a column is added while the process runs. Built once per
 * model and alias.
 */
export function columnList(model: LucidModel, alias: string) {
  const key = `${model.table}:${alias}`
  let list = columnLists.get(key)
  if (!list) {
    model.boot()
    list = Object.keys(model.$keys.columnsToAttributes.all())
      .map((column) => `${alias}."${column}"`)
      .join(', ')
    columnLists.set(key, list)
  }
  return list
}

const columnLists = new Map<string, string>()
