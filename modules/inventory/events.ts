/** Integration events the inventory publishes (orders and notifications subscribe). */
export interface ReservedLine {
  sku: string
  quantity: number
  unitPriceMinor: number
  currency: string
}

export interface Shortage {
  sku: string
  requested: number
  available: number
  /**
   * unknown: no such SKU; inactive: not for sale; short: not enough available;
   * currency: priced in another currency than the order's first line.
   */
  reason: 'unknown' | 'inactive' | 'short' | 'currency'
}

declare module '#app/messaging/types' {
  interface IntegrationEvents {
    'inventory.stock_reserved': {
      version: 1
      payload: { orderId: string; lines: ReservedLine[]; totalMinor: number; currency: string }
    }
    'inventory.stock_rejected': { version: 1; payload: { orderId: string; shortages: Shortage[] } }
    'inventory.stock_released': { version: 1; payload: { orderId: string } }
  }
}
