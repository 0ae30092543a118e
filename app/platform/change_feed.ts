import pg from 'pg'
import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import logger from '@adonisjs/core/services/logger'
import env from '#start/env'

type Handler = (payload: string) => void

/**
 * One LISTEN connection per process for every channel the process cares
 * about (cache invalidation, operation progress). Writers NOTIFY inside their
 * transaction, so listeners hear about a commit right after it. While the
 * connection is down `listening` is false and every handler gets '*' once:
 * caches must stop trusting themselves and streams fall back to reading.
 */
class ChangeFeed {
  #handlers = new Map<string, Set<Handler>>()
  #client?: pg.Client
  #connecting?: Promise<void>
  #listened = new Set<string>()
  /** Channels whose LISTEN has completed on the current connection. */
  #confirmed = new Set<string>()
  #pending = new Set<Promise<void>>()
  #held?: Array<{ channel: string; payload: string }>
  listening = false

  /** Calls `handler` with each NOTIFY payload on `channel`; returns a function that stops it. */
  on(channel: string, handler: Handler) {
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(channel)) throw new Error(`Not a channel name: ${channel}`)
    const handlers = this.#handlers.get(channel) ?? new Set()
    handlers.add(handler)
    this.#handlers.set(channel, handlers)
    if (this.listening && !this.#listened.has(channel)) void this.#listen(this.#client!, channel)
    return () => {
      handlers.delete(handler)
    }
  }

  /** Starts listening if it is not (never throws; call it whenever a listener is about to rely on it). */
  ensure() {
    if (this.#client || this.#connecting) return
    const client = new pg.Client({ connectionString: env.get('DATABASE_URL') })
    const drop = () => {
      if (this.#client !== client) return
      this.#client = undefined
      this.listening = false
      this.#listened.clear()
      this.#confirmed.clear()
      this.#broadcast('*')
      client.end().catch(() => {})
    }
    client.on('notification', (message) => {
      if (this.#held) this.#held.push({ channel: message.channel, payload: message.payload ?? '' })
      else this.#deliver(message.channel, message.payload ?? '')
    })
    client.on('error', (error) => {
      logger.warn(
        { err: error },
        'change feed lost; listeners fall back to reading until it is back'
      )
      drop()
    })
    client.on('end', drop)
    this.#client = client
    this.#connecting = client
      .connect()
      .then(async () => {
        for (const channel of this.#handlers.keys()) await this.#listen(client, channel)
        if (this.#client === client) this.listening = true
      })
      .catch(drop)
      .finally(() => (this.#connecting = undefined))
  }

  /** Resolves once listening on every channel registered so far (or once the attempt failed). */
  async ready() {
    this.ensure()
    await this.#connecting
    await Promise.all(this.#pending)
    return this.listening
  }

  /**
   * Whether a change on `channel` committed from now on is sure to be heard.
   * A cache must ask this rather than `listening`: a channel registered after
   * the connection came up is not heard until its own LISTEN has completed.
   */
  hears(channel: string) {
    return this.listening && this.#confirmed.has(channel)
  }

  #listen(client: pg.Client, channel: string) {
    this.#listened.add(channel)
    const pending = client
      .query(`LISTEN ${channel}`)
      .then(() => {
        if (this.#client === client) this.#confirmed.add(channel)
      })
      .catch(() => {
        this.#listened.delete(channel)
      })
      .finally(() => this.#pending.delete(pending))
    this.#pending.add(pending)
    return pending
  }

  /**
   * NOTIFYs `channel` inside `trx` (every process hears it after the commit)
   * and hands the same payload to this process's handlers at the commit
   * itself, before the writer answers: the caller's next request — and, in a
   * one-process deployment, every request — sees the change without waiting
   * for the NOTIFY to come back over the LISTEN connection. A revoked key is
   * refused from the moment its revoke answers, not a few milliseconds later.
   * Handlers get the payload twice (here, then the echo); dropping is idempotent.
   */
  async announce(trx: TransactionClientContract, channel: string, payload: string) {
    await trx.rawQuery('SELECT pg_notify(?, ?)', [channel, payload])
    trx.after('commit', () => this.#deliver(channel, payload))
  }

  #deliver(channel: string, payload: string) {
    for (const handler of this.#handlers.get(channel) ?? []) handler(payload)
  }

  /**
   * For tests: notifications wait (in order) until the returned function is
   * called — to prove that a writer drops its own process's cache entries at
   * its commit, not only when its NOTIFY comes back, which in production can
   * arrive after the caller's next request.
   */
  holdDelivery() {
    const held: Array<{ channel: string; payload: string }> = []
    this.#held = held
    return () => {
      if (this.#held === held) this.#held = undefined
      for (const { channel, payload } of held) this.#deliver(channel, payload)
    }
  }

  /** For tests: whether notifications are being held (`holdDelivery`). */
  get holding() {
    return this.#held !== undefined
  }

  #broadcast(payload: string) {
    for (const handlers of this.#handlers.values()) for (const handler of handlers) handler(payload)
  }

  async close() {
    await this.#connecting
    const client = this.#client
    this.#client = undefined
    this.listening = false
    this.#listened.clear()
    this.#confirmed.clear()
    this.#broadcast('*')
    await client?.end().catch(() => {})
  }
}

export const changeFeed = new ChangeFeed()
