import vine from '@vinejs/vine'
import { ProblemException } from '#app/http/problem'

export const DEFAULT_LIMIT = 25
export const MAX_LIMIT = 100

export interface Page<T> {
  data: T[]
  meta: { nextCursor: string | null }
}

/** What a caller asks of a list: plain input, validated by the list's own validator. */
export interface PageRequest {
  limit?: number
  cursor?: string
}

/**
 * The page parameters every list validator spreads into its object, so one
 * rule set (and one OpenAPI description) serves every list:
 * `vine.compile(vine.object({ ...pageFields, status: … }))`.
 */
export const pageFields = {
  limit: vine.number().withoutDecimals().min(1).max(MAX_LIMIT).optional(),
  cursor: vine.string().trim().maxLength(512).optional(),
}

/** For lists that take nothing but the page parameters. */
export const pageValidator = vine.compile(vine.object(pageFields))

/** The subset of Lucid's query builders (raw and model) keyset pagination needs. */
interface KeysetQuery<Row> {
  whereRaw(sql: string, bindings: unknown[]): this
  orderBy(column: string, direction: 'asc' | 'desc'): this
  limit(limit: number): this
  then: PromiseLike<Row[]>['then']
}

/** Kinds of exact sort values. Timestamps are deliberately absent: see `paginate`. */
type ExactKind = 'uuid' | 'integer' | 'text'

export interface KeysetOptions<Row> {
  /** Unique key and last tie-breaker; a UUIDv7 id orders rows by creation. Default `id`. */
  idColumn?: string
  idValue?: (row: Row) => string
  /** An exact, indexed column to sort by before the id (a SKU, a position); omit to sort by id alone. */
  sort?: { column: string; kind: Exclude<ExactKind, 'uuid'>; value: (row: Row) => string | number }
  direction?: 'asc' | 'desc'
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

function hasKind(value: string | number, kind: ExactKind) {
  switch (kind) {
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
 *
 * Keys must round-trip exactly, which is why "newest first" sorts by the
 * UUIDv7 id rather than `created_at`: PostgreSQL keeps microseconds, a JS Date
 * keeps milliseconds, and a cursor carrying a truncated timestamp skipped rows
 * created in the same millisecond as a page's last row.
 */
export async function paginate<Row, Out = Row>(
  query: KeysetQuery<Row>,
  page: PageRequest,
  options: KeysetOptions<Row>,
  present: (row: Row) => Out = (row) => row as unknown as Out
): Promise<Page<Out>> {
  const limit = page.limit ?? DEFAULT_LIMIT
  const direction = options.direction ?? 'desc'
  const idColumn = options.idColumn ?? 'id'
  const idValue = options.idValue ?? ((row: Row) => (row as { id: string }).id)
  const sort = options.sort
  const operator = direction === 'desc' ? '<' : '>'

  if (page.cursor) {
    const keys = decodeCursor(page.cursor)
    if (sort) {
      if (keys.length !== 2 || !hasKind(keys[0], sort.kind) || !hasKind(keys[1], 'uuid'))
        throw invalidCursor()
      query.whereRaw(`(??, ??) ${operator} (?, ?)`, [sort.column, idColumn, keys[0], keys[1]])
    } else {
      if (keys.length !== 1 || !hasKind(keys[0], 'uuid')) throw invalidCursor()
      query.whereRaw(`?? ${operator} ?`, [idColumn, keys[0]])
    }
  }
  if (sort) query.orderBy(sort.column, direction)
  const rows = await query.orderBy(idColumn, direction).limit(limit + 1)

  const hasMore = rows.length > limit
  const pageRows = hasMore ? rows.slice(0, limit) : rows
  const last = pageRows.at(-1)
  let nextCursor: string | null = null
  if (hasMore && last) {
    nextCursor = encodeCursor(sort ? [sort.value(last), idValue(last)] : [idValue(last)])
  }
  return { data: pageRows.map(present), meta: { nextCursor } }
}

const CURSOR_VERSION = 'v2'

export function encodeCursor(keys: Array<string | number>) {
  return Buffer.from(JSON.stringify([CURSOR_VERSION, ...keys])).toString('base64url')
}

export function decodeCursor(cursor: string): Array<string | number> {
  try {
    const decoded: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
    if (
      Array.isArray(decoded) &&
      decoded.length >= 2 &&
      decoded.length <= 3 &&
      decoded[0] === CURSOR_VERSION &&
      decoded.slice(1).every(isScalar)
    ) {
      return decoded.slice(1) as Array<string | number>
    }
  } catch {}
  throw invalidCursor()
}

export function invalidCursor() {
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
