/*
| Test runner entrypoint (`npm test` → `node ace test`). Uses a separate
| database (`<name>_test`), created and migrated on demand.
*/
process.env.NODE_ENV = 'test'

import 'reflect-metadata'
import { Ignitor, prettyPrintError } from '@adonisjs/core'
import { configure, processCLIArgs, run } from '@japa/runner'
import { preboot } from '#app/platform/preboot'

const APP_ROOT = new URL('../', import.meta.url)

const IMPORTER = (filePath: string) => {
  if (filePath.startsWith('./') || filePath.startsWith('../')) {
    return import(new URL(filePath, APP_ROOT).href)
  }
  return import(filePath)
}

const { database } = await preboot(APP_ROOT, { database: true, forTests: true })

new Ignitor(APP_ROOT, { importer: IMPORTER })
  .tap((app) => {
    app.booting(async () => {
      await import('#start/env')
    })
    app.listen('SIGTERM', () => app.terminate())
    app.listenIf(app.managedByPm2, 'SIGINT', () => app.terminate())
  })
  .testRunner()
  .configure(async (app) => {
    const { runnerHooks, ...config } = await import('../tests/bootstrap.js')

    processCLIArgs(process.argv.splice(2))
    configure({
      ...app.rcFile.tests,
      ...config,
      ...{
        setup: runnerHooks.setup,
        teardown: runnerHooks.teardown.concat([
          () => app.terminate(),
          async () => {
            await database?.embedded?.stop()
          },
        ]),
      },
    })
  })
  .run(() => run())
  .catch(async (error) => {
    await prettyPrintError(error)
    // A spec that fails to load (a syntax error) rejects the run after setup started the
    // server and opened the pools, and before teardown closes them: without this exit the
    // run hangs until CI's timeout instead of failing at once.
    process.exit(1)
  })
