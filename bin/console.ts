/*
| Ace entrypoint (`node ace …`). Commands that touch the database get the
| same embedded-or-external database as the server.
*/
import 'reflect-metadata'
import { Ignitor, prettyPrintError } from '@adonisjs/core'
import { preboot } from '#app/platform/preboot'
import { ensureDotEnv } from '#app/platform/dotenv'

const APP_ROOT = new URL('../', import.meta.url)

const IMPORTER = (filePath: string) => {
  if (filePath.startsWith('./') || filePath.startsWith('../')) {
    return import(new URL(filePath, APP_ROOT).href)
  }
  return import(filePath)
}

/** Commands that never need a database: no embedded server is started for them. */
const WITHOUT_DATABASE = new Set([
  '',
  'list',
  'help',
  'build',
  'serve',
  'test',
  'add',
  'configure',
  'eject',
])
const command = process.argv.slice(2).find((arg) => !arg.startsWith('-')) ?? ''
const needsDatabase =
  !WITHOUT_DATABASE.has(command) &&
  !command.startsWith('make:') &&
  !command.startsWith('env:') &&
  !command.startsWith('inspect:') &&
  !command.startsWith('generate:') &&
  !process.argv.includes('--help')

/**
 * AdonisJS copies .env values into process.env. `test` and `serve` run the app
 * in a child process, which must load its own files (.env.test overrides .env),
 * so they get the environment this process started with.
 */
const SPAWNS_APP = new Set(['test', 'serve'])
const inheritedEnv = { ...process.env }

// Children of `test` and `serve` run their own pre-boot (and validation). A test
// run's settings are not the developer's: its .env gets the example's values only.
await ensureDotEnv(APP_ROOT, command === 'test' ? { NODE_ENV: 'test' } : process.env)
const { database } = SPAWNS_APP.has(command)
  ? { database: null }
  : await preboot(APP_ROOT, { database: needsDatabase })

await new Ignitor(APP_ROOT, { importer: IMPORTER })
  .tap((app) => {
    app.booting(async () => {
      await import('#start/env')
      if (SPAWNS_APP.has(command)) restoreEnvironment(inheritedEnv)
    })
    app.listen('SIGTERM', () => app.terminate())
    app.listenIf(app.managedByPm2, 'SIGINT', () => app.terminate())
  })
  .ace()
  .handle(process.argv.splice(2))
  .catch((error) => {
    process.exitCode = 1
    prettyPrintError(error)
  })
  .finally(() => database?.embedded?.stop())

function restoreEnvironment(snapshot: NodeJS.ProcessEnv) {
  for (const key of Object.keys(process.env)) {
    if (!(key in snapshot)) delete process.env[key]
  }
  Object.assign(process.env, snapshot)
}
