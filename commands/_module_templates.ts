/*
| What `node ace make:module` writes: one module in the shape every module
| has. Kept as code so a change to the pattern is a reviewed diff here.
| (Files starting with _ are not loaded as commands.)
*/

export interface ModuleNames {
  module: string
  moduleCamel: string
  modulePascal: string
  resource: string
  resourcePascal: string
  resourceCamel: string
  plural: string
  pluralPascal: string
  pluralCamel: string
  table: string
}

export function moduleFiles(n: ModuleNames, now: number): Record<string, string> {
  const base = `modules/${n.module}`
  return {
    [`${base}/module.ts`]: `import { defineModule } from '#app/modules/definition'
import routes from '#modules/${n.module}/routes'
import openapi from '#modules/${n.module}/openapi'
import { ${n.module.toUpperCase()}_WEBHOOK_EVENTS } from '#modules/${n.module}/events'

/** ${n.modulePascal}: what it is for, in one line. */
export default defineModule({
  name: '${n.module}',
  routes,
  openapi,
  webhookEvents: ${n.module.toUpperCase()}_WEBHOOK_EVENTS,
})
`,

    [`${base}/index.ts`]: `/*
| Public face of the ${n.module} module: what other modules may import (facade
| functions and types). Its integration events come with it.
*/
import '#modules/${n.module}/events'

export type { ${n.resourcePascal}View } from '#modules/${n.module}/services/${n.plural}'
`,

    [`${base}/events.ts`]: `/** Integration events the ${n.module} module publishes: facts, past tense. */
declare module '#app/messaging/types' {
  interface IntegrationEvents {
    '${n.module}.${n.resource}_created': {
      version: 1
      payload: { ${n.resourceCamel}Id: string; title: string; createdBy: string }
    }
  }
}

/** The events tenants may receive by webhook, with their payload schemas (published in OpenAPI). */
export const ${n.module.toUpperCase()}_WEBHOOK_EVENTS = {
  '${n.module}.${n.resource}_created': {
    description: 'A ${n.resource} was created.',
    payload: {
      type: 'object',
      required: ['${n.resourceCamel}Id', 'title', 'createdBy'],
      properties: {
        ${n.resourceCamel}Id: { type: 'string', format: 'uuid' },
        title: { type: 'string' },
        createdBy: { type: 'string', format: 'uuid' },
      },
    },
  },
}
`,

    [`${base}/config.ts`]: `/** The ${n.module} module's settings, read from the environment once. */
export const ${n.moduleCamel}Config = {
  /** Most ${n.plural} one tenant may hold. */
  max${n.pluralPascal}PerTenant: Number(process.env.${n.module.toUpperCase()}_MAX_${n.plural.toUpperCase()}_PER_TENANT ?? 10_000),
} as const
`,

    [`${base}/routes.ts`]: `import router from '@adonisjs/core/services/router'
import { middleware } from '#start/kernel'

const ${n.pluralPascal}Controller = () => import('#modules/${n.module}/controllers/${n.plural}_controller')

/** /api/v1/${n.module}/… for signed-in members of the active tenant. */
export default function ${n.moduleCamel}Routes() {
  router
    .group(() => {
      router.get('/${n.plural}', [${n.pluralPascal}Controller, 'index'])
      router.post('/${n.plural}', [${n.pluralPascal}Controller, 'store'])
      router.get('/${n.plural}/:id', [${n.pluralPascal}Controller, 'show'])
      router.patch('/${n.plural}/:id', [${n.pluralPascal}Controller, 'update'])
      router.delete('/${n.plural}/:id', [${n.pluralPascal}Controller, 'destroy'])
    })
    .prefix('/${n.module}')
    .use(middleware.auth())
}
`,

    [`${base}/controllers/${n.plural}_controller.ts`]: `import type { HttpContext } from '@adonisjs/core/http'
import { actorOf } from '#app/auth/policies'
import ${n.resourcePascal}Policy from '#modules/${n.module}/policies/${n.resource}_policy'
import { ${n.pluralCamel} } from '#modules/${n.module}/services/${n.plural}'
import {
  create${n.resourcePascal}Validator,
  list${n.pluralPascal}Validator,
  update${n.resourcePascal}Validator,
} from '#modules/${n.module}/validators/${n.plural}'

/** Authorize → validate → call the service → answer. */
export default class ${n.pluralPascal}Controller {
  async index(ctx: HttpContext) {
    await ctx.bouncer.with(${n.resourcePascal}Policy).authorize('view')
    const filters = await list${n.pluralPascal}Validator.validate(ctx.request.qs())
    return ${n.pluralCamel}.list(actorOf(ctx), filters)
  }

  async store(ctx: HttpContext) {
    await ctx.bouncer.with(${n.resourcePascal}Policy).authorize('create')
    const input = await ctx.request.validateUsing(create${n.resourcePascal}Validator)
    return ctx.response.created(await ${n.pluralCamel}.create(actorOf(ctx), input))
  }

  async show(ctx: HttpContext) {
    await ctx.bouncer.with(${n.resourcePascal}Policy).authorize('view')
    return ${n.pluralCamel}.show(actorOf(ctx), ctx.params.id)
  }

  async update(ctx: HttpContext) {
    await ctx.bouncer.with(${n.resourcePascal}Policy).authorize('manage')
    const input = await ctx.request.validateUsing(update${n.resourcePascal}Validator)
    return ${n.pluralCamel}.update(actorOf(ctx), ctx.params.id, input)
  }

  async destroy(ctx: HttpContext) {
    await ctx.bouncer.with(${n.resourcePascal}Policy).authorize('manage')
    await ${n.pluralCamel}.remove(actorOf(ctx), ctx.params.id)
    return ctx.response.noContent()
  }
}
`,

    [`${base}/validators/${n.plural}.ts`]: `import vine from '@vinejs/vine'
import { pageFields } from '#app/http/pagination'

const title = vine.string().trim().minLength(1).maxLength(200)
const body = vine.string().trim().maxLength(10_000).nullable()

export const create${n.resourcePascal}Validator = vine.compile(
  vine.object({ title, body: body.clone().optional() })
)

export const update${n.resourcePascal}Validator = vine.compile(
  vine.object({ title: title.clone().optional(), body: body.clone().optional() })
)

export const list${n.pluralPascal}Validator = vine.compile(
  vine.object({ q: vine.string().trim().minLength(1).maxLength(200).optional(), ...pageFields })
)
`,

    [`${base}/policies/${n.resource}_policy.ts`]: `import type { Principal } from '#app/auth/jwt_guard'
import { ActiveTenantPolicy, STAFF } from '#app/auth/policies'

/**
 * ${n.pluralPascal} of the active tenant: every member reads and creates;
 * owners, admins and agents change and delete. The role is the one read from
 * the database on this request (ActiveTenantPolicy answers 404 to a former member).
 */
export default class ${n.resourcePascal}Policy extends ActiveTenantPolicy {
  view(_principal: Principal) {
    return true
  }

  create(_principal: Principal) {
    return true
  }

  manage(principal: Principal) {
    return this.allowRoles(principal, STAFF, 'change or delete ${n.plural}')
  }
}
`,

    [`${base}/services/${n.plural}.ts`]: `import type { TenantActor } from '#app/auth/policies'
import { ProblemException } from '#app/http/problem'
import { paginate, type PageRequest } from '#app/http/pagination'
import { events } from '#app/messaging/outbox'
import { isUuid, newId } from '#app/platform/ids'
import { inActiveTenant } from '#app/tenancy/active_tenant'
import { ${n.moduleCamel}Config } from '#modules/${n.module}/config'
import '#modules/${n.module}/events'

interface ${n.resourcePascal}Row {
  id: string
  tenant_id: string
  title: string
  body: string | null
  created_by: string
  created_at: Date
  updated_at: Date
}

export interface ${n.resourcePascal}View {
  id: string
  title: string
  body: string | null
  createdBy: string
  createdAt: string
  updatedAt: string
}

const present = (row: ${n.resourcePascal}Row): ${n.resourcePascal}View => ({
  id: row.id,
  title: row.title,
  body: row.body,
  createdBy: row.created_by,
  createdAt: new Date(row.created_at).toISOString(),
  updatedAt: new Date(row.updated_at).toISOString(),
})

const notFound = () => new ProblemException(404, '${n.resource}_not_found', 'No such ${n.resource}.')

/** Escapes LIKE wildcards so a search for "a_b" matches that text. */
const likeFragment = (text: string) => text.replace(/[\\\\%_]/g, (character) => \`\\\\\${character}\`)

/** The use cases, each its own short unit of work in the actor's tenant. */
export const ${n.pluralCamel} = {
  list(actor: TenantActor, filters: PageRequest & { q?: string }) {
    return inActiveTenant(actor, (trx) => {
      const query = trx.from('${n.table}').where('tenant_id', actor.tenantId)
      if (filters.q) query.whereILike('title', \`%\${likeFragment(filters.q)}%\`)
      return paginate<${n.resourcePascal}Row, ${n.resourcePascal}View>(query, filters, {}, present)
    })
  },

  show(actor: TenantActor, id: string) {
    if (!isUuid(id)) throw notFound()
    return inActiveTenant(actor, async (trx) => {
      const row = await trx.from('${n.table}').where({ id, tenant_id: actor.tenantId }).first()
      if (!row) throw notFound()
      return present(row)
    })
  },

  /** Creates it and publishes ${n.module}.${n.resource}_created in the same transaction. */
  create(actor: TenantActor, input: { title: string; body?: string | null }) {
    return inActiveTenant(actor, async (trx, tenantId) => {
      const [{ count }] = await trx.from('${n.table}').where('tenant_id', tenantId).count('* as count')
      if (Number(count) >= ${n.moduleCamel}Config.max${n.pluralPascal}PerTenant) {
        throw new ProblemException(409, '${n.resource}_limit_reached', 'This tenant holds as many ${n.plural} as it may.')
      }
      const [row] = await trx
        .table('${n.table}')
        .insert({
          id: newId(),
          tenant_id: tenantId,
          title: input.title,
          body: input.body ?? null,
          created_by: actor.userId,
        })
        .returning('*')
      await events.publish(
        trx,
        '${n.module}.${n.resource}_created',
        { ${n.resourceCamel}Id: row.id, title: row.title, createdBy: actor.userId },
        { version: 1, tenantId, aggregateId: row.id }
      )
      return present(row)
    })
  },

  update(actor: TenantActor, id: string, input: { title?: string; body?: string | null }) {
    if (!isUuid(id)) throw notFound()
    return inActiveTenant(actor, async (trx) => {
      const changes: Record<string, unknown> = { updated_at: trx.raw('now()') }
      if (input.title !== undefined) changes.title = input.title
      if (input.body !== undefined) changes.body = input.body
      const [row] = await trx
        .from('${n.table}')
        .where({ id, tenant_id: actor.tenantId })
        .update(changes)
        .returning('*')
      if (!row) throw notFound()
      return present(row)
    })
  },

  remove(actor: TenantActor, id: string) {
    if (!isUuid(id)) throw notFound()
    return inActiveTenant(actor, async (trx) => {
      const deleted = await trx.from('${n.table}').where({ id, tenant_id: actor.tenantId }).delete()
      if (Number(deleted) === 0) throw notFound()
    })
  },
}
`,

    [`${base}/openapi.ts`]: `import type { OpenApiFragment } from '#app/openapi/types'
import { json, pageOf, ref, response } from '#app/openapi/components'
import { queryParameters, requestBody } from '#app/openapi/from_validators'
import {
  create${n.resourcePascal}Validator,
  list${n.pluralPascal}Validator,
  update${n.resourcePascal}Validator,
} from '#modules/${n.module}/validators/${n.plural}'

const tags = ['${n.module}']
const security = [{ bearer: [] }]
const id = { name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } }
const errors = {
  401: response('Unauthorized'),
  403: { ...response('Forbidden'), description: 'forbidden (role) or no_active_tenant' },
}
const missing = { ...response('NotFound'), description: '${n.resource}_not_found (also another tenant’s)' }

/** Request shapes come from the validators (toJSONSchema), never retyped here. */
const fragment: OpenApiFragment = {
  tags: [{ name: '${n.module}', description: '${n.modulePascal}' }],
  paths: {
    '/api/v1/${n.module}/${n.plural}': {
      get: {
        operationId: '${n.moduleCamel}List${n.pluralPascal}',
        summary: '${n.pluralPascal} of the active tenant, newest first; q searches titles',
        tags,
        security,
        parameters: queryParameters(list${n.pluralPascal}Validator),
        responses: { 200: json(pageOf(ref('${n.modulePascal}${n.resourcePascal}'))), ...errors, 422: response('ValidationFailed') },
      },
      post: {
        operationId: '${n.moduleCamel}Create${n.resourcePascal}',
        summary: 'Create a ${n.resource}',
        tags,
        security,
        requestBody: requestBody(create${n.resourcePascal}Validator),
        responses: {
          201: json(ref('${n.modulePascal}${n.resourcePascal}'), 'Created'),
          ...errors,
          409: { ...response('Conflict'), description: '${n.resource}_limit_reached' },
          422: response('ValidationFailed'),
        },
      },
    },
    '/api/v1/${n.module}/${n.plural}/{id}': {
      get: {
        operationId: '${n.moduleCamel}Show${n.resourcePascal}',
        summary: 'One ${n.resource}',
        tags,
        security,
        parameters: [id],
        responses: { 200: json(ref('${n.modulePascal}${n.resourcePascal}')), ...errors, 404: missing },
      },
      patch: {
        operationId: '${n.moduleCamel}Update${n.resourcePascal}',
        summary: 'Change a ${n.resource} (owners, admins, agents)',
        tags,
        security,
        parameters: [id],
        requestBody: requestBody(update${n.resourcePascal}Validator),
        responses: { 200: json(ref('${n.modulePascal}${n.resourcePascal}')), ...errors, 404: missing, 422: response('ValidationFailed') },
      },
      delete: {
        operationId: '${n.moduleCamel}Delete${n.resourcePascal}',
        summary: 'Delete a ${n.resource} (owners, admins, agents)',
        tags,
        security,
        parameters: [id],
        responses: { 204: { description: 'Deleted' }, ...errors, 404: missing },
      },
    },
  },
  schemas: {
    ${n.modulePascal}${n.resourcePascal}: {
      type: 'object',
      required: ['id', 'title', 'body', 'createdBy', 'createdAt', 'updatedAt'],
      properties: {
        id: { type: 'string', format: 'uuid' },
        title: { type: 'string' },
        body: { type: ['string', 'null'] },
        createdBy: { type: 'string', format: 'uuid' },
        createdAt: { type: 'string', format: 'date-time' },
        updatedAt: { type: 'string', format: 'date-time' },
      },
      additionalProperties: false,
    },
  },
}

export default fragment
`,

    [`${base}/database/migrations/${now}_create_${n.table}.ts`]: `import { BaseSchema } from '@adonisjs/lucid/schema'
import { createTenantTable } from '#app/tenancy/migration'

/** ${n.pluralPascal}: tenant data, isolated by row-level security like every tenant table. */
export default class extends BaseSchema {
  async up() {
    createTenantTable(this, '${n.table}', (table) => {
      table.string('title', 200).notNullable()
      table.text('body')
      table.uuid('created_by').notNullable()
      table.index(['tenant_id', 'id'])
    })
  }

  async down() {
    this.schema.dropTable('${n.table}')
  }
}
`,

    [`tests/functional/${n.module}/${n.plural}.spec.ts`]: `import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { assertMatchesOpenApi, assertProblem } from '#tests/helpers/openapi'
import { joinAs, registerUser, resetIdentity } from '#tests/helpers/identity'
import { resetModuleTables } from '#tests/helpers/database'

const path = '/api/v1/${n.module}/${n.plural}'

test.group('${n.module}: ${n.plural}', (group) => {
  group.each.setup(async () => {
    await resetIdentity()
    await resetModuleTables('${n.module}')
  })

  test('create, list, show, update and delete, each answer as documented', async ({
    client,
    assert,
  }) => {
    const owner = await registerUser(client)
    const created = await client
      .post(path)
      .bearerToken(owner.tokens.accessToken)
      .json({ title: 'First ${n.resource}', body: 'Details' })
    created.assertStatus(201)
    assertMatchesOpenApi(created, 'POST', path)
    const id = created.body().id

    const listed = await client.get(path).qs({ q: 'first' }).bearerToken(owner.tokens.accessToken)
    assertMatchesOpenApi(listed, 'GET', path)
    assert.deepEqual(
      listed.body().data.map((row: { id: string }) => row.id),
      [id]
    )

    const changed = await client
      .patch(\`\${path}/\${id}\`)
      .bearerToken(owner.tokens.accessToken)
      .json({ title: 'Renamed' })
    assertMatchesOpenApi(changed, 'PATCH', \`\${path}/\${id}\`)
    assert.equal(changed.body().title, 'Renamed')

    const removed = await client.delete(\`\${path}/\${id}\`).bearerToken(owner.tokens.accessToken)
    removed.assertStatus(204)
    const [{ count }] = await db.from('${n.table}').count('* as count')
    assert.equal(Number(count), 0)
  })

  test('bad input is a 422 and changes nothing', async ({ client, assert }) => {
    const owner = await registerUser(client)
    const response = await client.post(path).bearerToken(owner.tokens.accessToken).json({ title: '' })
    assertProblem(response, 422, 'validation_failed')
    assert.equal(response.body().errors[0].field, 'title')
    const [{ count }] = await db.from('${n.table}').count('* as count')
    assert.equal(Number(count), 0)
  })

  test('members may not delete; another tenant sees a 404', async ({ client }) => {
    const owner = await registerUser(client)
    const member = await joinAs(client, owner, 'member')
    const created = await client
      .post(path)
      .bearerToken(owner.tokens.accessToken)
      .json({ title: 'Owned' })
    const id = created.body().id
    assertProblem(await client.delete(\`\${path}/\${id}\`).bearerToken(member.token), 403, 'forbidden')
    const stranger = await registerUser(client)
    assertProblem(
      await client.get(\`\${path}/\${id}\`).bearerToken(stranger.tokens.accessToken),
      404,
      '${n.resource}_not_found'
    )
  })
})
`,

    [`docs/${n.module}.md`]: `# ${n.modulePascal}

What this module is for, for whom, in two sentences.

## API

| Method | Path | Who |
|---|---|---|
| GET, POST | \`/api/v1/${n.module}/${n.plural}\` | members of the active tenant (\`?q=\` searches titles; cursor pages) |
| GET | \`/api/v1/${n.module}/${n.plural}/:id\` | members |
| PATCH, DELETE | \`/api/v1/${n.module}/${n.plural}/:id\` | owners, admins, agents |

Another tenant's ${n.resource} is a 404; errors are problems (docs/architecture.md).

## Events

| Event | Payload | Webhook |
|---|---|---|
| \`${n.module}.${n.resource}_created\` | \`{ ${n.resourceCamel}Id, title, createdBy }\` | yes |

## Settings

| Variable | Default | Meaning |
|---|---|---|
| \`${n.module.toUpperCase()}_MAX_${n.plural.toUpperCase()}_PER_TENANT\` | \`10000\` | Most ${n.plural} one tenant may hold |
`,
  }
}
