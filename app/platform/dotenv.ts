import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'

/**
 * A fresh clone has no .env: write one from .env.example with a new APP_KEY,
 * so `npm start` needs no set-up step. An existing .env is never touched, and
 * production never gets one: a key generated on each container start would
 * make yesterday's encrypted secrets unreadable, so APP_KEY must be given.
 */
export async function ensureDotEnv(appRoot: URL): Promise<boolean> {
  const target = fileURLToPath(new URL('.env', appRoot))
  if (existsSync(target) || process.env.NODE_ENV === 'production') return false
  const example = await readFile(new URL('.env.example', appRoot), 'utf8').catch(() => '')
  const key = randomBytes(32).toString('base64url')
  const content = /^APP_KEY=.*$/m.test(example)
    ? example.replace(/^APP_KEY=.*$/m, `APP_KEY=${key}`)
    : `${example}\nAPP_KEY=${key}\n`
  await writeFile(target, content, { mode: 0o600 })
  return true
}
