import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import { ProblemException } from '#app/http/problem'
import { newId } from '#app/platform/ids'
import { sentFields } from '#app/platform/columns'
import { events, type Publication } from '#app/messaging/outbox'
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

/** An order the saga asks the inventory to reserve for. */
export interface OrderToReserve {
  orderId: string
  lines: Array<{ sku: string; quantity: number }>
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
  /** Reserves one order's lines (all or none); see reserveAll. */
  async reserve(
    trx: TransactionClientContract,
    tenantId: string,
    orderId: string,
    lines: OrderToReserve['lines']
  ) {
    await reservations.reserveAll(trx, tenantId, [{ orderId, lines }])
  },

  /**
   * Reserves for each order every line or none, deciding order by order in
   * the order given, and publishes stock_reserved or stock_rejected for each.
   * Set-based, so a batch of orders costs the statements of one: claim them,
   * lock their SKUs' rows in SKU order (two reservations sharing SKUs cannot
   * deadlock), decide, then one update of the items, of the reservations, one
   * ledger insert and one publish.
   */
  async reserveAll(trx: TransactionClientContract, tenantId: string, orders: OrderToReserve[]) {
    const claimed = await claim(trx, tenantId, orders)
    if (claimed.size === 0) return
    const decided: Array<{ orderId: string; reservationId: string; wanted: Map<string, number> }> =
      []
    for (const order of orders) {
      const reservationId = claimed.get(order.orderId)
      // Claimed once, even if the batch names an order twice.
      if (!reservationId) continue
      claimed.delete(order.orderId)
      const wanted = new Map<string, number>()
      for (const line of order.lines)
        wanted.set(line.sku, (wanted.get(line.sku) ?? 0) + line.quantity)
      decided.push({ orderId: order.orderId, reservationId, wanted })
    }
    const skus = [...new Set(decided.flatMap((order) => [...order.wanted.keys()]))].sort()
    // Row locks in SKU order are the point here (see above), so this stays a plain query.
    const rows: StockRow[] = await trx
      .from('inventory_items')
      .whereIn('sku', skus)
      .orderBy('sku')
      .forUpdate()
    const bySku = new Map(rows.map((row) => [row.sku, row]))
    // What is left after the batch's earlier orders, which come first.
    const available = new Map(rows.map((row) => [row.sku, row.on_hand - row.reserved]))
    const reservedPerSku = new Map<string, number>()
    const outcomes: Array<{
      reservationId: string
      status: 'reserved' | 'rejected'
      lines: ReservedLine[]
    }> = []
    const ledgerEntries: Array<Parameters<typeof ledger>[2][number]> = []
    const publications: Publication[] = []
    for (const { orderId, reservationId, wanted } of decided) {
      const orderSkus = [...wanted.keys()].sort()
      const shortages = shortagesOf(orderSkus, wanted, bySku, available)
      if (shortages.length) {
        outcomes.push({ reservationId, status: 'rejected', lines: [] })
        publications.push({
          type: 'inventory.stock_rejected',
          payload: { orderId, shortages },
          options: { version: 1, tenantId, aggregateId: orderId },
        })
        continue
      }
      const lines: ReservedLine[] = orderSkus.map((sku) => ({
        sku,
        quantity: wanted.get(sku)!,
        unitPriceMinor: Number(bySku.get(sku)!.price_minor),
        currency: bySku.get(sku)!.currency,
      }))
      for (const line of lines) {
        available.set(line.sku, available.get(line.sku)! - line.quantity)
        reservedPerSku.set(line.sku, (reservedPerSku.get(line.sku) ?? 0) + line.quantity)
        ledgerEntries.push({
          sku: line.sku,
          kind: 'reservation',
          reservedDelta: line.quantity,
          orderId,
        })
      }
      outcomes.push({ reservationId, status: 'reserved', lines })
      publications.push({
        type: 'inventory.stock_reserved',
        payload: {
          orderId,
          lines,
          totalMinor: lines.reduce((sum, line) => sum + line.quantity * line.unitPriceMinor, 0),
          currency: lines[0].currency,
        },
        options: { version: 1, tenantId, aggregateId: orderId },
      })
    }
    if (reservedPerSku.size) {
      await trx.rawQuery(
        `UPDATE inventory_items i SET reserved = i.reserved + d.quantity
           FROM unnest(?::text[], ?::int[]) AS d(sku, quantity)
          WHERE i.sku = d.sku`,
        [[...reservedPerSku.keys()], [...reservedPerSku.values()]]
      )
    }
    await trx.rawQuery(
      `UPDATE inventory_reservations r SET status = d.status, lines = d.lines, updated_at = now()
         FROM unnest(?::uuid[], ?::text[], ?::jsonb[]) AS d(id, status, lines)
        WHERE r.id = d.id`,
      [
        outcomes.map((outcome) => outcome.reservationId),
        outcomes.map((outcome) => outcome.status),
        outcomes.map((outcome) => JSON.stringify(outcome.lines)),
      ]
    )
    await ledger(trx, tenantId, ledgerEntries)
    await events.publishMany(trx, publications)
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

/**
 * Claims orders for reservation: a row already there means the order was
 * handled — reserved before, or released before it arrived (release() leaves
 * a marker), and reserving now would hold stock for nobody. A release racing
 * with this claim waits on the row and then sees it. Returns the claimed
 * orders' reservation ids.
 */
async function claim(trx: TransactionClientContract, tenantId: string, orders: OrderToReserve[]) {
  const { rows } = await trx.rawQuery(
    `INSERT INTO inventory_reservations (id, tenant_id, order_id, status, lines)
     SELECT id, ?, order_id, 'pending', '[]' FROM unnest(?::uuid[], ?::uuid[]) AS c(id, order_id)
     ON CONFLICT (tenant_id, order_id) DO NOTHING
     RETURNING id, order_id`,
    [tenantId, orders.map(() => newId()), orders.map((order) => order.orderId)]
  )
  return new Map(
    (rows as Array<{ id: string; order_id: string }>).map((row) => [row.order_id, row.id])
  )
}

/** Why an order's lines cannot all be reserved from what is available; empty when they can. */
function shortagesOf(
  skus: string[],
  wanted: Map<string, number>,
  bySku: Map<string, StockRow>,
  available: Map<string, number>
) {
  const shortages: Shortage[] = []
  // Placement refuses mixed currencies; a price changed since then is caught here.
  const orderCurrency = skus.map((sku) => bySku.get(sku)).find(Boolean)?.currency
  for (const sku of skus) {
    const row = bySku.get(sku)
    const requested = wanted.get(sku)!
    const left = available.get(sku) ?? 0
    if (!row) shortages.push({ sku, requested, available: 0, reason: 'unknown' })
    else if (!row.active) shortages.push({ sku, requested, available: left, reason: 'inactive' })
    else if (row.currency !== orderCurrency)
      shortages.push({ sku, requested, available: left, reason: 'currency' })
    else if (left < requested) shortages.push({ sku, requested, available: left, reason: 'short' })
  }
  return shortages
}
