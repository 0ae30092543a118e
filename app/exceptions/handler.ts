import app from '@adonisjs/core/services/app'
import { errors as vineErrors } from '@vinejs/vine'
import { errors as bouncerErrors } from '@adonisjs/bouncer'
import { Denial } from '#app/auth/policies'
import { databaseRefusal, databaseRefusalCode } from '#app/http/database_refusals'
import { ExceptionHandler, type HttpContext } from '@adonisjs/core/http'
import {
  PROBLEM_CONTENT_TYPE,
  ProblemException,
  problem,
  type FieldError,
  type Problem,
} from '#app/http/problem'

interface ErrorLike {
  status?: number
  code?: string
  message?: string
}

/**
 * Turns every error into the project's error format: RFC 9457 problems on
 * /api and elsewhere, OpenAI's `{ error }` envelope on /v1. 5xx answers never
 * carry the error's message or stack; those go to the log with the request id.
 */
export default class HttpExceptionHandler extends ExceptionHandler {
  protected debug = false

  async handle(thrown: unknown, ctx: HttpContext) {
    const error = databaseRefusal(thrown) ?? thrown
    const answer = this.toProblem(error)
    answer.requestId = ctx.request.id()
    if (error instanceof ProblemException) {
      for (const [name, value] of Object.entries(error.headers)) ctx.response.header(name, value)
    }

    if (ctx.request.url().startsWith('/v1/') || ctx.request.url() === '/v1') {
      // OpenAI answers every invalid request with 400, validation included.
      const status = answer.status === 422 ? 400 : answer.status
      return ctx.response.status(status).send({
        error: {
          message: answer.errors?.length
            ? `${answer.detail ?? answer.title} ${answer.errors.map((entry) => `${entry.field}: ${entry.message}`).join('; ')}`
            : (answer.detail ?? answer.title),
          type: openAiErrorType(status),
          param: answer.errors?.[0]?.field ?? null,
          code: answer.code,
        },
      })
    }
    ctx.response.header('content-type', `${PROBLEM_CONTENT_TYPE}; charset=utf-8`)
    return ctx.response.status(answer.status).send(JSON.stringify(answer))
  }

  async report(error: unknown, ctx: HttpContext) {
    const sqlState = databaseRefusalCode(error)
    if (sqlState) {
      // Not a bug, but worth seeing when it repeats: which statement waited on what.
      ctx.logger.warn(
        { err: error, sqlState, requestId: ctx.request.id() },
        'database refused the request; answered 503'
      )
      return
    }
    const { status, code } = this.toProblem(error)
    if (status === 499) {
      ctx.logger.info({ code, status }, 'client closed the request')
    } else if (status >= 500 && error instanceof ProblemException) {
      // Answered on purpose (a provider down, a dependency away): its cause was logged where
      // it was known; this says what the client got.
      ctx.logger.warn({ code, status }, 'request failed')
    } else if (status >= 500) {
      ctx.logger.error({ err: error, requestId: ctx.request.id() }, 'unhandled error')
    } else if (!app.inTest) {
      ctx.logger.debug({ code: (error as ErrorLike).code, status }, 'request failed')
    }
  }

  toProblem(error: unknown): Problem {
    if (error instanceof ProblemException) {
      return problem(error.problemStatus, error.problemCode, error.message, error.fieldErrors)
    }
    if (error instanceof bouncerErrors.E_AUTHORIZATION_FAILURE) {
      const refusal = error.response
      if (refusal instanceof Denial) {
        return problem(refusal.problemStatus, refusal.problemCode, refusal.message)
      }
      return problem(403, 'forbidden', refusal.message ?? 'Your role does not allow this action.')
    }
    if (error instanceof vineErrors.E_VALIDATION_ERROR) {
      return problem(
        422,
        'validation_failed',
        'The request has invalid fields.',
        fieldErrors(error.messages)
      )
    }
    const { status, code, message } = (error ?? {}) as ErrorLike

    if (error instanceof SyntaxError && status === 400) {
      return problem(400, 'malformed_json', 'The request body is not valid JSON.')
    }
    switch (code) {
      case 'E_ROUTE_NOT_FOUND':
        return problem(404, 'route_not_found', 'No route matches this method and path.')
      case 'E_REQUEST_ENTITY_TOO_LARGE':
        return problem(
          413,
          'payload_too_large',
          'The request body is larger than the server accepts.'
        )
      case 'E_ENCODING_UNSUPPORTED':
        return problem(
          415,
          'unsupported_encoding',
          'The request body uses an unsupported encoding.'
        )
      case 'E_REQUEST_ABORTED':
        return problem(400, 'request_aborted', 'The request was aborted before its body arrived.')
      case 'E_AUTHORIZATION_FAILURE':
        return problem(403, 'forbidden', 'Your role does not allow this action.')
      case 'E_UNAUTHORIZED_ACCESS':
        return problem(401, 'unauthenticated', 'A valid bearer access token is required.')
      case 'E_ROW_NOT_FOUND':
        return problem(404, 'not_found', 'The resource does not exist.')
    }
    // Strict JSON parsing rejects top-level scalars with a 422; to a client that is malformed JSON.
    if (message === 'Invalid JSON, only supports object and array') {
      return problem(400, 'malformed_json', 'The request body must be a JSON object or array.')
    }
    if (typeof status === 'number' && status >= 400 && status < 500) {
      return problem(status, snake(code) ?? 'request_error', message)
    }
    return problem(
      500,
      'internal_error',
      'Something went wrong on our side. Quote the request id when reporting it.'
    )
  }
}

function fieldErrors(messages: unknown): FieldError[] {
  if (!Array.isArray(messages)) return []
  return messages.map((entry: { field?: string; rule?: string; message?: string }) => ({
    field: entry.field ?? '',
    rule: entry.rule ?? 'invalid',
    message: entry.message ?? 'Invalid value',
  }))
}

function snake(code?: string) {
  return code?.replace(/^E_/, '').toLowerCase()
}

function openAiErrorType(status: number) {
  if (status === 401) return 'authentication_error'
  if (status === 403) return 'permission_error'
  if (status === 404) return 'not_found_error'
  if (status === 429) return 'rate_limit_error'
  if (status >= 500) return 'server_error'
  return 'invalid_request_error'
}
