import { setTimeout as sleep } from 'node:timers/promises'
import limiter from '@adonisjs/limiter/services/main'
import { ProblemException } from '#app/http/problem'

/**
 * Abuse limits on the public auth endpoints, shaped so that guessing is slow
 * but nobody can lock someone else out:
 * - per IP: every login attempt counts (spraying many accounts from one place);
 * - per account *and* IP: failed logins block that pair only — the owner,
 *   from anywhere else, still gets in with the right password;
 * - per account, from everywhere: failures past a threshold slow every later
 *   attempt down (a delay before the password is checked), never refuse it,
 *   so a botnet spread over many addresses still guesses slowly.
 * Unknown emails are counted the same way, so limits say nothing about which
 * accounts exist. A successful login resets its pair and its account.
 */
export const AUTH_LIMITS = {
  loginPerIp: { requests: 30, duration: '1 min', blockDuration: '5 mins' },
  loginFailuresPerPair: { requests: 5, duration: '15 mins', blockDuration: '15 mins' },
  /** Counted, never blocking: drives the delay. */
  loginFailuresPerEmail: { requests: 100_000, duration: '15 mins' },
  registerPerIp: { requests: 10, duration: '1 hour' },
} as const

/** Failures of one account (all addresses) before its attempts are slowed down. */
export const SLOW_DOWN_AFTER = 10
const FIRST_DELAY_MS = 250
const MAX_DELAY_MS = 5_000

/** The delay before checking a password, given the account's recent failures. */
export function loginDelayMs(recentFailures: number) {
  const excess = recentFailures - SLOW_DOWN_AFTER
  if (excess < 0) return 0
  return Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** Math.min(excess, 10))
}

const loginPerIp = () => limiter.use(AUTH_LIMITS.loginPerIp)
const pairFailures = () => limiter.use(AUTH_LIMITS.loginFailuresPerPair)
const emailFailures = () => limiter.use(AUTH_LIMITS.loginFailuresPerEmail)
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

  /** Runs the login attempt under the limits; a failure counts against the pair and the account. */
  async login<T>(ip: string, email: string, attempt: () => Promise<T>): Promise<T> {
    await consumeOrRefuse(loginPerIp(), `login:ip:${ip}`)
    const emailKey = `login:email:${email}`
    const recent = await emailFailures().get(emailKey)
    const delay = loginDelayMs(recent?.consumed ?? 0)
    if (delay > 0) await sleep(delay)
    const [throttled, outcome] = await pairFailures().penalize(`login:pair:${email}:${ip}`, () =>
      emailFailures().penalize(emailKey, attempt)
    )
    if (throttled) throw tooMany(throttled.response.availableIn)
    // The account counter never blocks (its limit is out of reach), so its own tuple holds the result.
    return outcome![1] as T
  },

  /** Lifts the limits for an IP and/or email (operators unblocking someone; tests). Never flushes a shared store. */
  async reset(target: { ip?: string; email?: string }) {
    if (target.ip) {
      await loginPerIp().delete(`login:ip:${target.ip}`)
      await registerPerIp().delete(`register:ip:${target.ip}`)
    }
    if (target.email) await emailFailures().delete(`login:email:${target.email}`)
    if (target.email && target.ip) {
      await pairFailures().delete(`login:pair:${target.email}:${target.ip}`)
    }
  },
}
