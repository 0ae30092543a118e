import { LRUCache } from 'lru-cache'
import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import { changeFeed } from '#app/platform/change_feed'
import { clock } from '#app/platform/clock'

interface Slot<V> {
  value: V
  /** On `clock` (which tests may move), not the LRU's own timer. */
  expiresAt: number
  /** Half its life: a read from then on also refreshes it in the background. */
  refreshAt: number
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
  /** Loads in flight while the channel is heard, each with the generation it began in. */
  readonly #loading = new Map<string, { generation: number; value: Promise<V> }>()

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
   *
   * While the channel is heard, reads of a key that miss together share one
   * `load` (and its failure): when an entry expires under load, or after an
   * idle spell, the requests arriving meanwhile would otherwise each start
   * the same read, hold a connection each and queue behind one another. A
   * read never joins a load begun before a change it has been told of (the
   * generation moved); one told of nothing yet may, as it may hit the entry.
   *
   * A read in the second half of an entry's life is answered from memory and
   * refreshes the entry in the background, so a key read steadily never
   * expires in front of a request (after a quiet spell, bench:gateway's paced
   * rounds began with such a reload: their first requests waited 17-230 ms on
   * a slow VM). Nothing is served past its expiry: the bound on what a missed
   * NOTIFY can leave stale stays `ttlMs`.
   */
  read(key: string, load: () => Promise<V>, ttlOf?: (value: V) => number): Promise<V> {
    if (!changeFeed.hears(this.channel)) {
      changeFeed.ensure()
      return this.#load(key, load, ttlOf)
    }
    const slot = this.#entries.get(key)
    const now = clock.now()
    if (slot && slot.expiresAt > now) {
      if (slot.refreshAt <= now) this.#shared(key, load, ttlOf).catch(() => {})
      return Promise.resolve(slot.value)
    }
    return this.#shared(key, load, ttlOf)
  }

  /** The load of `key` in flight in this generation, or a new one. */
  #shared(key: string, load: () => Promise<V>, ttlOf?: (value: V) => number) {
    const pending = this.#loading.get(key)
    if (pending?.generation === this.#generation) return pending.value
    const loading = { generation: this.#generation, value: this.#load(key, load, ttlOf) }
    this.#loading.set(key, loading)
    const done = () => {
      if (this.#loading.get(key) === loading) this.#loading.delete(key)
    }
    loading.value.then(done, done)
    return loading.value
  }

  async #load(key: string, load: () => Promise<V>, ttlOf?: (value: V) => number) {
    const generation = this.#generation
    const value = await load()
    const ttl = Math.min(this.options.ttlMs, ttlOf?.(value) ?? Number.POSITIVE_INFINITY)
    if (generation === this.#generation && ttl > 0 && changeFeed.hears(this.channel)) {
      const now = clock.now()
      this.#entries.set(key, { value, expiresAt: now + ttl, refreshAt: now + ttl / 2 })
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
