import type { HttpContext } from '@adonisjs/core/http'
import type { NextFn } from '@adonisjs/core/types/http'
import { ProblemException } from '#app/http/problem'
import type { FieldError } from '#app/http/problem'

const MAX_REPORTED = 10

/**
 * One rule for every route, before any validator: no NUL character in any
 * string of the query or body (PostgreSQL cannot store one in text, and no
 * legitimate input needs it). The answer names each field, like a
 * validation error. A stage of the route kernel (`route_kernel_middleware.ts`),
 * after the body parser.
 */
export async function guardInput(ctx: HttpContext, next: NextFn) {
  const found: FieldError[] = []
  collectNul(ctx.request.qs(), '', found)
  if (mayHoldNul(ctx.request.raw())) collectNul(ctx.request.body(), '', found)
  if (found.length) {
    throw new ProblemException(422, 'validation_failed', 'The request has invalid fields.', found)
  }
  return next()
}

/**
 * Whether a parsed body can hold a NUL, judged on its text: JSON can only
 * write one as the escape \u0000 (a bare one is invalid JSON), a form as
 * %00 or a bare one. A body without any is not walked field by field — the
 * common case on every POST. A body with no text (multipart) is walked.
 */
function mayHoldNul(raw: string | null) {
  return raw === null || raw.includes('\\u0000') || raw.includes('%00') || raw.includes('\u0000')
}

function collectNul(value: unknown, path: string, found: FieldError[]) {
  if (found.length >= MAX_REPORTED) return
  if (typeof value === 'string') {
    if (value.includes('\u0000')) {
      found.push({
        field: path || '(body)',
        rule: 'noNul',
        message: 'Must not contain a NUL character',
      })
    }
    return
  }
  if (Array.isArray(value)) {
    value.forEach((entry, index) =>
      collectNul(entry, path ? `${path}.${index}` : String(index), found)
    )
    return
  }
  if (value && typeof value === 'object') {
    for (const [key, entry] of Object.entries(value)) {
      const field = path ? `${path}.${key}` : key
      if (key.includes('\u0000')) {
        found.push({
          field: field.replaceAll('\u0000', '\\0'),
          rule: 'noNul',
          message: 'Must not contain a NUL character',
        })
        continue
      }
      collectNul(entry, field, found)
    }
  }
}
