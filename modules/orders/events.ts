/** Integration events the orders module publishes (inventory and notifications subscribe). */
export interface OrderLine {
  sku: string
  quantity: number
}

declare module '#app/messaging/types' {
  interface IntegrationEvents {
    'orders.order_placed': {
      version: 1
      payload: { orderId: string; lines: OrderLine[]; customerEmail: string }
    }
    'orders.order_confirmed': {
      version: 1
      payload: { orderId: string; customerEmail: string; totalMinor: number; currency: string }
    }
    'orders.order_rejected': {
      version: 1
      payload: { orderId: string; customerEmail: string; shortSkus: string[] }
    }
    'orders.order_cancelled': {
      version: 1
      payload: { orderId: string; customerEmail: string; previousStatus: string }
    }
    'orders.order_fulfilled': { version: 1; payload: { orderId: string; customerEmail: string } }
  }
}

const orderId = { type: 'string', format: 'uuid' }
const customerEmail = { type: 'string', format: 'email' }

/** The order outcomes tenants may receive by webhook (their payloads as published). */
export const ORDER_WEBHOOK_EVENTS = {
  'orders.order_confirmed': {
    description: 'Stock was reserved: the order is confirmed and priced.',
    payload: {
      type: 'object',
      required: ['orderId', 'customerEmail', 'totalMinor', 'currency'],
      properties: {
        orderId,
        customerEmail,
        totalMinor: { type: 'integer' },
        currency: { type: 'string', pattern: '^[A-Z]{3}$' },
      },
    },
  },
  'orders.order_rejected': {
    description: 'Not enough stock: the order is rejected, naming the short SKUs.',
    payload: {
      type: 'object',
      required: ['orderId', 'customerEmail', 'shortSkus'],
      properties: {
        orderId,
        customerEmail,
        shortSkus: { type: 'array', items: { type: 'string' } },
      },
    },
  },
  'orders.order_cancelled': {
    description: 'The order was cancelled (from pending or confirmed).',
    payload: {
      type: 'object',
      required: ['orderId', 'customerEmail', 'previousStatus'],
      properties: { orderId, customerEmail, previousStatus: { enum: ['pending', 'confirmed'] } },
    },
  },
  'orders.order_fulfilled': {
    description: 'The order left the warehouse.',
    payload: {
      type: 'object',
      required: ['orderId', 'customerEmail'],
      properties: { orderId, customerEmail },
    },
  },
}
