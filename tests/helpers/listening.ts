import pg from 'pg'
import env from '#start/env'

/**
 * The payloads NOTIFYed on `channel` from now on, heard on a connection of
 * the test's own (closed by `cleanup`). `settle` waits for a round trip of
 * that connection: a NOTIFY committed before it has arrived by then.
 */
export async function listenTo(channel: string, cleanup: (callback: () => Promise<void>) => void) {
  const listener = new pg.Client({ connectionString: env.get('DATABASE_URL')! })
  await listener.connect()
  cleanup(() => listener.end())
  const payloads: string[] = []
  listener.on('notification', ({ payload }) => payloads.push(payload ?? ''))
  await listener.query(`LISTEN ${channel}`)
  return {
    payloads,
    settle: async () => {
      await new Promise((resolve) => setImmediate(resolve))
      await listener.query('SELECT 1')
    },
  }
}
