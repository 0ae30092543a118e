import { defineApi, optional, parameter, ref, schema as s } from '#app/openapi/define'
import { listOrdersValidator, placeOrderValidator } from '#modules/orders/validators/orders'

const STATUSES = ['pending', 'confirmed', 'rejected', 'cancelled', 'fulfilled'] as const
const transitionErrors = {
  404: 'order_not_found (also another tenant’s order)',
  409: 'illegal_transition, naming both states',
}

export default defineApi(
  { name: 'orders', description: 'Orders and their saga (see docs/orders.md)' },
  {
    'POST /api/v1/orders': {
      id: 'ordersPlace',
      summary: 'Place an order: 202 with it pending; the saga confirms or rejects it',
      parameters: [{ ...parameter('IdempotencyKey'), required: true }],
      body: placeOrderValidator,
      ok: { 202: ref('Order') },
      errors: {
        400: 'idempotency_key_required or malformed body',
        409: 'the same Idempotency-Key is still being processed',
        422: 'invalid lines, unknown SKUs, mixed currencies, or the key reused with another body',
      },
    },
    'GET /api/v1/orders': {
      id: 'ordersList',
      summary: 'Orders, newest first; filter by status, customer email and creation day',
      query: listOrdersValidator,
      ok: { 200: s.pageOf(ref('Order')) },
    },
    'GET /api/v1/orders/{id}': {
      id: 'ordersShow',
      summary: 'One order with its status history',
      ok: { 200: ref('Order') },
      errors: { 404: transitionErrors[404] },
    },
    'POST /api/v1/orders/{id}/cancel': {
      id: 'ordersCancel',
      summary: 'Cancel a pending or confirmed order (a confirmed one releases its stock)',
      ok: { 200: ref('Order') },
      errors: transitionErrors,
    },
    'POST /api/v1/orders/{id}/fulfil': {
      id: 'ordersFulfil',
      summary: 'Fulfil a confirmed order (its reserved stock leaves on hand)',
      ok: { 200: ref('Order') },
      errors: transitionErrors,
    },
  },
  {
    Order: s.object({
      id: s.uuid,
      status: s.enum(STATUSES),
      customerEmail: s.string,
      note: s.nullable(s.string),
      lines: s.array(
        s.object({
          sku: s.string,
          quantity: s.integer,
          unitPriceMinor: optional(s.described(s.integer, 'Once confirmed')),
          currency: optional(s.string),
        })
      ),
      totalMinor: s.nullable(s.integer),
      currency: s.nullable(s.string),
      shortages: s.nullable(
        s.array(
          s.object({
            sku: s.string,
            requested: s.integer,
            available: s.integer,
            reason: s.enum(['unknown', 'inactive', 'short', 'currency']),
          })
        )
      ),
      createdAt: s.dateTime,
      updatedAt: s.dateTime,
      history: optional(
        s.array(
          s.object({
            from: s.nullable(s.enum(STATUSES)),
            to: s.enum(STATUSES),
            reason: s.nullable(s.string),
            actorUserId: s.nullable(s.uuid),
            at: s.dateTime,
          })
        )
      ),
    }),
  }
)
