import type { HttpContext } from '@adonisjs/core/http'
import { ProblemException } from '#app/http/problem'
import { keyResolver, type ApiKeyPrincipal } from '#modules/gateway/services/key_auth'
import type { Scope } from '#modules/gateway/services/keys'
import type { Caller } from '#modules/gateway/services/gateway'

/*
| What every /v1 endpoint shares: the API key check, the caller it becomes,
| aborting the upstream when the client leaves, and the headers each answer carries.
*/

const OVERHEAD_HEADER = 'x-atrium-overhead-ms'
const DROPPED_HEADER = 'x-atrium-dropped-params'

export async function authenticate(ctx: HttpContext, scope: Scope): Promise<ApiKeyPrincipal> {
  const match = /^Bearer\s+(\S+)$/i.exec(ctx.request.header('authorization') ?? '')
  if (!match) {
    throw new ProblemException(
      401,
      'invalid_api_key',
      'No API key provided: send it as "Authorization: Bearer atr_…".'
    )
  }
  const key = await keyResolver.resolve(match[1])
  if (!key) throw new ProblemException(401, 'invalid_api_key', 'Incorrect API key provided.')
  if (!key.scopes.includes(scope)) {
    throw new ProblemException(403, 'insufficient_scope', `This key lacks the "${scope}" scope.`)
  }
  return key
}

export const callerOf = (key: ApiKeyPrincipal): Caller => ({
  tenantId: key.tenantId,
  userId: key.userId,
  keyId: key.keyId,
  allowedModels: key.allowedModels,
  limits: key.limits,
})

/** Aborts the upstream call when the client goes away before the answer is complete. */
export function clientAbort(ctx: HttpContext) {
  const controller = new AbortController()
  const response = ctx.response.response
  response.once('close', () => {
    if (!response.writableFinished) controller.abort()
  })
  return controller.signal
}

/** Quota state and Atrium's own time, on every answer. */
export function sendMeta(
  ctx: HttpContext,
  answer: { rateLimit: Record<string, string>; overheadMs: number; droppedParams: string[] }
) {
  for (const [name, value] of Object.entries(answer.rateLimit)) ctx.response.header(name, value)
  ctx.response.header(OVERHEAD_HEADER, answer.overheadMs.toFixed(2))
  if (answer.droppedParams.length) {
    ctx.response.header(DROPPED_HEADER, droppedHeader(answer.droppedParams))
  }
}

/** A parameter name fit to repeat in a header: the client chose it, so it may hold anything. */
const HEADER_SAFE_NAME = /^[A-Za-z0-9_.-]{1,64}$/
const MAX_NAMED = 20

/**
 * The dropped parameters' names, as far as they can be said in a header:
 * names with other characters (a newline would make Node refuse the whole
 * answer) and names past the twentieth are counted, not repeated.
 */
export function droppedHeader(names: string[]) {
  const safe = names.filter((name) => HEADER_SAFE_NAME.test(name)).slice(0, MAX_NAMED)
  const unnamed = names.length - safe.length
  return [...safe, ...(unnamed ? [`(${unnamed} more)`] : [])].join(', ')
}

/** A failure after a stream started, in OpenAI's words (never the upstream's own). */
export function streamFailure(error: unknown) {
  const problem = error instanceof ProblemException ? error : null
  return {
    code: problem?.problemCode ?? 'stream_failed',
    message: problem?.message ?? 'The stream failed.',
  }
}
