import limiter from '@adonisjs/limiter/services/main'
import { ProblemException } from '#app/http/problem'

/**
 * Abuse limits on the public auth endpoints. Per IP: every attempt counts.
 * Per email: only failed logins count (success resets), and unknown emails
 * are counted the same way, so a 429 says nothing about which accounts exist.
 */
export const AUTH_LIMITS = {
  loginPerIp: { requests: 30, duration: '1 min', blockDuration: '5 mins' },
  loginFailuresPerEmail: { requests: 5, duration: '15 mins', blockDuration: '15 mins' },
  registerPerIp: { requests: 10, duration: '1 hour' },
} as const

const loginPerIp = () => limiter.use(AUTH_LIMITS.loginPerIp)
const loginFailures = () => limiter.use(AUTH_LIMITS.loginFailuresPerEmail)
const registerPerIp = () => limiter.use(AUTH_LIMITS.registerPerIp)

function tooMany(availableIn: number) {
  const seconds = Math.max(1, Math.ceil(availableIn))
  return new ProblemException(
    429,
    'rate_limited',
    `Too many attempts; retry in ${seconds} seconds.`,
    undefined,
    {
      'Retry-After': String(seconds),
    }
  )
}

async function consumeOrRefuse(limit: ReturnType<typeof limiter.use>, key: string) {
  try {
    await limit.consume(key)
  } catch (error) {
    const response = (error as { response?: { availableIn: number } }).response
    if (response) throw tooMany(response.availableIn)
    throw error
  }
}

export const authLimits = {
  async beforeRegister(ip: string) {
    await consumeOrRefuse(registerPerIp(), `register:ip:${ip}`)
  },

  /** Runs the login attempt under both limits; a failed attempt counts against the email. */
  async login<T>(ip: string, email: string, attempt: () => Promise<T>): Promise<T> {
    await consumeOrRefuse(loginPerIp(), `login:ip:${ip}`)
    const [throttled, result] = await loginFailures().penalize(`login:email:${email}`, attempt)
    if (throttled) throw tooMany(throttled.response.availableIn)
    return result as T
  },

  /** Lifts the limits for an IP and/or email (operators unblocking someone; tests). Never flushes a shared store. */
  async reset(target: { ip?: string; email?: string }) {
    if (target.ip) {
      await loginPerIp().delete(`login:ip:${target.ip}`)
      await registerPerIp().delete(`register:ip:${target.ip}`)
    }
    if (target.email) await loginFailures().delete(`login:email:${target.email}`)
  },
}
