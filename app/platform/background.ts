import logger from '@adonisjs/core/services/logger'
import env from '#start/env'
import { isModuleSelected } from '#app/platform/module_selection'

/**
 * Recurring work of a module that is not an event handler (sending queued
 * mail, delivering webhooks): the worker loop runs every task of a mounted
 * module on each pass. A task claims its rows with SKIP LOCKED, so several
 * processes can run it at once.
 */
export interface BackgroundTask {
  /** `<module>.<what>`; the module decides where it runs (ATRIUM_MODULES). */
  name: string
  /** Does what is due; returns how much it did (0: nothing was due). */
  run(): Promise<number>
}

const tasks = new Map<string, BackgroundTask>()

/** Returns what unregisters it (for tests). */
export function registerBackgroundTask(task: BackgroundTask) {
  tasks.set(task.name, task)
  return () => {
    if (tasks.get(task.name) === task) tasks.delete(task.name)
  }
}

/** Runs the mounted modules' tasks once; one failing task does not stop the others. */
export async function runBackgroundTasks(): Promise<number> {
  let done = 0
  for (const task of tasks.values()) {
    const module = task.name.slice(0, task.name.indexOf('.'))
    if (!isModuleSelected(module, env.get('ATRIUM_MODULES'))) continue
    try {
      done += await task.run()
    } catch (error) {
      logger.error(
        { err: error, task: task.name },
        'background task failed; retrying on the next pass'
      )
    }
  }
  return done
}
