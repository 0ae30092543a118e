import type { OpenApiFragment } from '#app/openapi/types'
import { json, pageOf, parameter, ref, response } from '#app/openapi/components'
import { queryParameters, requestBody } from '#app/openapi/from_validators'
import { listOrdersValidator, placeOrderValidator } from '#modules/orders/validators/orders'

const bearer = [{ bearer: [] }]
const id = { name: 'id', in: 'path', required: true, schema: { type: 'string' } }
const errors = {
  401: response('Unauthorized'),
  403: { ...response('Forbidden'), description: 'no_active_tenant' },
}
const transitionErrors = {
  ...errors,
  404: { ...response('NotFound'), description: 'order_not_found (also another tenant’s order)' },
  409: { ...response('Conflict'), description: 'illegal_transition, naming both states' },
}

const fragment: OpenApiFragment = {
  tags: [{ name: 'orders', description: 'Orders and their saga (see docs/orders.md)' }],
  paths: {
    '/api/v1/orders': {
      post: {
        operationId: 'ordersPlace',
        summary: 'Place an order: 202 with it pending; the saga confirms or rejects it',
        tags: ['orders'],
        security: bearer,
        parameters: [{ ...parameter('IdempotencyKey'), required: true }],
        requestBody: requestBody(placeOrderValidator),
        responses: {
          202: json(ref('Order'), 'Accepted, pending'),
          400: {
            ...response('BadRequest'),
            description: 'idempotency_key_required or malformed body',
          },
          ...errors,
          409: {
            ...response('Conflict'),
            description: 'the same Idempotency-Key is still being processed',
          },
          422: {
            ...response('ValidationFailed'),
            description: 'invalid lines, unknown SKUs, or the key reused with another body',
          },
        },
      },
      get: {
        operationId: 'ordersList',
        summary: 'Orders, newest first; filter by status, customer email and creation day',
        tags: ['orders'],
        security: bearer,
        parameters: queryParameters(listOrdersValidator),
        responses: {
          200: json(pageOf(ref('Order'))),
          ...errors,
          422: response('ValidationFailed'),
        },
      },
    },
    '/api/v1/orders/{id}': {
      get: {
        operationId: 'ordersShow',
        summary: 'One order with its status history',
        tags: ['orders'],
        security: bearer,
        parameters: [id],
        responses: { 200: json(ref('Order')), ...errors, 404: response('NotFound') },
      },
    },
    '/api/v1/orders/{id}/cancel': {
      post: {
        operationId: 'ordersCancel',
        summary: 'Cancel a pending or confirmed order (a confirmed one releases its stock)',
        tags: ['orders'],
        security: bearer,
        parameters: [id],
        responses: { 200: json(ref('Order')), ...transitionErrors },
      },
    },
    '/api/v1/orders/{id}/fulfil': {
      post: {
        operationId: 'ordersFulfil',
        summary: 'Fulfil a confirmed order (its reserved stock leaves on hand)',
        tags: ['orders'],
        security: bearer,
        parameters: [id],
        responses: { 200: json(ref('Order')), ...transitionErrors },
      },
    },
  },
  schemas: {
    Order: {
      type: 'object',
      required: ['id', 'status', 'customerEmail', 'lines', 'createdAt'],
      properties: {
        id: { type: 'string', format: 'uuid' },
        status: { enum: ['pending', 'confirmed', 'rejected', 'cancelled', 'fulfilled'] },
        customerEmail: { type: 'string' },
        note: { type: ['string', 'null'] },
        lines: {
          type: 'array',
          items: {
            type: 'object',
            required: ['sku', 'quantity'],
            properties: {
              sku: { type: 'string' },
              quantity: { type: 'integer' },
              unitPriceMinor: { type: 'integer', description: 'Once confirmed' },
              currency: { type: 'string' },
            },
          },
        },
        totalMinor: { type: ['integer', 'null'] },
        currency: { type: ['string', 'null'] },
        shortages: {
          type: ['array', 'null'],
          items: {
            type: 'object',
            properties: {
              sku: { type: 'string' },
              requested: { type: 'integer' },
              available: { type: 'integer' },
              reason: { enum: ['unknown', 'inactive', 'short', 'currency'] },
            },
          },
        },
        createdAt: { type: 'string', format: 'date-time' },
        updatedAt: { type: 'string', format: 'date-time' },
        history: {
          type: 'array',
          items: {
            type: 'object',
            required: ['to', 'at'],
            properties: {
              from: { type: ['string', 'null'] },
              to: { type: 'string' },
              reason: { type: ['string', 'null'] },
              actorUserId: { type: ['string', 'null'] },
              at: { type: 'string', format: 'date-time' },
            },
          },
        },
      },
      additionalProperties: false,
    },
  },
}

export default fragment
