import { defineModule } from '#app/modules/definition'
import routes from '#modules/system/routes'
import openapi from '#modules/system/openapi'

/** Liveness of the API itself (ping) and what an operator asks about a process (info). */
export default defineModule({ name: 'system', routes, openapi })
