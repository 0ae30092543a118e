import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { createConnection } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { EmbeddedPostgres } from '#app/platform/embedded_postgres'

/** True when something accepts TCP connections on 127.0.0.1:port. */
export function portOpen(port: number) {
  return new Promise<boolean>((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

/**
 * A throwaway folder for an embedded PostgreSQL on `port`. The returned
 * cleanup stops any server still running there (a SIGKILLed Atrium leaves its
 * detached PostgreSQL behind) and removes the folder.
 */
export async function embeddedDataRoot(prefix: string, port: number) {
  const root = await mkdtemp(join(tmpdir(), prefix))
  // As root, PostgreSQL runs as the postgres user, which must be able to enter the folder.
  await chmod(root, 0o755)
  const dataDir = join(root, 'data')
  return {
    root,
    dataDir,
    async cleanup() {
      await new EmbeddedPostgres({ dataDir, port }).stopServer()
      await rm(root, { recursive: true, force: true })
    },
  }
}
