import { timingSafeEqual, createHash } from 'node:crypto'
import type { HttpContext } from '@adonisjs/core/http'
import type { NextFn } from '@adonisjs/core/types/http'
import env from '#start/env'
import { ProblemException } from '#app/http/problem'
import { addressList } from '#app/platform/address_list'

/**
 * Who may read what an operator reads (/metrics names every tenant's model
 * aliases; system info names versions): a caller with METRICS_TOKEN as a
 * bearer token, or one connecting from METRICS_ALLOW (default: this machine).
 */
export const operatorAccess = {
  token: env.get('METRICS_TOKEN')?.release() ?? null,
  allow: addressList(env.get('METRICS_ALLOW') ?? '127.0.0.0/8,::1', 'METRICS_ALLOW'),
}

function digest(value: string) {
  return createHash('sha256').update(value).digest()
}

export default class OperatorOnlyMiddleware {
  async handle(ctx: HttpContext, next: NextFn) {
    const presented = /^Bearer (.+)$/.exec(ctx.request.header('authorization') ?? '')?.[1]
    const byToken =
      operatorAccess.token !== null &&
      presented !== undefined &&
      timingSafeEqual(digest(presented), digest(operatorAccess.token))
    if (!byToken && !operatorAccess.allow.includes(ctx.request.ip())) {
      throw new ProblemException(
        403,
        'operator_only',
        'This endpoint is for operators: send METRICS_TOKEN as a bearer token, or call from an address in METRICS_ALLOW.'
      )
    }
    return next()
  }
}
