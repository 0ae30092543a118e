import { test } from '@japa/runner'
import { tracingChannel } from 'node:diagnostics_channel'
import app from '@adonisjs/core/services/app'
import { HttpContext } from '@adonisjs/core/http'
import { Logger } from '@adonisjs/core/logger'
import { RequestLogger } from '#app/http/request_logger'
import { FIXTURE_PREFIX } from '#tests/fixtures/routes'
import CountedController from '#tests/fixtures/controllers/counted_controller'
import InjectedController from '#tests/fixtures/controllers/injected_controller'
import { joinAs, registerUser } from '#tests/helpers/identity'

/** The classes the container makes while `run` runs (its own tracing channel). */
async function madeByContainer(run: () => Promise<void>) {
  const made: unknown[] = []
  const subscriber = {
    start: (message: unknown) => made.push((message as { binding?: unknown })?.binding),
  }
  const channel = tracingChannel('adonisjs.container.make')
  channel.subscribe(subscriber as never)
  try {
    await run()
  } finally {
    channel.unsubscribe(subscriber as never)
  }
  return made
}

test.group('Middleware and controllers are made without the container', () => {
  test('a request makes a new controller per request and asks the container for nothing', async ({
    client,
    assert,
  }) => {
    // The kernel's modules make what they keep (the body parser) once, when first imported.
    const warmUp = await client.get('/api/v1/system/ping')
    warmUp.assertStatus(200)
    const made = await madeByContainer(async () => {
      for (const caller of ['first', 'second', 'third']) {
        const before = CountedController.made
        const response = await client.get(`${FIXTURE_PREFIX}/controllers/counted`).qs({ caller })
        response.assertStatus(200)
        assert.deepEqual(response.body(), { made: before + 1, caller })
      }
    })
    // Neither the controller nor the server's and router's middleware classes.
    assert.deepEqual(made, [])
  })

  test('an authorized request makes its policy without the container', async ({
    client,
    assert,
  }) => {
    const session = await registerUser(client)
    // ConversationPolicy.authorize('use') guards the chat assistants list.
    const list = () => client.get('/api/v1/chat/assistants').bearerToken(session.tokens.accessToken)
    const first = await list()
    first.assertStatus(200)
    const made = await madeByContainer(async () => {
      const response = await list()
      response.assertStatus(200)
    })
    assert.deepEqual(made, [])
    // The policy made this way still decides: a member may use chat, not administer it.
    const member = await joinAs(client, session, 'member')
    const refused = await client.get('/api/v1/chat/admin/usage').bearerToken(member.token)
    refused.assertStatus(403)
    const allowed = await client
      .get('/api/v1/chat/admin/usage')
      .bearerToken(session.tokens.accessToken)
    allowed.assertStatus(200)
  })

  test('concurrent requests each get their own instance', async ({ client, assert }) => {
    const [slow, fast] = await Promise.all([
      client.get(`${FIXTURE_PREFIX}/controllers/counted`).qs({ caller: 'slow', waitMs: 50 }),
      client.get(`${FIXTURE_PREFIX}/controllers/counted`).qs({ caller: 'fast' }),
    ])
    assert.equal(slow.body().caller, 'slow')
    assert.equal(fast.body().caller, 'fast')
  })

  test('an error thrown by the method is still answered as a problem', async ({ client }) => {
    for (let attempt = 0; attempt < 2; attempt++) {
      const response = await client.get(`${FIXTURE_PREFIX}/controllers/refused`)
      response.assertStatus(409)
      response.assertBodyContains({
        status: 409,
        type: 'https://atrium.dev/problems/fixture-refused',
      })
    }
  })

  test('a controller with injections is still made by the container', async ({
    client,
    assert,
  }) => {
    const made = await madeByContainer(async () => {
      for (let attempt = 0; attempt < 2; attempt++) {
        const response = await client
          .get(`${FIXTURE_PREFIX}/controllers/injected`)
          .header('x-request-id', `injected-${attempt}-request`)
        response.assertStatus(200)
        response.assertBody({
          path: `${FIXTURE_PREFIX}/controllers/injected`,
          requestId: `injected-${attempt}-request`,
          loggerRequestId: `injected-${attempt}-request`,
        })
      }
    })
    assert.equal(made.filter((binding) => binding === InjectedController).length, 2)
  })

  test('requests in flight at once are each injected their own context and logger', async ({
    client,
    assert,
  }) => {
    const ids = ['concurrent-first-request', 'concurrent-second-request']
    // The first is held in its controller until the second has been made and answered.
    let arrived!: () => void
    let release!: () => void
    const hasArrived = new Promise<void>((resolve) => (arrived = resolve))
    const released = new Promise<void>((resolve) => (release = resolve))
    InjectedController.hold = { arrived, released }
    try {
      const held = client
        .get(`${FIXTURE_PREFIX}/controllers/injected`)
        .qs({ held: 1 })
        .header('x-request-id', ids[0])
        .then((response) => response)
      // A request that fails before its controller answers at once instead of never arriving.
      await Promise.race([hasArrived, held])
      const fast = await client
        .get(`${FIXTURE_PREFIX}/controllers/injected`)
        .header('x-request-id', ids[1])
      release()
      const slow = await held
      slow.assertStatus(200)
      fast.assertStatus(200)
      assert.deepEqual(
        [slow.body(), fast.body()].map((body) => [body.requestId, body.loggerRequestId]),
        [
          [ids[0], ids[0]],
          [ids[1], ids[1]],
        ]
      )
    } finally {
      release()
      InjectedController.hold = undefined
    }
  })

  test('outside a request the container has no context to give, and its logger is the application’s', async ({
    assert,
  }) => {
    await assert.rejects(() => app.container.make(HttpContext))
    const logger = await app.container.make(Logger)
    assert.notInstanceOf(logger, RequestLogger)
    assert.strictEqual(logger, await app.container.make(Logger))
  })
})
