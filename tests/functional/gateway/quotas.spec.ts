import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import OpenAI from 'openai'
import { assertMatchesOpenApi, assertProblem } from '#tests/helpers/openapi'
import { resetIdentity } from '#tests/helpers/identity'
import {
  createKey,
  gatewayBase,
  gatewayTenant,
  openaiClient,
  resetGateway,
} from '#tests/helpers/gateway'
import { startOpenAiFake, type FakeUpstream } from '#tests/fakes/llm_upstreams'
import { breaker } from '#modules/gateway/services/routing'
import { usageRecorder } from '#modules/gateway/services/usage'
import { quotaCounter, withinOneMinute } from '#tests/helpers/quotas'
import { gateway } from '#modules/gateway/index'
import { ProblemException } from '#app/http/problem'

const hello = [{ role: 'user' as const, content: 'Say hello' }]

/** The status of a chat call (its body read, so the connection is released). */
async function statusOf(call: Promise<Response>) {
  const response = await call
  await response.text()
  return response.status
}

async function chat(secret: string, body: Record<string, unknown> = {}) {
  return fetch(`${gatewayBase()}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'authorization': `Bearer ${secret}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'chat-default', messages: hello, ...body }),
  })
}

interface ErrorBody {
  error: { code: string; message: string; type: string }
}

test.group('gateway quotas and budgets', (group) => {
  let upstream: FakeUpstream
  group.each.setup(async () => {
    await resetIdentity()
    await resetGateway()
    breaker.reset()
    upstream = await startOpenAiFake()
    return () => upstream.close()
  })

  test('requests per minute: the limit holds, with x-ratelimit headers on every answer', async ({
    client,
    assert,
    cleanup,
  }) => {
    withinOneMinute(cleanup)
    const { key } = await gatewayTenant(client, upstream, { limits: { requestsPerMinute: 3 } })
    const remaining: string[] = []
    for (let index = 0; index < 3; index++) {
      const response = await chat(key.secret)
      assert.equal(response.status, 200)
      assert.equal(response.headers.get('x-ratelimit-limit-requests'), '3')
      assert.match(response.headers.get('x-ratelimit-reset-requests') ?? '', /^(\d+m)?\d+s$/)
      remaining.push(response.headers.get('x-ratelimit-remaining-requests')!)
      await response.text()
    }
    assert.deepEqual(remaining, ['2', '1', '0'])

    const refused = await chat(key.secret)
    assert.equal(refused.status, 429)
    const body = (await refused.json()) as ErrorBody
    assert.equal(body.error.code, 'rate_limit_exceeded')
    assert.equal(body.error.type, 'rate_limit_error')
    assert.match(body.error.message, /requests per minute \(this key\)/)
    assert.isAtLeast(Number(refused.headers.get('retry-after')), 1)
    assert.equal(refused.headers.get('x-ratelimit-remaining-requests'), '0')
    assert.lengthOf(upstream.chatCalls(), 3, 'the refused request never reached the upstream')

    const viaSdk = await openaiClient(key.secret)
      .chat.completions.create({ model: 'chat-default', messages: hello })
      .then(
        () => null,
        (error: unknown) => error
      )
    assert.instanceOf(viaSdk, OpenAI.RateLimitError)
  })

  test('tokens per minute: the estimate is reserved first, then settled to real usage', async ({
    client,
    assert,
    cleanup,
  }) => {
    withinOneMinute(cleanup)
    const { key } = await gatewayTenant(client, upstream, { limits: { tokensPerMinute: 200 } })
    const tooBig = await chat(key.secret, { max_tokens: 500 })
    assert.equal(tooBig.status, 429)
    assert.match(((await tooBig.json()) as ErrorBody).error.message, /tokens per minute/)
    assert.equal(await quotaCounter(key.id, 'tokens'), 0, 'a refusal reserves nothing')

    const ok = await chat(key.secret, { max_tokens: 100 })
    const completion = (await ok.json()) as { usage: { total_tokens: number } }
    assert.equal(ok.status, 200)
    assert.isAtMost(Number(ok.headers.get('x-ratelimit-remaining-tokens')), 100)
    // Settled: the counter holds what the upstream reported, not the 100+ reserved.
    assert.equal(await quotaCounter(key.id, 'tokens'), completion.usage.total_tokens)
  })

  test('monthly budget: priced per token, refused before the call once it would be exceeded', async ({
    client,
    assert,
  }) => {
    const { owner, model } = await gatewayTenant(client, upstream)
    await client
      .patch(`/api/v1/gateway/models/${model.id}`)
      .bearerToken(owner.tokens.accessToken)
      .json({ inputPricePerMTok: 0, outputPricePerMTok: 1_000_000 })
    // One minor unit per output token; the fake's answer is 8 tokens.
    const key = await createKey(client, owner, { name: 'budgeted', limits: { monthlyBudget: 12 } })
    const tooDear = await chat(key.secret, { max_tokens: 20 })
    assert.equal(tooDear.status, 429)
    assert.equal(((await tooDear.json()) as ErrorBody).error.code, 'budget_exceeded')

    const first = await chat(key.secret, { max_tokens: 10 })
    assert.equal(first.status, 200)
    await first.text()
    assert.equal(await quotaCounter(key.id, 'spend'), 8 * 1_000_000)
    const second = await chat(key.secret, { max_tokens: 10 })
    assert.equal(second.status, 429, '8 spent + 10 estimated > 12')
    assert.equal(((await second.json()) as ErrorBody).error.code, 'budget_exceeded')
  })

  test('tenant limits apply across all of its keys', async ({ client, assert, cleanup }) => {
    withinOneMinute(cleanup)
    const { owner, key } = await gatewayTenant(client, upstream)
    const other = await createKey(client, owner, { name: 'second' })
    const put = await client
      .put('/api/v1/gateway/limits')
      .bearerToken(owner.tokens.accessToken)
      .json({ requestsPerMinute: 2 })
    put.assertStatus(200)
    assertMatchesOpenApi(put, 'PUT', '/api/v1/gateway/limits')
    assert.equal(await statusOf(chat(key.secret)), 200)
    assert.equal(await statusOf(chat(other.secret)), 200)
    const refused = await chat(other.secret)
    assert.equal(refused.status, 429)
    assert.match(((await refused.json()) as ErrorBody).error.message, /this tenant/)

    assertProblem(
      await client
        .put('/api/v1/gateway/limits')
        .bearerToken(owner.tokens.accessToken)
        .json({ requestsPerMinute: -5 }),
      422,
      'validation_failed'
    )
  })

  test('a failed call charges no tokens and no spend', async ({ client, assert }) => {
    const { key } = await gatewayTenant(client, upstream, {
      limits: { tokensPerMinute: 10_000, monthlyBudget: 1000 },
    })
    upstream.fallback = { kind: 'status', status: 500 }
    const failed = await chat(key.secret, { max_tokens: 100 })
    assert.equal(failed.status, 502)
    assert.equal(await quotaCounter(key.id, 'tokens'), 0)
    assert.equal(await quotaCounter(key.id, 'spend'), 0)
  })

  test('usage: one record per request, batched; reports by model, key and day from the rollups', async ({
    client,
    assert,
  }) => {
    const { owner, key, model } = await gatewayTenant(client, upstream)
    await client
      .patch(`/api/v1/gateway/models/${model.id}`)
      .bearerToken(owner.tokens.accessToken)
      .json({ inputPricePerMTok: 500_000, outputPricePerMTok: 2_000_000 })
    for (let index = 0; index < 3; index++) assert.equal(await statusOf(chat(key.secret)), 200)
    const stream = await chat(key.secret, { stream: true })
    await stream.text()
    upstream.fallback = { kind: 'status', status: 500 }
    assert.equal(await statusOf(chat(key.secret)), 502)
    await usageRecorder.flush()

    const records = await db.from('gateway_usage').orderBy('created_at')
    assert.lengthOf(records, 5)
    const shown = await client
      .get(`/api/v1/gateway/keys/${key.id}`)
      .bearerToken(owner.tokens.accessToken)
    assert.equal(
      Date.parse(shown.body().lastUsedAt),
      Math.max(...records.map((row) => new Date(row.created_at).getTime())),
      'the last call of the batch'
    )
    const spent = records.reduce((sum, row) => sum + Number(row.cost_micro), 0) / 1_000_000
    assert.deepEqual(shown.body().spendThisMonth, [{ amount: spent, currency: 'USD' }])
    const listed = await client.get('/api/v1/gateway/keys').bearerToken(owner.tokens.accessToken)
    assert.deepEqual(listed.body().data[0].spendThisMonth, [{ amount: spent, currency: 'USD' }])

    const labelled = await client
      .get('/api/v1/gateway/usage?groupBy=key')
      .bearerToken(owner.tokens.accessToken)
    assert.deepInclude(labelled.body().data[0], { group: key.id, label: shown.body().name })
    assert.deepEqual(
      records.map((row) => row.status),
      [200, 200, 200, 200, 502]
    )
    const [first] = records
    assert.isAbove(first.prompt_tokens, 0)
    assert.equal(
      Number(first.cost_micro),
      first.prompt_tokens * 500_000 + first.completion_tokens * 2_000_000
    )
    assert.isNotNull(records[3].ttft_ms, 'time to first token of the stream')
    assert.equal(records[4].completion_tokens, 0)

    const byModel = await client
      .get('/api/v1/gateway/usage?groupBy=model')
      .bearerToken(owner.tokens.accessToken)
    byModel.assertStatus(200)
    assertMatchesOpenApi(byModel, 'GET', '/api/v1/gateway/usage')
    const [row] = byModel.body().data
    assert.include(row, { group: 'chat-default', requests: 5, errors: 1 })
    const cost = records.reduce((sum, record) => sum + Number(record.cost_micro), 0) / 1_000_000
    assert.closeTo(row.cost.amount, cost, 1e-9)

    const byKey = await client
      .get('/api/v1/gateway/usage?groupBy=key')
      .bearerToken(owner.tokens.accessToken)
    assert.equal(byKey.body().data[0].group, key.id)
    const byDay = await client
      .get('/api/v1/gateway/usage?groupBy=day')
      .bearerToken(owner.tokens.accessToken)
    assert.equal(byDay.body().data[0].group, new Date().toISOString().slice(0, 10))
    assertProblem(
      await client
        .get('/api/v1/gateway/usage?groupBy=planet')
        .bearerToken(owner.tokens.accessToken),
      422,
      'validation_failed'
    )
  })

  test('the public service: another module acting for a user gets the same limits and accounting', async ({
    client,
    assert,
  }) => {
    const { owner } = await gatewayTenant(client, upstream)
    await client
      .put('/api/v1/gateway/limits')
      .bearerToken(owner.tokens.accessToken)
      .json({ requestsPerMinute: 1 })
    const caller = { tenantId: owner.activeTenantId!, userId: owner.user.id }
    const answer = await gateway.chat(caller, { model: 'chat-default', messages: hello })
    assert.equal(answer.result.choices[0].message.content, 'Hello from the fake upstream.')
    assert.equal(answer.rateLimit['x-ratelimit-remaining-requests'], '0')

    const refused = await gateway.chat(caller, { model: 'chat-default', messages: hello }).then(
      () => null,
      (error: unknown) => error
    )
    assert.instanceOf(refused, ProblemException)
    assert.equal((refused as ProblemException).problemStatus, 429)

    await usageRecorder.flush()
    const [record] = await db.from('gateway_usage')
    assert.include(record, { user_id: owner.user.id, key_id: null, status: 200 })
  })
})
