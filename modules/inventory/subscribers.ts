/*
| The inventory's part of the order saga: reserve on placement, release on
| cancellation, commit on fulfilment. Each runs in the event's tenant unit of
| work with its inbox row, so a redelivered event changes nothing twice.
*/
import { subscribe } from '#app/messaging/subscribers'
import { reservations } from '#modules/inventory/services/stock'
import '#modules/orders/index'

subscribe('orders.order_placed', 'inventory.reserve_stock', async (event, trx) => {
  await reservations.reserve(trx, event.tenantId!, event.payload.orderId, event.payload.lines)
})

subscribe('orders.order_cancelled', 'inventory.release_stock', async (event, trx) => {
  await reservations.release(trx, event.tenantId!, event.payload.orderId)
})

subscribe('orders.order_fulfilled', 'inventory.commit_stock', async (event, trx) => {
  await reservations.commit(trx, event.tenantId!, event.payload.orderId)
})
