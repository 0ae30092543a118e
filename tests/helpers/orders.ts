import type { ApiClient } from '@japa/api-client'
import db from '@adonisjs/lucid/services/db'
import { randomUUID } from 'node:crypto'
import type { registerUser } from '#tests/helpers/identity'

type Session = Awaited<ReturnType<typeof registerUser>>

export async function resetOrders() {
  await db.rawQuery(
    `TRUNCATE orders_status_history, orders_orders, inventory_reservations, inventory_ledger,
              inventory_items, messaging_inbox, messaging_deliveries, messaging_outbox CASCADE`
  )
}

export async function createItem(
  client: ApiClient,
  owner: Session,
  input: { sku: string; onHand: number; priceMinor?: number }
) {
  const response = await client
    .post('/api/v1/inventory/items')
    .bearerToken(owner.tokens.accessToken)
    .json({ name: `Item ${input.sku}`, priceMinor: 1250, currency: 'EUR', ...input })
  if (response.status() !== 201) throw new Error(`item: ${response.status()} ${response.text()}`)
  return response.body()
}

export function placeOrder(
  client: ApiClient,
  session: Session,
  lines: Array<{ sku: string; quantity: number }>,
  key: string = randomUUID()
) {
  return client
    .post('/api/v1/orders')
    .bearerToken(session.tokens.accessToken)
    .header('idempotency-key', key)
    .json({ lines, customerEmail: 'Buyer@Example.com', note: 'leave at the door' })
}
