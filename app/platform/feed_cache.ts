import { LRUCache } from 'lru-cache'
import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import { changeFeed } from '#app/platform/change_feed'
import { clock } from '#app/platform/clock'

interface Slot<V> {
  value: V
  /** On `clock` (which tests may move), not the LRU's own timer. */
  expiresAt: number
}

/**
 * A per-process cache of database reads that stays correct across processes:
 * writers NOTIFY `channel` inside their transaction, every process LISTENs
 * (change_feed.ts) and `onChange` drops what the change touched. The rules a
 * hand-rolled cache tends to miss are kept here once:
 *
 * - nothing is served or kept unless the channel is heard (its LISTEN done);
 *   losing the feed empties the cache;
 * - a read that overlapped a change never puts back what the change dropped:
 *   every drop bumps a generation, and a read keeps its answer only if no
 *   drop happened while it ran;
 * - the process that makes a change drops at its own commit
 *   (`changedOnCommit`), so its next request does not wait for its own NOTIFY.
 *
 * Values may be null (a cached "no such thing"); entries also expire after
 * `ttlMs` (or sooner, per value) as a bound on anything a notify missed.
 */
export class FeedCache<V> {
  readonly #entries: LRUCache<string, Slot<V>>
  #generation = 0

  constructor(
    readonly channel: string,
    private options: { max: number; ttlMs: number },
    onChange: (change: string, cache: FeedCache<V>) => void
  ) {
    this.#entries = new LRUCache({ max: options.max })
    changeFeed.on(channel, (change) => (change === '*' ? this.clear() : onChange(change, this)))
  }

  /**
   * The value for `key`: from memory when the channel is heard, else from
   * `load`, kept for `ttlMs` or `ttlOf(value)` ms, whichever is shorter.
   */
  async read(key: string, load: () => Promise<V>, ttlOf?: (value: V) => number): Promise<V> {
    if (changeFeed.hears(this.channel)) {
      const slot = this.#entries.get(key)
      if (slot && slot.expiresAt > clock.now()) return slot.value
    } else {
      changeFeed.ensure()
    }
    const generation = this.#generation
    const value = await load()
    const ttl = Math.min(this.options.ttlMs, ttlOf?.(value) ?? Number.POSITIVE_INFINITY)
    if (generation === this.#generation && ttl > 0 && changeFeed.hears(this.channel)) {
      this.#entries.set(key, { value, expiresAt: clock.now() + ttl })
    }
    return value
  }

  delete(key: string) {
    this.#generation++
    this.#entries.delete(key)
  }

  deleteWhere(matches: (value: V, key: string) => boolean) {
    this.#generation++
    for (const [key, slot] of this.#entries.entries()) {
      if (matches(slot.value, key)) this.#entries.delete(key)
    }
  }

  clear() {
    this.#generation++
    this.#entries.clear()
  }

  /** For a change this process commits: `drop` runs on commit (other processes hear the NOTIFY). */
  changedOnCommit(trx: TransactionClientContract, drop: (cache: this) => void) {
    trx.after('commit', () => drop(this))
  }

  /** Whether `key` would be served from memory now (for tests and diagnostics). */
  holds(key: string) {
    const slot = this.#entries.peek(key)
    return changeFeed.hears(this.channel) && slot !== undefined && slot.expiresAt > clock.now()
  }

  get size() {
    return this.#entries.size
  }
}
