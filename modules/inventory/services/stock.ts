import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import { ProblemException } from '#app/http/problem'
import { newId } from '#app/platform/ids'
import { sentFields } from '#app/platform/columns'
import { events } from '#app/messaging/outbox'
import type { ReservedLine, Shortage } from '#modules/inventory/events'
import Item from '#modules/inventory/models/item'
import LedgerEntry, { type LedgerKind } from '#modules/inventory/models/ledger_entry'

/** The columns a reservation reads from its locked rows. */
interface StockRow {
  sku: string
  price_minor: string | number
  currency: string
  active: boolean
  on_hand: number
  reserved: number
}

export const itemNotFound = (sku: string) =>
  new ProblemException(404, 'item_not_found', `No item with SKU ${sku}.`)

export interface ItemInput {
  sku: string
  name: string
  priceMinor: number
  currency: string
  active?: boolean
  onHand?: number
}

async function ledger(
  trx: TransactionClientContract,
  tenantId: string,
  entries: Array<{
    sku: string
    kind: LedgerKind
    onHandDelta?: number
    reservedDelta?: number
    reason?: string | null
    actorUserId?: string | null
    orderId?: string | null
  }>
) {
  if (entries.length === 0) return
  // One statement for all of a reservation's lines (a model would insert them one by one).
  await trx.table('inventory_ledger').multiInsert(
    entries.map((entry) => ({
      id: newId(),
      tenant_id: tenantId,
      sku: entry.sku,
      kind: entry.kind,
      on_hand_delta: entry.onHandDelta ?? 0,
      reserved_delta: entry.reservedDelta ?? 0,
      reason: entry.reason ?? null,
      actor_user_id: entry.actorUserId ?? null,
      order_id: entry.orderId ?? null,
    }))
  )
}

export const items = {
  async find(trx: TransactionClientContract, sku: string, options: { lock?: boolean } = {}) {
    const query = Item.query({ client: trx }).where('sku', sku)
    if (options.lock) query.forUpdate()
    const item = await query.first()
    if (!item) throw itemNotFound(sku)
    return item
  },

  async create(
    trx: TransactionClientContract,
    tenantId: string,
    input: ItemInput,
    actorUserId: string
  ) {
    const existing = await Item.query({ client: trx }).where('sku', input.sku).first()
    if (existing) {
      throw new ProblemException(409, 'sku_taken', `An item with SKU ${input.sku} already exists.`)
    }
    const item = await Item.create(
      {
        id: newId(),
        tenantId,
        sku: input.sku,
        name: input.name,
        priceMinor: input.priceMinor,
        currency: input.currency,
        active: input.active ?? true,
        onHand: input.onHand ?? 0,
        reserved: 0,
      },
      { client: trx }
    )
    if (input.onHand) {
      await ledger(trx, tenantId, [
        {
          sku: input.sku,
          kind: 'adjustment',
          onHandDelta: input.onHand,
          reason: 'initial stock',
          actorUserId,
        },
      ])
    }
    return item
  },

  /**
   * One imported row: created when the SKU is new; otherwise its name, price,
   * currency and active flag are set, and a different onHand becomes an
   * adjustment in the ledger (never below what is reserved).
   */
  async upsertFromImport(
    trx: TransactionClientContract,
    tenantId: string,
    row: ItemInput,
    actorUserId: string
  ): Promise<'created' | 'updated'> {
    const current = await Item.query({ client: trx }).where('sku', row.sku).forUpdate().first()
    if (!current) {
      await items.create(trx, tenantId, row, actorUserId)
      return 'created'
    }
    current.merge({ name: row.name, priceMinor: row.priceMinor, currency: row.currency })
    if (row.active !== undefined) current.active = row.active
    let delta = 0
    if (row.onHand !== undefined && row.onHand !== current.onHand) {
      // Never below what is reserved for orders.
      delta = Math.max(row.onHand, current.reserved) - current.onHand
      current.onHand += delta
    }
    await current.useTransaction(trx).save()
    if (delta !== 0) {
      await ledger(trx, tenantId, [
        { sku: row.sku, kind: 'adjustment', onHandDelta: delta, reason: 'import', actorUserId },
      ])
    }
    return 'updated'
  },

  async update(
    trx: TransactionClientContract,
    sku: string,
    input: Partial<Omit<ItemInput, 'sku' | 'onHand'>>
  ) {
    const item = await this.find(trx, sku)
    return item.useTransaction(trx).merge(sentFields(input)).save()
  },

  /** An append-only ledger entry and the stock change, together; stock never drops below what is reserved. */
  async adjust(
    trx: TransactionClientContract,
    tenantId: string,
    sku: string,
    input: { delta: number; reason: string },
    actorUserId: string
  ) {
    const item = await this.find(trx, sku, { lock: true })
    if (item.onHand + input.delta < item.reserved) {
      throw new ProblemException(
        409,
        'insufficient_stock',
        `On hand would be ${item.onHand + input.delta}, below the ${item.reserved} reserved for orders.`
      )
    }
    item.onHand += input.delta
    await item.useTransaction(trx).save()
    await ledger(trx, tenantId, [
      { sku, kind: 'adjustment', onHandDelta: input.delta, reason: input.reason, actorUserId },
    ])
    return item
  },

  async ledgerOf(trx: TransactionClientContract, sku: string) {
    await this.find(trx, sku)
    return LedgerEntry.query({ client: trx }).where('sku', sku).orderBy('created_at').orderBy('id')
  },

  /** For the orders module (through index.ts): which of these SKUs the tenant does not sell. */
  /** What placing an order needs to know: SKUs not for sale, and the currencies of the rest. */
  async saleability(trx: TransactionClientContract, skus: string[]) {
    const rows = await trx
      .from('inventory_items')
      .whereIn('sku', skus)
      .where('active', true)
      .select('sku', 'currency')
    const known = new Set(rows.map((row) => row.sku))
    return {
      unsellable: [...new Set(skus)].filter((sku) => !known.has(sku)),
      currencies: [...new Set(rows.map((row) => row.currency as string))].sort(),
    }
  },
}

/**
 * The saga's inventory steps, each run by a subscriber inside the event's
 * tenant unit of work (with its inbox row, so a redelivery does nothing).
 */
export const reservations = {
  /**
   * Reserves every line or none: quantities summed per SKU, rows locked in
   * SKU order (two orders sharing SKUs cannot deadlock), then checked and
   * updated. Publishes stock_reserved or stock_rejected.
   */
  async reserve(
    trx: TransactionClientContract,
    tenantId: string,
    orderId: string,
    lines: Array<{ sku: string; quantity: number }>
  ) {
    // Claim the order first. A row already there means it was handled: reserved before, or
    // released before it arrived (release() leaves a marker), and reserving now would hold
    // stock for nobody. A release racing with this claim waits on the row and then sees it.
    const claimed = await trx
      .table('inventory_reservations')
      .insert({
        id: newId(),
        tenant_id: tenantId,
        order_id: orderId,
        status: 'pending',
        lines: JSON.stringify([]),
      })
      .onConflict(['tenant_id', 'order_id'])
      .ignore()
      .returning('id')
    if (claimed.length === 0) return
    const reservationId = claimed[0].id as string
    const wanted = new Map<string, number>()
    for (const line of lines) wanted.set(line.sku, (wanted.get(line.sku) ?? 0) + line.quantity)
    const skus = [...wanted.keys()].sort()
    // Row locks in SKU order are the point here (see above), so this stays a plain query.
    const rows: StockRow[] = await trx
      .from('inventory_items')
      .whereIn('sku', skus)
      .orderBy('sku')
      .forUpdate()
    const bySku = new Map(rows.map((row) => [row.sku, row]))
    const shortages: Shortage[] = []
    // Placement refuses mixed currencies; a price changed since then is caught here.
    const orderCurrency = rows[0]?.currency
    for (const sku of skus) {
      const row = bySku.get(sku)
      const requested = wanted.get(sku)!
      const available = row ? row.on_hand - row.reserved : 0
      if (!row) shortages.push({ sku, requested, available: 0, reason: 'unknown' })
      else if (!row.active) shortages.push({ sku, requested, available, reason: 'inactive' })
      else if (row.currency !== orderCurrency)
        shortages.push({ sku, requested, available, reason: 'currency' })
      else if (available < requested) shortages.push({ sku, requested, available, reason: 'short' })
    }
    if (shortages.length) {
      await trx
        .from('inventory_reservations')
        .where('id', reservationId)
        .update({ status: 'rejected', updated_at: trx.raw('now()') })
      await events.publish(
        trx,
        'inventory.stock_rejected',
        { orderId, shortages },
        {
          version: 1,
          tenantId,
          aggregateId: orderId,
        }
      )
      return
    }
    for (const sku of skus) {
      await trx.from('inventory_items').where('sku', sku).increment('reserved', wanted.get(sku)!)
    }
    const reserved: ReservedLine[] = skus.map((sku) => ({
      sku,
      quantity: wanted.get(sku)!,
      unitPriceMinor: Number(bySku.get(sku)!.price_minor),
      currency: bySku.get(sku)!.currency,
    }))
    await trx
      .from('inventory_reservations')
      .where('id', reservationId)
      .update({ status: 'reserved', lines: JSON.stringify(reserved), updated_at: trx.raw('now()') })
    await ledger(
      trx,
      tenantId,
      reserved.map((line) => ({
        sku: line.sku,
        kind: 'reservation',
        reservedDelta: line.quantity,
        orderId,
      }))
    )
    await events.publish(
      trx,
      'inventory.stock_reserved',
      {
        orderId,
        lines: reserved,
        totalMinor: reserved.reduce((sum, line) => sum + line.quantity * line.unitPriceMinor, 0),
        currency: orderCurrency!,
      },
      { version: 1, tenantId, aggregateId: orderId }
    )
  },

  /**
   * Compensation: gives a cancelled order's reservation back (once). When the
   * cancellation overtakes the placement (events of one order may arrive in
   * either order), there is nothing to give back yet: a 'released' marker is
   * left instead, and the late reservation becomes a no-op. If a reservation
   * of the same order is being made at this moment, the marker's insert waits
   * for it and then finds its row: the reservation is released here, in the
   * same attempt.
   */
  async release(trx: TransactionClientContract, tenantId: string, orderId: string) {
    let released = await settle(trx, tenantId, orderId, 'release')
    if (!released) {
      const marked = await trx
        .table('inventory_reservations')
        .insert({
          id: newId(),
          tenant_id: tenantId,
          order_id: orderId,
          status: 'released',
          lines: JSON.stringify([]),
        })
        .onConflict(['tenant_id', 'order_id'])
        .ignore()
        .returning('id')
      // A row was there after all (committed while we waited): settle it if it holds stock.
      if (marked.length === 0) released = await settle(trx, tenantId, orderId, 'release')
    }
    if (released) {
      await events.publish(
        trx,
        'inventory.stock_released',
        { orderId },
        { version: 1, tenantId, aggregateId: orderId }
      )
    }
  },

  /** Fulfilment: the reserved units leave the warehouse (on hand and reserved both drop). */
  async commit(trx: TransactionClientContract, tenantId: string, orderId: string) {
    await settle(trx, tenantId, orderId, 'commit')
  },
}

/**
 * Ends an order's reservation once: release gives the units back to
 * `available`, commit takes them out of `on_hand` too. Items are updated in
 * SKU order, like reservations lock them. Returns false when the order holds
 * nothing (already settled, or never reserved).
 */
async function settle(
  trx: TransactionClientContract,
  tenantId: string,
  orderId: string,
  kind: 'release' | 'commit'
) {
  const reservation = await trx
    .from('inventory_reservations')
    .where({ order_id: orderId, status: 'reserved' })
    .forUpdate()
    .first()
  if (!reservation) return false
  const lines = [...(reservation.lines as ReservedLine[])].sort((a, b) =>
    a.sku.localeCompare(b.sku)
  )
  const onHandDelta = (line: ReservedLine) => (kind === 'commit' ? -line.quantity : 0)
  for (const line of lines) {
    await trx
      .from('inventory_items')
      .where('sku', line.sku)
      .update({
        on_hand: trx.raw('on_hand + ?', [onHandDelta(line)]),
        reserved: trx.raw('reserved - ?', [line.quantity]),
        updated_at: trx.raw('now()'),
      })
  }
  await trx
    .from('inventory_reservations')
    .where('id', reservation.id)
    .update({ status: kind === 'commit' ? 'committed' : 'released', updated_at: trx.raw('now()') })
  await ledger(
    trx,
    tenantId,
    lines.map((line) => ({
      sku: line.sku,
      kind,
      onHandDelta: onHandDelta(line),
      reservedDelta: -line.quantity,
      orderId,
    }))
  )
  return true
}
