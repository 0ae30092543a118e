import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'

/** Never copied from the environment into .env: secrets stay where they were given. */
const SECRET_NAME = /(KEY|SECRET|TOKEN|PASSWORD)$/
const NOT_PERSISTED = new Set(['APP_KEY', 'NODE_ENV'])
const URL_WITH_PASSWORD = /^[a-z][a-z0-9+.-]*:\/\/[^/@\s]*:[^/@\s]*@/i

/**
 * A fresh clone has no .env: write one from .env.example with a new APP_KEY,
 * so `npm start` needs no set-up step. Settings given in the environment on
 * that first start (PORT=4000 npm start, EMBEDDED_PG_PORT=…) are written with
 * the values in effect, so the next `npm start` or `node ace …` finds the same
 * port and the same embedded database; secrets are not copied. An existing
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

/** .env.example with a new APP_KEY and the non-secret settings the environment gives. */
export function dotEnvFrom(example: string, environment: NodeJS.ProcessEnv) {
  const key = randomBytes(32).toString('base64url')
  const lines = example.split('\n').map((line) => {
    const match = /^(?:#\s*)?([A-Z][A-Z0-9_]*)=/.exec(line)
    if (!match) return line
    const name = match[1]
    if (name === 'APP_KEY') return `APP_KEY=${key}`
    const value = environment[name]
    if (!value || NOT_PERSISTED.has(name) || SECRET_NAME.test(name)) return line
    if (URL_WITH_PASSWORD.test(value)) return line
    return `${name}=${/[\s#"'\\]/.test(value) ? JSON.stringify(value) : value}`
  })
  const content = lines.join('\n')
  return /^APP_KEY=/m.test(content) ? content : `${content}\nAPP_KEY=${key}\n`
}
