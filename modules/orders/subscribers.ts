/*
| The orders module's part of the saga: confirm or reject once the inventory
| has answered. Runs in the event's tenant unit of work, through the inbox.
*/
import { subscribe } from '#app/messaging/subscribers'
import { orderSaga } from '#modules/orders/services/orders'
import '#modules/inventory/index'

// Each locks only its own order's row, so its batches may run side by side.
subscribe(
  'inventory.stock_reserved',
  'orders.confirm_order',
  async (event, trx) => {
    await orderSaga.onStockReserved(trx, event.payload)
  },
  { concurrentBatches: true }
)

subscribe(
  'inventory.stock_rejected',
  'orders.reject_order',
  async (event, trx) => {
    await orderSaga.onStockRejected(trx, event.payload)
  },
  { concurrentBatches: true }
)
