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

/**
 * The class `node ace migration:run` generates into database/schema.ts for
 * the new table (the model extends it), written now so the module typechecks
 * before its migration has run; the generator later rewrites it identically.
 */
export function schemaClass(n: ModuleNames) {
  const name = `${n.modulePascal}${n.resourcePascal}Schema`
  return `
export class ${name} extends BaseModel {
  static $columns = ['body', 'createdAt', 'createdBy', 'id', 'tenantId', 'title', 'updatedAt'] as const
  $columns = ${name}.$columns
  @column()
  declare body: string | null
  @column.dateTime({ autoCreate: true })
  declare createdAt: DateTime
  @column()
  declare createdBy: string
  @column({ isPrimary: true })
  declare id: string
  @column()
  declare tenantId: string
  @column()
  declare title: string
  @column.dateTime({ autoCreate: true, autoUpdate: true })
  declare updatedAt: DateTime
}
`
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

    [`${base}/env.ts`]: `import { wholeNumber } from '#app/platform/env_rules'

/**
 * The ${n.module} module's environment variables (read in config.ts), validated at
 * boot with every other (start/module_env.ts): a bad value stops the process
 * with one line naming it.
 */
export const ${n.moduleCamel}Env = {
  ${maxVariable(n)}: wholeNumber({ min: 1 }),
}
`,

    [`${base}/config.ts`]: `import env from '#start/env'

/** The ${n.module} module's settings, read once from the environment validated at boot (env.ts). */
export const ${n.moduleCamel}Config = {
  /** Most ${n.plural} one tenant may hold. */
  max${n.pluralPascal}PerTenant: env.get('${maxVariable(n)}') ?? 10_000,
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

    [`${base}/models/${n.resource}.ts`]: `import { column } from '@adonisjs/lucid/orm'
import { internal } from '#app/platform/columns'
import { ${n.modulePascal}${n.resourcePascal}Schema } from '#database/schema'

/**
 * A ${n.resource} of a tenant. Extends the class the schema generator writes for
 * ${n.table}; only what differs from the column is said here (internal
 * columns, jsonb, int8 money, computed fields).
 */
export default class ${n.resourcePascal} extends ${n.modulePascal}${n.resourcePascal}Schema {
  static table = '${n.table}'

  @column(internal)
  declare tenantId: string
}
`,

    [`${base}/services/${n.plural}.ts`]: `import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import type { TenantActor } from '#app/auth/policies'
import { ProblemException } from '#app/http/problem'
import { paginate, type PageRequest } from '#app/http/pagination'
import { events } from '#app/messaging/outbox'
import { sentFields } from '#app/platform/columns'
import { isUuid, newId } from '#app/platform/ids'
import { containsPattern } from '#app/platform/search_text'
import { inActiveTenant } from '#app/tenancy/active_tenant'
import { ${n.moduleCamel}Config } from '#modules/${n.module}/config'
import ${n.resourcePascal} from '#modules/${n.module}/models/${n.resource}'
import '#modules/${n.module}/events'

/** A ${n.resource} as the API shows it (the model serialized). */
export type ${n.resourcePascal}View = ReturnType<${n.resourcePascal}['serialize']>

const notFound = () => new ProblemException(404, '${n.resource}_not_found', 'No such ${n.resource}.')
/** A use case that only reads: each statement one round trip, no COMMIT; a write in it fails. */
const reads = { readOnly: true }

/**
 * The use cases, each its own short unit of work in the actor's tenant
 * (the policy has decided who may). Queries pass { client: trx }, so
 * row-level security applies to every one.
 */
export const ${n.pluralCamel} = {
  list(actor: TenantActor, filters: PageRequest & { q?: string }) {
    return inActiveTenant(actor, (trx) => {
      const query = ${n.resourcePascal}.query({ client: trx }).where('tenant_id', actor.tenantId)
      if (filters.q) query.whereILike('title', containsPattern(filters.q))
      return paginate(query, filters, {}, (${n.resourceCamel}) => ${n.resourceCamel}.serialize())
    }, reads)
  },

  async show(actor: TenantActor, id: string) {
    const ${n.resourceCamel} = await inActiveTenant(actor, (trx) => find(trx, actor.tenantId, id), reads)
    return ${n.resourceCamel}.serialize()
  },

  /** Creates it and publishes ${n.module}.${n.resource}_created in the same transaction. */
  async create(actor: TenantActor, input: { title: string; body?: string | null }) {
    const ${n.resourceCamel} = await inActiveTenant(actor, async (trx, tenantId) => {
      const held = await ${n.resourcePascal}.query({ client: trx }).where('tenant_id', tenantId).count('* as total').first()
      if (Number(held?.$extras.total ?? 0) >= ${n.moduleCamel}Config.max${n.pluralPascal}PerTenant) {
        throw new ProblemException(409, '${n.resource}_limit_reached', 'This tenant holds as many ${n.plural} as it may.')
      }
      const created = await ${n.resourcePascal}.create(
        { id: newId(), tenantId, title: input.title, body: input.body ?? null, createdBy: actor.userId },
        { client: trx }
      )
      await events.publish(
        trx,
        '${n.module}.${n.resource}_created',
        { ${n.resourceCamel}Id: created.id, title: created.title, createdBy: actor.userId },
        { version: 1, tenantId, aggregateId: created.id }
      )
      return created
    })
    return ${n.resourceCamel}.serialize()
  },

  async update(actor: TenantActor, id: string, input: { title?: string; body?: string | null }) {
    const ${n.resourceCamel} = await inActiveTenant(actor, async (trx) => {
      const found = await find(trx, actor.tenantId, id)
      return found.useTransaction(trx).merge(sentFields(input)).save()
    })
    return ${n.resourceCamel}.serialize()
  },

  remove(actor: TenantActor, id: string) {
    return inActiveTenant(actor, async (trx) => {
      const found = await find(trx, actor.tenantId, id)
      await found.useTransaction(trx).delete()
    })
  },
}

async function find(trx: TransactionClientContract, tenantId: string, id: string) {
  if (!isUuid(id)) throw notFound()
  const found = await ${n.resourcePascal}.query({ client: trx }).where({ id, tenant_id: tenantId }).first()
  if (!found) throw notFound()
  return found
}
`,

    [`${base}/openapi.ts`]: `import { defineApi, ref, schema as s } from '#app/openapi/define'
import {
  create${n.resourcePascal}Validator,
  list${n.pluralPascal}Validator,
  update${n.resourcePascal}Validator,
} from '#modules/${n.module}/validators/${n.plural}'

const missing = { 404: '${n.resource}_not_found (also another tenant’s)' }

/**
 * Request shapes come from the validators; path parameters, 401/403/404/422
 * and security are derived by defineApi. Only what is particular is written here.
 */
export default defineApi(
  { name: '${n.module}', description: '${n.modulePascal}' },
  {
    'GET /api/v1/${n.module}/${n.plural}': {
      id: '${n.moduleCamel}List${n.pluralPascal}',
      summary: '${n.pluralPascal} of the active tenant, newest first; q searches titles',
      query: list${n.pluralPascal}Validator,
      ok: { 200: s.pageOf(ref('${n.modulePascal}${n.resourcePascal}')) },
    },
    'POST /api/v1/${n.module}/${n.plural}': {
      id: '${n.moduleCamel}Create${n.resourcePascal}',
      summary: 'Create a ${n.resource}',
      body: create${n.resourcePascal}Validator,
      ok: { 201: ref('${n.modulePascal}${n.resourcePascal}') },
      errors: { 409: '${n.resource}_limit_reached' },
    },
    'GET /api/v1/${n.module}/${n.plural}/{id}': {
      id: '${n.moduleCamel}Show${n.resourcePascal}',
      summary: 'One ${n.resource}',
      ok: { 200: ref('${n.modulePascal}${n.resourcePascal}') },
      errors: missing,
    },
    'PATCH /api/v1/${n.module}/${n.plural}/{id}': {
      id: '${n.moduleCamel}Update${n.resourcePascal}',
      summary: 'Change a ${n.resource} (owners, admins, agents)',
      body: update${n.resourcePascal}Validator,
      ok: { 200: ref('${n.modulePascal}${n.resourcePascal}') },
      errors: missing,
    },
    'DELETE /api/v1/${n.module}/${n.plural}/{id}': {
      id: '${n.moduleCamel}Delete${n.resourcePascal}',
      summary: 'Delete a ${n.resource} (owners, admins, agents)',
      ok: { 204: null },
      errors: missing,
    },
  },
  {
    ${n.modulePascal}${n.resourcePascal}: s.object({
      id: s.uuid,
      title: s.string,
      body: s.nullable(s.string),
      createdBy: s.uuid,
      createdAt: s.dateTime,
      updatedAt: s.dateTime,
    }),
  }
)
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

/** The one environment variable a generated module reads: its resource's cap per tenant. */
function maxVariable(n: ModuleNames) {
  return `${n.module.toUpperCase()}_MAX_${n.plural.toUpperCase()}_PER_TENANT`
}
