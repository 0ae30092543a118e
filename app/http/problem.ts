import { Exception } from '@adonisjs/core/exceptions'

export interface FieldError {
  field: string
  rule: string
  message: string
}

/** RFC 9457 problem details, as every /api error answers. */
export interface Problem {
  type: string
  title: string
  status: number
  detail?: string
  code: string
  errors?: FieldError[]
  requestId?: string
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json'

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
}

export function titleFor(status: number) {
  return TITLES[status] ?? (status >= 500 ? 'Server Error' : 'Request Error')
}

/** The `type` URI is a stable, documented identifier per error code. */
export function problemType(code: string) {
  return `https://atrium.dev/problems/${code.replaceAll('_', '-')}`
}

/**
 * Throw this from any module to answer with a specific problem. The code is a
 * short snake_case identifier clients can branch on.
 */
export class ProblemException extends Exception {
  constructor(
    public readonly problemStatus: number,
    public readonly problemCode: string,
    detail: string,
    public readonly fieldErrors?: FieldError[],
    public readonly headers: Record<string, string> = {}
  ) {
    super(detail, { status: problemStatus, code: problemCode })
  }
}

export function problem(
  status: number,
  code: string,
  detail?: string,
  errors?: FieldError[]
): Problem {
  return {
    type: problemType(code),
    title: titleFor(status),
    status,
    ...(detail ? { detail } : {}),
    code,
    ...(errors ? { errors } : {}),
  }
}
