import logger from '@adonisjs/core/services/logger'
import env from '#start/env'
import { isModuleSelected } from '#app/platform/module_selection'

/**
 * Recurring work of a module that is not an event handler (sending queued
 * mail, delivering webhooks): the worker gives every task of a mounted module
 * its own loop, so a slow one (an SMTP server taking its time) holds back
 * nothing else. A task claims its rows with SKIP LOCKED, so several processes
 * can run it at once.
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

/** The tasks of the modules this process mounts (ATRIUM_MODULES). */
export function mountedBackgroundTasks(): BackgroundTask[] {
  return [...tasks.values()].filter((task) =>
    isModuleSelected(task.name.slice(0, task.name.indexOf('.')), env.get('ATRIUM_MODULES'))
  )
}

/** Runs one task once; a failure is logged and counts as nothing done (the next pass retries). */
export async function runBackgroundTask(task: BackgroundTask): Promise<number> {
  try {
    return await task.run()
  } catch (error) {
    logger.error(
      { err: error, task: task.name },
      'background task failed; retrying on the next pass'
    )
    return 0
  }
}
