import { ProblemException } from '#app/http/problem'

/**
 * PostgreSQL errors that say "not now" rather than "wrong": the transaction
 * was rolled back because of what ran beside it or how long it waited, and
 * the same request can succeed a moment later. Answered as 503 with
 * Retry-After — which every OpenAI SDK and most HTTP clients retry on their
 * own — instead of a 500 that reads as a bug.
 */
const CONFLICT = {
  code: 'database_conflict',
  detail:
    'This request collided with another one changing the same data, and its changes were rolled back. Retry it.',
  retryAfterSeconds: 1,
}

const REFUSALS: Record<string, { code: string; detail: string; retryAfterSeconds: number }> = {
  // deadlock_detected, serialization_failure: PostgreSQL chose this transaction to give way.
  '40P01': CONFLICT,
  '40001': CONFLICT,
  // lock_not_available: a row it needed stayed locked for longer than DB_LOCK_TIMEOUT_MS.
  '55P03': {
    code: 'database_busy',
    detail:
      'Data this request needs is held by another operation, and its changes were rolled back. Retry shortly.',
    retryAfterSeconds: 2,
  },
  // query_canceled: a statement ran longer than DB_STATEMENT_TIMEOUT_MS.
  '57014': {
    code: 'database_timeout',
    detail:
      'The database took longer than this server allows for one request, and its changes were rolled back.',
    retryAfterSeconds: 5,
  },
}

/** The pg error's SQLSTATE when it is one of the refusals above. */
export function databaseRefusalCode(error: unknown): string | undefined {
  const sqlState = (error as { code?: unknown } | null)?.code
  return typeof sqlState === 'string' && sqlState in REFUSALS ? sqlState : undefined
}

/** The problem a refusal is answered with, or undefined for any other error. */
export function databaseRefusal(error: unknown): ProblemException | undefined {
  const sqlState = databaseRefusalCode(error)
  if (!sqlState) return undefined
  const { code, detail, retryAfterSeconds } = REFUSALS[sqlState]
  return new ProblemException(503, code, detail, undefined, {
    'Retry-After': String(retryAfterSeconds),
  })
}
