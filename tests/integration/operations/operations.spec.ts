import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import env from '#start/env'
import { Queue } from 'bullmq'
import {
  PostgresOperations,
  claimForQueue,
  defineOperation,
  postgresOperations,
  processOperations,
  startOperation,
} from '#app/operations/operations'
import { tenancy } from '#app/tenancy/tenancy'
import { newId } from '#app/platform/ids'
import { BullMqOperations, OPERATIONS_QUEUE } from '#app/operations/bullmq_runner'
import { bullMqPrefix } from '#app/messaging/transports/index'
import { MessagingWorker } from '#app/messaging/worker'
import { assertMatchesOpenApi, assertProblem } from '#tests/helpers/openapi'
import { registerUser, resetIdentity } from '#tests/helpers/identity'
import { FIXTURE_PREFIX } from '#tests/fixtures/routes'
import { until } from '#tests/helpers/waiting'

type Session = Awaited<ReturnType<typeof registerUser>>

async function start(
  client: Parameters<typeof registerUser>[0],
  session: Session,
  input: Record<string, unknown>
) {
  const response = await client
    .post(`${FIXTURE_PREFIX}/operations`)
    .bearerToken(session.tokens.accessToken)
    .json(input)
  response.assertStatus(202)
  return response.body().id as string
}

test.group('operations', (group) => {
  group.each.setup(async () => {
    await resetIdentity()
    await db.rawQuery('TRUNCATE platform_operations')
  })

  test('202, then queued → running → succeeded with progress 100 and the result', async ({
    client,
    assert,
  }) => {
    const session = await registerUser(client)
    const id = await start(client, session, { steps: 4 })
    const queued = await client
      .get(`/api/v1/operations/${id}`)
      .bearerToken(session.tokens.accessToken)
    assertMatchesOpenApi(queued, 'GET', `/api/v1/operations/${id}`)
    assert.deepInclude(queued.body(), { status: 'queued', progress: 0, result: null })

    assert.equal(await processOperations(), 1)
    const done = await client
      .get(`/api/v1/operations/${id}`)
      .bearerToken(session.tokens.accessToken)
    assertMatchesOpenApi(done, 'GET', `/api/v1/operations/${id}`)
    assert.deepInclude(done.body(), { status: 'succeeded', progress: 100, message: 'step 4' })
    assert.deepEqual(done.body().result, { counted: 4 })
    assert.isString(done.body().finishedAt)
  })

  test('a failing operation ends failed with a problem that leaks nothing', async ({
    client,
    assert,
  }) => {
    const session = await registerUser(client)
    const id = await start(client, session, { steps: 4, fail: true })
    await processOperations()
    const failed = await client
      .get(`/api/v1/operations/${id}`)
      .bearerToken(session.tokens.accessToken)
    assertMatchesOpenApi(failed, 'GET', `/api/v1/operations/${id}`)
    assert.equal(failed.body().status, 'failed')
    assert.equal(failed.body().error.code, 'operation_failed')
    assert.notInclude(JSON.stringify(failed.body()), '/srv/secret')
    assert.equal(failed.body().progress, 25)
  })

  test('cancel: a queued one at once; a finished one is a 409', async ({ client, assert }) => {
    const session = await registerUser(client)
    const id = await start(client, session, { steps: 3 })
    const cancelled = await client
      .delete(`/api/v1/operations/${id}`)
      .bearerToken(session.tokens.accessToken)
    cancelled.assertStatus(202)
    assertMatchesOpenApi(cancelled, 'DELETE', `/api/v1/operations/${id}`)
    assert.equal(cancelled.body().status, 'cancelled')
    assert.equal(await processOperations(), 0)
    const again = await client
      .delete(`/api/v1/operations/${id}`)
      .bearerToken(session.tokens.accessToken)
    assertProblem(again, 409, 'operation_finished')
  })

  test('cancel while running: the operation stops at its next check', async ({
    client,
    assert,
  }) => {
    const session = await registerUser(client)
    const id = await start(client, session, { steps: 50 })
    const running = processOperations()
    // Running, and past its first step, when the cancel comes.
    assert.isTrue(
      await until(async () => {
        const row = await db.from('platform_operations').where('id', id).first()
        return row?.status === 'running' && row.progress > 0
      })
    )
    const response = await client
      .delete(`/api/v1/operations/${id}`)
      .bearerToken(session.tokens.accessToken)
    response.assertStatus(202)
    assert.isTrue(response.body().cancelRequested)
    await running
    const row = await db.from('platform_operations').where('id', id).firstOrFail()
    assert.equal(row.status, 'cancelled')
    assert.isBelow(row.progress, 100)
  })

  test("another tenant's operation, a malformed id, and no token → 404, 404, 401", async ({
    client,
  }) => {
    const alice = await registerUser(client)
    const bob = await registerUser(client)
    const id = await start(client, alice, { steps: 1 })
    assertProblem(
      await client.get(`/api/v1/operations/${id}`).bearerToken(bob.tokens.accessToken),
      404,
      'operation_not_found'
    )
    assertProblem(
      await client.delete(`/api/v1/operations/${id}`).bearerToken(bob.tokens.accessToken),
      404,
      'operation_not_found'
    )
    assertProblem(
      await client.get('/api/v1/operations/nope').bearerToken(alice.tokens.accessToken),
      404,
      'operation_not_found'
    )
    assertProblem(await client.get(`/api/v1/operations/${id}`), 401, 'unauthenticated')
  })

  test('without Redis, a long operation holds one slot: the next one still runs', async ({
    assert,
  }) => {
    let release = () => {}
    const hung = new Promise<void>((resolve) => (release = resolve))
    defineOperation('test.long_export', async () => {
      await hung
      return {}
    })
    defineOperation('test.quick_import', async () => ({ imported: 1 }))
    const tenantId = newId()
    await db
      .table('identity_tenants')
      .insert({ id: tenantId, name: 'Ops', slug: `ops-${tenantId}` })
    const runner = new PostgresOperations(2)
    const worker = new MessagingWorker({
      connectionString: env.get('DATABASE_URL')!,
      pollIntervalMs: 30_000,
      operations: runner,
    })
    await worker.start()
    try {
      const queue = (kind: string) =>
        tenancy.run(tenantId, (trx) => startOperation(trx, { tenantId, kind, input: {} }))
      const long = await queue('test.long_export')
      assert.isTrue(await until(async () => runner.active === 1), 'the long one never started')
      const quick = await queue('test.quick_import')
      const statusOf = async (id: string) => {
        const row = await db.from('platform_operations').where('id', id).firstOrFail()
        return row.status as string
      }
      assert.isTrue(
        await until(async () => (await statusOf(quick)) === 'succeeded', 10_000),
        'the quick operation waited for the long one'
      )
      assert.equal(await statusOf(long), 'running')
    } finally {
      release()
      await worker.stop()
    }
    assert.equal(runner.active, 0, 'stop() waits for the running operation')
  })

  test('a tenant that queues many operations takes turns with the others', async ({ assert }) => {
    let finishing = false
    const waiting = new Map<string, () => void>()
    const started: string[] = []
    defineOperation<{ label: string }, object>('test.turns', async (job) => {
      started.push(job.input.label)
      if (!finishing) await new Promise<void>((resolve) => waiting.set(job.input.label, resolve))
      return {}
    })
    const [busy, quiet] = [newId(), newId()]
    for (const id of [busy, quiet])
      await db.table('identity_tenants').insert({ id, name: 'Turns', slug: `turns-${id}` })
    const queue = (tenantId: string, label: string) =>
      tenancy.run(tenantId, (trx) =>
        startOperation(trx, { tenantId, kind: 'test.turns', input: { label } })
      )
    for (const label of ['busy1', 'busy2', 'busy3']) await queue(busy, label)
    await queue(quiet, 'quiet1')
    const worker = new MessagingWorker({
      connectionString: env.get('DATABASE_URL')!,
      pollIntervalMs: 30_000,
      operations: new PostgresOperations(2),
    })
    await worker.start()
    try {
      // Two slots: the oldest of each tenant, not the busy tenant's two oldest.
      assert.isTrue(await until(async () => started.length === 2))
      assert.deepEqual(started, ['busy1', 'quiet1'])
      waiting.get('busy1')!()
      assert.isTrue(await until(async () => started.length === 3))
      assert.equal(started[2], 'busy2')
    } finally {
      finishing = true
      for (const release of waiting.values()) release()
      await worker.stop()
    }
  })

  test('operations handed to BullMQ are ranked per tenant, so its queue interleaves tenants', async ({
    assert,
  }) => {
    defineOperation('test.ranked', async () => ({}))
    const [busy, quiet] = [newId(), newId()]
    for (const id of [busy, quiet])
      await db.table('identity_tenants').insert({ id, name: 'Ranked', slug: `ranked-${id}` })
    const queue = (tenantId: string) =>
      tenancy.run(tenantId, (trx) =>
        startOperation(trx, { tenantId, kind: 'test.ranked', input: {} })
      )
    const labels = new Map<string, string>()
    for (const label of ['busy1', 'busy2', 'busy3']) labels.set(await queue(busy), label)
    labels.set(await queue(quiet), 'quiet1')
    const ranks = (handed: Array<{ id: string; priority: number }>) =>
      Object.fromEntries(handed.map(({ id, priority }) => [labels.get(id), priority]))
    assert.deepEqual(ranks(await claimForQueue()), { busy1: 1, busy2: 2, busy3: 3, quiet1: 1 })
    // Later ones rank behind what each tenant already has in flight (leased to the queue).
    labels.set(await queue(busy), 'busy4')
    labels.set(await queue(quiet), 'quiet2')
    assert.deepEqual(ranks(await claimForQueue()), { busy4: 4, quiet2: 2 })
  })

  for (const runner of ['postgres', 'bullmq'] as const) {
    test(`${runner}: the events stream sends progress and ends with done, driven by the worker`, async ({
      client,
      assert,
    }) => {
      const session = await registerUser(client)
      const worker = new MessagingWorker({
        connectionString: env.get('DATABASE_URL')!,
        pollIntervalMs: 200,
        operations: runner === 'postgres' ? postgresOperations : bullMqOperations(),
      })
      await worker.start()
      try {
        const id = await start(client, session, { steps: 5 })
        const response = await fetch(
          `http://127.0.0.1:${env.get('PORT')}/api/v1/operations/${id}/events`,
          {
            headers: { authorization: `Bearer ${session.tokens.accessToken}` },
          }
        )
        assert.equal(response.status, 200)
        assert.include(response.headers.get('content-type') ?? '', 'text/event-stream')
        const text = await response.text()
        const events = [...text.matchAll(/event: (\w+)\ndata: (.*)\n\n/g)].map(([, name, data]) => [
          name,
          JSON.parse(data),
        ])
        const progress = events
          .filter(([name]) => name === 'progress')
          .map(([, data]) => data.progress)
        assert.isAbove(progress.length, 1)
        assert.deepEqual(
          [...progress].sort((a, b) => a - b),
          progress,
          'progress never goes back'
        )
        const [lastName, lastData] = events.at(-1)!
        assert.equal(lastName, 'done')
        assert.deepInclude(lastData, { status: 'succeeded', progress: 100 })
        if (runner === 'bullmq') {
          // BullMQ scheduled it: one job, named by the operation id, completed. BullMQ records
          // the completion after the handler returns, which can be just after the stream's done.
          const queue = new Queue(OPERATIONS_QUEUE, {
            prefix: bullMqPrefix(),
            connection: { url: env.get('REDIS_URL')! },
          })
          try {
            assert.isTrue(
              await until(async () => {
                const job = await queue.getJob(id)
                return typeof job?.finishedOn === 'number'
              }, 10_000),
              'the job was never recorded as completed'
            )
          } finally {
            await queue.close()
          }
        }
      } finally {
        await worker.stop()
      }
    }).skip(runner === 'bullmq' && !env.get('REDIS_URL'), 'REDIS_URL is not set')
  }
})

function bullMqOperations() {
  return new BullMqOperations({ redisUrl: env.get('REDIS_URL')!, prefix: bullMqPrefix() })
}
