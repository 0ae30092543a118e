/*
| The inventory's part of the order saga: reserve on placement, release on
| cancellation, commit on fulfilment. Each runs in the event's tenant unit of
| work with its inbox row, so a redelivered event changes nothing twice.
*/
import { subscribe, subscribeBatch } from '#app/messaging/subscribers'
import { reservations } from '#modules/inventory/services/stock'
import '#modules/orders/index'

// Every placement passes here, one batch at a time per tenant (its SKU locks are ordered),
// so it reserves a batch's orders in one set of statements rather than one set per order.
subscribeBatch('orders.order_placed', 'inventory.reserve_stock', async (placed, trx) => {
  await reservations.reserveAll(
    trx,
    placed[0].tenantId!,
    placed.map((event) => ({ orderId: event.payload.orderId, lines: event.payload.lines }))
  )
})

subscribe('orders.order_cancelled', 'inventory.release_stock', async (event, trx) => {
  await reservations.release(trx, event.tenantId!, event.payload.orderId)
})

subscribe('orders.order_fulfilled', 'inventory.commit_stock', async (event, trx) => {
  await reservations.commit(trx, event.tenantId!, event.payload.orderId)
})
