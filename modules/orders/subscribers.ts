/*
| The orders module's part of the saga: confirm or reject once the inventory
| has answered. Runs in the event's tenant unit of work, through the inbox.
*/
import { subscribe, subscribeBatch } from '#app/messaging/subscribers'
import { orderSaga } from '#modules/orders/services/orders'
import '#modules/inventory/index'

// Every order passes here: a batch is confirmed in one set of statements. Each batch locks
// its own orders (one reservation per order) in id order, so batches may run side by side.
subscribeBatch(
  'inventory.stock_reserved',
  'orders.confirm_order',
  async (reserved, trx) => {
    await orderSaga.onStockReserved(
      trx,
      reserved.map((event) => event.payload)
    )
  },
  { concurrentBatches: true }
)

// Each locks only its own order's row, so its batches may run side by side.
subscribe(
  'inventory.stock_rejected',
  'orders.reject_order',
  async (event, trx) => {
    await orderSaga.onStockRejected(trx, event.payload)
  },
  { concurrentBatches: true }
)
