import type { OpenApiFragment } from '#app/openapi/types'
import { json, pageOf, ref, response } from '#app/openapi/components'
import { queryParameters, requestBody } from '#app/openapi/from_validators'
import {
  adjustmentValidator,
  importValidator,
  itemCreateValidator,
  itemListValidator,
  itemUpdateValidator,
} from '#modules/inventory/validators/items'

const bearer = [{ bearer: [] }]
const sku = { name: 'sku', in: 'path', required: true, schema: { type: 'string' } }
const errors = {
  401: response('Unauthorized'),
  403: { ...response('Forbidden'), description: 'forbidden (role) or no_active_tenant' },
}

const fragment: OpenApiFragment = {
  tags: [{ name: 'inventory', description: 'Catalog, stock and its ledger' }],
  paths: {
    '/api/v1/inventory/items': {
      get: {
        operationId: 'inventoryListItems',
        summary: 'Items by SKU; lowStock=N keeps those with at most N available',
        tags: ['inventory'],
        security: bearer,
        parameters: queryParameters(itemListValidator),
        responses: {
          200: json(pageOf(ref('InventoryItem'))),
          ...errors,
          422: response('ValidationFailed'),
        },
      },
      post: {
        operationId: 'inventoryCreateItem',
        summary: 'Add an item (owners and admins), optionally with initial stock',
        tags: ['inventory'],
        security: bearer,
        requestBody: requestBody(itemCreateValidator),
        responses: {
          201: json(ref('InventoryItem'), 'Created'),
          ...errors,
          409: { ...response('Conflict'), description: 'sku_taken' },
          422: response('ValidationFailed'),
        },
      },
    },
    '/api/v1/inventory/items/{sku}': {
      get: {
        operationId: 'inventoryShowItem',
        summary: 'One item with its stock',
        tags: ['inventory'],
        security: bearer,
        parameters: [sku],
        responses: { 200: json(ref('InventoryItem')), ...errors, 404: response('NotFound') },
      },
      patch: {
        operationId: 'inventoryUpdateItem',
        summary: 'Change name, price, currency or whether it is for sale',
        tags: ['inventory'],
        security: bearer,
        parameters: [sku],
        requestBody: requestBody(itemUpdateValidator),
        responses: {
          200: json(ref('InventoryItem')),
          ...errors,
          404: response('NotFound'),
          422: response('ValidationFailed'),
        },
      },
    },
    '/api/v1/inventory/items/{sku}/adjustments': {
      post: {
        operationId: 'inventoryAdjustStock',
        summary: 'Add or remove stock with a reason (appended to the ledger)',
        tags: ['inventory'],
        security: bearer,
        parameters: [sku],
        requestBody: requestBody(adjustmentValidator),
        responses: {
          201: json(ref('InventoryItem'), 'Adjusted'),
          ...errors,
          404: response('NotFound'),
          409: {
            ...response('Conflict'),
            description: 'insufficient_stock: below what is reserved',
          },
          422: response('ValidationFailed'),
        },
      },
    },
    '/api/v1/inventory/items/{sku}/ledger': {
      get: {
        operationId: 'inventoryItemLedger',
        summary: 'Every stock movement of an item, oldest first',
        tags: ['inventory'],
        security: bearer,
        parameters: [sku],
        responses: {
          200: json({
            type: 'object',
            required: ['data'],
            properties: { data: { type: 'array', items: ref('LedgerEntry') } },
          }),
          ...errors,
          404: response('NotFound'),
        },
      },
    },
    '/api/v1/inventory/imports': {
      post: {
        operationId: 'inventoryImport',
        summary:
          'Import items from CSV (sku, name, priceMinor, currency; optional onHand, active) as an operation',
        description:
          'New SKUs are created, existing ones updated; a different onHand becomes a ledger adjustment. ' +
          'Runs in the background in batches of 100 rows: follow GET /api/v1/operations/{id} (or its ' +
          '/events stream); the result counts created and updated items and lists rejected rows by line.',
        tags: ['inventory'],
        security: bearer,
        requestBody: requestBody(importValidator),
        responses: {
          202: json(ref('Operation'), 'Queued; Location names the operation'),
          ...errors,
          404: { ...response('NotFound'), description: 'tenant_not_found' },
          422: response('ValidationFailed'),
        },
      },
    },
  },
  schemas: {
    InventoryItem: {
      type: 'object',
      required: [
        'sku',
        'name',
        'priceMinor',
        'currency',
        'active',
        'onHand',
        'reserved',
        'available',
      ],
      properties: {
        sku: { type: 'string' },
        name: { type: 'string' },
        priceMinor: { type: 'integer' },
        currency: { type: 'string' },
        active: { type: 'boolean' },
        onHand: { type: 'integer' },
        reserved: { type: 'integer' },
        available: { type: 'integer', description: 'onHand − reserved' },
        createdAt: { type: 'string', format: 'date-time' },
        updatedAt: { type: 'string', format: 'date-time' },
      },
      additionalProperties: false,
    },
    LedgerEntry: {
      type: 'object',
      required: ['kind', 'onHandDelta', 'reservedDelta', 'at'],
      properties: {
        kind: { enum: ['adjustment', 'reservation', 'release', 'commit'] },
        onHandDelta: { type: 'integer' },
        reservedDelta: { type: 'integer' },
        reason: { type: ['string', 'null'] },
        orderId: { type: ['string', 'null'] },
        actorUserId: { type: ['string', 'null'] },
        at: { type: 'string', format: 'date-time' },
      },
    },
  },
}

export default fragment
