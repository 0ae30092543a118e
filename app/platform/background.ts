import db from '@adonisjs/lucid/services/db'
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
  /**
   * Milliseconds until something of it is next due (0 or less: now; null:
   * nothing waiting), e.g. `jobQueue(…).nextDueMs()`. With it, the task's
   * loop sleeps until then (or until woken) instead of looking every second.
   */
  nextDueMs?(): Promise<number | null>
}

/** The NOTIFY channel that wakes a task (payload: its name) in the processes that run it. */
export const TASKS_CHANNEL = 'atrium_tasks'

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

/** Wakes the task `name`'s loop in this process, if it runs one; false if it does not. */
export function wakeTaskHere(name: string) {
  const here = wakers.get(name)
  if (!here?.size) return false
  for (const wake of here) wake()
  return true
}

/**
 * Wakes the task `name` once `trx` commits, for work the unit of work queued
 * for it (mail, webhook deliveries): done now, not when the task's loop next
 * looks. A rollback wakes nothing. Only the task that has work is woken, so a
 * module adding tasks adds no queries to everyone else's events. A process
 * that runs the task wakes its own loop; one that does not (ATRIUM_ROLE=web,
 * or the module not mounted here) says so on TASKS_CHANNEL, after the commit,
 * to the workers that do.
 */
export async function wakeTaskAfterCommit(trx: TransactionClientContract, name: string) {
  const woken = wokenBy.get(trx) ?? new Set<string>()
  if (woken.has(name)) return
  woken.add(name)
  wokenBy.set(trx, woken)
  if (insideSavepoint(trx)) {
    // Its "commit" is only a release, before the rows are visible: the NOTIFY rides in the
    // transaction instead, delivered at the real commit (this process's worker hears it too).
    await trx.rawQuery('SELECT pg_notify(?, ?)', [TASKS_CHANNEL, name])
    return
  }
  trx.after('commit', () => {
    if (wakeTaskHere(name)) return
    db.rawQuery('SELECT pg_notify(?, ?)', [TASKS_CHANNEL, name]).catch((error: unknown) => {
      // The worker still finds the work when its loop next looks (worker.ts' idle ceiling).
      logger.warn({ err: error, task: name }, 'could not wake the workers for a task')
    })
  })
}

/**
 * Whether `trx` is a savepoint (`trx.transaction(…)` inside a transaction):
 * Lucid runs its after-commit hooks when it is released, before the outer
 * transaction commits, so work it queued is not visible to anyone yet.
 */
export function insideSavepoint(trx: TransactionClientContract) {
  return (trx.knexClient as { parentTransaction?: unknown }).parentTransaction !== undefined
}
