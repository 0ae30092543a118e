import { defineModule } from '#app/modules/definition'
import routes from '#modules/inventory/routes'
import openapi from '#modules/inventory/openapi'

/** The catalog, stock with its ledger, and the inventory's part of the order saga. */
export default defineModule({
  name: 'inventory',
  routes,
  openapi,
  subscribers: () => import('#modules/inventory/subscribers'),
  // Registers the import operation's handler in every process (any may run it).
  operations: () => import('#modules/inventory/jobs/import_items'),
})
