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
