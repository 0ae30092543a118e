import pg from 'pg'
import logger from '@adonisjs/core/services/logger'
import { onRelayWake, OUTBOX_CHANNEL } from '#app/messaging/outbox'
import {
  DELIVERIES_CHANNEL,
  RELAY_BATCH_SIZE,
  RELAYED_HERE,
  relayBatch,
  type Handoff,
  type Transport,
} from '#app/messaging/relay'
import { createOperationsRunner, createTransport } from '#app/messaging/transports/index'
import {
  DEFAULT_CLAIM_SIZE,
  eventsNextDueMs,
  processDeliveries,
  type DeliveryOptions,
} from '#app/messaging/deliveries'
import { runMaintenance } from '#app/platform/maintenance'
import {
  mountedBackgroundTasks,
  onTaskWake,
  runBackgroundTask,
  TASKS_CHANNEL,
  wakeTaskHere,
} from '#app/platform/background'
import {
  OPERATIONS_CHANNEL,
  operationsNextDueMs,
  type OperationsRunner,
} from '#app/operations/operations'

const MAINTENANCE_EVERY_MS = 10 * 60 * 1000
/**
 * How long a loop with nothing due sleeps while notifications can wake it:
 * the safety net for a wake-up that never came (work queued by a process
 * that could not NOTIFY). Polling every second instead cost an idle server
 * ~7 transactions a second (issue #12's leaner process).
 */
const IDLE_CEILING_MS = 60_000
/**
 * How the events loop lets its next batch gather when events arrived while it passed (see
 * BatchWindow): how long after a pass that handled events here, and after one that only
 * relayed them (to a broker, or to subscribers mounted elsewhere); and from what batch on
 * a pass goes round at once.
 */
const GATHERING = { handledMs: 5, relayedMs: 10, below: 20 }

/**
 * Which loop a NOTIFY wakes: operations on their channel, events on the
 * outbox's and the deliveries' — except deliveries this process relayed,
 * which the pass that relayed them has handled (waking for them would only
 * run an empty pass).
 */
export function loopWokenBy(channel: string, payload?: string): 'events' | 'operations' | null {
  if (channel === OPERATIONS_CHANNEL) return 'operations'
  if (channel === DELIVERIES_CHANNEL && payload === RELAYED_HERE) return null
  return 'events'
}

export interface WorkerOptions extends DeliveryOptions {
  connectionString: string
  /** Default: the one BUS_TRANSPORT names. */
  transport?: Transport
  /** Default: BullMQ with Redis, PostgreSQL without. */
  operations?: OperationsRunner
  /**
   * How often a loop looks for work while notifications cannot reach it (LISTEN
   * down, a broker's consumers not started), after a failed pass, and at
   * least between two looks; default 1 s.
   */
  pollIntervalMs?: number
  /**
   * The longest a loop with nothing due sleeps while notifications reach it
   * (default 60 s; when only pollIntervalMs is given, that: every look on the
   * poll, as before).
   */
  idleCeilingMs?: number
}

/** How a loop decides how long to sleep when a pass found nothing (see WorkLoop). */
interface Pace {
  /** The shortest sleep, and the whole sleep while `heard` is false. */
  pollIntervalMs: number
  /** The longest sleep while `heard` is true. */
  idleCeilingMs: number
  /** Whether notifications reach this loop now (LISTEN is up; for events, the consumers too). */
  heard: () => boolean
}

/**
 * One of the worker's loops: passes until a pass finds nothing to do, then
 * sleeps until nudged (a NOTIFY, another loop) or its next work is due.
 *
 * Work created now arrives as a nudge; only work that becomes due by time
 * alone (a retry's backoff, a delayed event, a lease that lapsed) needs the
 * loop to look by itself. A loop that can tell when that is (`nextDueMs`)
 * sleeps until then, at least the poll interval and at most the idle
 * ceiling, while it can be heard; one that cannot, or that cannot be heard
 * (LISTEN down: nudges from other processes are lost), or whose pass
 * failed, looks again after the poll interval.
 */
export class WorkLoop {
  #wake?: () => void
  /** How long the current sleep was chosen to last; null while the loop passes. */
  #sleepingForMs: number | null = null
  /** A nudge arrived while no sleep was waiting for it: the next sleep must not wait. */
  #nudged = false
  #done?: Promise<void>

  constructor(
    readonly name: string,
    /** One pass; true if it found work (so another pass follows at once). */
    private readonly pass: () => Promise<boolean>,
    /** Milliseconds until this loop's next work is due by time (≤ 0: now; null: none waits). */
    private readonly nextDueMs?: () => Promise<number | null>
  ) {}

  start(running: () => boolean, pace: Pace) {
    this.#done = this.#run(running, pace)
  }

  /** Waiting for a nudge or the poll interval, with nothing left to do. */
  get idle() {
    return this.#wake !== undefined
  }

  /** While a pass runs: whether work was announced since it began (it may have come too late for it). */
  get nudgedDuringPass() {
    return this.#nudged
  }

  /** How long the sleep it is in was chosen to last (null while it passes). */
  get sleepingForMs() {
    return this.#sleepingForMs
  }

  nudge() {
    this.#nudged = true
    this.#wake?.()
  }

  /** Resolves once the loop has finished its current pass after `running` turned false. */
  finished() {
    return this.#done ?? Promise.resolve()
  }

  async #run(running: () => boolean, pace: Pace) {
    while (running()) {
      let failed = false
      try {
        let busy = true
        while (busy && running()) {
          // Anything nudged from here on is looked at by this pass or, if it comes too late for it, the next.
          this.#nudged = false
          busy = await this.pass()
        }
      } catch (error) {
        failed = true
        logger.error(
          { err: error, loop: this.name },
          'messaging pass failed; retrying after the poll interval'
        )
      }
      if (!running()) break
      if (!failed && this.#nudged) {
        // Work arrived while it passed: go round at once, without asking when work is next due
        // (two statements a pass — under a steady stream of events, most of a pass's overhead).
        this.#nudged = false
        continue
      }
      await this.#sleep(failed ? pace.pollIntervalMs : await this.#idleFor(pace))
    }
  }

  async #idleFor({ pollIntervalMs, idleCeilingMs, heard }: Pace) {
    if (!this.nextDueMs || idleCeilingMs <= pollIntervalMs || !heard()) return pollIntervalMs
    try {
      // Up to a fifth off the ceiling, at random: loops started together would otherwise
      // look together every minute, each on a connection of its own that the pool opens
      // for the moment and closes again while idle (4-5 new PostgreSQL sessions a minute).
      const ceiling = idleCeilingMs - Math.floor(Math.random() * (idleCeilingMs / 5))
      const due = (await this.nextDueMs()) ?? ceiling
      // At least the poll interval: work due now that this pass did not take (another
      // worker holds it) is looked at again then, as before, not in a tight loop.
      return Math.min(ceiling, Math.max(pollIntervalMs, Math.ceil(due)))
    } catch (error) {
      logger.warn({ err: error, loop: this.name }, 'could not read when work is next due')
      return pollIntervalMs
    }
  }

  #sleep(ms: number) {
    return new Promise<void>((resolve) => {
      // Nudged between the last pass and this sleep: go round again at once.
      if (this.#nudged) {
        this.#nudged = false
        return resolve()
      }
      // Woken or timed out alike, the loop is passing again from here: no longer idle.
      const done = () => {
        clearTimeout(timer)
        this.#wake = undefined
        this.#sleepingForMs = null
        resolve()
      }
      const timer = setTimeout(done, ms)
      this.#wake = done
      this.#sleepingForMs = ms
    })
  }
}

/**
 * The background work of `atrium:work` (and of the server with
 * ATRIUM_ROLE=all), as loops that never wait for each other:
 * - events: relay due outbox rows, then handle due deliveries;
 * - operations: run (or, on BullMQ, queue) due operations;
 * - one per module background task (mail, webhooks, chat recovery);
 * - maintenance, every 10 minutes.
 * Each passes until it finds nothing and sleeps until a NOTIFY or the poll
 * interval. Apart, a slow mail server, a webhook receiver that takes its 10 s
 * or a long operation holds back nothing but itself; in one loop, each pass
 * waited for all of them. stop() lets the current passes finish.
 */
export class MessagingWorker {
  #listener?: pg.Client
  #running = false
  #transport?: Transport
  #operations?: OperationsRunner
  #consuming = false
  readonly #claims: ClaimPacing
  readonly #window = new BatchWindow(GATHERING)
  /** LISTEN is up on every channel: nudges from other processes arrive. */
  #listening = false
  readonly #events = new WorkLoop('event delivery', () => this.#deliverEvents(), eventsNextDueMs)
  readonly #operationsLoop = new WorkLoop(
    'operations',
    async () => (await this.#operations!.runDue()) > 0,
    operationsNextDueMs
  )
  /** One loop per mounted module's background task, made at start(). */
  #tasks: WorkLoop[] = []
  #stopWakingTasks = () => {}
  #stopWakingRelay = () => {}
  readonly #maintenance = new WorkLoop('maintenance', async () => {
    const removed = await runMaintenance()
    if (removed) logger.debug({ removed }, 'maintenance pass')
    return false
  })

  constructor(private options: WorkerOptions) {
    this.#claims = new ClaimPacing(options.pollIntervalMs ?? 1000)
  }

  /**
   * Never throws on a missing service: without LISTEN the worker polls, and a
   * broker that refuses its consumers is tried again on later passes.
   */
  async start() {
    this.#running = true
    this.#transport =
      this.options.transport ?? (await createTransport({ leaseSeconds: this.options.leaseSeconds }))
    this.#operations =
      this.options.operations ??
      (await createOperationsRunner({ leaseSeconds: this.options.leaseSeconds }))
    await this.#operations.start?.()
    this.#operations.onSlotFree?.(() => this.#operationsLoop.nudge())
    await this.#listen()
    await this.#startConsumers()
    const tasks = mountedBackgroundTasks()
    this.#tasks = tasks.map(
      (task) =>
        new WorkLoop(
          `background task ${task.name}`,
          async () => (await runBackgroundTask(task)) > 0,
          task.nextDueMs?.bind(task)
        )
    )
    // Work queued for a task (mail and webhook deliveries, by handlers on any transport or by
    // requests) wakes that task's loop on commit: sent now, not at its next poll.
    const stops = tasks.map((task, index) =>
      onTaskWake(task.name, () => this.#tasks[index].nudge())
    )
    const stopWakingTasks = () => stops.forEach((stop) => stop())
    this.#stopWakingTasks = stopWakingTasks
    // Events committed in this process wake this loop directly (outbox.ts, wakeRelay).
    this.#stopWakingRelay = onRelayWake(() => this.#events.nudge())
    const running = () => this.#running
    const pollIntervalMs = this.options.pollIntervalMs ?? 1000
    const idleCeilingMs =
      this.options.idleCeilingMs ??
      (this.options.pollIntervalMs === undefined ? IDLE_CEILING_MS : pollIntervalMs)
    const listening = () => this.#listening
    this.#events.start(running, {
      pollIntervalMs,
      idleCeilingMs,
      // A broker's consumers that did not start are tried again on each pass of this loop.
      heard: () => this.#listening && (this.#consuming || !this.#transport?.startConsumers),
    })
    for (const loop of [this.#operationsLoop, ...this.#tasks])
      loop.start(running, { pollIntervalMs, idleCeilingMs, heard: listening })
    this.#maintenance.start(running, {
      pollIntervalMs: MAINTENANCE_EVERY_MS,
      idleCeilingMs: MAINTENANCE_EVERY_MS,
      heard: listening,
    })
  }

  get transport() {
    return this.#transport
  }

  /** Every loop is waiting for a notification or the poll interval, with nothing left to do. */
  get idle() {
    return this.#loops().every((loop) => loop.idle)
  }

  /** Each loop and how long its current sleep was chosen to last (null: passing), for diagnostics. */
  get sleeps() {
    return this.#loops().map((loop) => ({ loop: loop.name, ms: loop.sleepingForMs }))
  }

  /** Finishes the current passes and the broker consumers' in-flight handlers, then closes the connections. */
  async stop() {
    this.#running = false
    this.#stopWakingTasks()
    this.#stopWakingRelay()
    for (const loop of this.#loops()) loop.nudge()
    await Promise.all(this.#loops().map((loop) => loop.finished()))
    await this.#transport?.close?.()
    await this.#operations?.close?.()
    await this.#listener?.end().catch(() => {})
  }

  #loops() {
    return [this.#events, this.#operationsLoop, this.#maintenance, ...this.#tasks]
  }

  async #deliverEvents() {
    if (!this.#listener) await this.#listen()
    await this.#startConsumers()
    const claimSize = this.options.batchSize ?? DEFAULT_CLAIM_SIZE
    const handoff: Handoff = {
      leaseSeconds: this.options.leaseSeconds ?? 60,
      limit: claimSize,
      deliveries: [],
    }
    const relayed = await relayBatch(this.#transport!, RELAY_BATCH_SIZE, handoff)
    // What the relay wrote for this process came back leased to this pass, which handles it
    // without claiming it again (see ClaimPacing).
    const claim = this.#claims.claimNow(handoff.deliveries.length, this.#listening)
    const outcomes = await processDeliveries(this.options, {
      deliveries: handoff.deliveries,
      claim,
    })
    // A full claim, or a handoff that reached its limit (the relay wrote the rest due now):
    // the next pass, which follows at once, claims.
    if (
      handoff.deliveries.length >= claimSize ||
      (claim && outcomes.length - handoff.deliveries.length >= claimSize)
    )
      this.#claims.owe()
    const full = relayed >= RELAY_BATCH_SIZE || outcomes.length >= claimSize
    const gatherMs = this.#window.beforeNextPass({
      relayed,
      handled: outcomes.length,
      full,
      arrivedDuringPass: this.#events.nudgedDuringPass,
    })
    if (gatherMs > 0) {
      await new Promise((resolve) => setTimeout(resolve, gatherMs))
      return true
    }
    // Another pass at once only if a batch came back full: more is due than one pass takes.
    // Anything published or relayed elsewhere meanwhile has nudged the loop (its NOTIFY), so
    // the sleep that follows returns at once; what becomes due by time alone (a retry's
    // backoff, a delayed event, a lease) waits for the poll, as it did when idle.
    return full
  }

  async #startConsumers() {
    if (this.#consuming || !this.#transport?.startConsumers) return
    try {
      await this.#transport.startConsumers()
      this.#consuming = true
    } catch (error) {
      logger.warn({ err: error }, `${this.#transport.name} consumers did not start; retrying`)
    }
  }

  async #listen() {
    if (this.#listener) return
    const listener = new pg.Client({ connectionString: this.options.connectionString })
    const drop = (error?: Error) => {
      if (this.#listener !== listener) return
      this.#listener = undefined
      this.#listening = false
      if (this.#running) {
        logger.warn({ err: error }, 'messaging listener lost; polling until it is back')
        // Loops asleep until their next due work would not hear of it for up to the ceiling:
        // each looks now, and then polls; the events loop's pass listens again.
        for (const loop of [this.#events, this.#operationsLoop, ...this.#tasks]) loop.nudge()
      }
      listener.end().catch(() => {})
    }
    listener.on('notification', ({ channel, payload }) => {
      if (channel === TASKS_CHANNEL) {
        if (payload) wakeTaskHere(payload)
        return
      }
      // Deliveries written elsewhere (another process's relay, a replay of dead letters).
      if (channel === DELIVERIES_CHANNEL && payload !== RELAYED_HERE) this.#claims.owe()
      const loop = loopWokenBy(channel, payload)
      if (loop) (loop === 'operations' ? this.#operationsLoop : this.#events).nudge()
    })
    listener.on('error', drop)
    listener.on('end', () => drop())
    this.#listener = listener
    try {
      await listener.connect()
      for (const channel of [
        OUTBOX_CHANNEL,
        DELIVERIES_CHANNEL,
        OPERATIONS_CHANNEL,
        TASKS_CHANNEL,
      ]) {
        await listener.query(`LISTEN ${channel}`)
      }
      if (this.#listener !== listener) return
      this.#listening = true
      // What was queued while nobody listened sent its NOTIFY to no one: every loop looks now.
      for (const loop of [this.#events, this.#operationsLoop, ...this.#tasks]) loop.nudge()
    } catch (error) {
      drop(error as Error)
    }
  }
}

/**
 * Whether a delivery pass claims. A pass the relay handed deliveries to can
 * handle just those: the claim is one statement and one commit of the four or
 * five a pass costs under a steady stream. Deliveries due for other reasons —
 * a retry's backoff, a lapsed lease, deliveries written elsewhere — still need
 * a claim: it is made whenever the relay handed nothing (so a loop woken for
 * them, or idle until they are due, claims), when it is owed (another process
 * announced deliveries; the last claim came back full), while notifications
 * cannot reach this process, and at least every `everyMs` regardless — so a
 * stream of events relayed here delays a retry by at most that.
 */
export class ClaimPacing {
  #owed = true
  #lastClaimAt = Number.NEGATIVE_INFINITY

  constructor(
    private readonly everyMs: number,
    private readonly now: () => number = () => performance.now()
  ) {}

  owe() {
    this.#owed = true
  }

  /** Whether this pass claims; if it does, the claim is counted as made now. */
  claimNow(handed: number, heard: boolean) {
    const claim =
      handed === 0 || this.#owed || !heard || this.now() - this.#lastClaimAt >= this.everyMs
    if (claim) {
      this.#owed = false
      this.#lastClaimAt = this.now()
    }
    return claim
  }
}

/** What a pass of the events loop did, as BatchWindow weighs it. */
export interface EventsPass {
  /** Outbox events it relayed. */
  relayed: number
  /** Deliveries it handled here. */
  handled: number
  /** A batch came back full: more is due than one pass takes. */
  full: boolean
  /** Events were published (or deliveries announced) while it ran. */
  arrivedDuringPass: boolean
}

/**
 * How long the events loop waits before its next pass, so that events
 * published one after another are relayed and handled in batches instead of
 * one or two per pass. A pass costs the same few statements and commits
 * whether it carries one event or twenty (the relay, the handlers' unit of
 * work and its flush); while a publisher commits an event
 * every millisecond or so, a pass that starts as soon as the last ended
 * carries one or two, and the worker's statements — on the same cores and
 * event loop as the requests publishing — cost the publishers a third of
 * their throughput (bench:bus: 6.3 statements an event, 4.6 with a 5 ms
 * window, and ×1.3 the events per second).
 *
 * It waits only while events stream and the worker keeps up: a pass that
 * relayed more than one event (they came faster than the passes), fewer than
 * `below` (a bigger batch carries its pass's cost well already, and a worker
 * that falls behind — 8 publishers at once — would only hold its backlog
 * back: p95 103 → 88 ms in bench:bus' 8-publisher row), and heard of more
 * while it ran. The first event after a quiet spell, events a few
 * milliseconds apart, and each step of a lone saga (its handler publishes the
 * next event during the pass, one event a pass) go at once; so does a full
 * batch.
 */
export class BatchWindow {
  constructor(
    private readonly gathering: { handledMs: number; relayedMs: number; below: number }
  ) {}

  /** Milliseconds to wait before the next pass; 0: none (go round at once if full, else sleep until nudged). */
  beforeNextPass(pass: EventsPass) {
    if (pass.full || !pass.arrivedDuringPass) return 0
    if (pass.relayed < 2 || pass.relayed >= this.gathering.below) return 0
    return pass.handled > 0 ? this.gathering.handledMs : this.gathering.relayedMs
  }
}
