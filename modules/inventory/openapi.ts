import { defineApi, ref, schema as s } from '#app/openapi/define'
import {
  adjustmentValidator,
  importValidator,
  itemCreateValidator,
  itemListValidator,
  itemUpdateValidator,
} from '#modules/inventory/validators/items'

const missing = { 404: 'item_not_found' }

export default defineApi(
  { name: 'inventory', description: 'Catalog, stock and its ledger' },
  {
    'GET /api/v1/inventory/items': {
      id: 'inventoryListItems',
      summary: 'Items by SKU; lowStock=N keeps those with at most N available',
      query: itemListValidator,
      ok: { 200: s.pageOf(ref('InventoryItem')) },
    },
    'POST /api/v1/inventory/items': {
      id: 'inventoryCreateItem',
      summary: 'Add an item (owners and admins), optionally with initial stock',
      body: itemCreateValidator,
      ok: { 201: ref('InventoryItem') },
      errors: { 409: 'sku_taken' },
    },
    'GET /api/v1/inventory/items/{sku}': {
      id: 'inventoryShowItem',
      summary: 'One item with its stock',
      ok: { 200: ref('InventoryItem') },
      errors: missing,
    },
    'PATCH /api/v1/inventory/items/{sku}': {
      id: 'inventoryUpdateItem',
      summary: 'Change name, price, currency or whether it is for sale',
      body: itemUpdateValidator,
      ok: { 200: ref('InventoryItem') },
      errors: missing,
    },
    'POST /api/v1/inventory/items/{sku}/adjustments': {
      id: 'inventoryAdjustStock',
      summary: 'Add or remove stock with a reason (appended to the ledger)',
      body: adjustmentValidator,
      ok: { 201: ref('InventoryItem') },
      errors: { ...missing, 409: 'insufficient_stock: below what is reserved' },
    },
    'GET /api/v1/inventory/items/{sku}/ledger': {
      id: 'inventoryItemLedger',
      summary: 'Every stock movement of an item, oldest first',
      ok: { 200: s.listOf(ref('LedgerEntry')) },
      errors: missing,
    },
    'POST /api/v1/inventory/imports': {
      id: 'inventoryImport',
      summary:
        'Import items from CSV (sku, name, priceMinor, currency; optional onHand, active) as an operation',
      description:
        'New SKUs are created, existing ones updated; a different onHand becomes a ledger adjustment. ' +
        'Runs in the background in batches of 100 rows: follow GET /api/v1/operations/{id} (or its ' +
        '/events stream); the result counts created and updated items and lists rejected rows by line.',
      body: importValidator,
      ok: { 202: ref('Operation') },
    },
  },
  {
    InventoryItem: s.object({
      sku: s.string,
      name: s.string,
      priceMinor: s.integer,
      currency: s.string,
      active: s.boolean,
      onHand: s.integer,
      reserved: s.integer,
      available: s.described(s.integer, 'onHand − reserved'),
      createdAt: s.dateTime,
      updatedAt: s.dateTime,
    }),
    LedgerEntry: s.object({
      kind: s.enum(['adjustment', 'reservation', 'release', 'commit']),
      onHandDelta: s.integer,
      reservedDelta: s.integer,
      reason: s.nullable(s.string),
      orderId: s.nullable(s.uuid),
      actorUserId: s.nullable(s.uuid),
      at: s.dateTime,
    }),
  }
)
