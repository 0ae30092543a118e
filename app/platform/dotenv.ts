import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'

/**
 * What the environment of the first start writes into .env: where this
 * install listens and keeps its embedded database, which every later start
 * and `node ace` command must agree on. Connection URLs and secrets are not
 * copied (a shell's DATABASE_URL or API key stays in the shell).
 */
const PERSISTED = new Set(['PORT', 'HOST', 'EMBEDDED_PG_PORT', 'EMBEDDED_PG_DATA'])

/**
 * A fresh clone has no .env: write one from .env.example with a new APP_KEY,
 * so `npm start` needs no set-up step. Settings given in the environment on
 * that first start (PORT=4000 npm start, EMBEDDED_PG_PORT=…) are written with
 * the values in effect, so the next `npm start` or `node ace …` finds the same
 * port and the same embedded database. An existing
 * .env is never touched, and production never gets one: a key generated on
 * each container start would make yesterday's encrypted secrets unreadable,
 * so APP_KEY must be given.
 */
export async function ensureDotEnv(
  appRoot: URL,
  environment: NodeJS.ProcessEnv = process.env
): Promise<boolean> {
  const target = fileURLToPath(new URL('.env', appRoot))
  if (existsSync(target) || environment.NODE_ENV === 'production') return false
  const example = await readFile(new URL('.env.example', appRoot), 'utf8').catch(() => '')
  await writeFile(target, dotEnvFrom(example, environment), { mode: 0o600 })
  return true
}

/** .env.example with a new APP_KEY and the PERSISTED settings the environment gives. */
export function dotEnvFrom(example: string, environment: NodeJS.ProcessEnv) {
  const key = randomBytes(32).toString('base64url')
  const lines = example.split('\n').map((line) => {
    const match = /^(?:#\s*)?([A-Z][A-Z0-9_]*)=/.exec(line)
    if (!match) return line
    const name = match[1]
    if (name === 'APP_KEY') return `APP_KEY=${key}`
    const value = environment[name]
    if (!value || !PERSISTED.has(name)) return line
    return `${name}=${/[\s#"'\\]/.test(value) ? JSON.stringify(value) : value}`
  })
  const content = lines.join('\n')
  return /^APP_KEY=/m.test(content) ? content : `${content}\nAPP_KEY=${key}\n`
}
