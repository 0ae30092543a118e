import logger from '@adonisjs/core/services/logger'
import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
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

const wakers = new Map<string, Set<() => void>>()
/** Per unit of work, the tasks it already wakes on commit (one hook each, however often asked). */
const wokenBy = new WeakMap<TransactionClientContract, Set<string>>()

/** The worker's loop for the task `name` in this process: `wake` runs when the task is woken. */
export function onTaskWake(name: string, wake: () => void) {
  const set = wakers.get(name) ?? new Set()
  set.add(wake)
  wakers.set(name, set)
  return () => {
    set.delete(wake)
  }
}

/**
 * Wakes the task `name` in this process once `trx` commits, for work the unit
 * of work queued for it (mail, webhook deliveries): done now, not at the
 * task's next poll. A rollback wakes nothing. Only the task that has work is
 * woken, so a module adding tasks adds no queries to everyone else's events;
 * processes elsewhere find the work at their poll.
 */
export function wakeTaskAfterCommit(trx: TransactionClientContract, name: string) {
  const woken = wokenBy.get(trx) ?? new Set<string>()
  if (woken.has(name)) return
  woken.add(name)
  wokenBy.set(trx, woken)
  trx.after('commit', () => {
    for (const wake of wakers.get(name) ?? []) wake()
  })
}
