import pg from 'pg'
import logger from '@adonisjs/core/services/logger'
import env from '#start/env'

export const KEYS_CHANNEL = 'atrium_gateway_keys'
export const CONFIG_CHANNEL = 'atrium_gateway_config'

type Handler = (payload: string) => void

/**
 * One LISTEN connection per process for the gateway's caches. Changes
 * NOTIFY in their own transaction, so every process hears about a commit
 * right after it. Caches must only serve entries while `listening` is true:
 * a lost connection clears them (handlers get '*') and they fall back to
 * reading the database until it is back.
 */
class ChangeFeed {
  #handlers = new Map<string, Handler[]>()
  #client?: pg.Client
  #connecting?: Promise<void>
  listening = false

  on(channel: string, handler: Handler) {
    this.#handlers.set(channel, [...(this.#handlers.get(channel) ?? []), handler])
  }

  /** Starts listening if it is not (never throws; call it on every cache miss). */
  ensure() {
    if (this.#client || this.#connecting) return
    const client = new pg.Client({ connectionString: env.get('DATABASE_URL') })
    const drop = () => {
      if (this.#client !== client) return
      this.#client = undefined
      this.listening = false
      this.#broadcast('*')
      client.end().catch(() => {})
    }
    client.on('notification', (message) => {
      for (const handler of this.#handlers.get(message.channel) ?? [])
        handler(message.payload ?? '')
    })
    client.on('error', (error) => {
      logger.warn({ err: error }, 'gateway change feed lost; caches are off until it is back')
      drop()
    })
    client.on('end', drop)
    this.#client = client
    this.#connecting = client
      .connect()
      .then(async () => {
        for (const channel of [KEYS_CHANNEL, CONFIG_CHANNEL])
          await client.query(`LISTEN ${channel}`)
        if (this.#client === client) this.listening = true
      })
      .catch(drop)
      .finally(() => (this.#connecting = undefined))
  }

  #broadcast(payload: string) {
    for (const handlers of this.#handlers.values()) for (const handler of handlers) handler(payload)
  }

  async close() {
    await this.#connecting
    const client = this.#client
    this.#client = undefined
    this.listening = false
    this.#broadcast('*')
    await client?.end().catch(() => {})
  }
}

export const changeFeed = new ChangeFeed()
