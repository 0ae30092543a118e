import vine from '@vinejs/vine'
import type { HttpContext } from '@adonisjs/core/http'
import { ProblemException } from '#app/http/problem'

export const DEFAULT_LIMIT = 25
export const MAX_LIMIT = 100

export interface Page<T> {
  data: T[]
  meta: { nextCursor: string | null }
}

const pageValidator = vine.compile(
  vine.object({
    limit: vine.number().withoutDecimals().min(1).max(MAX_LIMIT).optional(),
    cursor: vine.string().trim().maxLength(512).optional(),
  })
)

/** The subset of Lucid's query builders keyset pagination needs. */
interface KeysetQuery<Row> {
  whereRaw(sql: string, bindings: unknown[]): this
  orderBy(column: string, direction: 'asc' | 'desc'): this
  limit(limit: number): this
  then: PromiseLike<Row[]>['then']
}

export interface KeysetOptions<Row> {
  /** Column to sort by; ties are broken by `idColumn`. Both must be indexed together. */
  sortColumn: string
  idColumn?: string
  direction?: 'asc' | 'desc'
  /** Reads the sort value back from a row, for the next cursor. */
  sortValue: (row: Row) => string | number | Date
  idValue: (row: Row) => string | number
  /** Kinds of the two columns, so a tampered cursor is a 422 rather than a database cast error. */
  sortKind?: ValueKind
  idKind?: ValueKind
}

type ValueKind = 'timestamp' | 'uuid' | 'integer' | 'text'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

function hasKind(value: string | number, kind: ValueKind) {
  switch (kind) {
    case 'timestamp':
      return typeof value === 'string' && !Number.isNaN(Date.parse(value))
    case 'uuid':
      return typeof value === 'string' && UUID.test(value)
    case 'integer':
      return Number.isSafeInteger(value)
    case 'text':
      return typeof value === 'string'
  }
}

/**
 * Keyset ("cursor") pagination: stable under concurrent inserts and as fast on
 * page 1000 as on page 1. The cursor is opaque to clients; a tampered or
 * foreign one is a 422, never a 500.
 */
export async function paginate<Row, Out = Row>(
  ctx: HttpContext,
  query: KeysetQuery<Row>,
  options: KeysetOptions<Row>,
  present: (row: Row) => Out = (row) => row as unknown as Out
): Promise<Page<Out>> {
  const { limit = DEFAULT_LIMIT, cursor } = await pageValidator.validate(ctx.request.qs())
  const direction = options.direction ?? 'desc'
  const idColumn = options.idColumn ?? 'id'

  if (cursor) {
    const [sortValue, idValue] = decodeCursor(cursor)
    if (
      !hasKind(sortValue, options.sortKind ?? 'timestamp') ||
      !hasKind(idValue, options.idKind ?? 'uuid')
    ) {
      throw invalidCursor()
    }
    const operator = direction === 'desc' ? '<' : '>'
    query.whereRaw(`(??, ??) ${operator} (?, ?)`, [
      options.sortColumn,
      idColumn,
      sortValue,
      idValue,
    ])
  }
  const rows = await query
    .orderBy(options.sortColumn, direction)
    .orderBy(idColumn, direction)
    .limit(limit + 1)

  const hasMore = rows.length > limit
  const pageRows = hasMore ? rows.slice(0, limit) : rows
  const last = pageRows.at(-1)
  return {
    data: pageRows.map(present),
    meta: {
      nextCursor:
        hasMore && last ? encodeCursor(options.sortValue(last), options.idValue(last)) : null,
    },
  }
}

export function encodeCursor(sortValue: string | number | Date, idValue: string | number) {
  const sort = sortValue instanceof Date ? sortValue.toISOString() : sortValue
  return Buffer.from(JSON.stringify(['v1', sort, idValue])).toString('base64url')
}

export function decodeCursor(cursor: string): [string | number, string | number] {
  try {
    const decoded: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
    if (
      Array.isArray(decoded) &&
      decoded.length === 3 &&
      decoded[0] === 'v1' &&
      isScalar(decoded[1]) &&
      isScalar(decoded[2])
    ) {
      return [decoded[1], decoded[2]]
    }
  } catch {}
  throw invalidCursor()
}

function invalidCursor() {
  return new ProblemException(422, 'validation_failed', 'The request has invalid fields.', [
    {
      field: 'cursor',
      rule: 'cursor',
      message: 'The cursor is invalid or expired; start again without it.',
    },
  ])
}

function isScalar(value: unknown): value is string | number {
  return (
    (typeof value === 'string' && value.length <= 256) ||
    (typeof value === 'number' && Number.isFinite(value))
  )
}
