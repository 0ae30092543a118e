import { test } from '@japa/runner'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { childEnv, runNode } from '#tests/helpers/processes'
import { startElasticsearchFake } from '#tests/fakes/elasticsearch'
import { startOllamaFake } from '#tests/fakes/ollama'
import db from '@adonisjs/lucid/services/db'
import { newId } from '#app/platform/ids'
import { startOllamaChatFake } from '#tests/fakes/llm_upstreams'
import { resetGateway } from '#tests/helpers/gateway'

interface Report {
  healthy: boolean
  results: Array<{
    service: string
    configured: boolean
    reachable: boolean | null
    detail: string
  }>
}

/** A port that nothing listens on: bound, then released. */
async function closedPort() {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

function byService(report: Report) {
  return Object.fromEntries(report.results.map((result) => [result.service, result]))
}

test.group('node ace atrium:doctor', () => {
  test('reports every service: configured or not, reachable or not', async ({
    assert,
    cleanup,
  }) => {
    const elasticsearch = await startElasticsearchFake('9.1.0')
    const ollama = await startOllamaFake('0.12.0')
    cleanup(() => elasticsearch.close())
    cleanup(() => ollama.close())

    const result = await runNode(
      ['ace.js', 'atrium:doctor', '--json'],
      childEnv({
        REDIS_URL: process.env.REDIS_URL || 'redis://127.0.0.1:6379',
        AMQP_URL: process.env.AMQP_URL || 'amqp://guest:guest@127.0.0.1:5672',
        ELASTICSEARCH_URL: elasticsearch.url,
        OLLAMA_HOST: ollama.url,
        KAFKA_BROKERS: `127.0.0.1:${await closedPort()}`,
        OPENAI_BASE_URL: undefined,
      })
    )
    const report = JSON.parse(result.stdout.slice(result.stdout.indexOf('{'))) as Report
    const services = byService(report)

    assert.equal(result.code, 1, 'an unreachable configured service fails the command')
    assert.isFalse(report.healthy)
    assert.match(services.node.detail, /^Node v24\./)
    assert.isTrue(services.database.reachable)
    assert.match(services.database.detail, /^PostgreSQL \d+/)
    assert.isTrue(services.redis.reachable)
    assert.match(services.redis.detail, /^Redis \d/)
    assert.isTrue(services.rabbitmq.reachable)
    assert.equal(services.elasticsearch.detail, 'Elasticsearch 9.1.0')
    assert.equal(services.ollama.detail, 'Ollama 0.12.0')
    assert.isFalse(services.kafka.reachable)
    assert.deepInclude(services['openai-compatible'], { configured: false, reachable: null })
    assert.isTrue(elasticsearch.requests.some((request) => request.path === '/'))
  })

  test('exits 0 when everything configured answers', async ({ assert }) => {
    const result = await runNode(
      ['ace.js', 'atrium:doctor', '--json'],
      childEnv({
        REDIS_URL: undefined,
        AMQP_URL: undefined,
        ELASTICSEARCH_URL: undefined,
        OLLAMA_HOST: undefined,
        KAFKA_BROKERS: undefined,
        OPENAI_BASE_URL: undefined,
      })
    )
    assert.equal(result.code, 0, result.stderr)
    const report = JSON.parse(result.stdout.slice(result.stdout.indexOf('{'))) as Report
    assert.isTrue(report.healthy)
    assert.equal(report.results.filter((entry) => entry.configured).length, 2)
  })

  test('checks every tenant’s stored providers, without failing on theirs', async ({
    assert,
    cleanup,
  }) => {
    const ollama = await startOllamaChatFake()
    ollama.models = ['llama3.2']
    cleanup(() => ollama.close())
    await resetGateway()
    cleanup(() => resetGateway())
    const tenantId = newId()
    await db.table('gateway_providers').multiInsert([
      { id: newId(), tenant_id: tenantId, name: 'local', kind: 'ollama', base_url: ollama.url },
      {
        id: newId(),
        tenant_id: tenantId,
        name: 'gone',
        kind: 'openai-compatible',
        base_url: `http://127.0.0.1:${await closedPort()}/v1`,
      },
    ])

    const result = await runNode(
      ['ace.js', 'atrium:doctor', '--json'],
      childEnv({
        REDIS_URL: undefined,
        AMQP_URL: undefined,
        ELASTICSEARCH_URL: undefined,
        OLLAMA_HOST: undefined,
        KAFKA_BROKERS: undefined,
        OPENAI_BASE_URL: undefined,
      })
    )
    assert.equal(result.code, 0, result.stderr)
    const report = JSON.parse(result.stdout.slice(result.stdout.indexOf('{'))) as Report & {
      providers: {
        total: number
        checks: Array<{
          name: string
          host: string
          reachable: boolean
          models: string[]
          problem: string | null
        }>
      }
    }
    assert.equal(report.providers.total, 2)
    const [gone, local] = report.providers.checks
    assert.deepInclude(local, {
      name: 'local',
      reachable: true,
      models: ['llama3.2'],
      problem: null,
    })
    assert.equal(local.host, new URL(ollama.url).host)
    assert.equal(gone.name, 'gone')
    assert.isFalse(gone.reachable)
    assert.match(gone.problem!, /unreachable \(ECONNREFUSED\)/)
  })

  test('lists the atrium namespace', async ({ assert }) => {
    const result = await runNode(['ace.js', 'list'], childEnv({}))
    assert.equal(result.code, 0)
    assert.match(result.stdout, /atrium:doctor/)
  })
})
